//! A least-privilege ACL user: the cache works with exactly the rule the README documents, and
//! needs nothing more. The rule is read from docs/production-redis.md, so that the documentation and this
//! test cannot drift apart; Redis's `ACL LOG` tells whether any command or key was refused.

use std::time::Duration;

use cached_json::{cached_json, observe, Cache, CacheOutcome};
use cached_json_test_support::{documented_acl_rule, RedisServer};

const NAMESPACE: &str = "acl-app";
const PASSWORD: &str = "s3cret-acl-pass";

#[cached_json("acl-plain", ttl = 60)]
async fn plain(n: u32) -> u32 {
    n * 2
}

// Locked, with a body longer than its lease: the lease is taken, extended and released.
#[cached_json("acl-locked", ttl = 60, lock, lock_lease_ms = 300)]
async fn locked(n: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(450)).await;
    n + 1
}

// `fail` is left out of the key: the failing call finds the stale copy of the good one.
#[cached_json("acl-stale", ttl = 1, stale = 60, skip(fail))]
async fn flaky(fail: bool) -> Result<u32, String> {
    if fail {
        Err("origin down".into())
    } else {
        Ok(5)
    }
}

#[cached_json("acl-hot", ttl = 2, refresh_ahead = 0.5)]
async fn hot(n: u32) -> u32 {
    n
}

#[cached_json("acl-tagged", ttl = 60, tags("acl-tag:{n}"))]
async fn tagged(n: u32) -> u32 {
    n * 3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_acl_rule_is_all_the_cache_needs() {
    let server = RedisServer::start();
    let mut admin = server.connection();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("cached-json")
        .arg(documented_acl_rule(false, NAMESPACE, PASSWORD))
        .query(&mut admin)
        .expect("the README's rule is valid ACL syntax");
    let _: () = redis::cmd("ACL")
        .arg("LOG")
        .arg("RESET")
        .query(&mut admin)
        .unwrap();

    let cache = Cache::builder()
        .redis_url(format!(
            "redis://cached-json:{PASSWORD}@127.0.0.1:{}/0",
            server.port()
        ))
        .namespace(NAMESPACE)
        .build()
        .unwrap();
    // The other cache keeps an L1 (a RESP3 connection with CLIENT TRACKING on the namespace).
    let other = Cache::builder()
        .redis_url(format!(
            "redis://cached-json:{PASSWORD}@127.0.0.1:{}/0",
            server.port()
        ))
        .namespace(NAMESPACE)
        .l1(1 << 20)
        .build()
        .unwrap();
    cache
        .scope(async {
            // Miss, hit, delete, invalidate every entry (published to the other cache).
            assert_eq!(observe(plain(1)).await, (2, Some(CacheOutcome::Miss)));
            assert_eq!(observe(plain(1)).await, (2, Some(CacheOutcome::Hit)));
            assert!(plain_invalidate(1).await.unwrap());
            assert_eq!(observe(plain(1)).await.1, Some(CacheOutcome::Miss));
            assert_eq!(
                other.scope(observe(plain(1))).await.1,
                Some(CacheOutcome::Hit)
            );
            // The other cache's L1 tracks the namespace: it serves a copy, until the delete.
            let mut copied = false;
            for _ in 0..100 {
                if other.scope(observe(plain(1))).await.1 == Some(CacheOutcome::HitL1) {
                    copied = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(copied, "the other cache never served from its L1");
            plain_invalidate_all().await.unwrap();
            assert_eq!(observe(plain(1)).await.1, Some(CacheOutcome::Miss));
            // The other cache heard of it over pub/sub.
            let mut heard = false;
            for _ in 0..100 {
                if let Some(CacheOutcome::Hit | CacheOutcome::HitL1) =
                    other.scope(observe(plain(1))).await.1
                {
                    heard = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(
                heard,
                "the other cache never found the new generation's entry"
            );

            // The lock: taken, extended past its lease, released; the value stored.
            assert_eq!(observe(locked(1)).await, (2, Some(CacheOutcome::Miss)));
            assert_eq!(observe(locked(1)).await.1, Some(CacheOutcome::Hit));

            // The stale copy, written and read.
            assert_eq!(flaky(false).await, Ok(5));
            tokio::time::sleep(Duration::from_millis(1100)).await;
            assert_eq!(
                observe(flaky(true)).await,
                (Ok(5), Some(CacheOutcome::Stale))
            );

            // Tags: the records kept (EVAL), read with the entry (MGET), deleted.
            assert_eq!(observe(tagged(2)).await, (6, Some(CacheOutcome::Miss)));
            assert_eq!(observe(tagged(2)).await.1, Some(CacheOutcome::Hit));
            cached_json::invalidate_tag("acl-tag:2").await.unwrap();
            assert_eq!(observe(tagged(2)).await.1, Some(CacheOutcome::Miss));

            // refresh_ahead reads the entry with its remaining life (GET + PTTL).
            assert_eq!(observe(hot(3)).await.1, Some(CacheOutcome::Miss));
            tokio::time::sleep(Duration::from_millis(1200)).await;
            assert_eq!(observe(hot(3)).await.1, Some(CacheOutcome::Hit));
            tokio::time::sleep(Duration::from_millis(200)).await;
        })
        .await;

    let denied: Vec<redis::Value> = redis::cmd("ACL").arg("LOG").query(&mut admin).unwrap();
    assert!(
        denied.is_empty(),
        "the cache needed more than the documented rule: {denied:#?}"
    );
    // And the keys it wrote are all in its namespace.
    let keys = server.keys("*");
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| k.starts_with(&format!("{NAMESPACE}:"))),
        "{keys:?}"
    );
}
