//! What the server does with each event of a run as it happens, beside recording it: one
//! place every part that follows runs (metrics, statuses to the forge, live followers)
//! hooks into. Called on the runtime's recorder thread: each hook must be quick and must
//! not block (hand slow work to a task or a queue).

use std::sync::Arc;

use wharf_model::RunEvent;

use crate::app::Shared;

/// Which run an event belongs to.
pub(crate) struct RunContext<'a> {
    /// The project.
    pub project: &'a str,
    /// The run's number in the project's store (0 before `RunStarted`).
    pub run: u64,
    /// What happened: the commit, the ref.
    pub event: &'a wharf_model::Event,
}

/// One event of a run.
pub(crate) fn run_event(s: &Arc<Shared>, ctx: &RunContext<'_>, ev: &RunEvent) {
    s.metrics.observe(ctx, ev);
    s.live.observe(ctx.project, ctx.run, ev);
    crate::statuses::observe(s, ctx, ev);
}
