//! Baselines for the HTTP benchmark (BENCHMARKS.md), served only with `DEMO_BENCH_ROUTES=1`:
//! the same `local_info` answer through a hand-written Redis cache-aside, from a hand-written
//! in-memory map, with no cache, and cached with tags (the price of tags on a hit).

use actix_web::{get, web, HttpResponse};
use cached_json::{cached_json, Entry};
use redis::AsyncCommands;

use crate::error::ApiError;
use crate::geocoder::{Geocoder, LocalInfo};
use crate::query::{location_key, LocationQuery};
use crate::text::fold;

/// A Redis connection of its own, as a hand-written cache-aside would hold it.
pub struct ManualRedis(pub redis::aio::MultiplexedConnection);

/// `local_info` with the cache-aside written by hand: `GET`, `from_slice`; on a miss the
/// geocoder and `SET EX`. No fallback, no coalescing: the floor for cost on a hit.
#[get("/bench/local_info/manual")]
pub async fn manual(
    redis: web::Data<ManualRedis>,
    geocoder: web::Data<Geocoder>,
    query: web::Query<LocationQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = fold(query.location_name.as_deref().unwrap_or(""));
    let key = format!("local-info-manual:{name}");
    let mut connection = redis.0.clone();
    if let Ok(Some(bytes)) = connection.get::<_, Option<Vec<u8>>>(&key).await {
        if let Ok(place) = serde_json::from_slice::<LocalInfo>(&bytes) {
            return Ok(HttpResponse::Ok().json(place));
        }
    }
    let place = geocoder
        .locate(&name)
        .await
        .ok_or_else(|| ApiError::NotFound(format!("unknown place: {name:?}")))?;
    if let Ok(json) = serde_json::to_vec(&place) {
        let _: Result<(), _> = connection.set_ex(&key, json, 86_400).await;
    }
    Ok(HttpResponse::Ok().json(place))
}

/// Places already looked up, in this process's memory, as a hand-written in-memory cache
/// holds them.
#[derive(Default)]
pub struct InMemory(std::sync::RwLock<std::collections::HashMap<String, LocalInfo>>);

/// `local_info` from a hand-written in-memory map: a read lock, a lookup, the JSON written.
/// The floor for an in-process cache on a hit.
#[get("/bench/local_info/memory")]
pub async fn memory(
    memory: web::Data<InMemory>,
    geocoder: web::Data<Geocoder>,
    query: web::Query<LocationQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = fold(query.location_name.as_deref().unwrap_or(""));
    if let Some(place) = memory
        .0
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&name)
    {
        return Ok(HttpResponse::Ok().json(place));
    }
    let place = geocoder
        .locate(&name)
        .await
        .ok_or_else(|| ApiError::NotFound(format!("unknown place: {name:?}")))?;
    memory
        .0
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name, place.clone());
    Ok(HttpResponse::Ok().json(place))
}

/// `local_info` with no cache: every request goes to the geocoder.
#[get("/bench/local_info/uncached")]
pub async fn uncached(
    geocoder: web::Data<Geocoder>,
    query: web::Query<LocationQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = fold(query.location_name.as_deref().unwrap_or(""));
    match geocoder.locate(&name).await {
        Some(place) => Ok(HttpResponse::Ok().json(place)),
        None => Err(ApiError::NotFound(format!("unknown place: {name:?}"))),
    }
}

/// `local_info` as the demo caches it, carrying two tags (one fixed, one from its argument):
/// each hit also reads the tags' records, in the same `MGET`.
#[cached_json(
    "local-info-tagged",
    ttl = 86400,
    none_ttl = 60,
    skip(geocoder),
    tags("places", "place:{location_key}")
)]
pub async fn local_info_tagged(geocoder: &Geocoder, location_key: &str) -> Option<LocalInfo> {
    geocoder.locate(location_key).await
}

/// `/api/v1/local_info` with the tagged function: the tagged HIT next to the untagged one.
#[get("/bench/local_info/tagged")]
pub async fn tagged(
    geocoder: web::Data<Geocoder>,
    query: web::Query<LocationQuery>,
) -> Result<Entry, ApiError> {
    let key = location_key(&query)?;
    local_info_tagged_json(&geocoder, &key)
        .await
        .ok_or_else(|| ApiError::NotFound(format!("unknown place: {key:?}")))
}
