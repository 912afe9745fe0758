//! Rebuild when a migration changes: `embed_migrations!` reads `../migrations` at compile time,
//! and Cargo does not track files read by a proc macro.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
