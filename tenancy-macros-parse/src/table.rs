//! A Diesel `table!` declaration, parsed: what `#[tenant_scoped]` and `#[global_table]` read,
//! and what `tenancy check` reads from an application's `schema.rs`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, ItemUse, Token, Type, braced, parenthesized};

/// `uses; #[attrs] [schema.]name (pk) { columns }`: the body of a `table!` invocation.
pub struct TableDecl {
    /// `use` items before the table (print-schema's `use diesel::sql_types::*;`).
    pub uses: Vec<ItemUse>,
    /// The table's own attributes (`#[sql_name = ".."]`).
    pub attrs: Vec<Attribute>,
    /// `schema.` before the name, when given.
    pub schema: Option<Ident>,
    /// The Rust name of the table.
    pub name: Ident,
    /// `None` when the declaration leaves the key implicit (`id`).
    pub primary_key: Option<Vec<Ident>>,
    /// The columns, in order.
    pub columns: Vec<Column>,
}

/// One `name -> Type` of a `table!`.
pub struct Column {
    /// Its attributes (`#[sql_name = ".."]`).
    pub attrs: Vec<Attribute>,
    /// The Rust name.
    pub name: Ident,
    /// The Diesel SQL type.
    pub ty: Type,
}

impl Column {
    /// The SQL name: `#[sql_name = "..."]` or the Rust name.
    #[must_use]
    pub fn sql_name(&self) -> String {
        sql_name_attr(&self.attrs).unwrap_or_else(|| unraw(&self.name))
    }
}

/// The identifier without its `r#`.
#[must_use]
pub fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#")
        .map_or_else(|| s.clone(), str::to_owned)
}

fn sql_name_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| {
        if !a.path().is_ident("sql_name") {
            return None;
        }
        let nv = a.meta.require_name_value().ok()?;
        match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        }
    })
}

impl TableDecl {
    /// The SQL name: `#[sql_name = "..."]` or the Rust name.
    #[must_use]
    pub fn sql_name(&self) -> String {
        sql_name_attr(&self.attrs).unwrap_or_else(|| unraw(&self.name))
    }

    /// The column named `name` (Rust name).
    #[must_use]
    pub fn column(&self, name: &Ident) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == *name)
    }

    /// The primary key's columns (`id` when the declaration leaves it implicit).
    #[must_use]
    pub fn primary_key_idents(&self) -> Vec<Ident> {
        self.primary_key
            .clone()
            .unwrap_or_else(|| vec![Ident::new("id", self.name.span())])
    }
}

impl Parse for TableDecl {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut uses = Vec::new();
        while input.peek(Token![use]) {
            uses.push(input.parse()?);
        }
        let attrs = input.call(Attribute::parse_outer)?;
        let first: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        let (schema, name) = if input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            (Some(first), input.call(syn::ext::IdentExt::parse_any)?)
        } else {
            (None, first)
        };
        let primary_key = if input.peek(syn::token::Paren) {
            let content;
            parenthesized!(content in input);
            let keys: Punctuated<Ident, Token![,]> =
                content.parse_terminated(Ident::parse, Token![,])?;
            Some(keys.into_iter().collect())
        } else {
            None
        };
        let body;
        braced!(body in input);
        let mut columns = Vec::new();
        while !body.is_empty() {
            let attrs = body.call(Attribute::parse_outer)?;
            let name: Ident = body.call(syn::ext::IdentExt::parse_any)?;
            body.parse::<Token![->]>()?;
            let ty: Type = body.parse()?;
            columns.push(Column { attrs, name, ty });
            if body.is_empty() {
                break;
            }
            body.parse::<Token![,]>()?;
        }
        if !input.is_empty() {
            return Err(input.error(
                "one table per `table!` invocation: put `#[tenant_scoped]` or `#[global_table]` on each table's own `diesel::table!` block (as `diesel print-schema` writes them)",
            ));
        }
        Ok(Self {
            uses,
            attrs,
            schema,
            name,
            primary_key,
            columns,
        })
    }
}

impl ToTokens for TableDecl {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let uses = &self.uses;
        let attrs = &self.attrs;
        let name = &self.name;
        let schema = self.schema.as_ref().map(|s| quote!(#s .));
        let pk = self.primary_key.as_ref().map(|keys| quote!((#(#keys),*)));
        let columns = self.columns.iter().map(|c| {
            let attrs = &c.attrs;
            let name = &c.name;
            let ty = &c.ty;
            quote!(#(#attrs)* #name -> #ty,)
        });
        tokens.extend(quote! {
            #(#uses)*
            #(#attrs)*
            #schema #name #pk {
                #(#columns)*
            }
        });
    }
}

/// A column's Diesel type as the registry records it: the last path segment of each type
/// (`Nullable<Text>`, not `diesel::sql_types::Nullable<diesel::sql_types::Text>`).
#[must_use]
pub fn type_name(ty: &syn::Type) -> String {
    let text: String = ty
        .to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut ident = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            ident.push(c);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            ident.clear();
        } else {
            out.push_str(&ident);
            ident.clear();
            out.push(c);
        }
    }
    out.push_str(&ident);
    out
}
