//! The canonical JSON of a key argument: serde's data model written as JSON with every
//! object's members sorted and no whitespace, so that equal values hash alike whatever their
//! `HashMap` order.
//!
//! The serde data model is mapped as `serde_json` maps it: `Option::None`, `()` and unit structs
//! are `null`; `Some(x)` and newtype structs are `x`; sequences, tuples and tuple structs are
//! arrays; unit enum variants are `"Variant"`, other variants `{"Variant": ...}`; map keys that
//! are not strings are written as strings (`{"1": ...}`).

use std::io;

use serde::ser::{self, Serialize};

/// The canonical JSON of `value`, as it is hashed. For tests and for people checking keys.
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    value.serialize(Canonical(&mut out))?;
    // The canonical writer only ever emits UTF-8.
    Ok(String::from_utf8(out).expect("canonical JSON is UTF-8"))
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
pub(super) struct Canonical<'w, W: io::Write>(pub(super) &'w mut W);

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

pub(super) struct Seq<'w, W: io::Write> {
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
pub(super) struct Object<'w, W: io::Write> {
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
pub(super) struct Variant<S>(S);

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
    use std::collections::BTreeMap;

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
}
