//! The `#[cached_json]` attribute. Use it through the [`cached-json`](https://docs.rs/cached-json)
//! crate, which documents it and re-exports it with the runtime its expansion calls.

mod args;
mod expand;

use proc_macro::TokenStream;

/// Makes an `async fn` cache-aside over the process-wide cache.
///
/// See the `cached-json` crate for the full documentation and examples.
#[proc_macro_attribute]
pub fn cached_json(attr: TokenStream, item: TokenStream) -> TokenStream {
    let expanded = syn::parse::<args::CacheArgs>(attr).and_then(|args| {
        let function = syn::parse::<syn::ItemFn>(item.clone()).map_err(|err| {
            syn::Error::new(
                err.span(),
                "#[cached_json] goes on an `async fn` with a body",
            )
        })?;
        expand::expand(args, function)
    });
    match expanded {
        Ok(tokens) => tokens.into(),
        // Keep the function as written next to the error, so that its callers do not add
        // "cannot find function" errors on top of the one that matters.
        Err(err) => {
            let mut tokens: TokenStream = err.into_compile_error().into();
            tokens.extend(item);
            tokens
        }
    }
}
