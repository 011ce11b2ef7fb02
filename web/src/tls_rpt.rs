//! `/tls-rpt`: the TLS-RPT aggregate reports (RFC 8460) that senders mail a domain, read and
//! judged here in the browser — the files never leave it — against the domain's latest
//! check on this server, or a check started from this page.
//!
//! Its own bundle (`mxtls-tls-rpt`, `web/tls-rpt.html`): the report reader (JSON, gzip) and
//! this page stay out of the home page's first load. What it shows comes from the core, as
//! `mxtls tls-rpt` prints it: `tls_rpt::report::summarise` for the per-day counts and
//! `analysis::judge_reports` for the findings.

use std::rc::Rc;

use js_sys::Uint8Array;
use mxtls_core::findings::Finding;
use mxtls_core::present;
use mxtls_core::route::percent_encode;
use mxtls_core::tls_rpt::report::{self, AggregateReport, SummaryRow};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{FileList, HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::live::{Action, Live, Loaded};
use crate::net;
use crate::pages::{set_title, start_check};
use crate::report::fix_block;

/// Starts the report reader in the page's body.
pub fn start() {
    mxtls_core::names::set_idna(net::domain_to_ascii);
    yew::Renderer::<Page>::new().render();
}

/// One file or pasted text, and what reading it gave.
#[derive(Clone, PartialEq)]
struct Input {
    name: String,
    read: Result<Rc<AggregateReport>, String>,
}

/// Where the evidence to judge the reports against comes from.
#[derive(Clone, PartialEq)]
enum Source {
    /// No reports yet, so no domain to look up.
    Idle,
    Fetching(String),
    /// This server has no check of the domain: the page offers to start one.
    Missing(String),
    Stored(Loaded),
    Failed(String),
}

/// Reads a file the user gave, refusing one too large to be a report before reading it.
async fn read_file(file: web_sys::File) -> Input {
    let name = file.name();
    if file.size() > report::MAX_REPORT_BYTES as f64 {
        return Input {
            name,
            read: Err(format!(
                "larger than {} MB: not a TLS-RPT report",
                report::MAX_REPORT_BYTES / 1024 / 1024
            )),
        };
    }
    let read = match JsFuture::from(file.array_buffer()).await {
        Ok(buffer) => report::parse_bytes(&Uint8Array::new(&buffer).to_vec()).map(Rc::new),
        Err(_) => Err("the browser could not read the file".into()),
    };
    Input { name, read }
}

fn files_of(list: Option<FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else {
        return Vec::new();
    };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// The policy domain most of the reports are about, and the others they name.
fn domains(inputs: &[Input]) -> Option<(String, Vec<String>)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in inputs.iter().filter_map(|i| i.read.as_ref().ok()) {
        for p in r.policies.iter().filter(|p| !p.policy_domain.is_empty()) {
            let d = p.policy_domain.trim_end_matches('.').to_ascii_lowercase();
            match counts.iter_mut().find(|(x, _)| *x == d) {
                Some((_, n)) => *n += 1,
                None => counts.push((d, 1)),
            }
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut names = counts.into_iter().map(|(d, _)| d);
    let first = names.next()?;
    Some((first, names.collect()))
}

#[function_component(Page)]
fn page() -> Html {
    let inputs = use_state(Vec::<Input>::new);
    let source = use_state(|| Source::Idle);
    let live = use_reducer(Live::default);
    let checking = use_state(|| None::<web_sys::AbortController>);
    let paste = use_node_ref();
    {
        // The clock of a deferred check's countdown.
        let tick = live.dispatcher();
        use_effect_with((), move |_| {
            set_title("TLS-RPT reports — mxtls");
            let interval = net::every(1000, move || tick.dispatch(Action::Tick(net::now_ms())));
            move || drop(interval)
        });
    }

    let add = {
        let inputs = inputs.clone();
        Rc::new(move |files: Vec<web_sys::File>| {
            let inputs = inputs.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let mut next = (*inputs).clone();
                for f in files {
                    let input = read_file(f).await;
                    // The same report given twice counts once.
                    let duplicate = input.read.as_ref().is_ok_and(|r| {
                        next.iter()
                            .filter_map(|i| i.read.as_ref().ok())
                            .any(|o| o.report_id == r.report_id && o.organization == r.organization)
                    });
                    if !duplicate {
                        next.push(input);
                    }
                }
                inputs.set(next);
            });
        })
    };

    // The domain follows the reports; its latest check is fetched once per domain.
    let domain = domains(&inputs);
    {
        let source = source.clone();
        let dispatch = live.dispatcher();
        let checking = checking.clone();
        let main = domain.as_ref().map(|(d, _)| d.clone());
        use_effect_with(main, move |main| {
            if let Some(c) = &*checking {
                c.abort();
            }
            checking.set(None);
            dispatch.dispatch(Action::Reset(net::now_ms()));
            match main.clone() {
                None => source.set(Source::Idle),
                Some(d) => {
                    source.set(Source::Fetching(d.clone()));
                    wasm_bindgen_futures::spawn_local(async move {
                        source.set(latest(&d).await);
                    });
                }
            }
        });
    }

    let on_pick = {
        let add = add.clone();
        Callback::from(move |e: Event| {
            let input: Option<HtmlInputElement> = e.target().and_then(|t| t.dyn_into().ok());
            if let Some(input) = input {
                add(files_of(input.files()));
                input.set_value("");
            }
        })
    };
    let on_drop = {
        let add = add.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            add(files_of(e.data_transfer().and_then(|d| d.files())));
        })
    };
    let on_drag = Callback::from(|e: DragEvent| e.prevent_default());
    let on_paste = {
        let (inputs, paste) = (inputs.clone(), paste.clone());
        Callback::from(move |_| {
            let Some(area) = paste.cast::<HtmlTextAreaElement>() else {
                return;
            };
            let text = area.value();
            if text.trim().is_empty() {
                return;
            }
            let mut next = (*inputs).clone();
            next.push(Input {
                name: "pasted report".into(),
                read: report::parse_bytes(text.as_bytes()).map(Rc::new),
            });
            area.set_value("");
            inputs.set(next);
        })
    };
    let on_clear = {
        let inputs = inputs.clone();
        Callback::from(move |_| inputs.set(Vec::new()))
    };
    let on_check = {
        let (dispatch, checking) = (live.dispatcher(), checking.clone());
        let main = domain.as_ref().map(|(d, _)| d.clone());
        Callback::from(move |_| {
            if let Some(d) = &main {
                dispatch.dispatch(Action::Reset(net::now_ms()));
                checking.set(start_check(d, dispatch.clone()));
            }
        })
    };

    let all: Vec<AggregateReport> = inputs
        .iter()
        .filter_map(|i| i.read.as_ref().ok())
        .map(|r| (**r).clone())
        .collect();
    // Reports about the other domains named are left out (and said to be): not counted,
    // charted or judged here.
    let reports = match &domain {
        Some((main, _)) => report::about(&all, main),
        None => all,
    };
    // A check started here wins over the stored one.
    let evidence = match (&live.result, &*source) {
        (Some(Ok(l)), _) => Some(l.clone()),
        (_, Source::Stored(l)) => Some(l.clone()),
        _ => None,
    };
    let findings = evidence
        .as_ref()
        .map(|l| mxtls_core::analysis::judge_reports(&reports, &l.evidence, &l.report))
        .unwrap_or_default();

    let page = html! {
            <main id="main">
                <h1>{ "TLS-RPT reports" }</h1>
                <p class="lead">
                    { "The reports senders mail to your TLS-RPT address (rua), read here and held against a live check of your mail servers. " }
                    <strong>{ "The files stay in your browser: nothing is uploaded." }</strong>
                </p>
                <section class="reader" aria-labelledby="give-h">
                    <h2 id="give-h">{ "Your reports" }</h2>
                    <div class="drop" ondrop={on_drop} ondragover={on_drag.clone()} ondragenter={on_drag}>
                        <label for="report-files">{ "Report files (.json or .json.gz; several at once; or drop them here)" }</label>
                        <input type="file" id="report-files" multiple=true
                               accept=".json,.gz,.json.gz,application/json,application/gzip,application/tlsrpt+json,application/tlsrpt+gzip"
                               onchange={on_pick} />
                    </div>
                    <label for="report-paste">{ "Or paste a report's JSON" }</label>
                    <textarea id="report-paste" ref={paste} rows="4" spellcheck="false" />
                    <p class="reader-actions">
                        <button type="button" id="read-paste" onclick={on_paste}>{ "Read the pasted report" }</button>
                        if !inputs.is_empty() {
                            <button type="button" id="clear-reports" onclick={on_clear}>{ "Remove all reports" }</button>
                        }
                    </p>
                    { inputs_list(&inputs) }
                </section>
                if let Some((main, others)) = &domain {
                    { evidence_line(main, others, &source, &live, checking.is_some(), on_check) }
                }
                if !reports.is_empty() {
                    { judged(&reports, &findings, evidence.is_some()) }
                }
            </main>
    };
    crate::pages::frame(
        page,
        None,
        "mxtls reads the reports and judges the evidence in your browser. ",
        ("/", "Check a domain"),
    )
}

/// The latest check of `domain` stored on this server, judged here.
async fn latest(domain: &str) -> Source {
    let url = format!("/api/domains/{}/latest", percent_encode(domain));
    let text = match net::get_text(&url).await {
        Ok(t) => t,
        Err(f) if f.status == Some(404) => return Source::Missing(domain.to_owned()),
        Err(f) => return Source::Failed(f.message),
    };
    let roots = match net::roots().await {
        Ok(r) => r,
        Err(f) => return Source::Failed(f.message),
    };
    match Loaded::from_json(&text, &roots) {
        Ok(l) => Source::Stored(l),
        Err(e) => Source::Failed(format!("the stored check does not load: {e}")),
    }
}

/// What was read from each file, and what could not be.
fn inputs_list(inputs: &[Input]) -> Html {
    if inputs.is_empty() {
        return html! {};
    }
    html! {
        // A live region: what each file gave is read out as it arrives.
        <div role="status" aria-live="polite">
        <ul class="inputs" id="inputs">
            { for inputs.iter().map(|i| match &i.read {
                Ok(r) => html! {
                    <li class="input-ok">
                        { format!("{}: {} — {} to {}, {}", i.name, r.organization,
                            day(&r.start), day(&r.end), present::count_of(r.policies.len(), "policy", "policies")) }
                        if !r.skipped.is_empty() {
                            <ul class="skipped">
                                { for r.skipped.iter().map(|s| html! { <li>{ format!("Skipped: {s}") }</li> }) }
                            </ul>
                        }
                    </li>
                },
                Err(e) => html! {
                    <li class="input-error">
                        <strong>{ format!("{}: not read. ", i.name) }</strong>{ e }
                    </li>
                },
            }) }
        </ul>
        </div>
    }
}

fn day(t: &mxtls_core::evidence::UnixTime) -> String {
    t.to_string().chars().take(10).collect()
}

/// Which check the reports are held against: the stored one (with its age), one running,
/// or none yet, with the button that starts it.
fn evidence_line(
    domain: &str,
    others: &[String],
    source: &Source,
    live: &Live,
    running: bool,
    on_check: Callback<MouseEvent>,
) -> Html {
    let status = match (&live.result, source) {
        (Some(Ok(l)), _) => html! {
            <p>{ format!("Held against a check of {domain} just made: ") }
                <a href={format!("/r/{}", percent_encode(&l.snapshot))}>{ "its report" }</a></p>
        },
        (Some(Err(e)), _) => html! {
            <p role="alert">{ format!("The check of {domain} did not finish: {e}") }</p>
        },
        // The server's limits: said as they are, not as the domain's failure.
        (None, _) if running && live.deferred.is_some() => {
            let due = live.deferred.as_ref().is_some_and(|d| d.due(live.now_ms));
            html! {
                <p class="deferred">{ live.deferred.as_ref().map(|d| d.sentence(live.now_ms)).unwrap_or_default() }
                    { " " }
                    <button type="button" id="check-now" disabled={!due} onclick={on_check}>{ format!("Check {domain}") }</button></p>
            }
        }
        (None, _) if running => {
            let (done, all) = live.sessions_done();
            html! { <p>{ format!("Checking {domain}: {done} of {all} sessions done…") }</p> }
        }
        (None, Source::Stored(l)) => {
            let age = net::now() - l.evidence.probe.finished_at.0;
            html! {
                <p>
                    { format!("Held against this server's latest check of {domain}, made {} ago: ", present::age(age)) }
                    <a href={format!("/r/{}", percent_encode(&l.snapshot))}>{ "its report" }</a>{ ". " }
                    <button type="button" id="check-now" onclick={on_check}>{ format!("Check {domain} again") }</button>
                </p>
            }
        }
        (None, Source::Missing(_)) => html! {
            <p>
                { format!("This server has no check of {domain} yet, so the reports cannot be held against what your servers do. ") }
                <button type="button" id="check-now" onclick={on_check}>{ format!("Check {domain} now") }</button>
            </p>
        },
        (None, Source::Failed(e)) => html! {
            <p role="alert">{ format!("The latest check of {domain} could not be loaded: {e}") }</p>
        },
        (None, Source::Fetching(_) | Source::Idle) => {
            html! { <p>{ format!("Looking up the latest check of {domain}…") }</p> }
        }
    };
    html! {
        <section class="against" aria-labelledby="against-h">
            <h2 id="against-h">{ format!("Reports for {domain}") }</h2>
            <div role="status" aria-live="polite" id="evidence-status">{ status }</div>
            if !others.is_empty() {
                <p class="note">{ format!("Reports about {} are left out: give them on their own.", others.join(", ")) }</p>
            }
        </section>
    }
}

/// The reports judged: the findings first, then the chart and the detail per sender.
fn judged(reports: &[AggregateReport], findings: &[Finding], have_evidence: bool) -> Html {
    let rows = report::summarise(reports);
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| f.severity);
    let mut organisations: Vec<&str> = rows.iter().map(|r| r.organization.as_str()).collect();
    organisations.sort_unstable();
    organisations.dedup();
    let mut days: Vec<&str> = rows.iter().map(|r| r.day.as_str()).collect();
    days.sort_unstable();
    days.dedup();
    let (ok, failed) = rows
        .iter()
        .fold((0, 0), |(o, f), r| (o + r.successful, f + r.failed));
    html! {
        <>
            <p class="totals" id="totals">
                { format!("{} from {}, {} to {}: {} succeeded, {failed} failed.",
                    present::count_of(reports.len(), "report", "reports"),
                    present::count_of(organisations.len(), "sending organisation", "sending organisations"),
                    days.first().unwrap_or(&""), days.last().unwrap_or(&""),
                    present::count(ok, "session", "sessions")) }
            </p>
            if have_evidence {
                <section aria-labelledby="rpt-findings-h">
                    <h2 id="rpt-findings-h">{ "What the senders saw, held against the check" }</h2>
                    if let Some(top) = sorted.first() {
                        <p id="rpt-headline" class={classes!("headline", present::severity(top.severity).mood.id())}>
                            { &top.title }
                        </p>
                    }
                    { for sorted.iter().map(|f| finding(f)) }
                </section>
            }
            <section aria-labelledby="chart-h">
                <h2 id="chart-h">{ "Sessions per day and sender" }</h2>
                <p class="legend"><span class="key ok"></span>{ " succeeded " }<span class="key fail"></span>{ " failed" }</p>
                { for organisations.iter().map(|o| chart(o, &days, &rows)) }
            </section>
            <section aria-labelledby="senders-h">
                <h2 id="senders-h">{ "Per sender" }</h2>
                { for organisations.iter().map(|o| sender(o, &rows)) }
            </section>
        </>
    }
}

/// One finding: its severity, what and where, why, and the fix.
fn finding(f: &Finding) -> Html {
    let severity = present::severity(f.severity);
    html! {
        <article class={classes!("finding", severity.mood.id())} data-code={f.code.as_str()}>
            <p class="finding-head">
                <span class="sev">{ severity.text }</span>
                <strong>{ &f.title }</strong>
                <span class="subject">{ f.subject.to_string() }</span>
            </p>
            <p>{ &f.explanation }</p>
            if let Some(fix) = &f.fix { { fix_block(fix) } }
            <p class="meta"><code>{ f.code.as_str() }</code>{ " · " }{ &f.rfc }</p>
        </article>
    }
}

/// A bar per day, succeeded below and failed on top, on one scale per sender; the numbers
/// are the chart's text alternative and are in the table below it too.
fn chart(organisation: &str, days: &[&str], rows: &[SummaryRow]) -> Html {
    const BAR: i64 = 36;
    const GAP: i64 = 8;
    const HEIGHT: i64 = 120;
    let per_day: Vec<(u64, u64)> = days
        .iter()
        .map(|d| {
            rows.iter()
                .filter(|r| r.organization == organisation && r.day == *d)
                .fold((0, 0), |(o, f), r| (o + r.successful, f + r.failed))
        })
        .collect();
    let top = per_day.iter().map(|(o, f)| o + f).max().unwrap_or(0).max(1);
    let scale = |n: u64| (n as f64 * HEIGHT as f64 / top as f64).round() as i64;
    let width = days.len() as i64 * (BAR + GAP) + GAP;
    let text: Vec<String> = days
        .iter()
        .zip(&per_day)
        .map(|(d, (o, f))| format!("{d}: {o} succeeded, {f} failed"))
        .collect();
    let label = format!("{organisation}: {}", text.join("; "));
    html! {
        <figure class="chart" data-org={organisation.to_owned()}>
            <figcaption>{ organisation.to_owned() }</figcaption>
            <svg role="img" aria-label={label} viewBox={format!("0 0 {width} {}", HEIGHT + 18)}
                 width={width.to_string()} height={(HEIGHT + 18).to_string()}>
                { for per_day.iter().enumerate().map(|(i, (o, f))| {
                    let x = GAP + i as i64 * (BAR + GAP);
                    let (ho, hf) = (scale(*o), scale(*f));
                    html! {
                        <g>
                            <rect class="ok" x={x.to_string()} y={(HEIGHT - ho).to_string()}
                                  width={BAR.to_string()} height={ho.to_string()} />
                            <rect class="fail" x={x.to_string()} y={(HEIGHT - ho - hf).to_string()}
                                  width={BAR.to_string()} height={hf.to_string()} />
                            <text x={(x + BAR / 2).to_string()} y={(HEIGHT + 14).to_string()}
                                  text-anchor="middle">{ days[i].get(5..).unwrap_or("") }</text>
                        </g>
                    }
                }) }
            </svg>
        </figure>
    }
}

/// A sender's days and policies, with each failure's type, place and count; `data-label`
/// names the column where a phone stacks each row into a card (style.css).
fn sender(organisation: &str, rows: &[SummaryRow]) -> Html {
    html! {
        <div class="sender" data-org={organisation.to_owned()}>
            <h3>{ organisation.to_owned() }</h3>
            <div class="scroll">
                <table>
                    <thead><tr>
                        <th scope="col">{ "Day" }</th><th scope="col">{ "Policy" }</th>
                        <th scope="col">{ "Succeeded" }</th><th scope="col">{ "Failed" }</th>
                        <th scope="col">{ "Failures" }</th>
                    </tr></thead>
                    <tbody>
                        { for rows.iter().filter(|r| r.organization == organisation).map(|r| html! {
                            <tr>
                                <td data-label="Day">{ &r.day }</td>
                                <td data-label="Policy">{ r.policy_type.id().to_owned() }</td>
                                <td class="num" data-label="Succeeded">{ r.successful }</td>
                                <td class="num" data-label="Failed">{ r.failed }</td>
                                <td data-label="Failures">
                                    { for r.failures.iter().map(|(host, ip, result, n)| {
                                        let at = match (host, ip) {
                                            (Some(h), Some(ip)) => format!(" at {h} [{ip}]"),
                                            (Some(h), None) => format!(" at {h}"),
                                            (None, Some(ip)) => format!(" at [{ip}]"),
                                            (None, None) => String::new(),
                                        };
                                        html! { <div class="failure">{ format!("{n} × {}{at}", result.id()) }</div> }
                                    }) }
                                </td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            </div>
        </div>
    }
}
