//! The cluster's per-address session budget (`budget::StoreBudget`): sessions in
//! `target_sessions`, back-offs in `target_backoff`, admission by the
//! `mxtls_target_admission` function (migration 7) under an advisory lock on the address.

use super::Pg;
use crate::store::{Result, StoreError};

/// The budget's answer for an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A session was recorded as started: go.
    Start,
    /// Another session with the address is running: ask again in `wait_ms`.
    Busy { wait_ms: u64 },
    /// The window holds `sessions` already: the oldest leaves it in `wait_ms`.
    Full { wait_ms: u64, sessions: i64 },
    /// The address refused `refusals` times in a row: left alone for `wait_ms`.
    Backoff { wait_ms: u64, refusals: i64 },
}

/// What a session asks for: at most `max` per `window_ms`, a session counting as running
/// for at most `lease_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max: i64,
    pub window_ms: i64,
    pub lease_ms: i64,
}

/// The targets repository.
#[derive(Clone, Copy)]
pub struct Targets<'a> {
    pub(super) pg: Pg<'a>,
}

impl Targets<'_> {
    /// Admits session `id` of `worker` with `ip` at `now` (ms), within `budget`.
    pub async fn admit(
        &self,
        ip: &str,
        id: &str,
        worker: &str,
        now: i64,
        budget: Budget,
    ) -> Result<Admission> {
        let client = self.pg.db.client().await?;
        let row = client
            .query_one(
                "SELECT kind, wait_ms, count FROM mxtls_target_admission($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &ip,
                    &id,
                    &worker,
                    &now,
                    &budget.window_ms,
                    &budget.max,
                    &budget.lease_ms,
                ],
            )
            .await?;
        let kind: String = row.try_get("kind")?;
        let wait_ms = row.try_get::<_, i64>("wait_ms")?.max(0) as u64;
        let count: i64 = row.try_get("count")?;
        Ok(match kind.as_str() {
            "start" => Admission::Start,
            "busy" => Admission::Busy { wait_ms },
            "full" => Admission::Full {
                wait_ms,
                sessions: count,
            },
            "backoff" => Admission::Backoff {
                wait_ms,
                refusals: count,
            },
            other => {
                return Err(StoreError::invalid(format!(
                    "the session budget answered {other:?}"
                )));
            }
        })
    }

    /// Records that session `id` ended at `ended_at`.
    pub async fn end_session(&self, id: &str, ended_at: i64) -> Result<()> {
        let client = self.pg.db.client().await?;
        client
            .execute(
                "UPDATE target_sessions SET ended_at = $2 WHERE id = $1",
                &[&id, &ended_at],
            )
            .await?;
        Ok(())
    }

    /// Counts a refusal by `ip` at `now` and backs it off for `window_ms` × 2^refusals (at
    /// most 2^16, and at most `max_ms`), in one statement, so that concurrent refusals
    /// each count. The refusals in a row, this one included.
    pub async fn refused(&self, ip: &str, now: i64, window_ms: i64, max_ms: i64) -> Result<i64> {
        let client = self.pg.db.client().await?;
        let row = client
            .query_one(
                "INSERT INTO target_backoff AS b (ip, refusals, until_ms)
                     VALUES ($1, 1, $2::BIGINT + LEAST(LEAST($3::BIGINT, $4::BIGINT) * 2, $4::BIGINT))
                 ON CONFLICT (ip) DO UPDATE SET refusals = b.refusals + 1,
                     until_ms = $2::BIGINT + LEAST(LEAST($3::BIGINT, $4::BIGINT)
                         * (1::BIGINT << LEAST(b.refusals + 1, 16)::INT), $4::BIGINT)
                 RETURNING refusals",
                &[&ip, &now, &window_ms.max(0), &max_ms.max(0)],
            )
            .await?;
        Ok(row.try_get("refusals")?)
    }

    /// `ip` served a session: its back-off ends.
    pub async fn served(&self, ip: &str) -> Result<()> {
        let client = self.pg.db.client().await?;
        client
            .execute("DELETE FROM target_backoff WHERE ip = $1", &[&ip])
            .await?;
        Ok(())
    }

    /// A worker whose job's lease ran out by `now` (ms) is dead: the sessions it held are
    /// over, and must not keep those addresses busy for the rest of the cluster.
    pub async fn end_sessions_of_dead_workers(&self, now: i64) -> Result<u64> {
        let client = self.pg.db.client().await?;
        Ok(client
            .execute(
                "UPDATE target_sessions SET ended_at = $1 WHERE ended_at IS NULL AND worker IN
                 (SELECT worker FROM jobs WHERE state = $2 AND lease_until < $1)",
                &[&now, &super::jobs::JobState::Running.as_str()],
            )
            .await?)
    }
}
