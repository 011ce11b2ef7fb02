//! The built web app (Trunk's `dist/`), read into memory at start-up and served from there.
//!
//! Reading it once means no request touches the file system: no path can walk out of the
//! directory, a symlink planted in it is never followed (it is skipped, with a warning), and
//! a rebuilt app is picked up by restarting the server — which `scripts/run.sh` does.
//! The app's pages (`mxtls_core::route`) are answered with `index.html`; an unknown path
//! gets `index.html` too, with status 404, so the app shows its own "not found" page.
//! Three pages have bundles of their own, built by further Trunk runs: `/d/<domain>`
//! (`history/index.html`), `/tls-rpt` (`tls-rpt/index.html`) and `/b/<id>`
//! (`portfolio/index.html`); without them, those paths get the app's page too.
//!
//! The icon (`web/favicon.svg`, which Trunk copies into `dist/`) is also compiled in: every
//! page links it as `/favicon.svg`, and `/favicon.ico` — which browsers and feed readers ask
//! for unbidden — answers with the same SVG, so neither is ever a 404, built app or not.

use std::collections::HashMap;
use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use mxtls_core::route::Route;
use sha2::{Digest, Sha256};

/// A file's bytes with the headers it is served with.
struct File {
    body: axum::body::Bytes,
    content_type: &'static str,
    etag: String,
    cache: &'static str,
}

/// The app in memory; empty when the directory has no `index.html`.
pub struct WebApp {
    files: HashMap<String, File>,
    /// Why the app is missing, for the start-up warning and the answer to `/`.
    pub missing: Option<String>,
}

/// The report reader's page (`/tls-rpt`), a bundle of its own.
const READER: &str = "/tls-rpt/index.html";
/// The history page (`/d/<domain>`), a bundle of its own.
const HISTORY: &str = "/history/index.html";
/// The portfolio page (`/b/<id>`), a bundle of its own.
const PORTFOLIO: &str = "/portfolio/index.html";

/// The page of a route that has a bundle of its own.
fn bundle(route: &Route) -> Option<&'static str> {
    match route {
        Route::TlsRpt => Some(READER),
        Route::History(_) => Some(HISTORY),
        Route::Portfolio(_) => Some(PORTFOLIO),
        _ => None,
    }
}

/// The icon, for `/favicon.svg` and `/favicon.ico` when the built app has none.
const ICON: &[u8] = include_bytes!("../../../web/favicon.svg");

/// A single file larger than this is not part of a web app (the wasm is ~1 MB).
const MAX_FILE: u64 = 32 * 1024 * 1024;
const MAX_FILES: usize = 1000;

impl WebApp {
    /// Reads every regular file under `dir` (not following symlinks).
    pub fn load(dir: &Path) -> WebApp {
        let mut app = WebApp {
            files: HashMap::new(),
            missing: None,
        };
        let mut skipped = Vec::new();
        app.read_dir(dir, "", &mut skipped);
        for path in &skipped {
            crate::say!("warning: not serving {path}: a symlink, or not a regular file");
        }
        let svg = app
            .files
            .get("/favicon.svg")
            .map(|f| f.body.to_vec())
            .unwrap_or_else(|| ICON.to_vec());
        // A built `favicon.ico` is served as it is; otherwise the SVG answers for it.
        for path in ["/favicon.svg", "/favicon.ico"] {
            if !app.files.contains_key(path) {
                app.files
                    .insert(path.to_owned(), file("favicon.svg", svg.clone()));
            }
        }
        if !app.files.contains_key("/index.html") {
            app.missing = Some(format!(
                "the web app is not built: {} has no index.html (build it with `trunk build --release` in web/, or give --web-dir); the API still works",
                dir.display()
            ));
        }
        app
    }

    fn read_dir(&mut self, dir: &Path, prefix: &str, skipped: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let url = format!("{prefix}/{name}");
            // `file_type` does not follow symlinks.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                self.read_dir(&entry.path(), &url, skipped);
            } else if kind.is_file() && self.files.len() < MAX_FILES {
                match std::fs::metadata(entry.path()) {
                    Ok(m) if m.len() <= MAX_FILE => {}
                    _ => continue,
                }
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    self.files.insert(url.clone(), file(&name, bytes));
                }
            } else {
                skipped.push(entry.path().display().to_string());
            }
        }
    }

    /// The answer to `GET path`.
    pub fn get(&self, path: &str, request: &HeaderMap) -> Response<Body> {
        let (file, status) = match self.files.get(path) {
            Some(f) if !path.ends_with("/index.html") => (Some(f), StatusCode::OK),
            _ => match Route::parse(path) {
                Route::NotFound => (self.files.get("/index.html"), StatusCode::NOT_FOUND),
                route => {
                    let page = bundle(&route)
                        .filter(|b| self.files.contains_key(*b))
                        .unwrap_or("/index.html");
                    (self.files.get(page), StatusCode::OK)
                }
            },
        };
        let Some(file) = file else {
            let text = self.missing.clone().unwrap_or_default();
            return plain(StatusCode::SERVICE_UNAVAILABLE, text);
        };
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == file.etag.as_bytes());
        let mut response = if fresh && status == StatusCode::OK {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            let mut r = Response::new(Body::from(file.body.clone()));
            *r.status_mut() = status;
            r
        };
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.content_type),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(file.cache));
        if let Ok(etag) = HeaderValue::from_str(&file.etag) {
            headers.insert(header::ETAG, etag);
        }
        response
    }

    /// The app's stylesheet as `index.html` links it (Trunk names it after its content), if
    /// it is served: what the server-rendered pages link too.
    pub fn stylesheet(&self) -> Option<String> {
        let index = std::str::from_utf8(&self.files.get("/index.html")?.body).ok()?;
        stylesheet_in(index).filter(|href| self.files.contains_key(href))
    }

    /// The pages whose inline scripts the content security policy allows: the bootstraps
    /// of the app and of its other bundles.
    pub fn index(&self) -> String {
        ["/index.html", HISTORY, READER, PORTFOLIO]
            .iter()
            .filter_map(|p| self.files.get(*p))
            .filter_map(|f| std::str::from_utf8(&f.body).ok())
            .collect()
    }
}

/// The `href` of the first `<link rel="stylesheet">` of a page.
fn stylesheet_in(html: &str) -> Option<String> {
    html.split("<link").skip(1).find_map(|rest| {
        let tag = rest.split('>').next()?;
        if !tag.contains("rel=\"stylesheet\"") {
            return None;
        }
        let (_, href) = tag.split_once("href=\"")?;
        href.split('"').next().map(str::to_owned)
    })
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn file(name: &str, bytes: Vec<u8>) -> File {
    let extension = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let content_type = match extension {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    // Trunk names built assets after their content (`app-<16 hex>.js`): those never change.
    let hashed = name
        .rsplit_once('-')
        .map(|(_, tail)| tail.split(['.', '_']).next().unwrap_or(""))
        .is_some_and(|h| h.len() >= 15 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    let cache = if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let digest = Sha256::digest(&bytes);
    let etag = format!(
        "\"{}\"",
        digest[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    File {
        body: bytes.into(),
        content_type,
        etag,
        cache,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_is_found_in_the_page() {
        let html = r#"<link rel="icon" href="/favicon.svg"><link rel="stylesheet" href="/style-8fb0fc66b970042.css" integrity="sha384-x"/>"#;
        assert_eq!(
            stylesheet_in(html).as_deref(),
            Some("/style-8fb0fc66b970042.css")
        );
        assert_eq!(stylesheet_in("<link rel=\"icon\" href=\"/x\">"), None);
    }

    #[test]
    fn hashed_assets_are_immutable_and_the_rest_revalidated() {
        assert_eq!(
            file("mxtls-web-64bc559db3e7ae0c_bg.wasm", vec![]).cache,
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            file("style-8fb0fc66b970042.css", vec![]).cache,
            "public, max-age=31536000, immutable"
        );
        assert_eq!(file("embed.js", vec![]).cache, "no-cache");
        assert_eq!(file("index.html", vec![]).cache, "no-cache");
    }
}
