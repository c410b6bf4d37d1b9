//! Colour for outcomes on a terminal, never in files or pipes. `--color auto` (the default)
//! colours when stderr is a terminal and `TERM` is not `dumb`; `NO_COLOR` (any value) turns
//! it off, `CLICOLOR_FORCE`/`FORCE_COLOR` (not `0`) on even off a terminal; `--color
//! always|never` wins over all of them. Decided once per process.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// What a piece of text says, which decides its colour.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tone {
    /// Ran, done.
    Good,
    /// Failed, an error.
    Bad,
    /// Interrupted, waiting.
    Warn,
    /// Not run, skipped.
    Dim,
}

/// Decides whether to colour: `choice` is `--color` (`None`: auto).
pub(crate) fn init(choice: Option<bool>) {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    let enabled = choice.unwrap_or_else(|| {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            false
        } else if set("CLICOLOR_FORCE") || set("FORCE_COLOR") {
            true
        } else {
            std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    });
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// `text` in the colour of `tone`, when colour is on.
pub(crate) fn paint(text: &str, tone: Tone) -> String {
    if !ENABLED.load(Ordering::Relaxed) {
        return text.to_string();
    }
    let code = match tone {
        Tone::Good => "32",
        Tone::Bad => "1;31",
        Tone::Warn => "33",
        Tone::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}
