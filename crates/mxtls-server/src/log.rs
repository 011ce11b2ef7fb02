//! The server's log: one line per event on standard error, as text (`mxtls: …`, for a
//! terminal and journald) or as JSON (`--log-format json`, for a log pipeline): `time`,
//! `level`, `msg`, and an event's own fields (a check: `check`, `domain`, `client`,
//! `outcome`). Nothing secret goes in: store URLs are redacted by their callers, and mail
//! addresses are never logged in clear (`mail_hash`).

use std::sync::OnceLock;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            _ => Err("text or json".into()),
        }
    }
}

static FORMAT: OnceLock<Format> = OnceLock::new();

/// Chooses the format for the whole process (the first call wins).
pub fn set_format(format: Format) {
    let _ = FORMAT.set(format);
}

/// Writes one event: `msg` and its `fields`, any mail address in them hashed.
pub fn event(level: &str, msg: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(&str, String)> = fields.iter().map(|(k, v)| (*k, scrub(v))).collect();
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let format = FORMAT.get().copied().unwrap_or_default();
    eprintln!("{}", line(format, level, &scrub(msg), &fields));
}

/// `text` with every mail address (`local@domain.tld`) replaced by [`mail_hash`]: a relay's
/// refusal or a store error may quote one.
pub fn scrub(text: &str) -> String {
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let host = |c: char| c.is_ascii_alphanumeric() || ".-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let start = rest[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| local(*c))
            .last()
            .map_or(at, |(i, _)| i);
        let end = at
            + 1
            + rest[at + 1..]
                .char_indices()
                .find(|(_, c)| !host(*c))
                .map_or(rest.len() - at - 1, |(i, _)| i);
        let domain = rest[at + 1..end].trim_end_matches('.');
        if start < at && domain.contains('.') {
            out.push_str(&rest[..start]);
            out.push_str(&mail_hash(&rest[start..at + 1 + domain.len()]));
            rest = &rest[at + 1 + domain.len()..];
        } else {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

fn line(format: Format, level: &str, msg: &str, fields: &[(&str, &str)]) -> String {
    match format {
        Format::Text => {
            let mut out = format!("mxtls: {msg}");
            for (k, v) in fields {
                out.push_str(&format!(" {k}={v}"));
            }
            out
        }
        Format::Json => {
            let mut map = serde_json::Map::new();
            let now = crate::clock::now_ms();
            map.insert(
                "time".into(),
                mxtls_core::UnixTime(now / 1000).to_string().into(),
            );
            map.insert("level".into(), level.into());
            map.insert("msg".into(), msg.into());
            for (k, v) in fields {
                map.insert((*k).into(), (*v).into());
            }
            serde_json::Value::Object(map).to_string()
        }
    }
}

/// A mail address as logs may show it: its domain, and a short hash of the whole.
pub fn mail_hash(address: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(address.trim().to_ascii_lowercase().as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    match address.rsplit_once('@') {
        Some((_, domain)) => format!("{hex}@{domain}"),
        None => hex,
    }
}

/// `say!("…", args)`: an informational line (warnings and errors say so in their text).
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => { $crate::log::event("info", &format!($($t)*), &[]) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_hold_the_fields_and_no_clear_addresses() {
        let l = line(
            Format::Json,
            "info",
            "check done",
            &[("domain", "example.org"), ("client", "192.0.2.1")],
        );
        let v: serde_json::Value = serde_json::from_str(&l).expect("JSON");
        assert_eq!(v["msg"], "check done");
        assert_eq!(v["domain"], "example.org");
        assert_eq!(v["level"], "info");
        assert!(!l.contains('\n'));
        assert_eq!(
            line(Format::Text, "info", "x", &[("a", "b")]),
            "mxtls: x a=b"
        );
        let h = mail_hash("Alice@Example.org");
        assert!(h.ends_with("@Example.org") && !h.contains("Alice"), "{h}");
        assert_eq!(
            h,
            mail_hash("alice@example.org").replace("example.org", "Example.org")
        );
        let s = scrub("550 5.1.1 <bob.smith@mail.example.net>: unknown; postgres://u:***@db/x");
        assert!(!s.contains("bob.smith"), "{s}");
        assert!(s.contains("@mail.example.net>: unknown"), "{s}");
        assert!(s.ends_with("postgres://u:***@db/x"), "{s}");
    }
}
