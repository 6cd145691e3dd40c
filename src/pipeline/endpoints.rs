//! Models → callable endpoints: the API key and `${ENV}` header values read from the
//! environment, the provider client built, and an embeddings endpoint added for models that
//! checks call for embeddings. The only place in the library that reads a model's secrets.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::config::{Model, Suite};
use crate::execute::{CacheMode, Endpoint};
use crate::privacy::secrets::Secret;
use crate::provider::ratelimit::RateLimiter;
use crate::provider::{self, ProviderConfig, ProviderKind};

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

/// What `[audit] send_identity` sends as the end user: the actor or the fixed value, unless it
/// holds a known secret. An identity is a name, never a credential, so one that contains a key
/// is not sent at all rather than sent masked.
pub fn end_user(
    identity: Option<&crate::privacy::audit::WireIdentity>,
    ci: &crate::privacy::audit::CiContext,
) -> Option<String> {
    identity?
        .resolve(ci)
        .filter(|value| crate::privacy::secrets::scrub(value) == *value)
}

/// One endpoint per model, by model index: `None` for a model this run does not call (not in
/// `used`), and for every model when replaying offline (no key is needed then).
pub fn build_endpoints(
    suite: &Suite,
    used: &[bool],
    called_by_checks: &[bool],
    mode: CacheMode,
    client: &reqwest::Client,
    end_user: Option<&str>,
) -> Result<Vec<Option<Endpoint>>, EndpointError> {
    let limiters = shared_limiters(suite);
    let mut endpoints = Vec::with_capacity(suite.models.len());
    for (m, model) in suite.models.iter().enumerate() {
        if mode == CacheMode::Offline || !used[m] {
            endpoints.push(None);
            continue;
        }
        let mut config = provider_config(model, suite)?;
        config.end_user = end_user.map(str::to_owned);
        let provider = provider::build(&config, client)?;
        let limiter = Arc::clone(&limiters[&limit_key(model)]);
        let mut endpoint = Endpoint::new(provider, model, model.concurrency, limiter);
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

/// What a server's rate limit applies to: one model name at one address with one key. Suite
/// models that differ only in their parameters (a temperature sweep, a judge that is also graded)
/// share it.
type LimitKey<'a> = (ProviderKind, Option<&'a str>, &'a str, Option<&'a str>);

fn limit_key(model: &Model) -> LimitKey<'_> {
    (
        model.kind,
        model.base_url.as_deref(),
        model.model.as_str(),
        model.api_key_env.as_deref(),
    )
}

/// One rate limiter per [`limit_key`], with the tightest `rpm` and `tpm` its models configure.
fn shared_limiters(suite: &Suite) -> HashMap<LimitKey<'_>, Arc<RateLimiter>> {
    let mut ceilings: HashMap<_, (Option<u32>, Option<u32>)> = HashMap::new();
    for model in &suite.models {
        let (rpm, tpm) = ceilings.entry(limit_key(model)).or_default();
        *rpm = min_some(*rpm, model.rpm);
        *tpm = min_some(*tpm, model.tpm);
    }
    ceilings
        .into_iter()
        .map(|(key, (rpm, tpm))| (key, Arc::new(RateLimiter::new(rpm, tpm))))
        .collect()
}

fn min_some(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
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
        end_user: None,
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
    fn an_identity_that_holds_a_known_secret_is_not_sent() {
        use crate::privacy::audit::{CiContext, WireIdentity};
        let ci = CiContext {
            actor: Some("octocat".into()),
            ..CiContext::default()
        };
        assert_eq!(end_user(None, &ci), None);
        assert_eq!(
            end_user(Some(&WireIdentity::Actor), &ci),
            Some("octocat".into())
        );
        crate::privacy::secrets::register("sk-identity-test-0123456789");
        let leaky = WireIdentity::Fixed("bot sk-identity-test-0123456789".into());
        assert_eq!(end_user(Some(&leaky), &ci), None);
        let leaky_actor = CiContext {
            actor: Some("sk-identity-test-0123456789".into()),
            ..CiContext::default()
        };
        assert_eq!(end_user(Some(&WireIdentity::Actor), &leaky_actor), None);
    }

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

    #[test]
    fn models_calling_one_server_model_with_one_key_share_a_limiter() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("evalgate.toml"),
            r#"
[suite]
name = "s"

[models.cold]
provider = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
model = "m"
temperature = 0
rpm = 600

[models.hot]
provider = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
model = "m"
temperature = 1
rpm = 120

[models.other]
provider = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
model = "n"

[prompts.p]
user = "{{ q }}"

[datasets.d]
cases = [{ id = "a", vars = { q = "x" } }]

[[checks]]
type = "contains"
value = "x"
"#,
        )
        .expect("write");
        let suite = crate::config::load(&dir.path().join("evalgate.toml")).expect("suite");
        let limiters = shared_limiters(&suite);
        assert_eq!(limiters.len(), 2);
        let of = |i: usize| &limiters[&limit_key(&suite.models[i])];
        assert!(Arc::ptr_eq(of(0), of(1)));
        assert!(!Arc::ptr_eq(of(0), of(2)));
        assert_eq!(min_some(Some(600), Some(120)), Some(120));
        assert_eq!(min_some(None, Some(120)), Some(120));
    }
}
