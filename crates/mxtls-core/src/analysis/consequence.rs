//! Severity by consequence for mail: a host-level failure that makes one kind of sender give
//! up on a host is an error only when that sender's mail then waits. Where the sender
//! delivers anyway — through another address of the host or another MX host — the finding
//! is a warning that says so: mail is delayed, not stopped, for as long as that other server
//! works. (Pushed to a server that takes it in cleartext, the failure exposes their mail: an
//! error still, which says where the mail goes.) So a finding's severity and the report's status (read from the sender matrix)
//! cannot disagree: a good backup never leaves an error above a headline that says mail
//! flows, and a failing only host never shows a warning above one that says it waits.

use crate::findings::{Code, Finding, Severity, Subject};
use crate::names::DnsName;
use crate::report::{Delivery, Sender, SenderOutcome};

/// The kind of sender that gives up on a host because of `code`, for the codes whose harm
/// is exactly that.
fn stopped_sender(code: Code) -> Option<Sender> {
    match code {
        Code::TlsaMismatch
        | Code::TlsaKeyTypePartial
        | Code::DaneTaNotInChain
        | Code::DaneTaNameMismatch
        | Code::TlsaLookupFailed
        | Code::DnssecBogus
        | Code::DnssecIndeterminate
        | Code::DnsLookupFailed
        // An error only under DANE-TA, which checks dates.
        | Code::CertExpired => Some(Sender::Dane),
        Code::MtaStsMxNotCovered | Code::MtaStsMxCertInvalid => Some(Sender::MtaSts),
        _ => None,
    }
}

/// The host a finding is about, where it is about one.
fn host_of(subject: &Subject) -> Option<&DnsName> {
    match subject {
        Subject::Host { name } => Some(name),
        Subject::Address { host, .. } => Some(host),
        Subject::Domain { .. } | Subject::Resolver => None,
    }
}

/// Lowers to a warning each host-level error whose sender still delivers, and says where
/// the mail goes instead.
pub(super) fn apply(findings: &mut [Finding], rows: &[SenderOutcome]) {
    for f in findings
        .iter_mut()
        .filter(|f| f.severity == Severity::Error)
    {
        let (Some(sender), Some(host)) = (stopped_sender(f.code), host_of(&f.subject)) else {
            continue;
        };
        let Some(row) = rows.iter().find(|r| r.sender == sender) else {
            continue;
        };
        let who = match sender {
            Sender::Dane => "Senders that validate DANE",
            _ => "Senders that enforce MTA-STS",
        };
        if row.delivery == Delivery::Unknown {
            // Whether they then wait depends on servers the probe could not test.
            f.severity = Severity::Warning;
            f.explanation.push_str(&format!(
                " {who} skip {host}; whether another server takes the mail could not be tested from here."
            ));
            continue;
        }
        let Some(via) = &row.via else {
            continue;
        };
        if row.delivery == Delivery::Cleartext {
            // Pushed to a server without TLS: the failure exposes their mail, an error still.
            f.explanation.push_str(&format!(
                " {who} skip {host} and deliver through {via} instead — in cleartext."
            ));
            continue;
        }
        if !matches!(row.delivery, Delivery::Authenticated | Delivery::Encrypted) {
            continue;
        }
        let instead = if via == host {
            format!("{who} still deliver through another address of {host}")
        } else {
            format!("{who} skip {host} and deliver through {via}")
        };
        f.severity = Severity::Warning;
        f.explanation.push_str(&format!(
            " {instead}: mail is delayed, not stopped — as long as {via} works. Fix it before that server fails too."
        ));
    }
}
