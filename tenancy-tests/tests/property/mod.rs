//! Property-based isolation, shared by the single-node suite (`property_isolation.rs`) and the
//! Citus suite (`citus.rs`). Random sequences of operations by random tenants, through the
//! public API and through raw SQL in tenant transactions, checked against a model after every
//! step: nothing ever reads or changes another tenant's rows, and every committed write is
//! still there.
//!
//! What differs between the two is the [`World`]: the `Tenancy` the operations go through, the
//! tenants they run as, and the owner's URL the runner resets those tenants' rows with before
//! each case.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tenancy_foundation::ResourceId;
use tenancy_foundation::envelope::{self, ListRequest, NewResourceSpec, ResourceChanges};
use tenancy_foundation::models::{ResourceKind, ResourceVisibility};
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::{Error, Tenancy};

/// What the operations run against.
pub struct World {
    /// Every operation and check goes through it, as the application's login.
    pub tenancy: Tenancy,
    /// The tenants operations pick from (by index): at least two.
    pub tenants: Vec<PersonalTenant>,
    /// Logs in as the schema's owner, which deletes the tenants' resources before each case.
    pub owner_url: String,
}

/// A fresh personal tenant, seeded through the admin path (`seed_personal_tenant`).
pub fn seed_tenant(tenancy: &Tenancy) -> PersonalTenant {
    let email = format!("prop-{}@example.test", uuid::Uuid::now_v7().simple());
    seed_personal_tenant(tenancy, &email, "Prop").expect("seed")
}

#[derive(Debug, Clone)]
enum Op {
    /// `envelope::create` as tenant `who`.
    Create { who: usize, name: u8 },
    /// `envelope::update` of one of `owner`'s resources, as `who` (often someone else).
    Rename {
        who: usize,
        owner: usize,
        pick: usize,
        name: u8,
    },
    /// `envelope::delete` of one of `owner`'s resources, as `who`.
    Delete {
        who: usize,
        owner: usize,
        pick: usize,
    },
    /// Raw `UPDATE resources SET name = ..` with no WHERE, in `who`'s transaction.
    RawRenameAll { who: usize, name: u8 },
    /// Raw `DELETE` of one of `owner`'s resources by id, in `who`'s transaction.
    RawDelete {
        who: usize,
        owner: usize,
        pick: usize,
    },
    /// A transaction of `who` that writes and then fails: nothing of it may remain.
    FailedWrite { who: usize, name: u8 },
}

/// An operation by one of `tenants` tenants.
fn op(tenants: usize) -> impl Strategy<Value = Op> {
    let who = 0..tenants;
    prop_oneof![
        3 => (who.clone(), any::<u8>()).prop_map(|(who, name)| Op::Create { who, name }),
        2 => (who.clone(), 0..tenants, any::<usize>(), any::<u8>())
            .prop_map(|(who, owner, pick, name)| Op::Rename { who, owner, pick, name }),
        1 => (who.clone(), 0..tenants, any::<usize>())
            .prop_map(|(who, owner, pick)| Op::Delete { who, owner, pick }),
        1 => (who.clone(), any::<u8>()).prop_map(|(who, name)| Op::RawRenameAll { who, name }),
        1 => (who.clone(), 0..tenants, any::<usize>())
            .prop_map(|(who, owner, pick)| Op::RawDelete { who, owner, pick }),
        1 => (who, any::<u8>()).prop_map(|(who, name)| Op::FailedWrite { who, name }),
    ]
}

/// What each tenant should see: id -> name.
type Model = Vec<BTreeMap<ResourceId, String>>;

fn pick(model: &Model, owner: usize, pick: usize) -> Option<ResourceId> {
    let ids: Vec<&ResourceId> = model[owner].keys().collect();
    (!ids.is_empty()).then(|| *ids[pick % ids.len()])
}

fn spec<'a>(t: &PersonalTenant, name: &'a str, data: &'a serde_json::Value) -> NewResourceSpec<'a> {
    NewResourceSpec {
        workspace: t.workspace,
        kind: ResourceKind::Prompt,
        name,
        visibility: ResourceVisibility::Tenant,
        data,
    }
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[allow(
    clippy::too_many_lines,
    reason = "one arm per operation, each with its own invariant"
)]
fn apply(w: &World, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let data = serde_json::json!({});
    match *op {
        Op::Create { who, name } => {
            let t = w.tenants[who];
            let name = format!("n{name}");
            let r = w
                .tenancy
                .transaction_as(t.tenant, t.principal, |tx| {
                    envelope::create(tx, &spec(&t, &name, &data))
                })
                .map_err(|e| TestCaseError::fail(format!("create: {e}")))?;
            prop_assert_eq!(r.tenant_id, t.tenant);
            model[who].insert(r.id, name);
        }
        Op::Rename {
            who,
            owner,
            pick: p,
            name,
        } => {
            let Some(id) = pick(model, owner, p) else {
                return Ok(());
            };
            let t = w.tenants[who];
            let name = format!("r{name}");
            let changes = ResourceChanges {
                name: Some(&name),
                ..ResourceChanges::default()
            };
            let result = w.tenancy.transaction_as(t.tenant, t.principal, |tx| {
                envelope::update(tx, id, &changes)
            });
            if who == owner {
                prop_assert!(result.is_ok(), "own rename: {:?}", result);
                model[owner].insert(id, name);
            } else {
                prop_assert!(
                    matches!(result, Err(Error::NotFound { .. })),
                    "foreign rename: {:?}",
                    result
                );
            }
        }
        Op::Delete {
            who,
            owner,
            pick: p,
        } => {
            let Some(id) = pick(model, owner, p) else {
                return Ok(());
            };
            let t = w.tenants[who];
            let result = w
                .tenancy
                .transaction_as(t.tenant, t.principal, |tx| envelope::delete(tx, id));
            if who == owner {
                prop_assert!(result.is_ok(), "own delete: {:?}", result);
                model[owner].remove(&id);
            } else {
                prop_assert!(
                    matches!(result, Err(Error::NotFound { .. })),
                    "foreign delete: {:?}",
                    result
                );
            }
        }
        Op::RawRenameAll { who, name } => {
            let t = w.tenants[who];
            let name = format!("raw{name}");
            let n = w
                .tenancy
                .transaction_as(t.tenant, t.principal, |tx| {
                    tx.execute(
                        diesel::sql_query(
                            "UPDATE resources SET name = $1 WHERE deleted_at IS NULL",
                        )
                        .into_boxed()
                        .bind::<diesel::sql_types::Text, _>(&name),
                    )
                })
                .map_err(|e| TestCaseError::fail(format!("raw rename: {e}")))?;
            prop_assert_eq!(
                n,
                model[who].len(),
                "raw UPDATE reached rows of another tenant"
            );
            for v in model[who].values_mut() {
                v.clone_from(&name);
            }
        }
        Op::RawDelete {
            who,
            owner,
            pick: p,
        } => {
            let Some(id) = pick(model, owner, p) else {
                return Ok(());
            };
            let t = w.tenants[who];
            let n = w
                .tenancy
                .transaction_as(t.tenant, t.principal, |tx| {
                    tx.execute(
                        diesel::sql_query("DELETE FROM resources WHERE id = $1")
                            .into_boxed()
                            .bind::<diesel::sql_types::Uuid, _>(*id.as_uuid()),
                    )
                })
                .map_err(|e| TestCaseError::fail(format!("raw delete: {e}")))?;
            if who == owner {
                prop_assert_eq!(n, 1);
                model[owner].remove(&id);
            } else {
                prop_assert_eq!(n, 0, "raw DELETE reached another tenant's row");
            }
        }
        Op::FailedWrite { who, name } => {
            let t = w.tenants[who];
            let name = format!("f{name}");
            let result: Result<(), Error> = w.tenancy.transaction_as(t.tenant, t.principal, |tx| {
                envelope::create(tx, &spec(&t, &name, &data))?;
                tx.execute(diesel::sql_query(
                    "UPDATE resources SET name = '' WHERE false",
                ))?;
                Err(Error::InvalidInput {
                    field: "test",
                    reason: "roll back".into(),
                })
            });
            prop_assert!(result.is_err());
        }
    }
    Ok(())
}

fn check(w: &World, model: &Model) -> Result<(), TestCaseError> {
    for (i, t) in w.tenants.iter().enumerate() {
        let page = w
            .tenancy
            .transaction_as(t.tenant, t.principal, |tx| {
                envelope::list(tx, &ListRequest::first(500))
            })
            .map_err(|e| TestCaseError::fail(format!("list: {e}")))?;
        prop_assert!(
            page.items.iter().all(|r| r.tenant_id == t.tenant),
            "a foreign row was listed"
        );
        let seen: BTreeMap<ResourceId, String> =
            page.items.into_iter().map(|r| (r.id, r.name)).collect();
        prop_assert_eq!(
            &seen,
            &model[i],
            "tenant {} sees something else than it wrote",
            i
        );
        let raw: Vec<N> = w
            .tenancy
            .transaction(t.tenant, |tx| {
                tx.load_sql(diesel::sql_query(
                    "SELECT count(*) AS n FROM resources WHERE deleted_at IS NULL",
                ))
            })
            .map_err(|e| TestCaseError::fail(format!("raw count: {e}")))?;
        prop_assert_eq!(
            usize::try_from(raw[0].n).unwrap_or(usize::MAX),
            model[i].len()
        );
    }
    Ok(())
}

/// Runs `cases` random sequences of 1 to 9 operations against `w`, each from no resources of
/// its tenants, checking every operation's outcome and, after the sequence, what each tenant
/// sees. `after_case` then gets the owner's connection, with the case's rows still in place.
/// Panics with the (shrunk) failing case; returns how many operations ran.
pub fn run(
    w: &World,
    cases: u32,
    after_case: &dyn Fn(&mut PgConnection) -> Result<(), TestCaseError>,
) -> usize {
    assert!(w.tenants.len() >= 2, "the property needs two tenants");
    let owner = RefCell::new(PgConnection::establish(&w.owner_url).expect("connect as owner"));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ids: Vec<String> = w
        .tenants
        .iter()
        .map(|t| format!("'{}'", t.tenant.as_uuid()))
        .collect();
    let reset = format!(
        "DELETE FROM resources WHERE tenant_id IN ({})",
        ids.join(", ")
    );
    let operations = AtomicUsize::new(0);
    runner
        .run(
            &proptest::collection::vec(op(w.tenants.len()), 1..10),
            |ops| {
                owner
                    .borrow_mut()
                    .batch_execute(&reset)
                    .map_err(|e| TestCaseError::fail(format!("reset: {e}")))?;
                let mut model: Model = vec![BTreeMap::new(); w.tenants.len()];
                for op in &ops {
                    apply(w, &mut model, op)?;
                    operations.fetch_add(1, Ordering::Relaxed);
                }
                check(w, &model)?;
                after_case(&mut owner.borrow_mut())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    operations.load(Ordering::Relaxed)
}
