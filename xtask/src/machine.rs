//! The facts a report states about where it was measured.

use std::fmt::Write as _;

use crate::run::first_line;

/// Machine, toolchain and source version, for a report's header.
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub os: String,
    pub rustc: String,
    pub commit: String,
    pub date: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown CPU".to_owned(), |(_, v)| v.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or_else(
                || "unknown".to_owned(),
                // Whole MiB first: any real memory size fits an f64 exactly after that.
                |kib| {
                    format!(
                        "{:.1} GiB",
                        f64::from(u32::try_from(kib / 1024).unwrap_or(u32::MAX)) / 1024.0
                    )
                },
            );
        let commit = first_line("git", &["rev-parse", "--short", "HEAD"]).map_or_else(
            || "unknown".to_owned(),
            |c| {
                let dirty = std::process::Command::new("git")
                    .args(["status", "--porcelain", "--untracked-files=no"])
                    .output()
                    .is_ok_and(|o| !o.stdout.is_empty());
                if dirty {
                    format!("{c} with uncommitted changes")
                } else {
                    c
                }
            },
        );
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            memory,
            os: first_line("uname", &["-srm"]).unwrap_or_else(|| std::env::consts::OS.to_owned()),
            rustc: first_line("rustc", &["--version"]).unwrap_or_else(|| "unknown".to_owned()),
            commit,
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }

    /// Header rows of a two-column markdown table (after its `| | |` head).
    pub fn rows(&self, postgres: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| machine | {}, {} cores, {} RAM, {} |",
            self.cpu, self.cores, self.memory, self.os
        );
        let _ = writeln!(s, "| Rust | {} |", self.rustc);
        let _ = writeln!(s, "| PostgreSQL | {postgres} |");
        let _ = writeln!(s, "| commit | {} |", self.commit);
        let _ = writeln!(s, "| date | {} |", self.date);
        s
    }
}

/// A fixed machine, so rendered reports can be compared in tests.
#[cfg(test)]
pub fn fixture() -> Machine {
    Machine {
        cpu: "Test CPU".into(),
        cores: 2,
        memory: "1.0 GiB".into(),
        os: "Linux".into(),
        rustc: "rustc 1.95.0".into(),
        commit: "abc1234".into(),
        date: "2026-11-23 00:00 UTC".into(),
    }
}
