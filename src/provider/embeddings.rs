//! OpenAI embeddings, for the `similar` check: `POST {base_url}/embeddings` with
//! `{"model", "input": [TEXT], "encoding_format": "float"}`; the vector is `data[0].embedding`
//! and the usage `usage.prompt_tokens`.
//!
//! It implements [`Provider`] so embedding calls share the retry loop, the rate limiter, the
//! cache and the journal with chat calls: the text to embed is the request's last message, and
//! the vector comes back as JSON text in [`Completion::output`] (which is how the cache stores
//! it). [`parse_vector`] reads it back.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::openai::{JsonAnswer, base_url, bearer_endpoint, decode_error, send_json};
use super::*;

#[derive(Debug)]
pub struct Embeddings {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    model: String,
}

impl Embeddings {
    pub fn new(config: &ProviderConfig, client: reqwest::Client) -> Result<Self, BuildError> {
        let (url, headers) = bearer_endpoint(config, &format!("{}/embeddings", base_url(config)?))?;
        Ok(Embeddings {
            client,
            url,
            headers,
            model: config.model.clone(),
        })
    }
}

impl Provider for Embeddings {
    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let text = req
                .messages
                .last()
                .map(|m| m.content.as_str())
                .unwrap_or_default();
            let request = json!({"model": self.model, "input": [text], "encoding_format": "float"});
            let JsonAnswer { body, bytes, .. } = send_json(
                self.client
                    .post(&self.url)
                    .headers(self.headers.clone())
                    .json(&request),
            )
            .await?;
            let vector = body
                .pointer("/data/0/embedding")
                .and_then(Value::as_array)
                .filter(|v| !v.is_empty() && v.iter().all(Value::is_number))
                .ok_or_else(|| {
                    decode_error("no numeric `data[0].embedding` in the response", &bytes)
                })?;
            let tokens = |p: &str| body.pointer(p).and_then(Value::as_u64).unwrap_or(0);
            Ok(Completion {
                tool_calls: Vec::new(),
                output: Value::Array(vector.clone()).to_string(),
                usage: Usage {
                    input_tokens: tokens("/usage/prompt_tokens"),
                    output_tokens: 0,
                    cached_input_tokens: 0,
                },
                finish_reason: None,
                limits: Default::default(),
            })
        })
    }
}

/// The vector stored in an embedding call's [`Completion::output`].
pub fn parse_vector(output: &str) -> Result<Vec<f64>, String> {
    let values: Vec<f64> = serde_json::from_str(output)
        .map_err(|e| format!("the stored embedding is not a list of numbers: {e}"))?;
    if values.is_empty() {
        return Err("the embedding is empty".into());
    }
    Ok(values)
}
