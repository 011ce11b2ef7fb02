//! One way to run a check, whichever back-end runs it. The check API and the watcher ask the
//! [`Runner`] for a domain's check and get its stream of frames, or a typed refusal; they
//! never know whether the probe runs in this process (the checks hub) or on a cluster's
//! workers (jobs in PostgreSQL).
//!
//! What lives here once, for both back-ends: who may ask (a client, counted against its
//! limits, or the server's own schedule, which is not), the `/metrics` counts of checks
//! started and how they ended, and the load (checks running, slots free). What stays the
//! back-end's own: merging (a running check of the domain is joined in both), panic capture
//! (the hub's task, the worker's task), and cancellation — the hub cancels a check nobody
//! listens to after its grace period, while a cluster job runs to its end, so that a retried
//! or joined request finds it (ARCHITECTURE.md, "One check runner").

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::Stream;
use mxtls_core::api::StreamEventName;
use mxtls_core::names::DnsName;

use crate::checks::{Checks, Frame, Job, Refusal};
use crate::clients::ClientKey;
use crate::cluster::{Cluster, ClusterRefusal};
use crate::metrics::{Metrics, Outcome};
use crate::snapshots::Store;

/// A check's frames: progress, then the evidence or an error, then the end.
pub type Frames = Pin<Box<dyn Stream<Item = Arc<Frame>> + Send>>;

/// Who asks for a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// A person's client: within its limits (checks at once, checks a minute).
    Client(ClientKey),
    /// The server's own re-check of a watched domain: a slot like anyone's, no client limits
    /// (the watcher bounds its own rate and concurrency).
    Schedule,
    /// A batch's check: like the schedule's, and it uses an address's recent sessions
    /// before asking the budget (`mxtls_probe::Config::reuse_first`), so that a portfolio
    /// opens about one check's worth of sessions per shared mail server.
    Batch,
}

/// Why a check was not started or joined.
#[derive(Debug)]
pub enum Refused {
    /// A limit: the client's, or the checker's capacity.
    Limit(Refusal),
    /// The back-end could not be asked (the cluster's store failed): say so, do not blame
    /// the client.
    Unavailable(String),
    /// The server is stopping (SIGTERM): running checks finish, new ones go elsewhere.
    ShuttingDown,
}

/// Checks running now and room for more, as `/metrics` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    pub running: usize,
    pub free: usize,
}

enum Backend {
    /// In this process: one probe per domain, merged, cancelled when abandoned.
    Hub {
        checks: Arc<Checks>,
        probe: Box<mxtls_probe::Config>,
        store: Arc<Store>,
    },
    /// Jobs in the cluster's store, probed by workers.
    Cluster {
        cluster: Arc<Cluster>,
        limits: crate::Limits,
    },
}

/// Runs checks on one back-end.
pub struct Runner {
    backend: Backend,
    metrics: Arc<Metrics>,
    /// Set once the server stops taking checks ([`Runner::close`]).
    closing: std::sync::atomic::AtomicBool,
}

/// The key under which scheduled checks are merged with others in the hub and the cluster.
pub fn schedule_key() -> ClientKey {
    ClientKey::of(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))
}

impl Runner {
    /// Checks in this process, through the hub, stored in `store`.
    pub fn hub(
        checks: Arc<Checks>,
        probe: mxtls_probe::Config,
        store: Arc<Store>,
        metrics: Arc<Metrics>,
    ) -> Runner {
        Runner {
            backend: Backend::Hub {
                checks,
                probe: Box::new(probe),
                store,
            },
            metrics,
            closing: Default::default(),
        }
    }

    /// Checks as jobs of `cluster`, within `limits` counted in its store.
    pub fn cluster(cluster: Arc<Cluster>, limits: crate::Limits, metrics: Arc<Metrics>) -> Runner {
        Runner {
            backend: Backend::Cluster { cluster, limits },
            metrics,
            closing: Default::default(),
        }
    }

    /// Which back-end, for logs: `hub` or `cluster`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Hub { .. } => "hub",
            Backend::Cluster { .. } => "cluster",
        }
    }

    /// Stops taking checks: every later [`Runner::check`] is refused as
    /// [`Refused::ShuttingDown`]; those running go on.
    pub fn close(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Checks this process is probing now (the hub's; a cluster's workers count their own).
    pub fn running_here(&self) -> usize {
        match &self.backend {
            Backend::Hub { checks, .. } => checks.running(),
            Backend::Cluster { .. } => 0,
        }
    }

    /// Joins the running check of `domain`, or starts one if `asker` may.
    pub async fn check(&self, domain: DnsName, asker: Asker) -> Result<Frames, Refused> {
        if self.closing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Refused::ShuttingDown);
        }
        match &self.backend {
            Backend::Hub {
                checks,
                probe,
                store,
            } => {
                // The hub counts its own starts and ends (it sees the probe's task).
                let mut probe = (**probe).clone();
                probe.reuse_first = matches!(asker, Asker::Batch);
                let job = Job::check(domain, probe, store.clone());
                let listener = match asker {
                    Asker::Client(client) => checks.watch(client, job),
                    Asker::Schedule => checks.watch_scheduled(schedule_key(), job),
                    Asker::Batch => checks.watch_scheduled(crate::clients::batch_key(), job),
                };
                listener
                    .map(|l| Box::pin(l) as Frames)
                    .map_err(Refused::Limit)
            }
            Backend::Cluster { cluster, limits } => {
                let (client, counted) = match asker {
                    Asker::Client(c) => (c, true),
                    Asker::Schedule => (schedule_key(), false),
                    Asker::Batch => (crate::clients::batch_key(), false),
                };
                match cluster.check(&domain, client, limits, counted).await {
                    Ok((job, created)) => {
                        let frames = cluster.clone().stream(job);
                        let frames = futures_util::StreamExt::map(frames, Arc::new);
                        if !created {
                            return Ok(Box::pin(frames));
                        }
                        self.metrics.started();
                        Ok(Box::pin(Counted {
                            inner: Box::pin(frames),
                            metrics: self.metrics.clone(),
                            started: Instant::now(),
                            counted: false,
                        }))
                    }
                    Err(ClusterRefusal::Refused(r)) => Err(Refused::Limit(r)),
                    Err(ClusterRefusal::Store(e)) => Err(Refused::Unavailable(e.to_string())),
                }
            }
        }
    }

    /// Checks running now and room for more: the hub's own, or the whole cluster's.
    pub async fn load(&self) -> Load {
        match &self.backend {
            Backend::Hub { checks, .. } => Load {
                running: checks.running(),
                free: checks.free_slots(),
            },
            Backend::Cluster { cluster, .. } => {
                let (running, free) = cluster.load().await.unwrap_or((0, 0));
                Load { running, free }
            }
        }
    }
}

/// A cluster job's frames, counted in `/metrics` when their end passes (the instance that
/// queued the job counts it, once).
struct Counted {
    inner: Pin<Box<dyn Stream<Item = Arc<Frame>> + Send>>,
    metrics: Arc<Metrics>,
    started: Instant,
    counted: bool,
}

impl Stream for Counted {
    type Item = Arc<Frame>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Arc<Frame>>> {
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(frame)) = &next
            && !self.counted
        {
            let outcome = match frame.name {
                StreamEventName::Evidence => Some(Outcome::Evidence),
                StreamEventName::Error => Some(Outcome::Error),
                _ => None,
            };
            if let Some(outcome) = outcome {
                self.counted = true;
                self.metrics.finished(outcome, self.started.elapsed());
            }
        }
        next
    }
}

/// What a check's frames end with: its evidence and snapshot, or the error it ended with. For the server's own askers (the watcher, the
/// batches), which wait for the end rather than stream it.
pub async fn last_answer(
    mut listener: impl Stream<Item = Arc<Frame>> + Unpin,
) -> Result<Option<mxtls_core::api::CheckAnswer>, String> {
    use futures_util::StreamExt;
    let mut last = Err("the stream ended without evidence".to_owned());
    while let Some(frame) = listener.next().await {
        match frame.name {
            StreamEventName::Evidence => {
                last = mxtls_core::api::CheckAnswer::from_json(&frame.data)
                    .map(Some)
                    .map_err(|e| e.to_string());
            }
            StreamEventName::Error => last = Err(frame.data.clone()),
            _ => {}
        }
    }
    last
}
