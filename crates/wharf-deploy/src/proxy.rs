//! The control API of `wharf proxy` (docs/proxy.md), as the Docker target drives it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// A proxy's control API.
#[derive(Debug, Clone)]
pub struct ProxyClient {
    base: String,
    http: reqwest::Client,
}

/// What a refused call said.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The `error` text.
    pub error: String,
    /// The last health probe's result, when a release never became healthy.
    pub last_probe: Option<String>,
}

impl ProxyClient {
    /// A client of the control API at `base` (`http://127.0.0.1:8081`).
    pub fn new(base: &str) -> Result<ProxyClient> {
        wharf_net::install_crypto();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::target("build an HTTP client", e.to_string()))?;
        Ok(ProxyClient {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// Sends one call; `Ok(Err(refusal))` when the proxy answered with an error.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<std::result::Result<Value, Refusal>> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let doing = || format!("{method} {url} (the proxy's control API)");
        let resp = req
            .send()
            .await
            .map_err(|e| Error::target(doing(), wharf_net_chain(&e)))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| Error::target(doing(), e.to_string()))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(Ok(value));
        }
        Ok(Err(Refusal {
            status,
            error: value["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| text.chars().take(300).collect()),
            last_probe: value["last_probe"].as_str().map(str::to_string),
        }))
    }

    /// Calls and turns a refusal into an error.
    pub async fn must(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        match self.call(method.clone(), path, body).await? {
            Ok(v) => Ok(v),
            Err(r) => Err(Error::target(
                format!("{method} {path} on the proxy"),
                format!("{} {}", r.status, r.error),
            )),
        }
    }

    /// Creates or updates service `name`.
    pub async fn configure(&self, name: &str, spec: Value) -> Result<()> {
        self.must(
            reqwest::Method::PUT,
            &format!("/services/{name}"),
            Some(spec),
        )
        .await
        .map(|_| ())
    }

    /// The service's state, `None` when it does not exist.
    pub async fn service(&self, name: &str) -> Result<Option<Value>> {
        match self
            .call(reqwest::Method::GET, &format!("/services/{name}"), None)
            .await?
        {
            Ok(v) => Ok(Some(v)),
            Err(r) if r.status == 404 => Ok(None),
            Err(r) => Err(Error::target(
                format!("read service {name} from the proxy"),
                format!("{} {}", r.status, r.error),
            )),
        }
    }
}

/// A health object for the proxy's API.
pub fn health_json(path: &str, interval_ms: u64, timeout_ms: u64) -> Value {
    json!({"path": path, "interval_ms": interval_ms, "timeout_ms": timeout_ms})
}

fn wharf_net_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}
