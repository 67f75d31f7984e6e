//! What the workspace's tests share: real `redis-server` processes with fault injection
//! ([`RedisServer`]), concurrent cached calls ([`concurrently`]), a test re-run as child
//! processes, for behaviour across processes ([`child`]), and a TCP proxy that black-holes
//! chosen connections ([`TcpProxy`]).

mod acl;
pub mod child;
mod cluster;
mod logs;
mod proxy;
mod sentinel;
mod server;
mod tls;

use std::future::Future;
use std::time::{Duration, Instant};

use cached_json::{observe, Cache, CacheOutcome};
use tokio::task::JoinSet;

pub use acl::documented_acl_rule;
pub use cluster::{redis_cli_bin, RedisCluster, NODE_TIMEOUT_MS};
pub use logs::{prometheus_series, CapturedLogs};
pub use proxy::TcpProxy;
pub use sentinel::{RedisSentinels, MASTER_NAME};
pub use server::{redis_server_bin, RedisServer};
pub use tls::TlsFiles;

/// Runs `calls` concurrent tasks of `call` inside `cache`; returns their (value, outcome).
pub async fn concurrently<T, F, Fut>(cache: &Cache, calls: usize, call: F) -> Vec<(T, CacheOutcome)>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for i in 0..calls {
        let cache = cache.clone();
        let future = call(i);
        tasks.spawn(async move { cache.scope(observe(future)).await });
    }
    let mut results = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (value, outcome) = done.expect("a concurrent call panicked");
        results.push((value, outcome.expect("a cached call ran")));
    }
    results
}

/// How many of `results` had `outcome`.
pub fn count<T>(results: &[(T, CacheOutcome)], outcome: CacheOutcome) -> usize {
    results.iter().filter(|(_, o)| *o == outcome).count()
}

/// Runs `future`; returns its output and how long it took.
pub async fn timed<F: Future>(future: F) -> (F::Output, Duration) {
    let start = Instant::now();
    let output = future.await;
    (output, start.elapsed())
}

/// (median, p99, max) of `samples`.
pub fn spread(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99), at(1.0))
}

/// Runs `future` to completion on this thread with no Tokio runtime at all, as
/// `futures::executor::block_on` would: for the cache's behaviour outside any runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}
