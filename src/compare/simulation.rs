//! Proof by simulation: many seeded comparisons of a simulated suite against itself (fresh
//! noise, same true pass rates) and against real drops, through the same estimate, decision and
//! minimum-detectable-drop code the gate uses. `docs/statistics.md` quotes the figures printed
//! by `cargo test --lib simulation_report -- --ignored --nocapture`.

use super::*;
use crate::stats::SplitMix64;
use std::collections::BTreeMap;

/// The simulated suite: a share of the cases of each difficulty, as (share, true pass chance).
/// Most cases are easy, some are coin flips, a few are hard: the shape of a real eval suite,
/// and what makes base and head outcomes correlated.
const DIFFICULTY: [(f64, f64); 3] = [(0.60, 0.98), (0.25, 0.70), (0.15, 0.20)];

#[derive(Debug, Clone, Copy)]
pub(super) struct Scenario {
    pub name: &'static str,
    pub cases: usize,
    pub repeats: u32,
}

pub(super) const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "pass/fail, 200 cases, 1 repeat",
        cases: 200,
        repeats: 1,
    },
    Scenario {
        name: "pass/fail, 50 cases, 1 repeat",
        cases: 50,
        repeats: 1,
    },
    Scenario {
        name: "100 cases, 3 repeats",
        cases: 100,
        repeats: 3,
    },
    Scenario {
        name: "20 cases, 3 repeats",
        cases: 20,
        repeats: 3,
    },
];

fn true_pass_chances(cases: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(cases);
    for (share, chance) in DIFFICULTY {
        let count = (share * cases as f64).round() as usize;
        out.extend(std::iter::repeat_n(chance, count));
    }
    out.truncate(cases);
    while out.len() < cases {
        out.push(DIFFICULTY[0].1);
    }
    out
}

/// One simulated comparison: (base, head) case values where head's true pass chances are
/// scaled down so the expected pass rate drops by exactly `drop`.
fn simulate_pairs(scenario: &Scenario, drop: f64, rng: &mut SplitMix64) -> Vec<(f64, f64)> {
    let chances = true_pass_chances(scenario.cases);
    let mean = chances.iter().sum::<f64>() / chances.len() as f64;
    let scale = 1.0 - drop / mean;
    let value = |chance: f64, rng: &mut SplitMix64| {
        let passed = (0..scenario.repeats)
            .filter(|_| rng.unit() < chance)
            .count();
        passed as f64 / f64::from(scenario.repeats)
    };
    chances
        .iter()
        .map(|&c| (value(c, rng), value(c * scale, rng)))
        .collect()
}

/// What the gate concluded over `sims` simulated comparisons.
#[derive(Debug, Clone)]
pub(super) struct Measured {
    /// Share of comparisons whose rule failed.
    pub failed: f64,
    /// Reported minimum detectable drops, sorted.
    pub mdd: Vec<f64>,
    pub methods: BTreeMap<&'static str, usize>,
}

impl Measured {
    pub fn median_mdd(&self) -> f64 {
        self.mdd
            .get(self.mdd.len() / 2)
            .copied()
            .unwrap_or(f64::NAN)
    }
}

pub(super) fn run(
    scenario: &Scenario,
    true_drop: f64,
    test: &MetricTest,
    sims: usize,
    seed: u64,
) -> Measured {
    let mut rng = SplitMix64(seed);
    let mut failed = 0;
    let mut mdd = Vec::new();
    let mut methods = BTreeMap::new();
    for _ in 0..sims {
        let pairs = simulate_pairs(scenario, true_drop, &mut rng);
        let est = stats::paired(&pairs, test.max_drop.unwrap_or(0.0), test.confidence);
        let p = match test.policy {
            Policy::ConfidentDrop => est.p_drop,
            Policy::NonInferiority => est.p_within,
        };
        if decide(test, &est, p) == Status::Fail {
            failed += 1;
        }
        mdd.extend(min_detectable_drop(
            test,
            &est,
            1,
            f64::from(scenario.repeats),
        ));
        *methods.entry(method_name(est.method)).or_insert(0) += 1;
    }
    mdd.sort_by(f64::total_cmp);
    Measured {
        failed: failed as f64 / sims as f64,
        mdd,
        methods,
    }
}

fn method_name(method: TestMethod) -> &'static str {
    match method {
        TestMethod::McnemarExact => "mcnemar",
        TestMethod::PairedT => "t",
        TestMethod::PairedBootstrap => "bootstrap",
        TestMethod::None => "none",
    }
}

pub(super) fn confident_drop(max_drop: f64) -> MetricTest {
    MetricTest {
        max_drop: Some(max_drop),
        policy: Policy::ConfidentDrop,
        confidence: 0.95,
        measure: Default::default(),
    }
}

fn non_inferiority(max_drop: f64) -> MetricTest {
    MetricTest {
        max_drop: Some(max_drop),
        policy: Policy::NonInferiority,
        confidence: 0.95,
        measure: Default::default(),
    }
}

/// Three binomial standard errors above `rate` for `sims` trials: the sampling slack.
fn slack(rate: f64, sims: usize) -> f64 {
    rate + 3.0 * (rate * (1.0 - rate) / sims as f64).sqrt()
}

/// Sims per scenario in the always-on tests: enough for the bounds below, a second or two in a
/// debug build.
fn quick_sims(scenario: &Scenario) -> usize {
    if scenario.repeats == 1 { 1_000 } else { 300 }
}

#[test]
fn null_comparisons_rarely_fail() {
    let alpha = confident_drop(0.0).alpha();
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        let sims = quick_sims(scenario);
        // Same true pass rates, a typical tolerance: a false alarm needs a noise excursion well
        // past the tolerance.
        let typical = run(scenario, 0.0, &confident_drop(0.02), sims, 11 + i as u64);
        assert!(
            typical.failed <= slack(alpha, sims),
            "{}: {}",
            scenario.name,
            typical.failed
        );
        // The hardest null: the true drop sits exactly on the tolerance, so every excursion
        // counts. The rate must stay at α (2.5%) up to sampling slack.
        let boundary = run(scenario, 0.02, &confident_drop(0.02), sims, 101 + i as u64);
        assert!(
            boundary.failed <= slack(alpha, sims),
            "{}: boundary false alarms {}",
            scenario.name,
            boundary.failed
        );
    }
}

#[test]
fn non_inferiority_rarely_passes_an_inferior_change() {
    let test = non_inferiority(0.05);
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        let sims = quick_sims(scenario);
        // The true drop is exactly the tolerance: passing would be a false assurance.
        let measured = run(scenario, 0.05, &test, sims, 201 + i as u64);
        let passed = 1.0 - measured.failed;
        assert!(
            passed <= slack(test.alpha(), sims),
            "{}: false passes {passed}",
            scenario.name
        );
    }
}

#[test]
fn real_drops_are_caught_at_the_power_the_report_claims() {
    let test = confident_drop(0.02);
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        let sims = quick_sims(scenario);
        // What a team reads in its report today, with nothing changed.
        let claimed = run(scenario, 0.0, &test, sims, 301 + i as u64).median_mdd();
        assert!(claimed.is_finite(), "{}", scenario.name);
        let at = run(scenario, claimed, &test, sims, 401 + i as u64).failed;
        // 80% claimed; the formula is a normal approximation, so allow a band around it.
        assert!(
            (0.65..=0.95).contains(&at),
            "{}: MDD {claimed:.3} caught {at}",
            scenario.name
        );
        // Power grows with the drop: half the MDD is mostly missed, 1.5× mostly caught.
        let half = run(scenario, claimed * 0.5, &test, sims, 501 + i as u64).failed;
        let more = run(
            scenario,
            (claimed * 1.5).min(0.7),
            &test,
            sims,
            601 + i as u64,
        )
        .failed;
        assert!(
            half < at && at < more,
            "{}: {half} {at} {more}",
            scenario.name
        );
        assert!(more >= 0.9, "{}: 1.5× MDD caught {more}", scenario.name);
    }
}

/// Share of comparisons in which any of `metrics` independent, truly unchanged confident-drop
/// metrics (max_drop 0: the strictest null) failed, (with Holm, without correction).
/// False alarms at `max_drop = 0` when a suite is deterministic but for a few flaky cases:
/// `cases` cases of `repeats` repeats, all passing every time except `flaky` of them, which
/// pass each repeat with probability 2/3 in both runs (no change at all). t and the bootstrap
/// alone saw near-zero spread here and called the flaky cases' noise a drop.
pub(super) fn sparse_flaky_null(cases: usize, flaky: usize, sims: usize, seed: u64) -> f64 {
    let test = confident_drop(0.0);
    let mut rng = SplitMix64(seed);
    let repeats = 3;
    let value = |rng: &mut SplitMix64| {
        (0..repeats).filter(|_| rng.unit() < 2.0 / 3.0).count() as f64 / f64::from(repeats)
    };
    let mut failed = 0;
    for _ in 0..sims {
        let mut pairs = vec![(1.0, 1.0); cases - flaky];
        pairs.extend((0..flaky).map(|_| (value(&mut rng), value(&mut rng))));
        let est = stats::paired(&pairs, 0.0, test.confidence);
        if decide(&test, &est, est.p_drop) == Status::Fail {
            failed += 1;
        }
    }
    failed as f64 / sims as f64
}

#[test]
fn a_few_flaky_cases_in_a_deterministic_suite_are_not_a_drop() {
    let alpha = confident_drop(0.0).alpha();
    let sims = 1_000;
    let rate = sparse_flaky_null(100, 5, sims, 177);
    assert!(rate <= slack(alpha, sims), "false alarms {rate}");
}

pub(super) fn family_false_alarms(metrics: usize, sims: usize, seed: u64) -> (f64, f64) {
    let scenario = &SCENARIOS[0];
    let test = confident_drop(0.0);
    let mut rng = SplitMix64(seed);
    let (mut holm_fails, mut raw_fails) = (0, 0);
    for _ in 0..sims {
        let ests: Vec<PairedEstimate> = (0..metrics)
            .map(|_| stats::paired(&simulate_pairs(scenario, 0.0, &mut rng), 0.0, 0.95))
            .collect();
        let p: Vec<f64> = ests.iter().map(|e| e.p_drop).collect();
        let adjusted = stats::holm(&p);
        let fails = |ps: &[f64]| {
            ests.iter()
                .zip(ps)
                .any(|(e, &p)| decide(&test, e, p) == Status::Fail)
        };
        holm_fails += usize::from(fails(&adjusted));
        raw_fails += usize::from(fails(&p));
    }
    (
        holm_fails as f64 / sims as f64,
        raw_fails as f64 / sims as f64,
    )
}

#[test]
fn holm_keeps_the_family_false_alarm_rate_at_alpha() {
    let sims = 1_000;
    let (holm, raw) = family_false_alarms(3, sims, 77);
    assert!(holm <= slack(0.025, sims), "{holm}");
    // Without the correction three metrics would cry wolf about three times as often.
    assert!(raw > holm, "{raw} {holm}");
}

/// A null built to be skewed, the bootstrap's home ground: 3 repeats, every case passes 99% of
/// the time, except that in head 3% of the cases collapse to 32% (a mean drop of exactly 0.02,
/// sitting on `max_drop` = 0.02). Returns the false-alarm rates of t and of the bootstrap on the
/// same data, and how often the method rule chose the bootstrap.
pub(super) fn skewed_boundary(cases: usize, sims: usize, seed: u64) -> (f64, f64, f64) {
    let mut rng = SplitMix64(seed);
    let (mut t_fail, mut boot_fail, mut chose_boot) = (0, 0, 0);
    let value =
        |q: f64, rng: &mut SplitMix64| (0..3).filter(|_| rng.unit() < q).count() as f64 / 3.0;
    for _ in 0..sims {
        let pairs: Vec<(f64, f64)> = (0..cases)
            .map(|_| {
                let collapse = rng.unit() < 0.03;
                let head = if collapse { 0.99 - 2.0 / 3.0 } else { 0.99 };
                (value(0.99, &mut rng), value(head, &mut rng))
            })
            .collect();
        let diffs: Vec<f64> = pairs.iter().map(|(b, h)| h - b).collect();
        t_fail += usize::from(stats::paired_t(&diffs, 0.02, 0.95).2 < 0.025);
        let boot = stats::bootstrap(&diffs, 0.02, 0.95, stats::BOOTSTRAP_SEED);
        boot_fail += usize::from(boot.2 < 0.025);
        chose_boot +=
            usize::from(stats::choose_method(&pairs, &diffs) == TestMethod::PairedBootstrap);
    }
    let rate = |k: usize| k as f64 / sims as f64;
    (rate(t_fail), rate(boot_fail), rate(chose_boot))
}

#[test]
fn skewed_nulls_hold_the_level_with_either_method() {
    let (t, boot, chose) = skewed_boundary(100, 300, 21);
    assert!(
        t <= slack(0.025, 300) && boot <= slack(0.025, 300),
        "{t} {boot}"
    );
    assert!(
        chose > 0.5,
        "the rule picks the bootstrap for such data: {chose}"
    );
}

#[test]
fn simulations_are_deterministic() {
    let scenario = &SCENARIOS[3];
    let a = run(scenario, 0.05, &confident_drop(0.02), 20, 9);
    let b = run(scenario, 0.05, &confident_drop(0.02), 20, 9);
    assert_eq!((a.failed, a.mdd), (b.failed, b.mdd));
}

/// The figures quoted in `docs/statistics.md`, with many more simulations.
#[test]
#[ignore = "prints the measured figures for docs/statistics.md"]
fn simulation_report() {
    use std::fmt::Write;
    // A measured rate with its 95% Wilson interval, from `sims` simulations.
    let rate = |share: f64, sims: usize| {
        let (low, high) = stats::wilson(share * sims as f64, sims as f64, 0.95);
        format!(
            "{} ({}–{})",
            format_percent(share),
            format_percent(low),
            format_percent(high)
        )
    };
    let sims_for = |s: &Scenario| if s.repeats == 1 { 20_000 } else { 5_000 };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| suite | method | false alarms, no change (max_drop 2 pts) | false alarms, true drop = max_drop | non-inferiority false passes (true drop = max_drop 5 pts) | reported MDD (median) | caught at 0.5× / 1× / 1.5× MDD |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        let sims = sims_for(scenario);
        let seed = 1_000 * (i as u64 + 1);
        let test = confident_drop(0.02);
        let null = run(scenario, 0.0, &test, sims, seed + 1);
        let boundary = run(scenario, 0.02, &test, sims, seed + 2);
        let ni = run(scenario, 0.05, &non_inferiority(0.05), sims, seed + 3);
        let mdd = null.median_mdd();
        let power: Vec<String> = [0.5, 1.0, 1.5]
            .iter()
            .map(|k| {
                let drop = (mdd * k).min(0.7);
                format_percent(run(scenario, drop, &test, sims, seed + 4).failed)
            })
            .collect();
        let methods: Vec<String> = null
            .methods
            .iter()
            .map(|(m, c)| format!("{m} {}", format_percent(*c as f64 / sims as f64)))
            .collect();
        let _ = writeln!(
            out,
            "| {} ({} sims) | {} | {} | {} | {} | {} pts | {} |",
            scenario.name,
            format_count(sims as u64),
            methods.join(", "),
            rate(null.failed, sims),
            rate(boundary.failed, sims),
            rate(1.0 - ni.failed, sims),
            format_points(mdd),
            power.join(" / ")
        );
    }
    let (holm, raw) = family_false_alarms(3, 20_000, 4_242);
    let _ = writeln!(
        out,
        "\nThree independent unchanged metrics gated at max_drop 0 (pass/fail, 200 cases, 20,000 sims): any false alarm {} with Holm, {} without correction.",
        rate(holm, 20_000),
        rate(raw, 20_000)
    );
    for (cases, flaky) in [(100, 5), (300, 6)] {
        let sims = 2_000;
        let _ = writeln!(
            out,
            "Deterministic suite with {flaky} flaky cases of {cases} (3 repeats, no change, max_drop 0, {sims} sims): false alarms {}.",
            rate(
                sparse_flaky_null(cases, flaky, sims, 9_000 + cases as u64),
                sims
            )
        );
    }
    for cases in [100, 300] {
        let (t, boot, chose) = skewed_boundary(cases, 5_000, 5_000 + cases as u64);
        let _ = writeln!(
            out,
            "Skewed boundary null, {cases} cases × 3 repeats (5,000 sims): false alarms t {}, bootstrap {}; the rule chose the bootstrap {}.",
            rate(t, 5_000),
            rate(boot, 5_000),
            format_percent(chose)
        );
    }
    #[expect(clippy::print_stdout, reason = "the point of this test is to print")]
    {
        println!("{out}");
    }
}
