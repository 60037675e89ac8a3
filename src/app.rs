//! The running service: store, search state, writer and search service wired together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::index::text::TextIndex;
use crate::index::{SearchSnapshots, SearchState};
use crate::ingest::writer::{rebuild, Writer};
use crate::query::filter::FilterLimits;
use crate::query::parse::{CommuneLookup, Handling, ParseContext};
use crate::schema::Registry;
use crate::search::SearchService;
use crate::store::{RedbStore, ResourceStore};

/// INSEE commune code → centre, from the embedded COG table (fixtures/reference/communes.csv.gz).
pub struct Communes {
    centres: HashMap<String, (f64, f64)>,
}

impl Communes {
    pub fn embedded() -> Result<Communes> {
        let table = crate::generate::reference::commune_table().map_err(Error::internal)?;
        Ok(Communes { centres: table.iter().map(|c| (c.cog.clone(), (c.lat, c.lon))).collect() })
    }

    pub fn len(&self) -> usize {
        self.centres.len()
    }

    pub fn is_empty(&self) -> bool {
        self.centres.is_empty()
    }
}

impl CommuneLookup for Communes {
    fn centre(&self, cog: &str) -> Option<(f64, f64)> {
        self.centres.get(cog).copied()
    }
}

pub struct App {
    pub registry: Arc<Registry>,
    pub store: Arc<dyn ResourceStore>,
    pub state: Arc<SearchSnapshots>,
    pub text: Arc<TextIndex>,
    pub writer: Writer,
    pub search: SearchService,
    pub communes: Communes,
    pub data_dir: PathBuf,
    pub filter_limits: FilterLimits,
    /// Limits on what a client controls (configuration `[limits]`).
    pub limits: crate::config::Limits,
    /// Bulk `$export` jobs and their files under `<data dir>/exports`.
    pub exports: crate::export::ExportJobs,
    /// Steering indicators (UC11), maintained by the writer's commit hook.
    pub indicators: Arc<crate::indicators::Indicators>,
    /// Admin tasks (online reindex) of this process.
    pub tasks: crate::admin::AdminTasks,
    /// The threads searches run on.
    pub search_pool: crate::search::pool::SearchPool,
}

pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("store.redb")
}

impl App {
    /// Open the store under `data_dir` and rebuild the search state from it.
    pub fn open(data_dir: &Path) -> Result<App> {
        App::open_with_limits(data_dir, crate::config::Limits::default())
    }

    /// Open with the configured limits on what clients control.
    pub fn open_with_limits(data_dir: &Path, limits: crate::config::Limits) -> Result<App> {
        let registry = Arc::new(Registry::embedded().map_err(Error::internal)?);
        let store: Arc<dyn ResourceStore> = Arc::new(RedbStore::open_with_version_cache(
            &store_path(data_dir),
            limits.render_cache_mb << 20,
        )?);
        let text = Arc::new(TextIndex::create_in_ram(registry.resources.len())?);
        let mut built = SearchState::new(registry.clone(), text.searcher());
        let started = std::time::Instant::now();
        let count = rebuild(store.as_ref(), &mut built, &text, None)?;
        let state = Arc::new(SearchSnapshots::new(built));
        tracing::info!(
            resources = count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "search state rebuilt from the store"
        );
        // Indicators start from the store before the writer runs, then follow every commit.
        let resolver =
            Arc::new(crate::indicators::StoreFocusResolver { state: state.clone(), store: store.clone() });
        let indicators = Arc::new(crate::indicators::Indicators::from_store(store.as_ref(), resolver)?);
        // ROR_SEARCH_INDICATORS=off stops the per-commit maintenance (to measure its cost).
        let maintain = std::env::var("ROR_SEARCH_INDICATORS").map(|v| v != "off").unwrap_or(true);
        let hook: Option<Arc<dyn crate::indicators::CommitHook>> =
            if maintain { Some(indicators.clone() as Arc<dyn crate::indicators::CommitHook>) } else { None };
        let writer = Writer::spawn(store.clone(), state.clone(), text.clone(), hook, limits.search_priority)?;
        let mut search = SearchService::new(state.clone(), text.clone());
        search.max_included = limits.max_included;
        Ok(App {
            registry,
            store,
            state,
            text,
            writer,
            search,
            communes: Communes::embedded()?,
            data_dir: data_dir.to_owned(),
            filter_limits: limits.filter_limits(),
            limits,
            exports: crate::export::ExportJobs::open(
                data_dir.join("exports"),
                limits.max_concurrent_exports,
            )?,
            indicators,
            tasks: crate::admin::AdminTasks::new(),
            search_pool: crate::search::pool::SearchPool::new(limits.search_threads, limits.search_priority)?,
        })
    }

    /// Start an online reindex (one at a time); see [`crate::admin::reindex`].
    pub fn start_reindex(&self) -> Result<crate::admin::reindex::Started> {
        crate::admin::reindex::start(
            &self.tasks,
            self.store.clone(),
            self.registry.clone(),
            &self.state,
            self.writer.clone(),
        )
    }

    /// A Task must point at an existing resource (SPEC §1.7: focus 1..1), by literal reference
    /// or by identifier; `pending` lists (type, id) written in the same Bundle.
    pub fn check_task_focus(&self, resource: &serde_json::Value, pending: &[(String, String)]) -> Result<()> {
        use crate::fhir::focus::Focus;
        if resource.get("resourceType").and_then(serde_json::Value::as_str) != Some("Task") {
            return Ok(());
        }
        let focus = Focus::of_task(resource)?;
        if let Focus::Reference { resource_type, id } = &focus {
            if pending.iter().any(|(t, i)| t == resource_type && i == id) {
                return Ok(());
            }
        }
        match focus.find(&self.state.read()) {
            Some(_) => Ok(()),
            None => Err(focus.missing()),
        }
    }

    pub fn parse_context(&self, handling: Handling) -> ParseContext<'_> {
        ParseContext {
            registry: &self.registry,
            communes: &self.communes,
            handling,
            filter_limits: self.filter_limits,
            max_count: self.limits.max_count,
            max_or_values: self.limits.max_or_values,
        }
    }
}
