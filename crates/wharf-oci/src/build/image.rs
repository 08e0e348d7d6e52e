//! The config and manifest documents of a built image.
//!
//! Both are assembled as JSON values and written with sorted object keys and no
//! whitespace: oci-spec's types keep labels and annotations in `HashMap`s, whose order
//! changes from run to run and would change the digests.

use std::io::Write;

use oci_spec::image::{Descriptor, MediaType};
use serde_json::{Map, Value, json};

use super::base::BaseImage;
use super::{BuildRequest, BuiltLayer, Platform};
use crate::{Digest, Error, OciLayout, Result};

const ANNOTATION_PREFIX: &str = "org.opencontainers.image.";

/// What [`write_image`] stored.
pub(crate) struct Written {
    /// The manifest's descriptor (for the index).
    pub manifest: Descriptor,
    pub config_digest: Digest,
    pub config_size: u64,
}

/// Writes the config and the manifest of the image made of `layers` into `output`.
pub(crate) fn write_image(
    req: &BuildRequest,
    output: &OciLayout,
    base: Option<&BaseImage>,
    layers: &[BuiltLayer],
    history: &[String],
) -> Result<Written> {
    let config = canonical(&config(req, base, layers, history)?);
    let config_digest = output.write_blob(&config)?;
    let layer_values = layers
        .iter()
        .map(|l| serde_json::to_value(&l.descriptor))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Json {
            what: "a layer descriptor".into(),
            source: e,
        })?;
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageManifest.to_string(),
        "config": {
            "mediaType": MediaType::ImageConfig.to_string(),
            "digest": config_digest.as_str(),
            "size": config.len(),
        },
        "layers": layer_values,
    });
    let mut annotations: Map<String, Value> = req
        .config
        .labels
        .iter()
        .filter(|(k, _)| k.starts_with(ANNOTATION_PREFIX))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if let Some(base) = base {
        annotations.insert(
            format!("{ANNOTATION_PREFIX}base.digest"),
            Value::String(base.manifest.to_string()),
        );
        if let Some(name) = &req.base_name {
            annotations.insert(
                format!("{ANNOTATION_PREFIX}base.name"),
                Value::String(name.clone()),
            );
        }
    }
    if !annotations.is_empty() {
        manifest["annotations"] = Value::Object(annotations);
    }
    let manifest = canonical(&manifest);
    let digest = output.write_blob(&manifest)?;
    Ok(Written {
        manifest: Descriptor::new(
            MediaType::ImageManifest,
            manifest.len() as u64,
            digest.to_oci(),
        ),
        config_digest,
        config_size: config.len() as u64,
    })
}

/// The image config: the base's (or an empty one), extended by the request.
fn config(
    req: &BuildRequest,
    base: Option<&BaseImage>,
    layers: &[BuiltLayer],
    history: &[String],
) -> Result<Value> {
    let created = rfc3339(req.created)?;
    let mut cfg = match base.map(|b| &b.config) {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => json!({}),
    };
    let platform = match (&req.platform, base) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(_)) if cfg.get("architecture").is_some() => None,
        _ => Some(Platform::default()),
    };
    if let Some(p) = platform {
        cfg["os"] = json!(p.os);
        cfg["architecture"] = json!(p.architecture);
        match p.variant {
            Some(v) => cfg["variant"] = json!(v),
            None => {
                if let Some(m) = cfg.as_object_mut() {
                    m.remove("variant");
                }
            }
        }
    }
    cfg["created"] = json!(created);
    if !cfg.get("config").is_some_and(Value::is_object) {
        cfg["config"] = json!({});
    }
    let c = cfg["config"]
        .as_object_mut()
        .expect("set to an object above");
    let wanted = &req.config;
    if !wanted.env.is_empty() {
        let mut env: Vec<Value> = c
            .get("Env")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (k, v) in &wanted.env {
            let prefix = format!("{k}=");
            env.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
            env.push(json!(format!("{k}={v}")));
        }
        c.insert("Env".into(), Value::Array(env));
    }
    if let Some(ep) = &wanted.entrypoint {
        c.insert("Entrypoint".into(), json!(ep));
        if wanted.cmd.is_none() {
            // As with a Dockerfile ENTRYPOINT: the base's arguments were for its entrypoint.
            c.remove("Cmd");
        }
    }
    if let Some(cmd) = &wanted.cmd {
        c.insert("Cmd".into(), json!(cmd));
    }
    if let Some(w) = &wanted.workdir {
        c.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &wanted.user {
        c.insert("User".into(), json!(u));
    }
    extend_map(
        c,
        "ExposedPorts",
        wanted.exposed_ports.iter().map(|p| {
            let p = if p.contains('/') {
                p.clone()
            } else {
                format!("{p}/tcp")
            };
            (p, json!({}))
        }),
    );
    extend_map(
        c,
        "Labels",
        wanted.labels.iter().map(|(k, v)| (k.clone(), json!(v))),
    );
    cfg["rootfs"] = json!({
        "type": "layers",
        "diff_ids": layers.iter().map(|l| l.diff_id.as_str()).collect::<Vec<_>>(),
    });
    let mut hist: Vec<Value> = cfg
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    hist.extend(
        history
            .iter()
            .map(|h| json!({"created": created, "created_by": h})),
    );
    cfg["history"] = Value::Array(hist);
    Ok(cfg)
}

/// Adds `items` to the object `c[key]`, creating it when missing.
fn extend_map(c: &mut Map<String, Value>, key: &str, items: impl Iterator<Item = (String, Value)>) {
    let mut items = items.peekable();
    if items.peek().is_none() {
        return;
    }
    let mut m = match c.get(key) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    m.extend(items);
    c.insert(key.into(), Value::Object(m));
}

/// `secs` as RFC 3339 in UTC, e.g. `2020-01-01T00:00:00Z`.
fn rfc3339(secs: i64) -> Result<String> {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .ok_or_else(|| Error::Invalid(format!("build time {secs} is out of range")))
}

/// Compact JSON with object keys sorted by their bytes, whatever map type built it.
pub(crate) fn canonical(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&Value::String(k.clone()), out);
                out.push(b':');
                write_canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        scalar => {
            // Writing into a Vec cannot fail, and scalars have no maps inside.
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"d": [true, null], "c": "x\"y"}});
        assert_eq!(
            String::from_utf8(canonical(&v)).unwrap(),
            r#"{"a":{"c":"x\"y","d":[true,null]},"b":1}"#
        );
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_577_836_800).unwrap(), "2020-01-01T00:00:00Z");
    }
}
