//! ror-search command line: serve, load, generate, reindex.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ror_search::app::{store_path, App};
use ror_search::http::HttpState;

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

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, env = "ROR_SEARCH_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Public base URL of the FHIR endpoint, e.g. https://ror.example/fhir (derived from the request when unset).
    #[arg(long, env = "ROR_SEARCH_BASE_URL")]
    base_url: Option<String>,
    /// On first start with an empty store, generate and load the demo corpus.
    #[arg(long, env = "ROR_SEARCH_DEMO", default_value_t = false)]
    demo: bool,
    /// HTTP worker threads (default: number of cores).
    #[arg(long, env = "ROR_SEARCH_WORKERS")]
    workers: Option<usize>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "ROR_SEARCH_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    max_body_bytes: usize,
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
    let app = Arc::new(App::open(&data_dir).context("opening the store")?);
    // Steering indicators are recorded as MeasureReports through the writer (UC11).
    Arc::new(ror_search::indicators::IndicatorPublisher::new(app.indicators.clone(), app.writer.clone()))
        .spawn(std::time::Duration::from_secs(10))?;
    let state = actix_web::web::Data::new(HttpState {
        app,
        base_url: args.base_url.clone(),
        max_body_bytes: args.max_body_bytes,
    });
    let workers =
        args.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let max_body = args.max_body_bytes;
    tracing::info!(listen = %args.listen, "serving the FHIR API");
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(state.clone())
                .app_data(actix_web::web::PayloadConfig::new(max_body))
                .configure(ror_search::http::configure)
        })
        .workers(workers)
        .bind(&args.listen)?
        .run()
        .await
    })?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        None => serve(
            cli.data_dir,
            ServeArgs {
                listen: "127.0.0.1:8080".into(),
                base_url: None,
                demo: false,
                workers: None,
                max_body_bytes: 32 << 20,
            },
        ),
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
