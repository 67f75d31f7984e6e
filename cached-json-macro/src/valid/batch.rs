//! A `batch` function, checked: one key argument a list of ids, a map returned, and no option
//! that needs one call per key.

use syn::spanned::Spanned;
use syn::{FnArg, Ident, LitStr, Pat, ReturnType, Signature, Type};

use super::{last_segment, KeyArg};
use crate::attr::Attr;
use crate::errors::Errors;

/// A `batch` function: its ids' argument, its output, and the arguments each run of its body
/// gets a copy of.
pub(crate) struct Batch {
    /// The ids' argument (one of the key arguments).
    pub ids: Ident,
    /// `K`, the type of one id.
    pub id_ty: Box<Type>,
    /// Taken as `&[K]` (else `Vec<K>`).
    pub slice: bool,
    /// `mut ids`.
    pub mutable: bool,
    /// Returns `Result<HashMap<K, V>, E>` (else `HashMap<K, V>`).
    pub result: bool,
    /// An id left out of the returned map is stored as absent (`cache_none`, `none_ttl`).
    pub stores_absent: bool,
    /// The other arguments (not `self`): each run of the body gets a copy, and whether it is
    /// `mut`.
    pub others: Vec<(Ident, bool)>,
}

/// What a `batch` function is: one key argument a list of ids (`Vec<K>` or `&[K]`), a map of
/// their values returned (`HashMap<K, V>` or `Result<HashMap<K, V>, E>`), and no option that
/// needs one call per key.
pub(super) fn batch(attr: &Attr, sig: &Signature, key_args: &[KeyArg]) -> syn::Result<Batch> {
    let mut errors = Errors::new();
    let refused = [
        (
            "timeout_ms",
            attr.timeout_ms.map(|(_, span)| span),
            "a batch's ids are computed in one run, which a soft timeout would answer for \
             with the stale values of some ids and not others",
        ),
        (
            "refresh_ahead",
            attr.refresh_ahead.map(|(_, span)| span),
            "not yet: a batch's hits do not refresh their ids in the background",
        ),
        (
            "returns",
            attr.returns.map(|(_, span)| span),
            "a batch returns a map of its ids' values (`cache_none` stores the ids left out)",
        ),
        (
            "tags",
            attr.tags.first().map(LitStr::span),
            "not yet: a batch reads its ids' entries without their tags' records",
        ),
    ];
    for (option, span, why) in refused {
        if let Some(span) = span {
            errors.push(syn::Error::new(
                span,
                format!("`{option}` is not supported with `batch`: {why}"),
            ));
        }
    }
    let lists: Vec<(&KeyArg, Box<Type>, bool)> = key_args
        .iter()
        .filter_map(|arg| list_of(&arg.ty).map(|(id_ty, slice)| (arg, id_ty, slice)))
        .collect();
    let list = match &lists[..] {
        [one] => Ok(one),
        [] => Err(syn::Error::new(
            sig.ident.span(),
            "a `batch` function takes its ids as one key argument of type `Vec<K>` or `&[K]`",
        )),
        [_, second, ..] => Err(syn::Error::new(
            second.0.ident.span(),
            format!(
                "a `batch` function takes one list of ids, and `{}` is a second key argument \
                 of type `Vec<K>` or `&[K]`: `skip(...)` it, or take it as another type",
                second.0.name
            ),
        )),
    };
    let list = errors.take(list);
    let result = match &sig.output {
        ReturnType::Type(_, ty) => match map_output(ty) {
            Some(result) => result,
            None => {
                errors.push(syn::Error::new(
                    ty.span(),
                    "a `batch` function returns `HashMap<K, V>` or `Result<HashMap<K, V>, E>`: \
                     each id's value, ids without one left out",
                ));
                false
            }
        },
        ReturnType::Default => {
            errors.push(syn::Error::new(
                sig.ident.span(),
                "a `batch` function returns `HashMap<K, V>` or `Result<HashMap<K, V>, E>`",
            ));
            false
        }
    };
    let mut others = Vec::new();
    let mut mutable = false;
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                if receiver.reference.is_none() || receiver.mutability.is_some() {
                    errors.push(syn::Error::new(
                        receiver.span(),
                        "a `batch` function's body may run twice in one call (for ids another \
                         call failed to compute): a method takes `&self`",
                    ));
                }
            }
            FnArg::Typed(arg) => {
                let Pat::Ident(pat) = &*arg.pat else {
                    continue; // refused elsewhere
                };
                if list.is_some_and(|(ids, _, _)| pat.ident == ids.ident) {
                    mutable = pat.mutability.is_some();
                } else {
                    others.push((pat.ident.clone(), pat.mutability.is_some()));
                }
            }
        }
    }
    errors.finish()?;
    let Some((ids, id_ty, slice)) = list else {
        // Not reached: no list is an error, returned just above.
        return Err(syn::Error::new(
            sig.ident.span(),
            "#[cached_json]: invalid batch",
        ));
    };
    Ok(Batch {
        ids: ids.ident.clone(),
        id_ty: id_ty.clone(),
        slice: *slice,
        mutable,
        result,
        stores_absent: attr.cache_none.is_some() || attr.none_ttl.is_some(),
        others,
    })
}

/// `K` of `Vec<K>` (`false`) or `&[K]` (`true`).
fn list_of(ty: &Type) -> Option<(Box<Type>, bool)> {
    match ty {
        Type::Reference(reference) if reference.mutability.is_none() => match &*reference.elem {
            Type::Slice(slice) => Some((slice.elem.clone(), true)),
            _ => None,
        },
        Type::Path(_) if last_segment(ty).as_deref() == Some("Vec") => type_arguments(ty)
            .first()
            .map(|elem| (Box::new((*elem).clone()), false)),
        Type::Group(group) => list_of(&group.elem),
        Type::Paren(paren) => list_of(&paren.elem),
        _ => None,
    }
}

/// Whether `ty` is `Result<HashMap<..>, ..>` (`Some(true)`) or `HashMap<..>` (`Some(false)`),
/// as written.
fn map_output(ty: &Type) -> Option<bool> {
    match last_segment(ty)?.as_str() {
        "HashMap" => Some(false),
        "Result" => {
            let ok = *type_arguments(ty).first()?;
            (last_segment(ok).as_deref() == Some("HashMap")).then_some(true)
        }
        _ => None,
    }
}

/// The type arguments of `ty`'s last path segment.
fn type_arguments(ty: &Type) -> Vec<&Type> {
    let Type::Path(path) = ty else {
        return Vec::new();
    };
    let Some(syn::PathArguments::AngleBracketed(args)) =
        path.path.segments.last().map(|segment| &segment.arguments)
    else {
        return Vec::new();
    };
    args.args
        .iter()
        .filter_map(|arg| match arg {
            syn::GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect()
}
