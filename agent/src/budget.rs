//! The request budget of every advertiser account, kept in the database so that all agents
//! share it: one row per account in `rate_budgets`, updated by one atomic upsert per request.
//!
//! The algorithm is GCRA with a burst of one: a reservation gets the slot
//! `max(last_slot + interval, now)`, so requests from any number of agents and integrations on
//! one account leave at least one interval apart (the interval of the later one, or the slower
//! remembered one). `next_at` records when the following request may go, for operators. Two integrations
//! of one account asking for different intervals share the slower one for ten minutes after it
//! was last asked for. Time is the database's clock, so agents on machines whose clocks
//! disagree still share one timeline; each agent only sleeps the relative wait it is given.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

use crate::connectors::scaffold::Budget;

/// How long a slower interval asked for by one integration of an account keeps applying to
/// the account's other integrations.
const SLOW_MEMORY: Duration = Duration::from_secs(600);

pub struct DbBudget {
    db: DatabaseConnection,
    sql: String,
}

impl DbBudget {
    pub fn new(db: DatabaseConnection) -> Self {
        let backend = db.get_database_backend();
        let (now, max, p) = match backend {
            DatabaseBackend::Postgres => ("(extract(epoch from statement_timestamp()) * 1000000)::bigint", "GREATEST", ["$1", "$2", "$3"]),
            // 'now' is fixed for the whole statement in SQLite too.
            _ => ("CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)", "MAX", ["?1", "?2", "?3"]),
        };
        let [key, interval, memory] = p;
        let slower = format!("rate_budgets.slow_until_us > {now} AND rate_budgets.slow_interval_us > {interval}");
        let eff = format!("CASE WHEN {slower} THEN rate_budgets.slow_interval_us ELSE {interval} END");
        let slot = format!("{max}(rate_budgets.last_slot_us + {eff}, {now})");
        let sql = format!(
            "INSERT INTO rate_budgets (account_key, next_at_us, last_slot_us, slow_interval_us, slow_until_us)
             VALUES ({key}, {now} + {interval}, {now}, {interval}, {now} + {memory})
             ON CONFLICT (account_key) DO UPDATE SET
               last_slot_us = {slot},
               next_at_us = {slot} + {eff},
               slow_interval_us = {eff},
               slow_until_us = CASE WHEN {slower} THEN rate_budgets.slow_until_us ELSE {now} + {memory} END
             RETURNING last_slot_us - {now} AS wait_us"
        );
        Self { db, sql }
    }
}

impl Budget for DbBudget {
    fn reserve<'a>(&'a self, account: &'a str, interval: Duration) -> futures::future::BoxFuture<'a, Result<Duration, String>> {
        Box::pin(async move {
            let backend = self.db.get_database_backend();
            let values = [account.into(), (interval.as_micros() as i64).into(), (SLOW_MEMORY.as_micros() as i64).into()];
            let row = self
                .db
                .query_one_raw(Statement::from_sql_and_values(backend, &self.sql, values))
                .await
                .map_err(|e| format!("the request budget could not be read from the database: {e}"))?
                .ok_or("the request budget upsert returned no row")?;
            let wait: i64 = row.try_get("", "wait_us").map_err(|e| format!("the request budget: {e}"))?;
            Ok(Duration::from_micros(wait.max(0) as u64))
        })
    }
}
