//! TLS to Redis: which CA to trust and which client certificate to show, read from PEM files
//! when the store is built, so that a missing or malformed file is a configuration error at
//! start-up rather than an outage later.
//!
//! `rediss://` URLs use the system's roots unless a private CA is given; a client certificate
//! and its key make it mutual TLS. The crypto is rustls with the ring provider: no system
//! OpenSSL is needed.

#[cfg(feature = "tls")]
use std::path::Path;
use std::path::PathBuf;

use super::ConfigError;

/// Where a Redis store's TLS material comes from: PEM files, set through
/// [`RedisConfig`](super::RedisConfig)'s and the builder's setters. Unset fields use the
/// defaults (the system's roots, no client certificate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RedisTls {
    /// A private CA that replaces the system's roots (`CACHED_JSON_TLS_CA`).
    pub(crate) ca: Option<PathBuf>,
    /// A client certificate (chain), for mutual TLS (`CACHED_JSON_TLS_CERT`).
    pub(crate) client_cert: Option<PathBuf>,
    /// Its private key: PKCS#8, PKCS#1 or SEC1 (`CACHED_JSON_TLS_KEY`).
    pub(crate) client_key: Option<PathBuf>,
}

impl RedisTls {
    /// From `CACHED_JSON_TLS_CA`, `CACHED_JSON_TLS_CERT` and `CACHED_JSON_TLS_KEY`, read
    /// through `var`.
    pub(crate) fn from_env_with(var: &dyn Fn(&str) -> Option<String>) -> Self {
        let path = |name: &str| {
            var(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        RedisTls {
            ca: path("CACHED_JSON_TLS_CA"),
            client_cert: path("CACHED_JSON_TLS_CERT"),
            client_key: path("CACHED_JSON_TLS_KEY"),
        }
    }

    /// Whether nothing is set.
    pub(crate) fn is_default(&self) -> bool {
        *self == RedisTls::default()
    }

    /// These settings, each field of `overrides` that is set taking precedence.
    pub(crate) fn overridden_by(self, overrides: &RedisTls) -> RedisTls {
        RedisTls {
            ca: overrides.ca.clone().or(self.ca),
            client_cert: overrides.client_cert.clone().or(self.client_cert),
            client_key: overrides.client_key.clone().or(self.client_key),
        }
    }

    /// The files' contents, for the client; `None` when nothing is set.
    #[cfg(feature = "tls")]
    pub(crate) fn certificates(&self) -> Result<Option<Certificates>, ConfigError> {
        if self.is_default() {
            return Ok(None);
        }
        let client_tls =
            match (&self.client_cert, &self.client_key) {
                (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                    client_cert: read("CACHED_JSON_TLS_CERT", cert)?,
                    client_key: read("CACHED_JSON_TLS_KEY", key)?,
                }),
                (None, None) => None,
                _ => return Err(ConfigError(
                    "a client certificate needs both CACHED_JSON_TLS_CERT and CACHED_JSON_TLS_KEY"
                        .into(),
                )),
            };
        let root_cert = match &self.ca {
            Some(ca) => Some(read("CACHED_JSON_TLS_CA", ca)?),
            None => None,
        };
        Ok(Some(redis::TlsCertificates {
            client_tls,
            root_cert,
        }))
    }
}

#[cfg(feature = "tls")]
fn read(setting: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|err| ConfigError(format!("cannot read {setting} {}: {err}", path.display())))
}

/// Installs rustls's ring provider as the process default, unless one is installed already
/// (rustls panics at the first handshake when none is, or when two are built in).
#[cfg(feature = "tls")]
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why a configuration asking for TLS cannot have it.
/// What a TLS connection is made with: redis-rs's certificates. (Without the `tls` feature
/// there is none: a `rediss://` URL is refused before any is asked for.)
#[cfg(feature = "tls")]
pub(crate) type Certificates = redis::TlsCertificates;
#[cfg(not(feature = "tls"))]
pub(crate) type Certificates = std::convert::Infallible;

#[cfg(not(feature = "tls"))]
impl RedisTls {
    pub(crate) fn certificates(&self) -> Result<Option<Certificates>, ConfigError> {
        Err(unsupported())
    }
}

#[cfg(not(feature = "tls"))]
pub(crate) fn unsupported() -> ConfigError {
    ConfigError(
        "rediss:// URLs and CACHED_JSON_TLS_* need the `tls` feature of cached-json (on by default)"
            .into(),
    )
}
