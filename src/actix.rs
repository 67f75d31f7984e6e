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
        let mut response = match &self.cache.entry {
            Some(entry) => {
                let etag = entry.etag();
                let not_modified = request
                    .headers()
                    .get(header::IF_NONE_MATCH)
                    .and_then(|value| value.to_str().ok())
                    .is_some_and(|value| entry.not_modified(value));
                let mut builder = if not_modified {
                    HttpResponse::NotModified()
                } else {
                    HttpResponse::Ok()
                };
                builder.insert_header((header::ETAG, etag)).insert_header((
                    header::CACHE_CONTROL,
                    format!("max-age={}", entry.max_age().as_secs()),
                ));
                if let Some(age) = entry.age() {
                    builder.insert_header((header::AGE, age.as_secs().to_string()));
                }
                if not_modified {
                    builder.finish()
                } else {
                    builder
                        .content_type("application/json")
                        .body(entry.json.clone())
                }
            }
            // Not from the cache (bypassed, or no cached call): the value, with no promise.
            None => match serde_json::to_vec(&self.value) {
                Ok(json) => HttpResponse::Ok()
                    .content_type("application/json")
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
