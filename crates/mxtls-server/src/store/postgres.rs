//! The PostgreSQL back-end: a pool of connections (deadpool-postgres over tokio-postgres).
//! Statements are written with SQLite's `?N` parameters and turned into `$N` here.

use bytes::BytesMut;
use deadpool_postgres::{Object, Pool, PoolConfig, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::{Cell, Result, Row, StoreError, Value};

/// Connections per instance: a cluster of N instances and workers holds at most N × this.
const POOL_SIZE: usize = 16;

/// The advisory lock instances take while migrating, so that they migrate one at a time.
const MIGRATION_LOCK: i64 = 0x6d78_746c_7301;

pub(super) struct Postgres {
    pool: Pool,
    url: String,
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Int(v) if *ty == Type::INT4 => v
                .map(i32::try_from)
                .transpose()
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Sync + Send>)?
                .to_sql(ty, out),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Text(v) => v.to_sql(ty, out),
            Value::Bytes(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value by the inner types' own `to_sql`.
        true
    }

    to_sql_checked!();
}

/// `?1` → `$1`: the statements are written once, in SQLite's spelling. A `?` inside a
/// string literal (`'…'`, `''` for a quote), a quoted identifier (`"…"`) or a comment
/// (`-- …` to the line's end, `/* … */`) is text, and is left alone.
fn dialect(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '?' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.pop();
                out.push('$');
            }
            // A doubled quote inside is two of these spans, back to back: still right.
            '\'' | '"' => {
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push('*');
                let mut star = false;
                for d in chars.by_ref() {
                    out.push(d);
                    if star && d == '/' {
                        break;
                    }
                    star = d == '*';
                }
            }
            _ => {}
        }
    }
    out
}

fn cells(row: &tokio_postgres::Row, columns: &std::sync::Arc<[String]>) -> Result<Row> {
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let cell = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.map(Cell::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?
                .map(|v| Cell::Int(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?
                .map(|v| Cell::Int(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?
                .map(|v| Cell::Int(v.into()))
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)?.map(Cell::Bytes)
        } else if [Type::TEXT, Type::VARCHAR, Type::NAME, Type::BPCHAR].contains(ty) {
            row.try_get::<_, Option<String>>(i)?.map(Cell::Text)
        } else {
            return Err(StoreError::invalid(format!(
                "column {} has type {ty}, which the store does not read",
                column.name()
            )));
        };
        out.push(cell.unwrap_or(Cell::Null));
    }
    Ok(Row::new(columns.clone(), out))
}

impl Postgres {
    pub(super) async fn connect(url: &str) -> Result<Postgres> {
        let mut config = deadpool_postgres::Config::new();
        config.url = Some(url.to_owned());
        config.pool = Some(PoolConfig::new(POOL_SIZE));
        let pool = config
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .map_err(|e| StoreError::failed(format!("PostgreSQL: {e}")))?;
        let db = Postgres {
            pool,
            url: url.to_owned(),
        };
        // Fail at start-up, with the reason, rather than at the first request.
        drop(db.client().await?);
        Ok(db)
    }

    pub(super) async fn client(&self) -> Result<Object> {
        Ok(self.pool.get().await?)
    }

    pub(super) async fn migrate(&self, migrations: &[super::Migration]) -> Result<()> {
        let mut client = self.client().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = async {
            client
                .batch_execute("CREATE TABLE IF NOT EXISTS mxtls_schema (version BIGINT NOT NULL)")
                .await?;
            let done: i64 = client
                .query_one("SELECT COALESCE(MAX(version), 0) FROM mxtls_schema", &[])
                .await?
                .try_get(0)?;
            for (i, step) in migrations.iter().enumerate().skip(done.max(0) as usize) {
                let tx = client.transaction().await?;
                tx.batch_execute(&step.both.replace("{blob}", "BYTEA"))
                    .await?;
                if !step.postgres.is_empty() {
                    tx.batch_execute(step.postgres).await?;
                }
                tx.execute(
                    "INSERT INTO mxtls_schema (version) VALUES ($1)",
                    &[&(i as i64 + 1)],
                )
                .await?;
                tx.commit().await?;
            }
            Ok::<(), StoreError>(())
        }
        .await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        result
    }

    /// A connection of its own that `LISTEN`s on `channel` and forwards each payload, made
    /// again a second after it breaks; ends when the receiver is dropped.
    pub(super) fn listen(
        &self,
        channel: &'static str,
    ) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let url = self.url.clone();
        tokio::spawn(async move {
            while !tx.is_closed() {
                if let Ok((client, mut connection)) = tokio_postgres::connect(&url, NoTls).await {
                    let (note_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
                    let driver = tokio::spawn(async move {
                        let mut messages =
                            futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                        use futures_util::StreamExt;
                        while let Some(Ok(message)) = messages.next().await {
                            if let tokio_postgres::AsyncMessage::Notification(n) = message
                                && note_tx.send(n.payload().to_owned()).is_err()
                            {
                                break;
                            }
                        }
                    });
                    if client
                        .batch_execute(&format!("LISTEN {channel}"))
                        .await
                        .is_ok()
                    {
                        while let Some(payload) = notes.recv().await {
                            if tx.send(payload).is_err() {
                                break;
                            }
                        }
                    }
                    driver.abort();
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        rx
    }

    fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }

    pub(super) async fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64> {
        let client = self.client().await?;
        Ok(client.execute(&dialect(sql), &Self::refs(&params)).await?)
    }

    pub(super) async fn atomically(&self, steps: Vec<super::Step>) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for step in &steps {
            let n = tx
                .execute(&dialect(&step.sql), &Self::refs(&step.params))
                .await?;
            if step.must_change && n == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
        let client = self.client().await?;
        let rows = client.query(&dialect(sql), &Self::refs(&params)).await?;
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let columns: std::sync::Arc<[String]> = first
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        rows.iter().map(|r| cells(r, &columns)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::dialect;

    #[test]
    fn parameters_are_spelled_for_postgres() {
        assert_eq!(
            dialect("SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = '?'"),
            "SELECT a FROM t WHERE b = $1 AND c = $12 AND d = '?'"
        );
    }

    #[test]
    fn text_that_looks_like_a_parameter_is_left_alone() {
        let cases = [
            ("SELECT '?1', ?1", "SELECT '?1', $1"),
            ("SELECT 'it''s ?2', ?2", "SELECT 'it''s ?2', $2"),
            (
                "SELECT \"col?1\" FROM t WHERE x = ?1",
                "SELECT \"col?1\" FROM t WHERE x = $1",
            ),
            ("SELECT ?1 -- not ?2\n, ?3", "SELECT $1 -- not ?2\n, $3"),
            ("SELECT /* ?1 */ ?2", "SELECT /* ?1 */ $2"),
            ("SELECT /*/ ?1 */ ?2", "SELECT /*/ ?1 */ $2"),
            ("SELECT ? , ?x, 1-?1, 4/?2", "SELECT ? , ?x, 1-$1, 4/$2"),
            ("SELECT 'unterminated ?1", "SELECT 'unterminated ?1"),
        ];
        for (sql, want) in cases {
            assert_eq!(dialect(sql), want, "{sql}");
        }
    }
}
