//! An environment's protection rules as checked before a job deploys to it: which refs
//! may deploy (`branches:`, `tags:`), freeze windows (`freeze:` — cron + duration + time
//! zone, enforced), and the wait timer (`wait:`). Pure functions of the rules, the event and
//! the time, so the local runner and the server decide the same way, and tests choose the
//! clock.

use std::str::FromStr as _;

use wharf_model::{EnvironmentRules, Event, FreezeWindow};

use crate::triggers::compile;

/// Why the run's ref may not deploy to `rules`' environment; `None` when it may.
pub fn ref_refused(rules: &EnvironmentRules, event: &Event) -> Option<String> {
    refs_refused(
        rules,
        event.tag.as_deref(),
        event.branch.as_deref(),
        "this run",
    )
}

/// Why a release tagged `tag` may not be deployed to `rules`' environment (`wharf
/// deploy`); `None` when it may.
pub fn release_refused(rules: &EnvironmentRules, version: &str, tag: &str) -> Option<String> {
    refs_refused(rules, Some(tag), None, &format!("release {version}"))
}

fn refs_refused(
    rules: &EnvironmentRules,
    tag: Option<&str>,
    branch: Option<&str>,
    subject: &str,
) -> Option<String> {
    if rules.branches.is_empty() && rules.tags.is_empty() {
        return None;
    }
    let matches = |globs: &[String], text: &str| {
        globs
            .iter()
            .filter_map(|g| compile(g).ok())
            .any(|g| g.compile_matcher().is_match(text))
    };
    let (what, allowed) = match (tag, branch) {
        (Some(tag), _) => (format!("tag `{tag}`"), matches(&rules.tags, tag)),
        (None, Some(branch)) => (
            format!("branch `{branch}`"),
            matches(&rules.branches, branch),
        ),
        (None, None) => ("no branch or tag".to_string(), false),
    };
    if allowed {
        return None;
    }
    let mut takes = Vec::new();
    if !rules.branches.is_empty() {
        takes.push(format!("branches {}", rules.branches.join(", ")));
    }
    if !rules.tags.is_empty() {
        takes.push(format!("tags {}", rules.tags.join(", ")));
    }
    Some(format!(
        "environment `{}` ({}) takes {}; {subject} is for {what}",
        rules.name,
        rules.at,
        takes.join(" and ")
    ))
}

/// A freeze window that holds at `now_ms`: which one, and until when (milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    /// The window, as declared.
    pub window: FreezeWindow,
    /// When it started.
    pub from_ms: i64,
    /// When it ends.
    pub until_ms: i64,
}

impl Frozen {
    /// The reason a gate gives: the window and its end in its own time zone.
    pub fn reason(&self, rules: &EnvironmentRules) -> String {
        let tz = chrono_tz::Tz::from_str(&self.window.timezone).unwrap_or(chrono_tz::UTC);
        let until = chrono::DateTime::from_timestamp_millis(self.until_ms)
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
            .unwrap_or_default();
        format!(
            "environment `{}` ({}) is frozen until {until} (freeze `{}` for {} in {})",
            rules.name,
            rules.at,
            self.window.cron,
            human_ms(self.window.duration_ms),
            self.window.timezone
        )
    }
}

/// The freeze window of `rules` that holds at `now_ms`, the one ending last when several do.
pub fn frozen(rules: &EnvironmentRules, now_ms: i64) -> Option<Frozen> {
    rules
        .freeze
        .iter()
        .filter_map(|w| {
            let from = window_start(w, now_ms)?;
            let until = from.saturating_add(i64::try_from(w.duration_ms).ok()?);
            (now_ms < until).then(|| Frozen {
                window: w.clone(),
                from_ms: from,
                until_ms: until,
            })
        })
        .max_by_key(|f| f.until_ms)
}

/// When the latest window of `w` that started at or before `now_ms` started.
fn window_start(w: &FreezeWindow, now_ms: i64) -> Option<i64> {
    let cron = parse_cron(&w.cron).ok()?;
    let tz = chrono_tz::Tz::from_str(&w.timezone).ok()?;
    let now = chrono::DateTime::from_timestamp_millis(now_ms)?.with_timezone(&tz);
    let start = cron.find_previous_occurrence(&now, true).ok()?;
    Some(start.timestamp_millis())
}

/// Parses a 5-field cron expression.
pub(crate) fn parse_cron(text: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(text)
}

/// Whether `name` is a time zone wharf knows (IANA names such as `Europe/Berlin`, `UTC`).
pub(crate) fn known_timezone(name: &str) -> bool {
    chrono_tz::Tz::from_str(name).is_ok()
}

/// `90061000` as `1d 1h 1m 1s`, the largest units only.
pub fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    let parts = [
        (s / 86400, "d"),
        ((s / 3600) % 24, "h"),
        ((s / 60) % 60, "m"),
        (s % 60, "s"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if text.is_empty() {
        format!("{ms}ms")
    } else {
        text.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> EnvironmentRules {
        EnvironmentRules {
            name: "production".into(),
            at: "wharf.yml:9:3".into(),
            branches: vec!["main".into(), "release/*".into()],
            tags: vec!["v*".into()],
            freeze: vec![],
            wait_ms: None,
            approvals: 0,
            self_approval: false,
            deploy: None,
        }
    }

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn refs_must_match_their_kind_of_glob() {
        let r = rules();
        let mut e = Event::new(wharf_model::EventKind::Push);
        e.branch = Some("main".into());
        assert_eq!(ref_refused(&r, &e), None);
        e.branch = Some("release/2.x".into());
        assert_eq!(ref_refused(&r, &e), None);
        e.branch = Some("release/2.x/hotfix".into());
        assert!(ref_refused(&r, &e).is_some(), "`*` stops at `/`");
        e.branch = Some("feature/x".into());
        assert_eq!(
            ref_refused(&r, &e).unwrap(),
            "environment `production` (wharf.yml:9:3) takes branches main, release/* and tags v*; this run is for branch `feature/x`"
        );
        let mut t = Event::new(wharf_model::EventKind::Tag);
        t.tag = Some("v1.2.0".into());
        assert_eq!(ref_refused(&r, &t), None);
        t.tag = Some("main".into());
        assert!(
            ref_refused(&r, &t).is_some(),
            "a tag named like a branch is a tag"
        );
        let open = EnvironmentRules {
            branches: vec![],
            tags: vec![],
            ..rules()
        };
        assert_eq!(ref_refused(&open, &e), None);
    }

    #[test]
    fn a_freeze_holds_from_its_cron_for_its_duration() {
        let r = EnvironmentRules {
            freeze: vec![FreezeWindow {
                cron: "0 18 * * FRI".into(),
                duration_ms: 62 * 3600 * 1000,
                timezone: "Europe/Berlin".into(),
            }],
            ..rules()
        };
        // Friday 2026-12-04 18:00 in Berlin is 17:00 UTC; 62 h later is Monday 08:00 Berlin.
        assert_eq!(frozen(&r, ms("2026-12-04T16:59:59Z")), None);
        let f = frozen(&r, ms("2026-12-04T17:00:00Z")).unwrap();
        assert_eq!(f.from_ms, ms("2026-12-04T17:00:00Z"));
        assert_eq!(f.until_ms, ms("2026-12-07T07:00:00Z"));
        assert!(frozen(&r, ms("2026-12-07T06:59:59Z")).is_some());
        assert_eq!(frozen(&r, ms("2026-12-07T07:00:00Z")), None);
        assert_eq!(
            f.reason(&r),
            "environment `production` (wharf.yml:9:3) is frozen until 2026-12-07 08:00 CET (freeze `0 18 * * FRI` for 2d 14h in Europe/Berlin)"
        );
    }

    #[test]
    fn a_freeze_follows_its_time_zone_across_daylight_saving() {
        // Every day 01:30-03:30 New York time. On 2026-03-08 clocks go from 02:00 to 03:00
        // (EST -> EDT): the window starts at 01:30 EST (06:30 UTC) and lasts 2 h by the
        // clock on the wall of UTC, so it ends 08:30 UTC (04:30 EDT).
        let r = EnvironmentRules {
            freeze: vec![FreezeWindow {
                cron: "30 1 * * *".into(),
                duration_ms: 2 * 3600 * 1000,
                timezone: "America/New_York".into(),
            }],
            ..rules()
        };
        let f = frozen(&r, ms("2026-03-08T07:00:00Z")).unwrap();
        assert_eq!(f.from_ms, ms("2026-03-08T06:30:00Z"));
        assert_eq!(f.until_ms, ms("2026-03-08T08:30:00Z"));
        // The day after, EDT: 01:30 local is 05:30 UTC.
        let f = frozen(&r, ms("2026-03-09T05:45:00Z")).unwrap();
        assert_eq!(f.from_ms, ms("2026-03-09T05:30:00Z"));
        assert_eq!(frozen(&r, ms("2026-03-09T05:29:00Z")), None);
        // In November (EDT -> EST at 02:00), 01:30 happens twice; the window starts at the
        // first (05:30 UTC) and a time in it is frozen.
        assert!(frozen(&r, ms("2026-11-01T05:40:00Z")).is_some());
    }

    #[test]
    fn durations_read_in_the_largest_units() {
        assert_eq!(human_ms(62 * 3600 * 1000), "2d 14h");
        assert_eq!(human_ms(90_000), "1m 30s");
        assert_eq!(human_ms(500), "500ms");
    }
}
