//! The cluster's jobs (`cluster`): a row of `jobs` per check, its progress in `job_events`,
//! claimed by workers under a lease kept by the database's clock.

use mxtls_core::Evidence;

use super::Pg;
use crate::store::{Result, StoreError};

/// The notification channel: payload `queued`, or the id of a job with news.
pub const CHANNEL: &str = "mxtls_jobs";

/// Where a job is in its life; `jobs.state` holds [`JobState::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

fn state(text: &str) -> Result<JobState> {
    JobState::parse(text).ok_or_else(|| StoreError::invalid(format!("job state {text:?}")))
}

/// A worker's claim on a job: the job, the worker and the attempt. Every write of the job's
/// progress and outcome is conditional on it (see [`HELD`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: String,
    pub domain: String,
    pub attempt: i64,
    pub worker: String,
    /// Who asked (`ClientKey`'s text): a batch's job is checked with `reuse_first`.
    pub client: String,
}

/// How a claimed job ended.
#[derive(Debug)]
pub enum Outcome<'e> {
    /// With this evidence, stored as the job's snapshot.
    Done(&'e Evidence),
    /// With why.
    Failed(&'e str),
}

/// A client's limits on queuing jobs, counted over the cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimits {
    /// Jobs queued or running at once.
    pub concurrent: i64,
    /// Jobs started in the last minute.
    pub per_minute: i64,
}

/// What [`Jobs::queue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// Queued this new job.
    Created(String),
    /// The domain's job was queued or running already: this one.
    Joined(String),
    /// The client runs its limit of jobs at once.
    ClientBusy,
    /// The client started its limit this minute: wait this many seconds.
    Quota(u64),
    /// The cluster queues its limit of jobs.
    Full,
}

/// A job as a stream reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub state: JobState,
    pub snapshot: Option<String>,
    pub error: Option<String>,
}

/// The database's clock in milliseconds since the Unix epoch, as SQL: leases are set and
/// compared by the one clock every process of the cluster shares, so a worker whose own
/// clock runs late cannot hold a job past its lease.
const DB_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// The condition on a job's row under which a claim may still write (parameters $1 job,
/// $2 worker, $3 attempt): the job is running, this worker's, at this attempt, under a lease
/// that has not run out by the database's clock. For `UPDATE jobs … WHERE` it.
const CLAIMED: &str = "id = $1 AND worker = $2 AND attempts = $3 AND state = 'running'
     AND lease_until >= (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// [`CLAIMED`] as a condition on any other statement (an insert of the job's events), and,
/// spelled with `?N`, on [`crate::store::Store::put_if`] (the job's snapshot).
const HELD: &str = "EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND worker = $2 AND attempts = $3
     AND state = 'running' AND lease_until >= (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)";

/// The jobs repository.
#[derive(Clone, Copy)]
pub struct Jobs<'a> {
    pub(super) pg: Pg<'a>,
}

impl Jobs<'_> {
    /// The queued or running job of `domain`.
    pub async fn active(&self, domain: &str) -> Result<Option<String>> {
        let client = self.pg.db.client().await?;
        let row = client
            .query_opt(
                "SELECT id FROM jobs WHERE domain = $1 AND state IN ($2, $3)",
                &[
                    &domain,
                    &JobState::Queued.as_str(),
                    &JobState::Running.as_str(),
                ],
            )
            .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Joins the queued or running job of `domain`, or queues one as `client`'s — within
    /// `limits` when given, and while fewer than `max_queued` are queued or running. One
    /// transaction under an advisory lock on the client: two instances cannot both admit a
    /// client's last allowed job. A new job is announced on [`CHANNEL`] as it commits.
    pub async fn queue(
        &self,
        domain: &str,
        client_key: &str,
        now: i64,
        limits: Option<ClientLimits>,
        max_queued: i64,
    ) -> Result<Queued> {
        let (queued, running) = (JobState::Queued.as_str(), JobState::Running.as_str());
        let mut client = self.pg.db.client().await?;
        let tx = client.transaction().await?;
        let joined = |row: Option<tokio_postgres::Row>| -> Result<Option<String>> {
            Ok(row.map(|r| r.try_get("id")).transpose()?)
        };
        let active = "SELECT id FROM jobs WHERE domain = $1 AND state IN ($2, $3)";
        if let Some(id) = joined(tx.query_opt(active, &[&domain, &queued, &running]).await?)? {
            return Ok(Queued::Joined(id));
        }
        if let Some(limits) = limits {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('mxtls-client:' || $1))",
                &[&client_key],
            )
            .await?;
            let mine: i64 = tx
                .query_one(
                    "SELECT COUNT(*) AS n FROM jobs WHERE client = $1 AND state IN ($2, $3)",
                    &[&client_key, &queued, &running],
                )
                .await?
                .try_get("n")?;
            if mine >= limits.concurrent {
                return Ok(Queued::ClientBusy);
            }
            let minute = tx
                .query_one(
                    "SELECT COUNT(*) AS n, COALESCE(MIN(created_at), 0) AS oldest FROM jobs
                     WHERE client = $1 AND created_at > $2",
                    &[&client_key, &(now - 60_000)],
                )
                .await?;
            let (n, oldest): (i64, i64) = (minute.try_get("n")?, minute.try_get("oldest")?);
            if n >= limits.per_minute {
                return Ok(Queued::Quota(((oldest + 60_000 - now) / 1000).max(1) as u64));
            }
        }
        let all: i64 = tx
            .query_one(
                "SELECT COUNT(*) AS n FROM jobs WHERE state IN ($1, $2)",
                &[&queued, &running],
            )
            .await?
            .try_get("n")?;
        if all >= max_queued {
            return Ok(Queued::Full);
        }
        let id = crate::ids::random_id()
            .ok_or_else(|| StoreError::failed("no randomness for a job id"))?;
        // A concurrent request for the domain may win the unique index: then join its job.
        let inserted = tx
            .execute(
                "INSERT INTO jobs (id, domain, client, state, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
                &[&id, &domain, &client_key, &queued, &now],
            )
            .await?;
        let answer = if inserted == 1 {
            tx.execute("SELECT pg_notify($1, 'queued')", &[&CHANNEL])
                .await?;
            Queued::Created(id)
        } else {
            match joined(tx.query_opt(active, &[&domain, &queued, &running]).await?)? {
                Some(id) => Queued::Joined(id),
                None => return Err(StoreError::failed("the job vanished as it was queued")),
            }
        };
        tx.commit().await?;
        Ok(answer)
    }

    /// Jobs running, and jobs queued or running.
    pub async fn load(&self) -> Result<(i64, i64)> {
        let client = self.pg.db.client().await?;
        let row = client
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE state = $1) AS running,
                        COUNT(*) FILTER (WHERE state IN ($1, $2)) AS active
                 FROM jobs WHERE state IN ($1, $2)",
                &[&JobState::Running.as_str(), &JobState::Queued.as_str()],
            )
            .await?;
        Ok((row.try_get("running")?, row.try_get("active")?))
    }

    /// The job's state, snapshot and error.
    pub async fn view(&self, job: &str) -> Result<Option<JobView>> {
        let client = self.pg.db.client().await?;
        let Some(row) = client
            .query_opt(
                "SELECT state, snapshot, error FROM jobs WHERE id = $1",
                &[&job],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(JobView {
            state: state(row.try_get("state")?)?,
            snapshot: row.try_get("snapshot")?,
            error: row.try_get("error")?,
        }))
    }

    /// The job's events after `seq`, in order: (seq, event).
    pub async fn events_after(&self, job: &str, seq: i64) -> Result<Vec<(i64, String)>> {
        let client = self.pg.db.client().await?;
        client
            .query(
                "SELECT seq, event FROM job_events WHERE job = $1 AND seq > $2 ORDER BY seq",
                &[&job, &seq],
            )
            .await?
            .iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("event")?)))
            .collect()
    }

    /// Tells every instance and worker on [`CHANNEL`]: `queued`, or a job id with news.
    pub async fn announce(&self, payload: &str) -> Result<()> {
        let client = self.pg.db.client().await?;
        client
            .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
            .await?;
        Ok(())
    }

    /// Claims, for `worker` with a lease of `lease_ms`, the oldest job that is queued, or
    /// running under a lease that ran out.
    pub async fn claim(&self, worker: &str, lease_ms: i64) -> Result<Option<Claim>> {
        let client = self.pg.db.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE jobs SET state = $3, worker = $1, lease_until = {DB_NOW_MS} + $2,
                         attempts = attempts + 1
                     WHERE id = (SELECT id FROM jobs
                                 WHERE state = $4 OR (state = $3 AND lease_until < {DB_NOW_MS})
                                 ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING id, domain, attempts, client"
                ),
                &[
                    &worker,
                    &lease_ms,
                    &JobState::Running.as_str(),
                    &JobState::Queued.as_str(),
                ],
            )
            .await?;
        row.map(|r| {
            Ok(Claim {
                id: r.try_get("id")?,
                domain: r.try_get("domain")?,
                attempt: r.try_get("attempts")?,
                worker: worker.to_owned(),
                client: r.try_get("client")?,
            })
        })
        .transpose()
    }

    /// Extends the claim's lease to `lease_ms` from now; `false` once the claim is lost.
    pub async fn renew(&self, claim: &Claim, lease_ms: i64) -> Result<bool> {
        let client = self.pg.db.client().await?;
        let n = client
            .execute(
                &format!("UPDATE jobs SET lease_until = {DB_NOW_MS} + $4 WHERE {CLAIMED}"),
                &[&claim.id, &claim.worker, &claim.attempt, &lease_ms],
            )
            .await?;
        Ok(n > 0)
    }

    /// Appends event `seq` while the claim holds; `false` when it was not written.
    pub async fn append_event(&self, claim: &Claim, seq: i64, event: &str) -> Result<bool> {
        let client = self.pg.db.client().await?;
        let n = client
            .execute(
                &format!(
                    "INSERT INTO job_events (job, seq, event) SELECT $1::TEXT, $4::BIGINT, $5::TEXT
                     WHERE {HELD}
                     ON CONFLICT DO NOTHING"
                ),
                &[&claim.id, &claim.worker, &claim.attempt, &seq, &event],
            )
            .await?;
        Ok(n > 0)
    }

    /// Ends the claimed job: `done` with its snapshot, or `failed` with why; `false` when
    /// the claim no longer holds (nothing written). The snapshot is stored only while the
    /// claim holds, in the statement that checks it, so a stale worker's evidence never
    /// becomes the domain's latest.
    pub async fn finish(&self, claim: &Claim, outcome: Outcome<'_>) -> Result<bool> {
        let (end, column, value) = match outcome {
            Outcome::Done(evidence) => {
                let held = crate::params![claim.id.as_str(), claim.worker.as_str(), claim.attempt];
                let held_q = HELD.replace('$', "?");
                let Some(id) = self.pg.store.put_if(evidence, &held_q, held).await? else {
                    return Ok(false);
                };
                (JobState::Done, "snapshot", id.as_str().to_owned())
            }
            Outcome::Failed(why) => (JobState::Failed, "error", why.to_owned()),
        };
        let sql =
            format!("UPDATE jobs SET state = $5, {column} = $4, lease_until = 0 WHERE {CLAIMED}");
        let client = self.pg.db.client().await?;
        let n = client
            .execute(
                &sql,
                &[
                    &claim.id,
                    &claim.worker,
                    &claim.attempt,
                    &value,
                    &end.as_str(),
                ],
            )
            .await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::JobState;

    #[test]
    fn job_states_read_back_as_written() {
        for s in [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
        ] {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobState::parse("Queued"), None);
        assert_eq!(JobState::parse(""), None);
    }
}
