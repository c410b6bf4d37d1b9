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

/// Secrets shorter than this are masked as they are, not in their encodings too: the base64
/// of `ab` (`YWI=`) is too likely to be something else.
const MIN_ENCODED: usize = 4;

/// `text` percent-encoded: every byte but the unreserved ones (RFC 3986) as `%XX`; `keep` are
/// more bytes left as they are, and with `plus` a space is `+` (HTML forms).
fn percent_encode(text: &str, keep: &[u8], plus: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else if plus && b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The forms a secret commonly takes when a program prints it encoded: base64 (padded or
/// not), base64url, URL-encoded (strict, JavaScript's `encodeURIComponent`, form), and
/// JSON-escaped (a string's body inside JSON). GitHub's runner masks the same forms.
pub(crate) fn encodings(secret: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    if secret.chars().count() < MIN_ENCODED {
        return Vec::new();
    }
    let json = serde_json::to_string(secret).expect("strings serialize");
    let mut forms = vec![
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        percent_encode(secret, b"", false),
        percent_encode(secret, b"!'()*", false),
        percent_encode(secret, b"", true),
        json[1..json.len() - 1].to_string(),
    ];
    forms.sort();
    forms.dedup();
    forms.retain(|f| f != secret);
    forms
}

/// Registers `secret` (and each line of a multi-line secret, since output is masked line by
/// line), and its [`encodings`], to be masked from now on. Blank values are ignored: masking
/// them would blank out every line without protecting anything.
pub(crate) fn add(secret: &str) {
    let mut pieces: Vec<String> = vec![secret.to_string()];
    if secret.contains('\n') {
        pieces.extend(secret.lines().map(|l| l.trim_end_matches('\r').to_string()));
    }
    pieces.extend(encodings(secret));
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for piece in pieces {
        if piece.trim().is_empty() || secrets.contains(&piece) {
            continue;
        }
        secrets.push(piece);
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
    fn the_common_encodings_of_a_secret_are_masked_too() {
        let secret = "pa ss/+?>\"w\\d";
        add(secret);
        for form in [
            "cGEgc3MvKz8+IndcZA==",        // base64
            "cGEgc3MvKz8-IndcZA",          // base64url, no padding
            "pa%20ss%2F%2B%3F%3E%22w%5Cd", // URL-encoded
            "pa+ss%2F%2B%3F%3E%22w%5Cd",   // form-encoded
            "pa ss/+?>\\\"w\\\\d",         // JSON-escaped
        ] {
            assert_eq!(mask(&format!("[{form}]")), format!("[{MASK}]"), "{form}");
        }
        // Too short to mask in encoded forms.
        assert!(encodings("abc").is_empty());
    }

    #[test]
    fn blank_secrets_are_ignored() {
        add("   ");
        assert_eq!(mask("a   b"), "a   b");
    }
}
