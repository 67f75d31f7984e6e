#!/usr/bin/env python3
"""Lists the public API of the `cached-json` facade, one item per line, from rustdoc's JSON.

Usage: public-api.py FACADE_JSON RUNTIME_JSON [MACRO_JSON]

The facade re-exports items of `cached-json-runtime` (and the attribute of
`cached-json-macro`); rustdoc's JSON does not inline them, so each re-export is resolved by
its path in the runtime's JSON. Hidden items (`#[doc(hidden)]`, such as `__private`, the paths
generated code uses) are not in rustdoc's output, so they are not listed. Listed: modules,
types with their public fields and their types, variants with theirs, inherent methods and
trait impls (auto traits included: losing `Send` is a breaking change), traits with their
items, functions, constants, macros. Every function and method with its signature (generics,
bounds, `async`/`const`; arguments by type: a rename breaks no caller), so that a changed
argument or return type is a changed line. Types
are named by their last path segment (`String`, `Duration`, `StoreError`): how the source
imports them changes no line. Blanket impls are left out (they follow from the rest).

scripts/public-api.sh runs it and compares the output with public-api.txt.
"""
import json
import sys

SKIPPED_AUTO_TRAITS = {"Freeze", "UnsafeUnpin"}  # unstable markers rustdoc lists too


class Crate:
    def __init__(self, path):
        with open(path) as f:
            doc = json.load(f)
        self.index = doc["index"]
        self.paths = doc["paths"]
        self.root = self.index[str(doc["root"])]
        self.name = self.root["name"]

    def item(self, id_):
        return self.index.get(str(id_))

    def resolve(self, path):
        """The item at `path` (`crate::a::B`), following this crate's own re-exports."""
        parts = path.split("::")
        if parts[0] != self.name:
            return None
        item = self.root
        for part in parts[1:]:
            found = None
            for child_id in item["inner"]["module"]["items"]:
                child = self.item(child_id)
                if child is None:
                    continue
                kind, inner = next(iter(child["inner"].items()))
                if kind == "use" and inner["name"] == part and not inner["is_glob"]:
                    found = self.item(inner["id"]) if inner["id"] is not None else None
                    if found is None:
                        found = self.resolve(inner["source"])
                elif child["name"] == part:
                    found = child
                if found is not None:
                    break
            if found is None:
                return None
            item = found
        return item


def path_name(crate, path):
    """A path's type or trait name, its last segment (the canonical one when rustdoc knows it),
    with its generic arguments."""
    known = crate.paths.get(str(path.get("id")))
    name = known["path"][-1] if known else path["path"].split("::")[-1]
    return name + generic_args(crate, path.get("args"))


def generic_args(crate, args):
    if not args:
        return ""
    if "angle_bracketed" in args:
        parts = []
        for arg in args["angle_bracketed"]["args"]:
            kind, value = next(iter(arg.items()))
            if kind == "type":
                parts.append(ty(crate, value))
            elif kind == "lifetime":
                parts.append(value)
            elif kind == "const":
                parts.append(value.get("expr", "_"))
            else:
                parts.append("_")
        for constraint in args["angle_bracketed"]["constraints"]:
            binding = constraint["binding"]
            if "equality" in binding:
                term = binding["equality"]
                value = ty(crate, term["type"]) if "type" in term else term.get("constant", "_")
                parts.append(f"{constraint['name']} = {value}")
            else:
                parts.append(f"{constraint['name']}: {bounds(crate, binding['constraint'])}")
        return f"<{', '.join(parts)}>" if parts else ""
    if "parenthesized" in args:
        inner = args["parenthesized"]
        out = inner.get("output")
        return f"({', '.join(ty(crate, t) for t in inner['inputs'])})" + (
            f" -> {ty(crate, out)}" if out else "")
    return ""


def bounds(crate, items):
    rendered = []
    for bound in items:
        if "trait_bound" in bound:
            tb = bound["trait_bound"]
            modifier = {"maybe": "?", "maybe_const": "~const "}.get(tb["modifier"], "")
            rendered.append(modifier + path_name(crate, tb["trait"]))
        elif "outlives" in bound:
            rendered.append(bound["outlives"])
        else:
            rendered.append("use<..>")
    return " + ".join(rendered)


def ty(crate, t):
    """A type as Rust writes it (names shortened as in `path_name`)."""
    if t is None:
        return "()"
    if isinstance(t, str):  # "infer"
        return "_"
    kind, v = next(iter(t.items()))
    if kind == "resolved_path":
        return path_name(crate, v)
    if kind in ("generic", "primitive"):
        return v
    if kind == "borrowed_ref":
        lifetime = f"{v['lifetime']} " if v["lifetime"] else ""
        return f"&{lifetime}{'mut ' if v['is_mutable'] else ''}{ty(crate, v['type'])}"
    if kind == "raw_pointer":
        return f"*{'mut' if v['is_mutable'] else 'const'} {ty(crate, v['type'])}"
    if kind == "tuple":
        inner = ", ".join(ty(crate, x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if kind == "slice":
        return f"[{ty(crate, v)}]"
    if kind == "array":
        return f"[{ty(crate, v['type'])}; {v['len']}]"
    if kind == "impl_trait":
        return f"impl {bounds(crate, v)}"
    if kind == "dyn_trait":
        traits = " + ".join(path_name(crate, p["trait"]) for p in v["traits"])
        return f"dyn {traits}" + (f" + {v['lifetime']}" if v.get("lifetime") else "")
    if kind == "qualified_path":
        if v.get("trait") and v["trait"]["path"]:
            return f"<{ty(crate, v['self_type'])} as {path_name(crate, v['trait'])}>::{v['name']}"
        return f"{ty(crate, v['self_type'])}::{v['name']}"
    if kind == "function_pointer":
        sig = v["sig"]
        inputs = ", ".join(ty(crate, t) for _, t in sig["inputs"])
        return f"fn({inputs})" + (f" -> {ty(crate, sig['output'])}" if sig["output"] else "")
    return kind


def generics(crate, g):
    """`<T: Bound, 'a>` and ` where ...` of an item (synthetic `impl Trait` params left out:
    they show in the argument)."""
    params = []
    for param in g["params"]:
        kind, v = next(iter(param["kind"].items()))
        if kind == "type":
            if v.get("is_synthetic"):
                continue
            b = bounds(crate, v["bounds"])
            params.append(param["name"] + (f": {b}" if b else ""))
        elif kind == "lifetime":
            params.append(param["name"])
        elif kind == "const":
            params.append(f"const {param['name']}: {ty(crate, v['type'])}")
    wheres = []
    for predicate in g["where_predicates"]:
        if "bound_predicate" in predicate:
            bp = predicate["bound_predicate"]
            wheres.append(f"{ty(crate, bp['type'])}: {bounds(crate, bp['bounds'])}")
        elif "lifetime_predicate" in predicate:
            lp = predicate["lifetime_predicate"]
            wheres.append(f"{lp['lifetime']}: {' + '.join(lp['outlives'])}")
    return (f"<{', '.join(params)}>" if params else ""), (
        f" where {', '.join(wheres)}" if wheres else "")


def receiver(crate, t):
    """`self`, `&self`, `&'a mut self`; other receivers (`self: Arc<Self>`) as written."""
    if t == {"generic": "Self"}:
        return "self"
    ref = t.get("borrowed_ref")
    if ref is not None and ref["type"] == {"generic": "Self"}:
        lifetime = f"{ref['lifetime']} " if ref["lifetime"] else ""
        return f"&{lifetime}{'mut ' if ref['is_mutable'] else ''}self"
    return f"self: {ty(crate, t)}"


def signature(crate, function):
    """`(self, impl Into<String>) -> Self`, with the header's `const`/`async`/`unsafe`
    before and the generics' parameters and `where` clause around it."""
    header = function["header"]
    qualifiers = "".join(q + " " for q, on in (("const", header["is_const"]),
                         ("async", header["is_async"]), ("unsafe", header["is_unsafe"])) if on)
    params, where = generics(crate, function["generics"])
    sig = function["sig"]
    # Arguments by type only: renaming one breaks no caller.
    inputs = ", ".join(receiver(crate, t) if name == "self" else ty(crate, t)
                       for name, t in sig["inputs"])
    output = f" -> {ty(crate, sig['output'])}" if sig["output"] else ""
    return qualifiers, f"{params}({inputs}){output}{where}"


class Lister:
    def __init__(self, crates):
        self.crates = crates
        self.lines = []

    def crate_of(self, path):
        return next((c for c in self.crates if path.split("::")[0] == c.name), None)

    def module(self, crate, module, path):
        for child_id in module["inner"]["module"]["items"]:
            child = crate.item(child_id)
            if child is None:
                continue
            kind, inner = next(iter(child["inner"].items()))
            if kind == "use":
                self.reexport(crate, inner, path)
            else:
                self.item(crate, child, f"{path}::{child['name']}")

    def reexport(self, crate, use, path):
        target_crate = self.crate_of(use["source"]) or crate
        target = crate.item(use["id"]) if use["id"] is not None else None
        if target is not None:
            target_crate = crate
        else:
            target = target_crate.resolve(use["source"])
        if target is None:
            # A crate whose JSON was not given: the attribute's proc-macro crate.
            self.lines.append(f"use {path}::{use['name']} = {use['source']}")
            return
        if use["is_glob"]:
            self.module(target_crate, target, path)
        else:
            self.item(target_crate, target, f"{path}::{use['name']}")

    def item(self, crate, item, path):
        kind, inner = next(iter(item["inner"].items()))
        if "non_exhaustive" in item.get("attrs", []):
            path += " #[non_exhaustive]"
        if kind == "module":
            self.lines.append(f"mod {path}")
            self.module(crate, item, path)
        elif kind == "struct":
            self.lines.append(f"struct {path}")
            name = path.split(" ")[0]
            shape = inner["kind"]
            if isinstance(shape, dict) and "plain" in shape:
                for field_id in shape["plain"]["fields"]:
                    field = crate.item(field_id)
                    self.lines.append(
                        f"field {name}::{field['name']}: {ty(crate, field['inner']['struct_field'])}")
            self.impls(crate, inner["impls"], name, item["id"])
        elif kind == "enum":
            self.lines.append(f"enum {path}")
            name = path.split(" ")[0]
            for variant_id in inner["variants"]:
                variant = crate.item(variant_id)
                self.lines.append(f"variant {name}::{variant['name']}{variant_shape(crate, variant)}")
            self.impls(crate, inner["impls"], name, item["id"])
        elif kind == "trait":
            supertraits = bounds(crate, inner.get("bounds", []))
            self.lines.append(f"trait {path}" + (f": {supertraits}" if supertraits else ""))
            for item_id in inner["items"]:
                member = crate.item(item_id)
                if "function" in member["inner"]:
                    qualifiers, sig = signature(crate, member["inner"]["function"])
                    self.lines.append(f"trait-item {qualifiers}fn {path}::{member['name']}{sig}")
                else:
                    self.lines.append(f"trait-item {path}::{member['name']}")
        elif kind == "function":
            qualifiers, sig = signature(crate, inner)
            self.lines.append(f"{qualifiers}fn {path}{sig}")
        elif kind == "constant":
            self.lines.append(f"constant {path}: {ty(crate, inner['type'])}")
        elif kind == "static":
            self.lines.append(f"static {path}: {ty(crate, inner['type'])}")
        elif kind == "type_alias":
            self.lines.append(f"type {path}")
        elif kind in ("macro", "proc_macro"):
            self.lines.append(f"macro {path}")
        else:
            self.lines.append(f"{kind} {path}")

    def impls(self, crate, impl_ids, path, type_id):
        for impl_id in impl_ids:
            impl = crate.item(impl_id)["inner"]["impl"]
            if impl["blanket_impl"] is not None:
                continue
            trait = impl["trait"]
            if trait is None:
                for item_id in impl["items"]:
                    item = crate.item(item_id)
                    if item is not None and item["visibility"] == "public":
                        kind, inner = next(iter(item["inner"].items()))
                        if kind == "function":
                            qualifiers, sig = signature(crate, inner)
                            self.lines.append(f"method {qualifiers}{path}::{item['name']}{sig}")
                        else:
                            self.lines.append(f"{kind} {path}::{item['name']}")
            else:
                name = trait["path"].split("::")[-1]
                if name in SKIPPED_AUTO_TRAITS:
                    continue
                # rustdoc lists under a type the impls whose argument it is, too (`impl
                # From<StoreError> for CacheError` under `StoreError`): each is listed under
                # the type it is for.
                if impl["for"].get("resolved_path", {}).get("id") != type_id:
                    continue
                # With its arguments (`From<StoreError>`, `AsRef<str>`): which ones is the API.
                self.lines.append(f"impl {path_name(crate, trait)} for {path}")


def variant_shape(crate, variant):
    """`(T, U)` or `{ a: T }` of a variant with fields."""
    kind = variant["inner"]["variant"]["kind"]
    if isinstance(kind, dict) and "tuple" in kind:
        fields = [crate.item(f) for f in kind["tuple"] if f is not None]
        return "(" + ", ".join(ty(crate, f["inner"]["struct_field"]) for f in fields) + ")"
    if isinstance(kind, dict) and "struct" in kind:
        fields = [crate.item(f) for f in kind["struct"]["fields"]]
        return " { " + ", ".join(
            f"{f['name']}: {ty(crate, f['inner']['struct_field'])}" for f in fields) + " }"
    return ""


def main():
    crates = [Crate(p) for p in sys.argv[1:]]
    lister = Lister(crates)
    facade = crates[0]
    lister.lines.append(f"crate {facade.name}")
    lister.module(facade, facade.root, facade.name)
    for line in sorted(set(lister.lines)):
        print(line)


if __name__ == "__main__":
    main()
