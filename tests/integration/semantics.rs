//! FHIR search semantics on a small hand-made corpus (fixtures/ror/semantics-bundle.json).

use crate::common::{fixture, get, post_json, spec_get, TestApp};

const R211: &str =
    "https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle";

/// One service shared by the tests of this module, loaded through a transaction Bundle.
async fn app() -> &'static TestApp {
    static APP: tokio::sync::OnceCell<TestApp> = tokio::sync::OnceCell::const_new();
    APP.get_or_init(|| async {
        let app = TestApp::empty();
        let response = post_json(&app, "/fhir", &fixture("semantics-bundle.json")).await;
        assert_eq!(response.status, 200, "{}", response.text);
        app
    })
    .await
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[actix_web::test]
async fn test_token_forms_or_and_not_missing() {
    let app = app().await;
    assert_eq!(
        sorted(get(app, &format!("/fhir/HealthcareService?specialty={R211}%7C013")).await.match_ids()),
        ["hs1", "hs3"]
    );
    assert_eq!(sorted(get(app, "/fhir/HealthcareService?specialty=013").await.match_ids()), ["hs1", "hs3"]);
    // `|code` means "no system": the data always has one.
    assert_eq!(get(app, "/fhir/HealthcareService?specialty=%7C013").await.total(), 0);
    assert_eq!(
        sorted(get(app, "/fhir/HealthcareService?specialty=013,227").await.match_ids()),
        ["hs1", "hs2", "hs3"]
    );
    assert_eq!(get(app, "/fhir/HealthcareService?specialty=013&specialty=227").await.total(), 0);
    assert_eq!(get(app, "/fhir/HealthcareService?specialty:not=013").await.match_ids(), ["hs2"]);
    assert_eq!(get(app, "/fhir/HealthcareService?characteristic:missing=false").await.match_ids(), ["hs2"]);
    assert_eq!(sorted(get(app, "/fhir/HealthcareService?_tag:missing=true").await.match_ids()), ["hs3"]);
    assert_eq!(sorted(get(app, "/fhir/HealthcareService?_tag=52").await.match_ids()), ["hs1", "hs2"]);
    let of_type = "/fhir/Location?identifier:of-type=https://mos.esante.gouv.fr/NOS/TRE_R354-TypeIdentifiantRessourceOperationnelle/FHIR/TRE-R354-TypeIdentifiantRessourceOperationnelle%7C25%7C52/1001";
    assert_eq!(get(app, of_type).await.match_ids(), ["loc1"]);
}

#[actix_web::test]
async fn test_strings_are_prefix_case_and_accent_insensitive() {
    let app = app().await;
    assert_eq!(get(app, "/fhir/HealthcareService?name=pedopsy").await.match_ids(), ["hs2"]);
    assert_eq!(get(app, "/fhir/HealthcareService?name=P%C3%89DO").await.match_ids(), ["hs2"]);
    assert_eq!(get(app, "/fhir/HealthcareService?name:contains=liaison").await.match_ids(), ["hs2"]);
    assert_eq!(
        get(app, "/fhir/HealthcareService?name:exact=p%C3%A9dopsychiatrie%20de%20liaison").await.total(),
        0
    );
    assert_eq!(sorted(get(app, "/fhir/Location?address-postalcode=44").await.match_ids()), ["loc1", "loc2"]);
    assert_eq!(get(app, "/fhir/Practitioner?name=lefevre").await.match_ids(), ["prac1"]);
}

#[actix_web::test]
async fn test_date_prefixes_and_precision() {
    let app = app().await;
    assert_eq!(get(app, "/fhir/Location?_lastUpdated=ge2023-08-02").await.match_ids(), ["loc1"]);
    assert_eq!(sorted(get(app, "/fhir/Location?_lastUpdated=ge2023-08").await.match_ids()), ["loc1", "loc2"]);
    assert_eq!(get(app, "/fhir/Location?_lastUpdated=2019").await.match_ids(), ["loc3"]);
    assert_eq!(
        get(app, "/fhir/Location?_lastUpdated=lt2020-01-01&_lastUpdated=gt2019-05-05T05:00")
            .await
            .match_ids(),
        ["loc3"]
    );
    let bad = get(app, "/fhir/Location?_lastUpdated=ge2023-02-30").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.expression(), "_lastUpdated");
}

#[actix_web::test]
async fn test_quantity_and_filter_age_range() {
    let app = app().await;
    let request = "[BASE]/HealthcareService?_filter=(((service-category eq https://mos.esante.gouv.fr/NOS/TRE_R244-CategorieOrganisation/FHIR/TRE-R244-CategorieOrganisation|102) or (specialty eq https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle|227)) and (age-range-low le 35|https://unitsofmeasure.org|a and age-range-high ge 35|https://unitsofmeasure.org|a))";
    assert_eq!(spec_get(app, request).await.match_ids(), ["hs1"]);
    assert_eq!(get(app, "/fhir/HealthcareService?age-range-high=le18").await.match_ids(), ["hs2"]);
}

#[actix_web::test]
async fn test_chains_above_and_reverse_chains() {
    let app = app().await;
    // hs1 is provided by an OI whose EG carries the FINESS: only :above finds it.
    assert_eq!(
        get(app, "/fhir/HealthcareService?organization.identifier=440000057").await.match_ids(),
        ["hs2"]
    );
    assert_eq!(
        sorted(get(app, "/fhir/HealthcareService?organization.identifier:above=440000057").await.match_ids()),
        ["hs1", "hs2"]
    );
    assert_eq!(
        sorted(get(app, "/fhir/HealthcareService?organization:above.identifier=440000289").await.match_ids()),
        ["hs1", "hs2"]
    );
    assert_eq!(
        get(app, "/fhir/HealthcareService?organization._lastUpdated:above=ge2022-11-06T15:00").await.total(),
        2
    );
    assert_eq!(get(app, "/fhir/HealthcareService?location.address-postalcode=75").await.match_ids().len(), 2);
    assert_eq!(
        get(
            app,
            "/fhir/HealthcareService?_has:PractitionerRole:service:practitioner.identifier=810000000001"
        )
        .await
        .match_ids(),
        ["hs1"]
    );
    assert_eq!(
        sorted(
            get(app, "/fhir/Location?_has:HealthcareService:location:identifier=52/0002").await.match_ids()
        ),
        ["loc2", "loc3"]
    );
    let bad = get(app, "/fhir/HealthcareService?name.identifier=x").await;
    assert_eq!(bad.status, 400);
}

#[actix_web::test]
async fn test_near_orders_by_distance_and_reports_it() {
    let app = app().await;
    let response = get(app, "/fhir/Location?near=47.2127%7C-1.6500%7C15%7Ckm").await;
    assert_eq!(response.match_ids(), ["loc2", "loc1"]);
    let distance =
        response.entries()[1]["search"]["extension"][0]["valueDistance"]["value"].as_f64().unwrap();
    assert!((distance - 7.3).abs() < 0.3, "{distance}");
    let services = spec_get(app, &format!("[BASE]/HealthcareService?specialty={R211}|013&location.near-insee-code=44162|15|km&_include=HealthcareService:location")).await;
    assert_eq!(services.match_ids(), ["hs1"]);
    let included = services.entries().into_iter().find(|e| e["resource"]["id"] == "loc1").unwrap();
    assert_eq!(included["search"]["mode"], "include");
    assert_eq!(
        included["search"]["extension"][0]["url"],
        "http://hl7.org/fhir/StructureDefinition/location-distance"
    );
    let far = get(app, "/fhir/HealthcareService?location.near=47.2127%7C-1.65%7C500%7Ckm").await;
    assert_eq!(far.match_ids(), ["hs2", "hs1", "hs3"]);
    assert_eq!(get(app, "/fhir/Location?near=95%7C0%7C1%7Ckm").await.status, 400);
    assert_eq!(get(app, "/fhir/Location?near-insee-code=99999%7C5%7Ckm").await.status, 400);
}

#[actix_web::test]
async fn test_includes_iterate_and_revincludes() {
    let app = app().await;
    let request = "[BASE]/HealthcareService?identifier=52/0001&_include=HealthcareService:organization&_include:iterate=Organization:partof&_include=HealthcareService:location&_revinclude=PractitionerRole:service&_include=PractitionerRole:practitioner";
    let response = spec_get(app, request).await;
    assert_eq!(response.match_ids(), ["hs1"]);
    assert_eq!(sorted(response.ids("include", "Organization")), ["eg1", "ej1", "oi1"]);
    assert_eq!(response.ids("include", "Location"), ["loc1"]);
    assert_eq!(response.ids("include", "PractitionerRole"), ["pr1"]);
    assert_eq!(response.ids("include", "Practitioner"), ["prac1"]);
    let locations =
        spec_get(app, "[BASE]/Location?_id=loc2,loc3&_revinclude=HealthcareService:location").await;
    assert_eq!(locations.total(), 2);
    assert_eq!(sorted(locations.ids("include", "HealthcareService")), ["hs2", "hs3"]);
}

#[actix_web::test]
async fn test_filter_loose_forms() {
    let app = app().await;
    let postal = spec_get(app, "[BASE]/Location?_filter=(address-postalcode eq \"44\" or \"75\")").await;
    assert_eq!(postal.total(), 3, "{}", postal.text);
    assert_eq!(
        sorted(spec_get(app, "[BASE]/Location?_filter=(_id eq loc1 or loc3)").await.match_ids()),
        ["loc1", "loc3"]
    );
    let content =
        spec_get(app, "[BASE]/HealthcareService?_filter=(_content=cardio or location._content=parisien)")
            .await;
    assert_eq!(sorted(content.match_ids()), ["hs1", "hs2", "hs3"]);
    let bad = spec_get(app, "[BASE]/HealthcareService?_filter=(specialty eq)").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.expression(), "_filter");
    let unknown = spec_get(app, "[BASE]/HealthcareService?_filter=(nosuch eq 1)").await;
    assert_eq!(unknown.status, 400);
}

#[actix_web::test]
async fn test_content_scores_rank_whole_words_first() {
    let app = app().await;
    let response = get(app, "/fhir/HealthcareService?_content=cardio").await;
    assert_eq!(response.match_ids(), ["hs3", "hs1"]);
    let scores: Vec<f64> =
        response.entries().iter().map(|e| e["search"]["score"].as_f64().unwrap()).collect();
    assert_eq!(scores[0], 1.0);
    assert!(scores[1] > 0.0 && scores[1] < 1.0, "{scores:?}");
}

#[actix_web::test]
async fn test_sort_count_paging_and_elements() {
    let app = app().await;
    let sorted_names = get(app, "/fhir/HealthcareService?_sort=name").await.match_ids();
    assert_eq!(sorted_names, ["hs1", "hs3", "hs2"]);
    assert_eq!(
        get(app, "/fhir/HealthcareService?_sort=-_lastUpdated").await.match_ids(),
        ["hs2", "hs1", "hs3"]
    );
    let first = get(app, "/fhir/HealthcareService?_sort=name&_count=2").await;
    assert_eq!(first.total(), 3);
    assert_eq!(first.match_ids(), ["hs1", "hs3"]);
    let next = first.body["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").unwrap()
        ["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = get(app, next.trim_start_matches("http://test")).await;
    assert_eq!(second.match_ids(), ["hs2"]);
    assert_eq!(second.total(), 3);
    let elements = get(app, "/fhir/HealthcareService?_id=hs1&_elements=identifier").await;
    let resource = &elements.entries()[0]["resource"];
    assert!(resource.get("name").is_none());
    assert_eq!(resource["identifier"][0]["value"], "52/0001");
    assert_eq!(get(app, "/fhir/HealthcareService?_count=abc").await.status, 400);
    assert_eq!(get(app, "/fhir/HealthcareService?_summary=count").await.total(), 3);
    assert_eq!(get(app, "/fhir/HealthcareService?_getpages=nope").await.status, 410);
}

#[actix_web::test]
async fn test_unknown_parameters_lenient_and_strict() {
    let app = app().await;
    let lenient = get(app, "/fhir/HealthcareService?__include=HealthcareService:organization&_id=hs1").await;
    assert_eq!(lenient.status, 200);
    assert_eq!(lenient.match_ids(), ["hs1"]);
    let outcome = lenient.entries().into_iter().find(|e| e["search"]["mode"] == "outcome").unwrap();
    assert_eq!(outcome["resource"]["issue"][0]["expression"][0], "__include");
    let strict = crate::common::call(
        app,
        actix_web::test::TestRequest::get()
            .uri("/fhir/HealthcareService?__include=x&_id=hs1")
            .insert_header(("Prefer", "handling=strict")),
    )
    .await;
    assert_eq!(strict.status, 400);
    assert_eq!(strict.expression(), "__include");
}

#[actix_web::test]
async fn test_metadata_lists_registry() {
    let app = app().await;
    let metadata = get(app, "/fhir/metadata").await;
    assert_eq!(metadata.body["resourceType"], "CapabilityStatement");
    let resources = metadata.body["rest"][0]["resource"].as_array().unwrap();
    let location = resources.iter().find(|r| r["type"] == "Location").unwrap();
    let names: Vec<&str> =
        location["searchParam"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"near-insee-code"));
    assert!(names.contains(&"commune-cog"));
    // SPEC §5.1: OAuth, no CORS.
    assert_eq!(metadata.body["rest"][0]["security"]["cors"], false);
    assert_eq!(metadata.body["rest"][0]["security"]["service"][0]["coding"][0]["code"], "OAuth");
}
