//! Offers put in deliberately so that every use-case request of SPEC §3 (UC1, UC3–UC6)
//! has an answer at every scale, on real establishments of the right commune or
//! department.
//!
//! An anchor is chosen by a fixed rule over the whole FINESS table (never by scale), and
//! the anchored establishments are part of every scale.

use crate::generate::catalog::{Equip, Limit};
use crate::generate::error::GenerateError;
use crate::generate::reference::{Commune, Establishment};
use crate::generate::util::haversine_km;

/// A capacity record that a scenario needs on the offer's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForcedCapacity {
    /// Bed, available, current, for women, more than zero (UC4 S1).
    AvailableWomenBeds,
    /// Bed, closed, re-openable, more than zero (UC4 S2).
    ClosedReopenableBeds,
}

/// An offer that an anchor must have, with the characteristics the scenario searches.
#[derive(Clone, Copy, Debug)]
pub struct ForcedOffer {
    pub template: &'static str,
    pub name: Option<&'static str>,
    pub acts: &'static [&'static str],
    pub modalities: &'static [&'static str],
    pub specialisations: &'static [&'static str],
    pub competences: &'static [&'static str],
    /// A commune (COG) that the intervention zone must contain.
    pub zone_commune: Option<&'static str>,
    pub capacity: Option<ForcedCapacity>,
    /// Equipment on the place (or on the operating theatre for surgical offers).
    pub equipment: Option<Equip>,
    pub practitioner: bool,
}

const OFFER: ForcedOffer = ForcedOffer {
    template: "",
    name: None,
    acts: &[],
    modalities: &[],
    specialisations: &[],
    competences: &[],
    zone_commune: None,
    capacity: None,
    equipment: None,
    practitioner: false,
};

/// A tariff record (`ror-organization-price`); the scenarios of UC5 force some.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForcedTariff {
    /// `TRE_R246` type de tarif.
    pub price_type: &'static str,
    /// `TRE_R228` unité de prix.
    pub unit: &'static str,
    pub amount: f64,
    /// Start of validity, a FHIR dateTime.
    pub start: &'static str,
    /// `TRE_R242` type d'habitation.
    pub residential: Option<&'static str>,
    /// `TRE_R250` condition tarifaire.
    pub special_price: Option<&'static str>,
    /// `TRE_R237` GIR group.
    pub dependency: Option<&'static str>,
    /// `TRE_R240` temporalité d'accueil.
    pub welcome: Option<&'static str>,
    pub under_60: Option<bool>,
    pub others_included: &'static [&'static str],
    pub other_service_name: Option<&'static str>,
    pub meal_name: Option<&'static str>,
    pub human_help_name: Option<&'static str>,
}

/// A daily accommodation tariff with no option set; records override what applies.
pub const TARIFF: ForcedTariff = ForcedTariff {
    price_type: "02",
    unit: "2",
    amount: 0.0,
    start: "2026-01-01T00:00:00+01:00",
    residential: None,
    special_price: None,
    dependency: None,
    welcome: Some("02"),
    under_60: None,
    others_included: &[],
    other_service_name: None,
    meal_name: None,
    human_help_name: None,
};

/// An establishment that carries scenario data.
#[derive(Clone, Debug)]
pub struct Anchor {
    pub scenario: &'static str,
    pub finess_et: String,
    pub offers: &'static [ForcedOffer],
    pub tariffs: &'static [ForcedTariff],
}

/// Bariatric operating table, 150 to 250 kg (UC4 S3 searches a limit of at least 200 kg).
pub const TABLE_250_KG: Equip = Equip {
    code: "088",
    in_service: (1, 2),
    limit: Some(Limit { feature: "001", value: 250.0, unit: "kg" }),
    rate: 1.0,
};

const UNIVERSITY_HOSPITAL_OFFERS: &[ForcedOffer] = &[
    ForcedOffer { template: "cardio_hc", practitioner: true, ..OFFER },
    ForcedOffer { template: "cardio_consult", practitioner: true, ..OFFER },
    ForcedOffer { template: "cardio_ped_consult", practitioner: true, ..OFFER },
    ForcedOffer { template: "usic", ..OFFER },
    ForcedOffer { template: "chir_cardio", ..OFFER },
    ForcedOffer { template: "smr_cardio_hc", ..OFFER },
    ForcedOffer { template: "usinv", capacity: Some(ForcedCapacity::AvailableWomenBeds), ..OFFER },
    ForcedOffer { template: "sc_ped", capacity: Some(ForcedCapacity::ClosedReopenableBeds), ..OFFER },
    ForcedOffer { template: "ortho_hc", equipment: Some(TABLE_250_KG), ..OFFER },
    ForcedOffer { template: "pedopsy_hj", ..OFFER },
    ForcedOffer { template: "allergo_consult", practitioner: true, ..OFFER },
    ForcedOffer { template: "smr_loco_hc", ..OFFER },
    ForcedOffer { template: "memory_consult", competences: &["05"], practitioner: true, ..OFFER },
];

const ITEP_OFFERS: &[ForcedOffer] = &[ForcedOffer { template: "itep_semi", modalities: &["01"], ..OFFER }];

const CMPP_OFFERS: &[ForcedOffer] = &[ForcedOffer {
    template: "cmpp_consult",
    acts: &["0626"],
    competences: &["05"],
    practitioner: true,
    ..OFFER
}];

const HOME_HELP_OFFERS: &[ForcedOffer] =
    &[ForcedOffer { template: "saad_avq", zone_commune: Some("29151"), ..OFFER }];

const EHPAD_OFFERS: &[ForcedOffer] =
    &[ForcedOffer { template: "ehpad_permanent", specialisations: &["24"], ..OFFER }];

const EHPAD_TARIFFS: &[ForcedTariff] = &[
    ForcedTariff { amount: 64.85, residential: Some("02"), special_price: Some("01"), ..TARIFF },
    ForcedTariff { price_type: "03", amount: 13.42, dependency: Some("02"), ..TARIFF },
];

const RESIDENCE_OFFERS: &[ForcedOffer] = &[ForcedOffer { template: "ra_housing", ..OFFER }];

const RESIDENCE_TARIFFS: &[ForcedTariff] =
    &[ForcedTariff { amount: 24.9, residential: Some("03"), special_price: Some("03"), ..TARIFF }];

const BARIATRIC_OFFERS: &[ForcedOffer] = &[ForcedOffer { template: "bariatric", acts: &["0529"], ..OFFER }];

const GP_OFFERS: &[ForcedOffer] = &[ForcedOffer {
    template: "mg_consult",
    name: Some("Consultation de médecine générale - suivi des résidents"),
    practitioner: true,
    ..OFFER
}];

/// Commune of UC3 S6 (`near-insee-code=44162|15|km`).
pub const SAINT_HERBLAIN: &str = "44162";
/// Commune of UC3 S7 (`intervention-zone=…|29151`).
pub const MORLAIX: &str = "29151";
/// The only commune-cog value of UC3 S10 that is a real COG (`18000` is a postal code).
pub const BELCODENE: &str = "13013";

fn commune<'a>(communes: &'a [Commune], cog: &str) -> Result<&'a Commune, GenerateError> {
    communes.iter().find(|c| c.cog == cog).ok_or_else(|| GenerateError::UnknownCommune(cog.to_owned()))
}

fn distance_to(establishment: &Establishment, place: &Commune) -> f64 {
    match (establishment.lat, establishment.lon) {
        (Some(lat), Some(lon)) => haversine_km(lat, lon, place.lat, place.lon),
        _ => f64::INFINITY,
    }
}

/// The nearest establishment satisfying `keep`, ties broken by FINESS number.
fn nearest<'a>(
    establishments: &'a [Establishment],
    place: &Commune,
    max_km: f64,
    keep: impl Fn(&Establishment) -> bool,
) -> Option<&'a Establishment> {
    establishments
        .iter()
        .filter(|e| keep(e))
        .map(|e| (distance_to(e, place), e))
        .filter(|(km, _)| *km <= max_km)
        .min_by(|(a, ea), (b, eb)| a.total_cmp(b).then_with(|| ea.finess_et.cmp(&eb.finess_et)))
        .map(|(_, e)| e)
}

/// The first establishment (in FINESS order) satisfying `keep`.
fn first(establishments: &[Establishment], keep: impl Fn(&Establishment) -> bool) -> Option<&Establishment> {
    establishments.iter().filter(|e| keep(e)).min_by(|a, b| a.finess_et.cmp(&b.finess_et))
}

fn anchor(
    scenario: &'static str,
    found: Option<&Establishment>,
    offers: &'static [ForcedOffer],
    tariffs: &'static [ForcedTariff],
) -> Result<Anchor, GenerateError> {
    let establishment = found.ok_or(GenerateError::MissingAnchor(scenario))?;
    Ok(Anchor { scenario, finess_et: establishment.finess_et.clone(), offers, tariffs })
}

/// The scenario anchors, chosen over the whole establishment table.
pub fn anchors(establishments: &[Establishment], communes: &[Commune]) -> Result<Vec<Anchor>, GenerateError> {
    let saint_herblain = commune(communes, SAINT_HERBLAIN)?;
    let morlaix = commune(communes, MORLAIX)?;
    let university_hospital =
        nearest(establishments, saint_herblain, 15.0, |e| e.category == "101").or_else(|| {
            nearest(establishments, saint_herblain, 15.0, |e| {
                matches!(e.category.as_str(), "355" | "365" | "128")
            })
        });
    let is_hospital =
        |e: &Establishment| matches!(e.category.as_str(), "101" | "355" | "365" | "128" | "129");
    Ok(vec![
        anchor(
            "UC3-S6 cardiology near Saint-Herblain; UC3 S1 S2 S4 S11 S13; UC4 S1-S3; UC6",
            university_hospital,
            UNIVERSITY_HOSPITAL_OFFERS,
            &[],
        )?,
        anchor(
            "UC3-S3 ITEP with sequential reception",
            first(establishments, |e| e.category == "186" && e.department == "44"),
            ITEP_OFFERS,
            &[],
        )?,
        anchor(
            "UC3-S5 CMPP with neuropsychological assessment",
            first(establishments, |e| e.category == "189" && e.department == "44"),
            CMPP_OFFERS,
            &[],
        )?,
        anchor(
            "UC3-S7 home help serving Morlaix",
            nearest(establishments, morlaix, 30.0, |e| e.category == "460" && e.department == "29"),
            HOME_HELP_OFFERS,
            &[],
        )?,
        anchor(
            "UC3-S8 EHPAD in department 71; UC5 S1 S3",
            first(establishments, |e| e.category == "500" && e.postal_code.starts_with("71")),
            EHPAD_OFFERS,
            EHPAD_TARIFFS,
        )?,
        anchor(
            "UC5-S2 residence with F1 at the ASH rate",
            first(establishments, |e| e.category == "202" && e.department == "44"),
            RESIDENCE_OFFERS,
            RESIDENCE_TARIFFS,
        )?,
        anchor(
            "UC3-S9 bariatric surgery in 60000",
            first(establishments, |e| is_hospital(e) && e.postal_code == "60000"),
            BARIATRIC_OFFERS,
            &[],
        )?,
        anchor(
            "UC3-S9 bariatric surgery in 76620",
            first(establishments, |e| is_hospital(e) && e.postal_code == "76620"),
            BARIATRIC_OFFERS,
            &[],
        )?,
        anchor(
            "UC3-S10 general medicine in commune 13013",
            first(establishments, |e| e.cog == BELCODENE),
            GP_OFFERS,
            &[],
        )?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::catalog::template;
    use crate::generate::reference::{commune_table, establishments};

    #[test]
    fn test_anchors_are_found_on_real_establishments() -> Result<(), GenerateError> {
        let all = establishments()?;
        let anchors = anchors(all, commune_table()?)?;
        assert_eq!(anchors.len(), 9);
        let find = |finess: &str| all.iter().find(|e| e.finess_et == finess);
        for anchor in &anchors {
            let establishment =
                find(&anchor.finess_et).ok_or(GenerateError::MissingAnchor(anchor.scenario))?;
            for offer in anchor.offers {
                assert!(template(offer.template).is_some(), "{}", offer.template);
            }
            assert!(!establishment.name.is_empty());
        }
        assert_eq!(find(&anchors[0].finess_et).map(|e| e.department.as_str()), Some("44"));
        assert_eq!(find(&anchors[3].finess_et).map(|e| e.department.as_str()), Some("29"));
        assert_eq!(find(&anchors[6].finess_et).map(|e| e.finess_et.as_str()), Some("600110175"));
        assert_eq!(find(&anchors[7].finess_et).map(|e| e.finess_et.as_str()), Some("760021329"));
        assert_eq!(find(&anchors[8].finess_et).map(|e| e.cog.as_str()), Some(BELCODENE));
        Ok(())
    }
}
