#!/usr/bin/env python3
"""Golden key vectors, made by the recipe the README documents for reproducing keys outside
Rust: xxh3_128_hexdigest(json.dumps(args, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)). cached-json-runtime/src/key/vectors.json holds its output; the key tests
check every vector byte for byte. Needs `pip install xxhash`.

    python3 scripts/key-vectors.py > cached-json-runtime/src/key/vectors.json
"""
import json

import xxhash

CASES = [
    {"location_name": "Recife"},
    {"limit": 10},
    {},
    {"city": "São Paulo", "limit": 5, "tags": ["a", "b"], "filter": {"z": 1, "a": None}},
    # Strings JSON must escape, and characters it must not.
    {"s": 'quote" backslash\\ slash/'},
    {"s": "line\nfeed\rreturn\ttab\bback\fform"},
    {"s": "\u0000\u0001\u001f\u007f"},
    {"s": "é 日本 😀 \u2028\u2029 \ufeff"},
    {"s": ""},
    # Objects sorted by key as text, at every depth, whatever the escapes.
    {"m": {"b": 1, "a": {"y": [1, {"d": True, "c": False}], "x": None}}},
    {"m": {'a"b': 1, "a#b": 2, "a\\b": 3, "a\nb": 4, "a b": 5}},
    {"m": {"é": 1, "z": 2, "日": 3, "😀": 4, "Z": 5, "": 6}},
    # Numbers JSON writes exactly: integers of any width.
    {"n": 18446744073709551617, "neg": -9223372036854775809, "zero": 0},
    {"b": [True, False, None], "e": [], "o": {}},
]

vectors = []
for args in CASES:
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    vectors.append({"canonical": canonical, "hash": xxhash.xxh3_128_hexdigest(canonical.encode())})
print(json.dumps(vectors, indent=1, ensure_ascii=False))
