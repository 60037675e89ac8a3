//! Criterion benches of the query path, in process (no HTTP), for the fixed SPEC §3 request mix
//! of `benches/pg/mix.tsv` (UC1 to UC6; the same requests the HTTP comparison runs).
//!
//! What is measured, per request:
//! * `parse/<query>`   — `query::params::parse_query_string` + `ParseContext::parse_search`
//!   (lenient handling): raw query string → criterion tree and result controls.
//! * `execute/<query>` — `SearchService::search` on the parsed request: evaluation of the criterion,
//!   total, ordering, page, `_include` / `_revinclude` (what the server does under its read lock).
//! * `render/<query>`  — `fhir::bundle::render_searchset` of that page: reading the page's stored
//!   JSON from redb and writing the searchset Bundle.
//! * `full/<query>`    — the three in a row, i.e. one search request minus HTTP.
//!
//! Corpus: the deterministic generated ROR corpus (`ror_search::generate`), scale
//! `ROR_BENCH_SCALE` (demo by default; region, national) and seed `ROR_BENCH_SEED` (42), generated
//! and loaded into a fresh store in a temporary directory before measuring; or the NDJSON files in
//! `ROR_BENCH_CORPUS` (e.g. the corpus cached by run_comparison.sh). Corpus values for the mix's
//! placeholders come from `ROR_BENCH_VARS` (a vars.tsv written by run_comparison.sh) or are picked
//! from the loaded corpus by the rules of `pg/picks.sql` in simplified form.
//!
//! Measurement time is kept short (0.3 s warm-up, 1 s, 10 samples per bench): criterion's own flags
//! override it, e.g. `cargo bench --bench query -- --quick` or `-- --measurement-time 5 execute/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ror_search::app::{store_path, App};
use ror_search::fhir::bundle::{render_searchset, BundleLinks};
use ror_search::generate::{generate, GenerateOptions, Scale};
use ror_search::query::params::parse_query_string;
use ror_search::query::parse::{Handling, SearchRequest};
use ror_search::search::{EntryMode, SearchPage};
use serde_json::Value;

const MIX: &str = include_str!("pg/mix.tsv");

#[path = "common/mix.rs"]
mod mix;
use mix::{INC, SYSTEMS};

const FINESS_SYSTEM: &str = "https://finess.esante.gouv.fr";
const BASE_URL: &str = "http://127.0.0.1/fhir";

struct Fixture {
    app: App,
    /// Keeps the temporary store (and generated corpus) alive.
    _dirs: Vec<tempfile::TempDir>,
}

struct BenchQuery {
    name: String,
    resource_type: String,
    /// Percent-encoded query string, as it arrives over HTTP.
    query_string: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    ["Organization", "Location", "HealthcareService", "PractitionerRole", "Practitioner"]
        .iter()
        .map(|t| dir.join(format!("{t}.ndjson")))
        .filter(|p| p.exists())
        .collect()
}

fn fixture() -> Result<Fixture, String> {
    let mut dirs = Vec::new();
    let started = Instant::now();
    let files = match std::env::var("ROR_BENCH_CORPUS") {
        Ok(dir) => corpus_files(Path::new(&dir)),
        Err(_) => {
            let scale: Scale =
                env_or("ROR_BENCH_SCALE", "demo").parse().map_err(|e| format!("ROR_BENCH_SCALE: {e}"))?;
            let seed: u64 =
                env_or("ROR_BENCH_SEED", "42").parse().map_err(|e| format!("ROR_BENCH_SEED: {e}"))?;
            let corpus = tempfile::tempdir().map_err(|e| e.to_string())?;
            let summary = generate(&GenerateOptions {
                scale,
                seed,
                out_dir: corpus.path().to_owned(),
                progress: false,
            })
            .map_err(|e| format!("generate: {e}"))?;
            eprintln!("[bench query] generated {scale} corpus (seed {seed}): {:?}", summary.counts);
            dirs.push(corpus);
            summary.files
        }
    };
    if files.is_empty() {
        return Err("no corpus file found".to_owned());
    }
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    {
        let registry = ror_search::schema::Registry::embedded().map_err(|e| e.to_string())?;
        let store =
            ror_search::store::RedbStore::open(&store_path(data.path())).map_err(|e| e.to_string())?;
        let summary = ror_search::ingest::load::load_files(&registry, &store, &files, &mut |_| {})
            .map_err(|e| e.to_string())?;
        eprintln!("[bench query] loaded {} resources", summary.resources);
    }
    let app = App::open(data.path()).map_err(|e| format!("App::open: {e}"))?;
    eprintln!("[bench query] corpus ready in {:.1} s", started.elapsed().as_secs_f64());
    dirs.push(data);
    Ok(Fixture { app, _dirs: dirs })
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn expand(text: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unclosed ${{ in {text}"))?;
        let name = &after[..end];
        if name == "INC" {
            out.push_str(INC);
        } else if let Some((_, system)) = SYSTEMS.iter().find(|(n, _)| *n == name) {
            out.push_str("https://mos.esante.gouv.fr/NOS/");
            out.push_str(system);
        } else {
            out.push_str(vars.get(name).ok_or_else(|| format!("no value for ${{{name}}}"))?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Fixture {
    fn parse(&self, resource_type: &str, query_string: &str) -> Result<SearchRequest, String> {
        let params = parse_query_string(query_string).map_err(|e| e.to_string())?;
        self.app
            .parse_context(Handling::Lenient)
            .parse_search(resource_type, &params)
            .map_err(|e| e.to_string())
    }

    fn render(&self, page: &SearchPage, request: &SearchRequest) -> Result<Vec<u8>, String> {
        let links = BundleLinks {
            base_url: BASE_URL.to_owned(),
            self_url: format!("{BASE_URL}/bench"),
            next_url: None,
        };
        render_searchset(self.app.store.as_ref(), page, &links, request.elements.as_deref(), &request.ignored)
            .map_err(|e| e.to_string())
    }

    /// The first match of a search, as JSON.
    fn first(&self, resource_type: &str, query: &str) -> Option<Value> {
        let request = self.parse(resource_type, &encode(query)).ok()?;
        let page = self.app.search.search(&request).ok()?;
        let entry = page.entries.iter().find(|e| e.mode == EntryMode::Match)?;
        let bytes =
            self.app.store.read_many(&[(entry.resource_type.as_str(), &*entry.id, entry.version)]).ok()?;
        let bytes = bytes.into_iter().next()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// Values for the mix's corpus placeholders: ROR_BENCH_VARS, or picked from the corpus.
    fn vars(&self) -> Result<HashMap<String, String>, String> {
        if let Ok(path) = std::env::var("ROR_BENCH_VARS") {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            return Ok(text
                .lines()
                .filter_map(|l| l.split_once('\t'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect());
        }
        let r211 = expand("${R211}", &HashMap::new())?;
        let r66 = expand("${R66}", &HashMap::new())?;
        let identifier = |resource: &Value, keep: &dyn Fn(&Value) -> bool| -> Option<String> {
            resource["identifier"].as_array()?.iter().find(|i| keep(i))?["value"].as_str().map(str::to_owned)
        };
        let mut vars = HashMap::new();
        let location = self.first("Location", "_tag=52&_count=1").ok_or("no Location in region 52")?;
        vars.insert(
            "LOC_IDENT".to_owned(),
            identifier(&location, &|i| i["type"]["coding"][0]["code"] == "25").ok_or("no idLocation")?,
        );
        let offer = self
            .first("HealthcareService", &format!("specialty={r211}|013&_count=1"))
            .ok_or("no cardiology offer")?;
        vars.insert("HS_IDENT".to_owned(), identifier(&offer, &|_| true).ok_or("no offer identifier")?);
        let hospital = self.first("Organization", &format!("type={r66}|101&_count=1")).ok_or("no CHR/CHU")?;
        vars.insert(
            "FINESS".to_owned(),
            identifier(&hospital, &|i| i["system"] == FINESS_SYSTEM).ok_or("no FINESS")?,
        );
        let practitioner = self.first("Practitioner", "_count=1").ok_or("no Practitioner")?;
        vars.insert("PRACT_IDENT".to_owned(), identifier(&practitioner, &|_| true).ok_or("no idNat_PS")?);
        Ok(vars)
    }

    fn queries(&self) -> Result<Vec<BenchQuery>, String> {
        let vars = self.vars()?;
        let mut out = Vec::new();
        for line in MIX.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let fields: Vec<&str> = line.split('\t').collect();
            let (Some(name), Some(path)) = (fields.first(), fields.get(2)) else { continue };
            let path = expand(path, &vars)?;
            let rest = path.strip_prefix("/fhir/").ok_or_else(|| format!("{name}: path {path}"))?;
            let (resource_type, query) = rest.split_once('?').unwrap_or((rest, ""));
            out.push(BenchQuery {
                name: (*name).to_owned(),
                resource_type: resource_type.to_owned(),
                query_string: encode(query),
            });
        }
        Ok(out)
    }
}

fn bench_queries(c: &mut Criterion) {
    let fixture = match fixture() {
        Ok(fixture) => fixture,
        Err(error) => panic!("bench fixture: {error}"),
    };
    let queries = match fixture.queries() {
        Ok(queries) => queries,
        Err(error) => panic!("bench queries: {error}"),
    };
    // Parse, execute and render once: fail early, and show what each request returns.
    let mut prepared = Vec::new();
    for query in &queries {
        let request = fixture
            .parse(&query.resource_type, &query.query_string)
            .unwrap_or_else(|e| panic!("{}: {e}", query.name));
        let page = fixture.app.search.search(&request).unwrap_or_else(|e| panic!("{}: {e}", query.name));
        let body = fixture.render(&page, &request).unwrap_or_else(|e| panic!("{}: {e}", query.name));
        let matches = page.entries.iter().filter(|e| e.mode == EntryMode::Match).count();
        eprintln!(
            "[bench query] {:<26} total {:>7}  page {:>4} matches + {:>4} included  {:>8} bytes",
            query.name,
            page.total,
            matches,
            page.entries.len() - matches,
            body.len()
        );
        prepared.push((request, page));
    }

    let mut group = c.benchmark_group("parse");
    for query in &queries {
        group.bench_function(&query.name, |b| {
            b.iter(|| {
                fixture.parse(
                    std::hint::black_box(&query.resource_type),
                    std::hint::black_box(&query.query_string),
                )
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("execute");
    for (query, (request, _)) in queries.iter().zip(&prepared) {
        group.bench_function(&query.name, |b| {
            b.iter(|| fixture.app.search.search(std::hint::black_box(request)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("render");
    for (query, (request, page)) in queries.iter().zip(&prepared) {
        group.bench_function(&query.name, |b| b.iter(|| fixture.render(std::hint::black_box(page), request)));
    }
    group.finish();

    let mut group = c.benchmark_group("full");
    for query in &queries {
        group.bench_function(&query.name, |b| {
            b.iter(|| -> Result<Vec<u8>, String> {
                let request =
                    fixture.parse(&query.resource_type, std::hint::black_box(&query.query_string))?;
                let page = fixture.app.search.search(&request).map_err(|e| e.to_string())?;
                fixture.render(&page, &request)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(10);
    targets = bench_queries
}
criterion_main!(benches);
