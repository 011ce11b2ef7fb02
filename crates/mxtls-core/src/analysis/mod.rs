//! `analyse`: evidence in, report out. Pure: the judgement time is an argument.
//!
//! The order of judgement follows a DANE sender (RFC 7672 §2): the MX RRset and its DNSSEC
//! state, then per host its addresses and TLSA RRset, then per address the SMTP session and
//! each presented chain. Severity follows what senders do, not habit: a name mismatch or an
//! expired certificate under a matching DANE-EE record costs nothing (notice), the same with
//! PKIX only is a warning, and anything that makes DANE senders defer mail is an error.

//!
//! The walk is split the same way: `domain` (the resolver, the MX RRset, limits), `host`
//! (addresses, TLSA RRset, DANE applicability), `address` (the SMTP session), `chain` (each
//! presented chain: DANE, PKIX, names), `mta_sts` and `tls_rpt`, `senders` (the matrix) and
//! `summary` (the answer at the top).

mod address;
mod chain;
mod consequence;
mod diff;
mod domain;
mod horizon;
mod host;
mod hygiene;
mod mta_sts;
mod mta_sts_policy;
mod nameservers;
mod posture;
mod sender_reports;
mod senders;
mod summary;
mod tls_rpt;

pub use diff::diff;
pub use sender_reports::judge_reports;

use hickory_proto::rr::rdata::TLSA;
use rustls_pki_types::TrustAnchor;

use crate::dns;
use crate::evidence::{DnsAnswer, DnssecState, Evidence, RrsigSupport, UnixTime};
use crate::findings::{Code, Finding, Subject};
use crate::names::DnsName;
use crate::pkix;
use crate::report::{DaneStatus, Horizon, MxReport, Protection, Report};

/// Judges `evidence` as of `now` (normally the time the evidence was gathered), trusting
/// Mozilla's roots.
#[cfg(feature = "mozilla-roots")]
pub fn analyse(evidence: &Evidence, now: UnixTime) -> Report {
    analyse_with(evidence, now, &pkix::RootSet::mozilla())
}

/// Judges `evidence` as of `now`, trusting `roots` (and the extra roots the evidence
/// records), looking ahead by the default horizon.
pub fn analyse_with(evidence: &Evidence, now: UnixTime, roots: &pkix::RootSet) -> Report {
    analyse_over(evidence, now, roots, Horizon::Defaults)
}

/// Judges `evidence` as of `now`, trusting `roots`, and adds what stops working before
/// `horizon` (signatures, certificates, TLSA records the next renewal breaks).
pub fn analyse_over(
    evidence: &Evidence,
    now: UnixTime,
    roots: &pkix::RootSet,
    horizon: Horizon,
) -> Report {
    let anchors = pkix::pkix_anchors(roots, &evidence.settings.extra_pkix_roots);
    let mut cx = Judge {
        ev: evidence,
        now,
        anchors,
        findings: Vec::new(),
        degraded: evidence.resolver.rrsigs == RrsigSupport::Absent,
    };
    cx.resolver();
    cx.hygiene();
    let nameservers = cx.nameservers(horizon);
    let mx = cx.mx();
    let hosts: Vec<MxReport> = evidence.hosts.iter().map(|h| cx.host(h, &mx)).collect();
    cx.limits();
    cx.reachability(&hosts);

    // Whether DANE alone keeps every sender that validates it on TLS (MTA-STS's advice
    // depends on it): the matrix without a policy.
    let dane_everywhere =
        senders::protection(&senders::matrix(&hosts, None, &mx)) == Protection::Dane;
    // MTA-STS and TLS-RPT are advice for mail that can be routed: with no usable MX answer,
    // the DNS problem is the only one to fix.
    let mta_sts = (!mx.null && !mx.failed).then(|| {
        let (report, findings) =
            mta_sts::judge(evidence, &hosts, &cx.anchors, now, dane_everywhere);
        cx.findings.extend(findings);
        cx.findings.push(tls_rpt::judge(evidence));
        report
    });
    let (ahead, rollover_risk) = horizon::judge(evidence, now, horizon, &hosts, mta_sts.as_ref());
    // The sharper finding replaces the general advice for the same host.
    cx.findings.retain(|f| {
        !(f.code == Code::TlsaNoRollover
            && matches!(&f.subject, Subject::Host { name } if rollover_risk.contains(name)))
    });
    cx.findings.extend(ahead);
    let senders = senders::matrix(&hosts, mta_sts.as_ref(), &mx);

    let mut findings = cx.findings;
    consequence::apply(&mut findings, &senders);
    findings.sort_by_key(|f| (f.severity, summary::impact(f.code)));
    let (summary, downgrade_protection) = summary::summarise(
        evidence,
        &mx,
        &hosts,
        &findings,
        &senders,
        mta_sts.as_ref(),
        senders::protection(&senders),
    );
    let (groups, first) = summary::groups(&findings, summary.status);
    Report {
        domain: evidence.domain.clone(),
        judged_at: now,
        summary,
        findings,
        mx: hosts,
        mta_sts,
        downgrade_protection,
        senders,
        groups,
        first,
        horizon,
        nameservers,
    }
}

/// What the MX lookup means for the rest of the judgement.
struct MxState {
    dnssec: DnssecState,
    /// No usable MX answer: the lookup failed, or the answer fails validation.
    failed: bool,
    /// The answer came but fails validation: validating senders defer, others may use it.
    bogus: bool,
    null: bool,
}

/// The judgement in progress: the evidence, the time and trust it is judged with, and the
/// findings so far. Each part of the walk adds its methods in its own file.
struct Judge<'e> {
    ev: &'e Evidence,
    now: UnixTime,
    anchors: Vec<TrustAnchor<'e>>,
    findings: Vec<Finding>,
    /// The probe's resolver strips DNSSEC: missing signatures are not the domain's fault.
    degraded: bool,
}

/// The DANE context of one host, shared by its addresses.
struct HostDane<'a> {
    status: DaneStatus,
    usable: Vec<(usize, &'a TLSA)>,
    reference_names: Vec<DnsName>,
    base: DnsName,
}

impl<'e> Judge<'e> {
    pub(super) fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    pub(super) fn domain(&self) -> Subject {
        Subject::Domain {
            name: self.ev.domain.clone(),
        }
    }
}

pub(super) fn failure_reason(a: &DnsAnswer) -> String {
    match dns::overall_dnssec(a) {
        DnssecState::Bogus { reason } => format!("DNSSEC validation fails: {reason}"),
        DnssecState::Indeterminate { reason } => format!("DNSSEC state indeterminate: {reason}"),
        _ => a.outcome.id().to_owned(),
    }
}
