//! HTTP load driver and PostgreSQL side of the ror-search comparison (`benches/run_comparison.sh`).
//!
//! Standard library only: it talks to ror-search as a black box over HTTP/1.1 keep-alive
//! (`std::net::TcpStream`, Content-Length and chunked bodies) and to PostgreSQL through the Debian
//! `psql` / `pgbench` tools. It builds as a `harness = false` bench target
//! (`cargo bench --bench http_load -- <mode> …`) or on its own with
//! `rustc --edition 2021 -O benches/http_load.rs -o http_load` (what run_comparison.sh does).
//!
//! The query mix (`benches/pg/mix.tsv`) has one line per SPEC §3 request: name, check kind
//! (`set`: same match set; `ordered`: same order of distances or `_sort` keys), the ror-search
//! request path, and the SQL returning `(id, ord)` for every match (`ord` is the paging order,
//! or the sort key). `${NAME}` in a line expands to a code system (`${R211}`…), to the `{INC}`
//! include block of SPEC UC2, or to a corpus value from `--vars FILE` (`NAME<TAB>value` lines,
//! picked by `pg/picks.sql`).
//! The timed PostgreSQL statement wraps that SQL the way the server answers the request:
//! `count(*)` over the whole match set (Bundle.total), the page (`_count`, default 200) in `ord`
//! order, and the `_include` / `_revinclude` resources of the page, with their jsonb documents.
//!
//! Modes:
//!   run            --addr 127.0.0.1:PORT --mix FILE [--vars FILE] [--connections 8] [--seconds 20]
//!                  [--max-requests 1000000] [--warmup-seconds 3] [--out FILE.tsv]
//!                  N keep-alive connections, each cycling over the mix; stops after --seconds or
//!                  --max-requests (whichever first). Per-query and overall median, p99, req/s.
//!   check          --addr … --mix … [--vars …] [--pg-port 55432] [--pg-db ror] [--strict]
//!                  For every query: same total, same match set (same order of `ord` for `ordered`
//!                  queries), same _include/_revinclude resources for ror-search's first page,
//!                  and the timed statement returns that total and a full page.
//!   pgbench-files  --mix … [--vars …] --out-dir DIR     one timed statement per query: DIR/qNN.sql
//!   pgbench-stats  --mix … --logs DIR [--seconds S] [--out FILE.tsv]   statistics from `pgbench --log`
//!   report         --ror FILE.tsv --pg FILE.tsv [--meta FILE.tsv] [--title T]   the side-by-side table
//!   soak           --addr … --mix … [--vars …] (--rate R | --probe-seconds S [--load-percent 80])
//!                  [--minutes 30] [--connections 8] [--write-percent 10] [--interval-seconds 60]
//!                  [--pid SERVER_PID] [--out FILE.tsv]
//!                  With --probe-seconds, first the maximum throughput of this same mixed load
//!                  (closed loop, S seconds after a 3 s warm-up), and R = --load-percent of it.
//!                  Then open-loop load at R requests/s for --minutes: the mix, plus --write-percent
//!                  capacity PATCHes (as benches/write_load.rs) on locations that have capacity
//!                  records. Latency counts from each request's scheduled time, so a server that
//!                  falls behind shows it. Per interval: reads, writes, errors, achieved rate,
//!                  p50/p99, server RSS (/proc/PID); then a flat / not-flat verdict comparing the
//!                  last third of the intervals with the first (benches/robustness/soak.sh).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Res<T> = Result<T, String>;

// ------------------------------------------------------------------------------------------ args

struct Args {
    mode: String,
    options: HashMap<String, String>,
    flags: HashSet<String>,
}

impl Args {
    fn parse() -> Res<Args> {
        let mut mode = String::new();
        let mut options = HashMap::new();
        let mut flags = HashSet::new();
        let mut iter = std::env::args().skip(1).peekable();
        while let Some(arg) = iter.next() {
            if arg == "--bench" {
                continue; // added by `cargo bench`
            }
            if let Some(name) = arg.strip_prefix("--") {
                if let Some((name, value)) = name.split_once('=') {
                    options.insert(name.to_owned(), value.to_owned());
                } else if iter.peek().is_some_and(|next| !next.starts_with("--")) {
                    options.insert(name.to_owned(), iter.next().unwrap_or_default());
                } else {
                    flags.insert(name.to_owned());
                }
            } else if mode.is_empty() {
                mode = arg;
            } else {
                return Err(format!("unexpected argument {arg:?}"));
            }
        }
        Ok(Args { mode, options, flags })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Res<&str> {
        self.get(name).ok_or_else(|| format!("--{name} is required"))
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Res<T> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| format!("--{name}: not a number: {text:?}")),
        }
    }
}

// ------------------------------------------------------------------------------------------ mix

#[path = "common/mix.rs"]
mod mix;
use mix::{INC, SYSTEMS};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CheckKind {
    /// Same match set (the order of an unsorted search is the engine's own).
    Set,
    /// Same order of `ord` (distance, or a `_sort` key): ties may come in any order.
    Ordered,
}

#[derive(Clone, Debug)]
struct Query {
    name: String,
    check: CheckKind,
    /// Request path as written in the mix (not percent-encoded), e.g. `/fhir/Location?_tag=52`.
    path: String,
    /// SELECT returning (id, ord) for every match.
    sql: String,
}

impl Query {
    fn resource_type(&self) -> &str {
        let after = self.path.strip_prefix("/fhir/").unwrap_or(&self.path);
        after.split(['?', '/']).next().unwrap_or_default()
    }

    fn params(&self) -> Vec<(String, String)> {
        query_params(&self.path)
    }

    /// Page size the server applies (`_count`, SPEC default 200).
    fn count(&self) -> usize {
        self.params()
            .iter()
            .rev()
            .find(|(n, _)| n == "_count")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(200)
    }
}

fn query_params(path: &str) -> Vec<(String, String)> {
    let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

fn read_vars(path: Option<&str>) -> Res<HashMap<String, String>> {
    let mut vars = HashMap::new();
    if let Some(path) = path {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let (name, value) =
                line.split_once('\t').ok_or_else(|| format!("{path}: not NAME<TAB>value: {line:?}"))?;
            vars.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }
    Ok(vars)
}

fn expand(text: &str, vars: &HashMap<String, String>) -> Res<String> {
    let mut out = String::with_capacity(text.len() * 2);
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
        let name = &after[..end];
        if name == "INC" {
            out.push_str(INC);
        } else if let Some((_, system)) = SYSTEMS.iter().find(|(n, _)| *n == name) {
            out.push_str("https://mos.esante.gouv.fr/NOS/");
            out.push_str(system);
        } else if let Some(value) = vars.get(name) {
            out.push_str(value);
        } else {
            return Err(format!("unknown ${{{name}}} (not a system, not INC, not in --vars)"));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn load_mix(path: &str, vars: &HashMap<String, String>) -> Res<Vec<Query>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut queries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, check, path, sql] = fields[..] else {
            return Err(format!(
                "{path}:{}: expected 4 tab-separated fields, got {}",
                number + 1,
                fields.len()
            ));
        };
        let check = match check {
            "set" => CheckKind::Set,
            "ordered" => CheckKind::Ordered,
            other => return Err(format!("{path}:{}: check kind {other:?} is not set|ordered", number + 1)),
        };
        queries.push(Query {
            name: name.to_owned(),
            check,
            path: expand(path, vars)?,
            sql: expand(sql, vars)?,
        });
    }
    if queries.is_empty() {
        return Err(format!("{path}: no query"));
    }
    Ok(queries)
}

// ------------------------------------------------------------------------------------------ HTTP client

/// Percent-encode what may not appear raw in a request target (space, quotes, `|`, non-ASCII…).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 32);
    for byte in path.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&byte);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

struct Connection {
    addr: String,
    reader: Option<BufReader<TcpStream>>,
}

struct Response {
    status: u16,
    body: Vec<u8>,
}

impl Connection {
    fn new(addr: &str) -> Connection {
        Connection { addr: addr.to_owned(), reader: None }
    }

    fn connect(&mut self) -> io::Result<&mut BufReader<TcpStream>> {
        if self.reader.is_none() {
            let stream = TcpStream::connect(&self.addr)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(120)))?;
            self.reader = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        self.reader.as_mut().ok_or_else(|| io::Error::other("no connection"))
    }

    /// GET an already encoded target; one reconnection if the server closed an idle connection.
    fn get(&mut self, target: &str) -> io::Result<Response> {
        self.send("GET", target, "")
    }

    /// Any method, with a JSON body when not empty; one reconnection like `get`.
    fn send(&mut self, method: &str, target: &str, body: &str) -> io::Result<Response> {
        for attempt in 0..2 {
            match self.try_send(method, target, body) {
                Ok(response) => return Ok(response),
                Err(error) => {
                    self.reader = None;
                    if attempt == 1 {
                        return Err(error);
                    }
                }
            }
        }
        Err(io::Error::other("unreachable"))
    }

    fn try_send(&mut self, method: &str, target: &str, body: &str) -> io::Result<Response> {
        let host = self.addr.clone();
        let reader = self.connect()?;
        let content = if body.is_empty() {
            String::new()
        } else {
            format!("Content-Type: application/fhir+json\r\nContent-Length: {}\r\n", body.len())
        };
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/fhir+json\r\nConnection: keep-alive\r\n{content}\r\n{body}"
        );
        reader.get_mut().write_all(request.as_bytes())?;
        let (response, close) = read_response(reader)?;
        if close {
            self.reader = None;
        }
        Ok(response)
    }
}

fn read_line(reader: &mut impl BufRead, line: &mut String) -> io::Result<()> {
    line.clear();
    if reader.read_line(line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    Ok(())
}

fn read_response(reader: &mut impl BufRead) -> io::Result<(Response, bool)> {
    let mut line = String::new();
    read_line(reader, &mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {line:?}")))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        read_line(reader, &mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().ok(),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            read_line(reader, &mut line)?;
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}"))
            })?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    read_line(reader, &mut line)?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
        close = true;
    }
    Ok((Response { status, body }, close))
}

// ------------------------------------------------------------------------------------------ statistics

#[derive(Clone, Debug, Default)]
struct Summary {
    name: String,
    count: usize,
    errors: u64,
    median_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    rps: f64,
}

/// Nearest-rank percentile of sorted microsecond latencies, in ms.
fn percentile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn summarize(name: &str, mut latencies_us: Vec<u64>, errors: u64, seconds: f64) -> Summary {
    latencies_us.sort_unstable();
    let count = latencies_us.len();
    let mean =
        if count == 0 { f64::NAN } else { latencies_us.iter().sum::<u64>() as f64 / count as f64 / 1000.0 };
    Summary {
        name: name.to_owned(),
        count,
        errors,
        median_ms: percentile_ms(&latencies_us, 0.5),
        p99_ms: percentile_ms(&latencies_us, 0.99),
        mean_ms: mean,
        rps: if seconds > 0.0 { count as f64 / seconds } else { f64::NAN },
    }
}

fn summaries(queries: &[Query], samples: &[(usize, u64)], errors: &[u64], seconds: f64) -> Vec<Summary> {
    let mut per_query: Vec<Vec<u64>> = vec![Vec::new(); queries.len()];
    for (query, latency) in samples {
        if let Some(list) = per_query.get_mut(*query) {
            list.push(*latency);
        }
    }
    let mut out: Vec<Summary> = queries
        .iter()
        .zip(per_query)
        .enumerate()
        .map(|(i, (q, list))| summarize(&q.name, list, errors.get(i).copied().unwrap_or(0), seconds))
        .collect();
    out.push(summarize("ALL", samples.iter().map(|s| s.1).collect(), errors.iter().sum(), seconds));
    out
}

fn print_summaries(title: &str, rows: &[Summary]) {
    println!("\n{title}");
    println!(
        "{:<28} {:>8} {:>6} {:>10} {:>10} {:>10} {:>10}",
        "query", "n", "errors", "median ms", "p99 ms", "mean ms", "req/s"
    );
    for row in rows {
        println!(
            "{:<28} {:>8} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>10.1}",
            row.name, row.count, row.errors, row.median_ms, row.p99_ms, row.mean_ms, row.rps
        );
    }
}

fn write_summaries(path: &str, rows: &[Summary]) -> Res<()> {
    let mut text = String::from("query\tn\terrors\tmedian_ms\tp99_ms\tmean_ms\treq_per_s\n");
    for row in rows {
        text.push_str(&format!(
            "{}\t{}\t{}\t{:.4}\t{:.4}\t{:.4}\t{:.2}\n",
            row.name, row.count, row.errors, row.median_ms, row.p99_ms, row.mean_ms, row.rps
        ));
    }
    std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))
}

fn read_summaries(path: &str) -> Res<Vec<Summary>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut rows = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 7 {
            return Err(format!("{path}: bad line {line:?}"));
        }
        let num = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
        rows.push(Summary {
            name: f[0].to_owned(),
            count: f[1].parse().unwrap_or(0),
            errors: f[2].parse().unwrap_or(0),
            median_ms: num(f[3]),
            p99_ms: num(f[4]),
            mean_ms: num(f[5]),
            rps: num(f[6]),
        });
    }
    Ok(rows)
}

// ------------------------------------------------------------------------------------------ run

fn run(args: &Args) -> Res<()> {
    let addr = args.required("addr")?.to_owned();
    if !(addr.starts_with("127.") || addr.starts_with("localhost:") || addr.starts_with("[::1]")) {
        return Err(format!("--addr {addr}: the load driver only targets loopback"));
    }
    let vars = read_vars(args.get("vars"))?;
    let queries = load_mix(args.required("mix")?, &vars)?;
    let connections: usize = args.number("connections", 8)?;
    let seconds: f64 = args.number("seconds", 20.0)?;
    let warmup: f64 = args.number("warmup-seconds", 3.0)?;
    let max_requests: u64 = args.number("max-requests", 1_000_000)?;
    let targets: Arc<Vec<String>> = Arc::new(queries.iter().map(|q| encode_path(&q.path)).collect());

    // One request of each query first: fail fast on an error status rather than measure errors.
    let mut probe = Connection::new(&addr);
    for (query, target) in queries.iter().zip(targets.iter()) {
        let response = probe.get(target).map_err(|e| format!("{}: {e}", query.name))?;
        if response.status != 200 {
            return Err(format!(
                "{}: HTTP {} for {}: {}",
                query.name,
                response.status,
                query.path,
                String::from_utf8_lossy(&response.body[..response.body.len().min(400)])
            ));
        }
    }
    drop(probe);

    eprintln!(
        "[http_load] {} queries, {connections} connections to {addr}, warm-up {warmup} s, then {seconds} s or {max_requests} requests",
        queries.len()
    );
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(warmup);
    let deadline = measure_from + Duration::from_secs_f64(seconds);
    let issued = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let errors: Arc<Vec<AtomicU64>> = Arc::new(queries.iter().map(|_| AtomicU64::new(0)).collect());
    let last_end = Arc::new(Mutex::new(measure_from));
    let mut handles = Vec::new();
    for worker in 0..connections {
        let (addr, targets, issued, stop, errors, last_end) =
            (addr.clone(), targets.clone(), issued.clone(), stop.clone(), errors.clone(), last_end.clone());
        handles.push(std::thread::spawn(move || -> Vec<(usize, u64)> {
            let mut connection = Connection::new(&addr);
            let mut samples = Vec::with_capacity(1 << 16);
            let n = targets.len();
            let mut i = worker * n / connections.max(1);
            let mut local_end = measure_from;
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let began = Instant::now();
                if began >= deadline {
                    break;
                }
                let measured = began >= measure_from;
                if measured && issued.fetch_add(1, Ordering::Relaxed) >= max_requests {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
                let query = i % n;
                i += 1;
                let ok = matches!(connection.get(&targets[query]), Ok(ref r) if r.status == 200);
                let ended = Instant::now();
                if measured {
                    if ok {
                        samples.push((query, ended.duration_since(began).as_micros() as u64));
                    } else {
                        errors[query].fetch_add(1, Ordering::Relaxed);
                    }
                    local_end = ended;
                }
            }
            if let Ok(mut last) = last_end.lock() {
                *last = (*last).max(local_end);
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for handle in handles {
        samples.extend(handle.join().map_err(|_| "a worker thread panicked".to_owned())?);
    }
    let window = last_end.lock().map(|l| l.duration_since(measure_from).as_secs_f64()).unwrap_or(seconds);
    let errors: Vec<u64> = errors.iter().map(|e| e.load(Ordering::Relaxed)).collect();
    let rows = summaries(&queries, &samples, &errors, window);
    print_summaries(
        &format!("ror-search over HTTP: {connections} connections, {window:.1} s measured"),
        &rows,
    );
    if let Some(out) = args.get("out") {
        write_summaries(out, &rows)?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------ SQL

fn table_of(resource_type: &str) -> Res<&'static str> {
    Ok(match resource_type {
        "HealthcareService" => "healthcare_service",
        "Location" => "location",
        "Organization" => "organization",
        "PractitionerRole" => "practitioner_role",
        "Practitioner" => "practitioner",
        other => return Err(format!("no table for resource type {other}")),
    })
}

fn sql_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Where the page comes from: the first `n` matches in `ord` order, or given ids (check mode).
enum Page<'a> {
    First(usize),
    Ids(&'a [String]),
}

/// The statement answering one request: rows (kind, type, id, doc) = one `total` row, the page's
/// `match` rows in order, then the `include` rows.
fn build_sql(query: &Query, page: &Page, with_docs: bool) -> Res<String> {
    let base = query.resource_type();
    let base_table = table_of(base)?;
    let mut includes: Vec<(bool, String)> = Vec::new();
    for (name, value) in query.params() {
        match name.as_str() {
            "_include" | "_include:iterate" => includes.push((false, value)),
            "_revinclude" | "_revinclude:iterate" => includes.push((true, value)),
            _ => {}
        }
    }
    let has = |reverse: bool, spec: &str| {
        includes.iter().any(|(r, v)| *r == reverse && v.eq_ignore_ascii_case(spec))
    };
    // Resource type names compare case-insensitively, as ror-search reads them (UC5 writes
    // `_include=Healthcareservice:location`, SPEC §6.3).
    const KNOWN: &[(&str, bool, &str)] = &[
        ("HealthcareService", false, "HealthcareService:organization"),
        ("HealthcareService", false, "Organization:partof"),
        ("HealthcareService", false, "HealthcareService:location"),
        ("HealthcareService", true, "PractitionerRole:service"),
        ("HealthcareService", false, "PractitionerRole:practitioner"),
        ("Location", true, "HealthcareService:location"),
    ];
    for (reverse, spec) in &includes {
        let known = KNOWN.iter().any(|(b, r, s)| *b == base && r == reverse && s.eq_ignore_ascii_case(spec));
        if !known {
            return Err(format!(
                "{}: include {spec:?} (reverse: {reverse}) is not implemented in the SQL harness",
                query.name
            ));
        }
    }
    let mut ctes = vec![format!("m AS MATERIALIZED (SELECT * FROM ({}) f(id, ord))", query.sql)];
    match page {
        Page::First(n) => {
            ctes.push(format!("p AS MATERIALIZED (SELECT id, ord FROM m ORDER BY ord, id LIMIT {n})"))
        }
        Page::Ids([]) => ctes.push("p(id, ord) AS (SELECT NULL::text, 0 WHERE false)".to_owned()),
        Page::Ids(ids) => {
            let values: Vec<String> =
                ids.iter().enumerate().map(|(i, id)| format!("({}, {i})", sql_quote(id))).collect();
            ctes.push(format!("p(id, ord) AS (VALUES {})", values.join(", ")));
        }
    }
    // (type, table, cte holding the ids)
    let mut included: Vec<(&str, &str, &str)> = Vec::new();
    if base == "HealthcareService" {
        if has(false, "HealthcareService:organization") {
            ctes.push(
                "i_org0 AS (SELECT DISTINCT h.provided_by AS id FROM healthcare_service h \
                 WHERE h.id IN (SELECT id FROM p) AND h.provided_by IS NOT NULL)"
                    .to_owned(),
            );
            if has(false, "Organization:partof") {
                ctes.push(
                    "i_org(id) AS (SELECT id FROM i_org0 UNION SELECT o.part_of FROM organization o \
                     JOIN i_org ON o.id = i_org.id WHERE o.part_of IS NOT NULL)"
                        .to_owned(),
                );
            } else {
                ctes.push("i_org AS (SELECT id FROM i_org0)".to_owned());
            }
            included.push(("Organization", "organization", "i_org"));
        }
        if has(false, "HealthcareService:location") {
            ctes.push(
                "i_loc AS (SELECT DISTINCT unnest(h.location_ids) AS id FROM healthcare_service h \
                 WHERE h.id IN (SELECT id FROM p))"
                    .to_owned(),
            );
            included.push(("Location", "location", "i_loc"));
        }
        if has(true, "PractitionerRole:service") {
            ctes.push(
                "i_role AS (SELECT r.id, r.practitioner FROM practitioner_role r WHERE r.service IN (SELECT id FROM p))".to_owned(),
            );
            included.push(("PractitionerRole", "practitioner_role", "i_role"));
            if has(false, "PractitionerRole:practitioner") {
                ctes.push("i_prac AS (SELECT DISTINCT practitioner AS id FROM i_role WHERE practitioner IS NOT NULL)".to_owned());
                included.push(("Practitioner", "practitioner", "i_prac"));
            }
        }
    }
    if base == "Location" && has(true, "HealthcareService:location") {
        ctes.push(
            "i_hs AS (SELECT DISTINCT hs_id AS id FROM healthcare_service_location WHERE location_id IN (SELECT id FROM p))"
                .to_owned(),
        );
        included.push(("HealthcareService", "healthcare_service", "i_hs"));
    }
    let doc = if with_docs { "t.doc" } else { "NULL::jsonb" };
    let mut selects = vec![
        "SELECT 'total' AS kind, NULL::text AS type, count(*)::text AS id, NULL::jsonb AS doc FROM m".to_owned(),
        format!(
            "(SELECT 'match', '{base}', t.id, {doc} FROM p JOIN {base_table} t ON t.id = p.id ORDER BY p.ord, p.id)"
        ),
    ];
    for (resource_type, table, cte) in included {
        selects.push(format!("SELECT 'include', '{resource_type}', t.id, {doc} FROM {table} t WHERE t.id IN (SELECT id FROM {cte})"));
    }
    Ok(format!("WITH RECURSIVE\n  {}\n{};\n", ctes.join(",\n  "), selects.join("\nUNION ALL ")))
}

/// pgbench replaces `:name` with a variable: the statements must not contain one.
fn assert_no_pgbench_variable(name: &str, sql: &str) -> Res<()> {
    let bytes = sql.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        if *byte != b':' {
            continue;
        }
        let prev = if i > 0 { bytes[i - 1] } else { b' ' };
        let next = bytes.get(i + 1).copied().unwrap_or(b' ');
        if prev != b':' && next != b':' && (next.is_ascii_alphanumeric() || next == b'_') {
            let context = &sql[i.saturating_sub(30)..(i + 30).min(sql.len())];
            return Err(format!(
                "{name}: ':{}' would be taken for a pgbench variable near {context:?}",
                next as char
            ));
        }
    }
    Ok(())
}

struct Psql {
    port: String,
    db: String,
}

impl Psql {
    fn rows(&self, sql: &str) -> Res<Vec<Vec<String>>> {
        let output = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port, "-U", "postgres", "-d", &self.db])
            .args(["-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .output()
            .map_err(|e| format!("running psql: {e}"))?;
        if !output.status.success() {
            return Err(format!("psql failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect())
    }
}

fn pgbench_files(args: &Args) -> Res<()> {
    let vars = read_vars(args.get("vars"))?;
    let queries = load_mix(args.required("mix")?, &vars)?;
    let dir = args.required("out-dir")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    let mut index = String::new();
    for (i, query) in queries.iter().enumerate() {
        let sql = build_sql(query, &Page::First(query.count()), true)?;
        assert_no_pgbench_variable(&query.name, &sql)?;
        let file = format!("{dir}/q{i:02}.sql");
        std::fs::write(&file, format!("-- {}: GET {}\n{sql}", query.name, query.path))
            .map_err(|e| format!("{file}: {e}"))?;
        index.push_str(&format!("{i}\t{}\t{file}\n", query.name));
    }
    std::fs::write(format!("{dir}/index.tsv"), index).map_err(|e| format!("{dir}/index.tsv: {e}"))?;
    eprintln!("[http_load] {} pgbench scripts in {dir}", queries.len());
    Ok(())
}

fn pgbench_stats(args: &Args) -> Res<()> {
    let queries = load_mix(args.required("mix")?, &read_vars(args.get("vars"))?)?;
    let dir = args.required("logs")?;
    let mut samples: Vec<(usize, u64)> = Vec::new();
    let mut first_start = f64::INFINITY;
    let mut last_end = 0.0f64;
    let mut errors = vec![0u64; queries.len()];
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("pgbench_log") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).map_err(|e| format!("{name}: {e}"))?;
        // client_id transaction_no time(us) script_no time_epoch time_us [schedule_lag] [retries]
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                continue;
            }
            let script: usize = f[3].parse().map_err(|_| format!("{name}: bad line {line:?}"))?;
            if f[2] == "failed" || f[2] == "skipped" {
                if let Some(e) = errors.get_mut(script) {
                    *e += 1;
                }
                continue;
            }
            let latency: u64 = f[2].parse().map_err(|_| format!("{name}: bad line {line:?}"))?;
            let end = f[4].parse::<f64>().unwrap_or(0.0) + f[5].parse::<f64>().unwrap_or(0.0) / 1e6;
            first_start = first_start.min(end - latency as f64 / 1e6);
            last_end = last_end.max(end);
            samples.push((script, latency));
        }
    }
    if samples.is_empty() {
        return Err(format!("no pgbench_log* transaction in {dir}"));
    }
    let window = match args.get("seconds") {
        Some(s) => s.parse().map_err(|_| format!("--seconds {s:?}"))?,
        None => last_end - first_start,
    };
    let rows = summaries(&queries, &samples, &errors, window);
    print_summaries(&format!("PostgreSQL + PostGIS via pgbench: {window:.1} s measured"), &rows);
    if let Some(out) = args.get("out") {
        write_summaries(out, &rows)?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------ check

#[derive(Debug, Default)]
struct BundlePage {
    total: Option<u64>,
    matches: Vec<String>,
    includes: Vec<(String, String)>,
    next: Option<String>,
}

fn parse_bundle(body: &[u8]) -> Res<BundlePage> {
    let text = std::str::from_utf8(body).map_err(|_| "the Bundle is not UTF-8".to_owned())?;
    let json = Json::parse(text)?;
    let mut page = BundlePage { total: json.get("total").and_then(Json::as_u64), ..BundlePage::default() };
    for link in json.get("link").map(Json::items).unwrap_or_default() {
        if link.get("relation").and_then(Json::as_str) == Some("next") {
            page.next = link.get("url").and_then(Json::as_str).map(str::to_owned);
        }
    }
    for entry in json.get("entry").map(Json::items).unwrap_or_default() {
        let resource = entry.get("resource");
        let rtype =
            resource.and_then(|r| r.get("resourceType")).and_then(Json::as_str).unwrap_or("").to_owned();
        let id = resource.and_then(|r| r.get("id")).and_then(Json::as_str).unwrap_or("").to_owned();
        match entry.get("search").and_then(|s| s.get("mode")).and_then(Json::as_str) {
            Some("match") => page.matches.push(id),
            Some("include") => page.includes.push((rtype, id)),
            _ => {}
        }
    }
    Ok(page)
}

fn fetch(connection: &mut Connection, path: &str) -> Res<BundlePage> {
    let response = connection.get(&encode_path(path)).map_err(|e| format!("GET {path}: {e}"))?;
    if response.status != 200 {
        return Err(format!(
            "HTTP {} for {path}: {}",
            response.status,
            String::from_utf8_lossy(&response.body[..response.body.len().min(600)])
        ));
    }
    parse_bundle(&response.body)
}

/// Every match of the query, in the server's order, paging with `_count=1000&_elements=id` and
/// without includes (they do not change the match set).
fn fetch_all_matches(connection: &mut Connection, query: &Query) -> Res<(u64, Vec<String>)> {
    let base = query.path.split_once('?').map(|(b, _)| b).unwrap_or(&query.path);
    let kept: Vec<String> = query
        .params()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("_include") && !n.starts_with("_revinclude") && n != "_count")
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let mut path = format!(
        "{base}?{}{}_count=1000&_elements=id",
        kept.join("&"),
        if kept.is_empty() { "" } else { "&" }
    );
    let mut ids = Vec::new();
    let mut total = None;
    for _ in 0..100_000 {
        let page = fetch(connection, &path)?;
        if total.is_none() {
            total = page.total;
        }
        ids.extend(page.matches);
        match page.next {
            Some(next) => {
                let at = next.find("/fhir/").ok_or_else(|| format!("next link {next:?} has no /fhir/"))?;
                path = format!("{}&_elements=id", &next[at..]);
            }
            None => break,
        }
    }
    Ok((total.ok_or_else(|| format!("{}: the Bundle has no total", query.name))?, ids))
}

fn sample<'a>(items: impl Iterator<Item = &'a String>, n: usize) -> String {
    let list: Vec<&str> = items.take(n).map(String::as_str).collect();
    list.join(", ")
}

/// Check one query; returns the list of problems found.
fn check_query(connection: &mut Connection, psql: &Psql, query: &Query) -> Res<Vec<String>> {
    let mut problems = Vec::new();
    // 1. Totals and match sets.
    let (ror_total, ror_ids) = fetch_all_matches(connection, query)?;
    let pg_rows = psql.rows(&format!("SELECT id, ord FROM ({}) f(id, ord) ORDER BY ord, id", query.sql))?;
    let pg_ids: Vec<String> = pg_rows.iter().map(|r| r[0].clone()).collect();
    let pg_ord: HashMap<&str, f64> = pg_rows
        .iter()
        .map(|r| (r[0].as_str(), r.get(1).and_then(|o| o.parse().ok()).unwrap_or(0.0)))
        .collect();
    if pg_ord.len() != pg_ids.len() {
        problems.push(format!(
            "harness: the SQL returns duplicate ids ({} rows, {} ids)",
            pg_ids.len(),
            pg_ord.len()
        ));
    }
    if ror_total != pg_ids.len() as u64 {
        problems.push(format!("total: ror-search {ror_total}, PostgreSQL {}", pg_ids.len()));
    }
    if ror_ids.len() as u64 != ror_total {
        problems.push(format!("ror-search paged {} matches but says total {ror_total}", ror_ids.len()));
    }
    let ror_set: HashSet<&String> = ror_ids.iter().collect();
    let pg_set: HashSet<&String> = pg_ids.iter().collect();
    let only_ror: Vec<&String> = ror_ids.iter().filter(|id| !pg_set.contains(id)).collect();
    let only_pg: Vec<&String> = pg_ids.iter().filter(|id| !ror_set.contains(id)).collect();
    if !only_ror.is_empty() {
        problems.push(format!(
            "{} only in ror-search, e.g. {}",
            only_ror.len(),
            sample(only_ror.into_iter(), 5)
        ));
    }
    if !only_pg.is_empty() {
        problems.push(format!(
            "{} only in PostgreSQL, e.g. {}",
            only_pg.len(),
            sample(only_pg.into_iter(), 5)
        ));
    }
    if query.check == CheckKind::Ordered {
        let sorted: Vec<f64> =
            pg_rows.iter().map(|r| r.get(1).and_then(|o| o.parse().ok()).unwrap_or(0.0)).collect();
        for (i, id) in ror_ids.iter().enumerate() {
            let (Some(got), Some(want)) = (pg_ord.get(id.as_str()), sorted.get(i)) else { continue };
            if (got - want).abs() > 1.0 {
                problems.push(format!(
                    "order: position {i} is {id} with ord {got:.1} in PostgreSQL, the {}th smallest ord is {want:.1}",
                    i + 1
                ));
                break;
            }
        }
    }
    // 2. The real request: page size and includes of ror-search's first page.
    let page = fetch(connection, &query.path)?;
    let expected_page = (pg_ids.len()).min(query.count());
    if page.matches.len() != (ror_total as usize).min(query.count()) {
        problems.push(format!(
            "ror-search first page has {} matches (total {ror_total}, _count {})",
            page.matches.len(),
            query.count()
        ));
    }
    let include_rows = psql.rows(&build_sql(query, &Page::Ids(&page.matches), false)?)?;
    let pg_includes: HashSet<(String, String)> = include_rows
        .iter()
        .filter(|r| r.first().map(String::as_str) == Some("include"))
        .map(|r| (r.get(1).cloned().unwrap_or_default(), r.get(2).cloned().unwrap_or_default()))
        .collect();
    let ror_includes: HashSet<(String, String)> = page.includes.iter().cloned().collect();
    if ror_includes.len() != page.includes.len() {
        problems.push(format!(
            "ror-search page lists an included resource twice ({} entries, {} distinct)",
            page.includes.len(),
            ror_includes.len()
        ));
    }
    let fmt = |set: Vec<&(String, String)>| {
        set.iter().take(5).map(|(t, i)| format!("{t}/{i}")).collect::<Vec<_>>().join(", ")
    };
    let inc_only_ror: Vec<&(String, String)> = ror_includes.difference(&pg_includes).collect();
    let inc_only_pg: Vec<&(String, String)> = pg_includes.difference(&ror_includes).collect();
    if !inc_only_ror.is_empty() {
        problems.push(format!(
            "includes: {} only in ror-search, e.g. {}",
            inc_only_ror.len(),
            fmt(inc_only_ror)
        ));
    }
    if !inc_only_pg.is_empty() {
        problems.push(format!(
            "includes: {} only in PostgreSQL, e.g. {}",
            inc_only_pg.len(),
            fmt(inc_only_pg)
        ));
    }
    // 3. The timed statement itself.
    let timed = psql.rows(&build_sql(query, &Page::First(query.count()), false)?)?;
    let timed_total =
        timed.iter().find(|r| r[0] == "total").and_then(|r| r.get(2)).cloned().unwrap_or_default();
    let timed_matches = timed.iter().filter(|r| r[0] == "match").count();
    if timed_total != pg_ids.len().to_string() || timed_matches != expected_page {
        problems.push(format!(
            "harness: the timed statement returns total {timed_total} and {timed_matches} matches"
        ));
    }
    println!(
        "{:<28} total {:>7} (pg {:>7})  page {:>4}  includes {:>5} (pg {:>5})  {}",
        query.name,
        ror_total,
        pg_ids.len(),
        page.matches.len(),
        ror_includes.len(),
        pg_includes.len(),
        if problems.is_empty() { "OK" } else { "MISMATCH" }
    );
    Ok(problems)
}

fn check(args: &Args) -> Res<()> {
    let addr = args.required("addr")?;
    let vars = read_vars(args.get("vars"))?;
    let queries = load_mix(args.required("mix")?, &vars)?;
    let psql = Psql {
        port: args.get("pg-port").unwrap_or("55432").to_owned(),
        db: args.get("pg-db").unwrap_or("ror").to_owned(),
    };
    let mut connection = Connection::new(addr);
    let mut failed = 0;
    println!("check: ror-search at {addr} vs PostgreSQL on port {}", psql.port);
    for query in &queries {
        match check_query(&mut connection, &psql, query) {
            Ok(problems) if problems.is_empty() => {}
            Ok(problems) => {
                failed += 1;
                for problem in problems {
                    println!("    {}: {problem}", query.name);
                }
                println!("    request: GET {}", query.path);
            }
            Err(error) => {
                failed += 1;
                println!("{:<28} ERROR {error}", query.name);
            }
        }
    }
    println!("check: {} queries, {} agree, {failed} differ", queries.len(), queries.len() - failed);
    if failed > 0 && args.flags.contains("strict") {
        return Err(format!("{failed} queries differ"));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------ report

fn report(args: &Args) -> Res<()> {
    let ror = read_summaries(args.required("ror")?)?;
    let pg = read_summaries(args.required("pg")?)?;
    let pg_by_name: BTreeMap<&str, &Summary> = pg.iter().map(|s| (s.name.as_str(), s)).collect();
    if let Some(meta) = args.get("meta") {
        let text = std::fs::read_to_string(meta).map_err(|e| format!("{meta}: {e}"))?;
        println!("\n== setup");
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once('\t').unwrap_or((line, ""));
            println!("  {k:<34} {v}");
        }
    }
    let title = args.get("title").unwrap_or("ror-search over HTTP vs PostgreSQL+PostGIS via pgbench");
    println!("\n== latency per query (ms): {title}");
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "query", "ror med", "ror p99", "pg med", "pg p99", "pg/ror med"
    );
    let mut log_ratio_sum = 0.0;
    let mut ratio_count = 0;
    for row in ror.iter().filter(|r| r.name != "ALL") {
        let Some(other) = pg_by_name.get(row.name.as_str()) else {
            println!(
                "{:<28} {:>10.3} {:>10.3} {:>10} {:>10} {:>12}",
                row.name, row.median_ms, row.p99_ms, "-", "-", "-"
            );
            continue;
        };
        let ratio = other.median_ms / row.median_ms;
        if ratio.is_finite() && ratio > 0.0 {
            log_ratio_sum += ratio.ln();
            ratio_count += 1;
        }
        println!(
            "{:<28} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>11.2}x",
            row.name, row.median_ms, row.p99_ms, other.median_ms, other.p99_ms, ratio
        );
    }
    let all_ror = ror.iter().find(|r| r.name == "ALL");
    let all_pg = pg_by_name.get("ALL");
    if let (Some(a), Some(b)) = (all_ror, all_pg) {
        println!("\n== overall: {title}");
        println!("{:<34} {:>14} {:>14}", "", "ror-search", "PostgreSQL");
        println!("{:<34} {:>14} {:>14}", "requests measured", a.count, b.count);
        println!("{:<34} {:>14} {:>14}", "errors", a.errors, b.errors);
        println!("{:<34} {:>14.3} {:>14.3}", "median latency (ms)", a.median_ms, b.median_ms);
        println!("{:<34} {:>14.3} {:>14.3}", "p99 latency (ms)", a.p99_ms, b.p99_ms);
        println!("{:<34} {:>14.3} {:>14.3}", "mean latency (ms)", a.mean_ms, b.mean_ms);
        println!("{:<34} {:>14.1} {:>14.1}", "throughput (req/s)", a.rps, b.rps);
        println!("{:<34} {:>14.2}x", "ratio of overall medians pg/ror", b.median_ms / a.median_ms);
        if ratio_count > 0 {
            println!(
                "{:<34} {:>14.2}x",
                "geometric mean of per-query ratios",
                (log_ratio_sum / ratio_count as f64).exp()
            );
        }
        println!("{:<34} {:>14.2}x", "throughput ratio ror/pg", a.rps / b.rps);
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------ JSON

/// Just enough JSON to read a searchset Bundle (check mode).
#[allow(dead_code)]
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Res<Json> {
        let mut parser = JsonParser { bytes: text.as_bytes(), pos: 0 };
        let value = parser.value()?;
        parser.ws();
        if parser.pos != parser.bytes.len() {
            return Err(format!("JSON: trailing data at {}", parser.pos));
        }
        Ok(value)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn items(&self) -> Vec<&Json> {
        match self {
            Json::Array(items) => items.iter().collect(),
            _ => Vec::new(),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) if *n >= 0.0 => Some(*n as u64),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.pos < self.bytes.len() && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Res<T> {
        Err(format!("JSON: {what} at byte {}", self.pos))
    }

    fn literal(&mut self, word: &str, value: Json) -> Res<Json> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            self.err("bad literal")
        }
    }

    fn value(&mut self) -> Res<Json> {
        self.ws();
        match self.bytes.get(self.pos) {
            None => self.err("unexpected end"),
            Some(b'{') => {
                self.pos += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.bytes.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Ok(Json::Object(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    if self.bytes.get(self.pos) != Some(&b':') {
                        return self.err("expected ':'");
                    }
                    self.pos += 1;
                    let value = self.value()?;
                    fields.push((key, value));
                    self.ws();
                    match self.bytes.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Json::Object(fields));
                        }
                        _ => return self.err("expected ',' or '}'"),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.bytes.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.bytes.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return self.err("expected ',' or ']'"),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(_) => {
                let start = self.pos;
                while self.pos < self.bytes.len()
                    && matches!(self.bytes[self.pos], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or("");
                text.parse().map(Json::Number).or_else(|_| self.err("bad number"))
            }
        }
    }

    fn hex4(&mut self) -> Res<u32> {
        let text =
            self.bytes.get(self.pos..self.pos + 4).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("");
        let value = u32::from_str_radix(text, 16).or_else(|_| self.err("bad \\u escape"))?;
        self.pos += 4;
        Ok(value)
    }

    fn string(&mut self) -> Res<String> {
        if self.bytes.get(self.pos) != Some(&b'"') {
            return self.err("expected a string");
        }
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.bytes.get(self.pos) {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out).or_else(|_| self.err("invalid UTF-8"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self.bytes.get(self.pos).copied();
                    self.pos += 1;
                    match escape {
                        Some(b'"') => out.push(b'"'),
                        Some(b'\\') => out.push(b'\\'),
                        Some(b'/') => out.push(b'/'),
                        Some(b'b') => out.push(8),
                        Some(b'f') => out.push(12),
                        Some(b'n') => out.push(b'\n'),
                        Some(b'r') => out.push(b'\r'),
                        Some(b't') => out.push(b'\t'),
                        Some(b'u') => {
                            let mut code = self.hex4()?;
                            if (0xD800..0xDC00).contains(&code) && self.bytes[self.pos..].starts_with(b"\\u")
                            {
                                self.pos += 2;
                                let low = self.hex4()?;
                                code = 0x10000 + ((code - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            let ch = char::from_u32(code).unwrap_or('\u{FFFD}');
                            let mut buffer = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buffer).as_bytes());
                        }
                        _ => return self.err("bad escape"),
                    }
                }
                Some(byte) => {
                    out.push(*byte);
                    self.pos += 1;
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------ main

// ------------------------------------------------------------------------------------------ soak

const CAPACITY_EXTENSION: &str =
    "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity";

/// The bed-management write of benches/write_load.rs: new `nbCapacity` of the first capacity record.
fn capacity_patch(count: u64) -> String {
    format!(
        r#"{{"resourceType":"Parameters","parameter":[{{"name":"operation","part":[{{"name":"type","valueString":"replace"}},{{"name":"path","valueString":"Location.extension.where(url='{CAPACITY_EXTENSION}')[0].extension.where(url='nbCapacity').valueInteger"}},{{"name":"value","valueInteger":{count}}}]}}]}}"#
    )
}

/// Resident set size of a process, in MiB (`VmRSS` of /proc/PID/status).
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[derive(Default)]
struct Interval {
    reads: Vec<u64>,
    writes: Vec<u64>,
    errors: u64,
    rss_mib: Option<f64>,
}

struct IntervalRow {
    index: usize,
    reads: usize,
    writes: usize,
    errors: u64,
    rate: f64,
    read_p50_ms: f64,
    read_p99_ms: f64,
    write_p99_ms: f64,
    all_p99_ms: f64,
    rss_mib: Option<f64>,
}

fn interval_row(index: usize, interval: &Interval, seconds: f64) -> IntervalRow {
    let mut reads = interval.reads.clone();
    let mut writes = interval.writes.clone();
    reads.sort_unstable();
    writes.sort_unstable();
    let mut all: Vec<u64> = reads.iter().chain(writes.iter()).copied().collect();
    all.sort_unstable();
    IntervalRow {
        index,
        reads: reads.len(),
        writes: writes.len(),
        errors: interval.errors,
        rate: (reads.len() + writes.len()) as f64 / seconds,
        read_p50_ms: percentile_ms(&reads, 0.5),
        read_p99_ms: percentile_ms(&reads, 0.99),
        write_p99_ms: percentile_ms(&writes, 0.99),
        all_p99_ms: percentile_ms(&all, 0.99),
        rss_mib: interval.rss_mib,
    }
}

const SOAK_HEADER: &str =
    "interval  reads  writes  errors   req/s  read p50 ms  read p99 ms  write p99 ms  all p99 ms  RSS MiB";

fn print_interval(row: &IntervalRow, seconds: f64) {
    let rss = row.rss_mib.map(|r| format!("{r:.1}")).unwrap_or_else(|| "-".to_owned());
    println!(
        "{:>8} {:>6} {:>7} {:>7} {:>7.1} {:>12.3} {:>12.3} {:>13.3} {:>11.3} {:>8}",
        format!("{:.0}s", (row.index + 1) as f64 * seconds),
        row.reads,
        row.writes,
        row.errors,
        row.rate,
        row.read_p50_ms,
        row.read_p99_ms,
        row.write_p99_ms,
        row.all_p99_ms,
        rss
    );
}

/// Median of the finite values: one interval with a stall does not decide the verdict.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        f64::NAN
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// What the soak sends: the mix, and `write_percent` capacity PATCHes on `locations`.
struct Load {
    addr: String,
    targets: Arc<Vec<String>>,
    locations: Arc<Vec<String>>,
    connections: usize,
    write_percent: u64,
}

type Stats = Arc<Mutex<Vec<Interval>>>;

impl Load {
    /// `connections` workers from `start` for `duration`, answers sorted into `interval` buckets.
    /// With a `rate`, request `slot` of the run is due at start + slot / rate, an open-loop
    /// schedule: falling behind shows as latency (counted from the due time), not as less load.
    /// Without, each connection sends its next request as soon as it has the answer (closed loop).
    fn drive(
        &self,
        start: Instant,
        duration: Duration,
        interval: Duration,
        rate: Option<f64>,
    ) -> (Stats, Vec<std::thread::JoinHandle<()>>) {
        let buckets = (duration.as_secs_f64() / interval.as_secs_f64()).ceil() as usize;
        let stats: Stats = Arc::new(Mutex::new((0..buckets).map(|_| Interval::default()).collect()));
        let connections = self.connections as u64;
        let mut handles = Vec::new();
        for worker in 0..connections {
            let (addr, targets, locations, stats) =
                (self.addr.clone(), self.targets.clone(), self.locations.clone(), stats.clone());
            let write_percent = self.write_percent;
            handles.push(std::thread::spawn(move || {
                let mut connection = Connection::new(&addr);
                let mut k: u64 = 0;
                loop {
                    let slot = k * connections + worker;
                    k += 1;
                    let due = match rate {
                        Some(rate) => start + Duration::from_secs_f64(slot as f64 / rate),
                        None => Instant::now().max(start),
                    };
                    if due >= start + duration {
                        break;
                    }
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let write = slot % 100 < write_percent && !locations.is_empty();
                    let result = if write {
                        let id = &locations[(slot as usize).wrapping_mul(7919) % locations.len()];
                        connection.send(
                            "PATCH",
                            &format!("/fhir/Location/{id}"),
                            &capacity_patch(1_000 + slot % 100_000),
                        )
                    } else {
                        connection.get(&targets[(slot as usize) % targets.len()])
                    };
                    let latency = Instant::now().duration_since(due).as_micros() as u64;
                    let index = (due.duration_since(start).as_secs_f64() / interval.as_secs_f64()) as usize;
                    if let Ok(mut stats) = stats.lock() {
                        if let Some(bucket) = stats.get_mut(index) {
                            match result {
                                Ok(ref response) if response.status == 200 => {
                                    if write {
                                        bucket.writes.push(latency);
                                    } else {
                                        bucket.reads.push(latency);
                                    }
                                }
                                _ => bucket.errors += 1,
                            }
                        }
                    }
                }
            }));
        }
        (stats, handles)
    }
}

fn soak(args: &Args) -> Res<()> {
    let addr = args.required("addr")?.to_owned();
    if !(addr.starts_with("127.") || addr.starts_with("localhost:") || addr.starts_with("[::1]")) {
        return Err(format!("--addr {addr}: the load driver only targets loopback"));
    }
    let vars = read_vars(args.get("vars"))?;
    let queries = load_mix(args.required("mix")?, &vars)?;
    let mut rate: f64 = args.number("rate", 0.0)?;
    let probe_seconds: f64 = args.number("probe-seconds", 0.0)?;
    let load_percent: f64 = args.number("load-percent", 80.0)?;
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if !positive(rate) && !positive(probe_seconds) {
        return Err("--rate R (requests per second) or --probe-seconds S is required".to_owned());
    }
    let minutes: f64 = args.number("minutes", 30.0)?;
    let connections: usize = args.number::<usize>("connections", 8)?.max(1);
    let write_percent: u64 = args.number::<u64>("write-percent", 10)?.min(100);
    let interval_seconds: f64 = args.number("interval-seconds", 60.0)?;
    let pid: Option<u32> =
        args.get("pid").map(|p| p.parse().map_err(|_| format!("--pid {p:?}"))).transpose()?;
    if !positive(interval_seconds) || !positive(minutes) {
        return Err("--minutes and --interval-seconds must be positive".to_owned());
    }
    let targets: Arc<Vec<String>> = Arc::new(queries.iter().map(|q| encode_path(&q.path)).collect());

    let mut probe = Connection::new(&addr);
    for (query, target) in queries.iter().zip(targets.iter()) {
        let response = probe.get(target).map_err(|e| format!("{}: {e}", query.name))?;
        if response.status != 200 {
            return Err(format!("{}: HTTP {} for {}", query.name, response.status, query.path));
        }
    }
    // Writes go to locations that have a capacity record, as in write_load.
    let locations: Arc<Vec<String>> = Arc::new(if write_percent > 0 {
        let response = probe
            .get("/fhir/Location?capacity-type:missing=false&_count=1000&_elements=id")
            .map_err(|e| format!("listing locations: {e}"))?;
        let page = parse_bundle(&response.body)?;
        if page.matches.is_empty() {
            return Err("no Location with a capacity record to write to".to_owned());
        }
        page.matches
    } else {
        Vec::new()
    });
    drop(probe);

    let total = Duration::from_secs_f64(minutes * 60.0);
    let interval = Duration::from_secs_f64(interval_seconds);
    let intervals = (total.as_secs_f64() / interval_seconds).ceil() as usize;
    let load = Load { addr: addr.clone(), targets, locations, connections, write_percent };
    if positive(probe_seconds) {
        // The maximum of this very mix (reads and writes), closed loop, after a 3 s warm-up.
        let warm_up = Duration::from_secs(3);
        let probe = Duration::from_secs_f64(probe_seconds);
        let (stats, handles) = load.drive(Instant::now(), warm_up + probe, warm_up, None);
        for handle in handles {
            handle.join().map_err(|_| "a worker thread panicked".to_owned())?;
        }
        let stats = stats.lock().map_err(|_| "statistics lock poisoned".to_owned())?;
        let (mut done, mut errors) = (0usize, 0u64);
        for bucket in stats.iter().skip(1) {
            done += bucket.reads.len() + bucket.writes.len();
            errors += bucket.errors;
        }
        let mut latencies: Vec<u64> =
            stats.iter().skip(1).flat_map(|b| b.reads.iter().chain(b.writes.iter()).copied()).collect();
        latencies.sort_unstable();
        let maximum = done as f64 / probe_seconds;
        rate = maximum * load_percent / 100.0;
        println!(
            "maximum throughput of the mix ({write_percent}% writes, {connections} connections, closed loop, {probe_seconds} s): {maximum:.1} req/s, p99 {:.3} ms, {errors} errors -> soak at {load_percent}%: {rate:.1} req/s",
            percentile_ms(&latencies, 0.99)
        );
        if !positive(rate) {
            return Err("the probe completed no request".to_owned());
        }
    }
    eprintln!(
        "[http_load soak] {rate:.0} req/s ({write_percent}% capacity PATCH on {} locations) for {minutes} min over {connections} connections, one row per {interval_seconds} s",
        load.locations.len()
    );
    let start = Instant::now() + Duration::from_millis(200);
    let (stats, handles) = load.drive(start, total, interval, Some(rate));
    // One row per interval, printed as it completes (a little after, for the late answers).
    println!("\nsoak at {rate:.0} req/s, {write_percent}% writes, {connections} connections");
    println!("{SOAK_HEADER}");
    for index in 0..intervals {
        let end = start + interval * (index as u32 + 1);
        let now = Instant::now();
        if end > now {
            std::thread::sleep(end - now);
        }
        let rss = pid.and_then(rss_mib);
        std::thread::sleep(Duration::from_secs(1).min(interval / 4));
        if let Ok(mut stats) = stats.lock() {
            if let Some(bucket) = stats.get_mut(index) {
                bucket.rss_mib = rss;
                print_interval(&interval_row(index, bucket, interval_seconds), interval_seconds);
            }
        }
    }
    for handle in handles {
        handle.join().map_err(|_| "a worker thread panicked".to_owned())?;
    }
    // How long after the end of the schedule the last answer came: the backlog left over.
    let drain = Instant::now().saturating_duration_since(start + total).as_secs_f64();
    let stats = stats.lock().map_err(|_| "statistics lock poisoned".to_owned())?;
    let rows: Vec<IntervalRow> =
        stats.iter().enumerate().map(|(i, bucket)| interval_row(i, bucket, interval_seconds)).collect();
    println!("\nfinal (late answers included)\n{SOAK_HEADER}");
    for row in &rows {
        print_interval(row, interval_seconds);
    }
    if let Some(out) = args.get("out") {
        let mut text = String::from("interval_end_s\treads\twrites\terrors\treq_per_s\tread_p50_ms\tread_p99_ms\twrite_p99_ms\tall_p99_ms\trss_mib\n");
        for row in &rows {
            text.push_str(&format!(
                "{:.0}\t{}\t{}\t{}\t{:.2}\t{:.4}\t{:.4}\t{:.4}\t{:.4}\t{}\n",
                (row.index + 1) as f64 * interval_seconds,
                row.reads,
                row.writes,
                row.errors,
                row.rate,
                row.read_p50_ms,
                row.read_p99_ms,
                row.write_p99_ms,
                row.all_p99_ms,
                row.rss_mib.map(|r| format!("{r:.1}")).unwrap_or_default()
            ));
        }
        std::fs::write(out, text).map_err(|e| format!("{out}: {e}"))?;
    }

    // Verdict: the last third of the run against the first third (at least one interval each).
    let third = (rows.len() / 3).max(1);
    let (first, last) = (&rows[..third.min(rows.len())], &rows[rows.len().saturating_sub(third)..]);
    let p99_first = median(first.iter().map(|r| r.all_p99_ms));
    let p99_last = median(last.iter().map(|r| r.all_p99_ms));
    let rss_first = mean(first.iter().filter_map(|r| r.rss_mib));
    let rss_last = mean(last.iter().filter_map(|r| r.rss_mib));
    let errors: u64 = rows.iter().map(|r| r.errors).sum();
    let worst_p99 = rows.iter().map(|r| r.all_p99_ms).filter(|p| p.is_finite()).fold(0.0, f64::max);
    // Flat: median interval p99 within 1.5× (or 2 ms: sub-millisecond p99s jitter by more than
    // 50%), RSS within 10% (+16 MiB for allocator noise), no backlog left at the end (the
    // offered rate was sustained), no errors.
    let p99_flat = p99_last <= (p99_first * 1.5).max(p99_first + 2.0);
    let rss_flat = rss_first.is_nan() || rss_last <= rss_first * 1.10 + 16.0;
    let sustained = drain <= 5.0;
    println!(
        "\nfirst {third} interval(s) vs last {third} (medians): p99 {p99_first:.3} -> {p99_last:.3} ms ({}), RSS {rss_first:.1} -> {rss_last:.1} MiB ({}); worst interval p99 {worst_p99:.3} ms; backlog drained {drain:.1} s after the end ({}); {errors} errors",
        if p99_flat { "flat" } else { "NOT flat" },
        if rss_flat { "flat" } else { "NOT flat" },
        if sustained { "sustained" } else { "NOT sustained" },
    );
    let flat = p99_flat && rss_flat && sustained && errors == 0;
    println!("verdict: {}", if flat { "FLAT" } else { "NOT FLAT" });
    Ok(())
}

fn usage() -> String {
    "usage: http_load run|check|pgbench-files|pgbench-stats|report|soak [--options]  (see the header of benches/http_load.rs)".to_owned()
}

fn main() {
    let result = Args::parse().and_then(|args| match args.mode.as_str() {
        "run" => run(&args),
        "check" => check(&args),
        "pgbench-files" => pgbench_files(&args),
        "pgbench-stats" => pgbench_stats(&args),
        "report" => report(&args),
        "soak" => soak(&args),
        // `cargo bench` with no arguments runs every bench target: nothing to do without a server.
        "" => {
            eprintln!("http_load: no mode given, nothing to do. {}", usage());
            Ok(())
        }
        other => Err(format!("unknown mode {other:?}. {}", usage())),
    });
    if let Err(error) = result {
        eprintln!("http_load: {error}");
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    // A `harness = false` bench compiles this module without running its tests under
    // `clippy --all-targets`; `cargo test --bench http_load` runs them.
    #[allow(unused_imports)]
    use super::*;

    #[test]
    fn test_chunked_and_content_length_responses() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno";
        let mut reader = BufReader::new(&raw[..]);
        let (first, close) = read_response(&mut reader).expect("test");
        assert_eq!((first.status, first.body.as_slice(), close), (200, &b"abcdefg"[..], false));
        let (second, close) = read_response(&mut reader).expect("test");
        assert_eq!((second.status, second.body.as_slice(), close), (404, &b"no"[..], true));
    }

    #[test]
    fn test_json_and_encoding() {
        let json = Json::parse(
            r#"{"total": 3, "entry": [{"resource": {"id": "a\u00e9\"b"}, "search": {"mode": "match"}}]}"#,
        )
        .expect("test");
        assert_eq!(json.get("total").and_then(Json::as_u64), Some(3));
        let page = parse_bundle(br#"{"total":1,"link":[{"relation":"next","url":"http://h/fhir/X?_getpages=1"}],"entry":[{"resource":{"resourceType":"X","id":"1"},"search":{"mode":"match"}}]}"#).expect("test");
        assert_eq!(page.matches, vec!["1"]);
        assert!(page.next.is_some());
        assert_eq!(encode_path("/fhir/X?a=b c|\"d\"&é"), "/fhir/X?a=b%20c%7C%22d%22&%C3%A9");
        assert!(assert_no_pgbench_variable("q", "SELECT 1::text, 'https://x', ':'").is_ok());
        assert!(assert_no_pgbench_variable("q", "SELECT '15:00'").is_err());
    }
}
