//! `/about/probe`: who knocks on a mail server when someone checks a domain here — the
//! probe's addresses and EHLO name, what it does and never does, how often it may come, and
//! how a postmaster opts a host out. Rendered here, without script, like the watch pages: a
//! postmaster following the link from a log line should not need the app.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::App;
use crate::watches::page::{Style, esc, shell};

/// What the operator says about the probe (`mxtls serve --operator-contact`, the budget).
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    /// How a postmaster reaches the operator: a mail address or a URL.
    pub contact: Option<String>,
    /// Sessions per tested address per `target_window` (`--target-sessions`).
    pub target_sessions: u64,
    pub target_window: Duration,
}

impl Default for Operator {
    fn default() -> Operator {
        Operator {
            contact: None,
            target_sessions: 6,
            target_window: Duration::from_secs(60),
        }
    }
}

/// `GET /about/probe`.
pub async fn probe_page(
    State(app): State<Arc<App>>,
    Extension(style): Extension<Style>,
) -> Response {
    let probe = &app.probe;
    let op = &app.operator;
    let addresses = if probe.source.list().is_empty() {
        "<p>The operator has not pinned the probe's addresses: connections leave from this \
         machine's own address (the one its network gives it).</p>"
            .to_owned()
    } else {
        let items: String = probe
            .source
            .list()
            .iter()
            .map(|ip| format!("<li><code>{ip}</code></li>"))
            .collect();
        format!("<ul class=\"probe-addresses\">{items}</ul>")
    };
    let opted_out = match &probe.never_probe {
        Some(list) => match list.local() {
            Some(l) => format!(
                " The list holds {} today.",
                mxtls_core::present::count_of(l.len(), "entry", "entries")
            ),
            None => String::new(),
        },
        None => " This checker keeps no such list yet: ask the operator to start one.".into(),
    };
    let contact = match &op.contact {
        Some(c) if c.contains('@') && !c.contains(':') => {
            format!("<a href=\"mailto:{0}\">{0}</a>", esc(c))
        }
        Some(c) if c.starts_with("https://") || c.starts_with("http://") => {
            format!("<a href=\"{0}\">{0}</a>", esc(c))
        }
        Some(c) => esc(c),
        None => "the operator of this checker (no contact is published here)".into(),
    };
    let window = op.target_window.as_secs();
    let posture = mxtls_core::posture::MAX_SESSIONS;
    let main = format!(
        "<h1>Who is probing your mail server?</h1>\
         <p>This is an mxtls checker: it tells the owner of a mail domain whether mail to it \
         travels over authenticated TLS. When someone checks a domain here, its probe \
         connects to that domain's mail servers on port 25, as any sending mail server \
         would.</p>\
         <h2>How to recognise it</h2>\
         <dl class=\"facts\">\
         <dt>EHLO name</dt><dd><code id=\"ehlo\">{ehlo}</code></dd>\
         <dt>Addresses</dt><dd>{addresses}</dd>\
         </dl>\
         <h2>What it does</h2>\
         <ul>\
         <li>Per address of each MX host: connects, reads the greeting, says EHLO, starts \
         TLS (STARTTLS) and completes a handshake — once per kind of key the server holds \
         (at most 3) — then says QUIT.</li>\
         <li>When the operator asks for the TLS posture (versions, weak suites, key \
         exchange): at most {posture} more short sessions per address, each ending after \
         the server's first TLS reply.</li>\
         <li>Looks up the domain in DNS through its resolver, asks the domain's \
         authoritative name servers directly (one query per record set), and fetches the \
         MTA-STS policy over HTTPS when the domain publishes one.</li>\
         </ul>\
         <h2>What it never does</h2>\
         <ul>\
         <li>It never sends MAIL FROM, RCPT TO or DATA: no message, no address guessing, no \
         relay test.</li>\
         <li>It never opens more than {sessions} sessions with one address in {window} \
         seconds, never two at once, over all the checks of all its users; after a 421 or a \
         refused connection it leaves the address alone for longer.</li>\
         </ul>\
         <h2>Opting out</h2>\
         <p>A postmaster who does not want a host tested from here asks {contact}. The \
         operator keeps a list of such hosts (names, zones, addresses or address blocks); \
         the probe never opens an SMTP session with them, and the report of any domain that uses them \
         says: \u{201c}the operator of this checker was asked not to test this \
         host\u{201d}.{opted_out}</p>",
        ehlo = esc(&probe.helo),
        sessions = op.target_sessions,
    );
    shell(
        &style,
        StatusCode::OK,
        "Who is probing your mail server?",
        &main,
    )
}
