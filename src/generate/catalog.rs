//! What offers an establishment plausibly has, by FINESS category.
//!
//! An offer template fixes the ROR coding of one operational offer (champ d'activité,
//! type d'offre, activité opérationnelle, mode de prise en charge, age range, kind of
//! place and capacity) and lists the optional characteristics it may carry. The codes are
//! real ones from `fixtures/ror-codes/`; a test checks every one of them.

/// Capacity carried by the place where the offer is delivered: (min, max) installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    None,
    /// Beds (`TRE_R329` 01), hospital units.
    Beds(u32, u32),
    /// Places (`TRE_R329` 02), day care and home care.
    Places(u32, u32),
    /// Places plus residential capacity (rooms or flats), EHPAD and residences.
    Housing(u32, u32),
}

/// Hospital pole, used to build the internal organisations (OI) of hospitals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pole {
    None,
    Medecine,
    Cardio,
    Neuro,
    Chirurgie,
    FemmeEnfant,
    Urgences,
    Cancero,
    Geriatrie,
    Psy,
    MedicoTech,
}

impl Pole {
    pub fn label(self) -> &'static str {
        match self {
            Pole::None => "Pôle transversal",
            Pole::Medecine => "Pôle Médecine",
            Pole::Cardio => "Pôle Cardio-vasculaire et thoracique",
            Pole::Neuro => "Pôle Neurosciences",
            Pole::Chirurgie => "Pôle Chirurgie - Anesthésie",
            Pole::FemmeEnfant => "Pôle Femme - Mère - Enfant",
            Pole::Urgences => "Pôle Urgences - Réanimation",
            Pole::Cancero => "Pôle Cancérologie",
            Pole::Geriatrie => "Pôle Gériatrie - Soins médicaux et de réadaptation",
            Pole::Psy => "Pôle Psychiatrie et santé mentale",
            Pole::MedicoTech => "Pôle Médico-technique",
        }
    }
}

/// Psychiatric sector carried by the offer (`ror-healthcareservice-psychiatric-sector`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sector {
    None,
    /// General psychiatry sector, e.g. `44G05`.
    Adult,
    /// Child and adolescent psychiatry sector, e.g. `44I02`.
    Child,
}

/// Limit of an equipment (`ror-location-equipment-limit`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// `TRE_R340`: 001 weight, 002 diameter.
    pub feature: &'static str,
    pub value: f64,
    pub unit: &'static str,
}

/// An equipment that a place may have, with the probability that it has it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Equip {
    pub code: &'static str,
    pub in_service: (u32, u32),
    pub limit: Option<Limit>,
    pub rate: f64,
}

/// One kind of operational offer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OfferTpl {
    /// Stable key, used by the scenario anchors.
    pub key: &'static str,
    pub name: &'static str,
    /// `TRE_R227` champ d'activité.
    pub field: &'static str,
    /// `TRE_R244` type d'offre, empty when none fits.
    pub category: &'static str,
    /// `TRE_R211` activité opérationnelle.
    pub activity: &'static str,
    /// `TRE_R213` mode de prise en charge.
    pub care_mode: &'static str,
    pub age: (u32, u32),
    /// `TRE_R343` fonction du lieu.
    pub place: &'static str,
    pub cap: Cap,
    pub pole: Pole,
    /// Name of the hospital service (nested OI); empty to attach the offer to the pole.
    pub service: &'static str,
    /// `TRE_R210` candidate specific acts.
    pub acts: &'static [&'static str],
    /// `TRE_R338` candidate reception modalities.
    pub modalities: &'static [&'static str],
    /// `TRE_R245` candidate care specialisations.
    pub specialisations: &'static [&'static str],
    /// `TRE_R243` candidate specific competences.
    pub competences: &'static [&'static str],
    /// `TRE_R240` temporalité d'accueil, empty when not relevant.
    pub reception_type: &'static str,
    /// `TRE_R239` publics.
    pub publics: &'static [&'static str],
    /// Home-based offer with an intervention zone of communes.
    pub zone: bool,
    pub sector: Sector,
    /// Also delivered in the establishment's operating theatre.
    pub surgery: bool,
    pub equipment: &'static [Equip],
    /// `TRE_G15` profession of the practitioners attached to the offer.
    pub profession: &'static str,
    /// Probability that the offer has practitioner roles.
    pub practitioners: f64,
    pub sensitive: bool,
    /// 1 any hospital, 2 medium and large hospitals, 3 university hospitals only.
    pub tier: u8,
    /// Relative frequency when offers are drawn.
    pub weight: u32,
}

const BASE: OfferTpl = OfferTpl {
    key: "",
    name: "",
    field: "01",
    category: "",
    activity: "",
    care_mode: "28",
    age: (18, 150),
    place: "001",
    cap: Cap::None,
    pole: Pole::None,
    service: "",
    acts: &[],
    modalities: &[],
    specialisations: &[],
    competences: &[],
    reception_type: "",
    publics: &[],
    zone: false,
    sector: Sector::None,
    surgery: false,
    equipment: &[],
    profession: "10",
    practitioners: 0.1,
    sensitive: false,
    tier: 1,
    weight: 2,
};

const fn limit(feature: &'static str, value: f64, unit: &'static str) -> Option<Limit> {
    Some(Limit { feature, value, unit })
}

const EQ_TABLE_OBESE_250: Equip =
    Equip { code: "088", in_service: (1, 2), limit: limit("001", 250.0, "kg"), rate: 0.45 };
const EQ_TABLE_OBESE_350: Equip =
    Equip { code: "072", in_service: (1, 1), limit: limit("001", 350.0, "kg"), rate: 0.12 };
const EQ_ROBOT: Equip = Equip { code: "069", in_service: (1, 2), limit: None, rate: 0.2 };
const EQ_BED_OBESE_350: Equip =
    Equip { code: "089", in_service: (1, 4), limit: limit("001", 350.0, "kg"), rate: 0.3 };
const EQ_BED_OBESE_450: Equip =
    Equip { code: "090", in_service: (1, 2), limit: limit("001", 450.0, "kg"), rate: 0.1 };
const EQ_STRETCHER_OBESE: Equip =
    Equip { code: "091", in_service: (1, 3), limit: limit("001", 250.0, "kg"), rate: 0.2 };
const EQ_MRI: Equip = Equip { code: "054", in_service: (1, 3), limit: None, rate: 0.9 };
const EQ_MRI_OBESE: Equip =
    Equip { code: "052", in_service: (1, 1), limit: limit("002", 70.0, "cm"), rate: 0.2 };
const EQ_CT_OBESE: Equip =
    Equip { code: "085", in_service: (1, 1), limit: limit("002", 80.0, "cm"), rate: 0.25 };
const EQ_IR_TABLE_OBESE: Equip =
    Equip { code: "083", in_service: (1, 1), limit: limit("001", 250.0, "kg"), rate: 0.3 };
const EQ_CATH_TABLE_OBESE: Equip =
    Equip { code: "189", in_service: (1, 1), limit: limit("001", 250.0, "kg"), rate: 0.3 };
const EQ_TELEMETRY: Equip = Equip { code: "112", in_service: (2, 12), limit: None, rate: 0.5 };
const EQ_ECHO_3D: Equip = Equip { code: "030", in_service: (1, 2), limit: None, rate: 0.5 };
const EQ_MAMMOGRAPH: Equip = Equip { code: "094", in_service: (1, 2), limit: None, rate: 0.6 };
const EQ_NEGATIVE_PRESSURE: Equip = Equip { code: "009", in_service: (1, 4), limit: None, rate: 0.5 };
const EQ_ECMO: Equip = Equip { code: "093", in_service: (1, 2), limit: None, rate: 0.3 };
const EQ_ISOLATION_ROOM: Equip = Equip { code: "097", in_service: (1, 4), limit: None, rate: 0.6 };
const EQ_REHAB_ROOM: Equip = Equip { code: "150", in_service: (1, 2), limit: None, rate: 0.7 };
const EQ_BALNEO: Equip = Equip { code: "099", in_service: (1, 1), limit: None, rate: 0.25 };
const EQ_ISOKINETIC: Equip = Equip { code: "102", in_service: (1, 1), limit: None, rate: 0.3 };
const EQ_REHAB_OBESE: Equip = Equip { code: "109", in_service: (1, 3), limit: None, rate: 0.4 };
const EQ_DISORIENTATION: Equip = Equip { code: "114", in_service: (1, 1), limit: None, rate: 0.5 };
const EQ_GEOLOCATION: Equip = Equip { code: "152", in_service: (1, 20), limit: None, rate: 0.3 };
const EQ_SENSORY_ROOM: Equip = Equip { code: "101", in_service: (1, 1), limit: None, rate: 0.35 };
const EQ_TRANSFER_RAILS: Equip = Equip { code: "155", in_service: (2, 30), limit: None, rate: 0.35 };
const EQ_CALM_SPACE: Equip = Equip { code: "147", in_service: (1, 2), limit: None, rate: 0.4 };
const EQ_GARDEN: Equip = Equip { code: "148", in_service: (1, 1), limit: None, rate: 0.3 };
const EQ_TELEMEDICINE: Equip = Equip { code: "153", in_service: (1, 2), limit: None, rate: 0.25 };

/// Equipment of a hospital operating theatre.
pub const THEATRE_EQUIPMENT: &[Equip] =
    &[EQ_TABLE_OBESE_250, EQ_TABLE_OBESE_350, EQ_ROBOT, EQ_STRETCHER_OBESE];

/// The operating theatre, a place shared by the surgical offers of an establishment.
pub const THEATRE: OfferTpl = OfferTpl {
    key: "theatre",
    name: "Bloc opératoire",
    care_mode: "09",
    age: (0, 150),
    place: "006",
    pole: Pole::Chirurgie,
    equipment: THEATRE_EQUIPMENT,
    profession: "",
    practitioners: 0.0,
    ..BASE
};

const H: OfferTpl = OfferTpl { field: "01", practitioners: 0.12, ..BASE };
const CONSULT: OfferTpl = OfferTpl {
    care_mode: "32",
    place: "005",
    category: "69",
    age: (0, 150),
    modalities: &["03", "04", "06"],
    practitioners: 0.5,
    weight: 2,
    ..H
};
const SMR: OfferTpl = OfferTpl {
    field: "02",
    place: "004",
    cap: Cap::Beds(15, 40),
    pole: Pole::Geriatrie,
    acts: &["0270", "0625", "0528"],
    competences: &["05", "23", "38"],
    equipment: &[EQ_REHAB_ROOM, EQ_BALNEO, EQ_ISOKINETIC],
    ..H
};
const PSY: OfferTpl = OfferTpl {
    field: "03",
    place: "002",
    pole: Pole::Psy,
    acts: &["0610", "0620", "0624"],
    profession: "10",
    ..H
};

/// Offers of health establishments (MCO, SMR, PSY, USLD).
#[rustfmt::skip]
pub const HOSPITAL: &[OfferTpl] = &[
    // Cardio-vascular
    OfferTpl { key: "cardio_hc", name: "Cardiologie - hospitalisation complète", category: "149", activity: "013", cap: Cap::Beds(18, 45), pole: Pole::Cardio, service: "Service de cardiologie", acts: &["0172", "0630", "0199", "0177"], equipment: &[EQ_TELEMETRY], weight: 4, ..H },
    OfferTpl { key: "cardio_hj", name: "Cardiologie - hospitalisation de jour", category: "149", activity: "013", care_mode: "29", cap: Cap::Places(3, 10), pole: Pole::Cardio, service: "Service de cardiologie", acts: &["0199", "0177", "0630"], ..H },
    OfferTpl { key: "cardio_consult", name: "Consultation de cardiologie", activity: "013", pole: Pole::Cardio, service: "Service de cardiologie", acts: &["0172", "0630", "0199"], weight: 4, ..CONSULT },
    OfferTpl { key: "cardio_ped_consult", name: "Consultation de cardiologie pédiatrique", activity: "013", age: (0, 18), pole: Pole::FemmeEnfant, service: "Service de pédiatrie", acts: &["0172", "0630"], tier: 2, ..CONSULT },
    OfferTpl { key: "usic", name: "Unité de soins intensifs de cardiologie", category: "262", activity: "354", cap: Cap::Beds(6, 14), pole: Pole::Cardio, service: "Service de cardiologie", acts: &["0172", "0630"], equipment: &[EQ_TELEMETRY], tier: 2, weight: 3, ..H },
    OfferTpl { key: "cardio_interv", name: "Cardiologie interventionnelle", category: "149", activity: "014", care_mode: "29", cap: Cap::Places(2, 8), pole: Pole::Cardio, service: "Service de cardiologie", acts: &["0597", "0633", "0636", "0249", "0250"], equipment: &[EQ_CATH_TABLE_OBESE], tier: 2, ..H },
    OfferTpl { key: "rythmo", name: "Rythmologie interventionnelle", category: "149", activity: "133", care_mode: "29", cap: Cap::Places(2, 6), pole: Pole::Cardio, service: "Service de cardiologie", acts: &["0209", "0249", "0250"], tier: 3, weight: 1, ..H },
    OfferTpl { key: "cardio_efr", name: "Explorations fonctionnelles cardiologiques", category: "69", activity: "344", care_mode: "20", place: "005", age: (0, 150), pole: Pole::Cardio, acts: &["0172", "0199", "0177"], ..H },
    OfferTpl { key: "chir_cardio", name: "Chirurgie cardio-vasculaire", category: "151", activity: "018", cap: Cap::Beds(12, 30), pole: Pole::Cardio, service: "Service de chirurgie cardio-vasculaire et thoracique", acts: &["0516", "0084", "0471"], surgery: true, tier: 3, weight: 2, ..H },
    OfferTpl { key: "rea_chir_cardio", name: "Réanimation de chirurgie cardiaque", category: "121", activity: "123", cap: Cap::Beds(6, 16), pole: Pole::Cardio, service: "Service de chirurgie cardio-vasculaire et thoracique", equipment: &[EQ_ECMO], tier: 3, weight: 1, ..H },
    OfferTpl { key: "sc_cardio", name: "Surveillance continue de cardiologie", category: "254", activity: "376", cap: Cap::Beds(4, 10), pole: Pole::Cardio, service: "Service de cardiologie", tier: 2, weight: 1, ..H },
    OfferTpl { key: "med_vasc", name: "Consultation de médecine vasculaire", activity: "091", pole: Pole::Cardio, ..CONSULT },
    OfferTpl { key: "chir_vasc", name: "Chirurgie vasculaire et endovasculaire", category: "152", activity: "032", cap: Cap::Beds(10, 24), pole: Pole::Cardio, service: "Service de chirurgie vasculaire", surgery: true, tier: 2, ..H },
    OfferTpl { key: "chir_thoracique", name: "Chirurgie thoracique et pulmonaire", category: "151", activity: "030", cap: Cap::Beds(8, 20), pole: Pole::Cardio, service: "Service de chirurgie cardio-vasculaire et thoracique", acts: &["0519", "0059"], surgery: true, tier: 3, weight: 1, ..H },
    // SMR
    OfferTpl { key: "smr_cardio_hc", name: "SSR cardiologique - hospitalisation complète", category: "104", activity: "235", pole: Pole::Cardio, acts: &["0199", "0528"], equipment: &[EQ_REHAB_ROOM, EQ_TELEMETRY], tier: 2, weight: 2, ..SMR },
    OfferTpl { key: "smr_cardio_hj", name: "Réadaptation cardio-vasculaire - hôpital de jour", category: "104", activity: "235", care_mode: "29", place: "012", cap: Cap::Places(4, 15), pole: Pole::Cardio, acts: &["0199", "0528"], tier: 2, weight: 1, ..SMR },
    OfferTpl { key: "smr_poly", name: "Soins médicaux et de réadaptation polyvalents", category: "100", activity: "172", weight: 4, ..SMR },
    OfferTpl { key: "smr_geria", name: "SMR gériatrique", category: "101", activity: "241", age: (65, 150), acts: &["0032", "0204", "0033"], weight: 4, ..SMR },
    OfferTpl { key: "smr_loco_hc", name: "SMR locomoteur - hospitalisation complète", category: "102", activity: "233", weight: 3, ..SMR },
    OfferTpl { key: "smr_loco_hj", name: "SMR locomoteur - hôpital de jour", category: "102", activity: "233", care_mode: "29", place: "012", cap: Cap::Places(5, 20), weight: 2, ..SMR },
    OfferTpl { key: "smr_neuro", name: "SMR système nerveux", category: "103", activity: "234", pole: Pole::Neuro, acts: &["0625", "0626", "0270"], competences: &["05", "23"], tier: 2, ..SMR },
    OfferTpl { key: "smr_pneumo", name: "SMR pneumologique", category: "105", activity: "236", acts: &["0528"], tier: 2, weight: 1, ..SMR },
    OfferTpl { key: "smr_nutrition", name: "SMR nutrition - obésité complexe", category: "106", activity: "520", acts: &["0528", "0536", "0537"], equipment: &[EQ_REHAB_OBESE, EQ_BED_OBESE_350], tier: 2, weight: 1, ..SMR },
    OfferTpl { key: "smr_ped", name: "SMR pédiatrique", category: "109", activity: "172", age: (0, 18), pole: Pole::FemmeEnfant, tier: 2, weight: 1, ..SMR },
    OfferTpl { key: "smr_addicto", name: "SMR addictologie", category: "108", activity: "240", acts: &["0523"], tier: 2, weight: 1, ..SMR },
    OfferTpl { key: "smr_onco", name: "SMR oncologie", category: "111", activity: "523", pole: Pole::Cancero, tier: 2, weight: 1, ..SMR },
    OfferTpl { key: "smr_mobile", name: "Equipe mobile de réadaptation", category: "79", activity: "283", care_mode: "11", place: "005", cap: Cap::None, ..SMR },
    // Neurosciences
    OfferTpl { key: "neuro_hc", name: "Neurologie - hospitalisation complète", category: "161", activity: "097", cap: Cap::Beds(15, 35), pole: Pole::Neuro, service: "Service de neurologie", acts: &["0681", "0682"], weight: 3, ..H },
    OfferTpl { key: "usinv", name: "Unité neurovasculaire (USINV)", category: "263", activity: "356", cap: Cap::Beds(6, 16), pole: Pole::Neuro, service: "Service de neurologie", acts: &["0459", "0460"], tier: 2, weight: 3, ..H },
    OfferTpl { key: "neuro_consult", name: "Consultation de neurologie", activity: "097", pole: Pole::Neuro, service: "Service de neurologie", acts: &["0681", "0682"], ..CONSULT },
    OfferTpl { key: "memory_consult", name: "Consultation mémoire", activity: "597", age: (40, 150), pole: Pole::Neuro, acts: &["0033", "0626"], competences: &["05", "42"], ..CONSULT },
    OfferTpl { key: "neurochir", name: "Neurochirurgie", category: "160", activity: "096", cap: Cap::Beds(12, 30), pole: Pole::Neuro, service: "Service de neurochirurgie", acts: &["0100"], surgery: true, tier: 3, weight: 1, ..H },
    // Medicine
    OfferTpl { key: "med_poly", name: "Médecine polyvalente", category: "238", activity: "083", cap: Cap::Beds(15, 40), pole: Pole::Medecine, service: "Service de médecine polyvalente", weight: 5, ..H },
    OfferTpl { key: "med_interne", name: "Médecine interne", category: "176", activity: "085", cap: Cap::Beds(15, 30), pole: Pole::Medecine, service: "Service de médecine interne", acts: &["0285"], tier: 2, ..H },
    OfferTpl { key: "pneumo_hc", name: "Pneumologie - hospitalisation complète", category: "163", activity: "114", cap: Cap::Beds(15, 35), pole: Pole::Medecine, service: "Service de pneumologie", acts: &["0559", "0483"], weight: 3, ..H },
    OfferTpl { key: "pneumo_consult", name: "Consultation de pneumologie", activity: "114", pole: Pole::Medecine, service: "Service de pneumologie", acts: &["0559", "0483"], ..CONSULT },
    OfferTpl { key: "gastro_hc", name: "Gastro-entérologie et hépatologie", category: "170", activity: "046", cap: Cap::Beds(15, 35), pole: Pole::Medecine, service: "Service d'hépato-gastro-entérologie", acts: &["0192", "0639", "0205"], weight: 3, ..H },
    OfferTpl { key: "endoscopy", name: "Plateau d'endoscopies digestives", category: "170", activity: "046", care_mode: "29", place: "009", cap: Cap::Places(2, 6), pole: Pole::Medecine, service: "Service d'hépato-gastro-entérologie", acts: &["0192", "0639"], ..H },
    OfferTpl { key: "nephro", name: "Néphrologie", category: "159", activity: "095", cap: Cap::Beds(10, 25), pole: Pole::Medecine, service: "Service de néphrologie", tier: 2, ..H },
    OfferTpl { key: "hemodialysis_hosp", name: "Hémodialyse en centre hospitalier", category: "274", activity: "059", care_mode: "32", cap: Cap::Places(10, 30), pole: Pole::Medecine, service: "Service de néphrologie", acts: &["0657"], ..H },
    OfferTpl { key: "endocrino", name: "Endocrinologie - diabétologie - nutrition", category: "167", activity: "039", cap: Cap::Beds(10, 25), pole: Pole::Medecine, service: "Service d'endocrinologie", acts: &["0528"], weight: 2, ..H },
    OfferTpl { key: "diabeto_hj", name: "Diabétologie - hôpital de jour", category: "167", activity: "039", care_mode: "29", cap: Cap::Places(3, 10), pole: Pole::Medecine, service: "Service d'endocrinologie", acts: &["0528"], ..H },
    OfferTpl { key: "rhumato", name: "Rhumatologie", category: "165", activity: "131", cap: Cap::Beds(10, 24), pole: Pole::Medecine, service: "Service de rhumatologie", acts: &["0040", "0041"], tier: 2, ..H },
    OfferTpl { key: "dermato_consult", name: "Consultation de dermatologie", activity: "037", pole: Pole::Medecine, acts: &["0404"], ..CONSULT },
    OfferTpl { key: "allergo_consult", name: "Consultation d'allergologie", activity: "005", pole: Pole::Medecine, service: "Unité d'allergologie", ..CONSULT },
    OfferTpl { key: "allergo_hj", name: "Allergologie - hôpital de jour (tests de provocation)", category: "148", activity: "005", care_mode: "29", cap: Cap::Places(2, 6), pole: Pole::Medecine, service: "Unité d'allergologie", age: (0, 150), tier: 2, weight: 1, ..H },
    OfferTpl { key: "infectio", name: "Maladies infectieuses et tropicales", category: "168", activity: "077", cap: Cap::Beds(10, 24), pole: Pole::Medecine, service: "Service des maladies infectieuses", acts: &["0501", "0641"], equipment: &[EQ_NEGATIVE_PRESSURE], tier: 2, ..H },
    OfferTpl { key: "hemato", name: "Hématologie clinique", category: "169", activity: "055", cap: Cap::Beds(10, 28), pole: Pole::Cancero, service: "Service d'hématologie", acts: &["0374"], tier: 2, ..H },
    OfferTpl { key: "geria_aigue", name: "Médecine gériatrique aiguë", category: "156", activity: "491", age: (75, 150), cap: Cap::Beds(15, 35), pole: Pole::Geriatrie, service: "Service de gériatrie", acts: &["0032", "0204"], competences: &["42", "45"], weight: 3, ..H },
    OfferTpl { key: "geria_mobile", name: "Equipe mobile de gériatrie", category: "266", activity: "050", care_mode: "52", place: "005", age: (75, 150), pole: Pole::Geriatrie, acts: &["0204", "0032"], ..H },
    OfferTpl { key: "palliative_unit", name: "Unité de soins palliatifs", category: "175", activity: "170", cap: Cap::Beds(8, 15), pole: Pole::Medecine, tier: 2, ..H },
    OfferTpl { key: "palliative_mobile", name: "Equipe mobile de soins palliatifs", category: "252", activity: "170", care_mode: "52", place: "005", pole: Pole::Medecine, ..H },
    OfferTpl { key: "addicto_withdrawal", name: "Addictologie - sevrage complexe", category: "147", activity: "404", cap: Cap::Beds(6, 15), pole: Pole::Psy, acts: &["0524", "0523"], publics: &["04"], ..H },
    OfferTpl { key: "elsa", name: "Equipe de liaison et de soins en addictologie (ELSA)", category: "272", activity: "404", care_mode: "52", place: "005", pole: Pole::Psy, publics: &["04"], ..H },
    // Cancer
    OfferTpl { key: "onco_hc", name: "Oncologie médicale", category: "171", activity: "102", cap: Cap::Beds(12, 30), pole: Pole::Cancero, service: "Service d'oncologie médicale", tier: 2, weight: 2, ..H },
    OfferTpl { key: "chemo_hj", name: "Chimiothérapie ambulatoire", category: "118", activity: "164", care_mode: "29", cap: Cap::Places(6, 20), pole: Pole::Cancero, service: "Service d'oncologie médicale", acts: &["0652"], weight: 2, ..H },
    OfferTpl { key: "radiotherapy", name: "Radiothérapie externe", category: "117", activity: "168", care_mode: "32", place: "005", pole: Pole::Cancero, tier: 2, weight: 1, ..H },
    OfferTpl { key: "chir_onco", name: "Chirurgie oncologique", category: "116", activity: "281", cap: Cap::Beds(10, 25), pole: Pole::Cancero, surgery: true, tier: 2, weight: 1, ..H },
    OfferTpl { key: "onco_ped", name: "Oncologie pédiatrique", category: "171", activity: "279", age: (0, 18), cap: Cap::Beds(6, 15), pole: Pole::FemmeEnfant, tier: 3, weight: 1, ..H },
    // Surgery
    OfferTpl { key: "ortho_hc", name: "Chirurgie orthopédique et traumatologique - hospitalisation complète", category: "150", activity: "025", cap: Cap::Beds(18, 45), pole: Pole::Chirurgie, service: "Service de chirurgie orthopédique", acts: &["0026", "0094", "0100", "0603"], surgery: true, equipment: &[EQ_BED_OBESE_350], weight: 5, ..H },
    OfferTpl { key: "ortho_amb", name: "Chirurgie orthopédique - ambulatoire", category: "150", activity: "025", care_mode: "09", cap: Cap::Places(4, 15), pole: Pole::Chirurgie, service: "Service de chirurgie orthopédique", acts: &["0026", "0094"], surgery: true, weight: 3, ..H },
    OfferTpl { key: "spine", name: "Chirurgie du rachis", category: "150", activity: "436", cap: Cap::Beds(8, 20), pole: Pole::Chirurgie, acts: &["0100"], surgery: true, tier: 2, weight: 1, ..H },
    OfferTpl { key: "visceral", name: "Chirurgie viscérale et digestive", category: "153", activity: "033", cap: Cap::Beds(15, 35), pole: Pole::Chirurgie, service: "Service de chirurgie viscérale", surgery: true, weight: 5, ..H },
    OfferTpl { key: "bariatric", name: "Chirurgie de l'obésité (bariatrique)", category: "153", activity: "017", cap: Cap::Beds(6, 15), pole: Pole::Chirurgie, service: "Service de chirurgie viscérale", acts: &["0529", "0530", "0533", "0536", "0537"], surgery: true, equipment: &[EQ_BED_OBESE_350, EQ_BED_OBESE_450], tier: 2, weight: 2, ..H },
    OfferTpl { key: "urology", name: "Urologie", category: "234", activity: "031", cap: Cap::Beds(10, 25), pole: Pole::Chirurgie, service: "Service d'urologie", acts: &["0118", "0277"], surgery: true, weight: 3, ..H },
    OfferTpl { key: "gyneco_surgery", name: "Chirurgie gynécologique", category: "157", activity: "022", cap: Cap::Beds(8, 20), pole: Pole::FemmeEnfant, service: "Service de gynécologie-obstétrique", acts: &["0054", "0189"], surgery: true, weight: 3, ..H },
    OfferTpl { key: "ent_surgery", name: "Chirurgie ORL et cervico-faciale", category: "173", activity: "016", cap: Cap::Beds(8, 20), pole: Pole::Chirurgie, service: "Service d'ORL", acts: &["0252", "0088"], surgery: true, weight: 2, ..H },
    OfferTpl { key: "ophtalmo_amb", name: "Ophtalmologie - chirurgie ambulatoire", category: "172", activity: "103", care_mode: "09", cap: Cap::Places(4, 12), pole: Pole::Chirurgie, service: "Service d'ophtalmologie", acts: &["0066", "0093", "0264"], surgery: true, age: (0, 150), weight: 3, ..H },
    OfferTpl { key: "ophtalmo_consult", name: "Consultation d'ophtalmologie", activity: "103", pole: Pole::Chirurgie, service: "Service d'ophtalmologie", acts: &["0264"], ..CONSULT },
    OfferTpl { key: "maxillo", name: "Chirurgie maxillo-faciale et stomatologie", category: "166", activity: "023", cap: Cap::Beds(6, 15), pole: Pole::Chirurgie, surgery: true, tier: 2, weight: 1, ..H },
    OfferTpl { key: "plastic", name: "Chirurgie plastique, reconstructrice et esthétique", category: "242", activity: "177", cap: Cap::Beds(6, 15), pole: Pole::Chirurgie, surgery: true, tier: 2, weight: 1, ..H },
    OfferTpl { key: "ped_surgery", name: "Chirurgie pédiatrique", category: "241", activity: "604", age: (0, 18), cap: Cap::Beds(8, 20), pole: Pole::FemmeEnfant, surgery: true, tier: 3, weight: 1, ..H },
    OfferTpl { key: "anesth_consult", name: "Consultation d'anesthésie", activity: "007", pole: Pole::Chirurgie, practitioners: 0.3, weight: 3, ..CONSULT },
    OfferTpl { key: "ambulatory_unit", name: "Unité de chirurgie ambulatoire polyvalente", category: "153", activity: "033", care_mode: "09", cap: Cap::Places(8, 30), pole: Pole::Chirurgie, surgery: true, weight: 4, ..H },
    // Woman, mother, child
    OfferTpl { key: "maternity", name: "Maternité - obstétrique", category: "157", activity: "100", age: (12, 55), cap: Cap::Beds(15, 45), place: "014", pole: Pole::FemmeEnfant, service: "Service de gynécologie-obstétrique", acts: &["0685", "0180", "0181", "0166"], equipment: &[EQ_ECHO_3D], profession: "50", weight: 4, ..H },
    OfferTpl { key: "pregnancy_consult", name: "Consultation de suivi de grossesse", activity: "530", age: (12, 55), pole: Pole::FemmeEnfant, service: "Service de gynécologie-obstétrique", acts: &["0180", "0181"], profession: "50", ..CONSULT },
    OfferTpl { key: "orthogenie", name: "Centre d'orthogénie", activity: "105", age: (12, 55), pole: Pole::FemmeEnfant, weight: 1, ..CONSULT },
    OfferTpl { key: "neonat", name: "Néonatologie", category: "162", activity: "094", age: (0, 1), cap: Cap::Beds(6, 18), pole: Pole::FemmeEnfant, service: "Service de néonatologie", tier: 2, weight: 2, ..H },
    OfferTpl { key: "pediatrics", name: "Pédiatrie - hospitalisation complète", category: "162", activity: "088", age: (0, 18), cap: Cap::Beds(12, 35), pole: Pole::FemmeEnfant, service: "Service de pédiatrie", weight: 4, ..H },
    OfferTpl { key: "ped_emergency", name: "Urgences pédiatriques", category: "20", activity: "249", care_mode: "33", age: (0, 18), place: "005", pole: Pole::FemmeEnfant, modalities: &["06"], tier: 2, weight: 2, ..H },
    OfferTpl { key: "sc_ped", name: "Surveillance continue pédiatrique", category: "254", activity: "391", age: (0, 18), cap: Cap::Beds(4, 10), pole: Pole::FemmeEnfant, service: "Service de pédiatrie", tier: 2, weight: 2, ..H },
    OfferTpl { key: "rea_ped", name: "Réanimation pédiatrique", category: "121", activity: "130", age: (0, 18), cap: Cap::Beds(6, 14), pole: Pole::FemmeEnfant, acts: &["0658"], tier: 3, weight: 1, ..H },
    OfferTpl { key: "mammography", name: "Imagerie de la femme - sénologie", category: "164", activity: "504", care_mode: "20", place: "010", age: (18, 150), pole: Pole::FemmeEnfant, equipment: &[EQ_MAMMOGRAPH], weight: 1, ..H },
    // Emergency and critical care
    OfferTpl { key: "emergency", name: "Urgences adultes", category: "20", activity: "157", care_mode: "33", place: "005", age: (15, 150), pole: Pole::Urgences, service: "Service des urgences", modalities: &["06"], weight: 5, ..H },
    OfferTpl { key: "smur", name: "SMUR", category: "247", activity: "136", care_mode: "11", place: "005", age: (0, 150), pole: Pole::Urgences, service: "Service des urgences", weight: 3, ..H },
    OfferTpl { key: "uhcd", name: "Unité d'hospitalisation de courte durée (UHCD)", category: "20", activity: "115", care_mode: "13", cap: Cap::Beds(4, 12), pole: Pole::Urgences, service: "Service des urgences", weight: 3, ..H },
    OfferTpl { key: "rea_poly", name: "Réanimation polyvalente", category: "121", activity: "127", cap: Cap::Beds(8, 24), pole: Pole::Urgences, service: "Service de réanimation", acts: &["0658", "0243"], equipment: &[EQ_ECMO, EQ_NEGATIVE_PRESSURE, EQ_BED_OBESE_350], weight: 3, ..H },
    OfferTpl { key: "usip", name: "Unité de soins intensifs polyvalents", category: "122", activity: "351", cap: Cap::Beds(6, 12), pole: Pole::Urgences, service: "Service de réanimation", tier: 2, weight: 2, ..H },
    OfferTpl { key: "sc_poly", name: "Surveillance continue polyvalente", category: "254", activity: "373", cap: Cap::Beds(6, 12), pole: Pole::Urgences, weight: 2, ..H },
    // Medico-technical
    OfferTpl { key: "mri", name: "Imagerie médicale - IRM", category: "164", activity: "068", care_mode: "20", place: "010", age: (0, 150), pole: Pole::MedicoTech, service: "Service d'imagerie médicale", equipment: &[EQ_MRI, EQ_MRI_OBESE], weight: 3, ..H },
    OfferTpl { key: "ct", name: "Imagerie médicale - scanner", category: "164", activity: "070", care_mode: "20", place: "010", age: (0, 150), pole: Pole::MedicoTech, service: "Service d'imagerie médicale", equipment: &[EQ_CT_OBESE], weight: 3, ..H },
    OfferTpl { key: "xray", name: "Radiologie conventionnelle", category: "164", activity: "069", care_mode: "20", place: "010", age: (0, 150), pole: Pole::MedicoTech, service: "Service d'imagerie médicale", weight: 3, ..H },
    OfferTpl { key: "interventional_radio", name: "Radiologie interventionnelle", category: "164", activity: "120", care_mode: "29", place: "011", cap: Cap::Places(2, 6), pole: Pole::MedicoTech, service: "Service d'imagerie médicale", equipment: &[EQ_IR_TABLE_OBESE], tier: 2, ..H },
    OfferTpl { key: "nuclear", name: "Médecine nucléaire", category: "239", activity: "087", care_mode: "20", place: "029", age: (0, 150), pole: Pole::MedicoTech, tier: 2, weight: 1, ..H },
    OfferTpl { key: "hospital_lab", name: "Laboratoire de biologie médicale hospitalier", category: "248", activity: "009", care_mode: "20", place: "005", age: (0, 150), pole: Pole::MedicoTech, weight: 2, ..H },
    OfferTpl { key: "pui", name: "Pharmacie à usage intérieur", category: "82", activity: "397", care_mode: "20", place: "005", age: (0, 150), pole: Pole::MedicoTech, profession: "21", weight: 2, ..H },
    // Psychiatry
    OfferTpl { key: "psy_adult_hc", name: "Psychiatrie adulte - hospitalisation complète", category: "16", activity: "229", cap: Cap::Beds(15, 30), sector: Sector::Adult, service: "Secteur de psychiatrie générale", equipment: &[EQ_ISOLATION_ROOM], weight: 5, ..PSY },
    OfferTpl { key: "psy_adult_hj", name: "Psychiatrie adulte - hôpital de jour", category: "11", activity: "229", care_mode: "29", cap: Cap::Places(10, 25), sector: Sector::Adult, service: "Secteur de psychiatrie générale", weight: 4, ..PSY },
    OfferTpl { key: "cmp_adult", name: "Centre médico-psychologique adultes", category: "10", activity: "229", care_mode: "32", place: "005", sector: Sector::Adult, modalities: &["03", "06"], practitioners: 0.3, weight: 4, ..PSY },
    OfferTpl { key: "cattp_adult", name: "CATTP adultes", category: "05", activity: "231", care_mode: "42", place: "005", sector: Sector::Adult, weight: 2, ..PSY },
    OfferTpl { key: "pedopsy_hj", name: "Pédopsychiatrie - hôpital de jour", category: "11", activity: "227", care_mode: "29", age: (3, 12), cap: Cap::Places(8, 20), sector: Sector::Child, specialisations: &["02", "03"], service: "Secteur de psychiatrie infanto-juvénile", weight: 3, ..PSY },
    OfferTpl { key: "cmp_child", name: "Centre médico-psychologique infanto-juvénile", category: "10", activity: "227", care_mode: "32", place: "005", age: (0, 16), sector: Sector::Child, specialisations: &["02", "03", "11"], practitioners: 0.3, weight: 3, ..PSY },
    OfferTpl { key: "psy_ado_hc", name: "Psychiatrie de l'adolescent - hospitalisation complète", category: "16", activity: "228", age: (12, 18), cap: Cap::Beds(8, 16), sector: Sector::Child, specialisations: &["01", "62"], service: "Secteur de psychiatrie infanto-juvénile", tier: 2, weight: 2, ..PSY },
    OfferTpl { key: "psy_elderly", name: "Psychiatrie du sujet âgé", category: "16", activity: "051", age: (65, 150), cap: Cap::Beds(10, 20), specialisations: &["13", "28"], tier: 2, weight: 1, ..PSY },
    OfferTpl { key: "psy_emergency", name: "Urgences psychiatriques", category: "20", activity: "158", care_mode: "33", place: "005", age: (15, 150), modalities: &["06"], weight: 2, ..PSY },
    OfferTpl { key: "psy_usip", name: "Unité de soins intensifs psychiatriques", category: "15", activity: "355", cap: Cap::Beds(8, 12), equipment: &[EQ_ISOLATION_ROOM], tier: 2, weight: 1, ..PSY },
    OfferTpl { key: "umd", name: "Unité pour malades difficiles (UMD)", category: "18", activity: "229", cap: Cap::Beds(20, 40), sensitive: true, equipment: &[EQ_ISOLATION_ROOM], tier: 3, weight: 1, ..PSY },
    OfferTpl { key: "empp", name: "Equipe mobile psychiatrie précarité", category: "77", activity: "229", care_mode: "11", place: "005", publics: &["06"], weight: 1, ..PSY },
    OfferTpl { key: "perinatal_psy", name: "Psychiatrie périnatale - unité mère-enfant", category: "119", activity: "230", age: (0, 55), cap: Cap::Beds(4, 10), tier: 3, weight: 1, ..PSY },
    OfferTpl { key: "psy_rehab", name: "Centre de réhabilitation psychosociale", category: "113", activity: "231", care_mode: "32", place: "005", competences: &["05", "08"], tier: 2, weight: 1, ..PSY },
    // Long-term care
    OfferTpl { key: "usld", name: "Unité de soins de longue durée (USLD)", category: "249", activity: "333", age: (60, 150), cap: Cap::Beds(30, 90), pole: Pole::Geriatrie, service: "Unité de soins de longue durée", publics: &["01"], weight: 3, ..H },
];

const MS: OfferTpl = OfferTpl {
    field: "04",
    care_mode: "46",
    place: "003",
    practitioners: 0.0,
    profession: "",
    weight: 2,
    ..BASE
};
const EHPAD: OfferTpl = OfferTpl {
    age: (60, 150),
    publics: &["01"],
    activity: "293",
    category: "21",
    equipment: &[EQ_TRANSFER_RAILS, EQ_SENSORY_ROOM, EQ_GEOLOCATION],
    ..MS
};
const HOME: OfferTpl = OfferTpl { care_mode: "49", place: "005", zone: true, modalities: &["05"], ..MS };
const CHILD_MS: OfferTpl =
    OfferTpl { age: (6, 20), publics: &["02"], equipment: &[EQ_CALM_SPACE, EQ_GARDEN], ..MS };
const ADULT_MS: OfferTpl = OfferTpl { age: (20, 60), publics: &["02"], ..MS };

/// Offers of establishments for elderly people.
#[rustfmt::skip]
pub const ELDERLY: &[OfferTpl] = &[
    OfferTpl { key: "ehpad_permanent", name: "Hébergement permanent", reception_type: "02", cap: Cap::Housing(40, 110), ..EHPAD },
    OfferTpl { key: "ehpad_temporary", name: "Hébergement temporaire", reception_type: "01", cap: Cap::Housing(2, 10), weight: 4, ..EHPAD },
    OfferTpl { key: "ehpad_day", name: "Accueil de jour", activity: "306", care_mode: "47", reception_type: "01", cap: Cap::Places(6, 15), specialisations: &["28"], weight: 3, ..EHPAD },
    OfferTpl { key: "ehpad_uvp", name: "Unité de vie protégée", category: "24", reception_type: "02", cap: Cap::Housing(10, 28), specialisations: &["28", "27"], modalities: &["20"], equipment: &[EQ_DISORIENTATION, EQ_GEOLOCATION, EQ_GARDEN], weight: 4, ..EHPAD },
    OfferTpl { key: "ehpad_pasa", name: "Pôle d'activités et de soins adaptés (PASA)", category: "25", activity: "306", care_mode: "47", cap: Cap::Places(12, 14), specialisations: &["28"], equipment: &[EQ_SENSORY_ROOM], weight: 3, ..EHPAD },
    OfferTpl { key: "ehpad_uhr", name: "Unité d'hébergement renforcée (UHR)", category: "23", reception_type: "02", cap: Cap::Housing(12, 14), specialisations: &["27"], weight: 1, ..EHPAD },
    OfferTpl { key: "ehpad_puv", name: "Petite unité de vie", category: "26", reception_type: "02", cap: Cap::Housing(10, 24), weight: 1, ..EHPAD },
    OfferTpl { key: "ehpad_urgent", name: "Hébergement temporaire d'urgence en sortie d'hospitalisation", category: "258", activity: "393", reception_type: "01", cap: Cap::Housing(1, 4), weight: 1, ..EHPAD },
    OfferTpl { key: "ehpad_respite", name: "Plateforme d'accompagnement et de répit des aidants", category: "38", activity: "325", care_mode: "54", place: "005", acts: &["0627"], weight: 1, ..EHPAD },
    OfferTpl { key: "ehpad_telemedicine", name: "Téléconsultation et télé-expertise en EHPAD", category: "", activity: "285", care_mode: "35", place: "005", equipment: &[EQ_TELEMEDICINE], weight: 1, ..EHPAD },
];

/// Offers of residences for autonomous elderly people.
#[rustfmt::skip]
pub const RESIDENCE: &[OfferTpl] = &[
    OfferTpl { key: "ra_housing", name: "Résidence autonomie - logements", category: "22", activity: "298", reception_type: "02", publics: &["03"], cap: Cap::Housing(20, 80), ..EHPAD },
    OfferTpl { key: "ra_temporary", name: "Résidence autonomie - accueil temporaire", category: "22", activity: "298", reception_type: "01", publics: &["03"], cap: Cap::Housing(1, 4), ..EHPAD },
    OfferTpl { key: "ra_restaurant", name: "Foyer restaurant", category: "35", activity: "322", care_mode: "47", publics: &["03"], cap: Cap::None, ..EHPAD },
    OfferTpl { key: "ra_marpa", name: "Maison d'accueil rurale pour personnes âgées (MARPA)", category: "27", activity: "298", reception_type: "02", publics: &["03"], cap: Cap::Housing(18, 24), weight: 1, ..EHPAD },
    OfferTpl { key: "ra_prevention", name: "Actions collectives de prévention de la perte d'autonomie", category: "", activity: "330", care_mode: "42", publics: &["03"], cap: Cap::None, ..EHPAD },
];

/// Day care for elderly people.
#[rustfmt::skip]
pub const ELDERLY_DAY: &[OfferTpl] = &[
    OfferTpl { key: "day_care", name: "Accueil de jour Alzheimer", activity: "306", care_mode: "47", reception_type: "01", cap: Cap::Places(8, 20), specialisations: &["28"], ..EHPAD },
    OfferTpl { key: "day_care_respite", name: "Plateforme de répit et d'accompagnement", category: "38", activity: "325", care_mode: "54", place: "005", acts: &["0627"], ..EHPAD },
];

/// Home help and home nursing services.
#[rustfmt::skip]
pub const HOME_CARE: &[OfferTpl] = &[
    OfferTpl { key: "saad_avq", name: "Aide et accompagnement à domicile", category: "30", activity: "293", age: (18, 150), publics: &["01", "02"], cap: Cap::Places(30, 200), weight: 6, ..HOME },
    OfferTpl { key: "saad_domestic", name: "Aide aux activités domestiques", category: "30", activity: "299", age: (18, 150), publics: &["01", "02"], weight: 4, ..HOME },
    OfferTpl { key: "saad_meals", name: "Portage de repas à domicile", category: "33", activity: "322", age: (60, 150), publics: &["01"], weight: 2, ..HOME },
    OfferTpl { key: "saad_respite", name: "Relayage et aide aux aidants", category: "260", activity: "394", age: (18, 150), publics: &["01", "02"], weight: 2, ..HOME },
    OfferTpl { key: "saad_disability", name: "Accompagnement à domicile des personnes en situation de handicap", category: "30", activity: "295", age: (18, 60), publics: &["02"], weight: 2, ..HOME },
    OfferTpl { key: "saad_family", name: "Aide à domicile aux familles", category: "30", activity: "308", age: (0, 150), publics: &["07"], weight: 1, field: "06", ..HOME },
    OfferTpl { key: "ssiad_pa", name: "Soins infirmiers à domicile - personnes âgées", category: "28", activity: "287", age: (60, 150), publics: &["01"], cap: Cap::Places(20, 90), profession: "60", weight: 5, ..HOME },
    OfferTpl { key: "ssiad_ph", name: "Soins infirmiers à domicile - personnes handicapées", category: "28", activity: "287", age: (18, 60), publics: &["02"], cap: Cap::Places(5, 20), profession: "60", weight: 2, ..HOME },
    OfferTpl { key: "esa", name: "Equipe spécialisée Alzheimer (ESA)", category: "29", activity: "306", age: (60, 150), publics: &["01"], specialisations: &["28"], cap: Cap::Places(10, 15), weight: 2, ..HOME },
    OfferTpl { key: "ssiad_reinforced", name: "SSIAD renforcé", category: "75", activity: "288", age: (18, 150), publics: &["01", "02"], cap: Cap::Places(5, 15), weight: 1, ..HOME },
    OfferTpl { key: "sad_mixed", name: "Service autonomie à domicile - aide et soins", category: "132", activity: "293", age: (18, 150), publics: &["01", "02"], cap: Cap::Places(40, 150), weight: 3, ..HOME },
];

/// Services and institutions for disabled children.
#[rustfmt::skip]
pub const CHILD_DISABILITY: &[OfferTpl] = &[
    OfferTpl { key: "ime_internat", name: "IME - internat", category: "48", activity: "300", specialisations: &["14", "02"], acts: &["0644", "0645"], cap: Cap::Places(10, 40), ..CHILD_MS },
    OfferTpl { key: "ime_semi", name: "IME - semi-internat", category: "48", activity: "300", care_mode: "47", specialisations: &["14", "02"], acts: &["0644", "0645"], cap: Cap::Places(15, 60), ..CHILD_MS },
    OfferTpl { key: "ue_ext", name: "Unité d'enseignement externalisée", category: "56", activity: "300", care_mode: "47", place: "005", specialisations: &["02", "14"], cap: Cap::Places(6, 10), competences: &["11"], ..CHILD_MS },
    OfferTpl { key: "itep_internat", name: "ITEP - internat", category: "50", activity: "295", age: (6, 18), specialisations: &["26"], modalities: &["01"], cap: Cap::Places(10, 30), ..CHILD_MS },
    OfferTpl { key: "itep_semi", name: "ITEP - semi-internat", category: "50", activity: "300", care_mode: "47", age: (6, 18), specialisations: &["26"], modalities: &["01"], cap: Cap::Places(10, 30), ..CHILD_MS },
    OfferTpl { key: "itep_sessad", name: "SESSAD rattaché à l'ITEP", category: "57", activity: "295", care_mode: "49", place: "005", age: (6, 18), specialisations: &["26"], zone: true, cap: Cap::Places(10, 30), ..CHILD_MS },
    OfferTpl { key: "eeap", name: "Etablissement pour enfants et adolescents polyhandicapés", category: "51", activity: "288", age: (0, 20), specialisations: &["17"], cap: Cap::Places(10, 40), equipment: &[EQ_SENSORY_ROOM, EQ_TRANSFER_RAILS], ..CHILD_MS },
    OfferTpl { key: "iem", name: "Institut d'éducation motrice", category: "49", activity: "291", age: (3, 20), specialisations: &["22"], cap: Cap::Places(15, 50), ..CHILD_MS },
    OfferTpl { key: "visual", name: "Institut pour déficients visuels", category: "52", activity: "247", age: (3, 20), specialisations: &["19"], competences: &["03"], cap: Cap::Places(15, 60), ..CHILD_MS },
    OfferTpl { key: "hearing", name: "Institut pour déficients auditifs", category: "53", activity: "248", age: (3, 20), specialisations: &["18"], competences: &["01", "02"], cap: Cap::Places(15, 60), ..CHILD_MS },
    OfferTpl { key: "deafblind", name: "Institut d'éducation sensorielle sourd-aveugle", category: "54", activity: "294", age: (3, 20), specialisations: &["25"], competences: &["01", "03"], cap: Cap::Places(10, 30), ..CHILD_MS },
    OfferTpl { key: "sessad", name: "SESSAD", category: "57", activity: "300", care_mode: "49", place: "005", age: (0, 20), specialisations: &["02", "14", "22"], zone: true, cap: Cap::Places(15, 60), ..CHILD_MS },
    OfferTpl { key: "camsp", name: "Centre d'action médico-sociale précoce (CAMSP)", category: "61", activity: "557", care_mode: "32", place: "005", age: (0, 6), acts: &["0481", "0624"], competences: &["14", "55"], ..CHILD_MS },
    OfferTpl { key: "cmpp_consult", name: "Consultations et bilans CMPP", category: "62", activity: "289", care_mode: "32", place: "005", age: (0, 20), acts: &["0626", "0624", "0481"], competences: &["05", "24", "43"], specialisations: &["11", "03"], profession: "10", practitioners: 0.2, ..CHILD_MS },
    OfferTpl { key: "cmpp_speech", name: "Rééducation orthophonique", category: "62", activity: "290", care_mode: "32", place: "005", age: (0, 20), specialisations: &["11"], profession: "91", practitioners: 0.2, ..CHILD_MS },
    OfferTpl { key: "cmpp_psychomot", name: "Psychomotricité", category: "62", activity: "493", care_mode: "32", place: "005", age: (0, 20), profession: "96", practitioners: 0.2, ..CHILD_MS },
    OfferTpl { key: "child_respite", name: "Accueil temporaire d'enfants handicapés", category: "48", activity: "394", reception_type: "01", age: (0, 20), cap: Cap::Places(4, 12), ..CHILD_MS },
    OfferTpl { key: "bapu", name: "Bureau d'aide psychologique universitaire", category: "64", activity: "289", care_mode: "32", place: "005", age: (17, 30), publics: &["08"], field: "03", ..CHILD_MS },
];

/// Services and institutions for disabled adults.
#[rustfmt::skip]
pub const ADULT_DISABILITY: &[OfferTpl] = &[
    OfferTpl { key: "mas", name: "Maison d'accueil spécialisée - hébergement permanent", category: "40", activity: "288", reception_type: "02", age: (20, 150), specialisations: &["17", "14"], cap: Cap::Places(20, 60), equipment: &[EQ_SENSORY_ROOM, EQ_TRANSFER_RAILS], ..ADULT_MS },
    OfferTpl { key: "mas_day", name: "Maison d'accueil spécialisée - accueil de jour", category: "40", activity: "288", care_mode: "47", age: (20, 150), specialisations: &["17"], cap: Cap::Places(3, 10), ..ADULT_MS },
    OfferTpl { key: "fam", name: "Foyer d'accueil médicalisé", category: "39", activity: "293", reception_type: "02", age: (20, 150), specialisations: &["16", "14", "02"], cap: Cap::Places(15, 50), ..ADULT_MS },
    OfferTpl { key: "fam_temporary", name: "Foyer d'accueil médicalisé - accueil temporaire", category: "39", activity: "394", reception_type: "01", age: (20, 150), cap: Cap::Places(1, 4), ..ADULT_MS },
    OfferTpl { key: "foyer_vie", name: "Foyer de vie", category: "97", activity: "313", reception_type: "02", age: (20, 150), specialisations: &["14", "16"], cap: Cap::Places(15, 50), ..ADULT_MS },
    OfferTpl { key: "foyer_vie_day", name: "Foyer de vie - accueil de jour", category: "97", activity: "313", care_mode: "47", age: (20, 150), cap: Cap::Places(4, 15), ..ADULT_MS },
    OfferTpl { key: "foyer_hebergement", name: "Foyer d'hébergement pour travailleurs handicapés", category: "96", activity: "298", reception_type: "02", specialisations: &["14"], cap: Cap::Places(15, 50), ..ADULT_MS },
    OfferTpl { key: "eanm", name: "Etablissement d'accueil non médicalisé", category: "41", activity: "298", reception_type: "02", age: (20, 150), cap: Cap::Places(10, 40), ..ADULT_MS },
    OfferTpl { key: "esat", name: "Etablissement et service d'aide par le travail (ESAT)", category: "43", activity: "304", care_mode: "47", place: "005", age: (18, 62), cap: Cap::Places(30, 120), competences: &["26"], ..ADULT_MS },
    OfferTpl { key: "esrp", name: "Réadaptation professionnelle (ESRP)", category: "44", activity: "302", care_mode: "47", place: "005", age: (18, 62), competences: &["53"], ..ADULT_MS },
    OfferTpl { key: "espo", name: "Pré-orientation professionnelle (ESPO)", category: "46", activity: "526", care_mode: "47", place: "005", age: (18, 62), competences: &["53", "58"], ..ADULT_MS },
    OfferTpl { key: "ueros", name: "Unité d'évaluation, de réentraînement et d'orientation (UEROS)", category: "45", activity: "292", care_mode: "47", place: "005", age: (18, 62), specialisations: &["68"], competences: &["05"], ..ADULT_MS },
    OfferTpl { key: "savs", name: "Service d'accompagnement à la vie sociale (SAVS)", category: "31", activity: "312", care_mode: "49", place: "005", zone: true, cap: Cap::Places(15, 60), ..ADULT_MS },
    OfferTpl { key: "samsah", name: "Service d'accompagnement médico-social pour adultes handicapés (SAMSAH)", category: "32", activity: "287", care_mode: "49", place: "005", zone: true, specialisations: &["16", "02"], cap: Cap::Places(10, 40), ..ADULT_MS },
    OfferTpl { key: "adult_temporary", name: "Accueil temporaire pour adultes handicapés", category: "256", activity: "394", reception_type: "01", age: (20, 60), cap: Cap::Places(2, 10), ..ADULT_MS },
    OfferTpl { key: "uphv", name: "Unité pour personnes handicapées vieillissantes", category: "257", activity: "293", reception_type: "02", age: (45, 150), publics: &["05"], cap: Cap::Places(8, 16), ..ADULT_MS },
    OfferTpl { key: "pea", name: "Plateforme emploi accompagné", category: "47", activity: "438", care_mode: "58", place: "005", age: (18, 62), ..ADULT_MS },
];

const ADDICTION: OfferTpl = OfferTpl { publics: &["04"], ..MS };

/// Addiction, precariousness and medico-social care.
#[rustfmt::skip]
pub const MEDICO_SOCIAL_CARE: &[OfferTpl] = &[
    OfferTpl { key: "csapa", name: "CSAPA - consultations", category: "80", activity: "404", care_mode: "32", place: "005", acts: &["0523"], competences: &["59", "60"], practitioners: 0.2, profession: "10", ..ADDICTION },
    OfferTpl { key: "csapa_cjc", name: "Consultation jeunes consommateurs", category: "86", activity: "404", care_mode: "32", place: "005", age: (12, 25), ..ADDICTION },
    OfferTpl { key: "csapa_residential", name: "CSAPA - hébergement thérapeutique", category: "80", activity: "404", cap: Cap::Places(6, 20), ..ADDICTION },
    OfferTpl { key: "caarud", name: "CAARUD - accueil et réduction des risques", category: "81", activity: "450", care_mode: "54", place: "005", modalities: &["06", "07"], ..ADDICTION },
    OfferTpl { key: "act", name: "Appartements de coordination thérapeutique", category: "94", activity: "335", publics: &["06", "09"], cap: Cap::Places(5, 20), ..MS },
    OfferTpl { key: "lhss", name: "Lits halte soins santé", category: "93", activity: "285", publics: &["06"], cap: Cap::Beds(5, 25), ..MS },
    OfferTpl { key: "lam", name: "Lits d'accueil médicalisés", category: "95", activity: "285", publics: &["06"], cap: Cap::Beds(10, 25), ..MS },
];

const PSY_AMB: OfferTpl = OfferTpl { practitioners: 0.15, ..PSY };

/// Ambulatory and small psychiatric establishments.
#[rustfmt::skip]
pub const PSY_AMBULATORY: &[OfferTpl] = &[
    OfferTpl { key: "cmp_adult_site", name: "Centre médico-psychologique adultes", category: "10", activity: "229", care_mode: "32", place: "005", sector: Sector::Adult, modalities: &["03", "06"], ..PSY_AMB },
    OfferTpl { key: "cmp_child_site", name: "Centre médico-psychologique infanto-juvénile", category: "10", activity: "227", care_mode: "32", place: "005", age: (0, 16), sector: Sector::Child, specialisations: &["02", "03", "11"], ..PSY_AMB },
    OfferTpl { key: "cattp_site", name: "Centre d'accueil thérapeutique à temps partiel (CATTP)", category: "05", activity: "231", care_mode: "42", place: "005", sector: Sector::Adult, ..PSY_AMB },
    OfferTpl { key: "cattp_child_site", name: "CATTP enfants et adolescents", category: "05", activity: "227", care_mode: "42", place: "005", age: (3, 18), sector: Sector::Child, ..PSY_AMB },
    OfferTpl { key: "psy_clinic_hc", name: "Psychiatrie adulte - hospitalisation complète", category: "16", activity: "229", cap: Cap::Beds(20, 60), specialisations: &["08", "65"], ..PSY_AMB },
    OfferTpl { key: "psy_clinic_hj", name: "Psychiatrie adulte - hôpital de jour", category: "11", activity: "229", care_mode: "29", cap: Cap::Places(10, 25), ..PSY_AMB },
    OfferTpl { key: "postcure", name: "Centre de post-cure psychiatrique", category: "07", activity: "231", cap: Cap::Beds(15, 30), ..PSY_AMB },
    OfferTpl { key: "therapeutic_flat", name: "Appartement thérapeutique", category: "01", activity: "231", cap: Cap::Places(3, 8), ..PSY_AMB },
    OfferTpl { key: "therapeutic_workshop", name: "Atelier thérapeutique", category: "02", activity: "231", care_mode: "47", place: "005", ..PSY_AMB },
    OfferTpl { key: "smpr", name: "Service médico-psychologique régional (SMPR)", category: "14", activity: "229", care_mode: "32", place: "005", sensitive: true, ..PSY_AMB },
    OfferTpl { key: "crisis_centre", name: "Centre de crise et d'accueil permanent", category: "06", activity: "612", cap: Cap::Beds(4, 12), modalities: &["06"], ..PSY_AMB },
];

/// Home hospitalisation and dialysis.
#[rustfmt::skip]
pub const HOME_HOSPITAL: &[OfferTpl] = &[
    OfferTpl { key: "had", name: "Hospitalisation à domicile", category: "128", activity: "285", care_mode: "31", place: "005", age: (0, 150), zone: true, cap: Cap::Places(20, 80), acts: &["0652", "0527"], ..H },
    OfferTpl { key: "had_rehab", name: "Hospitalisation à domicile - réadaptation", category: "130", activity: "283", care_mode: "31", place: "005", zone: true, cap: Cap::Places(5, 20), ..H },
    OfferTpl { key: "had_perinatal", name: "Hospitalisation à domicile - ante et post-partum", category: "129", activity: "282", care_mode: "31", place: "005", age: (12, 55), zone: true, cap: Cap::Places(3, 10), profession: "50", ..H },
    OfferTpl { key: "had_palliative", name: "Soins palliatifs à domicile", category: "128", activity: "170", care_mode: "31", place: "005", zone: true, cap: Cap::Places(5, 15), ..H },
];

/// Dialysis centres and alternatives.
#[rustfmt::skip]
pub const DIALYSIS: &[OfferTpl] = &[
    OfferTpl { key: "dialysis_centre", name: "Hémodialyse en centre", category: "274", activity: "059", care_mode: "32", cap: Cap::Places(12, 40), acts: &["0657"], ..H },
    OfferTpl { key: "dialysis_self", name: "Unité d'autodialyse", category: "273", activity: "059", care_mode: "32", cap: Cap::Places(6, 18), modalities: &["23", "24"], acts: &["0657"], ..H },
    OfferTpl { key: "dialysis_udm", name: "Unité de dialyse médicalisée", category: "275", activity: "059", care_mode: "32", cap: Cap::Places(6, 18), acts: &["0657"], ..H },
    OfferTpl { key: "dialysis_home", name: "Dialyse péritonéale à domicile", category: "271", activity: "583", care_mode: "49", place: "005", zone: true, ..H },
];

const VILLE: OfferTpl = OfferTpl {
    field: "05",
    care_mode: "32",
    place: "005",
    age: (0, 150),
    modalities: &["03", "04", "06"],
    practitioners: 0.7,
    weight: 2,
    ..BASE
};

/// General medical centres and multi-professional practices.
#[rustfmt::skip]
pub const PRIMARY_CARE: &[OfferTpl] = &[
    OfferTpl { key: "gp_consult", name: "Consultation de médecine générale", category: "196", activity: "437", weight: 8, ..VILLE },
    OfferTpl { key: "gp_allergo", name: "Médecine générale à orientation allergologie", category: "196", activity: "481", ..VILLE },
    OfferTpl { key: "gp_diabeto", name: "Médecine générale à orientation diabétologie", category: "196", activity: "483", ..VILLE },
    OfferTpl { key: "gp_pediatric", name: "Médecine générale à orientation pédiatrique", category: "196", activity: "487", age: (0, 18), ..VILLE },
    OfferTpl { key: "gp_geriatric", name: "Médecine générale à orientation gériatrique", category: "196", activity: "484", age: (60, 150), ..VILLE },
    OfferTpl { key: "gp_gyneco", name: "Suivi gynécologique de prévention et contraception", category: "194", activity: "527", age: (12, 150), ..VILLE },
    OfferTpl { key: "city_cardio", name: "Consultation de cardiologie", category: "183", activity: "013", acts: &["0172", "0630"], ..VILLE },
    OfferTpl { key: "city_pediatrics", name: "Consultation de pédiatrie", category: "205", activity: "088", age: (0, 18), ..VILLE },
    OfferTpl { key: "city_ophtalmo", name: "Consultation d'ophtalmologie", category: "221", activity: "103", acts: &["0264"], ..VILLE },
    OfferTpl { key: "city_dermato", name: "Consultation de dermatologie", category: "190", activity: "037", ..VILLE },
    OfferTpl { key: "city_nursing", name: "Soins infirmiers", category: "225", activity: "287", profession: "60", weight: 4, ..VILLE },
    OfferTpl { key: "city_home_nursing", name: "Soins infirmiers à domicile", category: "225", activity: "287", care_mode: "49", profession: "60", zone: true, modalities: &["05"], weight: 2, ..VILLE },
    OfferTpl { key: "city_physio", name: "Kinésithérapie", category: "195", activity: "339", profession: "70", weight: 3, ..VILLE },
    OfferTpl { key: "city_midwife", name: "Suivi de grossesse par sage-femme", category: "213", activity: "530", age: (12, 55), profession: "50", ..VILLE },
    OfferTpl { key: "city_speech", name: "Orthophonie", category: "222", activity: "200", profession: "91", ..VILLE },
    OfferTpl { key: "city_podiatry", name: "Pédicurie-podologie", category: "206", activity: "201", profession: "80", weight: 1, ..VILLE },
    OfferTpl { key: "city_dietetics", name: "Diététique et nutrition", category: "191", activity: "549", profession: "95", weight: 1, ..VILLE },
    OfferTpl { key: "city_etp", name: "Education thérapeutique du patient", category: "", activity: "336", care_mode: "42", acts: &["0528"], weight: 1, ..VILLE },
    OfferTpl { key: "city_unscheduled", name: "Soins non programmés", category: "92", activity: "475", care_mode: "56", weight: 2, ..VILLE },
];

/// Dental centres.
#[rustfmt::skip]
pub const DENTAL: &[OfferTpl] = &[
    OfferTpl { key: "dental_care", name: "Soins dentaires", category: "228", activity: "441", profession: "40", weight: 4, ..VILLE },
    OfferTpl { key: "dental_surgery", name: "Chirurgie dentaire", category: "226", activity: "442", profession: "40", ..VILLE },
    OfferTpl { key: "orthodontics", name: "Orthopédie dento-faciale", category: "229", activity: "104", age: (6, 25), profession: "40", ..VILLE },
    OfferTpl { key: "pedodontics", name: "Odontologie pédiatrique", category: "228", activity: "443", age: (0, 16), profession: "40", ..VILLE },
];

/// Nursing centres.
#[rustfmt::skip]
pub const NURSING: &[OfferTpl] = &[
    OfferTpl { key: "nursing_centre", name: "Soins infirmiers au centre", category: "225", activity: "287", profession: "60", weight: 3, ..VILLE },
    OfferTpl { key: "nursing_home", name: "Soins infirmiers à domicile", category: "225", activity: "287", care_mode: "49", profession: "60", zone: true, modalities: &["05"], weight: 3, ..VILLE },
    OfferTpl { key: "nursing_vaccination", name: "Vaccinations", category: "269", activity: "161", profession: "60", ..VILLE },
];

/// Community pharmacies.
#[rustfmt::skip]
pub const PHARMACY: &[OfferTpl] = &[
    OfferTpl { key: "pharmacy_dispensing", name: "Dispensation de médicaments", activity: "628", care_mode: "56", profession: "21", practitioners: 0.2, weight: 9, ..VILLE },
    OfferTpl { key: "pharmacy_advice", name: "Conseil et accompagnement dans la gestion des traitements", activity: "629", profession: "21", practitioners: 0.1, weight: 5, ..VILLE },
    OfferTpl { key: "pharmacy_vaccination", name: "Vaccination en officine", activity: "161", profession: "21", practitioners: 0.1, age: (11, 150), weight: 4, ..VILLE },
    OfferTpl { key: "pharmacy_screening", name: "Dépistage et prévention en officine", activity: "334", care_mode: "56", profession: "21", practitioners: 0.05, weight: 3, ..VILLE },
    OfferTpl { key: "pharmacy_etp", name: "Entretiens pharmaceutiques et éducation thérapeutique", activity: "336", profession: "21", practitioners: 0.05, acts: &["0528"], weight: 2, ..VILLE },
    OfferTpl { key: "pharmacy_teleconsult", name: "Téléconsultation assistée en officine", activity: "437", care_mode: "35", modalities: &["04"], profession: "21", practitioners: 0.05, weight: 2, ..VILLE },
    OfferTpl { key: "pharmacy_delivery", name: "Portage de médicaments à domicile", activity: "628", care_mode: "49", modalities: &["05"], profession: "21", practitioners: 0.0, weight: 1, ..VILLE },
    OfferTpl { key: "pharmacy_oxygen", name: "Dispensation d'oxygène et de dispositifs médicaux à domicile", activity: "628", care_mode: "49", modalities: &["05"], profession: "21", practitioners: 0.0, weight: 1, ..VILLE },
];

/// Medical laboratories.
#[rustfmt::skip]
pub const LABORATORY: &[OfferTpl] = &[
    OfferTpl { key: "lab_sampling", name: "Prélèvements et analyses de biologie médicale", category: "248", activity: "009", care_mode: "56", profession: "21", practitioners: 0.1, weight: 8, ..VILLE },
    OfferTpl { key: "lab_microbio", name: "Microbiologie", category: "248", activity: "093", care_mode: "20", profession: "21", practitioners: 0.0, weight: 4, ..VILLE },
    OfferTpl { key: "lab_hemato", name: "Hématologie biologique", category: "248", activity: "056", care_mode: "20", profession: "21", practitioners: 0.0, weight: 4, ..VILLE },
    OfferTpl { key: "lab_home", name: "Prélèvements à domicile", category: "248", activity: "009", care_mode: "49", modalities: &["05"], profession: "60", practitioners: 0.0, weight: 3, ..VILLE },
    OfferTpl { key: "lab_immuno", name: "Immunologie biologique", category: "248", activity: "072", care_mode: "20", practitioners: 0.0, weight: 1, ..VILLE },
    OfferTpl { key: "lab_genetics", name: "Génétique moléculaire", category: "248", activity: "552", care_mode: "20", practitioners: 0.0, weight: 1, ..VILLE },
    OfferTpl { key: "lab_reproduction", name: "Biologie de la reproduction", category: "248", activity: "010", care_mode: "20", practitioners: 0.0, weight: 1, ..VILLE },
];

/// Prevention, screening, mother and child protection.
#[rustfmt::skip]
pub const PREVENTION: &[OfferTpl] = &[
    OfferTpl { key: "pmi_child", name: "Consultations de protection infantile (PMI)", category: "125", activity: "118", age: (0, 6), acts: &[], profession: "10", practitioners: 0.2, weight: 4, ..VILLE },
    OfferTpl { key: "pmi_prenatal", name: "Consultations prénatales PMI", category: "125", activity: "530", age: (12, 55), profession: "50", practitioners: 0.2, ..VILLE },
    OfferTpl { key: "pmi_child_health", name: "Promotion de la santé de l'enfant", category: "125", activity: "554", age: (0, 6), profession: "", practitioners: 0.0, ..VILLE },
    OfferTpl { key: "sexual_health", name: "Centre de santé sexuelle - consultations", category: "89", activity: "527", age: (12, 150), modalities: &["07", "06"], practitioners: 0.1, weight: 4, ..VILLE },
    OfferTpl { key: "evars", name: "Espace de vie affective, relationnelle et sexuelle", category: "98", activity: "308", care_mode: "54", age: (12, 150), practitioners: 0.0, ..VILLE },
    OfferTpl { key: "cegidd", name: "Dépistage des infections sexuellement transmissibles (CeGIDD)", category: "250", activity: "162", modalities: &["07", "06"], practitioners: 0.0, ..VILLE },
    OfferTpl { key: "clat", name: "Centre de lutte antituberculeuse", category: "268", activity: "592", practitioners: 0.0, ..VILLE },
    OfferTpl { key: "vaccination_centre", name: "Centre de vaccination", category: "269", activity: "161", acts: &["0501"], practitioners: 0.0, ..VILLE },
    OfferTpl { key: "health_check", name: "Examens de santé et prévention", category: "", activity: "334", practitioners: 0.0, ..VILLE },
    OfferTpl { key: "school_health", name: "Santé scolaire", category: "", activity: "554", age: (3, 18), practitioners: 0.0, ..VILLE },
    OfferTpl { key: "student_health", name: "Service de santé universitaire", category: "", activity: "437", age: (17, 30), publics: &["08"], practitioners: 0.2, ..VILLE },
    OfferTpl { key: "sports_medicine", name: "Médecine du sport", category: "", activity: "081", practitioners: 0.2, ..VILLE },
    OfferTpl { key: "cancer_screening", name: "Consultations de dépistage des cancers", category: "", activity: "102", practitioners: 0.0, ..VILLE },
    OfferTpl { key: "blood_donation", name: "Collecte de sang et médecine transfusionnelle", category: "", activity: "433", field: "01", practitioners: 0.0, ..VILLE },
    OfferTpl { key: "thermal", name: "Médecine thermale", category: "", activity: "455", care_mode: "20", field: "01", practitioners: 0.0, ..VILLE },
    OfferTpl { key: "birth_house", name: "Maison de naissance - suivi et accouchement", category: "", activity: "282", age: (12, 55), profession: "50", practitioners: 0.5, ..VILLE },
    OfferTpl { key: "aesthetic_surgery", name: "Chirurgie esthétique", category: "242", activity: "178", care_mode: "09", field: "01", practitioners: 0.3, ..VILLE },
    OfferTpl { key: "prison_health", name: "Unité sanitaire en milieu pénitentiaire", category: "", activity: "089", field: "01", sensitive: true, practitioners: 0.0, ..VILLE },
    OfferTpl { key: "cpts_unscheduled", name: "Coordination des soins non programmés (CPTS)", category: "255", activity: "475", care_mode: "58", practitioners: 0.0, weight: 3, ..VILLE },
    OfferTpl { key: "cpts_gp_access", name: "Accès à un médecin traitant (CPTS)", category: "255", activity: "471", care_mode: "58", practitioners: 0.0, weight: 2, ..VILLE },
    OfferTpl { key: "dac", name: "Dispositif d'appui à la coordination", category: "178", activity: "335", care_mode: "58", practitioners: 0.0, ..VILLE },
    OfferTpl { key: "clic", name: "Point d'information local pour les personnes âgées (CLIC)", category: "259", activity: "317", care_mode: "54", age: (60, 150), field: "04", publics: &["01"], practitioners: 0.0, ..VILLE },
    OfferTpl { key: "resource_centre", name: "Centre de ressources territorial", category: "136", activity: "317", care_mode: "54", field: "04", practitioners: 0.0, ..VILLE },
    OfferTpl { key: "mg_consult", name: "Consultation de médecine générale", category: "", activity: "437", practitioners: 0.5, ..VILLE },
];

const SOCIAL: OfferTpl = OfferTpl {
    field: "06",
    care_mode: "46",
    place: "003",
    age: (18, 150),
    publics: &["06"],
    profession: "",
    practitioners: 0.0,
    ..BASE
};

/// Social housing, child welfare and social services.
#[rustfmt::skip]
pub const SOCIAL_SERVICES: &[OfferTpl] = &[
    OfferTpl { key: "child_welfare_home", name: "Accueil et hébergement éducatif", activity: "553", age: (0, 21), publics: &[], cap: Cap::Places(10, 40), ..SOCIAL },
    OfferTpl { key: "child_welfare_day", name: "Accueil de jour éducatif", activity: "553", care_mode: "47", age: (0, 21), publics: &[], ..SOCIAL },
    OfferTpl { key: "foster_family", name: "Placement familial", category: "36", activity: "553", care_mode: "50", age: (0, 21), publics: &[], ..SOCIAL },
    OfferTpl { key: "mother_child", name: "Accueil mère-enfant", category: "119", activity: "308", age: (0, 150), publics: &["06"], cap: Cap::Places(5, 20), ..SOCIAL },
    OfferTpl { key: "chrs", name: "Hébergement d'insertion", activity: "298", cap: Cap::Places(10, 80), ..SOCIAL },
    OfferTpl { key: "emergency_shelter", name: "Hébergement d'urgence", activity: "392", cap: Cap::Places(5, 40), ..SOCIAL },
    OfferTpl { key: "asylum", name: "Hébergement des demandeurs d'asile", activity: "298", cap: Cap::Places(20, 120), ..SOCIAL },
    OfferTpl { key: "social_residence", name: "Résidence sociale", activity: "533", cap: Cap::Places(20, 100), ..SOCIAL },
    OfferTpl { key: "boarding_house", name: "Maison relais - pension de famille", activity: "298", cap: Cap::Places(10, 30), ..SOCIAL },
    OfferTpl { key: "young_workers", name: "Foyer de jeunes travailleurs", activity: "533", age: (16, 30), publics: &[], cap: Cap::Places(30, 150), ..SOCIAL },
    OfferTpl { key: "inclusive_housing", name: "Habitat inclusif", category: "74", activity: "298", publics: &["02", "01"], cap: Cap::Places(5, 15), ..SOCIAL },
    OfferTpl { key: "living_place", name: "Lieu de vie et d'accueil", category: "67", activity: "312", age: (6, 21), field: "04", publics: &["02"], cap: Cap::Places(3, 10), ..SOCIAL },
    OfferTpl { key: "social_support", name: "Accompagnement social et orientation", activity: "317", care_mode: "54", place: "005", ..SOCIAL },
    OfferTpl { key: "social_evaluation", name: "Evaluation de situations sociales préoccupantes", activity: "547", care_mode: "54", place: "005", ..SOCIAL },
    OfferTpl { key: "guardianship", name: "Mesures de protection juridique des majeurs", activity: "320", care_mode: "49", place: "005", publics: &[], ..SOCIAL },
    OfferTpl { key: "educational_support", name: "Accompagnement éducatif en milieu ouvert", activity: "553", care_mode: "49", place: "005", age: (0, 21), publics: &[], ..SOCIAL },
    OfferTpl { key: "budget_support", name: "Aide à la gestion du budget", activity: "318", care_mode: "54", place: "005", ..SOCIAL },
];

/// Every template list, to look a template up by key.
pub const ALL_LISTS: &[&[OfferTpl]] = &[
    HOSPITAL,
    ELDERLY,
    RESIDENCE,
    ELDERLY_DAY,
    HOME_CARE,
    CHILD_DISABILITY,
    ADULT_DISABILITY,
    MEDICO_SOCIAL_CARE,
    PSY_AMBULATORY,
    HOME_HOSPITAL,
    DIALYSIS,
    PRIMARY_CARE,
    DENTAL,
    NURSING,
    PHARMACY,
    LABORATORY,
    PREVENTION,
    SOCIAL_SERVICES,
];

/// The template with this key.
pub fn template(key: &str) -> Option<&'static OfferTpl> {
    ALL_LISTS.iter().flat_map(|list| list.iter()).find(|t| t.key == key)
}

/// Where the candidate offers of an establishment come from.
#[derive(Clone, Copy, Debug)]
pub enum Pool {
    /// Hospital offers of the given poles, up to a tier.
    Hospital { poles: &'static [Pole], max_tier: u8 },
    /// A fixed list.
    List(&'static [OfferTpl]),
    /// Only the templates with these keys.
    Keys(&'static [&'static str]),
}

/// How the offers of an establishment are attached to internal organisations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OiMode {
    /// Offers are provided by the establishment itself.
    None,
    /// One OI per pole; offers are provided by their pole.
    Poles,
    /// Poles, and services nested in them; offers are provided by their service.
    PolesAndServices,
}

/// Tariffs published on the establishment (`ror-organization-price`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tariffs {
    None,
    /// EHPAD: accommodation (room types, permanent/temporary), dependency (GIR), day care.
    Ehpad,
    /// Residences: monthly accommodation by flat type.
    Residence,
    /// Day-care centres: daily rate.
    DayCare,
    /// Home help: hourly rates, meal delivery.
    HomeHelp,
}

/// The offer profile of an establishment category.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub pool: Pool,
    /// Number of offers drawn, inclusive range (before the demo reduction).
    pub count: (usize, usize),
    /// Templates always present.
    pub always: &'static [&'static str],
    pub oi: OiMode,
    pub tariffs: Tariffs,
    /// Large health establishment: always kept in the demo and thinned there.
    pub hospital: bool,
}

const NO_OFFER: Profile = Profile {
    pool: Pool::Keys(&[]),
    count: (0, 0),
    always: &[],
    oi: OiMode::None,
    tariffs: Tariffs::None,
    hospital: false,
};

const fn list(pool: &'static [OfferTpl], min: usize, max: usize) -> Profile {
    Profile { pool: Pool::List(pool), count: (min, max), ..NO_OFFER }
}

const fn keys(keys: &'static [&'static str], min: usize, max: usize) -> Profile {
    Profile { pool: Pool::Keys(keys), count: (min, max), ..NO_OFFER }
}

const ALL_POLES: &[Pole] = &[
    Pole::Medecine,
    Pole::Cardio,
    Pole::Neuro,
    Pole::Chirurgie,
    Pole::FemmeEnfant,
    Pole::Urgences,
    Pole::Cancero,
    Pole::Geriatrie,
    Pole::Psy,
    Pole::MedicoTech,
];
const NON_PSY_POLES: &[Pole] = &[
    Pole::Medecine,
    Pole::Cardio,
    Pole::Neuro,
    Pole::Chirurgie,
    Pole::FemmeEnfant,
    Pole::Urgences,
    Pole::Cancero,
    Pole::Geriatrie,
    Pole::MedicoTech,
];

const fn hospital(poles: &'static [Pole], max_tier: u8, min: usize, max: usize, oi: OiMode) -> Profile {
    Profile { pool: Pool::Hospital { poles, max_tier }, count: (min, max), oi, hospital: true, ..NO_OFFER }
}

/// FINESS categories kept whole in the demo corpus.
pub const DEMO_KEPT_CATEGORIES: &[&str] =
    &["101", "106", "355", "362", "365", "366", "122", "128", "129", "131"];

fn has_word(words: &[&str], any_of: &[&str]) -> bool {
    words.iter().any(|word| any_of.contains(word))
}

/// FINESS lists many secondary sites of hospitals under the hospital's own category (a
/// psychiatric day unit, a SMUR antenna, a dental clinic…); their name tells what they
/// really are, so they get the offers of that kind of site instead of a whole hospital's.
fn hospital_site(upper: &str) -> Option<Profile> {
    let words: Vec<&str> = upper.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let contains = |parts: &[&str]| parts.iter().any(|part| upper.contains(part));
    if contains(&["IFSI", "INSTITUT DE FORMATION", "ECOLE", "CENTRE DE FORMATION"])
        || has_word(&words, &["IFAS"])
    {
        return Some(NO_OFFER);
    }
    if contains(&["UHSA", "PENITENTIAIRE", "MAISON D'ARRET", "MAISON CENTRALE", "DETENTION"])
        || has_word(&words, &["UMD", "USMP", "UCSA", "USN"])
    {
        return Some(keys(&["smpr", "prison_health"], 1, 2));
    }
    if has_word(&words, &["SMUR"]) {
        return Some(keys(&["smur"], 1, 1));
    }
    if contains(&["DENTAIRE", "ODONTO"]) {
        return Some(list(DENTAL, 2, 4));
    }
    if has_word(&words, &["CEGIDD", "CDAG", "CIDDIST", "CLAT"]) || contains(&["VACCINATION"]) {
        return Some(keys(&["cegidd", "clat", "vaccination_centre"], 1, 2));
    }
    if has_word(&words, &["CPEF", "IVG"]) || contains(&["PLANIFICATION", "ORTHOGENIE"]) {
        return Some(keys(&["sexual_health", "orthogenie", "evars"], 1, 2));
    }
    if has_word(&words, &["USLD", "SLD"]) || contains(&["LONG SEJOUR"]) {
        return Some(keys(&["usld"], 1, 1));
    }
    if has_word(&words, &["EHPAD"]) || contains(&["MAISON DE RETRAITE"]) {
        return Some(Profile {
            always: &["ehpad_permanent"],
            tariffs: Tariffs::Ehpad,
            ..list(ELDERLY, 3, 6)
        });
    }
    if has_word(&words, &["HAD"]) || contains(&["HOSPITALISATION A DOMICILE"]) {
        return Some(list(HOME_HOSPITAL, 1, 3));
    }
    if has_word(&words, &["UDM", "UAD"]) || contains(&["DIALYSE"]) {
        return Some(list(DIALYSIS, 1, 3));
    }
    if has_word(&words, &["CSAPA"]) || contains(&["ADDICTO", "ALCOOLO", "TOXICO"]) {
        return Some(keys(&["addicto_withdrawal", "elsa", "csapa", "smr_addicto"], 1, 3));
    }
    let child = has_word(&words, &["ENFANT", "ENFANTS", "ADO", "ADOS", "CMPE", "CMPEA"])
        || contains(&["INFANT", "JUVENIL", "ADOLESC", "PEDOPSY"]);
    if has_word(&words, &["CMP", "CATTP", "HDJ", "HJ", "CAC", "SECT", "SECTEUR"])
        || contains(&[
            "MEDICO PSY",
            "MEDICO-PSY",
            "HOPITAL DE JOUR",
            "HOP DE JOUR",
            "HOP JOUR",
            "CENTRE DE JOUR",
        ])
        || contains(&["CTRE DE JOUR", "ACCUEIL FAMILIAL", "PEDOPSY"])
    {
        return Some(if child {
            keys(&["cmp_child_site", "cattp_child_site", "pedopsy_hj"], 1, 3)
        } else {
            keys(&["cmp_adult_site", "cattp_site", "psy_adult_hj"], 1, 3)
        });
    }
    if has_word(&words, &["SSR", "SMR"]) || contains(&["READAPTATION", "REEDUCATION", "CONVALESCENCE"]) {
        return Some(keys(SMR_KEYS, 2, 6));
    }
    if has_word(&words, &["CHS", "EPSM"]) || contains(&["PSYCHIATR", "SANTE MENTALE"]) {
        return Some(Profile {
            pool: Pool::Hospital { poles: &[Pole::Psy], max_tier: 3 },
            count: (4, 12),
            oi: OiMode::Poles,
            ..NO_OFFER
        });
    }
    None
}

const SMR_KEYS: &[&str] = &[
    "smr_poly",
    "smr_geria",
    "smr_loco_hc",
    "smr_loco_hj",
    "smr_neuro",
    "smr_cardio_hc",
    "smr_cardio_hj",
    "smr_pneumo",
    "smr_nutrition",
    "smr_ped",
    "smr_addicto",
    "smr_onco",
    "smr_mobile",
];

/// The offer profile of an establishment, from its FINESS category (and name, for the
/// categories that group different kinds of centres or sites).
pub fn profile(category: &str, name: &str) -> Profile {
    let upper = name.to_uppercase();
    if matches!(category, "101" | "355" | "365" | "106" | "114" | "292") {
        if let Some(site) = hospital_site(&upper) {
            return site;
        }
    }
    match category {
        "101" => hospital(ALL_POLES, 3, 50, 130, OiMode::PolesAndServices),
        "355" | "114" | "115" => hospital(ALL_POLES, 2, 25, 60, OiMode::PolesAndServices),
        "365" => hospital(NON_PSY_POLES, 2, 10, 28, OiMode::Poles),
        "128" => hospital(&[Pole::Chirurgie, Pole::MedicoTech, Pole::Urgences], 2, 6, 16, OiMode::Poles),
        "122" => hospital(&[Pole::FemmeEnfant, Pole::Chirurgie], 2, 4, 8, OiMode::Poles),
        "129" => hospital(&[Pole::Medecine, Pole::Geriatrie, Pole::Cardio], 2, 4, 10, OiMode::Poles),
        "131" => hospital(&[Pole::Cancero, Pole::MedicoTech], 3, 8, 15, OiMode::Poles),
        "106" => Profile {
            always: &["med_poly"],
            ..hospital(&[Pole::Medecine, Pole::Geriatrie], 1, 3, 8, OiMode::None)
        },
        "362" => Profile { always: &["usld"], ..hospital(&[Pole::Geriatrie], 1, 1, 3, OiMode::None) },
        "366" => keys(&["therapeutic_workshop", "cattp_site"], 1, 2),
        "109" => keys(SMR_KEYS, 4, 10),
        "292" => Profile {
            pool: Pool::Hospital { poles: &[Pole::Psy], max_tier: 3 },
            count: (7, 20),
            oi: OiMode::Poles,
            ..NO_OFFER
        },
        "156"
            if upper.contains("ENF")
                || upper.contains("INFANT")
                || upper.contains("JUV")
                || upper.contains("ADO") =>
        {
            keys(&["cmp_child_site", "cattp_child_site"], 1, 2)
        }
        "156" => keys(&["cmp_adult_site", "cattp_site"], 1, 2),
        "425" => keys(&["cattp_site", "cattp_child_site"], 1, 2),
        "161" => keys(&["psy_clinic_hc", "psy_clinic_hj"], 1, 2),
        "430" => keys(&["postcure", "psy_clinic_hj"], 1, 2),
        "412" => keys(&["therapeutic_flat"], 1, 1),
        "415" => keys(&["smpr"], 1, 1),
        "444" => keys(&["crisis_centre", "cmp_adult_site"], 1, 2),
        "221" => keys(&["bapu"], 1, 1),
        "127" | "422" => list(HOME_HOSPITAL, 1, 4),
        "141" | "146" => list(DIALYSIS, 1, 3),
        "500" | "501" => Profile {
            pool: Pool::List(ELDERLY),
            count: (6, 10),
            always: &["ehpad_permanent"],
            tariffs: Tariffs::Ehpad,
            ..NO_OFFER
        },
        "502" | "202" => Profile {
            pool: Pool::List(RESIDENCE),
            count: (2, 4),
            always: &["ra_housing"],
            tariffs: Tariffs::Residence,
            ..NO_OFFER
        },
        "207" | "381" => Profile { tariffs: Tariffs::DayCare, ..list(ELDERLY_DAY, 1, 2) },
        "460" | "208" | "450" | "368" | "640" => Profile {
            pool: Pool::Keys(&[
                "saad_avq",
                "saad_domestic",
                "saad_meals",
                "saad_respite",
                "saad_disability",
                "saad_family",
            ]),
            count: (4, 6),
            always: &["saad_avq"],
            tariffs: Tariffs::HomeHelp,
            ..NO_OFFER
        },
        "354" => Profile {
            pool: Pool::Keys(&["ssiad_pa", "ssiad_ph", "esa", "ssiad_reinforced"]),
            count: (1, 4),
            always: &["ssiad_pa"],
            ..NO_OFFER
        },
        "209" => Profile {
            pool: Pool::Keys(&[
                "sad_mixed",
                "saad_avq",
                "saad_domestic",
                "ssiad_pa",
                "ssiad_ph",
                "esa",
                "saad_meals",
            ]),
            count: (3, 7),
            always: &["sad_mixed"],
            ..NO_OFFER
        },
        "183" => keys(&["ime_internat", "ime_semi", "ue_ext", "child_respite"], 3, 4),
        "186" => keys(&["itep_internat", "itep_semi", "itep_sessad"], 2, 3),
        "188" => keys(&["eeap", "child_respite"], 1, 2),
        "192" => keys(&["iem", "ue_ext", "child_respite"], 1, 3),
        "194" => keys(&["visual", "sessad"], 1, 2),
        "195" => keys(&["hearing", "sessad"], 1, 2),
        "196" => keys(&["deafblind"], 1, 1),
        "182" => keys(&["sessad", "ue_ext"], 1, 2),
        "190" => keys(&["camsp", "cmpp_psychomot"], 1, 2),
        "189" => Profile {
            always: &["cmpp_consult"],
            ..keys(&["cmpp_consult", "cmpp_speech", "cmpp_psychomot"], 1, 3)
        },
        "377" | "390" | "396" | "402" | "238" => keys(&["child_respite", "ime_semi", "sessad"], 1, 2),
        "255" => keys(&["mas", "mas_day", "adult_temporary"], 1, 3),
        "437" | "448" => keys(&["fam", "fam_temporary", "uphv"], 1, 3),
        "382" => keys(&["foyer_vie", "foyer_vie_day", "adult_temporary", "uphv"], 2, 3),
        "252" | "253" => keys(&["foyer_hebergement", "eanm"], 1, 2),
        "449" => keys(&["eanm", "foyer_vie_day"], 1, 2),
        "246" => keys(&["esat", "foyer_hebergement", "pea"], 2, 3),
        "247" => keys(&["esat"], 1, 1),
        "249" => keys(&["esrp"], 1, 1),
        "198" => keys(&["espo"], 1, 1),
        "464" => keys(&["ueros"], 1, 1),
        "446" => keys(&["savs", "pea"], 1, 2),
        "445" => keys(&["samsah", "savs"], 1, 2),
        "370" | "379" | "395" => keys(&["adult_temporary", "fam", "savs"], 1, 2),
        "197" => keys(&["csapa", "csapa_cjc", "csapa_residential"], 1, 3),
        "178" => keys(&["caarud"], 1, 1),
        "165" => keys(&["act"], 1, 1),
        "180" => keys(&["lhss"], 1, 1),
        "213" => keys(&["lam"], 1, 1),
        "124" if upper.contains("DENT") => list(DENTAL, 2, 4),
        "124" if upper.contains("INFIRM") || upper.contains("SOINS") => list(NURSING, 2, 3),
        "124" | "439" => Profile { always: &["gp_consult"], ..list(PRIMARY_CARE, 5, 10) },
        "603" => Profile { always: &["gp_consult"], ..list(PRIMARY_CARE, 6, 12) },
        "604" => keys(&["cpts_unscheduled", "cpts_gp_access"], 1, 2),
        "606" => keys(&["dac"], 1, 1),
        "620" | "627" | "628" | "629" | "641" => {
            Profile { always: &["pharmacy_dispensing"], ..list(PHARMACY, 4, 7) }
        }
        "632" => keys(&["pharmacy_oxygen"], 1, 1),
        "611" | "610" | "612" => Profile { always: &["lab_sampling"], ..list(LABORATORY, 4, 7) },
        "223" | "230" => keys(&["pmi_child", "pmi_prenatal", "pmi_child_health"], 1, 3),
        "224" => keys(&["pmi_prenatal"], 1, 1),
        "228" | "231" => keys(&["sexual_health", "evars"], 1, 2),
        "266" | "638" => keys(&["cegidd"], 1, 1),
        "142" | "637" => keys(&["clat"], 1, 1),
        "143" | "645" | "646" => keys(&["vaccination_centre"], 1, 1),
        "347" | "636" => keys(&["health_check"], 1, 2),
        "268" => keys(&["school_health"], 1, 1),
        "269" => keys(&["student_health"], 1, 1),
        "270" => keys(&["sports_medicine"], 1, 1),
        "294" => keys(&["cancer_screening"], 1, 1),
        "132" => keys(&["blood_donation"], 1, 1),
        "126" => keys(&["thermal"], 1, 1),
        "631" => keys(&["birth_house"], 1, 1),
        "630" => keys(&["aesthetic_surgery"], 1, 1),
        "433" => keys(&["prison_health"], 1, 1),
        "463" => keys(&["clic"], 1, 1),
        "461" => keys(&["resource_centre"], 1, 1),
        "462" => keys(&["living_place"], 1, 1),
        "177" | "175" | "172" | "176" | "378" => keys(&["child_welfare_home", "child_welfare_day"], 2, 2),
        "236" => keys(&["foster_family"], 1, 1),
        "166" => keys(&["mother_child"], 1, 1),
        "214" | "219" | "442" => keys(&["chrs", "emergency_shelter", "social_support"], 1, 2),
        "443" => keys(&["asylum"], 1, 1),
        "256" | "259" | "216" | "218" | "324" => keys(&["social_residence"], 1, 1),
        "258" => keys(&["boarding_house"], 1, 1),
        "257" => keys(&["young_workers"], 1, 1),
        "271" => keys(&["emergency_shelter"], 1, 1),
        "340" | "341" | "342" | "344" | "345" => keys(&["guardianship"], 1, 1),
        "295" | "286" | "441" | "440" | "418" | "453" | "427" | "241" | "411" => {
            keys(&["educational_support"], 1, 1)
        }
        "220" | "405" | "359" | "403" | "400" | "451" | "346" => {
            keys(&["social_support", "social_evaluation", "budget_support"], 1, 2)
        }
        "698" | "696" | "697" | "695" | "699" | "426" => {
            keys(&["mri", "ct", "hospital_lab", "pui", "xray"], 0, 1)
        }
        // Schools and any category without care offer.
        _ => NO_OFFER,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::generate::codes::{Codes, List};
    use crate::generate::error::GenerateError;

    #[test]
    fn test_every_template_code_is_real() -> Result<(), GenerateError> {
        let codes = Codes::get()?;
        let mut keys = HashSet::new();
        for template in ALL_LISTS.iter().flat_map(|list| list.iter()) {
            assert!(keys.insert(template.key), "duplicate key {}", template.key);
            codes.display(List::Field, template.field)?;
            if !template.category.is_empty() {
                codes.display(List::OfferType, template.category)?;
            }
            codes.display(List::Activity, template.activity)?;
            codes.display(List::CareMode, template.care_mode)?;
            codes.display(List::LocationFunction, template.place)?;
            for act in template.acts {
                codes.display(List::Act, act)?;
            }
            for modality in template.modalities {
                codes.display(List::Modality, modality)?;
            }
            for specialisation in template.specialisations {
                codes.display(List::Specialisation, specialisation)?;
            }
            for competence in template.competences {
                codes.display(List::Competence, competence)?;
            }
            for public in template.publics {
                codes.display(List::Public, public)?;
            }
            if !template.reception_type.is_empty() {
                codes.display(List::ReceptionType, template.reception_type)?;
            }
            if !template.profession.is_empty() {
                codes.display(List::Profession, template.profession)?;
            }
            for equip in template.equipment.iter().chain(THEATRE_EQUIPMENT) {
                codes.display(List::Equipment, equip.code)?;
                if let Some(limit) = equip.limit {
                    codes.display(List::EquipmentFeature, limit.feature)?;
                }
            }
            assert!(template.age.0 <= template.age.1, "{}", template.key);
        }
        Ok(())
    }

    #[test]
    fn test_hospital_sites_by_name() {
        let keys_of = |category: &str, name: &str| match profile(category, name).pool {
            Pool::Keys(keys) => keys.to_vec(),
            Pool::List(list) => list.iter().map(|t| t.key).collect(),
            Pool::Hospital { poles, .. } => poles.iter().map(|p| p.label()).collect(),
        };
        assert_eq!(keys_of("355", "HDJ ENFANTS LA PASSERELLE BOURG")[0], "cmp_child_site");
        assert_eq!(keys_of("355", "HOPITAL DE JOUR ADULTES")[0], "cmp_adult_site");
        assert_eq!(keys_of("101", "APHM ANTENNE SMUR DE MARIGNANE"), ["smur"]);
        assert_eq!(keys_of("101", "CLINIQUE DENTAIRE GARANCIERE APHP")[0], "dental_care");
        assert_eq!(keys_of("101", "UNITE HOSPIT SPECIAL AMENAGEE UHSA"), ["smpr", "prison_health"]);
        assert_eq!(profile("101", "CHRU RENNES SITE ECOLE R DESNOS").count, (0, 0));
        assert!(profile("101", "CHU DE NANTES SITE LAENNEC").hospital);
        assert!(profile("365", "HOP PRIVE DE LA RESIDENCE DU PARC").hospital);
    }

    #[test]
    fn test_profile_keys_exist() -> Result<(), GenerateError> {
        let categories = crate::generate::reference::categories()?;
        for category in categories {
            let profile = profile(&category.code, "");
            if let Pool::Keys(keys) = profile.pool {
                for key in keys {
                    assert!(template(key).is_some(), "{}: {key}", category.code);
                }
            }
            for key in profile.always {
                assert!(template(key).is_some(), "{}: {key}", category.code);
            }
        }
        Ok(())
    }
}
