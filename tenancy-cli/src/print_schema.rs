//! `tenancy print-schema`: `diesel print-schema`'s output with each table classified as the
//! database implies (`#[tenant_scoped(..)]` with its keys, or `#[global_table]`), so that an
//! application's `schema.rs` needs no hand-written patch: after `diesel migration run`, this
//! one command regenerates it classified.

use tenancy_schema::check::DerivedTable;

/// `printed` (the output of `diesel print-schema`) with the attribute of each table in
/// `derived` put in front of its `diesel::table!`, replacing a classification already there.
/// Tables the database does not know (views, say) are left as they are.
#[must_use]
pub fn classify(printed: &str, derived: &[DerivedTable]) -> String {
    let lines: Vec<&str> = printed.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + derived.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("#[tenancy_schema::")
            && lines
                .get(i + 1)
                .is_some_and(|next| next.trim() == "diesel::table! {")
        {
            // A classification already there (a re-run): replaced below.
            continue;
        }
        if line.trim() == "diesel::table! {" {
            let indent = &line[..line.len() - line.trim_start().len()];
            if let Some(table) = table_name(&lines[i + 1..])
                && let Some(class) = derived.iter().find(|d| d.table == table)
            {
                out.push(format!("{indent}{}", class.attribute()));
            }
        }
        out.push((*line).to_owned());
    }
    let mut text = out.join("\n");
    if printed.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// The SQL name of the table a `table!` body declares: the first line that is not a `use`,
/// an attribute or blank, `[schema.]name (`; `#[sql_name = ".."]` when it has one.
fn table_name(body: &[&str]) -> Option<String> {
    let mut sql_name = None;
    for line in body {
        let line = line.trim();
        if line.is_empty() || line.starts_with("use ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("#[sql_name = \"") {
            sql_name = rest.split('"').next().map(str::to_owned);
            continue;
        }
        if line.starts_with("#[") {
            continue;
        }
        let head = line.split(['(', '{', ' ']).next()?;
        let name = head.rsplit('.').next()?.trim_start_matches("r#");
        return Some(sql_name.unwrap_or_else(|| name.to_owned()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derived(table: &str, tenant: bool) -> DerivedTable {
        DerivedTable {
            table: table.to_owned(),
            tenant_scoped: tenant,
            tenant_column: None,
            indexes: vec![vec!["created_at".to_owned()]],
            uniques: vec![vec!["name".to_owned()]],
            foreign_keys: vec![("project_id".to_owned(), "projects".to_owned())],
        }
    }

    #[test]
    fn puts_the_classification_in_front_of_each_table_once() {
        let printed = "// @generated automatically by Diesel CLI.\n\ndiesel::table! {\n    use diesel::sql_types::*;\n\n    tasks (tenant_id, id) {\n        tenant_id -> Uuid,\n    }\n}\n\ndiesel::table! {\n    plans (id) {\n        id -> Uuid,\n    }\n}\n\ndiesel::table! {\n    some_view (id) {\n        id -> Int4,\n    }\n}\n";
        let classes = [derived("tasks", true), derived("plans", false)];
        let once = classify(printed, &classes);
        assert!(once.contains(
            "#[tenancy_schema::tenant_scoped(unique(name), index(created_at), foreign_key(project_id -> projects))]\ndiesel::table! {\n    use diesel::sql_types::*;\n\n    tasks"
        ), "{once}");
        assert!(
            once.contains("#[tenancy_schema::global_table]\ndiesel::table! {\n    plans"),
            "{once}"
        );
        assert!(
            once.contains("\n\ndiesel::table! {\n    some_view"),
            "{once}"
        );
        // Running it on its own output changes nothing.
        assert_eq!(classify(&once, &classes), once);
    }

    #[test]
    fn a_tenant_column_named_otherwise_is_written_out() {
        let printed = "diesel::table! {\n    widgets (account_id, id) {\n        account_id -> Uuid,\n    }\n}\n";
        let widgets = DerivedTable {
            tenant_column: Some("account_id".to_owned()),
            indexes: Vec::new(),
            uniques: Vec::new(),
            foreign_keys: Vec::new(),
            ..derived("widgets", true)
        };
        let classified = classify(printed, &[widgets]);
        assert!(
            classified.starts_with(
                "#[tenancy_schema::tenant_scoped(tenant_column = account_id)]\ndiesel::table! {"
            ),
            "{classified}"
        );
    }
}
