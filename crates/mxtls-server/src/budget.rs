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
use crate::snapshots::Store;
use crate::store::pg::targets::Admission as Answer;

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
        let Some(id) = crate::ids::random_id() else {
            return Admission::Wait {
                wait: Duration::from_secs(1),
                reason: "no randomness for a session id".into(),
                open_ended: true,
            };
        };
        let budget = crate::store::pg::targets::Budget {
            max: self.sessions as i64,
            window_ms: ms(self.window),
            lease_ms: ms(SESSION_LEASE),
        };
        let answer = match self.store.postgres() {
            Some(pg) => {
                pg.targets()
                    .admit(&ip.to_string(), &id, &self.worker, now_ms(), budget)
                    .await
            }
            None => Err(crate::store::StoreError::failed(
                "the cluster's budget needs a PostgreSQL store",
            )),
        };
        let wait = |ms: u64| Duration::from_millis(ms);
        match answer {
            Err(e) => Admission::Wait {
                wait: Duration::from_secs(1),
                reason: format!("the cluster's session budget could not be read ({e})"),
                open_ended: true,
            },
            Ok(Answer::Start) => {
                let store = self.store.clone();
                Admission::Start(Permit::new(move || {
                    if let Ok(rt) = tokio::runtime::Handle::try_current() {
                        rt.spawn(end_session(store, id, now_ms()));
                    }
                }))
            }
            Ok(Answer::Busy { wait_ms }) => Admission::Wait {
                wait: wait(wait_ms),
                reason: format!(
                    "another session with {ip} is running in the cluster: one at a time"
                ),
                open_ended: true,
            },
            Ok(Answer::Full { wait_ms, sessions }) => Admission::Wait {
                wait: wait(wait_ms),
                reason: format!(
                    "{sessions} sessions with {ip} in the last {} s across the cluster, the most it opens to one address",
                    self.window.as_secs()
                ),
                open_ended: false,
            },
            Ok(Answer::Backoff { wait_ms, refusals }) => Admission::Wait {
                wait: wait(wait_ms),
                reason: format!(
                    "{ip} refused or limited the cluster {} in a row; leaving it alone for a while",
                    mxtls_core::present::count(
                        u64::try_from(refusals).unwrap_or(0),
                        "time",
                        "times"
                    )
                ),
                open_ended: false,
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
            let Some(targets) = store.postgres().map(|pg| pg.targets()) else {
                return;
            };
            let recorded = match outcome {
                Outcome::Refused => targets
                    .refused(&ip, now_ms(), ms(window), ms(MAX_BACKOFF))
                    .await
                    .map(drop),
                Outcome::Served => targets.served(&ip).await,
                Outcome::Other => Ok(()),
            };
            if let Err(e) = recorded {
                crate::say!("the cluster's back-off of {ip} was not updated: {e}");
            }
        });
    }

    fn window(&self) -> Duration {
        self.window
    }
}

/// Recent sessions from the store (`mxtls_probe::budget::RecentEvidence`): for checks over
/// an address's budget, at most `max_age` old (zero: none); and an address's last posture,
/// at most [`POSTURE_KEPT`] old (the check decides whether it is young enough).
pub struct StoreRecent {
    pub store: Arc<Store>,
    pub max_age: Duration,
}

/// How far back an address's last posture is looked for: one older than this says too
/// little about the server today, even when the budget leaves nothing else to show.
pub const POSTURE_KEPT: Duration = Duration::from_secs(30 * 86_400);

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
            if self.max_age.is_zero() {
                return None;
            }
            let not_before = now_ms() / 1000 - self.max_age.as_secs() as i64;
            self.store
                .recent_sessions(ip, not_before)
                .await
                .ok()
                .flatten()
        })
    }

    fn posture(
        &self,
        ip: IpAddr,
    ) -> Pin<Box<dyn Future<Output = Option<mxtls_probe::budget::Recent>> + Send + '_>> {
        Box::pin(async move {
            let not_before = now_ms() / 1000 - POSTURE_KEPT.as_secs() as i64;
            self.store
                .recent_posture(ip, not_before)
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
        let ended = match store.postgres() {
            Some(pg) => pg.targets().end_session(&id, ended_at).await,
            None => return,
        };
        match ended {
            Ok(_) => return,
            Err(e) if tokio::time::Instant::now() + pause > give_up => {
                crate::say!("the end of session {id} was not recorded: {e}");
                return;
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}
