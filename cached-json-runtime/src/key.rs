//! Deterministic cache keys.
//!
//! A key is `[namespace:]prefix[:vN]:hash`, where `hash` is the lowercase hex of the 128-bit
//! xxh3 hash of the **canonical JSON** of the key arguments: one JSON object whose members are
//! the argument names and values, with every object (arguments, structs, maps) written with its
//! members sorted by key and no whitespace.
//!
//! The canonical form is what makes keys identical across processes, machines and releases:
//! `HashMap` iteration order, pointer values and `Debug` output never reach the hash. It is also
//! reproducible outside Rust; for strings, integers, booleans, `null`, arrays and objects it is
//! exactly Python's `json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
//! so `xxhash.xxh3_128_hexdigest(that)` gives the same hash.
//!
//! The serde data model is mapped as `serde_json` maps it: `Option::None`, `()` and unit structs
//! are `null`; `Some(x)` and newtype structs are `x`; sequences, tuples and tuple structs are
//! arrays; unit enum variants are `"Variant"`, other variants `{"Variant": ...}`; map keys that
//! are not strings are written as strings (`{"1": ...}`).
//!
//! ```
//! use cached_json_runtime::key::{canonical_json, KeyBuilder};
//!
//! let mut key = KeyBuilder::new();
//! key.arg("location_name", &"Recife");
//! // xxh3-128 of {"location_name":"Recife"}
//! assert_eq!(key.finish(None, "local-info", None), "local-info:cccb998e077f32923f57e5b7625f9c0a");
//!
//! #[derive(serde::Serialize)]
//! struct Filter { limit: u32, city: &'static str }
//! assert_eq!(canonical_json(&Filter { limit: 5, city: "Natal" }).unwrap(), r#"{"city":"Natal","limit":5}"#);
//! ```

use std::fmt::Write as _;
use std::io;

use serde::ser::{self, Serialize};
use xxhash_rust::xxh3::xxh3_128;

/// Builds one cache key from named arguments, then a prefix.
///
/// Arguments must be added in ascending order of their names: the `#[cached_json]` attribute
/// sorts them at compile time, so that the canonical object is sorted without work at run time.
pub struct KeyBuilder {
    canonical: CanonicalBuffer,
    first: bool,
    #[cfg(debug_assertions)]
    last_name: Option<&'static str>,
}

impl Default for KeyBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyBuilder {
    /// An empty key: no arguments yet.
    pub fn new() -> Self {
        let mut canonical = CanonicalBuffer::new();
        canonical.push(b"{");
        KeyBuilder {
            canonical,
            first: true,
            #[cfg(debug_assertions)]
            last_name: None,
        }
    }

    /// Adds one argument. `name` must be a plain identifier (no escaping is done) and names must
    /// come in ascending order.
    ///
    /// A value whose `Serialize` impl fails (a custom impl returning an error) still gives a
    /// deterministic key: a marker is hashed in its place and a warning is logged, since the
    /// call must not fail because of its cache key.
    pub fn arg<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> &mut Self {
        #[cfg(debug_assertions)]
        {
            debug_assert!(
                self.last_name.is_none_or(|last| last < name),
                "key arguments must be added in ascending name order"
            );
            self.last_name = Some(name);
        }
        if !self.first {
            self.canonical.push(b",");
        }
        self.first = false;
        self.canonical.push(b"\"");
        self.canonical.push(name.as_bytes());
        self.canonical.push(b"\":");
        let start = self.canonical.len();
        if let Err(err) = value.serialize(Canonical(&mut self.canonical)) {
            tracing::warn!(argument = name, error = %err, "cache key argument failed to serialize");
            self.canonical.truncate(start);
            self.canonical.push(b"\"<unserializable>\"");
        }
        self
    }

    /// The finished key: `[namespace:]prefix[:vN]:hash`.
    pub fn finish(
        &mut self,
        namespace: Option<&str>,
        prefix: &str,
        version: Option<u32>,
    ) -> String {
        format_key(namespace, prefix, version, self.digest())
    }

    /// The hash of the arguments: the last part of the key.
    pub fn digest(&mut self) -> u128 {
        self.canonical.push(b"}");
        xxh3_128(self.canonical.as_bytes())
    }
}

/// `[namespace:]prefix[:vN]:hash` for an arguments digest.
pub fn format_key(
    namespace: Option<&str>,
    prefix: &str,
    version: Option<u32>,
    digest: u128,
) -> String {
    let mut key =
        String::with_capacity(namespace.map_or(0, |n| n.len() + 1) + prefix.len() + 12 + 33);
    if let Some(namespace) = namespace {
        key.push_str(namespace);
        key.push(':');
    }
    key.push_str(prefix);
    if let Some(version) = version {
        let _ = write!(key, ":v{version}");
    }
    key.push(':');
    push_hex(&mut key, digest);
    key
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

/// The canonical JSON of `value`, as it is hashed. For tests and for people checking keys.
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    value.serialize(Canonical(&mut out))?;
    // The canonical writer only ever emits UTF-8.
    Ok(String::from_utf8(out).expect("canonical JSON is UTF-8"))
}

/// The canonical JSON being built: on the stack up to 256 bytes (typical arguments), on the
/// heap past that. Hashed in one go at the end, which for short input is several times faster
/// than a streaming hasher's set-up.
struct CanonicalBuffer {
    len: usize,
    inline: [u8; INLINE],
    spilled: Vec<u8>,
}

const INLINE: usize = 256;

impl CanonicalBuffer {
    fn new() -> Self {
        CanonicalBuffer {
            len: 0,
            inline: [0; INLINE],
            spilled: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        if self.spilled.is_empty() {
            self.len
        } else {
            self.spilled.len()
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.spilled.is_empty() && self.len + bytes.len() <= INLINE {
            self.inline[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
            return;
        }
        if self.spilled.is_empty() {
            self.spilled.reserve(2 * INLINE + bytes.len());
            self.spilled.extend_from_slice(&self.inline[..self.len]);
        }
        self.spilled.extend_from_slice(bytes);
    }

    fn truncate(&mut self, len: usize) {
        if self.spilled.is_empty() {
            self.len = self.len.min(len);
        } else {
            self.spilled.truncate(len);
        }
    }

    fn as_bytes(&self) -> &[u8] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

impl io::Write for CanonicalBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Error = serde_json::Error;

fn custom(msg: &str) -> Error {
    <Error as ser::Error>::custom(msg)
}

/// Writes one scalar through serde_json, which owns the JSON number and string formatting.
fn scalar<W: io::Write, T: Serialize + ?Sized>(w: &mut W, v: &T) -> Result<(), Error> {
    serde_json::to_writer(w, v)
}

/// The canonical JSON serializer. Scalars and sequences stream straight into the writer; objects
/// buffer their members so that they can be written sorted.
struct Canonical<'w, W: io::Write>(&'w mut W);

impl<'w, W: io::Write> ser::Serializer for Canonical<'w, W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'w, W>;
    type SerializeTuple = Seq<'w, W>;
    type SerializeTupleStruct = Seq<'w, W>;
    type SerializeTupleVariant = Variant<Seq<'w, W>>;
    type SerializeMap = Object<'w, W>;
    type SerializeStruct = Object<'w, W>;
    type SerializeStructVariant = Variant<Object<'w, W>>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        scalar(self.0, &v)
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        scalar(self.0, v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        scalar(self.0, v)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.0.write_all(b"null").map_err(Error::io)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        scalar(self.0, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        open_variant(self.0, variant)?;
        value.serialize(Canonical(&mut *self.0))?;
        self.0.write_all(b"}").map_err(Error::io)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'w, W>, Error> {
        self.0.write_all(b"[").map_err(Error::io)?;
        Ok(Seq {
            out: self.0,
            first: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'w, W>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq<'w, W>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Seq<'w, W>>, Error> {
        open_variant(self.0, variant)?;
        Ok(Variant(self.serialize_seq(Some(len))?))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'w, W>, Error> {
        Ok(Object {
            out: self.0,
            members: Vec::new(),
            pending_key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Object<'w, W>, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Object<'w, W>>, Error> {
        open_variant(self.0, variant)?;
        Ok(Variant(self.serialize_map(Some(len))?))
    }
}

fn open_variant<W: io::Write>(out: &mut W, variant: &str) -> Result<(), Error> {
    out.write_all(b"{").map_err(Error::io)?;
    scalar(&mut *out, variant)?;
    out.write_all(b":").map_err(Error::io)
}

struct Seq<'w, W: io::Write> {
    out: &'w mut W,
    first: bool,
}

impl<W: io::Write> Seq<'_, W> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.out.write_all(b",").map_err(Error::io)?;
        }
        self.first = false;
        value.serialize(Canonical(&mut *self.out))
    }
    fn close(self) -> Result<(), Error> {
        self.out.write_all(b"]").map_err(Error::io)
    }
}

impl<W: io::Write> ser::SerializeSeq for Seq<'_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl<W: io::Write> ser::SerializeTuple for Seq<'_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl<W: io::Write> ser::SerializeTupleStruct for Seq<'_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// An object being written: members are buffered as (canonical key, canonical value) and written
/// sorted by key when it ends.
struct Object<'w, W: io::Write> {
    out: &'w mut W,
    members: Vec<(Vec<u8>, Vec<u8>)>,
    pending_key: Option<Vec<u8>>,
}

impl<W: io::Write> Object<'_, W> {
    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let mut buf = Vec::new();
        key.serialize(Canonical(&mut buf))?;
        // JSON object keys are strings: write numbers, booleans and null keys as strings, the
        // way serde_json does.
        if buf.first() != Some(&b'"') {
            if buf.first() == Some(&b'{') || buf.first() == Some(&b'[') {
                return Err(custom(
                    "a map key must be a string, number, boolean or unit",
                ));
            }
            let text = String::from_utf8(buf).map_err(|_| custom("non-UTF-8 map key"))?;
            buf = serde_json::to_vec(&text)?;
        }
        self.pending_key = Some(buf);
        Ok(())
    }
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| custom("map value without a key"))?;
        let mut buf = Vec::new();
        value.serialize(Canonical(&mut buf))?;
        self.members.push((key, buf));
        Ok(())
    }
    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), Error> {
        self.key(name)?;
        self.value(value)
    }
    fn close(mut self) -> Result<(), Error> {
        // Sorting the JSON-encoded keys orders them as their unescaped text for every key that
        // needs no escaping, which is all that real field names and map keys use.
        self.members.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let out = self.out;
        out.write_all(b"{").map_err(Error::io)?;
        for (i, (key, value)) in self.members.iter().enumerate() {
            if i > 0 {
                out.write_all(b",").map_err(Error::io)?;
            }
            out.write_all(key).map_err(Error::io)?;
            out.write_all(b":").map_err(Error::io)?;
            out.write_all(value).map_err(Error::io)?;
        }
        out.write_all(b"}").map_err(Error::io)
    }
}

impl<W: io::Write> ser::SerializeMap for Object<'_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.value(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl<W: io::Write> ser::SerializeStruct for Object<'_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(name, value)
    }
    fn skip_field(&mut self, _name: &'static str) -> Result<(), Error> {
        Ok(())
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// An enum variant with content: `{"Variant":<content>}`.
struct Variant<S>(S);

impl<W: io::Write> ser::SerializeTupleVariant for Variant<Seq<'_, W>> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.0.element(value)
    }
    fn end(self) -> Result<(), Error> {
        let Seq { out, .. } = self.0;
        out.write_all(b"]}").map_err(Error::io)
    }
}

impl<W: io::Write> ser::SerializeStructVariant for Variant<Object<'_, W>> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.0.field(name, value)
    }
    fn end(self) -> Result<(), Error> {
        // Close the object, then the variant wrapper around it.
        let Object {
            out,
            members,
            pending_key,
        } = self.0;
        let mut tail = Vec::new();
        Object {
            out: &mut tail,
            members,
            pending_key,
        }
        .close()?;
        out.write_all(&tail).map_err(Error::io)?;
        out.write_all(b"}").map_err(Error::io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    fn key(build: impl FnOnce(&mut KeyBuilder)) -> String {
        let mut builder = KeyBuilder::new();
        build(&mut builder);
        builder.finish(None, "p", None)
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
    fn long_arguments_spill_to_the_heap_and_hash_the_same() {
        // Past the 256-byte inline buffer: same canonical JSON, same hash.
        let long = "x".repeat(1000);
        let mut builder = KeyBuilder::new();
        builder.arg("a", "short").arg("b", &long);
        let spilled = builder.digest();
        let canonical = format!(r#"{{"a":"short","b":"{long}"}}"#);
        assert_eq!(spilled, xxh3_128(canonical.as_bytes()));
    }

    #[test]
    fn namespace_and_version_frame_the_hash() {
        let mut builder = KeyBuilder::new();
        builder.arg("limit", &10u32);
        assert_eq!(
            builder.finish(Some("app"), "top-soon", Some(2)),
            "app:top-soon:v2:3ed03db573e8df68642a909db1118e4e"
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

    #[derive(serde::Serialize)]
    struct Query<'a> {
        limit: u32,
        city: Option<&'a str>,
    }

    #[derive(serde::Serialize)]
    enum Order {
        Newest,
        Near { lat: f64, lon: f64 },
        Page(u32, u32),
    }

    #[test]
    fn canonical_json_covers_the_serde_data_model() {
        let cases: Vec<(String, &str)> = vec![
            (
                canonical_json(&Query {
                    limit: 5,
                    city: None,
                })
                .unwrap(),
                r#"{"city":null,"limit":5}"#,
            ),
            (canonical_json(&Order::Newest).unwrap(), r#""Newest""#),
            (
                canonical_json(&Order::Near {
                    lon: 2.5,
                    lat: -1.0,
                })
                .unwrap(),
                r#"{"Near":{"lat":-1.0,"lon":2.5}}"#,
            ),
            (
                canonical_json(&Order::Page(1, 2)).unwrap(),
                r#"{"Page":[1,2]}"#,
            ),
            (canonical_json(&(1, "a", true)).unwrap(), r#"[1,"a",true]"#),
            (
                canonical_json(&BTreeMap::from([(2, "b"), (10, "a")])).unwrap(),
                r#"{"10":"a","2":"b"}"#,
            ),
            (
                canonical_json("quote\" and\nline").unwrap(),
                r#""quote\" and\nline""#,
            ),
            (canonical_json(&()).unwrap(), "null"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
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
}
