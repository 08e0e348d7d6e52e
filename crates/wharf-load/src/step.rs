//! A `load-test` as a pipeline writes it (`wharf_model::LoadTestStep`: durations and the
//! error rate as text), made into a [`LoadSpec`]: one conversion for the step and for a
//! deployment analysis.

use serde_json::{Map, Value, json};

use crate::LoadSpec;

impl LoadSpec {
    /// The spec of a `load-test` as a pipeline writes it (a step, a deployment's
    /// analysis), its URL passed through `expand` (`${VAR}` of a step's environment, a
    /// deployment's variables), checked as [`LoadSpec::validate`] does.
    pub fn of_step(
        step: &wharf_model::LoadTestStep,
        expand: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<LoadSpec, String> {
        let mut v = Map::new();
        v.insert("url".into(), json!(expand(&step.url)?));
        if let Some(m) = &step.method {
            v.insert("method".into(), json!(m));
        }
        if !step.headers.is_empty() {
            v.insert("headers".into(), json!(step.headers));
        }
        if let Some(b) = &step.body {
            v.insert("body".into(), json!(b));
        }
        if let Some(c) = step.connections {
            v.insert("connections".into(), json!(c));
        }
        if let Some(r) = step.rate {
            v.insert("rate".into(), json!(r));
        }
        for (key, value) in [
            ("duration", &step.duration),
            ("warm-up", &step.warm_up),
            ("timeout", &step.timeout),
        ] {
            if let Some(d) = value {
                v.insert(key.into(), json!(d));
            }
        }
        let t = &step.thresholds;
        let mut th = Map::new();
        for (key, value) in [
            ("p50", &t.p50),
            ("p90", &t.p90),
            ("p99", &t.p99),
            ("p99.9", &t.p99_9),
            ("max", &t.max),
        ] {
            if let Some(d) = value {
                th.insert(key.into(), json!(d));
            }
        }
        if let Some(e) = &t.error_rate {
            let e: f64 = e
                .parse()
                .map_err(|_| format!("`error-rate: {e}` is not a number"))?;
            th.insert("error-rate".into(), json!(e));
        }
        if let Some(tp) = t.throughput {
            th.insert("throughput".into(), json!(tp));
        }
        if !th.is_empty() {
            v.insert("thresholds".into(), Value::Object(th));
        }
        let spec: LoadSpec = serde_json::from_value(Value::Object(v)).map_err(|e| e.to_string())?;
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }
}
