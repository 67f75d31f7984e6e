//! Real `redis-server` processes: each test gets its own, on a free port, and can kill, pause
//! (SIGSTOP) or restart it to inject faults.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cached_json::Cache;

/// The `redis-server` binary: `$REDIS_SERVER_BIN`, else `redis-server` on `PATH`.
pub fn redis_server_bin() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".to_owned())
}

/// A `redis-server` child process, stopped (and resumed first, if paused) on drop.
pub struct RedisServer {
    port: u16,
    /// The TLS port, for a server started with [`RedisServer::start_tls`].
    tls_port: Option<u16>,
    extra_args: Vec<String>,
    child: Option<Child>,
    paused: bool,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments, e.g. `["--requirepass", "pw"]`.
    pub fn start_with(extra_args: &[&str]) -> Self {
        let extra_args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                port,
                tls_port: None,
                extra_args: extra_args.clone(),
                child: None,
                paused: false,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("could not start redis-server on a free port after 5 attempts");
    }

    /// Starts a Cluster node (`--cluster-enabled yes` among `extra_args`) with its cluster bus
    /// on a free port of its own: the default, the port + 10000, may be taken or out of range.
    /// With `tls`, it also listens with TLS, as [`RedisServer::start_tls`] does.
    pub fn start_cluster_node(extra_args: &[&str], tls: Option<&crate::TlsFiles>) -> Self {
        for _ in 0..5 {
            let mut args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
            args.extend(["--cluster-port".to_owned(), free_port().to_string()]);
            let tls_port = tls.map(|files| {
                let port = free_port();
                args.extend(tls_args(files, port, false));
                port
            });
            let mut server = RedisServer {
                port: free_port(),
                tls_port,
                extra_args: args,
                child: None,
                paused: false,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("could not start a Cluster node on free ports after 5 attempts");
    }

    /// Starts a server that also listens with TLS (certificate and key from `files`, clients
    /// checked against its CA when `client_certificates`), on a second free port. The plain
    /// port stays open, for readiness checks and for looking at what was stored.
    pub fn start_tls(files: &crate::TlsFiles, client_certificates: bool) -> Self {
        Self::start_tls_with(files, client_certificates, &[])
    }

    /// [`RedisServer::start_tls`], with `extra_args` (a replica's `--replicaof`, say).
    pub fn start_tls_with(
        files: &crate::TlsFiles,
        client_certificates: bool,
        extra_args: &[&str],
    ) -> Self {
        let tls_port = free_port();
        let mut args = tls_args(files, tls_port, client_certificates);
        args.extend(extra_args.iter().map(|arg| arg.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = Self::start_with(&args);
        server.tls_port = Some(tls_port);
        server
    }

    /// The TLS port, for a server started with [`RedisServer::start_tls`].
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `rediss://HOST:TLS_PORT/0`, for a server started with [`RedisServer::start_tls`].
    pub fn tls_url(&self, host: &str) -> String {
        let port = self.tls_port.expect("a server started with start_tls");
        format!("rediss://{host}:{port}/0")
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Whether the server is running (not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A blocking connection, for looking at what the code under test stored.
    pub fn connection(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("client");
        client
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("connect to the test redis-server")
    }

    /// The keys matching `pattern` (`KEYS`), sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut self.connection())
            .expect("KEYS on the test redis-server");
        keys.sort();
        keys
    }

    /// How many times this server has run `command` (lower case, e.g. `"mget"`) so far, from
    /// `INFO commandstats`: for counting the round trips a cached call costs.
    pub fn command_calls(&self, command: &str) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.connection())
            .expect("INFO commandstats on the test redis-server");
        info.lines()
            .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
            .and_then(|rest| rest.split(',').next()?.parse().ok())
            .unwrap_or(0)
    }

    /// A cache on this server, with the default configuration.
    pub fn cache(&self) -> Cache {
        Cache::builder()
            .redis_url(self.url())
            .build()
            .expect("a valid Redis URL")
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.paused {
                signal(&child, "CONT");
                self.paused = false;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&mut self) {
        if let Some(child) = &self.child {
            signal(child, "STOP");
            self.paused = true;
        }
    }

    /// Unfreezes a paused server (SIGCONT).
    pub fn resume(&mut self) {
        if let Some(child) = &self.child {
            signal(child, "CONT");
            self.paused = false;
        }
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new(redis_server_bin())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args([
                "--daemonize",
                "no",
                "--dir",
                &std::env::temp_dir().to_string_lossy(),
                // A file nobody else has: redis-server loads an existing one at start, and a
                // `dump.rdb` left in the temporary folder (by a `SAVE` or `DEBUG RELOAD`
                // anywhere) would fill every test's server with its keys.
                "--dbfilename",
                &format!(
                    "cached-json-test-{}-{}-{}.rdb",
                    std::process::id(),
                    self.port,
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |elapsed| elapsed.as_nanos())
                ),
            ])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(err) => panic!(
                "cannot run `{}` ({err}): install Debian's redis-server package, or set REDIS_SERVER_BIN",
                redis_server_bin()
            ),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false; // exited: port taken, most likely
            }
            if ping(self.port) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The arguments for a TLS port: the certificate and key from `files`, clients checked against
/// its CA when `client_certificates`.
pub(crate) fn tls_args(
    files: &crate::TlsFiles,
    tls_port: u16,
    client_certificates: bool,
) -> Vec<String> {
    let path = |name: &str| files.path(name).to_string_lossy().into_owned();
    vec![
        "--tls-port".to_owned(),
        tls_port.to_string(),
        "--tls-cert-file".to_owned(),
        path("server.crt"),
        "--tls-key-file".to_owned(),
        path("server.key"),
        "--tls-ca-cert-file".to_owned(),
        path("ca.crt"),
        "--tls-auth-clients".to_owned(),
        if client_certificates { "yes" } else { "no" }.to_owned(),
    ]
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// Whether a server on `port` answers (a `-NOAUTH` error counts: it is up).
pub(crate) fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(n) if n > 0 => buf[0] == b'+' || buf[..n].starts_with(b"-NOAUTH"),
        _ => false,
    }
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status();
}
