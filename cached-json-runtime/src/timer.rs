//! Timers that work on every executor: the cache bounds its waits (Redis commands, followers,
//! lock polls, soft timeouts) whatever runs the call.
//!
//! A Tokio timer belongs to the runtime whose context it is created in, and can then be polled
//! from anywhere. In a runtime with a time driver (every `#[tokio::main]`, `#[tokio::test]` and
//! actix-web runtime) the cache's timers are that runtime's own, the cheapest kind. In a runtime
//! built without one, and outside any runtime (`futures::executor::block_on`), they are created
//! in the context of a small runtime of the cache's own, started on first need, instead of
//! panicking. Whether a runtime has a time driver is found out once per runtime.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::runtime::{EnterGuard, Handle, Id};
use tokio::time::{Sleep, Timeout};

use crate::unwind;

/// `tokio::time::timeout`, on a timer that works here.
pub(crate) fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    let _context = context();
    tokio::time::timeout(duration, future)
}

/// `tokio::time::sleep`, on a timer that works here.
pub(crate) fn sleep(duration: Duration) -> Sleep {
    let _context = context();
    tokio::time::sleep(duration)
}

/// `tokio::time::timeout` for a caller on `runtime` (the current one, looked up once by the
/// caller): on its timer if it has one.
pub(crate) fn timeout_on<F: IntoFuture>(
    runtime: Option<&Handle>,
    duration: Duration,
    future: F,
) -> Timeout<F::IntoFuture> {
    let _context = match runtime {
        Some(runtime) if has_timer(runtime) => None,
        _ => fallback().map(Handle::enter),
    };
    tokio::time::timeout(duration, future)
}

/// Whether the current runtime (if any) has a time driver.
pub(crate) fn here_has_timer() -> bool {
    Handle::try_current().is_ok_and(|handle| has_timer(&handle))
}

/// A handle to the cache's own runtime, for timers and tasks where the caller has no usable
/// runtime. `None` if its thread could not be started.
pub(crate) fn fallback() -> Option<&'static Handle> {
    static FALLBACK: OnceLock<Option<Handle>> = OnceLock::new();
    FALLBACK
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("cached-json-timer".into())
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

/// The context timers are created in: the current runtime's, if it has a time driver; else
/// the cache's own runtime's.
fn context() -> Option<EnterGuard<'static>> {
    if here_has_timer() {
        return None;
    }
    fallback().map(Handle::enter)
}

thread_local! {
    /// The runtime this thread last asked about, and the answer.
    static LAST: Cell<Option<(Id, bool)>> = const { Cell::new(None) };
}

/// Whether `handle`'s runtime has a time driver: known once per runtime.
pub(crate) fn has_timer(handle: &Handle) -> bool {
    let id = handle.id();
    if let Some((last, answer)) = LAST.get() {
        if last == id {
            return answer;
        }
    }
    static KNOWN: Mutex<Option<HashMap<Id, bool>>> = Mutex::new(None);
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    let known = known.get_or_insert_with(HashMap::new);
    let answer = match known.get(&id) {
        Some(answer) => *answer,
        None => {
            // Tokio has no way to ask: making a timer panics at once without a time driver.
            let answer = unwind::quietly(|| drop(tokio::time::sleep(Duration::ZERO))).is_ok();
            // Runtimes come and go (one per test): never keep more than a few.
            if known.len() >= 64 {
                known.clear();
            }
            known.insert(id, answer);
            answer
        }
    };
    LAST.set(Some((id, answer)));
    answer
}

/// Runs `future` to completion here, on a timer that works here: for the tests of runtimes
/// without timers.
#[cfg(test)]
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn timers_work_outside_any_runtime() {
        let started = Instant::now();
        block_on(sleep(Duration::from_millis(30)));
        assert!(started.elapsed() >= Duration::from_millis(30));
        let timed_out = block_on(timeout(
            Duration::from_millis(20),
            std::future::pending::<()>(),
        ));
        assert!(timed_out.is_err());
    }

    #[test]
    fn timers_work_in_a_runtime_without_a_time_driver() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert!(!here_has_timer());
            let started = Instant::now();
            sleep(Duration::from_millis(30)).await;
            assert!(started.elapsed() >= Duration::from_millis(30));
        });
        let with_timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        with_timer.block_on(async { assert!(here_has_timer()) });
    }
}
