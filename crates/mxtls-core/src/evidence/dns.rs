//! DNS evidence: each question the probe asked and everything it learned answering it,
//! with its DNSSEC state.

use serde::{Deserialize, Serialize};

use super::Bytes;
use crate::names::{DnsName, RecordType};

/// One DNS question and everything the probe learned answering it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsAnswer {
    pub qname: DnsName,
    pub qtype: RecordType,
    pub outcome: DnsOutcome,
    /// The response code of the final response (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN…).
    #[serde(default)]
    pub rcode: Option<u16>,
    /// The answer RRset at the end of any CNAME chain, RRSIGs excluded.
    #[serde(default)]
    pub records: Vec<Record>,
    /// CNAMEs followed from `qname`, in order, each with its own DNSSEC state.
    #[serde(default)]
    pub cname_chain: Vec<CnameLink>,
    /// DNSSEC state of the answer RRset, or of the denial of existence for NODATA/NXDOMAIN.
    pub dnssec: DnssecState,
    /// Set when validation failed with CD=0 (a validating resolver answers SERVFAIL) and the
    /// probe asked again with CD=1 to see the data and why it fails.
    #[serde(default)]
    pub validation_failed: bool,
    /// The whole response message as received.
    #[serde(default)]
    pub wire: Option<Bytes>,
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
}

/// How a DNS question ended. NODATA and NXDOMAIN are answers, not failures; SERVFAIL, a
/// timeout or a refusal are failures, and senders that meet them defer mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DnsOutcome {
    /// One or more records of the asked type.
    Data,
    /// The name exists, the type does not.
    NoData,
    /// The name does not exist.
    NxDomain,
    ServFail,
    Refused,
    Timeout,
    /// Anything else: a malformed response, a network error.
    Error {
        message: String,
    },
}

impl DnsOutcome {
    /// True where the lookup produced no usable answer (senders defer).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            DnsOutcome::ServFail
                | DnsOutcome::Refused
                | DnsOutcome::Timeout
                | DnsOutcome::Error { .. }
        )
    }

    /// True for NODATA and NXDOMAIN.
    pub fn is_denial(&self) -> bool {
        matches!(self, DnsOutcome::NoData | DnsOutcome::NxDomain)
    }

    /// The machine id: `data`, `nodata`, `nxdomain`, `servfail`, `refused`, `timeout`, `error`.
    pub fn id(&self) -> &'static str {
        match self {
            DnsOutcome::Data => "data",
            DnsOutcome::NoData => "nodata",
            DnsOutcome::NxDomain => "nxdomain",
            DnsOutcome::ServFail => "servfail",
            DnsOutcome::Refused => "refused",
            DnsOutcome::Timeout => "timeout",
            DnsOutcome::Error { .. } => "error",
        }
    }
}

impl DnsAnswer {
    /// Whether the answer fails DNSSEC validation (bogus, or a validating resolver would
    /// answer SERVFAIL) — as opposed to a lookup that got no answer at all.
    pub fn fails_validation(&self) -> bool {
        self.validation_failed
            || matches!(self.dnssec, DnssecState::Bogus { .. })
            || (matches!(self.dnssec, DnssecState::Indeterminate { .. })
                && !self.outcome.is_failure())
    }

    /// Whether the lookup got no usable answer: a timeout, SERVFAIL, a refusal or an error
    /// that is not a validation failure.
    pub fn got_no_answer(&self) -> bool {
        self.outcome.is_failure() && !self.fails_validation()
    }
}

/// The DNSSEC validation state of an RRset or denial (RFC 4035 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum DnssecState {
    /// Validated from the trust anchor.
    Secure,
    /// Provably unsigned: an insecure delegation above it.
    Insecure,
    /// Should be signed but the signatures or proofs do not validate.
    Bogus { reason: String },
    /// Could not be determined (e.g. the keys could not be fetched).
    Indeterminate { reason: String },
}

impl DnssecState {
    /// Order from worst to best, for combining the states along a CNAME chain.
    fn rank(&self) -> u8 {
        match self {
            DnssecState::Bogus { .. } => 0,
            DnssecState::Indeterminate { .. } => 1,
            DnssecState::Insecure => 2,
            DnssecState::Secure => 3,
        }
    }

    /// The weaker of two states: a chain is only as secure as its weakest link.
    pub fn weakest<'a>(&'a self, other: &'a DnssecState) -> &'a DnssecState {
        if other.rank() < self.rank() {
            other
        } else {
            self
        }
    }

    pub fn is_secure(&self) -> bool {
        matches!(self, DnssecState::Secure)
    }

    /// Bogus or indeterminate: validating senders cannot use the answer and defer.
    pub fn is_failed(&self) -> bool {
        matches!(
            self,
            DnssecState::Bogus { .. } | DnssecState::Indeterminate { .. }
        )
    }

    /// The machine id: `secure`, `insecure`, `bogus`, `indeterminate`.
    pub fn id(&self) -> &'static str {
        match self {
            DnssecState::Secure => "secure",
            DnssecState::Insecure => "insecure",
            DnssecState::Bogus { .. } => "bogus",
            DnssecState::Indeterminate { .. } => "indeterminate",
        }
    }
}

/// One resource record in wire form; the rules layer (`dns`) decodes it with hickory-proto.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub name: DnsName,
    pub rtype: RecordType,
    pub ttl: u32,
    /// RDATA exactly as received (uncompressed).
    pub rdata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CnameLink {
    pub from: DnsName,
    pub to: DnsName,
    pub dnssec: DnssecState,
}
