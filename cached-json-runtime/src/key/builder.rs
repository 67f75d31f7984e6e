//! Hashing one call's arguments: their canonical JSON, written into an inline buffer as they
//! are added, then hashed in one go.

use std::io;

use serde::Serialize;
use xxhash_rust::xxh3::{xxh3_128, xxh3_128_with_seed};

use super::canonical::{Canonical, Sink};

/// Hashes the named arguments of one call into the digest that ends its [`Key`](super::Key).
///
/// Arguments must be added in ascending order of their names: the `#[cached_json]` attribute
/// sorts them at compile time, so that the canonical object is sorted without work at run time.
#[derive(Clone)]
pub struct KeyBuilder {
    canonical: CanonicalBuffer,
    first: bool,
    /// Seeds the hash (0: unseeded); see [`KeyBuilder::seeded`].
    seed: u64,
    /// The first argument that has no canonical form, and why.
    unencodable: Option<Unencodable>,
    /// Where the last argument's value begins in `canonical`.
    last_value: usize,
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
        Self::seeded(0)
    }

    /// An empty key whose hash is seeded with `seed`: the same arguments give another digest.
    /// Seed 0 is the plain, documented hash.
    pub fn seeded(seed: u64) -> Self {
        let mut canonical = CanonicalBuffer::new();
        canonical.push(b"{");
        KeyBuilder {
            canonical,
            first: true,
            seed,
            unencodable: None,
            last_value: 0,
            #[cfg(debug_assertions)]
            last_name: None,
        }
    }

    /// The arguments that follow another's in a key, for [`KeyBuilder::extend`]: a batch's key
    /// arguments named after its ids' (see `crate::batch`).
    pub(crate) fn members() -> Self {
        KeyBuilder {
            canonical: CanonicalBuffer::new(),
            first: false,
            seed: 0,
            unencodable: None,
            last_value: 0,
            #[cfg(debug_assertions)]
            last_name: None,
        }
    }

    /// Appends the arguments of `members` (made by [`KeyBuilder::members`]), whose names come
    /// after every name added here.
    pub(crate) fn extend(&mut self, members: &KeyBuilder) -> &mut Self {
        if let Some(unencodable) = &members.unencodable {
            self.unencodable.get_or_insert_with(|| unencodable.clone());
        }
        self.canonical.push(members.canonical.as_bytes());
        #[cfg(debug_assertions)]
        {
            self.last_name = members.last_name.or(self.last_name);
        }
        self
    }

    /// Adds one argument. `name` must be a plain identifier (no escaping is done) and names must
    /// come in ascending order.
    ///
    /// A value with no canonical form (see [`canonical_json`](super::canonical_json)) makes the
    /// whole key [`Unencodable`]: no placeholder is hashed in its place, since every such call
    /// would then share one key.
    pub fn arg<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> &mut Self {
        if self.unencodable.is_some() {
            return self;
        }
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
        self.last_value = self.canonical.as_bytes().len();
        if let Err(err) = value.serialize(Canonical(&mut self.canonical)) {
            self.unencodable = Some(Unencodable {
                argument: name,
                reason: err.to_string(),
            });
        }
        self
    }

    /// The canonical JSON of the argument added last (empty before any, or when it had none).
    pub(crate) fn last_value(&self) -> &[u8] {
        match self.unencodable {
            Some(_) => &[],
            None => &self.canonical.as_bytes()[self.last_value..],
        }
    }

    /// The hash of the arguments: the last part of the key. Consumes the builder, so that a
    /// key is finished once.
    pub fn finish(mut self) -> Result<u128, Unencodable> {
        if let Some(unencodable) = self.unencodable {
            return Err(unencodable);
        }
        self.canonical.push(b"}");
        Ok(match self.seed {
            0 => xxh3_128(self.canonical.as_bytes()),
            seed => xxh3_128_with_seed(self.canonical.as_bytes(), seed),
        })
    }
}

/// A key argument whose value has no canonical form: the call cannot have a key of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unencodable {
    pub(crate) argument: &'static str,
    pub(crate) reason: String,
}

impl Unencodable {
    /// The argument's name.
    pub fn argument(&self) -> &'static str {
        self.argument
    }

    /// Why, e.g. "a map key must be a string, a number, a boolean or a unit enum variant".
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The canonical JSON being built: on the stack up to 256 bytes (typical arguments), on the
/// heap past that. Hashed in one go at the end, which for short input is several times faster
/// than a streaming hasher's set-up.
#[derive(Clone)]
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

    fn as_bytes(&self) -> &[u8] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

impl Sink for CanonicalBuffer {
    fn written(&self) -> &[u8] {
        self.as_bytes()
    }
    fn insert(&mut self, at: usize, byte: u8) {
        if self.spilled.is_empty() && self.len < INLINE {
            self.inline.copy_within(at..self.len, at + 1);
            self.inline[at] = byte;
            self.len += 1;
            return;
        }
        if self.spilled.is_empty() {
            self.spilled.reserve(2 * INLINE);
            self.spilled.extend_from_slice(&self.inline[..self.len]);
        }
        self.spilled.insert(at, byte);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_arguments_spill_to_the_heap_and_hash_the_same() {
        // Past the 256-byte inline buffer: same canonical JSON, same hash.
        let long = "x".repeat(1000);
        let mut builder = KeyBuilder::new();
        builder.arg("a", "short").arg("b", &long);
        let spilled = builder.finish().unwrap();
        let canonical = format!(r#"{{"a":"short","b":"{long}"}}"#);
        assert_eq!(spilled, xxh3_128(canonical.as_bytes()));
    }

    #[test]
    fn a_key_continued_with_members_is_the_key_of_all_its_arguments() {
        // A batch's id between other arguments: `a`, then the id `b`, then `c` and `d`.
        let mut whole = KeyBuilder::seeded(7);
        whole
            .arg("a", &1)
            .arg("b", "id")
            .arg("c", &[2, 3])
            .arg("d", &true);
        let mut members = KeyBuilder::members();
        members.arg("c", &[2, 3]).arg("d", &true);
        let mut head = KeyBuilder::seeded(7);
        head.arg("a", &1);
        let mut continued = head.clone();
        continued.arg("b", "id").extend(&members);
        assert_eq!(continued.finish(), whole.finish());
        // The head is untouched by its clone's use: another id, another key.
        let mut other = head.clone();
        other.arg("b", "other").extend(&members);
        let mut by_hand = KeyBuilder::seeded(7);
        by_hand
            .arg("a", &1)
            .arg("b", "other")
            .arg("c", &[2, 3])
            .arg("d", &true);
        assert_eq!(other.finish(), by_hand.finish());
    }
}
