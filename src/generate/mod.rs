//! Deterministic generator of a ROR-profile corpus (FHIR R4 NDJSON) built on the real
//! FINESS establishments and the real commune table.
//!
//! `generate` writes `Organization.ndjson`, `Location.ndjson`, `HealthcareService.ndjson`,
//! `PractitionerRole.ndjson` and `Practitioner.ndjson`. The same seed and scale always give
//! byte-identical files: all randomness comes from ChaCha8 streams derived from the seed and
//! stable keys, and resources are written in FINESS order, never in hash-map order.
//!
//! Beyond the plausible offers drawn per establishment category, the corpus always carries
//! the data that answers each use-case request of SPEC §3 (see `scenarios`).

mod catalog;
mod codes;
mod emit;
mod error;
mod fhir;
mod names;
pub mod reference;
mod scenarios;
mod util;
mod writer;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use indicatif::{ProgressBar, ProgressStyle};

pub use crate::generate::error::GenerateError;
use crate::generate::reference::Establishment;

/// How much of France the corpus covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// About 1,500 establishments of 13 departments (all their hospitals, a sample of the
    /// rest): small enough to generate and load at first start.
    Demo,
    /// Every establishment of Pays de la Loire (region 52).
    Region,
    /// Every establishment.
    National,
}

impl FromStr for Scale {
    type Err = GenerateError;

    fn from_str(text: &str) -> Result<Scale, GenerateError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "demo" => Ok(Scale::Demo),
            "region" => Ok(Scale::Region),
            "national" => Ok(Scale::National),
            _ => Err(GenerateError::UnknownScale(text.to_owned())),
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scale::Demo => "demo",
            Scale::Region => "region",
            Scale::National => "national",
        })
    }
}

/// What to generate and where.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub scale: Scale,
    pub seed: u64,
    /// Created if missing; existing corpus files are overwritten.
    pub out_dir: PathBuf,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateSummary {
    /// Number of resources per resource type, in the order of `files`.
    pub counts: Vec<(String, u64)>,
    pub files: Vec<PathBuf>,
}

/// Departments of the demo corpus: the ones named by the use-case requests, plus Paris
/// and its neighbours.
const DEMO_DEPARTMENTS: &[&str] =
    &["44", "71", "60", "76", "18", "13", "29", "35", "22", "56", "75", "92", "78"];
/// Establishments wanted in the demo corpus.
const DEMO_TARGET: usize = 1_500;
/// Region of the region scale (Pays de la Loire).
const REGION_CODE: &str = "52";

/// Generates the corpus described by `options`.
pub fn generate(options: &GenerateOptions) -> Result<GenerateSummary, GenerateError> {
    let establishments = reference::establishments()?;
    let communes = reference::commune_table()?;
    let codes = codes::Codes::get()?;
    let anchors = scenarios::anchors(establishments, communes)?;
    let selected = select(options.scale, options.seed, establishments, &anchors);

    let mut anchors_by_establishment: HashMap<&str, Vec<&scenarios::Anchor>> = HashMap::new();
    for anchor in &anchors {
        anchors_by_establishment.entry(anchor.finess_et.as_str()).or_default().push(anchor);
    }
    let mut legal_entities: HashMap<&'static str, (usize, usize)> = HashMap::new();
    for (index, establishment) in establishments.iter().enumerate() {
        legal_entities.entry(establishment.finess_ej.as_str()).or_insert((index, 0)).1 += 1;
    }
    let mut commune_index = HashMap::with_capacity(communes.len());
    let mut communes_by_department: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for (index, commune) in communes.iter().enumerate() {
        commune_index.insert(commune.cog.as_str(), index);
        if commune.parent.is_none() {
            communes_by_department.entry(commune.department.as_str()).or_default().push(index);
        }
    }
    let context = emit::Context {
        seed: options.seed,
        codes,
        communes,
        commune_index,
        communes_by_department,
        legal_entities,
        establishments,
        anchors: anchors_by_establishment,
        demo: options.scale == Scale::Demo,
    };

    let bar = if options.progress {
        let bar = ProgressBar::new(selected.len() as u64);
        let style = ProgressStyle::with_template(
            "{spinner} generating {msg} corpus [{bar:40}] {pos}/{len} establishments ({elapsed}, eta {eta})",
        )
        .map(|style| style.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(options.scale.to_string());
        bar
    } else {
        ProgressBar::hidden()
    };

    let mut output = writer::Output::create(&options.out_dir)?;
    {
        let mut emitter = emit::Emitter::new(&context, &mut output);
        for (done, establishment) in selected.iter().enumerate() {
            emitter.establishment(establishment)?;
            if done % 256 == 255 {
                bar.set_position(done as u64 + 1);
            }
        }
    }
    bar.finish_with_message(format!(
        "{} ({} organizations)",
        options.scale,
        output.count(writer::Kind::Organization)
    ));
    let (counts, files) = output.finish()?;
    Ok(GenerateSummary { counts, files })
}

/// The establishments of a scale, in FINESS order. Scenario anchors are always included.
fn select(
    scale: Scale,
    seed: u64,
    establishments: &'static [Establishment],
    anchors: &[scenarios::Anchor],
) -> Vec<&'static Establishment> {
    let anchored: HashSet<&str> = anchors.iter().map(|a| a.finess_et.as_str()).collect();
    let mut selected: Vec<&'static Establishment> = match scale {
        Scale::National => establishments.iter().collect(),
        Scale::Region => establishments
            .iter()
            .filter(|e| e.region == REGION_CODE || anchored.contains(e.finess_et.as_str()))
            .collect(),
        Scale::Demo => {
            let in_scope: Vec<&'static Establishment> =
                establishments.iter().filter(|e| DEMO_DEPARTMENTS.contains(&e.department.as_str())).collect();
            let always = |e: &Establishment| {
                catalog::DEMO_KEPT_CATEGORIES.contains(&e.category.as_str())
                    || anchored.contains(e.finess_et.as_str())
            };
            let kept = in_scope.iter().filter(|e| always(e)).count();
            let others = in_scope.len() - kept;
            let rate =
                if others == 0 { 0.0 } else { DEMO_TARGET.saturating_sub(kept) as f64 / others as f64 };
            in_scope
                .into_iter()
                .filter(|e| always(e) || util::unit_hash(seed, "demo", &e.finess_et) < rate)
                .collect()
        }
    };
    selected.sort_by(|a, b| a.finess_et.cmp(&b.finess_et));
    selected
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::Value;

    use super::*;
    use crate::generate::util::haversine_km;

    const R211: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle";
    const R244: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R244-CategorieOrganisation/FHIR/TRE-R244-CategorieOrganisation";
    const R338: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R338-ModaliteAccueil/FHIR/TRE-R338-ModaliteAccueil";
    const R66: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement";
    const R210: &str = "https://mos.esante.gouv.fr/NOS/TRE_R210-ActeSpecifique/FHIR/TRE-R210-ActeSpecifique";
    const R213: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R213-ModePriseEnCharge/FHIR/TRE-R213-ModePriseEnCharge";
    const R245: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R245-SpecialisationDePriseEnCharge/FHIR/TRE-R245-SpecialisationDePriseEnCharge";
    const R13: &str = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM";
    const R243: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R243-CompetenceSpecifique/FHIR/TRE-R243-CompetenceSpecifique";
    const R30: &str = "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM";
    const R329: &str = "https://mos.esante.gouv.fr/NOS/TRE_R329-NatureCapacite/FHIR/TRE-R329-NatureCapacite";
    const R330: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R330-TypeStatutCapacite/FHIR/TRE-R330-TypeStatutCapacite";
    const R331: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R331-TemporaliteCapacite/FHIR/TRE-R331-TemporaliteCapacite";
    const R332: &str = "https://mos.esante.gouv.fr/NOS/TRE_R332-GenreCapacite/FHIR/TRE-R332-GenreCapacite";
    const R333: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R333-TypeFermetureCapacite/FHIR/TRE-R333-TypeFermetureCapacite";
    const R212: &str = "https://mos.esante.gouv.fr/NOS/TRE_R212-Equipement/FHIR/TRE-R212-Equipement";
    const R340: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R340-TypeCaracteristiqueEquipement/FHIR/TRE-R340-TypeCaracteristiqueEquipement";
    const R246: &str = "https://mos.esante.gouv.fr/NOS/TRE_R246-TypeTarif/FHIR/TRE-R246-TypeTarif";
    const R242: &str = "https://mos.esante.gouv.fr/NOS/TRE_R242-TypeHabitation/FHIR/TRE-R242-TypeHabitation";
    const R250: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R250-ConditionTarifaire/FHIR/TRE-R250-ConditionTarifaire";
    const R237: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R237-GroupeTarifaireDependance/FHIR/TRE-R237-GroupeTarifaireDependance";
    const R240: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R240-TemporaliteAccueil/FHIR/TRE-R240-TemporaliteAccueil";
    const EXT: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/";

    static RUN: AtomicUsize = AtomicUsize::new(0);

    fn scratch_dir(label: &str) -> PathBuf {
        let run = RUN.fetch_add(1, Ordering::SeqCst);
        std::env::temp_dir().join(format!("ror-generate-{label}-{}-{run}", std::process::id()))
    }

    fn run(scale: Scale, seed: u64, label: &str) -> Result<(PathBuf, GenerateSummary), GenerateError> {
        let out_dir = scratch_dir(label);
        let summary = generate(&GenerateOptions { scale, seed, out_dir: out_dir.clone(), progress: false })?;
        Ok((out_dir, summary))
    }

    /// The generated resources, by type and id.
    struct Corpus {
        by_type: HashMap<String, Vec<Value>>,
        by_ref: HashMap<String, Value>,
    }

    impl Corpus {
        fn load(dir: &Path) -> Corpus {
            let mut by_type: HashMap<String, Vec<Value>> = HashMap::new();
            let mut by_ref = HashMap::new();
            for kind in writer::Kind::ALL {
                let path = dir.join(format!("{}.ndjson", kind.resource_type()));
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for line in text.lines() {
                    let resource: Value = serde_json::from_str(line).unwrap_or(Value::Null);
                    assert_eq!(resource["resourceType"], kind.resource_type(), "{line}");
                    let key = format!("{}/{}", kind.resource_type(), resource["id"].as_str().unwrap_or(""));
                    assert!(by_ref.insert(key.clone(), resource.clone()).is_none(), "duplicate {key}");
                    by_type.entry(kind.resource_type().to_owned()).or_default().push(resource);
                }
            }
            Corpus { by_type, by_ref }
        }

        fn all(&self, resource_type: &str) -> &[Value] {
            self.by_type.get(resource_type).map(Vec::as_slice).unwrap_or(&[])
        }

        fn get(&self, reference: &Value) -> Option<&Value> {
            reference["reference"].as_str().and_then(|r| self.by_ref.get(r))
        }

        fn locations<'a>(&'a self, hs: &'a Value) -> Vec<&'a Value> {
            hs["location"]
                .as_array()
                .map(|refs| refs.iter().filter_map(|r| self.get(r)).collect())
                .unwrap_or_default()
        }

        /// The providing organisation and all its ancestors (`organization.X:above`).
        fn organisations<'a>(&'a self, hs: &'a Value) -> Vec<&'a Value> {
            let mut chain = Vec::new();
            let mut next = self.get(&hs["providedBy"]);
            while let Some(organisation) = next {
                chain.push(organisation);
                next = self.get(&organisation["partOf"]);
            }
            chain
        }
    }

    fn has_coding(concepts: &Value, system: &str, code: &str) -> bool {
        concepts.as_array().is_some_and(|list| {
            list.iter().any(|concept| {
                concept["coding"]
                    .as_array()
                    .is_some_and(|codings| codings.iter().any(|c| c["system"] == system && c["code"] == code))
            })
        })
    }

    fn extensions<'a>(resource: &'a Value, name: &str) -> Vec<&'a Value> {
        let url = format!("{EXT}{name}");
        resource["extension"]
            .as_array()
            .map(|list| list.iter().filter(|e| e["url"] == url).collect())
            .unwrap_or_default()
    }

    fn sub<'a>(extension: &'a Value, url: &str) -> Option<&'a Value> {
        extension["extension"].as_array().and_then(|parts| parts.iter().find(|p| p["url"] == url))
    }

    fn sub_code(extension: &Value, url: &str, system: &str) -> Option<String> {
        let coding = &sub(extension, url)?["valueCodeableConcept"]["coding"][0];
        (coding["system"] == system).then(|| coding["code"].as_str().unwrap_or("").to_owned())
    }

    fn commune_cog(location: &Value) -> Option<&str> {
        extensions(location, "ror-commune-cog")
            .first()
            .and_then(|e| e["valueCodeableConcept"]["coding"][0]["code"].as_str())
    }

    fn postal_code(location: &Value) -> &str {
        location["address"]["postalCode"].as_str().unwrap_or("")
    }

    fn count_matching(corpus: &Corpus, predicate: impl Fn(&Value) -> bool) -> usize {
        corpus.all("HealthcareService").iter().filter(|hs| predicate(hs)).count()
    }

    #[test]
    fn test_scale_parsing() {
        assert_eq!("demo".parse::<Scale>().ok(), Some(Scale::Demo));
        assert_eq!("National".parse::<Scale>().ok(), Some(Scale::National));
        assert_eq!(Scale::Region.to_string(), "region");
        assert!("world".parse::<Scale>().is_err());
    }

    #[test]
    fn test_demo_is_deterministic() -> Result<(), GenerateError> {
        let (first_dir, first) = run(Scale::Demo, 42, "det-a")?;
        let (second_dir, second) = run(Scale::Demo, 42, "det-b")?;
        assert_eq!(first.counts, second.counts);
        for (a, b) in first.files.iter().zip(&second.files) {
            let bytes_a = std::fs::read(a).map_err(|source| GenerateError::Io { path: a.clone(), source })?;
            let bytes_b = std::fs::read(b).map_err(|source| GenerateError::Io { path: b.clone(), source })?;
            assert!(bytes_a == bytes_b, "{} differs between two runs", a.display());
        }
        for dir in [first_dir, second_dir] {
            let _ = std::fs::remove_dir_all(dir);
        }
        // Another seed samples other establishments (and draws everything else anew).
        let all = reference::establishments()?;
        let anchors = scenarios::anchors(all, reference::commune_table()?)?;
        let ids =
            |seed| select(Scale::Demo, seed, all, &anchors).iter().map(|e| &e.finess_et).collect::<Vec<_>>();
        assert_ne!(ids(42), ids(43));
        Ok(())
    }

    #[test]
    fn test_demo_corpus() -> Result<(), GenerateError> {
        let (dir, summary) = run(Scale::Demo, 7, "demo")?;
        let corpus = Corpus::load(&dir);
        let _ = std::fs::remove_dir_all(&dir);

        // Counts.
        let count = |name: &str| summary.counts.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c);
        assert_eq!(
            summary.counts.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["Organization", "Location", "HealthcareService", "PractitionerRole", "Practitioner"]
        );
        let egs = corpus
            .all("Organization")
            .iter()
            .filter(|o| o["id"].as_str().is_some_and(|id| id.starts_with("eg-")))
            .count();
        assert!((1_300..=1_700).contains(&egs), "{egs} establishments");
        assert!((3_000..=12_000).contains(&count("HealthcareService")), "{:?}", summary.counts);
        assert!((3_000..=12_000).contains(&count("Location")), "{:?}", summary.counts);
        assert!(count("PractitionerRole") > 100 && count("Practitioner") > 100, "{:?}", summary.counts);
        let total: u64 = summary.counts.iter().map(|(_, c)| c).sum();
        assert!(total < 30_000, "demo too large: {total}");
        for (name, n) in &summary.counts {
            assert_eq!(corpus.all(name).len() as u64, *n, "{name}");
        }

        // Shapes.
        let communes = reference::commune_table()?;
        let cogs: HashSet<&str> = communes.iter().map(|c| c.cog.as_str()).collect();
        for location in corpus.all("Location") {
            let cog = commune_cog(location).unwrap_or("");
            assert!(cogs.contains(cog), "{}: commune-cog {cog:?}", location["id"]);
            assert!(
                location["position"]["latitude"].is_f64() && location["position"]["longitude"].is_f64(),
                "{}",
                location["id"]
            );
            assert!(corpus.get(&location["managingOrganization"]).is_some(), "{}", location["id"]);
            assert!(location["identifier"][0]["value"].as_str().is_some_and(|v| v.contains('/')));
        }
        for resource in corpus.by_ref.values() {
            let tag = &resource["meta"]["tag"][0];
            assert_eq!(tag["system"], R30, "{}", resource["id"]);
            assert!(
                resource["meta"]["lastUpdated"].as_str().is_some_and(|t| t.len() == 29),
                "{}",
                resource["id"]
            );
            check_references(&corpus, resource);
        }
        for hs in corpus.all("HealthcareService") {
            assert!(!extensions(hs, "ror-healthcareservice-sensitive-unit").is_empty(), "{}", hs["id"]);
            assert!(!extensions(hs, "ror-healthcareservice-patient-type").is_empty(), "{}", hs["id"]);
            assert!(!extensions(hs, "ror-meta-creation-date").is_empty(), "{}", hs["id"]);
            assert!(has_coding(
                &hs["specialty"],
                R211,
                hs["specialty"][0]["coding"][0]["code"].as_str().unwrap_or("")
            ));
            assert!(hs["characteristic"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["coding"][0]["system"] == R213)));
            assert!(!corpus.locations(hs).is_empty(), "{}", hs["id"]);
            assert!(hs["identifier"][0]["value"].as_str().is_some_and(|v| v.contains('/')));
        }

        check_scenarios(&corpus)?;
        Ok(())
    }

    /// Every `reference` anywhere in the resource points to a generated resource.
    fn check_references(corpus: &Corpus, value: &Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("reference") {
                    assert!(corpus.by_ref.contains_key(target), "dangling reference {target}");
                }
                for child in map.values() {
                    check_references(corpus, child);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| check_references(corpus, item)),
            _ => {}
        }
    }

    fn capacity_records(location: &Value) -> Vec<&Value> {
        extensions(location, "ror-location-supported-capacity")
    }

    fn nb(record: &Value) -> i64 {
        sub(record, "nbCapacity").and_then(|v| v["valueInteger"].as_i64()).unwrap_or(0)
    }

    fn prices(organisation: &Value) -> Vec<&Value> {
        extensions(organisation, "ror-organization-price")
    }

    fn check_scenarios(corpus: &Corpus) -> Result<(), GenerateError> {
        let communes = reference::commune_table()?;
        let saint_herblain = communes
            .iter()
            .find(|c| c.cog == "44162")
            .ok_or_else(|| GenerateError::UnknownCommune("44162".into()))?;
        let locations = corpus.all("Location");
        let spec = |hs: &Value, code: &str| has_coding(&hs["specialty"], R211, code);
        let cat = |hs: &Value, code: &str| has_coding(&hs["category"], R244, code);
        let chr = |hs: &Value, system: &str, code: &str| has_coding(&hs["characteristic"], system, code);

        let mut scenarios: Vec<(&str, usize)> = vec![
            ("UC1 _tag=52", locations.iter().filter(|l| l["meta"]["tag"][0]["code"] == "52").count()),
            (
                "UC1 address-postalcode=35,22,29,56",
                locations
                    .iter()
                    .filter(|l| ["35", "22", "29", "56"].iter().any(|d| postal_code(l).starts_with(d)))
                    .count(),
            ),
            (
                "UC1 identifier=52/…",
                locations
                    .iter()
                    .filter(|l| l["identifier"][0]["value"].as_str().is_some_and(|v| v.starts_with("52/")))
                    .count(),
            ),
            (
                "UC1 _lastUpdated=ge2023-08-02",
                locations
                    .iter()
                    .filter(|l| l["meta"]["lastUpdated"].as_str().is_some_and(|t| t >= "2023-08-02"))
                    .count(),
            ),
            ("UC3 S1 specialty 227", count_matching(corpus, |hs| spec(hs, "227"))),
            ("UC3 S2 specialty 005 or 481", count_matching(corpus, |hs| spec(hs, "005") || spec(hs, "481"))),
            ("UC3 S3 ITEP + R338|01", count_matching(corpus, |hs| cat(hs, "50") && chr(hs, R338, "01"))),
            (
                "UC3 S4 (102 or 233) and age 35",
                count_matching(corpus, |hs| {
                    let range = extensions(hs, "ror-healthcareservice-patient-type")
                        .first()
                        .and_then(|e| sub(e, "ageRange"))
                        .map(|r| {
                            (
                                r["valueRange"]["low"]["value"].as_i64(),
                                r["valueRange"]["high"]["value"].as_i64(),
                            )
                        });
                    (cat(hs, "102") || spec(hs, "233"))
                        && matches!(range, Some((Some(low), Some(high))) if low <= 35 && high >= 35)
                }),
            ),
            (
                "UC3 S5 (EG 189 above or 62) + R210|0626",
                count_matching(corpus, |hs| {
                    (corpus.organisations(hs).iter().any(|o| has_coding(&o["type"], R66, "189"))
                        || cat(hs, "62"))
                        && chr(hs, R210, "0626")
                }),
            ),
            (
                "UC3 S6 specialty 013 within 15 km of 44162 and of the point",
                count_matching(corpus, |hs| {
                    spec(hs, "013")
                        && corpus.locations(hs).iter().any(|l| {
                            let (lat, lon) = (
                                l["position"]["latitude"].as_f64().unwrap_or(0.0),
                                l["position"]["longitude"].as_f64().unwrap_or(0.0),
                            );
                            haversine_km(lat, lon, saint_herblain.lat, saint_herblain.lon) <= 15.0
                                && haversine_km(lat, lon, 47.21827323906432, -1.6369631507460436) <= 15.0
                        })
                }),
            ),
            (
                "UC3 S7 zone 29151 + 293 + category 30",
                count_matching(corpus, |hs| {
                    spec(hs, "293")
                        && cat(hs, "30")
                        && extensions(hs, "ror-territorial-division")
                            .iter()
                            .any(|e| sub_code(e, "codeTerritorialDivision", R13).as_deref() == Some("29151"))
                }),
            ),
            (
                "UC3 S8 postal 71 + category 21 + R213|46 + R245|24",
                count_matching(corpus, |hs| {
                    corpus.locations(hs).iter().any(|l| postal_code(l).starts_with("71"))
                        && cat(hs, "21")
                        && chr(hs, R213, "46")
                        && chr(hs, R245, "24")
                }),
            ),
            (
                "UC3 S9 postal 60000|76620 + 017 + R210|0529",
                count_matching(corpus, |hs| {
                    corpus.locations(hs).iter().any(|l| ["60000", "76620"].contains(&postal_code(l)))
                        && spec(hs, "017")
                        && chr(hs, R210, "0529")
                }),
            ),
            (
                "UC3 S10 commune-cog 18000|13013 + 437 + R213|32",
                count_matching(corpus, |hs| {
                    corpus.locations(hs).iter().any(|l| matches!(commune_cog(l), Some("18000" | "13013")))
                        && spec(hs, "437")
                        && chr(hs, R213, "32")
                }),
            ),
            ("UC3 S11 R243|05", count_matching(corpus, |hs| chr(hs, R243, "05"))),
            (
                "UC3 S13 offers with a practitioner role",
                corpus
                    .all("PractitionerRole")
                    .iter()
                    .filter(|role| {
                        corpus.get(&role["healthcareService"][0]).is_some()
                            && corpus.get(&role["practitioner"]).is_some_and(|p| {
                                p["identifier"][0]["system"] == "urn:oid:1.2.250.1.71.4.2.1"
                                    && p["identifier"][0]["value"]
                                        .as_str()
                                        .is_some_and(|v| v.len() == 11 && v.starts_with('8'))
                            })
                    })
                    .count(),
            ),
            (
                "UC4 S1 356 + available current female bed",
                count_matching(corpus, |hs| {
                    spec(hs, "356")
                        && corpus.locations(hs).iter().any(|l| {
                            capacity_records(l).iter().any(|r| {
                                sub_code(r, "capacityType", R329).as_deref() == Some("01")
                                    && sub_code(r, "genderCapacityAvailable", R332).as_deref() == Some("01")
                                    && sub_code(r, "temporalityCapacity", R331).as_deref() == Some("01")
                                    && sub_code(r, "capacityStatus", R330).as_deref() == Some("02")
                                    && nb(r) > 0
                            })
                        })
                }),
            ),
            (
                "UC4 S2 391 + closed re-openable bed",
                count_matching(corpus, |hs| {
                    spec(hs, "391")
                        && corpus.locations(hs).iter().any(|l| {
                            capacity_records(l).iter().any(|r| {
                                sub_code(r, "capacityType", R329).as_deref() == Some("01")
                                    && sub_code(r, "capacityClosingType", R333).as_deref() == Some("01")
                                    && sub_code(r, "capacityStatus", R330).as_deref() == Some("05")
                                    && nb(r) > 0
                            })
                        })
                }),
            ),
            (
                "UC4 S3 025 + equipment 088 limit >= 200 kg",
                count_matching(corpus, |hs| {
                    spec(hs, "025")
                        && corpus.locations(hs).iter().any(|l| {
                            extensions(l, "ror-location-equipment").iter().any(|e| {
                                sub_code(e, "equipmentType", R212).as_deref() == Some("088")
                                    && sub(e, &format!("{EXT}ror-location-equipment-limit")).is_some_and(
                                        |limit| {
                                            sub_code(limit, "equipmentFeature", R340).as_deref()
                                                == Some("001")
                                                && sub(limit, "limitValue").is_some_and(|q| {
                                                    q["valueQuantity"]["value"].as_f64().unwrap_or(0.0)
                                                        >= 200.0
                                                        && q["valueQuantity"]["system"]
                                                            == "http://unitsofmeasure.org"
                                                        && q["valueQuantity"]["code"] == "kg"
                                                })
                                        },
                                    )
                            })
                        })
                }),
            ),
            (
                "UC5 S1 price type 02 with an amount",
                count_matching(corpus, |hs| {
                    corpus.organisations(hs).iter().any(|o| {
                        prices(o).iter().any(|p| {
                            sub_code(p, "priceType", R246).as_deref() == Some("02")
                                && sub(p, "amount").is_some_and(|a| {
                                    a["valueMoney"]["value"].is_f64() && a["valueMoney"]["currency"] == "EUR"
                                })
                        })
                    })
                }),
            ),
            (
                "UC5 S2 price 02 + F1 + ASH",
                count_matching(corpus, |hs| {
                    corpus.organisations(hs).iter().any(|o| {
                        prices(o).iter().any(|p| {
                            sub_code(p, "priceType", R246).as_deref() == Some("02")
                                && sub_code(p, "residentialType", R242).as_deref() == Some("03")
                                && sub_code(p, "specialPrice", R250).as_deref() == Some("03")
                        })
                    })
                }),
            ),
            (
                "UC5 S3 price 03 + GIR 3-4 + permanent",
                count_matching(corpus, |hs| {
                    corpus.organisations(hs).iter().any(|o| {
                        prices(o).iter().any(|p| {
                            sub_code(p, "priceType", R246).as_deref() == Some("03")
                                && sub_code(p, "dependencyLevel", R237).as_deref() == Some("02")
                                && sub_code(p, "welcomeType", R240).as_deref() == Some("02")
                        })
                    })
                }),
            ),
        ];
        for word in ["cardiologie", "cardiologique", "cardio-vasculaire"] {
            let n = count_matching(corpus, |hs| {
                hs["name"].as_str().is_some_and(|n| n.to_lowercase().contains(word))
            });
            scenarios.push((word, n));
        }
        let empty: Vec<&str> = scenarios.iter().filter(|(_, n)| *n == 0).map(|(name, _)| *name).collect();
        assert!(empty.is_empty(), "scenarios without answer: {empty:?}\nall: {scenarios:#?}");
        Ok(())
    }

    /// The region corpus (Pays de la Loire plus the scenario anchors) answers every
    /// scenario too. About 70,000 resources: run with `--ignored`, preferably in release.
    #[test]
    #[ignore]
    fn test_region_corpus_scenarios() -> Result<(), GenerateError> {
        let (dir, summary) = run(Scale::Region, 7, "region")?;
        let corpus = Corpus::load(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        let hs = summary.counts.iter().find(|(n, _)| n == "HealthcareService").map_or(0, |(_, c)| *c);
        assert!(hs > 15_000, "{:?}", summary.counts);
        check_scenarios(&corpus)
    }

    #[test]
    fn test_region_scale_selection() -> Result<(), GenerateError> {
        let all = reference::establishments()?;
        let anchors = scenarios::anchors(all, reference::commune_table()?)?;
        let region = select(Scale::Region, 1, all, &anchors);
        let in_region = region.iter().filter(|e| e.region == "52").count();
        assert_eq!(in_region, all.iter().filter(|e| e.region == "52").count());
        assert!(region.len() - in_region <= anchors.len());
        assert!(region.windows(2).all(|w| w[0].finess_et < w[1].finess_et));
        let national = select(Scale::National, 1, all, &anchors);
        assert_eq!(national.len(), all.len());
        Ok(())
    }
}
