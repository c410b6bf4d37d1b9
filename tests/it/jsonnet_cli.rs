//! The jsonnet CLI's inputs on betterform's command line (`-V`, `-A`, their code and file
//! forms, `--max-stack`), `std.thisFile`, a blank `CONFIG_JSONNET_FILE`, and inputs deep
//! enough to exhaust any stack: each ends in a result or an exit-2 error, never an abort.

use crate::common::Fixture;

fn config(f: &Fixture, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["config"];
    all.extend_from_slice(args);
    serde_json::from_str(&f.run(&all).expect(0).stdout()).unwrap()
}

#[test]
fn external_variables_in_every_form() {
    let f = Fixture::new("diamond");
    f.write(
        "config.jsonnet",
        "{ s: std.extVar('s'), c: std.extVar('c'), sf: std.extVar('sf'), cf: std.extVar('cf'), region: std.extVar('env').REGION_FROM_ENV }",
    );
    f.write("value.txt", "from a file\n");
    f.write("lib/code.jsonnet", "{ imported: import 'near.libsonnet' }");
    f.write("lib/near.libsonnet", "42");
    let out = f
        .cmd()
        .args(["config", "-V", "s=plain", "--ext-code", "c={ a: [1, 2] }", "--ext-str-file", "sf=value.txt"])
        .args(["--ext-code-file", "cf=lib/code.jsonnet"])
        .env("REGION_FROM_ENV", "eu-north-1")
        .output()
        .unwrap();
    let run = crate::common::Run(out).expect(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "s": "plain", "c": { "a": [1, 2] }, "sf": "from a file\n", "cf": { "imported": 42 },
            "region": "eu-north-1"
        })
    );
    // A bare NAME takes the environment variable's value: the CI form.
    let out = f
        .cmd()
        .args(["config", "-V", "s", "--ext-code", "c", "--ext-str-file", "sf=value.txt"])
        .args(["--ext-code-file", "cf=lib/code.jsonnet"])
        .env("s", "from the environment")
        .env("c", "1 + 1")
        .env("REGION_FROM_ENV", "x")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&crate::common::Run(out).expect(0).stdout()).unwrap();
    assert_eq!((v["s"].as_str(), v["c"].as_i64()), (Some("from the environment"), Some(2)));
}

#[test]
fn a_config_that_is_a_function_is_called_with_the_top_level_arguments() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "function(region='eu-north-1', replicas=1, tags=[]) { region: region, replicas: replicas, tags: tags }");
    assert_eq!(config(&f, &[]), serde_json::json!({ "region": "eu-north-1", "replicas": 1, "tags": [] }));
    assert_eq!(
        config(&f, &["-A", "region=us-east-1", "--tla-code", "replicas=3", "--tla-code", "tags=['a']"]),
        serde_json::json!({ "region": "us-east-1", "replicas": 3, "tags": ["a"] })
    );
    f.write("region.txt", "ap-south-1");
    assert_eq!(config(&f, &["--tla-str-file", "region=region.txt"])["region"], "ap-south-1");
    // `up` uses them too: the stages see the config they produce.
    f.run(&["up", "-A", "region=sa-east-1", "state_storage"]).expect(0);
    let written: serde_json::Value = serde_json::from_str(&f.read("genfiles/config.json")).unwrap();
    assert_eq!(written["region"], "sa-east-1");
    let err = f.run(&["config", "-A", "nope=1"]).expect(2).stderr();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn bad_external_inputs_are_usage_errors() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ a: std.extVar('a') }");
    let err = f.cmd().args(["config", "-V", "a"]).env_remove("a").output().unwrap();
    let err = crate::common::Run(err).expect(2).stderr();
    assert!(err.contains("--ext-str a: no value given and no environment variable a is set"), "{err}");
    let err = f.run(&["config", "--ext-str-file", "a"]).expect(2).stderr();
    assert!(err.contains("--ext-str-file 'a': expected NAME=FILE"), "{err}");
    let err = f.run(&["config", "--ext-str-file", "a=missing.txt"]).expect(2).stderr();
    assert!(err.contains("cannot read missing.txt (for 'a')"), "{err}");
    let err = f.run(&["config"]).expect(2).stderr();
    assert!(err.contains("config.jsonnet:1:16: external variable is not defined: a"), "{err}");
    // The jsonnet options are refused where no config is evaluated.
    let err = f.run(&["status", "-V", "a=1"]).expect(2).stderr();
    assert!(err.contains("--ext-str does not apply to `status`"), "{err}");
}

#[test]
fn std_this_file_is_absolute() {
    let f = Fixture::new("diamond");
    f.write("prod/eu-north-1/my_infra/config.jsonnet", "{ region: std.split(std.thisFile, '/')[std.length(std.split(std.thisFile, '/')) - 3], file: std.thisFile }");
    let out = f
        .cmd()
        .arg("config")
        .env("CONFIG_JSONNET_FILE", "prod/eu-north-1/my_infra/config.jsonnet")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&crate::common::Run(out).expect(0).stdout()).unwrap();
    assert_eq!(v["region"], "eu-north-1");
    let file = v["file"].as_str().unwrap();
    assert!(
        file.starts_with('/') && file.ends_with("/deploy/prod/eu-north-1/my_infra/config.jsonnet"),
        "{file}"
    );
}

#[test]
fn max_stack_is_the_jsonnet_clis() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "local f(n) = if n == 0 then 0 else 1 + f(n - 1);\n{ depth: f(450) }");
    assert_eq!(config(&f, &[])["depth"], 450, "the C++ CLI's default of 500 frames");
    f.write("config.jsonnet", "local f(n) = if n == 0 then 0 else 1 + f(n - 1);\n{ depth: f(900) }");
    let err = f.run(&["config"]).expect(2).stderr();
    assert!(
        err.contains("config.jsonnet:1:41: stack overflow: more than 500 nested calls; reduce the recursion or raise --max-stack"),
        "{err}"
    );
    assert_eq!(config(&f, &["--max-stack", "2000"])["depth"], 900);
    let out = f.cmd().arg("config").env("BETTERFORM_MAX_STACK", "2000").output().unwrap();
    crate::common::Run(out).expect(0);
}

#[test]
fn a_config_nested_deeper_than_serde_jsons_default_is_fine() {
    // 201 levels: past serde_json's default of 128, well within --max-stack 500.
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "local f(n) = if n == 0 then [] else [f(n - 1)];\n{ deep: f(200) }");
    let out = f.run(&["config"]).expect(0).stdout();
    // Counted in the text: this test's own serde_json would stop at 128 levels.
    let squeezed: String = out.split_whitespace().collect();
    assert_eq!(squeezed, format!("{{\"deep\":{}{}}}", "[".repeat(201), "]".repeat(201)));
}

#[test]
fn no_input_aborts_the_process() {
    let f = Fixture::new("diamond");
    let deep = |open: &str, close: &str, n: usize| format!("{{ a: {}1{} }}", open.repeat(n), close.repeat(n));
    let cases = [
        ("3000 nested arrays", deep("[", "]", 3000)),
        ("2000 nested objects", deep("{a:", "}", 2000)),
        ("100000 nested arrays", deep("[", "]", 100_000)),
        ("10000 terms", format!("{{ a: {} }}", vec!["1"; 10_000].join("+"))),
    ];
    for (what, text) in cases {
        f.write("config.jsonnet", &text);
        let run = f.run(&["config"]);
        let code = run.0.status.code();
        assert!(matches!(code, Some(0 | 2)), "{what}: exit {code:?}, {}", run.stderr());
        if code == Some(2) {
            assert!(run.stderr().contains("config.jsonnet"), "{what}: names the file: {}", run.stderr());
        }
    }
    // The 10,000 terms are fine for the engine: it gives the sum.
    assert_eq!(config(&f, &[])["a"], 10_000);
}

#[test]
fn a_blank_config_jsonnet_file_means_no_jsonnet() {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", "{ from: 'jsonnet' }");
    f.write("genfiles/config.json", "{ \"from\": \"hand-written\", \"region\": \"r\" }\n");
    let out = f.cmd().arg("config").env("CONFIG_JSONNET_FILE", "").output().unwrap();
    let v: serde_json::Value = serde_json::from_str(&crate::common::Run(out).expect(0).stdout()).unwrap();
    assert_eq!(v["from"], "hand-written");
    crate::common::Run(
        f.cmd().args(["up", "state_storage"]).env("CONFIG_JSONNET_FILE", "").output().unwrap(),
    )
    .expect(0);
    assert_eq!(
        f.read("genfiles/config.json"),
        "{ \"from\": \"hand-written\", \"region\": \"r\" }\n",
        "never overwritten"
    );
    assert!(f.read("genfiles/state_storage/seen_env.up").contains("CONFIG_JSONNET_FILE=\n"));
}
