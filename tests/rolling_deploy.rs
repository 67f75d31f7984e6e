//! Two builds of one app sharing one Redis during a rolling deploy, against a real Redis: the
//! cached type changed shape (a field renamed, a field added) and nobody bumped `version`.
//! Each build reads the other's entry as JSON of another shape; before, it overwrote it, and
//! the two builds took turns overwriting each other: every call a miss, the origin at full
//! load for as long as the deploy lasted. Now the build that cannot read the entry keeps its
//! own value beside it (`<key>:alt`), and each build computes each key once.
//!
//! Two modules stand for the two builds (the same prefix and key arguments, the type changed),
//! each called through a cache of its own (two instances).

use std::sync::Mutex;

use cached_json::{observe, Cache, CacheOutcome};
use cached_json_test_support::RedisServer;

/// Each origin run: the build, and the id (each test uses ids of its own: tests run at once).
static RUNS: Mutex<Vec<(&str, u64)>> = Mutex::new(Vec::new());

fn ran(build: &'static str, id: u64) {
    RUNS.lock().unwrap().push((build, id));
}

/// How many times `build` computed an id of `ids`.
fn runs(build: &str, ids: std::ops::Range<u64>) -> usize {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|(which, id)| *which == build && ids.contains(id))
        .count()
}

/// The build before the deploy.
mod v1 {
    use cached_json::cached_json;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct Profile {
        pub id: u64,
        pub name: String,
    }

    #[cached_json("deploy-profile", ttl = 600)]
    pub async fn profile(id: u64) -> Profile {
        super::ran("v1", id);
        Profile {
            id,
            name: format!("user {id}"),
        }
    }
}

/// The build being deployed: `name` renamed `full_name`.
mod v2 {
    use cached_json::cached_json;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct Profile {
        pub id: u64,
        pub full_name: String,
    }

    #[cached_json("deploy-profile", ttl = 600)]
    pub async fn profile(id: u64) -> Profile {
        super::ran("v2", id);
        Profile {
            id,
            full_name: format!("user {id}"),
        }
    }
}

/// Another deploy: a field added (`v1` reads its entries, ignoring the field; it cannot read
/// `v1`'s, which lack it). This one did not loop before either (the new build overwrote the
/// old one's entries once, and the old build read the new shape): its test checks that the
/// second entry keeps it so.
mod v3 {
    use cached_json::cached_json;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct Profile {
        pub id: u64,
        pub name: String,
        pub email: String,
    }

    #[cached_json("deploy-profile", ttl = 600)]
    pub async fn profile(id: u64) -> Profile {
        super::ran("v3", id);
        Profile {
            id,
            name: format!("user {id}"),
            email: format!("{id}@example.com"),
        }
    }
}

fn instance(server: &RedisServer, namespace: &str) -> Cache {
    Cache::builder()
        .redis_url(server.url())
        .namespace(namespace)
        .build()
        .unwrap()
}

const IDS: u64 = 20;
const ROUNDS: u64 = 20;

#[tokio::test]
async fn two_builds_with_a_field_renamed_compute_each_key_once_not_in_turns() {
    let server = RedisServer::start();
    let (old, new) = (instance(&server, "deploy"), instance(&server, "deploy"));
    let mut hits = [0u64; 2];
    for _ in 0..ROUNDS {
        for id in 0..IDS {
            let (value, was) = old.scope(observe(v1::profile(id))).await;
            assert_eq!(value.name, format!("user {id}"));
            hits[0] += u64::from(was == Some(CacheOutcome::Hit));
            let (value, was) = new.scope(observe(v2::profile(id))).await;
            assert_eq!(value.full_name, format!("user {id}"));
            hits[1] += u64::from(was == Some(CacheOutcome::Hit));
        }
    }
    let computed = (runs("v1", 0..IDS), runs("v2", 0..IDS));
    println!(
        "rolling deploy (a field renamed): {} calls per build over {IDS} keys; origin runs: \
         old build {}, new build {}; hits: old {}, new {}",
        IDS * ROUNDS,
        computed.0,
        computed.1,
        hits[0],
        hits[1]
    );
    // Each build computes each key once (the ideal), and hits from then on.
    assert_eq!(computed, (IDS as usize, IDS as usize));
    assert_eq!(hits, [IDS * (ROUNDS - 1); 2]);
    // The old build's entries stayed in place; the new build's values are beside them.
    assert_eq!(
        server.keys("deploy:deploy-profile:*:alt").len(),
        IDS as usize
    );

    // An invalidation by either build removes both values.
    assert!(new.scope(v2::profile_invalidate(3)).await.unwrap());
    assert_eq!(
        server.keys("deploy:deploy-profile:*").len(),
        2 * IDS as usize - 2
    );
    let (_, was) = old.scope(observe(v1::profile(3))).await;
    assert_eq!(was, Some(CacheOutcome::Miss));
    let (_, was) = new.scope(observe(v2::profile(3))).await;
    assert_eq!(was, Some(CacheOutcome::Miss));
}

#[tokio::test]
async fn a_field_added_costs_the_new_build_one_computation_per_key_and_the_old_none() {
    let server = RedisServer::start();
    let (old, new) = (instance(&server, "added"), instance(&server, "added"));
    let ids = 100..100 + IDS;
    for id in ids.clone() {
        old.scope(v1::profile(id)).await;
    }
    for _ in 0..ROUNDS {
        for id in ids.clone() {
            let (value, _) = new.scope(observe(v3::profile(id))).await;
            assert_eq!(value.email, format!("{id}@example.com"));
            let (value, was) = old.scope(observe(v1::profile(id))).await;
            assert_eq!(
                (value.name, was),
                (format!("user {id}"), Some(CacheOutcome::Hit))
            );
        }
    }
    assert_eq!(
        runs("v1", ids.clone()),
        IDS as usize,
        "the old build kept hitting"
    );
    assert_eq!(runs("v3", ids), IDS as usize, "the new build: once per key");
}
