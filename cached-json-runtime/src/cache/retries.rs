//! Invalidations the store did not take (a prefix's new generation, a tag record's delete, a
//! publication), retried in the background until it takes them or they are moot, so that one
//! made while Redis was away is not lost.

use std::sync::Arc;
use std::time::Duration;

use super::{Cache, Inner};
use crate::generation::{Generations, Republished};
use crate::store::StoreError;

impl Cache {
    /// Retries `invalidation`, which failed with `err`, in the background until the store
    /// carries it out (see [`Retries`]); not what the store cannot do at all.
    pub(super) fn retry(&self, invalidation: Retried, err: &StoreError) {
        if matches!(err, StoreError::Unsupported(_)) {
            return;
        }
        tracing::warn!(invalidation = ?invalidation, error = %err,
            "an invalidation did not reach the store: retrying it in the background");
        let Some(start) = self.inner.retries.add(invalidation) else {
            return;
        };
        let cache = Arc::downgrade(&self.inner);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(retry_pending(cache))),
            Err(_) => {
                start.abandon();
                tracing::warn!("no Tokio runtime to retry the invalidation on");
            }
        }
    }

    /// One try at `invalidation`; whether the store carried it out.
    async fn try_again(&self, invalidation: &Retried) -> bool {
        match invalidation {
            Retried::Tag(record) => {
                let done = self.inner.store.delete(record).await.is_ok();
                if let (true, Some(l1)) = (done, self.l1()) {
                    l1.forget(record);
                }
                done
            }
            Retried::Prefix(prefix) => {
                let generations = &self.inner.generations;
                match generations
                    .bump(self.store(), self.namespace(), prefix)
                    .await
                {
                    Ok(bumped) if bumped.published.is_ok() => true,
                    // Written, not published: the publication's own retry takes over.
                    Ok(bumped) => {
                        let weak = Arc::downgrade(&self.inner);
                        drop(tokio::spawn(republish(weak, bumped.key, bumped.generation)));
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }
}

/// Publishes `generation` of `key` until it goes through or is moot, backing off from 25 ms to
/// 250 ms (a GET and a PUBLISH each time: light enough to bound the delay tightly); stops when
/// the cache is dropped.
pub(super) async fn republish(cache: std::sync::Weak<Inner>, key: String, generation: u64) {
    let mut delay = Duration::from_millis(25);
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = cache.upgrade() else {
            return;
        };
        match Generations::republish(&*inner.store, &key, generation).await {
            Republished::Done => {
                tracing::info!(key, "a failed invalidation publication went through");
                return;
            }
            Republished::Moot => return,
            Republished::Failed => delay = (delay * 2).min(Duration::from_millis(250)),
        }
    }
}

/// The invalidations a cache's store did not take, retried by one task (per cache, while there
/// are any) until it takes them, backing off from 25 ms to 250 ms; the same invalidation
/// pending twice is tried once.
#[derive(Default)]
pub(crate) struct Retries(std::sync::Mutex<RetriesState>);

#[derive(Default)]
struct RetriesState {
    pending: Vec<Retried>,
    /// Whether the task that retries them runs.
    running: bool,
}

/// How many distinct invalidations may wait for the store at once; past it, one more is not
/// retried (it still returned `Err` to its caller).
const MOST_PENDING: usize = 10_000;

/// The right (and the duty) to start the task that retries the pending invalidations.
struct Start<'a>(&'a Retries);

impl Start<'_> {
    /// The task could not be started: whoever adds the next one tries again.
    fn abandon(self) {
        let mut state = self.0.lock();
        state.running = false;
        state.pending.clear();
    }
}

impl Retries {
    fn lock(&self) -> std::sync::MutexGuard<'_, RetriesState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `invalidation`; `Some` when no task retries them yet: the caller starts one.
    fn add(&self, invalidation: Retried) -> Option<Start<'_>> {
        let mut state = self.lock();
        if !state.pending.contains(&invalidation) {
            if state.pending.len() < MOST_PENDING {
                state.pending.push(invalidation);
            } else {
                tracing::error!(invalidation = ?invalidation,
                    "too many invalidations wait for the store: this one is not retried");
            }
        }
        if state.running {
            return None;
        }
        state.running = true;
        Some(Start(self))
    }
}

/// The task that retries a cache's pending invalidations, in the order they came, until none
/// is left (or the cache is dropped). A round stops at the first that fails: the store is
/// still away.
async fn retry_pending(cache: std::sync::Weak<Inner>) {
    let mut delay = Duration::from_millis(25);
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = cache.upgrade() else {
            return;
        };
        let cache = Cache { inner };
        let pending = cache.inner.retries.lock().pending.clone();
        let mut done = Vec::new();
        for invalidation in pending {
            if !cache.try_again(&invalidation).await {
                break;
            }
            tracing::info!(invalidation = ?invalidation, "a failed invalidation went through");
            done.push(invalidation);
        }
        let mut state = cache.inner.retries.lock();
        state
            .pending
            .retain(|invalidation| !done.contains(invalidation));
        if state.pending.is_empty() {
            state.running = false;
            return;
        }
        delay = match done.is_empty() {
            true => (delay * 2).min(Duration::from_millis(250)),
            false => Duration::from_millis(25),
        };
    }
}

/// An invalidation retried until the store carries it out ([`Retries`]).
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Retried {
    /// Delete this tag record.
    Tag(String),
    /// Write a new generation of this prefix.
    Prefix(String),
}

/// For logs: a prefix is the code's, a tag may hold an argument's value (personal data,
/// perhaps): it is not written.
impl std::fmt::Debug for Retried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retried::Tag(_) => f.write_str("a tag"),
            Retried::Prefix(prefix) => write!(f, "prefix {prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalidation_pending_twice_is_retried_once_by_one_task() {
        let retries = Retries::default();
        let start = retries.add(Retried::Tag("t".into()));
        assert!(start.is_some(), "the first starts the task");
        assert!(retries.add(Retried::Tag("t".into())).is_none());
        assert!(retries.add(Retried::Prefix("p".into())).is_none());
        assert_eq!(retries.lock().pending.len(), 2);
        start.unwrap().abandon();
        assert!(
            retries.add(Retried::Tag("t".into())).is_some(),
            "abandoned: started again"
        );
    }

    #[tokio::test]
    async fn a_cache_that_is_off_does_not_retry_what_it_cannot_do() {
        let cache = Cache::new(crate::store::NoStore);
        assert!(cache.invalidate_tag("t").await.is_err());
        assert!(cache.invalidate_prefix("p").await.is_err());
        assert!(cache.inner.retries.lock().pending.is_empty());
        assert!(!cache.inner.retries.lock().running);
    }
}
