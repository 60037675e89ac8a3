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

/// `load` across many worker batches, a pretty-printed Bundle file and a Bundle on one NDJSON
/// line; a second load of the same file makes second versions; a bad line far into a file is
/// reported with its own number.
#[test]
fn test_load_keeps_file_order_line_numbers_and_versions() {
    use ror_search::store::{RedbStore, ResourceStore};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let location = |id: usize| {
        format!(
            "{{\"resourceType\":\"Location\",\"id\":\"loc-{id}\",\"name\":\"Unité {id}\",\
             \"meta\":{{\"lastUpdated\":\"2021-03-04T05:06:07Z\"}}}}"
        )
    };
    // 1,300 lines: three batches of the loader's workers, blank lines in between.
    let mut lines: Vec<String> = (0..1_300).map(location).collect();
    lines.insert(700, String::new());
    lines.push(format!(
        "{{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{{\"resource\":{}}},{{\"resource\":{}}}]}}",
        location(5_000),
        location(5_001)
    ));
    let ndjson = dir.path().join("locations.ndjson");
    std::fs::write(&ndjson, lines.join("\n") + "\n").unwrap();
    let bundle = dir.path().join("bundle.json");
    let document = serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Organization", "id": "org-1", "name": "Centre hospitalier"}},
        {"resource": {"resourceType": "Location", "id": "loc-0", "name": "Unité zéro",
                      "meta": {"lastUpdated": "2022-01-01T00:00:00Z"}}}
    ]});
    std::fs::write(&bundle, serde_json::to_string_pretty(&document).unwrap()).unwrap();
    let data_dir = data.to_str().unwrap();
    let loaded =
        ror_search(&["--data-dir", data_dir, "load", ndjson.to_str().unwrap(), bundle.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("loaded 1304 resources from 2 files"));
    {
        let store = RedbStore::open(&ror_search::app::store_path(&data)).unwrap();
        let read = |id: &str| {
            let stored = store.current("Location", id).unwrap().unwrap_or_else(|| panic!("{id} is stored"));
            (stored.version, serde_json::from_slice::<serde_json::Value>(&stored.json).unwrap())
        };
        let (version, last) = read("loc-1299");
        assert_eq!((version, last["name"].as_str()), (1, Some("Unité 1299")));
        assert_eq!(last["meta"]["lastUpdated"], "2021-03-04T05:06:07Z");
        assert_eq!(last["meta"]["versionId"], "1");
        assert_eq!(read("loc-5001").0, 1);
        // The Bundle file came after the NDJSON file: its loc-0 is the second version.
        let (version, zero) = read("loc-0");
        assert_eq!((version, zero["name"].as_str()), (2, Some("Unité zéro")));
        assert_eq!(zero["meta"]["versionId"], "2");
        assert_eq!(zero["meta"]["lastUpdated"], "2022-01-01T00:00:00Z");
        assert!(store.current("Organization", "org-1").unwrap().is_some());
        store.close();
    }
    let again = ror_search(&["--data-dir", data_dir, "load", ndjson.to_str().unwrap()]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    {
        let store = RedbStore::open(&ror_search::app::store_path(&data)).unwrap();
        let stored = store.current("Location", "loc-1299").unwrap().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&stored.json).unwrap();
        assert_eq!((stored.version, json["meta"]["versionId"].as_str()), (2, Some("2")));
        assert_eq!(json["meta"]["lastUpdated"], "2021-03-04T05:06:07Z");
        assert_eq!(store.current("Location", "loc-0").unwrap().unwrap().version, 3);
        store.close();
    }
    // Line 1,203 of a file (the third batch) is not JSON.
    let mut bad: Vec<String> = (0..1_300).map(|i| location(10_000 + i)).collect();
    bad[1_202] = "{\"resourceType\":\"Location\",".into();
    let bad_file = dir.path().join("bad.ndjson");
    std::fs::write(&bad_file, bad.join("\n")).unwrap();
    let refused = ror_search(&["--data-dir", data_dir, "load", bad_file.to_str().unwrap()]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("line 1203: not JSON"), "{message}");
}
