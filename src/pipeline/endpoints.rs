//! Models → callable endpoints: the API key and `${ENV}` header values read from the
//! environment, the provider client built, and an embeddings endpoint added for models that
//! checks call for embeddings. The only place in the library that reads a model's secrets.

use std::collections::BTreeMap;

use crate::config::{Model, Suite};
use crate::execute::{CacheMode, Endpoint};
use crate::privacy::secrets::Secret;
use crate::provider::{self, ProviderConfig};

/// Why a model cannot be called. Each message names the model.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("model `{model}` needs an API key in the environment variable `{var}`")]
    MissingKey { model: String, var: String },
    #[error("model `{model}`: header `{header}` uses `${{{var}}}`, which is not set")]
    MissingHeaderVar {
        model: String,
        header: String,
        var: String,
    },
    #[error("{0}")]
    Build(#[from] provider::BuildError),
}

impl EndpointError {
    pub fn hint(&self) -> Option<String> {
        match self {
            EndpointError::MissingKey { var, .. } => Some(format!(
                "export {var}=..., set `api_key_env` to the variable that holds the key, or use --offline to replay cached responses"
            )),
            EndpointError::MissingHeaderVar { var, .. } => {
                Some(format!("export {var}=... before running"))
            }
            EndpointError::Build(_) => None,
        }
    }
}

/// One endpoint per model, by model index: `None` for a model this run does not call (not in
/// `used`), and for every model when replaying offline (no key is needed then).
pub fn build_endpoints(
    suite: &Suite,
    used: &[bool],
    called_by_checks: &[bool],
    mode: CacheMode,
    client: &reqwest::Client,
) -> Result<Vec<Option<Endpoint>>, EndpointError> {
    let mut endpoints = Vec::with_capacity(suite.models.len());
    for (m, model) in suite.models.iter().enumerate() {
        if mode == CacheMode::Offline || !used[m] {
            endpoints.push(None);
            continue;
        }
        let config = provider_config(model, suite)?;
        let provider = provider::build(&config, client)?;
        let mut endpoint = Endpoint::new(provider, model, model.concurrency);
        // Embedding similarity needs the model's `/embeddings` route, which only the
        // OpenAI-style protocols have.
        if called_by_checks[m]
            && matches!(
                model.kind,
                provider::ProviderKind::Openai | provider::ProviderKind::OpenaiCompatible
            )
        {
            let embeddings = provider::embeddings::Embeddings::new(&config, client.clone())?;
            endpoint = endpoint.with_embeddings(Box::new(embeddings));
        }
        endpoints.push(Some(endpoint));
    }
    Ok(endpoints)
}

/// Resolves a model's key and `${ENV}` header references from the environment.
fn provider_config(model: &Model, suite: &Suite) -> Result<ProviderConfig, EndpointError> {
    let api_key = match &model.api_key_env {
        Some(var) => match std::env::var(var) {
            Ok(value) if !value.is_empty() => Some(Secret::new(value)),
            _ if model.key_required => {
                return Err(EndpointError::MissingKey {
                    model: model.id.clone(),
                    var: var.clone(),
                });
            }
            _ => None,
        },
        None => None,
    };
    let mut headers = BTreeMap::new();
    for (name, value) in &model.headers {
        let resolved = expand_env(value).map_err(|var| EndpointError::MissingHeaderVar {
            model: model.id.clone(),
            header: name.clone(),
            var,
        })?;
        headers.insert(name.clone(), Secret::new(resolved));
    }
    Ok(ProviderConfig {
        model_id: model.id.clone(),
        kind: model.kind,
        model: model.model.clone(),
        base_url: model.base_url.clone(),
        api_key,
        headers,
        query: model.query.iter().cloned().collect(),
        http: model.http.clone(),
        command: model.command.as_ref().map(|argv| provider::CommandSpec {
            argv: argv.clone(),
            cwd: suite.dir_or_dot().to_path_buf(),
        }),
    })
}

/// Replaces `${NAME}` with the variable's value; the error is the first unset name.
fn expand_env(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        match std::env::var(name) {
            Ok(v) => {
                // The variable alone is a secret too: a server may echo the token without the
                // "Bearer " the header put in front of it.
                crate::privacy::secrets::register(&v);
                out.push_str(&v);
            }
            Err(_) => return Err(name.to_owned()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_env_substitutes_and_reports_missing() {
        // PATH is always set in tests.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            expand_env("a ${PATH} b").as_deref(),
            Ok(format!("a {path} b").as_str())
        );
        assert_eq!(
            expand_env("x ${EVALGATE_SURELY_UNSET_VAR} y"),
            Err("EVALGATE_SURELY_UNSET_VAR".to_owned())
        );
        assert_eq!(expand_env("no refs").as_deref(), Ok("no refs"));
    }
}
