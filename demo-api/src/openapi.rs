//! The OpenAPI document, served at `/openapi.json` and browsable at `/docs/`.

use utoipa::OpenApi;

use crate::error::ErrorBody;
use crate::events::{Event, NewEvent};
use crate::geocoder::LocalInfo;
use crate::handlers;
use crate::health::{self, CacheHealth, Health, OriginCalls};
use crate::weather::{DayForecast, Forecast};

/// The API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "demo-api",
        description = "FastTrackAPI's cached endpoints on actix-web, cached with #[cached_json]. \
            Cached routes answer an X-Cache header: HIT, MISS or BYPASS (cache unusable)."
    ),
    paths(
        handlers::get_local_info,
        handlers::get_forecast_info,
        handlers::get_top_soon,
        handlers::get_top_viewed,
        handlers::list_events,
        handlers::create_event,
        handlers::get_event,
        health::health,
        crate::metrics::metrics,
        crate::admin::purge_prefix,
    ),
    components(schemas(
        LocalInfo, Forecast, DayForecast, Event, NewEvent, ErrorBody, Health, CacheHealth,
        OriginCalls, crate::admin::Purged
    )),
    tags(
        (name = "places", description = "Geocoding and weather (cached)"),
        (name = "events", description = "Events: rankings cached, the rest never"),
        (name = "service", description = "Health, metrics, cache administration"),
    )
)]
pub struct ApiDoc;
