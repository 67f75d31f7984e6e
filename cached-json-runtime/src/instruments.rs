//! The cache's metrics, recorded through the [`metrics`] facade: the library records, the
//! application installs a recorder (Prometheus, StatsD, OpenTelemetry...) or none.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `cached_json_calls_total` | counter | `prefix`, `outcome` | cached calls by outcome: `hit`, `miss`, `bypass`, `stale`, `coalesced` |
//! | `cached_json_origin_duration_seconds` | histogram | `prefix` | how long the function ran, when it ran to the end |
//! | `cached_json_origin_saved_microseconds_total` | counter | `prefix` | origin time the cache saved: each hit or coalesced call adds the function's recent mean duration |
//! | `cached_json_store_command_duration_seconds` | histogram | `command` | Redis round trips, answered or not |
//! | `cached_json_store_up` | gauge | | 1 while the cache uses Redis, 0 while it bypasses it |
//! | `cached_json_store_transitions_total` | counter | `to` | Redis found down (`down`) or back (`up`) |
//!
//! A recorder's handles are what make recording cheap (an atomic add), and looking them up is
//! what makes it dear (hundreds of nanoseconds with the Prometheus recorder: a key copied, a
//! lock taken). Handles from the *global* recorder are kept, per site, for the life of the
//! process: it is installed once and never freed. Any other recorder (a test's local one) is
//! asked for its handles on each call, since its address may be reused by the next one; and
//! with no recorder at all, the no-op recorder answers in nanoseconds. BENCHMARKS.md has the
//! figures.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram, Key, Label, Level, Metadata, Recorder};

use crate::logging::LogLimiter;
use crate::outcome::CacheOutcome;
use crate::site::CacheSite;

/// Calls by prefix and outcome.
pub(crate) const CALLS: &str = "cached_json_calls_total";
/// The function's duration by prefix, in seconds.
pub(crate) const ORIGIN_DURATION: &str = "cached_json_origin_duration_seconds";
/// Origin time saved by prefix, in microseconds.
pub(crate) const ORIGIN_SAVED: &str = "cached_json_origin_saved_microseconds_total";
/// Store round trips by command, in seconds.
pub(crate) const STORE_COMMAND_DURATION: &str = "cached_json_store_command_duration_seconds";
/// Whether the cache uses its store (1) or bypasses it (0).
pub(crate) const STORE_UP: &str = "cached_json_store_up";
/// Store found down or back, by `to`.
pub(crate) const STORE_TRANSITIONS: &str = "cached_json_store_transitions_total";

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// One site's metric keys, its handles from the global recorder, and the recent duration of its
/// function.
pub(crate) struct SiteMetrics {
    keys: OnceLock<SiteKeys>,
    global: OnceLock<SiteHandles>,
    /// Exponentially weighted mean of the function's recent durations, in microseconds; 0 until
    /// it has run to the end once in this process.
    recent_origin_micros: AtomicU64,
}

impl std::fmt::Debug for SiteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteMetrics")
            .field("recent_origin", &self.recent_origin())
            .finish_non_exhaustive()
    }
}

struct SiteKeys {
    /// By [`outcome_index`].
    calls: [Key; 5],
    origin: Key,
    saved: Key,
}

/// [`SiteKeys`]' handles from the global recorder.
struct SiteHandles {
    calls: [Counter; 5],
    origin: Histogram,
    saved: Counter,
}

fn outcome_index(outcome: CacheOutcome) -> usize {
    match outcome {
        CacheOutcome::Hit => 0,
        CacheOutcome::Miss => 1,
        CacheOutcome::Bypass => 2,
        CacheOutcome::Stale => 3,
        CacheOutcome::Coalesced => 4,
    }
}

const OUTCOME_LABELS: [&str; 5] = ["hit", "miss", "bypass", "stale", "coalesced"];

/// `outcome` as the `outcome` label has it: `hit`, `miss`...
pub(crate) fn outcome_label(outcome: CacheOutcome) -> &'static str {
    OUTCOME_LABELS[outcome_index(outcome)]
}

impl SiteMetrics {
    pub(crate) const fn new() -> Self {
        SiteMetrics {
            keys: OnceLock::new(),
            global: OnceLock::new(),
            recent_origin_micros: AtomicU64::new(0),
        }
    }

    fn keys(&self, prefix: &'static str) -> &SiteKeys {
        self.keys.get_or_init(|| {
            let prefix_label = || Label::from_static_parts("prefix", prefix);
            SiteKeys {
                calls: OUTCOME_LABELS.map(|outcome| {
                    Key::from_parts(
                        CALLS,
                        vec![prefix_label(), Label::from_static_parts("outcome", outcome)],
                    )
                }),
                origin: Key::from_parts(ORIGIN_DURATION, vec![prefix_label()]),
                saved: Key::from_parts(ORIGIN_SAVED, vec![prefix_label()]),
            }
        })
    }

    /// The handles from the global recorder; to be called only when it is the current one.
    fn global(&self, prefix: &'static str) -> &SiteHandles {
        self.global.get_or_init(|| {
            let keys = self.keys(prefix);
            metrics::with_recorder(|recorder| SiteHandles {
                calls: keys
                    .calls
                    .each_ref()
                    .map(|key| recorder.register_counter(key, &METADATA)),
                origin: recorder.register_histogram(&keys.origin, &METADATA),
                saved: recorder.register_counter(&keys.saved, &METADATA),
            })
        })
    }

    /// The function's recent mean duration, if it ran in this process.
    pub(crate) fn recent_origin(&self) -> Option<Duration> {
        match self.recent_origin_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    fn remember_origin(&self, elapsed: Duration) {
        let sample = (elapsed.as_micros() as u64).max(1);
        let recent = self.recent_origin_micros.load(Ordering::Relaxed);
        // Weight 1/8: recent enough to follow a slower origin within a few dozen runs, smooth
        // enough that one outlier does not make the saved time jump. Racing updates lose a
        // sample, which a mean can afford.
        let updated = if recent == 0 {
            sample
        } else {
            (recent * 7 + sample).div_ceil(8)
        };
        self.recent_origin_micros.store(updated, Ordering::Relaxed);
    }
}

/// Describes every metric of the cache to the installed recorder (the `# HELP` lines of a
/// Prometheus scrape). Optional: call it once, after installing a recorder.
///
/// ```
/// cached_json_runtime::describe_metrics(); // no recorder: does nothing
/// ```
pub fn describe_metrics() {
    use metrics::Unit;
    metrics::with_recorder(|recorder| {
        let descriptions = [
            (CALLS, None, "Cached calls by prefix and outcome (hit, miss, bypass, stale, coalesced)"),
            (ORIGIN_SAVED, Some(Unit::Microseconds), "Time the cached functions did not spend: each hit or coalesced call adds its function's recent mean duration"),
            (STORE_TRANSITIONS, None, "The cache's store found down or back"),
        ];
        for (name, unit, description) in descriptions {
            recorder.describe_counter(name.into(), unit, description.into());
        }
        recorder.describe_histogram(
            ORIGIN_DURATION.into(),
            Some(Unit::Seconds),
            "How long cached functions ran, when they ran to the end".into(),
        );
        recorder.describe_histogram(
            STORE_COMMAND_DURATION.into(),
            Some(Unit::Seconds),
            "Store round trips by command, answered or not".into(),
        );
        recorder.describe_gauge(
            STORE_UP.into(),
            None,
            "1 while the cache uses its store, 0 while it bypasses it".into(),
        );
    });
}

/// Where this thread's metrics go now.
enum Target {
    /// The global recorder, whose handles are kept.
    Global,
    /// The no-op recorder, or a local one: handles are asked for each time.
    Current,
}

/// The global recorder's address once seen (it never changes after that); 0 until then.
static GLOBAL_RECORDER: AtomicUsize = AtomicUsize::new(0);
/// How often a thread may look for the global recorder while a local one is in use.
static GLOBAL_PROBES: LogLimiter = LogLimiter::new(Duration::from_secs(1));

fn target() -> Target {
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

/// Counts one call of `site` with its outcome; a hit or coalesced call also adds the time the
/// function would have taken to the saved time.
pub(crate) fn call(site: &'static CacheSite, outcome: CacheOutcome) {
    let index = outcome_index(outcome);
    let saved = matches!(outcome, CacheOutcome::Hit | CacheOutcome::Coalesced)
        .then(|| site.metrics.recent_origin_micros.load(Ordering::Relaxed))
        .filter(|&micros| micros > 0);
    match target() {
        Target::Global => {
            let handles = site.metrics.global(site.prefix);
            handles.calls[index].increment(1);
            if let Some(micros) = saved {
                handles.saved.increment(micros);
            }
        }
        Target::Current => {
            let keys = site.metrics.keys(site.prefix);
            metrics::with_recorder(|recorder| {
                recorder
                    .register_counter(&keys.calls[index], &METADATA)
                    .increment(1);
                if let Some(micros) = saved {
                    recorder
                        .register_counter(&keys.saved, &METADATA)
                        .increment(micros);
                }
            });
        }
    }
}

/// Records one run of `site`'s function that ran to the end in `elapsed`.
pub(crate) fn origin(site: &'static CacheSite, elapsed: Duration) {
    site.metrics.remember_origin(elapsed);
    let seconds = elapsed.as_secs_f64();
    match target() {
        Target::Global => site.metrics.global(site.prefix).origin.record(seconds),
        Target::Current => {
            let keys = site.metrics.keys(site.prefix);
            metrics::with_recorder(|recorder| {
                recorder
                    .register_histogram(&keys.origin, &METADATA)
                    .record(seconds);
            });
        }
    }
}

/// Runs `function`, recording its duration if it runs to the end (not when it is cancelled or
/// panics: neither is how long the origin takes).
pub(crate) async fn timed<F: Future>(site: &'static CacheSite, function: F) -> F::Output {
    let started = Instant::now();
    let output = function.await;
    origin(site, started.elapsed());
    output
}

/// A store command, for [`store_command`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    // In the order of [`Command::ALL`].
    Get = 0,
    GetWithTtl,
    Set,
    Delete,
    Lock,
    ExtendLock,
    Unlock,
    Publish,
}

impl Command {
    const ALL: [Command; 8] = [
        Command::Get,
        Command::GetWithTtl,
        Command::Set,
        Command::Delete,
        Command::Lock,
        Command::ExtendLock,
        Command::Unlock,
        Command::Publish,
    ];

    fn label(self) -> &'static str {
        match self {
            Command::Get => "get",
            Command::GetWithTtl => "get_with_ttl",
            Command::Set => "set",
            Command::Delete => "delete",
            Command::Lock => "lock",
            Command::ExtendLock => "extend_lock",
            Command::Unlock => "unlock",
            Command::Publish => "publish",
        }
    }
}

/// Records one store round trip (answered, refused or timed out) of `elapsed`.
pub(crate) fn store_command(command: Command, elapsed: Duration) {
    static KEYS: OnceLock<[Key; 8]> = OnceLock::new();
    static GLOBAL: OnceLock<[Histogram; 8]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        Command::ALL.map(|command| {
            Key::from_parts(
                STORE_COMMAND_DURATION,
                vec![Label::from_static_parts("command", command.label())],
            )
        })
    });
    let seconds = elapsed.as_secs_f64();
    match target() {
        Target::Global => {
            let handles = GLOBAL.get_or_init(|| {
                metrics::with_recorder(|recorder| {
                    keys.each_ref()
                        .map(|key| recorder.register_histogram(key, &METADATA))
                })
            });
            handles[command as usize].record(seconds);
        }
        Target::Current => metrics::with_recorder(|recorder| {
            recorder
                .register_histogram(&keys[command as usize], &METADATA)
                .record(seconds);
        }),
    }
}

/// The store was found down (`up == false`) or back.
pub(crate) fn store_transition(up: bool) {
    static UP: Key = Key::from_static_name(STORE_UP);
    static TO: [[Label; 1]; 2] = [
        [Label::from_static_parts("to", "down")],
        [Label::from_static_parts("to", "up")],
    ];
    let transitions = Key::from_static_labels(STORE_TRANSITIONS, &TO[usize::from(up)]);
    metrics::with_recorder(|recorder| {
        recorder
            .register_gauge(&UP, &METADATA)
            .set(if up { 1.0 } else { 0.0 });
        recorder
            .register_counter(&transitions, &METADATA)
            .increment(1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_origin_follows_a_slower_function_without_jumping() {
        let metrics = SiteMetrics::new();
        assert_eq!(metrics.recent_origin(), None);
        metrics.remember_origin(Duration::from_millis(10));
        assert_eq!(metrics.recent_origin(), Some(Duration::from_millis(10)));
        metrics.remember_origin(Duration::from_millis(90));
        assert_eq!(metrics.recent_origin(), Some(Duration::from_millis(20)));
        for _ in 0..40 {
            metrics.remember_origin(Duration::from_millis(90));
        }
        let recent = metrics.recent_origin().unwrap();
        assert!(recent > Duration::from_millis(89), "{recent:?}");
    }
}
