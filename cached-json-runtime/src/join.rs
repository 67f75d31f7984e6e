//! Awaiting many futures of one type at once, their outputs in order: a batch's writes, a
//! Cluster's reads on several primaries. (One small function, not a dependency: tokio's
//! `join!` takes a fixed number of futures.)

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// A future, and its output once it is done.
type Pending<F> = (Pin<Box<F>>, Option<<F as Future>::Output>);

/// Awaits every future of `futures` at once; their outputs in the order given. Each is polled
/// only while it is not done.
pub(crate) async fn all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<Pending<F>> = futures
        .into_iter()
        .map(|future| (Box::pin(future), None))
        .collect();
    std::future::poll_fn(|cx| {
        let mut ready = true;
        for (future, output) in &mut pending {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(done) => *output = Some(done),
                    Poll::Pending => ready = false,
                }
            }
        }
        match ready {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    })
    .await;
    pending
        .into_iter()
        .filter_map(|(_, output)| output)
        .collect()
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    enum Role {
        Waits(oneshot::Receiver<u8>),
        Sends(oneshot::Sender<u8>),
        Answers,
    }

    #[tokio::test]
    async fn outputs_come_in_the_order_given_and_each_is_polled_while_another_waits() {
        // The first waits for what the last sends: awaited one after the other, never done.
        let (send, receive) = oneshot::channel();
        let roles = [Role::Waits(receive), Role::Answers, Role::Sends(send)];
        let outputs = super::all(roles.into_iter().map(|role| async move {
            match role {
                Role::Waits(receive) => receive.await.unwrap(),
                Role::Sends(send) => {
                    send.send(7).unwrap();
                    2
                }
                Role::Answers => 1,
            }
        }))
        .await;
        assert_eq!(outputs, [7, 1, 2]);
    }
}
