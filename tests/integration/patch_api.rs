//! UC7 (locations and capacities) and UC9 (anomaly status) writes through PATCH.

use serde_json::{json, Value};

use crate::common::{call, fixture, get, post_json, put_json, TestApp};

const CAPACITY: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity";
const R330: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R330-TypeStatutCapacite/FHIR/TRE-R330-TypeStatutCapacite";

async fn patch(app: &TestApp, uri: &str, body: &Value, if_match: Option<&str>) -> crate::common::Response {
    let mut request = actix_web::test::TestRequest::patch()
        .uri(uri)
        .insert_header(("content-type", "application/fhir+json"))
        .set_payload(body.to_string());
    if let Some(version) = if_match {
        request = request.insert_header(("If-Match", version));
    }
    call(app, request).await
}

fn operation(kind: &str, path: &str, value: Option<Value>) -> Value {
    let mut parts =
        vec![json!({"name": "type", "valueString": kind}), json!({"name": "path", "valueString": path})];
    if let Some(value) = value {
        parts.push(value);
    }
    json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": parts}]})
}

fn selector() -> String {
    format!("Location.extension.where(url='{CAPACITY}').where(extension.where(url = 'capacityStatus' and valueCodeableConcept.coding.code = '02') and extension.where(url = 'temporalityCapacity' and valueCodeableConcept.coding.code = '01')  and extension.where(url = 'genderCapacityAvailable' and valueCodeableConcept.coding.code = '03') and extension.where(url = 'temporaryAssignement' and valueCodeableConcept.coding.code = '01'))")
}

#[actix_web::test]
async fn test_uc7_create_attach_and_bed_management_patches() {
    let app = TestApp::empty();
    // S1: create the location, then attach it to an offer.
    let mut location = fixture("Location-ror-location-exemple.json");
    location.as_object_mut().unwrap().remove("id");
    location["identifier"] = json!([{"value": "78/BM-001"}]);
    let created = post_json(&app, "/fhir/Location", &location).await;
    assert_eq!(created.status, 201);
    let location_id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        put_json(
            &app,
            "/fhir/HealthcareService/hs1",
            &json!({"resourceType": "HealthcareService", "id": "hs1", "name": "USIC"})
        )
        .await
        .status,
        201
    );
    let mut attach = fixture("Parameters-PATCH-HealthcareService-add-location.json");
    attach["parameter"][0]["part"][3]["part"][0]["valueString"] = json!(format!("Location/{location_id}"));
    let attached = patch(&app, "/fhir/HealthcareService/hs1", &attach, None).await;
    assert_eq!(attached.status, 200, "{}", attached.text);
    assert_eq!(attached.header("etag").as_deref(), Some("W/\"2\""));
    assert!(attached.header("last-modified").is_some());
    assert_eq!(get(&app, "/fhir/HealthcareService?location.commune-cog=78646").await.match_ids(), ["hs1"]);

    // S2: a bed manager adds a capacity record through the conditional PATCH on identifier.
    let added = patch(
        &app,
        "/fhir/Location?identifier=78/BM-001",
        &fixture("Parameters-PATCH-Location-add-supported-capacity.json"),
        None,
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.text);
    assert_eq!(added.body["meta"]["versionId"], "2");
    let found = get(
        &app,
        &format!("/fhir/HealthcareService?location.capacity-status={R330}%7C02&location.nb-capacity=gt24"),
    )
    .await;
    assert_eq!(found.match_ids(), ["hs1"]);

    // S2bis: replace the record (12 places).
    let mut replacement = fixture("Parameters-PATCH-Location-add-supported-capacity.json")["parameter"][0]
        ["part"][2]["part"][0]["extension"][0]
        .clone();
    replacement["extension"][0]["valueInteger"] = json!(12);
    let replace = operation(
        "replace",
        &selector(),
        Some(json!({"name": "value", "part": [{"extension": [replacement]}]})),
    );
    let replaced = patch(&app, "/fhir/Location?identifier=78/BM-001", &replace, None).await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(get(&app, "/fhir/Location?nb-capacity=12").await.match_ids(), [location_id.as_str()]);
    assert_eq!(get(&app, "/fhir/Location?nb-capacity=25").await.total(), 0);

    // A stale If-Match is refused and changes nothing.
    let stale = patch(&app, &format!("/fhir/Location/{location_id}"), &replace, Some("W/\"1\"")).await;
    assert_eq!(stale.status, 412);
    // A patch whose result breaks the rules is refused and changes nothing.
    let bad = operation("add", "Location", Some(json!({"name": "value", "valueDecimal": 1})));
    assert_eq!(patch(&app, &format!("/fhir/Location/{location_id}"), &bad, None).await.status, 422);
    let out_of_range =
        json!([{"op": "add", "path": "/position", "value": {"latitude": 123.0, "longitude": 2.0}}]);
    let refused = call(
        &app,
        actix_web::test::TestRequest::patch()
            .uri(&format!("/fhir/Location/{location_id}"))
            .insert_header(("content-type", "application/json-patch+json"))
            .set_payload(out_of_range.to_string()),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.expression(), "Location.position");
    let nothing = operation(
        "replace",
        "Location.extension.where(url='nope')",
        Some(json!({"name": "value", "valueString": "x"})),
    );
    assert_eq!(patch(&app, &format!("/fhir/Location/{location_id}"), &nothing, None).await.status, 422);
    assert_eq!(get(&app, &format!("/fhir/Location/{location_id}")).await.body["meta"]["versionId"], "3");

    // S3: delete the record.
    let deleted = patch(
        &app,
        &format!("/fhir/Location/{location_id}"),
        &operation("delete", &selector(), None),
        Some("W/\"3\""),
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(
        get(&app, "/fhir/Location?capacity-status:missing=true").await.match_ids(),
        [location_id.as_str()]
    );
    // Old versions stay readable.
    let v2 = get(&app, &format!("/fhir/Location/{location_id}/_history/2")).await;
    assert_eq!(v2.body["extension"].as_array().unwrap().iter().filter(|e| e["url"] == CAPACITY).count(), 1);
    // The conditional PATCH needs exactly one match.
    assert_eq!(patch(&app, "/fhir/Location?identifier=nope", &replace, None).await.status, 404);
}

#[actix_web::test]
async fn test_uc7_equipment_patches() {
    let app = TestApp::empty();
    let equipment = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipment";
    let limit = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipment-limit";
    let location = json!({"resourceType": "Location", "id": "l1", "extension": [
        {"url": equipment, "extension": [
            {"url": "equipmentType", "valueCodeableConcept": {"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_R212-Equipement/FHIR/TRE-R212-Equipement", "code": "089"}]}},
            {"url": "nbInService", "valueInteger": 2},
            {"url": limit, "extension": [
                {"url": "equipmentFeature", "valueCodeableConcept": {"coding": [{"code": "001"}]}},
                {"url": "limitValue", "valueQuantity": {"value": 300, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}]}]},
        {"url": equipment, "extension": [
            {"url": "equipmentType", "valueCodeableConcept": {"coding": [{"code": "030"}]}},
            {"url": "nbInService", "valueInteger": 1}]}
    ]});
    assert_eq!(put_json(&app, "/fhir/Location/l1", &location).await.status, 201);
    // S6: change the quantity of equipment 089 with its 300 kg limit.
    let s6 = format!("Location.extension.where(url='{equipment}' and extension.where(url='equipmentType' and valueCodeableConcept.coding[0].code='089') and extension.extension.where(url='{limit}' and extension.where(url='limitValue' and valueQuantity.value=300 and valueQuantity.unit='kg') and extension.where(url='equipmentFeature' and valueCodeableConcept.coding[0].code='001'))).extension.where(url='nbInService')");
    let response = patch(
        &app,
        "/fhir/Location/l1",
        &operation("replace", &s6, Some(json!({"name": "value", "valueInteger": 3}))),
        None,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let updated = get(&app, "/fhir/Location/l1").await;
    assert_eq!(
        updated.body["extension"][0]["extension"][1],
        json!({"url": "nbInService", "valueInteger": 3})
    );
    // A value on a complex extension breaks ext-1: refused, nothing changes.
    let broken = format!("Location.extension.where(url='{equipment}')[0]");
    let response = patch(
        &app,
        "/fhir/Location/l1",
        &operation("replace", &broken, Some(json!({"name": "value", "valueInteger": 3}))),
        None,
    )
    .await;
    assert_eq!(response.status, 422, "{}", response.text);
    // S7: equipment 030 taken out of service.
    let s7 = format!("Location.extension.where(url='{equipment}' and extension.where(url='equipmentType' and valueCodeableConcept.coding[0].code='030')).extension.where(url='nbInService')");
    assert_eq!(
        patch(
            &app,
            "/fhir/Location/l1",
            &operation("replace", &s7, Some(json!({"name": "value", "valueInteger": 0}))),
            None
        )
        .await
        .status,
        200
    );
    // S8: limit lowered to 280 kg; the limit-value search follows.
    let s8 = format!("Location.extension.where(url='{equipment}').extension.where(url='{limit}').extension.where(url='limitValue').valueQuantity.value");
    assert_eq!(
        patch(
            &app,
            "/fhir/Location/l1",
            &operation("replace", &s8, Some(json!({"name": "value", "valueDecimal": 280}))),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        get(&app, "/fhir/Location?limit-value=ge290%7Chttp://unitsofmeasure.org%7Ckg").await.total(),
        0
    );
    assert_eq!(get(&app, "/fhir/Location?limit-value=280%7C%7Ckg").await.match_ids(), ["l1"]);
    // UCUM: the same limit searched in grams.
    assert_eq!(
        get(&app, "/fhir/Location?limit-value=ge250000%7Chttp://unitsofmeasure.org%7Cg").await.match_ids(),
        ["l1"]
    );
    assert_eq!(
        get(&app, "/fhir/Location?limit-value=ge290000%7Chttp://unitsofmeasure.org%7Cg").await.total(),
        0
    );
}

#[actix_web::test]
async fn test_uc9_task_status_patch_and_transaction_of_patches() {
    let app = TestApp::empty();
    let organization =
        json!({"resourceType": "Organization", "id": "o1", "identifier": [{"value": "1910800002"}]});
    assert_eq!(put_json(&app, "/fhir/Organization/o1", &organization).await.status, 201);
    let mut task = fixture("Task-ror-task-exemple.json");
    for id in ["1309", "1310"] {
        task["id"] = json!(id);
        assert_eq!(put_json(&app, &format!("/fhir/Task/{id}"), &task).await.status, 201);
    }
    let corrected =
        patch(&app, "/fhir/Task/1309", &fixture("Parameters-PATCH-Task-businessStatus.json"), None).await;
    assert_eq!(corrected.status, 200, "{}", corrected.text);
    assert_eq!(corrected.body["businessStatus"]["coding"][0]["code"], "08");
    // PATCH always sets the current time.
    let year = chrono::Utc::now().format("%Y").to_string();
    assert!(corrected.body["meta"]["lastUpdated"].as_str().unwrap().starts_with(&year));
    // Mass update: a transaction of PATCH entries with absolute URLs, all or nothing.
    let mut bundle = fixture("Bundle-transaction-PATCH-Tasks.json");
    bundle["entry"][0]["request"]["url"] = json!("https://rortest.esante.gouv.fr/anomalies/Task/1310");
    let mut second = bundle["entry"][0].clone();
    second["request"]["url"] = json!("Task/absent");
    bundle["entry"].as_array_mut().unwrap().push(second);
    let failed = post_json(&app, "/fhir", &bundle).await;
    assert_eq!(failed.status, 404, "{}", failed.text);
    assert_eq!(get(&app, "/fhir/Task/1310").await.body["meta"]["versionId"], "1");
    bundle["entry"].as_array_mut().unwrap().pop();
    let done = post_json(&app, "/fhir", &bundle).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(get(&app, "/fhir/Task?business-status=260385009").await.match_ids(), ["1310"]);
}

/// Bed-management systems patch the same location at once: every acknowledged PATCH is applied
/// to the version before it (no lost update).
#[actix_web::test]
async fn test_concurrent_patches_of_one_location_lose_no_update() {
    let app = TestApp::empty();
    let location = json!({"resourceType": "Location", "id": "busy", "name": "Réanimation",
        "identifier": [{"value": "78/BUSY"}]});
    assert_eq!(put_json(&app, "/fhir/Location/busy", &location).await.status, 201);
    let add = fixture("Parameters-PATCH-Location-add-supported-capacity.json");
    const PATCHES: usize = 24;
    let answers = futures_util_join_all(
        (0..PATCHES)
            .map(|n| {
                let uri =
                    if n % 2 == 0 { "/fhir/Location/busy" } else { "/fhir/Location?identifier=78/BUSY" };
                patch(&app, uri, &add, None)
            })
            .collect(),
    )
    .await;
    let mut versions: Vec<u64> = answers
        .iter()
        .map(|answer| {
            assert_eq!(answer.status, 200, "{}", answer.text);
            answer.body["meta"]["versionId"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..2 + PATCHES as u64).collect::<Vec<_>>());
    let stored = get(&app, "/fhir/Location/busy").await;
    let records =
        stored.body["extension"].as_array().unwrap().iter().filter(|e| e["url"] == CAPACITY).count();
    assert_eq!(records, PATCHES);
    assert_eq!(stored.body["meta"]["versionId"], (1 + PATCHES).to_string());
    // The search state holds the last version's records.
    let found = get(&app, &format!("/fhir/Location?capacity-status={R330}%7C02&_id=busy")).await;
    assert_eq!(found.match_ids(), ["busy"]);
    // A stale If-Match is refused, not retried.
    let stale = patch(&app, "/fhir/Location/busy", &add, Some("W/\"3\"")).await;
    assert_eq!(stale.status, 412, "{}", stale.text);
}

async fn futures_util_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    // Polled together on the test's runtime: their blocking parts run on the pool at once.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future completed")).collect()
}

/// Paging runs on the snapshot of the first page: a location patched (or deleted) while a
/// client pages through a large result keeps its place and shows the version it had, in both
/// cursor kinds (key order, and an explicit sort).
#[actix_web::test]
async fn test_paging_shows_the_first_pages_snapshot_across_writes() {
    let app = TestApp::empty();
    for n in 0..30 {
        let location = json!({"resourceType": "Location", "id": format!("loc-{n:02}"),
            "name": format!("Unité {n:02}"), "address": {"postalCode": "44000"}});
        assert_eq!(put_json(&app, &format!("/fhir/Location/loc-{n:02}"), &location).await.status, 201);
    }
    let renamed = |n: usize| json!([{"op": "replace", "path": "/name", "value": format!("Renamed {n:02}")}]);
    for query in [
        "/fhir/Location?address-postalcode=44&_count=10",
        "/fhir/Location?address-postalcode=44&_sort=-name&_count=10",
    ] {
        let first = get(&app, query).await;
        assert_eq!(first.status, 200, "{}", first.text);
        assert_eq!(first.total(), 30);
        let mut ids = first.match_ids();
        // Writes between the pages: every location not yet shown is renamed, one is deleted.
        let later: Vec<String> =
            (0..30).map(|n| format!("loc-{n:02}")).filter(|id| !ids.contains(id)).collect();
        for id in &later {
            let n: usize = id[4..].parse().unwrap();
            let request = actix_web::test::TestRequest::patch()
                .uri(&format!("/fhir/Location/{id}"))
                .insert_header(("content-type", "application/json-patch+json"))
                .set_payload(renamed(n).to_string());
            assert_eq!(call(&app, request).await.status, 200);
        }
        let deleted = later.last().unwrap().clone();
        let request = actix_web::test::TestRequest::delete().uri(&format!("/fhir/Location/{deleted}"));
        assert!(call(&app, request).await.status < 300);
        let mut next =
            first.body["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").cloned();
        while let Some(link) = next {
            let page = get(&app, link["url"].as_str().unwrap().trim_start_matches("http://test")).await;
            assert_eq!(page.status, 200, "{}", page.text);
            assert_eq!(page.total(), 30);
            for entry in page.entries().iter().filter(|e| e["search"]["mode"] == "match") {
                let name = entry["resource"]["name"].as_str().unwrap();
                assert!(
                    name.starts_with("Unité"),
                    "{query}: a later page shows a version written after the first: {name}"
                );
            }
            ids.extend(page.match_ids());
            next = page.body["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").cloned();
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((ids.len(), unique.len()), (30, 30), "{query}: every match exactly once");
        assert!(ids.contains(&deleted));
        // A new search sees the writes.
        let fresh = get(&app, query).await;
        assert_eq!(fresh.total(), 29);
        // Put the corpus back for the next query.
        let n: usize = deleted[4..].parse().unwrap();
        let location = json!({"resourceType": "Location", "id": deleted, "name": format!("Unité {n:02}"),
            "address": {"postalCode": "44000"}});
        assert_eq!(put_json(&app, &format!("/fhir/Location/{deleted}"), &location).await.status, 201);
        for id in &later {
            let n: usize = id[4..].parse().unwrap();
            let location = json!({"resourceType": "Location", "id": id, "name": format!("Unité {n:02}"),
                "address": {"postalCode": "44000"}});
            assert!(put_json(&app, &format!("/fhir/Location/{id}"), &location).await.status < 300);
        }
    }
}

/// A PATCH's index document is extracted off the writer before the store stamps the version and
/// `lastUpdated`: the search state must hold the stamped values, as a fresh extraction would.
#[actix_web::test]
async fn test_patched_resource_is_indexed_with_the_stamped_last_updated() {
    let app = TestApp::empty();
    let location = json!({"resourceType": "Location", "id": "stamp", "name": "Réanimation",
        "meta": {"lastUpdated": "2019-03-04T05:06:07Z"}});
    assert_eq!(put_json(&app, "/fhir/Location/stamp", &location).await.status, 201);
    let found = |query: String| {
        let app = &app;
        async move { get(app, &query).await.match_ids() }
    };
    assert_eq!(found("/fhir/Location?_lastUpdated=2019-03-04&_id=stamp".into()).await, ["stamp"]);
    let add = fixture("Parameters-PATCH-Location-add-supported-capacity.json");
    let patched = patch(&app, "/fhir/Location/stamp", &add, None).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let stamped = patched.body["meta"]["lastUpdated"].as_str().unwrap().to_owned();
    assert!(!stamped.starts_with("2019"), "a PATCH sets the current time: {stamped}");
    let second = &stamped[..19];
    assert_eq!(found(format!("/fhir/Location?_lastUpdated={second}&_id=stamp")).await, ["stamp"]);
    assert!(found("/fhir/Location?_lastUpdated=2019-03-04&_id=stamp".into()).await.is_empty());
    assert_eq!(found(format!("/fhir/Location?capacity-status={R330}%7C02&_id=stamp")).await, ["stamp"]);
    // The version is the store's, in the resource and its ETag.
    let read = get(&app, "/fhir/Location/stamp").await;
    assert_eq!(read.body["meta"]["versionId"], "2");
    assert_eq!(read.header("etag").as_deref(), Some("W/\"2\""));
}

/// `_lastUpdated` searches repeated on one state of the collection come to be answered from the
/// column in date order (after 16 passes over it): the answers stay those of the pass, for every
/// prefix, and a write drops the order, so the next searches see the new date.
#[actix_web::test]
async fn test_repeated_last_updated_searches_answer_the_same_and_follow_writes() {
    let app = TestApp::empty();
    let day = |n: usize| format!("20{:02}-{:02}-{:02}", 19 + n % 7, 1 + n % 12, 1 + n % 28);
    for n in 0..60 {
        let location = json!({"resourceType": "Location", "id": format!("dated{n:02}"), "name": "Unité",
            "meta": {"lastUpdated": format!("{}T10:{:02}:00Z", day(n), n % 60)}});
        assert_eq!(put_json(&app, &format!("/fhir/Location/dated{n:02}"), &location).await.status, 201);
    }
    let expected = |test: &dyn Fn(&str) -> bool| -> Vec<String> {
        (0..60).filter(|n| test(&day(*n))).map(|n| format!("dated{n:02}")).collect()
    };
    let sorted_ids = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("ge2023-08-02", expected(&|d| d >= "2023-08-02")),
        ("gt2025-06-01", expected(&|d| d > "2025-06-01")),
        ("lt2020-03-01", expected(&|d| d < "2020-03-01")),
        ("2022", expected(&|d| d.starts_with("2022"))),
        ("ne2021", expected(&|d| !d.starts_with("2021"))),
        ("le2019-12-31,ge2025-01-01", expected(&|d| d <= "2019-12-31" || d >= "2025-01-01")),
    ];
    for (value, ids) in &cases {
        assert!(!ids.is_empty() && ids.len() < 60, "{value}: {ids:?}");
        for round in 0..20 {
            let found =
                get(&app, &format!("/fhir/Location?_lastUpdated={value}&_count=200")).await.match_ids();
            assert_eq!(&sorted_ids(found), ids, "{value}, search {round}");
        }
    }
    // An old location rewritten today: found by the next searches, the order rebuilt or not.
    let old = (0..60).find(|n| day(*n).as_str() < "2020-03-01").map(|n| format!("dated{n:02}")).unwrap();
    let add = fixture("Parameters-PATCH-Location-add-supported-capacity.json");
    assert_eq!(patch(&app, &format!("/fhir/Location/{old}"), &add, None).await.status, 200);
    for round in 0..20 {
        let recent = get(&app, "/fhir/Location?_lastUpdated=ge2023-08-02&_count=200").await.match_ids();
        assert!(recent.contains(&old), "search {round}: {recent:?}");
        let oldest = get(&app, "/fhir/Location?_lastUpdated=lt2020-03-01&_count=200").await.match_ids();
        assert!(!oldest.contains(&old), "search {round}: {oldest:?}");
    }
}
