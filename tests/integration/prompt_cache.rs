//! The prompt-cache report: the share of each cell's input tokens the provider served from its
//! prompt cache, and the note on a prompt whose variable text comes before its static part.

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::{SuiteDir, chat_completion, stderr, stdout};

fn suite(base_url: &str) -> SuiteDir {
    SuiteDir::new(&format!(
        r#"[suite]
name = "prefix"

[defaults]
max_retries = 0

[models.fake]
provider = "openai-compatible"
base_url = "{base_url}/v1"
model = "test-model"

[prompts.static_first]
system = "You answer trivia questions in one word."
user = "{{{{ question }}}}"

[prompts.question_first]
system = "Question: {{{{ question }}}}. You answer trivia questions."
user = "Answer in one word."

[datasets.qs]
cases = [
  {{ id = "a", question = "What is 2 + 2?" }},
  {{ id = "b", question = "Who wrote Hamlet?" }},
]

[[checks]]
type = "contains"
value = "word"
"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_and_report_show_the_prompt_cache_share_and_flag_a_variable_prefix() {
    // 40 input tokens per call, 10 of them from the provider's prompt cache: 25%.
    let mut body = chat_completion("one word", 40, 2);
    body["usage"]["prompt_tokens_details"]["cached_tokens"] = 10.into();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let suite = suite(&server.uri());
    let mut cmd = suite.cmd();
    cmd.args(["run", "--no-progress", "--markdown", "report.md"]);
    let output = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    let cell_lines: Vec<&str> = out.lines().filter(|l| l.contains("pass rate")).collect();
    assert_eq!(cell_lines.len(), 2, "{out}");
    for line in cell_lines {
        assert!(line.ends_with("; prompt cache 25.0% of input"), "{line}");
    }
    let notes: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("Prompt cache "))
        .collect();
    assert_eq!(
        notes.len(),
        1,
        "only the question-first prompt is flagged: {out}"
    );
    assert!(
        notes[0].contains("question_first/fake: the prompt's first message differs between cases"),
        "{out}"
    );

    let report = std::fs::read_to_string(suite.path().join("report.md")).expect("report");
    assert!(report.contains("| Cost | Prompt cache |"), "{report}");
    assert!(report.contains("| 25.0% |"), "{report}");
    assert!(
        report.contains(r"Prompt cache: in question\_first/fake, the prompt's first message"),
        "{report}"
    );
    assert!(!report.contains(r"in static\_first/fake"), "{report}");
    // The flag is in the results file, for other views.
    let results = suite.results();
    assert_eq!(results["cells"][1]["variable_prefix"], true);
    assert!(results["cells"][0].get("variable_prefix").is_none());
}

#[test]
fn the_plan_notes_a_variable_prefix_before_anything_is_paid() {
    let suite = suite("http://127.0.0.1:9");
    let output = suite.cmd().arg("plan").output().expect("plan");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("  question_first/fake: the prompt's first message differs between cases"),
        "{out}"
    );
    assert!(!out.contains("static_first/fake: the prompt's"), "{out}");
}
