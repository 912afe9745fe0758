//! The arguments of `#[tenant_scoped(...)]`, parsed. A plain library rather than part of the
//! proc-macro crate, which cannot export it: the macro and its fuzz target both use it.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, Token, parenthesized};

/// The options listed in every "unknown option" error.
pub const VALID_OPTIONS: &str = "valid options: `index(col, ...)`, `unique(col, ...)`, `foreign_key(col -> table)`, `tenant_column = name`";

/// One `index(...)` or `unique(...)`: columns after the (implicit) tenant column.
pub struct KeyArg {
    /// `index` or `unique`, for error spans.
    pub keyword: Ident,
    /// The columns, in order.
    pub columns: Vec<Ident>,
}

/// `foreign_key(workspace_id -> workspaces)`.
pub struct ForeignKeyArg {
    /// The referencing column.
    pub column: Ident,
    /// The referenced table.
    pub target: Ident,
}

/// Everything `#[tenant_scoped(...)]` accepts.
#[derive(Default)]
pub struct ScopedArgs {
    /// `index(..)` options.
    pub indexes: Vec<KeyArg>,
    /// `unique(..)` options.
    pub uniques: Vec<KeyArg>,
    /// `foreign_key(..)` options.
    pub foreign_keys: Vec<ForeignKeyArg>,
    /// `tenant_column = name`, when given.
    pub tenant_column: Option<Ident>,
    /// Every option keyword, for "options are not allowed here" errors.
    pub spans: Vec<Ident>,
}

enum Arg {
    Index(KeyArg),
    Unique(KeyArg),
    ForeignKey(Ident, ForeignKeyArg),
    TenantColumn(Ident, Ident),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let keyword: Ident = input.parse()?;
        match keyword.to_string().as_str() {
            "index" | "unique" => {
                let content;
                parenthesized!(content in input);
                let columns: Punctuated<Ident, Token![,]> =
                    content.parse_terminated(Ident::parse, Token![,])?;
                if columns.is_empty() {
                    return Err(syn::Error::new_spanned(
                        &keyword,
                        format!(
                            "`{keyword}(..)` needs at least one column, e.g. `{keyword}(slug)`"
                        ),
                    ));
                }
                let key = KeyArg {
                    keyword: keyword.clone(),
                    columns: columns.into_iter().collect(),
                };
                Ok(if keyword == "index" {
                    Arg::Index(key)
                } else {
                    Arg::Unique(key)
                })
            }
            "foreign_key" => {
                let content;
                parenthesized!(content in input);
                let column: Ident = content.parse()?;
                content.parse::<Token![->]>().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected `->`: write `foreign_key(column -> table)`",
                    )
                })?;
                let target: Ident = content.parse()?;
                if !content.is_empty() {
                    return Err(content.error("expected `)`: write `foreign_key(column -> table)`"));
                }
                Ok(Arg::ForeignKey(keyword, ForeignKeyArg { column, target }))
            }
            "tenant_column" => {
                input.parse::<Token![=]>()?;
                let name: Ident = input.parse()?;
                Ok(Arg::TenantColumn(keyword, name))
            }
            other => Err(syn::Error::new_spanned(
                &keyword,
                format!("unknown option `{other}`; {VALID_OPTIONS}"),
            )),
        }
    }
}

/// Parses the arguments; every bad option is reported, not just the first.
///
/// # Errors
/// One `syn::Error` combining a spanned error for each bad option.
pub fn parse_scoped(tokens: TokenStream) -> Result<ScopedArgs, syn::Error> {
    let parser = Punctuated::<TokenStreamArg, Token![,]>::parse_terminated;
    let raw = syn::parse::Parser::parse2(parser, tokens)?;
    let mut args = ScopedArgs::default();
    let mut errors: Option<syn::Error> = None;
    for TokenStreamArg(result) in raw {
        match result {
            Ok(Arg::Index(key)) => {
                args.spans.push(key.keyword.clone());
                args.indexes.push(key);
            }
            Ok(Arg::Unique(key)) => {
                args.spans.push(key.keyword.clone());
                args.uniques.push(key);
            }
            Ok(Arg::ForeignKey(keyword, fk)) => {
                args.spans.push(keyword);
                args.foreign_keys.push(fk);
            }
            Ok(Arg::TenantColumn(keyword, name)) => {
                if args.tenant_column.is_some() {
                    push(
                        &mut errors,
                        syn::Error::new_spanned(&keyword, "`tenant_column` is given twice"),
                    );
                }
                args.spans.push(keyword);
                args.tenant_column = Some(name);
            }
            Err(e) => push(&mut errors, e),
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(args),
    }
}

/// One comma-separated argument, parsed on its own so one bad option does not hide others.
struct TokenStreamArg(syn::Result<Arg>);

impl Parse for TokenStreamArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut tokens = TokenStream::new();
        while !input.is_empty() && !input.peek(Token![,]) {
            let tt: proc_macro2::TokenTree = input.parse()?;
            tokens.extend(std::iter::once(tt));
        }
        Ok(Self(syn::parse2::<Arg>(tokens)))
    }
}

/// Adds `error` to `errors`, so that one compile error lists every problem found.
pub fn push(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(all) => all.combine(error),
        None => *errors = Some(error),
    }
}

pub mod checks;
pub mod manifest;
pub mod table;
