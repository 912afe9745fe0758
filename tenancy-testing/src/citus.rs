//! A throwaway Citus cluster: a coordinator and two workers, each a private cluster.

use std::panic;
use std::path::PathBuf;
use std::thread;

use crate::{
    binaries::PgBinaries,
    cluster::Cluster,
    database::TestDatabase,
    error::{EmbeddedError, io_error},
    sql::connect,
};
use diesel::connection::SimpleConnection;

/// Server settings of every node, coordinator and workers alike.
const NODE_SETTINGS: [(&str, &str); 4] = [
    // Citus hooks into the planner and executor, which only a preloaded library can.
    ("shared_preload_libraries", "citus"),
    // `SET LOCAL` in a transaction is sent on to the workers that transaction touches, so
    // per-transaction settings apply on the shards too, not only on the coordinator.
    ("citus.propagate_set_commands", "local"),
    // Writes touching several nodes commit with two-phase commit, which the default of 0
    // prepared transactions turns off.
    ("max_prepared_transactions", "100"),
    // Every DDL statement on a distributed table runs once per shard: the default 32 shards
    // make migrations in tests slow, while 8 still spread each table over both workers.
    ("citus.shard_count", "8"),
];

/// Workers next to the coordinator: two, so a test sees shards on more than one node.
const WORKERS: usize = 2;

/// The nodes reach each other over loopback TCP, where the clusters trust every login.
const NODE_HOST: &str = "127.0.0.1";

/// A Citus cluster for tests: a coordinator and two workers, each a private `PostgreSQL`
/// cluster with a `tenancy` database that has the `citus` extension, the workers registered
/// on the coordinator.
///
/// [`CitusCluster::coordinator`] is an ordinary [`TestDatabase`] for the coordinator, logged
/// in as the superuser, so its helpers (logins, [`TestDatabase::tenancy`]) work as usual:
/// Citus propagates roles and grants to the workers itself. Dropping it stops all three
/// servers and removes their directories; dropping never panics.
#[derive(Debug)]
pub struct CitusCluster {
    /// Declared first so it stops before the workers its connections point at.
    coordinator: Node,
    workers: Vec<Node>,
}

/// One node's database; its cluster stops when it is dropped.
#[derive(Debug)]
struct Node {
    db: TestDatabase,
    port: u16,
}

impl CitusCluster {
    /// Starts a coordinator and two workers (concurrently) in private clusters, ignoring
    /// `DATABASE_URL`, creates the `tenancy` database and the `citus` extension in each,
    /// and registers the coordinator and the workers on the coordinator.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError::CitusMissing`] when Citus is not installed for the located server;
    /// otherwise as [`TestDatabase::start_embedded`], and [`EmbeddedError::Query`] when
    /// creating the extension or registering a node fails.
    pub fn start() -> Result<CitusCluster, EmbeddedError> {
        let bins = PgBinaries::locate()?;
        find_citus_control(&bins.share_dirs(), bins.major)?;
        let (coordinator, workers) = thread::scope(|scope| {
            let spawned = (0..WORKERS)
                .map(|index| {
                    thread::Builder::new()
                        .name(format!("citus-worker-{index}"))
                        .spawn_scoped(scope, start_node)
                        .map_err(io_error("could not start a thread for a Citus worker"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let coordinator = start_node();
            // Join every worker before looking at any result, so that on failure the nodes
            // that did start are dropped (stopped) here rather than left to the watchdogs.
            let workers: Vec<Result<Node, EmbeddedError>> = spawned
                .into_iter()
                .map(|handle| handle.join().unwrap_or_else(|e| panic::resume_unwind(e)))
                .collect();
            let coordinator = coordinator?;
            let workers = workers.into_iter().collect::<Result<Vec<_>, _>>()?;
            Ok::<_, EmbeddedError>((coordinator, workers))
        })?;

        let mut conn = connect(coordinator.db.url())?;
        let register = |conn: &mut diesel::PgConnection, statement: String| {
            conn.batch_execute(&statement)
                .map_err(|source| EmbeddedError::Query {
                    context: format!("could not set up the Citus cluster (`{statement}`)"),
                    source,
                })
        };
        register(
            &mut conn,
            format!(
                "SELECT citus_set_coordinator_host('{NODE_HOST}', {})",
                coordinator.port
            ),
        )?;
        for worker in &workers {
            register(
                &mut conn,
                format!("SELECT citus_add_node('{NODE_HOST}', {})", worker.port),
            )?;
        }
        drop(conn);
        tracing::info!(
            coordinator = %coordinator.db.url(),
            workers = ?workers.iter().map(|worker| worker.port).collect::<Vec<_>>(),
            "started private Citus cluster"
        );
        Ok(CitusCluster {
            coordinator,
            workers,
        })
    }

    /// The coordinator's `tenancy` database, logged in as the superuser: where an application
    /// connects and where tables are distributed.
    #[must_use]
    pub fn coordinator(&self) -> &TestDatabase {
        &self.coordinator.db
    }

    /// Superuser URLs of each worker's `tenancy` database, for looking at the shards.
    #[must_use]
    pub fn worker_urls(&self) -> Vec<String> {
        self.workers
            .iter()
            .map(|worker| worker.db.url().to_owned())
            .collect()
    }

    /// The workers' ports on `127.0.0.1`, as Citus lists them (`nodeport` in `pg_dist_node`
    /// and `citus_shards`).
    #[must_use]
    pub fn worker_ports(&self) -> Vec<u16> {
        self.workers.iter().map(|worker| worker.port).collect()
    }
}

/// `true` when Citus is installed for the `PostgreSQL` server [`CitusCluster::start`] would
/// use, so tests can skip themselves instead of failing where it is not.
#[must_use]
pub fn citus_available() -> bool {
    PgBinaries::locate()
        .is_ok_and(|bins| find_citus_control(&bins.share_dirs(), bins.major).is_ok())
}

/// The first `extension/citus.control` under `share_dirs`, or the error naming where it looked.
pub(crate) fn find_citus_control(
    share_dirs: &[PathBuf],
    major: u32,
) -> Result<PathBuf, EmbeddedError> {
    let extension_dirs: Vec<PathBuf> = share_dirs.iter().map(|dir| dir.join("extension")).collect();
    extension_dirs
        .iter()
        .map(|dir| dir.join("citus.control"))
        .find(|control| control.is_file())
        .ok_or_else(|| EmbeddedError::CitusMissing {
            major,
            looked_in: extension_dirs
                .iter()
                .map(|dir| dir.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// One node: a private cluster preloading Citus, with the extension in its `tenancy` database.
fn start_node() -> Result<Node, EmbeddedError> {
    let cluster = Cluster::start_with(&NODE_SETTINGS)?;
    let port = cluster.port;
    let db = TestDatabase::in_cluster(cluster)?;
    connect(db.url())?
        .batch_execute("CREATE EXTENSION citus")
        .map_err(|source| EmbeddedError::Query {
            context: format!("could not create the citus extension on the node at port {port}"),
            source,
        })?;
    Ok(Node { db, port })
}
