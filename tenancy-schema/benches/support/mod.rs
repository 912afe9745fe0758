//! What every benchmark binary shares: order statistics over samples, side-by-side rows with
//! their ratio, and the machine-readable record `cargo xtask bench` turns into
//! `BENCHMARKS.md`.
//!
//! A benchmark prints its table for a human and, when `TENANCY_BENCH_OUT` names a directory,
//! writes `<bench>.json` there (schema: [`Report`]).

#![allow(
    dead_code,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)] // reason: each bench binary uses part of this module; percentile indexes from float ranks

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;

mod record;
pub use record::{Better, Report, Row, Section, Stats};
use tenancy_schema::run_migrations;
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

impl Stats {
    /// Nearest-rank percentiles of `values` (any order). `None` for no samples.
    pub fn of(values: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
        Some(Stats {
            n: v.len(),
            min: v[0],
            p5: at(0.05),
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            max: v[v.len() - 1],
        })
    }

    /// Latencies in microseconds.
    pub fn micros(samples: &[Duration]) -> Option<Stats> {
        let v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        Stats::of(&v)
    }
}

impl Row {
    /// A figure with no baseline.
    pub fn single(label: &str, unit: &str, better: Better, ours: Stats) -> Row {
        Row {
            label: label.to_owned(),
            unit: unit.to_owned(),
            better,
            ours,
            baseline: None,
            ratio: None,
            target: None,
            met: None,
        }
    }

    /// tenancy next to its baseline; the ratio is of the medians.
    pub fn compared(label: &str, unit: &str, better: Better, ours: Stats, baseline: Stats) -> Row {
        let ratio = ours.p50 / baseline.p50;
        Row {
            ratio: ratio.is_finite().then_some(ratio),
            baseline: Some(baseline),
            ..Row::single(label, unit, better, ours)
        }
    }

    /// Latency samples of both sides, in µs.
    pub fn latency(label: &str, ours: &[Duration], baseline: &[Duration]) -> Row {
        Row::compared(
            label,
            "µs",
            Better::Lower,
            Stats::micros(ours).expect("samples"),
            Stats::micros(baseline).expect("samples"),
        )
    }

    /// Sets a target on the ratio: at most `max` (latency) or at least `min` (throughput).
    pub fn ratio_target(mut self, bound: f64) -> Row {
        let (text, met) = match self.better {
            Better::Lower => (
                format!("ratio ≤ {bound:.2}"),
                self.ratio.map(|r| r <= bound),
            ),
            Better::Higher => (
                format!("ratio ≥ {bound:.2}"),
                self.ratio.map(|r| r >= bound),
            ),
        };
        self.target = Some(text);
        self.met = met;
        self
    }

    /// Sets a target on tenancy's figure itself (`stat` names the statistic: `p50`, `p95`).
    pub fn value_target(mut self, stat: &str, bound: f64) -> Row {
        let value = match stat {
            "p95" => self.ours.p95,
            "p99" => self.ours.p99,
            _ => self.ours.p50,
        };
        let (text, met) = match self.better {
            Better::Lower => (format!("{stat} < {bound} {}", self.unit), value < bound),
            Better::Higher => (format!("{stat} > {bound} {}", self.unit), value > bound),
        };
        self.target = Some(text);
        self.met = Some(met);
        self
    }

    /// One line for the terminal.
    pub fn print(&self) {
        let s = |st: &Stats| {
            format!(
                "p50 {:>9.1} p95 {:>9.1} p99 {:>9.1} (n {})",
                st.p50, st.p95, st.p99, st.n
            )
        };
        match (&self.baseline, self.ratio) {
            (Some(base), Some(ratio)) => println!(
                "{:<40} tenancy {} | baseline {} {} | ratio {ratio:.3}{}",
                self.label,
                s(&self.ours),
                s(base),
                self.unit,
                self.target
                    .as_ref()
                    .map(|t| format!(" (target {t})"))
                    .unwrap_or_default()
            ),
            _ => println!(
                "{:<40} {} {}{}",
                self.label,
                s(&self.ours),
                self.unit,
                self.target
                    .as_ref()
                    .map(|t| format!(" (target {t})"))
                    .unwrap_or_default()
            ),
        }
    }
}

impl Section {
    pub fn new(id: &str, title: &str, method: &str) -> Section {
        println!("{id} {title}\n  {method}");
        Section {
            id: id.to_owned(),
            title: title.to_owned(),
            method: method.to_owned(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Row) {
        row.print();
        self.rows.push(row);
    }

    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        println!("{text}");
        self.notes.push(text);
    }
}

impl Report {
    pub fn new(bench: &str, conn: &mut PgConnection) -> Report {
        Report {
            bench: bench.to_owned(),
            server_version: server_version(conn),
            sections: Vec::new(),
        }
    }

    /// Writes `$TENANCY_BENCH_OUT/<bench>.json` when that variable is set.
    pub fn finish(self) -> Result<(), Box<dyn std::error::Error>> {
        if let Some(dir) = std::env::var_os("TENANCY_BENCH_OUT") {
            let dir = std::path::PathBuf::from(dir);
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(format!("{}.json", self.bench));
            std::fs::write(&path, serde_json::to_string_pretty(&self)?)?;
            println!("wrote {}", path.display());
        }
        Ok(())
    }
}

/// Operations per second of `workers` threads that each call `work(worker, n)` (`n` counts
/// that worker's calls) until `run` has passed. A failed call ends its worker, and the first
/// failure is the result.
pub fn throughput<E: std::fmt::Display>(
    workers: usize,
    run: Duration,
    work: &(dyn Fn(usize, u64) -> Result<(), E> + Sync),
) -> Result<f64, String> {
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
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
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
