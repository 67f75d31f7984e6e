//! Hearing of changed keys, for the L1: a RESP3 connection of the store's own with
//! `CLIENT TRACKING ON BCAST [PREFIX <namespace>:]`, on which Redis pushes the name of every
//! key written, deleted, expired or evicted there, by any client at all (another instance,
//! `redis-cli DEL`, another language's client), and a null when the database is flushed.
//!
//! On a Cluster, one such connection to every primary: a node reports the changes made on it
//! (a replica, those it replicates), so the primaries together report every change. Which they
//! are is [`topology`]'s business; they are read again every [`CHECK_EVERY`], in turn from
//! each tracked node, and when one names a primary not tracked (a primary added, a replica
//! promoted) its changes go unheard, and tracking starts over, asking that node first. (After a
//! manual failover the demoted primary reports on meanwhile, as a replica; a killed one's
//! connection drops, which starts tracking over at once.)
//!
//! The listener hears [`KeyEvent::Tracking`] once every connection tracks, and
//! [`KeyEvent::Lost`] as soon as reports may be missed: a connection dropped, a check went
//! unanswered for [`GIVE_UP_AFTER`] (a `PING` every [`CHECK_EVERY`]; on a Cluster the topology
//! read, and a `PING` on each connection every [`PING_ALL_EVERY`]), a connection reached
//! another node than the one it was made for, a primary is not tracked, or the store's breaker
//! lost Redis (the store then resets the tracking too). A check unanswered for [`PAUSE_AFTER`]
//! only pauses the L1 ([`KeyEvent::Paused`], then [`KeyEvent::Resumed`]): a stalled process or
//! machine, or a slow Redis, delays reports, it does not lose them. Every [`BEAT_EVERY`] the
//! listener hears [`KeyEvent::Heard`] (the L1 serves only shortly after the last); beats further
//! apart than [`STALL_AFTER`] mean this process stalled: paused too, until a `PING` sent after
//! the gap is answered on every connection. Checks run beside the reports,
//! never holding them up. Tracking that keeps starting over soon after it started waits between
//! attempts, growing as the store's reconnections do.
//!
//! [`topology`]: super::cluster::topology

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, PushInfo, PushKind, RedisError, Value};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::Notify;

use super::cluster::topology::{self, Primary};
use super::link::{NodeClients, Tracking};
use super::server::Server;

mod check;
mod open;

use crate::store::{KeyEvent, KeyListener};
use open::Opener;

/// How often the tracking is checked: one server's connection answers a `PING`; a Cluster's
/// primaries are read again from one tracked node, the next each time. With [`PAUSE_AFTER`],
/// the longest a hung connection to one server goes unnoticed; alone, the longest a primary
/// added or promoted on a Cluster does, plus a round trip. (Ten light commands a second per
/// process.)
pub(super) const CHECK_EVERY: Duration = Duration::from_millis(100);

/// On a Cluster, how often every tracking connection answers a `PING` besides (each one's turn
/// of the topology read comes every [`CHECK_EVERY`] times the primaries).
pub(super) const PING_ALL_EVERY: Duration = Duration::from_secs(1);

/// A check not answered for this long pauses the L1 (it serves nothing, keeps its copies) until
/// it is: the longest a copy may be served while reports are held up (Redis hung, the network
/// silently cut), plus [`CHECK_EVERY`]. Not the command timeout: on a saturated machine Redis
/// answered a `PING` in up to 290 ms (measured here under wrk, `redis-cli --latency`), and a
/// pause at 250 ms sent the L1's traffic to that slow Redis (and past its timeout, to the
/// origin) several times a minute.
pub(super) const PAUSE_AFTER: Duration = Duration::from_secs(1);

/// How often the watch tells the L1 that the reports are heard on time ([`KeyEvent::Heard`]):
/// well within the L1's trust (`l1::TRUST_FOR`, 150 ms).
const BEAT_EVERY: Duration = Duration::from_millis(25);

/// Beats further apart than this mean the process (or the store's thread) stalled: the L1
/// pauses until a `PING` on every connection shows the reports queued meanwhile are heard.
/// Within the L1's trust, so that the pause comes before the trust would run out on its own.
const STALL_AFTER: Duration = Duration::from_millis(100);

/// A check not answered for this long means reports may have been missed (the connection is
/// dead, or Redis hung for good): tracking starts over, the L1 flushed.
pub(super) const GIVE_UP_AFTER: Duration = Duration::from_secs(5);

/// Tracking that starts over sooner than this after it started waits before the next attempt,
/// longer each time (up to the store's `retry_max`): long enough for every check to have run
/// (the `PING`s, each tracked node's turn) on a Cluster of tens of primaries, so that a node
/// that keeps failing one cannot make every process reconnect in a loop.
const SETTLED: Duration = Duration::from_secs(10);

/// The connections that track, and what they were made for.
struct Tracked {
    connections: Arc<[MultiplexedConnection]>,
    /// On a Cluster: the primaries (sorted by id), in the order of `connections`.
    primaries: Option<Arc<[Primary]>>,
}

/// What a check found.
enum Checked {
    Fine,
    /// A connection did not answer in time, or failed.
    Lost,
    /// This tracked node names a primary that is not tracked.
    Moved(Primary),
}

/// A check under way.
type CheckFuture = Pin<Box<dyn Future<Output = Checked> + Send>>;

/// Why tracking ended.
enum Ended {
    Lost,
    Moved(Primary),
    StoreGone,
}

/// Keeps the tracking connections for as long as the store lives, reconnecting with backoff,
/// and tells `listener` what it hears.
/// `reset` tells it to start over (the store lost Redis: reports may be missed).
pub(super) async fn track(
    store: Weak<Server>,
    reset: Arc<Notify>,
    prefixes: Vec<String>,
    listener: KeyListener,
) {
    let mut delay = None::<Duration>;
    let mut last_logged = None::<Instant>;
    // On a Cluster: the node to ask for the primaries before the seeds (the one that named a
    // primary not tracked), and those to ask after them (the primaries last tracked: the seeds
    // may be gone).
    let mut named_by: Option<Primary> = None;
    let mut known: Vec<Primary> = Vec::new();
    loop {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let Some(shared) = store.upgrade() else {
            return;
        };
        let config = &shared.config;
        let op_timeout = config.op_timeout;
        let backoff = config.backoff();
        let (pushes_in, mut pushes) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
        let open = Opener {
            prefixes: prefixes.clone(),
            connect_timeout: config.connect_timeout,
            op_timeout,
            pushes: pushes_in,
        };
        // With Redis Sentinel, on the master it names now.
        let opened = match shared.before_connecting().await {
            Ok(()) => {
                open.tracked(shared.backend.tracking(), named_by.take(), &known)
                    .await
            }
            Err(err) => Err(err),
        };
        let (display_url, secrets) = (shared.display_url.clone(), shared.secrets.clone());
        drop(shared);
        let tracked = match opened {
            Ok(tracked) => tracked,
            Err(error) => {
                // Once, then every 30 s: the L1 serves nothing meanwhile. (A refused CLIENT
                // TRACKING or HELLO, e.g. an ACL user without them, lands here too.)
                if last_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(30)) {
                    last_logged = Some(Instant::now());
                    let error = crate::logging::scrub(&error, &secrets);
                    tracing::warn!(url = %display_url, error,
                        "the L1 cannot track changed keys: it serves nothing until it can");
                }
                delay = Some(backoff.after(delay));
                continue;
            }
        };
        if last_logged.take().is_some() {
            tracing::info!(url = %display_url, "the L1 tracks changed keys again");
        }
        // A reset asked for before these connections existed is not about them.
        let _ = tokio::time::timeout(Duration::ZERO, reset.notified()).await;
        listener(KeyEvent::Tracking);
        let started = Instant::now();
        let ended = watch(&store, &tracked, &mut pushes, &reset, &listener).await;
        listener(KeyEvent::Lost);
        if let Some(primaries) = &tracked.primaries {
            known = primaries.to_vec();
        }
        match ended {
            Ended::StoreGone => return,
            Ended::Moved(node) => named_by = Some(node),
            Ended::Lost => {}
        }
        delay = (started.elapsed() < SETTLED).then(|| backoff.after(delay));
    }
}

/// Hands the reports on to `listener` and checks the connections, until reports may be missed.
///
/// A check not answered within [`PAUSE_AFTER`] pauses the L1 (it serves nothing, keeps its
/// copies): the connection or Redis may be hung, or this process or the machine stalled. Replies
/// and reports come in order on a connection, so once a `PING` on every connection, sent after
/// the pause began, is answered, every report sent before it has been heard: the L1 resumes
/// with its copies. A check not answered within [`GIVE_UP_AFTER`] means reports may be missed:
/// tracking starts over.
///
/// Every [`BEAT_EVERY`] the listener is told the reports are heard on time
/// ([`KeyEvent::Heard`]; the L1 serves only shortly after the last): a beat that comes more than
/// [`STALL_AFTER`] after the one before means this process (or this task) stalled, with reports
/// perhaps queued unread: the L1 pauses as above, until a `PING` sent after it is answered.
async fn watch(
    store: &Weak<Server>,
    tracked: &Tracked,
    pushes: &mut UnboundedReceiver<PushInfo>,
    reset: &Notify,
    listener: &KeyListener,
) -> Ended {
    // An interval, not a sleep in the select: a steady stream of reports must not put the
    // checks off.
    let mut checks = tokio::time::interval(CHECK_EVERY);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    checks.reset();
    let mut beats = tokio::time::interval(BEAT_EVERY);
    beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_beat = Instant::now();
    listener(KeyEvent::Heard(last_beat));
    let mut turn = 0usize;
    // The check under way, whether it `PING`s every connection, and when it started: polled
    // beside the reports, so that a slow node holds up no other's.
    let mut in_flight: Option<(CheckFuture, bool, Instant)> = None;
    let late = tokio::time::sleep(PAUSE_AFTER);
    tokio::pin!(late);
    // Since when the L1 is paused, if it is.
    let mut paused_since: Option<Instant> = None;
    loop {
        tokio::select! {
            push = pushes.recv() => match push {
                Some(push) => {
                    if hear(push, listener).is_err() {
                        return Ended::Lost;
                    }
                }
                None => return Ended::Lost,
            },
            () = reset.notified() => return Ended::Lost,
            checked = async {
                in_flight.as_mut().expect("polled only while in flight").0.as_mut().await
            }, if in_flight.is_some() => {
                let Some((_, pinged_all, started)) = in_flight.take() else {
                    unreachable!("polled only while in flight");
                };
                // Every report sent before these answers is in the channel: heard first.
                while let Ok(push) = pushes.try_recv() {
                    if hear(push, listener).is_err() {
                        return Ended::Lost;
                    }
                }
                match checked {
                    Checked::Fine => {
                        // Only `PING`s sent after the pause began prove that nothing queued
                        // meanwhile is unheard.
                        // (The beats, not this, say the reports are heard on time: this task
                        // may have stalled since the answers came, reports unread behind them.)
                        if pinged_all && paused_since.is_some_and(|since| started >= since) {
                            paused_since = None;
                            listener(KeyEvent::Resumed);
                        }
                    }
                    Checked::Lost => return Ended::Lost,
                    Checked::Moved(named_by) => return Ended::Moved(named_by),
                }
            }
            () = &mut late, if in_flight.is_some() && paused_since.is_none() => {
                paused_since = Some(Instant::now());
                listener(KeyEvent::Paused);
            }
            _ = beats.tick() => {
                let now = Instant::now();
                if now.duration_since(last_beat) > STALL_AFTER {
                    if paused_since.is_none() {
                        paused_since = Some(now);
                        listener(KeyEvent::Paused);
                    }
                } else if paused_since.is_none() {
                    listener(KeyEvent::Heard(now));
                }
                last_beat = now;
            }
            _ = checks.tick(), if in_flight.is_none() => {
                if store.strong_count() == 0 {
                    return Ended::StoreGone;
                }
                turn = turn.wrapping_add(1);
                // Paused, only a `PING` on every connection can tell nothing was missed.
                let ping_all = paused_since.is_some() || tracked.pings_due(turn);
                let check = tracked.check(turn, ping_all);
                in_flight = Some((Box::pin(check), ping_all, Instant::now()));
                late.as_mut().reset(tokio::time::Instant::now() + PAUSE_AFTER);
            }
        }
    }
}

/// Hands a push to `listener`; `Err` for a disconnection: reports from that node may be missed
/// from now on.
fn hear(push: PushInfo, listener: &KeyListener) -> Result<(), ()> {
    match push {
        PushInfo {
            kind: PushKind::Invalidate,
            data,
        } => listener(invalidation(data)),
        PushInfo {
            kind: PushKind::Disconnection,
            ..
        } => return Err(()),
        _ => {}
    }
    Ok(())
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
