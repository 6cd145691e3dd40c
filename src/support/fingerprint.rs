//! Fingerprints: stable hashes of canonical JSON, so equal inputs give equal hashes whatever the
//! key order or the machine.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Writes `value` as JSON with object keys sorted, recursively.
pub fn write_canonical(value: &Value, out: &mut String) {
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
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Hex SHA-256 of the canonical JSON of `value`.
pub fn hash_json(value: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// [`hash_json`] of `value` with the array under its key `key` given by `items` instead, one
/// item at a time: the same hash, without the whole array in memory. `value` must be an object
/// that has `key` (its value there is ignored).
pub fn hash_json_streaming(value: &Value, key: &str, items: impl Iterator<Item = Value>) -> String {
    let mut hasher = Sha256::new();
    let mut buf = String::new();
    let Value::Object(map) = value else {
        return hash_json(value);
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut items = Some(items);
    buf.push('{');
    for (i, name) in keys.into_iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        buf.push_str(&Value::String(name.clone()).to_string());
        buf.push(':');
        if name != key {
            write_canonical(&map[name], &mut buf);
            continue;
        }
        buf.push('[');
        for (j, item) in items.take().into_iter().flatten().enumerate() {
            if j > 0 {
                buf.push(',');
            }
            write_canonical(&item, &mut buf);
            if buf.len() > 64 * 1024 {
                hasher.update(buf.as_bytes());
                buf.clear();
            }
        }
        buf.push(']');
    }
    buf.push('}');
    hasher.update(buf.as_bytes());
    hex::encode(hasher.finalize())
}

/// A short form for display and file names.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn a_streamed_array_hashes_as_the_whole_value() {
        let items = || (0..500).map(|i| json!({"id": format!("c{i}"), "v": [i, "x"]}));
        let whole = json!({"z": 1, "cases": items().collect::<Vec<_>>(), "a": {"b": 2}});
        let placeholder = json!({"z": 1, "cases": null, "a": {"b": 2}});
        assert_eq!(
            hash_json_streaming(&placeholder, "cases", items()),
            hash_json(&whole)
        );
        assert_ne!(
            hash_json_streaming(&placeholder, "cases", items().skip(1)),
            hash_json(&whole)
        );
    }

    #[test]
    fn canonical_form_is_compact_sorted_json() {
        let mut out = String::new();
        write_canonical(&json!({"z": "q\"", "a": [true, null]}), &mut out);
        assert_eq!(out, r#"{"a":[true,null],"z":"q\""}"#);
    }
}
