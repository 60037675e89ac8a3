//! The rustls server configuration: server certificate and key from PEM files, and, with a
//! client CA bundle, verification of client certificates (mTLS).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::TlsConfig;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(path: &std::path::Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| anyhow::anyhow!("{what} {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{what} {}: {e}", path.display()))?;
    anyhow::ensure!(!certificates.is_empty(), "{what} {} holds no PEM certificate", path.display());
    Ok(certificates)
}

pub fn server_config(tls: &TlsConfig) -> anyhow::Result<ServerConfig> {
    let chain = certificates(&tls.certificate, "tls.certificate")?;
    let key = PrivateKeyDer::from_pem_file(&tls.private_key)
        .map_err(|e| anyhow::anyhow!("tls.private_key {}: {e}", tls.private_key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS protocol versions: {e}"))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for certificate in certificates(ca_path, "tls.client_ca")? {
                roots
                    .add(certificate)
                    .map_err(|e| anyhow::anyhow!("tls.client_ca {}: {e}", ca_path.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            // Without a required certificate, token-only consumers (profile 0) can still connect;
            // a certificate that is presented is always verified.
            let verifier = if tls.require_client_certificate {
                verifier.build()
            } else {
                verifier.allow_unauthenticated().build()
            }
            .map_err(|e| anyhow::anyhow!("tls.client_ca {}: {e}", ca_path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| anyhow::anyhow!("tls.certificate/tls.private_key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
