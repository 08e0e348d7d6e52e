//! The schema's numbered migrations (`migrations/NNNN_name.sql`), embedded in the binary.
//!
//! `sqlx::migrate!` would find the files by itself, but it lives behind sqlx's `macros`
//! feature, which this workspace leaves off (it builds the query macros' whole machinery).
//! So the list is written out here, and a test fails when it drifts from the directory.
//! The migrator is sqlx's own: same `_sqlx_migrations` table and checksums as the macro.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, name, SQL) of every migration, oldest first. Never edit an applied one:
/// add the next number.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "runs", include_str!("../migrations/0001_runs.sql")),
    (2, "secrets", include_str!("../migrations/0002_secrets.sql")),
    (
        3,
        "produced",
        include_str!("../migrations/0003_produced.sql"),
    ),
    (
        4,
        "releases",
        include_str!("../migrations/0004_releases.sql"),
    ),
    (5, "leases", include_str!("../migrations/0005_leases.sql")),
    (
        6,
        "last_seen",
        include_str!("../migrations/0006_last_seen.sql"),
    ),
    (
        7,
        "warnings",
        include_str!("../migrations/0007_warnings.sql"),
    ),
    (
        8,
        "approvals",
        include_str!("../migrations/0008_approvals.sql"),
    ),
    (
        9,
        "deployments",
        include_str!("../migrations/0009_deployments.sql"),
    ),
    (
        10,
        "gates_override",
        include_str!("../migrations/0010_gates_override.sql"),
    ),
    (
        11,
        "signing_keys",
        include_str!("../migrations/0011_signing_keys.sql"),
    ),
    (
        12,
        "release_evidence",
        include_str!("../migrations/0012_release_evidence.sql"),
    ),
];

/// A migrator over the embedded migrations.
pub(crate) fn migrator() -> Migrator {
    embedded(MIGRATIONS)
}

/// A migrator over `list`, (version, name, SQL) oldest first: the same embedding for every
/// database wharf keeps (the run store here, the server's own).
pub fn embedded(list: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        list.iter()
            .map(|&(version, name, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let file_name = entry.file_name().into_string().unwrap();
                let stem = file_name.strip_suffix(".sql").expect("only .sql files");
                let (number, name) = stem.split_once('_').expect("NNNN_name.sql");
                assert_eq!(number.len(), 4, "{file_name}: four-digit number");
                let sql = std::fs::read_to_string(entry.path()).unwrap();
                (number.parse().unwrap(), name.to_string(), sql)
            })
            .collect();
        files.sort();
        let embedded: Vec<(i64, String, String)> = MIGRATIONS
            .iter()
            .map(|&(v, n, s)| (v, n.to_string(), s.to_string()))
            .collect();
        assert_eq!(embedded, files, "update MIGRATIONS in migrations.rs");
        for (i, (version, _, _)) in embedded.iter().enumerate() {
            assert_eq!(*version, i as i64 + 1, "versions are 1, 2, … without gaps");
        }
    }
}
