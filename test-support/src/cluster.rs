//! A local Redis Cluster: three primaries and three replicas, each a [`RedisServer`] on a free
//! port (`--cluster-enabled yes`, a short `--cluster-node-timeout` so that a failover takes a
//! couple of seconds), joined with `redis-cli --cluster create`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::RedisServer;

/// A running 3 + 3 Cluster, stopped on drop.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    /// The nodes' files, removed on drop.
    dir: std::path::PathBuf,
    /// One Cluster at a time in a test process (released last, after the nodes are stopped):
    /// several at once on 2 cores made commands miss their timeouts and failovers bypass, so
    /// that tests asserting none failed at random.
    _one_at_a_time: ClusterSlot,
}

/// The right to run a Cluster in this process, given back on drop (a guard that can move
/// between threads, unlike a `MutexGuard`).
struct ClusterSlot;

static CLUSTER_RUNNING: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
static CLUSTER_DONE: std::sync::Condvar = std::sync::Condvar::new();

impl ClusterSlot {
    fn take() -> ClusterSlot {
        let mut running = CLUSTER_RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *running {
            running = CLUSTER_DONE
                .wait(running)
                .unwrap_or_else(|e| e.into_inner());
        }
        *running = true;
        ClusterSlot
    }
}

impl Drop for ClusterSlot {
    fn drop(&mut self) {
        *CLUSTER_RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = false;
        CLUSTER_DONE.notify_one();
    }
}

/// Starts node `i` of the Cluster whose files are in `dir`.
fn start_node(dir: &std::path::Path, i: usize, tls: Option<&crate::TlsFiles>) -> RedisServer {
    let dir = dir.to_string_lossy();
    let config_file = format!("nodes-{i}.conf");
    let rdb_file = format!("dump-{i}.rdb");
    let log_file = format!("{dir}/node-{i}.log");
    // Between nodes each is a TLS client too: with the client certificate (the server's is for
    // server authentication only).
    let tls_cluster: Vec<String> = match tls {
        Some(files) => vec![
            "--tls-cluster".to_owned(),
            "yes".to_owned(),
            "--tls-replication".to_owned(),
            "yes".to_owned(),
            "--tls-client-cert-file".to_owned(),
            files.path("client.crt").to_string_lossy().into_owned(),
            "--tls-client-key-file".to_owned(),
            files.path("client.key").to_string_lossy().into_owned(),
        ],
        None => Vec::new(),
    };
    let tls_cluster: Vec<&str> = tls_cluster.iter().map(String::as_str).collect();
    let args = [
        "--dir",
        &dir,
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        &config_file,
        "--dbfilename",
        &rdb_file,
        "--cluster-node-timeout",
        &NODE_TIMEOUT_MS.to_string(),
        "--logfile",
        &log_file,
        // Replicas sync at once (the default waits 5 s for more replicas): a replica that has
        // not synced cannot take over.
        "--repl-diskless-sync-delay",
        "0",
    ];
    RedisServer::start_cluster_node(&[&args[..], &tls_cluster[..]].concat(), tls)
}

/// `--cluster-node-timeout`: how long a primary may be silent before its replica takes over.
pub const NODE_TIMEOUT_MS: u64 = 1000;

impl RedisCluster {
    /// Starts six nodes, makes them a Cluster and waits until every slot is served.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// [`RedisCluster::start`], each node also listening with TLS (certificates from `files`,
    /// which must name 127.0.0.1: the Cluster tells clients its nodes' addresses), the nodes
    /// talking to each other over TLS too (`--tls-cluster yes`).
    pub fn start_tls(files: &crate::TlsFiles) -> Self {
        Self::start_with(Some(files))
    }

    fn start_with(tls: Option<&crate::TlsFiles>) -> Self {
        let one_at_a_time = ClusterSlot::take();
        let tag = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        // A directory of the Cluster's own: the nodes' cluster config files, and the RDB files
        // replicas write on their first sync (which any later server sharing the directory
        // would load at start).
        let dir = std::env::temp_dir().join(format!("cached-json-cluster-{tag}"));
        std::fs::create_dir_all(&dir).expect("a directory for the Cluster's files");
        let nodes = (0..6).map(|i| start_node(&dir, i, tls)).collect();
        // Made before the Cluster is joined, so that its drop cleans up if joining fails.
        let cluster = RedisCluster {
            nodes,
            dir,
            _one_at_a_time: one_at_a_time,
        };
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        // Bounded: nodes that cannot reach each other make `--cluster create` wait forever.
        let mut create = Command::new(redis_cli_bin())
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot run `redis-cli` ({err}): install Debian's redis-tools package")
            });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = create.try_wait().expect("redis-cli --cluster create") {
                break Some(status);
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = create.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut output = String::new();
        if let Some(mut stdout) = create.stdout.take() {
            let _ = stdout.read_to_string(&mut output);
        }
        let _ = create.wait();
        assert!(
            status.is_some_and(|status| status.success()),
            "redis-cli --cluster create ({}): {output}",
            if status.is_none() {
                "still waiting after 30 s"
            } else {
                "failed"
            }
        );
        cluster.wait_until_served(Duration::from_secs(30));
        cluster.wait_until_replicated(Duration::from_secs(30));
        cluster
    }

    /// Waits until every replica's link to its primary is up (its first sync done).
    fn wait_until_replicated(&self, within: Duration) {
        let started = Instant::now();
        let primaries = self.primaries();
        let replicas: Vec<usize> = (0..self.nodes.len())
            .filter(|i| !primaries.contains(i))
            .collect();
        while !replicas.iter().all(|&i| {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut self.nodes[i].connection())
                .unwrap_or_default();
            info.contains("master_link_status:up")
        }) {
            assert!(
                started.elapsed() < within,
                "the replicas did not sync within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis://127.0.0.1:PORT/0` of every node still running.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|node| node.is_running())
            .map(RedisServer::url)
            .collect()
    }

    /// `rediss://127.0.0.1:TLS_PORT/0` of every node still running, for a Cluster started with
    /// [`RedisCluster::start_tls`].
    pub fn tls_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|node| node.is_running())
            .map(|node| node.tls_url("127.0.0.1"))
            .collect()
    }

    /// The nodes, primaries and replicas alike.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The indexes of the running nodes that are primaries now.
    pub fn primaries(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_running() && self.role(i) == "master")
            .collect()
    }

    fn role(&self, i: usize) -> String {
        let role: Vec<redis::Value> = redis::cmd("ROLE")
            .query(&mut self.nodes[i].connection())
            .expect("ROLE");
        match role.first() {
            Some(redis::Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            Some(redis::Value::SimpleString(text)) => text.clone(),
            other => panic!("ROLE answered {other:?}"),
        }
    }

    /// The replica of primary `primary`.
    pub fn replica_of(&self, primary: usize) -> usize {
        let port = self.nodes[primary].port();
        (0..self.nodes.len())
            .find(|&i| {
                i != primary && self.nodes[i].is_running() && {
                    let info: String = redis::cmd("INFO")
                        .arg("replication")
                        .query(&mut self.nodes[i].connection())
                        .unwrap_or_default();
                    info.contains(&format!("master_port:{port}\r\n"))
                }
            })
            .expect("a replica of that primary")
    }

    /// A manual failover (`CLUSTER FAILOVER` on replica `i`): the replica and its primary
    /// swap roles without losing a write. Returns once node `i` is a primary.
    pub fn fail_over_to(&self, i: usize) {
        let _: () = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query(&mut self.nodes[i].connection())
            .expect("CLUSTER FAILOVER");
        let started = Instant::now();
        while self.role(i) != "master" {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "node {i} did not take over within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts one more node (plain, without TLS) and has it join as a primary without slots
    /// (`CLUSTER MEET`), as the first step of scaling out does; returns its index once every
    /// running node lists it as a connected primary, and it lists every running node and says
    /// the Cluster is up.
    pub fn add_primary(&mut self) -> usize {
        let i = self.nodes.len();
        self.nodes.push(start_node(&self.dir, i, None));
        let port = self.nodes[i].port();
        // Its bus port is a free port too, not the default port + 10000.
        let (_, bus_port): (String, u16) = redis::cmd("CONFIG")
            .arg("GET")
            .arg("cluster-port")
            .query(&mut self.nodes[i].connection())
            .expect("CONFIG GET cluster-port");
        let _: () = redis::cmd("CLUSTER")
            .arg("MEET")
            .arg("127.0.0.1")
            .arg(port)
            .arg(bus_port)
            .query(&mut self.nodes[0].connection())
            .expect("CLUSTER MEET");
        let id = self.id(i);
        let running = self.nodes.iter().filter(|node| node.is_running()).count();
        let knows_everyone = || {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query(&mut self.nodes[i].connection())
                .unwrap_or_default();
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query(&mut self.nodes[i].connection())
                .unwrap_or_default();
            info.contains("cluster_state:ok")
                && nodes
                    .lines()
                    .filter(|line| line.split(' ').nth(7) == Some("connected"))
                    .count()
                    >= running
        };
        let started = Instant::now();
        while !knows_everyone()
            || !(0..self.nodes.len())
                .filter(|&n| self.nodes[n].is_running())
                .all(|n| {
                    let nodes: String = redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query(&mut self.nodes[n].connection())
                        .unwrap_or_default();
                    nodes.lines().any(|line| {
                        let fields: Vec<&str> = line.split(' ').collect();
                        fields.len() > 7
                            && fields[0] == id
                            && fields[2].split(',').any(|flag| flag == "master")
                            && fields[7] == "connected"
                    })
                })
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "node {i} did not join within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        i
    }

    /// Moves the slot of `key`, with its keys, from its primary to primary `to`, as
    /// `redis-cli --cluster reshard` does: `IMPORTING` / `MIGRATING`, `MIGRATE` each key, then
    /// `SETSLOT ... NODE` on every primary.
    pub fn move_slot_of(&self, key: &str, to: usize) {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.nodes[to].connection())
            .expect("CLUSTER KEYSLOT");
        // Its primary: the one that does not redirect a read of it.
        let from = self
            .primaries()
            .into_iter()
            .find(|&i| {
                redis::cmd("EXISTS")
                    .arg(key)
                    .query::<u32>(&mut self.nodes[i].connection())
                    .is_ok()
            })
            .expect("the key's primary");
        let (from_id, to_id) = (self.id(from), self.id(to));
        let setslot = |node: usize, how: &[&str]| {
            let _: () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(how)
                .query(&mut self.nodes[node].connection())
                .expect("CLUSTER SETSLOT");
        };
        setslot(to, &["IMPORTING", &from_id]);
        setslot(from, &["MIGRATING", &to_id]);
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(100)
                .query(&mut self.nodes[from].connection())
                .expect("CLUSTER GETKEYSINSLOT");
            if keys.is_empty() {
                break;
            }
            let _: () = redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(self.nodes[to].port())
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys)
                .query(&mut self.nodes[from].connection())
                .expect("MIGRATE");
        }
        for node in self.primaries() {
            setslot(node, &["NODE", &to_id]);
        }
    }

    /// Node `i`'s id in the Cluster.
    fn id(&self, i: usize) -> String {
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut self.nodes[i].connection())
            .expect("CLUSTER MYID")
    }

    /// Freezes node `i` (SIGSTOP): it keeps its connections and answers nothing.
    pub fn pause(&mut self, i: usize) {
        self.nodes[i].pause();
    }

    /// Thaws node `i` (SIGCONT).
    pub fn resume(&mut self, i: usize) {
        self.nodes[i].resume();
    }

    /// Kills node `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again on its port, with its Cluster config (it rejoins as it was).
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].restart();
    }

    /// Waits until three running nodes are primaries (after a primary was killed: its replica
    /// was promoted) and every running node says the Cluster is up with all 16384 slots
    /// served; returns how long that took.
    pub fn wait_until_served(&self, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let served = self.primaries().len() == 3
                && self
                    .nodes
                    .iter()
                    .filter(|node| node.is_running())
                    .all(|node| {
                        let info: String = redis::cmd("CLUSTER")
                            .arg("INFO")
                            .query(&mut node.connection())
                            .unwrap_or_default();
                        info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
                    });
            if served {
                return started.elapsed();
            }
            if started.elapsed() > within {
                let nodes: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query(&mut self.nodes[self.primaries()[0]].connection())
                    .unwrap_or_default();
                let logs: Vec<String> = (0..self.nodes.len())
                    .map(|i| {
                        let log = std::fs::read_to_string(self.dir.join(format!("node-{i}.log")))
                            .unwrap_or_default();
                        let tail: Vec<&str> = log.lines().rev().take(15).collect();
                        format!(
                            "node {i}:\n{}",
                            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                        )
                    })
                    .collect();
                panic!(
                    "the Cluster was not served within {within:?}:\n{nodes}\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The keys matching `pattern` on every running primary, sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .primaries()
            .into_iter()
            .flat_map(|i| self.nodes[i].keys(pattern))
            .collect();
        keys.sort();
        keys
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `redis-cli` binary: `$REDIS_CLI_BIN`, else `redis-cli` on `PATH`.
pub fn redis_cli_bin() -> String {
    std::env::var("REDIS_CLI_BIN").unwrap_or_else(|_| "redis-cli".to_owned())
}
