//! The items the attributes accept: a Diesel `table!` invocation or a model struct.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    Attribute, Ident, ItemMacro, ItemStruct, ItemUse, LitStr, Token, Type, braced, parenthesized,
};

/// What an attribute was put on.
pub enum Item {
    Table(Box<TableItem>),
    Struct(Box<ItemStruct>),
}

/// `#[attrs] path! { uses; #[attrs] [schema.]name (pk) { columns } }`.
pub struct TableItem {
    pub outer: ItemMacro,
    pub decl: TableDecl,
}

pub struct TableDecl {
    pub uses: Vec<ItemUse>,
    pub attrs: Vec<Attribute>,
    pub schema: Option<Ident>,
    pub name: Ident,
    /// `None` when the declaration leaves the key implicit (`id`).
    pub primary_key: Option<Vec<Ident>>,
    pub columns: Vec<Column>,
}

pub struct Column {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    pub ty: Type,
}

impl Column {
    /// The SQL name: `#[sql_name = "..."]` or the Rust name.
    pub fn sql_name(&self) -> String {
        sql_name_attr(&self.attrs).unwrap_or_else(|| unraw(&self.name))
    }
}

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
    pub fn sql_name(&self) -> String {
        sql_name_attr(&self.attrs).unwrap_or_else(|| unraw(&self.name))
    }

    pub fn column(&self, name: &Ident) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == *name)
    }

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

/// Parses what the attribute was put on.
pub fn parse_item(tokens: TokenStream) -> syn::Result<Item> {
    let item: syn::Item = syn::parse2(tokens)?;
    match item {
        syn::Item::Macro(outer)
            if outer
                .mac
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "table") =>
        {
            let decl = outer.mac.parse_body::<TableDecl>()?;
            Ok(Item::Table(Box::new(TableItem { outer, decl })))
        }
        syn::Item::Struct(s) => Ok(Item::Struct(Box::new(s))),
        other => Err(syn::Error::new_spanned(
            other,
            "expected a `diesel::table!` declaration or a model struct (`#[derive(Queryable)]`, `#[derive(Insertable)]`, ...)",
        )),
    }
}

/// A string literal for the table's SQL name, spanned at the table name.
pub fn lit(value: &str, span: proc_macro2::Span) -> LitStr {
    LitStr::new(value, span)
}
