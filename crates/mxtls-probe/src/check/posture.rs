//! The posture part of one address: the core's plan (`mxtls_core::posture::next`) asked
//! one session at a time, after the verdict-bearing sessions so that it never delays them.
//! Each session takes a budget permit it does not wait for: a server whose budget is spent
//! gets a shorter posture, said so in the evidence, never a slower check.

use std::net::IpAddr;
use std::time::Instant;

use mxtls_core::evidence::{KeyTypeOffer, PostureEvidence, SessionStop, TlsEvidence};
use mxtls_core::names::DnsName;

use super::{CONNECTIONS, Run};
use crate::budget::{Admission, Outcome};
use crate::smtp::{self, SessionPlan};

impl Run {
    /// The posture sessions for `ip`, or `None` where posture is not asked for.
    pub(super) async fn posture(
        &self,
        sni: &DnsName,
        ip: IpAddr,
        main: Option<&TlsEvidence>,
    ) -> Option<PostureEvidence> {
        if !self.config.posture {
            return None;
        }
        let mut evidence = PostureEvidence::default();
        let Some(main) = main else {
            evidence.skipped = Some("no TLS handshake in the main session".into());
            return Some(evidence);
        };
        while let Some((question, offer)) =
            mxtls_core::posture::next(&evidence.sessions, Some(main))
        {
            if Instant::now() >= self.deadline {
                evidence.skipped = Some("the check's deadline came first".into());
                break;
            }
            let _permit = match &self.config.budget {
                None => None,
                Some(b) => match b.admit(ip).await {
                    Admission::Start(permit) => Some(permit),
                    Admission::Wait { reason, .. } => {
                        evidence.skipped = Some(format!("not asked further: {reason}"));
                        break;
                    }
                },
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
