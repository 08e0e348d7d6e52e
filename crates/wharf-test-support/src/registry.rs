//! A real Debian `docker-registry` (CNCF distribution 2.8) on 127.0.0.1 and a free port,
//! in a temporary directory, in one of three [`Auth`] modes; stopped when dropped.
//!
//! - [`Auth::None`]: anyone may push and pull.
//! - [`Auth::Htpasswd`]: HTTP Basic auth against a bcrypt htpasswd file made with
//!   `htpasswd -Bbn` (apache2-utils).
//! - [`Auth::Token`]: the Docker/distribution token authentication
//!   (<https://distribution.github.io/distribution/spec/auth/token/>). The registry
//!   answers `401` with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`; a
//!   token server started here (plain std threads, one request per connection) hands out
//!   RS256 JSON Web Tokens for `GET /token?service=...&scope=...` with Basic credentials.
//!
//! The token server enforces the documented contract rather than granting anything: the
//! `service` must be [`TOKEN_SERVICE`] (else `400`), the Basic credentials must be the
//! configured ones (else `401`, also for an anonymous request), every `scope` must be
//! `type[(class)]:name:actions` (else `400`). A token grants exactly the actions asked
//! for in each scope, no more. Every request is logged as a [`TokenRequest`].
//!
//! Tokens are signed with an RSA key and carry its self-signed certificate in the JWT
//! `x5c` header; the registry trusts that certificate through its `rootcertbundle`. The
//! key and certificate are made with the `openssl` CLI at start, and each token is
//! signed with `openssl dgst -sha256 -sign`. Distribution 2.8 wants the `aud` claim as a
//! string: an array (allowed by RFC 7519) makes it reject the token as malformed.
//! Its challenges list a scope's actions in no fixed order (`pull,push` or `push,pull`).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::wire::{Request, query_params, read_request, reason};
use crate::{KillOnDrop, free_port, require_program, wait_for_port};

/// The `service` the registry is configured with in [`Auth::Token`] mode: the value of
/// the challenge's `service` parameter and of the tokens' `aud` claim.
pub const TOKEN_SERVICE: &str = "wharf-test-registry";

/// The `iss` claim of the tokens, the issuer the registry trusts.
pub const TOKEN_ISSUER: &str = "wharf-test-issuer";

/// How long a token is valid, in seconds (the `expires_in` answered).
pub const TOKEN_LIFETIME_SECS: u64 = 300;

/// The realm of the token server's own Basic challenge (on its `401` answers).
const TOKEN_SERVER_REALM: &str = "wharf-test-token-server";

/// How the registry authenticates clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth<'a> {
    /// No authentication.
    None,
    /// HTTP Basic auth against an htpasswd file holding this one user.
    Htpasswd {
        /// The user name.
        user: &'a str,
        /// Its password.
        password: &'a str,
    },
    /// Bearer tokens from a local token server, which hands them to this one user.
    Token {
        /// The user name the token server accepts (Basic auth).
        user: &'a str,
        /// Its password.
        password: &'a str,
    },
}

/// One request the token server answered, granted or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The `service` parameter, as sent (empty when missing).
    pub service: String,
    /// The `scope` parameters, as sent, in order (space-separated ones split).
    pub scopes: Vec<String>,
    /// The `account` parameter, when sent.
    pub account: Option<String>,
    /// The user name of the Basic credentials, when any were sent.
    pub user: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// Whether a token was handed out.
    pub granted: bool,
    /// The OAuth2 `grant_type` of a POST (`refresh_token`, `password`); `None` for the
    /// GET of the token spec.
    pub grant: Option<String>,
}

/// A running docker-registry; stopped (and its directory removed) when dropped.
#[derive(Debug)]
pub struct Registry {
    /// Its port on 127.0.0.1.
    pub port: u16,
    // Drop order matters: the registry stops first, then the token server, then the
    // directory goes.
    _child: KillOnDrop,
    token_server: Option<TokenServer>,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts docker-registry on a free loopback port with `auth`; panics (with what to
    /// install) when a program is missing or the registry does not come up.
    pub fn start(auth: Auth<'_>) -> Registry {
        require_program(
            "docker-registry",
            "docker-registry (Debian's CNCF distribution)",
        );
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let (auth_config, token_server) = match auth {
            Auth::None => (String::new(), None),
            Auth::Htpasswd { user, password } => {
                (htpasswd_config(dir.path(), user, password), None)
            }
            Auth::Token { user, password } => {
                let server = TokenServer::start(dir.path(), user, password);
                let config = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                     rootcertbundle: {}\n",
                    yaml_str(&server.realm()),
                    yaml_str(TOKEN_SERVICE),
                    yaml_str(TOKEN_ISSUER),
                    yaml_path(&server.cert),
                );
                (config, Some(server))
            }
        };
        let port = free_port();
        let config = dir.path().join("config.yml");
        let text = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: wharf-test-registry-secret\n\
             {auth_config}",
            yaml_path(&dir.path().join("data")),
        );
        std::fs::write(&config, text).expect("cannot write the registry's config.yml");
        let log = File::create(dir.path().join("registry.log"))
            .expect("cannot create the registry's log file");
        let log2 = log.try_clone().expect("cannot clone the log file handle");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("cannot run docker-registry (Debian package docker-registry)");
        // Owned before waiting, so a panic while waiting still kills it.
        let mut child = KillOnDrop(child);
        wait_for_port(
            port,
            Duration::from_secs(20),
            "docker-registry",
            &mut child.0,
        );
        Registry {
            port,
            _child: child,
            token_server,
            dir,
        }
    }

    /// The registry's `host:port`, `127.0.0.1:PORT`, as image references name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The token server's realm URL (`http://127.0.0.1:PORT/token`) in
    /// [`Auth::Token`] mode; `None` otherwise.
    pub fn token_realm(&self) -> Option<String> {
        self.token_server.as_ref().map(TokenServer::realm)
    }

    /// Every request the token server answered so far, granted or refused, in order
    /// (empty unless in [`Auth::Token`] mode).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.token_server
            .as_ref()
            .map(|s| lock(&s.requests).clone())
            .unwrap_or_default()
    }

    /// What the registry logged so far (warnings and errors, e.g. why it refused a
    /// token), for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

/// Writes an htpasswd file (bcrypt) with one user; returns the registry's auth config.
fn htpasswd_config(dir: &Path, user: &str, password: &str) -> String {
    require_program("htpasswd", "apache2-utils");
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("cannot run htpasswd (apache2-utils)");
    assert!(
        out.status.success(),
        "htpasswd failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let file = dir.join("htpasswd");
    std::fs::write(&file, out.stdout).expect("cannot write the htpasswd file");
    format!(
        "auth:\n  htpasswd:\n    realm: wharf-test-registry\n    path: {}\n",
        yaml_path(&file)
    )
}

/// A YAML double-quoted scalar (a JSON string is one).
fn yaml_str(text: &str) -> String {
    Value::from(text).to_string()
}

fn yaml_path(path: &Path) -> String {
    yaml_str(
        path.to_str()
            .expect("the temporary directory's path is not UTF-8"),
    )
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the token server needs to check a request and sign a token.
#[derive(Debug)]
struct Issuer {
    user: String,
    password: String,
    /// The RSA private key (PEM) `openssl dgst -sign` signs with.
    key: PathBuf,
    /// The standard base64 of the certificate's DER: the one `x5c` entry.
    x5c: String,
    next_jti: AtomicU64,
}

/// The token server: a thread accepting on 127.0.0.1, one thread per connection.
#[derive(Debug)]
struct TokenServer {
    addr: SocketAddr,
    /// The certificate (PEM) the registry's `rootcertbundle` names.
    cert: PathBuf,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Makes the signing key and certificate in `dir` and starts serving.
    fn start(dir: &Path, user: &str, password: &str) -> TokenServer {
        let (key, cert) = make_signing_cert(dir);
        let issuer = Arc::new(Issuer {
            user: user.to_owned(),
            password: password.to_owned(),
            x5c: x5c_of(&cert),
            key,
            next_jti: AtomicU64::new(1),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("the token server's local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (requests2, stop2) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (issuer, requests) = (issuer.clone(), requests2.clone());
                std::thread::spawn(move || serve(stream, &issuer, &requests));
            }
        });
        TokenServer {
            addr,
            cert,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Generates an RSA key and a self-signed certificate for it with the `openssl` CLI:
/// (key, certificate), PEM. The certificate is a leaf (not a CA) for digital
/// signatures, the registry's one trusted root and the tokens' `x5c` chain at once.
fn make_signing_cert(dir: &Path) -> (PathBuf, PathBuf) {
    require_program("openssl", "openssl");
    let (key, cert) = (dir.join("token-key.pem"), dir.join("token-cert.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={TOKEN_ISSUER}")])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "keyUsage=critical,digitalSignature"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run openssl");
    assert!(
        out.status.success(),
        "openssl req (the token signing certificate) failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    (key, cert)
}

/// The `x5c` entry of a PEM certificate: its DER in standard base64, which is the PEM
/// body without line breaks (checked by decoding it).
fn x5c_of(cert: &Path) -> String {
    let pem = std::fs::read_to_string(cert).expect("cannot read the token certificate");
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = STANDARD
        .decode(body.trim())
        .expect("the token certificate's PEM body is not base64");
    assert!(!der.is_empty(), "no certificate in {}", cert.display());
    STANDARD.encode(der)
}

/// An answer: status, extra header lines, JSON body.
type Answer = (u16, Vec<String>, Value);

fn serve(mut stream: TcpStream, issuer: &Issuer, requests: &Mutex<Vec<TokenRequest>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&mut BufReader::new((&stream).take(64 * 1024))) else {
        return;
    };
    let mut logged = TokenRequest {
        service: String::new(),
        scopes: Vec::new(),
        account: None,
        user: None,
        status: 0,
        granted: false,
        grant: None,
    };
    let (status, headers, body) = match &request {
        Ok(request) => answer(request, issuer, &mut logged),
        Err(411) => error(411, "INVALID_REQUEST", "a POST needs a Content-Length"),
        Err(status) => error(*status, "INVALID_REQUEST", "a malformed HTTP request"),
    };
    logged.status = status;
    logged.granted = status == 200;
    lock(requests).push(logged);
    let body = body.to_string();
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        reason(status),
        body.len()
    );
    for header in headers {
        let _ = write!(head, "{header}\r\n");
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

/// Checks a request against the token protocol and answers it, filling in `logged`.
fn answer(request: &Request, issuer: &Issuer, logged: &mut TokenRequest) -> Answer {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let params = query_params(query);
    let param = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    logged.service = param("service").cloned().unwrap_or_default();
    logged.account = param("account").cloned();
    logged.scopes = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').filter(|s| !s.is_empty()))
        .map(str::to_owned)
        .collect();
    let credentials = request.header("authorization").map(basic_credentials);
    logged.user = credentials
        .as_ref()
        .and_then(|c| c.as_ref())
        .map(|(user, _)| user.clone());

    if path != "/token" {
        return error(404, "NOT_FOUND", "no such endpoint; tokens are at /token");
    }
    if request.method == "POST" {
        return oauth2(request, issuer, logged);
    }
    if request.method != "GET" {
        let (status, mut headers, body) =
            error(405, "UNSUPPORTED", "only GET and POST /token are served");
        headers.push("Allow: GET, POST".to_owned());
        return (status, headers, body);
    }
    if let Some(refused) = check_service(logged) {
        return refused;
    }
    let access = match access_of(logged) {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let authenticated = matches!(
        &credentials,
        Some(Some((user, password))) if *user == issuer.user && *password == issuer.password
    );
    if !authenticated {
        let message = match credentials {
            None => "authentication required",
            Some(None) => "malformed or non-Basic Authorization header",
            Some(Some(_)) => "incorrect username or password",
        };
        let (status, mut headers, body) = error(401, "UNAUTHORIZED", message);
        headers.push(format!(
            "WWW-Authenticate: Basic realm=\"{TOKEN_SERVER_REALM}\""
        ));
        return (status, headers, body);
    }
    match issue_token(issuer, access) {
        Ok(token) => {
            let now = unix_now();
            let issued_at = i64::try_from(now)
                .ok()
                .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            let body = json!({
                "token": token,
                "access_token": token,
                "expires_in": TOKEN_LIFETIME_SECS,
                "issued_at": issued_at,
            });
            (200, Vec::new(), body)
        }
        Err(message) => error(500, "UNKNOWN", &message),
    }
}

/// A `service` other than the registry's: 400.
fn check_service(logged: &TokenRequest) -> Option<Answer> {
    (logged.service != TOKEN_SERVICE).then(|| {
        error(
            400,
            "INVALID_REQUEST",
            &format!(
                "unknown service {:?}; this token server issues tokens for {TOKEN_SERVICE:?}",
                logged.service
            ),
        )
    })
}

/// The `access` claim for the logged scopes, or a 400 for a malformed one.
fn access_of(logged: &TokenRequest) -> Result<Vec<Value>, Answer> {
    logged
        .scopes
        .iter()
        .map(|scope| {
            parse_scope(scope).ok_or_else(|| {
                error(
                    400,
                    "INVALID_REQUEST",
                    &format!("malformed scope {scope:?}; expected type:name:action[,action]"),
                )
            })
        })
        .collect()
}

/// The OAuth2 form of distribution's token auth (`POST /token`, form-encoded):
/// `grant_type=refresh_token` with `refresh_token` (an identity token, as `docker login`
/// stores for some registries; here it must be the configured password), or
/// `grant_type=password` with `username` and `password`; `service` and `client_id` are
/// required, `scope` is space-separated. Answers `access_token`, `scope`, `expires_in`.
fn oauth2(request: &Request, issuer: &Issuer, logged: &mut TokenRequest) -> Answer {
    let form = query_params(&String::from_utf8_lossy(&request.body));
    let field = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    logged.service = field("service").unwrap_or_default();
    logged.account = field("username");
    logged.user = None;
    logged.scopes = form
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').filter(|s| !s.is_empty()))
        .map(str::to_owned)
        .collect();
    logged.grant = field("grant_type");
    let invalid = |what: &str| {
        let body = json!({"error": "invalid_request", "error_description": what});
        (400, Vec::new(), body)
    };
    if field("client_id").is_none_or(|c| c.is_empty()) {
        return invalid("client_id is required");
    }
    if let Some(refused) = check_service(logged) {
        return refused;
    }
    let access = match access_of(logged) {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let granted = match logged.grant.as_deref() {
        Some("refresh_token") => field("refresh_token").as_deref() == Some(&issuer.password),
        Some("password") => {
            field("username").as_deref() == Some(&issuer.user)
                && field("password").as_deref() == Some(&issuer.password)
        }
        _ => return invalid("grant_type must be refresh_token or password"),
    };
    if !granted {
        let body = json!({"error": "invalid_grant", "error_description": "the grant was refused"});
        return (401, Vec::new(), body);
    }
    match issue_token(issuer, access) {
        Ok(token) => (
            200,
            Vec::new(),
            json!({
                "access_token": token,
                "scope": logged.scopes.join(" "),
                "expires_in": TOKEN_LIFETIME_SECS,
            }),
        ),
        Err(message) => error(500, "UNKNOWN", &message),
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    let body = json!({"errors": [{"code": code, "message": message, "detail": null}]});
    (status, Vec::new(), body)
}

/// The (user, password) of a Basic `Authorization` value; `None` when it is not one.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A resource scope, `type[(class)]:name:action[,action...]`, as a token's `access`
/// entry. The name may hold colons (a registry host with a port), so the type ends at
/// the first colon and the actions start after the last.
fn parse_scope(scope: &str) -> Option<Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let (kind, class) = match kind.split_once('(') {
        Some((kind, class)) => (kind, Some(class.strip_suffix(')')?)),
        None => (kind, None),
    };
    let valid = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
    if !valid(kind) || !valid(name) || class.is_some_and(|c| !valid(c)) {
        return None;
    }
    let mut granted: Vec<&str> = Vec::new();
    for action in actions.split(',').filter(|a| !a.is_empty()) {
        if !granted.contains(&action) {
            granted.push(action);
        }
    }
    let mut entry = json!({"type": kind, "name": name, "actions": granted});
    if let Some(class) = class {
        entry["class"] = class.into();
    }
    Some(entry)
}

/// Builds and signs a JWT granting `access` to the configured user.
fn issue_token(issuer: &Issuer, access: Vec<Value>) -> Result<String, String> {
    let now = unix_now();
    let jti = issuer.next_jti.fetch_add(1, Ordering::SeqCst);
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [issuer.x5c]});
    // `aud` must be a string: distribution 2.8 rejects an array as a malformed token.
    let claims = json!({
        "iss": TOKEN_ISSUER,
        "sub": issuer.user,
        "aud": TOKEN_SERVICE,
        "exp": now + TOKEN_LIFETIME_SECS,
        "nbf": now,
        "iat": now,
        "jti": format!("wharf-{now:x}-{}-{jti}", std::process::id()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(&issuer.key, signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (JWS `RS256`) of `input`, by `openssl dgst -sign`.
fn sign(key: &Path, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run openssl dgst: {e}"))?;
    // Written, then closed by the drop, before the output is read; the input is small.
    child
        .stdin
        .take()
        .ok_or("openssl dgst has no stdin")?
        .write_all(input)
        .map_err(|e| format!("cannot write to openssl dgst: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("openssl dgst: {e}"))?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(format!(
            "openssl dgst -sign failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(
            parse_scope("repository:team/app:pull,push"),
            Some(json!({"type": "repository", "name": "team/app", "actions": ["pull", "push"]}))
        );
        assert_eq!(
            parse_scope("repository:localhost:5000/app:pull,pull"),
            Some(json!({"type": "repository", "name": "localhost:5000/app", "actions": ["pull"]}))
        );
        assert_eq!(
            parse_scope("repository(plugin):vieux/sshfs:pull"),
            Some(json!({
                "type": "repository", "class": "plugin", "name": "vieux/sshfs", "actions": ["pull"]
            }))
        );
        assert_eq!(
            parse_scope("registry:catalog:*"),
            Some(json!({"type": "registry", "name": "catalog", "actions": ["*"]}))
        );
        for bad in [
            "repository",
            "repository:app",
            ":app:pull",
            "repository::pull",
        ] {
            assert_eq!(parse_scope(bad), None, "{bad}");
        }
    }

    #[test]
    fn queries_and_credentials() {
        assert_eq!(
            query_params("service=wharf&scope=repository%3Ateam%2Fapp%3Apull%2Cpush&scope=a+b"),
            [
                ("service".to_owned(), "wharf".to_owned()),
                (
                    "scope".to_owned(),
                    "repository:team/app:pull,push".to_owned()
                ),
                ("scope".to_owned(), "a b".to_owned()),
            ]
        );
        assert_eq!(
            basic_credentials("Basic Y2k6cGE6c3M="),
            Some(("ci".to_owned(), "pa:ss".to_owned()))
        );
        assert_eq!(basic_credentials("Bearer Y2k6cGE6c3M="), None);
        assert_eq!(basic_credentials("Basic !!"), None);
    }
}
