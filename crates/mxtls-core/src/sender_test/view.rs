//! A sender test as the server sends it and the page and the CLI read it: the test's token,
//! window and the connections matched to it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Case, CaseVerdict, Connection, Outcome, judge};
use crate::evidence::UnixTime;
use crate::names::DnsName;

/// One test: what `GET /api/sender-tests/{token}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderTest {
    pub token: String,
    /// The zone the test domains live under.
    pub zone: DnsName,
    pub started: UnixTime,
    /// Until when the receivers listen for this test (a deferring sender comes back).
    pub until: UnixTime,
    /// The server's clock when it answered: verdicts are judged at this time, not at the
    /// reader's (whose clock may be off).
    pub now: UnixTime,
    /// The connections matched to this test ([`attribute`]), oldest first.
    pub connections: Vec<Connection>,
    /// What the server found wrong with the published test domains before the test: a test
    /// zone that is itself broken must not blame the sender. Empty when all is as it must be.
    #[serde(default)]
    pub published: Vec<super::published::Problem>,
}

impl SenderTest {
    /// The addresses to send one message to: `TOKEN@` every test domain.
    pub fn addresses(&self) -> Vec<(Case, String)> {
        Case::ALL
            .into_iter()
            .map(|c| (c, format!("{}@{}", self.token, c.domain(&self.zone))))
            .collect()
    }

    /// Each test domain's verdict as of the server's `now`. A refusal of the broken case
    /// says the sender validates only where it delivered to the case's control: a sender
    /// that refuses every certificate validates nothing.
    pub fn verdicts(&self) -> Vec<CaseVerdict> {
        let mut verdicts: Vec<CaseVerdict> = Case::ALL
            .into_iter()
            .map(|case| {
                let seen: Vec<Connection> = self
                    .connections
                    .iter()
                    .filter(|c| c.case == case)
                    .cloned()
                    .collect();
                judge(case, &seen, self.now, self.until)
            })
            .collect();
        for (broken, control, what) in [
            (Case::DaneMismatch, Case::DaneValid, "DANE"),
            (Case::StsWrongName, Case::StsEnforce, "MTA-STS"),
        ] {
            let control = verdicts
                .iter()
                .find(|v| v.case == control)
                .map(|v| v.outcome);
            if let Some(v) = verdicts.iter_mut().find(|v| v.case == broken)
                && v.outcome == Outcome::Good
            {
                match control {
                    Some(Outcome::Good) => {}
                    Some(Outcome::Waiting) => {
                        v.outcome = Outcome::Waiting;
                        v.words = format!(
                            "refused here; waiting for a delivery to the valid {what} control before saying it validates {what}"
                        );
                    }
                    _ => {
                        v.outcome = Outcome::Neutral;
                        v.words = format!(
                            "refused here, but did not deliver to the valid {what} control either: no verdict on {what}"
                        );
                    }
                }
            }
        }
        verdicts
    }

    /// The one line a hurried reader takes away (the page's and the CLI's first line).
    pub fn summary(&self) -> String {
        summary(&self.verdicts(), &broken_cases(self), self.listening())
    }

    /// Whether the receivers still listen for this test.
    pub fn listening(&self) -> bool {
        self.now.0 < self.until.0
    }
}

/// The connections of the test `token` (started at `started`, listening until `until`)
/// among `all`: those that named its token, and those that named none (a sender that refused
/// a certificate or deferred never says RCPT) within its window that came from the sender
/// its named ones did — the same network (/24 for IPv4, /64 for IPv6, since large senders
/// leave from many addresses) or the same EHLO name (a sender that retries from another
/// network, or the other address family, still names itself). Two tests from one sender at
/// once share those unnamed connections; the page says so.
pub fn attribute(
    token: &str,
    started: UnixTime,
    until: UnixTime,
    all: &[Connection],
) -> Vec<Connection> {
    let named: Vec<&Connection> = all
        .iter()
        .filter(|c| c.token.as_deref() == Some(token))
        .collect();
    let networks: Vec<String> = named.iter().map(|c| network(c.source)).collect();
    let names: Vec<&str> = named.iter().filter_map(|c| c.ehlo.as_deref()).collect();
    let mut mine: Vec<Connection> = all
        .iter()
        .filter(|c| match &c.token {
            Some(t) => t == token,
            None => {
                c.at.0 >= started.0
                    && c.at.0 <= until.0
                    && (networks.contains(&network(c.source))
                        || c.ehlo.as_deref().is_some_and(|e| names.contains(&e)))
            }
        })
        .cloned()
        .collect();
    mine.sort_by_key(|c| c.at);
    mine
}

/// A sender's network, as the store keeps it beside each connection: its address's /24
/// (`192.0.2.0/24`) or /64 (`2001:db8::/64`).
pub fn network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// A fresh token from 16 random bytes (the caller's randomness: the core has none): 26
/// lower-case base32 characters, a valid local part that nobody guesses.
pub fn token(random: [u8; 16]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bits: u128 = u128::from_be_bytes(random);
    let mut out = String::with_capacity(26);
    for _ in 0..26 {
        out.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
    }
    out
}

/// Whether `s` has the form of a token (what the receiver and the API accept).
pub fn is_token(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

/// What a verdict cell says for a test domain the server found broken: what the sender
/// did there would rest on records that are wrong on our side.
pub const NOT_JUDGED: &str = "not judged: the test domain itself is broken";

/// The cases the summary line speaks of, in the order it says them: what tells senders
/// apart (the controls do not).
const SUMMED_UP: [Case; 4] = [
    Case::DaneMismatch,
    Case::StsWrongName,
    Case::StarttlsBroken,
    Case::StarttlsStripped,
];

/// A verdict's leading clause: its words up to the explanation (`: …`) or the count of
/// attempts (` (2 attempts)`). "validates DANE: refused …" → "validates DANE".
pub fn clause(words: &str) -> &str {
    let end = [words.find(": "), words.find(" (")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(words.len());
    words[..end].trim_end()
}

/// "Your server validates DANE; falls back to cleartext when STARTTLS breaks.": the
/// verdicts of the cases that tell senders apart, good or bad ones only (a wait or a
/// domain never tried says nothing of the server), leaving out broken test domains.
pub fn summary(verdicts: &[CaseVerdict], broken: &[Case], listening: bool) -> String {
    let said: Vec<&str> = SUMMED_UP
        .iter()
        .filter(|c| !broken.contains(c))
        .filter_map(|c| verdicts.iter().find(|v| v.case == *c))
        .filter(|v| matches!(v.outcome, Outcome::Good | Outcome::Bad))
        .map(|v| clause(&v.words))
        .collect();
    if !said.is_empty() {
        format!("Your server {}.", said.join("; "))
    } else if listening {
        "No verdict yet: send the messages, and the verdicts appear here as your server connects."
            .to_owned()
    } else {
        "No verdict on DANE, MTA-STS or STARTTLS: your server did not show what it does there."
            .to_owned()
    }
}

/// The test domains the server found published wrongly.
pub fn broken_cases(test: &SenderTest) -> Vec<Case> {
    let mut cases: Vec<Case> = test.published.iter().map(|p| p.case).collect();
    cases.sort();
    cases.dedup();
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(case: Case, at: i64, source: [u8; 4], token: Option<&str>) -> Connection {
        Connection {
            case,
            at: UnixTime(at),
            source: IpAddr::from(source),
            ehlo: None,
            starttls: true,
            tls: None,
            alert: None,
            delivered: token.is_some(),
            mail: token.is_some(),
            token: token.map(str::to_owned),
        }
    }

    #[test]
    fn unnamed_connections_follow_the_networks_a_token_came_from() {
        let all = vec![
            conn(Case::DaneValid, 100, [192, 0, 2, 10], Some("tok")),
            // The same sender's network refusing the mismatch: ours.
            conn(Case::DaneMismatch, 101, [192, 0, 2, 11], None),
            // Another network: someone else's.
            conn(Case::DaneMismatch, 102, [198, 51, 100, 1], None),
            // Our network, but before the test started: not ours.
            conn(Case::StarttlsBroken, 10, [192, 0, 2, 10], None),
            // Another token's delivery from our network: never ours.
            conn(Case::NoStarttls, 103, [192, 0, 2, 10], Some("other")),
        ];
        let mine = attribute("tok", UnixTime(50), UnixTime(500), &all);
        let at: Vec<i64> = mine.iter().map(|c| c.at.0).collect();
        assert_eq!(at, vec![100, 101]);
        // A token with no named connection has no unnamed ones either.
        assert!(attribute("none", UnixTime(0), UnixTime(500), &all).is_empty());
        // A retry from another network that names itself as the delivering sender did.
        let mut named = all.clone();
        named[0].ehlo = Some("out.sender.example".into());
        let mut elsewhere = conn(Case::StarttlsBroken, 104, [203, 0, 113, 9], None);
        elsewhere.ehlo = Some("out.sender.example".into());
        named.push(elsewhere);
        let at: Vec<i64> = attribute("tok", UnixTime(50), UnixTime(500), &named)
            .iter()
            .map(|c| c.at.0)
            .collect();
        assert_eq!(at, vec![100, 101, 104]);
        assert_eq!(network(IpAddr::from([192, 0, 2, 77])), "192.0.2.0/24");
        assert_eq!(
            network("2001:db8:1:2:3::4".parse().expect("ip")),
            "2001:db8:1:2::/64"
        );
    }

    /// A sender that refuses every certificate validates nothing: the refusal of the broken
    /// case counts only beside a delivery to its control.
    #[test]
    fn a_refusal_counts_only_beside_its_control() {
        let refused = |case| Connection {
            tls: Some(super::super::TlsSeen::default()),
            delivered: false,
            mail: false,
            token: None,
            ..conn(case, 110, [192, 0, 2, 10], None)
        };
        let named = conn(Case::NoStarttls, 100, [192, 0, 2, 10], Some("tok"));
        let test = |connections: Vec<Connection>, now: i64| SenderTest {
            token: "tok".into(),
            zone: DnsName::parse("st.example").expect("zone"),
            started: UnixTime(50),
            until: UnixTime(500),
            now: UnixTime(now),
            connections,
            published: Vec::new(),
        };
        let outcome = |t: &SenderTest, case: Case| {
            t.verdicts()
                .into_iter()
                .find(|v| v.case == case)
                .map(|v| v.outcome)
        };
        let both = vec![
            named.clone(),
            refused(Case::DaneValid),
            refused(Case::DaneMismatch),
        ];
        assert_eq!(
            outcome(&test(both.clone(), 200), Case::DaneMismatch),
            Some(Outcome::Waiting)
        );
        assert_eq!(
            outcome(&test(both, 600), Case::DaneMismatch),
            Some(Outcome::Neutral)
        );
        let mut valid = conn(Case::DaneValid, 105, [192, 0, 2, 10], Some("tok"));
        valid.tls = Some(super::super::TlsSeen::default());
        let good = vec![named, valid, refused(Case::DaneMismatch)];
        assert_eq!(
            outcome(&test(good.clone(), 200), Case::DaneMismatch),
            Some(Outcome::Good)
        );
        assert!(test(good, 200).summary().contains("validates DANE"));
    }

    #[test]
    fn tokens_are_local_parts_of_their_own_form() {
        let t = token([0xA5; 16]);
        assert!(is_token(&t), "{t}");
        assert_ne!(t, token([0x5A; 16]));
        assert!(!is_token("short") && !is_token(&"A".repeat(26)));
    }

    fn verdict(case: Case, outcome: Outcome, words: &str) -> CaseVerdict {
        CaseVerdict {
            case,
            outcome,
            words: words.into(),
        }
    }

    #[test]
    fn clauses_end_before_the_explanation() {
        assert_eq!(
            clause(
                "validates DANE: refused the server whose TLSA records match nothing (1 attempt)"
            ),
            "validates DANE"
        );
        assert_eq!(
            clause("defers when STARTTLS breaks (2 attempts)"),
            "defers when STARTTLS breaks"
        );
        assert_eq!(
            clause("falls back to cleartext when STARTTLS breaks"),
            "falls back to cleartext when STARTTLS breaks"
        );
    }

    #[test]
    fn the_summary_speaks_of_judged_cases_only() {
        let verdicts = vec![
            verdict(Case::DaneValid, Outcome::Good, "delivered with TLS"),
            verdict(
                Case::DaneMismatch,
                Outcome::Good,
                "validates DANE: refused it (1 attempt)",
            ),
            verdict(
                Case::StsWrongName,
                Outcome::Waiting,
                "connected, no handshake yet",
            ),
            verdict(
                Case::StarttlsBroken,
                Outcome::Bad,
                "falls back to cleartext when STARTTLS breaks",
            ),
        ];
        assert_eq!(
            summary(&verdicts, &[], true),
            "Your server validates DANE; falls back to cleartext when STARTTLS breaks."
        );
        // A broken test domain is not summed up.
        assert_eq!(
            summary(&verdicts, &[Case::DaneMismatch], true),
            "Your server falls back to cleartext when STARTTLS breaks."
        );
        assert!(summary(&verdicts[..1], &[], true).starts_with("No verdict yet"));
        assert!(summary(&[], &[], false).starts_with("No verdict on"));
    }
}
