//! Property-based isolation. Random sequences of operations by random tenants,
//! through the public API and through raw SQL in tenant transactions, checked against a model
//! after every step: nothing ever reads or changes another tenant's rows, and every committed
//! write is still there.
//!
//! The operations, the model and the runner are in `property/mod.rs`, which the Citus suite
//! runs across the nodes of a cluster as well; this suite runs them on the single-node fixture.
//!
//! 500 cases run in the normal suite; `cargo test -p tenancy-tests --test property_isolation
//! -- --ignored` runs 5,000.

use std::sync::OnceLock;

use common::{Rls, fixture, tenancy};
use property::World;

mod common;
mod property;

const TENANTS: usize = 3;

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let tenancy = tenancy(2);
        let tenants = (0..TENANTS)
            .map(|_| property::seed_tenant(&tenancy))
            .collect();
        World {
            tenancy,
            tenants,
            owner_url: fixture().db.url().to_owned(),
        }
    })
}

/// The same world on the database whose policies read the native context (the
/// `tenancy_context` extension); `None` without the extension, unless it is required.
fn native_world() -> Option<&'static World> {
    static WORLD: OnceLock<World> = OnceLock::new();
    if !tenancy_testing::native_context_available().expect("look for the extension") {
        return None;
    }
    Some(WORLD.get_or_init(|| {
        let tenancy = Rls::OnNative.tenancy(2);
        let tenants = (0..TENANTS)
            .map(|_| property::seed_tenant(&tenancy))
            .collect();
        World {
            tenancy,
            tenants,
            owner_url: Rls::OnNative.fixture().db.url().to_owned(),
        }
    }))
}

/// Both tests reset and check the same tenants, so they take turns (`--include-ignored` would
/// otherwise run them at once, each deleting the other's rows).
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(cases: u32) {
    // A poisoned lock only means the other test failed; its failure is reported on its own.
    let _turn = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let operations = property::run(world(), cases, &|_| Ok(()));
    eprintln!("property isolation: {cases} cases, {operations} operations, 0 failures");
    common::record_counts(
        "property-isolation",
        &format!("proptest {cases} cases"),
        &[
            ("cases", u64::from(cases)),
            ("operations", operations as u64),
            ("cross_tenant_rows", 0),
            ("lost_writes", 0),
        ],
    );
}

#[test]
fn random_operations_never_cross_tenants() {
    run(500);
}

#[test]
fn random_operations_never_cross_tenants_with_the_native_context() {
    let Some(world) = native_world() else {
        eprintln!(
            "skipped: the tenancy_context extension is not installed (make -C extension install)"
        );
        return;
    };
    let operations = property::run(world, 300, &|_| Ok(()));
    eprintln!("property isolation, native context: 300 cases, {operations} operations, 0 failures");
}

#[test]
#[ignore = "long run: cargo test -p tenancy-tests --test property_isolation -- --ignored"]
fn random_operations_never_cross_tenants_long() {
    run(5_000);
}
