//! The JSON Schema of the suite file, derived from the [`raw`](super::raw) types the loader
//! parses, so that it cannot drift from what the loader accepts. `evalgate schema` prints it, and
//! `docs/evalgate.schema.json` keeps a copy for editors (a test fails when the copy is stale).
//!
//! The schema checks shape (keys, types, check and provider names); what depends on several
//! keys at once (which fields a check type takes, ranges, model references) is left to
//! `evalgate validate`, whose errors say more than an editor's squiggle could.

use super::raw::RawSuite;

/// The suite file's JSON Schema (draft 2020-12).
pub fn suite_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with_transform(schemars::transform::RecursiveTransform(drop_null))
        .into_generator();
    let mut schema = generator.into_root_schema_for::<RawSuite>();
    schema.insert("title".into(), "evalgate suite file".into());
    schema.insert(
        "description".into(),
        "The suite file of evalgate (evalgate.toml): models, prompts, datasets, checks and the \
         gate. See docs/configuration.md."
            .into(),
    );
    schema.to_value()
}

/// [`suite_schema`] as the text `evalgate schema` prints: pretty JSON ending with a newline.
pub fn suite_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&suite_schema())
        .unwrap_or_else(|_| unreachable!("a JSON value always serializes"));
    text.push('\n');
    text
}

/// TOML has no null: an optional key is one that is left out, never one set to null, so the
/// `null` that schemars allows (and defaults to) for every `Option` only misleads an editor.
fn drop_null(schema: &mut schemars::Schema) {
    use serde_json::Value;
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if obj.get("default") == Some(&Value::Null) {
        obj.remove("default");
    }
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            obj.insert("type".into(), only);
        }
    }
    // `Option<T>` of a `$ref` comes as `anyOf: [T, {type: null}]`.
    if let Some(Value::Array(any_of)) = obj.get_mut("anyOf") {
        any_of.retain(|s| s.get("type").is_none_or(|t| t != "null"));
        if let [Value::Object(only)] = any_of.as_slice() {
            let only = only.clone();
            obj.remove("anyOf");
            obj.extend(only);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const COMMITTED: &str = "docs/evalgate.schema.json";

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn validator() -> jsonschema::Validator {
        jsonschema::validator_for(&suite_schema()).expect("the generated schema is a valid schema")
    }

    /// The suite file at `path` (relative to the repository), as the JSON an editor validates.
    fn suite_as_json(path: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(root().join(path)).expect("read the suite file");
        toml::from_str(&text).expect("the suite file is TOML")
    }

    fn errors(instance: &serde_json::Value) -> Vec<String> {
        validator()
            .iter_errors(instance)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    #[test]
    fn the_committed_schema_is_what_the_code_generates() {
        let committed = std::fs::read_to_string(root().join(COMMITTED)).unwrap_or_default();
        assert!(
            committed == suite_schema_text(),
            "{COMMITTED} is not what the suite file's types generate (a field of src/config/raw.rs \
             or src/check/mod.rs changed, or a check type was added); regenerate it with \
             `cargo run -- schema > {COMMITTED}` and commit it"
        );
    }

    #[test]
    fn the_schema_accepts_every_suite_file_in_the_repository() {
        // Every example, whatever its folder, and the other suites the repository keeps.
        let mut examples: Vec<String> = std::fs::read_dir(root().join("examples"))
            .expect("examples/")
            .filter_map(|e| {
                let suite = e.ok()?.path().join("evalgate.toml");
                suite.is_file().then(|| {
                    suite
                        .strip_prefix(root())
                        .expect("inside the repository")
                        .to_string_lossy()
                        .into_owned()
                })
            })
            .collect();
        examples.sort();
        assert!(examples.len() >= 2, "{examples:?}");
        for path in examples.iter().map(String::as_str).chain([
            "src/cli/init_files/evalgate.toml",
            "tests/fuzz/corpus/suite/quickstart.toml",
            "tests/fuzz/corpus/suite/support-bot.toml",
            "docs/screenshots/support-bot/evalgate.toml",
            ".ci/junit-consumers/suite/evalgate.toml",
        ]) {
            // Each is also a suite the loader accepts, so a schema that rejects one is wrong.
            crate::config::load(&root().join(path))
                .unwrap_or_else(|e| panic!("{path} does not load: {e}"));
            let errors = errors(&suite_as_json(path));
            assert!(errors.is_empty(), "{path}: {errors:#?}");
        }
    }

    #[test]
    fn the_schema_accepts_the_complete_example_of_the_reference() {
        let docs = std::fs::read_to_string(root().join("docs/configuration.md")).expect("docs");
        let example = docs
            .split("\n## A complete example\n")
            .nth(1)
            .and_then(|rest| rest.split("```toml\n").nth(1))
            .and_then(|rest| rest.split("\n```").next())
            .expect("docs/configuration.md has a complete example in a toml block");
        let suite: serde_json::Value = toml::from_str(example).expect("the example is TOML");
        // The whole block, down to the `[[checks]]` near its end.
        assert!(suite["checks"].as_array().is_some_and(|c| c.len() >= 2));
        let errors = errors(&suite);
        assert!(errors.is_empty(), "{errors:#?}");
    }

    #[test]
    fn the_schema_rejects_unknown_keys_check_types_and_providers() {
        let mut suite = suite_as_json("examples/quickstart/evalgate.toml");
        suite["defaults"]["temprature"] = 0.5.into();
        suite["checks"][0]["type"] = "contains-all".into();
        let model = suite["models"]
            .as_object_mut()
            .and_then(|m| m.values_mut().next())
            .expect("the quickstart has a model");
        model["provider"] = "azure".into();
        let errors = errors(&suite);
        for path in ["/defaults", "/checks/0/type", "/provider"] {
            assert!(
                errors.iter().any(|e| e.contains(path)),
                "no error at {path}: {errors:#?}"
            );
        }
    }

    #[test]
    fn optional_keys_are_left_out_rather_than_null() {
        assert!(!suite_schema_text().contains("null"));
    }
}
