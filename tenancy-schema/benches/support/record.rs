//! The record a benchmark writes (`$TENANCY_BENCH_OUT/<bench>.json`) and `cargo xtask bench`
//! reads: one definition, compiled into both (xtask includes this file with `#[path]`), so
//! the writer and the reader cannot drift apart.

#![allow(dead_code)] // reason: each side reads only part of the record

use serde::{Deserialize, Serialize};

/// Order statistics of one set of samples, in the row's unit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Stats {
    /// Number of samples.
    pub n: usize,
    pub min: f64,
    pub p5: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// Which way is better for a row's ratio: lower latency or higher throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

/// One measured figure, alone or next to its baseline from the same run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub label: String,
    /// `µs`, `tx/s`, `appends/s`, ...
    pub unit: String,
    pub better: Better,
    /// tenancy's side (or the only figure).
    pub ours: Stats,
    /// The same work without tenancy, measured interleaved in the same run.
    pub baseline: Option<Stats>,
    /// ours / baseline, of the medians.
    pub ratio: Option<f64>,
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
    pub title: String,
    /// How it was measured: sides, sample counts, data set.
    pub method: String,
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
    pub sections: Vec<Section>,
}
