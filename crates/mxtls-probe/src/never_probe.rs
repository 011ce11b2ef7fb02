//! The operator's opt-out list (`--never-probe FILE`): mail hosts a postmaster asked the
//! operator of this checker not to test. The probe never opens an SMTP session with a listed
//! host or address (DNS lookups and the MTA-STS fetch are not mail-server sessions and go
//! on); the report says why that host was not tested, so that nobody mistakes it for a
//! server that did not answer.
//!
//! One entry per line, `#` starts a comment:
//!
//! ```text
//! mx1.example.org        # this host name exactly
//! *.example.net          # every name under example.net (not example.net itself)
//! 192.0.2.25             # this address, whatever name points at it
//! 2001:db8:25::/48       # every address in this block
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use mxtls_core::names::DnsName;

/// The most entries a list may hold: the list is matched before every session.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Host(DnsName),
    Under(DnsName),
    Net { ip: IpAddr, len: u8 },
}

/// A parsed list: what [`OptOut::opted_out`] matches against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeverProbe {
    entries: Vec<(Entry, String)>,
    /// The text it was parsed from: what a cluster shares through its store.
    text: String,
}

impl NeverProbe {
    /// Parses the list; an error names the first bad line.
    pub fn parse(text: &str) -> Result<NeverProbe, String> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let item = line.split('#').next().unwrap_or("").trim();
            if item.is_empty() {
                continue;
            }
            if entries.len() == MAX_ENTRIES {
                return Err(format!("more than {MAX_ENTRIES} entries"));
            }
            let entry = entry(item).map_err(|e| format!("line {}: {item:?}: {e}", n + 1))?;
            entries.push((entry, item.to_owned()));
        }
        Ok(NeverProbe {
            entries,
            text: text.to_owned(),
        })
    }

    /// The text the list was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The entry that covers `host` or `ip`, as the operator wrote it.
    pub fn covering(&self, host: &DnsName, ip: IpAddr) -> Option<&str> {
        let under = |zone: &DnsName| {
            host.as_str()
                .strip_suffix(zone.as_str())
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
        };
        self.entries
            .iter()
            .find(|(e, _)| match e {
                Entry::Host(name) => name == host,
                Entry::Under(zone) => under(zone),
                Entry::Net { ip: net, len } => in_net(ip, *net, *len),
            })
            .map(|(_, text)| text.as_str())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn entry(item: &str) -> Result<Entry, String> {
    if let Some((addr, len)) = item.split_once('/') {
        let ip: IpAddr = addr.parse().map_err(|_| "not an address block")?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= max)
            .ok_or("the prefix length is out of range")?;
        return Ok(Entry::Net { ip, len });
    }
    if let Ok(ip) = item.parse::<IpAddr>() {
        let len = if ip.is_ipv4() { 32 } else { 128 };
        return Ok(Entry::Net { ip, len });
    }
    if let Some(zone) = item.strip_prefix("*.") {
        return DnsName::parse(zone).map(Entry::Under);
    }
    if item.contains('*') {
        return Err("a wildcard may only be a leading \"*.\"".into());
    }
    DnsName::parse(item).map(Entry::Host)
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Where a check asks whether a host may be tested: a file, the cluster's store.
pub trait OptOut: Send + Sync + std::fmt::Debug {
    /// The entry that opts `host` (at `ip`) out, if one does.
    fn opted_out<'a>(
        &'a self,
        host: &'a DnsName,
        ip: IpAddr,
    ) -> Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;

    /// The list in force, where it is a local one (a file) that a cluster shares.
    fn local(&self) -> Option<Arc<NeverProbe>> {
        None
    }
}

/// The list in a file, read again when the file changes (its modification time or size;
/// looked at no more than once a second). A file that turns unreadable or invalid keeps
/// the last good list in force, and says so once.
#[derive(Debug)]
pub struct NeverProbeFile {
    path: PathBuf,
    state: Mutex<FileState>,
}

#[derive(Debug)]
struct FileState {
    stamp: Option<(SystemTime, u64)>,
    looked: Instant,
    list: Arc<NeverProbe>,
    complained: bool,
}

/// How often the file's stamp is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);

impl NeverProbeFile {
    /// Reads `path`: it must exist and parse now (a typo at start-up is an error, not an
    /// empty list).
    pub fn open(path: &Path) -> Result<NeverProbeFile, String> {
        let (stamp, list) = read(path)?;
        Ok(NeverProbeFile {
            path: path.to_owned(),
            state: Mutex::new(FileState {
                stamp,
                looked: Instant::now(),
                list: Arc::new(list),
                complained: false,
            }),
        })
    }

    /// The list now in force (read again if the file changed), and its text's source.
    pub fn current(&self) -> Arc<NeverProbe> {
        let Ok(mut state) = self.state.lock() else {
            return Arc::new(NeverProbe::default());
        };
        if state.looked.elapsed() >= LOOK_EVERY {
            state.looked = Instant::now();
            if stamp_of(&self.path) != state.stamp {
                match read(&self.path) {
                    Ok((stamp, list)) => {
                        state.stamp = stamp;
                        state.list = Arc::new(list);
                        state.complained = false;
                    }
                    Err(e) if !state.complained => {
                        state.complained = true;
                        eprintln!("mxtls: --never-probe: {e}; the last good list stays in force");
                    }
                    Err(_) => {}
                }
            }
        }
        state.list.clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn stamp_of(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read(path: &Path) -> Result<(Option<(SystemTime, u64)>, NeverProbe), String> {
    let stamp = stamp_of(path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let list = NeverProbe::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((stamp, list))
}

impl OptOut for NeverProbeFile {
    fn opted_out<'a>(
        &'a self,
        host: &'a DnsName,
        ip: IpAddr,
    ) -> Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>> {
        let found = self.current().covering(host, ip).map(str::to_owned);
        Box::pin(async move { found })
    }

    fn local(&self) -> Option<Arc<NeverProbe>> {
        Some(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DnsName {
        DnsName::parse(s).expect("name")
    }

    #[test]
    fn entries_cover_hosts_zones_and_blocks() {
        let list = NeverProbe::parse(
            "# opted out\nMX1.Example.org.\n*.example.net # all of it\n192.0.2.25\n\
             2001:db8:25::/48\n198.51.100.0/24\n",
        )
        .expect("parses");
        assert_eq!(list.len(), 5);
        let other: IpAddr = "203.0.113.1".parse().expect("ip");
        let at = |h: &str, ip: &str| list.covering(&name(h), ip.parse().expect("ip"));
        assert_eq!(
            at("mx1.example.org", "203.0.113.1"),
            Some("MX1.Example.org.")
        );
        assert_eq!(at("mx2.example.org", "203.0.113.1"), None);
        assert_eq!(at("a.mx.example.net", "203.0.113.1"), Some("*.example.net"));
        assert_eq!(list.covering(&name("example.net"), other), None);
        assert_eq!(list.covering(&name("badexample.net"), other), None);
        assert_eq!(at("mx.other.test", "192.0.2.25"), Some("192.0.2.25"));
        assert_eq!(at("mx.other.test", "192.0.2.26"), None);
        assert_eq!(
            at("mx.other.test", "2001:db8:25:ff::1"),
            Some("2001:db8:25::/48")
        );
        assert_eq!(at("mx.other.test", "2001:db8:26::1"), None);
        assert_eq!(
            at("mx.other.test", "198.51.100.200"),
            Some("198.51.100.0/24")
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        for (text, why) in [
            ("ok.example\nnot a name\n", "line 2"),
            ("192.0.2.0/33", "out of range"),
            ("mx.*.example", "wildcard"),
            ("::1/129", "out of range"),
        ] {
            let e = NeverProbe::parse(text).expect_err(text);
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn the_file_is_read_again_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("mxtls-never-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("never-probe");
        std::fs::write(&path, "mx.one.example\n").expect("write");
        let file = NeverProbeFile::open(&path).expect("opens");
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(
            file.current()
                .covering(&name("mx.one.example"), ip)
                .is_some()
        );
        std::fs::write(&path, "mx.one.example\nmx.two.example # added\n").expect("write");
        file.state.lock().expect("lock").looked -= LOOK_EVERY;
        assert!(
            file.current()
                .covering(&name("mx.two.example"), ip)
                .is_some()
        );
        // A broken edit keeps the last good list.
        std::fs::write(&path, "not a name at all\n").expect("write");
        file.state.lock().expect("lock").looked -= LOOK_EVERY;
        assert_eq!(file.current().len(), 2);
        assert!(NeverProbeFile::open(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
