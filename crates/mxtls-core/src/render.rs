//! Text rendering of a report for a terminal. Colour is the caller's decision (a terminal,
//! `NO_COLOR`): this module never looks at the environment.

use std::fmt::Write;

use crate::findings::{Finding, Severity};
use crate::report::{
    AddressReport, ChainReport, Delivery, MtaStsReport, MxReport, Protection, Report,
    SenderOutcome, Verdict,
};

/// Renders `report` as plain text, with ANSI colour when `colour` is true.
pub fn text(report: &Report, colour: bool) -> String {
    let p = Paint(colour);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        p.bold("mxtls report for"),
        p.bold(report.domain.as_str())
    );
    let _ = writeln!(out, "judged at {}", report.judged_at);
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", p.bold(&report.summary.headline));
    if !report.summary.accepts_no_mail {
        let protection = report.downgrade_protection;
        let label = if protection == Protection::None {
            p.paint(Severity::Warning, protection.label())
        } else {
            p.paint(Severity::Ok, protection.label())
        };
        let _ = writeln!(out, "Protected against STARTTLS stripping: {label}");
    }
    for mx in &report.mx {
        let _ = writeln!(out);
        host(&mut out, &p, mx);
    }
    if let Some(sts) = &report.mta_sts {
        let _ = writeln!(out);
        mta_sts(&mut out, &p, sts);
    }
    if !report.senders.is_empty() {
        let _ = writeln!(out);
        senders(&mut out, &p, &report.senders);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", p.bold("Findings"));
    for f in &report.findings {
        finding(&mut out, &p, f);
    }
    let _ = writeln!(
        out,
        "\n{} error(s), {} warning(s), {} notice(s), {} ok",
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Notice),
        report.count(Severity::Ok)
    );
    out
}

fn host(out: &mut String, p: &Paint, mx: &MxReport) {
    let pref = mx
        .preference
        .map(|n| format!("MX {n}"))
        .unwrap_or_else(|| "implicit MX".to_owned());
    let _ = writeln!(
        out,
        "{} {}  DANE: {}",
        p.bold(&pref),
        p.bold(mx.host.as_str()),
        mx.dane.label()
    );
    for l in &mx.lookups {
        let reason = l
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {}: {}, {}{reason}",
            l.qname, l.qtype, l.outcome, l.dnssec
        );
    }
    for t in &mx.tlsa {
        let status = match &t.unusable_reason {
            Some(why) => format!("unusable: {why}"),
            None if t.matched.is_empty() => "usable, matches nothing presented".to_owned(),
            None => {
                let m: Vec<String> = t
                    .matched
                    .iter()
                    .map(|m| match m.depth {
                        Some(d) => format!("{} {} depth {d}", m.ip, m.key.label()),
                        None => format!("{} {} (anchor from record)", m.ip, m.key.label()),
                    })
                    .collect();
                format!("matches {}", m.join(", "))
            }
        };
        let _ = writeln!(out, "  TLSA {}  {status}", short_record(&t.record));
    }
    for a in &mx.addresses {
        address(out, p, a);
    }
}

fn address(out: &mut String, p: &Paint, a: &AddressReport) {
    let sev = match a.tls {
        Verdict::Verified | Verdict::Trusted => Severity::Ok,
        Verdict::Untrusted | Verdict::Inconclusive | Verdict::Refused => Severity::Warning,
        _ => Severity::Error,
    };
    let _ = writeln!(
        out,
        "  {:<40} {}",
        a.ip.to_string(),
        p.paint(sev, a.tls.label())
    );
    for c in &a.chains {
        chain(out, c);
    }
}

fn chain(out: &mut String, c: &ChainReport) {
    let params = [&c.tls_version, &c.cipher_suite, &c.kx_group]
        .iter()
        .filter_map(|v| v.as_deref())
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "    {} chain: {} ({params})",
        c.key.label(),
        c.verdict.label()
    );
    for (depth, cert) in c.certs.iter().enumerate() {
        let _ = writeln!(
            out,
            "      {depth}: {} [{} {}] until {}",
            cert.subject,
            cert.key.label(),
            cert.key_bits,
            cert.not_after
        );
    }
}

fn finding(out: &mut String, p: &Paint, f: &Finding) {
    let label = format!("{:<7}", f.severity.label().to_uppercase());
    let _ = writeln!(
        out,
        "  {} {}  {}",
        p.paint(f.severity, &label),
        f.code,
        f.subject
    );
    let _ = writeln!(out, "          {}", f.title);
    if !f.explanation.is_empty() && f.severity != Severity::Ok {
        let _ = writeln!(out, "          {}", f.explanation);
    }
    if let Some(fix) = &f.fix {
        let _ = writeln!(out, "          Fix: {}", fix.text);
        for r in &fix.records {
            let _ = writeln!(out, "            {r}");
        }
    }
    if !f.rfc.is_empty() {
        let _ = writeln!(out, "          ({})", f.rfc);
    }
}

/// `3 1 1 <64 hex>` shortened for the overview; the full record is in the fix and JSON.
fn short_record(record: &str) -> String {
    match record.rsplit_once(' ') {
        Some((head, data)) if data.len() > 24 => {
            format!("{head} {}…{}", &data[..12], &data[data.len() - 8..])
        }
        _ => record.to_owned(),
    }
}

struct Paint(bool);

impl Paint {
    fn bold(&self, s: &str) -> String {
        if self.0 {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    fn paint(&self, sev: Severity, s: &str) -> String {
        if !self.0 {
            return s.to_owned();
        }
        let code = match sev {
            Severity::Error => "31",
            Severity::Warning => "33",
            Severity::Notice => "36",
            Severity::Ok => "32",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }
}

/// A small SVG badge ("mail TLS | DANE verified") in the style of README badges. `None`: no
/// check yet.
pub fn badge(report: Option<&Report>) -> String {
    let (message, colour) = match report {
        None => ("not checked".to_owned(), "#9f9f9f"),
        Some(r) if r.summary.accepts_no_mail => ("no mail (null MX)".to_owned(), "#9f9f9f"),
        Some(r) if r.has_errors() => {
            let n = r.count(Severity::Error);
            (
                format!("{n} problem{}", if n == 1 { "" } else { "s" }),
                "#e05d44",
            )
        }
        Some(r) if r.summary.dane_authenticated => ("DANE verified".to_owned(), "#4c1"),
        Some(r)
            if r.downgrade_protection == Protection::MtaSts
                && r.mx
                    .iter()
                    .flat_map(|m| &m.addresses)
                    .all(|a| a.tls == Verdict::Trusted) =>
        {
            ("MTA-STS enforced".to_owned(), "#4c1")
        }
        Some(r)
            if r.mx
                .iter()
                .flat_map(|m| &m.addresses)
                .all(|a| a.tls == Verdict::Trusted) =>
        {
            ("TLS, no DANE".to_owned(), "#dfb317")
        }
        Some(_) => ("unauthenticated".to_owned(), "#fe7d37"),
    };
    let label = "mail TLS";
    // Verdana 11px averages about 7 px per character; pad 10 px each side.
    let lw = 10 + 7 * label.len() as u32;
    let mw = 10 + 7 * message.chars().count() as u32;
    let w = lw + mw;
    let text = xml_escape(&message);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"20\" role=\"img\" aria-label=\"{label}: {text}\">\
<title>{label}: {text}</title>\
<rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{mw}\" height=\"20\" fill=\"{colour}\"/>\
<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
<text x=\"{lx}\" y=\"14\">{label}</text><text x=\"{mx}\" y=\"14\">{text}</text></g></svg>",
        lx = lw / 2,
        mx = lw + mw / 2
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn mta_sts(out: &mut String, p: &Paint, sts: &MtaStsReport) {
    let (txt, policy) = (sts.txt.describe(), sts.describe_policy());
    let _ = writeln!(out, "{}  {txt}; {policy}", p.bold("MTA-STS"));
    for h in &sts.hosts {
        let cert = match h.pkix_valid {
            Some(true) => "PKIX-valid",
            Some(false) => "fails PKIX",
            None => "not judged",
        };
        let covered = if h.covered { "listed" } else { "NOT listed" };
        let _ = writeln!(out, "  {}: {covered}, {cert}", h.host);
    }
}

fn senders(out: &mut String, p: &Paint, rows: &[SenderOutcome]) {
    let _ = writeln!(out, "{}", p.bold("What happens to mail sent to you"));
    for r in rows {
        let sev = match r.delivery {
            Delivery::Authenticated => Severity::Ok,
            Delivery::Encrypted | Delivery::Unknown => Severity::Notice,
            Delivery::Cleartext | Delivery::Deferred | Delivery::Bounced => Severity::Warning,
        };
        let outcome = match &r.via {
            Some(h) => format!("{} via {h}", r.delivery.label()),
            None => r.delivery.label().to_owned(),
        };
        let strip = if r.stripping_succeeds {
            p.paint(Severity::Warning, "succeeds (cleartext)")
        } else {
            p.paint(Severity::Ok, "fails")
        };
        let _ = writeln!(out, "  {}", r.sender.label());
        let _ = writeln!(
            out,
            "      {}; an attacker stripping STARTTLS {strip}",
            p.paint(sev, &outcome)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_without_a_check_says_so() {
        let svg = badge(None);
        assert!(svg.starts_with("<svg") && svg.contains("not checked") && svg.contains("#9f9f9f"));
    }
}
