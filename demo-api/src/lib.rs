//! demo-api: FastTrackAPI's cached endpoints on actix-web, cached with `#[cached_json]`.
//!
//! Start it with `cargo run -p demo-api`; see demo-api/README.md for a walk-through.

pub mod admin;
pub mod bench_routes;
pub mod cached;
pub mod config;
pub mod error;
pub mod events;
pub mod fallback;
pub mod geocoder;
pub mod handlers;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod state;
pub mod text;
pub mod weather;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::error::{InternalError, JsonPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpResponse, HttpServer, ResponseError};
use cached_json::{Cache, CacheBuilder};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::error::{ApiError, ErrorBody};
use crate::events::EventStore;
use crate::geocoder::Geocoder;
use crate::state::AppState;
use crate::weather::WeatherService;

/// Builds everything from `config` and serves until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<(), String> {
    // Before the first cached call, so that the cache keeps this recorder's handles.
    let metrics = metrics::install();
    let cache = build_cache(&config)?;
    if cache.clone().install().is_err() {
        return Err("a process-wide cache was already installed".into());
    }
    let events = EventStore::open(&config.database_url, config.seed_events)
        .await
        .map_err(|err| format!("cannot open DATABASE_URL {}: {err}", config.database_url))?;
    let geocoder = Geocoder::new(config.origin_latency);
    let in_memory = web::Data::new(bench_routes::InMemory::default());
    let bench = if config.bench_routes {
        Some(bench_state(&config, &geocoder).await?)
    } else {
        None
    };
    let state = web::Data::new(AppState {
        geocoder,
        weather: WeatherService::new(config.origin_latency * 2),
        events,
        cache,
        redis_url: config.redis_url.clone(),
        admin_token: config.admin_token.clone(),
        metrics,
    });
    let openapi = openapi::ApiDoc::openapi();

    metrics::register_runtime();
    let server =
        HttpServer::new(move || {
            // Called on each worker's thread: its runtime's tasks are counted in `/metrics`.
            metrics::register_runtime();
            App::new()
            .app_data(state.clone())
            .app_data(query_config())
            .app_data(json_config())
            // The baselines first: actix tries routes in order, and after the API's routes
            // with path parameters (matched by regex) a baseline would pay ~6k instructions a
            // request that the cached route does not, flattering the cache in the comparison.
            .configure(|config| {
                if let Some((redis, geocoder)) = &bench {
                    config
                        .app_data(redis.clone())
                        .app_data(geocoder.clone())
                        .app_data(in_memory.clone())
                        .service(bench_routes::manual)
                        .service(bench_routes::memory)
                        .service(bench_routes::uncached)
                        .service(bench_routes::tagged);
                }
            })
            .configure(routes_config)
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone()))
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/docs/"))
                        .finish()
                }),
            )
            .default_service(web::to(fallback::not_found))
            .wrap(ErrorHandlers::new().default_handler(json_error_body))
            .wrap_fn(|request, service| {
                // The request line is copied only when it is going to be logged: at L1 speed
                // the copies would be a sizeable share of a request's work.
                let logged = tracing::enabled!(tracing::Level::INFO)
                    .then(|| (Instant::now(), request.method().clone(), request.path().to_owned()));
                let response = service.call(request);
                async move {
                    let response = response.await?;
                    if let Some((started, method, path)) = logged {
                        let cache = response
                            .headers()
                            .get(cached_json::actix::X_CACHE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info!(
                            %method,
                            path,
                            status = response.status().as_u16(),
                            cache,
                            ms = format_args!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
                            "request"
                        );
                    }
                    Ok(response)
                }
            })
        })
        .shutdown_timeout(10)
        .bind((config.host.as_str(), config.port))
        .map_err(|err| format!("cannot listen on {}:{}: {err}", config.host, config.port))?;
    for addr in server.addrs() {
        tracing::info!("listening on http://{addr} (API docs: http://{addr}/docs/)");
    }
    // actix handles SIGINT and SIGTERM: stop accepting, finish requests in flight, exit.
    server
        .run()
        .await
        .map_err(|err| format!("server error: {err}"))?;
    tracing::info!("shut down");
    Ok(())
}

/// Every route of the API (without the docs), for the server and for tests.
pub fn routes_config(config: &mut web::ServiceConfig) {
    config
        .service(handlers::get_local_info)
        .service(handlers::get_forecast_info)
        .service(handlers::get_top_soon)
        .service(handlers::get_top_viewed)
        .service(handlers::list_events)
        .service(handlers::create_event)
        .service(handlers::get_event)
        .service(health::health)
        .service(metrics::metrics)
        .service(admin::purge_prefix);
}

/// What the `/bench/...` baselines need: their own Redis connection, the geocoder.
async fn bench_state(
    config: &Config,
    geocoder: &Geocoder,
) -> Result<(web::Data<bench_routes::ManualRedis>, web::Data<Geocoder>), String> {
    let url = config
        .redis_url
        .as_deref()
        .ok_or("DEMO_BENCH_ROUTES needs REDIS_URL")?;
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let connection = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("bench routes: cannot connect to Redis: {e}"))?;
    tracing::info!("serving the /bench/local_info/{{manual,uncached}} baselines");
    Ok((
        web::Data::new(bench_routes::ManualRedis(connection)),
        web::Data::new(geocoder.clone()),
    ))
}

/// The cache the environment describes (`CACHED_JSON_*`: the L1, a Cluster, TLS, timeouts;
/// see `CacheBuilder::from_env`), on Redis when `REDIS_URL` is set, else on the embedded
/// in-process store: the demo works on a machine with no Redis at all.
fn build_cache(config: &Config) -> Result<Cache, String> {
    let from_env = CacheBuilder::from_env().map_err(|err| err.to_string())?;
    let builder = match &config.redis_url {
        Some(url) => {
            tracing::info!(url = %config::redacted(url), "cache store: redis");
            from_env
        }
        None => {
            tracing::info!(
                "cache store: memory (in-process; set REDIS_URL to share the cache through Redis)"
            );
            from_env.memory(64 * 1024 * 1024)
        }
    };
    builder.build().map_err(|err| err.to_string())
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        let api = ApiError::BadRequest(format!("invalid query string: {err}"));
        InternalError::from_response(err, api.error_response()).into()
    })
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _| {
            let api = match &err {
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
                    "the body must be JSON, sent with Content-Type: application/json".into(),
                ),
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                    ApiError::PayloadTooLarge(format!("the body must be at most {limit} bytes"))
                }
                JsonPayloadError::Deserialize(de) if de.is_data() => {
                    ApiError::Unprocessable(format!("invalid event: {de}"))
                }
                JsonPayloadError::Deserialize(de) => {
                    ApiError::BadRequest(format!("the body is not valid JSON: {de}"))
                }
                other => ApiError::BadRequest(format!("cannot read the body: {other}")),
            };
            InternalError::from_response(err, api.error_response()).into()
        })
}

/// Gives a JSON body to error responses that actix (or a library) produced without one.
fn json_error_body<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let (request, response) = response.into_parts();
    let status = response.status();
    let body = serde_json::to_string(&ErrorBody {
        error: status.canonical_reason().unwrap_or("error").to_lowercase(),
        status: status.as_u16(),
    })
    .unwrap_or_default();
    let mut response = response.set_body(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, response)
            .map_into_boxed_body()
            .map_into_right_body(),
    ))
}
