//! `GET /metrics`: the cache's metrics (and any other the process records through the `metrics`
//! facade) in the Prometheus text format, from the Prometheus recorder installed at start.

use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Duration;

use actix_web::{get, web, HttpResponse};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Histogram buckets, in seconds: from a 100 µs Redis round trip to a 10 s origin.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How often histogram samples are folded in when nobody scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder for the whole process and starts its upkeep; `None` (and a
/// warning) if another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    let installed = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .and_then(PrometheusBuilder::install_recorder);
    match installed {
        Ok(handle) => {
            cached_json::describe_metrics();
            let upkeep = handle.clone();
            actix_web::rt::spawn(async move {
                loop {
                    actix_web::rt::time::sleep(UPKEEP).await;
                    upkeep.run_upkeep();
                }
            });
            Some(handle)
        }
        Err(err) => {
            tracing::warn!(error = %err, "no Prometheus recorder: GET /metrics is off");
            None
        }
    }
}

/// The server's Tokio runtimes (actix runs one per worker thread, and one on the main thread),
/// for the count of tasks alive that `/metrics` adds: the soak checks that it returns to its
/// baseline after the load and Redis's restarts.
static RUNTIMES: Mutex<Vec<(ThreadId, tokio::runtime::Handle)>> = Mutex::new(Vec::new());

/// Counts the tasks of the runtime this thread runs in (once per thread).
pub fn register_runtime() {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let thread = std::thread::current().id();
    let mut runtimes = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
    if !runtimes.iter().any(|(known, _)| *known == thread) {
        runtimes.push((thread, handle));
    }
}

/// The tasks alive on the server's runtimes (the cache's own thread, which holds its Redis
/// connections' drivers and reconnection, is not among them).
fn tasks_alive() -> usize {
    let runtimes = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
    runtimes
        .iter()
        .map(|(_, handle)| handle.metrics().num_alive_tasks())
        .sum()
}

/// The process's metrics in the Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "service",
    responses(
        (status = 200, content_type = "text/plain; version=0.0.4", body = String,
         description = "Prometheus text format: cached_json_calls_total{prefix,outcome}, origin and store durations, store up/down, origin time saved; demo_tokio_tasks_alive"),
        (status = 404, description = "No recorder could be installed"),
    )
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match &state.metrics {
        Some(handle) => {
            let mut body = handle.render();
            body.push_str(&format!(
                "# HELP demo_tokio_tasks_alive Tasks alive on the server's Tokio runtimes.\n\
                 # TYPE demo_tokio_tasks_alive gauge\n\
                 demo_tokio_tasks_alive {}\n",
                tasks_alive()
            ));
            HttpResponse::Ok()
                .content_type("text/plain; version=0.0.4; charset=utf-8")
                .body(body)
        }
        None => HttpResponse::NotFound().finish(),
    }
}
