//! The fixed part of one annotated function's caching: its [`CacheSite`], built in a `static`
//! by the attribute, and the registry of the sites called so far: it warns when two functions
//! share a prefix.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::instruments::SiteMetrics;
use crate::key::{EntryId, Key};

/// One annotated function's prefix, TTL, key version and options.
///
/// Built in a `static` by the attribute: every method is `const`.
#[derive(Debug)]
pub struct CacheSite {
    pub(crate) prefix: &'static str,
    /// The annotated function's path, for messages.
    pub(crate) function: &'static str,
    /// Where the function is defined (`file:line:column`) and which expansion of the
    /// attribute made it: with its path, what tells one function from another. Two methods of
    /// one name in a module share a path; two made by one `macro_rules!` call share a line too
    /// (`line!()` names the outermost call), never an expansion.
    pub(crate) location: &'static str,
    pub(crate) expansion: u32,
    /// Whether this site was checked against the others (see [`CacheSite::register`]).
    registered: AtomicBool,
    pub(crate) ttl: Duration,
    pub(crate) version: Option<u32>,
    pub(crate) lock: bool,
    pub(crate) stale: Option<Duration>,
    pub(crate) jitter: Option<Duration>,
    pub(crate) soft_timeout: Option<Duration>,
    /// How long a caller waits for another's computation of the same key (a leader in this
    /// process, a lock holder in another) before computing it itself.
    pub(crate) wait: Duration,
    /// How long the `lock` lease lasts without being extended.
    pub(crate) lease: Duration,
    /// How long a function answered with its stale copy (past `timeout_ms`) may go on in the
    /// background; `None`: as long as [`CacheSite::wait`].
    pub(crate) hard_timeout: Option<Duration>,
    /// `refresh_ahead`, in thousandths: a hit on an entry past this share of its TTL refreshes
    /// it in the background.
    pub(crate) refresh_ahead: Option<u16>,
    /// Whether its entries may be copied into the cache's L1 (`no_l1` says not).
    pub(crate) l1: bool,
    /// The longest life of a copy in the L1 (`l1_ttl`); `None`: the entry's in the store.
    pub(crate) l1_ttl: Option<Duration>,
    /// `ttl_with`: a value's TTL is what a function of it says, known only from the value.
    pub(crate) ttl_with: bool,
    /// `none_ttl`: the TTL of a `None` (stored as `null`).
    pub(crate) none_ttl: Option<Duration>,
    /// `tags(...)`: the templates of the tags its entries carry (see [`crate::tags`]).
    pub(crate) tags: &'static [&'static str],
    /// Its metric keys and its function's recent duration.
    pub(crate) metrics: SiteMetrics,
    /// The hash of the keys' head (`prefix[:vN]`), for the L1's ids; made on first use.
    head: OnceLock<u64>,
}

/// The sites called so far in this process (see [`CacheSite::register`]).
fn registered_sites() -> std::sync::MutexGuard<'static, Vec<&'static CacheSite>> {
    static SITES: Mutex<Vec<&'static CacheSite>> = Mutex::new(Vec::new());
    SITES.lock().unwrap_or_else(|e| e.into_inner())
}

/// [`CacheSite::wait`] unless `wait_ms` says otherwise.
const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// [`CacheSite::lease`] unless `lock_lease_ms` says otherwise.
const DEFAULT_LEASE: Duration = Duration::from_secs(5);

impl CacheSite {
    /// A site for `prefix`, storing values for `ttl_secs` seconds.
    pub const fn new(prefix: &'static str, ttl_secs: u64, version: Option<u32>) -> Self {
        CacheSite {
            prefix,
            function: "",
            location: "",
            expansion: 0,
            registered: AtomicBool::new(false),
            ttl: Duration::from_secs(ttl_secs),
            version,
            lock: false,
            stale: None,
            jitter: None,
            soft_timeout: None,
            wait: DEFAULT_WAIT,
            lease: DEFAULT_LEASE,
            hard_timeout: None,
            refresh_ahead: None,
            l1: true,
            l1_ttl: None,
            ttl_with: false,
            none_ttl: None,
            tags: &[],
            metrics: SiteMetrics::new(),
            head: OnceLock::new(),
        }
    }

    /// Names the annotated function (its path), for messages.
    pub const fn with_function(mut self, function: &'static str) -> Self {
        self.function = function;
        self
    }

    /// Says where the annotated function is defined (`file:line:column`), and the number of the
    /// attribute's expansion that made it (unique within its crate).
    pub const fn defined_at(mut self, location: &'static str, expansion: u32) -> Self {
        self.location = location;
        self.expansion = expansion;
        self
    }

    /// Its entries carry `tags`, templates whose `{name}` is a key argument (`tags(...)`).
    pub const fn with_tags(mut self, tags: &'static [&'static str]) -> Self {
        self.tags = tags;
        self
    }

    /// How long an entry of it lives with its stale copy, at most (with the site's TTL).
    pub(crate) fn entry_life(&self) -> Duration {
        self.ttl + self.stale.unwrap_or_default()
    }

    /// Whether a tag of it names key argument `name`.
    pub(crate) fn tag_names(&self, name: &str) -> bool {
        self.tags.iter().any(|template| {
            template.match_indices('{').any(|(at, _)| {
                template[at + 1..]
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('}'))
            })
        })
    }

    /// Coalesce misses across processes with a lease in the store (`lock`).
    pub const fn with_lock(mut self) -> Self {
        self.lock = true;
        self
    }

    /// Keep the last good value `secs` past its TTL, for when the function fails (`stale`).
    pub const fn with_stale(mut self, secs: u64) -> Self {
        self.stale = Some(Duration::from_secs(secs));
        self
    }

    /// Add up to `secs` of random time to each stored TTL (`jitter`).
    pub const fn with_jitter(mut self, secs: u64) -> Self {
        self.jitter = Some(Duration::from_secs(secs));
        self
    }

    /// Answer the stale value when the function takes longer than `ms` (`timeout_ms`).
    pub const fn with_soft_timeout_ms(mut self, ms: u64) -> Self {
        self.soft_timeout = Some(Duration::from_millis(ms));
        self
    }

    /// Wait at most `ms` for another caller's computation of the same key (`wait_ms`).
    pub const fn with_wait_ms(mut self, ms: u64) -> Self {
        self.wait = Duration::from_millis(ms);
        self
    }

    /// Hold the `lock` lease `ms` at a time, extended while the function runs (`lock_lease_ms`).
    pub const fn with_lock_lease_ms(mut self, ms: u64) -> Self {
        self.lease = Duration::from_millis(ms);
        self
    }

    /// Let a function answered with its stale copy go on in the background for at most `ms`
    /// from its start (`hard_timeout_ms`).
    pub const fn with_hard_timeout_ms(mut self, ms: u64) -> Self {
        self.hard_timeout = Some(Duration::from_millis(ms));
        self
    }

    /// Refresh an entry in the background when a hit finds it past `permille` thousandths of
    /// its TTL (`refresh_ahead = 0.8` is 800).
    pub const fn with_refresh_ahead_permille(mut self, permille: u16) -> Self {
        self.refresh_ahead = Some(permille);
        self
    }

    /// Never copy this function's entries into the cache's L1 (`no_l1`).
    pub const fn without_l1(mut self) -> Self {
        self.l1 = false;
        self
    }

    /// Keep copies of this function's entries in the cache's L1 for at most `secs` (`l1_ttl`).
    pub const fn with_l1_ttl(mut self, secs: u64) -> Self {
        self.l1_ttl = Some(Duration::from_secs(secs));
        self
    }

    /// `ttl_with`: each value's TTL is its own.
    pub const fn with_ttl_with(mut self) -> Self {
        self.ttl_with = true;
        self
    }

    /// `none_ttl = secs`: a `None` is stored for `secs`.
    pub const fn with_none_ttl(mut self, secs: u64) -> Self {
        self.none_ttl = Some(Duration::from_secs(secs));
        self
    }

    /// The prefix.
    pub const fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// How long a stored value lives (before jitter).
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The L1's id of the entry of `digest` (at its generation).
    pub(crate) fn entry_id(&self, digest: u128) -> EntryId {
        let head = *self
            .head
            .get_or_init(|| crate::key::head_hash(self.prefix, self.version));
        EntryId::new(head, digest)
    }

    /// The key of the call whose arguments hash to `digest`, in `namespace`, scoped to this
    /// site for coalescing (calls of other sites never share a flight with it).
    pub(crate) fn key(&'static self, namespace: Option<&str>, digest: u128) -> Key {
        Key::new(namespace, self.prefix, self.version, digest).in_scope(self as *const _ as usize)
    }

    /// On a site's first call: warns if another function already uses the same prefix (and
    /// version). Their keys would collide whenever their arguments serialize alike, and each
    /// would read the other's values: a mistake (Spring users know it as SPR-11736) that is
    /// cheap to catch here and costly to find in production.
    pub(crate) fn register(&'static self) {
        if self.registered.load(Ordering::Relaxed) {
            return;
        }
        let mut sites = registered_sites();
        if self.registered.swap(true, Ordering::Relaxed) {
            return;
        }
        // A function and its twins share their prefix by design.
        if let Some(other) = sites.iter().find(|other| {
            other.prefix == self.prefix
                && other.version == self.version
                && !self.same_function(other)
        }) {
            tracing::warn!(
                prefix = self.prefix,
                first = other.function,
                second = self.function,
                "two functions use the same cache prefix: they will read each other's values \
                 when their arguments match; give each its own prefix"
            );
        }
        sites.push(self);
    }

    /// Whether `other` is a site of the same annotated function (the function's own, its
    /// twins' `f_refresh` and `f_json`, a companion's): generated from one attribute, they
    /// share the function's path, where it is defined and the expansion.
    pub(crate) fn same_function(&self, other: &CacheSite) -> bool {
        self.function == other.function
            && self.location == other.location
            && self.expansion == other.expansion
    }

    /// How long a function may go on in the background once its caller has its answer.
    pub(crate) fn hard_timeout(&self) -> Duration {
        self.hard_timeout.unwrap_or(self.wait)
    }

    /// Whether a hit whose entry has `remaining` to live, of `ttl` in full (the site's, or its
    /// value's own: `ttl_with`, `none_ttl`), should refresh it.
    pub(crate) fn refresh_due(&self, remaining: Option<Duration>, ttl: Duration) -> bool {
        match (self.refresh_ahead, remaining) {
            (Some(permille), Some(remaining)) => {
                let fresh_for = ttl.saturating_mul(1000 - u32::from(permille.min(999))) / 1000;
                remaining < fresh_for
            }
            _ => false,
        }
    }

    /// The TTL of one write of a value stored for `ttl`: plus up to `jitter` at random.
    pub(crate) fn jittered(&self, ttl: Duration) -> Duration {
        match self.jitter {
            Some(jitter) if !jitter.is_zero() => {
                ttl + Duration::from_millis(fastrand::u64(0..=jitter.as_millis() as u64))
            }
            _ => ttl,
        }
    }
}
