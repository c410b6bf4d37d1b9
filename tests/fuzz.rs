//! Fuzzing, on stable Rust, of every parser of text betterform did not write: the DAG file,
//! step service messages, `step.json` and `.betterformignore`.
//!
//! Random text mostly dies in a parser's first check, so the generators start from valid
//! input (generated with known content) and mutate it: random bytes inserted, ranges dropped
//! or repeated (long lines, deep nesting), tokens of the format inserted or swapped, bytes made
//! invalid UTF-8. Every target checks that the parser returns instead of panicking and that
//! what it returns holds up: errors point inside the input, and unmutated input reads back as
//! generated.
//!
//! Budget, per target: `BETTERFORM_FUZZ_CASES` cases (default 200, so `cargo test` stays
//! fast), or, when `BETTERFORM_FUZZ_SECONDS` is set, as many cases as fit in that many seconds
//! (CI runs this file in release mode with a time budget; see `.ci/run`). The seed is
//! printed and can be replayed with `BETTERFORM_FUZZ_SEED`. Run with `--nocapture` to see each
//! target's throughput. A single case running for longer than [`HANG`] aborts the whole run,
//! printing the input: a parser must never hang.

use std::ffi::OsStr;
use std::fmt::Debug;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use betterform::fuzz_api::{self, StepLine};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// How long one case may run before the run is declared hung. Generous: the largest inputs
/// parse in milliseconds even in a debug build.
const HANG: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The runner: a case count or a time budget, a seed, a watchdog.

struct Budget {
    cases: u64,
    seconds: Option<f64>,
    seed: u64,
}

fn budget() -> Budget {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let parse = |name: &str| {
        var(name).map(|v| v.parse::<f64>().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
    };
    let seed = var("BETTERFORM_FUZZ_SEED")
        .map(|v| v.parse().unwrap_or_else(|_| panic!("BETTERFORM_FUZZ_SEED={v:?} is not a u64")))
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            nanos.as_nanos() as u64 ^ u64::from(std::process::id())
        });
    Budget {
        cases: parse("BETTERFORM_FUZZ_CASES").map_or(200, |c| c as u64),
        seconds: parse("BETTERFORM_FUZZ_SECONDS"),
        seed,
    }
}

/// Aborts the process if one case runs for longer than [`HANG`]: a hung parser would
/// otherwise hold the test run until CI kills it, without saying on what input.
struct Watchdog<V> {
    current: Arc<Mutex<Option<(Instant, V)>>>,
    done: Arc<std::sync::atomic::AtomicBool>,
}

impl<V: Debug + Send + 'static> Watchdog<V> {
    fn start(target: &'static str) -> Watchdog<V> {
        let current: Arc<Mutex<Option<(Instant, V)>>> = Arc::new(Mutex::new(None));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (watched, stop) = (Arc::clone(&current), Arc::clone(&done));
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let case = watched.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((began, input)) = case.as_ref()
                    && began.elapsed() > HANG
                {
                    eprintln!("fuzz {target}: one case has run for {HANG:?}; the parser hangs on {input:?}");
                    std::process::abort();
                }
            }
        });
        Watchdog { current, done }
    }

    fn case(&self, input: Option<V>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = input.map(|v| (Instant::now(), v));
    }
}

impl<V> Drop for Watchdog<V> {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs `check` on inputs from `strategy` within the budget; a failure is shrunk to a minimal
/// input and fails the test with it.
fn fuzz<S>(target: &'static str, strategy: S, check: impl Fn(&S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Clone + Send + 'static,
{
    let budget = budget();
    // Cases run in chunks of the same size whatever the budget, each chunk with an RNG drawn
    // from the seed's, so a seed replays the same inputs under a case count or a time budget.
    let chunk = match budget.seconds {
        Some(_) => 50,
        None => budget.cases.clamp(1, 50),
    };
    let config = Config {
        cases: chunk as u32,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(budget.seed),
        ..Config::default()
    };
    let mut seeds = TestRunner::new(config.clone());
    let watchdog = Watchdog::start(target);
    let began = Instant::now();
    let mut cases = 0;
    loop {
        let mut runner = TestRunner::new_with_rng(config.clone(), seeds.new_rng());
        let result = runner.run(&strategy, |input| {
            watchdog.case(Some(input.clone()));
            let result = check(&input);
            watchdog.case(None);
            result
        });
        if let Err(e) = result {
            panic!("fuzz {target} (BETTERFORM_FUZZ_SEED={}): {e}", budget.seed);
        }
        cases += chunk;
        let more = match budget.seconds {
            Some(seconds) => began.elapsed().as_secs_f64() < seconds,
            None => cases < budget.cases,
        };
        if !more {
            break;
        }
    }
    let elapsed = began.elapsed().as_secs_f64();
    eprintln!(
        "fuzz {target}: {cases} cases in {elapsed:.1} s ({:.0} cases/s), seed {}",
        cases as f64 / elapsed,
        budget.seed
    );
}

// ---------------------------------------------------------------------------------------------
// Mutations, shared by every format.

/// What one format's mutations draw on: its own tokens, and what it nests.
struct Format {
    tokens: &'static [&'static str],
    nests: &'static [(&'static str, &'static str)],
}

#[derive(Debug, Clone)]
enum Edit {
    /// Random bytes.
    Insert(Index, Vec<u8>),
    /// One of the format's tokens.
    Token(Index, &'static str),
    /// A range dropped.
    Delete(Index, Index),
    /// A short range repeated many times: long lines, long names, runs of one token.
    Repeat(Index, usize, usize),
    /// Openers and closers nested deep, closed or not.
    Nest(Index, Index, usize, bool),
    /// Two whitespace-separated tokens trade places.
    Swap(Index, Index),
    /// One byte replaced, by one that is never valid UTF-8 on its own.
    Byte(Index, u8),
}

fn edit(format: &'static Format) -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..6)).prop_map(|(i, b)| Edit::Insert(i, b)),
        4 => (any::<Index>(), prop::sample::select(format.tokens)).prop_map(|(i, t)| Edit::Token(i, t)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Delete(a, b)),
        1 => (any::<Index>(), 1..8usize, 2..4000usize).prop_map(|(i, len, times)| Edit::Repeat(i, len, times)),
        1 => (any::<Index>(), any::<Index>(), 1..3000usize, any::<bool>())
            .prop_map(|(i, which, depth, closed)| Edit::Nest(i, which, depth, closed)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        1 => (any::<Index>(), 0x80u8..=0xff).prop_map(|(i, b)| Edit::Byte(i, b)),
    ]
}

/// Spans of maximal runs of non-whitespace bytes.
fn words(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, b) in bytes.iter().enumerate() {
        match (b.is_ascii_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, bytes.len()));
    }
    spans
}

fn apply(format: &Format, mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    // `Index` picks a position in 0..=len.
    let at = |i: &Index, len: usize| i.index(len + 1);
    for edit in edits {
        let len = bytes.len();
        match edit {
            Edit::Insert(i, b) => {
                let p = at(i, len);
                bytes.splice(p..p, b.iter().copied());
            }
            Edit::Token(i, t) => {
                let p = at(i, len);
                bytes.splice(p..p, t.bytes());
            }
            Edit::Delete(a, b) => {
                let (a, b) = (at(a, len), at(b, len));
                bytes.drain(a.min(b)..a.max(b));
            }
            Edit::Repeat(i, n, times) => {
                let p = at(i, len);
                let piece = bytes[p..(p + n).min(len)].to_vec();
                let piece = if piece.is_empty() { b"x".to_vec() } else { piece };
                bytes.splice(p..p, piece.repeat(*times));
            }
            Edit::Nest(i, which, depth, closed) => {
                let p = at(i, len);
                let (open, close) = format.nests[which.index(format.nests.len())];
                let mut nest = open.repeat(*depth);
                if *closed {
                    nest.push_str(&close.repeat(*depth));
                }
                bytes.splice(p..p, nest.bytes());
            }
            Edit::Swap(a, b) => {
                let spans = words(&bytes);
                if spans.len() >= 2 {
                    let (a, b) = (a.index(spans.len()), b.index(spans.len()));
                    let (first, second) = (spans[a.min(b)], spans[a.max(b)]);
                    if first != second {
                        let mut out = bytes[..first.0].to_vec();
                        out.extend_from_slice(&bytes[second.0..second.1]);
                        out.extend_from_slice(&bytes[first.1..second.0]);
                        out.extend_from_slice(&bytes[first.0..first.1]);
                        out.extend_from_slice(&bytes[second.1..]);
                        bytes = out;
                    }
                }
            }
            Edit::Byte(i, b) => {
                if len > 0 {
                    bytes[i.index(len)] = *b;
                }
            }
        }
    }
    bytes
}

fn edits(format: &'static Format) -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(format), 1..6)
}

/// Text as a reader that does not insist on UTF-8 would see it.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A 1-based position must be inside `text`: its line exists and its column is at most one
/// past the line's end (`width` counts what a column counts: chars or bytes).
fn inside(
    text: &str,
    line: usize,
    column: usize,
    width: impl Fn(&str) -> usize,
) -> Result<(), TestCaseError> {
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!(line >= 1 && line <= lines.len(), "line {line} of {} lines", lines.len());
    let width = width(lines[line - 1]);
    prop_assert!(column <= width + 1, "column {column} on line {line} of width {width}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The DAG file.

const DAG: Format = Format {
    tokens: &[
        "$(",
        ")",
        ",",
        " ",
        "\t",
        "\n",
        "\r\n",
        "\\\n",
        "\\",
        "#",
        "$",
        "call",
        "define_stage",
        "dag_deps",
        "a",
        ".hidden",
        "-",
        "é",
    ],
    nests: &[("$(", ")"), ("$(call define_stage, x, ", ")"), ("\\\n", "")],
};

/// A valid DAG file and what it must read back as.
#[derive(Debug, Clone)]
struct ValidDag {
    text: String,
    stages: usize,
    edges: usize,
}

/// How one declaration is written.
#[derive(Debug, Clone)]
struct Layout {
    spaces: [&'static str; 3],
    /// A `\` continuation before each dependency.
    continued: bool,
    comment_after: bool,
    blank_before: bool,
    /// Some dependencies moved to a `dag_deps` line.
    split: bool,
}

fn layout() -> impl Strategy<Value = Layout> {
    let space = prop::sample::select(&["", " ", "  ", "\t", " \t "][..]);
    ([space.clone(), space.clone(), space], any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
        .prop_map(|(spaces, continued, comment_after, blank_before, split)| Layout {
            spaces,
            continued,
            comment_after,
            blank_before,
            split,
        })
}

fn valid_dag() -> impl Strategy<Value = ValidDag> {
    // A set for distinct names (ordered, so a seed replays), then shuffled.
    prop::collection::btree_set("[a-z0-9_-][a-zA-Z0-9_.-]{0,12}", 1..30)
        .prop_flat_map(|names| {
            let n = names.len();
            (
                Just(names.into_iter().collect::<Vec<String>>()).prop_shuffle(),
                // Stage i depends on stages picked among 0..i (acyclic by construction).
                prop::collection::vec(prop::collection::vec(any::<Index>(), 0..4), n),
                prop::collection::vec(layout(), n),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                any::<bool>(),
            )
        })
        .prop_map(|(names, deps, layouts, order, crlf)| {
            let deps: Vec<Vec<usize>> = deps
                .iter()
                .enumerate()
                .map(|(i, picks)| {
                    let mut d: Vec<usize> =
                        if i == 0 { vec![] } else { picks.iter().map(|p| p.index(i)).collect() };
                    d.sort_unstable();
                    d.dedup();
                    d
                })
                .collect();
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = String::from("# generated");
            text.push_str(eol);
            // Declared in a shuffled order: a dependency may be declared after its dependent.
            for &stage in &order {
                let l = &layouts[stage];
                let [s0, s1, s2] = l.spaces;
                let (inline, moved) = if l.split && deps[stage].len() > 1 {
                    deps[stage].split_at(1)
                } else {
                    (&deps[stage][..], &[][..])
                };
                if l.blank_before {
                    text.push_str(eol);
                }
                let sep = if l.continued { format!(" \\{eol}    ") } else { " ".to_string() };
                let list: Vec<&str> = inline.iter().map(|&d| names[d].as_str()).collect();
                text.push_str(&format!("$(call define_stage,{s0}{}{s1},{s2}", names[stage]));
                text.push_str(&list.iter().map(|n| format!("{sep}{n}")).collect::<String>());
                text.push(')');
                if l.comment_after {
                    text.push_str("  # a comment, with $( and ) and \\ in it");
                }
                text.push_str(eol);
                if !moved.is_empty() {
                    let list: Vec<&str> = moved.iter().map(|&d| names[d].as_str()).collect();
                    text.push_str(&format!("$(call dag_deps, {}, {}){eol}", names[stage], list.join(" ")));
                }
            }
            let edges = deps.iter().map(Vec::len).sum();
            ValidDag { text, stages: names.len(), edges }
        })
}

fn check_dag(text: &str) -> Result<(), TestCaseError> {
    if let Err(problems) = fuzz_api::dag(text) {
        prop_assert!(!problems.is_empty());
        for p in &problems {
            prop_assert!(!p.message.is_empty());
            inside(text, p.line, p.column, |l| l.chars().count())?;
            prop_assert!(p.column >= 1, "column 0: {p:?}");
        }
    }
    Ok(())
}

#[test]
fn dag_file() {
    let valid = valid_dag().prop_map(|dag| (dag, None));
    let mutated = (valid_dag(), edits(&DAG)).prop_map(|(dag, edits)| {
        let text = lossy(&apply(&DAG, dag.text.clone().into_bytes(), &edits));
        (dag, Some((edits, text)))
    });
    let cases = prop_oneof![1 => valid, 4 => mutated];
    fuzz("dag file", cases, |(dag, mutated)| match mutated {
        None => {
            let read = fuzz_api::dag(&dag.text);
            prop_assert_eq!(
                read,
                Ok(fuzz_api::DagSummary { stages: dag.stages, edges: dag.edges }),
                "{}",
                dag.text
            );
            Ok(())
        }
        Some((_, text)) => check_dag(text),
    });
}

// ---------------------------------------------------------------------------------------------
// Step service messages.

const MESSAGES: Format = Format {
    tokens: &[
        "##octopus[",
        "]",
        "'",
        "\"",
        "=",
        " ",
        "\t",
        "name=",
        "value=",
        "sensitive=",
        "setVariable",
        "createArtifact",
        "progress",
        "mask",
        "stdout-ignore",
        "YQ==",
        "=",
        "\u{fffd}",
        "\r",
    ],
    nests: &[("[", "]"), ("'", "'"), ("a='", "'")],
};

/// A valid line and what it must be read as.
#[derive(Debug, Clone)]
struct ValidLine {
    line: String,
    expected: StepLine,
}

fn enc(s: &str) -> String {
    BASE64.encode(s)
}

fn valid_line() -> impl Strategy<Value = ValidLine> {
    let quote = prop::sample::select(&["'", "\""][..]);
    let pad = prop::sample::select(&["", " ", "  ", "\t"][..]);
    let variable =
        (".{1,20}", ".{0,40}", prop::option::of(any::<bool>()), quote.clone(), pad.clone(), any::<bool>())
            .prop_map(|(name, value, sensitive, q, pad, value_first)| {
                let mut attrs =
                    vec![format!("name={q}{}{q}", enc(&name)), format!("value={q}{}{q}", enc(&value))];
                if value_first {
                    attrs.reverse();
                }
                if let Some(s) = sensitive {
                    attrs.push(format!("sensitive={q}{}{q}", enc(if s { "True" } else { "false" })));
                }
                ValidLine {
                    line: format!("{pad}##octopus[setVariable {}]{pad}", attrs.join(" ")),
                    expected: StepLine::Variable { name, value, sensitive: sensitive == Some(true) },
                }
            });
    let other = (
        prop::sample::select(
            &["createArtifact", "progress", "resultMessage", "mask", "stdout-verbose", "newThing"][..],
        ),
        ".{1,30}",
        quote,
    )
        .prop_map(|(name, text, q)| ValidLine {
            line: format!(
                "##octopus[{name} path={q}{}{q} message={q}{}{q} value={q}{}{q}]",
                enc(&text),
                enc(&text),
                enc(&text)
            ),
            expected: StepLine::Message,
        });
    let text = "[^#]{0,60}".prop_map(|line| ValidLine { line, expected: StepLine::Text });
    prop_oneof![3 => variable, 2 => other, 1 => text]
}

#[test]
fn step_messages() {
    let valid = valid_line().prop_map(|line| (line, None));
    let mutated = (valid_line(), edits(&MESSAGES)).prop_map(|(line, edits)| {
        let bytes = apply(&MESSAGES, line.line.clone().into_bytes(), &edits);
        (line, Some((edits, bytes)))
    });
    let cases = prop_oneof![1 => valid, 4 => mutated];
    fuzz("step messages", cases, |(valid, mutated)| {
        let Some((_, bytes)) = mutated else {
            prop_assert_eq!(
                &fuzz_api::step_message(valid.line.as_bytes()),
                &valid.expected,
                "{}",
                valid.line
            );
            return Ok(());
        };
        let read = fuzz_api::step_message(bytes);
        let text = lossy(bytes);
        let trimmed = text.trim();
        if !trimmed.starts_with("##octopus[") {
            prop_assert_eq!(read, StepLine::Text);
        } else if !trimmed.ends_with(']') {
            prop_assert_eq!(read, StepLine::Malformed);
        } else if let StepLine::Variable { name, .. } = read {
            prop_assert!(!name.is_empty(), "a variable without a name");
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// step.json

const SPEC: Format = Format {
    tokens: &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\\",
        "\"package\"",
        "\"inputs\"",
        "\"variables\"",
        "\"packages\"",
        "\"down\"",
        "\"rollback\"",
        "\"path\"",
        "\"substituteInFiles\"",
        "null",
        "true",
        "-0",
        "1e999",
        "18446744073709551616",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\uD83D\\uDE00\"",
        "\n",
        "\u{feff}",
    ],
    nests: &[("[", "]"), ("{\"a\":", "}"), ("{\"inputs\":", "}")],
};

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn scalar() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String)
    ]
}

fn inputs() -> impl Strategy<Value = serde_json::Value> {
    prop::collection::btree_map("[a-zA-Z.]{1,10}", json_value(), 0..4)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
}

/// A `down` or `rollback` call.
fn call() -> impl Strategy<Value = serde_json::Value> {
    (".{1,12}", prop::option::of(inputs())).prop_map(|(package, inputs)| {
        let mut call = serde_json::json!({ "package": package });
        if let Some(inputs) = inputs {
            call["inputs"] = inputs;
        }
        call
    })
}

/// A valid `step.json`.
fn valid_spec() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let source = (".{1,12}", prop::collection::vec("[*./a-z]{1,8}", 0..3))
        .prop_map(|(path, globs)| json!({ "path": path, "substituteInFiles": globs }));
    (
        ".{1,16}",
        prop::option::of(inputs()),
        prop::collection::btree_map("[a-z]{1,6}", source, 0..3),
        prop::collection::btree_map("[A-Za-z.]{1,10}", scalar(), 0..4),
        prop::option::of(call()),
        prop::option::of(call()),
    )
        .prop_map(|(package, inputs, packages, variables, down, rollback)| {
            let mut spec = json!({ "package": package });
            let fields = [
                ("inputs", inputs),
                ("packages", Some(Value::Object(packages.into_iter().collect()))),
                ("variables", Some(Value::Object(variables.into_iter().collect()))),
                ("down", down),
                ("rollback", rollback),
            ];
            for (key, value) in fields {
                if let Some(value) = value {
                    spec[key] = value;
                }
            }
            spec
        })
}

fn render_json(value: &serde_json::Value, pretty: bool) -> String {
    if pretty { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) }.unwrap()
}

/// Where a structural change to `step.json` lands (dot-separated; `*` is the first key there).
const SPEC_FIELDS: &[&str] = &[
    "package",
    "inputs",
    "packages",
    "packages.*",
    "packages.*.path",
    "packages.*.substituteInFiles",
    "variables",
    "variables.*",
    "down",
    "down.package",
    "down.inputs",
    "rollback.inputs",
];

/// A change that keeps the text valid JSON but may break the shape `step.json` must have.
#[derive(Debug, Clone)]
enum Tweak {
    Set(&'static str, serde_json::Value),
    Remove(&'static str),
    /// A field `step.json` does not know, at the top.
    Unknown(String),
}

fn tweak() -> impl Strategy<Value = Tweak> {
    let field = prop::sample::select(SPEC_FIELDS);
    let unknown = prop_oneof![".{0,12}", Just("x at line 1 column 2".to_string())];
    prop_oneof![
        (field.clone(), json_value()).prop_map(|(f, v)| Tweak::Set(f, v)),
        field.prop_map(Tweak::Remove),
        unknown.prop_map(Tweak::Unknown),
    ]
}

fn apply_tweak(spec: &mut serde_json::Value, tweak: &Tweak) {
    let (path, value) = match tweak {
        Tweak::Set(path, value) => (*path, Some(value.clone())),
        Tweak::Remove(path) => (*path, None),
        Tweak::Unknown(key) => {
            if !["package", "inputs", "packages", "variables", "down", "rollback"].contains(&key.as_str()) {
                spec[key.as_str()] = serde_json::Value::Bool(true);
            }
            return;
        }
    };
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap();
    let mut at = spec;
    for part in parts {
        let next = match at.as_object_mut() {
            Some(map) if part == "*" => map.values_mut().next(),
            Some(map) => map.get_mut(part),
            None => None,
        };
        let Some(next) = next else { return };
        at = next;
    }
    let Some(map) = at.as_object_mut() else { return };
    let key = if last == "*" { map.keys().next().cloned() } else { Some(last.to_string()) };
    let Some(key) = key else { return };
    match value {
        Some(value) => {
            map.insert(key, value);
        }
        None => {
            map.remove(&key);
        }
    }
}

#[derive(Debug, Clone)]
enum SpecCase {
    Valid(String),
    /// Text mutated byte by byte.
    Bytes(String),
    /// Valid JSON of the wrong shape.
    Shape(Vec<Tweak>, String),
}

#[test]
fn step_json() {
    let valid =
        (valid_spec(), any::<bool>()).prop_map(|(spec, pretty)| SpecCase::Valid(render_json(&spec, pretty)));
    let bytes = (valid_spec(), any::<bool>(), edits(&SPEC)).prop_map(|(spec, pretty, edits)| {
        let text = lossy(&apply(&SPEC, render_json(&spec, pretty).into_bytes(), &edits));
        SpecCase::Bytes(text)
    });
    let shape = (valid_spec(), any::<bool>(), prop::collection::vec(tweak(), 1..4)).prop_map(
        |(mut spec, pretty, tweaks)| {
            for t in &tweaks {
                apply_tweak(&mut spec, t);
            }
            SpecCase::Shape(tweaks, render_json(&spec, pretty))
        },
    );
    let cases = prop_oneof![1 => valid, 3 => bytes, 2 => shape];
    fuzz("step.json", cases, |case| {
        let (text, result) = match case {
            SpecCase::Valid(text) => {
                prop_assert_eq!(fuzz_api::step_json(text), Ok(()), "{}", text);
                return Ok(());
            }
            SpecCase::Bytes(text) => (text, fuzz_api::step_json(text)),
            SpecCase::Shape(tweaks, text) => {
                let result = fuzz_api::step_json(text);
                // With one change, an unknown field is the error, named in full.
                if let [Tweak::Unknown(key)] = &tweaks[..]
                    && text.contains(&serde_json::to_string(key).unwrap())
                {
                    let message = result.as_ref().err().map(|p| p.message.as_str()).unwrap_or_default();
                    prop_assert!(message.contains(&format!("unknown field `{key}`")), "{message}");
                }
                (text, result)
            }
        };
        if let Err(p) = result {
            prop_assert!(!p.message.is_empty());
            if p.line > 0 {
                // serde_json counts columns in bytes.
                inside(text, p.line, p.column, str::len)?;
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// .betterformignore over a template dir.

const IGNORE: Format = Format {
    tokens: &[
        "*",
        "**",
        "**/",
        "/",
        "!",
        "\\",
        "#",
        "[",
        "]",
        "[!",
        "-",
        "?",
        "{",
        "}",
        ",",
        "\n",
        "\r\n",
        " ",
        "a.txt",
        "dir/",
        "dir/sub",
        ".betterformignore",
        "\\!",
        "\\#",
        "[a-z]",
        "[z-a]",
        "\u{fffd}",
    ],
    nests: &[("**/", ""), ("dir/", ""), ("[", "]"), ("{", "}")],
};

/// Files a template dir may hold (bytes: names need not be UTF-8).
const FILES: &[&[u8]] = &[
    b"a.txt",
    b"b.tf",
    b"main.tf.json",
    b".hidden",
    b"keep.txt",
    b"weird name [1].txt",
    b"dir/c.txt",
    b"dir/.betterformignore",
    b"dir/sub/d.tf",
    b"dir/sub/e.txt",
    b"dir.txt/f",
    b"x/y/z/deep.tf",
    b"n\xffn/v\xe9.tf",
];

/// A rule whose meaning the test knows, to check which files are rendered.
#[derive(Debug, Clone)]
enum Rule {
    /// `NAME`: any file or dir of that name, at any depth.
    Name(&'static str),
    /// `*.EXT`
    Ext(&'static str),
    /// `NAME/`: dirs only.
    Dir(&'static str),
}

impl Rule {
    fn line(&self) -> String {
        match self {
            Rule::Name(n) => n.to_string(),
            Rule::Ext(e) => format!("*.{e}"),
            Rule::Dir(d) => format!("{d}/"),
        }
    }

    /// Whether the rule matches path component `name` (of a dir if `dir`).
    fn matches(&self, name: &[u8], dir: bool) -> bool {
        match self {
            Rule::Name(n) => name == n.as_bytes(),
            Rule::Ext(e) => name.ends_with(format!(".{e}").as_bytes()),
            Rule::Dir(d) => dir && name == d.as_bytes(),
        }
    }
}

fn rule() -> impl Strategy<Value = Rule> {
    let name =
        prop::sample::select(&["a.txt", "b.tf", "dir", "sub", "dir.txt", "y", "keep.txt", ".hidden"][..]);
    let ext = prop::sample::select(&["txt", "tf", "json", "hidden"][..]);
    prop_oneof![name.clone().prop_map(Rule::Name), ext.prop_map(Rule::Ext), name.prop_map(Rule::Dir)]
}

/// A file is copied verbatim when a rule matches it or one of its parent dirs.
fn verbatim(rules: &[Rule], file: &[u8]) -> bool {
    let parts: Vec<&[u8]> = file.split(|b| *b == b'/').collect();
    parts.iter().enumerate().any(|(i, part)| rules.iter().any(|r| r.matches(part, i + 1 < parts.len())))
}

#[derive(Debug, Clone)]
struct TemplateDir {
    files: Vec<&'static [u8]>,
    /// The rules the ignore file was written from; None once it has been mutated.
    rules: Option<Vec<Rule>>,
    ignore: Vec<u8>,
    /// How the template dir's path is spelled (stage dirs come from `--impl-dir`, as typed).
    spelling: usize,
}

fn template_dir() -> impl Strategy<Value = TemplateDir> {
    let files = prop::sample::subsequence(FILES, 0..=FILES.len());
    let valid =
        (files.clone(), prop::collection::vec(rule(), 0..5), prop::sample::select(&["\n", "\r\n"][..]))
            .prop_map(|(files, rules, eol)| {
                let mut ignore = String::from("# generated\n");
                for r in &rules {
                    ignore.push_str(&r.line());
                    ignore.push_str(eol);
                }
                TemplateDir { files, rules: Some(rules), ignore: ignore.into_bytes(), spelling: 0 }
            });
    let extra = prop::sample::select(
        &[
            "!keep.txt",
            "/a.txt",
            "dir/**",
            "**/e.txt",
            "[a-c].tf",
            "\\#x",
            "a.txt ",
            "*",
            "!*.tf",
            "sub/",
            "d?r/",
        ][..],
    );
    // Mostly made valid UTF-8 again: a file that is not is refused as a whole.
    let raw = prop::bool::weighted(0.1);
    let mutated =
        (files, prop::collection::vec(rule(), 0..5), prop::collection::vec(extra, 0..4), edits(&IGNORE), raw)
            .prop_map(|(files, rules, extra, edits, raw)| {
                let mut text: Vec<String> = rules.iter().map(Rule::line).collect();
                text.extend(extra.iter().map(|s| s.to_string()));
                let ignore = apply(&IGNORE, text.join("\n").into_bytes(), &edits);
                let ignore = if raw { ignore } else { lossy(&ignore).into_bytes() };
                TemplateDir { files, rules: None, ignore, spelling: 0 }
            });
    (prop_oneof![1 => valid, 3 => mutated], 0..SPELLINGS)
        .prop_map(|(case, spelling)| TemplateDir { spelling, ..case })
}

const SPELLINGS: usize = 5;

/// `root` (a dir named `n` in `parent`) spelled one of [`SPELLINGS`] ways.
fn spell(parent: &Path, n: &str, spelling: usize) -> PathBuf {
    let parent = parent.display();
    PathBuf::from(match spelling {
        0 => format!("{parent}/{n}"),
        1 => format!("{parent}/{n}/"),
        2 => format!("{parent}/{n}/."),
        3 => format!("{parent}/./{n}"),
        _ => format!("{parent}//{n}//"),
    })
}

fn write_template(root: &Path, case: &TemplateDir) {
    std::fs::write(root.join(".betterformignore"), &case.ignore).unwrap();
    for file in &case.files {
        let path = root.join(OsStr::from_bytes(file));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "{{ x }}").unwrap();
    }
}

#[test]
fn betterformignore() {
    // On a tmpfs when there is one: the target is the ignore handling, not the disk, and on
    // some disks creating and deleting thousands of small trees gets slower as it goes.
    let shm = Path::new("/dev/shm");
    let scratch = match shm.is_dir() {
        true => tempfile::tempdir_in(shm).or_else(|_| tempfile::tempdir()),
        false => tempfile::tempdir(),
    }
    .unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    fuzz("betterformignore", template_dir(), |case| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = scratch.path().join(n.to_string());
        std::fs::create_dir(&root).unwrap();
        write_template(&root, case);
        let read = fuzz_api::template_dir(&spell(scratch.path(), &n.to_string(), case.spelling));
        std::fs::remove_dir_all(&root).unwrap();
        let entries = match read {
            Ok(entries) => entries,
            Err(message) => {
                prop_assert!(case.rules.is_none(), "known rules refused: {message}");
                prop_assert!(message.contains(".betterformignore"), "the error names the file: {message}");
                return Ok(());
            }
        };
        let paths: Vec<&PathBuf> = entries.iter().map(|e| &e.path).collect();
        prop_assert!(paths.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates: {paths:?}");
        prop_assert!(
            !paths.iter().any(|p| *p == Path::new(".betterformignore")),
            "the ignore file is not a template"
        );
        let files: Vec<_> = entries.iter().filter(|e| e.render.is_some()).collect();
        prop_assert_eq!(files.len(), case.files.len(), "{:?}", paths);
        for file in &case.files {
            let entry = entries.iter().find(|e| e.path.as_os_str().as_bytes() == *file);
            prop_assert!(entry.is_some_and(|e| e.render.is_some()), "{:?} missing: {paths:?}", lossy(file));
            if let Some(rules) = &case.rules {
                let render = entry.unwrap().render.unwrap();
                prop_assert_eq!(render, !verbatim(rules, file), "{:?} with rules {:?}", lossy(file), rules);
            }
        }
        Ok(())
    });
}
