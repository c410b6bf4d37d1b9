//! Turns the text of `betterform_dag.mk` into tokens with 1-based line/column positions.
//!
//! The file looks like make but is never evaluated as make: the lexer knows only the handful
//! of tokens the two accepted call forms need, and everything else is an error at its position.

use super::error::{DagFileError, Pos};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// `$(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// A bare word: `call`, `define_stage`, a stage name.
    Word(String),
    /// End of a logical line (after `\` continuations are joined).
    Newline,
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) pos: Pos,
}

impl TokenKind {
    pub(crate) fn describe(&self) -> String {
        match self {
            TokenKind::Open => "'$('".to_string(),
            TokenKind::Close => "')'".to_string(),
            TokenKind::Comma => "','".to_string(),
            TokenKind::Word(w) => format!("'{w}'"),
            TokenKind::Newline => "end of line".to_string(),
            TokenKind::Eof => "end of file".to_string(),
        }
    }
}

/// Characters allowed in a word. Stage names become directory names, so this is deliberately
/// narrower than what make accepts.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

pub(crate) fn lex(text: &str) -> Result<Vec<Token>, DagFileError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        match c {
            '\n' => {
                tokens.push(Token { kind: TokenKind::Newline, pos });
                i += 1;
                line += 1;
                col = 1;
            }
            ' ' | '\t' | '\r' => {
                i += 1;
                col += 1;
            }
            '#' => {
                // A comment runs to the end of the line; as in make, a trailing `\` continues it.
                while i < chars.len() && chars[i] != '\n' {
                    if chars[i] == '\\' && chars.get(i + 1) == Some(&'\n') {
                        i += 2;
                        line += 1;
                        col = 1;
                        continue;
                    }
                    i += 1;
                    col += 1;
                }
            }
            '\\' => match chars.get(i + 1) {
                Some('\n') => {
                    i += 2;
                    line += 1;
                    col = 1;
                }
                Some('\r') if chars.get(i + 2) == Some(&'\n') => {
                    i += 3;
                    line += 1;
                    col = 1;
                }
                None => {
                    // A continuation at the very end of the file joins nothing; harmless.
                    i += 1;
                }
                Some(_) => {
                    return Err(DagFileError::at(
                        pos,
                        "'\\' must be the last character of a line (line continuation)",
                    ));
                }
            },
            '$' => {
                if chars.get(i + 1) == Some(&'(') {
                    tokens.push(Token { kind: TokenKind::Open, pos });
                    i += 2;
                    col += 2;
                } else {
                    return Err(DagFileError::at(
                        pos,
                        "expected '$(call define_stage, NAME, DEPS)'; a lone '$' is not allowed",
                    ));
                }
            }
            ')' => {
                tokens.push(Token { kind: TokenKind::Close, pos });
                i += 1;
                col += 1;
            }
            ',' => {
                tokens.push(Token { kind: TokenKind::Comma, pos });
                i += 1;
                col += 1;
            }
            c if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                    col += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(Token { kind: TokenKind::Word(word), pos });
            }
            other => {
                return Err(DagFileError::at(
                    pos,
                    format!(
                        "unexpected character {other:?}; stage names may contain letters, digits, '_', '-' and '.'"
                    ),
                ));
            }
        }
    }
    tokens.push(Token { kind: TokenKind::Eof, pos: Pos { line, col } });
    Ok(tokens)
}
