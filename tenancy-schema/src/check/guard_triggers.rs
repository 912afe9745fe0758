//! TEN103: a guard trigger tenancy's migrations put on a table is missing, disabled or no
//! longer the one they wrote. Some of what a tenant's SQL may not do is held by a trigger
//! rather than a privilege, because the privilege it needs is wider: the foundation lets
//! tenant transactions update a membership's status (to remove a member), and its
//! `org_members_acceptance_guard` keeps that SQL from turning an invitation active, after which
//! `tenancy.member_directory()` shows the invited user's registered name, a row of the users
//! every tenant shares; `resources_sharing_guard` keeps a resource's owner and readers its
//! owner's choice. Dropped, disabled (or enabled for replication only), fired by other columns
//! or behind a `WHEN` condition, the privilege stands alone. The audit log's triggers are
//! TEN080's; the foundation drops these on Citus, where its API applies them instead.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text};

use super::CheckOptions;
use super::report::Findings;
use crate::migrations::MigrationFiles;
use crate::sql_lexer::{code_start, dollar_quoted_bodies, statements};

/// One trigger a migration creates with a function of schema `tenancy`.
#[derive(Debug, PartialEq, Eq)]
struct Guard {
    name: String,
    /// The table as the migration names it (`public.org_members`, or unqualified).
    table: String,
    /// The `CREATE TRIGGER` statement.
    definition: String,
}

/// The trigger `statement` creates (wherever in it `CREATE [OR REPLACE] TRIGGER` starts, as
/// inside a PL/pgSQL `IF`), when its function is in schema `tenancy`, other than the one that
/// only stamps `updated_at`.
fn created_guard(statement: &str) -> Option<Guard> {
    let code = &statement[code_start(statement)..];
    let lower = code.to_ascii_lowercase();
    let start = ["create trigger ", "create or replace trigger "]
        .iter()
        .filter_map(|p| lower.find(p))
        .min()?;
    let definition = code[start..].trim().trim_end_matches(';').trim().to_owned();
    let words: Vec<&str> = definition.split_whitespace().collect();
    let name_at = if words.get(1)?.eq_ignore_ascii_case("or") {
        4
    } else {
        2
    };
    let name = words.get(name_at)?.trim_matches('"').to_ascii_lowercase();
    let rest = words.get(name_at + 1..)?;
    let table = rest
        .iter()
        .position(|w| w.eq_ignore_ascii_case("on"))
        .and_then(|i| rest.get(i + 1))?
        .trim_matches('"')
        .to_ascii_lowercase();
    let function = rest
        .iter()
        .position(|w| w.eq_ignore_ascii_case("function") || w.eq_ignore_ascii_case("procedure"))
        .and_then(|i| rest.get(i + 1))?
        .to_ascii_lowercase();
    let function = function.split('(').next()?.strip_prefix("tenancy.")?;
    (function != "touch_updated_at").then_some(Guard {
        name,
        table,
        definition,
    })
}

/// The guard triggers the migrations create, the last definition of each, by table and name.
fn guards(migrations: &[&MigrationFiles]) -> BTreeMap<(String, String), Guard> {
    let mut out = BTreeMap::new();
    for m in migrations {
        for statement in statements(m.up) {
            let inner = dollar_quoted_bodies(statement)
                .into_iter()
                .flat_map(statements);
            for guard in std::iter::once(statement)
                .chain(inner)
                .filter_map(created_guard)
            {
                out.insert((guard.table.clone(), guard.name.clone()), guard);
            }
        }
    }
    out
}

/// A trigger definition in a form two spellings of it compare equal by: lower case, without
/// quotes, the checked schema's qualification or runs of white space.
fn normalized(definition: &str, schema: &str) -> String {
    definition
        .to_ascii_lowercase()
        .replace('"', "")
        .replace(&format!("{}.", schema.to_ascii_lowercase()), "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(QueryableByName)]
struct Installed {
    /// Whether the table exists (a guard of a table that does not is TEN001's).
    #[diesel(sql_type = Bool)]
    table_exists: bool,
    /// `O` (origin and local), `A` (always), `R` (replica only), `D` (disabled); none when
    /// the trigger is missing.
    #[diesel(sql_type = Nullable<Text>)]
    enabled: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    definition: Option<String>,
}

const INSTALLED_SQL: &str = "
SELECT to_regclass($1) IS NOT NULL AS table_exists,
       (SELECT t.tgenabled::text FROM pg_trigger t
        WHERE t.tgrelid = to_regclass($1) AND t.tgname = $2 AND NOT t.tgisinternal) AS enabled,
       (SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t
        WHERE t.tgrelid = to_regclass($1) AND t.tgname = $2 AND NOT t.tgisinternal) AS definition";

#[derive(QueryableByName)]
struct Citus {
    #[diesel(sql_type = Bool)]
    installed: bool,
}

/// `migrations`: the applied ones, oldest first.
pub(super) fn check_guard_triggers(
    f: &mut Findings,
    conn: &mut PgConnection,
    migrations: &[&MigrationFiles],
    o: &CheckOptions,
) -> QueryResult<()> {
    let citus: Citus = diesel::sql_query(
        "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') AS installed",
    )
    .get_result(conn)?;
    if citus.installed {
        return Ok(());
    }
    for ((table, name), guard) in guards(migrations) {
        // The audit log's are TEN080's, and triggers outside the checked schema (the context
        // key's, on Citus) no tenant's write fires.
        let (schema, bare) = table.split_once('.').unwrap_or((&o.schema, &table));
        if schema != o.schema || bare == "audit_log" {
            continue;
        }
        let qualified = format!("{schema}.{bare}");
        let installed: Installed = diesel::sql_query(INSTALLED_SQL)
            .bind::<Text, _>(&qualified)
            .bind::<Text, _>(&name)
            .get_result(conn)?;
        if !installed.table_exists {
            continue;
        }
        let problem = match (
            installed.enabled.as_deref(),
            installed.definition.as_deref(),
        ) {
            (None, _) | (_, None) => "is missing".to_owned(),
            (Some("D"), _) => "is disabled".to_owned(),
            (Some("R"), _) => {
                "fires only under session_replication_role = replica (ENABLE REPLICA)".to_owned()
            }
            (_, Some(have))
                if normalized(have, &o.schema) != normalized(&guard.definition, &o.schema) =>
            {
                format!("is not the trigger the migrations create: {have}")
            }
            _ => continue,
        };
        f.add(
            "TEN103",
            format!("trigger {name} on {bare}"),
            format!(
                "the guard trigger `{name}` on `{bare}` {problem}: what it refuses to SQL of `{}` (which the table's privileges alone allow) is open again",
                o.app_role
            ),
            format!(
                "DROP TRIGGER IF EXISTS {name} ON {qualified}; {}",
                guard.definition
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_created_inside_a_block_is_found_and_touch_triggers_are_not() {
        let guard = created_guard(
            "BEGIN\n  IF NOT tenancy.on_citus() THEN\n    CREATE TRIGGER resources_sharing_guard\n      BEFORE UPDATE OF owner_principal_id ON public.resources\n      FOR EACH ROW EXECUTE FUNCTION tenancy.resource_sharing_guard();",
        )
        .expect("a guard");
        assert_eq!(guard.name, "resources_sharing_guard");
        assert_eq!(guard.table, "public.resources");
        assert!(
            created_guard(
                "CREATE TRIGGER tenants_touch BEFORE UPDATE ON tenants\n  FOR EACH ROW EXECUTE FUNCTION tenancy.touch_updated_at();"
            )
            .is_none()
        );
        assert!(
            created_guard(
                "EXECUTE format('CREATE OR REPLACE TRIGGER tenancy_status_changed AFTER INSERT ON %s FOR EACH ROW EXECUTE FUNCTION tenancy_context.status_changed()', rel);"
            )
            .is_none()
        );
    }

    #[test]
    fn spellings_of_one_trigger_compare_equal() {
        assert_eq!(
            normalized(
                "CREATE TRIGGER g\n  BEFORE UPDATE OF status ON public.org_members\n  FOR EACH ROW EXECUTE FUNCTION tenancy.guard()",
                "public"
            ),
            normalized(
                "CREATE TRIGGER g BEFORE UPDATE OF status ON org_members FOR EACH ROW EXECUTE FUNCTION tenancy.guard()",
                "public"
            )
        );
    }
}
