//! Logging helpers: rate limiting, so that an outage does not log a line per request, and URL
//! redaction, so that a password never reaches a log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Lets one message through per interval and counts the ones it held back.
pub(crate) struct LogLimiter {
    interval_ms: u64,
    /// Milliseconds since [`epoch`] of the last message let through, plus one (0 = never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl LogLimiter {
    pub(crate) const fn new(interval: Duration) -> Self {
        LogLimiter {
            interval_ms: interval.as_millis() as u64,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a message may be logged now, `n` being how many were held back since the
    /// last one; `None` when this one must be dropped.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = epoch().elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now < last + self.interval_ms {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        match self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => Some(self.suppressed.swap(0, Ordering::Relaxed)),
            Err(_) => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

/// The URL with any password replaced by `***`, for logs and health output.
///
/// ```
/// use cached_json_runtime::redact_url;
/// assert_eq!(redact_url("redis://app:s3cret@cache:6379/0"), "redis://app:***@cache:6379/0");
/// assert_eq!(redact_url("redis://:s3cret@cache"), "redis://:***@cache");
/// assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    // The last '@' ends the user info: a password may itself contain '@'.
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let user_info = &authority[..at];
    let user = user_info.split(':').next().unwrap_or("");
    let redacted = if user_info.contains(':') {
        format!("{user}:***")
    } else if user_info.is_empty() {
        String::new()
    } else {
        // `redis://password@host` is read by redis-rs as a password-less user name; redact it
        // anyway: people do write their password there.
        "***".to_owned()
    };
    format!("{}{}@{}", &url[..scheme_end], redacted, &rest[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_through_per_interval_and_counts_the_rest() {
        let limiter = LogLimiter::new(Duration::from_millis(80));
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(limiter.allow(), Some(2));
    }

    #[test]
    fn redaction_hides_passwords_containing_separators() {
        assert_eq!(
            redact_url("rediss://u:p@ss:w@rd@host:6380/1?protocol=resp3"),
            "rediss://u:***@host:6380/1?protocol=resp3"
        );
        assert_eq!(redact_url("redis://secret@host"), "redis://***@host");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
