//! The service configuration file (TOML). Every key is documented in the README; unknown keys
//! are rejected so that a typo never silently turns a protection off.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::security::AccessProfile;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub consumers: Vec<ConsumerConfig>,
    #[serde(default)]
    pub limits: Limits,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// Public base URL of the FHIR endpoint, e.g. `https://ror.example/fhir`.
    pub base_url: Option<String>,
    pub workers: Option<usize>,
    /// Serving without TLS must be asked for: it is only for local development.
    pub plain_http: bool,
    /// `/metrics` without credentials (for a scraper on a private network).
    pub public_metrics: bool,
    /// Seconds given to in-flight requests to finish on SIGTERM/SIGINT.
    pub shutdown_grace_seconds: u64,
    /// Tile URL template for the console map (`{z}/{x}/{y}`); none draws the plain outline.
    pub console_tile_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            base_url: None,
            workers: None,
            plain_http: false,
            public_metrics: false,
            shutdown_grace_seconds: 30,
            console_tile_url: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server.
    pub certificate: PathBuf,
    /// PEM private key of the server (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// PEM bundle of the CAs that issue client certificates; enables mutual TLS.
    pub client_ca: Option<PathBuf>,
    /// Refuse the TLS handshake without a client certificate. When false, clients without a
    /// certificate may still authenticate with a bearer token (profile 0 consumers).
    #[serde(default)]
    pub require_client_certificate: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub jwt: Option<JwtConfig>,
    /// Require the four `Ror-*` headers of SPEC §5.1 on every FHIR call.
    pub require_ror_headers: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// JSON Web Key Set file holding the issuer's public keys (RS256 / ES256).
    pub jwks_file: PathBuf,
    pub issuer: String,
    pub audience: String,
    /// Claim naming the client, matched against `consumers.client_id`.
    #[serde(default = "default_client_claim")]
    pub client_claim: String,
    /// Tolerated clock skew.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Profile of a client with a valid token that no consumer entry names; absent rejects it.
    pub default_profile: Option<AccessProfile>,
}

fn default_client_claim() -> String {
    "azp".into()
}

fn default_leeway() -> u64 {
    30
}

/// What a consumer may do, besides what its access profile lets it see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interaction {
    /// Search and read.
    Read,
    /// Create, update, patch, delete, transaction/batch.
    Write,
    /// `$export` and the CSV extracts.
    Export,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    pub name: String,
    pub profile: AccessProfile,
    /// Client certificate subject as an RFC 4514 string (`CN=…,O=…`).
    pub certificate_subject: Option<String>,
    /// SHA-256 of the client certificate (DER), hex, colons allowed.
    pub certificate_fingerprint: Option<String>,
    /// Token client id (value of the configured client claim).
    pub client_id: Option<String>,
    #[serde(default = "default_interactions")]
    pub interactions: Vec<Interaction>,
    /// Resource types this consumer may use; empty means all.
    #[serde(default)]
    pub resource_types: Vec<String>,
    /// May use `/admin` (reindex, tasks, status) and `/metrics`.
    #[serde(default)]
    pub admin: bool,
}

fn default_interactions() -> Vec<Interaction> {
    vec![Interaction::Read]
}

/// Everything a client controls is bounded; each limit, when exceeded, is a 4xx answer
/// naming what was too large.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// Largest `_count`; a larger one is rejected (strict) or lowered to it (lenient).
    pub max_count: u32,
    /// Values of one parameter joined by commas (OR).
    pub max_or_values: usize,
    pub max_filter_depth: usize,
    pub max_filter_length: usize,
    pub max_filter_comparisons: usize,
    /// Resources added by `_include`/`_revinclude` to one page.
    pub max_included: usize,
    /// Seconds a request may take before it is answered 503.
    pub request_timeout_seconds: u64,
    pub max_concurrent_exports: usize,
    /// Searches run at once (more wait in line); see [`crate::search::pool`].
    pub search_threads: usize,
    /// Nice value of the threads doing writes, exports and indicators while serving, so that
    /// searches come first for the CPU (0, the default: same priority as searches); 0–19.
    /// See [`crate::search::pool`] for what it trades.
    pub background_nice: i32,
    /// `"realtime"`: search threads and HTTP workers preempt all other work (`"normal"`, the
    /// default: the kernel shares the cores). See [`crate::search::pool`] for what it trades and
    /// the privilege it needs.
    pub search_priority: crate::search::pool::SearchPriority,
    /// MiB of resource versions kept ready to render search pages, out of the store's B-tree
    /// (0: none); see [`crate::store::RedbStore::open_with_version_cache`].
    pub render_cache_mb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        let filter = crate::query::filter::FilterLimits::default();
        Limits {
            max_body_bytes: 32 << 20,
            max_count: crate::query::parse::MAX_COUNT,
            max_or_values: crate::query::parse::MAX_OR_VALUES,
            max_filter_depth: filter.max_depth,
            max_filter_length: filter.max_len,
            max_filter_comparisons: filter.max_comparisons,
            max_included: crate::search::service::MAX_INCLUDES,
            request_timeout_seconds: 60,
            max_concurrent_exports: crate::export::bulk::MAX_RUNNING_EXPORTS,
            search_threads: crate::search::pool::SearchPool::default_threads(),
            background_nice: 0,
            search_priority: crate::search::pool::SearchPriority::Normal,
            render_cache_mb: 64,
        }
    }
}

impl Limits {
    pub fn filter_limits(&self) -> crate::query::filter::FilterLimits {
        crate::query::filter::FilterLimits {
            max_depth: self.max_filter_depth,
            max_len: self.max_filter_length,
            max_comparisons: self.max_filter_comparisons,
        }
    }
}

impl Config {
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the configuration {}: {e}", path.display()))?;
        Config::parse(&text, path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| anyhow::anyhow!("configuration {}: {e}", path.display()))
    }

    /// Parse and validate; relative file paths are resolved against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> anyhow::Result<Config> {
        let mut config: Config = toml::from_str(text)?;
        config.resolve_paths(base_dir);
        config.validate()?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base_dir: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base_dir.join(&*path);
            }
        };
        if let Some(tls) = &mut self.tls {
            resolve(&mut tls.certificate);
            resolve(&mut tls.private_key);
            if let Some(ca) = &mut tls.client_ca {
                resolve(ca);
            }
        }
        if let Some(jwt) = &mut self.auth.jwt {
            resolve(&mut jwt.jwks_file);
        }
    }

    /// Security is on as soon as consumers or tokens are configured.
    pub fn security_enabled(&self) -> bool {
        !self.consumers.is_empty() || self.auth.jwt.is_some()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.server
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| anyhow::anyhow!("server.listen {:?}: {e}", self.server.listen))?;
        if self.tls.is_none() && !self.server.plain_http {
            anyhow::bail!(
                "no [tls] section: set server.plain_http = true to serve plain HTTP (local development only)"
            );
        }
        if self.tls.as_ref().is_some_and(|t| t.require_client_certificate && t.client_ca.is_none()) {
            anyhow::bail!("tls.require_client_certificate needs tls.client_ca");
        }
        let mut names = std::collections::HashSet::new();
        for consumer in &self.consumers {
            if !names.insert(consumer.name.as_str()) {
                anyhow::bail!("consumer {:?} is declared twice", consumer.name);
            }
            let by_certificate =
                consumer.certificate_subject.is_some() || consumer.certificate_fingerprint.is_some();
            if !by_certificate && consumer.client_id.is_none() {
                anyhow::bail!(
                    "consumer {:?} needs certificate_subject, certificate_fingerprint or client_id",
                    consumer.name
                );
            }
            if by_certificate && self.tls.as_ref().and_then(|t| t.client_ca.as_ref()).is_none() {
                anyhow::bail!(
                    "consumer {:?} is identified by certificate but tls.client_ca is not set",
                    consumer.name
                );
            }
            if consumer.client_id.is_some() && self.auth.jwt.is_none() {
                anyhow::bail!(
                    "consumer {:?} has a client_id but [auth.jwt] is not configured",
                    consumer.name
                );
            }
            if let Some(fingerprint) = &consumer.certificate_fingerprint {
                let hex: String = fingerprint.chars().filter(|c| *c != ':').collect();
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    anyhow::bail!(
                        "consumer {:?}: certificate_fingerprint is not a SHA-256 in hex",
                        consumer.name
                    );
                }
            }
        }
        let limits = &self.limits;
        for (name, value) in [
            ("max_body_bytes", limits.max_body_bytes),
            ("max_count", limits.max_count as usize),
            ("max_or_values", limits.max_or_values),
            ("max_filter_depth", limits.max_filter_depth),
            ("max_filter_length", limits.max_filter_length),
            ("max_filter_comparisons", limits.max_filter_comparisons),
            ("request_timeout_seconds", limits.request_timeout_seconds as usize),
            ("max_concurrent_exports", limits.max_concurrent_exports),
            ("search_threads", limits.search_threads),
        ] {
            if value == 0 {
                anyhow::bail!("limits.{name} must be positive");
            }
        }
        if !(0..=19).contains(&limits.background_nice) {
            anyhow::bail!("limits.background_nice must be within 0..=19");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected() {
        let error = Config::parse("[server]\nplain_http = true\nlisten_on = \"x\"\n", Path::new("."))
            .expect_err("unknown key");
        assert!(error.to_string().contains("listen_on"), "{error}");
        let error = Config::parse("[server]\nplain_http = true\n[limits]\nmax_cout = 3\n", Path::new("."))
            .expect_err("unknown key");
        assert!(error.to_string().contains("max_cout"), "{error}");
        let error =
            Config::parse("[server]\nplain_http = true\n[limits]\nbackground_nice = 20\n", Path::new("."))
                .expect_err("out of range");
        assert!(error.to_string().contains("background_nice"), "{error}");
        let config =
            Config::parse("[server]\nplain_http = true\n[limits]\nbackground_nice = 0\n", Path::new("."))
                .expect("off");
        assert_eq!(config.limits.background_nice, 0);
        assert_eq!(config.limits.search_priority, crate::search::pool::SearchPriority::Normal);
        let config = Config::parse(
            "[server]\nplain_http = true\n[limits]\nsearch_priority = \"realtime\"\n",
            Path::new("."),
        )
        .expect("realtime");
        assert_eq!(config.limits.search_priority, crate::search::pool::SearchPriority::Realtime);
        let error = Config::parse(
            "[server]\nplain_http = true\n[limits]\nsearch_priority = \"urgent\"\n",
            Path::new("."),
        )
        .expect_err("unknown priority");
        assert!(error.to_string().contains("search_priority"), "{error}");
    }

    #[test]
    fn plain_http_must_be_explicit() {
        let error = Config::parse("", Path::new(".")).expect_err("no tls");
        assert!(error.to_string().contains("plain_http"), "{error}");
        let config = Config::parse("[server]\nplain_http = true\n", Path::new(".")).expect("plain");
        assert_eq!(config.limits.max_count, 1000);
        assert!(!config.security_enabled());
    }

    #[test]
    fn consumers_are_checked() {
        let text =
            "[server]\nplain_http = true\n[[consumers]]\nname = \"a\"\nprofile = 7\nclient_id = \"x\"\n";
        let error = Config::parse(text, Path::new(".")).expect_err("profile 7");
        assert!(error.to_string().contains("profile 7"), "{error}");
        let text =
            "[server]\nplain_http = true\n[[consumers]]\nname = \"a\"\nprofile = 0\nclient_id = \"x\"\n";
        let error = Config::parse(text, Path::new(".")).expect_err("no jwt");
        assert!(error.to_string().contains("auth.jwt"), "{error}");
        let text = "[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\nclient_ca = \"ca.pem\"\n\
                    [[consumers]]\nname = \"a\"\nprofile = 2\ncertificate_fingerprint = \"zz\"\n";
        let error = Config::parse(text, Path::new("/etc/ror")).expect_err("bad fingerprint");
        assert!(error.to_string().contains("SHA-256"), "{error}");
        let text = "[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\nclient_ca = \"ca.pem\"\n\
                    [[consumers]]\nname = \"a\"\nprofile = 2\ncertificate_subject = \"CN=a\"\n\
                    interactions = [\"read\", \"export\"]\n";
        let config = Config::parse(text, Path::new("/etc/ror")).expect("valid");
        assert_eq!(config.tls.as_ref().map(|t| t.certificate.clone()), Some(PathBuf::from("/etc/ror/c.pem")));
        assert_eq!(config.consumers[0].profile, AccessProfile::P2);
        assert_eq!(config.consumers[0].interactions, vec![Interaction::Read, Interaction::Export]);
    }
}
