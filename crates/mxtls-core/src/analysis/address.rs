//! One address of a host: the target policy, the SMTP session up to a presented chain
//! (STARTTLS offered, stripped, refused, failed), and the address's verdict.

use super::{HostDane, Judge};
use crate::evidence::{
    AddressEvidence, HostEvidence, SessionError, SmtpSession, Step, TargetDecision,
};
use crate::findings::{Code, Finding, Severity, Subject};
use crate::report::{AddressReport, ChainReport, DaneStatus, Verdict};
use crate::starttls;

impl Judge<'_> {
    pub(super) fn address(
        &mut self,
        h: &HostEvidence,
        a: &AddressEvidence,
        dane: &HostDane<'_>,
    ) -> (AddressReport, Vec<ChainReport>) {
        let subject = Subject::Address {
            host: h.name.clone(),
            ip: a.ip,
        };
        let mut report = AddressReport {
            ip: a.ip,
            tls: Verdict::Inconclusive,
            chains: Vec::new(),
            starttls_offered: None,
            posture: None,
        };
        if let TargetDecision::Refused { reason } = &a.target {
            report.tls = Verdict::Refused;
            self.push(
                Finding::new(Code::AddressRefused, Severity::Warning, subject, format!("{} is not a public address: not tested", a.ip))
                    .explain(format!("{} resolves to {} ({reason}). Senders on the internet cannot reach it; mxtls does not connect to such addresses.", h.name, a.ip))
                    .fix(format!("Publish only public addresses for {}.", h.name)),
            );
            return (report, Vec::new());
        }
        if let TargetDecision::OptedOut { entry } = &a.target {
            report.tls = Verdict::OptedOut;
            self.push(
                Finding::new(Code::AddressOptedOut, Severity::Notice, subject, format!("{} was not tested: the operator of this checker was asked not to test this host", a.ip))
                    .explain(format!("{} ({}) is on this checker's opt-out list (entry \"{entry}\"): its postmaster asked the operator not to test it, so the probe did not connect. Nothing is known here about its STARTTLS, certificates or DANE; it is not counted against the domain.", h.name, a.ip))
                    .fix("Test it from a checker you run yourself (`mxtls check` in a terminal), or ask this checker's operator to take it off the list (see /about/probe)."),
            );
            return (report, Vec::new());
        }
        if let Some(r) = &a.reused {
            let age = (self.now.0 - r.gathered_at.0).max(0);
            self.push(
                Finding::new(Code::AddressEvidenceReused, Severity::Notice, subject.clone(), format!("The sessions with {} are from a check {} ago", a.ip, crate::present::age(age)))
                    .explain(format!("This check did not connect to {} again: {}. What is shown for it is what the probe saw at {} (snapshot {}).", a.ip, r.reason, r.gathered_at, r.snapshot))
                    .fix("If you changed this server since, check again once that check is older than the reuse window."),
            );
        }
        let Some(first) = a.sessions.first() else {
            self.push(
                Finding::new(Code::SmtpInconclusive, Severity::Notice, subject, format!("{} was not tested", a.ip))
                    .explain("The probe did not open a session with this address (a probe limit was reached)."),
            );
            return (report, Vec::new());
        };

        if let Some(verdict) = self.session_outcome(h, first, &subject, dane) {
            report.tls = verdict;
            report.starttls_offered = first.ehlo.as_ref().map(starttls::offers_starttls);
            return (report, Vec::new());
        }
        report.starttls_offered = Some(true);

        // Judge every distinct chain the server showed (one per key type).
        let mut seen: Vec<&[u8]> = Vec::new();
        let mut judged = Vec::new();
        for s in &a.sessions {
            let Some(tls) = &s.tls else { continue };
            let Some(ee) = tls.chain.first() else {
                continue;
            };
            if seen.contains(&ee.as_ref()) {
                continue;
            }
            seen.push(ee.as_ref());
            judged.push(self.chain(h, s, dane));
        }
        if judged.is_empty() {
            report.tls = Verdict::Untrusted;
            return (report, Vec::new());
        }
        let several = judged.len() > 1;
        for j in &judged {
            self.chain_findings(h, &subject, j, dane, several);
        }
        if dane.status == DaneStatus::Applies {
            self.dane_findings(h, &subject, &judged, dane);
        }
        report.tls = judged
            .iter()
            .map(|c| c.verdict)
            .max()
            .unwrap_or(Verdict::Untrusted);
        report.chains = judged.clone();
        (report, judged)
    }

    /// The verdict when the session ended before a chain could be judged, with its finding.
    fn session_outcome(
        &mut self,
        h: &HostEvidence,
        s: &SmtpSession,
        subject: &Subject,
        dane: &HostDane<'_>,
    ) -> Option<Verdict> {
        let stop = s.stopped.as_ref();
        let dane_note = if matches!(dane.status, DaneStatus::Applies | DaneStatus::Unusable) {
            " Because this host publishes TLSA records, DANE senders will not send in cleartext: they defer the mail."
        } else {
            ""
        };
        if let Some(stop) = stop.filter(|s| s.step == Step::Connect) {
            self.push(
                Finding::new(Code::SmtpUnreachable, Severity::Warning, subject.clone(), format!("No connection to {} port {}", h.name, s.port))
                    .explain(format!("Connecting failed ({}). Senders try the other MX hosts and addresses, and defer mail if none answers.", error_text(&stop.error)))
                    .fix("Make sure the server listens on port 25 and that firewalls let connections in."),
            );
            return Some(Verdict::Unreachable);
        }
        let banner_ok = s.banner.as_ref().is_some_and(|b| b.code == 220);
        let ehlo_ok = s.ehlo.as_ref().is_some_and(|e| e.code == 250);
        // A server that accepts the connection but does not speak SMTP — no greeting within
        // the deadline, an EHLO never answered, an endless or garbled reply — is broken for
        // every sender, not a refusal of the probe.
        let broken = stop.filter(|st| {
            matches!(st.step, Step::Banner | Step::Ehlo)
                && match &st.error {
                    SessionError::Timeout => s.banner.as_ref().is_none_or(|b| b.code == 220),
                    SessionError::Garbage { .. } | SessionError::Limit { .. } => true,
                    _ => false,
                }
        });
        if let Some(st) = broken {
            let what = match (&st.step, &st.error) {
                (Step::Banner, SessionError::Timeout) => {
                    format!("it sent no greeting within {} s", waited(s))
                }
                (Step::Ehlo, SessionError::Timeout) => {
                    format!("it did not answer EHLO within {} s", waited(s))
                }
                (step, e) => format!(
                    "its reply at the {} step was broken ({})",
                    crate::present::step(*step),
                    error_text(e)
                ),
            };
            self.push(
                Finding::new(Code::SmtpUnresponsive, Severity::Warning, subject.clone(), format!("{} accepts connections but does not speak SMTP", h.name))
                    .explain(format!("The server at this address accepted the connection, but {what}. Senders wait up to five minutes for a greeting (RFC 5321 §4.5.3.2), then try the next address or MX host and defer mail if none works: this address delays or loses mail for everyone, not only for the probe."))
                    .fix("Check the mail server at this address: is it overloaded, hung, or is a firewall or load balancer in front of it holding connections open without a server behind?"),
            );
            return Some(Verdict::Broken);
        }
        if !banner_ok || !ehlo_ok {
            let what = match (&s.banner, stop) {
                (Some(b), _) if b.code != 220 => {
                    format!("the server greeted with {} {}", b.code, b.lines.join(" "))
                }
                (_, Some(stop)) => format!(
                    "at the {} step: {}",
                    crate::present::step(stop.step),
                    error_text(&stop.error)
                ),
                _ => "the EHLO command was not accepted".to_owned(),
            };
            self.push(
                Finding::new(Code::SmtpInconclusive, Severity::Notice, subject.clone(), format!("{} refused or limited the probe: not judged", h.name))
                    .explain(format!("The session ended early ({what}). Servers do this to unknown clients (greylisting, rate limits, postscreen), so this says nothing about the domain; senders with a reputation may fare differently."))
                    .fix("Run the check again later, or from another network."),
            );
            return Some(Verdict::Inconclusive);
        }
        let ehlo = s.ehlo.as_ref()?;
        let tampering = starttls::tampering(s.banner.as_ref(), Some(ehlo));
        if !starttls::offers_starttls(ehlo) {
            let finding = match tampering {
                Some(t) => Finding::new(Code::StarttlsStripped, Severity::Error, subject.clone(), format!("STARTTLS to {} is being stripped on the path", h.name))
                    .explain(format!("Something between the probe and the server removed STARTTLS: {t}. Senders see no STARTTLS and send in cleartext.{dane_note}"))
                    .fix("Turn off SMTP/ESMTP inspection on the firewall in front of the mail server (e.g. Cisco \"no fixup protocol smtp\" / \"no inspect esmtp\")."),
                None => Finding::new(Code::StarttlsMissing, Severity::Error, subject.clone(), format!("{} does not offer STARTTLS", h.name))
                    .explain(format!("The server's EHLO reply has no STARTTLS, so mail to it travels in cleartext.{dane_note}"))
                    .fix("Enable STARTTLS on the server (Postfix: smtpd_tls_security_level = may, with smtpd_tls_chain_files set)."),
            };
            self.push(finding);
            return Some(Verdict::NoStarttls);
        }
        if s.tls.as_ref().is_some_and(|t| !t.chain.is_empty()) {
            return None;
        }
        // A handshake that went no further than a ServerHello choosing TLS 1.0 or 1.1.
        let old_version = s
            .tls
            .as_ref()
            .and_then(|t| t.version)
            .filter(|v| v.is_deprecated());
        if let Some(v) = old_version {
            self.push(
                Finding::new(Code::TlsOldVersion, Severity::Warning, subject.clone(), format!("{} offers only {}", h.name, v.name()))
                    .explain("TLS 1.0 and 1.1 are deprecated (RFC 8996): current senders (OpenSSL 3, Postfix, Exim, the big providers) refuse them, so the handshake fails and they send in cleartext or defer.")
                    .fix("Enable TLS 1.2 and 1.3 on the server (Postfix: smtpd_tls_protocols = >=TLSv1.2 with a current OpenSSL)."),
            );
        }
        let (code, detail) = match (stop, &s.starttls) {
            (Some(stop), _)
                if matches!(stop.error, SessionError::CleartextAfterStarttls { .. }) =>
            {
                (
                    Code::StarttlsStripped,
                    format!(
                        "after answering 220 to STARTTLS the server spoke cleartext ({}): a middlebox is answering in its place",
                        error_text(&stop.error)
                    ),
                )
            }
            (_, Some(r)) if r.code != 220 => (
                Code::StarttlsFailed,
                format!(
                    "STARTTLS was answered with {} {}",
                    r.code,
                    r.lines.join(" ")
                ),
            ),
            (Some(_), _) if old_version.is_some() => (
                Code::StarttlsFailed,
                format!(
                    "the server chose {}, which current senders refuse",
                    old_version.map(|v| v.name()).unwrap_or_default()
                ),
            ),
            (Some(stop), _) => (
                Code::StarttlsFailed,
                format!(
                    "the {} step failed: {}",
                    crate::present::step(stop.step),
                    error_text(&stop.error)
                ),
            ),
            (None, _) => (
                Code::StarttlsFailed,
                "no certificate was presented".to_owned(),
            ),
        };
        self.push(
            Finding::new(code, Severity::Error, subject.clone(), format!("{} offers STARTTLS but TLS fails", h.name))
                .explain(format!("STARTTLS is advertised, but {detail}. This is the worst case: Postfix and most senders then fall back to cleartext, Sendmail defers.{dane_note}"))
                .fix("Check the server's TLS configuration (certificate and key files readable, protocols and ciphers enabled) and its logs."),
        );
        Some(Verdict::TlsFailed)
    }
}

/// How long the session had run when it gave up at its last step, in whole seconds (the
/// step's wait, give or take the connect).
fn waited(s: &SmtpSession) -> u64 {
    let connect = s
        .timings
        .iter()
        .filter(|t| t.step == Step::Connect)
        .map(|t| t.elapsed_ms)
        .sum::<u64>();
    s.stopped
        .as_ref()
        .and_then(|st| st.at_ms)
        .unwrap_or(0)
        .saturating_sub(connect)
        .div_ceil(1000)
}

fn error_text(e: &SessionError) -> String {
    match e {
        SessionError::ConnectRefused => "connection refused".into(),
        SessionError::ConnectTimeout => "no answer (timeout)".into(),
        SessionError::Timeout => "timed out".into(),
        SessionError::Reset => "connection reset by the server".into(),
        SessionError::Closed => "the server closed the connection".into(),
        SessionError::Rejected { code } => format!("rejected with {code}"),
        SessionError::Garbage { detail } => format!("not SMTP: {detail}"),
        SessionError::Limit { what } => format!("limit reached: {what}"),
        SessionError::CleartextAfterStarttls { text } => format!("{text:?}"),
        SessionError::TlsAlert { description } => format!("TLS alert: {description}"),
        SessionError::Tls { message } => format!("TLS error: {message}"),
        SessionError::Io { message } => message.clone(),
    }
}
