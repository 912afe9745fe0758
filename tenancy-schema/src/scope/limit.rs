//! A page's `LIMIT` written into the statement as a number.
//!
//! Diesel binds every `.limit(n)` as a parameter. PostgreSQL cannot cost a plan whose limit it
//! does not know, and assumes a tenth of the rows: for `ORDER BY created_at DESC LIMIT $n` over
//! a tenant's rows, that generic plan always looks dearer than a custom plan for the 20 rows
//! asked for, so PostgreSQL never keeps it and plans the statement again on every execution
//! (about 93,000 server instructions for plain Diesel's newest-20 lookup, more under row level
//! security). With the number in the text the generic plan is costed for those 20 rows, it is
//! kept after the five custom plans PostgreSQL tries first, and a page costs no planning.
//!
//! Only where it pays and cannot grow without bound:
//! - under an `ORDER BY` (a page): a `.first()` by key has no order, gets its generic plan
//!   already, and keeps its statement cached by type;
//! - without `OFFSET`, whose value changes with every page and would need a statement per page;
//! - up to [`INLINED_LIMIT_MAX`], so that a limit taken from a request makes at most that many
//!   prepared statements per query and connection.
//!
//! The text then depends on the value, so these statement types are cached by Diesel under their
//! SQL text instead of their type ([`super::Scoped`]'s query id), and tenancy's own plan cache
//! keeps one text per value.

use diesel::QueryResult;
use diesel::pg::{Pg, PgMetadataLookup, PgTypeMetadata};
use diesel::query_builder::bind_collector::RawBytesBindCollector;
use diesel::query_builder::{
    LimitClause, LimitOffsetClause, NoLimitClause, NoOffsetClause, NoOrderClause, OffsetClause,
    OrderClause, QueryFragment,
};

/// The largest limit written as a number; a larger one stays a parameter. Public APIs that
/// page cap their page size about here (GitHub's at 100).
pub const INLINED_LIMIT_MAX: i64 = 100;

/// A select statement's `LIMIT`/`OFFSET` clause, as far as writing its limit as a number goes.
#[doc(hidden)]
pub trait LimitForm {
    /// Whether the clause is a `LIMIT` alone (no `OFFSET`).
    const LIMIT_ALONE: bool;

    /// The limit to write as a number, if the clause is a `LIMIT` alone whose value is in
    /// `0..=INLINED_LIMIT_MAX`.
    ///
    /// # Errors
    /// When the limit's value cannot be serialized.
    fn inlined(&self) -> QueryResult<Option<i64>>;
}

impl LimitForm for LimitOffsetClause<NoLimitClause, NoOffsetClause> {
    const LIMIT_ALONE: bool = false;

    fn inlined(&self) -> QueryResult<Option<i64>> {
        Ok(None)
    }
}

impl<E: QueryFragment<Pg>> LimitForm for LimitOffsetClause<LimitClause<E>, NoOffsetClause> {
    const LIMIT_ALONE: bool = true;

    fn inlined(&self) -> QueryResult<Option<i64>> {
        // Only what `.limit(n)` writes, a placeholder alone: an expression that writes more
        // (a type built by hand) is sent as written.
        if super::named::render(&self.limit_clause.0)? != "$1" {
            return Ok(None);
        }
        Ok(bound_bigint(&self.limit_clause.0)?.filter(|n| (0..=INLINED_LIMIT_MAX).contains(n)))
    }
}

impl<L, E> LimitForm for LimitOffsetClause<L, OffsetClause<E>> {
    const LIMIT_ALONE: bool = false;

    fn inlined(&self) -> QueryResult<Option<i64>> {
        Ok(None)
    }
}

/// A select statement's `ORDER BY` clause: whether there is one.
#[doc(hidden)]
pub trait OrderForm {
    const ORDERED: bool;
}

impl OrderForm for NoOrderClause {
    const ORDERED: bool = false;
}

impl<T> OrderForm for OrderClause<T> {
    const ORDERED: bool = true;
}

/// The value of `expression` when it is one bound `BIGINT` (what Diesel's `.limit(n)` binds),
/// read from the bytes it serializes to. `None` for anything else, which then stays as written.
fn bound_bigint<E: QueryFragment<Pg>>(expression: &E) -> QueryResult<Option<i64>> {
    let mut collector = RawBytesBindCollector::<Pg>::new();
    expression.collect_binds(&mut collector, &mut NoLookup, &Pg)?;
    let value = match (collector.metadata.as_slice(), collector.binds.as_slice()) {
        ([metadata], [Some(bytes)]) if metadata.oid().ok() == Some(BIGINT_OID) => {
            <[u8; 8]>::try_from(bytes.as_slice())
                .ok()
                .map(i64::from_be_bytes)
        }
        _ => None,
    };
    Ok(value)
}

/// PostgreSQL's `int8`.
const BIGINT_OID: u32 = 20;

/// A `BIGINT` needs no lookup; a type that does is not a limit tenancy writes as a number.
pub(super) struct NoLookup;

impl PgMetadataLookup for NoLookup {
    fn lookup_type(&mut self, _type_name: &str, _schema: Option<&str>) -> PgTypeMetadata {
        PgTypeMetadata::new(0, 0)
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::query_builder::QueryFragment;

    use super::{INLINED_LIMIT_MAX, LimitForm};

    diesel::table! {
        pages (id) {
            id -> Int4,
        }
    }

    fn inlined<Q>(query: &Q) -> Option<i64>
    where
        Q: diesel::internal::derives::multiconnection::SelectStatementAccessor,
        Q::LimitOffset: LimitForm + QueryFragment<diesel::pg::Pg>,
    {
        query.limit_offset_clause().inlined().unwrap()
    }

    #[test]
    fn a_limit_alone_up_to_the_cap_is_read_from_its_bind() {
        assert_eq!(inlined(&pages::table.limit(20)), Some(20));
        assert_eq!(inlined(&pages::table.limit(0)), Some(0));
        assert_eq!(
            inlined(&pages::table.limit(INLINED_LIMIT_MAX)),
            Some(INLINED_LIMIT_MAX)
        );
    }

    #[test]
    fn a_limit_that_writes_more_than_its_placeholder_stays_as_written() {
        use diesel::dsl::sql;
        use diesel::internal::derives::multiconnection::{LimitClause, LimitOffsetClause};
        use diesel::query_builder::NoOffsetClause;
        use diesel::sql_types::BigInt;
        let written = LimitOffsetClause {
            limit_clause: LimitClause(sql::<BigInt>("1 + ").bind::<BigInt, _>(5_i64)),
            offset_clause: NoOffsetClause,
        };
        assert_eq!(written.inlined().unwrap(), None);
    }

    #[test]
    fn a_limit_past_the_cap_or_below_zero_or_with_an_offset_stays_bound() {
        assert_eq!(inlined(&pages::table.limit(INLINED_LIMIT_MAX + 1)), None);
        assert_eq!(inlined(&pages::table.limit(-1)), None);
        assert_eq!(inlined(&pages::table.limit(20).offset(40)), None);
        assert_eq!(inlined(&pages::table.select(pages::id)), None);
    }
}
