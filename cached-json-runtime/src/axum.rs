//! An [`Entry`] as an axum answer (cargo feature `axum`, axum 0.8): a handler returns what a
//! `f_json` companion gave it (`Entry`, `Result<Entry, E>`), and the response carries the stored
//! JSON byte for byte with `X-Cache`, a strong `ETag` of those bytes, `Cache-Control: max-age` set
//! to the entry's TTL (with `Age`, its time in the cache, a client or CDN reuses it for what is
//! left of its life) and `Age` on hits; an answer the cache did not hold promises nothing
//! (`Cache-Control: no-cache`, no `ETag`).
//!
//! `IntoResponse` does not see the request, so `304 Not Modified` comes from a middleware:
//! [`not_modified`] answers a `GET` or `HEAD` whose `If-None-Match` names the response's
//! `ETag` with a `304`, its headers kept and no body; add it once to the router. The facade's
//! `cached_json::axum` has a complete example.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::Entry;

/// The `X-Cache` header: `HIT`, `HIT-L1`, `MISS`, `BYPASS`, `STALE` or `COALESCED`.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

impl IntoResponse for Entry {
    fn into_response(self) -> Response {
        let outcome = self.outcome();
        let mut response = if !self.is_cached() {
            if self.json().is_empty() {
                // The value did not serialize: nothing true to send.
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            } else {
                let mut response = Response::new(Body::from(self.into_json()));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                response
            }
        } else {
            let etag = self.etag_bytes();
            let max_age = self.max_age_header();
            let age = self.age();
            // The stored bytes themselves: shared, not copied.
            let mut response = Response::new(Body::from(self.into_json()));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(etag) = HeaderValue::from_bytes(&etag) {
                headers.insert(header::ETAG, etag);
            }
            if let Ok(max_age) = HeaderValue::from_bytes(max_age.as_bytes()) {
                headers.insert(header::CACHE_CONTROL, max_age);
            }
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
}

/// Middleware (`axum::middleware::from_fn(not_modified)`): a `GET` or `HEAD` whose
/// `If-None-Match` names the `ETag` of its `200` answer gets `304 Not Modified` instead, with
/// the answer's headers (`ETag`, `Cache-Control`, `Age`, `X-Cache`) and no body. Weak
/// comparison and `*`, as RFC 9110 asks of `If-None-Match`.
pub async fn not_modified(request: Request, next: Next) -> Response {
    let conditional = matches!(*request.method(), Method::GET | Method::HEAD);
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .filter(|_| conditional)
        .cloned();
    let response = next.run(request).await;
    let Some(if_none_match) = if_none_match else {
        return response;
    };
    let matched = response.status() == StatusCode::OK
        && response
            .headers()
            .get(header::ETAG)
            .and_then(|etag| etag.to_str().ok())
            .zip(if_none_match.to_str().ok())
            .is_some_and(|(etag, candidates)| crate::http::etag_matches(etag, candidates));
    if !matched {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::empty())
}
