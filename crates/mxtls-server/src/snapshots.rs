//! Snapshots: the evidence of one run, stored once and named by the hash of its canonical
//! bytes, so the same evidence always has the same link (whichever instance stored it).

use mxtls_core::Evidence;
use sha2::{Digest, Sha256};

use crate::params;
use crate::store::{Result, Row, StoreError};

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

/// A stored snapshot.
pub struct Snapshot {
    pub id: SnapshotId,
    pub domain: String,
    /// The evidence as stored (canonical JSON).
    pub evidence: Vec<u8>,
}

pub use crate::store::Store;

fn snapshot(domain: &str, row: &Row) -> Result<Snapshot> {
    Ok(Snapshot {
        id: SnapshotId(row.text("id")?),
        domain: domain.to_owned(),
        evidence: row.bytes("evidence")?,
    })
}

impl Store {
    /// Stores `evidence` (once) and returns its id.
    pub async fn put(&self, evidence: &Evidence) -> Result<SnapshotId> {
        self.put_if(evidence, "1 = 1", Vec::new())
            .await?
            .ok_or_else(|| StoreError::failed("the snapshot was not stored"))
    }

    /// [`Store::put`] only while the SQL condition `held` (its parameters `?1`… in
    /// `held_params`) is true, checked in the statement that inserts, so that a writer whose
    /// right to write has ended (a cluster worker past its lease) stores nothing: `None`.
    pub async fn put_if(
        &self,
        evidence: &Evidence,
        held: &str,
        mut held_params: Vec<crate::store::Value>,
    ) -> Result<Option<SnapshotId>> {
        let bytes = serde_json::to_vec(evidence)
            .map_err(|e| StoreError::failed(format!("the evidence does not serialise: {e}")))?;
        let digest = Sha256::digest(&bytes);
        let id: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let n = held_params.len();
        let check_params = held_params.clone();
        held_params.extend(params![
            id.as_str(),
            evidence.domain.as_str(),
            evidence.probe.finished_at.0,
            bytes
        ]);
        let inserted = self
            .execute(
                &format!(
                    "INSERT INTO snapshots (id, domain, finished_at, evidence)
                     SELECT CAST(?{} AS TEXT), CAST(?{} AS TEXT), CAST(?{} AS BIGINT),
                         CAST(?{} AS {}) WHERE {held}
                     ON CONFLICT DO NOTHING",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    self.blob_type(),
                ),
                held_params,
            )
            .await?;
        // Nothing inserted: the same evidence is stored already, or the right has ended.
        if inserted == 0
            && self
                .number(
                    &format!("SELECT CASE WHEN {held} THEN 1 ELSE 0 END"),
                    check_params,
                )
                .await?
                == 0
        {
            return Ok(None);
        }
        // The addresses this check ran sessions with (not those it reused), for reuse.
        for host in &evidence.hosts {
            for a in host
                .addresses
                .iter()
                .filter(|a| a.reused.is_none() && !a.sessions.is_empty())
            {
                self.execute(
                    "INSERT INTO address_sessions (ip, snapshot, finished_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![a.ip.to_string(), id.as_str(), evidence.probe.finished_at.0],
                )
                .await?;
            }
        }
        Ok(Some(SnapshotId(id)))
    }

    /// The newest sessions with `ip` from a check that finished at `not_before` or later.
    pub async fn recent_sessions(
        &self,
        ip: std::net::IpAddr,
        not_before: i64,
    ) -> Result<Option<mxtls_probe::budget::Recent>> {
        self.recent_address(ip, not_before, 1, |_| true).await
    }

    /// The newest sessions with `ip` that hold a whole posture, from a check that finished at
    /// `not_before` or later (among the address's last few checks: one without a posture is
    /// usually followed by one with it).
    pub async fn recent_posture(
        &self,
        ip: std::net::IpAddr,
        not_before: i64,
    ) -> Result<Option<mxtls_probe::budget::Recent>> {
        self.recent_address(ip, not_before, 8, |a| {
            a.posture
                .as_ref()
                .is_some_and(mxtls_core::evidence::PostureEvidence::is_whole)
        })
        .await
    }

    /// The newest of `ip`'s last `among` checks since `not_before` whose address evidence
    /// passes `wanted`.
    async fn recent_address(
        &self,
        ip: std::net::IpAddr,
        not_before: i64,
        among: i64,
        wanted: impl Fn(&mxtls_core::evidence::AddressEvidence) -> bool,
    ) -> Result<Option<mxtls_probe::budget::Recent>> {
        let rows = self
            .query(
                "SELECT snapshot FROM address_sessions WHERE ip = ?1 AND finished_at >= ?2
                 ORDER BY finished_at DESC LIMIT ?3",
                params![ip.to_string(), not_before, among],
            )
            .await?;
        for row in rows {
            let Some(id) = SnapshotId::parse(&row.text("snapshot")?) else {
                continue;
            };
            let Some(snap) = self.get(&id).await? else {
                continue;
            };
            let evidence = Evidence::from_json(&String::from_utf8_lossy(&snap.evidence))
                .map_err(|e| StoreError::failed(format!("snapshot {}: {e}", id.as_str())))?;
            let found = evidence.hosts.iter().find_map(|h| {
                h.addresses
                    .iter()
                    .find(|a| {
                        a.ip == ip && a.reused.is_none() && !a.sessions.is_empty() && wanted(a)
                    })
                    .map(|a| mxtls_probe::budget::Recent {
                        evidence: a.clone(),
                        host: h.name.clone(),
                        snapshot: id.as_str().to_owned(),
                        gathered_at: evidence.probe.finished_at,
                    })
            });
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    pub async fn get(&self, id: &SnapshotId) -> Result<Option<Snapshot>> {
        let row = self
            .query_opt(
                "SELECT id, evidence, domain FROM snapshots WHERE id = ?1",
                params![id.as_str()],
            )
            .await?;
        row.map(|r| snapshot(&r.text("domain")?, &r)).transpose()
    }

    /// The snapshots of `domain`, newest first: at most `limit`, with when each finished.
    pub async fn history(&self, domain: &str, limit: usize) -> Result<Vec<(Snapshot, i64)>> {
        self.query(
            "SELECT id, evidence, finished_at FROM snapshots WHERE domain = ?1
             ORDER BY finished_at DESC, id LIMIT ?2",
            params![domain, limit as i64],
        )
        .await?
        .iter()
        .map(|r| Ok((snapshot(domain, r)?, r.int("finished_at")?)))
        .collect()
    }

    /// The newest snapshot of `domain`.
    pub async fn latest(&self, domain: &str) -> Result<Option<Snapshot>> {
        let row = self
            .query_opt(
                "SELECT id, evidence FROM snapshots WHERE domain = ?1
                 ORDER BY finished_at DESC, id LIMIT 1",
                params![domain],
            )
            .await?;
        row.map(|r| snapshot(domain, &r)).transpose()
    }
}
