//! Batch loading: ids as `Vec<K>` or `&[K]`, between other key arguments and skipped ones,
//! returning `HashMap<K, V>` or `Result<HashMap<K, V>, E>` (a hasher of its own too), absent
//! ids stored with `cache_none`/`none_ttl`, adaptive caching, on a method; the companions take
//! one id; the futures are `Send`.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::time::Duration;

use cached_json::{cached_json, CacheError};

#[cached_json("users", ttl = 60, batch)]
async fn users(ids: Vec<u64>) -> HashMap<u64, String> {
    ids.into_iter().map(|id| (id, format!("user {id}"))).collect()
}

#[cached_json("names", ttl = 60, batch, skip(db), jitter = 5, l1_ttl = 10, version = 2)]
async fn names(
    db: &Arc<Vec<String>>,
    lang: &str,
    mut ids: &[u32],
    zone: String,
) -> Result<HashMap<u32, String>, std::io::Error> {
    ids = &ids[..ids.len().min(100)];
    Ok(ids
        .iter()
        .filter_map(|&id| Some((id, format!("{lang}/{zone}/{}", db.get(id as usize)?))))
        .collect())
}

#[cached_json("prices", ttl = 60, batch, cache_none)]
async fn prices(ids: &[String]) -> HashMap<String, u32, BuildHasherDefault<std::collections::hash_map::DefaultHasher>> {
    ids.iter().map(|id| (id.clone(), id.len() as u32)).collect()
}

fn short(stock: &Option<u32>) -> Duration {
    Duration::from_secs(if stock.is_some() { 60 } else { 5 })
}

#[cached_json("stock", ttl = 60, batch, none_ttl = 5, ttl_with = short)]
async fn stock(mut ids: Vec<u8>) -> Result<HashMap<u8, u32>, String> {
    ids.retain(|id| id % 2 == 0);
    Ok(ids.into_iter().map(|id| (id, u32::from(id))).collect())
}

fn even(value: &u32) -> bool {
    value % 2 == 0
}

#[cached_json("evens", ttl = 60, batch, cache_if = even)]
async fn evens(ids: Vec<u32>) -> HashMap<u32, u32> {
    ids.into_iter().map(|id| (id, id)).collect()
}

struct Repo {
    prefix: String,
}

impl Repo {
    #[cached_json("repo-items", ttl = 60, batch)]
    async fn items(&self, ids: &[u64]) -> HashMap<u64, String> {
        ids.iter().map(|id| (*id, format!("{}{id}", self.prefix))).collect()
    }
}

async fn companions(db: &Arc<Vec<String>>) -> Result<(), CacheError> {
    let _key: cached_json::key::Key = users_key(&7).await?;
    let _existed: bool = names_invalidate("en", &3, "eu".to_owned()).await?;
    prices_invalidate_all().await?;
    let _ = users_refresh(vec![1, 2]).await;
    let _ = names_refresh(db, "en", &[1, 2], "eu".to_owned()).await;
    Ok(())
}

fn require_send<T: Send>(_: T) {}

fn main() {
    let db = Arc::new(vec!["ana".to_owned()]);
    require_send(users(vec![1, 2, 2]));
    require_send(names(&db, "en", &[0, 1], "eu".to_owned()));
    require_send(prices(&["a".to_owned()]));
    require_send(stock(vec![1, 2]));
    require_send(evens(vec![1]));
    let repo = Repo { prefix: "r".into() };
    require_send(repo.items(&[1]));
    require_send(companions(&db));
}
