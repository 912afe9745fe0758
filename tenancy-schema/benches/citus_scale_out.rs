//! Short transactions through tenancy on one PostgreSQL node and on a Citus cluster (a
//! coordinator and two workers), side by side in one run: what the same workload does when
//! each tenant's rows live on a worker and every transaction goes through the coordinator.
//!
//! `cargo bench -p tenancy-schema --bench citus_scale_out`
//!
//! Needs Citus for the located PostgreSQL (`bash ../shared/citus/build.sh` installs it).
//! Without it the one-node side runs alone, the output says the Citus side was skipped, and
//! no ratio is written; with `TENANCY_REQUIRE_CITUS=1` the run fails instead.
//!
//! Each side is its own throwaway cluster with the core's migrations (on Citus they prepare
//! the workers), one application table created as an application creates it (table, index,
//! grant, the tenant policies, `tenancy.distribute`, which distributes it by `tenant_id` on
//! Citus and does nothing on one node), the same 8 tenants × 1,000 rows, and tenancy pools of
//! the same size. The transactions: a point lookup by id, the newest 20 rows of the tenant,
//! an insert of one row. Sides alternate in rounds of a fixed duration; the report gives
//! transactions per second and the ratio of medians (Citus / one node), then the number of
//! tasks in Citus's plan for the scoped point lookup (1: a router plan, one shard).
//!
//! A second section, on the same Citus cluster in the same run, splits Citus's cost from
//! tenancy's: the same transactions through tenancy and through plain Diesel, the plain side
//! on `plain_notes`, a copy of the table without row level security, distributed by
//! `tenant_id` and colocated with `notes`, read and written by a login of no tenancy role
//! through an r2d2 pool of the same size, with a hand-written `tenant_id` filter. Ratio of
//! medians: tenancy / plain Diesel, both on Citus. Without Citus this section is skipped too.

#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // reason: small counters

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Text;
use tenancy_schema::{Error, Tenancy, TenantId};
use tenancy_testing::{CitusCluster, TestDatabase};

mod support;
use support::{Better, Row, Section, Stats};

const RUN: Duration = Duration::from_millis(1_500);
const ROUNDS: usize = 3;
const TENANTS: usize = 8;
/// The row the EXPLAIN of the point lookup asks for.
const EXPLAINED_ID: i64 = 7;

type BoxError = Box<dyn std::error::Error>;

use support::short_work::tables::notes;
use support::short_work::{ROWS_PER_TENANT, Work, plain_pool, plain_tx, tenancy_tx};

/// The application's table as an application creates it on the core alone (no `tenants`
/// table, so no foreign key to it); the tenant policies and `tenancy.distribute` follow.
const TABLE: &str = r"
CREATE TABLE notes (
  tenant_id uuid NOT NULL,
  id bigint NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX notes_newest ON notes (tenant_id, created_at);
GRANT SELECT, INSERT ON notes TO tenancy_app;
";

const APP_LOGIN: (&str, &str) = ("bench_login", "bench");
const ADMIN_LOGIN: (&str, &str) = ("bench_admin", "bench-admin");
const PLAIN_LOGIN: (&str, &str) = ("bench_plain_login", "bench");

/// The plain baseline on Citus, as the owner, one statement each (Citus refuses DDL on a
/// distributed table in a multi-statement message): `notes` without row level security,
/// distributed by `tenant_id` on the same shards as `notes`, and a login of no tenancy role
/// that may read and insert it.
const PLAIN_SETUP: [&str; 6] = [
    "CREATE TABLE plain_notes (
       tenant_id uuid NOT NULL,
       id bigint NOT NULL,
       body text NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (tenant_id, id)
     )",
    "CREATE INDEX plain_notes_newest ON plain_notes (tenant_id, created_at)",
    "SELECT create_distributed_table('plain_notes', 'tenant_id', colocate_with => 'notes')",
    "CREATE ROLE bench_plain_login LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD 'bench'",
    "GRANT USAGE ON SCHEMA public TO bench_plain_login",
    "GRANT SELECT, INSERT ON plain_notes TO bench_plain_login",
];

/// One side's database, set up as an application sets it up: its owner's connection and the
/// URLs of its two logins.
struct Side {
    owner: PgConnection,
    app_url: String,
    admin_url: String,
}

impl Side {
    /// The core's migrations, the application's table with its tenant policies, distributed
    /// (on Citus), and the logins: the application's, and an admin login that is an admin by
    /// itself (`BYPASSRLS`, inheriting `tenancy_admin`), which Citus needs because its worker
    /// connections log in as the role a `SET ROLE` names. Both sides get the same.
    fn prepare(db: &TestDatabase) -> Result<Side, BoxError> {
        let mut owner = PgConnection::establish(db.url())?;
        tenancy_schema::run_migrations(&mut owner)?;
        owner.batch_execute(TABLE)?;
        owner.batch_execute(&tenancy_schema::policy::tenant_policies(
            "notes",
            "tenant_id",
            "tenancy_app",
        ))?;
        owner.batch_execute("SELECT tenancy.distribute('notes')")?;
        let app_url = db.create_app_login(APP_LOGIN.0, APP_LOGIN.1)?;
        let (admin, password) = ADMIN_LOGIN;
        owner.batch_execute(&format!(
            "CREATE ROLE {admin} LOGIN PASSWORD '{password}' BYPASSRLS INHERIT;
             GRANT tenancy_admin TO {admin};"
        ))?;
        Ok(Side {
            owner,
            app_url,
            admin_url: db.url_for(admin, password),
        })
    }

    /// `ROWS_PER_TENANT` rows for each tenant, as the owner (the clusters' superuser).
    fn seed(&mut self, tenants: &[TenantId]) -> Result<(), BoxError> {
        for t in tenants {
            let t = t.as_uuid();
            self.owner.batch_execute(&format!(
                "INSERT INTO notes (tenant_id, id, body, created_at)
                   SELECT '{t}', g, 'note ' || g, now() - g * interval '1 second'
                     FROM generate_series(0, {last}) g",
                last = ROWS_PER_TENANT - 1
            ))?;
        }
        self.owner.batch_execute("ANALYZE notes")?;
        Ok(())
    }

    /// The plain baseline's table (empty; [`Side::fill_plain`] fills it) and login, on the
    /// Citus side; returns the URL of the login.
    fn prepare_plain(&mut self, db: &TestDatabase) -> Result<String, BoxError> {
        for statement in PLAIN_SETUP {
            self.owner.batch_execute(statement)?;
        }
        Ok(db.url_for(PLAIN_LOGIN.0, PLAIN_LOGIN.1))
    }

    /// `plain_notes` becomes a copy of `notes` as it stands (the seeded rows and whatever the
    /// runs so far inserted), so both sides of the comparison start from the same rows. A
    /// colocated `INSERT .. SELECT`, which Citus runs shard by shard on the workers.
    fn fill_plain(&mut self) -> Result<(), BoxError> {
        self.owner
            .batch_execute("INSERT INTO plain_notes SELECT * FROM notes")?;
        self.owner.batch_execute("ANALYZE plain_notes")?;
        Ok(())
    }

    fn tenancy(&self, size: u32) -> Result<Tenancy, Error> {
        Tenancy::builder(&self.app_url)
            .admin_url(&self.admin_url)
            .max_size(size)
            .build()
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

fn line(conn: &mut PgConnection, sql: &str) -> QueryResult<String> {
    diesel::sql_query(sql)
        .get_result::<Line>(conn)
        .map(|l| l.line)
}

/// The worker port holding `tenant`'s shard of `notes`.
fn worker_of(owner: &mut PgConnection, tenant: TenantId) -> QueryResult<String> {
    line(
        owner,
        &format!(
            "SELECT nodeport::text AS line FROM citus_shards
              WHERE shardid = get_shard_id_for_distribution_column('notes', '{}'::uuid)",
            tenant.as_uuid()
        ),
    )
}

/// `TENANTS` tenants, half of them on each worker, so that both workers serve the workload.
fn tenants_on_both_workers(owner: &mut PgConnection) -> Result<Vec<TenantId>, BoxError> {
    let mut ports: Vec<String> = Vec::new();
    let mut per_port: Vec<usize> = Vec::new();
    let mut tenants = Vec::new();
    for _ in 0..1_000 {
        let t = TenantId::new_v7();
        let port = worker_of(owner, t)?;
        let at = ports.iter().position(|p| *p == port).unwrap_or_else(|| {
            ports.push(port);
            per_port.push(0);
            ports.len() - 1
        });
        if ports.len() > 2 {
            return Err(format!("notes has shards on more than two nodes: {ports:?}").into());
        }
        if per_port[at] < TENANTS / 2 {
            per_port[at] += 1;
            tenants.push(t);
            if tenants.len() == TENANTS {
                return Ok(tenants);
            }
        }
    }
    Err(format!("no {TENANTS} tenants split evenly over two workers: shards on {ports:?}").into())
}

/// The scoped point lookup exactly as tenancy writes it (its SQL from [`diesel::debug_query`]
/// inside a tenant transaction), prepared as the owner and run with
/// `EXPLAIN (ANALYZE, BUFFERS) EXECUTE` with the query's values. Returns the SQL and the plan.
fn explain_scoped_lookup(
    side: &mut Side,
    tenancy: &Tenancy,
    tenant: TenantId,
) -> Result<(String, Vec<String>), BoxError> {
    let shape = tenancy.transaction(tenant, |tx| {
        Ok::<_, Error>(
            diesel::debug_query::<Pg, _>(
                &tx.scope(
                    notes::table
                        .filter(notes::id.eq(EXPLAINED_ID))
                        .select(notes::body)
                        .limit(1),
                )?,
            )
            .to_string(),
        )
    })?;
    let (sql, _) = shape
        .split_once(" -- binds: ")
        .ok_or_else(|| format!("not debug_query output: {shape}"))?;
    // debug_query lists the tenant's bind alone (the statement's text is the checked one, not
    // walked again), so the values are the query's own: the tenant, the id, the limit.
    let args = [
        format!("'{}'::uuid", tenant.as_uuid()),
        EXPLAINED_ID.to_string(),
        "1".to_owned(),
    ];
    side.owner
        .batch_execute(&format!("PREPARE scoped_lookup AS {sql}"))?;
    let plan = support::explain(
        &mut side.owner,
        &format!("EXECUTE scoped_lookup({})", args.join(", ")),
    )?;
    side.owner.batch_execute("DEALLOCATE scoped_lookup")?;
    Ok((sql.to_owned(), plan))
}

/// The second section: on the Citus cluster, the same transactions through tenancy (on
/// `notes`) and through plain Diesel (on `plain_notes`, whose login's URL is `plain_url`),
/// sides alternating in rounds as in the first section. Without Citus (`citus` is `None`),
/// a section that says it was skipped, with no rows.
fn tenancy_vs_plain_on_citus(
    citus: Option<(&mut Side, &str)>,
    tenants: &[TenantId],
    next_id: &AtomicI64,
) -> Result<Section, BoxError> {
    let Some((citus, plain_url)) = citus else {
        let mut section = Section::new(
            "citus-tenancy-vs-plain",
            "short transactions on Citus: tenancy vs plain Diesel",
            "Skipped: Citus is not installed (`bash ../shared/citus/build.sh`).",
        );
        section.note(
            "Citus side skipped: Citus is not installed (`bash ../shared/citus/build.sh`); nothing measured, no ratio.",
        );
        return Ok(section);
    };
    citus.fill_plain()?;
    let mut section = Section::new(
        "citus-tenancy-vs-plain",
        "short transactions on Citus: tenancy vs plain Diesel",
        &format!(
            "Splits the Citus side's cost above into Citus's and tenancy's. Same Citus cluster as above (a coordinator and \
             two workers, each its own PostgreSQL cluster; all nodes run on this one machine), same run, measured after the \
             section above; both sides connect to the coordinator. tenancy: `notes` as above (tenant policies, distributed \
             with `tenancy.distribute`), `tenancy.transaction`, which enters the context with `tenancy.enter_distributed` (a \
             distributed transaction id, `tenancy.enter`, then a `SET LOCAL` that Citus replays on the workers); a tenancy \
             pool of the worker count's size. plain Diesel: `plain_notes`, the same table without row level security, \
             distributed by tenant_id on the same shards (`create_distributed_table('plain_notes', 'tenant_id', \
             colocate_with => 'notes')`), filled just before this section with a copy of notes' rows (the {TENANTS} × \
             {ROWS_PER_TENANT} seeded and those the section above inserted); a login of no tenancy role (NOSUPERUSER \
             NOBYPASSRLS; SELECT, INSERT on plain_notes); an r2d2 pool of the same size without a ping per checkout; \
             `conn.transaction`: BEGIN; the query with a hand-written `tenant_id = $1`; COMMIT. Transactions: a point lookup \
             by id, the newest 20 of the tenant, an insert of one row, the same tenants. {ROUNDS} rounds of {:.1} s per side, \
             sides alternating (and which goes first); tx/s, ratio of medians = tenancy / plain Diesel, both on Citus. What \
             plain Diesel pays here is the cost of Citus itself; the gap between the sides is what tenancy adds on Citus \
             (its context entry, its policies on the shards, its end of transaction).",
            RUN.as_secs_f64()
        ),
    );
    for workers in [1usize, 8] {
        let size = u32::try_from(workers)?;
        let ours = citus.tenancy(size)?;
        let plain = plain_pool(plain_url, size)?;
        for work in [Work::Lookup, Work::Newest, Work::Insert] {
            let pick = |w: usize, n: u64| tenants[(w + n as usize) % TENANTS];
            let id = |n: u64| match work {
                Work::Insert => next_id.fetch_add(1, Ordering::Relaxed),
                _ => n as i64,
            };
            let run_ours = || {
                support::throughput(workers, RUN, &|w, n| {
                    tenancy_tx(&ours, pick(w, n), work, id(n))
                })
            };
            let run_plain = || {
                support::throughput(workers, RUN, &|w, n| {
                    plain_tx(&plain, pick(w, n), work, id(n))
                })
            };
            let (mut on_ours, mut on_plain) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                if round % 2 == 1 {
                    on_plain.push(run_plain()?);
                    on_ours.push(run_ours()?);
                } else {
                    on_ours.push(run_ours()?);
                    on_plain.push(run_plain()?);
                }
            }
            section.push(Row::compared(
                &format!(
                    "{}, {workers} worker(s): tenancy vs plain Diesel, on Citus",
                    work.label()
                ),
                "tx/s",
                Better::Higher,
                stats(&on_ours)?,
                stats(&on_plain)?,
            ));
        }
    }
    Ok(section)
}

fn stats(v: &[f64]) -> Result<Stats, BoxError> {
    Ok(Stats::of(v).ok_or("no rounds")?)
}

/// The Citus cluster, or `None` (said on the terminal) when Citus is not installed and the
/// run does not require it.
fn citus_cluster() -> Result<Option<CitusCluster>, BoxError> {
    let required = std::env::var("TENANCY_REQUIRE_CITUS").is_ok_and(|v| v == "1");
    if !tenancy_testing::citus_available() && !required {
        println!(
            "Citus side skipped: Citus is not installed (bash ../shared/citus/build.sh installs it; \
             TENANCY_REQUIRE_CITUS=1 makes this a failure). Only the one-node side runs; no ratio."
        );
        return Ok(None);
    }
    Ok(Some(CitusCluster::start()?))
}

#[allow(clippy::too_many_lines)] // reason: set-up of both sides, the rounds, then the plan
fn main() -> Result<(), BoxError> {
    let started = Instant::now();
    let one_db = TestDatabase::start_embedded()?;
    let cluster = citus_cluster()?;
    let mut one = Side::prepare(&one_db)?;
    let mut citus = cluster
        .as_ref()
        .map(|c| Side::prepare(c.coordinator()))
        .transpose()?;
    let plain_url = match (citus.as_mut(), cluster.as_ref()) {
        (Some(side), Some(c)) => Some(side.prepare_plain(c.coordinator())?),
        _ => None,
    };
    let tenants: Vec<TenantId> = match citus.as_mut() {
        Some(side) => tenants_on_both_workers(&mut side.owner)?,
        None => (0..TENANTS).map(|_| TenantId::new_v7()).collect(),
    };
    one.seed(&tenants)?;
    if let Some(side) = citus.as_mut() {
        side.seed(&tenants)?;
    }
    let citus_version = citus
        .as_mut()
        .map(|side| {
            line(
                &mut side.owner,
                "SELECT split_part(citus_version(), ' ', 2) AS line",
            )
        })
        .transpose()?;
    println!(
        "set-up of both sides: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Inserted ids never collide: every side and round draws from one counter.
    let next_id = AtomicI64::new(ROWS_PER_TENANT);
    let mut report = support::report("citus_scale_out", &mut one.owner);
    let citus_side = match citus.as_mut() {
        Some(side) => {
            let shards = line(
                &mut side.owner,
                "SELECT count(*)::text AS line FROM pg_dist_shard WHERE logicalrelid = 'notes'::regclass",
            )?;
            format!(
                "Citus: a coordinator and two workers, each its own cluster ({shards} shards of notes on the workers, {} of \
                 the tenants on each worker), the application connecting to the coordinator; tenancy detects Citus and \
                 enters the context with `tenancy.enter_distributed`. In the table, the tenancy columns are the Citus side \
                 and the baseline columns the one-node side.",
                TENANTS / 2
            )
        }
        None => "Citus side skipped: Citus is not installed (`bash ../shared/citus/build.sh`); only the one-node side \
                 ran, no ratio."
            .to_owned(),
    };
    let mut section = Section::new(
        "citus-scale-out",
        "short transactions through tenancy: Citus (coordinator + two workers) vs one node",
        &format!(
            "The same tenancy workload on two sides, each a throwaway cluster with the core's migrations and one application \
             table (tenant policies only, {TENANTS} tenants × {ROWS_PER_TENANT} rows, distributed by tenant_id with \
             `tenancy.distribute` on Citus), its own application login and tenancy pool of the worker count's size. \
             One node: a single PostgreSQL server. {citus_side} Transactions: a point lookup by id, the newest 20 of the \
             tenant, an insert of one row, each in `tenancy.transaction`. {ROUNDS} rounds of {:.1} s per side, sides \
             alternating (and which goes first); tx/s, ratio of medians = Citus / one node. All servers share this \
             machine, so the ratio is the cost of going through the coordinator to a worker, not the capacity added \
             by more machines.",
            RUN.as_secs_f64()
        ),
    );
    let scoped_plan = match citus.as_mut() {
        Some(side) => {
            let tenancy = side.tenancy(1)?;
            Some(explain_scoped_lookup(side, &tenancy, tenants[0])?)
        }
        None => None,
    };
    for workers in [1usize, 8] {
        let size = u32::try_from(workers)?;
        let one_tenancy = one.tenancy(size)?;
        let citus_tenancy = citus.as_ref().map(|side| side.tenancy(size)).transpose()?;
        for work in [Work::Lookup, Work::Newest, Work::Insert] {
            let pick = |w: usize, n: u64| tenants[(w + n as usize) % TENANTS];
            let id = |n: u64| match work {
                Work::Insert => next_id.fetch_add(1, Ordering::Relaxed),
                _ => n as i64,
            };
            let run = |t: &Tenancy| {
                support::throughput(workers, RUN, &|w, n| tenancy_tx(t, pick(w, n), work, id(n)))
            };
            let (mut on_one, mut on_citus) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                match &citus_tenancy {
                    Some(c) if round % 2 == 1 => {
                        on_citus.push(run(c)?);
                        on_one.push(run(&one_tenancy)?);
                    }
                    Some(c) => {
                        on_one.push(run(&one_tenancy)?);
                        on_citus.push(run(c)?);
                    }
                    None => on_one.push(run(&one_tenancy)?),
                }
            }
            let label = format!("{}, {workers} worker(s)", work.label());
            section.push(if citus_tenancy.is_some() {
                Row::compared(
                    &format!("{label}: Citus vs one node"),
                    "tx/s",
                    Better::Higher,
                    stats(&on_citus)?,
                    stats(&on_one)?,
                )
            } else {
                Row::single(
                    &format!("{label}: one node (Citus skipped)"),
                    "tx/s",
                    Better::Higher,
                    stats(&on_one)?,
                )
            });
        }
    }

    if let (Some(version), Some((sql, plan))) = (citus_version, scoped_plan) {
        let tasks = plan
            .iter()
            .find_map(|l| l.trim().strip_prefix("Task Count: "))
            .ok_or_else(|| format!("no distributed plan for {sql}:\n{}", plan.join("\n")))?;
        section.note(format!(
            "Citus {version}: the scoped point lookup, as tenancy writes it (diesel::debug_query of `tx.scope(..)` in a tenant \
             transaction, prepared and run with its binds as the owner), has Task Count {tasks}{}.",
            if tasks == "1" {
                " (a router plan: one shard, on one worker)"
            } else {
                " (not a router plan)"
            }
        ));
        section.note(format!(
            "EXPLAIN (ANALYZE, BUFFERS) of `{sql}`:\n{}",
            plan.join("\n")
        ));
    } else {
        section.note(
            "Citus side skipped: Citus is not installed (`bash ../shared/citus/build.sh`); no ratio and no Citus plan.",
        );
    }
    report.sections.push(section);

    let plain_side = citus.as_mut().zip(plain_url.as_deref());
    report
        .sections
        .push(tenancy_vs_plain_on_citus(plain_side, &tenants, &next_id)?);
    println!("total: {:.1} s", started.elapsed().as_secs_f64());
    report.finish()
}
