//! An address's evidence made of another check's sessions there (the probe's
//! `RecentEvidence` seam): over the budget, or first for a batch's check.

use std::net::IpAddr;

use mxtls_core::evidence::{AddressEvidence, TargetDecision};

use super::posture;
use crate::budget;

/// Why a batch's check reused an address's sessions (`Config::reuse_first`).
pub(super) const SHARED_IN_BATCH: &str = "a portfolio's domains share their mail servers' sessions: another domain's check saw this server within the budget's window";

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
