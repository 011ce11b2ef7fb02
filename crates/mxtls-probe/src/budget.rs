//! The per-target session budget: politeness to the mail servers we test.
//!
//! Public checkers get rate-limited or blocklisted by the servers they test, and then report
//! "no STARTTLS" or "could not test". So every SMTP session to an address first takes a
//! permit from the [`TargetBudget`]: at most `sessions` per address in any `window`, one at
//! a time per address. A server that answers `421` or refuses the connection is backed off
//! (its window doubles each time, up to [`MAX_BACKOFF`]; a clean session ends the back-off).
//! A session that must wait says so in a progress event ([`mxtls_core::progress::Event::Waiting`]).
//!
//! [`LocalBudget`] keeps the counts in this process: one `mxtls serve`, or each worker of a
//! cluster for itself. The trait is the seam for a budget shared through the store.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The longest a refusing server is left alone before it is tried again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// How a session with an address ended, for the budget's back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server talked to us (whatever it said after its greeting).
    Served,
    /// `421` (service not available, RFC 5321 §3.8), or the connection was refused: the
    /// server limits us, or is down. Back off.
    Refused,
    /// It timed out or broke for another reason: no evidence of a limit.
    Other,
}

/// When a session may start: the budget's answer.
pub enum Admission {
    /// Start now; the permit is held for the session and returned when dropped.
    Start(Permit),
    /// Not now: try again after `wait` (`reason` says why, in words for the live page).
    /// `open_ended`: the wait lasts as long as something else does (another session with
    /// the address, a store that does not answer), so `wait` is only when to ask again, not
    /// when the wait ends; the waiting session is then bounded by the check's deadline.
    Wait {
        wait: Duration,
        reason: String,
        open_ended: bool,
    },
}

/// Held for the length of one session.
pub struct Permit {
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl Permit {
    /// A permit that runs `release` when the session ends.
    pub fn new(release: impl FnOnce() + Send + 'static) -> Permit {
        Permit {
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// Decides when a session to an address may start.
pub trait TargetBudget: Send + Sync + std::fmt::Debug {
    /// Admits a session to `ip` now, or says how long to wait.
    fn admit(&self, ip: IpAddr) -> Pin<Box<dyn Future<Output = Admission> + Send + '_>>;
    /// A session to `ip` ended so.
    fn finished(&self, ip: IpAddr, outcome: Outcome);
    /// The window the budget counts sessions in: a batch's check reuses an address's
    /// sessions younger than this before asking (`check::Config::reuse_first`), so a shared
    /// server is checked about once a window however many domains use it.
    fn window(&self) -> Duration {
        Duration::ZERO
    }
}

/// The per-address state of a [`LocalBudget`].
#[derive(Debug, Default)]
struct Target {
    /// When the sessions within the current window started.
    starts: Vec<Instant>,
    busy: bool,
    /// Refusals in a row, and until when the address is left alone.
    refusals: u32,
    backoff_until: Option<Instant>,
}

/// A budget kept in this process.
#[derive(Debug)]
pub struct LocalBudget {
    sessions: usize,
    window: Duration,
    targets: Mutex<HashMap<IpAddr, Target>>,
    /// Woken when a permit is returned, so one-at-a-time waiters need not poll.
    returned: Arc<Notify>,
}

impl LocalBudget {
    /// At most `sessions` (at least 1) per address in any `window`, one at a time.
    pub fn new(sessions: usize, window: Duration) -> Arc<LocalBudget> {
        Arc::new(LocalBudget {
            sessions: sessions.max(1),
            window,
            targets: Mutex::new(HashMap::new()),
            returned: Arc::new(Notify::new()),
        })
    }

    fn targets(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Target>> {
        self.targets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn decide(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Admission {
        let mut targets = self.targets();
        let t = targets.entry(ip).or_default();
        let window = self.window;
        t.starts.retain(|s| now.duration_since(*s) < window);
        if let Some(until) = t.backoff_until.filter(|u| *u > now) {
            return Admission::Wait {
                wait: until - now,
                reason: format!(
                    "{ip} refused or limited us {} in a row; leaving it alone for a while",
                    mxtls_core::present::count(t.refusals, "time", "times")
                ),
                open_ended: false,
            };
        }
        if t.busy {
            return Admission::Wait {
                wait: Duration::from_secs(1),
                reason: format!("another session with {ip} is running: one at a time"),
                open_ended: true,
            };
        }
        if t.starts.len() >= self.sessions {
            let oldest = t.starts.iter().min().copied().unwrap_or(now);
            return Admission::Wait {
                wait: (oldest + window).saturating_duration_since(now),
                reason: format!(
                    "{} sessions with {ip} in the last {} s, the most this checker opens to one address",
                    t.starts.len(),
                    window.as_secs()
                ),
                open_ended: false,
            };
        }
        t.starts.push(now);
        t.busy = true;
        let me = self.clone();
        Admission::Start(Permit::new(move || {
            if let Some(t) = me.targets().get_mut(&ip) {
                t.busy = false;
            }
            me.returned.notify_waiters();
        }))
    }
}

impl TargetBudget for Arc<LocalBudget> {
    fn admit(&self, ip: IpAddr) -> Pin<Box<dyn Future<Output = Admission> + Send + '_>> {
        Box::pin(async move { self.decide(ip, Instant::now()) })
    }

    fn finished(&self, ip: IpAddr, outcome: Outcome) {
        let mut targets = self.targets();
        let t = targets.entry(ip).or_default();
        match outcome {
            Outcome::Refused => {
                t.refusals = t.refusals.saturating_add(1);
                let backoff = self
                    .window
                    .saturating_mul(2u32.saturating_pow(t.refusals.min(16)))
                    .min(MAX_BACKOFF);
                t.backoff_until = Some(Instant::now() + backoff);
            }
            Outcome::Served => {
                t.refusals = 0;
                t.backoff_until = None;
            }
            Outcome::Other => {}
        }
    }

    fn window(&self) -> Duration {
        self.as_ref().window
    }
}

/// An address's sessions from an earlier check, for a check the budget would make wait.
pub struct Recent {
    pub evidence: mxtls_core::evidence::AddressEvidence,
    /// The MX host the address was listed under in that check (the sessions' SNI is its,
    /// or `evidence.probed_for`'s).
    pub host: mxtls_core::names::DnsName,
    /// The snapshot they come from, and when its check finished.
    pub snapshot: String,
    pub gathered_at: mxtls_core::evidence::UnixTime,
}

/// Where a check finds an address's recent sessions (the server's store): with it, a check
/// whose budget for an address is spent uses what was seen there a moment ago instead of
/// waiting (`--target-reuse`).
pub trait RecentEvidence: Send + Sync + std::fmt::Debug {
    /// The newest sessions with `ip` that are young enough to reuse.
    fn recent(&self, ip: IpAddr) -> Pin<Box<dyn Future<Output = Option<Recent>> + Send + '_>>;

    /// The newest address evidence with `ip` that holds a posture (of any age the store
    /// keeps): the check decides whether it is young enough, or the only posture it can
    /// give (`check::PostureConfig`).
    fn posture(&self, ip: IpAddr) -> Pin<Box<dyn Future<Output = Option<Recent>> + Send + '_>> {
        let _ = ip;
        Box::pin(async { None })
    }
}

/// Waits for a permit for `ip` until `deadline`, calling `waiting` when it starts to wait
/// and whenever the reason changes. When the wait would outlast the deadline (an address
/// backed off for minutes, say), it gives up at once with the reason: the check ends now
/// instead of at its deadline, and its evidence says why the session was not run.
pub async fn acquire(
    budget: &dyn TargetBudget,
    ip: IpAddr,
    deadline: Instant,
    mut waiting: impl FnMut(&str, Duration),
) -> Result<Permit, String> {
    // What was said last, and when the wait it announced ends.
    let mut said: Option<(String, Instant)> = None;
    loop {
        match budget.admit(ip).await {
            Admission::Start(permit) => return Ok(permit),
            Admission::Wait {
                wait,
                reason,
                open_ended,
            } => {
                let now = Instant::now();
                if now + wait > deadline {
                    return Err(reason);
                }
                // The longest this session waits for this reason: the known wait, or, while
                // another session runs, until the check's deadline (when it gives up) —
                // never the poll interval, which the wait outlasts.
                let limit = if open_ended {
                    deadline.saturating_duration_since(now)
                } else {
                    wait
                };
                let stale = said
                    .as_ref()
                    .is_none_or(|(r, until)| *r != reason || now > *until);
                if stale {
                    waiting(&reason, limit);
                    said = Some((reason, now + limit));
                }
                // Poll at least every second: a permit returned elsewhere frees the address.
                tokio::time::sleep(
                    wait.min(Duration::from_secs(1))
                        .max(Duration::from_millis(20)),
                )
                .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 25));

    fn start(b: &Arc<LocalBudget>, now: Instant) -> Option<Permit> {
        match b.decide(IP, now) {
            Admission::Start(p) => Some(p),
            Admission::Wait { .. } => None,
        }
    }

    #[tokio::test]
    async fn one_at_a_time_and_at_most_n_per_window() {
        let b = LocalBudget::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let first = start(&b, t0).expect("first");
        assert!(start(&b, t0).is_none(), "one at a time");
        drop(first);
        let second = start(&b, t0).expect("second after the first ended");
        drop(second);
        assert!(
            start(&b, t0 + Duration::from_secs(30)).is_none(),
            "2 in the window"
        );
        match b.decide(IP, t0 + Duration::from_secs(30)) {
            Admission::Wait { wait, reason, .. } => {
                assert_eq!(wait, Duration::from_secs(30));
                assert!(reason.contains("2 sessions with 192.0.2.25"), "{reason}");
            }
            Admission::Start(_) => panic!("over the budget"),
        }
        assert!(
            start(&b, t0 + Duration::from_secs(61)).is_some(),
            "the window moved on"
        );
        let other = IpAddr::from([192, 0, 2, 26]);
        assert!(
            matches!(b.decide(other, t0), Admission::Start(_)),
            "per address"
        );
    }

    #[tokio::test]
    async fn refusals_back_off_and_a_served_session_ends_it() {
        let b = LocalBudget::new(6, Duration::from_secs(10));
        b.finished(IP, Outcome::Refused);
        let now = Instant::now();
        match b.decide(IP, now) {
            Admission::Wait { wait, reason, .. } => {
                assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20));
                assert!(reason.contains("refused or limited us 1 time"), "{reason}");
            }
            Admission::Start(_) => panic!("backed off"),
        }
        b.finished(IP, Outcome::Refused);
        match b.decide(IP, Instant::now()) {
            Admission::Wait { wait, .. } => assert!(wait > Duration::from_secs(39), "doubled"),
            Admission::Start(_) => panic!("backed off"),
        }
        b.finished(IP, Outcome::Served);
        assert!(matches!(b.decide(IP, Instant::now()), Admission::Start(_)));
    }

    /// The live page shows a waiting session's elapsed time against the limit said here:
    /// a wait for another session with the address must not be announced as its one-second
    /// poll, which it outlasts ("24 s (waits up to 1 s)"), but as lasting, at most, until
    /// the check's deadline — where `acquire` gives up.
    #[tokio::test]
    async fn a_wait_for_another_session_is_announced_up_to_the_deadline() {
        let b = LocalBudget::new(6, Duration::from_secs(60));
        let running = start(&b, Instant::now()).expect("the running session");
        let deadline = Instant::now() + Duration::from_millis(2500);
        let said = Arc::new(Mutex::new(Vec::<(String, Duration, Instant)>::new()));
        let log = said.clone();
        let result = acquire(&b, IP, deadline, move |reason, limit| {
            log.lock()
                .unwrap()
                .push((reason.to_owned(), limit, Instant::now()));
        })
        .await;
        let gave_up = Instant::now();
        assert!(result.is_err(), "the running session never ended");
        let said = said.lock().unwrap().clone();
        assert_eq!(said.len(), 1, "said once: {said:?}");
        let (reason, limit, at) = &said[0];
        assert_eq!(
            reason,
            "another session with 192.0.2.25 is running: one at a time"
        );
        // Said a moment after it was measured: up to the deadline, and no further.
        assert!(
            *at + *limit >= deadline,
            "waits up to the check's deadline: {limit:?}"
        );
        assert!(*limit <= Duration::from_millis(2500), "{limit:?}");
        assert!(gave_up <= *at + *limit, "it never waited past what it said");
        drop(running);
    }

    #[tokio::test]
    async fn a_known_wait_is_announced_as_itself() {
        let b = LocalBudget::new(6, Duration::from_secs(10));
        b.finished(IP, Outcome::Refused);
        let said = Arc::new(Mutex::new(Vec::<Duration>::new()));
        let log = said.clone();
        // The back-off (20 s) is longer than the check has left: refused at once.
        let far = Instant::now() + Duration::from_secs(5);
        let result = acquire(&b, IP, far, move |_, limit| log.lock().unwrap().push(limit)).await;
        assert!(result.is_err());
        assert!(said.lock().unwrap().is_empty(), "nothing to wait for");
        let near = Instant::now() + Duration::from_secs(60);
        let log = said.clone();
        let waiter = tokio::spawn({
            let b = b.clone();
            async move {
                acquire(&b, IP, near, move |_, limit| {
                    log.lock().unwrap().push(limit)
                })
                .await
                .is_ok()
            }
        });
        // Said as soon as it waits; then a served session elsewhere ends the back-off.
        let until = Instant::now() + Duration::from_secs(10);
        while said.lock().unwrap().is_empty() {
            assert!(Instant::now() < until, "the wait is announced");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let limit = said.lock().unwrap()[0];
        assert!(
            limit > Duration::from_secs(19) && limit <= Duration::from_secs(20),
            "{limit:?}"
        );
        b.finished(IP, Outcome::Served);
        assert!(waiter.await.unwrap(), "started once the back-off ended");
    }
}
