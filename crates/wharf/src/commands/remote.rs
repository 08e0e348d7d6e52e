//! The history commands against a server (`--server URL --project NAME`, the token from
//! `WHARF_TOKEN`): the same records through the API, shown the same way.

use wharf_model::{RunRecord, RunSummary};
use wharf_secrets::secret::SecretString;

use crate::cli::RemoteArgs;
use crate::exit::UserError;

/// A project on a server.
pub struct Remote {
    net: wharf_net::Net,
    base: String,
    project: String,
    token: Option<SecretString>,
}

impl Remote {
    /// The server the flags name, if any.
    pub fn from_args(a: &RemoteArgs) -> anyhow::Result<Option<Remote>> {
        let Some(server) = &a.server else {
            return Ok(None);
        };
        let project = a.project.clone().ok_or_else(|| {
            UserError::invalid("--server needs --project NAME (or WHARF_PROJECT)")
                .hint("`wharf server project list` on the server shows the projects")
        })?;
        let net = wharf_net::Net::from_env().map_err(|e| UserError::invalid(e.to_string()))?;
        let token = std::env::var("WHARF_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(SecretString::new);
        Ok(Some(Remote {
            net,
            base: server.trim_end_matches('/').to_string(),
            project,
            token,
        }))
    }

    /// A server, for the calls not about one project (`wharf audit`).
    pub fn server(server: &str) -> anyhow::Result<Remote> {
        let args = RemoteArgs {
            server: Some(server.to_string()),
            project: Some(String::new()),
        };
        Remote::from_args(&args)?.ok_or_else(|| UserError::invalid("no server named").into())
    }

    /// `GET /api/v1/SEGMENTS…?QUERY` (segments percent-encoded).
    pub async fn get_api(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> anyhow::Result<reqwest::Response> {
        let mut url = self.api_url(segments)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.get(url).await
    }

    /// `GET /api/v1/projects/PROJECT/SEGMENTS…?QUERY`, its JSON answer.
    pub async fn project_get<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> anyhow::Result<T> {
        let mut url = self.url(segments)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(self.get(url).await?.json().await?)
    }

    /// `POST /api/v1/projects/PROJECT/SEGMENTS…` with `body`, its JSON answer.
    pub async fn project_post<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &serde_json::Value,
    ) -> anyhow::Result<T> {
        let url = self.url(segments)?;
        Ok(self
            .send(reqwest::Method::POST, url, Some(body))
            .await?
            .json()
            .await?)
    }

    /// `/api/v1/SEGMENTS…` on the server, each segment percent-encoded.
    fn api_url(&self, segments: &[&str]) -> anyhow::Result<reqwest::Url> {
        let mut url = reqwest::Url::parse(&self.base).map_err(|e| {
            UserError::invalid(format!("--server `{}` is not a URL: {e}", self.base))
                .hint("e.g. --server http://127.0.0.1:8720")
        })?;
        url.path_segments_mut()
            .map_err(|_| {
                UserError::invalid(format!("--server `{}` cannot take a path", self.base))
            })?
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        Ok(url)
    }

    /// `/api/v1/projects/PROJECT/SEGMENTS…`, each segment percent-encoded (a job id may
    /// hold spaces, parentheses and `=`).
    fn url(&self, segments: &[&str]) -> anyhow::Result<reqwest::Url> {
        let mut all = vec!["projects", self.project.as_str()];
        all.extend_from_slice(segments);
        self.api_url(&all)
    }

    async fn get(&self, url: reqwest::Url) -> anyhow::Result<reqwest::Response> {
        self.send(reqwest::Method::GET, url, None).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut req = self.net.client().request(method, url.clone());
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        let resp = req.send().await.map_err(|e| {
            UserError::invalid(format!("{url}: {}", wharf_net::describe(&e)))
                .hint("is the server running? `wharf serve` prints the URL it listens on")
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let said = body["error"]
            .as_str()
            .unwrap_or("no reason given")
            .to_string();
        let mut e = UserError::invalid(format!("the server answered {status}: {said}"));
        if status == reqwest::StatusCode::UNAUTHORIZED {
            e = e.hint(
                "set WHARF_TOKEN to a token from `wharf server token create NAME --role viewer`",
            );
        } else if let Some(h) = body["hint"].as_str() {
            e = e.hint(h.to_string());
        }
        Err(e.into())
    }

    /// The latest runs, newest first.
    pub async fn runs(&self, limit: u32) -> anyhow::Result<Vec<RunSummary>> {
        let mut url = self.url(&["runs"])?;
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string());
        Ok(self.get(url).await?.json().await?)
    }

    /// Run `number`, or the latest.
    pub async fn run(&self, number: Option<u64>) -> anyhow::Result<RunRecord> {
        let number = match number {
            Some(n) => n,
            None => self
                .runs(1)
                .await?
                .first()
                .map(|r| r.number)
                .ok_or_else(|| {
                    UserError::invalid(format!("project {} has no runs yet", self.project))
                })?,
        };
        let url = self.url(&["runs", &number.to_string()])?;
        Ok(self.get(url).await?.json().await?)
    }

    /// Job `job`'s live log as Server-Sent Events, from event id `from` (`start` for the
    /// beginning).
    pub async fn stream(
        &self,
        run: u64,
        job: &str,
        from: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let mut url = self.url(&["runs", &run.to_string(), "jobs", job, "stream"])?;
        url.query_pairs_mut().append_pair("from", from);
        self.get(url).await
    }

    /// Another handle on the same server and project (for tasks of their own).
    pub fn clone_for_follow(&self) -> Remote {
        Remote {
            net: self.net.clone(),
            base: self.base.clone(),
            project: self.project.clone(),
            token: self.token.clone(),
        }
    }

    /// Approves gate `id` as this token's name; the server's answer.
    pub async fn approve(&self, id: i64) -> anyhow::Result<serde_json::Value> {
        let url = self.url(&["approvals", &id.to_string()])?;
        Ok(self
            .send(reqwest::Method::POST, url, Some(&serde_json::json!({})))
            .await?
            .json()
            .await?)
    }

    /// The project's approval gates (`all`: decided ones too).
    pub async fn approvals(&self, all: bool) -> anyhow::Result<Vec<wharf_store::ApprovalGate>> {
        let mut url = self.url(&["approvals"])?;
        if all {
            url.query_pairs_mut().append_pair("all", "true");
        }
        Ok(self.get(url).await?.json().await?)
    }

    /// The log of one step.
    pub async fn log(&self, run: u64, job: &str, step: usize) -> anyhow::Result<Vec<u8>> {
        let url = self.url(&[
            "runs",
            &run.to_string(),
            "jobs",
            job,
            "steps",
            &step.to_string(),
            "log",
        ])?;
        Ok(self.get(url).await?.bytes().await?.to_vec())
    }
}

/// `wharf trigger`: a manual run on the server, with inputs.
pub async fn trigger(args: crate::cli::TriggerArgs) -> anyhow::Result<crate::exit::ExitStatus> {
    let remote = Remote::from_args(&args.remote)?.ok_or_else(|| {
        UserError::invalid("wharf trigger needs a server: --server URL --project NAME")
            .hint("or set WHARF_SERVER and WHARF_PROJECT; the token comes from WHARF_TOKEN")
    })?;
    let mut inputs = serde_json::Map::new();
    for i in &args.inputs {
        let (k, v) = i
            .split_once('=')
            .ok_or_else(|| UserError::invalid(format!("--input `{i}` is not NAME=VALUE")))?;
        inputs.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    }
    let mut body = serde_json::json!({ "inputs": inputs });
    if let Some(b) = &args.branch {
        body["branch"] = serde_json::Value::String(b.clone());
    }
    let answer: serde_json::Value = remote
        .send(
            reqwest::Method::POST,
            remote.url(&["trigger"])?,
            Some(&body),
        )
        .await?
        .json()
        .await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        eprintln!(
            "queued event {} on {} at {} ({})",
            answer["event"],
            answer["branch"].as_str().unwrap_or("?"),
            answer["sha"]
                .as_str()
                .map(|s| &s[..s.len().min(12)])
                .unwrap_or("?"),
            answer["pipelines"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
    }
    Ok(crate::exit::ExitStatus::Success)
}
