//! gomplate (Go `text/template`) templates to betterform's syntax, action by action: the text
//! between actions is kept byte for byte, each `{{ … }}` is parsed as Go's template grammar
//! and written as the betterform expression, block or comment that means the same, with
//! `.` followed through `range` and `with`. What has no equivalent is left as it was and
//! listed with its line. An action that is not Go template syntax (`{{ cfg.region }}`,
//! `{{% if x %}}`) is already betterform's and is kept, so converting twice changes nothing.

/// One construct left as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Left {
    pub(crate) line: usize,
    /// The action, as written.
    pub(crate) action: String,
    pub(crate) why: String,
}

#[derive(Debug, Default)]
pub(crate) struct Converted {
    pub(crate) text: String,
    pub(crate) left: Vec<Left>,
}

/// Converts one template file's text.
pub(crate) fn convert(text: &str) -> Converted {
    let mut out = Converted::default();
    let mut blocks: Vec<Block> = Vec::new();
    let mut rest = text;
    let mut line = 1;
    while let Some(start) = rest.find("{{") {
        let (before, from) = rest.split_at(start);
        out.text.push_str(before);
        line += before.matches('\n').count();
        let Some(len) = action_len(from) else {
            // An action never closed: Go would refuse the file; keep the rest as it is.
            out.left.push(Left { line, action: shorten(from), why: "no closing '}}'".into() });
            out.text.push_str(from);
            return out;
        };
        let action = &from[..len];
        match convert_action(action, &mut blocks) {
            Ok(converted) => out.text.push_str(&converted),
            Err(why) => {
                out.left.push(Left { line, action: shorten(action), why });
                out.text.push_str(action);
            }
        }
        line += action.matches('\n').count();
        rest = &from[len..];
    }
    out.text.push_str(rest);
    for block in blocks {
        if !block.left {
            out.left.push(Left { line, action: block.opener, why: "never closed with {{ end }}".into() });
        }
    }
    out
}

fn shorten(text: &str) -> String {
    let first: String = text.lines().next().unwrap_or_default().chars().take(60).collect();
    if first.len() < text.len() { format!("{first}…") } else { first }
}

/// The length of the action `text` starts with (`{{ … }}`, strings and comments included).
fn action_len(text: &str) -> Option<usize> {
    if text.starts_with("{{%") || text.starts_with("{{#") {
        let close = if text.starts_with("{{%") { "%}}" } else { "#}}" };
        return text[3..].find(close).map(|i| i + 3 + close.len());
    }
    let bytes = text.as_bytes();
    let mut i = 2;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => {
                let quote = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => i += text[i + 1..].find('`')? + 1,
            b'/' if text[i..].starts_with("/*") => i += text[i..].find("*/")? + 1,
            b'}' if text[i..].starts_with("}}") => return Some(i + 2),
            _ => {}
        }
        i += 1;
    }
    None
}

/// An open `if`, `range` or `with`: how its `end` is written, and what `.` is inside.
struct Block {
    opener: String,
    end: &'static str,
    dot: Dot,
    /// Left as it was: its `else` and `end` are left too.
    left: bool,
}

/// What `.` stands for: the template's data (whose fields are `cfg` and `Env`), or a value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dot {
    Root,
    Value(String),
}

fn dot(blocks: &[Block]) -> Dot {
    blocks.iter().rev().find(|b| !b.left).map_or(Dot::Root, |b| b.dot.clone())
}

fn convert_action(action: &str, blocks: &mut Vec<Block>) -> Result<String, String> {
    if action.starts_with("{{%") || action.starts_with("{{#") {
        return Ok(action.to_string());
    }
    let mut inner = &action[2..action.len() - 2];
    let trim_left = inner.starts_with("- ") || inner.starts_with("-\n") || inner.starts_with("-\t");
    if trim_left {
        inner = &inner[1..];
    }
    let trim_right = inner.ends_with(" -") || inner.ends_with("\n-") || inner.ends_with("\t-");
    if trim_right {
        inner = &inner[..inner.len() - 1];
    }
    let (l, r) = (if trim_left { "-" } else { "" }, if trim_right { "-" } else { "" });
    let body = inner.trim();
    if let Some(comment) = body.strip_prefix("/*").and_then(|c| c.strip_suffix("*/")) {
        return Ok(format!("{{{{#{l}{comment}{r}#}}}}"));
    }
    let tokens = match lex(body) {
        Ok(tokens) => tokens,
        Err(why) if looks_like_go(body) => return Err(why),
        Err(_) => return Ok(action.to_string()),
    };
    if tokens.is_empty() || !is_go(&tokens) {
        return Ok(action.to_string());
    }
    let block = |s: String| format!("{{{{%{l} {s} {r}%}}}}");
    let keyword = match &tokens[0].kind {
        Tok::Ident(w) => w.as_str(),
        _ => "",
    };
    let current = dot(blocks);
    match keyword {
        "if" => {
            let cond = Converter { dot: &current }.pipeline(&tokens[1..]);
            let left = cond.is_err();
            blocks.push(Block { opener: shorten(action), end: "endif", dot: current, left });
            Ok(block(format!("if {}", cond?.text)))
        }
        "range" | "with" => {
            let (names, expr) = declared(&tokens[1..])?;
            let expr = Converter { dot: &current }.pipeline(expr);
            let depth = blocks.iter().filter(|b| b.end != "endif").count();
            let generated = if keyword == "range" { "item" } else { "value" };
            let generated =
                if depth == 0 { generated.to_string() } else { format!("{generated}{}", depth + 1) };
            let (text, end, dot_name) = match (keyword, names.as_slice()) {
                ("range", []) => (format!("for {generated} in "), "endfor", generated),
                ("range", [v]) => (format!("for {v} in "), "endfor", v.clone()),
                ("range", [k, v]) => (format!("for {k}, {v} in "), "endfor", v.clone()),
                ("with", []) => (format!("with {generated} = "), "endwith", generated),
                ("with", [v]) => (format!("with {v} = "), "endwith", v.clone()),
                _ => {
                    return Err(format!(
                        "{keyword} with more than {} variables",
                        if keyword == "range" { 2 } else { 1 }
                    ));
                }
            };
            let left = expr.is_err();
            blocks.push(Block { opener: shorten(action), end, dot: Dot::Value(dot_name.clone()), left });
            let expr = expr?.text;
            Ok(match (keyword, names.len()) {
                // A map's keys or a list's indexes, as Go gives them.
                ("range", 2) => block(format!("{text}{expr}|pairs")),
                ("range", _) => block(format!("{text}{expr}")),
                // `with` runs its body only when the value is not empty, as `if` would.
                _ => format!("{}{}", block(format!("{text}{expr}")), block(format!("if {dot_name}"))),
            })
        }
        "else" => {
            let Some(open) = blocks.last() else { return Err("'else' outside any block".into()) };
            if open.left {
                return Err("belongs to a block left as it was".into());
            }
            match tokens.get(1).map(|t| &t.kind) {
                // After `with`, the `else` belongs to the `if` its opening wrote.
                None => Ok(block("else".into())),
                Some(Tok::Ident(w)) if w == "if" && open.end == "endif" => {
                    let outer =
                        blocks.iter().rev().skip(1).find(|b| !b.left).map_or(Dot::Root, |b| b.dot.clone());
                    let cond = Converter { dot: &outer }.pipeline(&tokens[2..])?;
                    Ok(block(format!("elif {}", cond.text)))
                }
                _ => Err("this form of 'else' has no betterform equivalent".into()),
            }
        }
        "end" => {
            let Some(open) = blocks.pop() else { return Err("'end' without a block".into()) };
            if open.left {
                return Err("ends a block left as it was".into());
            }
            Ok(match open.end {
                "endwith" => format!("{}{}", block("endif".into()), block("endwith".into())),
                end => block(end.into()),
            })
        }
        "define" | "template" | "block" | "break" | "continue" => {
            Err(format!("'{keyword}' has no betterform equivalent; rewrite it by hand"))
        }
        _ => {
            if let [
                Token { kind: Tok::Var(name, path), .. },
                Token { kind: Tok::Declare | Tok::Assign, .. },
                rest @ ..,
            ] = tokens.as_slice()
                && path.is_empty()
            {
                let value = Converter { dot: &current }.pipeline(rest)?;
                return Ok(block(format!("set {} = {}", var_name(name)?, value.text)));
            }
            let value = Converter { dot: &current }.pipeline(&tokens)?;
            Ok(format!("{{{{{l} {} {r}}}}}", value.text))
        }
    }
}

/// `range $k, $v := X` / `with $v := X`: the variables and the expression's tokens.
fn declared(tokens: &[Token]) -> Result<(Vec<String>, &[Token]), String> {
    let Some(at) = tokens.iter().position(|t| t.kind == Tok::Declare) else {
        return Ok((Vec::new(), tokens));
    };
    let mut names = Vec::new();
    for token in &tokens[..at] {
        match &token.kind {
            Tok::Var(name, path) if path.is_empty() => names.push(var_name(name)?),
            Tok::Comma => {}
            _ => return Err("unexpected text before ':='".into()),
        }
    }
    Ok((names, &tokens[at + 1..]))
}

/// A Go template variable's name in betterform (`$x` is `x`); `$` itself is the root.
fn var_name(name: &str) -> Result<String, String> {
    match name {
        "" => Err("'$' cannot be assigned".into()),
        "cfg" | "env" | "loop" | "stage_name" => Ok(format!("{name}_")),
        name => Ok(name.to_string()),
    }
}

/// Whether the action is Go template syntax gomplate would run, rather than betterform's own:
/// it starts with a field, a variable, a keyword, a literal or a function gomplate knows.
fn is_go(tokens: &[Token]) -> bool {
    match &tokens[0].kind {
        Tok::Field(_) | Tok::Var(..) | Tok::Str(_) | Tok::Num(_) | Tok::LParen => true,
        Tok::Ident(w) => {
            KEYWORDS.contains(&w.as_str())
                || ["true", "false", "nil"].contains(&w.as_str()) && tokens.len() == 1
                || function(w).is_some()
                || gomplate_namespaced(w)
                || GO_ONLY.contains(&w.as_str())
        }
        _ => false,
    }
}

/// `strings.Repeat`, `math.Add`: gomplate's namespace and a function name, which gomplate
/// writes capitalised (a variable's field, `data.items`, is not).
fn gomplate_namespaced(word: &str) -> bool {
    match word.split_once('.') {
        Some((ns, name)) => {
            GOMPLATE_NAMESPACES.contains(&ns)
                && !name.contains('.')
                && name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        }
        None => false,
    }
}

/// Text that Go's lexer would have to read: a leading `.`, `$` or keyword.
fn looks_like_go(body: &str) -> bool {
    body.starts_with('.')
        || body.starts_with('$')
        || KEYWORDS.iter().any(|k| body.strip_prefix(k).is_some_and(|r| r.is_empty() || r.starts_with(' ')))
}

const KEYWORDS: [&str; 10] =
    ["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"];

/// Go's and gomplate's functions without a betterform equivalent: listed, never taken for
/// betterform's syntax.
const GO_ONLY: [&str; 14] = [
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "call",
    "datasource",
    "ds",
    "include",
    "tpl",
    "defineDatasource",
    "datasourceExists",
    "datasourceReachable",
    "urlParse",
];

/// gomplate's function namespaces: `ns.Name` is gomplate's even when betterform has no
/// equivalent, so it is listed rather than taken for betterform's syntax. Not `env`: that is
/// betterform's context too (`env.HOME`); gomplate's `env.Getenv` is known by name.
const GOMPLATE_NAMESPACES: [&str; 19] = [
    "data", "file", "strings", "conv", "coll", "base64", "crypto", "math", "net", "path", "filepath",
    "regexp", "sockaddr", "test", "time", "tmpl", "uuid", "random", "aws",
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `.a.b` (`.` alone: no segments).
    Field(Vec<String>),
    /// `$x.a` (`$` alone: empty name).
    Var(String, Vec<String>),
    /// A function, keyword or `true`/`false`/`nil`, dots included (`strings.ToUpper`).
    Ident(String),
    /// A string literal, decoded.
    Str(String),
    Num(String),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: Tok,
    /// Whitespace came before it: `(x).a` chains a field, `(x) .a` is another argument.
    spaced: bool,
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut spaced = false;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    let path = |i: &mut usize| {
        let mut segments = Vec::new();
        while *i < chars.len()
            && chars[*i] == '.'
            && chars.get(*i + 1).is_some_and(|c| c.is_alphabetic() || *c == '_')
        {
            *i += 1;
            segments.push(word(i));
        }
        segments
    };
    while i < chars.len() {
        let c = chars[i];
        let kind = match c {
            c if c.is_whitespace() => {
                spaced = true;
                i += 1;
                continue;
            }
            '.' => {
                let segments = path(&mut i);
                if segments.is_empty() {
                    i += 1;
                }
                Tok::Field(segments)
            }
            '$' => {
                i += 1;
                let name = word(&mut i);
                Tok::Var(name, path(&mut i))
            }
            '"' => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                let literal: String = chars[start..i.min(chars.len())].iter().collect();
                Tok::Str(
                    serde_json::from_str(&literal)
                        .map_err(|_| format!("cannot read the string {literal}"))?,
                )
            }
            '`' => {
                let end = chars[i + 1..].iter().position(|&c| c == '`').ok_or("unterminated raw string")?;
                let value: String = chars[i + 1..i + 1 + end].iter().collect();
                i += end + 2;
                Tok::Str(value)
            }
            '(' | ')' | '|' | ',' => {
                i += 1;
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '|' => Tok::Pipe,
                    _ => Tok::Comma,
                }
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Declare
            }
            '=' => {
                i += 1;
                Tok::Assign
            }
            c if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
                {
                    i += 1;
                }
                Tok::Num(chars[start..i].iter().collect())
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut name = word(&mut i);
                for segment in path(&mut i) {
                    name = format!("{name}.{segment}");
                }
                Tok::Ident(name)
            }
            other => return Err(format!("'{other}' is not Go template syntax")),
        };
        tokens.push(Token { kind, spaced });
        spaced = false;
    }
    Ok(tokens)
}

/// A betterform expression; `atom` when filters and attribute access may follow it as it is.
#[derive(Debug, Clone)]
struct Expr {
    text: String,
    atom: bool,
}

impl Expr {
    fn atom(text: impl Into<String>) -> Expr {
        Expr { text: text.into(), atom: true }
    }

    fn op(text: impl Into<String>) -> Expr {
        Expr { text: text.into(), atom: false }
    }

    fn wrapped(&self) -> String {
        if self.atom { self.text.clone() } else { format!("({})", self.text) }
    }

    fn filter(&self, filter: &str) -> Expr {
        Expr::atom(format!("{}|{filter}", self.wrapped()))
    }
}

struct Converter<'a> {
    dot: &'a Dot,
}

impl Converter<'_> {
    /// `command { '|' command }`: each command's value is the last argument of the next.
    fn pipeline(&self, tokens: &[Token]) -> Result<Expr, String> {
        let mut piped = None;
        for command in tokens.split(|t| t.kind == Tok::Pipe) {
            piped = Some(self.command(command, piped)?);
        }
        piped.ok_or_else(|| "an empty pipeline".to_string())
    }

    fn command(&self, tokens: &[Token], piped: Option<Expr>) -> Result<Expr, String> {
        let mut operands = self.operands(tokens)?;
        let Some(first) = tokens.first() else { return Err("an empty command".into()) };
        if let Tok::Ident(name) = &first.kind
            && !["true", "false", "nil"].contains(&name.as_str())
        {
            operands.remove(0);
            operands.extend(piped);
            return call(name, operands);
        }
        match (operands.len(), piped) {
            (1, None) => Ok(operands.remove(0)),
            _ => Err("only a function can take arguments or a piped value".into()),
        }
    }

    /// The operands of a command: each term with the fields chained onto it.
    fn operands(&self, tokens: &[Token]) -> Result<Vec<Expr>, String> {
        let mut operands: Vec<Expr> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let token = &tokens[i];
            let expr = match &token.kind {
                Tok::Field(path) if !token.spaced && i > 0 && tokens[i - 1].kind == Tok::RParen => {
                    let last = operands.pop().expect("a parenthesised operand came first");
                    i += 1;
                    operands.push(Expr::atom(format!("{}{}", last.wrapped(), dotted(path))));
                    continue;
                }
                Tok::Field(path) => self.field(path)?,
                Tok::Var(name, path) if name.is_empty() => root_field(path)?,
                Tok::Var(name, path) => Expr::atom(format!("{}{}", var_name(name)?, dotted(path))),
                Tok::Str(s) => Expr::atom(serde_json::to_string(s).expect("strings serialize")),
                Tok::Num(n) => Expr::atom(n.clone()),
                Tok::Ident(w) if w == "nil" => Expr::atom("none"),
                Tok::Ident(w) => Expr::atom(w.clone()),
                Tok::LParen => {
                    let close = matching(tokens, i)?;
                    let inner = self.pipeline(&tokens[i + 1..close])?;
                    i = close + 1;
                    operands.push(Expr::atom(inner.wrapped()));
                    continue;
                }
                other => return Err(format!("unexpected {other:?}")),
            };
            operands.push(expr);
            i += 1;
        }
        Ok(operands)
    }

    fn field(&self, path: &[String]) -> Result<Expr, String> {
        match self.dot {
            Dot::Root => root_field(path),
            Dot::Value(name) => Ok(Expr::atom(format!("{name}{}", dotted(path)))),
        }
    }
}

/// A field of the template's data: the original betterform gave gomplate `cfg` (the config)
/// and gomplate itself `Env`.
fn root_field(path: &[String]) -> Result<Expr, String> {
    match path.split_first() {
        Some((first, rest)) if first == "cfg" => Ok(Expr::atom(format!("cfg{}", dotted(rest)))),
        Some((first, rest)) if first == "Env" => Ok(Expr::atom(format!("env{}", dotted(rest)))),
        Some((first, _)) => Err(format!("'.{first}' is not in the context (only .cfg and .Env are)")),
        None => Err("'.' at the top level is the whole context; name .cfg or .Env".into()),
    }
}

fn dotted(path: &[String]) -> String {
    path.iter().map(|s| format!(".{s}")).collect()
}

fn matching(tokens: &[Token], open: usize) -> Result<usize, String> {
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err("unbalanced '('".into())
}

/// The betterform function or filter for a gomplate function, by name.
fn function(name: &str) -> Option<&'static str> {
    Some(match name {
        "toJSON" | "data.ToJSON" => "tojson",
        "toJSONPretty" | "data.ToJSONPretty" => "toprettyjson",
        "toYAML" | "data.ToYAML" => "toyaml",
        "json" | "data.JSON" => "json",
        "file.Read" => "read_file",
        "file.Exists" => "file_exists",
        "toUpper" | "strings.ToUpper" => "upper",
        "toLower" | "strings.ToLower" => "lower",
        "trimSpace" | "strings.TrimSpace" => "trim",
        "title" | "strings.Title" => "title",
        "strings.Trim" => "trim_cut",
        "replaceAll" | "strings.ReplaceAll" | "strings.Replace" => "replace",
        "split" | "strings.Split" => "split",
        "contains" | "strings.Contains" => "contains",
        "hasPrefix" | "strings.HasPrefix" => "startingwith",
        "hasSuffix" | "strings.HasSuffix" => "endingwith",
        "indent" | "strings.Indent" => "indent",
        "quote" | "strings.Quote" => "quote",
        "squote" | "strings.Squote" => "squote",
        "join" | "conv.Join" => "join",
        "default" | "conv.Default" => "default",
        "required" => "required",
        "len" => "length",
        "index" => "index",
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "and" | "or" | "not" => "operator",
        "toString" | "conv.ToString" => "string",
        "toInt" | "conv.ToInt" | "conv.ToInt64" => "int",
        "toFloat64" | "conv.ToFloat64" => "float",
        "toBool" | "conv.ToBool" => "bool",
        "base64.Encode" => "b64encode",
        "base64.Decode" => "b64decode",
        "crypto.SHA256" => "sha256",
        "getenv" | "env.Getenv" => "getenv",
        "has" | "coll.Has" => "has",
        "slice" | "coll.Slice" => "slice",
        "print" => "print",
        _ => return None,
    })
}

fn call(name: &str, mut args: Vec<Expr>) -> Result<Expr, String> {
    let Some(target) = function(name) else {
        return Err(format!("'{name}' has no betterform equivalent"));
    };
    let arity = |n: usize| {
        if args.len() == n { Ok(()) } else { Err(format!("'{name}' with {} arguments", args.len())) }
    };
    let list = |args: &[Expr]| args.iter().map(|a| a.text.clone()).collect::<Vec<_>>().join(", ");
    Ok(match target {
        "tojson" | "toyaml" | "upper" | "lower" | "trim" | "title" | "quote" | "squote" | "length"
        | "string" | "int" | "float" | "bool" | "b64encode" | "b64decode" | "sha256" => {
            arity(1)?;
            args[0].filter(target)
        }
        "toprettyjson" => {
            arity(2)?;
            args[1].filter("toprettyjson")
        }
        "json" => {
            arity(1)?;
            match args[0].text.strip_prefix("read_file(").and_then(|p| p.strip_suffix(')')) {
                Some(path) => Expr::atom(format!("read_json({path})")),
                None => {
                    return Err(format!("'{name}' of anything but file.Read has no betterform equivalent"));
                }
            }
        }
        "read_file" | "file_exists" => {
            arity(1)?;
            Expr::atom(format!("{target}({})", args[0].text))
        }
        "trim_cut" => {
            arity(2)?;
            args[1].filter(&format!("trim({})", args[0].text))
        }
        "replace" => {
            arity(3)?;
            args[2].filter(&format!("replace({}, {})", args[0].text, args[1].text))
        }
        "split" => {
            arity(2)?;
            args[1].filter(&format!("split({})", args[0].text))
        }
        "contains" => {
            arity(2)?;
            Expr::op(format!("{} in {}", args[0].wrapped(), args[1].wrapped()))
        }
        "startingwith" | "endingwith" => {
            arity(2)?;
            Expr::op(format!("{} is {target}({})", args[1].wrapped(), args[0].text))
        }
        "indent" => {
            arity(2)?;
            // gomplate indents the first line too.
            args[1].filter(&format!("indent({}, true)", args[0].text))
        }
        "join" => {
            arity(2)?;
            args[0].filter(&format!("join({})", args[1].text))
        }
        "default" => {
            arity(2)?;
            // gomplate's default replaces empty values too, not only missing ones.
            args[1].filter(&format!("default({}, true)", args[0].text))
        }
        "required" => match args.len() {
            1 => args[0].filter("required"),
            2 => args[1].filter(&format!("required({})", args[0].text)),
            _ => return Err(format!("'{name}' with {} arguments", args.len())),
        },
        "index" => {
            if args.len() < 2 {
                return Err(format!("'{name}' with {} arguments", args.len()));
            }
            let keys: String = args[1..].iter().map(|k| format!("[{}]", k.text)).collect();
            Expr::atom(format!("{}{keys}", args[0].wrapped()))
        }
        "operator" => operator(name, &args)?,
        "getenv" => {
            let var = match args.first().map(|a| a.text.as_str()) {
                Some(q)
                    if q.len() > 2
                        && q[1..q.len() - 1].chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    format!("env.{}", &q[1..q.len() - 1])
                }
                Some(q) => format!("env[{q}]"),
                None => return Err(format!("'{name}' without a name")),
            };
            match args.len() {
                1 => Expr::atom(var),
                2 => Expr::atom(format!("{var}|default({}, true)", args[1].text)),
                _ => return Err(format!("'{name}' with {} arguments", args.len())),
            }
        }
        "has" => {
            arity(2)?;
            Expr::op(format!("{} in {}", args[1].wrapped(), args[0].wrapped()))
        }
        "slice" => Expr::atom(format!("[{}]", list(&args))),
        "print" => {
            arity(1)?;
            args.remove(0)
        }
        _ => unreachable!("every target is handled"),
    })
}

fn operator(name: &str, args: &[Expr]) -> Result<Expr, String> {
    let binary = |op: &str| {
        if args.len() == 2 {
            Ok(Expr::op(format!("{} {op} {}", args[0].wrapped(), args[1].wrapped())))
        } else {
            Err(format!("'{name}' with {} arguments", args.len()))
        }
    };
    match name {
        "eq" => binary("=="),
        "ne" => binary("!="),
        "lt" => binary("<"),
        "le" => binary("<="),
        "gt" => binary(">"),
        "ge" => binary(">="),
        "and" | "or" if args.len() >= 2 => {
            Ok(Expr::op(args.iter().map(Expr::wrapped).collect::<Vec<_>>().join(&format!(" {name} "))))
        }
        "not" if args.len() == 1 => Ok(Expr::op(format!("not {}", args[0].wrapped()))),
        _ => Err(format!("'{name}' with {} arguments", args.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `testdata/migrate/corpus/NAME.gotmpl` converts to `NAME.expected`: the text, then
    /// `---- left as it was`, then one `line: action: why` per construct left. The expected
    /// forms were checked by hand; `BETTERFORM_BLESS=1` rewrites them (then check the diff).
    #[test]
    fn the_corpus_converts_to_its_hand_checked_forms_and_converting_again_changes_nothing() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/migrate/corpus");
        let mut cases = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "gotmpl") {
                continue;
            }
            cases += 1;
            let input = std::fs::read_to_string(&path).unwrap();
            let converted = convert(&input);
            let mut shown = format!("{}---- left as it was\n", converted.text);
            for left in &converted.left {
                shown.push_str(&format!("{}: {}: {}\n", left.line, left.action, left.why));
            }
            let expected_path = path.with_extension("expected");
            if std::env::var_os("BETTERFORM_BLESS").is_some() {
                std::fs::write(&expected_path, &shown).unwrap();
            }
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
            assert_eq!(shown, expected, "{}", path.display());
            let again = convert(&converted.text);
            assert_eq!(again.text, converted.text, "{}: converting twice", path.display());
            assert_eq!(again.left, converted.left, "{}: the same constructs are left", path.display());
        }
        assert!(cases >= 5, "the corpus is there");
    }

    #[test]
    fn trim_markers_and_comments_keep_their_meaning() {
        assert_eq!(convert("a {{- .cfg.x -}} b").text, "a {{- cfg.x -}} b");
        assert_eq!(convert("{{- if .cfg.x -}}y{{- end -}}").text, "{{%- if cfg.x -%}}y{{%- endif -%}}");
        assert_eq!(convert("{{/* a\nb */}}").text, "{{# a\nb #}}");
        assert_eq!(convert("{{- /* c */ -}}").text, "{{#- c -#}}");
    }

    #[test]
    fn an_unclosed_action_or_block_is_listed() {
        let out = convert("x {{ .cfg.a");
        assert_eq!((out.text.as_str(), out.left[0].why.as_str()), ("x {{ .cfg.a", "no closing '}}'"));
        let out = convert("{{ if .cfg.a }}\nb\n");
        assert_eq!(out.left[0].why, "never closed with {{ end }}");
    }
}
