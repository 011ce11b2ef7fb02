//! The live state of a running check, built from the probe's progress events: which
//! lookups are done and where each SMTP session is. Pure, so it is tested natively.

use std::net::IpAddr;
use std::rc::Rc;

use mxtls_core::api::CheckAnswer;
use mxtls_core::evidence::{DnsOutcome, DnssecState, KeyTypeOffer, Step};
use mxtls_core::names::{DnsName, RecordType};
use mxtls_core::pkix::RootSet;
use mxtls_core::progress::Event;
use mxtls_core::{Evidence, Report};
use yew::Reducible;

/// One DNS lookup as the page shows it while the check runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub qname: DnsName,
    pub qtype: RecordType,
    /// `(outcome, dnssec)` once answered.
    pub done: Option<(DnsOutcome, DnssecState)>,
}

/// One SMTP session (an address, one certificate offer).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub host: DnsName,
    pub ip: IpAddr,
    pub offer: KeyTypeOffer,
    /// The step reached.
    pub step: Step,
    /// When that step began (the page's clock, ms), and how long it may take.
    pub step_since: f64,
    pub limit_ms: Option<u64>,
    /// `Some(None)` finished cleanly, `Some(Some(step))` stopped at `step`.
    pub finished: Option<Option<Step>>,
    /// Why it waits before connecting (the address's session budget), while it does.
    pub waiting: Option<String>,
}

/// A finished check: its evidence, judged here.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub snapshot: String,
    pub evidence: Rc<Evidence>,
    pub report: Rc<Report>,
    /// The server answered with a recent check instead of probing again.
    pub reused: bool,
}

impl Loaded {
    /// Reads the server's answer (`/api/domains/{d}/latest`, the stream's `evidence` event)
    /// and judges its evidence as of the time it was gathered.
    pub fn from_json(text: &str, roots: &RootSet) -> Result<Loaded, String> {
        let answer = CheckAnswer::from_json(text).map_err(|e| e.to_string())?;
        Ok(Loaded::judge(answer, roots))
    }

    /// Judges a finished check as of the time its evidence was gathered, over the horizon
    /// the page's address asks for (`?horizon=DAYS`).
    pub fn judge(answer: CheckAnswer, roots: &RootSet) -> Loaded {
        let evidence = answer.evidence;
        let report = mxtls_core::analyse_over(
            &evidence,
            evidence.probe.finished_at,
            roots,
            crate::net::horizon(),
        );
        Loaded {
            snapshot: answer.snapshot,
            evidence: Rc::new(evidence),
            report: Rc::new(report),
            reused: answer.reused,
        }
    }
}

/// Everything the live page knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub lookups: Vec<Lookup>,
    pub sessions: Vec<Session>,
    /// `(host, ip, reason)` of addresses the target policy refused.
    pub refused: Vec<(DnsName, IpAddr, String)>,
    pub result: Option<Result<Loaded, String>>,
    /// The server would not start the check yet (its limits): when it may.
    pub deferred: Option<crate::refusal::Deferred>,
    /// When the check started and what time it is now (the page's clock, ms): the timer.
    pub started_ms: Option<f64>,
    pub now_ms: f64,
}

pub enum Action {
    /// A new check starts at this time.
    Reset(f64),
    /// A progress event, arrived at this time.
    Progress(Event, f64),
    /// The clock moved on (the timer and the seconds waited on a slow step).
    Tick(f64),
    Done(Result<Loaded, String>),
    /// The server refused to start the check for now (429/503 with `Retry-After`).
    Deferred(crate::refusal::Deferred),
}

impl Live {
    /// Sessions finished, and sessions seen: "3 of 16".
    pub fn sessions_done(&self) -> (usize, usize) {
        let done = self
            .sessions
            .iter()
            .filter(|s| s.finished.is_some())
            .count();
        (done, self.sessions.len())
    }

    /// Whole seconds since the check started.
    pub fn elapsed_s(&self) -> u64 {
        self.started_ms
            .map(|s| ((self.now_ms - s).max(0.0) / 1000.0) as u64)
            .unwrap_or(0)
    }

    /// How long a running session has been at its step, in ms.
    pub fn waited_ms(&self, s: &Session) -> Option<u64> {
        s.finished
            .is_none()
            .then(|| (self.now_ms - s.step_since).max(0.0) as u64)
    }

    pub fn apply(&mut self, event: Event, now_ms: f64) {
        self.now_ms = self.now_ms.max(now_ms);
        match event {
            Event::LookupStarted { qname, qtype } => self.lookups.push(Lookup {
                qname,
                qtype,
                done: None,
            }),
            Event::LookupDone {
                qname,
                qtype,
                outcome,
                dnssec,
            } => {
                match self
                    .lookups
                    .iter_mut()
                    .find(|l| l.qname == qname && l.qtype == qtype && l.done.is_none())
                {
                    Some(l) => l.done = Some((outcome, dnssec)),
                    None => self.lookups.push(Lookup {
                        qname,
                        qtype,
                        done: Some((outcome, dnssec)),
                    }),
                }
            }
            Event::Session {
                host,
                ip,
                offer,
                step,
                limit_ms,
            } => {
                let s = self.session(host, ip, offer, now_ms);
                let waited = s.waiting.take().is_some();
                if step > s.step || waited {
                    s.step = step;
                    s.step_since = now_ms;
                    s.limit_ms = limit_ms;
                } else if step == s.step && s.limit_ms.is_none() {
                    s.limit_ms = limit_ms;
                }
            }
            Event::SessionDone {
                host,
                ip,
                offer,
                stopped,
            } => self.session(host, ip, offer, now_ms).finished = Some(stopped),
            Event::Waiting {
                host,
                ip,
                offer,
                reason,
                wait_ms,
            } => {
                let s = self.session(host, ip, offer, now_ms);
                s.waiting = Some(reason);
                s.step_since = now_ms;
                s.limit_ms = Some(wait_ms);
            }
            Event::Refused { host, ip, reason } => {
                self.refused.push((host, ip, reason));
            }
        }
    }

    fn session(
        &mut self,
        host: DnsName,
        ip: IpAddr,
        offer: KeyTypeOffer,
        now_ms: f64,
    ) -> &mut Session {
        let at = match self
            .sessions
            .iter()
            .position(|s| s.host == host && s.ip == ip && s.offer == offer)
        {
            Some(i) => i,
            None => {
                self.sessions.push(Session {
                    host,
                    ip,
                    offer,
                    step: Step::Connect,
                    step_since: now_ms,
                    limit_ms: None,
                    finished: None,
                    waiting: None,
                });
                self.sessions.len() - 1
            }
        };
        &mut self.sessions[at]
    }
}

impl Reducible for Live {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            Action::Reset(now) => {
                next = Live {
                    started_ms: Some(now),
                    now_ms: now,
                    ..Live::default()
                }
            }
            Action::Progress(event, now) => next.apply(event, now),
            Action::Tick(now) => next.now_ms = next.now_ms.max(now),
            Action::Done(result) => next.result = Some(result),
            Action::Deferred(d) => {
                next.now_ms = next.now_ms.max(d.since_ms);
                next.deferred = Some(d);
            }
        }
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxtls_core::names::parse_user_domain;

    #[test]
    fn a_waiting_session_says_why_until_it_connects() {
        let host = parse_user_domain("mx.example").unwrap();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let mut live = Live::default();
        live.apply(
            Event::Waiting {
                host: host.clone(),
                ip,
                offer: KeyTypeOffer::Any,
                reason: "another session with 192.0.2.7 is running: one at a time".into(),
                wait_ms: 1000,
            },
            0.0,
        );
        let s = &live.sessions[0];
        assert_eq!(
            s.waiting.as_deref(),
            Some("another session with 192.0.2.7 is running: one at a time")
        );
        assert_eq!(
            (s.step, s.limit_ms, s.finished),
            (Step::Connect, Some(1000), None)
        );
        live.apply(
            Event::Session {
                host,
                ip,
                offer: KeyTypeOffer::Any,
                step: Step::Connect,
                limit_ms: Some(10_000),
            },
            1500.0,
        );
        assert_eq!(
            live.sessions[0].waiting, None,
            "connecting: no longer waiting"
        );
        assert_eq!(
            (live.sessions[0].limit_ms, live.sessions[0].step_since),
            (Some(10_000), 1500.0),
            "the connect step's own limit and start"
        );
        assert_eq!(live.sessions.len(), 1);
    }

    #[test]
    fn sessions_advance_and_finish_and_lookups_complete() {
        let host = parse_user_domain("mx.example").unwrap();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let mut live = Live::default();
        live.apply(
            Event::LookupStarted {
                qname: host.clone(),
                qtype: RecordType::A,
            },
            0.0,
        );
        live.apply(
            Event::LookupDone {
                qname: host.clone(),
                qtype: RecordType::A,
                outcome: DnsOutcome::Data,
                dnssec: DnssecState::Secure,
            },
            10.0,
        );
        for (t, step) in [Step::Connect, Step::Banner, Step::Starttls, Step::Ehlo]
            .into_iter()
            .enumerate()
        {
            live.apply(
                Event::Session {
                    host: host.clone(),
                    ip,
                    offer: KeyTypeOffer::Any,
                    step,
                    limit_ms: Some(35_000),
                },
                100.0 * (t as f64 + 1.0),
            );
        }
        live.apply(
            Event::Session {
                host: host.clone(),
                ip,
                offer: KeyTypeOffer::Rsa,
                step: Step::Connect,
                limit_ms: Some(10_000),
            },
            500.0,
        );
        live.apply(
            Event::SessionDone {
                host: host.clone(),
                ip,
                offer: KeyTypeOffer::Any,
                stopped: Some(Step::Handshake),
            },
            900.0,
        );
        assert_eq!(live.lookups.len(), 1);
        assert_eq!(
            live.lookups[0].done,
            Some((DnsOutcome::Data, DnssecState::Secure))
        );
        assert_eq!(live.sessions.len(), 2);
        // Steps never go backwards, even when events arrive out of order; the step's start
        // is when it was reached.
        assert_eq!(live.sessions[0].step, Step::Starttls);
        assert_eq!(live.sessions[0].step_since, 300.0);
        assert_eq!(live.sessions[0].finished, Some(Some(Step::Handshake)));
        assert_eq!(live.sessions[1].finished, None);
        assert_eq!(live.sessions_done(), (1, 2));
        // The running session has waited since its step began.
        assert_eq!(live.waited_ms(&live.sessions[1]), Some(400));
    }
}
