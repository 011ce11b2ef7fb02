//! The scenario table: every mail domain of the world, how it is built, and what a correct
//! checker must say about it. `tests/world/SCENARIOS.md` is this table for people; a test keeps
//! the two in step.

/// How a scenario's zone is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// Signed, with a DS in `test.`: answers validate as secure.
    Signed,
    /// Not signed, no DS: an insecure delegation, provably unsigned.
    Unsigned,
    /// Signed, but the TLSA RRset's data was changed after signing: its RRSIG fails, a
    /// validating resolver answers SERVFAIL for the TLSA query only.
    BogusTlsa,
    /// Signed, but the DS in `test.` matches no key of the zone: everything is bogus.
    BadDs,
    /// Signed, but the signature over the MX RRset was changed: the MX answer is bogus
    /// (while the hosts it names, their addresses and TLSA records are fine).
    BogusMx,
    /// Signed, but the signature over the first host's A RRset was changed.
    BogusA,
    /// Signed, but every signature expired a day ago (the signer stopped re-signing).
    Expired,
    /// Signed 28 days ago with signatures that expire in 2 days ([`EXPIRING_SIGNATURES`]):
    /// valid now, the signer has stopped re-signing.
    Expiring,
    /// Signed with RSA/SHA-256 (algorithm 8) instead of ECDSA P-256 (13).
    Rsa,
    /// Signed with ECDSA P-384/SHA-384 (algorithm 14).
    P384,
    /// Signed with RSASHA1-NSEC3-SHA1 (algorithm 7), NSEC3 without extra iterations, a
    /// SHA-256 DS: valid to Debian's validators, insecure to those that refuse SHA-1.
    Sha1,
    /// Signed with ECDSA P-256; the DS in `test.` has only a SHA-1 digest (type 1).
    Sha1Ds,
    /// Signed with ECDSA P-256, NSEC3 denials with 200 iterations and a salt: more than
    /// Unbound (150) and hickory (100) compute, so they take its denials as insecure.
    ManyIterations,
}

/// Days from now that an [`Certs::Expiring`] leaf is valid from and until.
pub const EXPIRING_CERT: (i64, i64) = (-80, 10);
/// Days from now that [`Signing::Expiring`] signatures are valid from and until.
pub const EXPIRING_SIGNATURES: (i64, i64) = (-28, 2);

/// The MX RRset of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mx {
    /// One MX record per host, preference 10, 20, …
    Hosts,
    /// `MX 0 .` (RFC 7505).
    Null,
    /// No MX RRset; the apex has the address records (implicit MX).
    Implicit,
    /// The MX names an alias; the host's records live at `real.<domain>`.
    Cname,
    /// Each host listed twice, interleaved: with two hosts, mx1 at 10 and 30, mx2 at 20 and
    /// 40. Still two hosts.
    Twice,
}

/// What the SMTP server at a host does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// STARTTLS and a good handshake.
    Normal,
    /// EHLO without STARTTLS.
    NoStarttls,
    /// EHLO shows `XXXXXXXA` where STARTTLS was (Cisco ESMTP inspection).
    Mangled,
    /// STARTTLS advertised, answered `454 4.7.0 TLS not available`.
    Starttls454,
    /// `220` to STARTTLS, then cleartext bytes instead of a TLS handshake.
    BrokenHandshake,
    /// STARTTLS, then a ServerHello that chooses TLS 1.0 (an old TLS stack).
    Tls10Only,
    /// Greets with `421` (too busy, or rate-limiting strangers) and closes.
    Busy421,
    /// The greeting comes after a delay (postscreen-like), then normal.
    SlowBanner,
    /// The greeting comes after this many milliseconds, then normal.
    Delayed(u64),
    /// The real Postfix of the world serves this host.
    Postfix,
    /// Another real Postfix, whose main.cf ends with these lines (its TLS posture: versions,
    /// suites, order).
    PostfixWith(&'static str),
    /// TLS 1.3 with X25519MLKEM768 first (rustls on aws-lc-rs: Debian's OpenSSL 3.0 has no
    /// hybrid group), TLS 1.2 beside it.
    PostQuantum,
    /// Closes the connection when the client's first TLS record is over 1024 bytes (a
    /// middlebox that cannot take a post-quantum hello); smaller hellos are served normally.
    DropsLargeHello,
    /// Nothing listens at the address.
    Silent,
}

/// The certificates a server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certs {
    /// ECDSA leaf for the MX host + intermediate.
    Ecdsa,
    /// RSA and ECDSA leaves; which one depends on the client's signature schemes.
    Dual,
    /// Expired ECDSA leaf + intermediate.
    Expired,
    /// ECDSA leaf + intermediate valid from 80 days ago for 10 more days
    /// ([`EXPIRING_CERT`]): the renewal that should have come 20 days ago did not.
    Expiring,
    /// Leaf only: the intermediate is not sent.
    LeafOnly,
    /// A leaf for another name (`mail.elsewhere.test`).
    WrongName,
}

/// The TLSA RRset published at `_25._tcp.<host>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tlsa {
    None,
    /// `3 1 1` of the presented (ECDSA) key.
    Ee,
    /// `2 1 1` of the intermediate CA.
    Ta,
    /// `3 1 1` of a key the server no longer uses (rotated).
    Mismatch,
    /// `3 1 1` current + `3 1 1` next key.
    Rollover,
    /// Only `0 1 1` (root CA) and `1 1 1` (leaf): unusable for SMTP.
    PkixOnly,
    /// `3 1 1` of the presented key, published at the wildcard `*._tcp.<host>`.
    Wildcard,
    /// Twenty `3 1 2` records of other keys and the `3 1 1` of the presented one: an RRset
    /// too large for a 1232-byte UDP answer, so resolvers need TCP.
    Many,
}

/// One mail host of a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// Label under the scenario domain, e.g. `mx` → `mx.<domain>`.
    pub label: &'static str,
    pub behaviour: Behaviour,
    pub certs: Certs,
    pub tlsa: Tlsa,
    /// Also an AAAA record for `::1` served by the same behaviour.
    pub ipv6: bool,
    /// The address is the world's unused `.250` (nothing listens; refused by the target
    /// policy unless private targets are allowed).
    pub unused_address: bool,
    /// Two IPv4 addresses instead of one.
    pub two_addresses: bool,
    /// With `two_addresses`: the second address presents another key (a load balancer whose
    /// members were not renewed together).
    pub split_keys: bool,
    /// The host has the previous host's address (one server under two MX names); its TLSA
    /// record pins that server's key.
    pub shares_address: bool,
}

const fn host(label: &'static str, behaviour: Behaviour, certs: Certs, tlsa: Tlsa) -> Host {
    Host {
        label,
        behaviour,
        certs,
        tlsa,
        ipv6: false,
        unused_address: false,
        two_addresses: false,
        split_keys: false,
        shares_address: false,
    }
}

/// A mail domain of the world and what a correct checker says about it.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// The domain is `<name>.test`.
    pub name: &'static str,
    pub summary: &'static str,
    pub signing: Signing,
    pub mx: Mx,
    pub hosts: &'static [Host],
    /// Per-address verdicts, host by host, as `mxtls check --allow-private-targets` gives them.
    /// Empty: the report judges no address at all.
    pub verdicts: &'static [&'static str],
    /// Every finding code of the report, of any severity: the complete set, so that a code
    /// that must not appear is pinned as firmly as one that must.
    pub codes: &'static [&'static str],
    /// The report's `downgrade_protection`: `dane`, `mta-sts`, `both` or `none`.
    pub protection: &'static str,
    /// The exit status of `mxtls check` (0 no errors, 1 errors, 3 no server could be tested).
    pub exit: i32,
    /// Why a correct checker says this: the rule, with its RFC section.
    pub why: &'static str,
    /// MTA-STS: the TXT records and the policy host.
    pub sts: Option<Sts>,
    /// The `_smtp._tls` TXT record.
    pub tls_rpt: Option<&'static str>,
    /// Phrases the text report must contain (e.g. why a policy fetch failed).
    pub says: &'static [&'static str],
    /// What `check --posture` must find at the scenario's (only) address.
    pub posture: Option<PosturePin>,
    /// A second name server for the zone, beside the world's NSD.
    pub secondary: Secondary,
}

/// A second authoritative server for a scenario's zone, listed in the zone's own NS RRset
/// (not in the delegation, and never asked by the world's Unbound: `do-not-query-address`),
/// so only the probe's direct questions meet it — as the senders whose resolver picks it do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secondary {
    /// None: the world's NSD alone.
    None,
    /// `ns-b.test` ([`STALE_NS`]): an old copy of the zone — serial 1 where the primary has 2,
    /// no TLSA records, signatures that expire in 2 days.
    Stale,
    /// `ns-c.test` ([`SILENT_NS`]): an address that takes queries and never answers.
    Silent,
}

/// The last octet (in the world's `.0.` block) of the stale secondary and the silent server.
pub const STALE_NS: u8 = 3;
pub const SILENT_NS: u8 = 4;

/// Postfix set as an audit asks: TLS 1.2 and up, no anonymous suites, its own order.
const POSTFIX_MODERN: &str = "smtpd_tls_protocols = >=TLSv1.2\n\
     smtpd_tls_mandatory_protocols = >=TLSv1.2\n\
     smtpd_tls_exclude_ciphers = aNULL\n\
     tls_preempt_cipherlist = yes\n";
/// Postfix as an old configuration has it: TLS 1.0 and every suite Debian's OpenSSL 3.0
/// still has, NULL encryption included (it has no 3DES, RC4 or DES left).
const POSTFIX_LEGACY: &str = "smtpd_tls_protocols = >=TLSv1\n\
     smtpd_tls_ciphers = low\n\
     tls_low_cipherlist = ALL:eNULL:@SECLEVEL=0\n";
/// Postfix limited to TLS 1.2, the sender choosing the suite (Postfix's default order).
const POSTFIX_TLS12: &str = "smtpd_tls_protocols = >=TLSv1.2, <=TLSv1.2\n\
     tls_preempt_cipherlist = no\n";

/// Postfix that greets after 2 s, as a greet pause does (the `sleep` restriction before
/// the banner: client restrictions run at connect time when rejects are not delayed).
const POSTFIX_GREET_2S: &str = "smtpd_client_restrictions = sleep 2\n\
     smtpd_delay_reject = no\n";

/// A scenario's TLS posture, as `check --posture` must report it.
#[derive(Debug, Clone, Copy)]
pub struct PosturePin {
    /// `addresses[].posture.versions`.
    pub versions: &'static [&'static str],
    /// The weak suites' kinds present (`anonymous`, `3des`, `broken`), in that order.
    pub weak: &'static [&'static str],
    pub server_order: Option<bool>,
    /// `preferred`, `supported`, `none` or `unknown`.
    pub post_quantum: &'static str,
    pub drops_large_hello: bool,
    /// Exactly the posture findings (`tls-…` codes of the posture) the report has.
    pub codes: &'static [&'static str],
}

/// The defaults of the fields most scenarios leave alone.
const PLAIN: Scenario = Scenario {
    name: "",
    summary: "",
    signing: Signing::Signed,
    mx: Mx::Hosts,
    hosts: &[],
    verdicts: &[],
    codes: &[],
    protection: UNSET,
    exit: -1,
    why: "",
    sts: None,
    tls_rpt: None,
    says: &[],
    posture: None,
    secondary: Secondary::None,
};

/// What [`PLAIN`] leaves in `protection`: every scenario must say (a test checks it).
pub const UNSET: &str = "(unset)";

/// What the MTA-STS policy host (`mta-sts.<domain>`, HTTPS) serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// `200`, `text/plain`, this policy; `{domain}` stands for the scenario's domain.
    Policy(&'static str),
    /// `301` to another URL.
    Redirect,
    /// `404`.
    NotFound,
    /// `200` with a body of 80 KB, without Content-Length.
    Oversized,
    /// `200`, chunked: a first chunk, then a chunk size of `usize::MAX` (the length
    /// arithmetic of a careless decoder overflows), a few bytes and the close.
    HostileChunked,
}

/// A scenario's MTA-STS setup.
#[derive(Debug, Clone, Copy)]
pub struct Sts {
    /// The `_mta-sts` TXT records.
    pub txt: &'static [&'static str],
    pub serve: Serve,
    /// The policy host presents a certificate from a CA nobody trusts.
    pub untrusted: bool,
}

const ENFORCE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx.{domain}\r\nmax_age: 604800\r\n";
const TXT: &[&str] = &["v=STSv1; id=20261128T0001"];
const fn sts(serve: Serve) -> Option<Sts> {
    Some(Sts {
        txt: TXT,
        serve,
        untrusted: false,
    })
}

use Behaviour as B;
use Certs as C;
use Tlsa as T;

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "dane-ee",
        summary: "DANE-EE 3 1 1 matching the server's key",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §3.1.1: a 3 1 1 record matching the presented key authenticates; one record only is fragile (RFC 7671 §8)",
        ..PLAIN
    },
    Scenario {
        name: "dane-ta",
        summary: "DANE-TA 2 1 1 naming the intermediate CA, name matches",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ta)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §3.1.2: the chain leads to the 2 1 1 anchor and names the host; a single record is fragile (RFC 7671 §8)",
        ..PLAIN
    },
    Scenario {
        name: "tlsa-mismatch",
        summary: "3 1 1 of a rotated-out key: DANE senders defer",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Mismatch)],
        verdicts: &["untrusted"],
        codes: &["mta-sts-missing", "tlsa-mismatch", "tlsrpt-missing"],
        protection: "none",
        exit: 1,
        why: "RFC 7672 §3.1: no usable record matches, so DANE senders defer; the others still encrypt",
        ..PLAIN
    },
    Scenario {
        name: "rollover",
        summary: "3 1 1 current + 3 1 1 next key: rollover-safe",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Rollover)],
        verdicts: &["verified"],
        codes: &["dane-verified", "mta-sts-missing", "tlsrpt-missing"],
        protection: "dane",
        exit: 0,
        why: "RFC 7671 §8: current + next key published, so the next key change keeps working",
        ..PLAIN
    },
    Scenario {
        name: "pkix-usages",
        summary: "only 0 1 1 and 1 1 1 records: unusable for SMTP",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::PkixOnly)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-missing",
            "tlsa-unusable",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §3.1.3: usages 0 and 1 are unusable for SMTP; senders still insist on TLS, unauthenticated",
        ..PLAIN
    },
    Scenario {
        name: "unsigned",
        summary: "unsigned zone that publishes TLSA: ignored by senders",
        signing: Signing::Unsigned,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-missing",
            "mx-dnssec-insecure",
            "tlsa-unsigned",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 0,
        why: "RFC 7672 §2.2: TLSA under an unsigned MX and zone is ignored; the PKIX chain is valid",
        ..PLAIN
    },
    Scenario {
        name: "bogus-tlsa",
        summary: "TLSA RRSIG does not validate: resolver SERVFAIL, senders defer",
        signing: Signing::BogusTlsa,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "dnssec-bogus",
            "mta-sts-missing",
            "tlsa-lookup-failed",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 1,
        why: "RFC 7672 §2.2: a TLSA lookup that fails validation makes DANE senders defer",
        says: &["changed after signing"],
        ..PLAIN
    },
    Scenario {
        name: "bad-ds",
        summary: "DS in the parent matches no key: the whole zone is bogus",
        signing: Signing::BadDs,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &[],
        codes: &["dnssec-bogus"],
        protection: "none",
        exit: 1,
        why: "RFC 4035 §5: a DS that matches no DNSKEY makes the zone bogus; validating senders never reach its hosts (RFC 7672 §2.1.1)",
        says: &["publishes key", "IN DS "],
        ..PLAIN
    },
    Scenario {
        name: "bogus-mx",
        summary: "the signature over the MX RRset is broken; hosts, addresses and TLSA are fine",
        signing: Signing::BogusMx,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &[],
        codes: &["dnssec-bogus"],
        protection: "none",
        exit: 1,
        why: "RFC 7672 §2.1.1: an MX answer that fails validation is unusable; the probe does not follow it to the hosts",
        says: &["changed after signing"],
        ..PLAIN
    },
    Scenario {
        name: "bogus-a",
        summary: "the signature over the MX host's A RRset is broken",
        signing: Signing::BogusA,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &[],
        codes: &["dnssec-bogus", "mta-sts-missing", "tlsrpt-missing"],
        protection: "none",
        exit: 1,
        why: "RFC 7672 §2.2: validating senders cannot resolve the host and defer; its address is not connected to",
        says: &["changed after signing"],
        ..PLAIN
    },
    Scenario {
        name: "expired-sigs",
        summary: "every signature of the zone expired a day ago",
        signing: Signing::Expired,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &[],
        codes: &["dnssec-bogus"],
        protection: "none",
        exit: 1,
        why: "RFC 4035 §5.3.1: a signature past its expiration does not validate; the zone is bogus",
        says: &["expired on"],
        ..PLAIN
    },
    Scenario {
        name: "expiring",
        summary: "signatures expire in 2 days, the DANE-TA chain's leaf in 10",
        signing: Signing::Expiring,
        hosts: &[host("mx", B::Normal, C::Expiring, T::Ta)],
        verdicts: &["verified"],
        codes: &[
            "cert-expiring",
            "dane-verified",
            "mta-sts-missing",
            "rrsig-expiring",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 4035 §5.3.1, RFC 7671 §5.2.2: still valid, but the signatures and the certificate DANE-TA checks run out within the default horizon",
        says: &["expire on", "expires on"],
        ..PLAIN
    },
    Scenario {
        name: "renewal-due",
        summary: "a single 3 1 1 record, and the certificate's renewal was due 20 days ago",
        signing: Signing::Signed,
        hosts: &[host("mx", B::Normal, C::Expiring, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "cert-expiring",
            "dane-verified",
            "mta-sts-missing",
            "tlsa-rollover-risk",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7671 §8.1: a renewal with a new key matches no published record; DANE-EE ignores the expiry itself (RFC 7672 §3.1.1)",
        says: &["will break DANE", "DANE-EE ignores"],
        ..PLAIN
    },
    Scenario {
        name: "no-starttls",
        summary: "EHLO without STARTTLS",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::NoStarttls, C::Ecdsa, T::None)],
        verdicts: &["no-starttls"],
        codes: &[
            "mta-sts-missing",
            "starttls-missing",
            "tlsa-missing",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 1,
        why: "RFC 3207 §4: without STARTTLS mail travels in cleartext",
        ..PLAIN
    },
    Scenario {
        name: "stripped",
        summary: "STARTTLS overwritten with XXXXXXXA by a middlebox",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Mangled, C::Ecdsa, T::None)],
        verdicts: &["no-starttls"],
        codes: &[
            "mta-sts-missing",
            "starttls-stripped",
            "tlsa-missing",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 1,
        why: "RFC 3207 §6: STARTTLS overwritten on the path is a middlebox stripping it",
        ..PLAIN
    },
    Scenario {
        name: "starttls-454",
        summary: "STARTTLS advertised, answered 454",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Starttls454, C::Ecdsa, T::None)],
        verdicts: &["tls-failed"],
        codes: &[
            "mta-sts-missing",
            "starttls-failed",
            "tlsa-missing",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 1,
        why: "RFC 3207 §4: STARTTLS offered but refused: senders fall back to cleartext or defer",
        ..PLAIN
    },
    Scenario {
        name: "broken-handshake",
        summary: "220 to STARTTLS, then cleartext instead of TLS",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::BrokenHandshake, C::Ecdsa, T::Ee)],
        verdicts: &["tls-failed"],
        codes: &["mta-sts-missing", "starttls-stripped", "tlsrpt-missing"],
        protection: "none",
        exit: 1,
        why: "RFC 3207 §6: cleartext after 220 to STARTTLS is something answering in the server's place",
        ..PLAIN
    },
    Scenario {
        name: "tls10-only",
        summary: "STARTTLS offered, but the server's TLS stack can only choose TLS 1.0",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Tls10Only, C::Ecdsa, T::None)],
        verdicts: &["tls-failed"],
        codes: &[
            "mta-sts-missing",
            "starttls-failed",
            "tls-old-version",
            "tlsa-missing",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 1,
        why: "RFC 8996 §2: TLS 1.0 is refused by current senders, so the handshake fails (RFC 3207 §4)",
        ..PLAIN
    },
    Scenario {
        name: "slow-banner",
        summary: "greeting delayed (MXTLS_WORLD_BANNER_DELAY_MS, default 3000 ms)",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::SlowBanner, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 5321 §4.5.3.2: a client waits 5 minutes for the greeting; a delayed one is normal",
        ..PLAIN
    },
    Scenario {
        name: "null-mx",
        summary: "MX 0 . : accepts no mail",
        signing: Signing::Signed,
        mx: Mx::Null,
        hosts: &[],
        verdicts: &[],
        codes: &["mx-null"],
        protection: "none",
        exit: 0,
        why: "RFC 7505 §3: MX 0 . says the domain accepts no mail; nothing is connected to",
        ..PLAIN
    },
    Scenario {
        name: "implicit-mx",
        summary: "no MX: the apex A record is the mail host",
        signing: Signing::Signed,
        mx: Mx::Implicit,
        hosts: &[host("@", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "mx-implicit",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 5321 §5.1: no MX RRset, so the domain's own address is the mail host",
        ..PLAIN
    },
    Scenario {
        name: "two-mx",
        summary: "mx1 good DANE, mx2 without STARTTLS",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[
            host("mx1", B::Normal, C::Ecdsa, T::Ee),
            host("mx2", B::NoStarttls, C::Ecdsa, T::None),
        ],
        verdicts: &["verified", "no-starttls"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "starttls-missing",
            "tlsa-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 1,
        why: "RFC 7672 §2.2: DANE protects only the host that publishes TLSA; the other one has no STARTTLS",
        ..PLAIN
    },
    Scenario {
        name: "expired-ee",
        summary: "expired certificate under a matching DANE-EE record",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::Expired, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "cert-expired",
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §3.1.1: DANE-EE ignores validity dates, so the expiry is only a notice",
        ..PLAIN
    },
    Scenario {
        name: "ipv6",
        summary: "the MX host has an IPv4 address and ::1",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[Host {
            ipv6: true,
            ..host("mx", B::Normal, C::Ecdsa, T::Ee)
        }],
        verdicts: &["verified", "verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §2.2: every address of the host is judged, IPv4 and IPv6 alike",
        ..PLAIN
    },
    Scenario {
        name: "private-target",
        summary: "the MX address is non-public: refused unless --allow-private-targets",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[Host {
            unused_address: true,
            ..host("mx", B::Silent, C::Ecdsa, T::None)
        }],
        verdicts: &["unreachable"],
        codes: &[
            "mta-sts-missing",
            "smtp-unreachable",
            "tlsa-missing",
            "tlsrpt-missing",
        ],
        protection: "unknown",
        exit: 3,
        why: "RFC 5321 §5.1: no address accepts a connection, so senders queue and then bounce",
        says: &[
            "could be tested: no address accepted a connection",
            "Protected against STARTTLS stripping: not known",
        ],
        ..PLAIN
    },
    Scenario {
        name: "dane-ta-no-intermediate",
        summary: "2 1 1 for the intermediate, but the server sends only its leaf",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::LeafOnly, T::Ta)],
        verdicts: &["untrusted"],
        codes: &["dane-ta-not-in-chain", "mta-sts-missing", "tlsrpt-missing"],
        protection: "none",
        exit: 1,
        why: "RFC 7671 §5.2.2: a 2 1 1 anchor the server does not send cannot be found",
        ..PLAIN
    },
    Scenario {
        name: "dane-ta-wrong-name",
        summary: "2 1 1 chain is fine, but the certificate is for another name",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::WrongName, T::Ta)],
        verdicts: &["untrusted"],
        codes: &["dane-ta-name-mismatch", "mta-sts-missing", "tlsrpt-missing"],
        protection: "none",
        exit: 1,
        why: "RFC 7672 §3.2.2: under DANE-TA the certificate must name the host",
        ..PLAIN
    },
    Scenario {
        name: "dual-key",
        summary: "RSA and ECDSA certificates; TLSA matches only the ECDSA key",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Normal, C::Dual, T::Ee)],
        verdicts: &["untrusted"],
        codes: &[
            "mta-sts-missing",
            "tlsa-key-type-partial",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 1,
        why: "RFC 7671 §5: the RSA certificate matches no record, so senders that get it defer",
        ..PLAIN
    },
    Scenario {
        name: "mx-cname",
        summary: "the MX names an alias of real.mx-cname.test, which has the TLSA",
        signing: Signing::Signed,
        mx: Mx::Cname,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "mx-cname",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §2.2.3: TLSA is sought at the secure CNAME target first; RFC 2181 §10.3 forbids the alias",
        ..PLAIN
    },
    Scenario {
        name: "mx-twice",
        summary: "the MX RRset lists mx1 at 10 and 30, mx2 at 20 and 40",
        signing: Signing::Signed,
        mx: Mx::Twice,
        hosts: &[
            host("mx1", B::Normal, C::Ecdsa, T::Ee),
            host("mx2", B::Normal, C::Ecdsa, T::Ee),
        ],
        verdicts: &["verified", "verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 5321 §5.1: a host listed at two preferences is one host, tried (and probed) once, at its best",
        ..PLAIN
    },
    Scenario {
        name: "shared-address",
        summary: "mx1 and mx2 name the same address: one server (its certificate names mx1), probed once",
        hosts: &[
            host("mx1", B::Normal, C::Ecdsa, T::Ee),
            Host {
                shares_address: true,
                ..host("mx2", B::Normal, C::Ecdsa, T::Ee)
            },
        ],
        verdicts: &["verified", "verified"],
        codes: &[
            "cert-name-mismatch",
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §3.1: each host's TLSA is held against what its address presents; one server is one probe",
        ..PLAIN
    },
    Scenario {
        name: "postfix",
        summary: "a real Postfix with DANE-EE 3 1 1",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::Postfix, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §3.1.1: a real Postfix presenting the key its 3 1 1 record names",
        posture: Some(PosturePin {
            versions: &["tls1.0", "tls1.1", "tls1.2", "tls1.3"],
            weak: &["anonymous"],
            server_order: Some(false),
            post_quantum: "none",
            drops_large_hello: false,
            codes: &[
                "tls-old-versions-accepted",
                "tls-anonymous-suites",
                "tls-no-server-order",
                "tls-post-quantum",
            ],
        }),
        ..PLAIN
    },
    Scenario {
        name: "posture-modern",
        summary: "a real Postfix set to TLS 1.2+, no anonymous suites, its own suite order",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::PostfixWith(POSTFIX_MODERN), C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 9325 §4: what an audit asks of a mail server's TLS; only post-quantum is missing on OpenSSL 3.0",
        posture: Some(PosturePin {
            versions: &["tls1.2", "tls1.3"],
            weak: &[],
            server_order: None,
            post_quantum: "none",
            drops_large_hello: false,
            codes: &["tls-post-quantum"],
        }),
        ..PLAIN
    },
    Scenario {
        name: "posture-legacy",
        summary: "a real Postfix that takes TLS 1.0, NULL-encryption and anonymous suites (security level 0)",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::PostfixWith(POSTFIX_LEGACY), C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 8996 §2, RFC 9325 §4.1: old versions and broken suites; current senders still get TLS 1.3",
        posture: Some(PosturePin {
            versions: &["tls1.0", "tls1.1", "tls1.2", "tls1.3"],
            weak: &["anonymous", "broken"],
            server_order: Some(false),
            // Six sessions went to versions, order and two kinds of weak suite: the hybrid
            // share is not asked.
            post_quantum: "unknown",
            drops_large_hello: false,
            codes: &[
                "tls-old-versions-accepted",
                "tls-weak-suites",
                "tls-anonymous-suites",
                "tls-no-server-order",
            ],
        }),
        ..PLAIN
    },
    Scenario {
        name: "posture-tls12",
        summary: "a real Postfix with TLS 1.2 only, the sender choosing the suite",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::PostfixWith(POSTFIX_TLS12), C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 9325 §3.1.1, §4.2: no TLS 1.3 (so no post-quantum) and no server suite order",
        posture: Some(PosturePin {
            versions: &["tls1.2"],
            weak: &["anonymous"],
            server_order: Some(false),
            post_quantum: "none",
            drops_large_hello: false,
            codes: &[
                "tls-anonymous-suites",
                "tls-no-server-order",
                "tls-latest-version-missing",
                "tls-post-quantum",
            ],
        }),
        ..PLAIN
    },
    Scenario {
        name: "posture-pq",
        summary: "TLS 1.3 preferring X25519MLKEM768 (rustls on aws-lc-rs)",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::PostQuantum, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 8446 §4.1.4 (HelloRetryRequest), draft-ietf-tls-ecdhe-mlkem: hybrid key exchange asked for even when the sender sent a classical share",
        posture: Some(PosturePin {
            versions: &["tls1.2", "tls1.3"],
            weak: &[],
            server_order: None,
            post_quantum: "preferred",
            drops_large_hello: false,
            codes: &["tls-post-quantum"],
        }),
        ..PLAIN
    },
    Scenario {
        name: "posture-large-hello",
        summary: "a path that drops ClientHellos over 1 KB (a post-quantum key share)",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host("mx", B::DropsLargeHello, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 8446 §4.1.2: a hello with a hybrid key share is about 1.3 KB; a path that drops it fails post-quantum senders",
        posture: Some(PosturePin {
            versions: &["tls1.2", "tls1.3"],
            weak: &[],
            server_order: None,
            post_quantum: "unknown",
            drops_large_hello: true,
            codes: &["tls-large-hello-dropped"],
        }),
        ..PLAIN
    },
    Scenario {
        name: "critical-path",
        summary: "4 MX hosts x 2 addresses, greetings after 1.0-2.0 s (the latency benchmark)",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[
            Host {
                two_addresses: true,
                ..host("mx1", B::Delayed(1000), C::Ecdsa, T::Ee)
            },
            Host {
                two_addresses: true,
                ..host("mx2", B::Delayed(1300), C::Ecdsa, T::Ee)
            },
            Host {
                two_addresses: true,
                ..host("mx3", B::Delayed(1600), C::Ecdsa, T::Ee)
            },
            Host {
                two_addresses: true,
                ..host("mx4", B::Delayed(2000), C::Ecdsa, T::Ee)
            },
        ],
        verdicts: &[
            "verified", "verified", "verified", "verified", "verified", "verified", "verified",
            "verified",
        ],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §3.1.1: every host authenticates; the latency benchmark's domain",
        ..PLAIN
    },
    Scenario {
        name: "slow-one",
        summary: "one MX: a real Postfix that greets after 2 s (the latency benchmark's peer)",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[host(
            "mx",
            B::PostfixWith(POSTFIX_GREET_2S),
            C::Ecdsa,
            T::Ee,
        )],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 5321 §4.5.3.2: a greeting after 2 s is normal; the check takes about as long as that one session",
        ..PLAIN
    },
    Scenario {
        name: "slow-multi",
        summary: "3 MX, 5 addresses: a real Postfix that greets after 2 s, the others after 1.5 s",
        signing: Signing::Signed,
        mx: Mx::Hosts,
        hosts: &[
            host("mx1", B::PostfixWith(POSTFIX_GREET_2S), C::Ecdsa, T::Ee),
            Host {
                two_addresses: true,
                ..host("mx2", B::Delayed(1500), C::Ecdsa, T::Ee)
            },
            Host {
                two_addresses: true,
                ..host("mx3", B::Delayed(1500), C::Ecdsa, T::Ee)
            },
        ],
        verdicts: &["verified", "verified", "verified", "verified", "verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §3.1.1: every host authenticates; the check takes about as long as its slowest session",
        ..PLAIN
    },
    Scenario {
        name: "tlsa-wildcard",
        summary: "the 3 1 1 record is published at the wildcard *._tcp.mx",
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Wildcard)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 4592 §4.1: a wildcard TLSA answers _25._tcp.mx, validated with its NSEC proof (RFC 4035 §5.3.4)",
        ..PLAIN
    },
    Scenario {
        name: "alg-rsa",
        summary: "the zone is signed with RSA/SHA-256 (algorithm 8), DANE-EE",
        signing: Signing::Rsa,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 5702 §3: algorithm 8 validates like any other (RFC 8624 §3.1: MUST implement)",
        ..PLAIN
    },
    Scenario {
        name: "alg-p384",
        summary: "the zone is signed with ECDSA P-384 (algorithm 14), DANE-EE",
        signing: Signing::P384,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 6605 §4: algorithm 14 validates (RFC 8624 §3.1: MAY implement; Unbound and hickory do)",
        ..PLAIN
    },
    Scenario {
        name: "alg-sha1",
        summary: "the zone is signed with RSASHA1-NSEC3-SHA1 (algorithm 7), DANE-EE",
        signing: Signing::Sha1,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "dnssec-algorithm-sha1",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 9905: SHA-1 algorithms are deprecated for signing; validators that refuse SHA-1 (RHEL 9) treat the zone as insecure, so DANE works only where SHA-1 is still accepted",
        ..PLAIN
    },
    Scenario {
        name: "ds-sha1",
        summary: "the parent's DS for the zone has only a SHA-1 digest, DANE-EE",
        signing: Signing::Sha1Ds,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "ds-digest-sha1-only",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 8624 §3.3: a SHA-1-only DS cannot be followed by validators that refuse SHA-1; the SHA-256 DS to add is in the fix",
        ..PLAIN
    },
    Scenario {
        name: "nsec3-iterations",
        summary: "NSEC3 denials with 200 iterations and a salt, DANE-EE",
        signing: Signing::ManyIterations,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "dnssec-denial-iterations",
            "mta-sts-missing",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 9276 §3.1: iterations must be 0; above 150 Unbound, BIND and Knot take the denials as insecure, so a forged \"no TLSA\" would pass",
        ..PLAIN
    },
    Scenario {
        name: "ns-stale",
        summary: "a second name server serves an old copy: serial behind, no TLSA, signatures expiring in 2 days",
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        secondary: Secondary::Stale,
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "ns-records-differ",
            "ns-serial-behind",
            "ns-signatures-expire-first",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 1996, RFC 7672 §2.2: senders whose resolver asks the stale server find no TLSA records (a signed denial: DANE off for them) and, in 2 days, bogus answers",
        ..PLAIN
    },
    Scenario {
        name: "ns-silent",
        summary: "a second name server that never answers",
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        secondary: Secondary::Silent,
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-missing",
            "ns-no-answer",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 1034 §4.1: resolvers that pick the silent server time out and try the other; slower, not broken",
        ..PLAIN
    },
    Scenario {
        name: "tlsa-many",
        summary: "21 TLSA records (1.7 KB): the answer needs TCP; the last one matches",
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Many)],
        verdicts: &["verified"],
        codes: &["dane-verified", "mta-sts-missing", "tlsrpt-missing"],
        protection: "dane",
        exit: 0,
        why: "RFC 7766 §6.2.2: an answer over the UDP size is fetched over TCP; one matching record authenticates (RFC 7672 §3.1)",
        ..PLAIN
    },
    Scenario {
        name: "split-keys",
        summary: "one host, two addresses: the first presents the key of the 3 1 1 record, the second another",
        hosts: &[Host {
            two_addresses: true,
            split_keys: true,
            ..host("mx", B::Normal, C::Ecdsa, T::Ee)
        }],
        verdicts: &["verified", "untrusted"],
        codes: &[
            "addresses-differ",
            "dane-verified",
            "mta-sts-missing",
            "tlsa-mismatch",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "dane",
        exit: 0,
        why: "RFC 7672 §3.1: every address is judged; senders reaching the second one defer",
        ..PLAIN
    },
    Scenario {
        name: "busy-421",
        summary: "the server greets with 421 (too busy, or rate-limiting strangers)",
        hosts: &[host("mx", B::Busy421, C::Ecdsa, T::Ee)],
        verdicts: &["inconclusive"],
        codes: &["mta-sts-missing", "smtp-inconclusive", "tlsrpt-missing"],
        protection: "unknown",
        exit: 3,
        why: "RFC 5321 §3.1: a 421 greeting refuses this client now; it says nothing about TLS",
        says: &[
            "could be tested: every server refused or limited the probe",
            "TLSA records oblige DANE senders to use authenticated TLS",
        ],
        ..PLAIN
    },
    Scenario {
        name: "sts-enforce",
        summary: "MTA-STS enforce covering the MX, valid certificates, TLS-RPT",
        signing: Signing::Unsigned,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::None)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-enforce",
            "mx-dnssec-insecure",
            "tlsrpt-ok",
        ],
        protection: "mta-sts",
        exit: 0,
        why: "RFC 8461 §5: an enforced policy covering the MX with a valid certificate stops stripping",
        sts: sts(Serve::Policy(ENFORCE)),
        tls_rpt: Some("v=TLSRPTv1; rua=mailto:tls-reports@sts-enforce.test"),
        ..PLAIN
    },
    Scenario {
        name: "sts-testing",
        summary: "MTA-STS in testing mode; a TLS-RPT record with an http: URI",
        signing: Signing::Unsigned,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::None)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-testing",
            "mx-dnssec-insecure",
            "tlsrpt-invalid",
        ],
        protection: "none",
        exit: 0,
        why: "RFC 8461 §5: testing mode protects nothing; RFC 8460 §3 allows only mailto: and https: rua",
        sts: sts(Serve::Policy(
            "version: STSv1\nmode: testing\nmx: *.{domain}\nmax_age: 86400\n",
        )),
        tls_rpt: Some("v=TLSRPTv1; rua=http://reports.sts-testing.test/"),
        ..PLAIN
    },
    Scenario {
        name: "sts-mx-not-listed",
        summary: "MTA-STS enforce whose mx patterns miss the MX host",
        signing: Signing::Unsigned,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::None)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-enforce",
            "mta-sts-mx-not-covered",
            "mx-dnssec-insecure",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 1,
        why: "RFC 8461 §4.1: an MX host the patterns miss is refused by enforcing senders",
        sts: sts(Serve::Policy(
            "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 604800\n",
        )),
        ..PLAIN
    },
    Scenario {
        name: "sts-bad-mx-cert",
        summary: "MTA-STS enforce, but the MX certificate names another host",
        signing: Signing::Unsigned,
        hosts: &[host("mx", B::Normal, C::WrongName, T::None)],
        verdicts: &["untrusted"],
        codes: &[
            "cert-name-mismatch",
            "mta-sts-enforce",
            "mta-sts-mx-cert-invalid",
            "mx-dnssec-insecure",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 1,
        why: "RFC 8461 §4.2: the MX certificate must be PKIX-valid for the host name",
        sts: sts(Serve::Policy(ENFORCE)),
        ..PLAIN
    },
    Scenario {
        name: "sts-untrusted-host",
        summary: "the policy host's certificate is from an unknown CA",
        signing: Signing::Unsigned,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::None)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-policy-fetch-failed",
            "mx-dnssec-insecure",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 0,
        why: "RFC 8461 §3.3: the policy host must present a PKIX-valid certificate",
        sts: Some(Sts {
            txt: TXT,
            serve: Serve::Policy(ENFORCE),
            untrusted: true,
        }),
        says: &["certificate is not valid"],
        ..PLAIN
    },
    Scenario {
        name: "sts-redirect",
        summary: "the policy URL redirects (senders must not follow)",
        signing: Signing::Unsigned,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::None)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-policy-fetch-failed",
            "mx-dnssec-insecure",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 0,
        why: "RFC 8461 §3.3: senders must not follow redirects for the policy",
        sts: sts(Serve::Redirect),
        says: &["redirects (301"],
        ..PLAIN
    },
    Scenario {
        name: "sts-404",
        summary: "the policy URL answers 404",
        signing: Signing::Unsigned,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::None)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-policy-fetch-failed",
            "mx-dnssec-insecure",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 0,
        why: "RFC 8461 §3.3: only a 200 answer is a policy",
        sts: sts(Serve::NotFound),
        says: &["answers HTTP 404"],
        ..PLAIN
    },
    Scenario {
        name: "sts-oversized",
        summary: "the policy is 80 KB (over the 64 KB limit)",
        signing: Signing::Unsigned,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::None)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-policy-fetch-failed",
            "mx-dnssec-insecure",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 0,
        why: "RFC 8461 §3.3: senders limit the policy's size (64 KB here)",
        sts: sts(Serve::Oversized),
        says: &["larger than 64 KB"],
        ..PLAIN
    },
    Scenario {
        name: "sts-chunk-overflow",
        summary: "the policy's second chunk claims 2^64 - 1 bytes, then the host closes",
        signing: Signing::Unsigned,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::None)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-policy-fetch-failed",
            "mx-dnssec-insecure",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 0,
        why: "RFC 9112 §7.1: a chunked body that ends before its last chunk is incomplete, so not a policy",
        sts: sts(Serve::HostileChunked),
        says: &["end of file before message length reached"],
        ..PLAIN
    },
    Scenario {
        name: "sts-two-txt",
        summary: "two v=STSv1 TXT records: senders assume no policy",
        signing: Signing::Unsigned,
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::None)],
        verdicts: &["trusted"],
        codes: &[
            "cert-trusted",
            "mta-sts-txt-invalid",
            "mx-dnssec-insecure",
            "tlsrpt-missing",
        ],
        protection: "none",
        exit: 0,
        why: "RFC 8461 §3.1: more than one v=STSv1 record means no policy",
        sts: Some(Sts {
            txt: &["v=STSv1; id=1", "v=STSv1; id=2"],
            serve: Serve::Policy(ENFORCE),
            untrusted: false,
        }),
        ..PLAIN
    },
    Scenario {
        name: "sts-dane",
        summary: "DANE-EE and MTA-STS enforce together",
        hosts: &[host("mx", B::Normal, C::Ecdsa, T::Ee)],
        verdicts: &["verified"],
        codes: &[
            "dane-verified",
            "mta-sts-enforce",
            "tlsa-no-rollover",
            "tlsrpt-missing",
        ],
        protection: "both",
        exit: 0,
        why: "RFC 8461 §2: DANE and MTA-STS together; each kind of sender is protected",
        sts: sts(Serve::Policy(ENFORCE)),
        ..PLAIN
    },
];

impl Scenario {
    /// `<name>.test`.
    pub fn domain(&self) -> String {
        format!("{}.test", self.name)
    }
}

/// Where the generated table sits in SCENARIOS.md.
pub const TABLE_BEGIN: &str = "<!-- scenarios:begin (generated by `mxtls-world --markdown`) -->";
pub const TABLE_END: &str = "<!-- scenarios:end -->";

/// The scenario table as markdown (`mxtls-world --markdown`), exactly as SCENARIOS.md holds
/// it between [`TABLE_BEGIN`] and [`TABLE_END`]; a test compares the two.
pub fn markdown() -> String {
    let mut out = format!(
        "{TABLE_BEGIN}\n| domain | what it is | DNSSEC | verdicts per address | stripping protection | exit | every finding | why |\n|---|---|---|---|---|---|---|---|\n"
    );
    for s in SCENARIOS {
        let signing = match s.signing {
            Signing::Signed => "signed",
            Signing::Unsigned => "unsigned",
            Signing::BogusTlsa => "signed, TLSA bogus",
            Signing::BadDs => "bogus (bad DS)",
            Signing::BogusMx => "signed, MX signature bogus",
            Signing::BogusA => "signed, A signature bogus",
            Signing::Expired => "signed, signatures expired",
            Signing::Expiring => "signed, signatures expiring in 2 days",
            Signing::Rsa => "signed (RSA/SHA-256, alg 8)",
            Signing::P384 => "signed (ECDSA P-384, alg 14)",
            Signing::Sha1 => "signed (RSASHA1-NSEC3-SHA1, alg 7)",
            Signing::Sha1Ds => "signed, SHA-1 DS only",
            Signing::ManyIterations => "signed, NSEC3 with 200 iterations",
        };
        let verdicts = if s.verdicts.is_empty() {
            "none judged".to_owned()
        } else {
            s.verdicts.join(", ")
        };
        let codes: Vec<String> = s.codes.iter().map(|c| format!("`{c}`")).collect();
        out.push_str(&format!(
            "| `{}` | {} | {signing} | {verdicts} | {} | {} | {} | {} |\n",
            s.domain(),
            s.summary,
            s.protection,
            s.exit,
            codes.join(" "),
            s.why
        ));
    }
    out.push_str(TABLE_END);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every scenario pins its whole outcome; none relies on the defaults of [`PLAIN`].
    #[test]
    fn every_scenario_pins_its_outcome() {
        for s in SCENARIOS {
            let name = s.domain();
            assert!(
                ["dane", "mta-sts", "both", "none", "unknown"].contains(&s.protection),
                "{name}: protection {:?}",
                s.protection
            );
            assert!((0..=3).contains(&s.exit), "{name}: exit {}", s.exit);
            assert!(s.why.contains("RFC"), "{name}: say why, with the RFC");
            assert!(!s.codes.is_empty(), "{name}: every report has findings");
            let mut sorted = s.codes.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted, s.codes, "{name}: codes sorted, each once");
            let addresses: usize = s
                .hosts
                .iter()
                .map(|h| 1 + usize::from(h.ipv6) + usize::from(h.two_addresses))
                .sum();
            assert!(
                s.verdicts.len() == addresses || s.verdicts.is_empty(),
                "{name}: one verdict per address"
            );
        }
    }
}
