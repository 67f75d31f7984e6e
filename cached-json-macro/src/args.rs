//! Parsing `#[cached_json("prefix", ttl = N, ...)]` into [`CacheArgs`].

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Token};

/// How the function's output is cached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returns {
    /// Every value is cached.
    Value,
    /// `Result<T, E>`: only `Ok` is cached.
    Result,
    /// `Option<T>`: only `Some` is cached.
    Option,
}

/// The attribute's arguments, checked.
pub(crate) struct CacheArgs {
    pub prefix: LitStr,
    pub ttl: u64,
    pub skip: Vec<Ident>,
    pub version: Option<u32>,
    /// Set by `returns = ...`; otherwise read off the return type.
    pub returns: Option<(Returns, Span)>,
    /// Set by `cache_none`: `None` is cached too.
    pub cache_none: Option<Span>,
    /// `lock`: one process of many computes a cold key.
    pub lock: bool,
    /// `stale = N`: keep the last good value N seconds past its TTL, for failures.
    pub stale: Option<u64>,
    /// `jitter = N`: add up to N random seconds to each TTL.
    pub jitter: Option<u64>,
    /// `timeout_ms = N`: answer the stale value when the function takes longer.
    pub timeout_ms: Option<u64>,
}

const USAGE: &str = "expected `#[cached_json(\"prefix\", ttl = SECONDS)]`";
const OPTIONS: &str = "`ttl = SECONDS`, `skip(arg, ...)`, `version = N`, `returns = value | result | option`, `cache_none`, `lock`, `stale = SECONDS`, `jitter = SECONDS`, `timeout_ms = MILLISECONDS`";

impl Parse for CacheArgs {
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
        let prefix: LitStr = input.parse()?;
        check_prefix(&prefix)?;

        let mut ttl = None;
        let mut skip = None::<Vec<Ident>>;
        let mut version = None;
        let mut returns = None;
        let mut cache_none = None;
        let mut lock = None::<Span>;
        let mut stale = None;
        let mut jitter = None;
        let mut timeout_ms = None;
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
            let duplicate = || syn::Error::new(name.span(), format!("`{name}` is given twice"));
            match name.to_string().as_str() {
                "ttl" => integer_option(input, &name, &mut ttl, "seconds, e.g. `ttl = 60`")?,
                "version" => integer_option(
                    input,
                    &name,
                    &mut version,
                    "a key version, e.g. `version = 2`",
                )?,
                "skip" => {
                    if skip.is_some() {
                        return Err(duplicate());
                    }
                    let content;
                    syn::parenthesized!(content in input);
                    let names = content.parse_terminated(Ident::parse_any, Token![,])?;
                    if names.is_empty() {
                        return Err(syn::Error::new(
                            name.span(),
                            "`skip(...)` needs the names of the arguments to leave out of the key",
                        ));
                    }
                    skip = Some(names.into_iter().collect());
                }
                "returns" => {
                    if returns.is_some() {
                        return Err(duplicate());
                    }
                    input.parse::<Token![=]>()?;
                    let kind: Ident = input.call(Ident::parse_any)?;
                    let parsed = match kind.to_string().as_str() {
                        "value" => Returns::Value,
                        "result" => Returns::Result,
                        "option" => Returns::Option,
                        _ => {
                            return Err(syn::Error::new(
                                kind.span(),
                                "`returns` must be `value` (cache every value), `result` (cache `Ok`) or `option` (cache `Some`)",
                            ))
                        }
                    };
                    returns = Some((parsed, kind.span()));
                }
                "lock" => {
                    if lock.is_some() {
                        return Err(duplicate());
                    }
                    lock = Some(name.span());
                }
                "stale" => integer_option(
                    input,
                    &name,
                    &mut stale,
                    "seconds the last good value is kept past its TTL, e.g. `stale = 3600`",
                )?,
                "jitter" => integer_option(
                    input,
                    &name,
                    &mut jitter,
                    "the most seconds added at random to each TTL, e.g. `jitter = 30`",
                )?,
                "timeout_ms" => integer_option(
                    input,
                    &name,
                    &mut timeout_ms,
                    "milliseconds after which the stale value answers, e.g. `timeout_ms = 500`",
                )?,
                "cache_none" => {
                    if cache_none.is_some() {
                        return Err(duplicate());
                    }
                    cache_none = Some(name.span());
                }
                _ => {
                    return Err(syn::Error::new(
                        name.span(),
                        format!("unknown option `{name}`; the options are {OPTIONS}"),
                    ))
                }
            }
        }
        let Some((ttl, _)) = ttl else {
            return Err(syn::Error::new(
                Span::call_site(),
                format!("missing `ttl = SECONDS`: {USAGE}"),
            ));
        };
        let version = match version {
            Some((value, span)) => Some(
                u32::try_from(value)
                    .map_err(|_| syn::Error::new(span, "version must fit in a u32"))?,
            ),
            None => None,
        };
        if let (Some((_, span)), None) = (timeout_ms, stale) {
            return Err(syn::Error::new(
                span,
                "`timeout_ms` needs `stale = SECONDS`: without a last good value there is \
                 nothing to answer instead of waiting for the function",
            ));
        }
        Ok(CacheArgs {
            prefix,
            ttl,
            skip: skip.unwrap_or_default(),
            version,
            returns,
            cache_none,
            lock: lock.is_some(),
            stale: stale.map(|(secs, _)| secs),
            jitter: jitter.map(|(secs, _)| secs),
            timeout_ms: timeout_ms.map(|(ms, _)| ms),
        })
    }
}

/// Characters that would make a prefix awkward in `redis-cli`, in `SCAN MATCH prefix:*`
/// patterns, or ambiguous next to the `:` separators.
fn check_prefix(prefix: &LitStr) -> syn::Result<()> {
    let value = prefix.value();
    if value.trim().is_empty() {
        return Err(syn::Error::new(
            prefix.span(),
            "the cache prefix must not be empty: it names this function's keys, e.g. \"users\"",
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':')))
    {
        return Err(syn::Error::new(
            prefix.span(),
            format!(
                "the cache prefix may only use ASCII letters, digits and `-_./:`; found {bad:?}"
            ),
        ));
    }
    Ok(())
}

/// `name = <positive integer>`, given at most once, into `slot`.
fn integer_option(
    input: ParseStream,
    name: &Ident,
    slot: &mut Option<(u64, Span)>,
    what: &str,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            name.span(),
            format!("`{name}` is given twice"),
        ));
    }
    input.parse::<Token![=]>()?;
    *slot = Some(positive_integer(input, &name.to_string(), what)?);
    Ok(())
}

fn positive_integer(input: ParseStream, option: &str, what: &str) -> syn::Result<(u64, Span)> {
    let expr: Expr = input.parse()?;
    let span = expr.span();
    let not_integer = || {
        syn::Error::new(
            span,
            format!("`{option}` must be a positive integer literal: {what}"),
        )
    };
    match &expr {
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
            Ok((value, span))
        }
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => Err(syn::Error::new(
            span,
            format!("`{option}` must be positive: {what}"),
        )),
        _ => Err(not_integer()),
    }
}
