//! How a function's output maps to what is stored: every value, `Ok` only, or `Some` only.
//!
//! The call is written once, generic over a [`Shape`]; the attribute picks the shape from the
//! function's return type.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::logging::LogLimiter;

/// A value the cache can store and read back: `Serialize + DeserializeOwned`, under one name,
/// so that a type missing either is one error, with this message, at the return type.
#[diagnostic::on_unimplemented(
    message = "the cached value `{Self}` must implement `serde::Serialize` and `serde::Deserialize`",
    label = "this function's value is stored as JSON and read back, so it must be `Serialize` and `Deserialize`",
    note = "derive both for it: `#[derive(serde::Serialize, serde::Deserialize)]`"
)]
pub trait CacheValue: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// How values of `T` are written to the store and read back: as JSON.
///
/// Only [`Codec::JSON`] makes one, and only for `T: CacheValue`: the codec carries that proof
/// into the call, whose own signatures then need no bound. So the generated code states the
/// bound once, and a type that is not `CacheValue` is one error, at the return type.
pub struct Codec<T> {
    encode: fn(&T) -> Result<Vec<u8>, serde_json::Error>,
    decode: fn(&[u8]) -> Result<T, serde_json::Error>,
}

impl<T: CacheValue> Codec<T> {
    /// JSON, through serde.
    pub const JSON: Codec<T> = Codec {
        encode: serde_json::to_vec::<T>,
        decode: decode_json::<T>,
    };
}

fn decode_json<T: CacheValue>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes)
}

impl<T> Codec<T> {
    pub(crate) fn encode(self, value: &T) -> Result<Vec<u8>, serde_json::Error> {
        (self.encode)(value)
    }
}

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Codec<T> {}

/// How a function's output maps to what is stored.
pub(crate) trait Shape {
    type Output;
    type Stored;
    /// The part to store, if the output is cacheable.
    fn stored(output: &Self::Output) -> Option<&Self::Stored>;
    fn from_stored(stored: Self::Stored) -> Self::Output;
    /// Whether the output is an uncacheable answer that is the same for every caller (`None`).
    fn is_absent(_output: &Self::Output) -> bool {
        false
    }
    /// That answer, for the callers that waited for it.
    fn absent() -> Option<Self::Output> {
        None
    }
    /// Whether the output is a failure that a stale value may replace (`Err`).
    fn is_failure(_output: &Self::Output) -> bool {
        false
    }
}

/// Every value is cached.
pub(crate) struct PlainShape<V>(PhantomData<V>);
/// `Result<T, E>`: `Ok` is cached, `Err` is returned as it is.
pub(crate) struct ResultShape<T, E>(PhantomData<(T, E)>);
/// `Option<T>`: `Some` is cached, `None` is returned to every caller and not stored.
pub(crate) struct OptionShape<T>(PhantomData<T>);

impl<V> Shape for PlainShape<V> {
    type Output = V;
    type Stored = V;
    fn stored(output: &V) -> Option<&V> {
        Some(output)
    }
    fn from_stored(stored: V) -> V {
        stored
    }
}

impl<T, E> Shape for ResultShape<T, E> {
    type Output = Result<T, E>;
    type Stored = T;
    fn stored(output: &Result<T, E>) -> Option<&T> {
        output.as_ref().ok()
    }
    fn from_stored(stored: T) -> Result<T, E> {
        Ok(stored)
    }
    fn is_failure(output: &Result<T, E>) -> bool {
        output.is_err()
    }
}

impl<T> Shape for OptionShape<T> {
    type Output = Option<T>;
    type Stored = T;
    fn stored(output: &Option<T>) -> Option<&T> {
        output.as_ref()
    }
    fn from_stored(stored: T) -> Option<T> {
        Some(stored)
    }
    fn is_absent(output: &Option<T>) -> bool {
        output.is_none()
    }
    fn absent() -> Option<Option<T>> {
        Some(None)
    }
}

static UNREADABLE_VALUES: LogLimiter = LogLimiter::new(Duration::from_secs(10));

/// The stored JSON as the function's output, or `None` (logged) if it does not deserialize:
/// corrupt, or written by an older version of the type. The caller treats that as a miss.
pub(crate) fn decode<S: Shape>(
    codec: Codec<S::Stored>,
    bytes: &[u8],
    key: &str,
) -> Option<S::Output> {
    match (codec.decode)(bytes) {
        Ok(value) => Some(S::from_stored(value)),
        Err(err) => {
            if let Some(held_back) = UNREADABLE_VALUES.allow() {
                tracing::warn!(key, error = %err, held_back,
                    "cached value does not deserialize: treated as a miss");
            }
            None
        }
    }
}
