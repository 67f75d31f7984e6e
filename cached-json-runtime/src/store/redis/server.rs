//! What the store connects to, and how: the backend (one server or a Cluster), its settings,
//! the URL as it may be logged, the secrets scrubbed from errors; and one connection made and
//! checked within its budget. What every part of the store that opens a connection receives
//! (the command connections, the reconnection loop, the invalidation subscriber, the L1's
//! tracking), and nothing more.

use std::time::Duration;

use redis::{AsyncConnectionConfig, RedisError};

use super::config::RedisConfig;
use super::link::{Backend, Link};

/// The server (or Cluster) the store talks to.
pub(super) struct Server {
    pub(super) backend: Backend,
    pub(super) config: RedisConfig,
    /// The URL as it may be logged.
    pub(super) display_url: String,
    /// The password, scrubbed from every error message before it is logged or returned.
    pub(super) secrets: Vec<String>,
    /// Whether its connections use TLS (read only with the `tls` feature: without, a
    /// `rediss://` URL is refused when the store is built).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(super) tls: bool,
}

impl Server {
    /// How long one connection attempt may take: `connect_timeout`; with Redis Sentinel, twice
    /// (the sentinels asked where the master is, then the master connected to); a Cluster's,
    /// plus two command timeouts (every seed's handshake, a connection then an answer, then the
    /// slot map's read).
    pub(super) fn connect_budget(&self) -> Duration {
        match &self.backend {
            Backend::Single(_) if self.backend.locates() => self.config.connect_timeout * 2,
            Backend::Single(_) => self.config.connect_timeout,
            Backend::Cluster { .. } => self.config.connect_timeout + self.config.op_timeout * 2,
        }
    }

    /// What every part of the store that (re)connects (the command connection, the
    /// invalidation subscriber, the L1's tracking) does first. With TLS, makes sure rustls has a
    /// process-wide crypto provider: the application's, if it installed one by now, else ring's
    /// (installed here, at the first connection, never when the cache is built: an application
    /// that installs its own before its first cached call has it used). With Redis Sentinel,
    /// asks the sentinels where the master is now (within `connect_timeout`), so that the
    /// connections made next go there. The error is for the log (scrubbed).
    pub(super) async fn before_connecting(&self) -> Result<(), String> {
        #[cfg(feature = "tls")]
        if self.tls {
            super::tls::install_crypto_provider();
        }
        self.backend
            .locate(self.config.connect_timeout)
            .await
            .map_err(|err| crate::logging::scrub(&err, &self.secrets))
    }

    /// One connection, made and checked within [`Server::connect_budget`], driven on the current runtime,
    /// named `name` on the server (`CLIENT LIST` shows which are the cache's). On a Cluster, the
    /// `PING` goes to every primary redis-rs could connect to (it skips one it could not: that one
    /// fails its keys' commands later, and [`super::cluster::shards`] handles it).
    pub(super) async fn connect(&self, name: &str) -> Result<Link, String> {
        let timeout = self.connect_budget();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            // Commands are timed by the store, which tells a timeout from a dropped connection.
            .set_response_timeout(None);
        let attempt = async {
            let mut link = match &self.backend {
                Backend::Single(single) => Link::Single(
                    single
                        .clients()
                        .client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ),
                Backend::Cluster { client, .. } => {
                    Link::Cluster(client.get_async_connection().await?)
                }
            };
            // The handshake may succeed on a server that cannot serve (loading, paused): ask it.
            redis::cmd("PING").query_async::<()>(&mut link).await?;
            // A name for operators; a user without the right to set it (ACL) still caches. (On a
            // Cluster it would name one node's connection only.)
            if let Link::Single(connection) = &mut link {
                let _ = redis::cmd("CLIENT")
                    .arg("SETNAME")
                    .arg(name)
                    .query_async::<()>(connection)
                    .await;
            }
            Ok::<_, RedisError>(link)
        };
        match crate::timer::timeout(timeout, attempt).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(err)) => Err(crate::logging::scrub(&err.to_string(), &self.secrets)),
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }
}
