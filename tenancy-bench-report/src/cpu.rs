//! CPU time spent per transaction, by the benchmark's own process and by the PostgreSQL
//! server it measures, read from `/proc` (Linux). Throughput on a shared 2-core machine moves
//! with whatever else runs; the CPU time a side spends per transaction moves far less, so it
//! says what a side costs where throughput only says how it fared.
//!
//! The server is found from one of its backends: its parent is the postmaster, and every
//! process the postmaster started (backends, WAL writer, checkpointer) counts, so that work a
//! side leaves to the background (WAL of its inserts) is charged to it too. Sides must run one
//! at a time for the figures to be theirs.

use std::fs;

/// Clock ticks per second of `/proc/<pid>/stat`'s times: the kernel exports them in
/// `USER_HZ`, which is 100 on every Linux architecture tenancy is built for.
const TICKS_PER_SECOND: f64 = 100.0;

/// Reads the CPU time of this process and of one PostgreSQL server on this machine.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    postmaster: u32,
}

/// CPU time used up to one moment, in clock ticks: this process, and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSample {
    client: u64,
    server: u64,
}

/// `/proc/<pid>/stat`'s parent pid and user + system time, or `None` when unreadable.
fn stat(process: &str) -> Option<(u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the fields follow the last `)`.
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (3), ppid (4), ..., utime (14), stime (15).
    let ppid = fields.get(1)?.parse().ok()?;
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, user + system))
}

impl CpuMeter {
    /// A meter for the server that runs the backend `backend_pid` (`SELECT pg_backend_pid()`).
    /// `None` where that process is not a PostgreSQL backend on this machine (a remote
    /// `DATABASE_URL`, no `/proc`).
    #[must_use]
    pub fn for_backend(backend_pid: i32) -> Option<CpuMeter> {
        let comm = fs::read_to_string(format!("/proc/{backend_pid}/comm")).ok()?;
        if comm.trim() != "postgres" {
            return None;
        }
        let (postmaster, _) = stat(&backend_pid.to_string())?;
        Some(CpuMeter { postmaster })
    }

    /// The CPU time used so far.
    #[must_use]
    pub fn sample(&self) -> CpuSample {
        let client = stat("self").map_or(0, |(_, t)| t);
        let mut server = stat(&self.postmaster.to_string()).map_or(0, |(_, t)| t);
        if let Ok(entries) = fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                if let Some((ppid, ticks)) = stat(pid)
                    && ppid == self.postmaster
                {
                    server += ticks;
                }
            }
        }
        CpuSample { client, server }
    }
}

impl CpuSample {
    /// Microseconds of CPU per transaction between `earlier` and this sample, for
    /// `transactions` transactions: this process's and the server's. A process that exited in
    /// between takes its time with it, so a figure can only come out low, never high.
    #[must_use]
    pub fn per_transaction_since(&self, earlier: CpuSample, transactions: f64) -> (f64, f64) {
        let micros = |ticks: u64| ticks as f64 * 1e6 / TICKS_PER_SECOND / transactions;
        (
            micros(self.client.saturating_sub(earlier.client)),
            micros(self.server.saturating_sub(earlier.server)),
        )
    }
}
