//! Snapshots: the evidence of one run, stored once in SQLite and named by the hash of its
//! canonical bytes, so the same evidence always has the same link. WAL with synchronous=FULL:
//! once `put` returns, the snapshot survives a killed server.

use std::path::Path;
use std::sync::Mutex;

use mxtls_core::Evidence;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// A snapshot id: 32 lower-case hex digits (128 bits of SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotId(String);

impl SnapshotId {
    /// Accepts only well-formed ids, so that nothing else reaches the database.
    pub fn parse(text: &str) -> Option<SnapshotId> {
        (text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| SnapshotId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The snapshot store.
pub struct Store {
    conn: Mutex<Connection>,
}

/// A stored snapshot.
pub struct Snapshot {
    pub id: SnapshotId,
    pub domain: String,
    /// The evidence as stored (canonical JSON).
    pub evidence: Vec<u8>,
}

impl Store {
    /// Opens (or creates) the store at `path`; `:memory:` for a throwaway one.
    pub fn open(path: &Path) -> rusqlite::Result<Store> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS snapshots (
                 id TEXT PRIMARY KEY,
                 domain TEXT NOT NULL,
                 finished_at INTEGER NOT NULL,
                 evidence BLOB NOT NULL
             );
             CREATE INDEX IF NOT EXISTS snapshots_by_domain ON snapshots (domain, finished_at);",
        )?;
        crate::watches::create_tables(&conn)?;
        crate::tls_reports::create_tables(&conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent: keep going.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `evidence` (once) and returns its id.
    pub fn put(&self, evidence: &Evidence) -> rusqlite::Result<SnapshotId> {
        let bytes = serde_json::to_vec(evidence)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let digest = Sha256::digest(&bytes);
        let id: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.conn().execute(
            "INSERT OR IGNORE INTO snapshots (id, domain, finished_at, evidence) VALUES (?1, ?2, ?3, ?4)",
            params![id, evidence.domain.as_str(), evidence.probe.finished_at.0, bytes],
        )?;
        Ok(SnapshotId(id))
    }

    pub fn get(&self, id: &SnapshotId) -> rusqlite::Result<Option<Snapshot>> {
        self.conn()
            .query_row(
                "SELECT domain, evidence FROM snapshots WHERE id = ?1",
                params![id.0],
                |row| {
                    Ok(Snapshot {
                        id: id.clone(),
                        domain: row.get(0)?,
                        evidence: row.get(1)?,
                    })
                },
            )
            .optional()
    }

    /// The snapshots of `domain`, newest first: at most `limit`, with when each finished.
    pub fn history(&self, domain: &str, limit: usize) -> rusqlite::Result<Vec<(Snapshot, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, evidence, finished_at FROM snapshots WHERE domain = ?1 ORDER BY finished_at DESC, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![domain, limit as i64], |row| {
            Ok((
                Snapshot {
                    id: SnapshotId(row.get(0)?),
                    domain: domain.to_owned(),
                    evidence: row.get(1)?,
                },
                row.get(2)?,
            ))
        })?;
        rows.collect()
    }

    /// The newest snapshot of `domain`.
    pub fn latest(&self, domain: &str) -> rusqlite::Result<Option<Snapshot>> {
        self.conn()
            .query_row(
                "SELECT id, evidence FROM snapshots WHERE domain = ?1 ORDER BY finished_at DESC LIMIT 1",
                params![domain],
                |row| Ok(Snapshot { id: SnapshotId(row.get(0)?), domain: domain.to_owned(), evidence: row.get(1)? }),
            )
            .optional()
    }
}
