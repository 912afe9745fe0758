//! `cargo xtask reliability`: runs the reliability and security suites and renders the counts
//! the tests record (`tenancy-tests/tests/common/mod.rs`, `record_counts`) as `RELIABILITY.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use crate::XtaskError;
use crate::machine::Machine;
use crate::run::{fresh_dir, read_record, stream, workspace_root, write};

/// The test binaries of `tenancy-tests` that make up the suite, with what each covers.
pub const SUITES: &[(&str, &str)] = &[
    ("property_isolation", "property-based isolation (proptest)"),
    ("reliability", "pool hygiene, load, bad input"),
    ("faults", "database restarted mid-run"),
    ("pgtap", "pgTAP policy and privilege tests (pg_prove)"),
    ("fuzz_corpus", "fuzz corpus replay"),
    (
        "isolation",
        "compile-time scoping and RLS, as the application role",
    ),
    ("foundation", "isolation matrix of the foundation schema"),
];

/// One `record_counts` file.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub id: String,
    pub test: String,
    pub counts: BTreeMap<String, u64>,
}

/// The test harness's verdict for one binary (`test result: ok. 3 passed; 0 failed; ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    /// Names of the failed tests.
    pub failures: Vec<String>,
    /// Whether the binary ran to its summary line at all.
    pub ran: bool,
}

/// The verdict of one test binary's run from its `cargo test` output: the harness's summary
/// (`test result: ok. 3 passed; 0 failed; 1 ignored; ...`) and the names of failed tests.
pub fn suite_verdict(lines: &[String]) -> Verdict {
    let mut v = Verdict::default();
    for line in lines {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("test result: ") {
            v.ran = true;
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(key), Some(n)) = (words.next(), words.next()) else {
                    continue;
                };
                let n = n.parse::<u64>().unwrap_or(0);
                match key.trim_end_matches(|c: char| !c.is_alphabetic()) {
                    "passed" => v.passed += n,
                    "failed" => v.failed += n,
                    "ignored" => v.ignored += n,
                    _ => {}
                }
            }
        } else if let Some(test) = line
            .strip_prefix("test ")
            .and_then(|t| t.strip_suffix(" ... FAILED"))
        {
            v.failures.push(test.to_owned());
        }
    }
    v
}

/// Live fuzzing of one target: how many inputs libFuzzer ran.
#[derive(Debug, Clone)]
pub struct FuzzRun {
    pub target: String,
    pub seconds: u64,
    pub execs: Option<u64>,
    pub ok: bool,
}

/// `Done 123456 runs in 30 second(s)`, libFuzzer's last line.
pub fn parse_fuzz_execs(lines: &[String]) -> Option<u64> {
    lines.iter().rev().find_map(|l| {
        l.trim()
            .strip_prefix("Done ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    })
}

fn fuzz(seconds: u64) -> Result<Vec<FuzzRun>, XtaskError> {
    let root = workspace_root();
    let targets_dir = root.join("fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(&targets_dir)
        .map_err(|source| XtaskError::Io {
            path: targets_dir.clone(),
            source,
        })?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "rs")
                .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))?
        })
        .collect();
    targets.sort();
    let scratch = root.join("target/tenancy-fuzz-corpus");
    let mut runs = Vec::new();
    for target in targets {
        // On a copy of the committed corpus, so a report run leaves the tree as it was.
        let corpus = scratch.join(&target);
        fresh_dir(&corpus)?;
        if let Ok(entries) = std::fs::read_dir(root.join("fuzz/corpus").join(&target)) {
            for e in entries.filter_map(Result::ok) {
                let _ = std::fs::copy(e.path(), corpus.join(e.file_name()));
            }
        }
        let corpus_arg = corpus.to_string_lossy().into_owned();
        let time = format!("-max_total_time={seconds}");
        let output = stream(
            "cargo",
            &[
                "fuzz",
                "run",
                "--fuzz-dir",
                "fuzz",
                "-s",
                "none",
                &target,
                &corpus_arg,
                "--",
                &time,
            ],
            &[("RUSTC_BOOTSTRAP", Path::new("1"))],
        )?;
        runs.push(FuzzRun {
            execs: parse_fuzz_execs(&output.lines),
            target,
            seconds,
            ok: output.success,
        });
    }
    Ok(runs)
}

/// Runs the suites, then writes the report. `Ok(false)` when any test or fuzz run failed;
/// the report then says which.
pub fn run(quick: bool, fuzz_seconds: u64, out: &Path) -> Result<bool, XtaskError> {
    let dir = workspace_root().join("target/tenancy-reliability");
    fresh_dir(&dir)?;
    // Every suite runs even when one fails, so the report shows all of them.
    // One cargo invocation per suite: its verdict is then unambiguously its own (cargo names
    // the binary on stderr, the binary reports on stdout, and the two pipes race), and a
    // failing suite does not keep the others from running.
    let mut verdicts = BTreeMap::new();
    let mut all_succeeded = true;
    for (suite, _) in SUITES {
        let mut args = vec!["test", "-p", "tenancy-tests", "--test", suite, "--"];
        if !quick {
            args.push("--include-ignored");
        }
        let output = stream("cargo", &args, &[("TENANCY_RELIABILITY_DIR", &dir)])?;
        all_succeeded &= output.success;
        verdicts.insert((*suite).to_owned(), suite_verdict(&output.lines));
    }
    let fuzz_runs = if fuzz_seconds > 0 {
        fuzz(fuzz_seconds)?
    } else {
        Vec::new()
    };

    let mut records = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|source| XtaskError::Io {
            path: dir.clone(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for path in files {
        records.push(read_record::<Record>(&path)?);
    }
    let command = match (quick, fuzz_seconds) {
        (true, 0) => "cargo xtask reliability --quick".to_owned(),
        (false, 0) => "cargo xtask reliability".to_owned(),
        (true, s) => format!("cargo xtask reliability --quick --fuzz-seconds {s}"),
        (false, s) => format!("cargo xtask reliability --fuzz-seconds {s}"),
    };
    let postgres = postgres_version();
    let text = render(
        &command,
        &verdicts,
        &records,
        &fuzz_runs,
        &Machine::read(),
        &postgres,
    );
    write(out, &text)?;
    println!("wrote {}", out.display());
    let all_ran = SUITES
        .iter()
        .all(|(s, _)| verdicts.get(*s).is_some_and(|v| v.ran));
    Ok(all_succeeded && all_ran && fuzz_runs.iter().all(|r| r.ok))
}

fn postgres_version() -> String {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.iter()
        .rev()
        .find_map(|d| {
            crate::run::first_line(&d.join("bin/postgres").to_string_lossy(), &["--version"])
        })
        .or_else(|| crate::run::first_line("postgres", &["--version"]))
        .unwrap_or_else(|| "unknown (DATABASE_URL server?)".to_owned())
}

/// Sums of the counts every record shares, across all records.
fn total(records: &[Record], key: &str) -> u64 {
    records.iter().filter_map(|r| r.counts.get(key)).sum()
}

/// The markdown of `RELIABILITY.md`. Pure, so it is tested without running anything.
#[allow(clippy::too_many_lines)] // reason: one linear document, section after section
pub fn render(
    command: &str,
    verdicts: &BTreeMap<String, Verdict>,
    records: &[Record],
    fuzz_runs: &[FuzzRun],
    machine: &Machine,
    postgres: &str,
) -> String {
    let mut s = String::new();
    let failed_tests: u64 = verdicts.values().map(|v| v.failed).sum();
    let missing: Vec<&str> = SUITES
        .iter()
        .filter(|(name, _)| !verdicts.get(*name).is_some_and(|v| v.ran))
        .map(|(name, _)| *name)
        .collect();
    let fuzz_failed = fuzz_runs.iter().filter(|r| !r.ok).count();
    let _ = writeln!(s, "# Reliability\n");
    let _ = writeln!(
        s,
        "Written by `{command}`; do not edit by hand. The counts come from the tests themselves (each records what it did \
         after its assertions pass), the verdicts from the test harness.\n"
    );
    let _ = writeln!(s, "| | |\n|---|---|");
    s.push_str(&machine.rows(postgres));
    let _ = writeln!(s, "| reproduce | `{command}` |\n");

    let _ = writeln!(s, "## Totals\n");
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(
        s,
        "| tests passed | {} |",
        verdicts.values().map(|v| v.passed).sum::<u64>()
    );
    let _ = writeln!(s, "| tests failed | {failed_tests} |");
    let _ = writeln!(
        s,
        "| suites that did not run | {} |",
        if missing.is_empty() {
            "none".to_owned()
        } else {
            missing.join(", ")
        }
    );
    for (key, label) in [
        ("cases", "property cases run"),
        ("operations", "operations in those cases"),
        ("transactions", "transactions"),
        ("faults_injected", "faults injected"),
        ("tests", "pgTAP assertions"),
        ("corpus_files", "fuzz corpus inputs replayed"),
        ("cross_tenant_rows", "cross-tenant rows seen"),
        ("lost_writes", "committed writes lost"),
    ] {
        let _ = writeln!(s, "| {label} | {} |", total(records, key));
    }
    if !fuzz_runs.is_empty() {
        let execs: u64 = fuzz_runs.iter().filter_map(|r| r.execs).sum();
        let _ = writeln!(s, "| fuzz inputs executed live | {execs} |");
        let _ = writeln!(s, "| fuzz runs that found a crash | {fuzz_failed} |");
    }
    let _ = writeln!(
        s,
        "| failures | {} |\n",
        failed_tests + fuzz_failed as u64 + missing.len() as u64
    );

    let _ = writeln!(s, "## Suites\n");
    let _ = writeln!(
        s,
        "| test binary | covers | passed | failed | ignored |\n|---|---|---|---|---|"
    );
    for (name, covers) in SUITES {
        match verdicts.get(*name) {
            Some(v) if v.ran => {
                let _ = writeln!(
                    s,
                    "| `{name}` | {covers} | {} | {} | {} |",
                    v.passed, v.failed, v.ignored
                );
            }
            _ => {
                let _ = writeln!(s, "| `{name}` | {covers} | **did not run** | | |");
            }
        }
    }
    s.push('\n');
    let failures: Vec<String> = verdicts
        .iter()
        .flat_map(|(bin, v)| v.failures.iter().map(move |t| format!("- `{bin}`: `{t}`")))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "Failed tests:\n\n{}\n", failures.join("\n"));
    }

    let _ = writeln!(s, "## Counts per test\n");
    let _ = writeln!(s, "| item | test | counts |\n|---|---|---|");
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by(|a, b| (a.id.as_str(), a.test.as_str()).cmp(&(b.id.as_str(), b.test.as_str())));
    for r in sorted {
        let counts: Vec<String> = r.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "| {} | {} | {} |", r.id, r.test, counts.join(", "));
    }
    s.push('\n');
    if !fuzz_runs.is_empty() {
        let _ = writeln!(s, "## Live fuzzing\n");
        let _ = writeln!(
            s,
            "| target | seconds | inputs executed | result |\n|---|---|---|---|"
        );
        for r in fuzz_runs {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} |",
                r.target,
                r.seconds,
                r.execs.map_or_else(|| "?".to_owned(), |e| e.to_string()),
                if r.ok {
                    "no crash"
                } else {
                    "**crash**: see fuzz/artifacts"
                }
            );
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_verdict_is_read_from_the_summary_and_the_failed_lines() {
        let ok = suite_verdict(&lines(
            "test restart_keeps_commits ... ok\n\
             test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 3.1s\n",
        ));
        let failed = suite_verdict(&lines(
            "test bad_ids ... FAILED\n\
             test result: FAILED. 4 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 9.0s\n",
        ));
        let v = BTreeMap::from([
            ("faults".to_owned(), ok),
            ("reliability".to_owned(), failed),
        ]);
        assert_eq!(
            v["faults"],
            Verdict {
                passed: 2,
                failed: 0,
                ignored: 1,
                failures: vec![],
                ran: true
            }
        );
        assert_eq!(v["reliability"].failed, 1);
        assert_eq!(v["reliability"].failures, vec!["bad_ids".to_owned()]);
    }

    #[test]
    fn fuzz_execs_come_from_the_done_line() {
        assert_eq!(
            parse_fuzz_execs(&lines("#1 INITED\nDone 123456 runs in 20 second(s)\n")),
            Some(123_456)
        );
        assert_eq!(parse_fuzz_execs(&lines("crashed\n")), None);
    }

    #[test]
    fn a_missing_suite_and_a_failure_are_counted_as_failures() {
        let mut verdicts = BTreeMap::new();
        verdicts.insert(
            "property_isolation".to_owned(),
            Verdict {
                passed: 1,
                failed: 1,
                ignored: 0,
                failures: vec!["x".into()],
                ran: true,
            },
        );
        let records = vec![Record {
            id: "property-isolation".into(),
            test: "proptest".into(),
            counts: BTreeMap::from([
                ("cases".to_owned(), 500),
                ("cross_tenant_rows".to_owned(), 0),
            ]),
        }];
        let machine = crate::machine::fixture();
        let text = render(
            "cargo xtask reliability",
            &verdicts,
            &records,
            &[],
            &machine,
            "15.18",
        );
        assert!(text.contains("| property cases run | 500 |"), "{text}");
        // One failed test plus six suites that never ran.
        assert!(
            text.contains(&format!("| failures | {} |", 1 + SUITES.len() - 1)),
            "{text}"
        );
        assert!(
            text.contains("| `faults` | database restarted mid-run | **did not run** | | |"),
            "{text}"
        );
        assert!(text.contains("- `property_isolation`: `x`"), "{text}");
        assert!(
            text.contains("| property-isolation | proptest | cases 500, cross_tenant_rows 0 |"),
            "{text}"
        );
    }
}
