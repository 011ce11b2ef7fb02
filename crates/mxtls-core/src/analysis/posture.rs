//! An address's TLS posture, judged for mail: what each answer means for the senders that
//! meet it. Nothing here is an error on its own — a server that accepts TLS 1.0 beside TLS
//! 1.3 still gives every current sender TLS 1.3 — except where senders are hurt: broken
//! suites or insecure renegotiation and compression (a weakness senders may land on), and a
//! server that drops the hello post-quantum senders send (a failed handshake, so cleartext or
//! a wait). Every fix is given for Postfix, Exim and Microsoft Exchange.

use super::Judge;
use crate::evidence::{AddressEvidence, HostEvidence};
use crate::findings::{Code, Finding, Severity, Subject};
use crate::posture::{Posture, judge};
use crate::report::{PostQuantum, PostureReport, PostureReuse};
use crate::tls::{KeyExchange, SuiteClass, TlsVersion};

impl Judge<'_> {
    /// The posture of `a`, with its findings; `None` where no posture sessions were run.
    pub(super) fn posture(
        &mut self,
        h: &HostEvidence,
        a: &AddressEvidence,
    ) -> Option<PostureReport> {
        let evidence = a.posture.as_ref()?;
        let main = a.sessions.first().and_then(|s| s.tls.as_ref());
        let p = judge(evidence, main);
        let subject = Subject::Address {
            host: h.name.clone(),
            ip: a.ip,
        };
        if let Some(r) = &evidence.reused {
            let age = (self.now.0 - r.gathered_at.0).max(0);
            self.push(
                Finding::new(Code::TlsPostureReused, Severity::Notice, subject.clone(), format!("The TLS posture of {} is from a check {} ago", a.ip, crate::present::age(age)))
                    .explain(format!("Versions, suites and key exchange change rarely, so they were not asked again: {}. What is shown is what the probe saw at {}.", r.reason, r.gathered_at)),
            );
        }
        self.posture_findings(&p, &subject, &h.name.to_string());
        Some(PostureReport {
            versions: p.versions.iter().map(|v| v.short_name()).collect(),
            weak_suites: p.weak_suites.iter().map(|s| s.name()).collect(),
            server_order: p.server_order,
            post_quantum: p.post_quantum,
            sessions: p.sessions,
            reused_from: evidence.reused.as_ref().map(|r| PostureReuse {
                snapshot: r.snapshot.clone(),
                gathered_at: r.gathered_at,
            }),
            extended_master_secret: p.extended_master_secret,
            secure_renegotiation: p.secure_renegotiation,
            compression: p.compression,
            key_exchange: p.key_exchange.map(|k| match k {
                KeyExchange::Ecdhe { group } => group.name(),
                KeyExchange::Dhe { prime_bits } => format!("DHE {prime_bits}-bit"),
            }),
            weak_signature_hash: p
                .signature_scheme
                .and_then(|s| s.weak_hash())
                .map(str::to_owned),
            drops_large_hello: p.drops_large_hello,
            incomplete: evidence.skipped.clone(),
        })
    }

    fn posture_findings(&mut self, p: &Posture, subject: &Subject, host: &str) {
        let finding =
            |code, severity, title: String| Finding::new(code, severity, subject.clone(), title);
        let modern = p.versions.iter().any(|v| *v >= TlsVersion::TLS12);
        let old: Vec<String> = p
            .versions
            .iter()
            .filter(|v| v.is_deprecated())
            .map(|v| v.name())
            .collect();
        if modern && !old.is_empty() {
            self.push(
                finding(Code::TlsOldVersionsAccepted, Severity::Notice, format!("{host} also accepts {}", and_list(&old)))
                    .explain("Current senders negotiate TLS 1.2 or 1.3 here and cannot be pushed lower (TLS 1.3's downgrade protection); only senders that speak nothing newer use the old versions — still better for them than cleartext, but RFC 8996 deprecates them and audits flag them.")
                    .fix("Postfix: smtpd_tls_protocols = >=TLSv1.2 and smtpd_tls_mandatory_protocols = >=TLSv1.2. Exim (`exim -bV` names its TLS library): with GnuTLS (Debian, Ubuntu) add -VERS-TLS1.0:-VERS-TLS1.1 to tls_require_ciphers (e.g. NORMAL:-VERS-TLS1.0:-VERS-TLS1.1); with OpenSSL add +no_tlsv1 +no_tlsv1_1 to openssl_options. Exchange: disable TLS 1.0 and 1.1 in Windows (SCHANNEL), as Microsoft's Exchange TLS guidance describes."),
            );
        }
        let broken: Vec<String> = p
            .weak_suites
            .iter()
            .filter(|s| s.class() != SuiteClass::Anonymous)
            .map(|s| s.name())
            .collect();
        if !broken.is_empty() {
            self.push(
                finding(Code::TlsWeakSuites, Severity::Warning, format!("{host} accepts cipher suites no sender should use: {}", broken.join(", ")))
                    .explain("A sender that offers only such suites (old software) gets encryption that can be broken, or none (RC4, 3DES, NULL, export grade). Current senders offer better suites and get them.")
                    .fix("Postfix: add eNULL, EXPORT, RC4, DES, 3DES, MD5 to smtpd_tls_exclude_ciphers (one line: it is a list). Exim with GnuTLS (Debian, Ubuntu): NORMAL in tls_require_ciphers has none of them — remove what was added; with OpenSSL: tls_require_ciphers = HIGH:!eNULL:!3DES:!RC4:!MD5. Exchange: remove them from Windows' cipher suite order (Disable-TlsCipherSuite)."),
            );
        }
        if p.weak_suites
            .iter()
            .any(|s| s.class() == SuiteClass::Anonymous)
        {
            self.push(
                finding(Code::TlsAnonymousSuites, Severity::Notice, format!("{host} accepts anonymous cipher suites"))
                    .explain("Anonymous suites encrypt without a certificate. Senders that check certificates (DANE, MTA-STS) never offer them; opportunistic senders that do not check certificates may, and lose nothing by it against a certificate they would not have checked. Postfix enables them on purpose for that reason.")
                    .fix("Nothing needs to change. To list none: Postfix: add aNULL to smtpd_tls_exclude_ciphers (beside what is there); Exim with OpenSSL: add !aNULL to tls_require_ciphers (GnuTLS's NORMAL has no anonymous suites); Exchange offers none."),
            );
        }
        if p.server_order == Some(false) {
            self.push(
                finding(Code::TlsNoServerOrder, Severity::Notice, format!("{host} lets the sender choose the TLS 1.2 cipher suite"))
                    .explain("With TLS 1.2 the sender's order decides: an old sender that lists a weaker suite first gets it, though the server has better ones.")
                    .fix("Postfix: tls_preempt_cipherlist = yes. Exim with GnuTLS: add %SERVER_PRECEDENCE to tls_require_ciphers; with OpenSSL: add +cipher_server_preference to openssl_options. Exchange: Windows uses its own order (set it with Group Policy's SSL Cipher Suite Order)."),
            );
        }
        if modern && !p.versions.contains(&TlsVersion::TLS13) {
            self.push(
                finding(Code::TlsNoTls13, Severity::Notice, format!("{host} does not offer TLS 1.3"))
                    .explain("TLS 1.3 is what current senders prefer: a faster handshake, only strong suites, downgrade protection, and the only version with post-quantum key exchange.")
                    .fix("Postfix and Exim: a current distribution (OpenSSL 1.1.1 or GnuTLS 3.6.5 and later). Exchange: Exchange 2019 CU15 or Exchange Server SE on Windows Server 2022 or later."),
            );
        }
        if p.extended_master_secret == Some(false) {
            self.push(
                finding(Code::TlsNoExtendedMasterSecret, Severity::Notice, format!("{host} does not use the extended master secret in TLS 1.2"))
                    .explain("Without it (RFC 7627), a TLS 1.2 session's keys can be synchronised with another connection's (the triple handshake attack).")
                    .fix("Update the TLS library: OpenSSL 1.1.0 and later (Postfix, Exim) and current Windows (Exchange) do it by default."),
            );
        }
        if p.secure_renegotiation == Some(false) {
            self.push(
                finding(Code::TlsInsecureRenegotiation, Severity::Warning, format!("{host} does not signal secure renegotiation (RFC 5746)"))
                    .explain("A TLS stack that does not answer renegotiation_info predates RFC 5746 (2010): if it also accepts renegotiation, an attacker on the path can splice data in front of a sender's session.")
                    .fix("Upgrade or replace the TLS stack: every OpenSSL since 0.9.8m, GnuTLS since 2.10 and current Windows signal it."),
            );
        }
        if p.compression {
            self.push(
                finding(Code::TlsCompression, Severity::Warning, format!("{host} compresses TLS records"))
                    .explain("Compressed TLS leaks what it carries to an attacker who can inject text into it (CRIME).")
                    .fix("Postfix: tls_ssl_options = NO_COMPRESSION; update the TLS library (OpenSSL 1.1.0 and later has no compression)."),
            );
        }
        if let Some(KeyExchange::Dhe { prime_bits }) = p.key_exchange
            && prime_bits < 2048
        {
            // With an anonymous suite only senders that accept no certificate meet it.
            let (severity, who) = if p.key_exchange_anonymous {
                (
                    Severity::Notice,
                    "its anonymous suites, which only senders that check no certificate use",
                )
            } else {
                (Severity::Warning, "senders that choose a DHE suite")
            };
            self.push(
                finding(Code::TlsWeakKeyExchange, severity, format!("{host} uses {prime_bits}-bit Diffie-Hellman with {who}"))
                    .explain("Finite-field groups under 2048 bits are within reach of well-funded attackers (Logjam).")
                    .fix("Postfix: smtpd_tls_dh1024_param_file = a 2048-bit group (RFC 7919 ffdhe2048), or Postfix 3.8+ with tls_ffdhe_auto_groups. Exim: tls_dhparam = ffdhe2048. Exchange: prefer ECDHE suites (the Windows default)."),
            );
        }
        if let Some(hash) = p.signature_scheme.and_then(|s| s.weak_hash()) {
            self.push(
                finding(Code::TlsWeakSignatureHash, Severity::Notice, format!("{host} signs its TLS 1.2 key exchange with {hash}"))
                    .explain("RFC 9155 deprecates SHA-1 and MD5 signatures in TLS 1.2: collisions make them forgeable in principle.")
                    .fix("Update the TLS library; the server then picks SHA-256 or better when senders offer it."),
            );
        }
        match p.post_quantum {
            PostQuantum::Preferred | PostQuantum::Supported => self.push(
                finding(Code::TlsPostQuantum, Severity::Ok, format!("{host} negotiates post-quantum key exchange (X25519MLKEM768{})", if p.post_quantum == PostQuantum::Preferred { ", preferred" } else { " when the sender offers it" }))
                    .explain("Mail recorded today cannot be decrypted later by a quantum computer when the key exchange is hybrid (harvest now, decrypt later)."),
            ),
            PostQuantum::None => self.push(
                finding(Code::TlsPostQuantum, Severity::Notice, format!("{host} does not offer post-quantum key exchange"))
                    .explain("Mail encrypted with classical key exchange could be recorded now and decrypted once large quantum computers exist (harvest now, decrypt later). Hybrid X25519MLKEM768 closes that; it is not a fault today.")
                    .fix("Postfix 3.10 and later on OpenSSL 3.5 (Debian 13): set tls_eecdh_auto_curves and tls_ffdhe_auto_groups empty, so that OpenSSL's default groups, X25519MLKEM768 first, apply. Exim on OpenSSL 3.5 negotiates it by default; on GnuTLS, from 3.8.9 with the hybrid group in its priority string. Exchange: not available yet."),
            ),
            PostQuantum::Unknown => {}
        }
        if p.drops_large_hello {
            self.push(
                finding(Code::TlsLargeHelloDropped, Severity::Warning, format!("{host} closes the connection on a hello with a post-quantum key share"))
                    .explain("Senders that offer post-quantum key exchange send such a hello (about 1.3 KB): Exim on OpenSSL 3.5, Go and rustls do by default. Where it is dropped their handshake fails: most then send in cleartext, DANE and MTA-STS senders wait.")
                    .fix("Find what limits the hello's size on the way (a firewall or load balancer inspecting SMTP, an old TLS stack) and update or bypass it."),
            );
        }
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}
