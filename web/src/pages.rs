//! The pages: home, the live check, the frozen snapshot, the widget.

use std::rc::Rc;

use mxtls_core::Evidence;
use mxtls_core::Severity;
use mxtls_core::api::{CheckAnswer, Examples, StreamEvent};
use web_sys::{AbortController, HtmlInputElement};
use yew::prelude::*;

use crate::live::{Action, Live, Loaded};
use crate::net;
use crate::report::{CopyButton, ReportBody};
use mxtls_core::present;
use mxtls_core::route::Route;

thread_local! {
    /// What the home page's form reduced its input to ("the domain of the mail address …"),
    /// shown once by the check page it leads to.
    static NOTE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

#[derive(Properties, PartialEq)]
pub struct NavProps {
    pub navigate: Callback<Route>,
}

pub(crate) fn set_title(text: &str) {
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        doc.set_title(text);
    }
}

/// Every page's frame: the skip link, the header (its brand goes home, within the app when
/// `home` is given) and the footer, which says `note` and links `link` (path, words) and
/// the API. Shared by the three bundles.
pub(crate) fn frame(
    page: Html,
    home: Option<Callback<MouseEvent>>,
    note: &'static str,
    link: (&'static str, &'static str),
) -> Html {
    html! {
        <>
            <a class="skip" href="#main">{ "Skip to content" }</a>
            <header class="top">
                <a href="/" class="brand" onclick={home}>{ "mxtls" }</a>
                <span class="muted">{ " mail TLS checker" }</span>
            </header>
            { page }
            <footer class="muted">
                { note }
                <a href={link.0}>{ link.1 }</a>{ " · " }
                <a href="/api/openapi.json">{ "API" }</a>{ " · " }
                <a href="/about/probe">{ "Who probes your server" }</a>
            </footer>
        </>
    }
}

/// What the checker's pages' footer says.
pub(crate) const JUDGED_HERE: &str = "mxtls judges the evidence in your browser. ";

/// A link that moves within the app without reloading it.
pub(crate) fn link(navigate: &Callback<Route>, route: Route, text: String) -> Html {
    let href = route.path();
    let onclick = {
        let navigate = navigate.clone();
        Callback::from(move |e: MouseEvent| {
            if !(e.ctrl_key() || e.meta_key() || e.shift_key()) {
                e.prevent_default();
                navigate.emit(route.clone());
            }
        })
    };
    html! { <a {href} {onclick}>{ text }</a> }
}

#[function_component(Home)]
pub fn home(props: &NavProps) -> Html {
    let value = use_state(String::new);
    let error = use_state(|| None::<String>);
    let examples = use_state(Vec::<String>::new);
    {
        let examples = examples.clone();
        use_effect_with((), move |_| {
            set_title("mxtls — is mail to your domain protected by TLS?");
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(text) = net::get_text("/api/examples").await
                    && let Ok(list) = mxtls_core::api::from_json::<Examples>(&text)
                {
                    examples.set(list.examples);
                }
            });
        });
    }
    let oninput = {
        let value = value.clone();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            value.set(input.value());
        })
    };
    let onsubmit = {
        let (value, error, navigate) = (value.clone(), error.clone(), props.navigate.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match mxtls_core::names::parse_user_input(&value) {
                Ok((name, note)) => {
                    error.set(None);
                    NOTE.with(|n| *n.borrow_mut() = note);
                    navigate.emit(Route::Check(name.to_string()));
                }
                Err(e) => error.set(Some(e)),
            }
        })
    };
    html! {
        <main id="main">
            <h1>{ "Is mail to your domain protected?" }</h1>
            <p class="lead">{ "mxtls connects to every mail server of a domain the way a sending mail server does, and tells you whether mail reaches them over authenticated TLS (DANE, certificates, DNSSEC) — and whether an attacker on the path could strip the encryption." }</p>
            <form class="check-form" {onsubmit} novalidate=true>
                <label for="domain">{ "Mail domain" }</label>
                <p class="muted hint" id="domain-hint">{ "A domain, or a mail address or web address at it: example.org, you@example.org, https://example.org/" }</p>
                <div class="row">
                    <input id="domain" name="domain" type="text" inputmode="email" autocomplete="off"
                        autocapitalize="off" spellcheck="false" placeholder="example.org"
                        aria-describedby={ if error.is_some() { "domain-hint domain-error" } else { "domain-hint" } }
                        aria-invalid={ if error.is_some() { "true" } else { "false" } }
                        value={(*value).clone()} {oninput} />
                    <button type="submit">{ "Check" }</button>
                </div>
                if let Some(e) = &*error {
                    <p id="domain-error" class="error" role="alert">{ e }</p>
                }
            </form>
            if !examples.is_empty() {
                <section aria-labelledby="examples-h">
                    <h2 id="examples-h">{ "Examples" }</h2>
                    <ul class="examples">
                        { for examples.iter().map(|d| html! { <li>{ link(&props.navigate, Route::Check(d.clone()), d.clone()) }</li> }) }
                    </ul>
                </section>
            }
            <section aria-labelledby="what-h">
                <h2 id="what-h">{ "What is checked" }</h2>
                <ul>
                    <li>{ "The MX records and their DNSSEC signatures; the addresses of each mail server." }</li>
                    <li>{ "STARTTLS on every address, the TLS handshake, and each certificate chain the server presents." }</li>
                    <li>{ "TLSA records (DANE, RFC 7672): which record matches which certificate." }</li>
                    <li>{ "Whether an attacker between a sender and your servers could remove STARTTLS unnoticed." }</li>
                </ul>
                <p class="muted">{ "The server only gathers evidence; your browser judges it." }</p>
            </section>
            <p id="send-test-link">{ "Sending mail, not receiving it? " }{ link(&props.navigate, Route::SendTest(None), "Test your own outgoing server".into()) }</p>
        </main>
    }
}

#[derive(Properties, PartialEq)]
pub struct DomainProps {
    pub domain: AttrValue,
    pub navigate: Callback<Route>,
}

/// Streams a check of `domain` into the reducer; returns the controller that aborts it.
pub(crate) fn start_check(
    domain: &str,
    dispatch: UseReducerDispatcher<Live>,
) -> Option<AbortController> {
    let controller = AbortController::new().ok()?;
    let signal = controller.signal();
    let url = format!("/api/check/{}", mxtls_core::route::percent_encode(domain));
    // The root set is needed once the evidence arrives: fetch it while the probe works.
    wasm_bindgen_futures::spawn_local(async {
        let _ = net::roots().await;
    });
    wasm_bindgen_futures::spawn_local(async move {
        let finished = std::cell::Cell::new(false);
        let answer = std::cell::RefCell::new(None::<CheckAnswer>);
        let result = net::stream_events(&url, &signal, |m| {
            match StreamEvent::parse(&m.event, &m.data) {
                Some(Ok(StreamEvent::Progress(event))) => {
                    dispatch.dispatch(Action::Progress(event, net::now_ms()))
                }
                Some(Ok(StreamEvent::Evidence(a))) => {
                    finished.set(true);
                    *answer.borrow_mut() = Some(*a);
                }
                Some(Ok(StreamEvent::Error(e))) => {
                    finished.set(true);
                    dispatch.dispatch(Action::Done(Err(e.error)));
                }
                Some(Err(e)) => {
                    finished.set(true);
                    dispatch.dispatch(Action::Done(Err(format!(
                        "the server's {} event does not read: {e}",
                        m.event
                    ))));
                }
                None => {}
            }
        })
        .await;
        if signal.aborted() {
            return;
        }
        if let Some(a) = answer.take() {
            let loaded = match net::roots().await {
                Ok(roots) => Ok(Loaded::judge(a, &roots)),
                Err(f) => Err(f.message),
            };
            dispatch.dispatch(Action::Done(loaded));
            return;
        }
        match result {
            // The server's limits: a wait, not the domain's failure (`refusal`).
            Err(f) => match crate::refusal::Deferred::of(&f, net::now_ms()) {
                Some(d) => dispatch.dispatch(Action::Deferred(d)),
                None => dispatch.dispatch(Action::Done(Err(f.message))),
            },
            Ok(()) if !finished.get() => dispatch.dispatch(Action::Done(Err(
                "the connection to the checker closed before the check finished".into(),
            ))),
            Ok(()) => {}
        }
    });
    Some(controller)
}

#[function_component(CheckPage)]
pub fn check_page(props: &DomainProps) -> Html {
    let live = use_reducer(Live::default);
    // Each retry of a deferred check is a new attempt, started only once its wait is over.
    let attempt = use_state(|| 0u32);
    {
        let dispatch = live.dispatcher();
        use_effect_with((props.domain.clone(), *attempt), move |(domain, _)| {
            set_title(&format!("{domain} — mxtls"));
            dispatch.dispatch(Action::Reset(net::now_ms()));
            let controller = start_check(domain, dispatch.clone());
            // The timer, and the seconds waited on a slow step, move every second.
            let tick = dispatch.clone();
            let interval = net::every(1000, move || tick.dispatch(Action::Tick(net::now_ms())));
            move || {
                drop(interval);
                if let Some(c) = controller {
                    c.abort();
                }
            }
        });
    }
    let due = live.deferred.as_ref().is_some_and(|d| d.due(live.now_ms));
    {
        let attempt = attempt.clone();
        use_effect_with(due, move |due| {
            if *due {
                attempt.set(*attempt + 1);
            }
        });
    }
    let note = use_state(|| NOTE.with(|n| n.borrow_mut().take()));
    let status = match &live.result {
        None if live.deferred.is_some() => {
            "The check has not started yet: the server asks to wait.".to_owned()
        }
        None => {
            let (done, all) = live.sessions_done();
            format!("Checking: {done} of {all} sessions done")
        }
        Some(Ok(l)) => format!("Check finished: {}", l.report.summary.headline),
        Some(Err(e)) => format!("The check did not finish: {e}"),
    };
    html! {
        <main id="main">
            <h1>{ "Mail TLS for " }<span class="domain">{ props.domain.clone() }</span></h1>
            if let Some(n) = &*note { <p class="note" id="input-note">{ n }</p> }
            <div role="status" aria-live="polite" class="sr-only" id="live-status">{ status }</div>
            {
                match &live.result {
                    None => match &live.deferred {
                        Some(d) => crate::refusal::deferred_box(d, live.now_ms),
                        None => progress(&live),
                    },
                    Some(Err(e)) => html! {
                        <div class="error-box" role="alert">
                            <h2>{ "The check did not finish" }</h2>
                            <p id="check-error">{ e }</p>
                            { link(&props.navigate, Route::Home, "Back to the start page".into()) }
                        </div>
                    },
                    Some(Ok(loaded)) => html! {
                        <>
                            <Headline loaded={loaded.clone()} frozen=false navigate={props.navigate.clone()} />
                            <details class="progress-log">
                                <summary>{ "What the probe did" }</summary>
                                { progress(&live) }
                            </details>
                            <ReportBody evidence={loaded.evidence.clone()} report={loaded.report.clone()} />
                            <Embed domain={loaded.report.domain.to_string()} />
                        </>
                    },
                }
            }
        </main>
    }
}

/// The live steps: a count and a timer, the lookups, then one line per session with the
/// seconds waited on a slow step and its limit.
fn progress(live: &Live) -> Html {
    let (done, all) = live.sessions_done();
    let lookups_done = live.lookups.iter().filter(|l| l.done.is_some()).count();
    html! {
        <section class="live" aria-labelledby="live-h">
            <h2 id="live-h">{ if live.result.is_none() { "Checking…" } else { "Steps" } }</h2>
            <p class="live-count" id="live-count">
                { format!("{done} of {all} sessions done, {lookups_done} of {} lookups", live.lookups.len()) }
                if live.result.is_none() { { format!(" — {} s", live.elapsed_s()) } }
            </p>
            <ul class="steps">
                { for live.lookups.iter().map(|l| html! {
                    <li class={classes!("lookup", if l.done.is_some() { "done" } else { "running" })}>
                        { format!("DNS {}", present::lookup_line(&l.qname, l.qtype, l.done.as_ref().map(|(o, d)| (o, d)))) }
                    </li>
                }) }
                { for live.refused.iter().map(|(h, ip, why)| html! {
                    <li class="session refused">{ format!("{h} [{ip}]: not probed — {why}") }</li>
                }) }
                { for live.sessions.iter().map(|s| {
                    let mut state = present::session_state(s.offer, s.step, s.finished);
                    if let Some(why) = s.waiting.as_ref().filter(|_| s.finished.is_none()) {
                        state.text = format!("waiting — {why}");
                    }
                    let normal = s.finished.is_some() && state.mood == present::Mood::Info;
                    html! {
                        <li class={classes!("session", if s.finished.is_some() { "done" } else { "running" }, normal.then_some("normal"))}
                            data-host={s.host.to_string()} data-ip={s.ip.to_string()} data-step={s.step.id()}>
                            { format!("{} [{}] ({}): {}{}", s.host, s.ip, present::offer(s.offer), state.text, present::waited(live.waited_ms(s), s.limit_ms)) }
                        </li>
                    }
                }) }
            </ul>
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct HeadlineProps {
    pub loaded: Loaded,
    /// A snapshot page: say when it was taken and offer a new check.
    pub frozen: bool,
    pub navigate: Callback<Route>,
}

/// How long the server reuses a check of a domain (its `Limits::reuse`).
const REUSE_SECONDS: i64 = 60;

/// The answer at the top, the time, the link to share.
#[function_component(Headline)]
pub fn headline(props: &HeadlineProps) -> Html {
    let report = &props.loaded.report;
    let link_url = format!("{}/r/{}", net::origin(), props.loaded.snapshot);
    let domain = report.domain.to_string();
    let again = {
        let (navigate, domain) = (props.navigate.clone(), domain.clone());
        Callback::from(move |_| navigate.emit(Route::Check(domain.clone())))
    };
    let taken = props.loaded.evidence.probe.finished_at;
    // A check less than a minute old is reused to spare the mail servers: say so, and when
    // a new one will run.
    let age = (net::now() - taken.0).max(0);
    let fresh_in = (REUSE_SECONDS - age).max(0);
    let when = if props.frozen {
        format!("Snapshot taken {taken}")
    } else if props.loaded.reused {
        format!("Checked {taken}: a check {age} s old, reused to spare the mail servers")
    } else {
        format!("Checked {taken}")
    };
    let again_note = (fresh_in > 0 && (props.frozen || props.loaded.reused)).then(|| {
        format!(
            "A new check is possible in {fresh_in} s; until then checking again shows this result."
        )
    });
    let history = Route::History(domain.clone()).path();
    html! {
        <section class={classes!("headline", present::report_mood(report).id())} aria-labelledby="headline">
            <h2 id="headline">{ &report.summary.headline }</h2>
            <p id="stripping">{ stripping_text(report) }</p>
            if props.frozen {
                { crate::freshness::taken(taken, net::now()) }
            } else {
                <p class="muted" id="taken">{ when }</p>
            }
            <p class="muted" id="horizon">
                { format!("Looking ahead {}. ", report.horizon.describe()) }
                <a href="?horizon=90">{ "Look 90 days ahead" }</a>
                { " · " }
                // The history is a bundle of its own, the watch page the server's: whole page loads.
                <a href={history.clone()}>{ "History of this domain" }</a>
                { " · " }
                <a href={format!("{history}/watch")} id="watch-link">{ "Tell me when this changes" }</a>
                { " · " }
                <a href={format!("{history}/feed.atom")} id="feed-link">{ "Atom feed" }</a>
            </p>
            if let Some(n) = again_note { <p class="muted" id="again-note">{ n }</p> }
            <div class="share">
                <label for="share-link">{ "Link to this report" }</label>
                <input id="share-link" type="text" readonly=true value={link_url.clone()} />
                <CopyButton text={AttrValue::from(link_url)} label="Copy link" />
                if props.frozen {
                    <button type="button" id="check-again" onclick={again}>{ "Check again" }</button>
                }
            </div>
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct EmbedProps {
    pub domain: AttrValue,
}

/// How to put the widget or the badge on another page.
#[function_component(Embed)]
pub fn embed(props: &EmbedProps) -> Html {
    let origin = net::origin();
    let path = mxtls_core::route::percent_encode(&props.domain);
    let snippet = format!(
        r#"<script src="{origin}/embed.js" data-domain="{}" async></script>"#,
        props.domain
    );
    let badge = format!("[![mail TLS]({origin}/badge/{path}.svg)]({origin}/check/{path})");
    html! {
        <section class="embed" aria-labelledby="embed-h">
            <h2 id="embed-h">{ "Show this on your site" }</h2>
            <p>{ "The widget (it shows the latest check):" }</p>
            <div class="record"><code id="embed-snippet">{ snippet.clone() }</code><CopyButton text={AttrValue::from(snippet)} label="Copy snippet" /></div>
            <p>{ "A badge, in Markdown:" }</p>
            <div class="record"><code>{ badge.clone() }</code><CopyButton text={AttrValue::from(badge)} label="Copy badge" /></div>
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct SnapshotProps {
    pub id: AttrValue,
    pub navigate: Callback<Route>,
}

/// GETs evidence and the root set to judge it with.
async fn load(url: &str) -> Result<(String, Rc<mxtls_core::pkix::RootSet>), net::Failure> {
    let text = net::get_text(url).await?;
    Ok((text, net::roots().await?))
}

#[function_component(SnapshotPage)]
pub fn snapshot_page(props: &SnapshotProps) -> Html {
    let state = use_state(|| None::<Result<Loaded, String>>);
    {
        let state = state.clone();
        use_effect_with(props.id.clone(), move |id| {
            set_title("Snapshot — mxtls");
            state.set(None);
            let url = format!("/api/snapshots/{}", mxtls_core::route::percent_encode(id));
            let id = id.to_string();
            wasm_bindgen_futures::spawn_local(async move {
                let result = match load(&url).await {
                    Ok((text, roots)) => Evidence::from_json(&text)
                        .map(|evidence| {
                            let answer = CheckAnswer {
                                snapshot: id,
                                evidence,
                                reused: false,
                            };
                            Loaded::judge(answer, &roots)
                        })
                        .map_err(|e| e.to_string()),
                    Err(f) if f.status == Some(404) => Err(
                        "There is no snapshot with this link. It may have been mistyped.".into(),
                    ),
                    Err(f) => Err(f.message),
                };
                if let Ok(l) = &result {
                    set_title(&format!("{} (snapshot) — mxtls", l.report.domain));
                }
                state.set(Some(result));
            });
        });
    }
    html! {
        <main id="main">
            {
                match &*state {
                    None => html! { <p role="status">{ "Loading the snapshot…" }</p> },
                    Some(Err(e)) => html! {
                        <div class="error-box" role="alert">
                            <h1>{ "Snapshot not available" }</h1>
                            <p>{ e }</p>
                            { link(&props.navigate, Route::Home, "Check a domain".into()) }
                        </div>
                    },
                    Some(Ok(loaded)) => html! {
                        <>
                            <h1>{ "Mail TLS for " }<span class="domain">{ loaded.report.domain.to_string() }</span></h1>
                            <crate::freshness::Newer domain={loaded.report.domain.to_string()} snapshot={loaded.snapshot.clone()}
                                at={loaded.evidence.probe.finished_at.0} navigate={props.navigate.clone()} />
                            <Headline loaded={loaded.clone()} frozen=true navigate={props.navigate.clone()} />
                            <ReportBody evidence={loaded.evidence.clone()} report={loaded.report.clone()} />
                        </>
                    },
                }
            }
        </main>
    }
}

/// Tells the embedding page (embed.js) how tall the widget is.
fn announce_height(domain: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let height = window
        .document()
        .and_then(|d| d.document_element())
        .map(|e| e.scroll_height())
        .unwrap_or(0);
    let message = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&message, &"type".into(), &"mxtls-widget-size".into());
    let _ = js_sys::Reflect::set(&message, &"domain".into(), &domain.into());
    let _ = js_sys::Reflect::set(&message, &"height".into(), &height.into());
    if let Ok(Some(parent)) = window.parent()
        && parent != window
    {
        let _ = parent.post_message(&message, "*");
    }
}

#[function_component(WidgetPage)]
pub fn widget_page(props: &DomainProps) -> Html {
    let live = use_reducer(Live::default);
    {
        let dispatch = live.dispatcher();
        use_effect_with(props.domain.clone(), move |domain| {
            set_title(&format!("{domain} — mxtls widget"));
            if let Some(body) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.body())
            {
                body.set_class_name("widget");
            }
            // The running check, if one had to be started; aborted when the widget goes.
            let running = Rc::new(std::cell::RefCell::new(None::<AbortController>));
            let slot = running.clone();
            let domain = domain.to_string();
            wasm_bindgen_futures::spawn_local(async move {
                let url = format!(
                    "/api/domains/{}/latest",
                    mxtls_core::route::percent_encode(&domain)
                );
                match load(&url).await {
                    Ok((text, roots)) => {
                        dispatch.dispatch(Action::Done(Loaded::from_json(&text, &roots)))
                    }
                    // Never checked: check now (the server's limits still apply).
                    Err(f) if f.status == Some(404) => {
                        *slot.borrow_mut() = start_check(&domain, dispatch);
                    }
                    Err(f) => dispatch.dispatch(Action::Done(Err(f.message))),
                }
            });
            move || {
                if let Some(c) = running.borrow_mut().take() {
                    c.abort();
                }
            }
        });
    }
    let domain = props.domain.to_string();
    use_effect(move || announce_height(&domain));
    let body = match &live.result {
        None => html! { <p role="status">{ "Checking…" }</p> },
        Some(Err(e)) => html! { <p class="error">{ e }</p> },
        Some(Ok(loaded)) => {
            let report = &loaded.report;
            let full = format!("{}/r/{}", net::origin(), loaded.snapshot);
            let age = (net::now() - loaded.evidence.probe.finished_at.0).max(0);
            html! {
                <>
                    <p class={classes!("widget-headline", present::report_mood(report).id())}>{ &report.summary.headline }</p>
                    <p>{ stripping_text(report) }</p>
                    <p class="muted">
                        { format!("{}, {} · checked {} ago · ", present::count_of(report.count(Severity::Error), "error", "errors"),
                            present::count_of(report.count(Severity::Warning), "warning", "warnings"), ago(age)) }
                        <a href={full} target="_blank" rel="noopener">{ "Full report" }</a>
                        { " · " }
                        <a href={format!("/d/{}/watch", mxtls_core::route::percent_encode(&props.domain))} target="_blank" rel="noopener" id="widget-watch">{ "Get alerts" }</a>
                    </p>
                </>
            }
        }
    };
    html! {
        <main class="widget-box" aria-label={format!("Mail TLS status of {}", props.domain)}>
            <p class="widget-title"><strong>{ props.domain.clone() }</strong>{ " · mail TLS by mxtls" }</p>
            { body }
        </main>
    }
}

/// "3 minutes" — coarse, for the widget.
pub fn ago(seconds: i64) -> String {
    present::age(seconds)
}

#[function_component(NotFound)]
pub fn not_found(props: &NavProps) -> Html {
    html! {
        <main id="main">
            <h1>{ "Page not found" }</h1>
            <p>{ link(&props.navigate, Route::Home, "Check a domain".into()) }</p>
        </main>
    }
}

/// The stripping line, or what stands in for it where there is nothing to protect.
fn stripping_text(report: &mxtls_core::Report) -> String {
    present::stripping_line(report)
        .map(|w| w.text)
        .unwrap_or_else(|| "This domain accepts no mail (null MX).".to_owned())
}
