//! Properties of the `#[tenant_scoped(...)]` argument parser, checked on arbitrary input.
//!
//! Used by the fuzz target (`fuzz/fuzz_targets/macro_args.rs`) and by the corpus replay in
//! `tenancy-tests/tests/fuzz_corpus.rs`, so that both check exactly the same properties.

use std::str::FromStr;

use proc_macro2::TokenStream;

use crate::{ScopedArgs, parse_scoped};

/// Lexes `data` (when it is UTF-8 and lexes) and parses it as the attribute's arguments.
///
/// Never panics; an error carries a non-empty message for each bad option; accepted arguments
/// are well formed and, written back out, parse to the same arguments.
///
/// # Panics
/// When a property does not hold: that is the finding.
pub fn macro_args(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tokens) = TokenStream::from_str(text) else {
        return;
    };
    match parse_scoped(tokens) {
        Ok(args) => {
            check_accepted(&args);
            let written = render(&args);
            let tokens = TokenStream::from_str(&written)
                .unwrap_or_else(|e| panic!("{written:?} (from {text:?}) does not lex: {e}"));
            let again = parse_scoped(tokens)
                .unwrap_or_else(|e| panic!("{written:?} (from {text:?}) does not parse: {e}"));
            assert_eq!(render(&again), written, "from {text:?}");
        }
        Err(err) => {
            for one in err {
                assert!(!one.to_string().is_empty(), "empty error for {text:?}");
            }
        }
    }
}

fn check_accepted(args: &ScopedArgs) {
    for (keys, keyword) in [(&args.indexes, "index"), (&args.uniques, "unique")] {
        for key in keys {
            assert_eq!(key.keyword, keyword);
            assert!(!key.columns.is_empty(), "`{keyword}()` was accepted");
        }
    }
    let options = args.indexes.len()
        + args.uniques.len()
        + args.foreign_keys.len()
        + usize::from(args.tenant_column.is_some());
    assert_eq!(args.spans.len(), options, "one keyword span per option");
}

/// The arguments as the attribute would be written, in a fixed order.
fn render(args: &ScopedArgs) -> String {
    let mut parts = Vec::new();
    for (keys, keyword) in [(&args.indexes, "index"), (&args.uniques, "unique")] {
        for key in keys {
            let columns: Vec<String> = key.columns.iter().map(ToString::to_string).collect();
            parts.push(format!("{keyword}({})", columns.join(", ")));
        }
    }
    for fk in &args.foreign_keys {
        parts.push(format!("foreign_key({} -> {})", fk.column, fk.target));
    }
    if let Some(column) = &args.tenant_column {
        parts.push(format!("tenant_column = {column}"));
    }
    parts.join(", ")
}
