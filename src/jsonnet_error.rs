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

use std::path::{Path, PathBuf};

use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::{Source, SourcePath, Span};
use jrsonnet_ir::SourceFile;
use jrsonnet_ir::visit::{Visitor, visit_expr};
use jrsonnet_ir::{BinaryOpType, Expr, FieldMember, FieldName, ImportKind, ObjBody, ObjMembers};

use crate::diagnostic::Diagnostic;

/// How many frames of a runtime error's stack are shown.
const FRAMES: usize = 20;

/// How many imports the search for a field's position goes through (an import cycle, which
/// the engine reports itself, must not make the search endless).
const IMPORT_HOPS: usize = 32;

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
            // Where the engine knows nothing, the failing expression inside the failing field
            // is more precise than the field. A missing import is always found: the error
            // names the importing file.
            let engine_knows = e.trace().0.iter().any(|el| el.location.is_some());
            let (frames, found) = frames(file, e, |scope| match kind {
                ErrorKind::ImportFileNotFound(..) => None,
                _ if engine_knows => None,
                _ => pinpoint(kind, scope),
            });
            let precise = match kind {
                ErrorKind::ImportFileNotFound(from, path) => missing_import(from, &path.to_string()),
                _ => found.or_else(|| {
                    let innermost = e.trace().0.first()?;
                    inside_call(kind, innermost).or_else(|| inside_import(kind, innermost))
                }),
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
/// (`field <a> evaluation`, `elem <2> evaluation`, outermost last) recovered from the source;
/// and what `at_end` finds in the innermost value that walk reached (the whole file when it
/// took no step).
fn frames(
    file: &Path,
    e: &jrsonnet_evaluator::Error,
    at_end: impl FnOnce(&Expr) -> Option<Span>,
) -> (Vec<Frame>, Option<Span>) {
    let mut frames: Vec<Frame> =
        e.trace().0.iter().map(|el| Frame { location: el.location.clone(), desc: el.desc.clone() }).collect();
    let Some(parsed) = Parsed::read(file) else { return (frames, None) };
    let steps: Vec<usize> =
        (0..frames.len()).rev().take_while(|&i| ManifestStep::of(&frames[i].desc).is_some()).collect();
    let root = root_value(&parsed.expr);
    let found = walk(&mut frames, &steps, root, file, None, &parsed.expr, IMPORT_HOPS, at_end);
    (frames, found)
}

/// Follows the manifest frames `steps` (indexes into `frames`, outermost first) from `value`,
/// an expression of `file`, through object and array literals and into imported files, giving
/// each frame the position it reaches (through at most `hops` imports); then `at_end` of the
/// innermost value reached (`reached`), or of `whole` when no step was taken.
#[allow(clippy::too_many_arguments)]
fn walk<'e>(
    frames: &mut [Frame],
    steps: &[usize],
    value: &'e Expr,
    file: &Path,
    reached: Option<&'e Expr>,
    whole: &'e Expr,
    hops: usize,
    at_end: impl FnOnce(&Expr) -> Option<Span>,
) -> Option<Span> {
    let open = |import: &Expr| if hops == 0 { None } else { open_import(import, file) };
    if let Some((parsed, imported)) = open(value) {
        let root = root_value(&parsed.expr);
        return walk(frames, steps, root, &imported, Some(root), whole, hops - 1, at_end);
    }
    let Some((&index, rest)) = steps.split_first() else { return at_end(reached.unwrap_or(whole)) };
    let Some(step) = ManifestStep::of(&frames[index].desc) else { return at_end(reached.unwrap_or(whole)) };
    match step.follow(value) {
        Ok((location, inner)) => {
            if frames[index].location.is_none() {
                frames[index].location = location;
            }
            match inner {
                Some(inner) => walk(frames, rest, inner, file, Some(inner), whole, hops, at_end),
                None => at_end(reached.unwrap_or(whole)),
            }
        }
        // `(import 'base.libsonnet') + { … }` without the field on the right: the same step
        // in the imported file.
        Err(import) => match open(import) {
            Some((parsed, imported)) => {
                let root = root_value(&parsed.expr);
                walk(frames, steps, root, &imported, Some(root), whole, hops - 1, at_end)
            }
            None => at_end(reached.unwrap_or(whole)),
        },
    }
}

/// The file `expr` imports (`import 'x.libsonnet'`, relative to `file`), parsed, and its path.
fn open_import(expr: &Expr, file: &Path) -> Option<(Parsed, PathBuf)> {
    let Expr::Import(kind, target) = unwrap_locals(expr) else { return None };
    let Expr::Str(path) = &**target else { return None };
    if !matches!(kind.value, ImportKind::Normal) {
        return None;
    }
    let imported = file.parent()?.join(&**path);
    Some((Parsed::read(&imported)?, imported))
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
    /// `Err` of an import the step continues into.
    fn follow<'e>(&self, expr: &'e Expr) -> Result<(Option<Span>, Option<&'e Expr>), &'e Expr> {
        let in_body = |members: &'e ObjMembers, name: &str| {
            let named = |f: &&FieldMember| matches!(&f.name.value, FieldName::Fixed(n) if &**n == name);
            members
                .fields
                .iter()
                .rfind(named)
                .map(|field| (Some(field.name.span.clone()), Some(&field.value)))
        };
        let expr = unwrap_locals(expr);
        Ok(match (self, expr) {
            (ManifestStep::Field(name), Expr::Obj(ObjBody::MemberList(members))) => {
                in_body(members, name).unwrap_or((None, None))
            }
            // `base { … }` and `base + { … }`: the right side overrides the left.
            (ManifestStep::Field(name), Expr::ObjExtend(base, ObjBody::MemberList(members))) => {
                match in_body(members, name) {
                    Some(found) => found,
                    None => return self.follow(base),
                }
            }
            (ManifestStep::Field(_), Expr::BinaryOp(op)) if matches!(op.op, BinaryOpType::Add) => {
                match self.follow(&op.rhs)? {
                    (None, None) => return self.follow(&op.lhs),
                    found => found,
                }
            }
            (ManifestStep::Field(_), Expr::Import(..)) => return Err(expr),
            (ManifestStep::Elem(index), Expr::Arr(items)) => (None, items.get(*index)),
            _ => (None, None),
        })
    }
}

/// Within `scope` (the innermost field value the manifest path reaches, or the whole file),
/// the one expression that fails with `kind`, if there is exactly one and it records a
/// position.
fn pinpoint(kind: &ErrorKind, scope: &Expr) -> Option<Span> {
    let mut finder = Finder { wanted: Wanted::of(kind)?, strict: false, found: Vec::new() };
    finder.visit_expr(scope);
    finder.unique()
}

/// The `import` of `path` in the file `from` that has it, if it imports it once.
fn missing_import(from: &SourcePath, path: &str) -> Option<Span> {
    let mut finder = Finder { wanted: Wanted::Import(path.to_string()), strict: false, found: Vec::new() };
    finder.visit_expr(&Parsed::read(from.path()?)?.expr);
    finder.unique()
}

/// The innermost frame is an `import`: the error arose evaluating the imported file's value,
/// in code of that file (a call or a nested import would have a frame of its own). The one
/// expression there that fails with `kind`, if there is exactly one.
fn inside_import(kind: &ErrorKind, innermost: &jrsonnet_evaluator::StackTraceElement) -> Option<Span> {
    if innermost.desc != "import" {
        return None;
    }
    let at = innermost.location.as_ref()?;
    let importer = at.0.source_path().path()?;
    let settings = jrsonnet_ir_parser::ParserSettings { source: at.0.clone() };
    let expr = jrsonnet_ir_parser::parse(at.0.code(), &settings).ok()?;
    let mut imports = ImportAt { at: at.clone(), path: None };
    imports.visit_expr(&expr);
    let imported = importer.parent()?.join(imports.path?);
    pinpoint(kind, &Parsed::read(&imported)?.expr)
}

/// The path of the `import` whose keyword is at `at`.
struct ImportAt {
    at: Span,
    path: Option<String>,
}

impl Visitor for ImportAt {
    fn visit_expr(&mut self, e: &Expr) {
        if let Expr::Import(kind, target) = e
            && kind.span == self.at
            && let Expr::Str(path) = &**target
        {
            self.path = Some(path.to_string());
        }
        visit_expr(self, e);
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
    if definitions.count != 1 {
        return None;
    }
    definitions.finder.unique()
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
    /// Any index but by a string literal: `x[1.5]`, `x[k]`, `x[0]` on a number.
    AnyIndex,
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
            ErrorKind::AttemptedIndexAnArrayWithString(name) => Wanted::Field(name.to_string()),
            ErrorKind::FractionalIndex
            | ErrorKind::ValueIndexMustBeTypeGot(..)
            | ErrorKind::CantIndexInto(_)
            | ErrorKind::ValueIsNotIndexable(_) => Wanted::AnyIndex,
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

impl Finder {
    fn unique(mut self) -> Option<Span> {
        match self.found.as_mut_slice() {
            [one] => one.take(),
            _ => None,
        }
    }
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
            (Wanted::AnyIndex, Expr::Index { parts, .. }) => {
                // `x.name` is looked for by the name of a missing field, not here.
                let any = |p: &&jrsonnet_ir::IndexPart| !matches!(&p.value, Expr::Str(_));
                self.found.extend(parts.iter().filter(any).map(|p| Some(p.span.clone())));
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
