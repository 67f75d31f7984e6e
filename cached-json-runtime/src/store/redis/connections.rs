//! Which connection a command goes out on.
//!
//! A redis-rs multiplexed connection is driven by a task on the runtime that made it. The
//! store's own connection lives on its background thread, so it works from any runtime (one
//! per `#[tokio::test]`, one per actix worker) and outlives them; but a command sent to another
//! thread's driver costs two thread hops, which on a loaded machine is most of a hit's cost. So
//! each runtime that uses the store also gets a connection of its own, made in the background on
//! its first call (until then it uses the store's): the same arrangement as a connection a
//! handler would create by hand.
//!
//! All of it sits in one [`Generation`], swapped whole when the store connects or loses Redis
//! (the model of redis-rs's `ConnectionManager`): a connection of an older generation is never
//! picked again, without any other state to update in order. A runtime's own connection that
//! fails alone (closed by a proxy or an idle timeout, or stuck) is forgotten alone: the runtime
//! uses the store's connection meanwhile and makes a new one of its own, and nobody else is
//! disturbed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::link::Link;
use super::server::Server;

/// The connections of one period between outages.
struct Generation {
    /// Unique in the process: thread slots of other generations (and stores) never match.
    number: u64,
    /// The store's own connection, driven on its background thread; `None` while down.
    own: Option<Link>,
    /// Connections driven on the callers' runtimes, by runtime.
    local: RwLock<HashMap<tokio::runtime::Id, Local>>,
}

/// A connection driven on a caller's runtime.
enum Local {
    /// Being made in the background.
    Connecting,
    /// Made; `broken` is set when it is forgotten, for the threads that keep a copy.
    Ready(Link, Arc<AtomicBool>),
    /// The last attempt failed at that time.
    Failed(Instant),
}

const MAX_LOCAL_CONNECTIONS: usize = 64;
/// How long a runtime whose own connection failed uses the store's before trying again.
const LOCAL_RETRY: Duration = Duration::from_secs(1);

static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A thread's copy of its runtime's connection, valid while its generation is current and it
/// was not forgotten.
struct ThreadConnection {
    generation: u64,
    runtime: tokio::runtime::Id,
    connection: Link,
    broken: Arc<AtomicBool>,
}

/// The connection a command goes out on, and whose it is.
pub(super) struct Picked {
    pub(super) connection: Link,
    /// `Some`: a runtime's own connection (its generation and runtime), which a failure
    /// forgets; `None`: the store's.
    local: Option<(u64, tokio::runtime::Id)>,
}

thread_local! {
    static THREAD_CONNECTION: RefCell<Option<ThreadConnection>> = const { RefCell::new(None) };
}

/// The store's connections: the current generation.
pub(super) struct Connections {
    current: ArcSwap<Generation>,
}

impl Connections {
    /// No connection yet.
    pub(super) fn new() -> Self {
        Connections {
            current: ArcSwap::from_pointee(Generation::new(None)),
        }
    }

    /// A new generation around the store's fresh connection.
    pub(super) fn connected(&self, own: Link) {
        self.current.store(Arc::new(Generation::new(Some(own))));
    }

    /// Redis was lost: no connection of the ending generation is used again.
    pub(super) fn lost(&self) {
        self.current.store(Arc::new(Generation::new(None)));
    }

    /// The store's own connection, if Redis is up.
    pub(super) fn own(&self) -> Option<Link> {
        self.current.load().own.clone()
    }

    /// The connection for a command from this thread, on `runtime` (the current one, if any):
    /// the runtime's own if it is ready, else the store's. On a runtime's first call, starts
    /// making its own in the background.
    pub(super) fn pick(
        &self,
        server: &Arc<Server>,
        runtime: Option<&tokio::runtime::Handle>,
    ) -> Option<Picked> {
        let generation = self.current.load();
        let own = |generation: &Generation| {
            generation.own.clone().map(|connection| Picked {
                connection,
                local: None,
            })
        };
        // Outside a runtime, or in one that cannot drive a connection of its own (no time
        // driver), the store's connection serves: it is driven on the store's own runtime. So
        // it does on a Cluster, whose one link keeps a connection to every node.
        let Some(runtime) = runtime
            .filter(|runtime| crate::timer::has_timer(runtime))
            .filter(|_| !server.backend.is_cluster())
        else {
            return own(&generation);
        };
        let id = runtime.id();
        let local = Some((generation.number, id));
        // The thread's slot first: no lock, no shared cache line written.
        let cached = THREAD_CONNECTION.with(|slot| {
            slot.borrow()
                .as_ref()
                .filter(|c| {
                    c.generation == generation.number
                        && c.runtime == id
                        && !c.broken.load(Ordering::Relaxed)
                })
                .map(|c| c.connection.clone())
        });
        if let Some(connection) = cached {
            return Some(Picked { connection, local });
        }
        if let Some((connection, broken)) = generation.local(id, runtime, server) {
            THREAD_CONNECTION.with(|slot| {
                *slot.borrow_mut() = Some(ThreadConnection {
                    generation: generation.number,
                    runtime: id,
                    connection: connection.clone(),
                    broken,
                });
            });
            return Some(Picked { connection, local });
        }
        own(&generation)
    }

    /// A command failed on `picked`: if it was a runtime's own connection, forget that one
    /// (the runtime makes a new one in the background). Returns whether it was.
    pub(super) fn forget(&self, picked: &Picked) -> bool {
        let Some((number, runtime)) = picked.local else {
            return false;
        };
        let generation = self.current.load();
        if generation.number == number {
            let mut local = generation.local.write().unwrap_or_else(|e| e.into_inner());
            if let Some(Local::Ready(_, broken)) = local.remove(&runtime) {
                broken.store(true, Ordering::Relaxed);
            }
        }
        true
    }
}

impl Generation {
    fn new(own: Option<Link>) -> Self {
        Generation {
            number: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            own,
            local: RwLock::new(HashMap::new()),
        }
    }

    /// Runtime `id`'s own connection if it is ready; if there is none (and Redis is up), starts
    /// making one in the background on that runtime.
    fn local(
        self: &Arc<Self>,
        id: tokio::runtime::Id,
        runtime: &tokio::runtime::Handle,
        server: &Arc<Server>,
    ) -> Option<(Link, Arc<AtomicBool>)> {
        {
            let local = self.local.read().unwrap_or_else(|e| e.into_inner());
            match local.get(&id) {
                Some(Local::Ready(connection, broken)) => {
                    return Some((connection.clone(), broken.clone()))
                }
                Some(Local::Connecting) => return None,
                Some(Local::Failed(at)) if at.elapsed() < LOCAL_RETRY => return None,
                Some(Local::Failed(_)) | None => {}
            }
        }
        // While Redis is down, the reconnection loop alone dials it.
        self.own.as_ref()?;
        let mut local = self.local.write().unwrap_or_else(|e| e.into_inner());
        match local.get(&id) {
            Some(Local::Failed(at)) if at.elapsed() >= LOCAL_RETRY => {}
            Some(_) => return None,
            None => {}
        }
        // Runtimes come and go (tests, worker restarts): never keep more than a few.
        if local.len() >= MAX_LOCAL_CONNECTIONS {
            local.clear();
        }
        local.insert(id, Local::Connecting);
        drop(local);
        let generation = Arc::downgrade(self);
        let server = Arc::downgrade(server);
        // Quiet: a runtime without an I/O driver makes Tokio panic in the connect; that runtime
        // then uses the store's connection, like one whose connection was refused.
        runtime.spawn(crate::unwind::Quiet::new(async move {
            let Some(server) = server.upgrade() else {
                return;
            };
            let made = server.connect(&format!("cached-json-rt{id}")).await.ok();
            // A generation that ended meanwhile is gone, and this connection with it.
            let Some(generation) = generation.upgrade() else {
                return;
            };
            let mut local = generation.local.write().unwrap_or_else(|e| e.into_inner());
            match made {
                Some(connection) => local.insert(
                    id,
                    Local::Ready(connection, Arc::new(AtomicBool::new(false))),
                ),
                // Refused (e.g. `maxclients` reached) while the store's own connection works:
                // callers keep using that one, and this runtime tries again after a pause
                // rather than on every call.
                None => local.insert(id, Local::Failed(Instant::now())),
            };
        }));
        None
    }
}
