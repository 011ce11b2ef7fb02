//! The server's parsers of network and user input (`mxtls-server`): who a client is behind
//! proxies (`Forwarded`, `X-Forwarded-For`, address blocks), the targets of watches (webhook
//! URLs, mail addresses), and the Atom writer, whose output must be well-formed XML whatever
//! the domain's answers say. Their seeds are written by hand (the test world has no proxy
//! and no watches to record them from).

use std::net::IpAddr;
use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use mxtls_core::Report;
use mxtls_server::clients::{self, Cidr, ClientKey, TrustedProxies};

/// Forwarding headers as a proxy chain or a forger writes them: one header per line, its
/// name chosen by the line's first byte (`F` `Forwarded`, `X` `X-Forwarded-For`, else
/// `Origin`/`Sec-Fetch-Site`), read from a trusted proxy and from anyone else. Each line is
/// also read as an address block.
pub fn forwarded(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some((&which, value)) = line.split_first() else {
            continue;
        };
        if let Ok(text) = std::str::from_utf8(value)
            && let Ok(cidr) = text.parse::<Cidr>()
        {
            for ip in [
                "10.1.2.3",
                "::ffff:10.1.2.3",
                "2001:db8::1",
                "0.0.0.0",
                "::",
            ] {
                let _ = cidr.contains(ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])));
            }
        }
        let name = match which {
            b'F' => HeaderName::from_static("forwarded"),
            b'X' => HeaderName::from_static("x-forwarded-for"),
            b'O' => HeaderName::from_static("origin"),
            _ => HeaderName::from_static("sec-fetch-site"),
        };
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append(name, v);
        }
    }
    let proxies = TrustedProxies(
        ["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"]
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect(),
    );
    let from: Vec<Cidr> = ["192.0.2.0/24"]
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    for peer in ["10.0.0.1", "2001:db8::5", "127.0.0.1", "192.0.2.1", "::1"] {
        let peer: IpAddr = peer.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let client = proxies.client(peer, &headers);
        if !proxies.trusts(peer) {
            assert_eq!(client, peer, "headers count only from trusted proxies");
        } else {
            assert!(
                client == peer || !proxies.trusts(client),
                "the client is the proxy or someone it forwards for"
            );
        }
        let _ = ClientKey::of(client).to_string();
        let allowed = clients::may_read_metrics(&proxies, &from, peer, &headers);
        if proxies.trusts(peer) {
            assert_eq!(allowed, from.iter().any(|c| c.contains(client)));
        }
    }
    let _ = clients::cross_site(&headers, Some("checker.example"));
    let _ = clients::cross_site(&headers, None);
}

/// What someone gives a watch to notify: a webhook URL and a mail address, checked as the
/// watch API checks them (with and without private targets allowed).
pub fn watch_target(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(hook) = mxtls_server::notify::Webhook::parse(&text) {
        assert!(!hook.host.is_empty(), "a webhook has a host");
        assert!(
            hook.uri
                .authority()
                .is_some_and(|a| !a.as_str().contains('@')),
            "no user info"
        );
        assert_eq!(hook.https, hook.uri.scheme_str() == Some("https"));
    }
    for private in [false, true] {
        if let Ok(mailbox) = mxtls_server::notify::parse_email(&text, private) {
            let _ = mailbox.to_string();
            assert!(private || !mailbox.email.domain().starts_with('['));
        }
    }
}

/// The fixture's evidence judged once: the report the Atom target varies.
fn base_report() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        let evidence = mxtls_core::Evidence::from_json(include_str!(
            "../../../crates/mxtls-core/tests/fixtures/evidence-v1.json"
        ))
        .expect("the core's fixture loads");
        mxtls_core::analyse(&evidence, evidence.probe.finished_at)
    })
}

/// The Atom feed over arbitrary text: parts separated by `0xff` (never inside UTF-8) are the
/// base URL, the domain, then per snapshot its answer and a finding's title (every other
/// snapshot without its first finding, so entries carry the text in their changes). The feed
/// must read as Atom, contain only characters XML allows, and have as many entries as the
/// writer made (text cannot open or close elements).
pub fn atom_feed(data: &[u8]) {
    let complete = data.first().is_some_and(|b| b & 1 == 1);
    let mut parts = data
        .split(|b| *b == 0xff)
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let base = parts.next().unwrap_or_default();
    let domain = parts.next().unwrap_or_default();
    let mut rows = Vec::new();
    let rest: Vec<String> = parts.collect();
    for (i, pair) in rest.chunks(2).take(6).enumerate() {
        let mut report = base_report().clone();
        report.summary.headline = pair[0].clone();
        if let (Some(title), Some(f)) = (pair.get(1), report.findings.first_mut()) {
            f.title = title.clone();
        }
        if i % 2 == 1 && !report.findings.is_empty() {
            report.findings.remove(0);
        }
        rows.push((format!("snap{i}"), 1_790_000_000 - 60 * i as i64, report));
    }
    let out = mxtls_server::history::atom(&base, &domain, &rows, complete);
    if let Some(c) = out.chars().find(|c| {
        (*c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    }) {
        panic!("a character XML does not allow: {c:?}");
    }
    let feed = out
        .parse::<atom_syndication::Feed>()
        .unwrap_or_else(|e| panic!("the feed is not Atom ({e}): {out}"));
    assert_eq!(feed.entries().len(), out.matches("<entry>").count());
    assert!(feed.entries().len() <= rows.len());
}
