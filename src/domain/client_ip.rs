//! The client's address, as the HTTP edge established it.
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
