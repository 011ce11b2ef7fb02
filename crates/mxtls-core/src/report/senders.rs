//! What the report says happens to mail, by kind of sender, and which protection stops a
//! downgrade.

use serde::{Deserialize, Serialize};

use crate::names::DnsName;

/// A kind of sending MTA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sender {
    /// Validates DANE (RFC 7672): Postfix `dane`, Exim, Microsoft 365. Opportunistic TLS
    /// where DANE does not apply.
    Dane,
    /// Enforces MTA-STS (RFC 8461): Gmail and others. Opportunistic TLS without a policy.
    MtaSts,
    /// Opportunistic TLS, falls back to cleartext (Postfix's default `may`).
    Opportunistic,
    /// Uses STARTTLS when offered and defers when it fails, without authenticating
    /// (Sendmail's behaviour).
    DefersOnTlsFailure,
}

impl Sender {
    pub const ALL: [Sender; 4] = [
        Sender::Dane,
        Sender::MtaSts,
        Sender::Opportunistic,
        Sender::DefersOnTlsFailure,
    ];

    /// The machine id (the serde name).
    pub fn id(self) -> &'static str {
        match self {
            Sender::Dane => "dane",
            Sender::MtaSts => "mta-sts",
            Sender::Opportunistic => "opportunistic",
            Sender::DefersOnTlsFailure => "defers-on-tls-failure",
        }
    }
}

/// What happens to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Delivered in cleartext.
    Cleartext,
    /// Delivered over TLS the sender did not authenticate.
    Encrypted,
    /// Delivered over TLS to an authenticated server.
    Authenticated,
    /// Not delivered now; retried, then bounced if it persists.
    Deferred,
    /// Returned to the sender at once.
    Bounced,
    /// The probe could not tell (servers refused or limited it).
    Unknown,
}

impl Delivery {
    /// The machine id (the serde name).
    pub fn id(self) -> &'static str {
        match self {
            Delivery::Cleartext => "cleartext",
            Delivery::Encrypted => "encrypted",
            Delivery::Authenticated => "authenticated",
            Delivery::Deferred => "deferred",
            Delivery::Bounced => "bounced",
            Delivery::Unknown => "unknown",
        }
    }
}

/// Which senders an attacker who strips STARTTLS cannot downgrade: those whose mail now
/// goes over TLS and whose DNS or policy obliges them to keep it so. A protection is claimed
/// only where it protects mail that flows: TLSA records in front of servers without STARTTLS
/// make DANE senders defer, which is no protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protection {
    Dane,
    MtaSts,
    Both,
    None,
    /// No server could be tested: what senders meet is not known.
    Unknown,
}

impl Protection {
    /// The machine id (the serde name).
    pub fn id(self) -> &'static str {
        match self {
            Protection::Dane => "dane",
            Protection::MtaSts => "mta-sts",
            Protection::Both => "both",
            Protection::None => "none",
            Protection::Unknown => "unknown",
        }
    }
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderOutcome {
    pub sender: Sender,
    pub delivery: Delivery,
    /// The MX host the message goes to, when delivered.
    pub via: Option<DnsName>,
    /// An attacker on the path who strips STARTTLS gets the message in cleartext. Not known
    /// (and `false`) when `delivery` is `unknown`; the same as `attack == works`.
    pub stripping_succeeds: bool,
    /// What stripping STARTTLS changes for this sender.
    #[serde(default)]
    pub attack: Attack,
    /// Addresses of `via` where this sender fails and moves on to the next: the message gets
    /// through, delayed, and only because another address works.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_at: Vec<std::net::IpAddr>,
}

/// What an attacker on the path who strips STARTTLS changes for one kind of sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attack {
    /// The message goes out in cleartext, where without the attack it would not (or, for a
    /// deferring sender, where it would wait): the attacker reads it.
    Works,
    /// The sender refuses to go on without TLS: the message waits instead.
    Blocked,
    /// Nothing to attack: the message bounces, or waits with or without the attack.
    #[default]
    None,
    /// What the sender does is not known.
    NotKnown,
}

impl Attack {
    /// The machine id (the serde name).
    pub fn id(self) -> &'static str {
        match self {
            Attack::Works => "works",
            Attack::Blocked => "blocked",
            Attack::None => "none",
            Attack::NotKnown => "not-known",
        }
    }
}
