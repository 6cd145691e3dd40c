//! Performance checks: latency and cost of the call.

use super::{CheckConfigError, CheckInput, CheckSpec, Grade, Grader, missing};

#[derive(Debug)]
enum Perf {
    Latency(u64),
    Cost(f64),
}

pub(super) fn compile(kind: &str, spec: &CheckSpec) -> Result<Box<dyn Grader>, CheckConfigError> {
    Ok(Box::new(match kind {
        "latency" => Perf::Latency(spec.max_ms.ok_or_else(|| missing(kind, "max_ms"))?),
        _ => {
            let max = spec.max_usd.ok_or_else(|| missing(kind, "max_usd"))?;
            if !(max >= 0.0 && max.is_finite()) {
                return Err(CheckConfigError {
                    field: "max_usd".into(),
                    message: format!("`max_usd` must be zero or positive, found {max}"),
                });
            }
            Perf::Cost(max)
        }
    }))
}

impl Grader for Perf {
    fn grade(&self, input: &CheckInput<'_>) -> Grade {
        match *self {
            Perf::Latency(max) if input.latency_ms <= max => {
                Grade::pass(format!("{} ms, within {max} ms", input.latency_ms))
            }
            Perf::Latency(max) => Grade::fail(format!(
                "{} ms, over the maximum {max} ms",
                input.latency_ms
            )),
            Perf::Cost(max) if input.cost_usd <= max => {
                Grade::pass(format!("${:.6}, within ${max}", input.cost_usd))
            }
            Perf::Cost(max) => {
                Grade::fail(format!("${:.6}, over the maximum ${max}", input.cost_usd))
            }
        }
    }
}
