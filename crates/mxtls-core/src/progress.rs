//! Progress events: what the probe is doing while a check runs. The probe emits them, the
//! server streams them to the browser and the CLI draws them; they describe steps, never
//! verdicts. They live here, beside the evidence, because they are a wire format that both
//! ends must read the same way.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::evidence::{DnsOutcome, DnssecState, KeyTypeOffer, Step};
use crate::names::{DnsName, RecordType};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    LookupStarted {
        qname: DnsName,
        qtype: RecordType,
    },
    LookupDone {
        qname: DnsName,
        qtype: RecordType,
        outcome: DnsOutcome,
        dnssec: DnssecState,
    },
    /// A session with an address reached `step`; `limit_ms` is how long the step may take.
    Session {
        host: DnsName,
        ip: IpAddr,
        offer: KeyTypeOffer,
        step: Step,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit_ms: Option<u64>,
    },
    /// A session ended; `stopped` is where it failed, if it did.
    SessionDone {
        host: DnsName,
        ip: IpAddr,
        offer: KeyTypeOffer,
        stopped: Option<Step>,
    },
    /// A session waits before it connects: the address's session budget (politeness to the
    /// tested server, `reason` in words) allows none now; `wait_ms` is the expected wait.
    Waiting {
        host: DnsName,
        ip: IpAddr,
        offer: KeyTypeOffer,
        reason: String,
        wait_ms: u64,
    },
    /// The target policy refused an address.
    Refused {
        host: DnsName,
        ip: IpAddr,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_their_json_form() {
        let event = Event::Session {
            host: crate::names::parse_user_domain("mx.example").unwrap(),
            ip: "192.0.2.1".parse().unwrap(),
            offer: KeyTypeOffer::Rsa,
            step: Step::Handshake,
            limit_ms: Some(15_000),
        };
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains(r#""event":"session""#), "{json}");
        assert!(json.contains(r#""step":"handshake""#), "{json}");
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    }
}
