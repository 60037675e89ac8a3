//! Authentication and authorization of one request: the TLS client certificate (mTLS) or the
//! bearer token names a configured consumer, which carries an access profile, the interactions
//! it may use and whether it is an administrator.

use std::collections::HashMap;

use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::Digest;

use super::Principal;
use crate::config::{Config, ConsumerConfig, Interaction, JwtConfig};

/// The four headers every ROR API call carries (SPEC §5.1).
pub const ROR_HEADERS: [&str; 4] = [
    "Ror-Profil-Utilisateur-Code",
    "Ror-Profil-Utilisateur-System",
    "Ror-Role-Metier-Code",
    "Ror-Role-Metier-System",
];

/// The DER client certificate of a TLS connection, attached to the connection on accept.
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub Vec<u8>);

/// Why a request is refused: 401 (who are you?) or 403 (not allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    Unauthenticated { expression: Option<String>, message: String },
    Forbidden { message: String },
}

impl Denied {
    fn unauthenticated(message: impl Into<String>) -> Denied {
        Denied::Unauthenticated { expression: None, message: message.into() }
    }

    fn forbidden(message: impl Into<String>) -> Denied {
        Denied::Forbidden { message: message.into() }
    }
}

/// A consumer as the authorization checks need it.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub principal: Principal,
    pub interactions: Vec<Interaction>,
    pub resource_types: Vec<String>,
}

impl Consumer {
    fn from_config(config: &ConsumerConfig) -> Consumer {
        Consumer {
            principal: Principal {
                consumer: config.name.clone(),
                profile: config.profile,
                admin: config.admin,
            },
            interactions: config.interactions.clone(),
            resource_types: config.resource_types.clone(),
        }
    }
}

/// What a request asks to do, read off its method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Health and readiness probes and the console's static files.
    Open,
    /// `/metrics`: open when configured so, otherwise administrators.
    Metrics,
    Admin,
    Fhir {
        interaction: Interaction,
        resource_type: Option<String>,
    },
    /// `/fhir/metadata`: any authenticated consumer.
    Capabilities,
}

impl Access {
    pub fn of(method: &Method, path: &str) -> Access {
        if path == "/healthz" || path == "/readyz" || path == "/console" || path.starts_with("/console/") {
            return Access::Open;
        }
        if path == "/metrics" {
            return Access::Metrics;
        }
        if path.starts_with("/admin") {
            return Access::Admin;
        }
        if path.starts_with("/export/") || path.contains("$export") || path.starts_with("/fhir/_export") {
            return Access::Fhir { interaction: Interaction::Export, resource_type: None };
        }
        let Some(rest) = path.strip_prefix("/fhir") else {
            return Access::Fhir { interaction: Interaction::Read, resource_type: None };
        };
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        if segments.first() == Some(&"metadata") {
            return Access::Capabilities;
        }
        let resource_type = segments.first().map(|s| (*s).to_owned());
        let searching = segments.get(1) == Some(&"_search");
        let interaction = if *method == Method::GET || *method == Method::HEAD || searching {
            Interaction::Read
        } else {
            Interaction::Write
        };
        Access::Fhir { interaction, resource_type }
    }
}

struct JwtVerifier {
    keys: Vec<(Option<String>, Algorithm, DecodingKey)>,
    config: JwtConfig,
}

impl JwtVerifier {
    fn load(config: &JwtConfig) -> anyhow::Result<JwtVerifier> {
        let text = std::fs::read_to_string(&config.jwks_file)
            .map_err(|e| anyhow::anyhow!("auth.jwt.jwks_file {}: {e}", config.jwks_file.display()))?;
        let set: JwkSet = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("auth.jwt.jwks_file {}: {e}", config.jwks_file.display()))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let algorithm = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(ec)
                    if ec.curve == jsonwebtoken::jwk::EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                // Only RS256 and ES256 are accepted; other keys of the set are ignored.
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| anyhow::anyhow!("auth.jwt.jwks_file: key {:?}: {e}", jwk.common.key_id))?;
            keys.push((jwk.common.key_id.clone(), algorithm, key));
        }
        anyhow::ensure!(!keys.is_empty(), "auth.jwt.jwks_file holds no RS256 or ES256 key");
        Ok(JwtVerifier { keys, config: config.clone() })
    }

    /// The client id named by a valid token.
    fn verify(&self, token: &str) -> Result<String, Denied> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Denied::unauthenticated(format!("bearer token is not a JWT: {e}")))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(Denied::unauthenticated(format!(
                "bearer token algorithm {:?} is not accepted (RS256, ES256)",
                header.alg
            )));
        }
        let candidates: Vec<&DecodingKey> = self
            .keys
            .iter()
            .filter(|(kid, algorithm, _)| {
                *algorithm == header.alg && (header.kid.is_none() || *kid == header.kid)
            })
            .map(|(_, _, key)| key)
            .collect();
        if candidates.is_empty() {
            return Err(Denied::unauthenticated("bearer token is signed by an unknown key"));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.leeway = self.config.leeway_seconds;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let mut last_error = None;
        for key in candidates {
            match jsonwebtoken::decode::<Value>(token, key, &validation) {
                Ok(data) => {
                    return data
                        .claims
                        .get(&self.config.client_claim)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            Denied::unauthenticated(format!(
                                "bearer token has no {:?} claim naming the client",
                                self.config.client_claim
                            ))
                        });
                }
                Err(error) => last_error = Some(error),
            }
        }
        let reason = last_error.map(|e| e.to_string()).unwrap_or_default();
        Err(Denied::unauthenticated(format!("bearer token rejected: {reason}")))
    }
}

/// Normalised RFC 4514 subject: attribute order kept, spaces around separators dropped, attribute
/// names upper-cased.
fn normalize_subject(subject: &str) -> String {
    subject
        .split(',')
        .map(|part| match part.split_once('=') {
            Some((name, value)) => format!("{}={}", name.trim().to_ascii_uppercase(), value.trim()),
            None => part.trim().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn fingerprint_hex(der: &[u8]) -> String {
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Authenticator {
    enabled: bool,
    consumers: Vec<Consumer>,
    by_fingerprint: HashMap<String, usize>,
    by_subject: HashMap<String, usize>,
    by_client: HashMap<String, usize>,
    jwt: Option<JwtVerifier>,
    require_ror_headers: bool,
    public_metrics: bool,
}

impl Authenticator {
    /// No security: every caller is an unrestricted administrator (local development).
    pub fn disabled() -> Authenticator {
        Authenticator {
            enabled: false,
            consumers: Vec::new(),
            by_fingerprint: HashMap::new(),
            by_subject: HashMap::new(),
            by_client: HashMap::new(),
            jwt: None,
            require_ror_headers: false,
            public_metrics: true,
        }
    }

    pub fn from_config(config: &Config) -> anyhow::Result<Authenticator> {
        if !config.security_enabled() {
            return Ok(Authenticator {
                require_ror_headers: config.auth.require_ror_headers,
                ..Authenticator::disabled()
            });
        }
        let mut authenticator = Authenticator {
            enabled: true,
            consumers: Vec::new(),
            by_fingerprint: HashMap::new(),
            by_subject: HashMap::new(),
            by_client: HashMap::new(),
            jwt: config.auth.jwt.as_ref().map(JwtVerifier::load).transpose()?,
            require_ror_headers: config.auth.require_ror_headers,
            public_metrics: config.server.public_metrics,
        };
        for (index, consumer) in config.consumers.iter().enumerate() {
            if let Some(fingerprint) = &consumer.certificate_fingerprint {
                let hex = fingerprint.chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
                authenticator.by_fingerprint.insert(hex, index);
            }
            if let Some(subject) = &consumer.certificate_subject {
                authenticator.by_subject.insert(normalize_subject(subject), index);
            }
            if let Some(client) = &consumer.client_id {
                authenticator.by_client.insert(client.clone(), index);
            }
            authenticator.consumers.push(Consumer::from_config(consumer));
        }
        Ok(authenticator)
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn by_certificate(&self, der: &[u8]) -> Option<&Consumer> {
        if let Some(index) = self.by_fingerprint.get(&fingerprint_hex(der)) {
            return self.consumers.get(*index);
        }
        let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = normalize_subject(&certificate.subject().to_string());
        self.by_subject.get(&subject).and_then(|index| self.consumers.get(*index))
    }

    fn by_token(&self, token: &str) -> Result<Consumer, Denied> {
        let Some(jwt) = &self.jwt else {
            return Err(Denied::unauthenticated("bearer tokens are not accepted by this server"));
        };
        let client = jwt.verify(token)?;
        if let Some(consumer) = self.by_client.get(&client).and_then(|index| self.consumers.get(*index)) {
            return Ok(consumer.clone());
        }
        match jwt.config.default_profile {
            Some(profile) => Ok(Consumer {
                principal: Principal { consumer: client, profile, admin: false },
                interactions: vec![Interaction::Read],
                resource_types: Vec::new(),
            }),
            None => Err(Denied::forbidden(format!("client {client:?} is not a registered consumer"))),
        }
    }

    /// Identify the caller: the client certificate when it names a consumer, else the bearer
    /// token. A token, when present, must be valid even beside a certificate.
    pub fn authenticate(&self, certificate: Option<&[u8]>, headers: &HeaderMap) -> Result<Consumer, Denied> {
        if !self.enabled {
            return Ok(Consumer {
                principal: Principal::unrestricted(),
                interactions: vec![Interaction::Read, Interaction::Write, Interaction::Export],
                resource_types: Vec::new(),
            });
        }
        let token = match headers.get(actix_web::http::header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                let value = value
                    .to_str()
                    .map_err(|_| Denied::unauthenticated("the Authorization header is not ASCII"))?;
                let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
                if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                    return Err(Denied::Unauthenticated {
                        expression: Some("Authorization".into()),
                        message: "the Authorization header must be `Bearer <token>`".into(),
                    });
                }
                Some(token.trim())
            }
        };
        let from_token = token.map(|t| self.by_token(t)).transpose()?;
        let from_certificate = certificate.and_then(|der| self.by_certificate(der)).cloned();
        match (from_certificate, from_token) {
            (Some(by_certificate), Some(by_token))
                if by_certificate.principal.consumer != by_token.principal.consumer =>
            {
                Err(Denied::unauthenticated(format!(
                    "the client certificate ({}) and the bearer token ({}) name different consumers",
                    by_certificate.principal.consumer, by_token.principal.consumer
                )))
            }
            (Some(consumer), _) | (None, Some(consumer)) => Ok(consumer),
            (None, None) if certificate.is_some() => {
                Err(Denied::forbidden("the client certificate is not enrolled for any consumer"))
            }
            (None, None) => Err(Denied::unauthenticated(
                "authentication required: a client certificate or an `Authorization: Bearer` token",
            )),
        }
    }

    /// Is `consumer` allowed to do `access`, with the headers it sent?
    pub fn authorize(&self, consumer: &Consumer, access: &Access, headers: &HeaderMap) -> Result<(), Denied> {
        match access {
            Access::Open => return Ok(()),
            Access::Metrics if self.public_metrics || !self.enabled => return Ok(()),
            Access::Metrics | Access::Admin => {
                return if consumer.principal.admin {
                    Ok(())
                } else {
                    Err(Denied::forbidden(format!(
                        "consumer {:?} does not have the admin role",
                        consumer.principal.consumer
                    )))
                };
            }
            Access::Capabilities | Access::Fhir { .. } => {}
        }
        if self.require_ror_headers {
            for name in ROR_HEADERS {
                let present =
                    headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| !v.trim().is_empty());
                if !present {
                    return Err(Denied::Unauthenticated {
                        expression: Some(name.into()),
                        message: format!("the {name} header is required (SPEC §5.1)"),
                    });
                }
            }
        }
        let Access::Fhir { interaction, resource_type } = access else { return Ok(()) };
        if !consumer.interactions.contains(interaction) {
            return Err(Denied::forbidden(format!(
                "consumer {:?} may not use the {:?} interaction",
                consumer.principal.consumer, interaction
            )));
        }
        if !consumer.resource_types.is_empty() {
            match resource_type {
                Some(resource_type) if consumer.resource_types.iter().any(|t| t == resource_type) => {}
                Some(resource_type) => {
                    return Err(Denied::forbidden(format!(
                        "consumer {:?} may not use {resource_type}",
                        consumer.principal.consumer
                    )))
                }
                // Bundles and system-level operations span every type.
                None => {
                    return Err(Denied::forbidden(format!(
                        "consumer {:?} is limited to {} and may not use system-level interactions",
                        consumer.principal.consumer,
                        consumer.resource_types.join(", ")
                    )))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_read_off_method_and_path() {
        assert_eq!(Access::of(&Method::GET, "/healthz"), Access::Open);
        assert_eq!(Access::of(&Method::GET, "/console/app.js"), Access::Open);
        assert_eq!(Access::of(&Method::POST, "/admin/reindex"), Access::Admin);
        assert_eq!(Access::of(&Method::GET, "/fhir/metadata"), Access::Capabilities);
        assert_eq!(
            Access::of(&Method::GET, "/fhir/$export"),
            Access::Fhir { interaction: Interaction::Export, resource_type: None }
        );
        assert_eq!(
            Access::of(&Method::GET, "/export/offers.csv"),
            Access::Fhir { interaction: Interaction::Export, resource_type: None }
        );
        assert_eq!(
            Access::of(&Method::POST, "/fhir/Location/_search"),
            Access::Fhir { interaction: Interaction::Read, resource_type: Some("Location".into()) }
        );
        assert_eq!(
            Access::of(&Method::PATCH, "/fhir/Location/1"),
            Access::Fhir { interaction: Interaction::Write, resource_type: Some("Location".into()) }
        );
        assert_eq!(
            Access::of(&Method::POST, "/fhir"),
            Access::Fhir { interaction: Interaction::Write, resource_type: None }
        );
    }

    #[test]
    fn subjects_compare_without_spacing_differences() {
        assert_eq!(normalize_subject("cn=a b, O=Org"), normalize_subject("CN=a b,O=Org"));
    }
}
