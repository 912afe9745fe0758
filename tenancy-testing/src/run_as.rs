//! PostgreSQL refuses to run as root: who runs the server commands.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::OS_USER;
use crate::{
    binaries::find_program,
    error::{EmbeddedError, io_error},
    process::{run_checked, sh_quote},
};

/// How server commands are run: `PostgreSQL` refuses to run as root.
#[derive(Debug, Clone)]
pub(crate) enum RunAs {
    /// We are not root: run directly.
    Current,
    /// `runuser -u postgres -- ...`
    Runuser(PathBuf),
    /// `su -s /bin/sh -c '...' postgres`
    Su(PathBuf),
}

impl RunAs {
    pub(crate) fn detect() -> Result<RunAs, EmbeddedError> {
        if effective_uid()? != 0 {
            return Ok(RunAs::Current);
        }
        ensure_os_user(OS_USER)?;
        if let Some(runuser) = find_program("runuser") {
            Ok(RunAs::Runuser(runuser))
        } else if let Some(su) = find_program("su") {
            Ok(RunAs::Su(su))
        } else {
            Err(EmbeddedError::OsUser(format!(
                "running as root, but neither `runuser` nor `su` was found to run PostgreSQL as the `{OS_USER}` user; install util-linux or run the tests as a non-root user"
            )))
        }
    }

    pub(crate) fn argv(&self, program: &Path, args: &[OsString]) -> Vec<OsString> {
        let mut words: Vec<OsString> = Vec::with_capacity(args.len() + 6);
        match self {
            RunAs::Current => {
                words.push(program.into());
                words.extend(args.iter().cloned());
            }
            RunAs::Runuser(runuser) => {
                words.extend([runuser.into(), "-u".into(), OS_USER.into(), "--".into()]);
                words.push(program.into());
                words.extend(args.iter().cloned());
            }
            RunAs::Su(su) => {
                let mut line = format!("exec {}", sh_quote(program.as_os_str()));
                for arg in args {
                    line.push(' ');
                    line.push_str(&sh_quote(arg));
                }
                words.extend([
                    su.into(),
                    "-s".into(),
                    "/bin/sh".into(),
                    "-c".into(),
                    line.into(),
                    OS_USER.into(),
                ]);
            }
        }
        words
    }

    pub(crate) fn command(&self, program: &Path, args: &[OsString]) -> Command {
        let words = self.argv(program, args);
        let (first, rest) = words
            .split_first()
            .map_or((program.as_os_str(), &[][..]), |(first, rest)| {
                (first.as_os_str(), rest)
            });
        let mut cmd = Command::new(first);
        cmd.args(rest);
        cmd
    }

    /// Hand the cluster directory to the server's OS user.
    pub(crate) fn give_ownership(&self, dir: &Path) -> Result<(), EmbeddedError> {
        if matches!(self, RunAs::Current) {
            return Ok(());
        }
        let owner = format!("{OS_USER}:");
        let mut cmd = Command::new("chown");
        cmd.arg("-R").arg(&owner).arg(dir);
        run_checked(cmd, &format!("chown -R {owner} {}", dir.display()))?;
        Ok(())
    }
}

/// Effective uid, from `/proc/self/status` or `id -u`.
pub(crate) fn effective_uid() -> Result<u32, EmbeddedError> {
    let from_proc = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                .and_then(|euid| euid.parse().ok())
        });
    if let Some(uid) = from_proc {
        return Ok(uid);
    }
    let output = Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .output()
        .map_err(io_error(
            "could not run `id -u` to determine the current user",
        ))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            EmbeddedError::OsUser(format!(
                "could not determine the current user id (`id -u` printed {:?})",
                String::from_utf8_lossy(&output.stdout).trim()
            ))
        })
}

pub(crate) fn os_user_exists(user: &str) -> Result<bool, EmbeddedError> {
    let status = Command::new("id")
        .arg("-u")
        .arg(user)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(io_error(format!("could not run `id -u {user}`")))?;
    Ok(status.success())
}

/// Running as root, the server runs as the `postgres` OS user that the PostgreSQL packages
/// create. Root is the normal case in CI and development containers, and PostgreSQL refuses to
/// run as root, so dropping to that user (with `runuser` or `su`) is what lets the two README
/// commands work there without a set-up step. Creating OS users is not this crate's business:
/// without that user, say what to do instead.
pub(crate) fn ensure_os_user(user: &str) -> Result<(), EmbeddedError> {
    if os_user_exists(user)? {
        return Ok(());
    }
    Err(EmbeddedError::OsUser(format!(
        "running as root, and there is no `{user}` os user to run PostgreSQL as (PostgreSQL refuses to run as root): run the tests as a non-root user, or set DATABASE_URL to an existing server"
    )))
}
