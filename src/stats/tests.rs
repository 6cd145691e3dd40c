use super::*;

fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= tolerance
}

/// `n` pairs from a 2×2 table, in a fixed order.
fn table_pairs(
    both_pass: usize,
    regressed: usize,
    improved: usize,
    both_fail: usize,
) -> Vec<(f64, f64)> {
    std::iter::repeat_n((1.0, 1.0), both_pass)
        .chain(std::iter::repeat_n((1.0, 0.0), regressed))
        .chain(std::iter::repeat_n((0.0, 1.0), improved))
        .chain(std::iter::repeat_n((0.0, 0.0), both_fail))
        .collect()
}

#[test]
fn exact_mcnemar_matches_hand_computed_binomial_tails() {
    // 6 vs 16 discordant: 2 · Σ_{k≤6} C(22, k) / 2²² = 2 · 110056 / 4194304.
    assert!(close(exact_mcnemar(16, 6), 0.052_478_790, 1e-9));
    assert_eq!(exact_mcnemar(16, 6), exact_mcnemar(6, 16), "two-sided");
    // 1 vs 9: 2 · (1 + 10) / 1024.
    assert!(close(exact_mcnemar(1, 9), 0.021_484_375, 1e-12));
    // 0 vs 5: 2 / 32.
    assert!(close(exact_mcnemar(0, 5), 0.0625, 1e-12));
    // Balanced or empty: no evidence at all.
    assert_eq!(exact_mcnemar(3, 3), 1.0);
    assert_eq!(exact_mcnemar(0, 0), 1.0);
    // Large n stays finite and tiny instead of underflowing to NaN.
    let p = exact_mcnemar(0, 2_000);
    assert!(p.is_finite() && (0.0..1e-300).contains(&p), "{p}");
    assert!(close(exact_mcnemar(900, 1_100), 8.457_09e-6, 1e-10));
}

#[test]
fn newcombe_matches_the_published_example() {
    // Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables", ch. 8 (Cavo et
    // al. 2012): [[59, 6], [16, 80]] gives −0.0621 (95% CI −0.1186 to −0.0046). Their first run
    // is our head: 6 cases pass only in head (improved), 16 only in base (regressed).
    let table = PairedTable {
        both_pass: 59,
        regressed: 16,
        improved: 6,
        both_fail: 80,
    };
    assert!(close(table.delta(), -0.0621, 5e-5));
    let (low, high) = table.newcombe(normal_quantile(0.975));
    assert!(close(low, -0.1186, 5e-5), "{low}");
    assert!(close(high, -0.0046, 5e-5), "{high}");
}

#[test]
fn newcombe_does_not_collapse_when_nothing_changed() {
    // The Wald interval would be 0 to 0 here; 40 identical outcomes do not prove Δ = 0 exactly.
    let table = PairedTable::from_pairs(&table_pairs(30, 0, 0, 10));
    let (low, high) = table.newcombe(normal_quantile(0.975));
    assert!(low < -0.01 && high > 0.01, "{low} {high}");
    assert!(low >= -1.0 && high <= 1.0);
}

#[test]
fn pass_fail_p_values_agree_with_the_interval() {
    let table = PairedTable {
        both_pass: 59,
        regressed: 16,
        improved: 6,
        both_fail: 80,
    };
    // The 95% upper bound is −0.0046, so against a margin of exactly that the one-sided p-value
    // is 2.5%; a smaller margin is rejected, a larger one is not.
    let (_, high) = table.newcombe(normal_quantile(0.975));
    let (p_drop, p_within) = table.p_values(-high);
    assert!(close(p_drop, 0.025, 1e-6), "{p_drop}");
    assert!(close(p_drop + p_within, 1.0, 1e-12));
    assert!(table.p_values(0.0).0 < 0.025);
    assert!(table.p_values(0.01).0 > 0.025);
    // On the right side of the boundary the drop test has nothing to say.
    assert!(table.p_values(0.2).0 > 0.5);
}

#[test]
fn t_quantiles_and_cdf_match_tables() {
    assert!(close(t_quantile(0.975, 10.0), 2.228_139, 1e-6));
    assert!(close(t_quantile(0.975, 1.0), 12.706_205, 1e-5));
    assert!(close(t_quantile(0.95, 29.0), 1.699_127, 1e-6));
    assert!(close(t_quantile(0.80, 9.0), 0.883_40, 1e-5));
    assert!(close(t_cdf(2.228_139, 10.0), 0.975, 1e-6));
    assert!(close(normal_sf(1.959_964), 0.025, 1e-7));
}

#[test]
fn paired_t_matches_hand_computation() {
    // Differences 0.1, −0.2, 0.3, 0, −0.1, 0.2, 0.4, −0.3, 0.1, 0: mean 0.05, sd 0.217307,
    // se 0.068718; t(9, 0.975) = 2.262157 → 0.05 ± 0.155451.
    let diffs = [0.1, -0.2, 0.3, 0.0, -0.1, 0.2, 0.4, -0.3, 0.1, 0.0];
    let (low, high, p_drop, p_within) = paired_t(&diffs, 0.0, 0.95);
    assert!(close(low, -0.105_451, 1e-5), "{low}");
    assert!(close(high, 0.205_451, 1e-5), "{high}");
    // t = 0.05 / 0.068718 = 0.727607 with 9 df: upper tail 0.2427.
    assert!(close(p_within, 0.2427, 5e-4), "{p_within}");
    assert!(close(p_drop + p_within, 1.0, 1e-12));
    // At a margin of exactly −mean the statistic is 0.
    let (_, _, p_drop, _) = paired_t(&diffs, -0.05, 0.95);
    assert!(close(p_drop, 0.5, 1e-9));
}

#[test]
fn method_follows_the_stated_rule() {
    let binary = table_pairs(20, 3, 2, 5);
    let diffs: Vec<f64> = binary.iter().map(|(b, h)| h - b).collect();
    assert_eq!(choose_method(&binary, &diffs), TestMethod::McnemarExact);

    // Repeat means with symmetric differences: t, whatever the size.
    let means: Vec<(f64, f64)> = (0..40)
        .map(|i| (1.0 / 3.0, f64::from(i % 3) / 3.0))
        .collect();
    let diffs: Vec<f64> = means.iter().map(|(b, h)| h - b).collect();
    assert!(skewness(&diffs).abs() <= T_MAX_SKEWNESS);
    assert_eq!(choose_method(&means, &diffs), TestMethod::PairedT);
    assert_eq!(choose_method(&means[..5], &diffs[..5]), TestMethod::PairedT);
    // Many cases but most unchanged and a few dropping: skewed, bootstrap.
    let skewed: Vec<(f64, f64)> = (0..100)
        .map(|i| {
            if i < 5 {
                (1.0, 1.0 / 3.0)
            } else {
                (2.0 / 3.0, 2.0 / 3.0)
            }
        })
        .collect();
    let diffs: Vec<f64> = skewed.iter().map(|(b, h)| h - b).collect();
    assert!(skewness(&diffs) < -T_MAX_SKEWNESS);
    assert_eq!(choose_method(&skewed, &diffs), TestMethod::PairedBootstrap);
    // Skewed but too few to resample: t.
    assert!(skewness(&diffs[..20]) < -T_MAX_SKEWNESS);
    assert_eq!(
        choose_method(&skewed[..20], &diffs[..20]),
        TestMethod::PairedT
    );
    assert_eq!(choose_method(&skewed[..1], &diffs[..1]), TestMethod::None);
}

#[test]
fn bootstrap_is_deterministic_and_close_to_t_on_tame_data() {
    let diffs: Vec<f64> = (0..25)
        .map(|i| f64::from(i % 5 - 2) / 10.0 + 0.01)
        .collect();
    let first = bootstrap(&diffs, 0.0, 0.95, BOOTSTRAP_SEED);
    let again = bootstrap(&diffs, 0.0, 0.95, BOOTSTRAP_SEED);
    assert_eq!(first, again, "same inputs, same numbers, bit for bit");
    let other = bootstrap(&diffs, 0.0, 0.95, 7);
    assert_ne!(first, other, "the seed is really used");
    let t = paired_t(&diffs, 0.0, 0.95);
    // On symmetric data the calibrated percentile interval is t's, up to resampling noise.
    assert!(
        close(first.0, t.0, 0.01) && close(first.1, t.1, 0.01),
        "{first:?} {t:?}"
    );
    assert!(
        first.2 > 0.5 && first.3 < 0.5,
        "mean is positive: {first:?}"
    );
}

#[test]
fn bootstrap_interval_and_p_values_are_the_same_statement() {
    let mut rng = SplitMix64(5);
    for trial in 0..40 {
        let n = 30 + trial;
        let diffs: Vec<f64> = (0..n)
            .map(|_| {
                let u = rng.unit();
                if u < 0.1 {
                    -2.0 / 3.0
                } else if u < 0.15 {
                    1.0 / 3.0
                } else {
                    0.0
                }
            })
            .collect();
        for margin in [0.0, 0.01, 0.02, 0.05, 0.1] {
            let (low, high, p_drop, p_within) = bootstrap(&diffs, margin, 0.95, trial as u64);
            assert_eq!(
                p_drop < 0.025,
                high < -margin,
                "{trial} {margin} {high} {p_drop}"
            );
            assert_eq!(
                p_within < 0.025,
                low > -margin,
                "{trial} {margin} {low} {p_within}"
            );
        }
    }
}

#[test]
fn paired_reports_means_and_the_method_used() {
    let est = paired(&table_pairs(59, 16, 6, 80), 0.0, 0.95);
    assert_eq!(est.method, TestMethod::McnemarExact);
    assert_eq!(est.n, 161);
    assert!(close(est.base_mean, 75.0 / 161.0, 1e-12));
    assert!(close(est.head_mean, 65.0 / 161.0, 1e-12));
    // Newcombe's interval ends at −0.46 points, but the exact sign test of the 22 changed
    // cases is not confident of any drop (p = 0.026 > 0.025): the decision follows the exact
    // test, and the interval shown reaches no change.
    assert!(close(est.p_drop, binomial_half_cdf(6, 22), 1e-12));
    assert!(est.p_drop > 0.025);
    assert_eq!(est.ci_high, 0.0);
    assert_eq!(est.mcnemar_p, Some(exact_mcnemar(16, 6)));
    assert!(close(est.noise, 22.0 / 161.0, 1e-12));

    let none = paired(&[(1.0, 0.0)], 0.0, 0.95);
    assert_eq!(none.method, TestMethod::None);
    assert_eq!((none.p_drop, none.p_within), (1.0, 1.0));
}

#[test]
fn holm_adjusts_in_step_down_order() {
    let adjusted = holm(&[0.01, 0.04, 0.03]);
    // Sorted 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → monotone 0.06.
    assert!(close(adjusted[0], 0.03, 1e-12));
    assert!(close(adjusted[1], 0.06, 1e-12));
    assert!(close(adjusted[2], 0.06, 1e-12));
    assert_eq!(holm(&[0.2]), [0.2]);
    assert_eq!(holm(&[0.6, 0.9]), [1.0, 1.0], "capped at 1");
    assert!(holm(&[]).is_empty());
}

#[test]
fn minimum_detectable_drop_follows_the_power_formula() {
    // Means: D = 0.02 + (t(0.975, 99) + t(0.8, 99)) · √(0.09 + D(1 − D)/3) / 10.
    let mdd = mdd_mean(0.3, 100, 0.02, 0.025, 3.0).expect("estimable");
    let sd_alt = (0.09 + mdd * (1.0 - mdd) / 3.0).sqrt();
    let expected = 0.02 + (1.984_217 + 0.845_242) * sd_alt / 10.0;
    assert!(close(mdd, expected, 5e-4), "{mdd} {expected}");
    // More repeats average the extra noise away: a smaller drop is visible.
    assert!(mdd_mean(0.3, 100, 0.02, 0.025, 10.0).expect("estimable") < mdd);
    assert_eq!(mdd_mean(0.0, 100, 0.02, 0.025, 3.0), None);
    assert_eq!(mdd_mean(0.3, 1, 0.02, 0.025, 3.0), None);
    // Pass/fail: with a 10% discordance rate over 200 cases and ψ = 0.1 + D,
    // D = 1.96 · √(ψ/200) + 0.8416 · √((ψ − D²)/200).
    let mdd = mdd_pass_fail(0.1, 200, 0.0, 0.025).expect("estimable");
    let psi = 0.1 + mdd;
    let expected =
        1.959_964 * (psi / 200.0).sqrt() + 0.841_621 * ((psi - mdd * mdd) / 200.0).sqrt();
    assert!(close(mdd, expected, 5e-4), "{mdd} {expected}");
    // Fewer cases or more noise can only see larger drops; no discordance still has a floor.
    assert!(mdd_pass_fail(0.1, 50, 0.0, 0.025).expect("estimable") > mdd);
    assert!(mdd_pass_fail(0.2, 200, 0.0, 0.025).expect("estimable") > mdd);
    let floor = mdd_pass_fail(0.0, 200, 0.0, 0.025).expect("estimable");
    assert!(floor > 0.02 && floor < mdd, "{floor}");
    assert_eq!(mdd_pass_fail(0.1, 0, 0.0, 0.025), None);
}

#[test]
fn splitmix_is_the_reference_sequence() {
    // Reference outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
    let mut rng = SplitMix64(0);
    assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    let mut rng = SplitMix64(1);
    assert!((0..1000).all(|_| rng.below(7) < 7));
    assert!(
        (0..1000)
            .map(|_| rng.unit())
            .all(|u| (0.0..1.0).contains(&u))
    );
}

#[test]
fn newcombe_is_sane_on_every_small_table() {
    // Every 2×2 table with up to 12 cases: the interval holds the estimate, stays in [−1, 1],
    // widens with the confidence, and its p-values are complementary and agree with it.
    let (z95, z99) = (normal_quantile(0.975), normal_quantile(0.995));
    for n in 1..=12u64 {
        for both_pass in 0..=n {
            for regressed in 0..=n - both_pass {
                for improved in 0..=n - both_pass - regressed {
                    let table = PairedTable {
                        both_pass,
                        regressed,
                        improved,
                        both_fail: n - both_pass - regressed - improved,
                    };
                    let d = table.delta();
                    let (low, high) = table.newcombe(z95);
                    let (low99, high99) = table.newcombe(z99);
                    assert!(
                        -1.0 <= low && low <= d && d <= high && high <= 1.0,
                        "{table:?}"
                    );
                    assert!(low99 <= low + 1e-12 && high99 >= high - 1e-12, "{table:?}");
                    for margin in [0.0, 0.05, 0.2] {
                        let (p_drop, p_within) = table.p_values(margin);
                        assert!((p_drop + p_within - 1.0).abs() < 1e-9, "{table:?}");
                        // Fails at 2.5% exactly when the 95% interval is below −margin.
                        if (high + margin).abs() > 1e-6 {
                            assert_eq!(p_drop < 0.025, high < -margin, "{table:?} {margin}");
                        }
                        if (low + margin).abs() > 1e-6 {
                            assert_eq!(p_within < 0.025, low > -margin, "{table:?} {margin}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn two_regressions_out_of_two_are_not_a_confident_drop() {
    // Newcombe alone reads 2 of 2 pass→fail as a confident drop (p ≈ 0.017); the exact sign test
    // on the two changed cases says a chance result is likely (one-sided p = 0.25).
    let est = paired(&[(1.0, 0.0), (1.0, 0.0)], 0.02, 0.95);
    assert_eq!(est.method, TestMethod::McnemarExact);
    assert!(est.p_drop >= 0.25, "{est:?}");
    // Many regressions still are.
    let mut pairs = vec![(1.0, 0.0); 12];
    pairs.extend(vec![(1.0, 1.0); 40]);
    assert!(paired(&pairs, 0.02, 0.95).p_drop < 0.025);
}

#[test]
fn no_spread_is_not_certainty() {
    // Two cases, three repeats each, both 2 of 3 on both sides: nothing can be shown either way.
    let same = [(2.0 / 3.0, 2.0 / 3.0), (2.0 / 3.0, 2.0 / 3.0)];
    let est = paired(&same, 0.05, 0.95);
    assert!(
        est.p_within > 0.025,
        "non-inferiority must not pass: {est:?}"
    );
    assert!(est.ci_low < -0.05 && est.ci_high > 0.05, "{est:?}");
    // Two hundred cases that all stayed exactly the same do show it.
    let many = vec![(0.5, 0.5); 200];
    assert!(paired(&many, 0.05, 0.95).p_within < 0.025);
}

#[test]
fn bootstrap_agrees_with_its_interval_at_very_high_confidence_and_ignores_order() {
    let mut diffs: Vec<f64> = (0..60)
        .map(|i| {
            if i % 6 == 0 {
                -0.9
            } else {
                -0.1 + f64::from(i % 3) * 0.01
            }
        })
        .collect();
    let (low, high, p_drop, _) = bootstrap(&diffs, 0.02, 0.9995, BOOTSTRAP_SEED);
    let alpha = (1.0 - 0.9995) / 2.0;
    assert_eq!(high < -0.02, p_drop < alpha, "{low} {high} {p_drop}");
    let forward = bootstrap(&diffs, 0.02, 0.95, BOOTSTRAP_SEED);
    diffs.reverse();
    assert_eq!(bootstrap(&diffs, 0.02, 0.95, BOOTSTRAP_SEED), forward);
}

/// Within the four decimals the reference tables print.
fn near(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-4
}

#[test]
fn wilson_matches_known_values() {
    let (low, high) = wilson(8.0, 10.0, 0.95);
    assert!(near(low, 0.4902) && near(high, 0.9433), "{low} {high}");
    // 0 of 10 at 95%: 0–0.2775.
    let (low, high) = wilson(0.0, 10.0, 0.95);
    assert!(near(low, 0.0) && near(high, 0.2775), "{low} {high}");
    // 50 of 100 at 90%: 0.4188–0.5812.
    let (low, high) = wilson(50.0, 100.0, 0.90);
    assert!(near(low, 0.4188) && near(high, 0.5812), "{low} {high}");
    assert_eq!(wilson(0.0, 0.0, 0.95), (0.0, 1.0));
}

#[test]
fn normal_quantile_matches_tables() {
    assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
    assert!((normal_quantile(0.95) - 1.644_854).abs() < 1e-6);
    assert!((normal_quantile(0.005) + 2.575_829).abs() < 1e-6);
    assert!(normal_quantile(0.5).abs() < 1e-12);
}

#[test]
fn two_improvements_out_of_two_are_not_confidently_within_the_margin() {
    // The exact worst case at the boundary: both cases improve with probability (1 − 0.05)/2.
    let est = paired(&table_pairs(0, 0, 2, 0), 0.05, 0.95);
    assert!(
        close(est.p_within, 0.475_f64.powi(2), 1e-6),
        "{}",
        est.p_within
    );
    // The interval is the one the decision used: it reaches below −5 points.
    assert!(est.ci_low <= -0.05, "{}", est.ci_low);
}

#[test]
fn unchanged_cases_give_the_same_verdict_whether_half_or_all_pass() {
    // 50 cases, none changed: the same evidence, whatever their pass rate. Newcombe's interval
    // alone passed the half-passing suite at a 5-point margin and failed the all-passing one.
    let all = paired(&table_pairs(50, 0, 0, 0), 0.05, 0.95);
    let half = paired(&table_pairs(25, 0, 0, 25), 0.05, 0.95);
    assert!(all.p_within >= 0.025, "{}", all.p_within);
    assert!(half.p_within >= 0.025, "{}", half.p_within);
    // The exact test's own value: (1 − 0.05)^50, no case regressing at the boundary's
    // mildest point.
    let exact = PairedTable::from_pairs(&table_pairs(25, 0, 0, 25))
        .exact_within_p(0.05)
        .expect("small");
    assert!(close(exact, 0.95_f64.powi(50), 1e-6), "{exact}");
}

#[test]
fn the_exact_within_test_matches_a_brute_force_supremum() {
    // 1 regressed, 3 improved of 6, margin 0.1: the trinomial tail, maximised over a fine grid.
    let table = PairedTable {
        both_pass: 2,
        regressed: 1,
        improved: 3,
        both_fail: 0,
    };
    let brute = |r: f64| {
        let c = r - 0.1;
        let s = 1.0 - r - c;
        let mut p = 0.0;
        for b in 0..=6u32 {
            for i in 0..=(6 - b) {
                if within_score(6, u64::from(b), u64::from(i), 0.1)
                    >= within_score(6, 1, 3, 0.1) - 1e-9
                {
                    let ways = (1..=6u32).product::<u32>() as f64
                        / ((1..=b).product::<u32>()
                            * (1..=i).product::<u32>()
                            * (1..=(6 - b - i)).product::<u32>()) as f64;
                    p += ways * r.powi(b as i32) * c.powi(i as i32) * s.powi((6 - b - i) as i32);
                }
            }
        }
        p
    };
    let best = (0..=10_000)
        .map(|i| brute(0.1 + 0.45 * f64::from(i) / 10_000.0))
        .fold(0.0, f64::max);
    let exact = table.exact_within_p(0.1).expect("small");
    assert!(close(exact, best, 1e-6), "{exact} vs {best}");
}

#[test]
fn a_few_cases_losing_one_repeat_are_not_a_confident_drop_at_any_suite_size() {
    for n in [30, 100, 1000] {
        // 4 cases lose one of three repeats, nothing else changes.
        let mut pairs = vec![(1.0, 1.0); n - 4];
        pairs.extend(std::iter::repeat_n((1.0, 2.0 / 3.0), 4));
        let est = paired(&pairs, 0.0, 0.95);
        assert!(est.p_drop >= 0.0625 - 1e-12, "n = {n}: p {}", est.p_drop);
        assert!(
            est.ci_high >= 0.0,
            "n = {n}: the interval reaches no change"
        );
    }
    // The sign-flip test itself: all four of four moved down, 1/16.
    assert_eq!(
        sign_flip_p(&[-1.0 / 3.0; 4], 0.0, Tail::Lower),
        Some(1.0 / 16.0)
    );
    assert_eq!(
        sign_flip_p(&[0.5; SIGN_FLIP_MAX + 1], 0.0, Tail::Lower),
        None
    );
}

#[test]
fn t_intervals_stay_in_range_and_identical_differences_keep_the_floor() {
    let est = paired_t(&[-1.0, 1.0, -1.0, 0.9, -1.0], 0.0, 0.95);
    assert!(est.0 >= -1.0 && est.1 <= 1.0, "{est:?}");
    // Five identical differences of −1/3: rounding leaves a spread of ~1e-17, which must not
    // make the interval zero-width and the p-value 0.
    let (low, high, p_drop, _) = paired_t(&[-1.0 / 3.0; 5], 0.0, 0.95);
    assert!(high - low > 0.1, "{low}..{high}");
    assert!(p_drop > 1e-6, "{p_drop}");
}

proptest::proptest! {
    /// The documented promise: the verdict and the interval shown never disagree, on either
    /// side, for every small table and margin.
    #[test]
    fn the_decision_is_the_interval_shown(
        both_pass in 0usize..12, regressed in 0usize..6, improved in 0usize..6,
        both_fail in 0usize..12, margin in proptest::sample::select(vec![0.0, 0.02, 0.05, 0.1]),
    ) {
        let pairs = table_pairs(both_pass, regressed, improved, both_fail);
        proptest::prop_assume!(pairs.len() >= 2);
        let est = paired(&pairs, margin, 0.95);
        let alpha = 0.025;
        // A hair of slack for the bisections that place the bounds.
        let eps = 1e-6;
        if est.p_drop < alpha {
            proptest::prop_assert!(est.ci_high < -margin + eps, "{est:?}");
        } else {
            proptest::prop_assert!(est.ci_high >= -margin - eps, "{est:?}");
        }
        if est.p_within < alpha {
            proptest::prop_assert!(est.ci_low > -margin - eps, "{est:?}");
        } else {
            proptest::prop_assert!(est.ci_low <= -margin + eps, "{est:?}");
        }
    }
}

#[test]
fn within_score_rises_with_improvements() {
    // `exact_within_p` relies on it to find the favourable tables by bisection.
    for n in [2u64, 3, 5, 10, 30, 100] {
        for margin in [0.0, 0.01, 0.05, 0.2, 0.5] {
            for b in 0..=n {
                let scores: Vec<f64> = (0..=n - b).map(|c| within_score(n, b, c, margin)).collect();
                assert!(
                    scores.windows(2).all(|w| w[1] >= w[0] - 1e-12),
                    "n {n}, margin {margin}, b {b}: {scores:?}"
                );
            }
        }
    }
}

#[test]
fn non_inferiority_holds_its_level_when_a_change_breaks_a_few_deterministic_cases() {
    // Deterministic cases, a share of them passing; the change breaks each passing case with
    // the probability that makes the expected drop exactly the tolerated 5 points. Newcombe's
    // interval alone passed such changes more often than its 2.5% (its width depends on the pass
    // rates, not only on what changed). The false-pass rate, summed exactly over the binomial
    // number of broken cases:
    use statrs::distribution::{Binomial, Discrete};
    for n in [50usize, 200, 1000] {
        for passing in [n / 2, n] {
            let broken =
                Binomial::new(0.05 * n as f64 / passing as f64, passing as u64).expect("binomial");
            let rate: f64 = (0..=passing)
                .map(|b| (b, broken.pmf(b as u64)))
                .filter(|(_, w)| *w > 1e-12)
                .filter(|(b, _)| {
                    let pairs = table_pairs(passing - b, *b, 0, n - passing);
                    paired(&pairs, 0.05, 0.95).p_within < 0.025
                })
                .map(|(_, w)| w)
                .sum();
            assert!(
                rate <= 0.025,
                "{n} cases, {passing} passing: false passes {rate:.4}"
            );
        }
    }
}
