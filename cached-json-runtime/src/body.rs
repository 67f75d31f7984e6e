//! How a cached function's body runs: in the caller's task ([`Inline`]), or, when the
//! attribute could give it owned copies of its arguments, also apart from its caller
//! ([`Detached`]: refresh-ahead, and background completion past `timeout_ms`).
//!
//! A call has one path ([`crate::aside`]); the three places where the two kinds of body differ
//! are the methods of [`Body`]. What a body must be to outlive its caller is said once, by
//! [`Start`] (in `detach.rs`, with the copies of the arguments it is made of).

use std::future::Future;
use std::time::Duration;

use crate::background::{self, Computation, Done};
use crate::detach::Start;
use crate::shape::{SendShape, Shape};

/// The body as the function's future, run where the caller waits.
pub(crate) struct Inline<F>(pub(crate) F);

/// The body as a function making its future from owned copies of the arguments, so that it can
/// run in a task of its own.
pub(crate) struct Detached<G>(pub(crate) G);

/// A cached function's body, for a call whose output has shape `S`.
pub(crate) trait Body<S: Shape> {
    /// The body's future.
    type Future: Future<Output = S::Output>;

    /// The body, to run in the caller's task (a call that does not use the cache).
    fn start(self) -> Self::Future;

    /// A hit due for a refresh (`refresh_ahead`): refreshes the entry in the background when
    /// the body can run apart from its caller (else the entry expires as usual).
    fn refresh(self, computation: Computation<S>);

    /// Steps 3 to 5 of a miss. Past `soft_timeout` (`timeout_ms`) a stale copy may answer:
    /// when `stale_may_answer` (the store answered, and the function keeps stale copies), a body
    /// that can run apart from its caller then goes on in the background and stores its value;
    /// any other is cancelled there (see [`Computation::run`]).
    fn compute(
        self,
        computation: Computation<S>,
        soft_timeout: Option<Duration>,
        stale_may_answer: bool,
    ) -> impl Future<Output = Done<S::Output>>;
}

impl<S: Shape, F: Future<Output = S::Output>> Body<S> for Inline<F> {
    type Future = F;

    fn start(self) -> F {
        self.0
    }

    fn refresh(self, _computation: Computation<S>) {}

    fn compute(
        self,
        computation: Computation<S>,
        soft_timeout: Option<Duration>,
        _stale_may_answer: bool,
    ) -> impl Future<Output = Done<S::Output>> {
        computation.run(self.0, soft_timeout)
    }
}

impl<S: SendShape, G: Start<S::Output>> Body<S> for Detached<G> {
    type Future = G::Future;

    fn start(self) -> G::Future {
        (self.0)()
    }

    fn refresh(self, computation: Computation<S>) {
        background::refresh(computation, self.0);
    }

    async fn compute(
        self,
        computation: Computation<S>,
        soft_timeout: Option<Duration>,
        stale_may_answer: bool,
    ) -> Done<S::Output> {
        match soft_timeout.filter(|_| stale_may_answer) {
            Some(soft_timeout) => background::complete(computation, self.0, soft_timeout).await,
            None => computation.run((self.0)(), soft_timeout).await,
        }
    }
}
