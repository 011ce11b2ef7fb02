//! The per-target session budget of a whole cluster: the counts of [`mxtls_probe::budget`]
//! kept in the shared PostgreSQL store, so that however many workers probe, a tested address
//! sees at most the budget's sessions per window and one at a time.
//!
//! Admission is one call of the `mxtls_target_admit` function (migration 3), which takes a
//! transaction-scoped advisory lock on the address, so two workers cannot both see a free
//! slot. A session is a row of `target_sessions`; it ends when its permit is dropped, and a
//! row a killed worker never ended is ended when its job is taken again (`cluster`), and
//! stops counting as running after [`SESSION_LEASE`] in any case.
//! Refusals (`421`, connection refused) back the address off for everyone in
//! `target_backoff`.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mxtls_probe::budget::{Admission, MAX_BACKOFF, Outcome, Permit, TargetBudget};

use crate::clock::now_ms;
use crate::params;
use crate::snapshots::Store;

/// How long a session row counts as running without being ended: longer than any session
/// may take (the probe's deadline is at most 600 s).
pub const SESSION_LEASE: Duration = Duration::from_secs(660);

/// The cluster's budget.
pub struct StoreBudget {
    store: Arc<Store>,
    /// Whose sessions these are (`cluster::WorkerConfig::name`): a dead worker's are ended
    /// when its job is taken again.
    worker: String,
    sessions: usize,
    window: Duration,
}

impl std::fmt::Debug for StoreBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBudget")
            .field("sessions", &self.sessions)
            .field("window", &self.window)
            .finish()
    }
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl StoreBudget {
    /// At most `sessions` per address in any `window`, one at a time, over every process
    /// that uses `store` (PostgreSQL).
    pub fn new(store: Arc<Store>, worker: &str, sessions: usize, window: Duration) -> StoreBudget {
        StoreBudget {
            store,
            worker: worker.to_owned(),
            sessions: sessions.max(1),
            window,
        }
    }

    async fn decide(&self, ip: IpAddr) -> Admission {
        let Some(id) = crate::watches::random_id() else {
            return Admission::Wait {
                wait: Duration::from_secs(1),
                reason: "no randomness for a session id".into(),
            };
        };
        let answer = self
            .store
            .query_opt(
                "SELECT mxtls_target_admit(?1, ?2, ?3, ?4, ?5, ?6, ?7) AS answer",
                params![
                    ip.to_string(),
                    id.as_str(),
                    self.worker.as_str(),
                    now_ms(),
                    ms(self.window),
                    self.sessions as i64,
                    ms(SESSION_LEASE)
                ],
            )
            .await
            .and_then(|r| r.map(|r| r.text("answer")).transpose());
        let text = match answer {
            Ok(Some(t)) => t,
            Ok(None) => String::new(),
            Err(e) => {
                return Admission::Wait {
                    wait: Duration::from_secs(1),
                    reason: format!("the cluster's session budget could not be read ({e})"),
                };
            }
        };
        let mut words = text.split(' ');
        let kind = words.next().unwrap_or("");
        let wait = words
            .next()
            .and_then(|w| w.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(1));
        let n = words.next().unwrap_or("?");
        match kind {
            "start" => {
                let store = self.store.clone();
                Admission::Start(Permit::new(move || {
                    if let Ok(rt) = tokio::runtime::Handle::try_current() {
                        rt.spawn(end_session(store, id, now_ms()));
                    }
                }))
            }
            "busy" => Admission::Wait {
                wait,
                reason: format!(
                    "another session with {ip} is running in the cluster: one at a time"
                ),
            },
            "full" => Admission::Wait {
                wait,
                reason: format!(
                    "{n} sessions with {ip} in the last {} s across the cluster, the most it opens to one address",
                    self.window.as_secs()
                ),
            },
            "backoff" => Admission::Wait {
                wait,
                reason: format!(
                    "{ip} refused or limited the cluster {n} time(s) in a row; leaving it alone for a while"
                ),
            },
            other => Admission::Wait {
                wait: Duration::from_secs(1),
                reason: format!("the cluster's session budget answered {other:?}"),
            },
        }
    }
}

impl TargetBudget for StoreBudget {
    fn admit(&self, ip: IpAddr) -> Pin<Box<dyn Future<Output = Admission> + Send + '_>> {
        Box::pin(self.decide(ip))
    }

    fn finished(&self, ip: IpAddr, outcome: Outcome) {
        let (store, window) = (self.store.clone(), self.window);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let ip = ip.to_string();
            let _ = match outcome {
                Outcome::Refused => {
                    let refusals = match store
                        .query_opt(
                            "SELECT refusals FROM target_backoff WHERE ip = ?1",
                            params![ip.as_str()],
                        )
                        .await
                    {
                        Ok(Some(r)) => r.int("refusals").unwrap_or(0),
                        _ => 0,
                    } + 1;
                    let backoff = window
                        .saturating_mul(2u32.saturating_pow(refusals.clamp(0, 16) as u32))
                        .min(MAX_BACKOFF);
                    store
                        .execute(
                            "INSERT INTO target_backoff (ip, refusals, until_ms) VALUES (?1, ?2, ?3)
                             ON CONFLICT (ip) DO UPDATE SET refusals = ?2, until_ms = ?3",
                            params![ip.as_str(), refusals, now_ms() + ms(backoff)],
                        )
                        .await
                }
                Outcome::Served => {
                    store
                        .execute(
                            "DELETE FROM target_backoff WHERE ip = ?1",
                            params![ip.as_str()],
                        )
                        .await
                }
                Outcome::Other => Ok(0),
            };
        });
    }
}

/// Recent sessions from the store, for checks over an address's budget
/// (`mxtls_probe::budget::RecentEvidence`): at most `max_age` old.
pub struct StoreRecent {
    pub store: Arc<Store>,
    pub max_age: Duration,
}

impl std::fmt::Debug for StoreRecent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreRecent")
            .field("max_age", &self.max_age)
            .finish()
    }
}

impl mxtls_probe::budget::RecentEvidence for StoreRecent {
    fn recent(
        &self,
        ip: IpAddr,
    ) -> Pin<Box<dyn Future<Output = Option<mxtls_probe::budget::Recent>> + Send + '_>> {
        Box::pin(async move {
            let not_before = now_ms() / 1000 - self.max_age.as_secs() as i64;
            self.store
                .recent_sessions(ip, not_before)
                .await
                .ok()
                .flatten()
        })
    }
}

/// Records that session `id` ended at `ended_at`, retrying while the store is unreachable
/// (a restarting PostgreSQL): a lost end would keep the address "busy" for the whole cluster
/// until the session's lease ran out. Gives up, and says so, after [`SESSION_LEASE`], when the
/// lease has freed the address anyway.
async fn end_session(store: Arc<Store>, id: String, ended_at: i64) {
    let give_up = tokio::time::Instant::now() + SESSION_LEASE;
    let mut pause = Duration::from_millis(100);
    loop {
        match store
            .execute(
                "UPDATE target_sessions SET ended_at = ?2 WHERE id = ?1",
                params![id.as_str(), ended_at],
            )
            .await
        {
            Ok(_) => return,
            Err(e) if tokio::time::Instant::now() + pause > give_up => {
                eprintln!("mxtls: the end of session {id} was not recorded: {e}");
                return;
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}
