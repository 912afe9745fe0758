//! The rules about code that runs with its owner's rights (SECURITY DEFINER functions, views
//! without security_invoker): it reads tenant tables around the caller's policies.

use std::collections::{BTreeMap, BTreeSet};

use super::CheckOptions;
use super::catalog::Catalog;
use super::expr::has_word;
use super::report::Findings;

pub(super) fn check_definers_and_views(
    f: &mut Findings,
    catalog: &Catalog,
    tenant_tables: &BTreeMap<String, String>,
    o: &CheckOptions,
) {
    let reads = |text: &str| -> BTreeSet<&str> {
        tenant_tables
            .keys()
            .map(String::as_str)
            .filter(|t| has_word(text, t))
            .collect()
    };
    for r in &catalog.routines {
        let read = reads(&r.body);
        let reviewed = r
            .comment
            .as_deref()
            .is_some_and(|c| c.starts_with("tenancy: reviewed"));
        if !read.is_empty() && !reviewed {
            f.add("TEN070", format!("function {}", r.name), format!("SECURITY DEFINER, executable by `{}`, reads {}: it runs with its owner's rights, outside the caller's policies", o.app_role, read.into_iter().collect::<Vec<_>>().join(", ")), format!("make it SECURITY INVOKER, or REVOKE EXECUTE from {} — or, once reviewed to return only the current tenant's rows, COMMENT ON FUNCTION {} IS 'tenancy: reviewed: <why it is safe>'", o.app_role, r.name));
        }
    }
    for v in &catalog.views {
        let read = reads(&v.definition);
        if !read.is_empty() && !v.security_invoker {
            f.add("TEN071", format!("view {}", v.name), format!("`{}` can read it and it covers {} with its owner's rights, bypassing their policies", o.app_role, read.into_iter().collect::<Vec<_>>().join(", ")), format!("ALTER VIEW {} SET (security_invoker = true)", v.name));
        }
    }
}
