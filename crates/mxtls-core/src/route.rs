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
        }
    }
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
}
