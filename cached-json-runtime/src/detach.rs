//! Copies of a function's arguments, for running it detached from its caller (refresh-ahead,
//! background completion past the soft timeout): the body's future must then own what it
//! uses. The attribute copies each argument taken by reference through [`copy_of`], and hands
//! the body a reference to the copy ([`as_argument`]).

use std::borrow::Borrow;
use std::future::Future;

/// An argument type the cache can copy, to run the function in the background on the copy:
/// any `ToOwned` type (every `Clone` type, `str`, slices, paths).
#[diagnostic::on_unimplemented(
    message = "the argument type `{Self}` must be `Clone` (or `ToOwned`): with `refresh_ahead` or `timeout_ms`, the function goes on in the background on a copy of its arguments",
    label = "this argument is copied for the background run",
    note = "take it by value or as an `Arc<..>` (an actix `web::Data<..>` is one), derive `Clone` for it, or drop `refresh_ahead`/`timeout_ms`"
)]
pub trait Detach {
    /// The copy.
    type Copy: Borrow<Self>;
    /// Copies `self`.
    fn copy(&self) -> Self::Copy;
}

impl<T: ToOwned + ?Sized> Detach for T {
    type Copy = T::Owned;
    fn copy(&self) -> T::Owned {
        self.to_owned()
    }
}

/// States that `T` can be copied, where the attribute copies an argument: a type that cannot
/// is one error there, with [`Detach`]'s message.
pub fn require<T: Detach + ?Sized>() {}

/// An owned copy of `value`.
pub fn copy_of<T: Detach + ?Sized>(value: &T) -> T::Copy {
    value.copy()
}

/// The copy seen as the argument it replaces.
pub fn as_argument<T: Detach + ?Sized>(copy: &T::Copy) -> &T {
    copy.borrow()
}

/// What a body must be to run apart from its caller: a function making a `Send + 'static`
/// future of a `Send + 'static` output (of owned copies of the arguments; see the attribute's
/// `detach` module in the runtime). The bound generated code and the runtime name, once.
pub trait Start<O>: FnOnce() -> <Self as Start<O>>::Future {
    /// The body's future.
    type Future: Future<Output = O> + Send + 'static;
}

impl<O, G, F> Start<O> for G
where
    O: Send + 'static,
    G: FnOnce() -> F,
    F: Future<Output = O> + Send + 'static,
{
    type Future = F;
}
