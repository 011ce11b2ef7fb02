//! Text rendering of a report for a terminal, and the SVG badge. Every word and mood comes
//! from [`crate::present`]; this module only lays them out. Colour is the caller's decision (a
//! terminal, `NO_COLOR`): this module never looks at the environment.

use std::fmt::Write;

use crate::findings::{Code, Severity, Subject};
use crate::present::{self, Mood};
use crate::report::{
    AddressReport, ChainReport, FindingGroup, MtaStsReport, MxReport, PostQuantum, PostureReport,
    Report, SenderOutcome, Verdict,
};

/// Renders `report` as plain text, with ANSI colour when `colour` is true, in the order a
/// domain owner reads it: the answer, what to do first, every address at a glance, what
/// happens to mail, the findings by cause, then the details.
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
    let _ = writeln!(out, "looking ahead {}", report.horizon.describe());
    let _ = writeln!(out);
    let mood = present::report_mood(report);
    let _ = writeln!(out, "{}", p.paint(mood, &p.bold(&report.summary.headline)));
    if let Some(line) = present::stripping_line(report) {
        let _ = writeln!(out, "{}", p.paint(line.mood, &line.text));
    }
    if !report.first.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", p.bold("Do this first"));
        for (n, g) in report.first.iter().enumerate() {
            do_first(&mut out, &p, report, *g, n + 1);
        }
    }
    let rows = present::grid(report);
    if !rows.is_empty() {
        let _ = writeln!(out);
        grid(&mut out, &p, &rows);
    }
    nameservers(&mut out, &p, report);
    if !report.senders.is_empty() {
        let _ = writeln!(out);
        senders(&mut out, &p, &report.senders);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", p.bold("Findings"));
    let mut ok = Vec::new();
    for g in &report.groups {
        if g.severity == Severity::Ok {
            ok.push(format!("{} ({})", g.code, g.findings.len()));
            continue;
        }
        finding(&mut out, &p, report, g);
    }
    if !ok.is_empty() {
        let _ = writeln!(out, "  {}     {}", p.paint(Mood::Good, "OK"), ok.join(", "));
    }
    for mx in &report.mx {
        let _ = writeln!(out);
        host(&mut out, &p, report, mx);
    }
    if let Some(sts) = &report.mta_sts {
        let _ = writeln!(out);
        mta_sts(&mut out, &p, sts);
    }
    let _ = writeln!(out, "\n{}", counts(report));
    out
}

/// `1 error, 2 warnings, 3 notices, 1 ok`.
fn counts(report: &Report) -> String {
    let n = |s: Severity, one: &str, many: &str| present::count_of(report.count(s), one, many);
    format!(
        "{}, {}, {}, {}",
        n(Severity::Error, "error", "errors"),
        n(Severity::Warning, "warning", "warnings"),
        n(Severity::Notice, "notice", "notices"),
        n(Severity::Ok, "ok", "ok")
    )
}

/// Subjects of a group after its face: ` (also on mx2 [192.0.2.2], …)`.
fn also_on(report: &Report, g: &FindingGroup) -> String {
    let rest = present::also_on(report, g);
    if rest.is_empty() {
        String::new()
    } else {
        format!(" (also on {})", rest.join(", "))
    }
}

/// The fix of a group: the face's text, every record of the group once, the file.
fn fix_lines(out: &mut String, report: &Report, g: &FindingGroup, indent: &str) {
    let Some(fix) = present::group_fix(report, g) else {
        return;
    };
    let _ = writeln!(out, "{indent}Fix: {}", fix.text);
    for r in &fix.records {
        let _ = writeln!(out, "{indent}  {r}");
    }
    if let Some(file) = &fix.file {
        let _ = writeln!(out, "{indent}File {} to serve at {}:", file.name, file.url);
        for line in file.content.lines() {
            let _ = writeln!(out, "{indent}  {line}");
        }
    }
}

fn do_first(out: &mut String, p: &Paint, report: &Report, g: usize, n: usize) {
    let Some(g) = report.groups.get(g) else {
        return;
    };
    let face = &report.findings[g.findings[0]];
    let mood = present::severity(face.severity).mood;
    let _ = writeln!(
        out,
        "  {n}. {}{}",
        p.paint(mood, &face.title),
        also_on(report, g)
    );
    fix_lines(out, report, g, "     ");
}

fn grid(out: &mut String, p: &Paint, rows: &[present::GridRow]) {
    let _ = writeln!(out, "{}", p.bold("At a glance"));
    let host_w = rows
        .iter()
        .map(|r| r.host.as_str().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let ip_w = rows
        .iter()
        .map(|r| r.ip.to_string().len())
        .max()
        .unwrap_or(7)
        .max(7);
    // The posture column is there only when posture sessions were run.
    let posture = rows.iter().any(|r| r.posture.is_some());
    let sts_w = if posture { 13 } else { 0 };
    let _ = writeln!(
        out,
        "  {:<host_w$}  {:<ip_w$}  {:<7} {:<10} {:<9} {:<12} {:<11} {}",
        "host",
        "address",
        "key",
        "STARTTLS",
        "TLS",
        "DANE",
        "PKIX",
        if posture {
            "MTA-STS       posture"
        } else {
            "MTA-STS"
        }
    );
    for r in rows {
        let cell =
            |w: &present::Words, width: usize| p.paint(w.mood, &format!("{:<width$}", w.text));
        let posture = r
            .posture
            .as_ref()
            .map(|w| format!(" {}", cell(w, 0)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<host_w$}  {:<ip_w$}  {:<7} {} {} {} {} {}{posture}",
            r.host.as_str(),
            r.ip.to_string(),
            r.key.unwrap_or("—"),
            cell(&r.starttls, 10),
            cell(&r.tls, 9),
            cell(&r.dane, 12),
            cell(&r.pkix, 11),
            cell(&r.mta_sts, sts_w)
        );
    }
}

/// The authoritative servers: one line per zone whose servers agree, a table otherwise.
fn nameservers(out: &mut String, p: &Paint, report: &Report) {
    if report.nameservers.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", p.bold("Name servers"));
    for z in &report.nameservers {
        let line = present::zone_line(report, z);
        if z.agree {
            let _ = writeln!(out, "  {}", line.text);
            continue;
        }
        let _ = writeln!(out, "  {}", p.paint(line.mood, &line.text));
        let name_w = z
            .servers
            .iter()
            .map(|s| s.name.as_str().len())
            .max()
            .unwrap_or(4);
        let ip_w = z
            .servers
            .iter()
            .map(|s| s.ip.to_string().len())
            .max()
            .unwrap_or(7);
        for s in &z.servers {
            let serial = s.serial.map(|n| format!("serial {n}")).unwrap_or_default();
            let state = present::row_state(report, z, s);
            let state = p.paint(state.mood, &state.text);
            let _ = writeln!(
                out,
                "    {:<name_w$}  {:<ip_w$}  {serial:<12}  {state}",
                s.name.as_str(),
                s.ip.to_string()
            );
        }
    }
}

fn host(out: &mut String, p: &Paint, report: &Report, mx: &MxReport) {
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
        address(out, p, report, a);
    }
}

fn address(out: &mut String, p: &Paint, report: &Report, a: &AddressReport) {
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
    let facts = present::posture_facts(report, a);
    if !facts.is_empty() {
        let _ = writeln!(out, "    TLS posture:");
    }
    for f in facts {
        let _ = writeln!(
            out,
            "      {:<26} {}",
            format!("{}:", f.label),
            p.paint(f.value.mood, &f.value.text)
        );
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

fn finding(out: &mut String, p: &Paint, report: &Report, g: &FindingGroup) {
    let f = &report.findings[g.findings[0]];
    let severity = present::severity(f.severity);
    let label = format!("{:<7}", severity.text.to_uppercase());
    let _ = writeln!(
        out,
        "  {} {}  {}{}",
        p.paint(severity.mood, &label),
        f.code,
        f.subject,
        also_on(report, g)
    );
    let _ = writeln!(out, "          {}", f.title);
    let _ = writeln!(out, "          Why it matters: {}", present::why(f.code));
    if !f.explanation.is_empty() {
        let _ = writeln!(out, "          {}", f.explanation);
    }
    fix_lines(out, report, g, "          ");
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

/// The one status line of a monitoring plugin, with performance data: `MXTLS OK -
/// example.org: … | time=2.1s mx=2 addresses=4 …`. `seconds` is how long the check took.
pub fn nagios(report: &Report, seconds: f64) -> String {
    let state = present::plugin_state(report);
    let addresses: Vec<&AddressReport> = report.mx.iter().flat_map(|h| &h.addresses).collect();
    let authenticated = addresses
        .iter()
        .filter(|a| matches!(a.tls, Verdict::Verified | Verdict::Trusted))
        .count();
    // The first problem names what to look at; the headline says what it means.
    let first = report
        .findings
        .iter()
        .find(|f| matches!(f.severity, Severity::Error | Severity::Warning))
        .filter(|f| !report.summary.headline.contains(&f.title))
        .map(|f| format!("; {} ({})", f.title, f.code))
        .unwrap_or_default();
    let cert_days = addresses
        .iter()
        .flat_map(|a| &a.chains)
        .filter_map(|c| c.certs.first())
        .map(|c| (c.not_after.0 - report.judged_at.0).div_euclid(86_400))
        .min()
        .map(|d| format!(" cert_days={d}"))
        .unwrap_or_default();
    // Posture counts, where posture sessions were run: addresses that accept a version
    // below TLS 1.2, that take a weak (not anonymous) suite, that negotiate post-quantum.
    let postures: Vec<&PostureReport> = addresses
        .iter()
        .filter_map(|a| a.posture.as_ref())
        .collect();
    let posture = if postures.is_empty() {
        String::new()
    } else {
        let old = postures
            .iter()
            .filter(|p| {
                p.versions
                    .iter()
                    .any(|v| matches!(v.as_str(), "ssl3" | "tls1.0" | "tls1.1"))
            })
            .count();
        let weak = addresses
            .iter()
            .filter(|a| {
                report.findings.iter().any(|f| {
                    f.code == Code::TlsWeakSuites
                        && matches!(&f.subject, Subject::Address { ip, .. } if *ip == a.ip)
                })
            })
            .count();
        let pq = postures
            .iter()
            .filter(|p| {
                matches!(
                    p.post_quantum,
                    PostQuantum::Preferred | PostQuantum::Supported
                )
            })
            .count();
        format!(" old_tls={old};;;0 weak_suites={weak};;;0 post_quantum={pq};;;0")
    };
    let text = format!(
        "{}: {}{first}",
        report.domain,
        report.summary.headline.trim_end_matches('.')
    )
    .replace(['|', '\n'], " ");
    format!(
        "MXTLS {} - {text} | time={seconds:.3}s;;;0 mx={};;;0 addresses={};;;0 authenticated={authenticated};;;0 errors={} warnings={}{cert_days}{posture}",
        state.label(),
        report.mx.len(),
        addresses.len(),
        report.count(Severity::Error),
        report.count(Severity::Warning),
    )
}

/// What senders' TLS-RPT reports say about `domain`, held against the probe: the sessions
/// per sending organisation, day and policy, then the findings, most severe first.
pub fn tls_rpt_text(
    domain: &str,
    reports: &[crate::tls_rpt::report::AggregateReport],
    findings: &[crate::findings::Finding],
    colour: bool,
) -> String {
    let p = Paint(colour);
    let mut out = String::new();
    let _ = writeln!(out, "{}", p.bold(&format!("TLS-RPT reports for {domain}")));
    for r in reports {
        for s in &r.skipped {
            let _ = writeln!(
                out,
                "  note: {} ({}): skipped {s}",
                r.organization, r.report_id
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:<12} {:<28} {:<16} {:>9} {:>7}",
        "day", "sending organisation", "policy", "succeeded", "failed"
    );
    // Only what concerns `domain` is counted, as the findings are judged.
    for row in crate::tls_rpt::report::summarise(&crate::tls_rpt::report::about(reports, domain)) {
        let _ = writeln!(
            out,
            "  {:<12} {:<28} {:<16} {:>9} {:>7}",
            row.day,
            row.organization,
            row.policy_type.id(),
            row.successful,
            row.failed
        );
        for (host, ip, result, n) in &row.failures {
            let at = match (host, ip) {
                (Some(h), Some(ip)) => format!("{h} [{ip}]"),
                (Some(h), None) => h.clone(),
                (None, Some(ip)) => format!("[{ip}]"),
                (None, None) => "-".into(),
            };
            let _ = writeln!(out, "      {n:>7} {} at {at}", result.id());
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", p.bold("Findings"));
    let mut sorted: Vec<&crate::findings::Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| f.severity);
    for f in sorted {
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
        let _ = writeln!(out, "          {}", f.explanation);
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "          Fix: {}", fix.text);
            for r in &fix.records {
                let _ = writeln!(out, "            {r}");
            }
        }
    }
    out
}

/// A small SVG badge ("mail TLS | DANE verified") in the style of README badges: it draws
/// the summary's status, in [`present::badge`]'s words. `None`: no check yet.
pub fn badge(report: Option<&Report>) -> String {
    let words = present::badge(report);
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
        let d = present::sender_delivery(r);
        let strip = present::stripping_outcome(r);
        let _ = writeln!(out, "  A sender that {}", present::sender(r.sender));
        match strip {
            Some(strip) => {
                let _ = writeln!(
                    out,
                    "      {}; if an attacker strips STARTTLS: {}",
                    p.paint(d.mood, &d.text),
                    p.paint(strip.mood, &strip.text)
                );
            }
            None => {
                let _ = writeln!(out, "      {}", p.paint(d.mood, &d.text));
            }
        }
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
