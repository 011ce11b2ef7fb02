//! Batches: an operator's portfolio of domains (`POST /api/batches`, with an API token),
//! checked through the same check runner and queue as people's checks — by this instance's
//! batch worker, or every instance's in a cluster, each item claimed in the store so that
//! one instance checks it — while people keep priority: a worker starts a batch check only
//! while more than half of the checker's slots are free. Each domain's row is the core's
//! `batch::Row`, kept in the store; results as JSON lines or CSV (`api`).
//!
//! A mail server shared by many domains of a batch is not probed once per domain: over its
//! per-address budget, a check reuses the sessions another domain's check saw there a
//! moment ago, when the server reuses sessions at all (`--target-reuse`, which a server
//! that takes batches should set).

pub mod api;

use std::sync::Arc;
use std::time::Duration;

use mxtls_core::batch::{self, Row, portfolio};
use serde::{Deserialize, Serialize};

use crate::App;
use crate::clock::now_ms;
use crate::params;
use crate::runner::Asker;
use crate::store::{Result, Step, Store};

/// Domains one batch takes.
pub const MAX_DOMAINS: usize = 100_000;
/// Batch checks one instance runs at once, at most: never more than the checker's free
/// slots beyond half of them (people keep the other half), so `--max-checks` is what scales
/// a batch on one instance, and workers' slots in a cluster.
pub const PARALLEL: usize = 64;
/// A claimed item whose instance has not finished it within this is claimed again (an
/// instance that stopped mid-check).
const CLAIM: Duration = Duration::from_secs(15 * 60);
/// Rows inserted by one statement.
const CHUNK: usize = 400;

/// `POST /api/batches`'s body.
#[derive(Debug, Clone, Deserialize)]
pub struct NewBatch {
    pub name: String,
    pub domains: Vec<String>,
}

/// A batch's progress, as `GET /api/batches/{id}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub id: String,
    pub name: String,
    pub operator: String,
    pub created_at: i64,
    pub total: i64,
    pub done: i64,
    /// Rows by state (`summary.status`'s, or `error`), every state, zeros included.
    pub counts: Vec<(String, i64)>,
}

/// Stores a new batch for `operator`: its domains in order, each once; a line that is not a
/// domain is an `error` row at once. `Err` with the reason for a body that is not a batch.
pub async fn create(
    store: &Store,
    operator: &str,
    new: NewBatch,
) -> std::result::Result<Progress, CreateError> {
    let name: String = new.name.trim().chars().take(200).collect();
    if new.domains.is_empty() || new.domains.len() > MAX_DOMAINS {
        return Err(CreateError::Invalid(format!(
            "a batch takes 1 to {MAX_DOMAINS} domains, not {}",
            new.domains.len()
        )));
    }
    let id = crate::ids::random_id()
        .ok_or_else(|| CreateError::Invalid("no randomness for an id".into()))?;
    let now_ms = now_ms();
    let now = now_ms / 1000;
    let mut seen = std::collections::HashSet::new();
    let mut items: Vec<(String, Option<Row>)> = Vec::new();
    for d in &new.domains {
        match mxtls_core::names::parse_user_domain(d) {
            Ok(name) => {
                if seen.insert(name.clone()) {
                    items.push((name.to_string(), None));
                }
            }
            Err(e) => {
                let shown: String = d.chars().take(253).collect();
                items.push((shown.clone(), Some(batch::failed(&shown, &e))));
            }
        }
    }
    let mut steps = vec![Step {
        sql: "INSERT INTO batches (id, operator, name, created_at, created_ms, total)
              VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            .into(),
        params: params![
            id.as_str(),
            operator,
            name.as_str(),
            now,
            now_ms,
            items.len() as i64
        ],
        must_change: true,
    }];
    for (n, chunk) in items.chunks(CHUNK).enumerate() {
        let mut sql = String::from(
            "INSERT INTO batch_items (batch, position, domain, state, row_status, row_json) VALUES ",
        );
        let mut values = Vec::new();
        for (i, (domain, row)) in chunk.iter().enumerate() {
            let k = values.len();
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
                k + 1,
                k + 2,
                k + 3,
                k + 4,
                k + 5,
                k + 6
            ));
            let position = (n * CHUNK + i) as i64;
            let (state, status, json) = match row {
                Some(r) => (
                    "done",
                    Some(r.status.clone()),
                    serde_json::to_string(r).ok(),
                ),
                None => ("queued", None, None),
            };
            values.extend(params![
                id.as_str(),
                position,
                domain.as_str(),
                state,
                status,
                json
            ]);
        }
        steps.push(Step {
            sql,
            params: values,
            must_change: true,
        });
    }
    store.atomically(steps).await.map_err(CreateError::Store)?;
    progress(store, &id)
        .await
        .map_err(CreateError::Store)?
        .ok_or_else(|| CreateError::Invalid("the batch was not stored".into()))
}

/// Why a batch was not made.
#[derive(Debug)]
pub enum CreateError {
    Invalid(String),
    Store(crate::store::StoreError),
}

/// A batch's progress, if there is one with `id`.
pub async fn progress(store: &Store, id: &str) -> Result<Option<Progress>> {
    let Some(b) = store
        .query_opt(
            "SELECT id, operator, name, created_at, total FROM batches WHERE id = ?1",
            params![id],
        )
        .await?
    else {
        return Ok(None);
    };
    let by_state = store
        .query(
            "SELECT row_status, COUNT(*) AS n FROM batch_items
             WHERE batch = ?1 AND state = 'done' GROUP BY row_status",
            params![id],
        )
        .await?;
    let count = |state: &str| {
        by_state
            .iter()
            .filter(|r| r.opt_text("row_status").ok().flatten().as_deref() == Some(state))
            .filter_map(|r| r.int("n").ok())
            .sum::<i64>()
    };
    let counts: Vec<(String, i64)> = batch::STATES
        .iter()
        .map(|s| ((*s).to_owned(), count(s)))
        .collect();
    let done = counts.iter().map(|(_, n)| n).sum();
    Ok(Some(Progress {
        id: b.text("id")?,
        name: b.text("name")?,
        operator: b.text("operator")?,
        created_at: b.int("created_at")?,
        total: b.int("total")?,
        done,
        counts,
    }))
}

/// The rows done so far, in the batch's order.
pub async fn rows(store: &Store, id: &str) -> Result<Vec<Row>> {
    Ok(rows_json(store, id)
        .await?
        .iter()
        .filter_map(|t| serde_json::from_str(t).ok())
        .collect())
}

/// The rows done so far as stored (the core's `Row` as JSON), in the batch's order.
async fn rows_json(store: &Store, id: &str) -> Result<Vec<String>> {
    let found = store
        .query(
            "SELECT row_json FROM batch_items WHERE batch = ?1 AND state = 'done'
             ORDER BY position",
            params![id],
        )
        .await?;
    Ok(found
        .iter()
        .filter_map(|r| r.opt_text("row_json").ok().flatten())
        .collect())
}

impl Progress {
    fn run(&self) -> portfolio::Run {
        portfolio::Run {
            id: self.id.clone(),
            name: self.name.clone(),
            created_at: self.created_at,
            total: self.total,
            done: self.done,
            counts: self.counts.clone(),
        }
    }
}

/// The portfolio page's data for `batch` (`portfolio::Answer` as JSON): the runs of its list
/// (its operator's batches of the same name, up to this one), its rows and the previous
/// run's. Written from the stored rows as they are, so a list of 100,000 domains is not
/// parsed and written again.
pub async fn portfolio(store: &Store, batch: &Progress) -> Result<String> {
    let made = store
        .query_opt(
            "SELECT COALESCE(created_ms, created_at * 1000) AS made FROM batches WHERE id = ?1",
            params![batch.id.as_str()],
        )
        .await?
        .map(|r| r.int("made"))
        .transpose()?
        .unwrap_or(batch.created_at * 1000);
    let earlier = store
        .query(
            "SELECT id FROM batches WHERE operator = ?1 AND name = ?2
             AND COALESCE(created_ms, created_at * 1000) < ?3
             ORDER BY COALESCE(created_ms, created_at * 1000) DESC LIMIT ?4",
            params![
                batch.operator.as_str(),
                batch.name.as_str(),
                made,
                (portfolio::RUNS - 1) as i64
            ],
        )
        .await?;
    let mut runs = Vec::new();
    for r in earlier.iter().rev() {
        if let Some(p) = progress(store, &r.text("id")?).await? {
            runs.push(p.run());
        }
    }
    let previous = match runs.last() {
        Some(run) => Some((run.clone(), rows_json(store, &run.id).await?)),
        None => None,
    };
    runs.push(batch.run());
    let rows = rows_json(store, &batch.id).await?;
    let mut out = format!(
        "{{\"batch\":{},\"runs\":{},\"rows\":[{}]",
        json(&batch.run()),
        json(&runs),
        rows.join(",")
    );
    match previous {
        Some((run, rows)) => out.push_str(&format!(
            ",\"previous\":{{\"id\":{},\"created_at\":{},\"rows\":[{}]}}}}",
            json(&run.id),
            run.created_at,
            rows.join(",")
        )),
        None => out.push_str(",\"previous\":null}"),
    }
    Ok(out)
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Checks batch items for as long as the server runs: claims queued ones while more than
/// half of the checker's slots are free, at most [`PARALLEL`] at once. With no room it waits
/// for one of its checks to end (or a moment, for people's checks to end); with nothing
/// queued, a second.
pub async fn work_forever(app: Arc<App>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let ended = Arc::new(tokio::sync::Notify::new());
    loop {
        let load = app.runner.load().await;
        let reserve = (load.running + load.free) / 2;
        let room = load
            .free
            .saturating_sub(reserve)
            .min(slots.available_permits());
        let claimed = if room > 0 {
            claim(&app.store, room).await.unwrap_or_default()
        } else {
            Vec::new()
        };
        let (none, full) = (claimed.is_empty(), room == 0);
        for (batch, position, domain) in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (app, ended) = (app.clone(), ended.clone());
            tokio::spawn(async move {
                match check(&app, &domain).await {
                    Some(row) => {
                        let _ = finish(&app.store, &batch, position, &row).await;
                    }
                    // The checker was full after all: the item waits for the next round.
                    None => {
                        let _ = release(&app.store, &batch, position).await;
                    }
                }
                drop(permit);
                ended.notify_one();
            });
        }
        if full {
            let _ = tokio::time::timeout(Duration::from_millis(250), ended.notified()).await;
        } else if none {
            tokio::time::sleep(Duration::from_secs(1)).await;
        } else {
            // The checks just claimed take their slots before the next look at the load.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Claims up to `n` items: queued ones, and running ones whose claim has run out.
async fn claim(store: &Store, n: usize) -> Result<Vec<(String, i64, String)>> {
    let now = now_ms() / 1000;
    let stale = now - CLAIM.as_secs() as i64;
    let candidates = store
        .query(
            "SELECT batch, position, domain, state, claimed_at FROM batch_items
             WHERE state = 'queued' OR (state = 'running' AND claimed_at < ?1)
             ORDER BY batch, position LIMIT ?2",
            params![stale, n as i64],
        )
        .await?;
    let mut claimed = Vec::new();
    for c in candidates {
        let (batch, position, domain) = (c.text("batch")?, c.int("position")?, c.text("domain")?);
        let won = store
            .atomically(vec![Step {
                sql: "UPDATE batch_items SET state = 'running', claimed_at = ?1
                      WHERE batch = ?2 AND position = ?3
                      AND (state = 'queued' OR (state = 'running' AND claimed_at < ?4))"
                    .into(),
                params: params![now, batch.as_str(), position, stale],
                must_change: true,
            }])
            .await?;
        if won {
            claimed.push((batch, position, domain));
        }
    }
    Ok(claimed)
}

/// One item checked through the runner, judged into its row; `None` when the checker had
/// no room for it after all (or is stopping): it is to be tried again.
async fn check(app: &Arc<App>, domain: &str) -> Option<Row> {
    let Ok(name) = mxtls_core::names::DnsName::parse(domain) else {
        return Some(batch::failed(domain, "not a domain name"));
    };
    let answer = match app.runner.check(name, Asker::Batch).await {
        Ok(frames) => crate::runner::last_answer(frames).await,
        Err(crate::runner::Refused::Limit(_) | crate::runner::Refused::ShuttingDown) => {
            return None;
        }
        Err(refused) => Err(format!("not started: {refused:?}")),
    };
    Some(match answer {
        Ok(Some(a)) => {
            let report = mxtls_core::analyse(&a.evidence, a.evidence.probe.finished_at);
            batch::row(&report, &a.evidence, Some(a.snapshot))
        }
        Ok(None) => batch::failed(domain, "the check gave no evidence"),
        Err(why) => batch::failed(domain, &why),
    })
}

async fn release(store: &Store, batch: &str, position: i64) -> Result<()> {
    store
        .execute(
            "UPDATE batch_items SET state = 'queued' WHERE batch = ?1 AND position = ?2",
            params![batch, position],
        )
        .await
        .map(|_| ())
}

async fn finish(store: &Store, batch: &str, position: i64, row: &Row) -> Result<()> {
    let json = serde_json::to_string(row).unwrap_or_default();
    store
        .execute(
            "UPDATE batch_items SET state = 'done', row_status = ?1, row_json = ?2
             WHERE batch = ?3 AND position = ?4",
            params![row.status.as_str(), json, batch, position],
        )
        .await
        .map(|_| ())
}
