//! The policy file: a valid one parses to the values written; every bad input is a
//! distinct error at the exact line and column, with the hint a user needs.

use wharf_policy::{
    Covers, DEFAULT_FAIL_ON, Error, ExceptionKind, Policy, ProblemKind, Severity, UnknownLicenses,
};

use crate::{day, hints, policy, problems};

/// A valid policy; line numbers matter to the tests below.
const BASE: &str = r#"[exceptions]
approvers = ["sec-lead", "cto"]

[[exception]]
id = "EXC-0007"
kind = "vulnerability"
vulnerability = "CVE-2019-14806"
package = "pkg:pypi/werkzeug@0.11"
reason = "the debugger is never enabled in production images"
owner = "team-web"
approved-by = "sec-lead"
created = 2026-11-01
expires = 2027-01-15
ticket = "https://tracker.example/SEC-412"
"#;

/// `BASE` with the line starting `key =` replaced (or removed when `line` is empty).
fn edit(key: &str, line: &str) -> String {
    let mut found = false;
    let out: Vec<&str> = BASE
        .lines()
        .filter_map(|l| {
            if l.starts_with(&format!("{key} =")) {
                found = true;
                (!line.is_empty()).then_some(line)
            } else {
                Some(l)
            }
        })
        .collect();
    assert!(found, "no line for {key}");
    out.join("\n") + "\n"
}

#[test]
fn a_valid_policy_parses_to_what_is_written() {
    let p = policy(BASE);
    assert_eq!(p.file, "wharf.policy.toml");
    assert_eq!(p.digest, wharf_policy::sha256(BASE.as_bytes()));
    assert!(p.digest.starts_with("sha256:") && p.digest.len() == 71);
    assert_eq!(p.rules.max_days, 90);
    assert_eq!(p.rules.warn_days, 14);
    assert_eq!(p.rules.approvers, vec!["sec-lead", "cto"]);
    assert_eq!(p.fail_on, DEFAULT_FAIL_ON.to_vec());
    assert_eq!(p.licenses, None);
    assert_eq!(p.exceptions.len(), 1);
    let e = &p.exceptions[0];
    assert_eq!(e.id, "EXC-0007");
    assert_eq!(e.kind(), ExceptionKind::Vulnerability);
    match &e.covers {
        Covers::Vulnerability { id, package } => {
            assert_eq!(id, "CVE-2019-14806");
            assert_eq!(package.as_ref().unwrap().as_str(), "pkg:pypi/werkzeug@0.11");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.owner, "team-web");
    assert_eq!(e.approved_by, "sec-lead");
    assert_eq!(e.created, day("2026-11-01"));
    assert_eq!(e.expires, day("2027-01-15"));
    assert_eq!(e.ticket.as_deref(), Some("https://tracker.example/SEC-412"));
    assert_eq!(e.location.to_string(), "wharf.policy.toml:4:1");
}

#[test]
fn every_table_is_optional_and_values_are_read() {
    let empty = policy("");
    assert!(empty.exceptions.is_empty());
    assert_eq!(empty.fail_on, DEFAULT_FAIL_ON.to_vec());

    let p = policy(
        r#"
[exceptions]
max-days = 30
warn-days = 7
[vulnerabilities]
fail-on = ["LOW", "critical", "Critical"]
[licenses]
allow = ["MIT", "Apache-2.0 WITH LLVM-exception", "LicenseRef-Internal"]
unknown = "allow"
"#,
    );
    assert_eq!((p.rules.max_days, p.rules.warn_days), (30, 7));
    assert_eq!(p.fail_on, vec![Severity::Critical, Severity::Low]);
    let licenses = p.licenses.unwrap();
    assert_eq!(licenses.unknown, UnknownLicenses::Allow);
    let allow: Vec<&str> = licenses.allow.iter().map(|l| l.as_str()).collect();
    assert_eq!(
        allow,
        vec![
            "MIT",
            "Apache-2.0 WITH LLVM-exception",
            "LicenseRef-Internal"
        ]
    );
    assert!(
        policy("[vulnerabilities]\nfail-on = []\n")
            .fail_on
            .is_empty()
    );
}

#[test]
fn each_missing_required_field_is_its_own_error_at_the_exception_header() {
    for field in [
        "id",
        "kind",
        "reason",
        "owner",
        "approved-by",
        "created",
        "expires",
    ] {
        let label = if field == "id" { "#1" } else { "EXC-0007" };
        assert_eq!(
            problems(&edit(field, "")),
            vec![format!(
                "wharf.policy.toml:4:1: exception {label} has no `{field}`"
            )],
            "without {field}"
        );
    }
    assert_eq!(
        problems(&edit("vulnerability", "")),
        vec!["wharf.policy.toml:4:1: exception EXC-0007 has no `vulnerability`"]
    );
    assert_eq!(
        hints(&edit("owner", ""))[0].as_deref(),
        Some("every exception needs id, kind, reason, owner, approved-by, created and expires")
    );
}

#[test]
fn an_empty_reason_is_refused() {
    let text = edit("reason", r#"reason = "   ""#);
    assert_eq!(
        problems(&text),
        vec!["wharf.policy.toml:9:10: exception EXC-0007 has an empty `reason`"]
    );
    assert_eq!(
        hints(&text)[0].as_deref(),
        Some("say why the risk is acceptable, so the approver and later readers can judge it")
    );
}

#[test]
fn the_owner_cannot_approve_their_own_exception() {
    let text = edit("approved-by", r#"approved-by = "Team-Web""#);
    assert_eq!(
        problems(&text),
        vec!["wharf.policy.toml:11:15: exception EXC-0007 is approved by its own owner `Team-Web`"]
    );
    assert_eq!(
        hints(&text)[0].as_deref(),
        Some(
            "an exception needs a second person: set `approved-by` to someone other than the owner"
        )
    );
}

#[test]
fn the_approver_must_be_on_the_list_when_there_is_one() {
    let text = edit("approved-by", r#"approved-by = "intern""#);
    assert_eq!(
        problems(&text),
        vec![
            "wharf.policy.toml:11:15: exception EXC-0007 is approved by `intern`, who is not in \
             [exceptions] approvers"
        ]
    );
    assert_eq!(
        hints(&text)[0].as_deref(),
        Some("approvers are: sec-lead, cto")
    );
    // Without a list anyone but the owner may approve.
    let open = text.replace(r#"approvers = ["sec-lead", "cto"]"#, "");
    assert_eq!(policy(&open).exceptions[0].approved_by, "intern");
}

#[test]
fn expires_must_be_after_created() {
    for expires in ["2026-10-01", "2026-11-01"] {
        assert_eq!(
            problems(&edit("expires", &format!("expires = {expires}"))),
            vec![format!(
                "wharf.policy.toml:13:11: exception EXC-0007 expires on {expires}, not after it \
                 was created (2026-11-01)"
            )]
        );
    }
}

#[test]
fn an_exception_may_not_outlast_max_days() {
    let text = edit("expires", "expires = 2027-02-15");
    assert_eq!(
        problems(&text),
        vec![
            "wharf.policy.toml:13:11: exception EXC-0007 lasts 106 days (2026-11-01 to \
             2027-02-15), more than max-days = 90"
        ]
    );
    assert_eq!(
        hints(&text)[0].as_deref(),
        Some(
            "let it expire at most 90 days after `created` and renew it then, or raise \
             [exceptions] max-days"
        )
    );
    // Exactly max-days is fine; a smaller max-days applies.
    policy(&edit("expires", "expires = 2027-01-30"));
    let short = text
        .replace("[exceptions]\n", "[exceptions]\nmax-days = 30\n")
        .replace("2027-02-15", "2026-12-15");
    assert_eq!(
        problems(&short),
        vec![
            "wharf.policy.toml:14:11: exception EXC-0007 lasts 44 days (2026-11-01 to \
             2026-12-15), more than max-days = 30"
        ]
    );
}

#[test]
fn an_unknown_kind_is_refused() {
    let text = edit("kind", r#"kind = "vuln""#);
    assert_eq!(
        problems(&text),
        vec!["wharf.policy.toml:6:8: exception EXC-0007 has unknown kind `vuln`"]
    );
    assert_eq!(
        hints(&text)[0].as_deref(),
        Some("kind is one of: vulnerability, license, setting")
    );
}

#[test]
fn a_field_of_another_kind_is_refused() {
    let text = format!("{BASE}license = \"MIT\"\nsetting = \"workspace.shared\"\n");
    assert_eq!(
        problems(&text),
        vec![
            "wharf.policy.toml:15:1: `license` does not belong to a vulnerability exception \
             (EXC-0007)",
            "wharf.policy.toml:16:1: `setting` does not belong to a vulnerability exception \
             (EXC-0007)",
        ]
    );
    assert_eq!(
        hints(&text)[0].as_deref(),
        Some("`license` is for license exceptions; remove it")
    );
    let setting = r#"
[[exception]]
id = "EXC-1"
kind = "setting"
setting = "registry.plain-http"
package = "flask"
reason = "lab registry on 127.0.0.1 only"
owner = "ops"
approved-by = "sec-lead"
created = 2026-12-01
expires = 2026-12-15
"#;
    assert_eq!(
        problems(setting),
        vec!["wharf.policy.toml:6:1: `package` does not belong to a setting exception (EXC-1)"]
    );
}

#[test]
fn duplicate_ids_are_refused_pointing_at_the_first() {
    let second = BASE.split_once("[[exception]]").unwrap().1;
    let text = format!("{BASE}\n[[exception]]{second}");
    assert_eq!(
        problems(&text),
        vec![
            "wharf.policy.toml:17:6: exception id `EXC-0007` is used twice (first at \
             wharf.policy.toml:5:6)"
        ]
    );
}

#[test]
fn unknown_spdx_ids_in_allow_are_refused_with_a_suggestion() {
    let text = "[licenses]\nallow = [\"MIT\", \"apache-2.0\", \"Apache 2.0\", \"Frobnitz-1.0\", \"NOASSERTION\"]\n";
    assert_eq!(
        problems(text),
        vec![
            "wharf.policy.toml:2:17: `apache-2.0` is not an SPDX licence identifier",
            "wharf.policy.toml:2:31: `Apache 2.0` is not an SPDX licence identifier",
            "wharf.policy.toml:2:45: `Frobnitz-1.0` is not an SPDX licence identifier",
            "wharf.policy.toml:2:61: `allow` = \"NOASSERTION\": is not a licence",
        ]
    );
    assert_eq!(
        hints(text),
        vec![
            Some("did you mean `Apache-2.0`?".to_string()),
            Some("did you mean `Apache-2.0`?".to_string()),
            Some(
                "use an identifier from https://spdx.org/licenses/ (or a LicenseRef-…), one per \
                 entry"
                    .to_string()
            ),
            Some(
                "to let packages without a known licence pass, set `unknown = \"allow\"`"
                    .to_string()
            ),
        ]
    );
}

#[test]
fn unknown_severities_are_refused() {
    let text = "[vulnerabilities]\nfail-on = [\"critical\", \"severe\"]\n";
    assert_eq!(
        problems(text),
        vec!["wharf.policy.toml:2:24: unknown severity `severe`"]
    );
    assert_eq!(
        hints(text)[0].as_deref(),
        Some("severities are: critical, high, medium, low, unknown")
    );
}

#[test]
fn unknown_keys_are_refused_everywhere_with_a_suggestion() {
    let text = format!(
        "schema_version = 1\n[vulnerabilities]\nfail_on = [\"high\"]\n{}approvd-by = \"cto\"\n",
        BASE.replace("[exceptions]\n", "[exceptions]\nmax-dayz = 9\n")
    );
    assert_eq!(
        problems(&text),
        vec![
            "wharf.policy.toml:1:1: unknown key `schema_version` in the policy file",
            "wharf.policy.toml:3:1: unknown key `fail_on` in [vulnerabilities]",
            "wharf.policy.toml:5:1: unknown key `max-dayz` in [exceptions]",
            "wharf.policy.toml:19:1: unknown key `approvd-by` in exception EXC-0007",
        ]
    );
    assert_eq!(
        hints(&text),
        vec![
            Some("expected one of: exceptions, vulnerabilities, licenses, exception".to_string()),
            Some("did you mean `fail-on`?".to_string()),
            Some("did you mean `max-days`?".to_string()),
            Some("did you mean `approved-by`?".to_string()),
        ]
    );
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let text = edit("kind", r#"kind = "vuln""#)
        .replace(
            r#"reason = "the debugger is never enabled in production images""#,
            r#"reason = """#,
        )
        .replace(r#"approved-by = "sec-lead""#, r#"approved-by = "team-web""#)
        .replace("expires = 2027-01-15", "expires = 2026-10-01");
    assert_eq!(
        problems(&text),
        vec![
            "wharf.policy.toml:6:8: exception EXC-0007 has unknown kind `vuln`",
            "wharf.policy.toml:9:10: exception EXC-0007 has an empty `reason`",
            "wharf.policy.toml:11:15: exception EXC-0007 is approved by its own owner `team-web`",
            "wharf.policy.toml:13:11: exception EXC-0007 expires on 2026-10-01, not after it was \
             created (2026-11-01)",
        ]
    );
    // The error's own message lists them all, with hints.
    let err = Policy::parse("wharf.policy.toml", &text).unwrap_err();
    let message = err.to_string();
    assert_eq!(message.lines().count(), 8, "{message}");
    assert!(message.starts_with(
        "wharf.policy.toml:6:8: exception EXC-0007 has unknown kind `vuln`\n  hint: kind is one \
         of: vulnerability, license, setting\n"
    ));
}

#[test]
fn dates_must_be_plain_toml_dates() {
    assert_eq!(
        problems(&edit("created", r#"created = "2026-11-01""#)),
        vec![
            "wharf.policy.toml:12:11: `created` must be a date like 2027-01-31, not the string \
             \"2026-11-01\""
        ]
    );
    assert_eq!(
        problems(&edit("expires", "expires = 2027-01-15T10:00:00Z")),
        vec![
            "wharf.policy.toml:13:11: `expires` must be a date like 2027-01-31, not \
             2027-01-15T10:00:00Z"
        ]
    );
}

#[test]
fn syntax_errors_are_located() {
    let text = "[exceptions]\nmax-days = \n";
    let p = problems(text);
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("wharf.policy.toml:2:12: invalid TOML: "),
        "{}",
        p[0]
    );
    assert_eq!(
        problems("a = 1\na = 2\n"),
        vec!["wharf.policy.toml:2:1: invalid TOML: duplicate key"]
    );
}

#[test]
fn wrong_types_and_values_are_refused() {
    assert_eq!(
        problems("[exceptions]\nmax-days = \"90\"\nwarn-days = -1\napprovers = \"cto\"\n"),
        vec![
            "wharf.policy.toml:2:12: `max-days` must be an integer, not string",
            "wharf.policy.toml:3:13: `warn-days` = -1: must be a whole number of days from 0 to \
             36500",
            "wharf.policy.toml:4:13: `approvers` must be an array of strings, not string",
        ]
    );
    assert_eq!(
        problems("[exception]\nid = \"x\"\n"),
        vec![
            "wharf.policy.toml:1:1: `exception` must be an array of tables ([[exception]]), not table"
        ]
    );
    assert_eq!(
        problems("[licenses]\nunknown = \"warn\"\n"),
        vec!["wharf.policy.toml:2:11: `unknown` = \"warn\": must be \"fail\" or \"allow\""]
    );
    let text = edit("package", r#"package = "pkg:pypi/""#);
    assert_eq!(
        problems(&text),
        vec![
            "wharf.policy.toml:8:11: `package` = \"pkg:pypi/\": not a valid package URL \
             (expected pkg:type/name@version)"
        ]
    );
}

#[test]
fn licence_and_setting_exceptions_are_checked() {
    let license = r#"[licenses]
allow = ["MIT"]

[[exception]]
id = "EXC-0008"
kind = "license"
license = "MPL2"
reason = "unmodified, file-level copyleft; legal ok 2026-10"
owner = "team-web"
approved-by = "cto"
created = 2026-10-20
expires = 2027-01-15
"#;
    assert_eq!(
        problems(license),
        vec![
            "wharf.policy.toml:4:1: exception EXC-0008 has no `package`",
            "wharf.policy.toml:7:11: `MPL2` is not an SPDX licence identifier",
        ]
    );
    let fixed = license.replace(
        "license = \"MPL2\"",
        "license = \"MPL-2.0\"\npackage = \"pkg:pypi/certifi@2024.8.30\"",
    );
    let p = policy(&fixed);
    assert!(
        matches!(&p.exceptions[0].covers, Covers::License { license, package }
        if license.as_str() == "MPL-2.0" && package.as_str() == "pkg:pypi/certifi@2024.8.30")
    );
    // Without [licenses] a licence exception would have no effect.
    let unchecked = fixed.replace("[licenses]\nallow = [\"MIT\"]\n", "");
    assert_eq!(
        problems(&unchecked),
        vec![
            "wharf.policy.toml:4:8: exception EXC-0008 is a licence exception, but the policy \
             has no [licenses] table"
        ]
    );

    let setting = r#"[[exception]]
id = "EXC-0009"
kind = "setting"
setting = "registry.insecure_http"
reason = "lab registry on 127.0.0.1 only"
owner = "ops"
approved-by = "sec-lead"
created = 2026-12-01
expires = 2026-12-15
"#;
    assert_eq!(
        problems(setting),
        vec![
            "wharf.policy.toml:4:11: exception EXC-0009 names unknown setting `registry.insecure_http`"
        ]
    );
    assert_eq!(
        hints(setting)[0].as_deref(),
        Some(
            "settings are: registry.plain-http, secrets.pull-requests, workspace.shared, \
             environment.production-without-approval"
        )
    );
}

#[test]
fn problems_are_typed_values() {
    let Err(Error::Policy { file, problems }) = Policy::parse(
        "p.toml",
        &edit("approved-by", r#"approved-by = "team-web""#),
    ) else {
        panic!("expected problems");
    };
    assert_eq!(file, "p.toml");
    assert_eq!(
        problems[0].kind,
        ProblemKind::ApproverIsOwner {
            exception: "EXC-0007".into(),
            person: "team-web".into()
        }
    );
    assert_eq!(problems[0].location.line, 11);
}

#[test]
fn read_names_the_missing_file() {
    let err = Policy::read(std::path::Path::new("/nonexistent/wharf.policy.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("reading the policy file /nonexistent/wharf.policy.toml: "),
        "{err}"
    );
}
