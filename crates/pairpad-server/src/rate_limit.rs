//! The per-address limit on room creation (`server.rooms_per_minute`, `server.rooms_burst`).

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Checks between two sweeps of the addresses whose allowance is full again.
const SWEEP_EVERY: u32 = 1024;

/// How many rooms each client address may create.
pub struct RoomCreationLimit {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: AtomicU32,
}

impl RoomCreationLimit {
    /// `per_minute` 0 turns the limit off.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let quota = NonZeroU32::new(per_minute)
            .map(|rate| Quota::per_minute(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)));
        Self { limiter: quota.map(RateLimiter::keyed), checks: AtomicU32::new(0) }
    }

    /// Counts one room created by `client`, or refuses it with 429 `rate_limited`.
    pub fn check(&self, client: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        // The limiter keeps a state per address; forgetting the addresses that are back to a
        // full allowance bounds its memory by the addresses seen in the last burst's duration.
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(&rate_key(client)).map_err(|not_until| {
            let wait = not_until.wait_time_from(Instant::now());
            ApiError::rate_limited("too many rooms created from this address; retry later", wait)
        })
    }
}

/// The key an address is counted under. One IPv6 subscriber usually holds a whole /64, so a
/// limit per IPv6 address would be no limit at all.
fn rate_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_burst_then_waits() {
        let limit = RoomCreationLimit::new(60, 2);
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        assert!(limit.check(a).is_ok() && limit.check(a).is_ok());
        let refused = limit.check(a).unwrap_err();
        assert_eq!(refused.code(), "rate_limited");
        assert!(limit.check(b).is_ok());
        let off = RoomCreationLimit::new(0, 0);
        assert!((0..100).all(|_| off.check(a).is_ok()));
    }

    #[test]
    fn an_ipv6_slash_64_counts_as_one_address() {
        let key = |text: &str| rate_key(text.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
    }
}
