//! The posture part of one address: the core's plan (`mxtls_core::posture::next`) asked
//! one session at a time, after the verdict-bearing sessions so that it never delays them.
//! Each session takes a budget permit it does not wait for: a server whose budget is spent
//! gets a shorter posture, said so in the evidence, never a slower check.
//!
//! Posture changes rarely, so an address's last posture (from the store, through
//! `budget::RecentEvidence::posture`) stands in for a new one when it is younger than
//! [`PostureConfig::reuse_max_age`] and the server still answers the main session with the
//! same version and suite (a server that did not is asked afresh); and, of any age, when the
//! budget or the deadline leaves no room for the first posture session — with its age, which
//! the report shows.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mxtls_core::evidence::{KeyTypeOffer, PostureEvidence, SessionStop, TlsEvidence};
use mxtls_core::names::DnsName;

use super::{CONNECTIONS, Run};
use crate::budget::{self, Outcome, Recent};
use crate::smtp::{self, SessionPlan};

/// The longest a posture session waits for another session with its address to end.
const BUSY_WAIT: Duration = Duration::from_secs(3);

/// Whether a check asks posture, and how long an address's last posture stands in for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostureConfig {
    /// Ask posture at all: `mxtls serve` and `worker` do by default, `mxtls check` with
    /// `--posture` (a one-off check from a terminal need not cost a server six sessions).
    pub ask: bool,
    /// A posture younger than this is reused (zero: always asked afresh).
    pub reuse_max_age: Duration,
}

impl Default for PostureConfig {
    fn default() -> Self {
        PostureConfig {
            ask: false,
            reuse_max_age: Duration::from_secs(86_400),
        }
    }
}

impl Run {
    /// The posture sessions for `ip`, or `None` where posture is not asked for.
    pub(super) async fn posture(
        &self,
        sni: &DnsName,
        ip: IpAddr,
        main: Option<&TlsEvidence>,
    ) -> Option<PostureEvidence> {
        if !self.config.posture.ask {
            return None;
        }
        let mut evidence = PostureEvidence::default();
        let Some(main) = main else {
            evidence.skipped = Some("no TLS handshake in the main session".into());
            return Some(evidence);
        };
        let last = match &self.config.reuse {
            Some(store) => store.posture(ip).await.filter(has_posture),
            None => None,
        };
        if let Some(last) = last.as_ref().filter(|l| {
            age(l) < self.config.posture.reuse_max_age.as_secs() as i64 && same_server(l, main)
        }) {
            let why = "posture changes rarely, and this server answers as it did then";
            return from_last(last, why);
        }
        let started = Instant::now();
        while let Some((question, offer)) =
            mxtls_core::posture::next(&evidence.sessions, Some(main))
        {
            let first = evidence.sessions.is_empty();
            if Instant::now() >= self.deadline {
                if let (true, Some(last)) = (first, &last) {
                    return from_last(last, "the check's deadline left no time to ask");
                }
                evidence.skipped = Some("the check's deadline came first".into());
                break;
            }
            let _permit = match &self.config.budget {
                None => None,
                Some(b) => {
                    // Another session with the address (a check's, or ours whose end the
                    // cluster's store has yet to record) ends within moments: that is waited
                    // for, briefly. A spent budget or a back-off is not.
                    let until = (tokio::time::Instant::now() + BUSY_WAIT)
                        .min(tokio::time::Instant::from_std(self.deadline));
                    match budget::acquire(b.as_ref(), ip, until, |_, _| {}).await {
                        Ok(permit) => Some(permit),
                        Err(reason) => {
                            if let (true, Some(last)) = (first, &last) {
                                return from_last(last, &format!("not asked again: {reason}"));
                            }
                            evidence.skipped = Some(format!("not asked further: {reason}"));
                            break;
                        }
                    }
                }
            };
            let Ok(_connection) = CONNECTIONS.acquire().await else {
                break;
            };
            let plan = SessionPlan {
                ip,
                port: self.config.smtp_port,
                sni: sni.clone(),
                offer: KeyTypeOffer::Any,
                helo: self.config.helo.clone(),
                source: self.config.source,
                deadline: self.deadline,
                deadlines: self.config.deadlines,
                on_step: None,
            };
            let session = smtp::posture_session(&plan, question, offer).await;
            if let Some(b) = &self.config.budget {
                b.finished(ip, outcome_of_stop(session.stopped.as_ref()));
            }
            // A server that stopped talking to us is not asked again.
            let stopped = session.stopped.is_some() || session.end.is_none();
            evidence.sessions.push(session);
            if stopped {
                break;
            }
        }
        evidence.elapsed_ms = Some(crate::clock::elapsed_ms(started));
        Some(evidence)
    }
}

/// How a session that kept no greeting ended, for the budget.
fn outcome_of_stop(stop: Option<&SessionStop>) -> Outcome {
    use mxtls_core::evidence::SessionError;
    match stop.map(|x| &x.error) {
        Some(SessionError::ConnectRefused | SessionError::Rejected { code: 421 }) => {
            Outcome::Refused
        }
        Some(SessionError::ConnectTimeout) => Outcome::Other,
        _ => Outcome::Served,
    }
}

/// Whether `last` holds a posture that was asked to its end (not one cut short).
fn has_posture(last: &Recent) -> bool {
    last.evidence
        .posture
        .as_ref()
        .is_some_and(PostureEvidence::is_whole)
}

/// Seconds since `last`'s posture was asked (in the check it was first asked in).
fn age(last: &Recent) -> i64 {
    let asked = last
        .evidence
        .posture
        .as_ref()
        .and_then(|p| p.reused.as_ref())
        .map_or(last.gathered_at, |r| r.gathered_at);
    crate::clock::unix_now().0 - asked.0
}

/// Whether the server's main session chose what it chose then: the same version and
/// suite. A changed one (a new TLS library, a new configuration) is asked afresh.
fn same_server(last: &Recent, main: &TlsEvidence) -> bool {
    let Some(then) = last.evidence.sessions.first().and_then(|s| s.tls.as_ref()) else {
        return false;
    };
    then.version.is_some()
        && then.version == main.version
        && then.cipher_suite.is_some()
        && then.cipher_suite == main.cipher_suite
}

/// `last`'s posture, said to be reused.
fn from_last(last: &Recent, reason: &str) -> Option<PostureEvidence> {
    reused(
        last.evidence.posture.clone(),
        &last.snapshot,
        last.gathered_at,
        reason,
    )
}

/// A reused address's posture, said to be reused (unless it already was, from further back).
pub(super) fn reused(
    posture: Option<PostureEvidence>,
    snapshot: &str,
    gathered_at: mxtls_core::UnixTime,
    reason: &str,
) -> Option<PostureEvidence> {
    posture.map(|mut p| {
        p.reused
            .get_or_insert(mxtls_core::evidence::ReusedSessions {
                snapshot: snapshot.to_owned(),
                gathered_at,
                reason: reason.to_owned(),
            });
        p
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxtls_core::evidence::{
        AddressEvidence, KeyTypeOffer, ReusedSessions, SmtpSession, TargetDecision,
    };
    use mxtls_core::tls::{CipherSuite, TlsVersion};

    fn tls(version: u16, suite: u16) -> TlsEvidence {
        TlsEvidence {
            sni: DnsName::parse("mx.example.org").expect("a name"),
            version: Some(TlsVersion(version)),
            cipher_suite: Some(CipherSuite(suite)),
            kx_group: None,
            chain: Vec::new(),
        }
    }

    /// An address whose main session chose `main`, with a posture asked at `asked`.
    fn last(main: TlsEvidence, gathered: i64, asked: Option<i64>) -> Recent {
        let mut session = SmtpSession::new(25, KeyTypeOffer::Any);
        session.tls = Some(main);
        let posture = PostureEvidence {
            reused: asked.map(|at| ReusedSessions {
                snapshot: "older".into(),
                gathered_at: mxtls_core::UnixTime(at),
                reason: "posture changes rarely".into(),
            }),
            ..PostureEvidence::default()
        };
        Recent {
            evidence: AddressEvidence {
                ip: "192.0.2.25".parse().expect("an address"),
                target: TargetDecision::Allowed,
                sessions: vec![session],
                probed_for: None,
                reused: None,
                posture: Some(posture),
            },
            host: DnsName::parse("mx.example.org").expect("a name"),
            snapshot: "last".into(),
            gathered_at: mxtls_core::UnixTime(gathered),
        }
    }

    #[test]
    fn a_server_that_now_chooses_another_version_or_suite_is_asked_afresh() {
        let then = last(tls(0x0304, 0x1302), 0, None);
        assert!(same_server(&then, &tls(0x0304, 0x1302)));
        assert!(!same_server(&then, &tls(0x0303, 0x1302)), "another version");
        assert!(!same_server(&then, &tls(0x0304, 0x1301)), "another suite");
        let unknown = last(
            TlsEvidence {
                version: None,
                ..tls(0x0304, 0x1302)
            },
            0,
            None,
        );
        assert!(
            !same_server(&unknown, &tls(0x0304, 0x1302)),
            "nothing to compare"
        );
    }

    #[test]
    fn a_reused_posture_ages_from_when_it_was_asked() {
        let now = crate::clock::unix_now().0;
        let fresh = last(tls(0x0304, 0x1302), now - 60, None);
        assert!((60..70).contains(&age(&fresh)), "{}", age(&fresh));
        // Reused by a check a minute ago from one two days ago: two days old, not a minute.
        let handed_on = last(tls(0x0304, 0x1302), now - 60, Some(now - 2 * 86_400));
        assert!(age(&handed_on) >= 2 * 86_400, "{}", age(&handed_on));
        let posture = from_last(&handed_on, "budget").and_then(|p| p.reused);
        assert_eq!(
            posture.map(|r| (r.snapshot, r.gathered_at.0)),
            Some(("older".to_owned(), now - 2 * 86_400)),
            "handed on with its origin"
        );
    }
}
