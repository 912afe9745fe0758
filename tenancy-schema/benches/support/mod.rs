//! What every benchmark binary shares: order statistics over samples, side-by-side rows with
//! their ratio, and the machine-readable record `cargo xtask bench` turns into
//! `BENCHMARKS.md`.
//!
//! A benchmark prints its table for a human and, when `TENANCY_BENCH_OUT` names a directory,
//! writes `<bench>.json` there (schema: [`Report`]).

#![allow(dead_code, unused_imports, clippy::cast_precision_loss)] // reason: each bench binary uses part of this module; operations per second from a count

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;

pub mod short_work;

pub use tenancy_bench_report::{Better, CpuMeter, Report, Row, Section, Stats};
use tenancy_foundation::run_migrations;
use tenancy_testing::TestDatabase;

/// What every benchmark starts from: a migrated throwaway database (dropped with this
/// value), its superuser connection, and the URL of a login that works as `tenancy_app`.
pub struct Start {
    pub db: TestDatabase,
    pub owner: PgConnection,
    pub app_url: String,
}

/// Starts the database (or uses `DATABASE_URL`), runs the migrations and creates the login.
pub fn start() -> Result<Start, Box<dyn std::error::Error>> {
    let db = TestDatabase::start()?;
    let mut owner = PgConnection::establish(db.url())?;
    run_migrations(&mut owner)?;
    let app_url = db.create_app_login("bench_login", "bench")?;
    Ok(Start { db, owner, app_url })
}

/// A report for `bench`, naming the server `conn` measures.
pub fn report(bench: &str, conn: &mut PgConnection) -> Report {
    Report::new(bench, &server_version(conn))
}

/// Operations per second of `workers` threads that each call `work(worker, n)` (`n` counts
/// that worker's calls) until `run` has passed. A failed call ends its worker, and the first
/// failure is the result.
pub fn throughput<E: std::fmt::Display>(
    workers: usize,
    run: Duration,
    work: &(dyn Fn(usize, u64) -> Result<(), E> + Sync),
) -> Result<f64, String> {
    let (done, elapsed) = run_workers(workers, run, work)?;
    Ok(done as f64 / elapsed.as_secs_f64())
}

/// [`throughput`], and the CPU time per operation this process and the server spent on the
/// run (microseconds, both together) when `meter` can read them.
pub fn throughput_and_cpu<E: std::fmt::Display>(
    workers: usize,
    run: Duration,
    work: &(dyn Fn(usize, u64) -> Result<(), E> + Sync),
    meter: Option<&CpuMeter>,
) -> Result<(f64, Option<f64>), String> {
    let before = meter.map(CpuMeter::sample);
    let (done, elapsed) = run_workers(workers, run, work)?;
    let cpu = meter.zip(before).map(|(meter, before)| {
        let (client, server) = meter.sample().per_transaction_since(before, done as f64);
        client + server
    });
    Ok((done as f64 / elapsed.as_secs_f64(), cpu))
}

/// Runs `workers` threads calling `work` until `run` has passed: how many calls finished, and
/// the time from the start until the last worker stopped.
fn run_workers<E: std::fmt::Display>(
    workers: usize,
    run: Duration,
    work: &(dyn Fn(usize, u64) -> Result<(), E> + Sync),
) -> Result<(u64, Duration), String> {
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (done, stop) = (&done, &stop);
                s.spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        work(w, n).map_err(|e| e.to_string())?;
                        n += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        std::thread::sleep(run);
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a worker panicked".to_owned()))
            })
            .collect()
    });
    results.into_iter().collect::<Result<(), String>>()?;
    Ok((done.load(Ordering::Relaxed), start.elapsed()))
}

#[derive(QueryableByName)]
struct BackendPid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// A meter of this process's and the server's CPU time, for the server behind `conn` when it
/// runs on this machine.
pub fn cpu_meter(conn: &mut PgConnection) -> Option<CpuMeter> {
    let backend: BackendPid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(conn)
        .ok()?;
    CpuMeter::for_backend(backend.pid)
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

fn server_version(conn: &mut PgConnection) -> String {
    diesel::sql_query("SELECT current_setting('server_version') AS value")
        .get_result::<Setting>(conn)
        .map_or_else(|e| format!("unknown ({e})"), |s| s.value)
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of `sql` on `conn`, one string per plan line.
pub fn explain(conn: &mut PgConnection, sql: &str) -> QueryResult<Vec<String>> {
    diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
        .load::<PlanLine>(conn)
        .map(|lines| lines.into_iter().map(|l| l.line).collect())
}
