//! The sender test's results, drawn from the core's verdicts: the summary line, the notice
//! of broken test domains, and one row per test domain with the connections it saw. The
//! page decides nothing here: each verdict is `judge`'s, each domain's purpose
//! `zone::describe`'s; this only lays them out.

use mxtls_core::evidence::UnixTime;
use mxtls_core::present;
use mxtls_core::present::Mood;
use mxtls_core::sender_test::view::{NOT_JUDGED, SenderTest, broken_cases};
use mxtls_core::sender_test::{Connection, zone};
use yew::prelude::*;

/// The notice of broken test domains: their problems, and that they are not judged.
pub(super) fn published_notice(test: &SenderTest) -> Html {
    if test.published.is_empty() {
        return html! {};
    }
    html! {
        <section class="send-test-broken" id="send-test-published" aria-labelledby="send-test-published-h">
            <h2 id="send-test-published-h">{ "Some test domains are broken on our side" }</h2>
            <p>{ "These test domains are not published as their test needs, so what your server does there is not judged: the fault is ours, not your server's." }</p>
            <ul>
                { for test.published.iter().map(|p| html! {
                    <li data-case={p.case.label()}>
                        <strong>{ p.case.label() }</strong>{ ": " }<code>{ p.record.clone() }</code>{ " " }{ p.problem.clone() }
                    </li>
                }) }
            </ul>
        </section>
    }
}

/// One row per test domain: the domain, what it tests, the verdict and its words, and the
/// connections it saw.
pub(super) fn cases(test: &SenderTest) -> Html {
    let verdicts = test.verdicts();
    let broken = broken_cases(test);
    html! {
        <div class="scroll">
        <table class="send-test" id="send-test-table">
            <thead><tr>
                <th scope="col">{ "Test domain" }</th><th scope="col">{ "What it tests" }</th>
                <th scope="col">{ "Verdict" }</th><th scope="col">{ "What your server did" }</th>
                <th scope="col">{ "Connections" }</th>
            </tr></thead>
            <tbody>
            { for verdicts.iter().map(|v| {
                let seen: Vec<&Connection> = test.connections.iter().filter(|c| c.case == v.case).collect();
                let verdict = if broken.contains(&v.case) {
                    html! {
                        <>
                            <td class={Mood::Unknown.id()} data-label="Verdict" data-outcome="not-judged">
                                <span class={classes!("pill", Mood::Unknown.id())}>{ "not judged" }</span>
                            </td>
                            <td data-label="What your server did">{ NOT_JUDGED }</td>
                        </>
                    }
                } else {
                    let outcome = present::sender_test_outcome(v.outcome);
                    let mood = outcome.mood.id();
                    html! {
                        <>
                            <td class={mood} data-label="Verdict" data-outcome={v.outcome.id()}>
                                <span class={classes!("pill", mood)}>{ outcome.text }</span>
                            </td>
                            <td data-label="What your server did">{ v.words.clone() }</td>
                        </>
                    }
                };
                html! {
                    <tr data-case={v.case.label()}>
                        <th scope="row"><code>{ breakable(&v.case.domain(&test.zone).to_string()) }</code></th>
                        <td data-label="What it tests">{ zone::describe(v.case) }</td>
                        { verdict }
                        <td data-label="Connections">
                            if seen.is_empty() {
                                <span class="muted">{ "none yet" }</span>
                            } else {
                                <ul class="send-conns">{ for seen.iter().map(|c| connection(c)) }</ul>
                            }
                        </td>
                    </tr>
                }
            }) }
            </tbody>
        </table>
        </div>
    }
}

/// A domain name that may break before its dots, not inside a label.
fn breakable(name: &str) -> Html {
    html! {
        { for name.split('.').enumerate().map(|(i, label)| html! {
            <>if i > 0 { <wbr />{ "." } }{ label.to_owned() }</>
        }) }
    }
}

/// `15:04:05` of `2026-11-28 15:04:05 UTC`, the whole time as its title.
fn clock(at: UnixTime) -> Html {
    let full = at.to_string();
    let time = full.split(' ').nth(1).unwrap_or(&full).to_owned();
    let iso = full.replace(" UTC", "Z").replacen(' ', "T", 1);
    html! { <time datetime={iso} title={full}>{ time }</time> }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// One connection, each fact with its name: time, STARTTLS, TLS version, cipher, group
/// (post-quantum marked), SNI, alert, delivered.
fn connection(c: &Connection) -> Html {
    let fact = |name: &'static str, value: String| {
        html! { <span class="send-fact">{ format!("{name} ") }<span class="send-value">{ value }</span></span> }
    };
    html! {
        <li class="send-conn" data-delivered={yes_no(c.delivered)} data-starttls={yes_no(c.starttls)}>
            <span class="send-fact">{ clock(c.at) }{ format!(" from {}", c.source) }</span>
            { fact("STARTTLS", yes_no(c.starttls).to_owned()) }
            if let Some(tls) = &c.tls {
                { fact("TLS", tls.version.clone()) }
                { fact("cipher", tls.cipher.clone()) }
                if !tls.group.is_empty() {
                    <span class="send-fact">{ "group " }<span class="send-value">{ tls.group.clone() }</span>
                        if tls.post_quantum() { { " " }<span class="pq">{ "post-quantum" }</span> }
                    </span>
                }
                { fact("SNI", tls.sni.clone().unwrap_or_else(|| "none".into())) }
            } else {
                { fact("TLS", "none".into()) }
            }
            if let Some(alert) = &c.alert { { fact("alert", alert.clone()) } }
            { fact("delivered", yes_no(c.delivered).to_owned()) }
            if c.token.is_none() { <span class="send-fact muted">{ "matched by network" }</span> }
        </li>
    }
}
