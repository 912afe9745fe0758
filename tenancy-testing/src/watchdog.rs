//! Cleans up after a process that exits without dropping its database (statics are never dropped).

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::process::{self, Child, Command, Stdio};

/// Shell prelude defining `alive`: true while the process `$TENANCY_WATCHED_PID` that spawned
/// the watchdog still runs. Uses the watchdog's parent pid (which changes when the parent dies,
/// even before it is reaped), falling back to `kill -0`.
pub(crate) const WATCHDOG_PRELUDE: &str = "trap '' HUP INT\n\
alive() {\n\
  if [ -r /proc/$$/stat ]; then\n\
    read -r _pid _comm _state ppid _rest < /proc/$$/stat || return 1\n\
    [ \"$ppid\" = \"$TENANCY_WATCHED_PID\" ]\n\
  else\n\
    kill -0 \"$TENANCY_WATCHED_PID\" 2>/dev/null\n\
  fi\n\
}\n";

/// Spawn `sh -c script` in its own process group (so Ctrl-C on the test run does not kill it)
/// with all stdio closed. Failure is logged, not fatal.
pub(crate) fn spawn_watchdog(script: &str, env: &[(&str, &OsStr)]) -> Option<Child> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .env("TENANCY_WATCHED_PID", process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    for (key, value) in env {
        cmd.env(key, value);
    }
    match cmd.spawn() {
        Ok(child) => Some(child),
        Err(err) => {
            tracing::warn!(%err, "could not start cleanup watchdog; a killed test run may leave a server behind");
            None
        }
    }
}

pub(crate) fn stop_watchdog(watchdog: &mut Option<Child>) {
    if let Some(mut child) = watchdog.take() {
        // Errors only mean it already exited; wait() reaps it either way.
        let _ = child.kill();
        let _ = child.wait();
    }
}
