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
    /// `Some(None)` finished cleanly, `Some(Some(step))` stopped at `step`.
    pub finished: Option<Option<Step>>,
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

    /// Judges a finished check as of the time its evidence was gathered.
    pub fn judge(answer: CheckAnswer, roots: &RootSet) -> Loaded {
        let evidence = answer.evidence;
        let report = mxtls_core::analyse_with(&evidence, evidence.probe.finished_at, roots);
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
}

pub enum Action {
    Reset,
    Progress(Event),
    Done(Result<Loaded, String>),
}

impl Live {
    pub fn apply(&mut self, event: Event) {
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
            } => {
                let s = self.session(host, ip, offer);
                s.step = s.step.max(step);
            }
            Event::SessionDone {
                host,
                ip,
                offer,
                stopped,
            } => self.session(host, ip, offer).finished = Some(stopped),
            Event::Refused { host, ip, reason } => {
                self.refused.push((host, ip, reason));
            }
        }
    }

    fn session(&mut self, host: DnsName, ip: IpAddr, offer: KeyTypeOffer) -> &mut Session {
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
                    finished: None,
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
            Action::Reset => next = Live::default(),
            Action::Progress(event) => next.apply(event),
            Action::Done(result) => next.result = Some(result),
        }
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxtls_core::names::parse_user_domain;

    #[test]
    fn sessions_advance_and_finish_and_lookups_complete() {
        let host = parse_user_domain("mx.example").unwrap();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let mut live = Live::default();
        live.apply(Event::LookupStarted {
            qname: host.clone(),
            qtype: RecordType::A,
        });
        live.apply(Event::LookupDone {
            qname: host.clone(),
            qtype: RecordType::A,
            outcome: DnsOutcome::Data,
            dnssec: DnssecState::Secure,
        });
        for step in [Step::Connect, Step::Banner, Step::Starttls, Step::Ehlo] {
            live.apply(Event::Session {
                host: host.clone(),
                ip,
                offer: KeyTypeOffer::Any,
                step,
            });
        }
        live.apply(Event::Session {
            host: host.clone(),
            ip,
            offer: KeyTypeOffer::Rsa,
            step: Step::Connect,
        });
        live.apply(Event::SessionDone {
            host: host.clone(),
            ip,
            offer: KeyTypeOffer::Any,
            stopped: Some(Step::Handshake),
        });
        assert_eq!(live.lookups.len(), 1);
        assert_eq!(
            live.lookups[0].done,
            Some((DnsOutcome::Data, DnssecState::Secure))
        );
        assert_eq!(live.sessions.len(), 2);
        // Steps never go backwards, even when events arrive out of order.
        assert_eq!(live.sessions[0].step, Step::Starttls);
        assert_eq!(live.sessions[0].finished, Some(Some(Step::Handshake)));
        assert_eq!(live.sessions[1].finished, None);
    }
}
