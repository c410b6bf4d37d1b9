//! Secret masking. Every value betterform learns is secret (a sensitive step input, a
//! sensitive output variable, a step's `mask` message) is registered here and replaced by
//! [`MASK`] in everything betterform prints or logs from then on, for every stage of the run.
//!
//! The registry is process-wide on purpose: one process is one run, and a secret must not
//! escape through a path someone forgot to thread a masker through. Output choke points
//! (stage log lines, reporter lines and notes, failure reasons, error messages) call [`mask`].

use std::borrow::Cow;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a secret is replaced with.
pub(crate) const MASK: &str = "********";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
/// Lets the common case (no secrets at all) skip the lock.
static ANY: AtomicBool = AtomicBool::new(false);

/// Registers `secret` (and each line of a multi-line secret, since output is masked line by
/// line) to be masked from now on. Blank values are ignored: masking them would blank out
/// every line without protecting anything.
pub(crate) fn add(secret: &str) {
    let mut pieces: Vec<&str> = vec![secret];
    if secret.contains('\n') {
        pieces.extend(secret.lines().map(|l| l.trim_end_matches('\r')));
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for piece in pieces {
        if piece.trim().is_empty() || secrets.iter().any(|s| s == piece) {
            continue;
        }
        secrets.push(piece.to_string());
    }
    // Longest first, so a secret containing another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    ANY.store(!secrets.is_empty(), Ordering::Release);
}

/// `text` with every registered secret replaced by [`MASK`].
pub(crate) fn mask(text: &str) -> Cow<'_, str> {
    if !ANY.load(Ordering::Acquire) {
        return Cow::Borrowed(text);
    }
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide; each test uses values no other test registers.

    #[test]
    fn registered_secrets_are_masked_everywhere_in_a_line() {
        assert_eq!(mask("token=tok-3f9a1 and tok-3f9a1"), "token=tok-3f9a1 and tok-3f9a1");
        add("tok-3f9a1");
        assert_eq!(mask("token=tok-3f9a1 and tok-3f9a1"), format!("token={MASK} and {MASK}"));
        assert_eq!(mask("nothing here"), "nothing here");
    }

    #[test]
    fn a_longer_secret_containing_a_shorter_one_is_masked_whole() {
        add("pw-77");
        add("pw-77-extended");
        assert_eq!(mask("x pw-77-extended y"), format!("x {MASK} y"));
    }

    #[test]
    fn each_line_of_a_multi_line_secret_is_masked() {
        add("-----BEGIN KEY-----\nc2VjcmV0LWtleS1ib2R5\n-----END KEY-----");
        assert_eq!(mask("c2VjcmV0LWtleS1ib2R5"), MASK);
    }

    #[test]
    fn blank_secrets_are_ignored() {
        add("   ");
        assert_eq!(mask("a   b"), "a   b");
    }
}
