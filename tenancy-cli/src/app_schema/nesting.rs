//! A bound on how deep syn recurses to parse a token stream, measured before it does.
//!
//! syn parses recursively, so `Nullable<Nullable<…>>`, `&&&…T` or `((…))` a few hundred
//! levels deep exhausts the stack, which aborts the process instead of returning an error.
//! The tokens themselves come from proc-macro2's tokenizer, which is iterative, and are
//! measured here iteratively too.
//!
//! The measure is conservative: every token counts as one level of recursion, except that
//! syn parses the items of a list in a loop, so a `,` or `;` (outside `<…>`, where it may
//! separate generic arguments of a type syn is still inside) and the end of an attribute
//! (`#[…]`, parsed in a loop too) start counting again at the depth of their group. A group
//! starts its contents at the depth it is reached at. A real `table!` measures below 50.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree, token_stream::IntoIter};

/// The deepest [`within_limit`] accepts. syn needs at most about 30 KiB of stack per level in a
/// debug build (a `<` of a qualified path, measured), 8 MiB for this limit: the parser
/// thread has [`super::read::PARSER_STACK`].
pub(crate) const LIMIT: usize = 256;

/// Where the walk is in one group.
struct Frame {
    tokens: IntoIter,
    /// The depth the group's contents start at.
    base: usize,
    /// Tokens since the group started or since its last list separator.
    run: usize,
    /// `<` minus `>` so far in this group (a generic argument list cannot span groups).
    angles: usize,
    /// The previous token, when it was a punctuation character joined to this one (`-` of
    /// `->`).
    joined: Option<char>,
    /// The previous token was a `#`: a bracket group now is an attribute.
    after_hash: bool,
}

impl Frame {
    fn new(tokens: TokenStream, base: usize) -> Frame {
        Frame {
            tokens: tokens.into_iter(),
            base,
            run: 0,
            angles: 0,
            joined: None,
            after_hash: false,
        }
    }
}

/// Whether parsing `tokens` with syn recurses at most [`LIMIT`] levels deep, by the measure
/// of the module docs.
pub(crate) fn within_limit(tokens: &TokenStream) -> bool {
    let mut stack = vec![Frame::new(tokens.clone(), 0)];
    while let Some(frame) = stack.last_mut() {
        let Some(token) = frame.tokens.next() else {
            stack.pop();
            continue;
        };
        frame.run += 1;
        let depth = frame.base + frame.run;
        if depth > LIMIT {
            return false;
        }
        let joined = frame.joined.take();
        let after_hash = std::mem::take(&mut frame.after_hash);
        match token {
            TokenTree::Punct(punct) => {
                let ch = punct.as_char();
                match ch {
                    ',' | ';' if frame.angles == 0 => frame.run = 0,
                    '<' => frame.angles += 1,
                    // `->` and `=>` close nothing.
                    '>' if !matches!(joined, Some('-' | '=')) => {
                        frame.angles = frame.angles.saturating_sub(1);
                    }
                    '#' => frame.after_hash = true,
                    _ => {}
                }
                if punct.spacing() == Spacing::Joint {
                    frame.joined = Some(ch);
                }
            }
            TokenTree::Group(group) => {
                if after_hash && group.delimiter() == Delimiter::Bracket {
                    frame.run = 0;
                }
                stack.push(Frame::new(group.stream(), depth));
            }
            TokenTree::Ident(_) | TokenTree::Literal(_) => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(text: &str) -> bool {
        within_limit(&text.parse().expect("tokens"))
    }

    #[test]
    fn a_real_table_is_far_below_the_limit() {
        let column = "/// A comment\n/// on two lines.\n#[sql_name = \"type\"]\n#[max_length = 255]\ntype_ -> diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Nullable<diesel::sql_types::Text>>>,\n";
        let body = format!(
            "use diesel::sql_types::*;\nuse super::sql_types::TaskState;\n#[sql_name = \"tasks\"]\npublic.tasks (tenant_id, id) {{\n{}}}",
            column.repeat(2000)
        );
        let tokens: TokenStream = body.parse().expect("tokens");
        assert!(within_limit(&tokens));
    }

    #[test]
    fn deep_generics_brackets_and_prefixes_are_refused() {
        let n = LIMIT;
        for text in [
            format!(
                "a -> {}Text{}",
                "Nullable<".repeat(n / 2),
                ">".repeat(n / 2)
            ),
            format!("a -> {}Text", "&".repeat(n)),
            format!("a -> {}Text{}", "[".repeat(n), "]".repeat(n)),
            format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            format!("{}Text", "fn() -> ".repeat(n / 4)),
            // Commas inside `<…>` do not start a new list item.
            format!("a -> {}Text{}", "A<u8, ".repeat(n / 2), ">".repeat(n / 2)),
            // Nor do `->` and `=>` close a `<`.
            format!(
                "{}Text{}",
                "Box<dyn Fn() -> ".repeat(n / 4),
                ">".repeat(n / 4)
            ),
        ] {
            assert!(!measure(&text), "{}", &text[..60]);
        }
    }

    #[test]
    fn list_items_and_attributes_start_again() {
        // 10 000 columns; 10 000 doc lines; 100 columns of 50 generic arguments each.
        assert!(measure(&"a -> Text, ".repeat(10_000)));
        assert!(measure(&format!("{}a -> Text", "/// doc\n".repeat(10_000))));
        assert!(measure(
            &format!("a -> Vec<{}>, ", "u8, ".repeat(50)).repeat(100)
        ));
    }
}
