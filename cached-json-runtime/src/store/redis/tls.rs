//! TLS to Redis: which CA to trust and which client certificate to show, read from PEM files
//! when the store is built, so that a missing or malformed file is a configuration error at
//! start-up rather than an outage later.
//!
//! `rediss://` URLs use the system's roots unless a private CA is given; a client certificate
//! and its key make it mutual TLS. The crypto is rustls with the ring provider: no system
//! OpenSSL is needed.

#[cfg(feature = "tls")]
use std::path::Path;

use super::config::{ConfigError, RedisTls};

impl RedisTls {
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
/// (the application's: it is then the one used). rustls panics at the first handshake when
/// none is installed and two are built in (ring, and aws-lc-rs from another crate).
#[cfg(feature = "tls")]
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
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
        "rediss:// URLs and CACHED_JSON_TLS_* need the `tls` feature of cached-json: \
         cached-json = { version = \"0.1\", features = [\"tls\"] }"
            .into(),
    )
}
