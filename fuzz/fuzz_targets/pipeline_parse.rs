//! Fuzzes the pipeline parser: any UTF-8 text must give a pipeline or diagnostics that
//! render, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match wharf_pipeline::parse("fuzz.yml", text) {
        Ok(pipeline) => {
            let event = wharf_model_event();
            if let Ok(plan) = pipeline.plan(&event, &[]) {
                let _ = wharf_pipeline::graph::text(&plan);
            }
        }
        Err(diagnostics) => {
            let _ = diagnostics.render(false);
            let _ = diagnostics.render(true);
        }
    }
});

fn wharf_model_event() -> wharf_model::Event {
    let mut event = wharf_model::Event::new(wharf_model::EventKind::Push);
    event.branch = Some("main".into());
    event
}
