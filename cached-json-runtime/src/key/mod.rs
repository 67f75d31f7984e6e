//! Cache keys: the whole grammar in one place.
//!
//! A key is `[namespace:]prefix[:vN]:hash`, where `hash` is the lowercase hex of the 128-bit
//! xxh3 hash of the **canonical JSON** of the key arguments ([`canonical_json`]): one JSON
//! object whose members are the argument names and values, with every object (arguments,
//! structs, maps) written with its members sorted by key and no whitespace. Two keys are
//! derived from an entry's key, and live next to it: `<key>:stale` (the `stale` option's copy)
//! and `<key>:lock` (the `lock` option's lease). Entry keys always end in 32 hex digits, so a
//! derived key is never an entry key.
//!
//! The canonical form is what makes keys identical across processes, machines and releases:
//! `HashMap` iteration order, pointer values and `Debug` output never reach the hash. It is also
//! reproducible outside Rust; for strings, integers, booleans, `null`, arrays and objects it is
//! exactly Python's `json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
//! so `xxhash.xxh3_128_hexdigest(that)` gives the same hash.
//!
//! ```
//! use cached_json_runtime::key::canonical_json;
//!
//! #[derive(serde::Serialize)]
//! struct Filter { limit: u32, city: &'static str }
//! assert_eq!(canonical_json(&Filter { limit: 5, city: "Natal" }).unwrap(), r#"{"city":"Natal","limit":5}"#);
//! ```

pub(crate) mod builder;
mod canonical;

use std::fmt::{self, Write as _};
use std::sync::Arc;

pub(crate) use builder::KeyBuilder;
pub use builder::Unencodable;
pub use canonical::canonical_json;

/// One call's cache key: `[namespace:]prefix[:vN]:hash`, and the keys derived from it.
///
/// Built by the cache-aside call from its site (prefix, version), the cache's namespace and
/// the hash of the arguments ([`KeyBuilder`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    text: String,
    digest: u128,
    /// Which site's grammar made the key (its address): with the digest, the identity of a
    /// call in flight, cheaper to compare than the text.
    scope: usize,
    /// The keys of the records of the entry's tags (`tags(...)`, see [`crate::tags`]); `None`
    /// for an untagged function's.
    tags: Option<Arc<[String]>>,
    /// Mixed into its flight's identity: a tagged call's tokens as it read them, so that a call
    /// that read a tag invalidated never waits for a run that began before (see
    /// [`crate::tags`]).
    flight_salt: u64,
}

impl Key {
    /// The key of the arguments hashed to `digest`, for `prefix` and `version`, under
    /// `namespace`.
    ///
    /// ```
    /// use cached_json_runtime::key::{canonical_json, Key};
    ///
    /// // The arguments' hash: the xxh3-128 of their canonical JSON, {"location_name":"Recife"}.
    /// let args = canonical_json(&serde_json::json!({ "location_name": "Recife" })).unwrap();
    /// let digest = xxhash_rust::xxh3::xxh3_128(args.as_bytes());
    /// let key = Key::new(None, "local-info", None, digest);
    /// assert_eq!(key.as_str(), "local-info:cccb998e077f32923f57e5b7625f9c0a");
    /// ```
    pub fn new(namespace: Option<&str>, prefix: &str, version: Option<u32>, digest: u128) -> Key {
        let mut text =
            String::with_capacity(namespace.map_or(0, |n| n.len() + 1) + prefix.len() + 12 + 33);
        if let Some(namespace) = namespace {
            text.push_str(namespace);
            text.push(':');
        }
        text.push_str(prefix);
        if let Some(version) = version {
            let _ = write!(text, ":v{version}");
        }
        text.push(':');
        push_hex(&mut text, digest);
        Key {
            text,
            digest,
            scope: 0,
            tags: None,
            flight_salt: 0,
        }
    }

    /// Marks the entry as carrying the tags whose records are `tags` (see [`crate::tags`]).
    pub(crate) fn tagged(mut self, tags: Option<Arc<[String]>>) -> Key {
        self.tags = tags;
        self
    }

    /// Makes calls whose reads saw other tag tokens (`salt`) run apart.
    pub(crate) fn read_with(mut self, salt: u64) -> Key {
        self.flight_salt = salt;
        self
    }

    /// The keys of the records of the entry's tags; `None` when it has none.
    pub(crate) fn tags(&self) -> Option<&Arc<[String]>> {
        self.tags.as_ref()
    }

    /// Marks the key as made by the site at address `scope`, for [`Key::flight`].
    pub(crate) fn in_scope(mut self, scope: usize) -> Key {
        self.scope = scope;
        self
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The hash of the arguments: the last part of the key.
    pub fn digest(&self) -> u128 {
        self.digest
    }

    /// The key of the `stale` option's copy of this entry.
    pub(crate) fn stale(&self) -> String {
        format!("{}:stale", self.text)
    }

    /// The key of the `lock` option's lease on this entry.
    pub(crate) fn lock(&self) -> String {
        format!("{}:lock", self.text)
    }

    /// The key of this call's second entry, `<key>:alt`: where a build whose type cannot read
    /// the entry another build of the app stored (a rolling deploy that changed the type's
    /// shape) keeps its own value, leaving the other's in place (see [`crate::aside`]). Its
    /// own flight: a call computing it never waits for one computing the entry.
    pub(crate) fn alternate(&self) -> Key {
        Key {
            text: format!("{}:alt", self.text),
            digest: self.digest,
            scope: self.scope,
            tags: None,
            flight_salt: self.flight_salt ^ ALTERNATE_SALT,
        }
    }

    /// The identity of this call among the calls in flight in one cache: its site and digest.
    pub(crate) fn flight(&self) -> FlightId {
        (self.scope, self.digest ^ u128::from(self.flight_salt))
    }
}

/// Mixed into an alternate entry's flight (see [`Key::alternate`]).
const ALTERNATE_SALT: u64 = 0x616c_7465_726e_6174;

/// A call's identity among the calls in flight in one cache (one namespace): its site and the
/// hash of its arguments. Within a cache that is its key, without comparing strings.
pub(crate) type FlightId = (usize, u128);

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// An entry key without its text: the hash of its head (`prefix[:vN]`, what follows the
/// namespace) and its digest (the 32 hex digits). What the L1 keys its copies by, so that an L1
/// hit builds no key string; a key reported by the store maps to it with [`EntryId::of_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct EntryId {
    head: u64,
    digest: u128,
}

impl EntryId {
    /// The id of the entry of `digest` (at its generation) whose head hashes to `head` (see
    /// [`head_hash`]).
    pub(crate) fn new(head: u64, digest: u128) -> Self {
        EntryId { head, digest }
    }

    /// The id of `key`, an entry key of a cache in `namespace`; `None` for any other key
    /// (derived keys, generation keys, other applications' keys), which no entry has.
    pub(crate) fn of_key(namespace: Option<&str>, key: &str) -> Option<EntryId> {
        let rest = match namespace {
            Some(namespace) => key.strip_prefix(namespace)?.strip_prefix(':')?,
            None => key,
        };
        let (head, hex) = rest.rsplit_once(':')?;
        if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let digest = u128::from_str_radix(hex, 16).ok()?;
        Some(EntryId {
            head: xxhash_rust::xxh3::xxh3_64(head.as_bytes()),
            digest,
        })
    }

    /// A 64-bit summary, for sets that may confuse two ids (only ever conservatively).
    pub(crate) fn summary(&self) -> u64 {
        self.head ^ (self.digest as u64) ^ ((self.digest >> 64) as u64)
    }
}

/// The hash of a key's head, `prefix` or `prefix:vN`: the text between the namespace and the
/// digest, hashed as it is written in the key.
pub(crate) fn head_hash(prefix: &str, version: Option<u32>) -> u64 {
    match version {
        None => xxhash_rust::xxh3::xxh3_64(prefix.as_bytes()),
        Some(version) => xxhash_rust::xxh3::xxh3_64(format!("{prefix}:v{version}").as_bytes()),
    }
}

/// Appends `hash` as 32 lowercase hex digits, without going through `core::fmt`: this runs on
/// every call.
fn push_hex(out: &mut String, hash: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 32];
    for (i, byte) in hash.to_be_bytes().iter().enumerate() {
        buf[2 * i] = DIGITS[(byte >> 4) as usize];
        buf[2 * i + 1] = DIGITS[(byte & 0xf) as usize];
    }
    // Hex digits are ASCII.
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    fn key(build: impl FnOnce(&mut KeyBuilder)) -> String {
        let mut builder = KeyBuilder::new();
        build(&mut builder);
        Key::new(None, "p", None, builder.finish().unwrap()).text
    }

    // Golden values: computed outside Rust with Python's `xxhash.xxh3_128_hexdigest` of
    // `json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`. If one of
    // these changes, every key in every deployed cache changes: that is a breaking release.
    #[test]
    fn keys_are_frozen_and_match_the_documented_canonical_form() {
        assert_eq!(
            key(|k| {
                k.arg("location_name", "Recife");
            }),
            "p:cccb998e077f32923f57e5b7625f9c0a"
        );
        assert_eq!(
            key(|k| {
                k.arg("limit", &10u32);
            }),
            "p:3ed03db573e8df68642a909db1118e4e"
        );
        let mut filter = HashMap::new();
        filter.insert("z", Some(1));
        filter.insert("a", None);
        assert_eq!(
            key(|k| {
                k.arg("city", "São Paulo")
                    .arg("filter", &filter)
                    .arg("limit", &5i64)
                    .arg("tags", &["a", "b"]);
            }),
            "p:c8c9232a9c772e652e69a7635784e3e5"
        );
        assert_eq!(key(|_| {}), "p:dc7048f8f8747f561349cde127705c16");
    }

    #[test]
    fn an_entry_id_is_read_back_from_its_key_and_from_no_other() {
        let digest = 0x3ed03db573e8df68642a909db1118e4e;
        for (namespace, prefix, version) in [
            (None, "top-soon", None),
            (Some("app"), "top-soon", Some(2)),
            (Some("a:b"), "with:colons", None),
        ] {
            let key = Key::new(namespace, prefix, version, digest);
            let id = EntryId::new(head_hash(prefix, version), digest);
            assert_eq!(EntryId::of_key(namespace, key.as_str()), Some(id), "{key}");
            assert_eq!(EntryId::of_key(namespace, &key.stale()), None);
            assert_eq!(EntryId::of_key(namespace, &key.lock()), None);
        }
        let key = Key::new(Some("app"), "p", None, digest);
        assert_eq!(EntryId::of_key(Some("other"), key.as_str()), None);
        assert_eq!(EntryId::of_key(Some("app"), "app:p:generation"), None);
        assert_eq!(
            EntryId::of_key(None, "p:3ED03DB573E8DF68642A909DB1118E4E"),
            None
        );
        // Another prefix, the same digest (generations start at 0): another id.
        assert_ne!(
            EntryId::of_key(None, Key::new(None, "users", None, digest).as_str()),
            EntryId::of_key(None, Key::new(None, "orders", None, digest).as_str()),
        );
    }

    #[test]
    fn namespace_and_version_frame_the_hash_and_derived_keys_follow_it() {
        let mut builder = KeyBuilder::new();
        builder.arg("limit", &10u32);
        let key = Key::new(Some("app"), "top-soon", Some(2), builder.finish().unwrap());
        assert_eq!(
            key.as_str(),
            "app:top-soon:v2:3ed03db573e8df68642a909db1118e4e"
        );
        assert_eq!(
            key.stale(),
            "app:top-soon:v2:3ed03db573e8df68642a909db1118e4e:stale"
        );
        assert_eq!(
            key.lock(),
            "app:top-soon:v2:3ed03db573e8df68642a909db1118e4e:lock"
        );
    }

    #[test]
    fn hash_maps_give_one_key_whatever_their_iteration_order() {
        // Many maps with the same content, built in different orders and with different
        // hasher seeds: one key.
        let entries: Vec<(String, u32)> = (0..50).map(|i| (format!("k{i}"), i)).collect();
        let reference: BTreeMap<_, _> = entries.iter().cloned().collect();
        let expected = key(|k| {
            k.arg("m", &reference);
        });
        for round in 0..20 {
            let mut map = HashMap::new();
            let mut shuffled = entries.clone();
            shuffled.rotate_left(round);
            map.extend(shuffled);
            assert_eq!(
                key(|k| {
                    k.arg("m", &map);
                }),
                expected
            );
        }
    }

    #[test]
    fn different_arguments_give_different_keys() {
        let a = key(|k| {
            k.arg("a", "x").arg("b", "y");
        });
        let swapped = key(|k| {
            k.arg("a", "y").arg("b", "x");
        });
        // Without separators "ab" + "c" would collide with "a" + "bc".
        let joined = key(|k| {
            k.arg("a", "xy").arg("b", "");
        });
        let renamed = key(|k| {
            k.arg("a", "x").arg("c", "y");
        });
        let typed = key(|k| {
            k.arg("a", "1");
        });
        let number = key(|k| {
            k.arg("a", &1);
        });
        let keys = [a, swapped, joined, renamed, typed, number];
        for (i, one) in keys.iter().enumerate() {
            for other in &keys[i + 1..] {
                assert_ne!(one, other);
            }
        }
    }

    #[test]
    fn integer_width_and_reference_do_not_change_the_key() {
        // A refactor from u32 to u64, or from String to &str, keeps the cache warm.
        let narrow = key(|k| {
            k.arg("id", &7u8);
        });
        let wide = key(|k| {
            k.arg("id", &7i128);
        });
        assert_eq!(narrow, wide);
        let owned = key(|k| {
            k.arg("s", &String::from("v"));
        });
        let borrowed = key(|k| {
            k.arg("s", &&"v");
        });
        assert_eq!(owned, borrowed);
    }

    /// The arguments of every case of `scripts/key-vectors.py`, in the same order, as Rust
    /// values: one (name, canonical value) list per case.
    fn vector_cases() -> Vec<Vec<(&'static str, String)>> {
        use serde_json::json;
        fn c<T: serde::Serialize + ?Sized>(value: &T) -> String {
            canonical_json(value).unwrap()
        }
        #[derive(serde::Serialize)]
        struct Wide {
            n: u128,
            neg: i128,
            zero: u8,
        }
        let wide = Wide {
            n: u64::MAX as u128 + 2,
            neg: i64::MIN as i128 - 1,
            zero: 0,
        };
        vec![
            vec![("location_name", c("Recife"))],
            vec![("limit", c(&10))],
            vec![],
            vec![
                ("city", c("São Paulo")),
                ("filter", c(&HashMap::from([("z", Some(1)), ("a", None)]))),
                ("limit", c(&5)),
                ("tags", c(&["a", "b"])),
            ],
            vec![("s", c("quote\" backslash\\ slash/"))],
            vec![("s", c("line\nfeed\rreturn\ttab\u{8}back\u{c}form"))],
            vec![("s", c("\u{0}\u{1}\u{1f}\u{7f}"))],
            vec![("s", c("é 日本 😀 \u{2028}\u{2029} \u{feff}"))],
            vec![("s", c(""))],
            vec![(
                "m",
                c(&json!({"b": 1, "a": {"y": [1, {"d": true, "c": false}], "x": null}})),
            )],
            vec![(
                "m",
                c(&HashMap::from([
                    ("a\"b", 1),
                    ("a#b", 2),
                    ("a\\b", 3),
                    ("a\nb", 4),
                    ("a b", 5),
                ])),
            )],
            vec![(
                "m",
                c(&HashMap::from([
                    ("é", 1),
                    ("z", 2),
                    ("日", 3),
                    ("😀", 4),
                    ("Z", 5),
                    ("", 6),
                ])),
            )],
            // The struct's fields are the arguments: n, neg, zero.
            vec![
                ("n", c(&wide.n)),
                ("neg", c(&wide.neg)),
                ("zero", c(&wide.zero)),
            ],
            vec![
                ("b", c(&json!([true, false, null]))),
                ("e", c(&Vec::<u8>::new())),
                ("o", c(&BTreeMap::<String, u8>::new())),
            ],
        ]
    }

    /// Byte for byte what docs/keys.md's Python recipe gives, for strings (escapes, Unicode),
    /// integers of any width, booleans, null, arrays and nested maps.
    #[test]
    fn keys_match_the_python_recipe_byte_for_byte() {
        #[derive(serde::Deserialize)]
        struct Vector {
            canonical: String,
            hash: String,
        }
        let vectors: Vec<Vector> = serde_json::from_str(include_str!("vectors.json")).unwrap();
        let cases = vector_cases();
        assert_eq!(cases.len(), vectors.len());
        for (args, vector) in cases.into_iter().zip(vectors) {
            let members: Vec<String> = args
                .iter()
                .map(|(name, value)| format!("\"{name}\":{value}"))
                .collect();
            let canonical = format!("{{{}}}", members.join(","));
            assert_eq!(canonical, vector.canonical);
            let key = Key::new(None, "p", None, xxh3(&canonical));
            assert_eq!(key.as_str(), format!("p:{}", vector.hash));
            // Through the key builder, as a call hashes its arguments (the values read back
            // as JSON: all but the integers wider than 64 bits, which JSON values cannot hold).
            if !canonical.contains("18446744073709551617") {
                let mut builder = KeyBuilder::new();
                for (name, value) in &args {
                    let value: serde_json::Value = serde_json::from_str(value).unwrap();
                    builder.arg(name, &value);
                }
                assert_eq!(builder.finish().unwrap(), key.digest());
            }
        }
    }

    fn xxh3(text: &str) -> u128 {
        xxhash_rust::xxh3::xxh3_128(text.as_bytes())
    }
}
