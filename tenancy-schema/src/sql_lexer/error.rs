//! Why SQL text was refused.

/// Why a piece of SQL text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlTextError {
    /// A quoted identifier, string literal, dollar quote or block comment is not closed.
    #[error("unterminated {0} in a raw SQL fragment")]
    Unterminated(&'static str),
    /// A `)` closes a parenthesis the fragment did not open, or one stays open.
    #[error("unbalanced parentheses in a raw SQL fragment: `{0}`")]
    Unbalanced(String),
    /// A `;` would end the statement and start another.
    #[error("a raw SQL fragment contains `;`, which would start a second statement")]
    Semicolon,
    /// A comment could hide the rest of the statement.
    #[error(
        "a raw SQL fragment contains a comment (`--` or `/*`), which could hide the rest of the statement"
    )]
    Comment,
    /// A predicate ANDed with the tenant filter reaches outside its parentheses.
    #[error("a filter of a tenant write reaches outside its parentheses: `{0}`")]
    EscapedPredicate(String),
    /// A raw fragment of a tenant write changes the statement around it: a value that leaves
    /// its row or assignment, or a string or parenthesis opened in one fragment and closed in
    /// another, so that a clause tenancy wrote (the tenant predicate, the tenant of each row)
    /// is no longer code in its place.
    #[error(
        "a raw SQL fragment of a tenant write reaches outside its place in the statement (a value out of its row or assignment, or a quote or parenthesis left open for another fragment to close): bind values instead of writing them into SQL text: `{0}`"
    )]
    RestructuredWrite(String),
    /// A schema-qualified name refers to a tenant-scoped table, which the shadowing CTE of the
    /// tenant transaction cannot reach.
    #[error(
        "`{schema}.{table}` names the tenant-scoped table `{table}` with a schema; inside a tenant transaction write it unqualified (`{table}`), so that the tenant filter applies"
    )]
    QualifiedTenantTable {
        /// The schema written before the table.
        schema: String,
        /// The tenant-scoped table.
        table: String,
    },
    /// A partition, inheritance child or parent, foreign table, view or materialized view of a
    /// tenant-scoped table, found in the database when the `Tenancy` was built: its name
    /// reaches every tenant's rows, and the tenant filter covers the table's own name only.
    #[error(
        "`{name}` is a {kind} of the tenant-scoped table `{table}` and reaches every tenant's rows past the tenant filter: query `{table}` itself inside a tenant transaction, or, if `{name}` has the tenant column, declare it with `#[tenant_scoped]` so that it is filtered too"
    )]
    ReachesTenantRows {
        /// The relation named.
        name: String,
        /// `partition`, `inheritance child`, `parent table`, `foreign table`, `view` or
        /// `materialized view`.
        kind: &'static str,
        /// The tenant-scoped table whose rows it reaches.
        table: &'static str,
    },
    /// A table that, in the database, carries tenancy's tenant policies (its
    /// `tenant_isolation` policy, the mark `tenancy.set_rls_mode` finds tenant tables by) but
    /// that no `#[tenant_scoped]` of this program declares, found when the `Tenancy` was built:
    /// tenancy filters only the tables it knows, so a fragment naming this one would reach
    /// every tenant's rows wherever row level security is off.
    #[error(
        "`{0}` is a tenant table in the database (it has the `tenant_isolation` policy) that this program does not declare, so tenancy cannot filter it: declare it with `#[tenant_scoped]` (its `diesel::table!` as `diesel print-schema` writes it), or read it with a raw `sql_query` statement inside a tenant transaction, which row level security checks"
    )]
    UndeclaredTenantTable(String),
    /// A call of a function whose body reads a tenant-scoped table (or a relation that
    /// reaches its rows), found in the database when the `Tenancy` was built: the tenant
    /// filter does not reach into a function's body.
    #[error(
        "`{function}(..)` reads the tenant-scoped table `{table}` in its body, where the tenant filter does not reach: query `{table}` itself, inside a tenant transaction; or, once reviewed to read only the current tenant's rows, COMMENT ON FUNCTION {function} IS 'tenancy: reviewed: <why it is safe>'"
    )]
    FunctionReadsTenantRows {
        /// The function called.
        function: String,
        /// The tenant-scoped table its body reads.
        table: &'static str,
    },
    /// A call of a function that runs SQL its text does not show (PL/pgSQL's `EXECUTE`, a
    /// `U&"…"` name, a body in a language other than SQL and PL/pgSQL), or that calls one:
    /// what it reads cannot be known, and the tenant filter does not reach into it.
    #[error(
        "`{0}(..)` runs SQL its text does not show (dynamic EXECUTE, an escaped name, or a language tenancy cannot read), where the tenant filter does not reach: query the tables directly inside the tenant transaction; or, once reviewed to read only the current tenant's rows, COMMENT ON FUNCTION {0} IS 'tenancy: reviewed: <why it is safe>'"
    )]
    FunctionRunsHiddenSql(String),
    /// An operator whose function reads tenant rows (or runs hidden SQL), which the
    /// operator runs without the function's name appearing.
    #[error(
        "the operator `{operator}` runs `{function}(..)`, which {}: write the query on the tenant tables themselves; or, once `{function}` is reviewed to read only the current tenant's rows, COMMENT ON FUNCTION {function} IS 'tenancy: reviewed: <why it is safe>'",
        reads(*.table)
    )]
    OperatorRunsReader {
        /// The operator as written.
        operator: String,
        /// The function it runs.
        function: String,
        /// The tenant-scoped table the function reads; `None` for SQL its text does not show.
        table: Option<&'static str>,
    },
    /// A type whose cast or domain check runs a function that reads tenant rows (or runs
    /// hidden SQL): naming the type runs it.
    #[error(
        "a cast to or from the type `{type_name}`, or its domain check, runs `{function}(..)`, which {}: write the query on the tenant tables themselves; or, once `{function}` is reviewed to read only the current tenant's rows, COMMENT ON FUNCTION {function} IS 'tenancy: reviewed: <why it is safe>'",
        reads(*.table)
    )]
    TypeRunsReader {
        /// The type named.
        type_name: String,
        /// The function its cast or domain check runs.
        function: String,
        /// The tenant-scoped table the function reads; `None` for SQL its text does not show.
        table: Option<&'static str>,
    },
    /// A function that runs SQL given as text (`query_to_xml('SELECT … FROM posts', ..)`):
    /// the tables it reads are invisible to tenancy's scoping.
    #[error(
        "`{0}` runs SQL given as text, which tenancy cannot scope: query the tables directly inside the tenant transaction"
    )]
    DynamicSql(String),
    /// A statistics view (`pg_stats`): it shows values of every tenant's rows (most common
    /// values, histograms) wherever row level security is off, and tenancy cannot scope it.
    #[error(
        "`{0}` shows values of every tenant's rows (most common values, histograms) where row level security is off, which tenancy cannot scope: query the tables themselves inside the tenant transaction"
    )]
    StatisticsView(String),
    /// An `ARRAY[..]` constructor over a row's values. PostgreSQL costs it at nothing, so it
    /// is tested on a row before any predicate that calls a function (the tenant's too), and
    /// it counts as leakproof, so row level security lets it run ahead of a policy; yet it
    /// fails on rows whose arrays differ in size, and its error tells which rows those are.
    #[error(
        "an ARRAY[..] constructor over a row's values (`{0}`) is evaluated on rows of every tenant before the tenant predicate, and fails on some of them: bind the array's values instead (`.eq_any(vec)`, a `Vec` bound as an array) or build it from the loaded rows"
    )]
    RowValuesInArray(String),
    /// A `LIKE` or `ILIKE` pattern, bound as a value, that ends with its escape character left
    /// unescaped. PostgreSQL fails such a pattern only once matching reaches that character,
    /// that is only on a row whose text matches the pattern up to it, and it may compare rows
    /// before the tenant predicate has passed them (an index recheck, its estimate over a
    /// column's most common values): the failure would tell whether another tenant has that
    /// text. A pattern PostgreSQL accepts is never refused.
    #[error(
        "a LIKE pattern ends with its escape character, which PostgreSQL fails only on rows that match the pattern up to it, whichever tenant's they are: escape the escape character itself (`\\\\` for a backslash) or drop it"
    )]
    LikePatternEndsWithEscape,
    /// A `LIKE` or `ILIKE` pattern computed from bound values and nothing of a row
    /// (`$2 || $3`, `lower($2)`): PostgreSQL takes it for a constant, so it may run it on
    /// other tenants' rows before the tenant predicate as it may a bound pattern, and its value
    /// is not one tenancy reads to refuse one that ends with its escape character.
    #[error(
        "a LIKE pattern computed from bound values is tested on rows of every tenant before the tenant predicate where it ends with its escape character, and tenancy cannot read the value it computes: bind the whole pattern as one value (`.like(format!(\"%{{text}}%\"))`)"
    )]
    ComputedLikePattern,
    /// A backslash in a string literal that makes the text read differently when
    /// `standard_conforming_strings` is off.
    #[error(
        "a string literal in SQL run through tenancy contains a backslash that reads differently when `standard_conforming_strings` is off: bind the value instead, or write it as `E'..'`: `{0}`"
    )]
    AmbiguousBackslash(String),
    /// A backslash right after a non-ASCII character: under a client encoding such as SJIS,
    /// BIG5 or GBK (SQL earlier in the same transaction may switch to one) the server reads
    /// the character's last byte and the backslash as one character, so an escaped quote ends
    /// the string there.
    #[error(
        "a backslash right after a non-ASCII character in SQL run through tenancy reads differently under some client encodings (SJIS, BIG5, GBK): bind the value instead: `{0}`"
    )]
    MultibyteBackslash(String),
    /// A Unicode-escaped identifier (`U&"\0070osts"`), which could name a table without
    /// spelling it.
    #[error("Unicode-escaped identifiers (`U&\"…\"`) are not accepted in SQL run through tenancy")]
    EscapedIdentifier,
    /// The statement reads a tenant-scoped table through a connection that has no tenant.
    #[error(
        "the system connection cannot read or write the tenant-scoped table `{0}`: run this in a tenant transaction (`tenancy.transaction(tenant, ..)`), or across tenants through `Tenancy::admin`"
    )]
    TenantTableOnSystemConnection(String),
    /// A view or materialized view, found in the database when the `Tenancy` was built, that
    /// calls a function running SQL given as text, reads a statistics view, or uses a view or
    /// function that does: what it shows comes from every tenant's rows where row level
    /// security is off, and the tenant filter does not reach into it.
    #[error(
        "`{view}` is a view that uses `{via}`, which runs SQL given as text or shows values of every tenant's rows, where the tenant filter does not reach: query the tables themselves inside the tenant transaction"
    )]
    HiddenView {
        /// The view named.
        view: String,
        /// What it uses.
        via: String,
    },
    /// A typed Diesel statement (`posts::table.select(sql::<Untyped>(..))`, `diesel::update(..)
    /// .returning(sql(..))`) handed to the methods for raw SQL: its SQL type says `Untyped` as
    /// `diesel::sql_query`'s does, but nothing scoped it.
    #[error(
        "`tx.execute`/`load_sql` take raw `diesel::sql_query(..)` only (with `.bind(..)`, boxed or not), not the Diesel statement `{0}`: load it with `tx.load(query)` or write it with `tx.insert`/`tx.update`/`tx.delete`, which scope it to the tenant"
    )]
    NotRawSql(String),
    /// Raw SQL that ends the transaction tenancy opened (`COMMIT`, `ROLLBACK`, `END`, `ABORT`,
    /// `PREPARE TRANSACTION`) or opens another (`BEGIN`, `START TRANSACTION`): what followed
    /// would run outside the transaction, without the tenant's context, and the transaction's
    /// end could not say whether its writes were kept.
    #[error(
        "raw SQL may not end or open a transaction: `{0}`; tenancy ends the transaction when the closure returns (`Ok` commits, `Err` rolls back), and `SAVEPOINT` with `ROLLBACK TO SAVEPOINT` undoes part of it"
    )]
    TransactionControl(String),
    /// Raw SQL that runs `MERGE`: PostgreSQL tests a `MERGE`'s conditions on every row of its
    /// target and checks row level security's policies for its `UPDATE` and `DELETE` actions
    /// only as errors, so the statement counts every tenant's rows, and fails where another
    /// tenant has one.
    #[error(
        "raw SQL may not run MERGE: `{0}`; PostgreSQL tests its conditions on every tenant's rows before row level security checks them: use INSERT .. ON CONFLICT, UPDATE or DELETE"
    )]
    Merge(String),
    /// SQL that runs a prepared statement by name (`EXECUTE name(..)`): the connection's
    /// prepared statements are the driver's, prepared for tenant transactions with the tenant
    /// as a parameter, and the text that names one does not show which tables it reads.
    #[error(
        "`EXECUTE` runs a statement prepared on the connection, whose tables the text does not show: send the statement itself"
    )]
    ExecutePrepared,
    /// A fragment of the application's own rendered the statement differently when it was
    /// written for sending than when tenancy planned it, and the text to send names a
    /// tenant-scoped table the plan does not filter.
    #[error(
        "the statement names the tenant-scoped table `{0}` where tenancy's plan does not filter it: a `QueryFragment` of your own renders different SQL from one call to the next, which tenancy cannot scope; render the same SQL every time and put values in binds"
    )]
    ChangedAfterPlanning(String),
    /// A changeset assignment that is not `"column" = value` for a column of the table.
    #[error(
        "the changeset of an update of `{table}` does not assign one of its columns here: `{item}`"
    )]
    MalformedChangeset {
        /// The table being updated.
        table: &'static str,
        /// The offending assignment.
        item: String,
    },
}

/// What a function run by an operator or a type reads, for the messages.
fn reads(table: Option<&'static str>) -> String {
    match table {
        Some(table) => format!(
            "reads the tenant-scoped table `{table}` where the tenant filter does not reach"
        ),
        None => {
            "runs SQL its text does not show, where the tenant filter does not reach".to_owned()
        }
    }
}
