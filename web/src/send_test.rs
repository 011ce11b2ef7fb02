//! The sender test's pages: `/send-test` explains it and starts one (`POST
//! /api/sender-tests`), `/send-test/<token>` shows the test (`GET /api/sender-tests/<token>`,
//! asked again every 3 s while the receivers listen). The server sends what its receivers
//! recorded; the page judges it with `mxtls_core::sender_test` ([`table`]).

mod table;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use mxtls_core::api::{ApiError, from_json};
use mxtls_core::present;
use mxtls_core::route::{Route, percent_encode};
use mxtls_core::sender_test::view::SenderTest;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, Response};
use yew::prelude::*;

use crate::net::{self, Failure};
use crate::pages::{NavProps, link, set_title};
use crate::report::CopyButton;

/// How often a listening test is asked for again.
const POLL_MS: i32 = 3000;

thread_local! {
    /// The test the start page was just given, so the test's page shows it at once.
    static FRESH: RefCell<Option<SenderTest>> = const { RefCell::new(None) };
}

fn failure(status: Option<u16>, message: String) -> Failure {
    Failure {
        status,
        message,
        retry_after_s: None,
        reason: None,
    }
}

fn unreachable_failure(e: JsValue) -> Failure {
    let detail = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_default();
    failure(None, format!("the checker could not be reached ({detail})"))
}

/// `POST /api/sender-tests`: a new test, or why the server would not start one.
async fn start_test() -> Result<SenderTest, Failure> {
    let window = web_sys::window().ok_or_else(|| unreachable_failure(JsValue::NULL))?;
    let init = RequestInit::new();
    init.set_method("POST");
    let headers = Headers::new().map_err(unreachable_failure)?;
    headers
        .set("Content-Type", "application/json")
        .map_err(unreachable_failure)?;
    init.set_headers_headers(&headers);
    init.set_body(&JsValue::from_str("{}"));
    let response: Response =
        JsFuture::from(window.fetch_with_str_and_init("/api/sender-tests", &init))
            .await
            .map_err(unreachable_failure)?
            .unchecked_into();
    let promise = response.text().map_err(unreachable_failure)?;
    let text = JsFuture::from(promise)
        .await
        .map_err(unreachable_failure)?
        .as_string()
        .unwrap_or_default();
    let status = response.status();
    if !response.ok() {
        let reason = from_json::<ApiError>(&text).map(|e| e.error).ok();
        let retry_after_s = response
            .headers()
            .get("retry-after")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut message = match status {
            404 => "this checker does not run the sender test".to_owned(),
            _ => reason
                .clone()
                .unwrap_or_else(|| format!("the server answered {status}")),
        };
        if let Some(wait) = retry_after_s {
            message.push_str(&format!(
                "; try again in {}",
                present::count(wait, "second", "seconds")
            ));
        }
        return Err(Failure {
            status: Some(status),
            message,
            retry_after_s,
            reason,
        });
    }
    from_json::<SenderTest>(&text).map_err(|e| {
        failure(
            Some(status),
            format!("the server's answer does not read: {e}"),
        )
    })
}

/// `GET /api/sender-tests/<token>`.
async fn fetch_test(url: &str) -> Result<SenderTest, Failure> {
    let text = net::get_text(url).await?;
    from_json::<SenderTest>(&text)
        .map_err(|e| failure(None, format!("the server's answer does not read: {e}")))
}

/// `/send-test`: what the test does, and the button that starts one.
#[function_component(SendTestStart)]
pub fn send_test_start(props: &NavProps) -> Html {
    let busy = use_state(|| false);
    let error = use_state(|| None::<String>);
    use_effect_with((), |_| set_title("Test your outgoing mail server — mxtls"));
    let onclick = {
        let (busy, error, navigate) = (busy.clone(), error.clone(), props.navigate.clone());
        Callback::from(move |_: MouseEvent| {
            if *busy {
                return;
            }
            busy.set(true);
            error.set(None);
            let (busy, error, navigate) = (busy.clone(), error.clone(), navigate.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match start_test().await {
                    Ok(test) => {
                        let next = Route::SendTest(Some(test.token.clone()));
                        FRESH.with(|f| *f.borrow_mut() = Some(test));
                        busy.set(false);
                        navigate.emit(next);
                    }
                    Err(f) => {
                        busy.set(false);
                        error.set(Some(f.message));
                    }
                }
            });
        })
    };
    html! {
        <main id="main">
            <h1>{ "Test your outgoing mail server" }</h1>
            <p class="lead">{ "The domain check tests mail coming to you. This test is for the server that sends your mail: does it validate DANE, enforce MTA-STS, and does it refuse to send in cleartext when STARTTLS breaks or an attacker strips it?" }</p>
            <ol class="send-test-steps">
                <li>{ "Start a test: you get eight addresses, one at each of our test domains. Each test domain is set up to catch one behaviour: TLSA records that match nothing, a certificate for the wrong name, a broken or stripped STARTTLS, and their controls." }</li>
                <li>{ "Send one message from the mail server you want to test to each address — one message to all eight will do: your server delivers to each test domain on its own. Any subject and text will do." }</li>
                <li>{ "Keep the page open: our receivers record every connection your server makes, and the page shows, test domain by test domain, what it did. They keep listening for a while, because a server that defers comes back later." }</li>
            </ol>
            <p class="muted">{ "The receivers take messages only for the test's own addresses and pass them on to nobody." }</p>
            <p>
                <button type="button" id="send-test-start" {onclick} disabled={*busy}>
                    { if *busy { "Starting…" } else { "Start a test" } }
                </button>
            </p>
            if let Some(e) = &*error {
                <p class="error" role="alert" id="send-test-error">{ format!("The test did not start: {e}.") }</p>
            }
        </main>
    }
}

#[derive(Properties, PartialEq)]
pub struct TestProps {
    pub token: AttrValue,
    pub navigate: Callback<Route>,
}

/// What the test's page shows.
#[derive(Clone, PartialEq)]
enum Shown {
    Loading,
    Failed(String),
    /// The test as last answered, and why the latest refresh failed, if it did.
    Loaded(Rc<SenderTest>, Option<String>),
}

/// `/send-test/<token>`: the addresses, then the results, refreshed while the receivers
/// listen; polling stops when they stop, or when the page is left.
#[function_component(SendTestPage)]
pub fn send_test_page(props: &TestProps) -> Html {
    let shown = use_state(|| Shown::Loading);
    {
        let shown = shown.clone();
        use_effect_with(props.token.clone(), move |token| {
            set_title("Sender test — mxtls");
            let alive = Rc::new(Cell::new(true));
            let busy = Rc::new(Cell::new(false));
            let last = Rc::new(RefCell::new(None::<Rc<SenderTest>>));
            let interval = Rc::new(RefCell::new(None::<net::Interval>));
            let url = format!("/api/sender-tests/{}", percent_encode(token));
            let poll: Rc<dyn Fn()> = {
                let (alive, busy, last) = (alive.clone(), busy.clone(), last.clone());
                let (interval, shown) = (interval.clone(), shown.clone());
                Rc::new(move || {
                    if !alive.get() || busy.get() {
                        return;
                    }
                    busy.set(true);
                    let (alive, busy, last) = (alive.clone(), busy.clone(), last.clone());
                    let (interval, shown, url) = (interval.clone(), shown.clone(), url.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        let result = fetch_test(&url).await;
                        if !alive.get() {
                            return;
                        }
                        busy.set(false);
                        let previous = last.borrow().clone();
                        match (result, previous) {
                            (Ok(test), _) => {
                                if !test.listening() {
                                    interval.borrow_mut().take();
                                }
                                let test = Rc::new(test);
                                *last.borrow_mut() = Some(test.clone());
                                shown.set(Shown::Loaded(test, None));
                            }
                            (Err(f), Some(test)) => {
                                // Gone (expired) is final; anything else may pass.
                                if f.status == Some(404) {
                                    interval.borrow_mut().take();
                                }
                                shown.set(Shown::Loaded(test, Some(f.message)));
                            }
                            (Err(f), None) => {
                                interval.borrow_mut().take();
                                shown.set(Shown::Failed(if f.status == Some(404) {
                                    "There is no sender test with this link: it may have expired, or been mistyped.".into()
                                } else {
                                    format!("The test could not be loaded: {}.", f.message)
                                }));
                            }
                        }
                    });
                })
            };
            let fresh = FRESH
                .with(|f| f.borrow_mut().take())
                .filter(|t| t.token == token.as_str());
            let listening = match fresh {
                Some(test) => {
                    let listening = test.listening();
                    let test = Rc::new(test);
                    *last.borrow_mut() = Some(test.clone());
                    shown.set(Shown::Loaded(test, None));
                    listening
                }
                None => {
                    shown.set(Shown::Loading);
                    poll();
                    true
                }
            };
            if listening {
                let tick = poll.clone();
                *interval.borrow_mut() = net::every(POLL_MS, move || tick());
            }
            move || {
                alive.set(false);
                interval.borrow_mut().take();
            }
        });
    }
    let body = match &*shown {
        Shown::Loading => html! { <p role="status">{ "Loading the test…" }</p> },
        Shown::Failed(e) => html! {
            <div class="error-box" role="alert">
                <h2>{ "Sender test not available" }</h2>
                <p id="send-test-error">{ e }</p>
                { link(&props.navigate, Route::SendTest(None), "Start a new test".into()) }
            </div>
        },
        Shown::Loaded(test, stale) => results(test, stale.as_deref(), &props.navigate),
    };
    html! {
        <main id="main">
            <h1>{ "Sender test" }</h1>
            { body }
        </main>
    }
}

/// "Listening for another 12 minutes — …", or that the results are final.
fn listening_line(test: &SenderTest) -> String {
    if test.listening() {
        format!(
            "Listening for another {} — a sender that defers comes back, so a waiting verdict may still change.",
            present::age(test.until.0 - test.now.0)
        )
    } else {
        format!(
            "The receivers stopped listening at {}: these results are final.",
            test.until
        )
    }
}

fn results(test: &SenderTest, stale: Option<&str>, navigate: &Callback<Route>) -> Html {
    let addresses = test
        .addresses()
        .into_iter()
        .map(|(_, a)| a)
        .collect::<Vec<_>>()
        .join("\n");
    let summary = test.summary();
    let share = format!(
        "{}{}",
        net::origin(),
        Route::SendTest(Some(test.token.clone())).path()
    );
    html! {
        <>
            <p class="muted" id="send-test-started">{ format!("Started {}.", test.started) }</p>
            <section aria-labelledby="send-test-addresses-h">
                <h2 id="send-test-addresses-h">{ "Send to these addresses" }</h2>
                <p>{ "Send one message from the mail server you want to test to each address below — one message to all of them will do. This page updates itself as your server connects." }</p>
                <div class="record">
                    <pre id="send-test-addresses"><code>{ addresses.clone() }</code></pre>
                    <CopyButton text={AttrValue::from(addresses)} label="Copy addresses" />
                </div>
            </section>
            { table::published_notice(test) }
            <section aria-labelledby="send-test-results-h">
                <h2 id="send-test-results-h">{ "What your server did" }</h2>
                <p id="send-test-listening" class="muted">{ listening_line(test) }</p>
                if let Some(why) = stale {
                    <p class="note" id="send-test-stale">{ format!("The latest refresh failed ({why}); showing the results as last received.") }</p>
                }
                <p id="send-test-summary" aria-live="polite">{ summary }</p>
                { table::cases(test) }
                <p class="muted">{ "Connections that named no address (a refused certificate, a deferral) are matched to this test by your server's network; a test started at the same time from the same network shares them." }</p>
            </section>
            <div class="share">
                <label for="send-test-share">{ "Share this result" }</label>
                <input id="send-test-share" type="text" readonly=true value={share.clone()} />
                <CopyButton text={AttrValue::from(share)} label="Copy link" />
            </div>
            <p class="muted">{ "Anyone with this link sees these results, and can send to the addresses while the receivers listen." }</p>
            <p>{ link(navigate, Route::SendTest(None), "Start a new test".into()) }</p>
        </>
    }
}
