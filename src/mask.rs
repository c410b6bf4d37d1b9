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
    drop(secrets);
    let groups = GROUPS.read().unwrap_or_else(|e| e.into_inner());
    if groups.is_empty() {
        return out;
    }
    match mask_fingerprinted(&out, &groups) {
        Some(masked) => Cow::Owned(masked),
        None => out,
    }
}

// Fingerprints: a secret a step announced with a `mask` message can be neither derived again
// nor stored, yet a later run must mask it too. What is kept (0600, under GENFILES) is its
// fingerprint: its length, a salted BLAKE3 hash, and 20 bits of a salted rolling hash that
// finds candidate windows in a line cheaply (too few bits to tell the secret, however short).

/// How many bits of the rolling hash a fingerprint keeps.
const ROLL_BITS: u32 = 20;

/// A secret known by its fingerprint only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Fingerprint {
    /// Its length in bytes.
    pub(crate) len: usize,
    /// BLAKE3 of the salt and the secret, hex.
    pub(crate) hash: String,
    /// The low [`ROLL_BITS`] bits of its salted rolling hash.
    pub(crate) roll: u32,
}

/// Fingerprints with one salt and one length, ready to scan lines.
struct Group {
    salt: Vec<u8>,
    len: usize,
    base: u64,
    rolls: std::collections::HashSet<u32>,
    hashes: std::collections::HashSet<String>,
}

static GROUPS: RwLock<Vec<Group>> = RwLock::new(Vec::new());

/// The rolling hash's base for `salt`: odd, so every power of it is too.
fn base_of(salt: &[u8]) -> u64 {
    let digest = blake3::hash(salt);
    let bytes: [u8; 8] = digest.as_bytes()[..8].try_into().expect("8 bytes");
    u64::from_le_bytes(bytes) | 1
}

fn roll(bytes: &[u8], base: u64) -> u64 {
    bytes.iter().fold(0u64, |h, &b| h.wrapping_mul(base).wrapping_add(u64::from(b) + 1))
}

fn salted_hash(salt: &[u8], bytes: &[u8]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&(salt.len() as u64).to_le_bytes());
    hasher.update(salt);
    hasher.update(bytes);
    hasher.finalize().to_hex().to_string()
}

/// The fingerprints of `secret`, its lines and its [`encodings`], under `salt`.
pub(crate) fn fingerprints(secret: &str, salt: &[u8]) -> Vec<Fingerprint> {
    let base = base_of(salt);
    let mut forms: Vec<String> = vec![secret.to_string()];
    if secret.contains('\n') {
        forms.extend(secret.lines().map(|l| l.trim_end_matches('\r').to_string()));
    }
    forms.extend(encodings(secret));
    forms.retain(|f| !f.trim().is_empty());
    forms.sort();
    forms.dedup();
    forms
        .iter()
        .map(|f| Fingerprint {
            len: f.len(),
            hash: salted_hash(salt, f.as_bytes()),
            roll: (roll(f.as_bytes(), base) & ((1 << ROLL_BITS) - 1)) as u32,
        })
        .collect()
}

/// Registers secrets known by their fingerprints (under `salt`) to be masked from now on.
pub(crate) fn add_fingerprints(salt: &[u8], prints: &[Fingerprint]) {
    let mut groups = GROUPS.write().unwrap_or_else(|e| e.into_inner());
    for print in prints.iter().filter(|p| p.len > 0) {
        let at = groups.iter().position(|g| g.salt == salt && g.len == print.len);
        let group = match at {
            Some(i) => &mut groups[i],
            None => {
                groups.push(Group {
                    salt: salt.to_vec(),
                    len: print.len,
                    base: base_of(salt),
                    rolls: Default::default(),
                    hashes: Default::default(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        group.rolls.insert(print.roll);
        group.hashes.insert(print.hash.clone());
    }
    // Longest first, so a secret containing another is masked whole.
    groups.sort_by_key(|g| std::cmp::Reverse(g.len));
    ANY.store(true, Ordering::Release);
}

/// `text` with every window matching a fingerprint masked, or `None` if none matches.
fn mask_fingerprinted(text: &str, groups: &[Group]) -> Option<String> {
    let mut out = text.to_string();
    let mut changed = false;
    for group in groups {
        let bytes = out.as_bytes();
        if group.len > bytes.len() {
            continue;
        }
        let low = (1u64 << ROLL_BITS) - 1;
        let top = (0..group.len).fold(1u64, |p, _| p.wrapping_mul(group.base));
        let mut h = roll(&bytes[..group.len], group.base);
        let mut hits = Vec::new();
        let mut start = 0;
        loop {
            let end = start + group.len;
            if group.rolls.contains(&((h & low) as u32))
                && out.is_char_boundary(start)
                && out.is_char_boundary(end)
                && group.hashes.contains(&salted_hash(&group.salt, &bytes[start..end]))
                && hits.last().is_none_or(|&(_, e)| e <= start)
            {
                hits.push((start, end));
            }
            if end == bytes.len() {
                break;
            }
            h = h
                .wrapping_mul(group.base)
                .wrapping_add(u64::from(bytes[end]) + 1)
                .wrapping_sub((u64::from(bytes[start]) + 1).wrapping_mul(top));
            start += 1;
        }
        if hits.is_empty() {
            continue;
        }
        let mut masked = String::with_capacity(out.len());
        let mut at = 0;
        for (s, e) in hits {
            masked.push_str(&out[at..s]);
            masked.push_str(MASK);
            at = e;
        }
        masked.push_str(&out[at..]);
        out = masked;
        changed = true;
    }
    changed.then_some(out)
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
    fn a_secret_known_by_its_fingerprint_is_masked_without_being_kept() {
        let salt = b"salt-for-this-test";
        let prints = fingerprints("fp-s3cret-91", salt);
        let kept = serde_json::to_string(&prints).unwrap();
        assert!(!kept.contains("fp-s3cret-91") && !kept.contains("ZnAtczNjcmV0LTkx"), "{kept}");
        assert_eq!(mask("x fp-s3cret-91 y"), "x fp-s3cret-91 y");
        add_fingerprints(salt, &prints);
        assert_eq!(mask("x fp-s3cret-91 y fp-s3cret-91"), format!("x {MASK} y {MASK}"));
        assert_eq!(mask("fp-s3cret-91"), MASK);
        assert_eq!(mask("é fp-s3cret-91é"), format!("é {MASK}é"));
        // Its encodings too; a near miss is not masked.
        assert_eq!(mask("ZnAtczNjcmV0LTkx"), MASK);
        assert_eq!(mask("fp-s3cret-92"), "fp-s3cret-92");
        // Under another salt the same fingerprints mean nothing.
        assert_ne!(fingerprints("fp-s3cret-91", b"other"), prints);
    }

    #[test]
    fn blank_secrets_are_ignored() {
        add("   ");
        assert_eq!(mask("a   b"), "a   b");
    }
}
