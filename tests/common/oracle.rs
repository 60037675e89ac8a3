//! An independent oracle for the integration tests: it reads the generated NDJSON corpus and
//! answers questions by walking the JSON directly, without any of the service's code.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::Value;

pub const ROR: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/";
pub const NOS: &str = "https://mos.esante.gouv.fr/NOS/";

/// `https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle`
pub fn tre(name: &str) -> String {
    format!("{NOS}{name}/FHIR/{}", name.replacen('_', "-", 1))
}

pub struct Corpus {
    pub resources: HashMap<String, Vec<Value>>,
    index: HashMap<(String, String), usize>,
}

impl Corpus {
    pub fn load(dir: &Path) -> Corpus {
        let mut resources: HashMap<String, Vec<Value>> = HashMap::new();
        for file in super::corpus_files(dir) {
            let text = std::fs::read_to_string(&file).expect("corpus file");
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let value: Value = serde_json::from_str(line).expect("corpus line");
                let resource_type = value["resourceType"].as_str().unwrap_or_default().to_owned();
                resources.entry(resource_type).or_default().push(value);
            }
        }
        let mut index = HashMap::new();
        for (resource_type, list) in &resources {
            for (position, resource) in list.iter().enumerate() {
                index.insert(
                    (resource_type.clone(), resource["id"].as_str().unwrap_or_default().to_owned()),
                    position,
                );
            }
        }
        Corpus { resources, index }
    }

    pub fn all(&self, resource_type: &str) -> &[Value] {
        self.resources.get(resource_type).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn get(&self, resource_type: &str, id: &str) -> Option<&Value> {
        let position = self.index.get(&(resource_type.to_owned(), id.to_owned()))?;
        self.resources.get(resource_type)?.get(*position)
    }

    /// Resolve a literal reference `Type/id`.
    pub fn resolve(&self, reference: &Value) -> Option<&Value> {
        let text = reference["reference"].as_str()?;
        let (resource_type, id) = text.split_once('/')?;
        self.get(resource_type, id)
    }

    /// The organization and its partOf ancestors.
    pub fn org_chain<'a>(&'a self, organization: &'a Value) -> Vec<&'a Value> {
        let mut chain = vec![organization];
        let mut current = organization;
        while let Some(parent) = self.resolve(&current["partOf"]) {
            if chain.len() > 16 {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        chain
    }

    pub fn locations_of<'a>(&'a self, service: &'a Value) -> Vec<&'a Value> {
        service["location"]
            .as_array()
            .map(|l| l.iter().filter_map(|r| self.resolve(r)).collect())
            .unwrap_or_default()
    }

    pub fn ids(&self, resource_type: &str, predicate: impl Fn(&Value) -> bool) -> BTreeSet<String> {
        self.all(resource_type)
            .iter()
            .filter(|r| predicate(r))
            .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// (system, code) pairs of an element holding CodeableConcepts (array or single).
pub fn codings(element: &Value) -> Vec<(String, String)> {
    let concepts: Vec<&Value> = match element {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for concept in concepts {
        let list: Vec<&Value> = match &concept["coding"] {
            Value::Array(codings) => codings.iter().collect(),
            _ if concept.get("code").is_some() => vec![concept],
            _ => Vec::new(),
        };
        for coding in list {
            out.push((
                coding["system"].as_str().unwrap_or_default().to_owned(),
                coding["code"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

pub fn has_code(element: &Value, system: &str, code: &str) -> bool {
    codings(element).iter().any(|(s, c)| s == system && c == code)
}

/// Extensions of `value` with this url (relative sub-extension names or absolute URLs).
pub fn extensions<'a>(value: &'a Value, url: &str) -> Vec<&'a Value> {
    value["extension"].as_array().map(|e| e.iter().filter(|x| x["url"] == url).collect()).unwrap_or_default()
}

pub fn ror_extensions<'a>(value: &'a Value, name: &str) -> Vec<&'a Value> {
    extensions(value, &format!("{ROR}{name}"))
}

pub fn identifier_values(resource: &Value) -> Vec<String> {
    resource["identifier"]
        .as_array()
        .map(|ids| ids.iter().filter_map(|i| i["value"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

pub fn region_tag(resource: &Value) -> Option<String> {
    resource["meta"]["tag"].as_array()?.iter().find_map(|t| t["code"].as_str().map(str::to_owned))
}

pub fn last_updated(resource: &Value) -> String {
    resource["meta"]["lastUpdated"].as_str().unwrap_or_default().to_owned()
}

/// Milliseconds since the epoch of an ISO instant (the oracle's own tiny parser).
pub fn instant_ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).unwrap_or(i64::MIN)
}

pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6371.0088;
    let (la1, lo1, la2, lo2) = (a.0.to_radians(), a.1.to_radians(), b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2) + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

pub fn position(location: &Value) -> Option<(f64, f64)> {
    Some((location["position"]["latitude"].as_f64()?, location["position"]["longitude"].as_f64()?))
}

/// Words of a text, lowercased with accents removed (for the full-text oracle).
pub fn folded(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// Centre of a commune from the shared reference data (the oracle reads the CSV itself).
pub fn commune_centre(cog: &str) -> (f64, f64) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/reference/communes.csv.gz");
    let file = std::fs::File::open(path).expect("communes.csv.gz");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(file), &mut text)
        .expect("gunzip communes");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let (cog_column, lat_column, lon_column) = (column("cog"), column("lat"), column("lon"));
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.get(cog_column) == Some(&cog) {
            return (fields[lat_column].parse().unwrap(), fields[lon_column].parse().unwrap());
        }
    }
    panic!("commune {cog} not found")
}
