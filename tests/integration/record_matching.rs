//! `_matching=record`: capacity, equipment and tariff criteria on one record, versus the
//! default independent semantics of the national server (SPEC §6.2).

use serde_json::{json, Value};

use crate::common::{call, get, put_json, spec_get, TestApp};

const ROR: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/";
const NOS: &str = "https://mos.esante.gouv.fr/NOS/";

fn coded(url: &str, system: &str, code: &str) -> Value {
    json!({"url": url, "valueCodeableConcept": {"coding": [{"system": format!("{NOS}{system}/FHIR/{}", system.replacen('_', "-", 1)), "code": code}]}})
}

fn capacity(kind: &str, status: &str, gender: &str, count: i64) -> Value {
    json!({"url": format!("{ROR}ror-location-supported-capacity"), "extension": [
        coded("capacityType", "TRE_R329-NatureCapacite", kind),
        coded("capacityStatus", "TRE_R330-TypeStatutCapacite", status),
        coded("temporalityCapacity", "TRE_R331-TemporaliteCapacite", "01"),
        coded("genderCapacityAvailable", "TRE_R332-GenreCapacite", gender),
        {"url": "nbCapacity", "valueInteger": count},
        {"url": "capacityUpdateDate", "valueDateTime": "2026-11-22T08:00:00Z"}
    ]})
}

fn price(kind: &str, amount: f64) -> Value {
    json!({"url": format!("{ROR}ror-organization-price"), "extension": [
        coded("priceType", "TRE_R246-TypeTarif", kind),
        {"url": "amount", "valueMoney": {"value": amount, "currency": "EUR"}}
    ]})
}

fn uc4_s1(record: bool) -> String {
    let system = |name: &str| format!("{NOS}{name}/FHIR/{}", name.replacen('_', "-", 1));
    format!(
        "[BASE]/HealthcareService?specialty={}|356&location.capacity-type={}|01&location.gender-capacity-available={}|01&location.temporality-capacity={}|01&location.capacity-status={}|02&location.nb-capacity=gt0&_include=HealthcareService:location{}",
        system("TRE_R211-ActiviteOperationnelle"),
        system("TRE_R329-NatureCapacite"),
        system("TRE_R332-GenreCapacite"),
        system("TRE_R331-TemporaliteCapacite"),
        system("TRE_R330-TypeStatutCapacite"),
        if record { "&_matching=record" } else { "" }
    )
}

#[actix_web::test]
async fn test_capacity_and_tariff_record_matching() {
    let app = TestApp::empty();
    // Available beds are for men; beds for women are installed but none is free.
    let location = json!({"resourceType": "Location", "id": "l1", "extension": [
        capacity("01", "02", "02", 3), capacity("01", "01", "01", 10), capacity("01", "02", "01", 0)]});
    assert_eq!(put_json(&app, "/fhir/Location/l1", &location).await.status, 201);
    let service = json!({"resourceType": "HealthcareService", "id": "h1", "location": [{"reference": "Location/l1"}],
        "providedBy": {"reference": "Organization/o1"},
        "specialty": [{"coding": [{"system": format!("{NOS}TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle"), "code": "356"}]}]});
    assert_eq!(put_json(&app, "/fhir/HealthcareService/h1", &service).await.status, 201);

    assert_eq!(
        spec_get(&app, &uc4_s1(false)).await.match_ids(),
        ["h1"],
        "independent: each criterion on any record"
    );
    assert_eq!(spec_get(&app, &uc4_s1(true)).await.total(), 0, "record: no free bed for women");

    // A bed for women becomes free: the record-level search finds it at once.
    let mut updated = location.clone();
    updated["extension"][2] = capacity("01", "02", "01", 2);
    assert_eq!(put_json(&app, "/fhir/Location/l1", &updated).await.status, 200);
    assert_eq!(spec_get(&app, &uc4_s1(true)).await.match_ids(), ["h1"]);
    // And disappears again when the record is removed.
    let mut removed = updated.clone();
    removed["extension"].as_array_mut().unwrap().pop();
    assert_eq!(put_json(&app, "/fhir/Location/l1", &removed).await.status, 200);
    assert_eq!(spec_get(&app, &uc4_s1(true)).await.total(), 0);

    // Tariffs: a cheap tariff exists, but not of the asked type.
    let organization = json!({"resourceType": "Organization", "id": "o1", "extension": [price("02", 120.0), price("03", 20.0)]});
    assert_eq!(put_json(&app, "/fhir/Organization/o1", &organization).await.status, 201);
    let tariff = |record: bool| {
        format!(
            "[BASE]/HealthcareService?organization.price-type={NOS}TRE_R246-TypeTarif/FHIR/TRE-R246-TypeTarif|02&organization.price-amount-value=lt50{}",
            if record { "&_matching=record" } else { "" }
        )
    };
    assert_eq!(spec_get(&app, &tariff(false)).await.match_ids(), ["h1"]);
    assert_eq!(spec_get(&app, &tariff(true)).await.total(), 0);
    assert_eq!(
        get(&app, "/fhir/Organization?price-type=02&price-amount-value=gt100&_matching=record")
            .await
            .match_ids(),
        ["o1"]
    );

    let bad = call(&app, actix_web::test::TestRequest::get().uri("/fhir/Location?_matching=sometimes")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.expression(), "_matching");
    // Record types are internal: not served.
    assert_eq!(get(&app, "/fhir/LocationCapacityRecord").await.status, 404);
}

/// Several `location.*` criteria are evaluated together on the locations (one pass over the
/// offers): an offer with one location matches when that location meets them all, but an offer
/// with several locations, or a location referenced by identifier, may meet each on another one.
#[actix_web::test]
async fn test_chains_through_one_reference_may_hold_on_different_targets() {
    let app = TestApp::empty();
    // l2: a free bed for men; l3 (identifier LOC-3): beds for women, none free.
    let l2 = json!({"resourceType": "Location", "id": "l2", "extension": [capacity("01", "02", "02", 3)]});
    let l3 = json!({"resourceType": "Location", "id": "l3", "identifier": [{"value": "LOC-3"}],
        "extension": [capacity("01", "01", "01", 10)]});
    assert_eq!(put_json(&app, "/fhir/Location/l2", &l2).await.status, 201);
    assert_eq!(put_json(&app, "/fhir/Location/l3", &l3).await.status, 201);
    let offers = [
        ("h-both", json!([{"reference": "Location/l2"}, {"reference": "Location/l3"}])),
        ("h-l2", json!([{"reference": "Location/l2"}])),
        ("h-l3", json!([{"reference": "Location/l3"}])),
        ("h-l2-and-logical-l3", json!([{"reference": "Location/l2"}, {"identifier": {"value": "LOC-3"}}])),
        ("h-logical-l3", json!([{"identifier": {"value": "LOC-3"}}])),
    ];
    for (id, locations) in &offers {
        let offer = json!({"resourceType": "HealthcareService", "id": id, "location": locations});
        assert_eq!(put_json(&app, &format!("/fhir/HealthcareService/{id}"), &offer).await.status, 201);
    }
    let search = |query: &str| format!("/fhir/HealthcareService?{query}&_count=100");
    let ids = |query: &str| {
        let app = &app;
        let url = search(query);
        async move {
            let mut ids = get(app, &url).await.match_ids();
            ids.sort();
            ids
        }
    };
    // A free bed (status 02 on l2) and beds for women (gender 01 on l3): only through two locations.
    assert_eq!(
        ids("location.capacity-status=02&location.gender-capacity-available=01").await,
        ["h-both", "h-l2-and-logical-l3"]
    );
    // Both on l3: also through the reference by identifier alone.
    assert_eq!(
        ids("location.capacity-status=01&location.gender-capacity-available=01&location.nb-capacity=ge10")
            .await,
        ["h-both", "h-l2-and-logical-l3", "h-l3", "h-logical-l3"]
    );
    // Each on l2 and none on l3.
    assert_eq!(
        ids("location.capacity-status=02&location.gender-capacity-available=02&location.nb-capacity=3").await,
        ["h-both", "h-l2", "h-l2-and-logical-l3"]
    );
    // One criterion: any location, direct or by identifier.
    assert_eq!(
        ids("location.capacity-status=01").await,
        ["h-both", "h-l2-and-logical-l3", "h-l3", "h-logical-l3"]
    );
    assert_eq!(ids("location.capacity-status=02").await, ["h-both", "h-l2", "h-l2-and-logical-l3"]);
    // No location has ten free beds: the conjunction is empty, each alone is not.
    assert_eq!(
        ids("location.capacity-status=02&location.nb-capacity=ge10").await,
        ["h-both", "h-l2-and-logical-l3"]
    );
    assert!(ids("location.capacity-status=02&location.nb-capacity=ge11").await.is_empty());
    // Record-level matching still asks one location, one record.
    assert_eq!(
        ids("location.capacity-status=02&location.gender-capacity-available=01&_matching=record").await,
        Vec::<String>::new()
    );
}
