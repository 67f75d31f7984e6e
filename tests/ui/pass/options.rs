// Every option: skip, version, returns (type aliases), cache_none.
use cached_json::cached_json;

pub struct Pool;
pub type ApiResult<T> = Result<T, String>;
pub type Maybe<T> = Option<T>;

#[cached_json("skip", ttl = 60, skip(pool))]
async fn skipped(pool: &Pool, id: u32) -> u32 {
    let _ = pool;
    id
}

#[cached_json("io", ttl = 60, version = 2)]
async fn io_result(name: String) -> std::io::Result<String> {
    Ok(name)
}

#[cached_json("alias", ttl = 60, returns = result)]
async fn aliased(id: u32) -> ApiResult<u32> {
    Ok(id)
}

#[cached_json("maybe", ttl = 60, returns = option, cache_none)]
async fn maybe(id: u32) -> Maybe<u32> {
    (id > 1).then_some(id)
}

#[cached_json("whole", ttl = 60, returns = value)]
async fn whole_result(id: u32) -> Result<u32, u32> {
    Err(id)
}

fn main() {
    cached_json::Cache::builder().memory(1 << 20).build().unwrap().install().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        assert_eq!(skipped(&Pool, 3).await, 3);
        assert_eq!(io_result("a".into()).await.unwrap(), "a");
        assert_eq!(aliased(4).await, Ok(4));
        assert_eq!(maybe(1).await, None);
        assert_eq!(whole_result(5).await, Err(5));
    });
}
