//! Webhook rules that need neither the database nor the network: Standard Webhooks 1.0
//! signatures and secrets, the retry schedule, when a webhook is disabled, and which targets
//! the service may call.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// The waits before each retry after a failed attempt (the issue's schedule): a delivery is
/// attempted once and retried at most this many times.
pub const RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3_600),
    Duration::from_secs(5 * 3_600),
    Duration::from_secs(10 * 3_600),
    Duration::from_secs(10 * 3_600),
];

/// How long one attempt may take before it counts as failed.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// A webhook whose every attempt failed for this long is disabled.
pub const FAILING_LIMIT: Duration = Duration::from_secs(5 * 24 * 3_600);

/// How long a rotated-out secret keeps signing beside the new one.
pub const SECRET_OVERLAP: Duration = Duration::from_secs(24 * 3_600);

/// The most of a response body read (the rest is not waited for).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The longest `Retry-After` honoured: a receiver cannot park a webhook for longer than the
/// longest step of the schedule.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 3_600);

/// The longest URL a webhook may have.
pub const MAX_URL_CHARS: usize = 2_048;

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered with this status (and, on 429 or 503, perhaps a `Retry-After`).
    Answered {
        /// The HTTP status.
        status: u16,
        /// The wait the receiver asked for, when it did.
        retry_after: Option<Duration>,
    },
    /// No answer: refused target, DNS, connection, TLS or time-out.
    NoAnswer,
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Delivered (2xx).
    Delivered,
    /// Try again after this wait.
    RetryAfter(Duration),
    /// Retries are used up: the delivery is failed and the webhook moves on.
    GiveUp,
    /// The receiver answered 410 Gone: the webhook is disabled at once.
    Gone,
}

/// The next step after the `attempts`-th attempt (1 for the first) came to `attempt`.
pub fn next_step(attempts: u32, attempt: &Attempt) -> Next {
    let retry_after = match attempt {
        Attempt::Answered { status, .. } if (200..300).contains(status) => return Next::Delivered,
        Attempt::Answered { status: 410, .. } => return Next::Gone,
        Attempt::Answered {
            status: 429 | 503,
            retry_after,
        } => *retry_after,
        _ => None,
    };
    let Some(scheduled) = usize::try_from(attempts)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| RETRY_DELAYS.get(i))
    else {
        return Next::GiveUp;
    };
    Next::RetryAfter(retry_after.map_or(*scheduled, |asked| asked.min(MAX_RETRY_AFTER)))
}

/// Whether a webhook whose attempts have all failed since `failing_for` must be disabled.
pub fn failing_too_long(failing_for: Duration) -> bool {
    failing_for >= FAILING_LIMIT
}

/// A signing secret: 32 random bytes, shown as `whsec_` and their base64.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The prefix of a secret's text.
pub const SECRET_PREFIX: &str = "whsec_";

impl Secret {
    /// A new secret from the operating system's random source.
    pub fn generate() -> Result<Secret, getrandom::Error> {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Secret(bytes))
    }

    /// Reads `whsec_<base64>` (the prefix may be omitted, as the reference libraries allow).
    pub fn parse(text: &str) -> Option<Secret> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        BASE64
            .decode(encoded)
            .ok()
            .filter(|b| !b.is_empty())
            .map(Secret)
    }

    /// `whsec_<base64>`.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0))
    }

    /// One signature of a message: `v1,<base64 of HMAC-SHA256("{id}.{timestamp}.{body}")>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret in force, space-separated (during
/// a rotation the old secret signs beside the new one, so that receivers can switch at leisure).
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A webhook's target, as checked when it is registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https` (or `http` where allowed).
    pub https: bool,
    /// The host: a name or an address (IPv6 without its brackets).
    pub host: String,
    /// The port (443 or 80 by default).
    pub port: u16,
}

/// Checks a webhook URL: absolute `https` (or `http` when `allow_http`), a host, no user
/// information, no fragment; a literal address or `localhost` must be public unless
/// `allow_private`. Names are checked again on the addresses they resolve to, at delivery.
pub fn check_url(url: &str, allow_http: bool, allow_private: bool) -> Result<Target, String> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(format!("at most {MAX_URL_CHARS} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !allow_http {
            return Err("must be an https URL (PORTAGE_WEBHOOK_ALLOW_HTTP=1 allows http)".into());
        }
        (false, rest)
    } else {
        return Err("must be an absolute https URL".into());
    };
    if url.contains('#') {
        return Err("must not have a fragment".into());
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry a user name or password".into());
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("has an unclosed IPv6 address")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => {
            if https {
                443
            } else {
                80
            }
        }
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or("has an invalid port")?,
    };
    let host = host.to_ascii_lowercase();
    let literal: Option<IpAddr> = host.parse().ok();
    let plain_name = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if literal.is_none() && !plain_name {
        return Err("has no valid host".into());
    }
    if !allow_private {
        let private = match literal {
            Some(ip) => !is_public(ip),
            None => host == "localhost" || host.ends_with(".localhost"),
        };
        if private {
            return Err(
                "names a private, loopback or link-local address (PORTAGE_WEBHOOK_ALLOW_PRIVATE=1 allows it)"
                    .into(),
            );
        }
    }
    Ok(Target { https, host, port })
}

/// Whether an address is on the public internet: not private, loopback, link-local, shared,
/// documentation, benchmarking, multicast or reserved, in either family (an IPv4 address
/// mapped into IPv6 is judged as IPv4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64: judged by nobody
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_standard_webhooks_test_vector_reproduces() {
        // The vector published with the Standard Webhooks reference libraries.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_generated_secret_reads_back() {
        let secret = Secret::generate().unwrap();
        let text = secret.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(Secret::parse(&text), Some(secret.clone()));
        assert_eq!(secret.0.len(), 32);
        assert_ne!(Secret::generate().unwrap(), secret);
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let old = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let new = Secret::generate().unwrap();
        let header = signature_header(&[new.clone(), old.clone()], "m", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts, [new.sign("m", 1, b"{}"), old.sign("m", 1, b"{}")]);
    }

    #[test]
    fn the_schedule_is_the_issues() {
        let failed = Attempt::Answered {
            status: 500,
            retry_after: None,
        };
        let waits: Vec<Next> = (1..=8).map(|n| next_step(n, &failed)).collect();
        let secs = |s| Next::RetryAfter(Duration::from_secs(s));
        assert_eq!(
            waits,
            [
                secs(5),
                secs(300),
                secs(1_800),
                secs(7_200),
                secs(18_000),
                secs(36_000),
                secs(36_000),
                Next::GiveUp
            ]
        );
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only() {
        let asked = Some(Duration::from_secs(90));
        for status in [429, 503] {
            assert_eq!(
                next_step(
                    1,
                    &Attempt::Answered {
                        status,
                        retry_after: asked
                    }
                ),
                Next::RetryAfter(Duration::from_secs(90))
            );
        }
        assert_eq!(
            next_step(
                1,
                &Attempt::Answered {
                    status: 500,
                    retry_after: asked
                }
            ),
            Next::RetryAfter(Duration::from_secs(5))
        );
        assert_eq!(
            next_step(
                2,
                &Attempt::Answered {
                    status: 429,
                    retry_after: Some(Duration::from_secs(10 * 86_400))
                }
            ),
            Next::RetryAfter(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn gone_and_success_end_at_once() {
        let answered = |status| Attempt::Answered {
            status,
            retry_after: None,
        };
        assert_eq!(next_step(1, &answered(204)), Next::Delivered);
        assert_eq!(next_step(8, &answered(200)), Next::Delivered);
        assert_eq!(next_step(1, &answered(410)), Next::Gone);
        assert_eq!(
            next_step(1, &answered(301)),
            Next::RetryAfter(RETRY_DELAYS[0])
        );
        assert_eq!(
            next_step(3, &Attempt::NoAnswer),
            Next::RetryAfter(RETRY_DELAYS[2])
        );
    }

    #[test]
    fn urls_are_held_to_safe_targets() {
        let ok = |u| check_url(u, false, false);
        assert_eq!(
            ok("https://hooks.example.org/portage?x=1"),
            Ok(Target {
                https: true,
                host: "hooks.example.org".into(),
                port: 443
            })
        );
        assert!(ok("http://hooks.example.org/").is_err());
        assert!(check_url("http://hooks.example.org/", true, false).is_ok());
        for bad in [
            "ftp://example.org/",
            "https://user:pw@example.org/",
            "https://example.org/#frag",
            "https://127.0.0.1/",
            "https://[::1]:8443/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost:9000/",
            "https:///nohost",
            "https://exa mple.org/",
            "https://example.org:0/",
            "https://example.org:99999/",
        ] {
            assert!(ok(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            check_url("http://127.0.0.1:8089/hook", true, true).map(|t| t.port),
            Ok(8089)
        );
    }

    #[test]
    fn private_ranges_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "193.51.24.1", "2a01:cb00::1", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    proptest! {
        #[test]
        fn every_failed_attempt_waits_or_gives_up_after_the_last(attempts in 1u32..20, status in 300u16..600) {
            prop_assume!(status != 410);
            let next = next_step(attempts, &Attempt::Answered { status, retry_after: None });
            if attempts as usize > RETRY_DELAYS.len() {
                prop_assert_eq!(next, Next::GiveUp);
            } else {
                prop_assert_eq!(next, Next::RetryAfter(RETRY_DELAYS[attempts as usize - 1]));
            }
        }

        #[test]
        fn a_signature_changes_with_every_part(id in "[a-z0-9]{1,12}", ts in 0i64..4_000_000_000, body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
            let base = secret.sign(&id, ts, &body);
            prop_assert_ne!(&base, &secret.sign(&format!("{id}x"), ts, &body));
            prop_assert_ne!(&base, &secret.sign(&id, ts + 1, &body));
            let mut other = body.clone();
            other.push(b'x');
            prop_assert_ne!(&base, &secret.sign(&id, ts, &other));
        }

        #[test]
        fn any_v4_address_in_ten_slash_eight_is_private(b in any::<u8>(), c in any::<u8>(), d in any::<u8>()) {
            prop_assert!(!is_public(IpAddr::V4(Ipv4Addr::new(10, b, c, d))));
        }
    }
}
