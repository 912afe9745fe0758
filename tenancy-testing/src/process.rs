//! Running the server commands and reporting their output and logs.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::LOG_TAIL_LINES;
use crate::error::{EmbeddedError, io_error};

/// Run `cmd` (stdin closed), returning its output or a [`EmbeddedError::CommandFailed`].
pub(crate) fn run_checked(mut cmd: Command, what: &str) -> Result<Output, EmbeddedError> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io_error(format!("could not run `{what}`")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(EmbeddedError::CommandFailed {
            command: what.to_owned(),
            status: output.status.to_string(),
            output: output_text(&output),
        })
    }
}

pub(crate) fn describe(program: &str, args: &[OsString]) -> String {
    let mut line = program.to_owned();
    for arg in args {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

pub(crate) fn output_text(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    match (stderr.trim(), stdout.trim()) {
        ("", "") => "(no output)".to_owned(),
        (err, "") => err.to_owned(),
        ("", out) => out.to_owned(),
        (err, out) => format!("{err}\n{out}"),
    }
}

/// A failed `pg_ctl` run, with what it printed and the server log's tail (which says why the
/// server would not start or stop).
pub(crate) fn server_command_failed(command: String, output: &Output, tail: &str) -> EmbeddedError {
    EmbeddedError::CommandFailed {
        command,
        status: output.status.to_string(),
        output: format!("{}\nserver log tail:\n{tail}", output_text(output)),
    }
}

pub(crate) fn log_tail(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            if lines.is_empty() {
                "(server log is empty)".to_owned()
            } else {
                lines[start..].join("\n")
            }
        }
        Err(err) => format!("(could not read server log {}: {err})", path.display()),
    }
}

/// Single-quote for `sh`.
pub(crate) fn sh_quote(arg: &OsStr) -> String {
    format!("'{}'", arg.to_string_lossy().replace('\'', r"'\''"))
}
