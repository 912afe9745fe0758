//! Rebuild when a migration changes (`embed_migrations!` reads `../migrations` at compile time,
//! and Cargo does not track files read by a proc macro), and list the migration files for
//! `tenancy_schema::migrations::FILES`, so that `tenancy init` can write them into an
//! application's own migrations directory.
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read ../migrations")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("up.sql").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = String::from("&[\n");
    for name in &names {
        let up = dir.join(name).join("up.sql");
        let down = dir.join(name).join("down.sql");
        println!("cargo:rerun-if-changed={}", up.display());
        println!("cargo:rerun-if-changed={}", down.display());
        let _ = writeln!(
            out,
            "    MigrationFiles {{ name: {name:?}, up: include_str!({up:?}), down: include_str!({down:?}) }},",
            up = up.display().to_string(),
            down = down.display().to_string(),
        );
    }
    out.push(']');
    let target = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("migration_files.rs");
    std::fs::write(target, out).expect("write migration_files.rs");
}
