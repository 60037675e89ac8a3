//! Who is calling and what they may see: the consumer identified by its TLS client certificate
//! or bearer token, its ROR data access profile (SPEC §5.2) and its roles.

pub mod auth;
pub mod context;
pub mod guard;
pub mod projection;
pub mod tls;
pub mod view;

use actix_web::{HttpMessage, HttpRequest};

/// ROR data access profiles (SPEC §5.2), assigned per consumer at onboarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum AccessProfile {
    /// Open ("libre accès") data only.
    P0,
    /// All data.
    P1,
    /// All data except very restricted data.
    P2,
    /// Medico-social offer: all except very restricted; sanitary offer: open data only.
    P3,
    /// All data except contact and personal data.
    P4,
    /// All except very restricted data and capacity (bed and place availability).
    P5,
}

impl AccessProfile {
    pub fn number(self) -> u8 {
        match self {
            AccessProfile::P0 => 0,
            AccessProfile::P1 => 1,
            AccessProfile::P2 => 2,
            AccessProfile::P3 => 3,
            AccessProfile::P4 => 4,
            AccessProfile::P5 => 5,
        }
    }

    /// Profile 1 sees everything: no projection, no matching restriction.
    pub fn is_unrestricted(self) -> bool {
        self == AccessProfile::P1
    }
}

impl TryFrom<u8> for AccessProfile {
    type Error = String;
    fn try_from(number: u8) -> std::result::Result<Self, String> {
        Ok(match number {
            0 => AccessProfile::P0,
            1 => AccessProfile::P1,
            2 => AccessProfile::P2,
            3 => AccessProfile::P3,
            4 => AccessProfile::P4,
            5 => AccessProfile::P5,
            other => return Err(format!("access profile {other} does not exist (0 to 5)")),
        })
    }
}

impl From<AccessProfile> for u8 {
    fn from(profile: AccessProfile) -> u8 {
        profile.number()
    }
}

/// The authenticated caller of one request, attached to the request's extensions by the
/// authentication layer. Without security configured (local development), every caller is an
/// unrestricted administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Consumer name from the configuration (or "anonymous" without security).
    pub consumer: String,
    pub profile: AccessProfile,
    /// May use `/admin` endpoints.
    pub admin: bool,
}

impl Principal {
    pub fn unrestricted() -> Principal {
        Principal { consumer: "anonymous".into(), profile: AccessProfile::P1, admin: true }
    }

    /// The caller of `request`: what the authentication layer attached, or unrestricted when no
    /// authentication layer runs.
    pub fn of(request: &HttpRequest) -> Principal {
        request.extensions().get::<Principal>().cloned().unwrap_or_else(Principal::unrestricted)
    }
}
