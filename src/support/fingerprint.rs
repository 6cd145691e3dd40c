//! Fingerprints: stable hashes of canonical JSON, so equal inputs give equal hashes whatever the
//! key order or the machine.
//!
//! The canonical form is compact JSON with every object's keys sorted by their bytes, numbers and
//! strings written as serde_json writes them: byte for byte what printing
//! `serde_json::to_value(x)` with sorted keys gives, which is how it was first computed (cache
//! keys and fingerprints on disk depend on it). It is written straight from any `Serialize`
//! value, with no `serde_json::Value` built in between: a cache key is computed for every call,
//! and building (then dropping) a tree of maps for it cost more CPU than the call's HTTP exchange.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::{self, Error as _};
use serde_json::Value;
use sha2::{Digest, Sha256};

type Error = serde_json::Error;

/// The canonical JSON of `value`.
///
/// # Panics
///
/// When `value` cannot be JSON at all: a map key that is not a string, a number, a bool or a
/// char, or an integer beyond 64 bits (`serde_json::json!` panics on those too).
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut canonical = Canonical {
        out: Vec::with_capacity(512),
        members: Vec::new(),
        scratch: Vec::new(),
    };
    if let Err(e) = value.serialize(&mut canonical) {
        panic!("a fingerprinted value is not JSON: {e}");
    }
    canonical.out
}

/// Hex SHA-256 of the canonical JSON of `value`.
pub fn hash_canonical<T: Serialize + ?Sized>(value: &T) -> String {
    hex::encode(Sha256::digest(canonical_json(value)))
}

/// Hex SHA-256 of the canonical JSON of `value`.
pub fn hash_json(value: &Value) -> String {
    hash_canonical(value)
}

/// Writes canonical JSON to `out`.
#[derive(Debug)]
struct Canonical {
    out: Vec<u8>,
    /// The members of the objects being written, innermost last: objects nest, so each one's
    /// members are the top of this stack, popped when it closes.
    members: Vec<Member>,
    /// Where an object's members are copied while they are put in order.
    scratch: Vec<u8>,
}

impl Canonical {
    /// A string as serde_json escapes it.
    fn string(&mut self, s: &str) -> Result<(), Error> {
        serde_json::to_writer(&mut self.out, s)
    }
}

impl<'a> ser::Serializer for &'a mut Canonical {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        serde_json::to_writer(&mut self.out, &v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        // As `serde_json::to_value`: a number only when it fits 64 bits.
        if let Ok(v) = u64::try_from(v) {
            self.serialize_u64(v)
        } else if let Ok(v) = i64::try_from(v) {
            self.serialize_i64(v)
        } else {
            Err(Error::custom("number out of range"))
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        serde_json::to_writer(&mut self.out, &v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        match u64::try_from(v) {
            Ok(v) => self.serialize_u64(v),
            Err(_) => Err(Error::custom("number out of range")),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        // `to_value` widens an f32 to f64 (0.1f32 is 0.10000000149011612), unlike the writer.
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        // Not finite: `null`, as in `to_value`.
        serde_json::to_writer(&mut self.out, &v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for byte in v {
            seq.serialize_element(byte)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
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
        self.string(variant)
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
        self.out.push(b'{');
        self.string(variant)?;
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>, Error> {
        self.out.push(b'[');
        Ok(Array {
            ser: self,
            first: true,
            close: b"]",
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Array<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>, Error> {
        self.out.push(b'{');
        self.string(variant)?;
        self.out.extend_from_slice(b":[");
        Ok(Array {
            ser: self,
            first: true,
            close: b"]}",
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>, Error> {
        Ok(Object::new(self, false))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Object<'a>, Error> {
        Ok(Object::new(self, false))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'a>, Error> {
        self.out.push(b'{');
        self.string(variant)?;
        self.out.push(b':');
        Ok(Object::new(self, true))
    }
}

/// An array being written.
#[derive(Debug)]
struct Array<'a> {
    ser: &'a mut Canonical,
    first: bool,
    close: &'static [u8],
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !std::mem::take(&mut self.first) {
            self.ser.out.push(b',');
        }
        value.serialize(&mut *self.ser)
    }
    fn close(self) -> Result<(), Error> {
        self.ser.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// An object being written: each member is written where it comes, as `"key":value`, and the
/// members are put in key order at the end, unless they already are (a `serde_json::Map` is
/// sorted already; a struct's fields are in declaration order).
#[derive(Debug)]
struct Object<'a> {
    ser: &'a mut Canonical,
    /// Where the first member starts, just after `{`.
    start: usize,
    /// Where this object's members start in [`Canonical::members`].
    base: usize,
    sorted: bool,
    /// The key of a map entry whose value comes next.
    key: Option<String>,
    /// Also closes the `{"variant":` of a struct variant.
    variant: bool,
}

#[derive(Debug)]
struct Member {
    key: Cow<'static, str>,
    /// Where `"key":value` is in the output.
    from: usize,
    to: usize,
}

impl<'a> Object<'a> {
    fn new(ser: &'a mut Canonical, variant: bool) -> Self {
        ser.out.push(b'{');
        Object {
            start: ser.out.len(),
            base: ser.members.len(),
            ser,
            sorted: true,
            key: None,
            variant,
        }
    }

    fn member<T: Serialize + ?Sized>(
        &mut self,
        key: Cow<'static, str>,
        value: &T,
    ) -> Result<(), Error> {
        let first = self.ser.members.len() == self.base;
        if !first {
            self.ser.out.push(b',');
        }
        let from = self.ser.out.len();
        self.ser.string(&key)?;
        self.ser.out.push(b':');
        // Nested objects push their members above ours and pop them as they close.
        value.serialize(&mut *self.ser)?;
        if !first && self.ser.members.last().is_some_and(|last| last.key >= key) {
            self.sorted = false;
        }
        self.ser.members.push(Member {
            key,
            from,
            to: self.ser.out.len(),
        });
        Ok(())
    }

    fn close(self) -> Result<(), Error> {
        let Canonical {
            out,
            members,
            scratch,
        } = &mut *self.ser;
        let mine = &mut members[self.base..];
        if !self.sorted {
            scratch.clear();
            scratch.extend_from_slice(&out[self.start..]);
            out.truncate(self.start);
            // Stable: of equal keys, the last one written wins, as in a map.
            mine.sort_by(|a, b| a.key.cmp(&b.key));
            let mut first = true;
            for (i, member) in mine.iter().enumerate() {
                if mine.get(i + 1).is_some_and(|next| next.key == member.key) {
                    continue;
                }
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                out.extend_from_slice(&scratch[member.from - self.start..member.to - self.start]);
            }
        }
        members.truncate(self.base);
        out.push(b'}');
        if self.variant {
            out.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        // What `to_value` makes of a map key: a string, or a number, bool or char as text.
        self.key = Some(match serde_json::to_value(key)? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(Error::custom("key must be a string")),
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error::custom("a map value without its key"))?;
        self.member(Cow::Owned(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.member(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.member(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// A short form for display and file names.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// How the canonical form was first written, through a `Value`: the reference.
    fn reference(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    reference(&map[key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    reference(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    fn reference_of<T: Serialize>(value: &T) -> String {
        let mut out = String::new();
        reference(&serde_json::to_value(value).expect("json"), &mut out);
        out
    }

    fn canonical_text<T: Serialize + ?Sized>(value: &T) -> String {
        String::from_utf8(canonical_json(value)).expect("utf-8")
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[a-c\\u{0}-\\u{1f}\"\\\\é✓]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-cB\\u{1}é\"]{0,3}", inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_canonical_form_of_any_value_is_the_reference(value in any_json()) {
            let mut expected = String::new();
            reference(&value, &mut expected);
            prop_assert_eq!(canonical_text(&value), expected);
        }
    }

    /// Structs (fields in declaration order), enums of every shape, maps with non-string keys
    /// and duplicate keys come out as `to_value` then the reference would have them.
    #[test]
    fn serialized_types_are_written_as_through_a_value() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Shape {
            Unit,
            Newtype(f32),
            Tuple(u8, i128),
            Struct { z: Option<u32>, a: char },
        }
        #[derive(Serialize)]
        struct Inner {
            zeta: Vec<Shape>,
            alpha: std::collections::BTreeMap<i32, bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
            none: Option<u8>,
            bytes: serde_bytes_like::Bytes,
            nan: f64,
        }
        #[derive(Serialize)]
        struct Outer {
            b: Inner,
            #[serde(flatten)]
            rest: std::collections::BTreeMap<String, u8>,
            a: (),
        }
        mod serde_bytes_like {
            pub struct Bytes(pub Vec<u8>);
            impl serde::Serialize for Bytes {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bytes(&self.0)
                }
            }
        }
        let value = Outer {
            b: Inner {
                zeta: vec![
                    Shape::Unit,
                    Shape::Newtype(0.1),
                    Shape::Tuple(7, -5),
                    Shape::Struct { z: None, a: 'q' },
                ],
                alpha: [(10, true), (-2, false), (3, true)].into(),
                skipped: None,
                none: None,
                bytes: serde_bytes_like::Bytes(vec![0, 255]),
                nan: f64::NAN,
            },
            rest: [("a".to_owned(), 1), ("c".to_owned(), 2)].into(),
            a: (),
        };
        assert_eq!(canonical_text(&value), reference_of(&value));
        assert!(
            canonical_text(&value).starts_with(r#"{"a":null,"b":{"alpha":{"-2":false,"#),
            "{}",
            canonical_text(&value)
        );
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "s"}});
        let b = json!({"a": {"x": "s", "y": [1, 2]}, "b": 1});
        assert_eq!(hash_json(&a), hash_json(&b));
        assert_ne!(
            hash_json(&a),
            hash_json(&json!({"b": 2, "a": {"x": "s", "y": [1, 2]}}))
        );
    }

    /// Fingerprints and cache keys on disk were computed from exactly these bytes.
    #[test]
    fn the_hash_of_a_value_stays_what_it_was() {
        let value = json!({
            "z": [1.5, -0.0, 1e300, 18446744073709551615u64, -9223372036854775808i64, null],
            "a": {"é": "\u{1}\"\\\n\u{7f}\u{2028}✓", "": true, "B": {}, "b": []},
        });
        assert_eq!(
            hash_json(&value),
            "dd7cdd9fb7bcd44fffe899fc7cc203c4483bb4daf4370cda35da18c73b1ea241"
        );
    }

    #[test]
    fn canonical_form_is_compact_sorted_json() {
        assert_eq!(
            canonical_text(&json!({"z": "q\"", "a": [true, null]})),
            r#"{"a":[true,null],"z":"q\""}"#
        );
    }
}
