// The companions of a cached function, typed by its own key arguments: the key of a call, its
// invalidation, a refresh, invalidating every entry, and the call answering with its stored JSON
// (`f_json`, in the shape of the output); for free functions, methods (where `self` is never in
// the key), generic impls and trait methods.
use std::sync::atomic::{AtomicU32, Ordering};

use cached_json::{cached_json, observe, Cache, CacheOutcome, Entry};

static RUNS: AtomicU32 = AtomicU32::new(0);

pub struct Pool;

#[cached_json("users", ttl = 60, skip(pool), stale = 60)]
pub async fn user_name(pool: &Pool, id: u64, region: &str) -> Option<String> {
    let _ = pool;
    RUNS.fetch_add(1, Ordering::SeqCst);
    Some(format!("user {id} in {region}"))
}

pub struct Weather;

impl Weather {
    #[cached_json("forecast", ttl = 60)]
    pub async fn forecast(&self, city: &str, days: u8) -> Result<Vec<f32>, String> {
        Ok(vec![25.0; usize::from(days) + city.len() * 0])
    }
}

pub struct Repo<T>(std::marker::PhantomData<T>);

impl<T: 'static> Repo<T> {
    #[cached_json("repo", ttl = 60)]
    async fn get(&self, id: u32) -> String {
        format!("{}#{id}", std::any::type_name::<T>())
    }
}

pub trait Named {
    #[cached_json("named", ttl = 60)]
    async fn named(&self, id: u32) -> String {
        format!("name {id}")
    }
}

impl Named for Weather {}

fn main() {
    let cache = Cache::builder().memory(1 << 20).build().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(cache.scope(async {
        let key = user_name_key(7, "br").await.unwrap();
        assert!(key.as_str().starts_with("users:"), "{key}");
        assert_eq!(observe(user_name(&Pool, 7, "br")).await.1, Some(CacheOutcome::Miss));
        assert_eq!(observe(user_name(&Pool, 7, "br")).await.1, Some(CacheOutcome::Hit));
        // A refresh runs the body though the value is cached.
        assert_eq!(user_name_refresh(&Pool, 7, "br").await, Some("user 7 in br".into()));
        assert_eq!(RUNS.load(Ordering::SeqCst), 2);
        assert!(user_name_invalidate(7, "br").await.unwrap());
        assert!(!user_name_invalidate(7, "br").await.unwrap());
        assert_eq!(observe(user_name(&Pool, 7, "br")).await.1, Some(CacheOutcome::Miss));
        user_name_invalidate_all().await.unwrap();
        assert_eq!(observe(user_name(&Pool, 7, "br")).await.1, Some(CacheOutcome::Miss));
        assert_ne!(user_name_key(7, "br").await.unwrap(), key);
        // The JSON companion: the same call, answering with the stored JSON, `Option` as `f`.
        let entry: Option<Entry> = user_name_json(&Pool, 7, "br").await;
        let entry = entry.expect("Some");
        assert_eq!(&entry.json()[..], br#""user 7 in br""#);
        assert_eq!(entry.outcome(), CacheOutcome::Hit);

        let weather = Weather;
        assert_eq!(weather.forecast("Natal", 2).await, Ok(vec![25.0, 25.0]));
        assert!(Weather::forecast_invalidate("Natal", 2).await.unwrap());
        assert_eq!(weather.forecast_refresh("Natal", 3).await.unwrap().len(), 3);
        Weather::forecast_invalidate_all().await.unwrap();
        let entry: Result<Entry, String> = weather.forecast_json("Natal", 3).await;
        assert_eq!(&entry.unwrap().json()[..], b"[25.0,25.0,25.0]");

        let repo = Repo::<u8>(Default::default());
        assert_eq!(repo.get(1).await, "u8#1");
        assert!(Repo::<u8>::get_invalidate(1).await.unwrap());
        assert!(!Repo::<u16>::get_invalidate(1).await.unwrap(), "another instantiation's key");
        let entry: Entry = repo.get_json(1).await;
        assert_eq!(&entry.json()[..], br#""u8#1""#);

        assert_eq!(weather.named(4).await, "name 4");
        assert!(<Weather as Named>::named_invalidate(4).await.unwrap());
        assert_eq!(&weather.named_json(4).await.json()[..], br#""name 4""#);
    }));
}
