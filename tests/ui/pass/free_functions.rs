// Free functions: Result, Option and plain returns, visibility, borrowed arguments.
use cached_json::{cached_json, observe, Cache, CacheOutcome};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalInfo {
    name: String,
}

#[derive(Debug)]
pub struct AppError;

#[derive(Serialize)]
pub struct Filter {
    city: String,
}

#[cached_json("local-info", ttl = 86400)]
pub async fn local_info(location_name: &str) -> Result<LocalInfo, AppError> {
    Ok(LocalInfo { name: location_name.to_owned() })
}

#[cached_json("find", ttl = 60)]
pub(crate) async fn find(id: u64, filter: &Filter, tags: &[String]) -> Option<Vec<String>> {
    Some(vec![format!("{id} {} {}", filter.city, tags.len())])
}

#[cached_json("plain", ttl = 1)]
async fn plain<'a>(a: &'a str, b: &'a str, mut count: u32) -> String {
    count += 1;
    format!("{a}{b}{count}")
}

#[cached_json("unit-arg", ttl = 5)]
async fn no_arguments() -> Vec<u8> {
    vec![1, 2, 3]
}

fn main() {
    Cache::builder().memory(1 << 20).build().unwrap().install().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (info, outcome) = observe(local_info("Recife")).await;
        assert_eq!((info.unwrap().name.as_str(), outcome), ("Recife", Some(CacheOutcome::Miss)));
        let (_, outcome) = observe(local_info("Recife")).await;
        assert_eq!(outcome, Some(CacheOutcome::Hit));
        let filter = Filter { city: "Natal".into() };
        assert_eq!(find(1, &filter, &[]).await, Some(vec!["1 Natal 0".to_owned()]));
        assert_eq!(plain("a", "b", 1).await, "ab2");
        assert_eq!(no_arguments().await, vec![1, 2, 3]);
    });
}
