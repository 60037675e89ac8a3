//! Durability through the real binary: acknowledged writes survive `kill -9` and a restart.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::client::{free_port, request, wait_ready};

fn start(data_dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ror-search"))
        .args([
            "--data-dir",
            &data_dir.display().to_string(),
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ror-search")
}

fn location(id: &str, n: u64) -> String {
    json!({
        "resourceType": "Location", "id": id,
        "name": format!("Lieu {n}"),
        "address": {"postalCode": "44000", "city": "Nantes"},
        "position": {"latitude": 47.2 + (n as f64) * 1e-5, "longitude": -1.55},
        "extension": [{"url": "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-commune-cog",
            "valueCodeableConcept": {"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM", "code": "44109"}]}}]
    })
    .to_string()
}

#[test]
fn test_kill_9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let all_acknowledged: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    // `benches/crash_recovery.sh N` runs many more cycles through ROR_CRASH_CYCLES.
    let cycles: u64 = std::env::var("ROR_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut lost_total = 0usize;
    for cycle in 0..cycles {
        let mut server = start(dir.path(), port);
        assert!(wait_ready(&address, Duration::from_secs(60)), "server did not start");
        // Everything acknowledged so far is there and searchable after the restart.
        let found =
            request(&address, "GET", "/fhir/Location?address-postalcode=44000&_summary=count", None).unwrap();
        let total = serde_json::from_str::<Value>(&found.body).unwrap()["total"].as_u64().unwrap();
        // A write committed but cut off before its answer may be there too: never fewer.
        let acknowledged_so_far = all_acknowledged.lock().unwrap().len() as u64;
        assert!(
            total >= acknowledged_so_far,
            "cycle {cycle}: {total} found, {acknowledged_so_far} acknowledged"
        );
        // A write storm from 4 clients, killed with SIGKILL while writes are in flight.
        let acknowledged = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ids = all_acknowledged.clone();
        let mut clients = Vec::new();
        for client in 0..4u64 {
            let (address, acknowledged, stop, ids) =
                (address.clone(), acknowledged.clone(), stop.clone(), ids.clone());
            clients.push(std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("c{cycle}-w{client}-{n}");
                    match request(&address, "PUT", &format!("/fhir/Location/{id}"), Some(&location(&id, n))) {
                        Ok(answer) if answer.status == 201 => {
                            acknowledged.fetch_add(1, Ordering::SeqCst);
                            ids.lock().unwrap().push(id);
                        }
                        _ => {}
                    }
                    n += 1;
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(600));
        server.kill().expect("kill -9");
        server.wait().ok();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
        assert!(acknowledged.load(Ordering::SeqCst) > 0, "no write was acknowledged in cycle {cycle}");
        // Each acknowledged id must be readable after restart.
        let mut server = start(dir.path(), port);
        assert!(wait_ready(&address, Duration::from_secs(60)));
        let mut lost = Vec::new();
        for id in ids.lock().unwrap().iter() {
            let read = request(&address, "GET", &format!("/fhir/Location/{id}"), None).unwrap();
            if read.status != 200 {
                lost.push(id.clone());
            }
        }
        lost_total += lost.len();
        assert!(lost.is_empty(), "cycle {cycle}: acknowledged writes lost: {lost:?}");
        server.kill().ok();
        server.wait().ok();
    }
    println!(
        "crash recovery: {cycles} cycles of write storm + kill -9 + restart, {} acknowledged writes, {lost_total} lost",
        all_acknowledged.lock().unwrap().len()
    );
}
