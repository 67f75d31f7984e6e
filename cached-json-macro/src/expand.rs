//! The generated code, as pure quoting of a checked [`Model`].
//!
//! It is small on purpose: a static `CacheSite`, one `Call::arg` per key argument, and the
//! original body run through `Call::{value, result, option}`. Every item is named through
//! `<crate>::__private`, and the generated locals use mixed-site hygiene, so that a user's
//! argument named `call` or `key` cannot clash with them. Spans point at what the user wrote:
//! a key argument that is not `Serialize` is reported at the argument, a value that does not
//! deserialize at the return type.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use crate::item::MaybeItemFn;
use crate::valid::{DetachedArg, Mode, Model};

pub(crate) fn expand(model: &Model, function: MaybeItemFn) -> TokenStream {
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
        detached,
        key_args,
        mode,
        output,
        output_span,
        function_name,
    } = model;
    let private = quote!(#krate::__private);
    let version = match version {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    };
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
    let site = Ident::new("__CACHED_JSON_SITE", Span::mixed_site());
    // Unnameable by the user (mixed-site), but located at the return type: errors about the
    // cached value point there, not at the attribute.
    let at_output = Span::mixed_site().located_at(*output_span);
    let call = Ident::new("__cached_json_call", at_output);
    let cached = Ident::new("__cached_json_future", at_output);
    let arg_calls = key_args.iter().map(|arg| {
        let (name, ident) = (&arg.name, &arg.ident);
        quote_spanned!(ident.span()=> #call.arg(#name, &#ident);)
    });
    let MaybeItemFn {
        outer_attrs,
        inner_attrs,
        vis,
        sig,
        brace_token,
        body,
    } = function;
    // The body's braces keep their place in the user's code, for the compiler's messages.
    let mut user_body = TokenStream::new();
    brace_token.surround(&mut user_body, |tokens| tokens.extend(body));
    let body = quote!(async move #user_body);
    // The one place the cached type's bound (`CacheValue`) is stated, located at the return
    // type: a type that is not `CacheValue` is one error, there.
    let codec = located_at(quote!(#private::Codec::JSON), *output_span);
    // How the output is cached: by default the compiler picks it from the real type (autoref
    // specialization, in the runtime's `mode` module), so that an alias cannot fool it.
    let mode_of = match mode {
        Mode::FromType => quote!((&&#private::mode::Mode::<#output>::new()).mode()),
        Mode::Value => quote!(#private::mode::forced_value::<#output>()),
        Mode::Result => quote!(#private::mode::forced_result::<#output>()),
        Mode::Option => quote!(#private::mode::forced_option::<#output>()),
    };
    let chosen = Ident::new("__cached_json_mode", at_output);
    let errors = Ident::new("__cached_json_errors", at_output);
    let run_body = match detached {
        None => quote!(#chosen.cached(#call, #codec, #errors, #body)),
        // Run detached: the body owns copies of its arguments, so that it can outlive the
        // call (refresh-ahead, background completion).
        Some(detached) => {
            let (copies, views): (Vec<_>, Vec<_>) = detached
                .args
                .iter()
                .map(|arg| match arg {
                    DetachedArg::Copied {
                        ident,
                        elem,
                        mutable,
                    } => {
                        let mutable = mutable.then(|| quote!(mut));
                        let private = located_at(private.clone(), ident.span());
                        (
                            quote_spanned!(ident.span()=>
                                #private::detach::require::<#elem>();
                                let #ident = #private::detach::copy_of::<#elem>(#ident);),
                            quote_spanned!(ident.span()=> let #mutable #ident: &#elem =
                                #private::detach::as_argument::<#elem>(&#ident);),
                        )
                    }
                    DetachedArg::Moved { ident, mutable } => {
                        let rebind = (*mutable).then(|| quote!(let mut #ident = #ident;));
                        (quote!(), quote!(#rebind))
                    }
                })
                .unzip();
            let user_body = &user_body;
            quote! {
                #chosen.cached_detached(#call, #codec, #errors, move || {
                    #(#copies)*
                    async move {
                        #(#views)*
                        #user_body
                    }
                })
            }
        }
    };
    let mut generated_body = TokenStream::new();
    // Spanned at the return type: a value that is not `CacheValue` gives one error there, not
    // one per use of the future.
    let run = quote_spanned! {*output_span=>
        // In a block: the call (and its key buffer) is gone before the await, so that it
        // takes no room in the function's future.
        let #cached = {
            #[allow(unused_imports)]
            use #private::mode::{
                ByOption as _, ByResult as _, ByValue as _, KeepsErrors as _, SharesErrors as _,
            };
            // A closure made here: its type name tells the instantiation the call runs in.
            let mut #call = #private::Call::new(&#site, #private::instance_of(&|| ()));
            #(#arg_calls)*
            let #chosen = #mode_of;
            // Whether an `Err` can be handed to the calls that wait for this one.
            let #errors = (&&#chosen.errors()).sharing();
            #run_body
        };
        #cached.await
    };
    brace_token.surround(&mut generated_body, |tokens| {
        tokens.extend(quote! {
            #(#inner_attrs)*
            static #site: #private::CacheSite =
                #private::CacheSite::new(#prefix, #ttl, #version)#options;
            #run
        })
    });
    quote! {
        #(#outer_attrs)*
        #vis #sig #generated_body
    }
}

/// `tokens` with every span located at `at`, each keeping its own hygiene (what its names
/// resolve to): for errors to point at what the user wrote.
fn located_at(tokens: TokenStream, at: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), located_at(group.stream(), at));
                inner.set_span(group.span().located_at(at));
                token = proc_macro2::TokenTree::Group(inner);
            } else {
                token.set_span(token.span().located_at(at));
            }
            token
        })
        .collect()
}
