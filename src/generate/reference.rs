//! Real reference data embedded in the binary: FINESS establishments, communes (COG 2026),
//! departments, regions and FINESS categories. Sources and licences are in
//! `fixtures/reference/README.md`.
//!
//! Each table is decoded once and kept for the life of the process, because the server
//! needs the commune table on every `near-insee-code` search and the generator walks the
//! establishment table several times.

// This module is the reference-data API of the whole crate (the server reads communes,
// departments and regions from it); items a given build does not call yet must not fail it.
#![allow(dead_code)]

use std::io::Read;
use std::sync::OnceLock;

use flate2::read::GzDecoder;
use serde::Deserialize;

use crate::generate::error::GenerateError;

const ESTABLISHMENTS_GZ: &[u8] = include_bytes!("../../fixtures/reference/establishments.csv.gz");
const COMMUNES_GZ: &[u8] = include_bytes!("../../fixtures/reference/communes.csv.gz");
const DEPARTMENTS_CSV: &str = include_str!("../../fixtures/reference/departments.csv");
const REGIONS_CSV: &str = include_str!("../../fixtures/reference/regions.csv");
const CATEGORIES_CSV: &str = include_str!("../../fixtures/reference/categories.csv");

/// A commune (COG 2026) or a municipal arrondissement of Paris, Lyon or Marseille.
#[derive(Debug, Clone, PartialEq)]
pub struct Commune {
    /// INSEE code (COG), e.g. `44162` for Saint-Herblain.
    pub cog: String,
    pub name: String,
    /// La Poste postal codes of the commune; the parent rows of Paris, Lyon and Marseille
    /// list every code of their arrondissements.
    pub postal_codes: Vec<String>,
    pub department: String,
    pub region: String,
    /// Centre of the commune (centroid of the IGN contour), WGS84.
    pub lat: f64,
    pub lon: f64,
    /// INSEE legal population; missing for the TAAF districts and Clipperton.
    pub population: Option<u64>,
    /// COG of the parent commune for the 45 municipal arrondissements (`75056`, `69123`,
    /// `13055`), `None` for ordinary communes.
    pub parent: Option<String>,
}

/// A department, or one of the overseas collectivities (COM).
#[derive(Debug, Clone, PartialEq)]
pub struct Department {
    pub code: String,
    pub name: String,
    pub region: String,
}

/// A region, or one of the overseas collectivities (COM).
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub code: String,
    pub name: String,
}

/// A FINESS establishment category with its aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub code: String,
    pub label: String,
    pub agg_code: String,
    pub agg_label: String,
    pub n_establishments: u64,
}

/// A FINESS geographic establishment (ET), extract of 2021-01-08.
#[derive(Debug, Clone, PartialEq)]
pub struct Establishment {
    pub finess_et: String,
    pub finess_ej: String,
    pub name: String,
    /// FINESS category code (`categetab`), e.g. `355` Centre hospitalier, `500` EHPAD.
    pub category: String,
    /// Street line and lieu-dit/BP line joined with ", ".
    pub address: String,
    /// Postal code of the FINESS `ligneacheminement` (may be a CEDEX code).
    pub postal_code: String,
    pub city: String,
    /// COG of the commune, at commune level (Paris = 75056).
    pub cog: String,
    pub department: String,
    pub region: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub phone: Option<String>,
    pub siret: Option<String>,
    /// Public-service-hospital status (`1` public, `6` ESPIC, …), health establishments only.
    pub sph_code: Option<String>,
    pub date_open: Option<String>,
    pub date_updated: Option<String>,
}

#[derive(Deserialize)]
struct CommuneRow {
    cog: String,
    name: String,
    postal_codes: String,
    department: String,
    region: String,
    lat: f64,
    lon: f64,
    population: String,
    parent: String,
}

#[derive(Deserialize)]
struct DepartmentRow {
    code: String,
    name: String,
    region: String,
}

#[derive(Deserialize)]
struct RegionRow {
    code: String,
    name: String,
}

#[derive(Deserialize)]
struct CategoryRow {
    category_code: String,
    category_label: String,
    category_agg_code: String,
    category_agg_label: String,
    n_establishments: u64,
}

#[derive(Deserialize)]
struct EstablishmentRow {
    finess_et: String,
    finess_ej: String,
    name: String,
    category_code: String,
    address: String,
    postal_code: String,
    city: String,
    cog: String,
    department: String,
    region: String,
    lat: String,
    lon: String,
    phone: String,
    siret: String,
    sph_code: String,
    date_open: String,
    date_updated: String,
}

type Cached<T> = OnceLock<Result<Vec<T>, String>>;

static COMMUNES: Cached<Commune> = OnceLock::new();
static DEPARTMENTS: Cached<Department> = OnceLock::new();
static REGIONS: Cached<Region> = OnceLock::new();
static CATEGORIES: Cached<Category> = OnceLock::new();
static ESTABLISHMENTS: Cached<Establishment> = OnceLock::new();

fn cached<T>(
    cell: &'static Cached<T>,
    table: &'static str,
    load: fn() -> Result<Vec<T>, String>,
) -> Result<&'static [T], GenerateError> {
    match cell.get_or_init(load) {
        Ok(rows) => Ok(rows.as_slice()),
        Err(detail) => Err(GenerateError::EmbeddedData { table, detail: detail.clone() }),
    }
}

/// Every commune and municipal arrondissement (35,014 rows), in COG order.
pub fn communes() -> Result<Vec<Commune>, GenerateError> {
    commune_table().map(<[Commune]>::to_vec)
}

/// Same rows as [`communes`], borrowed from the process-wide cache.
pub fn commune_table() -> Result<&'static [Commune], GenerateError> {
    cached(&COMMUNES, "communes.csv.gz", load_communes)
}

/// The 101 departments and 8 overseas collectivities.
pub fn departments() -> Result<Vec<Department>, GenerateError> {
    department_table().map(<[Department]>::to_vec)
}

/// Same rows as [`departments`], borrowed from the process-wide cache.
pub fn department_table() -> Result<&'static [Department], GenerateError> {
    cached(&DEPARTMENTS, "departments.csv", load_departments)
}

/// The 18 regions and 8 overseas collectivities.
pub fn regions() -> Result<Vec<Region>, GenerateError> {
    region_table().map(<[Region]>::to_vec)
}

/// Same rows as [`regions`], borrowed from the process-wide cache.
pub fn region_table() -> Result<&'static [Region], GenerateError> {
    cached(&REGIONS, "regions.csv", load_regions)
}

/// The 163 FINESS categories found in the establishment table.
pub fn categories() -> Result<&'static [Category], GenerateError> {
    cached(&CATEGORIES, "categories.csv", load_categories)
}

/// The 95,333 FINESS establishments, in FINESS order.
pub fn establishments() -> Result<&'static [Establishment], GenerateError> {
    cached(&ESTABLISHMENTS, "establishments.csv.gz", load_establishments)
}

fn gunzip(bytes: &[u8]) -> Result<String, String> {
    let mut text = String::new();
    GzDecoder::new(bytes).read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text)
}

fn read_rows<R: for<'de> Deserialize<'de>>(text: &str) -> Result<Vec<R>, String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for row in reader.deserialize() {
        rows.push(row.map_err(|e| e.to_string())?);
    }
    Ok(rows)
}

fn non_empty(value: String) -> Option<String> {
    if value.is_empty() {
        None
    } else {
        Some(value)
    }
}

fn load_communes() -> Result<Vec<Commune>, String> {
    let rows: Vec<CommuneRow> = read_rows(&gunzip(COMMUNES_GZ)?)?;
    rows.into_iter()
        .map(|row| {
            let population = if row.population.is_empty() {
                None
            } else {
                Some(row.population.parse::<u64>().map_err(|e| format!("commune {}: {e}", row.cog))?)
            };
            Ok(Commune {
                postal_codes: row.postal_codes.split_whitespace().map(str::to_owned).collect(),
                cog: row.cog,
                name: row.name,
                department: row.department,
                region: row.region,
                lat: row.lat,
                lon: row.lon,
                population,
                parent: non_empty(row.parent),
            })
        })
        .collect()
}

fn load_departments() -> Result<Vec<Department>, String> {
    let rows: Vec<DepartmentRow> = read_rows(DEPARTMENTS_CSV)?;
    Ok(rows.into_iter().map(|r| Department { code: r.code, name: r.name, region: r.region }).collect())
}

fn load_regions() -> Result<Vec<Region>, String> {
    let rows: Vec<RegionRow> = read_rows(REGIONS_CSV)?;
    Ok(rows.into_iter().map(|r| Region { code: r.code, name: r.name }).collect())
}

fn load_categories() -> Result<Vec<Category>, String> {
    let rows: Vec<CategoryRow> = read_rows(CATEGORIES_CSV)?;
    Ok(rows
        .into_iter()
        .map(|r| Category {
            code: r.category_code,
            label: r.category_label,
            agg_code: r.category_agg_code,
            agg_label: r.category_agg_label,
            n_establishments: r.n_establishments,
        })
        .collect())
}

fn parse_coordinate(value: &str, finess: &str) -> Result<Option<f64>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    value.parse::<f64>().map(Some).map_err(|e| format!("establishment {finess}: coordinate {value:?}: {e}"))
}

fn load_establishments() -> Result<Vec<Establishment>, String> {
    let rows: Vec<EstablishmentRow> = read_rows(&gunzip(ESTABLISHMENTS_GZ)?)?;
    rows.into_iter()
        .map(|row| {
            let lat = parse_coordinate(&row.lat, &row.finess_et)?;
            let lon = parse_coordinate(&row.lon, &row.finess_et)?;
            Ok(Establishment {
                finess_et: row.finess_et,
                finess_ej: row.finess_ej,
                name: row.name,
                category: row.category_code,
                address: row.address,
                postal_code: row.postal_code,
                city: row.city,
                cog: row.cog,
                department: row.department,
                region: row.region,
                lat,
                lon,
                phone: non_empty(row.phone),
                siret: non_empty(row.siret),
                sph_code: non_empty(row.sph_code),
                date_open: non_empty(row.date_open),
                date_updated: non_empty(row.date_updated),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_tables_have_documented_row_counts() -> Result<(), GenerateError> {
        assert_eq!(establishments()?.len(), 95_333);
        assert_eq!(commune_table()?.len(), 35_014);
        assert_eq!(department_table()?.len(), 109);
        assert_eq!(region_table()?.len(), 26);
        assert_eq!(categories()?.len(), 163);
        Ok(())
    }

    #[test]
    fn test_known_communes() -> Result<(), GenerateError> {
        let communes = commune_table()?;
        let find = |cog: &str| communes.iter().find(|c| c.cog == cog);
        let saint_herblain = find("44162").ok_or(GenerateError::UnknownCommune("44162".into()))?;
        assert_eq!(saint_herblain.name, "Saint-Herblain");
        assert_eq!(saint_herblain.postal_codes, vec!["44800".to_owned()]);
        let bourges = find("18033").ok_or(GenerateError::UnknownCommune("18033".into()))?;
        assert!(bourges.postal_codes.contains(&"18000".to_owned()));
        assert!(find("18000").is_none(), "18000 is a postal code, not a COG");
        let belcodene = find("13013").ok_or(GenerateError::UnknownCommune("13013".into()))?;
        assert_eq!(belcodene.name, "Belcodène");
        let marseille_13e = find("13213").ok_or(GenerateError::UnknownCommune("13213".into()))?;
        assert_eq!(marseille_13e.parent.as_deref(), Some("13055"));
        assert_eq!(communes.iter().filter(|c| c.parent.is_some()).count(), 45);
        Ok(())
    }

    #[test]
    fn test_every_establishment_commune_exists() -> Result<(), GenerateError> {
        let cogs: std::collections::HashSet<&str> = commune_table()?.iter().map(|c| c.cog.as_str()).collect();
        for establishment in establishments()? {
            assert!(cogs.contains(establishment.cog.as_str()), "{}", establishment.finess_et);
        }
        Ok(())
    }
}
