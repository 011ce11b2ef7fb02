//! The sender test: does a postmaster's *outgoing* mail server validate DANE, enforce
//! MTA-STS, or fall back to cleartext when STARTTLS breaks? The operator delegates a zone to
//! the checker; under it lives one test domain per behaviour ([`Case`]), each with an MX host
//! whose receiver behaves so. A person sends one message to `TOKEN@` every test domain; the
//! receiver records each connection the sender makes there ([`Connection`]), and [`judge`]
//! says what they show. Pure, like the rest of the core: the receiver records, this judges.
//!
//! What a connection shows: a sender that completed the TLS handshake and then left without
//! `MAIL FROM` checked the certificate (or its DANE records) and refused it; one that came back
//! later deferred; one that delivered over cleartext after a failed STARTTLS fell back.

pub mod dialogue;
pub mod published;
pub mod view;
pub mod zone;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::evidence::UnixTime;
use crate::names::DnsName;

/// One test domain's behaviour; on the wire, its [`Case::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Case {
    /// Signed, TLSA records that match the receiver's key: the control for DANE.
    DaneValid,
    /// Signed, TLSA records that match nothing: a DANE sender must not deliver.
    DaneMismatch,
    /// Signed, no TLSA records: opportunistic TLS for everyone.
    #[serde(rename = "dnssec-no-tlsa")]
    SignedNoTlsa,
    /// MTA-STS `enforce` and a certificate valid for the MX host: the control for MTA-STS.
    StsEnforce,
    /// MTA-STS `enforce`, the certificate for another name: an enforcing sender must refuse.
    StsWrongName,
    /// STARTTLS advertised, then the handshake fails (TLSA records published).
    StarttlsBroken,
    /// STARTTLS stripped from the EHLO reply (`XXXXXXXA`), TLSA records published: a DANE
    /// sender must not deliver in cleartext.
    StarttlsStripped,
    /// No STARTTLS at all, no TLSA records: the control for cleartext.
    NoStarttls,
}

/// What the receiver of a test domain does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    /// STARTTLS offered and working.
    Tls,
    /// STARTTLS offered, answered 220, then the TLS handshake is broken off.
    FailAfterStarttls,
    /// STARTTLS masked in the EHLO reply, as a downgrading middlebox does.
    Stripped,
    /// No STARTTLS offered.
    Plain,
}

impl Case {
    pub const ALL: [Case; 8] = [
        Case::DaneValid,
        Case::DaneMismatch,
        Case::SignedNoTlsa,
        Case::StsEnforce,
        Case::StsWrongName,
        Case::StarttlsBroken,
        Case::StarttlsStripped,
        Case::NoStarttls,
    ];

    /// The test domain's first label (and the machine id).
    pub fn label(self) -> &'static str {
        match self {
            Case::DaneValid => "dane-valid",
            Case::DaneMismatch => "dane-mismatch",
            Case::SignedNoTlsa => "dnssec-no-tlsa",
            Case::StsEnforce => "sts-enforce",
            Case::StsWrongName => "sts-wrong-name",
            Case::StarttlsBroken => "starttls-broken",
            Case::StarttlsStripped => "starttls-stripped",
            Case::NoStarttls => "no-starttls",
        }
    }

    /// The case of a test domain under `zone`, from its name.
    pub fn of(domain: &DnsName, zone: &DnsName) -> Option<Case> {
        let label = domain
            .as_str()
            .strip_suffix(zone.as_str())?
            .strip_suffix('.')?;
        Case::ALL.into_iter().find(|c| c.label() == label)
    }

    /// `LABEL.ZONE`.
    pub fn domain(self, zone: &DnsName) -> DnsName {
        DnsName::parse(&format!("{}.{}", self.label(), zone)).unwrap_or_else(|_| zone.clone())
    }

    /// The test domain's MX host: `mx-LABEL.ZONE`, one label under the zone, so that one
    /// certificate for `*.ZONE` serves every receiver — except `sts-wrong-name`, whose host
    /// `mx.sts-wrong-name.ZONE` is two labels down, where that wildcard does not reach: its
    /// certificate is for another name without a second certificate.
    pub fn mx_host(self, zone: &DnsName) -> DnsName {
        let name = match self {
            Case::StsWrongName => format!("mx.{}.{zone}", self.label()),
            _ => format!("mx-{}.{zone}", self.label()),
        };
        DnsName::parse(&name).unwrap_or_else(|_| zone.clone())
    }

    /// The case whose MX host is `host`.
    pub fn of_mx_host(host: &DnsName, zone: &DnsName) -> Option<Case> {
        Case::ALL.into_iter().find(|c| &c.mx_host(zone) == host)
    }

    pub fn receiver(self) -> Receiver {
        match self {
            Case::StarttlsBroken => Receiver::FailAfterStarttls,
            Case::StarttlsStripped => Receiver::Stripped,
            Case::NoStarttls => Receiver::Plain,
            _ => Receiver::Tls,
        }
    }

    /// Whether the zone is signed and publishes TLSA records for the MX host.
    pub fn tlsa(self) -> bool {
        matches!(
            self,
            Case::DaneValid | Case::DaneMismatch | Case::StarttlsBroken | Case::StarttlsStripped
        )
    }

    /// Whether the domain publishes an MTA-STS policy in `enforce` mode.
    pub fn sts_enforce(self) -> bool {
        matches!(self, Case::StsEnforce | Case::StsWrongName)
    }
}

/// What the sender negotiated in one connection's TLS handshake (names as IANA writes them).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TlsSeen {
    pub version: String,
    pub cipher: String,
    /// The key exchange group (`X25519MLKEM768` is post-quantum); empty if unknown.
    #[serde(default)]
    pub group: String,
    /// The SNI it sent, if any (DANE and MTA-STS senders must send the MX host name).
    #[serde(default)]
    pub sni: Option<String>,
    /// The key exchange groups its ClientHello offered, in its order: what it could do,
    /// where the receiver's own choice of groups limits what was negotiated.
    #[serde(default)]
    pub offered_groups: Vec<String>,
}

impl TlsSeen {
    /// Whether the key exchange resists a quantum computer (a hybrid with ML-KEM).
    pub fn post_quantum(&self) -> bool {
        self.group.to_ascii_uppercase().contains("MLKEM")
    }

    /// Whether it offered a post-quantum key exchange.
    pub fn offers_post_quantum(&self) -> bool {
        self.offered_groups
            .iter()
            .any(|g| g.to_ascii_uppercase().contains("MLKEM"))
    }
}

/// One SMTP connection from a sender to a test domain's receiver, as the receiver recorded
/// it. The wire form of the sender test: the server stores and sends these, the page and the
/// CLI [`judge`] them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The test domain it reached (by the receiver's address).
    pub case: Case,
    pub at: UnixTime,
    /// Where it came from: how connections without a recipient (refused, deferred) are
    /// matched to a test ([`view::attribute`]).
    pub source: IpAddr,
    /// The name the sender gave in EHLO/HELO (the last one), bounded.
    #[serde(default)]
    pub ehlo: Option<String>,
    /// The sender said STARTTLS.
    pub starttls: bool,
    /// The handshake completed, and what it negotiated.
    #[serde(default)]
    pub tls: Option<TlsSeen>,
    /// The TLS alert the sender sent to break the handshake off (`bad_certificate`): it
    /// refused the certificate during the handshake.
    #[serde(default)]
    pub alert: Option<String>,
    /// The message was accepted (250 after DATA) in this connection.
    pub delivered: bool,
    /// The sender said `MAIL FROM` (after the handshake, where there was one): it was ready
    /// to send here, whatever became of the message (too large, a recipient refused).
    #[serde(default)]
    pub mail: bool,
    /// The test token of the recipient it named, when it named a live one.
    #[serde(default)]
    pub token: Option<String>,
}

impl Connection {
    /// The sender refused the certificate: it broke the handshake off with an alert, or
    /// completed it and left without even `MAIL FROM` (it checked the certificate or its
    /// DANE records after the handshake). A message refused for its size is not this.
    fn refused_after_handshake(&self) -> bool {
        self.alert.is_some() || (self.tls.is_some() && !self.mail && !self.delivered)
    }

    /// The sender was ready to send here: it delivered, or said `MAIL FROM`.
    fn willing(&self) -> bool {
        self.delivered || self.mail
    }
}

/// How a case's outcome reads: good (what a careful sender does), bad (mail exposed or
/// delivered where it must not be), neutral (a control, or what most senders do), or still
/// waiting for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Good,
    Bad,
    Neutral,
    Waiting,
}

impl Outcome {
    /// The machine id (JSON, data attributes).
    pub fn id(self) -> &'static str {
        match self {
            Outcome::Good => "good",
            Outcome::Bad => "bad",
            Outcome::Neutral => "neutral",
            Outcome::Waiting => "waiting",
        }
    }
}

/// The verdict on one test domain, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseVerdict {
    pub case: Case,
    pub outcome: Outcome,
    pub words: String,
}

/// What the `connections` to `case`'s domain show, as of `now`; the page keeps listening
/// until `until` (a deferring sender comes back).
pub fn judge(
    case: Case,
    connections: &[Connection],
    now: UnixTime,
    until: UnixTime,
) -> CaseVerdict {
    let verdict = |outcome, words: &str| CaseVerdict {
        case,
        outcome,
        words: words.to_owned(),
    };
    let listening = now.0 < until.0;
    if connections.is_empty() {
        return if listening {
            verdict(Outcome::Waiting, "no connection yet")
        } else {
            verdict(
                Outcome::Neutral,
                "never connected: the sender did not try this domain (or could not resolve it)",
            )
        };
    }
    let delivered = connections.iter().find(|c| c.delivered);
    // Where the sender was ready to send (even if the message itself was refused): what
    // counts for the cases where sending at all is the fault.
    let willing = connections.iter().find(|c| c.willing());
    let over_tls = delivered.is_some_and(|c| c.tls.is_some());
    let refused = connections.iter().any(Connection::refused_after_handshake);
    let tries = connections.len();
    let waiting = |words: &str| {
        if listening {
            verdict(Outcome::Waiting, words)
        } else {
            verdict(Outcome::Neutral, &format!("{words}; it did not deliver"))
        }
    };
    match case {
        Case::DaneValid => match delivered {
            Some(_) if over_tls => {
                verdict(Outcome::Good, "delivered with TLS to a correct DANE server")
            }
            Some(_) => verdict(
                Outcome::Bad,
                "delivered in cleartext although STARTTLS worked",
            ),
            None if refused && !listening => verdict(
                Outcome::Bad,
                "refused a server whose TLSA records match: its DANE check is broken",
            ),
            None if refused => verdict(
                Outcome::Waiting,
                "refused so far, although its TLSA records match: a sender that defers comes back",
            ),
            None => waiting("connected, no message yet"),
        },
        Case::DaneMismatch => match willing {
            Some(_) => verdict(
                Outcome::Bad,
                "does not validate DANE: delivered to a server whose TLSA records match nothing",
            ),
            None if refused => verdict(
                Outcome::Good,
                &format!(
                    "validates DANE: refused the server whose TLSA records match nothing ({})",
                    attempts(tries)
                ),
            ),
            None => waiting("connected, no handshake yet"),
        },
        Case::SignedNoTlsa => match delivered {
            Some(_) if over_tls => verdict(
                Outcome::Neutral,
                "uses TLS when offered (no TLSA records: no DANE)",
            ),
            Some(_) => verdict(
                Outcome::Bad,
                "delivered in cleartext although STARTTLS worked",
            ),
            None => waiting("connected, no message yet"),
        },
        Case::StsEnforce => match delivered {
            Some(_) if over_tls => verdict(
                Outcome::Good,
                "delivered with TLS to a valid MTA-STS server",
            ),
            Some(_) => verdict(
                Outcome::Bad,
                "delivered in cleartext to an MTA-STS enforce domain",
            ),
            None if refused && !listening => verdict(
                Outcome::Bad,
                "refused a valid certificate under MTA-STS: its check is broken",
            ),
            None if refused => verdict(
                Outcome::Waiting,
                "refused a valid certificate so far: a sender that defers comes back",
            ),
            None => waiting("connected, no message yet"),
        },
        Case::StsWrongName => match willing {
            Some(_) => verdict(
                Outcome::Bad,
                "does not enforce MTA-STS: delivered to a certificate for another name",
            ),
            None if refused => verdict(
                Outcome::Good,
                &format!(
                    "enforces MTA-STS: refused a certificate for another name ({})",
                    attempts(tries)
                ),
            ),
            None => waiting("connected, no handshake yet"),
        },
        Case::StarttlsBroken => match delivered {
            Some(_) if !connections.iter().any(|c| c.starttls) => {
                verdict(Outcome::Bad, "never tried STARTTLS: delivered in cleartext")
            }
            Some(_) => verdict(Outcome::Bad, "falls back to cleartext when STARTTLS breaks"),
            None if !connections.iter().any(|c| c.starttls) => {
                waiting("connected, never tried STARTTLS")
            }
            None if tries > 1 || !listening => verdict(
                Outcome::Good,
                &format!("defers when STARTTLS breaks ({})", attempts(tries)),
            ),
            None => waiting("tried once and went away: a deferring sender comes back"),
        },
        Case::StarttlsStripped => match willing {
            Some(_) => verdict(
                Outcome::Bad,
                "sends in cleartext when STARTTLS is stripped, although DANE requires TLS",
            ),
            None if tries > 1 || !listening => verdict(
                Outcome::Good,
                &format!(
                    "refuses cleartext where DANE requires TLS ({})",
                    attempts(tries)
                ),
            ),
            None => waiting("connected and went away: a deferring sender comes back"),
        },
        Case::NoStarttls => match delivered {
            Some(_) => verdict(
                Outcome::Neutral,
                "delivers in cleartext where no TLS is offered, as most senders do",
            ),
            None => waiting("connected, no message yet"),
        },
    }
}

fn attempts(n: usize) -> String {
    if n == 1 {
        "1 attempt".into()
    } else {
        format!("{n} attempts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime(1_800_000_000);
    const UNTIL: UnixTime = UnixTime(1_800_000_600);
    const LATER: UnixTime = UnixTime(1_800_001_000);

    fn tls() -> Option<TlsSeen> {
        Some(TlsSeen {
            version: "TLSv1.3".into(),
            cipher: "TLS_AES_256_GCM_SHA384".into(),
            group: "X25519MLKEM768".into(),
            sni: Some("mx.dane-mismatch.sender.example".into()),
            offered_groups: vec!["X25519MLKEM768".into(), "X25519".into()],
        })
    }

    fn conn(starttls: bool, tls: Option<TlsSeen>, delivered: bool) -> Connection {
        Connection {
            case: Case::DaneValid,
            at: NOW,
            source: IpAddr::from([192, 0, 2, 1]),
            ehlo: None,
            starttls,
            tls,
            alert: None,
            delivered,
            mail: delivered,
            token: None,
        }
    }

    #[test]
    fn domains_and_cases_round_trip() {
        let zone = DnsName::parse("sender.example").expect("zone");
        for case in Case::ALL {
            assert_eq!(Case::of(&case.domain(&zone), &zone), Some(case));
        }
        let other = DnsName::parse("dane-valid.other.example").expect("name");
        assert_eq!(Case::of(&other, &zone), None);
    }

    /// The verdicts the issue names, each from the connections that show it.
    #[test]
    fn each_behaviour_reads_as_what_it_shows() {
        let cases: &[(Case, Vec<Connection>, UnixTime, Outcome, &str)] = &[
            (
                Case::DaneMismatch,
                vec![conn(true, tls(), false)],
                NOW,
                Outcome::Good,
                "validates DANE",
            ),
            (
                Case::DaneMismatch,
                vec![conn(true, tls(), true)],
                NOW,
                Outcome::Bad,
                "does not validate DANE",
            ),
            (
                Case::StsWrongName,
                vec![conn(true, tls(), false)],
                NOW,
                Outcome::Good,
                "enforces MTA-STS",
            ),
            (
                Case::StsWrongName,
                vec![conn(true, tls(), true)],
                NOW,
                Outcome::Bad,
                "does not enforce MTA-STS",
            ),
            (
                Case::StarttlsBroken,
                vec![conn(true, None, false), conn(false, None, true)],
                NOW,
                Outcome::Bad,
                "falls back to cleartext when STARTTLS breaks",
            ),
            (
                Case::StarttlsBroken,
                vec![conn(true, None, false), conn(true, None, false)],
                NOW,
                Outcome::Good,
                "defers when STARTTLS breaks (2 attempts)",
            ),
            (
                Case::StarttlsBroken,
                vec![conn(true, None, false)],
                NOW,
                Outcome::Waiting,
                "a deferring sender comes back",
            ),
            (
                Case::StarttlsStripped,
                vec![conn(false, None, true)],
                NOW,
                Outcome::Bad,
                "sends in cleartext when STARTTLS is stripped",
            ),
            (
                Case::StarttlsStripped,
                vec![conn(false, None, false)],
                LATER,
                Outcome::Good,
                "refuses cleartext where DANE requires TLS",
            ),
            (
                Case::DaneValid,
                vec![conn(true, tls(), true)],
                NOW,
                Outcome::Good,
                "delivered with TLS",
            ),
            (
                Case::DaneValid,
                vec![],
                LATER,
                Outcome::Neutral,
                "never connected",
            ),
            (
                Case::NoStarttls,
                vec![conn(false, None, true)],
                NOW,
                Outcome::Neutral,
                "delivers in cleartext",
            ),
        ];
        for (case, conns, now, outcome, words) in cases {
            let v = judge(*case, conns, *now, UNTIL);
            assert_eq!(v.outcome, *outcome, "{case:?}: {}", v.words);
            assert!(
                v.words.contains(words),
                "{case:?}: {:?} lacks {words:?}",
                v.words
            );
        }
    }

    /// Not delivering is not refusing: a message refused for its size after `MAIL FROM`
    /// over TLS is a sender that did not validate; a refused control waits while listening.
    #[test]
    fn a_refused_message_is_not_a_refused_certificate() {
        let mut too_large = conn(true, tls(), false);
        too_large.mail = true;
        let v = judge(Case::DaneMismatch, &[too_large.clone()], NOW, UNTIL);
        assert_eq!(v.outcome, Outcome::Bad, "{}", v.words);
        let v = judge(Case::StsWrongName, &[too_large.clone()], NOW, UNTIL);
        assert_eq!(v.outcome, Outcome::Bad, "{}", v.words);
        let v = judge(
            Case::StarttlsStripped,
            &[conn(false, None, false)],
            NOW,
            UNTIL,
        );
        assert_eq!(v.outcome, Outcome::Waiting, "{}", v.words);
        let mut ready = conn(false, None, false);
        ready.mail = true;
        let v = judge(Case::StarttlsStripped, &[ready], NOW, UNTIL);
        assert_eq!(v.outcome, Outcome::Bad, "{}", v.words);
        // A control refused while the test listens: a deferring sender may come back.
        let v = judge(Case::DaneValid, &[conn(true, tls(), false)], NOW, UNTIL);
        assert_eq!(v.outcome, Outcome::Waiting, "{}", v.words);
        let v = judge(Case::DaneValid, &[conn(true, tls(), false)], LATER, UNTIL);
        assert_eq!(v.outcome, Outcome::Bad, "{}", v.words);
        // A sender that never said STARTTLS has not deferred on a broken one.
        let v = judge(
            Case::StarttlsBroken,
            &[conn(false, None, false)],
            LATER,
            UNTIL,
        );
        assert_eq!(v.outcome, Outcome::Neutral, "{}", v.words);
        // An alert is a refusal, whatever came before.
        let mut alert = conn(true, None, false);
        alert.alert = Some("bad_certificate".into());
        let v = judge(Case::DaneMismatch, &[alert], NOW, UNTIL);
        assert_eq!(v.outcome, Outcome::Good, "{}", v.words);
    }

    #[test]
    fn the_receivers_and_records_follow_the_cases() {
        assert_eq!(Case::StarttlsStripped.receiver(), Receiver::Stripped);
        assert_eq!(Case::StarttlsBroken.receiver(), Receiver::FailAfterStarttls);
        assert_eq!(Case::NoStarttls.receiver(), Receiver::Plain);
        // Stripping or breaking STARTTLS is judged against DANE: those domains publish TLSA.
        assert!(Case::StarttlsStripped.tlsa() && Case::StarttlsBroken.tlsa());
        assert!(!Case::SignedNoTlsa.tlsa() && !Case::NoStarttls.tlsa());
        assert!(Case::StsWrongName.sts_enforce() && !Case::DaneValid.sts_enforce());
    }
}
