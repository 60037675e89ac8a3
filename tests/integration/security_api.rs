//! Transport security through the real binary: rustls TLS, mutual TLS with client certificates
//! mapped to consumers, JWT bearer tokens (ES256 and RS256 keys in a JWKS file), the `Ror-*`
//! headers, 401/403 as OperationOutcome, `/metrics`, and graceful shutdown on SIGTERM. The test
//! makes its own CA, server and client certificates (rcgen) and signs its own tokens.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};

use crate::common::client::free_port;

struct Pki {
    ca_pem: String,
    ca: Issuer<'static, KeyPair>,
}

struct Leaf {
    certificate_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn new_ca(name: &str) -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ca key");
    let certificate = params.self_signed(&key).expect("ca certificate");
    Pki { ca_pem: certificate.pem(), ca: Issuer::new(params, key) }
}

fn leaf(pki: &Pki, names: &[&str], common_name: &str, organization: &str) -> Leaf {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).expect("params");
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.distinguished_name.push(DnType::OrganizationName, organization);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let certificate = params.signed_by(&key, &pki.ca).expect("signed");
    Leaf { certificate_pem: certificate.pem(), key_pem: key.serialize_pem(), der: certificate.der().to_vec() }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn assert_outcome(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let outcome = self.json();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{}", self.body);
        assert!(self.body.contains(needle), "{needle:?} not in {}", self.body);
    }
}

struct Client {
    config: Arc<rustls::ClientConfig>,
}

impl Client {
    fn new(ca_pem: &str, identity: Option<&Leaf>) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(certificate.expect("ca pem")).expect("root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(leaf) => {
                let chain = vec![CertificateDer::from(leaf.der.clone())];
                let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key pem");
                builder.with_client_auth_cert(chain, key).expect("client auth")
            }
        };
        Client { config: Arc::new(config) }
    }

    fn send(
        &self,
        address: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<Answer> {
        let server_name = ServerName::try_from("localhost").expect("name").to_owned();
        let connection = rustls::ClientConnection::new(self.config.clone(), server_name)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let socket = TcpStream::connect(address)?;
        socket.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut stream = rustls::StreamOwned::new(connection, socket);
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.flush()?;
        let (status, response_headers, bytes) =
            crate::common::client::read_response(&mut BufReader::new(stream))?;
        Ok(Answer { status, headers: response_headers, body: String::from_utf8_lossy(&bytes).into_owned() })
    }
}

/// An ES256 key, its JWKS entry, and tokens signed with it.
struct Signer {
    key: jsonwebtoken::EncodingKey,
    jwk: Value,
}

impl Signer {
    fn new(kid: &str) -> Signer {
        let pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("jwt key");
        let point = pair.public_key_raw();
        // Uncompressed point: 0x04, then X and Y (32 bytes each).
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": encode(&point[1..33]), "y": encode(&point[33..65]),
        });
        Signer { key: jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der()), jwk }
    }

    fn token(&self, kid: &str, claims: Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("sign")
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

const ISSUER: &str = "https://auth.test/auth/realms/ror";
const AUDIENCE: &str = "ror-search";

fn claims(client: &str, expires_in: i64, audience: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": audience, "azp": client, "sub": client,
        "iat": now(), "exp": (now() as i64 + expires_in),
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

struct Server {
    child: Child,
    address: String,
    log: PathBuf,
}

impl Server {
    fn start(data_dir: &Path, config: &Path, log: PathBuf) -> Server {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ror-search"))
            .args(["--data-dir", &data_dir.display().to_string(), "serve", "--demo", "--workers", "2"])
            .args(["--config", &config.display().to_string(), "--listen", &address])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start ror-search");
        Server { child, address, log }
    }

    fn wait_ready(&mut self, client: &Client) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if client.send(&self.address, "GET", "/healthz", &[]).is_ok_and(|a| a.status == 200) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "server exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server did not start: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn test_mtls_tokens_profiles_metrics_and_graceful_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = new_ca("ROR test CA");
    let server_leaf = leaf(&pki, &["localhost", "127.0.0.1"], "localhost", "ROR search");
    let samu = leaf(&pki, &[], "samu-75", "SAMU de Paris");
    let bed_manager = leaf(&pki, &[], "bed-manager", "CHU de Nantes");
    let stranger = leaf(&pki, &[], "not-enrolled", "Nobody");
    let rogue_pki = new_ca("Rogue CA");
    let rogue = leaf(&rogue_pki, &[], "samu-75", "SAMU de Paris");
    let signer = Signer::new("key-1");
    let other_signer = Signer::new("key-1");

    write(dir.path(), "ca.pem", &pki.ca_pem);
    write(dir.path(), "server.pem", &server_leaf.certificate_pem);
    write(dir.path(), "server.key", &server_leaf.key_pem);
    // An RS256 key too (a fixed test-only key: rcgen makes no RSA keys with ring).
    let keys_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/keys");
    let rsa_jwk: Value = serde_json::from_str(
        &std::fs::read_to_string(keys_dir.join("rs256-test-jwk.json")).expect("rsa jwk"),
    )
    .expect("rsa jwk json");
    let rsa_key = jsonwebtoken::EncodingKey::from_rsa_der(
        &std::fs::read(keys_dir.join("rs256-test-key.pkcs1.der")).expect("rsa key"),
    );
    write(dir.path(), "jwks.json", &json!({"keys": [signer.jwk, rsa_jwk]}).to_string());
    let config = write(
        dir.path(),
        "ror-search.toml",
        &format!(
            r#"
[tls]
certificate = "server.pem"
private_key = "server.key"
client_ca = "ca.pem"

[auth]
require_ror_headers = true

[auth.jwt]
jwks_file = "jwks.json"
issuer = "{ISSUER}"
audience = "{AUDIENCE}"

[[consumers]]
name = "samu-75"
profile = 2
certificate_subject = "CN=samu-75, O=SAMU de Paris"
admin = true

[[consumers]]
name = "bed-manager"
profile = 1
certificate_fingerprint = "{fingerprint}"
interactions = ["read", "write"]
resource_types = ["Location"]

[[consumers]]
name = "portal"
profile = 0
client_id = "portal-client"
"#,
            fingerprint = sha256_hex(&bed_manager.der)
        ),
    );
    let data_dir = dir.path().join("data");
    let mut server = Server::start(&data_dir, &config, dir.path().join("server.log"));
    let anonymous = Client::new(&pki.ca_pem, None);
    server.wait_ready(&anonymous);
    let address = server.address.clone();
    let ror_headers: [(&str, &str); 4] = [
        ("Ror-Profil-Utilisateur-Code", "CU22"),
        ("Ror-Profil-Utilisateur-System", "1.2.250.1.213.1.6.1.66"),
        ("Ror-Role-Metier-Code", "AUTOMATE"),
        ("Ror-Role-Metier-System", "1.2.250.1.213.1.1.4.6"),
    ];
    let with = |extra: &[(&'static str, String)]| -> Vec<(String, String)> {
        ror_headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .chain(extra.iter().map(|(n, v)| ((*n).to_owned(), v.clone())))
            .collect()
    };
    let send = |client: &Client, method: &str, path: &str, headers: &[(String, String)]| -> Answer {
        let borrowed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        client.send(&address, method, path, &borrowed).expect("request")
    };
    let search = "/fhir/HealthcareService?_count=1";

    // Plain HTTP on the TLS port gets no FHIR answer.
    let plain = crate::common::client::request(&address, "GET", search, None);
    assert!(plain.map(|a| a.status != 200).unwrap_or(true), "plain HTTP must not be served");

    // No credentials at all: 401 with a challenge; health stays open.
    let answer = send(&anonymous, "GET", search, &with(&[]));
    answer.assert_outcome(401, "authentication required");
    assert!(answer.header("WWW-Authenticate").is_some_and(|v| v.starts_with("Bearer")));
    assert_eq!(send(&anonymous, "GET", "/healthz", &[]).status, 200);
    assert_eq!(send(&anonymous, "GET", "/readyz", &[]).status, 200);

    // Bearer tokens (profile 0 consumer, no certificate).
    let good = signer.token("key-1", claims("portal-client", 300, AUDIENCE));
    let bearer = |token: &str| ("Authorization", format!("Bearer {token}"));
    let answer = send(&anonymous, "GET", search, &with(&[bearer(&good)]));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["resourceType"], "Bundle");
    assert!(answer.header("X-Request-Id").is_some_and(|v| !v.is_empty()));
    let mut rsa_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    rsa_header.kid = Some("key-rsa".into());
    let rsa_token =
        jsonwebtoken::encode(&rsa_header, &claims("portal-client", 300, AUDIENCE), &rsa_key).expect("rs256");
    let answer = send(&anonymous, "GET", search, &with(&[bearer(&rsa_token)]));
    assert_eq!(answer.status, 200, "RS256: {}", answer.body);
    // HS256 (a shared secret) is never accepted.
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some("key-1".into());
    let hs_token = jsonwebtoken::encode(
        &hs_header,
        &claims("portal-client", 300, AUDIENCE),
        &jsonwebtoken::EncodingKey::from_secret(b"guess"),
    )
    .expect("hs256");
    send(&anonymous, "GET", search, &with(&[bearer(&hs_token)])).assert_outcome(401, "not accepted");
    // The four Ror-* headers are required when configured; the missing one is named.
    let without_role: Vec<(String, String)> =
        with(&[bearer(&good)]).into_iter().filter(|(n, _)| n != "Ror-Role-Metier-Code").collect();
    send(&anonymous, "GET", search, &without_role).assert_outcome(401, "Ror-Role-Metier-Code");
    // Expired, wrong audience, wrong signature, unknown client, garbage: all 401 (or 403 for a
    // valid token of a client that is not a consumer).
    let expired = signer.token("key-1", claims("portal-client", -3600, AUDIENCE));
    send(&anonymous, "GET", search, &with(&[bearer(&expired)])).assert_outcome(401, "xpired");
    let wrong_audience = signer.token("key-1", claims("portal-client", 300, "someone-else"));
    send(&anonymous, "GET", search, &with(&[bearer(&wrong_audience)])).assert_outcome(401, "rejected");
    let forged = other_signer.token("key-1", claims("portal-client", 300, AUDIENCE));
    send(&anonymous, "GET", search, &with(&[bearer(&forged)])).assert_outcome(401, "rejected");
    let unknown_client = signer.token("key-1", claims("who-knows", 300, AUDIENCE));
    send(&anonymous, "GET", search, &with(&[bearer(&unknown_client)])).assert_outcome(403, "who-knows");
    send(&anonymous, "GET", search, &with(&[bearer("not.a.jwt")])).assert_outcome(401, "JWT");
    send(&anonymous, "GET", search, &with(&[("Authorization", "Basic dXNlcjpwdw==".into())]))
        .assert_outcome(401, "Bearer");
    // The profile-0 portal may read but not write, export or administer.
    send(&anonymous, "DELETE", "/fhir/Location/x", &with(&[bearer(&good)])).assert_outcome(403, "Write");
    send(&anonymous, "GET", "/export/offers.csv", &with(&[bearer(&good)])).assert_outcome(403, "Export");
    send(&anonymous, "GET", "/admin/status", &with(&[bearer(&good)])).assert_outcome(403, "admin");
    send(&anonymous, "GET", "/metrics", &with(&[bearer(&good)])).assert_outcome(403, "admin");

    // Mutual TLS: the subject names samu-75 (profile 2, admin).
    let samu_client = Client::new(&pki.ca_pem, Some(&samu));
    let answer = send(&samu_client, "GET", search, &with(&[]));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = send(&samu_client, "GET", "/admin/status", &with(&[]));
    assert_eq!(answer.status, 200, "{}", answer.body);
    // A token for another consumer beside the certificate is refused.
    send(&samu_client, "GET", search, &with(&[bearer(&good)])).assert_outcome(401, "different consumers");
    // The fingerprint names bed-manager: Location only, read and write.
    let bed_client = Client::new(&pki.ca_pem, Some(&bed_manager));
    assert_eq!(send(&bed_client, "GET", "/fhir/Location?_count=1", &with(&[])).status, 200);
    send(&bed_client, "GET", search, &with(&[])).assert_outcome(403, "HealthcareService");
    send(&bed_client, "GET", "/admin/status", &with(&[])).assert_outcome(403, "admin");
    // A certificate from the right CA that no consumer names: 403.
    let stranger_client = Client::new(&pki.ca_pem, Some(&stranger));
    send(&stranger_client, "GET", search, &with(&[])).assert_outcome(403, "not enrolled");
    // A certificate from another CA fails the handshake.
    let rogue_client = Client::new(&pki.ca_pem, Some(&rogue));
    match rogue_client.send(&address, "GET", search, &ror_headers) {
        Err(_) => {}
        Ok(answer) => {
            assert_eq!(answer.status, 0, "a certificate from an unknown CA was served: {}", answer.body)
        }
    }

    // The access profile comes from the authenticated consumer: profile 0 (portal, token) finds
    // no "disponible" capacity record (it sees installed capacity only), profile 2 (samu-75,
    // certificate) does.
    let available = "/fhir/Location?capacity-status=https://mos.esante.gouv.fr/NOS/TRE_R330-TypeStatutCapacite/FHIR/TRE-R330-TypeStatutCapacite%7C02&_summary=count";
    let for_profile_2 = send(&samu_client, "GET", available, &with(&[]));
    assert_eq!(for_profile_2.status, 200, "{}", for_profile_2.body);
    assert!(for_profile_2.json()["total"].as_u64().unwrap_or(0) > 0, "{}", for_profile_2.body);
    let for_profile_0 = send(&anonymous, "GET", available, &with(&[bearer(&good)]));
    assert_eq!(for_profile_0.status, 200, "{}", for_profile_0.body);
    assert_eq!(for_profile_0.json()["total"], 0, "{}", for_profile_0.body);

    // Metrics for the administrator, in Prometheus text format.
    let metrics = send(&samu_client, "GET", "/metrics", &[]);
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(metrics.header("Content-Type").is_some_and(|v| v.starts_with("text/plain")));
    for needle in [
        "ror_http_requests_total{route=\"/fhir/{type}\",method=\"GET\",status=\"200\"}",
        "ror_http_request_duration_seconds_bucket{route=\"/fhir/{type}\",method=\"GET\",status=\"200\",le=\"+Inf\"}",
        "ror_http_refused_total{status=\"401\"}",
        "ror_http_refused_total{status=\"403\"}",
        "ror_snapshot_generation 1",
        "ror_write_visibility_lag_changes ",
        "ror_index_resources{type=\"HealthcareService\"}",
        "ror_index_heap_bytes{type=\"HealthcareService\",part=\"params\"}",
        "ror_index_param_heap_bytes{type=\"HealthcareService\",param=\"identifier\"}",
        "ror_text_index_segments ",
        "ror_text_index_bytes ",
        "ror_store_size_bytes",
        "ror_process_resident_memory_bytes",
    ] {
        assert!(metrics.body.contains(needle), "{needle} missing from /metrics:\n{}", metrics.body);
    }

    // Graceful shutdown: SIGTERM drains and exits successfully, the log says so.
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(exit.success(), "exit {exit}: {log}");
    assert!(log.contains("drained and flushed"), "{log}");
    // ...and closes the store: the next open has nothing to repair.
    let repaired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = repaired.clone();
    let reopened = redb::Database::builder()
        .set_repair_callback(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst))
        .create(data_dir.join("store.redb"));
    assert!(reopened.is_ok());
    assert!(!repaired.load(std::sync::atomic::Ordering::SeqCst), "a graceful shutdown leaves a clean store");
}

#[test]
fn test_config_errors_stop_the_server_before_it_listens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("[server]\nplain_http = true\nlisten = \"127.0.0.1:1\"\n[limits]\nmax_cont = 5\n", "max_cont"),
        ("[server]\nlisten = \"127.0.0.1:1\"\n", "plain_http"),
        ("[tls]\ncertificate = \"missing.pem\"\nprivate_key = \"missing.key\"\n", "missing.pem"),
    ];
    for (text, needle) in cases {
        let config = write(dir.path(), "bad.toml", text);
        let output = Command::new(env!("CARGO_BIN_EXE_ror-search"))
            .args(["--data-dir", &dir.path().join("data").display().to_string(), "serve"])
            .args(["--config", &config.display().to_string()])
            .output()
            .expect("run");
        assert!(!output.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
    // Plain HTTP on a non-loopback address needs an explicit opt-in.
    let output = Command::new(env!("CARGO_BIN_EXE_ror-search"))
        .args(["--data-dir", &dir.path().join("data").display().to_string(), "serve"])
        .args(["--listen", "0.0.0.0:1"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("plain_http"));
}
