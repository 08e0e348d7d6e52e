//! Where measurements come from: a Prometheus instant query, an HTTP GET, a script;
//! and the `${{ … }}` names their text may use.

use super::*;

/// How template values are written into the text.
#[derive(Clone, Copy)]
enum Escape {
    /// As they are (a PromQL query, a script's argument).
    None,
    /// Percent-encoded (a URL).
    Url,
}

/// What templates can see: the four [`Vars`].
struct VarsCtx<'a>(&'a Vars);

impl Context for VarsCtx<'_> {
    fn lookup(&self, path: &[String]) -> Option<Value> {
        let v = self.0;
        match path {
            [name] => match name.as_str() {
                "release" => Some(Value::from(v.release.as_str())),
                "previous" => v.previous.as_deref().map(Value::from),
                "service" => Some(Value::from(v.service.as_str())),
                "environment" => Some(Value::from(v.environment.as_str())),
                _ => None,
            },
            _ => None,
        }
    }
    fn status(&self) -> Status {
        Status::default()
    }
}

/// `text` with each `${{ … }}` replaced by its value.
fn render(text: &str, vars: &Vars, escape: Escape) -> Result<String, String> {
    let template = wharf_expr::parse_template(text).map_err(|e| format!("`{text}`: {e}"))?;
    let ctx = VarsCtx(vars);
    let mut out = String::with_capacity(text.len());
    for segment in template.segments() {
        let (expr, span) = match segment {
            Segment::Literal(t) => {
                out.push_str(t);
                continue;
            }
            Segment::Expr { expr, span } => (expr, &text[span.clone()]),
        };
        let references = expr.references();
        if let Some(r) = references
            .iter()
            .find(|r| !matches!(r.path.as_slice(), [n] if VAR_NAMES.contains(&n.as_str())))
        {
            return Err(format!(
                "unknown name `{}` in `{span}` (the names are {})",
                r.path.join("."),
                VAR_NAMES.join(", ")
            ));
        }
        let value = wharf_expr::eval(expr, &ctx).map_err(|e| format!("`{span}`: {e}"))?;
        if value == Value::Null
            && vars.previous.is_none()
            && references.iter().any(|r| r.path == ["previous"])
        {
            return Err(format!(
                "`{span}`: there is no previous release (hint: `${{{{ previous || 'none' }}}}` picks a value)"
            ));
        }
        let value = value.to_display_string();
        match escape {
            Escape::None => out.push_str(&value),
            Escape::Url => percent_encode(&value, &mut out),
        }
    }
    Ok(out)
}

/// Writes `s` with every byte but RFC 3986's unreserved ones as `%XX`.
fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// `1.5 s`, `300 ms`.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// One Prometheus instant query.
pub(super) async fn prometheus(
    url: &str,
    query: &str,
    timeout_ms: u64,
    vars: &Vars,
) -> Result<Sample, String> {
    let label = format!(
        "prometheus {}",
        wharf_net::redact_url(url).trim_end_matches('/')
    );
    let fail = |what: String| format!("{label}: {what}");
    let query = render(query, vars, Escape::None).map_err(|e| fail(format!("the query: {e}")))?;
    let mut endpoint = parse_url(url).map_err(fail)?;
    let path = format!("{}/api/v1/query", endpoint.path().trim_end_matches('/'));
    endpoint.set_path(&path);
    endpoint.query_pairs_mut().append_pair("query", &query);
    let (status, body) = get(&endpoint, timeout_ms).await.map_err(fail)?;
    prometheus_sample(status, &body).map_err(fail)
}

/// The sample of a Prometheus answer (`{"status": "success", "data": {"resultType":
/// "vector", "result": [{"metric": {…}, "value": [1700000000.1, "0.2"]}]}}`).
fn prometheus_sample(status: u16, body: &[u8]) -> Result<Sample, String> {
    let answer: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        if (200..300).contains(&status) {
            format!("the answer is not JSON ({e})")
        } else {
            format!("HTTP {status}{}", redirect_note(status))
        }
    })?;
    if answer["status"] != "success" {
        let kind = answer["errorType"].as_str().unwrap_or("error");
        let error = answer["error"].as_str().unwrap_or("no message");
        return Err(format!("the query failed (HTTP {status}): {kind}: {error}"));
    }
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}"));
    }
    let data = &answer["data"];
    let value = match data["resultType"].as_str() {
        Some("vector") => {
            let result = data["result"]
                .as_array()
                .ok_or("the answer has no data.result list")?;
            match result.as_slice() {
                [] => {
                    return Err(
                        "the query returned no samples (an empty result is an error, not a pass)"
                            .into(),
                    );
                }
                [one] => &one["value"],
                many => {
                    return Err(format!(
                        "the query returned {} series, and a condition sees one value (hint: aggregate them, e.g. sum(…) or max(…))",
                        many.len()
                    ));
                }
            }
        }
        Some("scalar") => &data["result"],
        Some(other) => {
            return Err(format!(
                "the query returned a {other}; use one that returns an instant vector or a scalar"
            ));
        }
        None => return Err("the answer has no data.resultType".into()),
    };
    let text = value[1]
        .as_str()
        .ok_or("the answer's sample has no value")?
        .to_string();
    let n: f64 = text
        .parse()
        .map_err(|_| format!("the sample {text:?} is not a number"))?;
    if n.is_nan() {
        return Err("the query returned NaN (0/0: no requests in the window?), which is an error, not a value".into());
    }
    if n.is_infinite() {
        return Err(format!(
            "the query returned {text} (a division by zero?), which is an error, not a value"
        ));
    }
    Ok(Sample {
        value: Value::Number(n),
        text,
    })
}

/// One HTTP measurement.
pub(super) async fn http(
    url: &str,
    json_path: Option<&str>,
    timeout_ms: u64,
    vars: &Vars,
) -> Result<Sample, String> {
    let url = render(url, vars, Escape::Url)
        .map_err(|e| format!("http {}: the URL: {e}", wharf_net::redact_url(url)))?;
    let label = format!("http {}", wharf_net::redact_url(&url));
    let fail = |what: String| format!("{label}: {what}");
    let endpoint = parse_url(&url).map_err(fail)?;
    let (status, body) = get(&endpoint, timeout_ms).await.map_err(fail)?;
    if !(200..300).contains(&status) {
        return Err(fail(format!("HTTP {status}{}", redirect_note(status))));
    }
    match (
        serde_json::from_slice::<serde_json::Value>(&body),
        json_path,
    ) {
        (Ok(json), None) => scalar(&json, "the answer").map_err(fail),
        (Ok(json), Some(path)) => {
            let at =
                json_at(&json, path).ok_or_else(|| fail(format!("the answer has no `{path}`")))?;
            scalar(at, &format!("`{path}`")).map_err(fail)
        }
        (Err(_), None) => {
            let text = String::from_utf8_lossy(&body).trim().to_string();
            Ok(Sample {
                value: Value::from(text.as_str()),
                text,
            })
        }
        (Err(e), Some(path)) => Err(fail(format!(
            "the answer is not JSON ({e}), so `{path}` cannot be read from it"
        ))),
    }
}

/// The value at a dotted path: object keys, and array indices as numbers.
fn json_at<'a>(json: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(json, |at, key| match at {
        serde_json::Value::Object(map) => map.get(key),
        serde_json::Value::Array(items) => items.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

fn scalar(json: &serde_json::Value, what: &str) -> Result<Sample, String> {
    use serde_json::Value as J;
    let (value, text) = match json {
        J::Number(n) => {
            let f = n
                .as_f64()
                .ok_or_else(|| format!("{what} is not a usable number"))?;
            (Value::Number(f), n.to_string())
        }
        J::Bool(b) => (Value::Bool(*b), b.to_string()),
        J::String(s) => (Value::from(s.as_str()), s.clone()),
        J::Null => return Err(format!("{what} is null")),
        J::Array(_) | J::Object(_) => {
            return Err(format!(
                "{what} is a JSON {}; `json_path` must lead to a number, a string or a boolean",
                if json.is_array() { "array" } else { "object" }
            ));
        }
    };
    Ok(Sample { value, text })
}

fn redirect_note(status: u16) -> &'static str {
    if (300..400).contains(&status) {
        " (a redirect to another host is not followed)"
    } else {
        ""
    }
}

fn parse_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(format!("the scheme is {other}, not http or https")),
    }
}

/// GETs `url` within `timeout_ms`, following redirects only on the same origin: the
/// status and the body (at most [`MAX_BODY`]).
async fn get(url: &reqwest::Url, timeout_ms: u64) -> Result<(u16, Vec<u8>), String> {
    wharf_net::install_crypto();
    let timeout = Duration::from_millis(timeout_ms);
    let origin = (
        url.scheme().to_string(),
        url.host_str().map(str::to_string),
        url.port_or_known_default(),
    );
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        let to = attempt.url();
        let same = to.scheme() == origin.0
            && to.host_str() == origin.1.as_deref()
            && to.port_or_known_default() == origin.2;
        if same && attempt.previous().len() < 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let client = reqwest::Client::builder()
        .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION"), " analysis"))
        .timeout(timeout)
        .redirect(policy)
        .build()
        .map_err(|e| wharf_net::describe(&e))?;
    let why = |e: reqwest::Error| {
        if e.is_timeout() {
            format!("no answer within {}", human(timeout))
        } else {
            wharf_net::describe(&e)
        }
    };
    let mut response = client.get(url.clone()).send().await.map_err(why)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(why)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("the answer is larger than {} MiB", MAX_BODY >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// One run of a script metric.
pub(super) async fn script(
    name: &str,
    run: &[String],
    timeout_ms: u64,
    vars: &Vars,
    dir: &Path,
) -> (Phase, Option<String>, String) {
    let error = |what: String| (Phase::Error, None, what);
    let Some((program, args)) = run.split_first() else {
        return error("script: `run` is empty".into());
    };
    let label = format!("script `{program}`");
    let args: Result<Vec<String>, String> =
        args.iter().map(|a| render(a, vars, Escape::None)).collect();
    let args = match args {
        Ok(args) => args,
        Err(e) => return error(format!("{label}: {e}")),
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env("WHARF_RELEASE", &vars.release)
        .env(
            "WHARF_PREVIOUS_RELEASE",
            vars.previous.as_deref().unwrap_or(""),
        )
        .env("WHARF_SERVICE", &vars.service)
        .env("WHARF_ENVIRONMENT", &vars.environment);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return error(format!(
                "{label}: cannot start it in {}: {e}",
                dir.display()
            ));
        }
    };
    let stdout = Tail::read(child.stdout.take());
    let stderr = Tail::read(child.stderr.take());
    let limit = Duration::from_millis(timeout_ms);
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return error(format!("{label}: cannot wait for it: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            return error(format!(
                "{label}: still running after {}, killed",
                human(limit)
            ));
        }
    };
    let (stderr, stdout) = (stderr.finish().await, stdout.finish().await);
    let said = last_line(&stderr)
        .or_else(|| last_line(&stdout))
        .map(|l| format!(": {l}"))
        .unwrap_or_default();
    match status.code() {
        Some(0) => (
            Phase::Successful,
            Some("0".into()),
            format!("{name}: exit 0"),
        ),
        Some(code) => (
            Phase::Failed,
            Some(code.to_string()),
            format!("{name}: exit {code}{said}"),
        ),
        None => (Phase::Failed, None, format!("{name}: {status}{said}")),
    }
}

/// The last bytes of a child's output, read in a task of its own (aborted when
/// dropped) so that a program that writes a lot never blocks.
struct Tail(Option<tokio::task::JoinHandle<Vec<u8>>>);

impl Tail {
    fn read(pipe: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>) -> Tail {
        Tail(pipe.map(|mut pipe| {
            tokio::spawn(async move {
                let mut kept = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > 2 * OUTPUT_TAIL {
                        kept.drain(..kept.len() - OUTPUT_TAIL);
                    }
                }
                kept
            })
        }))
    }

    /// What was read, waiting at most [`OUTPUT_GRACE`] for the pipe to close.
    async fn finish(mut self) -> Vec<u8> {
        match self.0.as_mut() {
            Some(task) => match tokio::time::timeout(OUTPUT_GRACE, task).await {
                Ok(Ok(kept)) => kept,
                _ => Vec::new(),
            },
            None => Vec::new(),
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// The last non-empty line of `output`, at most 200 characters.
fn last_line(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let mut short: String = line.chars().take(200).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    Some(short)
}

/// One load test: its thresholds are the verdict. A load that got no answer at all is an
/// error (the preview is not there), never a pass or a plain failure.
pub(super) async fn load_test(
    name: &str,
    step: &wharf_model::LoadTestStep,
    vars: &Vars,
) -> (Phase, Option<String>, String) {
    let error = |what: String| (Phase::Error, None, format!("{name}: {what}"));
    let mut step = step.clone();
    for value in step.headers.values_mut() {
        match render(value, vars, Escape::None) {
            Ok(v) => *value = v,
            Err(e) => return error(format!("a header: {e}")),
        }
    }
    if let Some(body) = &step.body {
        match render(body, vars, Escape::None) {
            Ok(v) => step.body = Some(v),
            Err(e) => return error(format!("the body: {e}")),
        }
    }
    let spec = match wharf_load::LoadSpec::of_step(&step, &|url| {
        render(url, vars, Escape::Url).map_err(|e| format!("the URL: {e}"))
    }) {
        Ok(spec) => spec,
        Err(e) => return error(e),
    };
    // The sender lives as long as the load: the test runs its whole duration.
    let (_running, cancel) = watch::channel(false);
    let report = match wharf_load::run(&spec, cancel, |_| {}).await {
        Ok(report) => report,
        Err(e) => return error(e.to_string()),
    };
    let summary = report
        .summary()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    if report.responses == 0 {
        return error(format!("no answer: {summary}"));
    }
    if report.passed {
        (
            Phase::Successful,
            Some(summary.clone()),
            format!("{name}: thresholds met: {summary}"),
        )
    } else {
        let missed: Vec<String> = report.failures().map(|c| c.to_string()).collect();
        (
            Phase::Failed,
            Some(summary),
            format!("{name}: {}", missed.join("; ")),
        )
    }
}
