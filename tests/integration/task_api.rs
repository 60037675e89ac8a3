//! Anomalies (Task) with the IG's logical focus reference, UC10 searches and `_revinclude=Task:focus`.

use serde_json::json;

use crate::common::{fixture, get, post_json, put_json, spec_get, TestApp};

const R30: &str = "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM";
const R352: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R352-StatutMetierAnomalie/FHIR/TRE-R352-StatutMetierAnomalie";

#[actix_web::test]
async fn test_task_focus_by_identifier_chains_and_revinclude() {
    let app = TestApp::empty();
    let organization = json!({"resourceType": "Organization", "id": "eg-191080000", "meta": {"tag": [{"system": R30, "code": "11"}]},
        "identifier": [{"system": "https://finess.esante.gouv.fr", "value": "1910800002"}], "name": "EHPAD Les Tilleuls"});
    assert_eq!(put_json(&app, "/fhir/Organization/eg-191080000", &organization).await.status, 201);
    let service = json!({"resourceType": "HealthcareService", "id": "hs-9", "meta": {"tag": [{"system": R30, "code": "11"}]},
        "identifier": [{"value": "11/0000009"}], "providedBy": {"reference": "Organization/eg-191080000"}});
    assert_eq!(put_json(&app, "/fhir/HealthcareService/hs-9", &service).await.status, 201);

    // UC8 S1: the IG example, whose focus is a logical reference by identifier.
    let mut task = fixture("Task-ror-task-exemple.json");
    task.as_object_mut().unwrap().remove("id");
    let created = post_json(&app, "/fhir/Task", &task).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let task_id = created.body["id"].as_str().unwrap().to_owned();
    // A second anomaly on the offer, by literal reference, with status "à vérifier".
    let mut on_offer = task.clone();
    on_offer["focus"] = json!({"reference": "HealthcareService/hs-9"});
    on_offer["businessStatus"]["coding"][0]["code"] = json!("10");
    on_offer["identifier"] = json!([{"value": "ANO-2"}]);
    assert_eq!(put_json(&app, "/fhir/Task/ano-2", &on_offer).await.status, 201);

    assert_eq!(get(&app, &format!("/fhir/Task/{task_id}")).await.status, 200);
    assert_eq!(get(&app, "/fhir/Task?identifier=ANO-2").await.match_ids(), ["ano-2"]);
    assert_eq!(
        get(&app, "/fhir/Task?focus:Organization.identifier=1910800002").await.match_ids(),
        [task_id.as_str()]
    );
    assert_eq!(
        spec_get(&app, &format!("[BASE]/Task?focus:Organization:_tag={R30}|11")).await.match_ids(),
        [task_id.as_str()]
    );
    assert_eq!(
        get(&app, "/fhir/Task?focus:HealthcareService:identifier=11/0000009").await.match_ids(),
        ["ano-2"]
    );
    assert_eq!(
        get(&app, "/fhir/Task?focus:HealthcareService.identifier=11/0000009").await.match_ids(),
        ["ano-2"]
    );
    assert_eq!(get(&app, "/fhir/Task").await.total(), 2);

    let organizations = get(&app, "/fhir/Organization?identifier=1910800002&_revinclude=Task:focus").await;
    assert_eq!(organizations.ids("include", "Task"), [task_id.as_str()]);
    let offers =
        spec_get(&app, "[BASE]/HealthcareService?identifier=11/0000009&_revinclude=Task:focus").await;
    assert_eq!(offers.ids("include", "Task"), ["ano-2"]);
    // UC3 S12: offers in anomaly ("à traiter" or "à vérifier") in a region.
    let in_anomaly = spec_get(&app, &format!("[BASE]/HealthcareService?_tag={R30}|11&_filter=(_has:Task:focus:business-status eq {R352}|02 or {R352}|10)&_revinclude=Task:focus")).await;
    assert_eq!(in_anomaly.match_ids(), ["hs-9"]);
    // An anomaly on an organization found through its identifier.
    let flagged = get(&app, "/fhir/Organization?_has:Task:focus:business-status=02").await;
    assert_eq!(flagged.match_ids(), ["eg-191080000"]);
}

#[actix_web::test]
async fn test_task_with_unknown_focus_is_rejected() {
    let app = TestApp::empty();
    let mut task = fixture("Task-ror-task-exemple.json");
    task.as_object_mut().unwrap().remove("id");
    let refused = post_json(&app, "/fhir/Task", &task).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.expression(), "Task.focus");
    task["focus"] = json!({"reference": "HealthcareService/absent"});
    assert_eq!(post_json(&app, "/fhir/Task", &task).await.status, 422);
}

#[actix_web::test]
async fn test_uc8_s2_collection_of_anomalies_posted_to_bundle() {
    let app = TestApp::empty();
    let organization = json!({"resourceType": "Organization", "id": "eg-191080000",
        "identifier": [{"system": "https://finess.esante.gouv.fr", "value": "1910800002"}], "name": "EHPAD Les Tilleuls"});
    assert_eq!(put_json(&app, "/fhir/Organization/eg-191080000", &organization).await.status, 201);
    let mut first = fixture("Task-ror-task-exemple.json");
    first.as_object_mut().unwrap().remove("id");
    let mut second = first.clone();
    second["identifier"] = json!([{"value": "ANO-S2-2"}]);
    second["businessStatus"]["coding"][0]["code"] = json!("10");
    let collection = json!({"resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": first}, {"resource": second.clone()}]});
    let created = post_json(&app, "/fhir/Bundle", &collection).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let locations: Vec<String> = created.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["location"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(locations.len(), 2);
    assert!(locations.iter().all(|l| l.starts_with("Task/") && l.ends_with("/_history/1")), "{locations:?}");
    assert_eq!(get(&app, "/fhir/Task?focus:Organization.identifier=1910800002").await.total(), 2);
    assert_eq!(get(&app, "/fhir/Task?identifier=ANO-S2-2").await.total(), 1);

    // All or nothing: one anomaly on a focus that does not exist, nothing is created.
    let mut orphan = second.clone();
    orphan["focus"] = json!({"reference": "HealthcareService/absent"});
    let refused = post_json(&app, "/fhir/Bundle",
        &json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": second}, {"resource": orphan}]})).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(refused.expression().contains("focus"), "{}", refused.text);
    assert_eq!(get(&app, "/fhir/Task").await.total(), 2);
    // Other Bundle types are not posted there.
    let wrong = post_json(
        &app,
        "/fhir/Bundle",
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": []}),
    )
    .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert_eq!(wrong.expression(), "Bundle.type");
}
