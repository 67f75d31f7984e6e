//! The attribute's options: `#[cached_json("prefix", ttl = N, ...)]` parsed into an [`Attr`],
//! one small parser per kind of option. Only the attribute's own rules are checked here; what
//! depends on the function (skipped names, the return type) is [`crate::valid`]'s.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token};

use crate::errors::Errors;

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
}

const USAGE: &str = "expected `#[cached_json(\"prefix\", ttl = SECONDS)]`";
const OPTIONS: &str = "`ttl = SECONDS`, `skip(arg, ...)`, `version = N`, `returns = value | result | option`, `cache_none`, `lock`, `lock_lease_ms = MILLISECONDS`, `wait_ms = MILLISECONDS`, `stale = SECONDS`, `jitter = SECONDS`, `timeout_ms = MILLISECONDS`, `hard_timeout_ms = MILLISECONDS`, `refresh_ahead = SHARE`, `no_l1`, `l1_ttl = SECONDS`, `crate = \"path\"`";

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
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            if input.peek(LitStr) {
                return Err(input.error("the cache prefix is given once, as the first argument"));
            }
            let name = input.call(Ident::parse_any).map_err(|err| {
                syn::Error::new(err.span(), format!("expected an option: {OPTIONS}"))
            })?;
            let option = name.to_string();
            let duplicate = syn::Error::new(name.span(), format!("`{name}` is given twice"));
            let given_twice = match option.as_str() {
                "ttl" => integer(
                    input,
                    &mut errors,
                    &name,
                    "seconds, e.g. `ttl = 60`",
                    &mut ttl,
                )?,
                "version" => integer(
                    input,
                    &mut errors,
                    &name,
                    "a key version, e.g. `version = 2`",
                    &mut version,
                )?,
                "stale" => integer(
                    input,
                    &mut errors,
                    &name,
                    "seconds the last good value is kept past its TTL, e.g. `stale = 3600`",
                    &mut stale,
                )?,
                "jitter" => integer(
                    input,
                    &mut errors,
                    &name,
                    "the most seconds added at random to each TTL, e.g. `jitter = 30`",
                    &mut jitter,
                )?,
                "timeout_ms" => integer(
                    input,
                    &mut errors,
                    &name,
                    "milliseconds after which the stale value answers, e.g. `timeout_ms = 500`",
                    &mut timeout_ms,
                )?,
                "wait_ms" => integer(
                    input,
                    &mut errors,
                    &name,
                    "the most milliseconds a caller waits for another's computation of the same key, e.g. `wait_ms = 3000`",
                    &mut wait_ms,
                )?,
                "lock_lease_ms" => integer(
                    input,
                    &mut errors,
                    &name,
                    "milliseconds the `lock` lease lasts between extensions, e.g. `lock_lease_ms = 2000`",
                    &mut lock_lease_ms,
                )?,
                "hard_timeout_ms" => integer(
                    input,
                    &mut errors,
                    &name,
                    "the most milliseconds a function answered by its stale copy goes on in the background, e.g. `hard_timeout_ms = 10000`",
                    &mut hard_timeout_ms,
                )?,
                "l1_ttl" => integer(
                    input,
                    &mut errors,
                    &name,
                    "the most seconds a copy lives in the cache's L1, e.g. `l1_ttl = 5`",
                    &mut l1_ttl,
                )?,
                "no_l1" => set_once(&mut no_l1, Some(name.span())),
                "refresh_ahead" => set_once(&mut refresh_ahead, parse_share(input, &mut errors)?),
                "skip" => set_once(&mut skip, parse_skip(input, &name)?),
                "returns" => set_once(&mut returns, parse_returns(input, &mut errors)?),
                "lock" => set_once(&mut lock, Some(name.span())),
                "cache_none" => set_once(&mut cache_none, Some(name.span())),
                "crate" => set_once(&mut krate, parse_crate(input, &mut errors)?),
                _ => {
                    errors.push(syn::Error::new(
                        name.span(),
                        format!("unknown option `{name}`; the options are {OPTIONS}"),
                    ));
                    // Skip its value, to go on checking the options after it.
                    while !input.is_empty() && !input.peek(Token![,]) {
                        input.parse::<proc_macro2::TokenTree>()?;
                    }
                    false
                }
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
        })
    }
}

/// Stores `value` in an empty `slot`; returns whether the slot was already set.
fn set_once<T>(slot: &mut Option<T>, value: T) -> bool {
    if slot.is_some() {
        return true;
    }
    *slot = Some(value);
    false
}

/// `name = <positive integer literal>` into `slot` (`Some(None)` when given but invalid: its
/// error is reported, and the option is not also reported missing); returns whether it was
/// given before.
fn integer<T: TryFrom<u64>>(
    input: ParseStream,
    errors: &mut Errors,
    name: &Ident,
    what: &str,
    slot: &mut Option<Option<Spanned<T>>>,
) -> syn::Result<bool> {
    input.parse::<Token![=]>()?;
    let expr: Expr = input.parse()?;
    let value = errors.take(positive_integer(&expr, &name.to_string(), what));
    Ok(set_once(slot, value))
}

fn positive_integer<T: TryFrom<u64>>(
    expr: &Expr,
    option: &str,
    what: &str,
) -> syn::Result<Spanned<T>> {
    let span = expr.span();
    let not_integer = || {
        syn::Error::new(
            span,
            format!("`{option}` must be a positive integer literal: {what}"),
        )
    };
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => {
            let value: u64 = int.base10_parse().map_err(|_| not_integer())?;
            if value == 0 {
                return Err(syn::Error::new(
                    span,
                    format!("`{option}` must be at least 1: {what}"),
                ));
            }
            let value = T::try_from(value)
                .map_err(|_| syn::Error::new(span, format!("`{option}` is too large: {what}")))?;
            Ok((value, span))
        }
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => Err(syn::Error::new(
            span,
            format!("`{option}` must be positive: {what}"),
        )),
        _ => Err(not_integer()),
    }
}

/// `refresh_ahead = 0.8`: a share of the TTL, strictly between 0 and 1, in thousandths.
fn parse_share(input: ParseStream, errors: &mut Errors) -> syn::Result<Option<Spanned<u16>>> {
    input.parse::<Token![=]>()?;
    let expr: Expr = input.parse()?;
    let span = expr.span();
    let share = match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) => float.base10_parse::<f64>().ok(),
        _ => None,
    };
    match share {
        Some(share) if share > 0.0 && share < 1.0 => {
            let permille = (share * 1000.0).round().clamp(1.0, 999.0) as u16;
            Ok(Some((permille, span)))
        }
        _ => {
            errors.push(syn::Error::new(
                span,
                "`refresh_ahead` must be a share of the TTL between 0 and 1, e.g. \
                 `refresh_ahead = 0.8`: a hit past 80% of the entry's life refreshes it",
            ));
            Ok(None)
        }
    }
}

/// `skip(a, b)`.
fn parse_skip(input: ParseStream, name: &Ident) -> syn::Result<Option<Vec<Ident>>> {
    let content;
    syn::parenthesized!(content in input);
    let names = content.parse_terminated(Ident::parse_any, Token![,])?;
    if names.is_empty() {
        return Err(syn::Error::new(
            name.span(),
            "`skip(...)` needs the names of the arguments to leave out of the key",
        ));
    }
    Ok(Some(names.into_iter().collect()))
}

/// `returns = value | result | option`.
fn parse_returns(input: ParseStream, errors: &mut Errors) -> syn::Result<Option<Spanned<Returns>>> {
    input.parse::<Token![=]>()?;
    let kind: Ident = input.call(Ident::parse_any)?;
    let returns = match kind.to_string().as_str() {
        "value" => Returns::Value,
        "result" => Returns::Result,
        "option" => Returns::Option,
        _ => {
            errors.push(syn::Error::new(
                kind.span(),
                "`returns` must be `value` (cache every value), `result` (cache `Ok`) or `option` (cache `Some`)",
            ));
            return Ok(None);
        }
    };
    Ok(Some((returns, kind.span())))
}

/// `crate = "path::to::cached_json"`.
fn parse_crate(input: ParseStream, errors: &mut Errors) -> syn::Result<Option<Path>> {
    input.parse::<Token![=]>()?;
    let path: LitStr = input.parse()?;
    Ok(errors.take(path.parse::<Path>().map_err(|_| {
        syn::Error::new(
            path.span(),
            "`crate` must be the path the `cached-json` crate is reachable at, e.g. `crate = \"cj\"` or `crate = \"my_platform::cache\"`",
        )
    })))
}

/// The prefix is one segment of the key's grammar, `[namespace:]prefix[:vN]:hash`: no `:` in
/// it, and not of the form `v<digits>`, so that a key reads one way only (a prefix `a:v2`
/// would collide with prefix `a` at version 2, and a prefix `shop:users` with prefix `users`
/// under namespace `shop`). Other characters that would make it awkward in `redis-cli` or in
/// `SCAN MATCH prefix:*` patterns are refused too.
fn check_prefix(prefix: &LitStr) -> syn::Result<()> {
    let value = prefix.value();
    if value.trim().is_empty() {
        return Err(syn::Error::new(
            prefix.span(),
            "the cache prefix must not be empty: it names this function's keys, e.g. \"users\"",
        ));
    }
    if value.contains(':') {
        return Err(syn::Error::new(
            prefix.span(),
            format!(
                "the cache prefix must not contain `:`, which separates the parts of a key \
                 (`[namespace:]prefix[:vN]:hash`); write it with `-`, `_`, `.` or `/`, e.g. {:?}",
                value.replace(':', ".")
            ),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
    {
        return Err(syn::Error::new(
            prefix.span(),
            format!(
                "the cache prefix may only use ASCII letters, digits and `-_./`; found {bad:?}"
            ),
        ));
    }
    if value.len() > 1 && value.starts_with('v') && value[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(syn::Error::new(
            prefix.span(),
            format!(
                "the cache prefix must not look like a key version (`{value}`): keys would read \
                 as another function's at that version; name what is cached, e.g. \"users\""
            ),
        ));
    }
    Ok(())
}
