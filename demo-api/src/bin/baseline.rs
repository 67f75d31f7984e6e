//! The HTTP benchmark's baseline, in a process of its own: a minimal actix-web service with a
//! Redis cache-aside written the way a new user would write it. One global redis-rs
//! `ConnectionManager`; on a hit `GET` + `serde_json::from_slice`; on a miss the demo's
//! geocoder (the same origin, 400 ms) and `SET EX`. `GET /api/v1/local_info?location_name=`
//! answers the same JSON as demo-api's route. `REDIS_URL` and `PORT` configure it.
//!
//! `GET /api/v1/local_info/http?location_name=` is the same cache-aside doing the HTTP work the
//! demo's route does, as fast as a user would write it by hand: `GET` + `PTTL` in one
//! pipeline, the stored bytes sent as they are (no decoding), a strong xxh3 `ETag`, `304` on a
//! matching `If-None-Match`, `Cache-Control: max-age` (the TTL) and `Age` (its time in the cache), `X-Cache`.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{get, web, App, HttpRequest, HttpResponse, HttpServer};
use demo_api::geocoder::{Geocoder, LocalInfo};
use demo_api::text::fold;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

#[derive(serde::Deserialize)]
struct Query {
    location_name: String,
}

#[get("/api/v1/local_info")]
async fn local_info(
    redis: web::Data<ConnectionManager>,
    geocoder: web::Data<Geocoder>,
    query: web::Query<Query>,
) -> HttpResponse {
    let name = fold(&query.location_name);
    let key = format!("local-info-baseline:{name}");
    let mut connection = redis.get_ref().clone();
    if let Ok(Some(bytes)) = connection.get::<_, Option<Vec<u8>>>(&key).await {
        if let Ok(place) = serde_json::from_slice::<LocalInfo>(&bytes) {
            return HttpResponse::Ok().json(place);
        }
    }
    match geocoder.locate(&name).await {
        Some(place) => {
            if let Ok(json) = serde_json::to_vec(&place) {
                let _: Result<(), _> = connection.set_ex(&key, json, 86_400).await;
            }
            HttpResponse::Ok().json(place)
        }
        None => HttpResponse::NotFound().finish(),
    }
}

const TTL_SECS: u64 = 86_400;

/// The answer for stored `json` with `remaining` seconds of life.
fn answer(
    request: &HttpRequest,
    json: Vec<u8>,
    remaining: u64,
    x_cache: &'static str,
) -> HttpResponse {
    let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&json));
    let not_modified = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == etag));
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, format!("max-age={TTL_SECS}")))
        .insert_header(("x-cache", x_cache));
    if x_cache == "HIT" {
        response.insert_header((header::AGE, TTL_SECS.saturating_sub(remaining)));
    }
    if not_modified {
        response.finish()
    } else {
        response.content_type("application/json").body(json)
    }
}

#[get("/api/v1/local_info/http")]
async fn local_info_http(
    request: HttpRequest,
    redis: web::Data<ConnectionManager>,
    geocoder: web::Data<Geocoder>,
    query: web::Query<Query>,
) -> HttpResponse {
    let name = fold(&query.location_name);
    let key = format!("local-info-baseline-http:{name}");
    let mut connection = redis.get_ref().clone();
    let read: Result<(Option<Vec<u8>>, i64), _> = redis::pipe()
        .get(&key)
        .pttl(&key)
        .query_async(&mut connection)
        .await;
    if let Ok((Some(json), pttl)) = read {
        let remaining = u64::try_from(pttl).unwrap_or(0) / 1000;
        return answer(&request, json, remaining, "HIT");
    }
    match geocoder.locate(&name).await {
        Some(place) => match serde_json::to_vec(&place) {
            Ok(json) => {
                let _: Result<(), _> = connection.set_ex(&key, &json, TTL_SECS).await;
                answer(&request, json, TTL_SECS, "MISS")
            }
            Err(_) => HttpResponse::InternalServerError().finish(),
        },
        None => HttpResponse::NotFound().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(8081);
    let client = redis::Client::open(url).map_err(std::io::Error::other)?;
    let manager = ConnectionManager::new(client)
        .await
        .map_err(std::io::Error::other)?;
    let redis = web::Data::new(manager);
    let geocoder = web::Data::new(Geocoder::new(Duration::from_millis(400)));
    HttpServer::new(move || {
        App::new()
            .app_data(redis.clone())
            .app_data(geocoder.clone())
            .service(local_info_http)
            .service(local_info)
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
