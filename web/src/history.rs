//! `/d/<domain>`: the domain's stored checks, newest first — each judged here from its
//! evidence (the server's answer lines are not used), with what changed from the one before:
//! the status, findings added and gone, keys, certificates and TLSA records.

use std::rc::Rc;

use mxtls_core::Evidence;
use mxtls_core::api::History;
use mxtls_core::present;
use mxtls_core::report::{FindingChange, Report, ReportDiff};
use mxtls_core::route::{Route, percent_encode};
use yew::prelude::*;

use crate::net;
use crate::pages::{link, set_title};

/// The newest snapshots judged and compared (each is a fetch and a judgement).
const SHOWN: usize = 30;

#[derive(Properties, PartialEq)]
pub struct HistoryProps {
    pub domain: AttrValue,
    pub navigate: Callback<Route>,
}

/// One judged snapshot and its change from the one before.
struct Entry {
    snapshot: String,
    report: Rc<Report>,
    diff: Rc<ReportDiff>,
    first: bool,
}

/// The checks and the TLS-RPT reports received.
struct Loaded {
    entries: Vec<Entry>,
    reports: Vec<mxtls_core::api::ReceivedReport>,
}

async fn load(domain: &str) -> Result<Loaded, String> {
    let url = format!("/api/domains/{}/history", percent_encode(domain));
    let text = net::get_text(&url).await.map_err(|f| f.message)?;
    let history: History = mxtls_core::api::from_json(&text)?;
    let roots = net::roots().await.map_err(|f| f.message)?;
    // One more than shown, so the oldest shown has its "before".
    let mut judged: Vec<(String, Rc<Report>)> = Vec::new();
    for h in history.snapshots.iter().take(SHOWN + 1) {
        let url = format!("/api/snapshots/{}", percent_encode(&h.snapshot));
        let Ok(text) = net::get_text(&url).await else {
            continue;
        };
        if let Ok(evidence) = Evidence::from_json(&text) {
            let report = mxtls_core::analyse_with(&evidence, evidence.probe.finished_at, &roots);
            judged.push((h.snapshot.clone(), Rc::new(report)));
        }
    }
    let mut out = Vec::new();
    for (i, (snapshot, report)) in judged.iter().enumerate().take(SHOWN) {
        let before = judged.get(i + 1).map(|(_, r)| r.as_ref());
        out.push(Entry {
            snapshot: snapshot.clone(),
            report: report.clone(),
            diff: Rc::new(mxtls_core::analysis::diff(before, report)),
            first: before.is_none(),
        });
    }
    Ok(Loaded {
        entries: out,
        reports: history.reports,
    })
}

fn changes(items: &[FindingChange], sign: &str, class: &'static str) -> Html {
    html! {
        { for items.iter().map(|f| html! {
            <li class={classes!("change", class, present::severity(f.severity).mood.id())} data-code={f.code.as_str()}>
                { format!("{sign} {} {} — {} ({})", present::severity(f.severity).text, f.code, f.title, f.subject) }
            </li>
        }) }
    }
}

/// Starts the history page (the `mxtls-history` bundle) for the domain its path names.
pub fn start() {
    mxtls_core::names::set_idna(net::domain_to_ascii);
    yew::Renderer::<Standalone>::new().render();
}

/// The page on its own: links to the checker's pages are whole page loads.
#[function_component(Standalone)]
fn standalone() -> Html {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    let navigate = Callback::from(|route: Route| {
        if let Some(w) = web_sys::window() {
            let _ = w.location().assign(&route.path());
        }
    });
    let page = match Route::parse(&path) {
        Route::History(d) => html! { <HistoryPage domain={d} navigate={navigate} /> },
        _ => {
            html! { <main id="main"><h1>{ "Not found" }</h1><p><a href="/">{ "Check a domain" }</a></p></main> }
        }
    };
    crate::pages::frame(
        page,
        None,
        crate::pages::JUDGED_HERE,
        ("/tls-rpt", "TLS-RPT reports"),
    )
}

#[function_component(HistoryPage)]
pub fn history_page(props: &HistoryProps) -> Html {
    let state = use_state(|| None::<Result<Loaded, String>>);
    {
        let state = state.clone();
        use_effect_with(props.domain.clone(), move |domain| {
            set_title(&format!("{domain}: history — mxtls"));
            state.set(None);
            let domain = domain.to_string();
            wasm_bindgen_futures::spawn_local(async move {
                state.set(Some(load(&domain).await));
            });
        });
    }
    let domain = props.domain.to_string();
    let feed = format!("/d/{}/feed.atom", percent_encode(&domain));
    html! {
        <main id="main">
            <h1>{ "History of " }<span class="domain">{ domain.clone() }</span></h1>
            <p>
                { link(&props.navigate, Route::Check(domain.clone()), "Check it now".into()) }
                { " · " }
                <a href={format!("/d/{}/watch", percent_encode(&domain))} id="watch-link">{ "Tell me when this changes" }</a>
                { " · " }
                <a href={feed} id="feed">{ "Atom feed of changes" }</a>
            </p>
            {
                match &*state {
                    None => html! { <p role="status">{ "Loading the history…" }</p> },
                    Some(Err(e)) => html! {
                        <div class="error-box" role="alert"><p>{ e }</p></div>
                    },
                    Some(Ok(l)) => html! {
                        <>
                            if l.entries.is_empty() {
                                <p id="no-history">{ "This domain has not been checked here yet." }</p>
                            } else {
                                <ol class="timeline" id="timeline">
                                    { for l.entries.iter().map(|e| entry(e, &props.navigate)) }
                                </ol>
                            }
                            if !l.reports.is_empty() {
                                <h2>{ "TLS-RPT reports received" }</h2>
                                <ul id="reports">
                                    { for l.reports.iter().map(|r| html! {
                                        <li class={if r.failed > 0 { "warn" } else { "good" }}>
                                            { format!("{}: {} — {} succeeded, {} failed", r.day, r.organization, mxtls_core::present::count(r.successful, "session", "sessions"), r.failed) }
                                        </li>
                                    }) }
                                </ul>
                            }
                        </>
                    },
                }
            }
        </main>
    }
}

fn entry(e: &Entry, navigate: &Callback<Route>) -> Html {
    let mood = present::report_mood(&e.report);
    let d = &e.diff;
    let quiet = !e.first && d.added.is_empty() && d.removed.is_empty() && d.changes.is_empty();
    html! {
        <li class={classes!("headline", mood.id())} data-snapshot={e.snapshot.clone()}>
            <h2>{ &e.report.summary.headline }</h2>
            <p class="muted">
                { format!("{} · ", e.report.judged_at) }
                { link(navigate, Route::Snapshot(e.snapshot.clone()), "the report".into()) }
            </p>
            if e.first {
                <p class="muted">{ "The first stored check." }</p>
            } else if quiet {
                <p class="muted">{ "Nothing changed since the check before." }</p>
            } else {
                <ul class="changes">
                    if d.status_before != Some(d.status_after) {
                        <li class="change status">{ format!("Was: {}", d.headline_before.clone().unwrap_or_default()) }</li>
                    }
                    { changes(&d.added, "+", "added") }
                    { changes(&d.removed, "−", "removed") }
                    { for d.changes.iter().map(|c| html! { <li class="change data">{ c }</li> }) }
                </ul>
            }
        </li>
    }
}
