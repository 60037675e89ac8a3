//! SPEC.md §3 requests, written as the SPEC writes them, against the generated demo corpus.
//! Expected answers come from `common::oracle`, which walks the corpus JSON on its own.

use std::collections::{BTreeSet, HashSet};
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::oracle::{
    codings, has_code, haversine_km, identifier_values, instant_ms, last_updated, position, region_tag,
    ror_extensions, tre, Corpus,
};
use crate::common::{demo, demo_corpus_dir, spec_get, Response};

const INC: &str = "&_include=HealthcareService:organization&_include:iterate=Organization:partof&_include=HealthcareService:location&_revinclude=PractitionerRole:service&_include=PractitionerRole:practitioner";

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| Corpus::load(demo_corpus_dir()))
}

fn r(name: &str) -> String {
    tre(name)
}

/// All match ids across pages (following `next` links), in order, plus the first page.
async fn fetch_all(request: &str) -> (Response, Vec<String>) {
    let first = spec_get(demo(), request).await;
    assert_eq!(first.status, 200, "{request}: {}", first.text);
    let mut ids = first.match_ids();
    let mut next = next_link(&first);
    let mut pages = 0;
    while let Some(url) = next {
        pages += 1;
        assert!(pages < 200, "too many pages");
        let page = crate::common::get(demo(), url.trim_start_matches("http://test")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        ids.extend(page.match_ids());
        next = next_link(&page);
    }
    assert_eq!(ids.len() as u64, first.total(), "{request}: total differs from the matches paged through");
    (first, ids)
}

fn next_link(response: &Response) -> Option<String> {
    response.body["link"].as_array()?.iter().find(|l| l["relation"] == "next")?["url"]
        .as_str()
        .map(str::to_owned)
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

fn assert_same(request: &str, actual: &[String], expected: &BTreeSet<String>) {
    assert!(!expected.is_empty(), "{request}: the corpus must give this request a non-empty answer");
    let actual = set(actual);
    let missing: Vec<_> = expected.difference(&actual).take(5).collect();
    let extra: Vec<_> = actual.difference(expected).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "{request}: missing {missing:?}, extra {extra:?}");
}

/// Every match of the page brings its organization chain, locations, roles and practitioners.
fn assert_inc_block(response: &Response) {
    let corpus = corpus();
    let included: HashSet<(String, String)> = response
        .entries()
        .iter()
        .filter(|e| e["search"]["mode"] == "include")
        .map(|e| {
            (
                e["resource"]["resourceType"].as_str().unwrap().to_owned(),
                e["resource"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for id in response.match_ids() {
        let service = corpus.get("HealthcareService", &id).unwrap();
        if let Some(organization) = corpus.resolve(&service["providedBy"]) {
            for node in corpus.org_chain(organization) {
                assert!(
                    included.contains(&("Organization".into(), node["id"].as_str().unwrap().into())),
                    "org chain of {id}"
                );
            }
        }
        for location in corpus.locations_of(service) {
            assert!(
                included.contains(&("Location".into(), location["id"].as_str().unwrap().into())),
                "location of {id}"
            );
        }
        for role in corpus.all("PractitionerRole").iter().filter(|r| {
            r["healthcareService"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x["reference"] == format!("HealthcareService/{id}")))
        }) {
            assert!(included.contains(&("PractitionerRole".into(), role["id"].as_str().unwrap().into())));
            let practitioner = corpus.resolve(&role["practitioner"]).unwrap();
            assert!(included.contains(&("Practitioner".into(), practitioner["id"].as_str().unwrap().into())));
        }
    }
}

fn services(predicate: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    corpus().ids("HealthcareService", predicate)
}

fn specialty(service: &Value, code: &str) -> bool {
    has_code(&service["specialty"], &r("TRE_R211-ActiviteOperationnelle"), code)
}

fn characteristic(service: &Value, system: &str, code: &str) -> bool {
    has_code(&service["characteristic"], &r(system), code)
}

fn category(service: &Value, code: &str) -> bool {
    has_code(&service["category"], &r("TRE_R244-CategorieOrganisation"), code)
}

fn any_location(service: &Value, predicate: impl Fn(&Value) -> bool) -> bool {
    corpus().locations_of(service).into_iter().any(predicate)
}

fn postal(location: &Value) -> String {
    location["address"]["postalCode"].as_str().unwrap_or_default().to_owned()
}

fn commune(location: &Value) -> Vec<String> {
    ror_extensions(location, "ror-commune-cog")
        .iter()
        .flat_map(|e| codings(&e["valueCodeableConcept"]))
        .map(|(_, c)| c)
        .collect()
}

// ------------------------------------------------------------------ UC1

#[actix_web::test]
async fn test_uc1_capacity_data_requests() {
    let corpus = corpus();
    let all_locations = corpus.ids("Location", |_| true);
    let (response, ids) =
        fetch_all("[BASE]/Location?_revinclude=HealthcareService:location&_count=1000").await;
    assert_same("S1", &ids, &all_locations);
    // Each included offer references a location of the page.
    let page: HashSet<String> = response.match_ids().into_iter().collect();
    for entry in response.entries().iter().filter(|e| e["search"]["mode"] == "include") {
        assert_eq!(entry["resource"]["resourceType"], "HealthcareService");
        let refs: Vec<String> = entry["resource"]["location"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["reference"].as_str().unwrap().trim_start_matches("Location/").to_owned())
            .collect();
        assert!(refs.iter().any(|l| page.contains(l)));
    }

    let brittany =
        corpus.ids("Location", |l| ["22", "29", "35", "56"].iter().any(|d| postal(l).starts_with(d)));
    let (_, ids) =
        fetch_all("[BASE]/Location?address-postalcode=35,22,29,56&_revinclude=HealthcareService:location")
            .await;
    assert_same("S1bis IG", &ids, &brittany);
    let doc_list =
        corpus.ids("Location", |l| ["22", "29", "35", "36"].iter().any(|d| postal(l).starts_with(d)));
    let (_, ids) = fetch_all("[BASE]/Location?_filter=(address-postalcode eq \"22\" or \"29\" or \"35\" or \"36\")&_revinclude=HealthcareService:location").await;
    assert_same("S1bis doc", &ids, &doc_list);

    let region_52 = corpus.ids("Location", |l| region_tag(l).as_deref() == Some("52"));
    let (_, ids) = fetch_all("[BASE]/Location?_tag=52&_revinclude=HealthcareService:location").await;
    assert_same("S1ter", &ids, &region_52);

    let first = &corpus.all("Location")[7];
    let identifier = identifier_values(first)[0].clone();
    let response = spec_get(
        demo(),
        &format!("[BASE]/Location?identifier={identifier}&_revinclude=HealthcareService:location"),
    )
    .await;
    assert_eq!(response.total(), 1);
    assert_eq!(response.match_ids(), [first["id"].as_str().unwrap()]);
    let users = services(|s| {
        s["location"].as_array().is_some_and(|l| {
            l.iter().any(|r| r["reference"] == format!("Location/{}", first["id"].as_str().unwrap()))
        })
    });
    assert_eq!(set(&response.ids("include", "HealthcareService")), users);

    let (a, b) = (
        corpus.all("Location")[3]["id"].as_str().unwrap(),
        corpus.all("Location")[40]["id"].as_str().unwrap(),
    );
    for request in [
        format!("[BASE]/Location?_id={a},{b}&_revinclude=HealthcareService:location"),
        format!("[BASE]/Location?_filter=(_id eq {a} or {b})&_revinclude=HealthcareService:location"),
    ] {
        let response = spec_get(demo(), &request).await;
        assert_eq!(response.total(), 2, "{request}");
    }
    let (ia, ib) = (
        identifier_values(&corpus.all("Location")[3])[0].clone(),
        identifier_values(&corpus.all("Location")[40])[0].clone(),
    );
    for request in [
        format!("[BASE]/Location?identifier={ia},{ib}&_revinclude=HealthcareService:location"),
        format!(
            "[BASE]/Location?_filter=(identifier eq {ia} or {ib})&_revinclude=HealthcareService:location"
        ),
    ] {
        assert_eq!(
            set(&spec_get(demo(), &request).await.match_ids()),
            [a.to_owned(), b.to_owned()].into_iter().collect(),
            "{request}"
        );
    }

    let since = instant_ms("2023-08-02T00:00:00Z");
    let recent = corpus.ids("Location", |l| instant_ms(&last_updated(l)) >= since);
    let (_, ids) =
        fetch_all("[BASE]/Location?_lastUpdated=ge2023-08-02&_revinclude=HealthcareService:location").await;
    assert_same("S4", &ids, &recent);
    let since = instant_ms("2022-11-06T15:00:00Z");
    let recent = corpus.ids("Location", |l| instant_ms(&last_updated(l)) >= since);
    let (_, ids) =
        fetch_all("[BASE]/Location?_lastUpdated=ge2022-11-06T15:00&_revinclude=HealthcareService:location")
            .await;
    assert_same("S4 old", &ids, &recent);

    let offers: Vec<&Value> = corpus
        .all("HealthcareService")
        .iter()
        .filter(|s| s["location"].as_array().is_some_and(|l| l.len() >= 2))
        .take(2)
        .collect();
    let offer_ids: Vec<String> = offers.iter().map(|s| identifier_values(s)[0].clone()).collect();
    let expected: BTreeSet<String> = offers
        .iter()
        .flat_map(|s| corpus.locations_of(s))
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let request = format!("[BASE]/Location?_has:HealthcareService:location:identifier={}&_revinclude=HealthcareService:location", offer_ids.join(","));
    assert_same("S5", &spec_get(demo(), &request).await.match_ids(), &expected);
}

// ------------------------------------------------------------------ UC2

#[actix_web::test]
async fn test_uc2_offer_consultation_requests() {
    let corpus = corpus();
    // S2: every offer of one establishment, through OIs, by the EJ's FINESS.
    let hospital_ej = corpus
        .all("Organization")
        .iter()
        .filter(|o| o["id"].as_str().unwrap().starts_with("ej-"))
        .find(|ej| {
            let id = ej["id"].as_str().unwrap();
            corpus
                .all("HealthcareService")
                .iter()
                .filter(|s| {
                    corpus
                        .resolve(&s["providedBy"])
                        .is_some_and(|o| corpus.org_chain(o).iter().any(|n| n["id"] == id))
                })
                .count()
                > 5
        })
        .expect("an EJ with offers");
    let finess = hospital_ej["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["system"] == "https://finess.esante.gouv.fr")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let ej_id = hospital_ej["id"].as_str().unwrap();
    let expected = services(|s| {
        corpus.resolve(&s["providedBy"]).is_some_and(|o| corpus.org_chain(o).iter().any(|n| n["id"] == ej_id))
    });
    for request in [
        format!("[BASE]/HealthcareService?organization.identifier:above={finess}{INC}"),
        format!("[BASE]/HealthcareService?organization:above.identifier={finess}&_include:iterate=HealthcareService:organization&_include=HealthcareService:location&_revinclude=PractitionerRole:service&_include=PractitionerRole:practitioner"),
        format!("[BASE]/HealthcareService?organization.identifier%3Aabove={finess}&_include=HealthcareService%3Alocation&_revinclude=PractitionerRole%3Aservice&_include=PractitionerRole%3Apractitioner&_include=HealthcareService%3Aorganization&_include%3Aiterate=Organization%3Apartof"),
    ] {
        let (response, ids) = fetch_all(&request).await;
        assert_same(&request, &ids, &expected);
        // The IG's older form has no Organization:partof include, so no ancestors.
        if request.contains("Organization%3Apartof") || request.contains("Organization:partof") {
            assert_inc_block(&response);
        }
    }

    // S3 one offer, with roles and practitioners.
    let with_role = corpus.all("PractitionerRole")[0]["healthcareService"][0]["reference"]
        .as_str()
        .unwrap()
        .trim_start_matches("HealthcareService/")
        .to_owned();
    let offer = corpus.get("HealthcareService", &with_role).unwrap();
    let response = spec_get(
        demo(),
        &format!("[BASE]/HealthcareService?identifier={}{INC}", identifier_values(offer)[0]),
    )
    .await;
    assert_eq!(response.match_ids(), [with_role.as_str()]);
    assert!(!response.ids("include", "Practitioner").is_empty());
    assert_inc_block(&response);

    // S4 offers updated since a date.
    let since = instant_ms("2022-11-06T15:00:00Z");
    let expected = services(|s| instant_ms(&last_updated(s)) >= since);
    let (response, ids) =
        fetch_all(&format!("[BASE]/HealthcareService?_lastUpdated=ge2022-11-06T15:00{INC}")).await;
    assert_same("S4", &ids, &expected);
    assert_inc_block(&response);

    // S5 offers whose EG (or any ancestor) was updated, of a category (doc's TRE_R66 URL typo included).
    let eg_update = |s: &Value| {
        corpus
            .resolve(&s["providedBy"])
            .is_some_and(|o| corpus.org_chain(o).iter().any(|n| instant_ms(&last_updated(n)) >= since))
    };
    let of_category = |s: &Value, code: &str| {
        corpus
            .resolve(&s["providedBy"])
            .is_some_and(|o| has_code(&o["type"], &r("TRE_R66-CategorieEtablissement"), code))
    };
    let expected = services(|s| eg_update(s) && of_category(s, "355"));
    let request = format!("[BASE]/HealthcareService?organization._lastUpdated:above=ge2022-11-06T15:00&organization.type=https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE_R66-CategorieEtablissement|355{INC}");
    let (_, ids) = fetch_all(&request).await;
    assert_same("S5 doc", &ids, &expected);
    let request = format!("[BASE]/HealthcareService?organization:above._lastUpdated=ge2022-11-06T15:00&organization.type= https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement|355{INC}");
    let (_, ids) = fetch_all(&request).await;
    assert_same("S5 IG", &ids, &expected);

    // S6 the offer or any element of its organization chain updated; the unknown revinclude is reported.
    let expected = services(|s| instant_ms(&last_updated(s)) >= since || eg_update(s));
    let request = format!("[BASE]/HealthcareService?_filter=(_lastUpdated ge 2022-11-06T15:00 or organization._lastUpdated:above ge 2022-11-06T15:00)&_revinclude=Organization:healthcareservice{INC}");
    let (response, ids) = fetch_all(&request).await;
    assert_same("S6", &ids, &expected);
    let outcome = response
        .entries()
        .into_iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("warning for the unknown revinclude");
    assert_eq!(outcome["resource"]["issue"][0]["expression"][0], "_revinclude");

    // S7 partial extraction on a region: only the identifier of the offers, plus linked resources.
    let expected = services(|s| region_tag(s).as_deref() == Some("52"));
    let request =
        format!("[BASE]/HealthcareService?_tag={}|52&_elements=identifier{INC}", r("TRE_R30-RegionOM"));
    let (response, ids) = fetch_all(&request).await;
    assert_same("S7", &ids, &expected);
    for entry in response.entries().iter().filter(|e| e["search"]["mode"] == "match") {
        let keys: BTreeSet<&str> =
            entry["resource"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "identifier", "meta", "resourceType"].into_iter().collect());
    }
}

// ------------------------------------------------------------------ UC3

#[actix_web::test]
async fn test_uc3_main_criteria_requests() {
    let corpus = corpus();
    let r211 = r("TRE_R211-ActiviteOperationnelle");
    let r244 = r("TRE_R244-CategorieOrganisation");

    let (response, ids) = fetch_all(&format!("[BASE]/HealthcareService?specialty={r211}|227{INC}")).await;
    assert_same("S1", &ids, &services(|s| specialty(s, "227")));
    assert_inc_block(&response);

    let expected = services(|s| specialty(s, "005") || specialty(s, "481"));
    let (_, ids) = fetch_all(&format!("[BASE]/HealthcareService?_filter=(specialty eq {r211}|005 or {r211}|481)&__include=HealthcareService:organization&_include:iterate=Organization:partof")).await;
    assert_same("S2", &ids, &expected);

    let expected = services(|s| category(s, "50") && characteristic(s, "TRE_R338-ModaliteAccueil", "01"));
    let (_, ids) = fetch_all(&format!(
        "[BASE]/HealthcareService?service-category={r244}|50&characteristic={}|01{INC}",
        r("TRE_R338-ModaliteAccueil")
    ))
    .await;
    assert_same("S3", &ids, &expected);

    let age_ok = |s: &Value| {
        ror_extensions(s, "ror-healthcareservice-patient-type").iter().any(|p| {
            p["extension"].as_array().unwrap().iter().any(|e| {
                e["url"] == "ageRange"
                    && e["valueRange"]["low"]["value"].as_f64().is_some_and(|v| v <= 35.0)
                    && e["valueRange"]["high"]["value"].as_f64().is_some_and(|v| v >= 35.0)
            })
        })
    };
    let expected = services(|s| (category(s, "102") || specialty(s, "233")) && age_ok(s));
    let (_, ids) = fetch_all(&format!("[BASE]/HealthcareService?_filter=(((service-category eq {r244}|102) or (specialty eq {r211}|233)) and (age-range-low le 35|https://unitsofmeasure.org|a and age-range-high ge 35|https://unitsofmeasure.org|a)){INC}")).await;
    assert_same("S4", &ids, &expected);

    let expected = services(|s| {
        let cmpp = corpus.resolve(&s["providedBy"]).is_some_and(|o| {
            corpus
                .org_chain(o)
                .iter()
                .any(|n| has_code(&n["type"], &r("TRE_R66-CategorieEtablissement"), "189"))
        });
        (cmpp || category(s, "62")) && characteristic(s, "TRE_R210-ActeSpecifique", "0626")
    });
    let (_, ids) = fetch_all(&format!("[BASE]/HealthcareService?_filter=((organization.type:above eq {}|189) or (service-category eq {r244}|62))&characteristic={}|0626{INC}", r("TRE_R66-CategorieEtablissement"), r("TRE_R210-ActeSpecifique"))).await;
    assert_same("S5", &ids, &expected);

    // S6 proximity, nearest first, distance on the Location entries.
    let centre = (47.21827323906432, -1.6369631507460436);
    let nearest = |s: &Value, point: (f64, f64)| {
        corpus
            .locations_of(s)
            .iter()
            .filter_map(|l| position(l))
            .map(|p| haversine_km(point, p))
            .fold(f64::INFINITY, f64::min)
    };
    let expected = services(|s| specialty(s, "013") && nearest(s, centre) <= 15.0);
    let (response, ids) = fetch_all(&format!("[BASE]/HealthcareService?specialty={r211}|013&location.near={}|{}|15|km&_include=HealthcareService:organization&_include:iterate=Organization:partof&_include=HealthcareService:location&_revincluded=PractitionerRole:service&_include=PractitionerRole:practitioner", centre.0, centre.1)).await;
    assert_same("S6 coordinates", &ids, &expected);
    let distances: Vec<f64> =
        ids.iter().map(|id| nearest(corpus.get("HealthcareService", id).unwrap(), centre)).collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1] + 1e-6), "nearest first: {distances:?}");
    let location_entries: Vec<Value> =
        response.entries().into_iter().filter(|e| e["resource"]["resourceType"] == "Location").collect();
    assert!(!location_entries.is_empty());
    for entry in location_entries {
        let expected_km = haversine_km(centre, position(&entry["resource"]).unwrap());
        if expected_km <= 15.0 {
            let reported = entry["search"]["extension"][0]["valueDistance"]["value"].as_f64().unwrap();
            assert!((reported - expected_km).abs() < 0.02, "{reported} vs {expected_km}");
        }
    }
    let herblain = crate::common::oracle::commune_centre("44162");
    let expected = services(|s| specialty(s, "013") && nearest(s, herblain) <= 15.0);
    let (_, ids) = fetch_all(&format!(
        "[BASE]/HealthcareService?specialty={r211}|013&location.near-insee-code=44162|15|km{INC}"
    ))
    .await;
    assert_same("S6 INSEE", &ids, &expected);
    let distances: Vec<f64> =
        ids.iter().map(|id| nearest(corpus.get("HealthcareService", id).unwrap(), herblain)).collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1] + 1e-6));

    let zone = |s: &Value, cog: &str| {
        ror_extensions(s, "ror-territorial-division").iter().any(|d| {
            d["extension"].as_array().unwrap().iter().any(|e| {
                e["url"] == "codeTerritorialDivision"
                    && has_code(&e["valueCodeableConcept"], &r("TRE_R13-CommuneOM"), cog)
            })
        })
    };
    let expected = services(|s| zone(s, "29151") && specialty(s, "293") && category(s, "30"));
    let (_, ids) = fetch_all(&format!("[BASE]/HealthcareService?intervention-zone={}|29151&specialty={r211}|293&service-category={r244}|30{INC}", r("TRE_R13-CommuneOM"))).await;
    assert_same("S7", &ids, &expected);

    let expected = services(|s| {
        any_location(s, |l| postal(l).starts_with("71"))
            && category(s, "21")
            && characteristic(s, "TRE_R213-ModePriseEnCharge", "46")
            && characteristic(s, "TRE_R245-SpecialisationDePriseEnCharge", "24")
    });
    let (_, ids) = fetch_all(&format!("[BASE]/HealthcareService?location.address-postalcode=71&service-category={r244}|21&characteristic={}|46&characteristic={}|24{INC}", r("TRE_R213-ModePriseEnCharge"), r("TRE_R245-SpecialisationDePriseEnCharge"))).await;
    assert_same("S8", &ids, &expected);

    let expected = services(|s| {
        any_location(s, |l| postal(l).starts_with("60000") || postal(l).starts_with("76620"))
            && specialty(s, "017")
            && characteristic(s, "TRE_R210-ActeSpecifique", "0529")
    });
    let (_, ids) = fetch_all(&format!("[BASE]/HealthcareService?_filter=(location.address-postalcode eq \"60000\" or \"76620\")&specialty={r211}|017&characteristic={}|0529&_revincluded=PractitionerRole:service", r("TRE_R210-ActeSpecifique"))).await;
    assert_same("S9", &ids, &expected);

    let expected = services(|s| {
        any_location(s, |l| commune(l).iter().any(|c| c == "18000" || c == "13013"))
            && specialty(s, "437")
            && characteristic(s, "TRE_R213-ModePriseEnCharge", "32")
    });
    let r13 = r("TRE_R13-CommuneOM");
    let r213 = r("TRE_R213-ModePriseEnCharge");
    for request in [
        format!("[BASE]/HealthcareService?_filter=(location.commune-cog eq {r13}|18000 OR location.commune-cog eq {r13}|13013)&specialty={r211}|437&characteristic={r213}|32{INC}"),
        format!("[BASE]/HealthcareService?location.commune-cog={r13}|18000,13013&specialty={r211}|437&characteristic={r213}|32{INC}"),
    ] {
        let (_, ids) = fetch_all(&request).await;
        assert_same(&request, &ids, &expected);
    }
    // The SPEC's "032" is not a TRE_R213 code: matched exactly, it finds nothing (documented).
    let typo = spec_get(demo(), &format!("[BASE]/HealthcareService?location.commune-cog={r13}|18000,13013&specialty={r211}|437&characteristic={r213}|032")).await;
    assert_eq!(typo.total(), 0);

    let expected = services(|s| characteristic(s, "TRE_R243-CompetenceSpecifique", "05"));
    let (_, ids) = fetch_all(&format!(
        "[BASE]/HealthcareService?characteristic={}|05{INC}",
        r("TRE_R243-CompetenceSpecifique")
    ))
    .await;
    assert_same("S11", &ids, &expected);

    let role = &corpus.all("PractitionerRole")[0];
    let practitioner = corpus.resolve(&role["practitioner"]).unwrap();
    let rpps = identifier_values(practitioner)[0].clone();
    let practitioner_id = practitioner["id"].as_str().unwrap();
    let expected: BTreeSet<String> =
        corpus
            .all("PractitionerRole")
            .iter()
            .filter(|r| r["practitioner"]["reference"] == format!("Practitioner/{practitioner_id}"))
            .flat_map(|r| {
                r["healthcareService"].as_array().unwrap().iter().map(|s| {
                    s["reference"].as_str().unwrap().trim_start_matches("HealthcareService/").to_owned()
                })
            })
            .collect();
    let (_, ids) = fetch_all(&format!(
        "[BASE]/HealthcareService?_has:PractitionerRole:service:practitioner.identifier={rpps}{INC}"
    ))
    .await;
    assert_same("S13", &ids, &expected);
}

// ------------------------------------------------------------------ UC6

#[actix_web::test]
async fn test_uc6_full_text_requests() {
    let corpus = corpus();
    let (response, ids) = fetch_all(&format!("[BASE]/HealthcareService?_content=cardio{INC}")).await;
    // Every offer whose name has a word starting with "cardio" is found (names are indexed text).
    let named = services(|s| {
        crate::common::oracle::folded(s["name"].as_str().unwrap_or_default())
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w.starts_with("cardio"))
    });
    assert!(!named.is_empty());
    let found = set(&ids);
    assert!(named.is_subset(&found), "missing {:?}", named.difference(&found).take(5).collect::<Vec<_>>());
    let names: Vec<String> = ids
        .iter()
        .map(|id| {
            corpus.get("HealthcareService", id).unwrap()["name"].as_str().unwrap_or_default().to_lowercase()
        })
        .collect();
    for word in ["cardiologie", "cardiologique", "cardio-vasculaire"] {
        assert!(names.iter().any(|n| n.contains(word)), "_content=cardio finds {word}");
    }
    let scores: Vec<f64> = response
        .entries()
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["search"]["score"].as_f64().unwrap())
        .collect();
    assert_eq!(scores[0], 1.0);
    assert!(scores.iter().all(|s| *s > 0.0 && *s <= 1.0));
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "ordered by relevance");

    let (_, both) = fetch_all(&format!(
        "[BASE]/HealthcareService?_filter=(_content=cardio or location._content=cardio){INC}"
    ))
    .await;
    let both = set(&both);
    assert!(found.is_subset(&both));
    let by_location = services(|s| {
        any_location(s, |l| {
            crate::common::oracle::folded(l["name"].as_str().unwrap_or_default()).contains("cardio")
        })
    });
    assert!(by_location.is_subset(&both));
}

// ------------------------------------------------------------------ UC4 / UC5 (independent semantics)

fn capacity_records(location: &Value) -> Vec<&Value> {
    ror_extensions(location, "ror-location-supported-capacity")
}

fn sub_code(record: &Value, url: &str) -> Vec<(String, String)> {
    record["extension"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["url"] == url)
        .flat_map(|e| codings(&e["valueCodeableConcept"]))
        .collect()
}

fn sub_number(record: &Value, url: &str) -> Vec<f64> {
    record["extension"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["url"] == url)
        .filter_map(|e| e["valueInteger"].as_f64())
        .collect()
}

#[actix_web::test]
async fn test_uc4_capacity_requests() {
    let r211 = r("TRE_R211-ActiviteOperationnelle");
    let has = |location: &Value, url: &str, system: &str, code: &str| {
        capacity_records(location).iter().any(|c| sub_code(c, url).contains(&(r(system), code.to_owned())))
    };
    let positive = |location: &Value| {
        capacity_records(location).iter().any(|c| sub_number(c, "nbCapacity").iter().any(|n| *n > 0.0))
    };
    // Each criterion independently (as the national HAPI server): the documented default.
    let expected = services(|s| {
        specialty(s, "356")
            && any_location(s, |l| has(l, "capacityType", "TRE_R329-NatureCapacite", "01"))
            && any_location(s, |l| has(l, "genderCapacityAvailable", "TRE_R332-GenreCapacite", "01"))
            && any_location(s, |l| has(l, "temporalityCapacity", "TRE_R331-TemporaliteCapacite", "01"))
            && any_location(s, |l| has(l, "capacityStatus", "TRE_R330-TypeStatutCapacite", "02"))
            && any_location(s, positive)
    });
    let request = format!("[BASE]/HealthcareService?specialty={r211}|356&location.capacity-type={}|01&location.gender-capacity-available={}|01&location.temporality-capacity={}|01&location.capacity-status={}|02&location.nb-capacity=gt0&_include=HealthcareService:location", r("TRE_R329-NatureCapacite"), r("TRE_R332-GenreCapacite"), r("TRE_R331-TemporaliteCapacite"), r("TRE_R330-TypeStatutCapacite"));
    let (response, ids) = fetch_all(&request).await;
    assert_same("UC4 S1", &ids, &expected);
    assert!(!response.ids("include", "Location").is_empty());

    let expected = services(|s| {
        specialty(s, "391")
            && any_location(s, |l| has(l, "capacityType", "TRE_R329-NatureCapacite", "01"))
            && any_location(s, |l| has(l, "capacityClosingType", "TRE_R333-TypeFermetureCapacite", "01"))
            && any_location(s, |l| has(l, "capacityStatus", "TRE_R330-TypeStatutCapacite", "05"))
            && any_location(s, positive)
    });
    let request = format!("[BASE]/HealthcareService?specialty={r211}|391&location.capacity-type={}|01&location.capacity-closing-type={}|01&location.capacity-status={}|05&location.nb-capacity=gt0&_include=HealthcareService:location", r("TRE_R329-NatureCapacite"), r("TRE_R333-TypeFermetureCapacite"), r("TRE_R330-TypeStatutCapacite"));
    let (_, ids) = fetch_all(&request).await;
    assert_same("UC4 S2", &ids, &expected);

    fn equipment(location: &Value) -> Vec<&Value> {
        ror_extensions(location, "ror-location-equipment")
    }
    let expected = services(|s| {
        specialty(s, "025")
            && any_location(s, |l| {
                equipment(l)
                    .iter()
                    .any(|e| sub_code(e, "equipmentType").contains(&(r("TRE_R212-Equipement"), "088".into())))
            })
            && any_location(s, |l| {
                equipment(l).iter().any(|e| {
                    ror_extensions(e, "ror-location-equipment-limit").iter().any(|limit| {
                        sub_code(limit, "equipmentFeature")
                            .contains(&(r("TRE_R340-TypeCaracteristiqueEquipement"), "001".into()))
                    })
                })
            })
            && any_location(s, |l| {
                equipment(l).iter().any(|e| {
                    ror_extensions(e, "ror-location-equipment-limit").iter().any(|limit| {
                        limit["extension"].as_array().unwrap().iter().any(|x| {
                            x["url"] == "limitValue"
                                && x["valueQuantity"]["code"] == "kg"
                                && x["valueQuantity"]["value"].as_f64().is_some_and(|v| v >= 200.0)
                        })
                    })
                })
            })
    });
    let request = format!("[BASE]/HealthcareService?specialty={r211}|025&location.equipment-type={}|088&location.equipment-feature={}|001&location.limit-value=ge200|http://unitsofmeasure.org|kg&_include=HealthcareService:location", r("TRE_R212-Equipement"), r("TRE_R340-TypeCaracteristiqueEquipement"));
    let (_, ids) = fetch_all(&request).await;
    assert_same("UC4 S3", &ids, &expected);
}

#[actix_web::test]
async fn test_uc5_tariff_requests() {
    let corpus = corpus();
    let prices = |s: &Value| -> Vec<Value> {
        corpus
            .resolve(&s["providedBy"])
            .map(|o| ror_extensions(o, "ror-organization-price").into_iter().cloned().collect())
            .unwrap_or_default()
    };
    let any_price = |s: &Value, test: &dyn Fn(&Value) -> bool| prices(s).iter().any(test);
    let price_code = |p: &Value, url: &str, system: &str, code: &str| {
        sub_code(p, url).contains(&(r(system), code.to_owned()))
    };
    let amount = |p: &Value| {
        p["extension"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["url"] == "amount")
            .and_then(|e| e["valueMoney"]["value"].as_f64())
    };
    let start = |p: &Value| {
        p["extension"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["url"] == "startDate")
            .and_then(|e| e["valueDateTime"].as_str())
            .map(instant_ms)
    };
    let x = 80.0;
    let expected = services(|s| {
        any_price(s, &|p| price_code(p, "priceType", "TRE_R246-TypeTarif", "02"))
            && any_price(s, &|p| amount(p).is_some_and(|a| a < x))
    });
    let request = format!("[BASE]/HealthcareService?organization.price-type={}|02&organization.price-amount-value=lt{x}&_sort=-organization.price-validity-start-date&_include=Healthcareservice:location", r("TRE_R246-TypeTarif"));
    let (response, ids) = fetch_all(&request).await;
    assert_same("UC5 S1", &ids, &expected);
    assert!(
        !response.ids("include", "Location").is_empty(),
        "Healthcareservice:location is read case-insensitively"
    );
    let latest: Vec<i64> = ids
        .iter()
        .map(|id| {
            prices(corpus.get("HealthcareService", id).unwrap())
                .iter()
                .filter_map(start)
                .max()
                .unwrap_or(i64::MIN)
        })
        .collect();
    assert!(latest.windows(2).all(|w| w[0] >= w[1]), "most recent validity first");

    let expected = services(|s| {
        any_price(s, &|p| price_code(p, "priceType", "TRE_R246-TypeTarif", "02"))
            && any_price(s, &|p| amount(p).is_some_and(|a| a <= 100.0))
            && any_price(s, &|p| price_code(p, "residentialType", "TRE_R242-TypeHabitation", "03"))
            && any_price(s, &|p| price_code(p, "specialPrice", "TRE_R250-ConditionTarifaire", "03"))
    });
    let request = format!("[BASE]/HealthcareService?organization.price-type={}|02&organization.price-amount-value=le100&organization.price-residential-type={}|03&organization.special-price={}|03&_include=Healthcareservice:location", r("TRE_R246-TypeTarif"), r("TRE_R242-TypeHabitation"), r("TRE_R250-ConditionTarifaire"));
    let (_, ids) = fetch_all(&request).await;
    assert_same("UC5 S2", &ids, &expected);

    let expected = services(|s| {
        any_price(s, &|p| price_code(p, "priceType", "TRE_R246-TypeTarif", "03"))
            && any_price(s, &|p| amount(p).is_some_and(|a| a < 30.0))
            && any_price(s, &|p| price_code(p, "dependencyLevel", "TRE_R237-GroupeTarifaireDependance", "02"))
            && any_price(s, &|p| price_code(p, "welcomeType", "TRE_R240-TemporaliteAccueil", "02"))
    });
    let request = format!("[BASE]/HealthcareService?organization.price-type={}|03&organization.price-amount-value=lt30&organization.price-dependency-level={}|02&organization.price-welcome-type={}|02&_include=Healthcareservice:location", r("TRE_R246-TypeTarif"), r("TRE_R237-GroupeTarifaireDependance"), r("TRE_R240-TemporaliteAccueil"));
    let (_, ids) = fetch_all(&request).await;
    assert_same("UC5 S3", &ids, &expected);
    // The SPEC's `ltXR` is not a number: a clear 400 naming the parameter.
    let typo = spec_get(demo(), "[BASE]/HealthcareService?organization.price-amount-value=ltXR").await;
    assert_eq!(typo.status, 400);
    assert_eq!(typo.expression(), "organization.price-amount-value");
}

/// The ranks of a chained sort are kept with the organizations' state between searches: a
/// tariff write must reorder the next search, including for an offer whose OI inherits its EG's
/// tariffs, and an unrelated Location write must not.
#[actix_web::test]
async fn test_chained_tariff_sort_follows_tariff_writes() {
    use crate::common::{get, put_json, TestApp};
    use serde_json::json;
    let app = TestApp::empty();
    let price = |start: &str| {
        json!({"url": "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-price",
            "extension": [
                {"url": "priceType", "valueCodeableConcept": {"coding": [{"system": r("TRE_R246-TypeTarif"), "code": "02"}]}},
                {"url": "amount", "valueMoney": {"value": 65.5, "currency": "EUR"}},
                {"url": "startDate", "valueDateTime": start}]})
    };
    let eg = |id: &str, start: &str| json!({"resourceType": "Organization", "id": id, "name": id, "extension": [price(start)]});
    for (id, start) in [("eg-a", "2021-01-01"), ("eg-b", "2023-06-01"), ("eg-c", "2019-03-01")] {
        assert_eq!(put_json(&app, &format!("/fhir/Organization/{id}"), &eg(id, start)).await.status, 201);
    }
    let oi = json!({"resourceType": "Organization", "id": "oi-c", "name": "pôle", "partOf": {"reference": "Organization/eg-c"}});
    assert_eq!(put_json(&app, "/fhir/Organization/oi-c", &oi).await.status, 201);
    for (id, by) in [("hs-a", "eg-a"), ("hs-b", "eg-b"), ("hs-c", "oi-c")] {
        let offer = json!({"resourceType": "HealthcareService", "id": id, "name": id,
            "providedBy": {"reference": format!("Organization/{by}")}});
        assert_eq!(put_json(&app, &format!("/fhir/HealthcareService/{id}"), &offer).await.status, 201);
    }
    let sorted = || async {
        // `:above`: the OI's offer is matched by its EG's tariffs.
        get(&app, "/fhir/HealthcareService?organization.price-type:above=02&organization.price-amount-value:above=lt80&_sort=-organization.price-validity-start-date")
            .await
            .match_ids()
    };
    assert_eq!(sorted().await, ["hs-b", "hs-a", "hs-c"]);
    // A Location write leaves the organizations as they were: same order.
    let location = json!({"resourceType": "Location", "id": "loc", "name": "Réanimation"});
    assert_eq!(put_json(&app, "/fhir/Location/loc", &location).await.status, 201);
    assert_eq!(sorted().await, ["hs-b", "hs-a", "hs-c"]);
    // The OI's EG gets the latest tariff: its offer comes first.
    assert_eq!(put_json(&app, "/fhir/Organization/eg-c", &eg("eg-c", "2024-09-01")).await.status, 200);
    assert_eq!(sorted().await, ["hs-c", "hs-b", "hs-a"]);
    // Ascending reads another table of the same organizations.
    let ascending =
        get(&app, "/fhir/HealthcareService?organization.price-type:above=02&_sort=organization.price-validity-start-date")
            .await;
    assert_eq!(ascending.match_ids(), ["hs-a", "hs-b", "hs-c"]);
}

/// SPEC §3 abbreviates systems (`R211` for the TRE_R211 URL); such requests find what the full
/// URL finds.
#[actix_web::test]
async fn test_spec_system_shorthands_match_the_full_urls() {
    let app = crate::common::demo();
    let full =
        "https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle";
    let by_url =
        crate::common::spec_get(app, &format!("[BASE]/HealthcareService?specialty={full}|013&_count=1000"))
            .await;
    assert!(by_url.total() > 0);
    for shorthand in ["R211", "TRE_R211"] {
        let by_shorthand = crate::common::spec_get(
            app,
            &format!("[BASE]/HealthcareService?specialty={shorthand}|013&_count=1000"),
        )
        .await;
        assert_eq!(by_shorthand.match_ids(), by_url.match_ids(), "{shorthand}");
    }
    let filtered = crate::common::spec_get(
        app,
        "[BASE]/HealthcareService?_filter=(specialty eq R211|013 or R211|033)&_count=1000",
    )
    .await;
    let either = crate::common::spec_get(
        app,
        &format!("[BASE]/HealthcareService?specialty={full}|013,{full}|033&_count=1000"),
    )
    .await;
    assert!(either.total() > by_url.total());
    assert_eq!(filtered.total(), either.total());
}
