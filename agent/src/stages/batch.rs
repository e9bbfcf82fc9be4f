//! Multi-row INSERTs and upserts whose SQL text is printed once per shape.
//!
//! sea-query prints a multi-row INSERT by building one expression per value and rendering the
//! whole tree, for every chunk: at 200 campaigns of 40 columns that is 8,000 values cloned into
//! the tree and a 60 kB string printed per chunk (4.5 % of a 100k first import on SQLite:
//! 6.45 s to 6.16 s, floor 1.9 s, BENCHMARKS.md). Here the
//! text for one shape (backend, table, columns, rows, what follows the VALUES) is printed once
//! per process and kept; a chunk only moves its values into the statement, and sqlx reuses the
//! statement it prepared for that text on the connection. The SQL is the same on SQLite and
//! PostgreSQL but for the placeholders (`?` against `$n`).

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{Arc, LazyLock, Mutex},
};

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, QueryResult, Statement, Value};

/// What follows the VALUES list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tail {
    /// Nothing: a plain INSERT.
    None,
    /// `RETURNING` these columns.
    Returning(&'static [&'static str]),
    /// `ON CONFLICT (key) DO UPDATE SET` every other column but `keep` to the new value: the
    /// rows exist, so each one becomes an UPDATE of its columns.
    Upsert { key: &'static str, keep: &'static [&'static str] },
}

/// One shape of statement: the key of the printed text.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Shape {
    backend: u8,
    table: &'static str,
    cols: Vec<&'static str>,
    rows: usize,
    tail: Tail,
}

/// The printed statements, by shape: a full chunk per table and the shorter last chunks of
/// pages. Bounded by the chunk sizes (at most 200 row counts per table, 800 for countries):
/// a few MB of text in a long-lived agent at worst.
static TEXT: LazyLock<Mutex<HashMap<Shape, Arc<str>>>> = LazyLock::new(Default::default);

fn backend_tag(b: DbBackend) -> u8 {
    match b {
        DbBackend::Postgres => 0,
        DbBackend::Sqlite => 1,
        _ => 2,
    }
}

/// The statement text for `shape`, printed on first use.
fn text(backend: DbBackend, shape: Shape) -> Arc<str> {
    let mut map = TEXT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(t) = map.get(&shape) {
        return t.clone();
    }
    let t: Arc<str> = print(backend, &shape).into();
    map.insert(shape, t.clone());
    t
}

fn print(backend: DbBackend, s: &Shape) -> String {
    let mut sql = String::with_capacity(64 + s.cols.len() * (24 + s.rows * 6));
    let _ = write!(sql, "INSERT INTO \"{}\" (", s.table);
    for (i, c) in s.cols.iter().enumerate() {
        let _ = write!(sql, "{}\"{c}\"", if i > 0 { ", " } else { "" });
    }
    sql.push_str(") VALUES ");
    let mut n = 0;
    for r in 0..s.rows {
        sql.push_str(if r > 0 { ", (" } else { "(" });
        for i in 0..s.cols.len() {
            n += 1;
            if i > 0 {
                sql.push_str(", ");
            }
            match backend {
                DbBackend::Postgres => {
                    let _ = write!(sql, "${n}");
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    match s.tail {
        Tail::None => {}
        Tail::Returning(cols) => {
            sql.push_str(" RETURNING ");
            sql.push_str(&cols.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", "));
        }
        Tail::Upsert { key, keep } => {
            let _ = write!(sql, " ON CONFLICT (\"{key}\") DO UPDATE SET ");
            let set: Vec<String> =
                s.cols.iter().filter(|c| **c != key && !keep.contains(c)).map(|c| format!("\"{c}\" = \"excluded\".\"{c}\"")).collect();
            sql.push_str(&set.join(", "));
        }
    }
    sql
}

/// Rows of one table gathered for a multi-row statement: the values of `cols`, row after row.
pub struct Rows<E: EntityTrait> {
    cols: Vec<E::Column>,
    values: Vec<Value>,
}

impl<E: EntityTrait> Rows<E> {
    pub fn new(cols: Vec<E::Column>, capacity: usize) -> Self {
        let values = Vec::with_capacity(cols.len() * capacity);
        Self { cols, values }
    }

    /// Adds a row, moving its values out of `am`. Every column must be set.
    pub fn push<A: ActiveModelTrait<Entity = E>>(&mut self, mut am: A) -> Result<(), DbErr> {
        for c in &self.cols {
            let v = am.take(*c).into_value().ok_or_else(|| DbErr::Custom(format!("column {} is not set", c.as_str())))?;
            self.values.push(v);
        }
        Ok(())
    }

    /// Adds a row from a model, cloning its values.
    pub fn push_model(&mut self, m: &E::Model)
    where
        E::Model: sea_orm::ModelTrait<Entity = E>,
    {
        use sea_orm::ModelTrait;
        self.values.extend(self.cols.iter().map(|c| m.get(*c)));
    }

    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.cols.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The statement for these rows.
    fn statement(self, backend: DbBackend, tail: Tail) -> Statement {
        let rows = self.len();
        let cols: Vec<&'static str> = self.cols.iter().map(|c| c.as_str()).collect();
        let sql = text(backend, Shape { backend: backend_tag(backend), table: E::default().table_name(), cols, rows, tail });
        Statement::from_sql_and_values(backend, &*sql, self.values)
    }

    /// Runs the statement; nothing to do for no rows.
    pub async fn execute(self, db: &impl ConnectionTrait, tail: Tail) -> Result<(), DbErr> {
        if !self.is_empty() {
            db.execute_raw(self.statement(db.get_database_backend(), tail)).await?;
        }
        Ok(())
    }

    /// Runs the statement and returns the rows its `RETURNING` gives.
    pub async fn returning(self, db: &impl ConnectionTrait, cols: &'static [&'static str]) -> Result<Vec<QueryResult>, DbErr> {
        if self.is_empty() {
            return Ok(vec![]);
        }
        db.query_all_raw(self.statement(db.get_database_backend(), Tail::Returning(cols))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_printed_for_each_backend() {
        let shape = |rows, tail| Shape { backend: 0, table: "t", cols: vec!["id", "a", "b"], rows, tail };
        assert_eq!(print(DbBackend::Sqlite, &shape(2, Tail::None)), r#"INSERT INTO "t" ("id", "a", "b") VALUES (?, ?, ?), (?, ?, ?)"#);
        assert_eq!(
            print(DbBackend::Postgres, &shape(2, Tail::Returning(&["id"]))),
            r#"INSERT INTO "t" ("id", "a", "b") VALUES ($1, $2, $3), ($4, $5, $6) RETURNING "id""#
        );
        assert_eq!(
            print(DbBackend::Postgres, &shape(1, Tail::Upsert { key: "id", keep: &["b"] })),
            r#"INSERT INTO "t" ("id", "a", "b") VALUES ($1, $2, $3) ON CONFLICT ("id") DO UPDATE SET "a" = "excluded"."a""#
        );
    }
}
