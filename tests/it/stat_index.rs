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
    let before = f.started("up").len();
    let mut cmd = f.cmd();
    cmd.args(["up", "-j", "1"]);
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
    f.deploy.join("genfiles/.betterform/index.json")
}

fn index(f: &Fixture) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(index_path(f)).unwrap()).unwrap()
}

#[test]
fn the_index_records_what_each_render_consumed() {
    let f = indexed();
    let index = index(&f);
    let a = &index["stages"]["parallel_a"];
    let files: Vec<&str> = a["files"].as_array().unwrap().iter().map(|e| e[0].as_str().unwrap()).collect();
    let template = f.impl_dir.join("parallel_a/a.txt");
    assert!(files.contains(&template.to_str().unwrap()), "{files:?}");
    assert!(files.contains(&"inputs/a.txt"), "{files:?}");
    let stamped = f.deploy.join("genfiles/parallel_a/a.txt");
    assert!(files.contains(&stamped.to_str().unwrap()), "{files:?}");
    // The value's hash only: an environment value may be a secret.
    let env = &index["stages"]["parallel_b"]["env"];
    assert_eq!(env[0][0], "BF_TEST_VALUE");
    assert_eq!(env[0][1].as_str().unwrap().len(), 64, "{env}");
    assert!(!std::fs::read_to_string(index_path(&f)).unwrap().contains("BF_TEST_VALUE\",\"1\""));
    assert_eq!(index["stages"]["parallel_a"]["env"], serde_json::json!([]));
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
    assert!(index(&f)["stages"]["parallel_b"]["all_env"].is_string());
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
    let mut index = index(&f);
    let files = index["stages"]["parallel_a"]["files"].as_array_mut().unwrap();
    let entry = files.iter_mut().find(|e| e[0] == template.to_str().unwrap()).unwrap();
    use std::os::unix::fs::MetadataExt;
    let ns = |s: i64, n: i64| s * 1_000_000_000 + n;
    entry[1]["mtime"] = ns(meta.mtime(), meta.mtime_nsec()).into();
    entry[1]["ctime"] = ns(meta.ctime(), meta.ctime_nsec()).into();
    entry[1]["size"] = meta.size().into();
    entry[1]["ino"] = meta.ino().into();
    std::fs::write(index_path(&f), serde_json::to_vec(&index).unwrap()).unwrap();
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
