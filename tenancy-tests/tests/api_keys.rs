//! API keys on real PostgreSQL, as the application role: issue → verify → revoke, expiry,
//! both rate limiters, the throttled `last_used_at`, tenant isolation of verification, strict
//! parsing, suspended and deleted tenants, the audit rows, and that the lookup function
//! cannot be used to enumerate keys. Every test that verifies a key verifies it both ways:
//! `api_keys::verify` and `api_keys::verify_async` (`Verifier`).
//!
//! No test here measures time: timed tests are forbidden in this project (flaky, and they
//! prove little). The constant-time comparison is checked by structure in the unit tests of
//! `tenancy_foundation::api_keys` (every verification hashes and runs one `subtle` comparison,
//! unknown prefixes included).

#![allow(clippy::too_many_lines)] // reason: one scenario per test reads best end to end

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Text};
use tenancy_async::AsyncTenancy;
use tenancy_foundation::ApiKeyId;
use tenancy_foundation::api_keys::{
    self, ApiKeyError, AsyncRateLimiter, Clock, IssuedKey, MemoryRateLimiter, NewKeySpec,
    PgRateLimiter, RateLimitRequest, RateLimiter, VerifiedKey,
};
use tenancy_foundation::models::{ApiKey, ApiKeyStatus, AuditEntry};
use tenancy_foundation::schema::{api_keys as api_keys_table, audit_log};
use tenancy_foundation::seed::{PersonalTenant, seed_personal_tenant};
use tenancy_schema::{Error, Tenancy};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct LookupRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    tenant_id: uuid::Uuid,
}

fn new_tenant(tenancy: &Tenancy, label: &str) -> PersonalTenant {
    let email = format!("{label}-{}@example.test", uuid::Uuid::now_v7().simple());
    seed_personal_tenant(tenancy, &email, label).expect("seed tenant")
}

fn issue(tenancy: &Tenancy, seed: &PersonalTenant, spec: NewKeySpec) -> IssuedKey {
    tenancy
        .transaction_as(seed.tenant, seed.principal, |tx| api_keys::issue(tx, spec))
        .expect("issue key")
}

fn spec(seed: &PersonalTenant) -> NewKeySpec {
    NewKeySpec::new(seed.principal, "test key")
}

/// The secret part of an issued key (`tk_<prefix>_<secret>`), which only its holder knows.
fn secret_of(key: &IssuedKey) -> String {
    key.key
        .expose_secret()
        .rsplit('_')
        .next()
        .expect("tk_<prefix>_<secret>")
        .to_owned()
}

fn rejection(result: Result<VerifiedKey, Error>) -> ApiKeyError {
    match result {
        Err(e) if ApiKeyError::of(&e).is_some() => ApiKeyError::of(&e).cloned().unwrap(),
        Err(other) => panic!("expected an API key error, got {other}"),
        Ok(v) => panic!("expected a rejection, got {v:?}"),
    }
}

fn key_row(tenancy: &Tenancy, seed: &PersonalTenant, id: ApiKeyId) -> ApiKey {
    tenancy
        .transaction(seed.tenant, |tx| {
            tx.first(
                api_keys_table::table
                    .filter(api_keys_table::id.eq(id))
                    .select(ApiKey::as_select()),
            )
        })
        .expect("load key row")
}

fn owner_sql(sql: &str) {
    common::owner().batch_execute(sql).expect("owner sql");
}

/// A clock the test moves by hand.
fn manual_clock() -> (Arc<Mutex<DateTime<Utc>>>, Clock) {
    let now = Arc::new(Mutex::new(Utc::now()));
    let read = Arc::clone(&now);
    let clock: Clock = Arc::new(move || *read.lock().unwrap_or_else(PoisonError::into_inner));
    (now, clock)
}

fn advance(now: &Mutex<DateTime<Utc>>, by: TimeDelta) {
    let mut now = now.lock().unwrap_or_else(PoisonError::into_inner);
    *now += by;
}

/// How a test verifies keys: as a synchronous application does (`api_keys::verify`), or as an
/// async one does (`api_keys::verify_async`, the path of the axum resolver). Every test that
/// verifies a key runs both, each from a fresh start.
enum Verifier {
    Sync(Tenancy),
    Async(tokio::runtime::Runtime, AsyncTenancy),
}

impl Verifier {
    fn both() -> [Verifier; 2] {
        Self::both_on(common::Rls::On)
    }

    /// Both, on the database of `rls`.
    fn both_on(rls: common::Rls) -> [Verifier; 2] {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let tenancy = runtime.block_on(common::async_tenancy(rls, 2));
        [
            Verifier::Sync(rls.tenancy(2)),
            Verifier::Async(runtime, tenancy),
        ]
    }

    fn verify<L: RateLimiter + AsyncRateLimiter>(
        &self,
        key_text: &str,
        limiter: &L,
    ) -> Result<VerifiedKey, Error> {
        match self {
            Verifier::Sync(tenancy) => api_keys::verify(tenancy, key_text, limiter),
            Verifier::Async(runtime, tenancy) => {
                runtime.block_on(api_keys::verify_async(tenancy, key_text, limiter))
            }
        }
    }
}

/// Counts how often verification consulted it; never refuses.
#[derive(Default)]
struct CountingLimiter(AtomicUsize);

impl RateLimiter for CountingLimiter {
    fn check(&self, _tenancy: &Tenancy, _request: RateLimitRequest) -> Result<(), Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl AsyncRateLimiter for CountingLimiter {
    fn check<'a>(
        &'a self,
        _tenancy: &'a AsyncTenancy,
        _request: RateLimitRequest,
    ) -> api_keys::CheckFuture<'a> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[test]
fn issue_verify_revoke_and_audit() {
    common::fixture();
    for verifier in Verifier::both() {
        let tenancy = common::tenancy(2);
        let seed = new_tenant(&tenancy, "lifecycle");
        let limiter = CountingLimiter::default();

        let issued = issue(
            &tenancy,
            &seed,
            spec(&seed).scopes(["resources:read", "deploy.write", "resources:read"]),
        );
        let text = issued.key.expose_secret().to_owned();
        assert!(
            text.starts_with(&format!("tk_{}_", issued.prefix)),
            "{text}"
        );
        assert_eq!(text.len(), 3 + 16 + 1 + 64);
        assert!(
            !format!("{issued:?}").contains(&text[20..]),
            "Debug shows no secret"
        );

        // Only the prefix and the hash are stored.
        let row = key_row(&tenancy, &seed, issued.id);
        assert_eq!(row.prefix, issued.prefix);
        assert_eq!(row.secret_hash.len(), 32);
        assert_eq!(row.status, ApiKeyStatus::Active);
        assert_eq!(row.tenant_id, seed.tenant);

        let verified = verifier.verify(&text, &limiter).expect("verify");
        assert_eq!(
            verified,
            VerifiedKey {
                tenant: seed.tenant,
                principal: seed.principal,
                key: issued.id,
                scopes: vec!["resources:read".into(), "deploy.write".into()],
            }
        );
        assert!(verified.has_scope("deploy.write") && !verified.has_scope("deploy"));
        assert_eq!(
            limiter.0.load(Ordering::SeqCst),
            0,
            "a key without rate_limit_per_hour is not counted"
        );

        tenancy
            .transaction_as(seed.tenant, seed.principal, |tx| {
                api_keys::revoke(tx, issued.id)
            })
            .expect("revoke");
        assert_eq!(
            rejection(verifier.verify(&text, &limiter)),
            ApiKeyError::Revoked
        );
        // Revoking again succeeds and writes no second audit row; without a principal (and so
        // without api_keys.manage) another principal's key is not revoked.
        assert!(matches!(
            tenancy.transaction(seed.tenant, |tx| api_keys::revoke(tx, issued.id)),
            Err(Error::Forbidden { .. })
        ));
        tenancy
            .transaction_as(seed.tenant, seed.principal, |tx| {
                api_keys::revoke(tx, issued.id)
            })
            .expect("revoke again");
        assert_eq!(
            key_row(&tenancy, &seed, issued.id).status,
            ApiKeyStatus::Revoked
        );

        // An unknown id and another tenant's id get the same answer, for a caller who may manage
        // keys.
        let other = new_tenant(&tenancy, "lifecycle-other");
        let unknown = tenancy.transaction_as(seed.tenant, seed.principal, |tx| {
            api_keys::revoke(tx, ApiKeyId::new_v7())
        });
        let foreign = tenancy.transaction_as(other.tenant, other.principal, |tx| {
            api_keys::revoke(tx, issued.id)
        });
        for result in [&unknown, &foreign] {
            assert!(
                matches!(result, Err(e) if ApiKeyError::of(e) == Some(&ApiKeyError::NotFound)),
                "{result:?}"
            );
        }
        assert_eq!(
            unknown.map_err(|e| e.to_string()),
            foreign.map_err(|e| e.to_string())
        );

        // The audit rows: ids and prefix, never the secret.
        let entries: Vec<AuditEntry> = tenancy
            .transaction(seed.tenant, |tx| {
                tx.load(
                    audit_log::table
                        .filter(audit_log::action.like("api_key.%"))
                        .order(audit_log::seq)
                        .select(AuditEntry::as_select()),
                )
            })
            .expect("audit rows");
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["api_key.issue", "api_key.revoke"]);
        for entry in &entries {
            assert_eq!(entry.details["api_key_id"], issued.id.to_string());
            assert_eq!(entry.actor_principal_id, Some(seed.principal));
            assert!(!entry.details.to_string().contains(&text[20..]));
        }
        assert_eq!(entries[0].details["prefix"], issued.prefix);
        assert_eq!(
            entries[0].details["principal_id"],
            seed.principal.to_string()
        );
    }
}

#[test]
fn issue_rejects_bad_specs_and_foreign_principals() {
    common::fixture();
    let tenancy = common::tenancy(2);
    let seed = new_tenant(&tenancy, "specs");
    let other = new_tenant(&tenancy, "specs-other");
    let bad = [
        spec(&seed).scopes(["Admin"]),
        spec(&seed).scopes([""]),
        spec(&seed).scopes((0..33).map(|i| format!("s{i}"))),
        spec(&seed).rate_limit_per_hour(0),
        spec(&seed).rate_limit_per_hour(u32::MAX),
        NewKeySpec::new(seed.principal, "  "),
        NewKeySpec::new(seed.principal, "n".repeat(201)),
        // A principal of another tenant does not exist here.
        NewKeySpec::new(other.principal, "foreign"),
    ];
    for spec in bad {
        let shown = format!("{spec:?}");
        let result =
            tenancy.transaction_as(seed.tenant, seed.principal, |tx| api_keys::issue(tx, spec));
        assert!(
            matches!(result, Err(Error::InvalidInput { .. })),
            "{shown:.200}: {result:?}"
        );
    }
    let count = tenancy
        .transaction(seed.tenant, |tx| tx.count(api_keys_table::table))
        .expect("count");
    assert_eq!(count, 0, "nothing was written");
}

#[test]
fn expired_keys_are_refused() {
    common::fixture();
    for verifier in Verifier::both() {
        let tenancy = common::tenancy(2);
        let seed = new_tenant(&tenancy, "expiry");
        let limiter = MemoryRateLimiter::new();
        let past = issue(
            &tenancy,
            &seed,
            spec(&seed).expires_at(Utc::now() - TimeDelta::seconds(1)),
        );
        assert_eq!(
            rejection(verifier.verify(past.key.expose_secret(), &limiter)),
            ApiKeyError::Expired
        );
        let future = issue(
            &tenancy,
            &seed,
            spec(&seed).expires_at(Utc::now() + TimeDelta::hours(1)),
        );
        verifier
            .verify(future.key.expose_secret(), &limiter)
            .expect("not yet expired");
    }
}

#[test]
fn pg_rate_limiter_counts_per_hour_window() {
    common::fixture();
    for verifier in Verifier::both() {
        let tenancy = common::tenancy(2);
        let seed = new_tenant(&tenancy, "pg-limit");
        let (now, clock) = manual_clock();
        let limiter = PgRateLimiter::with_clock(clock);
        let capped = issue(&tenancy, &seed, spec(&seed).rate_limit_per_hour(3));
        let other = issue(&tenancy, &seed, spec(&seed).rate_limit_per_hour(3));
        let text = capped.key.expose_secret();

        for _ in 0..3 {
            verifier.verify(text, &limiter).expect("within the limit");
        }
        let ApiKeyError::RateLimited { retry_after_secs } =
            rejection(verifier.verify(text, &limiter))
        else {
            panic!("expected RateLimited");
        };
        assert!((1..=3600).contains(&retry_after_secs), "{retry_after_secs}");
        // Another key of the same tenant has its own budget.
        verifier
            .verify(other.key.expose_secret(), &limiter)
            .expect("other key");

        // The next window starts from zero, and the old window's row is deleted.
        advance(&now, TimeDelta::hours(1));
        verifier.verify(text, &limiter).expect("next window");
        let windows: Vec<Count> = tenancy
            .transaction(seed.tenant, |tx| {
                tx.load_sql(
                    diesel::sql_query(
                        "SELECT count(*) AS n FROM api_key_usage WHERE api_key_id = $1::text::uuid",
                    )
                    .into_boxed()
                    .bind::<Text, _>(capped.id.as_uuid().to_string()),
                )
            })
            .expect("usage rows");
        assert_eq!(windows[0].n, 1);
    }
}

#[test]
fn memory_rate_limiter_counts_per_hour_window() {
    common::fixture();
    for verifier in Verifier::both() {
        let tenancy = common::tenancy(2);
        let seed = new_tenant(&tenancy, "memory-limit");
        let (now, clock) = manual_clock();
        let limiter = MemoryRateLimiter::with_clock(clock);
        let capped = issue(&tenancy, &seed, spec(&seed).rate_limit_per_hour(3));
        let other = issue(&tenancy, &seed, spec(&seed).rate_limit_per_hour(1));
        let unlimited = issue(&tenancy, &seed, spec(&seed));
        let text = capped.key.expose_secret();

        for _ in 0..3 {
            verifier.verify(text, &limiter).expect("within the limit");
        }
        assert!(matches!(
            rejection(verifier.verify(text, &limiter)),
            ApiKeyError::RateLimited { retry_after_secs } if (1..=3600).contains(&retry_after_secs)
        ));
        verifier
            .verify(other.key.expose_secret(), &limiter)
            .expect("own budget");
        for _ in 0..5 {
            verifier
                .verify(unlimited.key.expose_secret(), &limiter)
                .expect("no limit");
        }
        advance(&now, TimeDelta::hours(1));
        verifier.verify(text, &limiter).expect("next window");
    }
}

#[test]
fn last_used_at_is_written_at_most_once_per_interval() {
    common::fixture();
    for verifier in Verifier::both() {
        let tenancy = common::tenancy(2);
        let seed = new_tenant(&tenancy, "last-used");
        let limiter = MemoryRateLimiter::new();
        let issued = issue(&tenancy, &seed, spec(&seed));
        let text = issued.key.expose_secret();
        assert_eq!(key_row(&tenancy, &seed, issued.id).last_used_at, None);

        verifier.verify(text, &limiter).expect("first");
        let first = key_row(&tenancy, &seed, issued.id);
        assert!(
            first.last_used_at.is_some(),
            "set after the first verification"
        );

        verifier.verify(text, &limiter).expect("second");
        let second = key_row(&tenancy, &seed, issued.id);
        assert_eq!(second.last_used_at, first.last_used_at, "unchanged");
        // `updated_at` is trigger-maintained: unchanged means no UPDATE touched the row.
        assert_eq!(second.updated_at, first.updated_at, "no write at all");

        // Once the interval has passed, the next verification writes again.
        owner_sql(&format!(
            "UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = '{}'",
            issued.id.as_uuid()
        ));
        let stale = key_row(&tenancy, &seed, issued.id).last_used_at;
        verifier.verify(text, &limiter).expect("third");
        let third = key_row(&tenancy, &seed, issued.id).last_used_at;
        assert!(third > stale, "{third:?} > {stale:?}");
    }
}

#[test]
fn a_key_of_tenant_a_never_yields_tenant_b() {
    common::fixture();
    for verifier in Verifier::both() {
        let tenancy = common::tenancy(2);
        let limiter = MemoryRateLimiter::new();
        let a = new_tenant(&tenancy, "iso-a");
        let b = new_tenant(&tenancy, "iso-b");
        let key_a = issue(&tenancy, &a, spec(&a).scopes(["a"]));
        let key_b = issue(&tenancy, &b, spec(&b).scopes(["b"]));

        for _ in 0..3 {
            let va = verifier
                .verify(key_a.key.expose_secret(), &limiter)
                .expect("a");
            let vb = verifier
                .verify(key_b.key.expose_secret(), &limiter)
                .expect("b");
            assert_eq!(
                (va.tenant, va.principal, va.key),
                (a.tenant, a.principal, key_a.id)
            );
            assert_eq!(
                (vb.tenant, vb.principal, vb.key),
                (b.tenant, b.principal, key_b.id)
            );
            assert_eq!((va.scopes, vb.scopes), (vec!["a".into()], vec!["b".into()]));
        }
        // Mixing one key's prefix with the other's secret matches neither.
        let text_a = key_a.key.expose_secret();
        let text_b = key_b.key.expose_secret();
        for mixed in [
            format!("{}{}", &text_a[..20], &text_b[20..]),
            format!("{}{}", &text_b[..20], &text_a[20..]),
        ] {
            assert_eq!(
                rejection(verifier.verify(&mixed, &limiter)),
                ApiKeyError::Unknown
            );
        }
    }
}

#[test]
fn wrong_secrets_and_unknown_prefixes_are_unknown() {
    common::fixture();
    for verifier in Verifier::both() {
        let tenancy = common::tenancy(2);
        let seed = new_tenant(&tenancy, "wrong-secret");
        let limiter = MemoryRateLimiter::new();
        let issued = issue(&tenancy, &seed, spec(&seed));
        let text = issued.key.expose_secret();
        let flip = |c: char| if c == '0' { '1' } else { '0' };

        let mut last_differs = text.to_owned();
        let last = last_differs.pop().map_or('0', flip);
        last_differs.push(last);
        let mut first_differs = text.to_owned();
        let first = first_differs.remove(20);
        first_differs.insert(20, flip(first));
        let unknown_prefix = format!("tk_{}{}", "f".repeat(16), &text[19..]);

        for wrong in [last_differs, first_differs, unknown_prefix] {
            let err = rejection(verifier.verify(&wrong, &limiter));
            assert_eq!(err, ApiKeyError::Unknown, "{wrong}");
            assert!(!err.to_string().contains(&wrong[20..]));
        }
        verifier
            .verify(text, &limiter)
            .expect("the right secret still works");
    }
}

#[test]
fn malformed_key_texts_are_refused_without_panic() {
    common::fixture();
    for verifier in Verifier::both() {
        let limiter = MemoryRateLimiter::new();
        let prefix = "0123456789abcdef";
        let secret = "a".repeat(64);
        let huge = "tk_".to_owned() + &"a".repeat(1 << 20);
        for bad in [
            String::new(),
            "tk_".to_owned(),
            format!("xx_{prefix}_{secret}"),
            format!("TK_{prefix}_{secret}"),
            format!("tk_{prefix}_{}", &secret[1..]),
            format!("tk_{}_{secret}", &prefix[1..]),
            format!("tk_{prefix}_{secret}0"),
            format!("tk_{prefix}_{}", "g".repeat(64)),
            format!("tk_{}_{secret}", prefix.to_uppercase()),
            format!("tk_{prefix}:{secret}"),
            format!("tk_{prefix}_{secret}\n"),
            format!("tk_{prefix}_{}é", "a".repeat(62)),
            format!("tk_{prefix}_{}", "٣".repeat(32)),
            "🔑".repeat(21),
            "tk_%_%".to_owned(),
            huge,
        ] {
            let err = rejection(verifier.verify(&bad, &limiter));
            assert_eq!(err, ApiKeyError::Malformed, "{bad:.80}");
            assert!(err.to_string().len() < 100, "bounded error text");
        }
    }
}

#[test]
fn suspended_and_deleted_tenants() {
    common::fixture();
    for verifier in Verifier::both() {
        let tenancy = common::tenancy(2);
        let limiter = MemoryRateLimiter::new();
        let seed = new_tenant(&tenancy, "suspended");
        let issued = issue(&tenancy, &seed, spec(&seed));
        let text = issued.key.expose_secret();
        verifier.verify(text, &limiter).expect("active tenant");

        let tenant = seed.tenant.as_uuid();
        owner_sql(&format!(
            "UPDATE tenants SET status = 'suspended' WHERE id = '{tenant}'"
        ));
        assert_eq!(
            rejection(verifier.verify(text, &limiter)),
            ApiKeyError::TenantSuspended
        );
        owner_sql(&format!(
            "UPDATE tenants SET status = 'active' WHERE id = '{tenant}'"
        ));
        verifier.verify(text, &limiter).expect("resumed tenant");

        owner_sql(&format!(
            "UPDATE tenants SET deleted_at = now() WHERE id = '{tenant}'"
        ));
        assert_eq!(
            rejection(verifier.verify(text, &limiter)),
            ApiKeyError::Unknown,
            "a deleted tenant's keys are unknown"
        );
    }
}

/// `sql` with `arg` bound as its one text parameter, or with none.
fn lookup_query(sql: &str, arg: Option<&str>) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
    let query = diesel::sql_query(sql.to_owned()).into_boxed();
    match arg {
        Some(arg) => query.bind::<Text, _>(arg.to_owned()),
        None => query,
    }
}

#[test]
fn the_lookup_cannot_enumerate_keys() {
    common::fixture();
    let tenancy = common::tenancy(2);
    let limiter = MemoryRateLimiter::new();
    let a = new_tenant(&tenancy, "enum-a");
    let b = new_tenant(&tenancy, "enum-b");
    let key_a = issue(&tenancy, &a, spec(&a).rate_limit_per_hour(10));
    let key_b = issue(&tenancy, &b, spec(&b));
    api_keys::verify(&tenancy, key_a.key.expose_secret(), &PgRateLimiter::new()).expect("a");
    api_keys::verify(&tenancy, key_b.key.expose_secret(), &limiter).expect("b");

    let patterns = [
        "%".to_owned(),
        String::new(),
        "_".repeat(16),
        ".*".to_owned(),
        format!("{}%", &key_a.prefix[..8]),
        key_a.prefix[..8].to_owned(),
        key_a.prefix.to_uppercase(),
        format!("{} ", key_a.prefix),
        format!("{}' OR true --", key_a.prefix),
    ];
    let probe = |sql_conn: &mut dyn FnMut(&str, Option<&str>) -> i64| {
        let mut found = 0;
        for pattern in &patterns {
            found += sql_conn(
                "SELECT tenant_id FROM tenancy.api_key_lookup($1, sha256(''))",
                Some(pattern),
            );
        }
        found += sql_conn(
            "SELECT tenant_id FROM tenancy.api_key_lookup(NULL, NULL)",
            None,
        );
        // The exact prefix, without the secret's hash: a prefix is no secret (it is shown
        // where keys are listed, and travels in logs), and alone it finds nothing.
        found += sql_conn(
            "SELECT tenant_id FROM tenancy.api_key_lookup($1, NULL)",
            Some(key_a.prefix.as_str()),
        );
        found += sql_conn(
            "SELECT tenant_id FROM tenancy.api_key_lookup($1, sha256(convert_to($1, 'UTF8')))",
            Some(key_a.prefix.as_str()),
        );
        found
    };

    // Through the system connection (no tenant set).
    let (sys_found, sys_counts) = tenancy
        .system(|sys| {
            let mut run = |sql: &str, arg: Option<&str>| -> i64 {
                let rows: Vec<LookupRow> = sys.load_sql(lookup_query(sql, arg)).expect("lookup");
                i64::try_from(rows.len()).unwrap_or(i64::MAX)
            };
            let found = probe(&mut run);
            // The key tables are tenant tables: raw SQL naming them is refused here.
            let mut refused = Vec::new();
            for table in ["api_keys", "api_key_usage"] {
                let r = sys.load_sql::<_, Count>(diesel::sql_query(format!(
                    "SELECT count(*) AS n FROM {table}"
                )));
                refused.push(matches!(
                    r,
                    Err(Error::UnsafeSql(
                        tenancy_schema::SqlTextError::TenantTableOnSystemConnection(_)
                    ))
                ));
            }
            Ok::<_, Error>((found, refused))
        })
        .expect("system probes");
    assert_eq!(
        sys_found, 0,
        "no pattern, partial or NULL prefix answers, nor the exact one without its secret's hash"
    );
    assert_eq!(
        sys_counts,
        [true, true],
        "the system connection refuses raw SQL on the key tables"
    );

    // Through tenant B's transaction.
    let (b_found, b_counts) = tenancy
        .transaction(b.tenant, |tx| {
            let mut run = |sql: &str, arg: Option<&str>| -> i64 {
                let rows: Vec<LookupRow> = tx.load_sql(lookup_query(sql, arg)).expect("lookup");
                i64::try_from(rows.len()).unwrap_or(i64::MAX)
            };
            let found = probe(&mut run);
            let mut counts = Vec::new();
            for sql in [
                "SELECT count(*) AS n FROM api_keys",
                "SELECT count(*) AS n FROM api_keys WHERE tenant_id <> tenancy.current_tenant()",
                "SELECT count(*) AS n FROM api_key_usage",
            ] {
                let rows: Vec<Count> = tx.load_sql(diesel::sql_query(sql))?;
                counts.push(rows[0].n);
            }
            Ok::<_, Error>((found, counts))
        })
        .expect("tenant b probes");
    assert_eq!(b_found, 0);
    assert_eq!(b_counts, [1, 0, 0], "tenant b sees its own key only");

    // The exact prefix with the hash of the key's secret does answer (that is what
    // verification needs), so the probes above were not vacuous: with the hash only, never
    // the secret.
    let secret = secret_of(&key_a);
    let exact: Vec<LookupRow> = tenancy
        .system(|sys| {
            sys.load_sql(
                diesel::sql_query(
                    "SELECT tenant_id FROM tenancy.api_key_lookup($1, sha256(convert_to($2, 'UTF8')))",
                )
                .into_boxed()
                .bind::<Text, _>(key_a.prefix.clone())
                .bind::<Text, _>(secret),
            )
        })
        .expect("exact lookup");
    assert_eq!(exact.len(), 1);
    assert_eq!(exact[0].tenant_id, *a.tenant.as_uuid());
}

#[test]
fn a_prefix_planted_by_another_tenant_cannot_block_or_take_a_key() {
    common::fixture();
    for verifier in Verifier::both() {
        let tenancy = common::tenancy(2);
        let limiter = MemoryRateLimiter::new();
        // The attackers' tenants are older, so their (UUIDv7) ids sort first: a lookup that
        // took the first row would pick a planted one.
        let attackers = [
            new_tenant(&tenancy, "plant-attacker-1"),
            new_tenant(&tenancy, "plant-attacker-2"),
        ];
        let victim = new_tenant(&tenancy, "plant-victim");
        let key = issue(&tenancy, &victim, spec(&victim));
        // Both copy the victim's public prefix into their own tenant,
        // through raw SQL in their own tenant transaction (RLS allows it: the row is theirs),
        // with a hash of their choosing.
        for (n, attacker) in attackers.iter().enumerate() {
            tenancy
                .transaction(attacker.tenant, |tx| {
                    tx.execute(diesel::sql_query(format!(
                        "INSERT INTO api_keys (tenant_id, principal_id, name, prefix, secret_hash)
                     VALUES ('{}', '{}', 'planted {n}', '{}', sha256('guess{n}'))",
                        attacker.tenant.as_uuid(),
                        attacker.principal.as_uuid(),
                        key.prefix
                    )))
                })
                .expect("plant");
        }
        let verified = verifier
            .verify(key.key.expose_secret(), &limiter)
            .expect("still verifies");
        assert_eq!((verified.tenant, verified.key), (victim.tenant, key.id));
    }
}

/// A tenant that knows another's whole key (a leaked one) and copies it, prefix and secret's
/// hash, into its own tenant with raw SQL would have the key's holder act in its tenant,
/// writing the holder's data there, also once the key is revoked where it was issued. A key
/// stored in more than one tenant is refused instead, whichever tenant is older, so its holder
/// notices and replaces it.
#[test]
fn a_key_copied_into_another_tenant_is_refused_not_redirected() {
    common::fixture();
    for verifier in Verifier::both() {
        let tenancy = common::tenancy(2);
        let limiter = MemoryRateLimiter::new();
        let older = new_tenant(&tenancy, "copy-older");
        let victim = new_tenant(&tenancy, "copy-victim");
        let newer = new_tenant(&tenancy, "copy-newer");
        for copier in [&older, &newer] {
            let key = issue(&tenancy, &victim, spec(&victim));
            verifier
                .verify(key.key.expose_secret(), &limiter)
                .expect("verifies");
            let secret = secret_of(&key);
            tenancy
            .transaction(copier.tenant, |tx| {
                tx.execute(
                    diesel::sql_query(
                        "INSERT INTO api_keys (tenant_id, principal_id, name, prefix, secret_hash)
                         VALUES (tenancy.current_tenant(), $1, 'copied', $2, sha256(convert_to($3, 'UTF8')))",
                    )
                    .bind::<diesel::sql_types::Uuid, _>(*copier.principal.as_uuid())
                    .bind::<Text, _>(key.prefix.clone())
                    .bind::<Text, _>(secret),
                )
            })
            .expect("copy the key");
            let refused = verifier
                .verify(key.key.expose_secret(), &limiter)
                .expect_err("a key stored in two tenants");
            assert!(
                matches!(ApiKeyError::of(&refused), Some(ApiKeyError::Unknown)),
                "{refused}"
            );
            // Revoked where it was issued: still refused, never the copier's.
            tenancy
                .transaction_as(victim.tenant, victim.principal, |tx| {
                    api_keys::revoke(tx, key.id)
                })
                .expect("revoke");
            let refused = verifier
                .verify(key.key.expose_secret(), &limiter)
                .expect_err("revoked, and stored in two tenants");
            assert!(ApiKeyError::of(&refused).is_some(), "{refused}");
        }
    }
}

/// A key acts as its principal, and a user's principal acts only as an active member. The
/// inviting tenant's owner could issue a key for its own pending invitation (whose permissions,
/// none, never exceed the issuer's), accept the invitation with it for the user, and read the
/// address and name the user registered in the member directory; an admin's key for a pending
/// owner became an owner's key once accepted. Now no key is issued for a pending invitation or
/// a removed member, a key moved onto such a principal by SQL does not verify, and tenant SQL
/// can neither make a removed membership active again nor move one back to `invited`.
#[test]
fn keys_act_only_for_active_members() {
    use tenancy_foundation::control::{self, Actor};
    use tenancy_foundation::models::MemberRole;
    for rls in common::Rls::all() {
        for verifier in Verifier::both_on(rls) {
            let t = rls.tenancy(2);
            let inviting = new_tenant(&t, "inviting");
            let address = format!("Joiner-{}@Example.test", uuid::Uuid::now_v7().simple());
            let _registered = seed_personal_tenant(&t, &address, "Registered Name").expect("seed");
            let invitation = control::invite_member(
                &t,
                inviting.tenant,
                Actor::Principal(inviting.principal),
                &address.to_lowercase(),
                "Guessed",
                MemberRole::Owner,
            )
            .expect("invite");
            // The owner asks for a key of the invitation's principal: refused, whatever its state.
            let refused_a_key = |state: &str| {
                let refused = t
                    .transaction_as(inviting.tenant, inviting.principal, |tx| {
                        api_keys::issue(tx, NewKeySpec::new(invitation.principal, state))
                    })
                    .expect_err(state);
                assert!(
                    matches!(
                        &refused,
                        Error::InvalidInput {
                            field: "principal",
                            ..
                        }
                    ),
                    "{rls:?} {state}: {refused}"
                );
            };
            refused_a_key("a pending invitation");

            // A key of the owner's, moved onto the invitee's principal by tenant SQL.
            let key = issue(&t, &inviting, spec(&inviting));
            let moved = t
                .transaction(inviting.tenant, |tx| {
                    tx.execute(diesel::sql_query(format!(
                        "UPDATE api_keys SET principal_id = '{}' WHERE id = '{}'",
                        invitation.principal.as_uuid(),
                        key.id.as_uuid()
                    )))
                })
                .expect("move the key");
            assert_eq!(moved, 1);
            let limiter = MemoryRateLimiter::new();
            let e = verifier.verify(key.key.expose_secret(), &limiter);
            assert_eq!(rejection(e), ApiKeyError::Unknown, "{rls:?}");

            // Accepted by the user: the membership is active and the key acts for it.
            control::accept_invitation(&t, inviting.tenant, invitation.principal).expect("accept");
            let verified = verifier
                .verify(key.key.expose_secret(), &limiter)
                .expect("verify");
            assert_eq!(verified.principal, invitation.principal, "{rls:?}");

            // Removed: neither back to `invited` nor to `active`, by tenant SQL.
            control::remove_member(&t, inviting.tenant, inviting.principal, invitation.user)
                .expect("remove");
            for status in ["invited", "active"] {
                let e = t
                    .transaction(inviting.tenant, |tx| {
                        tx.execute(diesel::sql_query(format!(
                            "UPDATE org_members SET status = '{status}' WHERE principal_id = '{}'",
                            invitation.principal.as_uuid()
                        )))
                    })
                    .expect_err(status);
                let refused = e.to_string();
                assert!(
                    refused.contains("stays removed")
                        || refused.contains("nothing else makes a membership active"),
                    "{rls:?} {status}: {e}"
                );
            }
            refused_a_key("a removed member");
        }
    }
}
