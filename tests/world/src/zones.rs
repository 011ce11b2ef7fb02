//! The world's DNS data: a private root `.`, `test.`, and one zone per scenario, signed at
//! start-up with ldns (`ldns-keygen`, `ldns-signzone`: real keys, real RRSIGs, NSEC denial) so
//! that every validity window is fresh. Broken cases are made the way they break in real life:
//! data edited after signing (bogus TLSA), a DS for a key the zone does not use (bad DS), a
//! delegation without DS (unsigned).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pki::Error;
use crate::scenarios::{Secondary, Signing};

/// A zone to be written (and maybe signed).
pub struct Zone {
    /// Absolute name with trailing dot, e.g. `dane-ee.test.`.
    pub origin: String,
    /// Records after the SOA and NS, in zone-file syntax relative to `origin`.
    pub body: String,
    pub signing: Signing,
    /// The absolute name (trailing dot) of the zone's first mail host, for `BogusA`.
    pub first_host: String,
    pub secondary: Secondary,
}

/// The signed zone files and the root's trust anchor.
pub struct Signed {
    /// `(origin, file)` for NSD.
    pub files: Vec<(String, PathBuf)>,
    /// The root's DS record(s), as unbound's `trust-anchor-file` takes them.
    pub trust_anchor: PathBuf,
    /// `(origin, file)` for the stale secondary's NSD: old copies of the zones that have one.
    pub stale: Vec<(String, PathBuf)>,
}

fn run(cmd: &mut Command) -> Result<String, Error> {
    let out = crate::process::output_within(cmd, std::time::Duration::from_secs(60))
        .map_err(|e| format!("{cmd:?}: {e} (is ldnsutils installed?)"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `ldns-keygen` a combined signing key for `origin` with `algorithm` (an ldns name such as
/// `ECDSAP256SHA256`); returns the key file's base path.
fn keygen_with(dir: &Path, origin: &str, algorithm: &str) -> Result<PathBuf, Error> {
    let mut cmd = Command::new("ldns-keygen");
    cmd.current_dir(dir).args(["-a", algorithm]);
    if algorithm.starts_with("RSA") {
        cmd.args(["-b", "2048"]);
    }
    let base = run(cmd.args(["-k", origin]))?;
    Ok(dir.join(base))
}

/// A key with the world's usual algorithm, ECDSA P-256 (13).
fn keygen(dir: &Path, origin: &str) -> Result<PathBuf, Error> {
    keygen_with(dir, origin, "ECDSAP256SHA256")
}

fn ds_of(key_base: &Path) -> Result<String, Error> {
    let path = PathBuf::from(format!("{}.ds", key_base.display()));
    Ok(std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .trim()
        .to_owned())
}

fn header(origin: &str, ns_ip: Ipv4Addr) -> String {
    header_with(origin, ns_ip, 1)
}

fn header_with(origin: &str, ns_ip: Ipv4Addr, serial: u32) -> String {
    let mut z = format!(
        "$ORIGIN {origin}\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. {serial} 3600 600 86400 300\n@ IN NS ns.test.\n"
    );
    if origin == "test." {
        let [a, b, c, _] = ns_ip.octets();
        let _ = writeln!(z, "ns IN A {ns_ip}");
        let _ = writeln!(z, "ns-b IN A {a}.{b}.{c}.{}", crate::scenarios::STALE_NS);
        let _ = writeln!(z, "ns-c IN A {a}.{b}.{c}.{}", crate::scenarios::SILENT_NS);
    }
    z
}

/// `YYYYMMDDhhmmss` for ldns-signzone, `offset` seconds from now.
fn stamp(offset: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The DS of a key with digest type `digest` (1 SHA-1, 2 SHA-256), by `ldns-key2ds`.
fn ds_with(key_base: &Path, digest: u8) -> Result<String, Error> {
    let key = PathBuf::from(format!("{}.key", key_base.display()));
    run(Command::new("ldns-key2ds")
        .args(["-n", &format!("-{digest}")])
        .arg(&key))
}

fn sign(dir: &Path, origin: &str, text: &str, key: &Path) -> Result<PathBuf, Error> {
    sign_for(dir, origin, text, key, (-3600, 30 * 86_400), None)
}

/// NSEC3 parameters for `ldns-signzone`: iterations and salt (hex, `-` for none).
type Nsec3 = (u16, &'static str);

/// Signs with signatures valid from `window.0` to `window.1` seconds from now, with NSEC3
/// denial where `nsec3` says so (else NSEC).
fn sign_for(
    dir: &Path,
    origin: &str,
    text: &str,
    key: &Path,
    window: (i64, i64),
    nsec3: Option<Nsec3>,
) -> Result<PathBuf, Error> {
    let file = dir.join(format!("{}zone", origin.replace('.', "_")));
    std::fs::write(&file, text)?;
    let signed = file.with_extension("signed");
    let mut cmd = Command::new("ldns-signzone");
    if let Some((iterations, salt)) = nsec3 {
        cmd.args(["-n", "-t", &iterations.to_string()]);
        if salt != "-" {
            cmd.args(["-s", salt]);
        }
    }
    run(cmd
        .arg("-i")
        .arg(stamp(window.0))
        .arg("-e")
        .arg(stamp(window.1))
        .arg("-f")
        .arg(&signed)
        .arg(&file)
        .arg(key))?;
    Ok(signed)
}

/// Writes and signs every zone bottom-up (children first, so parents carry their DS).
pub fn build(dir: &Path, ns_ip: Ipv4Addr, zones: &[Zone]) -> Result<Signed, Error> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    let mut stale = Vec::new();
    let mut test_zone = header("test.", ns_ip);
    for zone in zones {
        let label = zone.origin.trim_end_matches(".test.");
        let _ = writeln!(test_zone, "{label} IN NS ns.test.");
        // A zone with a secondary lists it, and the primary's copy is the newer (serial 2).
        let (serial, extra_ns) = match zone.secondary {
            Secondary::None => (1, ""),
            Secondary::Stale => (2, "@ IN NS ns-b.test.\n"),
            Secondary::Silent => (1, "@ IN NS ns-c.test.\n"),
        };
        let text = format!(
            "{}{extra_ns}{}",
            header_with(&zone.origin, ns_ip, serial),
            zone.body
        );
        let path = match zone.signing {
            Signing::Unsigned => {
                let p = dir.join(format!("{}zone", zone.origin.replace('.', "_")));
                std::fs::write(&p, &text)?;
                p
            }
            Signing::Signed
            | Signing::BogusTlsa
            | Signing::BadDs
            | Signing::BogusMx
            | Signing::BogusA
            | Signing::Expired
            | Signing::Expiring
            | Signing::Rsa
            | Signing::P384
            | Signing::Sha1
            | Signing::Sha1Ds
            | Signing::ManyIterations => {
                let key = match zone.signing {
                    Signing::Rsa => keygen_with(dir, &zone.origin, "RSASHA256")?,
                    Signing::P384 => keygen_with(dir, &zone.origin, "ECDSAP384SHA384")?,
                    Signing::Sha1 => keygen_with(dir, &zone.origin, "RSASHA1-NSEC3-SHA1")?,
                    _ => keygen(dir, &zone.origin)?,
                };
                let window = match zone.signing {
                    Signing::Expired => (-40 * 86_400, -86_400),
                    Signing::Expiring => (-28 * 86_400, 2 * 86_400),
                    _ => (-3600, 30 * 86_400),
                };
                let nsec3 = match zone.signing {
                    Signing::Sha1 => Some((0, "-")),
                    Signing::ManyIterations => Some((200, "a1b2c3d4")),
                    _ => None,
                };
                let signed = sign_for(dir, &zone.origin, &text, &key, window, nsec3)?;
                if zone.secondary == Secondary::Stale {
                    // The copy the secondary kept: before the TLSA records were added, signed
                    // 28 days ago, its signatures about to run out.
                    let old: String =
                        format!("{}{extra_ns}{}", header(&zone.origin, ns_ip), zone.body)
                            .lines()
                            .filter(|l| !l.contains(" TLSA "))
                            .map(|l| format!("{l}\n"))
                            .collect();
                    let stale_dir = dir.join("stale");
                    std::fs::create_dir_all(&stale_dir)?;
                    let window = (-28 * 86_400, 2 * 86_400);
                    let file = sign_for(&stale_dir, &zone.origin, &old, &key, window, None)?;
                    stale.push((zone.origin.clone(), file));
                }
                let ds = match zone.signing {
                    Signing::BadDs => ds_of(&keygen(dir, &zone.origin)?)?,
                    Signing::Sha1 => ds_with(&key, 2)?,
                    Signing::Sha1Ds => ds_with(&key, 1)?,
                    _ => ds_of(&key)?,
                };
                let _ = writeln!(test_zone, "{ds}");
                match zone.signing {
                    Signing::BogusTlsa => corrupt_tlsa(&signed)?,
                    Signing::BogusMx => corrupt_signature(&signed, &zone.origin, "MX")?,
                    Signing::BogusA => corrupt_signature(&signed, &zone.first_host, "A")?,
                    _ => {}
                }
                signed
            }
        };
        files.push((zone.origin.clone(), path));
    }

    let test_key = keygen(dir, "test.")?;
    files.push(("test.".into(), sign(dir, "test.", &test_zone, &test_key)?));

    let mut root = header(".", ns_ip);
    let _ = writeln!(
        root,
        "test. IN NS ns.test.\nns.test. IN A {ns_ip}\n{}",
        ds_of(&test_key)?
    );
    let root_key = keygen(dir, ".")?;
    files.push((".".into(), sign(dir, ".", &root, &root_key)?));

    let trust_anchor = dir.join("root.ds");
    std::fs::write(&trust_anchor, format!("{}\n", ds_of(&root_key)?))?;
    Ok(Signed {
        files,
        trust_anchor,
        stale,
    })
}

/// Changes one character of the signature over `owner`'s `covered` RRset after signing: the
/// data is right, its RRSIG no longer verifies.
fn corrupt_signature(signed: &Path, owner: &str, covered: &str) -> Result<(), Error> {
    let text = std::fs::read_to_string(signed)?;
    let mut changed = false;
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if !changed
                && fields.len() > 5
                && fields[0].eq_ignore_ascii_case(owner)
                && fields[3] == "RRSIG"
                && fields[4] == covered
            {
                changed = true;
                // The signature is the last base64 field; swap one of its first characters.
                let sig_at = line.rfind(char::is_whitespace).map_or(0, |i| i + 1);
                let mut l = line.to_owned();
                let c = l.as_bytes()[sig_at + 2];
                let swapped = if c == b'A' { "B" } else { "A" };
                l.replace_range(sig_at + 2..sig_at + 3, swapped);
                l
            } else {
                line.to_owned()
            }
        })
        .collect();
    if !changed {
        return Err(format!("no RRSIG {covered} at {owner} in {}", signed.display()).into());
    }
    std::fs::write(signed, out.join("\n") + "\n")?;
    Ok(())
}

/// Changes the data of every TLSA record after signing, so its RRSIG no longer validates.
fn corrupt_tlsa(signed: &Path) -> Result<(), Error> {
    let text = std::fs::read_to_string(signed)?;
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() >= 4 && fields[3] == "TLSA" {
                // Flip the last hex digit of the association data.
                let mut l = line.trim_end().to_owned();
                let last = l.pop().unwrap_or('0');
                l.push(if last == '0' { '1' } else { '0' });
                l
            } else {
                line.to_owned()
            }
        })
        .collect();
    std::fs::write(signed, out.join("\n") + "\n")?;
    Ok(())
}
