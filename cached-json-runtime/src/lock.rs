//! The cross-process lock of the `lock` option: a lease in the store (`SET key:lock token NX
//! PX`) that lets one process of many compute a cold key while the others wait for its value.
//!
//! A lock must never turn into a failure: on any store error, or after [`LOCK_WAIT`], a waiting
//! caller gives up and computes the value itself. A lease expires on its own after
//! [`LOCK_LEASE`], so a crashed holder delays the others by that much at most.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::key::Key;
use crate::shape::{decode, Codec, Shape};
use crate::store::{Read, Store};

/// How long a cross-process lock is held at most: past it, a crashed holder's lock expires.
const LOCK_LEASE: Duration = Duration::from_secs(5);
/// How long a caller waits for another process's computation before computing itself.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// How often a waiting caller looks for the value (and retries the lock).
const LOCK_POLL: Duration = Duration::from_millis(25);

/// The lock held by this caller.
pub(crate) struct Lease {
    key: String,
    token: String,
}

impl Lease {
    /// Releases the lock, if it is still ours (not if it expired and another caller took it).
    pub(crate) async fn release(self, store: &dyn Store) {
        let _ = store.unlock(&self.key, &self.token).await;
    }
}

/// How waiting for the lock ended.
pub(crate) enum LockWait<O> {
    /// This caller holds the lock: it computes the value.
    Acquired(Lease),
    /// Another process stored the value meanwhile: as stored, and decoded.
    ValueAppeared(Vec<u8>, O),
    /// Waited too long, or the store failed: compute without the lock.
    GaveUp,
}

/// Takes the lock for `key`, or waits for the process holding it to store the value.
pub(crate) async fn acquire_or_wait<S: Shape>(
    store: &dyn Store,
    codec: Codec<S::Stored>,
    key: &Key,
) -> LockWait<S::Output> {
    let lock_key = key.lock();
    let token = lock_token();
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match store.try_lock(&lock_key, &token, LOCK_LEASE).await {
            Ok(true) => {
                return LockWait::Acquired(Lease {
                    key: lock_key,
                    token,
                })
            }
            Ok(false) => {}
            Err(_) => return LockWait::GaveUp,
        }
        if Instant::now() >= deadline {
            tracing::debug!(
                key = key.as_str(),
                "waited too long for another process's value: computing it"
            );
            return LockWait::GaveUp;
        }
        tokio::time::sleep(LOCK_POLL).await;
        match store.get(key.as_str()).await {
            Read::Value(bytes) => {
                if let Some(output) = decode::<S>(codec, &bytes, key.as_str()) {
                    return LockWait::ValueAppeared(bytes, output);
                }
            }
            Read::Miss => {}
            Read::Unreachable => return LockWait::GaveUp,
        }
    }
}

/// A token that tells this caller's lock from any other's, across processes.
fn lock_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:x}-{started:x}-{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
