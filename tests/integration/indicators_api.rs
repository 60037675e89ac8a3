//! Steering indicators (UC11): incremental maintenance checked against a from-scratch recount
//! after random writes, and the SPEC §3 UC11 S1/S2 requests on the published Measure and
//! MeasureReport resources.

use std::sync::Arc;

use chrono::TimeZone;
use rand::{Rng, SeedableRng};
use ror_search::indicators::IndicatorPublisher;
use ror_search::store::WriteOp;
use serde_json::{json, Value};

use crate::common::{get, TestApp};

const R30: &str = "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM";
const CAPACITY: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity";

fn tag(region: &str) -> Value {
    json!({"tag": [{"system": R30, "code": region}]})
}

fn offer(id: &str, region: &str, category: &str, specialty: &str, locations: &[String]) -> Value {
    json!({"resourceType": "HealthcareService", "id": id, "meta": tag(region),
        "category": [{"coding": [{"code": category}]}], "specialty": [{"coding": [{"code": specialty}]}],
        "location": locations.iter().map(|l| json!({"reference": format!("Location/{l}")})).collect::<Vec<_>>()})
}

fn capacity(count: i64, kind: &str, status: &str, updated: &str) -> Value {
    json!({"url": CAPACITY, "extension": [
        {"url": "nbCapacity", "valueInteger": count},
        {"url": "capacityUpdateDate", "valueDateTime": updated},
        {"url": "capacityStatus", "valueCodeableConcept": {"coding": [{"code": status}]}},
        {"url": "capacityType", "valueCodeableConcept": {"coding": [{"code": kind}]}}]})
}

fn location(id: &str, region: &str, position: bool, capacities: Vec<Value>) -> Value {
    let mut location =
        json!({"resourceType": "Location", "id": id, "meta": tag(region), "extension": capacities});
    if position {
        location["position"] = json!({"latitude": 47.2, "longitude": -1.55});
    }
    location
}

/// A Task about `focus`, with its own region tag or none (ROR Tasks usually carry none).
fn task(id: &str, region: Option<&str>, status: &str, focus: &str) -> Value {
    let mut task = json!({"resourceType": "Task", "id": id, "status": "in-progress", "intent": "order",
        "businessStatus": {"coding": [{"code": status}]}, "focus": {"reference": focus}});
    if let Some(region) = region {
        task["meta"] = tag(region);
    }
    task
}

fn put(resource: Value) -> WriteOp {
    WriteOp::Put { resource, if_match: None, create_only: false, keep_last_updated: false }
}

#[actix_web::test]
async fn test_incremental_indicators_equal_a_recount_after_random_writes() {
    let app = TestApp::empty();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let regions = ["11", "52", "93"];
    let now = chrono::Utc::now();
    // Measures seen with a value at some checkpoint: every path of the maintenance ran.
    let mut seen = std::collections::BTreeSet::new();
    for step in 0..400 {
        let mut unit = Vec::new();
        for _ in 0..rng.random_range(1..4) {
            let region = regions[rng.random_range(0..regions.len())];
            let op = match rng.random_range(0..10) {
                0..=2 => {
                    let locations: Vec<String> = (0..rng.random_range(0..3))
                        .map(|_| format!("l-{}", rng.random_range(0..15)))
                        .collect();
                    put(offer(
                        &format!("o-{}", rng.random_range(0..20)),
                        region,
                        &format!("{}", rng.random_range(1..4)),
                        &format!("{:03}", rng.random_range(1..5)),
                        &locations,
                    ))
                }
                3..=5 => {
                    let capacities = (0..rng.random_range(0..3))
                        .map(|_| {
                            let hours_ago = rng.random_range(0..60);
                            let updated = (now - chrono::Duration::hours(hours_ago)).to_rfc3339();
                            capacity(
                                rng.random_range(0..20),
                                ["01", "02"][rng.random_range(0..2)],
                                ["01", "02"][rng.random_range(0..2)],
                                &updated,
                            )
                        })
                        .collect();
                    put(location(
                        &format!("l-{}", rng.random_range(0..15)),
                        region,
                        rng.random_bool(0.6),
                        capacities,
                    ))
                }
                // About an offer that may not exist, may move to another region or go away.
                6..=7 => put(task(
                    &format!("t-{}", rng.random_range(0..10)),
                    rng.random_bool(0.5).then_some(region),
                    &format!("{:02}", rng.random_range(1..12)),
                    &format!("HealthcareService/o-{}", rng.random_range(0..20)),
                )),
                _ => {
                    let (resource_type, prefix, range) =
                        [("HealthcareService", "o", 20), ("Location", "l", 15), ("Task", "t", 10)]
                            [rng.random_range(0..3)];
                    WriteOp::Delete {
                        resource_type: resource_type.into(),
                        id: format!("{prefix}-{}", rng.random_range(0..range)),
                        if_match: None,
                    }
                }
            };
            unit.push(op);
        }
        // Units touching the same resource twice may fail as a whole; either way the
        // indicators must follow what was committed.
        let _ = app.app.writer.submit(unit);
        if step % 100 == 99 {
            let recount = app.app.indicators.recompute(app.app.store.as_ref()).unwrap();
            assert_eq!(app.app.indicators.tables(), recount, "after {} steps", step + 1);
        }
        if step % 20 == 19 {
            seen.extend(app.app.indicators.rows(now).into_iter().map(|r| r.measure));
        }
    }
    let recount = app.app.indicators.recompute(app.app.store.as_ref()).unwrap();
    assert_eq!(app.app.indicators.tables(), recount);
    let rows = app.app.indicators.rows(now);
    for measure in ror_search::indicators::MEASURES {
        assert!(seen.contains(measure.id), "{} never had a value", measure.id);
    }
    // The 24 h window, checked by hand against the stored locations.
    let mut expected_recent = std::collections::BTreeMap::<String, f64>::new();
    app.app
        .store
        .scan_current(&mut |resource_type, _, _, json| {
            if resource_type == "Location" {
                let location: Value = serde_json::from_slice(json).unwrap();
                let latest = location["extension"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["extension"][1]["valueDateTime"].as_str())
                    .filter_map(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                    .max();
                if latest.is_some_and(|t| t.timestamp_millis() >= now.timestamp_millis() - 24 * 3600 * 1000) {
                    *expected_recent
                        .entry(location["meta"]["tag"][0]["code"].as_str().unwrap().to_owned())
                        .or_default() += 1.0;
                }
            }
            Ok(())
        })
        .unwrap();
    let recent: std::collections::BTreeMap<String, f64> = rows
        .iter()
        .filter(|r| r.measure == "locations-capacity-updated-24h")
        .map(|r| (r.region.clone(), r.value))
        .collect();
    assert_eq!(recent, expected_recent);
}

#[actix_web::test]
async fn test_uc11_measures_with_their_reports() {
    let app = TestApp::empty();
    let writes = vec![
        put(location(
            "l-1",
            "52",
            true,
            vec![
                capacity(4, "01", "02", "2023-10-06T10:00:00Z"),
                capacity(9, "01", "01", "2023-10-06T10:00:00Z"),
            ],
        )),
        put(location("l-2", "52", false, vec![capacity(3, "01", "02", "2023-10-01T10:00:00Z")])),
        put(offer("o-1", "52", "153", "033", &["l-1".into()])),
        put(offer("o-2", "52", "153", "013", &["l-2".into()])),
        put(offer("o-3", "11", "200", "013", &[])),
        // t-1 carries no region: it counts in its offer's (o-3, region 11).
        put(task("t-1", None, "02", "HealthcareService/o-3")),
        put(task("t-2", Some("52"), "08", "HealthcareService/o-1")),
    ];
    app.app.writer.submit(writes).unwrap();
    let publisher = Arc::new(IndicatorPublisher::new(app.app.indicators.clone(), app.app.writer.clone()));
    let measured = chrono::Utc.with_ymd_and_hms(2023, 10, 6, 15, 0, 0).unwrap();
    assert!(publisher.publish(measured).unwrap() > 0);
    // Nothing changed: nothing is rewritten.
    assert_eq!(publisher.publish(measured + chrono::Duration::minutes(5)).unwrap(), 0);

    // UC11 S1: one indicator with its values.
    let s1 = get(&app, "/fhir/Measure?identifier=available-beds&_revinclude=MeasureReport:measure").await;
    assert_eq!(s1.status, 200, "{}", s1.text);
    assert_eq!(s1.match_ids(), ["available-beds"]);
    let mut reports = s1.ids("include", "MeasureReport");
    reports.sort();
    assert_eq!(reports, ["available-beds-20231006", "available-beds-current"]);
    let report = s1.entries().into_iter().find(|e| e["resource"]["id"] == "available-beds-current").unwrap();
    let group = &report["resource"]["group"][0];
    // Beds available: l-1 (4, activity 033 through o-1), l-2 (3, activity 013 through o-2).
    assert_eq!(group["measureScore"]["value"], 7.0);
    let strata: Vec<(String, String, f64)> = group["stratifier"][0]["stratum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["component"][0]["value"]["text"].as_str().unwrap().to_owned(),
                s["component"][1]["value"]["text"].as_str().unwrap().to_owned(),
                s["measureScore"]["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(strata, [("52".into(), "013".into(), 3.0), ("52".into(), "033".into(), 4.0)]);

    let anomalies = get(&app, "/fhir/MeasureReport?_id=open-anomalies-current").await;
    assert_eq!(anomalies.entries()[0]["resource"]["group"][0]["measureScore"]["value"], 1.0);
    let stratum = &anomalies.entries()[0]["resource"]["group"][0]["stratifier"][0]["stratum"][0];
    assert_eq!(stratum["component"][0]["value"]["text"], "11", "{stratum}");
    assert_eq!(stratum["component"][1]["value"]["text"], "02", "{stratum}");
    let without = get(&app, "/fhir/MeasureReport?_id=offers-without-location-current").await;
    let without_strata = &without.entries()[0]["resource"]["group"][0]["stratifier"][0]["stratum"];
    // o-3 has no location; o-2's location has no position.
    assert_eq!(without_strata.as_array().unwrap().len(), 2, "{without_strata}");

    // A write moves the current value at the next publication, on the next day.
    app.app.writer.submit(vec![put(task("t-3", Some("52"), "02", "HealthcareService/o-9"))]).unwrap();
    let next_day = chrono::Utc.with_ymd_and_hms(2023, 10, 7, 9, 0, 0).unwrap();
    publisher.publish(next_day).unwrap();
    let anomalies = get(&app, "/fhir/MeasureReport?_id=open-anomalies-current").await;
    assert_eq!(anomalies.entries()[0]["resource"]["group"][0]["measureScore"]["value"], 2.0);
    let dated = get(&app, "/fhir/MeasureReport?_id=open-anomalies-20231006").await;
    assert_eq!(dated.entries()[0]["resource"]["group"][0]["measureScore"]["value"], 1.0);

    // UC11 S2: the indicators measured at a date, with their reports.
    let s2 = get(
        &app,
        "/fhir/Measure?_has:MeasureReport:measure:date=eq2023-10-06T15:00&_revinclude=MeasureReport:measure",
    )
    .await;
    assert_eq!(s2.status, 200, "{}", s2.text);
    let mut measures = s2.match_ids();
    measures.sort();
    let mut expected: Vec<String> =
        ror_search::indicators::MEASURES.iter().map(|m| m.id.to_owned()).collect();
    expected.sort();
    assert_eq!(measures, expected);
    assert!(s2.ids("include", "MeasureReport").contains(&"open-anomalies-20231006".to_owned()));
    let none = get(&app, "/fhir/Measure?_has:MeasureReport:measure:date=eq2023-10-06T16:00").await;
    assert_eq!(none.total(), 0);

    // The CSV extract reads the same values.
    let rows = app.app.indicators.rows(chrono::Utc::now());
    let plan = ror_search::export::extracts::Extract::Indicators
        .plan(&app.app, &ror_search::export::extracts::ExtractFilters::new(Some("52".into()), None).unwrap())
        .unwrap();
    let mut out = Vec::new();
    plan.write(&app.app, &mut out, &|_| {}).unwrap();
    let mut reader = csv::Reader::from_reader(out.as_slice());
    let csv_rows: Vec<(String, String, String)> = reader
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[0].to_owned(), r[2].to_owned(), r[3].to_owned()))
        .collect();
    let expected_rows: Vec<(String, String, String)> = rows
        .iter()
        .filter(|r| r.region == "52")
        .map(|r| (r.measure.clone(), r.dimension.clone(), format!("{}", r.value as i64)))
        .collect();
    assert_eq!(csv_rows, expected_rows);

    // The anomalies extract places each anomaly where the indicator counts it, over HTTP.
    for (region, expected) in [("11", vec!["t-1"]), ("52", vec!["t-2", "t-3"])] {
        let answer = get(&app, &format!("/export/anomalies.csv?region={region}")).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
        let mut ids: Vec<String> = reader
            .records()
            .map(|r| r.unwrap())
            .inspect(|r| assert_eq!(&r[9], region, "{r:?}"))
            .map(|r| r[0].to_owned())
            .collect();
        ids.sort();
        assert_eq!(ids, expected, "region {region}");
    }
}
