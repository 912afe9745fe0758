//! Code generation. Generated code names everything through `::tenancy_schema::__private_v0_1`
//! and carries the user's spans, so errors point at the user's tokens.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Fields, Ident, ItemStruct};

use crate::args::{self, ScopedArgs, push};
use crate::ast::{self, Item, TableItem, lit, unraw};
use crate::validate;
use tenancy_macros_parse::manifest::manifest_data;

/// On failure the user's item is still emitted, unchanged, next to the error, so the rest
/// of the crate (and the IDE) keeps seeing the table or struct.
fn with_item(item: &TokenStream, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    let item = split_tables(item).unwrap_or_else(|| item.clone());
    quote!(#item #error)
}

/// Diesel's `table!` takes one table per invocation; a block holding several would add
/// Diesel's own confusing parse error next to ours. Re-emit it as one `table!` per table
/// (each with the block's `use` lines) so that the only error is tenancy's and the tables
/// stay visible to the rest of the crate.
fn split_tables(item: &TokenStream) -> Option<TokenStream> {
    use proc_macro2::{Delimiter, TokenTree};
    let mac: syn::ItemMacro = syn::parse2(item.clone()).ok()?;
    if mac.mac.path.segments.last()?.ident != "table" {
        return None;
    }
    let mut uses = TokenStream::new();
    let mut tables: Vec<TokenStream> = Vec::new();
    let mut current = TokenStream::new();
    let mut in_use = false;
    for tt in mac.mac.tokens.clone() {
        let ends_table = matches!(&tt, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace);
        let opens_use = matches!(&tt, TokenTree::Ident(i) if i == "use") && current.is_empty();
        if opens_use || in_use {
            in_use = !matches!(&tt, TokenTree::Punct(p) if p.as_char() == ';');
            uses.extend(std::iter::once(tt));
            continue;
        }
        current.extend(std::iter::once(tt));
        if ends_table {
            tables.push(std::mem::take(&mut current));
        }
    }
    if tables.len() < 2 || !current.is_empty() {
        return None;
    }
    let attrs = &mac.attrs;
    let path = &mac.mac.path;
    Some(
        tables
            .iter()
            .map(|t| quote!(#(#attrs)* #path! { #uses #t }))
            .collect(),
    )
}

#[allow(clippy::needless_pass_by_value)] // reason: mirrors the proc-macro entry point, which owns its input
pub fn tenant_scoped(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed_args = args::parse_scoped(args);
    let parsed_item = ast::parse_item(item.clone());
    let result = match (parsed_args, parsed_item) {
        (Ok(args), Ok(Item::Table(table))) => scoped_table(&args, &table),
        (Ok(args), Ok(Item::Struct(model))) => scoped_model(&args, *model),
        (Err(mut e), Err(e2)) => {
            e.combine(e2);
            Err(e)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    result.unwrap_or_else(|e| with_item(&item, &e))
}

#[allow(clippy::needless_pass_by_value)] // reason: mirrors the proc-macro entry point, which owns its input
pub fn global_table(args: TokenStream, item: TokenStream) -> TokenStream {
    global_table_result(args, &item).unwrap_or_else(|e| with_item(&item, &e))
}

fn global_table_result(args: TokenStream, item: &TokenStream) -> syn::Result<TokenStream> {
    {
        let mut errors = None;
        if let Some(first) = args.into_iter().next() {
            push(
                &mut errors,
                syn::Error::new(
                    first.span(),
                    "`#[global_table]` takes no options: global tables have no tenant keys to declare",
                ),
            );
        }
        let table = match ast::parse_item(item.clone()) {
            Ok(Item::Table(table)) => Some(table),
            Ok(Item::Struct(s)) => {
                push(
                    &mut errors,
                    syn::Error::new_spanned(
                        &s.ident,
                        "`#[global_table]` goes on a `diesel::table!` declaration; models of global tables need no attribute",
                    ),
                );
                None
            }
            Err(e) => {
                push(&mut errors, e);
                None
            }
        };
        if let Some(Err(e)) = table.as_ref().map(|t| validate::global_table(&t.decl)) {
            push(&mut errors, e);
        }
        match (errors, table) {
            (Some(e), _) => Err(e),
            (None, Some(table)) => Ok(global_table_tokens(&table)),
            (None, None) => Err(syn::Error::new(
                Span::call_site(),
                "expected a `diesel::table!` declaration",
            )),
        }
    }
}

fn str_list(items: &[String]) -> TokenStream {
    quote!(&[#(#items),*])
}

fn manifest(
    table: &TableItem,
    kind: &TokenStream,
    tenant: Option<&str>,
    primary_key: &[String],
    args: &ScopedArgs,
) -> TokenStream {
    let data = manifest_data(&table.decl, tenant, primary_key, args);
    let name = lit(&data.table, table.decl.name.span());
    let indexes = data.indexes.iter().map(|k| str_list(k));
    let uniques = data.uniques.iter().map(|k| str_list(k));
    let foreign_keys = data.foreign_keys.iter().map(|(columns, target)| {
        let columns = str_list(columns);
        quote!(::tenancy_schema::__private_v0_1::ForeignKey { columns: #columns, references: #target })
    });
    let tenant_tokens = data.tenant_column.as_deref().map_or_else(
        || quote!(::core::option::Option::None),
        |t| quote!(::core::option::Option::Some(#t)),
    );
    let primary_key = str_list(&data.primary_key);
    let columns = str_list(&data.columns);
    let column_types = str_list(&data.column_types);
    quote! {
        &::tenancy_schema::__private_v0_1::TableManifest {
            table: #name,
            kind: ::tenancy_schema::__private_v0_1::TableKind::#kind,
            tenant_column: #tenant_tokens,
            primary_key: #primary_key,
            indexes: &[#(#indexes),*],
            uniques: &[#(#uniques),*],
            foreign_keys: &[#(#foreign_keys),*],
            columns: #columns,
            column_types: #column_types,
        }
    }
}

fn scoped_table(args: &ScopedArgs, table: &TableItem) -> syn::Result<TokenStream> {
    let plan = validate::scoped_table(&table.decl, args)?;
    let mut decl = ast::TableDecl {
        uses: table.decl.uses.clone(),
        attrs: table.decl.attrs.clone(),
        schema: table.decl.schema.clone(),
        name: table.decl.name.clone(),
        primary_key: Some(plan.primary_key.clone()),
        columns: Vec::new(),
    };
    let tenant = &plan.tenant_column;
    if plan.add_tenant_column {
        decl.columns.push(ast::Column {
            attrs: Vec::new(),
            name: tenant.clone(),
            ty: syn::parse_quote_spanned!(tenant.span()=> ::tenancy_schema::__private_v0_1::diesel::sql_types::Uuid),
        });
    }
    decl.columns
        .extend(table.decl.columns.iter().map(|c| ast::Column {
            attrs: c.attrs.clone(),
            name: c.name.clone(),
            ty: c.ty.clone(),
        }));

    let outer = &table.outer;
    let attrs = &outer.attrs;
    let path = &outer.mac.path;
    let bang = &outer.mac.bang_token;
    let name = &decl.name;
    let span = name.span();
    let tenant_sql = decl
        .column(tenant)
        .map_or_else(|| unraw(tenant), ast::Column::sql_name);
    let pk_sql: Vec<String> = plan
        .primary_key
        .iter()
        .map(|k| {
            decl.column(k)
                .map_or_else(|| unraw(k), ast::Column::sql_name)
        })
        .collect();
    let manifest = manifest(
        table,
        &quote!(TenantScoped),
        Some(&tenant_sql),
        &pk_sql,
        args,
    );
    let sql_name = lit(&decl.sql_name(), span);
    let not_tenant = decl.columns.iter().filter(|c| c.name != *tenant).map(|c| {
        let column = &c.name;
        quote_spanned!(column.span()=> impl ::tenancy_schema::__private_v0_1::NotTenantColumn for #name::#column {})
    });
    let non_tenant_pk: Vec<&Ident> = plan.primary_key.iter().filter(|k| *k != tenant).collect();
    let find = match non_tenant_pk.as_slice() {
        [key] => quote_spanned! {span=>
            impl ::tenancy_schema::__private_v0_1::TenantFind for #name::table {
                type KeyColumn = #name::#key;
            }
        },
        _ => TokenStream::new(),
    };
    Ok(quote_spanned! {span=>
        #(#attrs)*
        #path #bang { #decl }

        const _: () = {
            impl ::tenancy_schema::__private_v0_1::ScopedTable for #name::table {
                type TenantColumn = #name::#tenant;
                const MANIFEST: &'static ::tenancy_schema::__private_v0_1::TableManifest = #manifest;
                const SCOPE: ::tenancy_schema::__private_v0_1::ScopeEntry = ::tenancy_schema::__private_v0_1::ScopeEntry {
                    table: #sql_name,
                    tenant_column: #tenant_sql,
                };
            }

            impl ::tenancy_schema::__private_v0_1::TenantSource for #name::table {
                const SINGLE_TABLE: bool = true;
                fn scoped_tables(
                    __tenancy_out: &mut ::std::vec::Vec<::tenancy_schema::__private_v0_1::ScopeEntry>,
                ) {
                    __tenancy_out.push(<Self as ::tenancy_schema::__private_v0_1::ScopedTable>::SCOPE);
                }
            }

            #(#not_tenant)*
            #find

            ::tenancy_schema::__private_v0_1::inventory::submit! {
                ::tenancy_schema::__private_v0_1::Registration(
                    <#name::table as ::tenancy_schema::__private_v0_1::ScopedTable>::MANIFEST
                )
            }
        };
    })
}

fn global_table_tokens(table: &TableItem) -> TokenStream {
    let outer = &table.outer;
    let decl = &table.decl;
    let name = &decl.name;
    let span = name.span();
    let pk: Vec<String> = decl
        .primary_key_idents()
        .iter()
        .map(|k| {
            decl.column(k)
                .map_or_else(|| unraw(k), ast::Column::sql_name)
        })
        .collect();
    let manifest = manifest(table, &quote!(Global), None, &pk, &ScopedArgs::default());
    quote_spanned! {span=>
        #outer

        const _: () = {
            impl ::tenancy_schema::__private_v0_1::GlobalTable for #name::table {
                const MANIFEST: &'static ::tenancy_schema::__private_v0_1::TableManifest = #manifest;
            }

            impl ::tenancy_schema::__private_v0_1::TenantSource for #name::table {
                const SINGLE_TABLE: bool = true;
                fn scoped_tables(
                    _: &mut ::std::vec::Vec<::tenancy_schema::__private_v0_1::ScopeEntry>,
                ) {}
            }

            impl ::tenancy_schema::__private_v0_1::GlobalSource for #name::table {}

            ::tenancy_schema::__private_v0_1::inventory::submit! {
                ::tenancy_schema::__private_v0_1::Registration(
                    <#name::table as ::tenancy_schema::__private_v0_1::GlobalTable>::MANIFEST
                )
            }
        };
    }
}

const READ_DERIVES: &[&str] = &["Queryable", "Selectable", "QueryableByName"];
const WRITE_DERIVES: &[&str] = &["Insertable", "AsChangeset"];

fn derives(model: &ItemStruct) -> Vec<Ident> {
    let mut found = Vec::new();
    for attr in model.attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let _ = attr.parse_nested_meta(|meta| {
            if let Some(last) = meta.path.segments.last() {
                found.push(last.ident.clone());
            }
            Ok(())
        });
    }
    found
}

fn is_tenant_field(field: &syn::Field) -> bool {
    if field.ident.as_ref().is_some_and(|i| i == "tenant_id") {
        return true;
    }
    // `#[diesel(column_name = tenant_id)]` renames a field onto the tenant column.
    field
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("diesel"))
        .any(|a| {
            let mut hit = false;
            let _ = a.parse_nested_meta(|meta| {
                if meta.path.is_ident("column_name") {
                    let value: Ident = meta.value()?.parse()?;
                    hit |= value == "tenant_id";
                } else if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                }
                Ok(())
            });
            hit
        })
}

#[allow(clippy::needless_pass_by_value)] // reason: the struct is rebuilt with an added field and returned
fn scoped_model(args: &ScopedArgs, mut model: ItemStruct) -> syn::Result<TokenStream> {
    let mut errors = None;
    for keyword in &args.spans {
        push(
            &mut errors,
            syn::Error::new_spanned(
                keyword,
                "options such as `index(..)` belong on the `diesel::table!` declaration; on a model struct `#[tenant_scoped]` takes none",
            ),
        );
    }
    let derives = derives(&model);
    let reads: Vec<&Ident> = derives
        .iter()
        .filter(|d| READ_DERIVES.iter().any(|r| *d == r))
        .collect();
    let writes: Vec<&Ident> = derives
        .iter()
        .filter(|d| WRITE_DERIVES.iter().any(|w| *d == w))
        .collect();
    if reads.is_empty() && writes.is_empty() {
        push(
            &mut errors,
            syn::Error::new_spanned(
                &model.ident,
                "`#[tenant_scoped]` on a struct needs a Diesel derive below it: `Queryable`/`Selectable` (read model) or `Insertable`/`AsChangeset` (write model); put the attribute above `#[derive(..)]`",
            ),
        );
    }
    if let (Some(read), Some(write)) = (reads.first(), writes.first()) {
        push(
            &mut errors,
            syn::Error::new_spanned(
                write,
                format!(
                    "split `{}` into a read model and a write model: read models (`{read}`) carry `tenant_id`, write models (`{write}`) never do",
                    model.ident
                ),
            ),
        );
    }
    let Fields::Named(fields) = &mut model.fields else {
        push(
            &mut errors,
            syn::Error::new_spanned(&model.ident, "`#[tenant_scoped]` models need named fields"),
        );
        return Err(errors.unwrap_or_else(|| syn::Error::new(model.span(), "unreachable")));
    };
    if !writes.is_empty() {
        for field in fields.named.iter().filter(|f| is_tenant_field(f)) {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    field,
                    "insert and update models must not carry `tenant_id`: the tenant transaction supplies it; remove this field",
                ),
            );
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    if !reads.is_empty() && !fields.named.iter().any(is_tenant_field) {
        let span = model.ident.span();
        let field: syn::Field = syn::parse_quote_spanned! {span=>
            /// The tenant this row belongs to (added by `#[tenant_scoped]`).
            pub tenant_id: ::tenancy_schema::TenantId
        };
        fields.named.insert(0, field);
    }
    Ok(quote!(#model))
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn pretty(tokens: &proc_macro2::TokenStream) -> String {
        match syn::parse2::<syn::File>(tokens.clone()) {
            Ok(file) => prettyplease::unparse(&file),
            Err(_) => tokens.to_string(),
        }
    }

    #[test]
    fn hand_written_table_gets_tenant_column_and_key() {
        let out = super::tenant_scoped(
            quote!(index(workspace_id, updated_at), unique(slug), foreign_key(workspace_id -> workspaces)),
            quote! {
                diesel::table! {
                    resources (id) {
                        id -> Uuid,
                        workspace_id -> Uuid,
                        slug -> Text,
                        updated_at -> Timestamptz,
                    }
                }
            },
        );
        insta::assert_snapshot!(pretty(&out));
    }

    #[test]
    fn print_schema_table_keeps_its_tenant_column() {
        let out = super::tenant_scoped(
            quote!(),
            quote! {
                diesel::table! {
                    use diesel::sql_types::*;

                    /// Comments.
                    comments (tenant_id, id) {
                        tenant_id -> Uuid,
                        id -> Int4,
                        #[max_length = 200]
                        body -> Varchar,
                    }
                }
            },
        );
        insta::assert_snapshot!(pretty(&out));
    }

    #[test]
    fn global_table() {
        let out = super::global_table(
            quote!(),
            quote! {
                diesel::table! {
                    tenants (id) {
                        id -> Uuid,
                        slug -> Text,
                    }
                }
            },
        );
        insta::assert_snapshot!(pretty(&out));
    }

    #[test]
    fn read_model_gets_tenant_field() {
        let out = super::tenant_scoped(
            quote!(),
            quote! {
                #[derive(Queryable, Selectable)]
                #[diesel(table_name = posts)]
                pub struct Post {
                    pub id: i32,
                    pub title: String,
                }
            },
        );
        insta::assert_snapshot!(pretty(&out));
    }

    #[test]
    fn bad_input_lists_every_error_and_keeps_the_item() {
        let out = super::tenant_scoped(
            quote!(indx(a), index(nope), index(title), index(title)),
            quote! {
                diesel::table! {
                    posts (id) {
                        id -> Int4,
                        title -> Text,
                    }
                }
            },
        );
        let text = out.to_string();
        assert!(text.contains("unknown option `indx`"), "{text}");
        assert!(
            text.contains("diesel :: table !"),
            "the table is still emitted: {text}"
        );
        let out = super::tenant_scoped(
            quote!(index(nope), index(title), index(title)),
            quote! {
                diesel::table! {
                    posts (id) {
                        id -> Int4,
                        title -> Text,
                    }
                }
            },
        );
        let text = out.to_string();
        assert!(text.contains("`nope` is not a column of `posts`"), "{text}");
        assert!(text.contains("duplicate `index(title)`"), "{text}");
    }
}
