//! Rendering a [`Report`] of `tenancy check` for people and for machines.
//!
//! ```
//! use tenancy_schema::check::{Finding, Report, Section, Severity};
//!
//! let report = Report {
//!     tables_checked: 12,
//!     findings: vec![Finding {
//!         id: "TEN011",
//!         severity: Severity::Error,
//!         section: Section::Isolation,
//!         object: "table principals".into(),
//!         message: "row level security is not forced".into(),
//!         hint: "ALTER TABLE principals FORCE ROW LEVEL SECURITY".into(),
//!     }],
//! };
//! assert_eq!(tenancy_cli::report::summary_line(&report), "1 error, 0 warnings in 12 tables");
//! let text = tenancy_cli::report::render_human(&report);
//! assert!(text.starts_with("Tenant isolation\n"));
//! assert!(text.contains("error[TEN011] table principals: row level security is not forced"));
//! assert!(text.ends_with("1 error, 0 warnings in 12 tables\n"));
//! assert!(tenancy_cli::report::render_json(&report).contains("\"tables_checked\": 12"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tenancy_schema::check::{Finding, Report, Section, Severity};

/// `"N errors, M warnings in K tables"`, with singular forms where they apply.
#[must_use]
pub fn summary_line(report: &Report) -> String {
    let count = |severity| {
        report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    };
    format!(
        "{}, {} in {}",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        plural(report.tables_checked, "table"),
    )
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The title of a report section (`Tenant isolation`, `Citus readiness`).
#[must_use]
pub fn section_title(section: Section) -> String {
    let key = serde_json::to_value(section)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match key.as_str() {
        "isolation" => "Tenant isolation".to_owned(),
        "citus" => "Citus readiness".to_owned(),
        other => {
            let mut title = other.replace('_', " ");
            if let Some(first) = title.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            title
        }
    }
}

/// The report for a terminal: findings grouped by section (a title line, then one block per
/// finding: `severity[id] object: message` and an indented hint), then [`summary_line`].
#[must_use]
pub fn render_human(report: &Report) -> String {
    let mut sections: BTreeMap<Section, Vec<&Finding>> = BTreeMap::new();
    for finding in &report.findings {
        sections.entry(finding.section).or_default().push(finding);
    }
    let mut out = String::new();
    for (section, findings) in sections {
        // Writing to a `String` cannot fail.
        let _ = writeln!(out, "{}", section_title(section));
        for finding in findings {
            let _ = writeln!(out, "\n{finding}");
        }
        out.push('\n');
    }
    if report.findings.is_empty() {
        out.push_str("no findings\n");
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

/// The report as pretty-printed JSON, fields in the order the structs declare them:
/// `{"tables_checked": N, "findings": [{"id", "severity", "section", "object", "message",
/// "hint"}, ...]}`.
#[must_use]
pub fn render_json(report: &Report) -> String {
    // `Report` holds only strings, numbers and unit enums: serialising it cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &'static str, severity: Severity, section: Section) -> Finding {
        Finding {
            id,
            severity,
            section,
            object: format!("table t_{id}"),
            message: "something is off".into(),
            hint: "fix it".into(),
        }
    }

    #[test]
    fn groups_by_section_and_counts() {
        let report = Report {
            tables_checked: 1,
            findings: vec![
                finding("TEN001", Severity::Error, Section::Isolation),
                finding("TEN900", Severity::Warning, Section::Citus),
                finding("TEN002", Severity::Warning, Section::Isolation),
            ],
        };
        let text = render_human(&report);
        let isolation = text.find("Tenant isolation\n").expect("isolation title");
        let citus = text.find("Citus readiness\n").expect("citus title");
        assert!(isolation < citus, "{text}");
        assert!(text.find("TEN002").expect("TEN002") < citus, "{text}");
        assert!(text.contains("\n  hint: fix it\n"), "{text}");
        assert!(
            text.ends_with("\n1 error, 2 warnings in 1 table\n"),
            "{text}"
        );
    }

    #[test]
    fn empty_report() {
        let report = Report::default();
        assert_eq!(
            render_human(&report),
            "no findings\n0 errors, 0 warnings in 0 tables\n"
        );
        let json: serde_json::Value = serde_json::from_str(&render_json(&report)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({ "tables_checked": 0, "findings": [] })
        );
    }

    #[test]
    fn json_keeps_field_order() {
        let report = Report {
            tables_checked: 3,
            findings: vec![finding("TEN011", Severity::Error, Section::Isolation)],
        };
        let json = render_json(&report);
        let order: Vec<usize> = [
            "\"id\"",
            "\"severity\"",
            "\"section\"",
            "\"object\"",
            "\"message\"",
            "\"hint\"",
        ]
        .iter()
        .map(|key| json.find(key).expect(key))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert!(json.find("tables_checked") < json.find("findings"));
        assert!(json.contains("\"severity\": \"error\""), "{json}");
    }
}
