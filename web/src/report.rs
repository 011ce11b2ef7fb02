//! The full report, drawn from the core's `Report` and, for the SMTP transcripts, from the
//! evidence itself. Words and moods come from `mxtls_core::present`, as in the terminal.

use std::rc::Rc;

use mxtls_core::evidence::{AddressEvidence, Party};
use mxtls_core::findings::Fix;
use mxtls_core::present::{self, Words};
use mxtls_core::report::{
    AddressReport, ChainReport, FindingGroup, MtaStsReport, MxReport, TlsaReport,
};
use mxtls_core::{Evidence, Report, Severity};
use yew::prelude::*;

use crate::net;

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

/// The whole report below the headline, in the order a domain owner reads it: what to do
/// first, every address at a glance, what happens to mail, the findings by cause (what is
/// right folded), then the details and the words used.
#[function_component(ReportBody)]
pub fn report_body(props: &ReportProps) -> Html {
    let report = &props.report;
    let ok: Vec<&FindingGroup> = report
        .groups
        .iter()
        .filter(|g| g.severity == Severity::Ok)
        .collect();
    let problems = report.groups.iter().filter(|g| g.severity != Severity::Ok);
    let glossary = present::glossary(report);
    html! {
        <>
            if !report.first.is_empty() {
                <section class="do-first" aria-labelledby="first-h">
                    <h2 id="first-h">{ "Do this first" }</h2>
                    <ol>
                        { for report.first.iter().filter_map(|g| report.groups.get(*g)).map(|g| html! {
                            <li class="action" data-code={g.code.as_str()}>{ group_card(report, g, true) }</li>
                        }) }
                    </ol>
                </section>
            }
            { grid(report) }
            if !report.senders.is_empty() { { senders(report) } }
            <section aria-labelledby="findings-h">
                <h2 id="findings-h">{ format!("Findings ({})", counts(report)) }</h2>
                <ul class="findings">
                    { for problems.map(|g| html! { <li class={classes!("finding", present::severity(g.severity).mood.id())} data-code={g.code.as_str()}>{ group_card(report, g, false) }</li> }) }
                </ul>
                if !ok.is_empty() {
                    <details class="ok-findings">
                        <summary>{ format!("What is right ({})", ok.iter().map(|g| g.findings.len()).sum::<usize>()) }</summary>
                        <ul class="findings">
                            { for ok.iter().map(|g| html! { <li class="finding good" data-code={g.code.as_str()}>{ group_card(report, g, false) }</li> }) }
                        </ul>
                    </details>
                }
            </section>
            <section aria-labelledby="hosts-h">
                <h2 id="hosts-h">{ "Mail servers (MX hosts) in detail" }</h2>
                if report.mx.is_empty() {
                    <p>{ "No MX hosts to check." }</p>
                }
                { for report.mx.iter().map(|mx| host(report, mx, &props.evidence)) }
            </section>
            { nameservers(report) }
            if let Some(sts) = &report.mta_sts { { mta_sts(sts) } }
            if !glossary.is_empty() {
                <section aria-labelledby="glossary-h">
                    <h2 id="glossary-h">{ "Words used in this report" }</h2>
                    <dl class="glossary">
                        { for glossary.iter().map(|(term, what)| html! { <><dt>{ *term }</dt><dd>{ *what }</dd></> }) }
                    </dl>
                </section>
            }
        </>
    }
}

/// `1 error, 2 warnings`.
fn counts(report: &Report) -> String {
    let n = |s: Severity, one: &str, many: &str| present::count_of(report.count(s), one, many);
    format!(
        "{}, {}",
        n(Severity::Error, "error", "errors"),
        n(Severity::Warning, "warning", "warnings")
    )
}

/// A pill: words in their mood's colour.
fn pill(w: &Words) -> Html {
    html! { <span class={classes!("pill", w.mood.id())}>{ w.text.clone() }</span> }
}

/// One cause: its face finding, why it matters, where else it holds, and the whole fix.
fn group_card(report: &Report, g: &FindingGroup, action: bool) -> Html {
    let Some(f) = g.findings.first().and_then(|i| report.findings.get(*i)) else {
        return html! {};
    };
    let severity = present::severity(f.severity);
    let also = present::also_on(report, g);
    html! {
        <>
            <p class="finding-head">
                if !action { <span class="sev">{ severity.text }</span> }
                <strong>{ &f.title }</strong>
                <span class="subject">{ f.subject.to_string() }</span>
            </p>
            if !also.is_empty() {
                <p class="also">{ format!("Also on {} more: {}", also.len(), also.join(", ")) }</p>
            }
            <p class="why"><strong>{ "Why it matters: " }</strong>{ present::why(f.code) }</p>
            if !action || f.fix.is_none() { <p>{ &f.explanation }</p> }
            if let Some(fix) = present::group_fix(report, g) { { fix_block(&fix) } }
            <p class="meta"><code>{ f.code.as_str() }</code>{ " · " }{ &f.rfc }</p>
        </>
    }
}

/// A whole fix: the text, the records as one block with one copy button, the file to
/// serve with its own copy button and a download.
pub(crate) fn fix_block(fix: &Fix) -> Html {
    let records = fix.records.join("\n");
    html! {
        <div class="fix">
            <p><strong>{ "Fix: " }</strong>{ &fix.text }</p>
            if !fix.records.is_empty() {
                <div class="record">
                    <pre class="fix-records"><code>{ records.clone() }</code></pre>
                    <CopyButton text={AttrValue::from(records)} label={ if fix.records.len() == 1 { "Copy record" } else { "Copy records" } } />
                </div>
            }
            if let Some(file) = &fix.file {
                <div class="record file">
                    <p class="file-name">{ format!("{} — serve at {}", file.name, file.url) }</p>
                    <pre class="fix-file"><code>{ file.content.clone() }</code></pre>
                    <CopyButton text={AttrValue::from(file.content.clone())} label="Copy file" />
                    <a class="download" download={file.name.clone()}
                       href={format!("data:text/plain;charset=utf-8,{}", mxtls_core::route::percent_encode(&file.content))}>
                        { format!("Download {}", file.name) }
                    </a>
                </div>
            }
        </div>
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

/// Every address at a glance, one row per presented key.
fn grid(report: &Report) -> Html {
    let rows = present::grid(report);
    let ns = present::nameserver_glance(report).map(|ns| {
        html! {
            <p class={classes!("ns-glance", ns.mood.id())}><a href="#ns-h">{ ns.text }</a></p>
        }
    });
    if rows.is_empty() {
        // No address to show; the name servers' line still belongs at a glance.
        return html! { if let Some(ns) = ns { <section aria-label="At a glance">{ ns }</section> } };
    }
    // `data-label` names the column where a phone stacks each row into a card (style.css).
    let cell = |label: &'static str, w: &Words| html! { <td class={w.mood.id()} data-label={label}>{ w.text.clone() }</td> };
    html! {
        <section aria-labelledby="grid-h">
            <h2 id="grid-h">{ "At a glance" }</h2>
            <div class="scroll">
            <table class="grid">
                <thead><tr>
                    <th scope="col">{ "MX host" }</th><th scope="col">{ "Address" }</th><th scope="col">{ "Key" }</th>
                    <th scope="col">{ "STARTTLS" }</th><th scope="col">{ "TLS" }</th><th scope="col">{ "DANE" }</th>
                    <th scope="col">{ "PKIX" }</th><th scope="col">{ "MTA-STS" }</th>
                </tr></thead>
                <tbody>
                { for rows.iter().map(|r| html! {
                    <tr data-ip={r.ip.to_string()}>
                        <th scope="row">{ r.host.to_string() }</th><td class="ip" data-label="Address">{ r.ip.to_string() }</td><td data-label="Key">{ r.key.unwrap_or("—") }</td>
                        { cell("STARTTLS", &r.starttls) }
                        <td class={r.tls.mood.id()} data-label="TLS">{ r.tls.text.clone() }
                            if let Some(p) = &r.posture { <span class={classes!("posture", p.mood.id())}>{ p.text.clone() }</span> }
                        </td>{ cell("DANE", &r.dane) }{ cell("PKIX", &r.pkix) }{ cell("MTA-STS", &r.mta_sts) }
                    </tr>
                }) }
                </tbody>
            </table>
            </div>
            { ns.unwrap_or_default() }
        </section>
    }
}

/// The authoritative servers of each zone: folded to its line where they agree, a table
/// with what sets each server apart where they do not.
fn nameservers(report: &Report) -> Html {
    if report.nameservers.is_empty() {
        return html! {};
    }
    html! {
        <section aria-labelledby="ns-h">
            <h2 id="ns-h">{ "Name servers" }</h2>
            { for report.nameservers.iter().map(|z| {
                let line = present::zone_line(report, z);
                let table = html! {
                    <div class="scroll">
                    <table class="ns" data-zone={z.zone.to_string()}>
                        <thead><tr>
                            <th scope="col">{ "Server" }</th><th scope="col">{ "Address" }</th>
                            <th scope="col">{ "Serial" }</th><th scope="col">{ "Answers" }</th>
                        </tr></thead>
                        <tbody>
                        { for z.servers.iter().map(|s| {
                            let state = present::row_state(report, z, s);
                            html! {
                                <tr data-ip={s.ip.to_string()}>
                                    <th scope="row">{ s.name.to_string() }</th>
                                    <td class="ip" data-label="Address">{ s.ip.to_string() }</td>
                                    <td data-label="Serial">{ s.serial.map(|n| n.to_string()).unwrap_or_else(|| "—".into()) }</td>
                                    <td class={state.mood.id()} data-label="Answers">{ state.text }</td>
                                </tr>
                            }
                        }) }
                        </tbody>
                    </table>
                    </div>
                };
                if z.agree {
                    html! { <details class="ns-zone"><summary class={line.mood.id()}>{ line.text }</summary>{ table }</details> }
                } else {
                    html! { <div class="ns-zone"><h3 class={line.mood.id()}>{ line.text }</h3>{ table }</div> }
                }
            }) }
        </section>
    }
}

fn host(report: &Report, mx: &MxReport, evidence: &Evidence) -> Html {
    let title = match mx.preference {
        Some(p) => format!("{} (preference {p})", mx.host),
        None => format!("{} (implicit MX: the domain itself)", mx.host),
    };
    let host_ev = evidence.hosts.iter().find(|h| h.name == mx.host);
    html! {
        <article class="host" aria-label={mx.host.to_string()}>
            <h3>{ title }</h3>
            <p>{ "DANE: " }{ pill(&present::dane(mx.dane)) }
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
                address(report, a, ev, mx)
            }) }
        </article>
    }
}

fn tlsa(i: usize, t: &TlsaReport) -> Html {
    let state = present::tlsa_state(t);
    html! {
        <li class={classes!("tlsa-record", if t.usable { "usable" } else { "unusable" }, state.mood.id())}>
            <code>{ format!("#{i}  {}", t.record) }</code>
            <span class="tlsa-state">{ format!(" {}", state.text) }</span>
        </li>
    }
}

/// A verdict as a pill that carries its machine id.
fn verdict_pill(v: mxtls_core::Verdict) -> Html {
    let w = present::verdict(v);
    html! { <span class={classes!("pill", w.mood.id())} data-verdict={v.id()}>{ w.text }</span> }
}

fn address(
    report: &Report,
    a: &AddressReport,
    ev: Option<&AddressEvidence>,
    mx: &MxReport,
) -> Html {
    let starttls = present::starttls_offered(a.starttls_offered);
    html! {
        <section class="address" aria-label={format!("{} address {}", mx.host, a.ip)}>
            <h4>
                <span class="ip">{ a.ip.to_string() }</span>{ " " }
                { verdict_pill(a.tls) }
            </h4>
            if let Some(starttls) = starttls { <p class="muted">{ starttls }</p> }
            { for a.chains.iter().map(|c| chain(c, mx)) }
            { posture(report, a) }
            if let Some(ev) = ev { { transcript(ev) } }
        </section>
    }
}

fn chain(c: &ChainReport, mx: &MxReport) -> Html {
    let pkix = present::chain_pkix(c);
    let dane = present::chain_dane(c);
    let tls = present::tls_parameters(c);
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
                <strong>{ format!("{} certificate", c.key.name()) }</strong>{ " " }
                { pill(&present::verdict(c.verdict)) }
            </p>
            <dl class="facts">
                <dt>{ "TLS" }</dt><dd>{ tls }</dd>
                <dt>{ "DANE" }</dt><dd>{ pill(&dane) }</dd>
                <dt>{ "PKIX" }</dt><dd>{ pill(&pkix) }</dd>
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
                <summary>{ format!("Certificate chain ({})", present::count_of(c.certs.len(), "certificate", "certificates")) }</summary>
                <ol start="0">
                { for c.certs.iter().enumerate().map(|(depth, cert)| html! {
                    <li class="cert">
                        <p><strong>{ &cert.subject }</strong>
                           { format!(" {}", matches_of(depth)) }</p>
                        <dl class="facts">
                            <dt>{ "Issuer" }</dt><dd>{ &cert.issuer }</dd>
                            <dt>{ "Names" }</dt><dd>{ if cert.dns_names.is_empty() { cert.common_names.join(", ") } else { cert.dns_names.join(", ") } }</dd>
                            <dt>{ "Valid" }</dt><dd>{ format!("{} to {}", cert.not_before, cert.not_after) }</dd>
                            <dt>{ "Key" }</dt><dd>{ format!("{} {} bits{}", cert.key.name(), cert.key_bits, if cert.is_ca { ", CA" } else { "" }) }</dd>
                            <dt>{ "Signature" }</dt><dd>{ &cert.signature_algorithm }</dd>
                        </dl>
                    </li>
                }) }
                </ol>
            </details>
        </div>
    }
}

/// What the posture sessions showed: versions, suites, order, key exchange.
fn posture(report: &Report, a: &AddressReport) -> Html {
    let facts = present::posture_facts(report, a);
    if facts.is_empty() {
        return html! {};
    }
    html! {
        <details class="posture">
            <summary>{ "TLS posture: versions, suites, key exchange" }</summary>
            <dl class="facts">
                { for facts.iter().map(|f| html! { <><dt>{ f.label }</dt><dd>{ pill(&f.value) }</dd></> }) }
            </dl>
        </details>
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
                .map(|st| format!(" — stopped at {}", present::step(st.step)))
                .unwrap_or_default();
            html! {
                <details class="transcript">
                    <summary>{ format!("SMTP transcript (port {}, {}){stop}", s.port, present::offer(s.offered)) }</summary>
                    <pre>{ lines }</pre>
                </details>
            }
        }) }
    }
}

/// The sender matrix's last column, also each of its cells' label on a phone.
const STRIP: &str = "If an attacker strips STARTTLS";

/// The sender-outcome matrix: what happens to a message, by kind of sender.
fn senders(report: &Report) -> Html {
    html! {
        <section aria-labelledby="senders-h">
            <h2 id="senders-h">{ "What happens to mail sent to you" }</h2>
            <div class="scroll">
            <table class="senders">
                <thead><tr>
                    <th scope="col">{ "A sending server that…" }</th>
                    <th scope="col">{ "Your mail" }</th>
                    <th scope="col">{ STRIP }</th>
                </tr></thead>
                <tbody>
                { for report.senders.iter().map(|r| {
                    let delivery = present::sender_delivery(r);
                    let strip = present::stripping_outcome(r);
                    html! {
                        <tr data-sender={r.sender.id()}>
                            <th scope="row">{ present::sender(r.sender) }</th>
                            <td data-label="Your mail"><span class={classes!("pill", delivery.mood.id())} data-delivery={r.delivery.id()}>{ delivery.text }</span></td>
                            { match strip {
                                Some(strip) => html! { <td class={strip.mood.id()} data-attack={r.attack.id()} data-label={STRIP}>{ strip.text }</td> },
                                None => html! { <td class="info" data-attack={r.attack.id()} data-label={STRIP}>{ "— (the attack changes nothing here)" }</td> },
                            } }
                        </tr>
                    }
                }) }
                </tbody>
            </table>
            </div>
        </section>
    }
}

fn mta_sts(sts: &MtaStsReport) -> Html {
    let (txt, policy) = (present::sts_txt(&sts.txt), present::sts_policy(sts));
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
                        <dd>{ pill(&present::sts_host(h)) }</dd>
                    </>
                }) }
            </dl>
        </section>
    }
}
