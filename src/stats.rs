//! Paired statistics for the baseline comparison: intervals and one-sided tests for the change
//! of a metric between two runs of the same cases, Holm's correction, and the minimum detectable
//! drop. Pure functions over numbers; `compare` decides what to feed them.
//!
//! Conventions used throughout:
//! - Δ = head − base, per case and on average; a drop is a negative Δ.
//! - `margin` is the tolerated drop (`max_drop`, ≥ 0); the tested boundary is Δ = −margin.
//! - A two-sided interval at `confidence` c goes with one-sided tests at α = (1 − c) / 2, as in
//!   non-inferiority trials: "the whole 95% interval lies below −margin" is the same statement as
//!   "the one-sided test of Δ ≥ −margin rejects at 2.5%", so the verdict and the interval a
//!   reviewer reads can never disagree.
//! - A case's value is its mean over graded repeats (repeats are a cluster, never independent
//!   samples), so `n` always counts cases.
//!
//! Methods and why (see `docs/statistics.md` for the reviewer's version):
//! - Every paired value 0 or 1 (pass/fail, one repeat): Newcombe's hybrid score interval for
//!   paired proportions (1998, method 10), with the policy's p-value read off the same interval;
//!   the exact McNemar p-value (binomial on the discordant pairs) is reported beside it.
//! - Otherwise, when the differences are heavily skewed (|skewness| > [`T_MAX_SKEWNESS`], e.g.
//!   most cases unchanged and a few moving one way) and there are at least
//!   [`BOOTSTRAP_MIN_PAIRS`] of them: a seeded paired percentile bootstrap of the mean
//!   difference, which follows the skew that t's symmetric interval ignores.
//! - Otherwise: paired t. Below [`BOOTSTRAP_MIN_PAIRS`] pairs t is kept even for skewed data:
//!   in the simulations of `compare`, the bootstrap's false-alarm rate at 20 cases was 3–4%
//!   against t's 1.5–2.5% for a nominal 2.5%, since a handful of cases is too little to resample.
//! - Exact guards where those approximations slip (few changed cases): the sign test and the
//!   exact unconditional test with Tango's score statistic for pass/fail, the sign-flip
//!   permutation test for repeat means. The decision takes the larger p-value, and the interval
//!   is widened to the exact test's bound when that test decides.

use crate::results::TestMethod;

/// The bootstrap needs this many pairs to stand for the distribution it resamples; below it,
/// t is used whatever the shape.
pub const BOOTSTRAP_MIN_PAIRS: usize = 30;
/// Beyond this sample skewness of the differences, t's symmetric interval misplaces the tails
/// and the bootstrap is used (given enough pairs).
pub const T_MAX_SKEWNESS: f64 = 1.0;
/// Bootstrap resamples: enough that the 2.5% tails rest on ~50 resamples each.
pub const BOOTSTRAP_RESAMPLES: usize = 2_000;
/// The bootstrap's fixed seed: the same inputs always give the same interval and verdict.
pub const BOOTSTRAP_SEED: u64 = 0x0E7A_16A7_E5EE_D001;
/// Power at which the minimum detectable drop is stated.
pub const POWER: f64 = 0.80;

/// The estimate of Δ for one metric over paired cases, with its interval and both one-sided
/// p-values at the tested boundary Δ = −margin.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedEstimate {
    pub method: TestMethod,
    pub n: usize,
    pub base_mean: f64,
    pub head_mean: f64,
    pub delta: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// p-value for "Δ < −margin" (a drop beyond the margin): small means confident it dropped.
    pub p_drop: f64,
    /// p-value for "Δ > −margin" (within the margin): small means confident it did not.
    pub p_within: f64,
    /// Exact two-sided McNemar p-value for "no change at all"; pass/fail data only.
    pub mcnemar_p: Option<f64>,
    /// The spread that drives the minimum detectable drop: the discordance rate (share of cases
    /// whose pass state changed) for pass/fail, the standard deviation of the differences
    /// otherwise.
    pub noise: f64,
}

/// Estimates Δ from `pairs` of (base, head) case values at two-sided `confidence`, testing
/// the boundary Δ = −`margin`. Fewer than two pairs give [`TestMethod::None`] with p-values of 1
/// (nothing can be shown either way).
pub fn paired(pairs: &[(f64, f64)], margin: f64, confidence: f64) -> PairedEstimate {
    let n = pairs.len();
    let base_mean = mean(pairs.iter().map(|p| p.0));
    let head_mean = mean(pairs.iter().map(|p| p.1));
    let delta = head_mean - base_mean;
    let mut est = PairedEstimate {
        method: TestMethod::None,
        n,
        base_mean,
        head_mean,
        delta,
        ci_low: delta,
        ci_high: delta,
        p_drop: 1.0,
        p_within: 1.0,
        mcnemar_p: None,
        noise: 0.0,
    };
    if n < 2 {
        return est;
    }
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let alpha = (1.0 - confidence) / 2.0;
    let diffs: Vec<f64> = pairs.iter().map(|(b, h)| h - b).collect();
    est.method = choose_method(pairs, &diffs);
    match est.method {
        TestMethod::McnemarExact => {
            let table = PairedTable::from_pairs(pairs);
            (est.ci_low, est.ci_high) = table.newcombe(z);
            (est.p_drop, est.p_within) = table.p_values(margin);
            // Newcombe's interval is too narrow when only a handful of cases changed (two of two
            // regressing reads as a confident drop). A drop beyond the margin is never more
            // certain than a drop at all, which the exact one-sided sign test on the changed
            // cases measures: the decision takes the larger of the two p-values.
            let any_drop = binomial_half_cdf(table.improved, table.regressed + table.improved);
            guard_drop(&mut est, any_drop, alpha);
            // Likewise "within the margin" is never more certain than the exact unconditional
            // test of it says (few changed cases, or few cases at all, prove little). Only
            // where the interval claims it: an exact p can only raise a p-value.
            if est.p_within < alpha
                && let Some(within) = table.exact_within_p(margin)
            {
                est.p_within = est.p_within.max(within);
                if within >= alpha {
                    let lowest = invert(|m| table.exact_within_p(m).unwrap_or(0.0), alpha);
                    // At least down to the margin tested, whatever the bisection found.
                    est.ci_low = est.ci_low.min(-lowest.max(margin));
                }
            }
            est.mcnemar_p = Some(exact_mcnemar(table.regressed, table.improved));
            est.noise = table.discordance();
        }
        TestMethod::PairedT | TestMethod::PairedBootstrap => {
            let found = if est.method == TestMethod::PairedT {
                paired_t(&diffs, margin, confidence)
            } else {
                bootstrap(&diffs, margin, confidence, BOOTSTRAP_SEED)
            };
            (est.ci_low, est.ci_high, est.p_drop, est.p_within) = found;
            // A few cases moving by a fraction of their repeats leave t and the bootstrap almost
            // no spread to work with, and they call a drop certain; the exact sign-flip test of
            // the cases that moved does not.
            if est.p_drop < alpha
                && let Some(any_drop) = sign_flip_p(&diffs, 0.0, Tail::Lower)
            {
                guard_drop(&mut est, any_drop, alpha);
            }
            if est.p_within < alpha
                && let Some(within) = sign_flip_p(&diffs, margin, Tail::Upper)
            {
                est.p_within = est.p_within.max(within);
                if within >= alpha {
                    let lowest = invert(
                        |m| sign_flip_p(&diffs, m, Tail::Upper).unwrap_or(0.0),
                        alpha,
                    );
                    // At least down to the margin tested, whatever the bisection found.
                    est.ci_low = est.ci_low.min(-lowest.max(margin));
                }
            }
            est.noise = std_dev(&diffs);
        }
        TestMethod::None => {}
    }
    est
}

/// Applies an exact test of "any drop at all" to the drop side: a drop beyond the margin is
/// never more certain than a drop at all. When that test is not confident, the interval's
/// upper end reaches no change (0), so the interval shown is the one the decision used.
fn guard_drop(est: &mut PairedEstimate, any_drop: f64, alpha: f64) {
    est.p_drop = est.p_drop.max(any_drop);
    if any_drop >= alpha {
        est.ci_high = est.ci_high.max(0.0);
    }
}

/// The smallest margin in [0, 1] at which `p(margin)` (falling as the margin grows) drops
/// below `alpha`, by bisection: the lower end of the interval that inverts the test.
fn invert(p: impl Fn(f64) -> f64, alpha: f64) -> f64 {
    if p(1.0) >= alpha {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..30 {
        let mid = (lo + hi) / 2.0;
        if p(mid) < alpha {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// Which tail a sign-flip test measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// "Below": the mean of the values is negative (a drop).
    Lower,
    /// "Above": the mean is positive (within the margin, once shifted by it).
    Upper,
}

/// Values that differ from zero by less than this are ties (no change).
const TIE: f64 = 1e-9;

/// The most nonzero values the exact sign-flip test enumerates (2^16 sign patterns); with more,
/// t and the bootstrap have enough to go on and no guard is applied.
pub const SIGN_FLIP_MAX: usize = 16;

/// The exact paired sign-flip (permutation) test of the values `diffs + shift`: under "no
/// effect" each nonzero value is as likely to be positive as negative, so the p-value is the
/// share of the 2^k sign patterns whose sum is at least as far in `tail` as the one observed.
/// `None` with more than [`SIGN_FLIP_MAX`] nonzero values.
pub fn sign_flip_p(diffs: &[f64], shift: f64, tail: Tail) -> Option<f64> {
    let moved: Vec<f64> = diffs
        .iter()
        .map(|d| d + shift)
        .filter(|v| v.abs() > TIE)
        .collect();
    if moved.len() > SIGN_FLIP_MAX {
        return None;
    }
    if moved.is_empty() {
        return Some(1.0);
    }
    let observed: f64 = moved.iter().sum();
    let sizes: Vec<f64> = moved.iter().map(|v| v.abs()).collect();
    let patterns = 1u64 << sizes.len();
    let as_far = (0..patterns)
        .filter(|signs| {
            let sum: f64 = sizes
                .iter()
                .enumerate()
                .map(|(i, s)| if signs >> i & 1 == 1 { -s } else { *s })
                .sum();
            match tail {
                Tail::Lower => sum <= observed + TIE,
                Tail::Upper => sum >= observed - TIE,
            }
        })
        .count();
    Some(as_far as f64 / patterns as f64)
}

/// The rule of the module docs: pass/fail → McNemar/Newcombe; heavy skew with enough pairs →
/// bootstrap; anything else → t.
pub fn choose_method(pairs: &[(f64, f64)], diffs: &[f64]) -> TestMethod {
    if pairs.len() < 2 {
        TestMethod::None
    } else if pairs.iter().all(|&(b, h)| is_binary(b) && is_binary(h)) {
        TestMethod::McnemarExact
    } else if pairs.len() >= BOOTSTRAP_MIN_PAIRS && skewness(diffs).abs() > T_MAX_SKEWNESS {
        TestMethod::PairedBootstrap
    } else {
        TestMethod::PairedT
    }
}

fn is_binary(x: f64) -> bool {
    x == 0.0 || x == 1.0
}

/// Paired pass/fail outcomes as a 2×2 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairedTable {
    /// Passed in both runs.
    pub both_pass: u64,
    /// Passed in base, failed in head.
    pub regressed: u64,
    /// Failed in base, passed in head.
    pub improved: u64,
    /// Failed in both runs.
    pub both_fail: u64,
}

impl PairedTable {
    pub fn from_pairs(pairs: &[(f64, f64)]) -> Self {
        let mut t = PairedTable {
            both_pass: 0,
            regressed: 0,
            improved: 0,
            both_fail: 0,
        };
        for &(b, h) in pairs {
            match (b >= 0.5, h >= 0.5) {
                (true, true) => t.both_pass += 1,
                (true, false) => t.regressed += 1,
                (false, true) => t.improved += 1,
                (false, false) => t.both_fail += 1,
            }
        }
        t
    }

    pub fn n(&self) -> u64 {
        self.both_pass + self.regressed + self.improved + self.both_fail
    }

    /// Share of cases whose pass state changed.
    pub fn discordance(&self) -> f64 {
        ratio(self.regressed + self.improved, self.n())
    }

    /// Δ = head − base pass rate.
    pub fn delta(&self) -> f64 {
        (self.improved as f64 - self.regressed as f64) / self.n() as f64
    }

    /// Newcombe's hybrid score interval for the paired difference (Newcombe 1998, method 10):
    /// Wilson intervals for each run's pass rate, combined with the correlation between the
    /// runs (φ, with Newcombe's correction towards zero for positive association). Unlike the
    /// Wald interval it stays inside [−1, 1] and does not collapse to a point when no case
    /// changed. `z` is the two-sided normal quantile.
    pub fn newcombe(&self, z: f64) -> (f64, f64) {
        let n = self.n() as f64;
        if n == 0.0 {
            return (-1.0, 1.0);
        }
        let head_pass = (self.both_pass + self.improved) as f64;
        let base_pass = (self.both_pass + self.regressed) as f64;
        let (p1, p2) = (head_pass / n, base_pass / n);
        let (l1, u1) = wilson_z(head_pass, n, z);
        let (l2, u2) = wilson_z(base_pass, n, z);
        let phi = self.phi();
        let theta = p1 - p2;
        let (dl1, du1, dl2, du2) = (p1 - l1, u1 - p1, p2 - l2, u2 - p2);
        let low = theta
            - (dl1 * dl1 - 2.0 * phi * dl1 * du2 + du2 * du2)
                .max(0.0)
                .sqrt();
        let high = theta
            + (du1 * du1 - 2.0 * phi * du1 * dl2 + dl2 * dl2)
                .max(0.0)
                .sqrt();
        (low.max(-1.0), high.min(1.0))
    }

    /// Newcombe's φ: the correlation of the two runs' outcomes, 0 when a margin is empty.
    fn phi(&self) -> f64 {
        let n = self.n() as f64;
        let head_pass = (self.both_pass + self.improved) as f64;
        let head_fail = (self.regressed + self.both_fail) as f64;
        let base_pass = (self.both_pass + self.regressed) as f64;
        let base_fail = (self.improved + self.both_fail) as f64;
        let product = head_pass * head_fail * base_pass * base_fail;
        if product == 0.0 {
            return 0.0;
        }
        let a = self.both_pass as f64 * self.both_fail as f64
            - self.regressed as f64 * self.improved as f64;
        let corrected = if a > n / 2.0 {
            a - n / 2.0
        } else if a >= 0.0 {
            0.0
        } else {
            a
        };
        corrected / product.sqrt()
    }

    /// The exact unconditional p-value for "within the margin" (H₀: Δ ≤ −margin): the largest
    /// probability, over every regression rate r on the boundary (improvement rate r − margin),
    /// of a table whose score statistic ([`within_score`]) is at least this table's. The score
    /// statistic, not the raw difference, orders the tables, so a table with no changed case
    /// counts as the strong evidence it is. Unlike Newcombe's interval it is exact with two
    /// cases or two changed cases (2 of 2 improved gives 0.23 at a 5-point margin, not
    /// 0.008). `None` above [`EXACT_MAX_CASES`] cases.
    pub fn exact_within_p(&self, margin: f64) -> Option<f64> {
        let n = self.n();
        if n == 0 || n > EXACT_MAX_CASES {
            return None;
        }
        let margin = margin.clamp(0.0, 1.0);
        let observed = within_score(n, self.regressed, self.improved, margin) - 1e-9;
        // The score rises with the improvements for a given number of regressions (a unit test
        // checks it), so the tables at least as favourable are, for each regression count b,
        // those with at least `fewest[b]` improvements (none when even n − b are too few).
        let fewest: Vec<Option<u64>> = (0..=n)
            .map(|b| {
                let rest = n - b;
                if within_score(n, b, rest, margin) < observed {
                    return None;
                }
                let (mut lo, mut hi) = (0, rest);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if within_score(n, b, mid, margin) >= observed {
                        hi = mid;
                    } else {
                        lo = mid + 1;
                    }
                }
                Some(lo)
            })
            .collect();
        let at = |r: f64| tail_at_least(n, r, r - margin, &fewest);
        // On the boundary the regression rate r runs from `margin` (no improvement) to where
        // the two rates fill every case.
        let (lo, hi) = (margin, (1.0 + margin) / 2.0);
        let grid = 48;
        let mut best = (lo, at(lo));
        for i in 1..=grid {
            let r = lo + (hi - lo) * f64::from(i) / f64::from(grid);
            let p = at(r);
            if p > best.1 {
                best = (r, p);
            }
        }
        // Refine around the best grid point by golden-section search.
        let step = (hi - lo) / f64::from(grid);
        let (mut a, mut b) = ((best.0 - step).max(lo), (best.0 + step).min(hi));
        let phi = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..30 {
            let c = b - phi * (b - a);
            let d = a + phi * (b - a);
            if at(c) >= at(d) {
                b = d;
            } else {
                a = c;
            }
        }
        Some(best.1.max(at((a + b) / 2.0)).min(1.0))
    }

    /// (p_drop, p_within) at the boundary Δ = −margin, read off the Newcombe interval: the
    /// one-sided level at which the interval's bound touches −margin. The verdict therefore
    /// agrees with the interval shown at every confidence level.
    pub fn p_values(&self, margin: f64) -> (f64, f64) {
        let boundary = -margin;
        let theta = self.delta();
        if theta == boundary {
            return (0.5, 0.5);
        }
        // The bound moves monotonically away from θ as z grows; find where it reaches −margin.
        let reaches = |z: f64| {
            let (low, high) = self.newcombe(z);
            if theta < boundary {
                high >= boundary
            } else {
                low <= boundary
            }
        };
        let (mut lo, mut hi) = (0.0_f64, 40.0_f64);
        if !reaches(hi) {
            lo = hi;
        } else {
            for _ in 0..200 {
                let mid = (lo + hi) / 2.0;
                if reaches(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
                if hi - lo < 1e-12 {
                    break;
                }
            }
        }
        let p = normal_sf((lo + hi) / 2.0);
        if theta < boundary {
            (p, 1.0 - p)
        } else {
            (1.0 - p, p)
        }
    }
}

/// The largest suite the exact unconditional test of [`PairedTable::exact_within_p`] runs on.
pub const EXACT_MAX_CASES: u64 = 100_000;

/// P(a table at least as favourable) when each of `n` cases regresses with probability
/// `regress`, improves with probability `improve` and stays otherwise (a trinomial): the sum,
/// over regression counts b, of P(b regressions) · P(at least `fewest[b]` improvements among the
/// other n − b cases), walking out from the most likely b while the weights matter.
fn tail_at_least(n: u64, regress: f64, improve: f64, fewest: &[Option<u64>]) -> f64 {
    use statrs::distribution::{Binomial, Discrete, DiscreteCDF};
    let regress = regress.clamp(0.0, 1.0);
    let improve = improve.clamp(0.0, 1.0 - regress);
    let Ok(regressions) = Binomial::new(regress, n) else {
        return 0.0;
    };
    let q = if regress < 1.0 {
        (improve / (1.0 - regress)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let term = |b: u64| {
        let weight = regressions.pmf(b);
        let tail = match fewest[b as usize] {
            None => 0.0,
            Some(0) => 1.0,
            Some(k) => Binomial::new(q, n - b).map_or(0.0, |c| c.sf(k - 1)),
        };
        (weight, weight * tail)
    };
    let mode = ((n as f64 + 1.0) * regress).floor().min(n as f64) as u64;
    let mut total = 0.0;
    let mut b = mode;
    loop {
        let (weight, part) = term(b);
        total += part;
        if b == 0 || weight < 1e-17 {
            break;
        }
        b -= 1;
    }
    let mut b = mode + 1;
    while b <= n {
        let (weight, part) = term(b);
        total += part;
        if weight < 1e-17 {
            break;
        }
        b += 1;
    }
    total
}

/// The score statistic for "within the margin" of a table with `regressed` and `improved` of
/// `n` cases (Tango 1998): (improved − regressed + n·margin) over its standard deviation at the
/// rates that fit the table best on the boundary Δ = −margin. Large means "within".
pub fn within_score(n: u64, regressed: u64, improved: u64, margin: f64) -> f64 {
    let (nf, b, c) = (n as f64, regressed as f64, improved as f64);
    let m = nf - b - c;
    let d = margin;
    // The boundary's regression rate r maximising the likelihood: the larger root of
    // 2n·r² − B·r + b·d·(1 + d) = 0.
    let big_b = b * (1.0 + 3.0 * d) + c * (1.0 + d) + 2.0 * m * d;
    let disc = (big_b * big_b - 8.0 * nf * b * d * (1.0 + d)).max(0.0);
    let r = (big_b + disc.sqrt()) / (4.0 * nf);
    let variance = nf * (2.0 * r - d - d * d);
    let numerator = c - b + nf * d;
    if variance <= 1e-12 {
        // Nothing changed and nothing may: the table sits on the boundary.
        return if numerator > 0.0 { f64::INFINITY } else { 0.0 };
    }
    numerator / variance.sqrt()
}

/// The Wilson score interval for `successes` of `n` at two-sided normal quantile `z`.
pub fn wilson_z(successes: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = (successes / n).clamp(0.0, 1.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// The exact two-sided McNemar p-value: under "no change", each of the `regressed + improved`
/// discordant cases is equally likely to go either way, so the smaller count is binomial
/// (n, ½). Doubled one tail, capped at 1; 1 when no case changed.
pub fn exact_mcnemar(regressed: u64, improved: u64) -> f64 {
    let n = regressed + improved;
    if n == 0 {
        return 1.0;
    }
    (2.0 * binomial_half_cdf(regressed.min(improved), n)).min(1.0)
}

/// P(X ≤ k) for X ~ Binomial(n, ½), summed in log space so large n does not underflow.
pub fn binomial_half_cdf(k: u64, n: u64) -> f64 {
    if k >= n {
        return 1.0;
    }
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    (0..=k)
        .map(|i| (statrs::function::factorial::ln_binomial(n, i) - ln_half_n).exp())
        .sum::<f64>()
        .min(1.0)
}

/// Paired t on the differences: (ci_low, ci_high, p_drop, p_within).
pub fn paired_t(diffs: &[f64], margin: f64, confidence: f64) -> (f64, f64, f64, f64) {
    let n = diffs.len() as f64;
    let d = mean(diffs.iter().copied());
    let sd = std_dev(diffs);
    let se = if no_spread(diffs) {
        zero_spread_floor(diffs.len())
    } else {
        sd / n.sqrt()
    };
    let df = n - 1.0;
    let q = t_quantile(1.0 - (1.0 - confidence) / 2.0, df);
    let stat = (d + margin) / se;
    let p_drop = t_cdf(stat, df);
    // A difference of two values in [0, 1] lies in [−1, 1], whatever t's symmetric tails say.
    (
        (d - q * se).max(-1.0),
        (d + q * se).min(1.0),
        p_drop,
        1.0 - p_drop,
    )
}

/// Whether every difference is the same, allowing for rounding (five differences of −1/3 have
/// a computed spread of about 1e-17, not 0).
fn no_spread(diffs: &[f64]) -> bool {
    let scale = 1.0 + mean(diffs.iter().copied()).abs();
    std_dev(diffs) <= 1e-12 * scale
}

/// The standard error the t interval uses when every difference is the same. No spread was
/// seen, but a handful of cases cannot make the change certain: a suite of n cases that saw no
/// variation is taken to be as uncertain as the "rule of three" allows for an event never seen
/// in n trials (a one-sided 95% bound of about 3/n, so a standard error of about 1.5/n).
fn zero_spread_floor(n: usize) -> f64 {
    1.5 / n as f64
}

/// Seeded paired percentile bootstrap of the mean difference: (ci_low, ci_high, p_drop,
/// p_within). The plain percentile bootstrap is too narrow at small n (its spread is the plug-in
/// standard error, its tails normal), so resampled means are widened around the observed mean
/// by √(n/(n−1)) · t₍n−1₎/z at the interval's level; the shape (skew) is still the data's.
/// p-values count resampled means on the far side of the boundary (plus one, as the observed
/// sample counts as a resample), and the interval's ends are the order statistics at which that
/// count crosses α, so "the interval excludes −margin" and "p < α" are the same statement.
pub fn bootstrap(diffs: &[f64], margin: f64, confidence: f64, seed: u64) -> (f64, f64, f64, f64) {
    let n = diffs.len();
    let alpha = (1.0 - confidence) / 2.0;
    // No spread to resample, or a level finer than the resamples can resolve (p is at least
    // 1/(B+1)): the t interval answers instead, so the verdict never contradicts the interval.
    if no_spread(diffs) || alpha * (BOOTSTRAP_RESAMPLES as f64 + 1.0) < 2.0 {
        return paired_t(diffs, margin, confidence);
    }
    // Resample in a canonical order: the same cases in another file order give the same result.
    let mut sorted = diffs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let diffs = &sorted[..];
    let d = mean(diffs.iter().copied());
    let level = 1.0 - (1.0 - confidence) / 2.0;
    let df = n as f64 - 1.0;
    let widen = (n as f64 / df).sqrt() * t_quantile(level, df) / normal_quantile(level);
    let mut rng = SplitMix64(seed);
    let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            let sum: f64 = (0..n).map(|_| diffs[rng.below(n)]).sum();
            d + (sum / n as f64 - d) * widen
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let boundary = -margin;
    let above = means.iter().filter(|&&m| m >= boundary).count();
    let below = means.iter().filter(|&&m| m <= boundary).count();
    let b = means.len();
    // p = (count + 1) / (B + 1) < α holds exactly when count ≤ k; the (k+1)-th value from each
    // end is then on the far side of the boundary.
    let k = ((alpha * (b as f64 + 1.0)).ceil() as usize)
        .saturating_sub(2)
        .min(b - 1);
    let p = |count: usize| (count as f64 + 1.0) / (b as f64 + 1.0);
    (means[k], means[b - 1 - k], p(above), p(below))
}

/// Holm's step-down adjustment: sorted ascending, the i-th smallest p (from 0) is multiplied by
/// (k − i), made monotone, capped at 1. Returned in the input order. Controls the chance of any
/// false alarm across the k tests at the chosen α without assuming they are independent.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let k = p_values.len();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]).then(a.cmp(&b)));
    let mut adjusted = vec![0.0; k];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((k - rank) as f64 * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// The smallest true drop a pass/fail comparison catches with [`POWER`] at one-sided `alpha`,
/// given `n` pairs and the discordance rate ψ₀ observed (the share of cases whose pass state
/// changed): the smallest D with
/// D − margin ≥ z₁₋α · √((ψ − margin²) / n) + z_power · √((ψ − D²) / n),
/// the usual McNemar power formula, where ψ = ψ₀ + D because a real drop of D flips at least a
/// share D of the cases on top of the noise already seen. None when n is 0 or no drop up to
/// 100 points would be caught.
pub fn mdd_pass_fail(discordance: f64, n: usize, margin: f64, alpha: f64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let (z_alpha, z_power) = (normal_quantile(1.0 - alpha), normal_quantile(POWER));
    let n = n as f64;
    // A fine scan finds the smallest root; the function is not monotone in general.
    let step = 0.000_25;
    let mut d = margin + step;
    while d <= 1.0 {
        let psi = (discordance + d).min(1.0);
        let needed = z_alpha * ((psi - margin * margin).max(0.0) / n).sqrt()
            + z_power * ((psi - d * d).max(0.0) / n).sqrt();
        if d - margin >= needed {
            return Some(d);
        }
        d += step;
    }
    None
}

/// The smallest true drop a comparison of case means catches with [`POWER`] at one-sided
/// `alpha`, given the standard deviation `sd` of the differences seen and the mean number of
/// graded `repeats` per case: the smallest D with
/// D − margin ≥ (t₁₋α + t_power) · sd_D / √n, n − 1 degrees of freedom,
/// where sd_D² = sd² + D(1 − D) / repeats: a real drop of D is extra failed repeats, which add
/// their own binomial noise to every case's mean, and the interval is built from the spread
/// observed under that drop. None when n < 2 or no variation was observed
/// (then nothing says how noisy a real drop would be).
pub fn mdd_mean(sd: f64, n: usize, margin: f64, alpha: f64, repeats: f64) -> Option<f64> {
    if n < 2 || sd <= 0.0 || !sd.is_finite() {
        return None;
    }
    let df = n as f64 - 1.0;
    let (t_alpha, t_power) = (t_quantile(1.0 - alpha, df), t_quantile(POWER, df));
    let root_n = (n as f64).sqrt();
    let repeats = repeats.max(1.0);
    let step = 0.000_25;
    let mut d = margin + step;
    while d <= 1.0 {
        let sd_alt = (sd * sd + d * (1.0 - d) / repeats).sqrt();
        if d - margin >= (t_alpha + t_power) * sd_alt / root_n {
            return Some(d);
        }
        d += step;
    }
    None
}

/// Student's t quantile (statrs), falling back to the normal quantile for absurd inputs.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.inverse_cdf(p),
        Err(_) => normal_quantile(p),
    }
}

/// Student's t cumulative distribution (statrs).
pub fn t_cdf(x: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.cdf(x),
        Err(_) => 1.0 - normal_sf(x),
    }
}

/// The standard normal survival function 1 − Φ(x).
pub fn normal_sf(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(x / std::f64::consts::SQRT_2)
}

/// Sample skewness (moment estimator g₁); 0 when there is no spread.
pub fn skewness(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    if n < 3.0 {
        return 0.0;
    }
    let m = mean(xs.iter().copied());
    let m2 = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    let m3 = xs.iter().map(|x| (x - m).powi(3)).sum::<f64>() / n;
    if m2 <= 1e-15 { 0.0 } else { m3 / m2.powf(1.5) }
}

/// Sample standard deviation (n − 1); 0 for fewer than two values.
pub fn std_dev(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let m = mean(xs.iter().copied());
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = xs.fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
    if count == 0 { 0.0 } else { sum / count as f64 }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// SplitMix64: a tiny, well-mixed generator whose output is fixed by its definition, so the
/// bootstrap (and the simulations in the tests) give the same numbers on every platform and
/// every version of every dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, n) by multiply-shift (bias below 2⁻⁶⁴·n, far under anything measured).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in [0, 1).
    #[cfg(test)]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The Wilson score interval for `successes` out of `n` at two-sided `confidence`.
///
/// `successes` may be fractional (a mean over clusters times the number of clusters). `n = 0`
/// gives (0, 1): nothing is known. A confidence outside (0, 1) is clamped to the degenerate
/// limits: ≥ 1 gives (0, 1), ≤ 0 gives the point estimate.
pub fn wilson(successes: f64, n: f64, confidence: f64) -> (f64, f64) {
    if n <= 0.0 || !n.is_finite() || confidence.is_nan() || confidence >= 1.0 {
        return (0.0, 1.0);
    }
    let p = (successes / n).clamp(0.0, 1.0);
    if confidence <= 0.0 {
        return (p, p);
    }
    crate::stats::wilson_z(
        successes,
        n,
        normal_quantile(1.0 - (1.0 - confidence) / 2.0),
    )
}

/// The standard normal quantile Φ⁻¹(p), by Acklam's rational approximation (relative error
/// below 1.2e-9, far finer than any interval shown). `p` outside (0, 1) gives ±infinity.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

#[cfg(test)]
mod tests;
