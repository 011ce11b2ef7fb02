//! The SQLite back-end: one connection (SQLite serialises writers anyway), used from the
//! blocking pool so that no async task waits on the disk. WAL with synchronous=FULL: once a
//! write returns, it survives a killed server.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, params_from_iter};

use super::{Cell, Result, Row, StoreError, Value};

pub(super) struct Sqlite {
    conn: Arc<Mutex<Connection>>,
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as V;
        Ok(ToSqlOutput::Owned(match self {
            Value::Int(Some(i)) => V::Integer(*i),
            Value::Text(Some(t)) => V::Text(t.clone()),
            Value::Bytes(b) => V::Blob(b.clone()),
            Value::Int(None) | Value::Text(None) => V::Null,
        }))
    }
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave SQLite inconsistent: keep going.
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

fn cell(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(r) => Cell::Int(r as i64),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
    }
}

impl Sqlite {
    pub(super) fn open(path: &Path) -> Result<Sqlite> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Sqlite {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub(super) fn migrate(&self, migrations: &[super::Migration]) -> Result<()> {
        let mut conn = lock(&self.conn);
        conn.execute_batch("CREATE TABLE IF NOT EXISTS mxtls_schema (version BIGINT NOT NULL)")?;
        let done: i64 = conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM mxtls_schema",
            [],
            |r| r.get(0),
        )?;
        for (i, step) in migrations.iter().enumerate().skip(done.max(0) as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(&step.both.replace("{blob}", "BLOB"))?;
            tx.execute(
                "INSERT INTO mxtls_schema (version) VALUES (?1)",
                [i as i64 + 1],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || work(&lock(&conn)))
            .await
            .map_err(|e| StoreError::failed(format!("the store's worker failed: {e}")))?
            .map_err(StoreError::from)
    }

    pub(super) async fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64> {
        let sql = sql.to_owned();
        self.blocking(move |c| {
            c.execute(&sql, params_from_iter(params.iter()))
                .map(|n| n as u64)
        })
        .await
    }

    pub(super) async fn atomically(&self, steps: Vec<super::Step>) -> Result<bool> {
        self.blocking(move |c| {
            let tx = c.unchecked_transaction()?;
            for step in &steps {
                let n = tx.execute(&step.sql, params_from_iter(step.params.iter()))?;
                if step.must_change && n == 0 {
                    return Ok(false); // dropping `tx` rolls back
                }
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
        let sql = sql.to_owned();
        self.blocking(move |c| {
            let mut stmt = c.prepare(&sql)?;
            let width = stmt.column_count();
            let columns: std::sync::Arc<[String]> =
                stmt.column_names().map(str::to_owned).collect();
            let rows = stmt.query_map(params_from_iter(params.iter()), |r| {
                (0..width)
                    .map(|i| r.get_ref(i).map(cell))
                    .collect::<rusqlite::Result<Vec<Cell>>>()
                    .map(|cells| Row::new(columns.clone(), cells))
            })?;
            rows.collect()
        })
        .await
    }
}
