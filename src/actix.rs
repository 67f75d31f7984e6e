//! HTTP caching for actix-web handlers over cached functions (cargo feature `actix`).
//!
//! A handler wraps its cached call in [`observe`] and answers with [`HttpCache::with`]: the
//! response then carries `X-Cache` (what the cache did), a strong `ETag` of the stored bytes,
//! `Cache-Control: max-age` set to the entry's remaining life (never more than its TTL), `Age`
//! on hits, and answers a matching `If-None-Match` with `304 Not Modified` and no body. The body
//! is the stored JSON itself, byte for byte what the `ETag` names. A request's own
//! `Cache-Control` (`no-cache`, `no-store`) is ignored: it must never let a client make the
//! server skip or refresh its cache.
//!
//! ```no_run
//! use actix_web::{get, web, Responder};
//! use cached_json::cached_json;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Place { name: String }
//!
//! #[cached_json("places", ttl = 3600)]
//! async fn place(name: &str) -> Place {
//!     Place { name: name.to_owned() }
//! }
//!
//! #[get("/places/{name}")]
//! async fn get_place(name: web::Path<String>) -> impl Responder {
//!     let (value, http) = cached_json::actix::observe(place(&name)).await;
//!     http.with(value)
//! }
//! ```

use std::future::Future;

use actix_web::body::BoxBody;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Responder};
use cached_json_runtime::{observe_http, CacheOutcome, Entry};
use serde::Serialize;

/// The `X-Cache` header: `HIT`, `MISS`, `BYPASS`, `STALE` or `COALESCED`.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// What a cached call did, for its HTTP answer.
#[derive(Debug, Clone, Default)]
pub struct HttpCache {
    outcome: Option<CacheOutcome>,
    entry: Option<Entry>,
}

/// Runs `future` (a cached call, or a handler's work around one) and returns its output with
/// what its HTTP answer needs.
pub fn observe<F: Future>(future: F) -> impl Future<Output = (F::Output, HttpCache)> {
    // (Not an `async fn`: that would hold `future` twice over; see the runtime's observers.)
    observe_http(future, |output, entry, outcome| {
        (output, HttpCache { outcome, entry })
    })
}

/// The answer to send for an entry (what an `f_l1` companion returned): its stored JSON.
///
/// ```no_run
/// # use actix_web::{get, web, Responder, Either};
/// # use cached_json::cached_json;
/// # use cached_json::actix::{observe, HttpCache};
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct Place { name: String }
/// #[cached_json("places", ttl = 3600)]
/// async fn place(name: &str) -> Place {
///     Place { name: name.to_owned() }
/// }
///
/// #[get("/places/{name}")]
/// async fn get_place(name: web::Path<String>) -> impl Responder {
///     // The L1's copy as it is, when it can answer at once: nothing decoded or encoded.
///     if let Some(entry) = place_l1(&name) {
///         return Either::Left(HttpCache::from(entry).with(()));
///     }
///     let (value, http) = observe(place(&name)).await;
///     Either::Right(http.with(value))
/// }
/// ```
impl From<Entry> for HttpCache {
    fn from(entry: Entry) -> Self {
        HttpCache {
            outcome: Some(entry.outcome),
            entry: Some(entry),
        }
    }
}

impl HttpCache {
    /// What the cached call did.
    pub fn outcome(&self) -> Option<CacheOutcome> {
        self.outcome
    }

    /// The answer to send: `value`, which must be what the cached function returned (its
    /// stored JSON is sent in its place).
    pub fn with<T: Serialize>(self, value: T) -> HttpCached<T> {
        HttpCached { value, cache: self }
    }
}

/// A cached handler's answer, with its HTTP caching headers.
#[derive(Debug)]
pub struct HttpCached<T> {
    value: T,
    cache: HttpCache,
}

impl<T: Serialize> Responder for HttpCached<T> {
    type Body = BoxBody;

    fn respond_to(self, request: &HttpRequest) -> HttpResponse {
        let mut response = match self.cache.entry {
            Some(entry) => {
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
                    // The stored bytes themselves: `json` is shared, not copied.
                    HttpResponse::Ok()
                        .content_type(HeaderValue::from_static("application/json"))
                        .body(entry.json)
                };
                let headers = response.headers_mut();
                // Header values written without `format!`: this runs on every hit.
                headers.insert(header::ETAG, header_value(&etag));
                headers.insert(header::CACHE_CONTROL, max_age_value(max_age.as_secs()));
                if let Some(age) = age {
                    headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
                }
                response
            }
            // Not from the cache (bypassed, or no cached call): the value, with no promise.
            None => match serde_json::to_vec(&self.value) {
                Ok(json) => HttpResponse::Ok()
                    .content_type(HeaderValue::from_static("application/json"))
                    .insert_header((header::CACHE_CONTROL, "no-cache"))
                    .body(json),
                Err(_) => HttpResponse::InternalServerError().finish(),
            },
        };
        if let Some(outcome) = self.cache.outcome {
            response
                .headers_mut()
                .insert(X_CACHE, HeaderValue::from_static(outcome.as_str()));
        }
        response
    }
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
