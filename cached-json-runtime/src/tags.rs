//! Tags: `tags("catalog", "seller:{seller_id}")` on a function, and
//! [`Cache::invalidate_tag`](crate::Cache::invalidate_tag), which makes every entry carrying a
//! tag a miss, on every process sharing the store, in O(1).
//!
//! Each tag has a **record** in the store, `[namespace:]cached-json:tag:<tag>`, holding a random
//! token. A tagged function's run begins by keeping its tags' records ([`Store::keep_tags`]:
//! made with a new token if missing, extended if short-lived) and stores its value wrapped with
//! the tokens it began with ([`wrap`]). A read gets the entry and the records together, in one
//! round trip ([`Store::get_tagged`]), and serves the value only if every token is still the
//! record's ([`read`]). Invalidating a tag deletes its record: every entry stored before then
//! carries a token no record will have again (a new one is random), including the entries of
//! runs that began before the invalidation and finish after it. A record lost any other way
//! (expired, evicted by a full Redis) makes its entries misses too, never hits: nothing about a
//! record going missing can serve an old value. What the tags leave in the store is one small
//! key per tag in use, each expiring about two entry lives after its last use.
//!
//! An L1 in front of the store hears a record's change like any key's and drops the copies
//! of the entries carrying that tag ([`crate::l1`]).

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::key::Key;
use crate::store::{Read, Store};

/// What a tag record's key starts with, after the namespace.
const RECORD_HEAD: &str = "cached-json:tag:";

/// A run that began longer ago than this stores nothing: its tags' records were kept for at
/// least this long when it began, and an entry would not outlive them by much anyway.
pub(crate) const LONGEST_RUN: Duration = Duration::from_secs(30 * 60);

/// The key of `tag`'s record in `namespace`.
pub(crate) fn record_key(namespace: Option<&str>, tag: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}:{RECORD_HEAD}{tag}"),
        None => format!("{RECORD_HEAD}{tag}"),
    }
}

/// Whether `key` is a tag record's key in `namespace`.
pub(crate) fn is_record(namespace: Option<&str>, key: &str) -> bool {
    let rest = match namespace {
        Some(namespace) => key
            .strip_prefix(namespace)
            .and_then(|rest| rest.strip_prefix(':')),
        None => Some(key),
    };
    rest.is_some_and(|rest| rest.starts_with(RECORD_HEAD))
}

/// How long a run's records are kept for: the life of the entry and its stale copy, and the
/// longest run that still stores its value.
pub(crate) fn record_life(entry_life: Duration) -> Duration {
    entry_life + LONGEST_RUN
}

/// The key arguments a site's tags name, as they are written into a tag: a string as it is
/// (no quotes, no escapes), anything else as its canonical JSON (`42`, `true`, `null`,
/// `[1,2]`, `{"a":1}`).
#[derive(Default)]
pub(crate) struct TagArgs {
    args: Vec<(&'static str, String)>,
}

impl TagArgs {
    /// Records argument `name`, whose canonical JSON is `json`.
    pub(crate) fn add(&mut self, name: &'static str, json: &[u8]) {
        let text = match json {
            // A string without escapes: its text is between the quotes.
            [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
                String::from_utf8_lossy(inner).into_owned()
            }
            _ => match serde_json::from_slice::<String>(json) {
                Ok(text) => text,
                Err(_) => String::from_utf8_lossy(json).into_owned(),
            },
        };
        self.args.push((name, text));
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(arg, _)| *arg == name)
            .map(|(_, text)| text.as_str())
    }

    /// The record keys of `templates` with these arguments, in `namespace`.
    pub(crate) fn records(&self, templates: &[&str], namespace: Option<&str>) -> Arc<[String]> {
        templates
            .iter()
            .map(|template| {
                // Written in one go: `[namespace:]cached-json:tag:` and the rendered template.
                let mut key = String::with_capacity(
                    namespace.map_or(0, |n| n.len() + 1) + RECORD_HEAD.len() + template.len() + 16,
                );
                if let Some(namespace) = namespace {
                    key.push_str(namespace);
                    key.push(':');
                }
                key.push_str(RECORD_HEAD);
                render_into(&mut key, template, |name| self.get(name));
                key
            })
            .collect()
    }
}

/// `template` with each `{name}` replaced by that argument's text (`{{` and `}}` are braces);
/// the attribute has checked that every name is a key argument.
#[cfg(test)]
pub(crate) fn render<'a>(template: &str, arg: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    render_into(&mut out, template, arg);
    out
}

/// [`render`], appended to `out`.
fn render_into<'a>(out: &mut String, template: &str, arg: impl Fn(&str) -> Option<&'a str>) {
    let brace = |text: &str| text.bytes().position(|b| b == b'{' || b == b'}');
    let mut rest = template;
    while let Some(at) = brace(rest) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if let (true, Some(end)) = (tail.starts_with('{'), tail.find('}')) {
            out.push_str(arg(&tail[1..end]).unwrap_or_default());
            rest = &tail[end + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
}

/// What a tagged entry is stored as: `{"tags":[<token>,...],"value":<json>}` (itself JSON).
pub(crate) fn wrap(tokens: &[u64], json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 20 + 21 * tokens.len());
    out.extend_from_slice(b"{\"tags\":[");
    let mut buffer = itoa::Buffer::new();
    for (i, token) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(buffer.format(*token).as_bytes());
    }
    out.extend_from_slice(b"],\"value\":");
    out.extend_from_slice(json);
    out.push(b'}');
    out
}

/// Where a tagged entry's JSON is in `bytes`, if it was stored with exactly the tokens
/// `current`; `None` for bytes that are not a tagged entry, or were stored with other tokens.
fn stored_with(bytes: &[u8], current: &[u64]) -> Option<Range<usize>> {
    let rest = bytes.strip_prefix(b"{\"tags\":[")?;
    let close = rest.iter().position(|&b| b == b']')?;
    let mut stored = rest[..close].split(|&b| b == b',');
    let mut text = itoa::Buffer::new();
    for token in current {
        // Compared as written: formatting a token is cheaper than parsing one.
        if stored.next() != Some(text.format(*token).as_bytes()) {
            return None;
        }
    }
    if stored.next().is_some() {
        return None;
    }
    let value = rest[close..].strip_prefix(b"],\"value\":")?;
    if value.last() != Some(&b'}') {
        return None;
    }
    let start = bytes.len() - value.len();
    Some(start..bytes.len() - 1)
}

/// The JSON of a tagged entry read as `bytes`, if it was stored with exactly the tokens
/// `current` (its tags' records now, none missing); `None`: a miss.
pub(crate) fn check(mut bytes: Vec<u8>, current: &[u64]) -> Option<Vec<u8>> {
    if current.contains(&0) {
        return None;
    }
    let json = stored_with(&bytes, current)?;
    bytes.truncate(json.end);
    bytes.drain(..json.start);
    Some(bytes)
}

/// Reads `stored_at` (the entry of `key`, or its stale copy), with its remaining life when
/// `with_ttl`: for a tagged key, its records with it, and a value stored with other tokens
/// read as a miss. A tagged key whose records cannot be read is unreachable for the call: its
/// value cannot be vouched for, so the function runs and nothing is written.
pub(crate) async fn read(
    store: &dyn Store,
    key: &Key,
    stored_at: &str,
    with_ttl: bool,
) -> (Read, Option<Duration>) {
    let (read, remaining, _) = read_seeing(store, key, stored_at, with_ttl).await;
    (read, remaining)
}

/// [`read`], and the tokens it saw (a tagged key's, when its records could be read).
pub(crate) async fn read_seeing(
    store: &dyn Store,
    key: &Key,
    stored_at: &str,
    with_ttl: bool,
) -> (Read, Option<Duration>, Option<Vec<u64>>) {
    let Some(tags) = key.tags() else {
        let (read, remaining) = match with_ttl {
            true => store.get_with_ttl(stored_at).await,
            false => (store.get(stored_at).await, None),
        };
        return (read, remaining, None);
    };
    match store.get_tagged(stored_at, tags, with_ttl).await {
        (read, remaining, Ok(current)) => match read {
            Read::Value(bytes) => match check(bytes, &current) {
                Some(json) => (Read::Value(json), remaining, Some(current)),
                None => (Read::Miss, None, Some(current)),
            },
            Read::Unreachable => (Read::Unreachable, None, None),
            _ => (Read::Miss, None, Some(current)),
        },
        (_, _, Err(_)) => (Read::Unreachable, None, None),
    }
}

/// A summary of a run's tokens, mixed into its flight's identity ([`Key::read_with`]).
pub(crate) fn salt(tokens: &[u64]) -> u64 {
    tokens.iter().fold(0x9e37_79b9_7f4a_7c15, |hash, token| {
        (hash ^ token).wrapping_mul(0x100_0000_01b3).rotate_left(29)
    })
}

/// The tokens a tagged run begins with, and when: the records kept for an entry of
/// `entry_life` (see [`record_life`]).
pub(crate) struct Began {
    pub(crate) tokens: Vec<u64>,
    pub(crate) at: Instant,
}

impl Began {
    /// Keeps `tags`' records; `None` if the store could not (nothing is stored then).
    pub(crate) async fn keep(
        store: &dyn Store,
        tags: &[String],
        entry_life: Duration,
    ) -> Option<Self> {
        let at = Instant::now();
        let tokens = store.keep_tags(tags, record_life(entry_life)).await.ok()?;
        Some(Began { tokens, at })
    }

    /// What to store for `json`, if the run is still recent enough to store it.
    pub(crate) fn wrap(&self, json: &[u8]) -> Option<Vec<u8>> {
        (self.at.elapsed() < LONGEST_RUN).then(|| wrap(&self.tokens, json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_the_arguments_text() {
        let mut args = TagArgs::default();
        args.add("seller_id", b"42");
        args.add("name", br#""Jo\u00e3o \"J\"""#);
        args.add("filter", br#"{"a":[1,true,null]}"#);
        let get = |name: &str| args.get(name);
        assert_eq!(render("seller:{seller_id}", get), "seller:42");
        assert_eq!(render("by:{name}", get), "by:João \"J\"");
        assert_eq!(render("f:{filter}", get), r#"f:{"a":[1,true,null]}"#);
        assert_eq!(render("{{literal}} {seller_id}}}", get), "{literal} 42}");
        assert_eq!(render("catalog", get), "catalog");
        assert_eq!(
            &*args.records(&["catalog", "seller:{seller_id}"], Some("app")),
            [
                "app:cached-json:tag:catalog",
                "app:cached-json:tag:seller:42"
            ]
        );
    }

    #[test]
    fn records_are_told_from_entries() {
        assert!(is_record(Some("app"), "app:cached-json:tag:seller:42"));
        assert!(!is_record(Some("app"), "other:cached-json:tag:seller:42"));
        assert!(is_record(None, "cached-json:tag:x"));
        assert!(!is_record(None, "users:0123456789abcdef0123456789abcdef"));
    }

    #[test]
    fn a_value_serves_only_with_the_tokens_it_was_stored_with() {
        let stored = wrap(&[7, 9], br#"{"a":1}"#);
        assert_eq!(
            String::from_utf8(stored.clone()).unwrap(),
            r#"{"tags":[7,9],"value":{"a":1}}"#
        );
        assert_eq!(check(stored.clone(), &[7, 9]).unwrap(), br#"{"a":1}"#);
        assert_eq!(check(stored.clone(), &[7, 8]), None, "a tag invalidated");
        assert_eq!(check(stored.clone(), &[7]), None, "another set of tags");
        assert_eq!(
            check(br#"{"a":1}"#.to_vec(), &[7, 9]),
            None,
            "stored untagged"
        );
        // A record that went missing and was made again by a run that kept tokens 0 (none).
        assert_eq!(check(wrap(&[0], b"1"), &[0]), None);
    }
}
