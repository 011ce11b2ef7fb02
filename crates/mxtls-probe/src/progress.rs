//! Progress events, streamed while a check runs (the CLI draws them on a terminal; the server
//! will forward them to the browser). They describe what the probe is doing, never verdicts.

use std::net::IpAddr;

use mxtls_core::dns::{DnsName, RecordType};
use mxtls_core::evidence::{KeyTypeOffer, Step};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    LookupStarted {
        qname: DnsName,
        qtype: RecordType,
    },
    LookupDone {
        qname: DnsName,
        qtype: RecordType,
        outcome: String,
        dnssec: String,
    },
    /// A session with an address reached `step`.
    Session {
        host: DnsName,
        ip: IpAddr,
        offer: KeyTypeOffer,
        step: Step,
    },
    /// A session ended; `stopped` is where it failed, if it did.
    SessionDone {
        host: DnsName,
        ip: IpAddr,
        offer: KeyTypeOffer,
        stopped: Option<Step>,
    },
    /// The target policy refused an address.
    Refused {
        host: DnsName,
        ip: IpAddr,
        reason: String,
    },
}

/// Where events go; `None` drops them.
pub type Sink = Option<tokio::sync::mpsc::UnboundedSender<Event>>;

pub(crate) fn emit(sink: &Sink, event: Event) {
    if let Some(tx) = sink {
        let _ = tx.send(event);
    }
}
