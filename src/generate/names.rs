//! Plausible values that the source does not carry: legal status and name of the legal
//! entities (FINESS EJ names are not in the extract), practitioner names, building names.

use rand::seq::IndexedRandom;
use rand::Rng;

use crate::generate::codes::{self, LegalStatus};
use crate::generate::reference::Establishment;

const PUBLIC_HOSPITAL_CATEGORIES: &[&str] = &["101", "106", "355", "362", "365", "292", "114", "115"];

fn has_word(name: &str, words: &[&str]) -> bool {
    name.split(|c: char| !c.is_alphanumeric()).any(|token| words.contains(&token))
}

/// Legal status of a legal entity, guessed from its first establishment: the SIREN of
/// public bodies starts with 2, the name often gives the legal form, and the category
/// tells what is usual for the sector.
pub fn legal_status(first: &Establishment, rng: &mut impl Rng) -> LegalStatus {
    let name = first.name.to_uppercase();
    let siret = first.siret.as_deref().unwrap_or("");
    if siret.starts_with('2') {
        if has_word(&name, &["CCAS"]) {
            return codes::LEGAL_CCAS;
        }
        if has_word(&name, &["CIAS"]) {
            return codes::LEGAL_CIAS;
        }
        if siret.starts_with("22") {
            return codes::LEGAL_DEPARTMENT;
        }
        if siret.starts_with("21") {
            return codes::LEGAL_COMMUNE;
        }
        if PUBLIC_HOSPITAL_CATEGORIES.contains(&first.category.as_str())
            || first.sph_code.as_deref() == Some("1")
        {
            return match first.category.as_str() {
                "101" => codes::LEGAL_EP_REGIONAL_HOSP,
                "292" => codes::LEGAL_EP_DEPARTEMENTAL_HOSP,
                _ if rng.random_bool(0.7) => codes::LEGAL_EP_COMMUNAL_HOSP,
                _ => codes::LEGAL_EP_INTERCOMMUNAL_HOSP,
            };
        }
        return *[
            codes::LEGAL_ESMS_COMMUNAL,
            codes::LEGAL_ESMS_INTERCOMMUNAL,
            codes::LEGAL_ESMS_DEPARTEMENTAL,
            codes::LEGAL_OTHER_EPA,
        ]
        .choose(rng)
        .unwrap_or(&codes::LEGAL_ESMS_COMMUNAL);
    }
    if has_word(&name, &["FONDATION"]) {
        return codes::LEGAL_FOUNDATION;
    }
    if has_word(&name, &["MUTUALISTE", "MUTUELLE", "MUTUALITE"]) {
        return codes::LEGAL_MUTUALIST;
    }
    if has_word(&name, &["ASSOCIATION", "ASS", "ADMR", "ADAPEI", "APF", "APAJH", "UDAF"]) {
        return codes::LEGAL_ASSOCIATION;
    }
    if has_word(&name, &["SELARL"]) {
        return codes::LEGAL_SELARL;
    }
    if has_word(&name, &["SELAS"]) {
        return codes::LEGAL_SELAS;
    }
    if has_word(&name, &["SARL", "EURL"]) {
        return codes::LEGAL_SARL;
    }
    if has_word(&name, &["SAS", "SASU"]) {
        return codes::LEGAL_SAS;
    }
    let roll: f64 = rng.random();
    match first.category.as_str() {
        "620" | "627" | "628" | "629" | "641" => {
            if roll < 0.5 {
                codes::LEGAL_SELARL
            } else if roll < 0.75 {
                codes::LEGAL_NATURAL_PERSON
            } else {
                codes::LEGAL_SELAS
            }
        }
        "611" | "610" | "612" => codes::LEGAL_SELAS,
        "603" => codes::LEGAL_SISA,
        "128" | "129" | "122" | "109" | "365" | "630"
            if matches!(first.sph_code.as_deref(), Some("0" | "9") | None) =>
        {
            if roll < 0.75 {
                codes::LEGAL_SAS
            } else {
                codes::LEGAL_SA
            }
        }
        "500" | "501" | "202" | "502" => {
            if roll < 0.45 {
                codes::LEGAL_ASSOCIATION
            } else if roll < 0.8 {
                codes::LEGAL_SAS
            } else if roll < 0.9 {
                codes::LEGAL_ASSOCIATION_RUP
            } else {
                codes::LEGAL_FOUNDATION
            }
        }
        "460" | "208" | "640" => {
            if roll < 0.5 {
                codes::LEGAL_ASSOCIATION
            } else if roll < 0.8 {
                codes::LEGAL_SAS
            } else {
                codes::LEGAL_SARL
            }
        }
        _ => {
            if roll < 0.85 {
                codes::LEGAL_ASSOCIATION
            } else {
                codes::LEGAL_ASSOCIATION_RUP
            }
        }
    }
}

/// Words that name the kind of establishment rather than the organisation behind it.
const KIND_WORDS: &[&str] = &[
    "EHPAD",
    "EHPA",
    "SSIAD",
    "SAAD",
    "SPASAD",
    "SAD",
    "SAVS",
    "SAMSAH",
    "SESSAD",
    "IME",
    "ITEP",
    "IEM",
    "MAS",
    "FAM",
    "ESAT",
    "CMPP",
    "CMP",
    "CATTP",
    "CAMSP",
    "CSAPA",
    "CAARUD",
    "CHRS",
    "CADA",
    "MECS",
    "FOYER",
    "RESIDENCE",
    "RES",
    "PHARMACIE",
    "PHIE",
    "LBM",
    "LABORATOIRE",
    "CENTRE",
    "CDS",
    "MSP",
    "SERVICE",
    "SCE",
    "ACCUEIL",
    "DE",
    "DU",
    "DES",
    "D",
];

fn organisation_part(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let start = words
        .iter()
        .position(|w| !KIND_WORDS.contains(&w.trim_matches(|c: char| !c.is_alphanumeric())))
        .unwrap_or(words.len());
    words[start..].join(" ")
}

/// `DE NANTES`, `D'ANGERS`: French elision before a vowel or a mute h.
fn of(commune: &str) -> String {
    let upper = commune.to_uppercase();
    match upper.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U' | 'Y' | 'H' | 'É' | 'È' | 'Ê' | 'Â' | 'Î' | 'Ô') => {
            format!("D'{upper}")
        }
        _ => format!("DE {upper}"),
    }
}

/// Name of a legal entity (FINESS EJ names are not in the extract): a single-site entity
/// takes the name of its establishment, a multi-site one the organisation part of its
/// first establishment's name with its legal form.
pub fn legal_entity_name(
    first: &Establishment,
    sites: usize,
    status: LegalStatus,
    commune: &str,
    finess_ej: &str,
) -> String {
    let name = first.name.trim();
    if status == codes::LEGAL_CCAS {
        return format!("CCAS {}", of(commune));
    }
    if status == codes::LEGAL_CIAS {
        return format!("CIAS {}", of(commune));
    }
    if status == codes::LEGAL_COMMUNE {
        return format!("COMMUNE {}", of(commune));
    }
    if status == codes::LEGAL_DEPARTMENT {
        return format!("DEPARTEMENT - {}", first.department);
    }
    if matches!(status.code, "11" | "13" | "14" | "15") {
        if let Some(rest) = name.strip_prefix("CHU ") {
            return format!("CENTRE HOSPITALIER UNIVERSITAIRE {rest}");
        }
        if let Some(rest) = name.strip_prefix("CHR ") {
            return format!("CENTRE HOSPITALIER REGIONAL {rest}");
        }
        if let Some(rest) = name.strip_prefix("CH ") {
            return format!("CENTRE HOSPITALIER {rest}");
        }
        if name.contains("CENTRE HOSPITALIER") || name.starts_with("CHS") || name.starts_with("EPSM") {
            return name.to_owned();
        }
        return format!("CENTRE HOSPITALIER {}", of(commune));
    }
    if sites <= 1 && !name.is_empty() {
        return name.to_owned();
    }
    let organisation = organisation_part(name);
    if organisation.is_empty() {
        return format!("Entité juridique {finess_ej}");
    }
    let prefix = match status.code {
        "60" | "61" if !organisation.starts_with("ASS") => "ASSOCIATION ",
        "63" if !organisation.starts_with("FONDATION") => "FONDATION ",
        "47" if !has_word(&organisation, &["MUTUALISTE", "MUTUELLE", "MUTUALITE"]) => "MUTUALITE ",
        "72" => "SARL ",
        "73" => "SA ",
        "95" => "SAS ",
        "85" => "SELARL ",
        "91" => "SELAS ",
        "80" => "SISA ",
        "19" | "21" | "22" | "26" => "EPSMS ",
        _ => "",
    };
    format!("{prefix}{organisation}")
}

const FAMILY_NAMES: &[&str] = &[
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEBVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
    "FONTAINE",
    "ROUSSEAU",
    "VINCENT",
    "MULLER",
    "LEFEVRE",
    "FAURE",
    "ANDRE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
    "FRANCOIS",
    "LEGRAND",
    "GAUTHIER",
    "GARCIA",
    "PERRIN",
    "ROBIN",
    "CLEMENT",
    "MORIN",
    "NICOLAS",
    "HENRY",
    "ROUSSEL",
    "MATHIEU",
    "GAUTIER",
    "MASSON",
    "MARCHAND",
    "DUVAL",
    "DENIS",
    "DUMONT",
    "MARIE",
    "LEMAIRE",
    "NOEL",
    "MEYER",
    "DUFOUR",
    "MEUNIER",
    "BRUN",
    "BLANCHARD",
    "GIRAUD",
    "JOLY",
    "RIVIERE",
    "LUCAS",
    "BRUNET",
    "GAILLARD",
    "BARBIER",
    "ARNAUD",
    "MARTINEZ",
    "GERARD",
    "ROCHE",
    "RENARD",
    "SCHMITT",
    "ROY",
    "LEROUX",
    "COLIN",
    "VIDAL",
    "CARON",
    "PICARD",
    "ROGER",
    "FABRE",
    "AUBERT",
    "LEMOINE",
    "RENAUD",
    "DUMAS",
    "LACROIX",
    "OLIVIER",
    "PHILIPPE",
    "BOURGEOIS",
    "PIERRE",
    "BENOIT",
    "REY",
    "LECLERC",
    "PAYET",
    "ROLLAND",
    "LE GALL",
    "LE ROUX",
    "GUILLOU",
    "TANGUY",
    "KERBRAT",
    "LE BIHAN",
    "HAMON",
    "PERON",
    "NGUYEN",
    "BENALI",
    "HADDAD",
    "TRAORE",
    "DIALLO",
];

const GIVEN_NAMES: &[(&str, bool)] = &[
    ("Marie", true),
    ("Nathalie", true),
    ("Isabelle", true),
    ("Sylvie", true),
    ("Catherine", true),
    ("Anne", true),
    ("Christine", true),
    ("Sophie", true),
    ("Claire", true),
    ("Julie", true),
    ("Camille", true),
    ("Emilie", true),
    ("Aurélie", true),
    ("Céline", true),
    ("Léa", true),
    ("Chloé", true),
    ("Manon", true),
    ("Sarah", true),
    ("Hélène", true),
    ("Laure", true),
    ("Pauline", true),
    ("Inès", true),
    ("Amina", true),
    ("Louise", true),
    ("Jean", false),
    ("Pierre", false),
    ("Michel", false),
    ("Philippe", false),
    ("Alain", false),
    ("Nicolas", false),
    ("François", false),
    ("Laurent", false),
    ("Christophe", false),
    ("Stéphane", false),
    ("Julien", false),
    ("Thomas", false),
    ("Antoine", false),
    ("Mathieu", false),
    ("Maxime", false),
    ("Guillaume", false),
    ("Yann", false),
    ("Karim", false),
    ("Hugo", false),
    ("Lucas", false),
    ("Olivier", false),
    ("Eric", false),
];

/// Family name, given name, and whether the person is a woman.
pub fn person_name(rng: &mut impl Rng) -> (&'static str, &'static str, bool) {
    let family = FAMILY_NAMES.choose(rng).copied().unwrap_or("MARTIN");
    let (given, female) = GIVEN_NAMES.choose(rng).copied().unwrap_or(("Camille", true));
    (family, given, female)
}

const BUILDINGS: &[&str] = &[
    "Bâtiment A",
    "Bâtiment B",
    "Bâtiment C",
    "Bâtiment principal",
    "Pavillon Pasteur",
    "Pavillon Laennec",
    "Pavillon des Tilleuls",
    "Aile Est",
    "Aile Ouest",
    "Aile Nord",
    "Site annexe",
    "Rez-de-jardin",
];

/// Where in the site a place is, e.g. `Bâtiment B, niveau 2`.
pub fn building(rng: &mut impl Rng) -> String {
    let building = BUILDINGS.choose(rng).copied().unwrap_or("Bâtiment principal");
    match rng.random_range(0..4) {
        0 => format!("{building}, rez-de-chaussée"),
        level => format!("{building}, niveau {level}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::util::entity_rng;

    fn establishment(name: &str, category: &str, siret: Option<&str>) -> Establishment {
        Establishment {
            finess_et: "440000000".into(),
            finess_ej: "440000001".into(),
            name: name.into(),
            category: category.into(),
            address: String::new(),
            postal_code: "44000".into(),
            city: "NANTES".into(),
            cog: "44109".into(),
            department: "44".into(),
            region: "52".into(),
            lat: None,
            lon: None,
            phone: None,
            siret: siret.map(str::to_owned),
            sph_code: None,
            date_open: None,
            date_updated: None,
        }
    }

    #[test]
    fn test_public_hospital_entity() {
        let mut rng = entity_rng(1, "test", "names");
        let first = establishment("CH DE FLEYRIAT", "355", Some("26010004500012"));
        let status = legal_status(&first, &mut rng);
        assert_eq!(status.aggregate, "1200");
        assert_eq!(
            legal_entity_name(&first, 3, status, "Viriat", "010780054"),
            "CENTRE HOSPITALIER DE FLEYRIAT"
        );
    }

    #[test]
    fn test_elision() {
        assert_eq!(of("Aix-en-Provence"), "D'AIX-EN-PROVENCE");
        assert_eq!(of("Nantes"), "DE NANTES");
        assert_eq!(of("Évreux"), "D'ÉVREUX");
    }

    #[test]
    fn test_private_entity_names() {
        let mut rng = entity_rng(1, "test", "names");
        let ehpad = establishment("EHPAD LES TILLEULS", "500", Some("77777777700012"));
        let status = codes::LEGAL_ASSOCIATION;
        assert_eq!(legal_entity_name(&ehpad, 2, status, "Nantes", "440000001"), "ASSOCIATION LES TILLEULS");
        assert_eq!(legal_entity_name(&ehpad, 1, status, "Nantes", "440000001"), "EHPAD LES TILLEULS");
        let bare = establishment("EHPAD", "500", None);
        assert_eq!(legal_entity_name(&bare, 2, status, "Nantes", "440000001"), "Entité juridique 440000001");
        let pharmacy = establishment("SELARL PHARMACIE DU PORT", "620", None);
        assert_eq!(legal_status(&pharmacy, &mut rng), codes::LEGAL_SELARL);
    }
}
