//! The simulated geocoding service (the seed's "external API"): a real list of Brazilian
//! cities, answered after a realistic delay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::text::fold;

/// A place the geocoder knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LocalInfo {
    /// Official name, e.g. `São Paulo`.
    #[schema(example = "Recife")]
    pub name: String,
    /// State (UF), e.g. `SP`.
    #[schema(example = "PE")]
    pub state: String,
    /// Always `BR`.
    pub country: String,
    /// Degrees, WGS 84.
    #[schema(example = -8.0476)]
    pub latitude: f64,
    /// Degrees, WGS 84.
    #[schema(example = -34.877)]
    pub longitude: f64,
    /// Inhabitants (2022 census).
    #[schema(example = 1488920)]
    pub population: u64,
}

/// The geocoder: a lookup table behind a delay, counting its calls.
#[derive(Clone)]
pub struct Geocoder {
    places: Arc<HashMap<String, LocalInfo>>,
    latency: Duration,
    calls: Arc<AtomicU64>,
}

impl Geocoder {
    /// The geocoder over `data/cities.csv`, answering after `latency`.
    pub fn new(latency: Duration) -> Self {
        let places = include_str!("../data/cities.csv")
            .lines()
            .skip(1)
            .filter_map(parse_city)
            .map(|place| (fold(&place.name), place))
            .collect();
        Geocoder {
            places: Arc::new(places),
            latency,
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The place called `name` (case and accents ignored), or `None`.
    pub async fn locate(&self, name: &str) -> Option<LocalInfo> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.latency).await;
        self.places.get(&fold(name)).cloned()
    }

    /// How many times it was called: each one is an origin call the cache did not save.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// How many places it knows.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// Whether it knows no place at all.
    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }
}

fn parse_city(line: &str) -> Option<LocalInfo> {
    let mut fields = line.split(',');
    let place = LocalInfo {
        name: fields.next()?.to_owned(),
        state: fields.next()?.to_owned(),
        country: "BR".to_owned(),
        latitude: fields.next()?.parse().ok()?,
        longitude: fields.next()?.parse().ok()?,
        population: fields.next()?.parse().ok()?,
    };
    Some(place)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn knows_every_listed_city_by_folded_name() {
        let geocoder = Geocoder::new(Duration::ZERO);
        assert_eq!(geocoder.len(), 80);
        let sp = geocoder.locate("sao paulo").await.unwrap();
        assert_eq!((sp.name.as_str(), sp.state.as_str()), ("São Paulo", "SP"));
        assert!(geocoder.locate("Atlantis").await.is_none());
        assert_eq!(geocoder.calls(), 2);
    }
}
