//! The value the HIT-path benches and the profiling example cache: the demo's `local_info`
//! answer, about 100 bytes of JSON.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalInfo {
    pub name: String,
    pub state: String,
    pub country: String,
    pub latitude: f64,
    pub longitude: f64,
    pub population: u64,
}

/// What the (simulated) origin answers for `location_name`.
pub fn lookup(location_name: &str) -> LocalInfo {
    LocalInfo {
        name: location_name.to_owned(),
        state: "PE".into(),
        country: "BR".into(),
        latitude: -8.0476,
        longitude: -34.877,
        population: 1_488_920,
    }
}
