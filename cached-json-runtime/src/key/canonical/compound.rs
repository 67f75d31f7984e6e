//! Sequences, objects and enum variants with data, written canonically: an object's members
//! buffered, then written sorted (see the parent module).

use std::borrow::Cow;
use std::io;

use serde::ser::{self, Serialize};

use super::{custom, io_error, scalar, Canonical, Error, MapKey, Sink};

pub(super) fn open_variant<W: io::Write>(out: &mut W, variant: &str) -> Result<(), Error> {
    out.write_all(b"{").map_err(io_error)?;
    scalar(&mut *out, variant)?;
    out.write_all(b":").map_err(io_error)
}

pub(in crate::key) struct Seq<'w, W: Sink> {
    pub(super) out: &'w mut W,
    pub(super) first: bool,
}

impl<W: Sink> Seq<'_, W> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.out.write_all(b",").map_err(io_error)?;
        }
        self.first = false;
        value.serialize(Canonical(&mut *self.out))
    }
    fn close(self) -> Result<(), Error> {
        self.out.write_all(b"]").map_err(io_error)
    }
}

impl<W: Sink> ser::SerializeSeq for Seq<'_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl<W: Sink> ser::SerializeTuple for Seq<'_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl<W: Sink> ser::SerializeTupleStruct for Seq<'_, W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// One member of an object: its key as text, and its value's canonical JSON.
pub(in crate::key) struct Member {
    key: Cow<'static, str>,
    value: Vec<u8>,
}

/// An object being written: members are buffered and written sorted when it ends.
pub(in crate::key) struct Object<'w, W: Sink> {
    pub(super) out: &'w mut W,
    pub(super) members: Vec<Member>,
    pub(super) pending_key: Option<Cow<'static, str>>,
}

impl<W: Sink> Object<'_, W> {
    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.pending_key = Some(Cow::Owned(key.serialize(MapKey)?));
        Ok(())
    }
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| custom("map value without a key"))?;
        let mut buf = Vec::new();
        value.serialize(Canonical(&mut buf))?;
        self.members.push(Member { key, value: buf });
        Ok(())
    }
    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), Error> {
        self.pending_key = Some(Cow::Borrowed(name));
        self.value(value)
    }
    fn close(mut self) -> Result<(), Error> {
        // By key as text (UTF-8 byte order is code point order, Python's `sort_keys` order),
        // then by value: two members whose keys are written alike still have one order.
        self.members
            .sort_unstable_by(|a, b| a.key.cmp(&b.key).then_with(|| a.value.cmp(&b.value)));
        let out = self.out;
        out.write_all(b"{").map_err(io_error)?;
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                out.write_all(b",").map_err(io_error)?;
            }
            scalar(&mut *out, &*member.key)?;
            out.write_all(b":").map_err(io_error)?;
            out.write_all(&member.value).map_err(io_error)?;
        }
        out.write_all(b"}").map_err(io_error)
    }
}

impl<W: Sink> ser::SerializeMap for Object<'_, W> {
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

impl<W: Sink> ser::SerializeStruct for Object<'_, W> {
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
pub(in crate::key) struct Variant<S>(pub(super) S);

impl<W: Sink> ser::SerializeTupleVariant for Variant<Seq<'_, W>> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.0.element(value)
    }
    fn end(self) -> Result<(), Error> {
        let Seq { out, .. } = self.0;
        out.write_all(b"]}").map_err(io_error)
    }
}

impl<W: Sink> ser::SerializeStructVariant for Variant<Object<'_, W>> {
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
        out.write_all(&tail).map_err(io_error)?;
        out.write_all(b"}").map_err(io_error)
    }
}
