//! Inputs that once crashed a fuzz target (`tests/fuzz/regressions/<target>/`), replayed through
//! the very entry points the fuzz targets call (`tests/fuzz/entry.rs`): no panic, and malformed
//! input is answered with a client error, never a 5xx. The seed corpora go through too, so the
//! entry points themselves cannot rot unnoticed.

use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../fuzz/entry.rs"]
mod entry;

fn files(directory: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// Each input runs on a thread with the stack of an actix worker (2 MiB), where the service runs
/// it: deep nesting that only fits in the 8 MiB main thread of a fuzz run still fails here.
fn replay(target: &'static str, path: &Path) -> std::thread::Result<Result<(), ror_search::Error>> {
    let data = std::fs::read(path).unwrap();
    std::thread::Builder::new().stack_size(2 << 20).spawn(move || entry::run(target, &data)).unwrap().join()
}

#[test]
fn test_fuzz_regressions_do_not_panic_and_fail_cleanly() {
    let mut replayed = 0;
    for target in entry::TARGETS {
        for path in files(&fuzz_dir().join("regressions").join(target)) {
            let result = replay(target, &path);
            let Ok(result) = result else {
                panic!("{target} regression {} panics again", path.display());
            };
            // Every kept input is malformed: the library must refuse it with a 4xx.
            match result {
                Ok(()) => {
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                    assert!(name.starts_with("ok-"), "{target} regression {} was accepted", path.display());
                }
                Err(error) => assert!(error.http_status() < 500, "{}: {error}", path.display()),
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression input under {}", fuzz_dir().join("regressions").display());
}

#[test]
fn test_fuzz_seeds_run_through_the_entry_points() {
    for target in entry::TARGETS {
        let seeds = files(&fuzz_dir().join("corpus-seeds").join(target));
        assert!(!seeds.is_empty(), "no seed for {target}");
        for path in seeds {
            let Ok(result) = replay(target, &path) else {
                panic!("{target} seed {} panics", path.display());
            };
            if let Err(error) = result {
                assert!(error.http_status() < 500, "{}: {error}", path.display());
            }
        }
    }
}

/// The patch regressions again, through the HTTP interface on a test thread (2 MiB of stack, like
/// an actix worker): each is refused with a 4xx OperationOutcome, and the stored resource stays
/// readable and patchable (a version nested deeper than serde_json reads back would not).
#[actix_web::test]
async fn test_patch_regressions_over_http_leave_the_resource_usable() {
    use actix_web::test::TestRequest;

    use crate::common::{call, fixture, get, put_json, TestApp};

    let app = TestApp::empty();
    let mut location = fixture("Location-ror-location-exemple.json");
    location["id"] = serde_json::json!("fuzz-regression");
    let created = put_json(&app, "/fhir/Location/fuzz-regression", &location).await;
    assert!(created.status < 300, "{}", created.text);
    let patch = |body: Vec<u8>, json_patch: bool| {
        let content_type = if json_patch { "application/json-patch+json" } else { "application/fhir+json" };
        TestRequest::patch()
            .uri("/fhir/Location/fuzz-regression")
            .insert_header(("content-type", content_type))
            .set_payload(body)
    };
    for path in files(&fuzz_dir().join("regressions").join("patch")) {
        let body = std::fs::read(&path).unwrap();
        let json_patch = body.first() == Some(&b'[');
        let answer = call(&app, patch(body, json_patch)).await;
        assert!(
            (400..500).contains(&answer.status),
            "{} -> {} {}",
            path.display(),
            answer.status,
            answer.text
        );
        assert_eq!(answer.body["resourceType"], "OperationOutcome", "{}", path.display());
    }
    let read = get(&app, "/fhir/Location/fuzz-regression").await;
    assert_eq!(read.status, 200, "{}", read.text);
    let rename = br#"[{"op": "add", "path": "/name", "value": "after the regressions"}]"#.to_vec();
    let renamed = call(&app, patch(rename, true)).await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["name"], "after the regressions");
}
