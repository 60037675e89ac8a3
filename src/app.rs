//! The running service: store, search state, writer and search service wired together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::index::text::TextIndex;
use crate::index::SearchState;
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
    pub state: Arc<RwLock<SearchState>>,
    pub text: Arc<TextIndex>,
    pub writer: Writer,
    pub search: SearchService,
    pub communes: Communes,
    pub data_dir: PathBuf,
    pub filter_limits: FilterLimits,
}

pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("store.redb")
}

impl App {
    /// Open the store under `data_dir` and rebuild the search state from it.
    pub fn open(data_dir: &Path) -> Result<App> {
        let registry = Arc::new(Registry::embedded().map_err(Error::internal)?);
        let store: Arc<dyn ResourceStore> = Arc::new(RedbStore::open(&store_path(data_dir))?);
        let text = Arc::new(TextIndex::create_in_ram()?);
        let state = Arc::new(RwLock::new(SearchState::new(registry.clone(), text.searcher())));
        let started = std::time::Instant::now();
        let count = rebuild(store.as_ref(), &state, &text, None)?;
        tracing::info!(
            resources = count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "search state rebuilt from the store"
        );
        let writer = Writer::spawn(store.clone(), state.clone(), text.clone())?;
        let search = SearchService::new(state.clone(), text.clone());
        Ok(App {
            registry,
            store,
            state,
            text,
            writer,
            search,
            communes: Communes::embedded()?,
            data_dir: data_dir.to_owned(),
            filter_limits: FilterLimits::default(),
        })
    }

    pub fn parse_context(&self, handling: Handling) -> ParseContext<'_> {
        ParseContext {
            registry: &self.registry,
            communes: &self.communes,
            handling,
            filter_limits: self.filter_limits,
        }
    }
}
