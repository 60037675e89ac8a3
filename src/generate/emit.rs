//! Turns one FINESS establishment into its ROR resources: the legal entity (once), the
//! establishment, its internal organisations, offers, places, practitioner roles and
//! practitioners. Everything is written as soon as it is built.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::generate::catalog::{self, Cap, Equip, OfferTpl, OiMode, Pole, Pool, Profile, Sector, Tariffs};
use crate::generate::codes::{self, Codes, Fixed, List};
use crate::generate::error::GenerateError;
use crate::generate::fhir::{address, complex, extension, identifier, obj, reference};
use crate::generate::names;
use crate::generate::reference::{Commune, Establishment};
use crate::generate::scenarios::{Anchor, ForcedCapacity, ForcedOffer, ForcedTariff, TARIFF};
use crate::generate::util::{entity_rng, haversine_km, jitter, round2, Instant};
use crate::generate::writer::{Kind, Output};

/// ROR data goes back to the first regional directories; nothing is created before this.
const CREATED_FROM: Instant = Instant::from_date(2015, 1, 1);
const CREATED_TO: Instant = Instant::from_date(2023, 12, 31);
/// `meta.lastUpdated` is spread over 2019–2026.
const UPDATED_FROM: Instant = Instant::from_date(2019, 1, 1);
const UPDATED_TO: Instant = Instant::from_date(2026, 11, 1);
/// Capacities are refreshed often, so their update dates are recent.
const CAPACITY_FROM: Instant = Instant::from_date(2026, 9, 1);
const CAPACITY_TO: Instant = Instant::from_date(2026, 11, 21);

/// Most home-care zones are cut to this many communes, nearest first.
const MAX_ZONE_COMMUNES: usize = 30;

/// Everything shared by all establishments of a run.
pub struct Context<'a> {
    pub seed: u64,
    pub codes: &'static Codes,
    pub communes: &'static [Commune],
    pub commune_index: HashMap<&'static str, usize>,
    /// Ordinary communes (no arrondissement) of each department, in COG order.
    pub communes_by_department: HashMap<&'static str, Vec<usize>>,
    /// Per legal entity: index of its first establishment in the full table, and its
    /// number of establishments.
    pub legal_entities: HashMap<&'static str, (usize, usize)>,
    pub establishments: &'static [Establishment],
    pub anchors: HashMap<&'a str, Vec<&'a Anchor>>,
    /// Demo scale: fewer offers per establishment and no service-level OIs, so that the
    /// corpus stays small enough to generate and load at first start.
    pub demo: bool,
}

impl Context<'_> {
    fn commune(&self, cog: &str) -> Result<&'static Commune, GenerateError> {
        self.commune_index
            .get(cog)
            .and_then(|&index| self.communes.get(index))
            .ok_or_else(|| GenerateError::UnknownCommune(cog.to_owned()))
    }
}

/// ROR region (`TRE_R30`) of a FINESS region: Saint-Barthélemy and Saint-Martin are
/// served by the Guadeloupe directory.
fn ror_region(region: &str) -> &str {
    match region {
        "977" | "978" => "01",
        other => other,
    }
}

struct Stamps {
    created: Instant,
    updated: Instant,
}

fn stamps(rng: &mut ChaCha8Rng) -> Stamps {
    let created = Instant::random_between(rng, CREATED_FROM, CREATED_TO);
    let updated = Instant::random_between(rng, created.max(UPDATED_FROM), UPDATED_TO);
    Stamps { created, updated }
}

/// A place already written for the current establishment.
struct Place {
    id: String,
    function: &'static str,
}

/// One offer to write, with the scenario data it must carry.
struct Planned {
    template: &'static OfferTpl,
    forced: Vec<&'static ForcedOffer>,
}

/// Writes the resources of establishments one after the other.
pub struct Emitter<'a, 'c> {
    ctx: &'a Context<'c>,
    out: &'a mut Output,
    emitted_legal_entities: HashSet<String>,
    next_offer: u64,
    next_place: u64,
    next_role: u64,
    next_practitioner: u64,
}

impl<'a, 'c> Emitter<'a, 'c> {
    pub fn new(ctx: &'a Context<'c>, out: &'a mut Output) -> Self {
        Emitter {
            ctx,
            out,
            emitted_legal_entities: HashSet::new(),
            next_offer: 0,
            next_place: 0,
            next_role: 0,
            next_practitioner: 0,
        }
    }

    fn meta(&self, profile: &str, updated: Instant, region: &str) -> Result<Value, GenerateError> {
        Ok(obj([
            ("lastUpdated", updated.instant_millis().into()),
            ("profile", vec![format!("{}{profile}", codes::SD)].into()),
            ("tag", vec![self.ctx.codes.coding(List::Region, ror_region(region))?].into()),
        ]))
    }

    /// Writes every resource of one establishment (and of its legal entity the first time).
    pub fn establishment(&mut self, eg: &'static Establishment) -> Result<(), GenerateError> {
        if !self.emitted_legal_entities.contains(&eg.finess_ej) {
            self.legal_entity(eg)?;
            self.emitted_legal_entities.insert(eg.finess_ej.clone());
        }
        let mut rng = entity_rng(self.ctx.seed, "eg", &eg.finess_et);
        let profile = catalog::profile(&eg.category, &eg.name);
        let anchors: Vec<&Anchor> = self.ctx.anchors.get(eg.finess_et.as_str()).cloned().unwrap_or_default();
        let planned = self.plan_offers(&profile, &anchors, &mut rng)?;
        let eg_id = format!("eg-{}", eg.finess_et);
        self.organization(eg, &eg_id, &profile, &planned, &anchors, &mut rng)?;
        let providers = self.internal_organisations(eg, &eg_id, &profile, &planned, &mut rng)?;
        let mut site = Site::new(self.ctx, eg)?;
        for (offer, provider) in planned.iter().zip(providers) {
            self.offer(eg, &eg_id, &provider, offer, &mut site, &mut rng)?;
        }
        Ok(())
    }

    fn legal_entity(&mut self, eg: &Establishment) -> Result<(), GenerateError> {
        let (first_index, sites) =
            self.ctx.legal_entities.get(eg.finess_ej.as_str()).copied().unwrap_or((usize::MAX, 1));
        let first = self.ctx.establishments.get(first_index).unwrap_or(eg);
        let mut rng = entity_rng(self.ctx.seed, "ej", &eg.finess_ej);
        let status = names::legal_status(first, &mut rng);
        let commune = self.ctx.commune(&first.cog)?;
        let name = names::legal_entity_name(first, sites, status, &commune.name, &eg.finess_ej);
        let stamps = stamps(&mut rng);
        let mut identifiers = vec![
            obj([
                ("use", "official".into()),
                ("type", codes::ID_TYPE_IDNAT_STRUCT.concept()),
                ("system", codes::SYSTEM_IDNAT_STRUCT.into()),
                ("value", format!("1{}", eg.finess_ej).into()),
            ]),
            identifier(codes::ID_TYPE_FINESS, Some(codes::SYSTEM_FINESS), &eg.finess_ej),
        ];
        if let Some(siren) = first.siret.as_deref().and_then(|siret| siret.get(..9)) {
            identifiers.push(identifier(codes::ID_TYPE_SIREN, Some(codes::SYSTEM_SIRENE_SIREN), siren));
        }
        let resource = obj([
            ("resourceType", "Organization".into()),
            ("id", format!("ej-{}", eg.finess_ej).into()),
            ("meta", self.meta("ror-organization", stamps.updated, &first.region)?),
            ("extension", vec![creation(stamps.created)].into()),
            ("identifier", identifiers.into()),
            ("active", true.into()),
            (
                "type",
                vec![
                    Fixed { system: codes::TRE_R72, code: status.code, display: status.display }.concept(),
                    Fixed {
                        system: codes::TRE_R69,
                        code: status.aggregate,
                        display: status.aggregate_display(),
                    }
                    .concept(),
                ]
                .into(),
            ),
            ("name", name.into()),
            ("address", vec![address(&first.address, &first.postal_code, &first.city)].into()),
        ]);
        self.out.write(Kind::Organization, resource)
    }

    fn plan_offers(
        &self,
        profile: &Profile,
        anchors: &[&Anchor],
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<Planned>, GenerateError> {
        let candidates: Vec<&'static OfferTpl> = match profile.pool {
            Pool::Hospital { poles, max_tier } => {
                catalog::HOSPITAL.iter().filter(|t| poles.contains(&t.pole) && t.tier <= max_tier).collect()
            }
            Pool::List(list) => list.iter().collect(),
            Pool::Keys(keys) => keys.iter().filter_map(|key| catalog::template(key)).collect(),
        };
        let (min, max) = profile.count;
        let mut wanted = if max == 0 { 0 } else { rng.random_range(min..=max) };
        if self.ctx.demo {
            wanted = if profile.hospital { wanted.div_ceil(10).max(2) } else { wanted.div_ceil(2) };
        }
        let mut chosen: Vec<&'static OfferTpl> = Vec::with_capacity(wanted);
        for key in profile.always {
            if let Some(template) = catalog::template(key) {
                chosen.push(template);
            }
        }
        let mut remaining: Vec<&'static OfferTpl> =
            candidates.into_iter().filter(|t| !chosen.iter().any(|c| c.key == t.key)).collect();
        while chosen.len() < wanted && !remaining.is_empty() {
            let total: u32 = remaining.iter().map(|t| t.weight.max(1)).sum();
            let mut pick = rng.random_range(0..total);
            let mut index = 0;
            for (i, template) in remaining.iter().enumerate() {
                let weight = template.weight.max(1);
                if pick < weight {
                    index = i;
                    break;
                }
                pick -= weight;
            }
            chosen.push(remaining.swap_remove(index));
        }
        let mut planned: Vec<Planned> =
            chosen.into_iter().map(|template| Planned { template, forced: Vec::new() }).collect();
        for anchor in anchors {
            for forced in anchor.offers {
                let template = catalog::template(forced.template)
                    .ok_or(GenerateError::MissingAnchor(anchor.scenario))?;
                match planned.iter_mut().find(|p| p.template.key == template.key) {
                    Some(existing) => existing.forced.push(forced),
                    None => planned.push(Planned { template, forced: vec![forced] }),
                }
            }
        }
        Ok(planned)
    }

    fn organization(
        &mut self,
        eg: &Establishment,
        eg_id: &str,
        profile: &Profile,
        planned: &[Planned],
        anchors: &[&Anchor],
        rng: &mut ChaCha8Rng,
    ) -> Result<(), GenerateError> {
        let codes = self.ctx.codes;
        let stamps = stamps(rng);
        let mut extensions = vec![creation(stamps.created)];
        if let Some(opened) =
            eg.date_open.as_deref().filter(|d| d.len() == 10 && d.as_bytes().get(4) == Some(&b'-'))
        {
            extensions.push(extension(
                codes::EXT_ORGANIZATION_PERIOD,
                "valuePeriod",
                obj([("start", opened.into())]),
            ));
        }
        let forced_tariffs: Vec<&ForcedTariff> = anchors.iter().flat_map(|a| a.tariffs.iter()).collect();
        let has_offer = |key: &str| planned.iter().any(|p| p.template.key == key);
        let social_help = rng.random_bool(0.6);
        for tariff in tariffs(profile.tariffs, social_help, &has_offer, rng) {
            extensions.push(self.price(&tariff)?);
        }
        for tariff in forced_tariffs {
            extensions.push(self.price(tariff)?);
        }
        if matches!(profile.tariffs, Tariffs::Ehpad | Tariffs::Residence) {
            if social_help {
                extensions.push(extension(
                    codes::EXT_FINANCIAL_HELP,
                    "valueCodeableConcept",
                    codes::FINANCIAL_HELP_SOCIAL.concept(),
                ));
            }
            extensions.push(extension(
                codes::EXT_ACCOMODATION_FAMILY,
                "valueBoolean",
                Value::from(rng.random_bool(0.2)),
            ));
        }
        let mut identifiers = vec![
            obj([
                ("use", "official".into()),
                ("type", codes::ID_TYPE_IDNAT_STRUCT.concept()),
                ("system", codes::SYSTEM_IDNAT_STRUCT.into()),
                ("value", format!("1{}", eg.finess_et).into()),
            ]),
            identifier(codes::ID_TYPE_FINESS, Some(codes::SYSTEM_FINESS), &eg.finess_et),
        ];
        if let Some(siret) = &eg.siret {
            identifiers.push(identifier(codes::ID_TYPE_SIRET, Some(codes::SYSTEM_SIRENE_SIRET), siret));
        }
        let mut resource = obj([
            ("resourceType", "Organization".into()),
            ("id", eg_id.into()),
            ("meta", self.meta("ror-organization", stamps.updated, &eg.region)?),
            ("extension", extensions.into()),
            ("identifier", identifiers.into()),
            ("active", true.into()),
        ]);
        if codes.contains(List::EstablishmentCategory, &eg.category) {
            resource["type"] = Value::from(vec![codes.concept(List::EstablishmentCategory, &eg.category)?]);
        }
        resource["name"] = Value::from(eg.name.as_str());
        if let Some(phone) = &eg.phone {
            resource["telecom"] = Value::from(vec![telecom(phone)]);
        }
        resource["address"] = Value::from(vec![address(&eg.address, &eg.postal_code, &eg.city)]);
        resource["partOf"] = reference("Organization", &format!("ej-{}", eg.finess_ej));
        self.out.write(Kind::Organization, resource)
    }

    fn price(&self, tariff: &ForcedTariff) -> Result<Value, GenerateError> {
        let codes = self.ctx.codes;
        let coded = |name: &str, list: List, code: &str| -> Result<Value, GenerateError> {
            Ok(extension(name, "valueCodeableConcept", codes.concept(list, code)?))
        };
        let text = |name: &str, value: &str| extension(name, "valueString", Value::from(value));
        let mut parts = vec![
            coded("priceType", List::PriceType, tariff.price_type)?,
            coded("priceUnit", List::PriceUnit, tariff.unit)?,
            extension(
                "amount",
                "valueMoney",
                obj([("value", tariff.amount.into()), ("currency", "EUR".into())]),
            ),
            extension("startDate", "valueDateTime", Value::from(tariff.start)),
        ];
        if let Some(under_60) = tariff.under_60 {
            parts.push(extension("under60", "valueBoolean", Value::from(under_60)));
        }
        for included in tariff.others_included {
            parts.push(text("othersDeliveryIncluded", included));
        }
        if let Some(code) = tariff.residential {
            parts.push(coded("residentialType", List::Housing, code)?);
        }
        if let Some(code) = tariff.special_price {
            parts.push(coded("specialPrice", List::PriceCondition, code)?);
        }
        if let Some(code) = tariff.welcome {
            parts.push(coded("welcomeType", List::ReceptionType, code)?);
        }
        if let Some(name) = tariff.meal_name {
            parts.push(text("mealDeliveryName", name));
        }
        if let Some(code) = tariff.dependency {
            parts.push(coded("dependencyLevel", List::Dependency, code)?);
        }
        if let Some(name) = tariff.human_help_name {
            parts.push(text("humanHelpPriceName", name));
        }
        if let Some(name) = tariff.other_service_name {
            parts.push(text("otherAdditionalServiceName", name));
        }
        Ok(complex(codes::EXT_PRICE, parts))
    }

    /// Writes the poles (and services) of a hospital and returns, for each planned offer,
    /// the reference of the organisation that provides it.
    fn internal_organisations(
        &mut self,
        eg: &Establishment,
        eg_id: &str,
        profile: &Profile,
        planned: &[Planned],
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<Value>, GenerateError> {
        let own = reference("Organization", eg_id);
        if profile.oi == OiMode::None || planned.len() < 3 {
            return Ok(vec![own; planned.len()]);
        }
        let mode = if self.ctx.demo { OiMode::Poles } else { profile.oi };
        let poles: Vec<Pole> = planned
            .iter()
            .map(|p| p.template.pole)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut pole_ids: BTreeMap<Pole, String> = BTreeMap::new();
        let mut service_ids: BTreeMap<(Pole, &str), String> = BTreeMap::new();
        let mut next = 1;
        for pole in poles {
            let id = format!("oi-{}-{next}", eg.finess_et);
            next += 1;
            self.internal_organisation(eg, &id, pole.label(), eg_id, rng)?;
            pole_ids.insert(pole, id);
        }
        if mode == OiMode::PolesAndServices {
            for offer in planned {
                let template = offer.template;
                if template.service.is_empty() || service_ids.contains_key(&(template.pole, template.service))
                {
                    continue;
                }
                let Some(parent) = pole_ids.get(&template.pole).cloned() else { continue };
                let id = format!("oi-{}-{next}", eg.finess_et);
                next += 1;
                self.internal_organisation(eg, &id, template.service, &parent, rng)?;
                service_ids.insert((template.pole, template.service), id);
            }
        }
        Ok(planned
            .iter()
            .map(|offer| {
                let template = offer.template;
                service_ids
                    .get(&(template.pole, template.service))
                    .or_else(|| pole_ids.get(&template.pole))
                    .map_or_else(|| own.clone(), |id| reference("Organization", id))
            })
            .collect())
    }

    fn internal_organisation(
        &mut self,
        eg: &Establishment,
        id: &str,
        name: &str,
        parent: &str,
        rng: &mut ChaCha8Rng,
    ) -> Result<(), GenerateError> {
        let stamps = stamps(rng);
        let value = id.trim_start_matches("oi-");
        let resource = obj([
            ("resourceType", "Organization".into()),
            ("id", id.into()),
            ("meta", self.meta("ror-organization", stamps.updated, &eg.region)?),
            ("extension", vec![creation(stamps.created)].into()),
            ("identifier", vec![identifier(codes::ID_TYPE_OI, Some(codes::SYSTEM_OI), value)].into()),
            ("active", true.into()),
            ("name", name.into()),
            ("partOf", reference("Organization", parent)),
        ]);
        self.out.write(Kind::Organization, resource)
    }

    fn offer(
        &mut self,
        eg: &'static Establishment,
        eg_id: &str,
        provider: &Value,
        planned: &Planned,
        site: &mut Site,
        rng: &mut ChaCha8Rng,
    ) -> Result<(), GenerateError> {
        let codes = self.ctx.codes;
        let template = planned.template;
        let region = ror_region(&eg.region);
        self.next_offer += 1;
        let hs_id = format!("hs-{}", self.next_offer);
        let stamps = stamps(rng);

        // Places: a scenario that needs data on the place gets a place of its own.
        let needs_own_place = planned.forced.iter().any(|f| f.capacity.is_some() || f.equipment.is_some());
        let forced_capacity: Vec<ForcedCapacity> = planned.forced.iter().filter_map(|f| f.capacity).collect();
        let forced_equipment: Vec<Equip> = planned.forced.iter().filter_map(|f| f.equipment).collect();
        let share_rate = if matches!(template.field, "01" | "02" | "03") { 0.05 } else { 0.08 };
        let mut place_ids: Vec<String> = Vec::with_capacity(3);
        let shareable: Vec<&Place> = site.places.iter().filter(|p| p.function == template.place).collect();
        if !needs_own_place && !shareable.is_empty() && rng.random_bool(share_rate) {
            if let Some(place) = shareable.choose(rng) {
                place_ids.push(place.id.clone());
            }
        }
        if place_ids.is_empty() {
            let id =
                self.place(eg, eg_id, template, site, &forced_capacity, &forced_equipment, false, rng)?;
            place_ids.push(id);
        }
        if template.cap != Cap::None && rng.random_bool(0.12) {
            let id = self.place(eg, eg_id, template, site, &[], &[], true, rng)?;
            place_ids.push(id);
        }
        if template.surgery {
            let theatre = self.theatre(eg, eg_id, site, rng)?;
            place_ids.push(theatre);
        }

        // Characteristics, in the slice order of the profile.
        let mut characteristic = vec![codes.concept(List::CareMode, template.care_mode)?];
        if !template.reception_type.is_empty() {
            characteristic.push(codes.concept(List::ReceptionType, template.reception_type)?);
        }
        let modalities =
            draw(rng, template.modalities, 0.5, planned.forced.iter().flat_map(|f| f.modalities));
        for code in modalities {
            characteristic.push(codes.concept(List::Modality, code)?);
        }
        for code in draw(rng, template.acts, 0.4, planned.forced.iter().flat_map(|f| f.acts)) {
            let mut act = codes.concept(List::Act, code)?;
            act["extension"] =
                Value::from(vec![extension(codes::EXT_ACT_TYPE, "valueCode", Value::from("specificAct"))]);
            characteristic.push(act);
        }
        for code in
            draw(rng, template.specialisations, 0.4, planned.forced.iter().flat_map(|f| f.specialisations))
        {
            characteristic.push(codes.concept(List::Specialisation, code)?);
        }
        for code in draw(rng, template.competences, 0.3, planned.forced.iter().flat_map(|f| f.competences)) {
            characteristic.push(codes.concept(List::Competence, code)?);
        }

        // Extensions.
        let sensitive = template.sensitive || rng.random_bool(0.01);
        let mut patient = Vec::with_capacity(template.publics.len() + 1);
        for public in template.publics {
            patient.push(extension(
                "supportedPatientInfo",
                "valueCodeableConcept",
                codes.concept(List::Public, public)?,
            ));
        }
        let age = |value: u32| {
            obj([("value", value.into()), ("system", codes::SYSTEM_AGE_UNIT.into()), ("code", "a".into())])
        };
        patient.push(extension(
            "ageRange",
            "valueRange",
            obj([("low", age(template.age.0)), ("high", age(template.age.1))]),
        ));
        let mut extensions = vec![
            extension(codes::EXT_SENSITIVE_UNIT, "valueBoolean", Value::from(sensitive)),
            complex(codes::EXT_PATIENT_TYPE, patient),
            creation(stamps.created),
        ];
        if matches!(template.key, "psy_adult_hc" | "psy_usip" | "umd" | "psy_clinic_hc") {
            extensions.push(extension(codes::EXT_NO_CONSENT, "valueBoolean", Value::from(true)));
        }
        match template.sector {
            Sector::Adult if rng.random_bool(0.8) => {
                let sector = format!("{}G{:02}", eg.department, rng.random_range(1..=20));
                extensions.push(extension(codes::EXT_PSY_SECTOR, "valueString", Value::from(sector)));
            }
            Sector::Child if rng.random_bool(0.8) => {
                let sector = format!("{}I{:02}", eg.department, rng.random_range(1..=8));
                extensions.push(extension(codes::EXT_PSY_SECTOR, "valueString", Value::from(sector)));
            }
            _ => {}
        }
        if template.zone {
            let forced_communes: Vec<&str> = planned.forced.iter().filter_map(|f| f.zone_commune).collect();
            let zone = site.zone(self.ctx, rng, &forced_communes)?;
            for &index in zone.iter() {
                let commune = self
                    .ctx
                    .communes
                    .get(index)
                    .ok_or_else(|| GenerateError::UnknownCommune(index.to_string()))?;
                extensions.push(complex(
                    codes::EXT_TERRITORIAL_DIVISION,
                    vec![
                        extension(
                            "typeTerritorialDivision",
                            "valueCodeableConcept",
                            codes.concept(List::DivisionType, "3")?,
                        ),
                        extension(
                            "codeTerritorialDivision",
                            "valueCodeableConcept",
                            commune_concept(commune),
                        ),
                    ],
                ));
            }
        }

        let name = match planned.forced.iter().find_map(|f| f.name) {
            Some(name) => name.to_owned(),
            None if matches!(template.field, "01" | "02" | "03") => template.name.to_owned(),
            None => format!("{} - {}", eg.name, template.name),
        };
        let mut resource = obj([
            ("resourceType", "HealthcareService".into()),
            ("id", hs_id.as_str().into()),
            ("meta", self.meta("ror-healthcareservice", stamps.updated, &eg.region)?),
            ("extension", extensions.into()),
            (
                "identifier",
                vec![identifier(codes::ID_TYPE_OFFER, None, &format!("{region}/{:07}", self.next_offer))]
                    .into(),
            ),
            ("active", true.into()),
            ("providedBy", provider.clone()),
        ]);
        if !template.category.is_empty() {
            resource["category"] = Value::from(vec![codes.concept(List::OfferType, template.category)?]);
        }
        resource["type"] = Value::from(vec![codes.concept(List::Field, template.field)?]);
        resource["specialty"] = Value::from(vec![codes.concept(List::Activity, template.activity)?]);
        resource["location"] = Value::Array(place_ids.iter().map(|id| reference("Location", id)).collect());
        resource["name"] = Value::from(name);
        resource["characteristic"] = Value::Array(characteristic);
        if rng.random_bool(0.02) {
            let start =
                Instant::random_between(rng, Instant::from_date(2026, 7, 1), Instant::from_date(2026, 11, 1));
            let end =
                Instant::random_between(rng, Instant::from_date(2026, 12, 1), Instant::from_date(2027, 4, 1));
            resource["notAvailable"] = Value::from(vec![obj([
                ("id", "closingReopeningDate".into()),
                ("description", "Fermeture temporaire".into()),
                ("during", obj([("start", start.date().into()), ("end", end.date().into())])),
            ])]);
        }
        self.out.write(Kind::HealthcareService, resource)?;

        let wants_roles =
            !template.profession.is_empty() && rng.random_bool(template.practitioners.clamp(0.0, 1.0));
        if wants_roles || planned.forced.iter().any(|f| f.practitioner) {
            let count =
                if template.field == "05" { rng.random_range(1..=4) } else { rng.random_range(1..=3) };
            let profession = if template.profession.is_empty() { "10" } else { template.profession };
            for _ in 0..count {
                self.role(eg, eg_id, &hs_id, &place_ids, profession, template.field == "05", site, rng)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn place(
        &mut self,
        eg: &Establishment,
        eg_id: &str,
        template: &OfferTpl,
        site: &mut Site,
        forced_capacity: &[ForcedCapacity],
        forced_equipment: &[Equip],
        annex: bool,
        rng: &mut ChaCha8Rng,
    ) -> Result<String, GenerateError> {
        let codes = self.ctx.codes;
        let mut extensions = vec![site.commune_cog.clone()];
        let stamps = stamps(rng);
        extensions.push(creation(stamps.created));
        let mut updated = stamps.updated;
        let (records, capacity_date) = self.capacities(template.cap, forced_capacity, annex, rng)?;
        if let Some(date) = capacity_date {
            updated = updated.max(date);
        }
        extensions.extend(records);
        let present: Vec<&Equip> = template
            .equipment
            .iter()
            .filter(|e| rng.random_bool(e.rate.clamp(0.0, 1.0)))
            .chain(forced_equipment)
            .collect();
        for equip in present {
            extensions.push(self.equipment(equip, rng)?);
        }
        if let Cap::Housing(min, max) = template.cap {
            let units = if annex { rng.random_range(1..=min.max(2)) } else { rng.random_range(min..=max) };
            let split: &[(&str, f64)] = if template.key.starts_with("ra_") {
                &[("03", 0.6), ("05", 0.15), ("04", 0.25)]
            } else {
                &[("02", 0.85), ("01", 0.15)]
            };
            for (code, share) in split {
                let number = ((f64::from(units) * share).round() as u32).max(1);
                extensions.push(complex(
                    codes::EXT_RESIDENTIAL_CAPACITY,
                    vec![
                        extension(
                            "residentialType",
                            "valueCodeableConcept",
                            codes.concept(List::Housing, code)?,
                        ),
                        extension("residentialNumber", "valueInteger", Value::from(number)),
                    ],
                ));
            }
        }
        self.next_place += 1;
        let id = format!("loc-{}", self.next_place);
        let region = ror_region(&eg.region);
        let mut identifiers = vec![identifier(
            codes::ID_TYPE_LOCATION,
            None,
            &format!("{region}/{}", 100_000 + self.next_place),
        )];
        if matches!(template.cap, Cap::Beds(..)) && rng.random_bool(0.5) {
            identifiers.push(identifier(
                codes::ID_TYPE_LOCATION_SYNC,
                None,
                &format!("{}-UF{:04}", eg.finess_et, 1001 + site.places.len()),
            ));
        }
        let (status, operational) = match rng.random_range(0..100) {
            0 => ("inactive", "FD"),
            1..=3 => ("suspended", "FT"),
            _ => ("active", "OP"),
        };
        let short = template.name;
        let name = match template.place {
            "005" => format!("{} - {}", eg.name, short),
            _ if annex => format!("{short} - site annexe"),
            _ => format!("{short} - {}", names::building(rng)),
        };
        let resource = obj([
            ("resourceType", "Location".into()),
            ("id", id.as_str().into()),
            ("meta", self.meta("ror-location", updated, &eg.region)?),
            ("extension", extensions.into()),
            ("identifier", identifiers.into()),
            ("status", status.into()),
            ("operationalStatus", codes.coding(List::LocationStatus, operational)?),
            ("name", name.into()),
            ("type", vec![codes.concept(List::LocationFunction, template.place)?].into()),
            ("address", address(&eg.address, &eg.postal_code, &eg.city)),
            ("position", site.position(rng)),
            ("managingOrganization", reference("Organization", eg_id)),
        ]);
        self.out.write(Kind::Location, resource)?;
        site.places.push(Place { id: id.clone(), function: template.place });
        Ok(id)
    }

    /// The operating theatre of the establishment, written the first time a surgical
    /// offer needs it.
    fn theatre(
        &mut self,
        eg: &Establishment,
        eg_id: &str,
        site: &mut Site,
        rng: &mut ChaCha8Rng,
    ) -> Result<String, GenerateError> {
        if let Some(id) = &site.theatre {
            return Ok(id.clone());
        }
        let id = self.place(eg, eg_id, &catalog::THEATRE, site, &[], &[], false, rng)?;
        site.theatre = Some(id.clone());
        Ok(id)
    }

    fn equipment(&self, equip: &Equip, rng: &mut ChaCha8Rng) -> Result<Value, GenerateError> {
        let codes = self.ctx.codes;
        let (low, high) = equip.in_service;
        let mut parts = vec![
            extension("equipmentType", "valueCodeableConcept", codes.concept(List::Equipment, equip.code)?),
            extension("nbInService", "valueInteger", Value::from(rng.random_range(low..=high.max(low)))),
        ];
        if let Some(limit) = equip.limit {
            parts.push(complex(
                codes::EXT_EQUIPMENT_LIMIT,
                vec![
                    extension(
                        "equipmentFeature",
                        "valueCodeableConcept",
                        codes.concept(List::EquipmentFeature, limit.feature)?,
                    ),
                    extension(
                        "limitValue",
                        "valueQuantity",
                        obj([
                            ("value", limit.value.into()),
                            ("unit", limit.unit.into()),
                            ("system", codes::SYSTEM_UCUM.into()),
                            ("code", limit.unit.into()),
                        ]),
                    ),
                ],
            ));
        }
        Ok(complex(codes::EXT_EQUIPMENT, parts))
    }

    /// Capacity records of a place and the date they were last updated.
    fn capacities(
        &self,
        cap: Cap,
        forced: &[ForcedCapacity],
        annex: bool,
        rng: &mut ChaCha8Rng,
    ) -> Result<(Vec<Value>, Option<Instant>), GenerateError> {
        let (kind, min, max) = match cap {
            Cap::None => return Ok((Vec::new(), None)),
            Cap::Beds(min, max) => ("01", min, max),
            Cap::Places(min, max) | Cap::Housing(min, max) => ("02", min, max),
        };
        let installed =
            if annex { rng.random_range(1..=min.max(2)) } else { rng.random_range(min..=max.max(min)) };
        let date = Instant::random_between(rng, CAPACITY_FROM, CAPACITY_TO);
        let managed = kind == "01" && rng.random_bool(0.6);
        let source = if managed { "02" } else { "01" };
        let mut records = Vec::new();
        records.push(self.capacity(kind, "01", "01", installed, "01", None, None, date, rng)?);
        let genders: &[&str] = if kind == "01" { &["01", "02"] } else { &["04"] };
        let wants_women = forced.contains(&ForcedCapacity::AvailableWomenBeds);
        for gender in genders {
            let mut available = rng.random_range(0..=installed / 5 + 1);
            if wants_women && *gender == "01" {
                available = available.max(2);
            }
            records.push(self.capacity(
                kind,
                "02",
                "01",
                available,
                source,
                Some(gender),
                None,
                date,
                rng,
            )?);
        }
        if kind == "01" && rng.random_bool(0.3) {
            let available = rng.random_range(0..=installed / 4 + 1);
            records.push(self.capacity(kind, "02", "03", available, source, Some("04"), None, date, rng)?);
        }
        let wants_closed = forced.contains(&ForcedCapacity::ClosedReopenableBeds);
        if wants_closed || rng.random_bool(0.15) {
            let closing = if wants_closed {
                "01"
            } else {
                match rng.random_range(0..20) {
                    0..=11 => "01",
                    12..=16 => "02",
                    _ => "03",
                }
            };
            let closed = rng.random_range(1..=installed / 4 + 1);
            records.push(self.capacity(kind, "05", "01", closed, source, None, Some(closing), date, rng)?);
        }
        Ok((records, Some(date)))
    }

    #[allow(clippy::too_many_arguments)]
    fn capacity(
        &self,
        kind: &str,
        status: &str,
        temporality: &str,
        number: u32,
        source: &str,
        gender: Option<&str>,
        closing: Option<&str>,
        date: Instant,
        rng: &mut ChaCha8Rng,
    ) -> Result<Value, GenerateError> {
        let codes = self.ctx.codes;
        let assignment = match rng.random_range(0..100) {
            0 => "02",
            1 => "03",
            _ => "01",
        };
        let mut parts = vec![
            extension("nbCapacity", "valueInteger", Value::from(number)),
            extension("capacityUpdateDate", "valueDateTime", Value::from(date.date_time_z())),
            extension("capacityStatus", "valueCodeableConcept", codes.concept(List::CapacityStatus, status)?),
            extension("capacityType", "valueCodeableConcept", codes.concept(List::CapacityType, kind)?),
            extension(
                "temporalityCapacity",
                "valueCodeableConcept",
                codes.concept(List::CapacityTemporality, temporality)?,
            ),
            extension(
                "capacitySourceType",
                "valueCodeableConcept",
                codes.concept(List::CapacitySource, source)?,
            ),
        ];
        if let Some(gender) = gender {
            parts.push(extension(
                "genderCapacityAvailable",
                "valueCodeableConcept",
                codes.concept(List::CapacityGender, gender)?,
            ));
        }
        parts.push(extension(
            "temporaryAssignement",
            "valueCodeableConcept",
            codes.concept(List::CapacityAssignment, assignment)?,
        ));
        if let Some(closing) = closing {
            parts.push(extension(
                "capacityClosingType",
                "valueCodeableConcept",
                codes.concept(List::CapacityClosing, closing)?,
            ));
        }
        Ok(complex(codes::EXT_SUPPORTED_CAPACITY, parts))
    }

    #[allow(clippy::too_many_arguments)]
    fn role(
        &mut self,
        eg: &Establishment,
        eg_id: &str,
        hs_id: &str,
        place_ids: &[String],
        profession: &str,
        liberal: bool,
        site: &mut Site,
        rng: &mut ChaCha8Rng,
    ) -> Result<(), GenerateError> {
        let codes = self.ctx.codes;
        let reuse = site
            .practitioners
            .iter()
            .filter(|(_, p)| p == profession)
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>();
        let practitioner_id = match reuse.choose(rng) {
            Some(id) if rng.random_bool(0.25) => id.clone(),
            _ => {
                let id = self.practitioner(eg, profession, rng)?;
                site.practitioners.push((id.clone(), profession.to_owned()));
                id
            }
        };
        self.next_role += 1;
        let stamps = stamps(rng);
        let mode = if liberal { codes::EXERCISE_LIBERAL } else { codes::EXERCISE_SALARIED };
        let resource = obj([
            ("resourceType", "PractitionerRole".into()),
            ("id", format!("pr-{}", self.next_role).into()),
            ("meta", self.meta("ror-practitionerrole", stamps.updated, &eg.region)?),
            (
                "extension",
                vec![
                    extension(codes::EXT_UNIT_EXERCISE_MODE, "valueCodeableConcept", mode.concept()),
                    creation(stamps.created),
                ]
                .into(),
            ),
            (
                "identifier",
                vec![identifier(
                    codes::ID_TYPE_SITUATION,
                    None,
                    &format!("{}/{:07}", ror_region(&eg.region), self.next_role),
                )]
                .into(),
            ),
            ("active", true.into()),
            ("practitioner", reference("Practitioner", &practitioner_id)),
            ("organization", reference("Organization", eg_id)),
            ("code", vec![codes.concept(List::Profession, profession)?].into()),
            ("location", Value::Array(place_ids.iter().map(|id| reference("Location", id)).collect())),
            ("healthcareService", vec![reference("HealthcareService", hs_id)].into()),
        ]);
        self.out.write(Kind::PractitionerRole, resource)
    }

    fn practitioner(
        &mut self,
        eg: &Establishment,
        profession: &str,
        rng: &mut ChaCha8Rng,
    ) -> Result<String, GenerateError> {
        self.next_practitioner += 1;
        let id = format!("prac-{}", self.next_practitioner);
        // A bijection of the counter over 10 digits: unique, and not visibly sequential.
        let number = (self.next_practitioner * 7919 + 1_234_567) % 9_000_000_000 + 1_000_000_000;
        let (family, given, female) = names::person_name(rng);
        let stamps = stamps(rng);
        let mut name =
            obj([("use", "usual".into()), ("family", family.into()), ("given", vec![given].into())]);
        if matches!(profession, "10" | "40") {
            name["prefix"] = Value::from(vec!["Dr"]);
        }
        let resource = obj([
            ("resourceType", "Practitioner".into()),
            ("id", id.as_str().into()),
            ("meta", self.meta("ror-practitioner", stamps.updated, &eg.region)?),
            ("extension", vec![creation(stamps.created)].into()),
            (
                "identifier",
                vec![obj([
                    ("use", "official".into()),
                    ("type", codes::ID_TYPE_IDNPS.concept()),
                    ("system", codes::SYSTEM_IDNAT_PS.into()),
                    ("value", format!("8{number:010}").into()),
                ])]
                .into(),
            ),
            ("active", true.into()),
            ("name", vec![name].into()),
            ("gender", (if female { "female" } else { "male" }).into()),
        ]);
        self.out.write(Kind::Practitioner, resource)?;
        Ok(id)
    }
}

/// Draws each candidate with probability `rate`, then adds the forced codes.
fn draw(
    rng: &mut ChaCha8Rng,
    candidates: &'static [&'static str],
    rate: f64,
    forced: impl Iterator<Item = &'static &'static str>,
) -> Vec<&'static str> {
    let mut picked: Vec<&'static str> =
        candidates.iter().copied().filter(|_| rng.random_bool(rate)).collect();
    for code in forced {
        if !picked.contains(code) {
            picked.push(code);
        }
    }
    picked
}

fn telecom(phone: &str) -> Value {
    obj([
        (
            "extension",
            vec![
                extension(
                    codes::EXT_TELECOM_CHANNEL,
                    "valueCodeableConcept",
                    codes::TELECOM_LANDLINE.concept(),
                ),
                extension(
                    codes::EXT_TELECOM_CONFIDENTIALITY,
                    "valueCodeableConcept",
                    codes::CONFIDENTIALITY_OPEN.concept(),
                ),
            ]
            .into(),
        ),
        ("system", "phone".into()),
        ("value", phone.into()),
    ])
}

fn creation(created: Instant) -> Value {
    extension(codes::EXT_CREATION_DATE, "valueDateTime", Value::from(created.date_time()))
}

fn commune_concept(commune: &Commune) -> Value {
    let coding = obj([
        ("system", codes::TRE_R13.into()),
        ("code", commune.cog.as_str().into()),
        ("display", commune.name.as_str().into()),
    ]);
    obj([("coding", vec![coding].into())])
}

/// Dates from which published tariffs apply (they change on 1 January, sometimes mid-year).
const TARIFF_STARTS: &[&str] =
    &["2025-01-01T00:00:00+01:00", "2025-07-01T00:00:00+02:00", "2026-01-01T00:00:00+01:00"];

/// Services often included in the accommodation rate (`othersDeliveryIncluded`).
const INCLUDED_SERVICES: &[&str] =
    &["Blanchissage du linge plat", "Animations collectives", "Accès internet", "Entretien des locaux"];

/// Published tariffs of an establishment, with realistic amounts: accommodation of 55 to
/// 110 €/day in EHPAD, dependency of 5 to 25 €/day by GIR group, monthly rents in residences,
/// hourly home help and per-meal delivery.
fn tariffs(
    kind: Tariffs,
    social_help: bool,
    has_offer: &dyn Fn(&str) -> bool,
    rng: &mut ChaCha8Rng,
) -> Vec<ForcedTariff> {
    let start = TARIFF_STARTS.choose(rng).copied().unwrap_or(TARIFF.start);
    let t = ForcedTariff { start, ..TARIFF };
    let mut out = Vec::new();
    match kind {
        Tariffs::None => {}
        Tariffs::Ehpad => {
            let base = round2(rng.random_range(55.0..110.0));
            let included = if rng.random_bool(0.5) { &INCLUDED_SERVICES[..2] } else { &[][..] };
            out.push(ForcedTariff {
                amount: base,
                residential: Some("02"),
                special_price: Some("01"),
                others_included: included,
                ..t
            });
            if rng.random_bool(0.6) {
                let double = round2(base - rng.random_range(4.0..12.0));
                out.push(ForcedTariff {
                    amount: double,
                    residential: Some("01"),
                    special_price: Some("01"),
                    ..t
                });
            }
            if social_help {
                let condition = if rng.random_bool(0.5) { "02" } else { "03" };
                let agreed = round2(rng.random_range(55.0_f64..72.0).min(base));
                out.push(ForcedTariff {
                    amount: agreed,
                    residential: Some("02"),
                    special_price: Some(condition),
                    ..t
                });
            }
            if rng.random_bool(0.3) {
                let younger = round2(base + rng.random_range(10.0..25.0));
                out.push(ForcedTariff {
                    amount: younger,
                    residential: Some("02"),
                    under_60: Some(true),
                    ..t
                });
            }
            if has_offer("ehpad_temporary") {
                let temporary = round2(base + rng.random_range(0.0..10.0));
                out.push(ForcedTariff {
                    amount: temporary,
                    residential: Some("02"),
                    welcome: Some("01"),
                    ..t
                });
            }
            for (gir, range) in [("01", 18.0..25.0), ("02", 11.0..17.0), ("03", 5.0..8.0)] {
                let amount = round2(rng.random_range(range));
                out.push(ForcedTariff { price_type: "03", amount, dependency: Some(gir), ..t });
            }
            if has_offer("ehpad_day") {
                let amount = round2(rng.random_range(25.0..60.0));
                out.push(ForcedTariff { price_type: "05", amount, welcome: None, ..t });
            }
            if rng.random_bool(0.3) {
                out.push(ForcedTariff {
                    price_type: "04",
                    unit: "4",
                    amount: round2(rng.random_range(5.0..30.0)),
                    welcome: None,
                    other_service_name: Some("Entretien du linge personnel"),
                    ..t
                });
            }
        }
        Tariffs::Residence => {
            let f1 = round2(rng.random_range(550.0..950.0));
            out.push(ForcedTariff {
                unit: "3",
                amount: f1,
                residential: Some("03"),
                special_price: Some("01"),
                ..t
            });
            let f2 = round2(f1 + rng.random_range(150.0..350.0));
            out.push(ForcedTariff {
                unit: "3",
                amount: f2,
                residential: Some("04"),
                special_price: Some("01"),
                ..t
            });
            if social_help {
                let agreed = round2(f1 * rng.random_range(0.8..0.95));
                let condition = if rng.random_bool(0.5) { "02" } else { "03" };
                out.push(ForcedTariff {
                    unit: "3",
                    amount: agreed,
                    residential: Some("03"),
                    special_price: Some(condition),
                    ..t
                });
            }
        }
        Tariffs::DayCare => {
            let amount = round2(rng.random_range(25.0..60.0));
            out.push(ForcedTariff { price_type: "05", amount, welcome: None, ..t });
        }
        Tariffs::HomeHelp => {
            out.push(ForcedTariff {
                price_type: "06",
                unit: "1",
                amount: round2(rng.random_range(22.0..32.0)),
                welcome: None,
                human_help_name: Some("Aide humaine en semaine"),
                ..t
            });
            if rng.random_bool(0.5) {
                out.push(ForcedTariff {
                    price_type: "06",
                    unit: "1",
                    amount: round2(rng.random_range(26.0..38.0)),
                    welcome: None,
                    human_help_name: Some("Aide humaine le dimanche et les jours fériés"),
                    ..t
                });
            }
            if has_offer("saad_meals") {
                out.push(ForcedTariff {
                    price_type: "07",
                    unit: "4",
                    amount: round2(rng.random_range(8.0..14.0)),
                    welcome: None,
                    meal_name: Some("Repas du midi livré à domicile"),
                    ..t
                });
            }
        }
    }
    out
}

/// Per-establishment state: where it is, the places and practitioners already written,
/// and its home-care zone.
struct Site {
    lat: f64,
    lon: f64,
    reliable: bool,
    department: &'static str,
    cog: &'static str,
    commune_cog: Value,
    places: Vec<Place>,
    theatre: Option<String>,
    practitioners: Vec<(String, String)>,
    zone: Option<Vec<usize>>,
}

impl Site {
    fn new(ctx: &Context, eg: &'static Establishment) -> Result<Site, GenerateError> {
        let commune = ctx.commune(&eg.cog)?;
        let (lat, lon, reliable) = match (eg.lat, eg.lon) {
            (Some(lat), Some(lon)) => (lat, lon, true),
            _ => (commune.lat, commune.lon, false),
        };
        let commune_cog = extension(codes::EXT_COMMUNE_COG, "valueCodeableConcept", commune_concept(commune));
        Ok(Site {
            lat,
            lon,
            reliable,
            department: &eg.department,
            cog: &eg.cog,
            commune_cog,
            places: Vec::new(),
            theatre: None,
            practitioners: Vec::new(),
            zone: None,
        })
    }

    fn position(&self, rng: &mut ChaCha8Rng) -> Value {
        let (lat, lon) = jitter(rng, self.lat, self.lon, 200.0);
        obj([
            (
                "extension",
                vec![extension(
                    codes::EXT_COORDINATE_RELIABILITY,
                    "valueBoolean",
                    Value::from(self.reliable),
                )]
                .into(),
            ),
            ("longitude", lon.into()),
            ("latitude", lat.into()),
        ])
    }

    /// Communes of the establishment's department within 15–30 km, nearest first.
    fn zone(
        &mut self,
        ctx: &Context,
        rng: &mut ChaCha8Rng,
        forced: &[&str],
    ) -> Result<Vec<usize>, GenerateError> {
        if self.zone.is_none() {
            let radius = rng.random_range(15.0..30.0);
            let mut near: Vec<(f64, usize)> = ctx
                .communes_by_department
                .get(self.department)
                .map(|indexes| {
                    indexes
                        .iter()
                        .filter_map(|&i| {
                            ctx.communes.get(i).map(|c| (haversine_km(self.lat, self.lon, c.lat, c.lon), i))
                        })
                        .filter(|(km, _)| *km <= radius)
                        .collect()
                })
                .unwrap_or_default();
            near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            near.truncate(MAX_ZONE_COMMUNES);
            let mut zone: Vec<usize> = near.into_iter().map(|(_, i)| i).collect();
            if let Some(&own) = ctx.commune_index.get(self.cog) {
                if ctx.communes.get(own).is_some_and(|c| c.parent.is_none()) && !zone.contains(&own) {
                    zone.insert(0, own);
                }
            }
            self.zone = Some(zone);
        }
        let mut zone = self.zone.clone().unwrap_or_default();
        for cog in forced {
            let index = *ctx
                .commune_index
                .get(cog)
                .ok_or_else(|| GenerateError::UnknownCommune((*cog).to_owned()))?;
            if !zone.contains(&index) {
                zone.push(index);
            }
        }
        Ok(zone)
    }
}
