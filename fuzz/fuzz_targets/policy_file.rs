//! Fuzzes the policy file parser: any UTF-8 text must give a policy or located problems
//! that render, never a panic. A policy that parses is applied on a fixed day to a finding
//! and an insecure setting, and rendered.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_policy::{
    Error, Finding, FindingKind, InsecureSetting, Policy, Severity, evaluate, settings,
};

fuzz_target!(|text: &str| {
    match Policy::parse("fuzz.toml", text) {
        Ok(policy) => {
            let today = wharf_policy::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
            let finding = Finding {
                kind: FindingKind::Vulnerability,
                id: "CVE-2019-14806".into(),
                aliases: vec!["GHSA-gq9m-qvpx-68hc".into()],
                package: Some("Werkzeug".into()),
                version: Some("0.11".into()),
                purl: Some("pkg:pypi/werkzeug@0.11".into()),
                severity: Severity::High,
                fixed_versions: vec!["0.15.3".into()],
                title: None,
                target: None,
                tool: "trivy".into(),
                report: "fuzz.json".into(),
            };
            let setting =
                InsecureSetting::new(settings::PLAIN_HTTP_REGISTRY).with_subject("127.0.0.1:5000");
            let _ = policy.setting_cover(&setting, today).refusal(&setting);
            let outcome = evaluate(&policy, &[finding], Some(&[]), Some(&[setting]), today);
            let _ = outcome.render_text();
            assert!(policy.digest.starts_with("sha256:"));
        }
        Err(Error::Policy { problems, .. }) => {
            assert!(!problems.is_empty());
            for p in &problems {
                assert!(p.location.line >= 1 && p.location.column >= 1);
                let _ = p.render();
            }
        }
        Err(other) => panic!("parse returned a non-policy error: {other}"),
    }
});
