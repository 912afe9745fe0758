//! The application's own global tables, read from its migrations directory, so that
//! `--references col:<global table>` writes the single-column foreign key such a table needs
//! (there is no database to ask when a migration is scaffolded).

use std::collections::BTreeSet;
use std::path::Path;

/// The tables created in the `up.sql` files under `migrations_dir` whose definition has no
/// `tenant_id` column: global tables. A missing or unreadable directory has none.
#[must_use]
pub fn global_tables_in(migrations_dir: &Path) -> BTreeSet<String> {
    let mut global = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(migrations_dir) else {
        return global;
    };
    for entry in entries.flatten() {
        let Ok(sql) = std::fs::read_to_string(entry.path().join("up.sql")) else {
            continue;
        };
        for (table, body) in created_tables(&sql) {
            if !body.to_ascii_lowercase().contains("tenant_id") {
                global.insert(table);
            }
        }
    }
    global
}

/// Whether `migrations_dir` holds tenancy's core migrations and no migration creating a
/// `tenants` table: an application on the core alone, whose tenant tables have no table of
/// tenants to reference. A directory without tenancy's migrations is not read as one.
#[must_use]
pub fn core_alone_in(migrations_dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(migrations_dir) else {
        return false;
    };
    let mut has_core = false;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        has_core |= tenancy_schema::migrations::has_version(
            tenancy_schema::migrations::CORE,
            &tenancy_schema::migrations::version_of(&name),
        );
        let Ok(sql) = std::fs::read_to_string(entry.path().join("up.sql")) else {
            continue;
        };
        if created_tables(&sql)
            .iter()
            .any(|(table, _)| table == super::names::TENANTS_TABLE)
        {
            return false;
        }
    }
    has_core
}

/// `(name, column list)` of each `CREATE TABLE [IF NOT EXISTS] name (…)` in `sql`, the list up
/// to its closing parenthesis. Names are lowercased; quoted or schema-qualified names are read
/// without their quotes and schema.
fn created_tables(sql: &str) -> Vec<(String, String)> {
    let lower = sql.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("create table") {
        let start = from + at + "create table".len();
        from = start;
        let rest = lower[start..].trim_start();
        let rest = rest
            .strip_prefix("if not exists")
            .unwrap_or(rest)
            .trim_start();
        let name_end = rest
            .find(|c: char| c == '(' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end]
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned();
        let Some(open) = rest.find('(') else { continue };
        let mut depth = 0usize;
        let mut close = None;
        for (i, c) in rest[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(open + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        if let (false, Some(close)) = (name.is_empty(), close) {
            found.push((name, rest[open + 1..close].to_owned()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tables_without_a_tenant_column() {
        let sql = "CREATE TABLE plans (\n  id uuid PRIMARY KEY,\n  name text NOT NULL CHECK (length(name) > 0)\n);\n\
                   CREATE TABLE IF NOT EXISTS public.\"regions\" (code text PRIMARY KEY);\n\
                   create table projects (tenant_id uuid NOT NULL, id uuid, PRIMARY KEY (tenant_id, id));";
        let tables = created_tables(sql);
        let names: Vec<&str> = tables.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["plans", "regions", "projects"]);
        assert!(tables[0].1.contains("check (length(name) > 0)"));
        assert!(tables[2].1.contains("tenant_id"));
    }

    #[test]
    fn a_missing_directory_has_no_global_tables() {
        assert!(global_tables_in(Path::new("/nonexistent/migrations")).is_empty());
    }
}
