use std::collections::HashMap;

use cached_json::cached_json;

// No list of ids.
#[cached_json("no-list", ttl = 60, batch)]
async fn no_list(id: u64) -> HashMap<u64, u64> {
    HashMap::from([(id, id)])
}

// Two lists: which holds the ids?
#[cached_json("two-lists", ttl = 60, batch)]
async fn two_lists(ids: Vec<u64>, fields: &[String]) -> HashMap<u64, usize> {
    ids.into_iter().map(|id| (id, fields.len())).collect()
}

// Not a map of the ids' values.
#[cached_json("not-a-map", ttl = 60, batch)]
async fn not_a_map(ids: Vec<u64>) -> Vec<u64> {
    ids
}

// Options that work one key at a time.
#[cached_json("one-at-a-time", ttl = 60, batch, returns = value, refresh_ahead = 0.5, tags("t"))]
async fn one_at_a_time(ids: Vec<u64>) -> HashMap<u64, u64> {
    ids.into_iter().map(|id| (id, id)).collect()
}

struct Counter(u64);

impl Counter {
    // The body may run twice: no `&mut self`.
    #[cached_json("counted", ttl = 60, batch)]
    async fn counted(&mut self, ids: Vec<u64>) -> HashMap<u64, u64> {
        self.0 += 1;
        ids.into_iter().map(|id| (id, id)).collect()
    }
}

struct Connection;

// Each run gets a copy of the other arguments: they must be `Clone`.
#[cached_json("not-clone", ttl = 60, batch, skip(connection))]
async fn not_clone(connection: Connection, ids: Vec<u64>) -> HashMap<u64, u64> {
    let _ = connection;
    ids.into_iter().map(|id| (id, id)).collect()
}

fn main() {}
