//! What a response says about the server's rate limits. OpenAI (and servers that copy it:
//! LiteLLM, Azure, OpenRouter) sends `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` on
//! every response, with resets as Go durations (`1s`, `6m0s`, `20ms`); Anthropic sends
//! `anthropic-ratelimit-{requests,tokens,input-tokens}-{limit,remaining,reset}`, with resets as
//! RFC 3339 times. Both state limits per minute. The rate limiter learns the allowed rate from
//! them (see [`super::ratelimit`]).

use std::time::Duration;

use reqwest::header::HeaderMap;

/// One budget the server enforces (requests, or tokens), as the last response stated it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    /// The limit per minute.
    pub per_minute: Option<f64>,
    /// What is left in the current window.
    pub remaining: Option<f64>,
    /// How long until the budget is whole again.
    pub reset: Option<Duration>,
}

impl Budget {
    fn is_known(&self) -> bool {
        self.per_minute.is_some() || self.remaining.is_some()
    }

    /// How long to hold every call when nothing is left: until the reset.
    pub fn exhausted_for(&self) -> Option<Duration> {
        match self.remaining {
            Some(left) if left < 1.0 => self.reset,
            _ => None,
        }
    }
}

/// The server's limits, from one response's headers (a success or an error).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerLimits {
    pub requests: Budget,
    pub tokens: Budget,
}

impl ServerLimits {
    /// Reads whichever vendor's headers the response has; none gives an empty value.
    pub fn from_headers(headers: &HeaderMap) -> ServerLimits {
        // Read on every response: one pass over the names (lowercase in a `HeaderMap`) tells
        // a response without any, such as every answer of a server that sets no limit.
        let any = headers.keys().any(|name| {
            let name = name.as_str();
            name.starts_with("x-ratelimit-") || name.starts_with("anthropic-ratelimit-")
        });
        if !any {
            return ServerLimits::default();
        }
        let openai = ServerLimits {
            requests: openai_budget(headers, "requests"),
            tokens: openai_budget(headers, "tokens"),
        };
        if openai.is_known() {
            return openai;
        }
        let tokens = anthropic_budget(headers, "tokens");
        ServerLimits {
            requests: anthropic_budget(headers, "requests"),
            // Newer Anthropic limits count input and output tokens apart; the input budget is the
            // one a request spends up front.
            tokens: if tokens.is_known() {
                tokens
            } else {
                anthropic_budget(headers, "input-tokens")
            },
        }
    }

    pub fn is_known(&self) -> bool {
        self.requests.is_known() || self.tokens.is_known()
    }

    /// How long every call must wait because a budget is spent, if one is.
    pub fn exhausted_for(&self) -> Option<Duration> {
        match (self.requests.exhausted_for(), self.tokens.exhausted_for()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn number(text: Option<&str>) -> Option<f64> {
    text?
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

fn openai_budget(headers: &HeaderMap, what: &str) -> Budget {
    Budget {
        per_minute: number(header(headers, &format!("x-ratelimit-limit-{what}"))),
        remaining: number(header(headers, &format!("x-ratelimit-remaining-{what}"))),
        reset: header(headers, &format!("x-ratelimit-reset-{what}")).and_then(parse_go_duration),
    }
}

fn anthropic_budget(headers: &HeaderMap, what: &str) -> Budget {
    let reset = header(headers, &format!("anthropic-ratelimit-{what}-reset")).and_then(|text| {
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        Some(Duration::try_from(at - time::OffsetDateTime::now_utc()).unwrap_or_default())
    });
    Budget {
        per_minute: number(header(
            headers,
            &format!("anthropic-ratelimit-{what}-limit"),
        )),
        remaining: number(header(
            headers,
            &format!("anthropic-ratelimit-{what}-remaining"),
        )),
        reset: reset.filter(|d| *d < MAX_RESET),
    }
}

/// A reset further away than this is not believed: a clock off by hours, or a daily quota, must
/// not stall a run.
const MAX_RESET: Duration = Duration::from_secs(3600);

/// Durations as OpenAI writes them in rate-limit headers: `20ms`, `1s`, `6m0s`, `1h2m3.5s`.
pub(super) fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += value * unit;
    }
    if !number.is_empty() {
        total += number.parse::<f64>().ok()?;
    }
    (total.is_finite() && (0.0..86_400.0).contains(&total))
        .then(|| Duration::try_from_secs_f64(total).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("x"), None);
        assert_eq!(parse_go_duration("99999999999999999999h"), None);
    }

    #[test]
    fn openai_headers_as_the_api_reference_gives_them() {
        let limits = ServerLimits::from_headers(&headers(&[
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-limit-tokens", "150000"),
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-remaining-tokens", "149984"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]));
        assert_eq!(
            limits.requests,
            Budget {
                per_minute: Some(60.0),
                remaining: Some(59.0),
                reset: Some(Duration::from_secs(1)),
            }
        );
        assert_eq!(limits.tokens.per_minute, Some(150_000.0));
        assert_eq!(limits.tokens.reset, Some(Duration::from_secs(360)));
        assert_eq!(limits.exhausted_for(), None);
    }

    #[test]
    fn anthropic_headers_as_the_api_reference_gives_them() {
        let reset = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        let limits = ServerLimits::from_headers(&headers(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", &reset),
            ("anthropic-ratelimit-input-tokens-limit", "40000"),
            ("anthropic-ratelimit-input-tokens-remaining", "39000"),
        ]));
        assert_eq!(limits.requests.per_minute, Some(50.0));
        assert_eq!(limits.tokens.per_minute, Some(40_000.0));
        let wait = limits.exhausted_for().expect("no request left");
        assert!(
            wait <= Duration::from_secs(2) && !wait.is_zero(),
            "{wait:?}"
        );
    }

    #[test]
    fn no_headers_or_nonsense_say_nothing() {
        assert!(!ServerLimits::from_headers(&HeaderMap::new()).is_known());
        let limits = ServerLimits::from_headers(&headers(&[
            ("x-ratelimit-limit-requests", "-5"),
            ("x-ratelimit-remaining-requests", "lots"),
        ]));
        assert!(!limits.is_known());
    }
}
