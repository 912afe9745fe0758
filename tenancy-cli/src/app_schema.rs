//! The tables an application classifies, read from its `schema.rs` (the file `diesel.toml`'s
//! `[print_schema] file` names), so that `tenancy check` run in the application's directory
//! knows them without the application writing any code: every `diesel::table!` carrying
//! `#[tenant_scoped(..)]` or `#[global_table]` becomes the same registry entry the attribute
//! generates when the application compiles.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use syn::{Attribute, Item, Meta};
use tenancy_macros_parse::manifest::manifest_data;
use tenancy_macros_parse::table::{Column, TableDecl, unraw};
use tenancy_macros_parse::{ScopedArgs, parse_scoped};
use tenancy_schema::{ForeignKey, TableKind, TableManifest};

/// Why the application's `schema.rs` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AppSchemaError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not Rust, or a classified `table!` in it does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What did not parse.
        message: String,
    },
}

/// The `schema.rs` that `diesel.toml` in `project` names, when there is one and it exists.
#[must_use]
pub fn schema_rs_of(project: &Path) -> Option<PathBuf> {
    configured_schema_rs(project).filter(|path| path.is_file())
}

/// The file `diesel.toml` in `project` names in `[print_schema] file`, whether or not it
/// exists yet.
#[must_use]
pub fn configured_schema_rs(project: &Path) -> Option<PathBuf> {
    let config = crate::diesel_toml::read(project).ok()??;
    let file = crate::diesel_toml::string_at(&config, "print_schema", "file")?;
    Some(project.join(file))
}

/// The tables `path` classifies, as registry entries. The entries live as long as the
/// process (the registry's entries are `'static`, and `tenancy check` runs once).
///
/// # Errors
/// [`AppSchemaError`] when the file cannot be read or a classified table does not parse.
pub fn classified_tables(path: &Path) -> Result<Vec<&'static TableManifest>, AppSchemaError> {
    let text = std::fs::read_to_string(path).map_err(|source| AppSchemaError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parse_error = |e: syn::Error| AppSchemaError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let file = syn::parse_file(&text).map_err(parse_error)?;
    let mut found = Vec::new();
    collect(&file.items, &mut found).map_err(parse_error)?;
    Ok(found)
}

fn collect(items: &[Item], out: &mut Vec<&'static TableManifest>) -> syn::Result<()> {
    for item in items {
        match item {
            Item::Macro(m)
                if m.mac
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "table") =>
            {
                if let Some(manifest) = classify(&m.attrs, &m.mac.tokens)? {
                    out.push(Box::leak(Box::new(manifest)));
                }
            }
            // `pub mod schema { ... }` and the like.
            Item::Mod(module) => {
                if let Some((_, items)) = &module.content {
                    collect(items, out)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The attribute that classifies a table: `tenant_scoped` (with its arguments) or
/// `global_table`, under any path (`tenancy_schema::tenant_scoped`, a `use`d name).
enum Class {
    Tenant(TokenStream),
    Global,
}

fn class_of(attrs: &[Attribute]) -> Option<Class> {
    attrs.iter().find_map(|a| {
        let last = a.path().segments.last()?.ident.to_string();
        match (last.as_str(), &a.meta) {
            ("tenant_scoped", Meta::List(arguments)) => {
                Some(Class::Tenant(arguments.tokens.clone()))
            }
            ("tenant_scoped", _) => Some(Class::Tenant(TokenStream::new())),
            ("global_table", _) => Some(Class::Global),
            _ => None,
        }
    })
}

fn classify(attrs: &[Attribute], body: &TokenStream) -> syn::Result<Option<TableManifest>> {
    let Some(class) = class_of(attrs) else {
        return Ok(None);
    };
    let decl: TableDecl = syn::parse2(body.clone())?;
    Ok(Some(match class {
        Class::Global => manifest(&decl, None, &ScopedArgs::default()),
        Class::Tenant(tokens) => {
            let args = parse_scoped(tokens)?;
            let tenant = args
                .tenant_column
                .as_ref()
                .map_or_else(|| "tenant_id".to_owned(), unraw);
            manifest(&decl, Some(&tenant), &args)
        }
    }))
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn leak_list(items: Vec<String>) -> &'static [&'static str] {
    Box::leak(
        items
            .into_iter()
            .map(leak)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// The registry entry the attribute generates for `decl` (`manifest_data`, which the macro
/// uses too), with the primary key as the attribute resolves it: led by the tenant column,
/// which is added when the declaration leaves it out.
fn manifest(decl: &TableDecl, tenant: Option<&str>, args: &ScopedArgs) -> TableManifest {
    let mut primary_key: Vec<String> = decl
        .primary_key_idents()
        .iter()
        .map(|k| decl.column(k).map_or_else(|| unraw(k), Column::sql_name))
        .collect();
    if let Some(t) = tenant.filter(|t| primary_key.first().map(String::as_str) != Some(*t)) {
        primary_key.insert(0, t.to_owned());
    }
    let data = manifest_data(decl, tenant, &primary_key, args);
    let leak_lists = |lists: Vec<Vec<String>>| -> &'static [&'static [&'static str]] {
        Box::leak(
            lists
                .into_iter()
                .map(leak_list)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )
    };
    let foreign_keys: Vec<ForeignKey> = data
        .foreign_keys
        .into_iter()
        .map(|(columns, target)| ForeignKey {
            columns: leak_list(columns),
            references: leak(target),
        })
        .collect();
    TableManifest {
        table: leak(data.table),
        kind: if tenant.is_some() {
            TableKind::TenantScoped
        } else {
            TableKind::Global
        },
        tenant_column: data.tenant_column.map(leak),
        primary_key: leak_list(data.primary_key),
        indexes: leak_lists(data.indexes),
        uniques: leak_lists(data.uniques),
        foreign_keys: Box::leak(foreign_keys.into_boxed_slice()),
        columns: leak_list(data.columns),
        column_types: leak_list(data.column_types),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_classified_tables_of_a_schema_rs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("schema.rs");
        std::fs::write(
            &path,
            r#"
// @generated automatically by Diesel CLI.
pub mod sql_types {
    #[derive(diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "task_state"))]
    pub struct TaskState;
}

#[tenancy_schema::tenant_scoped(unique(name), foreign_key(project_id -> projects))]
diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::TaskState;

    tasks (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        project_id -> Uuid,
        name -> Text,
        state -> TaskState,
        due -> Nullable<Timestamptz>,
    }
}

#[tenancy_schema::global_table]
diesel::table! {
    plans (id) {
        id -> Uuid,
        name -> Text,
    }
}

diesel::table! {
    unclassified (id) {
        id -> Int4,
    }
}
"#,
        )
        .expect("write");
        let tables = classified_tables(&path).expect("parse");
        assert_eq!(tables.len(), 2);
        let tasks = tables[0];
        assert_eq!(tasks.table, "tasks");
        assert_eq!(tasks.kind, TableKind::TenantScoped);
        assert_eq!(tasks.primary_key, ["tenant_id", "id"]);
        assert_eq!(tasks.uniques, [&["tenant_id", "name"][..]]);
        assert_eq!(tasks.foreign_keys[0].columns, ["tenant_id", "project_id"]);
        assert_eq!(tasks.foreign_keys[0].references, "projects");
        assert_eq!(
            tasks.column_types,
            [
                "Uuid",
                "Uuid",
                "Uuid",
                "Text",
                "TaskState",
                "Nullable<Timestamptz>"
            ]
        );
        assert_eq!(tables[1].table, "plans");
        assert_eq!(tables[1].kind, TableKind::Global);
        assert_eq!(tables[1].tenant_column, None);
    }

    #[test]
    fn a_broken_file_is_a_typed_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("schema.rs");
        std::fs::write(&path, "#[tenant_scoped] diesel::table! { posts ( {").expect("write");
        assert!(matches!(
            classified_tables(&path),
            Err(AppSchemaError::Parse { .. })
        ));
        assert!(matches!(
            classified_tables(&dir.path().join("missing.rs")),
            Err(AppSchemaError::Read { .. })
        ));
    }
}
