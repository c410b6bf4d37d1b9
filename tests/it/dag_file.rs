//! The DAG file as input: every syntax error is reported at once, and a file betterform cannot
//! use (a FIFO, a directory, bytes that are not UTF-8) fails with exit 2 right away, saying
//! where, with nothing run.

use std::time::Duration;

use crate::common::diamond;

/// Long enough for a loaded CI machine; a run that blocks on the file never finishes.
const PROMPTLY: Duration = Duration::from_secs(10);

#[test]
fn a_fifo_or_a_directory_as_the_dag_file_is_refused_without_blocking() {
    let f = diamond();
    let dag = f.impl_dir.join("betterform_dag.mk");
    std::fs::remove_file(&dag).unwrap();
    // Nothing ever writes to the FIFO: a read of it would block until the deadline.
    nix::unistd::mkfifo(&dag, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    for command in ["validate", "up"] {
        let err = f.run_within(&[command], PROMPTLY).expect(2).stderr();
        assert_eq!(
            err,
            format!("error: cannot read {}: it is a FIFO, not a regular file\n", dag.display()),
            "{command}"
        );
    }
    std::fs::remove_file(&dag).unwrap();
    std::fs::create_dir(&dag).unwrap();
    for command in ["validate", "up"] {
        let err = f.run_within(&[command], PROMPTLY).expect(2).stderr();
        assert_eq!(
            err,
            format!("error: cannot read {}: it is a directory, not a regular file\n", dag.display()),
            "{command}"
        );
    }
    assert!(f.trace().is_empty() && !f.exists("genfiles"), "nothing ran or was written");
}

#[test]
fn a_missing_dag_file_names_it_and_says_where_it_belongs() {
    let f = diamond();
    let dag = f.impl_dir.join("betterform_dag.mk");
    std::fs::remove_file(&dag).unwrap();
    let err = f.run(&["validate"]).expect(2).stderr();
    assert_eq!(
        err,
        format!(
            "error: cannot read {}: No such file or directory (os error 2); the impl dir must hold the DAG file\n",
            dag.display()
        )
    );
}

#[test]
fn a_dag_file_that_is_not_utf8_names_the_line_and_column_of_the_first_bad_byte() {
    let f = diamond();
    let dag = f.impl_dir.join("betterform_dag.mk");
    // Latin-1 'é' (0xe9) in a comment on line 2, after "# caf".
    std::fs::write(&dag, b"$(call define_stage, state_storage, )\n# caf\xe9\n").unwrap();
    let expected =
        format!("{}:2:6: not valid UTF-8 (byte 0xe9); the DAG file must be UTF-8 text", dag.display());
    let err = f.run(&["validate"]).expect(2).stderr();
    assert!(err.contains(&expected), "{err}");
    let err = f.run(&["up"]).expect(2).stderr();
    // The line is shown with the bad byte replaced, the caret under it.
    assert_eq!(err, format!("error: {expected}\n  |\n2 | # caf\u{fffd}\n  |      ^\n"));
    assert!(f.trace().is_empty(), "nothing ran");
}

#[test]
fn validate_reports_every_syntax_error_in_the_dag_file() {
    let f = diamond();
    f.write_impl(
        "betterform_dag.mk",
        "$(call define_stage, state_storage, )\n\
         $(call define_stages, parallel_a, state_storage)\n\
         $(call define_stage, parallel_b, state_storage\n\
         $(call define_stage, final, parallel_a parallel_b) %\n",
    );
    let dag = f.impl_dir.join("betterform_dag.mk").display().to_string();
    let err = f.run(&["validate"]).expect(2).stderr();
    // Only the syntax errors: 'parallel_a', whose line was skipped, is not also reported as
    // an unknown stage where 'final' uses it.
    assert_eq!(
        err,
        format!(
            "error: 3 problems found:\n\
             {dag}:2:8: unknown function 'define_stages'; expected 'define_stage' or 'dag_deps'\n  |\n\
             2 | $(call define_stages, parallel_a, state_storage)\n  |        ^^^^^^^^^^^^^\n\
             {dag}:3:47: expected ')', found end of line\n  |\n\
             3 | $(call define_stage, parallel_b, state_storage\n  |                                               ^\n\
             {dag}:4:52: unexpected character '%'; stage names may contain letters, digits, '_', '-' and '.'\n  |\n\
             4 | $(call define_stage, final, parallel_a parallel_b) %\n  |                                                    ^\n"
        )
    );
}
