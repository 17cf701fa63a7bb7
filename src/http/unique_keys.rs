//! A JSON value read like `serde_json::Value`, noting the first object that has a key twice.
//!
//! `serde_json::Value` keeps the last of duplicate keys, so `{"visibility": "industry",
//! "visibility": "private"}` would be read as whichever came last while a proxy or a log reader
//! sees the first: an ambiguity a client never means. Bodies are read through this once (see
//! [`super::json::Json`]) and refused with a problem naming the key and where it is.
//!
//! A body that is not JSON at all fails here too; the error then says where in the document it
//! broke, as a path (`at items[217].outcome: expected value at line 1 column 9000`), which
//! [`path_of`] reads back for the problem's `errors[].field`.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// A parsed body and the first duplicate key in it, as a path (`items[3].outcome`).
#[derive(Debug)]
pub struct UniqueKeys {
    pub value: Value,
    pub duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let duplicate = RefCell::new(None);
        let placed = Cell::new(false);
        let value = Reader {
            at: &Segment::Root,
            duplicate: &duplicate,
            placed: &placed,
        }
        .deserialize(deserializer)?;
        Ok(UniqueKeys {
            value,
            duplicate: duplicate.into_inner(),
        })
    }
}

/// Where a value is, without allocating for every value read.
enum Segment<'a> {
    Root,
    Index(&'a Segment<'a>, usize),
    Key(&'a Segment<'a>, &'a str),
}

impl fmt::Display for Segment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Root => Ok(()),
            Segment::Index(parent, i) => write!(f, "{parent}[{i}]"),
            Segment::Key(Segment::Root, key) => f.write_str(key),
            Segment::Key(parent, key) => write!(f, "{parent}.{key}"),
        }
    }
}

struct Reader<'a> {
    at: &'a Segment<'a>,
    duplicate: &'a RefCell<Option<String>>,
    /// Whether an error has been given its path already (the innermost reader names it).
    placed: &'a Cell<bool>,
}

impl Reader<'_> {
    /// `err` as raised while reading the value at `at`, with that path in front.
    fn place<E: serde::de::Error>(&self, at: &Segment<'_>, err: E) -> E {
        if self.placed.replace(true) {
            return err;
        }
        // The format's own position (" at line 1 column 9") is added again on the way out.
        let text = err.to_string();
        let text = text.rfind(" at line ").map_or(text.as_str(), |i| &text[..i]);
        E::custom(format_args!("at {at}: {text}"))
    }
}

/// The path a syntax error was placed at by the reader, and the rest of its message.
pub fn path_of(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("at ")?;
    let (path, text) = rest.split_once(": ")?;
    (!path.is_empty() && !path.contains(' ')).then_some((path, text))
}

impl<'de> DeserializeSeed<'de> for Reader<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Reader<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let at = Segment::Index(self.at, items.len());
            let reader = Reader {
                at: &at,
                duplicate: self.duplicate,
                placed: self.placed,
            };
            match seq.next_element_seed(reader).map_err(|e| self.place(&at, e))? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = Segment::Key(self.at, &key);
            let value = map
                .next_value_seed(Reader {
                    at: &at,
                    duplicate: self.duplicate,
                    placed: self.placed,
                })
                .map_err(|e| self.place(&at, e))?;
            if fields.contains_key(&key) {
                let mut first = self.duplicate.borrow_mut();
                if first.is_none() {
                    *first = Some(at.to_string());
                }
                continue;
            }
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::UniqueKeys;

    fn read(text: &str) -> UniqueKeys {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        let text = r#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        let read = read(text);
        assert_eq!(read.value, serde_json::from_str::<serde_json::Value>(text).unwrap());
        assert_eq!(read.duplicate, None);
    }

    #[test]
    fn a_syntax_error_says_where_in_the_document_it_broke() {
        let mut items = vec![r#"{"outcome": "pass"}"#.to_string(); 218];
        items[217] = r#"{"scenario": "x", "outcome": pass}"#.into();
        let text = format!(r#"{{"items": [{}]}}"#, items.join(","));
        let err = serde_json::from_str::<UniqueKeys>(&text).unwrap_err().to_string();
        let (path, rest) = super::path_of(&err).unwrap_or_else(|| panic!("{err}"));
        assert_eq!(path, "items[217].outcome");
        assert!(rest.starts_with("expected value at line 1 column"), "{err}");
        // An error outside any value keeps serde_json's own words.
        let err = serde_json::from_str::<UniqueKeys>("{} x").unwrap_err().to_string();
        assert_eq!(super::path_of(&err), None, "{err}");
    }

    #[test]
    fn the_first_duplicate_key_is_named_with_its_path() {
        assert_eq!(read(r#"{"a": 1, "a": 2}"#).duplicate.as_deref(), Some("a"));
        let nested = read(r#"{"items": [{"x": 1}, {"x": 1, "outcome": "pass", "outcome": "fail"}], "z": 1, "z": 2}"#);
        assert_eq!(nested.duplicate.as_deref(), Some("items[1].outcome"));
        // The same key in different objects is no duplicate.
        assert_eq!(read(r#"[{"a": 1}, {"a": 1}]"#).duplicate, None);
    }
}
