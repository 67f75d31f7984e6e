//! An [`Entry`] as an actix-web answer (cargo feature `actix`): a handler returns what a
//! `f_json` companion gave it, and the response carries the stored JSON byte for byte, with
//! `X-Cache` (what the cache did), a strong `ETag` of those bytes, `Cache-Control: max-age` set
//! to the entry's remaining life (never more than its TTL), `Age` on hits, and `304 Not
//! Modified` with no body on a matching `If-None-Match`. An answer the cache did not hold
//! (bypassed, not stored) promises nothing: `Cache-Control: no-cache`, no `ETag`. A request's
//! own `Cache-Control` is ignored: it must never let a client make the server skip or refresh
//! its cache.

use actix_web::body::BoxBody;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Responder};

use crate::http::Entry;

/// The `X-Cache` header: `HIT`, `HIT-L1`, `MISS`, `BYPASS`, `STALE` or `COALESCED`.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

impl Responder for Entry {
    type Body = BoxBody;

    fn respond_to(self, request: &HttpRequest) -> HttpResponse {
        respond(self, request)
    }
}

/// The answer for `entry` to `request`.
pub fn respond(entry: Entry, request: &HttpRequest) -> HttpResponse {
    let outcome = entry.outcome();
    let mut response = if !entry.is_cached() {
        if entry.json().is_empty() {
            // The value did not serialize: nothing true to send.
            HttpResponse::InternalServerError().finish()
        } else {
            HttpResponse::Ok()
                .content_type(HeaderValue::from_static("application/json"))
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .body(entry.into_json())
        }
    } else {
        let etag = entry.etag_bytes();
        let (max_age, age) = (entry.max_age(), entry.age());
        let not_modified = request
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| entry.not_modified(value));
        let mut response = if not_modified {
            HttpResponse::NotModified().finish()
        } else {
            // The stored bytes themselves: shared, not copied.
            HttpResponse::Ok()
                .content_type(HeaderValue::from_static("application/json"))
                .body(entry.into_json())
        };
        let headers = response.headers_mut();
        // Header values written without `format!`: this runs on every hit.
        headers.insert(header::ETAG, header_value(&etag));
        headers.insert(header::CACHE_CONTROL, max_age_value(max_age.as_secs()));
        if let Some(age) = age {
            headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
        }
        response
    };
    response
        .headers_mut()
        .insert(X_CACHE, HeaderValue::from_static(outcome.as_str()));
    response
}

/// A header value of visible ASCII built here (an ETag, `max-age=N`).
fn header_value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `max-age=<seconds>`, built on the stack.
fn max_age_value(seconds: u64) -> HeaderValue {
    const PREFIX: &[u8] = b"max-age=";
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(seconds).as_bytes();
    // The prefix and u64::MAX's 20 digits.
    let mut value = [0u8; PREFIX.len() + 20];
    value[..PREFIX.len()].copy_from_slice(PREFIX);
    value[PREFIX.len()..PREFIX.len() + digits.len()].copy_from_slice(digits);
    header_value(&value[..PREFIX.len() + digits.len()])
}

#[cfg(test)]
mod tests {
    use super::max_age_value;

    #[test]
    fn max_age_is_the_seconds_in_decimal() {
        assert_eq!(max_age_value(0), "max-age=0");
        assert_eq!(max_age_value(86_400), "max-age=86400");
        assert_eq!(
            max_age_value(u64::MAX),
            format!("max-age={}", u64::MAX).as_str()
        );
    }
}
