//! What the processes sharing one Redis tell each other: [`Store::publish`] sends on one
//! channel, and a pub/sub connection of the store's own, kept subscribed to it, hands each
//! message to the listener, with a resync whenever it had to (re)subscribe, since messages may
//! have been missed meanwhile.
//!
//! A subscriber is idle most of the time, and an idle connection can die without a word (a NAT
//! or a load balancer dropping it, a frozen Redis): so it is `PING`ed every [`PING_EVERY`]
//! (Redis answers a `PING` on a subscribed connection), and each answer proves that every
//! message published before the `PING` was sent has been heard: the listener is told so
//! ([`StoreEvent::Heard`]), and trusts what it learned only for a short while after each proof.
//! A `PING` unanswered for [`GIVE_UP_AFTER`] drops the connection and subscribes anew. TCP
//! keepalive is on besides (`link.rs`), for the kernel to notice a dead peer too.
//!
//! [`Store::publish`]: crate::store::Store::publish

use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_core::Stream;
use redis::aio::{PubSubSink, PubSubStream};

use super::server::Server;
use crate::store::{Listener, StoreEvent};

/// The channel every cached-json process publishes and listens on.
pub(super) const CHANNEL: &str = "cached-json:events";

/// How often the subscription proves it is alive: well within the listener's trust
/// (`generation::TRUST_FOR`, 150 ms), so that a Redis answering within 100 ms or so keeps it
/// trusted without a gap. (40 light commands a second per process.)
pub(super) const PING_EVERY: Duration = Duration::from_millis(25);

/// A `PING` unanswered for this long: the connection is taken for dead, and replaced.
pub(super) const GIVE_UP_AFTER: Duration = Duration::from_secs(1);

/// A subscription lost sooner than this after it was made waits before the next one, longer
/// each time (up to the store's `retry_max`).
const SETTLED: Duration = Duration::from_secs(5);

/// Keeps a subscription to [`CHANNEL`] for as long as the store lives, reconnecting with
/// backoff, and hands what arrives to `listener`.
pub(super) async fn listen(store: Weak<Server>, listener: Listener) {
    let mut delay = None::<Duration>;
    // On a Cluster, the seed node to subscribe on: the next one after a failure.
    let mut seed = 0usize;
    loop {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let Some(shared) = store.upgrade() else {
            return;
        };
        let (timeout, backoff) = (shared.config.connect_timeout, shared.config.backoff());
        let subscribe = async {
            // With Redis Sentinel, on the master it names now.
            shared.before_connecting().await?;
            let clients = shared.backend.pubsub_clients();
            let client = &clients[seed % clients.len()];
            let subscribed = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(CHANNEL).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            subscribed.await.map_err(|err| err.to_string())
        };
        let subscribed = tokio::time::timeout(timeout, subscribe).await;
        drop(shared);
        match subscribed {
            Ok(Ok(pubsub)) => {
                // Whatever was published before this subscription was missed.
                listener(StoreEvent::Resync);
                let started = Instant::now();
                let (sink, messages) = pubsub.split();
                let ended = hear(&store, sink, messages, &listener).await;
                // The connection is gone: what comes until the next subscription is lost.
                listener(StoreEvent::Resync);
                if ended == Ended::StoreGone {
                    return;
                }
                seed += 1;
                // A subscription that keeps failing soon (a `PING` refused, say) must not
                // reconnect in a loop.
                delay = (started.elapsed() < SETTLED).then(|| backoff.after(delay));
            }
            Ok(Err(_)) | Err(_) => {
                seed += 1;
                delay = Some(backoff.after(delay));
            }
        }
    }
}

/// Why a subscription stopped being heard.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The connection closed, or a `PING` went unanswered: messages may be missed.
    Lost,
    StoreGone,
}

/// A `PING` under way: when it was sent, and its answer within [`GIVE_UP_AFTER`].
type Ping = Pin<Box<dyn Future<Output = bool> + Send>>;

/// Hands the messages to `listener`, and proves every [`PING_EVERY`] that none was missed,
/// until the connection is lost.
async fn hear(
    store: &Weak<Server>,
    sink: PubSubSink,
    mut messages: PubSubStream,
    listener: &Listener,
) -> Ended {
    // An interval, not a sleep in the select: a steady stream of messages must not put the
    // `PING`s off.
    let mut pings = tokio::time::interval(PING_EVERY);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight: Option<(Instant, Ping)> = None;
    loop {
        tokio::select! {
            message = std::future::poll_fn(|cx| Pin::new(&mut messages).poll_next(cx)) => {
                match message {
                    Some(message) => deliver(&message, listener),
                    None => return Ended::Lost,
                }
            }
            answered = async {
                in_flight.as_mut().expect("polled only while in flight").1.as_mut().await
            }, if in_flight.is_some() => {
                let Some((sent, _)) = in_flight.take() else {
                    unreachable!("polled only while in flight");
                };
                if !answered {
                    return Ended::Lost;
                }
                // Replies and messages come in order on the connection: every message
                // published before the `PING` is queued here already. Heard first.
                // Unconstrained: Tokio's budget would make a long queue answer "not ready"
                // before it is empty.
                while let Poll::Ready(next) = tokio::task::unconstrained(std::future::poll_fn(|cx| {
                    Poll::Ready(Pin::new(&mut messages).poll_next(cx))
                }))
                .await
                {
                    match next {
                        Some(message) => deliver(&message, listener),
                        None => return Ended::Lost,
                    }
                }
                listener(StoreEvent::Heard(sent));
            }
            _ = pings.tick(), if in_flight.is_none() => {
                if store.strong_count() == 0 {
                    return Ended::StoreGone;
                }
                let mut sink = sink.clone();
                let ping = async move {
                    let answer = sink.ping::<redis::Value>();
                    matches!(tokio::time::timeout(GIVE_UP_AFTER, answer).await, Ok(Ok(_)))
                };
                in_flight = Some((Instant::now(), Box::pin(ping)));
            }
        }
    }
}

fn deliver(message: &redis::Msg, listener: &Listener) {
    if let Ok(text) = message.get_payload::<String>() {
        listener(StoreEvent::Message(text));
    }
}
