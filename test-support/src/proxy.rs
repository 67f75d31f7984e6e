//! A TCP proxy in front of a server that can black-hole chosen connections: stop forwarding
//! them, both ways, without closing them, as a NAT or a load balancer that dropped a
//! connection's state does (the peers learn nothing; their writes go nowhere).
//!
//! Connections are chosen by what their client sent: [`TcpProxy::freeze_matching`] freezes
//! every connection, open or opened later, whose client has sent the given bytes (e.g.
//! `SUBSCRIBE`: a pub/sub subscriber), until [`TcpProxy::thaw`], which forwards what was held.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many of a client's first bytes are kept to match against.
const REMEMBERED: usize = 64 * 1024;

/// A proxy on a free port of 127.0.0.1, to `127.0.0.1:target`; stops on drop.
pub struct TcpProxy {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    target: u16,
    /// What a client must have sent for its connection to be frozen, while set.
    freeze: Mutex<Option<Vec<u8>>>,
    connections: Mutex<Vec<Arc<Connection>>>,
    stopped: AtomicBool,
}

struct Connection {
    /// What the client sent so far (its first [`REMEMBERED`] bytes).
    sent: Mutex<Vec<u8>>,
    frozen: AtomicBool,
    client: TcpStream,
    server: TcpStream,
}

impl TcpProxy {
    /// A proxy to the server on `127.0.0.1:target`.
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let shared = Arc::new(Shared {
            target,
            freeze: Mutex::new(None),
            connections: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || accept(listener, accepting));
        TcpProxy { port, shared }
    }

    /// `redis://127.0.0.1:PORT/0` through the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Freezes every connection whose client has sent `bytes`, now or later, until
    /// [`TcpProxy::thaw`]; returns how many open connections it froze now.
    pub fn freeze_matching(&self, bytes: &str) -> usize {
        *self.shared.freeze.lock().unwrap() = Some(bytes.as_bytes().to_vec());
        let connections = self.shared.connections.lock().unwrap();
        connections
            .iter()
            .filter(|connection| connection.check(&self.shared))
            .count()
    }

    /// Forwards every frozen connection again (what was held goes through), and freezes no more.
    pub fn thaw(&self) {
        *self.shared.freeze.lock().unwrap() = None;
        for connection in self.shared.connections.lock().unwrap().iter() {
            connection.frozen.store(false, Ordering::SeqCst);
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Unblock the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for connection in self.shared.connections.lock().unwrap().drain(..) {
            let _ = connection.client.shutdown(Shutdown::Both);
            let _ = connection.server.shutdown(Shutdown::Both);
        }
    }
}

impl Connection {
    /// Freezes it if its client sent what freezes; returns whether it froze now.
    fn check(&self, shared: &Shared) -> bool {
        let freeze = shared.freeze.lock().unwrap();
        let Some(pattern) = freeze.as_deref() else {
            return false;
        };
        let sent = self.sent.lock().unwrap();
        let matches = sent.windows(pattern.len()).any(|window| window == pattern);
        matches && !self.frozen.swap(true, Ordering::SeqCst)
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(("127.0.0.1", shared.target)) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let connection = Arc::new(Connection {
            sent: Mutex::new(Vec::new()),
            frozen: AtomicBool::new(false),
            client,
            server,
        });
        shared.connections.lock().unwrap().push(connection.clone());
        for upstream in [true, false] {
            let (connection, shared) = (connection.clone(), shared.clone());
            std::thread::spawn(move || forward(&connection, &shared, upstream));
        }
    }
}

/// Copies one direction of `connection` (`upstream`: client to server) until either side
/// closes, holding everything while it is frozen.
fn forward(connection: &Connection, shared: &Shared, upstream: bool) {
    let (mut from, mut to) = match upstream {
        true => (&connection.client, &connection.server),
        false => (&connection.server, &connection.client),
    };
    let _ = from.set_read_timeout(Some(Duration::from_millis(5)));
    let mut held: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        if connection.frozen.load(Ordering::SeqCst) {
            // Nothing read, nothing written: the peers' data waits in their buffers.
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        if !held.is_empty() {
            if to.write_all(&held).is_err() {
                break;
            }
            held.clear();
        }
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                if upstream {
                    {
                        let mut sent = connection.sent.lock().unwrap();
                        let room = REMEMBERED.saturating_sub(sent.len());
                        sent.extend_from_slice(&buffer[..n.min(room)]);
                    }
                    if connection.check(shared) {
                        // Frozen by what it just sent: that too is held.
                        held.extend_from_slice(&buffer[..n]);
                        continue;
                    }
                }
                if connection.frozen.load(Ordering::SeqCst) {
                    held.extend_from_slice(&buffer[..n]);
                    continue;
                }
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = connection.client.shutdown(Shutdown::Both);
    let _ = connection.server.shutdown(Shutdown::Both);
}
