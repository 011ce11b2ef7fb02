//! An address's evidence made of another check's sessions there (the probe's
//! `RecentEvidence` seam): over the budget, or first for a batch's check.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mxtls_core::evidence::{AddressEvidence, TargetDecision};

use super::posture;
use crate::budget::{self, Admission, Permit, RecentEvidence, TargetBudget};

/// A batch's check looks first for another check's sessions at `ip` younger than the
/// budget's window (`Config::reuse_first`).
pub(super) async fn first(config: &super::Config, ip: IpAddr) -> Option<AddressEvidence> {
    let (Some(b), Some(reuse)) = (&config.budget, &config.reuse) else {
        return None;
    };
    if !config.reuse_first {
        return None;
    }
    let recent = reuse.recent(ip).await?;
    let age = crate::clock::unix_now().0 - recent.gathered_at.0;
    (age <= b.window().as_secs() as i64).then(|| evidence(ip, recent, SHARED_IN_BATCH.to_owned()))
}

/// How often a check over the budget looks again for another check's sessions.
const LOOK_AGAIN: Duration = Duration::from_millis(200);

/// Over the budget with nothing to reuse yet: another check may be in a session at `ip`
/// right now (one at a time), or just be done. Looks again for its sessions, and asks the
/// budget again, until `until`: `Err` with the address's evidence from another check's
/// sessions, `Ok(Some)` with a permit for a session of its own, `Ok(None)` when neither
/// came in time (the session then waits for the budget, within the check's deadline). So
/// many checks of domains on one server, started at once, share the first one's sessions
/// instead of queueing for the budget until their deadlines pass.
pub(super) async fn wait_for_shared(
    budget: &dyn TargetBudget,
    reuse: &dyn RecentEvidence,
    ip: IpAddr,
    until: Instant,
    mut reason: String,
) -> Result<Option<Permit>, Box<AddressEvidence>> {
    loop {
        if let Some(recent) = reuse.recent(ip).await {
            return Err(Box::new(evidence(ip, recent, reason)));
        }
        if Instant::now() + LOOK_AGAIN > until {
            return Ok(None);
        }
        tokio::time::sleep(LOOK_AGAIN).await;
        match budget.admit(ip).await {
            Admission::Start(permit) => return Ok(Some(permit)),
            Admission::Wait { reason: now, .. } => reason = now,
        }
    }
}

/// Why a batch's check reused an address's sessions (`Config::reuse_first`).
const SHARED_IN_BATCH: &str = "a portfolio's domains share their mail servers' sessions: another domain's check saw this server within the budget's window";

/// An address's evidence from another check's sessions there, said to be reused and why.
pub(super) fn evidence(ip: IpAddr, recent: budget::Recent, reason: String) -> AddressEvidence {
    AddressEvidence {
        ip,
        target: TargetDecision::Allowed,
        sessions: recent.evidence.sessions,
        probed_for: recent.evidence.probed_for.or(Some(recent.host)),
        posture: posture::reused(
            recent.evidence.posture,
            &recent.snapshot,
            recent.gathered_at,
            &reason,
        ),
        reused: Some(mxtls_core::evidence::ReusedSessions {
            snapshot: recent.snapshot,
            gathered_at: recent.gathered_at,
            reason,
        }),
    }
}
