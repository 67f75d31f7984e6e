//! Logs kept in memory, for tests that check what the cache logged: a writer a
//! `tracing_subscriber::fmt()` subscriber writes to (`.with_writer(move || logs.clone())`).

use std::io::Write;
use std::sync::{Arc, Mutex};

/// What was written so far; clones share it.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The value of one series of a Prometheus scrape (`name{labels}` as the text format writes
/// it), 0 if absent: what the metrics tests read of a recorder's rendering.
pub fn prometheus_series(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}
