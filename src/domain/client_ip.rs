//! The client's address, as the HTTP edge established it, and which
//! proxies' word for it is taken.
use std::net::IpAddr;

/// The client's address, when known: audit events name it, and the rate
/// limit counts by it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

impl ClientIp {
    /// The address coarsened to its network, as users are shown it: an IPv4
    /// /24 (`203.0.113.0/24`), an IPv6 /48.
    pub fn network(&self) -> Option<String> {
        Some(match self.0? {
            std::net::IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            std::net::IpAddr::V6(v6) => {
                let masked = std::net::Ipv6Addr::from(u128::from(v6) & (u128::MAX << 80));
                format!("{masked}/48")
            }
        })
    }
}

/// A short label of a `User-Agent` header, as a session list shows it:
/// "Firefox on Linux" for the browsers people recognise, else the first
/// product token ("curl/8.5.0", "okhttp/4.12.0"), at most 48 characters of
/// printable ASCII.
pub fn user_agent_label(header: &str) -> Option<String> {
    const BROWSERS: [(&str, &str); 6] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("CriOS/", "Chrome"),
        ("Safari/", "Safari"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS.iter().find(|(token, _)| header.contains(token)).map(|(_, name)| *name);
    let system = SYSTEMS.iter().find(|(token, _)| header.contains(token)).map(|(_, name)| *name);
    let label = match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_string(),
        _ => header.split_whitespace().next()?.chars().filter(|c| c.is_ascii_graphic()).take(48).collect(),
    };
    (!label.is_empty()).then_some(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_shown_by_their_network() {
        let network = |ip: &str| ClientIp(Some(ip.parse().unwrap())).network().unwrap();
        assert_eq!(network("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(network("2001:db8:1:2:3::4"), "2001:db8:1::/48");
        assert_eq!(ClientIp(None).network(), None);
    }

    #[test]
    fn user_agents_get_a_short_label() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(user_agent_label(firefox).unwrap(), "Firefox on Linux");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert_eq!(user_agent_label(chrome).unwrap(), "Chrome on Windows");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(user_agent_label(safari).unwrap(), "Safari on iOS");
        assert_eq!(user_agent_label("curl/8.5.0").unwrap(), "curl/8.5.0");
        assert_eq!(user_agent_label(&"x".repeat(500)).unwrap().len(), 48);
        assert_eq!(user_agent_label("   "), None);
    }
}

/// What a new session records of its client, for its user to recognise it.
#[derive(Debug, Clone, Default)]
pub struct ClientDetails {
    /// [`user_agent_label`] of the `User-Agent` header.
    pub user_agent: Option<String>,
    /// [`ClientIp::network`].
    pub network: Option<String>,
}

/// Which `X-Forwarded-For` entries to believe (`WARRANT_TRUST_PROXY`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustedProxies {
    /// None: the client is the TCP peer.
    #[default]
    None,
    /// This many proxies in front, each appending one entry: the client is
    /// the entry this many from the right. Any peer that reaches the
    /// instance directly can choose its address this way.
    Hops(usize),
    /// Proxies at these networks: the header is believed only from a peer
    /// inside them, and the client is the rightmost entry outside them.
    Networks(Vec<ipnet::IpNet>),
}

impl TrustedProxies {
    /// The client of a request from `peer` whose `X-Forwarded-For` entries,
    /// left to right, are `forwarded`.
    pub fn client(&self, peer: IpAddr, forwarded: &[&str]) -> IpAddr {
        let trusted = |ip: &IpAddr| match self {
            TrustedProxies::Networks(nets) => nets.iter().any(|net| net.contains(&ip.to_canonical())),
            _ => false,
        };
        let entry = match self {
            TrustedProxies::None => None,
            TrustedProxies::Hops(0) => None,
            // The leftmost when there are fewer entries than proxies.
            TrustedProxies::Hops(hops) => forwarded.get(forwarded.len().saturating_sub(*hops)).copied(),
            TrustedProxies::Networks(_) if !trusted(&peer) => None,
            TrustedProxies::Networks(_) => {
                // Walk the chain of trusted proxies from the right: the
                // first entry outside it is the client's. An unreadable
                // entry ends the chain at the last proxy that wrote one.
                let mut client = peer;
                for entry in forwarded.iter().rev() {
                    match entry.parse::<IpAddr>() {
                        Ok(ip) if trusted(&ip) => client = ip,
                        Ok(ip) => return ip.to_canonical(),
                        Err(_) => break,
                    }
                }
                return client.to_canonical();
            }
        };
        entry.and_then(|e| e.parse::<IpAddr>().ok()).unwrap_or(peer).to_canonical()
    }

    /// `WARRANT_TRUST_PROXY`: `false`, `true` (one proxy), a number of
    /// proxies, or a comma-separated list of proxy networks and addresses.
    pub fn parse(raw: &str, max_hops: usize) -> Result<Self, String> {
        match raw.trim() {
            "" | "false" => return Ok(Self::None),
            "true" => return Ok(Self::Hops(1)),
            _ => {}
        }
        if let Ok(hops) = raw.trim().parse::<usize>() {
            return match hops {
                0 => Ok(Self::None),
                n if n <= max_hops => Ok(Self::Hops(n)),
                _ => Err(format!("at most {max_hops} proxies, not {hops}")),
            };
        }
        let nets = raw
            .split(',')
            .map(str::trim)
            .map(|item| {
                item.parse::<ipnet::IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!("must be true, false, a number of proxies up to {max_hops}, or a comma-separated list of networks (10.0.0.0/8,192.0.2.7); {item:?} is none of these")
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::Networks(nets))
    }
}

#[cfg(test)]
mod proxy_tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_are_believed_only_from_a_peer_inside_them() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7", 10).unwrap();
        let xff = ["6.6.6.6", "203.0.113.9", "10.1.1.1"];
        assert_eq!(proxies.client(ip("10.0.0.2"), &xff), ip("203.0.113.9"), "rightmost untrusted");
        assert_eq!(proxies.client(ip("192.0.2.7"), &["203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(proxies.client(ip("198.51.100.1"), &xff), ip("198.51.100.1"), "a direct peer is itself");
        assert_eq!(proxies.client(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &["10.0.0.3"]),
            ip("10.0.0.3"),
            "all trusted: the leftmost"
        );
        assert_eq!(proxies.client(ip("10.0.0.2"), &["junk"]), ip("10.0.0.2"));
        assert_eq!(proxies.client(ip("::ffff:10.0.0.2"), &["203.0.113.9"]), ip("203.0.113.9"));
    }

    #[test]
    fn hop_counts_take_the_entry_that_many_from_the_right() {
        let xff = ["1.1.1.1", "2.2.2.2", "3.3.3.3"];
        assert_eq!(TrustedProxies::Hops(1).client(ip("9.9.9.9"), &xff), ip("3.3.3.3"));
        assert_eq!(TrustedProxies::Hops(2).client(ip("9.9.9.9"), &xff), ip("2.2.2.2"));
        assert_eq!(TrustedProxies::Hops(5).client(ip("9.9.9.9"), &xff), ip("1.1.1.1"));
        assert_eq!(TrustedProxies::None.client(ip("9.9.9.9"), &xff), ip("9.9.9.9"));
    }

    #[test]
    fn the_variable_takes_booleans_counts_and_networks() {
        assert_eq!(TrustedProxies::parse("false", 10), Ok(TrustedProxies::None));
        assert_eq!(TrustedProxies::parse("true", 10), Ok(TrustedProxies::Hops(1)));
        assert_eq!(TrustedProxies::parse("2", 10), Ok(TrustedProxies::Hops(2)));
        assert!(TrustedProxies::parse("11", 10).is_err());
        assert!(TrustedProxies::parse("yes", 10).is_err());
        assert!(TrustedProxies::parse("10.0.0.0/8,", 10).is_err());
        assert!(
            matches!(TrustedProxies::parse("2001:db8::/32", 10), Ok(TrustedProxies::Networks(n)) if n.len() == 1)
        );
    }
}
