//! The OpenAPI document, served at `/openapi.json` and browsable at `/docs/`.

use utoipa::openapi::header::Header;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Response};
use utoipa::{Modify, OpenApi};

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
            Cached routes answer an X-Cache header: HIT, HIT-L1, MISS, BYPASS (cache unusable), \
            STALE or COALESCED."
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
    modifiers(&CachedAnswers),
    tags(
        (name = "places", description = "Geocoding and weather (cached)"),
        (name = "events", description = "Events: rankings cached, the rest never"),
        (name = "service", description = "Health, metrics, cache administration"),
    )
)]
pub struct ApiDoc;

/// The routes answered by a `f_json` companion's `Entry`.
const CACHED_ROUTES: [&str; 4] = [
    "/api/v1/local_info",
    "/api/v1/forecast_info",
    "/api/v1/eventos/top/soon",
    "/api/v1/eventos/top/most-viewed",
];

/// What every cached route's `200` carries.
const CACHE_HEADERS: [(&str, &str); 4] = [
    ("x-cache", "HIT, HIT-L1, MISS, BYPASS, STALE or COALESCED"),
    (
        "etag",
        "Strong ETag of the stored JSON (304 on If-None-Match)",
    ),
    (
        "cache-control",
        "max-age: the entry's TTL (less `Age`: what is left of its life)",
    ),
    ("age", "On hits: seconds the entry has been cached"),
];

/// The HTTP caching of the cached routes, described once: their `200`'s headers and their
/// `304`.
struct CachedAnswers;

impl Modify for CachedAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for path in CACHED_ROUTES {
            let Some(get) = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.get.as_mut())
            else {
                continue;
            };
            let responses = &mut get.responses.responses;
            if let Some(RefOr::T(ok)) = responses.get_mut("200") {
                for (name, description) in CACHE_HEADERS {
                    let mut header = Header::new(ObjectBuilder::new().schema_type(Type::String));
                    header.description = Some(description.to_owned());
                    ok.headers.insert(name.to_owned(), header);
                }
            }
            responses.insert(
                "304".to_owned(),
                RefOr::T(Response::new(
                    "Not modified: the If-None-Match ETag is the current one",
                )),
            );
        }
    }
}
