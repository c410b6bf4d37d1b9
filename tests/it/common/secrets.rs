//! The one scan for secrets a run may have leaked: every file under the deployment dir
//! (`genfiles/` with `.betterform/`, `output/`, reports) and whatever was printed, for the
//! secret itself and the forms a program commonly prints it in.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// The files that may hold secrets in clear: sensitive outputs (0600, under GENFILES).
const ALLOWED: [&str; 1] = ["sensitive-outputs.json"];

fn percent(text: &str, keep: &[u8]) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `secret` as it is, base64, base64url, URL-encoded (strict and `encodeURIComponent`) and
/// JSON-escaped: (name, form). Unpadded base64 forms also find the padded ones.
pub fn forms(secret: &str) -> Vec<(&'static str, String)> {
    let json = serde_json::to_string(secret).unwrap();
    vec![
        ("plain", secret.to_string()),
        ("base64", STANDARD_NO_PAD.encode(secret)),
        ("base64url", URL_SAFE_NO_PAD.encode(secret)),
        ("url-encoded", percent(secret, b"")),
        ("encodeURIComponent", percent(secret, b"!'()*")),
        ("json-escaped", json[1..json.len() - 1].to_string()),
    ]
}

/// Every place under `deploy` (files, except [`ALLOWED`]) and in `printed` where `secret`
/// shows in any of its [`forms`], as `where: form`.
pub fn leaks(deploy: &Path, printed: &str, secret: &str) -> Vec<String> {
    let forms = forms(secret);
    let mut found = Vec::new();
    for (name, form) in &forms {
        if printed.contains(form.as_str()) {
            found.push(format!("stdout/stderr: {name}"));
        }
    }
    for entry in walkdir::WalkDir::new(deploy).into_iter().flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let file_name = entry.file_name().to_string_lossy();
        if ALLOWED.iter().any(|a| file_name == *a) {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        for (name, form) in &forms {
            if text.contains(form.as_str()) {
                found.push(format!("{}: {name}", entry.path().display()));
            }
        }
    }
    found
}

/// Fails listing every leak of `secret` (see [`leaks`]).
pub fn assert_no_leak(deploy: &Path, printed: &str, secret: &str) {
    let found = leaks(deploy, printed, secret);
    assert!(found.is_empty(), "the secret leaked:\n{}\n--- printed:\n{printed}", found.join("\n"));
}
