//! HTTP caching for actix-web handlers over cached functions (cargo feature `actix`).
//!
//! A handler answers with what the function's JSON companion `f_json` returns: an
//! [`Entry`](crate::Entry) is an actix-web `Responder`, so one line makes the route. The
//! response carries `X-Cache` (what the cache did), a strong `ETag` of the stored bytes,
//! `Cache-Control: max-age` set to the entry's remaining life (never more than its TTL), `Age`
//! on hits, and answers a matching `If-None-Match` with `304 Not Modified` and no body. The body
//! is the stored JSON itself, byte for byte what the `ETag` names, never decoded and encoded
//! again. A request's own `Cache-Control` (`no-cache`, `no-store`) is ignored: it must never let
//! a client make the server skip or refresh its cache.
//!
//! ```no_run
//! use actix_web::{get, web, HttpResponse, Responder};
//! use cached_json::{cached_json, Entry};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Place { name: String }
//!
//! #[cached_json("places", ttl = 3600)]
//! async fn place(name: &str) -> Option<Place> {
//!     Some(Place { name: name.to_owned() })
//! }
//!
//! #[get("/places/{name}")]
//! async fn get_place(name: web::Path<String>) -> Result<Entry, actix_web::Error> {
//!     place_json(&name).await.ok_or_else(|| actix_web::error::ErrorNotFound("unknown place"))
//! }
//! ```
//!
//! [`observe`] and [`HttpCache::with`] do the same for a handler that needs the value itself.

use std::future::Future;

use actix_web::body::BoxBody;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Responder};
use cached_json_runtime::{observe_http, CacheOutcome, Entry};
use serde::Serialize;

pub use cached_json_runtime::actix::X_CACHE;

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

/// The answer to send for an entry (what an `f_json` companion returned).
impl From<Entry> for HttpCache {
    fn from(entry: Entry) -> Self {
        HttpCache {
            outcome: Some(entry.outcome()),
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
            Some(entry) => cached_json_runtime::actix::respond(entry, request),
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
