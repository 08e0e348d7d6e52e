//! The wire side of the fake servers (the forge, the registry's token server): a small
//! HTTP/1.1 request reader, query, multipart and percent decoding. One request per
//! connection, bodies with a `Content-Length` (411 without one, as the release APIs do).

use std::collections::BTreeMap;
use std::io::BufRead;

use serde_json::Value;

/// A parsed request.
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// An answer: status and JSON body (`None`: no body).
pub(crate) type Answer = (u16, Option<Value>);

/// Reads one request; `None` when the peer sent nothing, `Err(status)` when the request
/// is malformed or has a body without a `Content-Length` (the release APIs answer 411).
pub(crate) fn read_request(reader: &mut impl BufRead) -> Option<Result<Request, u16>> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Some(Err(400));
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return Some(Err(400));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    if headers.contains_key("transfer-encoding") {
        return Some(Err(411));
    }
    let length: usize = match headers.get("content-length") {
        Some(n) => n.parse().ok()?,
        None if matches!(method.as_str(), "POST" | "PATCH" | "PUT") => return Some(Err(411)),
        None => 0,
    };
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Ok(Request {
        method,
        target,
        headers,
        body,
    }))
}

/// The named file field of a multipart body: (filename, content type, bytes).
pub(crate) fn multipart_file(
    body: &[u8],
    boundary: &str,
    field: &str,
) -> Option<(String, String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let mut rest = &body[find(body, delimiter.as_bytes())? + delimiter.len()..];
    loop {
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let content = &rest[head_end + 4..];
        let end = find(content, format!("\r\n{delimiter}").as_bytes())?;
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let param = |key: &str| {
            disposition
                .split(';')
                .filter_map(|p| p.trim().strip_prefix(key))
                .map(|v| v.trim_matches('"').to_owned())
                .next()
        };
        if param("name=").as_deref() == Some(field) {
            let part_type = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-type")
                        .then(|| v.trim().to_owned())
                })
                .unwrap_or_default();
            return Some((param("filename=")?, part_type, content[..end].to_vec()));
        }
        rest = &content[end + 2 + delimiter.len()..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of `key` in a query string or form body.
pub(crate) fn query_param(query: &str, key: &str) -> Option<String> {
    query_params(query)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// A query string's (or form body's) pairs in order, `+` and percent-decoded.
pub(crate) fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

/// Percent-decoding (for path segments and query values).
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_byte = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex_byte) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// What GitHub's REST API answers a request whose headers it refuses, before it looks at
/// the credentials: no `User-Agent` (403), another `Accept` than
/// `application/vnd.github+json` (415), an `X-GitHub-Api-Version` other than 2022-11-28
/// (400; a missing one too when `version_required`). `None` when the headers hold.
pub(crate) fn github_header_problem(req: &Request, version_required: bool) -> Option<Answer> {
    if req.header("user-agent").is_none_or(str::is_empty) {
        return Some((
            403,
            Some(
                serde_json::json!({"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"}),
            ),
        ));
    }
    if req.header("accept") != Some("application/vnd.github+json") {
        return Some((
            415,
            Some(serde_json::json!({"message": "Unsupported 'Accept' header"})),
        ));
    }
    let version = req.header("x-github-api-version");
    if version.is_some_and(|v| v != "2022-11-28") || (version_required && version.is_none()) {
        return Some((
            400,
            Some(serde_json::json!({"message": "API version is missing or not supported"})),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_field() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhi\r\n--XX\r\n\
Content-Disposition: form-data; name=\"attachment\"; filename=\"a.zip\"\r\n\
Content-Type: application/zip\r\n\r\nPK\r\n\x00\r\n--XX--\r\n";
        let (name, ty, content) = multipart_file(body, "XX", "attachment").unwrap();
        assert_eq!((name.as_str(), ty.as_str()), ("a.zip", "application/zip"));
        assert_eq!(content, b"PK\r\n\x00");
        assert_eq!(multipart_file(body, "XX", "file"), None);
    }

    #[test]
    fn decoding() {
        assert_eq!(decode("v1.0%2Frc"), "v1.0/rc");
        assert_eq!(
            query_param("a=1&name=x+y.tar.gz", "name").as_deref(),
            Some("x y.tar.gz")
        );
    }
}
