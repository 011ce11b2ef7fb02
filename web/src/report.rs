//! The full report, drawn from the core's `Report` and, for the SMTP transcripts, from the
//! evidence itself.

use std::rc::Rc;

use mxtls_core::evidence::{AddressEvidence, Party};
use mxtls_core::report::Delivery;
use mxtls_core::report::MtaStsReport;
use mxtls_core::report::{AddressReport, ChainReport, DaneStatus, MxReport, TlsaReport};
use mxtls_core::{Evidence, Finding, Report, Severity, Verdict};
use yew::prelude::*;

use crate::net;

/// The mood of a verdict, for colour and icon.
fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Verified | Verdict::Trusted => "good",
        Verdict::Untrusted | Verdict::Inconclusive | Verdict::Refused => "warn",
        Verdict::NoStarttls | Verdict::TlsFailed | Verdict::Unreachable => "bad",
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Verified => "verified by DANE",
        Verdict::Trusted => "trusted (PKIX), not DANE",
        Verdict::Untrusted => "encrypted, not authenticated",
        Verdict::NoStarttls => "no STARTTLS: cleartext",
        Verdict::TlsFailed => "TLS failed",
        Verdict::Unreachable => "unreachable",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Refused => "not probed (not a public address)",
    }
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Error => "bad",
        Severity::Warning => "warn",
        Severity::Notice => "info",
        Severity::Ok => "good",
    }
}

/// The mood of the whole report.
pub fn report_class(report: &Report) -> &'static str {
    if report.has_errors() {
        "bad"
    } else if report.count(Severity::Warning) > 0 {
        "warn"
    } else {
        "good"
    }
}

/// "Protected against STARTTLS stripping: …" — the question an attacker on the path asks.
pub fn stripping_line(report: &Report) -> String {
    if report.summary.accepts_no_mail {
        "This domain accepts no mail (null MX).".to_owned()
    } else {
        format!(
            "Protected against STARTTLS stripping: {}",
            report.downgrade_protection.label()
        )
    }
}

#[derive(Properties, PartialEq)]
pub struct CopyProps {
    pub text: AttrValue,
    pub label: AttrValue,
}

/// A button that copies `text`, saying so to screen readers.
#[function_component(CopyButton)]
pub fn copy_button(props: &CopyProps) -> Html {
    let state = use_state(|| None::<bool>);
    let onclick = {
        let (state, text) = (state.clone(), props.text.clone());
        Callback::from(move |_| {
            let (state, text) = (state.clone(), text.clone());
            wasm_bindgen_futures::spawn_local(async move {
                state.set(Some(net::copy(&text).await));
            });
        })
    };
    let said = match *state {
        None => "",
        Some(true) => "Copied",
        Some(false) => "Copy failed: select the text instead",
    };
    html! {
        <>
            <button type="button" class="copy" {onclick}>{ props.label.clone() }</button>
            <span class="copied" role="status">{ said }</span>
        </>
    }
}

#[derive(Properties, PartialEq)]
pub struct ReportProps {
    pub evidence: Rc<Evidence>,
    pub report: Rc<Report>,
}

/// The whole report below the headline.
#[function_component(ReportBody)]
pub fn report_body(props: &ReportProps) -> Html {
    let report = &props.report;
    html! {
        <>
            <section aria-labelledby="findings-h">
                <h2 id="findings-h">{ format!("Findings ({} errors, {} warnings)", report.count(Severity::Error), report.count(Severity::Warning)) }</h2>
                <ul class="findings">
                    { for report.findings.iter().map(finding) }
                </ul>
            </section>
            if !report.senders.is_empty() { { senders(report) } }
            <section aria-labelledby="hosts-h">
                <h2 id="hosts-h">{ "Mail servers (MX hosts)" }</h2>
                if report.mx.is_empty() {
                    <p>{ "No MX hosts to check." }</p>
                }
                { for report.mx.iter().map(|mx| host(mx, &props.evidence)) }
            </section>
            if let Some(sts) = &report.mta_sts { { mta_sts(sts) } }
        </>
    }
}

fn finding(f: &Finding) -> Html {
    let class = classes!("finding", severity_class(f.severity));
    html! {
        <li {class} data-code={f.code.as_str()}>
            <p class="finding-head">
                <span class="sev">{ f.severity.label() }</span>
                <strong>{ &f.title }</strong>
                <span class="subject">{ f.subject.to_string() }</span>
            </p>
            <p>{ &f.explanation }</p>
            if let Some(fix) = &f.fix {
                <div class="fix">
                    <p><strong>{ "Fix: " }</strong>{ &fix.text }</p>
                    { for fix.records.iter().map(|r| record_line(r)) }
                </div>
            }
            <p class="meta"><code>{ f.code.as_str() }</code>{ " · " }{ &f.rfc }</p>
        </li>
    }
}

/// A DNS record to publish, with its copy button.
fn record_line(record: &str) -> Html {
    html! {
        <div class="record">
            <code>{ record }</code>
            <CopyButton text={AttrValue::from(record.to_owned())} label="Copy record" />
        </div>
    }
}

fn dane_class(d: DaneStatus) -> &'static str {
    match d {
        DaneStatus::Applies => "good",
        DaneStatus::Failed => "bad",
        DaneStatus::Unusable | DaneStatus::Unknown => "warn",
        DaneStatus::NotPublished | DaneStatus::NotApplicable => "info",
    }
}

fn host(mx: &MxReport, evidence: &Evidence) -> Html {
    let title = match mx.preference {
        Some(p) => format!("{} (preference {p})", mx.host),
        None => format!("{} (implicit MX: the domain itself)", mx.host),
    };
    let host_ev = evidence.hosts.iter().find(|h| h.name == mx.host);
    html! {
        <article class="host" aria-label={mx.host.to_string()}>
            <h3>{ title }</h3>
            <p>{ "DANE: " }<span class={classes!("pill", dane_class(mx.dane))}>{ mx.dane.label() }</span>
               if let Some(base) = &mx.tlsa_base { if *base != mx.host { { format!(" (TLSA at {base})") } } }
            </p>
            <details class="lookups">
                <summary>{ format!("DNS lookups and their DNSSEC state ({})", mx.lookups.len()) }</summary>
                <table>
                    <thead><tr><th scope="col">{ "Name" }</th><th scope="col">{ "Type" }</th><th scope="col">{ "Answer" }</th><th scope="col">{ "DNSSEC" }</th></tr></thead>
                    <tbody>
                    { for mx.lookups.iter().map(|l| html! {
                        <tr>
                            <td>{ l.qname.to_string() }</td><td>{ &l.qtype }</td><td>{ &l.outcome }</td>
                            <td class={format!("dnssec-{}", l.dnssec)}>{ &l.dnssec }
                                if let Some(r) = &l.reason { <span class="reason">{ format!(" — {r}") }</span> }
                            </td>
                        </tr>
                    }) }
                    </tbody>
                </table>
            </details>
            if !mx.tlsa.is_empty() {
                <h4>{ "TLSA records" }</h4>
                <ol class="tlsa" start="0">
                    { for mx.tlsa.iter().enumerate().map(|(i, t)| tlsa(i, t)) }
                </ol>
            }
            { for mx.addresses.iter().map(|a| {
                let ev = host_ev.and_then(|h| h.addresses.iter().find(|x| x.ip == a.ip));
                address(a, ev, mx)
            }) }
        </article>
    }
}

fn tlsa(i: usize, t: &TlsaReport) -> Html {
    let matched = if t.matched.is_empty() {
        "matches no presented certificate".to_owned()
    } else {
        let list: Vec<String> = t
            .matched
            .iter()
            .map(|c| match c.depth {
                Some(0) => format!("{} end entity at {}", c.key.label(), c.ip),
                Some(d) => format!("{} chain certificate #{d} at {}", c.key.label(), c.ip),
                None => format!(
                    "{} chain at {} (anchor from the record)",
                    c.key.label(),
                    c.ip
                ),
            })
            .collect();
        format!("matches: {}", list.join("; "))
    };
    html! {
        <li class={classes!("tlsa-record", if t.usable { "usable" } else { "unusable" })}>
            <code>{ format!("#{i}  {}", t.record) }</code>
            <span class="tlsa-state">
                if t.usable { { " usable — " } { matched } }
                else { { format!(" unusable: {}", t.unusable_reason.clone().unwrap_or_default()) } }
            </span>
        </li>
    }
}

fn address(a: &AddressReport, ev: Option<&AddressEvidence>, mx: &MxReport) -> Html {
    let starttls = match a.starttls_offered {
        Some(true) => "STARTTLS offered",
        Some(false) => "STARTTLS not offered",
        None => "",
    };
    html! {
        <section class="address" aria-label={format!("{} address {}", mx.host, a.ip)}>
            <h4>
                <span class="ip">{ a.ip.to_string() }</span>{ " " }
                <span class={classes!("pill", verdict_class(a.tls))} data-verdict={a.tls.label()}>{ verdict_text(a.tls) }</span>
            </h4>
            if !starttls.is_empty() { <p class="muted">{ starttls }</p> }
            { for a.chains.iter().map(|c| chain(c, mx)) }
            if let Some(ev) = ev { { transcript(ev) } }
        </section>
    }
}

fn chain(c: &ChainReport, mx: &MxReport) -> Html {
    let pkix = match &c.pkix {
        Ok(()) => "valid (chains to a public root)".to_owned(),
        Err(e) => e.to_string(),
    };
    let dane = match &c.dane {
        None => "does not apply".to_owned(),
        Some(d) => match d.authenticated_by {
            Some(r) => format!("authenticated by TLSA record #{r}"),
            None if d.matches.is_empty() => "no TLSA record matches".to_owned(),
            None => "records match but do not authenticate (see findings)".to_owned(),
        },
    };
    let tls = [&c.tls_version, &c.cipher_suite, &c.kx_group]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    // Which TLSA records matched which certificate of this chain.
    let matches_of = |depth: usize| -> String {
        let recs: Vec<String> = c
            .dane
            .iter()
            .flat_map(|d| d.matches.iter())
            .filter(|m| m.cert == Some(depth))
            .map(|m| format!("#{}", m.record))
            .collect();
        if recs.is_empty() {
            String::new()
        } else {
            format!("matched by TLSA {}", recs.join(", "))
        }
    };
    html! {
        <div class="chain">
            <p class="chain-head">
                <strong>{ format!("{} certificate", c.key.label()) }</strong>{ " " }
                <span class={classes!("pill", verdict_class(c.verdict))}>{ verdict_text(c.verdict) }</span>
            </p>
            <dl class="facts">
                <dt>{ "TLS" }</dt><dd>{ if tls.is_empty() { "—".to_owned() } else { tls } }</dd>
                <dt>{ "DANE" }</dt><dd>{ dane }</dd>
                <dt>{ "PKIX" }</dt><dd>{ pkix }</dd>
                <dt>{ "Name" }</dt><dd>{ if c.name_matches { format!("certificate is valid for {}", mx.host) } else { format!("certificate does not name {}", mx.host) } }</dd>
            </dl>
            if c.dane_ee_record.is_some() || c.dane_ta_record.is_some() {
                <details class="suggest">
                    <summary>{ "TLSA records that would match this chain" }</summary>
                    { for c.dane_ee_record.iter().map(|r| record_line(r)) }
                    { for c.dane_ta_record.iter().map(|r| record_line(r)) }
                </details>
            }
            <details class="certs">
                <summary>{ format!("Certificate chain ({} certificates)", c.certs.len()) }</summary>
                <ol start="0">
                { for c.certs.iter().enumerate().map(|(depth, cert)| html! {
                    <li class="cert">
                        <p><strong>{ &cert.subject }</strong>
                           { format!(" {}", matches_of(depth)) }</p>
                        <dl class="facts">
                            <dt>{ "Issuer" }</dt><dd>{ &cert.issuer }</dd>
                            <dt>{ "Names" }</dt><dd>{ if cert.dns_names.is_empty() { cert.common_names.join(", ") } else { cert.dns_names.join(", ") } }</dd>
                            <dt>{ "Valid" }</dt><dd>{ format!("{} to {}", cert.not_before, cert.not_after) }</dd>
                            <dt>{ "Key" }</dt><dd>{ format!("{} {} bits{}", cert.key.label(), cert.key_bits, if cert.is_ca { ", CA" } else { "" }) }</dd>
                            <dt>{ "Signature" }</dt><dd>{ &cert.signature_algorithm }</dd>
                        </dl>
                    </li>
                }) }
                </ol>
            </details>
        </div>
    }
}

fn transcript(ev: &AddressEvidence) -> Html {
    html! {
        { for ev.sessions.iter().map(|s| {
            let lines: String = s
                .transcript
                .iter()
                .map(|l| {
                    let who = match l.from { Party::Client => "C:", Party::Server => "S:" };
                    format!("{:>6} ms {who} {}\n", l.at_ms, l.text)
                })
                .collect();
            let stop = s
                .stopped
                .as_ref()
                .map(|st| format!(" — stopped at {}", st.step.label()))
                .unwrap_or_default();
            html! {
                <details class="transcript">
                    <summary>{ format!("SMTP transcript (port {}, {}){stop}", s.port, offer_label(s.offered)) }</summary>
                    <pre>{ lines }</pre>
                </details>
            }
        }) }
    }
}

/// What the client offered in this session, in words.
pub fn offer_label(offer: mxtls_core::evidence::KeyTypeOffer) -> &'static str {
    use mxtls_core::evidence::KeyTypeOffer;
    match offer {
        KeyTypeOffer::Any => "any certificate",
        KeyTypeOffer::Rsa => "RSA certificate only",
        KeyTypeOffer::Ecdsa => "ECDSA certificate only",
        KeyTypeOffer::Ed25519 => "Ed25519 certificate only",
    }
}

fn delivery_class(d: Delivery) -> &'static str {
    match d {
        Delivery::Authenticated => "good",
        Delivery::Encrypted | Delivery::Unknown => "warn",
        Delivery::Cleartext | Delivery::Deferred | Delivery::Bounced => "bad",
    }
}

/// The sender-outcome matrix: what happens to a message, by kind of sender.
fn senders(report: &Report) -> Html {
    html! {
        <section aria-labelledby="senders-h">
            <h2 id="senders-h">{ "What happens to mail sent to you" }</h2>
            <table class="senders">
                <thead><tr>
                    <th scope="col">{ "Sending server" }</th>
                    <th scope="col">{ "Your mail" }</th>
                    <th scope="col">{ "If an attacker strips STARTTLS" }</th>
                </tr></thead>
                <tbody>
                { for report.senders.iter().map(|r| html! {
                    <tr data-sender={serde_json::to_value(r.sender).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()}>
                        <th scope="row">{ r.sender.label() }</th>
                        <td><span class={classes!("pill", delivery_class(r.delivery))} data-delivery={r.delivery.label()}>{ r.delivery.label() }</span>
                            { r.via.as_ref().map(|h| format!(" via {h}")).unwrap_or_default() }</td>
                        <td class={ if r.stripping_succeeds { "bad" } else { "good" } }>
                            { if r.stripping_succeeds { "succeeds: mail in cleartext" } else { "fails" } }
                        </td>
                    </tr>
                }) }
                </tbody>
            </table>
        </section>
    }
}

fn mta_sts(sts: &MtaStsReport) -> Html {
    let (txt, policy) = (sts.txt.describe(), sts.describe_policy());
    html! {
        <section aria-labelledby="sts-h">
            <h2 id="sts-h">{ "MTA-STS" }</h2>
            <dl class="facts" id="mta-sts">
                <dt>{ "DNS" }</dt><dd>{ txt }</dd>
                <dt>{ "Policy" }</dt><dd>{ policy }</dd>
                <dt>{ "URL" }</dt><dd><code>{ &sts.policy_url }</code></dd>
                if let Some(p) = &sts.policy {
                    <dt>{ "MX patterns" }</dt><dd>{ p.mx.join(", ") }</dd>
                }
                { for sts.hosts.iter().map(|h| html! {
                    <>
                        <dt>{ h.host.to_string() }</dt>
                        <dd>{ format!("{}; {}", if h.covered { "listed in the policy" } else { "not listed in the policy" },
                            match h.pkix_valid { Some(true) => "certificate valid for MTA-STS", Some(false) => "fails MTA-STS's certificate check", None => "not judged" }) }</dd>
                    </>
                }) }
            </dl>
        </section>
    }
}
