// The return mode follows the real type, not its spelling: behind aliases, `Err` and `None`
// are still never cached.
use std::sync::atomic::{AtomicU32, Ordering};

use cached_json::{cached_json, observe, Cache, CacheOutcome};

#[derive(Debug, PartialEq)]
pub struct MyError;

type ApiResult<T> = Result<T, MyError>;
type Maybe<T> = Option<T>;
mod io_like {
    pub type Result<T> = std::result::Result<T, super::MyError>;
}

static RUNS: AtomicU32 = AtomicU32::new(0);

#[cached_json("alias-result", ttl = 60)]
async fn alias_result(fail: bool) -> ApiResult<u32> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    if fail { Err(MyError) } else { Ok(7) }
}

#[cached_json("alias-option", ttl = 60)]
async fn alias_option(some: bool) -> Maybe<u32> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    some.then_some(8)
}

#[cached_json("module-result", ttl = 60)]
async fn module_result(fail: bool) -> io_like::Result<u32> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    if fail { Err(MyError) } else { Ok(9) }
}

fn main() {
    let cache = Cache::builder().memory(1 << 20).build().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(cache.scope(async {
        for _ in 0..2 {
            assert_eq!(observe(alias_result(true)).await, (Err(MyError), Some(CacheOutcome::Miss)));
            assert_eq!(observe(alias_option(false)).await, (None, Some(CacheOutcome::Miss)));
            assert_eq!(observe(module_result(true)).await, (Err(MyError), Some(CacheOutcome::Miss)));
        }
        assert_eq!(RUNS.load(Ordering::SeqCst), 6, "errors and None ran every time");
        assert_eq!(observe(alias_result(false)).await.1, Some(CacheOutcome::Miss));
        assert_eq!(observe(alias_result(false)).await, (Ok(7), Some(CacheOutcome::Hit)));
        assert_eq!(observe(alias_option(true)).await.1, Some(CacheOutcome::Miss));
        assert_eq!(observe(alias_option(true)).await, (Some(8), Some(CacheOutcome::Hit)));
    }));
}
