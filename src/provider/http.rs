//! The `http` provider: a team's own endpoint, described in the suite file.
//!
//! The request body is JSON in which every string is a template over the call: `messages`
//! (a list of `{role, content}`), `vars` (the case's variables, also available at the top level),
//! `model`, `params` and `case_id`. A string that is exactly one `{{ expression }}` is replaced by
//! the expression's *value*, so `"{{ messages }}"` inserts an array and `"{{ params.temperature }}"`
//! a number; any other string is rendered as text. The answer is taken from the response by a
//! JSON pointer (RFC 6901), and so are the token counts when pointers for them are given.

use minijinja::{Environment, UndefinedBehavior};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use super::openai::{JsonAnswer, bearer_endpoint, build_error, decode_error, send_json};
use super::*;

#[derive(Debug)]
pub struct HttpProvider {
    client: reqwest::Client,
    url: String,
    method: Method,
    headers: HeaderMap,
    model: String,
    body: Node,
    /// Holds the body's string templates, registered by name at build time.
    env: Environment<'static>,
    spec: HttpSpec,
}

/// The body, compiled: which strings are templates is decided once, not per call.
#[derive(Debug)]
enum Node {
    Literal(Value),
    /// A string that is exactly one `{{ expression }}`: replaced by the expression's value.
    Expression(String),
    /// A registered template, rendered as text.
    Template(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl HttpProvider {
    pub fn new(config: &ProviderConfig, client: reqwest::Client) -> Result<Self, BuildError> {
        let spec = config
            .http
            .clone()
            .ok_or_else(|| build_error(config, "an http model needs `url` and `output_pointer`"))?;
        let (url, headers) = bearer_endpoint(config, &spec.url)?;
        let method = Method::from_bytes(spec.method.as_bytes()).map_err(|_| {
            build_error(config, &format!("`{}` is not an HTTP method", spec.method))
        })?;
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut count = 0;
        let body = compile(&spec.body, &mut env, &mut count)
            .map_err(|e| build_error(config, &format!("invalid template in `body`: {e}")))?;
        Ok(HttpProvider {
            client,
            url,
            method,
            headers,
            model: config.model.clone(),
            body,
            env,
            spec,
        })
    }

    fn render_body(&self, req: &ChatRequest) -> Result<Value, ProviderError> {
        let messages: Vec<Value> = req
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let mut ctx = match &req.vars {
            Value::Object(vars) => vars.clone(),
            _ => Map::new(),
        };
        ctx.insert("vars".into(), req.vars.clone());
        ctx.insert("messages".into(), Value::Array(messages));
        ctx.insert("model".into(), json!(self.model));
        ctx.insert("case_id".into(), json!(req.case_id));
        ctx.insert(
            "params".into(),
            serde_json::to_value(&req.params).unwrap_or(Value::Null),
        );
        let ctx = minijinja::Value::from(minijinja::value::Serde(ctx));
        self.render(&self.body, &ctx)
            .map_err(|e| ProviderError::Decode(format!("cannot render the request body: {e}")))
    }

    fn render(&self, node: &Node, ctx: &minijinja::Value) -> Result<Value, minijinja::Error> {
        Ok(match node {
            Node::Literal(v) => v.clone(),
            Node::Expression(expr) => {
                let value = self.env.compile_expression(expr)?.eval(ctx)?;
                serde_json::to_value(&value).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::BadSerialization, e.to_string())
                })?
            }
            Node::Template(name) => Value::String(self.env.get_template(name)?.render(ctx)?),
            Node::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|n| self.render(n, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            Node::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, n)| Ok((k.clone(), self.render(n, ctx)?)))
                    .collect::<Result<_, minijinja::Error>>()?,
            ),
        })
    }
}

fn compile(
    value: &Value,
    env: &mut Environment<'static>,
    count: &mut usize,
) -> Result<Node, minijinja::Error> {
    Ok(match value {
        Value::String(s) => {
            if let Some(expr) = sole_expression(s) {
                // Compile now so a syntax error is reported when the run starts, not per call.
                env.compile_expression(expr)?;
                Node::Expression(expr.to_owned())
            } else if s.contains("{{") || s.contains("{%") || s.contains("{#") {
                *count += 1;
                let name = format!("body#{count}");
                env.add_template_owned(name.clone(), s.clone())?;
                Node::Template(name)
            } else {
                Node::Literal(value.clone())
            }
        }
        Value::Array(items) => Node::Array(
            items
                .iter()
                .map(|v| compile(v, env, count))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => Node::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), compile(v, env, count)?)))
                .collect::<Result<_, minijinja::Error>>()?,
        ),
        other => Node::Literal(other.clone()),
    })
}

/// `"{{ expr }}"` with nothing around it and no second `{{` inside: the expression.
fn sole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

impl Provider for HttpProvider {
    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let mut request = self
                .client
                .request(self.method.clone(), &self.url)
                .headers(self.headers.clone());
            if self.method != Method::GET && self.method != Method::HEAD {
                request = request.json(&self.render_body(req)?);
            }
            let JsonAnswer { body, bytes, .. } = send_json(request).await?;
            let output = match body.pointer(&self.spec.output_pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) => String::new(),
                Some(other) => other.to_string(),
                None => {
                    return Err(decode_error(
                        &format!(
                            "`output_pointer` {} matches nothing",
                            self.spec.output_pointer
                        ),
                        &bytes,
                    ));
                }
            };
            let tokens = |pointer: &Option<String>| {
                pointer
                    .as_deref()
                    .and_then(|p| body.pointer(p))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            Ok(Completion {
                tool_calls: Vec::new(),
                output,
                usage: Usage {
                    input_tokens: tokens(&self.spec.input_tokens_pointer),
                    output_tokens: tokens(&self.spec.output_tokens_pointer),
                    cached_input_tokens: 0,
                },
                finish_reason: None,
                limits: Default::default(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::secrets::Secret;
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn config(server: &MockServer, body: Value) -> ProviderConfig {
        let mut headers = BTreeMap::new();
        headers.insert(
            "x-team-token".to_owned(),
            Secret::new("team-token-abcdef123".into()),
        );
        ProviderConfig {
            model_id: "ours".into(),
            kind: ProviderKind::Http,
            model: "ours".into(),
            base_url: None,
            api_key: None,
            headers,
            query: BTreeMap::from([("v".to_owned(), "2".to_owned())]),
            http: Some(HttpSpec {
                url: format!("{}/answer", server.uri()),
                method: "POST".into(),
                body,
                output_pointer: "/data/text".into(),
                input_tokens_pointer: Some("/meta/in".into()),
                output_tokens_pointer: Some("/meta/out".into()),
            }),
            command: None,
            end_user: None,
        }
    }

    fn request() -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: "Capital of Peru?".into(),
                ..Default::default()
            }],
            params: CallParams {
                temperature: Some(0.5),
                ..CallParams::default()
            },
            vars: json!({"question": "Capital of Peru?", "lang": "en"}),
            case_id: "pe".into(),
        }
    }

    #[tokio::test]
    async fn renders_the_body_sends_headers_and_extracts_by_pointer() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/answer"))
            .and(query_param("v", "2"))
            .and(header("x-team-token", "team-token-abcdef123"))
            .and(body_json(json!({
                "conversation": [{"role": "user", "content": "Capital of Peru?"}],
                "question": "Q: Capital of Peru? (en)",
                "temperature": 0.5,
                "id": "pe",
                "fixed": [1, true, null]
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": {"text": "Lima"},
                "meta": {"in": 11, "out": 1}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let body = json!({
            "conversation": "{{ messages }}",
            "question": "Q: {{ question }} ({{ vars.lang }})",
            "temperature": "{{ params.temperature }}",
            "id": "{{ case_id }}",
            "fixed": [1, true, null]
        });
        let provider = HttpProvider::new(&config(&server, body), http_client().expect("client"))
            .expect("build");
        let completion = provider.complete(&request()).await.expect("completion");
        assert_eq!(completion.output, "Lima");
        assert_eq!(completion.usage.input_tokens, 11);
        assert_eq!(completion.usage.output_tokens, 1);
    }

    #[tokio::test]
    async fn a_pointer_that_matches_nothing_is_a_decode_error_naming_it() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"answer": "Lima"})))
            .mount(&server)
            .await;
        let provider = HttpProvider::new(
            &config(&server, json!({"q": "{{ question }}"})),
            http_client().expect("client"),
        )
        .expect("build");
        let err = provider.complete(&request()).await.expect_err("decode");
        assert!(err.to_string().contains("/data/text"), "{err}");
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn server_errors_are_retryable_and_client_errors_are_not() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_string("bad question"))
            .mount(&server)
            .await;
        let provider = HttpProvider::new(
            &config(&server, json!({"q": "{{ question }}"})),
            http_client().expect("client"),
        )
        .expect("build");
        let err = provider.complete(&request()).await.expect_err("503");
        assert!(err.is_retryable(), "{err}");
        let err = provider.complete(&request()).await.expect_err("400");
        assert!(!err.is_retryable());
        assert_eq!(err.to_string(), "HTTP 400: bad question");
    }

    #[test]
    fn a_broken_template_is_a_build_error() {
        let server_uri = "http://127.0.0.1:9";
        let mut config = ProviderConfig {
            model_id: "ours".into(),
            kind: ProviderKind::Http,
            model: "ours".into(),
            base_url: None,
            api_key: None,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            http: None,
            command: None,
            end_user: None,
        };
        config.http = Some(HttpSpec {
            url: server_uri.into(),
            method: "POST".into(),
            body: json!({"q": "{{ question "}),
            output_pointer: "/a".into(),
            input_tokens_pointer: None,
            output_tokens_pointer: None,
        });
        let err =
            HttpProvider::new(&config, http_client().expect("client")).expect_err("bad template");
        assert!(
            err.to_string().contains("invalid template in `body`"),
            "{err}"
        );
    }

    #[test]
    fn sole_expressions_are_recognised() {
        assert_eq!(sole_expression("{{ messages }}"), Some("messages"));
        assert_eq!(
            sole_expression(" {{vars.q | upper}} "),
            Some("vars.q | upper")
        );
        assert_eq!(sole_expression("{{ a }} and {{ b }}"), None);
        assert_eq!(sole_expression("Q: {{ a }}"), None);
    }
}
