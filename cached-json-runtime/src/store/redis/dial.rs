//! How a client is made: for one server (TLS with the system's roots or a private CA, TCP
//! keepalive, RESP3 for the tracking connection), or for a Cluster (its retries and timeouts).

use redis::cluster::ClusterClient;
use redis::{Client, ConnectionInfo, ProtocolVersion};

use super::config::{ConfigError, RedisConfig};
use super::tls::Certificates as TlsCertificates;

/// `info`, speaking RESP3: the protocol that pushes changed keys.
pub(super) fn resp3(info: &ConnectionInfo) -> ConnectionInfo {
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    info.clone().set_redis_settings(settings)
}

/// The private CA and client certificate to connect with, read from the configured files;
/// `None` for the system's roots, and for plain `redis://` URLs. TLS files with a plain URL are
/// a mistake worth refusing.
pub(super) fn certificates(
    infos: &[ConnectionInfo],
    config: &RedisConfig,
    display_url: &str,
) -> Result<Option<TlsCertificates>, ConfigError> {
    let tls = |info: &ConnectionInfo| uses_tls(std::slice::from_ref(info));
    if !config.tls.is_default() && !infos.iter().all(tls) {
        return Err(ConfigError(format!(
            "TLS files are set (CACHED_JSON_TLS_*) but {display_url} is not a rediss:// URL"
        )));
    }
    if !uses_tls(infos) {
        return Ok(None);
    }
    config.tls.certificates()
}

/// Whether any of `infos` is a `rediss://` URL.
pub(super) fn uses_tls(infos: &[ConnectionInfo]) -> bool {
    infos
        .iter()
        .any(|info| matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }))
}

/// TCP keepalive on every connection to a server: the kernel probes a connection idle for 10 s
/// every 5 s, so that a peer gone without a word (a subscriber's, which is idle most of the
/// time) fails its connection within about half a minute even where nothing else checks it.
/// (The store's own checks are faster: `events.rs`, `tracking.rs`.)
fn keepalive(info: ConnectionInfo) -> ConnectionInfo {
    let probes = redis::io::tcp::socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(10))
        .with_interval(std::time::Duration::from_secs(5));
    let settings = info.tcp_settings().clone().set_keepalive(probes);
    info.set_tcp_settings(settings)
}

/// The client of one server: with TLS for a `rediss://` URL (the system's roots, or
/// `certificates`), and TCP keepalive.
pub(super) fn client(
    info: ConnectionInfo,
    certificates: Option<&TlsCertificates>,
    display_url: &str,
) -> Result<Client, ConfigError> {
    let info = keepalive(info);
    #[cfg(feature = "tls")]
    if let Some(certificates) = certificates {
        return Client::build_with_tls(info, certificates.clone()).map_err(|err| {
            ConfigError(format!(
                "invalid TLS configuration for {display_url}: {err}"
            ))
        });
    }
    #[cfg(not(feature = "tls"))]
    let _ = certificates;
    Client::open(info).map_err(|err| ConfigError(format!("invalid Redis URL {display_url}: {err}")))
}

/// The Cluster client. Its own retries follow `MOVED`/`ASK` and wait out a failover briefly;
/// the store bounds every command with its own timeout on top.
pub(super) fn cluster_client(
    infos: Vec<ConnectionInfo>,
    config: &RedisConfig,
    certificates: Option<TlsCertificates>,
    display_url: &str,
) -> Result<ClusterClient, ConfigError> {
    #[allow(unused_mut)]
    let mut builder = ClusterClient::builder(infos)
        .connection_timeout(config.connect_timeout)
        // Each node's answer bounded, the handshake's included: without it a frozen node
        // among the seeds held up making a link forever (redis-rs waits for every seed).
        .response_timeout(config.op_timeout)
        .overall_response_timeout(None)
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(100);
    #[cfg(feature = "tls")]
    if let Some(certificates) = certificates {
        builder = builder.certs(certificates);
    }
    #[cfg(not(feature = "tls"))]
    let _ = certificates;
    builder.build().map_err(|err| {
        ConfigError(format!(
            "invalid Redis Cluster configuration {display_url}: {err}"
        ))
    })
}
