#!/usr/bin/env python3
"""Generate two equivalent crates for the tenancy compile-time benchmark.

    python3 gen.py OUT_DIR [--tables N] [--queries Q] [--repo PATH]

writes OUT_DIR/plain (plain Diesel, explicit `tenant_id` filters on `&mut PgConnection`) and
OUT_DIR/tenancy (the same tables through `#[tenancy_schema::tenant_scoped]`, the same queries
through `tenancy_schema::TenantTx`). Both crates hold the same tables, row structs and query
functions; only the way the tenant is applied differs. Standard library only (Python 3.11).

Query kinds (7, rotated so that every table gets a mix and, with Q = 7 * N, each table gets
exactly one of each): filtered select into a `Selectable` struct, `first()` of a column tuple,
`count`, inner join with the previous table, insert of an `Insertable` struct, update, delete.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

DIESEL_REQ = "~2.3.14"  # the workspace's requirement (Cargo.toml [workspace.dependencies])
KINDS = ("select", "first", "count", "join", "insert", "update", "delete")

# (column, diesel SQL type, Rust type of a row struct field, Rust type of an insert field)
COLUMNS = [
    ("id", "Int4", "i32", "i32"),
    ("parent_id", "Int4", "i32", "i32"),
    ("name", "Text", "String", "&'a str"),
    ("note", "Nullable<Text>", "Option<String>", "Option<&'a str>"),
    ("amount", "Int8", "i64", "i64"),
    ("active", "Bool", "bool", "bool"),
    ("ext_ref", "Uuid", "Uuid", "Uuid"),
]


def table_name(i: int) -> str:
    return f"t{i:03}"


def struct_base(i: int) -> str:
    return f"T{i:03}"


def parent_of(i: int, n: int) -> int:
    return (i - 1) % n


def plan(n: int, q: int) -> list[tuple[int, int, str]]:
    """(query number, table index, kind) for q queries spread evenly over n tables."""
    return [(k, k % n, KINDS[(k + k // n) % len(KINDS)]) for k in range(q)]


# ----------------------------------------------------------------------------- shared parts


def cargo_toml(name: str, extra_deps: str, features: list[str]) -> str:
    feats = ", ".join(f'"{f}"' for f in features)
    return f"""[package]
name = "{name}"
version = "0.0.0"
edition = "2024"
publish = false

[lib]
path = "src/lib.rs"

[dependencies]
diesel = {{ version = "{DIESEL_REQ}", default-features = false, features = [{feats}] }}
uuid = "1"
{extra_deps}
# Not a member of the repository's workspace.
[workspace]
"""


def table_block(i: int, tenancy: bool) -> str:
    t = table_name(i)
    cols = "".join(f"        {c} -> {ty},\n" for c, ty, _, _ in COLUMNS)
    if tenancy:
        return (
            "#[tenancy_schema::tenant_scoped]\n"
            f"diesel::table! {{\n    {t} (id) {{\n{cols}    }}\n}}\n"
        )
    return (
        f"diesel::table! {{\n    {t} (tenant_id, id) {{\n        tenant_id -> Uuid,\n{cols}"
        "    }\n}\n"
    )


def schema_mod(n: int, tenancy: bool) -> str:
    out = ["pub mod schema {\n"]
    for i in range(n):
        out.append(indent(table_block(i, tenancy), 4))
        out.append("\n")
    names = ", ".join(table_name(i) for i in range(n))
    out.append(f"    diesel::allow_tables_to_appear_in_same_query!({names});\n")
    out.append("}\n")
    return "".join(out)


def models_mod(n: int, tenancy: bool) -> str:
    attr = "#[tenancy_schema::tenant_scoped]\n" if tenancy else ""
    out = ["pub mod models {\n    use crate::schema::*;\n    use diesel::prelude::*;\n    use uuid::Uuid;\n\n"]
    for i in range(n):
        t, s = table_name(i), struct_base(i)
        # Plain Diesel declares `tenant_id` itself; `#[tenant_scoped]` adds
        # `pub tenant_id: TenantId` to read models and forbids it on write models.
        row_tenant = "" if tenancy else "    pub tenant_id: Uuid,\n"
        new_tenant = "" if tenancy else "    pub tenant_id: Uuid,\n"
        row_fields = "".join(f"    pub {c}: {ty},\n" for c, _, ty, _ in COLUMNS)
        new_fields = "".join(f"    pub {c}: {ty},\n" for c, _, _, ty in COLUMNS)
        block = (
            f"{attr}#[derive(Debug, Queryable, Selectable)]\n"
            f"#[diesel(table_name = {t}, check_for_backend(diesel::pg::Pg))]\n"
            f"pub struct {s}Row {{\n{row_tenant}{row_fields}}}\n\n"
            f"{attr}#[derive(Insertable)]\n"
            f"#[diesel(table_name = {t})]\n"
            f"pub struct New{s}<'a> {{\n{new_tenant}{new_fields}}}\n\n"
        )
        out.append(indent(block, 4))
    out.append("}\n")
    return "".join(out)


def indent(text: str, n: int) -> str:
    pad = " " * n
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def new_row_expr(i: int, k: int, tenancy: bool) -> str:
    s = struct_base(i)
    tenant = "" if tenancy else "            tenant_id: tenant,\n"
    return (
        f"New{s} {{\n{tenant}"
        f"            id: x,\n"
        f"            parent_id: {k},\n"
        f'            name: "row {k}",\n'
        f'            note: Some("note {k}"),\n'
        f"            amount: {k * 10}i64,\n"
        f"            active: true,\n"
        f"            ext_ref: Uuid::nil(),\n"
        f"        }}"
    )


# ----------------------------------------------------------------------------- plain Diesel


def plain_query(k: int, i: int, kind: str, n: int) -> str:
    t, s = table_name(i), struct_base(i)
    p = table_name(parent_of(i, n))
    sig = f"pub fn q{k:04}(conn: &mut PgConnection, tenant: Uuid, x: i32)"
    if kind == "select":
        return f"""{sig} -> QueryResult<Vec<{s}Row>> {{
    {t}::table
        .filter({t}::tenant_id.eq(tenant))
        .filter({t}::active.eq(true).and({t}::amount.gt(i64::from(x))))
        .select({s}Row::as_select())
        .order({t}::id)
        .load(conn)
}}
"""
    if kind == "first":
        return f"""{sig} -> QueryResult<(i32, String, Option<String>)> {{
    {t}::table
        .filter({t}::tenant_id.eq(tenant))
        .filter({t}::id.eq(x))
        .select(({t}::id, {t}::name, {t}::note))
        .first(conn)
}}
"""
    if kind == "count":
        return f"""{sig} -> QueryResult<i64> {{
    {t}::table
        .filter({t}::tenant_id.eq(tenant))
        .filter({t}::parent_id.eq(x))
        .count()
        .get_result(conn)
}}
"""
    if kind == "join":
        return f"""{sig} -> QueryResult<Vec<(i32, String, i64)>> {{
    {t}::table
        .inner_join(
            {p}::table.on({p}::tenant_id.eq({t}::tenant_id).and({p}::id.eq({t}::parent_id))),
        )
        .filter({t}::tenant_id.eq(tenant))
        .filter({p}::active.eq(true).and({t}::id.gt(x)))
        .select(({t}::id, {p}::name, {p}::amount))
        .load(conn)
}}
"""
    if kind == "insert":
        return f"""{sig} -> QueryResult<usize> {{
    diesel::insert_into({t}::table)
        .values({new_row_expr(i, k, False)})
        .execute(conn)
}}
"""
    if kind == "update":
        return f"""{sig} -> QueryResult<usize> {{
    diesel::update({t}::table.filter({t}::tenant_id.eq(tenant)).filter({t}::id.eq(x)))
        .set(({t}::name.eq("renamed {k}"), {t}::amount.eq(i64::from(x))))
        .execute(conn)
}}
"""
    if kind == "delete":
        return f"""{sig} -> QueryResult<usize> {{
    diesel::delete({t}::table.filter({t}::tenant_id.eq(tenant)).filter({t}::id.eq(x)))
        .execute(conn)
}}
"""
    raise ValueError(kind)


# ----------------------------------------------------------------------------- tenancy


def tenancy_query(k: int, i: int, kind: str, n: int) -> str:
    t, s = table_name(i), struct_base(i)
    p = table_name(parent_of(i, n))
    sig = f"pub fn q{k:04}(tx: &mut TenantTx<'_>, x: i32)"
    if kind == "select":
        return f"""{sig} -> Result<Vec<{s}Row>> {{
    tx.load(
        {t}::table
            .filter({t}::active.eq(true).and({t}::amount.gt(i64::from(x))))
            .select({s}Row::as_select())
            .order({t}::id),
    )
}}
"""
    if kind == "first":
        return f"""{sig} -> Result<(i32, String, Option<String>)> {{
    tx.first(
        {t}::table
            .filter({t}::id.eq(x))
            .select(({t}::id, {t}::name, {t}::note)),
    )
}}
"""
    if kind == "count":
        return f"""{sig} -> Result<i64> {{
    tx.count({t}::table.filter({t}::parent_id.eq(x)))
}}
"""
    if kind == "join":
        return f"""{sig} -> Result<Vec<(i32, String, i64)>> {{
    tx.load(
        {t}::table
            .inner_join({p}::table.on({p}::id.eq({t}::parent_id)))
            .filter({p}::active.eq(true).and({t}::id.gt(x)))
            .select(({t}::id, {p}::name, {p}::amount)),
    )
}}
"""
    if kind == "insert":
        return f"""{sig} -> Result<usize> {{
    tx.insert(
        {t}::table,
        {new_row_expr(i, k, True)},
    )
}}
"""
    if kind == "update":
        return f"""{sig} -> Result<usize> {{
    tx.update({t}::table)
        .filter({t}::id.eq(x))
        .set(({t}::name.eq("renamed {k}"), {t}::amount.eq(i64::from(x))))
        .execute()
}}
"""
    if kind == "delete":
        return f"""{sig} -> Result<usize> {{
    tx.delete({t}::table).filter({t}::id.eq(x)).execute()
}}
"""
    raise ValueError(kind)


# ----------------------------------------------------------------------------- crates


HEADER = """//! Generated by benches/compile-time/gen.py ({variant}: {n} tables, {q} queries). Do not edit.
#![allow(clippy::all, clippy::pedantic)]

"""


def lib_rs(n: int, q: int, tenancy: bool) -> str:
    variant = "tenancy" if tenancy else "plain"
    out = [HEADER.format(variant=variant, n=n, q=q), schema_mod(n, tenancy), "\n", models_mod(n, tenancy)]
    out.append("\npub mod queries {\n    #![allow(unused_imports)] // reason: small configurations may not use every import\n")
    out.append("    use crate::models::*;\n    use crate::schema::*;\n    use diesel::prelude::*;\n")
    if tenancy:
        out.append("    use tenancy_schema::{Result, TenantTx};\n")
    out.append("    use uuid::Uuid;\n\n")
    make = tenancy_query if tenancy else plain_query
    for k, i, kind in plan(n, q):
        out.append(indent(make(k, i, kind, n), 4))
        out.append("\n")
    out.append("}\n")
    return "".join(out)


def write_crate(dest: Path, name: str, deps: str, lib: str, lockfile: Path, features: list[str]) -> None:
    (dest / "src").mkdir(parents=True, exist_ok=True)
    (dest / "Cargo.toml").write_text(cargo_toml(name, deps, features))
    (dest / "src" / "lib.rs").write_text(lib)
    shutil.copyfile(lockfile, dest / "Cargo.lock")


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="output directory (plain/ and tenancy/ are created in it)")
    ap.add_argument("--tables", "-n", type=int, default=30)
    ap.add_argument("--queries", "-q", type=int, default=200)
    ap.add_argument("--repo", type=Path, default=here.parent.parent, help="tenancy repository root")
    ap.add_argument("--diesel-features", default="postgres,uuid",
                    help="comma-separated Diesel features of both crates (default postgres,uuid; "
                    "the tenancy crate also gets whatever tenancy-schema enables)")
    a = ap.parse_args(argv)
    if a.tables < 2:
        ap.error("--tables must be at least 2 (joins use the previous table)")
    if a.queries < 0:
        ap.error("--queries must be >= 0")
    repo = a.repo.resolve()
    schema_crate = repo / "tenancy-schema"
    lockfile = repo / "Cargo.lock"
    if not (schema_crate / "Cargo.toml").is_file() or not lockfile.is_file():
        ap.error(f"{repo} does not look like the tenancy repository")

    features = [f.strip() for f in a.diesel_features.split(",") if f.strip()]
    out = a.out.resolve()
    for variant in ("plain", "tenancy"):
        if (out / variant).exists():
            shutil.rmtree(out / variant)
    write_crate(out / "plain", "ct-plain", "", lib_rs(a.tables, a.queries, False), lockfile, features)
    dep = f'tenancy-schema = {{ path = "{schema_crate}" }}\n'
    write_crate(out / "tenancy", "ct-tenancy", dep, lib_rs(a.tables, a.queries, True), lockfile, features)

    counts = {kind: 0 for kind in KINDS}
    for _, _, kind in plan(a.tables, a.queries):
        counts[kind] += 1
    summary = ", ".join(f"{kind} {c}" for kind, c in counts.items())
    print(f"generated {out}/plain and {out}/tenancy: {a.tables} tables, {a.queries} queries ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
