//! Configuration-time warnings about secrets a `step.json` template would write in clear:
//! a sensitive input (or a `step.json` variable it binds) filled by a template expression that
//! reads `env` (`"{{ env.TOKEN }}"`) is rendered into the stamped `step.json`, a file on disk.
//! `#{Env.TOKEN}` binds the same value when the step runs, in memory only.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::diagnostic::Diagnostic;

/// Template expression delimiters, as configured.
pub(crate) struct Delims<'a> {
    pub(crate) left: &'a str,
    pub(crate) right: &'a str,
}

/// Whether `text` holds a template expression that reads `env`.
fn reads_env(text: &str, delims: &Delims<'_>) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find(delims.left) {
        let body = &rest[at + delims.left.len()..];
        let end = body.find(delims.right).unwrap_or(body.len());
        let expr = &body[..end];
        let bytes = expr.as_bytes();
        let mut from = 0;
        while let Some(i) = expr[from..].find("env") {
            let i = from + i;
            let before = i.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i + 3).copied();
            let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
            if !before.is_some_and(|b| word(b) || b == b'.') && matches!(after, Some(b'.' | b'[')) {
                return true;
            }
            from = i + 3;
        }
        rest = &body[end..];
    }
    false
}

/// The template `text` read as JSON, when it is JSON once its expressions are taken as
/// text: an expression inside a string stays in it (`"{{ env.T }}"`), one standing for a
/// whole value (`"key": {{ env.T | tojson }}`) becomes a string of its own text.
pub(crate) fn as_json(text: &str, delims: &Delims<'_>) -> Option<Value> {
    if let Ok(value) = serde_json::from_str(text) {
        return Some(value);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with(delims.left) {
            let end = rest[delims.left.len()..].find(delims.right)? + delims.left.len() + delims.right.len();
            let expr = &rest[..end];
            if in_string {
                out.push_str(expr);
            } else {
                out.push_str(&serde_json::to_string(expr).expect("strings serialize"));
            }
            rest = &rest[end..];
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_string => escaped = !escaped,
            '"' if !escaped => in_string = !in_string,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&out).ok()
}

/// Every string under `value`.
fn strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The names a `#{…}` text reads (`#{A | ToUpper}` → `A`, `#{if B}` → `B`).
fn bound_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("#{") {
        if at > 0 && rest.as_bytes()[at - 1] == b'#' {
            rest = &rest[at + 2..];
            continue;
        }
        let body = &rest[at + 2..];
        let Some(end) = body.find('}') else { break };
        let tag = body[..end].trim();
        let tag = tag.strip_prefix("if ").or_else(|| tag.strip_prefix("unless ")).unwrap_or(tag);
        let name = tag.split('|').next().unwrap_or_default().trim();
        if !name.is_empty() && !name.starts_with('/') && name != "else" && !name.starts_with("each ") {
            names.push(name.to_string());
        }
        rest = &body[end + 1..];
    }
    names
}

/// Line and column (1-based) of the JSON string `text` in the source (or of the bare text:
/// an expression standing for a whole value), if found.
fn position(source: &str, text: &str) -> (usize, usize) {
    let quoted = serde_json::to_string(text).expect("strings serialize");
    let found = source.find(&quoted).map(|at| (at, 1)).or_else(|| source.find(text).map(|at| (at, 0)));
    match found {
        Some((at, quote)) => {
            let line = source[..at].matches('\n').count() + 1;
            let column = source[..at].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1 + quote;
            (line, column)
        }
        None => (0, 0),
    }
}

/// Warnings for one step's inputs: `sensitive` lists (input path, value at that path in the
/// template) for each sensitive input; `variables` is the template's `variables` object.
pub(crate) fn warnings(
    template: &str,
    shown_as: &Path,
    sensitive: &[(String, &Value)],
    variables: Option<&Value>,
    delims: &Delims<'_>,
) -> Vec<String> {
    let mut out = Vec::new();
    let warn = |text: &str, message: String| {
        let (line, column) = position(template, text);
        Diagnostic::new(shown_as, line, column, message).headline()
    };
    for (path, value) in sensitive {
        let mut texts = Vec::new();
        strings(value, &mut texts);
        for text in texts {
            if reads_env(text, delims) {
                out.push(warn(
                    text,
                    format!(
                        "sensitive input '{path}' is filled from env by the template: the stamped step.json holds the secret in clear; bind it with \"#{{Env.NAME}}\" instead"
                    ),
                ));
                continue;
            }
            // Through `step.json` variables, however deep.
            let mut seen = BTreeSet::new();
            let mut queue = bound_names(text);
            while let Some(name) = queue.pop() {
                if !seen.insert(name.clone()) {
                    continue;
                }
                let Some(Value::String(var)) = variables.and_then(|v| v.get(&name)) else { continue };
                if reads_env(var, delims) {
                    out.push(warn(
                        var,
                        format!(
                            "variable '{name}' is filled from env by the template and bound into sensitive input '{path}': the stamped step.json holds the secret in clear; use \"#{{Env.NAME}}\" instead"
                        ),
                    ));
                    break;
                }
                queue.extend(bound_names(var));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Delims<'static> = Delims { left: "{{", right: "}}" };

    #[test]
    fn env_reads_are_told_from_other_expressions() {
        assert!(reads_env("{{ env.TOKEN }}", &D));
        assert!(reads_env("x-{{ env['TOKEN'] | default('a') }}", &D));
        assert!(reads_env("{{cfg.a ~ env.B}}", &D));
        assert!(!reads_env("{{ env_name }}", &D));
        assert!(!reads_env("{{ cfg.env.x }}", &D));
        assert!(!reads_env("{{ env.IMPL_DIR", &Delims { left: "<<", right: ">>" }));
        assert!(!reads_env("#{Env.TOKEN}", &D));
    }

    #[test]
    fn a_template_with_expressions_outside_strings_reads_as_json() {
        let text = "{\"a\": {{ env.T | tojson }}, \"b\": \"x {{ cfg.y }}\", \"c\": \"q\\\"{{ z }}\"}";
        let value = as_json(text, &D).unwrap();
        assert_eq!(value["a"], "{{ env.T | tojson }}");
        assert_eq!(value["b"], "x {{ cfg.y }}");
        assert_eq!(value["c"], "q\"{{ z }}");
        assert_eq!(position(text, "{{ env.T | tojson }}"), (1, 7));
        assert!(as_json("{% if x %}", &D).is_none());
    }

    #[test]
    fn names_bound_by_a_text() {
        assert_eq!(bound_names("a #{A | ToUpper} ##{B} #{if C}x#{/if}#{else}"), ["A", "C"]);
    }

    #[test]
    fn a_secret_filled_directly_or_through_variables_is_warned_with_its_line() {
        let template = "{\n  \"inputs\": {\"k\": \"#{Key}\", \"t\": \"{{ env.T }}\"},\n  \"variables\": {\"Key\": \"#{Inner}\",\n \"Inner\": \"{{ env.K }}\"}\n}";
        let doc: Value = serde_json::from_str(template).unwrap();
        let sensitive = [("k".to_string(), &doc["inputs"]["k"]), ("t".to_string(), &doc["inputs"]["t"])];
        let out = warnings(template, Path::new("step.json"), &sensitive, doc.get("variables"), &D);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].starts_with("step.json:2:") && out[0].contains("sensitive input 't'"), "{out:?}");
        assert!(out[1].starts_with("step.json:4:") && out[1].contains("variable 'Inner'"), "{out:?}");
    }
}
