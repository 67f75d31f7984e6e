//! `GET /health`: the cache store and whether it is usable, the database, and how many calls
//! reached the origins.

use crate::config::redacted;
use actix_web::{get, web, HttpResponse};
use cached_json::store::Health as StoreHealth;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::state::AppState;

/// Service status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` while the service can answer (also without Redis), `degraded` without database.
    pub status: String,
    /// The cache store in use and whether it is usable now.
    pub cache: CacheHealth,
    /// `ok` or `unavailable`.
    pub database: String,
    /// Calls that reached the simulated origins since start: what the cache did not save.
    pub origin_calls: OriginCalls,
}

/// The cache part of `/health`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CacheHealth {
    /// `redis` or `memory`.
    pub store: String,
    /// Whether the store is usable right now (false while Redis is down).
    pub available: bool,
    /// The Redis URL, password redacted; absent for the memory store.
    pub url: Option<String>,
    /// Whether an in-process L1 is in front of the store (`CACHED_JSON_L1`, on Redis).
    pub l1: bool,
}

/// Origin call counters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OriginCalls {
    /// Geocoder calls.
    pub geocoder: u64,
    /// Weather service calls.
    pub weather: u64,
}

/// Health: 200 while the process can serve, with or without Redis.
#[utoipa::path(
    get, path = "/health", tag = "service",
    responses(
        (status = 200, body = Health, description = "Serving"),
        (status = 503, body = Health, description = "The database does not answer"),
    )
)]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let database_ok = state.events.ping().await;
    let store = state.cache.store();
    let body = Health {
        status: if database_ok { "ok" } else { "degraded" }.to_owned(),
        cache: CacheHealth {
            store: store.kind().to_owned(),
            available: store.health() == StoreHealth::Up,
            url: state.redis_url.as_deref().map(redacted),
            l1: state.cache.has_l1(),
        },
        database: if database_ok { "ok" } else { "unavailable" }.to_owned(),
        origin_calls: OriginCalls {
            geocoder: state.geocoder.calls(),
            weather: state.weather.calls(),
        },
    };
    if database_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
