//! The environment: every variable a cache reads, in one place, each parsed strictly. Only
//! [`CacheBuilder::from_env`] (and so [`Cache::from_env`](crate::Cache::from_env) and the
//! process-wide cache built when none is installed) reads them; [`Cache::builder`](crate::Cache::builder)
//! reads none. A malformed value is an error naming the variable, never a silent default.

use std::time::Duration;

use crate::builder::CacheBuilder;
use crate::store::redis::{ConfigError, RedisConfig, RedisTls};
use crate::store::MemoryStore;
use crate::DEFAULT_REDIS_URL;

impl CacheBuilder {
    /// A builder with what the environment sets, to override in code. Every variable, and
    /// `Err` for a malformed value (naming the variable):
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `CACHED_JSON_STORE` | `redis`, `memory` (in-process) or `off` | `redis` |
    /// | `REDIS_URL` | the Redis server (`rediss://` for TLS, feature `tls`); several, comma-separated, for a Cluster's seeds; `redis+sentinel://host:port,host:port/<master name>` for the master Redis Sentinel names (feature `sentinel`) | `redis://127.0.0.1:6379/0` |
    /// | `CACHED_JSON_CLUSTER` | `true`: `REDIS_URL` is a Redis Cluster (one seed is enough) | `false` |
    /// | `CACHED_JSON_TLS_CA` | a PEM file: the CA to trust instead of the system's roots | system roots |
    /// | `CACHED_JSON_TLS_CERT`, `CACHED_JSON_TLS_KEY` | PEM files: a client certificate (chain) and its key, for mutual TLS | none |
    /// | `CACHED_JSON_NAMESPACE` | a prefix for every key, e.g. the app's name | none |
    /// | `CACHED_JSON_L1` | an in-process L1 of this size (`64MiB`), or `off` | off |
    /// | `CACHED_JSON_MAX_VALUE_BYTES` | values whose JSON is longer are returned, not stored (`16MiB`) | `4MiB` |
    /// | `CACHED_JSON_OP_TIMEOUT_MS` | longest wait for one Redis command, in ms | `250` |
    /// | `CACHED_JSON_CONNECT_TIMEOUT_MS` | longest wait for a Redis connection, in ms | `250` |
    /// | `CACHED_JSON_RETRY_MIN_MS`, `CACHED_JSON_RETRY_MAX_MS` | the wait between attempts to reach Redis again: from min, doubling up to max, in ms | `100`, `1000` |
    ///
    /// Sizes take `B`, `KiB`, `MiB`, `GiB` (or `KB`, `MB`, `GB`, read as powers of two); blank
    /// variables are unset; a value that is not UTF-8 is an error too.
    ///
    /// What code says over it: a store given in code (`.redis_url(..)`, `.redis(..)`,
    /// `.memory(..)`, `.store(..)`) replaces the environment's store with all its settings (URL,
    /// Cluster, TLS files, timeouts); every other setter overrides the one setting it names
    /// (`.op_timeout(..)` over `CACHED_JSON_OP_TIMEOUT_MS`, `.tls_ca(..)` over
    /// `CACHED_JSON_TLS_CA`, `.namespace(..)`...).
    pub fn from_env() -> Result<Self, ConfigError> {
        builder()
    }
}

/// Every variable read.
const VARIABLES: [&str; 13] = [
    "CACHED_JSON_STORE",
    "REDIS_URL",
    "CACHED_JSON_CLUSTER",
    "CACHED_JSON_TLS_CA",
    "CACHED_JSON_TLS_CERT",
    "CACHED_JSON_TLS_KEY",
    "CACHED_JSON_NAMESPACE",
    "CACHED_JSON_L1",
    "CACHED_JSON_MAX_VALUE_BYTES",
    "CACHED_JSON_OP_TIMEOUT_MS",
    "CACHED_JSON_CONNECT_TIMEOUT_MS",
    "CACHED_JSON_RETRY_MIN_MS",
    "CACHED_JSON_RETRY_MAX_MS",
];

/// The builder the environment describes.
pub(crate) fn builder() -> Result<CacheBuilder, ConfigError> {
    for name in VARIABLES {
        if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(name) {
            return Err(ConfigError(format!("{name} is not valid UTF-8")));
        }
    }
    builder_from(|name| std::env::var(name).ok())
}

/// [`builder`], reading variables through `var` (tests give their own).
fn builder_from(var: impl Fn(&str) -> Option<String>) -> Result<CacheBuilder, ConfigError> {
    // Set and not blank.
    let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
    let mut builder = CacheBuilder::default();
    match set("CACHED_JSON_STORE")
        .map(|kind| kind.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("redis") => {
            let url = set("REDIS_URL").unwrap_or_else(|| DEFAULT_REDIS_URL.to_owned());
            let mut config = RedisConfig::new(url.trim());
            if let Some(value) = set("CACHED_JSON_CLUSTER") {
                config.cluster = boolean("CACHED_JSON_CLUSTER", &value)?;
            }
            config.tls = RedisTls::from_env_with(&set);
            // The store's own settings: a store given in code (`.redis(..)`, `.redis_url(..)`)
            // replaces them all; the builder's setters (`.op_timeout(..)`) override them.
            if let Some(value) = set("CACHED_JSON_OP_TIMEOUT_MS") {
                config.op_timeout = millis("CACHED_JSON_OP_TIMEOUT_MS", &value)?;
            }
            if let Some(value) = set("CACHED_JSON_CONNECT_TIMEOUT_MS") {
                config.connect_timeout = millis("CACHED_JSON_CONNECT_TIMEOUT_MS", &value)?;
            }
            if let Some((min, max)) = retry_backoff(&set)? {
                (config.retry_min, config.retry_max) = (min, max);
            }
            builder = builder.redis(config);
        }
        Some("memory") => builder = builder.store(MemoryStore::default()),
        Some("off" | "none") => builder = builder.off(),
        Some(other) => {
            return Err(ConfigError(format!(
                "CACHED_JSON_STORE={other:?}: must be redis, memory or off"
            )))
        }
    }
    if let Some(namespace) = set("CACHED_JSON_NAMESPACE") {
        builder = builder.namespace(namespace.trim());
    }
    if let Some(value) = set("CACHED_JSON_L1") {
        match value.trim().to_ascii_lowercase().as_str() {
            "0" | "off" | "false" | "no" => {}
            _ => {
                let bytes = parse_size(&value).ok_or_else(|| {
                    ConfigError(format!(
                        "CACHED_JSON_L1={value:?}: must be a size such as 64MiB, or off"
                    ))
                })?;
                builder = builder.l1(bytes);
            }
        }
    }
    if let Some(value) = set("CACHED_JSON_MAX_VALUE_BYTES") {
        let bytes = parse_size(&value).ok_or_else(|| {
            ConfigError(format!(
                "CACHED_JSON_MAX_VALUE_BYTES={value:?}: must be a size such as 4194304, 512KiB \
                 or 16MiB"
            ))
        })?;
        builder = builder.max_value_bytes(usize::try_from(bytes).unwrap_or(usize::MAX));
    }
    // Checked whatever the store: a malformed value is an error even where it is not used.
    for name in [
        "CACHED_JSON_OP_TIMEOUT_MS",
        "CACHED_JSON_CONNECT_TIMEOUT_MS",
    ] {
        if let Some(value) = set(name) {
            millis(name, &value)?;
        }
    }
    retry_backoff(&set)?;
    Ok(builder)
}

/// `CACHED_JSON_RETRY_MIN_MS` and `CACHED_JSON_RETRY_MAX_MS`, if either is set.
fn retry_backoff(
    set: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Duration, Duration)>, ConfigError> {
    let retry_min = set("CACHED_JSON_RETRY_MIN_MS")
        .map(|value| millis("CACHED_JSON_RETRY_MIN_MS", &value))
        .transpose()?;
    let retry_max = set("CACHED_JSON_RETRY_MAX_MS")
        .map(|value| millis("CACHED_JSON_RETRY_MAX_MS", &value))
        .transpose()?;
    if retry_min.is_none() && retry_max.is_none() {
        return Ok(None);
    }
    let defaults = RedisConfig::new("");
    let min = retry_min.unwrap_or(defaults.retry_min);
    let max = retry_max.unwrap_or(defaults.retry_max);
    if min > max {
        return Err(ConfigError(format!(
            "CACHED_JSON_RETRY_MIN_MS ({} ms) is above CACHED_JSON_RETRY_MAX_MS ({} ms)",
            min.as_millis(),
            max.as_millis()
        )));
    }
    Ok(Some((min, max)))
}

fn boolean(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError(format!(
            "{name}={value:?}: must be true or false"
        ))),
    }
}

fn millis(name: &str, value: &str) -> Result<Duration, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(ConfigError(format!(
            "{name}={value:?}: must be a whole number of milliseconds above 0, such as 250"
        ))),
    }
}

/// A size in bytes: `4096`, `512KiB`, `16MiB`, `1GiB` (also `KB`/`MB`/`GB`, read as powers of
/// two, and lowercase).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let shift = match text[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    number.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<CacheBuilder, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        builder_from(move |name| {
            vars.iter()
                .find(|(var, _)| var == name)
                .map(|(_, value)| value.clone())
        })
    }

    #[test]
    fn sizes_read_with_or_without_a_unit() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_size(" 16mib "), Some(16 << 20));
        assert_eq!(parse_size("1GB"), Some(1 << 30));
        assert_eq!(parse_size("64 MiB"), Some(64 << 20));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999999999999"), None);
    }

    #[test]
    fn every_variable_is_read_and_a_malformed_one_is_an_error_naming_it() {
        let builder = from(&[
            ("REDIS_URL", "redis://cache.internal:6380/2"),
            ("CACHED_JSON_CLUSTER", "yes"),
            ("CACHED_JSON_NAMESPACE", "shop"),
            ("CACHED_JSON_L1", "64MiB"),
            ("CACHED_JSON_MAX_VALUE_BYTES", "1MiB"),
            ("CACHED_JSON_OP_TIMEOUT_MS", "400"),
            ("CACHED_JSON_CONNECT_TIMEOUT_MS", "900"),
            ("CACHED_JSON_RETRY_MIN_MS", "50"),
            ("CACHED_JSON_RETRY_MAX_MS", "2000"),
        ])
        .unwrap();
        let described = format!("{builder:?}");
        for part in [
            "cache.internal:6380/2",
            "cluster: true",
            "Some(\"shop\")",
            "Some(67108864)",
            "Some(1048576)",
            "op_timeout: 400ms",
            "connect_timeout: 900ms",
            "retry_min: 50ms",
            "retry_max: 2s",
        ] {
            assert!(described.contains(part), "{part} in {described}");
        }
        for (name, value) in [
            ("CACHED_JSON_STORE", "dynamo"),
            ("CACHED_JSON_CLUSTER", "maybe"),
            ("CACHED_JSON_L1", "lots"),
            ("CACHED_JSON_MAX_VALUE_BYTES", "-1"),
            ("CACHED_JSON_OP_TIMEOUT_MS", "0"),
            ("CACHED_JSON_CONNECT_TIMEOUT_MS", "1s"),
            ("CACHED_JSON_RETRY_MIN_MS", "5000"),
        ] {
            let err = from(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
        // Off and blank are not errors.
        assert!(from(&[("CACHED_JSON_L1", "off"), ("CACHED_JSON_NAMESPACE", "")]).is_ok());
        assert!(from(&[("CACHED_JSON_STORE", "memory")]).is_ok());
    }
}
