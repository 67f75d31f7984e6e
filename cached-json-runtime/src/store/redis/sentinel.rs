//! Redis Sentinel: where the master is. A `redis+sentinel://` URL names the sentinels and the
//! master's name; before each (re)connection the store asks them for the master's address
//! (redis-rs's sentinel client, which also checks that the server it names answers as a
//! master), and connects there.
//!
//! A failover shows to the store as a lost connection: the master is gone, or (a failover made
//! while it lives) the sentinels close its clients' connections as they make it a replica
//! (Sentinel's own behaviour; only the first is tested here).
//! The store then skips the cache and reconnects, asking the sentinels again, until they name
//! the promoted replica; the L1 and the invalidation channel start over on the new master.
//!
//! `redis+sentinel://[user:password@]host:port[,host:port...]/<master name>[/<db>]`
//! (`rediss+sentinel://` for TLS to the sentinels and the master, a private CA and a client
//! certificate (`CACHED_JSON_TLS_*`) used for both): the credentials and the database are the
//! master's; the sentinels are asked without credentials.

use std::time::Duration;

use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionInfo, IntoConnectionInfo, TlsMode};
use tokio::sync::Mutex;

use super::config::ConfigError;
use super::tls::Certificates;
use crate::logging::redact_url;

/// The sentinels, and which master to ask them for.
pub(super) struct Sentinels {
    /// redis-rs's client of the sentinels (it keeps a connection to each it asked, and checks
    /// the master they name with the master's credentials, database and TLS): one question at
    /// a time.
    client: Mutex<SentinelClient>,
    master_name: String,
}

impl Sentinels {
    /// The sentinels of `url`, and the connection settings (credentials, database, TLS) of
    /// the master they will name, with the certificates `certificates` gives for them (used
    /// for the sentinels too). Connects to nothing.
    pub(super) fn open(
        url: &str,
        certificates: impl FnOnce(&ConnectionInfo) -> Result<Option<Certificates>, ConfigError>,
    ) -> Result<(Sentinels, ConnectionInfo, Option<Certificates>), ConfigError> {
        let invalid = |why: &str| {
            ConfigError(format!(
                "invalid Redis Sentinel URL {}: {why}; expected \
                 redis+sentinel://[user:password@]host:port[,host:port...]/<master name>[/<db>]",
                redact_url(url)
            ))
        };
        let url = url.trim();
        let (tls, rest) = match url.split_once("+sentinel://") {
            Some(("redis", rest)) => (false, rest),
            Some(("rediss", rest)) => (true, rest),
            _ => return Err(invalid("not a sentinel URL")),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((credentials, hosts)) => (Some(credentials), hosts),
            None => (None, authority),
        };
        let mut path = path.split('/').filter(|segment| !segment.is_empty());
        let master_name = path.next().ok_or_else(|| invalid("no master name"))?;
        let db = path.next().unwrap_or("0");
        if path.next().is_some() {
            return Err(invalid("too many path segments"));
        }
        let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
        if hosts.iter().any(|host| host.is_empty()) {
            return Err(invalid("an empty sentinel address"));
        }
        let scheme = if tls { "rediss" } else { "redis" };
        let sentinels = hosts
            .iter()
            .map(|host| {
                format!("{scheme}://{host}")
                    .into_connection_info()
                    .map(|info| info.addr().clone())
                    .map_err(|err| invalid(&format!("sentinel {host}: {:?}", err.kind())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The master's settings, read as redis-rs reads a URL (percent-decoding included), at
        // the first sentinel's address: the address is replaced by the one the sentinels name.
        let credentials = credentials.map_or(String::new(), |c| format!("{c}@"));
        let master = format!("{scheme}://{credentials}{}/{db}", hosts[0])
            .into_connection_info()
            .map_err(|err| invalid(&format!("{:?}", err.kind())))?;
        let certificates = certificates(&master)?;
        let settings = master.redis_settings();
        let mut builder =
            SentinelClientBuilder::new(sentinels, master_name, SentinelServerType::Master)
                .map_err(|err| invalid(&err.to_string()))?
                .set_client_to_redis_db(settings.db());
        if let Some(username) = settings.username() {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = settings.password() {
            builder = builder.set_client_to_redis_password(password);
        }
        if tls {
            builder = builder
                .set_client_to_redis_tls_mode(TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        }
        #[cfg(feature = "tls")]
        if let Some(certificates) = &certificates {
            builder = builder
                .set_client_to_redis_certificates(certificates.clone())
                .set_client_to_sentinel_certificates(certificates.clone());
        }
        let client = builder.build().map_err(|err| invalid(&err.to_string()))?;
        Ok((
            Sentinels {
                client: Mutex::new(client),
                master_name: master_name.to_owned(),
            },
            master,
            certificates,
        ))
    }

    /// Where the master is now, as the sentinels say (and the server there answers as a
    /// master), within `within`: the connection settings to reach it.
    pub(super) async fn master(&self, within: Duration) -> Result<ConnectionInfo, String> {
        let asked = async {
            let mut client = self.client.lock().await;
            client
                .async_get_client()
                .await
                .map(|client| client.get_connection_info().clone())
                .map_err(|err| {
                    format!("no master {:?} from the sentinels: {err}", self.master_name)
                })
        };
        match crate::timer::timeout(within, asked).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "the sentinels did not name a master within {} ms",
                within.as_millis()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentinel_url_names_the_sentinels_the_master_and_its_settings() {
        let (sentinels, master, _) = Sentinels::open(
            "redis+sentinel://cache:p%40ss@10.0.0.1:26379,10.0.0.2:26380/main/3",
            |_| Ok(None),
        )
        .unwrap();
        assert_eq!(sentinels.master_name, "main");
        assert_eq!(master.redis_settings().username(), Some("cache"));
        assert_eq!(master.redis_settings().password(), Some("p@ss"));
        assert_eq!(master.redis_settings().db(), 3);
        let (_, plain, _) =
            Sentinels::open("redis+sentinel://127.0.0.1:26379/main", |_| Ok(None)).unwrap();
        assert_eq!(plain.redis_settings().password(), None);
        assert_eq!(plain.redis_settings().db(), 0);
    }

    #[test]
    fn a_malformed_sentinel_url_is_refused_without_its_password() {
        for url in [
            "redis+sentinel://user:secret@10.0.0.1:26379",
            "redis+sentinel://user:secret@10.0.0.1:26379,/main",
            "redis+sentinel://user:secret@10.0.0.1:26379/main/0/extra",
        ] {
            let Err(err) = Sentinels::open(url, |_| Ok(None)) else {
                panic!("{url} accepted");
            };
            assert!(!err.0.contains("secret"), "{}", err.0);
            assert!(err.0.contains("<master name>"), "{}", err.0);
        }
    }
}
