//! A tag record as a store keeps it (see [`crate::tags`]): a random, non-zero token written as
//! decimal digits, and the rule that keeps it alive. Here, in the store's part of the crate,
//! because every store implements the rule ([`Store::keep_tags`](super::Store::keep_tags)); the
//! tags' logic above the stores uses it too.

use std::time::Duration;

/// A token as stored (decimal digits), without going through `str::parse` (it ran on every
/// tagged hit, twice per tag); `None` for anything else.
pub(crate) fn parse_token(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if text.len() < 20 {
        // 19 digits cannot overflow: no checks on the way.
        return Some(
            text.iter()
                .fold(0u64, |token, &digit| token * 10 + u64::from(digit - b'0')),
        );
    }
    text.iter().try_fold(0u64, |token, &digit| {
        token.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// A new token for a tag record: random, never `0` (a missing record's).
pub(crate) fn new_token() -> u64 {
    fastrand::u64(1..)
}

/// What keeping a tag record for `life` does to it ([`Store::keep_tags`]): `live` is its
/// token and remaining life, if it exists. Answers the token it holds then, and the life to
/// give it (`None`: left as it is): a new record gets a new token and twice `life`; one with
/// less than `life` left gets twice `life` again, so that it changes (which every L1 hears) at
/// most once per `life`. (The Redis store runs the same rule in a script.)
pub(crate) fn kept(live: Option<(u64, Duration)>, life: Duration) -> (u64, Option<Duration>) {
    match live {
        Some((token, left)) if left >= life => (token, None),
        Some((token, _)) => (token, Some(2 * life)),
        None => (new_token(), Some(2 * life)),
    }
}
