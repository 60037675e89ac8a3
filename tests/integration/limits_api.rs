//! Every limit on what a client controls, configured small: exceeding one is a clear 4xx (or
//! 413/429/503) OperationOutcome naming what was too large.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::dev::Service;
use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use ror_search::app::{store_path, App};
use ror_search::config::Limits;
use ror_search::http::middleware::Operations;
use ror_search::http::HttpState;
use serde_json::Value;

use crate::common::{corpus_files, demo_corpus_dir, encode_spec_request};

const LIMITS: Limits = Limits {
    max_body_bytes: 4096,
    max_count: 50,
    max_or_values: 3,
    max_filter_depth: 2,
    max_filter_length: 200,
    max_filter_comparisons: 4,
    max_included: 5,
    request_timeout_seconds: 60,
    max_concurrent_exports: 1,
    search_threads: 1,
    background_nice: 0,
    search_priority: ror_search::search::pool::SearchPriority::Normal,
    // Smaller than the fixture corpus: pages are rendered from kept versions and from the store.
    render_cache_mb: 1,
};

struct Limited {
    app: Arc<App>,
    _dir: tempfile::TempDir,
}

fn limited() -> &'static Limited {
    static APP: OnceLock<Limited> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let registry = ror_search::schema::Registry::embedded().expect("registry");
            let store = ror_search::store::RedbStore::open(&store_path(dir.path())).expect("store");
            let files = corpus_files(demo_corpus_dir());
            ror_search::ingest::load::load_files(&registry, &store, &files, &mut |_| {}).expect("load");
        }
        let app = App::open_with_limits(dir.path(), LIMITS).expect("open");
        Limited { app: Arc::new(app), _dir: dir }
    })
}

struct Answer {
    status: u16,
    body: Value,
}

async fn send(request: TestRequest, timeout: Duration) -> Answer {
    let app = limited().app.clone();
    let state = Data::new(HttpState {
        max_body_bytes: LIMITS.max_body_bytes,
        ops: Arc::new(Operations::new(ror_search::security::auth::Authenticator::disabled(), timeout)),
        ..HttpState::new(app, Some("http://test/fhir".into()))
    });
    let service =
        test::init_service(ror_search::http::application(state, Data::new(Default::default()))).await;
    let response = match service.call(request.to_request()).await {
        Ok(response) => response,
        // An error raised by the middleware itself (the request time limit) is rendered by
        // actix through `ResponseError`, as the server would.
        Err(error) => {
            let response = error.error_response();
            let status = response.status().as_u16();
            let bytes = actix_web::body::to_bytes(response.into_body()).await.unwrap_or_default();
            return Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        }
    };
    let status = response.status().as_u16();
    let bytes = actix_web::body::to_bytes(response.into_body()).await.unwrap_or_default();
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

async fn get(uri: &str) -> Answer {
    send(TestRequest::get().uri(&encode_spec_request(uri)), Duration::from_secs(60)).await
}

fn assert_outcome(answer: &Answer, status: u16, needle: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["resourceType"], "OperationOutcome", "{}", answer.body);
    let text = answer.body.to_string();
    assert!(text.contains(needle), "{needle:?} not in {text}");
}

#[actix_web::test]
async fn test_count_above_the_maximum_is_refused() {
    assert_eq!(get("/fhir/HealthcareService?_count=50").await.status, 200);
    let answer = get("/fhir/HealthcareService?_count=51").await;
    assert_outcome(&answer, 400, "maximum of 50");
    assert_eq!(answer.body["issue"][0]["expression"][0], "_count");
}

#[actix_web::test]
async fn test_too_many_or_values_are_refused() {
    assert_eq!(get("/fhir/Organization?address-postalcode=75001,75002,75003").await.status, 200);
    let answer = get("/fhir/Organization?address-postalcode=75001,75002,75003,75004").await;
    assert_outcome(&answer, 400, "too many values");
    assert_eq!(answer.body["issue"][0]["expression"][0], "address-postalcode");
}

#[actix_web::test]
async fn test_filter_depth_and_size_are_bounded() {
    assert_eq!(get("/fhir/HealthcareService?_filter=(name eq cardio)").await.status, 200);
    let deep = "/fhir/HealthcareService?_filter=(((name eq cardio)))";
    assert_outcome(&get(deep).await, 400, "_filter");
    let long = format!("/fhir/HealthcareService?_filter=name eq {}", "a".repeat(300));
    assert_outcome(&get(&long).await, 400, "_filter");
    let many =
        "/fhir/HealthcareService?_filter=name eq a or name eq b or name eq c or name eq d or name eq e";
    assert_outcome(&get(many).await, 400, "_filter");
}

#[actix_web::test]
async fn test_include_fan_out_is_bounded() {
    // One offer brings its organization and locations: under the limit.
    let one = get("/fhir/HealthcareService?_count=1&_include=HealthcareService:organization").await;
    assert_eq!(one.status, 200, "{}", one.body);
    let answer =
        get("/fhir/HealthcareService?_count=50&_include=HealthcareService:location&_include=HealthcareService:organization")
            .await;
    assert_outcome(&answer, 400, "more than 5 resources");
    assert_eq!(answer.body["issue"][0]["code"], "too-costly");
}

#[actix_web::test]
async fn test_body_size_is_bounded() {
    let small = serde_json::json!({"resourceType": "Location", "id": "limits-small", "name": "Petit"});
    let answer = send(
        TestRequest::put()
            .uri("/fhir/Location/limits-small")
            .set_payload(small.to_string())
            .insert_header(("content-type", "application/fhir+json")),
        Duration::from_secs(60),
    )
    .await;
    assert!(answer.status == 201 || answer.status == 200, "{}", answer.body);
    let large =
        serde_json::json!({"resourceType": "Location", "id": "limits-large", "name": "x".repeat(8000)});
    let answer = send(
        TestRequest::put()
            .uri("/fhir/Location/limits-large")
            .set_payload(large.to_string())
            .insert_header(("content-type", "application/fhir+json")),
        Duration::from_secs(60),
    )
    .await;
    assert_outcome(&answer, 413, "too large");
}

/// Every offer, page after page (`next` links), as the resources of the entries.
async fn walk_offers() -> Vec<Value> {
    let mut resources = Vec::new();
    let mut uri = "/fhir/HealthcareService?_count=50".to_owned();
    loop {
        let page = get(&uri).await;
        assert_eq!(page.status, 200, "{uri}: {}", page.body);
        resources.extend(page.body["entry"].as_array().into_iter().flatten().map(|e| e["resource"].clone()));
        let links = page.body["link"].as_array().cloned().unwrap_or_default();
        match links.iter().find(|link| link["relation"] == "next").and_then(|link| link["url"].as_str()) {
            Some(next) => uri = next.trim_start_matches("http://test").to_owned(),
            None => return resources,
        }
    }
}

/// Pages are rendered from the versions kept for them (1 MiB here, less than the demo offers
/// take) and, past that, from the store: two walks over every offer show the same resources as
/// reads by id, and a new version is shown at once in place of the kept one.
#[actix_web::test]
async fn test_pages_rendered_from_kept_versions_match_the_store_and_follow_writes() {
    let first = walk_offers().await;
    let shown_bytes: usize = first.iter().map(|resource| resource.to_string().len()).sum();
    assert!(shown_bytes > 1 << 20, "the offers take {shown_bytes} bytes: more than the 1 MiB kept is needed");
    let second = walk_offers().await;
    assert_eq!(first.len(), second.len());
    assert!(first == second, "the second walk, partly from kept versions, differs from the first");
    for resource in first.iter().step_by(97) {
        let id = resource["id"].as_str().expect("id");
        let read = get(&format!("/fhir/HealthcareService/{id}")).await;
        assert_eq!(&read.body, resource, "HealthcareService/{id}");
    }
    let mut changed = first[1].clone();
    let id = changed["id"].as_str().expect("id").to_owned();
    // Rendered once more just before the write: this version is kept now.
    let before = get(&format!("/fhir/HealthcareService?_id={id}")).await;
    assert_eq!(before.body["entry"][0]["resource"], first[1]);
    changed["name"] = Value::from("Consultation mémoire (nouvelle version)");
    let answer = send(
        TestRequest::put()
            .uri(&format!("/fhir/HealthcareService/{id}"))
            .set_payload(changed.to_string())
            .insert_header(("content-type", "application/fhir+json")),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let found = get(&format!("/fhir/HealthcareService?_id={id}")).await;
    let shown = &found.body["entry"][0]["resource"];
    assert_eq!(shown["name"], "Consultation mémoire (nouvelle version)", "{}", found.body);
    assert_eq!(shown["meta"]["versionId"], answer.body["meta"]["versionId"]);
    assert_ne!(shown["meta"]["versionId"], first[1]["meta"]["versionId"]);
}

#[actix_web::test]
async fn test_request_time_limit_answers_503() {
    // Whichever comes first answers 503: the timer (on a paused clock the idle runtime moves
    // time past the limit at once), or the search thread, which does not start a search whose
    // request is past its deadline (the only answer when the runtime was descheduled long enough
    // for a search to finish first).
    tokio::time::pause();
    let answer =
        send(TestRequest::get().uri("/fhir/HealthcareService?_content=cardio"), Duration::from_nanos(1))
            .await;
    assert_outcome(&answer, 503, "longer than");
    assert_eq!(answer.body["issue"][0]["code"], "timeout");
}

#[actix_web::test]
async fn test_concurrent_exports_are_bounded() {
    // Four kick-offs at once, each exporting every type of the demo corpus, against a limit of
    // one running export: the ones arriving while another runs get 429.
    let kick_off = || {
        send(
            TestRequest::get().uri("/fhir/$export").insert_header(("prefer", "respond-async")),
            Duration::from_secs(60),
        )
    };
    let answers = futures_join4(kick_off(), kick_off(), kick_off(), kick_off()).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(statuses.contains(&202), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    for answer in answers.iter().filter(|a| a.status == 429) {
        assert_outcome(answer, 429, "too many exports");
    }
}

async fn futures_join4<F: std::future::Future<Output = Answer>>(a: F, b: F, c: F, d: F) -> [Answer; 4] {
    let (a, b) = tokio::join!(a, b);
    let (c, d) = tokio::join!(c, d);
    [a, b, c, d]
}

/// Scheduling of each thread of `pid`, by thread name: 0 for a normal thread, else its
/// `SCHED_FIFO` priority.
fn thread_priorities(pid: u32) -> Vec<(String, u32)> {
    use ror_search::search::pool::{stat_field, STAT_POLICY, STAT_RT_PRIORITY};
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc tasks");
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?.trim_end().to_owned();
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            let priority =
                if stat_field(&stat, STAT_POLICY)? == 1 { stat_field(&stat, STAT_RT_PRIORITY)? } else { 0 };
            Some((name, priority))
        })
        .collect()
}

/// `limits.search_priority = "realtime"` through the real binary: the search threads and the HTTP
/// workers that served requests run under `SCHED_FIFO` 3, the group commit under 2, the blocking
/// thread that prepared a write under 1; indicators and tantivy threads run normal; searches and
/// writes are answered. Where the process may not take real-time priority, the server does not
/// start and names the setting.
#[test]
fn test_realtime_search_priority_through_the_binary() {
    use crate::common::client::{free_port, request, wait_ready};
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("realtime.toml");
    std::fs::write(&config, "[server]\nplain_http = true\n[limits]\nsearch_priority = \"realtime\"\n")
        .expect("config");
    let log = dir.path().join("server.log");
    let address = format!("127.0.0.1:{}", free_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ror-search"))
        .args(["--data-dir", &dir.path().join("data").display().to_string(), "serve", "--workers", "2"])
        .args(["--config", &config.display().to_string(), "--listen", &address])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start ror-search");
    let ready = wait_ready(&address, Duration::from_secs(60));
    if !ready {
        let status = child.wait().expect("the server ended");
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!status.success() && stderr.contains("limits.search_priority"), "{status}: {stderr}");
        return;
    }
    let location =
        r#"{"resourceType":"Location","id":"rt-1","name":"Urgences","address":{"postalCode":"44000"}}"#;
    let written = request(&address, "PUT", "/fhir/Location/rt-1", Some(location)).expect("put");
    assert_eq!(written.status, 201, "{}", written.body);
    // One connection per request: both workers serve some of them.
    for _ in 0..8 {
        let found = request(&address, "GET", "/fhir/Location?address-postalcode=44&_summary=count", None)
            .expect("search");
        assert_eq!(found.status, 200, "{}", found.body);
        assert_eq!(serde_json::from_str::<Value>(&found.body).expect("json")["total"], 1);
    }
    let priorities = thread_priorities(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let of = |prefix: &str| -> Vec<u32> {
        priorities
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, priority)| *priority)
            .collect()
    };
    let searchers = of("ror-search-");
    assert!(!searchers.is_empty() && searchers.iter().all(|&priority| priority == 3), "{priorities:?}");
    assert_eq!(of("actix-rt"), vec![3, 3], "the two workers: {priorities:?}");
    assert_eq!(of("ror-writer"), vec![2], "{priorities:?}");
    // The write was prepared on a blocking thread that a worker started.
    assert!(priorities.iter().any(|(_, priority)| *priority == 1), "no preparation thread: {priorities:?}");
    for background in ["ror-indicators", "merge_thread", "segment_updater"] {
        let found = of(background);
        assert!(
            !found.is_empty() && found.iter().all(|&priority| priority == 0),
            "{background}: {priorities:?}"
        );
    }
}
