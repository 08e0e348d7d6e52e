//! `environments.NAME.{target, strategy, health, analysis, rollback, requires}` validated
//! into the [`DeployConfig`] that `wharf deploy` runs.

use serde_saphyr::Spanned;
use wharf_model::{
    AnalysisMetric, CanaryStep, DeployConfig, DockerTarget, HealthCheck, Pause, Provider,
    RollbackPolicy, ScriptTarget, Sticky, Strategy, Target,
};

use crate::file::{AnalysisFile, EnvironmentFile, Rollback, StrategyFile};
use crate::reporter::Reporter;
use crate::validate::duration;

/// Names a query, a URL or a script argument may use as `${{ NAME }}`.
pub const DEPLOY_VARIABLES: [&str; 4] = ["release", "previous", "service", "environment"];

const TARGET_HINT: &str =
    "give `target: {docker: {proxy: URL, port: PORT}}` or `target: {script: {run: [./deploy.sh]}}`";

/// The deployment half of an environment, or `None` when it declares no `target:` (then
/// none of the other deployment keys may be given: nothing would use them).
pub(crate) fn config(
    r: &mut Reporter,
    env_name: &str,
    env: &EnvironmentFile,
) -> Option<DeployConfig> {
    let Some(target_file) = &env.target else {
        for (key, span) in [
            ("strategy", env.strategy.as_ref().map(|s| r.span(s))),
            ("health", env.health.as_ref().map(|s| r.span(s))),
            ("rollback", env.rollback.as_ref().map(|s| r.span(s))),
            (
                "analysis",
                env.analysis
                    .as_ref()
                    .and_then(|a| a.first())
                    .map(|s| r.span(s)),
            ),
            (
                "requires",
                env.requires
                    .as_ref()
                    .and_then(|a| a.first())
                    .map(|s| r.span(s)),
            ),
        ] {
            if let Some(span) = span {
                let d = r
                    .at(
                        span,
                        format!("`environments.{env_name}.{key}` needs a `target:`"),
                    )
                    .with_label("nothing deploys here without a target")
                    .with_hint(TARGET_HINT);
                r.push(d);
            }
        }
        return None;
    };
    let t = &target_file.value;
    let target = match (&t.docker, &t.script) {
        (Some(d), None) => {
            let d = &d.value;
            let proxy = d.proxy.value.trim_end_matches('/').to_string();
            if !proxy.starts_with("http://") && !proxy.starts_with("https://") {
                r.error(
                    r.span(&d.proxy),
                    format!("invalid proxy control URL `{}`", d.proxy.value),
                    "expected `http://HOST:PORT` (the `--admin` address of `wharf proxy`)",
                );
            }
            let port = port(r, &d.port);
            let service = match &d.service {
                Some(s) if !crate::validate::is_name(&s.value) => {
                    r.error(
                        r.span(s),
                        format!("invalid service name `{}`", s.value),
                        "use letters, digits, `_` and `-`",
                    );
                    s.value.clone()
                }
                Some(s) => s.value.clone(),
                None => env_name.to_string(),
            };
            let mut env_vars = std::collections::BTreeMap::new();
            for (k, v) in d.env.iter().flat_map(|m| m.value.0.iter()) {
                if !crate::validate::is_env_name(&k.value) {
                    r.error(
                        r.span(k),
                        format!("invalid environment variable name `{}`", k.value),
                        "use `[A-Za-z_][A-Za-z0-9_]*`",
                    );
                }
                env_vars.insert(k.value.clone(), v.value.clone());
            }
            Target::Docker(DockerTarget {
                proxy,
                service,
                hosts: d.hosts.iter().flatten().map(|h| h.value.clone()).collect(),
                port: port.unwrap_or(0),
                image: d.image.as_ref().map(|i| i.value.clone()),
                env: env_vars,
            })
        }
        (None, Some(s)) => {
            let s = &s.value;
            if s.run.value.is_empty() || s.run.value[0].value.trim().is_empty() {
                let d = r
                    .at(r.span(&s.run), "`run:` names no program")
                    .with_label("empty")
                    .with_hint(
                        "e.g. `run: [./deploy.sh]`: the program and its arguments, no shell",
                    );
                r.push(d);
            }
            for name in s.secrets.iter().flatten() {
                if !crate::validate::is_secret_name(&name.value) {
                    r.error(
                        r.span(name),
                        format!("invalid secret name `{}`", name.value),
                        "use `[A-Z_][A-Z0-9_]*`",
                    );
                }
            }
            Target::Script(ScriptTarget {
                secrets: s
                    .secrets
                    .iter()
                    .flatten()
                    .map(|n| n.value.clone())
                    .collect(),
                run: s.run.value.iter().map(|a| a.value.clone()).collect(),
                timeout_ms: s
                    .timeout
                    .as_ref()
                    .and_then(|t| duration(r, t))
                    .unwrap_or(600_000),
            })
        }
        (Some(_), Some(_)) | (None, None) => {
            let d = r
                .at(
                    r.span(target_file),
                    format!("`environments.{env_name}.target` needs exactly one of `docker` and `script`"),
                )
                .with_label("one target per environment")
                .with_hint(TARGET_HINT);
            r.push(d);
            return None;
        }
    };
    let strategy = env
        .strategy
        .as_ref()
        .map(|s| strategy(r, s))
        .unwrap_or_default();
    let health = env.health.as_ref().map(|h| {
        let hv = &h.value;
        let path = hv.path.as_ref().map(|p| p.value.clone());
        if let Some(p) = &hv.path
            && !p.value.starts_with('/')
        {
            r.error(
                r.span(p),
                format!("invalid health path `{}`", p.value),
                "expected a path such as `/up`",
            );
        }
        if let Some(u) = &hv.url
            && !(u.value.starts_with("http://") || u.value.starts_with("https://"))
        {
            r.error(
                r.span(u),
                format!("invalid health check URL `{}`", u.value),
                "expected `http://…` or `https://…`",
            );
        }
        match (&target, &hv.url, &hv.path) {
            (Target::Script(_), None, _) => {
                let d = r
                    .at(r.span(h), "a script target's health check needs `url:`")
                    .with_label("no URL to probe")
                    .with_hint("e.g. `health: {url: http://127.0.0.1:8080/up}`: probed after each call of the script");
                r.push(d);
            }
            (Target::Docker(_), Some(u), _) => {
                let d = r
                    .at(r.span(u), "a Docker target's health check takes `path:`, not `url:`")
                    .with_label("the container's address is wharf's to choose")
                    .with_hint("e.g. `health: {path: /up}`: probed on the new container before it gets traffic");
                r.push(d);
            }
            _ => {}
        }
        HealthCheck {
            path: path.unwrap_or_else(|| "/up".to_string()),
            url: hv.url.as_ref().map(|u| u.value.clone()),
            interval_ms: hv
                .interval
                .as_ref()
                .and_then(|d| positive(r, d))
                .unwrap_or(1000),
            timeout_ms: hv
                .timeout
                .as_ref()
                .and_then(|d| positive(r, d))
                .unwrap_or(30_000),
            hold_ms: hv.hold.as_ref().and_then(|d| duration(r, d)).unwrap_or(0),
        }
    });
    let mut analysis = Vec::new();
    let mut names = std::collections::HashSet::new();
    for a in env.analysis.iter().flatten() {
        if let (Some(i), None, false) = (
            &a.value.interval,
            &a.value.count,
            matches!(strategy, Strategy::Canary { .. }),
        ) {
            let d = r
                .at(r.span(i), format!("analysis `{}` has an `interval:` but no `count:`", a.value.name.value))
                .with_label("it would measure forever")
                .with_hint("give a `count:`; measuring until the deployment ends is for a canary, whose steps end it");
            r.push(d);
        }
        if !names.insert(a.value.name.value.clone()) {
            r.error(
                r.span(&a.value.name),
                format!("analysis `{}` is declared twice", a.value.name.value),
                "give each metric its own name",
            );
        }
        if let Some(m) = metric(r, a) {
            analysis.push(m);
        }
    }
    let requires = env
        .requires
        .iter()
        .flatten()
        .map(|e| e.value.clone())
        .collect();
    Some(DeployConfig {
        target,
        strategy,
        health,
        analysis,
        rollback: match env.rollback.as_ref().map(|r| r.value) {
            Some(Rollback::Manual) => RollbackPolicy::Manual,
            Some(Rollback::Auto) | None => RollbackPolicy::Auto,
        },
        requires,
    })
}

fn port(r: &mut Reporter, p: &Spanned<i64>) -> Option<u16> {
    match u16::try_from(p.value) {
        Ok(v) if v > 0 => Some(v),
        _ => {
            r.error(
                r.span(p),
                format!("invalid port {}", p.value),
                "expected 1–65535",
            );
            None
        }
    }
}

fn positive(r: &mut Reporter, d: &Spanned<String>) -> Option<u64> {
    let ms = duration(r, d)?;
    if ms == 0 {
        r.error(r.span(d), "the duration must be longer than 0", "zero");
        return None;
    }
    Some(ms)
}

fn pause(r: &mut Reporter, p: &Spanned<String>) -> Option<Pause> {
    if p.value == "manual" {
        return Some(Pause::UntilResumed);
    }
    if crate::duration::duration_ms(&p.value).is_none() {
        let d = r
            .at(r.span(p), format!("invalid pause `{}`", p.value))
            .with_label("not a duration or `manual`")
            .with_hint(
                "write a duration (`30s`, `5m`) or `manual` (until `wharf deploy resume ID`)",
            );
        r.push(d);
        return None;
    }
    duration(r, p).map(Pause::For)
}

fn strategy(r: &mut Reporter, s: &Spanned<StrategyFile>) -> Strategy {
    let v = &s.value;
    let given = [
        v.direct.is_some(),
        v.blue_green.is_some(),
        v.canary.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given != 1 {
        let d = r
            .at(r.span(s), "`strategy` needs exactly one of `direct`, `blue-green` and `canary`")
            .with_label(if given == 0 { "no strategy" } else { "more than one strategy" })
            .with_hint("e.g. `strategy: {canary: {steps: [{weight: 10, pause: 1m}, {weight: 50, pause: 1m}]}}`");
        r.push(d);
        return Strategy::Direct;
    }
    if let Some(bg) = &v.blue_green {
        let bg = &bg.value;
        return Strategy::BlueGreen {
            pause: bg.pause.as_ref().and_then(|p| pause(r, p)),
            preview_host: bg.preview_host.as_ref().map(|h| h.value.clone()),
        };
    }
    if let Some(c) = &v.canary {
        let c = &c.value;
        let mut steps = Vec::new();
        let mut last = 0u8;
        for st in &c.steps {
            let w = match u8::try_from(st.weight.value) {
                Ok(w) if (1..=100).contains(&w) => w,
                _ => {
                    r.error(
                        r.span(&st.weight),
                        format!("invalid weight {}", st.weight.value),
                        "expected a share of requests from 1 to 100",
                    );
                    continue;
                }
            };
            if w <= last {
                let d = r
                    .at(r.span(&st.weight), format!("weight {w} does not rise above the step before ({last})"))
                    .with_label("weights must rise")
                    .with_hint("each step sends more traffic to the new release than the one before; promotion ends at 100");
                r.push(d);
            }
            last = last.max(w);
            steps.push(CanaryStep {
                weight: w,
                pause: st.pause.as_ref().and_then(|p| pause(r, p)),
            });
        }
        if c.steps.is_empty() {
            let d = r
                .at(r.span(s), "a canary needs at least one step")
                .with_label("no steps")
                .with_hint("e.g. `steps: [{weight: 10, pause: 1m}, {weight: 50, pause: 1m}]`");
            r.push(d);
        }
        let sticky = c.sticky.as_ref().and_then(|k| match (&k.value.cookie, &k.value.header) {
            (Some(c), None) => Some(Sticky::Cookie(c.value.clone())),
            (None, Some(h)) => Some(Sticky::Header(h.value.clone())),
            _ => {
                let d = r
                    .at(r.span(k), "`sticky` needs exactly one of `cookie` and `header`")
                    .with_label("one key")
                    .with_hint("e.g. `sticky: {cookie: uid}`: one value of the cookie sees one release");
                r.push(d);
                None
            }
        });
        return Strategy::Canary { steps, sticky };
    }
    Strategy::Direct
}

/// Checks `text` as a template that may use only [`DEPLOY_VARIABLES`].
fn template(r: &mut Reporter, text: &Spanned<String>) {
    let span = r.span(text);
    match wharf_expr::parse_template(&text.value) {
        Err(e) => {
            let d = r
                .at(span, format!("invalid expression: {}", e.message))
                .with_label("here")
                .with_hint_opt(e.hint);
            r.push(d);
        }
        Ok(t) => {
            for reference in t.references() {
                let name = reference.path.join(".");
                if !(reference.path.len() == 1
                    && DEPLOY_VARIABLES.contains(&reference.path[0].as_str()))
                {
                    let d = r
                        .at(
                            span.clone(),
                            format!("unknown name `{name}` in an analysis"),
                        )
                        .with_label("not known here")
                        .with_hint(format!(
                            "an analysis may use {}",
                            DEPLOY_VARIABLES
                                .map(|v| format!("`${{{{ {v} }}}}`"))
                                .join(", ")
                        ));
                    r.push(d);
                }
            }
        }
    }
}

fn condition(r: &mut Reporter, text: &Spanned<String>) {
    let span = r.span(text);
    match wharf_expr::parse(&text.value) {
        Err(e) => {
            let d = r
                .at(span, format!("invalid condition: {}", e.message))
                .with_label("here")
                .with_hint_opt(e.hint);
            r.push(d);
        }
        Ok(expr) => {
            for reference in expr.references() {
                if reference.path.first().map(String::as_str) != Some("result") {
                    let d = r
                        .at(
                            span.clone(),
                            format!("unknown name `{}` in a condition", reference.path.join(".")),
                        )
                        .with_label("not known here")
                        .with_hint(
                            "a condition reads the measurement as `result`, e.g. `result >= 0.99`",
                        );
                    r.push(d);
                }
            }
        }
    }
}

fn metric(r: &mut Reporter, a: &Spanned<AnalysisFile>) -> Option<AnalysisMetric> {
    let v = &a.value;
    if !crate::validate::is_name(&v.name.value) {
        r.error(
            r.span(&v.name),
            format!("invalid analysis name `{}`", v.name.value),
            "use letters, digits, `_` and `-`",
        );
    }
    let timeout_ms = v
        .timeout
        .as_ref()
        .and_then(|t| positive(r, t))
        .unwrap_or(10_000);
    let providers = [
        v.prometheus.is_some(),
        v.http.is_some(),
        v.script.is_some(),
        v.load_test.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if providers != 1 {
        let d = r
            .at(
                r.span(a),
                format!(
                    "analysis `{}` needs exactly one of `prometheus`, `http`, `script` and `load-test`",
                    v.name.value
                ),
            )
            .with_label(if providers == 0 {
                "no provider"
            } else {
                "more than one provider"
            })
            .with_hint("e.g. `prometheus: {url: http://127.0.0.1:9090, query: '…'}`");
        r.push(d);
        return None;
    }
    let provider = if let Some(p) = &v.prometheus {
        let p = &p.value;
        url(r, &p.url);
        template(r, &p.query);
        Provider::Prometheus {
            url: p.url.value.trim_end_matches('/').to_string(),
            query: p.query.value.clone(),
            timeout_ms,
        }
    } else if let Some(h) = &v.http {
        let h = &h.value;
        url(r, &h.url);
        template(r, &h.url);
        Provider::Http {
            url: h.url.value.clone(),
            json_path: h.json_path.as_ref().map(|j| j.value.clone()),
            timeout_ms,
        }
    } else if let Some(l) = &v.load_test {
        let mut headers = std::collections::BTreeMap::new();
        for (k, value) in &l.value.headers.0 {
            headers.insert(k.value.clone(), value.value.0.clone());
        }
        let spec = crate::builtin::load_test_spec(r, &|r, s| template(r, s), headers, l);
        Provider::LoadTest {
            spec: Box::new(spec),
        }
    } else {
        let s = v.script.as_ref()?;
        if s.value.is_empty() {
            r.error(
                r.span(s),
                "`script:` names no program",
                "e.g. `script: [./check.sh]`",
            );
        }
        for arg in &s.value {
            template(r, arg);
        }
        Provider::Script {
            run: s.value.iter().map(|a| a.value.clone()).collect(),
            timeout_ms,
        }
    };
    let verdict = matches!(
        provider,
        Provider::Script { .. } | Provider::LoadTest { .. }
    );
    if !verdict && v.success.is_none() && v.failure.is_none() {
        let d = r
            .at(
                r.span(&v.name),
                format!(
                    "analysis `{}` has no `success:` and no `failure:`",
                    v.name.value
                ),
            )
            .with_label("every measurement would be inconclusive")
            .with_hint("e.g. `success: result >= 0.99`");
        r.push(d);
    }
    if verdict {
        for c in [&v.success, &v.failure].into_iter().flatten() {
            let (message, hint) = match provider {
                Provider::LoadTest { .. } => (
                    "a load test's measurement is its thresholds: it takes no condition",
                    "remove it, and set `thresholds: { p99: 50ms, error-rate: 0.01 }`",
                ),
                _ => (
                    "a script's measurement is its exit code: it takes no condition",
                    "remove it: exit 0 passes, any other exit fails",
                ),
            };
            r.error(r.span(c), message, hint);
        }
    }
    for c in [&v.success, &v.failure].into_iter().flatten() {
        condition(r, c);
    }
    let count = v.count.as_ref().and_then(|c| match u32::try_from(c.value) {
        Ok(n) if n > 0 => Some(n),
        _ => {
            r.error(
                r.span(c),
                format!("invalid count {}", c.value),
                "expected 1 or more measurements",
            );
            None
        }
    });
    let interval_ms = v.interval.as_ref().and_then(|i| positive(r, i));
    if let (Some(c), None) = (&v.count, &v.interval)
        && c.value > 1
    {
        let d = r
            .at(
                r.span(c),
                format!("{} measurements need an `interval:`", c.value),
            )
            .with_label("no time between them")
            .with_hint("e.g. `interval: 30s`");
        r.push(d);
    }
    let failure_limit = match &v.failure_limit {
        None => 0,
        Some(l) => match i32::try_from(l.value) {
            Ok(n) if n >= -1 => n,
            _ => {
                r.error(
                    r.span(l),
                    format!("invalid failure-limit {}", l.value),
                    "expected 0 or more, or -1 (never fail)",
                );
                0
            }
        },
    };
    let consecutive_error_limit = match &v.consecutive_error_limit {
        None => 4,
        Some(l) => u32::try_from(l.value).unwrap_or_else(|_| {
            r.error(
                r.span(l),
                format!("invalid consecutive-error-limit {}", l.value),
                "expected 0 or more",
            );
            4
        }),
    };
    Some(AnalysisMetric {
        name: v.name.value.clone(),
        provider,
        interval_ms,
        count,
        initial_delay_ms: v
            .initial_delay
            .as_ref()
            .and_then(|d| duration(r, d))
            .unwrap_or(0),
        success: v.success.as_ref().map(|s| s.value.clone()),
        failure: v.failure.as_ref().map(|s| s.value.clone()),
        failure_limit,
        consecutive_error_limit,
    })
}

fn url(r: &mut Reporter, u: &Spanned<String>) {
    if !(u.value.starts_with("http://") || u.value.starts_with("https://")) {
        r.error(
            r.span(u),
            format!("invalid URL `{}`", u.value),
            "expected `http://…` or `https://…`",
        );
    }
}
