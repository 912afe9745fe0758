//! `tenancy_schema::check` against real PostgreSQL: a freshly migrated database has no
//! errors, and every lint fires on a deliberately broken database and clears with its fix.

#![allow(clippy::too_many_lines)] // reason: one table of break/fix cases

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
// The foundation's tables register themselves when its crate is linked: the checks see them
// classified, as the `tenancy` binary does.
extern crate tenancy_foundation;
use tenancy_foundation::run_migrations;
use tenancy_schema::check::{self, CheckOptions, LINTS, Report, Severity};
use tenancy_schema::{ForeignKey, TableKind, TableManifest};
use tenancy_testing::TestDatabase;

fn fresh() -> (TestDatabase, PgConnection) {
    let shared = tenancy_testing::shared().expect("test database server");
    let db = TestDatabase::create_in(shared.url()).expect("fresh database");
    let mut conn = PgConnection::establish(db.url()).expect("connect");
    run_migrations(&mut conn).expect("migrate");
    (db, conn)
}

/// A table protected the tenancy way, plus one classified in the test's own registry.
const GADGETS: &str = "
CREATE TABLE gadgets (
  tenant_id uuid NOT NULL CONSTRAINT gadgets_tenant_fk REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  name text NOT NULL,
  CONSTRAINT gadgets_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX gadgets_name_idx ON gadgets (tenant_id, name);
GRANT SELECT, INSERT, UPDATE, DELETE ON gadgets TO tenancy_app;
CREATE TABLE gadget_parts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  gadget_id uuid NOT NULL,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id)
);
";

/// [`GADGETS`] with the tenant policies the scaffold writes (from `tenancy_schema::policy`),
/// and a global table `plans` the application role reads, column by column as `tenancy
/// new-table --global` grants it: a table grant would show it the rows' `xmax`, where a
/// tenant table's foreign key into `plans` leaves the id of each transaction that wrote a
/// row pointing there (TEN111).
fn create_gadgets(conn: &mut PgConnection) {
    let policies = ["gadgets", "gadget_parts"]
        .map(|table| tenancy_schema::policy::tenant_policies(table, "tenant_id", "tenancy_app"))
        .concat();
    conn.batch_execute(&format!(
        "{GADGETS}\n{policies}\nCREATE TABLE plans (id uuid PRIMARY KEY, name text NOT NULL);\n\
         GRANT SELECT (id, name) ON plans TO tenancy_app;"
    ))
    .unwrap();
}

static GADGETS_MANIFEST: TableManifest = TableManifest {
    table: "gadgets",
    kind: TableKind::TenantScoped,
    tenant_column: Some("tenant_id"),
    primary_key: &["tenant_id", "id"],
    indexes: &[&["tenant_id", "name"]],
    uniques: &[],
    foreign_keys: &[],
    columns: &["tenant_id", "id", "name"],
    column_types: &["Uuid", "Uuid", "Text"],
};

static PARTS_MANIFEST: TableManifest = TableManifest {
    table: "gadget_parts",
    kind: TableKind::TenantScoped,
    tenant_column: Some("tenant_id"),
    primary_key: &["tenant_id", "id"],
    indexes: &[],
    uniques: &[],
    foreign_keys: &[ForeignKey {
        columns: &["tenant_id", "gadget_id"],
        references: "gadgets",
    }],
    columns: &["tenant_id", "id", "gadget_id"],
    column_types: &["Uuid", "Uuid", "Uuid"],
};

static GHOST_MANIFEST: TableManifest = TableManifest {
    table: "ghosts",
    kind: TableKind::Global,
    tenant_column: None,
    primary_key: &["id"],
    indexes: &[],
    uniques: &[],
    foreign_keys: &[],
    columns: &["id"],
    column_types: &["Uuid"],
};

/// A global table of the application's own, which the application role reads.
static PLANS_MANIFEST: TableManifest = TableManifest {
    table: "plans",
    kind: TableKind::Global,
    tenant_column: None,
    primary_key: &["id"],
    indexes: &[],
    uniques: &[],
    foreign_keys: &[],
    columns: &["id", "name"],
    column_types: &["Uuid", "Text"],
};

/// `gadgets` declared a second time, as a global table: the same SQL table read without any
/// tenant filter through the system connection.
static GADGETS_AS_GLOBAL: TableManifest = TableManifest {
    table: "gadgets",
    kind: TableKind::Global,
    tenant_column: None,
    primary_key: &["id"],
    indexes: &[],
    uniques: &[],
    foreign_keys: &[],
    columns: &["id", "name"],
    column_types: &["Uuid", "Text"],
};

/// A tenant-scoped table on `tenant_id` with no indexes, unique or foreign keys declared.
const fn tenant_table(
    table: &'static str,
    primary_key: &'static [&'static str],
    columns: &'static [&'static str],
    column_types: &'static [&'static str],
) -> TableManifest {
    TableManifest {
        table,
        kind: TableKind::TenantScoped,
        tenant_column: Some("tenant_id"),
        primary_key,
        indexes: &[],
        uniques: &[],
        foreign_keys: &[],
        columns,
        column_types,
    }
}

fn registry(extra: &[&'static TableManifest]) -> Vec<&'static TableManifest> {
    let mut all = tenancy_schema::registry();
    all.extend_from_slice(extra);
    all
}

fn report(conn: &mut PgConnection, registry: &[&TableManifest], options: &CheckOptions) -> Report {
    check::run(conn, registry, options).expect("check")
}

#[test]
fn a_freshly_migrated_database_has_no_errors() {
    let (_db, mut conn) = fresh();
    let r = report(
        &mut conn,
        &tenancy_schema::registry(),
        &CheckOptions::default(),
    );
    let errors: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(r.tables_checked >= 10, "{}", r.tables_checked);
    // The foundation's own functions compared too (as `tenancy check` does): all as shipped.
    let with_foundation = CheckOptions {
        migrations: tenancy_foundation::migrations::FOUNDATION,
        ..CheckOptions::default()
    };
    let r2 = report(&mut conn, &tenancy_schema::registry(), &with_foundation);
    assert!(!r2.has_errors(), "{:#?}", r2.findings);
    // A reviewed SECURITY DEFINER function keeps its comment when its body is replaced, so
    // TEN070 passes it: TEN072 is what sees the new body.
    conn.batch_execute(
        "CREATE OR REPLACE FUNCTION tenancy.member_directory() RETURNS TABLE (user_id uuid, principal_id uuid, email text, display_name text, role member_role, status member_status) \
         LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp \
         BEGIN ATOMIC SELECT u.id, m.principal_id, u.email, u.display_name, m.role, m.status FROM public.org_members m JOIN public.users u ON u.id = m.user_id ORDER BY u.email; END",
    )
    .unwrap();
    let r2 = report(&mut conn, &tenancy_schema::registry(), &with_foundation);
    assert!(
        present(&r2, "TEN072", "function tenancy.member_directory"),
        "{:#?}",
        r2.findings
    );
    assert!(r2.with_id("TEN070").next().is_none(), "{:#?}", r2.findings);
    // `users` stays private when its mark is taken off before the grant: the foundation's
    // migrations made it so.
    conn.batch_execute("COMMENT ON TABLE users IS NULL; GRANT SELECT ON users TO tenancy_app")
        .unwrap();
    let r3 = report(&mut conn, &tenancy_schema::registry(), &with_foundation);
    assert!(present(&r3, "TEN056", "table users"), "{:#?}", r3.findings);
    // The tenant status hook replaced by a version no migration wrote, and nobody reviewed
    // it: it runs inside tenancy.enter() with the migrations' rights. Check knows every
    // migration this database ran, so it compares; a reviewed version passes.
    conn.batch_execute(
        "CREATE OR REPLACE FUNCTION tenancy.tenant_refusal(tenant uuid) RETURNS TABLE (refusal text) \
         LANGUAGE sql STABLE AS $$SELECT set_config('app.seen', (SELECT string_agg(slug, ',') FROM public.tenants), true) WHERE false$$",
    )
    .unwrap();
    let hook = "function tenancy.tenant_refusal";
    let replaced = report(&mut conn, &tenancy_schema::registry(), &with_foundation);
    assert!(
        present(&replaced, "TEN072", hook),
        "{:#?}",
        replaced.findings
    );
    conn.batch_execute(
        "COMMENT ON FUNCTION tenancy.tenant_refusal(uuid) IS 'tenancy: reviewed: the test reads it'",
    )
    .unwrap();
    let reviewed = report(&mut conn, &tenancy_schema::registry(), &with_foundation);
    assert!(
        !present(&reviewed, "TEN072", hook),
        "{:#?}",
        reviewed.findings
    );
    conn.batch_execute(
        "REVOKE SELECT ON users FROM tenancy_app; \
         COMMENT ON TABLE users IS 'tenancy: private: read through tenancy.member_directory()'",
    )
    .unwrap();
    let r3 = report(&mut conn, &tenancy_schema::registry(), &with_foundation);
    assert!(!present(&r3, "TEN056", "table users"), "{:#?}", r3.findings);
    // Every global table of the foundation is readable by the application role, except
    // `users`, which is private on purpose (commented so) and not reported.
    assert!(r.with_id("TEN052").next().is_none(), "{:#?}", r.findings);
    // Nothing of the foundation is left unclassified: its crate is linked here.
    assert!(r.with_id("TEN050").next().is_none(), "{:#?}", r.findings);
    // The one deliberate exception, the prefix index that serves the API key lookup made
    // before the tenant is known, is commented as reviewed and not reported: a freshly
    // migrated foundation checks without a warning, but for the server's other databases,
    // which PUBLIC may connect to as PostgreSQL ships them (`postgres`, and here the other
    // tests' databases): the migrations cannot take that from PUBLIC, and what a session
    // there reaches is outside the check (TEN113).
    assert!(r.with_id("TEN031").next().is_none(), "{:#?}", r.findings);
    assert!(
        !r.findings
            .iter()
            .any(|f| f.severity == tenancy_schema::check::Severity::Warning && f.id != "TEN113"),
        "{:#?}",
        r.findings
    );
    // Citus readiness is a separate section, off unless asked for; the resource visibility
    // policies use sub-queries, which a distributed engine rejects.
    assert_eq!(r.with_id("CIT004").count(), 0);
    let citus = report(
        &mut conn,
        &tenancy_schema::registry(),
        &CheckOptions {
            citus: true,
            ..CheckOptions::default()
        },
    );
    assert!(
        citus
            .with_id("CIT004")
            .any(|f| f.object.contains("on resources")),
        "{:#?}",
        citus.findings
    );
    // The foundation is not distributable yet: its resource visibility and ACL rules are
    // restrictive policies of their own, which Citus's shards would turn permissive (CIT005).
    let citus_errors: Vec<String> = citus
        .findings
        .iter()
        .filter(|f| f.severity == tenancy_schema::check::Severity::Error)
        .map(|f| format!("{} {}", f.id, f.object))
        .collect();
    assert_eq!(
        citus_errors,
        [
            "CIT005 policy acl_delete on resource_acl",
            "CIT005 policy acl_update on resource_acl",
            "CIT005 policy acl_write on resource_acl",
            "CIT005 policy resource_delete on resources",
            "CIT005 policy resource_insert on resources",
            "CIT005 policy resource_read on resources",
            "CIT005 policy resource_update on resources",
        ]
    );
    // JSON is stable: serde of the report, fields in declaration order.
    let json = serde_json::to_value(&citus).unwrap();
    let first = &json["findings"][0];
    for key in ["id", "severity", "section", "object", "message", "hint"] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
}

struct Case {
    id: &'static str,
    /// Substring of the finding's object, so a finding elsewhere does not count.
    object: &'static str,
    breaks: &'static str,
    fix: &'static str,
}

const CASES: &[Case] = &[
    Case {
        id: "TEN003",
        object: "table gadgets",
        breaks: "ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk; ALTER TABLE gadgets DROP CONSTRAINT gadgets_pkey; ALTER TABLE gadgets ALTER tenant_id DROP NOT NULL",
        fix: "ALTER TABLE gadgets ALTER tenant_id SET NOT NULL; ALTER TABLE gadgets ADD CONSTRAINT gadgets_pkey PRIMARY KEY (tenant_id, id); ALTER TABLE gadget_parts ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id)",
    },
    Case {
        id: "TEN033",
        object: "table gadgets",
        breaks: "ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk; ALTER TABLE gadgets DROP CONSTRAINT gadgets_pkey; ALTER TABLE gadgets ADD CONSTRAINT gadgets_pkey PRIMARY KEY (tenant_id, id, name)",
        fix: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_pkey; ALTER TABLE gadgets ADD CONSTRAINT gadgets_pkey PRIMARY KEY (tenant_id, id); ALTER TABLE gadget_parts ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id)",
    },
    // A mapping for everyone on a loopback server: dblink or postgres_fdw log in as the
    // superuser it names.
    Case {
        id: "TEN076",
        object: "server loopback",
        breaks: "CREATE EXTENSION IF NOT EXISTS postgres_fdw; CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'postgres'); CREATE USER MAPPING FOR PUBLIC SERVER loopback OPTIONS (user 'postgres'); GRANT USAGE ON FOREIGN SERVER loopback TO tenancy_app",
        fix: "DROP USER MAPPING FOR PUBLIC SERVER loopback; DROP SERVER loopback",
    },
    // Without USAGE on the server: a foreign table of it the application role may read is
    // enough to connect through the mapping.
    Case {
        id: "TEN076",
        object: "server loopback_tables",
        breaks: "CREATE EXTENSION IF NOT EXISTS postgres_fdw; CREATE SERVER loopback_tables FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'postgres'); CREATE USER MAPPING FOR PUBLIC SERVER loopback_tables OPTIONS (user 'postgres'); CREATE FOREIGN TABLE remote_names (name text) SERVER loopback_tables OPTIONS (table_name 'gadgets'); GRANT SELECT ON remote_names TO tenancy_app",
        fix: "DROP FOREIGN TABLE remote_names; DROP USER MAPPING FOR PUBLIC SERVER loopback_tables; DROP SERVER loopback_tables",
    },
    // A copy of a tenant table in another schema, readable by the application role.
    Case {
        id: "TEN006",
        object: "table archive.gadgets",
        breaks: "CREATE SCHEMA archive; CREATE TABLE archive.gadgets AS SELECT * FROM gadgets; GRANT USAGE ON SCHEMA archive TO tenancy_app; GRANT SELECT ON archive.gadgets TO tenancy_app",
        fix: "REVOKE SELECT ON archive.gadgets FROM tenancy_app",
    },
    // PostgreSQL's own schemas hold objects of anyone's too: what it did not make there
    // (FirstNormalObjectId on) is checked like the objects of any other schema.
    Case {
        id: "TEN006",
        object: "table information_schema.gadget_archive",
        breaks: "CREATE TABLE information_schema.gadget_archive AS SELECT * FROM gadgets; GRANT SELECT ON information_schema.gadget_archive TO tenancy_app",
        fix: "DROP TABLE information_schema.gadget_archive",
    },
    Case {
        id: "TEN071",
        object: "view information_schema.gadget_names",
        breaks: "CREATE VIEW information_schema.gadget_names AS SELECT tenant_id, name FROM public.gadgets; GRANT SELECT ON information_schema.gadget_names TO tenancy_app",
        fix: "DROP VIEW information_schema.gadget_names",
    },
    // SECURITY DEFINER functions PostgreSQL runs with no EXECUTE check, revoked from PUBLIC
    // and reaching every tenant's rows: a range type's subtype_diff (run by its GiST index),
    // an operator class's support function (run by an index on every write and lookup), and a
    // trigger on a table a rule of a table the application writes writes into.
    Case {
        id: "TEN070",
        object: "function gadget_span_distance(text,text)",
        breaks: "CREATE FUNCTION gadget_span_distance(a text, b text) RETURNS float8 LANGUAGE sql IMMUTABLE SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT count(*)::float8 FROM public.gadgets'; REVOKE ALL ON FUNCTION gadget_span_distance(text, text) FROM PUBLIC; CREATE TYPE gadget_span AS RANGE (subtype = text, subtype_diff = gadget_span_distance); CREATE TABLE gadget_spans (span gadget_span); CREATE INDEX ON gadget_spans USING gist (span); GRANT SELECT, INSERT ON gadget_spans TO tenancy_app",
        fix: "DROP TABLE gadget_spans; DROP TYPE gadget_span; DROP FUNCTION gadget_span_distance(text, text)",
    },
    Case {
        id: "TEN070",
        object: "function gadget_code_cmp(text,text)",
        breaks: "CREATE FUNCTION gadget_code_cmp(a text, b text) RETURNS integer LANGUAGE sql IMMUTABLE SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT bttextcmp(a, b) + 0 * (SELECT count(*) FROM public.gadgets)::integer'; REVOKE ALL ON FUNCTION gadget_code_cmp(text, text) FROM PUBLIC; CREATE OPERATOR CLASS gadget_code_ops FOR TYPE text USING btree AS OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 gadget_code_cmp(text, text); CREATE TABLE gadget_codes (code text); CREATE INDEX ON gadget_codes (code gadget_code_ops); GRANT SELECT, INSERT ON gadget_codes TO tenancy_app",
        fix: "DROP TABLE gadget_codes; DROP OPERATOR FAMILY gadget_code_ops USING btree; DROP FUNCTION gadget_code_cmp(text, text)",
    },
    Case {
        id: "TEN070",
        object: "function gadget_queue_hook()",
        breaks: "CREATE TABLE gadget_feedback (body text); GRANT INSERT ON gadget_feedback TO tenancy_app; CREATE TABLE gadget_queue (body text, seen bigint); CREATE FUNCTION gadget_queue_hook() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$BEGIN NEW.seen := (SELECT count(*) FROM public.gadgets); RETURN NEW; END$$; REVOKE ALL ON FUNCTION gadget_queue_hook() FROM PUBLIC; CREATE TRIGGER gadget_queue_hook BEFORE INSERT ON gadget_queue FOR EACH ROW EXECUTE FUNCTION gadget_queue_hook(); CREATE RULE gadget_enqueue AS ON INSERT TO gadget_feedback DO ALSO INSERT INTO gadget_queue (body) VALUES (NEW.body)",
        fix: "DROP TABLE gadget_feedback; DROP TABLE gadget_queue; DROP FUNCTION gadget_queue_hook()",
    },
    // An invoker trigger on a table a referential action changes: the action, and the row
    // code it sets off, run as that table's owner (here the superuser that owns the
    // database), so the trigger's body has the owner's rights.
    Case {
        id: "TEN106",
        object: "database",
        breaks: "CREATE TABLE gadget_kinds (id int PRIMARY KEY); CREATE TABLE gadget_kind_notes (kind int REFERENCES gadget_kinds ON DELETE CASCADE, note text); CREATE FUNCTION gadget_kind_gone() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN EXECUTE OLD.note; RETURN OLD; END$$; CREATE TRIGGER gadget_kind_gone BEFORE DELETE ON gadget_kind_notes FOR EACH ROW EXECUTE FUNCTION gadget_kind_gone(); GRANT SELECT, INSERT, DELETE ON gadget_kinds, gadget_kind_notes TO tenancy_app",
        fix: "DROP TABLE gadget_kind_notes; DROP TABLE gadget_kinds; DROP FUNCTION gadget_kind_gone()",
    },
    Case {
        id: "TEN070",
        object: "function information_schema.gadget_names_all()",
        breaks: "CREATE FUNCTION information_schema.gadget_names_all() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT name FROM public.gadgets'",
        fix: "DROP FUNCTION information_schema.gadget_names_all()",
    },
    Case {
        id: "TEN070",
        object: "function gadget_every_name()",
        breaks: "CREATE FUNCTION pg_catalog.gadget_every_name() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT name FROM public.gadgets'",
        fix: "DROP FUNCTION pg_catalog.gadget_every_name()",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_copy_aside on gadgets",
        breaks: "CREATE TABLE information_schema.gadget_log (name text); GRANT SELECT, INSERT ON information_schema.gadget_log TO tenancy_app; CREATE FUNCTION gadget_copy_aside() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO information_schema.gadget_log VALUES (NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadget_copy_aside AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_copy_aside()",
        fix: "DROP TRIGGER gadget_copy_aside ON gadgets; DROP FUNCTION gadget_copy_aside(); DROP TABLE information_schema.gadget_log",
    },
    // pg_catalog is searched before every schema of search_path that does not name it.
    Case {
        id: "TEN084",
        object: "relation pg_catalog.gadgets",
        breaks: "SET allow_system_table_mods = on; CREATE TABLE pg_catalog.gadgets (LIKE public.gadgets); RESET allow_system_table_mods",
        fix: "SET allow_system_table_mods = on; DROP TABLE pg_catalog.gadgets; RESET allow_system_table_mods",
    },
    // A foreign table in the schema itself: it reads what its server gives, as whichever
    // user its mapping names.
    Case {
        id: "TEN006",
        object: "foreign table gadget_export",
        breaks: "CREATE EXTENSION IF NOT EXISTS file_fdw; CREATE SERVER gadget_files FOREIGN DATA WRAPPER file_fdw; CREATE FOREIGN TABLE gadget_export (tenant_id uuid, name text) SERVER gadget_files OPTIONS (filename '/dev/null'); GRANT SELECT ON gadget_export TO tenancy_app",
        fix: "DROP FOREIGN TABLE gadget_export; DROP SERVER gadget_files",
    },
    Case {
        id: "TEN005",
        object: "table gadgets",
        breaks: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_tenant_fk",
        fix: "ALTER TABLE gadgets ADD CONSTRAINT gadgets_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE",
    },
    // A parent a tenant table was made to inherit from: a query on it returns every tenant's
    // gadgets, under the parent's policies (none, or one that lets everything through).
    Case {
        id: "TEN007",
        object: "table all_names",
        breaks: "CREATE TABLE all_names (name text); ALTER TABLE gadgets INHERIT all_names; GRANT SELECT ON all_names TO tenancy_app",
        fix: "ALTER TABLE gadgets NO INHERIT all_names; DROP TABLE all_names",
    },
    Case {
        id: "TEN007",
        object: "table all_names",
        breaks: "CREATE TABLE all_names (name text); ALTER TABLE all_names ENABLE ROW LEVEL SECURITY; CREATE POLICY everyone ON all_names USING (true); ALTER TABLE gadgets INHERIT all_names; GRANT SELECT (name) ON all_names TO tenancy_app",
        fix: "REVOKE SELECT (name) ON all_names FROM tenancy_app; ALTER TABLE gadgets NO INHERIT all_names; DROP TABLE all_names",
    },
    // Whoever may read the parent: a view or materialized view over it reads the gadgets of
    // every tenant with its owner's rights.
    Case {
        id: "TEN007",
        object: "table every_name",
        breaks: "CREATE TABLE every_name (name text); ALTER TABLE gadgets INHERIT every_name",
        fix: "ALTER TABLE gadgets NO INHERIT every_name; DROP TABLE every_name",
    },
    Case {
        id: "TEN010",
        object: "table gadgets",
        breaks: "ALTER TABLE gadgets DISABLE ROW LEVEL SECURITY",
        fix: "ALTER TABLE gadgets ENABLE ROW LEVEL SECURITY",
    },
    Case {
        id: "TEN011",
        object: "table gadgets",
        breaks: "ALTER TABLE gadgets NO FORCE ROW LEVEL SECURITY",
        fix: "ALTER TABLE gadgets FORCE ROW LEVEL SECURITY",
    },
    Case {
        id: "TEN012",
        object: "table gadgets",
        breaks: "DROP POLICY tenant_access ON gadgets",
        fix: "CREATE POLICY tenant_access ON gadgets FOR ALL TO tenancy_app USING (tenant_id = tenancy.current_tenant()) WITH CHECK (tenant_id = tenancy.current_tenant())",
    },
    Case {
        id: "TEN013",
        object: "table gadgets",
        breaks: "DROP POLICY tenant_isolation ON gadgets",
        fix: "CREATE POLICY tenant_isolation ON gadgets AS RESTRICTIVE FOR ALL TO PUBLIC USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));",
    },
    // A restrictive policy that mentions the column and the context without being the
    // tenant equality isolates nothing.
    Case {
        id: "TEN013",
        object: "table gadgets",
        breaks: "ALTER POLICY tenant_isolation ON gadgets USING (coalesce(tenant_id = tenancy.current_tenant(), true))",
        fix: "ALTER POLICY tenant_isolation ON gadgets USING (tenant_id = (SELECT tenancy.current_tenant()))",
    },
    Case {
        id: "TEN013",
        object: "table gadgets",
        breaks: "ALTER POLICY tenant_isolation ON gadgets WITH CHECK (tenant_id IS DISTINCT FROM tenancy.current_tenant())",
        fix: "ALTER POLICY tenant_isolation ON gadgets WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()))",
    },
    Case {
        id: "TEN014",
        object: "table gadgets",
        breaks: "GRANT TRUNCATE ON gadgets TO tenancy_app",
        fix: "REVOKE TRUNCATE ON gadgets FROM tenancy_app",
    },
    Case {
        id: "TEN014",
        object: "table gadget_parts",
        breaks: "GRANT TRIGGER ON gadget_parts TO PUBLIC",
        fix: "REVOKE TRIGGER ON gadget_parts FROM PUBLIC",
    },
    Case {
        id: "TEN020",
        object: "policy sloppy on gadgets",
        breaks: "CREATE POLICY sloppy ON gadgets AS RESTRICTIVE FOR SELECT TO tenancy_app USING (tenant_id = tenancy.current_tenant() OR name = 'shared')",
        fix: "DROP POLICY sloppy ON gadgets",
    },
    Case {
        id: "TEN021",
        object: "policy nested on gadgets",
        breaks: "CREATE POLICY nested ON gadgets AS RESTRICTIVE FOR SELECT TO tenancy_app USING (tenant_id = (SELECT t.id FROM tenants t WHERE t.id = tenancy.current_tenant()))",
        fix: "DROP POLICY nested ON gadgets",
    },
    Case {
        id: "TEN022",
        object: "policy everything on gadgets",
        breaks: "CREATE POLICY everything ON gadgets FOR SELECT TO tenancy_app USING (true)",
        fix: "DROP POLICY everything ON gadgets",
    },
    Case {
        id: "TEN023",
        object: "policy raw_setting on gadgets",
        breaks: "CREATE POLICY raw_setting ON gadgets AS RESTRICTIVE FOR SELECT TO tenancy_app USING (tenant_id = current_setting('tenancy.tenant_id')::uuid)",
        fix: "DROP POLICY raw_setting ON gadgets",
    },
    // A function that shows its argument, in a restrictive policy applied before the tenant
    // isolation policy (names sort `a_..` first), or in the isolation policy's own AND (the
    // cheaper condition runs first): it sees every tenant's rows. The same policy named to
    // sort after the isolation policy (the first fix) sees only the tenant's own.
    // A column cast through its text form: the input function's error quotes another
    // tenant's value. A setting cast the same way (the fix) reads no row.
    Case {
        id: "TEN024",
        object: "policy a_gadget_cast on gadgets",
        breaks: "CREATE POLICY a_gadget_cast ON gadgets AS RESTRICTIVE USING (name::int > 0)",
        fix: "ALTER POLICY a_gadget_cast ON gadgets USING (current_setting('gadget.limit', true)::int IS NULL)",
    },
    Case {
        id: "TEN024",
        object: "policy a_gadget_seen on gadgets",
        breaks: "DROP POLICY a_gadget_cast ON gadgets; CREATE FUNCTION gadget_seen(text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS $$BEGIN RAISE NOTICE '%', $1; RETURN true; END$$; CREATE POLICY a_gadget_seen ON gadgets AS RESTRICTIVE USING (gadget_seen(name))",
        fix: "ALTER POLICY a_gadget_seen ON gadgets RENAME TO z_gadget_seen",
    },
    // The same function hidden in the CHECK of a domain the policy casts to.
    Case {
        id: "TEN024",
        object: "policy a_gadget_domain on gadgets",
        breaks: "CREATE DOMAIN gadget_name AS text CHECK (gadget_seen(VALUE)); CREATE POLICY a_gadget_domain ON gadgets AS RESTRICTIVE USING ((name::gadget_name) IS NOT NULL)",
        fix: "DROP POLICY a_gadget_domain ON gadgets; DROP DOMAIN gadget_name",
    },
    Case {
        id: "TEN024",
        object: "policy tenant_isolation on gadgets",
        breaks: "DROP POLICY z_gadget_seen ON gadgets; ALTER POLICY tenant_isolation ON gadgets USING ((tenant_id = (SELECT tenancy.current_tenant())) AND gadget_seen(name))",
        fix: "ALTER POLICY tenant_isolation ON gadgets USING (tenant_id = (SELECT tenancy.current_tenant())); DROP FUNCTION gadget_seen(text)",
    },
    Case {
        id: "TEN030",
        object: "gadgets_global_name on gadgets",
        breaks: "CREATE UNIQUE INDEX gadgets_global_name ON gadgets (name)",
        fix: "DROP INDEX gadgets_global_name",
    },
    // An exclusion constraint without the tenant column conflicts across tenants as a unique
    // key does.
    Case {
        id: "TEN030",
        object: "key gadgets_name_excl on gadgets",
        breaks: "ALTER TABLE gadgets ADD CONSTRAINT gadgets_name_excl EXCLUDE USING btree (name WITH =)",
        fix: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_name_excl",
    },
    Case {
        id: "TEN031",
        object: "gadgets_name_first on gadgets",
        breaks: "CREATE INDEX gadgets_name_first ON gadgets (name, tenant_id)",
        fix: "DROP INDEX gadgets_name_first",
    },
    Case {
        id: "TEN032",
        object: "table gadgets",
        breaks: "DROP INDEX gadgets_name_idx",
        fix: "CREATE INDEX gadgets_name_idx ON gadgets (tenant_id, name)",
    },
    Case {
        id: "TEN040",
        object: "gadget_parts_loose on gadget_parts",
        breaks: "CREATE UNIQUE INDEX gadgets_id_key ON gadgets (tenant_id, id) INCLUDE (name); ALTER TABLE gadgets ADD CONSTRAINT gadgets_id_only UNIQUE (id); ALTER TABLE gadget_parts ADD CONSTRAINT gadget_parts_loose FOREIGN KEY (gadget_id) REFERENCES gadgets (id)",
        fix: "ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_loose; ALTER TABLE gadgets DROP CONSTRAINT gadgets_id_only; DROP INDEX gadgets_id_key",
    },
    Case {
        id: "TEN041",
        object: "table gadget_parts",
        breaks: "ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk",
        fix: "ALTER TABLE gadget_parts ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id)",
    },
    // The tenant column on both sides, but not referencing each other: PostgreSQL matches
    // the referenced columns to the primary key in any order.
    Case {
        id: "TEN040",
        object: "foreign key gadget_parts_crossed",
        breaks: "ALTER TABLE gadget_parts ADD CONSTRAINT gadget_parts_crossed FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (id, tenant_id) NOT VALID",
        fix: "ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_crossed",
    },
    // A foreign key that is there but checks nothing: its triggers disabled on either side,
    // enabled for replication only, or the key added NOT VALID over rows never checked.
    Case {
        id: "TEN042",
        object: "foreign key gadget_parts_gadget_fk on gadget_parts",
        breaks: "ALTER TABLE gadget_parts DISABLE TRIGGER ALL",
        fix: "ALTER TABLE gadget_parts ENABLE TRIGGER ALL",
    },
    Case {
        id: "TEN042",
        object: "foreign key gadget_parts_gadget_fk on gadget_parts",
        breaks: "ALTER TABLE gadgets DISABLE TRIGGER ALL",
        fix: "ALTER TABLE gadgets ENABLE TRIGGER ALL",
    },
    Case {
        id: "TEN042",
        object: "foreign key gadget_parts_gadget_fk on gadget_parts",
        breaks: "DO $$ DECLARE t name; BEGIN FOR t IN SELECT tgname FROM pg_trigger WHERE tgrelid = 'gadget_parts'::regclass AND tgconstraint <> 0 LOOP EXECUTE format('ALTER TABLE gadget_parts ENABLE REPLICA TRIGGER %I', t); END LOOP; END $$",
        fix: "ALTER TABLE gadget_parts ENABLE TRIGGER ALL",
    },
    Case {
        id: "TEN042",
        object: "foreign key gadget_parts_gadget_fk on gadget_parts",
        breaks: "ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk; ALTER TABLE gadget_parts ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id) NOT VALID",
        fix: "ALTER TABLE gadget_parts VALIDATE CONSTRAINT gadget_parts_gadget_fk",
    },
    Case {
        id: "TEN042",
        object: "foreign key gadgets_tenant_fk on gadgets",
        breaks: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_tenant_fk; ALTER TABLE gadgets ADD CONSTRAINT gadgets_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE NOT VALID",
        fix: "ALTER TABLE gadgets VALIDATE CONSTRAINT gadgets_tenant_fk",
    },
    // Every session of the database started in the replication role that skips them all.
    Case {
        id: "TEN043",
        object: "session_replication_role",
        breaks: "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET session_replication_role = replica', current_database()); END $$",
        fix: "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET session_replication_role', current_database()); END $$",
    },
    // A key from a tenant table to a global table the application role may delete from: the
    // cascade deletes every tenant's rows that point at the deleted row.
    Case {
        id: "TEN044",
        object: "foreign key gadgets_plan_fk on gadgets",
        breaks: "ALTER TABLE gadgets ADD COLUMN plan_id uuid CONSTRAINT gadgets_plan_fk REFERENCES plans ON DELETE CASCADE; GRANT DELETE ON plans TO tenancy_app",
        fix: "REVOKE DELETE ON plans FROM tenancy_app",
    },
    // A tenant key that moves a deleted tenant's rows to the tenant its default names.
    Case {
        id: "TEN045",
        object: "foreign key gadgets_tenant_fk on gadgets",
        breaks: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_tenant_fk; ALTER TABLE gadgets ADD CONSTRAINT gadgets_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE SET DEFAULT",
        fix: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_tenant_fk; ALTER TABLE gadgets ADD CONSTRAINT gadgets_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE",
    },
    // A key between tenant tables whose SET DEFAULT sets the tenant column: a tenant's delete
    // moves its rows to the tenant the defaults name.
    Case {
        id: "TEN045",
        object: "foreign key gadget_parts_gadget_fk on gadget_parts",
        breaks: "ALTER TABLE gadget_parts ALTER COLUMN tenant_id SET DEFAULT '00000000-0000-0000-0000-00000000000b', ALTER COLUMN gadget_id SET DEFAULT '00000000-0000-0000-0000-0000000000b1'; ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk, ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id) ON DELETE SET DEFAULT",
        fix: "ALTER TABLE gadget_parts ALTER COLUMN tenant_id DROP DEFAULT, ALTER COLUMN gadget_id DROP DEFAULT; ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk, ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id)",
    },
    // A key into another column of the tenants table: one tenant learns which slugs exist.
    Case {
        id: "TEN045",
        object: "foreign key gadgets_partner_fk on gadgets",
        breaks: "ALTER TABLE gadgets ADD COLUMN partner_slug text CONSTRAINT gadgets_partner_fk REFERENCES tenants (slug)",
        fix: "ALTER TABLE gadgets DROP COLUMN partner_slug",
    },
    // What a tenant table depends on, owned by the application role: dropped with CASCADE,
    // it takes every tenant's column with it; a composite type's attributes, renamed, swap
    // every tenant's values.
    Case {
        id: "TEN065",
        object: "role tenancy_app",
        breaks: "CREATE TYPE gadget_dims AS (w text, h text); ALTER TABLE gadgets ADD COLUMN dims gadget_dims; ALTER TYPE gadget_dims OWNER TO tenancy_app",
        fix: "ALTER TABLE gadgets DROP COLUMN dims; DROP TYPE gadget_dims",
    },
    Case {
        id: "TEN065",
        object: "role tenancy_app",
        breaks: "CREATE FUNCTION gadget_norm(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT lower($1)'; ALTER TABLE gadgets ADD COLUMN norm text GENERATED ALWAYS AS (gadget_norm(name)) STORED; ALTER FUNCTION gadget_norm(text) OWNER TO tenancy_app",
        fix: "ALTER FUNCTION gadget_norm(text) OWNER TO CURRENT_USER; ALTER TABLE gadgets DROP COLUMN norm; DROP FUNCTION gadget_norm(text)",
    },
    // Tenant rows elsewhere that the application role may not read but may wipe, or may read
    // only through a policy on the tenant and change through one that is open.
    Case {
        id: "TEN006",
        object: "table outbox.gadgets",
        breaks: "CREATE SCHEMA outbox; CREATE TABLE outbox.gadgets AS SELECT * FROM gadgets; GRANT USAGE ON SCHEMA outbox TO tenancy_app; GRANT INSERT, DELETE, TRUNCATE ON outbox.gadgets TO tenancy_app",
        fix: "DROP SCHEMA outbox CASCADE",
    },
    Case {
        id: "TEN006",
        object: "table reads_only.gadgets",
        breaks: "CREATE SCHEMA reads_only; CREATE TABLE reads_only.gadgets AS SELECT * FROM gadgets; ALTER TABLE reads_only.gadgets ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY; CREATE POLICY open_all ON reads_only.gadgets TO tenancy_app USING (true) WITH CHECK (true); CREATE POLICY tenant_isolation ON reads_only.gadgets AS RESTRICTIVE FOR SELECT TO PUBLIC USING (tenant_id = (SELECT tenancy.current_tenant())); GRANT USAGE ON SCHEMA reads_only TO tenancy_app; GRANT SELECT, UPDATE ON reads_only.gadgets TO tenancy_app",
        fix: "DROP SCHEMA reads_only CASCADE",
    },
    // Tenant tables whose tenant column is named otherwise (`org_id REFERENCES tenants`): a key
    // into one that leaves the tenant out, and a cascade into one from a global table.
    Case {
        id: "TEN040",
        object: "foreign key gadget_parts_doc_fk on gadget_parts",
        breaks: "CREATE TABLE org_docs (org_id uuid NOT NULL REFERENCES tenants (id), id uuid NOT NULL, slug text NOT NULL, PRIMARY KEY (org_id, id), UNIQUE (org_id, slug)); ALTER TABLE gadget_parts ADD COLUMN doc_org uuid, ADD COLUMN doc_slug text, ADD CONSTRAINT gadget_parts_doc_fk FOREIGN KEY (doc_org, doc_slug) REFERENCES org_docs (org_id, slug)",
        fix: "ALTER TABLE gadget_parts DROP COLUMN doc_org, DROP COLUMN doc_slug; DROP TABLE org_docs",
    },
    Case {
        id: "TEN044",
        object: "foreign key org_notes_plan_fk on org_notes",
        breaks: "CREATE TABLE org_notes (org_id uuid NOT NULL REFERENCES tenants (id), id uuid NOT NULL, plan_id uuid CONSTRAINT org_notes_plan_fk REFERENCES plans ON DELETE CASCADE, PRIMARY KEY (org_id, id)); GRANT DELETE ON plans TO tenancy_app",
        fix: "REVOKE DELETE ON plans FROM tenancy_app; DROP TABLE org_notes",
    },
    // Keys whose check, past row level security, answers what the application may not read:
    // whether a user has an address (the foundation's users are private), whether another
    // tenant has a gadget of a name (from a table in another schema without tenant policies).
    Case {
        id: "TEN046",
        object: "foreign key gadgets_owner_email_fk on gadgets",
        breaks: "ALTER TABLE users ADD CONSTRAINT users_email_probe_key UNIQUE (email); ALTER TABLE gadgets ADD COLUMN owner_email text CONSTRAINT gadgets_owner_email_fk REFERENCES users (email)",
        fix: "ALTER TABLE gadgets DROP COLUMN owner_email; ALTER TABLE users DROP CONSTRAINT users_email_probe_key",
    },
    Case {
        id: "TEN046",
        object: "foreign key pins_gadget_fk on pinboard.pins",
        breaks: "CREATE UNIQUE INDEX gadgets_tenant_name_key ON gadgets (tenant_id, name); CREATE SCHEMA pinboard; CREATE TABLE pinboard.pins (t uuid, n text, CONSTRAINT pins_gadget_fk FOREIGN KEY (t, n) REFERENCES public.gadgets (tenant_id, name)); GRANT USAGE ON SCHEMA pinboard TO tenancy_app; GRANT INSERT ON pinboard.pins TO tenancy_app",
        fix: "DROP SCHEMA pinboard CASCADE; DROP INDEX gadgets_tenant_name_key",
    },
    // A tenant table in another schema, isolated by its policies, with a key unique across
    // tenants: the conflict tells one tenant what another's rows say.
    Case {
        id: "TEN030",
        object: "key vault.notes_body_key on vault.notes",
        breaks: "CREATE SCHEMA vault; CREATE TABLE vault.notes (tenant_id uuid NOT NULL REFERENCES tenants (id), id uuid NOT NULL, body text UNIQUE, PRIMARY KEY (tenant_id, id)); ALTER TABLE vault.notes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY; CREATE POLICY tenant_access ON vault.notes TO tenancy_app USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant())); CREATE POLICY tenant_isolation ON vault.notes AS RESTRICTIVE TO PUBLIC USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant())); GRANT USAGE ON SCHEMA vault TO tenancy_app; GRANT SELECT, INSERT ON vault.notes TO tenancy_app",
        fix: "DROP SCHEMA vault CASCADE",
    },
    // Row code that puts a row's value where every role reads it back: a comment in the
    // catalogs (a definer may write them), the login's own defaults (any role may change its
    // own), a NOTIFY or the session's application_name called by a CHECK constraint itself.
    Case {
        id: "TEN075",
        object: "trigger gadget_describe on gadgets",
        breaks: "CREATE FUNCTION gadget_describe() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$BEGIN UPDATE pg_catalog.pg_description SET description = NEW.name WHERE objoid = 'public.plans'::regclass AND classoid = 'pg_catalog.pg_class'::regclass AND objsubid = 0; RETURN NEW; END$$; REVOKE EXECUTE ON FUNCTION gadget_describe() FROM PUBLIC; CREATE TRIGGER gadget_describe AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_describe()",
        fix: "DROP TRIGGER gadget_describe ON gadgets; DROP FUNCTION gadget_describe()",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_keep on gadgets",
        breaks: "CREATE FUNCTION gadget_keep() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM set_config('search_path', NEW.name, true); ALTER ROLE CURRENT_USER SET search_path FROM CURRENT; RETURN NEW; END$$; CREATE TRIGGER gadget_keep AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_keep()",
        fix: "DROP TRIGGER gadget_keep ON gadgets; DROP FUNCTION gadget_keep()",
    },
    Case {
        id: "TEN075",
        object: "constraint gadgets_notify_ck on gadgets",
        breaks: "ALTER TABLE gadgets ADD CONSTRAINT gadgets_notify_ck CHECK (pg_notify('gadgets', name)::text = '') NOT VALID",
        fix: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_notify_ck",
    },
    Case {
        id: "TEN075",
        object: "constraint gadgets_appname_ck on gadgets",
        breaks: "ALTER TABLE gadgets ADD CONSTRAINT gadgets_appname_ck CHECK (set_config('application_name', left(name, 63), false) IS NOT NULL) NOT VALID",
        fix: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_appname_ck",
    },
    // Trigger functions in C: contrib's tcn notifies every change with the row's key, and
    // autoinc advances a sequence the application may read.
    Case {
        id: "TEN075",
        object: "trigger gadgets_tcn on gadgets",
        breaks: "CREATE EXTENSION tcn; CREATE TRIGGER gadgets_tcn AFTER INSERT OR UPDATE OR DELETE ON gadgets FOR EACH ROW EXECUTE FUNCTION triggered_change_notification()",
        fix: "DROP TRIGGER gadgets_tcn ON gadgets; DROP EXTENSION tcn",
    },
    Case {
        id: "TEN075",
        object: "trigger gadgets_autoinc on gadgets",
        breaks: "CREATE EXTENSION autoinc; CREATE SEQUENCE gadget_counter; GRANT SELECT, USAGE ON SEQUENCE gadget_counter TO tenancy_app; ALTER TABLE gadgets ADD COLUMN serial int; CREATE TRIGGER gadgets_autoinc BEFORE INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION autoinc(serial, gadget_counter)",
        fix: "DROP TRIGGER gadgets_autoinc ON gadgets; ALTER TABLE gadgets DROP COLUMN serial; DROP SEQUENCE gadget_counter; DROP EXTENSION autoinc",
    },
    // The same, into relations whose names need reading as PostgreSQL reads them: a dot
    // inside a quoted name, read through a view; a C trigger's argument beyond ASCII, or
    // quoted in mixed case.
    Case {
        id: "TEN075",
        object: "trigger gadget_dotted_copy on gadgets",
        breaks: r#"CREATE TABLE "gadget.log" (name text); CREATE VIEW gadget_log_view AS SELECT name FROM "gadget.log"; GRANT SELECT ON gadget_log_view TO tenancy_app; CREATE FUNCTION gadget_dotted_copy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO "gadget.log" VALUES (NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadget_dotted_copy AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_dotted_copy()"#,
        fix: r#"DROP TRIGGER gadget_dotted_copy ON gadgets; DROP FUNCTION gadget_dotted_copy(); DROP VIEW gadget_log_view; DROP TABLE "gadget.log""#,
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_accented_cascade on gadgets",
        breaks: "CREATE EXTENSION refint; CREATE TABLE gadget_é_sink (id uuid, v text); GRANT SELECT ON gadget_é_sink TO tenancy_app; CREATE TRIGGER gadget_accented_cascade AFTER DELETE ON gadgets FOR EACH ROW EXECUTE FUNCTION check_foreign_key(1, 'cascade', 'id', 'gadget_é_sink', 'id')",
        fix: "DROP TRIGGER gadget_accented_cascade ON gadgets; DROP TABLE gadget_é_sink; DROP EXTENSION refint",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_mixed_cascade on gadgets",
        breaks: r#"CREATE EXTENSION refint; CREATE TABLE "Gadget_Sink" (id uuid, v text); GRANT SELECT ON "Gadget_Sink" TO tenancy_app; CREATE TRIGGER gadget_mixed_cascade AFTER DELETE ON gadgets FOR EACH ROW EXECUTE FUNCTION check_foreign_key(1, 'cascade', 'id', '"Gadget_Sink"', 'id')"#,
        fix: r#"DROP TRIGGER gadget_mixed_cascade ON gadgets; DROP TABLE "Gadget_Sink"; DROP EXTENSION refint"#,
    },
    // Row code writing where the application may not read, which carries the row on to where
    // it may: a view into its table, a partition into its parent, a rule into its action's
    // table, a changed key into the keys that cascade from it.
    Case {
        id: "TEN075",
        object: "trigger gadget_plan_copy on gadgets",
        breaks: "CREATE VIEW plans_in AS SELECT id, name FROM plans; GRANT INSERT ON plans_in TO tenancy_app; CREATE FUNCTION gadget_plan_copy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.plans_in VALUES (gen_random_uuid(), NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadget_plan_copy AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_plan_copy()",
        fix: "DROP TRIGGER gadget_plan_copy ON gadgets; DROP FUNCTION gadget_plan_copy(); DROP VIEW plans_in",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_log_copy on gadgets",
        breaks: "CREATE SCHEMA logs; GRANT USAGE ON SCHEMA logs TO tenancy_app; CREATE TABLE logs.gadget_log (name text, at int NOT NULL DEFAULT 1) PARTITION BY LIST (at); CREATE TABLE logs.gadget_log_1 PARTITION OF logs.gadget_log FOR VALUES IN (1); GRANT SELECT ON logs.gadget_log TO tenancy_app; GRANT INSERT ON logs.gadget_log_1 TO tenancy_app; CREATE FUNCTION gadget_log_copy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO logs.gadget_log_1 (name) VALUES (NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadget_log_copy AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_log_copy()",
        fix: "DROP TRIGGER gadget_log_copy ON gadgets; DROP FUNCTION gadget_log_copy(); DROP SCHEMA logs CASCADE",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_stage_copy on gadgets",
        breaks: "CREATE TABLE gadget_stage (name text); GRANT INSERT ON gadget_stage TO tenancy_app; CREATE RULE stage_forward AS ON INSERT TO gadget_stage DO INSTEAD INSERT INTO public.plans VALUES (gen_random_uuid(), NEW.name); CREATE FUNCTION gadget_stage_copy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.gadget_stage VALUES (NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadget_stage_copy AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_stage_copy()",
        fix: "DROP TRIGGER gadget_stage_copy ON gadgets; DROP FUNCTION gadget_stage_copy(); DROP TABLE gadget_stage",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_rekey on gadgets",
        breaks: "CREATE TABLE gadget_key (k text PRIMARY KEY); GRANT UPDATE ON gadget_key TO tenancy_app; ALTER TABLE plans ADD COLUMN label text REFERENCES gadget_key (k) ON UPDATE CASCADE; CREATE FUNCTION gadget_rekey() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN UPDATE public.gadget_key SET k = NEW.name; RETURN NEW; END$$; CREATE TRIGGER gadget_rekey AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_rekey()",
        fix: "DROP TRIGGER gadget_rekey ON gadgets; DROP FUNCTION gadget_rekey(); ALTER TABLE plans DROP COLUMN label; DROP TABLE gadget_key",
    },
    // Row code of a table that row code of a tenant table writes into runs on what it wrote.
    Case {
        id: "TEN075",
        object: "trigger gadget_stage_relay on gadgets",
        breaks: "CREATE TABLE gadget_relay (v text); GRANT INSERT ON gadget_relay TO tenancy_app; CREATE FUNCTION gadget_relay_note() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.plans VALUES (gen_random_uuid(), NEW.v); RETURN NEW; END$$; CREATE TRIGGER gadget_relay_note AFTER INSERT ON gadget_relay FOR EACH ROW EXECUTE FUNCTION gadget_relay_note(); CREATE FUNCTION gadget_stage_relay() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.gadget_relay VALUES (NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadget_stage_relay AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_stage_relay()",
        fix: "DROP TRIGGER gadget_stage_relay ON gadgets; DROP FUNCTION gadget_stage_relay(); DROP TABLE gadget_relay; DROP FUNCTION gadget_relay_note()",
    },
    // Row code that reaches a function through a cast or an aggregate.
    Case {
        id: "TEN075",
        object: "trigger gadget_box on gadgets",
        breaks: "CREATE TYPE gadget_box AS (v text); CREATE FUNCTION to_gadget_box(t text) RETURNS gadget_box LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.plans VALUES (gen_random_uuid(), t); RETURN ROW(t)::gadget_box; END$$; CREATE CAST (text AS gadget_box) WITH FUNCTION to_gadget_box(text); CREATE FUNCTION gadget_box() RETURNS trigger LANGUAGE plpgsql AS $$DECLARE b gadget_box; BEGIN b := NEW.name::gadget_box; RETURN NEW; END$$; CREATE TRIGGER gadget_box BEFORE INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_box()",
        fix: "DROP TRIGGER gadget_box ON gadgets; DROP FUNCTION gadget_box(); DROP CAST (text AS gadget_box); DROP FUNCTION to_gadget_box(text); DROP TYPE gadget_box",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_fold on gadgets",
        breaks: "CREATE FUNCTION gadget_keep_step(s text, v text) RETURNS text LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.plans VALUES (gen_random_uuid(), v); RETURN v; END$$; CREATE AGGREGATE gadget_keep_last(text) (SFUNC = gadget_keep_step, STYPE = text); CREATE FUNCTION gadget_fold() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM gadget_keep_last(x) FROM (SELECT NEW.name AS x) s; RETURN NEW; END$$; CREATE TRIGGER gadget_fold AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_fold()",
        fix: "DROP TRIGGER gadget_fold ON gadgets; DROP FUNCTION gadget_fold(); DROP AGGREGATE gadget_keep_last(text); DROP FUNCTION gadget_keep_step(text, text)",
    },
    // A view over a tenant table: its INSTEAD OF triggers and its rules get the table's rows.
    Case {
        id: "TEN075",
        object: "trigger gadgets_v_insert on gadgets_v",
        breaks: "CREATE VIEW gadgets_v WITH (security_invoker) AS SELECT tenant_id, id, name FROM gadgets; GRANT SELECT, INSERT ON gadgets_v TO tenancy_app; CREATE FUNCTION gadgets_v_insert() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.gadgets (tenant_id, id, name) VALUES (NEW.tenant_id, NEW.id, NEW.name); INSERT INTO public.plans VALUES (gen_random_uuid(), NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadgets_v_insert INSTEAD OF INSERT ON gadgets_v FOR EACH ROW EXECUTE FUNCTION gadgets_v_insert()",
        fix: "DROP VIEW gadgets_v; DROP FUNCTION gadgets_v_insert()",
    },
    Case {
        id: "TEN071",
        object: "rule gadgets_v_also on gadgets_v",
        breaks: "CREATE VIEW gadgets_v WITH (security_invoker) AS SELECT tenant_id, id, name FROM gadgets; GRANT SELECT, INSERT ON gadgets_v TO tenancy_app; CREATE RULE gadgets_v_also AS ON INSERT TO gadgets_v DO ALSO INSERT INTO public.plans VALUES (gen_random_uuid(), NEW.name)",
        fix: "DROP VIEW gadgets_v",
    },
    // A unique key the application may insert into answers whether a value is there.
    Case {
        id: "TEN075",
        object: "trigger gadget_seen_copy on gadgets",
        breaks: "CREATE TABLE gadget_seen (name text PRIMARY KEY); GRANT INSERT ON gadget_seen TO tenancy_app; CREATE FUNCTION gadget_seen_copy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.gadget_seen VALUES (NEW.name) ON CONFLICT DO NOTHING; RETURN NEW; END$$; CREATE TRIGGER gadget_seen_copy AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_seen_copy()",
        fix: "DROP TRIGGER gadget_seen_copy ON gadgets; DROP FUNCTION gadget_seen_copy(); DROP TABLE gadget_seen",
    },
    // Through a domain over the domain whose constraint calls the outlet.
    Case {
        id: "TEN075",
        object: "constraint gadget_note_ck of domain gadget_note_base of column note on gadgets",
        breaks: "CREATE DOMAIN gadget_note_base AS text CONSTRAINT gadget_note_ck CHECK (pg_notify('gadgets', VALUE)::text = ''); CREATE DOMAIN gadget_note AS gadget_note_base; ALTER TABLE gadgets ADD COLUMN note gadget_note",
        fix: "ALTER TABLE gadgets DROP COLUMN note; DROP DOMAIN gadget_note; DROP DOMAIN gadget_note_base",
    },
    // Text search objects a tenant table's column depends on, owned by the application role.
    Case {
        id: "TEN065",
        object: "role tenancy_app",
        breaks: "CREATE TEXT SEARCH CONFIGURATION gadget_cfg (COPY = pg_catalog.simple); ALTER TABLE gadgets ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('public.gadget_cfg'::regconfig, name)) STORED; ALTER TEXT SEARCH CONFIGURATION gadget_cfg OWNER TO tenancy_app",
        fix: "ALTER TABLE gadgets DROP COLUMN tsv; DROP TEXT SEARCH CONFIGURATION gadget_cfg",
    },
    Case {
        id: "TEN065",
        object: "role tenancy_app",
        breaks: "CREATE TEXT SEARCH DICTIONARY gadget_dict (TEMPLATE = pg_catalog.simple); CREATE TEXT SEARCH CONFIGURATION gadget_cfg2 (COPY = pg_catalog.simple); ALTER TEXT SEARCH CONFIGURATION gadget_cfg2 ALTER MAPPING FOR asciiword WITH gadget_dict; ALTER TABLE gadgets ADD COLUMN tsv2 tsvector GENERATED ALWAYS AS (to_tsvector('public.gadget_cfg2'::regconfig, name)) STORED; ALTER TEXT SEARCH DICTIONARY gadget_dict OWNER TO tenancy_app",
        fix: "ALTER TABLE gadgets DROP COLUMN tsv2; DROP TEXT SEARCH CONFIGURATION gadget_cfg2; DROP TEXT SEARCH DICTIONARY gadget_dict",
    },
    // A table a key ties to a tenant table through its tenant column holds tenant rows.
    Case {
        id: "TEN010",
        object: "table gadget_notes",
        breaks: "CREATE TABLE gadget_notes (owner uuid NOT NULL, gadget uuid NOT NULL, note text NOT NULL, FOREIGN KEY (owner, gadget) REFERENCES gadgets (tenant_id, id) ON DELETE CASCADE); GRANT SELECT ON gadget_notes TO tenancy_app",
        fix: "DROP TABLE gadget_notes",
    },
    Case {
        id: "TEN050",
        object: "table widgets",
        breaks: "CREATE TABLE widgets (tenant_id uuid NOT NULL, id int, PRIMARY KEY (tenant_id, id))",
        fix: "DROP TABLE widgets",
    },
    Case {
        id: "TEN070",
        object: "function leak_gadgets()",
        breaks: "CREATE FUNCTION leak_gadgets() RETURNS SETOF gadgets LANGUAGE sql SECURITY DEFINER AS 'SELECT * FROM gadgets'",
        fix: "REVOKE EXECUTE ON FUNCTION leak_gadgets() FROM PUBLIC",
    },
    // A definer that builds its statement at run time names no table in its text.
    Case {
        id: "TEN070",
        object: "function count_anything(text)",
        breaks: "CREATE FUNCTION count_anything(t text) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$DECLARE n bigint; BEGIN EXECUTE format('SELECT count(*) FROM %I', t) INTO n; RETURN n; END$$",
        fix: "REVOKE EXECUTE ON FUNCTION count_anything(text) FROM PUBLIC",
    },
    // A trigger runs its function whoever may execute it.
    Case {
        id: "TEN070",
        object: "function gadget_spy()",
        breaks: "CREATE TABLE gadget_log (name text); CREATE FUNCTION gadget_spy() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$BEGIN INSERT INTO gadget_log SELECT name FROM gadgets; RETURN NEW; END$$; REVOKE EXECUTE ON FUNCTION gadget_spy() FROM PUBLIC; CREATE TRIGGER gadget_spy AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_spy()",
        fix: "DROP TRIGGER gadget_spy ON gadgets; DROP FUNCTION gadget_spy(); DROP TABLE gadget_log",
    },
    // A rule's actions run as its owner: this one copies every tenant's gadgets.
    Case {
        id: "TEN071",
        object: "rule gadget_copy on gadgets",
        breaks: "CREATE TABLE gadget_log (name text); CREATE RULE gadget_copy AS ON INSERT TO gadgets DO ALSO INSERT INTO gadget_log SELECT name FROM gadgets",
        fix: "DROP RULE gadget_copy ON gadgets; DROP TABLE gadget_log",
    },
    Case {
        id: "TEN071",
        object: "view gadget_view",
        breaks: "CREATE VIEW gadget_view AS SELECT * FROM gadgets; GRANT SELECT ON gadget_view TO tenancy_app",
        fix: "ALTER VIEW gadget_view SET (security_invoker = true)",
    },
    // A trigger that copies each tenant's rows into a table no policy covers, which every
    // tenant reads: as the caller (the application role may insert there) and as a definer
    // that names no tenant table in its text.
    Case {
        id: "TEN075",
        object: "trigger gadget_copy on gadgets",
        breaks: "CREATE TABLE gadget_names (name text); GRANT SELECT, INSERT ON gadget_names TO tenancy_app; CREATE FUNCTION gadget_copy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.gadget_names VALUES (NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadget_copy AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_copy()",
        fix: "DROP TRIGGER gadget_copy ON gadgets; DROP FUNCTION gadget_copy(); DROP TABLE gadget_names",
    },
    // Row code that puts a row's value where every session of the login reads it while the
    // transaction runs: the session's application_name (pg_stat_activity), the key of an
    // advisory lock (pg_locks).
    Case {
        id: "TEN075",
        object: "trigger gadget_remember on gadgets",
        breaks: "CREATE FUNCTION gadget_remember() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM set_config('application_name', left(NEW.name, 63), false); RETURN NEW; END$$; CREATE TRIGGER gadget_remember AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_remember()",
        fix: "DROP TRIGGER gadget_remember ON gadgets; DROP FUNCTION gadget_remember()",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_serialize on gadgets",
        breaks: "CREATE FUNCTION gadget_serialize() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_advisory_xact_lock(hashtext(NEW.name)); RETURN NEW; END$$; CREATE TRIGGER gadget_serialize BEFORE INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_serialize()",
        fix: "DROP TRIGGER gadget_serialize ON gadgets; DROP FUNCTION gadget_serialize()",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_count on gadgets",
        breaks: "CREATE TABLE gadget_counts (name text, n int); GRANT SELECT ON gadget_counts TO tenancy_app; CREATE FUNCTION gadget_count() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$BEGIN UPDATE ONLY \"public\".gadget_counts SET name = NEW.name, n = n + 1; RETURN NEW; END$$; CREATE TRIGGER gadget_count AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_count()",
        // Left in place, the SECURITY DEFINER trigger runs as the superuser that owns it
        // (TEN065, TEN106): reviewed, it is vouched for.
        fix: "REVOKE SELECT ON gadget_counts FROM tenancy_app; COMMENT ON FUNCTION gadget_count() IS 'tenancy: reviewed: counts the inserted row only'",
    },
    // A function that shows its argument, marked LEAKPROOF: a filter made of it may run
    // before the policies' and sees every tenant's rows. One without arguments sees nothing
    // of a row and is not reported.
    Case {
        id: "TEN077",
        object: "function gadget_peek(text)",
        breaks: "CREATE FUNCTION gadget_peek(t text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS $$BEGIN RAISE NOTICE '%', t; RETURN true; END$$; ALTER FUNCTION gadget_peek(text) LEAKPROOF; CREATE FUNCTION gadget_const() RETURNS boolean LANGUAGE sql LEAKPROOF RETURN true",
        fix: "ALTER FUNCTION gadget_peek(text) NOT LEAKPROOF",
    },
    // The planner's samples of every tenant's values, read from the catalog itself.
    Case {
        id: "TEN078",
        object: "table pg_statistic",
        breaks: "GRANT SELECT ON pg_catalog.pg_statistic TO tenancy_app",
        fix: "REVOKE SELECT ON pg_catalog.pg_statistic FROM tenancy_app",
    },
    Case {
        id: "TEN078",
        object: "table pg_statistic_ext_data",
        breaks: "GRANT SELECT (stxdmcv) ON pg_catalog.pg_statistic_ext_data TO PUBLIC",
        fix: "REVOKE SELECT (stxdmcv) ON pg_catalog.pg_statistic_ext_data FROM PUBLIC",
    },
    // A foreign table of file_fdw: it reads any file of the server (a tenant table's data
    // file among them) or runs a program, as the user that owns every table's data.
    Case {
        id: "TEN079",
        object: "foreign table gadget_raw",
        breaks: "CREATE EXTENSION IF NOT EXISTS file_fdw; CREATE SERVER gadget_files FOREIGN DATA WRAPPER file_fdw; CREATE FOREIGN TABLE gadget_raw (line text) SERVER gadget_files OPTIONS (program 'cat /dev/null'); GRANT SELECT ON gadget_raw TO tenancy_app",
        fix: "REVOKE SELECT ON gadget_raw FROM tenancy_app",
    },
    Case {
        id: "TEN079",
        object: "view gadget_raw_view",
        breaks: "CREATE VIEW gadget_raw_lines AS SELECT line FROM gadget_raw; CREATE VIEW gadget_raw_view AS SELECT * FROM gadget_raw_lines; GRANT SELECT ON gadget_raw_view TO tenancy_app",
        fix: "DROP VIEW gadget_raw_view, gadget_raw_lines",
    },
    // The context key read for the application role with its owner's rights: through a view
    // of a view (one with security_invoker, as the fix leaves, reads as the caller and is
    // refused), a materialized copy, or a SECURITY DEFINER function that PUBLIC may run.
    Case {
        id: "TEN067",
        object: "role tenancy_app",
        breaks: "CREATE VIEW key_copy AS SELECT key FROM tenancy.context_key; CREATE VIEW key_view AS SELECT * FROM key_copy; GRANT SELECT ON key_view TO tenancy_app",
        fix: "DROP VIEW key_view; CREATE VIEW key_view WITH (security_invoker) AS SELECT * FROM key_copy; GRANT SELECT ON key_view TO tenancy_app",
    },
    Case {
        id: "TEN067",
        object: "role tenancy_app",
        breaks: "CREATE MATERIALIZED VIEW key_rows AS SELECT key FROM tenancy.context_key; GRANT SELECT (key) ON key_rows TO tenancy_app",
        fix: "DROP MATERIALIZED VIEW key_rows",
    },
    Case {
        id: "TEN067",
        object: "role tenancy_app",
        breaks: "CREATE FUNCTION key_of() RETURNS bytea LANGUAGE sql STABLE SECURITY DEFINER RETURN (SELECT key FROM tenancy.context_key WHERE id = 1)",
        fix: "REVOKE EXECUTE ON FUNCTION key_of() FROM PUBLIC",
    },
    // A trigger or rule of someone else's on the key: each is handed it when it is rotated.
    Case {
        id: "TEN067",
        object: "table tenancy.context_key",
        breaks: "CREATE TABLE key_log (k bytea); CREATE FUNCTION key_log() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.key_log VALUES (NEW.key); RETURN NEW; END$$; CREATE TRIGGER key_log AFTER UPDATE ON tenancy.context_key FOR EACH ROW EXECUTE FUNCTION key_log()",
        fix: "DROP TRIGGER key_log ON tenancy.context_key",
    },
    Case {
        id: "TEN067",
        object: "table tenancy.context_key",
        breaks: "CREATE RULE key_log AS ON UPDATE TO tenancy.context_key DO ALSO INSERT INTO public.key_log VALUES (NEW.key)",
        fix: "DROP RULE key_log ON tenancy.context_key",
    },
    // What else runs on the key or returns its row: a table it inherits from, a CHECK
    // constraint, an index expression and a statistics object that call code on its values.
    Case {
        id: "TEN067",
        object: "table tenancy.context_key",
        breaks: "CREATE TABLE key_parent (id int, key bytea, ipad bytea, opad bytea); ALTER TABLE tenancy.context_key INHERIT key_parent",
        fix: "ALTER TABLE tenancy.context_key NO INHERIT key_parent; DROP TABLE key_parent",
    },
    Case {
        id: "TEN067",
        object: "table tenancy.context_key",
        breaks: "CREATE FUNCTION key_kept(b bytea) RETURNS boolean LANGUAGE sql IMMUTABLE RETURN true; ALTER TABLE tenancy.context_key ADD CONSTRAINT key_kept CHECK (key_kept(key)) NOT VALID",
        fix: "ALTER TABLE tenancy.context_key DROP CONSTRAINT key_kept; DROP FUNCTION key_kept(bytea)",
    },
    Case {
        id: "TEN067",
        object: "table tenancy.context_key",
        breaks: "CREATE FUNCTION key_kept(b bytea) RETURNS bytea LANGUAGE sql IMMUTABLE RETURN b; CREATE INDEX key_kept ON tenancy.context_key (key_kept(key))",
        fix: "DROP INDEX tenancy.key_kept; DROP FUNCTION key_kept(bytea)",
    },
    Case {
        id: "TEN067",
        object: "table tenancy.context_key",
        breaks: "CREATE STATISTICS key_stats ON (length(key)) FROM tenancy.context_key",
        fix: "DROP STATISTICS key_stats",
    },
    // A default that runs when the key is installed, and a foreign key into the key's column
    // whose ON UPDATE CASCADE copies every new key into a table of its own.
    Case {
        id: "TEN067",
        object: "table tenancy.context_key",
        breaks: "CREATE FUNCTION key_note() RETURNS bytea LANGUAGE sql RETURN NULL::bytea; ALTER TABLE tenancy.context_key ADD COLUMN note bytea DEFAULT key_note()",
        fix: "ALTER TABLE tenancy.context_key DROP COLUMN note; DROP FUNCTION key_note()",
    },
    Case {
        id: "TEN067",
        object: "table tenancy.context_key",
        breaks: "CREATE UNIQUE INDEX key_held ON tenancy.context_key (key); CREATE TABLE key_holder (k bytea REFERENCES tenancy.context_key (key) ON UPDATE CASCADE)",
        fix: "DROP TABLE key_holder; DROP INDEX tenancy.key_held",
    },
    // An event trigger runs on the migrations' DDL with their rights, which read the key.
    Case {
        id: "TEN109",
        object: "event trigger ddl_seen",
        breaks: "CREATE FUNCTION ddl_seen() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN NULL; END$$; CREATE EVENT TRIGGER ddl_seen ON ddl_command_end EXECUTE FUNCTION ddl_seen()",
        fix: "DROP EVENT TRIGGER ddl_seen; DROP FUNCTION ddl_seen()",
    },
    // TOAST relations, outside row level security: the schema, a relation of it (that of
    // pg_statistic, the planner's samples), a view over one.
    Case {
        id: "TEN110",
        object: "schema pg_toast",
        breaks: "GRANT USAGE ON SCHEMA pg_toast TO tenancy_app",
        fix: "REVOKE USAGE ON SCHEMA pg_toast FROM tenancy_app",
    },
    Case {
        id: "TEN110",
        object: "relation pg_toast.pg_toast_2619",
        breaks: "GRANT SELECT ON pg_toast.pg_toast_2619 TO tenancy_app",
        fix: "REVOKE SELECT ON pg_toast.pg_toast_2619 FROM tenancy_app",
    },
    Case {
        id: "TEN110",
        object: "view statistic_chunks",
        breaks: "CREATE VIEW statistic_chunks AS SELECT chunk_id, chunk_data FROM pg_toast.pg_toast_2619",
        fix: "DROP VIEW statistic_chunks",
    },
    Case {
        id: "TEN110",
        object: "function statistic_chunk_count()",
        breaks: "CREATE FUNCTION statistic_chunk_count() RETURNS bigint LANGUAGE sql STABLE RETURN (SELECT count(*) FROM pg_toast.pg_toast_2619)",
        fix: "DROP FUNCTION statistic_chunk_count()",
    },
    // Large objects, outside row level security and shared by every tenant of the login:
    // the functions back to everyone as PostgreSQL ships them, or one granted to the role.
    Case {
        id: "TEN083",
        object: "large objects",
        breaks: "GRANT EXECUTE ON FUNCTION pg_catalog.lo_get(oid) TO PUBLIC",
        fix: "REVOKE EXECUTE ON FUNCTION pg_catalog.lo_get(oid) FROM PUBLIC",
    },
    Case {
        id: "TEN083",
        object: "large objects",
        breaks: "GRANT EXECUTE ON FUNCTION pg_catalog.lo_from_bytea(oid, bytea) TO tenancy_app",
        fix: "REVOKE EXECUTE ON FUNCTION pg_catalog.lo_from_bytea(oid, bytea) FROM tenancy_app",
    },
    // Views that use a tenant table with their owner's rights in ways the first ones do
    // not show: through another view, with a column grant, written through without SELECT,
    // on the tenants table, or on the planner's samples and tenancy's nonces.
    Case {
        id: "TEN071",
        object: "view gadget_outer",
        breaks: "CREATE VIEW gadget_inner AS SELECT tenant_id, name FROM gadgets; CREATE VIEW gadget_outer AS SELECT name FROM gadget_inner; GRANT SELECT ON gadget_outer TO tenancy_app",
        fix: "DROP VIEW gadget_outer, gadget_inner",
    },
    Case {
        id: "TEN071",
        object: "view gadget_columns",
        breaks: "CREATE VIEW gadget_columns AS SELECT tenant_id, name FROM gadgets; GRANT SELECT (name) ON gadget_columns TO tenancy_app",
        fix: "DROP VIEW gadget_columns",
    },
    Case {
        id: "TEN071",
        object: "view gadget_writes",
        breaks: "CREATE VIEW gadget_writes AS SELECT * FROM gadgets; GRANT UPDATE, DELETE ON gadget_writes TO tenancy_app",
        fix: "DROP VIEW gadget_writes",
    },
    Case {
        id: "TEN071",
        object: "view tenant_statuses",
        breaks: "CREATE VIEW tenant_statuses AS SELECT id, status FROM tenants; GRANT UPDATE (status) ON tenant_statuses TO tenancy_app",
        fix: "DROP VIEW tenant_statuses",
    },
    Case {
        id: "TEN071",
        object: "view planner_samples",
        breaks: "CREATE VIEW planner_samples AS SELECT starelid, stavalues1::text AS v FROM pg_catalog.pg_statistic; GRANT SELECT ON planner_samples TO tenancy_app",
        fix: "DROP VIEW planner_samples",
    },
    Case {
        id: "TEN071",
        object: "view nonce_debug",
        breaks: "CREATE VIEW nonce_debug AS SELECT last_value FROM tenancy.nonce_hi; GRANT SELECT ON nonce_debug TO tenancy_app",
        fix: "DROP VIEW nonce_debug",
    },
    // Definers whose text names no tenant table, owned by a role that skips row level
    // security: one calls a function that reads it, one reads a view of it.
    Case {
        id: "TEN070",
        object: "function gadget_peek_call()",
        breaks: "CREATE FUNCTION gadget_all_names() RETURNS SETOF text LANGUAGE sql AS 'SELECT name FROM gadgets'; REVOKE EXECUTE ON FUNCTION gadget_all_names() FROM PUBLIC; CREATE FUNCTION gadget_peek_call() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER AS 'SELECT gadget_all_names()'",
        fix: "DROP FUNCTION gadget_peek_call(), gadget_all_names()",
    },
    Case {
        id: "TEN070",
        object: "function gadget_peek_view()",
        breaks: "CREATE VIEW gadget_hidden AS SELECT name FROM gadgets; REVOKE ALL ON gadget_hidden FROM PUBLIC; CREATE FUNCTION gadget_peek_view() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER AS 'SELECT name FROM gadget_hidden'",
        fix: "DROP FUNCTION gadget_peek_view(); DROP VIEW gadget_hidden",
    },
    // The sessions' nonces read through SELECT, which currval takes as USAGE does.
    Case {
        id: "TEN067",
        object: "role tenancy_app",
        breaks: "GRANT SELECT ON SEQUENCE tenancy.nonce_hi, tenancy.nonce_lo TO tenancy_app",
        fix: "REVOKE SELECT ON SEQUENCE tenancy.nonce_hi, tenancy.nonce_lo FROM tenancy_app",
    },
    // Keys that compare rows across tenants though they name the tenant column: as an
    // INCLUDE column, or compared by `<>` in an exclusion constraint.
    Case {
        id: "TEN030",
        object: "key gadgets_name_u on gadgets",
        breaks: "CREATE UNIQUE INDEX gadgets_name_u ON gadgets (name) INCLUDE (tenant_id); COMMENT ON INDEX gadgets_name_u IS 'tenancy: reviewed: a lookup'",
        fix: "DROP INDEX gadgets_name_u",
    },
    Case {
        id: "TEN030",
        object: "key gadgets_name_excl on gadgets",
        breaks: "CREATE EXTENSION IF NOT EXISTS btree_gist; ALTER TABLE gadgets ADD CONSTRAINT gadgets_name_excl EXCLUDE USING gist (tenant_id WITH <>, name WITH =)",
        fix: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_name_excl",
    },
    // A trigger beside the audit log's guards, which drops entries before they are stored.
    Case {
        id: "TEN080",
        object: "table audit_log",
        breaks: "CREATE FUNCTION audit_quiet() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$; CREATE TRIGGER audit_quiet BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_quiet()",
        fix: "DROP TRIGGER audit_quiet ON audit_log; DROP FUNCTION audit_quiet()",
    },
    // Row code that copies each tenant's rows where every tenant reads them, past what a
    // trigger's own text shows: a statement built at run time, a function the trigger
    // calls, and a CHECK constraint's function.
    Case {
        id: "TEN075",
        object: "trigger gadget_dynamic on gadgets",
        breaks: "CREATE TABLE gadget_log (name text); GRANT SELECT ON gadget_log TO tenancy_app; CREATE FUNCTION gadget_dynamic() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN EXECUTE format('INSERT INTO %I VALUES ($1)', 'gadget_log') USING NEW.name; RETURN NEW; END$$; CREATE TRIGGER gadget_dynamic AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_dynamic()",
        fix: "DROP TRIGGER gadget_dynamic ON gadgets; DROP FUNCTION gadget_dynamic(); DROP TABLE gadget_log",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_calls on gadgets",
        breaks: "CREATE TABLE gadget_log (name text); GRANT SELECT ON gadget_log TO tenancy_app; CREATE FUNCTION gadget_log_name(n text) RETURNS void LANGUAGE sql AS 'INSERT INTO gadget_log VALUES (n)'; CREATE FUNCTION gadget_calls() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM gadget_log_name(NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadget_calls AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_calls()",
        fix: "DROP TRIGGER gadget_calls ON gadgets; DROP FUNCTION gadget_calls(), gadget_log_name(text); DROP TABLE gadget_log",
    },
    Case {
        id: "TEN075",
        object: "constraint gadgets_name_ok on gadgets",
        breaks: "CREATE TABLE gadget_log (name text); GRANT SELECT ON gadget_log TO tenancy_app; CREATE FUNCTION gadget_name_ok(n text) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN INSERT INTO gadget_log VALUES (n); RETURN true; END$$; ALTER TABLE gadgets ADD CONSTRAINT gadgets_name_ok CHECK (gadget_name_ok(name)) NOT VALID",
        fix: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_name_ok; DROP FUNCTION gadget_name_ok(text); DROP TABLE gadget_log",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_open_sink on gadgets",
        breaks: "CREATE TABLE gadget_log (name text); ALTER TABLE gadget_log ENABLE ROW LEVEL SECURITY; CREATE POLICY open ON gadget_log USING (true) WITH CHECK (true); GRANT SELECT, INSERT ON gadget_log TO tenancy_app; CREATE FUNCTION gadget_open_sink() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO gadget_log VALUES (NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadget_open_sink AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_open_sink()",
        fix: "DROP TRIGGER gadget_open_sink ON gadgets; DROP FUNCTION gadget_open_sink(); DROP TABLE gadget_log",
    },
    // Copies of tenant rows under row level security whose policy does not read the
    // tenant context: in another schema with the tenant column (an error), and one that
    // renamed it (what is in it cannot be known: a warning, as without row level security).
    Case {
        id: "TEN006",
        object: "gadget_archive.gadgets",
        breaks: "CREATE SCHEMA gadget_archive; CREATE TABLE gadget_archive.gadgets AS SELECT * FROM gadgets; ALTER TABLE gadget_archive.gadgets ENABLE ROW LEVEL SECURITY; CREATE POLICY open ON gadget_archive.gadgets USING (true); GRANT USAGE ON SCHEMA gadget_archive TO tenancy_app; GRANT SELECT ON gadget_archive.gadgets TO tenancy_app",
        fix: "DROP SCHEMA gadget_archive CASCADE",
    },
    Case {
        id: "TEN054",
        object: "table gadget_copy",
        breaks: "CREATE TABLE gadget_copy AS SELECT tenant_id AS org, name FROM gadgets; ALTER TABLE gadget_copy ENABLE ROW LEVEL SECURITY; CREATE POLICY open ON gadget_copy USING (true); GRANT SELECT ON gadget_copy TO tenancy_app",
        fix: "DROP TABLE gadget_copy",
    },
    // Other roles' credentials: password hashes, and the passwords of user mappings.
    Case {
        id: "TEN081",
        object: "table pg_authid",
        breaks: "GRANT SELECT ON pg_catalog.pg_authid TO tenancy_app",
        fix: "REVOKE SELECT ON pg_catalog.pg_authid FROM tenancy_app",
    },
    Case {
        id: "TEN081",
        object: "table pg_shadow",
        breaks: "GRANT SELECT (usename, passwd) ON pg_catalog.pg_shadow TO tenancy_app",
        fix: "REVOKE SELECT (usename, passwd) ON pg_catalog.pg_shadow FROM tenancy_app",
    },
    Case {
        id: "TEN081",
        object: "table pg_user_mapping",
        breaks: "GRANT SELECT (umoptions) ON pg_catalog.pg_user_mapping TO PUBLIC",
        fix: "REVOKE SELECT (umoptions) ON pg_catalog.pg_user_mapping FROM PUBLIC",
    },
    // The table of tenants, each row one tenant, opened to every tenant: row level security
    // off, not forced, or its policies widened.
    Case {
        id: "TEN010",
        object: "table tenants",
        breaks: "ALTER TABLE tenants DISABLE ROW LEVEL SECURITY",
        fix: "ALTER TABLE tenants ENABLE ROW LEVEL SECURITY",
    },
    Case {
        id: "TEN011",
        object: "table tenants",
        breaks: "ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY",
        fix: "ALTER TABLE tenants FORCE ROW LEVEL SECURITY",
    },
    Case {
        id: "TEN022",
        object: "policy tenant_peek on tenants",
        breaks: "CREATE POLICY tenant_peek ON tenants FOR SELECT TO tenancy_app USING (true)",
        fix: "DROP POLICY tenant_peek ON tenants",
    },
    // The foundation's users, every tenant's members' addresses, kept from the application
    // role: granted to it, or handed out by a view with its owner's rights.
    Case {
        id: "TEN056",
        object: "table users",
        breaks: "GRANT SELECT (email) ON users TO tenancy_app",
        fix: "REVOKE SELECT (email) ON users FROM tenancy_app",
    },
    Case {
        id: "TEN056",
        object: "table users",
        breaks: "GRANT UPDATE (email) ON users TO tenancy_app",
        fix: "REVOKE UPDATE (email) ON users FROM tenancy_app",
    },
    // Row level security does not keep it private when a policy lets every row through.
    Case {
        id: "TEN056",
        object: "table users",
        breaks: "ALTER TABLE users ENABLE ROW LEVEL SECURITY; GRANT SELECT ON users TO tenancy_app; \
                 CREATE POLICY every_user ON users TO tenancy_app USING (email <> '')",
        fix: "DROP POLICY every_user ON users; REVOKE SELECT ON users FROM tenancy_app; \
              ALTER TABLE users DISABLE ROW LEVEL SECURITY",
    },
    // The roles of every tenant, in one global table.
    Case {
        id: "TEN057",
        object: "table role_permissions",
        breaks: "GRANT INSERT ON role_permissions TO tenancy_app",
        fix: "REVOKE INSERT ON role_permissions FROM tenancy_app",
    },
    Case {
        id: "TEN053",
        object: "table tenants",
        breaks: "GRANT UPDATE (status) ON tenants TO tenancy_app",
        fix: "REVOKE UPDATE (status) ON tenants FROM tenancy_app",
    },
    // The same writes through a SECURITY DEFINER function everyone may call, owned by a role
    // that may write the table (and that skips no row level security): the application
    // role's own grants say nothing of them.
    Case {
        id: "TEN057",
        object: "function add_permission(member_role,text)",
        breaks: "CREATE ROLE permission_writer NOLOGIN; GRANT USAGE ON SCHEMA public TO permission_writer; GRANT INSERT ON role_permissions TO permission_writer; CREATE FUNCTION add_permission(r member_role, p text) RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$INSERT INTO role_permissions (role, permission) VALUES (r, p)$$; ALTER FUNCTION add_permission(member_role, text) OWNER TO permission_writer",
        fix: "DROP FUNCTION add_permission(member_role, text); DROP OWNED BY permission_writer; DROP ROLE permission_writer",
    },
    Case {
        id: "TEN053",
        object: "function suspend_tenant(uuid)",
        breaks: "CREATE ROLE tenant_suspender NOLOGIN; GRANT USAGE ON SCHEMA public TO tenant_suspender; GRANT UPDATE (status) ON tenants TO tenant_suspender; CREATE FUNCTION suspend_tenant(t uuid) RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$BEGIN UPDATE public.tenants SET status = 'suspended' WHERE id = t; END$$; ALTER FUNCTION suspend_tenant(uuid) OWNER TO tenant_suspender",
        fix: "DROP FUNCTION suspend_tenant(uuid); DROP OWNED BY tenant_suspender; DROP ROLE tenant_suspender",
    },
    // A trigger function of that kind, on a table the application role writes.
    Case {
        id: "TEN057",
        object: "function plan_requested()",
        breaks: "CREATE ROLE plan_requester NOLOGIN; GRANT USAGE ON SCHEMA public TO plan_requester; GRANT INSERT ON plans TO plan_requester; CREATE TABLE plan_requests (name text); GRANT INSERT ON plan_requests TO tenancy_app; CREATE FUNCTION plan_requested() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$BEGIN INSERT INTO plans VALUES (gen_random_uuid(), NEW.name); RETURN NEW; END$$; ALTER FUNCTION plan_requested() OWNER TO plan_requester; REVOKE EXECUTE ON FUNCTION plan_requested() FROM PUBLIC; CREATE TRIGGER plan_requested AFTER INSERT ON plan_requests FOR EACH ROW EXECUTE FUNCTION plan_requested()",
        fix: "DROP TABLE plan_requests; DROP FUNCTION plan_requested(); DROP OWNED BY plan_requester; DROP ROLE plan_requester",
    },
    // Through a view that writes it with its owner's rights, or a rule whose actions do.
    Case {
        id: "TEN057",
        object: "table plans",
        breaks: "CREATE ROLE plans_view_owner NOLOGIN; GRANT USAGE ON SCHEMA public TO plans_view_owner; GRANT SELECT, INSERT ON plans TO plans_view_owner; CREATE VIEW plans_in AS SELECT id, name FROM plans; ALTER VIEW plans_in OWNER TO plans_view_owner; GRANT INSERT ON plans_in TO tenancy_app",
        fix: "DROP VIEW plans_in; DROP OWNED BY plans_view_owner; DROP ROLE plans_view_owner",
    },
    Case {
        id: "TEN053",
        object: "table tenants",
        breaks: "CREATE TABLE tenant_closings (id uuid); GRANT INSERT ON tenant_closings TO tenancy_app; CREATE RULE tenant_closed AS ON INSERT TO tenant_closings DO ALSO DELETE FROM tenants WHERE id = NEW.id",
        fix: "DROP TABLE tenant_closings",
    },
    // Writes that reach a shared table further on: a view over a view, a chain of rules, a
    // child or parent by inheritance, a foreign key that cascades into it, the row code of a
    // table a cascade reaches, and a definer whose operator's function writes it.
    Case {
        id: "TEN057",
        object: "table plans",
        breaks: "CREATE VIEW plans_inner AS SELECT id, name FROM plans; CREATE VIEW plans_outer AS SELECT id, name FROM plans_inner; GRANT INSERT, UPDATE, DELETE ON plans_outer TO tenancy_app",
        fix: "DROP VIEW plans_outer; DROP VIEW plans_inner",
    },
    Case {
        id: "TEN053",
        object: "table tenants",
        breaks: "CREATE TABLE tenant_stage (slug text); CREATE RULE tenant_stage_fwd AS ON INSERT TO tenant_stage DO INSTEAD UPDATE public.tenants SET status = 'suspended' WHERE slug = NEW.slug; CREATE TABLE tenant_requests (slug text); GRANT INSERT ON tenant_requests TO tenancy_app; CREATE RULE tenant_requests_fwd AS ON INSERT TO tenant_requests DO INSTEAD INSERT INTO public.tenant_stage VALUES (NEW.slug)",
        fix: "DROP TABLE tenant_requests; DROP TABLE tenant_stage",
    },
    Case {
        id: "TEN057",
        object: "table plans",
        breaks: "CREATE TABLE plans_more () INHERITS (plans); GRANT INSERT ON plans_more TO tenancy_app",
        fix: "DROP TABLE plans_more",
    },
    Case {
        id: "TEN057",
        object: "table role_permissions",
        breaks: "CREATE TABLE perm_base (permission text); ALTER TABLE role_permissions INHERIT perm_base; GRANT DELETE ON perm_base TO tenancy_app",
        fix: "ALTER TABLE role_permissions NO INHERIT perm_base; DROP TABLE perm_base",
    },
    Case {
        id: "TEN053",
        object: "table tenants",
        breaks: "CREATE TABLE regions (code text PRIMARY KEY); ALTER TABLE tenants ADD CONSTRAINT tenants_region_fk FOREIGN KEY (data_region) REFERENCES regions (code) ON DELETE CASCADE NOT VALID; GRANT DELETE ON regions TO tenancy_app",
        fix: "ALTER TABLE tenants DROP CONSTRAINT tenants_region_fk; DROP TABLE regions",
    },
    Case {
        id: "TEN053",
        object: "table tenants",
        breaks: "CREATE TABLE tickets (code text PRIMARY KEY); CREATE TABLE ticket_log (code text REFERENCES tickets (code) ON DELETE CASCADE); CREATE FUNCTION ticket_log_gone() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN UPDATE public.tenants SET status = 'suspended'; RETURN OLD; END$$; CREATE TRIGGER ticket_log_gone BEFORE DELETE ON ticket_log FOR EACH ROW EXECUTE FUNCTION ticket_log_gone(); GRANT DELETE ON tickets TO tenancy_app",
        fix: "DROP TABLE ticket_log; DROP TABLE tickets; DROP FUNCTION ticket_log_gone()",
    },
    Case {
        id: "TEN057",
        object: "function plan_touch(text)",
        breaks: "CREATE ROLE plan_toucher NOLOGIN; GRANT USAGE ON SCHEMA public TO plan_toucher; GRANT INSERT ON plans TO plan_toucher; CREATE FUNCTION note_op(text, text) RETURNS bool LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.plans VALUES (gen_random_uuid(), $1); RETURN true; END$$; CREATE OPERATOR public.==> (LEFTARG = text, RIGHTARG = text, FUNCTION = note_op); CREATE FUNCTION plan_touch(n text) RETURNS bool LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$SELECT n OPERATOR(public.==>) 'x'$$; ALTER FUNCTION plan_touch(text) OWNER TO plan_toucher",
        fix: "DROP FUNCTION plan_touch(text); DROP OPERATOR public.==> (text, text); DROP FUNCTION note_op(text, text); DROP OWNED BY plan_toucher; DROP ROLE plan_toucher",
    },
    // Through a helper it calls, which writes with the definer's owner's rights.
    Case {
        id: "TEN057",
        object: "function clear_plans()",
        breaks: "CREATE ROLE plan_clearer NOLOGIN; GRANT USAGE ON SCHEMA public TO plan_clearer; GRANT SELECT, DELETE ON plans TO plan_clearer; CREATE FUNCTION plans_cleared() RETURNS void LANGUAGE sql AS $$DELETE FROM plans$$; CREATE FUNCTION clear_plans() RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$SELECT plans_cleared()$$; ALTER FUNCTION clear_plans() OWNER TO plan_clearer",
        fix: "DROP FUNCTION clear_plans(); DROP FUNCTION plans_cleared(); DROP OWNED BY plan_clearer; DROP ROLE plan_clearer",
    },
    Case {
        id: "TEN075",
        object: "trigger user_copy on users",
        breaks: "CREATE TABLE user_emails (email text); GRANT SELECT ON user_emails TO tenancy_app; CREATE FUNCTION user_copy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.user_emails VALUES (NEW.email); RETURN NEW; END$$; CREATE TRIGGER user_copy AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION user_copy()",
        fix: "DROP TRIGGER user_copy ON users; DROP TABLE user_emails",
    },
    Case {
        id: "TEN071",
        object: "view user_emails",
        breaks: "CREATE VIEW user_emails AS SELECT email FROM users; GRANT SELECT ON user_emails TO tenancy_app",
        fix: "DROP VIEW user_emails",
    },
    // A copy of tenant rows that left the tenant column out, readable by the application
    // role: no other rule keys on anything it has.
    Case {
        id: "TEN054",
        object: "table gadget_names",
        breaks: "CREATE TABLE gadget_names AS SELECT name FROM gadgets; GRANT SELECT ON gadget_names TO tenancy_app",
        fix: "REVOKE SELECT ON gadget_names FROM tenancy_app",
    },
    // The same copy wherever it is and however it is read: in another schema, in schema
    // tenancy beside tenancy's own tables, in information_schema; through a column grant, a
    // grant to a login of the application role, a policy for that login that does not read
    // the tenant context, a partition granted alone, a view over a copy it may not read.
    Case {
        id: "TEN054",
        object: "table gadget_reports.gadget_names",
        breaks: "CREATE SCHEMA gadget_reports; CREATE TABLE gadget_reports.gadget_names AS SELECT name FROM gadgets; GRANT USAGE ON SCHEMA gadget_reports TO tenancy_app; GRANT SELECT ON gadget_reports.gadget_names TO tenancy_app",
        fix: "DROP SCHEMA gadget_reports CASCADE",
    },
    Case {
        id: "TEN054",
        object: "table tenancy.gadget_export",
        breaks: "CREATE TABLE tenancy.gadget_export AS SELECT tenant_id AS tenant, name FROM gadgets; GRANT SELECT ON tenancy.gadget_export TO PUBLIC",
        fix: "DROP TABLE tenancy.gadget_export",
    },
    Case {
        id: "TEN054",
        object: "table information_schema.gadget_names",
        breaks: "CREATE TABLE information_schema.gadget_names AS SELECT name FROM gadgets; GRANT SELECT ON information_schema.gadget_names TO PUBLIC",
        fix: "DROP TABLE information_schema.gadget_names",
    },
    Case {
        id: "TEN054",
        object: "table gadget_labels",
        breaks: "CREATE TABLE gadget_labels AS SELECT name FROM gadgets; GRANT SELECT (name) ON gadget_labels TO tenancy_app",
        fix: "DROP TABLE gadget_labels",
    },
    Case {
        id: "TEN054",
        object: "table gadget_titles",
        breaks: "CREATE ROLE gadget_title_login LOGIN IN ROLE tenancy_app; CREATE TABLE gadget_titles AS SELECT name FROM gadgets; GRANT SELECT ON gadget_titles TO gadget_title_login",
        fix: "DROP TABLE gadget_titles; DROP ROLE gadget_title_login",
    },
    Case {
        id: "TEN054",
        object: "table gadget_captions",
        breaks: "CREATE ROLE gadget_caption_login LOGIN IN ROLE tenancy_app; CREATE TABLE gadget_captions AS SELECT name FROM gadgets; ALTER TABLE gadget_captions ENABLE ROW LEVEL SECURITY; CREATE POLICY readers ON gadget_captions FOR SELECT TO gadget_caption_login USING (true); GRANT SELECT ON gadget_captions TO tenancy_app",
        fix: "DROP TABLE gadget_captions; DROP ROLE gadget_caption_login",
    },
    Case {
        id: "TEN054",
        object: "table gadget_exports_all",
        breaks: "CREATE TABLE gadget_exports (name text) PARTITION BY LIST (name); CREATE TABLE gadget_exports_all PARTITION OF gadget_exports DEFAULT; INSERT INTO gadget_exports SELECT name FROM gadgets; GRANT SELECT ON gadget_exports_all TO tenancy_app",
        fix: "DROP TABLE gadget_exports",
    },
    Case {
        id: "TEN054",
        object: "view gadget_summaries",
        breaks: "CREATE SCHEMA gadget_copies; CREATE TABLE gadget_copies.names AS SELECT name FROM gadgets; CREATE VIEW gadget_summaries AS SELECT name FROM gadget_copies.names; GRANT SELECT ON gadget_summaries TO tenancy_app",
        fix: "DROP VIEW gadget_summaries; DROP SCHEMA gadget_copies CASCADE",
    },
    // A view (or materialized view) owned by a role whose user mapping logs in as a
    // superuser: reading it reads the foreign table through the owner's mapping, whatever
    // the application role's own mappings are.
    Case {
        id: "TEN076",
        object: "view gadget_directory",
        breaks: "CREATE EXTENSION IF NOT EXISTS postgres_fdw; CREATE SERVER loopback_views FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'postgres'); CREATE ROLE gadget_reporter NOLOGIN; CREATE USER MAPPING FOR gadget_reporter SERVER loopback_views OPTIONS (user 'postgres'); CREATE SCHEMA remote_gadgets; GRANT USAGE ON SCHEMA remote_gadgets TO gadget_reporter; CREATE FOREIGN TABLE remote_gadgets.names (name text) SERVER loopback_views OPTIONS (schema_name 'public', table_name 'gadgets'); ALTER FOREIGN TABLE remote_gadgets.names OWNER TO gadget_reporter; CREATE VIEW gadget_directory AS SELECT name FROM remote_gadgets.names; ALTER VIEW gadget_directory OWNER TO gadget_reporter; GRANT SELECT ON gadget_directory TO tenancy_app",
        fix: "DROP VIEW gadget_directory",
    },
    Case {
        id: "TEN076",
        object: "materialized view remote_gadgets.directory",
        breaks: "CREATE MATERIALIZED VIEW remote_gadgets.directory AS SELECT name FROM remote_gadgets.names WITH NO DATA; ALTER MATERIALIZED VIEW remote_gadgets.directory OWNER TO gadget_reporter; GRANT USAGE ON SCHEMA remote_gadgets TO tenancy_app; GRANT SELECT ON remote_gadgets.directory TO tenancy_app",
        fix: "DROP SCHEMA remote_gadgets CASCADE; DROP USER MAPPING FOR gadget_reporter SERVER loopback_views; DROP SERVER loopback_views; DROP OWNED BY gadget_reporter; DROP ROLE gadget_reporter",
    },
    // The context key (or a padded key) copied under another name, or written out as hex
    // into a table the application reads, and where every role reads the catalogs.
    Case {
        id: "TEN067",
        object: "role tenancy_app",
        breaks: "CREATE TABLE tenancy.key_backup AS SELECT key AS k, now() AS saved_at FROM tenancy.context_key; GRANT SELECT ON tenancy.key_backup TO tenancy_app",
        fix: "DROP TABLE tenancy.key_backup",
    },
    Case {
        id: "TEN067",
        object: "role tenancy_app",
        breaks: "CREATE TABLE tenancy.context_cache AS SELECT encode(ipad, 'hex') AS inner_pad FROM tenancy.context_key; GRANT SELECT ON tenancy.context_cache TO tenancy_app",
        fix: "DROP TABLE tenancy.context_cache",
    },
    Case {
        id: "TEN067",
        object: "role tenancy_app",
        breaks: "INSERT INTO plans SELECT gen_random_uuid(), encode(key, 'base64') FROM tenancy.context_key",
        fix: "DELETE FROM plans",
    },
    Case {
        id: "TEN067",
        object: "table plans",
        breaks: "DO $$ BEGIN EXECUTE format('COMMENT ON TABLE plans IS %L', (SELECT 'cfg:' || upper(encode(key, 'hex')) FROM tenancy.context_key)); END $$",
        fix: "COMMENT ON TABLE plans IS NULL",
    },
    Case {
        id: "TEN067",
        object: "database ",
        breaks: "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET app.context_key = %L', current_database(), (SELECT encode(key, 'hex') FROM tenancy.context_key)); END $$",
        fix: "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET app.context_key', current_database()); END $$",
    },
    Case {
        id: "TEN067",
        object: "role tenancy_app in database",
        breaks: "DO $$ BEGIN EXECUTE format('ALTER ROLE tenancy_app IN DATABASE %I SET app.context_key = %L', current_database(), (SELECT encode(opad, 'hex') FROM tenancy.context_key)); END $$",
        fix: "DO $$ BEGIN EXECUTE format('ALTER ROLE tenancy_app IN DATABASE %I RESET app.context_key', current_database()); END $$",
    },
    Case {
        id: "TEN067",
        object: "function app_hmac_key()",
        breaks: "DO $$ BEGIN EXECUTE format('CREATE FUNCTION app_hmac_key() RETURNS bytea LANGUAGE sql IMMUTABLE AS $f$ SELECT %L::bytea $f$', (SELECT key FROM tenancy.context_key)); END $$",
        fix: "DROP FUNCTION app_hmac_key()",
    },
    Case {
        id: "TEN067",
        object: "column secret of plans",
        breaks: "DO $$ BEGIN EXECUTE format('ALTER TABLE plans ADD COLUMN secret bytea DEFAULT %L::bytea', (SELECT key FROM tenancy.context_key)); END $$",
        fix: "ALTER TABLE plans DROP COLUMN secret",
    },
    Case {
        id: "TEN067",
        object: "view app_config",
        breaks: "DO $$ BEGIN EXECUTE format('CREATE VIEW app_config AS SELECT %L::text AS context_key_hex', (SELECT encode(key, 'hex') FROM tenancy.context_key)); END $$",
        fix: "DROP VIEW app_config",
    },
    // Each row of the tenants table is one tenant's: its status decides whether that tenant's
    // transactions open.
    Case {
        id: "TEN053",
        object: "table tenants",
        breaks: "GRANT UPDATE ON tenants TO tenancy_app",
        fix: "REVOKE UPDATE ON tenants FROM tenancy_app",
    },
    Case {
        id: "TEN052",
        object: "table plans",
        breaks: "REVOKE SELECT ON plans FROM tenancy_app",
        fix: "GRANT SELECT (id, name) ON plans TO tenancy_app",
    },
    // tenancy's own functions replaced (here: every login counted as one that may set the
    // context in plain settings), or handed to the application role, which may then replace
    // them.
    Case {
        id: "TEN072",
        object: "function tenancy.trusted_session",
        breaks: "CREATE OR REPLACE FUNCTION tenancy.trusted_session() RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp RETURN true",
        fix: "CREATE OR REPLACE FUNCTION tenancy.trusted_session() RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp RETURN (SELECT r.rolsuper OR NOT pg_has_role(r.oid, 'tenancy_app', 'MEMBER') FROM pg_roles r WHERE r.rolname = session_user)",
    },
    // How the planner treats it counts too: a planner support function may put any
    // expression in place of its calls, and its parallel safety where it may run.
    Case {
        id: "TEN072",
        object: "function tenancy.trusted_session",
        breaks: "ALTER FUNCTION tenancy.trusted_session() SUPPORT textlike_support",
        fix: "CREATE OR REPLACE FUNCTION tenancy.trusted_session() RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp RETURN (SELECT r.rolsuper OR NOT pg_has_role(r.oid, 'tenancy_app', 'MEMBER') FROM pg_roles r WHERE r.rolname = session_user)",
    },
    Case {
        id: "TEN072",
        object: "function tenancy.trusted_session",
        breaks: "ALTER FUNCTION tenancy.trusted_session() PARALLEL SAFE",
        fix: "ALTER FUNCTION tenancy.trusted_session() PARALLEL UNSAFE",
    },
    Case {
        id: "TEN072",
        object: "function tenancy.current_principal",
        breaks: "ALTER FUNCTION tenancy.current_principal() SUPPORT textlike_support",
        fix: r"DO $$BEGIN EXECUTE regexp_replace(pg_get_functiondef('tenancy.current_principal()'::regprocedure), '\s+SUPPORT \S+', ''); END$$",
    },
    // The readers every policy calls: whoever owns one may replace it, and one declared
    // IMMUTABLE is folded into a constant when a statement is planned, so that a plan cached
    // on a pooled connection keeps one tenant's id for the next.
    Case {
        id: "TEN072",
        object: "function tenancy.current_tenant",
        breaks: "ALTER FUNCTION tenancy.current_tenant() IMMUTABLE",
        fix: "ALTER FUNCTION tenancy.current_tenant() STABLE",
    },
    Case {
        id: "TEN072",
        object: "function tenancy.current_principal",
        breaks: "ALTER FUNCTION tenancy.current_principal() SECURITY DEFINER",
        fix: "ALTER FUNCTION tenancy.current_principal() SECURITY INVOKER",
    },
    Case {
        id: "TEN072",
        object: "function tenancy.current_tenant",
        breaks: "ALTER FUNCTION tenancy.current_tenant() OWNER TO tenancy_app",
        fix: "ALTER FUNCTION tenancy.current_tenant() OWNER TO CURRENT_USER",
    },
    Case {
        id: "TEN072",
        object: "function tenancy.tenant_refusal",
        breaks: "ALTER FUNCTION tenancy.tenant_refusal(uuid) OWNER TO tenancy_app",
        fix: "ALTER FUNCTION tenancy.tenant_refusal(uuid) OWNER TO CURRENT_USER",
    },
    Case {
        id: "TEN072",
        object: "function tenancy.enter",
        breaks: "ALTER FUNCTION tenancy.enter(uuid, uuid, bigint, text, boolean) OWNER TO tenancy_app",
        fix: "ALTER FUNCTION tenancy.enter(uuid, uuid, bigint, text, boolean) OWNER TO CURRENT_USER",
    },
    Case {
        id: "TEN072",
        object: "function tenancy.verified_context",
        breaks: "CREATE FUNCTION tenancy.verified_context(part integer, plain_setting varchar) RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid'",
        fix: "DROP FUNCTION tenancy.verified_context(integer, varchar)",
    },
    // The status hook of an application with migrations of its own (the foundation's, which
    // these options do not name), replaced on purpose by one that does more than read the
    // tenants' status; one that only reads it passes.
    Case {
        id: "TEN072",
        object: "function tenancy.tenant_refusal",
        breaks: "CREATE OR REPLACE FUNCTION tenancy.tenant_refusal(tenant uuid) RETURNS TABLE (refusal text) LANGUAGE sql STABLE AS $$SELECT NULL::text WHERE set_config('app.seen', (SELECT string_agg(name, ';') FROM public.gadgets), true) IS NOT NULL$$",
        fix: "CREATE OR REPLACE FUNCTION tenancy.tenant_refusal(tenant uuid) RETURNS TABLE (refusal text) LANGUAGE sql STABLE AS $$SELECT CASE WHEN t.status <> 'active' THEN 'suspended' END FROM public.tenants t WHERE t.id = tenant$$",
    },
    // The context key where the application role reads it: a copy of it (a backup), in a
    // schema of its own or in the checked one.
    Case {
        id: "TEN067",
        object: "role tenancy_app",
        breaks: "CREATE SCHEMA backups; GRANT USAGE ON SCHEMA backups TO tenancy_app; CREATE TABLE backups.context_key AS SELECT * FROM tenancy.context_key; GRANT SELECT ON backups.context_key TO tenancy_app",
        fix: "DROP SCHEMA backups CASCADE",
    },
    Case {
        id: "TEN067",
        object: "role tenancy_app",
        breaks: "CREATE TABLE key_backup AS SELECT * FROM tenancy.context_key; GRANT SELECT ON key_backup TO tenancy_app",
        fix: "DROP TABLE key_backup",
    },
    // The key written out as text into tenancy's own settings, which every session reads.
    Case {
        id: "TEN067",
        object: "role tenancy_app",
        breaks: "INSERT INTO tenancy.settings (key, value) SELECT 'context_key', encode(key, 'hex') FROM tenancy.context_key",
        fix: "DELETE FROM tenancy.settings WHERE key = 'context_key'",
    },
    // Added to PostgreSQL's own: an overload in pg_catalog of a built-in tenancy's reader
    // calls, and a cast from text to uuid, which the reader's `::uuid` then runs.
    Case {
        id: "TEN086",
        object: "function currval(text)",
        breaks: "CREATE FUNCTION pg_catalog.currval(seq text) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint'",
        fix: "DROP FUNCTION pg_catalog.currval(text)",
    },
    Case {
        id: "TEN086",
        object: "cast (text AS uuid)",
        breaks: "CREATE FUNCTION text_to_uuid(t text) RETURNS uuid LANGUAGE sql STABLE AS $$SELECT pg_catalog.uuid_in(t::cstring)$$; CREATE CAST (text AS uuid) WITH FUNCTION text_to_uuid(text)",
        fix: "DROP CAST (text AS uuid); DROP FUNCTION text_to_uuid(text)",
    },
    // Code that runs on each tenant row and copies it where every tenant reads it: through a
    // trigger's WHEN condition, an operator (in a CHECK constraint, or in a trigger's body), a
    // domain's CHECK constraint, or a trigger on a partition kept in another schema; and a
    // trigger that announces each row with NOTIFY, which any session of the login may LISTEN
    // to.
    Case {
        id: "TEN075",
        object: "the WHEN condition of trigger gadget_when",
        breaks: "CREATE TABLE gadget_log (name text); GRANT SELECT, INSERT ON gadget_log TO tenancy_app; CREATE FUNCTION gadget_noted(n text) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.gadget_log VALUES (n); RETURN false; END$$; CREATE FUNCTION gadget_nothing() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; CREATE TRIGGER gadget_when AFTER INSERT ON gadgets FOR EACH ROW WHEN (gadget_noted(NEW.name)) EXECUTE FUNCTION gadget_nothing()",
        fix: "DROP TRIGGER gadget_when ON gadgets; DROP FUNCTION gadget_nothing(); DROP FUNCTION gadget_noted(text); DROP TABLE gadget_log",
    },
    Case {
        id: "TEN075",
        object: "constraint gadgets_name_ok on gadgets",
        breaks: "CREATE TABLE gadget_log (name text); GRANT SELECT, INSERT ON gadget_log TO tenancy_app; CREATE FUNCTION gadget_log_op(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.gadget_log VALUES (a); RETURN true; END$$; CREATE OPERATOR >>> (LEFTARG = text, RIGHTARG = text, FUNCTION = gadget_log_op); ALTER TABLE gadgets ADD CONSTRAINT gadgets_name_ok CHECK (name >>> 'x') NOT VALID",
        fix: "ALTER TABLE gadgets DROP CONSTRAINT gadgets_name_ok; DROP OPERATOR >>> (text, text); DROP FUNCTION gadget_log_op(text, text); DROP TABLE gadget_log",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_note on gadgets",
        breaks: "CREATE TABLE gadget_log (name text); GRANT SELECT, INSERT ON gadget_log TO tenancy_app; CREATE FUNCTION gadget_log_op(a text, b text) RETURNS boolean LANGUAGE sql AS $$INSERT INTO public.gadget_log VALUES (a) RETURNING true$$; CREATE OPERATOR >>> (LEFTARG = text, RIGHTARG = text, FUNCTION = gadget_log_op); CREATE FUNCTION gadget_note() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM NEW.name OPERATOR(public.>>>) 'x'; RETURN NEW; END$$; CREATE TRIGGER gadget_note AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_note()",
        fix: "DROP TRIGGER gadget_note ON gadgets; DROP FUNCTION gadget_note(); DROP OPERATOR >>> (text, text); DROP FUNCTION gadget_log_op(text, text); DROP TABLE gadget_log",
    },
    Case {
        id: "TEN075",
        object: "of domain gadget_name",
        breaks: "CREATE TABLE gadget_log (name text); GRANT SELECT, INSERT ON gadget_log TO tenancy_app; CREATE FUNCTION gadget_name_ok(n text) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.gadget_log VALUES (n); RETURN true; END$$; CREATE DOMAIN gadget_name AS text CHECK (gadget_name_ok(VALUE)); ALTER TABLE gadget_parts ADD COLUMN label gadget_name",
        fix: "ALTER TABLE gadget_parts DROP COLUMN label; DROP DOMAIN gadget_name; DROP FUNCTION gadget_name_ok(text); DROP TABLE gadget_log",
    },
    Case {
        id: "TEN075",
        object: "trigger widget_copy on parts.widgets_0",
        breaks: "CREATE TABLE widgets (tenant_id uuid NOT NULL REFERENCES tenants (id), id uuid NOT NULL, name text NOT NULL, PRIMARY KEY (tenant_id, id)) PARTITION BY HASH (tenant_id); CREATE SCHEMA parts; CREATE TABLE parts.widgets_0 PARTITION OF widgets FOR VALUES WITH (MODULUS 1, REMAINDER 0); CREATE TABLE widget_log (name text); GRANT SELECT ON widget_log TO tenancy_app; CREATE FUNCTION parts.widget_copy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.widget_log VALUES (NEW.name); RETURN NEW; END$$; CREATE TRIGGER widget_copy AFTER INSERT ON parts.widgets_0 FOR EACH ROW EXECUTE FUNCTION parts.widget_copy()",
        fix: "DROP SCHEMA parts CASCADE; DROP TABLE widgets; DROP TABLE widget_log",
    },
    Case {
        id: "TEN075",
        object: "trigger gadget_announce on gadgets",
        breaks: "CREATE FUNCTION gadget_announce() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_notify('gadgets', NEW.name); RETURN NEW; END$$; CREATE TRIGGER gadget_announce AFTER INSERT OR UPDATE ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_announce()",
        fix: "DROP TRIGGER gadget_announce ON gadgets; DROP FUNCTION gadget_announce()",
    },
    // Code that runs with its owner's rights and is set off by the application's writes or
    // calls without a grant of EXECUTE: a trigger (or a rule) on a table only a referential
    // action of its deletes writes, an aggregate's transition function, an event trigger;
    // and a trigger function whose text names no tenant table but a helper that reads one.
    Case {
        id: "TEN070",
        object: "function parts_gone()",
        breaks: "ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk, ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id) ON DELETE CASCADE; CREATE FUNCTION parts_gone() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$BEGIN UPDATE public.gadgets SET name = 'gone' WHERE tenant_id = OLD.tenant_id; RETURN OLD; END$$; REVOKE EXECUTE ON FUNCTION parts_gone() FROM PUBLIC; CREATE TRIGGER parts_gone AFTER DELETE ON gadget_parts FOR EACH ROW EXECUTE FUNCTION parts_gone()",
        fix: "DROP TRIGGER parts_gone ON gadget_parts; DROP FUNCTION parts_gone(); ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk, ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id)",
    },
    Case {
        id: "TEN071",
        object: "rule parts_gone on gadget_parts",
        breaks: "ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk, ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id) ON DELETE CASCADE; CREATE RULE parts_gone AS ON DELETE TO gadget_parts DO ALSO UPDATE public.gadgets SET name = 'gone' WHERE tenant_id = OLD.tenant_id",
        fix: "DROP RULE parts_gone ON gadget_parts; ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk, ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id)",
    },
    Case {
        id: "TEN070",
        object: "function gadget_acc(text,integer)",
        breaks: "CREATE FUNCTION gadget_acc(acc text, x int) RETURNS text LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$SELECT string_agg(name, ';') FROM public.gadgets$$; REVOKE EXECUTE ON FUNCTION gadget_acc(text, int) FROM PUBLIC; CREATE AGGREGATE gadget_agg(int) (SFUNC = gadget_acc, STYPE = text)",
        fix: "DROP AGGREGATE gadget_agg(int); DROP FUNCTION gadget_acc(text, int)",
    },
    Case {
        id: "TEN070",
        object: "function gadget_evt()",
        breaks: "CREATE FUNCTION gadget_evt() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$BEGIN PERFORM (SELECT string_agg(name, ';') FROM public.gadgets); END$$; REVOKE EXECUTE ON FUNCTION gadget_evt() FROM PUBLIC; CREATE EVENT TRIGGER gadget_evt ON ddl_command_start WHEN TAG IN ('ALTER DEFAULT PRIVILEGES') EXECUTE FUNCTION gadget_evt()",
        fix: "DROP EVENT TRIGGER gadget_evt; DROP FUNCTION gadget_evt()",
    },
    Case {
        id: "TEN070",
        object: "function gadget_fill()",
        breaks: "CREATE FUNCTION gadget_all_names() RETURNS text LANGUAGE sql STABLE AS $$SELECT string_agg(name, ';') FROM public.gadgets$$; REVOKE EXECUTE ON FUNCTION gadget_all_names() FROM PUBLIC; CREATE FUNCTION gadget_fill() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$BEGIN NEW.name := public.gadget_all_names(); RETURN NEW; END$$; CREATE TRIGGER gadget_fill BEFORE INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION gadget_fill()",
        fix: "DROP TRIGGER gadget_fill ON gadgets; DROP FUNCTION gadget_fill(); DROP FUNCTION gadget_all_names()",
    },
    // One of PostgreSQL's own functions with side effects, in a restrictive policy applied
    // before the tenant isolation policy: pg_depend records nothing for it.
    Case {
        id: "TEN024",
        object: "policy a_seen on gadgets",
        breaks: "CREATE POLICY a_seen ON gadgets AS RESTRICTIVE FOR SELECT USING (set_config('gadget.seen', name, false) IS NOT NULL)",
        fix: "DROP POLICY a_seen ON gadgets",
    },
    // One of PostgreSQL's own input functions marked LEAKPROOF: its error quotes the value.
    Case {
        id: "TEN077",
        object: "function int4in(cstring)",
        breaks: "ALTER FUNCTION pg_catalog.int4in(cstring) LEAKPROOF",
        fix: "ALTER FUNCTION pg_catalog.int4in(cstring) NOT LEAKPROOF",
    },
    // PostgreSQL's own casts and parsers marked LEAKPROOF: `name::regclass` and
    // `to_tsquery(name)` quote the value in their errors, ahead of the policies.
    Case {
        id: "TEN077",
        object: "function regclass(text)",
        breaks: "ALTER FUNCTION pg_catalog.regclass(text) LEAKPROOF",
        fix: "ALTER FUNCTION pg_catalog.regclass(text) NOT LEAKPROOF",
    },
    Case {
        id: "TEN077",
        object: "function to_tsquery(text)",
        breaks: "ALTER FUNCTION pg_catalog.to_tsquery(text) LEAKPROOF COST 0.0001",
        fix: "ALTER FUNCTION pg_catalog.to_tsquery(text) NOT LEAKPROOF COST 100",
    },
    // A materialized view of tenant rows in the checked schema (filled through a function, so
    // nothing ties it to the table): no row level security applies to one.
    Case {
        id: "TEN006",
        object: "materialized view gadget_snapshot",
        breaks: "CREATE FUNCTION gadget_rows() RETURNS TABLE (tenant_id uuid, name text) LANGUAGE sql STABLE AS 'SELECT tenant_id, name FROM public.gadgets'; CREATE MATERIALIZED VIEW gadget_snapshot AS SELECT * FROM gadget_rows(); GRANT SELECT ON gadget_snapshot TO tenancy_app",
        fix: "DROP MATERIALIZED VIEW gadget_snapshot; DROP FUNCTION gadget_rows()",
    },
    // A view (owner's rights) over a copy of tenant rows in a schema the application role
    // cannot read itself.
    Case {
        id: "TEN071",
        object: "view gadget_copy_view",
        breaks: "CREATE SCHEMA stash; CREATE TABLE stash.gadgets_copy AS SELECT * FROM gadgets; CREATE VIEW gadget_copy_view AS SELECT tenant_id, name FROM stash.gadgets_copy; GRANT SELECT ON gadget_copy_view TO tenancy_app",
        fix: "DROP VIEW gadget_copy_view; DROP SCHEMA stash CASCADE",
    },
    // A unique index whose operator class on the tenant column calls every two ids equal.
    Case {
        id: "TEN030",
        object: "gadgets_name_per_tenant",
        breaks: "CREATE FUNCTION uuid_all_same(uuid, uuid) RETURNS integer LANGUAGE sql IMMUTABLE STRICT AS 'SELECT 0'; CREATE OPERATOR CLASS uuid_blind_ops FOR TYPE uuid USING btree AS OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 uuid_all_same(uuid, uuid); CREATE UNIQUE INDEX gadgets_name_per_tenant ON gadgets (tenant_id uuid_blind_ops, name)",
        fix: "DROP INDEX gadgets_name_per_tenant; DROP OPERATOR FAMILY uuid_blind_ops USING btree; DROP FUNCTION uuid_all_same(uuid, uuid)",
    },
    // A table of tenant rows whose tenant column is named otherwise, found by its key to the
    // tenants table.
    Case {
        id: "TEN010",
        object: "table invoices",
        breaks: "CREATE TABLE invoices (org_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE, id uuid NOT NULL, memo text NOT NULL, PRIMARY KEY (org_id, id)); GRANT SELECT ON invoices TO tenancy_app",
        fix: "DROP TABLE invoices",
    },
    // The triggers that keep it append-only and chained, disabled or no longer ALWAYS.
    Case {
        id: "TEN080",
        object: "table audit_log",
        breaks: "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete",
        fix: "ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_update_delete",
    },
    Case {
        id: "TEN080",
        object: "table audit_log",
        breaks: "ALTER TABLE audit_log ENABLE TRIGGER audit_log_chain",
        fix: "ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_chain",
    },
    Case {
        id: "TEN080",
        object: "table audit_log",
        breaks: "GRANT UPDATE ON audit_log TO tenancy_app",
        fix: "REVOKE UPDATE ON audit_log FROM tenancy_app",
    },
    // Last, because their fixes keep what they made: an index or a key that serves a lookup
    // made before the tenant is known is acknowledged by a comment saying it was reviewed
    // (any other comment is not enough).
    Case {
        id: "TEN031",
        object: "gadgets_by_serial on gadgets",
        breaks: "CREATE INDEX gadgets_by_serial ON gadgets (name); COMMENT ON INDEX gadgets_by_serial IS 'serial numbers'",
        fix: "COMMENT ON INDEX gadgets_by_serial IS 'tenancy: reviewed: a device reports its serial before its tenant is known'",
    },
    Case {
        id: "TEN031",
        object: "gadgets_name_tenant on gadgets",
        breaks: "ALTER TABLE gadgets ADD CONSTRAINT gadgets_name_tenant UNIQUE (name, tenant_id)",
        fix: "COMMENT ON CONSTRAINT gadgets_name_tenant ON gadgets IS 'tenancy: reviewed: looked up by name first'",
    },
];

fn present(r: &Report, id: &str, object: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.id == id && f.object.contains(object))
}

#[test]
fn every_lint_fires_on_a_broken_database_and_clears_with_its_fix() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let baseline = report(&mut conn, &reg, &options);
    assert!(!baseline.has_errors(), "{:#?}", baseline.findings);
    for case in CASES {
        assert!(
            !present(&report(&mut conn, &reg, &options), case.id, case.object),
            "{} before breaking",
            case.id
        );
        conn.batch_execute(case.breaks)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id));
        let broken = report(&mut conn, &reg, &options);
        assert!(
            present(&broken, case.id, case.object),
            "{} on {} not reported: {:#?}",
            case.id,
            case.object,
            broken.findings
        );
        let finding = broken.findings.iter().find(|f| f.id == case.id).unwrap();
        assert!(!finding.message.is_empty() && !finding.hint.is_empty());
        if finding.severity == Severity::Error {
            assert!(broken.has_errors());
        }
        conn.batch_execute(case.fix)
            .unwrap_or_else(|e| panic!("{} fix: {e}", case.id));
        let fixed = report(&mut conn, &reg, &options);
        assert!(
            !present(&fixed, case.id, case.object),
            "{} still reported after the fix: {:#?}",
            case.id,
            fixed.findings
        );
    }
    // Nothing left behind by the cases.
    let left = report(&mut conn, &reg, &options);
    assert!(
        !left.has_errors(),
        "{:#?}",
        left.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect::<Vec<_>>()
    );
}

/// PostgreSQL checks the new rows of an UPDATE or ALL policy without WITH CHECK against its
/// USING: a restrictive tenant policy written that way isolates as well as one that repeats
/// the predicate, and is not reported; a weaker USING on it still is.
#[test]
fn a_restrictive_policy_without_with_check_checks_new_rows_with_using() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let options = CheckOptions::default();
    conn.batch_execute(
        "DROP POLICY tenant_isolation ON gadgets;
         CREATE POLICY tenant_isolation ON gadgets AS RESTRICTIVE FOR ALL TO PUBLIC
           USING (tenant_id = (SELECT tenancy.current_tenant()));",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(!present(&r, "TEN013", "table gadgets"), "{:#?}", r.findings);
    conn.batch_execute(
        "ALTER POLICY tenant_isolation ON gadgets USING (tenant_id IS NOT DISTINCT FROM tenancy.current_tenant())",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(present(&r, "TEN013", "table gadgets"), "{:#?}", r.findings);
}

/// A migration of tenancy's the database's record does not list, though it lists others of
/// its set: reverted with its `down.sql` (which puts back the session opening whose nonce
/// starts at zero, so that anyone can forge a context), or its record row deleted. The
/// functions then match the migrations the record lists, so only the record tells.
#[test]
fn a_reverted_migration_of_tenancys_is_reported() {
    let (_db, mut conn) = fresh();
    let reg = registry(&[]);
    let with_foundation = CheckOptions {
        migrations: tenancy_foundation::migrations::FOUNDATION,
        ..CheckOptions::default()
    };
    let nonce = "2026-12-04-190000_session_opens_with_unknown_nonce";
    let foundation = tenancy_foundation::migrations::FOUNDATION[2].name;
    for (name, options) in [
        (nonce, CheckOptions::default()),
        (foundation, with_foundation.clone()),
    ] {
        let version = tenancy_schema::migrations::version_of(name);
        conn.batch_execute(&format!(
            "DELETE FROM __diesel_schema_migrations WHERE version = '{version}'"
        ))
        .unwrap();
        let r = report(&mut conn, &reg, &options);
        assert!(
            r.findings.iter().any(|f| f.id == "TEN072"
                && f.object == format!("migration {name}")
                && f.severity == Severity::Error),
            "{name}: {:#?}",
            r.findings
        );
        conn.batch_execute(&format!(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('{version}')"
        ))
        .unwrap();
        let r = report(&mut conn, &reg, &options);
        assert!(!present(&r, "TEN072", "migration"), "{:#?}", r.findings);
    }
    // A database that ran none of a set (an application on the core alone, checked with the
    // foundation's migrations known) has nothing pending of it.
    conn.batch_execute(&format!(
        "DELETE FROM __diesel_schema_migrations WHERE version IN ({})",
        tenancy_foundation::migrations::FOUNDATION
            .iter()
            .map(|m| format!("'{}'", m.version()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .unwrap();
    let r = report(&mut conn, &reg, &with_foundation);
    assert!(!present(&r, "TEN072", "migration"), "{:#?}", r.findings);
}

/// `gadget_tags` without a tenant column, declared a global table.
static TAGS_AS_GLOBAL: TableManifest = TableManifest {
    table: "gadget_tags",
    kind: TableKind::Global,
    tenant_column: None,
    primary_key: &["gadget_id", "tag"],
    indexes: &[],
    uniques: &[],
    foreign_keys: &[],
    columns: &["gadget_id", "tag"],
    column_types: &["Uuid", "Text"],
};

/// A table that keeps the rows of a tenant table's children without the tenant column: its
/// key points at one tenant's row, so the row is that tenant's, and every tenant reads all of
/// them, whether the code calls the table global or nothing at all. Reported until it is
/// kept from the application role, or reviewed.
#[test]
fn a_child_of_a_tenant_table_without_the_tenant_column_is_reported() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    conn.batch_execute(
        "ALTER TABLE gadgets ADD CONSTRAINT gadgets_id_key UNIQUE (id);
         CREATE TABLE gadget_tags (
           gadget_id uuid NOT NULL REFERENCES gadgets (id) ON DELETE CASCADE,
           tag text NOT NULL,
           PRIMARY KEY (gadget_id, tag));
         GRANT SELECT ON gadget_tags TO tenancy_app;",
    )
    .unwrap();
    let options = CheckOptions::default();
    let tables = [&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST];
    let as_global = registry(&[tables[0], tables[1], tables[2], &TAGS_AS_GLOBAL]);
    let unclassified = registry(&tables);
    for reg in [&as_global, &unclassified] {
        let r = report(&mut conn, reg, &options);
        assert!(
            r.findings.iter().any(|f| f.id == "TEN055"
                && f.object == "table gadget_tags"
                && f.severity == Severity::Error
                && f.message.contains("gadgets")),
            "{:#?}",
            r.findings
        );
        assert!(!present(&r, "TEN054", "gadget_tags"), "{:#?}", r.findings);
    }
    // A login of the application reading it is as much a reader.
    conn.batch_execute(
        "REVOKE SELECT ON gadget_tags FROM tenancy_app;
         CREATE ROLE tags_reader NOLOGIN; GRANT SELECT (tag) ON gadget_tags TO tags_reader;
         GRANT tags_reader TO tenancy_app;",
    )
    .unwrap();
    let r = report(&mut conn, &as_global, &options);
    assert!(
        present(&r, "TEN055", "table gadget_tags"),
        "{:#?}",
        r.findings
    );
    conn.batch_execute("REVOKE tags_reader FROM tenancy_app;")
        .unwrap();
    let r = report(&mut conn, &as_global, &options);
    assert!(!present(&r, "TEN055", "gadget_tags"), "{:#?}", r.findings);
    // Reviewed: kept readable on purpose.
    conn.batch_execute(
        "GRANT SELECT ON gadget_tags TO tenancy_app;
         COMMENT ON TABLE gadget_tags IS 'tenancy: reviewed: tags are public';",
    )
    .unwrap();
    let r = report(&mut conn, &as_global, &options);
    assert!(!present(&r, "TEN055", "gadget_tags"), "{:#?}", r.findings);
}

/// The tenant equality written the other way round (`tenancy.current_tenant() = tenant_id`)
/// isolates the same: the check finds nothing wrong with it, in either form of the reader,
/// and still reports such a policy widened.
#[test]
fn policies_that_compare_the_context_with_the_column_are_tenant_policies() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let errors_on_gadgets = |r: &Report| -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.severity == Severity::Error && f.object.contains("on gadgets"))
            .chain(
                r.findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error && f.object.ends_with("gadgets")),
            )
            .map(ToString::to_string)
            .collect()
    };
    let before = report(&mut conn, &reg, &options);
    assert!(
        errors_on_gadgets(&before).is_empty(),
        "{:#?}",
        before.findings
    );
    for reader in [
        "tenancy.current_tenant()",
        "(SELECT tenancy.current_tenant())",
    ] {
        conn.batch_execute(&format!(
            "ALTER POLICY tenant_access ON gadgets USING ({reader} = tenant_id) WITH CHECK ({reader} = tenant_id);
             ALTER POLICY tenant_isolation ON gadgets USING ({reader} = tenant_id) WITH CHECK ({reader} = tenant_id);"
        ))
        .unwrap();
        let r = report(&mut conn, &reg, &options);
        assert!(
            errors_on_gadgets(&r).is_empty(),
            "{reader}: {:#?}",
            r.findings
        );
    }
    // Widened, either way round, it is reported.
    conn.batch_execute(
        "ALTER POLICY tenant_isolation ON gadgets
           USING (tenancy.current_tenant() = tenant_id OR name <> '')
           WITH CHECK (tenancy.current_tenant() = tenant_id OR name <> '');",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(present(&r, "TEN013", "table gadgets"), "{:#?}", r.findings);
    // A permissive policy that compares the context with another column holds no row of
    // this table to its tenant.
    conn.batch_execute(
        "ALTER POLICY tenant_isolation ON gadgets
           USING (tenancy.current_tenant() = tenant_id) WITH CHECK (tenancy.current_tenant() = tenant_id);
         ALTER TABLE gadgets ADD COLUMN owner_tenant uuid;
         CREATE POLICY shared ON gadgets FOR SELECT TO tenancy_app
           USING (tenancy.current_tenant() = owner_tenant OR true);",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(
        present(&r, "TEN095", "policy shared on gadgets"),
        "{:#?}",
        r.findings
    );
}

/// A cascade that stays within the writer's tenant (the key pairs the tenant columns), one
/// that cannot be set off (RESTRICT), or one from the tenants table is not TEN044; the same
/// key made to cascade from a global row the application role may delete is.
#[test]
fn only_a_referential_action_a_tenant_can_set_off_across_tenants_is_reported() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    conn.batch_execute(
        "ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk,
           ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id)
             REFERENCES gadgets (tenant_id, id) ON DELETE CASCADE ON UPDATE CASCADE;
         ALTER TABLE gadgets ADD COLUMN plan_id uuid
           CONSTRAINT gadgets_plan_fk REFERENCES plans ON DELETE RESTRICT ON UPDATE NO ACTION;
         GRANT DELETE, UPDATE ON plans TO tenancy_app;",
    )
    .unwrap();
    // A key that refuses tells the tenant whose delete or update it refuses that other
    // tenants' rows point at the plan.
    let r = report(&mut conn, &reg, &options);
    let refusals: Vec<_> = r.findings.iter().filter(|f| f.id == "TEN044").collect();
    assert_eq!(refusals.len(), 2, "{:#?}", r.findings);
    assert!(
        refusals
            .iter()
            .all(|f| f.object == "foreign key gadgets_plan_fk on gadgets"
                && f.message.contains("learns whether other tenants use it")),
        "{refusals:#?}"
    );
    conn.batch_execute("REVOKE DELETE, UPDATE ON plans FROM tenancy_app")
        .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(
        !r.findings.iter().any(|f| f.id == "TEN044"),
        "{:#?}",
        r.findings
    );
    conn.batch_execute(
        "GRANT DELETE ON plans TO tenancy_app;
         ALTER TABLE gadgets DROP CONSTRAINT gadgets_plan_fk,
           ADD CONSTRAINT gadgets_plan_fk FOREIGN KEY (plan_id) REFERENCES plans ON DELETE SET NULL",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    let cascades: Vec<_> = r.findings.iter().filter(|f| f.id == "TEN044").collect();
    assert_eq!(cascades.len(), 1, "{:#?}", r.findings);
    // A key between tenant tables that sets only its other columns (PostgreSQL 15's column
    // list) leaves every row with its tenant.
    conn.batch_execute(
        "ALTER TABLE gadget_parts ALTER COLUMN gadget_id DROP NOT NULL,
           DROP CONSTRAINT gadget_parts_gadget_fk,
           ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id)
             REFERENCES gadgets (tenant_id, id) ON DELETE SET NULL (gadget_id)",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(
        !r.findings
            .iter()
            .any(|f| f.id == "TEN045" && f.object.contains("gadget_parts_gadget_fk")),
        "{:#?}",
        r.findings
    );
    assert_eq!(cascades[0].object, "foreign key gadgets_plan_fk on gadgets");
    assert!(
        cascades[0].message.contains("ON DELETE SET NULL"),
        "{}",
        cascades[0].message
    );
}

/// Without diesel's record of the migrations, what tenancy's functions should be is unknown,
/// but who may replace them is not: one handed to the application role is reported anyway.
#[test]
fn a_function_of_tenancy_the_application_role_owns_is_reported_without_the_migration_record() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    conn.batch_execute("DROP TABLE __diesel_schema_migrations")
        .unwrap();
    assert!(!present(
        &report(&mut conn, &reg, &options),
        "TEN072",
        "function tenancy.verified_context"
    ));
    conn.batch_execute(
        "ALTER FUNCTION tenancy.verified_context(integer, text) OWNER TO tenancy_app",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(
        present(&r, "TEN072", "function tenancy.verified_context"),
        "{:#?}",
        r.findings
    );
    // Without the record, every version the migrations ever wrote is accepted, and one none
    // of them wrote is reported.
    assert!(!present(&r, "TEN072", "function tenancy.trusted_session"));
    conn.batch_execute(
        "CREATE OR REPLACE FUNCTION tenancy.trusted_session() RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp RETURN true",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(
        present(&r, "TEN072", "function tenancy.trusted_session"),
        "{:#?}",
        r.findings
    );
}

/// TEN042 is about the keys that tie rows to their tenant: one from a tenant table to a global
/// table, left NOT VALID, says nothing about tenants.
/// A trigger function put in schema `tenancy` by hand is not one of tenancy's: where check
/// knows every migration the database ran, one that no migration creates is read like code of
/// any other schema.
#[test]
fn a_trigger_function_in_schema_tenancy_no_migration_creates_is_checked() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions {
        migrations: tenancy_foundation::migrations::FOUNDATION,
        ..CheckOptions::default()
    };
    let object = "trigger gadget_copy on gadgets";
    assert!(!present(
        &report(&mut conn, &reg, &options),
        "TEN075",
        object
    ));
    conn.batch_execute(
        "CREATE TABLE gadget_log (name text); GRANT SELECT, INSERT ON gadget_log TO tenancy_app; \
         CREATE FUNCTION tenancy.gadget_copy() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.gadget_log VALUES (NEW.name); RETURN NEW; END$$; \
         CREATE TRIGGER gadget_copy AFTER INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION tenancy.gadget_copy();",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(present(&r, "TEN075", object), "{:#?}", r.findings);
    conn.batch_execute("DROP TRIGGER gadget_copy ON gadgets")
        .unwrap();
    assert!(!present(
        &report(&mut conn, &reg, &options),
        "TEN075",
        object
    ));
}

#[test]
fn an_unvalidated_key_to_a_global_table_is_not_a_tenant_key() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    conn.batch_execute(
        "ALTER TABLE gadgets ADD COLUMN plan_id uuid;
         ALTER TABLE gadgets ADD CONSTRAINT gadgets_plan_fk FOREIGN KEY (plan_id) REFERENCES plans (id) NOT VALID;",
    )
    .unwrap();
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let r = report(&mut conn, &reg, &options);
    assert!(
        !present(&r, "TEN042", "gadgets_plan_fk"),
        "{:#?}",
        r.findings
    );
    conn.batch_execute("ALTER TABLE gadgets DISABLE TRIGGER ALL")
        .unwrap();
    let r = report(&mut conn, &reg, &options);
    // Disabled on the referenced side: the key from gadget_parts checks nothing either.
    assert!(
        present(&r, "TEN042", "gadgets_tenant_fk")
            && present(&r, "TEN042", "gadget_parts_gadget_fk"),
        "{:#?}",
        r.findings
    );
    assert!(
        !present(&r, "TEN042", "gadgets_plan_fk"),
        "{:#?}",
        r.findings
    );
}

/// On the native context the policies call the extension's C readers, so those must be the
/// extension's own C functions, out of the application role's reach: a reader replaced by
/// SQL, handed to the application role or taken out of the extension is TEN068.
#[test]
fn the_native_readers_are_the_extensions_own() {
    if !tenancy_testing::native_context_available().expect("look for the extension") {
        return;
    }
    let (_db, mut conn) = fresh();
    conn.batch_execute("CREATE EXTENSION tenancy_context; SELECT tenancy.enable_native_context()")
        .unwrap();
    let reg = tenancy_schema::registry();
    let options = CheckOptions::default();
    assert!(!report(&mut conn, &reg, &options).has_errors());
    let owner: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "pg_get_userbyid(proowner)::text FROM pg_proc WHERE oid = 'tenancy_context.current_tenant()'::regprocedure",
    ))
    .get_result(&mut conn)
    .unwrap();
    for (breaks, fix) in [
        (
            "ALTER FUNCTION tenancy_context.current_tenant() OWNER TO tenancy_app".to_owned(),
            format!("ALTER FUNCTION tenancy_context.current_tenant() OWNER TO \"{owner}\""),
        ),
        (
            "ALTER FUNCTION tenancy_context.current_tenant() IMMUTABLE".to_owned(),
            "ALTER FUNCTION tenancy_context.current_tenant() STABLE".to_owned(),
        ),
        (
            "ALTER EXTENSION tenancy_context DROP FUNCTION tenancy_context.current_principal()"
                .to_owned(),
            "ALTER EXTENSION tenancy_context ADD FUNCTION tenancy_context.current_principal()"
                .to_owned(),
        ),
    ] {
        conn.batch_execute(&breaks).unwrap();
        let broken = report(&mut conn, &reg, &options);
        assert!(
            present(&broken, "TEN068", "schema tenancy_context"),
            "{breaks}: {:#?}",
            broken.findings
        );
        conn.batch_execute(&fix).unwrap();
        let fixed = report(&mut conn, &reg, &options);
        assert!(!fixed.has_errors(), "{fix}: {:#?}", fixed.findings);
    }
    // A reader replaced by SQL that returns a constant tenant.
    conn.batch_execute(
        "CREATE OR REPLACE FUNCTION tenancy_context.current_tenant() RETURNS uuid LANGUAGE sql STABLE \
         AS $$SELECT '00000000-0000-0000-0000-000000000001'::uuid$$",
    )
    .unwrap();
    let replaced = report(&mut conn, &reg, &options);
    let finding = replaced
        .findings
        .iter()
        .find(|f| f.id == "TEN068")
        .unwrap_or_else(|| panic!("{:#?}", replaced.findings));
    assert!(
        finding.message.contains("tenancy_context.current_tenant()"),
        "{finding}"
    );
}

/// On the native context the policies call the extension's C readers; policies written after
/// the switch by hand are reported (TEN074, a warning) until
/// `tenancy.enable_native_context()` runs again, and a switched database has no errors: the
/// policy rules read the C readers as the SQL ones.
#[test]
fn policies_written_after_the_native_switch_are_reported_until_it_runs_again() {
    if !tenancy_testing::native_context_available().expect("look for the extension") {
        return;
    }
    let (_db, mut conn) = fresh();
    conn.batch_execute("CREATE EXTENSION tenancy_context; SELECT tenancy.enable_native_context()")
        .unwrap();
    let options = CheckOptions::default();
    let switched = report(&mut conn, &tenancy_schema::registry(), &options);
    assert!(!switched.has_errors(), "{:#?}", switched.findings);
    assert!(
        !switched.findings.iter().any(|f| f.id == "TEN074"),
        "{:#?}",
        switched.findings
    );
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let added = report(&mut conn, &reg, &options);
    assert!(!added.has_errors(), "{:#?}", added.findings);
    for policy in ["tenant_access", "tenant_isolation"] {
        for table in ["gadgets", "gadget_parts"] {
            let object = format!("policy {policy} on {table}");
            assert!(
                present(&added, "TEN074", &object),
                "{object}: {:#?}",
                added.findings
            );
        }
    }
    conn.batch_execute("SELECT tenancy.enable_native_context()")
        .unwrap();
    let again = report(&mut conn, &reg, &options);
    assert!(
        !again.findings.iter().any(|f| f.id == "TEN074") && !again.has_errors(),
        "{:#?}",
        again.findings
    );
}

/// TEN069: the check that ends each transaction of the SQL tenant context dropped, replaced by
/// one that checks nothing, or out of the application role's reach.
#[test]
fn the_session_check_lint() {
    let (_db, mut conn) = fresh();
    let reg = registry(&[]);
    let options = CheckOptions::default();
    let object = "function tenancy.check_session()";
    let up = tenancy_schema::migrations::CORE
        .iter()
        .find(|m| m.name.ends_with("_session_check"))
        .expect("the session check migration")
        .up;
    let steps = [
        (
            "DROP FUNCTION tenancy.check_session()".to_owned(),
            up.to_owned(),
        ),
        (
            "CREATE OR REPLACE FUNCTION tenancy.check_session() RETURNS void LANGUAGE plpgsql \
             AS $$ BEGIN END $$"
                .to_owned(),
            up.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        ),
        (
            "REVOKE EXECUTE ON FUNCTION tenancy.check_session() FROM tenancy_app".to_owned(),
            "GRANT EXECUTE ON FUNCTION tenancy.check_session() TO tenancy_app".to_owned(),
        ),
    ];
    assert!(!present(
        &report(&mut conn, &reg, &options),
        "TEN069",
        object
    ));
    for (breaks, fix) in &steps {
        conn.batch_execute(breaks).unwrap();
        let r = report(&mut conn, &reg, &options);
        assert!(present(&r, "TEN069", object), "{breaks}: {:#?}", r.findings);
        assert!(r.has_errors(), "{breaks}");
        conn.batch_execute(fix).unwrap();
        let r = report(&mut conn, &reg, &options);
        assert!(
            !present(&r, "TEN069", object),
            "{breaks} fixed: {:#?}",
            r.findings
        );
    }
}

#[test]
fn column_and_classification_lints() {
    let (_db, mut conn) = fresh();
    let options = CheckOptions::default();
    // TEN001: classified, missing.
    let reg = registry(&[&GHOST_MANIFEST]);
    assert!(present(
        &report(&mut conn, &reg, &options),
        "TEN001",
        "table ghosts"
    ));
    conn.batch_execute("CREATE TABLE ghosts (id uuid PRIMARY KEY)")
        .unwrap();
    assert!(!present(
        &report(&mut conn, &reg, &options),
        "TEN001",
        "table ghosts"
    ));

    // TEN002: classified tenant-scoped without the column.
    let reg = registry(&[&GADGETS_MANIFEST]);
    conn.batch_execute("CREATE TABLE gadgets (id uuid PRIMARY KEY, name text)")
        .unwrap();
    assert!(present(
        &report(&mut conn, &reg, &options),
        "TEN002",
        "table gadgets"
    ));
    conn.batch_execute("DROP TABLE gadgets").unwrap();
    create_gadgets(&mut conn);
    assert!(!present(
        &report(&mut conn, &reg, &options),
        "TEN002",
        "table gadgets"
    ));

    // TEN051: one SQL table classified both ways.
    let both = registry(&[&GADGETS_MANIFEST, &GADGETS_AS_GLOBAL]);
    let r = report(&mut conn, &both, &options);
    assert!(present(&r, "TEN051", "table gadgets"), "{:#?}", r.findings);
    assert!(!present(
        &report(&mut conn, &reg, &options),
        "TEN051",
        "table gadgets"
    ));
    assert_eq!(
        tenancy_schema::classification_conflicts(&both).len(),
        1,
        "the runtime refuses the same registry"
    );

    // TEN004: tenant column of the wrong type (and CIT001 / TEN030 for a key without it).
    conn.batch_execute(
        "CREATE TABLE texty (tenant_id text NOT NULL, id int PRIMARY KEY);
         ALTER TABLE texty ENABLE ROW LEVEL SECURITY; ALTER TABLE texty FORCE ROW LEVEL SECURITY;",
    )
    .unwrap();
    let citus = CheckOptions {
        citus: true,
        ..CheckOptions::default()
    };
    let r = report(&mut conn, &reg, &citus);
    assert!(present(&r, "TEN004", "table texty"), "{:#?}", r.findings);
    assert!(present(&r, "TEN030", "texty_pkey on texty"));
    assert!(present(&r, "CIT001", "texty_pkey on texty"));
    conn.batch_execute("ALTER TABLE texty ALTER tenant_id TYPE uuid USING tenant_id::uuid")
        .unwrap();
    assert!(!present(
        &report(&mut conn, &reg, &citus),
        "TEN004",
        "table texty"
    ));
}

#[test]
fn role_lints() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let role = format!(
        "check_app_{}",
        &db.database_name()[db.database_name().len() - 8..]
    );
    let owner = format!("{role}_owner");
    let login = format!("{role}_login");
    let options = CheckOptions {
        app_role: role.clone(),
        ..CheckOptions::default()
    };
    assert!(present(
        &report(&mut conn, &reg, &options),
        "TEN060",
        &format!("role {role}")
    ));
    conn.batch_execute(&format!(
        "CREATE ROLE {role} NOLOGIN; CREATE ROLE {owner} NOLOGIN; CREATE ROLE {login} LOGIN; GRANT {role} TO {login}"
    ))
    .unwrap();
    let steps: [(&str, &str, String, String); 12] = [
        (
            "TEN061",
            "role",
            format!("ALTER ROLE {role} SUPERUSER"),
            format!("ALTER ROLE {role} NOSUPERUSER"),
        ),
        (
            "TEN062",
            "role",
            format!("ALTER ROLE {role} BYPASSRLS"),
            format!("ALTER ROLE {role} NOBYPASSRLS"),
        ),
        (
            "TEN063",
            "table gadgets",
            format!("ALTER TABLE gadgets OWNER TO {role}"),
            "ALTER TABLE gadgets OWNER TO CURRENT_USER".to_owned(),
        ),
        // The same file_fdw table, one column of it granted to a login of the application role.
        (
            "TEN079",
            "foreign table gadget_raw",
            format!(
                "CREATE EXTENSION IF NOT EXISTS file_fdw; CREATE SERVER gadget_files FOREIGN DATA WRAPPER file_fdw; CREATE FOREIGN TABLE gadget_raw (line text) SERVER gadget_files OPTIONS (program 'cat /dev/null'); GRANT SELECT (line) ON gadget_raw TO {login}"
            ),
            "DROP EXTENSION file_fdw CASCADE".to_owned(),
        ),
        // A login of the application role that may change the server's configuration.
        (
            "TEN065",
            "role",
            format!("GRANT ALTER SYSTEM ON PARAMETER archive_command TO {login}"),
            format!("REVOKE ALTER SYSTEM ON PARAMETER archive_command FROM {login}"),
        ),
        // A login of the application role that may read subscriptions' connection strings.
        (
            "TEN081",
            "table pg_subscription",
            format!("GRANT SELECT (subconninfo) ON pg_catalog.pg_subscription TO {login}"),
            format!("REVOKE SELECT (subconninfo) ON pg_catalog.pg_subscription FROM {login}"),
        ),
        // A login that may change the key of a global row that tenant rows point at with
        // ON UPDATE SET NULL: the update empties every tenant's references.
        (
            "TEN044",
            "foreign key gadget_parts_plan_fk on gadget_parts",
            format!(
                "ALTER TABLE gadget_parts ADD COLUMN plan_id uuid CONSTRAINT gadget_parts_plan_fk REFERENCES plans ON UPDATE SET NULL; GRANT UPDATE (id) ON plans TO {login}"
            ),
            format!("REVOKE UPDATE (id) ON plans FROM {login}"),
        ),
        (
            "TEN064",
            "table gadgets",
            format!("ALTER TABLE gadgets OWNER TO {owner}; GRANT {owner} TO {role}"),
            format!("REVOKE {owner} FROM {role}; ALTER TABLE gadgets OWNER TO CURRENT_USER"),
        ),
        // A login of the application role that can `SET ROLE` into the BYPASSRLS admin role,
        // directly or through a chain of memberships.
        (
            "TEN065",
            "role",
            format!("GRANT tenancy_admin TO {login}"),
            format!("REVOKE tenancy_admin FROM {login}"),
        ),
        (
            "TEN065",
            "role",
            format!("GRANT {owner} TO {login}; ALTER TABLE gadgets OWNER TO {owner}"),
            format!("ALTER TABLE gadgets OWNER TO CURRENT_USER; REVOKE {owner} FROM {login}"),
        ),
        (
            "TEN066",
            "role",
            format!(
                "DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO {role}', current_database()); END $$"
            ),
            format!(
                "DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM {role}', current_database()); END $$"
            ),
        ),
        (
            "TEN067",
            "role",
            format!("GRANT SELECT ON tenancy.context_key TO {role}"),
            format!("REVOKE SELECT ON tenancy.context_key FROM {role}"),
        ),
    ];
    let mut steps = steps.to_vec();
    // The application role itself granted the admin role: every login of it, present or
    // future, can become it. And CREATEROLE, on the role or on a login of it, which in
    // PostgreSQL 15 can grant itself any role that is not a superuser.
    steps.extend([
        (
            "TEN065",
            "role",
            format!("GRANT tenancy_admin TO {role}"),
            format!("REVOKE tenancy_admin FROM {role}"),
        ),
        (
            "TEN065",
            "role",
            format!("ALTER ROLE {role} CREATEROLE"),
            format!("ALTER ROLE {role} NOCREATEROLE"),
        ),
        (
            "TEN065",
            "role",
            format!("ALTER ROLE {login} CREATEROLE"),
            format!("ALTER ROLE {login} NOCREATEROLE"),
        ),
        // ADMIN OPTION, held by a login of the role or by the role itself: a tenant's SQL
        // grants what it holds to other roles, or takes it from them, for the whole cluster.
        (
            "TEN065",
            "role",
            format!("GRANT {role} TO {login} WITH ADMIN OPTION"),
            format!("REVOKE ADMIN OPTION FOR {role} FROM {login}"),
        ),
        (
            "TEN065",
            "role",
            format!("CREATE ROLE check_admin_option NOLOGIN; GRANT check_admin_option TO {role} WITH ADMIN OPTION"),
            format!("REVOKE check_admin_option FROM {role}; DROP ROLE check_admin_option"),
        ),
        // A login owning the schema of the tenant tables may drop them and put its own there.
        (
            "TEN065",
            "role",
            format!("ALTER SCHEMA public OWNER TO {login}"),
            "ALTER SCHEMA public OWNER TO pg_database_owner".to_owned(),
        ),
        // REPLICATION, on the role or on a login of it: logical decoding reads every change to
        // every table, and no privilege or policy applies.
        (
            "TEN065",
            "role",
            format!("ALTER ROLE {role} REPLICATION"),
            format!("ALTER ROLE {role} NOREPLICATION"),
        ),
        (
            "TEN065",
            "role",
            format!("ALTER ROLE {login} REPLICATION"),
            format!("ALTER ROLE {login} NOREPLICATION"),
        ),
        // A login that can become the owner of the reader every policy calls, who may replace
        // it with one that answers another tenant.
        (
            "TEN065",
            "role",
            format!(
                "ALTER FUNCTION tenancy.current_tenant() OWNER TO {owner}; GRANT {owner} TO {login}"
            ),
            format!(
                "REVOKE {owner} FROM {login}; ALTER FUNCTION tenancy.current_tenant() OWNER TO CURRENT_USER"
            ),
        ),
        // A predefined role that reads the server's files (the tables' data files among them).
        (
            "TEN065",
            "role",
            format!("GRANT pg_read_server_files TO {role}"),
            format!("REVOKE pg_read_server_files FROM {role}"),
        ),
        // A function that reads the server's files, granted to the application role, to a
        // login of it, or to PUBLIC: a table's data file holds every tenant's rows.
        (
            "TEN065",
            "role",
            format!("GRANT EXECUTE ON FUNCTION pg_read_binary_file(text) TO {role}"),
            format!("REVOKE EXECUTE ON FUNCTION pg_read_binary_file(text) FROM {role}"),
        ),
        (
            "TEN065",
            "role",
            format!("GRANT EXECUTE ON FUNCTION lo_import(text) TO {login}"),
            format!("REVOKE EXECUTE ON FUNCTION lo_import(text) FROM {login}"),
        ),
        (
            "TEN065",
            "role",
            "GRANT EXECUTE ON FUNCTION pg_read_file(text, bigint, bigint) TO PUBLIC".to_owned(),
            "REVOKE EXECUTE ON FUNCTION pg_read_file(text, bigint, bigint) FROM PUBLIC".to_owned(),
        ),
        // A login granted, beside the application role, a write on the context key (which
        // puts in a key the writer knows), or TRUNCATE on a table under row level security.
        (
            "TEN065",
            "role",
            format!("GRANT UPDATE ON tenancy.context_key TO {login}"),
            format!("REVOKE UPDATE ON tenancy.context_key FROM {login}"),
        ),
        (
            "TEN065",
            "role",
            format!("GRANT TRUNCATE ON gadgets TO {login}"),
            format!("REVOKE TRUNCATE ON gadgets FROM {login}"),
        ),
        (
            "TEN065",
            "role",
            format!("GRANT SELECT (key) ON tenancy.context_key TO {login}"),
            format!("REVOKE SELECT (key) ON tenancy.context_key FROM {login}"),
        ),
        // A login granted TEMPORARY of its own: its temporary tables shadow tenant tables for
        // every later transaction on a pooled connection.
        (
            "TEN065",
            "role",
            format!(
                "DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO {login}', current_database()); END $$"
            ),
            format!(
                "DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM {login}', current_database()); END $$"
            ),
        ),
        // The application role itself allowed to replace the key, or to read its column.
        (
            "TEN067",
            "role",
            format!("GRANT UPDATE ON tenancy.context_key TO {role}"),
            format!("REVOKE UPDATE ON tenancy.context_key FROM {role}"),
        ),
        (
            "TEN067",
            "role",
            format!("GRANT SELECT (key) ON tenancy.context_key TO {role}"),
            format!("REVOKE SELECT (key) ON tenancy.context_key FROM {role}"),
        ),
        // The setting through which a leader hands the context to its parallel workers, made
        // settable by the application role.
        (
            "TEN067",
            "role",
            format!("GRANT SET ON PARAMETER tenancy_context.worker_context TO {role}"),
            format!("REVOKE SET ON PARAMETER tenancy_context.worker_context FROM {role}"),
        ),
        // A login of the application role that starts in the replication role where foreign
        // keys are not checked, or the application role allowed to switch to it.
        (
            "TEN043",
            "session_replication_role",
            format!("ALTER ROLE {login} SET session_replication_role = replica"),
            format!("ALTER ROLE {login} RESET session_replication_role"),
        ),
        // A login of the application role whose tenancy connections may run EXPLAIN, whose
        // estimates come from every tenant's rows; or the role allowed to turn it on.
        (
            "TEN082",
            "tenancy_context.allow_explain",
            format!("ALTER ROLE {login} SET tenancy_context.allow_explain = on"),
            format!("ALTER ROLE {login} RESET tenancy_context.allow_explain"),
        ),
        (
            "TEN067",
            "role",
            format!("GRANT SET ON PARAMETER tenancy_context.allow_explain TO {role}"),
            format!("REVOKE SET ON PARAMETER tenancy_context.allow_explain FROM {role}"),
        ),
        (
            "TEN043",
            "session_replication_role",
            format!("GRANT SET ON PARAMETER session_replication_role TO {role}"),
            format!("REVOKE SET ON PARAMETER session_replication_role FROM {role}"),
        ),
        // A schema the application role may create in: a function or table left there by one
        // tenant's SQL serves the next tenant's queries.
        (
            "TEN073",
            "schema public",
            format!("GRANT CREATE ON SCHEMA public TO {role}"),
            format!("REVOKE CREATE ON SCHEMA public FROM {role}"),
        ),
        // The same granted to a login of the application role rather than to the role.
        (
            "TEN073",
            "schema public",
            format!("GRANT CREATE ON SCHEMA public TO {login}"),
            format!("REVOKE CREATE ON SCHEMA public FROM {login}"),
        ),
        (
            "TEN073",
            "database",
            format!(
                "DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO {login}', current_database()); END $$"
            ),
            format!(
                "DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM {login}', current_database()); END $$"
            ),
        ),
        // CREATE on the database: a schema named like the login comes first on the default
        // search path, and its tables shadow the real ones.
        (
            "TEN073",
            "database",
            format!(
                "DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO {role}', current_database()); END $$"
            ),
            format!(
                "DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM {role}', current_database()); END $$"
            ),
        ),
    ]);
    // Rights granted to a login of the application role rather than to the role: what its
    // sessions, the application's, may do all the same.
    steps.extend([
        (
            "TEN071",
            "view gadget_login_view",
            format!("CREATE VIEW gadget_login_view AS SELECT * FROM gadgets; GRANT SELECT ON gadget_login_view TO {login}"),
            "DROP VIEW gadget_login_view".to_owned(),
        ),
        (
            "TEN070",
            "function gadget_login_leak()",
            format!("CREATE FUNCTION gadget_login_leak() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER AS 'SELECT name FROM gadgets'; REVOKE EXECUTE ON FUNCTION gadget_login_leak() FROM PUBLIC; GRANT EXECUTE ON FUNCTION gadget_login_leak() TO {login}"),
            "DROP FUNCTION gadget_login_leak()".to_owned(),
        ),
        (
            "TEN067",
            "role",
            format!("GRANT USAGE ON SEQUENCE tenancy.nonce_hi TO {login}"),
            format!("REVOKE USAGE ON SEQUENCE tenancy.nonce_hi FROM {login}"),
        ),
        // A schema named like the login, which the default search_path ("$user", public)
        // looks in first, or one a search_path default of the login puts first.
        (
            "TEN084",
            "relation",
            format!("CREATE SCHEMA {login}; CREATE TABLE {login}.gadgets (LIKE public.gadgets); GRANT USAGE ON SCHEMA {login} TO {login}"),
            format!("DROP SCHEMA {login} CASCADE"),
        ),
        (
            "TEN084",
            "relation shadow_gadgets.gadgets",
            format!("CREATE SCHEMA shadow_gadgets; CREATE TABLE shadow_gadgets.gadgets (LIKE public.gadgets); GRANT USAGE ON SCHEMA shadow_gadgets TO {role}; ALTER ROLE {login} SET search_path = shadow_gadgets, public"),
            format!("ALTER ROLE {login} RESET search_path; DROP SCHEMA shadow_gadgets CASCADE"),
        ),
        (
            "TEN006",
            "archive_gadgets",
            format!("CREATE SCHEMA archive_gadgets; CREATE TABLE archive_gadgets.copy AS SELECT * FROM gadgets; GRANT USAGE ON SCHEMA archive_gadgets TO {login}; GRANT SELECT ON archive_gadgets.copy TO {login}"),
            "DROP SCHEMA archive_gadgets CASCADE".to_owned(),
        ),
    ]);
    // Rights granted to a role a login reaches only by SET ROLE (through a NOINHERIT role, so
    // has_table_privilege of the login says no), or inherits: its sessions may use them all
    // the same.
    let mid = format!("{role}_mid");
    let far = format!("{role}_far");
    let drop_far = format!("DROP OWNED BY {far}, {mid}; DROP ROLE {far}; DROP ROLE {mid}");
    let far_table = format!("table gadgets as role {far}");
    let login_table = format!("table gadgets as role {login}");
    let far_of_login = format!(
        "CREATE ROLE {mid} NOLOGIN NOINHERIT; CREATE ROLE {far} NOLOGIN; GRANT {mid} TO {login}; GRANT {far} TO {mid};"
    );
    steps.extend([
        (
            "TEN071",
            "view gadget_far_view",
            format!("{far_of_login} CREATE VIEW gadget_far_view AS SELECT * FROM gadgets; GRANT SELECT ON gadget_far_view TO {far}"),
            format!("DROP VIEW gadget_far_view; {drop_far}"),
        ),
        (
            "TEN070",
            "function gadget_far_leak()",
            format!("{far_of_login} CREATE FUNCTION gadget_far_leak() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER AS 'SELECT name FROM gadgets'; REVOKE EXECUTE ON FUNCTION gadget_far_leak() FROM PUBLIC; GRANT EXECUTE ON FUNCTION gadget_far_leak() TO {far}"),
            format!("DROP FUNCTION gadget_far_leak(); {drop_far}"),
        ),
        (
            "TEN067",
            "role",
            format!("{far_of_login} GRANT USAGE ON SCHEMA tenancy TO {far}; GRANT SELECT ON SEQUENCE tenancy.nonce_hi, tenancy.nonce_lo TO {far}"),
            drop_far.clone(),
        ),
        // The private table of users, and the tenants table to write, granted to a role the
        // login reaches only by SET ROLE.
        (
            "TEN056",
            "table users",
            format!("{far_of_login} GRANT SELECT ON users TO {far}"),
            drop_far.clone(),
        ),
        (
            "TEN053",
            "table tenants",
            format!("{far_of_login} GRANT UPDATE (status) ON tenants TO {far}"),
            drop_far.clone(),
        ),
        (
            "TEN073",
            "schema public",
            format!("{far_of_login} GRANT CREATE ON SCHEMA public TO {far}"),
            drop_far.clone(),
        ),
        // The mapping used is the one for the role the session runs as, after SET ROLE too.
        (
            "TEN076",
            "server far_loop",
            format!("{far_of_login} CREATE EXTENSION IF NOT EXISTS postgres_fdw; CREATE SERVER far_loop FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'postgres'); GRANT USAGE ON FOREIGN SERVER far_loop TO {far}; CREATE USER MAPPING FOR {far} SERVER far_loop OPTIONS (user 'postgres')"),
            format!("DROP SERVER far_loop CASCADE; {drop_far}"),
        ),
        // The isolation policy narrowed to the application role, and a role the login may
        // become with a grant and a permissive policy of its own.
        (
            "TEN085",
            far_table.as_str(),
            format!("{far_of_login} GRANT SELECT ON gadgets TO {far}; ALTER POLICY tenant_isolation ON gadgets TO {role}; CREATE POLICY far_reads ON gadgets FOR SELECT TO {far} USING (true)"),
            format!("DROP POLICY far_reads ON gadgets; ALTER POLICY tenant_isolation ON gadgets TO PUBLIC; {drop_far}"),
        ),
        // A policy applies to the roles that inherit the one it names, not to every member:
        // the isolation policy for a role the application role reaches through a NOINHERIT
        // one applies to neither it nor its login, and a permissive one for a role granted to
        // the login (not to the application role) applies to the login.
        (
            "TEN013",
            "table gadgets",
            format!("CREATE ROLE {mid} NOLOGIN NOINHERIT; CREATE ROLE {far} NOLOGIN; GRANT {far} TO {mid}; GRANT {mid} TO {role}; ALTER POLICY tenant_isolation ON gadgets TO {far}"),
            format!("ALTER POLICY tenant_isolation ON gadgets TO PUBLIC; {drop_far}"),
        ),
        (
            "TEN085",
            login_table.as_str(),
            format!("CREATE ROLE {mid} NOLOGIN NOINHERIT; CREATE ROLE {far} NOLOGIN; GRANT {far} TO {mid}; GRANT {mid} TO {role}; GRANT SELECT ON gadgets TO {role}; ALTER POLICY tenant_isolation ON gadgets TO {far}; CREATE POLICY wide_reads ON gadgets FOR SELECT TO {login} USING (true)"),
            format!("DROP POLICY wide_reads ON gadgets; ALTER POLICY tenant_isolation ON gadgets TO PUBLIC; REVOKE SELECT ON gadgets FROM {role}; {drop_far}"),
        ),
    ]);
    // A SECURITY DEFINER function of a plain role that may read the context key, whose text
    // names only a helper that reads it.
    steps.push((
        "TEN067",
        "role",
        format!(
            "CREATE ROLE {far} NOLOGIN; GRANT USAGE ON SCHEMA tenancy TO {far}; GRANT SELECT ON tenancy.context_key TO {far}; \
             CREATE FUNCTION far_pads() RETURNS SETOF bytea LANGUAGE sql STABLE AS 'SELECT ipad FROM tenancy.context_key'; \
             CREATE FUNCTION far_sign() RETURNS SETOF bytea LANGUAGE sql SECURITY DEFINER AS 'SELECT far_pads()'; \
             ALTER FUNCTION far_pads() OWNER TO {far}; ALTER FUNCTION far_sign() OWNER TO {far}"
        ),
        format!("DROP FUNCTION far_sign(); DROP FUNCTION far_pads(); DROP OWNED BY {far}; DROP ROLE {far}"),
    ));
    // A SECURITY DEFINER function of a plain role granted the private `users`, whose text
    // names only a helper that reads it.
    steps.push((
        "TEN070",
        "function far_member_emails()",
        format!(
            "CREATE ROLE {far} NOLOGIN; GRANT SELECT ON users TO {far}; \
             CREATE FUNCTION far_emails() RETURNS SETOF text LANGUAGE sql STABLE AS 'SELECT email FROM public.users'; \
             CREATE FUNCTION far_member_emails() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER AS 'SELECT public.far_emails()'; \
             ALTER FUNCTION far_emails() OWNER TO {far}; ALTER FUNCTION far_member_emails() OWNER TO {far}"
        ),
        format!("DROP FUNCTION far_member_emails(); DROP FUNCTION far_emails(); DROP OWNED BY {far}; DROP ROLE {far}"),
    ));
    // A reader that still calls the verified context but also takes a setting.
    steps.push((
        "TEN067",
        "current_tenant",
        "CREATE OR REPLACE FUNCTION tenancy.current_tenant() RETURNS uuid LANGUAGE sql STABLE \
         AS 'SELECT coalesce(tenancy.verified_context(1, ''tenancy.tenant_id''), \
         NULLIF(current_setting(''app.tenant'', true), '''')::uuid)'"
            .to_owned(),
        "SELECT tenancy.disable_native_context()".to_owned(),
    ));
    if tenancy_testing::native_context_available().expect("look for the extension") {
        steps.push((
            "TEN068",
            "current_tenant",
            // CASCADE: the status trigger on `tenants` and the policies, which name the
            // extension's readers once it is switched on, depend on the extension; the SQL
            // readers do not, so they stay and point at nothing.
            "CREATE EXTENSION tenancy_context; SELECT tenancy.enable_native_context(); \
             DROP EXTENSION tenancy_context CASCADE"
                .to_owned(),
            "SELECT tenancy.disable_native_context()".to_owned(),
        ));
    }
    for (id, object, breaks, fix) in &steps {
        assert!(
            !present(&report(&mut conn, &reg, &options), id, object),
            "{id} before"
        );
        conn.batch_execute(breaks).unwrap();
        let r = report(&mut conn, &reg, &options);
        assert!(present(&r, id, object), "{id}: {:#?}", r.findings);
        conn.batch_execute(fix).unwrap();
        assert!(
            !present(&report(&mut conn, &reg, &options), id, object),
            "{id} after fix"
        );
    }
    drop(conn);
    let mut admin = PgConnection::establish(db.url()).unwrap();
    admin
        .batch_execute(&format!(
            "DROP OWNED BY {role}, {owner}, {login}; DROP ROLE {login}; DROP ROLE {role}; DROP ROLE {owner}"
        ))
        .unwrap();
}

#[test]
fn every_lint_id_is_exercised_by_a_test() {
    // The lints that need a Citus coordinator are exercised by the Citus suite.
    let source = [include_str!("check.rs"), include_str!("citus.rs")].concat();
    for (id, ..) in LINTS {
        let quoted = format!("\"{id}");
        // This test's own loop builds the string; count the other mentions.
        assert!(source.matches(&quoted).count() >= 1, "{id} has no test");
    }
    // TEN001/TEN002/TEN004/CIT001/CIT004 are exercised above; the CIT002/CIT003 variants
    // come with TEN030/TEN040.
    let r = {
        let (_db, mut conn) = fresh();
        create_gadgets(&mut conn);
        conn.batch_execute(
            "CREATE UNIQUE INDEX gadgets_global_name ON gadgets (name);
             ALTER TABLE gadgets ADD CONSTRAINT gadgets_id_only UNIQUE (id);
             ALTER TABLE gadget_parts ADD CONSTRAINT gadget_parts_loose FOREIGN KEY (gadget_id) REFERENCES gadgets (id);",
        )
        .unwrap();
        report(
            &mut conn,
            &registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]),
            &CheckOptions {
                citus: true,
                ..CheckOptions::default()
            },
        )
    };
    assert!(
        present(&r, "CIT002", "gadgets_global_name"),
        "{:#?}",
        r.findings
    );
    assert!(
        present(&r, "CIT003", "gadget_parts_loose"),
        "{:#?}",
        r.findings
    );
}

/// What a role of the application owns besides tables, whose owner reads or rewrites every
/// tenant's rows whatever the policies: a domain of a column (a CHECK constraint added to it is
/// validated against every row, past row level security, and its error quotes the value), an
/// enum of a column (renaming its values swaps every tenant's statuses or roles), a function
/// PostgreSQL keeps to superusers (its owner runs it: `pg_read_binary_file` reads a table's
/// data file). Each owned by the application role itself, then by a role a login of it reaches
/// only by SET ROLE (through a NOINHERIT role).
#[test]
fn domains_enums_and_superuser_functions_a_role_of_the_application_owns_are_reported() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    conn.batch_execute(
        "CREATE DOMAIN gadget_name AS text; ALTER TABLE gadgets ALTER COLUMN name TYPE gadget_name",
    )
    .unwrap();
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let options = CheckOptions::default();
    let reports_owned = |r: &Report, role: &str, object: &str| {
        r.findings.iter().any(|f| {
            f.id == "TEN065" && f.object == format!("role {role}") && f.message.contains(object)
        })
    };
    let objects = [
        ("DOMAIN gadget_name", "domain gadget_name"),
        ("TYPE tenant_status", "type tenant_status"),
        (
            "FUNCTION pg_catalog.pg_read_binary_file(text)",
            "function pg_read_binary_file(text)",
        ),
    ];
    for (what, object) in objects {
        assert!(!reports_owned(
            &report(&mut conn, &reg, &options),
            "tenancy_app",
            object
        ));
        conn.batch_execute(&format!("ALTER {what} OWNER TO tenancy_app"))
            .unwrap();
        let r = report(&mut conn, &reg, &options);
        assert!(
            reports_owned(&r, "tenancy_app", object),
            "{what}: {:#?}",
            r.findings
        );
        conn.batch_execute(&format!("ALTER {what} OWNER TO CURRENT_USER"))
            .unwrap();
        assert!(!reports_owned(
            &report(&mut conn, &reg, &options),
            "tenancy_app",
            object
        ));
    }
    // Through memberships, with an application role of this test's own.
    let role = format!(
        "check_own_{}",
        &db.database_name()[db.database_name().len() - 8..]
    );
    let (mid, owner, login) = (
        format!("{role}_mid"),
        format!("{role}_owner"),
        format!("{role}_login"),
    );
    conn.batch_execute(&format!(
        "CREATE ROLE {role} NOLOGIN; CREATE ROLE {mid} NOLOGIN NOINHERIT; CREATE ROLE {owner} NOLOGIN; \
         CREATE ROLE {login} LOGIN; GRANT {role} TO {login}; GRANT {owner} TO {mid}; GRANT {mid} TO {login}"
    ))
    .unwrap();
    let options = CheckOptions {
        app_role: role.clone(),
        ..CheckOptions::default()
    };
    for (what, object) in objects {
        conn.batch_execute(&format!("ALTER {what} OWNER TO {owner}"))
            .unwrap();
        let r = report(&mut conn, &reg, &options);
        assert!(
            reports_owned(&r, &login, object),
            "{what}: {:#?}",
            r.findings
        );
        conn.batch_execute(&format!("ALTER {what} OWNER TO CURRENT_USER"))
            .unwrap();
        assert!(!reports_owned(
            &report(&mut conn, &reg, &options),
            &login,
            object
        ));
    }
    conn.batch_execute(&format!(
        "DROP ROLE {login}; DROP ROLE {mid}; DROP ROLE {owner}; DROP ROLE {role}"
    ))
    .unwrap();
}

/// Grants of SET on a setting to a role a login of the application role reaches only by SET
/// ROLE (through a NOINHERIT role), where `has_parameter_privilege` of the login says no: the
/// setting made after `SET ROLE` outlives `RESET ROLE`. `session_replication_role` switches
/// every foreign key off (TEN043); the extension's settings turn EXPLAIN back on or write the
/// context handed to parallel workers (TEN067), also when granted to a login rather than to
/// the role.
#[test]
fn settings_a_login_may_set_after_set_role_are_reported() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let role = format!(
        "check_set_{}",
        &db.database_name()[db.database_name().len() - 8..]
    );
    let (mid, setter, login) = (
        format!("{role}_mid"),
        format!("{role}_setter"),
        format!("{role}_login"),
    );
    conn.batch_execute(&format!(
        "CREATE ROLE {role} NOLOGIN; CREATE ROLE {mid} NOLOGIN NOINHERIT; CREATE ROLE {setter} NOLOGIN; \
         CREATE ROLE {login} LOGIN; GRANT {role} TO {login}; GRANT {setter} TO {mid}; GRANT {mid} TO {login}"
    ))
    .unwrap();
    let options = CheckOptions {
        app_role: role.clone(),
        ..CheckOptions::default()
    };
    let steps = [
        (
            "TEN043",
            "setting session_replication_role",
            "session_replication_role",
            setter.as_str(),
        ),
        (
            "TEN067",
            "role",
            "tenancy_context.allow_explain",
            setter.as_str(),
        ),
        (
            "TEN067",
            "role",
            "tenancy_context.worker_context",
            login.as_str(),
        ),
    ];
    for (id, object, setting, to) in steps {
        let named = |r: &Report| {
            r.findings
                .iter()
                .any(|f| f.id == id && f.object.contains(object) && f.message.contains(setting))
        };
        assert!(
            !named(&report(&mut conn, &reg, &options)),
            "{setting} before"
        );
        conn.batch_execute(&format!("GRANT SET ON PARAMETER {setting} TO {to}"))
            .unwrap();
        let r = report(&mut conn, &reg, &options);
        conn.batch_execute(&format!("REVOKE SET ON PARAMETER {setting} FROM {to}"))
            .unwrap();
        assert!(named(&r), "{setting} to {to}: {:#?}", r.findings);
        assert!(
            !named(&report(&mut conn, &reg, &options)),
            "{setting} after"
        );
    }
    conn.batch_execute(&format!(
        "DROP ROLE {login}; DROP ROLE {mid}; DROP ROLE {setter}; DROP ROLE {role}"
    ))
    .unwrap();
}

/// A policy that names the tenant context without holding rows to it (`current_tenant() IS
/// NULL OR current_tenant() IS NOT NULL`) opens a table as much as none: on a private table
/// (TEN056) and on a copy of a tenant table in another schema (TEN006).
#[test]
fn a_policy_that_names_the_context_without_holding_to_it_opens_the_table() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let options = CheckOptions::default();
    let named_only = "tenancy.current_tenant() IS NULL OR tenancy.current_tenant() IS NOT NULL";
    conn.batch_execute(&format!(
        "GRANT SELECT ON users TO tenancy_app; \
         ALTER TABLE users ENABLE ROW LEVEL SECURITY; ALTER TABLE users FORCE ROW LEVEL SECURITY; \
         CREATE POLICY users_named ON users TO tenancy_app USING ({named_only}); \
         CREATE SCHEMA archive; CREATE TABLE archive.gadgets AS SELECT * FROM public.gadgets; \
         GRANT USAGE ON SCHEMA archive TO tenancy_app; GRANT SELECT ON archive.gadgets TO tenancy_app; \
         ALTER TABLE archive.gadgets ENABLE ROW LEVEL SECURITY; \
         CREATE POLICY copy_named ON archive.gadgets TO tenancy_app USING ({named_only})"
    ))
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(present(&r, "TEN056", "table users"), "{:#?}", r.findings);
    assert!(
        present(&r, "TEN006", "table archive.gadgets"),
        "{:#?}",
        r.findings
    );
    // Held to the tenant, the copy is no longer open, and the private table is not read
    // whatever the tenant.
    conn.batch_execute(
        "ALTER POLICY users_named ON users USING (id = tenancy.current_tenant()); \
         ALTER POLICY copy_named ON archive.gadgets USING (tenant_id = tenancy.current_tenant())",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(!present(&r, "TEN056", "table users"), "{:#?}", r.findings);
    assert!(
        !present(&r, "TEN006", "table archive.gadgets"),
        "{:#?}",
        r.findings
    );
}

/// An application role other than `tenancy_app` whose login is no member of `tenancy_app`:
/// `tenancy.trusted_session()` trusts such a session as it trusts the admin's, and the SQL
/// context's readers then take the tenant from `tenancy.tenant_id`, which any SQL sets.
#[test]
fn a_login_the_sql_context_trusts_is_reported() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let role = format!(
        "check_trust_{}",
        &db.database_name()[db.database_name().len() - 8..]
    );
    let login = format!("{role}_login");
    conn.batch_execute(&format!(
        "CREATE ROLE {role} NOLOGIN; CREATE ROLE {login} LOGIN; GRANT {role} TO {login}"
    ))
    .unwrap();
    let options = CheckOptions {
        app_role: role.clone(),
        ..CheckOptions::default()
    };
    let trusted = |r: &Report| {
        r.findings.iter().any(|f| {
            f.id == "TEN067"
                && f.object == "function tenancy.trusted_session()"
                && f.message.contains(&login)
        })
    };
    let r = report(&mut conn, &reg, &options);
    assert!(trusted(&r), "{:#?}", r.findings);
    // A role that does not log in opens no session. (Making the login a member of tenancy_app
    // is the fix; a test changes no membership of tenancy_app, which the others check.)
    conn.batch_execute(&format!("ALTER ROLE {login} NOLOGIN"))
        .unwrap();
    let r = report(&mut conn, &reg, &options);
    conn.batch_execute(&format!("DROP ROLE {login}; DROP ROLE {role}"))
        .unwrap();
    assert!(!trusted(&r), "{:#?}", r.findings);
    // The application's own logins, members of tenancy_app, are not trusted.
    let r = report(&mut conn, &reg, &CheckOptions::default());
    assert!(
        !r.findings
            .iter()
            .any(|f| f.object == "function tenancy.trusted_session()"),
        "{:#?}",
        r.findings
    );
}

/// PostgreSQL's `pg_stats` replaced by a superuser (with `allow_system_table_mods`) by a
/// version without its condition on row level security: it runs with its owner's rights and
/// shows every role that may read a column the samples of every tenant's values (TEN078).
#[test]
fn the_statistics_view_without_its_row_security_condition_is_reported() {
    #[derive(diesel::QueryableByName)]
    struct Definition {
        #[diesel(sql_type = diesel::sql_types::Text)]
        definition: String,
    }
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let options = CheckOptions::default();
    let original =
        diesel::sql_query("SELECT pg_get_viewdef('pg_catalog.pg_stats'::regclass) AS definition")
            .get_result::<Definition>(&mut conn)
            .unwrap()
            .definition;
    let condition = "AND ((c.relrowsecurity = false) OR (NOT row_security_active(c.oid)))";
    assert!(original.contains(condition), "{original}");
    let define = |definition: &str| {
        format!(
            "SET allow_system_table_mods = on; \
             CREATE OR REPLACE VIEW pg_catalog.pg_stats WITH (security_barrier) AS {}; \
             RESET allow_system_table_mods",
            definition.trim_end().trim_end_matches(';')
        )
    };
    assert!(!present(
        &report(&mut conn, &reg, &options),
        "TEN078",
        "view pg_stats"
    ));
    conn.batch_execute(&define(&original.replace(condition, "")))
        .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(present(&r, "TEN078", "view pg_stats"), "{:#?}", r.findings);
    assert!(present(&r, "TEN108", "view pg_stats"), "{:#?}", r.findings);
    conn.batch_execute(&define(&original)).unwrap();
    let r = report(&mut conn, &reg, &options);
    assert!(!present(&r, "TEN078", "view pg_stats"), "{:#?}", r.findings);
}

/// PostgreSQL's own functions and views changed in place by a superuser: a function replaced
/// with SQL of its own, one made IMMUTABLE (a context read frozen into a cached plan), a
/// system view redefined. A REVOKE on a built-in, as hardening scripts run, is no such change.
#[test]
fn functions_and_views_postgresql_ships_changed_in_place_are_reported() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let options = CheckOptions::default();
    let changed = |r: &Report| -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.id == "TEN108")
            .map(|f| f.object.clone())
            .collect()
    };
    conn.batch_execute("REVOKE EXECUTE ON FUNCTION pg_catalog.md5(text) FROM PUBLIC")
        .unwrap();
    assert!(changed(&report(&mut conn, &reg, &options)).is_empty());
    conn.batch_execute(
        "ALTER FUNCTION pg_catalog.currval(regclass) IMMUTABLE;
         CREATE OR REPLACE FUNCTION pg_catalog.sha256(bytea) RETURNS bytea LANGUAGE sql IMMUTABLE
           PARALLEL SAFE AS $$SELECT CASE WHEN $1 IS NULL THEN NULL ELSE '\\x00'::bytea END$$;
         DO $$ BEGIN
           PERFORM set_config('allow_system_table_mods', 'on', true);
           EXECUTE 'CREATE OR REPLACE VIEW pg_catalog.pg_roles AS '
             || rtrim(pg_get_viewdef('pg_catalog.pg_roles'::regclass), E'; \n');
         END $$;",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    assert_eq!(
        changed(&r),
        [
            "function pg_catalog.currval(regclass)",
            "function pg_catalog.sha256(bytea)",
            "view pg_roles"
        ],
        "{:#?}",
        r.findings
    );
    assert!(
        r.findings
            .iter()
            .all(|f| f.id != "TEN108" || f.severity == Severity::Warning)
    );
}

/// A role a login of the application role can become whose name is no plain identifier, with
/// a user mapping in the database: the check runs, and reads the role's rights as any other's.
#[test]
fn a_role_with_a_quoted_name_is_checked_like_any_other() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let suffix = &db.database_name()[db.database_name().len() - 8..];
    let role = format!("check_quoted_{suffix}");
    let login = format!("{role}_login");
    let quoted = format!("\"Check Quoted {suffix}\"");
    let mapped = format!("{role}_mapped");
    conn.batch_execute(&format!(
        "CREATE ROLE {role} NOLOGIN; CREATE ROLE {login} LOGIN; CREATE ROLE {quoted} NOLOGIN; \
         CREATE ROLE {mapped} NOLOGIN; GRANT {role} TO {login}; GRANT {quoted} TO {login}; \
         CREATE EXTENSION IF NOT EXISTS file_fdw; CREATE SERVER quoted_files FOREIGN DATA WRAPPER file_fdw; \
         CREATE USER MAPPING FOR {mapped} SERVER quoted_files"
    ))
    .unwrap();
    let options = CheckOptions {
        app_role: role.clone(),
        ..CheckOptions::default()
    };
    let clean = check::run(&mut conn, &reg, &options);
    conn.batch_execute(&format!("GRANT TRUNCATE ON gadgets TO {quoted}"))
        .unwrap();
    let truncating = check::run(&mut conn, &reg, &options);
    conn.batch_execute(&format!(
        "REVOKE TRUNCATE ON gadgets FROM {quoted}; DROP SERVER quoted_files CASCADE; \
         DROP ROLE {login}; DROP ROLE {quoted}; DROP ROLE {mapped}; DROP ROLE {role}"
    ))
    .unwrap();
    let clean = clean.expect("the check runs");
    assert!(
        !clean.findings.iter().any(|f| f.id == "TEN065"),
        "{:#?}",
        clean.findings
    );
    let truncating = truncating.expect("the check runs");
    assert!(
        present(&truncating, "TEN065", &format!("role {login}")),
        "{:#?}",
        truncating.findings
    );
}

/// PostgreSQL's statistics counters of a relation (`pg_stat_get_xact_tuples_returned` and the
/// like) count the index entries of other tenants a scan read before row level security
/// dropped their rows, and range probes around them list every tenant's values: the
/// migrations take them from PUBLIC, and TEN087 reports them back in the application's reach.
/// Given back to PUBLIC; granted to a role a login of an application role of the test's own
/// can become; reached through pg_monitor, whose pg_read_all_stats keeps them for monitoring.
#[test]
fn statistics_counters_the_application_role_may_run_are_reported() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let counters = |r: &Report, function: &str| {
        r.findings.iter().any(|f| {
            f.id == "TEN087" && f.object == "statistics counters" && f.message.contains(function)
        })
    };
    let none = |r: &Report| !r.findings.iter().any(|f| f.id == "TEN087");
    let options = CheckOptions::default();
    let clean = report(&mut conn, &reg, &options);
    assert!(none(&clean), "{:#?}", clean.findings);
    // Back to PUBLIC, as PostgreSQL ships it.
    let public = "pg_catalog.pg_stat_get_xact_tuples_returned(oid)";
    conn.batch_execute(&format!("GRANT EXECUTE ON FUNCTION {public} TO PUBLIC"))
        .unwrap();
    let opened = report(&mut conn, &reg, &options);
    conn.batch_execute(&format!("REVOKE EXECUTE ON FUNCTION {public} FROM PUBLIC"))
        .unwrap();
    let closed = report(&mut conn, &reg, &options);
    // An application role of the test's own, whose login may become a role that runs one, and
    // then is a member of pg_monitor.
    let suffix = &db.database_name()[db.database_name().len() - 8..];
    let role = format!("check_counters_{suffix}");
    let login = format!("{role}_login");
    let monitor = format!("{role}_monitor");
    let granted = "pg_catalog.pg_stat_get_tuples_returned(oid)";
    conn.batch_execute(&format!(
        "CREATE ROLE {role} NOLOGIN; CREATE ROLE {login} LOGIN; CREATE ROLE {monitor} NOLOGIN; \
         GRANT {role} TO {login}; GRANT {monitor} TO {login}; \
         GRANT EXECUTE ON FUNCTION {granted} TO {monitor}"
    ))
    .unwrap();
    let own = CheckOptions {
        app_role: role.clone(),
        ..CheckOptions::default()
    };
    let through_a_role = report(&mut conn, &reg, &own);
    conn.batch_execute(&format!(
        "REVOKE EXECUTE ON FUNCTION {granted} FROM {monitor}; GRANT pg_monitor TO {login}"
    ))
    .unwrap();
    let through_monitoring = report(&mut conn, &reg, &own);
    conn.batch_execute(&format!("REVOKE pg_monitor FROM {login}"))
        .unwrap();
    let own_closed = report(&mut conn, &reg, &own);
    conn.batch_execute(&format!(
        "DROP ROLE {login}; DROP ROLE {monitor}; DROP ROLE {role}"
    ))
    .unwrap();
    assert!(
        counters(&opened, "pg_stat_get_xact_tuples_returned(oid)"),
        "{:#?}",
        opened.findings
    );
    let finding = opened.findings.iter().find(|f| f.id == "TEN087").unwrap();
    assert!(
        finding
            .hint
            .contains("SELECT tenancy.close_statistics_counters()"),
        "{finding:#?}"
    );
    assert!(none(&closed), "{:#?}", closed.findings);
    assert!(
        counters(&through_a_role, "pg_stat_get_tuples_returned(oid)"),
        "{:#?}",
        through_a_role.findings
    );
    assert!(
        counters(&through_monitoring, "pg_stat_get_"),
        "{:#?}",
        through_monitoring.findings
    );
    assert!(none(&own_closed), "{:#?}", own_closed.findings);
}

/// Functions and operators named like built-ins in a schema that a `search_path` default of the
/// application's sessions searches before the built-ins (or the application's schema named
/// before `pg_catalog`): every statement naming the built-in runs them, and what they are handed
/// outlives the transaction on the pooled connection (TEN086).
#[test]
fn functions_named_like_built_ins_ahead_on_a_search_path_default_are_reported() {
    #[derive(QueryableByName)]
    struct Seen {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        seen: Option<String>,
    }
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let options = CheckOptions::default();
    let stand_in = |r: &Report, name: &str| {
        r.findings
            .iter()
            .any(|f| f.id == "TEN086" && f.object == name && f.severity == Severity::Error)
    };
    let none = |r: &Report| !r.findings.iter().any(|f| f.id == "TEN086");
    let clean = report(&mut conn, &reg, &options);
    assert!(none(&clean), "{:#?}", clean.findings);
    let database = db.database_name().to_owned();
    // A login of the test's own (not a member of tenancy_app): the database's default
    // search_path is every role's.
    let login = format!("check_shadow_{}", &database[database.len() - 8..]);
    conn.batch_execute(&format!(
        "CREATE ROLE {login} LOGIN PASSWORD 'check-shadow'; \
         CREATE SCHEMA shadow; GRANT USAGE ON SCHEMA shadow TO tenancy_app, {login}; \
         CREATE FUNCTION shadow.lower(text) RETURNS text LANGUAGE sql \
           AS $$ SELECT pg_catalog.set_config('shadow.seen', $1, false); SELECT pg_catalog.lower($1) $$; \
         CREATE FUNCTION shadow.text_eq(text, varchar) RETURNS boolean LANGUAGE sql \
           AS $$ SELECT $1 OPERATOR(pg_catalog.=) $2::text $$; \
         CREATE OPERATOR shadow.= (LEFTARG = text, RIGHTARG = varchar, FUNCTION = shadow.text_eq); \
         ALTER DATABASE \"{database}\" SET search_path = shadow, pg_catalog, public"
    ))
    .unwrap();
    let ahead = report(&mut conn, &reg, &options);
    // What the stand-in was handed stays in the session for the next transaction on it.
    let mut session = PgConnection::establish(&db.url_for(&login, "check-shadow")).unwrap();
    session
        .batch_execute("BEGIN; SELECT lower('Secret Of Another Tenant'); COMMIT")
        .unwrap();
    let seen: Seen = diesel::sql_query("SELECT current_setting('shadow.seen', true) AS seen")
        .get_result(&mut session)
        .unwrap();
    drop(session);
    // The application's own schema named before pg_catalog.
    conn.batch_execute(&format!(
        "DROP SCHEMA shadow CASCADE; \
         CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT pg_catalog.lower($1) $$; \
         ALTER DATABASE \"{database}\" SET search_path = public, pg_catalog"
    ))
    .unwrap();
    let public_first = report(&mut conn, &reg, &options);
    // Hidden as a member of a procedural language's extension, which ships no such function.
    conn.batch_execute("ALTER EXTENSION plpgsql ADD FUNCTION public.lower(text)")
        .unwrap();
    let as_member = report(&mut conn, &reg, &options);
    conn.batch_execute("ALTER EXTENSION plpgsql DROP FUNCTION public.lower(text)")
        .unwrap();
    conn.batch_execute(&format!("ALTER DATABASE \"{database}\" RESET search_path"))
        .unwrap();
    let catalog_first = report(&mut conn, &reg, &options);
    conn.batch_execute(&format!(
        "DROP FUNCTION public.lower(text); DROP ROLE {login}"
    ))
    .unwrap();
    assert_eq!(seen.seen.as_deref(), Some("Secret Of Another Tenant"));
    assert!(
        stand_in(&ahead, "function shadow.lower(text)"),
        "{:#?}",
        ahead.findings
    );
    assert!(
        stand_in(&ahead, "operator shadow.=(text,character varying)"),
        "{:#?}",
        ahead.findings
    );
    assert!(
        stand_in(&public_first, "function public.lower(text)"),
        "{:#?}",
        public_first.findings
    );
    assert!(
        stand_in(&as_member, "function public.lower(text)"),
        "{:#?}",
        as_member.findings
    );
    assert!(none(&catalog_first), "{:#?}", catalog_first.findings);
}

/// A statistics object on a tenant table whose expression calls a function that writes into a
/// table every tenant reads: ANALYZE (autovacuum's too) runs it, as the table's owner, on every
/// tenant's rows; and a policy calling such a function, on every row a tenant's statement
/// reads (TEN075).
#[test]
fn statistics_objects_and_policies_that_write_where_every_tenant_reads_are_reported() {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let options = CheckOptions::default();
    let object = "statistics object gadgets_name_stats on gadgets, which calls name_key(text)";
    let sink = |r: &Report| {
        r.findings
            .iter()
            .any(|f| f.id == "TEN075" && f.object == object && f.message.contains("gadget_names"))
    };
    conn.batch_execute(
        "INSERT INTO tenants (id, slug, name) VALUES \
           ('00000000-0000-7000-8000-0000000000a1', 'stats-a', 'a'), \
           ('00000000-0000-7000-8000-0000000000b1', 'stats-b', 'b'); \
         INSERT INTO gadgets (tenant_id, name) VALUES \
           ('00000000-0000-7000-8000-0000000000a1', 'of a'), \
           ('00000000-0000-7000-8000-0000000000b1', 'of b'); \
         CREATE TABLE gadget_names (name text); GRANT SELECT ON gadget_names TO tenancy_app; \
         CREATE FUNCTION keep_name(text) RETURNS void LANGUAGE plpgsql \
           AS $$ BEGIN INSERT INTO gadget_names VALUES ($1); END $$; \
         CREATE FUNCTION name_key(text) RETURNS text LANGUAGE plpgsql IMMUTABLE \
           AS $$ BEGIN PERFORM keep_name($1); RETURN $1; END $$; \
         CREATE STATISTICS gadgets_name_stats ON (name_key(name)), tenant_id FROM gadgets",
    )
    .unwrap();
    let with_statistics = report(&mut conn, &reg, &options);
    // What ANALYZE leaves there: both tenants' names.
    conn.batch_execute("ANALYZE gadgets").unwrap();
    let copied: Count = diesel::sql_query(
        "SELECT count(DISTINCT name) AS n FROM gadget_names WHERE name IN ('of a', 'of b')",
    )
    .get_result(&mut conn)
    .unwrap();
    conn.batch_execute("DROP STATISTICS gadgets_name_stats")
        .unwrap();
    let dropped = report(&mut conn, &reg, &options);
    // The permissive policy holds to the tenant, and then hands each row it lets through on.
    let policy = "policy tenant_access on gadgets, which calls seen_name(text)";
    conn.batch_execute(
        "CREATE FUNCTION seen_name(text) RETURNS boolean LANGUAGE plpgsql \
           AS $$ BEGIN PERFORM keep_name($1); RETURN true; END $$; \
         GRANT INSERT ON gadget_names TO tenancy_app; \
         ALTER POLICY tenant_access ON gadgets \
           USING (tenant_id = (SELECT tenancy.current_tenant()) AND seen_name(name))",
    )
    .unwrap();
    let with_policy = report(&mut conn, &reg, &options);
    conn.batch_execute(
        "ALTER POLICY tenant_access ON gadgets USING (tenant_id = (SELECT tenancy.current_tenant()))",
    )
    .unwrap();
    let restored = report(&mut conn, &reg, &options);
    let policy_sink = |r: &Report| {
        r.findings
            .iter()
            .any(|f| f.id == "TEN075" && f.object == policy && f.message.contains("gadget_names"))
    };
    assert_eq!(copied.n, 2);
    assert!(sink(&with_statistics), "{:#?}", with_statistics.findings);
    assert!(!sink(&dropped), "{:#?}", dropped.findings);
    assert!(policy_sink(&with_policy), "{:#?}", with_policy.findings);
    assert!(!policy_sink(&restored), "{:#?}", restored.findings);
}

/// Sabotages of a migrated database that no lint reported before TEN088–TEN100 (and the
/// widened TEN080): each breaks one thing, is reported under its id, and clears with its fix.
/// Only objects of this database are changed (settings too, `IN DATABASE`): the application
/// role, its memberships and attributes are shared by every test database of the server, so
/// what needs a role of its own is in the next test.
#[test]
fn grants_settings_and_streams_that_open_tenant_rows_are_reported() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    // No model of gadget_parts: TEN096 reads the key it should have from the database alone.
    let reg = registry(&[&GADGETS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let name = db.database_name().to_owned();
    let baseline = report(&mut conn, &reg, &options);
    assert!(!baseline.has_errors(), "{:#?}", baseline.findings);
    let restore_guard = "DROP TRIGGER audit_log_no_update_delete ON audit_log; \
         CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log \
         FOR EACH ROW EXECUTE FUNCTION tenancy.audit_log_append_only(); \
         ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_update_delete; DROP FUNCTION audit_pass()";
    let cases: Vec<(&str, &str, String, String)> = vec![
        // Rights on every table a later migration makes: TRUNCATE and TRIGGER on the next
        // tenant table, SELECT on the next key table of schema tenancy, sequences of it.
        (
            "TEN088",
            "default privileges of role",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT TRUNCATE, TRIGGER ON TABLES TO tenancy_app".to_owned(),
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE TRUNCATE, TRIGGER ON TABLES FROM tenancy_app".to_owned(),
        ),
        (
            "TEN088",
            "in schema tenancy on tables",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA tenancy GRANT SELECT ON TABLES TO PUBLIC".to_owned(),
            "ALTER DEFAULT PRIVILEGES IN SCHEMA tenancy REVOKE SELECT ON TABLES FROM PUBLIC".to_owned(),
        ),
        (
            "TEN088",
            "on sequences",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA tenancy GRANT USAGE ON SEQUENCES TO tenancy_app".to_owned(),
            "ALTER DEFAULT PRIVILEGES IN SCHEMA tenancy REVOKE USAGE ON SEQUENCES FROM tenancy_app".to_owned(),
        ),
        // Every role of the cluster, the admin role (BYPASSRLS) among them.
        (
            "TEN089",
            "table gadgets",
            "GRANT SELECT, INSERT ON gadgets TO PUBLIC".to_owned(),
            "REVOKE SELECT, INSERT ON gadgets FROM PUBLIC".to_owned(),
        ),
        (
            "TEN089",
            "table gadgets",
            "GRANT UPDATE (name) ON gadgets TO PUBLIC".to_owned(),
            "REVOKE UPDATE (name) ON gadgets FROM PUBLIC".to_owned(),
        ),
        // Defaults the application's sessions start with.
        (
            "TEN090",
            "setting row_security",
            format!("ALTER ROLE tenancy_app IN DATABASE \"{name}\" SET row_security = off"),
            format!("ALTER ROLE tenancy_app IN DATABASE \"{name}\" RESET row_security"),
        ),
        (
            "TEN090",
            "setting row_security",
            format!("ALTER DATABASE \"{name}\" SET row_security = off"),
            format!("ALTER DATABASE \"{name}\" RESET row_security"),
        ),
        (
            "TEN090",
            "setting session_preload_libraries",
            format!("ALTER ROLE tenancy_app IN DATABASE \"{name}\" SET session_preload_libraries = 'auto_explain'"),
            format!("ALTER ROLE tenancy_app IN DATABASE \"{name}\" RESET session_preload_libraries"),
        ),
        (
            "TEN090",
            "setting lo_compat_privileges",
            format!("ALTER DATABASE \"{name}\" SET lo_compat_privileges = on"),
            format!("ALTER DATABASE \"{name}\" RESET lo_compat_privileges"),
        ),
        (
            "TEN090",
            "setting tenancy.tenant_id",
            format!("ALTER ROLE ALL IN DATABASE \"{name}\" SET tenancy.tenant_id = '00000000-0000-0000-0000-000000000001'"),
            format!("ALTER ROLE ALL IN DATABASE \"{name}\" RESET tenancy.tenant_id"),
        ),
        // Every tenant's rows out to a subscriber, or in past row level security; a reviewed
        // publication passes.
        (
            "TEN090",
            "setting tenancy_context.worker_context",
            format!("CREATE EXTENSION IF NOT EXISTS tenancy_context; ALTER DATABASE \"{name}\" SET tenancy_context.worker_context = 'forged'"),
            format!("ALTER DATABASE \"{name}\" RESET tenancy_context.worker_context; DROP EXTENSION tenancy_context"),
        ),
        // A schema a search_path default searches first, empty today (TEN084 reads what is
        // there): a warning.
        (
            "TEN098",
            "search_path gadget_ahead, public",
            format!("CREATE SCHEMA gadget_ahead; GRANT USAGE ON SCHEMA gadget_ahead TO tenancy_app; ALTER ROLE tenancy_app IN DATABASE \"{name}\" SET search_path = gadget_ahead, public"),
            format!("ALTER ROLE tenancy_app IN DATABASE \"{name}\" RESET search_path; DROP SCHEMA gadget_ahead"),
        ),
        (
            "TEN091",
            "publication gadget_pub",
            "CREATE PUBLICATION gadget_pub FOR TABLE gadgets".to_owned(),
            "COMMENT ON PUBLICATION gadget_pub IS 'tenancy: reviewed: the read replica'".to_owned(),
        ),
        (
            "TEN091",
            "publication every_table",
            "CREATE PUBLICATION every_table FOR ALL TABLES".to_owned(),
            "DROP PUBLICATION every_table; DROP PUBLICATION gadget_pub".to_owned(),
        ),
        (
            "TEN091",
            "subscription gadget_sub",
            "CREATE SUBSCRIPTION gadget_sub CONNECTION 'dbname=postgres' PUBLICATION gadget_pub WITH (connect = false)".to_owned(),
            "ALTER SUBSCRIPTION gadget_sub SET (slot_name = NONE); DROP SUBSCRIPTION gadget_sub".to_owned(),
        ),
        // Large objects belong to no tenant.
        (
            "TEN092",
            "large objects",
            "SELECT lo_from_bytea(4242420, '\\x00'::bytea); GRANT SELECT ON LARGE OBJECT 4242420 TO tenancy_app".to_owned(),
            "SELECT lo_unlink(4242420)".to_owned(),
        ),
        (
            "TEN092",
            "table pg_largeobject",
            "GRANT SELECT ON pg_catalog.pg_largeobject TO tenancy_app".to_owned(),
            "REVOKE SELECT ON pg_catalog.pg_largeobject FROM tenancy_app".to_owned(),
        ),
        (
            "TEN093",
            "foreign-data wrapper postgres_fdw",
            "CREATE EXTENSION IF NOT EXISTS postgres_fdw; GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO tenancy_app".to_owned(),
            "REVOKE USAGE ON FOREIGN DATA WRAPPER postgres_fdw FROM tenancy_app".to_owned(),
        ),
        (
            "TEN093",
            "server gadget_remote",
            "CREATE SERVER gadget_remote FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'postgres'); GRANT USAGE ON FOREIGN SERVER gadget_remote TO tenancy_app".to_owned(),
            "DROP SERVER gadget_remote; DROP EXTENSION postgres_fdw".to_owned(),
        ),
        (
            "TEN094",
            "language c",
            "UPDATE pg_language SET lanpltrusted = true WHERE lanname = 'c'".to_owned(),
            "UPDATE pg_language SET lanpltrusted = false WHERE lanname = 'c'".to_owned(),
        ),
        // Not always true, and still every tenant's: only the restrictive policy is left.
        (
            "TEN095",
            "policy gadget_named on gadgets",
            "CREATE POLICY gadget_named ON gadgets FOR SELECT TO tenancy_app USING (name IS NOT NULL)".to_owned(),
            "DROP POLICY gadget_named ON gadgets".to_owned(),
        ),
        (
            "TEN095",
            "policy tenant_access on gadgets",
            "ALTER POLICY tenant_access ON gadgets WITH CHECK (tenant_id IS NOT NULL)".to_owned(),
            "ALTER POLICY tenant_access ON gadgets WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()))".to_owned(),
        ),
        // For another role too: the admin role's, or a reporting role's.
        (
            "TEN095",
            "policy gadget_admin_reads on gadgets",
            "CREATE POLICY gadget_admin_reads ON gadgets FOR SELECT TO tenancy_admin USING (true)".to_owned(),
            "DROP POLICY gadget_admin_reads ON gadgets".to_owned(),
        ),
        (
            "TEN096",
            "column gadget_id on gadget_parts",
            "ALTER TABLE gadget_parts DROP CONSTRAINT gadget_parts_gadget_fk".to_owned(),
            "ALTER TABLE gadget_parts ADD CONSTRAINT gadget_parts_gadget_fk FOREIGN KEY (tenant_id, gadget_id) REFERENCES gadgets (tenant_id, id)".to_owned(),
        ),
        // Below row level security: every locked row of a table the caller may SELECT
        // (PUBLIC may run it as the extension installs it), every tenant's tuple counts.
        (
            "TEN099",
            "function pgrowlocks(text)",
            "CREATE EXTENSION IF NOT EXISTS pgrowlocks".to_owned(),
            "DROP EXTENSION pgrowlocks".to_owned(),
        ),
        (
            "TEN099",
            "function pgstattuple(regclass)",
            "CREATE EXTENSION IF NOT EXISTS pgstattuple; GRANT EXECUTE ON FUNCTION pgstattuple(regclass) TO tenancy_app".to_owned(),
            "DROP EXTENSION pgstattuple".to_owned(),
        ),
        // Native code under a name of its own: the server's file reader, and a contrib
        // library's tuple counter, with neither extension nor grant in the way.
        (
            "TEN114",
            "function server_file(text)",
            "CREATE FUNCTION public.server_file(text) RETURNS text LANGUAGE internal STRICT AS 'pg_read_file_all'".to_owned(),
            "DROP FUNCTION public.server_file(text)".to_owned(),
        ),
        (
            "TEN114",
            "function table_health(regclass)",
            "CREATE FUNCTION public.table_health(regclass, OUT tuple_count bigint) RETURNS bigint LANGUAGE c STRICT AS '$libdir/pgstattuple', 'pgstattuplebyid_v1_5'".to_owned(),
            "DROP FUNCTION public.table_health(regclass)".to_owned(),
        ),
        // One counter for every tenant, its values kept in the rows.
        (
            "TEN100",
            "column seqno on gadget_parts",
            "ALTER TABLE gadget_parts ADD COLUMN seqno bigserial".to_owned(),
            "ALTER TABLE gadget_parts DROP COLUMN seqno".to_owned(),
        ),
        (
            "TEN100",
            "column ident on gadgets",
            "ALTER TABLE gadgets ADD COLUMN ident bigint GENERATED ALWAYS AS IDENTITY".to_owned(),
            "ALTER TABLE gadgets DROP COLUMN ident".to_owned(),
        ),
        // One column of the audit log made updatable.
        (
            "TEN080",
            "table audit_log",
            "GRANT UPDATE (action) ON audit_log TO tenancy_app".to_owned(),
            "REVOKE UPDATE (action) ON audit_log FROM tenancy_app".to_owned(),
        ),
        // The guard trigger there, enabled ALWAYS, but calling a function that guards nothing.
        (
            "TEN080",
            "table audit_log",
            "CREATE FUNCTION audit_pass() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$; \
             DROP TRIGGER audit_log_no_update_delete ON audit_log; \
             CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_pass(); \
             ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_update_delete".to_owned(),
            restore_guard.to_owned(),
        ),
    ];
    for (id, object, breaks, fix) in &cases {
        assert!(
            !present(&report(&mut conn, &reg, &options), id, object),
            "{id} {object} before breaking"
        );
        conn.batch_execute(breaks)
            .unwrap_or_else(|e| panic!("{id} {object}: {e}"));
        let broken = report(&mut conn, &reg, &options);
        let finding = broken
            .findings
            .iter()
            .find(|f| f.id == *id && f.object.contains(object))
            .unwrap_or_else(|| panic!("{id} on {object} not reported: {:#?}", broken.findings));
        // A search path that may take statements later, and a counter that shows how busy
        // the other tenants are: warnings. Everything else opens rows.
        let severity = if matches!(*id, "TEN098" | "TEN100") {
            Severity::Warning
        } else {
            Severity::Error
        };
        assert_eq!(finding.severity, severity, "{finding}");
        assert!(!finding.message.is_empty() && !finding.hint.is_empty());
        conn.batch_execute(fix)
            .unwrap_or_else(|e| panic!("{id} {object} fix: {e}"));
        let fixed = report(&mut conn, &reg, &options);
        assert!(
            !present(&fixed, id, object),
            "{id} {object} still reported after the fix: {:#?}",
            fixed.findings
        );
    }
    // The guard's own function emptied: without the foundation's migrations TEN072 cannot
    // compare it, and TEN080 still sees a guard that no longer raises.
    let original: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "pg_get_functiondef('tenancy.audit_log_append_only()'::regprocedure)",
    ))
    .get_result(&mut conn)
    .unwrap();
    conn.batch_execute(
        "CREATE OR REPLACE FUNCTION tenancy.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
    )
    .unwrap();
    let emptied = report(&mut conn, &reg, &options);
    assert!(
        present(&emptied, "TEN080", "table audit_log"),
        "{:#?}",
        emptied.findings
    );
    conn.batch_execute(&original).unwrap();
    let left = report(&mut conn, &reg, &options);
    assert!(!left.has_errors(), "{:#?}", left.findings);
    assert!(
        left.with_id("TEN080").next().is_none(),
        "{:#?}",
        left.findings
    );
}

/// TEN088, TEN090, TEN092, TEN093 and TEN097 of a login of the application role, and of a role
/// it reaches only by SET ROLE: the application role and its logins are the test's own (as in
/// [`role_lints`]), since memberships and role attributes are the whole server's.
#[test]
fn rights_of_the_logins_of_the_application_role_are_reported() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PLANS_MANIFEST]);
    let suffix = &db.database_name()[db.database_name().len() - 8..];
    let role = format!("check_reach_{suffix}");
    let login = format!("{role}_login");
    let far = format!("{role}_far");
    let options = CheckOptions {
        app_role: role.clone(),
        ..CheckOptions::default()
    };
    conn.batch_execute(&format!(
        "CREATE ROLE {role} NOLOGIN; CREATE ROLE {login} LOGIN; GRANT {role} TO {login}; \
         CREATE ROLE {far} NOLOGIN NOINHERIT; GRANT {far} TO {login}"
    ))
    .unwrap();
    let steps: [(&str, String, String, String); 6] = [
        (
            "TEN088",
            "on sequences".to_owned(),
            format!(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA tenancy GRANT USAGE ON SEQUENCES TO {login}"
            ),
            format!(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA tenancy REVOKE USAGE ON SEQUENCES FROM {login}"
            ),
        ),
        (
            "TEN090",
            "setting session_preload_libraries".to_owned(),
            format!("ALTER ROLE {login} SET session_preload_libraries = 'auto_explain'"),
            format!("ALTER ROLE {login} RESET session_preload_libraries"),
        ),
        (
            "TEN092",
            "table pg_largeobject".to_owned(),
            format!("GRANT SELECT (data) ON pg_catalog.pg_largeobject TO {far}"),
            format!("REVOKE SELECT (data) ON pg_catalog.pg_largeobject FROM {far}"),
        ),
        (
            "TEN093",
            "foreign-data wrapper postgres_fdw".to_owned(),
            format!(
                "CREATE EXTENSION IF NOT EXISTS postgres_fdw; GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO {far}"
            ),
            format!("REVOKE USAGE ON FOREIGN DATA WRAPPER postgres_fdw FROM {far}"),
        ),
        (
            "TEN097",
            format!("role {login}"),
            format!("ALTER ROLE {login} CREATEDB"),
            format!("ALTER ROLE {login} NOCREATEDB"),
        ),
        (
            "TEN097",
            format!("role {far}"),
            format!("ALTER ROLE {far} CREATEDB"),
            format!("ALTER ROLE {far} NOCREATEDB"),
        ),
    ];
    for (id, object, breaks, fix) in &steps {
        conn.batch_execute(breaks)
            .unwrap_or_else(|e| panic!("{id} {object}: {e}"));
        let broken = report(&mut conn, &reg, &options);
        let finding = broken
            .findings
            .iter()
            .find(|f| f.id == *id && f.object.contains(object.as_str()))
            .unwrap_or_else(|| panic!("{id} on {object} not reported: {:#?}", broken.findings));
        let severity = if *id == "TEN097" {
            Severity::Warning
        } else {
            Severity::Error
        };
        assert_eq!(finding.severity, severity, "{finding}");
        conn.batch_execute(fix)
            .unwrap_or_else(|e| panic!("{id} {object} fix: {e}"));
        let fixed = report(&mut conn, &reg, &options);
        assert!(
            !present(&fixed, id, object),
            "{id} {object} still reported after the fix: {:#?}",
            fixed.findings
        );
    }
    conn.batch_execute(&format!(
        "DROP OWNED BY {role}, {login}, {far}; DROP ROLE {login}; DROP ROLE {far}; DROP ROLE {role}"
    ))
    .unwrap();
}

/// TEN101 to TEN105, and TEN090 for a grant of SET on a superuser's setting: what the tables
/// and the context rely on besides privileges and policies. The foundation's migrations are
/// passed, as `tenancy check` passes them, so its guard triggers are known (TEN103).
#[test]
fn index_classes_session_numbers_guards_references_and_the_key_are_reported() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions {
        migrations: tenancy_foundation::migrations::FOUNDATION,
        ..CheckOptions::default()
    };
    let baseline = report(&mut conn, &reg, &options);
    assert!(!baseline.has_errors(), "{:#?}", baseline.findings);
    let leaky_cmp = "CREATE FUNCTION leaky_cmp(text, text) RETURNS int LANGUAGE plpgsql IMMUTABLE \
         AS $f$BEGIN RAISE NOTICE 'saw %', $1; RETURN bttextcmp($1, $2); END$f$; \
         CREATE OPERATOR CLASS leaky_ops FOR TYPE text USING btree AS OPERATOR 1 <, OPERATOR 2 <=, \
         OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 leaky_cmp(text, text);";
    let cases: Vec<(&str, &str, String, String)> = vec![
        // The comparison runs on other tenants' keys as the index is descended.
        (
            "TEN101",
            "index gadgets_leaky on gadgets",
            format!("{leaky_cmp} CREATE INDEX gadgets_leaky ON gadgets (tenant_id, name leaky_ops)"),
            "DROP INDEX gadgets_leaky; DROP OPERATOR FAMILY leaky_ops USING btree; DROP FUNCTION leaky_cmp(text, text)".to_owned(),
        ),
        (
            "TEN101",
            "index principals_leaky on principals",
            "CREATE FUNCTION leaky_eq(text, text) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $f$BEGIN RETURN $1 = $2; END$f$; \
             CREATE OPERATOR === (LEFTARG = text, RIGHTARG = text, FUNCTION = leaky_eq, HASHES); \
             CREATE OPERATOR CLASS leaky_hash FOR TYPE text USING hash AS OPERATOR 1 ===, FUNCTION 1 hashtext(text); \
             CREATE INDEX principals_leaky ON principals USING hash (display_name leaky_hash)".to_owned(),
            "DROP INDEX principals_leaky; DROP OPERATOR FAMILY leaky_hash USING hash; DROP OPERATOR === (text, text); DROP FUNCTION leaky_eq(text, text)".to_owned(),
        ),
        // GiST calls a range type's subtype_diff on the entries an insert passes.
        (
            "TEN101",
            "index gadgets_during on gadgets",
            "CREATE FUNCTION leaky_diff(text, text) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $f$BEGIN RETURN 0; END$f$; \
             CREATE TYPE leaky_range AS RANGE (subtype = text, subtype_diff = leaky_diff); \
             ALTER TABLE gadgets ADD COLUMN during leaky_range; \
             CREATE INDEX gadgets_during ON gadgets USING gist (during)".to_owned(),
            "ALTER TABLE gadgets DROP COLUMN during; DROP TYPE leaky_range; DROP FUNCTION leaky_diff(text, text)".to_owned(),
        ),
        // Session numbers handed out twice: MACs of earlier sessions replay.
        (
            "TEN102",
            "sequence tenancy.session_seq",
            "ALTER SEQUENCE tenancy.session_seq MAXVALUE 1000 CYCLE".to_owned(),
            "ALTER SEQUENCE tenancy.session_seq NO MAXVALUE NO CYCLE".to_owned(),
        ),
        (
            "TEN102",
            "sequence tenancy.session_seq",
            "ALTER SEQUENCE tenancy.session_seq SET UNLOGGED".to_owned(),
            "ALTER SEQUENCE tenancy.session_seq SET LOGGED".to_owned(),
        ),
        // The guard that keeps a tenant's SQL from activating an invitation itself.
        (
            "TEN103",
            "trigger org_members_acceptance_guard on org_members",
            "ALTER TABLE org_members DISABLE TRIGGER org_members_acceptance_guard".to_owned(),
            "ALTER TABLE org_members ENABLE TRIGGER org_members_acceptance_guard".to_owned(),
        ),
        (
            "TEN103",
            "trigger org_members_acceptance_guard on org_members",
            "CREATE OR REPLACE TRIGGER org_members_acceptance_guard BEFORE UPDATE OF role ON org_members \
             FOR EACH ROW EXECUTE FUNCTION tenancy.invitation_acceptance_guard()".to_owned(),
            "CREATE OR REPLACE TRIGGER org_members_acceptance_guard BEFORE UPDATE OF status ON public.org_members \
             FOR EACH ROW EXECUTE FUNCTION tenancy.invitation_acceptance_guard()".to_owned(),
        ),
        (
            "TEN103",
            "trigger resources_sharing_guard on resources",
            "DROP TRIGGER resources_sharing_guard ON resources".to_owned(),
            "CREATE TRIGGER resources_sharing_guard BEFORE UPDATE OF owner_principal_id, workspace_id, visibility \
             ON public.resources FOR EACH ROW EXECUTE FUNCTION tenancy.resource_sharing_guard()".to_owned(),
        ),
        // A membership pointed at any user, whose email the member directory then shows.
        (
            "TEN104",
            "column user_id on org_members",
            "GRANT INSERT ON org_members TO tenancy_app".to_owned(),
            "REVOKE INSERT ON org_members FROM tenancy_app".to_owned(),
        ),
        (
            "TEN104",
            "column user_id on org_members",
            "GRANT UPDATE (user_id) ON org_members TO tenancy_app".to_owned(),
            "REVOKE UPDATE (user_id) ON org_members FROM tenancy_app".to_owned(),
        ),
        // A key anyone knows: all zeros, or pads of another key.
        (
            "TEN105",
            "table tenancy.context_key",
            "CREATE TABLE saved_key AS SELECT * FROM tenancy.context_key; \
             SELECT tenancy.install_context_key(decode(repeat('00', 32), 'hex'))".to_owned(),
            "UPDATE tenancy.context_key k SET key = s.key, ipad = s.ipad, opad = s.opad FROM saved_key s".to_owned(),
        ),
        // Keys one guesses or works out: a short pattern repeated, a passphrase, the hash of
        // the database's name.
        (
            "TEN105",
            "table tenancy.context_key",
            "SELECT tenancy.install_context_key(decode(repeat('0123456789abcdef', 4), 'hex'))".to_owned(),
            "UPDATE tenancy.context_key k SET key = s.key, ipad = s.ipad, opad = s.opad FROM saved_key s".to_owned(),
        ),
        (
            "TEN105",
            "table tenancy.context_key",
            "SELECT tenancy.install_context_key(convert_to('tenancy-dev-context-key-32-bytes', 'UTF8'))".to_owned(),
            "UPDATE tenancy.context_key k SET key = s.key, ipad = s.ipad, opad = s.opad FROM saved_key s".to_owned(),
        ),
        (
            "TEN105",
            "table tenancy.context_key",
            "SELECT tenancy.install_context_key(sha256(convert_to(current_database(), 'UTF8')))".to_owned(),
            "UPDATE tenancy.context_key k SET key = s.key, ipad = s.ipad, opad = s.opad FROM saved_key s".to_owned(),
        ),
        // The hash of a role's name, or of `tenancy`, as SHA-256 or MD5.
        (
            "TEN105",
            "table tenancy.context_key",
            "SELECT tenancy.install_context_key(sha256(convert_to('tenancy_app', 'UTF8')))".to_owned(),
            "UPDATE tenancy.context_key k SET key = s.key, ipad = s.ipad, opad = s.opad FROM saved_key s".to_owned(),
        ),
        (
            "TEN105",
            "table tenancy.context_key",
            "SELECT tenancy.install_context_key(convert_to(md5('tenancy'), 'UTF8'))".to_owned(),
            "UPDATE tenancy.context_key k SET key = s.key, ipad = s.ipad, opad = s.opad FROM saved_key s".to_owned(),
        ),
        (
            "TEN105",
            "table tenancy.context_key",
            "UPDATE tenancy.context_key SET ipad = decode(repeat('36', 64), 'hex'), opad = decode(repeat('5c', 64), 'hex')".to_owned(),
            "UPDATE tenancy.context_key k SET key = s.key, ipad = s.ipad, opad = s.opad FROM saved_key s; DROP TABLE saved_key".to_owned(),
        ),
    ];
    for (id, object, breaks, fix) in &cases {
        assert!(
            !present(&report(&mut conn, &reg, &options), id, object),
            "{id} {object} before breaking"
        );
        conn.batch_execute(breaks)
            .unwrap_or_else(|e| panic!("{id} {object}: {e}"));
        let broken = report(&mut conn, &reg, &options);
        let finding = broken
            .findings
            .iter()
            .find(|f| f.id == *id && f.object.contains(object))
            .unwrap_or_else(|| panic!("{id} on {object} not reported: {:#?}", broken.findings));
        assert_eq!(finding.severity, Severity::Error, "{finding}");
        assert!(!finding.message.is_empty() && !finding.hint.is_empty());
        conn.batch_execute(fix)
            .unwrap_or_else(|e| panic!("{id} {object} fix: {e}"));
        let fixed = report(&mut conn, &reg, &options);
        assert!(
            !present(&fixed, id, object),
            "{id} {object} still reported after the fix: {:#?}",
            fixed.findings
        );
    }
    let left = report(&mut conn, &reg, &options);
    assert!(!left.has_errors(), "{:#?}", left.findings);
    // Grants of SET are the whole server's: on an application role of the test's own.
    let suffix = &db.database_name()[db.database_name().len() - 8..];
    let role = format!("check_param_{suffix}");
    let own = CheckOptions {
        app_role: role.clone(),
        ..CheckOptions::default()
    };
    conn.batch_execute(&format!("CREATE ROLE {role} NOLOGIN"))
        .unwrap();
    for setting in ["lo_compat_privileges", "session_preload_libraries"] {
        let object = format!("setting {setting}");
        conn.batch_execute(&format!("GRANT SET ON PARAMETER {setting} TO {role}"))
            .unwrap();
        let broken = report(&mut conn, &reg, &own);
        assert!(
            present(&broken, "TEN090", &object),
            "{object}: {:#?}",
            broken.findings
        );
        conn.batch_execute(&format!("REVOKE SET ON PARAMETER {setting} FROM {role}"))
            .unwrap();
        let fixed = report(&mut conn, &reg, &own);
        assert!(
            !present(&fixed, "TEN090", &object),
            "{object}: {:#?}",
            fixed.findings
        );
    }
    conn.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .unwrap();
}

/// A SECURITY DEFINER function runs with its owner's rights: the application's sessions act as
/// the owner of every one they may run, though its owner neither skips row level security nor
/// is reached by any membership. What that owner may read (a view of the superuser's over a
/// tenant table, a materialized copy, a view of the context key), or run (a superuser's
/// definer that only the owner may run), the application reads. The rules asked of the roles
/// the application acts as report each (TEN071, TEN067, TEN070), naming the function; the
/// owner of a definer a person reviewed (as tenancy's own are) does not count.
#[test]
fn the_owners_of_security_definer_functions_the_application_runs_are_roles_it_acts_as() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let suffix = &db.database_name()[db.database_name().len() - 8..];
    let owner = format!("check_definer_owner_{suffix}");
    conn.batch_execute(&format!(
        "CREATE ROLE {owner} NOLOGIN; \
         CREATE VIEW gadget_catalogue AS SELECT tenant_id, name FROM gadgets; \
         GRANT SELECT ON gadget_catalogue TO {owner}; \
         CREATE MATERIALIZED VIEW gadget_snapshot AS SELECT name FROM gadgets; \
         GRANT SELECT ON gadget_snapshot TO {owner}; \
         CREATE VIEW key_view AS SELECT * FROM tenancy.context_key; \
         GRANT SELECT ON key_view TO {owner}; \
         CREATE FUNCTION inner_names() RETURNS SETOF text LANGUAGE sql STABLE SECURITY DEFINER \
           SET search_path = pg_catalog, pg_temp AS $$ SELECT name FROM public.U&\"gad\\0067ets\" $$; \
         REVOKE ALL ON FUNCTION inner_names() FROM PUBLIC; \
         GRANT EXECUTE ON FUNCTION inner_names() TO {owner}; \
         CREATE FUNCTION catalogue_names() RETURNS SETOF text LANGUAGE sql STABLE SECURITY DEFINER \
           SET search_path = pg_catalog, pg_temp AS $$ SELECT 'nothing to see'::text $$; \
         ALTER FUNCTION catalogue_names() OWNER TO {owner}; \
         GRANT EXECUTE ON FUNCTION catalogue_names() TO tenancy_app;"
    ))
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    let named = |id: &str, object: &str| {
        r.findings.iter().any(|f| {
            f.id == id
                && f.object.contains(object)
                && f.message.contains(&owner)
                && f.message.contains("catalogue_names()")
        })
    };
    assert!(
        named("TEN071", "view gadget_catalogue"),
        "{:#?}",
        r.findings
    );
    assert!(named("TEN071", "view gadget_snapshot"), "{:#?}", r.findings);
    assert!(named("TEN071", "view key_view"), "{:#?}", r.findings);
    assert!(
        r.findings.iter().any(|f| f.id == "TEN067"
            && f.message.contains("key_view")
            && f.message.contains("catalogue_names()")),
        "{:#?}",
        r.findings
    );
    assert!(
        named("TEN070", "function inner_names()"),
        "{:#?}",
        r.findings
    );
    // The app's login runs it and reads the key: what the findings say.
    // Reviewed, the definer hands out only what its text shows: its owner is not acted as.
    conn.batch_execute(
        "COMMENT ON FUNCTION catalogue_names() IS 'tenancy: reviewed: returns a constant'",
    )
    .unwrap();
    let reviewed = report(&mut conn, &reg, &options);
    for (id, object) in [
        ("TEN071", "view gadget_catalogue"),
        ("TEN071", "view key_view"),
        ("TEN070", "function inner_names()"),
    ] {
        assert!(
            !present(&reviewed, id, object),
            "{id} {object}: {:#?}",
            reviewed.findings
        );
    }
    // Not runnable by the application, the same.
    conn.batch_execute(
        "COMMENT ON FUNCTION catalogue_names() IS NULL; \
         REVOKE EXECUTE ON FUNCTION catalogue_names() FROM tenancy_app, PUBLIC",
    )
    .unwrap();
    let revoked = report(&mut conn, &reg, &options);
    assert!(!revoked.has_errors(), "{:#?}", revoked.findings);
    conn.batch_execute(&format!(
        "DROP FUNCTION catalogue_names(); DROP OWNED BY {owner}; DROP ROLE {owner}"
    ))
    .unwrap();
}

/// Roles of a test's own standing for the application role (`check_<tag>_<db suffix>`, with
/// what a pool's connections run, `tenancy.open_session()`), a login of it
/// (`<role>_login`, password `<tag>`) and a group the login is not yet a member of
/// (`<role>_group`): roles are the server's, and other tests check tenancy_app's logins at the
/// same time.
#[derive(Clone)]
struct StandIn {
    role: String,
    login: String,
    group: String,
    options: CheckOptions,
}

impl StandIn {
    fn create(db: &TestDatabase, conn: &mut PgConnection, tag: &str) -> StandIn {
        let suffix = &db.database_name()[db.database_name().len() - 8..];
        let role = format!("check_{tag}_{suffix}");
        let login = format!("{role}_login");
        let group = format!("{role}_group");
        conn.batch_execute(&format!(
            "CREATE ROLE {role} NOLOGIN; GRANT USAGE ON SCHEMA tenancy TO {role}; \
             GRANT EXECUTE ON FUNCTION tenancy.open_session() TO {role}; \
             CREATE ROLE {login} LOGIN PASSWORD '{tag}' INHERIT; \
             GRANT {role} TO {login}; CREATE ROLE {group} NOLOGIN"
        ))
        .unwrap();
        let options = CheckOptions {
            app_role: role.clone(),
            ..CheckOptions::default()
        };
        StandIn {
            role,
            login,
            group,
            options,
        }
    }

    /// Drops the three roles and what they own.
    fn drop_roles(&self, conn: &mut PgConnection) {
        let StandIn {
            role, login, group, ..
        } = self;
        conn.batch_execute(&format!(
            "DROP OWNED BY {role}, {login}, {group}; DROP ROLE {login}; DROP ROLE {group}; DROP ROLE {role}"
        ))
        .unwrap();
    }
}

/// A login may cancel or end its own login's sessions; one that may act as
/// pg_signal_backend may also signal every other role's but superusers', the admin path's
/// login among them: reported as a warning (TEN115), on the member that holds the grant, and
/// cleared once it is taken back.
#[test]
fn a_login_that_may_signal_other_roles_sessions_is_reported() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let stand_in = StandIn::create(&db, &mut conn, "sig");
    let StandIn {
        login,
        group,
        options,
        ..
    } = stand_in.clone();
    conn.batch_execute(&format!("GRANT {group} TO {login}"))
        .unwrap();
    let clean = report(&mut conn, &reg, &options);
    assert!(
        clean.with_id("TEN115").next().is_none(),
        "{:#?}",
        clean.findings
    );
    conn.batch_execute(&format!("GRANT pg_signal_backend TO {group}"))
        .unwrap();
    let signalling = report(&mut conn, &reg, &options);
    let finding = signalling
        .findings
        .iter()
        .find(|f| f.id == "TEN115")
        .unwrap_or_else(|| panic!("{:#?}", signalling.findings));
    assert_eq!(finding.object, format!("role {group}"));
    assert_eq!(finding.severity, Severity::Warning);
    assert!(finding.hint.contains(&format!("FROM {group}")), "{finding}");
    conn.batch_execute(&format!("REVOKE pg_signal_backend FROM {group}"))
        .unwrap();
    let fixed = report(&mut conn, &reg, &options);
    assert!(
        fixed.with_id("TEN115").next().is_none(),
        "{:#?}",
        fixed.findings
    );
    stand_in.drop_roles(&mut conn);
}

/// The owner of the database is a member of pg_database_owner, which owns schema public: a
/// login that owns it (or can become its owner) may drop every tenant table there and create
/// its own in its place, whatever else was revoked from it. `tenancy check` reports it
/// (TEN106), and a `Tenancy` on such a login is refused when it is built.
#[test]
fn a_login_that_owns_the_database_is_reported_and_refused() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let stand_in = StandIn::create(&db, &mut conn, "dbo");
    let StandIn {
        role,
        login,
        group,
        options,
    } = stand_in.clone();
    let database = db.database_name().to_owned();
    let clean = report(&mut conn, &reg, &options);
    assert!(
        clean.with_id("TEN106").next().is_none(),
        "{:#?}",
        clean.findings
    );
    // The login owns the database, with every right of the owner's taken back but the
    // ownership itself.
    conn.batch_execute(&format!(
        "ALTER DATABASE \"{database}\" OWNER TO {login}; \
         REVOKE CREATE, TEMPORARY ON DATABASE \"{database}\" FROM {login}; \
         REVOKE CREATE ON SCHEMA public FROM pg_database_owner"
    ))
    .unwrap();
    let owned = report(&mut conn, &reg, &options);
    let finding = owned
        .findings
        .iter()
        .find(|f| f.id == "TEN106" && f.object == format!("database {database}"))
        .unwrap_or_else(|| panic!("{:#?}", owned.findings));
    assert!(finding.message.contains(&login), "{finding}");
    assert!(finding.hint.contains("ALTER DATABASE"), "{finding}");
    let built = db
        .tenancy_builder(&db.url_for(&login, "dbo"))
        .unwrap()
        .config(tenancy_schema::TenancyConfig::default().app_role(role.parse().unwrap()))
        .max_size(1)
        .build();
    match built {
        Err(tenancy_schema::Error::UnsafeRole {
            login: refused,
            problem,
            fix,
            ..
        }) => {
            assert_eq!(refused, login);
            assert!(problem.contains("owner of the database"), "{problem}");
            assert!(fix.contains("ALTER DATABASE"), "{fix}");
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a login that owns the database was accepted"),
    }
    // A role the login can become owns it: the same.
    conn.batch_execute(&format!(
        "ALTER DATABASE \"{database}\" OWNER TO {group}; GRANT {group} TO {login}"
    ))
    .unwrap();
    let through = report(&mut conn, &reg, &options);
    assert!(
        through
            .findings
            .iter()
            .any(|f| f.id == "TEN106" && f.message.contains(&group)),
        "{:#?}",
        through.findings
    );
    // A superuser the login can become owns it: TEN065 names the superuser, the database's
    // ownership being the lesser of its powers, and TEN106 the ownership.
    let superuser = format!("{role}_su");
    conn.batch_execute(&format!(
        "CREATE ROLE {superuser} SUPERUSER NOLOGIN; REVOKE {group} FROM {login}; \
         ALTER DATABASE \"{database}\" OWNER TO {superuser}; GRANT {superuser} TO {login}"
    ))
    .unwrap();
    let superuser_owns = report(&mut conn, &reg, &options);
    assert!(
        superuser_owns.findings.iter().any(|f| f.id == "TEN065"
            && f.message.contains(&superuser)
            && f.message.contains("a superuser")),
        "{:#?}",
        superuser_owns.findings
    );
    assert!(
        superuser_owns
            .findings
            .iter()
            .any(|f| f.id == "TEN106" && f.message.contains(&superuser)),
        "{:#?}",
        superuser_owns.findings
    );
    conn.batch_execute(&format!(
        "ALTER DATABASE \"{database}\" OWNER TO CURRENT_USER; \
         GRANT CREATE ON SCHEMA public TO pg_database_owner; DROP ROLE {superuser}"
    ))
    .unwrap();
    let fixed = report(&mut conn, &reg, &options);
    assert!(
        fixed.with_id("TEN106").next().is_none(),
        "{:#?}",
        fixed.findings
    );
    stand_in.drop_roles(&mut conn);
}

/// Row code that writes where the application reads without a policy: through a sequence
/// (setval() puts a value of the row there, and `last_value` or nextval() reads it back), and
/// into a table the application may not read but a view of the superuser's shows it (TEN075).
#[test]
fn row_code_writing_into_a_readable_sequence_or_a_table_a_view_shows_is_reported() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    conn.batch_execute(
        "CREATE SEQUENCE ticket_seq; GRANT USAGE, SELECT ON SEQUENCE ticket_seq TO tenancy_app; \
         CREATE FUNCTION gadgets_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           PERFORM pg_catalog.SETVAL('public.ticket_seq', length(NEW.name)); RETURN NEW; END $$; \
         CREATE TRIGGER gadgets_touch AFTER INSERT OR UPDATE ON gadgets \
           FOR EACH ROW EXECUTE FUNCTION gadgets_touch(); \
         CREATE FUNCTION name_key(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN \
           IF $1 LIKE '%b' THEN PERFORM nextval('ticket_seq'); END IF; RETURN $1; END $$; \
         CREATE STATISTICS gadgets_name_stats ON (name_key(name)), tenant_id FROM gadgets",
    )
    .unwrap();
    let into_sequence = |r: &Report, object: &str| {
        r.findings.iter().any(|f| {
            f.id == "TEN075" && f.object.contains(object) && f.message.contains("ticket_seq")
        })
    };
    let r = report(&mut conn, &reg, &options);
    assert!(
        into_sequence(&r, "trigger gadgets_touch on gadgets"),
        "{:#?}",
        r.findings
    );
    assert!(
        into_sequence(&r, "statistics object gadgets_name_stats on gadgets"),
        "{:#?}",
        r.findings
    );
    conn.batch_execute("REVOKE ALL ON SEQUENCE ticket_seq FROM tenancy_app")
        .unwrap();
    let revoked = report(&mut conn, &reg, &options);
    assert!(
        !into_sequence(&revoked, "gadgets"),
        "{:#?}",
        revoked.findings
    );
    conn.batch_execute(
        "DROP STATISTICS gadgets_name_stats; DROP TRIGGER gadgets_touch ON gadgets; \
         CREATE TABLE change_journal (name text); GRANT INSERT ON change_journal TO tenancy_app; \
         CREATE VIEW recent_changes AS SELECT name FROM change_journal; \
         GRANT SELECT ON recent_changes TO tenancy_app; \
         CREATE FUNCTION journal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           INSERT INTO public.change_journal VALUES (NEW.name); RETURN NEW; END $$; \
         CREATE TRIGGER journal AFTER INSERT OR UPDATE ON gadgets \
           FOR EACH ROW EXECUTE FUNCTION journal();",
    )
    .unwrap();
    let journal = |r: &Report| {
        r.findings.iter().any(|f| {
            f.id == "TEN075"
                && f.object == "trigger journal on gadgets"
                && f.message.contains("change_journal")
        })
    };
    let through_view = report(&mut conn, &reg, &options);
    assert!(journal(&through_view), "{:#?}", through_view.findings);
    // Read as its caller, the view shows the application nothing it may not read itself.
    conn.batch_execute("ALTER VIEW recent_changes SET (security_invoker = true)")
        .unwrap();
    let invoker = report(&mut conn, &reg, &options);
    assert!(!journal(&invoker), "{:#?}", invoker.findings);
}

/// The restrictive isolation policy narrowed from PUBLIC to the application role, and a
/// permissive policy for another role that names the context without comparing the tenant
/// column with it: that role reads every tenant. Every role holding a privilege on the table
/// must be held by an isolation policy (TEN013), and a permissive policy that merely names
/// the context holds nothing (TEN095).
#[test]
fn every_grantee_of_a_tenant_table_is_held_by_the_isolation_policy() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let suffix = &db.database_name()[db.database_name().len() - 8..];
    let reporting = format!("check_reporting_{suffix}");
    conn.batch_execute(&format!(
        "CREATE ROLE {reporting} NOLOGIN; GRANT SELECT ON gadgets TO {reporting}; \
         ALTER POLICY tenant_isolation ON gadgets TO tenancy_app; \
         CREATE POLICY reporting ON gadgets FOR SELECT TO {reporting} \
           USING ('tenancy.tenant_id' IS NOT NULL); \
         CREATE POLICY named ON gadgets FOR SELECT TO tenancy_app \
           USING (tenancy.current_tenant() IS NOT NULL)"
    ))
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    let grantee = format!("table gadgets as role {reporting}");
    assert!(present(&r, "TEN013", &grantee), "{:#?}", r.findings);
    assert!(
        present(&r, "TEN095", "policy reporting on gadgets"),
        "{:#?}",
        r.findings
    );
    assert!(
        present(&r, "TEN095", "policy named on gadgets"),
        "{:#?}",
        r.findings
    );
    // The application role itself is held: its TEN013 is the table's own.
    assert!(
        !present(&r, "TEN013", "table gadgets as role tenancy_app"),
        "{:#?}",
        r.findings
    );
    conn.batch_execute(
        "ALTER POLICY tenant_isolation ON gadgets TO PUBLIC; DROP POLICY reporting ON gadgets; \
         DROP POLICY named ON gadgets",
    )
    .unwrap();
    let fixed = report(&mut conn, &reg, &options);
    assert!(
        !present(&fixed, "TEN013", &grantee),
        "{:#?}",
        fixed.findings
    );
    assert!(!fixed.has_errors(), "{:#?}", fixed.findings);
    conn.batch_execute(&format!("DROP OWNED BY {reporting}; DROP ROLE {reporting}"))
        .unwrap();
}

/// Policies switched to an operator `=` of schema public whose function is `uuid_ne`: printed
/// for a session that searches public before pg_catalog, they read exactly like tenancy's.
/// The check pins its own search_path (and puts the connection's back), and reports the
/// operator from the dependencies PostgreSQL records (TEN107).
#[test]
fn a_policy_on_a_lookalike_operator_is_reported_whatever_the_search_path() {
    #[derive(QueryableByName)]
    struct Path {
        #[diesel(sql_type = diesel::sql_types::Text)]
        path: String,
    }
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    conn.batch_execute(
        "CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = pg_catalog.uuid_ne); \
         ALTER POLICY tenant_isolation ON gadgets \
           USING (tenant_id OPERATOR(public.=) tenancy.current_tenant()) \
           WITH CHECK (tenant_id OPERATOR(public.=) tenancy.current_tenant()); \
         ALTER POLICY tenant_access ON gadgets \
           USING (tenant_id OPERATOR(public.=) tenancy.current_tenant()) \
           WITH CHECK (tenant_id OPERATOR(public.=) tenancy.current_tenant()); \
         SET search_path = public, pg_catalog",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &options);
    for policy in ["tenant_isolation", "tenant_access"] {
        assert!(
            r.findings.iter().any(|f| f.id == "TEN107"
                && f.object == format!("policy {policy} on gadgets")
                && f.message.contains("uuid_ne")),
            "{policy}: {:#?}",
            r.findings
        );
    }
    // Read with pg_catalog first, the policies are not the tenant equality either.
    assert!(present(&r, "TEN013", "table gadgets"), "{:#?}", r.findings);
    let path: Path = diesel::sql_query("SELECT current_setting('search_path') AS path")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(path.path, "public, pg_catalog");
    conn.batch_execute(
        "RESET search_path; \
         ALTER POLICY tenant_isolation ON gadgets USING (tenant_id = (SELECT tenancy.current_tenant())) \
           WITH CHECK (tenant_id = (SELECT tenancy.current_tenant())); \
         ALTER POLICY tenant_access ON gadgets USING (tenant_id = (SELECT tenancy.current_tenant())) \
           WITH CHECK (tenant_id = (SELECT tenancy.current_tenant())); \
         DROP OPERATOR public.= (uuid, uuid)",
    )
    .unwrap();
    let fixed = report(&mut conn, &reg, &options);
    assert!(
        fixed.with_id("TEN107").next().is_none(),
        "{:#?}",
        fixed.findings
    );
    assert!(!fixed.has_errors(), "{:#?}", fixed.findings);
}

/// An event trigger no extension owns is reported in every enabled mode (ALWAYS fires under
/// `session_replication_role = replica` too), and `tenancy check` runs none of its own DDL
/// while one is enabled: it would run the trigger with the check's rights, which read the
/// context key. A sequence the trigger advances, which no rollback puts back, counts its runs.
#[test]
fn an_event_trigger_is_reported_and_the_check_does_not_fire_it() {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = |conn: &mut PgConnection| {
        diesel::sql_query("SELECT last_value AS n FROM ddl_runs")
            .get_result::<Count>(conn)
            .unwrap()
            .n
    };
    let (_db, mut conn) = fresh();
    let options = CheckOptions {
        migrations: tenancy_foundation::migrations::FOUNDATION,
        ..CheckOptions::default()
    };
    conn.batch_execute(
        "CREATE SEQUENCE ddl_runs;
         CREATE FUNCTION ddl_runs() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN PERFORM nextval('public.ddl_runs'); END$$;
         CREATE EVENT TRIGGER ddl_runs ON ddl_command_start EXECUTE FUNCTION ddl_runs();
         ALTER EVENT TRIGGER ddl_runs ENABLE ALWAYS;",
    )
    .unwrap();
    let before = count(&mut conn);
    let r = report(&mut conn, &tenancy_schema::registry(), &options);
    assert!(
        r.findings.iter().any(|f| f.id == "TEN109"
            && f.object == "event trigger ddl_runs"
            && f.message.contains("ENABLE ALWAYS")),
        "{:#?}",
        r.findings
    );
    assert_eq!(count(&mut conn), before, "the check ran DDL");
    // Made a member of a procedural language's extension, which ships no event trigger: it is
    // hidden there, not shipped.
    conn.batch_execute(
        "ALTER EXTENSION plpgsql ADD EVENT TRIGGER ddl_runs;
         ALTER EXTENSION plpgsql ADD FUNCTION ddl_runs();",
    )
    .unwrap();
    let r = report(&mut conn, &tenancy_schema::registry(), &options);
    conn.batch_execute(
        "ALTER EXTENSION plpgsql DROP EVENT TRIGGER ddl_runs;
         ALTER EXTENSION plpgsql DROP FUNCTION ddl_runs();",
    )
    .unwrap();
    assert!(
        present(&r, "TEN109", "event trigger ddl_runs"),
        "{:#?}",
        r.findings
    );
    // Made a member of another extension after that extension was created: added to hide it,
    // not made by the extension's script.
    conn.batch_execute("CREATE EXTENSION IF NOT EXISTS citext")
        .unwrap();
    conn.batch_execute(
        "ALTER EXTENSION citext ADD EVENT TRIGGER ddl_runs;
         ALTER EXTENSION citext ADD FUNCTION ddl_runs();",
    )
    .unwrap();
    let r = report(&mut conn, &tenancy_schema::registry(), &options);
    conn.batch_execute(
        "ALTER EXTENSION citext DROP EVENT TRIGGER ddl_runs;
         ALTER EXTENSION citext DROP FUNCTION ddl_runs();
         DROP EXTENSION citext;",
    )
    .unwrap();
    assert!(
        present(&r, "TEN109", "event trigger ddl_runs"),
        "{:#?}",
        r.findings
    );
    // Disabled, it runs nowhere; the check compares tenancy's functions again.
    conn.batch_execute("ALTER EVENT TRIGGER ddl_runs DISABLE")
        .unwrap();
    let r = report(&mut conn, &tenancy_schema::registry(), &options);
    assert!(
        !present(&r, "TEN109", "event trigger ddl_runs"),
        "{:#?}",
        r.findings
    );
    assert!(!r.has_errors(), "{:#?}", r.findings);
}

/// A SECURITY DEFINER function hands its owner's rights to whoever runs it, and PostgreSQL
/// runs some without asking for EXECUTE at all: a trigger's function, an aggregate's support
/// functions (checked against the aggregate's owner). Its owner may be a role that skips row
/// level security, or becomes one (CREATEROLE grants itself the admin role, ADMIN OPTION on
/// it, a function that reads the server's files, a table it owns): each is reported as a role
/// the application becomes (TEN065), whatever the function's text says, and clears once the
/// function is gone. A definer's text names tables as PostgreSQL resolves them, folding
/// unquoted names, and one it cannot read (`U&"…"`) may name any (TEN070).
#[test]
fn security_definer_owners_reached_without_execute_or_skipping_row_security_are_reported() {
    struct DefinerCase {
        id: &'static str,
        /// In the finding's message: the function, or what it reads.
        names: &'static str,
        /// As the superuser; `{r}` is a role of the case's own.
        breaks: &'static str,
        fix: &'static str,
    }
    const TRIGGER: &str = "CREATE FUNCTION public.gadgets_stamp() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $f$DECLARE k bytea; BEGIN SELECT key INTO k FROM TENANCY.CONTEXT_KEY; RETURN NEW; END$f$; ALTER FUNCTION public.gadgets_stamp() OWNER TO {r}; REVOKE EXECUTE ON FUNCTION public.gadgets_stamp() FROM PUBLIC; CREATE TRIGGER gadgets_stamp BEFORE INSERT ON gadgets FOR EACH ROW EXECUTE FUNCTION public.gadgets_stamp()";
    const GRANTS_ADMIN: &str = "CREATE FUNCTION public.request_support_access() RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $f$BEGIN GRANT tenancy_admin TO SESSION_USER; RETURN 'granted'; END$f$; ALTER FUNCTION public.request_support_access() OWNER TO {r}";
    let cases = [
        // A trigger its writes fire, EXECUTE revoked: its owner may read the key.
        DefinerCase {
            id: "TEN065",
            names: "gadgets_stamp()",
            breaks: "GRANT USAGE ON SCHEMA tenancy TO {r}; GRANT SELECT ON tenancy.context_key TO {r}; TRIGGER",
            fix: "DROP TRIGGER gadgets_stamp ON gadgets; DROP FUNCTION public.gadgets_stamp()",
        },
        DefinerCase {
            id: "TEN067",
            names: "gadgets_stamp()",
            breaks: "GRANT USAGE ON SCHEMA tenancy TO {r}; GRANT SELECT ON tenancy.context_key TO {r}; TRIGGER",
            fix: "DROP TRIGGER gadgets_stamp ON gadgets; DROP FUNCTION public.gadgets_stamp()",
        },
        // Its owner reads every table through pg_read_all_data.
        DefinerCase {
            id: "TEN065",
            names: "gadgets_stamp()",
            breaks: "GRANT pg_read_all_data TO {r}; TRIGGER",
            fix: "DROP TRIGGER gadgets_stamp ON gadgets; DROP FUNCTION public.gadgets_stamp()",
        },
        // An aggregate's state function, EXECUTE on it revoked: the aggregate runs it.
        DefinerCase {
            id: "TEN065",
            names: "fold_step(text,text)",
            breaks: "GRANT USAGE ON SCHEMA tenancy TO {r}; GRANT SELECT ON tenancy.context_key TO {r}; CREATE FUNCTION public.fold_step(acc text, x text) RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $f$DECLARE k bytea; BEGIN SELECT key INTO k FROM tenancy.context_key; RETURN encode(k, 'hex'); END$f$; ALTER FUNCTION public.fold_step(text, text) OWNER TO {r}; CREATE AGGREGATE public.fold(text) (SFUNC = public.fold_step, STYPE = text); REVOKE EXECUTE ON FUNCTION public.fold_step(text, text) FROM PUBLIC",
            fix: "DROP AGGREGATE public.fold(text); DROP FUNCTION public.fold_step(text, text)",
        },
        // CREATEROLE grants the session's login the admin role.
        DefinerCase {
            id: "TEN065",
            names: "request_support_access()",
            breaks: "ALTER ROLE {r} CREATEROLE; GRANTS_ADMIN",
            fix: "DROP FUNCTION public.request_support_access(); ALTER ROLE {r} NOCREATEROLE",
        },
        // So does ADMIN OPTION on it, even NOINHERIT.
        DefinerCase {
            id: "TEN065",
            names: "request_support_access()",
            breaks: "ALTER ROLE {r} NOINHERIT; GRANT tenancy_admin TO {r} WITH ADMIN OPTION; GRANTS_ADMIN",
            fix: "DROP FUNCTION public.request_support_access(); REVOKE tenancy_admin FROM {r}",
        },
        // A table's data file holds every tenant's rows.
        DefinerCase {
            id: "TEN065",
            names: "read_asset(text)",
            breaks: "GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO {r}; CREATE FUNCTION public.read_asset(p text) RETURNS bytea LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT pg_read_binary_file(p)'; ALTER FUNCTION public.read_asset(text) OWNER TO {r}",
            fix: "DROP FUNCTION public.read_asset(text); REVOKE EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) FROM {r}",
        },
        DefinerCase {
            id: "TEN065",
            names: "read_report(text)",
            breaks: "GRANT pg_read_server_files TO {r}; CREATE FUNCTION public.read_report(p text) RETURNS bytea LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT pg_read_binary_file(p)'; ALTER FUNCTION public.read_report(text) OWNER TO {r}",
            fix: "DROP FUNCTION public.read_report(text); REVOKE pg_read_server_files FROM {r}",
        },
        // The owner of the tenant table, whatever the body names.
        DefinerCase {
            id: "TEN065",
            names: "gadget_maintenance()",
            breaks: "ALTER TABLE gadgets OWNER TO {r}; CREATE FUNCTION public.gadget_maintenance() RETURNS text LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $f$SELECT 'tidy'::text$f$; ALTER FUNCTION public.gadget_maintenance() OWNER TO {r}",
            fix: "DROP FUNCTION public.gadget_maintenance(); ALTER TABLE gadgets OWNER TO CURRENT_USER",
        },
        // Names as PostgreSQL resolves them.
        DefinerCase {
            id: "TEN070",
            names: "reads gadgets",
            breaks: "GRANT SELECT ON gadgets TO {r}; CREATE FUNCTION public.gadget_names() RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $f$BEGIN RETURN QUERY SELECT name FROM GADGETS; END$f$; ALTER FUNCTION public.gadget_names() OWNER TO {r}",
            fix: "DROP FUNCTION public.gadget_names()",
        },
        DefinerCase {
            id: "TEN070",
            names: "reads gadgets",
            breaks: "GRANT SELECT ON gadgets TO {r}; CREATE FUNCTION public.gadget_names() RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $f$BEGIN RETURN QUERY SELECT name FROM Public.Gadgets; END$f$; ALTER FUNCTION public.gadget_names() OWNER TO {r}",
            fix: "DROP FUNCTION public.gadget_names()",
        },
        DefinerCase {
            id: "TEN070",
            names: "Unicode-escaped",
            breaks: "GRANT SELECT ON gadgets TO {r}; CREATE FUNCTION public.gadget_names() RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $f$BEGIN RETURN QUERY SELECT name FROM U&\"gadg\\0065ts\"; END$f$; ALTER FUNCTION public.gadget_names() OWNER TO {r}",
            fix: "DROP FUNCTION public.gadget_names()",
        },
    ];
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let suffix = &db.database_name()[db.database_name().len() - 8..];
    let named = |r: &Report, case: &DefinerCase| {
        r.findings
            .iter()
            .any(|f| f.id == case.id && f.message.contains(case.names))
    };
    for (n, case) in cases.iter().enumerate() {
        let role = format!("check_definer_run_{n}_{suffix}");
        let sql = |s: &str| {
            s.replace("TRIGGER;", "")
                .replace("; TRIGGER", &format!("; {TRIGGER}"))
                .replace("; GRANTS_ADMIN", &format!("; {GRANTS_ADMIN}"))
                .replace("{r}", &role)
        };
        conn.batch_execute(&format!("CREATE ROLE {role} NOLOGIN"))
            .unwrap();
        let before = report(&mut conn, &reg, &options);
        assert!(
            !named(&before, case),
            "{} {} before breaking",
            case.id,
            case.names
        );
        conn.batch_execute(&sql(case.breaks))
            .unwrap_or_else(|e| panic!("{} {}: {e}", case.id, case.names));
        let broken = report(&mut conn, &reg, &options);
        assert!(
            named(&broken, case),
            "{} {} not reported: {:#?}",
            case.id,
            case.names,
            broken.findings
        );
        let finding = broken
            .findings
            .iter()
            .find(|f| f.id == case.id && f.message.contains(case.names))
            .unwrap();
        assert_eq!(finding.severity, Severity::Error, "{finding:#?}");
        conn.batch_execute(&sql(case.fix))
            .unwrap_or_else(|e| panic!("{} {} fix: {e}", case.id, case.names));
        let fixed = report(&mut conn, &reg, &options);
        assert!(
            !named(&fixed, case),
            "{} {} still reported after the fix: {:#?}",
            case.id,
            case.names,
            fixed.findings
        );
        conn.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
            .unwrap();
    }
    let left = report(&mut conn, &reg, &options);
    assert!(!left.has_errors(), "{:#?}", left.findings);
}

/// A tenant table's foreign key into a global table leaves each writer's transaction id in
/// the referenced row's `xmax`: the key's check locks that row `FOR KEY SHARE`, and row
/// locks are written into the row. With `SELECT` on the global table, which covers its
/// system columns, tenant A reads which plan tenant B's new gadget points at, and when
/// (TEN111); granted column by column, `xmax` is refused and the lint is silent. A view that
/// shows `xmax` with its owner's rights opens it again; one run with the reader's rights
/// does not.
#[test]
fn a_global_row_a_tenant_key_locks_shows_its_writer_in_xmax() {
    #[derive(QueryableByName, Debug)]
    struct Xid {
        #[diesel(sql_type = diesel::sql_types::Text)]
        xid: String,
    }
    #[derive(QueryableByName, Debug)]
    struct Lock {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        xmax: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        status: Option<String>,
    }
    const FREE: &str = "00000000-0000-7000-8000-00000000f4ee";
    const PRO: &str = "00000000-0000-7000-8000-000000000940";
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let a = tenancy_schema::TenantId::new_v7();
    let b = tenancy_schema::TenantId::new_v7();
    conn.batch_execute(&format!(
        "INSERT INTO tenants (id, slug, name) VALUES ('{a}', 'xmax-a-{sa}', 'A'), ('{b}', 'xmax-b-{sb}', 'B');
         ALTER TABLE gadgets ADD COLUMN plan_id uuid CONSTRAINT gadgets_plan_fk REFERENCES plans;
         INSERT INTO plans VALUES ('{FREE}', 'free'), ('{PRO}', 'pro');",
        a = a.as_uuid(),
        b = b.as_uuid(),
        sa = a.as_uuid().simple(),
        sb = b.as_uuid().simple(),
    ))
    .unwrap();
    // Granted column by column (create_gadgets): nothing to report.
    let clean = report(&mut conn, &reg, &options);
    assert!(
        clean.with_id("TEN111").next().is_none() && clean.with_id("TEN052").next().is_none(),
        "{:#?}",
        clean.findings
    );
    // A table grant, as `GRANT SELECT ON plans` is usually written.
    conn.batch_execute("GRANT SELECT ON plans TO tenancy_app")
        .unwrap();
    let open = report(&mut conn, &reg, &options);
    let finding = open
        .findings
        .iter()
        .find(|f| f.id == "TEN111" && f.object == "table plans")
        .unwrap_or_else(|| panic!("{:#?}", open.findings));
    assert_eq!(finding.severity, Severity::Error);
    assert!(finding.message.contains("`gadgets`"), "{finding}");
    assert!(finding.message.contains("tenancy_app"), "{finding}");
    assert!(
        finding
            .hint
            .contains("GRANT SELECT (id, name) ON plans TO tenancy_app"),
        "{finding}"
    );

    // The leak, as the application's login in real tenant transactions: B adds a gadget on
    // the pro plan, and A reads B's transaction id off the plan's row.
    let login = db
        .create_app_login("tenancy_check_xmax", "xmax")
        .expect("login");
    let t = db.tenancy(&login, 2).expect("tenancy");
    let written: Vec<Xid> = t
        .transaction(b, |tx| {
            tx.execute(diesel::sql_query(format!(
                "INSERT INTO gadgets (tenant_id, name, plan_id) VALUES (tenancy.current_tenant(), 'b-gadget', '{PRO}')"
            )))?;
            tx.load_sql(diesel::sql_query(
                "SELECT pg_current_xact_id()::text AS xid",
            ))
        })
        .expect("B inserts");
    let read_xmax = |t: &tenancy_schema::Tenancy| -> tenancy_schema::Result<Vec<Lock>> {
        t.transaction(a, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT name, xmax::text AS xmax, pg_xact_status(xmax::text::xid8) AS status FROM plans ORDER BY name",
            ))
        })
    };
    let seen = read_xmax(&t).expect("A reads the plans' xmax");
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (free, pro) = (&seen[0], &seen[1]);
    assert_eq!((free.name.as_str(), pro.name.as_str()), ("free", "pro"));
    assert_eq!(free.xmax, "0", "{seen:?}");
    assert_eq!(pro.xmax, written[0].xid, "A sees B's transaction: {seen:?}");
    assert_eq!(pro.status.as_deref(), Some("committed"), "{seen:?}");
    // A sees none of B's gadgets itself: only the lock tells.
    let gadgets: Vec<Xid> = t
        .transaction(a, |tx| {
            tx.load_sql(diesel::sql_query("SELECT id::text AS xid FROM gadgets"))
        })
        .expect("A reads its gadgets");
    assert!(gadgets.is_empty(), "{gadgets:?}");

    // The fix: column grants, which leave the system columns out.
    conn.batch_execute(
        "REVOKE SELECT ON plans FROM tenancy_app; GRANT SELECT (id, name) ON plans TO tenancy_app",
    )
    .unwrap();
    let refused = read_xmax(&t).expect_err("xmax is refused");
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );
    let names: Vec<Xid> = t
        .transaction(a, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT name AS xid FROM plans ORDER BY name",
            ))
        })
        .expect("A still reads the plans' columns");
    assert_eq!(names.len(), 2);
    let fixed = report(&mut conn, &reg, &options);
    assert!(
        fixed.with_id("TEN111").next().is_none() && fixed.with_id("TEN052").next().is_none(),
        "{:#?}",
        fixed.findings
    );

    // A view that shows xmax with its owner's rights hands it out again; read with the
    // reader's rights, it is refused like the column.
    conn.batch_execute(
        "CREATE VIEW plan_locks AS SELECT id, xmax AS locked_by FROM plans; GRANT SELECT ON plan_locks TO tenancy_app",
    )
    .unwrap();
    let through_view = report(&mut conn, &reg, &options);
    assert!(
        through_view.findings.iter().any(|f| f.id == "TEN111"
            && f.object == "table plans"
            && f.message.contains("view plan_locks")),
        "{:#?}",
        through_view.findings
    );
    conn.batch_execute("ALTER VIEW plan_locks SET (security_invoker = true)")
        .unwrap();
    let invoker = report(&mut conn, &reg, &options);
    assert!(
        invoker.with_id("TEN111").next().is_none(),
        "{:#?}",
        invoker.findings
    );
    conn.batch_execute("DROP VIEW plan_locks").unwrap();
}

/// pg_stat_statements grants its view and the function behind it to PUBLIC, and counts the
/// statements of each role: every tenant's session is the same login, so one tenant reads
/// the calls and rows of another's statements (TEN112). `CREATE EXTENSION` needs no preloaded
/// library (the view fails only when read), so the grants are checked on any server.
#[test]
fn pg_stat_statements_open_to_the_application_is_reported() {
    let (_db, mut conn) = fresh();
    let reg = tenancy_schema::registry();
    let options = CheckOptions::default();
    let before = report(&mut conn, &reg, &options);
    assert!(
        before.with_id("TEN112").next().is_none(),
        "{:#?}",
        before.findings
    );
    conn.batch_execute("CREATE EXTENSION pg_stat_statements")
        .unwrap();
    let open = report(&mut conn, &reg, &options);
    for object in [
        "view pg_stat_statements",
        "function pg_stat_statements(boolean)",
    ] {
        let finding = open
            .findings
            .iter()
            .find(|f| f.id == "TEN112" && f.object.contains(object))
            .unwrap_or_else(|| panic!("{object}: {:#?}", open.findings));
        assert_eq!(finding.severity, Severity::Error);
        assert!(
            finding
                .hint
                .contains("REVOKE SELECT ON pg_stat_statements FROM PUBLIC"),
            "{finding}"
        );
    }
    // Its info view and reset function tell nothing of a statement.
    assert!(
        !open.findings.iter().any(
            |f| f.id == "TEN112" && (f.object.contains("_info") || f.object.contains("_reset"))
        ),
        "{:#?}",
        open.findings
    );
    assert!(open.has_errors());
    conn.batch_execute(
        "REVOKE SELECT ON pg_stat_statements FROM PUBLIC; \
         REVOKE EXECUTE ON FUNCTION pg_stat_statements(boolean) FROM PUBLIC",
    )
    .unwrap();
    let closed = report(&mut conn, &reg, &options);
    assert!(
        closed.with_id("TEN112").next().is_none(),
        "{:#?}",
        closed.findings
    );
    // Granted back to the application role alone: the same.
    conn.batch_execute("GRANT SELECT ON pg_stat_statements TO tenancy_app")
        .unwrap();
    let granted = report(&mut conn, &reg, &options);
    assert!(
        present(&granted, "TEN112", "view pg_stat_statements"),
        "{:#?}",
        granted.findings
    );
    conn.batch_execute("REVOKE SELECT ON pg_stat_statements FROM tenancy_app")
        .unwrap();
    let again = report(&mut conn, &reg, &options);
    assert!(
        again.with_id("TEN112").next().is_none(),
        "{:#?}",
        again.findings
    );
    conn.batch_execute("DROP EXTENSION pg_stat_statements")
        .unwrap();
}

/// Tenant A and tenant B of the tests below, with a row of B's in `gadgets` ([`EXT_SECRET`]).
const EXT_A: &str = "00000000-0000-7000-8000-0000000000a1";
const EXT_B: &str = "00000000-0000-7000-8000-0000000000b1";
const EXT_SECRET: &str = "b-secret-zq7x";

#[derive(QueryableByName)]
struct ExtText {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// [`create_gadgets`], tenants A and B, and B's secret row; returns a login of the application
/// role (its URL), named after the database.
fn ext_fixture(db: &TestDatabase, conn: &mut PgConnection, login: &str) -> String {
    create_gadgets(conn);
    conn.batch_execute(&format!(
        "INSERT INTO tenants (id, slug, name) VALUES ('{EXT_A}', 'ext-a', 'a'), ('{EXT_B}', 'ext-b', 'b'); \
         INSERT INTO gadgets (tenant_id, name) VALUES ('{EXT_A}', 'a-own'), ('{EXT_B}', '{EXT_SECRET}')"
    ))
    .unwrap();
    let database = db.database_name();
    db.create_app_login(
        &format!("{login}_{}", &database[database.len() - 8..]),
        "ext-pw",
    )
    .expect("login")
}

/// `sql` (one text column `v`) as the application's login, outside any tenant transaction.
fn ext_as_login(url: &str, sql: &str) -> Result<Vec<String>, String> {
    let mut c = PgConnection::establish(url).map_err(|e| e.to_string())?;
    diesel::sql_query(sql)
        .load::<ExtText>(&mut c)
        .map(|v| v.into_iter().map(|x| x.v).collect())
        .map_err(|e| e.to_string())
}

/// A function added to `pg_catalog` that overloads a built-in tenancy's context reader calls
/// (`currval(text)` beside `currval(regclass)`: the reader's `currval('tenancy.nonce_hi')` hands
/// it an untyped literal, which the text overload fits better) is reported although a superuser
/// made it a member of an extension, which any object may be made; as the application's login,
/// tenant A's SQL forges B's context with it and reads B's rows. An extension's overload of a
/// built-in tenancy never calls (as Citus's `pg_cancel_backend(bigint)`) is left to it.
#[test]
fn a_catalog_overload_of_a_built_in_the_context_calls_is_reported_as_an_extension_member() {
    let (db, mut conn) = fresh();
    let url = ext_fixture(&db, &mut conn, "check_ext_currval");
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let object = "function currval(text)";
    let stand_in = |r: &Report| {
        r.findings
            .iter()
            .any(|f| f.id == "TEN086" && f.object == object && f.severity == Severity::Error)
    };
    let clean = report(&mut conn, &reg, &options);
    assert!(!clean.has_errors(), "{:#?}", clean.findings);
    conn.batch_execute(
        "CREATE FUNCTION pg_catalog.currval(seq text) RETURNS bigint LANGUAGE sql \
           AS $f$SELECT CASE WHEN current_setting('ext.magic', true) = 'on' THEN 0::bigint \
                        ELSE pg_catalog.currval(seq::regclass) END$f$; \
         ALTER EXTENSION plpgsql ADD FUNCTION pg_catalog.currval(text); \
         CREATE FUNCTION pg_catalog.pg_cancel_backend(bigint) RETURNS boolean LANGUAGE sql AS 'SELECT false'; \
         ALTER EXTENSION plpgsql ADD FUNCTION pg_catalog.pg_cancel_backend(bigint)",
    )
    .unwrap();
    let broken = report(&mut conn, &reg, &options);
    // The leak, as the application's login in tenant A's transaction.
    let t = db.tenancy(&url, 1).expect("tenancy");
    let forge = format!(
        "SELECT set_config('tenancy.context', '{EXT_B}||' || encode(sha256(convert_to('0|0|{EXT_B}|', 'UTF8')), 'hex'), true) AS v"
    );
    let read = "SELECT coalesce(string_agg(name, ','), '') AS v FROM gadgets";
    let seen: Vec<ExtText> = t
        .transaction(
            tenancy_schema::TenantId::from_uuid(uuid::Uuid::parse_str(EXT_A).unwrap()),
            |tx| {
                tx.execute(diesel::sql_query("SET LOCAL ext.magic = on"))?;
                let _: Vec<ExtText> = tx.load_sql(diesel::sql_query(&forge))?;
                tx.load_sql(diesel::sql_query(read))
            },
        )
        .expect("A's transaction");
    drop(t);
    let seen: Vec<String> = seen.into_iter().map(|x| x.v).collect();
    assert_eq!(seen, [EXT_SECRET]);
    assert!(stand_in(&broken), "{:#?}", broken.findings);
    assert!(
        !present(&broken, "TEN086", "pg_cancel_backend"),
        "{:#?}",
        broken.findings
    );
    conn.batch_execute(
        "ALTER EXTENSION plpgsql DROP FUNCTION pg_catalog.currval(text); \
         DROP FUNCTION pg_catalog.currval(text); \
         ALTER EXTENSION plpgsql DROP FUNCTION pg_catalog.pg_cancel_backend(bigint); \
         DROP FUNCTION pg_catalog.pg_cancel_backend(bigint)",
    )
    .unwrap();
    let fixed = report(&mut conn, &reg, &options);
    assert!(!stand_in(&fixed), "{:#?}", fixed.findings);
    assert!(!fixed.has_errors(), "{:#?}", fixed.findings);
}

/// Any object may be made a member of any extension by a superuser (`ALTER EXTENSION plpgsql
/// ADD VIEW ..`), which does not make it the extension's: a view over a tenant table's TOAST
/// relation is reported whatever extension it is a member of (every tenant's long values, read
/// as the application's login), and a copy of tenant rows without the tenant column is reported
/// as a member of a procedural language's extension, or of another extension when it was added
/// after the extension was created, not when the extension's own script made it.
#[test]
fn toast_views_and_copies_made_extension_members_are_reported() {
    let (db, mut conn) = fresh();
    let url = ext_fixture(&db, &mut conn, "check_ext_members");
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let clean = report(&mut conn, &reg, &options);
    assert!(!clean.has_errors(), "{:#?}", clean.findings);
    conn.batch_execute(&format!(
        "ALTER TABLE gadgets ALTER name SET STORAGE EXTERNAL; \
         INSERT INTO gadgets (tenant_id, name) SELECT '{EXT_B}', 'BTOAST' || string_agg(md5(i::text), '') FROM generate_series(1, 75) i; \
         DO $$ BEGIN EXECUTE format('CREATE VIEW toast_chunks AS SELECT chunk_id, chunk_seq, chunk_data FROM %s', \
           (SELECT reltoastrelid::regclass FROM pg_class WHERE oid = 'public.gadgets'::regclass)); END $$; \
         GRANT SELECT ON toast_chunks TO tenancy_app; \
         ALTER EXTENSION plpgsql ADD VIEW toast_chunks"
    ))
    .unwrap();
    let toast = report(&mut conn, &reg, &options);
    let chunks = ext_as_login(
        &url,
        "SELECT left(convert_from(string_agg(chunk_data, ''::bytea ORDER BY chunk_seq), 'UTF8'), 6) AS v FROM toast_chunks",
    );
    assert_eq!(chunks.as_deref(), Ok(&["BTOAST".to_owned()][..]));
    assert!(
        toast.findings.iter().any(|f| f.id == "TEN110"
            && f.object == "view toast_chunks"
            && f.severity == Severity::Error),
        "{:#?}",
        toast.findings
    );
    conn.batch_execute("ALTER EXTENSION plpgsql DROP VIEW toast_chunks; DROP VIEW toast_chunks")
        .unwrap();
    let fixed = report(&mut conn, &reg, &options);
    assert!(
        !present(&fixed, "TEN110", "toast_chunks"),
        "{:#?}",
        fixed.findings
    );
    // A copy without the tenant column, a member of plpgsql.
    conn.batch_execute(
        "CREATE TABLE gadget_names AS SELECT name FROM gadgets; GRANT SELECT ON gadget_names TO tenancy_app; \
         ALTER EXTENSION plpgsql ADD TABLE gadget_names",
    )
    .unwrap();
    let copy = report(&mut conn, &reg, &options);
    let names = ext_as_login(
        &url,
        "SELECT string_agg(name, ',' ORDER BY name) AS v FROM gadget_names",
    );
    assert!(
        names.as_ref().is_ok_and(|v| v[0].contains(EXT_SECRET)),
        "{names:?}"
    );
    assert!(
        present(&copy, "TEN054", "table gadget_names"),
        "{:#?}",
        copy.findings
    );
    conn.batch_execute("ALTER EXTENSION plpgsql DROP TABLE gadget_names")
        .unwrap();
    // hstore's: made in the transaction that created the extension, as its script would, it
    // passes as the extension's own; added in a later transaction, it is reported.
    conn.batch_execute("CREATE EXTENSION hstore; ALTER EXTENSION hstore ADD TABLE gadget_names")
        .unwrap();
    let own = report(&mut conn, &reg, &options);
    assert!(
        !present(&own, "TEN054", "gadget_names"),
        "{:#?}",
        own.findings
    );
    conn.batch_execute(
        "CREATE TABLE gadget_copy AS SELECT name FROM gadgets; GRANT SELECT ON gadget_copy TO tenancy_app",
    )
    .unwrap();
    conn.batch_execute("ALTER EXTENSION hstore ADD TABLE gadget_copy")
        .unwrap();
    let later = report(&mut conn, &reg, &options);
    assert!(
        present(&later, "TEN054", "table gadget_copy"),
        "{:#?}",
        later.findings
    );
    conn.batch_execute("DROP EXTENSION hstore CASCADE").unwrap();
    let left = report(&mut conn, &reg, &options);
    assert!(!present(&left, "TEN054", "gadget_"), "{:#?}", left.findings);
    assert!(!left.has_errors(), "{:#?}", left.findings);
}

/// A closed built-in copied under another name: a function of LANGUAGE internal runs the C
/// code its source names, and a new function is PUBLIC's to run. A copy of the server's file
/// reader (as the application's login, it finds B's row in `gadgets`' data file), of a
/// statistics counter and of a large-object function are reported as the built-ins are.
#[test]
fn internal_copies_of_closed_built_ins_are_reported() {
    let (db, mut conn) = fresh();
    let url = ext_fixture(&db, &mut conn, "check_ext_internal");
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let clean = report(&mut conn, &reg, &options);
    assert!(!clean.has_errors(), "{:#?}", clean.findings);
    let copy = |name: &str, of: &str, args: &str, ret: &str| {
        format!(
            "DO $d$ BEGIN EXECUTE format('CREATE FUNCTION public.{name}({args}) RETURNS {ret} LANGUAGE internal STRICT VOLATILE AS %L', \
               (SELECT prosrc FROM pg_proc WHERE oid = '{of}'::regprocedure)); END $d$;"
        )
    };
    conn.batch_execute(&format!(
        "{} {} {} CHECKPOINT",
        copy(
            "file_bytes",
            "pg_catalog.pg_read_binary_file(text)",
            "text",
            "bytea"
        ),
        copy(
            "rows_fetched",
            "pg_catalog.pg_stat_get_xact_tuples_fetched(oid)",
            "oid",
            "bigint"
        ),
        copy("object_bytes", "pg_catalog.lo_get(oid)", "oid", "bytea"),
    ))
    .unwrap();
    let broken = report(&mut conn, &reg, &options);
    let found = ext_as_login(
        &url,
        &format!(
            "SELECT (position(convert_to('{EXT_SECRET}', 'UTF8') IN public.file_bytes(pg_relation_filepath('gadgets'))) > 0)::text AS v"
        ),
    );
    assert_eq!(found.as_deref(), Ok(&["true".to_owned()][..]));
    let counted = ext_as_login(
        &url,
        "SELECT public.rows_fetched('gadgets'::regclass)::text AS v",
    );
    assert!(counted.is_ok(), "{counted:?}");
    let error_naming = |id: &str, name: &str| {
        broken.findings.iter().any(|f| {
            f.id == id
                && f.severity == Severity::Error
                && (f.message.contains(name) || f.hint.contains(name))
        })
    };
    assert!(
        error_naming("TEN065", "file_bytes(text)"),
        "{:#?}",
        broken.findings
    );
    assert!(
        error_naming("TEN087", "rows_fetched(oid)"),
        "{:#?}",
        broken.findings
    );
    assert!(
        error_naming("TEN083", "object_bytes(oid)"),
        "{:#?}",
        broken.findings
    );
    // Owned by the application role rather than granted: its owner may run it.
    conn.batch_execute(
        "REVOKE EXECUTE ON FUNCTION public.file_bytes(text) FROM PUBLIC; \
         ALTER FUNCTION public.file_bytes(text) OWNER TO tenancy_app",
    )
    .unwrap();
    let owned = report(&mut conn, &reg, &options);
    assert!(
        owned.findings.iter().any(|f| f.id == "TEN065"
            && f.severity == Severity::Error
            && f.message.contains("owns function file_bytes(text)")),
        "{:#?}",
        owned.findings
    );
    conn.batch_execute(
        "DROP FUNCTION public.file_bytes(text); DROP FUNCTION public.rows_fetched(oid); \
         DROP FUNCTION public.object_bytes(oid)",
    )
    .unwrap();
    let fixed = report(&mut conn, &reg, &options);
    assert!(!fixed.has_errors(), "{:#?}", fixed.findings);
}

/// `pg_walinspect`'s functions granted to the application role list the write-ahead log's
/// records of every tenant's writes (the relation, the block, the record's length): as the
/// application's login, tenant B's insert into `gadgets` shows. TEN099.
#[test]
fn the_write_ahead_log_inspector_open_to_the_application_is_reported() {
    let (db, mut conn) = fresh();
    let url = ext_fixture(&db, &mut conn, "check_ext_wal");
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let object = "function pg_get_wal_records_info(pg_lsn,pg_lsn)";
    conn.batch_execute(
        "CREATE EXTENSION pg_walinspect; \
         GRANT EXECUTE ON FUNCTION pg_get_wal_records_info(pg_lsn, pg_lsn) TO tenancy_app",
    )
    .unwrap();
    let broken = report(&mut conn, &reg, &options);
    let start = ext_as_login(&url, "SELECT pg_current_wal_lsn()::text AS v").unwrap();
    conn.batch_execute(&format!(
        "INSERT INTO gadgets (tenant_id, name) VALUES ('{EXT_B}', repeat('x', 777)); CHECKPOINT"
    ))
    .unwrap();
    let records = ext_as_login(
        &url,
        &format!(
            "SELECT count(*)::text AS v FROM pg_get_wal_records_info('{}', pg_current_wal_flush_lsn()) \
             WHERE resource_manager = 'Heap' AND block_ref LIKE '%rel %/' || pg_relation_filenode('gadgets') || ' %'",
            start[0]
        ),
    );
    assert!(records.as_ref().is_ok_and(|v| v[0] != "0"), "{records:?}");
    assert!(
        broken
            .findings
            .iter()
            .any(|f| f.id == "TEN099" && f.object == object && f.severity == Severity::Error),
        "{:#?}",
        broken.findings
    );
    conn.batch_execute("DROP EXTENSION pg_walinspect").unwrap();
    let fixed = report(&mut conn, &reg, &options);
    assert!(
        !present(&fixed, "TEN099", "pg_get_wal"),
        "{:#?}",
        fixed.findings
    );
    assert!(!fixed.has_errors(), "{:#?}", fixed.findings);
}

/// Another database of the same server, which PUBLIC may connect to as PostgreSQL ships it:
/// there a `postgres_fdw` foreign table whose user mapping for PUBLIC logs in as a superuser
/// reads this database's tenant table, every tenant's rows, as the application's login. The
/// check reads only this database; it warns of every other one the application's logins may
/// connect to (TEN113), until CONNECT is taken from PUBLIC there.
#[test]
fn other_databases_the_application_may_connect_to_are_reported() {
    let (db, mut conn) = fresh();
    let url = ext_fixture(&db, &mut conn, "check_ext_sidecar");
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST, &PLANS_MANIFEST]);
    let options = CheckOptions::default();
    let shared = tenancy_testing::shared().expect("test database server");
    let sidecar = TestDatabase::create_in(shared.url()).expect("sidecar database");
    let appdb = db.database_name().to_owned();
    let port = db
        .url()
        .rsplit('@')
        .next()
        .and_then(|h| h.split('/').next())
        .and_then(|h| h.rsplit(':').next())
        .unwrap()
        .to_owned();
    let mut side = PgConnection::establish(sidecar.url()).unwrap();
    side.batch_execute(&format!(
        "CREATE EXTENSION postgres_fdw; \
         CREATE SERVER back FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '{port}', dbname '{appdb}'); \
         CREATE USER MAPPING FOR PUBLIC SERVER back OPTIONS (user 'postgres', password_required 'false'); \
         CREATE FOREIGN TABLE all_gadgets (tenant_id uuid, name text) SERVER back OPTIONS (schema_name 'public', table_name 'gadgets'); \
         GRANT SELECT ON all_gadgets TO PUBLIC"
    ))
    .unwrap();
    let object = format!("database {}", sidecar.database_name());
    let broken = report(&mut conn, &reg, &options);
    let login_url = url.replace(
        &format!("/{appdb}"),
        &format!("/{}", sidecar.database_name()),
    );
    let read = ext_as_login(
        &login_url,
        "SELECT string_agg(name, ',' ORDER BY name) AS v FROM all_gadgets",
    );
    assert!(
        read.as_ref().is_ok_and(|v| v[0].contains(EXT_SECRET)),
        "{read:?}"
    );
    assert!(
        broken
            .findings
            .iter()
            .any(|f| f.id == "TEN113" && f.object == object && f.severity == Severity::Warning),
        "{:#?}",
        broken.findings
    );
    // Only ever a warning, the server's default database among them; no error.
    assert!(
        broken
            .findings
            .iter()
            .all(|f| f.id != "TEN113" || f.severity == Severity::Warning)
    );
    assert!(!broken.has_errors(), "{:#?}", broken.findings);
    side.batch_execute(&format!(
        "REVOKE CONNECT ON DATABASE \"{}\" FROM PUBLIC",
        sidecar.database_name()
    ))
    .unwrap();
    drop(side);
    let fixed = report(&mut conn, &reg, &options);
    assert!(
        !fixed
            .findings
            .iter()
            .any(|f| f.id == "TEN113" && f.object == object),
        "{:#?}",
        fixed.findings
    );
    assert!(ext_as_login(&login_url, "SELECT 'in' AS v").is_err());
}

/// A partitioned tenant table with its partition kept in schema `parts`, and a tenant table
/// `vault.notes` outside the checked schema with the tenant policies: each is written by the
/// application role (the partition through its parent only, without a grant of its own).
const ELSEWHERE: &str = "
CREATE TABLE widgets (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  name text NOT NULL,
  PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
CREATE SCHEMA parts;
CREATE TABLE parts.widgets_0 PARTITION OF widgets FOR VALUES WITH (MODULUS 1, REMAINDER 0);
GRANT SELECT, INSERT, UPDATE, DELETE ON widgets TO tenancy_app;
CREATE SCHEMA vault;
GRANT USAGE ON SCHEMA vault TO tenancy_app;
CREATE TABLE vault.notes (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  body text NOT NULL,
  plan_id uuid,
  PRIMARY KEY (tenant_id, id)
);
ALTER TABLE vault.notes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_access ON vault.notes TO tenancy_app
  USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
CREATE POLICY tenant_isolation ON vault.notes AS RESTRICTIVE TO PUBLIC
  USING (tenant_id = (SELECT tenancy.current_tenant())) WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
GRANT SELECT, INSERT ON vault.notes TO tenancy_app;
CREATE UNIQUE INDEX gadgets_tenant_name ON gadgets (tenant_id, name);
";

static WIDGETS_MANIFEST: TableManifest = tenant_table(
    "widgets",
    &["tenant_id", "id"],
    &["tenant_id", "id", "name"],
    &["Uuid", "Uuid", "Text"],
);

/// A btree operator class for uuid under which every two values are equal (its comparison is
/// `pg_trigger_depth`, 0 outside triggers), and an operator named `=` in schema public that
/// runs `uuid_ne`: an exclusion constraint compares the tenant column with them only in name.
const BLIND_UUID_CLASS: &str = "
CREATE FUNCTION uuid_zero(uuid, uuid) RETURNS int4 LANGUAGE internal IMMUTABLE STRICT AS 'pg_trigger_depth';
CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = uuid_ne, COMMUTATOR = OPERATOR(public.=));
CREATE OPERATOR CLASS uuid_zero_ops FOR TYPE uuid USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 public.=, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 uuid_zero(uuid, uuid);
";

#[derive(QueryableByName)]
struct Answer {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// Keys, exclusion constraints, foreign keys, cascades and row code of tables that hold tenant
/// rows outside the checked schema (a partition of a tenant table kept in another schema, which
/// rows written through its parent reach without a grant of its own; a tenant table in another
/// schema) are checked as those of the schema's own tenant tables are; and an exclusion
/// constraint covers the tenant column only with PostgreSQL's own `=` in a default operator
/// class. Each shape answers one tenant what another's rows say, or changes them: shown here
/// as the application's login for two of them.
#[test]
fn tenant_rows_in_other_schemas_get_the_key_cascade_and_row_code_rules() {
    const A: &str = "00000000-0000-7000-8000-0000000000a1";
    const B: &str = "00000000-0000-7000-8000-0000000000b1";
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let policies = tenancy_schema::policy::tenant_policies("widgets", "tenant_id", "tenancy_app");
    conn.batch_execute(&format!(
        "{ELSEWHERE}\n{policies}\n\
         INSERT INTO tenants (id, slug, name) VALUES ('{A}', 'else-a', 'a'), ('{B}', 'else-b', 'b');\n\
         INSERT INTO widgets (tenant_id, name) VALUES ('{B}', 'b-widget-secret');"
    ))
    .unwrap();
    let app_url = db
        .create_app_login("check_else_login", "check-else-pw")
        .expect("login");
    let reg = registry(&[
        &GADGETS_MANIFEST,
        &PARTS_MANIFEST,
        &PLANS_MANIFEST,
        &WIDGETS_MANIFEST,
    ]);
    let options = CheckOptions::default();
    let baseline = report(&mut conn, &reg, &options);
    assert!(!baseline.has_errors(), "{:#?}", baseline.findings);
    // (lint, object, sabotage, fix)
    let cases: [(&str, &str, String, &str); 12] = [
        (
            "TEN030",
            "key parts.widgets_0_name on parts.widgets_0",
            "CREATE UNIQUE INDEX widgets_0_name ON parts.widgets_0 (name)".into(),
            "DROP INDEX parts.widgets_0_name",
        ),
        (
            "TEN030",
            "key parts.widgets_0_excl on parts.widgets_0",
            "ALTER TABLE parts.widgets_0 ADD CONSTRAINT widgets_0_excl EXCLUDE USING btree (name WITH =)"
                .into(),
            "ALTER TABLE parts.widgets_0 DROP CONSTRAINT widgets_0_excl",
        ),
        (
            "TEN030",
            "key vault.notes_body_excl on vault.notes",
            "ALTER TABLE vault.notes ADD CONSTRAINT notes_body_excl EXCLUDE USING btree (body WITH =)"
                .into(),
            "ALTER TABLE vault.notes DROP CONSTRAINT notes_body_excl",
        ),
        (
            "TEN030",
            "key vault.notes_blind on vault.notes",
            format!(
                "{BLIND_UUID_CLASS} CREATE UNIQUE INDEX notes_blind ON vault.notes (tenant_id uuid_zero_ops, body)"
            ),
            "DROP INDEX vault.notes_blind; DROP OPERATOR FAMILY uuid_zero_ops USING btree; \
             DROP OPERATOR public.= (uuid, uuid); DROP FUNCTION uuid_zero(uuid, uuid)",
        ),
        (
            "TEN030",
            "key gadgets_excl on gadgets",
            format!(
                "{BLIND_UUID_CLASS} ALTER TABLE gadgets ADD CONSTRAINT gadgets_excl \
                 EXCLUDE USING btree (tenant_id uuid_zero_ops WITH OPERATOR(public.=), name WITH =)"
            ),
            "ALTER TABLE gadgets DROP CONSTRAINT gadgets_excl; DROP OPERATOR FAMILY uuid_zero_ops USING btree; \
             DROP OPERATOR public.= (uuid, uuid); DROP FUNCTION uuid_zero(uuid, uuid)",
        ),
        (
            "TEN101",
            "index notes_blind on vault.notes",
            "CREATE FUNCTION uuid_all_same(uuid, uuid) RETURNS integer LANGUAGE sql IMMUTABLE STRICT AS 'SELECT 0'; \
             CREATE OPERATOR CLASS uuid_blind_ops FOR TYPE uuid USING btree AS \
             OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 uuid_all_same(uuid, uuid); \
             CREATE UNIQUE INDEX notes_blind ON vault.notes (tenant_id uuid_blind_ops, body)"
                .into(),
            "DROP INDEX vault.notes_blind; DROP OPERATOR FAMILY uuid_blind_ops USING btree; DROP FUNCTION uuid_all_same(uuid, uuid)",
        ),
        (
            "TEN045",
            "foreign key widgets_0_slug on parts.widgets_0",
            "ALTER TABLE parts.widgets_0 ADD CONSTRAINT widgets_0_slug FOREIGN KEY (name) REFERENCES tenants (slug) NOT VALID"
                .into(),
            "ALTER TABLE parts.widgets_0 DROP CONSTRAINT widgets_0_slug",
        ),
        (
            "TEN045",
            "foreign key notes_slug_fk on vault.notes",
            "ALTER TABLE vault.notes ADD CONSTRAINT notes_slug_fk FOREIGN KEY (body) REFERENCES tenants (slug)"
                .into(),
            "ALTER TABLE vault.notes DROP CONSTRAINT notes_slug_fk",
        ),
        (
            "TEN046",
            "foreign key widgets_0_gadget_fk on parts.widgets_0",
            "ALTER TABLE widgets ADD COLUMN other_tenant uuid; \
             ALTER TABLE parts.widgets_0 ADD CONSTRAINT widgets_0_gadget_fk \
             FOREIGN KEY (other_tenant, name) REFERENCES gadgets (tenant_id, name)"
                .into(),
            "ALTER TABLE widgets DROP COLUMN other_tenant",
        ),
        (
            "TEN044",
            "foreign key notes_plan_fk on vault.notes",
            "ALTER TABLE vault.notes ADD CONSTRAINT notes_plan_fk FOREIGN KEY (plan_id) REFERENCES plans ON DELETE CASCADE; \
             GRANT DELETE ON plans TO tenancy_app"
                .into(),
            "ALTER TABLE vault.notes DROP CONSTRAINT notes_plan_fk; REVOKE DELETE ON plans FROM tenancy_app",
        ),
        (
            "TEN044",
            "foreign key widgets_0_plan_fk on parts.widgets_0",
            "ALTER TABLE widgets ADD COLUMN plan_id uuid; \
             ALTER TABLE parts.widgets_0 ADD CONSTRAINT widgets_0_plan_fk FOREIGN KEY (plan_id) REFERENCES plans ON DELETE CASCADE; \
             GRANT DELETE ON plans TO tenancy_app"
                .into(),
            "ALTER TABLE widgets DROP COLUMN plan_id; REVOKE DELETE ON plans FROM tenancy_app",
        ),
        (
            "TEN075",
            "trigger note_copy on vault.notes",
            "GRANT INSERT ON plans TO tenancy_app; \
             CREATE FUNCTION note_copy() RETURNS trigger LANGUAGE plpgsql AS \
             $$BEGIN INSERT INTO public.plans (id, name) VALUES (gen_random_uuid(), NEW.body); RETURN NEW; END$$; \
             CREATE TRIGGER note_copy AFTER INSERT ON vault.notes FOR EACH ROW EXECUTE FUNCTION note_copy()"
                .into(),
            "DROP TRIGGER note_copy ON vault.notes; DROP FUNCTION note_copy(); REVOKE INSERT ON plans FROM tenancy_app",
        ),
    ];
    for (id, object, breaks, fix) in &cases {
        assert!(
            !present(&report(&mut conn, &reg, &options), id, object),
            "{id} {object} before breaking"
        );
        conn.batch_execute(breaks)
            .unwrap_or_else(|e| panic!("{id} {object}: {e}"));
        let broken = report(&mut conn, &reg, &options);
        let finding = broken
            .findings
            .iter()
            .find(|f| f.id == *id && f.object.contains(object))
            .unwrap_or_else(|| panic!("{id} on {object} not reported: {:#?}", broken.findings));
        assert_eq!(finding.severity, Severity::Error, "{finding:#?}");
        conn.batch_execute(fix)
            .unwrap_or_else(|e| panic!("{id} {object} fix: {e}"));
        let fixed = report(&mut conn, &reg, &options);
        assert!(
            !present(&fixed, id, object),
            "{id} {object} still reported after the fix: {:#?}",
            fixed.findings
        );
    }
    let left = report(&mut conn, &reg, &options);
    assert!(!left.has_errors(), "{:#?}", left.findings);

    // As the application's login, in tenant A's transaction: the partition's key answers
    // whether B has a widget of a name, and the key into the tenants' slugs whether a slug
    // names a tenant.
    let tenancy = db.tenancy(&app_url, 1).expect("tenancy");
    let tenant_a = tenancy_schema::TenantId::from_uuid(uuid::Uuid::parse_str(A).unwrap());
    let in_a = |sql: &str| {
        tenancy.transaction(tenant_a, |tx| {
            let rows: Vec<Answer> = tx.load_sql(diesel::sql_query(sql))?;
            Ok::<_, tenancy_schema::Error>(rows.into_iter().map(|r| r.v).collect::<Vec<_>>())
        })
    };
    let insert_widget = |name: &str| {
        format!(
            "INSERT INTO widgets (tenant_id, name) VALUES (tenancy.current_tenant(), '{name}') RETURNING 'inserted' AS v"
        )
    };
    let case = |object: &str| cases.iter().find(|c| c.1 == object).unwrap();
    let unique_name = case("key parts.widgets_0_name on parts.widgets_0");
    conn.batch_execute(&unique_name.2).unwrap();
    assert!(in_a(&insert_widget("b-widget-secret")).is_err());
    assert!(in_a(&insert_widget("nobody-has-this")).is_ok());
    conn.batch_execute(unique_name.3).unwrap();
    let slug_key = case("foreign key notes_slug_fk on vault.notes");
    conn.batch_execute(&slug_key.2).unwrap();
    let insert_note = |body: &str| {
        format!(
            "INSERT INTO vault.notes (tenant_id, body) VALUES (tenancy.current_tenant(), '{body}') RETURNING 'inserted' AS v"
        )
    };
    assert!(in_a(&insert_note("else-b")).is_ok());
    assert!(in_a(&insert_note("no-such-slug")).is_err());
    conn.batch_execute(slug_key.3).unwrap();
}

/// The notices a session of `url` receives while it runs `sql` with `client_min_messages` at
/// `log`, which any session may choose: with auto_explain on, the plans of its statements.
fn notices_of(url: &str, sql: &str) -> Vec<String> {
    use tokio_postgres::AsyncMessage;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let received = tokio::spawn(async move {
            let mut notices = Vec::new();
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                if let AsyncMessage::Notice(notice) = message.unwrap() {
                    notices.push(notice.message().to_owned());
                }
            }
            notices
        });
        client
            .batch_execute(&format!("SET client_min_messages = log; {sql}"))
            .await
            .unwrap();
        drop(client);
        received.await.unwrap()
    })
}

/// auto_explain, preloaded as managed PostgreSQL offers it for logging slow statements, prints
/// a plan to any session that lowers its `client_min_messages`: the rows a scan's policy
/// dropped, other tenants' among them. A value that reaches the application's login is
/// reported (its role's, the database's, a grant of SET); the login's own `-1` wins over the
/// database's.
#[test]
fn auto_explain_printing_the_application_s_plans_is_reported() {
    let db = TestDatabase::start_embedded().expect("a cluster of its own");
    PgConnection::establish(db.url())
        .unwrap()
        .batch_execute("ALTER SYSTEM SET shared_preload_libraries = 'auto_explain'")
        .unwrap();
    db.restart(tenancy_testing::StopMode::Fast).unwrap();
    let mut conn = PgConnection::establish(db.url()).unwrap();
    run_migrations(&mut conn).unwrap();
    create_gadgets(&mut conn);
    conn.batch_execute(
        "INSERT INTO tenants (id, slug, name) VALUES
           ('00000000-0000-7000-8000-0000000000a1', 'ae-a', 'a'),
           ('00000000-0000-7000-8000-0000000000b1', 'ae-b', 'b');
         INSERT INTO gadgets (tenant_id, name) VALUES
           ('00000000-0000-7000-8000-0000000000b1', 'b one'),
           ('00000000-0000-7000-8000-0000000000b1', 'b two');",
    )
    .unwrap();
    let login = "ae_login";
    let url = db.create_app_login(login, "ae-password").unwrap();
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let reported = |conn: &mut PgConnection| {
        present(
            &report(conn, &reg, &CheckOptions::default()),
            "TEN090",
            "setting auto_explain.log_min_duration",
        )
    };
    // The login sees none of B's rows; the plan of a scan it chose counts them.
    let probe = "SET enable_indexscan = off; SET enable_bitmapscan = off;
                 SELECT count(*) FROM gadgets WHERE name <> ''";
    let plans = |url: &str| {
        notices_of(url, probe)
            .into_iter()
            .filter(|n| n.contains("Rows Removed by Filter"))
            .collect::<Vec<_>>()
    };
    assert!(!reported(&mut conn));
    assert!(plans(&url).is_empty());

    conn.batch_execute(&format!(
        "ALTER ROLE {login} SET auto_explain.log_min_duration = 0;
         ALTER ROLE {login} SET auto_explain.log_analyze = on"
    ))
    .unwrap();
    let shown = plans(&url);
    assert!(
        shown
            .iter()
            .any(|p| p.contains("Rows Removed by Filter: 2")),
        "{shown:?}"
    );
    assert!(reported(&mut conn));

    // The fix: the login's own -1, which also wins over the database's value.
    conn.batch_execute(&format!(
        "ALTER ROLE {login} SET auto_explain.log_min_duration = -1;
         DO $$ BEGIN
           EXECUTE format('ALTER DATABASE %I SET auto_explain.log_min_duration = 0', current_database());
           EXECUTE format('ALTER DATABASE %I SET auto_explain.log_analyze = on', current_database());
         END $$"
    ))
    .unwrap();
    assert!(plans(&url).is_empty());
    assert!(!reported(&mut conn));
    // Without it, the database's value reaches the login.
    conn.batch_execute(&format!(
        "ALTER ROLE {login} RESET auto_explain.log_min_duration"
    ))
    .unwrap();
    assert!(!plans(&url).is_empty());
    assert!(reported(&mut conn));

    // A grant of SET: the session turns it on itself, whatever its defaults.
    conn.batch_execute(&format!(
        "ALTER ROLE {login} SET auto_explain.log_min_duration = -1;
         DO $$ BEGIN
           EXECUTE format('ALTER DATABASE %I RESET ALL', current_database());
         END $$;
         GRANT SET ON PARAMETER auto_explain.log_min_duration TO tenancy_app"
    ))
    .unwrap();
    assert!(
        !notices_of(
            &url,
            &format!("SET auto_explain.log_min_duration = 0; {probe}")
        )
        .is_empty()
    );
    assert!(reported(&mut conn));
    conn.batch_execute("REVOKE SET ON PARAMETER auto_explain.log_min_duration FROM tenancy_app")
        .unwrap();
    assert!(!reported(&mut conn));
}

/// A member of the application role that cannot log in opens no session: its `BYPASSRLS`
/// reaches a session only once a login can become it, and that login is reported then.
#[test]
fn a_member_of_the_application_role_that_cannot_log_in_is_no_login_of_it() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let suffix = &db.database_name()[db.database_name().len() - 8..];
    let role = format!("check_nologin_app_{suffix}");
    let bypass = format!("check_nologin_bypass_{suffix}");
    let login = format!("check_nologin_login_{suffix}");
    let options = CheckOptions {
        app_role: role.clone(),
        ..CheckOptions::default()
    };
    conn.batch_execute(&format!(
        "CREATE ROLE {role} NOLOGIN; CREATE ROLE {bypass} NOLOGIN BYPASSRLS; \
         GRANT {role} TO {bypass}; CREATE ROLE {login} LOGIN"
    ))
    .unwrap();
    let alone = report(&mut conn, &reg, &options);
    conn.batch_execute(&format!("GRANT {bypass} TO {login}"))
        .unwrap();
    let with_login = report(&mut conn, &reg, &options);
    conn.batch_execute(&format!(
        "DROP ROLE {login}; DROP ROLE {bypass}; DROP ROLE {role}"
    ))
    .unwrap();
    assert!(
        alone.with_id("TEN065").next().is_none(),
        "{:#?}",
        alone.findings
    );
    assert!(
        present(&with_login, "TEN065", &format!("role {login}")),
        "{:#?}",
        with_login.findings
    );
}

/// Row code on a global table that reads a tenant table runs with the rights of whoever
/// writes that table: the table's owner (or the admin path) copies every tenant's rows into a
/// row every tenant reads. A column default and a trigger of a table the application does not
/// even see are each reported (TEN075), and clear once the read is gone.
#[test]
fn row_code_of_a_global_table_that_copies_tenant_rows_is_reported() {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let reg = registry(&[&GADGETS_MANIFEST, &PARTS_MANIFEST]);
    let options = CheckOptions::default();
    conn.batch_execute(
        "INSERT INTO tenants (id, slug, name) VALUES ('00000000-0000-7000-8000-0000000000b1', 'rc-b', 'b');
         INSERT INTO gadgets (tenant_id, name) VALUES ('00000000-0000-7000-8000-0000000000b1', 'b-secret');
         CREATE FUNCTION all_names() RETURNS text LANGUAGE sql AS $$ SELECT string_agg(name, '/') FROM public.gadgets $$;
         ALTER TABLE plans ALTER COLUMN name SET DEFAULT all_names();",
    )
    .unwrap();
    let defaulted = report(&mut conn, &reg, &options);
    // The owner's insert takes the default: every tenant's names, in a row the login reads.
    conn.batch_execute("INSERT INTO plans (id) VALUES (gen_random_uuid())")
        .unwrap();
    let login = db.create_app_login("row_code_login", "row-code").unwrap();
    let seen: Vec<Name> = diesel::sql_query("SELECT name FROM plans")
        .load(&mut PgConnection::establish(&login).unwrap())
        .unwrap();
    conn.batch_execute(
        "DELETE FROM plans; ALTER TABLE plans ALTER COLUMN name DROP DEFAULT;
         CREATE TABLE inbox (note text);
         CREATE FUNCTION copy_names() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO public.plans SELECT gen_random_uuid(), name FROM public.gadgets; RETURN NULL; END $$;
         CREATE TRIGGER copy_names AFTER INSERT ON inbox FOR EACH STATEMENT EXECUTE FUNCTION copy_names();",
    )
    .unwrap();
    let triggered = report(&mut conn, &reg, &options);
    // On `plans` itself: a BEFORE ROW trigger returns the row written, so what it puts there
    // is copied; an AFTER trigger that only looks is not.
    conn.batch_execute(
        "DROP TABLE inbox;
         CREATE FUNCTION name_plan() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN NEW.name := (SELECT min(name) FROM public.gadgets); RETURN NEW; END $$;
         CREATE TRIGGER name_plan BEFORE INSERT ON plans FOR EACH ROW EXECUTE FUNCTION name_plan();
         CREATE FUNCTION plan_in_use() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN PERFORM FROM public.gadgets LIMIT 1; RETURN NULL; END $$;
         CREATE TRIGGER plan_in_use AFTER DELETE ON plans FOR EACH ROW EXECUTE FUNCTION plan_in_use();",
    )
    .unwrap();
    let on_plans = report(&mut conn, &reg, &options);
    conn.batch_execute(
        "DROP TRIGGER name_plan ON plans; DROP TRIGGER plan_in_use ON plans;
         DROP FUNCTION name_plan(); DROP FUNCTION plan_in_use();
         DROP FUNCTION copy_names(); DROP FUNCTION all_names()",
    )
    .unwrap();
    let fixed = report(&mut conn, &reg, &options);
    assert_eq!(
        seen.into_iter().map(|n| n.name).collect::<Vec<_>>(),
        ["b-secret"]
    );
    assert!(
        present(&defaulted, "TEN075", "the default of column name on plans"),
        "{:#?}",
        defaulted.findings
    );
    assert!(
        present(&triggered, "TEN075", "trigger copy_names on inbox"),
        "{:#?}",
        triggered.findings
    );
    assert!(
        present(&on_plans, "TEN075", "trigger name_plan on plans"),
        "{:#?}",
        on_plans.findings
    );
    assert!(
        !present(&on_plans, "TEN075", "trigger plan_in_use on plans"),
        "{:#?}",
        on_plans.findings
    );
    assert!(
        fixed.with_id("TEN075").next().is_none(),
        "{:#?}",
        fixed.findings
    );
}

/// `widgets` of an application whose tenants' rows carry `account_id`, declared global as
/// `tenancy print-schema` once wrote it for any table without `tenant_id`.
static ACCOUNT_WIDGETS_AS_GLOBAL: TableManifest = TableManifest {
    table: "widgets",
    kind: TableKind::Global,
    tenant_column: None,
    primary_key: &["account_id", "id"],
    indexes: &[],
    uniques: &[],
    foreign_keys: &[],
    columns: &["account_id", "id", "name"],
    column_types: &["Uuid", "Uuid", "Text"],
};

/// A tenant column named otherwise (`account_id REFERENCES tenants`) makes a tenant table
/// whatever the code declares it: `print-schema` classifies it so, a `#[global_table]`
/// declaration is a conflict, and a copy that kept the column, without a key to say whose
/// rows it holds, is checked as a tenant table too. Each was a leak the check did not report
/// (typed queries of a table declared global read every tenant's rows).
#[test]
fn tables_whose_tenant_column_is_named_otherwise_are_tenant_tables_whatever_the_code_says() {
    let (_db, mut conn) = fresh();
    create_gadgets(&mut conn);
    conn.batch_execute(
        "CREATE TABLE widgets (account_id uuid NOT NULL REFERENCES tenants (id), \
           id uuid NOT NULL DEFAULT gen_random_uuid(), name text NOT NULL, PRIMARY KEY (account_id, id)); \
         GRANT SELECT ON widgets TO tenancy_app; \
         CREATE TABLE widget_exports (account_id uuid NOT NULL, name text NOT NULL); \
         GRANT SELECT ON widget_exports TO tenancy_app; \
         CREATE TABLE tenant_profiles (id uuid PRIMARY KEY REFERENCES tenants (id), billing text); \
         GRANT SELECT ON tenant_profiles TO tenancy_app; \
         CREATE TABLE labels (id uuid PRIMARY KEY, name text NOT NULL); \
         GRANT SELECT ON labels TO tenancy_app; \
         CREATE TABLE feed_store (owner uuid, name text); \
         CREATE VIEW widget_feed AS SELECT owner AS tenant_id, name FROM feed_store; \
         GRANT SELECT ON widget_feed TO tenancy_app;",
    )
    .unwrap();
    let options = CheckOptions::default();
    let derived = check::derive_classification(&mut conn, &options).unwrap();
    let widgets = derived.iter().find(|d| d.table == "widgets").unwrap();
    assert_eq!(
        widgets.attribute(),
        "#[tenancy_schema::tenant_scoped(tenant_column = account_id)]"
    );
    assert!(
        !derived
            .iter()
            .find(|d| d.table == "labels")
            .unwrap()
            .tenant_scoped
    );

    let r = report(
        &mut conn,
        &registry(&[
            &GADGETS_MANIFEST,
            &PARTS_MANIFEST,
            &PLANS_MANIFEST,
            &ACCOUNT_WIDGETS_AS_GLOBAL,
        ]),
        &options,
    );
    for (id, object) in [
        ("TEN051", "table widgets"),
        ("TEN010", "table widgets"),
        ("TEN010", "table widget_exports"),
        ("TEN010", "table tenant_profiles"),
    ] {
        assert!(present(&r, id, object), "{id} {object}: {:#?}", r.findings);
    }
    // One row per tenant names nobody else's tenant: a global table with an `id` stays
    // what it was (no model classifies it).
    assert!(!present(&r, "TEN010", "table labels"), "{:#?}", r.findings);
    assert!(present(&r, "TEN054", "table labels"), "{:#?}", r.findings);
    // A view of the checked schema that calls a column `tenant_id` is not therefore some
    // other rule's: what it shows is placed by no rule.
    assert!(
        present(&r, "TEN054", "view widget_feed"),
        "{:#?}",
        r.findings
    );
}

/// Names and objects that are valid PostgreSQL but once stopped the check or gave a false
/// error: a table name that is no regular expression (the check built patterns from names
/// and failed on the parenthesis), an aggregate (`internal` by construction, not native code
/// of its own: TEN114 flagged every `CREATE AGGREGATE`).
#[test]
fn odd_but_valid_objects_are_checked_not_fatal() {
    let (_db, mut conn) = fresh();
    conn.batch_execute(
        r#"CREATE TABLE "notes(v2" (tenant_id uuid NOT NULL REFERENCES tenants (id), id int,
             user_id uuid REFERENCES users (id), PRIMARY KEY (tenant_id, id));
           GRANT SELECT, INSERT ON "notes(v2" TO tenancy_app;
           CREATE AGGREGATE my_sum(int) (SFUNC = int4pl, STYPE = int);
           CREATE TYPE note_span AS RANGE (subtype = text);"#,
    )
    .unwrap();
    let r = check::run(&mut conn, &registry(&[]), &CheckOptions::default())
        .unwrap_or_else(|e| panic!("the check stopped: {e}"));
    // The table is unprotected: reported under its own name, not a failed pattern.
    assert!(
        r.findings.iter().any(|f| f.object.contains("notes(v2")),
        "{:#?}",
        r.findings
    );
    assert!(!present(&r, "TEN114", "my_sum"), "{:#?}", r.findings);
    // Nor the constructors PostgreSQL makes with a range type (`note_span(text,text)`, ..).
    assert!(
        !r.findings.iter().any(|f| f.id == "TEN114"),
        "{:#?}",
        r.findings
    );
}

/// A database tenancy's migrations never ran, with a trigger: the check reports what is
/// missing instead of failing to read a comparison with schema `tenancy` that is NULL.
#[test]
fn a_database_without_schema_tenancy_is_reported_not_fatal() {
    let shared = tenancy_testing::shared().expect("test database server");
    let db = TestDatabase::create_in(shared.url()).expect("fresh database");
    let mut conn = PgConnection::establish(db.url()).expect("connect");
    conn.batch_execute(
        "CREATE TABLE posts (tenant_id uuid NOT NULL, id int, title text);
         CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
         CREATE TRIGGER touch BEFORE UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION touch();",
    )
    .unwrap();
    let r = check::run(&mut conn, &registry(&[]), &CheckOptions::default())
        .unwrap_or_else(|e| panic!("the check stopped: {e}"));
    assert!(r.has_errors(), "{:#?}", r.findings);
}

/// A tenant column whose name PostgreSQL prints quoted (`"OrgId"`), under exactly the policies
/// a tenant table needs: no error. Its isolation policy was once not recognised (TEN013).
#[test]
fn a_tenant_column_that_needs_quoting_is_recognised_in_policies() {
    let (_db, mut conn) = fresh();
    conn.batch_execute(
        r#"CREATE TABLE orgs ("OrgId" uuid NOT NULL REFERENCES tenants (id), id int, PRIMARY KEY ("OrgId", id));
           ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
           GRANT SELECT, INSERT, UPDATE, DELETE ON orgs TO tenancy_app;
           CREATE POLICY tenant_access ON orgs FOR ALL TO tenancy_app
             USING ("OrgId" = (SELECT tenancy.current_tenant()))
             WITH CHECK ("OrgId" = (SELECT tenancy.current_tenant()));
           CREATE POLICY tenant_isolation ON orgs AS RESTRICTIVE FOR ALL TO PUBLIC
             USING ("OrgId" = (SELECT tenancy.current_tenant()))
             WITH CHECK ("OrgId" = (SELECT tenancy.current_tenant()));"#,
    )
    .unwrap();
    let r = report(&mut conn, &registry(&[]), &CheckOptions::default());
    let on_orgs: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.object == "table orgs" && f.severity == Severity::Error)
        .collect();
    assert!(on_orgs.is_empty(), "{on_orgs:#?}");
}

/// Drops the roles a test made, which outlive its database.
struct DropRoles(Vec<String>);

impl DropRoles {
    /// The roles `fixed` and `more`, dropped when the value is.
    fn of(fixed: &[&str], more: &[String]) -> Self {
        DropRoles(
            fixed
                .iter()
                .map(|r| (*r).to_owned())
                .chain(more.iter().cloned())
                .collect(),
        )
    }
}

impl Drop for DropRoles {
    fn drop(&mut self) {
        let shared = tenancy_testing::shared().expect("test database server");
        if let Ok(mut conn) = PgConnection::establish(shared.url()) {
            for role in &self.0 {
                let _ = conn.batch_execute(&format!("DROP ROLE IF EXISTS {role}"));
            }
        }
    }
}

/// An application role atop a lattice of memberships 30 levels deep, two roles a level, each a
/// member of both roles of the next, with a BYPASSRLS role under the last: 2^30 ways down.
/// Each role is reached once, by a shortest way, and the one that skips row level security is
/// reported; walked way by way the check never finished (the time limit below turns that
/// into a failure here).
#[test]
fn a_lattice_of_memberships_is_walked_role_by_role() {
    const LEVELS: usize = 30;
    let (_db, mut conn) = fresh();
    let (lattice, roles_sql) = tenancy_testing::membership_lattice("check_lattice", LEVELS);
    let _roles = DropRoles::of(&["check_lattice_app", "check_lattice_bypass"], &lattice);
    let mut setup = String::from(
        "CREATE ROLE check_lattice_app NOLOGIN; CREATE ROLE check_lattice_bypass NOLOGIN BYPASSRLS;\n",
    );
    setup.push_str(&roles_sql);
    let last = LEVELS - 1;
    setup.extend([format!(
        "GRANT check_lattice_bypass TO check_lattice_{last}_0, check_lattice_{last}_1;
         GRANT check_lattice_0_0, check_lattice_0_1 TO check_lattice_app;
         SET statement_timeout = '60s';"
    )]);
    conn.batch_execute(&setup).unwrap();
    let options = CheckOptions {
        app_role: "check_lattice_app".to_owned(),
        ..CheckOptions::default()
    };
    let r = check::run(&mut conn, &registry(&[]), &options)
        .unwrap_or_else(|e| panic!("the check stopped: {e}"));
    let bypass: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.id == "TEN065" && f.message.contains("`check_lattice_bypass`"))
        .collect();
    assert_eq!(bypass.len(), 1, "{bypass:#?}");
    // The application role, one role a level, the BYPASSRLS role.
    let way = format!(
        "check_lattice_app -> {} -> check_lattice_bypass",
        (0..LEVELS)
            .map(|level| format!("check_lattice_{level}_0"))
            .collect::<Vec<_>>()
            .join(" -> ")
    );
    assert!(bypass[0].message.contains(&way), "{}", bypass[0].message);
}

/// A chain of views 30 deep, each reading the two before it twice over: the last expands to
/// over a million scans of its table, which planning cannot hold in memory (the server's
/// memory ran out where the check used to read it). The check does not read such a view; the
/// application role may, so the copy of the key it cannot rule out is reported. A small view
/// of the same table is read as before.
#[test]
fn a_view_too_big_to_plan_is_reported_not_read() {
    let (_db, mut conn) = fresh();
    conn.batch_execute(
        "CREATE TABLE key_notes (note text);
         INSERT INTO key_notes SELECT encode(key, 'hex') FROM tenancy.context_key;
         CREATE VIEW key_notes_0 AS SELECT note FROM key_notes;
         CREATE VIEW key_notes_1 AS SELECT note FROM key_notes;
         DO $$ BEGIN
           FOR i IN 2..30 LOOP
             EXECUTE format('CREATE VIEW key_notes_%s AS SELECT note FROM key_notes_%s UNION ALL SELECT note FROM key_notes_%s', i, i - 1, i - 2);
           END LOOP;
         END $$;
         GRANT SELECT ON key_notes_3, key_notes_30 TO tenancy_app;
         SET statement_timeout = '60s';",
    )
    .unwrap();
    let r = check::run(&mut conn, &registry(&[]), &CheckOptions::default())
        .unwrap_or_else(|e| panic!("the check stopped: {e}"));
    let about = |view: &str| -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.id == "TEN067" && f.message.contains(&format!("SELECT on {view}")))
            .map(|f| f.message.clone())
            .collect()
    };
    let small = about("key_notes_3 ");
    assert!(
        small.len() == 1 && small[0].contains("holds a copy of tenancy.context_key"),
        "{small:#?}"
    );
    let big = about("key_notes_30,");
    assert!(
        big.len() == 1 && big[0].contains("too big for the check to read"),
        "{big:#?}"
    );
    conn.batch_execute("REVOKE SELECT ON key_notes_30 FROM tenancy_app")
        .unwrap();
    let r = check::run(&mut conn, &registry(&[]), &CheckOptions::default())
        .unwrap_or_else(|e| panic!("the check stopped: {e}"));
    assert!(
        !r.findings
            .iter()
            .any(|f| f.message.contains("too big for the check to read")),
        "{:#?}",
        r.findings
    );
}

/// Hints name tables, columns and policies as PostgreSQL reads them back: `Gadgets` unquoted
/// is `gadgets`, and `user` is a keyword. Each hint below is run as it stands and clears its
/// finding.
#[test]
fn hints_run_as_written_on_names_that_need_quoting() {
    let (_db, mut conn) = fresh();
    conn.batch_execute(
        r#"CREATE TABLE "Gadgets" ("OrgId" uuid NOT NULL REFERENCES tenants (id), id int, PRIMARY KEY ("OrgId", id));
           CREATE TABLE "user" ("OrgId" uuid NOT NULL REFERENCES tenants (id), id int, PRIMARY KEY ("OrgId", id));
           GRANT SELECT ON "Gadgets", "user" TO tenancy_app;
           ALTER TABLE "Gadgets" ENABLE ROW LEVEL SECURITY;
           CREATE POLICY "Open Policy" ON "Gadgets" TO tenancy_app USING (true);"#,
    )
    .unwrap();
    let options = CheckOptions {
        tenant_column: "OrgId".to_owned(),
        ..CheckOptions::default()
    };
    let ours = |r: &Report, id: &str| -> Vec<(String, String)> {
        r.findings
            .iter()
            .filter(|f| {
                f.id == id
                    && (f.object.starts_with("table Gadgets")
                        || f.object.starts_with("table user")
                        || f.object.starts_with("policy Open Policy"))
            })
            .map(|f| (f.object.clone(), f.hint.clone()))
            .collect()
    };
    let r = report(&mut conn, &registry(&[]), &options);
    let ids = ["TEN010", "TEN011", "TEN012", "TEN013", "TEN022"];
    for id in ids {
        let found = ours(&r, id);
        assert!(!found.is_empty(), "{id}: {:#?}", r.findings);
        for (object, hint) in found {
            // TEN022's hint offers a choice: its first clause is the statement.
            let sql = hint.split(", or ").next().unwrap_or(&hint);
            conn.batch_execute(sql)
                .unwrap_or_else(|e| panic!("{id} on {object}: `{sql}` failed: {e}"));
        }
    }
    assert_eq!(
        ours(&r, "TEN010")[0].1,
        r#"ALTER TABLE "user" ENABLE ROW LEVEL SECURITY"#
    );
    let r = report(&mut conn, &registry(&[]), &options);
    for id in ids {
        assert!(ours(&r, id).is_empty(), "{id}: {:#?}", r.findings);
    }
}

/// The checked schema may be any name PostgreSQL holds, `MySchema` among them: read as the
/// name it is, never folded to `myschema` (a schema that does not exist).
#[test]
fn a_schema_whose_name_needs_quoting_is_checked() {
    let (_db, mut conn) = fresh();
    conn.batch_execute(
        r#"CREATE SCHEMA "MySchema";
           GRANT USAGE ON SCHEMA "MySchema" TO tenancy_app;
           CREATE TABLE "MySchema".notes (tenant_id uuid NOT NULL REFERENCES tenants (id), id int, PRIMARY KEY (tenant_id, id));
           GRANT SELECT ON "MySchema".notes TO tenancy_app;"#,
    )
    .unwrap();
    let options = CheckOptions {
        schema: "MySchema".to_owned(),
        ..CheckOptions::default()
    };
    let r = check::run(&mut conn, &registry(&[]), &options)
        .unwrap_or_else(|e| panic!("the check stopped: {e}"));
    assert!(
        r.findings
            .iter()
            .any(|f| f.id == "TEN010" && f.object == "table notes"),
        "{:#?}",
        r.findings
    );
}

/// A role that skips row level security, granted to the application role itself, reaches every
/// login of it: one finding, for the application role, not one more for each login (a hundred
/// logins made a hundred and one findings of a single grant).
#[test]
fn a_problem_of_the_application_role_is_reported_once_not_per_login() {
    let (_db, mut conn) = fresh();
    let logins: Vec<String> = (1..=3).map(|i| format!("check_once_login_{i}")).collect();
    let _roles = DropRoles::of(&["check_once_app", "check_once_bypass"], &logins);
    let mut setup = String::from(
        "CREATE ROLE check_once_app NOLOGIN; CREATE ROLE check_once_bypass NOLOGIN BYPASSRLS;
         GRANT check_once_bypass TO check_once_app;\n",
    );
    setup.extend(
        logins
            .iter()
            .map(|login| format!("CREATE ROLE {login} LOGIN IN ROLE check_once_app;\n")),
    );
    conn.batch_execute(&setup).unwrap();
    let options = CheckOptions {
        app_role: "check_once_app".to_owned(),
        ..CheckOptions::default()
    };
    let r = report(&mut conn, &registry(&[]), &options);
    let bypass: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.id == "TEN065" && f.message.contains("`check_once_bypass`"))
        .map(|f| f.object.as_str())
        .collect();
    assert_eq!(bypass, ["role check_once_app"], "{:#?}", r.findings);
}

/// A migrated database whose schema `tenancy` was since dropped or renamed, or whose reader of
/// the tenant was dropped with what calls it: the check reports what is missing. Comparing the
/// migrations' functions with the database used to stop it, since creating a definition whose
/// body names what was dropped fails.
#[test]
fn a_database_that_lost_tenancys_schema_or_reader_is_reported_not_fatal() {
    for breaks in [
        "DROP SCHEMA tenancy CASCADE",
        r#"ALTER SCHEMA tenancy RENAME TO "Tenancy é""#,
        "DROP FUNCTION tenancy.current_tenant() CASCADE",
    ] {
        let (_db, mut conn) = fresh();
        conn.batch_execute(GADGETS).unwrap();
        conn.batch_execute(breaks).unwrap();
        let r = check::run(&mut conn, &registry(&[]), &CheckOptions::default())
            .unwrap_or_else(|e| panic!("{breaks}: the check stopped: {e}"));
        assert!(r.has_errors(), "{breaks}: {:#?}", r.findings);
    }
}

/// Policies that hold rows to the tenant first and then add rules of their own, as PostgreSQL
/// prints them: a CASE after the AND goes on a new line, and string literals may hold the
/// words OR and SELECT. Neither is an error: the tenant equality leads, and the words are
/// data, not SQL.
#[test]
fn tenant_policies_with_rules_of_their_own_are_read_as_sql() {
    let (_db, mut conn) = fresh();
    conn.batch_execute(
        "CREATE TABLE notes (tenant_id uuid NOT NULL REFERENCES tenants (id), id int, kind text,
                             archived boolean NOT NULL DEFAULT false, PRIMARY KEY (tenant_id, id));
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY; ALTER TABLE notes FORCE ROW LEVEL SECURITY;
         GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO tenancy_app;
         CREATE POLICY tenant_access ON notes FOR ALL TO tenancy_app
           USING (tenant_id = (SELECT tenancy.current_tenant())
                  AND CASE WHEN archived THEN kind = 'either or' ELSE true END)
           WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()) AND kind <> 'select');
         CREATE POLICY tenant_isolation ON notes AS RESTRICTIVE FOR ALL TO PUBLIC
           USING (tenant_id = (SELECT tenancy.current_tenant()))
           WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));",
    )
    .unwrap();
    let r = report(&mut conn, &registry(&[]), &CheckOptions::default());
    let on_notes: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error && f.object.contains("notes"))
        .collect();
    assert!(on_notes.is_empty(), "{on_notes:#?}");
}

/// A tenant table partitioned by time, with a sub-partitioned partition: the tenant policies
/// are on the partitioned table only, as the scaffold writes them, and only it is granted.
const EVENTS: &str = "
CREATE TABLE events (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
  at date NOT NULL,
  body text NOT NULL,
  PRIMARY KEY (tenant_id, id, at)
) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')
  PARTITION BY HASH (tenant_id);
CREATE TABLE events_2027_0 PARTITION OF events_2027 FOR VALUES WITH (MODULUS 1, REMAINDER 0);
GRANT SELECT, INSERT, UPDATE, DELETE ON events TO tenancy_app;
";

static EVENTS_MANIFEST: TableManifest = tenant_table(
    "events",
    &["tenant_id", "id", "at"],
    &["tenant_id", "id", "at", "body"],
    &["Uuid", "Uuid", "Date", "Text"],
);

/// PostgreSQL applies a partitioned table's policies to every query through it, and a
/// partition's own only to a query that names the partition, which needs a privilege on it.
/// So partitions no session of the application may name are covered by their parent's checks,
/// and one it may name (a grant to the application role, or to one of its logins) is a table
/// of its own: as the login shows, it then reads every tenant's rows of it.
#[test]
fn partitions_are_checked_as_tables_only_where_the_application_names_them() {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    const A: &str = "00000000-0000-7000-8000-0000000000e1";
    const B: &str = "00000000-0000-7000-8000-0000000000e2";
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let policies = tenancy_schema::policy::tenant_policies("events", "tenant_id", "tenancy_app");
    conn.batch_execute(&format!(
        "{EVENTS}\n{policies}\n\
         INSERT INTO tenants (id, slug, name) VALUES ('{A}', 'events-a', 'a'), ('{B}', 'events-b', 'b');\n\
         INSERT INTO events (tenant_id, at, body) VALUES ('{A}', '2026-03-01', 'a'), ('{B}', '2027-03-01', 'b');"
    ))
    .unwrap();
    let reg = registry(&[&GADGETS_MANIFEST, &EVENTS_MANIFEST]);
    let options = CheckOptions::default();
    let partitions = ["events_2026", "events_2027", "events_2027_0"];
    let on = |r: &Report, table: &str| -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.object == format!("table {table}"))
            .map(ToString::to_string)
            .collect()
    };
    let through_parent = report(&mut conn, &reg, &options);
    assert!(
        !through_parent.has_errors(),
        "{:#?}",
        through_parent.findings
    );
    for p in partitions {
        assert!(
            on(&through_parent, p).is_empty(),
            "{p}: {:#?}",
            through_parent.findings
        );
    }
    // A key of a partition's own holds for the rows written through the parent: one that
    // leaves the tenant column out tells a tenant, by its unique violation, what another's
    // rows hold.
    conn.batch_execute("CREATE UNIQUE INDEX events_2026_body ON events_2026 (body)")
        .unwrap();
    let own_key = report(&mut conn, &reg, &options);
    assert!(
        own_key
            .findings
            .iter()
            .any(|f| f.object.contains("events_2026_body") && f.severity == Severity::Error),
        "{:#?}",
        own_key.findings
    );
    conn.batch_execute("DROP INDEX events_2026_body").unwrap();

    let login = "check_partition_login";
    let login_url = db.create_app_login(login, "partition-pw").unwrap();
    let mut as_login = PgConnection::establish(&login_url).unwrap();
    let count = |c: &mut PgConnection, table: &str| {
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<Count>(c)
            .map(|r| r.n)
    };
    assert!(
        count(&mut as_login, "events_2027_0").is_err(),
        "no privilege of its own"
    );

    // Named by the application role, then by one of its logins: checked as a table each.
    conn.batch_execute("GRANT SELECT ON events_2026 TO tenancy_app")
        .unwrap();
    conn.batch_execute(&format!("GRANT SELECT ON events_2027_0 TO {login}"))
        .unwrap();
    let named = report(&mut conn, &reg, &options);
    for (p, named_by) in [
        ("events_2026", true),
        ("events_2027", false),
        ("events_2027_0", true),
    ] {
        let found = on(&named, p);
        if named_by {
            for id in ["TEN010", "TEN011", "TEN012", "TEN013"] {
                assert!(
                    found.iter().any(|f| f.contains(id)),
                    "{p}: {id} missing: {found:#?}"
                );
            }
        } else {
            assert!(found.is_empty(), "{p}: {found:#?}");
        }
    }
    assert_eq!(
        count(&mut as_login, "events_2027_0").unwrap(),
        1,
        "another tenant's row, with row level security off"
    );

    // Its policies in place: clear again, and the login reads nothing without a context.
    for p in ["events_2026", "events_2027_0"] {
        conn.batch_execute(&tenancy_schema::policy::tenant_policies(
            p,
            "tenant_id",
            "tenancy_app",
        ))
        .unwrap();
    }
    let fixed = report(&mut conn, &reg, &options);
    for p in partitions {
        let errors: Vec<String> = fixed
            .findings
            .iter()
            .filter(|f| f.object == format!("table {p}") && f.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "{p}: {errors:#?}");
    }
    assert_eq!(count(&mut as_login, "events_2027_0").unwrap(), 0);
}

static LEDGERS_MANIFEST: TableManifest = tenant_table(
    "ledgers",
    &["tenant_id", "id"],
    &["tenant_id", "id", "archived"],
    &["Uuid", "Uuid", "Bool"],
);

/// A tenant column typed as a domain over uuid (here a domain over another one) is a uuid
/// column: PostgreSQL compares it as uuid, and prints it in the policies as
/// `(tenant_id)::uuid`. Its table, with the policies the scaffold writes and a restrictive rule
/// of its own whose CASE PostgreSQL prints on the next line, is as clean as one typed uuid;
/// a domain over text is not uuid.
#[test]
fn a_tenant_column_typed_as_a_domain_over_uuid_is_a_uuid_column() {
    let (db, mut conn) = fresh();
    create_gadgets(&mut conn);
    let policies = tenancy_schema::policy::tenant_policies("ledgers", "tenant_id", "tenancy_app");
    conn.batch_execute(&format!(
        "CREATE DOMAIN tenant_ref AS uuid;
         CREATE DOMAIN ledger_tenant AS tenant_ref NOT NULL;
         CREATE TABLE ledgers (
           tenant_id ledger_tenant NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
           id uuid NOT NULL DEFAULT tenancy.uuid_v7(),
           archived boolean NOT NULL DEFAULT false,
           PRIMARY KEY (tenant_id, id)
         );
         GRANT SELECT, INSERT, UPDATE, DELETE ON ledgers TO tenancy_app;
         {policies}
         CREATE POLICY ledgers_live ON ledgers AS RESTRICTIVE FOR ALL TO PUBLIC
           USING (tenant_id = (SELECT tenancy.current_tenant())
                  AND CASE WHEN archived THEN false ELSE true END)
           WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));"
    ))
    .unwrap();
    // A login of the application role: the rules that ask, role by role, whether a relation
    // shows it every row read the same policies in SQL.
    db.create_app_login("check_domain_login", "domain-pw")
        .unwrap();
    let reg = registry(&[&GADGETS_MANIFEST, &LEDGERS_MANIFEST]);
    let r = report(&mut conn, &reg, &CheckOptions::default());
    let on_ledgers: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.object.contains("ledgers") || f.message.contains("ledgers"))
        .map(ToString::to_string)
        .collect();
    assert!(on_ledgers.is_empty(), "{on_ledgers:#?}");
    assert!(!r.has_errors(), "{:#?}", r.findings);

    conn.batch_execute(
        "CREATE DOMAIN tenant_text AS text;
         CREATE TABLE ledger_notes (tenant_id tenant_text NOT NULL, body text NOT NULL);",
    )
    .unwrap();
    let r = report(&mut conn, &reg, &CheckOptions::default());
    assert!(
        present(&r, "TEN004", "table ledger_notes"),
        "{:#?}",
        r.findings
    );
    assert!(!present(&r, "TEN004", "table ledgers"), "{:#?}", r.findings);
}
