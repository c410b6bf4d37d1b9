//! Template syntax that is safe in the files stages are made of: a file without `{{` stamps
//! byte for byte whatever shell, HCL, Make, systemd, nginx or YAML syntax it holds; blocks are
//! `{{% %}}` and comments `{{# #}}`; lists and maps render as JSON; the filters work.

use crate::common::Fixture;

fn realfiles() -> Fixture {
    let f = Fixture::new("realfiles");
    f.write("config.jsonnet", "{ region: 'eu-north-1', zones: ['a', 'b'] }");
    f
}

#[test]
fn real_stage_files_without_an_expression_stamp_byte_identical() {
    let f = realfiles();
    f.run(&["validate"]).expect(0);
    f.run(&["stamp"]).expect(0);
    for file in ["ctl", "main.tf", "Makefile", "app.service", "nginx.conf", "values.yaml"] {
        let template = std::fs::read(f.impl_dir.join("web").join(file)).unwrap();
        let stamped = std::fs::read(f.deploy.join("genfiles/web").join(file)).unwrap();
        assert!(template == stamped, "{file} changed when stamped:\n{}", String::from_utf8_lossy(&stamped));
    }
    // And the bash idioms still work when the stage runs.
    let run = f.run(&["up"]).expect(0);
    let err = run.stderr();
    for line in
        ["[web] length of name: 3", "[web] count: 3 last: three", "[web] done #}", "[web] {web}", "[web] up"]
    {
        assert!(err.contains(line), "missing {line:?}:\n{err}");
    }
}

#[test]
fn a_mixed_file_renders_only_its_expressions() {
    let f = realfiles();
    f.run(&["stamp"]).expect(0);
    assert_eq!(
        f.read("genfiles/web/mixed.sh"),
        "#!/usr/bin/env bash\n# Only the expressions are betterform's; everything else stays as written.\n\
         region=\"eu-north-1\"\nzones=[\"a\",\"b\"]\necho \"${#region} zones: ${zones[@]} {%s} #}\"\n\
         echo \"zone a: ${#z}\"\necho \"zone b: ${#z}\"\n\n",
        "Jinja semantics: the newline after `{{% endfor %}}` stays (`-%}}` trims it)"
    );
}

#[test]
fn filters_render_values_in_the_format_of_the_file() {
    let f = realfiles();
    f.write_impl(
        "web/values.tpl.yaml",
        "list: {{ cfg.zones }}\nmap: {{ cfg.tags }}\nyaml:{{ cfg.tags | toyaml | nindent(2) }}\n\
         b64: {{ 'hi' | b64encode }} {{ 'aGk=' | b64decode }}\nsha: {{ 'hi' | sha256 }}\n\
         q: {{ cfg.region | quote }} {{ \"it's\" | squote }}\ndef: {{ cfg.tags.none | default('x') }}\n\
         json: {{ cfg.tags | tojson }}\npretty: {{ cfg.zones | toprettyjson }}\n\
         {{# a comment, gone #}}\nlit: {{ '{{' }} {{ cfg.region | replace('-', '_') | upper }}\n\
         split: {{ 'a,b' | split(',') | join(' ') }} trim: [{{ '  x ' | trim }}]\n",
    );
    f.write("config.jsonnet", "{ region: 'eu-north-1', zones: ['a', 'b'], tags: { app: 'web', n: 2 } }");
    f.run(&["stamp"]).expect(0);
    assert_eq!(
        f.read("genfiles/web/values.tpl.yaml"),
        "list: [\"a\",\"b\"]\nmap: {\"app\":\"web\",\"n\":2}\nyaml:\n  app: web\n  n: 2\n\
         b64: aGk= hi\nsha: 8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4\n\
         q: \"eu-north-1\" 'it'\\''s'\ndef: x\njson: {\"app\": \"web\", \"n\": 2}\npretty: [\n  \"a\",\n  \"b\"\n]\n\
         \nlit: {{ EU_NORTH_1\nsplit: a b trim: [x]\n"
    );
}

#[test]
fn required_fails_with_the_authors_message() {
    let f = realfiles();
    f.write_impl("web/r.txt", "x: {{ cfg.tags | required('set cfg.tags in config.jsonnet') }}\n");
    // Missing in the real config: refused before anything runs.
    let err = f.run(&["up"]).expect(2).stderr();
    assert!(err.contains("set cfg.tags in config.jsonnet"), "{err}");
}

#[test]
fn custom_delimiters_carry_the_block_and_comment_syntax() {
    let f = realfiles();
    f.write_impl(
        "web/custom.txt",
        "[[% for z in cfg.zones %]][[ z ]] [[% endfor %]][[# gone #]]{{ kept }}\n",
    );
    f.run(&["stamp", "--left-delim", "[[", "--right-delim", "]]"]).expect(0);
    assert_eq!(f.read("genfiles/web/custom.txt"), "a b {{ kept }}\n");
}

#[test]
fn deep_template_nesting_is_an_error_not_an_abort() {
    let f = realfiles();
    f.write_impl("web/deep.txt", &format!("{{{{ cfg{} }}}}\n", ".a".repeat(10_000)));
    let run = f.run(&["validate"]);
    let code = run.code();
    assert!(code == 0 || code == 2, "exit {code}: {}", run.stderr());
    let run = f.run(&["up"]);
    assert!(matches!(run.code(), 1 | 2), "exit {}: {}", run.code(), run.stderr());
    assert!(run.stderr().contains("deep.txt"), "names the file: {}", run.stderr());
}
