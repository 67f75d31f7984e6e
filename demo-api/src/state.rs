//! What every handler shares.

use cached_json::Cache;

use crate::events::EventStore;
use crate::geocoder::Geocoder;
use crate::weather::WeatherService;

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
    /// `DEMO_ADMIN_TOKEN`: the admin route's bearer token; `None`, the route is off.
    pub admin_token: Option<String>,
    /// The Prometheus recorder's handle, for `GET /metrics`.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}
