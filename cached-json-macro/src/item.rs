//! The annotated function, parsed without parsing its body (tracing-attributes' `MaybeItemFn`):
//! the body's tokens are moved into the generated code as they are, so that a syntax error in
//! the body is reported by the compiler as itself, at its place, and not as a misuse of the
//! attribute.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::token::Brace;
use syn::{braced, Attribute, Signature, Visibility};

/// An `fn` item whose body is kept as tokens.
pub(crate) struct MaybeItemFn {
    pub outer_attrs: Vec<Attribute>,
    /// `#![...]` at the top of the body: they stay at the top of the generated body.
    pub inner_attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    pub brace_token: Brace,
    pub body: TokenStream,
}

impl Parse for MaybeItemFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let content;
        let brace_token = braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body: TokenStream = content.parse()?;
        Ok(MaybeItemFn {
            outer_attrs,
            inner_attrs,
            vis,
            sig,
            brace_token,
            body,
        })
    }
}
