// The returned future is Send (tokio::spawn, actix handlers) when the body's is.
use cached_json::cached_json;

#[cached_json("send", ttl = 60)]
async fn fetch(id: u32, name: &str) -> Result<String, String> {
    tokio::task::yield_now().await;
    Ok(format!("{id}{name}"))
}

fn assert_send<T: Send>(_: &T) {}

fn main() {
    let future = fetch(1, "a");
    assert_send(&future);
    drop(future);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let handle = tokio::spawn(async { fetch(2, "b").await });
        assert_eq!(handle.await.unwrap().unwrap(), "2b");
    });
}
