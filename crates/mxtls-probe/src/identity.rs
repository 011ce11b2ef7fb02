//! Who the probe is to the servers it tests: its EHLO name and the source address of every
//! connection it opens (SMTP, HTTPS, DNS). Receivers greylist, tarpit or drop clients whose
//! EHLO name does not resolve or whose address has no matching reverse DNS; an operator of a
//! public checker names both (`--ehlo`, `--source-ipv4`, `--source-ipv6`) and publishes them
//! (`/about/probe`), so that postmasters can tell who knocks and allow it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream, UdpSocket};

/// The local address of the probe's connections, per family (`None`: the kernel chooses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceAddrs {
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
}

impl SourceAddrs {
    /// The local address (port 0) for a connection to `peer`, if one is set for its family.
    pub fn for_peer(&self, peer: IpAddr) -> Option<SocketAddr> {
        match peer {
            IpAddr::V4(_) => self.v4.map(|ip| SocketAddr::new(ip.into(), 0)),
            IpAddr::V6(_) => self.v6.map(|ip| SocketAddr::new(ip.into(), 0)),
        }
    }

    /// A TCP connection to `peer` from the family's source address.
    pub async fn connect(&self, peer: SocketAddr) -> std::io::Result<TcpStream> {
        let Some(local) = self.for_peer(peer.ip()) else {
            return TcpStream::connect(peer).await;
        };
        let socket = match peer {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(local)?;
        socket.connect(peer).await
    }

    /// A UDP socket for `peer`, bound to the family's source address (or any).
    pub async fn udp(&self, peer: IpAddr) -> std::io::Result<UdpSocket> {
        let local = self.for_peer(peer).unwrap_or(match peer {
            IpAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
            IpAddr::V6(_) => SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0),
        });
        UdpSocket::bind(local).await
    }

    /// Whether every address set is one of this machine's: an error names the one that is
    /// not, at start-up, rather than a failed session per check.
    pub fn check_local(&self) -> Result<(), String> {
        let each = [self.v4.map(IpAddr::from), self.v6.map(IpAddr::from)];
        for ip in each.into_iter().flatten() {
            std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(|e| {
                format!("cannot send from {ip}: {e} (is it an address of this machine?)")
            })?;
        }
        Ok(())
    }

    /// The addresses set, IPv4 first: what the evidence and `/about/probe` name.
    pub fn list(&self) -> Vec<IpAddr> {
        [self.v4.map(IpAddr::from), self.v6.map(IpAddr::from)]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// This machine's name for EHLO: its fully qualified name where one is known (the kernel's
/// host name when it has a dot, else the first dotted alias `/etc/hosts` gives it, as
/// `hostname -f` finds it), else the bare host name; `None` when there is no host name.
pub fn machine_name() -> Option<String> {
    let short = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())?;
    if short.contains('.') {
        return Some(short);
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    Some(fqdn_in_hosts(&short, &hosts).unwrap_or(short))
}

/// The first dotted name on an `/etc/hosts` line that names `short`.
fn fqdn_in_hosts(short: &str, hosts: &str) -> Option<String> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let names: Vec<String> = line
            .split_whitespace()
            .skip(1)
            .map(str::to_ascii_lowercase)
            .collect();
        let named = names
            .iter()
            .any(|n| n == short || n.split('.').next() == Some(short));
        named
            .then(|| names.into_iter().find(|n| n.contains('.')))
            .flatten()
    })
}

/// Whether `name` may be the EHLO name of a public probe: not under `.invalid` (RFC 2606),
/// which tells every receiver that the client cannot be identified.
pub fn public_ehlo(name: &str) -> Result<(), String> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    if lower == "invalid" || lower.ends_with(".invalid") {
        return Err(format!(
            "the EHLO name {name} is under .invalid: give --ehlo NAME, the name the probe's \
             source address's reverse DNS points at"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fully_qualified_name_comes_from_etc_hosts() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.1 probe.old.example probe\n\
                     192.0.2.7 probe.example.net probe   # the probe\n";
        assert_eq!(
            fqdn_in_hosts("probe", hosts).as_deref(),
            Some("probe.example.net")
        );
        assert_eq!(fqdn_in_hosts("other", hosts), None);
        assert_eq!(fqdn_in_hosts("localhost", hosts), None);
    }

    #[test]
    fn invalid_names_are_not_public() {
        assert!(public_ehlo("mxtls.invalid").is_err());
        assert!(public_ehlo("Probe.INVALID.").is_err());
        assert!(public_ehlo("probe.example.net").is_ok());
        assert!(public_ehlo("invalid.example.net").is_ok());
    }

    #[tokio::test]
    async fn connections_leave_from_the_source_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let source = SourceAddrs {
            v4: Some(Ipv4Addr::new(127, 0, 0, 9)),
            v6: None,
        };
        let peer = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(source.connect(peer), listener.accept());
        let (_, from) = accepted.expect("accept");
        assert_eq!(from.ip(), IpAddr::from([127, 0, 0, 9]));
        assert_eq!(
            client.expect("connect").local_addr().expect("local").ip(),
            from.ip()
        );
        let udp = source.udp(peer.ip()).await.expect("udp");
        assert_eq!(udp.local_addr().expect("local").ip(), from.ip());
        assert!(source.check_local().is_ok());
        let foreign = SourceAddrs {
            v4: Some(Ipv4Addr::new(192, 0, 2, 1)),
            v6: None,
        };
        assert!(foreign.check_local().is_err());
    }
}
