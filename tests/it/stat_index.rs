//! The stat index (issue 22): a stage whose last render's inputs all stat the same is
//! skipped without rendering. These prove it never hides a change: each edit below makes
//! the stage run, or stay skipped, exactly as the content rule says.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::common::Fixture;

/// The diamond, parallel_a reading a file with `read_file`, parallel_b an environment
/// variable; brought up, then re-run until the index has settled (the stages' `ctl` writes
/// into its stamped dir, so the first re-run takes the content path and records it again).
fn indexed() -> Fixture {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }\n");
    f.write("inputs/a.txt", "one");
    f.write_impl("parallel_a/a.txt", "x={{ read_file('inputs/a.txt') }}\n");
    f.write_impl("parallel_b/b.txt", "b={{ env.BF_TEST_VALUE }}\n");
    up(&f, "1");
    for _ in 0..2 {
        assert!(up(&f, "1").is_empty());
    }
    f
}

/// Runs `up -j 1` with `BF_TEST_VALUE=value`; the stages whose `ctl up` ran, sorted.
fn up(f: &Fixture, value: &str) -> Vec<String> {
    up_with(f, &[("BF_TEST_VALUE", value)])
}

fn up_with(f: &Fixture, env: &[(&str, &str)]) -> Vec<String> {
    up_args_env(f, &[], env)
}

/// Runs `up -j 1 ARGS` with `env`; the stages whose `ctl up` ran, sorted.
fn up_args_env(f: &Fixture, args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let before = f.started("up").len();
    let mut cmd = f.cmd();
    cmd.args(["up", "-j", "1"]).args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut ran = f.started("up").split_off(before);
    ran.sort();
    ran
}

fn mtime(path: &Path) -> SystemTime {
    path.symlink_metadata().unwrap().modified().unwrap()
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

/// Rewrites `path` with `text` (as long as what it holds), its mtime put back as it was.
fn edit_keeping_mtime_and_size(path: &Path, text: &str) {
    let before = mtime(path);
    assert_eq!(std::fs::read(path).unwrap().len(), text.len());
    std::fs::write(path, text).unwrap();
    set_mtime(path, before);
    assert_eq!(mtime(path), before);
}

fn index_path(f: &Fixture) -> PathBuf {
    f.deploy.join("genfiles/.betterform/index")
}

/// A stage's record in the index, decoded as `src/stamp/index.rs` documents the format.
#[derive(Debug, Default)]
struct Record {
    /// The stage's kind, as its index among the kinds (0: ctl), and where it is in the index.
    kind: u8,
    kind_at: usize,
    /// Base (0: as read, 1: under the template dir, 2: under the stamped dir), path, and
    /// where the file's stat starts in the index (`None`: recorded absent).
    files: Vec<(u8, String, Option<usize>)>,
    env: Vec<(String, Option<String>)>,
    all_env: Option<String>,
}

fn index(f: &Fixture) -> std::collections::BTreeMap<String, Record> {
    struct Cursor {
        bytes: Vec<u8>,
        at: usize,
    }
    impl Cursor {
        fn take(&mut self, n: usize) -> usize {
            self.at += n;
            self.at - n
        }
        fn byte(&mut self) -> u8 {
            let at = self.take(1);
            self.bytes[at]
        }
        fn u32(&mut self) -> usize {
            let at = self.take(4);
            u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap()) as usize
        }
        fn string(&mut self) -> String {
            let len = self.u32();
            let at = self.take(len);
            String::from_utf8(self.bytes[at..at + len].to_vec()).unwrap()
        }
    }
    let bytes = std::fs::read(index_path(f)).unwrap();
    let magic = b"betterform stat index\n";
    assert!(bytes.starts_with(magic));
    let mut c = Cursor { bytes, at: magic.len() };
    assert_eq!(c.u32(), 4, "version");
    let mut stages = std::collections::BTreeMap::new();
    while c.at < c.bytes.len() {
        c.u32();
        let name = c.string();
        let (_key, _stamp) = (c.string(), c.string());
        let kind_at = c.at;
        let mut record = Record { kind: c.byte(), kind_at, ..Record::default() };
        for _ in 0..c.u32() {
            let base = c.byte();
            let path = c.string();
            let stat = (c.byte() != 0).then(|| c.take(44));
            record.files.push((base, path, stat));
        }
        for _ in 0..c.u32() {
            let name = c.string();
            let value = (c.byte() != 0).then(|| c.string());
            record.env.push((name, value));
        }
        record.all_env = (c.byte() != 0).then(|| c.string());
        stages.insert(name, record);
    }
    stages
}

#[test]
fn the_index_records_what_each_render_consumed() {
    let f = indexed();
    let index = index(&f);
    let a = &index["parallel_a"];
    let files: Vec<(u8, &str)> = a.files.iter().map(|(base, path, _)| (*base, path.as_str())).collect();
    // Under the stage's own dirs, relative to them: the template dir and a template in it,
    // the file read as the template named it, the stamped dir and the stamped file.
    for file in [(1, ""), (1, "a.txt"), (0, "inputs/a.txt"), (2, ""), (2, "a.txt")] {
        assert!(files.contains(&file), "{file:?} not in {files:?}");
    }
    // The value's hash only: an environment value may be a secret.
    let env = &index["parallel_b"].env;
    assert_eq!(env[0].0, "BF_TEST_VALUE");
    assert_eq!(env[0].1.as_deref().unwrap().len(), 64, "{env:?}");
    assert_eq!(env[0].1.as_deref(), Some(blake3::hash(b"1").to_hex().as_str()));
    assert!(a.env.is_empty());
    assert!(a.all_env.is_none());
}

#[test]
fn a_template_edited_keeping_its_mtime_and_size_is_detected() {
    let f = indexed();
    let template = f.impl_dir.join("parallel_a/a.txt");
    edit_keeping_mtime_and_size(&template, "y={{ read_file('inputs/a.txt') }}\n");
    assert_eq!(up(&f, "1"), ["final", "parallel_a"]);
    assert_eq!(f.read("genfiles/parallel_a/a.txt"), "y=one\n");
    assert!(up(&f, "1").is_empty());
}

#[test]
fn a_file_read_by_read_file_changed_keeping_mtime_and_size_is_detected() {
    let f = indexed();
    edit_keeping_mtime_and_size(&f.deploy.join("inputs/a.txt"), "two");
    assert_eq!(up(&f, "1"), ["final", "parallel_a"]);
    assert_eq!(f.read("genfiles/parallel_a/a.txt"), "x=two\n");
}

#[test]
fn a_file_read_replaced_by_another_with_the_same_mtime_and_size_is_detected() {
    let f = indexed();
    let input = f.deploy.join("inputs/a.txt");
    let before = mtime(&input);
    let other = f.deploy.join("inputs/b.txt");
    std::fs::write(&other, "six").unwrap();
    set_mtime(&other, before);
    std::fs::rename(&other, &input).unwrap();
    assert_eq!(up(&f, "1"), ["final", "parallel_a"]);
    assert_eq!(f.read("genfiles/parallel_a/a.txt"), "x=six\n");
}

#[test]
fn an_env_value_the_render_uses_reruns_its_stage_and_one_it_does_not_use_changes_nothing() {
    let f = indexed();
    assert_eq!(up(&f, "2"), ["final", "parallel_b"]);
    assert_eq!(f.read("genfiles/parallel_b/b.txt"), "b=2\n");
    assert!(up_with(&f, &[("BF_TEST_VALUE", "2"), ("BF_UNUSED", "anything")]).is_empty());
    assert!(up_with(&f, &[("BF_TEST_VALUE", "2"), ("BF_UNUSED", "else")]).is_empty());
    assert_eq!(up(&f, "1"), ["final", "parallel_b"]);
}

#[test]
fn an_env_value_read_by_going_through_env_is_compared_whole() {
    let f = indexed();
    f.write_impl(
        "parallel_b/b.txt",
        "{{% for k in env %}}{{% if k == 'BF_TEST_VALUE' %}}{{ env[k] }}{{% endif %}}{{% endfor %}}\n",
    );
    assert_eq!(up(&f, "1"), ["final", "parallel_b"]);
    for _ in 0..2 {
        assert!(up(&f, "1").is_empty());
    }
    assert!(index(&f)["parallel_b"].all_env.is_some());
    assert_eq!(up(&f, "3"), ["final", "parallel_b"]);
    assert_eq!(f.read("genfiles/parallel_b/b.txt"), "3\n");
}

#[test]
fn touching_without_changing_stays_up_to_date() {
    let f = indexed();
    let later = SystemTime::now() + std::time::Duration::from_secs(5);
    set_mtime(&f.impl_dir.join("parallel_a/a.txt"), later);
    set_mtime(&f.deploy.join("inputs/a.txt"), later);
    set_mtime(&f.deploy.join("genfiles/parallel_b/b.txt"), later);
    assert!(up(&f, "1").is_empty());
    assert!(up(&f, "1").is_empty());
}

#[test]
fn a_stamped_file_edited_keeping_its_mtime_and_size_is_stamped_again() {
    // The content rule: the render did not change, so nothing runs, but the stamped dir is
    // made the render again.
    let f = indexed();
    edit_keeping_mtime_and_size(&f.deploy.join("genfiles/parallel_a/a.txt"), "x=owt\n");
    assert!(up(&f, "1").is_empty());
    assert_eq!(f.read("genfiles/parallel_a/a.txt"), "x=one\n");
}

/// Git's racy timestamps: a file changed in the same clock tick as the index was written can
/// stat exactly as recorded. Forged here: the entry made to match the edited template's
/// stat, and the index's mtime set to the template's.
#[test]
fn an_edit_in_the_same_tick_as_the_index_write_is_not_trusted() {
    let f = indexed();
    let template = f.impl_dir.join("parallel_a/a.txt");
    std::fs::write(&template, "z={{ read_file('inputs/a.txt') }}\n").unwrap();
    let meta = template.symlink_metadata().unwrap();
    let at = index(&f)["parallel_a"]
        .files
        .iter()
        .find(|(base, path, _)| (*base, path.as_str()) == (1, "a.txt"))
        .unwrap()
        .2;
    let at = at.unwrap();
    use std::os::unix::fs::MetadataExt;
    let ns = |s: i64, n: i64| s * 1_000_000_000 + n;
    let mut bytes = std::fs::read(index_path(&f)).unwrap();
    // The stat: mtime, ctime, size, inode (then dev and mode, unchanged).
    let stat = [ns(meta.mtime(), meta.mtime_nsec()), ns(meta.ctime(), meta.ctime_nsec())]
        .map(i64::to_le_bytes)
        .into_iter()
        .chain([meta.size(), meta.ino()].map(u64::to_le_bytes))
        .flatten()
        .collect::<Vec<u8>>();
    bytes[at..at + 32].copy_from_slice(&stat);
    std::fs::write(index_path(&f), bytes).unwrap();
    // Same tick: the template's mtime and ctime are not older than the index.
    set_mtime(
        &index_path(&f),
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns(meta.ctime(), meta.ctime_nsec()) as u64),
    );
    assert_eq!(up(&f, "1"), ["final", "parallel_a"]);
    assert_eq!(f.read("genfiles/parallel_a/a.txt"), "z=one\n");
    assert!(up(&f, "1").is_empty());
}

#[test]
fn plan_sees_what_the_index_cannot_hide_and_skips_what_it_proves() {
    let f = indexed();
    let plan = |f: &Fixture| {
        let out = f.cmd().args(["plan"]).env("BF_TEST_VALUE", "1").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let before = plan(&f);
    assert!(before.contains("plan: 0 to run, 4 up to date"), "{before}");
    edit_keeping_mtime_and_size(&f.impl_dir.join("parallel_a/a.txt"), "w={{ read_file('inputs/a.txt') }}\n");
    let after = plan(&f);
    let line = after.lines().find(|l| l.contains("parallel_a")).unwrap();
    assert!(line.contains("run") && line.contains("template files changed"), "{after}");
    let line = after.lines().find(|l| l.contains("parallel_b")).unwrap();
    assert!(line.contains("up to date"), "{after}");
}

#[test]
fn an_ignore_file_created_in_a_template_dir_is_detected() {
    let f = indexed();
    // parallel_a's template becomes verbatim: its stamped file is the template's text.
    f.write_impl("parallel_a/.betterformignore", "a.txt\n");
    assert_eq!(up(&f, "1"), ["final", "parallel_a"]);
    assert_eq!(f.read("genfiles/parallel_a/a.txt"), "x={{ read_file('inputs/a.txt') }}\n");
}

/// `up` of the indexed diamond; its exit code and stderr.
fn up_status(f: &Fixture) -> (Option<i32>, String) {
    let out = f.cmd().args(["up", "-j", "1"]).env("BF_TEST_VALUE", "1").output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_time_limit_file_created_in_a_template_dir_is_read() {
    // The index skips looking for the time limit of a stage that had none only while its
    // template dir is as it was.
    let f = indexed();
    f.write_impl("parallel_a/.betterform-timeout", "ten minutes\n");
    let (code, err) = up_status(&f);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("'ten minutes' is not a time limit"), "{err}");
}

#[test]
fn a_time_limit_file_edited_in_place_is_read_though_its_stage_is_unchanged() {
    // The stage had a time limit when it was indexed: it is read again on every run, and an
    // edit keeping the dir, the mtime and the size is still seen.
    let f = indexed();
    let limit = f.impl_dir.join("parallel_a/.betterform-timeout");
    std::fs::write(&limit, "10m\n").unwrap();
    assert!(up(&f, "1").is_empty());
    for _ in 0..2 {
        assert!(up(&f, "1").is_empty());
    }
    edit_keeping_mtime_and_size(&limit, "1om\n");
    let (code, err) = up_status(&f);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("'1om' is not a time limit"), "{err}");
}

/// The record cache (`$GENFILES/.betterform/record-cache`): a no-op `up` takes each record
/// from it while the record's file stats as cached. An edit that keeps the file's mtime and
/// size is still seen: `parallel_a`'s generation bumped by hand makes `final` run, as
/// reading the file would.
#[test]
fn a_record_edited_keeping_its_mtime_and_size_is_read_from_its_file() {
    let f = indexed();
    let cache = f.deploy.join("genfiles/.betterform/record-cache");
    assert!(cache.is_file(), "the no-op runs wrote the cache");
    let cached = mtime(&cache);
    assert!(up(&f, "1").is_empty());
    assert_eq!(mtime(&cache), cached, "nothing read from a file, nothing rewritten");
    let record = f.deploy.join("genfiles/.betterform/state/parallel_a.json");
    let text = std::fs::read_to_string(&record).unwrap();
    let generation = text.lines().find(|l| l.contains("\"generation\"")).unwrap().to_string();
    let digit = generation.trim().trim_start_matches("\"generation\": ").trim_end_matches(',');
    let bumped = generation.replace(digit, &(digit.parse::<u8>().unwrap() + 1).to_string());
    assert_eq!(bumped.len(), generation.len(), "{generation} -> {bumped}");
    edit_keeping_mtime_and_size(&record, &text.replace(&generation, &bumped));
    assert_eq!(up(&f, "1"), ["final"]);
    assert!(up(&f, "1").is_empty());
}

/// The kind the index recorded is taken only while the template dir stats as recorded: a
/// `ctl` that stops being executable, or a `step.json` put beside it, is seen at once.
#[test]
fn a_stage_dir_that_changes_kind_after_indexing_is_classified_again() {
    use std::os::unix::fs::PermissionsExt;
    let f = indexed();
    assert_eq!(index(&f)["parallel_a"].kind, 0, "ctl");
    let ctl = f.impl_dir.join("parallel_a/ctl");
    std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = up_status(&f);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not an executable file"), "{err}");
    std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Executable again: the same render as before, nothing runs.
    for _ in 0..3 {
        assert!(up(&f, "1").is_empty());
    }
    f.write_impl("parallel_a/step.json", "{}\n");
    let (code, err) = up_status(&f);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("holds both"), "{err}");
}

/// A `ctl` that is a symlink: its target could lose its executable bit without the template
/// dir changing, so such a stage is always classified by looking.
#[test]
fn a_symlinked_ctl_is_classified_by_looking_at_its_target() {
    use std::os::unix::fs::PermissionsExt;
    let f = indexed();
    let ctl = f.impl_dir.join("parallel_a/ctl");
    let target = f.impl_dir.join("parallel_a.ctl");
    std::fs::rename(&ctl, &target).unwrap();
    std::os::unix::fs::symlink(&target, &ctl).unwrap();
    up(&f, "1");
    for _ in 0..2 {
        assert!(up(&f, "1").is_empty());
    }
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = up_status(&f);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not an executable file"), "{err}");
}

/// A stage whose dependency is not in the run (`--only`) is not settled before the run: the
/// dependency's record is read at the stage's turn, and a generation it gained since makes
/// the stage run.
#[test]
fn a_dependency_outside_the_run_that_went_up_again_runs_its_dependent() {
    let f = indexed();
    assert_eq!(up_with_args(&f, &["-B", "parallel_a", "--only"]), ["parallel_a"]);
    assert_eq!(up_with_args(&f, &["final", "--only"]), ["final"]);
    assert!(up_with_args(&f, &["final", "--only"]).is_empty());
}

fn up_with_args(f: &Fixture, args: &[&str]) -> Vec<String> {
    up_args_env(f, args, &[("BF_TEST_VALUE", "1")])
}

/// An index whose kind byte names no kind (damaged): the stage is classified by looking (the
/// byte used as a kind would be out of bounds of the kinds). The entry is not rewritten while
/// the stage stays unchanged; each run looks.
#[test]
fn a_kind_the_index_does_not_know_is_looked_at() {
    let f = indexed();
    let at = index(&f)["parallel_a"].kind_at;
    let mut bytes = std::fs::read(index_path(&f)).unwrap();
    bytes[at] = 200;
    std::fs::write(index_path(&f), bytes).unwrap();
    for _ in 0..2 {
        assert!(up(&f, "1").is_empty());
    }
    assert_eq!(f.read("genfiles/parallel_a/a.txt"), "x=one\n");
}
