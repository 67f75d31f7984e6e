//! The HTTP API. The four cached routes call `#[cached_json]` functions and never touch the
//! cache themselves; their `X-Cache` header reports what the cache actually did.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{get, post, web, HttpRequest, HttpResponse, ResponseError};
use cached_json::{cached_json, observe, redact_url, Cache, CacheOutcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::events::{Event, EventStore, NewEvent};
use crate::geocoder::{Geocoder, LocalInfo};
use crate::text::fold;
use crate::weather::{Forecast, WeatherService};

/// What every handler shares.
pub struct AppState {
    /// The simulated geocoding service.
    pub geocoder: Geocoder,
    /// The simulated weather service.
    pub weather: WeatherService,
    /// The events database.
    pub events: EventStore,
    /// The cache, for `/health`.
    pub cache: Cache,
    /// The Redis URL in use (password redacted), for `/health`.
    pub redis_url: Option<String>,
}

/// The `X-Cache` response header.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

const MAX_TEXT: usize = 200;

// ---- The cached functions: the seed's table, one attribute each. ----

/// Geocoding is practically static: 24 h. The key is the folded name, so that "Recife",
/// "recife" and " RECIFE " share one entry. Unknown places (`None`) are not cached.
#[cached_json("local-info", ttl = 86400, skip(geocoder))]
pub async fn local_info(geocoder: &Geocoder, location_key: &str) -> Option<LocalInfo> {
    geocoder.locate(location_key).await
}

/// The weather API is slow and paid: 30 min. Geocoding goes through its own cache.
#[cached_json("forecast", ttl = 1800, skip(state))]
pub async fn forecast_info(state: &AppState, location_key: &str) -> Option<Forecast> {
    let place = local_info(&state.geocoder, location_key).await?;
    Some(state.weather.forecast(place).await)
}

/// The "next N events" ranking changes every few seconds: a 10 s snapshot is enough.
#[cached_json("top-soon", ttl = 10, skip(events))]
pub async fn top_soon(events: &EventStore, limit: u32) -> Result<Vec<Event>, ApiError> {
    Ok(events.top_soon(limit).await?)
}

/// The most-viewed ranking changes only as views are counted: 30 s.
#[cached_json("top-viewed", ttl = 30, skip(events))]
pub async fn top_viewed(events: &EventStore, limit: u32) -> Result<Vec<Event>, ApiError> {
    Ok(events.top_viewed(limit).await?)
}

// ---- Query strings. Numbers arrive as text so that a bad one gets a message naming it. ----

/// `?location_name=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocationQuery {
    /// A Brazilian city, e.g. `Recife` (case and accents ignored), 1 to 200 characters.
    #[param(value_type = String, example = "Recife")]
    pub location_name: Option<String>,
}

/// `?limit=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// How many events, 1 to 100. Default 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// `?skip=&limit=&city=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Events to skip, 0 to 1000000. Default 0.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    pub skip: Option<String>,
    /// Page size, 1 to 100. Default 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Only events in this city (case and accents ignored).
    #[param(value_type = Option<String>)]
    pub city: Option<String>,
}

fn location_key(query: &LocationQuery) -> Result<String, ApiError> {
    let name = query.location_name.as_deref().unwrap_or("").trim();
    if name.is_empty() {
        return Err(ApiError::BadRequest(
            "location_name is required, e.g. ?location_name=Recife".into(),
        ));
    }
    if name.chars().count() > MAX_TEXT {
        return Err(ApiError::BadRequest(format!(
            "location_name must be at most {MAX_TEXT} characters"
        )));
    }
    Ok(fold(name))
}

fn bounded(
    name: &str,
    raw: Option<&str>,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    match raw.trim().parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!(
            "{name} must be an integer from {min} to {max}, got {:?}",
            truncate(raw)
        ))),
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

/// A response from a cached route: the value (or error) with `X-Cache`.
fn with_outcome<T: Serialize>(
    result: Result<T, ApiError>,
    outcome: Option<CacheOutcome>,
) -> HttpResponse {
    let mut response = match result {
        Ok(value) => HttpResponse::Ok().json(value),
        Err(err) => err.error_response(),
    };
    if let Some(outcome) = outcome {
        response
            .headers_mut()
            .insert(X_CACHE, HeaderValue::from_static(outcome.as_str()));
    }
    response
}

// ---- Handlers. ----

/// Geocode a Brazilian city (cached 24 h under `local-info`).
#[utoipa::path(
    get, path = "/api/v1/local_info", tag = "places", params(LocationQuery),
    responses(
        (status = 200, body = LocalInfo, description = "The place",
            headers(("x-cache" = String, description = "HIT, MISS or BYPASS"))),
        (status = 400, body = ErrorBody, description = "Missing, empty or over-long location_name"),
        (status = 404, body = ErrorBody, description = "Unknown place (not cached)"),
    )
)]
#[get("/api/v1/local_info")]
pub async fn get_local_info(
    state: web::Data<AppState>,
    query: web::Query<LocationQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = location_key(&query)?;
    let (place, outcome) = observe(local_info(&state.geocoder, &key)).await;
    let result = place.ok_or_else(|| unknown_place(&query));
    Ok(with_outcome(result, outcome))
}

/// Three-day forecast for a Brazilian city (cached 30 min under `forecast`).
#[utoipa::path(
    get, path = "/api/v1/forecast_info", tag = "places", params(LocationQuery),
    responses(
        (status = 200, body = Forecast, description = "The forecast",
            headers(("x-cache" = String, description = "HIT, MISS or BYPASS"))),
        (status = 400, body = ErrorBody, description = "Missing, empty or over-long location_name"),
        (status = 404, body = ErrorBody, description = "Unknown place (not cached)"),
    )
)]
#[get("/api/v1/forecast_info")]
pub async fn get_forecast_info(
    state: web::Data<AppState>,
    query: web::Query<LocationQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = location_key(&query)?;
    let (forecast, outcome) = observe(forecast_info(&state, &key)).await;
    let result = forecast.ok_or_else(|| unknown_place(&query));
    Ok(with_outcome(result, outcome))
}

fn unknown_place(query: &LocationQuery) -> ApiError {
    let name = query.location_name.as_deref().unwrap_or("").trim();
    ApiError::NotFound(format!("unknown place: {:?}", truncate(name)))
}

/// The next upcoming events (cached 10 s under `top-soon`).
#[utoipa::path(
    get, path = "/api/v1/eventos/top/soon", tag = "events", params(LimitQuery),
    responses(
        (status = 200, body = Vec<Event>, description = "Soonest first",
            headers(("x-cache" = String, description = "HIT, MISS or BYPASS"))),
        (status = 400, body = ErrorBody, description = "limit is not an integer from 1 to 100"),
    )
)]
#[get("/api/v1/eventos/top/soon")]
pub async fn get_top_soon(
    state: web::Data<AppState>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = bounded("limit", query.limit.as_deref(), 10, 1, 100)?;
    let (events, outcome) = observe(top_soon(&state.events, limit)).await;
    Ok(with_outcome(events, outcome))
}

/// The most viewed events (cached 30 s under `top-viewed`).
#[utoipa::path(
    get, path = "/api/v1/eventos/top/most-viewed", tag = "events", params(LimitQuery),
    responses(
        (status = 200, body = Vec<Event>, description = "Most viewed first",
            headers(("x-cache" = String, description = "HIT, MISS or BYPASS"))),
        (status = 400, body = ErrorBody, description = "limit is not an integer from 1 to 100"),
    )
)]
#[get("/api/v1/eventos/top/most-viewed")]
pub async fn get_top_viewed(
    state: web::Data<AppState>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = bounded("limit", query.limit.as_deref(), 10, 1, 100)?;
    let (events, outcome) = observe(top_viewed(&state.events, limit)).await;
    Ok(with_outcome(events, outcome))
}

/// A page of events (never cached: every page and city would be another key).
#[utoipa::path(
    get, path = "/api/v1/eventos", tag = "events", params(ListQuery),
    responses(
        (status = 200, body = Vec<Event>, description = "By start time"),
        (status = 400, body = ErrorBody, description = "Bad skip, limit or city"),
    )
)]
#[get("/api/v1/eventos")]
pub async fn list_events(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let skip = bounded("skip", query.skip.as_deref(), 0, 0, 1_000_000)?;
    let limit = bounded("limit", query.limit.as_deref(), 10, 1, 100)?;
    let city = query
        .city
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if city.is_some_and(|c| c.chars().count() > MAX_TEXT) {
        return Err(ApiError::BadRequest(format!(
            "city must be at most {MAX_TEXT} characters"
        )));
    }
    Ok(HttpResponse::Ok().json(state.events.list(skip, limit, city).await?))
}

/// One event (never cached: each view is counted).
#[utoipa::path(
    get, path = "/api/v1/eventos/{id}", tag = "events",
    params(("id" = i64, Path, description = "Event id, a positive integer")),
    responses(
        (status = 200, body = Event, description = "The event, its view counted"),
        (status = 400, body = ErrorBody, description = "id is not a positive integer"),
        (status = 404, body = ErrorBody, description = "No such event"),
    )
)]
#[get("/api/v1/eventos/{id}")]
pub async fn get_event(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = match id.trim().parse::<i64>() {
        Ok(id) if id > 0 => id,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "event id must be a positive integer, got {:?}",
                truncate(&id)
            )))
        }
    };
    match state.events.view(id).await? {
        Some(event) => Ok(HttpResponse::Ok().json(event)),
        None => Err(ApiError::NotFound(format!("no event with id {id}"))),
    }
}

/// Create an event (never cached).
#[utoipa::path(
    post, path = "/api/v1/eventos", tag = "events", request_body = NewEvent,
    responses(
        (status = 201, body = Event, description = "The stored event"),
        (status = 400, body = ErrorBody, description = "Broken or incomplete JSON"),
        (status = 415, body = ErrorBody, description = "Not application/json"),
        (status = 422, body = ErrorBody, description = "A field is empty or too long"),
    )
)]
#[post("/api/v1/eventos")]
pub async fn create_event(
    state: web::Data<AppState>,
    body: web::Json<NewEvent>,
) -> Result<HttpResponse, ApiError> {
    let event = body.into_inner();
    check_text("title", Some(&event.title), 1, MAX_TEXT)?;
    check_text("city", Some(&event.city), 1, 100)?;
    check_text("venue", event.venue.as_deref(), 0, MAX_TEXT)?;
    check_text("description", event.description.as_deref(), 0, 2000)?;
    let created = state.events.create(&event).await?;
    Ok(HttpResponse::Created().json(created))
}

fn check_text(field: &str, value: Option<&str>, min: usize, max: usize) -> Result<(), ApiError> {
    let Some(value) = value else {
        return Ok(());
    };
    let len = value.trim().chars().count();
    if len < min || len > max {
        return Err(ApiError::Unprocessable(format!(
            "{field} must be {min} to {max} characters, got {len}"
        )));
    }
    Ok(())
}

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
            available: store.is_available(),
            url: state.redis_url.as_deref().map(redact_url),
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

/// Anything no route matches: 405 with `Allow` when the path exists with other methods,
/// else 404.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    let path = truncate(request.path());
    match allowed_methods(request.path()) {
        Some(allow) => ApiError::MethodNotAllowed {
            message: format!("{} is not allowed on {path}; use {allow}", request.method()),
            allow,
        },
        None => ApiError::NotFound(format!("no route for {} {path}", request.method())),
    }
    .error_response()
}

/// The methods the API document gives `path` (its `{id}` segments match any segment), e.g.
/// `"GET, POST"`. The OpenAPI document is the one list of routes, so it answers this too.
fn allowed_methods(path: &str) -> Option<String> {
    static ROUTES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        use utoipa::OpenApi;
        crate::openapi::ApiDoc::openapi()
            .paths
            .paths
            .into_iter()
            .map(|(pattern, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let allow: Vec<&str> = methods.iter().filter(|m| m.1).map(|m| m.0).collect();
                (pattern, allow.join(", "))
            })
            .collect()
    });
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    routes
        .iter()
        .find(|(pattern, _)| {
            let pattern: Vec<&str> = pattern.split('/').collect();
            pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()))
        })
        .map(|(_, allow)| allow.clone())
}
