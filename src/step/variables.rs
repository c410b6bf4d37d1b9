//! Octopus variable syntax (README: "Step-package stages"): `#{Name}`, dotted and indexed names
//! (`#{Output[network].vpc.id}`), `##{` as an escape for a literal `#{`, filters
//! (`#{Name | ToUpper}`), `#{if X}…#{else}…#{/if}`, `#{unless X}…#{/unless}` and
//! `#{each x in List}…#{/each}`.
//!
//! Parsing and evaluation are separate: a template is parsed once into nodes, then evaluated
//! against a [`Lookup`]. Evaluation tracks whether any sensitive value went into the result,
//! so the caller can mask it.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

/// A variable's value and whether it is secret.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) value: Value,
    pub(crate) sensitive: bool,
}

/// Where variable names are looked up. `name` is the full name as written (`Config.a.b`).
pub(crate) trait Lookup {
    fn get(&self, name: &str) -> Result<Option<Resolved>, VarError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum VarError {
    #[error("unterminated '#{{' (no closing '}}')")]
    Unterminated,
    #[error("empty variable expression '#{{}}'")]
    Empty,
    #[error("unresolvable variable '{0}'")]
    Unresolvable(String),
    #[error(
        "unknown filter '{0}' (known: ToLower, ToUpper, ToBase64, FromBase64, JsonEscape, Trim, HtmlEscape)"
    )]
    UnknownFilter(String),
    #[error("filter FromBase64: '{0}' is not valid base64 text")]
    Base64(String),
    #[error("'#{{{0}}}' without a matching opening block")]
    Unmatched(String),
    #[error("'#{{{0}}}' is never closed")]
    Unclosed(String),
    #[error("'#{{each {0}}}': expected 'each NAME in LIST'")]
    BadEach(String),
    #[error("variable '{0}' refers to itself")]
    Cycle(String),
    #[error(
        "'{name}' reads stage '{stage}', which this stage does not depend on (add it to its deps in betterform_dag.mk)"
    )]
    NotUpstream { name: String, stage: String },
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Expr { name: String, filters: Vec<String> },
    If { name: String, negate: bool, then: Vec<Node>, otherwise: Vec<Node> },
    Each { item: String, list: String, body: Vec<Node> },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template(Vec<Node>);

/// Whether `text` binds any variable (holds an unescaped `#{`).
pub(crate) fn is_bound(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'#' && bytes[i + 1] == b'#' && bytes.get(i + 2) == Some(&b'{') {
            i += 3;
        } else if bytes[i] == b'#' && bytes[i + 1] == b'{' {
            return true;
        } else {
            i += 1;
        }
    }
    false
}

/// One `#{…}` token or a run of text.
enum Token<'a> {
    Text(String),
    Tag(&'a str),
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>, VarError> {
    let mut tokens = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('#') {
        plain.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("##{") {
            plain.push_str("#{");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("#{") {
            let end = tail.find('}').ok_or(VarError::Unterminated)?;
            if !plain.is_empty() {
                tokens.push(Token::Text(std::mem::take(&mut plain)));
            }
            tokens.push(Token::Tag(tail[..end].trim()));
            rest = &tail[end + 1..];
        } else {
            plain.push('#');
            rest = &after[1..];
        }
    }
    plain.push_str(rest);
    if !plain.is_empty() {
        tokens.push(Token::Text(plain));
    }
    Ok(tokens)
}

/// What closed a block: the closing tag's text, or the end of input.
enum Closed {
    Else,
    End(String),
    Eof,
}

fn parse_block<'a>(
    tokens: &mut std::iter::Peekable<impl Iterator<Item = Token<'a>>>,
) -> Result<(Vec<Node>, Closed), VarError> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.next() {
        let tag = match token {
            Token::Text(t) => {
                nodes.push(Node::Text(t));
                continue;
            }
            Token::Tag(tag) => tag,
        };
        if tag.is_empty() {
            return Err(VarError::Empty);
        }
        if tag == "else" {
            return Ok((nodes, Closed::Else));
        }
        if let Some(end) = tag.strip_prefix('/') {
            return Ok((nodes, Closed::End(end.trim().to_string())));
        }
        let (word, arg) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        match word {
            "if" | "unless" => {
                let name = arg.trim().to_string();
                let (then, closed) = parse_block(tokens)?;
                let (otherwise, closed) = match closed {
                    Closed::Else => parse_block(tokens)?,
                    other => (Vec::new(), other),
                };
                match closed {
                    Closed::End(end) if end == word => {}
                    Closed::End(end) => return Err(VarError::Unmatched(format!("/{end}"))),
                    Closed::Else => return Err(VarError::Unmatched("else".into())),
                    Closed::Eof => return Err(VarError::Unclosed(format!("{word} {name}"))),
                }
                nodes.push(Node::If { name, negate: word == "unless", then, otherwise });
            }
            "each" => {
                let mut parts = arg.split_whitespace();
                let (Some(item), Some("in"), Some(list), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(VarError::BadEach(arg.trim().to_string()));
                };
                let (body, closed) = parse_block(tokens)?;
                match closed {
                    Closed::End(end) if end == "each" => {}
                    Closed::End(end) => return Err(VarError::Unmatched(format!("/{end}"))),
                    Closed::Else => return Err(VarError::Unmatched("else".into())),
                    Closed::Eof => return Err(VarError::Unclosed(format!("each {arg}"))),
                }
                nodes.push(Node::Each { item: item.to_string(), list: list.to_string(), body });
            }
            _ => {
                let mut pieces = tag.split('|').map(str::trim);
                let name = pieces.next().unwrap_or_default().to_string();
                let filters: Vec<String> = pieces.map(str::to_string).collect();
                for f in &filters {
                    if filter_fn(f).is_none() {
                        return Err(VarError::UnknownFilter(f.clone()));
                    }
                }
                nodes.push(Node::Expr { name, filters });
            }
        }
    }
    Ok((nodes, Closed::Eof))
}

impl Template {
    pub(crate) fn parse(text: &str) -> Result<Template, VarError> {
        let mut tokens = tokenize(text)?.into_iter().peekable();
        match parse_block(&mut tokens)? {
            (nodes, Closed::Eof) => Ok(Template(nodes)),
            (_, Closed::Else) => Err(VarError::Unmatched("else".into())),
            (_, Closed::End(end)) => Err(VarError::Unmatched(format!("/{end}"))),
        }
    }

    /// Evaluates against `vars`: the text, and whether a sensitive value went into it.
    pub(crate) fn evaluate(&self, vars: &dyn Lookup) -> Result<(String, bool), VarError> {
        let mut out = Output::default();
        let scope = Scope { vars, locals: BTreeMap::new() };
        eval_nodes(&self.0, &scope, &mut out)?;
        Ok((out.text, out.sensitive))
    }
}

/// Parses and evaluates in one go.
pub(crate) fn evaluate(text: &str, vars: &dyn Lookup) -> Result<(String, bool), VarError> {
    Template::parse(text)?.evaluate(vars)
}

#[derive(Default)]
struct Output {
    text: String,
    sensitive: bool,
}

/// Lookups inside `#{each}`: the loop variables shadow everything else.
struct Scope<'a> {
    vars: &'a dyn Lookup,
    locals: BTreeMap<String, Resolved>,
}

impl Scope<'_> {
    fn get(&self, name: &str) -> Result<Option<Resolved>, VarError> {
        let (head, rest) = split_head(name);
        if let Some(local) = self.locals.get(head) {
            let segments = segments(rest);
            return Ok(walk(&local.value, &segments)
                .map(|value| Resolved { value: value.clone(), sensitive: local.sensitive }));
        }
        self.vars.get(name)
    }
}

/// `a.b[c]` → (`a`, `.b[c]`).
fn split_head(name: &str) -> (&str, &str) {
    let end = name.find(['.', '[']).unwrap_or(name.len());
    (&name[..end], &name[end..])
}

/// The path segments after a variable's head: `.vpc.id` → [`vpc`, `id`]; `[0].x` → [`0`, `x`].
pub(crate) fn segments(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix('[') {
            let end = tail.find(']').unwrap_or(tail.len());
            out.push(&tail[..end]);
            rest = tail.get(end + 1..).unwrap_or("");
        } else {
            let tail = rest.strip_prefix('.').unwrap_or(rest);
            let end = tail.find(['.', '[']).unwrap_or(tail.len());
            out.push(&tail[..end]);
            rest = &tail[end..];
        }
    }
    out
}

/// Follows `segments` into a JSON value. At an object, a key holding dots (`"vpc.id"`, how
/// output variables are often named) is tried before splitting.
pub(crate) fn walk<'v>(value: &'v Value, segments: &[&str]) -> Option<&'v Value> {
    let Some((first, rest)) = segments.split_first() else { return Some(value) };
    match value {
        Value::Object(map) => {
            for n in (1..=segments.len()).rev() {
                if let Some(v) = map.get(&segments[..n].join("."))
                    && let Some(found) = walk(v, &segments[n..])
                {
                    return Some(found);
                }
            }
            None
        }
        Value::Array(items) => walk(items.get(first.parse::<usize>().ok()?)?, rest),
        _ => None,
    }
}

/// The text of a value: strings as they are, null as nothing, the rest as compact JSON.
pub(crate) fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => {
            !matches!(s.trim().to_ascii_lowercase().as_str(), "" | "false" | "0" | "no" | "off")
        }
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

type Filter = fn(&str) -> Result<String, VarError>;

fn filter_fn(name: &str) -> Option<Filter> {
    Some(match name.to_ascii_lowercase().as_str() {
        "tolower" => |s| Ok(s.to_lowercase()),
        "toupper" => |s| Ok(s.to_uppercase()),
        "tobase64" => |s| Ok(BASE64.encode(s)),
        "frombase64" => |s| {
            let bytes = BASE64.decode(s.trim()).map_err(|_| VarError::Base64(s.to_string()))?;
            String::from_utf8(bytes).map_err(|_| VarError::Base64(s.to_string()))
        },
        "jsonescape" => |s| {
            let quoted = serde_json::to_string(s).expect("strings serialize");
            Ok(quoted[1..quoted.len() - 1].to_string())
        },
        "trim" => |s| Ok(s.trim().to_string()),
        "htmlescape" => |s| {
            Ok(s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&#39;"))
        },
        _ => return None,
    })
}

fn eval_nodes(nodes: &[Node], scope: &Scope<'_>, out: &mut Output) -> Result<(), VarError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.text.push_str(t),
            Node::Expr { name, filters } => {
                let resolved = scope.get(name)?.ok_or_else(|| VarError::Unresolvable(name.clone()))?;
                let mut text = text_of(&resolved.value);
                for f in filters {
                    text = filter_fn(f).expect("filters checked at parse time")(&text)?;
                }
                out.sensitive |= resolved.sensitive;
                out.text.push_str(&text);
            }
            Node::If { name, negate, then, otherwise } => {
                let value = scope.get(name)?;
                out.sensitive |= value.as_ref().is_some_and(|v| v.sensitive);
                let holds = value.is_some_and(|v| truthy(&v.value)) != *negate;
                eval_nodes(if holds { then } else { otherwise }, scope, out)?;
            }
            Node::Each { item, list, body } => {
                let resolved = scope.get(list)?.ok_or_else(|| VarError::Unresolvable(list.clone()))?;
                let items: Vec<Value> = match resolved.value {
                    Value::Array(items) => items,
                    // A comma-separated string is a list too, as in Octopus.
                    Value::String(s) => {
                        s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Value::from).collect()
                    }
                    Value::Null => Vec::new(),
                    other => vec![other],
                };
                for value in items {
                    let mut locals = scope.locals.clone();
                    locals.insert(item.clone(), Resolved { value, sensitive: resolved.sensitive });
                    eval_nodes(body, &Scope { vars: scope.vars, locals }, out)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Map(Value);

    impl Lookup for Map {
        fn get(&self, name: &str) -> Result<Option<Resolved>, VarError> {
            let (head, rest) = split_head(name);
            let sensitive = head == "Secret";
            Ok(self
                .0
                .get(head)
                .and_then(|v| walk(v, &segments(rest)))
                .map(|v| Resolved { value: v.clone(), sensitive }))
        }
    }

    fn vars() -> Map {
        Map(json!({
            "Name": "World",
            "Retries": 3,
            "Output": {"network": {"vpc": {"id": "vpc-1"}, "subnets": ["a", "b"], "dotted.key": "dk"}},
            "List": ["x", "y"],
            "Csv": "p, q",
            "Flag": "False",
            "Secret": "s3cr3t",
            "Spaced": "  pad  ",
        }))
    }

    fn eval(text: &str) -> Result<String, VarError> {
        evaluate(text, &vars()).map(|(t, _)| t)
    }

    #[test]
    fn names_dotted_and_indexed() {
        assert_eq!(eval("Hello #{Name}!").unwrap(), "Hello World!");
        assert_eq!(eval("#{Retries}").unwrap(), "3");
        assert_eq!(eval("#{Output[network].vpc.id}").unwrap(), "vpc-1");
        assert_eq!(eval("#{Output[network].subnets[1]}").unwrap(), "b");
        assert_eq!(eval("#{Output[network].dotted.key}").unwrap(), "dk");
        assert_eq!(eval("#{ Name }").unwrap(), "World");
    }

    #[test]
    fn double_hash_escapes() {
        assert_eq!(eval("##{Name} is #{Name}").unwrap(), "#{Name} is World");
        assert!(!is_bound("##{Name}"));
        assert!(is_bound("a #{Name}"));
        assert!(!is_bound("a # { b } #"));
        assert_eq!(eval("# not a tag, #x").unwrap(), "# not a tag, #x");
    }

    #[test]
    fn filters_chain_left_to_right() {
        assert_eq!(eval("#{Name | ToUpper}").unwrap(), "WORLD");
        assert_eq!(eval("#{Name | ToLower}").unwrap(), "world");
        assert_eq!(eval("#{Name | ToBase64}").unwrap(), "V29ybGQ=");
        assert_eq!(eval("#{Name | ToBase64 | FromBase64 | ToUpper}").unwrap(), "WORLD");
        assert_eq!(eval("[#{Spaced | Trim}]").unwrap(), "[pad]");
        assert_eq!(evaluate("#{X | JsonEscape}", &Map(json!({"X": "a\"b\n"}))).unwrap().0, "a\\\"b\\n");
        assert_eq!(evaluate("#{X | HtmlEscape}", &Map(json!({"X": "<a&b>"}))).unwrap().0, "&lt;a&amp;b&gt;");
        assert_eq!(eval("#{Name | tobase64}").unwrap(), "V29ybGQ=", "filter names are case-insensitive");
    }

    #[test]
    fn conditionals_and_loops() {
        assert_eq!(eval("#{if Name}yes#{else}no#{/if}").unwrap(), "yes");
        assert_eq!(eval("#{if Flag}yes#{else}no#{/if}").unwrap(), "no");
        assert_eq!(eval("#{if Missing}yes#{/if}.").unwrap(), ".");
        assert_eq!(eval("#{unless Flag}off#{/unless}").unwrap(), "off");
        assert_eq!(eval("#{each s in List}<#{s}>#{/each}").unwrap(), "<x><y>");
        assert_eq!(eval("#{each s in Csv}<#{s}>#{/each}").unwrap(), "<p><q>");
        assert_eq!(eval("#{each s in Output[network].subnets}#{s|ToUpper}#{/each}").unwrap(), "AB");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(eval("#{Nope}"), Err(VarError::Unresolvable("Nope".into())));
        assert_eq!(eval("#{Output[other].x}"), Err(VarError::Unresolvable("Output[other].x".into())));
        assert_eq!(eval("a #{Name"), Err(VarError::Unterminated));
        assert_eq!(eval("#{}"), Err(VarError::Empty));
        assert_eq!(eval("#{Name | Shout}"), Err(VarError::UnknownFilter("Shout".into())));
        assert_eq!(eval("#{Name | FromBase64}"), Err(VarError::Base64("World".into())));
        assert_eq!(eval("#{if Name}x"), Err(VarError::Unclosed("if Name".into())));
        assert_eq!(eval("x#{/if}"), Err(VarError::Unmatched("/if".into())));
        assert_eq!(eval("#{if Name}x#{/each}"), Err(VarError::Unmatched("/each".into())));
        assert_eq!(eval("#{each s of List}#{/each}"), Err(VarError::BadEach("s of List".into())));
    }

    #[test]
    fn sensitivity_follows_the_value() {
        assert_eq!(evaluate("x #{Secret} y", &vars()).unwrap(), ("x s3cr3t y".into(), true));
        assert!(evaluate("#{Secret | ToBase64}", &vars()).unwrap().1);
        assert!(!evaluate("#{Name}", &vars()).unwrap().1);
        assert_eq!(evaluate("plain", &vars()).unwrap(), ("plain".into(), false));
    }
}
