//! `betterform stage terraform up|down`, also run as `betterform_stage_terraform up|down`:
//! the original betterform's common utility for a terraform (or OpenTofu) stage, called from
//! the stage's `ctl`. It keeps the dependency lock file with the stage's outputs in
//! `$OUTPUT_DIR/$STAGE_NAME/` (so it is committed and every machine installs the same
//! providers), answers no prompt itself unless the run is interactive, and writes `terraform
//! output -json` to `$OUTPUT_DIR/$STAGE_NAME/output.json`, where dependents' templates read it
//! with `output("<stage>")`. It runs in the stage's stamped dir, which `ctl` is started in.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cli::TerraformCommand;
use crate::error::Error;
use crate::fsutil;
use crate::report::eprint_line;

/// The lock file `terraform init` writes, carried in the stage's output dir.
const LOCK_FILE: &str = ".terraform.lock.hcl";

/// A run of the utility: the program, the stage's output dir, whether prompts may be shown.
struct Terraform {
    program: OsString,
    outputs: PathBuf,
    interactive: bool,
}

pub(crate) fn terraform(command: TerraformCommand) -> Result<(), Error> {
    let required = |name: &str| {
        std::env::var_os(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            Error::Usage(format!(
                "{name} is not set: `stage terraform` runs inside a stage's ctl, where betterform sets it"
            ))
        })
    };
    let stage = required("STAGE_NAME")?;
    let output_dir = PathBuf::from(required("OUTPUT_DIR")?);
    let tf = Terraform {
        program: program()?,
        outputs: output_dir.join(stage),
        interactive: std::env::var("INTERACTIVE").map_or(true, |v| v != "false"),
    };
    tf.init()?;
    match command {
        TerraformCommand::Up => {
            tf.run("apply", &tf.approval())?;
            tf.save_outputs()
        }
        TerraformCommand::Down => tf.run("destroy", &tf.approval()),
    }
}

/// `TF_CMD` when set (`terraform`, `tofu`, a wrapper), else `terraform` when it is on `PATH`,
/// else `tofu`.
fn program() -> Result<OsString, Error> {
    if let Some(program) = std::env::var_os("TF_CMD").filter(|v| !v.is_empty()) {
        return Ok(program);
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(name))))
    };
    ["terraform", "tofu"].into_iter().find(|name| on_path(name)).map(OsString::from).ok_or_else(|| {
        Error::Usage(
            "neither terraform nor tofu is on PATH; install one, or set TF_CMD to the program to run".into(),
        )
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Terraform {
    /// Approval for apply and destroy: asked on the terminal in an interactive run, given by
    /// `-auto-approve` otherwise, with `-input=false` so nothing ever waits for an answer.
    fn approval(&self) -> Vec<&'static str> {
        if self.interactive { Vec::new() } else { vec!["-input=false", "-auto-approve"] }
    }

    /// `init` with the lock file from the output dir, which then gets the lock file back
    /// (new providers, or the first init).
    fn init(&self) -> Result<(), Error> {
        let carried = self.outputs.join(LOCK_FILE);
        if carried.is_file() {
            std::fs::copy(&carried, LOCK_FILE).map_err(|e| io_error("copy", &carried, e))?;
        }
        let input: &[&str] = if self.interactive { &[] } else { &["-input=false"] };
        self.run("init", input)?;
        std::fs::create_dir_all(&self.outputs).map_err(|e| io_error("create", &self.outputs, e))?;
        if Path::new(LOCK_FILE).is_file() {
            let lock = std::fs::read(LOCK_FILE).map_err(|e| io_error("read", Path::new(LOCK_FILE), e))?;
            fsutil::write_atomic(&carried, &lock, None).map_err(|e| io_error("write", &carried, e))?;
        }
        Ok(())
    }

    /// Runs `<program> <subcommand> <args>` on the stage's own stdin, stdout and stderr (so an
    /// interactive run can answer its prompts); a failure exits with its status.
    fn run(&self, subcommand: &str, args: &[&str]) -> Result<(), Error> {
        eprint_line(&format!("==> running '{} {subcommand}'", self.name()));
        let status = Command::new(&self.program)
            .arg(subcommand)
            .args(args)
            .status()
            .map_err(|e| Error::Usage(format!("cannot run {}: {e}", self.name())))?;
        if status.success() {
            return Ok(());
        }
        let code = status.code().unwrap_or(1);
        eprint_line(&format!("error: '{} {subcommand}' failed (exit status {code})", self.name()));
        Err(Error::Answer(code))
    }

    /// `output -json` into `output.json`, replaced whole only when the command succeeded: a
    /// failure leaves the previous outputs in place and what it printed in `output.json.tmp`.
    fn save_outputs(&self) -> Result<(), Error> {
        eprint_line(&format!("==> running '{} output -json'", self.name()));
        let file = self.outputs.join("output.json");
        let partial = self.outputs.join("output.json.tmp");
        let out = Command::new(&self.program)
            .args(["output", "-json"])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| Error::Usage(format!("cannot run {}: {e}", self.name())))?;
        if !out.status.success() {
            let _ = std::fs::write(&partial, &out.stdout);
            let code = out.status.code().unwrap_or(1);
            eprint_line(&format!(
                "error: '{} output -json' failed (exit status {code}); what it printed is in {}",
                self.name(),
                partial.display()
            ));
            return Err(Error::Answer(code.max(1)));
        }
        fsutil::write_atomic(&file, &out.stdout, None).map_err(|e| io_error("write", &file, e))
    }

    fn name(&self) -> String {
        Path::new(&self.program)
            .file_name()
            .unwrap_or(self.program.as_os_str())
            .to_string_lossy()
            .into_owned()
    }
}

fn io_error(action: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Bookkeeping(anyhow::anyhow!("cannot {action} {}: {e}", path.display()))
}
