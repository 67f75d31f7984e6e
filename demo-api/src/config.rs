//! Settings from the environment (and an optional `.env` file).

use std::time::Duration;

/// Everything the demo reads from its environment.
#[derive(Clone)]
pub struct Config {
    /// `HOST`, default `127.0.0.1`.
    pub host: String,
    /// `PORT`, default `8000`.
    pub port: u16,
    /// `REDIS_URL`: when set, the cache is Redis; when not, the embedded in-process store.
    pub redis_url: Option<String>,
    /// `DATABASE_URL`, default `sqlite://demo-api.db` (created if missing).
    pub database_url: String,
    /// `DEMO_ORIGIN_LATENCY_MS`: the simulated geocoder's delay; the weather service takes
    /// twice as long. Default 400 (so 800 ms for the weather).
    pub origin_latency: Duration,
    /// `DEMO_SEED_EVENTS`: events generated into an empty database. Default 5000.
    pub seed_events: u32,
    /// `DEMO_BENCH_ROUTES=1`: also serve the `/bench/...` baselines of BENCHMARKS.md.
    pub bench_routes: bool,
    /// `DEMO_ADMIN_TOKEN`: the bearer token of `DELETE /api/v1/cache/{prefix}`; unset, the
    /// route is off.
    pub admin_token: Option<String>,
}

/// `url` as it may be logged or shown: every credential replaced by `***`.
pub fn redacted(url: &str) -> String {
    cached_json::RedisConfig::new(url).redacted_url()
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials never reach a log: the URL redacted, the token only said to be set.
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("redis_url", &self.redis_url.as_deref().map(redacted))
            .field("database_url", &self.database_url)
            .field("origin_latency", &self.origin_latency)
            .field("seed_events", &self.seed_events)
            .field("bench_routes", &self.bench_routes)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Config {
    /// Reads the environment. Errors name the variable and what was wrong with it.
    pub fn from_env() -> Result<Self, String> {
        Ok(Config {
            host: var("HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: parse("PORT", 8000)?,
            redis_url: var("REDIS_URL"),
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://demo-api.db".to_owned()),
            origin_latency: Duration::from_millis(parse("DEMO_ORIGIN_LATENCY_MS", 400)?),
            seed_events: parse("DEMO_SEED_EVENTS", 5000)?,
            bench_routes: var("DEMO_BENCH_ROUTES").is_some_and(|v| v == "1" || v == "true"),
            admin_token: var("DEMO_ADMIN_TOKEN"),
        })
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|err| format!("{name}={value:?} is not valid: {err}")),
    }
}
