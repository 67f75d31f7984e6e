//! An [`Entry`] as an actix-web answer (cargo feature `actix`): a handler returns what a `f_json`
//! companion gave it, and the response carries the stored JSON byte for byte, with `X-Cache` (what
//! the cache did), a strong `ETag` of those bytes, `Cache-Control: max-age` set to the entry's TTL
//! (with `Age`, its time in the cache, a client or CDN reuses it for what is left of its life),
//! `Age` on hits, and `304 Not Modified` with no body on a matching `If-None-Match`. An answer the
//! cache did not hold (bypassed, not stored) promises nothing: `Cache-Control: no-cache`, no
//! `ETag`. A request's own `Cache-Control` is ignored: it must never let a client make the server
//! skip or refresh its cache.

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
pub(crate) fn respond(entry: Entry, request: &HttpRequest) -> HttpResponse {
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
        let (entry_max_age, age) = (entry.max_age_header(), entry.age());
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
        headers.insert(
            header::CACHE_CONTROL,
            header_value(entry_max_age.as_bytes()),
        );
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
