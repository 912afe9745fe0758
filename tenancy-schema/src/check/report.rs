//! What a check hands back, and the collector the rules report into: a rule gives an id, and
//! the severity and section come from the catalogue, so a rule cannot contradict it.

use std::fmt;

use super::lints::{Section, Severity, lint};

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Stable identifier, such as `TEN010`; see [`LINTS`](super::LINTS).
    pub id: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// Report section.
    pub section: Section,
    /// The database object concerned: `table posts`, `policy tenant_access on posts`,
    /// `role tenancy_app`, `function tenancy.f()`.
    pub object: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{severity}[{}] {}: {}\n  hint: {}",
            self.id, self.object, self.message, self.hint
        )
    }
}

/// What [`run`](super::run) found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Tables checked (classified ones found in the database).
    pub tables_checked: usize,
    /// Every finding, sorted by section, severity, id and object.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings with this id.
    pub fn with_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.id == id)
    }
}

pub(super) struct Findings(pub(super) Vec<Finding>);

impl Findings {
    pub(super) fn add(
        &mut self,
        id: &'static str,
        object: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let (severity, section) = lint(id);
        self.0.push(Finding {
            id,
            severity,
            section,
            object: object.into(),
            message: message.into(),
            hint: hint.into(),
        });
    }
}
