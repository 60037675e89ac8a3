//! The command line: generate → load → reindex → serve answers the same as before a rebuild.

use std::process::Command;

fn ror_search(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ror-search"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ror-search")
}

#[test]
fn test_generate_load_reindex() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let data = dir.path().join("data");
    let generated =
        ror_search(&["generate", "--scale", "demo", "--seed", "7", "--out", &corpus.display().to_string()]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let stdout = String::from_utf8_lossy(&generated.stdout);
    assert!(stdout.contains("HealthcareService:"), "{stdout}");
    let mut files: Vec<String> =
        std::fs::read_dir(&corpus).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
    files.sort();
    let mut args = vec!["--data-dir", data.to_str().unwrap(), "load"];
    args.extend(files.iter().map(String::as_str));
    let loaded = ror_search(&args);
    assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));
    assert!(String::from_utf8_lossy(&loaded.stdout).starts_with("loaded "));
    let reindexed = ror_search(&["--data-dir", data.to_str().unwrap(), "reindex"]);
    assert!(reindexed.status.success(), "{}", String::from_utf8_lossy(&reindexed.stderr));
    let report = String::from_utf8_lossy(&reindexed.stdout);
    assert!(report.contains("HealthcareService: store"), "{report}");

    // A bad file is refused with its line and element.
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"resourceType\":\"Location\",\"id\":\"x1\"}\n{\"resourceType\":\"Location\",\"id\":\"x2\",\"meta\":{\"lastUpdated\":\"soon\"}}\n").unwrap();
    let refused = ror_search(&["--data-dir", data.to_str().unwrap(), "load", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("line 2"), "{message}");
}

#[actix_web::test]
async fn test_rebuilt_state_gives_the_same_answers() {
    use crate::common::{corpus_files, demo_corpus_dir, spec_get, TestApp};
    let dir = tempfile::tempdir().unwrap();
    {
        let registry = ror_search::schema::Registry::embedded().unwrap();
        let store = ror_search::store::RedbStore::open(&ror_search::app::store_path(dir.path())).unwrap();
        ror_search::ingest::load::load_files(
            &registry,
            &store,
            &corpus_files(demo_corpus_dir()),
            &mut |_| {},
        )
        .unwrap();
    }
    let requests = [
        "[BASE]/HealthcareService?_content=cardio&_count=50",
        "[BASE]/Location?address-postalcode=44&_sort=-_lastUpdated&_count=50",
        "[BASE]/HealthcareService?location.near-insee-code=44162|30|km&_count=50",
        "[BASE]/HealthcareService?organization.type:above=https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement|355&_count=50",
    ];
    let mut first_answers = Vec::new();
    {
        let app = TestApp::reopen(dir.path());
        for request in requests {
            let response = spec_get(&app, request).await;
            assert!(response.total() > 0, "{request}");
            first_answers.push((response.total(), response.match_ids()));
        }
    }
    let rebuilt = TestApp::reopen(dir.path());
    for (request, expected) in requests.iter().zip(first_answers) {
        let response = spec_get(&rebuilt, request).await;
        assert_eq!((response.total(), response.match_ids()), expected, "{request}");
    }
}
