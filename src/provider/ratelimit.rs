//! Per-endpoint rate control: the send rate held just under what the server allows, learned as
//! the run goes, so that calls wait their turn instead of being rejected.
//!
//! Three limits apply, the tightest wins:
//! - **configured** `rpm`/`tpm`: hard ceilings, as token buckets that hold one second of burst
//!   and start almost empty (a bucket that starts full sends a whole minute's budget at once);
//! - **stated by the server**: the per-minute limits in OpenAI's `x-ratelimit-*` and Anthropic's
//!   `anthropic-ratelimit-*` headers, paced at [`HEADROOM`] of the stated rate, and a hold of
//!   every call until the reset when a response says nothing is left;
//! - **learned from rejections**, for servers that say only "429": when at least half of the
//!   answers in a stretch of [`EPISODE`] are 429s, the send rate is set just under the rate the
//!   server accepted meanwhile; further 429s lower it by [`DECREASE`] (at most once a second),
//!   each quiet second raises it by [`PROBE`], and after [`FORGET`] without a 429 the limit is
//!   dropped and full speed resumes. Only answers to calls sent after the rejections began
//!   count, since the rest were served from the server's budget rather than its refill. A token
//!   budget that runs out despite a stated token pace means the server counts more tokens per
//!   call than the estimate: each such half second, calls count [`TOKEN_FACTOR_STEP`] times
//!   more. Four rejections to an answer decide sooner, from [`EARLY_EPISODE`] on. A few random
//!   429s among many answers (an overloaded replica, not a limit) do not slow the run: each such
//!   call waits its own `retry-after`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::limits::ServerLimits;

/// Share of a server-stated rate that is used: room for the clocks of client and server to
/// disagree, and for calls made by other processes with the same key.
pub const HEADROOM: f64 = 0.95;
/// Share of the rate a saturated server was seen to accept that is used: that rate is measured
/// from a few answers and comes out a little high as often as low, and a pace even slightly
/// above the server's refill is rejected again and again; probing raises it from there.
const LEARNED_HEADROOM: f64 = 0.9;
/// How long rejections are watched before deciding whether they mean a limit.
const EPISODE: Duration = Duration::from_millis(250);
/// The soonest an episode of overwhelming rejections decides.
const EARLY_EPISODE: Duration = Duration::from_millis(50);
/// Fewer 429s than this in an episode say nothing: two random rejections at the start of a run,
/// before any answer is back, are not a limit.
const MIN_EPISODE_REJECTIONS: u64 = 8;
/// Factor applied to a learned rate on a further 429.
const DECREASE: f64 = 0.85;
/// Factor applied to a learned rate after each second without a 429.
const PROBE: f64 = 1.05;
/// Probing stops at this share of the pace at which the server last rejected a call, for
/// [`HOLD_BELOW_REJECTED`] after that rejection; then it goes on, so a limit that is still there
/// is found again before [`FORGET`] would drop it (and send a burst into it).
const BELOW_REJECTED: f64 = 0.97;
const HOLD_BELOW_REJECTED: Duration = Duration::from_secs(10);
/// A learned rate is lowered at most this often: one burst of 429s counts once.
const DECREASE_INTERVAL: Duration = Duration::from_millis(250);
/// A learned limit is forgotten after this long without a 429.
const FORGET: Duration = Duration::from_secs(30);
/// The slowest learned rate: one call every two seconds still finishes a run.
const MIN_RATE: f64 = 0.5;
/// Weight of each response in the moving share of rejections: about the last eight count.
const SHARE_WEIGHT: f64 = 1.0 / 8.0;
/// Above this share of rejections, the server is saturated.
const CONGESTED_SHARE: f64 = 0.5;
/// How much more a call's tokens count after a token budget ran out despite the pace.
const TOKEN_FACTOR_STEP: f64 = 1.5;
const MAX_TOKEN_FACTOR: f64 = 8.0;

#[derive(Debug)]
pub struct RateLimiter {
    /// False while there is no limit of any kind: the fast path takes no lock.
    active: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// `rpm` and `tpm`, as configured.
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    /// What the server stated or what its rejections taught.
    learned_requests: Option<Learned>,
    learned_tokens: Option<Bucket>,
    paused_until: Option<Instant>,
    /// Rejections being watched (see the module doc).
    episode: Option<Episode>,
    last_rejected: Option<Instant>,
    /// What a call's token estimate is multiplied by: raised when a token budget runs out
    /// anyway, since the server counts tokens its own way.
    token_factor: f64,
    token_factor_changed: Instant,
    /// Share of rejections among recent responses (429s counted as the client's limit against
    /// answers), as a moving average: see [`RateLimiter::congested`].
    rejected_share: f64,
}

#[derive(Debug)]
struct Learned {
    bucket: Bucket,
    /// The rate the server's headers stated (times [`HEADROOM`]); `None` when learned from
    /// rejections alone. A 429 lowers the pace below it; quiet seconds bring it back.
    stated: Option<f64>,
    /// The pace at which the server last rejected a call: probing stays a little under it for
    /// a while ([`BELOW_REJECTED`]), so a limit found once is not overrun every few seconds.
    rejected_at: Option<f64>,
    changed: Instant,
}

#[derive(Debug)]
struct Episode {
    started: Instant,
    answered: u64,
    rejected: u64,
    /// When the first and the last of the answered calls were sent.
    sent: Option<(Instant, Instant)>,
}

impl Episode {
    /// The rate at which the server accepted calls during the episode. While it rejects calls
    /// it is saturated, so the calls it accepts are spaced by its refill: the span between the
    /// first and the last accepted send measures that spacing without counting the round trip
    /// the last answers still need to come back, which would make the rate look lower.
    fn accepted_rate(&self, elapsed: Duration) -> f64 {
        match self.sent {
            Some((first, last)) if self.answered >= 3 && last > first => {
                (self.answered - 1) as f64 / last.duration_since(first).as_secs_f64()
            }
            _ => self.answered as f64 / elapsed.as_secs_f64(),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    available: f64,
    per_sec: f64,
    updated: Instant,
}

impl Bucket {
    /// A bucket of `per_sec`, holding one second of burst (at least one call), starting with a
    /// quarter of it.
    fn new(per_sec: f64, now: Instant) -> Self {
        let capacity = per_sec.max(1.0);
        Bucket {
            capacity,
            available: capacity / 4.0,
            per_sec,
            updated: now,
        }
    }

    fn set_rate(&mut self, per_sec: f64, now: Instant) {
        self.refill(now);
        self.per_sec = per_sec;
        self.capacity = per_sec.max(1.0);
        self.available = self.available.min(self.capacity);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.available = (self.available + elapsed * self.per_sec).min(self.capacity);
        self.updated = now;
    }

    /// How long until `amount` is available. A request larger than the bucket waits for a full
    /// bucket and then goes, so it can never wait forever.
    fn wait_for(&self, amount: f64) -> Duration {
        let needed = amount.min(self.capacity) - self.available;
        if needed <= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(needed / self.per_sec).unwrap_or(Duration::MAX)
        }
    }

    fn take(&mut self, amount: f64) {
        self.available -= amount.min(self.capacity);
    }
}

impl RateLimiter {
    pub fn new(rpm: Option<u32>, tpm: Option<u32>) -> Self {
        let now = Instant::now();
        let per_minute = |limit: u32| Bucket::new(f64::from(limit) / 60.0, now);
        RateLimiter {
            active: AtomicBool::new(rpm.is_some() || tpm.is_some()),
            state: Mutex::new(State {
                requests: rpm.map(per_minute),
                tokens: tpm.map(per_minute),
                learned_requests: None,
                learned_tokens: None,
                paused_until: None,
                episode: None,
                last_rejected: None,
                token_factor: 1.0,
                token_factor_changed: now,
                rejected_share: 0.0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until one request of about `tokens` tokens may start, and takes it from the buckets.
    pub async fn acquire(&self, tokens: u64) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        loop {
            let wait = {
                let mut guard = self.lock();
                let s = &mut *guard;
                let now = Instant::now();
                s.probe(now);
                let mut wait = s
                    .paused_until
                    .map_or(Duration::ZERO, |until| until.saturating_duration_since(now));
                let learned = s.learned_requests.as_mut().map(|l| &mut l.bucket);
                let counted = tokens as f64 * s.token_factor;
                let buckets = [
                    (s.requests.as_mut(), 1.0),
                    (learned, 1.0),
                    (s.tokens.as_mut(), tokens as f64),
                    (s.learned_tokens.as_mut(), counted),
                ];
                let mut ready = Vec::with_capacity(4);
                for (bucket, amount) in buckets {
                    if let Some(b) = bucket {
                        b.refill(now);
                        wait = wait.max(b.wait_for(amount));
                        ready.push((b, amount));
                    }
                }
                if wait.is_zero() {
                    for (b, amount) in ready {
                        b.take(amount);
                    }
                    return;
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Learns from what a response (answer or error) said about the server's limits.
    pub fn observe(&self, limits: &ServerLimits) {
        if !limits.is_known() {
            return;
        }
        let mut s = self.lock();
        let now = Instant::now();
        if let Some(per_minute) = limits.requests.per_minute.filter(|n| *n > 0.0) {
            let rate = per_minute / 60.0 * HEADROOM;
            match &mut s.learned_requests {
                Some(l) if l.stated == Some(rate) => {}
                Some(l) => {
                    l.bucket.set_rate(rate, now);
                    l.stated = Some(rate);
                    l.rejected_at = None;
                    l.changed = now;
                }
                None => {
                    s.learned_requests = Some(Learned {
                        bucket: Bucket::new(rate, now),
                        stated: Some(rate),
                        rejected_at: None,
                        changed: now,
                    });
                }
            }
        }
        if let Some(per_minute) = limits.tokens.per_minute.filter(|n| *n > 0.0) {
            let rate = per_minute / 60.0 * HEADROOM;
            match &mut s.learned_tokens {
                Some(b) if (b.per_sec - rate).abs() < f64::EPSILON => {}
                Some(b) => b.set_rate(rate, now),
                None => s.learned_tokens = Some(Bucket::new(rate, now)),
            }
        }
        if let Some(wait) = limits.exhausted_for() {
            s.pause_until(now + wait.min(MAX_PAUSE));
        }
        drop(s);
        self.active.store(true, Ordering::Relaxed);
    }

    /// Records an answered call, sent at `sent`. Only calls sent after rejections began count
    /// toward the rate the server accepts: those sent before were served from its budget, not its
    /// refill.
    pub fn answered(&self, sent: Instant) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let mut s = self.lock();
        if let Some(e) = &mut s.episode
            && sent >= e.started
        {
            e.answered += 1;
            e.sent = Some(match e.sent {
                Some((first, last)) => (first.min(sent), last.max(sent)),
                None => (sent, sent),
            });
        }
        s.rejected_share *= 1.0 - SHARE_WEIGHT;
        s.close_episode(Instant::now());
    }

    /// Records a 429 that waiting can fix (not an exhausted quota) of a call estimated at
    /// `tokens` tokens, with what its headers said, and returns whether it counts as this
    /// client's limit. A 429 whose headers show plenty of budget left does not (an overloaded
    /// server, a limit of another kind): that call waits its own `retry-after`, the pace stays.
    pub fn rejected(&self, limits: &ServerLimits, tokens: u64) -> bool {
        let mut s = self.lock();
        let now = Instant::now();
        let counted = (tokens as f64 * s.token_factor).max(2.0);
        let requests_spent = limits.requests.remaining.is_some_and(|left| left < 2.0);
        let tokens_left = limits.tokens.remaining.filter(|_| !requests_spent);
        // Refused for tokens with more left than this call counts, though not a whole budget
        // more: the server counts more tokens per call than the estimate, at least what was left.
        let undercounted = tokens > 0
            && tokens_left.is_some_and(|left| left >= counted && left < counted * MAX_TOKEN_FACTOR);
        let spent = requests_spent
            || tokens_left.is_some_and(|left| left < counted)
            || limits.requests.remaining.is_none() && limits.tokens.remaining.is_none();
        if limits.is_known() && !spent && !undercounted {
            return false;
        }
        s.last_rejected = Some(now);
        s.rejected_share += (1.0 - s.rejected_share) * SHARE_WEIGHT;
        if let (true, Some(left)) = (undercounted, tokens_left) {
            let needed = (left + 1.0) / tokens as f64;
            s.token_factor = s.token_factor.max(needed).min(MAX_TOKEN_FACTOR);
            s.token_factor_changed = now;
        } else if tokens_left.is_some()
            && now.saturating_duration_since(s.token_factor_changed) >= Duration::from_millis(500)
        {
            // A token budget spent while the pace counted too few tokens per call: count more.
            s.token_factor = (s.token_factor * TOKEN_FACTOR_STEP).min(MAX_TOKEN_FACTOR);
            s.token_factor_changed = now;
        }
        match &mut s.learned_requests {
            // Already paced: the pace was too fast (the limit dropped, or another client shares
            // the key). Lower it, at most every `DECREASE_INTERVAL` so one burst counts once, and
            // probe no higher than this pace again.
            Some(l) if now.saturating_duration_since(l.changed) >= DECREASE_INTERVAL => {
                l.rejected_at = Some(
                    l.rejected_at
                        .map_or(l.bucket.per_sec, |r| r.min(l.bucket.per_sec)),
                );
                let rate = (l.bucket.per_sec * DECREASE).max(MIN_RATE);
                l.bucket.set_rate(rate, now);
                l.changed = now;
            }
            _ => {}
        }
        // Without a stated limit, keep watching: a pace far above the server's rate is corrected
        // from what it accepts, not one step a second.
        if s.learned_requests
            .as_ref()
            .is_none_or(|l| l.stated.is_none())
        {
            s.episode
                .get_or_insert(Episode {
                    started: now,
                    answered: 0,
                    rejected: 0,
                    sent: None,
                })
                .rejected += 1;
            s.close_episode(now);
        }
        drop(s);
        self.active.store(true, Ordering::Relaxed);
        true
    }

    /// Whether most recent responses are rejections: the server is saturated, so a call in
    /// flight more is one rejection more. A few random 429s among many answers (an overloaded
    /// replica, not a limit) are not congestion.
    pub fn congested(&self) -> bool {
        self.active.load(Ordering::Relaxed) && self.lock().rejected_share > CONGESTED_SHARE
    }

    /// Whether a 429 counted as the client's limit came back after `sent`.
    pub fn rejected_since(&self, sent: Instant) -> bool {
        self.active.load(Ordering::Relaxed) && self.lock().last_rejected.is_some_and(|at| at > sent)
    }

    /// Holds every later `acquire` for `d` from now.
    #[cfg(test)]
    pub fn pause_for(&self, d: Duration) {
        let mut s = self.lock();
        s.pause_until(Instant::now() + d.min(MAX_PAUSE));
        drop(s);
        self.active.store(true, Ordering::Relaxed);
    }

    /// The send rate in force, in calls per second, if any limit is known or configured.
    #[cfg(test)]
    pub fn rate(&self) -> Option<f64> {
        let s = self.lock();
        [
            s.requests.as_ref().map(|b| b.per_sec),
            s.learned_requests.as_ref().map(|l| l.bucket.per_sec),
        ]
        .into_iter()
        .flatten()
        .reduce(f64::min)
    }
}

/// No server-requested hold is longer than this: a bad clock or header must not stall a run.
const MAX_PAUSE: Duration = Duration::from_secs(60);

impl State {
    fn pause_until(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |old| old.max(until)));
    }

    /// Decides, once an episode of rejections has lasted long enough, whether it was a limit:
    /// at least as many 429s as answers. The server accepted `answered` calls meanwhile, which
    /// is its rate; sending a little under it stops the rejections.
    fn close_episode(&mut self, now: Instant) {
        let Some(e) = &self.episode else {
            return;
        };
        let elapsed = now.saturating_duration_since(e.started);
        // Overwhelming evidence decides early: the server rejects four calls for each it
        // answers, so every moment spent watching costs many more rejections.
        let overwhelming = elapsed >= EARLY_EPISODE
            && e.answered >= 4
            && e.rejected >= MIN_EPISODE_REJECTIONS.max(4 * e.answered);
        if elapsed < EPISODE && !overwhelming {
            return;
        }
        // Nothing accepted at all says nothing about the rate (a window spent by someone else):
        // each call's own `retry-after` covers that.
        if e.answered > 0 && e.rejected >= e.answered.max(MIN_EPISODE_REJECTIONS) {
            let accepted = e.accepted_rate(elapsed);
            let mut rate = (accepted * LEARNED_HEADROOM).max(MIN_RATE);
            match &mut self.learned_requests {
                Some(l) => {
                    l.rejected_at = Some(
                        l.rejected_at
                            .map_or(l.bucket.per_sec, |r| r.min(l.bucket.per_sec)),
                    );
                    rate = rate.min(l.bucket.per_sec * DECREASE).max(MIN_RATE);
                    l.bucket.set_rate(rate, now);
                    l.changed = now;
                }
                None => {
                    let mut bucket = Bucket::new(rate, now);
                    // The server's own budget is spent: start empty.
                    bucket.available = 0.0;
                    self.learned_requests = Some(Learned {
                        bucket,
                        stated: None,
                        rejected_at: None,
                        changed: now,
                    });
                }
            }
            tracing::info!(
                rate = format!("{rate:.1}/s"),
                answered = e.answered,
                rejected = e.rejected,
                over_ms = elapsed.as_millis() as u64,
                "the server rejects calls (HTTP 429): sending at the rate it accepts"
            );
        }
        self.episode = None;
    }

    /// Raises a learned rate after each quiet second (up to the stated rate, when the server
    /// stated one), and drops a rate learned from rejections alone after [`FORGET`] without a
    /// 429, so a lifted limit gives full speed back.
    fn probe(&mut self, now: Instant) {
        let Some(l) = &mut self.learned_requests else {
            return;
        };
        let quiet = self
            .last_rejected
            .map_or(FORGET, |at| now.saturating_duration_since(at));
        if quiet >= FORGET && l.stated.is_none() {
            self.learned_requests = None;
            return;
        }
        let below_rejected = l
            .rejected_at
            .filter(|_| quiet < HOLD_BELOW_REJECTED)
            .map_or(f64::INFINITY, |r| r * BELOW_REJECTED);
        let ceiling = l.stated.unwrap_or(f64::INFINITY).min(below_rejected);
        if l.bucket.per_sec < ceiling
            && quiet >= Duration::from_secs(1)
            && now.saturating_duration_since(l.changed) >= Duration::from_secs(1)
        {
            let rate = (l.bucket.per_sec * PROBE).min(ceiling);
            l.bucket.set_rate(rate, now);
            l.changed = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::limits::Budget;

    /// Acquires `n` times and returns how long that took on the (paused) clock.
    async fn acquire_n(limiter: &RateLimiter, n: usize) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            limiter.acquire(0).await;
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_is_a_ceiling_that_starts_nearly_empty() {
        // 2,400 rpm is 40 per second: a quarter second of burst, then 40 per second, where a
        // bucket starting full would have sent all 2,400 at once.
        let limiter = RateLimiter::new(Some(2400), None);
        let took = acquire_n(&limiter, 10).await;
        assert!(took.is_zero(), "the starting burst: {took:?}");
        let took = acquire_n(&limiter, 40).await;
        assert!(
            took >= Duration::from_millis(990) && took <= Duration::from_millis(1010),
            "then 40 per second: {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tpm_counts_tokens_and_oversized_requests_still_go() {
        let limiter = RateLimiter::new(None, Some(600));
        // 10 tokens per second, a bucket of 10 starting at 2.5.
        let start = Instant::now();
        limiter.acquire(5000).await;
        assert!(start.elapsed() <= Duration::from_secs(1));
        let before = Instant::now();
        limiter.acquire(10).await;
        assert!(before.elapsed() >= Duration::from_millis(990));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_everyone() {
        let limiter = RateLimiter::new(None, None);
        let start = Instant::now();
        limiter.acquire(1).await;
        limiter.pause_for(Duration::from_secs(2));
        limiter.acquire(1).await;
        assert!(start.elapsed() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stated_limit_is_paced_under_and_an_empty_budget_holds_until_reset() {
        let limiter = RateLimiter::new(None, None);
        let limits = ServerLimits {
            requests: Budget {
                per_minute: Some(2400.0),
                remaining: Some(100.0),
                reset: Some(Duration::from_millis(100)),
            },
            ..ServerLimits::default()
        };
        limiter.observe(&limits);
        assert_eq!(limiter.rate(), Some(40.0 * HEADROOM));
        let _burst = acquire_n(&limiter, 10).await;
        let took = acquire_n(&limiter, 38).await;
        assert!(took >= Duration::from_millis(990), "{took:?}");

        let spent = ServerLimits {
            requests: Budget {
                remaining: Some(0.0),
                reset: Some(Duration::from_secs(3)),
                ..limits.requests
            },
            ..limits
        };
        limiter.observe(&spent);
        let took = acquire_n(&limiter, 1).await;
        assert!(took >= Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn many_rejections_teach_the_accepted_rate() {
        let limiter = RateLimiter::new(None, None);
        // The server accepts one call in eleven, 40 per second, and rejects the rest: ten to
        // one is overwhelming, so the rate is learned after a few answers, well before a quarter
        // second.
        let start = Instant::now();
        for i in 0..121 {
            if i % 11 == 0 {
                limiter.answered(Instant::now());
            } else {
                limiter.rejected(&ServerLimits::default(), 0);
            }
            if limiter.rate().is_some() {
                break;
            }
            tokio::time::advance(Duration::from_micros(2300)).await;
        }
        assert!(start.elapsed() < EPISODE, "{:?}", start.elapsed());
        let rate = limiter.rate().expect("a learned limit");
        assert!((35.0..=40.0).contains(&rate), "{rate}");
        // Paced from (nearly) empty: 10 calls take about a quarter second, not a burst.
        let took = acquire_n(&limiter, 10).await;
        assert!(took >= Duration::from_millis(200), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn answers_to_calls_sent_before_the_rejections_do_not_count() {
        let limiter = RateLimiter::new(None, None);
        let before = Instant::now();
        tokio::time::advance(Duration::from_millis(1)).await;
        limiter.rejected(&ServerLimits::default(), 0);
        // A burst of 40 answers to calls sent before the first 429 (the server's full budget),
        // then 5 sent after it in a quarter second: the server accepts 20 per second.
        for _ in 0..40 {
            limiter.answered(before);
        }
        for _ in 0..5 {
            tokio::time::advance(Duration::from_millis(50)).await;
            limiter.answered(Instant::now());
            limiter.rejected(&ServerLimits::default(), 0);
            limiter.rejected(&ServerLimits::default(), 0);
        }
        tokio::time::advance(Duration::from_millis(10)).await;
        limiter.rejected(&ServerLimits::default(), 0);
        let rate = limiter.rate().expect("learned");
        assert!((18.0..=20.0).contains(&rate), "{rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_budget_spent_despite_the_pace_makes_calls_count_more() {
        let limiter = RateLimiter::new(None, None);
        let stated = ServerLimits {
            tokens: Budget {
                per_minute: Some(6000.0),
                remaining: Some(5000.0),
                ..Budget::default()
            },
            ..ServerLimits::default()
        };
        limiter.observe(&stated);
        let spent = ServerLimits {
            tokens: Budget {
                remaining: Some(0.0),
                ..stated.tokens
            },
            ..stated
        };
        tokio::time::advance(Duration::from_secs(1)).await;
        limiter.rejected(&spent, 0);
        limiter.rejected(&spent, 0);
        // 95 tokens per second; a call of 50 estimated tokens now counts 65, once per second.
        assert!((limiter.lock().token_factor - TOKEN_FACTOR_STEP).abs() < 1e-9);
        assert_eq!(limiter.rate(), None, "the request pace is not what ran out");
    }

    #[tokio::test(start_paused = true)]
    async fn the_accepted_rate_is_the_spacing_of_accepted_sends_not_of_answers() {
        let limiter = RateLimiter::new(None, None);
        let start = Instant::now();
        limiter.rejected(&ServerLimits::default(), 0);
        // The server takes one call every 25 ms (40 per second) and rejects four between; each
        // answer comes back 20 ms after its call was sent. Counting answers over the time since
        // the first 429 would give about 36 per second.
        let mut sends = Vec::new();
        for step in 1..=12u32 {
            let now = start + Duration::from_millis(25) * step;
            tokio::time::advance(now.saturating_duration_since(Instant::now())).await;
            sends.push(now);
            for _ in 0..4 {
                limiter.rejected(&ServerLimits::default(), 0);
            }
            if let Some(sent) = sends
                .first()
                .filter(|s| now >= **s + Duration::from_millis(20))
            {
                limiter.answered(*sent);
                sends.remove(0);
            }
            if limiter.rate().is_some() {
                break;
            }
        }
        let rate = limiter.rate().expect("learned");
        assert!(
            (40.0 * LEARNED_HEADROOM - 0.5..=40.0 * LEARNED_HEADROOM + 0.5).contains(&rate),
            "{rate}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_rejection_with_more_left_than_the_call_counts_corrects_the_count() {
        let limiter = RateLimiter::new(None, None);
        let refused = ServerLimits {
            tokens: Budget {
                per_minute: Some(6000.0),
                remaining: Some(80.0),
                ..Budget::default()
            },
            ..ServerLimits::default()
        };
        // Estimated at 36 tokens, refused with 80 left: the server counts at least 81.
        assert!(limiter.rejected(&refused, 36));
        let factor = limiter.lock().token_factor;
        assert!((factor - 81.0 / 36.0).abs() < 1e-9, "{factor}");
        // A whole budget left is an overloaded server, not our count.
        let plenty = ServerLimits {
            tokens: Budget {
                remaining: Some(5000.0),
                ..refused.tokens
            },
            ..refused
        };
        assert!(!limiter.rejected(&plenty, 36));
        assert!((limiter.lock().token_factor - factor).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn congestion_is_most_responses_being_rejections() {
        let limiter = RateLimiter::new(None, None);
        for i in 0..200 {
            if i % 5 == 0 {
                limiter.rejected(&ServerLimits::default(), 0);
            } else {
                limiter.answered(Instant::now());
            }
            assert!(!limiter.congested(), "one in five is not congestion ({i})");
        }
        for _ in 0..6 {
            limiter.rejected(&ServerLimits::default(), 0);
        }
        assert!(limiter.congested(), "six rejections in a row");
        for _ in 0..6 {
            limiter.answered(Instant::now());
        }
        assert!(!limiter.congested(), "answers again");
    }

    #[tokio::test(start_paused = true)]
    async fn rejections_with_nothing_accepted_teach_nothing() {
        let limiter = RateLimiter::new(None, None);
        for _ in 0..50 {
            limiter.rejected(&ServerLimits::default(), 0);
            tokio::time::advance(Duration::from_millis(20)).await;
        }
        assert_eq!(limiter.rate(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejection_lowers_a_stated_pace_and_quiet_brings_it_back() {
        let limiter = RateLimiter::new(None, None);
        let stated = ServerLimits {
            requests: Budget {
                per_minute: Some(600.0),
                ..Budget::default()
            },
            ..ServerLimits::default()
        };
        limiter.observe(&stated);
        tokio::time::advance(Duration::from_secs(1)).await;
        limiter.rejected(&ServerLimits::default(), 0);
        limiter.observe(&stated);
        let lowered = limiter.rate().expect("paced");
        assert!(
            (lowered - 10.0 * HEADROOM * DECREASE).abs() < 1e-9,
            "{lowered}"
        );
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(1)).await;
            limiter.acquire(0).await;
        }
        assert_eq!(limiter.rate(), Some(10.0 * HEADROOM));
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejection_with_budget_left_is_not_our_limit() {
        let limiter = RateLimiter::new(None, None);
        let stated = ServerLimits {
            requests: Budget {
                per_minute: Some(600.0),
                remaining: Some(250.0),
                ..Budget::default()
            },
            ..ServerLimits::default()
        };
        limiter.observe(&stated);
        tokio::time::advance(Duration::from_secs(1)).await;
        limiter.rejected(&stated, 0);
        assert_eq!(
            limiter.rate(),
            Some(10.0 * HEADROOM),
            "an overloaded server, not a limit"
        );
        let spent = ServerLimits {
            requests: Budget {
                remaining: Some(0.0),
                ..stated.requests
            },
            ..stated
        };
        limiter.rejected(&spent, 0);
        assert_eq!(limiter.rate(), Some(10.0 * HEADROOM * DECREASE));
    }

    #[tokio::test(start_paused = true)]
    async fn two_rejections_before_any_answer_are_no_limit() {
        let limiter = RateLimiter::new(None, None);
        limiter.rejected(&ServerLimits::default(), 0);
        limiter.rejected(&ServerLimits::default(), 0);
        tokio::time::advance(EPISODE).await;
        limiter.answered(Instant::now());
        assert_eq!(limiter.rate(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_few_random_rejections_do_not_slow_the_run() {
        let limiter = RateLimiter::new(None, None);
        // One call in five rejected, for two seconds: a flaky server, not a limit.
        for i in 0..1000 {
            if i % 5 == 0 {
                limiter.rejected(&ServerLimits::default(), 0);
            } else {
                limiter.answered(Instant::now());
            }
            tokio::time::advance(Duration::from_millis(2)).await;
        }
        assert_eq!(limiter.rate(), None);
        assert!(acquire_n(&limiter, 1000).await.is_zero());
    }

    /// A limiter that learned a pace from ten rejections and two answers in a quarter second
    /// (8 per second accepted), and that pace.
    async fn learned_from_rejections() -> (RateLimiter, f64) {
        let limiter = RateLimiter::new(None, None);
        for _ in 0..10 {
            limiter.rejected(&ServerLimits::default(), 0);
        }
        limiter.answered(Instant::now());
        tokio::time::advance(EPISODE).await;
        limiter.answered(Instant::now());
        let learned = limiter.rate().expect("learned");
        (limiter, learned)
    }

    #[tokio::test(start_paused = true)]
    async fn a_learned_limit_drops_on_rejection_rises_when_quiet_and_is_forgotten() {
        let (limiter, learned) = learned_from_rejections().await;
        // 2 accepted in a quarter second.
        assert!((learned - 8.0 * LEARNED_HEADROOM).abs() < 1e-9, "{learned}");

        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.acquire(0).await;
        let raised = limiter.rate().expect("still limited");
        assert!(raised > learned, "{raised} after a quiet second");

        tokio::time::advance(Duration::from_secs(1)).await;
        limiter.rejected(&ServerLimits::default(), 0);
        let lowered = limiter.rate().expect("still limited");
        assert!((lowered - raised * DECREASE).abs() < 1e-9, "{lowered}");

        tokio::time::advance(FORGET).await;
        limiter.acquire(0).await;
        assert_eq!(limiter.rate(), None, "the limit lifted");
    }

    /// Acquires once a second for `seconds` (each acquire lets the pace probe) and returns the
    /// pace then.
    async fn quiet_seconds(limiter: &RateLimiter, seconds: u32) -> f64 {
        for _ in 0..seconds {
            tokio::time::advance(Duration::from_secs(1)).await;
            limiter.acquire(0).await;
        }
        limiter.rate().expect("limited")
    }

    #[tokio::test(start_paused = true)]
    async fn probing_stays_under_the_pace_that_was_rejected_then_goes_on() {
        let (limiter, learned) = learned_from_rejections().await;
        // Rejected at this pace: lowered, and probing from there stops just under it.
        tokio::time::advance(DECREASE_INTERVAL).await;
        limiter.rejected(&ServerLimits::default(), 0);
        assert!((limiter.rate().expect("limited") - learned * DECREASE).abs() < 1e-9);
        let held = quiet_seconds(&limiter, 9).await;
        assert!(
            (held - learned * BELOW_REJECTED).abs() < 1e-9,
            "{held}, rejected at {learned}"
        );
        // A while later, probing goes on: a lifted limit is found again.
        let later = quiet_seconds(&limiter, 3).await;
        assert!(later > learned, "{later}, rejected at {learned}");
    }
}
