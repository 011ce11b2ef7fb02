//! How far ahead the judgement looks for what will stop working: signatures that run out,
//! certificates that expire, TLSA records that the next renewal breaks.

use serde::{Deserialize, Serialize};

use crate::evidence::UnixTime;

const DAY: i64 = 86_400;

/// Without an explicit horizon, certificates are looked at 30 days ahead: ACME clients renew
/// 30 days before expiry, so a certificate closer to it than that means renewal is failing.
/// A certificate shorter-lived than 90 days is renewed a third of its life ahead, and looked
/// at that far ahead (see [`renewal_date`]).
pub const DEFAULT_CERT_DAYS: u32 = 30;

/// Without an explicit horizon, a signature is "expiring" when under 3 days remain *and*
/// under a quarter of its validity: signers re-sign long before expiry (BIND at a quarter of
/// the validity left, Knot and PowerDNS at half), and on-the-fly signers issue signatures
/// valid for only a day or two, which a fixed number of days would flag forever.
pub const DEFAULT_RRSIG_DAYS: u32 = 3;

/// The horizon of a judgement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Horizon {
    /// A sensible horizon per kind (see [`DEFAULT_CERT_DAYS`], [`DEFAULT_RRSIG_DAYS`]).
    #[default]
    Defaults,
    /// One plain threshold for every kind: what stops working before `now + days`. Zero
    /// looks at nothing ahead.
    Days { days: u32 },
}

impl Horizon {
    /// Whether anything is looked at ahead at all.
    pub fn looks_ahead(self) -> bool {
        self != Horizon::Days { days: 0 }
    }

    /// The days ahead within which a renewal that TLSA records must survive counts.
    pub fn cert_days(self) -> u32 {
        match self {
            Horizon::Defaults => DEFAULT_CERT_DAYS,
            Horizon::Days { days } => days,
        }
    }

    /// Whether a certificate valid from `not_before` to `not_after` counts as expiring at
    /// `now`: by default, once its ordinary renewal is overdue; with explicit days, within them.
    /// One already expired is not "expiring" (it is `cert-expired`).
    pub fn cert_expiring(self, not_before: UnixTime, not_after: UnixTime, now: UnixTime) -> bool {
        if not_after < now || !self.looks_ahead() {
            return false;
        }
        match self {
            Horizon::Defaults => renewal_date(not_before, not_after) < now,
            Horizon::Days { days } => not_after.0 - now.0 < i64::from(days) * DAY,
        }
    }

    /// The days ahead within which a signature that runs out counts (by default, also only
    /// under a quarter of its validity: see [`Horizon::rrsig_expiring`]).
    pub fn rrsig_days(self) -> u32 {
        match self {
            Horizon::Defaults => DEFAULT_RRSIG_DAYS,
            Horizon::Days { days } => days,
        }
    }

    /// Whether a signature valid from `inception` to `expiration` counts as expiring at
    /// `now` (one already expired is not "expiring": it is bogus today).
    pub fn rrsig_expiring(self, inception: UnixTime, expiration: UnixTime, now: UnixTime) -> bool {
        if expiration < now {
            return false;
        }
        let left = expiration.0 - now.0;
        match self {
            Horizon::Defaults => {
                let validity = (expiration.0 - inception.0).max(0);
                left < i64::from(DEFAULT_RRSIG_DAYS) * DAY && left < validity / 4
            }
            Horizon::Days { days } => left < i64::from(days) * DAY,
        }
    }

    /// In words, for the report: "30 days for certificates, 3 days for signatures".
    pub fn describe(self) -> String {
        match self {
            Horizon::Defaults => format!(
                "{DEFAULT_CERT_DAYS} days for certificates and renewals (a third of the life of shorter-lived certificates), {DEFAULT_RRSIG_DAYS} days for DNSSEC signatures (and under a quarter of their validity)"
            ),
            Horizon::Days { days: 0 } => "nothing ahead".to_owned(),
            Horizon::Days { days: 1 } => "1 day".to_owned(),
            Horizon::Days { days } => format!("{days} days"),
        }
    }
}

/// When an ordinary renewal replaces a certificate valid from `not_before` to `not_after`:
/// 30 days before expiry (certbot, acme.sh, Caddy), or a third of the lifetime before it for
/// shorter certificates, as ACME clients do.
pub fn renewal_date(not_before: UnixTime, not_after: UnixTime) -> UnixTime {
    let lifetime = (not_after.0 - not_before.0).max(0);
    UnixTime(not_after.0 - (30 * DAY).min(lifetime / 3))
}

/// Whole days from `now` to `then`, rounded down (0 for the past).
pub fn days_until(now: UnixTime, then: UnixTime) -> i64 {
    ((then.0 - now.0) / DAY).max(0)
}

/// "in 3 days", "in 1 day", "within a day".
pub fn in_days(now: UnixTime, then: UnixTime) -> String {
    match days_until(now, then) {
        0 => "within a day".to_owned(),
        1 => "in 1 day".to_owned(),
        n => format!("in {n} days"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn at(days: f64) -> UnixTime {
        UnixTime(NOW.0 + (days * DAY as f64) as i64)
    }

    #[test]
    fn default_rrsig_horizon_spares_short_lived_signatures() {
        let h = Horizon::Defaults;
        // A 30-day signature with 2 days left: the signer stopped re-signing.
        assert!(h.rrsig_expiring(at(-28.0), at(2.0), NOW));
        // With 4 days left it is not yet a concern.
        assert!(!h.rrsig_expiring(at(-26.0), at(4.0), NOW));
        // An on-the-fly signer's 2-day signature, fresh: not expiring…
        assert!(!h.rrsig_expiring(at(-0.5), at(1.5), NOW));
        // …but under a quarter of it left, it is.
        assert!(h.rrsig_expiring(at(-1.6), at(0.4), NOW));
        // Already expired is bogus, not expiring.
        assert!(!h.rrsig_expiring(at(-30.0), at(-1.0), NOW));
    }

    #[test]
    fn an_explicit_horizon_is_a_plain_threshold() {
        let h = Horizon::Days { days: 7 };
        assert!(h.rrsig_expiring(at(-0.5), at(1.5), NOW));
        assert!(h.rrsig_expiring(at(-20.0), at(6.9), NOW));
        assert!(!h.rrsig_expiring(at(-20.0), at(7.1), NOW));
        assert!(h.cert_expiring(at(-80.0), at(6.9), NOW));
        assert!(!h.cert_expiring(at(-80.0), at(7.1), NOW));
        let none = Horizon::Days { days: 0 };
        assert!(!none.looks_ahead());
        assert!(!none.cert_expiring(at(-89.0), at(0.1), NOW));
        assert!(!none.rrsig_expiring(at(-1.0), at(0.1), NOW));
    }

    #[test]
    fn default_cert_horizon_follows_the_renewal_of_its_lifetime() {
        let h = Horizon::Defaults;
        // 90 days: expiring with 29 days left, not with 31.
        assert!(h.cert_expiring(at(-61.0), at(29.0), NOW));
        assert!(!h.cert_expiring(at(-59.0), at(31.0), NOW));
        // 45 days (renewed 15 days ahead): 20 days left is normal, 14 is not.
        assert!(!h.cert_expiring(at(-25.0), at(20.0), NOW));
        assert!(h.cert_expiring(at(-31.0), at(14.0), NOW));
        // Expired is not expiring; an explicit horizon is a plain threshold.
        assert!(!h.cert_expiring(at(-90.0), at(-1.0), NOW));
        assert!(Horizon::Days { days: 25 }.cert_expiring(at(-25.0), at(20.0), NOW));
        assert!(!Horizon::Days { days: 0 }.cert_expiring(at(-89.0), at(0.5), NOW));
    }

    #[test]
    fn renewal_is_thirty_days_ahead_or_a_third_of_short_lives() {
        assert_eq!(renewal_date(at(0.0), at(90.0)), at(60.0));
        assert_eq!(renewal_date(at(0.0), at(365.0)), at(335.0));
        assert_eq!(renewal_date(at(0.0), at(45.0)), at(30.0));
    }
}
