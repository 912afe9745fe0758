//! The record a benchmark writes (`$TENANCY_BENCH_OUT/<bench>.json`) and `cargo xtask bench`
//! reads: one definition both depend on, so the writer and the reader cannot drift apart.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)] // reason: percentile indexes from float ranks

use std::time::Duration;

use serde::{Deserialize, Serialize};

mod cpu;

pub use cpu::{CpuMeter, CpuSample};

/// Order statistics of one set of samples, in the row's unit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Stats {
    /// Number of samples.
    pub n: usize,
    /// The smallest sample.
    pub min: f64,
    /// 5th percentile.
    pub p5: f64,
    /// The median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// The largest sample.
    pub max: f64,
}

/// Which way is better for a row's ratio: lower latency or higher throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Latency: below 1 is faster.
    Lower,
    /// Throughput: above 1 is faster.
    Higher,
}

/// One measured figure, alone or next to its baseline from the same run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// What the row measures.
    pub label: String,
    /// `µs`, `tx/s`, `appends/s`, ...
    pub unit: String,
    /// Which way the ratio is better.
    pub better: Better,
    /// tenancy's side (or the only figure).
    pub ours: Stats,
    /// The same work without tenancy, measured interleaved in the same run.
    pub baseline: Option<Stats>,
    /// ours / baseline: of the medians, or, for a row whose sides were measured round by
    /// round ([`Row::paired`]), the median of the rounds' own ratios.
    pub ratio: Option<f64>,
    /// For a paired row, the smallest and largest of the rounds' ratios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_spread: Option<(f64, f64)>,
    /// The target for the ratio (or for the figure when there is no baseline), as text.
    pub target: Option<String>,
    /// Whether the target is met; `None` when there is no target.
    pub met: Option<bool>,
}

/// A titled group of rows (one measured item, such as `query-overhead`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Section {
    /// What the section measures, in kebab case: `query-overhead`, `rls-statement-cost`, ...
    pub id: String,
    /// The section's heading.
    pub title: String,
    /// How it was measured: sides, sample counts, data set.
    pub method: String,
    /// The measured figures.
    pub rows: Vec<Row>,
    /// Extra text kept verbatim (such as EXPLAIN output).
    pub notes: Vec<String>,
}

/// Everything one benchmark binary measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The bench target's name (`cargo bench -p tenancy-schema --bench <bench>`).
    pub bench: String,
    /// `SHOW server_version` of the server measured.
    pub server_version: String,
    /// What it measured.
    pub sections: Vec<Section>,
}

impl Stats {
    /// Nearest-rank percentiles of `values` (any order). `None` for no samples.
    #[must_use]
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
    #[must_use]
    pub fn micros(samples: &[Duration]) -> Option<Stats> {
        let v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        Stats::of(&v)
    }
}

impl Row {
    /// A figure with no baseline.
    #[must_use]
    pub fn single(label: &str, unit: &str, better: Better, ours: Stats) -> Row {
        Row {
            label: label.to_owned(),
            unit: unit.to_owned(),
            better,
            ours,
            baseline: None,
            ratio: None,
            ratio_spread: None,
            target: None,
            met: None,
        }
    }

    /// tenancy next to its baseline; the ratio is of the medians.
    #[must_use]
    pub fn compared(label: &str, unit: &str, better: Better, ours: Stats, baseline: Stats) -> Row {
        let ratio = ours.p50 / baseline.p50;
        Row {
            ratio: ratio.is_finite().then_some(ratio),
            baseline: Some(baseline),
            ..Row::single(label, unit, better, ours)
        }
    }

    /// tenancy next to its baseline, measured in the same rounds: `ours[i]` and `baseline[i]`
    /// are round `i`'s figures. The ratio is the median of the rounds' ratios: each compares
    /// two runs a few seconds apart, so a stretch in which this shared machine is slow for
    /// both sides cancels out, where a ratio of medians can pair one side's fast rounds with
    /// the other's slow ones. `None` when a side has no figures or the counts differ.
    #[must_use]
    pub fn paired(
        label: &str,
        unit: &str,
        better: Better,
        ours: &[f64],
        baseline: &[f64],
    ) -> Option<Row> {
        if ours.len() != baseline.len() {
            return None;
        }
        let ratios: Vec<f64> = ours.iter().zip(baseline).map(|(o, b)| o / b).collect();
        let of_rounds = Stats::of(&ratios)?;
        Some(Row {
            ratio: Some(of_rounds.p50),
            ratio_spread: Some((of_rounds.min, of_rounds.max)),
            ..Row::compared(label, unit, better, Stats::of(ours)?, Stats::of(baseline)?)
        })
    }

    /// Latency samples of both sides, in µs.
    ///
    /// # Panics
    /// When either side has no samples.
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
                "{:<40} tenancy {} | baseline {} {} | ratio {ratio:.3}{}{}",
                self.label,
                s(&self.ours),
                s(base),
                self.unit,
                self.ratio_spread
                    .map(|(lo, hi)| format!(" (rounds {lo:.3}–{hi:.3})"))
                    .unwrap_or_default(),
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
    /// A section, printed as it starts.
    #[must_use]
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

    /// Adds a row, printed.
    pub fn push(&mut self, row: Row) {
        row.print();
        self.rows.push(row);
    }

    /// Adds a note kept verbatim, printed.
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        println!("{text}");
        self.notes.push(text);
    }
}

impl Report {
    /// An empty report of `bench`, measured on a server of `server_version`.
    #[must_use]
    pub fn new(bench: &str, server_version: &str) -> Report {
        Report {
            bench: bench.to_owned(),
            server_version: server_version.to_owned(),
            sections: Vec::new(),
        }
    }

    /// Writes `$TENANCY_BENCH_OUT/<bench>.json` when that variable is set.
    ///
    /// # Errors
    /// When the directory or the file cannot be written.
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
