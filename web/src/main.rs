//! The mxtls web app. Until the live checker lands (probe + API), it judges evidence pasted
//! into the page: the same `mxtls_core::analyse` as the CLI, running in the browser.

use mxtls_core::{Evidence, Severity, analyse, render};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

/// A recorded run against the test world, so the page shows something without a network.
const EXAMPLE: &str = include_str!("../../crates/mxtls-core/tests/fixtures/evidence-v1.json");

#[function_component(App)]
fn app() -> Html {
    let input = use_state(String::new);
    let output = use_state(|| None::<Result<(String, String, usize), String>>);

    let on_input = {
        let input = input.clone();
        Callback::from(move |e: InputEvent| {
            let area: HtmlTextAreaElement = e.target_unchecked_into();
            input.set(area.value());
        })
    };
    let on_example = {
        let input = input.clone();
        Callback::from(move |_| input.set(EXAMPLE.to_owned()))
    };
    let on_analyse = {
        let input = input.clone();
        let output = output.clone();
        Callback::from(move |_| {
            let result = Evidence::from_json(&input).map(|ev| {
                let report = analyse(&ev, ev.probe.finished_at);
                (
                    report.summary.headline.clone(),
                    render::text(&report, false),
                    report.count(Severity::Error),
                )
            });
            output.set(Some(result.map_err(|e| e.to_string())));
        })
    };

    html! {
        <main>
            <h1>{ "mxtls" }</h1>
            <p>{ "Is mail to your domain protected by authenticated TLS? Paste the evidence of a probe run (mxtls analyse --json) to judge it here, in your browser." }</p>
            <label for="evidence">{ "Evidence (JSON)" }</label>
            <textarea id="evidence" rows="10" value={(*input).clone()} oninput={on_input} />
            <div class="actions">
                <button id="example" onclick={on_example}>{ "Load an example" }</button>
                <button id="analyse" onclick={on_analyse}>{ "Judge" }</button>
            </div>
            {
                match &*output {
                    None => html! {},
                    Some(Err(e)) => html! { <p role="alert" class="error">{ e }</p> },
                    Some(Ok((headline, text, errors))) => html! {
                        <section aria-live="polite">
                            <h2 id="headline" class={ if *errors > 0 { "bad" } else { "good" } }>{ headline }</h2>
                            <pre id="report">{ text }</pre>
                        </section>
                    },
                }
            }
        </main>
    }
}

fn main() {
    yew::Renderer::<App>::new().render();
}
