//! Reading EHLO replies: the service extensions offered (RFC 5321 §4.1.1.1), and the marks
//! a STARTTLS-stripping middlebox leaves behind.

use crate::evidence::Reply;

/// The extension keywords of an EHLO reply, upper-cased (the first line is the greeting).
pub fn keywords(ehlo: &Reply) -> Vec<String> {
    ehlo.lines
        .iter()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_ascii_uppercase)
        .collect()
}

/// Whether an EHLO reply offers STARTTLS.
pub fn offers_starttls(ehlo: &Reply) -> bool {
    ehlo.code == 250 && keywords(ehlo).iter().any(|k| k == "STARTTLS")
}

/// How a middlebox showed itself, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tampering {
    /// A keyword where STARTTLS was, overwritten with X's (`XXXXXXXA`, Cisco ESMTP
    /// inspection).
    MangledKeyword(String),
    /// A greeting overwritten with asterisks (Cisco PIX/ASA "SMTP fixup").
    MaskedBanner(String),
}

impl std::fmt::Display for Tampering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tampering::MangledKeyword(k) => {
                write!(f, "the EHLO reply shows {k:?} where STARTTLS belongs")
            }
            Tampering::MaskedBanner(b) => {
                write!(f, "the greeting is masked with asterisks ({b:?})")
            }
        }
    }
}

/// Marks of STARTTLS stripping in the banner or cleartext EHLO reply.
pub fn tampering(banner: Option<&Reply>, ehlo: Option<&Reply>) -> Option<Tampering> {
    if let Some(ehlo) = ehlo
        && let Some(k) = keywords(ehlo).into_iter().find(|k| is_mangled_starttls(k))
    {
        return Some(Tampering::MangledKeyword(k));
    }
    let banner_text = banner?.lines.first()?;
    let masked = banner_text.chars().filter(|c| *c == '*').count();
    (masked >= 8
        && banner_text
            .chars()
            .all(|c| matches!(c, '*' | '0' | '2' | ' ')))
    .then(|| Tampering::MaskedBanner(banner_text.clone()))
}

/// An 8-letter keyword of X's (the last letter may differ): what inspection boxes write over
/// `STARTTLS` so that the client does not see it.
/// Byte-wise: a keyword is any text a server sent (non-UTF-8 bytes arrive as U+FFFD), so
/// slicing it as a string could split a character.
fn is_mangled_starttls(k: &str) -> bool {
    let b = k.as_bytes();
    b.len() == 8 && b[..7].iter().all(|c| *c == b'X') && b[7].is_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/regressions/ehlo/`): an 8-byte keyword whose seventh byte is
    /// inside a multi-byte character panicked on a string slice.
    #[test]
    fn a_keyword_with_a_replacement_character_is_not_mangled_starttls() {
        let ehlo = reply(250, &["mx.example", "XXXXX\u{FFFD}", "XXXXXXX\u{E9}"]);
        assert_eq!(tampering(None, Some(&ehlo)), None);
        assert!(is_mangled_starttls("XXXXXXXA"));
    }

    fn reply(code: u16, lines: &[&str]) -> Reply {
        Reply {
            code,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn starttls_is_a_keyword_not_a_substring() {
        let ehlo = reply(250, &["mx.example", "PIPELINING", "starttls", "8BITMIME"]);
        assert!(offers_starttls(&ehlo));
        let greeting_only = reply(250, &["mx.example STARTTLS ready"]);
        assert!(!offers_starttls(&greeting_only));
    }

    /// RFC 3207 §6: a man in the middle can remove STARTTLS; Cisco boxes overwrite it.
    #[test]
    fn mangled_keywords_and_masked_banners_are_tampering() {
        let ehlo = reply(250, &["mx.example", "PIPELINING", "XXXXXXXA"]);
        assert_eq!(
            tampering(None, Some(&ehlo)),
            Some(Tampering::MangledKeyword("XXXXXXXA".into()))
        );
        let banner = reply(220, &["*****************************"]);
        assert!(matches!(
            tampering(Some(&banner), None),
            Some(Tampering::MaskedBanner(_))
        ));
        let clean = reply(250, &["mx.example", "PIPELINING", "SIZE 1000"]);
        assert_eq!(
            tampering(Some(&reply(220, &["mx.example ESMTP"])), Some(&clean)),
            None
        );
    }
}
