//! Checks as jobs in a shared PostgreSQL store, for a cluster of stateless instances and
//! probe workers (`mxtls serve --db postgres://…`, `mxtls worker`).
//!
//! * **One check per domain, cluster-wide**: a job is a row of `jobs`; a partial unique
//!   index allows one queued or running job per domain, so a request for a domain being
//!   checked joins that job (same progress, same snapshot), whichever instance it reached.
//! * **Taken once, taken again if its worker dies**: a worker claims the oldest queued job
//!   with `FOR UPDATE SKIP LOCKED` and a lease it renews while it probes; a job whose lease
//!   ran out (its worker was killed) is claimed again, at most [`MAX_ATTEMPTS`] times.
//! * **A worker writes only while it holds the job**: its claim is the job's id, its name
//!   and the attempt it claimed; events, the snapshot and the job's end are written only
//!   while that attempt still holds an unexpired lease (by the database's clock). A worker
//!   stopped past its lease (`kill -STOP`) and resumed finds its writes refused, stops its
//!   probe, and leaves the job to whoever claimed it since.
//! * **A panicking check fails its job**: the probe runs in its own task; a panic is logged
//!   as a bug and the job ends `failed` with its lease released, so clients are told at once
//!   and the domain can be checked again.
//! * **Nothing announced is lost**: a worker appends each progress event to `job_events`
//!   before it says so with `NOTIFY mxtls_jobs`; a stream reads the events it has not sent
//!   yet whenever it is woken, and every [`POLL`] without waiting to be, so a notification
//!   lost in a reconnect only delays an event. The evidence is the stored snapshot. A stream
//!   rides out a store that does not answer for up to [`STORE_OUTAGE`] (a restart), and a
//!   worker writes again, for up to its lease, an event the store refused while it was down.
//! * **Client limits hold cluster-wide**: the jobs a client started in the last minute and
//!   those still running are counted in the store, not in one instance's memory.
//!
//! Checks in a cluster are not cancelled when their last listener leaves (the hub does that
//! for a single instance): a job runs to its deadline, so that a retried or joined request
//! finds it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use mxtls_core::Evidence;
use mxtls_core::api::{ApiError, CheckAnswer, StreamEvent, StreamEventName};
use mxtls_core::names::DnsName;
use tokio::sync::broadcast;

use crate::checks::{Frame, Refusal};
use crate::clients::ClientKey;
use crate::snapshots::{SnapshotId, Store};
use crate::store::pg::jobs::{Claim, ClientLimits, JobState, Jobs, Outcome, Queued};
use crate::store::{Result, StoreError};

pub use crate::store::pg::jobs::CHANNEL;

/// How often a stream or an idle worker looks at the store without being woken.
pub const POLL: Duration = Duration::from_millis(500);

/// How long a stream follows a job through a store that does not answer (a restart, a
/// failover) before it tells its client that the store failed.
pub const STORE_OUTAGE: Duration = Duration::from_secs(15);

/// How many times a job is started before it is given up (its workers kept dying).
pub const MAX_ATTEMPTS: i64 = 3;

/// Jobs queued or running at once, cluster-wide; beyond it, new checks are refused (503).
pub const MAX_QUEUED: i64 = 1000;

use crate::clock::now_ms;
use crate::outage::Outage;

/// An instance's view of the cluster's jobs.
pub struct Cluster {
    store: Arc<Store>,
    /// Job ids with news, from the `LISTEN` connection.
    news: broadcast::Sender<String>,
    /// How long a stream follows a job before it gives up on it.
    pub follow_limit: Duration,
}

impl Cluster {
    /// Listens for the cluster's notifications (PostgreSQL only).
    pub async fn start(store: Arc<Store>, follow_limit: Duration) -> Result<Arc<Cluster>> {
        let mut notes = store
            .postgres()
            .map(|pg| pg.listen(CHANNEL))
            .ok_or_else(|| {
                StoreError::failed("a cluster needs a PostgreSQL store (--db postgres://…)")
            })?;
        let (news, _) = broadcast::channel(1024);
        let cluster = Arc::new(Cluster {
            store,
            news: news.clone(),
            follow_limit,
        });
        tokio::spawn(async move {
            while let Some(payload) = notes.recv().await {
                let _ = news.send(payload);
            }
        });
        Ok(cluster)
    }

    /// Joins the queued or running job of `domain`, or queues one — within the client's
    /// limits (counted over the cluster) when `counted`; the job's id, and whether this call
    /// queued it.
    pub async fn check(
        &self,
        domain: &DnsName,
        client: ClientKey,
        limits: &crate::Limits,
        counted: bool,
    ) -> std::result::Result<(String, bool), ClusterRefusal> {
        let limits = counted.then(|| ClientLimits {
            concurrent: limits.per_client_concurrent_checks as i64,
            per_minute: i64::from(limits.per_client_per_minute),
        });
        let queued = jobs(&self.store)?
            .queue(
                domain.as_str(),
                &client.to_string(),
                now_ms(),
                limits,
                MAX_QUEUED,
            )
            .await?;
        match queued {
            Queued::Created(id) => Ok((id, true)),
            Queued::Joined(id) => Ok((id, false)),
            Queued::ClientBusy => Err(ClusterRefusal::Refused(Refusal::ClientBusy)),
            Queued::Quota(wait) => Err(ClusterRefusal::Refused(Refusal::Quota(wait))),
            Queued::Full => Err(ClusterRefusal::Refused(Refusal::Full)),
        }
    }

    /// Jobs running now, and how many more the cluster would queue: `(running, free)`.
    pub async fn load(&self) -> Result<(usize, usize)> {
        let (running, active) = jobs(&self.store)?.load().await?;
        Ok((
            running.max(0) as usize,
            (MAX_QUEUED - active).max(0) as usize,
        ))
    }

    /// The job's events as the check stream sends them: progress (all of it, from the
    /// first event, whenever the stream joined), then the evidence or an error.
    pub fn stream(self: Arc<Self>, job: String) -> impl Stream<Item = Frame> + Send + 'static {
        let mut news = self.news.subscribe();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Frame>();
        tokio::spawn(async move {
            let give_up = tokio::time::Instant::now() + self.follow_limit;
            let mut sent = -1i64;
            let mut failing_since = None;
            loop {
                let ended = match self.catch_up(&job, &mut sent, &tx).await {
                    Ok(ended) => {
                        failing_since = None;
                        ended
                    }
                    // A store that restarts is back in seconds, and the job goes on meanwhile:
                    // the client is told only of a longer outage.
                    Err(e)
                        if failing_since
                            .get_or_insert_with(tokio::time::Instant::now)
                            .elapsed()
                            >= STORE_OUTAGE =>
                    {
                        crate::say!("following job {job}: {e}");
                        let _ = tx.send(error("the checker's store failed"));
                        true
                    }
                    Err(_) => false,
                };
                if ended || tx.is_closed() {
                    return;
                }
                if tokio::time::Instant::now() > give_up {
                    let _ = tx.send(error("the check did not finish in time"));
                    return;
                }
                // Woken by news of any job, or after POLL.
                let _ = tokio::time::timeout(POLL, async {
                    loop {
                        match news.recv().await {
                            Ok(id) if id == job => return,
                            Ok(_) => {}
                            Err(broadcast::error::RecvError::Lagged(_)) => return,
                            Err(broadcast::error::RecvError::Closed) => {
                                tokio::time::sleep(POLL).await;
                                return;
                            }
                        }
                    }
                })
                .await;
            }
        });
        tokio_stream::wrappers::UnboundedReceiverStream::new(rx)
    }

    /// Sends the events after `sent`; `true` once the job's end was sent.
    async fn catch_up(
        &self,
        job: &str,
        sent: &mut i64,
        tx: &tokio::sync::mpsc::UnboundedSender<Frame>,
    ) -> Result<bool> {
        // The state first: events written before a job ends are all read below.
        let jobs = jobs(&self.store)?;
        let state = jobs
            .view(job)
            .await?
            .ok_or_else(|| StoreError::failed(format!("no job {job}")))?;
        for (seq, event) in jobs.events_after(job, *sent).await? {
            *sent = seq;
            let _ = tx.send(Frame {
                name: StreamEventName::Progress,
                data: event,
            });
        }
        match state.state {
            JobState::Done => {
                let id = state
                    .snapshot
                    .as_deref()
                    .and_then(SnapshotId::parse)
                    .ok_or_else(|| {
                        StoreError::failed(format!("job {job} is done without a snapshot"))
                    })?;
                let snap = self.store.get(&id).await?.ok_or_else(|| {
                    StoreError::failed(format!("job {job}'s snapshot is missing"))
                })?;
                let evidence = Evidence::from_json(&String::from_utf8_lossy(&snap.evidence))
                    .map_err(|e| {
                        StoreError::failed(format!("job {job}'s snapshot does not load: {e}"))
                    })?;
                let answer = StreamEvent::Evidence(Box::new(CheckAnswer {
                    snapshot: id.as_str().to_owned(),
                    evidence,
                    reused: false,
                }));
                let _ = tx.send(Frame {
                    name: answer.name(),
                    data: answer.data(),
                });
                Ok(true)
            }
            JobState::Failed => {
                let why = state.error.unwrap_or_else(|| "the check failed".into());
                let _ = tx.send(error(&why));
                Ok(true)
            }
            JobState::Queued | JobState::Running => Ok(false),
        }
    }
}

/// The cluster's jobs: only a PostgreSQL store has them.
fn jobs(store: &Store) -> Result<Jobs<'_>> {
    store
        .postgres()
        .map(|pg| pg.jobs())
        .ok_or_else(|| StoreError::failed("a cluster needs a PostgreSQL store (--db postgres://…)"))
}

/// Tells every instance and worker on [`CHANNEL`]: `queued`, or a job id with news.
async fn announce(store: &Store, payload: &str) -> Result<()> {
    jobs(store)?.announce(payload).await
}

fn error(message: &str) -> Frame {
    let e = StreamEvent::Error(ApiError {
        error: message.to_owned(),
    });
    Frame {
        name: e.name(),
        data: e.data(),
    }
}

/// Why a cluster check was not queued.
#[derive(Debug)]
pub enum ClusterRefusal {
    Refused(Refusal),
    Store(StoreError),
}

impl From<StoreError> for ClusterRefusal {
    fn from(e: StoreError) -> ClusterRefusal {
        ClusterRefusal::Store(e)
    }
}

/// How a worker runs.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// This worker's name in `jobs.worker` (unique per process).
    pub name: String,
    /// Jobs probed at once.
    pub concurrency: usize,
    /// How long a claim holds without renewal; renewed every third of it.
    pub lease: Duration,
    /// The cluster's per-address session budget (`budget::StoreBudget`): sessions per
    /// `target_window`, one at a time.
    pub target_sessions: usize,
    pub target_window: Duration,
}

impl WorkerConfig {
    /// A worker named after its host and process.
    pub fn new(concurrency: usize) -> WorkerConfig {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "host".into());
        WorkerConfig {
            name: format!(
                "{host}:{}:{}",
                std::process::id(),
                crate::ids::random_id()
                    .unwrap_or_default()
                    .get(..8)
                    .unwrap_or("")
            ),
            concurrency: concurrency.max(1),
            lease: Duration::from_secs(30),
            target_sessions: 6,
            target_window: Duration::from_secs(60),
        }
    }
}

/// A worker whose job's lease ran out by `now` (ms) is dead: the sessions it held are over,
/// and must not keep those addresses busy for the rest of the cluster. Run before each claim.
pub async fn end_sessions_of_dead_workers(store: &Store, now: i64) -> Result<u64> {
    let pg = store.postgres().ok_or_else(|| {
        StoreError::failed("a cluster needs a PostgreSQL store (--db postgres://…)")
    })?;
    pg.targets().end_sessions_of_dead_workers(now).await
}

/// Claims the oldest job that is queued, or running under a lease that ran out.
async fn claim(store: &Store, worker: &WorkerConfig) -> Result<Option<Claim>> {
    end_sessions_of_dead_workers(store, now_ms()).await?;
    jobs(store)?
        .claim(&worker.name, worker.lease.as_millis() as i64)
        .await
}

/// What a worker runs for a job: given the domain and the probe's configuration (with the
/// cluster's budget in it), the job's probe ([`crate::checks::Probe`]). [`work`] runs the
/// real check; a test runs one that panics, through [`work_with`].
pub type Prober = Arc<
    dyn Fn(mxtls_core::names::DnsName, mxtls_probe::Config) -> crate::checks::Probe + Send + Sync,
>;

/// The real check, as a [`Prober`].
pub fn real_check() -> Prober {
    Arc::new(|name, config| {
        Box::new(move |sink| {
            Box::pin(async move {
                mxtls_probe::check(&name, &config, sink)
                    .await
                    .map_err(|e| e.to_string())
            })
        })
    })
}

/// Runs jobs until `stop` resolves: the probing half of a cluster (`mxtls worker`, and
/// `mxtls serve` unless `--no-probe`).
pub async fn work(
    store: Arc<Store>,
    probe: mxtls_probe::Config,
    worker: WorkerConfig,
    stop: impl std::future::Future<Output = ()>,
) {
    work_with(store, probe, real_check(), worker, stop).await
}

/// [`work`] with the probe `prober` makes for each job (a test's seam: a probe that panics).
pub async fn work_with(
    store: Arc<Store>,
    mut probe: mxtls_probe::Config,
    prober: Prober,
    worker: WorkerConfig,
    stop: impl std::future::Future<Output = ()>,
) {
    // Politeness is the cluster's: every worker counts the sessions of all in the store.
    probe.budget = Some(Arc::new(crate::budget::StoreBudget::new(
        store.clone(),
        &worker.name,
        worker.target_sessions,
        worker.target_window,
    )));
    if !probe.reuse_max_age.is_zero() || probe.posture.ask {
        probe.reuse = Some(Arc::new(crate::budget::StoreRecent {
            store: store.clone(),
            max_age: probe.reuse_max_age,
        }));
    }
    // So is the opt-out list: the store's, beside this worker's own file.
    probe.never_probe = Some(Arc::new(crate::never_probe::SharedOptOut::new(
        store.clone(),
        probe.never_probe.take(),
    )));
    let mut notes = store.postgres().map(|pg| pg.listen(CHANNEL));
    let slots = Arc::new(tokio::sync::Semaphore::new(worker.concurrency));
    let run = async {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            match claim(&store, &worker).await {
                Ok(Some(claim)) => {
                    let (store, probe, worker) = (store.clone(), probe.clone(), worker.clone());
                    let prober = prober.clone();
                    tokio::spawn(async move {
                        run_job(&store, &probe, &prober, &worker, &claim).await;
                        drop(slot);
                    });
                    continue;
                }
                Ok(None) => drop(slot),
                Err(e) => {
                    drop(slot);
                    crate::say!("worker {}: claiming a job: {e}", worker.name);
                }
            }
            // Nothing to do: wait to be told of a queued job, or poll.
            match &mut notes {
                Some(n) => {
                    let _ = tokio::time::timeout(POLL, n.recv()).await;
                }
                None => tokio::time::sleep(POLL).await,
            }
        }
    };
    tokio::select! {
        _ = run => {}
        _ = stop => {}
    }
    // Stopped: nothing more is claimed; the jobs running finish, each within its check's
    // deadline (and their snapshots are stored) before this returns.
    let grace = probe.timeout.min(mxtls_probe::check::MAX_TIMEOUT) + Duration::from_secs(15);
    let all = u32::try_from(worker.concurrency).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        crate::say!(
            "worker {}: stopped with jobs unfinished (past the grace)",
            worker.name
        );
    }
}

/// Ends the claimed job: `done` with its snapshot, or `failed` with why. The snapshot is
/// stored only while the claim holds, in the same statement that checks it, so a stale
/// worker's evidence never becomes the domain's latest.
async fn finish(store: &Store, claim: &Claim, outcome: std::result::Result<Evidence, String>) {
    let Claim {
        id,
        worker,
        attempt,
        ..
    } = claim;
    let ended = match outcome {
        Ok(evidence) => match end(store, claim, Outcome::Done(&evidence)).await {
            Err(e) => fail(store, claim, &format!("the snapshot store failed: {e}")).await,
            ended => ended,
        },
        Err(why) => fail(store, claim, &why).await,
    };
    match ended {
        Ok(false) => crate::say!(
            "worker {worker}: job {id} (attempt {attempt}) is no longer this worker's; its result was not written"
        ),
        Ok(true) => {}
        Err(e) => crate::say!("worker {worker}: job {id}: {e}"),
    }
    let _ = announce(store, id).await;
}

async fn fail(store: &Store, claim: &Claim, why: &str) -> Result<bool> {
    end(store, claim, Outcome::Failed(why)).await
}

async fn end(store: &Store, claim: &Claim, outcome: Outcome<'_>) -> Result<bool> {
    jobs(store)?.finish(claim, outcome).await
}

/// Renews the claim's lease every third of it until the claim is lost: another worker took
/// the job (this one was stopped past its lease), or the store refused renewals for longer
/// than the lease. Returns then.
async fn hold(store: &Store, claim: &Claim, lease: Duration) {
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(lease / 3).await;
        let renewed = match jobs(store) {
            Ok(jobs) => jobs.renew(claim, lease.as_millis() as i64).await,
            Err(e) => Err(e),
        };
        match renewed {
            Ok(false) => return,
            Ok(true) => last_renewed = tokio::time::Instant::now(),
            Err(e) if last_renewed.elapsed() >= lease => {
                crate::say!(
                    "worker {}: job {}: the lease could not be renewed for {lease:?}: {e}",
                    claim.worker,
                    claim.id
                );
                return;
            }
            Err(_) => {}
        }
    }
}

async fn run_job(
    store: &Arc<Store>,
    probe: &mxtls_probe::Config,
    prober: &Prober,
    worker: &WorkerConfig,
    claim: &Claim,
) {
    if claim.attempt > MAX_ATTEMPTS {
        let why = format!(
            "the check was started {MAX_ATTEMPTS} times and never finished; try again later"
        );
        return finish(store, claim, Err(why)).await;
    }
    let Ok(name) = mxtls_core::names::parse_user_domain(&claim.domain) else {
        let why = format!("{} is not a domain", claim.domain);
        return finish(store, claim, Err(why)).await;
    };
    // Events of this attempt follow those of any attempt before it.
    let base = claim.attempt * 1_000_000;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let writer = {
        let (store, claim, lease) = (store.clone(), claim.clone(), worker.lease);
        tokio::spawn(async move {
            let mut seq = base;
            let mut outage = Outage::default();
            while let Some(event) = rx.recv().await {
                seq += 1;
                let data = StreamEvent::Progress(event).data();
                let refs = (&store, &claim, &data);
                let written = outage
                    .retried(lease, move || async move {
                        let (store, claim, data) = refs;
                        jobs(store)?.append_event(claim, seq, data).await
                    })
                    .await;
                if let Err(e) = written {
                    crate::say!(
                        "worker {}: job {}: an event was not written: {e}",
                        claim.worker,
                        claim.id
                    );
                }
                if rx.is_empty() {
                    let _ = announce(&store, &claim.id).await;
                }
            }
        })
    };
    // The probe in its own task, so that a panic in it is caught here.
    let mut probe = probe.clone();
    probe.reuse_first = claim.client == crate::clients::batch_key().to_string();
    let check = tokio::spawn(prober(name, probe)(Some(tx)));
    let abort = check.abort_handle();
    let outcome = tokio::select! {
        joined = check => match joined {
            Ok(Ok(evidence)) => Ok(evidence),
            Ok(Err(e)) => Err(e),
            Err(e) if e.is_panic() => {
                let why = crate::checks::panic_message(e.into_panic());
                crate::say!("BUG: the check of {} panicked: {why}", claim.domain);
                Err("the check failed on an internal error (a bug; it has been logged)".into())
            }
            Err(_) => Err("the check was cancelled".into()),
        },
        () = hold(store, claim, worker.lease) => {
            abort.abort();
            crate::say!(
                "worker {}: job {} (attempt {}) was taken over; its probe stopped",
                claim.worker, claim.id, claim.attempt
            );
            let _ = writer.await;
            return;
        }
    };
    // Every event is written before the job is said to be done.
    let _ = writer.await;
    // A store that is restarting answers again within the lease: the outcome waits for it
    // rather than be lost (the job would be probed again once its lease ran out).
    let _ = Outage::default()
        .retried(worker.lease, || store.number("SELECT 1", crate::params![]))
        .await;
    finish(store, claim, outcome).await;
}
