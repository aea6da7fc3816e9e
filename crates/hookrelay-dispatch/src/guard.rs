//! Destination guard: which addresses hookrelay refuses to send to.
//!
//! Only *global unicast* addresses pass, as the IANA IPv4 and IPv6
//! Special-Purpose Address Registries define them: IPv6 must be inside
//! 2000::/3 (global unicast) and outside its special-purpose blocks, IPv4
//! outside every special-purpose block. Everything else — loopback, private,
//! shared (CGNAT), link-local, multicast, documentation, benchmarking,
//! reserved, and the IPv6 forms that embed or translate to an IPv4 address
//! (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) — is refused, because
//! a tenant's URL must not reach hookrelay's own network.
//!
//! The check runs on the *resolved* address at send time (the HTTP client,
//! `crate::client`, connects only to addresses that passed), so a hostname that
//! resolves to an internal address — including one that changes its answer
//! between validation and delivery (DNS rebinding) — is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(s: [u16; 8], prefix: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        prefix,
    )
}

/// IPv4 blocks that are not global unicast (IANA IPv4 Special-Purpose
/// Address Registry, plus multicast and the reserved class E).
const BLOCKED_V4: &[Ipv4Net] = &[
    v4(0, 0, 0, 0, 8),          // "this network"
    v4(10, 0, 0, 0, 8),         // private
    v4(100, 64, 0, 0, 10),      // shared address space (CGNAT)
    v4(127, 0, 0, 0, 8),        // loopback
    v4(169, 254, 0, 0, 16),     // link-local (cloud metadata lives here)
    v4(172, 16, 0, 0, 12),      // private
    v4(192, 0, 0, 0, 24),       // IETF protocol assignments
    v4(192, 0, 2, 0, 24),       // documentation (TEST-NET-1)
    v4(192, 31, 196, 0, 24),    // AS112-v4
    v4(192, 52, 193, 0, 24),    // AMT
    v4(192, 88, 99, 0, 24),     // deprecated 6to4 relay anycast
    v4(192, 168, 0, 0, 16),     // private
    v4(192, 175, 48, 0, 24),    // direct delegation AS112 service
    v4(198, 18, 0, 0, 15),      // benchmarking
    v4(198, 51, 100, 0, 24),    // documentation (TEST-NET-2)
    v4(203, 0, 113, 0, 24),     // documentation (TEST-NET-3)
    v4(224, 0, 0, 0, 4),        // multicast
    v4(240, 0, 0, 0, 4),        // reserved (class E)
    v4(255, 255, 255, 255, 32), // limited broadcast (inside 240/4; listed for the reader)
];

/// Global unicast IPv6: everything outside it is refused (that covers ::,
/// ::1, IPv4-compatible ::/96, IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96
/// and 64:ff9b:1::/48, discard 100::/64, unique local fc00::/7, link-local
/// fe80::/10, site-local fec0::/10, multicast ff00::/8, and the SRv6 SID
/// block 5f00::/16).
const GLOBAL_V6: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// Special-purpose blocks inside 2000::/3.
const BLOCKED_V6: &[Ipv6Net] = &[
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments (Teredo, benchmarking, ORCHID, …)
    v6([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32), // documentation
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), // 6to4: embeds an IPv4 address
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation
];

/// Whether `ip` is anything but a global unicast address.
pub fn is_blocked(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => BLOCKED_V4.iter().any(|net| net.contains(&ip)),
        IpAddr::V6(ip) => {
            !GLOBAL_V6.contains(&ip) || BLOCKED_V6.iter().any(|net| net.contains(&ip))
        }
    }
}

/// The error a refused destination produces; found again in the error chain
/// to classify the attempt as `blocked_destination`.
///
/// Its message is stored in delivery history, which the tenant reads, so it
/// never names the address: which internal addresses a name resolves to is
/// the operator's business. The address is kept for the server log.
#[derive(Debug, thiserror::Error)]
#[error(
    "the endpoint's address is not allowed: it resolves to a private, loopback or reserved address"
)]
pub struct Blocked(pub IpAddr);

#[cfg(test)]
mod tests {
    use super::*;

    /// Per blocked range: addresses inside it (first and last at least).
    const INSIDE: &[(&str, &[&str])] = &[
        ("0.0.0.0/8", &["0.0.0.0", "0.255.255.255"]),
        ("10.0.0.0/8", &["10.0.0.0", "10.1.2.3", "10.255.255.255"]),
        ("100.64.0.0/10", &["100.64.0.0", "100.127.255.255"]),
        ("127.0.0.0/8", &["127.0.0.1", "127.255.255.255"]),
        ("169.254.0.0/16", &["169.254.0.0", "169.254.169.254"]),
        ("172.16.0.0/12", &["172.16.0.0", "172.31.255.255"]),
        ("192.0.0.0/24", &["192.0.0.0", "192.0.0.255"]),
        ("192.0.2.0/24", &["192.0.2.1", "192.0.2.255"]),
        ("192.31.196.0/24", &["192.31.196.0", "192.31.196.255"]),
        ("192.52.193.0/24", &["192.52.193.0", "192.52.193.255"]),
        ("192.88.99.0/24", &["192.88.99.0", "192.88.99.255"]),
        ("192.168.0.0/16", &["192.168.0.0", "192.168.255.255"]),
        ("192.175.48.0/24", &["192.175.48.0", "192.175.48.255"]),
        ("198.18.0.0/15", &["198.18.0.0", "198.19.255.255"]),
        ("198.51.100.0/24", &["198.51.100.0", "198.51.100.255"]),
        ("203.0.113.0/24", &["203.0.113.0", "203.0.113.255"]),
        ("224.0.0.0/4", &["224.0.0.1", "239.255.255.255"]),
        ("240.0.0.0/4", &["240.0.0.0", "254.255.255.255"]),
        ("255.255.255.255/32", &["255.255.255.255"]),
        ("::/128", &["::"]),
        ("::1/128", &["::1"]),
        ("::/96 (IPv4-compatible)", &["::8.8.8.8", "::ffff:ffff"]),
        (
            "::ffff:0:0/96 (IPv4-mapped)",
            &["::ffff:8.8.8.8", "::ffff:127.0.0.1", "::ffff:10.0.0.1"],
        ),
        (
            "64:ff9b::/96 (NAT64)",
            &["64:ff9b::8.8.8.8", "64:ff9b::a00:1"],
        ),
        ("64:ff9b:1::/48 (local NAT64)", &["64:ff9b:1::1"]),
        ("100::/64 (discard)", &["100::", "100::ffff:ffff:ffff:ffff"]),
        (
            "2001::/23",
            &[
                "2001::",
                "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
                "2001:2::1",                            // benchmarking
                "2001:10::1",                           // ORCHID
                "2001:20::1",                           // ORCHIDv2
                "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
            ],
        ),
        (
            "2001:db8::/32",
            &["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        (
            "2002::/16 (6to4)",
            &["2002::", "2002:c000:0204::1", "2002:ffff::1"],
        ),
        (
            "3fff::/20",
            &["3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ),
        ("5f00::/16 (SRv6 SIDs)", &["5f00::", "5f00:ffff::1"]),
        ("fc00::/7 (unique local)", &["fc00::", "fd00::1", "fdff::1"]),
        ("fe80::/10 (link-local)", &["fe80::", "fe80::1", "febf::1"]),
        ("fec0::/10 (site-local)", &["fec0::1", "feff::1"]),
        ("ff00::/8 (multicast)", &["ff02::1", "ff0e::1"]),
        (
            "outside 2000::/3",
            &["1fff:ffff::1", "4000::1", "e000::1", "::2"],
        ),
    ];

    /// Global unicast addresses, many of them just outside a blocked range.
    const ALLOWED: &[&str] = &[
        "8.8.8.8",
        "93.184.216.34",
        "1.0.0.0",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "169.253.255.255",
        "169.255.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "191.255.255.255",
        "192.0.1.0",
        "192.0.3.0",
        "192.31.195.255",
        "192.31.197.0",
        "192.52.192.255",
        "192.52.194.0",
        "192.88.98.255",
        "192.88.100.0",
        "192.167.255.255",
        "192.169.0.0",
        "192.175.47.255",
        "192.175.49.0",
        "198.17.255.255",
        "198.20.0.0",
        "198.51.99.255",
        "198.51.101.0",
        "203.0.112.255",
        "203.0.114.0",
        "223.255.255.255",
        "2000::1",
        "2001:200::1",
        "2001:4860:4860::8888",
        "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:db9::",
        "2003::1",
        "2606:4700::1111",
        "2a00:1450:4001:80b::200e",
        "3ffe:ffff::1",
        "3fff:1000::",
    ];

    #[test]
    fn every_special_purpose_range_is_blocked() {
        for (range, ips) in INSIDE {
            for ip in *ips {
                let parsed: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
                assert!(is_blocked(parsed), "{ip} is in {range} and must be blocked");
            }
        }
    }

    #[test]
    fn global_unicast_neighbours_are_allowed() {
        for ip in ALLOWED {
            let parsed: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"));
            assert!(!is_blocked(parsed), "{ip} is global unicast");
        }
    }

    #[test]
    fn the_tables_match_the_ranges_they_name() {
        // Every listed range's first address is blocked and its network
        // address is what the table says (new_assert would not catch a
        // typo that still makes a valid network).
        for net in BLOCKED_V4 {
            assert_eq!(net.network(), net.addr(), "{net} is not a network address");
            assert!(is_blocked(IpAddr::V4(net.network())));
            assert!(is_blocked(IpAddr::V4(net.broadcast())));
        }
        for net in BLOCKED_V6 {
            assert_eq!(net.network(), net.addr(), "{net} is not a network address");
            assert!(is_blocked(IpAddr::V6(net.network())));
            assert!(is_blocked(IpAddr::V6(net.broadcast())));
        }
    }

    #[test]
    fn the_refusal_does_not_name_the_address() {
        for ip in ["10.1.2.3", "fd00::1"] {
            let msg = Blocked(ip.parse().unwrap()).to_string();
            assert!(!msg.contains(ip), "{msg}");
            assert!(msg.contains("not allowed"), "{msg}");
        }
    }
}
