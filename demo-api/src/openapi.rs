//! The OpenAPI document, served at `/openapi.json` and browsable at `/docs/`.

use utoipa::OpenApi;

use crate::error::ErrorBody;
use crate::events::{Event, NewEvent};
use crate::geocoder::LocalInfo;
use crate::routes::{self, CacheHealth, Health, OriginCalls};
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
        routes::get_local_info,
        routes::get_forecast_info,
        routes::get_top_soon,
        routes::get_top_viewed,
        routes::list_events,
        routes::create_event,
        routes::get_event,
        routes::health,
    ),
    components(schemas(
        LocalInfo, Forecast, DayForecast, Event, NewEvent, ErrorBody, Health, CacheHealth,
        OriginCalls
    )),
    tags(
        (name = "places", description = "Geocoding and weather (cached)"),
        (name = "events", description = "Events: rankings cached, the rest never"),
        (name = "service", description = "Health"),
    )
)]
pub struct ApiDoc;
