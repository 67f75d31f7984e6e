//! Checking the attribute against the function, and building the [`Model`] of what to
//! generate: the key arguments (sorted), how the output is cached, and the options. Every
//! error of the signature is gathered and reported at once.

mod batch;
mod detached;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, GenericParam, Ident, LitStr, Pat, Path, ReturnType, Signature, Type};

use crate::attr::{Attr, Returns};
use crate::errors::Errors;
use crate::item::MaybeItemFn;

use self::batch::batch;
pub(crate) use self::batch::Batch;
use self::detached::detachable;
pub(crate) use self::detached::{Detached, DetachedArg};

/// What the expansion needs, checked.
pub(crate) struct Model {
    /// Where the facade is: `::cached_json` unless `crate = "..."` says otherwise.
    pub krate: Path,
    pub prefix: LitStr,
    pub ttl: u64,
    pub version: Option<u32>,
    pub lock: bool,
    pub stale: Option<u64>,
    pub jitter: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub wait_ms: Option<u64>,
    pub lock_lease_ms: Option<u64>,
    pub hard_timeout_ms: Option<u64>,
    /// `refresh_ahead`, in thousandths of the TTL.
    pub refresh_ahead: Option<u16>,
    /// `no_l1`.
    pub no_l1: bool,
    /// `l1_ttl`, in seconds.
    pub l1_ttl: Option<u64>,
    /// `cache_if = path`, `ttl_with = path`, `none_ttl = N`: the value decides whether and for
    /// how long it is stored.
    pub cache_if: Option<Path>,
    pub ttl_with: Option<Path>,
    pub none_ttl: Option<u64>,
    /// `tags(...)`: the templates, `{name}`s written without `r#`.
    pub tags: Vec<String>,
    /// How the body runs detached from its caller (`refresh_ahead`, and `timeout_ms` where the
    /// signature allows): on copies of the arguments.
    pub detached: Option<Detached>,
    /// The key arguments, in the order the function declares them.
    pub key_args: Vec<KeyArg>,
    pub mode: Mode,
    /// `batch`: how the function loads many ids at once.
    pub batch: Option<Batch>,
    /// The return type, as written.
    pub output: Box<Type>,
    /// Where errors about the cached type point: the return type.
    pub output_span: Span,
    /// The function's name, for messages.
    pub function_name: String,
}

/// One argument that is part of the key.
pub(crate) struct KeyArg {
    /// The name in the key: the identifier without `r#`.
    pub name: String,
    pub ident: Ident,
    pub ty: Box<Type>,
}

impl Model {
    /// The key arguments sorted by name: the runtime hashes a JSON object whose members must be
    /// in order.
    pub(crate) fn sorted_key_args(&self) -> Vec<&KeyArg> {
        let mut sorted: Vec<&KeyArg> = self.key_args.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        sorted
    }
}

/// How the body's output is cached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Decided by the compiler from the real return type (`Result`: `Ok`, `Option`: `Some`,
    /// else every value), whatever alias spells it.
    FromType,
    /// Every value is cached (`returns = value`, or `cache_none`).
    Value,
    /// `Ok` is cached (`returns = result`).
    Result,
    /// `Some` is cached (`returns = option`).
    Option,
}

pub(crate) fn validate(attr: &Attr, function: &MaybeItemFn) -> syn::Result<Model> {
    let sig = &function.sig;
    let mut errors = Errors::new();
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span(),
            "#[cached_json] only works on `async fn`: the cache lookup is asynchronous",
        ));
    }
    errors.take(check_generics(sig));
    let key_args = errors.take(key_arguments(sig, &attr.skip));
    // A batch's output is a map of its values: its own check.
    let (mode, batch) = match (attr.batch, &key_args) {
        (None, _) => (errors.take(output_mode(sig, attr)), None),
        (Some(_), Some(key_args)) => (
            Some(Mode::FromType),
            errors.take(batch(attr, sig, key_args)),
        ),
        (Some(_), None) => (None, None),
    };
    let tags = key_args
        .as_ref()
        .and_then(|key_args| errors.take(tag_templates(&attr.tags, key_args, &attr.skip)));
    // `refresh_ahead` always runs the body detached: a signature that cannot be is an error.
    // `timeout_ms` does when it can, and otherwise cancels the body at the soft timeout.
    let detached = match (attr.refresh_ahead, attr.timeout_ms) {
        (Some(_), _) => errors.take(detachable(sig)),
        (None, Some(_)) => detachable(sig).ok(),
        (None, None) => None,
    };
    errors.finish()?;
    // Both are set: an error in either was reported above.
    let (Some(key_args), Some(mode)) = (key_args, mode) else {
        return Err(syn::Error::new(
            sig.ident.span(),
            "#[cached_json]: invalid function",
        ));
    };
    Ok(Model {
        krate: attr
            .krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::cached_json)),
        prefix: attr.prefix.clone(),
        ttl: attr.ttl.0,
        version: attr.version.map(|(version, _)| version),
        lock: attr.lock.is_some(),
        stale: attr.stale.map(|(secs, _)| secs),
        jitter: attr.jitter.map(|(secs, _)| secs),
        timeout_ms: attr.timeout_ms.map(|(ms, _)| ms),
        wait_ms: attr.wait_ms.map(|(ms, _)| ms),
        lock_lease_ms: attr.lock_lease_ms.map(|(ms, _)| ms),
        hard_timeout_ms: attr.hard_timeout_ms.map(|(ms, _)| ms),
        refresh_ahead: attr.refresh_ahead.map(|(permille, _)| permille),
        no_l1: attr.no_l1.is_some(),
        l1_ttl: attr.l1_ttl.map(|(secs, _)| secs),
        cache_if: attr.cache_if.clone(),
        ttl_with: attr.ttl_with.clone(),
        none_ttl: attr.none_ttl.map(|(secs, _)| secs),
        tags: tags.unwrap_or_default(),
        detached,
        key_args,
        mode,
        batch,
        output: match &sig.output {
            ReturnType::Type(_, ty) => ty.clone(),
            ReturnType::Default => Box::new(syn::parse_quote!(())),
        },
        output_span: match &sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => sig.ident.span(),
        },
        function_name: sig.ident.unraw().to_string(),
    })
}

/// The tag templates, each `{name}` checked to be a key argument (a tag is part of what the
/// entry is, so it may only depend on what its key does), written without `r#`.
fn tag_templates(tags: &[LitStr], key_args: &[KeyArg], skip: &[Ident]) -> syn::Result<Vec<String>> {
    let mut errors = Errors::new();
    let mut templates = Vec::new();
    for tag in tags {
        let template = tag.value();
        let names = match crate::attr::tag_names(&template) {
            Ok(names) => names,
            Err(why) => {
                errors.push(syn::Error::new(tag.span(), format!("invalid tag: {why}")));
                continue;
            }
        };
        for name in &names {
            if key_args.iter().any(|arg| arg.name == *name) {
                continue;
            }
            let why = if skip.iter().any(|skipped| skipped.unraw() == *name) {
                "it is skipped (`skip(...)`): a tag may only use what the key holds".to_owned()
            } else {
                let args: Vec<&str> = key_args.iter().map(|arg| arg.name.as_str()).collect();
                match args.is_empty() {
                    true => "this function has no key arguments".to_owned(),
                    false => format!("its key arguments: {}", args.join(", ")),
                }
            };
            errors.push(syn::Error::new(
                tag.span(),
                format!("tag `{template}` uses `{{{name}}}`, which is not a key argument: {why}"),
            ));
        }
        templates.push(template.replace("{r#", "{"));
    }
    errors.finish()?;
    Ok(templates)
}

/// Type and const generics are refused: the key holds the arguments, not the type parameters,
/// so two instantiations would read each other's values.
fn check_generics(sig: &Signature) -> syn::Result<()> {
    let mut errors = Errors::new();
    for param in &sig.generics.params {
        match param {
            GenericParam::Lifetime(_) => {}
            GenericParam::Type(_) | GenericParam::Const(_) => errors.push(syn::Error::new(
                param.span(),
                "#[cached_json] does not support generic functions: the cache key cannot tell \
                 instantiations apart; write a non-generic wrapper for each type you cache",
            )),
        }
    }
    errors.finish()
}

/// The key arguments, in declaration order, after checking every argument and every `skip`
/// name.
fn key_arguments(sig: &Signature, skip: &[Ident]) -> syn::Result<Vec<KeyArg>> {
    let mut errors = Errors::new();
    let mut named: Vec<(Ident, Box<Type>)> = Vec::new();
    for input in &sig.inputs {
        let FnArg::Typed(arg) = input else {
            continue; // `self` in any form: never part of the key.
        };
        if let Some(impl_trait) = find_impl_trait(&arg.ty) {
            errors.push(syn::Error::new(
                impl_trait.span(),
                "#[cached_json] does not support `impl Trait` arguments (they make the function \
                 generic): take a concrete type, e.g. `&str`, `&[T]` or `&MyClient`",
            ));
        }
        match &*arg.pat {
            Pat::Ident(pat) if pat.subpat.is_none() => {
                named.push((pat.ident.clone(), arg.ty.clone()))
            }
            other => errors.push(syn::Error::new(
                other.span(),
                "#[cached_json] needs a plain name for each argument, to put it in the key: \
                 bind it to a name and destructure it inside the function",
            )),
        }
    }
    for name in skip {
        if name == "self" {
            errors.push(syn::Error::new(
                name.span(),
                "`self` is never part of the cache key: no need to skip it",
            ));
        } else if !named.iter().any(|(arg, _)| arg == name) {
            let known: Vec<String> = named.iter().map(|(arg, _)| arg.to_string()).collect();
            errors.push(syn::Error::new(
                name.span(),
                if known.is_empty() {
                    format!("cannot skip `{name}`: this function has no such argument")
                } else {
                    format!(
                        "cannot skip `{name}`: this function has no such argument (its arguments: {})",
                        known.join(", ")
                    )
                },
            ));
        }
    }
    errors.finish()?;
    Ok(named
        .into_iter()
        .filter(|(arg, _)| !skip.contains(arg))
        .map(|(ident, ty)| KeyArg {
            name: ident.unraw().to_string(),
            ident,
            ty,
        })
        .collect())
}

fn find_impl_trait(ty: &Type) -> Option<&Type> {
    match ty {
        Type::ImplTrait(_) => Some(ty),
        Type::Reference(r) => find_impl_trait(&r.elem),
        Type::Paren(p) => find_impl_trait(&p.elem),
        Type::Group(g) => find_impl_trait(&g.elem),
        Type::Slice(s) => find_impl_trait(&s.elem),
        Type::Array(a) => find_impl_trait(&a.elem),
        Type::Ptr(p) => find_impl_trait(&p.elem),
        Type::Tuple(t) => t.elems.iter().find_map(find_impl_trait),
        Type::Path(p) => p
            .path
            .segments
            .iter()
            .find_map(|segment| match &segment.arguments {
                syn::PathArguments::AngleBracketed(generic) => {
                    generic.args.iter().find_map(|arg| match arg {
                        syn::GenericArgument::Type(ty) => find_impl_trait(ty),
                        _ => None,
                    })
                }
                _ => None,
            }),
        _ => None,
    }
}

/// How the output is cached: `returns = ...` if given, else decided from the real return type
/// by the compiler (see the runtime's `mode` module), never from how the type is spelled.
fn output_mode(sig: &Signature, attr: &Attr) -> syn::Result<Mode> {
    let ty = match &sig.output {
        ReturnType::Default => return Err(syn::Error::new(
            sig.ident.span(),
            "#[cached_json] needs a function that returns a value to cache; this one returns `()`",
        )),
        ReturnType::Type(_, ty) => ty,
    };
    if let Some(impl_trait) = find_impl_trait(ty) {
        return Err(syn::Error::new(
            impl_trait.span(),
            "#[cached_json] needs a concrete return type, to read the stored value back as it",
        ));
    }
    // `cache_none` and `none_ttl` store `None` too.
    let caches_none = attr
        .cache_none
        .map(|span| ("cache_none", span))
        .or(attr.none_ttl.map(|(_, span)| ("none_ttl", span)));
    Ok(match (attr.returns, caches_none) {
        (None, None) => Mode::FromType,
        (Some((Returns::Value, _)), None) => Mode::Value,
        (Some((Returns::Result, _)), None) => Mode::Result,
        (Some((Returns::Option, _)), None) => Mode::Option,
        // A cached `None` is stored as JSON `null`: the whole `Option` is the value.
        (Some((Returns::Option, _)), Some(_)) => Mode::Value,
        (None, Some(_)) if last_segment(ty).as_deref() == Some("Option") => Mode::Value,
        (_, Some((option, span))) => {
            return Err(syn::Error::new(
                span,
                format!(
                    "`{option}` applies to functions returning `Option<T>` \
                     (add `returns = option` if it is behind a type alias)"
                ),
            ))
        }
    })
}

fn last_segment(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().map(|s| s.ident.to_string())
        }
        Type::Group(group) => last_segment(&group.elem),
        Type::Paren(paren) => last_segment(&paren.elem),
        _ => None,
    }
}
