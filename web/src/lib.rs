//! The mxtls web app. The server gathers evidence; this page judges it with `mxtls-core`
//! compiled to wasm and draws the report. Pages: the home page with the domain form,
//! `/check/<domain>` (a live check), `/r/<snapshot>` (a frozen report), `/widget/<domain>`
//! (compact, frameable), `/d/<domain>` (the domain's history and what changed).
//!
//! Three bundles are built from this library: `mxtls-web` (`src/main.rs`, every page above
//! but the history), `mxtls-history` (`src/bin/mxtls-history.rs`, `/d/<domain>`, [`history`])
//! and `mxtls-tls-rpt` (`src/bin/mxtls-tls-rpt.rs`, the TLS-RPT report reader at `/tls-rpt`,
//! [`tls_rpt`]), so that neither is part of the home page's first load.

pub mod freshness;
pub mod history;
pub mod live;
pub mod net;
pub mod pages;
pub mod portfolio;
pub mod refusal;
pub mod report;
pub mod send_test;
pub mod tls_rpt;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use yew::prelude::*;

use mxtls_core::route::Route;
use pages::{CheckPage, Home, NotFound, SnapshotPage, WidgetPage};

fn current_route() -> Route {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    Route::parse(&path)
}

#[function_component(App)]
fn app() -> Html {
    let route = use_state(current_route);
    {
        // Back and forward buttons.
        let route = route.clone();
        use_effect_with((), move |_| {
            let listener = Closure::<dyn Fn()>::new(move || route.set(current_route()));
            let window = web_sys::window();
            if let Some(w) = &window {
                let _ = w.add_event_listener_with_callback(
                    "popstate",
                    listener.as_ref().unchecked_ref(),
                );
            }
            move || {
                if let Some(w) = window {
                    let _ = w.remove_event_listener_with_callback(
                        "popstate",
                        listener.as_ref().unchecked_ref(),
                    );
                }
            }
        });
    }
    let navigate = {
        let route = route.clone();
        Callback::from(move |next: Route| {
            if let Some(w) = web_sys::window() {
                if let Ok(history) = w.history() {
                    let _ = history.push_state_with_url(
                        &wasm_bindgen::JsValue::NULL,
                        "",
                        Some(&next.path()),
                    );
                }
                w.scroll_to_with_x_and_y(0.0, 0.0);
            }
            route.set(next);
        })
    };
    let page = match &*route {
        Route::Home => html! { <Home navigate={navigate.clone()} /> },
        Route::Check(d) => html! { <CheckPage domain={d.clone()} navigate={navigate.clone()} /> },
        Route::Snapshot(id) => {
            html! { <SnapshotPage id={id.clone()} navigate={navigate.clone()} /> }
        }
        Route::Widget(d) => {
            return html! { <WidgetPage domain={d.clone()} navigate={navigate.clone()} /> };
        }
        Route::SendTest(None) => html! { <send_test::SendTestStart navigate={navigate.clone()} /> },
        Route::SendTest(Some(t)) => {
            html! { <send_test::SendTestPage token={t.clone()} navigate={navigate.clone()} /> }
        }
        // `/d/…` and `/tls-rpt` are bundles of their own (`history`, `tls_rpt`); this one
        // only sees them when the server has not got them built.
        Route::History(_) | Route::TlsRpt | Route::Portfolio(_) | Route::NotFound => {
            html! { <NotFound navigate={navigate.clone()} /> }
        }
    };
    let home = {
        let navigate = navigate.clone();
        Callback::from(move |e: MouseEvent| {
            e.prevent_default();
            navigate.emit(Route::Home);
        })
    };
    pages::frame(
        page,
        Some(home),
        pages::JUDGED_HERE,
        ("/tls-rpt", "TLS-RPT reports"),
    )
}

/// Starts the checker's app (the `mxtls-web` bundle) in the page's body.
pub fn start() {
    mxtls_core::names::set_idna(net::domain_to_ascii);
    yew::Renderer::<App>::new().render();
}
