//! The canonical JSON of a key argument: serde's data model written as JSON with every
//! object's members sorted and no whitespace, so that equal values hash alike whatever their
//! `HashMap` order, and different values never do.
//!
//! The serde data model is mapped as `serde_json` maps it, with the few changes that make the
//! mapping one-to-one:
//!
//! - `None`, `()` and unit structs are `null`; `Some(x)` is `x`, unless `x` itself is written
//!   `null` (or starts with `?`): then it is `?` followed by `x`, so that `None`, `Some(None)`
//!   and `Some(Some(None))` are `null`, `?null` and `??null`;
//! - numbers as `serde_json` writes them (`-0.0` and `0.0` differ), and the floats JSON has no
//!   number for as Python's `json.dumps` writes them: `NaN`, `Infinity`, `-Infinity`;
//! - sequences, tuples and tuple structs are arrays; unit enum variants are `"Variant"`, other
//!   variants `{"Variant": ...}`;
//! - objects (structs, maps) have their members sorted by key, as text (code point order, the
//!   order of Python's `sort_keys`), then by value, so that two keys written alike cannot make
//!   the result depend on iteration order; map keys that are numbers, booleans or unit
//!   variants are written as strings (`{"1": ...}`), as `serde_json` does.
//!
//! A value with no such form is refused with an error (the call then runs uncached): a map key
//! that is a sequence, a map, a struct, an enum variant with data, bytes or `None`.

use std::io;

use serde::ser::{self, Serialize};

type Error = serde_json::Error;

/// Where canonical JSON is written: appended bytes, readable back, so that `Some` can look at
/// what its value wrote.
pub(super) trait Sink: io::Write {
    /// Everything written so far.
    fn written(&self) -> &[u8];
    /// Puts `byte` at `at`, moving what follows.
    fn insert(&mut self, at: usize, byte: u8);
}

impl Sink for Vec<u8> {
    fn written(&self) -> &[u8] {
        self
    }
    fn insert(&mut self, at: usize, byte: u8) {
        Vec::insert(self, at, byte);
    }
}

/// The canonical JSON of `value`, as it is hashed. For tests and for people checking keys.
///
/// ```
/// use cached_json_runtime::key::canonical_json;
/// use std::collections::HashMap;
///
/// let filter = HashMap::from([("z", Some(1)), ("a", None)]);
/// assert_eq!(canonical_json(&filter).unwrap(), r#"{"a":null,"z":1}"#);
/// assert_eq!(canonical_json(&Some(None::<u8>)).unwrap(), "?null");
/// assert_eq!(canonical_json(&f64::NAN).unwrap(), "NaN");
/// ```
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    value.serialize(Canonical(&mut out))?;
    String::from_utf8(out).map_err(|_| custom("canonical JSON is not UTF-8"))
}

fn custom(msg: &str) -> Error {
    <Error as ser::Error>::custom(msg)
}

fn io_error(err: io::Error) -> Error {
    Error::io(err)
}

/// Writes one scalar through serde_json, which owns the JSON number and string formatting.
fn scalar<W: io::Write, T: Serialize + ?Sized>(w: &mut W, v: &T) -> Result<(), Error> {
    serde_json::to_writer(w, v)
}

/// The token of a float JSON has no number for, as Python's `json.dumps` writes it.
fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v.is_infinite() {
        Some(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        None
    }
}

fn float<W: io::Write, T: Serialize + Into<f64> + Copy>(w: &mut W, v: T) -> Result<(), Error> {
    match non_finite(v.into()) {
        Some(token) => w.write_all(token.as_bytes()).map_err(io_error),
        None => scalar(w, &v),
    }
}

/// The canonical JSON serializer. Scalars and sequences stream straight into the sink; objects
/// buffer their members so that they can be written sorted.
pub(super) struct Canonical<'w, W: Sink>(pub(super) &'w mut W);

impl<'w, W: Sink> ser::Serializer for Canonical<'w, W> {
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
        float(self.0, v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        float(self.0, v)
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
        let out = self.0;
        let start = out.written().len();
        value.serialize(Canonical(&mut *out))?;
        // `Some(x)` is `x`, unless `x` could be taken for `None` or another `Some`.
        let inner = &out.written()[start..];
        if inner == b"null" || inner.first() == Some(&b'?') {
            out.insert(start, b'?');
        }
        Ok(())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.0.write_all(b"null").map_err(io_error)
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
        self.0.write_all(b"}").map_err(io_error)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'w, W>, Error> {
        self.0.write_all(b"[").map_err(io_error)?;
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

mod compound;
mod map_key;

use compound::{open_variant, Object, Seq, Variant};
use map_key::MapKey;

#[cfg(test)]
mod tests;
