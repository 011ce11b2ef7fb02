//! Whether an address may be connected to at all: the operator's opt-out list
//! (`--never-probe`) first, then the target policy (public addresses only). An address
//! turned away is evidence — the report says why it was not tested — never a failure.

use std::net::IpAddr;
use std::sync::Arc;

use mxtls_core::evidence::{AddressEvidence, TargetDecision};
use mxtls_core::names::DnsName;

use super::Run;
use crate::progress::{Event, emit};
use crate::target;

impl Run {
    /// The evidence of an address not to connect to, with the reason; `None`: go ahead.
    /// `host` probes it; `named` are all the MX hosts that name it (an opt-out of any covers
    /// the server they share).
    pub(super) async fn untested(
        self: &Arc<Self>,
        host: &DnsName,
        named: &[DnsName],
        ip: IpAddr,
    ) -> Option<AddressEvidence> {
        let mut opted_out = None;
        if let Some(list) = &self.config.never_probe {
            for name in std::iter::once(host).chain(named) {
                opted_out = list.opted_out(name, ip).await;
                if opted_out.is_some() {
                    break;
                }
            }
        }
        let (target, reason) = if let Some(entry) = opted_out {
            (
                TargetDecision::OptedOut { entry },
                "the operator of this checker was asked not to test this host",
            )
        } else if !self.config.allow_private_targets
            && let Err(reason) = target::check(ip)
        {
            (
                TargetDecision::Refused {
                    reason: reason.into(),
                },
                reason,
            )
        } else {
            return None;
        };
        emit(
            &self.sink,
            Event::Refused {
                host: host.clone(),
                ip,
                reason: reason.into(),
            },
        );
        Some(AddressEvidence {
            ip,
            target,
            sessions: Vec::new(),
            probed_for: Some(host.clone()),
            reused: None,
            posture: None,
        })
    }
}
