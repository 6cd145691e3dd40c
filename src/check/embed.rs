//! The `similar` check: cosine similarity between embeddings of the output and a reference,
//! from an OpenAI-compatible `/embeddings` endpoint.
//!
//! Each text is embedded by its own request, so the reference's embedding is cached once and
//! replayed for every cell and repeat that shares it.

use super::{
    AsyncGrader, Caller, CheckConfigError, CheckInput, CheckSpec, CompileCtx, Grade, missing,
    model_ref, render, string_value, unit_threshold,
};
use crate::provider::{BoxFuture, ProviderKind};
use crate::support::template::TemplateStr;

#[derive(Debug)]
struct Similar {
    model: String,
    value: TemplateStr,
    threshold: f64,
}

pub(super) fn compile(
    spec: &CheckSpec,
    ctx: &mut CompileCtx<'_>,
) -> Result<(Box<dyn AsyncGrader>, String), CheckConfigError> {
    let model = spec
        .model
        .clone()
        .ok_or_else(|| missing("similar", "model"))?;
    let kind = model_ref(ctx, "model", &model)?;
    if !matches!(kind, ProviderKind::Openai | ProviderKind::OpenaiCompatible) {
        return Err(CheckConfigError {
            field: "model".into(),
            message: format!(
                "model `{model}` is `provider = \"{}\"`; embeddings need an `openai` or `openai-compatible` model",
                kind.as_str()
            ),
        });
    }
    let value = string_value(
        ctx,
        "value",
        spec.value
            .as_ref()
            .ok_or_else(|| missing("similar", "value"))?,
    )?;
    let threshold = unit_threshold(spec, 0.8)?;
    Ok((
        Box::new(Similar {
            model: model.clone(),
            value,
            threshold,
        }),
        model,
    ))
}

impl AsyncGrader for Similar {
    fn grade<'a>(
        &'a self,
        input: &'a CheckInput<'a>,
        caller: &'a dyn Caller,
    ) -> BoxFuture<'a, Grade> {
        Box::pin(async move {
            let reference = match render(input, &self.value) {
                Ok(r) => r,
                Err(grade) => return grade,
            };
            if input.output.trim().is_empty() {
                return Grade::fail("output is empty: nothing to compare");
            }
            if reference.trim().is_empty() {
                return Grade::error("the reference renders to an empty text");
            }
            if input.output == reference {
                // Identical texts have identical embeddings: no call to pay for.
                return Grade::scored(
                    1.0,
                    true,
                    "output equals the reference (cosine similarity 1)",
                );
            }
            let (a, b) = futures_util::future::join(
                caller.embed(&self.model, input.output.to_owned()),
                caller.embed(&self.model, reference),
            )
            .await;
            let (a, b) = match (a, b) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    return Grade::error(format!("embedding call failed: {e}"));
                }
            };
            let Some(cosine) = cosine(&a, &b) else {
                return Grade::error(format!(
                    "embeddings cannot be compared (dimensions {} and {}, or a zero vector)",
                    a.len(),
                    b.len()
                ));
            };
            let passed = cosine >= self.threshold;
            Grade::scored(
                cosine.clamp(0.0, 1.0),
                passed,
                format!(
                    "cosine similarity {cosine:.3} {} threshold {}",
                    if passed { "reaches" } else { "is below" },
                    self.threshold
                ),
            )
        })
    }
}

/// Cosine similarity in [-1, 1]; `None` for different lengths, empty or zero vectors.
pub(crate) fn cosine(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    (na > 0.0 && nb > 0.0 && dot.is_finite()).then(|| (dot / (na * nb)).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::cosine;

    #[test]
    fn cosine_of_known_vectors() {
        assert_eq!(cosine(&[1.0, 0.0], &[1.0, 0.0]), Some(1.0));
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 2.0]), Some(0.0));
        assert!(cosine(&[1.0, 1.0], &[-1.0, -1.0]).is_some_and(|c| (c + 1.0).abs() < 1e-12));
        assert_eq!(cosine(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), None);
    }
}
