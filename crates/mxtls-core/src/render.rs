//! Text rendering of a report for a terminal, and the SVG badge. Every word and mood comes
//! from [`crate::present`]; this module only lays them out. Colour is the caller's decision (a
//! terminal, `NO_COLOR`): this module never looks at the environment.

use std::fmt::Write;

use crate::findings::{Finding, Severity};
use crate::present::{self, Mood};
use crate::report::{AddressReport, ChainReport, MtaStsReport, MxReport, Report, SenderOutcome};

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
    if let Some(line) = present::stripping_line(report) {
        let _ = writeln!(out, "{}", p.paint(line.mood, &line.text));
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
    let dane = present::dane(mx.dane);
    let _ = writeln!(
        out,
        "{} {}  DANE: {}",
        p.bold(&pref),
        p.bold(mx.host.as_str()),
        p.paint(dane.mood, &dane.text)
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
        let state = present::tlsa_state(t);
        let _ = writeln!(
            out,
            "  TLSA {}  {}",
            present::short_record(&t.record),
            p.paint(state.mood, &state.text)
        );
    }
    for a in &mx.addresses {
        address(out, p, a);
    }
}

fn address(out: &mut String, p: &Paint, a: &AddressReport) {
    let v = present::verdict(a.tls);
    let _ = writeln!(
        out,
        "  {:<40} {}",
        a.ip.to_string(),
        p.paint(v.mood, &v.text)
    );
    for c in &a.chains {
        chain(out, p, c);
    }
}

fn chain(out: &mut String, p: &Paint, c: &ChainReport) {
    let v = present::verdict(c.verdict);
    let _ = writeln!(
        out,
        "    {} chain: {} ({})",
        c.key.name(),
        p.paint(v.mood, &v.text),
        present::tls_parameters(c)
    );
    for (depth, cert) in c.certs.iter().enumerate() {
        let _ = writeln!(
            out,
            "      {depth}: {} [{} {}] until {}",
            cert.subject,
            cert.key.name(),
            cert.key_bits,
            cert.not_after
        );
    }
}

fn finding(out: &mut String, p: &Paint, f: &Finding) {
    let severity = present::severity(f.severity);
    let label = format!("{:<7}", severity.text.to_uppercase());
    let _ = writeln!(
        out,
        "  {} {}  {}",
        p.paint(severity.mood, &label),
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

struct Paint(bool);

impl Paint {
    fn bold(&self, s: &str) -> String {
        if self.0 {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    fn paint(&self, mood: Mood, s: &str) -> String {
        if !self.0 {
            return s.to_owned();
        }
        let code = match mood {
            Mood::Bad => "31",
            Mood::Warn => "33",
            Mood::Info => "36",
            Mood::Unknown => "90",
            Mood::Good => "32",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }
}

/// A small SVG badge ("mail TLS | DANE verified") in the style of README badges: it draws
/// the summary's status, in [`present::badge`]'s words. `None`: no check yet.
pub fn badge(report: Option<&Report>) -> String {
    let words = present::badge(report.map(|r| r.summary.status));
    let colour = match words.mood {
        Mood::Good => "#4c1",
        Mood::Warn => "#dfb317",
        Mood::Bad => "#e05d44",
        Mood::Info => "#007ec6",
        Mood::Unknown => "#9f9f9f",
    };
    let message = words.text;
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
    let _ = writeln!(
        out,
        "{}  {}; {}",
        p.bold("MTA-STS"),
        present::sts_txt(&sts.txt),
        present::sts_policy(sts)
    );
    for h in &sts.hosts {
        let state = present::sts_host(h);
        let _ = writeln!(out, "  {}: {}", h.host, p.paint(state.mood, &state.text));
    }
}

fn senders(out: &mut String, p: &Paint, rows: &[SenderOutcome]) {
    let _ = writeln!(out, "{}", p.bold("What happens to mail sent to you"));
    for r in rows {
        let d = present::delivery(r.delivery);
        let outcome = match &r.via {
            Some(h) => format!("{} via {h}", d.text),
            None => d.text,
        };
        let strip = present::stripping_outcome(r);
        let _ = writeln!(out, "  {}", present::sender(r.sender));
        let _ = writeln!(
            out,
            "      {}; if an attacker strips STARTTLS: {}",
            p.paint(d.mood, &outcome),
            p.paint(strip.mood, &strip.text)
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
