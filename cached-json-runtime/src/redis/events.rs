//! What the processes sharing one Redis tell each other: [`Store::publish`] sends on one
//! channel, and a pub/sub connection of the store's own, kept subscribed to it, hands each
//! message to the listener, with a resync whenever it had to (re)subscribe, since messages may
//! have been missed meanwhile.
//!
//! [`Store::publish`]: crate::store::Store::publish

use std::pin::Pin;
use std::sync::Weak;
use std::time::Duration;

use futures_core::Stream;

use super::Shared;
use crate::store::{Listener, StoreEvent};

/// The channel every cached-json process publishes and listens on.
pub(super) const CHANNEL: &str = "cached-json:events";

/// Keeps a subscription to [`CHANNEL`] for as long as the store lives, reconnecting with
/// backoff, and hands what arrives to `listener`.
pub(super) async fn listen(store: Weak<Shared>, listener: Listener) {
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
        let clients = shared.backend.pubsub_clients();
        let client = clients[seed % clients.len()].clone();
        let subscribe = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let subscribed = tokio::time::timeout(timeout, subscribe).await;
        drop(shared);
        match subscribed {
            Ok(Ok(pubsub)) => {
                delay = None;
                // Whatever was published before this subscription was missed.
                listener(StoreEvent::Resync);
                let mut messages = pubsub.into_on_message();
                while let Some(message) =
                    std::future::poll_fn(|cx| Pin::new(&mut messages).poll_next(cx)).await
                {
                    if let Ok(text) = message.get_payload::<String>() {
                        listener(StoreEvent::Message(text));
                    }
                }
                // The connection is gone: what comes until the next subscription is lost.
                listener(StoreEvent::Resync);
                seed += 1;
            }
            Ok(Err(_)) | Err(_) => {
                seed += 1;
                delay = Some(backoff.after(delay));
            }
        }
    }
}
