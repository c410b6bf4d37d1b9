//! Stamping end to end: rendering, verbatim copies, modes and symlinks, the exact-image sync
//! that keeps runtime files, all-or-nothing failure, delimiters, and config sources.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::common::Fixture;

fn stamping() -> Fixture {
    let f = Fixture::new("stamping");
    f.write("config.jsonnet", "{ region: 'eu-north-1', zones: ['a', 'b'] }\n");
    f
}

fn mode(f: &Fixture, rel: &str) -> u32 {
    std::fs::metadata(f.deploy.join(rel)).unwrap().permissions().mode() & 0o777
}

#[test]
fn renders_templates_and_copies_ignored_and_binary_files_verbatim() {
    let f = stamping();
    let web = f.impl_dir.join("web");
    std::fs::set_permissions(web.join("main.tf"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(web.join("logo.bin"), b"\xff\xfe{{ not text }}\x00").unwrap();
    std::os::unix::fs::symlink("sub/tool.sh", web.join("tool")).unwrap();
    f.run(&["up"]).expect(0);

    assert_eq!(
        f.read("genfiles/web/main.tf"),
        "region = \"eu-north-1\"\nname   = \"web\"\nzone \"a\"\nzone \"b\"\n"
    );
    assert_eq!(f.read("genfiles/web/sub/nested.txt"), "stamp=web\n");
    assert_eq!(f.read("genfiles/web/sub/tool.sh"), "#!/bin/sh\necho eu-north-1\n");
    // .betterformignore: a directory pattern, a glob, and a negation.
    assert_eq!(f.read("genfiles/web/chart/templates/deploy.yaml"), "name: {{ .Values.name }}\n");
    assert_eq!(f.read("genfiles/web/raw.tpl"), "raw {{ .Values.x }}\n");
    assert_eq!(f.read("genfiles/web/keep.tpl"), "rendered eu-north-1\n");
    assert!(!f.exists("genfiles/web/.betterformignore"), "the ignore file is not stamped");
    // Non-UTF-8 files are copied byte for byte.
    assert_eq!(std::fs::read(f.deploy.join("genfiles/web/logo.bin")).unwrap(), b"\xff\xfe{{ not text }}\x00");
    // Modes and symlinks are kept.
    assert_eq!(mode(&f, "genfiles/web/main.tf"), 0o600);
    assert_eq!(mode(&f, "genfiles/web/sub/tool.sh"), 0o755);
    assert_eq!(mode(&f, "genfiles/web/ctl") & 0o111, 0o111);
    let link = std::fs::read_link(f.deploy.join("genfiles/web/tool")).unwrap();
    assert_eq!(link, std::path::Path::new("sub/tool.sh"));
}

#[test]
fn restamp_is_an_exact_image_that_keeps_runtime_files() {
    let f = stamping();
    f.run(&["up"]).expect(0);
    assert_eq!(f.read("genfiles/web/.terraform/state"), "runtime state\n");
    let main_tf = std::fs::metadata(f.deploy.join("genfiles/web/main.tf")).unwrap();

    // The template drops a file and a whole dir, and gains a file.
    std::fs::remove_file(f.impl_dir.join("web/raw.tpl")).unwrap();
    std::fs::remove_dir_all(f.impl_dir.join("web/chart")).unwrap();
    f.write_impl("web/new.txt", "new {{ cfg.region }}\n");
    // A runtime file inside a template dir that goes away keeps that dir alive.
    f.write("genfiles/web/sub/cache.db", "runtime");
    std::fs::remove_dir_all(f.impl_dir.join("web/sub")).unwrap();
    let run = f.run(&["up"]).expect(0);
    assert!(run.stderr().contains("stamped (1 written,"), "{}", run.stderr());

    assert!(!f.exists("genfiles/web/raw.tpl"));
    assert!(!f.exists("genfiles/web/chart"));
    assert!(!f.exists("genfiles/web/sub/nested.txt"));
    assert!(!f.exists("genfiles/web/sub/tool.sh"));
    assert_eq!(f.read("genfiles/web/sub/cache.db"), "runtime");
    assert_eq!(f.read("genfiles/web/new.txt"), "new eu-north-1\n");
    // Files the stage created itself are never touched.
    assert_eq!(f.read("genfiles/web/.terraform/state"), "runtime state\n");
    assert_eq!(f.read("genfiles/web/local.tfstate"), "local\n");
    // Unchanged files are not rewritten.
    let again = std::fs::metadata(f.deploy.join("genfiles/web/main.tf")).unwrap();
    assert_eq!((main_tf.ino(), main_tf.mtime_nsec()), (again.ino(), again.mtime_nsec()));
}

#[test]
fn an_undefined_value_fails_the_stage_and_changes_no_stamped_file() {
    let f = stamping();
    f.run(&["up"]).expect(0);
    let before = f.read("genfiles/web/main.tf");
    f.write_impl("web/main.tf", "region = \"{{ cfg.region }}\" # changed\n");
    f.write_impl("web/zz_bad.txt", "ok line\nvalue={{ cfg.network.vpc_id }}\n");
    // Found by the proof render before anything runs: exit 2, nothing stamped or recorded.
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("web/zz_bad.txt:2:10: undefined value 'cfg.network.vpc_id'"), "{err}");
    assert_eq!(f.read("genfiles/web/main.tf"), before, "no file may change");
    assert!(!f.exists("genfiles/web/zz_bad.txt"));
    assert_eq!(f.status("web"), "up", "nothing ran");
}

#[test]
fn a_render_that_fails_at_its_turn_changes_no_stamped_file() {
    // Only what depends on an upstream stage's actual output fails at the stage's turn.
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }");
    f.run(&["up"]).expect(0);
    let before = std::fs::read_to_string(f.deploy.join("genfiles/final/ctl")).unwrap();
    f.write_impl("final/changed.txt", "changed\n");
    f.write_impl("final/zz_bad.txt", "ok\nvalue={{ output('parallel_a').no_such_key }}\n");
    let err = f.run(&["up", "-B"]).expect(1).stderr();
    assert!(
        err.contains("failed to stamp stage 'final': ")
            && err.contains("final/zz_bad.txt:2:10: undefined value 'output('parallel_a').no_such_key'"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(f.deploy.join("genfiles/final/ctl")).unwrap(), before);
    assert!(!f.exists("genfiles/final/changed.txt"), "all-or-nothing: no file may change");
    assert_eq!(f.status("final"), "failed");
    // The log the summary points at explains the failure.
    assert!(f.read("genfiles/.betterform/logs/final/up.log").contains("no_such_key"));
}

#[test]
fn custom_delimiters_from_flags_or_environment() {
    let f = stamping();
    f.write_impl("web/values.yaml", "helm: {{ .Values.x }}\nours: [[ cfg.region ]]\n");
    f.run(&["up", "--left-delim", "[[", "--right-delim", "]]"]).expect(0);
    assert_eq!(f.read("genfiles/web/values.yaml"), "helm: {{ .Values.x }}\nours: eu-north-1\n");

    let f = stamping();
    f.write_impl("web/values.yaml", "ours: <% cfg.region %>\n");
    f.cmd()
        .arg("up")
        .env("BETTERFORM_LEFT_DELIM", "<%")
        .env("BETTERFORM_RIGHT_DELIM", "%>")
        .assert()
        .success();
    assert_eq!(f.read("genfiles/web/values.yaml"), "ours: eu-north-1\n");
}

#[test]
fn template_functions_and_env() {
    let f = stamping();
    f.write("inputs/note.txt", "hello");
    f.write_impl(
        "web/fns.txt",
        "{{ read_file('inputs/note.txt') }} {{ file_exists('inputs/note.txt') }} {{ file_exists('nope') }} {{ env.STAGE_NAME }} {{ env.GENFILES == env.OUTPUT_DIR }}\n",
    );
    f.run(&["up"]).expect(0);
    assert_eq!(f.read("genfiles/web/fns.txt"), "hello true false web false\n");
}

#[test]
fn output_of_a_stage_that_never_wrote_one_is_a_clear_error() {
    let f = stamping();
    f.write_impl("web/up.txt", "{{ output('network').vpc }}\n");
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("output('network'): there is no stage 'network' in the DAG"), "{err}");
    // An upstream stage that never wrote its outputs (a CI job running --only without the
    // artifacts): that fails at the stage's turn, naming the file.
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ region: 'eu-north-1' }");
    f.write_impl("final/up.txt", "{{ output('parallel_a').value }}\n");
    let err = f.run(&["up", "--only", "final"]).expect(1).stderr();
    assert!(err.contains("output('parallel_a'): "), "{err}");
    assert!(err.contains("output/parallel_a/output.json does not exist"), "{err}");
}

#[test]
fn jsonnet_imports_search_relative_then_jpath_then_jsonnet_path() {
    let f = stamping();
    f.write("lib1/site.libsonnet", "{ region: 'from-jpath' }");
    f.write("lib2/zones.libsonnet", "['z1']");
    f.write("config.jsonnet", "(import 'site.libsonnet') + { zones: import 'zones.libsonnet' }\n");
    f.cmd().args(["up", "-J", "lib1"]).env("JSONNET_PATH", "lib2").assert().success();
    assert!(f.read("genfiles/web/main.tf").starts_with("region = \"from-jpath\""));
    assert!(f.read("genfiles/web/main.tf").contains("zone \"z1\""));
}

#[test]
fn std_ext_var_env_holds_absolute_wave_variables() {
    let f = stamping();
    f.write("config.jsonnet", "{ region: std.extVar('env').OUTPUT_DIR, zones: [] }\n");
    f.run(&["up"]).expect(0);
    let out = f.deploy.canonicalize().unwrap().join("output");
    assert!(f.read("genfiles/web/main.tf").starts_with(&format!("region = \"{}\"", out.display())));
}

#[test]
fn config_json_is_rewritten_only_when_it_changes() {
    let f = stamping();
    f.run(&["up"]).expect(0);
    let first = std::fs::metadata(f.deploy.join("genfiles/config.json")).unwrap();
    f.run(&["up"]).expect(0);
    let second = std::fs::metadata(f.deploy.join("genfiles/config.json")).unwrap();
    assert_eq!((first.ino(), first.mtime_nsec()), (second.ino(), second.mtime_nsec()));
    f.write("config.jsonnet", "{ region: 'us-east-1', zones: [] }\n");
    f.run(&["up"]).expect(0);
    assert!(f.read("genfiles/config.json").contains("us-east-1"));
}

#[test]
fn without_config_jsonnet_an_existing_config_json_is_used() {
    let f = Fixture::new("stamping");
    f.write("genfiles/config.json", "{\"region\": \"from-json\", \"zones\": []}");
    f.run(&["up"]).expect(0);
    assert!(f.read("genfiles/web/main.tf").starts_with("region = \"from-json\""));
    // And with neither, the config is empty: the strict template is refused before running.
    let f = Fixture::new("stamping");
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("undefined value 'cfg.region'"), "{err}");
}
