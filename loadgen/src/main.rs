//! `loadgen`: a bounded HTTP load generator for the demo's benchmarks and resilience runs.
//!
//! It sends GET requests from `--concurrency` keep-alive connections for `--duration` seconds
//! (and at most `--max-requests`), to loopback addresses only. The run can be cut into equal
//! phases; at each phase boundary a shell command runs (e.g. `kill -9` of Redis), and the
//! report gives requests, non-2xx, latency percentiles and `X-Cache` counts per phase, plus
//! the origin calls read from the demo's `/health` at each boundary.
//!
//! With `--keys N`, a share of the requests (`--key-share`, default half) ask for names no city
//! has, `soak-<i>` with `i` drawn from `0..N` (skewed: low numbers far more often, as real
//! traffic has hot keys and a long tail); the demo answers those `404` (an unknown place, cached
//! as absent), and a city `2xx`: any other answer is unexpected. With `--csv FILE`, a line every
//! `--interval` seconds: requests, req/s, unexpected answers, latency percentiles, `X-Cache`
//! counts. Both are what the soak (`scripts/soak.sh`) runs on.
//!
//! ```text
//! loadgen --url 'http://127.0.0.1:8000/api/v1/local_info?location_name={city}' \
//!     --cities demo-api/data/cities.csv --duration 30 --concurrency 32 \
//!     --phases 'redis up,redis killed,redis restarted' \
//!     --on-phase 'kill -9 1234' --on-phase 'redis-server --daemonize yes ...' \
//!     --health http://127.0.0.1:8000/health
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Options {
    url: String,
    cities: Vec<String>,
    duration: Duration,
    concurrency: usize,
    max_requests: u64,
    phases: Vec<String>,
    on_phase: Vec<String>,
    health: Option<String>,
    label: Option<String>,
    /// `--keys`: how many distinct made-up names (0: none).
    keys: u64,
    /// `--key-share`: the share of requests that ask for a made-up name.
    key_share: f64,
    csv: Option<String>,
    interval: Duration,
}

/// What the requests of one `--interval` gave, for its CSV line.
#[derive(Default)]
struct Interval {
    micros: Vec<u64>,
    unexpected: u64,
    x_cache: [u64; 7],
}

struct Sample {
    phase: usize,
    micros: u64,
    ok: bool,
    x_cache: XCache,
}

#[derive(Clone, Copy, PartialEq)]
enum XCache {
    Hit,
    HitL1,
    Miss,
    Bypass,
    Coalesced,
    Stale,
    Other,
}

fn main() {
    let options = match parse() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("loadgen: {err}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    if let Err(err) = runtime.block_on(run(options)) {
        eprintln!("loadgen: {err}");
        std::process::exit(1);
    }
}

fn parse() -> Result<Options, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut options = Options {
        url: String::new(),
        cities: Vec::new(),
        duration: Duration::from_secs(10),
        concurrency: 32,
        max_requests: 5_000_000,
        phases: Vec::new(),
        on_phase: Vec::new(),
        health: None,
        label: None,
        keys: 0,
        key_share: 0.5,
        csv: None,
        interval: Duration::from_secs(10),
    };
    let text = |parser: &mut lexopt::Parser| -> Result<String, String> {
        parser
            .value()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|_| "arguments must be UTF-8".to_owned())
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("url") => options.url = text(&mut parser)?,
            Long("cities") => {
                let path = text(&mut parser)?;
                let csv = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                options.cities = csv
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split(',').next())
                    .map(str::to_owned)
                    .collect();
            }
            Long("duration") => {
                let secs: f64 = text(&mut parser)?
                    .parse()
                    .map_err(|_| "--duration: seconds")?;
                options.duration = Duration::from_secs_f64(secs.clamp(0.5, 7200.0));
            }
            Long("concurrency") => {
                options.concurrency = text(&mut parser)?
                    .parse::<usize>()
                    .map_err(|_| "--concurrency: a number")?
                    .clamp(1, 1024)
            }
            Long("max-requests") => {
                options.max_requests = text(&mut parser)?
                    .parse()
                    .map_err(|_| "--max-requests: a number")?
            }
            Long("phases") => {
                options.phases = text(&mut parser)?.split(',').map(str::to_owned).collect()
            }
            Long("on-phase") => options.on_phase.push(text(&mut parser)?),
            Long("health") => options.health = Some(text(&mut parser)?),
            Long("label") => options.label = Some(text(&mut parser)?),
            Long("keys") => {
                options.keys = text(&mut parser)?.parse().map_err(|_| "--keys: a number")?
            }
            Long("key-share") => {
                options.key_share = text(&mut parser)?
                    .parse::<f64>()
                    .map_err(|_| "--key-share: a number from 0 to 1")?
                    .clamp(0.0, 1.0)
            }
            Long("csv") => options.csv = Some(text(&mut parser)?),
            Long("interval") => {
                let secs: f64 = text(&mut parser)?
                    .parse()
                    .map_err(|_| "--interval: seconds")?;
                options.interval = Duration::from_secs_f64(secs.clamp(0.1, 3600.0));
            }
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if options.url.is_empty() {
        return Err("--url is required".into());
    }
    for url in std::iter::once(&options.url).chain(options.health.iter()) {
        let authority = url
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.split(':').next().unwrap_or(""),
        };
        if !matches!(host, "127.0.0.1" | "localhost" | "::1") {
            return Err(format!(
                "only http:// on loopback (127.0.0.1, localhost): {url}"
            ));
        }
    }
    if options.url.contains("{city}") && options.cities.is_empty() && options.keys == 0 {
        return Err("--url uses {city}: give --cities FILE (or --keys N)".into());
    }
    if options.keys > 0 && !options.url.contains("{city}") {
        return Err("--keys: the made-up names go where --url has {city}".into());
    }
    if options.cities.is_empty() {
        options.key_share = 1.0;
    }
    if options.phases.is_empty() {
        options.phases.push("run".into());
    }
    if options.on_phase.len() >= options.phases.len() {
        return Err("one --on-phase command per phase boundary (phases - 1) at most".into());
    }
    Ok(options)
}

async fn run(options: Options) -> Result<(), String> {
    let options = Arc::new(options);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let urls: Arc<Vec<String>> = Arc::new(if options.cities.is_empty() {
        vec![options.url.clone()]
    } else {
        options
            .cities
            .iter()
            .map(|city| options.url.replace("{city}", &encode(city)))
            .collect()
    });

    let phases = options.phases.len();
    let phase_length = options.duration / phases as u32;
    let started = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let mut origin_calls = vec![read_origin_calls(&client, options.health.as_deref()).await];

    let interval = Arc::new(Mutex::new(Interval::default()));
    let asked: Arc<Vec<AtomicBool>> =
        Arc::new((0..options.keys).map(|_| AtomicBool::new(false)).collect());
    let csv_writer = options.csv.clone().map(|path| {
        tokio::spawn(write_csv(
            path,
            options.interval,
            options.duration,
            started,
            interval.clone(),
        ))
    });

    let mut workers = Vec::new();
    for worker in 0..options.concurrency {
        let (client, urls, options, sent) =
            (client.clone(), urls.clone(), options.clone(), sent.clone());
        let (interval, asked) = (interval.clone(), asked.clone());
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut next = worker;
            let mut random = Random(
                0x9E37_79B9_7F4A_7C15 ^ (worker as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D),
            );
            loop {
                let elapsed = started.elapsed();
                if elapsed >= options.duration
                    || sent.fetch_add(1, Ordering::Relaxed) >= options.max_requests
                {
                    return samples;
                }
                let phase = ((elapsed.as_nanos() / phase_length.as_nanos().max(1)) as usize)
                    .min(phases - 1);
                let made_up = (options.keys > 0 && random.unit() < options.key_share).then(|| {
                    // Skewed towards low numbers: a few hot names, a long tail of cold ones.
                    let at = ((options.keys as f64 * random.unit().powi(3)) as u64)
                        .min(options.keys - 1);
                    asked[at as usize].store(true, Ordering::Relaxed);
                    options.url.replace("{city}", &format!("soak-{at}"))
                });
                let url = match &made_up {
                    Some(url) => url,
                    None => {
                        let url = &urls[next % urls.len()];
                        next += options.concurrency;
                        url
                    }
                };
                let request_started = Instant::now();
                let (ok, x_cache) = match client.get(url).send().await {
                    Ok(response) => {
                        // A made-up name is an unknown place: `404`, nothing else.
                        let ok = match made_up {
                            Some(_) => response.status() == 404,
                            None => response.status().is_success(),
                        };
                        let x_cache = match response.headers().get("x-cache").map(|v| v.as_bytes())
                        {
                            Some(b"HIT") => XCache::Hit,
                            Some(b"HIT-L1") => XCache::HitL1,
                            Some(b"MISS") => XCache::Miss,
                            Some(b"BYPASS") => XCache::Bypass,
                            Some(b"COALESCED") => XCache::Coalesced,
                            Some(b"STALE") => XCache::Stale,
                            _ => XCache::Other,
                        };
                        // Read the body: the request is done when it has arrived.
                        let ok = response.bytes().await.is_ok() && ok;
                        (ok, x_cache)
                    }
                    Err(_) => (false, XCache::Other),
                };
                let micros = request_started.elapsed().as_micros() as u64;
                if options.csv.is_some() {
                    let mut interval = interval.lock().unwrap_or_else(|e| e.into_inner());
                    interval.micros.push(micros);
                    interval.unexpected += u64::from(!ok);
                    interval.x_cache[x_cache as usize] += 1;
                }
                samples.push(Sample {
                    phase,
                    micros,
                    ok,
                    x_cache,
                });
            }
        }));
    }

    // Phase boundaries: run the hook, note the origin counters.
    for (boundary, command) in options.on_phase.iter().enumerate() {
        let at = phase_length * (boundary as u32 + 1);
        tokio::time::sleep(at.saturating_sub(started.elapsed())).await;
        origin_calls.push(read_origin_calls(&client, options.health.as_deref()).await);
        let status = tokio::process::Command::new("sh")
            .args(["-c", command])
            .status()
            .await
            .map_err(|e| format!("--on-phase {command:?}: {e}"))?;
        eprintln!(
            "[{:>5.1}s] phase {:?} begins: `{command}` -> {status}",
            started.elapsed().as_secs_f64(),
            options.phases[boundary + 1]
        );
    }
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.map_err(|e| e.to_string())?);
    }
    let total_time = started.elapsed();
    while origin_calls.len() < phases {
        origin_calls.push(origin_calls.last().copied().flatten());
    }
    origin_calls.push(read_origin_calls(&client, options.health.as_deref()).await);

    if let Some(writer) = csv_writer {
        writer.await.map_err(|e| e.to_string())??;
    }
    report(&options, &samples, &origin_calls, phase_length, total_time);
    if options.keys > 0 {
        let distinct = asked.iter().filter(|a| a.load(Ordering::Relaxed)).count();
        println!(
            "made-up names asked: {distinct} distinct of {}",
            options.keys
        );
    }
    Ok(())
}

/// A small xorshift generator: each worker draws its own numbers, no lock, no crate.
struct Random(u64);

impl Random {
    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Writes a CSV line for every `every` of the run: what the requests that ended in it gave.
async fn write_csv(
    path: String,
    every: Duration,
    duration: Duration,
    started: Instant,
    interval: Arc<Mutex<Interval>>,
) -> Result<(), String> {
    let mut file = std::fs::File::create(&path).map_err(|e| format!("{path}: {e}"))?;
    writeln!(
        file,
        "seconds,requests,req_per_s,unexpected,p50_ms,p99_ms,max_ms,hit_l1,hit,miss,bypass,coalesced,stale"
    )
    .map_err(|e| e.to_string())?;
    let mut last = started;
    let mut tick = 1u32;
    while last.duration_since(started) < duration {
        let at = started + every * tick;
        tokio::time::sleep_until(at.min(started + duration).into()).await;
        tick += 1;
        let now = Instant::now();
        let Interval {
            mut micros,
            unexpected,
            x_cache,
        } = std::mem::take(&mut *interval.lock().unwrap_or_else(|e| e.into_inner()));
        micros.sort_unstable();
        let at_q = |q: f64| match micros.len() {
            0 => 0.0,
            n => micros[((n - 1) as f64 * q).round() as usize] as f64 / 1000.0,
        };
        writeln!(
            file,
            "{:.1},{},{:.0},{unexpected},{:.2},{:.2},{:.2},{},{},{},{},{},{}",
            now.duration_since(started).as_secs_f64(),
            micros.len(),
            micros.len() as f64 / now.duration_since(last).as_secs_f64(),
            at_q(0.5),
            at_q(0.99),
            at_q(1.0),
            x_cache[XCache::HitL1 as usize],
            x_cache[XCache::Hit as usize],
            x_cache[XCache::Miss as usize],
            x_cache[XCache::Bypass as usize],
            x_cache[XCache::Coalesced as usize],
            x_cache[XCache::Stale as usize],
        )
        .map_err(|e| e.to_string())?;
        last = now;
    }
    Ok(())
}

/// The demo's origin call counters (geocoder + weather) from `/health`.
async fn read_origin_calls(client: &reqwest::Client, health: Option<&str>) -> Option<u64> {
    let body = client.get(health?).send().await.ok()?.text().await.ok()?;
    let health: serde_json::Value = serde_json::from_str(&body).ok()?;
    let calls = &health["origin_calls"];
    Some(calls["geocoder"].as_u64()? + calls["weather"].as_u64()?)
}

fn report(
    options: &Options,
    samples: &[Sample],
    origin_calls: &[Option<u64>],
    phase_length: Duration,
    total_time: Duration,
) {
    if let Some(label) = &options.label {
        println!("## {label}");
    }
    println!(
        "{} connections, {:.1} s, {} requests ({:.0} req/s)",
        options.concurrency,
        total_time.as_secs_f64(),
        samples.len(),
        samples.len() as f64 / total_time.as_secs_f64()
    );
    println!();
    let unexpected = match options.keys {
        0 => "non-2xx",
        _ => "unexpected",
    };
    println!(
        "| phase | requests | req/s | {unexpected} | p50 ms | p99 ms | max ms | HIT-L1 | HIT | MISS | BYPASS | COALESCED | origin calls |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (phase, name) in options.phases.iter().enumerate() {
        let in_phase: Vec<&Sample> = samples.iter().filter(|s| s.phase == phase).collect();
        let mut latencies: Vec<u64> = in_phase.iter().map(|s| s.micros).collect();
        latencies.sort_unstable();
        let at = |q: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            latencies[((latencies.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
        };
        let count = |x: XCache| in_phase.iter().filter(|s| s.x_cache == x).count();
        let origin = match (origin_calls.get(phase), origin_calls.get(phase + 1)) {
            (Some(Some(a)), Some(Some(b))) => (b - a).to_string(),
            _ => "-".into(),
        };
        println!(
            "| {name} | {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {origin} |",
            in_phase.len(),
            in_phase.len() as f64 / phase_length.as_secs_f64(),
            in_phase.iter().filter(|s| !s.ok).count(),
            at(0.5),
            at(0.99),
            at(1.0),
            count(XCache::HitL1),
            count(XCache::Hit),
            count(XCache::Miss),
            count(XCache::Bypass),
            count(XCache::Coalesced),
        );
    }
    let unexpected = samples.iter().filter(|s| !s.ok).count();
    println!();
    match options.keys {
        0 => println!("non-2xx in all: {unexpected}"),
        _ => println!("unexpected answers in all: {unexpected}"),
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
