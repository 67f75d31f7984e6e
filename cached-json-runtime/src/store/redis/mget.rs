//! Many keys read at once ([`Store::get_many`](crate::store::Store::get_many)): one `MGET` (with
//! each key's `PTTL` in the same round trip when their lives are wanted); on a Cluster, one per
//! slot.

use std::time::Duration;

use super::store::{key_command, RedisStore};
use crate::instruments::Command;
use crate::store::{Read, StoreError};

impl RedisStore {
    /// `MGET` of the keys of `keys` at `indices` (one slot's, on a Cluster), with each one's
    /// `PTTL` in the same round trip when `with_ttl`.
    pub(super) async fn mget(
        &self,
        keys: &[&str],
        indices: &[usize],
        with_ttl: bool,
    ) -> Vec<(Read, Option<Duration>)> {
        let group: Vec<&str> = indices.iter().map(|&index| keys[index]).collect();
        let mut mget = redis::Cmd::with_capacity(
            1 + group.len(),
            4 + group.iter().map(|key| key.len()).sum::<usize>(),
        );
        mget.arg("MGET").arg(&group[..]);
        let first = group.first().copied();
        let answer = match with_ttl {
            false => self
                .run::<Values>(Command::GetMany, first, mget)
                .await
                .map(|values| (values, Vec::new())),
            true => {
                let mut pipe = redis::Pipeline::with_capacity(1 + group.len());
                pipe.add_command(mget);
                for key in &group {
                    pipe.add_command(key_command("PTTL", key));
                }
                self.run::<Vec<redis::Value>>(Command::GetMany, first, pipe)
                    .await
                    .and_then(values_and_lives)
            }
        };
        match answer {
            Ok((values, lives)) if values.len() == group.len() => values
                .into_iter()
                .enumerate()
                .map(|(at, value)| match value {
                    Some(bytes) => (Read::Value(bytes), lives.get(at).copied().flatten()),
                    None => (Read::Miss, None),
                })
                .collect(),
            // Redis answered, refusing the command: nothing usable, and it is reachable.
            Err(StoreError::Reply(_)) => group.iter().map(|_| (Read::Miss, None)).collect(),
            _ => group.iter().map(|_| (Read::Unreachable, None)).collect(),
        }
    }
}

/// What `MGET` answers: each key's value, if it has one.
type Values = Vec<Option<Vec<u8>>>;

/// The answers of `MGET key...` then `PTTL key` for each: the values, and each one's remaining
/// life (`None` for a key without one).
fn values_and_lives(
    answers: Vec<redis::Value>,
) -> Result<(Values, Vec<Option<Duration>>), StoreError> {
    let malformed = |_| StoreError::Reply("MGET and PTTL answered unexpected values".into());
    let mut answers = answers.into_iter();
    let values = answers.next().ok_or_else(|| malformed(()))?;
    let values =
        redis::from_redis_value::<Vec<Option<Vec<u8>>>>(values).map_err(|_| malformed(()))?;
    let lives = answers
        .map(|pttl| {
            let pttl = redis::from_redis_value::<i64>(pttl).map_err(|_| malformed(()))?;
            Ok(u64::try_from(pttl).ok().map(Duration::from_millis))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((values, lives))
}

/// The indices of `keys` grouped by their Cluster slot, in the order each slot first appears.
pub(super) fn by_slot(keys: &[&str]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let slot = super::cluster::shards::slot_of(key.as_bytes());
        match groups.iter_mut().find(|(of, _)| *of == slot) {
            Some((_, group)) => group.push(index),
            None => groups.push((slot, vec![index])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}
