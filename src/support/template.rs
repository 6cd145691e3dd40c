//! Prompt and check-value templates (minijinja, Jinja2 syntax), compiled once and rendered per case.

use minijinja::{Environment, UndefinedBehavior, Value};
use std::collections::BTreeSet;

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
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
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
        Templates { env }
    }

    /// Registers `source` under `name` (which must be unique) unless it is a plain string.
    pub fn add(&mut self, name: &str, source: &str) -> Result<TemplateStr, TemplateError> {
        if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            return Ok(TemplateStr::Literal(source.to_owned()));
        }
        self.env
            .add_template_owned(name.to_owned(), source.to_owned())?;
        Ok(TemplateStr::Template(name.to_owned()))
    }

    pub fn render(&self, template: &TemplateStr, ctx: &Value) -> Result<String, TemplateError> {
        match template {
            TemplateStr::Literal(text) => Ok(text.clone()),
            TemplateStr::Template(name) => Ok(self.env.get_template(name)?.render(ctx)?),
        }
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
        self.env
            .templates()
            .filter(|(name, _)| name.starts_with(&prefix))
            .flat_map(|(_, t)| t.undeclared_variables(false))
            .collect()
    }
}
