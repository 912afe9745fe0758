//! The Rust names the `table!` snippet gives SQL names, as `diesel print-schema` gives them
//! (the snippet is what `tenancy print-schema` writes later): a name that is not a Rust
//! identifier (`type`), or one `table!` itself uses, gets a `_` appended and keeps its SQL
//! name in `#[sql_name = "…"]`.

/// Names `table!` uses itself (diesel_cli's list).
const TABLE_MACRO_NAMES: [&str; 3] = ["table", "columns", "is_nullable"];

/// Keywords of Rust 2024 that syn, and so `diesel print-schema`, still takes for identifiers:
/// renamed here all the same, since a schema.rs in a 2024 crate would not compile with them.
const EDITION_KEYWORDS: [&str; 1] = ["gen"];

fn is_identifier(name: &str) -> bool {
    syn::parse_str::<syn::Ident>(name).is_ok() && !EDITION_KEYWORDS.contains(&name)
}

/// Whether `diesel print-schema` renames `name` (`inference::is_reserved_name`): not an
/// identifier, a name of `table!`, or a leading `__` it keeps for its own.
fn is_reserved(name: &str) -> bool {
    !is_identifier(name)
        || TABLE_MACRO_NAMES.contains(&name)
        || (name.starts_with("__") && !name.ends_with('_'))
}

/// The Rust name of the table `name`.
pub(crate) fn table_rust_name(name: &str) -> String {
    if is_reserved(name) {
        format!("{name}_")
    } else {
        name.to_owned()
    }
}

/// The Rust name of the column `name` of the table whose Rust name is `table` (a column named
/// like its table is renamed too).
pub(crate) fn column_rust_name(name: &str, table: &str) -> String {
    if is_reserved(name) || name == table {
        format!("{name}_")
    } else {
        name.to_owned()
    }
}

/// `name` as an identifier naming the SQL table in `foreign_key(… -> name)`: raw (`r#type`)
/// for a keyword; `None` for `self`, `super`, `crate` and `_`, which cannot be raw.
pub(crate) fn table_identifier(name: &str) -> Option<String> {
    if is_identifier(name) {
        return Some(name.to_owned());
    }
    let raw = format!("r#{name}");
    syn::parse_str::<syn::Ident>(&raw).is_ok().then_some(raw)
}

/// Whether `name` (a Rust type name, CamelCase) can stand in `use super::sql_types::…;`.
pub(crate) fn is_type_name(name: &str) -> bool {
    syn::parse_str::<syn::Ident>(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_as_diesel_print_schema_does() {
        assert_eq!(table_rust_name("deployments"), "deployments");
        for keyword in [
            "type", "self", "super", "_", "fn", "match", "gen", "columns", "__x",
        ] {
            assert_eq!(table_rust_name(keyword), format!("{keyword}_"));
            assert_eq!(column_rust_name(keyword, "t"), format!("{keyword}_"));
        }
        assert_eq!(column_rust_name("__x_", "t"), "__x_");
        assert_eq!(column_rust_name("name", "name"), "name_");
        assert_eq!(column_rust_name("name", "names"), "name");
    }

    #[test]
    fn table_identifiers_are_raw_when_they_must_be() {
        assert_eq!(
            table_identifier("workspaces").as_deref(),
            Some("workspaces")
        );
        assert_eq!(table_identifier("type").as_deref(), Some("r#type"));
        assert_eq!(table_identifier("gen").as_deref(), Some("r#gen"));
        for unnameable in ["self", "super", "crate", "_"] {
            assert_eq!(table_identifier(unnameable), None, "{unnameable}");
        }
    }

    #[test]
    fn type_names() {
        assert!(is_type_name("DeploymentStatus"));
        assert!(!is_type_name(""));
        assert!(!is_type_name("1x"));
        assert!(!is_type_name("Self"));
    }
}
