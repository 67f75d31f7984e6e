//! How an output is cached, picked from the function's real return type, not its spelling.
//!
//! A `type ApiResult<T> = Result<T, MyError>` alias is a `Result` to the compiler, whatever the
//! attribute reads. So the generated code does not choose the output's shape ([`ValueShape`],
//! [`ResultShape`] or [`OptionShape`]) itself: it asks a [`Mode`] of the return type for its
//! `mode()`, and method resolution (autoref specialization) picks [`ByResult`] for any
//! `Result`, [`ByOption`] for any `Option`, and [`ByValue`] for everything else:
//!
//! ```text
//! use ByResult as _, ByOption as _, ByValue as _, SharesErrors as _, KeepsErrors as _;
//! let mode = (&&Mode::<ReturnType>::new()).mode();
//! let errors = (&&mode.errors()).sharing();
//! mode.cached(call, Codec::JSON, errors, body)
//! ```
//!
//! The same technique decides whether a `Result`'s error can be handed to the callers that
//! waited for a failed call ([`SharesErrors`]: `E: Clone + Send + Sync + 'static`) or not
//! ([`KeepsErrors`]); see the crate's `flight` module.
//!
//! Where the compiler cannot see the type (a projection on a generic parameter, such as
//! `T::Output`, resolved per instantiation), [`ByValue`] checks the type's name at run time and
//! runs a `Result` or an `Option` it did not expect uncached, with a warning: an `Err` or a
//! `None` is never stored as a value. `returns = ...` in the attribute says the mode outright.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use crate::body::{Detached, Inline};
use crate::call::Call;
use crate::detach::Start;
use crate::logging::LogLimiter;
use crate::shape::{Codec, ErrorShare, OptionShape, ResultShape, ValueShape};

/// The function's return type `R`, for method resolution to pick a mode from.
pub struct Mode<R>(PhantomData<fn() -> R>);

impl<R> Mode<R> {
    /// The mode of `R`.
    pub const fn new() -> Self {
        Mode(PhantomData)
    }
}

impl<R> Default for Mode<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// `Result<T, E>`: `Ok` is cached. Picked for any `Result`.
pub trait ByResult {
    /// [`ResultMode`].
    type Mode;
    /// The mode.
    fn mode(self) -> Self::Mode;
}

impl<T, E> ByResult for &&Mode<Result<T, E>> {
    type Mode = ResultMode<T, E>;
    fn mode(self) -> ResultMode<T, E> {
        ResultMode(PhantomData)
    }
}

/// `Option<T>`: `Some` is cached. Picked for any `Option`.
pub trait ByOption {
    /// [`OptionMode`].
    type Mode;
    /// The mode.
    fn mode(self) -> Self::Mode;
}

impl<T> ByOption for &&Mode<Option<T>> {
    type Mode = OptionMode<T>;
    fn mode(self) -> OptionMode<T> {
        OptionMode(PhantomData)
    }
}

/// Every value is cached. Picked for any other type.
pub trait ByValue {
    /// [`ValueMode`].
    type Mode;
    /// The mode.
    fn mode(self) -> Self::Mode;
}

impl<R> ByValue for &Mode<R> {
    type Mode = ValueMode<R>;
    fn mode(self) -> ValueMode<R> {
        ValueMode {
            checked: true,
            ty: PhantomData,
        }
    }
}

/// The error type whose sharing [`SharesErrors`] / [`KeepsErrors`] decide.
pub struct ErrorProbe<E>(PhantomData<fn() -> E>);

/// An error that can be copied is handed to the callers that waited for the failed call.
pub trait SharesErrors {
    /// The error type.
    type Error;
    /// [`ErrorShare::CLONED`].
    fn sharing(self) -> ErrorShare<Self::Error>;
}

impl<E: Clone + Send + Sync + 'static> SharesErrors for &&ErrorProbe<E> {
    type Error = E;
    fn sharing(self) -> ErrorShare<E> {
        ErrorShare::CLONED
    }
}

/// Any other error is not: the callers that waited run the function again, in waves.
pub trait KeepsErrors {
    /// The error type.
    type Error;
    /// [`ErrorShare::NOT_SHARED`].
    fn sharing(self) -> ErrorShare<Self::Error>;
}

impl<E> KeepsErrors for &ErrorProbe<E> {
    type Error = E;
    fn sharing(self) -> ErrorShare<E> {
        ErrorShare::NOT_SHARED
    }
}

/// A type known to be a `Result`, for `returns = result`.
pub trait IsResult {
    /// `T`.
    type Ok;
    /// `E`.
    type Err;
}

impl<T, E> IsResult for Result<T, E> {
    type Ok = T;
    type Err = E;
}

/// A type known to be an `Option`, for `returns = option`.
pub trait IsOption {
    /// `T`.
    type Some;
}

impl<T> IsOption for Option<T> {
    type Some = T;
}

/// `returns = result`: `R` is a `Result`.
pub fn forced_result<R: IsResult>() -> ResultMode<R::Ok, R::Err> {
    ResultMode(PhantomData)
}

/// `returns = option`: `R` is an `Option`.
pub fn forced_option<R: IsOption>() -> OptionMode<R::Some> {
    OptionMode(PhantomData)
}

/// `returns = value` (or `cache_none`): every value of `R` is cached, whatever `R` is.
pub fn forced_value<R>() -> ValueMode<R> {
    ValueMode {
        checked: false,
        ty: PhantomData,
    }
}

/// How `f_json` maps an output of type `O` and what its call recorded to its answer.
pub type JsonMap<O> = fn(O, Option<crate::Entry>, Option<crate::CacheOutcome>) -> crate::Entry;

/// `Result<T, E>`: the call runs as a `ResultShape`.
pub struct ResultMode<T, E>(PhantomData<fn() -> (T, E)>);

impl<T, E> ResultMode<T, E> {
    /// What decides whether `E` is shared.
    pub fn errors(&self) -> ErrorProbe<E> {
        ErrorProbe(PhantomData)
    }

    /// For `f_json` behind a type alias the attribute could not read as a `Result`: the `Ok`
    /// value's entry; an `Err` is an entry with no JSON (see [`crate::json::unanswered`]).
    pub fn json_value(&self) -> JsonMap<Result<T, E>>
    where
        T: serde::Serialize,
    {
        crate::json::result_as_value::<T, E>
    }

    /// The cached call.
    pub fn cached<F>(
        self,
        call: Call,
        codec: Codec<T>,
        errors: ErrorShare<E>,
        function: F,
    ) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        call.run::<ResultShape<T, E>, _>((codec, errors), Inline(function))
    }

    /// The cached call of a function that can run apart from its caller.
    pub fn cached_detached<G>(
        self,
        call: Call,
        codec: Codec<T>,
        errors: ErrorShare<E>,
        start: G,
    ) -> impl Future<Output = Result<T, E>>
    where
        T: Send + 'static,
        E: Send + 'static,
        G: Start<Result<T, E>>,
    {
        call.run::<ResultShape<T, E>, _>((codec, errors), Detached(start))
    }
}

/// `Option<T>`: the call runs as an `OptionShape`.
pub struct OptionMode<T>(PhantomData<fn() -> T>);

impl<T> OptionMode<T> {
    /// No error to share.
    pub fn errors(&self) -> ErrorProbe<Infallible> {
        ErrorProbe(PhantomData)
    }

    /// For `f_json` behind a type alias the attribute could not read as an `Option`: the `Some`
    /// value's entry; `None` is an entry with no JSON (see [`crate::json::unanswered`]).
    pub fn json_value(&self) -> JsonMap<Option<T>>
    where
        T: serde::Serialize,
    {
        crate::json::option_as_value::<T>
    }

    /// The cached call.
    pub fn cached<F>(
        self,
        call: Call,
        codec: Codec<T>,
        _errors: ErrorShare<Infallible>,
        function: F,
    ) -> impl Future<Output = Option<T>>
    where
        F: Future<Output = Option<T>>,
    {
        call.run::<OptionShape<T>, _>(codec, Inline(function))
    }

    /// The cached call of a function that can run apart from its caller.
    pub fn cached_detached<G>(
        self,
        call: Call,
        codec: Codec<T>,
        _errors: ErrorShare<Infallible>,
        start: G,
    ) -> impl Future<Output = Option<T>>
    where
        T: Send + 'static,
        G: Start<Option<T>>,
    {
        call.run::<OptionShape<T>, _>(codec, Detached(start))
    }
}

/// Any other type: the call runs as a `ValueShape`; when picked by the compiler (not by `returns =
/// value`), unless the type turns out to be a `Result` or an `Option` at run time.
pub struct ValueMode<R> {
    checked: bool,
    ty: PhantomData<fn() -> R>,
}

impl<R> ValueMode<R> {
    /// No error to share.
    pub fn errors(&self) -> ErrorProbe<Infallible> {
        ErrorProbe(PhantomData)
    }

    /// For `f_json`: the value's entry.
    pub fn json_value(&self) -> JsonMap<R>
    where
        R: serde::Serialize,
    {
        crate::json::value::<R>
    }

    /// The cached call.
    pub fn cached<F>(
        self,
        call: Call,
        codec: Codec<R>,
        _errors: ErrorShare<Infallible>,
        function: F,
    ) -> impl Future<Output = R>
    where
        F: Future<Output = R>,
    {
        self.unless_disguised(call)
            .run::<ValueShape<R>, _>(codec, Inline(function))
    }

    /// The cached call of a function that can run apart from its caller.
    pub fn cached_detached<G>(
        self,
        call: Call,
        codec: Codec<R>,
        _errors: ErrorShare<Infallible>,
        start: G,
    ) -> impl Future<Output = R>
    where
        R: Send + 'static,
        G: Start<R>,
    {
        self.unless_disguised(call)
            .run::<ValueShape<R>, _>(codec, Detached(start))
    }

    /// `call`, made to bypass the cache when `R` turns out to be a `Result` or an `Option` the
    /// compiler did not see as one (with a warning): an `Err` or a `None` is never stored.
    fn unless_disguised(&self, call: Call) -> Call {
        let disguised = disguised_mode::<R>().filter(|_| self.checked);
        if let Some(kind) = disguised {
            warn_disguised(&call, kind, std::any::type_name::<R>());
        }
        call.bypass_if(disguised.is_some())
    }
}

/// `Some("Result")` or `Some("Option")` when `R`, which the compiler did not see as one at the
/// call, is one (a projection resolved per instantiation).
fn disguised_mode<R>() -> Option<&'static str> {
    let name = std::any::type_name::<R>();
    if name.starts_with("core::result::Result<") {
        Some("Result")
    } else if name.starts_with("core::option::Option<") {
        Some("Option")
    } else {
        None
    }
}

static DISGUISED: LogLimiter = LogLimiter::new(Duration::from_secs(10));

fn warn_disguised(call: &Call, kind: &'static str, type_name: &'static str) {
    if let Some(held_back) = DISGUISED.allow() {
        tracing::warn!(
            function = call.function(),
            return_type = type_name,
            held_back,
            "a cached function returns a {kind} the attribute could not see (a generic \
             projection): running it uncached; say `returns = {}` in the attribute",
            kind.to_ascii_lowercase()
        );
    }
}
