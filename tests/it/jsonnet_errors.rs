//! Runtime errors of the config's jsonnet: each names `file:line:col` of the failing
//! expression, shows its line with a caret, and lists the jsonnet stack innermost first, one
//! `file:line:col` per frame, including the fields being manifested (which the engine records
//! without a position: betterform finds them in the source).

use crate::common::Fixture;

/// `betterform config`'s stderr for a config of `text` (which must fail with exit 2).
fn error_of(text: &str) -> String {
    let f = Fixture::new("diamond");
    f.write("config.jsonnet", text);
    f.run(&["config"]).expect(2).stderr()
}

/// `expected` lines appear in `err` in this order, each as a whole line (trimmed).
fn assert_lines(err: &str, expected: &[&str]) {
    let lines: Vec<&str> = err.lines().map(str::trim).collect();
    let mut from = 0;
    for want in expected {
        match lines[from..].iter().position(|l| l == want) {
            Some(at) => from += at + 1,
            None => panic!("missing (in this order) {want:?} in:\n{err}"),
        }
    }
}

#[test]
fn division_by_zero_points_at_the_divisor_and_the_field() {
    let err = error_of("local x = 0;\n{\n  a: 1 / x,\n}\n");
    assert_lines(
        &err,
        &[
            "config.jsonnet:3:10: attempted to divide by zero",
            "3 |   a: 1 / x,",
            "|          ^",
            "at config.jsonnet:3:3: field <a> evaluation",
        ],
    );
    // A literal divisor records no position of its own: the field that failed is shown.
    let err = error_of("{\n  ok: 1,\n  bad: 5 % 0,\n}\n");
    assert_lines(&err, &["config.jsonnet:3:3: attempted to divide by zero", "3 |   bad: 5 % 0,", "|   ^^^"]);
}

#[test]
fn an_error_statement_lists_every_frame_down_to_the_nested_field() {
    let err = error_of("local f(v) = error 'bad: ' + v;\n{\n  a: {\n    b: f(3),\n  },\n}\n");
    assert_lines(
        &err,
        &[
            "config.jsonnet:1:14: runtime error: bad: 3",
            "1 | local f(v) = error 'bad: ' + v;",
            "at config.jsonnet:1:14: error statement",
            "at config.jsonnet:4:9: function <f> call",
            "at config.jsonnet:4:5: field <b> evaluation",
            "at config.jsonnet:3:3: field <a> manifestification",
        ],
    );
}

#[test]
fn a_type_error_in_a_std_call_shows_the_call_and_the_field() {
    let err = error_of("{\n  name: 'x',\n  a: std.length(42),\n}\n");
    assert_lines(
        &err,
        &[
            "config.jsonnet:3:16: type error: every failed from string | array | object | function:",
            "3 |   a: std.length(42),",
            "at config.jsonnet:3:16: function <builtin_length> call",
            "at config.jsonnet:3:3: field <a> evaluation",
        ],
    );
}

#[test]
fn an_index_out_of_range_points_at_the_index() {
    // The region taken from the config's own path, one level too far up.
    let err = error_of("local parts = std.split('eu-north-1/x', '/');\n{ region: parts[3] }\n");
    assert_lines(
        &err,
        &[
            "config.jsonnet:2:17: array out of bounds: 3 is not within [0,2)",
            "2 | { region: parts[3] }",
            "|                 ^",
            "at config.jsonnet:2:3: field <region> evaluation",
        ],
    );
    let err = error_of("{ a: 'abc'[7] }\n");
    assert_lines(&err, &["config.jsonnet:1:12: string out of bounds: 7 is not within [0,3)"]);
}

#[test]
fn a_missing_field_points_at_its_name_even_inside_an_array() {
    let err = error_of("{\n  list: [1, {}.missing],\n}\n");
    assert_lines(
        &err,
        &[
            "config.jsonnet:2:16: no such field: missing",
            "2 |   list: [1, {}.missing],",
            "|                ^^^^^^^",
            "at config.jsonnet:2:3: field <list> manifestification",
        ],
    );
    let err = error_of("{ a: { b: self.nope } }\n");
    assert_lines(
        &err,
        &[
            "config.jsonnet:1:16: no such field: nope",
            "at config.jsonnet:1:8: field <b> evaluation",
            "at config.jsonnet:1:3: field <a> manifestification",
        ],
    );
}

#[test]
fn calling_a_value_that_is_not_a_function_points_at_the_call() {
    let err = error_of("local port = 8080;\n{ a: port(1) }\n");
    assert_lines(
        &err,
        &[
            "config.jsonnet:2:10: only functions can be called, got number",
            "at config.jsonnet:2:3: field <a> evaluation",
        ],
    );
}

#[test]
fn a_missing_import_points_at_the_import_in_the_file_that_has_it() {
    let err = error_of("{\n  a: import 'missing.libsonnet',\n}\n");
    assert!(err.contains("config.jsonnet:2:6: can't resolve missing.libsonnet from "), "{err}");
    assert_lines(
        &err,
        &[
            "2 |   a: import 'missing.libsonnet',",
            "|      ^^^^^^",
            "at config.jsonnet:2:3: field <a> evaluation",
        ],
    );
}

#[test]
fn a_missing_import_in_a_library_points_into_the_library() {
    let f = Fixture::new("diamond");
    f.write("lib.libsonnet", "{\n  x: import 'nope.libsonnet',\n}\n");
    f.write("config.jsonnet", "{ a: (import 'lib.libsonnet').x }\n");
    let err = f.run(&["config"]).expect(2).stderr();
    assert!(err.contains("lib.libsonnet:2:6: can't resolve nope.libsonnet from "), "{err}");
    assert_lines(
        &err,
        &[
            "|      ^^^^^^",
            "at config.jsonnet:1:31: field <x> access",
            "at config.jsonnet:1:3: field <a> evaluation",
        ],
    );
}

#[test]
fn a_top_level_function_configs_errors_are_placed_too() {
    let err = error_of("function(replicas=0) {\n  per_replica: 100 / replicas,\n}\n");
    assert_lines(
        &err,
        &[
            "config.jsonnet:2:22: attempted to divide by zero",
            "at config.jsonnet:2:3: field <per_replica> evaluation",
        ],
    );
}

#[test]
fn a_missing_field_inside_a_function_points_into_its_body() {
    let err = error_of("local g(x) = x.y.z;\nlocal f(x) = g(x) + 1;\n{\n  a: f({ y: {} }),\n}\n");
    assert_lines(
        &err,
        &[
            "config.jsonnet:1:18: no such field: z",
            "1 | local g(x) = x.y.z;",
            "|                  ^",
            "at config.jsonnet:2:15: function <g> call",
            "at config.jsonnet:4:7: function <f> call",
            "at config.jsonnet:4:3: field <a> evaluation",
        ],
    );
    // A method, and an index by a literal.
    let err = error_of("local lib = { port(cfg):: cfg.ports[3] };\n{ a: lib.port({ ports: [1] }) }\n");
    assert_lines(
        &err,
        &[
            "config.jsonnet:1:37: array out of bounds: 3 is not within [0,1)",
            "at config.jsonnet:2:14: function <port> call",
        ],
    );
}

#[test]
fn a_field_from_an_imported_base_is_placed_in_that_file() {
    let f = Fixture::new("diamond");
    f.write("base.libsonnet", "{\n  limits: { per_replica: 100 / 0 },\n}\n");
    f.write("config.jsonnet", "(import 'base.libsonnet') + { region: 'eu-north-1' }\n");
    let err = f.run(&["config"]).expect(2).stderr();
    assert_lines(
        &err,
        &[
            "base.libsonnet:2:13: attempted to divide by zero",
            "2 |   limits: { per_replica: 100 / 0 },",
            "at base.libsonnet:2:13: field <per_replica> evaluation",
            "at base.libsonnet:2:3: field <limits> manifestification",
        ],
    );
}

#[test]
fn an_error_in_an_imported_files_own_value_is_placed_in_that_file() {
    let f = Fixture::new("diamond");
    f.write("zones.libsonnet", "local zones = ['a', 'b'];\nzones[1.5]\n");
    f.write("config.jsonnet", "{ zone: import 'zones.libsonnet' }\n");
    let err = f.run(&["config"]).expect(2).stderr();
    assert_lines(
        &err,
        &[
            "zones.libsonnet:2:7: tried to index by fractional value",
            "2 | zones[1.5]",
            "at config.jsonnet:1:9: import",
            "at config.jsonnet:1:3: field <zone> evaluation",
        ],
    );
}
