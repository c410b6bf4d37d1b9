//! How long each stage's commands may run: `--stage-timeout` for every stage, unless the
//! stage's template dir holds a `.betterform-timeout` file naming its own limit (`45m`, or
//! `none` for no limit). The files of every targeted stage are read before any stage runs, so
//! a bad one is exit 2 with nothing run.
//!
//! ```text
//! # migrations can take a while
//! 2h
//! ```

use std::path::Path;
use std::time::Duration;

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::process::TimeLimit;
use crate::project::Project;
use crate::report::display_path;
use crate::stamp::TIMEOUT_FILE;

/// What a stage's file says.
#[derive(Debug, PartialEq, Eq)]
enum Setting {
    After(Duration),
    /// `none`: no limit, whatever `--stage-timeout` says.
    Unlimited,
}

/// Each stage's limit (by stage id) for the stages in `members`; `default` is
/// `--stage-timeout`. Every bad file is reported, with its line and column. `known_none`: the
/// stages known to have no file (the stat index proves it), not looked for.
pub(crate) fn time_limits(
    project: &Project,
    (members, known_none): (&[bool], &[bool]),
    default: Option<Duration>,
) -> Result<Vec<Option<TimeLimit>>, Error> {
    let mut limits = Vec::with_capacity(members.len());
    let mut problems = Vec::new();
    for (stage, &member) in members.iter().enumerate() {
        let from_cli = || default.map(|after| TimeLimit { after, set_by: "--stage-timeout".into() });
        let path = || project.wave.template_dir(project.dag.name(stage)).join(TIMEOUT_FILE);
        let limit = match (member && !known_none[stage]).then(|| read(&path())).flatten() {
            None => from_cli(),
            Some(Ok(Setting::After(after))) => Some(TimeLimit { after, set_by: display_path(&path()) }),
            Some(Ok(Setting::Unlimited)) => None,
            Some(Err(problem)) => {
                problems.push(problem);
                None
            }
        };
        limits.push(limit);
    }
    if problems.is_empty() {
        Ok(limits)
    } else {
        Err(Error::Invalid(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))
    }
}

/// Every targeted stage's problems with its time limit file, for `validate`.
pub(crate) fn check_time_limits(project: &Project) -> Vec<Diagnostic> {
    (0..project.dag.len())
        .filter_map(|stage| read(&project.wave.template_dir(project.dag.name(stage)).join(TIMEOUT_FILE)))
        .filter_map(Result::err)
        .collect()
}

/// The setting in the file at `path`; `None` when there is no such file.
fn read(path: &Path) -> Option<Result<Setting, Diagnostic>> {
    let text = match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            return Some(Err(Diagnostic::new(
                path,
                0,
                0,
                format!("cannot read the stage's time limit: {e}"),
            )));
        }
        Ok(bytes) => bytes,
    };
    let Ok(text) = String::from_utf8(text) else {
        return Some(Err(Diagnostic::new(path, 0, 0, "the stage's time limit is not UTF-8 text")));
    };
    Some(
        parse(&text).map_err(|(line, column, message)| {
            Diagnostic::new(path, line, column, message).with_source(&text)
        }),
    )
}

/// One duration (or `none`) on a line of its own; blank lines and `#` comments around it.
/// An error is its line, column and message.
fn parse(text: &str) -> Result<Setting, (usize, usize, String)> {
    let mut setting = None;
    for (i, line) in text.lines().enumerate() {
        let value = line.split('#').next().unwrap_or("").trim();
        if value.is_empty() {
            continue;
        }
        let column = line.chars().count() - line.trim_start().chars().count() + 1;
        if setting.is_some() {
            return Err((i + 1, column, "a second time limit; the file holds one".into()));
        }
        let parsed = if value == "none" {
            Setting::Unlimited
        } else {
            match humantime::parse_duration(value) {
                Ok(after) if after.is_zero() => {
                    return Err((i + 1, column, "a time limit of zero; write `none` for no limit".into()));
                }
                Ok(after) => Setting::After(after),
                Err(e) => {
                    return Err((
                        i + 1,
                        column,
                        format!(
                            "'{value}' is not a time limit ({e}); write a duration such as `90s`, `30m`, `2h`, or `none`"
                        ),
                    ));
                }
            }
        };
        setting = Some(parsed);
    }
    setting.ok_or((0, 0, "holds no time limit; write a duration such as `30m`, or `none`".into()))
}

#[cfg(test)]
mod tests {
    use super::{Setting, parse};
    use std::time::Duration;

    #[test]
    fn one_duration_with_comments_around_it() {
        assert_eq!(parse("30m\n"), Ok(Setting::After(Duration::from_secs(1800))));
        assert_eq!(
            parse("# slow migrations\n\n  1h 30m  # generous\n"),
            Ok(Setting::After(Duration::from_secs(5400)))
        );
        assert_eq!(parse("none\n"), Ok(Setting::Unlimited));
    }

    #[test]
    fn bad_files_name_line_and_column() {
        let (line, column, message) = parse("# limit\n  ten minutes\n").unwrap_err();
        assert_eq!((line, column), (2, 3));
        assert!(message.contains("'ten minutes' is not a time limit"), "{message}");
        assert_eq!(parse("1m\n2m\n").unwrap_err().0, 2);
        assert!(parse("0s").unwrap_err().2.contains("zero"));
        assert_eq!(parse("# nothing\n").unwrap_err().0, 0);
    }
}
