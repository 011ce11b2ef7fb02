//! The report: what `analyse` concludes, shaped for the renderers (text, JSON, web). Every
//! output type lives here (or in a submodule, re-exported here), not in the module that
//! produces it, so a renderer needs nothing but this module and `findings`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::evidence::{KeyTypeOffer, UnixTime};
use crate::findings::{Finding, Severity};
use crate::names::DnsName;
use crate::tls::TlsVersion;

mod certs;
mod dane;
mod diff;
mod horizon;
mod mta_sts;
mod nameservers;
mod posture;
mod senders;

pub use certs::{CertFacts, KeyKind, PathError};
pub use dane::{ChainDane, TaProblem, TlsaMatch};
pub use diff::{FindingChange, ReportDiff};
pub use horizon::{
    DEFAULT_CERT_DAYS, DEFAULT_RRSIG_DAYS, Horizon, days_until, in_days, renewal_date,
};
pub use mta_sts::{FetchState, Mode, MtaStsReport, Policy, StsHost, StsTxt};
pub use nameservers::{NameserverRow, NameserverZone};
pub use posture::{PostQuantum, PostureReport, PostureReuse};
pub use senders::{Attack, Delivery, Protection, Sender, SenderOutcome};

/// The TLS verdict for one address (or one chain of it): what a sender gets there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Authenticated by DANE.
    Verified,
    /// PKIX-valid for the MX host name (what MTA-STS senders require).
    Trusted,
    /// Encrypted but not authenticated.
    Untrusted,
    /// No STARTTLS (missing or stripped): mail travels in cleartext.
    NoStarttls,
    /// STARTTLS offered but failed: senders fall back to cleartext or defer.
    TlsFailed,
    /// No TCP connection to port 25.
    Unreachable,
    /// A connection, but no working SMTP: no greeting within the deadline, an EHLO never
    /// answered, an endless or garbled reply.
    Broken,
    /// The server refused or limited us; says nothing about the domain.
    Inconclusive,
    /// Not connected: the address is not public (target policy).
    Refused,
    /// Not connected: its postmaster asked the operator of this checker not to test it
    /// (`--never-probe`). Says nothing about the server.
    OptedOut,
}

impl Verdict {
    /// The machine id (the serde name); the words are the presentation layer's.
    pub fn id(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::Trusted => "trusted",
            Verdict::Untrusted => "untrusted",
            Verdict::NoStarttls => "no-starttls",
            Verdict::TlsFailed => "tls-failed",
            Verdict::Unreachable => "unreachable",
            Verdict::Broken => "broken",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Refused => "refused",
            Verdict::OptedOut => "opted-out",
        }
    }
}

/// Whether DANE applies to an MX host (RFC 7672 §2.2), and with what result for senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DaneStatus {
    /// Secure MX, addresses and TLSA with at least one usable record: senders authenticate.
    Applies,
    /// Secure TLSA RRset, but no record is usable: senders require STARTTLS without
    /// authentication.
    Unusable,
    /// Secure, but no TLSA published.
    NotPublished,
    /// The MX or the host's addresses are not DNSSEC-signed: DANE cannot apply.
    NotApplicable,
    /// A lookup failed or did not validate: DANE senders defer mail to this host.
    Failed,
    /// The probe's resolver strips DNSSEC: the status cannot be known from here.
    Unknown,
}

impl DaneStatus {
    /// The machine id (the serde name).
    pub fn id(self) -> &'static str {
        match self {
            DaneStatus::Applies => "applies",
            DaneStatus::Unusable => "unusable",
            DaneStatus::NotPublished => "not-published",
            DaneStatus::NotApplicable => "not-applicable",
            DaneStatus::Failed => "failed",
            DaneStatus::Unknown => "unknown",
        }
    }
}

/// The whole judgement of one evidence value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub domain: DnsName,
    /// When the evidence was gathered (the time it is judged at).
    pub judged_at: UnixTime,
    pub summary: Summary,
    /// Every finding, most severe first.
    pub findings: Vec<Finding>,
    pub mx: Vec<MxReport>,
    /// MTA-STS and TLS-RPT; `None` for a domain that accepts no mail.
    #[serde(default)]
    pub mta_sts: Option<MtaStsReport>,
    /// Which senders refuse to be downgraded: `dane`, `mta-sts`, `both`, `none`, or
    /// `unknown` when no server could be tested.
    pub downgrade_protection: Protection,
    /// What happens to a message, by kind of sender.
    pub senders: Vec<SenderOutcome>,
    /// The findings grouped by cause, in the order of `findings` (most severe and most
    /// harmful first).
    #[serde(default)]
    pub groups: Vec<FindingGroup>,
    /// "Do this first": indexes into `groups` of the one or two actions that change the
    /// status, each with its whole fix.
    #[serde(default)]
    pub first: Vec<usize>,
    /// How far ahead the judgement looked for what stops working.
    #[serde(default)]
    pub horizon: Horizon,
    /// Every authoritative server of the zones on the path, compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<NameserverZone>,
}

impl Report {
    /// The number of findings of `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }
}

/// The domain's state in a word, decided by the analysis from what happens to mail (not from
/// counting findings): the page's box, the widget, the badge, the CLI headline and the JSON
/// all show this one status, so they can never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Status {
    /// A null MX: the domain accepts no mail.
    NoMail,
    /// No address could be judged and DNS shows no error.
    NotTested,
    /// Some senders defer mail: a DNS failure, or DANE or MTA-STS failing where it applies.
    SendersDefer,
    /// Some MX host offers no working STARTTLS: mail to it travels in cleartext.
    Cleartext,
    /// Encrypted, but nothing stops an attacker on the path from stripping STARTTLS;
    /// `authenticated`: every judged address has a PKIX-valid certificate for its name.
    Strippable { authenticated: bool },
    /// STARTTLS cannot be stripped for the senders `by` protects; `authenticated`: every
    /// judged address is authenticated (DANE, or PKIX under MTA-STS).
    Protected { by: Protection, authenticated: bool },
}

/// Findings of one cause: the same code and severity on several subjects ("on 8
/// addresses"), shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingGroup {
    pub code: crate::findings::Code,
    pub severity: Severity,
    /// Indexes into [`Report::findings`], the first one the group's face.
    pub findings: Vec<usize>,
}

/// The answer at the top of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// One line for a domain owner.
    pub headline: String,
    /// The state the badge draws.
    pub status: Status,
    /// Every reachable, judged address was authenticated by DANE.
    pub dane_authenticated: bool,
    /// An attacker on the path could strip STARTTLS for senders that validate what they
    /// can (neither DANE on every host nor an enforced MTA-STS policy).
    pub strippable: bool,
    /// The domain says it accepts no mail (null MX).
    pub accepts_no_mail: bool,
}

/// One MX host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MxReport {
    pub host: DnsName,
    /// `None` for implicit MX.
    pub preference: Option<u16>,
    /// Where the TLSA records were looked up (after secure CNAME expansion).
    pub tlsa_base: Option<DnsName>,
    pub dane: DaneStatus,
    /// DNSSEC state of each lookup behind this host, for display.
    pub lookups: Vec<LookupState>,
    pub tlsa: Vec<TlsaReport>,
    pub addresses: Vec<AddressReport>,
}

/// One DNS lookup's outcome and DNSSEC state, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupState {
    pub qname: DnsName,
    pub qtype: String,
    /// `data`, `nodata`, `nxdomain`, `servfail`, …
    pub outcome: String,
    /// `secure`, `insecure`, `bogus`, `indeterminate`.
    pub dnssec: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One TLSA record of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsaReport {
    /// `3 1 1 <hex>`.
    pub record: String,
    pub usable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unusable_reason: Option<String>,
    /// Which presented certificates it matched.
    pub matched: Vec<CertRef>,
    /// Whether any presented chain was compared with it (none is when DANE does not apply
    /// or no server of the host was reached): an empty `matched` means a mismatch only then.
    #[serde(default)]
    pub compared: bool,
}

/// A certificate of a chain presented by an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRef {
    pub ip: IpAddr,
    pub key: KeyKind,
    /// Position in the chain (0 = end entity); `None` when the anchor came from the record.
    pub depth: Option<usize>,
}

/// One address of one MX host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressReport {
    pub ip: IpAddr,
    /// The verdict senders get here: the weakest over the server's chains.
    pub tls: Verdict,
    /// One entry per distinct certificate chain (key type) the server presented.
    pub chains: Vec<ChainReport>,
    /// Whether STARTTLS was advertised in cleartext EHLO.
    pub starttls_offered: Option<bool>,
    /// What the posture sessions showed (absent where none were run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posture: Option<PostureReport>,
}

/// The judgement of one presented chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    pub key: KeyKind,
    pub offered: KeyTypeOffer,
    pub verdict: Verdict,
    /// The protocol, cipher suite and group negotiated, by name (derived from the code
    /// points of the evidence).
    pub tls_version: Option<String>,
    pub cipher_suite: Option<String>,
    pub kx_group: Option<String>,
    /// The protocol's code point (`0x0304` for TLS 1.3).
    #[serde(default)]
    pub tls_version_code: Option<TlsVersion>,
    /// `None` when DANE does not apply to the host.
    pub dane: Option<ChainDane>,
    /// PKIX path validation to the Mozilla roots (plus recorded extra roots).
    pub pkix: Result<(), PathError>,
    /// Whether the end entity carries the MX host name.
    pub name_matches: bool,
    /// The `3 1 1` zone line that would match this chain's key.
    pub dane_ee_record: Option<String>,
    /// The `2 1 1` zone line for the issuer of the end entity, where the chain has one.
    pub dane_ta_record: Option<String>,
    pub certs: Vec<CertFacts>,
}

impl ChainReport {
    /// The session negotiated a protocol RFC 8996 deprecates (below TLS 1.2).
    pub fn deprecated_tls(&self) -> bool {
        self.tls_version_code.is_some_and(TlsVersion::is_deprecated)
    }
}
