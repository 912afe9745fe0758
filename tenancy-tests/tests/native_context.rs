//! The native tenant context (the `tenancy_context` extension, `extension/`): what the SQL
//! context guarantees holds for it too, as the application's login, and what is its own: the
//! context lives in the backend's memory for one transaction, and a connection that entered it
//! cannot commit a session-level change.
//!
//! The adversarial, isolation and async suites run every case against the native fixtures as
//! well (`Rls::all()`); this suite covers what only the native context does. Without the
//! extension the suite says so and passes, unless `TENANCY_REQUIRE_NATIVE=1` (CI sets it).

mod common;

use common::Rls;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use hmac::{Hmac, Mac};
use tenancy_schema::{Error, SqlTextError, Tenancy, TenantId};

/// Whether the extension is there; without it, and without the requirement, the test returns.
fn native() -> bool {
    let available = tenancy_testing::native_context_available().expect("look for the extension");
    if !available {
        eprintln!(
            "skipped: the tenancy_context extension is not installed (make -C extension install; \
             TENANCY_REQUIRE_NATIVE=1 makes this a failure)"
        );
    }
    available
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

#[derive(QueryableByName, Debug)]
struct Hex {
    #[diesel(sql_type = Text)]
    hex: String,
}

/// The context key, read as the owner: what the application holds.
fn key() -> Vec<u8> {
    let row: Hex = diesel::sql_query("SELECT encode(key, 'hex') AS hex FROM tenancy.context_key")
        .get_result(&mut Rls::OnNative.owner())
        .unwrap();
    hex::decode(row.hex).unwrap()
}

/// A raw connection as the application's login with a tenancy session of its own, and that
/// session's number: what the pool holds, without the library in between.
fn app_connection() -> (PgConnection, i64) {
    #[derive(QueryableByName)]
    struct Session {
        #[diesel(sql_type = BigInt)]
        s: i64,
    }
    let mut conn = PgConnection::establish(&Rls::OnNative.fixture().login_url).unwrap();
    let session: Session = diesel::sql_query("SELECT tenancy.open_session() AS s")
        .get_result(&mut conn)
        .unwrap();
    (conn, session.s)
}

fn mac(key: &[u8], domain: &str, session: i64, counter: i64, tenant: TenantId) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{domain}|{session}|{counter}|{}|", tenant.as_uuid()).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn enter_native(
    conn: &mut PgConnection,
    tenant: TenantId,
    counter: i64,
    mac: &str,
) -> QueryResult<()> {
    conn.batch_execute(&format!(
        "CALL tenancy_context.enter('{}', NULL, {counter}, '{mac}', true)",
        tenant.as_uuid()
    ))
}

fn posts_visible(conn: &mut PgConnection) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM posts")
        .get_result::<Count>(conn)
        .unwrap()
        .n
}

#[test]
fn pools_enter_the_native_context_once_it_is_switched_on() {
    if !native() {
        return;
    }
    let (a, b) = Rls::OnNative.two_tenants();
    let t = Rls::OnNative.tenancy(1);
    assert_eq!(
        tenancy_schema::__private_v0_1::executor::context_entry(&t),
        tenancy_schema::__private_v0_1::executor::ContextEntry::NativePipelined
    );
    let (entered, tenant, raw): (bool, Option<uuid::Uuid>, i64) = t
        .transaction(a, |tx| {
            #[derive(QueryableByName)]
            struct Row {
                #[diesel(sql_type = Bool)]
                entered: bool,
                #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
                tenant: Option<uuid::Uuid>,
                #[diesel(sql_type = BigInt)]
                n: i64,
            }
            let rows: Vec<Row> = tx.load_sql(diesel::sql_query(
                "SELECT tenancy_context.entered() AS entered, tenancy.current_tenant() AS tenant, \
                 (SELECT count(*) FROM posts) AS n",
            ))?;
            Ok::<_, Error>((rows[0].entered, rows[0].tenant, rows[0].n))
        })
        .unwrap();
    assert!(entered);
    assert_eq!(tenant, Some(*a.as_uuid()));
    assert_eq!(raw, 2, "tenant a's two posts, none of b's");
    // A pool built while the database is on the SQL context keeps entering it; the policies
    // accept both.
    let sql = Rls::On.tenancy(1);
    assert_eq!(
        tenancy_schema::__private_v0_1::executor::context_entry(&sql),
        tenancy_schema::__private_v0_1::executor::ContextEntry::Single
    );
    let _ = b;
}

/// With extension 1.2 the readers are one C call each, which answers from the SQL context
/// for a transaction that entered no native one: a pool built before the switch still sees
/// its own tenant's rows, and only those.
#[test]
fn the_one_call_readers_fall_back_to_the_sql_context() {
    if !native() {
        return;
    }
    let (a, b) = Rls::OnNative.two_tenants();
    let reader: Hex = diesel::sql_query(
        "SELECT prosrc AS hex FROM pg_proc WHERE oid = 'tenancy.current_tenant()'::regprocedure",
    )
    .get_result(&mut Rls::OnNative.owner())
    .unwrap();
    assert_eq!(reader.hex, "SELECT tenancy_context.current_tenant()");
    // The SQL context's entry, as a pool built before the switch sends it.
    let key = key();
    let (mut conn, session) = app_connection();
    for (counter, tenant) in [(100, a), (200, b)] {
        let own = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM posts WHERE tenant_id = '{}'",
            tenant.as_uuid()
        ))
        .get_result::<Count>(&mut Rls::OnNative.owner())
        .unwrap()
        .n;
        let total = diesel::sql_query("SELECT count(*) AS n FROM posts")
            .get_result::<Count>(&mut Rls::OnNative.owner())
            .unwrap()
            .n;
        assert!(own > 0 && own < total, "{own} of {total}");
        conn.batch_execute("BEGIN").unwrap();
        conn.batch_execute(&format!(
            "SELECT tenancy.enter('{}', NULL, {counter}, '{}', true)",
            tenant.as_uuid(),
            mac(&key, "enter", session, counter, tenant)
        ))
        .unwrap();
        let entered: Flag = diesel::sql_query("SELECT tenancy_context.entered() AS flag")
            .get_result(&mut conn)
            .unwrap();
        assert!(!entered.flag, "the SQL entry opens no native context");
        assert_eq!(posts_visible(&mut conn), own, "only the tenant's own posts");
        conn.batch_execute("ROLLBACK").unwrap();
    }
    // Neither context: nothing.
    conn.batch_execute("BEGIN").unwrap();
    assert_eq!(posts_visible(&mut conn), 0);
    conn.batch_execute("ROLLBACK").unwrap();
}

#[test]
fn a_native_context_cannot_be_forged_or_replayed() {
    if !native() {
        return;
    }
    let (a, b) = Rls::OnNative.two_tenants();
    let key = key();
    let (mut conn, session) = app_connection();

    // The application's own entry works, and sees tenant a only.
    let counter = 1_000;
    let good = mac(&key, "native", session, counter, a);
    conn.batch_execute("BEGIN").unwrap();
    enter_native(&mut conn, a, counter, &good).unwrap();
    assert_eq!(posts_visible(&mut conn), 2);
    conn.batch_execute("COMMIT").unwrap();

    // Replayed in this session: the counter has moved on.
    conn.batch_execute("BEGIN").unwrap();
    let replay = enter_native(&mut conn, a, counter, &good).unwrap_err();
    assert!(replay.to_string().contains("replayed counter"), "{replay}");
    conn.batch_execute("ROLLBACK").unwrap();

    // The same MAC for another tenant, another session, or the SQL entry: refused.
    let (mut other, other_session) = app_connection();
    assert_ne!(session, other_session);
    let attempts = [
        // Another tenant with tenant a's MAC.
        (
            false,
            format!(
                "CALL tenancy_context.enter('{}', NULL, 2000, '{good}', true)",
                b.as_uuid()
            ),
        ),
        // Another session.
        (
            true,
            format!(
                "CALL tenancy_context.enter('{}', NULL, {counter}, '{good}', true)",
                a.as_uuid()
            ),
        ),
        // A native MAC on the SQL entry, and the SQL entry's on the native one.
        (
            false,
            format!(
                "SELECT tenancy.enter('{}', NULL, 3000, '{}', true)",
                a.as_uuid(),
                mac(&key, "native", session, 3000, a)
            ),
        ),
        (
            false,
            format!(
                "CALL tenancy_context.enter('{}', NULL, 4000, '{}', true)",
                a.as_uuid(),
                mac(&key, "enter", session, 4000, a)
            ),
        ),
        // Made up, or missing.
        (
            false,
            format!(
                "CALL tenancy_context.enter('{}', NULL, 5000, '{}', true)",
                b.as_uuid(),
                "0".repeat(64)
            ),
        ),
        (
            false,
            format!(
                "CALL tenancy_context.enter('{}', NULL, 6000, NULL, true)",
                b.as_uuid()
            ),
        ),
    ];
    for (in_other, sql) in &attempts {
        let conn = if *in_other { &mut other } else { &mut conn };
        conn.batch_execute("BEGIN").unwrap();
        let e = conn.batch_execute(sql).unwrap_err().to_string();
        // The SQL entry checks its MAC against the session's number in `currval`, which a
        // connection that entered the native context forgets with every transaction's end:
        // it is refused before it gets that far.
        let no_session = sql.contains("tenancy.enter")
            && e.contains("currval of sequence \"session_seq\" is not yet defined");
        assert!(e.contains("bad MAC") || no_session, "{sql}: {e}");
        conn.batch_execute("ROLLBACK").unwrap();
    }

    // Without an entry, the application's login sees nothing, whatever it sets.
    conn.batch_execute("BEGIN").unwrap();
    conn.batch_execute(&format!(
        "SET LOCAL tenancy.tenant_id = '{}'; SELECT set_config('tenancy.context', '{}||x', true)",
        b.as_uuid(),
        b.as_uuid()
    ))
    .unwrap_or(());
    let entered: Flag = diesel::sql_query("SELECT tenancy_context.entered() AS flag")
        .get_result(&mut conn)
        .unwrap();
    assert!(!entered.flag);
    // The SQL context's reader answers for a transaction without a native one: the forged
    // marker makes it refuse, or, once a transaction of this native session ended and took
    // the session's sequence values with it, the nonce it would compare is missing.
    match diesel::sql_query("SELECT count(*) AS n FROM posts").get_result::<Count>(&mut conn) {
        Ok(c) => assert_eq!(c.n, 0),
        Err(e) => assert!(
            e.to_string().contains("tenant context was changed")
                || e.to_string().contains("is not yet defined in this session"),
            "{e}"
        ),
    }
    conn.batch_execute("ROLLBACK").unwrap();
}

/// The one-argument entry (extension 1.2), `'<tenant>|<principal>|<counter>|<mac>|<t or f>'`:
/// the same checks as the five-argument one, one counter for both, and anything that is not
/// exactly that shape refused without a context.
#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one scenario on one connection: the counter it moves is what the later steps check"
)]
fn the_one_argument_entry_checks_the_same_and_refuses_anything_malformed() {
    if !native() {
        return;
    }
    let (a, b) = Rls::OnNative.two_tenants();
    let key = key();
    let (mut conn, session) = app_connection();
    let packed = |tenant: &str, counter: &str, mac: &str, check: &str| {
        format!("CALL tenancy_context.enter('{tenant}||{counter}|{mac}|{check}')")
    };
    let (ta, tb) = (a.as_uuid().to_string(), b.as_uuid().to_string());

    // The application's entry: tenant a only.
    let good = mac(&key, "native", session, 10, a);
    conn.batch_execute("BEGIN").unwrap();
    conn.batch_execute(&packed(&ta, "10", &good, "t")).unwrap();
    assert_eq!(posts_visible(&mut conn), 2);
    conn.batch_execute("COMMIT").unwrap();

    // Refused with the MAC check's own answer: a replay (in either form, one counter), a
    // counter the five-argument form already used, tenant a's MAC for tenant b.
    conn.batch_execute("BEGIN").unwrap();
    enter_native(&mut conn, a, 20, &mac(&key, "native", session, 20, a)).unwrap();
    conn.batch_execute("COMMIT").unwrap();
    let refused = [
        (packed(&ta, "10", &good, "t"), "replayed counter"),
        (
            packed(&ta, "20", &mac(&key, "native", session, 20, a), "t"),
            "replayed counter",
        ),
        (
            packed(&tb, "30", &mac(&key, "native", session, 30, a), "t"),
            "bad MAC",
        ),
        (
            packed(&ta, "40", &mac(&key, "enter", session, 40, a), "t"),
            "bad MAC",
        ),
    ];
    for (sql, why) in &refused {
        conn.batch_execute("BEGIN").unwrap();
        let e = conn.batch_execute(sql).unwrap_err();
        assert!(e.to_string().contains(why), "{sql}: {e}");
        conn.batch_execute("ROLLBACK").unwrap();
    }

    // Not the shape tenancy writes: refused before any key is read, whatever the MAC.
    let valid_mac = mac(&key, "native", session, 50, a);
    let malformed = [
        String::new(),
        "||||".to_owned(),
        format!("{ta}||50|{valid_mac}"),
        format!("{ta}||50|{valid_mac}|t|"),
        format!("{ta}||50|{valid_mac}|true"),
        format!("{ta}||50|{valid_mac}|"),
        format!("{}||50|{valid_mac}|t", ta.to_uppercase()),
        format!("{}||50|{valid_mac}|t", ta.replace('-', "")),
        format!("{}||50|{valid_mac}|t", &ta[..35]),
        format!("{ta}x||50|{valid_mac}|t"),
        format!("{ta}||-50|{valid_mac}|t"),
        format!("{ta}||+50|{valid_mac}|t"),
        format!("{ta}|||{valid_mac}|t"),
        format!("{ta}||9999999999999999999|{valid_mac}|t"),
        format!("{ta}||5 0|{valid_mac}|t"),
        format!("{ta}||50|{}|t", "é".repeat(32)),
    ];
    for entry in &malformed {
        conn.batch_execute("BEGIN").unwrap();
        let sql = format!(
            "CALL tenancy_context.enter('{}')",
            entry.replace('\'', "''")
        );
        let e = conn.batch_execute(&sql).unwrap_err().to_string();
        assert!(
            e.contains("malformed entry") || e.contains("bad MAC"),
            "{sql}: {e}"
        );
        conn.batch_execute("ROLLBACK").unwrap();
    }
    conn.batch_execute("BEGIN").unwrap();
    let e = conn
        .batch_execute("CALL tenancy_context.enter(NULL::text)")
        .unwrap_err();
    assert!(e.to_string().contains("malformed entry"), "{e}");
    conn.batch_execute("ROLLBACK").unwrap();

    // After all of that, the application's next entry still works: nothing moved the counter.
    conn.batch_execute("BEGIN").unwrap();
    conn.batch_execute(&packed(&ta, "50", &valid_mac, "f"))
        .unwrap();
    assert_eq!(posts_visible(&mut conn), 2);
    conn.batch_execute("COMMIT").unwrap();

    // The status flag is the check: a suspended tenant is refused with it, entered without.
    let mut owner = Rls::OnNative.owner();
    let c = new_tenant(&mut owner);
    let tc = c.as_uuid().to_string();
    change_tenant(&mut owner, c, "status = 'suspended'");
    conn.batch_execute("BEGIN").unwrap();
    let e = conn
        .batch_execute(&packed(
            &tc,
            "60",
            &mac(&key, "native", session, 60, c),
            "t",
        ))
        .unwrap_err();
    assert!(e.to_string().contains("is suspended"), "{e}");
    conn.batch_execute("ROLLBACK").unwrap();
    conn.batch_execute("BEGIN").unwrap();
    conn.batch_execute(&packed(
        &tc,
        "70",
        &mac(&key, "native", session, 70, c),
        "f",
    ))
    .unwrap();
    conn.batch_execute("ROLLBACK").unwrap();
}

/// Whether `conn` is inside a transaction block: two statements see the same transaction
/// start only in one.
fn in_transaction_block(conn: &mut PgConnection) -> bool {
    let start = |conn: &mut PgConnection| {
        diesel::sql_query("SELECT transaction_timestamp()::text AS hex")
            .get_result::<Hex>(conn)
            .unwrap()
            .hex
    };
    let first = start(conn);
    std::thread::sleep(std::time::Duration::from_millis(2));
    first == start(conn)
}

/// The packed native entry of `tenant` with `counter` on session `session`, MACed with `key`.
fn native_entry(key: &[u8], session: i64, tenant: TenantId, counter: i64) -> String {
    format!(
        "{}||{counter}|{}|t",
        tenant.as_uuid(),
        mac(key, "native", session, counter, tenant)
    )
}

/// Whether the current transaction entered a native context.
fn entered(conn: &mut PgConnection) -> bool {
    diesel::sql_query("SELECT tenancy_context.entered() AS flag")
        .get_result::<Flag>(conn)
        .unwrap()
        .flag
}

/// After a valid opening for tenant `a` (two posts): a block with the context, read and write
/// (row `id` is written and rolled back), and nothing of either left after the rollback.
fn assert_opened_for(conn: &mut PgConnection, a: TenantId, id: i32) {
    assert!(in_transaction_block(conn));
    assert!(entered(conn));
    assert_eq!(posts_visible(conn), 2);
    conn.batch_execute(&format!(
        "INSERT INTO posts (tenant_id, id, title, slug) VALUES ('{}', {id}, 'opened', 'opened-{id}')",
        a.as_uuid()
    ))
    .unwrap();
    conn.batch_execute("ROLLBACK").unwrap();
    assert!(!in_transaction_block(conn));
    assert!(!entered(conn));
}

/// The open transaction sees tenant `b`'s two posts and nothing of any other tenant.
fn assert_sees_only(conn: &mut PgConnection, b: TenantId) {
    assert_eq!(posts_visible(conn), 2, "tenant b's posts");
    let others: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM posts WHERE tenant_id <> '{}'",
        b.as_uuid()
    ))
    .get_result(conn)
    .unwrap();
    assert_eq!(others.n, 0);
}

/// In an open transaction with a native context: a session-level change does not commit, and
/// nothing stays open.
fn assert_session_change_refused(conn: &mut PgConnection) {
    conn.batch_execute("SET search_path = pg_catalog").unwrap();
    let e = conn.batch_execute("COMMIT").unwrap_err();
    assert!(e.to_string().contains("may not change"), "{e}");
    assert!(!in_transaction_block(conn));
}

/// Entries an opening must refuse, with what the refusal says: `good` replayed, tenant a's MAC
/// for tenant b, the other domain's MAC, a zero MAC, a malformed entry (counters 20 to 40).
fn refused_entries(
    key: &[u8],
    session: i64,
    good: &str,
    a: TenantId,
    b: TenantId,
) -> Vec<(String, &'static str)> {
    vec![
        (good.to_owned(), "replayed counter"),
        (
            format!(
                "{}||20|{}|t",
                b.as_uuid(),
                mac(key, "native", session, 20, a)
            ),
            "bad MAC",
        ),
        (
            format!(
                "{}||30|{}|t",
                a.as_uuid(),
                mac(key, "enter", session, 30, a)
            ),
            "bad MAC",
        ),
        (
            format!("{}||40|{}|t", a.as_uuid(), "0".repeat(64)),
            "bad MAC",
        ),
        ("||||".to_owned(), "malformed entry"),
    ]
}

/// After an opening was refused, with `marks` (a `BEGIN` carrying the entry, extension 1.7):
/// the session's next statement fails without running (here an insert, which would otherwise
/// commit on its own, outside any transaction), and the one after it runs.
fn assert_next_statement_refused(conn: &mut PgConnection, marks: bool, what: &str) {
    if !marks {
        return;
    }
    let e = conn
        .batch_execute("INSERT INTO posts (tenant_id, id, title, slug) SELECT tenant_id, 990, 'x', 'x' FROM posts LIMIT 1")
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("follows a BEGIN whose tenant context was refused"),
        "{what}: {e}"
    );
}

/// Each of `refused` fails `open` with its message and leaves no transaction and no context;
/// with `marks`, also the statement that follows ([`assert_next_statement_refused`]).
fn assert_each_refused<T: std::fmt::Debug>(
    conn: &mut PgConnection,
    refused: &[(String, &str)],
    marks: bool,
    open: impl Fn(&mut PgConnection, &str) -> QueryResult<T>,
) {
    for (refused_entry, why) in refused {
        let e = open(conn, refused_entry).unwrap_err();
        assert!(e.to_string().contains(why), "{refused_entry}: {e}");
        assert_next_statement_refused(conn, marks, refused_entry);
        assert!(!in_transaction_block(conn), "{refused_entry}");
        assert!(!entered(conn), "{refused_entry}");
        assert_eq!(posts_visible(conn), 0, "{refused_entry}");
    }
}

/// `tenancy_context.begin(entry, read_only)` (extension 1.3), bound as parameters the way the
/// pool sends it.
fn begin_native(conn: &mut PgConnection, entry: &str, read_only: bool) -> QueryResult<usize> {
    diesel::sql_query("SELECT tenancy_context.begin($1, $2)")
        .bind::<Text, _>(entry)
        .bind::<Bool, _>(read_only)
        .execute(conn)
}

/// What every opening with an entry must hold, on a connection of session `session` that has
/// used no counter above 9: `open(conn, entry, read_only)` begins a block with the context only
/// behind an entry that passes every check of `enter`; a refused one leaves no transaction and
/// no context; inside a block it is refused before the entry is looked at (the counter stays
/// unused); read only holds against SQL; the session guard holds on what it opens. With
/// `marks` (a `BEGIN` carrying the entry), a refusal also fails the next statement. Uses the
/// counters 10 to 100.
fn assert_opening_checks(
    conn: &mut PgConnection,
    (key, session): (&[u8], i64),
    (a, b): (TenantId, TenantId),
    marks: bool,
    open: impl Fn(&mut PgConnection, &str, bool) -> QueryResult<()>,
) {
    let entry = |tenant: TenantId, counter: i64| native_entry(key, session, tenant, counter);

    // The application's entry opens the block, with the context, read and write.
    let good = entry(a, 10);
    open(conn, &good, false).unwrap();
    assert_opened_for(conn, a, 900);

    // Refused: each leaves no transaction and no context behind.
    let refused = refused_entries(key, session, &good, a, b);
    assert_each_refused(conn, &refused, marks, |conn, entry| {
        open(conn, entry, false)
    });

    // Inside a block (raw SQL in a tenant transaction would be there): refused before the
    // entry is looked at, so its counter is still unused afterwards.
    conn.batch_execute("BEGIN").unwrap();
    let inside = entry(b, 50);
    let e = open(conn, &inside, false).unwrap_err();
    assert!(e.to_string().contains("cannot run inside one"), "{e}");
    // A ROLLBACK, which tenancy sends after every refused opening, runs and clears the mark.
    conn.batch_execute("ROLLBACK").unwrap();
    open(conn, &inside, false).unwrap();
    assert_sees_only(conn, b);
    conn.batch_execute("COMMIT").unwrap();

    // Read only, as BEGIN READ ONLY: writes fail, and SQL cannot make it read and write again.
    open(conn, &entry(a, 70), true).unwrap();
    assert_eq!(posts_visible(conn), 2);
    let e = conn
        .batch_execute(&format!(
            "INSERT INTO posts (tenant_id, id, title, slug) VALUES ('{}', 901, 'ro', 'ro')",
            a.as_uuid()
        ))
        .unwrap_err();
    assert!(e.to_string().contains("read-only transaction"), "{e}");
    conn.batch_execute("ROLLBACK").unwrap();
    open(conn, &entry(a, 80), true).unwrap();
    let e = conn
        .batch_execute("SET TRANSACTION READ WRITE")
        .unwrap_err();
    assert!(e.to_string().contains("before any query"), "{e}");
    conn.batch_execute("ROLLBACK").unwrap();

    // The session guard holds on what it opens: a session-level change does not commit.
    open(conn, &entry(a, 100), false).unwrap();
    assert_session_change_refused(conn);
}

/// The statement that opens the transaction itself (extension 1.3): the checks of every
/// opening, and its own: a malformed read-only flag, a failure after the entry was accepted,
/// and the snapshot it takes.
#[test]
fn the_opening_statement_begins_a_transaction_only_behind_a_valid_entry() {
    if !native() {
        return;
    }
    let (a, b) = Rls::OnNative.two_tenants();
    let key = key();
    let (mut conn, session) = app_connection();
    assert!(!in_transaction_block(&mut conn));
    assert_opening_checks(
        &mut conn,
        (&key, session),
        (a, b),
        false,
        |conn, entry, read_only| begin_native(conn, entry, read_only).map(drop),
    );
    let entry = |tenant: TenantId, counter: i64| native_entry(&key, session, tenant, counter);

    let e = diesel::sql_query("SELECT tenancy_context.begin($1, NULL)")
        .bind::<Text, _>(entry(a, 110))
        .execute(&mut conn)
        .unwrap_err();
    assert!(e.to_string().contains("malformed entry"), "{e}");
    assert!(!in_transaction_block(&mut conn));

    // A statement that fails after the entry was accepted leaves nothing open either: here its
    // second row calls it again, inside the block the first row began.
    let e = conn
        .batch_execute(&format!(
            "SELECT tenancy_context.begin('{}', false) FROM generate_series(1, 2)",
            entry(a, 120)
        ))
        .unwrap_err();
    assert!(e.to_string().contains("cannot run inside one"), "{e}");
    assert!(!in_transaction_block(&mut conn));
    assert!(!entered(&mut conn));

    // The statement took the transaction's first snapshot: no isolation level can follow,
    // which is why a transaction with one opens with BEGIN ISOLATION LEVEL .. instead.
    begin_native(&mut conn, &entry(a, 130), false).unwrap();
    let e = conn
        .batch_execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        .unwrap_err();
    assert!(e.to_string().contains("before any query"), "{e}");
    conn.batch_execute("ROLLBACK").unwrap();
}

/// `BEGIN` with the entry in a comment (extension 1.6), on a connection that has loaded the
/// library as the pool's first transaction does.
fn begin_comment(conn: &mut PgConnection, options: &str, entry: &str) -> QueryResult<()> {
    conn.batch_execute(&format!("BEGIN{options} /*tenancy_context.entry:{entry}*/"))
}

/// The entry in a comment of `BEGIN` (extension 1.6): the checks of every opening, and its own.
/// Before the library is loaded the comment is only a comment: the transaction has no context,
/// and row level security shows it nothing, which is why a pool opens a connection's first
/// transaction with `begin(..)`. An entry cut off by a comment nested in it is malformed; the
/// mark counts only on `BEGIN` itself; `BEGIN`'s own options hold.
#[test]
fn a_begin_enters_the_context_in_its_comment_only_behind_a_valid_entry() {
    if !native() {
        return;
    }
    let (a, b) = Rls::OnNative.two_tenants();
    let key = key();
    let (mut conn, session) = app_connection();
    let entry = |tenant: TenantId, counter: i64| native_entry(&key, session, tenant, counter);

    // A new connection, the library not loaded: an ordinary BEGIN and no context.
    begin_comment(&mut conn, "", &entry(a, 5)).unwrap();
    assert!(in_transaction_block(&mut conn));
    assert!(!entered(&mut conn));
    assert_eq!(posts_visible(&mut conn), 0);
    conn.batch_execute("ROLLBACK").unwrap();

    // Loaded now (entered() above is one of its functions).
    assert_opening_checks(
        &mut conn,
        (&key, session),
        (a, b),
        true,
        |conn, entry, read_only| {
            begin_comment(conn, if read_only { " READ ONLY" } else { "" }, entry)
        },
    );

    let e = begin_comment(&mut conn, "", &format!("/* {} */", entry(a, 110))).unwrap_err();
    assert!(e.to_string().contains("malformed entry"), "{e}");
    assert_next_statement_refused(&mut conn, true, "an entry cut off");
    assert!(!in_transaction_block(&mut conn));

    // Only the next statement: a BEGIN behind the refused one is refused without being read
    // (its entry's counter stays unused), and the statement after it runs.
    let e = begin_comment(&mut conn, "", "||||").unwrap_err();
    assert!(e.to_string().contains("malformed entry"), "{e}");
    let retry = entry(a, 115);
    let e = begin_comment(&mut conn, "", &retry).unwrap_err();
    assert!(
        e.to_string()
            .contains("follows a BEGIN whose tenant context was refused"),
        "{e}"
    );
    assert!(!in_transaction_block(&mut conn));
    begin_comment(&mut conn, "", &retry).unwrap();
    assert_eq!(posts_visible(&mut conn), 2);
    conn.batch_execute("ROLLBACK").unwrap();

    // The mark counts on BEGIN only: in another statement's comment, or in a statement after
    // BEGIN in the same message, it enters nothing.
    let later = entry(b, 120);
    conn.batch_execute(&format!(
        "BEGIN; SELECT 1 /*tenancy_context.entry:{later}*/; SELECT 2"
    ))
    .unwrap();
    assert!(!entered(&mut conn));
    conn.batch_execute("ROLLBACK").unwrap();
    begin_comment(&mut conn, "", &later).unwrap();
    assert_sees_only(&mut conn, b);
    conn.batch_execute("COMMIT").unwrap();

    // BEGIN's options hold: an isolation level with read only.
    begin_comment(
        &mut conn,
        " ISOLATION LEVEL SERIALIZABLE READ ONLY",
        &entry(a, 130),
    )
    .unwrap();
    assert!(entered(&mut conn));
    let level: Hex = diesel::sql_query("SELECT current_setting('transaction_isolation') AS hex")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(level.hex, "serializable");
    let e = conn
        .batch_execute("INSERT INTO posts (tenant_id, id, title, slug) SELECT tenant_id, 911, 'ro', 'ro' FROM posts LIMIT 1")
        .unwrap_err();
    assert!(e.to_string().contains("read-only transaction"), "{e}");
    conn.batch_execute("ROLLBACK").unwrap();

    // START TRANSACTION is BEGIN.
    conn.batch_execute(&format!(
        "START TRANSACTION /*tenancy_context.entry:{}*/",
        entry(a, 140)
    ))
    .unwrap();
    assert_eq!(posts_visible(&mut conn), 2);
    conn.batch_execute("ROLLBACK").unwrap();
}

/// A pool on extension 1.6 opens a connection's first transaction with the prepared
/// `tenancy_context.begin(..)`, which loads the library, and every later one with the entry in
/// `BEGIN`'s comment, isolation level or not: what the server last ran for the connection,
/// seen from another session while the transaction is open and has run nothing yet.
#[test]
fn pools_open_later_transactions_with_the_entry_in_begin() {
    #[derive(QueryableByName)]
    struct Activity {
        #[diesel(sql_type = Text)]
        query: String,
    }
    if !native() {
        return;
    }
    let (a, _) = Rls::OnNative.two_tenants();
    let f = Rls::OnNative.fixture();
    let name = "tenancy_begin_comment_sync";
    let separator = if f.login_url.contains('?') { '&' } else { '?' };
    let t =
        f.db.tenancy_builder(&format!(
            "{}{separator}application_name={name}",
            f.login_url
        ))
        .unwrap()
        .max_size(1)
        .build()
        .unwrap();
    let mut owner = Rls::OnNative.owner();
    let mut opening = |builder: tenancy_schema::TransactionBuilder<'_>| {
        builder
            .run(|tx| {
                let seen: Activity = diesel::sql_query(
                    "SELECT query FROM pg_stat_activity \
                     WHERE application_name = $1 AND state = 'idle in transaction'",
                )
                .bind::<Text, _>(name)
                .get_result(&mut owner)
                .unwrap();
                let n: Vec<Count> =
                    tx.load_sql(diesel::sql_query("SELECT count(*) AS n FROM posts"))?;
                Ok::<_, Error>((seen.query, n[0].n))
            })
            .unwrap()
    };
    let (first, n) = opening(t.build_transaction(a));
    assert_eq!(n, 2);
    assert_eq!(first, "SELECT WHERE tenancy_context.begin($1, $2) IS NULL");
    for builder in [
        t.build_transaction(a),
        t.build_transaction(a).read_only(),
        t.build_transaction(a).serializable(),
    ] {
        let (later, n) = opening(builder);
        assert_eq!(n, 2);
        assert!(
            later.starts_with("BEGIN") && later.contains(" /*tenancy_context.entry:"),
            "{later}"
        );
        assert!(later.ends_with("|t*/"), "{later}");
    }
}

/// What a transaction opened by a pool reports of itself.
#[derive(QueryableByName)]
struct Mode {
    #[diesel(sql_type = Bool)]
    entered: bool,
    #[diesel(sql_type = Text)]
    read_only: String,
    #[diesel(sql_type = Text)]
    isolation: String,
    #[diesel(sql_type = BigInt)]
    prepared: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `tenancy_context.enter_block(entry)` (extension 1.5), bound as a parameter the way a pipelined
/// opening sends it behind `BEGIN`.
fn enter_block(conn: &mut PgConnection, entry: &str) -> QueryResult<usize> {
    diesel::sql_query("SELECT WHERE tenancy_context.enter_block($1) IS NULL")
        .bind::<Text, _>(entry)
        .execute(conn)
}

/// The entry as a function inside an open block (extension 1.5): the checks of `enter`, refused
/// outside a block, and a refused entry leaves the block aborted, so that a statement sent
/// behind it (as a pipeline sends the transaction's first statement) is refused too.
#[test]
fn the_entry_function_enters_inside_a_block_and_a_refusal_aborts_it() {
    if !native() {
        return;
    }
    let (a, b) = Rls::OnNative.two_tenants();
    let key = key();
    let (mut conn, session) = app_connection();
    let entry = |tenant: TenantId, counter: i64, mac_tenant: TenantId| {
        format!(
            "{}||{counter}|{}|t",
            tenant.as_uuid(),
            mac(&key, "native", session, counter, mac_tenant)
        )
    };

    // Outside a block it would enter a context for itself only: refused.
    let e = enter_block(&mut conn, &entry(a, 10, a)).unwrap_err();
    assert!(e.to_string().contains("cannot run outside one"), "{e}");
    assert!(!in_transaction_block(&mut conn));

    // Behind BEGIN: tenant a's rows, no row from the statement itself.
    conn.batch_execute("BEGIN").unwrap();
    assert_eq!(enter_block(&mut conn, &entry(a, 20, a)).unwrap(), 0);
    assert_eq!(posts_visible(&mut conn), 2);
    conn.batch_execute("COMMIT").unwrap();

    // Refused (tenant a's MAC for tenant b, a replay, malformed): the block is aborted and the
    // next statement refused, until the rollback.
    for (refused, why) in [
        (entry(b, 30, a), "bad MAC"),
        (entry(a, 20, a), "replayed counter"),
        ("||||".to_owned(), "malformed entry"),
    ] {
        conn.batch_execute("BEGIN").unwrap();
        let e = enter_block(&mut conn, &refused).unwrap_err();
        assert!(e.to_string().contains(why), "{refused}: {e}");
        let Err(behind) =
            diesel::sql_query("SELECT count(*) AS n FROM posts").get_result::<Count>(&mut conn)
        else {
            panic!("{refused}: a statement ran behind the refused entry");
        };
        assert!(
            behind
                .to_string()
                .contains("current transaction is aborted"),
            "{behind}"
        );
        conn.batch_execute("ROLLBACK").unwrap();
    }
}

/// A pool on extension 1.3 opens its transactions with the prepared `tenancy_context.begin`
/// (one server-side prepared statement per connection, whatever the number of transactions),
/// with the access mode it was asked for; a transaction with an isolation level opens with
/// `BEGIN ISOLATION LEVEL ..` and the entry, and gets that level.
#[test]
fn pools_open_their_transactions_with_the_prepared_statement() {
    if !native() {
        return;
    }
    let (a, _) = Rls::OnNative.two_tenants();
    let t = Rls::OnNative.tenancy(1);
    let mode = |builder: tenancy_schema::TransactionBuilder<'_>| {
        let rows: Vec<Mode> = builder
            .run(|tx| {
                tx.load_sql(diesel::sql_query(
                    "SELECT tenancy_context.entered() AS entered, \
                     current_setting('transaction_read_only') AS read_only, \
                     current_setting('transaction_isolation') AS isolation, \
                     (SELECT count(*) FROM pg_prepared_statements \
                       WHERE statement = 'SELECT WHERE tenancy_context.begin($1, $2) IS NULL') AS prepared, \
                     (SELECT count(*) FROM posts) AS n",
                ))
            })
            .unwrap();
        let row = &rows[0];
        (
            row.entered,
            row.read_only.clone(),
            row.isolation.clone(),
            row.prepared,
            row.n,
        )
    };
    for _ in 0..3 {
        assert_eq!(
            mode(t.build_transaction(a)),
            (true, "off".to_owned(), "read committed".to_owned(), 1, 2)
        );
    }
    assert_eq!(
        mode(t.build_transaction(a).read_only()),
        (true, "on".to_owned(), "read committed".to_owned(), 1, 2)
    );
    assert_eq!(
        mode(t.build_transaction(a).serializable().read_only()),
        (true, "on".to_owned(), "serializable".to_owned(), 1, 2)
    );
    assert_eq!(
        mode(t.build_transaction(a).repeatable_read()),
        (true, "off".to_owned(), "repeatable read".to_owned(), 1, 2)
    );
}

#[test]
fn the_context_lives_for_one_transaction_and_settings_do_not_move_it() {
    if !native() {
        return;
    }
    let (a, b) = Rls::OnNative.two_tenants();
    let key = key();
    let (mut conn, session) = app_connection();
    conn.batch_execute("BEGIN").unwrap();
    enter_native(&mut conn, a, 1, &mac(&key, "native", session, 1, a)).unwrap();
    // Neither settings nor DISCARD reach the context: it is not a setting.
    conn.batch_execute(&format!(
        "SET LOCAL tenancy.tenant_id = '{}'; SELECT set_config('tenancy.context', 'forged', true); \
         SET LOCAL tenancy.context TO DEFAULT; SET LOCAL ROLE tenancy_app",
        b.as_uuid()
    ))
    .unwrap();
    assert_eq!(posts_visible(&mut conn), 2);
    let b_rows: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM posts WHERE tenant_id = '{}'",
        b.as_uuid()
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(b_rows.n, 0);
    conn.batch_execute("COMMIT").unwrap();
    // The next transaction on the same connection has no context.
    conn.batch_execute("BEGIN").unwrap();
    let entered: Flag = diesel::sql_query("SELECT tenancy_context.entered() AS flag")
        .get_result(&mut conn)
        .unwrap();
    assert!(!entered.flag);
    assert_eq!(posts_visible(&mut conn), 0);
    conn.batch_execute("COMMIT").unwrap();
}

/// Every way SQL on the application's login reaches `set_config` other than calling it by
/// name: the guard looks at the settings only after a transaction that may have changed one,
/// so each of these must count as one.
const SET_CONFIG_AROUND: &str = r"
CREATE SCHEMA IF NOT EXISTS zz_settings;
GRANT USAGE ON SCHEMA zz_settings TO PUBLIC;
CREATE OR REPLACE FUNCTION zz_settings.in_plpgsql() RETURNS void LANGUAGE plpgsql AS
  $$BEGIN PERFORM set_config('search_path', 'pg_catalog', false); END$$;
CREATE OR REPLACE FUNCTION zz_settings.in_sql() RETURNS text LANGUAGE sql AS
  $$SELECT set_config('search_path', 'pg_catalog', false)$$;
CREATE OR REPLACE FUNCTION zz_settings.folded() RETURNS text LANGUAGE plpgsql IMMUTABLE AS
  $$BEGIN RETURN set_config('search_path', 'pg_catalog', false); END$$;
CREATE OR REPLACE FUNCTION zz_settings.set_statement() RETURNS void LANGUAGE plpgsql AS
  $$BEGIN SET search_path = pg_catalog; END$$;
CREATE OR REPLACE AGGREGATE zz_settings.setting(text, boolean)
  (SFUNC = pg_catalog.set_config, STYPE = text, INITCOND = 'search_path');
";

/// That a transaction of `t` for `tenant` sees the default `search_path`: nothing an earlier one
/// set for the session was committed on the pooled connection (`what` names the earlier one).
fn assert_default_search_path(t: &Tenancy, tenant: TenantId, what: &str) {
    let path: Vec<Hex> = t
        .transaction(tenant, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT current_setting('search_path') AS hex",
            ))
        })
        .unwrap();
    assert_eq!(path[0].hex, "\"$user\", public", "{what}");
}

#[test]
fn a_native_connection_cannot_commit_a_session_level_change() {
    if !native() {
        return;
    }
    let (a, _) = Rls::OnNative.two_tenants();
    Rls::OnNative
        .owner()
        .batch_execute(SET_CONFIG_AROUND)
        .unwrap();
    let t = Rls::OnNative.tenancy(1);
    for change in [
        &["SET search_path = public, pg_catalog"][..],
        &["UPDATE pg_settings SET setting = 'pg_catalog' WHERE name = 'search_path'"],
        &["SELECT * FROM set_config('search_path', 'pg_catalog', false)"],
        &["SELECT zz_settings.in_plpgsql()"],
        &["SELECT zz_settings.in_sql()"],
        &["SELECT zz_settings.folded()"],
        &["SELECT zz_settings.set_statement()"],
        &["SELECT zz_settings.setting('pg_catalog', false)"],
        &["SELECT zz_settings.setting('pg_catalog', false) OVER ()"],
        &["SET SESSION statement_timeout = '1h'"],
        &["SELECT set_config('tenancy.tenant_id', '00000000-0000-0000-0000-000000000001', false)"],
        &["SELECT set_config('app.anything', 'x', false)"],
        &["RESET ALL"],
        &["SET ROLE tenancy_app"],
        // A COMMIT of its own, then the change outside the transaction, then a new one:
        // tenancy refuses the COMMIT before it is sent.
        &["COMMIT", "SET search_path = pg_catalog", "BEGIN"],
    ] {
        let r = t.transaction(a, |tx| {
            for statement in change {
                tx.execute(diesel::sql_query(*statement))?;
            }
            Ok::<_, Error>(())
        });
        let e = r.expect_err(change[0]);
        let refusal = if change[0] == "COMMIT" {
            "may not end or open a transaction"
        } else {
            "may not change"
        };
        assert!(e.to_string().contains(refusal), "{change:?}: {e}");
        for session in t.inspect_sessions().unwrap() {
            assert!(session.is_clean(), "{change:?}: {session:?}");
        }
        // The pool serves the next transaction, with the default path.
        assert_default_search_path(&t, a, &format!("{change:?}"));
    }
    // What changes only the transaction commits.
    let n: Vec<Count> = t
        .transaction(a, |tx| {
            tx.execute(diesel::sql_query("SET LOCAL statement_timeout = '1h'"))?;
            tx.execute(diesel::sql_query(
                "SELECT set_config('app.anything', 'x', true)",
            ))?;
            tx.load_sql(diesel::sql_query("SELECT count(*) AS n FROM posts"))
        })
        .unwrap();
    assert_eq!(n[0].n, 2);
}

/// The watch remembers the installed functions it found harmless, which every statement under
/// the policies calls; a function replaced in place (same OID) by native code that changes
/// settings is judged again.
#[test]
fn a_function_replaced_after_its_first_call_is_judged_again() {
    if !native() {
        return;
    }
    let (a, _) = Rls::OnNative.two_tenants();
    let replace = |body: &str| {
        Rls::OnNative
            .owner()
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS zz_replaced;
                 GRANT USAGE ON SCHEMA zz_replaced TO PUBLIC;
                 CREATE OR REPLACE FUNCTION zz_replaced.f(text, text, boolean) RETURNS text {body}"
            ))
            .unwrap();
    };
    let call = "SELECT zz_replaced.f('search_path', 'pg_catalog', false) AS hex";
    replace("LANGUAGE plpgsql AS $$BEGIN RETURN $2; END$$");
    // One connection: the replacement reaches the backend that judged the first version. Its
    // first transaction loads the library, which counts as a change already and judges nothing.
    let t = Rls::OnNative.tenancy(1);
    t.transaction(a, |_| Ok::<_, Error>(())).unwrap();
    let first: Vec<Hex> = t
        .transaction(a, |tx| tx.load_sql(diesel::sql_query(call)))
        .expect("the harmless version commits");
    assert_eq!(first[0].hex, "pg_catalog");
    replace("LANGUAGE internal STRICT AS 'set_config_by_name'");
    let e = t
        .transaction(a, |tx| -> Result<Vec<Hex>, Error> {
            tx.load_sql(diesel::sql_query(call))
        })
        .expect_err("the replacement changed the session's search_path");
    assert!(e.to_string().contains("may not change"), "{e}");
    assert_default_search_path(&t, a, "after the replacement");
}

/// `currval` and `lastval` answer from the session: on a pooled connection, the value the
/// previous tenant's insert drew. Forgotten when each transaction ends, committed or not.
#[test]
fn a_sequence_value_one_tenant_drew_is_not_readable_by_the_next() {
    if !native() {
        return;
    }
    let (a, b) = Rls::OnNative.two_tenants();
    Rls::OnNative
        .owner()
        .batch_execute(
            "CREATE SEQUENCE IF NOT EXISTS drawn_ids; \
             GRANT USAGE, SELECT ON SEQUENCE drawn_ids TO tenancy_app",
        )
        .unwrap();
    let t = Rls::OnNative.tenancy(1);
    for commit in [true, false] {
        let drawn = t.transaction(a, |tx| {
            let n: Vec<Count> =
                tx.load_sql(diesel::sql_query("SELECT nextval('drawn_ids') AS n"))?;
            // Within the transaction that drew it, the value is there.
            let again: Vec<Count> =
                tx.load_sql(diesel::sql_query("SELECT currval('drawn_ids') AS n"))?;
            assert_eq!(again[0].n, n[0].n);
            if commit {
                Ok(n[0].n)
            } else {
                Err(Error::MissingAdminReason)
            }
        });
        assert_eq!(drawn.is_ok(), commit);
        for read in ["SELECT currval('drawn_ids') AS n", "SELECT lastval() AS n"] {
            let Err(e) = t.transaction(b, |tx| tx.load_sql::<_, Count>(diesel::sql_query(read)))
            else {
                panic!("commit {commit}, {read}: the previous tenant's value was read");
            };
            assert!(
                e.to_string().contains("not yet defined in this session"),
                "commit {commit}, {read}: {e}"
            );
        }
    }
    // The pool still serves both tenants.
    let n: Vec<Count> = t
        .transaction(b, |tx| {
            tx.load_sql(diesel::sql_query("SELECT count(*) AS n FROM posts"))
        })
        .unwrap();
    assert_eq!(n[0].n, 2);
}

/// The settings a new connection starts from.
#[derive(QueryableByName)]
struct Defaults {
    #[diesel(sql_type = diesel::sql_types::Text)]
    search_path: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    statement_timeout: String,
}

#[test]
fn statements_whose_effect_outlives_the_transaction_are_refused() {
    if !native() {
        return;
    }
    let (a, _) = Rls::OnNative.two_tenants();
    let t = Rls::OnNative.tenancy(1);
    for statement in [
        "PREPARE tenancy_hijack AS SELECT 1",
        "DEALLOCATE ALL",
        "LISTEN tenancy_channel",
        "DECLARE tenancy_cursor CURSOR WITH HOLD FOR SELECT title FROM posts",
        "DISCARD PLANS",
        // A role may change its own password and defaults, which every later connection of
        // the login starts from, whichever tenant it serves; also from inside a DO block.
        "ALTER ROLE CURRENT_USER PASSWORD 'hijacked'",
        "ALTER ROLE CURRENT_USER SET search_path = information_schema, public",
        "DO $$ BEGIN EXECUTE 'ALTER ROLE CURRENT_USER SET statement_timeout = 1'; END $$",
        "ALTER DATABASE CURRENT SET statement_timeout = 1",
    ] {
        let e = t
            .transaction(a, |tx| tx.execute(diesel::sql_query(statement)).map(drop))
            .expect_err(statement);
        assert!(
            e.to_string().contains("outlives the transaction"),
            "{statement}: {e}"
        );
        for session in t.inspect_sessions().unwrap() {
            assert!(session.is_clean(), "{statement}: {session:?}");
        }
    }
    // A prepared transaction outlives the session, holding its locks, and any session of the
    // login (another tenant's) may commit or roll it back. Tenancy refuses them before they
    // are sent, as raw SQL that ends a transaction; the extension refuses them too, on a
    // connection of the login that entered the context itself, before the server looks at
    // max_prepared_transactions, which is 0 here and not on Citus.
    let key = key();
    let (mut conn, session) = app_connection();
    for (counter, statement) in (3_000..).zip([
        "PREPARE TRANSACTION 'tenancy_two_phase'",
        "COMMIT PREPARED 'tenancy_two_phase'",
        "ROLLBACK PREPARED 'tenancy_two_phase'",
    ]) {
        let e = t
            .transaction(a, |tx| tx.execute(diesel::sql_query(statement)).map(drop))
            .expect_err(statement);
        assert!(
            matches!(
                e,
                Error::UnsafeSql(tenancy_schema::SqlTextError::TransactionControl(_))
            ),
            "{statement}: {e}"
        );
        conn.batch_execute("BEGIN").unwrap();
        enter_native(
            &mut conn,
            a,
            counter,
            &mac(&key, "native", session, counter, a),
        )
        .unwrap();
        let e = conn.batch_execute(statement).expect_err(statement);
        assert!(
            e.to_string().contains("outlives the transaction"),
            "{statement}: {e}"
        );
        conn.batch_execute("ROLLBACK").unwrap();
    }
    // A new connection of the login still logs in with its password and starts from the
    // defaults it had.
    let fresh: Vec<Defaults> = Rls::OnNative
        .tenancy(1)
        .transaction(a, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT current_setting('search_path') AS search_path, \
                 current_setting('statement_timeout') AS statement_timeout",
            ))
        })
        .unwrap();
    assert_eq!(fresh[0].search_path, "\"$user\", public");
    assert_eq!(fresh[0].statement_timeout, "0");
    // A cursor without HOLD ends with its transaction: allowed.
    let n: Vec<Count> = t
        .transaction(a, |tx| {
            tx.execute(diesel::sql_query(
                "DECLARE tenancy_cursor CURSOR FOR SELECT title FROM posts",
            ))?;
            tx.load_sql(diesel::sql_query("SELECT count(*) AS n FROM posts"))
        })
        .unwrap();
    assert_eq!(n[0].n, 2);
}

/// EXPLAIN shows the planner's estimates, made from statistics sampled over every tenant's
/// rows (used under row level security for LEAKPROOF operators), and with ANALYZE how many
/// rows of other tenants a scan dropped: a tenancy connection refuses it, also from a `DO`
/// block, in tenant transactions and on the system connection, and SQL cannot allow it.
#[test]
fn explain_is_refused_on_tenancy_connections() {
    if !native() {
        return;
    }
    let (a, _) = Rls::OnNative.two_tenants();
    let refused = |e: &Error, what: &str| {
        assert!(
            e.to_string().contains("EXPLAIN is not allowed"),
            "{what}: {e}"
        );
    };
    // The system connection refuses a `DO` block before it is sent: its code is a string.
    let refused_on_system = |e: &Error, what: &str| {
        if what.starts_with("DO ") {
            assert!(
                matches!(e, Error::UnsafeSql(SqlTextError::DynamicSql(_))),
                "{what}: {e}"
            );
        } else {
            refused(e, what);
        }
    };
    for statement in [
        "EXPLAIN SELECT title FROM posts WHERE title >= 'a'",
        "EXPLAIN (ANALYZE, COSTS OFF) SELECT title FROM posts",
        "DO $$ BEGIN EXECUTE 'EXPLAIN SELECT title FROM posts'; END $$",
        "DO $$ DECLARE r record; BEGIN FOR r IN EXPLAIN SELECT title FROM posts LOOP END LOOP; END $$",
    ] {
        let on_system = |t: &Tenancy| {
            // The system connection refuses tenant tables itself: a global one here.
            let statement = statement
                .replace("title", "name")
                .replace("posts", "categories");
            t.system(|sys| {
                sys.load_sql::<_, Count>(diesel::sql_query(&statement))
                    .map(drop)
            })
            .expect_err(&statement)
        };
        // The system connection first, on a connection no tenant transaction has used yet.
        let t = Rls::OnNative.tenancy(1);
        refused_on_system(&on_system(&t), statement);
        let e = t
            .transaction(a, |tx| tx.execute(diesel::sql_query(statement)).map(drop))
            .expect_err(statement);
        refused(&e, statement);
        refused_on_system(&on_system(&t), statement);
    }
    let t = Rls::OnNative.tenancy(1);
    let e = t
        .transaction(a, |tx| {
            tx.execute(diesel::sql_query(
                "SET LOCAL tenancy_context.allow_explain = on",
            ))
        })
        .expect_err("the application role allows EXPLAIN");
    assert!(e.to_string().contains("permission denied"), "{e}");
    for session in t.inspect_sessions().unwrap() {
        assert!(session.is_clean(), "{session:?}");
    }
}

/// A table lock in SHARE mode or stronger, which the application role may take on any table it
/// may update, would hold up every tenant's statements on the table: a tenancy connection
/// refuses it, also from a `DO` block; row-level modes stay allowed.
#[test]
fn table_locks_that_hold_up_other_tenants_are_refused() {
    use common::schema::posts;
    if !native() {
        return;
    }
    let (a, b) = Rls::OnNative.two_tenants();
    let t = Rls::OnNative.tenancy(2);
    for statement in [
        "LOCK posts",
        "LOCK TABLE posts IN SHARE MODE",
        "LOCK TABLE posts, comments IN EXCLUSIVE MODE",
        "LOCK TABLE ONLY comments IN SHARE ROW EXCLUSIVE MODE NOWAIT",
        "DO $$ BEGIN EXECUTE 'LOCK TABLE posts IN ACCESS EXCLUSIVE MODE'; END $$",
    ] {
        let e = t
            .transaction(a, |tx| tx.execute(diesel::sql_query(statement)).map(drop))
            .expect_err(statement);
        assert!(e.to_string().contains("LOCK TABLE in"), "{statement}: {e}");
        // The system connection refuses tenant tables itself: a global one here.
        let global = statement
            .replace("posts", "categories")
            .replace("comments", "categories");
        let e = t
            .system(|sys| {
                sys.load_sql::<_, Count>(diesel::sql_query(&global))
                    .map(drop)
            })
            .expect_err(&global);
        // A `DO` block there is refused before it is sent: its code is a string.
        assert!(
            e.to_string().contains("LOCK TABLE in")
                || (global.starts_with("DO ")
                    && matches!(e, Error::UnsafeSql(SqlTextError::DynamicSql(_)))),
            "{global}: {e}"
        );
    }
    // The modes ordinary statements take, which no other tenant's reads or writes wait for,
    // are left alone; tenant b writes while a holds them.
    t.transaction(a, |tx| {
        tx.execute(diesel::sql_query("LOCK TABLE posts IN ROW EXCLUSIVE MODE"))?;
        tx.execute(diesel::sql_query(
            "LOCK TABLE posts IN SHARE UPDATE EXCLUSIVE MODE",
        ))?;
        t.transaction(b, |other| {
            other
                .update(posts::table)
                .filter(posts::id.eq(1))
                .set(posts::slug.eq("first"))
                .execute()
        })
    })
    .expect("row-level locks");
}

/// With `debug_print_plan` on, every plan made is printed to the server's log and, once the
/// session asks for LOG messages, to the client, with the estimates EXPLAIN is refused for:
/// a tenancy connection refuses to plan with it on. Both settings are any role's to change.
#[test]
fn plans_are_not_printed_on_tenancy_connections() {
    if !native() {
        return;
    }
    let (a, _) = Rls::OnNative.two_tenants();
    let t = Rls::OnNative.tenancy(1);
    let e = t
        .transaction(a, |tx| {
            tx.execute(diesel::sql_query("SET LOCAL client_min_messages = log"))?;
            tx.execute(diesel::sql_query("SET LOCAL debug_print_plan = on"))?;
            tx.load_sql::<_, Count>(diesel::sql_query(
                "SELECT count(*) AS n FROM posts WHERE title >= 'b'",
            ))
            .map(|rows| rows.len())
        })
        .expect_err("a plan printed with its estimates");
    assert!(
        e.to_string().contains("debug_print_plan is not allowed"),
        "{e}"
    );
    // The same from a DO block, whose statements are planned inside it.
    let e = t
        .transaction(a, |tx| {
            tx.execute(diesel::sql_query(
                "DO $$ BEGIN SET LOCAL debug_print_plan = on; PERFORM count(*) FROM posts; END $$",
            ))
        })
        .expect_err("a plan printed from a DO block");
    assert!(
        e.to_string().contains("debug_print_plan is not allowed"),
        "{e}"
    );
    // Without it, the same statement runs.
    let n: Vec<Count> = t
        .transaction(a, |tx| {
            tx.load_sql(diesel::sql_query(
                "SELECT count(*) AS n FROM posts WHERE title >= 'b'",
            ))
        })
        .unwrap();
    assert_eq!(n.len(), 1);
    for session in t.inspect_sessions().unwrap() {
        assert!(session.is_clean(), "{session:?}");
    }
}

#[test]
fn parallel_workers_see_the_context_of_the_leader() {
    if !native() {
        return;
    }
    let (a, _) = Rls::OnNative.two_tenants();
    let t = Rls::OnNative.tenancy(1);
    let count: i64 = t
        .transaction(a, |tx| {
            // Every scan in parallel workers, whatever the planner would choose.
            tx.execute(diesel::sql_query(
                "SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000 \
                 THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', true), \
                 set_config('parallel_setup_cost', '0', true), \
                 set_config('parallel_tuple_cost', '0', true), \
                 set_config('min_parallel_table_scan_size', '0', true), \
                 set_config('max_parallel_workers_per_gather', '2', true)",
            ))?;
            let n: Vec<Count> =
                tx.load_sql(diesel::sql_query("SELECT count(*) AS n FROM posts"))?;
            Ok::<_, Error>(n[0].n)
        })
        .unwrap();
    assert_eq!(count, 2);
}

#[test]
fn switching_needs_the_extension_and_goes_back() {
    if !native() {
        return;
    }
    let shared = tenancy_testing::shared().unwrap();
    let db = tenancy_testing::TestDatabase::create_in(shared.url()).unwrap();
    let mut owner = PgConnection::establish(db.url()).unwrap();
    tenancy_schema::migrations::run_migrations(&mut owner).unwrap();
    let e = owner
        .batch_execute("SELECT tenancy.enable_native_context()")
        .unwrap_err();
    assert!(e.to_string().contains("not installed"), "{e}");
    owner
        .batch_execute("CREATE EXTENSION tenancy_context; SELECT tenancy.enable_native_context()")
        .unwrap();
    let on: Flag = diesel::sql_query("SELECT tenancy.native_context() AS flag")
        .get_result(&mut owner)
        .unwrap();
    assert!(on.flag);
    owner
        .batch_execute("SELECT tenancy.disable_native_context(); DROP EXTENSION tenancy_context")
        .unwrap();
    let on: Flag = diesel::sql_query(
        "SELECT tenancy.native_context() AND EXISTS (SELECT FROM pg_extension WHERE extname = 'tenancy_context') AS flag",
    )
    .get_result(&mut owner)
    .unwrap();
    assert!(!on.flag);
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct PolicyText {
    #[diesel(sql_type = Text)]
    policy: String,
    #[diesel(sql_type = Text)]
    expr: String,
}

/// Every policy's USING and WITH CHECK, as `pg_get_expr` prints them with both schemas
/// written out.
fn policy_texts(owner: &mut PgConnection) -> Vec<PolicyText> {
    diesel::sql_query(
        "SELECT format('%s on %s', polname, polrelid::regclass) AS policy, \
                concat_ws(' / ', pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)) AS expr \
         FROM pg_policy ORDER BY 1",
    )
    .load(owner)
    .unwrap()
}

/// Every policy's comment (`expr` holds the comment, empty for none).
fn policy_comments(owner: &mut PgConnection) -> Vec<PolicyText> {
    diesel::sql_query(
        "SELECT format('%s on %s', polname, polrelid::regclass) AS policy, \
                coalesce(obj_description(oid, 'pg_policy'), '') AS expr \
         FROM pg_policy ORDER BY 1",
    )
    .load(owner)
    .unwrap()
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The plan of `sql` (prepared with the given parameter types, run with `args`), planned as the
/// application's role with `settings` (`SET` statements) in force.
fn plan_as_app(
    owner: &mut PgConnection,
    settings: &str,
    types: &str,
    sql: &str,
    args: &str,
) -> String {
    owner
        .batch_execute(&format!(
            "SET ROLE tenancy_app; {settings} PREPARE planned({types}) AS {sql}"
        ))
        .unwrap();
    let plan = diesel::sql_query(format!("EXPLAIN (COSTS OFF) EXECUTE planned({args})"))
        .load(owner)
        .unwrap();
    owner
        .batch_execute("DEALLOCATE planned; RESET ALL; RESET ROLE")
        .unwrap();
    plan_text(plan)
}

/// A plan's lines as one text.
fn plan_text(lines: Vec<PlanLine>) -> String {
    lines
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Settings under which PostgreSQL plans even a small scan in parallel and has the workers do
/// all of it (the leader only gathers).
const PARALLEL_EVEN_SMALL: [(&str, &str); 6] = [
    ("parallel_setup_cost", "0"),
    ("parallel_tuple_cost", "0"),
    ("min_parallel_table_scan_size", "0"),
    ("enable_indexscan", "off"),
    ("enable_bitmapscan", "off"),
    ("parallel_leader_participation", "off"),
];

/// [`PARALLEL_EVEN_SMALL`] as `SET` statements for the session.
fn set_parallel_even_small() -> String {
    PARALLEL_EVEN_SMALL
        .iter()
        .map(|(name, value)| format!("SET {name} = {value};"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the plain call is for, on `notes` with the tenant policies switched to it.
fn assert_the_plain_call_plans(owner: &mut PgConnection) {
    // What the plain call is for: a scoped lookup (the CTE's `tenant_id = $1`, a generic
    // plan) keeps one of the two policies' comparisons, scans with $1 and compares the reader
    // with it once per statement. No init plan, nothing evaluated per row.
    let scoped = "WITH notes AS NOT MATERIALIZED (SELECT * FROM notes WHERE notes.tenant_id = $1) ";
    let plan = plan_as_app(
        owner,
        "SET plan_cache_mode = force_generic_plan;",
        "uuid, bigint",
        &format!("{scoped} SELECT notes.id FROM notes WHERE notes.id = $2"),
        "'01900000-0000-7000-8000-000000000001', 1",
    );
    assert!(
        !plan.contains("InitPlan") && !plan.contains("SubPlan"),
        "{plan}"
    );
    assert!(
        plan.contains("One-Time Filter: (tenancy_context.current_tenant() = $1)")
            || plan.contains("One-Time Filter: ($1 = tenancy_context.current_tenant())"),
        "{plan}"
    );
    assert!(
        plan.contains("Index Cond: ((tenant_id = $1) AND (id = $2))"),
        "{plan}"
    );
    assert!(!plan.contains("Filter: (tenant_id"), "{plan}");
    // And the table's scans can still go to parallel workers, scoped or not.
    for sql in [
        format!("{scoped} SELECT count(*) FROM notes"),
        "SELECT count(*) FROM notes WHERE $1 IS NOT NULL".to_owned(),
    ] {
        let plan = plan_as_app(
            owner,
            &set_parallel_even_small(),
            "uuid",
            &sql,
            "'01900000-0000-7000-8000-000000000001'",
        );
        assert!(plan.contains("Parallel Seq Scan on notes"), "{sql}: {plan}");
    }
}

#[test]
fn the_policies_name_the_c_readers_while_the_native_context_is_on() {
    use tenancy_schema::policy::{ContextRead, tenant_policies, tenant_policies_as};
    if !native() {
        return;
    }
    let shared = tenancy_testing::shared().unwrap();
    let db = tenancy_testing::TestDatabase::create_in(shared.url()).unwrap();
    let mut owner = PgConnection::establish(db.url()).unwrap();
    tenancy_schema::migrations::run_migrations(&mut owner).unwrap();
    // The once-per-statement form, the plain call (the form of tables that other tables'
    // policies read), and a policy of the application's that calls a function of the same
    // name in a schema whose name ends like tenancy's: only whole calls are replaced.
    owner
        .batch_execute(&format!(
            "CREATE TABLE notes (tenant_id uuid NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id));
             CREATE TABLE marks (tenant_id uuid NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id));
             {}{}
             CREATE SCHEMA mytenancy;
             CREATE FUNCTION mytenancy.current_tenant() RETURNS uuid LANGUAGE sql STABLE RETURN NULL::uuid;
             CREATE POLICY app_rule ON marks AS RESTRICTIVE FOR SELECT TO PUBLIC
               USING (tenant_id IS DISTINCT FROM mytenancy.current_tenant());
             COMMENT ON POLICY tenant_access ON notes IS 'the application''s own note';
             GRANT SELECT ON notes TO tenancy_app;",
            tenant_policies("notes", "tenant_id", "tenancy_app"),
            tenant_policies_as(ContextRead::Call, "marks", "tenant_id", "tenancy_app"),
        ))
        .unwrap();
    let before = policy_texts(&mut owner);
    assert_eq!(before.len(), 5, "{before:#?}");
    let comments_before = policy_comments(&mut owner);

    owner
        .batch_execute("CREATE EXTENSION tenancy_context; SELECT tenancy.enable_native_context()")
        .unwrap();
    let on = policy_texts(&mut owner);
    // Both forms end as the plain call of the C reader, which answers in parallel workers too:
    // the once-per-statement form's sub-select is gone.
    let expected = |_: &str| {
        let call = "tenancy_context.current_tenant()";
        format!("(tenant_id = {call}) / (tenant_id = {call})")
    };
    for p in &on {
        if p.policy.starts_with("app_rule") {
            assert_eq!(
                p.expr, "(tenant_id IS DISTINCT FROM mytenancy.current_tenant())",
                "an application's own call stays"
            );
        } else {
            assert_eq!(p.expr, expected(&p.policy), "{}", p.policy);
        }
    }
    assert_eq!(on.len(), 5);
    // The policies that had the sub-select say so in their comment, after the application's
    // own text; the others keep theirs.
    for (now, was) in policy_comments(&mut owner).iter().zip(&comments_before) {
        if now.policy.ends_with("on notes") {
            assert!(now.expr.starts_with(&was.expr), "{now:?}");
            assert!(
                now.expr
                    .contains("tenancy.disable_native_context() puts the init plan"),
                "{now:?}"
            );
        } else {
            assert_eq!(now, was);
        }
    }
    assert_the_plain_call_plans(&mut owner);
    // The policies now depend on the extension: it cannot be dropped from under them.
    let e = owner
        .batch_execute("DROP EXTENSION tenancy_context")
        .unwrap_err();
    assert!(e.to_string().contains("depend"), "{e}");
    // Enabling again (after adding tables) changes nothing that is already switched.
    owner
        .batch_execute("SELECT tenancy.enable_native_context()")
        .unwrap();
    assert_eq!(policy_texts(&mut owner), on);

    // Back to the SQL readers, exactly as they were, the sub-select where it was and the
    // comments as the application wrote them; then the extension can go.
    owner
        .batch_execute("SELECT tenancy.disable_native_context()")
        .unwrap();
    assert_eq!(policy_texts(&mut owner), before);
    assert_eq!(policy_comments(&mut owner), comments_before);
    owner
        .batch_execute("DROP EXTENSION tenancy_context")
        .unwrap();
}

#[test]
fn the_foundation_runs_on_the_native_context() {
    use tenancy_foundation::envelope;
    use tenancy_foundation::seed::seed_personal_tenant;
    if !native() {
        return;
    }
    let t = Rls::OnNative.tenancy(2);
    let a = seed_personal_tenant(
        &t,
        &format!("{}@example.com", TenantId::new_v7().as_uuid()),
        "A",
    )
    .unwrap();
    let b = seed_personal_tenant(
        &t,
        &format!("{}@example.com", TenantId::new_v7().as_uuid()),
        "B",
    )
    .unwrap();
    let mine = common::create_resource(&t, a, "a's prompt").unwrap();
    // Its owner reads it (the visibility policies read the native principal too); the other
    // tenant, through the library or raw SQL, does not.
    let read = t
        .transaction_as(a.tenant, a.principal, |tx| envelope::get(tx, mine.id))
        .unwrap();
    assert_eq!(read.name, "a's prompt");
    let theirs = t.transaction_as(b.tenant, b.principal, |tx| envelope::get(tx, mine.id));
    assert!(theirs.is_err(), "{theirs:?}");
    let raw: Vec<Count> = t
        .transaction_as(b.tenant, b.principal, |tx| {
            tx.load_sql(diesel::sql_query(format!(
                "SELECT count(*) AS n FROM resources WHERE id = '{}'",
                mine.id.as_uuid()
            )))
        })
        .unwrap();
    assert_eq!(raw[0].n, 0);
    // The audit chain, written by the foundation's triggers under the native context, verifies.
    let verified: Flag = diesel::sql_query(format!(
        "SELECT tenancy.verify_audit_chain('{t}') IS NULL \
           AND EXISTS (SELECT FROM audit_log WHERE tenant_id = '{t}') AS flag",
        t = a.tenant.as_uuid()
    ))
    .get_result(&mut Rls::OnNative.owner())
    .unwrap();
    assert!(verified.flag, "audit chain of tenant a");
}

/// A database of its own on the foundation schema, switched to the native context, with a
/// pool of one connection (so that every transaction runs on the same backend and sees what it
/// kept) and the owner's connection. Other tests' writes to `tenants` cannot reach it.
fn status_database() -> (
    tenancy_testing::TestDatabase,
    PgConnection,
    tenancy_schema::Tenancy,
) {
    status_database_with(1)
}

fn status_database_with(
    pool_size: u32,
) -> (
    tenancy_testing::TestDatabase,
    PgConnection,
    tenancy_schema::Tenancy,
) {
    let shared = tenancy_testing::shared().unwrap();
    let db = tenancy_testing::TestDatabase::create_in(shared.url()).unwrap();
    let mut owner = PgConnection::establish(db.url()).unwrap();
    tenancy_foundation::run_migrations(&mut owner).unwrap();
    owner
        .batch_execute("CREATE EXTENSION tenancy_context; SELECT tenancy.enable_native_context()")
        .unwrap();
    let login = db
        .create_app_login("native_status_login", "status")
        .unwrap();
    let t = db.tenancy(&login, pool_size).unwrap();
    (db, owner, t)
}

fn new_tenant(owner: &mut PgConnection) -> TenantId {
    let tenant = TenantId::new_v7();
    insert_tenant(owner, tenant);
    tenant
}

fn insert_tenant(owner: &mut PgConnection, tenant: TenantId) {
    owner
        .batch_execute(&format!(
            "INSERT INTO tenants (id, slug, name) VALUES ('{t}', 's-{s}', 'status')",
            t = tenant.as_uuid(),
            s = tenant.as_uuid().simple()
        ))
        .unwrap();
}

/// `UPDATE tenants SET <change>` on the tenant's row, committed when it returns.
fn change_tenant(owner: &mut PgConnection, tenant: TenantId, change: &str) {
    owner
        .batch_execute(&format!(
            "UPDATE tenants SET {change} WHERE id = '{}'",
            tenant.as_uuid()
        ))
        .unwrap();
}

/// Locks this transaction holds on `tenants` or its key, in a transaction of `tenant` that
/// reads nothing else: the status hook's query takes them when the transaction asks it, and
/// keeps them until the end of the transaction.
fn hook_locks(t: &tenancy_schema::Tenancy, tenant: TenantId) -> Result<i64, Error> {
    let rows: Vec<Count> = t.transaction(tenant, |tx| {
        tx.load_sql(diesel::sql_query(
            "SELECT count(*) AS n FROM pg_locks WHERE pid = pg_backend_pid() \
               AND locktype = 'relation' AND relation IN \
                 (SELECT oid FROM pg_class WHERE relname IN ('tenants', 'tenants_pkey') \
                    AND relnamespace = 'public'::regnamespace)",
        ))
    })?;
    Ok(rows[0].n)
}

#[test]
fn the_status_hook_is_asked_once_until_a_table_it_reads_changes() {
    if !native() {
        return;
    }
    let (_db, mut owner, t) = status_database();
    let sources: Hex = diesel::sql_query("SELECT tenancy_context.status_sources()::text AS hex")
        .get_result(&mut owner)
        .unwrap();
    assert_eq!(sources.hex, "{tenants}");
    let a = new_tenant(&mut owner);
    let b = new_tenant(&mut owner);
    assert!(
        hook_locks(&t, a).unwrap() >= 1,
        "the first transaction asks"
    );
    assert_eq!(hook_locks(&t, a).unwrap(), 0, "the next one does not");
    assert!(hook_locks(&t, b).unwrap() >= 1, "each tenant is asked once");
    assert_eq!(hook_locks(&t, b).unwrap(), 0);

    // Any change to tenants, even of another tenant's row, drops every kept answer.
    change_tenant(&mut owner, b, "name = 'renamed'");
    assert!(hook_locks(&t, a).unwrap() >= 1);
    assert_eq!(hook_locks(&t, a).unwrap(), 0);

    // A suspension, a deletion and a restore take effect with the next transaction, also when
    // the change is made with the replication role that mutes ordinary triggers.
    let set = |owner: &mut PgConnection, change: &str, replica: bool| {
        let role = if replica { "replica" } else { "origin" };
        owner
            .batch_execute(&format!("SET session_replication_role = {role}"))
            .unwrap();
        change_tenant(owner, a, change);
        owner
            .batch_execute("RESET session_replication_role")
            .unwrap();
    };
    for replica in [false, true] {
        set(&mut owner, "status = 'suspended'", replica);
        let refused = hook_locks(&t, a);
        assert!(
            matches!(refused, Err(Error::TenantSuspended(_))),
            "{refused:?}"
        );
        assert!(matches!(hook_locks(&t, a), Err(Error::TenantSuspended(_))));
        set(&mut owner, "status = 'active'", replica);
        assert!(hook_locks(&t, a).unwrap() >= 1);
        assert_eq!(hook_locks(&t, a).unwrap(), 0);
        set(&mut owner, "deleted_at = now()", replica);
        let refused = hook_locks(&t, a);
        assert!(
            matches!(refused, Err(Error::TenantNotFound(_))),
            "{refused:?}"
        );
        set(&mut owner, "deleted_at = NULL", replica);
        assert!(hook_locks(&t, a).unwrap() >= 1);
        assert_eq!(hook_locks(&t, a).unwrap(), 0);
    }
    // An unknown tenant stays unknown until it is created.
    let c = TenantId::new_v7();
    for _ in 0..2 {
        let refused = hook_locks(&t, c);
        assert!(
            matches!(refused, Err(Error::TenantNotFound(_))),
            "{refused:?}"
        );
    }
    insert_tenant(&mut owner, c);
    assert!(hook_locks(&t, c).unwrap() >= 1);
}

#[test]
fn a_status_hook_with_a_parsed_body_is_read_the_same_way() {
    if !native() {
        return;
    }
    let (_db, mut owner, t) = status_database();
    let a = new_tenant(&mut owner);
    assert!(hook_locks(&t, a).unwrap() >= 1);
    assert_eq!(hook_locks(&t, a).unwrap(), 0);
    owner
        .batch_execute(
            "CREATE OR REPLACE FUNCTION tenancy.tenant_refusal(tenant uuid) RETURNS TABLE (refusal text)
               LANGUAGE sql STABLE
             BEGIN ATOMIC
               SELECT CASE WHEN x.id IS NULL THEN 'unknown' WHEN x.status <> 'active' THEN 'suspended' END
                 FROM (SELECT tenant AS id) q LEFT JOIN public.tenants x ON x.id = q.id;
             END;
             SELECT tenancy.enable_native_context();",
        )
        .unwrap();
    let sources: Hex = diesel::sql_query("SELECT tenancy_context.status_sources()::text AS hex")
        .get_result(&mut owner)
        .unwrap();
    assert_eq!(sources.hex, "{tenants}");
    assert!(
        hook_locks(&t, a).unwrap() >= 1,
        "a replaced hook is asked again"
    );
    assert_eq!(hook_locks(&t, a).unwrap(), 0);
    change_tenant(&mut owner, a, "status = 'suspended'");
    assert!(matches!(hook_locks(&t, a), Err(Error::TenantSuspended(_))));
}

#[test]
fn without_a_working_status_trigger_the_hook_is_asked_every_time() {
    if !native() {
        return;
    }
    let (_db, mut owner, t) = status_database();
    let a = new_tenant(&mut owner);
    let asked_twice = || {
        for _ in 0..2 {
            assert!(hook_locks(&t, a).unwrap() >= 1);
        }
    };
    // Enabled only for origin sessions, the trigger could be muted: nothing is kept.
    owner
        .batch_execute("ALTER TABLE tenants ENABLE TRIGGER tenancy_status_changed")
        .unwrap();
    asked_twice();
    owner
        .batch_execute("ALTER TABLE tenants DISABLE TRIGGER tenancy_status_changed")
        .unwrap();
    asked_twice();
    owner
        .batch_execute("ALTER TABLE tenants ENABLE ALWAYS TRIGGER tenancy_status_changed")
        .unwrap();
    assert!(hook_locks(&t, a).unwrap() >= 1);
    assert_eq!(hook_locks(&t, a).unwrap(), 0, "kept again");
    // Without the TRUNCATE trigger a TRUNCATE would go unheard: nothing is kept either.
    owner
        .batch_execute("ALTER TABLE tenants DISABLE TRIGGER tenancy_status_truncated")
        .unwrap();
    asked_twice();
    owner
        .batch_execute("ALTER TABLE tenants ENABLE ALWAYS TRIGGER tenancy_status_truncated")
        .unwrap();
    assert!(hook_locks(&t, a).unwrap() >= 1);
    assert_eq!(hook_locks(&t, a).unwrap(), 0, "kept again");
    owner
        .batch_execute("DROP TRIGGER tenancy_status_changed ON tenants")
        .unwrap();
    asked_twice();
    // Without the trigger, a change sends no invalidation; it is seen because nothing was kept.
    change_tenant(&mut owner, a, "status = 'suspended'");
    assert!(matches!(hook_locks(&t, a), Err(Error::TenantSuspended(_))));
    change_tenant(&mut owner, a, "status = 'active'");

    // A hook whose answer depends on more than rows (here the clock) is never kept, and
    // enable_native_context() puts no trigger anywhere for it (only on the key's table, for
    // the key).
    owner
        .batch_execute(
            "CREATE OR REPLACE FUNCTION tenancy.tenant_refusal(tenant uuid) RETURNS TABLE (refusal text)
               LANGUAGE sql STABLE
             AS $$
               SELECT CASE WHEN x.id IS NULL THEN 'unknown'
                           WHEN x.status <> 'active' OR x.created_at > now() THEN 'suspended' END
                 FROM (SELECT tenant AS id) q LEFT JOIN public.tenants x ON x.id = q.id
             $$;
             SELECT tenancy.enable_native_context();",
        )
        .unwrap();
    let opaque: Flag = diesel::sql_query(
        "SELECT tenancy_context.status_sources() IS NULL \
           AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgname = 'tenancy_status_changed' \
                             AND tgrelid <> 'tenancy.context_key'::regclass) AS flag",
    )
    .get_result(&mut owner)
    .unwrap();
    assert!(opaque.flag);
    asked_twice();
    change_tenant(&mut owner, a, "status = 'suspended'");
    assert!(matches!(hook_locks(&t, a), Err(Error::TenantSuspended(_))));
}

/// Under load, every transaction begun after a status change was acknowledged sees it: a
/// connection that kept the old answer must have dropped it. Flips of one tenant between
/// suspended and active race four workers on four connections; a transaction may only see the
/// status of the last flip acknowledged before it began, or of a flip begun before it ended.
#[test]
fn a_status_change_reaches_every_transaction_begun_after_it() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const FLIPS: u64 = 60;
    if !native() {
        return;
    }
    let (_db, mut owner, t) = status_database_with(4);
    let a = new_tenant(&mut owner);
    // Flip i leaves the tenant suspended when i is odd; flip 0 is the initial, active state.
    let begun = AtomicU64::new(0);
    let acknowledged = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let (checked, refused) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    let before = acknowledged.load(Ordering::SeqCst);
                    let outcome = t.transaction(a, |_| Ok::<_, Error>(()));
                    let latest = begun.load(Ordering::SeqCst);
                    let suspended = match outcome {
                        Ok(()) => false,
                        Err(Error::TenantSuspended(_)) => true,
                        Err(e) => panic!("unexpected {e:?}"),
                    };
                    assert!(
                        suspended == (before % 2 == 1) || latest > before,
                        "flip {before} was acknowledged before the transaction began and none \
                         began since, yet it saw the tenant {}",
                        if suspended { "suspended" } else { "active" }
                    );
                    checked.fetch_add(1, Ordering::SeqCst);
                    if suspended {
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
        for flip in 1..=FLIPS {
            std::thread::sleep(std::time::Duration::from_millis(15));
            begun.store(flip, Ordering::SeqCst);
            let status = if flip % 2 == 1 { "suspended" } else { "active" };
            change_tenant(&mut owner, a, &format!("status = '{status}'"));
            acknowledged.store(flip, Ordering::SeqCst);
        }
        std::thread::sleep(std::time::Duration::from_millis(15));
        done.store(true, Ordering::SeqCst);
    });
    let (checked, refused) = (checked.into_inner(), refused.into_inner());
    eprintln!("{checked} transactions checked, {refused} refused");
    assert!(
        refused > FLIPS / 4 && checked - refused > FLIPS / 4,
        "{checked} / {refused}"
    );
}

/// Locks this transaction holds on the relation `tenancy.<relname>`, in a transaction of
/// `tenant` that reads nothing else: the entry takes one on `context_key` when it reads the
/// key and on `session_seq` when it reads the session number, none when it kept them.
fn tenancy_locks(
    t: &tenancy_schema::Tenancy,
    tenant: TenantId,
    relname: &str,
) -> Result<i64, Error> {
    let rows: Vec<Count> = t.transaction(tenant, |tx| {
        tx.load_sql(
            diesel::sql_query(
                "SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE l.pid = pg_backend_pid() AND n.nspname = 'tenancy' AND c.relname = $1",
            )
            .bind::<Text, _>(relname),
        )
    })?;
    Ok(rows[0].n)
}

fn key_locks(t: &tenancy_schema::Tenancy, tenant: TenantId) -> Result<i64, Error> {
    tenancy_locks(t, tenant, "context_key")
}

/// The key is kept between transactions (extension 1.2) only while its table carries the
/// status triggers, and a replaced key is refused from the next transaction on: on a connection
/// that kept the old one, and on one that reads it every time.
#[test]
fn a_kept_key_gives_way_to_a_replaced_one_at_the_next_transaction() {
    if !native() {
        return;
    }
    let (db, mut owner, mut t) = status_database();
    let login = db.url_for("native_status_login", "status");
    let tenant = new_tenant(&mut owner);
    let triggers: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = 'tenancy.context_key'::regclass \
           AND tgname IN ('tenancy_status_changed', 'tenancy_status_truncated')",
    )
    .get_result(&mut owner)
    .unwrap();
    assert_eq!(
        triggers.n, 2,
        "enable_native_context() puts both on the key's table"
    );
    let replace_key = |owner: &mut PgConnection| {
        owner
            .batch_execute(
                "UPDATE tenancy.context_key \
                 SET key = decode(md5(random()::text) || md5(random()::text), 'hex') WHERE id = 1",
            )
            .unwrap();
    };

    // Read by the first transaction on the pool's connection, kept for the next.
    assert_eq!(key_locks(&t, tenant).unwrap(), 1);
    assert_eq!(key_locks(&t, tenant).unwrap(), 0);
    replace_key(&mut owner);
    let refused = key_locks(&t, tenant).unwrap_err();
    assert!(refused.to_string().contains("bad MAC"), "{refused}");
    t = db.tenancy(&login, 1).unwrap();
    assert_eq!(
        key_locks(&t, tenant).unwrap(),
        1,
        "read again after the change"
    );
    assert_eq!(key_locks(&t, tenant).unwrap(), 0);

    // Without the triggers nothing announces a change: the key is read every time.
    owner
        .batch_execute(
            "DROP TRIGGER tenancy_status_changed ON tenancy.context_key; \
             DROP TRIGGER tenancy_status_truncated ON tenancy.context_key",
        )
        .unwrap();
    assert_eq!(key_locks(&t, tenant).unwrap(), 1);
    assert_eq!(key_locks(&t, tenant).unwrap(), 1);
    replace_key(&mut owner);
    let refused = key_locks(&t, tenant).unwrap_err();
    assert!(refused.to_string().contains("bad MAC"), "{refused}");

    // enable_native_context() puts them back, and the key is kept again.
    owner
        .batch_execute("SELECT tenancy.enable_native_context()")
        .unwrap();
    t = db.tenancy(&login, 1).unwrap();
    assert_eq!(key_locks(&t, tenant).unwrap(), 1);
    assert_eq!(key_locks(&t, tenant).unwrap(), 0);
}

fn session_seq_locks(t: &tenancy_schema::Tenancy, tenant: TenantId) -> Result<i64, Error> {
    tenancy_locks(t, tenant, "session_seq")
}

/// The session number is read from `tenancy.session_seq` by the first entry on a connection and
/// kept for the connection's life: SQL that asks `tenancy.open_session()` for a new number
/// changes nothing the connection's MACs are checked against, before or after an invalidation,
/// and a sequence dropped and made again (which hands out its numbers again) leaves the
/// backend no number at all.
#[test]
fn the_session_number_is_read_once_and_belongs_to_its_sequence() {
    if !native() {
        return;
    }
    let (db, mut owner, t) = status_database();
    let tenant = new_tenant(&mut owner);

    assert_eq!(session_seq_locks(&t, tenant).unwrap(), 1, "read first");
    assert_eq!(session_seq_locks(&t, tenant).unwrap(), 0, "kept");

    // A new number asked for from inside a transaction: the pool's MACs still hold.
    let opened: Vec<Count> = t
        .transaction(tenant, |tx| {
            tx.load_sql(diesel::sql_query("SELECT tenancy.open_session() AS n"))
        })
        .unwrap();
    assert!(opened[0].n > 0, "a new number");
    assert_eq!(session_seq_locks(&t, tenant).unwrap(), 0);

    // The same sequence changed (here its privileges, which also drops the kept key): the
    // number still belongs to it, and the new one the SQL above asked for is still not taken.
    owner
        .batch_execute(
            "GRANT SELECT ON SEQUENCE tenancy.session_seq TO PUBLIC; \
             REVOKE SELECT ON SEQUENCE tenancy.session_seq FROM PUBLIC",
        )
        .unwrap();
    assert_eq!(key_locks(&t, tenant).unwrap(), 1, "the key is read again");
    assert_eq!(session_seq_locks(&t, tenant).unwrap(), 0);

    // A new sequence: this backend has no number in it, and opens no context any more.
    owner
        .batch_execute(
            "DROP SEQUENCE tenancy.session_seq; CREATE SEQUENCE tenancy.session_seq; \
             REVOKE ALL ON SEQUENCE tenancy.session_seq FROM PUBLIC",
        )
        .unwrap();
    let refused = session_seq_locks(&t, tenant).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("not yet defined in this session"),
        "{refused}"
    );
    let fresh = db
        .tenancy(&db.url_for("native_status_login", "status"), 1)
        .unwrap();
    assert_eq!(session_seq_locks(&fresh, tenant).unwrap(), 1);
    assert_eq!(session_seq_locks(&fresh, tenant).unwrap(), 0);
}

/// A database whose extension is older than 1.2 keeps working: the readers stay the CASE and
/// pools use the five-argument entry; after `ALTER EXTENSION .. UPDATE TO '1.2'` and
/// `enable_native_context()`, new pools use the one-argument entry and the C readers, and
/// after the update to 1.3 the opening statement, and each later version its own entry.
#[test]
fn an_extension_older_than_one_point_two_keeps_the_older_forms_until_updated() {
    use tenancy_schema::__private_v0_1::executor::{ContextEntry, context_entry};
    if !native() {
        return;
    }
    let shared = tenancy_testing::shared().unwrap();
    let db = tenancy_testing::TestDatabase::create_in(shared.url()).unwrap();
    let mut owner = PgConnection::establish(db.url()).unwrap();
    tenancy_foundation::run_migrations(&mut owner).unwrap();
    owner
        .batch_execute(
            "CREATE EXTENSION tenancy_context VERSION '1.1'; SELECT tenancy.enable_native_context()",
        )
        .unwrap();
    let login = db.create_app_login("native_old_login", "old").unwrap();
    let reader = |owner: &mut PgConnection| {
        diesel::sql_query(
            "SELECT prosrc AS hex FROM pg_proc WHERE oid = 'tenancy.current_tenant()'::regprocedure",
        )
        .get_result::<Hex>(owner)
        .unwrap()
        .hex
    };
    let tenant = new_tenant(&mut owner);
    let sees_itself = |t: &tenancy_schema::Tenancy| {
        let rows: Vec<Flag> = t
            .transaction(tenant, |tx| {
                tx.load_sql(diesel::sql_query(format!(
                    "SELECT tenancy_context.entered() AND tenancy.current_tenant() = '{}' AS flag",
                    tenant.as_uuid()
                )))
            })
            .unwrap();
        rows[0].flag
    };

    assert!(reader(&mut owner).contains("CASE WHEN tenancy_context.entered()"));
    let old = db.tenancy(&login, 1).unwrap();
    assert_eq!(context_entry(&old), ContextEntry::NativeArgs);
    assert!(sees_itself(&old));

    owner
        .batch_execute(
            "ALTER EXTENSION tenancy_context UPDATE TO '1.2'; SELECT tenancy.enable_native_context()",
        )
        .unwrap();
    assert_eq!(
        reader(&mut owner),
        "SELECT tenancy_context.current_tenant()"
    );
    let packed = db.tenancy(&login, 1).unwrap();
    assert_eq!(context_entry(&packed), ContextEntry::Native);
    assert!(sees_itself(&packed));

    // 1.3: the opening statement. No switch to run again; new pools find it.
    owner
        .batch_execute("ALTER EXTENSION tenancy_context UPDATE TO '1.3'")
        .unwrap();
    let new = db.tenancy(&login, 1).unwrap();
    assert_eq!(context_entry(&new), ContextEntry::NativeBegin);
    assert!(sees_itself(&new));
    // The pools built before the update keep their entries, which the extension still accepts.
    assert!(sees_itself(&packed));
    assert!(sees_itself(&old));

    // 1.4: the readers answer in parallel workers; after the switch runs again, the policies
    // that read the context through an init plan call the readers directly.
    let init_plans = |owner: &mut PgConnection| {
        diesel::sql_query(
            "SELECT count(*) AS n FROM pg_policy \
             WHERE concat_ws(' ', pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)) \
                   LIKE '%SELECT tenancy_context.current_%'",
        )
        .get_result::<Count>(owner)
        .unwrap()
        .n
    };
    assert!(init_plans(&mut owner) > 0, "1.3 keeps the init plans");
    owner
        .batch_execute("ALTER EXTENSION tenancy_context UPDATE TO '1.4'")
        .unwrap();
    assert!(init_plans(&mut owner) > 0, "until the switch runs again");
    owner
        .batch_execute("SELECT tenancy.enable_native_context()")
        .unwrap();
    assert_eq!(init_plans(&mut owner), 0);
    for t in [&new, &packed, &old] {
        assert!(sees_itself(t));
    }

    // 1.5: the entry's function, which pipelined openings use; 1.6: the entry in a comment of
    // BEGIN; 1.7: the statement behind a refused BEGIN fails too, so that pipelined openings
    // may be that BEGIN. New pools find each (and run a second transaction, which takes the
    // comment where there is one); the older pools keep their entries.
    let mut pools = vec![new, packed, old];
    for (version, entry) in [
        ("1.5", ContextEntry::NativeBlock),
        ("1.6", ContextEntry::NativeComment),
        ("1.7", ContextEntry::NativePipelined),
    ] {
        owner
            .batch_execute(&format!(
                "ALTER EXTENSION tenancy_context UPDATE TO '{version}'"
            ))
            .unwrap();
        let pool = db.tenancy(&login, 1).unwrap();
        assert_eq!(context_entry(&pool), entry, "{version}");
        assert!(sees_itself(&pool), "{version}");
        pools.push(pool);
        for t in &pools {
            assert!(sees_itself(t), "{version}");
        }
    }
}

/// The rows of `big_notes` a statement counts, with PostgreSQL made to hand the table's scan
/// to parallel workers and to let them do all of it (the leader only gathers), and whether
/// workers ran it.
fn parallel_count(tx: &mut tenancy_schema::TenantTx<'_>, sql: &str) -> (i64, bool) {
    // One statement (a tenant transaction runs no batch), the settings for the transaction.
    let values = PARALLEL_EVEN_SMALL
        .iter()
        .map(|(name, value)| format!("('{name}', '{value}')"))
        .collect::<Vec<_>>()
        .join(", ");
    tx.execute(diesel::sql_query(format!(
        "SELECT set_config(name, value, true) FROM (VALUES {values}) AS s(name, value)"
    )))
    .unwrap();
    let plan = plan_text(
        tx.load_sql(diesel::sql_query(format!(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"
        )))
        .unwrap(),
    );
    assert!(plan.contains("Parallel Seq Scan on big_notes"), "{plan}");
    let launched = !plan.contains("Workers Launched: 0") && plan.contains("Workers Launched: ");
    let n: Vec<Count> = tx.load_sql(diesel::sql_query(sql)).unwrap();
    (n[0].n, launched)
}

/// Extension 1.4: the readers answer in parallel workers with the leader's context. A scan
/// handed to workers counts all of the tenant's rows and none of the other's, through the
/// native context and through the SQL context's pools alike; SQL cannot write what the leader
/// hands over; a session of the application's login without a context sees nothing in
/// parallel either, and fails rather than answer from nothing where the leader handed over no
/// context at all.
#[test]
fn parallel_workers_answer_with_the_leaders_context() {
    if !native() {
        return;
    }
    let shared = tenancy_testing::shared().unwrap();
    let db = tenancy_testing::TestDatabase::create_in(shared.url()).unwrap();
    let mut owner = PgConnection::establish(db.url()).unwrap();
    tenancy_foundation::run_migrations(&mut owner).unwrap();
    let (a, b) = (new_tenant(&mut owner), new_tenant(&mut owner));
    owner
        .batch_execute(&format!(
            "CREATE TABLE big_notes (tenant_id uuid NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id));
             INSERT INTO big_notes SELECT '{a}', g FROM generate_series(1, 3000) g;
             INSERT INTO big_notes SELECT '{b}', g FROM generate_series(1, 5000) g;
             ANALYZE big_notes;
             GRANT SELECT ON big_notes TO tenancy_app;
             {}",
            tenancy_schema::policy::tenant_policies("big_notes", "tenant_id", "tenancy_app"),
            a = a.as_uuid(),
            b = b.as_uuid(),
        ))
        .unwrap();
    let login = db.create_app_login("parallel_login", "parallel").unwrap();
    // The plans are read with EXPLAIN, which a superuser allows this login alone.
    owner
        .batch_execute("ALTER ROLE parallel_login SET tenancy_context.allow_explain = on")
        .unwrap();
    let sql_context = db.tenancy(&login, 1).unwrap();
    owner
        .batch_execute("CREATE EXTENSION tenancy_context; SELECT tenancy.enable_native_context()")
        .unwrap();
    let native = db.tenancy(&login, 1).unwrap();

    let raw = "SELECT count(*) AS n FROM big_notes";
    let scoped = |t: TenantId| {
        format!(
            "WITH big_notes AS NOT MATERIALIZED (SELECT * FROM big_notes WHERE big_notes.tenant_id = '{}') \
             SELECT count(*) AS n FROM big_notes",
            t.as_uuid()
        )
    };
    let mut workers_ran = false;
    for (pool, name) in [(&native, "native"), (&sql_context, "SQL context")] {
        for (tenant, rows) in [(a, 3000), (b, 5000)] {
            for sql in [raw.to_owned(), scoped(tenant)] {
                let (n, launched) = pool
                    .transaction(tenant, |tx| Ok::<_, Error>(parallel_count(tx, &sql)))
                    .unwrap();
                assert_eq!(n, rows, "{name}: {sql}");
                workers_ran |= launched;
            }
            // Another tenant's id in the CTE: the policies, read in the workers, leave nothing.
            let other = if tenant == a { b } else { a };
            let (n, _) = pool
                .transaction(tenant, |tx| {
                    Ok::<_, Error>(parallel_count(tx, &scoped(other)))
                })
                .unwrap();
            assert_eq!(n, 0, "{name}: another tenant's rows in parallel");
        }
    }
    assert!(
        workers_ran,
        "no parallel worker was launched: the test proved nothing"
    );

    // What the leader hands over is not SQL's to write.
    for forge in [
        format!(
            "SET LOCAL tenancy_context.worker_context = '1:{}:'",
            b.as_uuid()
        ),
        format!(
            "SELECT set_config('tenancy_context.worker_context', '1:{}:', true)",
            b.as_uuid()
        ),
    ] {
        let e = native
            .transaction(a, |tx| tx.execute(diesel::sql_query(forge.as_str())))
            .unwrap_err();
        assert!(e.to_string().contains("permission denied"), "{forge}: {e}");
    }

    // The application's login on a connection of its own, with no context: the first parallel
    // statement of the session ran before the extension was loaded, so its workers got nothing
    // from the leader and fail; once loaded, the leader hands over "no tenant", and the
    // workers see no rows.
    let mut bare = PgConnection::establish(&login).unwrap();
    bare.batch_execute(&set_parallel_even_small()).unwrap();
    match diesel::sql_query(raw).get_result::<Count>(&mut bare) {
        Ok(c) => assert_eq!(c.n, 0),
        Err(e) => assert!(
            e.to_string()
                .contains("got no tenant context from its leader"),
            "{e}"
        ),
    }
    let c: Count = diesel::sql_query(raw).get_result(&mut bare).unwrap();
    assert_eq!(c.n, 0);
}
