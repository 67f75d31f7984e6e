//! The `#[cached_json]` attribute. Use it through the [`cached-json`](https://docs.rs/cached-json)
//! crate, which documents it and re-exports it with the runtime its expansion calls.
//!
//! The expansion runs in three steps, each in its own module: `attr` parses the attribute's
//! options and `item` the function, leniently (its body stays unparsed tokens); `valid`
//! checks both together and builds the small model of what to generate, reporting every error
//! at once; `expand` turns the model into code, pure quoting. On any error the function is
//! emitted unchanged next to the errors, so that its callers do not add errors of their own.

mod attr;
mod errors;
mod expand;
mod item;
mod valid;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Makes an `async fn` cache-aside over the process-wide cache.
///
/// See the `cached-json` crate for the full documentation and examples.
#[proc_macro_attribute]
pub fn cached_json(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = syn::parse::<attr::Attr>(attr);
    let function = syn::parse::<item::MaybeItemFn>(item.clone()).map_err(|err| {
        syn::Error::new(
            err.span(),
            "#[cached_json] goes on an `async fn` with a body",
        )
    });
    let expanded = match (attr, function) {
        (Ok(attr), Ok(function)) => {
            valid::validate(&attr, &function).map(|model| expand::expand(&model, function))
        }
        (Err(mut err), Err(other)) => {
            err.combine(other);
            Err(err)
        }
        (Err(err), Ok(_)) | (Ok(_), Err(err)) => Err(err),
    };
    match expanded {
        Ok(tokens) => tokens.into(),
        // Keep the function as written next to the errors, so that its callers do not add
        // "cannot find function" errors on top of the ones that matter.
        Err(err) => {
            let mut tokens: TokenStream = err.into_compile_error().into();
            tokens.extend(item);
            tokens
        }
    }
}
