//! The arguments of a body run detached from its caller (`refresh_ahead`, `timeout_ms`): what
//! each becomes, or why one cannot be.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, Signature, Type};

/// The arguments of a body that runs detached from its caller: what each becomes.
pub(crate) struct Detached {
    pub args: Vec<DetachedArg>,
}

pub(crate) enum DetachedArg {
    /// `name: &T`: copied (`T: Clone`/`ToOwned`), and seen as `&T` again in the body.
    Copied {
        ident: Ident,
        elem: Box<Type>,
        mutable: bool,
    },
    /// An owned argument (or `self` by value): moved into the body.
    Moved { ident: Ident, mutable: bool },
}

/// How each argument reaches a body run detached from its caller, or why one cannot.
pub(super) fn detachable(sig: &Signature) -> syn::Result<Detached> {
    let why = "runs the function in the background (`refresh_ahead`, or `timeout_ms` past its \
               soft timeout) on copies of its arguments";
    let mut args = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                if receiver.reference.is_some() || matches!(*receiver.ty, Type::Reference(_)) {
                    return Err(syn::Error::new(
                        receiver.span(),
                        format!(
                            "#[cached_json] {why}: a method must take `self` by value, e.g. \
                             `self: Arc<Self>`, not `&self`"
                        ),
                    ));
                }
                args.push(DetachedArg::Moved {
                    ident: Ident::new("self", receiver.self_token.span),
                    mutable: false,
                });
            }
            FnArg::Typed(arg) => {
                let Pat::Ident(pat) = &*arg.pat else {
                    continue; // refused elsewhere
                };
                let (owned, copied) = match &*arg.ty {
                    Type::Reference(reference) if reference.mutability.is_none() => {
                        (&*reference.elem, true)
                    }
                    Type::Reference(reference) => {
                        return Err(syn::Error::new(
                            reference.span(),
                            format!("#[cached_json] {why}: a `&mut` argument cannot be copied"),
                        ))
                    }
                    other => (other, false),
                };
                if let Some(borrow) = borrows(owned) {
                    return Err(syn::Error::new(
                        borrow,
                        format!(
                            "#[cached_json] {why}: this argument's type borrows (a lifetime or \
                             a reference inside it), so no copy of it outlives the call; take \
                             an owned type"
                        ),
                    ));
                }
                let (ident, mutable) = (pat.ident.clone(), pat.mutability.is_some());
                args.push(if copied {
                    DetachedArg::Copied {
                        ident,
                        elem: Box::new(owned.clone()),
                        mutable,
                    }
                } else {
                    DetachedArg::Moved { ident, mutable }
                });
            }
        }
    }
    Ok(Detached { args })
}

/// Where `ty` borrows: a lifetime or a reference anywhere in it.
fn borrows(ty: &Type) -> Option<Span> {
    fn scan(tokens: proc_macro2::TokenStream) -> Option<Span> {
        tokens.into_iter().find_map(|token| match token {
            proc_macro2::TokenTree::Punct(p) if p.as_char() == '\'' || p.as_char() == '&' => {
                Some(p.span())
            }
            proc_macro2::TokenTree::Group(g) => scan(g.stream()),
            _ => None,
        })
    }
    scan(quote::ToTokens::to_token_stream(ty))
}
