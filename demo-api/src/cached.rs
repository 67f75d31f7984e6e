//! The cached functions: the seed's table, one attribute each. The routes call them and never
//! touch the cache themselves.

use cached_json::cached_json;

use crate::error::ApiError;
use crate::events::{Event, EventStore};
use crate::geocoder::{Geocoder, LocalInfo};
use crate::state::AppState;
use crate::weather::Forecast;

/// Geocoding is practically static: 24 h. The key is the folded name, so that "Recife",
/// "recife" and " RECIFE " share one entry. An unknown place (`None`) is cached for a minute
/// (negative caching): a client asking again and again for a place that does not exist costs
/// the geocoder one call a minute, and a place added to it is found within a minute.
#[cached_json("local-info", ttl = 86400, none_ttl = 60, skip(geocoder))]
pub async fn local_info(geocoder: &Geocoder, location_key: &str) -> Option<LocalInfo> {
    geocoder.locate(location_key).await
}

/// The weather API is slow and paid: 30 min. Geocoding goes through its own cache.
#[cached_json("forecast", ttl = 1800, skip(state))]
pub async fn forecast_info(state: &AppState, location_key: &str) -> Option<Forecast> {
    let place = local_info(&state.geocoder, location_key).await?;
    Some(state.weather.forecast(place).await)
}

/// The "next N events" ranking changes every few seconds: a 10 s snapshot is enough. It is
/// read all the time, so it is refreshed in the background past 80% of its life: under steady
/// traffic nobody waits for the database after the first request.
///
/// Both rankings carry the tag `events`: creating an event invalidates them together, on every
/// instance, with one `invalidate_tag("events")`.
#[cached_json(
    "top-soon",
    ttl = 10,
    refresh_ahead = 0.8,
    skip(events),
    tags("events")
)]
pub async fn top_soon(events: &EventStore, limit: u32) -> Result<Vec<Event>, ApiError> {
    Ok(events.top_soon(limit).await?)
}

/// The most-viewed ranking changes only as views are counted: 30 s.
#[cached_json("top-viewed", ttl = 30, skip(events), tags("events"))]
pub async fn top_viewed(events: &EventStore, limit: u32) -> Result<Vec<Event>, ApiError> {
    Ok(events.top_viewed(limit).await?)
}
