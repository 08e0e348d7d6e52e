//! The routing table the data plane reads: hosts to services, each with its live
//! targets. It is immutable; a change builds a new one and swaps it in whole, so a
//! request sees either the old routing or the new, never half of each.
//!
//! Picking a release: with a canary of weight `w`, a request goes to the canary when its
//! bucket (0–99) is below `w`. The bucket is the FNV-1a hash of the sticky key (a cookie
//! or header value) when the service has one and the request carries it — stable across
//! restarts and machines, so one key sees one release for a given weight, and raising the
//! weight only moves keys from the primary to the canary; otherwise a cheap random draw.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderMap;
use http::header::COOKIE;

use crate::state::Sticky;
use crate::target::Target;

/// One service as the data plane sees it.
pub(crate) struct Route {
    pub(crate) service: Arc<str>,
    pub(crate) primary: Option<Arc<Target>>,
    pub(crate) canary: Option<(Arc<Target>, u8)>,
    pub(crate) preview: Option<Arc<Target>>,
    pub(crate) sticky: Option<Sticky>,
}

/// Where a request goes.
pub(crate) enum Pick<'a> {
    /// To this target.
    Target(&'a Arc<Target>),
    /// The service has no release yet (or no preview, for a preview request).
    Nothing,
}

impl Route {
    /// The target for a request with `headers`; `preview` when it asked for the preview.
    pub(crate) fn pick(&self, headers: &HeaderMap, preview: bool) -> Pick<'_> {
        if preview {
            return self.preview.as_ref().map_or(Pick::Nothing, Pick::Target);
        }
        let Some(primary) = &self.primary else {
            return Pick::Nothing;
        };
        if let Some((canary, weight)) = &self.canary
            && *weight > 0
        {
            let key = self.sticky.as_ref().and_then(|s| sticky_key(s, headers));
            let bucket = match key {
                Some(k) => bucket_of(k),
                None => random_bucket(),
            };
            if bucket < *weight {
                return Pick::Target(canary);
            }
        }
        Pick::Target(primary)
    }
}

/// The routing table.
#[derive(Default)]
pub(crate) struct Table {
    hosts: HashMap<String, Arc<Route>>,
    preview_hosts: HashMap<String, Arc<Route>>,
    default: Option<Arc<Route>>,
}

impl Table {
    /// Adds `route` for `hosts`, `preview_host`, and as the default when `default`.
    pub(crate) fn add(
        &mut self,
        route: Arc<Route>,
        hosts: &[String],
        preview_host: Option<&str>,
        default: bool,
    ) {
        for h in hosts {
            self.hosts.insert(h.clone(), Arc::clone(&route));
        }
        if let Some(p) = preview_host {
            self.preview_hosts.insert(p.to_string(), Arc::clone(&route));
        }
        if default {
            self.default = Some(route);
        }
    }

    /// The route for `host` (a `Host` header value, port and case as sent), and whether
    /// it was the route's preview host.
    pub(crate) fn route(&self, host: Option<&str>) -> Option<(&Arc<Route>, bool)> {
        if let Some(host) = host {
            let host = strip_port(host);
            let lower;
            let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
                lower = host.to_ascii_lowercase();
                lower.as_str()
            } else {
                host
            };
            if let Some(r) = self.hosts.get(host) {
                return Some((r, false));
            }
            if let Some(r) = self.preview_hosts.get(host) {
                return Some((r, true));
            }
        }
        self.default.as_ref().map(|r| (r, false))
    }
}

/// `example.test:8080` -> `example.test`; `[::1]:80` -> `[::1]`.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

/// The sticky key of a request, if it carries one.
fn sticky_key<'a>(sticky: &Sticky, headers: &'a HeaderMap) -> Option<&'a [u8]> {
    match sticky {
        Sticky::Header(name) => headers
            .get(name.as_str())
            .map(|v| v.as_bytes())
            .filter(|v| !v.is_empty()),
        Sticky::Cookie(name) => headers
            .get_all(COOKIE)
            .iter()
            .find_map(|v| cookie_value(v.as_bytes(), name.as_bytes())),
    }
}

/// The value of cookie `name` in one `Cookie` header.
fn cookie_value<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|&b| b == b'=')?;
        (pair[..eq].trim_ascii() == name)
            .then(|| pair[eq + 1..].trim_ascii())
            .filter(|v| !v.is_empty())
    })
}

/// FNV-1a, 64 bits: stable across processes and versions (unlike `std`'s hasher).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The bucket (0–99) of a sticky key.
pub(crate) fn bucket_of(key: &[u8]) -> u8 {
    // The remainder is below 100, so the cast is exact.
    (fnv1a(key) % 100) as u8
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

/// A per-thread seed: std's randomly keyed hasher over the thread's id.
fn seed() -> u64 {
    use std::hash::BuildHasher;
    let s = std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id());
    s | 1
}

/// A random bucket (0–99): xorshift64*, per thread; cheap and good enough to split
/// traffic (the bias of `% 100` on 64 bits is below 10^-17).
fn random_bucket() -> u8 {
    RNG.with(|c| {
        let mut x = c.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        c.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) % 100) as u8
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // From the FNV reference test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = b"a=1; session=abc ; sessionx=no";
        assert_eq!(cookie_value(h, b"session"), Some(&b"abc"[..]));
        assert_eq!(cookie_value(h, b"sess"), None);
        assert_eq!(cookie_value(b"session=", b"session"), None);
    }

    #[test]
    fn random_buckets_spread_evenly() {
        let mut counts = [0u32; 100];
        for _ in 0..100_000 {
            counts[usize::from(random_bucket())] += 1;
        }
        // 1,000 expected per bucket; 5 sigma is ~160.
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn ports_and_case_do_not_matter_for_hosts() {
        assert_eq!(strip_port("example.test:8080"), "example.test");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        let mut t = Table::default();
        let route = Arc::new(Route {
            service: "web".into(),
            primary: None,
            canary: None,
            preview: None,
            sticky: None,
        });
        t.add(
            route,
            &["example.test".into()],
            Some("next.example.test"),
            false,
        );
        assert!(matches!(t.route(Some("Example.TEST:80")), Some((_, false))));
        assert!(matches!(
            t.route(Some("next.example.test")),
            Some((_, true))
        ));
        assert!(t.route(Some("other.test")).is_none());
        assert!(t.route(None).is_none());
    }
}
