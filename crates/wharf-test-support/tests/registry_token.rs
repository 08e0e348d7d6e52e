//! The docker-registry launcher against the real registry, driven with `curl`: token
//! auth end to end (the challenge, a token from its realm, a blob push with the bearer
//! token), what the token server and the registry refuse, and smoke checks of the
//! htpasswd and unauthenticated modes.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wharf_test_support::registry::{Auth, Registry, TOKEN_ISSUER, TOKEN_SERVICE, TokenRequest};

const USER: &str = "ci";
const PASSWORD: &str = "token-pass-42";

/// An HTTP response as curl printed it.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Runs curl with `args` (never through a proxy) and parses what it printed.
fn curl(args: &[&str]) -> Response {
    wharf_test_support::require_program("curl", "curl");
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "30", "--noproxy", "*"])
        .args(args)
        .output()
        .expect("cannot run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `GET realm?service=...&scope=...` the way registry clients ask for a token.
fn fetch_token(
    realm: &str,
    service: Option<&str>,
    scopes: &[&str],
    basic: Option<(&str, &str)>,
) -> Response {
    let mut args = vec!["--get".to_owned()];
    if let Some(service) = service {
        args.extend(["--data-urlencode".to_owned(), format!("service={service}")]);
    }
    for scope in scopes {
        args.extend(["--data-urlencode".to_owned(), format!("scope={scope}")]);
    }
    if let Some((user, password)) = basic {
        args.extend(["-u".to_owned(), format!("{user}:{password}")]);
    }
    args.push(realm.to_owned());
    curl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The token of a 200 token answer, checking the answer's documented fields.
fn token_of(response: &Response) -> String {
    assert_eq!(response.status, 200, "token answer: {response:?}");
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{response:?}"
    );
    let body = response.json();
    let token = body["token"].as_str().expect("a token").to_owned();
    assert_eq!(body["access_token"], token.as_str());
    assert_eq!(body["expires_in"], 300);
    let issued_at = body["issued_at"].as_str().expect("issued_at");
    assert!(
        chrono::DateTime::parse_from_rfc3339(issued_at).is_ok(),
        "issued_at is not RFC 3339: {issued_at}"
    );
    token
}

/// The decoded (header, claims) of a JWT.
fn jwt_parts(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    assert!(!URL_SAFE_NO_PAD.decode(parts[2]).unwrap().is_empty());
    (decode(parts[0]), decode(parts[1]))
}

/// The parameters of a `WWW-Authenticate: Scheme k="v",k="v"` challenge.
fn challenge_params(challenge: &str) -> BTreeMap<String, String> {
    let (_, mut rest) = challenge.split_once(' ').expect("a scheme and parameters");
    let mut params = BTreeMap::new();
    while let Some((key, after)) = rest.split_once('=') {
        let after = after.strip_prefix('"').expect("quoted values");
        let (value, after) = after.split_once('"').expect("a closing quote");
        params.insert(key.trim().to_owned(), value.to_owned());
        rest = after.trim_start_matches(',');
    }
    params
}

#[test]
fn token_auth_pushes_a_blob_with_the_bearer_token() {
    let reg = Registry::start(Auth::Token {
        user: USER,
        password: PASSWORD,
    });
    let base = format!("http://{}", reg.host());
    let realm = reg.token_realm().expect("a token realm in token mode");

    // Anonymous: a Bearer challenge naming the realm and the service.
    let anon = curl(&[&format!("{base}/v2/")]);
    assert_eq!(anon.status, 401, "{anon:?}\n{}", reg.log());
    assert_eq!(
        anon.header("www-authenticate"),
        Some(format!("Bearer realm=\"{realm}\",service=\"{TOKEN_SERVICE}\"").as_str())
    );
    let upload = format!("{base}/v2/team/app/blobs/uploads/");
    let anon_push = curl(&["-X", "POST", &upload]);
    assert_eq!(anon_push.status, 401);
    let challenge = challenge_params(anon_push.header("www-authenticate").unwrap());
    // Distribution 2.8 lists the challenge's actions from a Go map: in either order.
    assert!(
        [
            "repository:team/app:pull,push",
            "repository:team/app:push,pull"
        ]
        .contains(&challenge["scope"].as_str()),
        "{challenge:?}"
    );
    assert_eq!(challenge["realm"], realm);
    assert_eq!(challenge["service"], TOKEN_SERVICE);

    // The token, from the challenge's realm for its service.
    let answer = fetch_token(
        &challenge["realm"],
        Some(&challenge["service"]),
        &["repository:team/app:pull,push"],
        Some((USER, PASSWORD)),
    );
    let token = token_of(&answer);
    let (header, claims) = jwt_parts(&token);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["x5c"].as_array().map(Vec::len), Some(1));
    assert_eq!(claims["iss"], TOKEN_ISSUER);
    assert_eq!(claims["sub"], USER);
    assert_eq!(claims["aud"], TOKEN_SERVICE);
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}])
    );
    let (exp, nbf, iat) = (
        claims["exp"].as_u64().unwrap(),
        claims["nbf"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap(),
    );
    assert!(nbf <= iat && exp == iat + 300, "{claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    // A monolithic blob upload with the bearer token, then a pull of it.
    let bearer = format!("Authorization: Bearer {token}");
    let started = curl(&["-X", "POST", "-H", &bearer, &upload]);
    assert_eq!(started.status, 202, "{started:?}\n{}", reg.log());
    let location = started.header("location").expect("an upload location");
    let blob = b"wharf token auth blob";
    let digest = format!("sha256:{:x}", Sha256::digest(blob));
    let location = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.to_owned()
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let put_url = format!("{location}{separator}digest={digest}");
    let put = curl(&[
        "-X",
        "PUT",
        "-H",
        &bearer,
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        std::str::from_utf8(blob).unwrap(),
        &put_url,
    ]);
    assert_eq!(put.status, 201, "{put:?}\n{}", reg.log());
    assert_eq!(put.header("docker-content-digest"), Some(digest.as_str()));
    let pulled = curl(&["-H", &bearer, &format!("{base}/v2/team/app/blobs/{digest}")]);
    assert_eq!(pulled.status, 200, "{pulled:?}");
    assert_eq!(pulled.body.as_bytes(), blob);
    let root = curl(&["-H", &bearer, &format!("{base}/v2/")]);
    assert_eq!(root.status, 200, "{root:?}");

    assert_eq!(
        reg.token_requests(),
        [TokenRequest {
            service: TOKEN_SERVICE.to_owned(),
            scopes: vec!["repository:team/app:pull,push".to_owned()],
            account: None,
            user: Some(USER.to_owned()),
            status: 200,
            granted: true,
            grant: None,
        }]
    );

    let port = reg.port;
    let realm_addr = realm
        .trim_start_matches("http://")
        .trim_end_matches("/token")
        .to_owned();
    drop(reg);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(TcpStream::connect(realm_addr.as_str()).is_err());
}

#[test]
fn token_server_and_registry_refuse_what_the_protocol_refuses() {
    let reg = Registry::start(Auth::Token {
        user: USER,
        password: PASSWORD,
    });
    let base = format!("http://{}", reg.host());
    let realm = reg.token_realm().unwrap();
    let push_scope = ["repository:team/app:pull,push"];

    let wrong = fetch_token(
        &realm,
        Some(TOKEN_SERVICE),
        &push_scope,
        Some((USER, "wrong")),
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(
        wrong
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Basic realm=")),
        "{wrong:?}"
    );
    assert_eq!(wrong.json()["errors"][0]["code"], "UNAUTHORIZED");
    assert!(wrong.json().get("token").is_none());

    let anonymous = fetch_token(&realm, Some(TOKEN_SERVICE), &push_scope, None);
    assert_eq!(anonymous.status, 401, "{anonymous:?}");

    let other_service = fetch_token(
        &realm,
        Some("docker.io"),
        &push_scope,
        Some((USER, PASSWORD)),
    );
    assert_eq!(other_service.status, 400, "{other_service:?}");
    let no_service = fetch_token(&realm, None, &push_scope, Some((USER, PASSWORD)));
    assert_eq!(no_service.status, 400, "{no_service:?}");
    let bad_scope = fetch_token(
        &realm,
        Some(TOKEN_SERVICE),
        &["team/app"],
        Some((USER, PASSWORD)),
    );
    assert_eq!(bad_scope.status, 400, "{bad_scope:?}");
    // A POST is the OAuth2 form: without a body it is refused (411), with an empty one
    // it lacks the form's fields (400).
    let post = curl(&["-X", "POST", "-u", &format!("{USER}:{PASSWORD}"), &realm]);
    assert_eq!(post.status, 411, "{post:?}");
    let empty = curl(&["-X", "POST", "--data", "", &realm]);
    assert_eq!(empty.status, 400, "{empty:?}");

    // A token for another repository cannot push to team/app.
    let other = token_of(&fetch_token(
        &realm,
        Some(TOKEN_SERVICE),
        &["repository:other:pull"],
        Some((USER, PASSWORD)),
    ));
    assert_eq!(
        jwt_parts(&other).1["access"],
        json!([{"type": "repository", "name": "other", "actions": ["pull"]}])
    );
    let upload = format!("{base}/v2/team/app/blobs/uploads/");
    let refused = curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {other}"),
        &upload,
    ]);
    assert!(
        matches!(refused.status, 401 | 403),
        "{refused:?}\n{}",
        reg.log()
    );
    assert!(
        refused
            .header("www-authenticate")
            .is_some_and(|c| c.contains("error=\"insufficient_scope\"")),
        "{refused:?}"
    );

    // Pull alone on team/app reads it but cannot start an upload.
    let pull = token_of(&fetch_token(
        &realm,
        Some(TOKEN_SERVICE),
        &["repository:team/app:pull"],
        Some((USER, PASSWORD)),
    ));
    let pull_bearer = format!("Authorization: Bearer {pull}");
    let push = curl(&["-X", "POST", "-H", &pull_bearer, &upload]);
    assert_eq!(push.status, 401, "{push:?}");
    let tags = curl(&["-H", &pull_bearer, &format!("{base}/v2/team/app/tags/list")]);
    assert_eq!(
        tags.status, 404,
        "authorized, but no such repository: {tags:?}"
    );

    // The registry checks the signature: claims widened after signing are refused.
    let parts: Vec<&str> = pull.split('.').collect();
    let mut claims = jwt_parts(&pull).1;
    claims["access"][0]["actions"] = json!(["pull", "push"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let forged_push = curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {forged}"),
        &upload,
    ]);
    assert_eq!(forged_push.status, 401, "{forged_push:?}");

    let log: Vec<(u16, bool)> = reg
        .token_requests()
        .iter()
        .map(|r| (r.status, r.granted))
        .collect();
    assert_eq!(
        log,
        [
            (401, false),
            (401, false),
            (400, false),
            (400, false),
            (400, false),
            (411, false),
            (400, false),
            (200, true),
            (200, true),
        ]
    );
    let requests = reg.token_requests();
    assert_eq!(requests[0].user.as_deref(), Some(USER));
    assert_eq!(requests[1].user, None);
    assert_eq!(requests[2].service, "docker.io");
    assert_eq!(requests[3].service, "");
    assert_eq!(requests[4].scopes, ["team/app"]);
}

#[test]
fn htpasswd_mode_asks_for_basic_credentials() {
    let reg = Registry::start(Auth::Htpasswd {
        user: USER,
        password: PASSWORD,
    });
    let root = format!("http://{}/v2/", reg.host());
    let anon = curl(&[&root]);
    assert_eq!(anon.status, 401, "{anon:?}\n{}", reg.log());
    assert!(
        anon.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Basic realm=")),
        "{anon:?}"
    );
    let ok = curl(&["-u", &format!("{USER}:{PASSWORD}"), &root]);
    assert_eq!(ok.status, 200, "{ok:?}");
    let wrong = curl(&["-u", &format!("{USER}:wrong"), &root]);
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert_eq!(reg.token_realm(), None);
    assert!(reg.token_requests().is_empty());
}

#[test]
fn no_auth_mode_is_open_and_stops_on_drop() {
    let reg = Registry::start(Auth::None);
    assert_eq!(reg.host(), format!("127.0.0.1:{}", reg.port));
    let root = curl(&[&format!("http://{}/v2/", reg.host())]);
    assert_eq!(root.status, 200, "{root:?}\n{}", reg.log());
    assert_eq!(
        root.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let port = reg.port;
    drop(reg);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn token_mode_serves_the_oauth2_refresh_token_grant() {
    let reg = Registry::start(Auth::Token {
        user: USER,
        password: PASSWORD,
    });
    let realm = reg.token_realm().expect("a realm in token mode");
    let form = |grant: &str, secret: &str| {
        curl(&[
            "-X",
            "POST",
            "--data-urlencode",
            &format!("grant_type={grant}"),
            "--data-urlencode",
            &format!("service={TOKEN_SERVICE}"),
            "--data-urlencode",
            "client_id=wharf-tests",
            "--data-urlencode",
            "scope=repository:team/app:pull,push",
            "--data-urlencode",
            &format!("refresh_token={secret}"),
            &realm,
        ])
    };
    let refused = form("refresh_token", "not-the-identity-token");
    assert_eq!(refused.status, 401, "{refused:?}");
    let granted = form("refresh_token", PASSWORD);
    assert_eq!(granted.status, 200, "{granted:?}");
    let body: serde_json::Value = serde_json::from_str(&granted.body).unwrap();
    let token = body["access_token"].as_str().expect("an access token");
    let upload = format!("http://{}/v2/team/app/blobs/uploads/", reg.host());
    let started = curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {token}"),
        &upload,
    ]);
    assert_eq!(started.status, 202, "{started:?}\n{}", reg.log());
    let grants: Vec<(Option<String>, bool)> = reg
        .token_requests()
        .into_iter()
        .map(|r| (r.grant, r.granted))
        .collect();
    assert_eq!(
        grants,
        [
            (Some("refresh_token".to_owned()), false),
            (Some("refresh_token".to_owned()), true)
        ]
    );
}
