//! The live progress of a check in words: lookups and sessions as they happen.

use std::net::IpAddr;

use super::{Mood, Words, offer, step, words};
use crate::evidence::{DnsOutcome, DnssecState, KeyTypeOffer, Step};
use crate::names::{DnsName, RecordType};
use crate::progress::Event;

/// A DNS answer's outcome and DNSSEC state, e.g. `data, secure`.
pub fn lookup_outcome(outcome: &DnsOutcome, dnssec: &DnssecState) -> Words {
    let mood = if outcome.is_failure() || dnssec.is_failed() {
        Mood::Bad
    } else if dnssec.is_secure() {
        Mood::Good
    } else {
        Mood::Info
    };
    words(format!("{}, {}", outcome.id(), dnssec.id()), mood)
}

/// A lookup of the live progress: `mx.example.org AAAA…` or `… : nodata, secure`.
pub fn lookup_line(
    qname: &DnsName,
    qtype: RecordType,
    done: Option<(&DnsOutcome, &DnssecState)>,
) -> String {
    match done {
        None => format!("{qname} {qtype}…"),
        Some((o, d)) => format!("{qname} {qtype}: {}", lookup_outcome(o, d).text),
    }
}

/// Where a session of the live progress is: the step it is at, or how it ended.
pub fn session_state(at: Step, finished: Option<Option<Step>>) -> String {
    match finished {
        None => format!("{}…", step(at)),
        Some(None) => "done".to_owned(),
        Some(Some(stopped)) => format!("stopped at {}", step(stopped)),
    }
}

/// A session of the live progress in one line.
pub fn session_line(
    host: &DnsName,
    ip: IpAddr,
    o: KeyTypeOffer,
    at: Step,
    finished: Option<Option<Step>>,
) -> String {
    format!(
        "{host} [{ip}] ({}): {}",
        offer(o),
        session_state(at, finished)
    )
}

/// One progress event as a line of the terminal's live progress.
pub fn progress_line(event: &Event) -> String {
    match event {
        Event::LookupStarted { qname, qtype } => {
            format!("lookup {}", lookup_line(qname, *qtype, None))
        }
        Event::LookupDone {
            qname,
            qtype,
            outcome,
            dnssec,
        } => format!(
            "lookup {}",
            lookup_line(qname, *qtype, Some((outcome, dnssec)))
        ),
        Event::Session {
            host,
            ip,
            offer: o,
            step: s,
        } => session_line(host, *ip, *o, *s, None),
        Event::SessionDone {
            host,
            ip,
            offer: o,
            stopped,
        } => session_line(host, *ip, *o, stopped.unwrap_or(Step::Quit), Some(*stopped)),
        Event::Refused { host, ip, reason } => format!("{host} [{ip}] not contacted: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_read_as_sentences() {
        let host = DnsName::parse("mx.example").unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let line = progress_line(&Event::Session {
            host: host.clone(),
            ip,
            offer: KeyTypeOffer::Rsa,
            step: Step::Handshake,
        });
        assert_eq!(
            line,
            "mx.example [192.0.2.1] (RSA certificate only): TLS handshake…"
        );
        let line = progress_line(&Event::SessionDone {
            host,
            ip,
            offer: KeyTypeOffer::Any,
            stopped: None,
        });
        assert_eq!(line, "mx.example [192.0.2.1] (any certificate): done");
    }
}
