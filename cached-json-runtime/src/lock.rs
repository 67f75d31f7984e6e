//! The cross-process lock of the `lock` option: a lease in the store (`SET key:lock token NX
//! PX`) that lets one process of many compute a cold key while the others wait for its value.
//!
//! A lock must never turn into a failure or a hang: on any store error, or past the site's
//! `wait`, a waiting caller gives up and computes the value itself. The holder extends its
//! lease while the function runs (a function slower than the lease keeps the others out), and
//! releases it as soon as it is done, cancelled or panicking; a crashed process's lease expires
//! on its own.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::cache::CurrentCache;
use crate::key::Key;
use crate::shape::{decode, Shape};
use crate::site::CacheSite;
use crate::store::Read;

/// How often a waiting caller looks for the value (and retries the lock).
pub(crate) const LOCK_POLL: Duration = Duration::from_millis(25);

/// The lock held by this caller. Dropped without [`Lease::release`] (the call was cancelled),
/// it still releases the lock, from a task of its own.
pub(crate) struct Lease {
    cache: CurrentCache,
    key: String,
    token: String,
    lease: Duration,
    released: bool,
}

impl Lease {
    /// Releases the lock, if it is still ours (not if it expired and another caller took it).
    pub(crate) async fn release(mut self) {
        self.released = true;
        let _ = self.cache.store().unlock(&self.key, &self.token).await;
    }

    /// Runs `work`, extending the lease by its full length every third of it meanwhile.
    pub(crate) async fn hold<F: Future>(&self, work: F) -> F::Output {
        hold_all(&[self], work).await
    }

    /// Extends the lease by its full length from now.
    async fn extend(&self) {
        let extended = self
            .cache
            .store()
            .extend_lock(&self.key, &self.token, self.lease)
            .await;
        if !matches!(extended, Ok(true)) {
            tracing::debug!(
                key = self.key.as_str(),
                "could not extend the lock's lease: another process may compute the value too"
            );
        }
    }
}

/// Runs `work`, extending every lease of `leases` (taken with one lease length: one site's) by
/// its full length every third of it meanwhile: a batch computes many keys in one run.
pub(crate) async fn hold_all<F: Future>(leases: &[&Lease], work: F) -> F::Output {
    let Some(first) = leases.first() else {
        return work.await;
    };
    let mut work = pin!(work);
    loop {
        let mut tick = pin!(crate::timer::sleep(first.lease / 3));
        let done = std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            tick.as_mut().poll(cx).map(|()| None)
        })
        .await;
        match done {
            Some(output) => return output,
            None => {
                crate::join::all(leases.iter().map(|lease| lease.extend())).await;
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Cancelled (or unwinding from a panic): release now rather than make the other
        // processes wait out the lease, from the caller's runtime or, outside one, the cache's.
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime,
            Err(_) => match crate::timer::fallback() {
                Some(runtime) => runtime.clone(),
                None => return,
            },
        };
        let (cache, key, token) = (
            self.cache.clone(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.token),
        );
        runtime.spawn(async move {
            let _ = cache.store().unlock(&key, &token).await;
        });
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

/// Takes the lock for `key`, or waits (up to the site's `wait`) for the process holding it to
/// store the value.
pub(crate) async fn acquire_or_wait<S: Shape>(
    cache: &CurrentCache,
    site: &CacheSite,
    codec: S::Codec,
    key: &Key,
) -> LockWait<S::Output> {
    let store = cache.store();
    let lock_key = key.lock();
    let token = lock_token();
    let deadline = Instant::now() + site.wait;
    loop {
        match store.try_lock(&lock_key, &token, site.lease).await {
            Ok(true) => {
                return LockWait::Acquired(Lease {
                    cache: cache.clone(),
                    key: lock_key,
                    token,
                    lease: site.lease,
                    released: false,
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
        crate::timer::sleep(LOCK_POLL).await;
        match crate::tags::read(store, key, key.as_str(), false).await.0 {
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

/// Takes the lock for `key` if it is free, without waiting: for a refresh, which another
/// process holding the lock is doing already.
pub(crate) async fn try_once(cache: &CurrentCache, site: &CacheSite, key: &Key) -> Option<Lease> {
    let lock_key = key.lock();
    let token = lock_token();
    match cache.store().try_lock(&lock_key, &token, site.lease).await {
        Ok(true) => Some(Lease {
            cache: cache.clone(),
            key: lock_key,
            token,
            lease: site.lease,
            released: false,
        }),
        _ => None,
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
