//! Which recorder a metric goes to from this thread now, and whether its handles may be kept.
//!
//! `metrics` answers with a thread's local recorder if one is set, else the global one, else a
//! no-op. Only the global recorder's handles are safe to keep: it lives as long as the process,
//! while a local recorder's address may be reused by the next one. `metrics` does not say which
//! kind it answered with, so a thread of our own (which has no local recorder) is asked: once
//! when a global recorder is installed first, at most once a second while only a local one is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use metrics::Recorder;

use crate::logging::LogLimiter;

/// Where this thread's metrics go now.
pub(super) enum Target {
    /// The global recorder, whose handles are kept.
    Global,
    /// The no-op recorder, or a local one: handles are asked for each time.
    Current,
}

/// The global recorder's address once seen (it never changes after that); 0 until then.
static GLOBAL_RECORDER: AtomicUsize = AtomicUsize::new(0);
/// How often a thread may look for the global recorder while a local one is in use.
static GLOBAL_PROBES: LogLimiter = LogLimiter::new(Duration::from_secs(1));

pub(super) fn target() -> Target {
    let (address, size) = metrics::with_recorder(|recorder| {
        let address = (recorder as *const dyn Recorder).cast::<()>() as usize;
        (address, std::mem::size_of_val(recorder))
    });
    // The no-op recorder is zero-sized (and a zero-sized recorder has no state to look up).
    if size == 0 {
        return Target::Current;
    }
    let global = GLOBAL_RECORDER.load(Ordering::Relaxed);
    if global == address {
        return Target::Global;
    }
    if global == 0 && GLOBAL_PROBES.allow().is_some() {
        // A thread of our own has no local recorder: what it sees is the global one.
        let seen = std::thread::Builder::new()
            .name("cached-json-metrics".into())
            .spawn(|| {
                metrics::with_recorder(|recorder| {
                    let address = (recorder as *const dyn Recorder).cast::<()>() as usize;
                    (address, std::mem::size_of_val(recorder))
                })
            })
            .ok()
            .and_then(|probe| probe.join().ok())
            .filter(|&(_, size)| size > 0);
        if let Some((global, _)) = seen {
            GLOBAL_RECORDER.store(global, Ordering::Relaxed);
            if global == address {
                return Target::Global;
            }
        }
    }
    Target::Current
}
