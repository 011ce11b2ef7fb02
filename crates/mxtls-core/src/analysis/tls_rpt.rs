//! The TLS-RPT judgement (RFC 8460 §3): one finding for the `_smtp._tls` record.

use crate::tls_rpt::{TlsRpt, parse_txt};

/// The TLS-RPT finding for the domain of `ev`.
pub fn judge(ev: &crate::Evidence) -> crate::Finding {
    use crate::findings::{Code, Finding, Severity, Subject};
    let domain = Subject::Domain {
        name: ev.domain.clone(),
    };
    let example = vec![format!(
        "_smtp._tls.{}. IN TXT \"v=TLSRPTv1; rua=mailto:tls-reports@{}\"",
        ev.domain, ev.domain
    )];
    let rpt = match &ev.tls_rpt {
        None => TlsRpt::Missing,
        Some(a) if a.got_no_answer() => {
            return Finding::new(
                Code::DnsLookupFailed,
                Severity::Warning,
                domain,
                format!("The TLS-RPT lookup for {} fails ({})", a.qname, a.outcome.id()),
            )
            .explain("Senders that cannot read the record cannot send you TLS reports; whether one is published cannot be seen from here.")
            .fix(format!("Make the authoritative servers for {} answer TXT queries.", a.qname));
        }
        Some(a) => parse_txt(&crate::dns::txt_strings(a)),
    };
    match rpt {
        TlsRpt::Valid { rua } => Finding::new(Code::TlsRptOk, Severity::Ok, domain, "TLS-RPT is set up")
            .explain(format!("Senders send daily reports of TLS failures to {}.", rua.join(", "))),
        TlsRpt::Missing => Finding::new(
            Code::TlsRptMissing,
            Severity::Notice,
            domain,
            "No TLS-RPT record: you will not hear about TLS failures",
        )
        .explain("With TLS-RPT, senders report failed or downgraded TLS to your mail servers daily: how you learn of an attack or a broken certificate before mail is lost.")
        .fix_with_records("Publish a reporting address (a mailbox, or an https: collector: an mxtls server that watches the domain takes reports at https://<server>/tlsrpt/<domain>, and holds them against its checks):", example),
        TlsRpt::Invalid { reason } => Finding::new(
            Code::TlsRptInvalid,
            Severity::Warning,
            domain,
            "The TLS-RPT record is invalid, so senders send no reports",
        )
        .explain(format!("{reason}."))
        .fix_with_records("Publish exactly one record like this one:", example),
    }
}
