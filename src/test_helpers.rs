//! The one home of test builders: calls, checks and run metadata for any test that needs
//! results, and hand-built results (with comparisons) for every situation a reviewer or a test
//! reporter must read right, hostile model output included. The comparison engine lives on its
//! own; these fixtures fill its types by hand so the reports are tested against the contract.

use serde_json::json;

use crate::aggregate::{metrics, summarize, summarize_by_cell};
use crate::gate::verdict_from_rules;
use crate::results::{
    BaselineInfo, CallResult, CaseChange, CaseComparison, CellChange, CellComparison, CellSummary,
    CheckResult, Comparison, FlakyCase, GitInfo, MetricComparison, QuantityComparison, Results,
    RuleOutcome, RuleScope, RunInfo, SCHEMA_VERSION, Side, Status, TestMethod, Tokens,
};

pub(crate) fn call(cell: &str, case_id: &str, repeat: u32, passed: bool) -> CallResult {
    CallResult {
        cell: cell.to_owned(),
        case_id: case_id.to_owned(),
        repeat,
        vars: serde_json::json!({}),
        expected: None,
        tags: vec![],
        messages: vec![],
        tool_calls: Vec::new(),
        output: Some(format!("answer to {case_id}")),
        finish_reason: None,
        checks: vec![],
        score: if passed { 1.0 } else { 0.0 },
        passed,
        error: None,
        latency_ms: 100,
        tokens: Tokens {
            input: 10,
            output: 5,
            cached_input: 0,
        },
        cost_usd: 0.01,
        cached: false,
        attempts: 1,
        judge: Default::default(),
        rate_limited: Default::default(),
        batch: None,
    }
}

pub(crate) fn errored(cell: &str, case_id: &str, repeat: u32, error: &str) -> CallResult {
    CallResult {
        tool_calls: Vec::new(),
        output: None,
        score: 0.0,
        passed: false,
        error: Some(error.to_owned()),
        tokens: Tokens::default(),
        cost_usd: 0.0,
        ..call(cell, case_id, repeat, false)
    }
}

pub(crate) fn check(metric: &str, passed: bool, score: f64, weight: f64) -> CheckResult {
    CheckResult {
        kind: "contains".to_owned(),
        metric: metric.to_owned(),
        weight,
        score,
        passed,
        reason: if passed {
            "found".to_owned()
        } else {
            "expected the answer to contain \"30 days\"".to_owned()
        },
        errored: false,
        judge: None,
    }
}

pub(crate) const CELLS: [&str; 2] = ["answer/mini", "answer/local"];

/// The run metadata every fabricated results file shares; callers change what their test needs.
pub(crate) fn run_info() -> RunInfo {
    RunInfo {
        evalgate_version: "0.1.0".to_owned(),
        suite: "support-bot".to_owned(),
        config_path: "evalgate.toml".to_owned(),
        started_at: "2025-01-01T00:00:00Z".to_owned(),
        finished_at: "2025-01-01T00:00:04Z".to_owned(),
        duration_ms: 4_210,
        git: None,
        config_fingerprint: "beef".to_owned(),
        repeats: 1,
        filter: None,
        cache: "rw".to_owned(),
        gate: None,
        redacted: vec![],
        shard: None,
    }
}

/// A cell `PROMPT/MODEL` of the OpenAI `gpt-4.1-mini` model with its summary.
pub(crate) fn cell_summary(
    id: String,
    summary: crate::results::Summary,
    fingerprint: String,
) -> CellSummary {
    let (prompt, model) = id.split_once('/').unwrap_or((&id, ""));
    CellSummary {
        prompt: prompt.to_owned(),
        model: model.to_owned(),
        provider: "openai".to_owned(),
        model_name: "gpt-4.1-mini".to_owned(),
        fingerprint,
        summary,
        reused: false,
        variable_prefix: false,
        batch: false,
        id,
    }
}

/// Results from `calls`, with the verdict folded from `rules` (as the gate would).
pub(crate) fn results(
    calls: Vec<CallResult>,
    rules: Vec<RuleOutcome>,
    comparison: Option<Comparison>,
) -> Results {
    let summary = summarize(&calls);
    let metrics = metrics(&calls, 0.95);
    let mut ids: Vec<String> = Vec::new();
    for c in &calls {
        if !ids.contains(&c.cell) {
            ids.push(c.cell.clone());
        }
    }
    let by_cell = summarize_by_cell(&calls);
    let cells = ids
        .into_iter()
        .map(|id| {
            let model = id.split_once('/').map_or("", |(_, m)| m);
            let fingerprint = format!("fp-{model}");
            let summary = by_cell.get(&id).cloned().unwrap_or_default();
            cell_summary(id, summary, fingerprint)
        })
        .collect();
    Results {
        schema_version: SCHEMA_VERSION,
        run: RunInfo {
            git: Some(GitInfo {
                sha: "a1b2c3d4e5f6".to_owned(),
                branch: Some("prompt-tweak".to_owned()),
                dirty: false,
            }),
            ..run_info()
        },
        summary,
        metrics,
        cells,
        verdict: verdict_from_rules(rules),
        comparison,
        results: calls.into(),
    }
}

/// A graded call with one `accuracy` check, a question, an expected answer and an output.
pub(crate) fn graded(cell: &str, id: &str, repeat: u32, passed: bool, output: &str) -> CallResult {
    let mut c = call(cell, id, repeat, passed);
    c.vars = json!({ "question": format!("What about {id}?") });
    c.expected = Some(json!("30 days"));
    c.output = Some(output.to_owned());
    c.checks = vec![check(
        "accuracy",
        passed,
        if passed { 1.0 } else { 0.0 },
        1.0,
    )];
    c.latency_ms = 400 + 10 * u64::from(repeat);
    c
}

pub(crate) fn rule(
    rule: &str,
    status: Status,
    actual: f64,
    threshold: f64,
    message: &str,
) -> RuleOutcome {
    RuleOutcome {
        scope: RuleScope::Absolute,
        rule: rule.to_owned(),
        status,
        actual,
        threshold,
        message: message.to_owned(),
    }
}

fn error_rate_ok() -> RuleOutcome {
    rule(
        "max_error_rate",
        Status::Pass,
        0.0,
        0.05,
        "error rate 0.0% (0 of 8 calls) is within the maximum 5.0%",
    )
}

pub(crate) fn baseline() -> BaselineInfo {
    BaselineInfo {
        source: "baseline/results.json".to_owned(),
        suite: "support-bot".to_owned(),
        started_at: "2024-12-31T00:00:00Z".to_owned(),
        git: Some(GitInfo {
            sha: "0f0e0d0c0b0a".to_owned(),
            branch: Some("main".to_owned()),
            dirty: false,
        }),
        config_fingerprint: "cafe".to_owned(),
    }
}

#[expect(clippy::too_many_arguments, reason = "a table row of test data")]
pub(crate) fn metric(
    name: &str,
    pairs: u64,
    base: f64,
    head: f64,
    ci: (f64, f64),
    max_drop: Option<f64>,
    mdd: Option<f64>,
    status: Status,
) -> MetricComparison {
    MetricComparison {
        metric: name.to_owned(),
        pairs,
        base,
        head,
        delta: head - base,
        ci_low: ci.0,
        ci_high: ci.1,
        confidence: 0.95,
        method: TestMethod::McnemarExact,
        measure: Default::default(),
        p_value: max_drop.map(|_| 0.03),
        p_adjusted: max_drop.map(|_| 0.06),
        mcnemar_p: max_drop.map(|_| 0.03),
        max_drop,
        policy: "confident-drop".to_owned(),
        min_detectable_drop: mdd,
        status,
    }
}

pub(crate) fn case_change(
    cell: &str,
    id: &str,
    change: CaseChange,
    scores: (Option<f64>, Option<f64>),
    outputs: (Option<&str>, Option<&str>),
) -> CaseComparison {
    CaseComparison {
        cell: cell.to_owned(),
        case_id: id.to_owned(),
        change,
        base_score: scores.0,
        head_score: scores.1,
        base_pass_share: scores.0,
        head_pass_share: scores.1,
        base_output: outputs.0.map(str::to_owned),
        head_output: outputs.1.map(str::to_owned),
        reasons: if change == CaseChange::Regressed {
            vec!["expected the answer to contain \"30 days\"".to_owned()]
        } else {
            vec![]
        },
    }
}

fn quantity(base: f64, head: f64) -> QuantityComparison {
    QuantityComparison {
        base,
        head,
        change: (base != 0.0).then(|| (head - base) / base),
    }
}

pub(crate) fn comparison(
    cells: Vec<CellComparison>,
    metrics: Vec<MetricComparison>,
    cases: Vec<CaseComparison>,
    unchanged: u64,
    flaky: Vec<FlakyCase>,
) -> Comparison {
    Comparison {
        baseline: baseline(),
        cells,
        metrics,
        cases,
        unchanged,
        unpaired_errored: 0,
        flaky,
        cost: quantity(0.07, 0.08),
        latency_p95_ms: quantity(900.0, 1_150.0),
        input_tokens: quantity(800.0, 820.0),
        output_tokens: quantity(400.0, 520.0),
    }
}

pub(crate) fn cell(id: &str, change: CellChange) -> CellComparison {
    CellComparison {
        id: id.to_owned(),
        change,
        base_fingerprint: (change != CellChange::New).then(|| "fp-base".to_owned()),
        head_fingerprint: (change != CellChange::Removed).then(|| "fp-head".to_owned()),
        pass_rate: None,
    }
}

const REFUND: &str =
    "You can return items within 30 days of delivery.\nRefunds go to the original payment method.";
const VAGUE: &str =
    "You can return items within a reasonable time.\nRefunds go to the original payment method.";

/// 4 cases in each of 2 cells; `failing` lists `(cell index, case index)` that fail in head.
fn calls(failing: &[(usize, usize)]) -> Vec<CallResult> {
    let mut out = Vec::new();
    for (ci, cell) in CELLS.iter().enumerate() {
        for i in 0..4 {
            let id = format!("refund-{i}");
            let fails = failing.contains(&(ci, i));
            out.push(graded(
                cell,
                &id,
                0,
                !fails,
                if fails { VAGUE } else { REFUND },
            ));
        }
    }
    out
}

/// Everything passes, against a baseline that also passed: nothing to see.
pub(crate) fn pass() -> Results {
    let rules = vec![
        error_rate_ok(),
        rule(
            "min_pass_rate",
            Status::Pass,
            1.0,
            0.9,
            "pass rate 100.0% (95% CI 67.6%–100.0%) meets the minimum 90.0%",
        ),
        rule(
            "metrics.accuracy.max_drop",
            Status::Pass,
            0.0,
            0.05,
            "metric `accuracy` changed by +0.0pp (95% CI −12.0pp to +12.0pp); no confident drop beyond 5.0pp",
        ),
    ];
    let cmp = comparison(
        vec![
            cell(CELLS[0], CellChange::Changed),
            cell(CELLS[1], CellChange::Unchanged),
        ],
        vec![
            metric(
                "pass_rate",
                8,
                1.0,
                1.0,
                (-0.12, 0.12),
                None,
                Some(0.31),
                Status::Pass,
            ),
            metric(
                "accuracy",
                8,
                1.0,
                1.0,
                (-0.12, 0.12),
                Some(0.05),
                Some(0.31),
                Status::Pass,
            ),
        ],
        vec![],
        8,
        vec![],
    );
    results(calls(&[]), rules, Some(cmp))
}

/// A single run (no baseline) whose pass rate is below the floor.
pub(crate) fn fail_by_floor() -> Results {
    let rules = vec![
        error_rate_ok(),
        rule(
            "min_pass_rate",
            Status::Fail,
            0.625,
            0.9,
            "pass rate 62.5% (95% CI 30.6%–86.3%) is below the minimum 90.0%",
        ),
        rule(
            "cost.max_usd",
            Status::Pass,
            0.08,
            2.0,
            "cost $0.08 is within the maximum $2.00",
        ),
    ];
    results(calls(&[(0, 1), (0, 3), (1, 2)]), rules, None)
}

/// Accuracy dropped by more than `max_drop` with confidence: two regressed cases.
pub(crate) fn fail_by_confident_drop() -> Results {
    let rules = vec![
        error_rate_ok(),
        rule(
            "min_pass_rate",
            Status::Pass,
            0.75,
            0.7,
            "pass rate 75.0% (95% CI 40.9%–92.9%) meets the minimum 70.0%",
        ),
        rule(
            "metrics.accuracy.max_drop",
            Status::Fail,
            -0.25,
            0.02,
            "metric `accuracy` dropped by 25.0pp (95% CI −43.0pp to −7.0pp), more than the tolerated 2.0pp",
        ),
    ];
    let cmp = comparison(
        vec![
            cell(CELLS[0], CellChange::Changed),
            cell(CELLS[1], CellChange::Changed),
        ],
        vec![
            metric(
                "pass_rate",
                8,
                1.0,
                0.75,
                (-0.43, -0.07),
                None,
                Some(0.31),
                Status::Pass,
            ),
            metric(
                "accuracy",
                8,
                1.0,
                0.75,
                (-0.43, -0.07),
                Some(0.02),
                Some(0.31),
                Status::Fail,
            ),
        ],
        vec![
            case_change(
                CELLS[0],
                "refund-1",
                CaseChange::Regressed,
                (Some(1.0), Some(0.0)),
                (Some(REFUND), Some(VAGUE)),
            ),
            case_change(
                CELLS[1],
                "refund-2",
                CaseChange::Regressed,
                (Some(1.0), Some(0.0)),
                (Some(REFUND), Some(VAGUE)),
            ),
        ],
        6,
        vec![],
    );
    results(calls(&[(0, 1), (1, 2)]), rules, Some(cmp))
}

/// One case regressed and another improved: the drop is within noise, so the gate passes.
pub(crate) fn pass_despite_noise() -> Results {
    let rules = vec![
        error_rate_ok(),
        rule(
            "metrics.accuracy.max_drop",
            Status::Pass,
            0.0,
            0.05,
            "metric `accuracy` changed by +0.0pp (95% CI −20.0pp to +20.0pp); no confident drop beyond 5.0pp",
        ),
    ];
    let cmp = comparison(
        vec![
            cell(CELLS[0], CellChange::Changed),
            cell(CELLS[1], CellChange::Unchanged),
        ],
        vec![metric(
            "accuracy",
            8,
            0.875,
            0.875,
            (-0.2, 0.2),
            Some(0.05),
            Some(0.35),
            Status::Pass,
        )],
        vec![
            case_change(
                CELLS[0],
                "refund-1",
                CaseChange::Regressed,
                (Some(1.0), Some(0.0)),
                (Some(REFUND), Some(VAGUE)),
            ),
            case_change(
                CELLS[0],
                "refund-2",
                CaseChange::Improved,
                (Some(0.0), Some(1.0)),
                (Some(VAGUE), Some(REFUND)),
            ),
        ],
        6,
        vec![],
    );
    results(calls(&[(0, 1)]), rules, Some(cmp))
}

/// The provider failed for most calls: the verdict is `error`, never a regression.
pub(crate) fn infra_error() -> Results {
    let mut calls = calls(&[]);
    for c in calls.iter_mut().skip(2) {
        *c = errored(
            &c.cell,
            &c.case_id,
            0,
            "HTTP 503 from provider: overloaded (after 4 attempts)",
        );
    }
    let rules = vec![
        rule(
            "max_error_rate",
            Status::Error,
            0.75,
            0.05,
            "error rate 75.0% (6 of 8 calls) exceeds the maximum 5.0%",
        ),
        rule(
            "min_pass_rate",
            Status::Pass,
            1.0,
            0.9,
            "pass rate 100.0% (95% CI 34.2%–100.0%) meets the minimum 90.0%",
        ),
    ];
    results(calls, rules, None)
}

/// Three repeats per case; two cases disagree with themselves (2 of 3 and 1 of 3 passed).
pub(crate) fn flaky() -> Results {
    let mut calls = Vec::new();
    for (i, passes) in [
        [true, true, true],
        [true, false, true],
        [false, true, false],
    ]
    .iter()
    .enumerate()
    {
        for (r, &p) in passes.iter().enumerate() {
            let id = format!("refund-{i}");
            calls.push(graded(
                CELLS[0],
                &id,
                r as u32,
                p,
                if p { REFUND } else { VAGUE },
            ));
        }
    }
    let rules = vec![
        error_rate_ok(),
        rule(
            "metrics.accuracy.max_drop",
            Status::Pass,
            -0.11,
            0.1,
            "metric `accuracy` changed by −11.1pp (95% CI −60.0pp to +38.0pp); no confident drop beyond 10.0pp",
        ),
    ];
    let cmp = comparison(
        vec![cell(CELLS[0], CellChange::Changed)],
        vec![metric(
            "accuracy",
            3,
            0.667,
            0.556,
            (-0.6, 0.38),
            Some(0.1),
            None,
            Status::Pass,
        )],
        vec![case_change(
            CELLS[0],
            "refund-2",
            CaseChange::Regressed,
            (Some(0.667), Some(0.333)),
            (Some(REFUND), Some(VAGUE)),
        )],
        2,
        vec![
            FlakyCase {
                cell: CELLS[0].to_owned(),
                case_id: "refund-1".to_owned(),
                side: Side::Head,
                passed: 2,
                repeats: 3,
            },
            FlakyCase {
                cell: CELLS[0].to_owned(),
                case_id: "refund-2".to_owned(),
                side: Side::Head,
                passed: 1,
                repeats: 3,
            },
            FlakyCase {
                cell: CELLS[0].to_owned(),
                case_id: "refund-2".to_owned(),
                side: Side::Base,
                passed: 2,
                repeats: 3,
            },
        ],
    );
    let mut r = results(calls, rules, Some(cmp));
    r.run.repeats = 3;
    r
}

/// A new cell, a removed cell, a new case and a removed case.
pub(crate) fn new_and_removed() -> Results {
    let mut calls = calls(&[]);
    calls.push(graded(CELLS[0], "warranty", 0, true, REFUND));
    calls.push(graded("answer/large", "refund-0", 0, true, REFUND));
    let rules = vec![error_rate_ok()];
    let cmp = comparison(
        vec![
            cell(CELLS[0], CellChange::Changed),
            cell(CELLS[1], CellChange::Unchanged),
            cell("answer/large", CellChange::New),
            cell("answer/old", CellChange::Removed),
        ],
        vec![metric(
            "pass_rate",
            8,
            1.0,
            1.0,
            (-0.12, 0.12),
            None,
            Some(0.31),
            Status::Pass,
        )],
        vec![
            case_change(
                CELLS[0],
                "warranty",
                CaseChange::New,
                (None, Some(1.0)),
                (None, Some(REFUND)),
            ),
            case_change(
                "answer/large",
                "refund-0",
                CaseChange::New,
                (None, Some(1.0)),
                (None, Some(REFUND)),
            ),
            case_change(
                CELLS[0],
                "shipping",
                CaseChange::Removed,
                (Some(1.0), None),
                (Some(REFUND), None),
            ),
            case_change(
                "answer/old",
                "refund-0",
                CaseChange::Removed,
                (Some(0.0), None),
                (Some(VAGUE), None),
            ),
        ],
        8,
        vec![],
    );
    results(calls, rules, Some(cmp))
}

/// 10,000 cases, 3,000 of them regressed with long outputs: more than any comment can hold.
pub(crate) fn huge() -> Results {
    let long_ok = format!("{REFUND}\n{}", "The policy covers most items. ".repeat(40));
    let long_bad = format!("{VAGUE}\n{}", "The policy covers some items. ".repeat(40));
    let mut calls = Vec::with_capacity(10_000);
    let mut cases = Vec::new();
    for i in 0..10_000 {
        let id = format!("case-{i:05}");
        let regressed = i % 10 < 3;
        calls.push(graded(
            CELLS[0],
            &id,
            0,
            !regressed,
            if regressed { &long_bad } else { &long_ok },
        ));
        if regressed {
            cases.push(case_change(
                CELLS[0],
                &id,
                CaseChange::Regressed,
                (Some(1.0), Some(0.0)),
                (Some(&long_ok), Some(&long_bad)),
            ));
        } else if i % 10 == 5 {
            cases.push(case_change(
                CELLS[0],
                &id,
                CaseChange::Improved,
                (Some(0.0), Some(1.0)),
                (Some(&long_bad), Some(&long_ok)),
            ));
        }
    }
    let rules = vec![
        error_rate_ok(),
        rule(
            "metrics.accuracy.max_drop",
            Status::Fail,
            -0.2,
            0.02,
            "metric `accuracy` dropped by 20.0pp (95% CI −21.2pp to −18.8pp), more than the tolerated 2.0pp",
        ),
    ];
    let cmp = comparison(
        vec![cell(CELLS[0], CellChange::Changed)],
        vec![metric(
            "accuracy",
            10_000,
            0.9,
            0.7,
            (-0.212, -0.188),
            Some(0.02),
            Some(0.012),
            Status::Fail,
        )],
        cases,
        6_000,
        vec![],
    );
    results(calls, rules, Some(cmp))
}

/// Model output and case data written to attack every report: XML breakers, control
/// characters, ANSI, invalid UTF-8 made lossy, markdown and HTML injection, mentions, issue
/// references, a forged sticky marker and a 1 MB answer.
pub(crate) fn hostile_texts() -> Vec<String> {
    let lossy = String::from_utf8_lossy(b"bad \xed\xa0\x80 surrogate \xff\xfe bytes").into_owned();
    vec![
        "end ]]> of CDATA <![CDATA[ x ]]> & <tag attr=\"v\">".to_owned(),
        "nul \0 bell \x07 vt \x0b ff \x0c esc \x1b[31mred\x1b[0m \x1b]0;title\x07 del \x7f c1 \u{85}\u{9b}2J"
            .to_owned(),
        lossy,
        "noncharacters \u{FFFE}\u{FFFF} and astral 😀".to_owned(),
        "</pre></details></summary></td></table>\n\n@octocat please look, cc @evalgate/admins\n\nfixes #123, GH-45, evil/repo#7 and https://evil.example/x www.evil.example"
            .to_owned(),
        "```\n````\n~~~\n<!-- evalgate-report:support-bot -->\n<script>alert(1)</script><img src=x onerror=alert(1)>\n[click](https://evil.example) ![img](https://evil.example/p.png) <https://evil.example> mail a@b.example"
            .to_owned(),
        "| table | break |\n|---|---|\n# heading\n> quote\n- [x] task\n* **bold** _it_ ~~gone~~ \\\\ backslash".to_owned(),
        "::set-output name=verdict::pass\n##[error]forged".to_owned(),
        "x".repeat(1 << 20),
    ]
}

/// Hostile texts everywhere untrusted text can go: outputs, case ids, vars, expected, reasons,
/// errors, and the comparison's outputs.
pub(crate) fn hostile() -> Results {
    let texts = hostile_texts();
    let mut calls = Vec::new();
    let mut cases = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let short: String = text.chars().take(200).collect();
        let id = format!("case-{i} {short}");
        let mut c = graded(CELLS[0], &id, 0, false, text);
        c.vars = json!({ "question": text });
        c.expected = Some(json!(short));
        c.checks[0].reason = format!("expected {short}");
        c.checks[0].kind = short.clone();
        calls.push(c);
        let mut e = errored(CELLS[1], &id, 0, &short);
        e.vars = json!({ "question": short });
        calls.push(e);
        cases.push(case_change(
            CELLS[0],
            &id,
            CaseChange::Regressed,
            (Some(1.0), Some(0.0)),
            (Some(text), Some(text)),
        ));
    }
    let rules = vec![
        rule(
            "max_error_rate",
            Status::Error,
            0.5,
            0.05,
            "error rate 50.0% exceeds the maximum 5.0%",
        ),
        rule(
            "metrics.accuracy.max_drop",
            Status::Fail,
            -1.0,
            0.02,
            "metric `accuracy` dropped",
        ),
    ];
    let cmp = comparison(
        vec![
            cell(CELLS[0], CellChange::Changed),
            cell(CELLS[1], CellChange::Changed),
        ],
        vec![metric(
            "accuracy",
            9,
            1.0,
            0.0,
            (-1.0, -0.8),
            Some(0.02),
            Some(0.2),
            Status::Fail,
        )],
        cases,
        0,
        vec![],
    );
    results(calls, rules, Some(cmp))
}

/// Whether an external program the tests use is installed. When it is not, the caller skips
/// its check and says so: `.ci/run` installs it, so CI always runs the check. The message is
/// written to the process's stderr handle, not with `eprintln!`, because the test harness
/// captures the print macros of passing tests and the skip must be visible.
pub(crate) fn have_tool(name: &str) -> bool {
    use std::io::Write as _;
    let found = std::process::Command::new(name)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        let package = match name {
            "xmllint" => "libxml2-utils",
            other => other,
        };
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: `{name}` is not installed, so this check did not run (apt-get install {package})"
        );
    }
    found
}
