//! Prompt and check-value templates (minijinja, Jinja2 syntax), compiled once and rendered per case.

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use std::collections::{BTreeSet, HashMap};

/// A string that may contain template syntax. Plain strings skip the template engine entirely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateStr {
    Literal(String),
    /// The name under which the template is registered in [`Templates`].
    Template(String),
}

/// The error of compiling or rendering a template, with minijinja's own detail.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct TemplateError {
    pub detail: String,
}

impl From<minijinja::Error> for TemplateError {
    fn from(err: minijinja::Error) -> Self {
        let mut detail = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(inner) = source {
            detail.push_str(": ");
            detail.push_str(&inner.to_string());
            source = inner.source();
        }
        TemplateError { detail }
    }
}

/// Every template of a suite, compiled into one strict environment.
///
/// Strict undefined behaviour makes a variable missing from a case an error instead of an empty
/// string: an empty prompt would be paid for and graded as if it were meaningful.
///
/// Most templates only put variables into text (`Topic: {{ topic }}. {{ question }}`); those are
/// also kept as [`Piece`]s and rendered by joining text and the variables' strings, as the
/// engine would write them, which takes a few percent of the engine's time (a prompt and a check
/// value are rendered for every call). Anything else, or a variable that is not a string (a
/// number is formatted by the engine, a missing one is the engine's error), goes to the engine.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    /// The templates that are only text and variables, by name.
    substitutions: HashMap<String, Vec<Piece>>,
    /// Every registered name, in order: the templates under a prefix are a range of it. (The
    /// engine can only list all of them, which made checking a suite whose cases carry their
    /// own checks quadratic in its cases.)
    names: BTreeSet<String>,
}

/// Part of a template that only puts variables into text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `{{ name }}`.
    Variable(String),
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        Templates {
            env,
            substitutions: HashMap::new(),
            names: BTreeSet::new(),
        }
    }

    /// Registers `source` under `name` (which must be unique) unless it is a plain string.
    pub fn add(&mut self, name: &str, source: &str) -> Result<TemplateStr, TemplateError> {
        if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            return Ok(TemplateStr::Literal(source.to_owned()));
        }
        self.env
            .add_template_owned(name.to_owned(), source.to_owned())?;
        self.names.insert(name.to_owned());
        if let Some(pieces) = substitution(source)
            && minijinja::default_auto_escape_callback(name) == AutoEscape::None
        {
            self.substitutions.insert(name.to_owned(), pieces);
        }
        Ok(TemplateStr::Template(name.to_owned()))
    }

    pub fn render(&self, template: &TemplateStr, ctx: &Value) -> Result<String, TemplateError> {
        match template {
            TemplateStr::Literal(text) => Ok(text.clone()),
            TemplateStr::Template(name) => {
                if let Some(text) = self
                    .substitutions
                    .get(name)
                    .and_then(|pieces| substitute(pieces, ctx))
                {
                    return Ok(text);
                }
                self.render_with_engine(name, ctx)
            }
        }
    }

    fn render_with_engine(&self, name: &str, ctx: &Value) -> Result<String, TemplateError> {
        Ok(self.env.get_template(name)?.render(ctx)?)
    }

    /// The top-level variables a template reads, for `validate`'s per-case check.
    pub fn variables(&self, template: &TemplateStr) -> BTreeSet<String> {
        match template {
            TemplateStr::Literal(_) => BTreeSet::new(),
            TemplateStr::Template(name) => self
                .env
                .get_template(name)
                .map(|t| t.undeclared_variables(false).into_iter().collect())
                .unwrap_or_default(),
        }
    }

    /// The top-level variables read by every template registered under `prefix.` (a check's
    /// `value`, `values`, `rubric`...).
    pub fn variables_under(&self, prefix: &str) -> BTreeSet<String> {
        let prefix = format!("{prefix}.");
        self.names
            .range(prefix.clone()..)
            .take_while(|name| name.starts_with(&prefix))
            .filter_map(|name| self.env.get_template(name).ok())
            .flat_map(|t| t.undeclared_variables(false))
            .collect()
    }
}

/// The pieces of `source` when it only puts variables into text: no tag, comment or expression
/// other than `{{ name }}` (an ASCII identifier that is not a constant or an operator), read as
/// the engine reads it (one trailing newline dropped, then one carriage return).
fn substitution(source: &str) -> Option<Vec<Piece>> {
    const NOT_VARIABLES: [&str; 13] = [
        "true", "false", "none", "True", "False", "None", "not", "and", "or", "in", "is", "if",
        "else",
    ];
    if source.contains("{%") || source.contains("{#") {
        return None;
    }
    let source = source.strip_suffix('\n').unwrap_or(source);
    let mut rest = source.strip_suffix('\r').unwrap_or(source);
    let mut pieces = Vec::new();
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}")?;
        let name = after[..close].trim_matches([' ', '\t', '\r', '\n']);
        let mut chars = name.bytes();
        let identifier = chars
            .next()
            .is_some_and(|c| c == b'_' || c.is_ascii_alphabetic())
            && chars.all(|c| c == b'_' || c.is_ascii_alphanumeric());
        if !identifier || NOT_VARIABLES.contains(&name) {
            return None;
        }
        pieces.push(Piece::Variable(name.to_owned()));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Some(pieces)
}

/// `pieces` rendered with `ctx`, when every variable is a string there.
fn substitute(pieces: &[Piece], ctx: &Value) -> Option<String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Variable(name) => out.push_str(ctx.get_attr(name).ok()?.as_str()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_text_and_variables_are_substitutions() {
        let text = |t: &str| Piece::Text(t.to_owned());
        let var = |v: &str| Piece::Variable(v.to_owned());
        assert_eq!(
            substitution("Topic: {{ topic }}. {{question}}\n"),
            Some(vec![
                text("Topic: "),
                var("topic"),
                text(". "),
                var("question")
            ])
        );
        assert_eq!(
            substitution("{{ _a1 }}}"),
            Some(vec![var("_a1"), text("}")])
        );
        for engine_only in [
            "{{ a.b }}",
            "{{ a | upper }}",
            "{{- a }}",
            "{{ 1a }}",
            "{{ none }}",
            "{% if a %}x{% endif %}",
            "{# note #}{{ a }}",
            "{{ a }",
            "{{ é }}",
        ] {
            assert_eq!(substitution(engine_only), None, "{engine_only}");
        }
    }

    /// Templates made of text (braces, newlines and carriage returns included) and variables:
    /// rendered with or without the engine, the same text, or the same error.
    fn any_template() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-c {}\\r\\n\\t}]{0,4}",
            (
                "[ \\t\\n]{0,2}",
                "(x|y|n|u|missing|none|True)",
                "[ \\t]{0,2}"
            )
                .prop_map(|(l, name, r)| format!("{{{{{l}{name}{r}}}}}")),
        ];
        prop::collection::vec(piece, 1..6).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn substitutions_render_as_the_engine_does(source in any_template(), x in ".{0,6}", y in "[<&>\"'a\\n]{0,3}") {
            let mut templates = Templates::new();
            let Ok(TemplateStr::Template(name)) = templates.add("prompts.p#0", &source) else {
                return Ok(());
            };
            let ctx = Value::from(minijinja::value::Serde(serde_json::json!({"x": x, "y": y, "n": 1.5, "u": null})));
            let fast = templates.render(&TemplateStr::Template(name.clone()), &ctx);
            let engine = templates.render_with_engine(&name, &ctx);
            prop_assert_eq!(fast.map_err(|e| e.detail), engine.map_err(|e| e.detail));
        }
    }

    #[test]
    fn the_variables_under_a_prefix_are_those_of_its_templates_only() {
        let mut templates = Templates::new();
        for (name, source) in [
            ("checks[1].value", "{{ a }}"),
            ("checks[1].values[0]", "{{ b }} {{ c.d }}"),
            ("checks[1]x.value", "{{ not_under }}"),
            ("checks[10].value", "{{ other }}"),
            ("checks[1].rubric", "plain text"),
        ] {
            templates.add(name, source).expect("add");
        }
        assert_eq!(
            templates.variables_under("checks[1]"),
            BTreeSet::from(["a".to_owned(), "b".to_owned(), "c".to_owned()])
        );
        assert!(templates.variables_under("checks[2]").is_empty());
    }

    /// A template whose name asks the engine to escape HTML is left to it.
    #[test]
    fn a_name_that_escapes_is_left_to_the_engine() {
        let mut templates = Templates::new();
        let template = templates.add("page.html", "<b>{{ x }}</b>").expect("add");
        let ctx = Value::from(minijinja::value::Serde(serde_json::json!({"x": "<i>"})));
        assert_eq!(
            templates.render(&template, &ctx).expect("render"),
            "<b>&lt;i&gt;</b>"
        );
    }
}
