//! Bulk `$export` (UC2 S1bis, S1ter) following the ROR documentation's client flow, and the BI
//! CSV extracts, against the demo corpus; answers checked against an oracle over the corpus files.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use actix_web::test::TestRequest;
use serde_json::Value;

use crate::common::oracle::{region_tag, Corpus};
use crate::common::{call, demo, demo_corpus_dir, get, Response, TestApp};

const R30: &str = "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM";

/// `Content-Location` / output URLs are absolute; the test service answers on paths.
fn path_of(url: &str) -> String {
    url.strip_prefix("http://test").unwrap_or(url).to_owned()
}

async fn kick_off(app: &TestApp, query: &str, prefer_async: bool) -> Response {
    let mut request = TestRequest::get().uri(&format!("/fhir/$export?{query}"));
    request = request.insert_header(("Accept", "application/json"));
    if prefer_async {
        request = request.insert_header(("Prefer", "respond-async"));
    }
    call(app, request).await
}

/// Poll the status URL as the documentation's sample does, until the manifest arrives.
async fn poll_manifest(app: &TestApp, status_url: &str) -> Value {
    let started = Instant::now();
    loop {
        let answer = get(app, &path_of(status_url)).await;
        match answer.status {
            200 => return answer.body,
            202 => {
                assert!(answer.header("x-progress").is_some(), "202 without X-Progress");
                assert!(started.elapsed() < Duration::from_secs(120), "export did not finish");
                std::thread::sleep(Duration::from_millis(20));
            }
            status => panic!("status URL answered {status}: {}", answer.text),
        }
    }
}

/// The UC2 closure of a set of offers, computed from the corpus files.
fn expected_closure(corpus: &Corpus, offers: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    out.insert("HealthcareService".into(), offers.clone());
    for id in offers {
        let Some(service) = corpus.get("HealthcareService", id) else { continue };
        if let Some(organization) = corpus.resolve(&service["providedBy"]) {
            for ancestor in corpus.org_chain(organization) {
                out.entry("Organization".into())
                    .or_default()
                    .insert(ancestor["id"].as_str().unwrap().to_owned());
            }
        }
        for location in corpus.locations_of(service) {
            out.entry("Location".into()).or_default().insert(location["id"].as_str().unwrap().to_owned());
        }
    }
    for role in corpus.all("PractitionerRole") {
        let serves = role["healthcareService"].as_array().into_iter().flatten().any(|r| {
            r["reference"]
                .as_str()
                .and_then(|t| t.strip_prefix("HealthcareService/"))
                .is_some_and(|id| offers.contains(id))
        });
        if serves {
            out.entry("PractitionerRole".into()).or_default().insert(role["id"].as_str().unwrap().to_owned());
            if let Some(practitioner) = corpus.resolve(&role["practitioner"]) {
                out.entry("Practitioner".into())
                    .or_default()
                    .insert(practitioner["id"].as_str().unwrap().to_owned());
            }
        }
    }
    out
}

fn corpus() -> &'static Corpus {
    static CORPUS: std::sync::OnceLock<Corpus> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| Corpus::load(demo_corpus_dir()))
}

/// A region of the demo corpus with offers.
fn some_region(corpus: &Corpus) -> String {
    corpus.all("HealthcareService").iter().find_map(region_tag).expect("an offer with a region")
}

#[actix_web::test]
async fn test_uc2_s1ter_region_export_ndjson_matches_the_store() {
    let app = demo();
    let corpus = corpus();
    let region = some_region(corpus);
    // UC2 S1ter, exactly as written in SPEC §3 (the _typeFilter URL-encoded once).
    let query = format!(
        "_outputFormat=application/fhir+ndjson&_type=HealthcareService&_typeFilter=HealthcareService%3F_tag%3Dhttps%3A%2F%2Fmos.esante.gouv.fr%2FNOS%2FTRE_R30-RegionOM%2FFHIR%2FTRE-R30-RegionOM%7C{region}&includeAssociatedData=_myCompleteExtract"
    );
    let kick = kick_off(app, &query.replace('+', "%2B"), true).await;
    assert_eq!(kick.status, 202, "{}", kick.text);
    let status_url = kick.header("content-location").expect("Content-Location");
    assert!(status_url.starts_with("http://test/fhir/$export-poll-status?_jobId="), "{status_url}");
    let manifest = poll_manifest(app, &status_url).await;
    assert_eq!(manifest["requiresAccessToken"], false);
    assert_eq!(manifest["error"], serde_json::json!([]));
    assert!(manifest["transactionTime"].as_str().is_some_and(|t| t.len() >= 20));
    assert!(manifest["request"].as_str().unwrap().contains("$export?"));

    let offers = corpus.ids("HealthcareService", |s| region_tag(s).as_deref() == Some(region.as_str()));
    assert!(!offers.is_empty());
    let expected = expected_closure(corpus, &offers);
    let mut exported: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for output in manifest["output"].as_array().expect("output") {
        let resource_type = output["type"].as_str().unwrap().to_owned();
        let file = get(app, &path_of(output["url"].as_str().unwrap())).await;
        assert_eq!(file.status, 200);
        assert_eq!(file.header("content-type").as_deref(), Some("application/fhir+ndjson"));
        let lines: Vec<&str> = file.text.lines().collect();
        assert_eq!(lines.len() as u64, output["count"].as_u64().unwrap(), "{resource_type} count");
        for line in lines {
            let resource: Value = serde_json::from_str(line).expect("one resource per line");
            assert_eq!(resource["resourceType"], resource_type.as_str());
            let id = resource["id"].as_str().unwrap().to_owned();
            // Each line is the stored current version.
            let stored = app.app.store.current(&resource_type, &id).unwrap().expect("stored");
            assert_eq!(resource, serde_json::from_slice::<Value>(&stored.json).unwrap());
            assert!(exported.entry(resource_type.clone()).or_default().insert(id), "duplicate line");
        }
    }
    assert_eq!(exported, expected);
}

#[actix_web::test]
async fn test_uc2_s1bis_national_json_bundles_without_prefer() {
    let app = demo();
    // The national server's variant: fhir+json Bundles, Prefer not required (SPEC §4.3).
    let kick = kick_off(
        app,
        "_outputFormat=application%2Ffhir%2Bjson&_type=HealthcareService&includeAssociatedData=_myCompleteExtract",
        false,
    )
    .await;
    assert_eq!(kick.status, 202, "{}", kick.text);
    let manifest = poll_manifest(app, &kick.header("content-location").unwrap()).await;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for output in manifest["output"].as_array().unwrap() {
        let file = get(app, &path_of(output["url"].as_str().unwrap())).await;
        assert_eq!(file.header("content-type").as_deref(), Some("application/fhir+json"));
        assert_eq!(file.body["resourceType"], "Bundle");
        assert_eq!(file.body["type"], "collection");
        let entries = file.body["entry"].as_array().unwrap();
        assert_eq!(entries.len() as u64, output["count"].as_u64().unwrap());
        assert!(entries.len() <= ror_search::export::bulk::RESOURCES_PER_BUNDLE);
        *counts.entry(output["type"].as_str().unwrap().to_owned()).or_default() += entries.len() as u64;
    }
    let corpus = corpus();
    let all_offers = corpus.ids("HealthcareService", |_| true);
    let expected = expected_closure(corpus, &all_offers);
    let expected_counts: BTreeMap<String, u64> =
        expected.into_iter().map(|(t, ids)| (t, ids.len() as u64)).collect();
    assert_eq!(counts, expected_counts);
}

#[actix_web::test]
async fn test_export_since_and_cancel_and_errors() {
    let app = demo();
    // _since: only offers updated since then (their linked resources come whole).
    let since = "2026-01-01T00:00:00Z";
    let kick = kick_off(app, &format!("_type=HealthcareService&_since={since}"), true).await;
    assert_eq!(kick.status, 202, "{}", kick.text);
    let manifest = poll_manifest(app, &kick.header("content-location").unwrap()).await;
    let offers = manifest["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "HealthcareService")
        .map(|o| o["count"].as_u64().unwrap())
        .sum::<u64>();
    let since_ms = crate::common::oracle::instant_ms(since);
    let expected = corpus()
        .ids("HealthcareService", |s| {
            crate::common::oracle::instant_ms(s["meta"]["lastUpdated"].as_str().unwrap()) >= since_ms
        })
        .len() as u64;
    assert_eq!(offers, expected);

    // Cancel: DELETE on the status URL answers 202, then the job and its files are gone.
    let kick = kick_off(app, "_type=Organization", true).await;
    let status_url = kick.header("content-location").unwrap();
    let job = status_url.rsplit('=').next().unwrap().to_owned();
    let cancelled = call(app, TestRequest::delete().uri(&path_of(&status_url))).await;
    assert_eq!(cancelled.status, 202, "{}", cancelled.text);
    assert_eq!(get(app, &path_of(&status_url)).await.status, 404);
    assert!(!app.app.exports.root().join(&job).exists());
    assert_eq!(call(app, TestRequest::delete().uri(&path_of(&status_url))).await.status, 404);

    assert_eq!(kick_off(app, "_outputFormat=text/csv", true).await.status, 400);
    assert_eq!(kick_off(app, "_type=Unknown", true).await.status, 400);
    let bad_filter = kick_off(app, "_typeFilter=HealthcareService%3Fnot-a-param%3D1", true).await;
    assert_eq!(bad_filter.status, 400, "{}", bad_filter.text);
    assert_eq!(kick_off(app, "_since=yesterday", true).await.status, 400);
    assert_eq!(get(app, "/fhir/$export-file/nope/HealthcareService.ndjson").await.status, 404);
    assert_eq!(get(app, "/fhir/$export-poll-status").await.status, 400);
}

/// The documented columns of each extract, read from `index-schemas/exports.toml`.
fn documented_columns() -> BTreeMap<String, Vec<String>> {
    let doc: toml::Value = toml::from_str(ror_search::export::extracts::COLUMN_DOC).expect("exports.toml");
    doc["extract"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let columns =
                e["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned());
            (e["name"].as_str().unwrap().to_owned(), columns.collect())
        })
        .collect()
}

#[actix_web::test]
async fn test_csv_extracts_headers_match_the_documentation() {
    let app = demo();
    let documented = documented_columns();
    let names: Vec<&str> = ror_search::export::extracts::Extract::ALL.iter().map(|e| e.name()).collect();
    assert_eq!(
        documented.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        names.iter().copied().collect()
    );
    for name in names {
        let answer = get(app, &format!("/export/{name}.csv")).await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.text);
        assert_eq!(answer.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
        let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(header, documented[name], "{name} header");
        for record in reader.records() {
            assert_eq!(record.unwrap().len(), header.len());
        }
    }
    assert_eq!(get(app, "/export/nothing.csv").await.status, 404);
    assert_eq!(get(app, "/export/offers.csv?since=yesterday").await.status, 400);
    assert_eq!(get(app, "/export/offers.csv?colour=red").await.status, 400);
}

#[actix_web::test]
async fn test_csv_extracts_rows_match_the_corpus() {
    let app = demo();
    let corpus = corpus();
    let region = some_region(corpus);
    let since = "2025-06-01";
    let since_ms = crate::common::oracle::instant_ms("2025-06-01T00:00:00Z");
    let answer = get(app, &format!("/export/offers.csv?region={region}&since={since}")).await;
    let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
    let ids: BTreeSet<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
    let expected = corpus.ids("HealthcareService", |s| {
        region_tag(s).as_deref() == Some(region.as_str())
            && crate::common::oracle::instant_ms(s["meta"]["lastUpdated"].as_str().unwrap()) >= since_ms
    });
    assert_eq!(ids, expected);

    // Locations: capacity totals recomputed from the corpus.
    let answer = get(app, &format!("/export/locations.csv?region={region}")).await;
    let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.unwrap();
        let location = corpus.get("Location", &record[column("id")]).expect("exported location exists");
        let mut available = 0i64;
        for capacity in crate::common::oracle::ror_extensions(location, "ror-location-supported-capacity") {
            let part = |url: &str| {
                capacity["extension"].as_array().unwrap().iter().find(|e| e["url"] == url).cloned()
            };
            let code = |url: &str| {
                part(url).map(|p| {
                    p["valueCodeableConcept"]["coding"][0]["code"].as_str().unwrap_or_default().to_owned()
                })
            };
            if code("capacityType").as_deref() == Some("01")
                && code("capacityStatus").as_deref() == Some("02")
            {
                available += part("nbCapacity").and_then(|p| p["valueInteger"].as_i64()).unwrap_or(0);
            }
        }
        assert_eq!(record[column("beds_available")].parse::<i64>().unwrap(), available);
        assert_eq!(record[column("region")], region);
        rows += 1;
    }
    assert_eq!(rows, corpus.ids("Location", |l| region_tag(l).as_deref() == Some(region.as_str())).len());

    // Organizations: the EJ of each row is the top of its partOf chain.
    let answer = get(app, "/export/organizations.csv").await;
    let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
    let mut count = 0;
    for record in reader.records() {
        let record = record.unwrap();
        let organization = corpus.get("Organization", &record[0]).unwrap();
        let chain = corpus.org_chain(organization);
        assert_eq!(&record[7], chain.last().unwrap()["id"].as_str().unwrap());
        let level = match chain.len() {
            1 => "EJ",
            2 => "EG",
            _ => "OI",
        };
        assert_eq!(&record[5], level, "{}", &record[0]);
        count += 1;
    }
    assert_eq!(count, corpus.all("Organization").len());
    let _ = R30;
}
