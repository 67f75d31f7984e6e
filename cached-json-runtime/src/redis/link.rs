//! What the store talks to: one Redis server, or a Redis Cluster.
//!
//! A [`Backend`] makes connections; a [`Link`] is one, and sends commands. On a Cluster,
//! redis-rs's cluster client routes each command by its key's hash slot and follows `MOVED`,
//! `ASK` and `READONLY` itself; every command the cache sends touches one key (or none), so
//! no key needs a hash tag. A cluster link serves every runtime from the store's own thread:
//! its driver task keeps a connection to each node.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{
    Client, Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisFuture, Value,
};

use super::{ConfigError, RedisConfig};
use crate::logging::{redact_url, scrub};

/// Where connections come from.
// One per store, inside its `Arc`: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Backend {
    /// One server: the client, and one speaking RESP3 for the connection that hears of
    /// changed keys (`CLIENT TRACKING` pushes them; see `tracking.rs`).
    Single { client: Client, tracking: Client },
    /// A Cluster: the client (with its seed nodes), and a client per seed node for the pub/sub
    /// subscription (cluster-wide `PUBLISH` reaches every node, so one node's will do).
    Cluster {
        client: ClusterClient,
        seeds: Vec<Client>,
    },
}

/// A backend with what may be logged of it.
pub(super) struct Opened {
    pub(super) backend: Backend,
    /// The URL(s), passwords redacted.
    pub(super) display_url: String,
    /// The passwords, scrubbed from every error message.
    pub(super) secrets: Vec<String>,
}

impl Backend {
    /// The backend `config` describes: a Cluster when it says so, or when its URL lists several
    /// seed nodes separated by commas. Does no I/O.
    pub(super) fn open(config: &RedisConfig) -> Result<Opened, ConfigError> {
        let urls: Vec<&str> = config
            .url
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .collect();
        let display_url = urls
            .iter()
            .map(|url| redact_url(url))
            .collect::<Vec<_>>()
            .join(",");
        let mut infos = Vec::new();
        for url in &urls {
            infos.push(url.into_connection_info().map_err(|err| {
                #[cfg(not(feature = "tls"))]
                if url.starts_with("rediss:") {
                    return super::tls::unsupported();
                }
                ConfigError(format!(
                    "invalid Redis URL {}: {:?}",
                    redact_url(url),
                    err.kind()
                ))
            })?);
        }
        if infos.is_empty() {
            return Err(ConfigError("no Redis URL".into()));
        }
        let secrets: Vec<String> = infos
            .iter()
            .filter_map(|info| info.redis_settings().password())
            .map(str::to_owned)
            .collect();
        let scrubbed = |err: ConfigError| ConfigError(scrub(&err.0, &secrets));
        let backend = if config.cluster || infos.len() > 1 {
            let seeds = infos
                .iter()
                .map(|info| client(info.clone(), config, &display_url))
                .collect::<Result<Vec<_>, _>>()
                .map_err(scrubbed)?;
            let client = cluster_client(infos, config, &display_url).map_err(scrubbed)?;
            Backend::Cluster { client, seeds }
        } else {
            let info = infos.remove(0);
            let resp3 = info
                .redis_settings()
                .clone()
                .set_protocol(ProtocolVersion::RESP3);
            let tracking_info = info.clone().set_redis_settings(resp3);
            Backend::Single {
                client: client(info, config, &display_url).map_err(scrubbed)?,
                tracking: client(tracking_info, config, &display_url).map_err(scrubbed)?,
            }
        };
        Ok(Opened {
            backend,
            display_url,
            secrets,
        })
    }

    /// The clients a pub/sub subscription may be made with, in the order to try them.
    pub(super) fn pubsub_clients(&self) -> &[Client] {
        match self {
            Backend::Single { client, .. } => std::slice::from_ref(client),
            Backend::Cluster { seeds, .. } => seeds,
        }
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Backend::Cluster { .. })
    }

    /// The RESP3 client for tracking changed keys; `None` on a Cluster (each primary would
    /// need a tracking connection of its own: not done yet).
    pub(super) fn tracking_client(&self) -> Option<&Client> {
        match self {
            Backend::Single { tracking, .. } => Some(tracking),
            Backend::Cluster { .. } => None,
        }
    }
}

/// One connection: to a server, or to a whole Cluster.
#[derive(Clone)]
pub(crate) enum Link {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(connection) => connection.req_packed_command(cmd),
            Link::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(connection) => connection.get_db(),
            Link::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Whether `info` asks for TLS, checked against the TLS files: files with a plain URL are a
/// mistake worth refusing.
fn wants_tls(
    info: &ConnectionInfo,
    config: &RedisConfig,
    display_url: &str,
) -> Result<bool, ConfigError> {
    let tls = matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. });
    if !tls && !config.tls.is_default() {
        return Err(ConfigError(format!(
            "TLS files are set (CACHED_JSON_TLS_*) but {display_url} is not a rediss:// URL"
        )));
    }
    #[cfg(feature = "tls")]
    if tls {
        super::tls::install_crypto_provider();
    }
    Ok(tls)
}

/// The client of one server: with TLS for a `rediss://` URL (the system's roots, or the
/// configured CA and client certificate).
fn client(
    info: ConnectionInfo,
    config: &RedisConfig,
    display_url: &str,
) -> Result<Client, ConfigError> {
    #[cfg(feature = "tls")]
    if wants_tls(&info, config, display_url)? {
        if let Some(certificates) = config.tls.certificates()? {
            return Client::build_with_tls(info, certificates).map_err(|err| {
                ConfigError(format!(
                    "invalid TLS configuration for {display_url}: {err}"
                ))
            });
        }
    }
    #[cfg(not(feature = "tls"))]
    wants_tls(&info, config, display_url)?;
    Client::open(info).map_err(|err| ConfigError(format!("invalid Redis URL {display_url}: {err}")))
}

/// The Cluster client. Its own retries follow `MOVED`/`ASK` and wait out a failover briefly;
/// the store bounds every command with its own timeout on top.
fn cluster_client(
    infos: Vec<ConnectionInfo>,
    config: &RedisConfig,
    display_url: &str,
) -> Result<ClusterClient, ConfigError> {
    let tls = infos
        .iter()
        .map(|info| wants_tls(info, config, display_url))
        .collect::<Result<Vec<_>, _>>()?;
    #[allow(unused_mut)]
    let mut builder = ClusterClient::builder(infos)
        .connection_timeout(config.connect_timeout)
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(100);
    #[cfg(feature = "tls")]
    if tls.iter().any(|&tls| tls) {
        if let Some(certificates) = config.tls.certificates()? {
            builder = builder.certs(certificates);
        }
    }
    let _ = tls;
    builder.build().map_err(|err| {
        ConfigError(format!(
            "invalid Redis Cluster configuration {display_url}: {err}"
        ))
    })
}
