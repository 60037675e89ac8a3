//! The web console: its assets are served from the binary with the right types, and, in a real
//! headless Chromium, it shows what the API answers (tests/browser/console.test.mjs).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::test::TestRequest;

use crate::common::client::{free_port, wait_ready};
use crate::common::{call, get, TestApp};

const ASSETS: &[(&str, &str)] = &[
    ("/console/", "text/html"),
    ("/console/app.js", "text/javascript"),
    ("/console/i18n.js", "text/javascript"),
    ("/console/fhir.js", "text/javascript"),
    ("/console/map.js", "text/javascript"),
    ("/console/search.js", "text/javascript"),
    ("/console/detail.js", "text/javascript"),
    ("/console/admin.js", "text/javascript"),
    ("/console/dom.js", "text/javascript"),
    ("/console/console.css", "text/css"),
    ("/console/favicon.svg", "image/svg+xml"),
    ("/console/config.json", "application/json"),
    ("/console/data/codes.json", "application/json"),
    ("/console/data/departments.json", "application/json"),
    ("/console/data/france-dots.json", "application/json"),
    ("/console/data/communes.json?q=nantes", "application/json"),
];

#[actix_web::test]
async fn test_console_assets_are_served_with_their_types() {
    let app = TestApp::empty();

    // The page lives under /console/ so that its relative asset URLs resolve.
    let redirect = get(&app, "/console").await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location").as_deref(), Some("console/"));

    for (path, content_type) in ASSETS {
        let response = get(&app, path).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text);
        let served = response.header("content-type").unwrap_or_default();
        assert!(served.starts_with(content_type), "{path}: {served}");
        assert_eq!(response.header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert!(!response.text.is_empty(), "{path}");
    }

    let page = get(&app, "/console/").await;
    let csp = page.header("content-security-policy").expect("CSP on the page");
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    assert!(page.text.contains(r#"<script type="module" src="app.js">"#), "{}", page.text);
    assert!(page.text.contains(r#"<html lang="fr">"#));

    // Every module the scripts import is served (no build step: what is listed is what runs).
    for script in ["app.js", "search.js", "detail.js", "admin.js", "map.js", "fhir.js", "i18n.js", "dom.js"] {
        let source = get(&app, &format!("/console/{script}")).await.text;
        for import in
            source.lines().filter_map(|l| l.split("from './").nth(1)).filter_map(|r| r.split('\'').next())
        {
            let imported = get(&app, &format!("/console/{import}")).await;
            assert_eq!(imported.status, 200, "{script} imports {import}");
        }
        // No CDN at run time.
        assert!(!source.contains("https://cdn") && !source.contains("unpkg.com"), "{script}");
    }

    // Configuration: no tile server unless configured.
    let config = get(&app, "/console/config.json").await;
    assert!(config.body["tileUrl"].is_null(), "{}", config.text);
    assert_eq!(config.body["fhirBase"], "../fhir");

    // Code lists from fixtures/ror-codes with the systems searches use.
    let codes = get(&app, "/console/data/codes.json").await;
    let activity = &codes.body["lists"]["activity"];
    assert_eq!(
        activity["system"],
        "https://mos.esante.gouv.fr/NOS/TRE_R211-ActiviteOperationnelle/FHIR/TRE-R211-ActiviteOperationnelle"
    );
    assert!(activity["codes"].as_array().unwrap().iter().any(|c| c[0] == "013"));
    assert!(codes.body["lists"]["offerType"]["codes"].as_array().unwrap().len() > 200);
    assert_eq!(codes.body["lists"]["priceType"]["codes"].as_array().unwrap().len(), 7);

    // Communes: by code, by name without accents, by postal code.
    let by_code = get(&app, "/console/data/communes.json?q=44109").await;
    assert_eq!(by_code.body["communes"][0]["cog"], "44109");
    assert_eq!(by_code.body["communes"][0]["name"], "Nantes");
    let by_name = get(&app, "/console/data/communes.json?q=saint%20etienne&limit=3").await;
    assert_eq!(by_name.body["communes"][0]["cog"], "42218", "{}", by_name.text);
    let by_postal = get(&app, "/console/data/communes.json?q=35000").await;
    assert!(by_postal.body["communes"].as_array().unwrap().iter().any(|c| c["cog"] == "35238"));
    let empty = get(&app, "/console/data/communes.json?q=").await;
    assert_eq!(empty.body["communes"].as_array().map(Vec::len), Some(0));

    // Departments carry the postal prefix the department filter sends.
    let departments = get(&app, "/console/data/departments.json").await;
    let corse =
        departments.body["departments"].as_array().unwrap().iter().find(|d| d["code"] == "2A").cloned();
    assert_eq!(corse.map(|d| d["postalPrefix"].clone()), Some(serde_json::json!("20")));

    // The dot cloud covers metropolitan France and the overseas departments.
    let dots = get(&app, "/console/data/france-dots.json").await;
    let cells = dots.body["cells"].as_array().unwrap();
    assert!(cells.len() > 3 * 5000, "{} values", cells.len());
    let scale = dots.body["scale"].as_f64().unwrap();
    let latitudes: Vec<f64> = cells.iter().step_by(3).filter_map(|v| v.as_f64()).map(|v| v / scale).collect();
    assert!(latitudes.iter().any(|lat| (50.0..51.2).contains(lat)), "Nord");
    assert!(latitudes.iter().any(|lat| (-21.5..-20.8).contains(lat)), "La Réunion");

    // An unknown asset is a FHIR-style 404.
    let missing = get(&app, "/console/nope.js").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["resourceType"], "OperationOutcome");

    // Compressed when the client accepts it.
    let gzipped =
        call(&app, TestRequest::get().uri("/console/app.js").insert_header(("accept-encoding", "gzip")))
            .await;
    assert_eq!(gzipped.header("content-encoding").as_deref(), Some("gzip"));
    let plain = get(&app, "/console/app.js").await;
    assert!(plain.header("content-encoding").is_none());
}

#[actix_web::test]
async fn test_console_tile_url_reaches_the_page_and_its_csp() {
    use actix_web::dev::Service;
    let app = TestApp::empty();
    let state = actix_web::web::Data::new(ror_search::http::HttpState::new(app.app.clone(), None));
    let settings = actix_web::web::Data::new(ror_search::http::ConsoleSettings {
        tile_url: Some("https://{s}.tiles.example.org/{z}/{x}/{y}.png".into()),
    });
    let service = actix_web::test::init_service(
        actix_web::App::new().app_data(state).app_data(settings).configure(ror_search::http::configure),
    )
    .await;
    let config = actix_web::test::call_and_read_body_json::<_, _, serde_json::Value>(
        &service,
        TestRequest::get().uri("/console/config.json").to_request(),
    )
    .await;
    assert_eq!(config["tileUrl"], "https://{s}.tiles.example.org/{z}/{x}/{y}.png");
    let page = service.call(TestRequest::get().uri("/console/").to_request()).await.expect("page");
    let csp = page.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("img-src 'self' data: https://*.tiles.example.org;"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
}

/// Kills the server by its PID when the test ends, even on a failed assertion.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn browser_prerequisites(root: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("/usr/bin/chromium".to_owned());
    }
    if !root.join("tests/browser/node_modules/playwright-core").exists() {
        missing.push("tests/browser/node_modules (npm ci in tests/browser)".to_owned());
    }
    if Command::new("node").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        missing.push("node".to_owned());
    }
    missing
}

#[test]
fn test_console_in_headless_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let missing = browser_prerequisites(&root);
    if !missing.is_empty() {
        let required = std::env::var("ROR_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "ROR_REQUIRE_BROWSER=1 but missing: {} (run .ci/install-browser.sh)",
            missing.join(", ")
        );
        println!(
            "NOTICE: console browser test skipped, missing {} (run .ci/install-browser.sh)",
            missing.join(", ")
        );
        return;
    }
    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact directory");
    let data = tempfile::tempdir().expect("temp data dir");
    let address = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(artifacts.join("server.log")).expect("server log");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_ror-search"))
            .args(["--data-dir", &data.path().display().to_string(), "serve", "--demo", "--listen", &address])
            .args(["--workers", "2"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start ror-search serve --demo"),
    );
    // First start generates and loads the demo corpus.
    assert!(
        wait_ready(&address, Duration::from_secs(600)),
        "the demo server did not start (see {})",
        artifacts.join("server.log").display()
    );

    // Output goes to a file: a pipe left unread could fill up and stall the browser test.
    let node_log = artifacts.join("browser-test.log");
    let log_file = std::fs::File::create(&node_log).expect("browser test log");
    let mut node = Command::new("node")
        .arg("tests/browser/console.test.mjs")
        .current_dir(&root)
        .env("ROR_CONSOLE_BASE_URL", format!("http://{address}"))
        .env("ROR_BROWSER_ARTIFACTS", &artifacts)
        .stdout(log_file.try_clone().expect("log handle"))
        .stderr(log_file)
        .spawn()
        .expect("run node");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = node.try_wait().expect("wait for node") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(900) {
            let _ = node.kill();
            break node.wait().expect("node killed");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&node_log).unwrap_or_default();
    println!("{output}");
    drop(server);
    assert!(status.success(), "browser test failed ({status}):\n{output}");
}
