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

/// The URL with any credential replaced by `***`, for logs, errors and health output: the
/// password of the user info (and a user info with no `:`, which people do write their
/// password in), and credential query parameters (`pass`, `password`, `auth`, `token`...).
///
/// A password may contain `/`, `?`, `#` or `@`, which makes the URL unparsable as such: the
/// user info is taken to end at the *last* `@`, so that too much is hidden, never too little.
///
/// (Examples: [`RedisConfig::redacted_url`](crate::RedisConfig::redacted_url).)
pub(crate) fn redact_url(url: &str) -> String {
    // Several URLs (a Cluster's seed nodes): each on its own. A URL starts after a comma
    // followed by a scheme, so a comma inside a password does not split it.
    let starts: Vec<usize> = url
        .match_indices(',')
        .map(|(at, _)| at)
        .filter(|&at| starts_a_url(&url[at + 1..]))
        .collect();
    if !starts.is_empty() {
        let mut parts = Vec::new();
        let mut from = 0;
        for at in starts {
            parts.push(redact_one(&url[from..at]));
            from = at + 1;
        }
        parts.push(redact_one(&url[from..]));
        return parts.join(",");
    }
    redact_one(url)
}

/// Whether `text` begins with `scheme://`.
fn starts_a_url(text: &str) -> bool {
    let Some(end) = text.find("://") else {
        return false;
    };
    let scheme = &text[..end];
    !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn redact_one(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return redact_query(url);
    };
    let rest = &url[scheme_end..];
    let Some(at) = rest.rfind('@') else {
        return format!("{}{}", &url[..scheme_end], redact_query(rest));
    };
    let user_info = &rest[..at];
    let redacted = match user_info.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None if user_info.is_empty() => String::new(),
        // `redis://password@host` is read by redis-rs as a password-less user name; redact it
        // anyway: people do write their password there.
        None => "***".to_owned(),
    };
    format!(
        "{}{}@{}",
        &url[..scheme_end],
        redacted,
        redact_query(&rest[at + 1..])
    )
}

/// Query parameters whose values are credentials.
const SECRET_PARAMETERS: [&str; 7] = [
    "pass", "password", "passwd", "auth", "token", "secret", "key",
];

fn redact_query(text: &str) -> String {
    let Some((before, query)) = text.split_once('?') else {
        return text.to_owned();
    };
    let parameters: Vec<String> = query
        .split('&')
        .map(|parameter| match parameter.split_once('=') {
            Some((name, _)) if SECRET_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}=***")
            }
            _ => parameter.to_owned(),
        })
        .collect();
    format!("{before}?{}", parameters.join("&"))
}

/// `text` with every occurrence of each secret replaced by `***`: for error messages of a
/// client library, which may quote what it was given.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 3) {
        text = text.replace(secret.as_str(), "***");
    }
    text
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
        // A password with `/`, `?` or `#`: no longer a URL a parser would split right.
        for password in ["pa/ss", "pa?ss", "pa#ss", "p@/?#s"] {
            let url = format!("redis://user:{password}@host:6379/0");
            assert_eq!(redact_url(&url), "redis://user:***@host:6379/0", "{url}");
        }
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock?db=1&pass=s3cret&password=s3cret"),
            "redis+unix:///run/redis.sock?db=1&pass=***&password=***"
        );
        assert_eq!(
            redact_url("redis://host/0?Password=s3cret"),
            "redis://host/0?Password=***"
        );
        // A Cluster's seed nodes, one with a comma in its password.
        assert_eq!(
            redact_url("redis://u:p,w@a:1,rediss://u:x@b:2"),
            "redis://u:***@a:1,rediss://u:***@b:2"
        );
    }

    #[test]
    fn scrubbing_removes_every_known_secret() {
        let secrets = vec!["s3cret".to_owned(), "ab".to_owned()];
        assert_eq!(
            scrub("AUTH s3cret failed: s3cret, ab", &secrets),
            "AUTH *** failed: ***, ab"
        );
    }
}
