//! One tenant-scoped table as the scoping layer sees it.

/// What the scoping layer needs to know about one tenant-scoped table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopeEntry {
    /// SQL name of the table.
    pub table: &'static str,
    /// SQL name of its tenant column.
    pub tenant_column: &'static str,
}
