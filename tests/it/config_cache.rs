//! The config cache (`$GENFILES/.betterform/config-cache`): a run whose config inputs are
//! unchanged takes the last evaluation's result instead of evaluating. Whether a run
//! evaluated shows in `std.trace`, which only an evaluation prints; what it evaluated to shows
//! in `CONFIG_JSON_FILE`.

use std::time::{Duration, SystemTime};

use crate::common::Fixture;

const CACHE: &str = "genfiles/.betterform/config-cache";

/// A config that traces its evaluation and reads an import found in a `-J` dir, an
/// environment variable and an external variable.
fn traced() -> Fixture {
    let f = Fixture::new("diamond");
    f.write(
        "config.jsonnet",
        "std.trace('evaluated', { lib: import 'lib.libsonnet', region: std.extVar('env').REGION, v: std.extVar('v') })",
    );
    f.write("vendor/lib.libsonnet", "'vendored'");
    f
}

/// `stamp` (which holds the run lock, so keeps the cache) with `args`; whether the config was
/// evaluated, and the config written.
fn stamp(f: &Fixture, region: &str, args: &[&str]) -> (bool, serde_json::Value) {
    let out = f
        .cmd()
        .args(["stamp", "--only", "state_storage", "-J", "vendor"])
        .args(args)
        .env("REGION", region)
        .output()
        .unwrap();
    let run = crate::common::Run(out).expect(0);
    let config = serde_json::from_str(&f.read("genfiles/config.json")).unwrap();
    (run.stderr().contains("evaluated"), config)
}

/// Sets `path`'s mtime (relative to the deploy dir) to `t`.
fn set_mtime(f: &Fixture, path: &str, t: SystemTime) {
    std::fs::File::options().write(true).open(f.deploy.join(path)).unwrap().set_modified(t).unwrap();
}

/// Moves the cache's mtime a minute on: as if written well after every input file, so that
/// none is racy and each case shows its own rule, not the racy one.
fn settle(f: &Fixture) {
    set_mtime(f, CACHE, SystemTime::now() + Duration::from_secs(60));
}

#[test]
fn an_unchanged_config_is_not_evaluated_again_and_every_input_change_is_seen() {
    let f = traced();
    let v = ["-V", "v=1"];
    let (evaluated, config) = stamp(&f, "eu", &v);
    assert!(evaluated, "the first run evaluates");
    assert_eq!(config, serde_json::json!({ "lib": "vendored", "region": "eu", "v": "1" }));
    assert!(f.exists(CACHE));
    settle(&f);
    assert_eq!(stamp(&f, "eu", &v), (false, config.clone()), "unchanged: taken from the cache");

    // The environment, an external variable: inputs of the key.
    let (evaluated, config) = stamp(&f, "us", &v);
    assert!(evaluated);
    assert_eq!(config["region"], "us");
    settle(&f);
    let (evaluated, config) = stamp(&f, "us", &["-V", "v=2"]);
    assert!(evaluated);
    assert_eq!(config["v"], "2");
    settle(&f);
    assert!(!stamp(&f, "us", &["-V", "v=2"]).0);

    // An imported file rewritten in place keeping its size and mtime: its ctime differs.
    let lib = f.deploy.join("vendor/lib.libsonnet");
    let mtime = std::fs::metadata(&lib).unwrap().modified().unwrap();
    f.write("vendor/lib.libsonnet", "'VENDORED'");
    set_mtime(&f, "vendor/lib.libsonnet", mtime);
    let (evaluated, config) = stamp(&f, "us", &["-V", "v=2"]);
    assert!(evaluated);
    assert_eq!(config["lib"], "VENDORED");
    settle(&f);

    // A file of the same name appears next to the config, earlier in the search order than
    // the `-J` dir: it is the one imported now.
    f.write("lib.libsonnet", "'local'");
    let (evaluated, config) = stamp(&f, "us", &["-V", "v=2"]);
    assert!(evaluated);
    assert_eq!(config["lib"], "local");
    settle(&f);
    assert!(!stamp(&f, "us", &["-V", "v=2"]).0);

    // Touched without a change: evaluated again (the stat differs), same result.
    set_mtime(&f, "config.jsonnet", SystemTime::now() - Duration::from_secs(5));
    let (evaluated, again) = stamp(&f, "us", &["-V", "v=2"]);
    assert!(evaluated);
    assert_eq!(again, config);
}

#[test]
fn commands_without_the_lock_read_the_cache_but_never_write_it() {
    let f = traced();
    let plan = |f: &Fixture| {
        let out = f.cmd().args(["plan", "-J", "vendor", "-V", "v=1"]).env("REGION", "eu").output().unwrap();
        crate::common::Run(out).stderr().contains("evaluated")
    };
    assert!(plan(&f));
    assert!(!f.exists(CACHE), "plan writes nothing");
    assert!(stamp(&f, "eu", &["-V", "v=1"]).0);
    settle(&f);
    assert!(!plan(&f), "plan takes the cached result");
    // A cache that is not one (cut short, another version) is ignored, never an error.
    f.write(CACHE, "betterform config cache\n");
    assert!(stamp(&f, "eu", &["-V", "v=1"]).0);
}

#[test]
fn a_file_changed_in_the_tick_the_cache_was_written_is_evaluated_again() {
    let f = traced();
    assert!(stamp(&f, "eu", &["-V", "v=1"]).0);
    // The cache as written at the same moment as the config's last change: not trusted.
    let config = std::fs::metadata(f.deploy.join("config.jsonnet")).unwrap().modified().unwrap();
    set_mtime(&f, CACHE, config);
    assert!(stamp(&f, "eu", &["-V", "v=1"]).0, "racy: evaluated");
    // That run rewrote the cache after the config's change: settled.
    assert!(!stamp(&f, "eu", &["-V", "v=1"]).0);
}
