//! The function's `CacheSite`: its prefix, TTL, version and options, as `const` calls.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

use crate::valid::Model;

/// The `CacheSite` of the function: its prefix, TTL, version and options.
pub(super) fn site_definition(model: &Model, name_span: Span) -> TokenStream {
    let Model {
        krate,
        prefix,
        ttl,
        version,
        lock,
        stale,
        jitter,
        timeout_ms,
        wait_ms,
        lock_lease_ms,
        hard_timeout_ms,
        refresh_ahead,
        no_l1,
        l1_ttl,
        function_name,
        ..
    } = model;
    let private = quote!(#krate::__private);
    let version = match version {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    };
    // Where the function is defined, and the expansion, tell it from another of the same path
    // (a method of the same name in another `impl` of the module, or one made by the same
    // `macro_rules!` call).
    let location = quote_spanned!(name_span=>
        ::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!()));
    let expansion = next_expansion();
    let mut options = quote! {
        .with_function(::core::concat!(::core::module_path!(), "::", #function_name))
        .defined_at(#location, #expansion)
    };
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
    if let Some(ms) = wait_ms {
        options.extend(quote!(.with_wait_ms(#ms)));
    }
    if let Some(ms) = lock_lease_ms {
        options.extend(quote!(.with_lock_lease_ms(#ms)));
    }
    if let Some(ms) = hard_timeout_ms {
        options.extend(quote!(.with_hard_timeout_ms(#ms)));
    }
    if let Some(permille) = refresh_ahead {
        options.extend(quote!(.with_refresh_ahead_permille(#permille)));
    }
    if *no_l1 {
        options.extend(quote!(.without_l1()));
    }
    if let Some(secs) = l1_ttl {
        options.extend(quote!(.with_l1_ttl(#secs)));
    }
    if model.ttl_with.is_some() {
        options.extend(quote!(.with_ttl_with()));
    }
    if let Some(secs) = model.none_ttl {
        options.extend(quote!(.with_none_ttl(#secs)));
    }
    if !model.tags.is_empty() {
        let tags = &model.tags;
        options.extend(quote!(.with_tags(&[#(#tags),*])));
    }
    quote!(#private::CacheSite::new(#prefix, #ttl, #version)#options)
}

/// A number for each expansion of the attribute in this compilation (one crate): with the
/// function's path and `line!()`, what tells a function's sites (its own, its twins',
/// its companions') from another function's, even two made by one `macro_rules!` call, where
/// `line!()` names the call for both.
fn next_expansion() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static EXPANSIONS: AtomicU32 = AtomicU32::new(0);
    EXPANSIONS.fetch_add(1, Ordering::Relaxed)
}
