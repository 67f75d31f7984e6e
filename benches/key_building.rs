//! Key building for typical arguments: time, and heap allocations per key (counted by a global
//! allocator wrapper; the target is one, the key `String` itself).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use cached_json::__private::KeyBuilder;
use cached_json::key::Key;
use criterion::{criterion_group, criterion_main, Criterion};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `local_info(location_name)`: one string.
fn one_string() -> Key {
    let mut key = KeyBuilder::new();
    key.arg("location_name", black_box("Recife"));
    Key::new(None, "local-info", None, key.finish().unwrap())
}

/// A list query: a few strings and integers, with a namespace.
fn strings_and_integers() -> Key {
    let mut key = KeyBuilder::new();
    key.arg("city", black_box("São Paulo"))
        .arg("limit", &black_box(20u32))
        .arg("skip", &black_box(40u64))
        .arg("sort", black_box("starts_at"));
    Key::new(Some("demo"), "events", Some(2), key.finish().unwrap())
}

fn allocations_per_call(f: fn() -> Key) -> f64 {
    const CALLS: u64 = 10_000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..CALLS {
        black_box(f());
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / CALLS as f64
}

fn key_building(c: &mut Criterion) {
    println!(
        "allocations per key: one string {:.2}, four arguments {:.2}",
        allocations_per_call(one_string),
        allocations_per_call(strings_and_integers)
    );
    let mut group = c.benchmark_group("key");
    group.bench_function("one-string", |b| b.iter(one_string));
    group.bench_function("four-arguments", |b| b.iter(strings_and_integers));
    group.finish();
}

criterion_group!(benches, key_building);
criterion_main!(benches);
