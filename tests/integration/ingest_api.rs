use serde_json::json;

use crate::common::{call, fixture, get, post_json, put_json, TestApp};

#[actix_web::test]
async fn test_put_read_version_and_keep_source_last_updated() {
    let app = TestApp::empty();
    let location = fixture("Location-ror-location-exemple.json");
    let created = put_json(&app, "/fhir/Location/ror-location-exemple", &location).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("etag").as_deref(), Some("W/\"1\""));
    assert!(created.header("location").unwrap().ends_with("/Location/ror-location-exemple/_history/1"));
    assert!(created.header("last-modified").is_some());
    let read = get(&app, "/fhir/Location/ror-location-exemple").await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["meta"]["versionId"], "1");
    // The source's lastUpdated is kept on ingest (SPEC: _lastUpdated refers to the source date).
    assert_eq!(read.body["meta"]["lastUpdated"], "2023-12-20T10:00:00+01:00");

    let mut changed = location.clone();
    changed["address"]["city"] = json!("VERSAILLES CEDEX");
    changed["meta"] = json!({});
    let updated = put_json(&app, "/fhir/Location/ror-location-exemple", &changed).await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.header("etag").as_deref(), Some("W/\"2\""));
    // Without a source date the server sets the current time.
    let now_year = chrono::Utc::now().format("%Y").to_string();
    assert!(updated.body["meta"]["lastUpdated"].as_str().unwrap().starts_with(&now_year));
    let old = get(&app, "/fhir/Location/ror-location-exemple/_history/1").await;
    assert_eq!(old.body["address"]["city"], "Versailles");
    let history = get(&app, "/fhir/Location/ror-location-exemple/_history").await;
    assert_eq!(history.body["total"], 2);

    // Visible to search as soon as acknowledged.
    let found = get(&app, "/fhir/Location?address-city=VERSAILLES%20CEDEX").await;
    assert_eq!(found.match_ids(), vec!["ror-location-exemple"]);
    let gone = get(&app, "/fhir/Location?address-city:exact=Versailles").await;
    assert_eq!(gone.total(), 0);
}

#[actix_web::test]
async fn test_if_match_conflict_post_and_delete() {
    let app = TestApp::empty();
    let location = fixture("Location-ror-location-exemple.json");
    let mut body = location.clone();
    body.as_object_mut().unwrap().remove("id");
    let created = post_json(&app, "/fhir/Location", &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(created.header("location").unwrap().contains(&format!("/Location/{id}/_history/1")));

    let stale = call(
        &app,
        actix_web::test::TestRequest::put()
            .uri(&format!("/fhir/Location/{id}"))
            .insert_header(("If-Match", "W/\"7\""))
            .set_payload(json!({"resourceType": "Location", "id": id}).to_string()),
    )
    .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.body["resourceType"], "OperationOutcome");

    let deleted =
        call(&app, actix_web::test::TestRequest::delete().uri(&format!("/fhir/Location/{id}"))).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(get(&app, &format!("/fhir/Location/{id}")).await.status, 410);
    assert_eq!(get(&app, "/fhir/Location?_id=".to_owned().as_str()).await.status, 400);
    assert_eq!(get(&app, &format!("/fhir/Location?_id={id}")).await.total(), 0);
    assert_eq!(get(&app, "/fhir/Location/unknown").await.status, 404);
}

#[actix_web::test]
async fn test_transaction_is_all_or_nothing_and_rewrites_references() {
    let app = TestApp::empty();
    let bad = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:org", "resource": {"resourceType": "Organization", "name": "EG"}, "request": {"method": "POST", "url": "Organization"}},
        {"resource": {"resourceType": "Location", "id": "l1", "meta": {"lastUpdated": "not a date"}}, "request": {"method": "PUT", "url": "Location/l1"}}
    ]});
    let failed = post_json(&app, "/fhir", &bad).await;
    assert_eq!(failed.status, 422, "{}", failed.text);
    assert_eq!(failed.expression(), "Bundle.entry[1].resource (Location.meta.lastUpdated)");
    assert_eq!(get(&app, "/fhir/Organization").await.total(), 0);

    let good = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:org", "resource": {"resourceType": "Organization", "name": "Clinique du Parc"}, "request": {"method": "POST", "url": "Organization"}},
        {"resource": {"resourceType": "HealthcareService", "id": "hs1", "providedBy": {"reference": "urn:uuid:org"}, "name": "Cardiologie"}, "request": {"method": "PUT", "url": "HealthcareService/hs1"}}
    ]});
    let done = post_json(&app, "/fhir", &good).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["type"], "transaction-response");
    assert_eq!(done.body["entry"][0]["response"]["status"], "201 Created");
    let service = get(&app, "/fhir/HealthcareService/hs1").await;
    let reference = service.body["providedBy"]["reference"].as_str().unwrap().to_owned();
    assert!(reference.starts_with("Organization/"), "{reference}");
    let chained = get(&app, "/fhir/HealthcareService?organization.name=clinique").await;
    assert_eq!(chained.match_ids(), vec!["hs1"]);
}

#[actix_web::test]
async fn test_batch_entries_fail_independently() {
    let app = TestApp::empty();
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Location", "id": "ok"}, "request": {"method": "PUT", "url": "Location/ok"}},
        {"resource": {"resourceType": "Location", "id": "bad", "position": {"latitude": 123, "longitude": 2}}, "request": {"method": "PUT", "url": "Location/bad"}},
        {"request": {"method": "DELETE", "url": "Location/absent"}}
    ]});
    let response = post_json(&app, "/fhir", &batch).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.body["entry"][0]["response"]["status"], "201 Created");
    assert!(response.body["entry"][1]["response"]["status"].as_str().unwrap().starts_with("422"));
    assert_eq!(response.body["entry"][2]["response"]["status"], "204 No Content");
    assert_eq!(get(&app, "/fhir/Location/ok").await.status, 200);
    assert_eq!(get(&app, "/fhir/Location/bad").await.status, 404);
}

#[actix_web::test]
async fn test_bad_bodies_get_operation_outcomes() {
    let app = TestApp::empty();
    let not_json =
        call(&app, actix_web::test::TestRequest::put().uri("/fhir/Location/x").set_payload("{oops")).await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.body["resourceType"], "OperationOutcome");
    let wrong_type =
        put_json(&app, "/fhir/Location/x", &json!({"resourceType": "Organization", "id": "x"})).await;
    assert_eq!(wrong_type.status, 400);
    assert_eq!(wrong_type.expression(), "resourceType");
    let id_mismatch =
        put_json(&app, "/fhir/Location/x", &json!({"resourceType": "Location", "id": "y"})).await;
    assert_eq!(id_mismatch.status, 400);
    assert_eq!(id_mismatch.expression(), "Location.id");
    let bad_array = put_json(
        &app,
        "/fhir/HealthcareService/x",
        &json!({"resourceType": "HealthcareService", "specialty": {"text": "x"}}),
    )
    .await;
    assert_eq!(bad_array.status, 422);
    assert_eq!(bad_array.expression(), "HealthcareService.specialty");
    let unknown_type = get(&app, "/fhir/Patient?name=x").await;
    assert_eq!(unknown_type.status, 404);
    assert_eq!(unknown_type.body["resourceType"], "OperationOutcome");
}

#[actix_web::test]
async fn test_acknowledged_writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let app = TestApp::reopen(dir.path());
        let location = fixture("Location-ror-location-exemple.json");
        assert_eq!(
            put_json(
                &app,
                "/fhir/Location/a",
                &json!({"resourceType": "Location", "id": "a", "extension": location["extension"]})
            )
            .await
            .status,
            201
        );
    }
    let reopened = TestApp::reopen(dir.path());
    let found = get(&reopened, "/fhir/Location?commune-cog=78646").await;
    assert_eq!(found.match_ids(), vec!["a"]);
}
