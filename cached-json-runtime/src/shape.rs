//! How a function's output maps to what is stored and to what waiting callers get: every
//! value, `Ok` only, or `Some` only; and, for `Result`, whether an `Err` can be handed to them.
//!
//! The call is written once, generic over a [`Shape`]; the attribute picks the shape from the
//! function's return type ([`crate::mode`]). Each shape's codec carries what the serde and
//! `Clone` bounds provide as plain function pointers, built where the types are concrete: the
//! call's own signatures then need no bound, and a missing one is one error at the return type.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
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
/// into the call. So the generated code states the bound once, and a type that is not
/// `CacheValue` is one error, at the return type.
pub struct Codec<T> {
    encode: fn(&T) -> Result<Vec<u8>, serde_json::Error>,
    decode: fn(&[u8]) -> Result<T, serde_json::Error>,
    /// `cache_if`: whether a value is stored at all.
    cache_if: Option<fn(&T) -> bool>,
    /// `ttl_with`: a value's own TTL (zero: not stored).
    ttl_with: Option<fn(&T) -> Duration>,
    /// `none_ttl`: how to tell a `None` (the stored value being a whole `Option`), and its TTL.
    none_ttl: Option<NoneTtl<T>>,
}

/// `none_ttl`: whether a stored value is a `None`, and the TTL it then has.
type NoneTtl<T> = (fn(&T) -> bool, Duration);

impl<T: CacheValue> Codec<T> {
    /// JSON, through serde; every value stored for the site's TTL.
    pub const JSON: Codec<T> = Codec {
        encode: serde_json::to_vec::<T>,
        decode: decode_json::<T>,
        cache_if: None,
        ttl_with: None,
        none_ttl: None,
    };
}

/// Adaptive caching: the value decides whether, and for how long, it is stored.
impl<T> Codec<T> {
    /// `cache_if = path`: a value for which `keep` is false is returned and not stored.
    pub const fn cache_if(mut self, keep: fn(&T) -> bool) -> Self {
        self.cache_if = Some(keep);
        self
    }

    /// `ttl_with = path`: each value stored for the TTL `ttl` gives it (zero: not stored).
    pub const fn ttl_with(mut self, ttl: fn(&T) -> Duration) -> Self {
        self.ttl_with = Some(ttl);
        self
    }

    /// Whether a value's TTL depends on the value (`ttl_with`, `none_ttl`).
    pub(crate) fn varies_ttl(&self) -> bool {
        self.ttl_with.is_some() || self.none_ttl.is_some()
    }

    /// How long `value` is stored: `ttl` (the site's) unless its policy says otherwise; `None`:
    /// not stored.
    pub(crate) fn ttl_of(&self, value: &T, ttl: Duration) -> Option<Duration> {
        if let Some(keep) = self.cache_if {
            if !keep(value) {
                return None;
            }
        }
        let ttl = match (self.none_ttl, self.ttl_with) {
            (Some((is_none, none_ttl)), _) if is_none(value) => none_ttl,
            (_, Some(ttl_with)) => ttl_with(value),
            _ => ttl,
        };
        (!ttl.is_zero()).then_some(ttl)
    }
}

/// `none_ttl = N`, for a function whose whole `Option` is stored.
impl<T> Codec<Option<T>> {
    /// `None` is stored for `secs` seconds (negative caching), `Some` for the site's TTL (or
    /// what `ttl_with` says).
    pub const fn none_ttl(mut self, secs: u64) -> Self {
        self.none_ttl = Some((Option::<T>::is_none, Duration::from_secs(secs)));
        self
    }
}

fn decode_json<T: CacheValue>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes)
}

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Codec<T> {}

/// A leader's error, shared with the callers that waited for it.
pub(crate) type SharedError = Arc<dyn Any + Send + Sync>;

/// Whether an error type's values can be handed to the callers waiting on a failed call, as
/// Go's singleflight hands every waiter the leader's `err`: yes for `E: Clone + Send + Sync +
/// 'static` (each gets a clone), no otherwise. Built by `mode` where `E` is concrete.
pub struct ErrorShare<E> {
    copy: Option<ErrorCopy<E>>,
}

/// How the leader's error is put in the flight, and how a follower takes a copy out.
type ErrorCopy<E> = (fn(&E) -> SharedError, fn(&SharedError) -> Option<E>);

impl<E: Clone + Send + Sync + 'static> ErrorShare<E> {
    /// Clones of the leader's error.
    pub const CLONED: ErrorShare<E> = ErrorShare {
        copy: Some((share_error::<E>, take_error::<E>)),
    };
}

impl<E> ErrorShare<E> {
    /// Not shared: waiting callers run the function again (see the `flight` module).
    pub const NOT_SHARED: ErrorShare<E> = ErrorShare { copy: None };
}

fn share_error<E: Clone + Send + Sync + 'static>(error: &E) -> SharedError {
    Arc::new(error.clone())
}

fn take_error<E: Clone + Send + Sync + 'static>(shared: &SharedError) -> Option<E> {
    shared.downcast_ref::<E>().cloned()
}

impl<E> Clone for ErrorShare<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for ErrorShare<E> {}

/// How a function's output maps to what is stored, and to what waiting callers get.
pub(crate) trait Shape {
    type Output;
    type Stored;
    /// What writing, reading and sharing outputs takes: function pointers, built where the
    /// types are concrete.
    type Codec: Copy;
    fn encode(codec: Self::Codec, stored: &Self::Stored) -> Result<Vec<u8>, serde_json::Error>;
    fn decode(codec: Self::Codec, bytes: &[u8]) -> Result<Self::Stored, serde_json::Error>;
    /// The part to store, if the output is cacheable.
    fn stored(output: &Self::Output) -> Option<&Self::Stored>;
    /// The codec of what is stored (its TTL policy).
    fn codec(codec: &Self::Codec) -> &Codec<Self::Stored>;
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
    /// The failure in `output`, for the callers that waited, if they can share it.
    fn share_failure(_codec: Self::Codec, _output: &Self::Output) -> Option<SharedError> {
        None
    }
    /// A waiting caller's copy of a shared failure.
    fn take_failure(_codec: Self::Codec, _shared: &SharedError) -> Option<Self::Output> {
        None
    }
}

/// Every value is cached.
pub(crate) struct ValueShape<V>(PhantomData<V>);
/// `Result<T, E>`: `Ok` is cached, `Err` is returned as it is (and shared with waiting callers
/// when it can be).
pub(crate) struct ResultShape<T, E>(PhantomData<(T, E)>);
/// `Option<T>`: `Some` is cached, `None` is returned to every caller and not stored.
pub(crate) struct OptionShape<T>(PhantomData<T>);

impl<V> Shape for ValueShape<V> {
    type Output = V;
    type Stored = V;
    type Codec = Codec<V>;
    fn encode(codec: Codec<V>, stored: &V) -> Result<Vec<u8>, serde_json::Error> {
        (codec.encode)(stored)
    }
    fn decode(codec: Codec<V>, bytes: &[u8]) -> Result<V, serde_json::Error> {
        (codec.decode)(bytes)
    }
    fn stored(output: &V) -> Option<&V> {
        Some(output)
    }
    fn codec(codec: &Codec<V>) -> &Codec<V> {
        codec
    }
    fn from_stored(stored: V) -> V {
        stored
    }
}

impl<T, E> Shape for ResultShape<T, E> {
    type Output = Result<T, E>;
    type Stored = T;
    type Codec = (Codec<T>, ErrorShare<E>);
    fn encode(codec: Self::Codec, stored: &T) -> Result<Vec<u8>, serde_json::Error> {
        (codec.0.encode)(stored)
    }
    fn decode(codec: Self::Codec, bytes: &[u8]) -> Result<T, serde_json::Error> {
        (codec.0.decode)(bytes)
    }
    fn stored(output: &Result<T, E>) -> Option<&T> {
        output.as_ref().ok()
    }
    fn codec(codec: &Self::Codec) -> &Codec<T> {
        &codec.0
    }
    fn from_stored(stored: T) -> Result<T, E> {
        Ok(stored)
    }
    fn is_failure(output: &Result<T, E>) -> bool {
        output.is_err()
    }
    fn share_failure(codec: Self::Codec, output: &Result<T, E>) -> Option<SharedError> {
        let (share, _) = codec.1.copy?;
        output.as_ref().err().map(share)
    }
    fn take_failure(codec: Self::Codec, shared: &SharedError) -> Option<Result<T, E>> {
        let (_, take) = codec.1.copy?;
        take(shared).map(Err)
    }
}

impl<T> Shape for OptionShape<T> {
    type Output = Option<T>;
    type Stored = T;
    type Codec = Codec<T>;
    fn encode(codec: Codec<T>, stored: &T) -> Result<Vec<u8>, serde_json::Error> {
        (codec.encode)(stored)
    }
    fn decode(codec: Codec<T>, bytes: &[u8]) -> Result<T, serde_json::Error> {
        (codec.decode)(bytes)
    }
    fn stored(output: &Option<T>) -> Option<&T> {
        output.as_ref()
    }
    fn codec(codec: &Codec<T>) -> &Codec<T> {
        codec
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
pub(crate) fn decode<S: Shape>(codec: S::Codec, bytes: &[u8], key: &str) -> Option<S::Output> {
    match decode_stored::<S>(codec, bytes, key) {
        Decoded::Output(output) => Some(output),
        Decoded::OtherShape | Decoded::Corrupt => None,
    }
}

/// What stored bytes are to a function.
pub(crate) enum Decoded<O> {
    /// Its output.
    Output(O),
    /// JSON, of another shape than its type's: most likely another build's type (a field
    /// added or renamed by a deploy that is rolling out).
    OtherShape,
    /// Not JSON at all.
    Corrupt,
}

/// [`decode`], telling JSON of another shape (see [`Decoded::OtherShape`]) from bytes that are
/// not JSON.
pub(crate) fn decode_stored<S: Shape>(
    codec: S::Codec,
    bytes: &[u8],
    key: &str,
) -> Decoded<S::Output> {
    match S::decode(codec, bytes) {
        Ok(value) => Decoded::Output(S::from_stored(value)),
        Err(err) => {
            if let Some(held_back) = UNREADABLE_VALUES.allow() {
                tracing::warn!(key, error = %err, held_back,
                    "cached value does not deserialize: treated as a miss");
            }
            match err.classify() {
                serde_json::error::Category::Data => Decoded::OtherShape,
                _ => Decoded::Corrupt,
            }
        }
    }
}

/// How long `output` is stored: `ttl` (the site's) unless the codec's policy says otherwise;
/// `None`: not stored (not cacheable, or its policy says so).
pub(crate) fn stored_ttl<S: Shape>(
    codec: &S::Codec,
    output: &S::Output,
    ttl: Duration,
) -> Option<Duration> {
    S::codec(codec).ttl_of(S::stored(output)?, ttl)
}

/// The life an entry read back has in full (for HTTP `Age`, `max-age` and `refresh_ahead`):
/// what its value's policy gives it, else `ttl` (the site's).
pub(crate) fn entry_ttl<S: Shape>(codec: &S::Codec, output: &S::Output, ttl: Duration) -> Duration {
    if !S::codec(codec).varies_ttl() {
        return ttl;
    }
    stored_ttl::<S>(codec, output, ttl).unwrap_or(ttl)
}

/// A shape whose outputs, and what it reads and writes them with, can go to another task: what
/// a body run apart from its caller needs of the call's output.
pub(crate) trait SendShape:
    Shape<Output: Send + 'static, Codec: Send + 'static> + 'static
{
}

impl<S> SendShape for S where S: Shape<Output: Send + 'static, Codec: Send + 'static> + 'static {}
