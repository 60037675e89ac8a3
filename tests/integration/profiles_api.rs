//! Access profiles 0–5 (SPEC §5.2–§5.3) through the HTTP interface: one test per rule of the
//! §5.3 table (and the §5.2 rules of profiles 4 and 5), through reads, searches,
//! `_include`/`_revinclude`, `$export` and a CSV extract, plus the no-leak matching rules.
//!
//! The caller's `Principal` is attached to each request by a small `wrap_fn`, as the
//! authentication layer does. Resources are built like the IG's examples
//! (`HealthcareService-1234564.json`, `Parameters-PATCH-Location-add-supported-capacity.json`,
//! `ROROrganizationExempleEG.fsh`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::dev::Service;
use actix_web::test::TestRequest;
use actix_web::HttpMessage;
use ror_search::http::HttpState;
use ror_search::security::{AccessProfile, Principal};
use serde_json::{json, Value};

use crate::common::{Response, TestApp};

const ROR: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/";
const ALL: [AccessProfile; 6] = [
    AccessProfile::P0,
    AccessProfile::P1,
    AccessProfile::P2,
    AccessProfile::P3,
    AccessProfile::P4,
    AccessProfile::P5,
];

fn nos(name: &str) -> String {
    format!("https://mos.esante.gouv.fr/NOS/{name}/FHIR/{}", name.replacen('_', "-", 1))
}

fn concept(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": nos(system), "code": code}]})
}

fn coded(url: &str, system: &str, code: &str) -> Value {
    json!({"url": url, "valueCodeableConcept": concept(system, code)})
}

fn principal(profile: AccessProfile) -> Principal {
    Principal { consumer: format!("consumer-p{}", profile.number()), profile, admin: false }
}

/// One request as `profile` (`None`: no authentication layer, i.e. unrestricted). Streamed
/// bodies (export files, CSV) are read whole.
async fn call_as(app: &TestApp, profile: Option<AccessProfile>, request: TestRequest) -> Response {
    call_principal(app, profile.map(principal), request).await
}

async fn call_principal(app: &TestApp, principal: Option<Principal>, request: TestRequest) -> Response {
    let state = actix_web::web::Data::new(HttpState {
        max_body_bytes: 1 << 24,
        ..HttpState::new(app.app.clone(), Some("http://test/fhir".into()))
    });
    let service = actix_web::test::init_service(
        actix_web::App::new()
            .app_data(state)
            .wrap_fn(move |request, service| {
                if let Some(principal) = &principal {
                    request.extensions_mut().insert(principal.clone());
                }
                service.call(request)
            })
            .configure(ror_search::http::configure),
    )
    .await;
    let response = service.call(request.to_request()).await.expect("service call");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = actix_web::body::to_bytes(response.into_body()).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Response { status, headers, body, text }
}

async fn get_as(app: &TestApp, profile: AccessProfile, uri: &str) -> Response {
    call_as(app, Some(profile), TestRequest::get().uri(&encode(uri))).await
}

/// Percent-encode the pipes of token values.
fn encode(uri: &str) -> String {
    uri.replace('|', "%7C")
}

// ------------------------------------------------------------------ the data set

fn capacity(kind: &str, status: &str, count: i64, assignment: &str, extra: &[Value]) -> Value {
    let mut parts = vec![
        coded("capacityType", "TRE_R329-NatureCapacite", kind),
        coded("capacityStatus", "TRE_R330-TypeStatutCapacite", status),
        coded("temporalityCapacity", "TRE_R331-TemporaliteCapacite", "01"),
        json!({"url": "nbCapacity", "valueInteger": count}),
        coded("capacitySourceType", "TRE_R335-TypeSourceCapacite", "01"),
        json!({"url": "capacityUpdateDate", "valueDateTime": "2026-11-20T08:00:00+01:00"}),
        coded("temporaryAssignement", "TRE_R337-AffectationTemporaire", assignment),
    ];
    parts.extend(extra.iter().cloned());
    json!({"url": format!("{ROR}ror-location-supported-capacity"), "extension": parts})
}

fn gender(code: &str) -> Value {
    coded("genderCapacityAvailable", "TRE_R332-GenreCapacite", code)
}

fn equipment(code: &str) -> Value {
    json!({"url": format!("{ROR}ror-location-equipment"), "extension": [
        coded("equipmentType", "TRE_R212-Equipement", code),
        {"url": "nbInService", "valueInteger": 1},
        {"url": format!("{ROR}ror-location-equipment-limit"), "extension": [
            coded("equipmentFeature", "TRE_R340-TypeCaracteristiqueEquipement", "001"),
            {"url": "limitValue", "valueQuantity": {"value": 250, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
        ]}
    ]})
}

fn level(url: &str, code: &str) -> Value {
    coded(&format!("{ROR}{url}"), "TRE_R283-NiveauConfidentialite", code)
}

fn telecom(value: &str, confidentiality: &str) -> Value {
    json!({"system": "phone", "value": value, "extension": [
        coded(&format!("{ROR}ror-telecom-communication-channel"), "TRE_R200-CanalCommunication", "2"),
        level("ror-telecom-confidentiality-level", confidentiality)
    ]})
}

/// `ror-healthcareservice-contact` as in the IG's HealthcareService example.
fn offer_contact(phone: &str, confidentiality: &str) -> Value {
    json!({"url": format!("{ROR}ror-healthcareservice-contact"), "extension": [
        coded("purposeContact", "TRE_R287-NatureContact", "06"),
        level("ror-confidentiality-level", confidentiality),
        {"url": format!("{ROR}ror-healthcareservice-contact-telecom"), "extension": [
            coded(&format!("{ROR}ror-telecom-communication-channel"), "TRE_R200-CanalCommunication", "2"),
            level("ror-telecom-confidentiality-level", confidentiality),
            {"url": "telecomAddress", "valueString": phone}
        ]}
    ]})
}

fn offer(id: &str, field: &str, sensitive: bool, locations: &[&str], extra: &[Value]) -> Value {
    let mut extensions = vec![
        json!({"url": format!("{ROR}ror-healthcareservice-sensitive-unit"), "valueBoolean": sensitive}),
        json!({"url": format!("{ROR}ror-meta-creation-date"), "valueDateTime": "2017-11-27T17:12:28+00:00"}),
    ];
    extensions.extend(extra.iter().cloned());
    json!({
        "resourceType": "HealthcareService", "id": id,
        "meta": {"lastUpdated": "2026-11-20T10:00:00+01:00", "tag": [{"system": nos("TRE_R30-RegionOM"), "code": "52"}]},
        "extension": extensions,
        "identifier": [{"value": format!("52/{id}")}],
        "providedBy": {"reference": "Organization/org-eg"},
        "type": [concept("TRE_R227-ChampActivite", field)],
        "specialty": [concept("TRE_R211-ActiviteOperationnelle", "022")],
        "name": format!("Offre {id}"),
        "location": locations.iter().map(|l| json!({"reference": format!("Location/{l}")})).collect::<Vec<_>>(),
    })
}

fn location(id: &str, extensions: Vec<Value>, telecoms: Vec<Value>) -> Value {
    let mut resource = json!({
        "resourceType": "Location", "id": id,
        "meta": {"lastUpdated": "2026-11-20T10:00:00+01:00", "tag": [{"system": nos("TRE_R30-RegionOM"), "code": "52"}]},
        "extension": extensions,
        "name": format!("Lieu {id}"),
        "managingOrganization": {"reference": "Organization/org-eg"},
        "position": {"latitude": 47.2, "longitude": -1.55},
    });
    if !telecoms.is_empty() {
        resource["telecom"] = Value::Array(telecoms);
    }
    resource
}

fn role(id: &str, service: &str, practitioner: &str) -> Value {
    json!({
        "resourceType": "PractitionerRole", "id": id,
        "extension": [{"url": format!("{ROR}ror-practitionerrole-name"), "valueString": format!("Dr {practitioner}")}],
        "identifier": [{"value": format!("52/{id}")}],
        "practitioner": {"reference": format!("Practitioner/{practitioner}")},
        "healthcareService": [{"reference": format!("HealthcareService/{service}")}],
        "code": [concept("TRE_G15-ProfessionSante", "10")],
        "telecom": [telecom(&format!("tel-{id}"), "1")],
    })
}

fn practitioner(id: &str, family: &str, number: &str) -> Value {
    json!({
        "resourceType": "Practitioner", "id": id,
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": number}],
        "name": [{"use": "usual", "family": family, "given": ["Camille"]}],
        "telecom": [telecom(&format!("tel-{id}"), "1")],
        "gender": "female",
    })
}

fn data_set() -> Vec<Value> {
    let organization_eg = json!({
        "resourceType": "Organization", "id": "org-eg", "name": "Centre hospitalier test",
        "partOf": {"reference": "Organization/org-ej"},
        "telecom": [telecom("org-phone-restricted", "2")],
        "contact": [
            {"extension": [level("ror-contact-confidentiality-level", "1")], "purpose": concept("TRE_R287-NatureContact", "06"),
             "telecom": [telecom("org-contact-open", "1")]},
            {"extension": [level("ror-contact-confidentiality-level", "3")], "purpose": concept("TRE_R287-NatureContact", "06"),
             "telecom": [telecom("org-contact-secret", "3")]}
        ],
        "extension": [{"url": format!("{ROR}ror-organization-price"), "extension": [
            coded("priceType", "TRE_R246-TypeTarif", "02"),
            coded("priceUnit", "TRE_R228-UnitePrix", "2"),
            {"url": "amount", "valueMoney": {"value": 64.5, "currency": "EUR"}}
        ]}]
    });
    vec![
        json!({"resourceType": "Organization", "id": "org-ej", "name": "Entité juridique test"}),
        organization_eg,
        offer(
            "hs-mco",
            "01",
            false,
            &["loc-mco", "loc-shared"],
            &[
                offer_contact("0100000001", "1"),
                offer_contact("0100000002", "2"),
                offer_contact("0100000003", "3"),
            ],
        ),
        offer(
            "hs-ms",
            "04",
            false,
            &["loc-ms", "loc-shared"],
            &[offer_contact("0400000001", "1"), offer_contact("0400000002", "2")],
        ),
        offer("hs-sens", "03", true, &["loc-sens"], &[]),
        offer("hs-ville", "05", false, &["loc-ville"], &[]),
        location(
            "loc-mco",
            vec![
                capacity("01", "01", 20, "01", &[]),
                capacity("01", "02", 3, "02", &[gender("01")]),
                capacity(
                    "01",
                    "06",
                    5,
                    "01",
                    &[
                        coded("additionalBedType", "TRE_R334-TypeLitSupplementaire", "01"),
                        coded("crisisType", "TRE_R336-TypeCrise", "02"),
                    ],
                ),
                capacity(
                    "01",
                    "05",
                    2,
                    "01",
                    &[coded("capacityClosingType", "TRE_R333-TypeFermetureCapacite", "01")],
                ),
                equipment("088"),
            ],
            vec![telecom("loc-phone-open", "1"), telecom("loc-phone-restricted", "2")],
        ),
        location(
            "loc-ms",
            vec![
                capacity("02", "01", 30, "01", &[gender("04")]),
                capacity("02", "02", 2, "01", &[]),
                capacity("02", "06", 4, "01", &[]),
                equipment("089"),
                json!({"url": format!("{ROR}ror-location-residential-capacity"), "extension": [
                    coded("residentialType", "TRE_R242-TypeHabitation", "02"), {"url": "residentialNumber", "valueInteger": 12}]}),
            ],
            vec![],
        ),
        location(
            "loc-shared",
            vec![capacity("01", "01", 8, "02", &[]), capacity("01", "02", 1, "01", &[]), equipment("030")],
            vec![],
        ),
        location(
            "loc-sens",
            vec![capacity("01", "01", 10, "01", &[]), capacity("01", "02", 2, "01", &[gender("02")])],
            vec![],
        ),
        location("loc-ville", vec![capacity("02", "02", 4, "01", &[])], vec![]),
        role("pr-mco", "hs-mco", "prac-mco"),
        role("pr-ms", "hs-ms", "prac-ms"),
        role("pr-ville", "hs-ville", "prac-ville"),
        role("pr-shared-ville", "hs-ville", "prac-shared"),
        role("pr-shared-sens", "hs-sens", "prac-shared"),
        role("pr-sens", "hs-sens", "prac-sens"),
        practitioner("prac-mco", "Mcofamille", "810000000001"),
        practitioner("prac-ms", "Msfamille", "810000000002"),
        practitioner("prac-ville", "Villefamille", "810000000003"),
        practitioner("prac-shared", "Partagefamille", "810000000004"),
        practitioner("prac-sens", "Sensfamille", "810000000005"),
        json!({"resourceType": "Task", "id": "task-sens", "status": "in-progress", "intent": "order",
            "focus": {"reference": "HealthcareService/hs-sens"}, "description": "Anomalie sur l'offre"}),
        json!({"resourceType": "Task", "id": "task-mco", "status": "in-progress", "intent": "order",
            "focus": {"reference": "HealthcareService/hs-mco"}, "description": "Anomalie sur l'offre"}),
    ]
}

fn load(resources: &[Value]) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let file: PathBuf = dir.path().join("profiles.ndjson");
    let lines: Vec<String> = resources.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n")).expect("write data set");
    TestApp::with_files(&[file])
}

/// The data set, loaded once (read-only tests).
fn fixture() -> &'static TestApp {
    static APP: OnceLock<TestApp> = OnceLock::new();
    APP.get_or_init(|| load(&data_set()))
}

// ------------------------------------------------------------------ helpers on answers

fn statuses(location: &Value) -> Vec<String> {
    extensions(location, "ror-location-supported-capacity")
        .iter()
        .map(|record| sub_code(record, "capacityStatus").unwrap_or_default())
        .collect()
}

fn extensions(resource: &Value, name: &str) -> Vec<Value> {
    let url = format!("{ROR}{name}");
    resource["extension"].as_array().into_iter().flatten().filter(|e| e["url"] == url).cloned().collect()
}

fn sub(record: &Value, url: &str) -> Option<Value> {
    record["extension"].as_array().into_iter().flatten().find(|e| e["url"] == url).cloned()
}

fn sub_code(record: &Value, url: &str) -> Option<String> {
    sub(record, url).and_then(|e| e["valueCodeableConcept"]["coding"][0]["code"].as_str().map(str::to_owned))
}

fn ids(response: &Response) -> BTreeSet<String> {
    response.match_ids().into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn contains(response: &Response, needle: &str) -> bool {
    response.text.contains(needle)
}

// ------------------------------------------------------------------ one test per rule

/// Sensitive offers do not exist for profiles 0, 2, 3, 5: read, search, chains, the resources
/// whose context they are (locations, roles, practitioners, tasks) and the version history.
#[actix_web::test]
async fn test_sensitive_offers_do_not_exist_for_profiles_0_2_3_5() {
    let app = fixture();
    for profile in ALL {
        let hides =
            matches!(profile, AccessProfile::P0 | AccessProfile::P2 | AccessProfile::P3 | AccessProfile::P5);
        let expected = if hides { 404 } else { 200 };
        for path in [
            "HealthcareService/hs-sens",
            "Location/loc-sens",
            "PractitionerRole/pr-sens",
            "Practitioner/prac-shared",
            "Task/task-sens",
            "HealthcareService/hs-sens/_history",
            "HealthcareService/hs-sens/_history/1",
        ] {
            assert_eq!(
                get_as(app, profile, &format!("/fhir/{path}")).await.status,
                expected,
                "{profile:?} {path}"
            );
        }
        let offers = get_as(app, profile, "/fhir/HealthcareService").await;
        assert_eq!(offers.total(), if hides { 3 } else { 4 }, "{profile:?}");
        assert_eq!(ids(&offers).contains("hs-sens"), !hides);
        let by_name =
            get_as(app, profile, "/fhir/Location?_has:HealthcareService:location:_id=hs-sens").await;
        assert_eq!(ids(&by_name), if hides { set(&[]) } else { set(&["loc-sens"]) }, "{profile:?}");
        let chained = get_as(app, profile, "/fhir/PractitionerRole?service.name=Offre%20hs-sens").await;
        assert_eq!(chained.total(), if hides { 0 } else { 2 }, "{profile:?}");
        let negated = get_as(app, profile, "/fhir/HealthcareService?_id:not=hs-mco").await;
        assert_eq!(ids(&negated).contains("hs-sens"), !hides, "{profile:?}: `not` complements what exists");
    }
    // Practitioners with one sensitive role are hidden (conservative), the others are not.
    let practitioners = get_as(app, AccessProfile::P2, "/fhir/Practitioner").await;
    assert_eq!(ids(&practitioners), set(&["prac-mco", "prac-ms", "prac-ville"]));
}

/// The `uniteSensible` flag is shown to profile 1 only, and only profile 1 can search on it.
#[actix_web::test]
async fn test_sensitive_flag_for_profile_1_only() {
    let app = fixture();
    let flag = format!("{ROR}ror-healthcareservice-sensitive-unit");
    for profile in ALL {
        let read = get_as(app, profile, "/fhir/HealthcareService/hs-mco").await;
        assert_eq!(read.status, 200);
        assert_eq!(contains(&read, &flag), profile == AccessProfile::P1, "{profile:?}");
        let flagged = get_as(app, profile, "/fhir/HealthcareService?sensitive-unit=true").await;
        let unflagged = get_as(app, profile, "/fhir/HealthcareService?sensitive-unit=false").await;
        let missing = get_as(app, profile, "/fhir/HealthcareService?sensitive-unit:missing=true").await;
        if profile == AccessProfile::P1 {
            assert_eq!(ids(&flagged), set(&["hs-sens"]));
            assert_eq!(unflagged.total(), 3);
            assert_eq!(missing.total(), 0);
        } else {
            assert_eq!(flagged.total(), 0, "{profile:?}");
            assert_eq!(unflagged.total(), 0, "{profile:?}");
            assert_eq!(missing.total(), get_as(app, profile, "/fhir/HealthcareService").await.total());
        }
    }
    // Profile 4 sees the sensitive offer itself, without the flag.
    let p4 = get_as(app, AccessProfile::P4, "/fhir/HealthcareService/hs-sens").await;
    assert_eq!(p4.status, 200);
    assert!(!contains(&p4, &flag));
}

/// Capacity records by status: 1 and 4 all, 2 all but "Exceptionnel" (06), 0 only
/// "installé" (01), 3 as 2 on a medico-social offer and as 0 elsewhere, 5 none.
#[actix_web::test]
async fn test_capacity_records_by_status_and_profile() {
    let app = fixture();
    let cases: [(AccessProfile, &str, &[&str]); 12] = [
        (AccessProfile::P1, "loc-mco", &["01", "02", "06", "05"]),
        (AccessProfile::P4, "loc-mco", &["01", "02", "06", "05"]),
        (AccessProfile::P2, "loc-mco", &["01", "02", "05"]),
        (AccessProfile::P0, "loc-mco", &["01"]),
        (AccessProfile::P3, "loc-mco", &["01"]),
        (AccessProfile::P5, "loc-mco", &[]),
        (AccessProfile::P3, "loc-ms", &["01", "02"]),
        (AccessProfile::P2, "loc-ms", &["01", "02"]),
        (AccessProfile::P0, "loc-ms", &["01"]),
        // Shared by an MCO and an MS offer: not medico-social (conservative).
        (AccessProfile::P3, "loc-shared", &["01"]),
        (AccessProfile::P0, "loc-ville", &[]),
        (AccessProfile::P1, "loc-ville", &["02"]),
    ];
    for (profile, id, expected) in cases {
        let read = get_as(app, profile, &format!("/fhir/Location/{id}")).await;
        assert_eq!(read.status, 200, "{profile:?} {id}");
        assert_eq!(statuses(&read.body), expected, "{profile:?} {id}");
    }
}

/// `capacitySourceType`, `genderCapacityAvailable`, `additionalBedType`, `crisisType`: never
/// profile 0; profile 3 only on medico-social offers.
#[actix_web::test]
async fn test_capacity_details_by_profile() {
    let app = fixture();
    let installed =
        |body: &Value| extensions(body, "ror-location-supported-capacity").into_iter().next().unwrap();
    let p0 = get_as(app, AccessProfile::P0, "/fhir/Location/loc-ms").await;
    let record = installed(&p0.body);
    assert!(
        sub(&record, "genderCapacityAvailable").is_none() && sub(&record, "capacitySourceType").is_none()
    );
    assert!(sub(&record, "nbCapacity").is_some() && sub(&record, "capacityUpdateDate").is_some());
    let p3_ms = get_as(app, AccessProfile::P3, "/fhir/Location/loc-ms").await;
    assert_eq!(sub_code(&installed(&p3_ms.body), "genderCapacityAvailable").as_deref(), Some("04"));
    let p3_mco = get_as(app, AccessProfile::P3, "/fhir/Location/loc-mco").await;
    assert!(sub(&installed(&p3_mco.body), "capacitySourceType").is_none());
    let p2 = get_as(app, AccessProfile::P2, "/fhir/Location/loc-mco").await;
    assert_eq!(
        sub_code(&extensions(&p2.body, "ror-location-supported-capacity")[1], "genderCapacityAvailable")
            .as_deref(),
        Some("01")
    );
    // additionalBedType / crisisType sit on the "Exceptionnel" record: profile 1 and 4 only.
    for profile in ALL {
        let read = get_as(app, profile, "/fhir/Location/loc-mco").await;
        let shown = contains(&read, "additionalBedType") && contains(&read, "crisisType");
        assert_eq!(shown, matches!(profile, AccessProfile::P1 | AccessProfile::P4), "{profile:?}");
    }
}

/// `temporaryAssignement`: profile 0 sees it only when it is `01` (aucune).
#[actix_web::test]
async fn test_temporary_assignment_only_aucune_for_profile_0() {
    let app = fixture();
    let assignment = |body: &Value| {
        sub_code(&extensions(body, "ror-location-supported-capacity")[0], "temporaryAssignement")
    };
    let shared_p0 = get_as(app, AccessProfile::P0, "/fhir/Location/loc-shared").await;
    assert_eq!(statuses(&shared_p0.body), ["01"]);
    assert_eq!(assignment(&shared_p0.body), None, "Covid+ is not open data");
    let mco_p0 = get_as(app, AccessProfile::P0, "/fhir/Location/loc-mco").await;
    assert_eq!(assignment(&mco_p0.body).as_deref(), Some("01"));
    let shared_p2 = get_as(app, AccessProfile::P2, "/fhir/Location/loc-shared").await;
    assert_eq!(assignment(&shared_p2.body).as_deref(), Some("02"));
    // …and cannot find it by searching for it.
    let covid = "/fhir/Location?temporary-assignement=02";
    assert_eq!(ids(&get_as(app, AccessProfile::P0, covid).await), set(&[]));
    assert_eq!(ids(&get_as(app, AccessProfile::P2, covid).await), set(&["loc-mco", "loc-shared"]));
}

/// Profile 5: no capacity at all (records, residential capacity), in reads and searches.
#[actix_web::test]
async fn test_profile_5_sees_no_capacity() {
    let app = fixture();
    let ms = get_as(app, AccessProfile::P5, "/fhir/Location/loc-ms").await;
    assert!(statuses(&ms.body).is_empty());
    assert!(extensions(&ms.body, "ror-location-residential-capacity").is_empty());
    assert_eq!(extensions(&ms.body, "ror-location-equipment").len(), 1, "equipment is not capacity");
    assert_eq!(get_as(app, AccessProfile::P5, "/fhir/Location?nb-capacity=gt0").await.total(), 0);
    assert_eq!(get_as(app, AccessProfile::P5, "/fhir/Location?residential-type=02").await.total(), 0);
    let missing = get_as(app, AccessProfile::P5, "/fhir/Location?capacity-status:missing=true").await;
    assert_eq!(ids(&missing), set(&["loc-mco", "loc-ms", "loc-shared", "loc-ville"]));
    assert_eq!(
        ids(&get_as(app, AccessProfile::P0, "/fhir/Location?residential-type=02").await),
        set(&["loc-ms"])
    );
}

/// Equipment: profiles 1, 2, 4, 5; profile 3 only on medico-social offers; never profile 0.
#[actix_web::test]
async fn test_equipment_by_profile() {
    let app = fixture();
    for profile in ALL {
        let mco = get_as(app, profile, "/fhir/Location/loc-mco").await;
        let ms = get_as(app, profile, "/fhir/Location/loc-ms").await;
        let (on_mco, on_ms) = (
            !extensions(&mco.body, "ror-location-equipment").is_empty(),
            !extensions(&ms.body, "ror-location-equipment").is_empty(),
        );
        let expected = match profile {
            AccessProfile::P0 => (false, false),
            AccessProfile::P3 => (false, true),
            _ => (true, true),
        };
        assert_eq!((on_mco, on_ms), expected, "{profile:?}");
        let found = ids(&get_as(app, profile, "/fhir/Location?equipment-type=088,089").await);
        let expected_found = match profile {
            AccessProfile::P0 => set(&[]),
            AccessProfile::P3 => set(&["loc-ms"]),
            _ => set(&["loc-mco", "loc-ms"]),
        };
        assert_eq!(found, expected_found, "{profile:?}");
        let limit = get_as(app, profile, "/fhir/Location?limit-value=ge200").await.total();
        assert_eq!(
            limit,
            expected_found.len() as u64
                + u64::from(!matches!(profile, AccessProfile::P0 | AccessProfile::P3))
        );
    }
}

/// Tariffs are public: every profile reads and finds them.
#[actix_web::test]
async fn test_tariffs_are_public() {
    let app = fixture();
    for profile in ALL {
        let read = get_as(app, profile, "/fhir/Organization/org-eg").await;
        assert_eq!(extensions(&read.body, "ror-organization-price").len(), 1, "{profile:?}");
        let found = get_as(app, profile, "/fhir/Organization?price-type=02&price-amount-value=gt60").await;
        assert_eq!(ids(&found), set(&["org-eg"]), "{profile:?}");
    }
}

/// Offer contacts by confidentiality level: 1 all; 2 and 5 public and restricted; 0 public;
/// 3 public and restricted on medico-social offers, public only elsewhere; 4 none.
#[actix_web::test]
async fn test_offer_contacts_by_confidentiality_level() {
    let app = fixture();
    let phones = |response: &Response, numbers: &[&str]| -> Vec<String> {
        numbers.iter().filter(|n| contains(response, n)).map(|n| (*n).to_owned()).collect()
    };
    let mco = ["0100000001", "0100000002", "0100000003"];
    let cases: [(AccessProfile, &[&str]); 6] = [
        (AccessProfile::P1, &mco),
        (AccessProfile::P2, &mco[..2]),
        (AccessProfile::P5, &mco[..2]),
        (AccessProfile::P0, &mco[..1]),
        (AccessProfile::P3, &mco[..1]),
        (AccessProfile::P4, &[]),
    ];
    for (profile, expected) in cases {
        let read = get_as(app, profile, "/fhir/HealthcareService/hs-mco").await;
        assert_eq!(phones(&read, &mco), expected, "{profile:?}");
    }
    let ms = get_as(app, AccessProfile::P3, "/fhir/HealthcareService/hs-ms").await;
    assert_eq!(phones(&ms, &["0400000001", "0400000002"]), ["0400000001", "0400000002"]);
    // Organization contacts and telecoms follow the same levels (no offer context: not MS).
    let organization = get_as(app, AccessProfile::P2, "/fhir/Organization/org-eg").await;
    assert!(contains(&organization, "org-contact-open") && contains(&organization, "org-phone-restricted"));
    assert!(!contains(&organization, "org-contact-secret"));
    let organization = get_as(app, AccessProfile::P0, "/fhir/Organization/org-eg").await;
    assert!(contains(&organization, "org-contact-open") && !contains(&organization, "org-phone-restricted"));
    let location = get_as(app, AccessProfile::P0, "/fhir/Location/loc-mco").await;
    assert!(contains(&location, "loc-phone-open") && !contains(&location, "loc-phone-restricted"));
}

/// Profile 4: no contact data and no personal data anywhere, but person identifiers stay.
#[actix_web::test]
async fn test_profile_4_no_contact_nor_personal_data() {
    let app = fixture();
    let p4 = AccessProfile::P4;
    let role = get_as(app, p4, "/fhir/PractitionerRole/pr-mco").await;
    assert!(role.body.get("telecom").is_none());
    assert!(extensions(&role.body, "ror-practitionerrole-name").is_empty());
    let person = get_as(app, p4, "/fhir/Practitioner/prac-mco").await;
    assert!(person.body.get("name").is_none() && person.body.get("telecom").is_none());
    assert_eq!(person.body["identifier"][0]["value"], "810000000001");
    let organization = get_as(app, p4, "/fhir/Organization/org-eg").await;
    assert!(organization.body.get("contact").is_none() && organization.body.get("telecom").is_none());
    let location = get_as(app, p4, "/fhir/Location/loc-mco").await;
    assert!(location.body.get("telecom").is_none());
    assert_eq!(statuses(&location.body).len(), 4, "capacity is neither contact nor personal data");
    let offer = get_as(app, p4, "/fhir/HealthcareService/hs-mco").await;
    assert!(extensions(&offer.body, "ror-healthcareservice-contact").is_empty());
    // Names cannot be searched for; identifiers can.
    assert_eq!(get_as(app, p4, "/fhir/Practitioner?family=Mcofamille").await.total(), 0);
    assert_eq!(get_as(app, p4, "/fhir/Practitioner?_content=Mcofamille").await.total(), 0);
    assert_eq!(ids(&get_as(app, p4, "/fhir/Practitioner?identifier=810000000001").await), set(&["prac-mco"]));
}

/// Professional names/telecom: 1, 2, 5; 3 on medico-social or Ville offers; 0 on Ville offers
/// only. Person identifiers: 1, 2, 4, 5; 3 on medico-social (or Ville) offers; 0 Ville only.
#[actix_web::test]
async fn test_professional_names_and_person_identifiers() {
    let app = fixture();
    let shown = |response: &Response| {
        (response.body.get("name").is_some(), response.body.get("identifier").is_some())
    };
    let cases = [
        (AccessProfile::P0, "prac-ville", (true, true)),
        (AccessProfile::P0, "prac-mco", (false, false)),
        (AccessProfile::P0, "prac-ms", (false, false)),
        (AccessProfile::P3, "prac-ms", (true, true)),
        (AccessProfile::P3, "prac-ville", (true, true)),
        (AccessProfile::P3, "prac-mco", (false, false)),
        (AccessProfile::P2, "prac-mco", (true, true)),
        (AccessProfile::P5, "prac-mco", (true, true)),
        (AccessProfile::P4, "prac-ms", (false, true)),
        (AccessProfile::P1, "prac-sens", (true, true)),
    ];
    for (profile, id, expected) in cases {
        let read = get_as(app, profile, &format!("/fhir/Practitioner/{id}")).await;
        assert_eq!(shown(&read), expected, "{profile:?} {id}");
    }
    let role = get_as(app, AccessProfile::P0, "/fhir/PractitionerRole/pr-mco").await;
    assert!(
        role.body.get("telecom").is_none() && extensions(&role.body, "ror-practitionerrole-name").is_empty()
    );
    let role = get_as(app, AccessProfile::P0, "/fhir/PractitionerRole/pr-ville").await;
    assert!(role.body.get("telecom").is_some());
    // Search follows the same rules.
    for (profile, expected) in [
        (AccessProfile::P0, set(&["prac-ville"])),
        (AccessProfile::P3, set(&["prac-ms", "prac-ville"])),
        (AccessProfile::P2, set(&["prac-mco", "prac-ms", "prac-ville"])),
    ] {
        let found = get_as(app, profile, "/fhir/Practitioner?given=Camille").await;
        assert_eq!(ids(&found), expected, "{profile:?}");
        let by_identifier =
            get_as(app, profile, "/fhir/Practitioner?identifier=810000000001,810000000002,810000000003")
                .await;
        assert_eq!(ids(&by_identifier), expected, "{profile:?}");
        let missing = get_as(app, profile, "/fhir/Practitioner?name:missing=true").await;
        assert_eq!(missing.total() + expected.len() as u64, 3, "{profile:?}: names hidden count as missing");
    }
}

/// Includes and revincludes bring projected resources and never hidden ones.
#[actix_web::test]
async fn test_includes_are_projected_and_skip_hidden_resources() {
    let app = fixture();
    let query = "/fhir/HealthcareService?_id=hs-mco,hs-sens,hs-ville&_include=HealthcareService:location\
&_revinclude=PractitionerRole:service&_include=PractitionerRole:practitioner&_include=HealthcareService:organization";
    let p2 = get_as(app, AccessProfile::P2, query).await;
    assert_eq!(ids(&p2), set(&["hs-mco", "hs-ville"]));
    let included = |response: &Response, resource_type: &str| -> BTreeSet<String> {
        response.ids("include", resource_type).into_iter().collect()
    };
    assert_eq!(included(&p2, "Location"), set(&["loc-mco", "loc-shared", "loc-ville"]));
    assert_eq!(included(&p2, "PractitionerRole"), set(&["pr-mco", "pr-ville", "pr-shared-ville"]));
    assert_eq!(included(&p2, "Practitioner"), set(&["prac-mco", "prac-ville"]));
    let included_location = p2
        .entries()
        .into_iter()
        .find(|e| e["resource"]["id"] == "loc-mco")
        .map(|e| e["resource"].clone())
        .unwrap();
    assert_eq!(statuses(&included_location), ["01", "02", "05"]);
    assert!(!contains(&p2, "0100000003") && !contains(&p2, "ror-healthcareservice-sensitive-unit"));

    let p0 = get_as(app, AccessProfile::P0, query).await;
    let prac_mco = p0.entries().into_iter().find(|e| e["resource"]["id"] == "prac-mco").unwrap();
    assert!(prac_mco["resource"].get("name").is_none());
    let p1 = get_as(app, AccessProfile::P1, query).await;
    assert_eq!(included(&p1, "Practitioner"), set(&["prac-mco", "prac-ville", "prac-shared", "prac-sens"]));

    let revinclude = "/fhir/Location?_id=loc-sens,loc-shared&_revinclude=HealthcareService:location";
    let p2 = get_as(app, AccessProfile::P2, revinclude).await;
    assert_eq!(ids(&p2), set(&["loc-shared"]));
    assert_eq!(included(&p2, "HealthcareService"), set(&["hs-mco", "hs-ms"]));
    let p4 = get_as(app, AccessProfile::P4, revinclude).await;
    assert_eq!(included(&p4, "HealthcareService"), set(&["hs-mco", "hs-ms", "hs-sens"]));
}

/// No leak: what a profile cannot see, it cannot find (records, chains, negations, full text,
/// sorting, paging cursors).
#[actix_web::test]
async fn test_matching_does_not_leak_hidden_data() {
    let app = fixture();
    let available = "/fhir/Location?capacity-status=https://mos.esante.gouv.fr/NOS/TRE_R330-TypeStatutCapacite/FHIR/TRE-R330-TypeStatutCapacite|02";
    assert_eq!(
        ids(&get_as(app, AccessProfile::P1, available).await),
        set(&["loc-mco", "loc-ms", "loc-shared", "loc-sens", "loc-ville"])
    );
    assert_eq!(ids(&get_as(app, AccessProfile::P0, available).await), set(&[]));
    assert_eq!(
        ids(&get_as(app, AccessProfile::P2, available).await),
        set(&["loc-mco", "loc-ms", "loc-shared", "loc-ville"])
    );
    // Chained: an offer whose only location has nothing but available places.
    let chained = "/fhir/HealthcareService?location.nb-capacity=gt0";
    assert_eq!(
        ids(&get_as(app, AccessProfile::P1, chained).await),
        set(&["hs-mco", "hs-ms", "hs-sens", "hs-ville"])
    );
    assert_eq!(ids(&get_as(app, AccessProfile::P0, chained).await), set(&["hs-mco", "hs-ms"]));
    assert_eq!(ids(&get_as(app, AccessProfile::P5, chained).await), set(&[]));
    // Exceptional beds: profile 2 cannot find them, independent or record-level.
    for query in [
        "/fhir/Location?capacity-status=06",
        "/fhir/Location?capacity-status=06&nb-capacity=5&_matching=record",
        "/fhir/Location?crisis-type=02",
    ] {
        assert_eq!(get_as(app, AccessProfile::P2, query).await.total(), 0, "{query}");
        assert!(get_as(app, AccessProfile::P1, query).await.total() > 0, "{query}");
    }
    // Record-level: the installed line of loc-ms has a gender that profile 0 cannot see.
    let record = "/fhir/Location?capacity-status=01&gender-capacity-available=04&_matching=record";
    assert_eq!(ids(&get_as(app, AccessProfile::P2, record).await), set(&["loc-ms"]));
    assert_eq!(get_as(app, AccessProfile::P0, record).await.total(), 0);
    assert_eq!(
        get_as(app, AccessProfile::P0, "/fhir/Location?gender-capacity-available:missing=false")
            .await
            .total(),
        0
    );
    // Negation complements what is visible: loc-ville shows no capacity to profile 0.
    let not_installed = get_as(app, AccessProfile::P0, "/fhir/Location?capacity-status:missing=true").await;
    assert_eq!(ids(&not_installed), set(&["loc-ville"]));
    let not_available = get_as(app, AccessProfile::P0, "/fhir/Location?capacity-status:not=02").await;
    assert_eq!(ids(&not_available), set(&["loc-mco", "loc-ms", "loc-shared", "loc-ville"]));
    let filter =
        get_as(app, AccessProfile::P0, "/fhir/Location?_filter=not(capacity-status%20eq%2002)").await;
    assert_eq!(ids(&filter), set(&["loc-mco", "loc-ms", "loc-shared", "loc-ville"]));
    // Full text does not see hidden contact numbers nor names.
    assert_eq!(
        ids(&get_as(app, AccessProfile::P1, "/fhir/Organization?_content=org-contact-secret").await),
        set(&["org-eg"])
    );
    assert_eq!(
        get_as(app, AccessProfile::P2, "/fhir/Organization?_content=org-contact-secret").await.total(),
        0
    );
    assert_eq!(
        ids(&get_as(app, AccessProfile::P2, "/fhir/Organization?_content=org-contact-open").await),
        set(&["org-eg"])
    );
    assert_eq!(get_as(app, AccessProfile::P0, "/fhir/Practitioner?_content=Mcofamille").await.total(), 0);
    assert_eq!(get_as(app, AccessProfile::P2, "/fhir/Practitioner?_content=Sensfamille").await.total(), 0);
    // Sorting on hidden values is refused (said in the OperationOutcome entry).
    let sorted = get_as(app, AccessProfile::P0, "/fhir/Location?_sort=-nb-capacity").await;
    assert_eq!(sorted.status, 200);
    assert!(contains(&sorted, "sorting on \\\"nb-capacity\\\" is not available"), "{}", sorted.text);
    // A paging cursor belongs to the profile that made it.
    let first = get_as(app, AccessProfile::P1, "/fhir/HealthcareService?_count=1").await;
    let next = first.body["link"][1]["url"].as_str().unwrap().strip_prefix("http://test").unwrap().to_owned();
    assert_eq!(get_as(app, AccessProfile::P1, &next).await.status, 200);
    assert_eq!(get_as(app, AccessProfile::P0, &next).await.status, 410);
}

/// `$export`: the principal at kick-off decides what the files hold; the job is its own.
#[actix_web::test]
async fn test_export_files_are_projected_for_the_kick_off_profile() {
    let app = fixture();
    let kick_off = get_as(app, AccessProfile::P0, "/fhir/$export?_type=HealthcareService").await;
    assert_eq!(kick_off.status, 202, "{}", kick_off.text);
    let status_url =
        kick_off.header("content-location").unwrap().strip_prefix("http://test").unwrap().to_owned();
    assert_eq!(get_as(app, AccessProfile::P1, &status_url).await.status, 404, "another consumer's job");
    let started = Instant::now();
    let manifest = loop {
        let answer = get_as(app, AccessProfile::P0, &status_url).await;
        match answer.status {
            200 => break answer.body,
            202 => {
                assert!(started.elapsed() < Duration::from_secs(60));
                std::thread::sleep(Duration::from_millis(20));
            }
            other => panic!("status {other}: {}", answer.text),
        }
    };
    let mut files = std::collections::BTreeMap::new();
    for output in manifest["output"].as_array().unwrap() {
        let url = output["url"].as_str().unwrap().strip_prefix("http://test").unwrap();
        assert_eq!(get_as(app, AccessProfile::P2, url).await.status, 404);
        let file = get_as(app, AccessProfile::P0, url).await;
        assert_eq!(file.status, 200);
        let resources: Vec<Value> = file.text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        files.insert(output["type"].as_str().unwrap().to_owned(), resources);
    }
    let file_ids = |resource_type: &str| -> BTreeSet<String> {
        files[resource_type].iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(file_ids("HealthcareService"), set(&["hs-mco", "hs-ms", "hs-ville"]));
    assert_eq!(file_ids("Location"), set(&["loc-mco", "loc-ms", "loc-shared", "loc-ville"]));
    assert_eq!(file_ids("Practitioner"), set(&["prac-mco", "prac-ms", "prac-ville"]));
    for location in &files["Location"] {
        assert!(statuses(location).iter().all(|s| s == "01"), "{location}");
        assert!(extensions(location, "ror-location-equipment").is_empty());
    }
    let prac_mco = files["Practitioner"].iter().find(|p| p["id"] == "prac-mco").unwrap();
    assert!(prac_mco.get("name").is_none() && prac_mco.get("identifier").is_none());
    let text = serde_json::to_string(&files).unwrap();
    assert!(!text.contains("0100000002") && !text.contains("sensitive-unit"));
}

/// CSV extracts hold the projected rows of what the profile sees; indicators (aggregates over
/// sensitive offers and all capacity) are refused to profiles 0, 2, 3, 5.
#[actix_web::test]
async fn test_csv_extract_is_projected() {
    let app = fixture();
    let rows = |response: &Response| -> Vec<Vec<String>> {
        response.text.lines().skip(1).map(|l| l.split(',').map(str::to_owned).collect()).collect()
    };
    let header: Vec<String> =
        ror_search::export::extracts::Extract::Locations.columns().iter().map(|c| (*c).to_owned()).collect();
    let column = |name: &str| header.iter().position(|c| c == name).unwrap();
    let p1 = get_as(app, AccessProfile::P1, "/export/locations.csv").await;
    assert_eq!(p1.status, 200);
    assert_eq!(rows(&p1).len(), 5);
    let p0 = get_as(app, AccessProfile::P0, "/export/locations.csv").await;
    let p0_rows = rows(&p0);
    assert_eq!(
        p0_rows.iter().map(|r| r[0].clone()).collect::<BTreeSet<_>>(),
        set(&["loc-mco", "loc-ms", "loc-shared", "loc-ville"])
    );
    let mco = p0_rows.iter().find(|r| r[0] == "loc-mco").unwrap();
    assert_eq!(mco[column("beds_installed")], "20");
    assert_eq!(mco[column("beds_available")], "0");
    assert_eq!(mco[column("capacity_lines")], "1");
    let p5 = get_as(app, AccessProfile::P5, "/export/locations.csv").await;
    assert!(rows(&p5).iter().all(|r| r[column("capacity_lines")] == "0"));
    assert_eq!(get_as(app, AccessProfile::P2, "/export/indicators.csv").await.status, 403);
    assert_eq!(get_as(app, AccessProfile::P4, "/export/indicators.csv").await.status, 200);
    let offers = get_as(app, AccessProfile::P3, "/export/offers.csv").await;
    assert!(!offers.text.contains("hs-sens"));
}

/// Writes: a hidden resource cannot be changed (it does not exist), and what a write answers is
/// projected too.
#[actix_web::test]
async fn test_writes_do_not_reveal_hidden_resources() {
    let app = load(&data_set());
    let patch = json!([{"op": "replace", "path": "/name", "value": "x"}]);
    let request = |uri: &str| {
        TestRequest::patch()
            .uri(uri)
            .insert_header(("content-type", "application/json-patch+json"))
            .set_payload(patch.to_string())
    };
    assert_eq!(
        call_as(&app, Some(AccessProfile::P2), request("/fhir/HealthcareService/hs-sens")).await.status,
        404
    );
    assert_eq!(
        call_as(&app, Some(AccessProfile::P2), TestRequest::delete().uri("/fhir/Location/loc-sens"))
            .await
            .status,
        404
    );
    let patched = call_as(&app, Some(AccessProfile::P0), request("/fhir/Location/loc-mco")).await;
    assert_eq!(patched.status, 200);
    assert_eq!(statuses(&patched.body), ["01"]);
    let conditional =
        call_as(&app, Some(AccessProfile::P2), request("/fhir/HealthcareService?_id=hs-sens")).await;
    assert_eq!(conditional.status, 404);
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Location/loc-sens"}}]});
    let transaction = TestRequest::post()
        .uri("/fhir")
        .insert_header(("content-type", "application/fhir+json"))
        .set_payload(bundle.to_string());
    assert_eq!(call_as(&app, Some(AccessProfile::P5), transaction).await.status, 404);
    // The unrestricted caller still sees everything.
    let read = call_as(&app, None, TestRequest::get().uri("/fhir/Location/loc-mco")).await;
    assert_eq!(statuses(&read.body).len(), 4);
    assert_eq!(read.body["name"], "x");
    assert_eq!(call_as(&app, None, TestRequest::get().uri("/fhir/Location/loc-sens")).await.status, 200);
}

/// The guard's claim, checked as a whole: a restricted search matches exactly what an
/// unrestricted search matches on the projected data. The oracle is a second service loaded
/// with what each profile reads (hidden resources absent), searched without restriction.
#[actix_web::test]
async fn test_restricted_search_equals_search_over_projected_data() {
    let app = fixture();
    let queries = [
        "/fhir/Location?capacity-status=02",
        "/fhir/Location?capacity-status:missing=true",
        "/fhir/Location?capacity-status:not=01",
        "/fhir/Location?capacity-status=01&gender-capacity-available=04&_matching=record",
        "/fhir/Location?gender-capacity-available:missing=false",
        "/fhir/Location?temporary-assignement=02",
        "/fhir/Location?temporary-assignement:missing=true",
        "/fhir/Location?crisis-type:missing=false",
        "/fhir/Location?equipment-type:missing=false",
        "/fhir/Location?limit-value=ge200",
        "/fhir/Location?residential-type:missing=true",
        "/fhir/Location?nb-capacity=gt4",
        "/fhir/Location?_filter=capacity-status%20eq%2001%20and%20not(nb-capacity%20gt%2010)",
        "/fhir/Location?_id:not=loc-mco",
        "/fhir/HealthcareService",
        "/fhir/HealthcareService?location.nb-capacity=gt0",
        "/fhir/HealthcareService?location.capacity-status=02&location.nb-capacity=gt0&_matching=record",
        "/fhir/HealthcareService?_has:PractitionerRole:service:practitioner.family=Villefamille",
        "/fhir/HealthcareService?sensitive-unit:missing=true",
        "/fhir/HealthcareService?_content=Offre",
        "/fhir/Practitioner?name:missing=true",
        "/fhir/Practitioner?given=Camille",
        "/fhir/Practitioner?identifier:missing=false",
        "/fhir/Practitioner?_content=Camille",
        "/fhir/PractitionerRole?practitioner.given=Camille",
        "/fhir/PractitionerRole?service.location.capacity-status=01",
        "/fhir/Organization?_content=secret",
        "/fhir/Organization?_content=open",
        "/fhir/Task?focus:HealthcareService.name=Offre",
    ];
    let resources = data_set();
    for profile in
        [AccessProfile::P0, AccessProfile::P2, AccessProfile::P3, AccessProfile::P4, AccessProfile::P5]
    {
        let mut projected = Vec::new();
        for resource in &resources {
            let path = format!(
                "/fhir/{}/{}",
                resource["resourceType"].as_str().unwrap(),
                resource["id"].as_str().unwrap()
            );
            let read = get_as(app, profile, &path).await;
            if read.status == 200 {
                projected.push(read.body);
            }
        }
        let oracle = load(&projected);
        for query in queries {
            let guarded = get_as(app, profile, query).await;
            let expected = call_as(&oracle, None, TestRequest::get().uri(&encode(query))).await;
            assert_eq!(guarded.status, 200, "{profile:?} {query}: {}", guarded.text);
            assert_eq!(ids(&guarded), ids(&expected), "{profile:?} {query}");
            assert_eq!(guarded.total(), expected.total(), "{profile:?} {query}");
        }
    }
}

/// The same check on the generated demo corpus (thousands of offers, sensitive units, Ville
/// practitioners, shared locations), for the profiles whose rules depend on the context.
#[actix_web::test]
async fn test_restricted_search_equals_search_over_projected_demo_corpus() {
    use ror_search::security::context::Graph;
    use ror_search::security::projection::project;
    let app = crate::common::demo();
    let queries = [
        "/fhir/Location?capacity-status=02&_count=1000",
        "/fhir/Location?capacity-status:missing=true&_count=1000",
        "/fhir/Location?equipment-type:missing=false&_count=1000",
        "/fhir/Location?temporary-assignement=02,03&_count=1000",
        "/fhir/HealthcareService?location.nb-capacity=gt0&_count=1000",
        "/fhir/HealthcareService?location.capacity-status=02&location.gender-capacity-available=01&location.nb-capacity=gt0&_matching=record&_count=1000",
        "/fhir/HealthcareService?_content=cardio&_count=1000",
        "/fhir/Practitioner?name:missing=true&_count=1000",
        "/fhir/PractitionerRole?practitioner.family=M&_count=1000",
    ];
    let mut resources = Vec::new();
    for file in crate::common::corpus_files(crate::common::demo_corpus_dir()) {
        let text = std::fs::read_to_string(&file).expect("corpus file");
        resources.extend(
            text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    for profile in [AccessProfile::P0, AccessProfile::P3] {
        let projected: Vec<Value> = {
            let state = app.app.state.read();
            let graph = Graph::new(&state).unwrap();
            resources
                .iter()
                .filter_map(|resource| {
                    let resource_type = resource["resourceType"].as_str().unwrap();
                    let id = resource["id"].as_str().unwrap();
                    let context = graph.context_of_resource(&state, resource_type, id, resource);
                    let mut shown = resource.clone();
                    project(&state.registry, profile, &context, &mut shown).then_some(shown)
                })
                .collect()
        };
        assert!(projected.len() < resources.len(), "the demo corpus has sensitive offers");
        let oracle = load(&projected);
        for query in queries {
            let guarded = get_as(app, profile, query).await;
            let expected = call_as(&oracle, None, TestRequest::get().uri(&encode(query))).await;
            assert_eq!(guarded.total(), expected.total(), "{profile:?} {query}");
            assert_eq!(ids(&guarded), ids(&expected), "{profile:?} {query}");
        }
    }
}
