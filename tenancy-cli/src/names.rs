//! The SQL names `check` takes on its command line, validated as clap parses them: they end up
//! in queries and in the SQL of fix hints, so a name PostgreSQL would need quoted (or one that
//! is empty) is a usage error rather than a check that runs with it.

use tenancy_schema::RoleName;

/// What a valid name looks like, for both.
const SYNTAX: &str =
    "use lowercase letters, digits and `_`, starting with a letter or `_`, at most 63 bytes";

/// `--app-role`.
pub(crate) fn role(text: &str) -> Result<RoleName, String> {
    RoleName::new(text).map_err(|_| format!("not a role name: {SYNTAX} (such as tenancy_app)"))
}

/// `--schema`: the same syntax as a role name.
pub(crate) fn schema(text: &str) -> Result<String, String> {
    RoleName::new(text)
        .map(|_| text.to_owned())
        .map_err(|_| format!("not a schema name: {SYNTAX} (such as public)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lowercase_names_pass() {
        assert_eq!(role("tenancy_app").expect("valid").as_str(), "tenancy_app");
        assert_eq!(schema("public").expect("valid"), "public");
        assert_eq!(schema("_app2").expect("valid"), "_app2");
    }

    #[test]
    fn names_sql_would_need_quoted_are_refused() {
        for bad in [
            "",
            "x\"; drop",
            "x'; drop role y; --",
            "App",
            "1app",
            "a b",
            &"a".repeat(64),
        ] {
            let role_error = role(bad).expect_err(bad);
            assert!(role_error.starts_with("not a role name"), "{role_error}");
            let schema_error = schema(bad).expect_err(bad);
            assert!(
                schema_error.starts_with("not a schema name"),
                "{schema_error}"
            );
        }
    }
}
