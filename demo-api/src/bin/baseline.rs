//! The HTTP benchmark's baseline, in a process of its own: a minimal actix-web service with a
//! Redis cache-aside written the way a new user would write it. One global redis-rs
//! `ConnectionManager`; on a hit `GET` + `serde_json::from_slice`; on a miss the demo's
//! geocoder (the same origin, 400 ms) and `SET EX`. `GET /api/v1/local_info?location_name=`
//! answers the same JSON as demo-api's route. `REDIS_URL` and `PORT` configure it.

use std::time::Duration;

use actix_web::{get, web, App, HttpResponse, HttpServer};
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
            .service(local_info)
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
