//! `/b/<id>`: a portfolio at a glance — the share of its domains by status over the runs of
//! its list (a chart), the causes that hurt most domains (one fix on a shared mail server
//! repairs them all), what changed since the previous run, and every domain, filtered,
//! each linking its report (judged here from its evidence when opened).
//!
//! A batch is its operator's: the page asks for the operator's API token once and keeps it
//! for the tab (`sessionStorage`), never in the URL. A batch still running is fetched again
//! every few seconds. The rows are the core's judgement at check time (a list of 100,000
//! domains cannot send each evidence to the browser); the aggregate is the core's
//! `batch::portfolio`, run here.

use std::rc::Rc;

use mxtls_core::batch::portfolio::{self, Answer, CauseGroup, Change, Filter, Run};
use mxtls_core::batch::{Row, STATES};
use mxtls_core::evidence::UnixTime;
use mxtls_core::route::{Route, percent_encode};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::net;
use crate::pages::set_title;

/// Where the tab keeps the operator's token.
const TOKEN_KEY: &str = "mxtls-batch-token";
/// Rows the table shows at first, and more each time it is asked.
const PAGE: usize = 200;
/// Causes listed (the rest are in the table's cause filter).
const CAUSES: usize = 20;
/// Changes listed.
const CHANGES: usize = 200;
/// How often a running batch is fetched again: every few seconds, and every half minute
/// for a list whose answer is megabytes long.
fn poll_ms(total: i64) -> i32 {
    if total > 5_000 { 30_000 } else { 5_000 }
}

/// Starts the portfolio page (the `mxtls-portfolio` bundle) for the batch its path names.
pub fn start() {
    mxtls_core::names::set_idna(net::domain_to_ascii);
    yew::Renderer::<Standalone>::new().render();
}

#[function_component(Standalone)]
fn standalone() -> Html {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    let page = match Route::parse(&path) {
        Route::Portfolio(id) => html! { <PortfolioPage id={id} /> },
        _ => {
            html! { <main id="main"><h1>{ "Not found" }</h1><p><a href="/">{ "Check a domain" }</a></p></main> }
        }
    };
    crate::pages::frame(
        page,
        None,
        "Each domain's report is judged in your browser. ",
        ("/", "Check a domain"),
    )
}

#[derive(Properties, PartialEq)]
struct PageProps {
    id: AttrValue,
}

/// The answer, and what the page derives from it once per answer.
struct Loaded {
    answer: Answer,
    causes: Vec<CauseGroup>,
    changes: Vec<Change>,
}

enum State {
    /// No token yet, or the server refused it.
    NeedToken(Option<String>),
    Loading,
    Failed(String),
    Ready(Rc<Loaded>),
}

async fn load(id: &str, token: &str) -> Result<Loaded, net::Failure> {
    let url = format!("/api/batches/{}/portfolio", percent_encode(id));
    let text = net::get_authorized(&url, token).await?;
    let answer: Answer = mxtls_core::api::from_json(&text).map_err(|e| net::Failure {
        status: None,
        message: e,
        retry_after_s: None,
        reason: None,
    })?;
    let causes = portfolio::causes(&answer.rows);
    let changes = answer
        .previous
        .as_ref()
        .map(|p| portfolio::changes(&p.rows, &answer.rows, answer.batch.complete()))
        .unwrap_or_default();
    Ok(Loaded {
        answer,
        causes,
        changes,
    })
}

#[function_component(PortfolioPage)]
fn portfolio_page(props: &PageProps) -> Html {
    let token = use_state(|| net::session_get(TOKEN_KEY));
    let state = use_state(|| State::Loading);
    let filter = use_state(Filter::default);
    let shown = use_state(|| PAGE);
    let tick = use_state(|| 0u32);
    {
        let (state, id) = (state.clone(), props.id.to_string());
        use_effect_with(((*token).clone(), *tick), move |(token, _)| {
            set_title("Portfolio — mxtls");
            match token.clone() {
                None => state.set(State::NeedToken(None)),
                Some(t) => wasm_bindgen_futures::spawn_local(async move {
                    match load(&id, &t).await {
                        Ok(l) => {
                            set_title(&format!("{}: portfolio — mxtls", l.answer.batch.name));
                            state.set(State::Ready(Rc::new(l)));
                        }
                        Err(f) if matches!(f.status, Some(401 | 404)) => {
                            net::session_set(TOKEN_KEY, None);
                            state.set(State::NeedToken(Some(f.message)));
                        }
                        Err(f) => state.set(State::Failed(f.message)),
                    }
                }),
            }
        });
    }
    let running = match &*state {
        State::Ready(l) if !l.answer.batch.complete() => Some(poll_ms(l.answer.batch.total)),
        _ => None,
    };
    {
        let tick = tick.clone();
        use_effect_with(running, move |running| {
            // The handle's value is the one of this render: count in a cell of our own.
            let n = Rc::new(std::cell::Cell::new(*tick));
            let interval = running
                .map(|ms| {
                    net::every(ms, move || {
                        n.set(n.get().wrapping_add(1));
                        tick.set(n.get());
                    })
                })
                .flatten();
            move || drop(interval)
        });
    }
    let body = match &*state {
        State::Loading => html! { <p role="status">{ "Loading the portfolio…" }</p> },
        State::Failed(why) => html! { <div class="error-box" role="alert"><p>{ why }</p></div> },
        State::NeedToken(why) => token_form(token.clone(), why.clone()),
        State::Ready(l) => html! {
            <>
                { head(&l.answer.batch) }
                { chart(&l.answer.runs, &l.answer.batch) }
                { causes(&l.causes, &filter, &shown) }
                { changes(l) }
                { table(l, &filter, &shown) }
            </>
        },
    };
    html! {
        <main id="main" class="portfolio">
            if !matches!(&*state, State::Ready(_)) {
                <h1>{ "Portfolio" }</h1>
            }
            { body }
        </main>
    }
}

fn token_form(token: UseStateHandle<Option<String>>, why: Option<String>) -> Html {
    let onsubmit = Callback::from(move |e: SubmitEvent| {
        e.prevent_default();
        let value = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("batch-token"))
            .and_then(|el| wasm_bindgen::JsCast::dyn_into::<HtmlInputElement>(el).ok())
            .map(|i| i.value().trim().to_owned())
            .unwrap_or_default();
        if !value.is_empty() {
            net::session_set(TOKEN_KEY, Some(&value));
            token.set(Some(value));
        }
    });
    html! {
        <form class="check-form" id="token-form" {onsubmit}>
            <p>{ "A portfolio is its operator's: give the API token the batch was made with. This tab keeps it until it closes." }</p>
            if let Some(why) = why {
                <p class="error" role="alert">{ why }</p>
            }
            <label for="batch-token">{ "API token" }</label>
            <input id="batch-token" type="password" autocomplete="off" required=true />
            <button type="submit">{ "Open the portfolio" }</button>
        </form>
    }
}

fn date(t: i64) -> String {
    let text = UnixTime(t).to_string();
    // To the minute: "2026-12-06 23:59 UTC".
    match text.rsplit_once(':') {
        Some((minute, _)) => format!("{minute} UTC"),
        None => text,
    }
}

fn head(run: &Run) -> Html {
    let progress = if run.complete() {
        format!(
            "{} checked · run of {}",
            mxtls_core::present::count(run.total as u64, "domain", "domains"),
            date(run.created_at)
        )
    } else {
        format!(
            "{} of {} domains checked so far · run of {} · this page follows it",
            run.done,
            run.total,
            date(run.created_at)
        )
    };
    html! {
        <>
            <h1>{ run.name.clone() }</h1>
            <p class="muted" id="progress" data-done={run.done.to_string()} data-total={run.total.to_string()} role="status">{ progress }</p>
        </>
    }
}

/// One bar per run, each the whole of its domains split by state (the transparency-report
/// view), and this run's shares in words beside it.
fn chart(runs: &[Run], this: &Run) -> Html {
    const BAR: f64 = 18.0;
    const GAP: f64 = 8.0;
    let height = runs.len() as f64 * (BAR + GAP);
    let bars = runs.iter().enumerate().map(|(i, run)| {
        let y = i as f64 * (BAR + GAP);
        let mut x = 0.0;
        let parts = portfolio::shares(run).into_iter().filter(|s| s.count > 0).map(|s| {
            let (words, mood) = portfolio::state_words(&s.state);
            let part = html! {
                <rect x={format!("{x:.2}")} y={format!("{y:.1}")} width={format!("{:.2}", s.percent)} height={BAR.to_string()}
                      class={classes!("share", mood.id())} data-state={s.state.clone()}>
                    <title>{ format!("{}: {words}, {} ({:.0} %)", date(run.created_at), s.count, s.percent) }</title>
                </rect>
            };
            x += s.percent;
            part
        });
        html! { <g data-run={run.id.clone()}>{ for parts }</g> }
    });
    let label = format!(
        "Share of domains by status over {}",
        mxtls_core::present::count_of(runs.len(), "run", "runs")
    );
    html! {
        <section id="status" aria-labelledby="status-h">
            <h2 id="status-h">{ "Domains by status" }</h2>
            <div class="chart">
                <ol class="chart-runs" aria-hidden="true">
                    { for runs.iter().map(|r| html! { <li>{ date(r.created_at) }</li> }) }
                </ol>
                <svg viewBox={format!("0 0 100 {height}")} preserveAspectRatio="none" role="img" aria-label={label}
                     width="100%" height={height.to_string()} id="status-chart">
                    { for bars }
                </svg>
            </div>
            <ul class="shares" id="shares">
                { for portfolio::shares(this).into_iter().map(|s| {
                    let (words, mood) = portfolio::state_words(&s.state);
                    html! {
                        <li class={classes!("pill", mood.id())} data-state={s.state.clone()} data-count={s.count.to_string()}>
                            { format!("{words}: {} ({:.0} %)", s.count, s.percent) }
                        </li>
                    }
                }) }
            </ul>
        </section>
    }
}

fn causes(
    groups: &[CauseGroup],
    filter: &UseStateHandle<Filter>,
    shown: &UseStateHandle<usize>,
) -> Html {
    html! {
        <section id="causes" aria-labelledby="causes-h">
            <h2 id="causes-h">{ "What hurts most domains" }</h2>
            if groups.is_empty() {
                <p id="no-causes">{ "No errors or warnings on any domain." }</p>
            } else {
                <ol class="causes">
                    { for groups.iter().take(CAUSES).map(|g| {
                        let key = g.key();
                        let onclick = {
                            let (filter, shown, key) = (filter.clone(), shown.clone(), key.clone());
                            Callback::from(move |_| {
                                filter.set(Filter { cause: Some(key.clone()), ..(*filter).clone() });
                                shown.set(PAGE);
                                scroll_to("domains");
                            })
                        };
                        let sev = mxtls_core::present::severity(g.severity);
                        html! {
                            <li class={classes!("cause", sev.mood.id())} data-code={g.code.clone()} data-host={g.host.clone()}
                                data-count={g.domains.len().to_string()}>
                                <span class="sev">{ sev.text }</span>{ " " }{ g.line() }{ " " }
                                <button type="button" class="link" {onclick}>{ "Show these domains" }</button>
                            </li>
                        }
                    }) }
                </ol>
                if groups.len() > CAUSES {
                    <p class="muted">{ format!("{} more causes: in the table's filter.", groups.len() - CAUSES) }</p>
                }
            }
        </section>
    }
}

fn scroll_to(id: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
    {
        el.scroll_into_view();
    }
}

fn state_pill(state: Option<&str>) -> Html {
    match state {
        Some(s) => {
            let (words, mood) = portfolio::state_words(s);
            html! { <span class={classes!("pill", mood.id())}>{ words }</span> }
        }
        None => html! { <span class="muted">{ "not in the list" }</span> },
    }
}

fn changes(l: &Loaded) -> Html {
    let Some(previous) = &l.answer.previous else {
        return html! {
            <section id="changes" aria-labelledby="changes-h">
                <h2 id="changes-h">{ "Since the previous run" }</h2>
                <p id="first-run">{ "This is the first run of this list: the next run of a batch with the same name shows what changed." }</p>
            </section>
        };
    };
    let count = |d: portfolio::Direction| l.changes.iter().filter(|c| c.direction == d).count();
    use portfolio::Direction::*;
    let summary: Vec<String> = [
        (Worse, "worse"),
        (Changed, "changed"),
        (Better, "better"),
        (New, "new"),
        (Gone, "gone"),
    ]
    .iter()
    .filter(|(d, _)| count(*d) > 0)
    .map(|(d, words)| format!("{} {words}", count(*d)))
    .collect();
    html! {
        <section id="changes" aria-labelledby="changes-h">
            <h2 id="changes-h">{ format!("Since the previous run ({})", date(previous.created_at)) }</h2>
            if l.changes.is_empty() {
                <p id="no-changes">{ "Nothing changed." }</p>
            } else {
                <p id="changes-summary">{ summary.join(" · ") }</p>
                <ul class="portfolio-changes">
                    { for l.changes.iter().take(CHANGES).map(|c| html! {
                        <li class={classes!("change", c.direction.id())} data-domain={c.domain.clone()} data-direction={c.direction.id()}>
                            <strong>{ c.domain.clone() }</strong>{ ": " }
                            { state_pill(c.before.as_deref()) }{ " → " }{ state_pill(c.after.as_deref()) }
                            if !c.added.is_empty() || !c.removed.is_empty() {
                                <ul>
                                    { for c.added.iter().map(|t| html! { <li class="added">{ format!("+ {t}") }</li> }) }
                                    { for c.removed.iter().map(|t| html! { <li class="removed">{ format!("− {t}") }</li> }) }
                                </ul>
                            }
                        </li>
                    }) }
                </ul>
                if l.changes.len() > CHANGES {
                    <p class="muted">{ format!("and {} more", l.changes.len() - CHANGES) }</p>
                }
            }
        </section>
    }
}

fn table(l: &Loaded, filter: &UseStateHandle<Filter>, shown: &UseStateHandle<usize>) -> Html {
    let rows: Vec<&Row> = l.answer.rows.iter().filter(|r| filter.matches(r)).collect();
    let on_state = {
        let (filter, shown) = (filter.clone(), shown.clone());
        Callback::from(move |e: Event| {
            let v = e.target_unchecked_into::<HtmlSelectElement>().value();
            filter.set(Filter {
                state: (!v.is_empty()).then_some(v),
                ..(*filter).clone()
            });
            shown.set(PAGE);
        })
    };
    let on_cause = {
        let (filter, shown) = (filter.clone(), shown.clone());
        Callback::from(move |e: Event| {
            let v = e.target_unchecked_into::<HtmlSelectElement>().value();
            filter.set(Filter {
                cause: (!v.is_empty()).then_some(v),
                ..(*filter).clone()
            });
            shown.set(PAGE);
        })
    };
    let on_text = {
        let (filter, shown) = (filter.clone(), shown.clone());
        Callback::from(move |e: InputEvent| {
            let v = e.target_unchecked_into::<HtmlInputElement>().value();
            filter.set(Filter {
                text: v,
                ..(*filter).clone()
            });
            shown.set(PAGE);
        })
    };
    let more = {
        let shown = shown.clone();
        Callback::from(move |_| shown.set(*shown + PAGE))
    };
    let counts = mxtls_core::batch::counts(&l.answer.rows);
    let state_now = filter.state.clone().unwrap_or_default();
    let cause_now = filter.cause.clone().unwrap_or_default();
    html! {
        <section id="domains" aria-labelledby="domains-h">
            <h2 id="domains-h">{ "Every domain" }</h2>
            <div class="filters">
                <label>{ "Status " }
                    <select id="filter-state" onchange={on_state}>
                        <option value="" selected={state_now.is_empty()}>{ "All" }</option>
                        { for STATES.iter().zip(counts).filter(|(_, (_, n))| *n > 0).map(|(s, (_, n))| html! {
                            <option value={*s} selected={state_now == *s}>{ format!("{} ({n})", portfolio::state_words(s).0) }</option>
                        }) }
                    </select>
                </label>
                <label>{ "Cause " }
                    <select id="filter-cause" onchange={on_cause}>
                        <option value="" selected={cause_now.is_empty()}>{ "All" }</option>
                        { for l.causes.iter().map(|g| {
                            let key = g.key();
                            html! { <option value={key.clone()} selected={cause_now == key}>{ g.line() }</option> }
                        }) }
                    </select>
                </label>
                <label>{ "Domain " }
                    <input id="filter-text" type="search" value={filter.text.clone()} oninput={on_text} />
                </label>
            </div>
            <p id="shown" role="status" data-count={rows.len().to_string()}>
                { format!("{} of {} domains", rows.len(), l.answer.rows.len()) }
            </p>
            <div class="scroll">
                <table class="portfolio-table" id="portfolio-table">
                    <thead><tr>
                        <th scope="col">{ "Domain" }</th><th scope="col">{ "Status" }</th>
                        <th scope="col">{ "Answer" }</th><th scope="col">{ "Causes" }</th>
                        <th scope="col">{ "Report" }</th>
                    </tr></thead>
                    <tbody>
                        { for rows.iter().take(**shown).map(|r| row(r)) }
                    </tbody>
                </table>
            </div>
            if rows.len() > **shown {
                <button type="button" id="more" onclick={more}>
                    { format!("Show {} more", (rows.len() - **shown).min(PAGE)) }
                </button>
            }
        </section>
    }
}

fn row(r: &Row) -> Html {
    let (words, _) = portfolio::state_words(&r.status);
    let mood = if r.mood.is_empty() {
        portfolio::state_words(&r.status).1.id().to_owned()
    } else {
        r.mood.clone()
    };
    let causes: Vec<String> = r
        .causes
        .iter()
        .map(|c| match &c.host {
            Some(h) => format!("{h}: {}", c.title),
            None => c.title.clone(),
        })
        .collect();
    html! {
        <tr data-domain={r.domain.clone()} data-status={r.status.clone()}>
            <th scope="row" data-label="Domain">{ r.domain.clone() }</th>
            <td class={mood} data-label="Status">{ words }</td>
            <td data-label="Answer">{ r.answer.clone() }</td>
            <td data-label="Causes">{ causes.join("; ") }</td>
            <td data-label="Report">
                if let Some(s) = &r.snapshot {
                    <a href={Route::Snapshot(s.clone()).path()} class="report-link">{ "Report" }</a>
                } else {
                    <span class="muted">{ "none" }</span>
                }
            </td>
        </tr>
    }
}
