//! Service messages a step prints on stdout (README: "Step-package stages"):
//! `##octopus[name key='base64' …]`, one per line. Attribute values are base64 (UTF-8);
//! like Calamari, a value that does not decode is taken as it stands. Either quote works.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

const PREFIX: &str = "##octopus[";

/// How ordinary output lines are to be treated, switched by `stdout-*` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Default,
    Verbose,
    Warning,
    Highlight,
    Error,
    /// `stdout-ignore`: not shown, still logged.
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    SetVariable {
        name: String,
        value: String,
        sensitive: bool,
    },
    CreateArtifact {
        path: String,
        name: Option<String>,
    },
    Progress {
        percentage: Option<u32>,
        message: String,
    },
    Result {
        message: String,
    },
    Mask {
        value: String,
    },
    Level(Level),
    /// A well-formed message betterform does not act on.
    Other(String),
}

/// What one output line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Text,
    Message(Message),
    /// Starts like a service message but is not one betterform could read (its text may
    /// hold encoded secrets, so it is not shown).
    Malformed(&'static str),
}

fn decode(raw: &str) -> String {
    match BASE64.decode(raw) {
        Ok(bytes) => String::from_utf8(bytes).unwrap_or_else(|_| raw.to_string()),
        Err(_) => raw.to_string(),
    }
}

/// `key='v' key2="w"` → pairs (values still encoded).
fn attributes(mut rest: &str) -> Result<Vec<(&str, &str)>, &'static str> {
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        let eq = rest.find('=').ok_or("attribute without '='")?;
        let key = rest[..eq].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err("bad attribute name");
        }
        let after = &rest[eq + 1..];
        let quote =
            after.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or("unquoted attribute value")?;
        let body = &after[1..];
        let end = body.find(quote).ok_or("unterminated attribute value")?;
        out.push((key, &body[..end]));
        rest = &body[end + 1..];
    }
}

fn is_true(value: &str) -> bool {
    value.eq_ignore_ascii_case("true")
}

/// Classifies one line of step output.
pub(crate) fn parse(line: &str) -> Line {
    let trimmed = line.trim();
    let Some(body) = trimmed.strip_prefix(PREFIX) else { return Line::Text };
    let Some(body) = body.strip_suffix(']') else { return Line::Malformed("no closing ']'") };
    let (name, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    let attrs = match attributes(rest) {
        Ok(attrs) => attrs,
        Err(why) => return Line::Malformed(why),
    };
    let get = |key: &str| attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| decode(v));
    let message = match name {
        "setVariable" => {
            let Some(name) = get("name").filter(|n| !n.is_empty()) else {
                return Line::Malformed("setVariable without a name");
            };
            let value = get("value").unwrap_or_default();
            let sensitive = get("sensitive").is_some_and(|s| is_true(&s));
            Message::SetVariable { name, value, sensitive }
        }
        "createArtifact" => {
            let Some(path) = get("path").filter(|p| !p.is_empty()) else {
                return Line::Malformed("createArtifact without a path");
            };
            Message::CreateArtifact { path, name: get("name").or_else(|| get("originalFilename")) }
        }
        "progress" => Message::Progress {
            percentage: get("percentage").and_then(|p| p.trim().parse().ok()).map(|p: u32| p.min(100)),
            message: get("message").unwrap_or_default(),
        },
        "resultMessage" => Message::Result { message: get("message").unwrap_or_default() },
        "mask" => Message::Mask { value: get("value").unwrap_or_default() },
        "stdout-default" => Message::Level(Level::Default),
        "stdout-verbose" => Message::Level(Level::Verbose),
        "stdout-warning" => Message::Level(Level::Warning),
        "stdout-highlight" => Message::Level(Level::Highlight),
        "stdout-error" => Message::Level(Level::Error),
        "stdout-ignore" => Message::Level(Level::Ignore),
        other => Message::Other(other.to_string()),
    };
    Line::Message(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        BASE64.encode(s)
    }

    #[test]
    fn set_variable_with_and_without_sensitive() {
        let line = format!("##octopus[setVariable name='{}' value='{}']", enc("Url"), enc("https://x"));
        assert_eq!(
            parse(&line),
            Line::Message(Message::SetVariable {
                name: "Url".into(),
                value: "https://x".into(),
                sensitive: false
            })
        );
        let line = format!(
            "##octopus[setVariable name=\"{}\" value=\"{}\" sensitive=\"{}\"]",
            enc("Token"),
            enc("t0k"),
            enc("True")
        );
        assert_eq!(
            parse(&line),
            Line::Message(Message::SetVariable {
                name: "Token".into(),
                value: "t0k".into(),
                sensitive: true
            })
        );
    }

    #[test]
    fn every_message_kind() {
        let artifact =
            format!("##octopus[createArtifact path='{}' originalFilename='{}']", enc("/a/b.txt"), enc("b"));
        assert_eq!(
            parse(&artifact),
            Line::Message(Message::CreateArtifact { path: "/a/b.txt".into(), name: Some("b".into()) })
        );
        let progress = format!("##octopus[progress percentage='{}' message='{}']", enc("140"), enc("half"));
        assert_eq!(
            parse(&progress),
            Line::Message(Message::Progress { percentage: Some(100), message: "half".into() })
        );
        let result = format!("##octopus[resultMessage message='{}']", enc("it broke"));
        assert_eq!(parse(&result), Line::Message(Message::Result { message: "it broke".into() }));
        let mask = format!("##octopus[mask value='{}']", enc("hide me"));
        assert_eq!(parse(&mask), Line::Message(Message::Mask { value: "hide me".into() }));
        assert_eq!(parse("##octopus[stdout-verbose]"), Line::Message(Message::Level(Level::Verbose)));
        assert_eq!(parse("  ##octopus[stdout-default]  "), Line::Message(Message::Level(Level::Default)));
        assert_eq!(
            parse("##octopus[somethingNew a='b']"),
            Line::Message(Message::Other("somethingNew".into()))
        );
    }

    #[test]
    fn values_that_are_not_base64_are_taken_as_is() {
        assert_eq!(
            parse("##octopus[setVariable name='plain name!' value='v']"),
            Line::Message(Message::SetVariable {
                name: "plain name!".into(),
                value: "v".into(),
                sensitive: false
            })
        );
    }

    #[test]
    fn garbage_is_text_or_malformed_never_a_panic() {
        assert_eq!(parse("hello ##octopus[x]"), Line::Text);
        assert_eq!(parse("##octopus[setVariable name='abc"), Line::Malformed("no closing ']'"));
        assert_eq!(
            parse("##octopus[setVariable name='abc]"),
            Line::Malformed("unterminated attribute value")
        );
        assert_eq!(parse("##octopus[setVariable name=abc]"), Line::Malformed("unquoted attribute value"));
        assert_eq!(
            parse("##octopus[setVariable value='YQ==']"),
            Line::Malformed("setVariable without a name")
        );
        assert_eq!(parse("##octopus[setVariable junk]"), Line::Malformed("attribute without '='"));
        for junk in
            ["##octopus[", "##octopus[]", "##octopus[ ]", "##octopus[a='''']", "##octopus[\u{fffd}=']'"]
        {
            let _ = parse(junk);
        }
    }
}
