//! Prometheus text exposition: request counts and latency histograms per route and status,
//! plus gauges read off the running service when scraped (no background sampling).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use parking_lot::Mutex;

use crate::app::App;
use crate::index::collection::HeapSize as _;

/// Upper bounds of the latency histogram, in seconds: fine below 10 ms where searches live.
const BUCKETS: [f64; 15] =
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

#[derive(Default, Clone)]
struct Series {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Route patterns (never raw paths) keep the label set bounded.
type SeriesKey = (String, String, u16);

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<SeriesKey, Series>>,
    denied: Mutex<BTreeMap<u16, u64>>,
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut requests = self.requests.lock();
        let series = requests.entry((route.to_owned(), method.to_owned(), status)).or_default();
        series.count += 1;
        series.sum_seconds += seconds;
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            series.buckets[bucket] += 1;
        }
    }

    /// Requests refused before routing (authentication, authorization, timeouts).
    pub fn refused(&self, status: u16) {
        *self.denied.lock().entry(status).or_default() += 1;
    }

    pub fn render(&self, app: &App) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let requests = self.requests.lock().clone();
        out.push_str("# HELP ror_http_requests_total HTTP requests by route pattern, method and status.\n");
        out.push_str("# TYPE ror_http_requests_total counter\n");
        for ((route, method, status), series) in &requests {
            let _ = writeln!(
                out,
                "ror_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                escape_label(route),
                series.count
            );
        }
        out.push_str(
            "# HELP ror_http_request_duration_seconds Time to produce the response head, by route, method and status.\n",
        );
        out.push_str("# TYPE ror_http_request_duration_seconds histogram\n");
        for ((route, method, status), series) in &requests {
            let labels = format!("route=\"{}\",method=\"{method}\",status=\"{status}\"", escape_label(route));
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(series.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "ror_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "ror_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                series.count
            );
            let _ = writeln!(out, "ror_http_request_duration_seconds_sum{{{labels}}} {}", series.sum_seconds);
            let _ = writeln!(out, "ror_http_request_duration_seconds_count{{{labels}}} {}", series.count);
        }
        out.push_str(
            "# HELP ror_http_refused_total Requests refused before reaching a route (401, 403, 503).\n",
        );
        out.push_str("# TYPE ror_http_refused_total counter\n");
        for (status, count) in self.denied.lock().iter() {
            let _ = writeln!(out, "ror_http_refused_total{{status=\"{status}\"}} {count}");
        }
        render_service(app, &mut out);
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
}

fn render_service(app: &App, out: &mut String) {
    let state = app.state.read();
    let (generation, applied_seq) = (state.generation, state.applied_seq);
    let live: Vec<(&str, u64)> =
        state.collections.iter().map(|c| (c.resource_type.as_str(), c.len())).collect();
    let heap: Vec<(&str, _)> =
        state.collections.iter().map(|c| (c.resource_type.as_str(), c.heap_parts())).collect();
    let param_heap: Vec<(&str, &str, usize)> = state
        .registry
        .resources
        .iter()
        .filter_map(|schema| Some((schema, state.collections.get(schema.type_index)?)))
        .flat_map(|(schema, collection)| {
            schema.params.iter().enumerate().map(move |(index, param)| {
                (schema.resource_type.as_str(), param.code.as_str(), collection.param(index).heap_bytes())
            })
        })
        .filter(|(_, _, bytes)| *bytes > 0)
        .collect();
    gauge(
        out,
        "ror_snapshot_generation",
        "Search state generation (bumped by each reindex swap).",
        generation,
    );
    gauge(out, "ror_search_applied_seq", "Highest store change sequence visible to search.", applied_seq);
    if let Ok(last_seq) = app.store.last_seq() {
        gauge(out, "ror_store_last_seq", "Highest committed store change sequence.", last_seq);
        gauge(
            out,
            "ror_write_visibility_lag_changes",
            "Committed changes not yet visible to search.",
            last_seq.saturating_sub(applied_seq),
        );
    }
    let stats = *app.writer.stats.lock();
    gauge(
        out,
        "ror_write_to_visible_seconds",
        "Commit-to-visible time of the last write group (writes are acknowledged once visible).",
        stats.last_publish_micros as f64 / 1e6,
    );
    let _ = writeln!(
        out,
        "# HELP ror_writer_groups_total Group commits.\n# TYPE ror_writer_groups_total counter"
    );
    let _ = writeln!(out, "ror_writer_groups_total {}", stats.groups);
    let _ = writeln!(
        out,
        "# HELP ror_writer_units_total Write units committed.\n# TYPE ror_writer_units_total counter"
    );
    let _ = writeln!(out, "ror_writer_units_total {}", stats.units);
    let _ = writeln!(
        out,
        "# HELP ror_index_resources Live resources in the search state.\n# TYPE ror_index_resources gauge"
    );
    for (resource_type, count) in &live {
        let _ = writeln!(out, "ror_index_resources{{type=\"{resource_type}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP ror_index_heap_bytes Estimated heap bytes of the current snapshot's structures, by \
         type and part (parts shared with the other published copy are counted once here).\n\
         # TYPE ror_index_heap_bytes gauge"
    );
    for (resource_type, parts) in &heap {
        for (part, bytes) in parts {
            let _ = writeln!(out, "ror_index_heap_bytes{{type=\"{resource_type}\",part=\"{part}\"}} {bytes}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP ror_index_param_heap_bytes Estimated heap bytes of each search parameter's index \
         (the `params` part of ror_index_heap_bytes, by parameter).\n\
         # TYPE ror_index_param_heap_bytes gauge"
    );
    for (resource_type, param, bytes) in &param_heap {
        let _ =
            writeln!(out, "ror_index_param_heap_bytes{{type=\"{resource_type}\",param=\"{param}\"}} {bytes}");
    }
    gauge(out, "ror_text_index_documents", "Documents in the full-text index.", app.text.num_docs());
    gauge(out, "ror_text_index_segments", "Segments of the full-text index.", app.text.segment_count());
    gauge(out, "ror_text_index_bytes", "Bytes of the full-text index's files.", app.text.space_bytes());
    let store_file = crate::app::store_path(&app.data_dir);
    if let Ok(metadata) = std::fs::metadata(&store_file) {
        gauge(out, "ror_store_size_bytes", "Size of the store file.", metadata.len());
    }
    if let Some(rss) = resident_bytes() {
        gauge(out, "ror_process_resident_memory_bytes", "Resident memory of the process.", rss);
    }
    let _ =
        writeln!(out, "# HELP ror_tasks Admin and export tasks by kind and status.\n# TYPE ror_tasks gauge");
    for ((kind, status), count) in task_states(app) {
        let _ = writeln!(out, "ror_tasks{{kind=\"{kind}\",status=\"{status}\"}} {count}");
    }
}

fn task_states(app: &App) -> BTreeMap<(&'static str, &'static str), u64> {
    let mut states = BTreeMap::new();
    for task in app.tasks.list() {
        *states.entry((task.kind, task.status().as_str())).or_default() += 1;
    }
    for (status, count) in app.exports.status_counts() {
        states.insert(("export", status), count);
    }
    states
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
