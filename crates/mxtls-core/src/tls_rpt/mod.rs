//! TLS-RPT (RFC 8460): the `_smtp._tls.<domain>` TXT record that tells senders where to
//! report TLS failures (§3, here), and the aggregate reports they send (§4, `report`).

pub mod report;

use serde::{Deserialize, Serialize};

/// What the `_smtp._tls` TXT RRset says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum TlsRpt {
    Missing,
    /// Exactly one valid record; its report destinations.
    Valid {
        rua: Vec<String>,
    },
    /// Senders must assume the domain does not use TLS-RPT.
    Invalid {
        reason: String,
    },
}

/// Reads the TXT strings: records not starting with `v=TLSRPTv1` are discarded; exactly one
/// must remain (RFC 8460 §3).
pub fn parse_txt(records: &[Vec<u8>]) -> TlsRpt {
    match crate::dns::tagged_txt(records, "v=TLSRPTv1") {
        Ok(None) => TlsRpt::Missing,
        Ok(Some(text)) => parse_one(&text),
        Err(reason) => TlsRpt::Invalid { reason },
    }
}

fn parse_one(text: &str) -> TlsRpt {
    let invalid = |reason: String| TlsRpt::Invalid { reason };
    let mut rua = None;
    for (i, field) in text.split(';').map(str::trim).enumerate() {
        if field.is_empty() {
            continue;
        }
        let Some((key, value)) = field.split_once('=') else {
            return invalid(format!("\"{field}\" is not a key=value field"));
        };
        match (i, key.trim()) {
            (0, "v") if value.trim() == "TLSRPTv1" => {}
            (0, _) => return invalid("the record must begin with v=TLSRPTv1".into()),
            (_, "rua") => {
                if rua.is_some() {
                    return invalid("the record has two rua fields".into());
                }
                let mut uris = Vec::new();
                for uri in value.split(',').map(str::trim) {
                    if let Err(e) = check_uri(uri) {
                        return invalid(e);
                    }
                    uris.push(uri.to_owned());
                }
                rua = Some(uris);
            }
            _ => {} // extensions
        }
    }
    match rua {
        Some(rua) => TlsRpt::Valid { rua },
        None => invalid("the record has no rua field (where to send reports)".into()),
    }
}

/// `mailto:` with an address, or `https:` with a host (RFC 8460 §3).
fn check_uri(uri: &str) -> Result<(), String> {
    if let Some(addr) = uri.strip_prefix("mailto:") {
        let addr = addr.split('!').next().unwrap_or("");
        match addr.split_once('@') {
            Some((local, domain)) if !local.is_empty() && domain.contains('.') => Ok(()),
            _ => Err(format!("rua \"{uri}\": not a mail address")),
        }
    } else if let Some(rest) = uri.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() {
            Err(format!("rua \"{uri}\": no host"))
        } else {
            Ok(())
        }
    } else {
        Err(format!("rua \"{uri}\" must be a mailto: or https: URI"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(records: &[&str]) -> TlsRpt {
        parse_txt(
            &records
                .iter()
                .map(|r| r.as_bytes().to_vec())
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn records_follow_rfc_8460() {
        assert_eq!(txt(&[]), TlsRpt::Missing);
        assert_eq!(
            txt(&["v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.net/x"]),
            TlsRpt::Valid {
                rua: vec![
                    "mailto:tls@example.com".into(),
                    "https://r.example.net/x".into()
                ]
            }
        );
        for bad in [
            vec!["v=TLSRPTv1;"],
            vec!["v=TLSRPTv1; rua=http://r.example/"],
            vec!["v=TLSRPTv1; rua=mailto:nobody"],
            vec![
                "v=TLSRPTv1; rua=mailto:a@b.example",
                "v=TLSRPTv1; rua=mailto:c@d.example",
            ],
        ] {
            assert!(matches!(txt(&bad), TlsRpt::Invalid { .. }), "{bad:?}");
        }
    }
}
