//! The `on:` section: which events start a pipeline.
//!
//! Globs are compiled once, at validation, so matching an event is cheap and cannot fail.
//! `*` does not cross `/` (so `release/*` does not match `release/a/b`), `**` does.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde_saphyr::Spanned;
use wharf_model::{Event, EventKind};

use crate::file::{OnFile, TriggerStatus};
use crate::inputs::{Input, inputs_from_file};
use crate::reporter::Reporter;

/// A list of globs, compiled.
#[derive(Debug, Clone)]
pub struct Globs {
    patterns: Vec<String>,
    set: GlobSet,
}

impl Globs {
    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether `text` matches any pattern.
    pub fn is_match(&self, text: &str) -> bool {
        self.set.is_match(text)
    }

    /// Compiles `patterns`; `None` only if the default pattern failed, which cannot happen.
    fn new(patterns: &[&str]) -> Option<Globs> {
        let mut builder = GlobSetBuilder::new();
        for p in patterns {
            builder.add(compile(p).ok()?);
        }
        Some(Globs {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            set: builder.build().ok()?,
        })
    }

    /// Every pattern, `**` when no list was given.
    fn everything() -> Globs {
        Globs::new(&["**"]).unwrap_or_else(|| Globs {
            patterns: Vec::new(),
            set: GlobSet::empty(),
        })
    }
}

/// Compiles one glob with wharf's rules (`*` stops at `/`).
pub(crate) fn compile(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

/// Compiles a list of globs, reporting each bad one at its position.
pub(crate) fn globs_from_file(r: &mut Reporter, list: &[Spanned<String>]) -> Option<Globs> {
    let mut ok = true;
    for p in list {
        if let Err(e) = compile(&p.value) {
            ok = false;
            let d = r
                .at(r.span(p), format!("invalid glob `{}`", p.value))
                .with_label(e.kind().to_string())
                .with_hint("globs use `*` (within one path segment), `**` (across `/`), `?`, `[abc]` and `{a,b}`");
            r.push(d);
        }
    }
    let patterns: Vec<&str> = list.iter().map(|p| p.value.as_str()).collect();
    if ok { Globs::new(&patterns) } else { None }
}

/// `on.push`.
#[derive(Debug, Clone)]
pub struct PushTrigger {
    /// Branch globs.
    pub branches: Globs,
    /// Path globs, if the trigger filters on changed files.
    pub paths: Option<Globs>,
}

/// `on.pull_request`.
#[derive(Debug, Clone)]
pub struct PullRequestTrigger {
    /// Target branch globs.
    pub branches: Globs,
    /// Whether pull request runs may read secrets.
    pub secrets: bool,
}

/// `on.pipeline`.
#[derive(Debug, Clone)]
pub struct PipelineTrigger {
    /// The upstream pipeline's name.
    pub name: String,
    /// Which of its outcomes starts this pipeline.
    pub status: TriggerStatus,
}

/// The validated `on:` section.
#[derive(Debug, Clone, Default)]
pub struct Triggers {
    /// `on.push`.
    pub push: Option<PushTrigger>,
    /// `on.tag`: tag globs.
    pub tag: Option<Globs>,
    /// `on.pull_request`.
    pub pull_request: Option<PullRequestTrigger>,
    /// `on.schedule`: cron expressions (5 fields, UTC).
    pub schedule: Vec<String>,
    /// `on.manual`: `Some` when manual runs are allowed, with their inputs.
    pub manual: Option<Vec<Input>>,
    /// `on.pipeline`.
    pub pipeline: Option<PipelineTrigger>,
}

impl Triggers {
    /// For a push event with changed files, the `on.push.paths` patterns and the changed
    /// files they match (none: the paths filter keeps the pipeline from starting); `None`
    /// when no paths filter applies.
    pub fn paths_verdict(&self, event: &Event) -> Option<(Vec<String>, Vec<String>)> {
        if event.kind != EventKind::Push {
            return None;
        }
        let globs = self.push.as_ref()?.paths.as_ref()?;
        let changed = event.changed_paths.as_ref()?;
        let hits = changed
            .iter()
            .filter(|f| globs.is_match(f))
            .cloned()
            .collect();
        Some((globs.patterns().to_vec(), hits))
    }

    /// Whether `event` starts the pipeline.
    pub fn matches(&self, event: &Event) -> bool {
        match event.kind {
            EventKind::Push => self.push.as_ref().is_some_and(|p| {
                branch_matches(&p.branches, event.branch.as_deref())
                    && match (&p.paths, &event.changed_paths) {
                        (Some(globs), Some(changed)) => changed.iter().any(|f| globs.is_match(f)),
                        _ => true,
                    }
            }),
            EventKind::Tag => self
                .tag
                .as_ref()
                .is_some_and(|g| event.tag.as_deref().is_some_and(|t| g.is_match(t))),
            EventKind::PullRequest => self
                .pull_request
                .as_ref()
                .is_some_and(|p| branch_matches(&p.branches, event.branch.as_deref())),
            EventKind::Schedule => match &event.schedule {
                Some(cron) => self.schedule.iter().any(|c| c == cron),
                None => !self.schedule.is_empty(),
            },
            EventKind::Manual => self.manual.is_some(),
            EventKind::Pipeline => match (&self.pipeline, &event.upstream) {
                (Some(p), Some(up)) => {
                    p.name == up.pipeline
                        && match p.status {
                            TriggerStatus::Success => up.success,
                            TriggerStatus::Failure => !up.success,
                            TriggerStatus::Any => true,
                        }
                }
                (Some(_), None) => true,
                (None, _) => false,
            },
        }
    }
}

/// An event without a branch matches only an unfiltered (`**`) branch list.
fn branch_matches(globs: &Globs, branch: Option<&str>) -> bool {
    match branch {
        Some(b) => globs.is_match(b),
        None => globs.patterns() == ["**"],
    }
}

/// Validates `on:`: globs, cron expressions and inputs.
pub(crate) fn triggers_from_file(r: &mut Reporter, on: &OnFile) -> Triggers {
    let mut t = Triggers::default();
    if on.push.present {
        let push = on.push.value.as_ref();
        let branches = push.and_then(|p| p.branches.as_deref());
        let paths = push.and_then(|p| p.paths.as_deref());
        t.push = Some(PushTrigger {
            branches: branches
                .map_or_else(|| Some(Globs::everything()), |b| globs_from_file(r, b))
                .unwrap_or_else(Globs::everything),
            paths: paths.and_then(|p| globs_from_file(r, p)),
        });
    }
    if let Some(tags) = &on.tag {
        t.tag = globs_from_file(r, tags);
    }
    if on.pull_request.present {
        let pr = on.pull_request.value.as_ref();
        let branches = pr.and_then(|p| p.branches.as_deref());
        t.pull_request = Some(PullRequestTrigger {
            branches: branches
                .map_or_else(|| Some(Globs::everything()), |b| globs_from_file(r, b))
                .unwrap_or_else(Globs::everything),
            secrets: pr.and_then(|p| p.secrets.as_ref()).is_some_and(|s| s.value),
        });
    }
    for cron in on.schedule.iter().flatten() {
        if check_cron(r, cron) {
            t.schedule.push(cron.value.trim().to_string());
        }
    }
    if on.manual.present {
        t.manual = Some(match &on.manual.value {
            Some(m) => inputs_from_file(r, &m.inputs),
            None => Vec::new(),
        });
    }
    if let Some(p) = &on.pipeline {
        t.pipeline = Some(PipelineTrigger {
            name: p.name.value.clone(),
            status: p.status.unwrap_or(TriggerStatus::Success),
        });
    }
    t
}

/// The latest time a (valid) `on.schedule` entry fires at or before `now_ms`, in
/// milliseconds since the epoch, UTC; `None` for an entry that does not parse. A server
/// fires an entry once when this is later than the tick it fired last, so the ticks missed
/// while it was down become one run, not one per tick.
pub fn last_tick(cron: &str, now_ms: i64) -> Option<i64> {
    let parsed = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(cron)
        .ok()?;
    let now = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now_ms)?;
    let tick = parsed.find_previous_occurrence(&now, true).ok()?;
    Some(tick.timestamp_millis())
}

pub(crate) fn check_cron(r: &mut Reporter, cron: &Spanned<String>) -> bool {
    let fields = cron.value.split_whitespace().count();
    let problem = if fields != 5 {
        Some(format!("expected 5 fields, found {fields}"))
    } else {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(&cron.value)
            .err()
            .map(|e| e.to_string())
    };
    match problem {
        None => true,
        Some(label) => {
            let d = r
                .at(r.span(cron), format!("invalid cron schedule `{}`", cron.value))
                .with_label(label)
                .with_hint("use 5 fields, in UTC: minute hour day-of-month month day-of-week, e.g. `0 3 * * 1`");
            r.push(d);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_tick_is_the_latest_firing_at_or_before_now() {
        // 2026-12-06T14:37:30Z
        let now = 1_796_567_850_000;
        assert_eq!(last_tick("*/15 * * * *", now), Some(1_796_567_400_000)); // 14:30
        assert_eq!(last_tick("0 3 * * *", now), Some(1_796_526_000_000)); // 03:00
        assert_eq!(last_tick("not cron", now), None);
    }

    #[test]
    fn a_fired_schedule_or_an_ended_run_starts_only_the_pipelines_naming_it() {
        let mut t = Triggers {
            schedule: vec!["0 3 * * *".into()],
            ..Default::default()
        };
        let mut e = Event::new(EventKind::Schedule);
        assert!(
            t.matches(&e),
            "`wharf run --event schedule` runs every scheduled pipeline"
        );
        e.schedule = Some("0 3 * * *".into());
        assert!(t.matches(&e));
        e.schedule = Some("0 4 * * *".into());
        assert!(!t.matches(&e));
        t.pipeline = Some(PipelineTrigger {
            name: "build".into(),
            status: TriggerStatus::Failure,
        });
        let mut e = Event::new(EventKind::Pipeline);
        assert!(t.matches(&e));
        e.upstream = Some(Box::new(wharf_model::Upstream {
            pipeline: "build".into(),
            run: 3,
            success: false,
            chain: vec!["build".into()],
        }));
        assert!(t.matches(&e));
        e.upstream.as_mut().unwrap().success = true;
        assert!(!t.matches(&e), "on failure only");
        e.upstream = Some(Box::new(wharf_model::Upstream {
            pipeline: "other".into(),
            run: 3,
            success: false,
            chain: vec!["other".into()],
        }));
        assert!(!t.matches(&e), "another pipeline");
    }

    fn globs(p: &[&str]) -> Globs {
        Globs::new(p).expect("valid globs")
    }

    fn push(branch: &str) -> Event {
        let mut e = Event::new(EventKind::Push);
        e.branch = Some(branch.to_string());
        e
    }

    #[test]
    fn star_does_not_cross_slashes() {
        let g = globs(&["release/*"]);
        assert!(g.is_match("release/1.0"));
        assert!(!g.is_match("release/1.0/hotfix"));
        assert!(globs(&["release/**"]).is_match("release/1.0/hotfix"));
        assert!(globs(&["**"]).is_match("feature/x/y"));
    }

    #[test]
    fn push_branches_and_paths() {
        let t = Triggers {
            push: Some(PushTrigger {
                branches: globs(&["main", "release/*"]),
                paths: Some(globs(&["src/**"])),
            }),
            ..Triggers::default()
        };
        assert!(t.matches(&push("main")));
        assert!(t.matches(&push("release/2")));
        assert!(!t.matches(&push("feature/x")));
        let mut e = push("main");
        e.changed_paths = Some(vec!["docs/readme.md".into()]);
        assert!(!t.matches(&e));
        e.changed_paths = Some(vec!["docs/readme.md".into(), "src/a/b.rs".into()]);
        assert!(t.matches(&e));
        assert!(!t.matches(&Event::new(EventKind::Tag)));
        assert!(
            !t.matches(&Event::new(EventKind::Push)),
            "no branch, filtered list"
        );
    }

    #[test]
    fn tags_pull_requests_and_the_rest() {
        let t = Triggers {
            tag: Some(globs(&["v*"])),
            pull_request: Some(PullRequestTrigger {
                branches: Globs::everything(),
                secrets: false,
            }),
            schedule: vec!["0 3 * * 1".into()],
            ..Triggers::default()
        };
        let mut tag = Event::new(EventKind::Tag);
        tag.tag = Some("v1.2.3".into());
        assert!(t.matches(&tag));
        tag.tag = Some("release-1".into());
        assert!(!t.matches(&tag));
        assert!(t.matches(&Event::new(EventKind::PullRequest)));
        assert!(t.matches(&Event::new(EventKind::Schedule)));
        assert!(!t.matches(&Event::new(EventKind::Manual)));
        assert!(!t.matches(&Event::new(EventKind::Pipeline)));
        assert!(!t.matches(&push("main")));
    }
}
