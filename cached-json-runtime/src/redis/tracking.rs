//! Hearing of changed keys, for the L1: a RESP3 connection of the store's own with
//! `CLIENT TRACKING ON BCAST [PREFIX <namespace>:]`, on which Redis pushes the name of every
//! key written, deleted, expired or evicted there, by any client at all (another instance,
//! `redis-cli DEL`, another language's client), and a null when the database is flushed.
//!
//! The listener hears [`KeyEvent::Tracking`] once the connection tracks, and
//! [`KeyEvent::Lost`] as soon as reports may be missed: the connection dropped, a `PING` on it
//! went unanswered for a command timeout (checked every [`PING_EVERY`]), or the store's breaker
//! lost Redis (the store then resets this connection too).

use std::sync::Weak;
use std::time::Duration;

use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};

use super::Shared;
use crate::store::{KeyEvent, KeyListener};

/// How often the tracking connection is checked while nothing arrives on it: the longest a
/// silently dead connection (no reset from the network) goes unnoticed, plus a command timeout.
pub(super) const PING_EVERY: Duration = Duration::from_secs(1);

/// Keeps a tracking connection for as long as the store lives, reconnecting with backoff, and
/// tells `listener` what it hears.
pub(super) async fn track(store: Weak<Shared>, prefixes: Vec<String>, listener: KeyListener) {
    let mut delay = None::<Duration>;
    let mut last_logged = None::<std::time::Instant>;
    loop {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let Some(shared) = store.upgrade() else {
            return;
        };
        let (display_url, secrets) = (shared.display_url.clone(), shared.secrets.clone());
        let Some(client) = shared.backend.tracking_client().cloned() else {
            return;
        };
        let config = &shared.config;
        let (connect_timeout, op_timeout) = (config.connect_timeout, config.op_timeout);
        let backoff = config.backoff();
        let reset = shared.tracking_reset.clone();
        drop(shared);

        let (pushes_in, mut pushes) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
        let connection_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(None)
            .set_push_sender(pushes_in);
        let connect = async {
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&connection_config)
                .await?;
            let mut tracking = redis::cmd("CLIENT");
            tracking.arg("TRACKING").arg("ON").arg("BCAST");
            for prefix in &prefixes {
                tracking.arg("PREFIX").arg(prefix);
            }
            tracking.query_async::<()>(&mut connection).await?;
            let _ = redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg("cached-json-tracking")
                .query_async::<()>(&mut connection)
                .await;
            Ok::<_, redis::RedisError>(connection)
        };
        let mut connection = match tokio::time::timeout(connect_timeout, connect).await {
            Ok(Ok(connection)) => connection,
            failed => {
                // Once, then every 30 s: the L1 serves nothing meanwhile. (A refused CLIENT
                // TRACKING or HELLO, e.g. an ACL user without them, lands here too.)
                if last_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(30)) {
                    last_logged = Some(std::time::Instant::now());
                    let error = match failed {
                        Ok(Err(err)) => crate::logging::scrub(&err.to_string(), &secrets),
                        _ => "timed out".to_owned(),
                    };
                    tracing::warn!(url = %display_url, error,
                        "the L1 cannot track changed keys: it serves nothing until it can");
                }
                delay = Some(backoff.after(delay));
                continue;
            }
        };
        delay = None;
        if last_logged.take().is_some() {
            tracing::info!(url = %display_url, "the L1 tracks changed keys again");
        }
        // A reset asked for before this connection existed is not about it.
        let _ = tokio::time::timeout(Duration::ZERO, reset.notified()).await;
        listener(KeyEvent::Tracking);
        loop {
            tokio::select! {
                push = pushes.recv() => match push {
                    Some(PushInfo { kind: PushKind::Invalidate, data }) => {
                        listener(invalidation(data));
                    }
                    Some(PushInfo { kind: PushKind::Disconnection, .. }) | None => break,
                    Some(_) => {}
                },
                () = reset.notified() => break,
                () = tokio::time::sleep(PING_EVERY) => {
                    if store.strong_count() == 0 {
                        listener(KeyEvent::Lost);
                        return;
                    }
                    let ping = redis::cmd("PING");
                    let answer = ping.query_async::<()>(&mut connection);
                    if !matches!(tokio::time::timeout(op_timeout, answer).await, Ok(Ok(()))) {
                        break;
                    }
                }
            }
        }
        listener(KeyEvent::Lost);
    }
}

/// What an `invalidate` push says: the keys, or (null) every key.
fn invalidation(data: Vec<Value>) -> KeyEvent {
    let mut keys = Vec::new();
    for value in data {
        match value {
            Value::Array(items) | Value::Set(items) => {
                for item in items {
                    if let Ok(key) = redis::from_redis_value::<String>(item) {
                        keys.push(key);
                    }
                }
            }
            Value::Nil => return KeyEvent::Flushed,
            other => {
                if let Ok(key) = redis::from_redis_value::<String>(other) {
                    keys.push(key);
                }
            }
        }
    }
    KeyEvent::Changed(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalidate_push_names_keys_or_flushes() {
        let keys = vec![Value::Array(vec![
            Value::BulkString(b"app:a:1".to_vec()),
            Value::BulkString(b"app:b:2".to_vec()),
        ])];
        assert_eq!(
            invalidation(keys),
            KeyEvent::Changed(vec!["app:a:1".into(), "app:b:2".into()])
        );
        assert_eq!(invalidation(vec![Value::Nil]), KeyEvent::Flushed);
    }
}
