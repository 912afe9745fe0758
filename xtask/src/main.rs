//! Project chores that are not part of the library, run as `cargo xtask <command>` (an alias
//! in `.cargo/config.toml`):
//!
//! - `cargo xtask bench` runs every benchmark on the embedded throwaway cluster
//!   and writes `BENCHMARKS.md`;
//! - `cargo xtask reliability` runs the reliability and security suites and writes
//!   `RELIABILITY.md` from the counts the tests record.
//!
//! Both reports are generated, never edited by hand: each says which command wrote it, on
//! what machine, from which commit.

mod bench;
mod machine;
mod reliability;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "tenancy's benchmark and reliability reports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the benchmarks (`cargo bench -p tenancy-schema --bench <name>`, and
    /// `tenancy-async`'s `async_transactions`, one after the
    /// other) and writes BENCHMARKS.md.
    Bench {
        /// Only these benchmarks, by bench target name such as `rls_cost` (default: all); the
        /// report then covers only them.
        #[arg(long = "only", value_name = "NAME")]
        only: Vec<String>,
        /// Do not run anything: write the report again from the records of the last run
        /// (target/tenancy-bench/*.json).
        #[arg(long)]
        render_only: bool,
        /// Where to write the report.
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
    },
    /// Runs the reliability suites and writes RELIABILITY.md.
    Reliability {
        /// The CI-sized runs only: skip the larger `#[ignore]` runs (100,000-transaction load,
        /// 5,000 proptest cases).
        #[arg(long)]
        quick: bool,
        /// Also fuzz each cargo-fuzz target for this many seconds (needs `cargo fuzz`).
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        fuzz_seconds: u64,
        /// Where to write the report.
        #[arg(long, default_value = "RELIABILITY.md")]
        out: PathBuf,
    },
}

/// What can stop a report from being written.
#[derive(Debug, thiserror::Error)]
pub enum XtaskError {
    /// A command could not be started at all.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A benchmark's JSON record could not be read.
    #[error("{path}: not a benchmark record: {source}")]
    Record {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// An unknown benchmark was named with `--only`.
    #[error("unknown benchmark `{0}`; valid names: {names}", names = bench::BENCHES.join(", "))]
    UnknownBench(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Bench {
            only,
            render_only,
            out,
        } => bench::run(&only, render_only, &out),
        Command::Reliability {
            quick,
            fuzz_seconds,
            out,
        } => reliability::run(quick, fuzz_seconds, &out),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        // The report was written, but something in it failed: say so through the exit code.
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
