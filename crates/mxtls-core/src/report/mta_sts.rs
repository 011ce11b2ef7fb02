//! What the report says about MTA-STS (RFC 8461): the TXT record, the policy and its
//! fetch, and each MX host under the policy.

use serde::{Deserialize, Serialize};

use crate::names::DnsName;

/// What the `_mta-sts.<domain>` TXT RRset says (RFC 8461 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum StsTxt {
    /// No record starting with `v=STSv1`: the domain has no MTA-STS.
    Missing,
    /// Exactly one well-formed record.
    Valid { id: String },
    /// Senders must assume no policy.
    Invalid { reason: String },
    /// The lookup got no answer (timeout, SERVFAIL): senders keep a policy they have cached,
    /// and those without one see none.
    LookupFailed { reason: String },
}

/// The policy's mode (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Senders must not deliver to an MX host that fails the policy.
    Enforce,
    /// Senders deliver anyway and report failures (TLS-RPT).
    Testing,
    /// The domain withdraws its policy.
    None,
}

impl Mode {
    /// The machine id, as the policy file writes it.
    pub fn id(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy file (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub mode: Mode,
    pub max_age: u64,
    /// MX patterns: host names, or `*.` followed by a domain.
    pub mx: Vec<String>,
}

/// How the policy fetch went, in the words of the finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum FetchState {
    /// Not fetched: there is no `v=STSv1` TXT record.
    NotFetched,
    /// Senders could not use the policy; `why` says what failed.
    Failed {
        why: String,
    },
    Fetched,
}

/// What MTA-STS means for one MX host under the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsHost {
    pub host: DnsName,
    /// A policy `mx` pattern covers the host.
    pub covered: bool,
    /// Every judged address offered STARTTLS (TLS 1.2+) with a certificate that is
    /// PKIX-valid for the host name; `None` when no address could be judged.
    pub pkix_valid: Option<bool>,
}

/// The MTA-STS part of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MtaStsReport {
    pub txt: StsTxt,
    pub policy_url: String,
    pub fetch: FetchState,
    /// The policy, when it was fetched and parsed.
    pub policy: Option<Policy>,
    /// Why a fetched policy is invalid.
    pub policy_error: Option<String>,
    /// The mode senders apply: only with a valid TXT record and a valid policy.
    pub mode: Option<Mode>,
    pub hosts: Vec<StsHost>,
}

impl MtaStsReport {
    /// Senders that honour MTA-STS refuse to be downgraded.
    pub fn enforced(&self) -> bool {
        self.mode == Some(Mode::Enforce)
    }

    pub fn host(&self, name: &DnsName) -> Option<&StsHost> {
        self.hosts.iter().find(|h| &h.host == name)
    }
}
