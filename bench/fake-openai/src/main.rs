//! A minimal OpenAI- and Anthropic-compatible server for benchmarks: every
//! `POST .../chat/completions` (and `POST /v1/messages`, in Anthropic's format) is answered after
//! a fixed latency with the same small completion. HTTP/1.1 with keep-alive, one task per
//! connection, so it adds next to nothing to what it measures. Optionally it enforces rate
//! limits and injects faults, to measure how a client copes with them.
//!
//! Usage: fake-openai PORT LATENCY_MS [OPTIONS]   (PORT 0 picks a free port; the chosen one is
//! printed on the first line of stdout)
//!
//! - `--rps R`: a token bucket of capacity R refilling at R per second, shared by all
//!   connections; one request takes one token. Beyond it the answer is an immediate 429 with
//!   `retry-after-ms` (milliseconds until the next token) and `retry-after` (whole seconds,
//!   rounded up), and the protocol's rate-limit error body (`rate_limit_exceeded`, type
//!   `requests` for OpenAI; `rate_limit_error` for Anthropic).
//! - `--tpm T`: the same for tokens, capacity T/60 refilling at T/60 per second (one second's
//!   worth, like `--rps`). A request costs its body bytes / 4 plus its `max_tokens` (or
//!   `max_completion_tokens`), 256 when absent; a cost above the capacity is charged as the
//!   capacity. The 429 says "tokens per min (TPM)", type `tokens`.
//! - `--headers openai|anthropic|none` (default `openai`): the rate-limit headers on every
//!   response, 200 and 429, when a limit is set. `openai`: `x-ratelimit-{limit,remaining,reset}-
//!   {requests,tokens}`, limits per minute (R×60, T), remaining floored, reset = time until the
//!   bucket is full as OpenAI writes it (`20ms`, `1s`, `6m0s`). `anthropic`:
//!   `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, reset as an RFC 3339 time,
//!   and a 429 carries only `retry-after` (seconds). `none`: no rate-limit headers, and a 429
//!   carries only `retry-after-ms`, like a proxy.
//! - `--fail-429 P`, `--fail-500 Q`: each request is independently answered, before the limits
//!   are consulted, with an immediate 429 (`retry-after: 1`, no rate-limit headers) with
//!   probability P, or with a 500 `server_error` after the latency with probability Q.
//! - `--seed S` (default 1): seeds the generator behind the faults, so runs repeat.
//!
//! Error bodies follow the endpoint: OpenAI's `{"error":{...}}` on `/chat/completions`,
//! Anthropic's `{"type":"error","error":{...}}` on `/v1/messages`.
//!
//! Counters: `GET /stats` answers, and SIGTERM or SIGINT prints to stdout before exiting, one JSON
//! line: `requests`, `ok` (answered 200), `limited` (429 from the limits; `limited_tokens` of them
//! from `--tpm`), `injected_429`, `injected_500`, `tokens` (estimated tokens of the answered
//! requests) and `first_ok_s`/`last_ok_s` (seconds since start of the first and last 200, null
//! before any), from which the sustained rate of answered calls is (ok − 1) / (last − first).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const OPENAI_BODY: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok, the answer is 42"},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":6,"total_tokens":26,"prompt_tokens_details":{"cached_tokens":0}}}"#;
const ANTHROPIC_BODY: &str = r#"{"id":"msg_bench","type":"message","role":"assistant","model":"bench","content":[{"type":"text","text":"ok, the answer is 42"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":6}}"#;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Headers {
    OpenAi,
    Anthropic,
    None,
}

#[derive(Debug)]
struct Config {
    latency: Duration,
    headers: Headers,
    fail_429: f64,
    fail_500: f64,
}

/// A bucket of `capacity` refilling continuously at `rate` per second.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    rate: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn new(capacity: f64) -> Bucket {
        let at = Instant::now();
        Bucket {
            capacity,
            rate: capacity,
            level: capacity,
            at,
        }
    }
    fn refill(&mut self, now: Instant) {
        let gained = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.level = (self.level + gained).min(self.capacity);
        self.at = now;
    }
    fn wait_for(&self, n: f64) -> Duration {
        Duration::from_secs_f64(((n - self.level) / self.rate).max(0.0))
    }
    fn until_full(&self) -> Duration {
        self.wait_for(self.capacity)
    }
}

#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    ok: u64,
    limited: u64,
    limited_tokens: u64,
    injected_429: u64,
    injected_500: u64,
    tokens: u64,
    first_ok: Option<f64>,
    last_ok: Option<f64>,
}

#[derive(Debug)]
struct State {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    rng: u64,
    stats: Stats,
}

#[derive(Debug)]
struct Server {
    config: Config,
    start: Instant,
    state: Mutex<State>,
}

/// What to do with one completion request.
enum Verdict {
    Ok,
    /// Rejected by a limit: `tokens` tells which (per minute: `limit`; this request: `asked`),
    /// `wait` is until it would have fit.
    Limited {
        tokens: bool,
        limit: f64,
        asked: f64,
        wait: Duration,
    },
    Fail429,
    Fail500,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (port, server) = parse_args().unwrap_or_else(|e| {
        eprintln!("fake-openai: {e}\nusage: fake-openai PORT LATENCY_MS [--rps R] [--tpm T] [--headers openai|anthropic|none] [--fail-429 P] [--fail-500 Q] [--seed S]");
        std::process::exit(2)
    });
    let server = Arc::new(server);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("{}", listener.local_addr()?.port());
    let accept = async {
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(serve(stream, server.clone()));
        }
    };
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = accept => return r,
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("{}", server.stats_json());
    Ok(())
}

fn parse_args() -> Result<(u16, Server), String> {
    let mut positional = Vec::new();
    let (mut rps, mut tpm, mut headers, mut fail_429, mut fail_500, mut seed) =
        (None, None, Headers::OpenAi, 0.0, 0.0, 1u64);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            positional.push(arg);
            continue;
        };
        let value = args.next().ok_or(format!("--{flag} needs a value"))?;
        let number = || {
            value
                .parse::<f64>()
                .map_err(|_| format!("--{flag}: not a number: {value}"))
        };
        match flag {
            "rps" => rps = Some(number()?),
            "tpm" => tpm = Some(number()? / 60.0),
            "fail-429" => fail_429 = number()?,
            "fail-500" => fail_500 = number()?,
            "seed" => seed = value.parse().map_err(|_| format!("--seed: {value}"))?,
            "headers" => {
                headers = match value.as_str() {
                    "openai" => Headers::OpenAi,
                    "anthropic" => Headers::Anthropic,
                    "none" => Headers::None,
                    _ => return Err(format!("--headers: {value}")),
                }
            }
            _ => return Err(format!("unknown option --{flag}")),
        }
    }
    let arg = |i: usize, default: u64| -> Result<u64, String> {
        let parse = |a: &String| a.parse().map_err(|_| format!("not a number: {a}"));
        positional.get(i).map_or(Ok(default), parse)
    };
    let config = Config {
        latency: Duration::from_millis(arg(1, 20)?),
        headers,
        fail_429,
        fail_500,
    };
    let state = State {
        requests: rps.map(Bucket::new),
        tokens: tpm.map(Bucket::new),
        rng: seed,
        stats: Stats::default(),
    };
    let port = u16::try_from(arg(0, 0)?).map_err(|e| e.to_string())?;
    Ok((
        port,
        Server {
            config,
            start: Instant::now(),
            state: Mutex::new(state),
        },
    ))
}

async fn serve(mut stream: TcpStream, server: Arc<Server>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(8192);
    loop {
        // Read one request: headers up to the blank line, then Content-Length bytes of body.
        let header_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if !read_more(&mut stream, &mut buf).await? {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < header_end + length {
            if !read_more(&mut stream, &mut buf).await? {
                return Ok(());
            }
        }
        let body = &buf[header_end..header_end + length];
        let path = head.split_whitespace().nth(1).unwrap_or("");
        let (status, headers, body) =
            if head.starts_with("post ") && path.ends_with("/chat/completions") {
                server.complete(body, false).await
            } else if head.starts_with("post ") && path.ends_with("/v1/messages") {
                server.complete(body, true).await
            } else if head.starts_with("get ") && path == "/stats" {
                ("200 OK", String::new(), server.stats_json())
            } else {
                let body = r#"{"error":{"message":"not found","type":"invalid_request_error"}}"#;
                ("404 Not Found", String::new(), body.to_owned())
            };
        buf.drain(..header_end + length);
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

impl Server {
    /// Answers one completion request: status, extra header lines, body.
    async fn complete(&self, body: &[u8], anthropic: bool) -> (&'static str, String, String) {
        let cost = body.len() as u64 / 4 + max_tokens(body).unwrap_or(256);
        let (verdict, mut headers) = self.decide(cost);
        let error = |kind: &str, message: &str| {
            if anthropic {
                format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}"}}}}"#)
            } else {
                let (code, kind) = match kind {
                    "api_error" => ("null", "server_error"),
                    _ => (r#""rate_limit_exceeded""#, kind),
                };
                format!(
                    r#"{{"error":{{"message":"{message}","type":"{kind}","param":null,"code":{code}}}}}"#
                )
            }
        };
        match verdict {
            Verdict::Ok => {
                tokio::time::sleep(self.config.latency).await;
                let body = if anthropic {
                    ANTHROPIC_BODY
                } else {
                    OPENAI_BODY
                };
                ("200 OK", headers, body.to_owned())
            }
            Verdict::Limited {
                tokens,
                limit,
                asked,
                wait,
            } => {
                let ms = wait.as_micros().div_ceil(1000).max(1);
                let secs = ms.div_ceil(1000);
                match self.config.headers {
                    Headers::OpenAi => {
                        headers += &format!("retry-after-ms: {ms}\r\nretry-after: {secs}\r\n")
                    }
                    Headers::Anthropic => headers += &format!("retry-after: {secs}\r\n"),
                    Headers::None => headers += &format!("retry-after-ms: {ms}\r\n"),
                }
                let (per_min, what) = if tokens {
                    ("tokens per min (TPM)", "tokens")
                } else {
                    ("requests per min (RPM)", "requests")
                };
                let message = format!(
                    "Rate limit reached for bench in organization org-bench on {per_min}: Limit {limit:.0}, Requested {asked:.0}. Please try again in {}.",
                    go_duration(wait)
                );
                let kind = if anthropic { "rate_limit_error" } else { what };
                ("429 Too Many Requests", headers, error(kind, &message))
            }
            Verdict::Fail429 => {
                let kind = if anthropic {
                    "rate_limit_error"
                } else {
                    "requests"
                };
                let message = "Rate limit reached (injected). Please try again in 1s.";
                (
                    "429 Too Many Requests",
                    "retry-after: 1\r\n".into(),
                    error(kind, message),
                )
            }
            Verdict::Fail500 => {
                tokio::time::sleep(self.config.latency).await;
                let message =
                    "The server had an error while processing your request. Sorry about that!";
                (
                    "500 Internal Server Error",
                    String::new(),
                    error("api_error", message),
                )
            }
        }
    }

    /// Draws the faults, then takes from the buckets; returns the verdict and the rate-limit
    /// headers describing the buckets after it.
    fn decide(&self, cost: u64) -> (Verdict, String) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *guard;
        let now = Instant::now();
        state.stats.requests += 1;
        let draw = next_f64(&mut state.rng);
        if draw < self.config.fail_429 {
            state.stats.injected_429 += 1;
            return (Verdict::Fail429, String::new());
        }
        if draw < self.config.fail_429 + self.config.fail_500 {
            state.stats.injected_500 += 1;
            return (Verdict::Fail500, String::new());
        }
        for bucket in [&mut state.requests, &mut state.tokens]
            .into_iter()
            .flatten()
        {
            bucket.refill(now);
        }
        let charge = state
            .tokens
            .as_ref()
            .map_or(0.0, |b| (cost as f64).min(b.capacity));
        // The first bucket without room for this request, if any, rejects it.
        let short = |b: &Option<Bucket>, n: f64, tokens: bool| match b {
            Some(b) if b.level < n => Some(Verdict::Limited {
                tokens,
                limit: b.capacity * 60.0,
                asked: n,
                wait: b.wait_for(n),
            }),
            _ => None,
        };
        let verdict = if let Some(limited) =
            short(&state.requests, 1.0, false).or_else(|| short(&state.tokens, charge, true))
        {
            state.stats.limited += 1;
            state.stats.limited_tokens +=
                u64::from(matches!(limited, Verdict::Limited { tokens: true, .. }));
            limited
        } else {
            if let Some(b) = &mut state.requests {
                b.level -= 1.0;
            }
            if let Some(b) = &mut state.tokens {
                b.level -= charge;
            }
            let at = self.start.elapsed().as_secs_f64();
            let stats = &mut state.stats;
            stats.ok += 1;
            stats.tokens += cost;
            stats.first_ok.get_or_insert(at);
            stats.last_ok = Some(at);
            Verdict::Ok
        };
        let mut headers = String::new();
        let buckets = [("requests", &state.requests), ("tokens", &state.tokens)];
        for (name, bucket) in buckets {
            let Some(b) = bucket else { continue };
            let (limit, remaining) = ((b.capacity * 60.0).round(), b.level.max(0.0).floor());
            match self.config.headers {
                Headers::OpenAi => {
                    let reset = go_duration(b.until_full());
                    headers += &format!(
                        "x-ratelimit-limit-{name}: {limit}\r\nx-ratelimit-remaining-{name}: {remaining}\r\nx-ratelimit-reset-{name}: {reset}\r\n"
                    );
                }
                Headers::Anthropic => {
                    let reset = rfc3339(SystemTime::now() + b.until_full());
                    headers += &format!(
                        "anthropic-ratelimit-{name}-limit: {limit}\r\nanthropic-ratelimit-{name}-remaining: {remaining}\r\nanthropic-ratelimit-{name}-reset: {reset}\r\n"
                    );
                }
                Headers::None => {}
            }
        }
        (verdict, headers)
    }

    fn stats_json(&self) -> String {
        let s = &self.state.lock().unwrap_or_else(|e| e.into_inner()).stats;
        let time = |t: Option<f64>| t.map_or("null".to_owned(), |t| format!("{t:.3}"));
        format!(
            r#"{{"requests":{},"ok":{},"limited":{},"limited_tokens":{},"injected_429":{},"injected_500":{},"tokens":{},"first_ok_s":{},"last_ok_s":{}}}"#,
            s.requests,
            s.ok,
            s.limited,
            s.limited_tokens,
            s.injected_429,
            s.injected_500,
            s.tokens,
            time(s.first_ok),
            time(s.last_ok)
        )
    }
}

/// `max_tokens` or `max_completion_tokens` from a JSON body, without parsing the JSON.
fn max_tokens(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let after = ["\"max_tokens\":", "\"max_completion_tokens\":"]
        .iter()
        .find_map(|key| text.find(key).map(|i| &text[i + key.len()..]))?
        .trim_start();
    let digits = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    after[..digits].parse().ok()
}

/// A duration as OpenAI's rate-limit headers write it (Go's format): `20ms`, `1s`, `1.5s`, `6m0s`.
fn go_duration(d: Duration) -> String {
    let ms = d.as_micros().div_ceil(1000);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms % 60_000);
    let s = format!("{}.{:03}", s / 1000, s % 1000);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// A UTC time in RFC 3339 with milliseconds, e.g. `2026-11-29T04:13:45.120Z`.
fn rfc3339(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
    let (days, ms) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// SplitMix64: a uniform draw in [0, 1).
fn next_f64(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
