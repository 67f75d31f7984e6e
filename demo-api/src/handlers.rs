//! The API's route handlers. The four cached routes call `#[cached_json]` functions
//! ([`crate::cached`]) and answer with HTTP caching (`cached_json::actix`): `X-Cache` says what
//! the cache actually did, a strong `ETag` of the stored JSON lets clients revalidate (`304`),
//! `Cache-Control: max-age` is the entry's remaining life and `Age` its age on hits. Each first
//! asks the function's L1 companion (`f_l1`): a copy it can answer with at once is sent as
//! stored, without decoding it into a value only to encode it again.

use actix_web::http::header::HeaderValue;
use actix_web::{get, post, web, HttpRequest, HttpResponse, Responder, ResponseError};
use cached_json::actix::{observe, HttpCache, X_CACHE};
use serde::Serialize;

use crate::cached::{
    forecast_info, forecast_info_l1, local_info, local_info_l1, top_soon, top_soon_l1, top_viewed,
    top_viewed_l1,
};
use crate::error::{ApiError, ErrorBody};
use crate::events::{Event, NewEvent};
use crate::geocoder::LocalInfo;
use crate::query::{
    bounded, check_text, location_key, truncate, LimitQuery, ListQuery, LocationQuery, MAX_TEXT,
};
use crate::state::AppState;
use crate::weather::Forecast;

/// A cached route's answer: the value with its HTTP caching headers, or the error (with
/// `X-Cache` still, so that a 404 shows the cache was asked).
fn answer<T: Serialize>(
    request: &HttpRequest,
    http: HttpCache,
    result: Result<T, ApiError>,
) -> HttpResponse {
    match result {
        Ok(value) => http.with(value).respond_to(request),
        Err(err) => {
            let mut response = err.error_response();
            if let Some(outcome) = http.outcome() {
                response
                    .headers_mut()
                    .insert(X_CACHE, HeaderValue::from_static(outcome.as_str()));
            }
            response
        }
    }
}

/// The answer from an entry of the L1 (`HIT-L1`): its stored JSON, as it is.
fn from_l1(request: &HttpRequest, entry: cached_json::Entry) -> HttpResponse {
    HttpCache::from(entry).with(()).respond_to(request)
}

/// Geocode a Brazilian city (cached 24 h under `local-info`).
#[utoipa::path(
    get, path = "/api/v1/local_info", tag = "places", params(LocationQuery),
    responses(
        (status = 200, body = LocalInfo, description = "The place",
            headers(
                ("x-cache" = String, description = "HIT, HIT-L1, MISS, BYPASS, STALE or COALESCED"),
                ("etag" = String, description = "Strong ETag of the stored JSON (304 on If-None-Match)"),
                ("cache-control" = String, description = "max-age: the entry's remaining life"),
                ("age" = String, description = "On hits: seconds the entry has been cached"),
            )),
        (status = 304, description = "Not modified: the If-None-Match ETag is the current one"),
        (status = 400, body = ErrorBody, description = "Missing, empty or over-long location_name"),
        (status = 404, body = ErrorBody, description = "Unknown place (not cached)"),
    )
)]
#[get("/api/v1/local_info")]
pub async fn get_local_info(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LocationQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = location_key(&query)?;
    if let Some(entry) = local_info_l1(&key) {
        return Ok(from_l1(&request, entry));
    }
    let (place, http) = observe(local_info(&state.geocoder, &key)).await;
    let result = place.ok_or_else(|| unknown_place(&query));
    Ok(answer(&request, http, result))
}

/// Three-day forecast for a Brazilian city (cached 30 min under `forecast`).
#[utoipa::path(
    get, path = "/api/v1/forecast_info", tag = "places", params(LocationQuery),
    responses(
        (status = 200, body = Forecast, description = "The forecast",
            headers(
                ("x-cache" = String, description = "HIT, HIT-L1, MISS, BYPASS, STALE or COALESCED"),
                ("etag" = String, description = "Strong ETag of the stored JSON (304 on If-None-Match)"),
                ("cache-control" = String, description = "max-age: the entry's remaining life"),
                ("age" = String, description = "On hits: seconds the entry has been cached"),
            )),
        (status = 304, description = "Not modified: the If-None-Match ETag is the current one"),
        (status = 400, body = ErrorBody, description = "Missing, empty or over-long location_name"),
        (status = 404, body = ErrorBody, description = "Unknown place (not cached)"),
    )
)]
#[get("/api/v1/forecast_info")]
pub async fn get_forecast_info(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LocationQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = location_key(&query)?;
    if let Some(entry) = forecast_info_l1(&key) {
        return Ok(from_l1(&request, entry));
    }
    let (forecast, http) = observe(forecast_info(&state, &key)).await;
    let result = forecast.ok_or_else(|| unknown_place(&query));
    Ok(answer(&request, http, result))
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
            headers(
                ("x-cache" = String, description = "HIT, HIT-L1, MISS, BYPASS, STALE or COALESCED"),
                ("etag" = String, description = "Strong ETag of the stored JSON (304 on If-None-Match)"),
                ("cache-control" = String, description = "max-age: the entry's remaining life"),
                ("age" = String, description = "On hits: seconds the entry has been cached"),
            )),
        (status = 304, description = "Not modified: the If-None-Match ETag is the current one"),
        (status = 400, body = ErrorBody, description = "limit is not an integer from 1 to 100"),
    )
)]
#[get("/api/v1/eventos/top/soon")]
pub async fn get_top_soon(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = bounded("limit", query.limit.as_deref(), 10, 1, 100)?;
    if let Some(entry) = top_soon_l1(limit) {
        return Ok(from_l1(&request, entry));
    }
    let (events, http) = observe(top_soon(&state.events, limit)).await;
    Ok(answer(&request, http, events))
}

/// The most viewed events (cached 30 s under `top-viewed`).
#[utoipa::path(
    get, path = "/api/v1/eventos/top/most-viewed", tag = "events", params(LimitQuery),
    responses(
        (status = 200, body = Vec<Event>, description = "Most viewed first",
            headers(
                ("x-cache" = String, description = "HIT, HIT-L1, MISS, BYPASS, STALE or COALESCED"),
                ("etag" = String, description = "Strong ETag of the stored JSON (304 on If-None-Match)"),
                ("cache-control" = String, description = "max-age: the entry's remaining life"),
                ("age" = String, description = "On hits: seconds the entry has been cached"),
            )),
        (status = 304, description = "Not modified: the If-None-Match ETag is the current one"),
        (status = 400, body = ErrorBody, description = "limit is not an integer from 1 to 100"),
    )
)]
#[get("/api/v1/eventos/top/most-viewed")]
pub async fn get_top_viewed(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = bounded("limit", query.limit.as_deref(), 10, 1, 100)?;
    if let Some(entry) = top_viewed_l1(limit) {
        return Ok(from_l1(&request, entry));
    }
    let (events, http) = observe(top_viewed(&state.events, limit)).await;
    Ok(answer(&request, http, events))
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
    // The "next events" ranking may now differ: every cached `top_soon` answer is out of
    // date, on every instance sharing the cache, at once.
    if let Err(err) = crate::cached::top_soon_invalidate_all().await {
        tracing::warn!(error = %err, "could not invalidate top-soon after a new event");
    }
    Ok(HttpResponse::Created().json(created))
}
