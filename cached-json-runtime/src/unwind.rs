//! Catching panics: the function's, so that the `stale` option can answer the last good value
//! instead (and the callers that waited hear of it); and, quietly, the ones Tokio raises where a
//! runtime lacks a driver, when the cache probes for it.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A panic's payload, as `std::panic::resume_unwind` takes it back.
pub(crate) type Panic = Box<dyn Any + Send>;

/// A future that turns a panic while polling into an `Err` with its payload.
pub(crate) struct CatchUnwind<F>(Pin<Box<F>>);

impl<F> CatchUnwind<F> {
    pub(crate) fn new(future: F) -> Self {
        CatchUnwind(Box::pin(future))
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        // The future is dropped after a panic, never polled again: no broken invariant is seen.
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `probe`, catching a panic without printing it: for the cache's probes of what a
/// runtime can do (Tokio's only answer is a panic). The process's panic hook is wrapped once,
/// on the first probe, to stay silent for these and only these; every other panic reaches the
/// hook that was there before.
pub(crate) fn quietly<T>(probe: impl FnOnce() -> T) -> Result<T, Panic> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.get() {
                previous(info);
            }
        }));
    });
    let was = QUIET.replace(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(probe));
    QUIET.set(was);
    result
}

/// A future whose panics are caught without being printed (see [`quietly`]): for the cache's
/// background tasks on a caller's runtime, which may lack what they need.
pub(crate) struct Quiet<F>(Pin<Box<F>>);

impl<F> Quiet<F> {
    pub(crate) fn new(future: F) -> Self {
        Quiet(Box::pin(future))
    }
}

impl<F: Future<Output = ()>> Future for Quiet<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.0.as_mut();
        match quietly(|| inner.poll(cx)) {
            Ok(poll) => poll,
            Err(_) => Poll::Ready(()),
        }
    }
}
