//! End-to-end: the real demo-api binary over real HTTP, against a real redis-server and a real
//! SQLite file, each test with its own.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cached_json_test_support::{prometheus_series as series, RedisServer};
use redis::Commands;
use serde_json::{json, Value};

/// Simulated origin latency for these tests (geocoder; the weather service takes twice this).
const ORIGIN_MS: u64 = 100;

struct Demo {
    child: Child,
    base: String,
    db: std::path::PathBuf,
    http: reqwest::Client,
}

struct Reply {
    status: u16,
    x_cache: Option<String>,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
    took: Duration,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl Demo {
    async fn start(redis_url: Option<String>) -> Demo {
        Demo::start_with(redis_url, &[]).await
    }

    async fn start_with(redis_url: Option<String>, env: &[(&str, &str)]) -> Demo {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let db =
            std::env::temp_dir().join(format!("demo-api-test-{}-{port}.db", std::process::id()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_demo-api"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("DEMO_ORIGIN_LATENCY_MS", ORIGIN_MS.to_string())
            .env("DEMO_SEED_EVENTS", "300")
            .env("RUST_LOG", "warn")
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = redis_url {
            command.env("REDIS_URL", url);
        }
        command.envs(env.iter().copied());
        let child = command.spawn().expect("start demo-api");
        let demo = Demo {
            child,
            base: format!("http://127.0.0.1:{port}"),
            db,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = demo.http.get(format!("{}/health", demo.base)).send().await {
                if response.status() == 200 {
                    return demo;
                }
            }
            assert!(Instant::now() < deadline, "demo-api did not become healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let start = Instant::now();
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let x_cache = response
            .headers()
            .get("x-cache")
            .map(|v| v.to_str().unwrap().to_owned());
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let took = start.elapsed();
        // A 304 has no body at all.
        let body = if text.is_empty() && status == 304 {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text:?}"))
        };
        Reply {
            status,
            x_cache,
            headers,
            text,
            body,
            took,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.http.delete(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    async fn post(&self, path: &str, body: &str, content_type: Option<&str>) -> Reply {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.send(request).await
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

const CACHED_ROUTES: [(&str, &str, i64); 4] = [
    (
        "/api/v1/local_info?location_name=Recife",
        "local-info",
        86_400,
    ),
    (
        "/api/v1/forecast_info?location_name=Recife",
        "forecast",
        1_800,
    ),
    ("/api/v1/eventos/top/soon?limit=5", "top-soon", 10),
    ("/api/v1/eventos/top/most-viewed?limit=5", "top-viewed", 30),
];

#[tokio::test]
async fn each_cached_route_misses_then_hits_with_its_ttl_in_redis() {
    let redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    for (path, prefix, ttl) in CACHED_ROUTES {
        let miss = demo.get(path).await;
        assert_eq!(miss.status, 200, "{path}: {}", miss.body);
        assert_eq!(miss.x_cache.as_deref(), Some("MISS"), "{path}");
        let hit = demo.get(path).await;
        assert_eq!(hit.x_cache.as_deref(), Some("HIT"), "{path}");
        assert_eq!(
            hit.body, miss.body,
            "{path}: a hit returns what the miss stored"
        );

        let found = redis.keys(&format!("{prefix}:*"));
        assert_eq!(found.len(), 1, "{path}: {found:?}");
        let remaining: i64 = redis.connection().ttl(&found[0]).unwrap();
        assert!(
            remaining > ttl - 5 && remaining <= ttl,
            "{path}: ttl {remaining}, want {ttl}"
        );
        println!("{path}: MISS {:?}, HIT {:?}", miss.took, hit.took);
    }
    // The forecast used the cached geocoding: one call to each origin in all.
    let health = demo.get("/health").await;
    assert_eq!(
        health.body["origin_calls"],
        json!({"geocoder": 1, "weather": 1})
    );
    assert_eq!(health.body["cache"]["store"], "redis");
    // "recife" and " RECIFE " are the same place, so the same entry.
    let folded = demo
        .get("/api/v1/local_info?location_name=%20RECIFE%20")
        .await;
    assert_eq!(folded.x_cache.as_deref(), Some("HIT"));
}

#[tokio::test]
async fn top_soon_expires_after_ten_seconds() {
    let redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    let path = "/api/v1/eventos/top/soon?limit=3";
    assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("MISS"));
    assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("HIT"));
    tokio::time::sleep(Duration::from_millis(10_300)).await;
    assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("MISS"));
}

#[tokio::test]
async fn under_steady_traffic_top_soon_never_misses_after_the_first_request() {
    // `refresh_ahead = 0.8`: past 8 s of its 10 s life, a hit refreshes the entry in the
    // background, so the steady reader never waits for the database again.
    let redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    let path = "/api/v1/eventos/top/soon?limit=4";
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < Duration::from_secs(13) {
        let reply = demo.get(path).await;
        assert_eq!(reply.status, 200);
        seen.push(reply.x_cache.unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let misses = seen.iter().filter(|x| *x == "MISS").count();
    println!(
        "{} requests over 13 s to a 10 s entry: {misses} MISS",
        seen.len()
    );
    assert_eq!(seen[0], "MISS");
    assert_eq!(misses, 1, "{seen:?}");
    let pttl: i64 = redis
        .connection()
        .pttl(redis.keys("top-soon:*").remove(0))
        .unwrap();
    assert!(pttl > 0, "the entry is alive, refreshed: {pttl} ms");
}

#[tokio::test]
async fn an_unknown_place_is_a_404_cached_for_a_minute() {
    let redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    for _ in 0..2 {
        for route in ["local_info", "forecast_info"] {
            let reply = demo
                .get(&format!("/api/v1/{route}?location_name=Atlantis"))
                .await;
            assert_eq!(reply.status, 404);
            assert_eq!(reply.body["error"], "unknown place: \"Atlantis\"");
        }
    }
    // `local_info` caches the unknown place (`none_ttl = 60`) as `null`; `forecast_info` stores
    // nothing for it (its `None` is not cached), and asks `local_info`, which answers from Redis.
    let keys = redis.keys("*");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("local-info:"), "{keys:?}");
    let stored: String = redis.connection().get(&keys[0]).unwrap();
    assert_eq!(stored, "null");
    let ttl: i64 = redis.connection().ttl(&keys[0]).unwrap();
    assert!((55..=60).contains(&ttl), "a minute, not the day: {ttl} s");
    // Four requests, one geocoder call.
    let health = demo.get("/health").await;
    assert_eq!(health.body["origin_calls"]["geocoder"], 1);
}

#[tokio::test]
async fn redis_killed_mid_test_every_route_still_answers_then_caching_resumes() {
    let mut redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    for (path, _, _) in CACHED_ROUTES {
        assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("MISS"));
    }

    redis.kill();
    // The slowest origin (weather) takes 2 x ORIGIN_MS; allow generous scheduling slack.
    let bound = Duration::from_millis(2 * ORIGIN_MS + 400);
    for round in 0..3 {
        for (path, _, _) in CACHED_ROUTES {
            let reply = demo.get(path).await;
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(reply.x_cache.as_deref(), Some("BYPASS"), "{path}");
            assert!(
                reply.took < bound,
                "{path} took {:?} (round {round})",
                reply.took
            );
        }
    }
    let health = demo.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["cache"]["available"], false);
    // Uncached routes do not care.
    assert_eq!(demo.get("/api/v1/eventos?limit=2").await.status, 200);

    redis.restart();
    let start = Instant::now();
    let path = "/api/v1/local_info?location_name=Recife";
    loop {
        let reply = demo.get(path).await;
        assert_eq!(reply.status, 200);
        if reply.x_cache.as_deref() != Some("BYPASS") {
            assert_eq!(reply.x_cache.as_deref(), Some("MISS"));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "cache did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("cache back {:?} after the restart", start.elapsed());
    assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("HIT"));
    assert_eq!(demo.get("/health").await.body["cache"]["available"], true);
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx_and_nothing_is_cached() {
    let redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    let long = "x".repeat(201);
    let gets = [
        ("/api/v1/local_info", 400, "location_name is required"),
        (
            "/api/v1/local_info?location_name=",
            400,
            "location_name is required",
        ),
        (
            "/api/v1/local_info?location_name=%20%20",
            400,
            "location_name is required",
        ),
        (
            &*format!("/api/v1/local_info?location_name={long}"),
            400,
            "at most 200",
        ),
        (
            &*format!("/api/v1/forecast_info?location_name={long}"),
            400,
            "at most 200",
        ),
        ("/api/v1/forecast_info", 400, "location_name is required"),
        (
            "/api/v1/eventos/top/soon?limit=abc",
            400,
            "limit must be an integer from 1 to 100",
        ),
        (
            "/api/v1/eventos/top/soon?limit=0",
            400,
            "limit must be an integer from 1 to 100",
        ),
        (
            "/api/v1/eventos/top/soon?limit=101",
            400,
            "limit must be an integer from 1 to 100",
        ),
        (
            "/api/v1/eventos/top/most-viewed?limit=-1",
            400,
            "limit must be",
        ),
        (
            "/api/v1/eventos/top/most-viewed?limit=1.5",
            400,
            "limit must be",
        ),
        (
            "/api/v1/eventos?skip=abc",
            400,
            "skip must be an integer from 0 to 1000000",
        ),
        ("/api/v1/eventos?skip=-3", 400, "skip must be"),
        ("/api/v1/eventos?limit=1000", 400, "limit must be"),
        (
            &*format!("/api/v1/eventos?city={long}"),
            400,
            "city must be at most 200",
        ),
        (
            "/api/v1/eventos/abc",
            400,
            "event id must be a positive integer",
        ),
        (
            "/api/v1/eventos/0",
            400,
            "event id must be a positive integer",
        ),
        ("/api/v1/eventos/99999999", 404, "no event with id 99999999"),
        (
            "/api/v1/nothing-here",
            404,
            "no route for GET /api/v1/nothing-here",
        ),
    ];
    for (path, status, message) in gets {
        let reply = demo.get(path).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        let error = reply.body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(message),
            "{path}: {error:?} should say {message:?}"
        );
        assert_eq!(reply.body["status"], status);
    }

    let json = Some("application/json");
    let valid_time = "2030-01-01T20:00:00-03:00";
    let posts = [
        (r#"{"title":"x""#.to_owned(), json, 400, "not valid JSON"),
        ("not json".to_owned(), json, 400, "not valid JSON"),
        (String::new(), json, 400, "not valid JSON"),
        (
            format!(r#"{{"title":"Show","starts_at":"{valid_time}"}}"#),
            json,
            422,
            "missing field `city`",
        ),
        (
            r#"{"title":"Show","city":"Natal","starts_at":"tomorrow"}"#.to_owned(),
            json,
            422,
            "invalid event",
        ),
        (
            format!(r#"{{"title":"","city":"Natal","starts_at":"{valid_time}"}}"#),
            json,
            422,
            "title must be 1 to 200 characters",
        ),
        (
            format!(r#"{{"title":"{long}","city":"Natal","starts_at":"{valid_time}"}}"#),
            json,
            422,
            "title must be 1 to 200",
        ),
        (
            format!(r#"{{"title":"Show","city":" ","starts_at":"{valid_time}"}}"#),
            json,
            422,
            "city must be 1 to 100",
        ),
        (
            format!(r#"{{"title":"Show","city":"Natal","starts_at":"{valid_time}","price":3}}"#),
            json,
            422,
            "unknown field `price`",
        ),
        (
            format!(r#"{{"title":"Show","city":"Natal","starts_at":"{valid_time}"}}"#),
            Some("text/plain"),
            415,
            "Content-Type: application/json",
        ),
        (
            format!(r#"{{"title":"Show","city":"Natal","starts_at":"{valid_time}"}}"#),
            None,
            415,
            "Content-Type: application/json",
        ),
        (
            format!(
                r#"{{"title":"{}","city":"Natal","starts_at":"{valid_time}"}}"#,
                "y".repeat(70_000)
            ),
            json,
            413,
            "at most 65536 bytes",
        ),
    ];
    for (body, content_type, status, message) in posts {
        let reply = demo.post("/api/v1/eventos", &body, content_type).await;
        let shown: String = body.chars().take(60).collect();
        assert_eq!(reply.status, status, "{shown}: {}", reply.body);
        let error = reply.body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(message),
            "{shown}: {error:?} should say {message:?}"
        );
    }
    assert!(redis.keys("*").is_empty(), "a 4xx must cache nothing");
    assert_eq!(
        demo.get("/health").await.body["origin_calls"]["geocoder"],
        0
    );
}

#[tokio::test]
async fn a_posted_event_can_be_read_viewed_and_found_by_city() {
    let redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    let created = demo
        .post(
            "/api/v1/eventos",
            r#"{"title":"Show de Frevo","city":"São Luís","starts_at":"2030-02-10T21:00:00-03:00","venue":"Praia Grande"}"#,
            Some("application/json"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["title"], "Show de Frevo");
    assert_eq!(created.body["starts_at"], "2030-02-11T00:00:00Z");
    assert_eq!(created.body["views"], 0);
    let id = created.body["id"].as_i64().unwrap();

    for views in 1..=2 {
        let read = demo.get(&format!("/api/v1/eventos/{id}")).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.x_cache, None, "never cached");
        assert_eq!(read.body["views"], views);
        assert_eq!(read.body["venue"], "Praia Grande");
    }

    // city= ignores case and accents; the page is ordered by start time.
    let listed = demo.get("/api/v1/eventos?city=SAO%20LUIS&limit=100").await;
    assert_eq!(listed.status, 200);
    let events = listed.body.as_array().unwrap();
    assert!(events.iter().any(|e| e["id"] == id));
    assert!(events.iter().all(|e| e["city"] == "São Luís"));
    let starts: Vec<&str> = events
        .iter()
        .map(|e| e["starts_at"].as_str().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    let page = demo.get("/api/v1/eventos?skip=5&limit=7").await;
    assert_eq!(page.body.as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn without_redis_the_embedded_store_still_caches() {
    let demo = Demo::start(None).await;
    let health = demo.get("/health").await;
    assert_eq!(health.body["cache"]["store"], "memory");
    let path = "/api/v1/local_info?location_name=Natal";
    let miss = demo.get(path).await;
    assert_eq!(miss.x_cache.as_deref(), Some("MISS"));
    assert!(miss.took >= Duration::from_millis(ORIGIN_MS));
    let hit = demo.get(path).await;
    assert_eq!(hit.x_cache.as_deref(), Some("HIT"));
    assert_eq!(hit.body["state"], "RN");
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let mut demo = Demo::start(None).await;
    // A request in flight when the signal arrives still gets its answer.
    let in_flight = {
        let http = demo.http.clone();
        let url = format!("{}/api/v1/forecast_info?location_name=Olinda", demo.base);
        tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    Command::new("kill")
        .args(["-TERM", &demo.child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(in_flight.await.unwrap().unwrap(), 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = demo.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "demo-api did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn the_openapi_document_and_the_docs_page_are_served_offline() {
    let demo = Demo::start(None).await;
    let spec = demo.get("/openapi.json").await;
    assert_eq!(spec.status, 200);
    let paths = spec.body["paths"].as_object().unwrap();
    for path in [
        "/api/v1/local_info",
        "/api/v1/forecast_info",
        "/api/v1/eventos/top/soon",
        "/api/v1/eventos/top/most-viewed",
        "/api/v1/eventos",
        "/api/v1/eventos/{id}",
        "/health",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(paths["/api/v1/eventos"]["post"].is_object());
    // The cached routes' HTTP caching, described once for the four.
    for path in [
        "/api/v1/local_info",
        "/api/v1/forecast_info",
        "/api/v1/eventos/top/soon",
        "/api/v1/eventos/top/most-viewed",
    ] {
        let responses = &paths[path]["get"]["responses"];
        for header in ["x-cache", "etag", "cache-control", "age"] {
            assert!(
                responses["200"]["headers"][header].is_object(),
                "{path}: no {header} header"
            );
        }
        assert!(responses["304"].is_object(), "{path}: no 304");
        assert!(responses["200"]["content"]["application/json"].is_object());
    }

    // /docs redirects to the Swagger UI, whose assets come from the binary, not a CDN.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = http
        .get(format!("{}/docs", demo.base))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");
    let page = http
        .get(format!("{}/docs/", demo.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"));
    assert!(
        !html.contains("https://"),
        "the docs page must not load from the network"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let response = http
            .get(format!("{}/docs/{asset}", demo.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
    let initializer = http
        .get(format!("{}/docs/swagger-initializer.js", demo.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"));
}

#[tokio::test]
async fn a_created_event_appears_in_top_soon_at_once() {
    let redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    let path = "/api/v1/eventos/top/soon?limit=5";
    let viewed = "/api/v1/eventos/top/most-viewed?limit=50";
    assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("MISS"));
    assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("HIT"));
    assert_eq!(demo.get(viewed).await.x_cache.as_deref(), Some("MISS"));
    assert_eq!(demo.get(viewed).await.x_cache.as_deref(), Some("HIT"));
    // Sooner than any seeded event.
    let starts_at = (chrono::Utc::now() + chrono::Duration::seconds(5)).to_rfc3339();
    let created = demo
        .post(
            "/api/v1/eventos",
            &json!({"title": "Frevo na praça", "city": "Recife", "starts_at": starts_at})
                .to_string(),
            Some("application/json"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let top = demo.get(path).await;
    assert_eq!(
        top.x_cache.as_deref(),
        Some("MISS"),
        "the cached ranking was invalidated"
    );
    assert_eq!(top.body[0]["id"], created.body["id"], "{}", top.body);
    // Both rankings carry the tag `events`: the most-viewed one was invalidated with it.
    let most_viewed = demo.get(viewed).await;
    assert_eq!(
        most_viewed.x_cache.as_deref(),
        Some("MISS"),
        "{}",
        most_viewed.body
    );
}

#[tokio::test]
async fn the_admin_purge_needs_the_token_and_then_purges_one_prefix() {
    let redis = RedisServer::start();
    let demo = Demo::start_with(Some(redis.url()), &[("DEMO_ADMIN_TOKEN", "s3cret-admin")]).await;
    let place = "/api/v1/local_info?location_name=Natal";
    let ranking = "/api/v1/eventos/top/most-viewed?limit=3";
    assert_eq!(demo.get(place).await.x_cache.as_deref(), Some("MISS"));
    assert_eq!(demo.get(ranking).await.x_cache.as_deref(), Some("MISS"));

    for token in [None, Some("wrong"), Some("s3cret-admin-and-more")] {
        let refused = demo.delete("/api/v1/cache/local-info", token).await;
        assert_eq!(refused.status, 401, "{token:?}: {}", refused.body);
        assert!(refused.body["error"].as_str().unwrap().contains("Bearer"));
    }
    // Refused: nothing was purged.
    assert_eq!(demo.get(place).await.x_cache.as_deref(), Some("HIT"));

    let unknown = demo
        .delete("/api/v1/cache/no-such", Some("s3cret-admin"))
        .await;
    assert_eq!(unknown.status, 404);
    let purged = demo
        .delete("/api/v1/cache/local-info", Some("s3cret-admin"))
        .await;
    assert_eq!(purged.status, 200, "{}", purged.body);
    assert_eq!(purged.body, json!({"purged": "local-info"}));
    assert_eq!(demo.get(place).await.x_cache.as_deref(), Some("MISS"));
    // One prefix only.
    assert_eq!(demo.get(ranking).await.x_cache.as_deref(), Some("HIT"));
}

#[tokio::test]
async fn without_a_token_the_admin_route_is_off() {
    let redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    let off = demo
        .delete("/api/v1/cache/local-info", Some("anything"))
        .await;
    assert_eq!(off.status, 404, "{}", off.body);
    assert!(off.body["error"]
        .as_str()
        .unwrap()
        .contains("DEMO_ADMIN_TOKEN"));
}

/// `(request headers)` -> reply, for the HTTP caching tests.
async fn get_with(demo: &Demo, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = demo.http.get(format!("{}{path}", demo.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    demo.send(request).await
}

#[tokio::test]
async fn cached_routes_speak_http_caching_etag_304_max_age_and_age() {
    let redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    for (path, prefix, ttl) in CACHED_ROUTES {
        let miss = demo.get(path).await;
        assert_eq!(
            (miss.status, miss.x_cache.as_deref()),
            (200, Some("MISS")),
            "{path}"
        );
        let etag = miss.header("etag").expect("an ETag").to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"),
            "{etag}"
        );
        let max_age = |reply: &Reply| -> i64 {
            let control = reply.header("cache-control").unwrap();
            control.strip_prefix("max-age=").unwrap().parse().unwrap()
        };
        assert_eq!(
            max_age(&miss),
            ttl,
            "{path}: {:?}",
            miss.header("cache-control")
        );
        assert_eq!(miss.header("age"), None, "no Age on a miss");
        // The body is the stored JSON, byte for byte what the ETag names.
        let key = redis.keys(&format!("{prefix}:*")).remove(0);
        let stored = stored_json(redis.connection().get(&key).unwrap());
        assert_eq!(miss.text, stored, "{path}");

        tokio::time::sleep(Duration::from_millis(1100)).await;
        let hit = demo.get(path).await;
        assert_eq!(hit.x_cache.as_deref(), Some("HIT"), "{path}");
        assert_eq!(
            hit.header("etag"),
            Some(etag.as_str()),
            "{path}: same entry, same ETag"
        );
        let age: i64 = hit.header("age").expect("Age on a hit").parse().unwrap();
        assert!((1..=5).contains(&age), "{path}: age {age}");
        // RFC 9111: fresh for `max-age` less `Age`: the entry's remaining life, counted once.
        assert_eq!(max_age(&hit), ttl, "{path}");
        let left = redis.connection().ttl::<_, i64>(&key).unwrap();
        assert!(
            (max_age(&hit) - age - left).abs() <= 2,
            "{path}: {age} s old, {left} s left"
        );

        // Revalidation: 304, no body, the same validators.
        let revalidated = get_with(&demo, path, &[("if-none-match", &etag)]).await;
        assert_eq!(revalidated.status, 304, "{path}");
        assert!(revalidated.text.is_empty());
        assert_eq!(revalidated.header("etag"), Some(etag.as_str()));
        let other = get_with(&demo, path, &[("if-none-match", "\"something-else\"")]).await;
        assert_eq!(other.status, 200);
    }
}

#[tokio::test]
async fn cached_routes_answer_from_the_l1_with_the_stored_json_and_its_validators() {
    // The handlers answer an L1 hit from the function's L1 companion, the stored bytes as they
    // are: the same body, ETag and revalidation as a hit through Redis.
    let redis = RedisServer::start();
    let demo = Demo::start_with(Some(redis.url()), &[("CACHED_JSON_L1", "16MiB")]).await;
    for (path, prefix, ttl) in CACHED_ROUTES {
        let miss = demo.get(path).await;
        assert_eq!(miss.x_cache.as_deref(), Some("MISS"), "{path}");
        let etag = miss.header("etag").expect("an ETag").to_owned();
        let started = Instant::now();
        let hit = loop {
            let reply = demo.get(path).await;
            if reply.x_cache.as_deref() == Some("HIT-L1") {
                break reply;
            }
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{path}: never HIT-L1"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let key = redis.keys(&format!("{prefix}:*")).remove(0);
        let stored = stored_json(redis.connection().get(&key).unwrap());
        assert_eq!(hit.status, 200, "{path}");
        assert_eq!(hit.text, stored, "{path}: the stored JSON, byte for byte");
        assert_eq!(hit.header("content-type"), Some("application/json"));
        assert_eq!(hit.header("etag"), Some(etag.as_str()), "{path}");
        let control = hit.header("cache-control").unwrap();
        let max_age: i64 = control.strip_prefix("max-age=").unwrap().parse().unwrap();
        assert!((ttl - 4..=ttl).contains(&max_age), "{path}: {control}");
        assert!(hit.header("age").is_some(), "{path}: Age on a hit");
        let revalidated = get_with(&demo, path, &[("if-none-match", &etag)]).await;
        assert_eq!(revalidated.status, 304, "{path}");
        assert_eq!(revalidated.x_cache.as_deref(), Some("HIT-L1"), "{path}");
        assert!(revalidated.text.is_empty());
    }
    let metrics = scrape(&demo).await;
    for (_, prefix, _) in CACHED_ROUTES {
        let series_name =
            format!(r#"cached_json_calls_total{{prefix="{prefix}",outcome="hit_l1"}}"#);
        assert!(series(&metrics, &series_name) >= 2.0, "{prefix}: {metrics}");
    }
}

#[tokio::test]
async fn a_request_cache_control_never_makes_the_server_skip_its_cache() {
    let redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    let path = "/api/v1/local_info?location_name=Olinda";
    assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("MISS"));
    let origin = demo.get("/health").await.body["origin_calls"]["geocoder"]
        .as_u64()
        .unwrap();
    for directive in [
        "no-cache",
        "no-store",
        "max-age=0",
        "no-cache, no-store, must-revalidate",
    ] {
        let reply = get_with(
            &demo,
            path,
            &[("cache-control", directive), ("pragma", "no-cache")],
        )
        .await;
        assert_eq!(reply.x_cache.as_deref(), Some("HIT"), "{directive}");
    }
    let after = demo.get("/health").await.body["origin_calls"]["geocoder"]
        .as_u64()
        .unwrap();
    assert_eq!(after, origin, "no client header reached the origin");
}

/// `GET /metrics`, as text.
async fn scrape(demo: &Demo) -> String {
    let response = demo
        .http
        .get(format!("{}/metrics", demo.base))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_exactly_the_calls_made_and_the_origin_time_saved() {
    let mut redis = RedisServer::start();
    let demo = Demo::start(Some(redis.url())).await;
    let calls = |outcome: &str| {
        format!(r#"cached_json_calls_total{{prefix="local-info",outcome="{outcome}"}}"#)
    };
    let origin_runs = r#"cached_json_origin_duration_seconds_count{prefix="local-info"}"#;
    let saved = r#"cached_json_origin_saved_microseconds_total{prefix="local-info"}"#;
    // The cached routes read an entry with its remaining life (for max-age): GET and PTTL.
    let reads = r#"cached_json_store_command_duration_seconds_count{command="get_with_ttl"}"#;
    let before = scrape(&demo).await;

    let path = "/api/v1/local_info?location_name=Olinda";
    let miss = demo.get(path).await;
    assert_eq!(miss.x_cache.as_deref(), Some("MISS"));
    for _ in 0..4 {
        assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("HIT"));
    }
    let after = scrape(&demo).await;
    let moved = |name: &str| series(&after, name) - series(&before, name);
    assert_eq!(moved(&calls("miss")), 1.0, "{after}");
    assert_eq!(moved(&calls("hit")), 4.0, "{after}");
    assert_eq!(moved(&calls("bypass")), 0.0);
    assert_eq!(moved(origin_runs), 1.0);
    // Redis: one read per call, each timed.
    assert_eq!(moved(reads), 5.0, "{after}");
    // Each hit saved one run of the geocoder (ORIGIN_MS, a little more with scheduling).
    let saved_ms = moved(saved) / 1000.0;
    let origin_ms = ORIGIN_MS as f64;
    assert!(
        saved_ms >= 4.0 * origin_ms && saved_ms <= 4.0 * miss.took.as_secs_f64() * 1000.0,
        "saved {saved_ms} ms for 4 hits of a {origin_ms} ms origin"
    );
    assert_eq!(series(&after, "cached_json_store_up"), 1.0, "{after}");
    assert!(after.contains("# HELP cached_json_calls_total"));

    // Redis gone: the calls bypass it, and the store is reported down once.
    redis.kill();
    for _ in 0..3 {
        assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("BYPASS"));
    }
    let down = scrape(&demo).await;
    let moved = |name: &str| series(&down, name) - series(&after, name);
    assert_eq!(moved(&calls("bypass")), 3.0, "{down}");
    assert_eq!(moved(origin_runs), 3.0);
    assert_eq!(series(&down, "cached_json_store_up"), 0.0, "{down}");
    assert_eq!(
        moved(r#"cached_json_store_transitions_total{to="down"}"#),
        1.0
    );

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    while series(&scrape(&demo).await, "cached_json_store_up") != 1.0 {
        assert!(Instant::now() < deadline, "the store did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back = scrape(&demo).await;
    assert_eq!(
        series(&back, r#"cached_json_store_transitions_total{to="up"}"#)
            - series(&down, r#"cached_json_store_transitions_total{to="up"}"#),
        1.0,
        "{back}"
    );
    println!("saved {saved_ms:.0} ms of origin time for 4 hits");
}

#[tokio::test]
async fn a_tls_redis_with_a_private_ca_is_configured_through_the_environment() {
    let files = cached_json_test_support::TlsFiles::generate(&["DNS:localhost"]);
    let redis = RedisServer::start_tls(&files, true);
    let ca = files.path("ca.crt").to_string_lossy().into_owned();
    let cert = files.path("client.crt").to_string_lossy().into_owned();
    let key = files.path("client.key").to_string_lossy().into_owned();
    let demo = Demo::start_with(
        Some(redis.tls_url("localhost")),
        &[
            ("CACHED_JSON_TLS_CA", ca.as_str()),
            ("CACHED_JSON_TLS_CERT", cert.as_str()),
            ("CACHED_JSON_TLS_KEY", key.as_str()),
        ],
    )
    .await;
    let path = "/api/v1/local_info?location_name=Natal";
    assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("MISS"));
    assert_eq!(demo.get(path).await.x_cache.as_deref(), Some("HIT"));
    assert_eq!(redis.keys("local-info:*").len(), 1);
    let health = demo.get("/health").await;
    assert_eq!(health.body["cache"]["available"], true);
    assert!(health.body["cache"]["url"]
        .as_str()
        .unwrap()
        .starts_with("rediss://localhost:"));
}

#[tokio::test]
async fn a_redis_cluster_is_configured_through_the_environment() {
    let cluster = cached_json_test_support::RedisCluster::start();
    // One seed node and CACHED_JSON_CLUSTER=true, as with a managed Cluster's endpoint.
    let demo = Demo::start_with(
        Some(cluster.urls()[0].clone()),
        &[("CACHED_JSON_CLUSTER", "true"), ("CACHED_JSON_L1", "16MiB")],
    )
    .await;
    let cities = [
        "Natal",
        "Recife",
        "Salvador",
        "Fortaleza",
        "Manaus",
        "Belem",
    ];
    for city in cities {
        let path = format!("/api/v1/local_info?location_name={city}");
        assert_eq!(
            demo.get(&path).await.x_cache.as_deref(),
            Some("MISS"),
            "{city}"
        );
        assert_eq!(
            demo.get(&path).await.x_cache.as_deref(),
            Some("HIT"),
            "{city}"
        );
    }
    assert_eq!(cluster.keys("local-info:*").len(), cities.len());
    let health = demo.get("/health").await;
    assert_eq!(health.body["cache"]["available"], true);
    // The L1 asked for: on a Cluster too, served once every primary is tracked.
    assert_eq!(health.body["cache"]["l1"], true);
    let path = format!("/api/v1/local_info?location_name={}", cities[0]);
    let started = Instant::now();
    while demo.get(&path).await.x_cache.as_deref() != Some("HIT-L1") {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never served from the L1"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `epoch_secs` as an RFC 3339 UTC time (`2030-01-01T20:00:00Z`).
fn rfc3339_utc(epoch_secs: u64) -> String {
    // Days to a civil date: Howard Hinnant's algorithm.
    let days = (epoch_secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = epoch_secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[tokio::test]
async fn two_instances_with_an_l1_see_each_others_changes_at_once() {
    assert_eq!(rfc3339_utc(1_893_528_000), "2030-01-01T20:00:00Z");
    let redis = RedisServer::start();
    // One database and one Redis, two instances, each with an L1.
    let shared_db =
        std::env::temp_dir().join(format!("demo-api-test-{}-l1-shared.db", std::process::id()));
    let database_url = format!("sqlite://{}", shared_db.display());
    let env = [
        ("CACHED_JSON_L1", "16MiB"),
        ("DATABASE_URL", database_url.as_str()),
    ];
    let first = Demo::start_with(Some(redis.url()), &env).await;
    let second = Demo::start_with(Some(redis.url()), &env).await;
    assert_eq!(second.get("/health").await.body["cache"]["l1"], true);
    let path = "/api/v1/eventos/top/soon?limit=5";
    assert_eq!(second.get(path).await.x_cache.as_deref(), Some("MISS"));
    // Served from the second instance's memory once its tracking connection is up.
    let started = Instant::now();
    let before = loop {
        let reply = second.get(path).await;
        if reply.x_cache.as_deref() == Some("HIT-L1") {
            break reply;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "never HIT-L1");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The metrics tell L1 hits from Redis hits too.
    let metrics = scrape(&second).await;
    let hits_l1 = series(
        &metrics,
        r#"cached_json_calls_total{prefix="top-soon",outcome="hit_l1"}"#,
    );
    assert!(hits_l1 >= 1.0, "{metrics}");
    // An event starting soonest of all, created through the first instance...
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 120;
    let created = first
        .post(
            "/api/v1/eventos",
            &format!(
                r#"{{"title":"Ensaio aberto","city":"Recife","starts_at":"{}"}}"#,
                rfc3339_utc(soon)
            ),
            Some("application/json"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].clone();
    assert_ne!(before.body[0]["id"], id);
    // ...is in the second instance's ranking at once (the invalidation reached it over Redis
    // before the POST was answered, or within a few milliseconds).
    let started = Instant::now();
    loop {
        let reply = second.get(path).await;
        if reply.body[0]["id"] == id {
            println!(
                "new event visible on the other instance {:?} after the POST answered ({})",
                started.elapsed(),
                reply.x_cache.as_deref().unwrap_or("-")
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "the other instance still ranks without the new event"
        );
    }
    drop((first, second));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", shared_db.display()));
    }
}

/// The JSON a function stored: as it is, or, for a tagged function's entry (the rankings carry
/// the tag `events`), what is inside `{"tags":[<tokens>],"value":<json>}`.
fn stored_json(stored: String) -> String {
    match stored.strip_prefix(r#"{"tags":["#) {
        Some(rest) => {
            let value = rest
                .find(r#"],"value":"#)
                .expect("a tagged entry's stored form")
                + 10;
            rest[value..rest.len() - 1].to_owned()
        }
        None => stored,
    }
}
