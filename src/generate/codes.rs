//! Terminology used by the generated resources: NOS code lists embedded from
//! `fixtures/ror-codes/`, the CodeSystem URLs searched on, and the ROR extension URLs.
//!
//! Every coded value goes through [`Codes::coding`], which fails on a code that is not in
//! its real list, so a typo in the catalog cannot silently produce an invented code.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::generate::error::GenerateError;
use crate::generate::fhir::obj;

/// Prefix of every ROR StructureDefinition (profiles and extensions).
pub const SD: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/";

pub const EXT_CREATION_DATE: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-meta-creation-date";
pub const EXT_COMMUNE_COG: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-commune-cog";
pub const EXT_SUPPORTED_CAPACITY: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity";
pub const EXT_EQUIPMENT: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipment";
pub const EXT_EQUIPMENT_LIMIT: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipment-limit";
pub const EXT_RESIDENTIAL_CAPACITY: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-residential-capacity";
pub const EXT_SENSITIVE_UNIT: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-sensitive-unit";
pub const EXT_NO_CONSENT: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-no-consent-habilitation";
pub const EXT_PATIENT_TYPE: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-patient-type";
pub const EXT_PSY_SECTOR: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-psychiatric-sector";
pub const EXT_TERRITORIAL_DIVISION: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-territorial-division";
pub const EXT_ACT_TYPE: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-act-type";
pub const EXT_PRICE: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price";
pub const EXT_FINANCIAL_HELP: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-financial-help-type";
pub const EXT_ACCOMODATION_FAMILY: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-accomodation-family";
pub const EXT_TELECOM_CHANNEL: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-telecom-communication-channel";
pub const EXT_TELECOM_CONFIDENTIALITY: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-telecom-confidentiality-level";
pub const EXT_UNIT_EXERCISE_MODE: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-practitionerrole-unit-exercise-mode";
pub const EXT_COORDINATE_RELIABILITY: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-coordinate-reliability";
pub const EXT_ORGANIZATION_PERIOD: &str = "http://hl7.org/fhir/StructureDefinition/organization-period";

pub const SYSTEM_IDNAT_STRUCT: &str = "urn:oid:1.2.250.1.71.4.2.2";
pub const SYSTEM_IDNAT_PS: &str = "urn:oid:1.2.250.1.71.4.2.1";
pub const SYSTEM_FINESS: &str = "https://finess.esante.gouv.fr";
pub const SYSTEM_SIRENE_SIRET: &str = "https://sirene.fr";
pub const SYSTEM_SIRENE_SIREN: &str = "http://sirene.fr";
pub const SYSTEM_OI: &str = "https://oi.esante.gouv.fr";
pub const SYSTEM_UCUM: &str = "http://unitsofmeasure.org";
/// The age unit system used by the IG's own HealthcareService example.
pub const SYSTEM_AGE_UNIT: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R247-UcumUniteMesure/FHIR/TRE-R247-UcumUniteMesure";

pub const TRE_R13: &str = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM";
pub const TRE_R72: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R72-FinessStatutJuridique/FHIR/TRE-R72-FinessStatutJuridique";
pub const TRE_R69: &str = "https://mos.esante.gouv.fr/NOS/TRE_R69-FinessAgregatStatutJuridiqueNiv2/FHIR/TRE-R69-FinessAgregatStatutJuridiqueNiv2";
pub const TRE_G07: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_G07-TypeIdentifiantStructure/FHIR/TRE-G07-TypeIdentifiantStructure";
pub const TRE_G08: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_G08-TypeIdentifiantPersonne/FHIR/TRE-G08-TypeIdentifiantPersonne";
pub const TRE_R345: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R345-TypeIdentifiantAutre/FHIR/TRE-R345-TypeIdentifiantAutre";
pub const TRE_R354: &str = "https://mos.esante.gouv.fr/NOS/TRE_R354-TypeIdentifiantRessourceOperationnelle/FHIR/TRE-R354-TypeIdentifiantRessourceOperationnelle";
pub const TRE_R355: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R355-TypeIdentifiantOffre/FHIR/TRE-R355-TypeIdentifiantOffre";
pub const TRE_R200: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R200-CanalCommunication/FHIR/TRE-R200-CanalCommunication";
pub const TRE_R283: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R283-NiveauConfidentialite/FHIR/TRE-R283-NiveauConfidentialite";
pub const TRE_R241: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R241-AideFinanciere/FHIR/TRE-R241-AideFinanciere";
pub const TRE_R23: &str = "https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice";
/// Identifier type system of the annuaire santé (as-practitioner `idNatPs` slice).
pub const FR_V2_0203: &str = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203";

/// The embedded code lists. Each maps to one TRE CodeSystem, the system used in searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum List {
    /// JDV_J17 → TRE_R211 (HealthcareService.specialty).
    Activity,
    /// JDV_J238 → TRE_R244 (HealthcareService.category).
    OfferType,
    /// JDV_J20 → TRE_R227 (HealthcareService.type).
    Field,
    /// JDV_J19 → TRE_R213 (careMode characteristic).
    CareMode,
    /// JDV_J226 → TRE_R338 (receptionModality characteristic).
    Modality,
    /// JDV_J16 (partial) → TRE_R210 (specificAct characteristic).
    Act,
    /// JDV_J35 → TRE_R245 (takingCareSpeciality characteristic).
    Specialisation,
    /// JDV_J33 → TRE_R243 (specificCompetence characteristic).
    Competence,
    /// JDV_J30 → TRE_R240 (receptionType characteristic, tariff welcomeType).
    ReceptionType,
    /// JDV_J29 → TRE_R239 (patient-type supportedPatientInfo).
    Public,
    /// JDV_J55 → TRE_R66 (Organization.type categorieEtablissement).
    EstablishmentCategory,
    /// JDV_J237 → TRE_R30 (meta.tag region).
    Region,
    /// JDV_J198 → TRE_R343 (Location.type).
    LocationFunction,
    /// TRE_R203 (Location.operationalStatus), partial list.
    LocationStatus,
    /// JDV_J223 → TRE_R201 (typeTerritorialDivision).
    DivisionType,
    /// TRE_R329 (capacityType).
    CapacityType,
    /// JDV_J188 → TRE_R330 (capacityStatus).
    CapacityStatus,
    /// JDV_J189 → TRE_R331 (temporalityCapacity).
    CapacityTemporality,
    /// JDV_J190 → TRE_R332 (genderCapacityAvailable).
    CapacityGender,
    /// JDV_J191 → TRE_R333 (capacityClosingType).
    CapacityClosing,
    /// JDV_J193 → TRE_R335 (capacitySourceType).
    CapacitySource,
    /// JDV_J195 → TRE_R337 (temporaryAssignement).
    CapacityAssignment,
    /// JDV_J18 → TRE_R212 (equipmentType).
    Equipment,
    /// TRE_R340 (equipmentFeature).
    EquipmentFeature,
    /// JDV_J36 → TRE_R246 (priceType).
    PriceType,
    /// JDV_J205 → TRE_R228 (priceUnit).
    PriceUnit,
    /// JDV_J32 → TRE_R242 (residentialType).
    Housing,
    /// JDV_J39 → TRE_R250 (specialPrice).
    PriceCondition,
    /// TRE_R237 (dependencyLevel).
    Dependency,
    /// JDV_J186 rows of TRE_G15 (PractitionerRole.code).
    Profession,
}

struct ListSource {
    list: List,
    file: &'static str,
    text: &'static str,
    system: &'static str,
}

macro_rules! source {
    ($list:ident, $file:literal, $system:literal) => {
        ListSource {
            list: List::$list,
            file: $file,
            text: include_str!(concat!("../../fixtures/ror-codes/", $file)),
            system: $system,
        }
    };
}

const SOURCES: &[ListSource] = &[
    source!(Activity, "JDV_J17-ActiviteOperationnelle-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle"),
    source!(OfferType, "JDV_J238-TypeOffre-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R244-CategorieOrganisation/FHIR/TRE-R244-CategorieOrganisation"),
    source!(Field, "JDV_J20-ChampActivite-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R227-ChampActivite/FHIR/TRE-R227-ChampActivite"),
    source!(CareMode, "JDV_J19-ModePriseEnCharge-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R213-ModePriseEnCharge/FHIR/TRE-R213-ModePriseEnCharge"),
    source!(Modality, "JDV_J226-ModaliteAccueil-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R338-ModaliteAccueil/FHIR/TRE-R338-ModaliteAccueil"),
    source!(Act, "JDV_J16-ActeSpecifique-ROR.partial.csv", "https://mos.esante.gouv.fr/NOS/TRE_R210-ActeSpecifique/FHIR/TRE-R210-ActeSpecifique"),
    source!(Specialisation, "JDV_J35-SpecialisationDePriseEnCharge-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R245-SpecialisationDePriseEnCharge/FHIR/TRE-R245-SpecialisationDePriseEnCharge"),
    source!(Competence, "JDV_J33-CompetenceSpecifique-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R243-CompetenceSpecifique/FHIR/TRE-R243-CompetenceSpecifique"),
    source!(ReceptionType, "JDV_J30-TemporaliteAccueil-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R240-TemporaliteAccueil/FHIR/TRE-R240-TemporaliteAccueil"),
    source!(Public, "JDV_J29-PublicPrisEnCharge-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R239-PublicPrisEnCharge/FHIR/TRE-R239-PublicPrisEnCharge"),
    source!(EstablishmentCategory, "JDV_J55-CategorieEG-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"),
    source!(Region, "JDV_J237-RegionOM-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM"),
    source!(LocationFunction, "JDV_J198-FonctionLieu-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R343-FonctionLieu/FHIR/TRE-R343-FonctionLieu"),
    source!(LocationStatus, "TRE_R203-StatutLieu.partial.csv", "https://mos.esante.gouv.fr/NOS/TRE_R203-StatutLieu/FHIR/TRE-R203-StatutLieu"),
    source!(DivisionType, "JDV_J223-TypeDivisionTerritoriale-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R201-TypeDivisionTerritoriale/FHIR/TRE-R201-TypeDivisionTerritoriale"),
    source!(CapacityType, "TRE_R329-NatureCapacite.csv", "https://mos.esante.gouv.fr/NOS/TRE_R329-NatureCapacite/FHIR/TRE-R329-NatureCapacite"),
    source!(CapacityStatus, "JDV_J188-TypeStatutCapacite-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R330-TypeStatutCapacite/FHIR/TRE-R330-TypeStatutCapacite"),
    source!(CapacityTemporality, "JDV_J189-TemporaliteCapacite-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R331-TemporaliteCapacite/FHIR/TRE-R331-TemporaliteCapacite"),
    source!(CapacityGender, "JDV_J190-GenreCapacite-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R332-GenreCapacite/FHIR/TRE-R332-GenreCapacite"),
    source!(CapacityClosing, "JDV_J191-TypeFermetureCapacite-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R333-TypeFermetureCapacite/FHIR/TRE-R333-TypeFermetureCapacite"),
    source!(CapacitySource, "JDV_J193-TypeSourceCapacite-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R335-TypeSourceCapacite/FHIR/TRE-R335-TypeSourceCapacite"),
    source!(CapacityAssignment, "JDV_J195-AffectationTemporaire-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R337-AffectationTemporaire/FHIR/TRE-R337-AffectationTemporaire"),
    source!(Equipment, "JDV_J18-EquipementSpecifique-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R212-Equipement/FHIR/TRE-R212-Equipement"),
    source!(EquipmentFeature, "TRE_R340-TypeCaracteristiqueEquipement.csv", "https://mos.esante.gouv.fr/NOS/TRE_R340-TypeCaracteristiqueEquipement/FHIR/TRE-R340-TypeCaracteristiqueEquipement"),
    source!(PriceType, "JDV_J36-TypeTarif-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R246-TypeTarif/FHIR/TRE-R246-TypeTarif"),
    source!(PriceUnit, "JDV_J205-UnitePrix-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R228-UnitePrix/FHIR/TRE-R228-UnitePrix"),
    source!(Housing, "JDV_J32-TypeHabitation-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R242-TypeHabitation/FHIR/TRE-R242-TypeHabitation"),
    source!(PriceCondition, "JDV_J39-ConditionTarifaire-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_R250-ConditionTarifaire/FHIR/TRE-R250-ConditionTarifaire"),
    source!(Dependency, "TRE_R237-GroupeTarifaireDependance.csv", "https://mos.esante.gouv.fr/NOS/TRE_R237-GroupeTarifaireDependance/FHIR/TRE-R237-GroupeTarifaireDependance"),
    source!(Profession, "JDV_J186-ProfessionRessource-ROR.csv", "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"),
];

/// Source file of the identifier types (`TRE_G07`, `TRE_R345`, `TRE_R354`, `TRE_R355`, `TRE_G08`),
/// checked by a test against the fixed codings below.
#[cfg(test)]
const IDENTIFIER_TYPES_CSV: &str = include_str!("../../fixtures/ror-codes/JDV_J236-TypeIdentifiant-ROR.csv");

#[derive(Deserialize)]
struct CodeRow {
    code: String,
    display: String,
    #[serde(default)]
    system: Option<String>,
}

struct LoadedList {
    system: &'static str,
    displays: HashMap<String, String>,
}

/// The decoded code lists.
pub struct Codes {
    lists: HashMap<List, LoadedList>,
}

static CODES: OnceLock<Result<Codes, (&'static str, String)>> = OnceLock::new();

impl Codes {
    /// The process-wide code lists, decoded on first use.
    pub fn get() -> Result<&'static Codes, GenerateError> {
        match CODES.get_or_init(Codes::load) {
            Ok(codes) => Ok(codes),
            Err((table, detail)) => Err(GenerateError::EmbeddedData { table, detail: detail.clone() }),
        }
    }

    fn load() -> Result<Codes, (&'static str, String)> {
        let mut lists = HashMap::new();
        for source in SOURCES {
            let mut reader = csv::Reader::from_reader(source.text.as_bytes());
            let mut displays = HashMap::new();
            for row in reader.deserialize::<CodeRow>() {
                let row = row.map_err(|e| (source.file, e.to_string()))?;
                // Mixed lists (J55, J186) carry rows of other systems; only the TRE of the
                // list is usable under its system URL.
                if row.system.as_deref().is_some_and(|system| !system.is_empty() && system != source.system) {
                    continue;
                }
                displays.insert(row.code, row.display);
            }
            if displays.is_empty() {
                return Err((source.file, "no code for the expected system".to_owned()));
            }
            lists.insert(source.list, LoadedList { system: source.system, displays });
        }
        Ok(Codes { lists })
    }

    fn list(&self, list: List) -> Result<&LoadedList, GenerateError> {
        self.lists.get(&list).ok_or(GenerateError::EmbeddedData {
            table: "ror-codes",
            detail: format!("list {list:?} not loaded"),
        })
    }

    /// The display of a code, or an error when the code is not in the list.
    #[cfg(test)]
    pub fn display(&self, list: List, code: &str) -> Result<&str, GenerateError> {
        self.list(list)?
            .displays
            .get(code)
            .map(String::as_str)
            .ok_or_else(|| GenerateError::UnknownCode { list: list_name(list), code: code.to_owned() })
    }

    /// Whether `code` belongs to `list`.
    pub fn contains(&self, list: List, code: &str) -> bool {
        self.lists.get(&list).is_some_and(|l| l.displays.contains_key(code))
    }

    /// A `Coding` with system, code and display.
    pub fn coding(&self, list: List, code: &str) -> Result<Value, GenerateError> {
        let loaded = self.list(list)?;
        let display = loaded
            .displays
            .get(code)
            .ok_or_else(|| GenerateError::UnknownCode { list: list_name(list), code: code.to_owned() })?;
        Ok(obj([
            ("system", loaded.system.into()),
            ("code", code.into()),
            ("display", display.as_str().into()),
        ]))
    }

    /// A `CodeableConcept` holding one coding.
    pub fn concept(&self, list: List, code: &str) -> Result<Value, GenerateError> {
        Ok(obj([("coding", vec![self.coding(list, code)?].into())]))
    }
}

fn list_name(list: List) -> &'static str {
    SOURCES.iter().find(|s| s.list == list).map_or("unknown", |s| s.file)
}

/// A coding whose code list is not embedded (identifier types, legal status, telecom):
/// the few values used are written out here.
#[derive(Clone, Copy, Debug)]
pub struct Fixed {
    pub system: &'static str,
    pub code: &'static str,
    pub display: &'static str,
}

impl Fixed {
    pub fn coding(&self) -> Value {
        obj([("system", self.system.into()), ("code", self.code.into()), ("display", self.display.into())])
    }

    pub fn concept(&self) -> Value {
        obj([("coding", vec![self.coding()].into())])
    }
}

pub const ID_TYPE_IDNAT_STRUCT: Fixed =
    Fixed { system: TRE_G07, code: "40", display: "Identifiant national de structure" };
pub const ID_TYPE_FINESS: Fixed = Fixed { system: TRE_G07, code: "1", display: "FINESS" };
pub const ID_TYPE_SIREN: Fixed = Fixed { system: TRE_G07, code: "2", display: "SIREN" };
pub const ID_TYPE_SIRET: Fixed = Fixed { system: TRE_G07, code: "3", display: "SIRET" };
pub const ID_TYPE_OI: Fixed = Fixed {
    system: TRE_R345,
    code: "42",
    display: "Identifiant fonctionnel de l'OI connu par l'instance ROR",
};
pub const ID_TYPE_OFFER: Fixed = Fixed {
    system: TRE_R355,
    code: "35",
    display: "Identifiant fonctionnel de l'offre connu par l'instance ROR",
};
pub const ID_TYPE_LOCATION: Fixed = Fixed {
    system: TRE_R354,
    code: "25",
    display: "Identifiant du lieu de réalisation de l'offre connu par l'instance ROR",
};
pub const ID_TYPE_LOCATION_SYNC: Fixed = Fixed {
    system: TRE_R354,
    code: "26",
    display: "Identifiant de la zone d'hébergement connu par l'établissement",
};
pub const ID_TYPE_SITUATION: Fixed = Fixed {
    system: TRE_G08,
    code: "30",
    display: "Identifiant de la situation opérationnelle connu par l'instance ROR",
};
pub const ID_TYPE_IDNPS: Fixed =
    Fixed { system: FR_V2_0203, code: "IDNPS", display: "Identifiant national de professionnel de santé" };

pub const TELECOM_LANDLINE: Fixed = Fixed { system: TRE_R200, code: "2", display: "Téléphone fixe" };
pub const CONFIDENTIALITY_OPEN: Fixed = Fixed { system: TRE_R283, code: "1", display: "Accès libre" };
pub const FINANCIAL_HELP_SOCIAL: Fixed =
    Fixed { system: TRE_R241, code: "02", display: "Habilité Aide Sociale" };
pub const EXERCISE_SALARIED: Fixed = Fixed { system: TRE_R23, code: "S", display: "Salarié" };
pub const EXERCISE_LIBERAL: Fixed =
    Fixed { system: TRE_R23, code: "L", display: "Libéral, indépendant, artisan, commerçant" };

/// FINESS legal status (`TRE_R72`) with its level-2 aggregate (`TRE_R69`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegalStatus {
    pub code: &'static str,
    pub display: &'static str,
    pub aggregate: &'static str,
}

impl LegalStatus {
    pub fn aggregate_display(&self) -> &'static str {
        match self.aggregate {
            "1100" => "Etat et Collectivités territoriales",
            "1200" => "Etablissement public",
            "2100" => "Organisme privé à but non lucratif",
            _ => "Organisme privé à caractère commercial",
        }
    }
}

pub const LEGAL_DEPARTMENT: LegalStatus =
    LegalStatus { code: "02", display: "Département", aggregate: "1100" };
pub const LEGAL_COMMUNE: LegalStatus = LegalStatus { code: "03", display: "Commune", aggregate: "1100" };
pub const LEGAL_CIAS: LegalStatus =
    LegalStatus { code: "08", display: "Centre Intercommunal d'Action Sociale", aggregate: "1200" };
pub const LEGAL_EP_DEPARTEMENTAL_HOSP: LegalStatus = LegalStatus {
    code: "11",
    display: "Etablissement Public Départemental d'Hospitalisation",
    aggregate: "1200",
};
pub const LEGAL_EP_COMMUNAL_HOSP: LegalStatus =
    LegalStatus { code: "13", display: "Etablissement Public Communal d'Hospitalisation", aggregate: "1200" };
pub const LEGAL_EP_INTERCOMMUNAL_HOSP: LegalStatus = LegalStatus {
    code: "14",
    display: "Etablissement Public Intercommunal d'Hospitalisation",
    aggregate: "1200",
};
pub const LEGAL_EP_REGIONAL_HOSP: LegalStatus =
    LegalStatus {
        code: "15", display: "Etablissement Public Régional d'Hospitalisation", aggregate: "1200"
    };
pub const LEGAL_CCAS: LegalStatus =
    LegalStatus { code: "17", display: "Centre Communal d'Action Sociale", aggregate: "1200" };
pub const LEGAL_ESMS_DEPARTEMENTAL: LegalStatus = LegalStatus {
    code: "19",
    display: "Etablissement Social et Médico-Social Départemental",
    aggregate: "1200",
};
pub const LEGAL_ESMS_COMMUNAL: LegalStatus =
    LegalStatus { code: "21", display: "Etablissement Social et Médico-Social Communal", aggregate: "1200" };
pub const LEGAL_ESMS_INTERCOMMUNAL: LegalStatus = LegalStatus {
    code: "22",
    display: "Etablissement Social et Médico-Social Intercommunal",
    aggregate: "1200",
};
pub const LEGAL_OTHER_EPA: LegalStatus = LegalStatus {
    code: "26",
    display: "Autre Etablissement Public à Caractère Administratif",
    aggregate: "1200",
};
pub const LEGAL_MUTUALIST: LegalStatus =
    LegalStatus { code: "47", display: "Société Mutualiste", aggregate: "2100" };
pub const LEGAL_ASSOCIATION: LegalStatus = LegalStatus {
    code: "60",
    display: "Association Loi 1901 non Reconnue d'Utilité Publique",
    aggregate: "2100",
};
pub const LEGAL_ASSOCIATION_RUP: LegalStatus = LegalStatus {
    code: "61",
    display: "Association Loi 1901 Reconnue d'Utilité Publique",
    aggregate: "2100",
};
pub const LEGAL_FOUNDATION: LegalStatus = LegalStatus { code: "63", display: "Fondation", aggregate: "2100" };
pub const LEGAL_NATURAL_PERSON: LegalStatus =
    LegalStatus { code: "70", display: "Personne Physique", aggregate: "2200" };
pub const LEGAL_SARL: LegalStatus =
    LegalStatus { code: "72", display: "Société A Responsabilité Limitée (S.A.R.L.)", aggregate: "2200" };
pub const LEGAL_SA: LegalStatus =
    LegalStatus { code: "73", display: "Société Anonyme (S.A.)", aggregate: "2200" };
pub const LEGAL_SISA: LegalStatus = LegalStatus {
    code: "80",
    display: "Société Interprofessionnelle Soins Ambulatoires (S.I.S.A.)",
    aggregate: "2200",
};
pub const LEGAL_SELARL: LegalStatus = LegalStatus {
    code: "85",
    display: "Soc. Exercice Libéral Responsabilité Limitée (S.E.L.A.R.L.)",
    aggregate: "2200",
};
pub const LEGAL_SELAS: LegalStatus = LegalStatus {
    code: "91",
    display: "Société Exercice Libéral par Actions Simplifiée (S.E.L.A.S.)",
    aggregate: "2200",
};
pub const LEGAL_SAS: LegalStatus =
    LegalStatus { code: "95", display: "Société par Actions Simplifiée (S.A.S.)", aggregate: "2200" };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_all_lists_load() -> Result<(), GenerateError> {
        let codes = Codes::get()?;
        for source in SOURCES {
            assert!(codes.lists.contains_key(&source.list), "{}", source.file);
        }
        assert_eq!(codes.display(List::Activity, "013")?, "Cardiologie générale");
        assert_eq!(
            codes.display(List::OfferType, "50")?,
            "Institut thérapeutique éducatif et pédagogique (ITEP)"
        );
        assert_eq!(codes.display(List::Act, "0626")?, "Bilan neuro-psychologique");
        assert_eq!(
            codes.display(List::EstablishmentCategory, "189")?,
            "Centre médico-psycho-pédagogique (CMPP)"
        );
        assert!(
            !codes.contains(List::EstablishmentCategory, "SA05"),
            "TRE_R02 rows must not leak into TRE_R66"
        );
        assert!(codes.display(List::Activity, "999").is_err());
        Ok(())
    }

    #[test]
    fn test_fixed_identifier_types_match_jdv_j236() -> Result<(), csv::Error> {
        let mut reader = csv::Reader::from_reader(IDENTIFIER_TYPES_CSV.as_bytes());
        let rows: Vec<CodeRow> = reader.deserialize().collect::<Result<_, _>>()?;
        for fixed in [
            ID_TYPE_IDNAT_STRUCT,
            ID_TYPE_FINESS,
            ID_TYPE_SIREN,
            ID_TYPE_SIRET,
            ID_TYPE_OI,
            ID_TYPE_OFFER,
            ID_TYPE_LOCATION,
            ID_TYPE_LOCATION_SYNC,
            ID_TYPE_SITUATION,
        ] {
            let row = rows.iter().find(|r| r.code == fixed.code && r.system.as_deref() == Some(fixed.system));
            assert_eq!(row.map(|r| r.display.as_str()), Some(fixed.display), "{fixed:?}");
        }
        Ok(())
    }
}
