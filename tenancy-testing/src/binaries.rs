//! Finding PostgreSQL server binaries of a supported version.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::EmbeddedError;
use crate::{LIB_ROOT, MIN_MAJOR, SHARE_ROOT, SYSTEM_DIRS};

/// A directory holding `initdb`, `pg_ctl` and `postgres` of one major version.
#[derive(Debug, Clone)]
pub(crate) struct PgBinaries {
    pub(crate) dir: PathBuf,
    pub(crate) major: u32,
}

impl PgBinaries {
    pub(crate) fn locate() -> Result<PgBinaries, EmbeddedError> {
        find_binaries(
            std::env::var_os("PATH").as_deref(),
            &[PathBuf::from(LIB_ROOT)],
        )
    }

    pub(crate) fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Where this server may keep its share directory (`extension/` lives there), most likely
    /// first: what `pg_config --sharedir` next to the binaries says, then the Debian/Ubuntu
    /// layout, then the `<prefix>/share` of a source install. `pg_config` is a separate
    /// package on some systems, hence the fallbacks.
    pub(crate) fn share_dirs(&self) -> Vec<PathBuf> {
        let reported = Command::new(self.tool("pg_config"))
            .arg("--sharedir")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from);
        let mut dirs: Vec<PathBuf> = reported.into_iter().collect();
        dirs.push(PathBuf::from(SHARE_ROOT).join(self.major.to_string()));
        if let Some(prefix) = self.dir.parent() {
            dirs.push(prefix.join("share").join("postgresql"));
            dirs.push(prefix.join("share"));
        }
        let mut unique: Vec<PathBuf> = Vec::with_capacity(dirs.len());
        for dir in dirs {
            if !unique.contains(&dir) {
                unique.push(dir);
            }
        }
        unique
    }
}

/// Directories `<root>/*/bin` for each root, then the `PATH` entries (each preceded by the real
/// directory of a symlinked `pg_ctl`, so wrappers resolve to the versioned directory).
pub(crate) fn candidate_dirs(path_var: Option<&OsStr>, lib_roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for root in lib_roots {
        if let Ok(entries) = fs::read_dir(root) {
            let mut versioned: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .collect();
            versioned.sort();
            dirs.extend(versioned);
        }
    }
    if let Some(path_var) = path_var {
        for dir in std::env::split_paths(path_var) {
            if dir.as_os_str().is_empty() {
                continue;
            }
            if let Some(parent) = fs::canonicalize(dir.join("pg_ctl"))
                .ok()
                .and_then(|real| real.parent().map(Path::to_path_buf))
            {
                dirs.push(parent);
            }
            dirs.push(dir);
        }
    }
    dirs
}

/// Pick the highest major version >= [`MIN_MAJOR`] among the candidate directories that hold
/// all of `initdb`, `pg_ctl` and `postgres`; ties go to the earlier (versioned) directory.
pub(crate) fn find_binaries(
    path_var: Option<&OsStr>,
    lib_roots: &[PathBuf],
) -> Result<PgBinaries, EmbeddedError> {
    let mut best: Option<PgBinaries> = None;
    let mut seen: Vec<PathBuf> = Vec::new();
    for dir in candidate_dirs(path_var, lib_roots) {
        let key = fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if !["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|tool| is_executable(&dir.join(tool)))
        {
            continue;
        }
        let Some(major) = server_major_version(&dir.join("postgres")) else {
            tracing::debug!(dir = %dir.display(), "could not determine PostgreSQL version");
            continue;
        };
        if major < MIN_MAJOR {
            tracing::debug!(dir = %dir.display(), major, "PostgreSQL too old, need >= {MIN_MAJOR}");
            continue;
        }
        if best.as_ref().is_none_or(|found| major > found.major) {
            best = Some(PgBinaries { dir, major });
        }
    }
    best.ok_or(EmbeddedError::BinariesNotFound)
}

pub(crate) fn server_major_version(postgres: &Path) -> Option<u32> {
    let output = Command::new(postgres)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse_major(&String::from_utf8_lossy(&output.stdout))
}

/// Major version from `postgres (PostgreSQL) 15.18 (Debian ...)` or `pg_ctl (PostgreSQL) 16beta1`.
pub(crate) fn parse_major(version_output: &str) -> Option<u32> {
    let after_name = version_output
        .split_once("(PostgreSQL)")
        .map_or(version_output, |(_, rest)| rest);
    let token = after_name
        .split_whitespace()
        .find(|token| token.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = token.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub(crate) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Search `PATH` and the usual system directories for an executable.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(SYSTEM_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub(crate) fn find_psql() -> Option<PathBuf> {
    find_program("psql").or_else(|| {
        candidate_dirs(None, &[PathBuf::from(LIB_ROOT)])
            .into_iter()
            .rev()
            .map(|dir| dir.join("psql"))
            .find(|candidate| is_executable(candidate))
    })
}
