//! Tags: fixed, from key arguments of every kind (raw identifiers included), on functions and
//! methods, with other options; `invalidate_tag` from the facade and on a `Cache`.

use cached_json::{cached_json, invalidate_tag, Cache, CacheError};

#[cached_json("catalog-product", ttl = 60, tags("catalog", "seller:{seller_id}", "{{literal}}"))]
async fn product(seller_id: u64, id: &str) -> Option<String> {
    Some(format!("{seller_id}/{id}"))
}

#[cached_json("typed", ttl = 60, tags("kind:{r#type}"), lock, stale = 10, jitter = 1)]
async fn typed(r#type: &str) -> Result<u32, String> {
    Ok(r#type.len() as u32)
}

struct Repo;

impl Repo {
    #[cached_json("repo-item", ttl = 60, tags("owner:{owner}"), jitter = 5)]
    async fn item(&self, owner: String, id: u32) -> u32 {
        owner.len() as u32 + id
    }
}

async fn invalidations(cache: &Cache) -> Result<(), CacheError> {
    invalidate_tag("seller:42").await?;
    cache.invalidate_tag("catalog").await?;
    Ok(())
}

fn main() {
    let _ = product(1, "a");
    let _ = typed("x");
    let _ = Repo.item("ana".into(), 1);
    let _ = invalidations;
}
