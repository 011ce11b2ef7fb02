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

/// How long a step has been waited for, against its limit: ` — 12 s (waits up to 35 s)`.
/// Shown once a step takes a noticeable time, so that a slow server reads as waiting, not
/// hanging. The limit is that of what is waited for; should the time shown pass it (the
/// step's end is still on its way to the page), it says so instead of a smaller limit.
pub fn waited(waited_ms: Option<u64>, limit_ms: Option<u64>) -> String {
    match (waited_ms, limit_ms) {
        (Some(w), Some(l)) if w >= 2_000 && w / 1000 > l.div_ceil(1000) => format!(
            " — {} s (its limit, {} s, has passed: the result is on its way)",
            w / 1000,
            l.div_ceil(1000)
        ),
        (Some(w), Some(l)) if w >= 2_000 => {
            format!(" — {} s (waits up to {} s)", w / 1000, l.div_ceil(1000))
        }
        (Some(w), None) if w >= 2_000 => format!(" — {} s", w / 1000),
        _ => String::new(),
    }
}

/// Where a session of the live progress is: the step it is at, or how it ended. A session
/// offering only one key type that the server turns away at the handshake is normal (the
/// server has a key of another type) and says so.
pub fn session_state(o: KeyTypeOffer, at: Step, finished: Option<Option<Step>>) -> Words {
    match finished {
        None => words(format!("{}…", step(at)), Mood::Info),
        Some(None) => words("done", Mood::Good),
        Some(Some(Step::Handshake)) if o != KeyTypeOffer::Any => words(
            format!(
                "no {} (normal when the server has a key of another type)",
                offer(o).trim_end_matches(" only")
            ),
            Mood::Info,
        ),
        Some(Some(stopped)) => words(format!("stopped at {}", step(stopped)), Mood::Warn),
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
        session_state(o, at, finished).text
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
            ..
        } => session_line(host, *ip, *o, *s, None),
        Event::SessionDone {
            host,
            ip,
            offer: o,
            stopped,
        } => session_line(host, *ip, *o, stopped.unwrap_or(Step::Quit), Some(*stopped)),
        Event::Waiting {
            host,
            ip,
            offer: o,
            reason,
            wait_ms,
        } => format!(
            "{host} [{ip}] ({}): waiting up to {} s — {reason}",
            offer(*o),
            wait_ms.div_ceil(1000)
        ),
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
            limit_ms: Some(15_000),
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
        // An RSA-only session turned away at the handshake is normal, and says so.
        let state = session_state(
            KeyTypeOffer::Rsa,
            Step::Handshake,
            Some(Some(Step::Handshake)),
        );
        assert_eq!(
            state.text,
            "no RSA certificate (normal when the server has a key of another type)"
        );
        assert_eq!(
            waited(Some(12_400), Some(35_000)),
            " — 12 s (waits up to 35 s)"
        );
        assert_eq!(waited(Some(300), Some(35_000)), "");
        // Never a time past the limit without saying why.
        assert_eq!(
            waited(Some(35_900), Some(35_000)),
            " — 35 s (waits up to 35 s)"
        );
        assert_eq!(
            waited(Some(24_000), Some(1_000)),
            " — 24 s (its limit, 1 s, has passed: the result is on its way)"
        );
    }
}
