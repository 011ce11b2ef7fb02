//! Path validation with rustls-webpki: to the Mozilla root set (webpki-roots) for the PKIX
//! verdict, and to a single DANE-TA trust anchor for RFC 7672 §3.1.2.
//!
//! Names are not checked here (see [`crate::cert::ParsedCert::matches_name`]): webpki ignores
//! the subject CN, which mail servers still honour where a certificate has no DNS SAN.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime as PkiTime};
use serde::{Deserialize, Serialize};
use webpki::{EndEntityCert, KeyUsage};

use crate::evidence::{Bytes, UnixTime};
use crate::report::PathError;

fn map_error(e: webpki::Error) -> PathError {
    match e {
        webpki::Error::CertExpired { .. } => PathError::Expired,
        webpki::Error::CertNotValidYet { .. } => PathError::NotYetValid,
        webpki::Error::UnknownIssuer => PathError::UnknownIssuer,
        other => PathError::Invalid {
            reason: format!("{other:?}"),
        },
    }
}

/// Validates `chain` (end entity first) for TLS server use at `now` against `anchors`.
pub fn verify_chain(
    chain: &[Bytes],
    anchors: &[TrustAnchor<'_>],
    now: UnixTime,
) -> Result<(), PathError> {
    let Some(ee) = chain.first() else {
        return Err(PathError::Invalid {
            reason: "no certificate was presented".to_owned(),
        });
    };
    let ee_der = CertificateDer::from(ee.as_ref());
    let ee = EndEntityCert::try_from(&ee_der).map_err(map_error)?;
    let intermediates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|c| CertificateDer::from(c.as_ref()))
        .collect();
    let time = PkiTime::since_unix_epoch(Duration::from_secs(u64::try_from(now.0).unwrap_or(0)));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        anchors,
        &intermediates,
        time,
        KeyUsage::server_auth(),
        None,
        None,
    )
    .map(|_| ())
    .map_err(map_error)
}

/// The public roots a judgement trusts, as data: Mozilla's set (webpki-roots) on the server
/// and in the CLI; in the browser the same set fetched from the server (`/api/roots`), so
/// the 54 KB of root keys are not part of the app's first load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootSet {
    /// Where the set comes from, e.g. `webpki-roots`.
    pub source: String,
    pub anchors: Vec<OwnedAnchor>,
}

/// One trust anchor: webpki's three fields, DER contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedAnchor {
    pub subject: Bytes,
    pub spki: Bytes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_constraints: Option<Bytes>,
}

impl RootSet {
    /// Mozilla's root set, as compiled in.
    #[cfg(feature = "mozilla-roots")]
    pub fn mozilla() -> RootSet {
        RootSet {
            source: "webpki-roots (Mozilla)".to_owned(),
            anchors: webpki_roots::TLS_SERVER_ROOTS
                .iter()
                .map(|a| OwnedAnchor {
                    subject: Bytes(a.subject.as_ref().to_vec()),
                    spki: Bytes(a.subject_public_key_info.as_ref().to_vec()),
                    name_constraints: a
                        .name_constraints
                        .as_ref()
                        .map(|n| Bytes(n.as_ref().to_vec())),
                })
                .collect(),
        }
    }

    fn trust_anchors(&self) -> impl Iterator<Item = TrustAnchor<'_>> {
        self.anchors.iter().map(|a| TrustAnchor {
            subject: a.subject.as_ref().into(),
            subject_public_key_info: a.spki.as_ref().into(),
            name_constraints: a.name_constraints.as_ref().map(|n| n.as_ref().into()),
        })
    }
}

/// `roots` plus `extra` roots (DER certificates recorded in the evidence). Extra roots that
/// do not parse are skipped.
pub fn pkix_anchors<'a>(roots: &'a RootSet, extra: &'a [Bytes]) -> Vec<TrustAnchor<'a>> {
    let mut anchors: Vec<TrustAnchor<'a>> = roots.trust_anchors().collect();
    anchors.extend(
        extra
            .iter()
            .filter_map(|der| anchor_from_cert(der.as_ref())),
    );
    anchors
}

/// A trust anchor made from a certificate (a DANE-TA certificate, or an extra root).
pub fn anchor_from_cert(der: &[u8]) -> Option<TrustAnchor<'static>> {
    let cert = CertificateDer::from(der);
    webpki::anchor_from_trusted_cert(&cert)
        .ok()
        .map(|a| a.to_owned())
}

/// A trust anchor synthesised from a bare public key (a `2 1 0` TLSA record whose key is not
/// in the presented chain): named as the issuer of the topmost presented certificate, which
/// is how OpenSSL's DANE code treats such records. `issuer` and `spki` are full DER
/// (with their SEQUENCE headers); webpki wants their contents.
pub fn anchor_from_spki(issuer: &[u8], spki: &[u8]) -> Option<TrustAnchor<'static>> {
    Some(TrustAnchor {
        subject: der_contents(issuer)?.to_vec().into(),
        subject_public_key_info: der_contents(spki)?.to_vec().into(),
        name_constraints: None,
    })
}

/// The contents of a DER SEQUENCE (tag 0x30), or `None` if `der` is not exactly one.
fn der_contents(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, body) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (body.len() == len).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_contents_strips_short_and_long_headers() {
        assert_eq!(der_contents(&[0x30, 2, 5, 0]), Some(&[5u8, 0][..]));
        let mut long = vec![0x30, 0x81, 200];
        long.extend(std::iter::repeat_n(1u8, 200));
        assert_eq!(der_contents(&long).map(<[u8]>::len), Some(200));
        assert_eq!(der_contents(&[0x30, 3, 5, 0]), None);
        assert_eq!(der_contents(&[0x31, 0]), None);
        assert_eq!(der_contents(&[]), None);
    }

    #[test]
    fn empty_chain_is_invalid_not_a_panic() {
        assert!(matches!(
            verify_chain(&[], &[], UnixTime(0)),
            Err(PathError::Invalid { .. })
        ));
    }
}
