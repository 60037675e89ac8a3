//! ror-search command line: serve, load, generate, reindex.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ror_search::app::{store_path, App};
use ror_search::config::Config;
use ror_search::http::HttpState;

/// glibc's allocator fragments under this service's churn of small JSON values and postings:
/// under a steady capacity PATCH load the writer's time per commit crept up (p99 4.3 → 8.3 ms in
/// 8 minutes) with `malloc_consolidate` high in its profile; with mimalloc it stays flat (4–6 ms)
/// and the resident set is smaller.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ror-search",
    version,
    about = "FHIR R4 search service for the ROR (Répertoire Opérationnel des Ressources)"
)]
struct Cli {
    /// Directory of the embedded store of record.
    #[arg(long, env = "ROR_SEARCH_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the FHIR API (the default command).
    Serve(ServeArgs),
    /// Load NDJSON or Bundle files into the store.
    Load {
        /// Files to load (.ndjson, .json, optionally .gz).
        #[arg(required = true, env = "ROR_SEARCH_LOAD_FILES", value_delimiter = ',')]
        files: Vec<PathBuf>,
    },
    /// Generate the deterministic ROR corpus from the embedded FINESS and COG data.
    Generate {
        #[arg(long, env = "ROR_SEARCH_SCALE", default_value = "demo")]
        scale: String,
        #[arg(long, env = "ROR_SEARCH_SEED", default_value_t = 42)]
        seed: u64,
        #[arg(long, env = "ROR_SEARCH_OUT", default_value = "./corpus")]
        out: PathBuf,
    },
    /// Rebuild the search state from the store offline and check it against the store.
    Reindex,
    /// Write a BI CSV extract (offers, locations, organizations, anomalies, indicators).
    Export {
        /// Extract name; columns documented in index-schemas/exports.toml.
        name: String,
        /// Keep resources of this region (meta.tag TRE_R30 code).
        #[arg(long, env = "ROR_SEARCH_EXPORT_REGION")]
        region: Option<String>,
        /// Keep resources updated at or after this date or instant.
        #[arg(long, env = "ROR_SEARCH_EXPORT_SINCE")]
        since: Option<String>,
        /// Output file (standard output when absent).
        #[arg(long, env = "ROR_SEARCH_EXPORT_OUT")]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args, Clone, Default)]
struct ServeArgs {
    /// Configuration file (TOML; keys documented in the README). Flags below override it.
    #[arg(long, env = "ROR_SEARCH_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "ROR_SEARCH_LISTEN")]
    listen: Option<String>,
    /// Serve plain HTTP on a non-loopback address (local development only; loopback needs no flag).
    #[arg(long, env = "ROR_SEARCH_PLAIN_HTTP", default_value_t = false)]
    plain_http: bool,
    /// Public base URL of the FHIR endpoint, e.g. https://ror.example/fhir (derived from the request when unset).
    #[arg(long, env = "ROR_SEARCH_BASE_URL")]
    base_url: Option<String>,
    /// On first start with an empty store, generate and load the demo corpus.
    #[arg(long, env = "ROR_SEARCH_DEMO", default_value_t = false)]
    demo: bool,
    /// HTTP worker threads (default: number of cores).
    #[arg(long, env = "ROR_SEARCH_WORKERS")]
    workers: Option<usize>,
    /// Largest accepted request body, in bytes (default 32 MiB).
    #[arg(long, env = "ROR_SEARCH_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Raster tile URL template for the /console map (`https://…/{z}/{x}/{y}.png`); without one the
    /// map draws the embedded commune dot cloud and needs no network.
    #[arg(long, env = "ROR_SEARCH_CONSOLE_TILE_URL")]
    console_tile_url: Option<String>,
}

impl ServeArgs {
    /// The configuration file (or the defaults), with the command-line flags applied over it.
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(listen) = &self.listen {
            config.server.listen = listen.clone();
        }
        if self.base_url.is_some() {
            config.server.base_url = self.base_url.clone();
        }
        if self.workers.is_some() {
            config.server.workers = self.workers;
        }
        if let Some(max_body_bytes) = self.max_body_bytes {
            config.limits.max_body_bytes = max_body_bytes;
        }
        if self.console_tile_url.is_some() {
            config.server.console_tile_url = self.console_tile_url.clone();
        }
        if self.plain_http {
            config.server.plain_http = true;
        }
        // Without TLS, plain HTTP on loopback needs no opt-in (the demo); any other address does.
        let loopback = config
            .server
            .listen
            .parse::<std::net::SocketAddr>()
            .map(|address| address.ip().is_loopback())
            .unwrap_or(false);
        if config.tls.is_none() && self.config.is_none() && loopback {
            config.server.plain_http = true;
        }
        config.validate()?;
        Ok(config)
    }
}

fn progress_bar(length: u64, message: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(length);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})",
    ) {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar
}

fn load(data_dir: &std::path::Path, files: &[PathBuf]) -> anyhow::Result<()> {
    let registry = ror_search::schema::Registry::embedded().map_err(anyhow::Error::msg)?;
    let store = ror_search::store::RedbStore::open(&store_path(data_dir))?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message("loading");
    let started = std::time::Instant::now();
    let summary = ror_search::ingest::load::load_files(&registry, &store, files, &mut |n| bar.inc(n))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "loaded {} resources from {} files in {:.1} s ({:.0} resources/s)",
        summary.resources,
        summary.files,
        seconds,
        summary.resources as f64 / seconds.max(1e-9)
    );
    Ok(())
}

fn generate(scale: &str, seed: u64, out: &std::path::Path, progress: bool) -> anyhow::Result<Vec<PathBuf>> {
    let scale = scale.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = ror_search::generate::GenerateOptions { scale, seed, out_dir: out.to_owned(), progress };
    let summary = ror_search::generate::generate(&options)?;
    for (resource_type, count) in &summary.counts {
        println!("{resource_type}: {count}");
    }
    Ok(summary.files)
}

fn serve(data_dir: PathBuf, args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let authenticator = ror_search::security::auth::Authenticator::from_config(&config)?;
    let tls = config.tls.as_ref().map(ror_search::security::tls::server_config).transpose()?;
    if args.demo {
        let store = ror_search::store::RedbStore::open(&store_path(&data_dir))?;
        let empty = ror_search::store::ResourceStore::last_seq(&store)? == 0;
        drop(store);
        if empty {
            let corpus = data_dir.join("demo-corpus");
            tracing::info!(dir = %corpus.display(), "empty store: generating and loading the demo corpus");
            let files = generate("demo", 42, &corpus, false)?;
            load(&data_dir, &files)?;
        }
    }
    let limits = config.limits;
    // Before the writer thread starts: it is one of the threads that yield to searches.
    ror_search::search::pool::favour_searches(limits.background_nice);
    let app = Arc::new(
        App::open_with_limits(&data_dir, limits)
            .context("opening the store and starting the service's threads")?,
    );
    // Steering indicators are recorded as MeasureReports through the writer (UC11).
    Arc::new(ror_search::indicators::IndicatorPublisher::new(app.indicators.clone(), app.writer.clone()))
        .spawn(std::time::Duration::from_secs(10))?;
    let operations = Arc::new(ror_search::http::middleware::Operations::new(
        authenticator,
        std::time::Duration::from_secs(limits.request_timeout_seconds),
    ));
    let state = actix_web::web::Data::new(HttpState {
        app: app.clone(),
        base_url: config.server.base_url.clone(),
        max_body_bytes: limits.max_body_bytes,
        ops: operations.clone(),
    });
    let workers = config
        .server
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let console = actix_web::web::Data::new(ror_search::http::ConsoleSettings {
        tile_url: config.server.console_tile_url.clone(),
    });
    let grace = config.server.shutdown_grace_seconds;
    let listen = config.server.listen.clone();
    tracing::info!(listen = %listen, tls = tls.is_some(), security = operations.auth.enabled(), "serving the FHIR API");
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let server =
            actix_web::HttpServer::new(move || ror_search::http::application(state.clone(), console.clone()))
                .workers(workers)
                .shutdown_timeout(grace)
                // Signals are handled below: readiness goes down before the listener closes.
                .disable_signals()
                .on_connect(|connection, extensions| {
                    use actix_tls_stream::TlsStream;
                    if let Some(stream) = connection.downcast_ref::<TlsStream>() {
                        let (_, session) = stream.get_ref();
                        if let Some(certificate) = session.peer_certificates().and_then(|chain| chain.first())
                        {
                            extensions
                                .insert(ror_search::security::auth::PeerCertificate(certificate.to_vec()));
                        }
                    }
                });
        let server = match tls {
            Some(tls) => server.bind_rustls_0_23(&listen, tls)?,
            None => server.bind(&listen)?,
        }
        .run();
        let handle = server.handle();
        let operations_for_signal = operations.clone();
        actix_web::rt::spawn(async move {
            wait_for_shutdown_signal().await;
            tracing::info!("shutdown requested: refusing new connections and draining requests");
            operations_for_signal.set_ready(false);
            handle.stop(true).await;
        });
        server.await
    })?;
    // Every acknowledged write is already committed; this waits for the writes still queued.
    // The writer runs queued messages in order, so an empty exclusive task returns only once
    // everything queued before it is committed and applied.
    if let Err(error) = app.writer.run_exclusive(|_| ()) {
        tracing::warn!(%error, "the writer could not be drained");
    }
    app.store.close();
    tracing::info!("drained and flushed; exiting");
    Ok(())
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "SIGTERM handler unavailable; only Ctrl-C stops the server gracefully");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The TLS stream type of actix's rustls 0.23 acceptor.
mod actix_tls_stream {
    pub type TlsStream = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
}

fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // One JSON object per line (with the request span: id, method, path) for log collectors.
    if std::env::var("ROR_SEARCH_LOG_FORMAT").is_ok_and(|format| format == "json") {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.data_dir, ServeArgs::default()),
        Some(Command::Serve(args)) => serve(cli.data_dir, args),
        Some(Command::Load { files }) => load(&cli.data_dir, &files),
        Some(Command::Generate { scale, seed, out }) => generate(&scale, seed, &out, true).map(|_| ()),
        Some(Command::Export { name, region, since, out }) => {
            let app = App::open(&cli.data_dir)?;
            let extract = ror_search::export::extracts::Extract::from_name(&name)?;
            let filters = ror_search::export::extracts::ExtractFilters::new(region, since)?;
            let plan = extract.plan(&app, &filters)?;
            let bar = progress_bar(plan.total(), "exporting");
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let rows = plan.write(&app, &mut sink, &|n| bar.inc(n))?;
            bar.finish_and_clear();
            eprintln!("{rows} rows written");
            Ok(())
        }
        Some(Command::Reindex) => {
            let started = std::time::Instant::now();
            let app = App::open(&cli.data_dir)?;
            let counts = app.store.counts()?;
            let state = app.state.read();
            let mut mismatches = 0;
            for (resource_type, count) in &counts {
                let indexed = state.collection_by_name(resource_type).map(|c| c.len()).unwrap_or(0);
                println!("{resource_type}: store {count}, search state {indexed}");
                if indexed != *count {
                    mismatches += 1;
                }
            }
            println!("rebuilt in {:.1} s", started.elapsed().as_secs_f64());
            anyhow::ensure!(
                mismatches == 0,
                "{mismatches} resource types differ between the store and the search state"
            );
            Ok(())
        }
    }
}
