//! Shared test harness: an `App` on a temporary directory, served through actix's test service,
//! and the demo corpus generated once per test process.

#![allow(dead_code)]

pub mod client;
pub mod oracle;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use ror_search::app::{store_path, App};
use ror_search::http::HttpState;
use serde_json::Value;

pub struct TestApp {
    pub app: Arc<App>,
    _dir: Option<tempfile::TempDir>,
}

/// The demo corpus, generated once per test process with the fixed seed.
pub fn demo_corpus_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // A static is never dropped, so the directory outlives the process: the corpora of test
        // processes that are gone are removed here instead (Linux: their /proc entry is gone).
        const PREFIX: &str = "ror-search-test-corpus-";
        if Path::new("/proc/self").exists() {
            for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(pid) = name.strip_prefix(PREFIX).and_then(|p| p.parse::<u32>().ok()) else {
                    continue;
                };
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
        let options = ror_search::generate::GenerateOptions {
            scale: "demo".parse().expect("demo scale"),
            seed: 42,
            out_dir: dir.clone(),
            progress: false,
        };
        ror_search::generate::generate(&options).expect("generate demo corpus");
        dir
    })
}

pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .collect();
    files.sort();
    files
}

impl TestApp {
    /// An empty service on a fresh directory.
    pub fn empty() -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = App::open(dir.path()).expect("open app");
        TestApp { app: Arc::new(app), _dir: Some(dir) }
    }

    /// A service with the given files loaded through `load` (the CLI path).
    pub fn with_files(files: &[PathBuf]) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let registry = ror_search::schema::Registry::embedded().expect("registry");
            let store = ror_search::store::RedbStore::open(&store_path(dir.path())).expect("store");
            ror_search::ingest::load::load_files(&registry, &store, files, &mut |_| {}).expect("load files");
        }
        let app = App::open(dir.path()).expect("open app");
        TestApp { app: Arc::new(app), _dir: Some(dir) }
    }

    /// A service on an existing directory (the caller keeps the directory alive). Retries while
    /// a previous service on the same directory is still shutting down its writer thread.
    pub fn reopen(dir: &Path) -> TestApp {
        let mut attempts = 0;
        loop {
            match App::open(dir) {
                Ok(app) => return TestApp { app: Arc::new(app), _dir: None },
                Err(error) if attempts < 50 => {
                    attempts += 1;
                    let _ = error;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(error) => panic!("reopen: {error}"),
            }
        }
    }
}

/// One shared read-only service over the demo corpus.
pub fn demo() -> &'static TestApp {
    static APP: OnceLock<TestApp> = OnceLock::new();
    APP.get_or_init(|| TestApp::with_files(&corpus_files(demo_corpus_dir())))
}

pub struct Response {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// Ids of the entries with `search.mode = mode` and the given type.
    pub fn ids(&self, mode: &str, resource_type: &str) -> Vec<String> {
        self.body["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["search"]["mode"] == mode && e["resource"]["resourceType"] == resource_type)
                    .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn match_ids(&self) -> Vec<String> {
        self.body["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["search"]["mode"] == "match")
                    .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn total(&self) -> u64 {
        self.body["total"].as_u64().expect("Bundle.total")
    }

    pub fn entries(&self) -> Vec<Value> {
        self.body["entry"].as_array().cloned().unwrap_or_default()
    }

    /// The OperationOutcome expression of an error answer.
    pub fn expression(&self) -> String {
        self.body["issue"][0]["expression"][0].as_str().unwrap_or_default().to_owned()
    }
}

pub async fn call(app: &TestApp, request: TestRequest) -> Response {
    let state = Data::new(HttpState {
        max_body_bytes: 1 << 24,
        ..HttpState::new(app.app.clone(), Some("http://test/fhir".into()))
    });
    let service =
        test::init_service(ror_search::http::application(state, Data::new(Default::default()))).await;
    let response: ServiceResponse = service.call(request.to_request()).await.expect("service call");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    // Streamed bodies too (export files, CSV extracts).
    let bytes = actix_web::body::to_bytes(response.into_body()).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Response { status, headers, body, text }
}

pub async fn get(app: &TestApp, uri: &str) -> Response {
    call(app, TestRequest::get().uri(uri)).await
}

/// Request written as in SPEC.md (`[BASE]/HealthcareService?…`), sent with the raw query string.
pub async fn spec_get(app: &TestApp, request: &str) -> Response {
    get(app, &encode_spec_request(request)).await
}

/// Percent-encode what a URI may not carry raw (spaces, quotes, pipes…), as an HTTP client
/// does, keeping the request otherwise exactly as written.
pub fn encode_spec_request(request: &str) -> String {
    let request = request.trim_start_matches("GET ").trim().replace("[BASE]", "/fhir");
    let mut out = String::with_capacity(request.len() * 2);
    for ch in request.chars() {
        match ch {
            ' ' => out.push_str("%20"),
            '"' => out.push_str("%22"),
            '|' => out.push_str("%7C"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            '\\' => out.push_str("%5C"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut buffer = [0u8; 4];
                for byte in c.encode_utf8(&mut buffer).bytes() {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
        }
    }
    out
}

pub async fn put_json(app: &TestApp, uri: &str, body: &Value) -> Response {
    call(
        app,
        TestRequest::put()
            .uri(uri)
            .insert_header(("content-type", "application/fhir+json"))
            .set_payload(body.to_string()),
    )
    .await
}

pub async fn post_json(app: &TestApp, uri: &str, body: &Value) -> Response {
    call(
        app,
        TestRequest::post()
            .uri(uri)
            .insert_header(("content-type", "application/fhir+json"))
            .set_payload(body.to_string()),
    )
    .await
}

pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ror").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture file")).expect("fixture JSON")
}
