//! The attribute's options: `#[cached_json("prefix", ttl = N, ...)]` parsed into an [`Attr`],
//! one small parser per kind of option. Only the attribute's own rules are checked here; what
//! depends on the function (skipped names, the return type) is [`crate::valid`]'s.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Path, Token};

use crate::errors::Errors;

mod value;

pub(crate) use value::tag_names;

use value::{
    check_prefix, integer, parse_crate, parse_function, parse_returns, parse_share, parse_skip,
    parse_tags, set_once,
};

/// How the function's output is cached, when `returns = ...` says it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returns {
    /// Every value is cached.
    Value,
    /// `Result<T, E>`: only `Ok` is cached.
    Result,
    /// `Option<T>`: only `Some` is cached.
    Option,
}

/// A number the user wrote, with where they wrote it.
pub(crate) type Spanned<T> = (T, Span);

/// The attribute's options, each as written.
pub(crate) struct Attr {
    pub prefix: LitStr,
    pub ttl: Spanned<u64>,
    pub skip: Vec<Ident>,
    pub version: Option<Spanned<u32>>,
    pub returns: Option<Spanned<Returns>>,
    /// `cache_none`: `None` is cached too.
    pub cache_none: Option<Span>,
    /// `lock`: one process of many computes a cold key.
    pub lock: Option<Span>,
    /// `stale = N`: keep the last good value N seconds past its TTL, for failures.
    pub stale: Option<Spanned<u64>>,
    /// `jitter = N`: add up to N random seconds to each TTL.
    pub jitter: Option<Spanned<u64>>,
    /// `timeout_ms = N`: answer the stale value when the function takes longer.
    pub timeout_ms: Option<Spanned<u64>>,
    /// `wait_ms = N`: how long a caller waits for another's computation of the same key.
    pub wait_ms: Option<Spanned<u64>>,
    /// `lock_lease_ms = N`: the `lock` lease, extended while the function runs.
    pub lock_lease_ms: Option<Spanned<u64>>,
    /// `hard_timeout_ms = N`: how long a function answered by its stale copy goes on.
    pub hard_timeout_ms: Option<Spanned<u64>>,
    /// `refresh_ahead = 0.8`: the share of the TTL past which a hit refreshes, in thousandths.
    pub refresh_ahead: Option<Spanned<u16>>,
    /// `no_l1`: never copied into the cache's in-process L1.
    pub no_l1: Option<Span>,
    /// `l1_ttl = N`: the longest life of a copy in the L1, in seconds.
    pub l1_ttl: Option<Spanned<u64>>,
    /// `crate = "path"`: where the facade is, when it is renamed or re-exported.
    pub krate: Option<Path>,
    /// `cache_if = path`: whether a value is stored.
    pub cache_if: Option<Path>,
    /// `ttl_with = path`: a value's own TTL.
    pub ttl_with: Option<Path>,
    /// `none_ttl = N`: `None` is cached for N seconds.
    pub none_ttl: Option<Spanned<u64>>,
    /// `tags("catalog", "seller:{seller_id}")`: the tags its entries carry, as written.
    pub tags: Vec<LitStr>,
    /// `batch`: the function loads many ids at once, each its own entry.
    pub batch: Option<Span>,
}

const USAGE: &str = "expected `#[cached_json(\"prefix\", ttl = SECONDS)]`";
/// Declares the options: a keyword for each (`syn::custom_keyword!`), the [`Opt`] naming it,
/// the parser that reads one at the cursor, and [`OPTIONS`], the list every "unknown option"
/// error shows, so that the list and the parser cannot drift apart (and a match on [`Opt`]
/// must handle every option declared).
macro_rules! options {
    ($($name:ident: $usage:literal),* $(,)?) => {
        mod kw {
            $(syn::custom_keyword!($name);)*
        }

        /// One of the attribute's options (`crate` is Rust's own keyword).
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        enum Opt {
            $($name,)*
            Crate,
        }

        impl Opt {
            /// The option as written.
            fn name(self) -> &'static str {
                match self {
                    $(Opt::$name => stringify!($name),)*
                    Opt::Crate => "crate",
                }
            }
        }

        /// Every option, as written with its value.
        const OPTIONS: &str = concat!($("`", $usage, "`, ",)* "`crate = \"path\"`");

        /// The option named at the cursor, and where; `None` (nothing consumed) if the cursor
        /// names none.
        fn option(input: ParseStream) -> syn::Result<Option<(Opt, Span)>> {
            $(if input.peek(kw::$name) {
                let keyword: kw::$name = input.parse()?;
                return Ok(Some((Opt::$name, keyword.span)));
            })*
            if input.peek(Token![crate]) {
                let keyword: Token![crate] = input.parse()?;
                return Ok(Some((Opt::Crate, keyword.span)));
            }
            Ok(None)
        }
    };
}

options! {
    ttl: "ttl = SECONDS",
    skip: "skip(arg, ...)",
    version: "version = N",
    returns: "returns = value | result | option",
    cache_none: "cache_none",
    lock: "lock",
    lock_lease_ms: "lock_lease_ms = MILLISECONDS",
    wait_ms: "wait_ms = MILLISECONDS",
    stale: "stale = SECONDS",
    jitter: "jitter = SECONDS",
    timeout_ms: "timeout_ms = MILLISECONDS",
    hard_timeout_ms: "hard_timeout_ms = MILLISECONDS",
    refresh_ahead: "refresh_ahead = SHARE",
    no_l1: "no_l1",
    l1_ttl: "l1_ttl = SECONDS",
    cache_if: "cache_if = path::to::fn",
    ttl_with: "ttl_with = path::to::fn",
    none_ttl: "none_ttl = SECONDS",
    tags: "tags(\"tag\", \"tag:{arg}\", ...)",
    batch: "batch",
}

impl Parse for Attr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                format!("missing cache prefix and ttl: {USAGE}"),
            ));
        }
        if !input.peek(LitStr) {
            return Err(input.error(format!(
                "the first argument must be the cache prefix, a string literal: {USAGE}"
            )));
        }
        let mut errors = Errors::new();
        let prefix: LitStr = input.parse()?;
        errors.take(check_prefix(&prefix));

        let mut ttl = None;
        let mut skip = None::<Option<Vec<Ident>>>;
        let mut version = None;
        let mut returns = None;
        let mut cache_none = None;
        let mut lock = None;
        let mut stale = None;
        let mut jitter = None;
        let mut timeout_ms = None;
        let mut wait_ms = None;
        let mut lock_lease_ms = None;
        let mut hard_timeout_ms = None;
        let mut refresh_ahead = None;
        let mut no_l1 = None;
        let mut l1_ttl = None;
        let mut krate = None;
        let mut cache_if = None;
        let mut ttl_with = None;
        let mut none_ttl = None;
        let mut tags = None;
        let mut batch = None;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            if input.peek(LitStr) {
                return Err(input.error("the cache prefix is given once, as the first argument"));
            }
            let Some((option, span)) = option(input)? else {
                let unknown = input.call(Ident::parse_any).map_err(|err| {
                    syn::Error::new(err.span(), format!("expected an option: {OPTIONS}"))
                })?;
                errors.push(syn::Error::new(
                    unknown.span(),
                    format!("unknown option `{unknown}`; the options are {OPTIONS}"),
                ));
                // Skip its value, to go on checking the options after it.
                while !input.is_empty() && !input.peek(Token![,]) {
                    input.parse::<proc_macro2::TokenTree>()?;
                }
                continue;
            };
            let name = option.name();
            let duplicate = syn::Error::new(span, format!("`{name}` is given twice"));
            // `name = <positive integer>` (`what` it is, for its errors) into `slot`.
            macro_rules! integer {
                ($what:expr, $slot:expr) => {
                    integer(input, &mut errors, name, $what, $slot)?
                };
            }
            let given_twice = match option {
                Opt::ttl => integer!("seconds, e.g. `ttl = 60`", &mut ttl),
                Opt::version => integer!("a key version, e.g. `version = 2`", &mut version),
                Opt::stale => integer!("seconds the last good value is kept past its TTL, e.g. `stale = 3600`", &mut stale),
                Opt::jitter => integer!("the most seconds added at random to each TTL, e.g. `jitter = 30`", &mut jitter),
                Opt::timeout_ms => integer!("milliseconds after which the stale value answers, e.g. `timeout_ms = 500`", &mut timeout_ms),
                Opt::wait_ms => integer!("the most milliseconds a caller waits for another's computation of the same key, e.g. `wait_ms = 3000`", &mut wait_ms),
                Opt::lock_lease_ms => integer!("milliseconds the `lock` lease lasts between extensions, e.g. `lock_lease_ms = 2000`", &mut lock_lease_ms),
                Opt::hard_timeout_ms => integer!("the most milliseconds a function answered by its stale copy goes on in the background, e.g. `hard_timeout_ms = 10000`", &mut hard_timeout_ms),
                Opt::l1_ttl => integer!("the most seconds a copy lives in the cache's L1, e.g. `l1_ttl = 5`", &mut l1_ttl),
                Opt::no_l1 => set_once(&mut no_l1, Some(span)),
                Opt::refresh_ahead => set_once(&mut refresh_ahead, parse_share(input, &mut errors)?),
                Opt::skip => set_once(&mut skip, parse_skip(input, span)?),
                Opt::returns => set_once(&mut returns, parse_returns(input, &mut errors)?),
                Opt::lock => set_once(&mut lock, Some(span)),
                Opt::cache_none => set_once(&mut cache_none, Some(span)),
                Opt::Crate => set_once(&mut krate, parse_crate(input, &mut errors)?),
                Opt::cache_if => set_once(
                    &mut cache_if,
                    parse_function(input, name, "`fn(&V) -> bool`, false for a value not to store")?,
                ),
                Opt::ttl_with => set_once(
                    &mut ttl_with,
                    parse_function(input, name, "`fn(&V) -> std::time::Duration`, the value's TTL")?,
                ),
                Opt::tags => set_once(&mut tags, parse_tags(input, span)?),
                Opt::batch => set_once(&mut batch, Some(span)),
                Opt::none_ttl => integer!(
                    "seconds a `None` is cached, e.g. `none_ttl = 30`",
                    &mut none_ttl
                ),
            };
            if given_twice {
                errors.push(duplicate);
            }
        }
        if ttl.is_none() {
            errors.push(syn::Error::new(
                Span::call_site(),
                format!("missing `ttl = SECONDS`: {USAGE}"),
            ));
        }
        if let (Some(Some((_, span))), None) = (lock_lease_ms, lock) {
            errors.push(syn::Error::new(
                span,
                "`lock_lease_ms` needs `lock`: it is the lease of the lock across processes",
            ));
        }
        if let (Some(Some((_, span))), None) = (hard_timeout_ms, timeout_ms) {
            errors.push(syn::Error::new(
                span,
                "`hard_timeout_ms` needs `timeout_ms`: it bounds the background run of a function \
                 the stale value answered for",
            ));
        }
        if let (Some(Some((_, span))), None) = (timeout_ms, stale) {
            errors.push(syn::Error::new(
                span,
                "`timeout_ms` needs `stale = SECONDS`: without a last good value there is \
                 nothing to answer instead of waiting for the function",
            ));
        }
        if let (Some(Some((_, span))), Some(_)) = (none_ttl, cache_none) {
            errors.push(syn::Error::new(
                span,
                "`none_ttl` with `cache_none`: give one (`cache_none` caches `None` for `ttl`, \
                 `none_ttl = N` for N seconds)",
            ));
        }
        if let (Some(Some((_, span))), Some(_)) = (l1_ttl, no_l1) {
            errors.push(syn::Error::new(
                span,
                "`l1_ttl` with `no_l1`: a function kept out of the L1 has no copies to limit",
            ));
        }
        if let (Some(Some((l1_secs, span))), Some(Some((ttl_secs, _)))) = (l1_ttl, ttl) {
            if l1_secs >= ttl_secs {
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "`l1_ttl = {l1_secs}` is not shorter than `ttl = {ttl_secs}`: copies never \
                         outlive the entry, so it would change nothing"
                    ),
                ));
            }
        }
        errors.finish()?;
        Ok(Attr {
            prefix,
            ttl: ttl.flatten().unwrap_or((0, Span::call_site())),
            skip: skip.flatten().unwrap_or_default(),
            version: version.flatten(),
            returns: returns.flatten(),
            cache_none: cache_none.flatten(),
            lock: lock.flatten(),
            stale: stale.flatten(),
            jitter: jitter.flatten(),
            timeout_ms: timeout_ms.flatten(),
            wait_ms: wait_ms.flatten(),
            lock_lease_ms: lock_lease_ms.flatten(),
            hard_timeout_ms: hard_timeout_ms.flatten(),
            refresh_ahead: refresh_ahead.flatten(),
            no_l1: no_l1.flatten(),
            l1_ttl: l1_ttl.flatten(),
            krate: krate.flatten(),
            cache_if: cache_if.flatten(),
            ttl_with: ttl_with.flatten(),
            none_ttl: none_ttl.flatten(),
            tags: tags.flatten().unwrap_or_default(),
            batch: batch.flatten(),
        })
    }
}
