//! Recursive-descent parser over the lexer's tokens: one declaration per logical line.
//!
//! Grammar (newlines end a declaration; `\` continuations were joined by the lexer):
//!
//! ```text
//! file  := { NEWLINE | decl NEWLINE } EOF
//! decl  := '$(' 'call' FUNC ',' words [ ',' words ] ')'
//! FUNC  := 'define_stage' | 'dag_deps'
//! ```

use super::error::{DagFileError, Pos};
use super::lexer::{Token, TokenKind, lex};

/// A word with the position it was written at, so later checks can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub text: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclKind {
    /// `$(call define_stage, NAME, DEPS)`
    DefineStage,
    /// `$(call dag_deps, DEPENDENTS, DEPENDENCIES)` — the older form.
    DagDeps,
}

/// One `$(call …)` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decl {
    pub kind: DeclKind,
    pub pos: Pos,
    /// The stage defined (`define_stage`, exactly one) or the dependents (`dag_deps`).
    pub stages: Vec<Name>,
    pub deps: Vec<Name>,
}

pub fn parse(text: &str) -> Result<Vec<Decl>, DagFileError> {
    let tokens = lex(text)?;
    Parser { tokens, next: 0 }.file()
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.next]
    }

    fn advance(&mut self) -> Token {
        let token = self.tokens[self.next].clone();
        if token.kind != TokenKind::Eof {
            self.next += 1;
        }
        token
    }

    fn unexpected(token: &Token, expected: &str) -> DagFileError {
        DagFileError::at(token.pos, format!("expected {expected}, found {}", token.kind.describe()))
    }

    fn expect(&mut self, kind: TokenKind, expected: &str) -> Result<Token, DagFileError> {
        let token = self.advance();
        if token.kind == kind { Ok(token) } else { Err(Self::unexpected(&token, expected)) }
    }

    fn file(mut self) -> Result<Vec<Decl>, DagFileError> {
        let mut decls = Vec::new();
        loop {
            match self.peek().kind {
                TokenKind::Eof => return Ok(decls),
                TokenKind::Newline => {
                    self.advance();
                }
                TokenKind::Open => {
                    decls.push(self.decl()?);
                    let end = self.advance();
                    if !matches!(end.kind, TokenKind::Newline | TokenKind::Eof) {
                        return Err(Self::unexpected(&end, "end of line after ')'"));
                    }
                }
                _ => {
                    let token = self.peek().clone();
                    return Err(Self::unexpected(
                        &token,
                        "'$(call define_stage, NAME, DEPS)', a comment or a blank line",
                    ));
                }
            }
        }
    }

    fn decl(&mut self) -> Result<Decl, DagFileError> {
        let open = self.expect(TokenKind::Open, "'$('")?;
        let call = self.advance();
        if call.kind != TokenKind::Word("call".into()) {
            return Err(Self::unexpected(&call, "'call'"));
        }
        let func = self.advance();
        let kind = match &func.kind {
            TokenKind::Word(w) if w == "define_stage" => DeclKind::DefineStage,
            TokenKind::Word(w) if w == "dag_deps" => DeclKind::DagDeps,
            TokenKind::Word(w) => {
                return Err(DagFileError::at(
                    func.pos,
                    format!("unknown function '{w}'; expected 'define_stage' or 'dag_deps'"),
                ));
            }
            _ => return Err(Self::unexpected(&func, "'define_stage' or 'dag_deps'")),
        };
        self.expect(TokenKind::Comma, "',' after the function name")?;
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
        let close = self.advance();
        match close.kind {
            TokenKind::Close => {}
            TokenKind::Comma => {
                return Err(DagFileError::at(
                    close.pos,
                    "too many arguments: expected '$(call FUNC, NAMES, DEPS)'",
                ));
            }
            _ => return Err(Self::unexpected(&close, "')'")),
        }
        match kind {
            DeclKind::DefineStage if stages.is_empty() => {
                Err(DagFileError::at(func.pos, "define_stage needs a stage name"))
            }
            DeclKind::DefineStage if stages.len() > 1 => Err(DagFileError::at(
                stages[1].pos,
                format!(
                    "define_stage takes one stage name, found {}; put dependencies after the second ','",
                    stages.len()
                ),
            )),
            DeclKind::DagDeps if stages.is_empty() => {
                Err(DagFileError::at(func.pos, "dag_deps needs at least one dependent stage"))
            }
            _ => Ok(Decl { kind, pos: open.pos, stages, deps }),
        }
    }

    fn words(&mut self) -> Vec<Name> {
        let mut words = Vec::new();
        while let TokenKind::Word(w) = &self.peek().kind {
            words.push(Name { text: w.clone(), pos: self.peek().pos });
            self.advance();
        }
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (usize, usize, String) {
        let e = parse(text).unwrap_err();
        (e.pos.line, e.pos.col, e.message)
    }

    #[test]
    fn parses_both_forms_with_continuations_and_comments() {
        let text = "# top\n\n$(call define_stage, a, )\n$(call define_stage,b,a)\n  $(call define_stage, c, \\\n      a b)  # trailing\n$(call dag_deps, x y, a)\n$(call define_stage, d)\n";
        let decls = parse(text).unwrap();
        assert_eq!(decls.len(), 5);
        assert_eq!(decls[0].stages[0].text, "a");
        assert!(decls[0].deps.is_empty());
        assert_eq!(decls[2].deps.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(), ["a", "b"]);
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
        assert_eq!(err("$(call define_stage a, b)").1, 21);
        assert_eq!(err("$(call define_stage, a, b) x").1, 28);
        assert_eq!(err("$(call define_stage, a, $b)").1, 25);
        assert_eq!(err("$(call define_stage, a, b\\ c)").1, 26);
        assert_eq!(err("$(call define_stage, a, b/c)").1, 26);
        assert_eq!(err("$(call dag_deps, , b)").2, "dag_deps needs at least one dependent stage");
        assert_eq!(err("$(call define_stage, a, b").2, "expected ')', found end of file");
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
        if let Err(e) = parse(text) {
            let lines: Vec<&str> = text.split('\n').collect();
            assert!(e.pos.line >= 1 && e.pos.line <= lines.len(), "line {} outside input", e.pos.line);
            let width = lines[e.pos.line - 1].chars().count();
            assert!(e.pos.col >= 1 && e.pos.col <= width + 1, "col {} outside line of {width}", e.pos.col);
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
