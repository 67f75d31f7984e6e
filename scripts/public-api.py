#!/usr/bin/env python3
"""Lists the public API of the `cached-json` facade, one item per line, from rustdoc's JSON.

Usage: public-api.py FACADE_JSON RUNTIME_JSON [MACRO_JSON]

The facade re-exports items of `cached-json-runtime` (and the attribute of
`cached-json-macro`); rustdoc's JSON does not inline them, so each re-export is resolved by
its path in the runtime's JSON. Hidden items (`#[doc(hidden)]`, such as `__private`, the paths
generated code uses) are not in rustdoc's output, so they are not listed. Listed: modules,
types with their public fields, variants, inherent methods and trait impls (auto traits
included: losing `Send` is a breaking change), traits with their items, functions, constants,
macros. Blanket impls are left out (they follow from the rest).

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
                    self.lines.append(f"field {name}::{crate.item(field_id)['name']}")
            self.impls(crate, inner["impls"], name)
        elif kind == "enum":
            self.lines.append(f"enum {path}")
            name = path.split(" ")[0]
            for variant_id in inner["variants"]:
                self.lines.append(f"variant {name}::{crate.item(variant_id)['name']}")
            self.impls(crate, inner["impls"], name)
        elif kind == "trait":
            self.lines.append(f"trait {path}")
            for item_id in inner["items"]:
                self.lines.append(f"trait-item {path}::{crate.item(item_id)['name']}")
        elif kind == "function":
            self.lines.append(f"fn {path}")
        elif kind in ("constant", "static"):
            self.lines.append(f"{kind} {path}")
        elif kind == "type_alias":
            self.lines.append(f"type {path}")
        elif kind in ("macro", "proc_macro"):
            self.lines.append(f"macro {path}")
        else:
            self.lines.append(f"{kind} {path}")

    def impls(self, crate, impl_ids, path):
        for impl_id in impl_ids:
            impl = crate.item(impl_id)["inner"]["impl"]
            if impl["blanket_impl"] is not None:
                continue
            trait = impl["trait"]
            if trait is None:
                for item_id in impl["items"]:
                    item = crate.item(item_id)
                    if item is not None and item["visibility"] == "public":
                        kind = next(iter(item["inner"]))
                        prefix = "method" if kind == "function" else kind
                        self.lines.append(f"{prefix} {path}::{item['name']}")
            else:
                name = trait["path"].split("::")[-1]
                if name in SKIPPED_AUTO_TRAITS:
                    continue
                self.lines.append(f"impl {name} for {path}")


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
