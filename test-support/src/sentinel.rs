//! A Redis Sentinel set-up, as high-availability self-hosted Redis runs: a master, a replica
//! and three sentinels (quorum 2) watching them, each a process of its own on a free port. A
//! test kills the master and the sentinels promote the replica (about 1 s to notice with
//! `down-after-milliseconds 1000`, then the election). With TLS, every process also listens
//! with TLS, the replica and the sentinels reach the master over it, and the sentinels name the
//! master by its TLS port.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::{free_port, ping, redis_server_bin, tls_args, RedisServer};
use crate::TlsFiles;

/// The master's name the sentinels know it by.
pub const MASTER_NAME: &str = "cj-master";

/// How long the sentinels wait before calling a silent master down.
pub const DOWN_AFTER_MS: u64 = 1000;

/// A master, its replica and three sentinels; everything stopped on drop.
pub struct RedisSentinels {
    /// The two servers: the master first, then its replica (until a failover swaps them).
    servers: Vec<RedisServer>,
    sentinels: Vec<Sentinel>,
}

/// One sentinel process.
struct Sentinel {
    port: u16,
    /// Its TLS port, in a set-up over TLS.
    tls_port: Option<u16>,
    child: Child,
    config: std::path::PathBuf,
}

impl RedisSentinels {
    /// Starts the master, its replica (waiting until it is in sync) and three sentinels
    /// (waiting until each knows the replica and the other two).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`RedisSentinels::start`], with extra arguments for both servers (an ACL user, say:
    /// the replica then authenticates to its master with `masteruser`/`masterauth` among them).
    pub fn start_with(server_args: &[&str]) -> Self {
        let master = RedisServer::start_with(server_args);
        let master_port = master.port().to_string();
        let mut replica_args: Vec<&str> = server_args.to_vec();
        replica_args.extend(["--replicaof", "127.0.0.1", &master_port]);
        let replica = RedisServer::start_with(&replica_args);
        wait_until("the replica is in sync", Duration::from_secs(10), || {
            info(&replica, "replication").contains("master_link_status:up")
        });
        let sentinels = (0..3)
            .map(|_| Sentinel::start(master.port(), None))
            .collect();
        Self::known(RedisSentinels {
            servers: vec![master, replica],
            sentinels,
        })
    }

    /// [`RedisSentinels::start`] over TLS with `files`' certificates (no client certificates
    /// asked): the master and the replica on TLS ports (replicating over TLS), the sentinels
    /// too, monitoring the master's TLS port. Their plain ports stay open for the test's own
    /// checks.
    pub fn start_tls(files: &TlsFiles) -> Self {
        let master = RedisServer::start_tls_with(files, false, &["--tls-replication", "yes"]);
        let master_port = master.tls_port().expect("a TLS port").to_string();
        let replica = RedisServer::start_tls_with(
            files,
            false,
            &[
                "--tls-replication",
                "yes",
                "--replicaof",
                "127.0.0.1",
                &master_port,
            ],
        );
        wait_until("the replica is in sync", Duration::from_secs(10), || {
            info(&replica, "replication").contains("master_link_status:up")
        });
        let master_port = master.tls_port().expect("a TLS port");
        let sentinels = (0..3)
            .map(|_| Sentinel::start(master_port, Some(files)))
            .collect();
        Self::known(RedisSentinels {
            servers: vec![master, replica],
            sentinels,
        })
    }

    /// `set_up`, once the sentinels know the replica and each other.
    fn known(set_up: RedisSentinels) -> Self {
        wait_until(
            "the sentinels know the replica and each other",
            Duration::from_secs(20),
            || {
                set_up.sentinels.iter().all(|sentinel| {
                    let master = sentinel.master_info();
                    master.get("num-slaves").map(String::as_str) == Some("1")
                        && master.get("num-other-sentinels").map(String::as_str) == Some("2")
                })
            },
        );
        set_up
    }

    /// `rediss+sentinel://127.0.0.1:T1,127.0.0.1:T2,127.0.0.1:T3/cj-master` (the sentinels'
    /// TLS ports), for a set-up started with [`RedisSentinels::start_tls`].
    pub fn tls_url(&self) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|sentinel| format!("127.0.0.1:{}", sentinel.tls_port.expect("a TLS set-up")))
            .collect();
        format!("rediss+sentinel://{}/{MASTER_NAME}", sentinels.join(","))
    }

    /// `redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/cj-master`, with `credentials`
    /// (`user:password@`, or empty) for the master.
    pub fn url(&self, credentials: &str) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|sentinel| format!("127.0.0.1:{}", sentinel.port))
            .collect();
        format!(
            "redis+sentinel://{credentials}{}/{MASTER_NAME}",
            sentinels.join(",")
        )
    }

    /// The server the sentinels call the master now.
    pub fn master(&self) -> &RedisServer {
        let port = self.sentinels[0].master_port();
        self.servers
            .iter()
            .find(|server| port.is_some_and(|port| serves_on(server, port)))
            .expect("the master is one of the servers")
    }

    /// Both servers (the first started as the master).
    pub fn servers(&self) -> &[RedisServer] {
        &self.servers
    }

    /// Kills the master (SIGKILL); returns its port as the sentinels name it (its TLS port in
    /// a set-up over TLS).
    pub fn kill_master(&mut self) -> u16 {
        let port = self.sentinels[0]
            .master_port()
            .expect("the sentinels name a master");
        let master = self
            .servers
            .iter_mut()
            .find(|server| serves_on(server, port))
            .expect("the master is one of the servers");
        master.kill();
        port
    }

    /// Waits until every sentinel names a master other than `old_port`, and until that master
    /// answers as a master; returns when that was seen. Panics after `within`.
    pub fn wait_for_promotion(&self, old_port: u16, within: Duration) -> Instant {
        wait_until("a replica promoted", within, || {
            let ports: Vec<Option<u16>> =
                self.sentinels.iter().map(Sentinel::master_port).collect();
            let Some(Some(port)) = ports.first().copied() else {
                return false;
            };
            port != old_port
                && ports.iter().all(|other| *other == Some(port))
                && self
                    .servers
                    .iter()
                    .find(|server| serves_on(server, port))
                    .is_some_and(|server| info(server, "replication").contains("role:master"))
        });
        Instant::now()
    }
}

/// Whether `server` listens on `port` (its plain or its TLS port).
fn serves_on(server: &RedisServer, port: u16) -> bool {
    server.port() == port || server.tls_port() == Some(port)
}

impl Sentinel {
    /// A sentinel monitoring the master on `master_port`; with `tls`, also on a TLS port, and
    /// reaching the master over TLS.
    fn start(master_port: u16, tls: Option<&TlsFiles>) -> Self {
        for _ in 0..5 {
            let port = free_port();
            let tls_port = tls.map(|_| free_port());
            let tls_config = match (tls, tls_port) {
                (Some(files), Some(tls_port)) => {
                    let args = tls_args(files, tls_port, false);
                    let mut lines: Vec<String> = args
                        .chunks(2)
                        .map(|pair| format!("{} {}", pair[0].trim_start_matches("--"), pair[1]))
                        .collect();
                    lines.push("tls-replication yes".to_owned());
                    lines.join("\n") + "\n"
                }
                _ => String::new(),
            };
            // A sentinel rewrites its configuration file: one of its own, in the temporary
            // folder.
            let config = std::env::temp_dir().join(format!(
                "cached-json-sentinel-{}-{port}.conf",
                std::process::id()
            ));
            std::fs::write(
                &config,
                format!(
                    "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\n{tls_config}\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
                     sentinel failover-timeout {MASTER_NAME} 5000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n",
                    dir = std::env::temp_dir().to_string_lossy(),
                ),
            )
            .expect("write a sentinel's configuration");
            let child = Command::new(redis_server_bin())
                .arg(&config)
                .arg("--sentinel")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|err| panic!("cannot run `{}` ({err})", redis_server_bin()));
            let mut sentinel = Sentinel {
                port,
                tls_port,
                child,
                config,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = sentinel.child.try_wait() {
                    break; // exited: port taken, most likely
                }
                if ping(port) {
                    return sentinel;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            sentinel.stop();
        }
        panic!("could not start a sentinel on a free port after 5 attempts");
    }

    fn connection(&self) -> Option<redis::Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}", self.port))
            .ok()?
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()
    }

    /// `SENTINEL MASTER <name>`, as field -> value.
    fn master_info(&self) -> std::collections::HashMap<String, String> {
        self.connection()
            .and_then(|mut connection| {
                redis::cmd("SENTINEL")
                    .arg("MASTER")
                    .arg(MASTER_NAME)
                    .query(&mut connection)
                    .ok()
            })
            .unwrap_or_default()
    }

    /// The master's port, as this sentinel knows it.
    fn master_port(&self) -> Option<u16> {
        let mut connection = self.connection()?;
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER_NAME)
            .query(&mut connection)
            .ok()?;
        Some(port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `INFO section` of `server`, or nothing if it does not answer.
fn info(server: &RedisServer, section: &str) -> String {
    let Ok(client) = redis::Client::open(server.url()) else {
        return String::new();
    };
    let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
        return String::new();
    };
    redis::cmd("INFO")
        .arg(section)
        .query(&mut connection)
        .unwrap_or_default()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
