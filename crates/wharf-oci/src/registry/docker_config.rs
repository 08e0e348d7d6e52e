//! Registry credentials from a docker `config.json`, the file `docker login`, `podman
//! login --compat-auth-file` and CI platforms' login actions write: `$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`.
//!
//! Looked up in the order docker uses: a `credHelpers` entry for the host, else the
//! `credsStore` helper, else the `auths` entry (`auth` = base64 of `user:password`, or
//! `username` and `password`). A helper is run as `docker-credential-NAME get` with the
//! host on its stdin (never in argv) and answers `{"Username": ..., "Secret": ...}`.
//! An identity token (an OAuth2 refresh token instead of a password, in `identitytoken`
//! or as a helper's `<token>` user) is exchanged at the registry's token server.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::Value;
use wharf_secrets::secret::SecretString;

use super::{Credentials, is_docker_hub};
use crate::{Error, Result};

/// The config file wharf reads, whether or not it exists.
pub fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) if !dir.is_empty() => Some(Path::new(&dir).join("config.json")),
        _ => std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker/config.json")),
    }
}

/// The credentials docker's config has for `host` (`host[:port]`), if any.
pub fn lookup(host: &str) -> Result<Option<Credentials>> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot read", &path, e)),
    };
    let config: Value = serde_json::from_slice(&text).map_err(|e| Error::Json {
        what: path.display().to_string(),
        source: e,
    })?;
    lookup_in(&config, host, &path)
}

/// [`lookup`] in a parsed config (`path` only names it in messages).
fn lookup_in(config: &Value, host: &str, path: &Path) -> Result<Option<Credentials>> {
    let helper = find_entry(&config["credHelpers"], host)
        .and_then(Value::as_str)
        .or_else(|| config["credsStore"].as_str())
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper {
        return run_helper(helper, host);
    }
    let Some(entry) = find_entry(&config["auths"], host) else {
        return Ok(None);
    };
    if let Some(token) = entry["identitytoken"].as_str().filter(|t| !t.is_empty()) {
        // The user is in `auth` (`USER:` with no password), when there is one.
        let user = entry["auth"]
            .as_str()
            .and_then(|a| {
                base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|raw| raw.split_once(':').map(|(u, _)| u.to_string()))
            .unwrap_or_default();
        return Ok(Some(Credentials::identity_token(
            user,
            SecretString::new(token.to_string()),
        )));
    }
    if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Error::Registry(format!(
                    "{}: the `auth` of {host} is not base64 of `user:password`",
                    path.display()
                ))
            })?;
        let (user, pass) = raw.split_once(':').ok_or_else(|| {
            Error::Registry(format!(
                "{}: the `auth` of {host} has no `:` between user and password",
                path.display()
            ))
        })?;
        return Ok(Some(Credentials::password(
            user,
            SecretString::new(pass.to_string()),
        )));
    }
    match (entry["username"].as_str(), entry["password"].as_str()) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credentials::password(
            u,
            SecretString::new(p.to_string()),
        ))),
        _ => Ok(None),
    }
}

/// The entry of `map` for `host`: keys may be `host`, `https://host`, `http://host/v1/`...
/// Docker Hub (`docker.io`) is filed under `https://index.docker.io/v1/`, as `docker
/// login` writes it.
fn find_entry<'a>(map: &'a Value, host: &str) -> Option<&'a Value> {
    let map = map.as_object()?;
    let names: &[&str] = if is_docker_hub(host) {
        &["index.docker.io", "docker.io", "registry-1.docker.io"]
    } else {
        &[host]
    };
    map.iter()
        .find(|(k, _)| {
            let k = k
                .strip_prefix("https://")
                .or_else(|| k.strip_prefix("http://"))
                .unwrap_or(k);
            k.split('/').next().is_some_and(|h| names.contains(&h))
        })
        .map(|(_, v)| v)
}

/// Runs `docker-credential-NAME get` for `host`.
fn run_helper(name: &str, host: &str) -> Result<Option<Credentials>> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Registry(format!(
                "docker's config.json names the credential helper `{name}`, but `{program}` \
                 cannot run: {e}\n  hint: install it, or give the step `username:` and `password:`"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // Helpers file Docker Hub under its legacy index URL, as `docker login` does.
        let server = if is_docker_hub(host) {
            "https://index.docker.io/v1/"
        } else {
            host
        };
        // A helper that exits without reading its stdin is answered by its exit status.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Registry(format!("{program} get: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if said.to_ascii_lowercase().contains("not found") {
            return Ok(None);
        }
        return Err(Error::Registry(format!(
            "{program} get failed ({}): {}",
            out.status,
            said.trim().chars().take(200).collect::<String>()
        )));
    }
    let answer: Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| Error::Registry(format!("{program} get did not answer JSON")))?;
    let user = answer["Username"].as_str().unwrap_or("");
    let secret = answer["Secret"].as_str().unwrap_or("");
    if user.is_empty() && secret.is_empty() {
        return Ok(None);
    }
    let secret = SecretString::new(secret.to_string());
    // Helpers answer an identity token with the user `<token>`.
    Ok(Some(if user == "<token>" {
        Credentials::identity_token("", secret)
    } else {
        Credentials::password(user, secret)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(config: &str, host: &str) -> Result<Option<Credentials>> {
        lookup_in(
            &serde_json::from_str(config).unwrap(),
            host,
            Path::new("config.json"),
        )
    }

    #[test]
    fn auths_entries() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
        let config = format!(
            r#"{{"auths": {{"https://127.0.0.1:5000/v1/": {{"auth": "{b64}"}},
                "registry.example": {{"username": "u", "password": "p"}}}}}}"#
        );
        let c = creds(&config, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.expose()), ("ci", "s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = creds(&config, "registry.example").unwrap().unwrap();
        assert_eq!(c.password.expose(), "p");
        assert!(creds(&config, "127.0.0.1:5001").unwrap().is_none());
        // `docker login` files Docker Hub under its legacy index URL
        let hub = format!(r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{b64}"}}}}}}"#);
        assert_eq!(creds(&hub, "docker.io").unwrap().unwrap().username, "ci");
        // an identity token, its user in `auth`
        let user = base64::engine::general_purpose::STANDARD.encode("00000000-0000:");
        let acr = format!(r#"{{"auths": {{"h:1": {{"auth": "{user}", "identitytoken": "rt"}}}}}}"#);
        let c = creds(&acr, "h:1").unwrap().unwrap();
        assert!(c.identity_token && c.username == "00000000-0000" && c.password.expose() == "rt");
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        let e = creds(r#"{"auths": {"h:1": {"auth": "!!"}}}"#, "h:1").unwrap_err();
        assert!(e.to_string().contains("not base64"), "{e}");
        let e = creds(r#"{"credsStore": "wharf-test-absent"}"#, "h:1").unwrap_err();
        assert!(
            e.to_string()
                .contains("docker-credential-wharf-test-absent"),
            "{e}"
        );
    }
}
