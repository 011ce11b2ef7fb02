//! How old a shared report is: a `/r/<id>` link is a frozen check, opened perhaps days
//! later. It says when it was checked, and whether a newer check of the domain exists
//! (`/api/domains/{domain}/latest`, a [`CheckAnswer`]), with a link to it.

use mxtls_core::api::CheckAnswer;
use mxtls_core::evidence::UnixTime;
use mxtls_core::present::{self, Mood};
use mxtls_core::route::{Route, percent_encode};
use yew::prelude::*;

use crate::net;
use crate::pages::link;

/// `2026-11-28T15:04:05Z`, for `<time datetime>`.
fn iso(at: UnixTime) -> String {
    at.to_string().replace(" UTC", "Z").replacen(' ', "T", 1)
}

/// "Snapshot taken 2026-11-28 15:04:05 UTC — checked 3 days ago.", the age a `<time>`
/// whose hover shows the date again.
pub fn taken(at: UnixTime, now_s: i64) -> Html {
    let full = at.to_string();
    html! {
        <p class="muted" id="taken">
            { format!("Snapshot taken {full} — checked ") }
            <time datetime={iso(at)} title={full.clone()}>{ format!("{} ago", present::age(now_s - at.0)) }</time>
            { "." }
        </p>
    }
}

/// What the latest check of the domain is, seen from a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Latest {
    /// This snapshot is the latest.
    This,
    /// A newer check: its snapshot and when it finished.
    Newer { snapshot: String, at: UnixTime },
}

/// Compares the snapshot shown (`snapshot`, finished `at`) with the domain's latest.
pub fn latest(snapshot: &str, at: UnixTime, answer: &CheckAnswer) -> Latest {
    let theirs = answer.evidence.probe.finished_at;
    if answer.snapshot != snapshot && theirs.0 >= at.0 {
        Latest::Newer {
            snapshot: answer.snapshot.clone(),
            at: theirs,
        }
    } else {
        Latest::This
    }
}

#[derive(Properties, PartialEq)]
pub struct NewerProps {
    pub domain: AttrValue,
    pub snapshot: AttrValue,
    /// When the snapshot's check finished (Unix seconds).
    pub at: i64,
    pub navigate: Callback<Route>,
}

/// "A newer check of example.org exists, made 2 minutes ago: open it", or that this is the
/// latest; nothing while it is looked up or when the lookup fails (the report stands).
#[function_component(Newer)]
pub fn newer(props: &NewerProps) -> Html {
    let state = use_state(|| None::<Latest>);
    {
        let state = state.clone();
        let (snapshot, at) = (props.snapshot.to_string(), UnixTime(props.at));
        use_effect_with(props.domain.clone(), move |domain| {
            state.set(None);
            let url = format!("/api/domains/{}/latest", percent_encode(domain));
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(text) = net::get_text(&url).await
                    && let Ok(answer) = CheckAnswer::from_json(&text)
                {
                    state.set(Some(latest(&snapshot, at, &answer)));
                }
            });
        });
    }
    let again = {
        let (navigate, domain) = (props.navigate.clone(), props.domain.to_string());
        Callback::from(move |_| navigate.emit(Route::Check(domain.clone())))
    };
    match &*state {
        None => html! {},
        Some(Latest::This) => html! {
            <p class="muted" id="latest-note">{ format!("This is the latest check of {} on this server.", props.domain) }</p>
        },
        Some(Latest::Newer { snapshot, at }) => html! {
            <section class={classes!("newer", Mood::Info.id())} id="newer" aria-label="A newer check">
                <p>
                    { format!("A newer check of {} exists, made ", props.domain) }
                    <time datetime={iso(*at)} title={at.to_string()}>{ format!("{} ago", present::age(net::now() - at.0)) }</time>
                    { ": " }
                    { link(&props.navigate, Route::Snapshot(snapshot.clone()), "open it".into()) }
                    { ". " }
                    <button type="button" id="check-again-now" onclick={again}>{ "Check again now" }</button>
                </p>
            </section>
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_is_machine_readable() {
        assert_eq!(iso(UnixTime(1_764_342_245)), "2025-11-28T15:04:05Z");
    }
}
