//! Online reindex (`POST /admin/reindex`, `/admin/tasks`): queries and writes go on during the
//! rebuild, nothing is lost, the generation changes, and the task API keeps its contract.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::common::{call, corpus_files, demo_corpus_dir, get, put_json, Response, TestApp};

async fn post_reindex(app: &TestApp) -> Response {
    call(app, TestRequest::post().uri("/admin/reindex")).await
}

/// Poll the task until it finishes; its last JSON.
async fn wait_for_task(app: &TestApp, location: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let answer = get(app, location).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let status = answer.body["status"].as_str().unwrap().to_owned();
        if status == "succeeded" || status == "failed" {
            return answer.body;
        }
        assert!(Instant::now() < deadline, "reindex still {status} after 300 s: {}", answer.text);
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

fn generation(app: &TestApp) -> u64 {
    app.app.state.read().generation
}

fn assert_task_shape(task: &Value) {
    for field in ["id", "kind", "status", "phase", "started"] {
        assert!(task[field].is_string(), "{field} in {task}");
    }
    assert_eq!(task["kind"], "reindex");
    assert!(["queued", "running", "succeeded", "failed"].contains(&task["status"].as_str().unwrap()));
    assert!(["scanning", "replaying", "swapping", "done"].contains(&task["phase"].as_str().unwrap()));
    assert!(task["progress"]["done"].is_u64() && task["progress"]["total"].is_u64(), "{task}");
    assert!(task["generation"].is_u64(), "{task}");
    assert!(chrono::DateTime::parse_from_rfc3339(task["started"].as_str().unwrap()).is_ok());
    if let Some(finished) = task.get("finished") {
        assert!(chrono::DateTime::parse_from_rfc3339(finished.as_str().unwrap()).is_ok(), "{task}");
    }
}

/// What the writers were told: id → last acknowledged name (`None`: deleted).
type Acknowledged = Rc<RefCell<BTreeMap<String, Option<String>>>>;

async fn write_continuously(app: Rc<TestApp>, writer: usize, stop: Rc<Cell<bool>>, acked: Acknowledged) {
    let mut n = 0usize;
    while !stop.get() {
        // Creates, renames of an earlier one, deletes of an earlier one: replay must carry all.
        let (id, outcome) = match n % 4 {
            2 => {
                let id = format!("rx-{writer}-{}", n - 2);
                let name = format!("Reindex writer {writer} renamed {n}");
                let body = json!({"resourceType": "Organization", "id": id, "name": name});
                let answer = put_json(&app, &format!("/fhir/Organization/{id}"), &body).await;
                assert_eq!(answer.status, 200, "{}", answer.text);
                (id, Some(name))
            }
            3 => {
                let id = format!("rx-{writer}-{}", n - 2);
                let uri = format!("/fhir/Organization/{id}");
                let answer = call(&app, TestRequest::delete().uri(&uri)).await;
                assert_eq!(answer.status, 204, "{}", answer.text);
                (id, None)
            }
            _ => {
                let id = format!("rx-{writer}-{n}");
                let name = format!("Reindex writer {writer} created {n}");
                let body = json!({"resourceType": "Organization", "id": id, "name": name});
                let answer = put_json(&app, &format!("/fhir/Organization/{id}"), &body).await;
                assert_eq!(answer.status, 201, "{}", answer.text);
                (id, Some(name))
            }
        };
        acked.borrow_mut().insert(id, outcome);
        n += 1;
    }
}

/// Searches whose answer the writers cannot change: any difference is a failed query.
const STABLE_SEARCHES: &[&str] = &[
    "/fhir/HealthcareService?_count=5",
    "/fhir/HealthcareService?_text=cardio&_count=3",
    "/fhir/Location?_count=3",
    "/fhir/Organization?_id=rx-none-1,rx-none-2",
];

async fn search_continuously(
    app: Rc<TestApp>,
    expected: Rc<Vec<(u64, Vec<String>)>>,
    stop: Rc<Cell<bool>>,
    queries: Rc<Cell<u64>>,
) {
    while !stop.get() {
        for (uri, (total, first_ids)) in STABLE_SEARCHES.iter().zip(expected.iter()) {
            let answer = get(&app, uri).await;
            assert_eq!(answer.status, 200, "{uri}: {}", answer.text);
            assert_eq!(answer.total(), *total, "{uri}");
            assert_eq!(answer.match_ids().len(), first_ids.len(), "{uri}");
            queries.set(queries.get() + 1);
        }
        // The writers' own resources are searchable in whichever generation serves.
        let answer = get(&app, "/fhir/Organization?name=Reindex%20writer&_summary=count").await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
}

#[actix_web::test]
async fn test_reindex_under_continuous_searches_and_writes() {
    let app = Rc::new(TestApp::with_files(&corpus_files(demo_corpus_dir())));
    let before = generation(&app);
    let mut expected = Vec::new();
    for uri in STABLE_SEARCHES {
        let answer = get(&app, uri).await;
        assert_eq!(answer.status, 200, "{uri}: {}", answer.text);
        expected.push((answer.total(), answer.match_ids()));
    }
    assert!(expected[0].0 > 0 && expected[1].0 > 0, "the demo corpus has offers and cardiology");
    let expected = Rc::new(expected);

    let stop = Rc::new(Cell::new(false));
    let acked: Acknowledged = Rc::default();
    let queries = Rc::new(Cell::new(0u64));
    let mut workers = Vec::new();
    for writer in 0..3 {
        workers.push(actix_web::rt::spawn(write_continuously(
            app.clone(),
            writer,
            stop.clone(),
            acked.clone(),
        )));
    }
    for _ in 0..2 {
        workers.push(actix_web::rt::spawn(search_continuously(
            app.clone(),
            expected.clone(),
            stop.clone(),
            queries.clone(),
        )));
    }
    // Let the load settle before starting, so that writes overlap the whole reindex.
    while acked.borrow().len() < 20 {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let acked_before = acked.borrow().len();
    let queries_before = queries.get();

    let started = post_reindex(&app).await;
    assert_eq!(started.status, 202, "{}", started.text);
    assert_task_shape(&started.body);
    let location = started.header("content-location").unwrap();
    assert_eq!(location, format!("/admin/tasks/{}", started.body["id"].as_str().unwrap()));
    assert_eq!(started.body["generation"], before + 1);
    let mut phases = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    let task = loop {
        let answer = get(&app, &location).await;
        assert_eq!(answer.status, 200);
        assert_task_shape(&answer.body);
        let phase = answer.body["phase"].as_str().unwrap().to_owned();
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
        if ["succeeded", "failed"].contains(&answer.body["status"].as_str().unwrap()) {
            break answer.body;
        }
        assert!(Instant::now() < deadline, "reindex too slow: {}", answer.text);
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    };
    let acked_during = acked.borrow().len() - acked_before;
    let queries_during = queries.get() - queries_before;
    // Keep the load on a little after the swap: the new generation must take writes too.
    let acked_at_swap = acked.borrow().len();
    while acked.borrow().len() < acked_at_swap + 10 {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    stop.set(true);
    for worker in workers {
        worker.await.expect("a writer or searcher failed (see its assertion above)");
    }

    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["phase"], "done");
    assert!(task.get("error").is_none());
    assert!(task.get("finished").is_some());
    assert_eq!(task["generation"], before + 1);
    assert_eq!(generation(&app), before + 1);
    assert!(acked_during > 0, "writes were acknowledged during the reindex");
    assert!(queries_during > 0, "searches were answered during the reindex");
    eprintln!(
        "reindex: phases seen {phases:?}, {acked_during} writes and {queries_during} searches during it"
    );

    // No acknowledged write lost: each live one is found with its last name, each deleted one is not.
    let acked = acked.borrow().clone();
    for chunk in acked.iter().collect::<Vec<_>>().chunks(20) {
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
        let answer = get(&app, &format!("/fhir/Organization?_id={}&_count=50", ids.join(","))).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let found: BTreeMap<String, String> = answer
            .entries()
            .iter()
            .map(|e| {
                (
                    e["resource"]["id"].as_str().unwrap().to_owned(),
                    e["resource"]["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for (id, name) in chunk {
            assert_eq!(found.get(id.as_str()), name.as_ref(), "Organization/{id}");
        }
    }
    // The string index of the new generation has them too.
    let live = acked.values().filter(|n| n.is_some()).count() as u64;
    let by_name = get(&app, "/fhir/Organization?name=Reindex%20writer&_summary=count").await;
    assert_eq!(by_name.total(), live);

    // Counts of the serving generation equal the store's, and so does the status page.
    let store_counts = app.app.store.counts().unwrap();
    {
        let state = app.app.state.read();
        for (resource_type, count) in &store_counts {
            assert_eq!(
                state.collection_by_name(resource_type).map(|c| c.len()),
                Some(*count),
                "{resource_type}"
            );
        }
        assert_eq!(state.applied_seq, app.app.store.last_seq().unwrap());
    }
    let status = get(&app, "/admin/status").await;
    assert_eq!(status.body["index"]["generation"], before + 1);
    // The text engine the writer stages into is the one the state searches.
    for uri in STABLE_SEARCHES {
        assert_eq!(get(&app, uri).await.status, 200);
    }

    let listed = get(&app, "/admin/tasks").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["tasks"][0]["id"], task["id"]);
}

#[actix_web::test]
async fn test_second_reindex_while_one_runs_is_409_naming_the_running_task() {
    let app = TestApp::empty();
    let body = json!({"resourceType": "Organization", "id": "o1", "name": "Organisation une"});
    assert_eq!(put_json(&app, "/fhir/Organization/o1", &body).await.status, 201);
    // Hold the writer thread: the reindex cannot swap, so it stays running while we ask again.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (entered, holding) = std::sync::mpsc::channel::<()>();
    let writer = app.app.writer.clone();
    let holder = std::thread::spawn(move || {
        writer.run_exclusive(move |_| {
            let _ = entered.send(());
            let _ = held.recv_timeout(Duration::from_secs(120));
        })
    });
    holding.recv_timeout(Duration::from_secs(30)).unwrap();

    let first = post_reindex(&app).await;
    assert_eq!(first.status, 202, "{}", first.text);
    let location = first.header("content-location").unwrap();
    let second = post_reindex(&app).await;
    assert_eq!(second.status, 409, "{}", second.text);
    assert_eq!(second.body["resourceType"], "OperationOutcome");
    assert_eq!(second.body["issue"][0]["code"], "conflict");
    assert_eq!(second.header("content-location").as_deref(), Some(location.as_str()));
    let running = get(&app, &location).await;
    assert!(["queued", "running"].contains(&running.body["status"].as_str().unwrap()), "{}", running.text);
    // Searches are served by the current generation while the reindex waits.
    let found = get(&app, "/fhir/Organization?name=organisation").await;
    assert_eq!(found.match_ids(), vec!["o1"]);

    release.send(()).unwrap();
    holder.join().unwrap().unwrap();
    let task = wait_for_task(&app, &location).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(generation(&app), 2);
    // Once finished, a new reindex may start.
    let third = post_reindex(&app).await;
    assert_eq!(third.status, 202, "{}", third.text);
    let location = third.header("content-location").unwrap();
    let task = wait_for_task(&app, &location).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["generation"], 3);
    let listed = get(&app, "/admin/tasks").await;
    let ids: Vec<&str> =
        listed.body["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![third.body["id"].as_str().unwrap(), first.body["id"].as_str().unwrap()]);
    let found = get(&app, "/fhir/Organization?name=organisation").await;
    assert_eq!(found.match_ids(), vec!["o1"]);
}

#[actix_web::test]
async fn test_unknown_task_is_404_operation_outcome() {
    let app = TestApp::empty();
    let answer = get(&app, "/admin/tasks/no-such-task").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["resourceType"], "OperationOutcome");
    assert_eq!(answer.body["issue"][0]["code"], "not-found");
    let listed = get(&app, "/admin/tasks").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body, json!({"tasks": []}));
}

#[actix_web::test]
async fn test_failed_reindex_keeps_the_current_generation_serving() {
    // A stored resource the indexer rejects (written under the validation): the new generation
    // would miss it, the count check catches that and the swap does not happen.
    let dir = tempfile::tempdir().unwrap();
    {
        use ror_search::store::{RedbStore, ResourceStore, WriteOp};
        let store = RedbStore::open(&ror_search::app::store_path(dir.path())).unwrap();
        let put = |resource: Value| WriteOp::Put {
            resource,
            if_match: None,
            create_only: false,
            keep_last_updated: false,
        };
        let results = store
            .commit_units(vec![
                vec![put(json!({"resourceType": "Organization", "id": "o1", "name": "Organisation une"}))],
                vec![put(
                    json!({"resourceType": "Location", "id": "bad", "position": {"latitude": "north"}}),
                )],
            ])
            .unwrap();
        assert!(results.iter().all(|r| r.is_ok()));
    }
    let app = TestApp::reopen(dir.path());
    let answer = post_reindex(&app).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let task = wait_for_task(&app, &answer.header("content-location").unwrap()).await;
    assert_task_shape(&task);
    assert_eq!(task["status"], "failed", "{task}");
    assert!(task["error"].as_str().unwrap().contains("Location"), "{task}");
    assert!(task.get("finished").is_some());
    assert_eq!(generation(&app), 1);
    let found = get(&app, "/fhir/Organization?name=organisation").await;
    assert_eq!(found.match_ids(), vec!["o1"]);
    // Writes still go through and are visible.
    let body = json!({"resourceType": "Organization", "id": "o2", "name": "Organisation deux"});
    assert_eq!(put_json(&app, "/fhir/Organization/o2", &body).await.status, 201);
    assert_eq!(get(&app, "/fhir/Organization?name=organisation").await.total(), 2);
    drop(dir);
}

#[actix_web::test]
async fn test_paging_cursor_of_an_older_generation_is_gone() {
    let app = TestApp::empty();
    for id in ["o1", "o2", "o3"] {
        let body = json!({"resourceType": "Organization", "id": id, "name": format!("Organisation {id}")});
        assert_eq!(put_json(&app, &format!("/fhir/Organization/{id}"), &body).await.status, 201);
    }
    let first = get(&app, "/fhir/Organization?_count=1").await;
    let next = |answer: &Response| {
        answer.body["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").unwrap()["url"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://test")
            .to_owned()
    };
    let next_page = next(&first);
    assert_eq!(get(&app, &next_page).await.status, 200);
    let started = post_reindex(&app).await;
    let task = wait_for_task(&app, &started.header("content-location").unwrap()).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    // Its keys belong to the old generation: following it would show other resources.
    let stale = get(&app, &next_page).await;
    assert_eq!(stale.status, 410, "{}", stale.text);
    assert_eq!(stale.body["resourceType"], "OperationOutcome");
    let again = get(&app, "/fhir/Organization?_count=1").await;
    assert_eq!(get(&app, &next(&again)).await.status, 200);
}
