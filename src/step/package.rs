//! Packages: a directory, `.zip` or `.tar.gz` read into memory (entries that would escape
//! the extraction dir are refused), hashed, and written out ("extracted") in one piece.
//! A step package is a package with a `metadata.json` and an `inputs.json`.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::error::StepError;
use crate::stamp::{Entry, Kind, digest_entries, read_tree};

/// More than this many bytes unpacked is refused (a zip bomb, or not a step's package).
const MAX_UNPACKED: u64 = 2 << 30;

/// A package's files, in memory, sorted by path.
pub(crate) struct Tree {
    pub(crate) source: PathBuf,
    pub(crate) entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Launcher {
    Node,
    Exec,
}

impl Launcher {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Launcher::Node => "node",
            Launcher::Exec => "exec",
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawMetadata {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    version: Option<String>,
    launcher: Option<String>,
    #[serde(rename = "entryPoint")]
    entry_point: Option<String>,
    /// A step's: the id of the deployment-target package it deploys to.
    #[serde(rename = "deploymentTargetId")]
    deployment_target_id: Option<String>,
}

/// The checked `metadata.json`.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) launcher: Launcher,
    /// `exec`: the executable, relative to the package root.
    pub(crate) entry_point: Option<String>,
    /// The id of the deployment-target package the step deploys to, if it names one.
    pub(crate) deployment_target_id: Option<String>,
}

/// A deployment-target package (`"type": "deployment-target"`): what a step deploys to. Only
/// its id and its `inputs.json` (the target's schema) matter to betterform.
pub(crate) struct TargetPackage {
    pub(crate) id: String,
    pub(crate) schema: Value,
    pub(crate) digest: String,
}

/// A loaded step package.
pub(crate) struct Package {
    pub(crate) tree: Tree,
    pub(crate) meta: Metadata,
    /// `inputs.json`.
    pub(crate) schema: Value,
    /// Content hash of the whole package.
    pub(crate) digest: String,
}

/// Entries archivers add that are not part of what was packed: macOS's resource forks
/// (`__MACOSX/…` from Finder's zip, `._name` AppleDouble files from its tar).
fn is_archiver_noise(rel: &Path) -> bool {
    rel.components().next().is_some_and(|c| c.as_os_str() == "__MACOSX")
        || rel.file_name().is_some_and(|n| n.to_string_lossy().starts_with("._"))
}

/// The path of an archive entry: `None` for the archive's root itself (`./` from
/// `tar czf p.tar.gz .`), which is the extraction dir and so not an entry.
fn entry_rel(name: &str, is_dir: bool) -> Result<Option<PathBuf>, String> {
    match safe_rel(name) {
        Err(_) if is_dir && Path::new(name).components().all(|c| c == Component::CurDir) => Ok(None),
        Err(e) => Err(e),
        Ok(rel) if is_archiver_noise(&rel) => Ok(None),
        Ok(rel) => Ok(Some(rel)),
    }
}

/// A relative path that stays inside the extraction dir, or why not.
fn safe_rel(name: &str) -> Result<PathBuf, String> {
    let mut rel = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!("entry '{name}' would be written outside the extraction dir"));
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(format!("entry '{name}' has an empty path"));
    }
    Ok(rel)
}

/// A symlink at `rel` pointing at `target` must resolve inside the extraction dir.
fn check_link(rel: &Path, target: &Path) -> Result<(), String> {
    let mut depth = rel.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth -= 1,
            Component::RootDir | Component::Prefix(_) => depth = -1,
        }
        if depth < 0 {
            return Err(format!(
                "symlink '{}' -> '{}' points outside the extraction dir",
                rel.display(),
                target.display()
            ));
        }
    }
    Ok(())
}

fn read_zip(path: &Path) -> Result<Vec<Entry>, String> {
    let file = fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("not a readable zip archive: {e}"))?;
    let mut entries = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut item = archive.by_index(i).map_err(|e| format!("entry {i}: {e}"))?;
        let name = item.name().map_err(|e| format!("entry {i}: {e}"))?.into_owned();
        let Some(rel) = entry_rel(&name, item.is_dir())? else { continue };
        let mode = item.unix_mode().unwrap_or(if item.is_dir() { 0o755 } else { 0o644 });
        let kind = if item.is_dir() {
            Kind::Dir { mode: mode & 0o7777 }
        } else {
            total += item.size();
            if total > MAX_UNPACKED {
                return Err("unpacks to more than 2 GiB".into());
            }
            let mut bytes = Vec::with_capacity(item.size() as usize);
            item.read_to_end(&mut bytes).map_err(|e| format!("entry '{name}': {e}"))?;
            if item.is_symlink() {
                let target = PathBuf::from(String::from_utf8_lossy(&bytes).into_owned());
                check_link(&rel, &target)?;
                Kind::Symlink { target }
            } else {
                Kind::File { bytes, mode: mode & 0o7777, render: false }
            }
        };
        entries.push(Entry { rel, kind });
    }
    Ok(entries)
}

/// A `.tar`, `.tar.gz` or `.tgz`.
fn read_tar(path: &Path, gzipped: bool) -> Result<Vec<Entry>, String> {
    let file = fs::File::open(path).map_err(|e| e.to_string())?;
    let reader: Box<dyn Read> =
        if gzipped { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    let what = if gzipped { ".tar.gz" } else { ".tar" };
    let mut archive = tar::Archive::new(reader);
    let mut entries = Vec::new();
    let mut total = 0u64;
    for item in archive.entries().map_err(|e| format!("not a readable {what} archive: {e}"))? {
        let mut item = item.map_err(|e| format!("not a readable {what} archive: {e}"))?;
        let name = item.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
        let kind = item.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() {
            continue;
        }
        let Some(rel) = entry_rel(&name, kind.is_dir())? else { continue };
        let mode = item.header().mode().unwrap_or(0o644) & 0o7777;
        let kind = if kind.is_dir() {
            Kind::Dir { mode }
        } else if kind.is_symlink() {
            let target = item.link_name().map_err(|e| e.to_string())?.unwrap_or_default().into_owned();
            check_link(&rel, &target)?;
            Kind::Symlink { target }
        } else if kind.is_file() {
            total += item.size();
            if total > MAX_UNPACKED {
                return Err("unpacks to more than 2 GiB".into());
            }
            let mut bytes = Vec::with_capacity(item.size() as usize);
            item.read_to_end(&mut bytes).map_err(|e| format!("entry '{name}': {e}"))?;
            Kind::File { bytes, mode, render: false }
        } else {
            return Err(format!("entry '{name}': only files, dirs and symlinks are supported"));
        };
        entries.push(Entry { rel, kind });
    }
    Ok(entries)
}

impl Tree {
    /// Reads a package from a directory, `.zip`, `.tar`, or `.tar.gz`/`.tgz`.
    pub(crate) fn read(source: &Path) -> Result<Tree, StepError> {
        let name = source.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let meta =
            fs::metadata(source).map_err(|e| StepError::package(source, format!("cannot read it: {e}")))?;
        let entries = if meta.is_dir() {
            read_tree(source).map_err(|e| StepError::package(source, e.to_string()))?
        } else if name.ends_with(".zip") {
            read_zip(source).map_err(|e| StepError::package(source, e))?
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            read_tar(source, true).map_err(|e| StepError::package(source, e))?
        } else if name.ends_with(".tar") {
            read_tar(source, false).map_err(|e| StepError::package(source, e))?
        } else {
            return Err(StepError::package(source, "not a directory, .zip, .tar, .tar.gz or .tgz"));
        };
        let mut entries = entries;
        entries.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(Tree { source: source.to_path_buf(), entries })
    }

    pub(crate) fn digest(&self) -> String {
        digest_entries(&self.entries)
    }

    pub(crate) fn file(&self, rel: &str) -> Option<(&[u8], u32)> {
        self.entries.iter().find(|e| e.rel == Path::new(rel)).and_then(|e| match &e.kind {
            Kind::File { bytes, mode, .. } => Some((bytes.as_slice(), *mode)),
            _ => None,
        })
    }

    /// An archive that wraps everything in one top-level dir (`tar czf p.tar.gz hello/`,
    /// `zip -r p.zip hello`) is read from inside it. The dir need not have an entry of its own
    /// (zips written without directory entries).
    fn unwrap_single_dir(self, marker: &str) -> Tree {
        if self.file(marker).is_some() {
            return self;
        }
        let tops: BTreeSet<&Path> = self
            .entries
            .iter()
            .filter_map(|e| e.rel.components().next())
            .map(|c| Path::new(c.as_os_str()))
            .collect();
        let [top] = tops.into_iter().collect::<Vec<_>>()[..] else { return self };
        let top = top.to_path_buf();
        // The single top entry must be a dir (not a lone file named like a dir).
        if self.entries.iter().any(|e| e.rel == top && !matches!(e.kind, Kind::Dir { .. })) {
            return self;
        }
        let entries = self
            .entries
            .into_iter()
            .filter_map(|e| {
                let rel = e.rel.strip_prefix(&top).ok()?.to_path_buf();
                (!rel.as_os_str().is_empty()).then_some(Entry { rel, kind: e.kind })
            })
            .collect();
        Tree { source: self.source, entries }
    }

    /// Writes the tree to `dest` as a whole: into a fresh sibling dir first, which then
    /// replaces `dest`, so `dest` never holds half a package or files of an older one.
    pub(crate) fn extract(&self, dest: &Path) -> Result<(), StepError> {
        let parent = dest.parent().expect("extraction dirs have a parent");
        fs::create_dir_all(parent).map_err(StepError::io("cannot create", parent))?;
        let staging = tempfile::Builder::new()
            .prefix(".extract-")
            .tempdir_in(parent)
            .map_err(StepError::io("cannot create a temporary dir in", parent))?;
        for entry in &self.entries {
            let target = staging.path().join(&entry.rel);
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).map_err(StepError::io("cannot create", dir))?;
            }
            match &entry.kind {
                Kind::Dir { mode } => {
                    fs::create_dir_all(&target).map_err(StepError::io("cannot create", &target))?;
                    fs::set_permissions(&target, fs::Permissions::from_mode(mode | 0o700))
                        .map_err(StepError::io("cannot chmod", &target))?;
                }
                Kind::File { bytes, mode, .. } => {
                    fs::write(&target, bytes).map_err(StepError::io("cannot write", &target))?;
                    fs::set_permissions(&target, fs::Permissions::from_mode(*mode))
                        .map_err(StepError::io("cannot chmod", &target))?;
                }
                Kind::Symlink { target: link } => {
                    std::os::unix::fs::symlink(link, &target)
                        .map_err(StepError::io("cannot create", &target))?;
                }
            }
        }
        if fs::symlink_metadata(dest).is_ok() {
            fs::remove_dir_all(dest).map_err(StepError::io("cannot replace", dest))?;
        }
        let staged = staging.keep();
        fs::rename(&staged, dest).map_err(StepError::io("cannot write", dest))?;
        Ok(())
    }
}

impl Package {
    /// Reads a step package and checks `metadata.json` and `inputs.json`.
    pub(crate) fn load(source: &Path) -> Result<Package, StepError> {
        let tree = Tree::read(source)?.unwrap_single_dir("metadata.json");
        let bad = |message: String| StepError::package(source, message);
        let (bytes, _) = tree.file("metadata.json").ok_or_else(|| bad("has no metadata.json".into()))?;
        let raw: RawMetadata = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("metadata.json:{}:{}: {e}", e.line(), e.column())))?;
        let required = |value: Option<String>, field: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| bad(format!("metadata.json: '{field}' is missing")))
        };
        match raw.kind.as_deref() {
            None | Some("step") => {}
            Some("deployment-target") => {
                return Err(bad(
                    "metadata.json: type is 'deployment-target', a target a step deploys to, not a step: name it in step.json as \"target\": {\"package\": …}".into(),
                ));
            }
            Some(kind) => {
                return Err(bad(format!("metadata.json: type is '{kind}'; only 'step' packages can be run")));
            }
        }
        let id = required(raw.id, "id")?;
        let version = required(raw.version, "version")?;
        let launcher = match required(raw.launcher, "launcher")?.as_str() {
            "node" => Launcher::Node,
            "exec" => Launcher::Exec,
            other => {
                return Err(bad(format!("metadata.json: unknown launcher '{other}' (known: node, exec)")));
            }
        };
        match launcher {
            Launcher::Node if tree.file("executor.js").is_none() => {
                return Err(bad("the node launcher needs an executor.js".into()));
            }
            Launcher::Exec => {
                let entry = raw
                    .entry_point
                    .as_deref()
                    .ok_or_else(|| bad("metadata.json: the exec launcher needs an 'entryPoint'".into()))?;
                let rel = safe_rel(entry).map_err(|e| bad(format!("metadata.json: entryPoint: {e}")))?;
                match tree.file(&rel.to_string_lossy()) {
                    Some((_, mode)) if mode & 0o111 != 0 => {}
                    Some(_) => return Err(bad(format!("entryPoint '{entry}' is not executable"))),
                    None => return Err(bad(format!("entryPoint '{entry}' is not in the package"))),
                }
            }
            Launcher::Node => {}
        }
        let (bytes, _) = tree.file("inputs.json").ok_or_else(|| bad("has no inputs.json".into()))?;
        let schema: Value = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("inputs.json:{}:{}: {e}", e.line(), e.column())))?;
        if !schema.is_object() {
            return Err(bad("inputs.json: must be a JSON Schema object".into()));
        }
        let meta = Metadata {
            id,
            version,
            launcher,
            entry_point: raw.entry_point,
            deployment_target_id: raw.deployment_target_id.filter(|t| !t.trim().is_empty()),
        };
        let digest = tree.digest();
        Ok(Package { tree, meta, schema, digest })
    }
}

impl TargetPackage {
    /// Reads a deployment-target package and checks its `metadata.json` and `inputs.json`.
    pub(crate) fn load(source: &Path) -> Result<TargetPackage, StepError> {
        let tree = Tree::read(source)?.unwrap_single_dir("metadata.json");
        let bad = |message: String| StepError::package(source, message);
        let (bytes, _) = tree.file("metadata.json").ok_or_else(|| bad("has no metadata.json".into()))?;
        let raw: RawMetadata = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("metadata.json:{}:{}: {e}", e.line(), e.column())))?;
        match raw.kind.as_deref() {
            Some("deployment-target") => {}
            other => {
                return Err(bad(format!(
                    "metadata.json: type is '{}'; a target package has type 'deployment-target'",
                    other.unwrap_or("step")
                )));
            }
        }
        let id = raw
            .id
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| bad("metadata.json: 'id' is missing".into()))?;
        let (bytes, _) = tree.file("inputs.json").ok_or_else(|| bad("has no inputs.json".into()))?;
        let schema: Value = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("inputs.json:{}:{}: {e}", e.line(), e.column())))?;
        if !schema.is_object() {
            return Err(bad("inputs.json: must be a JSON Schema object".into()));
        }
        Ok(TargetPackage { id, schema, digest: tree.digest() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_escape_are_refused() {
        assert!(safe_rel("a/b.txt").is_ok());
        assert!(safe_rel("./a").is_ok());
        assert!(safe_rel("../evil").unwrap_err().contains("outside the extraction dir"));
        assert!(safe_rel("a/../../evil").is_err());
        assert!(safe_rel("/etc/passwd").is_err());
        assert!(check_link(Path::new("a/link"), Path::new("../b")).is_ok());
        assert!(check_link(Path::new("a/link"), Path::new("../../b")).is_err());
        assert!(check_link(Path::new("link"), Path::new("/etc")).is_err());
    }

    #[test]
    fn the_archive_root_and_macos_noise_are_not_entries() {
        assert_eq!(entry_rel("./", true), Ok(None));
        assert_eq!(entry_rel(".", true), Ok(None));
        assert_eq!(entry_rel("./a/b", false), Ok(Some(PathBuf::from("a/b"))));
        assert_eq!(entry_rel("__MACOSX/x/._y", false), Ok(None));
        assert_eq!(entry_rel("x/._y", false), Ok(None));
        assert!(entry_rel("./", false).unwrap_err().contains("empty path"));
    }
}
