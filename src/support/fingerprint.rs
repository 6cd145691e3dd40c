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
        let mut out = String::new();
        write_canonical(&json!({"z": "q\"", "a": [true, null]}), &mut out);
        assert_eq!(out, r#"{"a":[true,null],"z":"q\""}"#);
    }
}
