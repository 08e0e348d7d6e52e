//! The control API's request bodies, read field by field so that every refusal names
//! the field at fault (`health.interval_ms`, `weight`) — serde's own messages do not
//! for a value of the wrong type.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::health::HealthSpec;
use crate::state::{Sticky, TargetSpec};
use crate::target::{check_release, parse_addr};

/// `PUT /services/{name}`.
pub(crate) struct ServiceSpec {
    pub(crate) hosts: Vec<String>,
    pub(crate) default: bool,
    pub(crate) sticky: Option<Sticky>,
    pub(crate) preview_host: Option<String>,
}

/// `POST /services/{name}/deploy`.
pub(crate) struct DeployRequest {
    pub(crate) target: TargetSpec,
    pub(crate) health: HealthSpec,
    pub(crate) preview: bool,
}

/// `POST /services/{name}/canary`.
pub(crate) struct CanaryRequest {
    pub(crate) target: TargetSpec,
    pub(crate) health: HealthSpec,
    pub(crate) weight: u8,
}

/// A JSON object being read; `prefix` names where it sits (`health.`).
struct Obj {
    map: Map<String, Value>,
    prefix: &'static str,
}

impl Obj {
    /// The body as an object with only the `allowed` keys (an empty body is `{}`).
    fn parse(body: &[u8], allowed: &[&str]) -> Result<Obj> {
        let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(body)
                .map_err(|e| Error::invalid(format!("the body is not valid JSON: {e}"), None))?
        };
        Obj::of(value, "", allowed)
    }

    fn of(value: Value, prefix: &'static str, allowed: &[&str]) -> Result<Obj> {
        let Value::Object(map) = value else {
            let what = if prefix.is_empty() {
                "the body".to_string()
            } else {
                format!("field `{}`", prefix.trim_end_matches('.'))
            };
            return Err(Error::invalid(
                format!("{what} must be a JSON object"),
                None,
            ));
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(Error::field(
                    format!("{prefix}{key}"),
                    format!(
                        "unknown field `{prefix}{key}`; expected one of: {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(Obj { map, prefix })
    }

    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Field `key`, if present and not null.
    fn opt<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v).map(Some).map_err(|e| {
                let name = self.name(key);
                Error::field(&name, format!("field `{name}`: {e}"))
            }),
        }
    }

    /// Field `key`, required.
    fn req<T: DeserializeOwned>(&mut self, key: &str) -> Result<T> {
        self.opt(key)?.ok_or_else(|| {
            let name = self.name(key);
            Error::field(&name, format!("missing field `{name}`"))
        })
    }
}

/// Checks a service name: it is a path segment and a metric label.
pub(crate) fn check_service_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("invalid service name {name:?}: use 1–63 of a-z, 0-9, '-', '_', '.'"),
            None,
        ))
    }
}

/// A host name as the table keys it: lower case, no port.
fn host(field: &str, h: &str) -> Result<String> {
    let h = h.trim().to_ascii_lowercase();
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if ok {
        Ok(h)
    } else {
        Err(Error::field(
            field,
            format!("field `{field}`: {h:?} is not a host name (no port, no scheme)"),
        ))
    }
}

fn name_of_header(field: &str, name: &str) -> Result<String> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map(|n| n.as_str().to_string())
        .map_err(|_| {
            Error::field(
                field,
                format!("field `{field}`: {name:?} is not a header name"),
            )
        })
}

/// Reads `PUT /services/{name}`'s body.
pub(crate) fn service_spec(body: &[u8]) -> Result<ServiceSpec> {
    let mut o = Obj::parse(body, &["hosts", "default", "sticky", "preview_host"])?;
    let hosts: Vec<String> = o.opt("hosts")?.unwrap_or_default();
    let hosts = hosts
        .iter()
        .map(|h| host("hosts", h))
        .collect::<Result<Vec<_>>>()?;
    let default = o.opt("default")?.unwrap_or(false);
    if hosts.is_empty() && !default {
        return Err(Error::field(
            "hosts",
            "a service needs `hosts` (e.g. [\"app.example.com\"]) or `default: true`",
        ));
    }
    let sticky = match o.opt::<Value>("sticky")? {
        None => None,
        Some(v) => {
            let mut s = Obj::of(v, "sticky.", &["cookie", "header"])?;
            let cookie: Option<String> = s.opt("cookie")?;
            let header: Option<String> = s.opt("header")?;
            match (cookie, header) {
                (Some(c), None)
                    if !c.is_empty()
                        && c.bytes()
                            .all(|b| b.is_ascii_graphic() && !b"=;,".contains(&b)) =>
                {
                    Some(Sticky::Cookie(c))
                }
                (Some(c), None) => {
                    return Err(Error::field(
                        "sticky.cookie",
                        format!("field `sticky.cookie`: {c:?} is not a cookie name"),
                    ));
                }
                (None, Some(h)) => Some(Sticky::Header(name_of_header("sticky.header", &h)?)),
                _ => {
                    return Err(Error::field(
                        "sticky",
                        "field `sticky` must be {\"cookie\": NAME} or {\"header\": NAME}",
                    ));
                }
            }
        }
    };
    let preview_host = o
        .opt::<String>("preview_host")?
        .map(|h| host("preview_host", &h))
        .transpose()?;
    if let Some(p) = &preview_host
        && hosts.contains(p)
    {
        return Err(Error::field(
            "preview_host",
            format!("field `preview_host`: {p:?} is also one of the service's hosts"),
        ));
    }
    Ok(ServiceSpec {
        hosts,
        default,
        sticky,
        preview_host,
    })
}

fn millis(o: &mut Obj, key: &str, default: Duration) -> Result<Duration> {
    let name = o.name(key);
    match o.opt::<u64>(key)? {
        None => Ok(default),
        Some(0) => Err(Error::field(
            &name,
            format!("field `{name}` must be at least 1"),
        )),
        Some(ms) if ms > 600_000 => Err(Error::field(
            &name,
            format!("field `{name}` must be at most 600000 (10 minutes), got {ms}"),
        )),
        Some(ms) => Ok(Duration::from_millis(ms)),
    }
}

fn health(o: &mut Obj) -> Result<HealthSpec> {
    let d = HealthSpec::default();
    let Some(v) = o.opt::<Value>("health")? else {
        return Ok(d);
    };
    let mut h = Obj::of(
        v,
        "health.",
        &["path", "interval_ms", "timeout_ms", "deadline_ms"],
    )?;
    let path: String = h.opt("path")?.unwrap_or(d.path);
    if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
        return Err(Error::field(
            "health.path",
            format!("field `health.path` must be a path starting with '/', got {path:?}"),
        ));
    }
    Ok(HealthSpec {
        path,
        interval: millis(&mut h, "interval_ms", d.interval)?,
        timeout: millis(&mut h, "timeout_ms", d.timeout)?,
        deadline: if h.map.get("deadline_ms").is_some_and(|v| !v.is_null()) {
            Some(millis(&mut h, "deadline_ms", d.timeout)?)
        } else {
            None
        },
    })
}

fn target(o: &mut Obj, health: &HealthSpec) -> Result<TargetSpec> {
    let release: String = o.req("release")?;
    check_release("release", &release)?;
    let addr: String = o.req("addr")?;
    parse_addr("addr", &addr)?;
    Ok(TargetSpec {
        release,
        addr,
        health_path: health.path.clone(),
    })
}

/// Field `weight`: 0–100.
fn weight(o: &mut Obj) -> Result<u8> {
    let w: u64 = o.req("weight")?;
    u8::try_from(w).ok().filter(|w| *w <= 100).ok_or_else(|| {
        Error::field(
            "weight",
            format!("field `weight` must be between 0 and 100 (percent), got {w}"),
        )
    })
}

/// Reads `POST /services/{name}/deploy`'s body.
pub(crate) fn deploy(body: &[u8]) -> Result<DeployRequest> {
    let mut o = Obj::parse(body, &["release", "addr", "health", "preview"])?;
    let health = health(&mut o)?;
    Ok(DeployRequest {
        target: target(&mut o, &health)?,
        preview: o.opt("preview")?.unwrap_or(false),
        health,
    })
}

/// Reads `POST /services/{name}/canary`'s body.
pub(crate) fn canary(body: &[u8]) -> Result<CanaryRequest> {
    let mut o = Obj::parse(body, &["release", "addr", "health", "weight"])?;
    let health = health(&mut o)?;
    Ok(CanaryRequest {
        target: target(&mut o, &health)?,
        weight: weight(&mut o)?,
        health,
    })
}

/// Reads `PUT /services/{name}/canary`'s body: the weight.
pub(crate) fn set_weight(body: &[u8]) -> Result<u8> {
    weight(&mut Obj::parse(body, &["weight"])?)
}

/// Reads `POST /services/{name}/rollback`'s body: `force`.
pub(crate) fn rollback(body: &[u8]) -> Result<bool> {
    Ok(Obj::parse(body, &["force"])?.opt("force")?.unwrap_or(false))
}

/// Checks that a body that should be empty is (`{}` is fine).
pub(crate) fn empty(body: &[u8]) -> Result<()> {
    Obj::parse(body, &[]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: Error) -> (Option<String>, String) {
        let msg = e.to_string();
        match e {
            Error::Invalid { field, .. } => (field, msg),
            other => panic!("not invalid: {other}"),
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let (f, m) = field(
            canary(br#"{"release":"v2","addr":"127.0.0.1:1","weight":101}"#)
                .err()
                .unwrap(),
        );
        assert_eq!(f.as_deref(), Some("weight"));
        assert!(m.contains("between 0 and 100") && m.contains("101"), "{m}");
        let (f, m) = field(deploy(br#"{"release":"v2"}"#).err().unwrap());
        assert_eq!(
            (f.as_deref(), m.as_str()),
            (Some("addr"), "missing field `addr`")
        );
        let (f, m) = field(
            deploy(br#"{"release":"v2","addr":"x:1","health":{"interval_ms":"fast"}}"#)
                .err()
                .unwrap(),
        );
        assert_eq!(f.as_deref(), Some("health.interval_ms"));
        assert!(m.contains("invalid type"), "{m}");
        let (f, _) = field(
            deploy(br#"{"release":"v2","addr":"x:1","helth":{}}"#)
                .err()
                .unwrap(),
        );
        assert_eq!(f.as_deref(), Some("helth"));
        let (f, _) = field(
            deploy(br#"{"release":"v2","addr":"http://x"}"#)
                .err()
                .unwrap(),
        );
        assert_eq!(f.as_deref(), Some("addr"));
        let (f, m) = field(deploy(b"{nope").err().unwrap());
        assert_eq!(f, None);
        assert!(m.starts_with("the body is not valid JSON"), "{m}");
        let (f, _) = field(
            service_spec(br#"{"hosts":["a.test"],"sticky":{"cookie":"a","header":"b"}}"#)
                .err()
                .unwrap(),
        );
        assert_eq!(f.as_deref(), Some("sticky"));
    }

    #[test]
    fn good_bodies_are_read_with_defaults() {
        let d = deploy(br#"{"release":"v1","addr":"127.0.0.1:3000"}"#).unwrap();
        assert_eq!(d.health, HealthSpec::default());
        assert!(!d.preview);
        let s = service_spec(br#"{"hosts":["App.Test"],"sticky":{"header":"X-User"}}"#).unwrap();
        assert_eq!(s.hosts, ["app.test"]);
        assert_eq!(s.sticky, Some(Sticky::Header("x-user".into())));
        assert!(rollback(b"").is_ok_and(|f| !f));
    }
}
