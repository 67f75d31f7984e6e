//! The axum example's route (`examples/axum.rs`) over real HTTP and a real Redis: the stored
//! JSON byte for byte with `X-Cache`, a strong `ETag`, `Cache-Control: max-age` and `Age`, a
//! `304` with no body on a matching `If-None-Match`, the L1's hits, and 400/404 as JSON.
//! Alone in its binary: the route's calls use the process-wide cache it installs.

#[path = "../examples/axum.rs"]
#[allow(dead_code)]
mod example;

use std::time::{Duration, Instant};

use cached_json::Cache;
use cached_json_test_support::RedisServer;
use redis::Commands;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 request on a connection of its own, read to its end.
async fn get(port: u16, path: &str, if_none_match: Option<&str>) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let condition = if_none_match
        .map(|etag| format!("If-None-Match: {etag}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{condition}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_route_answers_the_stored_json_with_its_headers_and_304s() {
    let server = RedisServer::start();
    Cache::builder()
        .redis_url(server.url())
        .l1(1 << 20)
        .build()
        .unwrap()
        .install()
        .unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, example::app()).await.unwrap() });
    let path = "/api/v1/local_info?location_name=Recife";

    let miss = get(port, path, None).await;
    assert_eq!(miss.status, 200);
    assert_eq!(miss.header("x-cache"), Some("MISS"));
    assert_eq!(miss.header("content-type"), Some("application/json"));
    assert_eq!(miss.header("cache-control"), Some("max-age=86400"));
    let key = example::local_info_key("recife").await.unwrap();
    let stored: Vec<u8> = server.connection().get(key.as_str()).unwrap();
    assert_eq!(miss.body, stored, "the body is the stored JSON");
    let etag = miss.header("etag").expect("an ETag").to_owned();

    let hit = get(port, path, None).await;
    assert_eq!(hit.status, 200);
    assert!(
        matches!(hit.header("x-cache"), Some("HIT" | "HIT-L1")),
        "{:?}",
        hit.header("x-cache")
    );
    assert_eq!(hit.body, stored);
    assert_eq!(hit.header("etag"), Some(etag.as_str()));
    assert!(hit.header("age").is_some());

    // Revalidation: 304, no body, the cache's headers kept.
    let revalidated = get(port, path, Some(&etag)).await;
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
    assert_eq!(revalidated.header("etag"), Some(etag.as_str()));
    assert!(revalidated.header("x-cache").is_some());
    assert!(revalidated
        .header("cache-control")
        .unwrap()
        .starts_with("max-age="));
    assert_eq!(get(port, path, Some("\"other\"")).await.status, 200);

    // From the L1: the same bytes, said so.
    let started = Instant::now();
    loop {
        let reply = get(port, path, None).await;
        assert_eq!(reply.body, stored);
        if reply.header("x-cache") == Some("HIT-L1") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "never from the L1"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Errors are the handler's, as JSON; nothing cached for them.
    let unknown = get(port, "/api/v1/local_info?location_name=Atlantis", None).await;
    assert_eq!(unknown.status, 404);
    let body: serde_json::Value = serde_json::from_slice(&unknown.body).unwrap();
    assert_eq!(body["error"], "unknown place: \"Atlantis\"");
    assert_eq!(get(port, "/api/v1/local_info", None).await.status, 400);
}
