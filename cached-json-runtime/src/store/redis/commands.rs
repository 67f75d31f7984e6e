//! The [`Store`] trait on Redis: each method as the commands it sends through
//! [`RedisStore::run`] (bounded, fed to the breaker), and what their answers mean to the call.

use std::sync::Arc;
use std::time::Duration;

use super::breaker::BreakerState;
use super::{events, RedisStore};
use crate::instruments::Command;
use crate::store::{BoxFuture, Health, KeyListener, Listener, Read, Store, StoreError};

/// What [`RedisStore::run`] sends: one command, or a pipeline (several in one round trip).
pub(super) enum Request {
    One(redis::Cmd),
    Pipeline(redis::Pipeline),
}

impl From<redis::Cmd> for Request {
    fn from(cmd: redis::Cmd) -> Self {
        Request::One(cmd)
    }
}

impl From<redis::Pipeline> for Request {
    fn from(pipe: redis::Pipeline) -> Self {
        Request::Pipeline(pipe)
    }
}

/// `name key`, built with room for both at once: on the hit path, the growing a command's
/// buffers does by default was a sizeable share of its cost.
fn key_command(name: &str, key: &str) -> redis::Cmd {
    let mut cmd = redis::Cmd::with_capacity(2, name.len() + key.len());
    cmd.arg(name).arg(key);
    cmd
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Read> {
        let cmd = key_command("GET", key);
        Box::pin(async move {
            match self
                .run::<Option<Vec<u8>>>(Command::Get, Some(key), cmd)
                .await
            {
                Ok(Some(bytes)) => Read::Value(bytes),
                Ok(None) => Read::Miss,
                // Redis answered, refusing this key (e.g. WRONGTYPE): it is healthy, and the
                // value computed now overwrites the key.
                Err(StoreError::Reply(_)) => Read::Miss,
                Err(_) => Read::Unreachable,
            }
        })
    }

    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, (Read, Option<Duration>)> {
        // One round trip: the value and its remaining life, read together.
        let mut pipe = redis::Pipeline::with_capacity(2);
        pipe.add_command(key_command("GET", key))
            .add_command(key_command("PTTL", key));
        Box::pin(async move {
            match self
                .run::<(Option<Vec<u8>>, i64)>(Command::GetWithTtl, Some(key), pipe)
                .await
            {
                Ok((Some(bytes), pttl)) => (
                    Read::Value(bytes),
                    u64::try_from(pttl).ok().map(Duration::from_millis),
                ),
                Ok((None, _)) | Err(StoreError::Reply(_)) => (Read::Miss, None),
                Err(_) => (Read::Unreachable, None),
            }
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        Box::pin(self.run(Command::Set, Some(key), cmd))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        Box::pin(async move {
            self.run::<u64>(Command::Delete, Some(key), cmd)
                .await
                .map(|n| n > 0)
        })
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(lease.as_millis().max(1) as u64);
        Box::pin(async move {
            self.run::<Option<String>>(Command::Lock, Some(key), cmd)
                .await
                .map(|ok| ok.is_some())
        })
    }

    fn unlock<'a>(&'a self, key: &'a str, token: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        // Delete only our own lock: after a lease ran out, another caller may hold it.
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
        )
        .arg(1)
        .arg(key)
        .arg(token);
        Box::pin(async move {
            self.run::<i64>(Command::Unlock, Some(key), cmd)
                .await
                .map(drop)
        })
    }

    fn extend_lock<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        // Extend only our own lock.
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end",
        )
        .arg(1)
        .arg(key)
        .arg(token)
        .arg(lease.as_millis().max(1) as u64);
        Box::pin(async move {
            self.run::<i64>(Command::ExtendLock, Some(key), cmd)
                .await
                .map(|n| n == 1)
        })
    }

    fn publish<'a>(&'a self, message: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(events::CHANNEL).arg(message);
        Box::pin(async move {
            self.run::<i64>(Command::Publish, Some(events::CHANNEL), cmd)
                .await
                .map(drop)
        })
    }

    fn listen(&self, listener: Listener) -> bool {
        let shared = &self.shared;
        shared
            .background
            .spawn(events::listen(Arc::downgrade(&shared.server), listener));
        // The subscription is `PING`ed all along: see `events`.
        true
    }

    fn track_keys(&self, prefixes: &[String], listener: KeyListener) -> bool {
        let shared = &self.shared;
        // Started with the first connection (building a cache does no I/O); one tracker per
        // store.
        shared.tracked.set((prefixes.to_vec(), listener)).is_ok()
    }

    fn health(&self) -> Health {
        match self.shared.breaker.state() {
            BreakerState::Closed => Health::Up,
            BreakerState::Connecting => Health::Connecting,
            BreakerState::Suspect | BreakerState::Open => Health::Down,
        }
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
