//! Write load: bed managers PATCH capacities while emergency directories search.
//!
//! What is measured, against a running `ror-search serve` on loopback (`--addr`):
//! * search latency alone (readers only), then under a sustained capacity PATCH storm;
//! * the PATCH rate the service sustains (each PATCH replaces the `nbCapacity` of a location's
//!   first capacity record, FHIRPath Patch, one group-committed fsync per batch of writes);
//! * write-to-visible latency: from sending a PATCH to a search that finds the new value
//!   (a search sent by another connection right after the acknowledgement).
//!
//! Corpus: whatever the server holds (the generated corpus; locations with capacity records).
//! Bounded: `--seconds` per phase (default 10), stops by itself; loopback addresses only.
//! Run: `cargo bench --bench write_load -- --addr 127.0.0.1:8080 --writers 32 --readers 4`.
//! `--search-rate R` and `--patch-rate P` (requests/s in all) turn the readers and the writers
//! into open loops: searches at a steady rate, as an emergency directory sends them, rather than
//! as fast as the two cores answer (where any write necessarily slows every search down).
//! `--probe-every N` sends the write-to-visible search after one PATCH in N (default 1: after
//! each), so that the storm is made of PATCHes rather than of as many extra searches.
//! `--writer-nice N` lowers the load generator's own writer threads (Linux nice value): client and
//! server share the cores here, and 32 writer threads at the readers' priority delay the readers'
//! measuring threads as much as the server does.
//! `--reader-realtime` runs the readers' threads under `SCHED_FIFO` (needs the privilege, as the
//! server's `limits.search_priority = "realtime"`): the searches' clients are other machines in
//! production, and here the generator's own writer threads would otherwise delay the measuring
//! threads, not the server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CAPACITY: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity";

struct Client {
    address: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(address: &str) -> Client {
        Client { address: address.to_owned(), stream: None }
    }

    /// One request on a keep-alive connection (reconnecting once if the server closed it).
    fn send(
        &mut self,
        method: &str,
        target: &str,
        body: &str,
        content_type: &str,
    ) -> std::io::Result<(u16, Vec<u8>)> {
        for attempt in 0..2 {
            if self.stream.is_none() {
                let stream = TcpStream::connect(&self.address)?;
                stream.set_nodelay(true)?;
                stream.set_read_timeout(Some(Duration::from_secs(30)))?;
                self.stream = Some(BufReader::new(stream));
            }
            let Some(reader) = self.stream.as_mut() else { continue };
            let request = format!(
                "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                self.address,
                body.len()
            );
            let sent = reader.get_mut().write_all(request.as_bytes());
            match sent.and_then(|_| read_response(reader)) {
                Ok(answer) => return Ok(answer),
                Err(error) if attempt == 0 => {
                    let _ = error;
                    self.stream = None;
                }
                Err(error) => return Err(error),
            }
        }
        Err(std::io::Error::other("no connection"))
    }
}

fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::other("connection closed"));
    }
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (mut length, mut chunked) = (0usize, false);
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if header.starts_with("transfer-encoding:") && header.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok((status, body))
}

fn percentile_ms(samples: &mut [u64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[index.min(samples.len() - 1)] as f64 / 1000.0
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn total_of(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"total\":")? + 8;
    text[start..].split([',', '}']).next()?.trim().parse().ok()
}

fn patch_body(count: u64) -> String {
    format!(
        r#"{{"resourceType":"Parameters","parameter":[{{"name":"operation","part":[{{"name":"type","valueString":"replace"}},{{"name":"path","valueString":"Location.extension.where(url='{CAPACITY}')[0].extension.where(url='nbCapacity').valueInteger"}},{{"name":"value","valueInteger":{count}}}]}}]}}"#
    )
}

/// Threads are named (`wl-reader-N`, `wl-writer-N`) so that their scheduling can be told apart
/// from outside (`ps -L`, `chrt`).
fn spawn_named<T: Send + 'static>(
    builder: std::thread::Builder,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    builder.spawn(work).expect("spawn a load thread")
}

const SEARCHES: &[&str] = &[
    "/fhir/HealthcareService?location.capacity-status=02&location.nb-capacity=gt0&specialty=356&_count=20",
    "/fhir/Location?address-postalcode=44&capacity-type=01&_count=20",
    "/fhir/HealthcareService?specialty=013&location.near=47.2184%7C-1.5536%7C20%7Ckm&_count=20",
    "/fhir/Location?_tag=52&_count=20",
];

/// Open-loop schedule of one connection: request `n` is due at `start + n / rate`. Latency is
/// measured from the due time, so a slow answer also counts for the requests it held back.
/// A rate of 0 is a closed loop (each request as soon as the previous one is answered).
struct Pacer {
    start: Instant,
    interval: Option<Duration>,
    sent: u32,
}

impl Pacer {
    fn new(rate_per_second: f64) -> Pacer {
        let interval = (rate_per_second > 0.0).then(|| Duration::from_secs_f64(1.0 / rate_per_second));
        Pacer { start: Instant::now(), interval, sent: 0 }
    }

    /// Wait until the next request is due; returns the instant its latency counts from.
    fn next(&mut self) -> Instant {
        let Some(interval) = self.interval else { return Instant::now() };
        let due = self.start + interval * self.sent;
        self.sent += 1;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        due
    }
}

/// Readers loop over the search mix until `stop` (`rate` searches/s in all, 0: closed loop);
/// returns latencies in µs.
fn readers(
    address: &str,
    count: usize,
    rate: f64,
    realtime: bool,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<u64>>> {
    (0..count)
        .map(|reader| {
            let (address, stop) = (address.to_owned(), stop.clone());
            let named = std::thread::Builder::new().name(format!("wl-reader-{reader}"));
            spawn_named(named, move || {
                if realtime {
                    ror_search::search::pool::take_realtime_priority()
                        .expect("--reader-realtime: SCHED_FIFO");
                }
                let mut client = Client::new(&address);
                let mut samples = Vec::new();
                let mut n = reader;
                let mut pacer = Pacer::new(rate / count as f64);
                while !stop.load(Ordering::Relaxed) {
                    let started = pacer.next();
                    if client
                        .send("GET", SEARCHES[n % SEARCHES.len()], "", "text/plain")
                        .is_ok_and(|(s, _)| s == 200)
                    {
                        samples.push(started.elapsed().as_micros() as u64);
                    }
                    n += 1;
                }
                samples
            })
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; without --addr there is no server to measure.
    let Some(address) = arg(&args, "--addr") else {
        println!("write_load: pass --addr 127.0.0.1:PORT of a running ror-search (see the header of benches/write_load.rs)");
        return;
    };
    if !address.starts_with("127.") && !address.starts_with("localhost") {
        eprintln!("write_load: loopback addresses only");
        std::process::exit(2);
    }
    let seconds: u64 = arg(&args, "--seconds").and_then(|v| v.parse().ok()).unwrap_or(10);
    let writers: usize = arg(&args, "--writers").and_then(|v| v.parse().ok()).unwrap_or(32);
    let reader_count: usize = arg(&args, "--readers").and_then(|v| v.parse().ok()).unwrap_or(4);
    // Open-loop rates (requests/s in all); 0: closed loops, as fast as answers come.
    let search_rate: f64 = arg(&args, "--search-rate").and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let patch_rate: f64 = arg(&args, "--patch-rate").and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let probe_every: u64 = arg(&args, "--probe-every").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let reader_realtime = args.iter().any(|a| a == "--reader-realtime");
    if reader_realtime {
        let allowed = std::thread::spawn(ror_search::search::pool::take_realtime_priority).join();
        if let Ok(Err(error)) | Err(error) = allowed.map_err(|_| std::io::Error::other("thread")) {
            eprintln!("write_load: --reader-realtime: {error}");
            std::process::exit(2);
        }
    }
    let writer_nice: i32 = arg(&args, "--writer-nice").and_then(|v| v.parse().ok()).unwrap_or(0).clamp(0, 19);

    // Locations with a capacity record: the targets of the storm.
    let mut client = Client::new(&address);
    let (_, body) = client
        .send("GET", "/fhir/Location?capacity-type:missing=false&_count=1000&_elements=id", "", "text/plain")
        .expect("list locations");
    let text = String::from_utf8_lossy(&body);
    let ids: Vec<String> = text
        .split("\"resourceType\":\"Location\",\"id\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect();
    assert!(!ids.is_empty(), "no location with capacity records");
    let ids = Arc::new(ids);

    // Phase 1: searches alone.
    let stop = Arc::new(AtomicBool::new(false));
    let handles = readers(&address, reader_count, search_rate, reader_realtime, stop.clone());
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut alone: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect();

    // Phase 2: the same searches during a PATCH storm.
    let stop = Arc::new(AtomicBool::new(false));
    let handles = readers(&address, reader_count, search_rate, reader_realtime, stop.clone());
    let patch_latency = Arc::new(Mutex::new(Vec::new()));
    let visible_latency = Arc::new(Mutex::new(Vec::new()));
    let not_visible = Arc::new(Mutex::new(0u64));
    let failures = Arc::new(Mutex::new(0u64));
    let started = Instant::now();
    let storm: Vec<_> = (0..writers)
        .map(|writer| {
            let (address, stop, ids) = (address.clone(), stop.clone(), ids.clone());
            let (patch_latency, visible_latency, not_visible, failures) =
                (patch_latency.clone(), visible_latency.clone(), not_visible.clone(), failures.clone());
            let named = std::thread::Builder::new().name(format!("wl-writer-{writer}"));
            spawn_named(named, move || {
                if writer_nice > 0 {
                    // Per thread on Linux: the thread id names this thread alone.
                    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), writer_nice);
                }
                let mut writer_client = Client::new(&address);
                let mut checker = Client::new(&address);
                let mut n = writer as u64;
                // Each writer owns the locations of its residue class: two writers patching the
                // same location at once would make the probe below see the other one's value.
                let owned: Vec<&String> = ids.iter().skip(writer).step_by(writers).collect();
                let mut pacer = Pacer::new(patch_rate / writers as f64);
                while !stop.load(Ordering::Relaxed) && !owned.is_empty() {
                    let id = owned[(n as usize / writers * 7919) % owned.len()];
                    let count = 1_000 + (n % 100_000);
                    let sent = pacer.next();
                    match writer_client.send(
                        "PATCH",
                        &format!("/fhir/Location/{id}"),
                        &patch_body(count),
                        "application/fhir+json",
                    ) {
                        Ok((200, _)) => {
                            let acknowledged = sent.elapsed().as_micros() as u64;
                            patch_latency.lock().map(|mut v| v.push(acknowledged)).ok();
                            if (n / writers as u64) % probe_every != 0 {
                                n += writers as u64;
                                continue;
                            }
                            // Another connection searches for the new value at once.
                            let probe = format!("/fhir/Location?_id={id}&nb-capacity={count}&_summary=count");
                            let seen = checker
                                .send("GET", &probe, "", "text/plain")
                                .ok()
                                .and_then(|(_, b)| total_of(&b));
                            if seen == Some(1) {
                                visible_latency
                                    .lock()
                                    .map(|mut v| v.push(sent.elapsed().as_micros() as u64))
                                    .ok();
                            } else {
                                not_visible.lock().map(|mut v| *v += 1).ok();
                            }
                        }
                        _ => {
                            failures.lock().map(|mut v| *v += 1).ok();
                        }
                    }
                    n += writers as u64;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for handle in storm {
        let _ = handle.join();
    }
    let mut during: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect();
    let mut patches = patch_latency.lock().map(|v| v.clone()).unwrap_or_default();
    let mut visible = visible_latency.lock().map(|v| v.clone()).unwrap_or_default();
    let patch_count = patches.len();
    let (search_alone_p99, search_during_p99) =
        (percentile_ms(&mut alone, 0.99), percentile_ms(&mut during, 0.99));
    let loop_kind =
        |rate: f64| if rate > 0.0 { format!("open loop at {rate} req/s") } else { "closed loop".to_owned() };
    println!(
        "write_load against {address}: {writers} writers ({}, nice {writer_nice}, a visibility probe after one PATCH in {probe_every}), {reader_count} readers ({}{}), {seconds} s per phase, {} locations",
        loop_kind(patch_rate),
        loop_kind(search_rate),
        if reader_realtime { ", SCHED_FIFO" } else { "" },
        ids.len()
    );
    println!(
        "searches alone           : {} requests, median {:.2} ms, p99 {:.2} ms",
        alone.len(),
        percentile_ms(&mut alone, 0.5),
        search_alone_p99
    );
    println!(
        "searches during the storm: {} requests, median {:.2} ms, p99 {:.2} ms (p99 change {:+.0}%)",
        during.len(),
        percentile_ms(&mut during, 0.5),
        search_during_p99,
        (search_during_p99 / search_alone_p99 - 1.0) * 100.0
    );
    println!("capacity PATCH           : {patch_count} acknowledged in {elapsed:.1} s = {:.0} PATCH/s, median {:.2} ms, p99 {:.2} ms, {} failed", patch_count as f64 / elapsed, percentile_ms(&mut patches, 0.5), percentile_ms(&mut patches, 0.99), failures.lock().map(|v| *v).unwrap_or(0));
    println!("write-to-visible         : median {:.2} ms, p99 {:.2} ms; not visible at the first search after the ack: {}", percentile_ms(&mut visible, 0.5), percentile_ms(&mut visible, 0.99), not_visible.lock().map(|v| *v).unwrap_or(0));
}
