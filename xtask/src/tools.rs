//! The external tools the release runs (cargo, LLVM's binutils, clang, lld), named once.

use crate::objects::Error;
use std::env;
use std::path::Path;
use std::process::Command;

/// LLVM tool names with the version suffix of the machine's LLVM (`LLVM_SUFFIX`, default -19).
pub struct Tools {
    suffix: String,
    clang: String,
}

impl Tools {
    pub fn from_env() -> Tools {
        let suffix = env::var("LLVM_SUFFIX").unwrap_or_else(|_| "-19".to_string());
        let clang = env::var("CLANG").unwrap_or_else(|_| format!("clang{suffix}"));
        Tools { suffix, clang }
    }

    /// `name` with the suffix: `llvm-objcopy` → `llvm-objcopy-19`.
    pub fn llvm(&self, name: &str) -> Command {
        Command::new(format!("{name}{}", self.suffix))
    }

    pub fn clang(&self) -> Command {
        Command::new(&self.clang)
    }

    /// Fails with a message naming every tool the release needs that is not installed.
    pub fn require(&self, names: &[&str]) -> Result<(), Error> {
        let missing: Vec<String> = names
            .iter()
            .map(|name| format!("{name}{}", self.suffix))
            .chain(std::iter::once(self.clang.clone()))
            .filter(|tool| Command::new(tool).arg("--version").output().is_err())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "not found: {} (scripts/setup.sh installs them)",
                missing.join(", ")
            ))
        }
    }
}

/// Runs `command`; its standard output on success, its standard error in the error otherwise.
pub fn run(command: &mut Command) -> Result<String, Error> {
    let output = command
        .output()
        .map_err(|e| format!("{}: {e}", describe(command)))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        Err(format!(
            "{} failed ({}): {}{}",
            describe(command),
            output.status,
            stderr.trim(),
            stdout.trim()
        ))
    }
}

/// Runs `command` in `dir`.
pub fn run_in(dir: &Path, command: &mut Command) -> Result<String, Error> {
    run(command.current_dir(dir))
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args().take(6) {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
