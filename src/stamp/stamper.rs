//! Stamping one stage: read its template dir, render every file in memory, and only when all
//! of them rendered, sync the result into `$GENFILES/<stage>` (all-or-nothing).

use std::path::Path;

use super::error::StampError;
use super::index::{self, Consumed, Seen, Stat};
use super::render::Renderer;
use super::scope::Upstream;
use super::sync::{Rendered, SyncReport, sync};
use super::tree::{self, Entry, Kind};
use crate::wave::Wave;

/// A stage template dir read into memory, its templates' syntax checked, and the stat of
/// everything read for it.
pub(crate) struct Template(Vec<Entry>, Vec<Seen>);

/// A stage rendered in memory, ready to be written, and what its templates read.
pub(crate) struct Image(Vec<Rendered>, Consumed);

/// A content hash of a tree read into memory (a step package, say).
pub(crate) fn digest_entries(entries: &[Entry]) -> String {
    digest(entries.iter().map(|e| (e.rel.as_path(), &e.kind)))
}

/// A content hash of entries: paths, kinds, modes, bytes, link targets.
fn digest<'a>(entries: impl Iterator<Item = (&'a Path, &'a Kind)>) -> String {
    let mut hasher = blake3::Hasher::new();
    for (rel, kind) in entries {
        let rel = rel.as_os_str().as_encoded_bytes();
        hasher.update(&(rel.len() as u64).to_le_bytes());
        hasher.update(rel);
        match kind {
            Kind::Dir { mode } => {
                hasher.update(b"d");
                hasher.update(&mode.to_le_bytes());
            }
            Kind::File { bytes, mode, render } => {
                hasher.update(if *render { b"f" } else { b"v" });
                hasher.update(&mode.to_le_bytes());
                hasher.update(&(bytes.len() as u64).to_le_bytes());
                hasher.update(bytes);
            }
            Kind::Symlink { target } => {
                let target = target.as_os_str().as_encoded_bytes();
                hasher.update(b"l");
                hasher.update(&(target.len() as u64).to_le_bytes());
                hasher.update(target);
            }
        }
    }
    hasher.finalize().to_hex().to_string()
}

impl Template {
    /// A content hash of the template dir itself (sources, not renders): tells "the templates
    /// changed" apart from "what they read changed".
    pub(crate) fn digest(&self) -> String {
        digest_entries(&self.0)
    }
}

impl Image {
    /// The rendered bytes of the file at `rel`, if the image has one.
    pub(crate) fn file(&self, rel: &str) -> Option<&[u8]> {
        self.0.iter().find(|e| e.rel == Path::new(rel)).and_then(|e| match &e.kind {
            Kind::File { bytes, .. } => Some(bytes.as_slice()),
            _ => None,
        })
    }

    /// A content hash of everything the stamped dir will hold. Two renders with the same hash
    /// stamp byte-identical dirs.
    pub(crate) fn digest(&self) -> String {
        digest(self.0.iter().map(|e| (e.rel.as_path(), &e.kind)))
    }

    /// Paths whose stamped version in `dest` differs from this render (changed, new, or
    /// gone from the template), for telling the user why a stage runs.
    pub(crate) fn changes(&self, dest: &Path) -> Vec<String> {
        let mut changed = Vec::new();
        for entry in &self.0 {
            let target = dest.join(&entry.rel);
            let same = match &entry.kind {
                Kind::Dir { .. } => target.is_dir(),
                Kind::File { bytes, mode, .. } => {
                    crate::fsutil::holds(&target, bytes, Some(*mode)).unwrap_or(false)
                }
                Kind::Symlink { target: link } => std::fs::read_link(&target).is_ok_and(|l| l == *link),
            };
            if !same {
                let suffix = if target.exists() { "" } else { " (new)" };
                changed.push(format!("{}{suffix}", entry.rel.display()));
            }
        }
        changed
    }
}

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

/// A stage's rendered `step.json` binds a step's inputs, and a template expression may have
/// written a secret into it (`{{ env.TOKEN }}`): it is stamped readable by its owner only.
pub(crate) const PRIVATE_STAMPS: [&str; 1] = ["step.json"];

fn stamped_mode(rel: &Path, mode: u32) -> u32 {
    if PRIVATE_STAMPS.iter().any(|p| rel == Path::new(p)) { mode & 0o700 | 0o600 } else { mode }
}

impl Stamper<'_> {
    /// Reads the template dir of `stage` and parses every template in it, reporting all
    /// syntax errors (nothing is rendered).
    pub(crate) fn load(&self, stage: &str) -> Result<Template, StampError> {
        let root = self.wave.template_dir(stage);
        let (entries, seen) = tree::read_seen(&root)?;
        let mut errors = Vec::new();
        for entry in &entries {
            if let Some(text) = template_text(&entry.kind)
                && let Err(e) = self.renderer.check(&root.join(&entry.rel), text)
            {
                errors.push(e);
            }
        }
        match errors.len() {
            0 => Ok(Template(entries, seen)),
            1 => Err(errors.pop().expect("one error")),
            _ => Err(StampError::Many(errors)),
        }
    }

    /// Renders a loaded template of `stage` in memory: nothing is written until
    /// [`Stamper::write`].
    /// `upstream`: the stages `stage` depends on, whose outputs its templates may read.
    pub(crate) fn render(
        &self,
        stage: &str,
        template: &Template,
        upstream: impl Into<Upstream>,
    ) -> Result<Image, StampError> {
        let root = self.wave.template_dir(stage);
        let (ctx, scope) = self.renderer.context(stage, upstream, false);
        let mut image = Vec::new();
        for entry in &template.0 {
            let kind = match template_text(&entry.kind) {
                Some(text) => {
                    let rendered = self.renderer.render(&root.join(&entry.rel), text, &ctx)?;
                    let Kind::File { mode, .. } = entry.kind else { unreachable!("text is a file") };
                    Kind::File {
                        bytes: rendered.into_bytes(),
                        mode: stamped_mode(&entry.rel, mode),
                        render: true,
                    }
                }
                None => entry.kind.clone(),
            };
            image.push(Rendered { rel: entry.rel.clone(), kind });
        }
        let consumed = std::mem::take(&mut *scope.consumed.lock().expect("no panics while holding the lock"));
        Ok(Image(image, consumed))
    }

    /// The proof render of every template file of `stage`, before anything runs, upstream
    /// outputs stood in for: every error no upstream output can change (see `scope`).
    pub(crate) fn prove(
        &self,
        stage: &str,
        template: &Template,
        upstream: impl Into<Upstream>,
    ) -> Vec<StampError> {
        let root = self.wave.template_dir(stage);
        let (ctx, scope) = self.renderer.context(stage, upstream, true);
        template
            .0
            .iter()
            .filter_map(|entry| {
                let text = template_text(&entry.kind)?;
                self.renderer.prove(&root.join(&entry.rel), text, &ctx, &scope)
            })
            .collect()
    }

    /// Syncs a rendered image into the stage's stamped dir.
    pub(crate) fn write(&self, stage: &str, image: &Image) -> Result<SyncReport, StampError> {
        let manifest = self.manifest_path(stage);
        sync(&image.0, &self.wave.stage_dir(stage), &manifest)
    }

    /// The stat index entry of a render of `stage` just written with [`Stamper::write`]:
    /// `key`, its image's digest `stamp`, and what it consumed: the template dir, the files its
    /// templates read, the stamped dir.
    pub(crate) fn index_entry(
        &self,
        stage: &str,
        (key, stamp, kind): (String, String, usize),
        (template, image): (&Template, &Image),
    ) -> index::Entry {
        let dest = self.wave.stage_dir(stage);
        let stamped =
            std::iter::once(dest.clone()).chain(image.0.iter().map(|e| dest.join(&e.rel))).map(|path| {
                let stat = Stat::at(&path);
                (path, stat)
            });
        let files = template.1.iter().chain(&image.1.files).cloned().chain(stamped).collect();
        let vars = self.renderer.env();
        let env = image
            .1
            .env
            .iter()
            .map(|name| (name.clone(), vars.get(name).map(|v| index::value_digest(v))))
            .collect();
        let all_env = image.1.all_env.then(|| index::env_digest(vars));
        index::Entry { key, stamp, kind, dirs: [self.wave.template_dir(stage), dest], files, env, all_env }
    }

    fn manifest_path(&self, stage: &str) -> std::path::PathBuf {
        self.wave.state_dir().join("stamps").join(format!("{stage}.json"))
    }
}
