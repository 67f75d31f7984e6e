//! Checking the annotated function and generating its cache-aside body.
//!
//! The generated code is small on purpose: a static [`CacheSite`], one `Call::arg` per key
//! argument, and the original body run through `Call::{value, result, option}`. Every item is
//! named through `::cached_json::__private`, and the generated locals use mixed-site hygiene,
//! so that a user's argument named `call` or `key` cannot clash with them.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericParam, Ident, ItemFn, Pat, ReturnType, Type};

use crate::args::{CacheArgs, Returns};

pub(crate) fn expand(args: CacheArgs, function: ItemFn) -> syn::Result<TokenStream> {
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            "#[cached_json] only works on `async fn`: the cache lookup is asynchronous",
        ));
    }
    check_generics(&function)?;
    let key_args = key_arguments(&function, &args.skip)?;
    let mode = output_mode(sig, &args)?;

    let CacheArgs {
        prefix,
        ttl,
        version,
        lock,
        stale,
        jitter,
        timeout_ms,
        ..
    } = &args;
    let version = match version {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    };
    let function_name = sig.ident.unraw().to_string();
    let mut options =
        quote!(.with_function(::core::concat!(::core::module_path!(), "::", #function_name)));
    if *lock {
        options.extend(quote!(.with_lock()));
    }
    if let Some(secs) = stale {
        options.extend(quote!(.with_stale(#secs)));
    }
    if let Some(secs) = jitter {
        options.extend(quote!(.with_jitter(#secs)));
    }
    if let Some(ms) = timeout_ms {
        options.extend(quote!(.with_soft_timeout_ms(#ms)));
    }
    let site = Ident::new("__CACHED_JSON_SITE", Span::mixed_site());
    let call = Ident::new("__cached_json_call", Span::mixed_site());
    let cached = Ident::new("__cached_json_future", Span::mixed_site());
    let arg_calls = key_args.iter().map(|(name, ident)| {
        // Spanned at the argument, so that "not Serialize" errors point at it.
        quote_spanned!(ident.span()=> #call.arg(#name, &#ident);)
    });
    // Spanned at the return type, so that "not Deserialize" errors point at it.
    let output_span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.ident.span(),
    };
    let mode = Ident::new(mode, output_span);

    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            static #site: ::cached_json::__private::CacheSite =
                ::cached_json::__private::CacheSite::new(#prefix, #ttl, #version)#options;
            // In a block: the call (and its key hasher) is gone before the await, so that it
            // takes no room in the function's future.
            let #cached = {
                let mut #call = ::cached_json::__private::Call::new(&#site);
                #(#arg_calls)*
                #call.#mode(async move #block)
            };
            #cached.await
        }
    })
}

/// Type and const generics are refused: the key holds the arguments, not the type parameters,
/// so two instantiations would read each other's values.
fn check_generics(function: &ItemFn) -> syn::Result<()> {
    for param in &function.sig.generics.params {
        match param {
            GenericParam::Lifetime(_) => {}
            GenericParam::Type(_) | GenericParam::Const(_) => {
                return Err(syn::Error::new(
                    param.span(),
                    "#[cached_json] does not support generic functions: the cache key cannot tell \
                     instantiations apart; write a non-generic wrapper for each type you cache",
                ))
            }
        }
    }
    Ok(())
}

/// The key arguments as (name, ident), sorted by name, after checking every argument and every
/// `skip` name.
fn key_arguments(function: &ItemFn, skip: &[Ident]) -> syn::Result<Vec<(String, Ident)>> {
    let mut named = Vec::new();
    for input in &function.sig.inputs {
        let FnArg::Typed(arg) = input else {
            continue; // `self` in any form: never part of the key.
        };
        if let Some(impl_trait) = find_impl_trait(&arg.ty) {
            return Err(syn::Error::new(
                impl_trait.span(),
                "#[cached_json] does not support `impl Trait` arguments (they make the function \
                 generic): take a concrete type, e.g. `&str`, `&[T]` or `&MyClient`",
            ));
        }
        match &*arg.pat {
            Pat::Ident(pat) if pat.subpat.is_none() => named.push(pat.ident.clone()),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "#[cached_json] needs a plain name for each argument, to put it in the key: \
                     bind it to a name and destructure it inside the function",
                ))
            }
        }
    }
    for name in skip {
        if name == "self" {
            return Err(syn::Error::new(
                name.span(),
                "`self` is never part of the cache key: no need to skip it",
            ));
        }
        if !named.iter().any(|arg| arg == name) {
            let known: Vec<String> = named.iter().map(ToString::to_string).collect();
            return Err(syn::Error::new(
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
    let mut key: Vec<(String, Ident)> = named
        .into_iter()
        .filter(|arg| !skip.contains(arg))
        .map(|ident| (ident.unraw().to_string(), ident))
        .collect();
    // The runtime hashes a JSON object whose members must be sorted by name.
    key.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(key)
}

use syn::ext::IdentExt;

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

/// Which `Call` method runs the body: `value`, `result` or `option`.
fn output_mode(sig: &syn::Signature, args: &CacheArgs) -> syn::Result<&'static str> {
    let ty = match &sig.output {
        ReturnType::Default => return Err(syn::Error::new(
            sig.ident.span(),
            "#[cached_json] needs a function that returns a value to cache; this one returns `()`",
        )),
        ReturnType::Type(_, ty) => ty,
    };
    let returns = match args.returns {
        Some((returns, _)) => returns,
        None => match last_segment(ty).as_deref() {
            Some("Result") => Returns::Result,
            Some("Option") => Returns::Option,
            _ => Returns::Value,
        },
    };
    Ok(match (returns, args.cache_none) {
        (Returns::Value, None) => "value",
        (Returns::Result, None) => "result",
        (Returns::Option, None) => "option",
        // A cached `None` is stored as JSON `null`: the whole `Option` is the value.
        (Returns::Option, Some(_)) => "value",
        (_, Some(span)) => {
            return Err(syn::Error::new(
                span,
                "`cache_none` applies to functions returning `Option<T>` \
                 (add `returns = option` if it is behind a type alias)",
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
