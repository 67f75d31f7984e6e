//! The API's route handlers. The four cached routes answer with what their `#[cached_json]`
//! function's JSON companion (`f_json`, [`crate::cached`]) returns: an `Entry`, the JSON the
//! cache holds, sent as it is with HTTP caching (`cached_json::actix`): `X-Cache` says what the
//! cache actually did, a strong `ETag` of the stored JSON lets clients revalidate (`304`),
//! `Cache-Control: max-age` is the entry's TTL and `Age` its time in the cache on hits.

use actix_web::{get, post, web, HttpResponse};
use cached_json::Entry;

use crate::cached::{forecast_info_json, local_info_json, top_soon_json, top_viewed_json};
use crate::error::{ApiError, ErrorBody};
use crate::events::{Event, NewEvent};
use crate::geocoder::LocalInfo;
use crate::query::{
    bounded, check_text, location_key, truncate, LimitQuery, ListQuery, LocationQuery, MAX_TEXT,
};
use crate::state::AppState;
use crate::weather::Forecast;

/// Geocode a Brazilian city (cached 24 h under `local-info`).
#[utoipa::path(
    get, path = "/api/v1/local_info", tag = "places", params(LocationQuery),
    responses(
        (status = 200, body = LocalInfo, description = "The place"),
        (status = 400, body = ErrorBody, description = "Missing, empty or over-long location_name"),
        (status = 404, body = ErrorBody, description = "Unknown place (not cached)"),
    )
)]
#[get("/api/v1/local_info")]
pub async fn get_local_info(
    state: web::Data<AppState>,
    query: web::Query<LocationQuery>,
) -> Result<Entry, ApiError> {
    let key = location_key(&query)?;
    let place = local_info_json(&state.geocoder, &key).await;
    place.ok_or_else(|| unknown_place(&query))
}

/// Three-day forecast for a Brazilian city (cached 30 min under `forecast`).
#[utoipa::path(
    get, path = "/api/v1/forecast_info", tag = "places", params(LocationQuery),
    responses(
        (status = 200, body = Forecast, description = "The forecast"),
        (status = 400, body = ErrorBody, description = "Missing, empty or over-long location_name"),
        (status = 404, body = ErrorBody, description = "Unknown place (not cached)"),
    )
)]
#[get("/api/v1/forecast_info")]
pub async fn get_forecast_info(
    state: web::Data<AppState>,
    query: web::Query<LocationQuery>,
) -> Result<Entry, ApiError> {
    let key = location_key(&query)?;
    let forecast = forecast_info_json(&state, &key).await;
    forecast.ok_or_else(|| unknown_place(&query))
}

fn unknown_place(query: &LocationQuery) -> ApiError {
    let name = query.location_name.as_deref().unwrap_or("").trim();
    ApiError::NotFound(format!("unknown place: {:?}", truncate(name)))
}

/// The next upcoming events (cached 10 s under `top-soon`).
#[utoipa::path(
    get, path = "/api/v1/eventos/top/soon", tag = "events", params(LimitQuery),
    responses(
        (status = 200, body = Vec<Event>, description = "Soonest first"),
        (status = 400, body = ErrorBody, description = "limit is not an integer from 1 to 100"),
    )
)]
#[get("/api/v1/eventos/top/soon")]
pub async fn get_top_soon(
    state: web::Data<AppState>,
    query: web::Query<LimitQuery>,
) -> Result<Entry, ApiError> {
    let limit = bounded("limit", query.limit.as_deref(), 10, 1, 100)?;
    top_soon_json(&state.events, limit).await
}

/// The most viewed events (cached 30 s under `top-viewed`).
#[utoipa::path(
    get, path = "/api/v1/eventos/top/most-viewed", tag = "events", params(LimitQuery),
    responses(
        (status = 200, body = Vec<Event>, description = "Most viewed first"),
        (status = 400, body = ErrorBody, description = "limit is not an integer from 1 to 100"),
    )
)]
#[get("/api/v1/eventos/top/most-viewed")]
pub async fn get_top_viewed(
    state: web::Data<AppState>,
    query: web::Query<LimitQuery>,
) -> Result<Entry, ApiError> {
    let limit = bounded("limit", query.limit.as_deref(), 10, 1, 100)?;
    top_viewed_json(&state.events, limit).await
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
    // The rankings may now differ: every cached answer tagged `events` (`top_soon`,
    // `top_viewed`) is out of date, on every instance sharing the cache, at once.
    if let Err(err) = cached_json::invalidate_tag("events").await {
        tracing::warn!(error = %err, "could not invalidate the rankings after a new event");
    }
    Ok(HttpResponse::Created().json(created))
}
