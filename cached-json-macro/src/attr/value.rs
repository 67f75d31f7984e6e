//! One small parser per kind of option value, and the prefix's rules.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token};

use super::{Returns, Spanned};
use crate::errors::Errors;

/// Stores `value` in an empty `slot`; returns whether the slot was already set.
pub(super) fn set_once<T>(slot: &mut Option<T>, value: T) -> bool {
    if slot.is_some() {
        return true;
    }
    *slot = Some(value);
    false
}

/// `name = <positive integer literal>` into `slot` (`Some(None)` when given but invalid: its
/// error is reported, and the option is not also reported missing); returns whether it was
/// given before.
pub(super) fn integer<T: TryFrom<u64>>(
    input: ParseStream,
    errors: &mut Errors,
    name: &str,
    what: &str,
    slot: &mut Option<Option<Spanned<T>>>,
) -> syn::Result<bool> {
    input.parse::<Token![=]>()?;
    let expr: Expr = input.parse()?;
    let value = errors.take(positive_integer(&expr, name, what));
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
pub(super) fn parse_share(
    input: ParseStream,
    errors: &mut Errors,
) -> syn::Result<Option<Spanned<u16>>> {
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
pub(super) fn parse_skip(input: ParseStream, name: Span) -> syn::Result<Option<Vec<Ident>>> {
    let content;
    syn::parenthesized!(content in input);
    let names = content.parse_terminated(Ident::parse_any, Token![,])?;
    if names.is_empty() {
        return Err(syn::Error::new(
            name,
            "`skip(...)` needs the names of the arguments to leave out of the key",
        ));
    }
    Ok(Some(names.into_iter().collect()))
}

/// `tags("catalog", "seller:{seller_id}")`: string literals, each checked on its own (its
/// `{name}`s against the key arguments later, in `valid`).
pub(super) fn parse_tags(input: ParseStream, name: Span) -> syn::Result<Option<Vec<LitStr>>> {
    let content;
    syn::parenthesized!(content in input);
    let tags = content.parse_terminated(|input| input.parse::<LitStr>(), Token![,])?;
    if tags.is_empty() {
        return Err(syn::Error::new(
            name,
            "`tags(...)` needs at least one tag, e.g. `tags(\"catalog\", \"seller:{seller_id}\")`",
        ));
    }
    Ok(Some(tags.into_iter().collect()))
}

/// The argument names a tag template uses (`{name}`; `{{` and `}}` are braces), or what is
/// wrong with it.
pub(crate) fn tag_names(template: &str) -> Result<Vec<String>, String> {
    if template.is_empty() {
        return Err("a tag cannot be empty".into());
    }
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            rest = &tail[2..];
        } else if tail.starts_with('}') {
            return Err("a `}` without its `{` (write `}}` for a brace)".into());
        } else {
            let end = tail
                .find('}')
                .ok_or("a `{` without its `}` (write `{{` for a brace)")?;
            let name = &tail[1..end];
            if name.is_empty() || syn::parse_str::<Ident>(name).is_err() {
                return Err(format!(
                    "`{{{name}}}` is not an argument name: write `{{argument}}`"
                ));
            }
            names.push(name.trim_start_matches("r#").to_owned());
            rest = &tail[end + 1..];
        }
    }
    Ok(names)
}

/// `returns = value | result | option`.
pub(super) fn parse_returns(
    input: ParseStream,
    errors: &mut Errors,
) -> syn::Result<Option<Spanned<Returns>>> {
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
pub(super) fn parse_crate(input: ParseStream, errors: &mut Errors) -> syn::Result<Option<Path>> {
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
pub(super) fn check_prefix(prefix: &LitStr) -> syn::Result<()> {
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

/// `cache_if = path`, `ttl_with = path`: a function, by its path (`Self::` included); `what`
/// it must be, for the error.
pub(super) fn parse_function(
    input: ParseStream,
    name: &str,
    what: &str,
) -> syn::Result<Option<Path>> {
    input.parse::<Token![=]>()?;
    input.parse::<Path>().map(Some).map_err(|err| {
        syn::Error::new(
            err.span(),
            format!("`{name}` must name a function, e.g. `{name} = my_fn` or `{name} = Self::my_fn` (not a closure): {what}"),
        )
    })
}
