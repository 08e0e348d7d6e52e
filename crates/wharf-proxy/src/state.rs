//! What the proxy serves, as written to its state file: written atomically (temp file,
//! fsync, rename, fsync of the directory) before every change takes effect, and read
//! back on start, so a restarted proxy serves what it served before without anyone
//! calling the API.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The version of the state file's layout.
const VERSION: u32 = 1;

/// Everything the proxy serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The layout's version (1).
    #[serde(default = "version")]
    pub version: u32,
    /// The services by name.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceState>,
}

fn version() -> u32 {
    VERSION
}

impl Default for State {
    fn default() -> State {
        State {
            version: VERSION,
            services: BTreeMap::new(),
        }
    }
}

/// One service: the hosts it answers for and its targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceState {
    /// `Host` header values it answers for (lower case, no port).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Whether it answers requests no other service's hosts match.
    #[serde(default)]
    pub default: bool,
    /// What keeps one client on one release while a canary is live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
    /// A host that reaches the preview target (blue/green before the switch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_host: Option<String>,
    /// The release that takes the traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<TargetSpec>,
    /// A release taking `weight` % of the traffic beside the primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanarySpec>,
    /// A healthy release reachable only through the preview host or header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<TargetSpec>,
    /// The primary before the last switch: what `rollback` switches back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<TargetSpec>,
}

/// One release at one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The release's name (sent back as `X-Release`).
    pub release: String,
    /// `host:port` of the upstream.
    pub addr: String,
    /// The path its health probe GETs (kept for the probe before a rollback).
    #[serde(default = "default_health_path")]
    pub health_path: String,
}

/// The default health path, kamal-proxy's.
pub(crate) fn default_health_path() -> String {
    "/up".to_string()
}

/// A canary and its share of the traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanarySpec {
    /// The canary's release and address.
    pub target: TargetSpec,
    /// Percent of requests it gets, 0–100.
    pub weight: u8,
}

/// Where the key that pins a client to a release comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Sticky {
    /// The value of the cookie of this name.
    Cookie(String),
    /// The value of the request header of this name.
    Header(String),
}

/// Reads the state file; a missing file is an empty state (the first start).
pub fn load(path: &Path) -> Result<State> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(source) => {
            return Err(Error::Io {
                doing: "read the state file",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let state: State = serde_json::from_slice(&text).map_err(|source| Error::State {
        path: path.to_path_buf(),
        source,
    })?;
    if state.version != VERSION {
        return Err(Error::invalid(
            format!(
                "the state file {} has layout version {}, this wharf knows {VERSION}",
                path.display(),
                state.version
            ),
            Some("run the wharf that wrote it, or move the file away to start empty".into()),
        ));
    }
    Ok(state)
}

/// Writes `state` to `path` atomically: a crash leaves the old file or the new one,
/// never a torn one.
pub fn save(path: &Path, state: &State) -> Result<()> {
    let io = |doing: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            doing,
            path,
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tmp_path(path);
    let mut text = serde_json::to_vec_pretty(state).map_err(|source| Error::State {
        path: path.to_path_buf(),
        source,
    })?;
    text.push(b'\n');
    let mut file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
    file.write_all(&text).map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("sync", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io("rename the new state file onto", path))?;
    // The rename itself is durable only once the directory is.
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync the directory", &dir))?;
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.json");
        assert_eq!(load(&path).unwrap(), State::default());
        let mut state = State::default();
        state.services.insert(
            "web".into(),
            ServiceState {
                hosts: vec!["example.test".into()],
                sticky: Some(Sticky::Cookie("session".into())),
                primary: Some(TargetSpec {
                    release: "v1".into(),
                    addr: "127.0.0.1:9".into(),
                    health_path: "/up".into(),
                }),
                ..ServiceState::default()
            },
        );
        save(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), state);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""sticky": {"#), "{text}");
        assert!(!dir.path().join("proxy.json.tmp").exists());
    }

    #[test]
    fn a_torn_state_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.json");
        std::fs::write(&path, "{\"services\": {").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("proxy.json"), "{e}");
    }
}
