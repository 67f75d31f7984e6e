//! The generated code, as pure quoting of a checked [`Model`].
//!
//! For a cached function `f` it is the function itself (a static `CacheSite`, one `Call::arg`
//! per key argument, the original body run through the `Mode` of its return type), its twins
//! `f_refresh` (the same, made a refresh) and `f_json` (the same, answering with the JSON the
//! cache holds, in the shape of `f`'s output), and the companions `f_key`, `f_invalidate` and
//! `f_invalidate_all`, which take the same key arguments so that a key can never be rebuilt
//! wrong. Every item is named through `<crate>::__private`, and the generated
//! locals use mixed-site hygiene, so that a user's argument named `call` or `key` cannot clash
//! with them. Spans point at what the user wrote: a key argument that is not `Serialize` is
//! reported at the argument, a value that does not deserialize at the return type.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Attribute, Ident};

use crate::item::MaybeItemFn;
use crate::valid::{DetachedArg, Mode, Model};

mod batch;
mod companions;
mod site;

use batch::batch_function;
use companions::companions;
use site::site_definition;

pub(crate) fn expand(model: &Model, function: MaybeItemFn) -> TokenStream {
    let site = site_definition(model, function.sig.ident.span());
    if let Some(batch) = &model.batch {
        // A batch has no `f_json`: its answer is a map, not one entry.
        let cached = batch_function(model, batch, &function, &site, false);
        let refresh = batch_function(model, batch, &function, &site, true);
        let companions = companions(model, &function, &site);
        return quote! {
            #cached
            #refresh
            #companions
        };
    }
    let cached = cached_function(model, &function, &site, Twin::Function);
    let refresh = cached_function(model, &function, &site, Twin::Refresh);
    let json = cached_function(model, &function, &site, Twin::Json);
    let companions = companions(model, &function, &site);
    quote! {
        #cached
        #refresh
        #json
        #companions
    }
}

/// Which of the three cached functions is generated.
#[derive(Clone, Copy, PartialEq)]
enum Twin {
    /// The function as the user wrote it, cached.
    Function,
    /// `f_refresh`: the same call, made a refresh.
    Refresh,
    /// `f_json`: the same call, answering with the JSON the cache holds.
    Json,
}

/// The shape of `f_json`'s output, read from `f`'s return type as written (or `returns = ..`).
enum JsonShape {
    /// `Result<Entry, E>`, with `E`.
    Result(TokenStream),
    /// `Option<Entry>`; `true` when the whole `Option` is stored (`cache_none`, `returns =
    /// value`): a stored `null` is then `None`, and only then.
    Option(bool),
    /// `Entry`.
    Value,
}

impl JsonShape {
    fn of(model: &Model, private: &TokenStream) -> Self {
        let output = &model.output;
        match (&model.mode, spelled(output)) {
            (Mode::Result, _) => {
                JsonShape::Result(quote!(<#output as #private::mode::IsResult>::Err))
            }
            (Mode::Option, _) => JsonShape::Option(false),
            // `Result<T, E>`, and `io::Result<T>`-like aliases named `Result`.
            (Mode::FromType, Spelled::Result) => {
                JsonShape::Result(quote!(<#output as #private::mode::IsResult>::Err))
            }
            // With `cache_none` (or `returns = value`), an `Option` is stored whole, `None` as
            // `null`: its answer is still `None`.
            (Mode::FromType, Spelled::Option) => JsonShape::Option(false),
            (Mode::Value, Spelled::Option) => JsonShape::Option(true),
            _ => JsonShape::Value,
        }
    }
}

/// What a return type is, as written.
enum Spelled {
    Result,
    Option,
    Other,
}

fn spelled(ty: &syn::Type) -> Spelled {
    let syn::Type::Path(path) = ty else {
        return Spelled::Other;
    };
    let Some(last) = path.path.segments.last() else {
        return Spelled::Other;
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return Spelled::Other;
    };
    let types: Vec<&syn::Type> = args
        .args
        .iter()
        .filter_map(|arg| match arg {
            syn::GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    match (last.ident.to_string().as_str(), types.len()) {
        ("Result", 1 | 2) => Spelled::Result,
        ("Option", 1) => Spelled::Option,
        _ => Spelled::Other,
    }
}

/// The cached function (or its refresh twin): the user's signature and body, the body run
/// through the cache.
fn cached_function(
    model: &Model,
    function: &MaybeItemFn,
    site: &TokenStream,
    twin: Twin,
) -> TokenStream {
    let Model {
        krate,
        detached,
        mode,
        output,
        output_span,
        function_name,
        ..
    } = model;
    let private = quote!(#krate::__private);
    let site_static = Ident::new("__CACHED_JSON_SITE", Span::mixed_site());
    // Unnameable by the user (mixed-site), but located at the return type: errors about the
    // cached value point there, not at the attribute.
    let at_output = Span::mixed_site().located_at(*output_span);
    let call = Ident::new("__cached_json_call", at_output);
    let cached = Ident::new("__cached_json_future", at_output);
    let chosen = Ident::new("__cached_json_mode", at_output);
    let errors = Ident::new("__cached_json_errors", at_output);
    let sorted = model.sorted_key_args();
    let arg_calls = sorted.iter().map(|arg| {
        let (name, ident) = (&arg.name, &arg.ident);
        quote_spanned!(ident.span()=> #call.arg(#name, &#ident);)
    });

    let mut user_body = TokenStream::new();
    function.brace_token.surround(&mut user_body, |tokens| {
        tokens.extend(function.body.clone())
    });
    let body = quote!(async move #user_body);
    // The one place the cached type's bound (`CacheValue`) is stated, located at the return
    // type: a type that is not `CacheValue` is one error, there.
    let mut codec = located_at(quote!(#private::Codec::JSON), *output_span);
    // Adaptive caching: the value's own policy, each located at what the user wrote, so that
    // a function of the wrong signature is an error there.
    if let Some(path) = &model.cache_if {
        codec.extend(located_at(quote!(.cache_if(#path)), path.span()));
    }
    if let Some(path) = &model.ttl_with {
        codec.extend(located_at(quote!(.ttl_with(#path)), path.span()));
    }
    if let Some(secs) = model.none_ttl {
        codec.extend(quote!(.none_ttl(#secs)));
    }
    // How the output is cached: by default the compiler picks it from the real type (autoref
    // specialization, in the runtime's `mode` module), so that an alias cannot fool it.
    let mode_of = match mode {
        Mode::FromType => quote!((&&#private::mode::Mode::<#output>::new()).mode()),
        Mode::Value => quote!(#private::mode::forced_value::<#output>()),
        Mode::Result => quote!(#private::mode::forced_result::<#output>()),
        Mode::Option => quote!(#private::mode::forced_option::<#output>()),
    };
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
    let refreshing = (twin == Twin::Refresh).then(|| quote!(.refreshing()));
    let json_shape = JsonShape::of(model, &private);
    // `f_json`: the L1's copy as it is when it can answer at once, else the call, observed:
    // its output and its entry mapped to the answer's shape.
    let (answer_from_l1, run_body) = match twin {
        Twin::Json => {
            let entry = Ident::new("__cached_json_entry", Span::mixed_site());
            let (from_l1, map) = match &json_shape {
                JsonShape::Result(_) => (
                    quote!(::core::result::Result::Ok(#entry)),
                    quote!(#private::json::result),
                ),
                // Only a whole `Option` stored has `None` as `null`: for the others `null` is
                // `Some`'s own JSON (`Some(())`, `Some(Value::Null)`).
                JsonShape::Option(true) => (
                    quote!(#private::json::from_l1_option(#entry)),
                    quote!(#private::json::option),
                ),
                JsonShape::Option(false) => (
                    quote!(::core::option::Option::Some(#entry)),
                    quote!(#private::json::option),
                ),
                // Through the mode the compiler picked: a `Result` or an `Option` behind an
                // alias is mapped as what it is.
                JsonShape::Value => (quote!(#entry), quote!(#chosen.json_value())),
            };
            let map_fn = Ident::new("__cached_json_map", Span::mixed_site());
            (
                quote! {
                    if let ::core::option::Option::Some(#entry) = #call.json_from_l1() {
                        return #from_l1;
                    }
                },
                // Boxed: the call's future (kilobytes: the miss path's waits, the body) would
                // otherwise make `f_json`'s own future as large, and a handler's with it, which
                // the web framework copies on every request, L1 hits included.
                quote!({
                    let #map_fn = #map;
                    ::std::boxed::Box::pin(#private::observe_http(#run_body, #map_fn))
                }),
            )
        }
        _ => (quote!(), run_body),
    };
    let run = quote_spanned! {*output_span=>
        // In a block: the call (and its key buffer) is gone before the await, so that it
        // takes no room in the function's future.
        let #cached = {
            #[allow(unused_imports)]
            use #private::mode::{
                ByOption as _, ByResult as _, ByValue as _, KeepsErrors as _, SharesErrors as _,
            };
            // A closure made here: its type name tells the instantiation the call runs in.
            let mut #call =
                #private::Call::new(&#site_static, #private::instance_of(&|| ()))#refreshing;
            #(#arg_calls)*
            #answer_from_l1
            let #chosen = #mode_of;
            // Whether an `Err` can be handed to the calls that wait for this one.
            let #errors = (&&#chosen.errors()).sharing();
            #run_body
        };
        #cached.await
    };
    let generated_body = generated_body(function, &private, site, run);
    let vis = &function.vis;
    let mut sig = function.sig.clone();
    let attrs = match twin {
        Twin::Function => {
            let attrs = &function.outer_attrs;
            quote!(#(#attrs)*)
        }
        Twin::Refresh => {
            sig.ident = format_ident!("{}_refresh", sig.ident);
            let doc = format!(
                "Runs `{function_name}` now and stores its value, whatever the cache holds for \
                 the call (generated by `#[cached_json]`)."
            );
            let cfgs = cfg_attributes(&function.outer_attrs);
            quote!(#(#cfgs)* #[doc = #doc] #[allow(dead_code)])
        }
        Twin::Json => {
            sig.ident = format_ident!("{}_json", sig.ident);
            let entry = quote!(#private::Entry);
            let json_output = match &json_shape {
                JsonShape::Result(error) => quote!(::core::result::Result<#entry, #error>),
                JsonShape::Option(_) => quote!(::core::option::Option<#entry>),
                JsonShape::Value => entry,
            };
            let arrow = match &sig.output {
                syn::ReturnType::Type(arrow, _) => *arrow,
                syn::ReturnType::Default => Default::default(),
            };
            sig.output = syn::ReturnType::Type(arrow, Box::new(syn::Type::Verbatim(json_output)));
            let doc = format!(
                "`{function_name}`'s call, answering with the JSON the cache holds for it (an \
                 `Entry`: the stored bytes, what the call did, the entry's life), in the shape of \
                 its output; send it on as it is (generated by `#[cached_json]`)."
            );
            let cfgs = cfg_attributes(&function.outer_attrs);
            quote!(#(#cfgs)* #[doc = #doc] #[allow(dead_code)])
        }
    };
    quote! {
        #attrs
        #vis #sig #generated_body
    }
}

/// A generated function's body, in the braces the user wrote: the function's inner attributes,
/// its `static` site, then `run`.
fn generated_body(
    function: &MaybeItemFn,
    private: &TokenStream,
    site: &TokenStream,
    run: TokenStream,
) -> TokenStream {
    let site_static = Ident::new("__CACHED_JSON_SITE", Span::mixed_site());
    let inner_attrs = &function.inner_attrs;
    let mut body = TokenStream::new();
    function.brace_token.surround(&mut body, |tokens| {
        tokens.extend(quote! {
            #(#inner_attrs)*
            static #site_static: #private::CacheSite = #site;
            #run
        })
    });
    body
}

/// The `#[cfg(..)]` attributes among `attrs`: what the companions keep of the function's.
fn cfg_attributes(attrs: &[Attribute]) -> Vec<&Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect()
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
