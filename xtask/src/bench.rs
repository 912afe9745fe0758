//! `cargo xtask bench`: runs the benchmark binaries and renders their records as
//! `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::path::Path;

use crate::XtaskError;
use crate::machine::Machine;
use crate::run::{fresh_dir, read, read_record, stream, workspace_root, write};

/// The benchmark targets, in report order: `tenancy-schema`'s, and `tenancy-async`'s (see
/// [`package_of`]).
pub const BENCHES: &[&str] = &[
    "short_transactions",
    "async_transactions",
    "citus_scale_out",
    "overhead",
    "rls_cost",
    "concurrency",
    "api_key_verify",
    "newest_resources",
    "audit_append",
];

/// The id of the compile-time section: no binary here writes it (see [`push_compile_time`]).
const COMPILE_TIME: &str = "compile-time";

/// The order of the sections in the report, by id. Sections not listed follow, in the order
/// of their benchmarks in [`BENCHES`].
const SECTION_ORDER: &[&str] = &[
    "query-overhead",
    "transaction-setup",
    "rls-statement-cost",
    COMPILE_TIME,
    "concurrent-writers",
    "api-key-verify",
    "newest-resources",
    "audit-append",
    "short-transactions",
    "short-transactions-breakdown",
    "async-transactions",
    // The same short transactions on Citus, after the single-node transaction sections.
    "citus-scale-out",
];

/// The package whose bench target `bench` is.
fn package_of(bench: &str) -> &'static str {
    if bench == "async_transactions" {
        "tenancy-async"
    } else {
        "tenancy-schema"
    }
}

/// Where a section goes in the report: its place in [`SECTION_ORDER`], else after them all.
fn rank(id: &str) -> usize {
    SECTION_ORDER
        .iter()
        .position(|s| *s == id)
        .unwrap_or(SECTION_ORDER.len())
}

use tenancy_bench_report::{Report, Section, Stats};

/// Runs the chosen benchmarks one after the other (never in parallel: they would measure
/// each other), then writes the report. `Ok(false)` when a benchmark failed; the report then
/// lists it as failed, and keeps every other result.
pub fn run(only: &[String], render_only: bool, out: &Path) -> Result<bool, XtaskError> {
    for name in only {
        if !BENCHES.contains(&name.as_str()) {
            return Err(XtaskError::UnknownBench(name.clone()));
        }
    }
    let chosen: Vec<&str> = BENCHES
        .iter()
        .copied()
        .filter(|b| only.is_empty() || only.iter().any(|o| o == b))
        .collect();
    let dir = workspace_root().join("target/tenancy-bench");
    let mut failed = Vec::new();
    if !render_only {
        fresh_dir(&dir)?;
    }
    for bench in chosen.iter().filter(|_| !render_only) {
        let output = stream(
            "cargo",
            &["bench", "-p", package_of(bench), "--bench", bench],
            &[("TENANCY_BENCH_OUT", &dir)],
        )?;
        if !output.success {
            let last = output
                .lines
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .cloned();
            failed.push(((*bench).to_owned(), last.unwrap_or_default()));
        }
    }
    let mut reports = Vec::new();
    let mut measured_at: Option<std::time::SystemTime> = None;
    for bench in &chosen {
        let path = dir.join(format!("{bench}.json"));
        if path.exists() {
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            measured_at = measured_at.max(modified);
            reports.push(read_record::<Report>(&path)?);
        }
    }
    // The compile-time benchmark is not one of the binaries run here; the full report quotes
    // its last recorded run.
    let compile_time = if only.is_empty() {
        read(&workspace_root().join("benches/compile-time/RESULTS.md")).ok()
    } else {
        None
    };
    let mut machine = Machine::read();
    if render_only {
        // The records do not say which commit was measured; the working tree's is not it.
        machine.commit = format!("not recorded (re-rendered at {})", machine.commit);
    }
    // The records' own time, so a re-render does not pass for a new measurement.
    if let Some(at) = measured_at {
        machine.date = chrono::DateTime::<chrono::Utc>::from(at)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string();
    }
    let text = render(&reports, &failed, compile_time.as_deref(), &machine, only);
    write(out, &text)?;
    println!("wrote {}", out.display());
    Ok(failed.is_empty())
}

fn num(x: f64) -> String {
    if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else if x.abs() >= 0.1 || x == 0.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// `median (spread)`: p5-p95 over many samples, min-max over a handful of rounds.
fn figure(s: &Stats) -> String {
    if s.n >= 20 {
        format!("{} ({}–{})", num(s.p50), num(s.p5), num(s.p95))
    } else {
        format!("{} ({}–{})", num(s.p50), num(s.min), num(s.max))
    }
}

/// The ratio, with the min–max of the rounds' ratios where the row was measured round by round.
fn ratio_cell(row: &tenancy_bench_report::Row) -> String {
    match (row.ratio, row.ratio_spread) {
        (Some(r), Some((lo, hi))) => format!("{r:.3} ({lo:.3}–{hi:.3})"),
        (Some(r), None) => format!("{r:.3}"),
        (None, _) => String::new(),
    }
}

fn met(m: Option<bool>) -> &'static str {
    match m {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "",
    }
}

/// The markdown of `BENCHMARKS.md`. Pure, so it is tested without running anything.
#[allow(clippy::too_many_lines)] // reason: one linear document, section after section
pub fn render(
    reports: &[Report],
    failed: &[(String, String)],
    compile_time: Option<&str>,
    machine: &Machine,
    only: &[String],
) -> String {
    let mut s = String::new();
    let command = if only.is_empty() {
        "cargo xtask bench".to_owned()
    } else {
        format!(
            "cargo xtask bench {}",
            only.iter()
                .map(|o| format!("--only {o}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let postgres: Vec<&str> = {
        let mut v: Vec<&str> = reports.iter().map(|r| r.server_version.as_str()).collect();
        v.dedup();
        v
    };
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Written by `{command}`; do not edit by hand. Each benchmark starts its own throwaway PostgreSQL cluster \
         (or uses `DATABASE_URL`) and measures tenancy and its baseline side by side, interleaved, in the same run.\n"
    );
    let _ = writeln!(s, "| | |\n|---|---|");
    s.push_str(&machine.rows(&if postgres.is_empty() {
        "not measured".to_owned()
    } else {
        postgres.join(", ")
    }));
    let _ = writeln!(
        s,
        "| reproduce | `{command}`; everything: `cargo xtask bench` (about 15 minutes); one benchmark: `cargo bench -p tenancy-schema --bench <name>` (`-p tenancy-async` for `async_transactions`) |\n"
    );
    let _ = writeln!(
        s,
        "Each figure is a median with its spread in parentheses: p5–p95 over the samples, or min–max over the rounds when \
         there are fewer than 20 (throughput). A ratio is tenancy's median over the baseline's median from the same run, \
         or, where a spread follows it, the median of the rounds' own ratios (each round runs every side once, one after \
         the other) with their min–max: below 1 is faster for latency, above 1 is faster for throughput. The machine is shared and noisy; ratios taken side \
         by side are the figures to compare, not absolute times across runs.\n"
    );
    if !failed.is_empty() {
        let _ = writeln!(s, "## Failed\n");
        for (bench, last) in failed {
            let _ = writeln!(
                s,
                "- `{bench}` did not finish: `{}`",
                last.replace('`', "'")
            );
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Targets\n");
    let _ = writeln!(
        s,
        "| item | measurement | result | target | met |\n|---|---|---|---|---|"
    );
    for section in reports.iter().flat_map(|r| &r.sections) {
        for row in section.rows.iter().filter(|r| r.target.is_some()) {
            let result = match row.ratio {
                Some(r)
                    if row
                        .target
                        .as_deref()
                        .is_some_and(|t| t.starts_with("ratio")) =>
                {
                    format!("ratio {r:.3}")
                }
                _ => format!(
                    "p50 {}, p95 {} {}",
                    num(row.ours.p50),
                    num(row.ours.p95),
                    row.unit
                ),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {result} | {} | {} |",
                section.id,
                row.label,
                row.target.as_deref().unwrap_or(""),
                met(row.met)
            );
        }
    }
    if compile_time.is_some() {
        let _ = writeln!(
            s,
            "| {COMPILE_TIME} | compile time, 10–100 tables | see below | ratio ≤ 1.10 | see below |"
        );
    }
    s.push('\n');

    let mut sections: Vec<&Section> = reports.iter().flat_map(|r| &r.sections).collect();
    sections.sort_by_key(|sec| rank(&sec.id));
    let mut compile_time_done = compile_time.is_none();
    for section in sections {
        if !compile_time_done && rank(&section.id) > rank(COMPILE_TIME) {
            push_compile_time(&mut s, compile_time.unwrap_or_default());
            compile_time_done = true;
        }
        push_section(&mut s, section);
    }
    if !compile_time_done {
        push_compile_time(&mut s, compile_time.unwrap_or_default());
    }
    s
}

fn push_section(s: &mut String, section: &Section) {
    let _ = writeln!(
        s,
        "## {} {}\n\n{}\n",
        section.id, section.title, section.method
    );
    let compared = section.rows.iter().any(|r| r.baseline.is_some());
    if compared {
        let _ = writeln!(
            s,
            "| measurement | unit | tenancy median (spread) | p99 | baseline median (spread) | p99 | ratio | target | met |\n|---|---|---|---|---|---|---|---|---|"
        );
    } else {
        let _ = writeln!(
            s,
            "| measurement | unit | median (spread) | p99 | n | target | met |\n|---|---|---|---|---|---|---|"
        );
    }
    for row in &section.rows {
        if compared {
            let (base, base99) = row
                .baseline
                .as_ref()
                .map_or((String::new(), String::new()), |b| (figure(b), num(b.p99)));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {base} | {base99} | {} | {} | {} |",
                row.label,
                row.unit,
                figure(&row.ours),
                num(row.ours.p99),
                ratio_cell(row),
                row.target.as_deref().unwrap_or(""),
                met(row.met)
            );
        } else {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.label,
                row.unit,
                figure(&row.ours),
                num(row.ours.p99),
                row.ours.n,
                row.target.as_deref().unwrap_or(""),
                met(row.met)
            );
        }
    }
    s.push('\n');
    for note in &section.notes {
        if note.contains('\n') {
            let (head, body) = note.split_once('\n').unwrap_or((note, ""));
            let _ = writeln!(s, "{head}\n\n```text\n{body}\n```\n");
        } else {
            let _ = writeln!(s, "{note}\n");
        }
    }
}

/// The compile-time benchmark takes about an hour, so it runs on its own
/// (`benches/compile-time/run.sh`); the report quotes the summary of its last recorded run.
fn push_compile_time(s: &mut String, results: &str) {
    let _ = writeln!(
        s,
        "## {COMPILE_TIME} compile time\n\nNot re-run by this command (about an hour on 2 cores): the summary of the last run recorded in \
         `benches/compile-time/RESULTS.md`, reproduced with `benches/compile-time/run.sh <tables> <queries> <rounds>`. \
         Target: build ratio at most 1.10.\n"
    );
    let summary: Vec<&str> = results
        .lines()
        .skip_while(|l| !l.starts_with("## Summary"))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with('|'))
        .collect();
    if summary.is_empty() {
        let _ = writeln!(s, "(no recorded summary found)\n");
    } else {
        let _ = writeln!(s, "{}\n", summary.join("\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(p50: f64, n: usize) -> Stats {
        Stats {
            n,
            min: p50 * 0.5,
            p5: p50 * 0.8,
            p50,
            p95: p50 * 1.5,
            p99: p50 * 2.0,
            max: p50 * 3.0,
        }
    }

    #[test]
    fn renders_targets_sections_failures_and_compile_time() {
        let report = Report {
            bench: "rls_cost".into(),
            server_version: "15.18".into(),
            sections: vec![Section {
                id: "rls-statement-cost".into(),
                title: "row level security cost".into(),
                method: "how".into(),
                rows: vec![tenancy_bench_report::Row {
                    label: "point lookup".into(),
                    unit: "µs".into(),
                    better: tenancy_bench_report::Better::Lower,
                    ours: stats(120.0, 3000),
                    baseline: Some(stats(100.0, 3000)),
                    ratio: Some(1.2),
                    ratio_spread: None,
                    target: Some("ratio ≤ 1.05".into()),
                    met: Some(false),
                }],
                notes: vec!["EXPLAIN, as app:\nIndex Scan using resources_pkey".into()],
            }],
        };
        let compile = "# x\n## Summary (pinned)\n\n| N | ratio |\n|---|---|\n| 10 | 1.01 |\n\n## Raw\n| 99 | 9 |\n";
        let text = render(
            &[report],
            &[("audit_append".into(), "Error: boom".into())],
            Some(compile),
            &crate::machine::fixture(),
            &[],
        );
        assert!(
            text.contains(
                "| rls-statement-cost | point lookup | ratio 1.200 | ratio ≤ 1.05 | **no** |"
            ),
            "{text}"
        );
        assert!(text.contains("| point lookup | µs | 120.0 (96.0–180.0) | 240.0 | 100.0 (80.0–150.0) | 200.0 | 1.200 |"), "{text}");
        assert!(
            text.contains("```text\nIndex Scan using resources_pkey\n```"),
            "{text}"
        );
        assert!(
            text.contains("- `audit_append` did not finish: `Error: boom`"),
            "{text}"
        );
        assert!(
            text.contains("| 10 | 1.01 |") && !text.contains("| 99 | 9 |"),
            "{text}"
        );
        assert!(text.contains("| PostgreSQL | 15.18 |"), "{text}");
        // The compile-time section follows rls-statement-cost, which comes before it.
        assert!(
            text.find("## rls-statement-cost").unwrap() < text.find("## compile-time").unwrap(),
            "{text}"
        );
    }

    #[test]
    fn sections_follow_the_section_order_with_compile_time_in_its_place() {
        let section = |id: &str| Section {
            id: id.into(),
            title: "t".into(),
            method: "m".into(),
            rows: Vec::new(),
            notes: Vec::new(),
        };
        let report = |bench: &str, ids: &[&str]| Report {
            bench: bench.into(),
            server_version: "15.18".into(),
            sections: ids.iter().map(|id| section(id)).collect(),
        };
        let text = render(
            &[
                report("short_transactions", &["short-transactions"]),
                report("overhead", &["query-overhead", "transaction-setup"]),
                report("concurrency", &["concurrent-writers"]),
            ],
            &[],
            Some("## Summary\n| 10 | 1.01 |\n"),
            &crate::machine::fixture(),
            &[],
        );
        let at = |id: &str| text.find(&format!("## {id} ")).unwrap();
        let order = [
            "query-overhead",
            "transaction-setup",
            "compile-time",
            "concurrent-writers",
            "short-transactions",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");
    }

    #[test]
    fn few_rounds_show_min_max_many_samples_show_p5_p95() {
        assert_eq!(figure(&stats(100.0, 5)), "100.0 (50.0–300.0)");
        assert_eq!(figure(&stats(100.0, 50)), "100.0 (80.0–150.0)");
    }
}
