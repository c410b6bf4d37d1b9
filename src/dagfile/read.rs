//! Reading `betterform_dag.mk` from disk.
//!
//! The file must be a regular file of UTF-8 text. A FIFO or device is refused without reading
//! it (reading a FIFO would block `validate` and `up` until something wrote to it), and bytes
//! that are not UTF-8 are reported at their line and column like any other error in the file,
//! not as an I/O error about the whole stream.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::error::{DagError, DagFileError, Pos};
use crate::fsutil;

/// Why the DAG file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// Missing, unreadable or not a regular file: nothing inside it to point at.
    #[error("{}", unreadable(path, source))]
    Unreadable { path: PathBuf, source: std::io::Error },
    /// Read, but not UTF-8: positioned at the first bad byte.
    #[error(transparent)]
    Invalid(#[from] DagError),
}

fn unreadable(path: &Path, source: &std::io::Error) -> String {
    match source.kind() {
        ErrorKind::NotFound => {
            format!("cannot read {}: {source}; the impl dir must hold the DAG file", path.display())
        }
        _ => format!("cannot read {}: {source}", path.display()),
    }
}

/// The text of the DAG file at `path`.
pub(crate) fn read(path: &Path) -> Result<String, ReadError> {
    let bytes = fsutil::read_regular(path)
        .map_err(|source| ReadError::Unreadable { path: path.to_path_buf(), source })?;
    Ok(decode(path, bytes)?)
}

/// `bytes` as text, or an error at the first byte that is not UTF-8. Columns count
/// characters, as the lexer's do.
fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, DagError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let valid = &bytes[..e.utf8_error().valid_up_to()];
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        let col = 1 + String::from_utf8_lossy(&valid[line_start..]).chars().count();
        let bad = bytes[valid.len()];
        DagError {
            path: path.to_path_buf(),
            errors: vec![DagFileError::at(
                Pos { line, col },
                format!("not valid UTF-8 (byte {bad:#04x}); the DAG file must be UTF-8 text"),
            )],
            // Shown with the bad bytes replaced (U+FFFD), so the caret still points at them.
            text: Some(String::from_utf8_lossy(bytes).into_owned()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_bytes(bytes: &[u8]) -> Result<String, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("betterform_dag.mk");
        std::fs::write(&path, bytes).unwrap();
        // The first line: the snippet below it is the diagnostic's business.
        read(&path).map_err(|e| {
            let text = e.to_string().replace(&dir.path().display().to_string(), "IMPL");
            text.lines().next().unwrap_or_default().to_string()
        })
    }

    #[test]
    fn utf8_text_is_read_whole() {
        assert_eq!(
            read_bytes("# café\n$(call define_stage, a, )\n".as_bytes()).unwrap(),
            "# café\n$(call define_stage, a, )\n"
        );
    }

    #[test]
    fn the_first_byte_that_is_not_utf8_is_reported_at_its_line_and_column() {
        // Line 2 starts with a two-byte 'é' (one column): the bad byte is at column 3, not 4.
        assert_eq!(
            read_bytes(b"$(call define_stage, a, )\n\xc3\xa9x\xff\xfe\n\xff").unwrap_err(),
            "IMPL/betterform_dag.mk:2:3: not valid UTF-8 (byte 0xff); the DAG file must be UTF-8 text"
        );
        // A truncated multi-byte sequence is reported at its first byte.
        assert_eq!(
            read_bytes(b"ab\xe2\x82").unwrap_err(),
            "IMPL/betterform_dag.mk:1:3: not valid UTF-8 (byte 0xe2); the DAG file must be UTF-8 text"
        );
    }

    #[test]
    fn a_missing_file_or_a_fifo_says_what_is_wrong_with_the_dag_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("betterform_dag.mk");
        let missing = read(&path).unwrap_err().to_string();
        assert!(missing.starts_with(&format!("cannot read {}: ", path.display())), "{missing}");
        assert!(missing.ends_with("; the impl dir must hold the DAG file"), "{missing}");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        assert_eq!(
            read(&path).unwrap_err().to_string(),
            format!("cannot read {}: it is a FIFO, not a regular file", path.display())
        );
    }
}
