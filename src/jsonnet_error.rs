//! A jsonnet error as betterform shows it: `file:line:col: message`, the source line with a
//! caret, and for runtime errors the jsonnet stack, innermost first, one `file:line:col` per
//! frame (as the C++ CLI prints it).
//!
//! The engine (jrsonnet) records a position only for some frames: function calls, `error`,
//! assertions, imports. An operator (`1 / x`), an index (`arr[5]`, `obj.missing`) or a call of
//! a non-function fails in a frame without one, and when the failing expression is a field of
//! the config, the trace holds nothing but "field <a> evaluation". The positions are recovered
//! here from the source: the manifest path of those frames (`field <a>`, `elem <2>`, outermost
//! last) is followed through the object and array literals of the evaluated file to the field
//! that failed, and within that field's value, an expression of the kind that fails that way
//! (the index `.missing`, the `import` of a missing file, the divisor of a division) is
//! pointed at when there is exactly one.

use std::path::Path;

use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::{Source, SourcePath, Span};
use jrsonnet_ir::SourceFile;
use jrsonnet_ir::visit::{Visitor, visit_expr};
use jrsonnet_ir::{BinaryOpType, Expr, FieldName, ObjBody};

use crate::diagnostic::Diagnostic;

/// How many frames of a runtime error's stack are shown.
const FRAMES: usize = 20;

/// Renders `e`, raised while evaluating `file`, so that every line starts with the
/// `file:line:col` it is about: syntax errors, each static-analysis finding (undefined
/// locals, …), and runtime errors with their stack, innermost first. Each line is indented
/// under the "jsonnet evaluation of … failed" line.
pub(crate) fn render(file: &Path, e: &jrsonnet_evaluator::Error, max_stack: usize) -> String {
    let shown_file = PathResolver::new_cwd_fallback().resolve(file);
    let mut lines = Vec::new();
    match e.error() {
        ErrorKind::ImportSyntaxError { error, .. } => {
            lines.push(at_span(&error.location, &format!("syntax error: {}", error.message)));
        }
        ErrorKind::StaticAnalysisError(diagnostics) => {
            for d in diagnostics {
                match &d.span {
                    Some(span) => lines.push(at_span(span, &d.message)),
                    None => lines.push(format!("  {shown_file}: {}", d.message)),
                }
            }
        }
        kind => {
            let message = match kind {
                ErrorKind::StackOverflow => format!(
                    "stack overflow: more than {max_stack} nested calls; reduce the recursion or raise --max-stack"
                ),
                kind => kind.to_string(),
            };
            let parsed = Parsed::read(file);
            let (frames, scope) = frames(parsed.as_ref(), e);
            // Where the engine knows nothing, the failing expression inside the failing field
            // is more precise than the field. A missing import is always found: the error
            // names the importing file.
            let engine_knows = e.trace().0.iter().any(|el| el.location.is_some());
            let precise = match (&parsed, kind) {
                (_, ErrorKind::ImportFileNotFound(..)) => {
                    pinpoint(file, kind, scope.or(parsed.as_ref().map(|p| &p.expr)))
                }
                (Some(parsed), _) if !engine_knows => {
                    pinpoint(file, kind, Some(scope.unwrap_or(&parsed.expr)))
                }
                _ => e.trace().0.first().and_then(|innermost| inside_call(kind, innermost)),
            };
            let headline = precise.or_else(|| frames.iter().find_map(|f| f.location.clone()));
            match &headline {
                Some(span) => lines.push(at_span(span, &message)),
                None => lines.push(format!("  {shown_file}: {message}")),
            }
            for frame in frames.iter().take(FRAMES) {
                if let Some(span) = &frame.location {
                    lines.push(format!("    at {}: {}", span_location(span), frame.desc));
                }
            }
        }
    }
    lines.join("\n")
}

/// One frame of the jsonnet stack: the engine's, with the position recovered where it had none.
struct Frame {
    location: Option<Span>,
    desc: String,
}

/// The engine's frames, innermost first, with the positions of the manifest frames
/// (`field <a> evaluation`, `elem <2> evaluation`) recovered from the evaluated file's
/// literals; and the innermost value that walk reached (none when the trace has no manifest
/// frame or the walk could not take its first step).
fn frames<'p>(parsed: Option<&'p Parsed>, e: &jrsonnet_evaluator::Error) -> (Vec<Frame>, Option<&'p Expr>) {
    let mut frames: Vec<Frame> =
        e.trace().0.iter().map(|el| Frame { location: el.location.clone(), desc: el.desc.clone() }).collect();
    let Some(parsed) = parsed else { return (frames, None) };
    // The manifest frames are the outermost ones: walk them from the root value inwards.
    let mut value = root_value(&parsed.expr);
    let mut reached = None;
    for frame in frames.iter_mut().rev() {
        let Some(step) = ManifestStep::of(&frame.desc) else { break };
        let (location, inner) = step.follow(value);
        if frame.location.is_none() {
            frame.location = location;
        }
        let Some(inner) = inner else { break };
        value = inner;
        reached = Some(inner);
    }
    (frames, reached)
}

/// The source of a jsonnet file, parsed.
struct Parsed {
    expr: Expr,
}

impl Parsed {
    fn read(file: &Path) -> Option<Parsed> {
        let code = std::fs::read_to_string(file).ok()?;
        let source = Source::new(SourcePath::new(SourceFile::new(file.to_path_buf())), code.as_str().into());
        let expr = jrsonnet_ir_parser::parse(&code, &jrsonnet_ir_parser::ParserSettings { source }).ok()?;
        Some(Parsed { expr })
    }
}

/// The value a file evaluates to, past its leading `local`s and `assert`s, and past the
/// parameters of a top-level function (a config called with top-level arguments).
fn root_value(expr: &Expr) -> &Expr {
    match unwrap_locals(expr) {
        Expr::Function(_, body) => unwrap_locals(body),
        other => other,
    }
}

fn unwrap_locals(mut expr: &Expr) -> &Expr {
    loop {
        expr = match expr {
            Expr::LocalExpr(_, body) => body,
            Expr::AssertExpr(assert) => &assert.rest,
            other => return other,
        }
    }
}

/// One step of the path the manifester took from the root value to the failing one.
enum ManifestStep<'d> {
    Field(&'d str),
    Elem(usize),
}

impl<'d> ManifestStep<'d> {
    /// `field <a> evaluation` or `field <a> manifestification` (the engine's words for a
    /// value and for the object or array around it), and the same with `elem <2>`.
    fn of(desc: &'d str) -> Option<Self> {
        let step = desc.strip_suffix("> evaluation").or_else(|| desc.strip_suffix("> manifestification"))?;
        if let Some(name) = step.strip_prefix("field <") {
            return Some(ManifestStep::Field(name));
        }
        step.strip_prefix("elem <")?.parse().ok().map(ManifestStep::Elem)
    }

    /// The position of this step in the literal `expr` (a field's name; an element has none
    /// of its own), and the value it leads to, when `expr` is a literal that has it.
    fn follow<'e>(&self, expr: &'e Expr) -> (Option<Span>, Option<&'e Expr>) {
        match (self, unwrap_locals(expr)) {
            (ManifestStep::Field(name), Expr::Obj(ObjBody::MemberList(members)))
            | (ManifestStep::Field(name), Expr::ObjExtend(_, ObjBody::MemberList(members))) => {
                let named = |f: &&jrsonnet_ir::FieldMember| matches!(&f.name.value, FieldName::Fixed(n) if &**n == *name);
                match members.fields.iter().rfind(named) {
                    Some(field) => (Some(field.name.span.clone()), Some(&field.value)),
                    None => (None, None),
                }
            }
            (ManifestStep::Elem(index), Expr::Arr(items)) => (None, items.get(*index)),
            _ => (None, None),
        }
    }
}

/// Within `scope` (the innermost field value the manifest path reaches, or the whole file),
/// or in the importing file for a missing import, the one expression that fails with `kind`,
/// if there is exactly one and it records a position.
fn pinpoint(file: &Path, kind: &ErrorKind, scope: Option<&Expr>) -> Option<Span> {
    let wanted = Wanted::of(kind)?;
    let mut finder = Finder { wanted, strict: false, found: Vec::new() };
    match kind {
        // A missing import is looked for in the file that imports it.
        ErrorKind::ImportFileNotFound(from, _) if from.path().is_some_and(|from| from != file) => {
            finder.visit_expr(&Parsed::read(from.path()?)?.expr);
        }
        _ => finder.visit_expr(scope?),
    }
    match finder.found.as_mut_slice() {
        [one] => one.take(),
        _ => None,
    }
}

/// The innermost frame is a call of a function written in jsonnet (`function <g> call`): the
/// error arose in its body, where the engine records no position. When the function's
/// definition in the caller's file is unique, and within its body one index fails that way (the
/// field `.z`, the literal `[5]`), that index. Only such strong evidence counts: an operator
/// there might not be the one that failed (an argument is evaluated inside the callee).
fn inside_call(kind: &ErrorKind, innermost: &jrsonnet_evaluator::StackTraceElement) -> Option<Span> {
    let name = innermost.desc.strip_prefix("function <")?.strip_suffix("> call")?;
    if name.starts_with("builtin_") {
        return None;
    }
    let wanted = match Wanted::of(kind)? {
        wanted @ (Wanted::Field(_) | Wanted::Index(_)) => wanted,
        _ => return None,
    };
    let source = &innermost.location.as_ref()?.0;
    let settings = jrsonnet_ir_parser::ParserSettings { source: source.clone() };
    let expr = jrsonnet_ir_parser::parse(source.code(), &settings).ok()?;
    let mut definitions =
        Definitions { name, finder: Finder { wanted, strict: true, found: Vec::new() }, count: 0 };
    definitions.visit_expr(&expr);
    match (definitions.count, definitions.finder.found.as_mut_slice()) {
        (1, [one]) => one.take(),
        _ => None,
    }
}

/// The definitions of the function `name` (`local name(…) = body`, `local name = function(…)
/// body`, a method `name(…): body` or a field `name: function(…) body`), counted, each body
/// searched by `finder`.
struct Definitions<'n> {
    name: &'n str,
    finder: Finder,
    count: usize,
}

impl Definitions<'_> {
    fn body(&mut self, body: &Expr) {
        self.count += 1;
        self.finder.visit_expr(body);
    }

    fn binds(&mut self, binds: &[jrsonnet_ir::BindSpec]) {
        for bind in binds {
            match bind {
                jrsonnet_ir::BindSpec::Function { name, value, .. } if &**name == self.name => {
                    self.body(value)
                }
                jrsonnet_ir::BindSpec::Field {
                    into: jrsonnet_ir::Destruct::Full(into),
                    value: Expr::Function(_, body),
                } if &*into.value == self.name => self.body(body),
                _ => {}
            }
        }
    }
}

impl Visitor for Definitions<'_> {
    fn visit_expr(&mut self, e: &Expr) {
        match e {
            Expr::LocalExpr(binds, _) => self.binds(binds),
            Expr::Obj(ObjBody::MemberList(members)) | Expr::ObjExtend(_, ObjBody::MemberList(members)) => {
                self.binds(&members.locals);
                for field in &members.fields {
                    if !matches!(&field.name.value, FieldName::Fixed(n) if &**n == self.name) {
                        continue;
                    }
                    match (&field.params, &field.value) {
                        (Some(_), body) => self.body(body),
                        (None, Expr::Function(_, body)) => self.body(body),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        visit_expr(self, e);
    }
}

/// The kind of expression that fails with a given error.
enum Wanted {
    /// `x.name` or `x['name']`.
    Field(String),
    /// `x[n]`, or any index with a computed key.
    Index(f64),
    /// `import 'path'`.
    Import(String),
    /// `a / b`, `a % b`: their divisor.
    Divisor,
    /// `f(…)`.
    Call,
}

impl Wanted {
    fn of(kind: &ErrorKind) -> Option<Wanted> {
        Some(match kind {
            ErrorKind::NoSuchField(name, _) => Wanted::Field(name.to_string()),
            ErrorKind::ArrayBoundsError(index, _) => Wanted::Index(*index as f64),
            ErrorKind::StringBoundsError(index, _) => Wanted::Index(*index as f64),
            ErrorKind::ImportFileNotFound(_, path) => Wanted::Import(path.to_string()),
            ErrorKind::DivisionByZero => Wanted::Divisor,
            ErrorKind::OnlyFunctionsCanBeCalledGot(_) => Wanted::Call,
            _ => return None,
        })
    }
}

/// Every expression of the wanted kind, with its position when it records one.
struct Finder {
    wanted: Wanted,
    /// Only an index by the very literal (`[5]`, `.name`) counts, not a computed one.
    strict: bool,
    found: Vec<Option<Span>>,
}

impl Visitor for Finder {
    fn visit_expr(&mut self, e: &Expr) {
        match (&self.wanted, e) {
            (Wanted::Field(name), Expr::Index { parts, .. }) => {
                let named =
                    |p: &&jrsonnet_ir::IndexPart| matches!(&p.value, Expr::Str(s) if &**s == name.as_str());
                self.found.extend(parts.iter().filter(named).map(|p| Some(p.span.clone())));
            }
            (Wanted::Index(index), Expr::Index { parts, .. }) => {
                let at = |p: &&jrsonnet_ir::IndexPart| match &p.value {
                    Expr::Num(n) => n.get() == *index,
                    // A computed index may be the one: it cannot be ruled out.
                    Expr::Str(_) => false,
                    _ => !self.strict,
                };
                self.found.extend(parts.iter().filter(at).map(|p| Some(p.span.clone())));
            }
            (Wanted::Import(path), Expr::Import(kind, target)) => {
                if matches!(&**target, Expr::Str(s) if &**s == path.as_str()) {
                    self.found.push(Some(kind.span.clone()));
                }
            }
            (Wanted::Divisor, Expr::BinaryOp(op))
                if matches!(op.op, BinaryOpType::Div | BinaryOpType::Mod) =>
            {
                // The divisor's own position when it has one (a variable, an index, a call);
                // a literal divisor has none, and then the field is what is shown.
                self.found.push(spanned(&op.rhs));
            }
            (Wanted::Call, Expr::Apply(_, args, _)) => self.found.push(Some(args.span.clone())),
            _ => {}
        }
        visit_expr(self, e);
    }
}

/// The position of an expression that records one.
fn spanned(expr: &Expr) -> Option<Span> {
    match expr {
        Expr::Var(name) => Some(name.span.clone()),
        Expr::Index { parts, .. } => parts.last().map(|p| p.span.clone()),
        Expr::Apply(_, args, _) => Some(args.span.clone()),
        _ => None,
    }
}

/// `file:line:col` of a position in a jsonnet source, the file shown relative to the working
/// directory when it is below it.
fn location(source: &Source, offset: u32) -> String {
    let [at] = source.map_source_locations(&[offset]);
    format!("{}:{}:{}", shown_path(source), at.line, at.column)
}

fn span_location(span: &Span) -> String {
    location(&span.0, span.1)
}

fn shown_path(source: &Source) -> String {
    let path = source.source_path();
    path.path().map_or_else(|| path.to_string(), |p| PathResolver::new_cwd_fallback().resolve(p))
}

/// A problem at `span`, shown with its source line and a caret (indented under the
/// "jsonnet evaluation of … failed" line).
fn at_span(span: &Span, message: &str) -> String {
    let source = &span.0;
    let [start, end] = source.map_source_locations(&[span.1, span.2]);
    let length = if end.line == start.line { end.column.saturating_sub(start.column) } else { 0 };
    let diagnostic = Diagnostic::new(shown_path(source), start.line, start.column, message)
        .with_length(length)
        .with_source(source.code());
    diagnostic.to_string().lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}
