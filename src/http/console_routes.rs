//! The web console under `/console`: static assets compiled into the binary, the console's
//! configuration, and the reference data its pickers and map need (code lists, communes,
//! departments, a dot cloud of commune centres). Everything else the console shows comes from
//! the public FHIR and admin endpoints, so it sees exactly what an API client sees.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Console settings given on the command line (`serve --console-tile-url`).
#[derive(Debug, Clone, Default)]
pub struct ConsoleSettings {
    /// Raster tile URL template (`https://tiles.example/{z}/{x}/{y}.png`, optional `{s}`); without
    /// one the map draws the embedded commune dot cloud and needs no network.
    pub tile_url: Option<String>,
}

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset { name: $name, content_type: $content_type, bytes: include_bytes!(concat!("console/", $name)) }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JSON: &str = "application/json";
const SVG: &str = "image/svg+xml";

const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("console.css", CSS),
    asset!("app.js", JS),
    asset!("i18n.js", JS),
    asset!("fhir.js", JS),
    asset!("map.js", JS),
    asset!("search.js", JS),
    asset!("detail.js", JS),
    asset!("admin.js", JS),
    asset!("dom.js", JS),
    asset!("favicon.svg", SVG),
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(redirect_to_slash)).service(
        web::scope("/console")
            .route("/", web::get().to(index))
            .route("/config.json", web::get().to(config))
            .route("/data/codes.json", web::get().to(codes))
            .route("/data/departments.json", web::get().to(departments))
            .route("/data/communes.json", web::get().to(communes))
            .route("/data/france-dots.json", web::get().to(dots))
            .route("/{asset}", web::get().to(asset)),
    );
}

/// Assets are referenced relatively, so the page must live under `/console/` (this also keeps
/// the console working behind a reverse proxy that mounts the service under a prefix).
async fn redirect_to_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "console/")).finish()
}

async fn index(request: HttpRequest, settings: Option<Data<ConsoleSettings>>) -> Result<HttpResponse> {
    serve_asset(&request, "index.html", settings.as_ref().map(|s| s.get_ref()))
}

async fn asset(
    request: HttpRequest,
    path: web::Path<String>,
    settings: Option<Data<ConsoleSettings>>,
) -> Result<HttpResponse> {
    serve_asset(&request, &path.into_inner(), settings.as_ref().map(|s| s.get_ref()))
}

fn serve_asset(
    request: &HttpRequest,
    name: &str,
    settings: Option<&ConsoleSettings>,
) -> Result<HttpResponse> {
    let index = ASSETS
        .iter()
        .position(|a| a.name == name)
        .ok_or_else(|| Error::not_found(format!("no console asset {name:?}")))?;
    let asset = &ASSETS[index];
    static GZIPPED: OnceLock<Vec<OnceLock<Vec<u8>>>> = OnceLock::new();
    let cache = GZIPPED.get_or_init(|| ASSETS.iter().map(|_| OnceLock::new()).collect());
    let gzipped = cache.get(index).map(|cell| cell.get_or_init(|| gzip(asset.bytes)));
    let mut response = encoded(request, asset.content_type, asset.bytes, gzipped.map(Vec::as_slice));
    if asset.content_type == HTML {
        let csp = content_security_policy(settings.and_then(|s| s.tile_url.as_deref()));
        if let Ok(value) = HeaderValue::from_str(&csp) {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    Ok(response)
}

/// Scripts, styles and API calls stay on this origin; the only other origin allowed is the
/// configured tile server, for images.
fn content_security_policy(tile_url: Option<&str>) -> String {
    let tiles = tile_url.and_then(tile_origin).map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{tiles}; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// `https://{s}.tile.example:8443/{z}/{x}/{y}.png` → `https://*.tile.example:8443`.
fn tile_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains(['\'', ';', ' ', ',']) {
        return None;
    }
    let authority = authority.replace("{s}", "*");
    Some(format!("{scheme}://{authority}"))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail; an empty result falls back to the identity encoding.
    if encoder.write_all(bytes).is_err() {
        return Vec::new();
    }
    encoder.finish().unwrap_or_default()
}

fn accepts_gzip(request: &HttpRequest) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut pieces = part.split(';');
            let coding = pieces.next().unwrap_or("").trim();
            let refused =
                pieces.any(|p| matches!(p.trim().replace(' ', "").as_str(), "q=0" | "q=0.0" | "q=0.00"));
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// The service has no compression middleware; the larger console payloads (code lists, dot
/// cloud, scripts) are compressed once and kept.
fn encoded(request: &HttpRequest, content_type: &str, bytes: &[u8], gzipped: Option<&[u8]>) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    builder
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    match gzipped {
        Some(gz) if !gz.is_empty() && gz.len() < bytes.len() && accepts_gzip(request) => {
            builder.insert_header((header::CONTENT_ENCODING, "gzip")).body(gz.to_vec())
        }
        _ => builder.body(bytes.to_vec()),
    }
}

/// Small JSON answers of the console (not cached: they follow the configuration and data).
fn json_response(body: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .json(body)
}

async fn config(settings: Option<Data<ConsoleSettings>>) -> HttpResponse {
    let tile_url = settings.as_ref().and_then(|s| s.tile_url.clone());
    json_response(&json!({
        "tileUrl": tile_url,
        // Relative to the console page, so a reverse-proxy prefix is kept.
        "fhirBase": "../fhir",
        "adminBase": "../admin",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// A code list of `fixtures/ror-codes/` and the CodeSystem its codes are searched under.
struct CodeList {
    key: &'static str,
    value_set: &'static str,
    system: &'static str,
    csv: &'static str,
}

macro_rules! code_list {
    ($key:literal, $file:literal, $system:literal) => {
        CodeList {
            key: $key,
            value_set: $file,
            system: $system,
            csv: include_str!(concat!("../../fixtures/ror-codes/", $file, ".csv")),
        }
    };
}

const CODE_LISTS: &[CodeList] = &[
    code_list!(
        "activity",
        "JDV_J17-ActiviteOperationnelle-ROR",
        "https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle"
    ),
    code_list!(
        "offerType",
        "JDV_J238-TypeOffre-ROR",
        "https://mos.esante.gouv.fr/NOS/TRE_R244-CategorieOrganisation/FHIR/TRE-R244-CategorieOrganisation"
    ),
    code_list!(
        "priceType",
        "JDV_J36-TypeTarif-ROR",
        "https://mos.esante.gouv.fr/NOS/TRE_R246-TypeTarif/FHIR/TRE-R246-TypeTarif"
    ),
    code_list!(
        "capacityType",
        "TRE_R329-NatureCapacite",
        "https://mos.esante.gouv.fr/NOS/TRE_R329-NatureCapacite/FHIR/TRE-R329-NatureCapacite"
    ),
    code_list!(
        "capacityStatus",
        "JDV_J188-TypeStatutCapacite-ROR",
        "https://mos.esante.gouv.fr/NOS/TRE_R330-TypeStatutCapacite/FHIR/TRE-R330-TypeStatutCapacite"
    ),
    code_list!(
        "capacityTemporality",
        "JDV_J189-TemporaliteCapacite-ROR",
        "https://mos.esante.gouv.fr/NOS/TRE_R331-TemporaliteCapacite/FHIR/TRE-R331-TemporaliteCapacite"
    ),
];

#[derive(Deserialize)]
struct CodeRow {
    code: String,
    display: String,
}

/// A JSON payload built once: plain and gzip bytes, or why it could not be built.
type BuiltPayload = std::result::Result<(Vec<u8>, Vec<u8>), String>;

fn code_lists() -> Result<&'static (Vec<u8>, Vec<u8>)> {
    static CODES: OnceLock<BuiltPayload> = OnceLock::new();
    let built = CODES.get_or_init(|| {
        let mut lists = serde_json::Map::new();
        for list in CODE_LISTS {
            let mut reader = csv::Reader::from_reader(list.csv.as_bytes());
            let mut codes = Vec::new();
            for row in reader.deserialize::<CodeRow>() {
                let row = row.map_err(|e| format!("{}: {e}", list.value_set))?;
                codes.push(json!([row.code, row.display]));
            }
            lists.insert(
                list.key.to_owned(),
                json!({"valueSet": list.value_set, "system": list.system, "codes": codes}),
            );
        }
        let body = json!({
            "source": "Nomenclatures des Objets de Santé (NOS), Agence du Numérique en Santé — fixtures/ror-codes",
            "lists": lists,
        });
        let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let gz = gzip(&bytes);
        Ok((bytes, gz))
    });
    built.as_ref().map_err(Error::internal)
}

async fn codes(request: HttpRequest) -> Result<HttpResponse> {
    let (bytes, gz) = code_lists()?;
    Ok(encoded(&request, JSON, bytes, Some(gz)))
}

/// Department code → the postal code prefix the SPEC's department search uses (UC1 S1bis):
/// Corsica's departments share `20`, the two northern Antilles collectivities have La Poste
/// codes of Guadeloupe's range.
fn postal_prefix(department: &str) -> &str {
    match department {
        "2A" | "2B" => "20",
        "977" => "97133",
        "978" => "97150",
        other => other,
    }
}

async fn departments() -> Result<HttpResponse> {
    let table = crate::generate::reference::department_table().map_err(Error::internal)?;
    let rows: Vec<Value> = table
        .iter()
        .map(|d| json!({"code": d.code, "name": d.name, "region": d.region, "postalPrefix": postal_prefix(&d.code)}))
        .collect();
    Ok(json_response(&json!({"departments": rows})))
}

#[derive(Deserialize)]
struct CommuneQuery {
    q: Option<String>,
    limit: Option<usize>,
}

/// Lower case without accents and with hyphens/apostrophes as spaces, so "saint-etienne",
/// "St Étienne" and "SAINT ETIENNE" meet.
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        let folded = match ch {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' => 'a',
            'ç' | 'Ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
            'ñ' | 'Ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
            'ÿ' | 'Ÿ' => 'y',
            'œ' | 'Œ' => {
                out.push_str("oe");
                continue;
            }
            'æ' | 'Æ' => {
                out.push_str("ae");
                continue;
            }
            '-' | '\'' | '’' | '_' => ' ',
            c => c.to_ascii_lowercase(),
        };
        out.push(folded);
    }
    let mut collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    // "st " and "ste " are how addresses abbreviate saint / sainte.
    for (short, long) in [("st ", "saint "), ("ste ", "sainte ")] {
        if collapsed.starts_with(short) {
            collapsed = format!("{long}{}", &collapsed[short.len()..]);
        }
    }
    collapsed
}

/// Commune lookup for the commune picker: by INSEE code, postal code or name, best first.
async fn communes(query: web::Query<CommuneQuery>) -> Result<HttpResponse> {
    let table = crate::generate::reference::commune_table().map_err(Error::internal)?;
    let limit = query.limit.unwrap_or(12).clamp(1, 50);
    let raw = query.q.as_deref().unwrap_or("").trim();
    if raw.is_empty() {
        return Ok(json_response(&json!({"communes": []})));
    }
    let wanted = fold(raw);
    let code_like = raw.chars().all(|c| c.is_ascii_alphanumeric()) && raw.chars().any(|c| c.is_ascii_digit());
    // Rank: exact code, exact name, name prefix, word prefix, code/postal prefix; then population.
    let mut hits: Vec<(u8, u64, usize)> = Vec::new();
    for (index, commune) in table.iter().enumerate() {
        let rank = if code_like {
            if commune.cog.eq_ignore_ascii_case(raw) {
                Some(0)
            } else if commune.cog.to_ascii_uppercase().starts_with(&raw.to_ascii_uppercase()) {
                Some(3)
            } else if commune.postal_codes.iter().any(|p| p.starts_with(raw)) {
                Some(4)
            } else {
                None
            }
        } else {
            let name = fold(&commune.name);
            if name == wanted {
                Some(1)
            } else if name.starts_with(&wanted) {
                Some(2)
            } else if name.split(' ').any(|word| word.starts_with(&wanted)) {
                Some(5)
            } else {
                None
            }
        };
        if let Some(rank) = rank {
            hits.push((rank, commune.population.unwrap_or(0), index));
        }
    }
    hits.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let rows: Vec<Value> = hits
        .iter()
        .take(limit)
        .filter_map(|(_, _, index)| table.get(*index))
        .map(|c| {
            json!({"cog": c.cog, "name": c.name, "department": c.department, "postalCodes": c.postal_codes,
                   "lat": c.lat, "lon": c.lon})
        })
        .collect();
    Ok(json_response(&json!({"communes": rows})))
}

/// Grid step of the dot cloud, in degrees: ~20,000 dots, enough to read the coastline and the
/// overseas departments, small enough to redraw on every pan.
const DOT_STEP_DEGREES: f64 = 0.05;
/// Dot coordinates are sent as integers of 1/1000 degree (~100 m) to keep the payload small.
const DOT_SCALE: f64 = 1000.0;

fn dot_cloud() -> Result<&'static (Vec<u8>, Vec<u8>)> {
    static DOTS: OnceLock<BuiltPayload> = OnceLock::new();
    let built = DOTS.get_or_init(|| {
        let table = crate::generate::reference::commune_table().map_err(|e| e.to_string())?;
        // Each dot sits at the mean of the commune centres of its cell, not at the cell's
        // centre, so the cloud follows the settlement pattern instead of drawing a lattice.
        let mut cells: BTreeMap<(i64, i64), (f64, f64, i64)> = BTreeMap::new();
        for commune in table {
            let cell = (
                (commune.lat / DOT_STEP_DEGREES).round() as i64,
                (commune.lon / DOT_STEP_DEGREES).round() as i64,
            );
            let entry = cells.entry(cell).or_insert((0.0, 0.0, 0));
            entry.0 += commune.lat;
            entry.1 += commune.lon;
            entry.2 += 1;
        }
        let flat: Vec<i64> = cells
            .values()
            .flat_map(|(lat, lon, n)| {
                let count = *n as f64;
                [(lat / count * DOT_SCALE).round() as i64, (lon / count * DOT_SCALE).round() as i64, *n]
            })
            .collect();
        let body = json!({
            "scale": DOT_SCALE,
            "step": DOT_STEP_DEGREES,
            "source": "INSEE COG 2026 commune centres (geo.api.gouv.fr, IGN) — fixtures/reference/communes.csv.gz",
            "cells": flat,
        });
        let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let gz = gzip(&bytes);
        Ok((bytes, gz))
    });
    built.as_ref().map_err(Error::internal)
}

async fn dots(request: HttpRequest) -> Result<HttpResponse> {
    let (bytes, gz) = dot_cloud()?;
    Ok(encoded(&request, JSON, bytes, Some(gz)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fold_meets_spellings() {
        assert_eq!(fold("Saint-Étienne"), "saint etienne");
        assert_eq!(fold("ST ETIENNE"), "saint etienne");
        assert_eq!(fold("L'Haÿ-les-Roses"), "l hay les roses");
        assert_eq!(fold("Œuilly"), "oeuilly");
    }

    #[test]
    fn test_tile_origin_for_csp() {
        assert_eq!(
            tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.tile.example.org")
        );
        assert_eq!(
            tile_origin("http://127.0.0.1:8081/t/{z}/{x}/{y}.png").as_deref(),
            Some("http://127.0.0.1:8081")
        );
        assert_eq!(tile_origin("javascript:alert(1)"), None);
        assert_eq!(tile_origin("https://a.example; script-src *"), None);
    }

    #[test]
    fn test_every_asset_and_list_is_embedded() {
        assert!(ASSETS.iter().all(|a| !a.bytes.is_empty()));
        let (bytes, _) = code_lists().expect("code lists");
        let body: Value = serde_json::from_slice(bytes).expect("json");
        assert!(body["lists"]["activity"]["codes"].as_array().is_some_and(|c| c.len() > 500));
        let (bytes, gz) = dot_cloud().expect("dots");
        assert!(gz.len() < bytes.len());
    }
}
