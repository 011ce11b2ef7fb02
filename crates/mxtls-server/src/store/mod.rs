//! The store: snapshots, the latest check per domain, watches and TLS-RPT reports, behind one
//! interface with two back-ends — SQLite (a file, the zero-setup default) and PostgreSQL
//! (`--db postgres://…`, shared by every instance of a cluster).
//!
//! The domain modules (`snapshots`, `watches`, `tls_reports`) write their SQL once, in the
//! dialect both engines accept (`?N` parameters, `ON CONFLICT DO NOTHING`, row values), and
//! read rows by column name through [`Row`]; only this module and its two back-ends know an
//! engine. What only PostgreSQL does (the cluster's jobs and session budget) is in [`pg`],
//! reached through [`Store::postgres`]. Errors say their kind ([`StoreError`]). The
//! schema is a list of migrations ([`MIGRATIONS`]), applied in order and recorded in
//! `mxtls_schema`, so that a store made by an older mxtls is brought up to date at start-up
//! (under an advisory lock on PostgreSQL: instances starting together migrate once).

mod error;
pub mod pg;
mod postgres;
mod sqlite;

use std::path::Path;

pub use error::StoreError;

pub type Result<T> = std::result::Result<T, StoreError>;

/// A statement parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Value {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(Some(v.to_owned()))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(Some(v.clone()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(Some(v))
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Value {
        Value::Text(v.map(str::to_owned))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Value {
        Value::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}

/// Parameters for a statement: `params![a, b]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { vec![$($crate::store::Value::from($v)),*] };
}

/// One value read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A row read from either engine, read by column name (`row.int("attempts")`): a
/// statement's columns can be reordered or added to without silently shifting its reads.
/// Name an expression's column with `AS` (engines name `COUNT(*)` differently).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The statement's column names, shared by its rows.
    columns: std::sync::Arc<[String]>,
    cells: Vec<Cell>,
}

impl Row {
    pub(crate) fn new(columns: std::sync::Arc<[String]>, cells: Vec<Cell>) -> Row {
        Row { columns, cells }
    }

    /// The column names, in the statement's order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    fn cell(&self, name: &str) -> Result<&Cell> {
        self.columns
            .iter()
            .position(|c| c == name)
            .and_then(|i| self.cells.get(i))
            .ok_or_else(|| {
                StoreError::invalid(format!(
                    "no column {name} in the row (it has {})",
                    self.columns.join(", ")
                ))
            })
    }

    pub fn int(&self, name: &str) -> Result<i64> {
        self.opt_int(name)?
            .ok_or_else(|| StoreError::invalid(format!("column {name} is NULL")))
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        match self.cell(name)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            other => Err(StoreError::invalid(format!(
                "column {name}: {other:?} is not an integer"
            ))),
        }
    }

    pub fn opt_text(&self, name: &str) -> Result<Option<String>> {
        match self.cell(name)? {
            Cell::Null => Ok(None),
            Cell::Text(t) => Ok(Some(t.clone())),
            other => Err(StoreError::invalid(format!(
                "column {name}: {other:?} is not text"
            ))),
        }
    }

    pub fn text(&self, name: &str) -> Result<String> {
        self.opt_text(name)?
            .ok_or_else(|| StoreError::invalid(format!("column {name} is NULL")))
    }

    pub fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        match self.cell(name)? {
            Cell::Bytes(b) => Ok(b.clone()),
            other => Err(StoreError::invalid(format!(
                "column {name}: {other:?} is not bytes"
            ))),
        }
    }

    /// The first column as an integer, whatever its name ([`Store::number`]).
    fn first_int(&self) -> Result<i64> {
        match self.cells.first() {
            Some(Cell::Int(v)) => Ok(*v),
            other => Err(StoreError::invalid(format!("{other:?} is not an integer"))),
        }
    }
}

/// Maps a row to the struct of a table group, in one place per struct.
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self>;
}

/// One step of the schema: SQL for both engines (`{blob}` is the engine's byte-string
/// type), and what only PostgreSQL gets (functions of the cluster).
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub both: &'static str,
    pub postgres: &'static str,
}

const fn both(sql: &'static str) -> Migration {
    Migration {
        both: sql,
        postgres: "",
    }
}

/// The schema, one step per version. Never edit a step that has shipped: add the next one.
pub const MIGRATIONS: &[Migration] = &[
    // 1: snapshots, watches, TLS-RPT reports (what SQLite files before migrations held: hence
    // IF NOT EXISTS).
    both(
        "CREATE TABLE IF NOT EXISTS snapshots (
         id TEXT PRIMARY KEY,
         domain TEXT NOT NULL,
         finished_at BIGINT NOT NULL,
         evidence {blob} NOT NULL
     );
     CREATE INDEX IF NOT EXISTS snapshots_by_domain ON snapshots (domain, finished_at);
     CREATE TABLE IF NOT EXISTS watches (
         id TEXT PRIMARY KEY,
         domain TEXT NOT NULL,
         webhook TEXT,
         email TEXT,
         client TEXT NOT NULL,
         token TEXT,
         created_at BIGINT NOT NULL,
         next_check BIGINT NOT NULL,
         last_snapshot TEXT,
         last_state BIGINT
     );
     CREATE INDEX IF NOT EXISTS watches_by_domain ON watches (domain);
     CREATE INDEX IF NOT EXISTS watches_due ON watches (next_check);
     CREATE TABLE IF NOT EXISTS tls_reports (
         domain TEXT NOT NULL,
         organization TEXT NOT NULL,
         report_id TEXT NOT NULL,
         start BIGINT NOT NULL,
         received_at BIGINT NOT NULL,
         report TEXT NOT NULL,
         PRIMARY KEY (domain, organization, report_id)
     );",
    ),
    // 2: checks as jobs of a cluster (`cluster`): at most one queued or running per domain;
    // their progress, in order, for whoever streams it from whichever instance.
    both(
        "CREATE TABLE IF NOT EXISTS jobs (
         id TEXT PRIMARY KEY,
         domain TEXT NOT NULL,
         client TEXT NOT NULL,
         state TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         lease_until BIGINT NOT NULL DEFAULT 0,
         worker TEXT,
         attempts BIGINT NOT NULL DEFAULT 0,
         snapshot TEXT,
         error TEXT
     );
     CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_per_domain ON jobs (domain)
         WHERE state IN ('queued', 'running');
     CREATE INDEX IF NOT EXISTS jobs_by_client ON jobs (client, created_at);
     CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
     CREATE TABLE IF NOT EXISTS job_events (
         job TEXT NOT NULL,
         seq BIGINT NOT NULL,
         event TEXT NOT NULL,
         PRIMARY KEY (job, seq)
     );",
    ),
    // 3: the cluster's per-address session budget (`budget::StoreBudget`): the sessions
    // started per address, and the addresses backed off after refusals. Admission is one
    // function call under an advisory lock on the address, so two workers never both take
    // the last free slot.
    Migration {
        both: "CREATE TABLE IF NOT EXISTS target_sessions (
             id TEXT PRIMARY KEY,
             ip TEXT NOT NULL,
             worker TEXT NOT NULL,
             started_at BIGINT NOT NULL,
             ended_at BIGINT
         );
         CREATE INDEX IF NOT EXISTS target_sessions_by_ip ON target_sessions (ip, started_at);
         CREATE TABLE IF NOT EXISTS target_backoff (
             ip TEXT PRIMARY KEY,
             refusals BIGINT NOT NULL,
             until_ms BIGINT NOT NULL
         );",
        postgres: "CREATE OR REPLACE FUNCTION mxtls_target_admit(
             p_ip TEXT, p_id TEXT, p_worker TEXT, p_now BIGINT, p_window BIGINT, p_max BIGINT,
             p_lease BIGINT)
         RETURNS TEXT LANGUAGE plpgsql AS $$
         DECLARE
             b RECORD;
             n BIGINT;
             oldest BIGINT;
         BEGIN
             PERFORM pg_advisory_xact_lock(hashtext('mxtls-target:' || p_ip));
             SELECT refusals, until_ms INTO b FROM target_backoff WHERE ip = p_ip;
             IF FOUND AND b.until_ms > p_now THEN
                 RETURN 'backoff ' || (b.until_ms - p_now) || ' ' || b.refusals;
             END IF;
             IF EXISTS (SELECT 1 FROM target_sessions WHERE ip = p_ip AND ended_at IS NULL
                        AND started_at > p_now - p_lease) THEN
                 RETURN 'busy 250';
             END IF;
             SELECT COUNT(*), MIN(started_at) INTO n, oldest FROM target_sessions
                 WHERE ip = p_ip AND started_at > p_now - p_window;
             IF n >= p_max THEN
                 RETURN 'full ' || GREATEST(oldest + p_window - p_now, 1) || ' ' || n;
             END IF;
             DELETE FROM target_sessions WHERE ip = p_ip
                 AND started_at < p_now - 2 * GREATEST(p_window, p_lease);
             INSERT INTO target_sessions (id, ip, worker, started_at)
                 VALUES (p_id, p_ip, p_worker, p_now);
             RETURN 'start';
         END $$;",
    },
    // 4: which stored checks ran sessions with each address, so that a check over an
    // address's budget can reuse them (`--target-reuse`).
    both(
        "CREATE TABLE IF NOT EXISTS address_sessions (
             ip TEXT NOT NULL,
             snapshot TEXT NOT NULL,
             finished_at BIGINT NOT NULL,
             PRIMARY KEY (ip, snapshot)
         );
         CREATE INDEX IF NOT EXISTS address_sessions_newest ON address_sessions (ip, finished_at);",
    ),
    // 5: the watches' outbox (`watches::outbox`): every notice, written in the transaction
    // that records what it tells, delivered (and retried) from here, once per idempotency
    // key. Times in Unix milliseconds; state `pending`, `delivered` or `given_up`.
    both(
        "CREATE TABLE IF NOT EXISTS outbox (
             key TEXT PRIMARY KEY,
             watch TEXT NOT NULL,
             domain TEXT NOT NULL,
             kind TEXT NOT NULL,
             subject TEXT NOT NULL,
             payload TEXT NOT NULL,
             state TEXT NOT NULL,
             attempts BIGINT NOT NULL DEFAULT 0,
             next_attempt_at BIGINT NOT NULL,
             claimed_by TEXT,
             claimed_until BIGINT NOT NULL DEFAULT 0,
             last_error TEXT,
             created_at BIGINT NOT NULL,
             done_at BIGINT
         );
         CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
         CREATE INDEX IF NOT EXISTS outbox_by_watch ON outbox (watch, created_at);
         CREATE INDEX IF NOT EXISTS outbox_by_domain ON outbox (domain, state, created_at);",
    ),
    // 6: the TLS-RPT reception limits, counted in the store so that they hold across the
    // instances of a cluster (`tls_reports`): each client's posts of the last minute, and
    // when each watch was last told of a report.
    both(
        "CREATE TABLE IF NOT EXISTS report_posts (
             id TEXT PRIMARY KEY,
             client TEXT NOT NULL,
             posted_at BIGINT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS report_posts_by_client ON report_posts (client, posted_at);
         CREATE INDEX IF NOT EXISTS report_posts_by_time ON report_posts (posted_at);
         CREATE TABLE IF NOT EXISTS report_notices (
             watch TEXT PRIMARY KEY,
             notified_at BIGINT NOT NULL
         );",
    ),
    // 7: the session budget's answer as a row (kind, wait_ms, count) rather than a text to
    // parse: `start`, `busy` (wait), `full` (wait, sessions in the window), `backoff` (wait,
    // refusals). Same rules as `mxtls_target_admit`, which stays for older mxtls.
    Migration {
        both: "",
        postgres: "CREATE OR REPLACE FUNCTION mxtls_target_admission(
             p_ip TEXT, p_id TEXT, p_worker TEXT, p_now BIGINT, p_window BIGINT, p_max BIGINT,
             p_lease BIGINT)
         RETURNS TABLE (kind TEXT, wait_ms BIGINT, count BIGINT) LANGUAGE plpgsql AS $$
         DECLARE
             b RECORD;
             n BIGINT;
             oldest BIGINT;
         BEGIN
             PERFORM pg_advisory_xact_lock(hashtext('mxtls-target:' || p_ip));
             SELECT t.refusals, t.until_ms INTO b FROM target_backoff t WHERE t.ip = p_ip;
             IF FOUND AND b.until_ms > p_now THEN
                 RETURN QUERY SELECT 'backoff'::TEXT, b.until_ms - p_now, b.refusals;
                 RETURN;
             END IF;
             IF EXISTS (SELECT 1 FROM target_sessions s WHERE s.ip = p_ip AND s.ended_at IS NULL
                        AND s.started_at > p_now - p_lease) THEN
                 RETURN QUERY SELECT 'busy'::TEXT, 250::BIGINT, 0::BIGINT;
                 RETURN;
             END IF;
             SELECT COUNT(*), MIN(s.started_at) INTO n, oldest FROM target_sessions s
                 WHERE s.ip = p_ip AND s.started_at > p_now - p_window;
             IF n >= p_max THEN
                 RETURN QUERY SELECT 'full'::TEXT, GREATEST(oldest + p_window - p_now, 1), n;
                 RETURN;
             END IF;
             DELETE FROM target_sessions s WHERE s.ip = p_ip
                 AND s.started_at < p_now - 2 * GREATEST(p_window, p_lease);
             INSERT INTO target_sessions (id, ip, worker, started_at)
                 VALUES (p_id, p_ip, p_worker, p_now);
             RETURN QUERY SELECT 'start'::TEXT, 0::BIGINT, 0::BIGINT;
         END $$;",
    },
    // 8: the operator's opt-out list (`never_probe`), as the text of its file, shared by
    // every process of a cluster; one row (id 1).
    both(
        "CREATE TABLE IF NOT EXISTS never_probe (
             id BIGINT PRIMARY KEY,
             list TEXT NOT NULL,
             updated_at BIGINT NOT NULL
         );",
    ),
    // 9: the sender test: the tests people started, and what the receivers saw of each
    // connection (a `sender_test::Connection` as JSON; `token` when it named one; the
    // sender's network and EHLO name, by which unnamed ones are matched to a test).
    both(
        "CREATE TABLE IF NOT EXISTS sender_tests (
             token TEXT PRIMARY KEY,
             started_at BIGINT NOT NULL,
             until_at BIGINT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS sender_test_connections (
             id TEXT PRIMARY KEY,
             at BIGINT NOT NULL,
             token TEXT,
             network TEXT NOT NULL,
             ehlo TEXT,
             record TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS sender_test_connections_at
             ON sender_test_connections (at);
         CREATE INDEX IF NOT EXISTS sender_test_connections_token
             ON sender_test_connections (token);
         CREATE INDEX IF NOT EXISTS sender_test_connections_network
             ON sender_test_connections (network, at);
         CREATE INDEX IF NOT EXISTS sender_test_connections_ehlo
             ON sender_test_connections (ehlo, at);",
    ),
    // 10: batches of an operator's domains, and each domain's place, state and row (the
    // core's `batch::Row` as JSON, once done).
    both(
        "CREATE TABLE IF NOT EXISTS batches (
             id TEXT PRIMARY KEY,
             operator TEXT NOT NULL,
             name TEXT NOT NULL,
             created_at BIGINT NOT NULL,
             total BIGINT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS batch_items (
             batch TEXT NOT NULL,
             position BIGINT NOT NULL,
             domain TEXT NOT NULL,
             state TEXT NOT NULL,
             claimed_at BIGINT,
             row_status TEXT,
             row_json TEXT,
             PRIMARY KEY (batch, position)
         );
         CREATE INDEX IF NOT EXISTS batch_items_state ON batch_items (state, batch, position);",
    ),
    // 11: when a batch was made, to the millisecond, so that two runs of one list made in
    // the same second are still in order (the previous run, the portfolio's chart).
    both(
        "ALTER TABLE batches ADD COLUMN created_ms BIGINT;
         CREATE INDEX IF NOT EXISTS batches_runs ON batches (operator, name, created_ms);",
    ),
];

/// Whether `--db` names a PostgreSQL server (else it is a SQLite file's path).
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// The engine a store runs on.
enum Engine {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// The store: cheap to share (`Arc`), safe to use from any task.
pub struct Store {
    engine: Engine,
}

impl Store {
    /// Opens (or creates) a SQLite store at `path`; `:memory:` for a throwaway one.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let sqlite = sqlite::Sqlite::open(path.as_ref())?;
        sqlite.migrate(MIGRATIONS)?;
        Ok(Store {
            engine: Engine::Sqlite(sqlite),
        })
    }

    /// Opens the store `--db` names: a `postgres://` or `postgresql://` URL, else a SQLite
    /// file's path.
    pub async fn connect(db: &str) -> Result<Store> {
        if is_postgres_url(db) {
            let pg = postgres::Postgres::connect(db).await?;
            pg.migrate(MIGRATIONS).await?;
            Ok(Store {
                engine: Engine::Postgres(pg),
            })
        } else {
            let path = std::path::PathBuf::from(db);
            tokio::task::spawn_blocking(move || Store::open(&path))
                .await
                .map_err(|e| StoreError::failed(format!("the store did not open: {e}")))?
        }
    }

    /// Which engine, for logs and `/metrics`: `sqlite` or `postgres`.
    pub fn engine(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// The engine's byte-string type, for a `CAST` where a parameter's type cannot be
    /// inferred (a parameter in the select list of `INSERT … SELECT`).
    pub fn blob_type(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "BLOB",
            Engine::Postgres(_) => "BYTEA",
        }
    }

    /// The schema version the store is at (the number of [`MIGRATIONS`] applied).
    pub async fn schema_version(&self) -> Result<i64> {
        self.number(
            "SELECT COALESCE(MAX(version), 0) FROM mxtls_schema",
            Vec::new(),
        )
        .await
    }

    /// Writes everything committed into the main database file (SQLite: the write-ahead
    /// log checkpointed and emptied), so that a stopped server leaves one complete file to
    /// copy or back up. PostgreSQL commits are durable already.
    pub async fn flush(&self) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(_) => self
                .query("PRAGMA wal_checkpoint(TRUNCATE)", Vec::new())
                .await
                .map(|_| ()),
            Engine::Postgres(_) => Ok(()),
        }
    }

    /// Runs a statement; the rows it changed.
    pub async fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64> {
        match &self.engine {
            Engine::Sqlite(s) => s.execute(sql, params).await,
            Engine::Postgres(p) => p.execute(sql, params).await,
        }
    }

    /// Runs a query; its rows.
    pub async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
        match &self.engine {
            Engine::Sqlite(s) => s.query(sql, params).await,
            Engine::Postgres(p) => p.query(sql, params).await,
        }
    }

    /// The one integer a query answers (`COUNT(*)`, `MIN(…)`), 0 without a row.
    pub async fn number(&self, sql: &str, params: Vec<Value>) -> Result<i64> {
        match self.query_opt(sql, params).await? {
            Some(r) => r.first_int(),
            None => Ok(0),
        }
    }

    /// A query's rows as `T`.
    pub async fn query_as<T: FromRow>(&self, sql: &str, params: Vec<Value>) -> Result<Vec<T>> {
        self.query(sql, params)
            .await?
            .iter()
            .map(T::from_row)
            .collect()
    }

    /// The first row of a query as `T`, if any.
    pub async fn query_opt_as<T: FromRow>(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Option<T>> {
        self.query_opt(sql, params)
            .await?
            .as_ref()
            .map(T::from_row)
            .transpose()
    }

    /// The first row of a query, if any.
    pub async fn query_opt(&self, sql: &str, params: Vec<Value>) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs `steps` in one transaction: all of them or none. `Ok(false)` (and nothing
    /// applied) when a step marked [`Step::must_change`] changed no row — a condition
    /// another writer made false first.
    pub async fn atomically(&self, steps: Vec<Step>) -> Result<bool> {
        match &self.engine {
            Engine::Sqlite(s) => s.atomically(steps).await,
            Engine::Postgres(p) => p.atomically(steps).await,
        }
    }
}

/// One statement of [`Store::atomically`].
#[derive(Debug, Clone)]
pub struct Step {
    pub sql: String,
    pub params: Vec<Value>,
    /// Changing no row undoes the whole transaction.
    pub must_change: bool,
}
