// `f_json`'s output follows `f`'s: `Result<Entry, E>` (also for an `io::Result`-like alias named
// `Result`, and with `returns = result`), `Option<Entry>` (also with `cache_none`), `Entry`
// otherwise; behind an alias the attribute cannot read, an `Err` is an entry with no JSON.
use cached_json::{cached_json, Cache, CacheOutcome, Entry};

type ApiResult<T> = Result<T, String>;

#[cached_json("io", ttl = 60)]
async fn io_result(name: String) -> std::io::Result<String> {
    Ok(name)
}

#[cached_json("alias", ttl = 60, returns = result)]
async fn aliased(id: u32) -> ApiResult<u32> {
    Ok(id)
}

#[cached_json("unread-alias", ttl = 60)]
async fn unread(fail: bool) -> ApiResult<u32> {
    if fail { Err("no".into()) } else { Ok(1) }
}

#[cached_json("none", ttl = 60, cache_none)]
async fn none(id: u32) -> Option<u32> {
    (id > 1).then_some(id)
}

#[cached_json("plain", ttl = 60)]
async fn plain(id: u32) -> Vec<u32> {
    vec![id; 2]
}

fn main() {
    let cache = Cache::builder().memory(1 << 20).build().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(cache.scope(async {
        let io: Result<Entry, std::io::Error> = io_result_json("a".into()).await;
        assert_eq!(&io.unwrap().json()[..], br#""a""#);
        let aliased: Result<Entry, String> = aliased_json(3).await;
        assert_eq!(&aliased.unwrap().json()[..], b"3");
        let unread_ok: Entry = unread_json(false).await;
        assert_eq!(&unread_ok.json()[..], b"1");
        let unread_err: Entry = unread_json(true).await;
        assert!(unread_err.json().is_empty() && !unread_err.is_cached());
        for _ in 0..2 {
            let nothing: Option<Entry> = none_json(1).await;
            assert!(nothing.is_none());
        }
        let some: Option<Entry> = none_json(2).await;
        assert_eq!(&some.unwrap().json()[..], b"2");
        let miss: Entry = plain_json(4).await;
        assert_eq!((miss.outcome(), &miss.json()[..]), (CacheOutcome::Miss, &b"[4,4]"[..]));
        let hit: Entry = plain_json(4).await;
        assert_eq!((hit.outcome(), &hit.json()[..]), (CacheOutcome::Hit, &b"[4,4]"[..]));
    }));
}
