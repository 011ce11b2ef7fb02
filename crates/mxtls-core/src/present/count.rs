//! Counts in words: "1 error", "2 errors", "checked 3 days ago". One place decides the
//! singular and the plural, so that no renderer writes "1 errors".

/// `n` and the noun that agrees with it: `count(1, "error", "errors")` is `1 error`.
/// Both forms are given, because English plurals are not all an added `s`
/// (`policy`/`policies`, `ok`/`ok`).
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// [`count`] for a `usize` (a list's length).
pub fn count_of(n: usize, one: &str, many: &str) -> String {
    count(u64::try_from(n).unwrap_or(u64::MAX), one, many)
}

/// A coarse age, for "checked … ago": `45 seconds`, `3 minutes`, `5 hours`, `1 day`.
/// Coarse on purpose (the exact time is shown beside it); a negative age (a clock behind
/// the server's) reads as `0 seconds`.
pub fn age(seconds: i64) -> String {
    let s = u64::try_from(seconds).unwrap_or(0);
    match s {
        s if s < 90 => count(s, "second", "seconds"),
        s if s < 90 * 60 => count(s / 60, "minute", "minutes"),
        s if s < 36 * 3600 => count(s / 3600, "hour", "hours"),
        s => count(s / 86_400, "day", "days"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_number_plural() {
        assert_eq!(count(0u64, "error", "errors"), "0 errors");
        assert_eq!(count(1u64, "error", "errors"), "1 error");
        assert_eq!(count(2u32, "error", "errors"), "2 errors");
        assert_eq!(count_of(1, "policy", "policies"), "1 policy");
        assert_eq!(count_of(3, "policy", "policies"), "3 policies");
        assert_eq!(count(1u64, "ok", "ok"), "1 ok");
    }

    #[test]
    fn ages_are_coarse_and_agree_with_their_number() {
        assert_eq!(age(-5), "0 seconds");
        assert_eq!(age(1), "1 second");
        assert_eq!(age(89), "89 seconds");
        // 90 s to 119 s is one minute, not "1 minutes".
        assert_eq!(age(100), "1 minute");
        assert_eq!(age(3 * 60), "3 minutes");
        assert_eq!(age(90 * 60), "1 hour");
        assert_eq!(age(5 * 3600), "5 hours");
        assert_eq!(age(36 * 3600), "1 day");
        assert_eq!(age(3 * 86_400 + 7), "3 days");
    }
}
