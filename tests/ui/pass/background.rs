// Functions that can run detached from their caller (refresh_ahead, timeout_ms): references
// to `Clone` types are copied, owned arguments moved, `self: Arc<Self>` kept; and `timeout_ms`
// on a signature that cannot be detached still compiles (it cancels at the soft timeout).
use std::sync::Arc;

use cached_json::cached_json;

#[derive(Clone)]
pub struct Client {
    base: String,
}

#[cached_json("refreshed", ttl = 60, refresh_ahead = 0.8, skip(client))]
async fn refreshed(client: &Client, city: &str, mut days: Vec<u8>, limit: u32) -> Option<String> {
    days.push(1);
    Some(format!("{}{city}{days:?}{limit}", client.base))
}

#[cached_json("completed", ttl = 60, stale = 60, timeout_ms = 100, hard_timeout_ms = 5000)]
async fn completed(path: &std::path::Path, ids: &[u32]) -> Result<usize, String> {
    Ok(path.as_os_str().len() + ids.len())
}

pub struct Service {
    name: String,
}

impl Service {
    #[cached_json("service", ttl = 60, refresh_ahead = 0.5)]
    async fn describe(self: Arc<Self>, id: u32) -> String {
        format!("{} {id}", self.name)
    }

    // `&self` cannot be copied: with `timeout_ms` alone the body is cancelled at the soft
    // timeout, as it always was.
    #[cached_json("borrowing", ttl = 60, stale = 60, timeout_ms = 100)]
    async fn borrowing(&self, id: u32) -> Result<String, String> {
        Ok(format!("{} {id}", self.name))
    }
}

fn main() {
    cached_json::Cache::builder().memory(1 << 20).build().unwrap().install().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = Client { base: "b:".into() };
        assert_eq!(refreshed(&client, "x", vec![0], 2).await, Some("b:x[0, 1]2".into()));
        assert_eq!(completed(std::path::Path::new("ab"), &[1, 2]).await, Ok(4));
        let service = Arc::new(Service { name: "s".into() });
        assert_eq!(service.clone().describe(3).await, "s 3");
        assert_eq!(service.borrowing(4).await, Ok("s 4".into()));
    });
}
