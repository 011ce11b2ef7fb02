//! The web app's pages and their URL paths: part of the contract between server and page.
//! The page draws the route its path names; the server answers every route with the app
//! and decides by the same parse which page may be framed (only the widget), so no raw
//! path prefix (`/widget/../r/x`) can make another page frameable.

/// A page of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Home,
    /// A live check of a domain.
    Check(String),
    /// A frozen report: a snapshot's evidence, by id.
    Snapshot(String),
    /// The compact, frameable view of a domain's latest check.
    Widget(String),
    /// A domain's history: its stored checks and what changed between them.
    History(String),
    /// The TLS-RPT report reader: reports judged in the browser against the latest check.
    /// Its own bundle (`dist/tls-rpt/`), so the home page does not load the report reader.
    TlsRpt,
    /// The sender test: `None` offers to start one, `Some(token)` shows the test's live
    /// results. A token has the form the server gives (`sender_test::view::token`).
    SendTest(Option<String>),
    /// A portfolio: a batch's domains at a glance, by the batch's id (32 hex digits, as the
    /// server makes them). Its own bundle (`dist/portfolio/`).
    Portfolio(String),
    NotFound,
}

impl Route {
    /// The route for a URL path (percent-encoded, as `location.pathname` gives it).
    pub fn parse(path: &str) -> Route {
        let path = path.trim_end_matches('/');
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let (first, rest) = (parts.next().unwrap_or(""), parts.next());
        let arg = rest
            .map(percent_decode)
            .filter(|a| !a.is_empty() && !a.contains('/') && a != "." && a != "..");
        match (first, arg) {
            ("", None) => Route::Home,
            ("check", Some(d)) => Route::Check(d),
            ("r", Some(id)) => Route::Snapshot(id),
            ("widget", Some(d)) => Route::Widget(d),
            ("d", Some(d)) => Route::History(d),
            ("tls-rpt", None) if rest.is_none() => Route::TlsRpt,
            ("send-test", None) if rest.is_none() => Route::SendTest(None),
            ("send-test", Some(t)) if is_token(&t) => Route::SendTest(Some(t)),
            ("b", Some(id)) if is_batch_id(&id) => Route::Portfolio(id),
            _ => Route::NotFound,
        }
    }

    /// The URL path of the route.
    pub fn path(&self) -> String {
        match self {
            Route::Home | Route::NotFound => "/".to_owned(),
            Route::Check(d) => format!("/check/{}", percent_encode(d)),
            Route::Snapshot(id) => format!("/r/{}", percent_encode(id)),
            Route::Widget(d) => format!("/widget/{}", percent_encode(d)),
            Route::History(d) => format!("/d/{}", percent_encode(d)),
            Route::TlsRpt => "/tls-rpt".to_owned(),
            Route::SendTest(None) => "/send-test".to_owned(),
            Route::SendTest(Some(t)) => format!("/send-test/{}", percent_encode(t)),
            Route::Portfolio(id) => format!("/b/{}", percent_encode(id)),
        }
    }
}

/// Whether `s` has the form of a sender test's token: 26 characters of `a`–`z` and `2`–`7`.
/// The same rule as `sender_test::view::is_token`, written out here because `route` sits
/// in a lower layer than `sender_test` and may not use it (ARCHITECTURE.md, the core's
/// layers); a unit test below holds the two to the same answers.
fn is_token(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

/// Whether `s` has the form of a batch's id: 32 lowercase hex digits.
fn is_batch_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Decodes `%XX` escapes; invalid escapes and invalid UTF-8 are kept as they are, so a
/// mistyped URL reaches the domain check and gets its clear error there.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// Escapes what may not stand in a path segment.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_to_routes_and_back() {
        for route in [
            Route::Home,
            Route::Check("example.org".into()),
            Route::Snapshot("0123abcd".into()),
            Route::Widget("mail.example".into()),
            Route::History("mail.example".into()),
            Route::TlsRpt,
            Route::SendTest(None),
            Route::SendTest(Some("abcdefghijklmnopqrstuvwxyz".into())),
            Route::SendTest(Some("a234567bcdefghijklmnopqrst".into())),
            Route::Portfolio("0123456789abcdef0123456789abcdef".into()),
        ] {
            assert_eq!(Route::parse(&route.path()), route);
        }
        assert_eq!(
            Route::parse("/check/example.org/"),
            Route::Check("example.org".into())
        );
        assert_eq!(Route::parse("/check/"), Route::NotFound);
        assert_eq!(Route::parse("/check/a/b"), Route::NotFound);
        assert_eq!(Route::parse("/nope"), Route::NotFound);
        assert_eq!(Route::parse("/tls-rpt/"), Route::TlsRpt);
        assert_eq!(Route::parse("/tls-rpt/x"), Route::NotFound);
        assert_eq!(Route::parse("/b/0123"), Route::NotFound);
        assert_eq!(
            Route::parse("/b/0123456789ABCDEF0123456789ABCDEF"),
            Route::NotFound
        );
        // Dot segments, raw or escaped, name no page (a path that a server or a browser
        // would resolve to another page must not be taken for the widget).
        assert_eq!(Route::parse("/widget/../r/x"), Route::NotFound);
        assert_eq!(Route::parse("/widget/%2e%2e"), Route::NotFound);
        assert_eq!(Route::parse("/widget/%2e%2e%2fr%2fx"), Route::NotFound);
    }

    #[test]
    fn unicode_domains_survive_the_url() {
        let route = Route::Check("bücher.example".into());
        assert_eq!(route.path(), "/check/b%C3%BCcher.example");
        assert_eq!(Route::parse(&route.path()), route);
        // A broken escape is kept, not dropped.
        assert_eq!(percent_decode("a%zzb%"), "a%zzb%");
        assert_eq!(percent_decode("%ff"), "%ff");
    }

    #[test]
    fn sender_tests_take_only_a_token() {
        let token = crate::sender_test::view::token([0x5A; 16]);
        assert_eq!(
            Route::parse(&format!("/send-test/{token}")),
            Route::SendTest(Some(token.clone()))
        );
        assert_eq!(
            Route::SendTest(Some(token.clone())).path(),
            format!("/send-test/{token}")
        );
        assert_eq!(Route::parse("/send-test"), Route::SendTest(None));
        assert_eq!(Route::parse("/send-test/"), Route::SendTest(None));
        assert_eq!(
            Route::parse(&format!("/send-test/{token}/")),
            Route::SendTest(Some(token.clone()))
        );
        for bad in [
            "/send-test/short",
            // Upper case, `0`, `1`, `8`, `9` are not in the alphabet.
            "/send-test/ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "/send-test/abcdefghijklmnopqrstuvwxy0",
            "/send-test/abcdefghijklmnopqrstuvwxy8",
            "/send-test/abcdefghijklmnopqrstuvwxyza",
            "/send-test/abcdefghijklmnopqrstuvwxyz/x",
            "/send-test/%2e%2e",
            "/send-test/..",
            "/send-tests",
        ] {
            assert_eq!(Route::parse(bad), Route::NotFound, "{bad}");
        }
        // An escaped token is still only a token once decoded.
        assert_eq!(
            Route::parse("/send-test/%61bcdefghijklmnopqrstuvwxyz"),
            Route::SendTest(Some("abcdefghijklmnopqrstuvwxyz".into()))
        );
    }

    /// The inline rule is the sender test's own.
    #[test]
    fn the_token_form_is_the_sender_tests() {
        use crate::sender_test::view;
        let mut samples = vec![
            String::new(),
            "a".repeat(25),
            "a".repeat(26),
            "a".repeat(27),
            "2".repeat(26),
            "7".repeat(26),
            "8".repeat(26),
            "1".repeat(26),
            "Z".repeat(26),
            format!("{}é", "a".repeat(24)),
            format!("{}-", "a".repeat(25)),
        ];
        samples.extend((0u8..=255).map(|b| view::token([b; 16])));
        for s in samples {
            assert_eq!(is_token(&s), view::is_token(&s), "{s:?}");
        }
    }
}
