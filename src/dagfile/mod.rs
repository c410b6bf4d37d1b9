//! `betterform_dag.mk`: a hand-written lexer and parser with positions, never evaluated as make.

mod error;
mod lexer;
mod parser;
mod read;

pub(crate) use error::shorten;
pub use error::{DagError, DagFileError, Pos};
pub use parser::{Decl, DeclKind, Name, parse};
pub(crate) use read::{ReadError, read};
