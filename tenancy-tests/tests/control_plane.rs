//! The control plane and identity API on real PostgreSQL: tenant lifecycle, users
//! and members, teams and workspaces, resources with ACLs and keyset pagination, permission
//! checks, the audit trail, the admin escape hatch's audit row and tenant-bound jobs.

#![allow(
    clippy::items_after_statements,
    clippy::too_many_lines,
    clippy::many_single_char_names
)] // reason: row structs next to their query; scenario tests read top to bottom with tenants `a`/`b`

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use common::owner;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use tenancy_foundation::UserId;
use tenancy_foundation::control::{self, Actor, CreatedTenant, NewTenantSpec};
use tenancy_foundation::envelope::{self, ListRequest, NewResourceSpec, ResourceChanges};
use tenancy_foundation::jobs::TenantJob;
use tenancy_foundation::models::{
    AclPermission, MemberRole, PlanTier, ResourceKind, ResourceVisibility, TeamRole, TenantStatus,
    WorkspaceKind,
};
use tenancy_foundation::{ApiKeyId, ResourceId, authz, org};
use tenancy_schema::{Error, PrincipalId, Tenancy, TenantId, TenantTx};
use uuid::Uuid;

/// The event collector, installed as the global default before any test of this binary
/// reaches a `tracing` call site: tracing caches each call site's interest when it is first
/// hit, so a subscriber installed later (or a scoped `with_default` while other threads
/// run) can miss events. Events of other tests are told apart by their tenant.
fn events() -> &'static Events {
    static EVENTS: std::sync::OnceLock<Events> = std::sync::OnceLock::new();
    EVENTS.get_or_init(|| {
        let events = Events::default();
        tracing::subscriber::set_global_default(events.clone()).expect("first subscriber");
        events
    })
}

fn tenancy(size: u32) -> Tenancy {
    let _ = events();
    common::tenancy(size)
}

fn unique(label: &str) -> String {
    format!("{label}-{}", &Uuid::now_v7().simple().to_string()[20..])
}

fn new_tenant(t: &Tenancy, label: &str) -> CreatedTenant {
    let slug = unique(label);
    control::create_tenant(
        t,
        &NewTenantSpec {
            slug: &slug,
            name: label,
            plan: PlanTier::Pro,
            data_region: Some("eu"),
            owner_email: &format!("{slug}@example.test"),
            owner_name: "Owner",
        },
    )
    .expect("create tenant")
}

#[derive(QueryableByName)]
struct Action {
    #[diesel(sql_type = Text)]
    action: String,
}

/// The tenant's audit actions, oldest first (as the owner, a superuser here).
fn actions(tenant: TenantId) -> Vec<String> {
    diesel::sql_query(format!(
        "SELECT action FROM audit_log WHERE tenant_id = '{}' ORDER BY seq",
        tenant.as_uuid()
    ))
    .load::<Action>(&mut owner())
    .unwrap()
    .into_iter()
    .map(|a| a.action)
    .collect()
}

fn chain_verifies(tenant: TenantId) -> bool {
    tenancy_foundation::audit::verify_chain(&mut owner(), tenant)
        .unwrap()
        .broken_at
        .is_none()
}

/// A member of `tenant` with `role` whose invitation was accepted; returns its principal.
fn member(t: &Tenancy, c: &CreatedTenant, label: &str, role: MemberRole) -> PrincipalId {
    joined(t, c, label, role).1
}

#[test]
fn tenant_lifecycle() {
    let t = tenancy(1);
    let c = new_tenant(&t, "life");
    let got = control::get_tenant(&t, c.tenant).unwrap();
    assert_eq!(
        (got.status, got.plan, got.data_region.as_deref()),
        (TenantStatus::Active, PlanTier::Pro, Some("eu"))
    );

    // Duplicate slug and bad input.
    let err = control::create_tenant(
        &t,
        &NewTenantSpec {
            slug: &got.slug,
            name: "again",
            plan: PlanTier::Free,
            data_region: None,
            owner_email: "dup@example.test",
            owner_name: "Dup",
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let err = control::create_tenant(
        &t,
        &NewTenantSpec {
            slug: "Not A Slug",
            name: "x",
            plan: PlanTier::Free,
            data_region: None,
            owner_email: "x@example.test",
            owner_name: "X",
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { field: "slug", .. }),
        "{err}"
    );

    control::rename_tenant(&t, c.tenant, "Renamed").unwrap();
    assert_eq!(control::get_tenant(&t, c.tenant).unwrap().name, "Renamed");

    // Suspended: tenant transactions are refused with a typed error, and the pool's only
    // connection keeps working afterwards.
    control::suspend_tenant(&t, c.tenant).unwrap();
    let err = t
        .transaction(c.tenant, |tx| tx.execute(diesel::sql_query("SELECT 1")))
        .unwrap_err();
    assert!(
        matches!(err, Error::TenantSuspended(id) if id == c.tenant),
        "{err}"
    );
    let job = TenantJob::new(c.tenant, ());
    let err = job
        .run(&t, |tx, ()| tx.execute(diesel::sql_query("SELECT 1")))
        .unwrap_err();
    assert!(matches!(err, Error::TenantSuspended(_)), "{err}");
    control::resume_tenant(&t, c.tenant).unwrap();
    assert_eq!(
        t.transaction(c.tenant, |tx| tx.execute(diesel::sql_query("SELECT 1")))
            .unwrap(),
        1
    );

    // An unknown tenant is refused too.
    let err = t
        .transaction(TenantId::new_v7(), |tx| {
            tx.execute(diesel::sql_query("SELECT 1"))
        })
        .unwrap_err();
    assert!(matches!(err, Error::TenantNotFound(_)), "{err}");
    assert!(matches!(
        control::get_tenant(&t, TenantId::new_v7()),
        Err(Error::NotFound { entity: "tenant" })
    ));

    // Soft delete: gone from the list and from tenant transactions, still there for purge.
    control::delete_tenant(&t, c.tenant).unwrap();
    let err = t
        .transaction(c.tenant, |tx| tx.execute(diesel::sql_query("SELECT 1")))
        .unwrap_err();
    assert!(matches!(err, Error::TenantNotFound(_)), "{err}");
    assert!(
        !control::list_tenants(&t, false)
            .unwrap()
            .iter()
            .any(|x| x.id == c.tenant)
    );
    assert!(
        control::list_tenants(&t, true)
            .unwrap()
            .iter()
            .any(|x| x.id == c.tenant)
    );
    assert!(matches!(
        control::rename_tenant(&t, c.tenant, "x"),
        Err(Error::NotFound { .. })
    ));

    assert_eq!(
        actions(c.tenant),
        [
            "tenant.create",
            "tenant.rename",
            "tenant.suspend",
            "tenant.resume",
            "tenant.delete"
        ]
    );
    assert!(chain_verifies(c.tenant));

    // Hard purge: every row of the tenant goes, the control plane's chain keeps a record.
    control::purge_tenant(&t, c.tenant).unwrap();
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let left: N = diesel::sql_query(format!(
        "SELECT (SELECT count(*) FROM tenants WHERE id = '{t}') + (SELECT count(*) FROM principals WHERE tenant_id = '{t}')
              + (SELECT count(*) FROM workspaces WHERE tenant_id = '{t}') + (SELECT count(*) FROM audit_log WHERE tenant_id = '{t}') AS n",
        t = c.tenant.as_uuid()
    ))
    .get_result(&mut owner())
    .unwrap();
    assert_eq!(left.n, 0);
    let purges: N = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM audit_log WHERE tenant_id = '00000000-0000-0000-0000-000000000000'
           AND action = 'tenant.purge' AND details->>'tenant' = '{}'",
        c.tenant
    ))
    .get_result(&mut owner())
    .unwrap();
    assert_eq!(purges.n, 1);
    assert!(chain_verifies(TenantId::from_uuid(Uuid::nil())));
    assert!(matches!(
        control::purge_tenant(&t, c.tenant),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        control::purge_tenant(&t, TenantId::from_uuid(Uuid::nil())),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn users_members_and_roles() {
    let t = tenancy(2);
    let a = new_tenant(&t, "mem-a");
    let b = new_tenant(&t, "mem-b");

    let email = format!("{}@Example.Test", unique("Carol"));
    let carol = control::create_user(&t, &email, "Carol").unwrap();
    assert!(matches!(
        control::create_user(&t, &email.to_lowercase(), "Carol"),
        Err(Error::Conflict { .. })
    ));
    assert_eq!(
        control::find_user_by_email(&t, &email.to_uppercase())
            .unwrap()
            .map(|u| u.id),
        Some(carol.id)
    );
    assert!(
        control::find_user_by_email(&t, "nobody@example.test")
            .unwrap()
            .is_none()
    );

    // The same user in two tenants, with a principal in each.
    let in_a = control::invite_member(
        &t,
        a.tenant,
        Actor::Principal(a.owner_principal),
        &email,
        "Carol",
        MemberRole::Member,
    )
    .unwrap();
    let in_b = control::invite_member(
        &t,
        b.tenant,
        Actor::System,
        &email,
        "Carol",
        MemberRole::Customer,
    )
    .unwrap();
    assert_eq!((in_a.user, in_b.user), (carol.id, carol.id));
    assert_ne!(in_a.principal, in_b.principal);
    assert!(matches!(
        control::invite_member(
            &t,
            a.tenant,
            Actor::System,
            &email,
            "Carol",
            MemberRole::Member
        ),
        Err(Error::Conflict { .. })
    ));
    control::accept_invitation(&t, a.tenant, in_a.principal).unwrap();
    control::accept_invitation(&t, b.tenant, in_b.principal).unwrap();
    assert!(matches!(
        control::accept_invitation(&t, a.tenant, in_a.principal),
        Err(Error::NotFound { .. })
    ));

    // Each tenant sees the user only through its own transaction.
    let members_a = t
        .transaction(a.tenant, |tx| {
            tx.load_sql::<_, Member>(diesel::sql_query(
                "SELECT email, role::text AS role FROM tenancy.member_directory()",
            ))
        })
        .unwrap();
    #[derive(QueryableByName, Debug)]
    struct Member {
        #[diesel(sql_type = Text)]
        email: String,
        #[diesel(sql_type = Text)]
        role: String,
    }
    assert!(
        members_a
            .iter()
            .any(|m| m.email == email && m.role == "member")
    );
    let members_b = t
        .transaction(b.tenant, |tx| {
            tx.load_sql::<_, Member>(diesel::sql_query(
                "SELECT email, role::text AS role FROM tenancy.member_directory()",
            ))
        })
        .unwrap();
    assert!(
        members_b
            .iter()
            .any(|m| m.email == email && m.role == "customer")
    );
    assert_eq!(members_b.len(), 2, "B's owner and Carol, nobody of A");

    // Permissions come from role_permissions.
    let perms = t
        .transaction_as(a.tenant, in_a.principal, authz::permissions)
        .unwrap();
    assert_eq!(
        perms.iter().collect::<BTreeSet<_>>(),
        ["resources.read", "resources.write"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .iter()
            .collect()
    );
    // A member cannot invite; an owner's principal of A has no rights in B.
    assert!(matches!(
        control::invite_member(
            &t,
            a.tenant,
            Actor::Principal(in_a.principal),
            "x@example.test",
            "X",
            MemberRole::Member
        ),
        Err(Error::Forbidden {
            permission: "members.manage"
        })
    ));
    assert!(matches!(
        control::invite_member(
            &t,
            b.tenant,
            Actor::Principal(a.owner_principal),
            "x@example.test",
            "X",
            MemberRole::Member
        ),
        Err(Error::Forbidden { .. })
    ));

    // Roles: owner promotes, member cannot, last owner stays, strangers are not found.
    control::change_member_role(
        &t,
        a.tenant,
        a.owner_principal,
        carol.id,
        MemberRole::Manager,
    )
    .unwrap();
    assert!(matches!(
        control::change_member_role(&t, a.tenant, in_a.principal, a.owner, MemberRole::Member),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        control::change_member_role(&t, a.tenant, a.owner_principal, a.owner, MemberRole::Admin),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        control::change_member_role(&t, a.tenant, a.owner_principal, b.owner, MemberRole::Member),
        Err(Error::NotFound { entity: "member" })
    ));
    control::remove_member(&t, a.tenant, a.owner_principal, carol.id).unwrap();
    assert!(matches!(
        control::remove_member(&t, a.tenant, a.owner_principal, carol.id),
        Err(Error::NotFound { .. })
    ));
    // Removed: no permissions any more.
    assert!(
        t.transaction_as(a.tenant, in_a.principal, authz::permissions)
            .unwrap()
            .is_empty()
    );

    let log = actions(a.tenant);
    for expected in [
        "tenant.create",
        "member.invite",
        "member.accept",
        "member.change_role",
        "member.remove",
    ] {
        assert!(
            log.iter().any(|a| a == expected),
            "{expected} missing from {log:?}"
        );
    }
    assert!(chain_verifies(a.tenant) && chain_verifies(b.tenant));
}

#[test]
fn teams_and_workspaces() {
    let t = tenancy(1);
    let a = new_tenant(&t, "teams");
    let plain = member(&t, &a, "plain", MemberRole::Member);
    let team = t
        .transaction_as(a.tenant, a.owner_principal, |tx| {
            let team = org::create_team(tx, "Platform")?;
            org::add_team_member(tx, team.id, plain, TeamRole::Member)?;
            org::add_team_member(tx, team.id, plain, TeamRole::Maintainer)?; // role change
            Ok::<_, Error>(team)
        })
        .unwrap();
    let dup = t.transaction_as(a.tenant, a.owner_principal, |tx| {
        org::create_team(tx, "Platform")
    });
    assert!(matches!(dup, Err(Error::Conflict { .. })), "{dup:?}");
    let foreign = t.transaction_as(a.tenant, a.owner_principal, |tx| {
        org::add_team_member(tx, team.id, PrincipalId::new_v7(), TeamRole::Member)
    });
    assert!(
        matches!(foreign, Err(Error::NotFound { .. })),
        "{foreign:?}"
    );
    let denied = t.transaction_as(a.tenant, plain, |tx| org::create_team(tx, "Mine"));
    assert!(matches!(
        denied,
        Err(Error::Forbidden {
            permission: "teams.manage"
        })
    ));

    let ws = t
        .transaction_as(a.tenant, a.owner_principal, |tx| {
            org::create_workspace(tx, "Team space", WorkspaceKind::Team, team.principal_id)
        })
        .unwrap();
    let personal_of_other = t.transaction_as(a.tenant, plain, |tx| {
        org::create_workspace(tx, "Not mine", WorkspaceKind::Personal, a.owner_principal)
    });
    assert!(matches!(personal_of_other, Err(Error::Forbidden { .. })));
    let own_personal = t.transaction_as(a.tenant, plain, |tx| {
        org::create_workspace(tx, "Mine", WorkspaceKind::Personal, plain)
    });
    assert!(own_personal.is_ok(), "{own_personal:?}");
    let names: Vec<String> = t
        .transaction(a.tenant, org::list_workspaces)
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(names, ["Mine", "Personal", "Team space"]);

    t.transaction_as(a.tenant, a.owner_principal, |tx| {
        org::remove_team_member(tx, team.id, plain)
    })
    .unwrap();
    let again = t.transaction_as(a.tenant, a.owner_principal, |tx| {
        org::remove_team_member(tx, team.id, plain)
    });
    assert!(matches!(again, Err(Error::NotFound { .. })));
    let log = actions(a.tenant);
    for expected in [
        "team.create",
        "team.add_member",
        "workspace.create",
        "team.remove_member",
    ] {
        assert!(
            log.iter().any(|x| x == expected),
            "{expected} missing from {log:?}"
        );
    }
    let _ = ws;
}

fn spec<'a>(
    ws: tenancy_foundation::WorkspaceId,
    name: &'a str,
    visibility: ResourceVisibility,
    data: &'a serde_json::Value,
) -> NewResourceSpec<'a> {
    NewResourceSpec {
        workspace: ws,
        kind: ResourceKind::Prompt,
        name,
        visibility,
        data,
    }
}

#[test]
fn resources_acls_and_not_found_across_tenants() {
    let t = tenancy(1);
    let a = new_tenant(&t, "res-a");
    let b = new_tenant(&t, "res-b");
    let reader = member(&t, &a, "reader", MemberRole::Member);
    let customer = member(&t, &a, "customer", MemberRole::Customer);
    let data = serde_json::json!({ "text": "hi" });

    let (private, shared) = t
        .transaction_as(a.tenant, a.owner_principal, |tx| {
            let p = envelope::create(
                tx,
                &spec(a.workspace, "private", ResourceVisibility::Private, &data),
            )?;
            let s = envelope::create(
                tx,
                &spec(a.workspace, "shared", ResourceVisibility::Tenant, &data),
            )?;
            Ok::<_, Error>((p.id, s.id))
        })
        .unwrap();
    let b_resource = t
        .transaction_as(b.tenant, b.owner_principal, |tx| {
            envelope::create(
                tx,
                &spec(b.workspace, "b's", ResourceVisibility::Tenant, &data),
            )
        })
        .unwrap()
        .id;

    // Visible vs not: a private resource is not found for another member.
    let as_reader = |f: &dyn Fn(&mut tenancy_schema::TenantTx<'_>) -> Result<(), Error>| {
        t.transaction_as(a.tenant, reader, |tx| f(tx))
    };
    assert!(matches!(
        as_reader(&|tx| envelope::get(tx, private).map(drop)),
        Err(Error::NotFound { entity: "resource" })
    ));
    assert!(as_reader(&|tx| envelope::get(tx, shared).map(drop)).is_ok());
    // Visible but not writable: forbidden.
    let rename = ResourceChanges {
        name: Some("renamed"),
        ..ResourceChanges::default()
    };
    assert!(matches!(
        as_reader(&|tx| envelope::update(tx, shared, &rename).map(drop)),
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        as_reader(&|tx| envelope::update(tx, private, &rename).map(drop)),
        Err(Error::NotFound { .. })
    ));
    // Another tenant's id is NotFound for every operation, never Forbidden.
    for (op, r) in [
        (
            "get",
            as_reader(&|tx| envelope::get(tx, b_resource).map(drop)),
        ),
        (
            "update",
            as_reader(&|tx| envelope::update(tx, b_resource, &rename).map(drop)),
        ),
        ("delete", as_reader(&|tx| envelope::delete(tx, b_resource))),
        (
            "grant",
            t.transaction_as(a.tenant, a.owner_principal, |tx| {
                envelope::grant(tx, b_resource, reader, AclPermission::Read)
            }),
        ),
        (
            "owner get",
            t.transaction_as(a.tenant, a.owner_principal, |tx| {
                envelope::get(tx, b_resource).map(drop)
            }),
        ),
        (
            "unknown",
            t.transaction_as(a.tenant, a.owner_principal, |tx| {
                envelope::get(tx, ResourceId::new_v7()).map(drop)
            }),
        ),
    ] {
        assert!(
            matches!(r, Err(Error::NotFound { entity: "resource" })),
            "{op}: {r:?}"
        );
    }

    // Grant write: the reader sees and edits the private resource; revoke takes it back.
    t.transaction_as(a.tenant, a.owner_principal, |tx| {
        envelope::grant(tx, private, reader, AclPermission::Write)
    })
    .unwrap();
    assert!(matches!(
        as_reader(&|tx| envelope::grant(tx, private, customer, AclPermission::Read)),
        Err(Error::Forbidden { .. })
    ));
    let edited = t
        .transaction_as(a.tenant, reader, |tx| {
            envelope::update(tx, private, &rename)
        })
        .unwrap();
    assert_eq!(edited.name, "renamed");
    assert!(
        matches!(
            as_reader(&|tx| envelope::delete(tx, private)),
            Err(Error::Forbidden { .. })
        ),
        "write is not admin"
    );
    t.transaction_as(a.tenant, a.owner_principal, |tx| {
        envelope::revoke(tx, private, reader)
    })
    .unwrap();
    assert!(matches!(
        as_reader(&|tx| envelope::get(tx, private).map(drop)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        t.transaction_as(a.tenant, a.owner_principal, |tx| envelope::revoke(
            tx, private, reader
        )),
        Err(Error::NotFound { entity: "grant" })
    ));

    // A customer reads but does not write.
    let denied = t.transaction_as(a.tenant, customer, |tx| {
        envelope::create(
            tx,
            &spec(a.workspace, "nope", ResourceVisibility::Tenant, &data),
        )
    });
    assert!(
        matches!(
            denied,
            Err(Error::Forbidden {
                permission: "resources.write"
            })
        ),
        "{denied:?}"
    );
    assert!(
        t.transaction_as(a.tenant, customer, |tx| envelope::get(tx, shared).map(drop))
            .is_ok()
    );

    // Soft delete by the owner: gone for everyone.
    t.transaction_as(a.tenant, a.owner_principal, |tx| {
        envelope::delete(tx, shared)
    })
    .unwrap();
    assert!(matches!(
        as_reader(&|tx| envelope::get(tx, shared).map(drop)),
        Err(Error::NotFound { .. })
    ));

    let log = actions(a.tenant);
    for expected in [
        "resource.create",
        "resource.grant",
        "resource.update",
        "resource.revoke",
        "resource.delete",
    ] {
        assert!(
            log.iter().any(|x| x == expected),
            "{expected} missing from {log:?}"
        );
    }
    assert!(chain_verifies(a.tenant));
}

#[test]
fn keyset_pagination_is_stable_and_applies_visibility() {
    let t = tenancy(1);
    let a = new_tenant(&t, "page");
    let reader = member(&t, &a, "reader", MemberRole::Member);
    let data = serde_json::json!({});
    let mut tenant_visible = BTreeSet::new();
    t.transaction_as(a.tenant, a.owner_principal, |tx| {
        for i in 0..25 {
            let vis = if i % 5 == 0 {
                ResourceVisibility::Private
            } else {
                ResourceVisibility::Tenant
            };
            let r = envelope::create(tx, &spec(a.workspace, &format!("r{i}"), vis, &data))?;
            if vis == ResourceVisibility::Tenant {
                tenant_visible.insert(r.id);
            }
        }
        Ok::<_, Error>(())
    })
    .unwrap();

    // The owner pages through all 25, 10 at a time; inserts between pages do not shift them.
    let mut seen = Vec::new();
    let mut request = ListRequest::first(10).in_workspace(a.workspace);
    let mut pages = 0;
    loop {
        let page = t
            .transaction_as(a.tenant, a.owner_principal, |tx| {
                envelope::list(tx, &request)
            })
            .unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|r| (r.updated_at, r.id)));
        if pages == 1 {
            t.transaction_as(a.tenant, a.owner_principal, |tx| {
                envelope::create(
                    tx,
                    &spec(a.workspace, "late", ResourceVisibility::Tenant, &data),
                )
            })
            .unwrap();
        }
        let Some(next) = page.next else { break };
        let text = next.to_string();
        request = ListRequest::first(10)
            .in_workspace(a.workspace)
            .after(text.parse().unwrap());
    }
    assert_eq!(
        (pages, seen.len()),
        (3, 25),
        "the late insert is newer than the cursor"
    );
    let mut sorted = seen.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(seen, sorted, "newest first, no repeats");
    assert_eq!(seen.iter().map(|s| s.1).collect::<BTreeSet<_>>().len(), 25);

    // The reader sees only what visibility allows, in the query and under RLS alike.
    let listed: BTreeSet<ResourceId> = t
        .transaction_as(a.tenant, reader, |tx| {
            envelope::list(tx, &ListRequest::first(100))
        })
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.id)
        .collect();
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let by_rls: BTreeSet<ResourceId> = t
        .transaction_as(a.tenant, reader, |tx| {
            tx.load_sql::<_, Id>(diesel::sql_query(
                "SELECT id FROM resources WHERE deleted_at IS NULL",
            ))
        })
        .unwrap()
        .into_iter()
        .map(|r| ResourceId::from_uuid(r.id))
        .collect();
    assert_eq!(listed.len(), 21, "20 tenant-visible + the late one");
    assert_eq!(listed, by_rls);
    assert!(tenant_visible.is_subset(&listed));

    assert!(matches!(
        t.transaction_as(a.tenant, reader, |tx| envelope::list(
            tx,
            &ListRequest::first(0)
        )),
        Err(Error::InvalidInput { field: "limit", .. })
    ));
    assert!(matches!(
        "garbage".parse::<envelope::Cursor>(),
        Err(Error::InvalidInput {
            field: "cursor",
            ..
        })
    ));
}

/// Collects `tenancy::audit` events' fields.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

struct FieldText<'a>(&'a mut String);

impl tracing::field::Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = format!("{} ", event.metadata().target());
        event.record(&mut FieldText(&mut text));
        self.0.lock().unwrap().push(text);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn mutations_emit_tracing_events_and_the_admin_hatch_is_audited() {
    let events = Events::default();
    let t = tenancy(1);
    let (c, resource) = tracing::subscriber::with_default(events.clone(), || {
        let c = new_tenant(&t, "trace");
        let data = serde_json::json!({});
        let r = t
            .transaction_as(c.tenant, c.owner_principal, |tx| {
                envelope::create(
                    tx,
                    &spec(c.workspace, "traced", ResourceVisibility::Private, &data),
                )
            })
            .unwrap();
        (c, r.id)
    });
    let seen = events.0.lock().unwrap().clone();
    let create = seen
        .iter()
        .find(|e| e.contains("action=\"resource.create\"") && e.contains(&c.tenant.to_string()))
        .unwrap_or_else(|| panic!("no resource.create event in {seen:#?}"));
    for field in [
        format!("tenant_id={}", c.tenant),
        format!("workspace_id={}", c.workspace),
        format!("resource_id={resource}"),
    ] {
        assert!(create.contains(&field), "{field} missing from {create}");
    }
    // Control-plane calls are not the application's escape hatch: no warning for them.
    assert!(
        seen.iter()
            .any(|e| e.starts_with("tenancy::control ")
                && e.contains("control plane: create tenant")),
        "{seen:#?}"
    );
    assert!(
        !seen.iter().any(|e| e.starts_with("tenancy::admin ")),
        "{seen:#?}"
    );

    // The escape hatch leaves a row in the control plane's chain, reason and caller included.
    #[derive(QueryableByName)]
    struct Details {
        #[diesel(sql_type = Text)]
        details: String,
    }
    let hatch_rows = || -> Vec<Details> {
        diesel::sql_query(
            "SELECT details::text AS details FROM audit_log
             WHERE tenant_id = '00000000-0000-0000-0000-000000000000' AND action = 'admin.escape_hatch'
               AND details->>'reason' = 'test: audited escape hatch'",
        )
        .load(&mut owner())
        .unwrap()
    };
    assert!(hatch_rows().is_empty());
    t.admin("test: audited escape hatch", |_| Ok::<_, Error>(()))
        .unwrap();
    let rows = hatch_rows();
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].details.contains("control_plane.rs"),
        "{}",
        rows[0].details
    );

    // Nor can admin work take that record back, or the newest entries of a tenant's chain
    // (which would still verify): entries go only with their tenant's row, and the control
    // plane's chain never. The setting that names a purged tenant is anyone's to set.
    let c = new_tenant(&t, "erase");
    for (tenant, entries) in [
        (
            Uuid::nil(),
            "action = 'admin.escape_hatch' AND details->>'reason' = 'test: audited escape hatch'",
        ),
        (
            *c.tenant.as_uuid(),
            "seq = (SELECT max(seq) FROM audit_log WHERE tenant_id = $1)",
        ),
    ] {
        let erased = t.admin("test: erase audit entries", |conn| {
            diesel::sql_query("SELECT set_config('tenancy.purge_tenant', $1::text, true)")
                .bind::<diesel::sql_types::Uuid, _>(tenant)
                .execute(conn)?;
            diesel::sql_query(format!(
                "DELETE FROM audit_log WHERE tenant_id = $1 AND {entries}"
            ))
            .bind::<diesel::sql_types::Uuid, _>(tenant)
            .execute(conn)
            .map_err(Error::from)
        });
        assert!(
            erased
                .as_ref()
                .is_err_and(|e| e.to_string().contains("permission denied")),
            "{tenant}: {erased:?}"
        );
    }
    assert_eq!(hatch_rows().len(), 1);
    assert_eq!(actions(c.tenant), ["tenant.create"]);
}

#[test]
fn jobs_carry_their_tenant() {
    let t = tenancy(1);
    let a = new_tenant(&t, "job-a");
    let b = new_tenant(&t, "job-b");
    let data = serde_json::json!({});
    for c in [&a, &b] {
        t.transaction_as(c.tenant, c.owner_principal, |tx| {
            envelope::create(
                tx,
                &spec(c.workspace, "doc", ResourceVisibility::Tenant, &data),
            )
        })
        .unwrap();
    }
    let job = TenantJob::acting_as(a.tenant, a.owner_principal, "count".to_owned());
    let wire = serde_json::to_string(&job).unwrap();
    assert!(wire.contains(&a.tenant.to_string()), "{wire}");
    let job: TenantJob<String> = serde_json::from_str(&wire).unwrap();
    let seen = job
        .run(&t, |tx, payload| {
            assert_eq!(payload, "count");
            envelope::list(tx, &ListRequest::first(50))
        })
        .unwrap();
    assert_eq!(seen.items.len(), 1);
    assert!(seen.items.iter().all(|r| r.tenant_id == a.tenant));
}

/// Another tenant cannot become a user's personal tenant: its owner may invite the address as
/// an owner and give the invited principal a personal workspace (whose id sorts first), and
/// the user's sign-up still creates, or finds, the tenant seeding made.
#[test]
fn a_sign_up_lands_in_the_users_own_tenant_whatever_another_tenant_prepared() {
    use tenancy_foundation::models::NewWorkspace;
    use tenancy_foundation::schema::workspaces;
    use tenancy_foundation::seed::seed_personal_tenant;

    let t = tenancy(2);
    let a = new_tenant(&t, "lure");
    let invite = |email: &str| {
        control::invite_member(
            &t,
            a.tenant,
            Actor::Principal(a.owner_principal),
            email,
            "Victim",
            MemberRole::Owner,
        )
        .expect("invite")
    };

    // Not signed up yet: invited as an owner, with a personal workspace in `a`.
    let fresh = format!("{}@example.test", unique("fresh"));
    let invited = invite(&fresh);
    t.transaction_as(a.tenant, invited.principal, |tx| {
        org::create_workspace(tx, "Personal", WorkspaceKind::Personal, invited.principal)
    })
    .expect("workspace in the inviting tenant");
    let signed_up = seed_personal_tenant(&t, &fresh, "Victim").expect("seed");
    assert!(signed_up.created);
    assert_ne!(signed_up.tenant, a.tenant);

    // Signed up already: a personal workspace in `a` whose id sorts before the user's own.
    let existing = format!("{}@example.test", unique("existing"));
    let own = seed_personal_tenant(&t, &existing, "Victim").expect("seed");
    let invited = invite(&existing);
    t.transaction(a.tenant, |tx| {
        tx.insert(
            workspaces::table,
            NewWorkspace {
                id: tenancy_foundation::WorkspaceId::from_uuid(Uuid::from_u128(1)),
                name: "Personal",
                kind: WorkspaceKind::Personal,
                owner_principal_id: invited.principal,
            },
        )
    })
    .expect("workspace in the inviting tenant");
    let again = seed_personal_tenant(&t, &existing, "Victim").expect("seed");
    assert_eq!((again.tenant, again.workspace), (own.tenant, own.workspace));
    // Accepting the invitation makes the user an owner of `a`, which is still not personal.
    control::accept_invitation(&t, a.tenant, invited.principal).expect("accept");
    let accepted = seed_personal_tenant(&t, &existing, "Victim").expect("seed");
    assert_eq!(
        (accepted.tenant, accepted.workspace),
        (own.tenant, own.workspace)
    );
}

/// The fixtures with row level security enforced (SQL and, where installed, native context),
/// each as an application on the foundation schema builds its `Tenancy`.
fn enforced() -> Vec<common::Rls> {
    let _ = events();
    common::Rls::all()
        .into_iter()
        .filter(|r| r.enforced())
        .collect()
}

/// What SQL in the attacker's own tenant transaction does to make its tenant look like the
/// personal tenant of the user it invited as an owner (`invited`): the membership turned
/// active, and a personal workspace for the invited principal. The membership is turned active
/// by the API's acceptance, as an application acting for the user would, or raw SQL where the
/// acceptance guard is not installed (on Citus): the seed must not depend on it.
fn dress_up_as_personal(t: &Tenancy, tenant: TenantId, by: PrincipalId, invited: PrincipalId) {
    control::accept_invitation(t, tenant, invited).expect("accept");
    let p = invited.as_uuid();
    t.transaction_as(tenant, by, |tx| {
        tx.execute(diesel::sql_query(format!(
            "INSERT INTO workspaces (tenant_id, name, kind, owner_principal_id) \
             VALUES (tenancy.current_tenant(), 'Personal', 'personal', '{p}')"
        )))
    })
    .expect("raw SQL in the attacker's own tenant");
}

/// A user's personal tenant is the one seeding created for the user (recorded in `tenants`,
/// which no tenant transaction writes), not one that looks like it: an attacker who signed up
/// (so its own tenant has a personal slug) invites a not yet registered address as an owner
/// and dresses the membership up; the user's sign-up still creates a tenant of its own, and
/// what the user keeps there the attacker does not read.
#[test]
fn raw_sql_cannot_make_a_sign_up_land_in_the_attackers_tenant() {
    use tenancy_foundation::seed::seed_personal_tenant;
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    for rls in enforced() {
        let t = rls.tenancy(1);
        let attacker = seed_personal_tenant(
            &t,
            &format!("{}@example.test", unique("attacker")),
            "Attacker",
        )
        .expect("attacker signs up");
        let victim_email = format!("{}@example.test", unique("victim"));
        let inv = control::invite_member(
            &t,
            attacker.tenant,
            Actor::Principal(attacker.principal),
            &victim_email,
            "Victim",
            MemberRole::Owner,
        )
        .expect("invite the address as an owner");
        dress_up_as_personal(&t, attacker.tenant, attacker.principal, inv.principal);

        let victim = seed_personal_tenant(&t, &victim_email, "Victim").expect("victim signs up");
        assert!(victim.created, "{rls:?}: {victim:?}");
        assert_eq!(victim.user, inv.user, "{rls:?}");
        assert_ne!(victim.tenant, attacker.tenant, "{rls:?}");
        common::create_resource(&t, victim, "victim's diary").expect("victim writes");
        let read: Vec<String> = t
            .transaction(attacker.tenant, |tx| {
                tx.load_sql(diesel::sql_query("SELECT name FROM resources"))
            })
            .unwrap()
            .into_iter()
            .map(|n: Name| n.name)
            .collect();
        assert!(
            !read.iter().any(|n| n == "victim's diary"),
            "{rls:?}: {read:?}"
        );
        let again = seed_personal_tenant(&t, &victim_email, "Victim").expect("sign in");
        assert_eq!(
            (again.tenant, again.workspace, again.created),
            (victim.tenant, victim.workspace, false),
            "{rls:?}"
        );
    }
}

/// The same for a user who has a personal tenant already: an attacker whose own personal
/// tenant is older dresses up a membership of the user in it, and the user's next
/// `seed_personal_tenant` (as an application may call on every sign-in) still returns the
/// user's own tenant.
#[test]
fn raw_sql_cannot_redirect_an_existing_users_personal_tenant() {
    use tenancy_foundation::seed::seed_personal_tenant;
    for rls in enforced() {
        let t = rls.tenancy(1);
        let attacker = seed_personal_tenant(
            &t,
            &format!("{}@example.test", unique("attacker")),
            "Attacker",
        )
        .expect("attacker signs up");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let victim_email = format!("{}@example.test", unique("victim"));
        let first = seed_personal_tenant(&t, &victim_email, "Victim").expect("victim signs up");
        let inv = control::invite_member(
            &t,
            attacker.tenant,
            Actor::Principal(attacker.principal),
            &victim_email,
            "Victim",
            MemberRole::Owner,
        )
        .expect("invite");
        dress_up_as_personal(&t, attacker.tenant, attacker.principal, inv.principal);
        let again = seed_personal_tenant(&t, &victim_email, "Victim").expect("sign in again");
        assert_eq!(
            (
                again.tenant,
                again.principal,
                again.workspace,
                again.created
            ),
            (first.tenant, first.principal, first.workspace, false),
            "{rls:?}: the attacker's tenant is {:?}",
            attacker.tenant
        );
    }
}

/// A personal tenant whose user is no longer an active owner of it (an owner the user made
/// removed the user) is no longer where the user's sign-up lands: the user gets a new one,
/// and the old tenant stays with the owners it has.
#[test]
fn a_user_removed_from_its_personal_tenant_gets_a_new_one() {
    use tenancy_foundation::seed::seed_personal_tenant;
    let t = tenancy(1);
    let email = format!("{}@example.test", unique("removed"));
    let first = seed_personal_tenant(&t, &email, "Removed").expect("sign up");
    let inv = control::invite_member(
        &t,
        first.tenant,
        Actor::Principal(first.principal),
        &format!("{}@example.test", unique("co-owner")),
        "Co-owner",
        MemberRole::Owner,
    )
    .expect("invite a co-owner");
    control::accept_invitation(&t, first.tenant, inv.principal).expect("accept");
    control::remove_member(&t, first.tenant, inv.principal, first.user).expect("remove");
    let again = seed_personal_tenant(&t, &email, "Removed").expect("sign in");
    assert!(again.created, "{again:?}");
    assert_ne!(again.tenant, first.tenant);
    let later = seed_personal_tenant(&t, &email, "Removed").expect("sign in");
    assert_eq!((later.tenant, later.created), (again.tenant, false));
}

/// A tenant cannot point a membership of its own at another user (whose email and name
/// `tenancy.member_directory()` would then show it): only the control plane adds members, and
/// a tenant transaction changes a membership's role and status alone.
#[test]
fn a_tenant_cannot_claim_another_tenants_user_as_its_member() {
    use tenancy_foundation::schema::org_members;

    let t = tenancy(2);
    let a = new_tenant(&t, "claimer");
    let b = new_tenant(&t, "claimed");
    let customer = member(&t, &a, "cust", MemberRole::Customer);
    let denied = |r: Result<usize, Error>| {
        assert!(
            r.as_ref()
                .is_err_and(|e| e.to_string().contains("permission denied")),
            "{r:?}"
        );
    };
    denied(t.transaction(a.tenant, |tx| {
        tx.update(org_members::table)
            .filter(org_members::principal_id.eq(customer))
            .set(org_members::user_id.eq(b.owner))
            .execute()
    }));
    denied(t.transaction(a.tenant, |tx| {
        tx.execute(diesel::sql_query(format!(
            "INSERT INTO org_members (tenant_id, user_id, principal_id, role) VALUES ('{}', '{}', '{}', 'member')",
            a.tenant.as_uuid(),
            b.owner.as_uuid(),
            customer.as_uuid()
        )))
    }));
    // Nor a principal for another tenant's user, which named the user in the tenant and
    // answered, through its foreign key, whether an id was a user's; nor re-point one.
    denied(t.transaction(a.tenant, |tx| {
        tx.execute(diesel::sql_query(format!(
            "INSERT INTO principals (tenant_id, kind, user_id, display_name) VALUES ('{}', 'user', '{}', 'x')",
            a.tenant.as_uuid(),
            b.owner.as_uuid()
        )))
    }));
    denied(t.transaction(a.tenant, |tx| {
        tx.execute(diesel::sql_query(format!(
            "UPDATE principals SET user_id = '{}' WHERE id = '{}'",
            b.owner.as_uuid(),
            customer.as_uuid()
        )))
    }));
    // What a tenant may change of a membership still works.
    t.transaction(a.tenant, |tx| {
        tx.update(org_members::table)
            .filter(org_members::principal_id.eq(customer))
            .set(org_members::role.eq(MemberRole::Member))
            .execute()
    })
    .expect("role change");
    #[derive(QueryableByName)]
    struct Email {
        #[diesel(sql_type = Text)]
        email: String,
    }
    let emails: Vec<String> = t
        .transaction(a.tenant, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT email FROM tenancy.member_directory()",
            ))
        })
        .expect("directory")
        .into_iter()
        .map(|e: Email| e.email)
        .collect();
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert!(
        emails
            .iter()
            .all(|e| e.starts_with("claimer-") || e.starts_with("cust-")),
        "{emails:?}"
    );
}

/// The table of tenants through typed queries: a tenant transaction reads its own row alone,
/// whether row level security is on or off (tenancy shadows the table by its key, as the
/// policies filter it), and the system connection, which no policy lets read it, refuses it.
#[test]
fn the_tenants_table_shows_a_tenant_its_own_row_alone_without_row_level_security() {
    use tenancy_foundation::schema::tenants;

    for rls in common::Rls::all() {
        let t = rls.tenancy(2);
        let a = new_tenant(&t, "own");
        let b = new_tenant(&t, "other");
        let seen: Vec<TenantId> = t
            .transaction(a.tenant, |tx| tx.load(tenants::table.select(tenants::id)))
            .expect("own row");
        assert_eq!(seen, [a.tenant], "{rls:?}");
        // Joined, and in a sub-query.
        let joined: Vec<(TenantId, String)> = t
            .transaction(a.tenant, |tx| {
                tx.load(
                    tenancy_foundation::schema::workspaces::table
                        .inner_join(tenants::table)
                        .select((tenants::id, tenants::slug)),
                )
            })
            .expect("joined");
        assert!(
            joined.iter().all(|(id, _)| *id == a.tenant),
            "{rls:?}: {joined:?}"
        );
        let counted: Vec<i64> = t
            .transaction(a.tenant, |tx| {
                tx.load(
                    tenancy_foundation::schema::workspaces::table
                        .select(
                            tenants::table
                                .filter(tenants::id.eq(b.tenant))
                                .count()
                                .single_value()
                                .assume_not_null(),
                        )
                        .limit(1),
                )
            })
            .expect("sub-query");
        assert_eq!(counted, [0], "{rls:?}");
        let refused = t.system(|sys| sys.load::<_, TenantId>(tenants::table.select(tenants::id)));
        assert!(
            matches!(
                refused,
                Err(Error::UnsafeSql(tenancy_schema::SqlTextError::TenantTableOnSystemConnection(ref table))) if table == "tenants"
            ),
            "{rls:?}: {refused:?}"
        );
    }
}

/// An invited and accepted member of `c` with `role`: its user and principal.
fn joined(t: &Tenancy, c: &CreatedTenant, label: &str, role: MemberRole) -> (UserId, PrincipalId) {
    let email = format!("{}@example.test", unique(label));
    let inv = control::invite_member(
        t,
        c.tenant,
        Actor::Principal(c.owner_principal),
        &email,
        label,
        role,
    )
    .expect("invite");
    control::accept_invitation(t, c.tenant, inv.principal).expect("accept");
    (inv.user, inv.principal)
}

fn forbidden<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::Forbidden { .. }))
}

/// API keys act as their principal, with what it owns and what is shared with it: issuing
/// one needs `api_keys.manage`; a user's key is its own, only a service principal gets keys
/// from another principal, and not beyond the issuer's permissions; revoking another
/// principal's key needs `api_keys.manage` too, one's own not; removing a member revokes its
/// keys and those it issued.
#[test]
fn api_keys_never_act_beyond_their_issuer_or_outlive_a_membership() {
    use tenancy_foundation::api_keys::{self, MemoryRateLimiter, NewKeySpec};

    let t = tenancy(2);
    let c = new_tenant(&t, "keys");
    let (_, admin) = joined(&t, &c, "admin", MemberRole::Admin);
    let (manager_user, manager) = joined(&t, &c, "manager", MemberRole::Manager);
    let (_, member_p) = joined(&t, &c, "member", MemberRole::Member);
    let (_, customer) = joined(&t, &c, "customer", MemberRole::Customer);
    let service = PrincipalId::new_v7();
    t.transaction(c.tenant, |tx| {
        tx.execute(
            diesel::sql_query(
                "INSERT INTO principals (tenant_id, id, kind, display_name) \
                 VALUES (tenancy.current_tenant(), $1, 'service', 'deploy bot')",
            )
            .bind::<diesel::sql_types::Uuid, _>(*service.as_uuid()),
        )
    })
    .unwrap();
    let issue = |by: Option<PrincipalId>, for_: PrincipalId| {
        let run = |tx: &mut tenancy_schema::TenantTx<'_>| {
            api_keys::issue(tx, NewKeySpec::new(for_, "key"))
        };
        match by {
            Some(by) => t.transaction_as(c.tenant, by, run),
            None => t.transaction(c.tenant, run),
        }
    };
    let not_theirs = |r: &Result<api_keys::IssuedKey, Error>| {
        matches!(
            r,
            Err(Error::InvalidInput {
                field: "principal",
                ..
            })
        )
    };
    // Without api_keys.manage (for a principal that exists or not: alike), without a principal.
    assert!(forbidden(&issue(Some(customer), customer)));
    assert!(forbidden(&issue(Some(customer), PrincipalId::new_v7())));
    assert!(forbidden(&issue(None, c.owner_principal)));
    // Another user's key would read what it owns and what is shared with it alone.
    assert!(not_theirs(&issue(Some(admin), c.owner_principal)));
    assert!(not_theirs(&issue(Some(admin), member_p)));
    assert!(not_theirs(&issue(Some(c.owner_principal), manager)));
    // Their own, and a service's.
    let owner_key = issue(Some(c.owner_principal), c.owner_principal).expect("own key");
    let manager_key = issue(Some(manager), manager).expect("own key");
    let service_key = issue(Some(manager), service).expect("a service's key");

    // Another principal's key needs api_keys.manage; one's own does not.
    let revoke =
        |by: PrincipalId, key| t.transaction_as(c.tenant, by, |tx| api_keys::revoke(tx, key));
    assert!(forbidden(&revoke(customer, owner_key.id)));
    // Nor does a caller without it learn which key ids exist.
    assert!(forbidden(&revoke(customer, ApiKeyId::new_v7())));
    let limiter = MemoryRateLimiter::new();
    api_keys::verify(&t, owner_key.key.expose_secret(), &limiter).expect("owner key still works");
    revoke(manager, manager_key.id).expect("a manager revokes its own key");
    let manager_key = issue(Some(manager), manager).expect("own key");
    for key in [&manager_key, &service_key] {
        api_keys::verify(&t, key.key.expose_secret(), &limiter).expect("key works");
    }

    // Removing the manager revokes its key, and the service's it issued (it holds the secret).
    control::remove_member(&t, c.tenant, admin, manager_user).expect("remove");
    for key in [&manager_key, &service_key] {
        assert!(api_keys::verify(&t, key.key.expose_secret(), &limiter).is_err());
    }
    api_keys::verify(&t, owner_key.key.expose_secret(), &limiter).expect("others' keys stay");
}

/// Only an owner removes an owner (as only an owner makes one), and two owners removing each
/// other at once leave one of them.
#[test]
fn owners_are_removed_by_owners_and_never_all_at_once() {
    let t = tenancy(4);
    let c = new_tenant(&t, "owners");
    let (_, admin) = joined(&t, &c, "admin", MemberRole::Admin);
    let (second_user, second) = joined(&t, &c, "second", MemberRole::Owner);
    assert!(forbidden(&control::remove_member(
        &t,
        c.tenant,
        admin,
        second_user
    )));
    for round in 0..4 {
        let fresh = new_tenant(&t, "race");
        let (other_user, other) = joined(&t, &fresh, "other", MemberRole::Owner);
        let barrier = std::sync::Barrier::new(2);
        let (r1, r2) = std::thread::scope(|s| {
            let one = s.spawn(|| {
                barrier.wait();
                control::remove_member(&t, fresh.tenant, fresh.owner_principal, other_user)
            });
            let two = s.spawn(|| {
                barrier.wait();
                control::remove_member(&t, fresh.tenant, other, fresh.owner)
            });
            (one.join().unwrap(), two.join().unwrap())
        });
        assert!(
            r1.is_ok() != r2.is_ok(),
            "round {round}: exactly one removal succeeds: {r1:?} / {r2:?}"
        );
    }
    control::remove_member(&t, c.tenant, c.owner_principal, second_user)
        .expect("an owner removes an owner");
    let _ = second;
}

/// A new tenant, a member of it holding a `write` grant, and the owner's private resource the
/// grant is on.
fn private_resource_with_a_writer(
    t: &Tenancy,
    label: &str,
) -> (CreatedTenant, PrincipalId, ResourceId) {
    let c = new_tenant(t, label);
    let writer = member(t, &c, "writer", MemberRole::Member);
    let data = serde_json::json!({ "text": "hi" });
    let private = t
        .transaction_as(c.tenant, c.owner_principal, |tx| {
            let r = envelope::create(
                tx,
                &spec(c.workspace, "private", ResourceVisibility::Private, &data),
            )?;
            envelope::grant(tx, r.id, writer, AclPermission::Write)?;
            Ok::<_, Error>(r.id)
        })
        .unwrap();
    (c, writer, private)
}

/// Who else reads a resource is decided by its owner (or an `admin` grant): a `write` grant
/// changes its name and data, not its visibility.
#[test]
fn a_write_grant_does_not_widen_who_reads_a_resource() {
    let t = tenancy(1);
    let (c, writer, private) = private_resource_with_a_writer(&t, "visibility");
    let widen = t.transaction_as(c.tenant, writer, |tx| {
        envelope::update(
            tx,
            private,
            &ResourceChanges {
                visibility: Some(ResourceVisibility::Tenant),
                ..ResourceChanges::default()
            },
        )
    });
    assert!(forbidden(&widen), "{widen:?}");
    t.transaction_as(c.tenant, writer, |tx| {
        envelope::update(
            tx,
            private,
            &ResourceChanges {
                name: Some("renamed"),
                visibility: Some(ResourceVisibility::Private),
                ..ResourceChanges::default()
            },
        )
    })
    .expect("a write grant renames");
}

/// The same rule in the database, for SQL in a tenant's transaction: a write grant edits a
/// resource, but neither changes who reads it (its visibility, its workspace) nor takes it
/// over; its owner still changes its visibility.
#[test]
fn a_write_grant_does_not_widen_who_reads_a_resource_in_sql() {
    let t = tenancy(1);
    let (c, writer, private) = private_resource_with_a_writer(&t, "visibility-sql");
    let id = private.as_uuid();
    let run_as = |who: PrincipalId, set: &str| {
        t.transaction_as(c.tenant, who, |tx| {
            tx.execute(diesel::sql_query(format!(
                "UPDATE resources SET {set} WHERE id = '{id}'"
            )))
        })
    };
    for (set, refusal) in [
        ("visibility = 'tenant'", "changing who reads a resource"),
        (
            "workspace_id = gen_random_uuid()",
            "owner and workspace are set when it is created",
        ),
        (
            &format!("owner_principal_id = '{}'", writer.as_uuid()),
            "owner and workspace are set when it is created",
        ),
    ] {
        let r = run_as(writer, set);
        assert!(
            matches!(&r, Err(Error::Query(e)) if e.to_string().contains(refusal)),
            "{set}: {r:?}"
        );
    }
    assert_eq!(run_as(writer, "name = 'renamed in sql'").ok(), Some(1));
    assert_eq!(
        run_as(c.owner_principal, "visibility = 'tenant'").ok(),
        Some(1)
    );
    let r = run_as(
        c.owner_principal,
        &format!("owner_principal_id = '{}'", writer.as_uuid()),
    );
    assert!(
        r.is_err(),
        "the owner hands a resource over through the API only: {r:?}"
    );
}

/// A pending invitation shows the name the inviting tenant gave, not the one the user
/// registered with (which would tell the tenant the address is registered, and the user's
/// name, before the user joined); once accepted, the user's own.
#[test]
fn an_invitation_shows_nothing_of_the_user_until_accepted() {
    #[derive(QueryableByName)]
    struct Entry {
        #[diesel(sql_type = Text)]
        email: String,
        #[diesel(sql_type = Text)]
        display_name: String,
    }
    let t = tenancy(1);
    let a = new_tenant(&t, "inviter");
    let b = new_tenant(&t, "registered");
    let b_email = diesel::sql_query(format!(
        "SELECT email, display_name FROM users WHERE id = '{}'",
        b.owner.as_uuid()
    ))
    .get_result::<Entry>(&mut owner())
    .unwrap();
    let inv = control::invite_member(
        &t,
        a.tenant,
        Actor::Principal(a.owner_principal),
        &b_email.email,
        "Guessed Name",
        MemberRole::Member,
    )
    .expect("invite");
    let name_seen = |t: &Tenancy| {
        t.transaction(a.tenant, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT email, display_name FROM tenancy.member_directory()",
            ))
        })
        .unwrap()
        .into_iter()
        .find(|e: &Entry| e.email == b_email.email)
        .map(|e| e.display_name)
    };
    assert_eq!(name_seen(&t).as_deref(), Some("Guessed Name"));
    // SQL in the inviting tenant's transaction, which may set a membership's status (to
    // remove a member), cannot accept for the user: not as the owner, nor without a principal.
    let accept = |tx: &mut TenantTx<'_>| {
        tx.execute(diesel::sql_query(
            "UPDATE org_members SET status = 'active' WHERE status = 'invited'",
        ))
    };
    for (principal, forced) in [
        (
            Some(a.owner_principal),
            t.transaction_as(a.tenant, a.owner_principal, accept),
        ),
        (None, t.transaction(a.tenant, accept)),
    ] {
        assert!(
            matches!(&forced, Err(Error::Query(e)) if e.to_string().contains("accepted by the invited user")),
            "{principal:?}: {forced:?}"
        );
    }
    assert_eq!(name_seen(&t).as_deref(), Some("Guessed Name"));
    // Withdrawing the invitation stays the tenant's to do; here it is accepted instead.
    control::accept_invitation(&t, a.tenant, inv.principal).expect("accept");
    assert_eq!(name_seen(&t), Some(b_email.display_name));
}

/// The email `created`'s owner registered with, as stored.
fn registered_email(rls: common::Rls, created: &CreatedTenant) -> String {
    #[derive(QueryableByName)]
    struct Email {
        #[diesel(sql_type = Text)]
        email: String,
    }
    diesel::sql_query(format!(
        "SELECT email FROM users WHERE id = '{}'",
        created.owner.as_uuid()
    ))
    .get_result::<Email>(&mut rls.owner())
    .unwrap()
    .email
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct DirectoryEntry {
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    display_name: String,
    #[diesel(sql_type = Text)]
    status: String,
}

const DIRECTORY: &str =
    "SELECT email, display_name, status::text AS status FROM tenancy.member_directory()";

fn directory(t: &Tenancy, tenant: TenantId) -> Vec<DirectoryEntry> {
    t.transaction(tenant, |tx| tx.load_sql(diesel::sql_query(DIRECTORY)))
        .unwrap()
}

const THROUGH_REMOVED: [&str; 2] = [
    "UPDATE org_members SET status = 'removed' WHERE status = 'invited'",
    "UPDATE org_members SET status = 'active' WHERE status = 'removed'",
];

fn refused_acceptance<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::Query(e)) if e.to_string().contains("accepted by the invited user"))
}

/// Only the invited user turns an invitation active, also by a detour: SQL in the inviting
/// tenant's transaction withdraws the invitation (which it may: that is how a member is
/// removed) and turns the removed membership active, to read the name the user registered
/// with in the member directory. Refused for the inviter, without a principal and for the
/// invited principal itself (a removed membership stays removed); the invited user still
/// accepts.
#[test]
fn raw_sql_cannot_accept_an_invitation_through_removed() {
    for rls in enforced() {
        let t = rls.tenancy(1);
        let a = new_tenant(&t, "inviter");
        let b = new_tenant(&t, "registered");
        let b_email = registered_email(rls, &b);
        let inv = control::invite_member(
            &t,
            a.tenant,
            Actor::Principal(a.owner_principal),
            &b_email,
            "Guessed Name",
            MemberRole::Member,
        )
        .expect("invite");
        let detour = |tx: &mut TenantTx<'_>| {
            for sql in THROUGH_REMOVED {
                tx.execute(diesel::sql_query(sql))?;
            }
            Ok::<_, Error>(())
        };
        for (who, r) in [
            (
                "inviter",
                t.transaction_as(a.tenant, a.owner_principal, detour),
            ),
            ("no principal", t.transaction(a.tenant, detour)),
            ("invited", t.transaction_as(a.tenant, inv.principal, detour)),
        ] {
            assert!(refused_acceptance(&r), "{rls:?} {who}: {r:?}");
        }
        let pending = DirectoryEntry {
            email: b_email.clone(),
            display_name: "Guessed Name".to_owned(),
            status: "invited".to_owned(),
        };
        assert!(
            directory(&t, a.tenant).contains(&pending),
            "{rls:?}: {:?}",
            directory(&t, a.tenant)
        );
        // Withdrawn for good, it is not made active again either.
        t.transaction_as(a.tenant, a.owner_principal, |tx| {
            tx.execute(diesel::sql_query(THROUGH_REMOVED[0]))
        })
        .expect("withdraw");
        let r = t.transaction_as(a.tenant, a.owner_principal, |tx| {
            tx.execute(diesel::sql_query(THROUGH_REMOVED[1]))
        });
        assert!(refused_acceptance(&r), "{rls:?}: {r:?}");
        assert!(matches!(
            control::accept_invitation(&t, a.tenant, inv.principal),
            Err(Error::NotFound { .. })
        ));
    }
}

/// The same detour through the async handle, with the opening sent alone and pipelined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_raw_sql_cannot_accept_an_invitation_through_removed() {
    for (rls, pipeline) in common::Rls::all_async()
        .into_iter()
        .filter(|(r, _)| r.enforced())
    {
        let _ = events();
        let t = rls.tenancy(1);
        let at = common::async_tenancy_with(rls, 1, pipeline).await;
        let a = new_tenant(&t, "inviter");
        let b = new_tenant(&t, "registered");
        let b_email = registered_email(rls, &b);
        control::invite_member(
            &t,
            a.tenant,
            Actor::Principal(a.owner_principal),
            &b_email,
            "Guessed Name",
            MemberRole::Member,
        )
        .expect("invite");
        let seen = at
            .transaction_as(a.tenant, a.owner_principal, async |tx| {
                for sql in THROUGH_REMOVED {
                    tx.execute(diesel::sql_query(sql)).await?;
                }
                tx.load_sql::<_, DirectoryEntry>(diesel::sql_query(DIRECTORY))
                    .await
            })
            .await;
        assert!(
            refused_acceptance(&seen),
            "{rls:?} pipeline={pipeline}: {seen:?}"
        );
        let entry = directory(&t, a.tenant)
            .into_iter()
            .find(|e| e.email == b_email);
        assert_eq!(
            entry.map(|e| (e.display_name, e.status)),
            Some(("Guessed Name".to_owned(), "invited".to_owned())),
            "{rls:?} pipeline={pipeline}"
        );
    }
}

/// A pending invitation shows the address as every lookup compares it (in lower case), so
/// that a registered address and one nobody registered, invited alike, look alike: the case
/// the user registered it in would tell the inviting tenant that it is registered. Accepted,
/// the member is shown as registered.
#[test]
fn an_invitation_shows_the_address_as_invited_not_as_registered() {
    for rls in enforced() {
        let t = rls.tenancy(1);
        let a = new_tenant(&t, "inviter");
        // Registered with capitals, invited without them; and the other way round.
        let mixed = format!("{}@Example.Test", unique("Mixed.Case"));
        let slug = unique("mixed");
        let b = control::create_tenant(
            &t,
            &NewTenantSpec {
                slug: &slug,
                name: "registered",
                plan: PlanTier::Free,
                data_region: None,
                owner_email: &mixed,
                owner_name: "Owner",
            },
        )
        .expect("registered with capitals");
        let lower = new_tenant(&t, "lower");
        let lower_email = registered_email(rls, &lower);
        let fresh = format!("{}@example.test", unique("fresh"));
        let mut invitations = Vec::new();
        for typed in [
            mixed.to_lowercase(),
            lower_email.to_uppercase(),
            fresh.to_uppercase(),
        ] {
            invitations.push(
                control::invite_member(
                    &t,
                    a.tenant,
                    Actor::Principal(a.owner_principal),
                    &typed,
                    "Guessed Name",
                    MemberRole::Member,
                )
                .expect("invite"),
            );
        }
        let pending: BTreeSet<String> = directory(&t, a.tenant)
            .into_iter()
            .filter(|e| e.status == "invited")
            .map(|e| e.email)
            .collect();
        let expected: BTreeSet<String> = [mixed.to_lowercase(), lower_email.clone(), fresh]
            .into_iter()
            .collect();
        assert_eq!(pending, expected, "{rls:?}");
        assert_eq!(
            registered_email(rls, &b),
            mixed,
            "{rls:?}: stored as registered"
        );
        control::accept_invitation(&t, a.tenant, invitations[0].principal).expect("accept");
        assert!(
            directory(&t, a.tenant)
                .iter()
                .any(|e| e.email == mixed && e.status == "active"),
            "{rls:?}"
        );
    }
}

/// A user's id says nothing of when the user registered: every tenant that invites the user
/// reads it (`org_members.user_id`, the member directory), and a UUIDv7 carries its creation
/// time, which would tell the tenant that the address was registered before the invitation.
/// User ids are random (version 4), however the user was created.
#[test]
fn an_invitation_does_not_date_the_users_registration() {
    #[derive(QueryableByName, Debug)]
    struct Id {
        #[diesel(sql_type = Text)]
        email: String,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        version: i32,
    }
    let version = "('x' || substr(user_id::text, 15, 1))::bit(4)::int AS version";
    for rls in enforced() {
        let t = rls.tenancy(1);
        let b = new_tenant(&t, "registered");
        let b_email = registered_email(rls, &b);
        let a = new_tenant(&t, "inviter");
        let fresh = format!("{}@example.test", unique("fresh"));
        for email in [&b_email, &fresh] {
            control::invite_member(
                &t,
                a.tenant,
                Actor::Principal(a.owner_principal),
                email,
                "Guessed Name",
                MemberRole::Member,
            )
            .expect("invite");
        }
        let ids: Vec<Id> = t
            .transaction(a.tenant, |tx| {
                tx.load_sql(diesel::sql_query(format!(
                    "SELECT email, {version} FROM tenancy.member_directory() \
                     JOIN org_members USING (user_id, principal_id)"
                )))
            })
            .unwrap();
        assert_eq!(ids.len(), 3, "{rls:?}: {ids:?}");
        assert!(ids.iter().all(|i| i.version == 4), "{rls:?}: {ids:?}");
        assert!(ids.iter().any(|i| i.email == b_email), "{rls:?}: {ids:?}");
    }
    // Created by the API, seeding, and SQL that leaves the id to the column's default.
    let t = tenancy(1);
    let created = control::create_user(&t, &format!("{}@example.test", unique("api")), "Api")
        .expect("create user");
    let seeded = tenancy_foundation::seed::seed_personal_tenant(
        &t,
        &format!("{}@example.test", unique("seeded")),
        "Seeded",
    )
    .expect("seed");
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        version: i32,
    }
    let by_default = diesel::sql_query(format!(
        "INSERT INTO users (email, display_name) VALUES ('{}@example.test', 'Sql') \
         RETURNING ('x' || substr(id::text, 15, 1))::bit(4)::int AS version",
        unique("sql")
    ))
    .get_result::<Version>(&mut owner())
    .unwrap();
    assert_eq!(
        (
            created.id.as_uuid().get_version_num(),
            seeded.user.as_uuid().get_version_num(),
            by_default.version
        ),
        (4, 4, 4)
    );
}

/// Inviting an address nobody registered creates its user, but not under the name the
/// inviting tenant chose: that name is the invitation's (the principal's), while the user is
/// named by the address until the user signs up with a name of its own, which every tenant the
/// user joins then shows.
#[test]
fn an_invitation_does_not_name_the_user_for_other_tenants() {
    use tenancy_foundation::seed::seed_personal_tenant;
    let t = tenancy(1);
    let a = new_tenant(&t, "namer");
    let local = unique("named");
    let email = format!("{local}@example.test");
    let inv = control::invite_member(
        &t,
        a.tenant,
        Actor::Principal(a.owner_principal),
        &email,
        "Name Chosen By A",
        MemberRole::Member,
    )
    .expect("invite");
    let user = control::find_user_by_email(&t, &email)
        .unwrap()
        .expect("created by the invitation");
    assert_eq!(
        (user.id, user.display_name.as_str()),
        (inv.user, local.as_str())
    );
    // Before the user signs up, another tenant's member directory names it by the address.
    let c = new_tenant(&t, "third");
    let joined_c = control::invite_member(
        &t,
        c.tenant,
        Actor::Principal(c.owner_principal),
        &email,
        "Invited By C",
        MemberRole::Member,
    )
    .expect("invite by c");
    control::accept_invitation(&t, c.tenant, joined_c.principal).expect("accept");
    let name_in_c = || {
        directory(&t, c.tenant)
            .into_iter()
            .find(|e| e.email == email)
            .map(|e| e.display_name)
    };
    assert_eq!(name_in_c().as_deref(), Some(local.as_str()));
    // The sign-up names the user.
    seed_personal_tenant(&t, &email, "Real Name").expect("sign up");
    assert_eq!(name_in_c().as_deref(), Some("Real Name"));
    // A's pending invitation still shows A's own name for it.
    assert!(
        directory(&t, a.tenant)
            .iter()
            .any(|e| e.email == email && e.display_name == "Name Chosen By A"),
    );
}

/// An invitation into another tenant is refused for the actor's missing permission whatever
/// that tenant's state: the error tells a principal of one tenant nothing of another, not
/// whether it exists or is suspended.
#[test]
fn an_invitation_into_another_tenant_tells_nothing_of_it() {
    let t = tenancy(2);
    let a = new_tenant(&t, "asking");
    let active = new_tenant(&t, "active");
    let suspended = new_tenant(&t, "suspended");
    control::suspend_tenant(&t, suspended.tenant).expect("suspend");
    let unknown = TenantId::new_v7();
    for tenant in [active.tenant, suspended.tenant, unknown] {
        let e = control::invite_member(
            &t,
            tenant,
            Actor::Principal(a.owner_principal),
            &format!("{}@example.test", unique("someone")),
            "Someone",
            MemberRole::Member,
        )
        .expect_err("an invitation into another tenant");
        assert!(
            matches!(
                e,
                Error::Forbidden {
                    permission: "members.manage"
                }
            ),
            "{e:?}"
        );
    }
    // The tenant's own owner is told that it is suspended.
    let e = control::invite_member(
        &t,
        suspended.tenant,
        Actor::Principal(suspended.owner_principal),
        &format!("{}@example.test", unique("someone")),
        "Someone",
        MemberRole::Member,
    )
    .expect_err("an invitation into a suspended tenant");
    assert!(matches!(e, Error::TenantSuspended(_)), "{e:?}");
}

/// Member changes and invitation acceptances run in the named tenant. A principal of another
/// tenant gets what it would get from an active tenant it does not belong to, whether the
/// tenant named exists, is suspended or was never created; the tenant's own principals are
/// told that it is suspended.
#[test]
fn member_changes_in_another_tenant_tell_nothing_of_it() {
    let t = tenancy(2);
    let a = new_tenant(&t, "asking");
    let active = new_tenant(&t, "active");
    let suspended = new_tenant(&t, "suspended");
    let invited = control::invite_member(
        &t,
        suspended.tenant,
        Actor::Principal(suspended.owner_principal),
        &format!("{}@example.test", unique("invited")),
        "Invited",
        MemberRole::Member,
    )
    .expect("invite before the suspension");
    control::suspend_tenant(&t, suspended.tenant).expect("suspend");
    let unknown = TenantId::new_v7();
    let manage = |e: &Error| {
        matches!(
            e,
            Error::Forbidden {
                permission: "members.manage"
            }
        )
    };
    for (tenant, user) in [
        (active.tenant, active.owner),
        (suspended.tenant, suspended.owner),
        (unknown, a.owner),
    ] {
        let e =
            control::change_member_role(&t, tenant, a.owner_principal, user, MemberRole::Member)
                .expect_err("a role change in another tenant");
        assert!(manage(&e), "change_member_role: {e:?}");
        let e = control::remove_member(&t, tenant, a.owner_principal, user)
            .expect_err("a removal in another tenant");
        assert!(manage(&e), "remove_member: {e:?}");
        let e = control::accept_invitation(&t, tenant, a.owner_principal)
            .expect_err("an acceptance in another tenant");
        assert!(
            matches!(
                e,
                Error::NotFound {
                    entity: "invitation"
                }
            ),
            "accept_invitation: {e:?}"
        );
    }
    // The tenant's own principals are told why.
    let e = control::change_member_role(
        &t,
        suspended.tenant,
        suspended.owner_principal,
        invited.user,
        MemberRole::Admin,
    )
    .expect_err("a role change in a suspended tenant");
    assert!(matches!(e, Error::TenantSuspended(_)), "{e:?}");
    let e = control::remove_member(
        &t,
        suspended.tenant,
        suspended.owner_principal,
        invited.user,
    )
    .expect_err("a removal in a suspended tenant");
    assert!(matches!(e, Error::TenantSuspended(_)), "{e:?}");
    let e = control::accept_invitation(&t, suspended.tenant, invited.principal)
        .expect_err("an acceptance in a suspended tenant");
    assert!(matches!(e, Error::TenantSuspended(_)), "{e:?}");
    // Nothing changed: once resumed, the invitation is still there to accept.
    control::resume_tenant(&t, suspended.tenant).expect("resume");
    control::accept_invitation(&t, suspended.tenant, invited.principal).expect("accept");
}

/// A member made owner while an admin (who may change members, not owners) demotes or removes
/// it: the admin's call waits for the promotion and is refused, where reading the role
/// unlocked let it through and left the new owner a customer, or removed.
#[test]
fn a_member_made_owner_meanwhile_is_not_demoted_or_removed_by_an_admin() {
    let t = tenancy(4);
    for removing in [false, true] {
        let a = new_tenant(&t, "promoted");
        let joined = |label: &str, role: MemberRole| {
            let invited = control::invite_member(
                &t,
                a.tenant,
                Actor::Principal(a.owner_principal),
                &format!("{}@example.test", unique(label)),
                label,
                role,
            )
            .unwrap();
            control::accept_invitation(&t, a.tenant, invited.principal).unwrap();
            invited
        };
        let admin = joined("admin", MemberRole::Admin).principal;
        let member = joined("member", MemberRole::Member).user;
        let promoted = std::sync::Barrier::new(2);
        let by_admin = std::thread::scope(|s| {
            // The owner's promotion, held open until the admin's call has read the role.
            s.spawn(|| {
                t.transaction_as(a.tenant, a.owner_principal, |tx| {
                    tx.execute(
                        diesel::sql_query(
                            "UPDATE org_members SET role = 'owner' WHERE user_id = $1",
                        )
                        .bind::<diesel::sql_types::Uuid, _>(*member.as_uuid()),
                    )?;
                    promoted.wait();
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    Ok::<_, Error>(())
                })
                .unwrap();
            });
            promoted.wait();
            if removing {
                control::remove_member(&t, a.tenant, admin, member)
            } else {
                control::change_member_role(&t, a.tenant, admin, member, MemberRole::Customer)
            }
        });
        assert!(
            matches!(by_admin, Err(Error::Forbidden { .. })),
            "removing: {removing}: {by_admin:?}"
        );
        let now: Vec<(MemberRole, tenancy_foundation::models::MemberStatus)> = t
            .transaction_as(a.tenant, a.owner_principal, |tx| {
                use tenancy_foundation::schema::org_members;
                tx.load(
                    org_members::table
                        .filter(org_members::user_id.eq(member))
                        .select((org_members::role, org_members::status)),
                )
            })
            .unwrap();
        assert_eq!(
            now,
            [(
                MemberRole::Owner,
                tenancy_foundation::models::MemberStatus::Active
            )],
            "removing: {removing}"
        );
    }
}

#[test]
fn a_renamed_resource_is_stored_as_its_name_was_checked() {
    let t = tenancy(1);
    let c = new_tenant(&t, "rename");
    let data = serde_json::json!({});
    let as_owner =
        |f: &dyn Fn(&mut TenantTx<'_>) -> Result<tenancy_foundation::models::Resource, Error>| {
            t.transaction_as(c.tenant, c.owner_principal, |tx| f(tx))
        };
    let created = as_owner(&|tx| {
        envelope::create(
            tx,
            &spec(
                c.workspace,
                "  created  ",
                ResourceVisibility::Tenant,
                &data,
            ),
        )
    })
    .unwrap();
    assert_eq!(created.name, "created");
    let rename = |name: &str| {
        as_owner(&|tx| {
            envelope::update(
                tx,
                created.id,
                &ResourceChanges {
                    name: Some(name),
                    ..ResourceChanges::default()
                },
            )
        })
    };
    assert_eq!(rename("  renamed  ").unwrap().name, "renamed");
    // One character and 600 spaces: the check counts one, and one is what is written (the
    // column's limit once turned it into a database error).
    assert_eq!(rename(&format!("x{}", " ".repeat(600))).unwrap().name, "x");
    assert!(matches!(
        rename(&"y".repeat(201)),
        Err(Error::InvalidInput { .. })
    ));
    // A cursor of a time PostgreSQL cannot hold is refused as input, never a database error.
    let far = format!("-1000000000000000000.{}", created.id);
    assert!(matches!(
        far.parse::<envelope::Cursor>(),
        Err(Error::InvalidInput {
            field: "cursor",
            ..
        })
    ));
}
