//! Computing a key, in the caller's task or in one of its own.
//!
//! A [`Computation`] owns everything steps 3 to 5 of a miss need (run the function, store its
//! value, release the lease, answer the followers), so that it can run where the caller waits
//! ([`Computation::run`]) or outlive it:
//!
//! - [`complete`]: past `timeout_ms` the caller answers the stale value, and the function goes
//!   on in its task, stores its value when it finishes and answers the callers still waiting
//!   (FusionCache's background completion), within `hard_timeout_ms`;
//! - [`refresh`]: a hit on an entry past `refresh_ahead` answers at once, and the function runs
//!   in a task of its own, once per key in the process (and with `lock`, across processes),
//!   after re-reading the entry in case another instance refreshed it already.

mod computation;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::detach::Start;
use crate::outcome::CacheOutcome;
use crate::shape::SendShape;
use crate::stale;
use crate::store::Read;

pub(crate) use self::computation::{Computation, Done};

/// Runs `computation` in a task of its own and waits `soft_timeout` for it; then answers the
/// stale value while the task goes on (up to the hard timeout from its start) and stores the
/// fresh value when it finishes. With no stale copy to answer, waits for the task.
pub(crate) async fn complete<S, G>(
    computation: Computation<S>,
    start: G,
    soft_timeout: Duration,
) -> Done<S::Output>
where
    S: SendShape,
    G: Start<S::Output>,
{
    let (cache, site, key, codec) = (
        computation.cache.clone(),
        computation.site,
        computation.key.clone(),
        computation.codec,
    );
    let hard_deadline = Instant::now() + site.hard_timeout();
    // Dropped when this caller stops waiting (answered, or cancelled): the hard timeout then
    // bounds the task.
    let (waiting, left) = tokio::sync::oneshot::channel::<()>();
    let function = start();
    let task = spawn(async move {
        let run = pin!(computation.run(function, None));
        let mut cut = pin!(async move {
            let _ = left.await;
            crate::timer::sleep(hard_deadline.saturating_duration_since(Instant::now())).await;
        });
        let mut run = run;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(done) = run.as_mut().poll(cx) {
                return Poll::Ready(Some(done));
            }
            cut.as_mut().poll(cx).map(|()| None)
        })
        .await
    });
    let mut task = pin!(task);
    if let Ok(done) = crate::timer::timeout(soft_timeout, &mut task).await {
        drop(waiting);
        return finished(done.flatten());
    }
    let store = cache.store();
    if let Some((_, output)) = stale::read::<S>(store, codec, &key, site, "timed out").await {
        drop(waiting);
        return Done::Answer(CacheOutcome::Stale, output);
    }
    // Nothing to fall back on: the function's answer is the only one.
    let done = task.await;
    drop(waiting);
    finished(done.flatten())
}

/// A task's result as the caller's answer. The task always finishes while its caller waits
/// (the hard timeout only bounds it once the caller has left), so `None` does not reach here
/// but from a task that could not run at all.
fn finished<O>(done: Option<Done<O>>) -> Done<O> {
    match done {
        Some(done) => done,
        None => Done::Panicked(Box::new(
            "cached-json: a background computation was stopped before its caller had an answer",
        )),
    }
}

/// Refreshes the entry of `computation`'s key in a task of its own, unless a call of the key is
/// already computing it in this process.
pub(crate) fn refresh<S, G>(computation: Computation<S>, start: G)
where
    S: SendShape,
    G: Start<S::Output>,
{
    let Some(lead) = computation
        .cache
        .flights()
        .try_lead(computation.key.flight())
    else {
        return;
    };
    let function = start();
    let hard_timeout = computation.site.hard_timeout();
    let entry_ttl = computation.entry_ttl;
    drop(spawn(async move {
        let site = computation.site;
        let store = computation.cache.store();
        let key = computation.key.clone();
        // Across processes: one refresh at a time; if another instance holds the lease, it is
        // refreshing (or computing) the key already.
        let mut lease = None;
        if site.lock {
            match crate::lock::try_once(&computation.cache, site, &key).await {
                Some(held) => lease = Some(held),
                None => return,
            }
        }
        // Another instance may have refreshed it meanwhile: read its life again.
        match crate::tags::read(store, &key, key.as_str(), true).await {
            (Read::Value(_), remaining) if !site.refresh_due(remaining, entry_ttl) => return,
            (Read::Unreachable, _) => return,
            _ => {}
        }
        let refreshed = computation.leading(Some(lead), lease).run(function, None);
        let _ = crate::timer::timeout(hard_timeout, refreshed).await;
    }));
}

/// Spawns `task` on the caller's runtime, or, outside one, on the cache's own.
fn spawn<T: Send + 'static>(
    task: impl Future<Output = T> + Send + 'static,
) -> impl Future<Output = Option<T>> {
    let handle = tokio::runtime::Handle::try_current()
        .ok()
        .or_else(|| crate::timer::fallback().cloned());
    let joined = handle.map(|handle| handle.spawn(task));
    async move {
        match joined {
            Some(joined) => match joined.await {
                Ok(output) => Some(output),
                Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                Err(_) => None,
            },
            None => None,
        }
    }
}
