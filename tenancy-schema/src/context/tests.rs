use super::entry::next_counter;
use super::*;
use crate::{PrincipalId, TenantId};

#[test]
fn counters_grow() {
    let a = next_counter();
    let b = next_counter();
    assert!(b > a);
}

/// The entry of `tenant` on session 42, and the counter it carries.
fn entry_on_session_42(
    entry: ContextEntry,
    key: &ContextKey,
    tenant: Option<TenantId>,
) -> (String, u64) {
    let mut sql = String::new();
    push_enter(&mut sql, entry, key, 42, tenant, None, false, false);
    let separator = if entry == ContextEntry::Native {
        "|"
    } else {
        ", "
    };
    let counter = sql
        .split(separator)
        .nth(2)
        .and_then(|c| c.parse().ok())
        .expect("counter in the statement");
    (sql, counter)
}

#[test]
fn enter_statement_carries_a_mac_over_session_counter_and_context() {
    let key = ContextKey::from_bytes([7; 32]);
    let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
    let (sql, counter) = entry_on_session_42(ContextEntry::Single, &key, Some(tenant));
    let expected = key.mac(&format!("enter|42|{counter}|{}|", tenant.as_uuid()));
    assert!(sql.contains(&expected), "{sql}");
    assert!(sql.contains(", NULL, "), "{sql}");
}

#[test]
fn read_only_follows_the_entry_on_one_node_and_is_an_argument_on_citus() {
    let key = ContextKey::from_bytes([7; 32]);
    let enter = |entry| {
        let mut sql = String::new();
        push_enter(&mut sql, entry, &key, 1, None, None, false, true);
        sql
    };
    let single = enter(ContextEntry::Single);
    assert!(
        single.starts_with("SELECT tenancy.enter(NULL, NULL, "),
        "{single}"
    );
    assert!(
        single.ends_with("', false); SET TRANSACTION READ ONLY"),
        "{single}"
    );
    let citus = enter(ContextEntry::Distributed);
    assert!(
        citus.starts_with("SELECT tenancy.enter_distributed(NULL, NULL, "),
        "{citus}"
    );
    assert!(citus.ends_with("', false, true)"), "{citus}");
    assert!(!citus.contains(';'), "{citus}");
    let native = enter(ContextEntry::Native);
    assert!(
        native.starts_with("CALL tenancy_context.enter('||"),
        "{native}"
    );
    assert!(
        native.ends_with("|f'); SET TRANSACTION READ ONLY"),
        "{native}"
    );
    let native_args = enter(ContextEntry::NativeArgs);
    assert!(
        native_args.starts_with("CALL tenancy_context.enter(NULL, NULL, "),
        "{native_args}"
    );
    assert!(
        native_args.ends_with("', false); SET TRANSACTION READ ONLY"),
        "{native_args}"
    );
}

#[test]
fn citus_wins_and_an_older_extension_keeps_its_own_entry() {
    for packed in [false, true] {
        for opens in [false, true] {
            for blocks in [false, true] {
                for comments in [false, true] {
                    for pipelines in [false, true] {
                        assert_eq!(
                            ContextEntry::detect(
                                true, true, packed, opens, blocks, comments, pipelines
                            ),
                            ContextEntry::Distributed
                        );
                        assert_eq!(
                            ContextEntry::detect(
                                false, false, packed, opens, blocks, comments, pipelines
                            ),
                            ContextEntry::Single
                        );
                    }
                }
            }
        }
    }
    assert_eq!(
        ContextEntry::detect(false, true, true, true, true, true, true),
        ContextEntry::NativePipelined
    );
    assert_eq!(
        ContextEntry::detect(false, true, true, true, true, true, false),
        ContextEntry::NativeComment
    );
    assert_eq!(
        ContextEntry::detect(false, true, true, true, true, false, false),
        ContextEntry::NativeBlock
    );
    assert_eq!(
        ContextEntry::detect(false, true, true, true, false, false, false),
        ContextEntry::NativeBegin
    );
    assert_eq!(
        ContextEntry::detect(false, true, true, false, false, false, false),
        ContextEntry::Native
    );
    assert_eq!(
        ContextEntry::detect(false, true, false, false, false, false, false),
        ContextEntry::NativeArgs
    );
    assert!(ContextEntry::NativePipelined.comments());
    assert!(ContextEntry::NativePipelined.pipelines_comment());
    assert!(!ContextEntry::NativeComment.pipelines_comment());
}

#[test]
fn the_pipelined_block_entry_is_there_from_extension_1_5_on() {
    assert!(ContextEntry::NativePipelined.blocks());
    assert!(ContextEntry::NativeComment.blocks());
    assert!(ContextEntry::NativeBlock.blocks());
    for older in [
        ContextEntry::NativeBegin,
        ContextEntry::Native,
        ContextEntry::NativeArgs,
        ContextEntry::Single,
        ContextEntry::Distributed,
    ] {
        assert!(!older.blocks(), "{older:?}");
    }
}

#[test]
fn a_begin_carries_the_packed_entry_in_its_comment() {
    let key = ContextKey::from_bytes([7; 32]);
    let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
    let mut plain = String::new();
    push_comment_begin(
        &mut plain,
        ("BEGIN", false),
        &key,
        3,
        Some(tenant),
        None,
        true,
    );
    let entry = plain
        .strip_prefix("BEGIN /*tenancy_context.entry:")
        .and_then(|rest| rest.strip_suffix("*/"))
        .unwrap_or_else(|| panic!("{plain}"));
    let fields: Vec<&str> = entry.split('|').collect();
    assert_eq!(fields.len(), 5, "{entry}");
    assert_eq!(fields[0], "00000000-0000-0000-0000-000000000001");
    assert_eq!(fields[1], "");
    assert!(fields[2].bytes().all(|b| b.is_ascii_digit()), "{entry}");
    assert_eq!(fields[3].len(), 64, "{entry}");
    assert_eq!(fields[4], "t");
    assert!(!entry.contains("*/") && !entry.contains("/*"), "{entry}");

    let mut read_only = String::new();
    push_comment_begin(
        &mut read_only,
        ("BEGIN ISOLATION LEVEL SERIALIZABLE", true),
        &key,
        3,
        None,
        None,
        false,
    );
    assert!(
        read_only
            .starts_with("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY /*tenancy_context.entry:||"),
        "{read_only}"
    );
    assert!(read_only.ends_with("|f*/"), "{read_only}");

    // Without a tenant (the system connection) there is no status to check, whatever is asked.
    let mut system = String::new();
    push_comment_begin(&mut system, ("BEGIN", false), &key, 3, None, None, true);
    assert!(system.ends_with("|f*/"), "{system}");
}

#[test]
fn a_transaction_with_an_isolation_level_opens_with_the_packed_call() {
    let key = ContextKey::from_bytes([7; 32]);
    let mut sql = String::new();
    push_enter(
        &mut sql,
        ContextEntry::NativeBegin,
        &key,
        1,
        None,
        None,
        false,
        true,
    );
    assert!(sql.starts_with("CALL tenancy_context.enter('||"), "{sql}");
    assert!(sql.ends_with("|f'); SET TRANSACTION READ ONLY"), "{sql}");
}

#[test]
fn the_begin_statement_binds_the_packed_entry_and_the_access_mode() {
    use diesel::query_builder::QueryBuilder as _;

    let key = ContextKey::from_bytes([7; 32]);
    let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
    let principal = PrincipalId::from_uuid(uuid::Uuid::from_u128(2));
    let statement = OpenStatement::new(&key, 42, Some(tenant), Some(principal), true, true);
    let fields: Vec<&str> = statement.entry.split('|').collect();
    assert_eq!(fields.len(), 5, "{statement:?}");
    assert_eq!(fields[0], tenant.as_uuid().to_string());
    assert_eq!(fields[1], principal.as_uuid().to_string());
    let counter: u64 = fields[2].parse().expect("a decimal counter");
    assert_eq!(
        fields[3],
        key.mac(&format!(
            "native|42|{counter}|{}|{}",
            tenant.as_uuid(),
            principal.as_uuid()
        ))
    );
    assert_eq!(fields[4], "t");
    assert!(statement.read_only);
    // No tenant (the system connection): no status to check, whatever the setting.
    let system = OpenStatement::new(&key, 42, None, None, true, false);
    assert!(system.entry.starts_with("||"), "{system:?}");
    assert!(system.entry.ends_with("|f"), "{system:?}");
    assert!(!system.read_only);

    let mut query = diesel::pg::PgQueryBuilder::default();
    diesel::query_builder::QueryFragment::<diesel::pg::Pg>::to_sql(
        &statement,
        &mut query,
        &diesel::pg::Pg,
    )
    .expect("renders");
    assert_eq!(
        query.finish(),
        "SELECT WHERE tenancy_context.begin($1, $2) IS NULL"
    );
}

#[test]
fn the_native_entry_is_one_literal_of_five_fields() {
    let key = ContextKey::from_bytes([7; 32]);
    let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
    let mut sql = String::new();
    push_enter(
        &mut sql,
        ContextEntry::Native,
        &key,
        42,
        Some(tenant),
        None,
        true,
        false,
    );
    let literal = sql
        .strip_prefix("CALL tenancy_context.enter('")
        .and_then(|rest| rest.strip_suffix("')"))
        .expect("one text literal");
    let fields: Vec<&str> = literal.split('|').collect();
    assert_eq!(fields.len(), 5, "{sql}");
    assert_eq!(fields[0], tenant.as_uuid().to_string());
    assert_eq!(fields[1], "");
    let counter: u64 = fields[2].parse().expect("a decimal counter");
    assert_eq!(
        fields[3],
        key.mac(&format!("native|42|{counter}|{}|", tenant.as_uuid()))
    );
    assert_eq!(fields[4], "t");
}

#[test]
fn native_macs_are_of_their_own_domain() {
    let key = ContextKey::from_bytes([7; 32]);
    let (sql, counter) = entry_on_session_42(ContextEntry::Native, &key, None);
    assert!(
        sql.contains(&key.mac(&format!("native|42|{counter}||"))),
        "{sql}"
    );
    assert!(
        !sql.contains(&key.mac(&format!("enter|42|{counter}||"))),
        "{sql}"
    );
}

#[test]
fn hex_keys_are_checked() {
    assert!(ContextKey::from_hex(&"0".repeat(64)).is_ok());
    assert!(ContextKey::from_hex(&"0".repeat(63)).is_err());
    assert!(ContextKey::from_hex(&"g".repeat(64)).is_err());
}
