//! The simulated weather service (slow and paid in production, the seed says): a plausible
//! forecast computed from the place and the date, after a delay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::geocoder::LocalInfo;

/// A three-day forecast for one place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Forecast {
    /// Where.
    pub location: LocalInfo,
    /// When the weather service computed it (RFC 3339): on a cache hit, the time of the miss.
    pub generated_at: String,
    /// Today and the next two days.
    pub days: Vec<DayForecast>,
}

/// One day of a forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DayForecast {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// °C.
    pub min_c: f64,
    /// °C.
    pub max_c: f64,
    /// Expected rain, mm.
    pub precipitation_mm: f64,
    /// `sunny`, `cloudy`, `rain` or `storm`.
    pub condition: String,
}

/// The weather service: a delay, then arithmetic.
#[derive(Clone)]
pub struct WeatherService {
    latency: Duration,
    calls: Arc<AtomicU64>,
}

impl WeatherService {
    /// A service answering after `latency`.
    pub fn new(latency: Duration) -> Self {
        WeatherService {
            latency,
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The forecast for `place` from today on.
    pub async fn forecast(&self, place: LocalInfo) -> Forecast {
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.latency).await;
        let now = Utc::now();
        let today = now.date_naive();
        let days = (0..3)
            .filter_map(|offset| today.checked_add_days(Days::new(offset)))
            .map(|date| day(&place, date))
            .collect();
        Forecast {
            location: place,
            generated_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            days,
        }
    }

    /// How many forecasts it computed.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

fn day(place: &LocalInfo, date: NaiveDate) -> DayForecast {
    // Warmer near the equator, a seasonal swing in the south, and a deterministic daily
    // wobble so that the same place and day always get the same forecast.
    let seasonal = ((date.ordinal() as f64 / 365.25) * std::f64::consts::TAU).cos();
    let base = 28.0 - (place.latitude.abs() - 3.0).max(0.0) * 0.45
        + seasonal * place.latitude.abs() * 0.12;
    let wobble = noise(place, date);
    let max_c = round1(base + 3.0 + wobble * 2.0);
    let min_c = round1(base - 5.0 + wobble);
    let precipitation_mm = round1(((wobble + 1.0) * 9.0 - 6.0).max(0.0));
    let condition = match precipitation_mm {
        p if p >= 10.0 => "storm",
        p if p >= 2.0 => "rain",
        _ if wobble > 0.0 => "cloudy",
        _ => "sunny",
    };
    DayForecast {
        date: date.to_string(),
        min_c,
        max_c,
        precipitation_mm,
        condition: condition.to_owned(),
    }
}

/// A value in [-1, 1) fixed by place and date.
fn noise(place: &LocalInfo, date: NaiveDate) -> f64 {
    let mut x = (place.latitude.to_bits() ^ place.longitude.to_bits().rotate_left(17))
        .wrapping_add(date.num_days_from_ce() as u64);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x % 2000) as f64 / 1000.0 - 1.0
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
