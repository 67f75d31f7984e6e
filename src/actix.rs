//! HTTP caching for actix-web handlers over cached functions (cargo feature `actix`).
//!
//! A handler answers with what the function's JSON companion `f_json` returns: an
//! [`Entry`](crate::Entry) is an actix-web `Responder`, so one line makes the route. The response
//! carries `X-Cache` (what the cache did), a strong `ETag` of the stored bytes, `Cache-Control:
//! max-age` set to the entry's TTL (with `Age`, its time in the cache, a client or CDN reuses it
//! for what is left of its life), `Age` on hits, and answers a matching `If-None-Match` with `304
//! Not Modified` and no body. The body is the stored JSON itself, byte for byte what the `ETag`
//! names, never decoded and encoded again. A request's own `Cache-Control` (`no-cache`, `no-store`)
//! is ignored: it must never let a client make the server skip or refresh its cache.
//!
//! ```no_run
//! use actix_web::{web, App};
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
//! async fn get_place(name: web::Path<String>) -> Result<Entry, actix_web::Error> {
//!     place_json(&name).await.ok_or_else(|| actix_web::error::ErrorNotFound("unknown place"))
//! }
//!
//! let app = App::new().route("/places/{name}", web::get().to(get_place));
//! # drop(app);
//! ```

pub use cached_json_runtime::actix::X_CACHE;
