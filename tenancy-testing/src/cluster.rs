//! A private cluster: initdb, start, stop and removal of a throwaway server.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::{READY_TIMEOUT, START_ATTEMPTS, SUPERUSER};
use crate::{
    binaries::{PgBinaries, is_executable},
    error::{EmbeddedError, io_error},
    process::{describe, log_tail, output_text, run_checked, server_command_failed, sh_quote},
    run_as::RunAs,
    stop_mode::StopMode,
    url::PgUrl,
    watchdog::{WATCHDOG_PRELUDE, spawn_watchdog, stop_watchdog},
};
use diesel::{Connection, PgConnection};
use tempfile::TempDir;

/// A private cluster: being set up, running, or stopped by [`TestDatabase::stop`]. Dropping
/// it stops the server if it may be running, then the `dir` field's own drop removes the
/// directory.
pub(crate) struct Cluster {
    pub(crate) bins: PgBinaries,
    pub(crate) run_as: RunAs,
    pub(crate) data_dir: PathBuf,
    pub(crate) socket_dir: PathBuf,
    pub(crate) log_path: PathBuf,
    pub(crate) port: u16,
    /// `-c name=value` options added to the defaults on every start (already shell-quoted),
    /// so a server restarted with [`TestDatabase::start_again`] keeps them.
    pub(crate) extra_options: String,
    /// Whether the server may be running: a `pg_ctl start` was attempted and no stop
    /// succeeded since, so drop must stop it. The lock also serialises stop and start.
    pub(crate) running: Mutex<bool>,
    pub(crate) watchdog: Option<Child>,
    /// Declared last: removed after `Drop::drop` stopped the server.
    pub(crate) dir: TempDir,
}

impl Cluster {
    pub(crate) fn start() -> Result<Cluster, EmbeddedError> {
        Self::start_with(&[])
    }

    /// [`Cluster::start`] with server settings (`name`, `value`) added to, or overriding, the
    /// defaults, e.g. `("shared_preload_libraries", "citus")`.
    pub(crate) fn start_with(extra: &[(&str, &str)]) -> Result<Cluster, EmbeddedError> {
        let bins = PgBinaries::locate()?;
        let run_as = RunAs::detect()?;
        let base = match run_as {
            // The server user must be able to reach the directory; /tmp is world-traversable.
            RunAs::Current => std::env::temp_dir(),
            RunAs::Runuser(_) | RunAs::Su(_) => PathBuf::from("/tmp"),
        };
        let dir = tempfile::Builder::new()
            .prefix("tenancy-pg-")
            .tempdir_in(&base)
            .map_err(io_error(format!(
                "could not create a temporary directory in {}",
                base.display()
            )))?;
        let root = dir.path().to_path_buf();
        let socket_dir = root.join("socket");
        fs::create_dir(&socket_dir).map_err(io_error(format!(
            "could not create socket directory {}",
            socket_dir.display()
        )))?;
        run_as.give_ownership(&root)?;

        let mut cluster = Cluster {
            data_dir: root.join("data"),
            log_path: root.join("server.log"),
            socket_dir,
            port: 0,
            extra_options: server_options(extra),
            running: Mutex::new(false),
            watchdog: None,
            bins,
            run_as,
            dir,
        };
        cluster.watchdog = cluster.spawn_watchdog();
        cluster.initdb()?;
        cluster.start_server()?;
        cluster.wait_ready()?;
        Ok(cluster)
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A command for a server binary, run as the server's OS user, inside the cluster directory.
    pub(crate) fn server_command(&self, tool: &str, args: &[OsString]) -> Command {
        let mut cmd = self.run_as.command(&self.bins.tool(tool), args);
        cmd.current_dir(self.root());
        cmd
    }

    pub(crate) fn initdb(&self) -> Result<(), EmbeddedError> {
        let args: Vec<OsString> = vec![
            "-D".into(),
            (&self.data_dir).into(),
            "-A".into(),
            "trust".into(),
            "-U".into(),
            SUPERUSER.into(),
            "-E".into(),
            "UTF8".into(),
            "--locale=C".into(),
            "--no-sync".into(),
        ];
        let cmd = self.server_command("initdb", &args);
        run_checked(cmd, &describe("initdb", &args))?;
        Ok(())
    }

    pub(crate) fn start_server(&mut self) -> Result<(), EmbeddedError> {
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port()?;
            self.port = port;
            self.log_path = self.root().join(format!("server-{port}.log"));
            *self
                .running
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner) = true;
            let (what, output) = self.pg_ctl_start()?;
            if output.status.success() {
                tracing::debug!(port, dir = %self.root().display(), "PostgreSQL server started");
                return Ok(());
            }
            let tail = log_tail(&self.log_path);
            if attempt < START_ATTEMPTS && port_in_use(&tail) {
                tracing::debug!(
                    port,
                    attempt,
                    "port taken meanwhile, retrying on another port"
                );
                continue;
            }
            return Err(server_command_failed(what, &output, &tail));
        }
        // Unreachable: the last attempt always returns.
        Err(EmbeddedError::NotReady {
            waited_secs: READY_TIMEOUT.as_secs(),
            log_tail: log_tail(&self.log_path),
        })
    }

    /// `pg_ctl start` on `self.port`, logging to `self.log_path` (appending, so a restarted
    /// server's log follows the earlier one). Returns the command line and its output.
    pub(crate) fn pg_ctl_start(&self) -> Result<(String, Output), EmbeddedError> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 \
             -c shared_buffers=128MB{}",
            self.port,
            sh_quote(self.socket_dir.as_os_str()),
            self.extra_options
        );
        let args: Vec<OsString> = vec![
            "start".into(),
            "-D".into(),
            (&self.data_dir).into(),
            "-l".into(),
            (&self.log_path).into(),
            "-w".into(),
            "-t".into(),
            READY_TIMEOUT.as_secs().to_string().into(),
            "-o".into(),
            options.into(),
        ];
        let what = describe("pg_ctl", &args);
        let output = self
            .server_command("pg_ctl", &args)
            .stdin(Stdio::null())
            .output()
            .map_err(io_error(format!("could not run `{what}`")))?;
        Ok((what, output))
    }

    pub(crate) fn lock_running(&self) -> MutexGuard<'_, bool> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Backs [`TestDatabase::stop`].
    pub(crate) fn stop_server(&self, mode: StopMode) -> Result<(), EmbeddedError> {
        let mut running = self.lock_running();
        if !*running {
            return Ok(());
        }
        let args = self.stop_args(mode);
        let what = describe("pg_ctl", &args);
        let output = self
            .server_command("pg_ctl", &args)
            .stdin(Stdio::null())
            .output()
            .map_err(io_error(format!("could not run `{what}`")))?;
        if !output.status.success() {
            return Err(server_command_failed(
                what,
                &output,
                &log_tail(&self.log_path),
            ));
        }
        *running = false;
        tracing::debug!(
            port = self.port,
            mode = mode.pg_ctl_name(),
            "PostgreSQL server stopped"
        );
        Ok(())
    }

    /// Backs [`TestDatabase::start_again`]: the same port, so urls handed out stay valid.
    pub(crate) fn start_stopped_server(&self) -> Result<(), EmbeddedError> {
        let mut running = self.lock_running();
        if *running {
            return Ok(());
        }
        let (what, output) = self.pg_ctl_start()?;
        if !output.status.success() {
            // A server that got as far as writing its pid file may still be starting up:
            // leave it to drop to stop it.
            *running = self.data_dir.join("postmaster.pid").exists();
            return Err(server_command_failed(
                what,
                &output,
                &log_tail(&self.log_path),
            ));
        }
        *running = true;
        self.wait_ready()?;
        tracing::debug!(port = self.port, "PostgreSQL server started again");
        Ok(())
    }

    pub(crate) fn wait_ready(&self) -> Result<(), EmbeddedError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let pg_isready = self.bins.tool("pg_isready");
        let use_pg_isready = is_executable(&pg_isready);
        let url = PgUrl::loopback(self.port, "postgres").render();
        loop {
            let ready = if use_pg_isready {
                Command::new(&pg_isready)
                    .args([
                        "-q",
                        "-h",
                        "127.0.0.1",
                        "-U",
                        SUPERUSER,
                        "-d",
                        "postgres",
                        "-p",
                    ])
                    .arg(self.port.to_string())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
            } else {
                PgConnection::establish(&url).is_ok()
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(EmbeddedError::NotReady {
                    waited_secs: READY_TIMEOUT.as_secs(),
                    log_tail: log_tail(&self.log_path),
                });
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn stop_args(&self, mode: StopMode) -> Vec<OsString> {
        vec![
            "stop".into(),
            "-D".into(),
            (&self.data_dir).into(),
            "-m".into(),
            mode.pg_ctl_name().into(),
            "-w".into(),
            "-t".into(),
            READY_TIMEOUT.as_secs().to_string().into(),
        ]
    }

    /// Watchdog: once this process is gone (or the directory was removed by a regular drop),
    /// stop the server and remove the directory.
    pub(crate) fn spawn_watchdog(&self) -> Option<Child> {
        let stop = self
            .run_as
            .argv(
                &self.bins.tool("pg_ctl"),
                &self.stop_args(StopMode::Immediate),
            )
            .iter()
            .map(|arg| sh_quote(arg))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "{WATCHDOG_PRELUDE}\
             while alive && [ -d \"$TENANCY_CLUSTER_DIR\" ]; do sleep 1; done\n\
             if [ -d \"$TENANCY_CLUSTER_DIR\" ]; then\n\
             {stop} >/dev/null 2>&1\n\
             rm -rf \"$TENANCY_CLUSTER_DIR\"\n\
             fi\n"
        );
        spawn_watchdog(&script, &[("TENANCY_CLUSTER_DIR", self.root().as_os_str())])
    }

    /// Best effort, for drop: stop the server at once, falling back to a signal.
    pub(crate) fn force_stop(&self) {
        let args = self.stop_args(StopMode::Immediate);
        let result = self
            .server_command("pg_ctl", &args)
            .stdin(Stdio::null())
            .output();
        match result {
            Ok(output) if output.status.success() => return,
            Ok(output) => tracing::warn!(
                status = %output.status,
                output = %output_text(&output),
                "pg_ctl stop failed; signalling the postmaster directly"
            ),
            Err(err) => {
                tracing::warn!(%err, "could not run pg_ctl stop; signalling the postmaster directly");
            }
        }
        // Fallback: SIGQUIT (immediate shutdown) to the pid in postmaster.pid.
        let pid = fs::read_to_string(self.data_dir.join("postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next().map(str::trim).map(str::to_owned));
        if let Some(pid) = pid.filter(|pid| pid.parse::<u32>().is_ok()) {
            let signalled = Command::new("kill")
                .args(["-QUIT", &pid])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !signalled.is_ok_and(|status| status.success()) {
                tracing::warn!(pid, "could not stop the PostgreSQL server");
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        stop_watchdog(&mut self.watchdog);
        // Not after a successful `TestDatabase::stop`: `pg_ctl stop` would fail and warn.
        if *self
            .running
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
        {
            self.force_stop();
        }
        // `self.dir` (TempDir) is dropped after this and removes the directory.
    }
}

/// `extra` as ` -c 'name=value'` words for `pg_ctl -o`, which hands its options to a shell.
/// Later `-c` options win, so these override the defaults they follow.
pub(crate) fn server_options(extra: &[(&str, &str)]) -> String {
    let mut options = String::new();
    for (name, value) in extra {
        options.push_str(" -c ");
        options.push_str(&sh_quote(OsStr::new(&format!("{name}={value}"))));
    }
    options
}

/// Find a free TCP port on 127.0.0.1 (bind port 0, read it, release it).
pub(crate) fn free_port() -> Result<u16, EmbeddedError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(io_error("could not bind a TCP port on 127.0.0.1"))?;
    let addr = listener
        .local_addr()
        .map_err(io_error("could not read the bound TCP port"))?;
    Ok(addr.port())
}

pub(crate) fn port_in_use(log: &str) -> bool {
    log.contains("Address already in use")
        || log.contains("could not bind")
        || log.contains("could not create any TCP/IP sockets")
}
