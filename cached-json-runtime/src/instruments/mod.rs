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

mod recorder;
mod store;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram, Key, Label, Level, Metadata};

use self::recorder::{target, Target};
use crate::outcome::CacheOutcome;

pub(crate) use self::store::{store_command, store_error, store_transition, Command, ErrorKind};

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
/// Store commands that failed, by `kind`.
pub(crate) const STORE_ERRORS: &str = "cached_json_store_errors_total";

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
    calls: [Key; 6],
    origin: Key,
    saved: Key,
}

/// [`SiteKeys`]' handles from the global recorder.
struct SiteHandles {
    calls: [Counter; 6],
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
        CacheOutcome::HitL1 => 5,
    }
}

const OUTCOME_LABELS: [&str; 6] = ["hit", "miss", "bypass", "stale", "coalesced", "hit_l1"];

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
            (STORE_ERRORS, None, "Store commands that failed, by kind (timeout, connection, oom, noperm, wrongtype, reply); each one's call went on without the cache"),
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

/// What a site records, with its prefix as the label.
impl SiteMetrics {
    /// Counts one call of the site of `prefix` with its outcome; a hit or coalesced call also adds the time the
    /// function would have taken to the saved time.
    pub(crate) fn call(&self, prefix: &'static str, outcome: CacheOutcome) {
        let index = outcome_index(outcome);
        let saved = matches!(
            outcome,
            CacheOutcome::Hit | CacheOutcome::HitL1 | CacheOutcome::Coalesced
        )
        .then(|| self.recent_origin_micros.load(Ordering::Relaxed))
        .filter(|&micros| micros > 0);
        match target() {
            Target::Global => {
                let handles = self.global(prefix);
                handles.calls[index].increment(1);
                if let Some(micros) = saved {
                    handles.saved.increment(micros);
                }
            }
            Target::Current => {
                let keys = self.keys(prefix);
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

    /// Records one run of the site's function that ran to the end in `elapsed`.
    pub(crate) fn origin(&self, prefix: &'static str, elapsed: Duration) {
        self.remember_origin(elapsed);
        let seconds = elapsed.as_secs_f64();
        match target() {
            Target::Global => self.global(prefix).origin.record(seconds),
            Target::Current => {
                let keys = self.keys(prefix);
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
    pub(crate) async fn timed<F: Future>(&self, prefix: &'static str, function: F) -> F::Output {
        let started = Instant::now();
        let output = function.await;
        self.origin(prefix, started.elapsed());
        output
    }
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
