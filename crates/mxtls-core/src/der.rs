//! A strict DER reader: the few ASN.1 forms an X.509 certificate is made of, read from
//! untrusted bytes without panicking.
//!
//! Strict means DER (X.690 §10) as RFC 5280 requires it: definite lengths in their shortest
//! form only, low tag numbers only (below 31: no certificate field has another), every
//! container read to its end, minimal INTEGERs, BOOLEANs of 0x00 or 0xff, BIT STRINGs with
//! zero padding, and times in RFC 5280's forms (`YYMMDDHHMMSSZ`, `YYYYMMDDHHMMSSZ`). Every
//! read is bounds-checked: a length past the end of its container is an error, never a
//! panic. This replaced x509-parser in the core (see `cert`), which kept a second X.509
//! parser, its OID registry and nom out of the web app's first load.

/// Why bytes are not the DER expected: a short, fixed description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(pub &'static str);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

// Identifier octets (class, constructed bit and tag number in one byte).
pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// A context-specific tag: `[n]`, primitive (IMPLICIT on a primitive type).
pub const fn context(n: u8) -> u8 {
    0x80 | n
}

/// A context-specific constructed tag: `[n]` EXPLICIT, or IMPLICIT on a constructed type.
pub const fn context_constructed(n: u8) -> u8 {
    0xa0 | n
}

/// One element: its identifier octet, its contents and all its bytes (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
}

/// The bytes of a container's contents, read element by element.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The identifier octet of the next element, if any.
    pub fn peek(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>> {
        let (&tag, rest) = self.data.split_first().ok_or(Error("truncated element"))?;
        if tag & 0x1f == 0x1f {
            return Err(Error("high tag number"));
        }
        let (&first, rest) = rest.split_first().ok_or(Error("truncated length"))?;
        let (len, rest) = match first {
            0..=0x7f => (usize::from(first), rest),
            0x80 => return Err(Error("indefinite length")),
            0x81..=0x84 => {
                let n = usize::from(first & 0x7f);
                let bytes = rest.get(..n).ok_or(Error("truncated length"))?;
                let len = bytes
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                // The shortest form: one length byte only from 128, no leading zero byte.
                if len < 0x80 || bytes.first() == Some(&0) {
                    return Err(Error("length not in its shortest form"));
                }
                (len, rest.get(n..).unwrap_or_default())
            }
            _ => return Err(Error("length too long")),
        };
        let content = rest.get(..len).ok_or(Error("length past the end"))?;
        let used = self.data.len() - rest.len() + len;
        let raw = self.data.get(..used).ok_or(Error("length past the end"))?;
        self.data = self.data.get(used..).unwrap_or_default();
        Ok(Tlv { tag, content, raw })
    }

    /// The next element, which must have this tag.
    pub fn element(&mut self, tag: u8) -> Result<Tlv<'a>> {
        match self.peek() {
            Some(t) if t == tag => self.any(),
            Some(_) => Err(Error("unexpected tag")),
            None => Err(Error("missing element")),
        }
    }

    /// The contents of the next element, which must have this tag.
    pub fn read(&mut self, tag: u8) -> Result<&'a [u8]> {
        self.element(tag).map(|tlv| tlv.content)
    }

    /// The contents of the next element if it has this tag; nothing read otherwise.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>> {
        if self.peek() == Some(tag) {
            self.read(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A container's contents end here: nothing may follow.
    pub fn finish(&self) -> Result<()> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(Error("trailing bytes"))
        }
    }
}

/// The contents of `data`, which must be exactly one element with this tag.
pub fn exactly(data: &[u8], tag: u8) -> Result<&[u8]> {
    let mut r = Reader::new(data);
    let content = r.read(tag)?;
    r.finish()?;
    Ok(content)
}

/// An INTEGER's contents, checked to be minimal (X.690 §8.3.2).
pub fn integer(content: &[u8]) -> Result<&[u8]> {
    match content {
        [] => Err(Error("empty integer")),
        [0x00, next, ..] if next & 0x80 == 0 => Err(Error("integer not minimal")),
        [0xff, next, ..] if next & 0x80 != 0 => Err(Error("integer not minimal")),
        _ => Ok(content),
    }
}

/// A non-negative INTEGER that fits in a `u32`.
pub fn small_unsigned(content: &[u8]) -> Result<u32> {
    let bytes = integer(content)?;
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(Error("negative integer"));
    }
    let bytes = bytes.strip_prefix(&[0]).unwrap_or(bytes);
    if bytes.len() > 4 {
        return Err(Error("integer too large"));
    }
    Ok(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// A BOOLEAN: 0x00 or 0xff (X.690 §11.1).
pub fn boolean(content: &[u8]) -> Result<bool> {
    match content {
        [0x00] => Ok(false),
        [0xff] => Ok(true),
        _ => Err(Error("boolean not 0x00 or 0xff")),
    }
}

/// A BIT STRING's bits (without the count of unused bits), checked for DER's zero padding.
pub fn bit_string(content: &[u8]) -> Result<&[u8]> {
    let (&unused, bits) = content.split_first().ok_or(Error("empty bit string"))?;
    match bits.last() {
        _ if unused > 7 => Err(Error("bit string padding over 7 bits")),
        None if unused != 0 => Err(Error("bit string padding without bits")),
        Some(&last) if last & ((1u8 << unused) - 1) != 0 => {
            Err(Error("bit string padding not zero"))
        }
        _ => Ok(bits),
    }
}

/// The arcs of an OBJECT IDENTIFIER's contents, each a base-128 number that fits a `u64`
/// and is in its shortest form (X.690 §8.19).
fn arcs(content: &[u8]) -> Result<Vec<u64>> {
    if content.is_empty() {
        return Err(Error("empty object identifier"));
    }
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    let mut start = true;
    for &b in content {
        if start && b == 0x80 {
            return Err(Error("object identifier arc not minimal"));
        }
        if value > u64::MAX >> 7 {
            return Err(Error("object identifier arc too large"));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        start = b & 0x80 == 0;
        if start {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if !start {
        return Err(Error("object identifier truncated"));
    }
    Ok(arcs)
}

/// Whether an OBJECT IDENTIFIER's contents are well formed.
pub fn oid(content: &[u8]) -> Result<&[u8]> {
    arcs(content).map(|_| content)
}

/// An OBJECT IDENTIFIER's contents in dotted form, `1.2.840.113549.1.1.11`.
pub fn oid_text(content: &[u8]) -> String {
    match arcs(content) {
        Ok(arcs) => arcs
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
        Err(_) => String::new(),
    }
}

/// A certificate's time, UTCTime or GeneralizedTime, in seconds since the Unix epoch.
/// RFC 5280 §4.1.2.5: UTC (`Z`), seconds present, no fractions; a UTCTime's two-digit year
/// is 1950–2049. Dates that do not exist (30 February) are errors.
pub fn time(tlv: &Tlv<'_>) -> Result<i64> {
    let digits = |s: &[u8]| -> Result<i64> {
        s.iter().try_fold(0i64, |acc, &b| {
            if b.is_ascii_digit() {
                Ok(acc * 10 + i64::from(b - b'0'))
            } else {
                Err(Error("time has a non-digit"))
            }
        })
    };
    let (year, rest) = match (tlv.tag, tlv.content) {
        (UTC_TIME, [y @ .., b'Z']) if y.len() == 12 => {
            let yy = digits(&y[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &y[2..])
        }
        (GENERALIZED_TIME, [y @ .., b'Z']) if y.len() == 14 => (digits(&y[..4])?, &y[4..]),
        _ => return Err(Error("time not in RFC 5280's form")),
    };
    let (month, day) = (digits(&rest[..2])?, digits(&rest[2..4])?);
    let (hour, minute, second) = (
        digits(&rest[4..6])?,
        digits(&rest[6..8])?,
        digits(&rest[8..10])?,
    );
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(Error("time has no such month")),
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return Err(Error("time has no such day or hour"));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(data: &[u8]) -> Result<Tlv<'_>> {
        let mut r = Reader::new(data);
        let tlv = r.any()?;
        r.finish()?;
        Ok(tlv)
    }

    #[test]
    fn lengths_must_be_definite_short_and_within_bounds() {
        assert_eq!(one(&[0x04, 0x01, 0xaa]).map(|t| t.content), Ok(&[0xaa][..]));
        assert_eq!(
            one(&[0x30, 0x80, 0x00, 0x00]),
            Err(Error("indefinite length"))
        );
        assert!(one(&[0x04, 0x81, 0x01, 0xaa]).is_err(), "long form for 1");
        assert!(one(&[0x04, 0x82, 0x00, 0x81]).is_err(), "leading zero byte");
        assert!(
            one(&[0x04, 0x85, 1, 0, 0, 0, 0]).is_err(),
            "five length bytes"
        );
        assert!(
            one(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err(),
            "past the end"
        );
        assert!(one(&[0x04, 0x02, 0xaa]).is_err(), "past the end");
        assert!(one(&[0x04]).is_err() && one(&[]).is_err());
        assert!(one(&[0x1f, 0x81, 0x00, 0x00]).is_err(), "high tag number");
        assert_eq!(one(&[0x04, 0x00, 0x00]), Err(Error("trailing bytes")));
        let long = [&[0x04, 0x81, 0x80][..], &[7; 128]].concat();
        assert_eq!(one(&long).map(|t| t.content.len()), Ok(128));
    }

    #[test]
    fn primitives_are_strict() {
        assert!(integer(&[0x00, 0x7f]).is_err() && integer(&[0xff, 0x80]).is_err());
        assert!(integer(&[0x00, 0x80]).is_ok() && integer(&[]).is_err());
        assert_eq!(
            small_unsigned(&[0x00, 0xff, 0xff, 0xff, 0xff]),
            Ok(u32::MAX)
        );
        assert!(small_unsigned(&[0x80]).is_err() && small_unsigned(&[1, 0, 0, 0, 0]).is_err());
        assert_eq!(boolean(&[0xff]), Ok(true));
        assert!(boolean(&[0x01]).is_err());
        assert_eq!(bit_string(&[0x00, 0xab]), Ok(&[0xab][..]));
        assert!(bit_string(&[0x01, 0x01]).is_err() && bit_string(&[0x08, 0x00]).is_err());
        assert!(bit_string(&[0x01]).is_err() && bit_string(&[]).is_err());
    }

    #[test]
    fn object_identifiers_read_as_dotted_text() {
        let sha256_rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
        assert_eq!(oid_text(&sha256_rsa), "1.2.840.113549.1.1.11");
        assert_eq!(oid_text(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(oid_text(&[0x88, 0x37]), "2.999");
        assert!(oid(&[0x2a, 0x80, 0x01]).is_err(), "not minimal");
        assert!(oid(&[0x2a, 0x86]).is_err() && oid(&[]).is_err());
        assert!(oid(&[0x81; 11].iter().copied().chain([1]).collect::<Vec<_>>()).is_err());
    }

    #[test]
    fn times_follow_rfc_5280() {
        let t = |tag, s: &str| {
            time(&Tlv {
                tag,
                content: s.as_bytes(),
                raw: &[],
            })
        };
        assert_eq!(t(UTC_TIME, "700101000000Z"), Ok(0));
        assert_eq!(t(UTC_TIME, "491231235959Z"), Ok(2_524_607_999));
        assert_eq!(t(UTC_TIME, "500101000000Z"), Ok(-631_152_000));
        assert_eq!(t(GENERALIZED_TIME, "20500101000000Z"), Ok(2_524_608_000));
        assert_eq!(t(GENERALIZED_TIME, "20000229120000Z"), Ok(951_825_600));
        assert!(
            t(GENERALIZED_TIME, "21000229120000Z").is_err(),
            "not a leap year"
        );
        assert!(t(UTC_TIME, "2501010000Z").is_err(), "no seconds");
        assert!(t(UTC_TIME, "250101000000+0100").is_err(), "not UTC");
        assert!(
            t(GENERALIZED_TIME, "20250101000000.5Z").is_err(),
            "a fraction"
        );
        assert!(t(UTC_TIME, "251301000000Z").is_err() && t(UTC_TIME, "250101240000Z").is_err());
        assert!(t(UTC_TIME, "25010100000aZ").is_err() && t(OCTET_STRING, "700101000000Z").is_err());
    }
}
