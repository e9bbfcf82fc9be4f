//! Database connect (SQLite or PostgreSQL, chosen by the URL), migrations, write transactions.
//!
//! SQLite is set up for two processes on one file: WAL, a 30 s busy timeout, foreign keys on,
//! `synchronous=NORMAL`, and every multi-statement write in a `BEGIN IMMEDIATE` transaction
//! (see [`write_tx`]) so that a writer waits for the lock instead of failing with
//! "database is locked".

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

pub use sea_orm::DatabaseConnection as Db;

/// Now, in UTC, to the millisecond (what the database keeps on both backends).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Connects to `url`. For SQLite the file's folder is created. For PostgreSQL the server is
/// reached first with a 5 s timeout, so an unreachable one is an error naming the host, the
/// port and the cause at once (the pool would otherwise retry silently for 30 s).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    if url.starts_with("postgres") {
        let parsed = url::Url::parse(url).map_err(|e| DbErr::Custom(format!("DATABASE_URL is not a URL: {e}")))?;
        let host = parsed.host_str().unwrap_or("localhost").to_string();
        let port = parsed.port().unwrap_or(5432);
        let reach = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect((host.as_str(), port))).await;
        match reach {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(DbErr::Custom(format!("cannot reach PostgreSQL at {host}:{port}: {e}"))),
            Err(_) => return Err(DbErr::Custom(format!("cannot reach PostgreSQL at {host}:{port}: no answer within 5 s"))),
        }
    }
    let mut opt = ConnectOptions::new(url.to_owned());
    opt.sqlx_logging(false).connect_timeout(Duration::from_secs(10)).acquire_timeout(Duration::from_secs(30));
    // A pooled connection is pinged before use only after it sat idle for a second: pinging on
    // every acquire, sea-orm's default, doubled the round trips of every short statement
    // (compiled campaigns pages: 2,133 -> 2,436 req/s, BENCHMARKS.md). Under load connections
    // are reused within milliseconds and never pinged; a quiet process still finds the
    // connections a database restart or a proxy dropped before using them.
    opt.test_before_acquire_if_idle_for(Duration::from_secs(1));
    if url.starts_with("sqlite:") {
        if let Some(path) = sqlite_path(url)
            && let Some(parent) = std::path::Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", parent.display())))?;
        }
        opt.max_connections(8).min_connections(1);
        opt.map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                .synchronous(SqliteSynchronous::Normal)
                .create_if_missing(true)
        });
    } else {
        opt.max_connections(16).min_connections(1);
    }
    Database::connect(opt).await
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// True when every migration this build knows is applied.
pub async fn migrations_applied(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

/// Begins a write transaction: `BEGIN IMMEDIATE` on SQLite (takes the write lock up front,
/// waiting up to the busy timeout), a plain transaction on PostgreSQL.
pub async fn write_tx(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
        }
        _ => db.begin().await,
    }
}

/// Which backend a connection talks to, for the few statements that differ.
pub fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(sqlite_path("sqlite://./data/x.db?mode=rwc").as_deref(), Some("./data/x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
