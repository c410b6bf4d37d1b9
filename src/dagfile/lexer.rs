//! Turns the text of `betterform_dag.mk` into tokens with 1-based line/column positions.
//!
//! The file looks like make but is never evaluated as make: the lexer knows only the handful
//! of tokens the two accepted call forms need, and everything else is an error at its position.
//!
//! The lexer never stops at an error: it emits a [`TokenKind::Bad`] token carrying the message
//! and skips to the end of the logical line, so the parser reports it in order with its own
//! errors and goes on with the next line. Skipping the rest of the line (rather than just the
//! bad character) keeps one mistake from being reported again as the parser's "expected ')'".

use super::error::{Pos, not_make, shorten};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind<'a> {
    /// `$(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// A bare word: `call`, `define_stage`, a stage name (a slice of the text: a word never
    /// spans a line).
    Word(&'a str),
    /// Text the lexer could not read, with the message saying why; the rest of its logical
    /// line was skipped.
    Bad(String),
    /// End of a logical line (after `\` continuations are joined).
    Newline,
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) kind: TokenKind<'a>,
    pub(crate) pos: Pos,
}

impl TokenKind<'_> {
    pub(crate) fn describe(&self) -> String {
        match self {
            TokenKind::Open => "'$('".to_string(),
            TokenKind::Close => "')'".to_string(),
            TokenKind::Comma => "','".to_string(),
            TokenKind::Word(w) => format!("'{}'", shorten(w)),
            TokenKind::Bad(message) => message.clone(),
            TokenKind::Newline => "end of line".to_string(),
            TokenKind::Eof => "end of file".to_string(),
        }
    }
}

/// Characters allowed in a word. Stage names become directory names, so this is deliberately
/// narrower than what make accepts. All of them are ASCII, so a word is also a run of bytes.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

pub(crate) fn lex(text: &str) -> Vec<Token<'_>> {
    let mut lexer = Lexer { text, at: 0, line: 1, col: 1, tokens: Vec::new() };
    lexer.run();
    lexer.tokens
}

struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next character (columns count characters, not bytes).
    at: usize,
    line: usize,
    col: usize,
    tokens: Vec<Token<'a>>,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn push(&mut self, kind: TokenKind<'a>, pos: Pos) {
        self.tokens.push(Token { kind, pos });
    }

    /// Moves past `c`, which is not a newline.
    fn bump(&mut self, c: char) {
        self.at += c.len_utf8();
        self.col += 1;
    }

    /// Moves past `bytes` bytes that end a physical line.
    fn next_line(&mut self, bytes: usize) {
        self.at += bytes;
        self.line += 1;
        self.col = 1;
    }

    /// The length of the line continuation (`\` ending a line) the rest starts with, if any.
    fn continuation(&self) -> Option<usize> {
        let rest = self.rest();
        if rest.starts_with("\\\n") {
            Some(2)
        } else if rest.starts_with("\\\r\n") {
            Some(3)
        } else {
            None
        }
    }

    fn run(&mut self) {
        while let Some(c) = self.rest().chars().next() {
            let pos = self.pos();
            match c {
                '\n' => {
                    self.push(TokenKind::Newline, pos);
                    self.next_line(1);
                }
                ' ' | '\t' | '\r' => self.bump(c),
                '#' => self.comment(),
                '\\' => match self.continuation() {
                    Some(len) => self.next_line(len),
                    // A continuation at the very end of the file joins nothing; harmless.
                    None if self.rest().len() == 1 => self.bump(c),
                    None => self.bad(pos, "'\\' must be the last character of a line (line continuation)"),
                },
                '$' => {
                    if self.rest().starts_with("$(") {
                        self.push(TokenKind::Open, pos);
                        self.at += 2;
                        self.col += 2;
                    } else {
                        self.bad(pos, "expected '$(call define_stage, NAME, DEPS)'; a lone '$' is not allowed");
                    }
                }
                ')' | ',' => {
                    self.push(if c == ')' { TokenKind::Close } else { TokenKind::Comma }, pos);
                    self.bump(c);
                }
                c if is_word_char(c) => {
                    let len = self.rest().bytes().take_while(|&b| is_word_char(char::from(b))).count();
                    let word = &self.rest()[..len];
                    self.at += len;
                    self.col += len;
                    self.push(TokenKind::Word(word), pos);
                }
                ':' | '=' | '?' | '+' | '!' if self.line_is_words() => {
                    let first = self.line_words().next().unwrap_or_default();
                    let rest = self.rest();
                    let op = ["::=", ":=", "=", "?=", "+=", "!="].into_iter().find(|op| rest.starts_with(op));
                    let what = if let Some(op) = op {
                        format!("the make variable assignment '{} {op} …'", shorten(first))
                    } else {
                        format!("the make rule '{}: …'", shorten(first))
                    };
                    let mut message = not_make(&what);
                    // `final: a b` means what `$(call define_stage, final, a b)` says.
                    let prerequisites = rest[1..].split(['\n', '#']).next().unwrap_or_default();
                    let words: Vec<&str> = prerequisites.split_whitespace().collect();
                    if op.is_none()
                        && self.line_words().count() == 1
                        && words.iter().all(|w| w.chars().all(is_word_char))
                    {
                        message = format!(
                            "{message}; this line would be `$(call define_stage, {}, {})`",
                            shorten(first),
                            shorten(&words.join(" "))
                        );
                    }
                    self.bad(pos, message);
                }
                other => self.bad(
                    pos,
                    format!(
                        "unexpected character {other:?}; stage names may contain letters, digits, '_', '-' and '.'"
                    ),
                ),
            }
        }
        let pos = self.pos();
        self.push(TokenKind::Eof, pos);
    }

    /// Whether the logical line so far is one or more words: `NET := a b` or `all: up` are then
    /// make, not a misplaced character.
    fn line_is_words(&self) -> bool {
        let line = self.tokens.iter().rev().take_while(|t| t.kind != TokenKind::Newline);
        let mut any = false;
        for token in line {
            if !matches!(token.kind, TokenKind::Word(_)) {
                return false;
            }
            any = true;
        }
        any
    }

    /// The words of the logical line so far, first first.
    fn line_words(&self) -> impl Iterator<Item = &'a str> + '_ {
        let count = self.tokens.iter().rev().take_while(|t| t.kind != TokenKind::Newline).count();
        self.tokens[self.tokens.len() - count..].iter().filter_map(|t| match &t.kind {
            TokenKind::Word(w) => Some(*w),
            _ => None,
        })
    }

    /// A comment runs to the end of the line; as in make, a trailing `\` continues it.
    fn comment(&mut self) {
        loop {
            if self.rest().starts_with("\\\n") {
                self.next_line(2);
                continue;
            }
            match self.rest().chars().next() {
                None | Some('\n') => return,
                Some(c) => self.bump(c),
            }
        }
    }

    /// Reports `message` at `pos` and skips the rest of the logical line (continuations
    /// included, as they belong to the same declaration), leaving its newline to be lexed.
    fn bad(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(TokenKind::Bad(message.into()), pos);
        loop {
            if let Some(len) = self.continuation() {
                self.next_line(len);
                continue;
            }
            match self.rest().chars().next() {
                None | Some('\n') => return,
                Some(c) => self.bump(c),
            }
        }
    }
}
