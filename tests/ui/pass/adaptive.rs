//! Adaptive caching: the value decides whether and how long it is stored, on every shape and
//! from a method (`Self::` paths), with the other options.

use std::time::Duration;

use cached_json::cached_json;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Rate {
    pub value: f64,
    pub live: bool,
}

fn is_live(rate: &Rate) -> bool {
    rate.live
}

fn rate_ttl(rate: &Rate) -> Duration {
    Duration::from_secs(if rate.live { 5 } else { 3600 })
}

#[cached_json("rates", ttl = 60, cache_if = is_live)]
pub async fn rate(currency: &str) -> Result<Rate, String> {
    Ok(Rate { value: 5.1, live: currency == "BRL" })
}

#[cached_json("rates-ttl", ttl = 60, ttl_with = rate_ttl, jitter = 5, stale = 600)]
pub async fn rate_for(currency: &str) -> Option<Rate> {
    Some(Rate { value: 5.1, live: currency == "BRL" })
}

#[cached_json("users", ttl = 600, none_ttl = 30)]
pub async fn user(id: u64) -> Option<String> {
    (id == 1).then(|| "Ana".to_owned())
}

fn short_if_none(user: &Option<String>) -> Duration {
    Duration::from_secs(if user.is_none() { 1 } else { 600 })
}

#[cached_json("users-both", ttl = 600, none_ttl = 30, cache_if = Option::is_some, returns = option)]
pub async fn user_kept(id: u64) -> Option<String> {
    (id == 1).then(|| "Ana".to_owned())
}

#[cached_json("users-value", ttl = 600, returns = value, ttl_with = short_if_none)]
pub async fn user_value(id: u64) -> Option<String> {
    (id == 1).then(|| "Ana".to_owned())
}

pub struct Board;

impl Board {
    fn fresh(score: &u32) -> bool {
        *score > 0
    }

    #[cached_json("scores", ttl = 60, cache_if = Self::fresh, refresh_ahead = 0.5)]
    pub async fn score(self: std::sync::Arc<Self>, game: u32) -> u32 {
        game
    }
}

fn main() {}
