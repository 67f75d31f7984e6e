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
    Client, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisFuture, Value,
};

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::config::{ConfigError, RedisConfig};
use super::dial::{certificates, client, cluster_client, resp3, uses_tls};
use super::tls::Certificates as TlsCertificates;
use crate::logging::{redact_url, scrub};

/// Where connections come from.
// One per store, inside its `Arc`: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Backend {
    /// One server (found through Redis Sentinel, or not).
    Single(Single),
    /// A Cluster: the client (with its seed nodes), a client per seed node for the pub/sub
    /// subscription (cluster-wide `PUBLISH` reaches every node, so one node's will do), and
    /// RESP3 clients for tracking changed keys on every primary.
    Cluster {
        client: ClusterClient,
        seeds: Vec<Client>,
        tracking: NodeClients,
    },
}

/// One server: its clients, and, with Redis Sentinel, where to ask which server it is.
pub(super) struct Single {
    /// The clients of the server connected to (swapped when the sentinels name another master).
    clients: ArcSwap<Clients>,
    #[cfg(feature = "sentinel")]
    sentinels: Option<super::sentinel::Sentinels>,
    certificates: Option<TlsCertificates>,
    display_url: String,
}

/// The clients of one server.
pub(super) struct Clients {
    pub(super) client: Client,
    /// The same, speaking RESP3, for the connection that hears of changed keys (`CLIENT
    /// TRACKING` pushes them; see `tracking.rs`).
    pub(super) tracking: Client,
}

impl Single {
    fn new(
        info: ConnectionInfo,
        certificates: Option<TlsCertificates>,
        display_url: &str,
    ) -> Result<Single, ConfigError> {
        Ok(Single {
            clients: ArcSwap::from_pointee(Clients::of(info, certificates.as_ref(), display_url)?),
            #[cfg(feature = "sentinel")]
            sentinels: None,
            certificates,
            display_url: display_url.to_owned(),
        })
    }

    /// The clients of the server to connect to.
    pub(super) fn clients(&self) -> Arc<Clients> {
        self.clients.load_full()
    }

    /// With Redis Sentinel: asks the sentinels which server is the master now (within
    /// `within`), and connects there from now on. Without, nothing to do.
    pub(super) async fn locate(&self, within: std::time::Duration) -> Result<(), String> {
        #[cfg(feature = "sentinel")]
        if let Some(sentinels) = &self.sentinels {
            let master = sentinels.master(within).await?;
            let current = self.clients.load();
            if master.addr().to_string() != current.client.get_connection_info().addr().to_string()
            {
                let clients = Clients::of(master, self.certificates.as_ref(), &self.display_url)
                    .map_err(|err| err.0)?;
                self.clients.store(Arc::new(clients));
            }
        }
        #[cfg(not(feature = "sentinel"))]
        let _ = (within, &self.certificates, &self.display_url);
        Ok(())
    }
}

impl Clients {
    fn of(
        info: ConnectionInfo,
        certificates: Option<&TlsCertificates>,
        display_url: &str,
    ) -> Result<Clients, ConfigError> {
        Ok(Clients {
            tracking: client(resp3(&info), certificates, display_url)?,
            client: client(info, certificates, display_url)?,
        })
    }
}

/// Where the connections that track changed keys come from.
pub(super) enum Tracking<'a> {
    /// One server: its clients (the RESP3 one tracks).
    Single(Arc<Clients>),
    /// A Cluster: every primary needs one (Redis reports a change on the node that made it,
    /// and on its replicas as they apply it: the primaries together hear every change), found
    /// from a seed node.
    Cluster(&'a NodeClients),
}

/// RESP3 clients for any node of a Cluster, made like the seeds' (the same credentials, TLS
/// settings and certificates) for the addresses the Cluster gives.
pub(super) struct NodeClients {
    /// The seed nodes, speaking RESP3: whom to ask where the primaries are.
    pub(super) seeds: Vec<Client>,
    /// The first seed's settings, speaking RESP3: a node's client is this with its address.
    template: ConnectionInfo,
    certificates: Option<TlsCertificates>,
    display_url: String,
}

impl NodeClients {
    /// The client for the node at `host:port`.
    pub(super) fn client(&self, host: &str, port: u16) -> Result<Client, ConfigError> {
        let mut addr = self.template.addr().clone();
        match &mut addr {
            ConnectionAddr::Tcp(node_host, node_port)
            | ConnectionAddr::TcpTls {
                host: node_host,
                port: node_port,
                ..
            } => {
                host.clone_into(node_host);
                *node_port = port;
            }
            _ => {
                return Err(ConfigError(format!(
                    "a Cluster's seed {} is not a TCP address",
                    self.display_url
                )))
            }
        }
        let info = self.template.clone().set_addr(addr);
        client(info, self.certificates.as_ref(), &self.display_url)
    }
}

/// A backend with what may be logged of it.
pub(super) struct Opened {
    pub(super) backend: Backend,
    /// The URL(s), passwords redacted.
    pub(super) display_url: String,
    /// The passwords, scrubbed from every error message.
    pub(super) secrets: Vec<String>,
    /// Whether its connections use TLS (`rediss://`).
    pub(super) tls: bool,
}

impl Backend {
    /// The backend `config` describes: a Cluster when it says so, or when its URL lists several
    /// seed nodes separated by commas. Reads the TLS files (once), connects to nothing.
    pub(super) fn open(config: &RedisConfig) -> Result<Opened, ConfigError> {
        if is_sentinel_url(&config.url) {
            return Self::open_sentinel(config);
        }
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
        let certificates = certificates(&infos, config, &display_url).map_err(scrubbed)?;
        let tls = uses_tls(&infos);
        let client = |info: ConnectionInfo| {
            client(info, certificates.as_ref(), &display_url).map_err(scrubbed)
        };
        let backend = if config.cluster || infos.len() > 1 {
            let seeds = infos
                .iter()
                .map(|info| client(info.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            let tracking = NodeClients {
                seeds: infos
                    .iter()
                    .map(|info| client(resp3(info)))
                    .collect::<Result<Vec<_>, _>>()?,
                template: resp3(&infos[0]),
                certificates: certificates.clone(),
                display_url: display_url.clone(),
            };
            let client =
                cluster_client(infos, config, certificates, &display_url).map_err(scrubbed)?;
            Backend::Cluster {
                client,
                seeds,
                tracking,
            }
        } else {
            let info = infos.remove(0);
            Backend::Single(Single::new(info, certificates, &display_url).map_err(scrubbed)?)
        };
        Ok(Opened {
            backend,
            display_url,
            secrets,
            tls,
        })
    }

    /// A backend on the master Redis Sentinel names: the sentinels of `config`'s URL, asked
    /// before each connection (see [`Single::locate`]).
    #[cfg(feature = "sentinel")]
    fn open_sentinel(config: &RedisConfig) -> Result<Opened, ConfigError> {
        let display_url = redact_url(&config.url);
        let (sentinels, master, certificates) =
            super::sentinel::Sentinels::open(&config.url, |master| {
                let password = master.redis_settings().password().unwrap_or_default();
                certificates(std::slice::from_ref(master), config, &display_url)
                    .map_err(|err| ConfigError(scrub(&err.0, &[password.to_owned()])))
            })?;
        let secrets: Vec<String> = master
            .redis_settings()
            .password()
            .map(str::to_owned)
            .into_iter()
            .collect();
        let scrubbed = |err: ConfigError| ConfigError(scrub(&err.0, &secrets));
        let tls = uses_tls(std::slice::from_ref(&master));
        // Until the sentinels are first asked: their first address (never connected to as
        // the master: every connection asks them first).
        let mut single = Single::new(master, certificates, &display_url).map_err(scrubbed)?;
        single.sentinels = Some(sentinels);
        Ok(Opened {
            backend: Backend::Single(single),
            display_url,
            secrets,
            tls,
        })
    }

    #[cfg(not(feature = "sentinel"))]
    fn open_sentinel(config: &RedisConfig) -> Result<Opened, ConfigError> {
        Err(ConfigError(format!(
            "{} is a Redis Sentinel URL: enable the `sentinel` feature of cached-json",
            redact_url(&config.url)
        )))
    }

    /// With Redis Sentinel: asks the sentinels where the master is now, and connects there
    /// from now on (see [`Single::locate`]). Every part of the store that (re)connects calls
    /// it first.
    pub(super) async fn locate(&self, within: std::time::Duration) -> Result<(), String> {
        match self {
            Backend::Single(single) => single.locate(within).await,
            Backend::Cluster { .. } => Ok(()),
        }
    }

    /// Whether it asks Redis Sentinel where the master is before connecting.
    pub(super) fn locates(&self) -> bool {
        #[cfg(feature = "sentinel")]
        if let Backend::Single(single) = self {
            return single.sentinels.is_some();
        }
        false
    }

    /// The clients a pub/sub subscription may be made with, in the order to try them.
    pub(super) fn pubsub_clients(&self) -> Vec<Client> {
        match self {
            Backend::Single(single) => vec![single.clients().client.clone()],
            Backend::Cluster { seeds, .. } => seeds.clone(),
        }
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Backend::Cluster { .. })
    }

    /// Where the connections that track changed keys come from.
    pub(super) fn tracking(&self) -> Tracking<'_> {
        match self {
            Backend::Single(single) => Tracking::Single(single.clients()),
            Backend::Cluster { tracking, .. } => Tracking::Cluster(tracking),
        }
    }
}

/// Whether `url` names Redis Sentinels (`redis+sentinel://`, `rediss+sentinel://`).
fn is_sentinel_url(url: &str) -> bool {
    let url = url.trim_start();
    url.starts_with("redis+sentinel://") || url.starts_with("rediss+sentinel://")
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

/// Whether `err` says the connection failed (rather than Redis refusing a command).
pub(super) fn is_connection_failure(err: &redis::RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_unrecoverable_error()
}

#[cfg(all(test, not(feature = "sentinel")))]
mod tests {
    use super::*;

    #[test]
    fn a_sentinel_url_without_the_feature_says_which_to_enable_and_hides_the_password() {
        let config = RedisConfig::new("redis+sentinel://cache:s3cret@10.0.0.1:26379/main");
        let Err(err) = Backend::open(&config) else {
            panic!("a sentinel URL opened without the feature");
        };
        assert!(err.0.contains("enable the `sentinel` feature"), "{}", err.0);
        assert!(!err.0.contains("s3cret"), "{}", err.0);
    }
}
