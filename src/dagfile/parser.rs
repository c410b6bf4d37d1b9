//! Recursive-descent parser over the lexer's tokens: one declaration per logical line.
//!
//! Grammar (newlines end a declaration; `\` continuations were joined by the lexer):
//!
//! ```text
//! file  := { NEWLINE | decl { decl } NEWLINE } EOF
//! decl  := '$(' 'call' FUNC [ ',' ] words [ ',' words ] ')'
//! FUNC  := 'define_stage' | 'dag_deps' | 'dag_dep'
//! ```
//!
//! The optional comma after the function name and `dag_dep` are forms the original
//! make-based betterform's documentation shows (`$(call dag_deps stage_one, )`); their meaning
//! is clear, so they are accepted. What only make could evaluate (variables, rules,
//! conditionals, `include`, make functions) is refused with a message that says so.
//!
//! Every syntax error is reported, not just the first: a declaration is one logical line, so
//! after an error the parser skips to the next NEWLINE and goes on. The offending token is
//! never consumed before the error is made, which is what lets the skip stop at the right
//! newline even when the newline itself was the unexpected token.

use super::error::{DagFileError, NOT_MAKE, Pos, not_make, shorten};
use super::lexer::{Token, TokenKind, lex};

/// A word with the position it was written at, so later checks can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name<'a> {
    pub text: &'a str,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclKind {
    /// `$(call define_stage, NAME, DEPS)`
    DefineStage,
    /// `$(call dag_deps, DEPENDENTS, DEPENDENCIES)` (or `dag_dep`) — the original's form.
    DagDeps,
}

/// One `$(call …)` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decl<'a> {
    pub kind: DeclKind,
    pub pos: Pos,
    /// The stage defined (`define_stage`, exactly one) or the dependents (`dag_deps`).
    pub stages: Vec<Name<'a>>,
    pub deps: Vec<Name<'a>>,
}

/// The declarations of a DAG file, or every syntax error in it (at most one per logical
/// line, in file order).
pub fn parse(text: &str) -> Result<Vec<Decl<'_>>, Vec<DagFileError>> {
    Parser { tokens: lex(text), next: 0 }.file()
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    next: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token<'a> {
        &self.tokens[self.next]
    }

    fn advance(&mut self) {
        if self.peek().kind != TokenKind::Eof {
            self.next += 1;
        }
    }

    /// The error for the next token, which is not what the grammar wants there. A token the
    /// lexer could not read carries its own message.
    fn unexpected(&self, expected: &str) -> DagFileError {
        let token = self.peek();
        match &token.kind {
            TokenKind::Bad(message) => DagFileError::at(token.pos, message.clone()),
            kind => DagFileError::at(token.pos, format!("expected {expected}, found {}", kind.describe())),
        }
    }

    /// Consumes the next token if it is `kind`; returns where it was.
    fn expect(&mut self, kind: TokenKind<'_>, expected: &str) -> Result<Pos, DagFileError> {
        if self.peek().kind != kind {
            return Err(self.unexpected(expected));
        }
        let pos = self.peek().pos;
        self.advance();
        Ok(pos)
    }

    fn file(mut self) -> Result<Vec<Decl<'a>>, Vec<DagFileError>> {
        let mut decls = Vec::new();
        let mut errors = Vec::new();
        loop {
            match self.peek().kind {
                TokenKind::Eof => break,
                TokenKind::Newline => self.advance(),
                _ => match self.line() {
                    Ok(line) => decls.extend(line),
                    Err(e) => {
                        errors.push(e);
                        self.skip_line();
                    }
                },
            }
        }
        if errors.is_empty() { Ok(decls) } else { Err(errors) }
    }

    /// The declarations of one line (usually one), up to (not including) the NEWLINE that
    /// ends it.
    fn line(&mut self) -> Result<Vec<Decl<'a>>, DagFileError> {
        if self.peek().kind != TokenKind::Open {
            if let TokenKind::Word(w) = &self.peek().kind
                && MAKE_DIRECTIVES.contains(w)
            {
                return Err(DagFileError::at(
                    self.peek().pos,
                    not_make(&format!("the make directive '{w}'")),
                ));
            }
            // `NET := a b`, `all: up`: the lexer recognised make at the ':' or '='.
            let line = self.tokens[self.next..].iter().take_while(|t| t.kind != TokenKind::Newline);
            for token in line {
                if let TokenKind::Bad(message) = &token.kind
                    && message.contains(NOT_MAKE)
                {
                    return Err(DagFileError::at(token.pos, message.clone()));
                }
            }
            return Err(self.unexpected("'$(call define_stage, NAME, DEPS)', a comment or a blank line"));
        }
        let mut decls = vec![self.decl()?];
        loop {
            match self.peek().kind {
                TokenKind::Newline | TokenKind::Eof => return Ok(decls),
                TokenKind::Open => decls.push(self.decl()?),
                _ => return Err(self.unexpected("end of line after ')'")),
            }
        }
    }

    /// Skips what is left of a line that had an error, up to its NEWLINE.
    fn skip_line(&mut self) {
        while !matches!(self.peek().kind, TokenKind::Newline | TokenKind::Eof) {
            self.advance();
        }
    }

    fn decl(&mut self) -> Result<Decl<'a>, DagFileError> {
        let open = self.expect(TokenKind::Open, "'$('")?;
        if let TokenKind::Word(w) = &self.peek().kind
            && *w != "call"
        {
            let what = if self.tokens.get(self.next + 1).is_some_and(|t| t.kind == TokenKind::Close) {
                format!("the make variable reference '$({})'", shorten(w))
            } else {
                format!("the make function '{}'", shorten(w))
            };
            return Err(DagFileError::at(self.peek().pos, not_make(&what)));
        }
        self.expect(TokenKind::Word("call"), "'call'")?;
        let func = self.peek().pos;
        let kind = match &self.peek().kind {
            TokenKind::Word("define_stage") => DeclKind::DefineStage,
            TokenKind::Word("dag_deps" | "dag_dep") => DeclKind::DagDeps,
            TokenKind::Word(w) => {
                return Err(DagFileError::at(
                    func,
                    format!("unknown function '{}'; expected 'define_stage' or 'dag_deps'", shorten(w)),
                ));
            }
            _ => return Err(self.unexpected("'define_stage' or 'dag_deps'")),
        };
        self.advance();
        // `$(call dag_deps stage_one, )`: make would take "dag_deps stage_one" as the function's
        // name, but the original's documentation writes it so and the meaning is clear.
        if self.peek().kind == TokenKind::Comma {
            self.advance();
        } else if !matches!(self.peek().kind, TokenKind::Word(_)) {
            return Err(self.unexpected("',' after the function name"));
        }
        let stages = self.words();
        // The second argument may be left out entirely, as make treats a missing argument as
        // empty: `$(call define_stage, root)`.
        let deps = match self.peek().kind {
            TokenKind::Comma => {
                self.advance();
                self.words()
            }
            _ => Vec::new(),
        };
        match self.peek().kind {
            TokenKind::Close => self.advance(),
            TokenKind::Open => {
                return Err(DagFileError::at(
                    self.peek().pos,
                    not_make("a make variable or function inside a call ('$(…)')"),
                ));
            }
            TokenKind::Comma => {
                return Err(DagFileError::at(
                    self.peek().pos,
                    "too many arguments: expected '$(call FUNC, NAMES, DEPS)'",
                ));
            }
            _ => return Err(self.unexpected("')'")),
        }
        match kind {
            DeclKind::DefineStage if stages.is_empty() => {
                Err(DagFileError::at(func, "define_stage needs a stage name"))
            }
            DeclKind::DefineStage if stages.len() > 1 => Err(DagFileError::at(
                stages[1].pos,
                format!(
                    "define_stage takes one stage name, found {}; put dependencies after the second ','",
                    stages.len()
                ),
            )),
            DeclKind::DagDeps if stages.is_empty() => {
                Err(DagFileError::at(func, "dag_deps needs at least one dependent stage"))
            }
            _ => Ok(Decl { kind, pos: open, stages, deps }),
        }
    }

    fn words(&mut self) -> Vec<Name<'a>> {
        let mut words = Vec::new();
        while let TokenKind::Word(w) = self.peek().kind {
            words.push(Name { text: w, pos: self.peek().pos });
            self.advance();
        }
        words
    }
}

/// Lines of make that a DAG file may not hold, by their first word.
const MAKE_DIRECTIVES: [&str; 16] = [
    "ifeq", "ifneq", "ifdef", "ifndef", "else", "endif", "include", "-include", "sinclude", "define",
    "endef", "export", "unexport", "override", "vpath", "undefine",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The one error `text` has.
    fn err(text: &str) -> (usize, usize, String) {
        let mut errors = errs(text);
        assert_eq!(errors.len(), 1, "{text:?}: {errors:?}");
        errors.remove(0)
    }

    fn errs(text: &str) -> Vec<(usize, usize, String)> {
        parse(text).unwrap_err().into_iter().map(|e| (e.pos.line, e.pos.col, e.message)).collect()
    }

    #[test]
    fn parses_both_forms_with_continuations_and_comments() {
        let text = "# top\n\n$(call define_stage, a, )\n$(call define_stage,b,a)\n  $(call define_stage, c, \\\n      a b)  # trailing\n$(call dag_deps, x y, a)\n$(call define_stage, d)\n";
        let decls = parse(text).unwrap();
        assert_eq!(decls.len(), 5);
        assert_eq!(decls[0].stages[0].text, "a");
        assert!(decls[0].deps.is_empty());
        assert_eq!(decls[2].deps.iter().map(|n| n.text).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(decls[2].deps[1].pos, Pos { line: 6, col: 9 });
        assert_eq!(decls[3].kind, DeclKind::DagDeps);
        assert_eq!(decls[3].stages.len(), 2);
        assert!(decls[4].deps.is_empty());
    }

    #[test]
    fn every_syntax_error_has_its_position() {
        assert_eq!(err("$(call define_stage, a, b c\n"), (1, 28, "expected ')', found end of line".into()));
        assert_eq!(
            err("\n  foo\n"),
            (
                2,
                3,
                "expected '$(call define_stage, NAME, DEPS)', a comment or a blank line, found 'foo'".into()
            )
        );
        assert_eq!(
            err("$(call define_stages, a, )").2,
            "unknown function 'define_stages'; expected 'define_stage' or 'dag_deps'"
        );
        assert_eq!(err("$(eval define_stage, a, )").1, 3);
        assert_eq!(err("$(call define_stage, , b)"), (1, 8, "define_stage needs a stage name".into()));
        assert_eq!(err("$(call define_stage, a b, )").1, 24);
        assert_eq!(err("$(call define_stage, a, b, c)").1, 26);
        assert_eq!(err("$(call define_stage, a, b) x").1, 28);
        assert_eq!(err("$(call define_stage, a, $b)").1, 25);
        assert_eq!(err("$(call define_stage, a, b\\ c)").1, 26);
        assert_eq!(err("$(call define_stage, a, b/c)").1, 26);
        assert_eq!(err("$(call dag_deps, , b)").2, "dag_deps needs at least one dependent stage");
        assert_eq!(err("$(call define_stage, a, b").2, "expected ')', found end of file");
    }

    fn names<'a>(v: &[Name<'a>]) -> Vec<&'a str> {
        v.iter().map(|n| n.text).collect()
    }

    #[test]
    fn the_original_betterform_forms_are_accepted() {
        // As the original's docs write them: no comma after the name, `dag_dep`, two calls on
        // one line.
        let text = "$(call dag_deps stage_one, )\n$(call dag_deps another_stage, stage_one)\n\
                    $(call dag_dep, a b, c d) $(call define_stage x, a)\n";
        let decls = parse(text).unwrap();
        let shape: Vec<(DeclKind, Vec<&str>, Vec<&str>)> =
            decls.iter().map(|d| (d.kind, names(&d.stages), names(&d.deps))).collect();
        assert_eq!(
            shape,
            vec![
                (DeclKind::DagDeps, vec!["stage_one"], vec![]),
                (DeclKind::DagDeps, vec!["another_stage"], vec!["stage_one"]),
                (DeclKind::DagDeps, vec!["a", "b"], vec!["c", "d"]),
                (DeclKind::DefineStage, vec!["x"], vec!["a"]),
            ]
        );
        assert_eq!(decls[3].pos, Pos { line: 3, col: 27 });
    }

    #[test]
    fn make_constructs_are_refused_saying_the_file_is_not_run_by_make() {
        let cases = [
            ("NET := a b\n", 5, "the make variable assignment 'NET := …'"),
            ("NET ?= a\n", 5, "the make variable assignment 'NET ?= …'"),
            ("all: up\n", 4, "the make rule 'all: …'"),
            ("final: a b # both\n", 6, "the make rule 'final: …'"),
            ("include other.mk\n", 1, "the make directive 'include'"),
            ("ifeq ($(ENV),prod)\n", 1, "the make directive 'ifeq'"),
            ("$(foreach s, a b, $(call define_stage, $(s), net))\n", 3, "the make function 'foreach'"),
            ("$(NET)\n", 3, "the make variable reference '$(NET)'"),
            ("$(call define_stage, app, $(NET))\n", 27, "a make variable or function inside a call ('$(…)')"),
        ];
        for (text, col, what) in cases {
            let (line, at, message) = err(text);
            assert_eq!((line, at), (1, col), "{text}");
            assert!(message.starts_with(&format!("{what} is not supported")), "{text}: {message}");
            assert!(message.contains("parsed, not run by make"), "{message}");
            assert!(message.contains("`$(call define_stage, app, db cache)`"), "{message}");
        }
        assert!(
            err("final: a b # both\n").2.ends_with("; this line would be `$(call define_stage, final, a b)`")
        );
        assert!(err("all: up\n").2.ends_with("; this line would be `$(call define_stage, all, up)`"));
        assert!(!err("a b: $(X)\n").2.contains("this line would be"));
    }

    #[test]
    fn every_syntax_error_is_reported_each_at_its_position() {
        let text = "$(call define_stage, a, )\n\
                    $(call define_stage, b, a) x\n\
                    $(call define_stage, c, a\n\
                    $(call define_stage, d, a)\n\
                    \n\
                    \x20 oops, d)\n";
        assert_eq!(
            errs(text),
            [
                (2, 28, "expected end of line after ')', found 'x'".into()),
                (3, 26, "expected ')', found end of line".into()),
                (
                    6,
                    3,
                    "expected '$(call define_stage, NAME, DEPS)', a comment or a blank line, found 'oops'"
                        .into()
                ),
            ]
        );
    }

    #[test]
    fn an_unexpected_end_of_line_does_not_take_the_next_line_with_it() {
        // The newline is the offending token; skipping to "the next newline" after consuming
        // it would swallow line 2 and its error.
        assert_eq!(
            errs("$(call define_stage, a, b c\nfoo\n$(call define_stage, a, )\n"),
            [
                (1, 28, "expected ')', found end of line".into()),
                (
                    2,
                    1,
                    "expected '$(call define_stage, NAME, DEPS)', a comment or a blank line, found 'foo'"
                        .into()
                ),
            ]
        );
    }

    #[test]
    fn lexer_errors_resync_at_the_end_of_the_logical_line() {
        let text = "$(call define_stage, x, $b \\\n     c)\n\
                    $(call define_stage, y, x) z\n\
                    $(call define_stage, w, a\\b)\n\
                    $(call define_stage, v, %, y)\n";
        assert_eq!(
            errs(text),
            [
                // One error for the line, none for its continuation `c)` or for the ')' the
                // parser never saw.
                (1, 25, "expected '$(call define_stage, NAME, DEPS)'; a lone '$' is not allowed".into()),
                (3, 28, "expected end of line after ')', found 'z'".into()),
                (4, 26, "'\\' must be the last character of a line (line continuation)".into()),
                (
                    5,
                    25,
                    "unexpected character '%'; stage names may contain letters, digits, '_', '-' and '.'"
                        .into()
                ),
            ]
        );
    }

    #[test]
    fn quoted_text_is_shortened() {
        let garbage = "x".repeat(1 << 20);
        let (line, col, message) = err(&format!("$(call define_stage, a, ) {garbage}\n"));
        assert_eq!((line, col), (1, 27));
        assert_eq!(message, format!("expected end of line after ')', found '{}…'", "x".repeat(40)));
        let (_, _, message) = err(&format!("$(call {garbage}, a, )"));
        assert_eq!(
            message,
            format!("unknown function '{}…'; expected 'define_stage' or 'dag_deps'", "x".repeat(40))
        );
    }

    #[test]
    fn continuation_in_a_comment_continues_the_comment() {
        let decls =
            parse("# comment \\\n$(call define_stage, hidden, )\n$(call define_stage, seen, )").unwrap();
        assert_eq!(decls.len(), 1);
        assert_eq!(decls[0].stages[0].text, "seen");
        assert_eq!(decls[0].pos, Pos { line: 3, col: 1 });
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::parse;

    /// Inputs built from the file's own vocabulary reach deep into the parser; arbitrary
    /// strings cover everything else.
    fn dag_like() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("$(".to_string()),
            Just(")".to_string()),
            Just(",".to_string()),
            Just(" ".to_string()),
            Just("\n".to_string()),
            Just("\\\n".to_string()),
            Just("\\".to_string()),
            Just("#".to_string()),
            Just("call".to_string()),
            Just("define_stage".to_string()),
            Just("dag_deps".to_string()),
            "[a-z_]{1,6}",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
    }

    fn check(text: &str) {
        let Err(errors) = parse(text) else { return };
        assert!(!errors.is_empty());
        let lines: Vec<&str> = text.split('\n').collect();
        for e in &errors {
            assert!(e.pos.line >= 1 && e.pos.line <= lines.len(), "line {} outside input", e.pos.line);
            let width = lines[e.pos.line - 1].chars().count();
            assert!(e.pos.col >= 1 && e.pos.col <= width + 1, "col {} outside line of {width}", e.pos.col);
        }
        // Recovery skips to the end of the logical line, so no line is reported twice and
        // the errors come in file order.
        for pair in errors.windows(2) {
            assert!(pair[0].pos.line < pair[1].pos.line, "{errors:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics_and_errors_point_inside_the_input(text in dag_like()) {
            check(&text);
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            check(&text);
        }
    }
}
