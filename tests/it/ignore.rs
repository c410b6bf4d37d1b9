//! `.betterformignore` and the original tool's `.gomplateignore`: files they match are copied
//! verbatim, with git's semantics exactly, checked against `git check-ignore` itself.

use std::process::Command;

use crate::common::Fixture;

/// Paths below the stage dir, each a template holding an expression: rendered, it reads `2`.
const FILES: [&str; 12] = [
    "ctl.sh",
    "top.txt",
    "sub/top.txt",
    "chart/values.yaml",
    "chart/templates/deploy.yaml",
    "chart/Chart.yaml",
    "a.tpl",
    "keep.tpl",
    "docs/x/y/readme.md",
    "docs/readme.md",
    "a/b",
    "a/x/y/b",
];

const PATTERNS: &str = "\
# a Helm chart: Go templates, never ours
chart/
# git cannot re-include a file under an excluded directory
!chart/values.yaml
*.tpl
!keep.tpl
/top.txt
docs/**/*.md
a/**/b
";

fn stage_with(ignore_file: &str, patterns: &str) -> Fixture {
    let f = Fixture::new("stamping");
    std::fs::remove_dir_all(f.impl_dir.join("web")).unwrap();
    f.write_impl("web/ctl", "#!/bin/sh\n");
    std::fs::set_permissions(f.impl_dir.join("web/ctl"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    for file in FILES {
        f.write_impl(&format!("web/{file}"), "{{ 1 + 1 }}\n");
    }
    f.write_impl(&format!("web/{ignore_file}"), patterns);
    f
}

/// What git says of each file under the same patterns, in a repository of the same layout.
fn git_ignored(patterns: &str) -> Vec<bool> {
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| Command::new("git").current_dir(repo.path()).args(args).output().unwrap();
    assert!(git(&["init", "-q"]).status.success());
    std::fs::write(repo.path().join(".gitignore"), patterns).unwrap();
    FILES
        .iter()
        .map(|file| {
            let path = repo.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x").unwrap();
            // Exit 0: ignored; 1: not ignored.
            let out = git(&["check-ignore", "-q", "--no-index", file]);
            match out.status.code() {
                Some(0) => true,
                Some(1) => false,
                other => {
                    panic!("git check-ignore {file}: {other:?} {}", String::from_utf8_lossy(&out.stderr))
                }
            }
        })
        .collect()
}

fn verbatim(f: &Fixture) -> Vec<bool> {
    FILES.iter().map(|file| f.read(&format!("genfiles/web/{file}")) == "{{ 1 + 1 }}\n").collect()
}

#[test]
fn ignore_files_match_exactly_what_git_ignores() {
    let expected = git_ignored(PATTERNS);
    assert!(expected.iter().any(|&i| i) && expected.iter().any(|&i| !i), "a mix: {expected:?}");
    for ignore_file in [".betterformignore", ".gomplateignore"] {
        let f = stage_with(ignore_file, PATTERNS);
        f.run(&["stamp"]).expect(0);
        let got = verbatim(&f);
        for ((file, want), got) in FILES.iter().zip(&expected).zip(&got) {
            assert_eq!(got, want, "{ignore_file}: {file}: verbatim {got}, git ignores it: {want}");
        }
        assert!(!f.exists(&format!("genfiles/web/{ignore_file}")), "the ignore file is not stamped");
        // Rendered files read 2.
        assert_eq!(f.read("genfiles/web/ctl.sh"), "2\n");
    }
    // chart/values.yaml in particular: excluded with its directory, as git has it.
    assert!(expected[FILES.iter().position(|f| *f == "chart/values.yaml").unwrap()]);
}

#[test]
fn both_ignore_files_apply_together() {
    let f = stage_with(".gomplateignore", "chart/\n");
    f.write_impl("web/.betterformignore", "*.tpl\n");
    f.run(&["stamp"]).expect(0);
    assert_eq!(f.read("genfiles/web/chart/Chart.yaml"), "{{ 1 + 1 }}\n");
    assert_eq!(f.read("genfiles/web/a.tpl"), "{{ 1 + 1 }}\n");
    assert_eq!(f.read("genfiles/web/top.txt"), "2\n");
    assert!(!f.exists("genfiles/web/.gomplateignore") && !f.exists("genfiles/web/.betterformignore"));
}
