//! What went wrong in the store, by what a caller can do about it: a conflict (the row is
//! there already), nothing found, the database unavailable for now (retry later: a 503), or
//! a failure that retrying will not mend. Classified from each engine's own codes.

/// Why the store could not do what was asked. The message says it for a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A unique or primary key already holds the value.
    Conflict(String),
    /// What the statement needed is not there.
    NotFound(String),
    /// The database cannot be reached or is busy (connection refused or closed, pool
    /// exhausted, timeouts, SQLite busy/locked, I/O): the same request may work later.
    Unavailable(String),
    /// A row or value is not what the store expected (a bug or a damaged store).
    Invalid(String),
    /// Anything else: the statement failed, and would again.
    Failed(String),
}

impl StoreError {
    /// A failure with this message.
    pub fn failed(message: impl Into<String>) -> StoreError {
        StoreError::Failed(message.into())
    }

    /// A value that is not what the store expected.
    pub fn invalid(message: impl Into<String>) -> StoreError {
        StoreError::Invalid(message.into())
    }

    /// Whether retrying later may work (answer 503 with `Retry-After`, not 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// Whether a unique or primary key refused the row.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }

    /// The message, whatever the kind.
    pub fn message(&self) -> &str {
        match self {
            StoreError::Conflict(m)
            | StoreError::NotFound(m)
            | StoreError::Unavailable(m)
            | StoreError::Invalid(m)
            | StoreError::Failed(m) => m,
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode as C;
        let message = format!("SQLite: {e}");
        match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                C::ConstraintViolation
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                {
                    StoreError::Conflict(message)
                }
                C::DatabaseBusy
                | C::DatabaseLocked
                | C::SystemIoFailure
                | C::CannotOpen
                | C::DiskFull
                | C::OutOfMemory
                | C::FileLockingProtocolFailed => StoreError::Unavailable(message),
                _ => StoreError::Failed(message),
            },
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound(message),
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::InvalidColumnIndex(_)
            | rusqlite::Error::InvalidColumnName(_)
            | rusqlite::Error::Utf8Error(..) => StoreError::Invalid(message),
            _ => StoreError::Failed(message),
        }
    }
}

/// Whether a PostgreSQL SQLSTATE says "not now" rather than "not this": connection
/// exceptions (class 08), insufficient resources (53), operator intervention such as a
/// shutdown (57P01–57P05), lock timeouts and the transaction conflicts that a retry resolves.
fn transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code, "55P03" | "40001" | "40P01")
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        // "db error" alone says nothing: the server's own message says what is wrong.
        if let Some(db) = e.as_db_error() {
            let message = format!("PostgreSQL: {}: {}", db.severity(), db.message());
            let code = db.code();
            return if *code == tokio_postgres::error::SqlState::UNIQUE_VIOLATION {
                StoreError::Conflict(message)
            } else if transient(code.code()) {
                StoreError::Unavailable(message)
            } else {
                StoreError::Failed(message)
            };
        }
        let message = format!("PostgreSQL: {e}");
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        // tokio-postgres has no public error kind: its closed connection, connect failure,
        // I/O and timeout are told by `is_closed`, an I/O source, or their fixed wording.
        let text = e.to_string();
        if e.is_closed()
            || io
            || [
                "error connecting",
                "error communicating",
                "timeout",
                "connection closed",
            ]
            .iter()
            .any(|p| text.starts_with(p))
        {
            StoreError::Unavailable(message)
        } else if text.starts_with("query returned an unexpected number of rows") {
            StoreError::NotFound(message)
        } else if text.starts_with("error deserializing") || text.starts_with("invalid column") {
            StoreError::Invalid(message)
        } else {
            StoreError::Failed(message)
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> StoreError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
            // A timeout waiting for a connection, or a closed pool.
            e => StoreError::Unavailable(format!("PostgreSQL: no connection: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes_are_classified() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY); INSERT INTO t VALUES ('a');")
            .expect("table");
        let dup = conn.execute("INSERT INTO t VALUES ('a')", []).unwrap_err();
        assert!(StoreError::from(dup).is_conflict());
        let syntax = conn
            .execute("INSERT INTO nowhere VALUES (1)", [])
            .unwrap_err();
        let e = StoreError::from(syntax);
        assert!(matches!(e, StoreError::Failed(_)), "{e:?}");
        assert!(e.to_string().contains("nowhere"), "{e}");
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(StoreError::from(busy).is_unavailable());
    }

    #[test]
    fn postgres_states_are_classified() {
        assert!(transient("08006") && transient("57P01") && transient("53300"));
        assert!(!transient("23505") && !transient("42P01") && !transient("3D000"));
    }
}
