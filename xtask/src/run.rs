//! Running cargo and friends from the workspace root, keeping what they print.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::XtaskError;

/// The workspace root: xtask's manifest lives one level below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// What a finished command printed and whether it succeeded.
pub struct Output {
    pub success: bool,
    /// stdout and stderr, line by line, merged in the order the lines arrived (cargo names a
    /// test binary on stderr and the binary reports on stdout: parsing needs both in order).
    pub lines: Vec<String>,
}

/// Runs `program args` in the workspace root with `envs`, echoing its output as it comes
/// (these runs take minutes) and keeping it for parsing.
pub fn stream(program: &str, args: &[&str], envs: &[(&str, &Path)]) -> Result<Output, XtaskError> {
    let command = format!("{program} {}", args.join(" "));
    println!("$ {command}");
    let spawn = |source| XtaskError::Spawn {
        command: command.clone(),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn)?;
    // One reader thread per pipe, so neither can fill up and stall the child; both feed one
    // channel, which keeps the arrival order.
    let (sender, receiver) = std::sync::mpsc::channel::<(bool, String)>();
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let sender = sender.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send((false, line));
            }
        }));
    }
    if let Some(stderr) = child.stderr.take() {
        let sender = sender.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send((true, line));
            }
        }));
    }
    drop(sender);
    let mut lines = Vec::new();
    for (is_err, line) in receiver {
        if is_err {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        lines.push(line);
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait().map_err(spawn)?;
    Ok(Output {
        success: status.success(),
        lines,
    })
}

/// The first line `program args` prints, or `None` when it cannot run or fails.
pub fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
}

/// Reads a file, with its path in the error.
pub fn read(path: &Path) -> Result<String, XtaskError> {
    std::fs::read_to_string(path).map_err(|source| XtaskError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads one JSON record a benchmark or a test wrote.
pub fn read_record<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, XtaskError> {
    serde_json::from_str(&read(path)?).map_err(|source| XtaskError::Record {
        path: path.to_owned(),
        source,
    })
}

/// Writes a file, with its path in the error.
pub fn write(path: &Path, text: &str) -> Result<(), XtaskError> {
    std::fs::write(path, text).map_err(|source| XtaskError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Empties (or creates) a scratch directory for records.
pub fn fresh_dir(path: &Path) -> Result<(), XtaskError> {
    let io = |source| XtaskError::Io {
        path: path.to_owned(),
        source,
    };
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(io)?;
    }
    std::fs::create_dir_all(path).map_err(io)
}
