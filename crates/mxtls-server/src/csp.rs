//! The content security policy: as strict as a wasm app allows. Scripts run only from our
//! origin plus Trunk's one inline bootstrap script, allowed by its hash (read from the built
//! `index.html` at start-up), and wasm compilation is allowed; nothing may frame the pages
//! except the widget.

use base64::Engine;
use sha2::{Digest, Sha256};

/// Who may frame a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Every page but the widget.
    Deny,
    /// The widget: made to be embedded in any site.
    Anyone,
}

/// The policy for the app's pages, given the built app's `index.html`.
pub fn policy(index: &str, framing: Framing) -> String {
    let hashes: String = inline_scripts(index)
        .map(|script| {
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()))
            )
        })
        .collect();
    let ancestors = match framing {
        Framing::Deny => "'none'",
        Framing::Anyone => "*",
    };
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
    )
}

/// The bodies of the inline `<script>` elements of a page.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (open, body) = rest.split_once('>')?;
        if open.contains("src=") {
            return None;
        }
        body.split_once("</script>").map(|(script, _)| script)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_found_and_external_ones_skipped() {
        let html = r#"<script type="module">init()</script><script src="/a.js"></script><script>x</script>"#;
        assert_eq!(
            inline_scripts(html).collect::<Vec<_>>(),
            vec!["init()", "x"]
        );
    }
}
