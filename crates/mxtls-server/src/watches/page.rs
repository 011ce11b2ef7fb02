//! The watch pages, rendered here rather than in the web app (every byte of wasm counts
//! against the first load, and these must work without JavaScript): `GET /d/{domain}/watch`,
//! a form for an e-mail address or a webhook URL whose `POST` makes the watch through the same
//! code as `POST /api/watches` (`api::admit`, `api::make`: the cross-site refusal, the
//! quotas, the double opt-in); and `GET /api/watches/{id}/unsubscribe`, a button whose `POST`
//! ends the watch (a mail scanner that follows links must not end it for the owner).
//!
//! No script and no inline style: the page CSP (`csp`) allows a form posting to its own origin
//! and the app's stylesheet, which is linked when the built app has one.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mxtls_core::api::WatchRequest;
use mxtls_core::route::percent_encode;

use super::Target;
use super::api::{self, Refusal};
use crate::App;

/// The built app's stylesheet (`/style-<hash>.css`), if there is one: what the pages link.
#[derive(Debug, Clone, Default)]
pub struct Style(pub Option<String>);

/// Escapes text for HTML content and double-quoted attributes.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A whole page: `main` is trusted markup (its parts escaped by the caller).
pub fn shell(style: &Style, status: StatusCode, title: &str, main: &str) -> Response {
    let sheet = style
        .0
        .as_deref()
        .map(|href| format!("<link rel=\"stylesheet\" href=\"{}\">", esc(href)))
        .unwrap_or_default();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\"><title>{} — mxtls</title>\
         <link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">{sheet}</head>\
         <body><header class=\"top\"><a class=\"brand\" href=\"/\">mxtls</a></header>\
         <main id=\"main\">{main}</main></body></html>",
        esc(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// A page with one sentence and, optionally, a button posting to `form.0` labelled `form.1`.
pub fn notice(
    style: &Style,
    status: StatusCode,
    title: &str,
    text: &str,
    form: Option<(&str, &str)>,
) -> Response {
    let button = form
        .map(|(action, label)| {
            format!(
                "<form method=\"post\" action=\"{}\"><p><button type=\"submit\">{}</button></p></form>",
                esc(action),
                esc(label)
            )
        })
        .unwrap_or_default();
    shell(
        style,
        status,
        title,
        &format!("<h1>{}</h1><p>{}</p>{button}", esc(title), esc(text)),
    )
}

/// The domain's links: its report, history and feed.
fn links(domain: &str) -> String {
    let path = percent_encode(domain);
    format!(
        "<p id=\"links\"><a href=\"/check/{path}\">The report</a> · <a href=\"/d/{path}\">History</a> · \
         <a href=\"/d/{path}/feed.atom\" id=\"feed\">Atom feed of changes</a> \
         <span class=\"muted\">(no sign-up: add it to a feed reader)</span></p>"
    )
}

/// "6 hours", "3 seconds": how often a watched domain is checked.
fn every(interval: std::time::Duration) -> String {
    let s = interval.as_secs();
    let (n, one, many) = match s {
        3600.. => (s / 3600, "hour", "hours"),
        60.. => (s / 60, "minute", "minutes"),
        _ => (s, "second", "seconds"),
    };
    mxtls_core::present::count(n, one, many)
}

/// What the form was given, kept when it is shown again.
#[derive(Debug, Default, serde::Deserialize)]
pub struct WatchForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    webhook: String,
}

/// The form page, with an error and the user's input when a submission was refused.
fn form_page(
    app: &App,
    style: &Style,
    domain: &str,
    given: &WatchForm,
    error: Option<&Refusal>,
) -> Response {
    let path = percent_encode(domain);
    let d = esc(domain);
    let mail = app.delivery.smtp_relay.is_some();
    let error_box = error
        .map(|r| {
            format!(
                "<div class=\"error-box\" role=\"alert\" id=\"watch-error\"><p>The watch was not made: {}.</p></div>",
                esc(&r.why)
            )
        })
        .unwrap_or_default();
    let email = if mail {
        format!(
            "<p><label for=\"email\">Your e-mail address</label></p><div class=\"row\">\
             <input type=\"text\" inputmode=\"email\" autocomplete=\"email\" id=\"email\" name=\"email\" \
             value=\"{}\" aria-describedby=\"email-note\"></div>\
             <p class=\"muted\" id=\"email-note\">You get one mail with a confirmation link; nothing else is \
             sent until you follow it.</p><p><strong>or</strong></p>",
            esc(&given.email)
        )
    } else {
        "<p class=\"muted\" id=\"no-mail\">This server sends no mail; a webhook or the Atom feed \
         below tells you instead.</p>"
            .to_owned()
    };
    let main = format!(
        "<h1>Tell me when <span class=\"domain\">{d}</span> changes</h1>\
         <p class=\"lead\">This checker tests {d} again about every {every} and tells you what the \
         first check found, then only when the mail security changes.</p>{error_box}\
         <form method=\"post\" action=\"/d/{path}/watch\" class=\"check-form\" id=\"watch-form\">{email}\
         <p><label for=\"webhook\">A webhook URL</label></p><div class=\"row\">\
         <input type=\"text\" inputmode=\"url\" id=\"webhook\" name=\"webhook\" value=\"{}\" \
         placeholder=\"https://\" aria-describedby=\"webhook-note\"></div>\
         <p class=\"muted\" id=\"webhook-note\">Each notice is POSTed to it as JSON, with a link that \
         ends the watch.</p><p><button type=\"submit\">Watch {d}</button></p></form>{}",
        esc(&given.webhook),
        links(domain),
        every = every(app.watch.interval),
    );
    let status = error.map_or(StatusCode::OK, |r| r.status);
    shell(style, status, &format!("Watch {domain}"), &main)
}

/// The domain of a watch page's path, checked; else the page that says it is none.
fn domain_of(style: &Style, raw: &str) -> Result<String, Box<Response>> {
    mxtls_core::names::parse_user_domain(raw)
        .map(|d| d.to_string())
        .map_err(|e| {
            Box::new(notice(
                style,
                StatusCode::NOT_FOUND,
                "Not a domain",
                &format!("{raw}: {e}"),
                None,
            ))
        })
}

/// `GET /d/{domain}/watch`.
pub async fn show(
    State(app): State<Arc<App>>,
    Extension(style): Extension<Style>,
    Path(domain): Path<String>,
) -> Response {
    match domain_of(&style, &domain) {
        Ok(d) => form_page(&app, &style, &d, &WatchForm::default(), None),
        Err(page) => *page,
    }
}

/// `POST /d/{domain}/watch` (a form): the watch made as `POST /api/watches` makes it.
pub async fn submit(
    State(app): State<Arc<App>>,
    Extension(style): Extension<Style>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(domain): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let domain = match domain_of(&style, &domain) {
        Ok(d) => d,
        Err(page) => return *page,
    };
    let given: WatchForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let made = async {
        api::admit(&headers, body.len())?;
        let filled = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let request = WatchRequest {
            domain: domain.clone(),
            webhook: filled(&given.webhook),
            email: filled(&given.email),
        };
        if request.webhook.is_some() == request.email.is_some() {
            return Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                why: "give an e-mail address or a webhook URL, one of them".into(),
                retry_after: None,
            });
        }
        api::make(&app, peer, &headers, request).await
    }
    .await;
    let made = match made {
        Ok(m) => m,
        Err(r) => return form_page(&app, &style, &domain, &given, Some(&r)),
    };
    let d = esc(&made.domain);
    let end = format!("/api/watches/{}/unsubscribe", made.id);
    let main = if made.state == "awaiting-confirmation" {
        format!(
            "<h1>Check your mail</h1><p id=\"watch-made\">A confirmation link is on its way to \
             <strong>{}</strong>. Follow it and press the button there; nothing about {d} is sent \
             to this address until you do.</p>{}",
            esc(given.email.trim()),
            links(&made.domain)
        )
    } else {
        format!(
            "<h1>Webhook watch created</h1><p id=\"watch-made\">{d} is watched: its first report is \
             POSTed to the webhook after the next check, then a notice whenever something \
             changes.</p><p>The watch's id, its only key: <code id=\"watch-id\">{id}</code></p>\
             <p>To end it, open <a href=\"{end}\" id=\"unsubscribe\">{end}</a> and press the button \
             (every notice carries this link as <code>unsubscribe</code>), or \
             <code>curl -X DELETE …/api/watches/{id}</code>.</p>{}",
            links(&made.domain),
            id = made.id,
        )
    };
    shell(
        &style,
        StatusCode::CREATED,
        &format!("Watch {}", made.domain),
        &main,
    )
}

/// The watch an unsubscribe link names, or the page that says why not.
async fn watch_of(app: &App, style: &Style, id: &str) -> Result<super::Watch, Box<Response>> {
    let gone = || {
        notice(
            style,
            StatusCode::NOT_FOUND,
            "No such watch",
            "This watch was ended already, or the link is not complete.",
            None,
        )
    };
    if !api::is_id(id) {
        return Err(Box::new(gone()));
    }
    match app.store.watch(id).await {
        Ok(Some(w)) => Ok(w),
        Ok(None) => Err(Box::new(gone())),
        Err(_) => Err(Box::new(notice(
            style,
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The watch store did not answer; try again in a moment.",
            None,
        ))),
    }
}

fn kind(w: &super::Watch) -> &'static str {
    match w.target {
        Target::Email(_) => "mail",
        Target::Webhook(_) => "webhook notices",
    }
}

/// `GET /api/watches/{id}/unsubscribe`: the button; following the link changes nothing.
pub async fn unsubscribe_page(
    State(app): State<Arc<App>>,
    Extension(style): Extension<Style>,
    Path(id): Path<String>,
) -> Response {
    match watch_of(&app, &style, &id).await {
        Ok(w) => notice(
            &style,
            StatusCode::OK,
            "End this watch",
            &format!(
                "Press the button to stop the {} about {}.",
                kind(&w),
                w.domain
            ),
            Some((&format!("/api/watches/{id}/unsubscribe"), "End the watch")),
        ),
        Err(page) => *page,
    }
}

/// `POST /api/watches/{id}/unsubscribe`: ends the watch (as `DELETE /api/watches/{id}`).
pub async fn unsubscribe(
    State(app): State<Arc<App>>,
    Extension(style): Extension<Style>,
    Path(id): Path<String>,
) -> Response {
    let w = match watch_of(&app, &style, &id).await {
        Ok(w) => w,
        Err(page) => return *page,
    };
    match app.store.delete_watch(&id).await {
        Ok(true) => shell(
            &style,
            StatusCode::OK,
            "Watch ended",
            &format!(
                "<h1>Watch ended</h1><p id=\"ended\">No more {} about {} will be sent.</p>{}",
                kind(&w),
                esc(&w.domain),
                links(&w.domain)
            ),
        ),
        Ok(false) => notice(
            &style,
            StatusCode::NOT_FOUND,
            "No such watch",
            "This watch was ended already.",
            None,
        ),
        Err(_) => notice(
            &style,
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The watch store did not answer; the watch was not ended. Try again in a moment.",
            None,
        ),
    }
}

/// The unsubscribe link of watch `id` on the server at `base`.
pub fn unsubscribe_url(base: &str, id: &str) -> String {
    format!(
        "{}/api/watches/{id}/unsubscribe",
        base.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_intervals_worded() {
        assert_eq!(
            esc("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(every(std::time::Duration::from_secs(21_600)), "6 hours");
        assert_eq!(every(std::time::Duration::from_secs(60)), "1 minute");
        assert_eq!(every(std::time::Duration::from_secs(3)), "3 seconds");
    }
}
