//! Jsonnet conformance of the embedded engine, through the binary (`betterform config`).
//!
//! The corpus is `testdata/jsonnet/<name>.jsonnet` with `<name>.json` beside it: what the
//! reference C++ implementation prints for the file (see `testdata/jsonnet/README.md` for which
//! release produced each one). Every top-level field of a corpus file is one case; a mismatch
//! names the file and the field.
//!
//! [`KNOWN_GAPS`] are inputs on which the engine disagrees with the C++ implementation today.
//! Each is checked to still disagree, so a fix cannot go unnoticed.

#[path = "it/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::{Fixture, Run};
use serde_json::Value;

/// The external variables every corpus file may read (`std.extVar`).
const EXT_ARGS: [&str; 4] = ["-V", "corpus_str=hello", "--ext-code", "corpus_code={x: 1, y: [true]}"];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join("jsonnet")
}

/// `betterform config` of the jsonnet file at `path` (its imports relative to it).
fn eval(f: &Fixture, path: &Path) -> Run {
    let out = f.cmd().env("CONFIG_JSONNET_FILE", path).arg("config").args(EXT_ARGS).output().unwrap();
    Run(out)
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonnet"))
        .collect();
    files.sort();
    files
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 400 { format!("{}...", s.chars().take(400).collect::<String>()) } else { s }
}

#[test]
fn corpus_matches_the_reference_implementation() {
    let f = Fixture::new("diamond");
    let files = corpus_files();
    assert!(files.len() >= 10, "corpus missing: {} files in {}", files.len(), corpus_dir().display());
    let mut failures = Vec::new();
    let mut cases = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected_path = path.with_extension("json");
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
        )
        .unwrap();
        let expected = expected.as_object().unwrap_or_else(|| panic!("{name}: expected JSON is no object"));
        cases += expected.len();
        let run = eval(&f, path);
        if run.code() != 0 {
            failures.push(format!("{name}: exit {}:\n{}", run.code(), run.stderr()));
            continue;
        }
        let actual: Value = match serde_json::from_str(&run.stdout()) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: output is no JSON ({e}):\n{}", run.stdout()));
                continue;
            }
        };
        let actual = actual.as_object().unwrap();
        for (key, want) in expected {
            match actual.get(key) {
                Some(got) if got == want => {}
                Some(got) => failures.push(format!(
                    "{name}: {key}\n  C++:        {}\n  betterform: {}",
                    short(want),
                    short(got)
                )),
                None => failures.push(format!("{name}: {key} missing from betterform's output")),
            }
        }
        for key in actual.keys().filter(|k| !expected.contains_key(*k)) {
            failures.push(format!("{name}: {key} in betterform's output only"));
        }
    }
    assert!(failures.is_empty(), "{} of {cases} cases differ:\n{}", failures.len(), failures.join("\n"));
}

/// An input on which betterform and the C++ implementation disagree.
struct Gap {
    name: &'static str,
    /// A jsonnet expression; it is evaluated as `{ result: <code> }`.
    code: &'static str,
    /// What C++ jsonnet gives for `result` (JSON text), or [`CPP_ERROR`]: C++ rejects it.
    cpp: &'static str,
}

/// [`Gap::cpp`] of an input that C++ jsonnet rejects with an error.
const CPP_ERROR: &str = "<error>";

/// Disagreements with C++ jsonnet (0.18 as Debian ships it, and 0.22 for functions 0.18 lacks).
/// Whether to fix each is a separate question: for some, C++ is the one off its own docs.
const KNOWN_GAPS: &[Gap] = &[
    // `e { ... }` is `e + { ... }`, and string + object concatenates the object's JSON text.
    Gap { name: "string_plus_object_sugar", code: "'foo' { a: 1 }", cpp: r#""foo{\"a\": 1}""# },
    // The spec's escapes include `\/`; betterform rejects it as a syntax error.
    Gap { name: "escape_forward_slash", code: r#""a\/b""#, cpp: r#""a/b""# },
    // C++ counts every parameter; betterform only those without a default.
    Gap { name: "length_of_function_with_defaults", code: "std.length(function(a, b=1, c=2) a)", cpp: "3" },
    // C++ runs a `tailstrict` tail call without growing the stack; betterform counts each call
    // against --max-stack (500) and fails.
    Gap {
        name: "tailstrict_deeper_than_max_stack",
        code: "local sumTo(n, acc=0) = if n == 0 then acc else sumTo(n - 1, acc + n) tailstrict; sumTo(5000)",
        cpp: "12502500",
    },
    // C++ takes each code point as one byte (Latin-1); betterform (and go-jsonnet) encode UTF-8.
    Gap { name: "base64_of_non_ascii_string", code: r"std.base64('\u00e9')", cpp: r#""6Q==""# },
    // C++ writes text nodes unescaped (invalid XML); betterform escapes them.
    Gap {
        name: "xml_jsonml_text_unescaped",
        code: "std.manifestXmlJsonml(['p', 'a & <b>'])",
        cpp: r#""<p>a & <b></p>""#,
    },
    // C++ (0.22) tests the integral part's remainder with sign; betterform says false for
    // every negative odd number.
    Gap {
        name: "is_odd_negative",
        code: "[std.isOdd(-1), std.isOdd(-3), std.isEven(-3)]",
        cpp: "[true, true, false]",
    },
    // C++ (0.22) computes log(x) / log(10).
    Gap { name: "log10_rounding", code: "std.log10(1000)", cpp: "2.9999999999999996" },
    // C++ (0.22) rounds halves up (floor(x + 0.5)); betterform rounds them away from zero.
    Gap { name: "round_negative_half", code: "[std.round(-2.5), std.round(-0.5)]", cpp: "[-2, 0]" },
    // C++ (0.22) sums an empty array to 0; betterform to negative zero (printed as -0.0).
    Gap { name: "sum_of_empty_array", code: "std.sum([])", cpp: "0" },
    // C++ (0.22) computes abs(n) as `if n > 0 then n else -n`: negative zero (printed -0).
    Gap { name: "abs_of_zero", code: "std.abs(0)", cpp: "-0.0" },
    // C++ treats a string as an array of its characters in the set functions; betterform
    // rejects it (upstream test_suite/invariant_manifest.jsonnet relies on it).
    Gap {
        name: "set_functions_on_strings",
        code: "[std.setInter('b', ['a', 'b', 'c']), std.setUnion('ab', ['c']), std.setMember('a', 'abc')]",
        cpp: r#"[["b"], ["a", "b", "c"], true]"#,
    },
    // std.trace takes exactly (string, value) in C++; betterform also takes one argument, or
    // a non-string message (upstream error.trace_one_param / error.trace_two_param).
    Gap { name: "trace_with_one_argument", code: "std.trace('only one')", cpp: CPP_ERROR },
    Gap { name: "trace_with_a_number_message", code: "std.trace(3, {})", cpp: CPP_ERROR },
    // C++ parses YAML 1.2 (y/n/yes/no/on/off are strings); betterform takes YAML 1.1 booleans.
    Gap {
        name: "parse_yaml_y_is_a_string",
        code: "std.parseYaml('[x, y, n, yes, no, on, off]')",
        cpp: r#"["x", "y", "n", "yes", "no", "on", "off"]"#,
    },
    // C++ 0.22 keeps `~` as a string (0.18 gives ""); YAML and betterform say null.
    Gap { name: "parse_yaml_tilde", code: "std.parseYaml('n: ~')", cpp: r#"{"n": "~"}"# },
];

#[test]
fn known_gaps_still_differ_from_the_reference() {
    let f = Fixture::new("diamond");
    let mut fixed = Vec::new();
    for gap in KNOWN_GAPS {
        let file = format!("gap_{}.jsonnet", gap.name);
        f.write(&file, &format!("{{ result: {} }}\n", gap.code));
        let run = eval(&f, &f.deploy.join(&file));
        // A gap is a wrong answer or a clean error, never a crash.
        assert!(matches!(run.code(), 0 | 2), "{}: exit {}:\n{}", gap.name, run.code(), run.stderr());
        let agrees = if gap.cpp == CPP_ERROR {
            run.code() != 0
        } else if run.code() != 0 {
            false
        } else {
            let got: Value = serde_json::from_str(&run.stdout()).unwrap();
            got["result"] == serde_json::from_str::<Value>(gap.cpp).unwrap()
        };
        if agrees {
            fixed.push(gap.name);
        }
    }
    // When this fails, the gap was fixed: move the case into the corpus (testdata/jsonnet).
    assert!(
        fixed.is_empty(),
        "betterform now agrees with C++ jsonnet on {fixed:?}: move them into the corpus"
    );
}
