//! The [`Store`] trait on Redis: each method as the commands it sends through
//! [`RedisStore::run`] (bounded, fed to the breaker), and what their answers mean to the call.

use std::sync::Arc;
use std::time::Duration;

use super::breaker::BreakerState;
use super::events;
use super::mget::by_slot;
use super::store::{key_command, RedisStore};
use crate::instruments::Command;
use crate::store::{BoxFuture, Health, KeyListener, Listener, Read, Store, StoreError, TaggedRead};

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

    fn get_tagged<'a>(
        &'a self,
        key: &'a str,
        tags: &'a [String],
        with_ttl: bool,
    ) -> BoxFuture<'a, TaggedRead> {
        Box::pin(async move {
            if self.shared.reach.server.backend.is_cluster() {
                // The records live in other slots: read them beside the entry, at once (one
                // round trip's wait, on as many primaries as it takes).
                let records = crate::join::all(tags.iter().map(|tag| {
                    Box::pin(async move {
                        self.run::<Option<String>>(
                            Command::GetTagged,
                            Some(tag),
                            key_command("GET", tag),
                        )
                        .await
                    }) as BoxFuture<'a, _>
                }));
                let entry = async {
                    match with_ttl {
                        true => self.get_with_ttl(key).await,
                        false => (self.get(key).await, None),
                    }
                };
                let (entry, records) = tokio::join!(entry, records);
                let tokens = records
                    .into_iter()
                    .map(|record: Result<Option<String>, StoreError>| {
                        record.and_then(|record| token(record.as_deref().map(str::as_bytes)))
                    })
                    .collect();
                return (entry.0, entry.1, tokens);
            }
            // One server: one command, `MGET key record...` (the entry and its records, as
            // cheap for Redis as the `GET` of an untagged hit), with `PTTL key` in the same
            // round trip when the entry's life is wanted.
            let mut mget = redis::Cmd::with_capacity(
                2 + tags.len(),
                4 + key.len() + tags.iter().map(String::len).sum::<usize>(),
            );
            mget.arg("MGET").arg(key).arg(tags);
            let answer = match with_ttl {
                true => {
                    let mut pipe = redis::Pipeline::with_capacity(2);
                    pipe.add_command(mget).add_command(key_command("PTTL", key));
                    self.run::<(Vec<Option<Vec<u8>>>, i64)>(Command::GetTagged, Some(key), pipe)
                        .await
                        .map(|(values, pttl)| (values, u64::try_from(pttl).ok()))
                }
                false => self
                    .run::<Vec<Option<Vec<u8>>>>(Command::GetTagged, Some(key), mget)
                    .await
                    .map(|values| (values, None)),
            };
            match answer {
                Ok((values, pttl)) if values.len() == 1 + tags.len() => {
                    let mut values = values.into_iter();
                    let entry = values.next().flatten();
                    let tokens = values.map(|record| token(record.as_deref())).collect();
                    match entry {
                        Some(bytes) => {
                            (Read::Value(bytes), pttl.map(Duration::from_millis), tokens)
                        }
                        None => (Read::Miss, None, tokens),
                    }
                }
                Ok(_) => {
                    let err = StoreError::Reply("MGET answered another number of values".into());
                    (Read::Unreachable, None, Err(err))
                }
                Err(err) => (Read::Unreachable, None, Err(err)),
            }
        })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
        with_ttl: bool,
    ) -> BoxFuture<'a, Vec<(Read, Option<Duration>)>> {
        Box::pin(async move {
            // One `MGET` for all (a Cluster's command may only name keys of one slot: one per
            // slot there, all at once).
            let groups = match self.shared.reach.server.backend.is_cluster() {
                true => by_slot(keys),
                false => vec![(0..keys.len()).collect()],
            };
            let answers =
                crate::join::all(groups.iter().map(|group| self.mget(keys, group, with_ttl))).await;
            let mut reads: Vec<(Read, Option<Duration>)> =
                keys.iter().map(|_| (Read::Unreachable, None)).collect();
            for (group, answer) in groups.iter().zip(answers) {
                for (&index, read) in group.iter().zip(answer) {
                    reads[index] = read;
                }
            }
            reads
        })
    }

    fn keep_tags<'a>(
        &'a self,
        tags: &'a [String],
        life: Duration,
    ) -> BoxFuture<'a, Result<Vec<u64>, StoreError>> {
        let life = life.as_millis().max(1) as u64;
        Box::pin(async move {
            if self.shared.reach.server.backend.is_cluster() {
                let kept = crate::join::all(tags.iter().map(|tag| {
                    Box::pin(async move {
                        self.run::<Vec<Option<String>>>(
                            Command::KeepTags,
                            Some(tag),
                            keep_tags_script(std::slice::from_ref(tag), life),
                        )
                        .await
                    }) as BoxFuture<'a, _>
                }));
                let mut tokens = Vec::with_capacity(tags.len());
                for kept in kept.await {
                    let kept: Vec<Option<String>> = kept?;
                    tokens.push(token(
                        kept.first().and_then(Option::as_deref).map(str::as_bytes),
                    )?);
                }
                return Ok(tokens);
            }
            let first = tags.first().map(String::as_str);
            let kept = self
                .run::<Vec<Option<String>>>(Command::KeepTags, first, keep_tags_script(tags, life))
                .await?;
            kept.iter()
                .map(|kept| token(kept.as_deref().map(str::as_bytes)))
                .collect()
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
        shared.background.spawn(events::listen(
            Arc::downgrade(&shared.reach.server),
            listener,
        ));
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
        match self.shared.reach.breaker.state() {
            BreakerState::Closed => Health::Up,
            BreakerState::Connecting => Health::Connecting,
            BreakerState::Suspect | BreakerState::Open => Health::Down,
        }
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

/// Keeps the tag records `tags` (see [`Store::keep_tags`]) for `life` milliseconds: a record
/// that does not exist is made with a new random token and twice that life; one with less than
/// `life` left is given twice `life` again (so that a record is extended at most once per
/// `life`: each extension is a change the L1s hear). Answers the tokens. One script, so that no
/// other client sees a record made and not yet extended, and all keys of one server in one
/// round trip (on a Cluster, one key per script: the records are in different slots).
fn keep_tags_script(tags: &[String], life: u64) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(
        "local life = tonumber(ARGV[1]) \
         local tokens = {} \
         for i, key in ipairs(KEYS) do \
           redis.call('SET', key, ARGV[i + 1], 'NX', 'PX', 2 * life) \
           local left = redis.call('PTTL', key) \
           if left >= 0 and left < life then redis.call('PEXPIRE', key, 2 * life) end \
           tokens[i] = redis.call('GET', key) \
         end \
         return tokens",
    )
    .arg(tags.len())
    .arg(tags)
    .arg(life);
    for _ in tags {
        cmd.arg(crate::store::tag_record::new_token());
    }
    cmd
}

/// A tag record's token: `0` for one that does not exist; a record holding anything but a
/// token (written by someone else) is refused.
fn token(record: Option<&[u8]>) -> Result<u64, StoreError> {
    match record {
        None => Ok(0),
        Some(text) => crate::store::tag_record::parse_token(text).ok_or_else(|| {
            let text = String::from_utf8_lossy(&text[..text.len().min(32)]);
            StoreError::Reply(format!("a tag record holds `{text}`, not a token"))
        }),
    }
}
