//! The `table!` invocations of a `schema.rs` and their attributes, found in its tokens.
//!
//! Only these are parsed with syn (see [`super::nesting`]); the rest of the file is walked
//! token by token, with a stack of its inline modules instead of recursion, so that nothing
//! in it, however deep, can exhaust the stack. The items looked at are those syn would see:
//! the invocations at module level, in the file and in its inline modules (`mod m { … }`).

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// An outer attribute (`#[path…]`): the last segment of its path and what follows the path.
pub(super) struct Attr {
    pub(super) name: String,
    pub(super) rest: Vec<TokenTree>,
}

/// A `…table! { … }` invocation with the outer attributes in front of it.
pub(super) struct TableMacro {
    pub(super) attrs: Vec<Attr>,
    pub(super) body: TokenStream,
}

impl TableMacro {
    /// The table's name as written (`tasks`, `public.tasks`), for messages; `?` when there is
    /// none.
    pub(super) fn name(&self) -> String {
        let tokens: Vec<TokenTree> = self.body.clone().into_iter().collect();
        let mut at = 0;
        loop {
            match tokens.get(at) {
                Some(TokenTree::Ident(keyword)) if keyword == "use" => {
                    at += tokens[at..]
                        .iter()
                        .position(|t| is_punct(Some(t), ';'))
                        .map_or(tokens.len(), |i| i + 1);
                }
                Some(TokenTree::Punct(hash)) if hash.as_char() == '#' => at += 2,
                Some(TokenTree::Ident(name)) => {
                    return match (tokens.get(at + 1), tokens.get(at + 2)) {
                        (Some(TokenTree::Punct(dot)), Some(TokenTree::Ident(table)))
                            if dot.as_char() == '.' =>
                        {
                            format!("{name}.{table}")
                        }
                        _ => name.to_string(),
                    };
                }
                _ => return "?".to_owned(),
            }
        }
    }
}

/// The tokens of one module, and how far they are read.
struct Module {
    tokens: Vec<TokenTree>,
    at: usize,
}

/// Every `table!` invocation that has outer attributes, at module level in `file` or in its
/// inline modules, in file order.
pub(super) fn table_macros(file: TokenStream) -> Vec<TableMacro> {
    let mut found = Vec::new();
    let mut stack = vec![Module {
        tokens: file.into_iter().collect(),
        at: 0,
    }];
    let mut attrs = Vec::new();
    while let Some(module) = stack.last_mut() {
        let rest = &module.tokens[module.at..];
        if rest.is_empty() {
            stack.pop();
            attrs.clear();
        } else if let Some((attr, used)) = outer_attribute(rest) {
            attrs.push(attr);
            module.at += used;
        } else if let Some((body, used)) = inline_module(rest) {
            module.at += used;
            attrs.clear();
            stack.push(Module {
                tokens: body.into_iter().collect(),
                at: 0,
            });
        } else if let Some((name, body, used)) = macro_call(rest).filter(|_| !attrs.is_empty()) {
            module.at += used;
            let attrs = std::mem::take(&mut attrs);
            if name == "table" {
                found.push(TableMacro { attrs, body });
            }
        } else {
            module.at += 1;
            attrs.clear();
        }
    }
    found
}

fn is_punct(token: Option<&TokenTree>, ch: char) -> bool {
    matches!(token, Some(TokenTree::Punct(p)) if p.as_char() == ch)
}

/// The path at the start of `tokens` (`a::b::c`, `::a::b`): its last segment and the number
/// of tokens it takes.
fn path(tokens: &[TokenTree]) -> Option<(String, usize)> {
    let leading = |at: usize| {
        matches!(tokens.get(at), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
            && is_punct(tokens.get(at + 1), ':')
    };
    let mut at = if leading(0) { 2 } else { 0 };
    let mut last = None;
    while let Some(TokenTree::Ident(ident)) = tokens.get(at) {
        last = Some(ident.to_string());
        at += 1;
        if leading(at) {
            at += 2;
        } else {
            break;
        }
    }
    last.map(|name| (name, at))
}

/// `#[…]` at the start of `tokens`, and the number of tokens it takes.
fn outer_attribute(tokens: &[TokenTree]) -> Option<(Attr, usize)> {
    let [TokenTree::Punct(hash), TokenTree::Group(group), ..] = tokens else {
        return None;
    };
    if hash.as_char() != '#' || group.delimiter() != Delimiter::Bracket {
        return None;
    }
    let inner: Vec<TokenTree> = group.stream().into_iter().collect();
    let attr = match path(&inner) {
        Some((name, used)) => Attr {
            name,
            rest: inner[used..].to_vec(),
        },
        None => Attr {
            name: String::new(),
            rest: inner,
        },
    };
    Some((attr, 2))
}

/// `mod name { … }` at the start of `tokens`: its contents and the number of tokens it takes.
fn inline_module(tokens: &[TokenTree]) -> Option<(TokenStream, usize)> {
    match tokens {
        [
            TokenTree::Ident(keyword),
            TokenTree::Ident(_),
            TokenTree::Group(body),
            ..,
        ] if keyword == "mod" && body.delimiter() == Delimiter::Brace => Some((body.stream(), 3)),
        _ => None,
    }
}

/// `path! (…)` at the start of `tokens` (any delimiter, with the `;` after it): the path's
/// last segment, the contents and the number of tokens it takes.
fn macro_call(tokens: &[TokenTree]) -> Option<(String, TokenStream, usize)> {
    let (name, at) = path(tokens)?;
    if !is_punct(tokens.get(at), '!') {
        return None;
    }
    let Some(TokenTree::Group(body)) = tokens.get(at + 1) else {
        return None;
    };
    let mut used = at + 2;
    if is_punct(tokens.get(used), ';') {
        used += 1;
    }
    Some((name, body.stream(), used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(text: &str) -> Vec<(Vec<String>, String)> {
        table_macros(text.parse().expect("tokens"))
            .into_iter()
            .map(|t| {
                (
                    t.attrs.into_iter().map(|a| a.name).collect(),
                    t.body.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_attributed_table_invocations_at_module_level() {
        let found = tables(
            r"
            //! The schema.
            #![allow(unused)]
            /// Plans.
            #[tenancy_schema::global_table]
            ::diesel::table! { plans (id) { id -> Uuid, } }
            diesel::table! { plain (id) { id -> Uuid, } }
            pub mod nested {
                #[tenant_scoped(unique(name))]
                table!(tasks (id) { id -> Uuid, });
                fn f() { #[tenant_scoped] diesel::table! { not_an_item (id) {} } }
            }
            const X: u8 = 1;
            #[tenant_scoped] diesel::joinable!(a -> b (c));
            macro_rules! table { () => {} }
            #[tenant_scoped]
            diesel::table! { last (id) { id -> Uuid, } }
            ",
        );
        let names: Vec<(Vec<&str>, &str)> = found
            .iter()
            .map(|(a, b)| {
                (
                    a.iter().map(String::as_str).collect(),
                    b.split(' ').next().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                (vec!["doc", "global_table"], "plans"),
                (vec!["tenant_scoped"], "tasks"),
                (vec!["tenant_scoped"], "last"),
            ]
        );
    }

    #[test]
    fn modules_nested_thousands_deep_take_no_stack() {
        let depth = 20_000;
        let text = format!(
            "{}#[tenant_scoped] diesel::table! {{ deep (id) {{ id -> Uuid, }} }}{}",
            "mod m { ".repeat(depth),
            "}".repeat(depth)
        );
        assert_eq!(tables(&text).len(), 1);
    }
}
