//! The layer rule of `src/lib.rs`, enforced: a module may name only modules on a layer below
//! its own (or, among the pipeline's stages, an earlier stage), never one above. Read from the
//! source text: every `crate::` path outside comments and test code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// (module path, layer, order within the layer). Within the suite (4) and stage (5) layers a
/// module may use those of a lower order (config compiles checks; compare uses aggregate);
/// elsewhere modules of one layer are peers that do not use each other.
const LAYERS: &[(&str, u32, u32)] = &[
    ("support", 0, 0),
    ("exit_codes", 0, 0),
    ("privacy", 0, 0),
    ("privacy::secrets", 0, 0),
    ("privacy::pii", 0, 0),
    ("privacy::audit", 0, 0),
    ("provider", 1, 0),
    ("results", 2, 0),
    ("stats", 3, 0),
    ("privacy::redact", 3, 0),
    ("git", 3, 0),
    ("check", 4, 0),
    ("config", 4, 1),
    ("plan", 5, 0),
    ("execute", 5, 1),
    ("aggregate", 5, 2),
    ("compare", 5, 3),
    ("gate", 5, 4),
    ("merge", 5, 5),
    ("pipeline", 6, 0),
    ("report", 6, 0),
    ("github", 6, 0),
    ("import", 6, 0),
    ("ci", 7, 0),
    ("cli", 8, 0),
];

/// The table entry a module path falls under: the longest listed prefix.
fn layer_of(path: &str) -> Option<(&'static str, u32, u32)> {
    LAYERS
        .iter()
        .filter(|(name, _, _)| path == *name || path.starts_with(&format!("{name}::")))
        .max_by_key(|(name, _, _)| name.len())
        .copied()
}

fn may_use(from: (&str, u32, u32), to: (&str, u32, u32)) -> bool {
    if from.0 == to.0 || to.1 < from.1 {
        return true;
    }
    to.1 == from.1 && matches!(from.1, 4 | 5) && to.2 < from.2
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/ci/baseline.rs` → `ci::baseline`; `src/report/markdown/mod.rs` → `report::markdown`.
fn module_path(src: &Path, file: &Path) -> String {
    let relative = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// Test code may use anything: files that only tests compile, and the inline `mod tests`
/// that closes a file.
fn is_test_file(module: &str) -> bool {
    let last = module.rsplit("::").next().unwrap_or(module);
    matches!(
        last,
        "tests" | "test_helpers" | "fuzz" | "simulation" | "xml_tree" | "graders"
    )
}

fn production_text(source: &str) -> &str {
    let cut = [
        "#[cfg(test)]\nmod tests {",
        "#[cfg(test)]\npub(crate) mod tests {",
    ]
    .iter()
    .filter_map(|marker| source.find(marker))
    .min();
    &source[..cut.unwrap_or(source.len())]
}

/// Every module a line names through `crate::`, two segments deep (`privacy::secrets`).
fn named_modules(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let item = item.trim();
                if !item.is_empty() {
                    found.push(path_head(item));
                }
            }
        } else {
            found.push(path_head(rest));
        }
    }
    found
}

fn path_head(text: &str) -> String {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let first = ident(text);
    match text[first.len()..].strip_prefix("::") {
        Some(after) if first == "privacy" => format!("{first}::{}", ident(after)),
        _ => first,
    }
}

#[test]
fn no_module_names_one_above_its_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut unlisted = BTreeSet::new();
    let mut checked = 0;
    for file in &files {
        let module = module_path(&src, file);
        if matches!(module.as_str(), "lib" | "main") || is_test_file(&module) {
            continue;
        }
        let Some(from) = layer_of(&module) else {
            unlisted.insert(module);
            continue;
        };
        let source = std::fs::read_to_string(file).expect("read");
        for (n, line) in production_text(&source).lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for named in named_modules(code) {
                checked += 1;
                match layer_of(&named) {
                    Some(to) if may_use(from, to) => {}
                    Some(to) => violations.push(format!(
                        "{}:{}: `{module}` (layer {}) names `{named}` (layer {})",
                        file.strip_prefix(&src).unwrap_or(file).display(),
                        n + 1,
                        from.1,
                        to.1
                    )),
                    None => {
                        unlisted.insert(named);
                    }
                }
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "modules missing from the layer table (tests/layering.rs and src/lib.rs): {unlisted:?}"
    );
    assert!(
        violations.is_empty(),
        "modules naming a module above their layer (see the rule in src/lib.rs):\n{}",
        violations.join("\n")
    );
    // The scan itself must have found the crate's imports, or the rule checks nothing.
    assert!(checked > 200, "only {checked} crate:: paths found");
}

#[test]
fn the_rule_rejects_an_upward_import() {
    let report = layer_of("report::markdown").expect("listed");
    let cli = layer_of("cli").expect("listed");
    let results = layer_of("results::file").expect("listed");
    assert!(!may_use(report, cli));
    assert!(may_use(report, results));
    assert!(!may_use(results, report));
    // Stages use earlier stages only.
    let gate = layer_of("gate").expect("listed");
    let compare = layer_of("compare").expect("listed");
    assert!(may_use(gate, compare));
    assert!(!may_use(compare, gate));
    // Peers of one flow layer do not use each other.
    assert!(!may_use(
        layer_of("report").expect("listed"),
        layer_of("github").expect("listed")
    ));
    assert_eq!(
        named_modules("use crate::{gate, privacy::secrets::Secret};"),
        ["gate", "privacy::secrets"]
    );
}
