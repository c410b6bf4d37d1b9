//! Stamping one stage: read its template dir, render every file in memory, and only when all
//! of them rendered, sync the result into `$GENFILES/<stage>` (all-or-nothing).

use super::error::StampError;
use super::render::Renderer;
use super::sync::{Rendered, SyncReport, sync};
use super::tree::{self, Kind};
use crate::wave::Wave;

pub(crate) struct Stamper<'a> {
    pub(crate) renderer: Renderer,
    pub(crate) wave: &'a Wave,
}

/// A file's text if it is to be rendered: listed as verbatim or not UTF-8 means `None`.
fn template_text(kind: &Kind) -> Option<&str> {
    match kind {
        Kind::File { bytes, render: true, .. } => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

impl Stamper<'_> {
    /// Parses every template of `stage`, reporting all syntax errors (none are rendered).
    pub(crate) fn check_syntax(&self, stage: &str) -> Result<(), StampError> {
        let root = self.wave.template_dir(stage);
        let mut errors = Vec::new();
        for entry in tree::read(&root)? {
            if let Some(text) = template_text(&entry.kind)
                && let Err(e) = self.renderer.check(&root.join(&entry.rel), text)
            {
                errors.push(e);
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.pop().expect("one error")),
            _ => Err(StampError::Many(errors)),
        }
    }

    /// Renders `stage` and syncs it into its stamped dir.
    pub(crate) fn stamp(&self, stage: &str) -> Result<SyncReport, StampError> {
        let root = self.wave.template_dir(stage);
        let mut image = Vec::new();
        for entry in tree::read(&root)? {
            let kind = match template_text(&entry.kind) {
                Some(text) => {
                    let rendered = self.renderer.render(&root.join(&entry.rel), text, stage)?;
                    let Kind::File { mode, .. } = entry.kind else { unreachable!("text is a file") };
                    Kind::File { bytes: rendered.into_bytes(), mode, render: true }
                }
                None => entry.kind,
            };
            image.push(Rendered { rel: entry.rel, kind });
        }
        let manifest = self.manifest_path(stage);
        sync(&image, &self.wave.stage_dir(stage), &manifest)
    }

    fn manifest_path(&self, stage: &str) -> std::path::PathBuf {
        self.wave.state_dir().join("stamps").join(format!("{stage}.json"))
    }
}
