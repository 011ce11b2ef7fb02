//! The checks running now: one probe per domain however many people watch it, a slot per
//! probe, and no probe left running for nobody.
//!
//! * **Merged**: a request for a domain being checked joins that check — it gets the progress
//!   so far, then the rest — instead of probing the same mail servers again.
//! * **Cancelled when abandoned**: when the last listener of a check goes away (tab closed,
//!   connection dropped), the check is given [`Limits::abandon_grace`] to finish; a check that
//!   does not finish within it is cancelled: its sockets close and its slot is freed. One
//!   that does finish is stored as usual, so a reload right after still finds it.
//! * **Bounded**: at most `max_concurrent_checks` probes at once; each client may watch at
//!   most `per_client_concurrent_checks` checks at once; starting a probe spends one of the
//!   client's per-minute quota, and nothing else does (a refusal, a join, a reused result).
//! * **A panic is a bug, not an empty answer**: it is logged, and every listener gets an
//!   `error` event.
//!
//! [`Limits::abandon_grace`]: crate::Limits::abandon_grace

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use mxtls_core::Evidence;
use mxtls_core::api::{ApiError, CheckAnswer, StreamEvent, StreamEventName};
use mxtls_core::names::DnsName;
use tokio::sync::{Semaphore, mpsc};

use crate::clients::{ClientKey, Quota};
use crate::metrics::{Metrics, Outcome};
use crate::snapshots::Store;

/// The progress events kept for listeners who join late; a check has far fewer (its
/// sessions and lookups are bounded), so this only guards memory against a runaway probe.
const MAX_HISTORY: usize = 4096;

/// One event of a check's stream, as sent.
#[derive(Debug)]
pub struct Frame {
    pub name: StreamEventName,
    pub data: String,
}

impl Frame {
    fn of(event: &StreamEvent) -> Arc<Frame> {
        Arc::new(Frame {
            name: event.name(),
            data: event.data(),
        })
    }
}

/// Why a check was not started or joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client watches `per_client_concurrent_checks` checks already.
    ClientBusy,
    /// The client's per-minute quota is spent: seconds until it refills.
    Quota(u64),
    /// Every slot runs a check.
    Full,
}

/// The limits the hub enforces.
#[derive(Debug, Clone)]
pub struct HubLimits {
    pub max_concurrent_checks: usize,
    pub per_client_concurrent_checks: usize,
    pub per_client_per_minute: u32,
    pub abandon_grace: Duration,
}

/// The running checks.
pub struct Checks {
    limits: HubLimits,
    slots: Arc<Semaphore>,
    quota: Quota,
    state: Mutex<HubState>,
    /// How probes started and ended, for `/metrics`.
    pub metrics: Arc<Metrics>,
}

#[derive(Default)]
struct HubState {
    running: HashMap<DnsName, Arc<Running>>,
    /// Listeners per client, for `per_client_concurrent_checks`.
    watching: HashMap<ClientKey, usize>,
}

/// One running check.
struct Running {
    state: Mutex<RunState>,
}

#[derive(Default)]
struct RunState {
    history: Vec<Arc<Frame>>,
    senders: Vec<mpsc::UnboundedSender<Arc<Frame>>>,
    listeners: usize,
    finished: bool,
    /// The grace period passed with nobody listening: the probe is being stopped.
    cancelled: bool,
    cancel: Option<tokio::task::AbortHandle>,
}

/// Locks `m`, going on past a holder that panicked (the hub's and the watcher's state is
/// updated in single steps, so a poisoned lock holds consistent data).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Running {
    /// Sends a frame to every listener and keeps it for late joiners.
    fn publish(&self, frame: Arc<Frame>, last: bool) {
        let mut s = lock(&self.state);
        if !last && s.history.len() >= MAX_HISTORY {
            return;
        }
        s.senders.retain(|tx| tx.send(frame.clone()).is_ok());
        s.history.push(frame);
        if last {
            s.finished = true;
            s.senders.clear();
        }
    }
}

/// The probe of one check: given where to send progress, it gathers the evidence (or says
/// why it could not start). The hub does not know what it runs, so it is tested with jobs
/// that stall or panic.
pub type Probe = Box<
    dyn FnOnce(
            mxtls_probe::progress::Sink,
        ) -> Pin<Box<dyn Future<Output = Result<Evidence, String>> + Send>>
        + Send,
>;

/// One check to run: its domain (what identical requests are merged by), its probe, and
/// where its evidence is stored.
pub struct Job {
    pub domain: DnsName,
    pub probe: Probe,
    pub store: Arc<Store>,
}

impl Job {
    /// The real check of `domain` with `config`.
    pub fn check(domain: DnsName, config: mxtls_probe::Config, store: Arc<Store>) -> Job {
        let name = domain.clone();
        Job {
            domain,
            probe: Box::new(move |sink| {
                Box::pin(async move {
                    mxtls_probe::check(&name, &config, sink)
                        .await
                        .map_err(|e| e.to_string())
                })
            }),
            store,
        }
    }
}

impl Checks {
    pub fn new(limits: HubLimits) -> Arc<Checks> {
        Arc::new(Checks {
            slots: Arc::new(Semaphore::new(limits.max_concurrent_checks)),
            quota: Quota::new(limits.per_client_per_minute),
            limits,
            state: Mutex::new(HubState::default()),
            metrics: Arc::new(Metrics::default()),
        })
    }

    /// Probes running now.
    pub fn running(&self) -> usize {
        lock(&self.state).running.len()
    }

    /// Slots free for new probes.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// Joins the running check of `job.domain`, or starts one; the listener streams its
    /// events and, dropped, tells the hub that one fewer person is waiting.
    pub fn watch(self: &Arc<Checks>, client: ClientKey, job: Job) -> Result<Listener, Refusal> {
        self.join_or_start(client, job, true)
    }

    /// As [`Checks::watch`], for the server's own scheduled re-checks: they need a free slot
    /// like everyone's, but no client quota (the watcher bounds its own rate and
    /// concurrency).
    pub fn watch_scheduled(
        self: &Arc<Checks>,
        client: ClientKey,
        job: Job,
    ) -> Result<Listener, Refusal> {
        self.join_or_start(client, job, false)
    }

    fn join_or_start(
        self: &Arc<Checks>,
        client: ClientKey,
        job: Job,
        counted: bool,
    ) -> Result<Listener, Refusal> {
        let mut hub = lock(&self.state);
        if counted
            && hub.watching.get(&client).copied().unwrap_or(0)
                >= self.limits.per_client_concurrent_checks
        {
            return Err(Refusal::ClientBusy);
        }
        let joinable = hub
            .running
            .get(&job.domain)
            .filter(|r| !lock(&r.state).cancelled)
            .cloned();
        let running = match joinable {
            Some(running) => running,
            None => {
                if counted {
                    self.quota.check(client).map_err(Refusal::Quota)?;
                }
                let permit = self
                    .slots
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| Refusal::Full)?;
                if counted {
                    self.quota.spend(client);
                }
                let running = Arc::new(Running {
                    state: Mutex::new(RunState::default()),
                });
                hub.running.insert(job.domain.clone(), running.clone());
                self.clone().spawn(job, running.clone(), permit);
                running
            }
        };
        *hub.watching.entry(client).or_insert(0) += 1;
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut s = lock(&running.state);
            for frame in &s.history {
                let _ = tx.send(frame.clone());
            }
            if !s.finished {
                s.senders.push(tx);
            }
            s.listeners += 1;
        }
        Ok(Listener {
            rx,
            guard: Some(Guard {
                hub: self.clone(),
                running,
                client,
            }),
        })
    }

    /// Runs the probe in its own task (so it can be cancelled), forwards its progress, stores
    /// the evidence and sends the last event; the slot is freed when this ends.
    fn spawn(
        self: Arc<Checks>,
        job: Job,
        running: Arc<Running>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
        self.metrics.started();
        let started = std::time::Instant::now();
        let probe = tokio::spawn((job.probe)(Some(progress_tx)));
        lock(&running.state).cancel = Some(probe.abort_handle());
        tokio::spawn(async move {
            let _permit = permit;
            let forward = async {
                while let Some(event) = progress_rx.recv().await {
                    running.publish(Frame::of(&StreamEvent::Progress(event)), false);
                }
            };
            let (result, ()) = tokio::join!(probe, forward);
            let outcome = match &result {
                Ok(Ok(_)) => Outcome::Evidence,
                Ok(Err(_)) => Outcome::Error,
                Err(e) if e.is_panic() => Outcome::Panicked,
                Err(_) => Outcome::Cancelled,
            };
            self.metrics.finished(outcome, started.elapsed());
            let last = match result {
                Ok(Ok(evidence)) => Some(store(&job.store, evidence).await),
                Ok(Err(setup)) => Some(error(&setup)),
                Err(e) if e.is_panic() => {
                    let why = panic_message(e.into_panic());
                    crate::say!("BUG: the check of {} panicked: {why}", job.domain);
                    Some(error(
                        "the check failed on an internal error (a bug; it has been logged)",
                    ))
                }
                // Cancelled: nobody is listening.
                Err(_) => None,
            };
            let last = last.unwrap_or_else(|| error("the check was cancelled"));
            running.publish(Frame::of(&last), true);
            let mut hub = lock(&self.state);
            if hub
                .running
                .get(&job.domain)
                .is_some_and(|r| Arc::ptr_eq(r, &running))
            {
                hub.running.remove(&job.domain);
            }
        });
    }

    /// A listener went away: with none left, the check gets the grace period, then is
    /// cancelled unless it finished or someone came back.
    fn left(self: &Arc<Checks>, running: &Arc<Running>, client: ClientKey) {
        {
            let mut hub = lock(&self.state);
            if let Some(n) = hub.watching.get_mut(&client) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    hub.watching.remove(&client);
                }
            }
        }
        let nobody = {
            let mut s = lock(&running.state);
            s.listeners = s.listeners.saturating_sub(1);
            s.listeners == 0 && !s.finished
        };
        if !nobody {
            return;
        }
        let (running, grace) = (running.clone(), self.limits.abandon_grace);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            tokio::time::sleep(grace).await;
            let mut s = lock(&running.state);
            if s.listeners == 0
                && !s.finished
                && let Some(cancel) = &s.cancel
            {
                cancel.abort();
                s.cancelled = true;
            }
        });
    }
}

async fn store(store: &Arc<Store>, evidence: Evidence) -> StreamEvent {
    match store.put(&evidence).await {
        Ok(id) => StreamEvent::Evidence(Box::new(CheckAnswer {
            snapshot: id.as_str().to_owned(),
            evidence,
            reused: false,
        })),
        Err(e) => {
            crate::say!("the store failed: {e}");
            error("the snapshot store failed")
        }
    }
}

fn error(message: &str) -> StreamEvent {
    StreamEvent::Error(ApiError {
        error: message.to_owned(),
    })
}

pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// One person waiting for a check: a stream of its frames.
pub struct Listener {
    rx: mpsc::UnboundedReceiver<Arc<Frame>>,
    guard: Option<Guard>,
}

struct Guard {
    hub: Arc<Checks>,
    running: Arc<Running>,
    client: ClientKey,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.hub.left(&self.running, self.client);
    }
}

impl futures_util::Stream for Listener {
    type Item = Arc<Frame>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Arc<Frame>>> {
        let next = self.rx.poll_recv(cx);
        if let Poll::Ready(None) = next {
            // The check is over: the listener no longer counts against the client.
            self.guard = None;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use futures_util::StreamExt;

    use super::*;

    const EVIDENCE: &str = include_str!("../../mxtls-core/tests/fixtures/evidence-v1.json");

    fn hub(slots: usize, per_client: usize) -> Arc<Checks> {
        Checks::new(HubLimits {
            max_concurrent_checks: slots,
            per_client_concurrent_checks: per_client,
            per_client_per_minute: 100,
            abandon_grace: Duration::from_millis(300),
        })
    }

    fn store() -> Arc<Store> {
        Arc::new(Store::open(std::path::Path::new(":memory:")).expect("store"))
    }

    fn client(n: u8) -> ClientKey {
        ClientKey::of(std::net::IpAddr::from([192, 0, 2, n]))
    }

    fn name(s: &str) -> DnsName {
        mxtls_core::names::parse_user_domain(s).expect("name")
    }

    /// Dropped with the probe's future: tells whether a cancelled probe really stopped.
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A probe that never ends, counting its starts and flagging its end.
    fn stalled(domain: &str, starts: Arc<AtomicUsize>, dropped: Arc<AtomicBool>) -> Job {
        Job {
            domain: name(domain),
            probe: Box::new(move |_sink| {
                starts.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    let _flag = Dropped(dropped);
                    std::future::pending::<()>().await;
                    Err("unreachable".into())
                })
            }),
            store: store(),
        }
    }

    async fn until(what: impl Fn() -> bool) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !what() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("within 10 s");
    }

    #[tokio::test]
    async fn identical_checks_share_one_probe_and_abandoned_ones_stop() {
        let checks = hub(4, 4);
        let (starts, dropped) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let listeners: Vec<Listener> = (1..=3)
            .map(|n| {
                checks
                    .watch(
                        client(n),
                        stalled("a.example", starts.clone(), dropped.clone()),
                    )
                    .expect("admitted")
            })
            .collect();
        until(|| starts.load(Ordering::SeqCst) == 1).await;
        assert_eq!((checks.running(), checks.free_slots()), (1, 3));
        drop(listeners);
        until(|| dropped.load(Ordering::SeqCst)).await;
        until(|| checks.running() == 0).await;
        assert_eq!(checks.free_slots(), 4, "the slot is free again");
        assert_eq!(
            starts.load(Ordering::SeqCst),
            1,
            "one probe for three listeners"
        );
    }

    #[tokio::test]
    async fn a_check_that_finishes_in_the_grace_period_is_stored() {
        let checks = hub(1, 1);
        let store = store();
        let job = Job {
            domain: name("b.example"),
            probe: Box::new(|_sink| {
                Box::pin(async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Evidence::from_json(EVIDENCE).map_err(|e| e.to_string())
                })
            }),
            store: store.clone(),
        };
        drop(checks.watch(client(1), job).expect("admitted"));
        until(|| checks.running() == 0).await;
        let domain = Evidence::from_json(EVIDENCE)
            .expect("fixture")
            .domain
            .to_string();
        assert!(
            store.latest(&domain).await.expect("read").is_some(),
            "stored"
        );
    }

    #[tokio::test]
    async fn limits_refuse_without_spending_the_quota() {
        let checks = Checks::new(HubLimits {
            max_concurrent_checks: 1,
            per_client_concurrent_checks: 1,
            per_client_per_minute: 1,
            abandon_grace: Duration::from_millis(100),
        });
        let flags = || {
            (
                Arc::new(AtomicUsize::new(0)),
                Arc::new(AtomicBool::new(false)),
            )
        };
        let (s, d) = flags();
        let first = checks
            .watch(client(1), stalled("c.example", s, d))
            .expect("admitted");
        // The same client cannot watch a second check at once; another client finds no slot.
        let (s, d) = flags();
        assert_eq!(
            checks.watch(client(1), stalled("d.example", s, d)).err(),
            Some(Refusal::ClientBusy)
        );
        let (s, d) = flags();
        assert_eq!(
            checks.watch(client(2), stalled("d.example", s, d)).err(),
            Some(Refusal::Full)
        );
        drop(first);
        until(|| checks.free_slots() == 1).await;
        // Client 2's refusal spent nothing: its one check a minute is still there.
        let (s, d) = flags();
        let second = checks
            .watch(client(2), stalled("d.example", s, d))
            .expect("admitted");
        drop(second);
        until(|| checks.free_slots() == 1).await;
        let (s, d) = flags();
        assert!(matches!(
            checks.watch(client(2), stalled("e.example", s, d)).err(),
            Some(Refusal::Quota(_))
        ));
    }

    #[tokio::test]
    async fn a_panicking_probe_becomes_an_error_event() {
        let checks = hub(1, 1);
        let job = Job {
            domain: name("f.example"),
            probe: Box::new(|_sink| Box::pin(async { panic!("a bug in the probe") })),
            store: store(),
        };
        let frames: Vec<Arc<Frame>> = checks
            .watch(client(1), job)
            .expect("admitted")
            .collect()
            .await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0].name, StreamEventName::Error);
        assert!(
            frames[0].data.contains("internal error"),
            "{}",
            frames[0].data
        );
        until(|| checks.free_slots() == 1).await;
    }
}
