//! The demo's `local_info` route on axum 0.8: one line per route with the `f_json` companion
//! (an `Entry` is an `IntoResponse`), and one layer, `cached_json::axum::not_modified`, for the
//! `304`s. `tests/axum.rs` checks its headers, `304` and `X-Cache` against a real Redis.
//!
//! ```text
//! cargo run --example axum --features axum      # Redis at REDIS_URL; PORT (default 3000)
//! curl -i 'http://127.0.0.1:3000/api/v1/local_info?location_name=Recife'
//! ```

use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use cached_json::{cached_json, CacheBuilder, Entry};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalInfo {
    pub name: String,
    pub state: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A geocoder: a slow origin in real life, a small table here.
#[cached_json("local-info", ttl = 86400)]
pub async fn local_info(location_key: &str) -> Option<LocalInfo> {
    let (name, state, latitude, longitude) = match location_key {
        "recife" => ("Recife", "PE", -8.05, -34.9),
        "natal" => ("Natal", "RN", -5.79, -35.21),
        _ => return None,
    };
    Some(LocalInfo {
        name: name.into(),
        state: state.into(),
        latitude,
        longitude,
    })
}

#[derive(Deserialize)]
pub struct LocationQuery {
    location_name: Option<String>,
}

/// A JSON error, as the demo answers them.
type ApiError = (StatusCode, [(header::HeaderName, &'static str); 1], String);

fn error(status: StatusCode, message: String) -> ApiError {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

pub async fn get_local_info(Query(query): Query<LocationQuery>) -> Result<Entry, ApiError> {
    let name = query.location_name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "location_name is required".into(),
        ));
    }
    let place = local_info_json(&name.to_lowercase()).await;
    place.ok_or_else(|| error(StatusCode::NOT_FOUND, format!("unknown place: {name:?}")))
}

/// The app: its routes, and the layer that answers `If-None-Match` with `304`.
pub fn app() -> Router {
    Router::new()
        .route("/api/v1/local_info", get(get_local_info))
        .layer(axum::middleware::from_fn(cached_json::axum::not_modified))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    CacheBuilder::from_env()?
        .build()?
        .install()
        .map_err(|_| "a cache was installed already")?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://127.0.0.1:{port}/api/v1/local_info?location_name=Recife");
    axum::serve(listener, app()).await?;
    Ok(())
}
