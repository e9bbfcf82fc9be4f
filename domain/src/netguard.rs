//! Which network addresses an integration's API URL may reach (server-side request forgery).
//!
//! An editor sets an integration's `api_url`, the agent fetches it, and a viewer can read the
//! answer back (`SyncRun.lastResponse`, previews). So the agent must never be turned into a
//! proxy into its own network: loopback, private (RFC 1918), link-local (169.254.0.0/16, the
//! cloud metadata service), shared (100.64.0.0/10), unique-local (fc00::/7), unspecified,
//! multicast and broadcast addresses are refused, unless the operator lists the network in
//! `agent.allowed_networks` (tests and the demo allow 127.0.0.1/32).
//!
//! The check runs twice: when the URL is saved (literal addresses and `localhost` names, a
//! VALIDATION error) and when the agent connects (every address the name resolves to, and
//! every redirect), so a public name that resolves to a private address is refused too.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// The operator's exceptions, parsed once.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed: Vec<IpNet>,
}

impl TargetPolicy {
    /// From `agent.allowed_networks`: CIDRs (`10.1.0.0/16`) or single addresses (`127.0.0.1`).
    pub fn new(allowed: &[String]) -> Result<Self, String> {
        let allowed = allowed
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<IpNet>().or_else(|_| s.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                    format!("agent.allowed_networks: '{s}' is not a network (write a CIDR like 10.1.0.0/16 or an address like 127.0.0.1)")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { allowed })
    }

    /// The kind of `ip` ("loopback", "private", ...) when the agent may not call it.
    fn refused_kind(&self, ip: IpAddr) -> Option<&'static str> {
        let kind = special(ip)?;
        // `::ffff:127.0.0.1` is 127.0.0.1 for the allow list too.
        let v4 = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = |a: IpAddr| self.allowed.iter().any(|n| n.contains(&a));
        (!allowed(ip) && !v4.is_some_and(allowed)).then_some(kind)
    }

    /// Why the agent may not connect to `ip`, if it may not.
    pub fn refuses(&self, ip: IpAddr) -> Option<String> {
        self.refused_kind(ip).map(|kind| format!("{ip} is a {kind} address{HINT}"))
    }

    /// Why the agent may not connect to `host`, which resolved to `ip`, if it may not.
    pub fn refuses_resolved(&self, host: &str, ip: IpAddr) -> Option<String> {
        self.refused_kind(ip).map(|kind| format!("{host} resolves to {ip}, a {kind} address{HINT}"))
    }

    /// The agent's check before connecting: a URL whose host is a literal address (names go
    /// through [`TargetPolicy::refuses_resolved`] after DNS).
    pub fn refuses_literal(&self, url: &url::Url) -> Option<String> {
        match url.host()? {
            url::Host::Ipv4(ip) => self.refuses(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => self.refuses(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        }
    }

    /// The check when a URL is saved, which needs no DNS: a literal address, or a `localhost`
    /// name. Other names are checked again after resolution, at connect time.
    pub fn refuses_url(&self, url: &url::Url) -> Option<String> {
        match url.host()? {
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let local = name == "localhost" || name.ends_with(".localhost") || name == "localhost.localdomain";
                if local { self.refuses_resolved(&name, IpAddr::V4(Ipv4Addr::LOCALHOST)) } else { None }
            }
            _ => self.refuses_literal(url),
        }
    }
}

const HINT: &str = " (the agent calls no such address unless agent.allowed_networks lists it)";

/// The kind of a non-public address, or None for a public one.
fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return special_v4(v4);
            }
            let seg0 = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if (seg0 & 0xfe00) == 0xfc00 {
                Some("unique-local")
            } else if (seg0 & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || v6.segments()[..3] == [0x64, 0xff9b, 1] {
                // NAT64: the IPv4 address in the last 32 bits decides.
                let o = v6.octets();
                special_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
            } else {
                None
            }
        }
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if a == 198 && (18..20).contains(&b) {
        Some("benchmarking")
    } else if a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(p: &TargetPolicy, url: &str) -> bool {
        p.refuses_url(&url::Url::parse(url).expect("url")).is_some()
    }

    #[test]
    fn private_targets_are_refused_public_ones_pass_and_the_allow_list_wins() {
        let strict = TargetPolicy::default();
        for url in [
            "http://127.0.0.1:8080/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://localhost:9000/",
            "http://api.localhost/",
            "http://2130706433/",
            "http://198.18.0.1/",
            "http://240.0.0.1/",
            "http://[64:ff9b:1::a9fe:a9fe]/",
        ] {
            assert!(refused(&strict, url), "{url} must be refused");
        }
        for url in ["https://api.eflow.team/v1", "http://8.8.8.8/", "http://[2606:4700::1111]/", "https://demo.api.hasoffers.com/"] {
            assert!(!refused(&strict, url), "{url} is public");
        }
        let tests = TargetPolicy::new(&["127.0.0.1/32".into(), "::1".into()]).expect("policy");
        assert!(!refused(&tests, "http://127.0.0.1:5555/"));
        assert!(!refused(&tests, "http://localhost:5555/"));
        assert!(!refused(&tests, "http://[::1]:5555/"));
        assert!(!refused(&tests, "http://[::ffff:127.0.0.1]:5555/"));
        assert!(refused(&tests, "http://127.0.0.2/"), "only what is listed");
        assert!(refused(&tests, "http://169.254.169.254/"));
        assert!(TargetPolicy::new(&["not-a-net".into()]).is_err());
    }
}
