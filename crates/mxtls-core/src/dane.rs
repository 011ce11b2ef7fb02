//! DANE authentication of one presented chain against a host's usable TLSA records
//! (RFC 7672 §3.1, RFC 7671 §5).
//!
//! * DANE-EE(3) matches the end-entity certificate (selector 0) or its key (selector 1) and
//!   nothing else; names and dates are ignored (RFC 7672 §3.1.1).
//! * DANE-TA(2) names a trust anchor that must appear in the presented chain (or, for a
//!   full certificate or key record, is given by the record itself); the chain must validate
//!   to it, dates apply, and the end entity must carry one of the reference identifiers
//!   (RFC 7672 §3.1.2, §3.2.2).

use hickory_proto::rr::rdata::TLSA;
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};

use crate::cert::ParsedCert;
use crate::evidence::{Bytes, UnixTime};
use crate::names::DnsName;
use crate::pkix;
use crate::report::{ChainDane, PathError, TaProblem, TlsaMatch};
use crate::tlsa;

/// Judges `chain` (end entity first, DER) against the usable records (`(index, record)`).
/// `reference_names` are the names a DANE-TA end entity must match; `now` applies to
/// DANE-TA only.
pub fn judge_chain(
    chain: &[Bytes],
    records: &[(usize, &TLSA)],
    reference_names: &[DnsName],
    now: UnixTime,
) -> ChainDane {
    let parsed: Vec<Option<ParsedCert<'_>>> = chain
        .iter()
        .map(|der| ParsedCert::parse(der.as_ref()).ok())
        .collect();
    let mut result = ChainDane {
        authenticated_by: None,
        matches: Vec::new(),
        ta_problems: Vec::new(),
    };

    for &(index, record) in records {
        match record.cert_usage {
            CertUsage::DaneEe => {
                if let Some(Some(ee)) = parsed.first()
                    && tlsa::matches_cert(record, ee)
                {
                    result.matches.push(TlsaMatch {
                        record: index,
                        cert: Some(0),
                    });
                    result.authenticated_by.get_or_insert(index);
                }
            }
            CertUsage::DaneTa => match judge_ta(chain, &parsed, record, reference_names, now) {
                TaOutcome::Authenticated(m) => {
                    result.matches.push(TlsaMatch {
                        record: index,
                        cert: m,
                    });
                    result.authenticated_by.get_or_insert(index);
                }
                TaOutcome::Failed(m, problem) => {
                    if let Some(m) = m {
                        result.matches.push(TlsaMatch {
                            record: index,
                            cert: m,
                        });
                    }
                    result.ta_problems.push((index, problem));
                }
                TaOutcome::NoMatch => {}
            },
            _ => {}
        }
    }
    result
}

enum TaOutcome {
    /// Authenticated through the TA at this chain position (`None`: given by the record).
    Authenticated(Option<usize>),
    /// Failed; the outer option says whether the TA was found at all.
    Failed(Option<Option<usize>>, TaProblem),
    NoMatch,
}

fn judge_ta(
    chain: &[Bytes],
    parsed: &[Option<ParsedCert<'_>>],
    record: &TLSA,
    reference_names: &[DnsName],
    now: UnixTime,
) -> TaOutcome {
    let Some(Some(ee)) = parsed.first() else {
        return TaOutcome::NoMatch;
    };
    // The TA may sit anywhere in the chain; try each matching position, and take the first
    // that authenticates (a chain may carry the TA more than once, or out of order).
    let positions: Vec<usize> = parsed
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            c.as_ref()
                .filter(|c| tlsa::matches_cert(record, c))
                .map(|_| i)
        })
        .collect();

    let mut first_failure = None;
    for &pos in &positions {
        let path = if pos == 0 {
            // The record names the end entity itself as the anchor: only its dates apply.
            if ee.valid_at(now) {
                Ok(())
            } else if now < ee.not_before() {
                Err(PathError::NotYetValid)
            } else {
                Err(PathError::Expired)
            }
        } else {
            match pkix::anchor_from_cert(chain[pos].as_ref()) {
                Some(anchor) => {
                    let others: Vec<Bytes> = chain
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != pos)
                        .map(|(_, c)| c.clone())
                        .collect();
                    pkix::verify_chain(&others, &[anchor], now)
                }
                None => Err(PathError::Invalid {
                    reason: "the trust anchor certificate does not parse".into(),
                }),
            }
        };
        match finish(ee, path, reference_names) {
            Ok(()) => return TaOutcome::Authenticated(Some(pos)),
            Err(p) => {
                first_failure.get_or_insert(TaOutcome::Failed(Some(Some(pos)), p));
            }
        }
    }
    if let Some(failure) = first_failure {
        return failure;
    }

    // Not in the chain: a full certificate or full key in the record is a usable anchor by
    // itself (RFC 7671 §5.2.2); a digest is not.
    if record.matching == Matching::Raw {
        let anchor = match record.selector {
            Selector::Full => pkix::anchor_from_cert(&record.cert_data),
            Selector::Spki => {
                let top = parsed.iter().rev().flatten().next().unwrap_or(ee);
                pkix::anchor_from_spki(top.issuer_raw(), &record.cert_data)
            }
            _ => None,
        };
        if let Some(anchor) = anchor {
            let path = pkix::verify_chain(chain, &[anchor], now);
            // A path failure here means the record's key did not sign this chain: no match.
            return match path {
                Err(PathError::UnknownIssuer) | Err(PathError::Invalid { .. }) => {
                    TaOutcome::NoMatch
                }
                path => match finish(ee, path, reference_names) {
                    Ok(()) => TaOutcome::Authenticated(None),
                    Err(p) => TaOutcome::Failed(Some(None), p),
                },
            };
        }
        return TaOutcome::NoMatch;
    }
    TaOutcome::Failed(None, TaProblem::NotInChain)
}

fn finish(
    ee: &ParsedCert<'_>,
    path: Result<(), PathError>,
    names: &[DnsName],
) -> Result<(), TaProblem> {
    path.map_err(|error| TaProblem::Path { error })?;
    if names.iter().any(|n| ee.matches_name(n)) {
        Ok(())
    } else {
        Err(TaProblem::NameMismatch {
            presented: ee.identities(),
        })
    }
}
