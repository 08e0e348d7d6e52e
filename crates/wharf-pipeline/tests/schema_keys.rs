//! DESIGN.md rule 13: every key the schema accepts has an effect, or `validate` refuses it.
//!
//! A key that is parsed and then ignored lies to the user (it happened with `image:`,
//! `cache:` and the deployment rules under `environments:`). This test walks the JSON
//! Schema that `wharf schema` publishes (derived from the parser's types, so it is exactly
//! what the parser accepts) and holds every key path it finds against [`KEYS`], a table
//! that says for each one why it is there:
//!
//! - [`Proof`]: tests that exercise the key's effect. A `fn name(` string names a
//!   `#[test]` function in `crates/*/{src,tests}`; `NN_name.yml` names a fixture in
//!   `tests/fixtures/pipelines/` that uses the key and plans (`fixtures.rs` checks the plan in
//!   `NN_name.expected.json`), and `NN_name.expected.txt` one that uses the key and is
//!   refused (the key's effect is a diagnostic).
//!   Where the pipeline key and its effect are tested at two layers (the key reaching the
//!   plan, and the plan's field doing its job), both are listed.
//! - [`Refused`]: `validate` refuses the key with "`LABEL` is not supported in this
//!   version"; the entry carries a pipeline that uses it, and the refusal must fire.
//! - [`Under`]: a key inside a refused one, covered by its parent's refusal.
//!
//! Entries marked `GAP:` name the closest test there is, but no test yet exercises that
//! key's effect through a pipeline; each comment says what is missing.
//!
//! The test fails, saying what to do, when the schema gains a key the table lacks, when the
//! table keeps a key the schema lost, when a proof no longer exists, and when a refusal no
//! longer fires.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why a schema key is allowed to exist.
// No key is refused today (the deployment keys were the last); the variants stay for the
// next key the schema learns before wharf can honour it.
#[allow(dead_code)]
enum Key {
    /// Strings that must be found in the repository's tests: `fn a_test(`, a fixture
    /// `NN_name.yml` (valid) or `NN_name.expected.txt` (refused), or any other text that
    /// must occur in a test source.
    Proof(&'static [&'static str]),
    /// `validate` refuses the key: the label it names in "`LABEL` is not supported in this
    /// version", and a complete pipeline file that uses the key.
    Refused(&'static str, &'static str),
    /// A key inside this refused key; the parent's refusal covers it.
    Under(&'static str),
}

use Key::{Proof, Refused, Under};

/// Every key path of the schema: `.` between keys, `*` for any map key, `[]` for a list
/// item. Sorted as the walk sorts them.
const KEYS: &[(&str, Key)] = &[
    // defaults: each lands in the plan of 05_triggers.yml (timeout_ms, shell, working_directory
    // of the jobs that set none), where the engine applies it as it does a job's own value.
    ("defaults", Proof(&["05_triggers.yml"])),
    ("defaults.shell", Proof(&["05_triggers.yml", "fn shells("])),
    (
        "defaults.timeout",
        Proof(&[
            "05_triggers.yml",
            "fn a_timeout_kills_the_whole_process_group(",
        ]),
    ),
    (
        "defaults.working-directory",
        Proof(&["05_triggers.yml", "fn working_directory_and_selected_jobs("]),
    ),
    (
        "env",
        Proof(&["fn a_pipeline_runs_in_dependency_order_with_outputs_and_layered_env("]),
    ),
    // `environments:` names the environments a job's `environment:` may target.
    (
        "environments",
        Proof(&["41_unknown_environment.expected.txt"]),
    ),
    (
        "environments.*.approval",
        Proof(&["fn approvals_count_each_person_once_and_never_the_runs_starter("]),
    ),
    (
        "environments.*.approval.required",
        Proof(&["fn approvals_count_each_person_once_and_never_the_runs_starter("]),
    ),
    (
        "environments.*.approval.self-approval",
        Proof(&["fn approvals_count_each_person_once_and_never_the_runs_starter("]),
    ),
    (
        "environments.*.branches",
        Proof(&["fn a_ref_outside_the_environments_globs_is_refused_with_its_location("]),
    ),
    (
        "environments.*.tags",
        Proof(&["fn a_ref_outside_the_environments_globs_is_refused_with_its_location("]),
    ),
    (
        "environments.*.freeze",
        Proof(&[
            "fn a_freeze_window_refuses_the_deployment_until_it_ends(",
            "fn a_freeze_follows_its_time_zone_across_daylight_saving(",
        ]),
    ),
    (
        "environments.*.freeze[].cron",
        Proof(&["fn a_freeze_holds_from_its_cron_for_its_duration("]),
    ),
    (
        "environments.*.freeze[].duration",
        Proof(&["fn a_freeze_holds_from_its_cron_for_its_duration("]),
    ),
    (
        "environments.*.freeze[].timezone",
        Proof(&["fn a_freeze_follows_its_time_zone_across_daylight_saving("]),
    ),
    (
        "environments.*.wait",
        Proof(&["fn the_wait_timer_is_honoured_before_the_job_starts("]),
    ),
    // The deployment keys: each reaches `wharf deploy` (crates/wharf/tests/cli/deploy.rs
    // with a script target, deploy_docker.rs with the Docker target behind `wharf proxy`);
    // their refusals are in deployment_keys_are_validated_with_their_position.
    (
        "environments.*.target",
        Proof(&[
            "fn a_release_is_promoted_by_its_recorded_digest_and_a_moved_tag_changes_nothing(",
        ]),
    ),
    (
        "environments.*.target.script",
        Proof(&[
            "fn a_release_is_promoted_by_its_recorded_digest_and_a_moved_tag_changes_nothing(",
        ]),
    ),
    (
        "environments.*.target.script.run",
        Proof(&[
            "fn a_release_is_promoted_by_its_recorded_digest_and_a_moved_tag_changes_nothing(",
        ]),
    ),
    (
        "environments.*.target.script.secrets",
        Proof(&[
            "fn a_script_target_gets_its_secrets_after_the_gates_and_its_output_is_masked(",
            "fn a_script_target_missing_a_secret_is_refused_by_name(",
        ]),
    ),
    (
        "environments.*.target.script.timeout",
        Proof(&["fn a_script_target_that_hangs_is_killed_at_its_timeout("]),
    ),
    (
        "environments.*.target.docker",
        Proof(&["fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command("]),
    ),
    (
        "environments.*.target.docker.proxy",
        Proof(&["fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command("]),
    ),
    (
        "environments.*.target.docker.port",
        Proof(&["fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command("]),
    ),
    (
        "environments.*.target.docker.service",
        Proof(&["fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command("]),
    ),
    (
        "environments.*.target.docker.hosts",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.target.docker.image",
        Proof(&["fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command("]),
    ),
    (
        "environments.*.target.docker.env",
        Proof(&["fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command("]),
    ),
    (
        "environments.*.health",
        Proof(&["fn a_release_that_never_gets_healthy_gets_no_traffic("]),
    ),
    (
        "environments.*.health.path",
        Proof(&["fn a_release_that_never_gets_healthy_gets_no_traffic("]),
    ),
    (
        "environments.*.health.timeout",
        Proof(&["fn a_release_that_never_gets_healthy_gets_no_traffic("]),
    ),
    (
        "environments.*.health.interval",
        Proof(&["fn a_release_that_never_gets_healthy_gets_no_traffic("]),
    ),
    (
        "environments.*.health.for",
        Proof(&["fn a_release_that_never_gets_healthy_gets_no_traffic("]),
    ),
    (
        "environments.*.health.url",
        Proof(&["fn a_script_target_is_probed_at_its_health_url_and_rolled_back_by_its_analysis("]),
    ),
    (
        "environments.*.requires",
        Proof(&[
            "fn a_release_is_promoted_by_its_recorded_digest_and_a_moved_tag_changes_nothing(",
        ]),
    ),
    (
        "environments.*.rollback",
        Proof(&["fn a_manual_rollback_policy_pauses_for_resume_or_abort("]),
    ),
    (
        "environments.*.strategy",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.strategy.direct",
        Proof(&["fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command("]),
    ),
    (
        "environments.*.strategy.blue-green",
        Proof(&["fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command("]),
    ),
    (
        "environments.*.strategy.blue-green.pause",
        Proof(&["fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command("]),
    ),
    (
        "environments.*.strategy.blue-green.preview-host",
        Proof(&["fn docker_deploys_switch_with_no_failed_request_and_roll_back_in_one_command("]),
    ),
    (
        "environments.*.strategy.canary",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.strategy.canary.steps",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.strategy.canary.steps[].weight",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.strategy.canary.steps[].pause",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.strategy.canary.sticky",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.strategy.canary.sticky.cookie",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.strategy.canary.sticky.header",
        // The header reaches the proxy as the cookie does (the canary test); the proxy's
        // own test checks a header key's stickiness.
        Proof(&[
            "fn a_sticky_cookie_keeps_each_client_on_one_release(",
            "fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis(",
        ]),
    ),
    (
        "environments.*.analysis",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.analysis[].name",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.analysis[].prometheus",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.analysis[].prometheus.url",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.analysis[].prometheus.query",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.analysis[].http",
        Proof(&["fn a_script_target_is_probed_at_its_health_url_and_rolled_back_by_its_analysis("]),
    ),
    (
        "environments.*.analysis[].http.url",
        Proof(&["fn a_script_target_is_probed_at_its_health_url_and_rolled_back_by_its_analysis("]),
    ),
    (
        "environments.*.analysis[].http.json-path",
        Proof(&["fn a_script_target_is_probed_at_its_health_url_and_rolled_back_by_its_analysis("]),
    ),
    // The analysis and the step share one conversion (`load_test_spec`, then
    // `LoadSpec::of_step`): keys the deploy test does not set are proved by the step's.
    (
        "environments.*.analysis[].load-test",
        Proof(&["fn a_load_test_on_the_preview_decides_a_blue_green_promotion("]),
    ),
    (
        "environments.*.analysis[].load-test.url",
        Proof(&["fn a_load_test_on_the_preview_decides_a_blue_green_promotion("]),
    ),
    (
        "environments.*.analysis[].load-test.headers",
        Proof(&["fn a_load_test_on_the_preview_decides_a_blue_green_promotion("]),
    ),
    (
        "environments.*.analysis[].load-test.connections",
        Proof(&["fn a_load_test_on_the_preview_decides_a_blue_green_promotion("]),
    ),
    (
        "environments.*.analysis[].load-test.duration",
        Proof(&["fn a_load_test_on_the_preview_decides_a_blue_green_promotion("]),
    ),
    (
        "environments.*.analysis[].load-test.thresholds",
        Proof(&["fn a_load_test_on_the_preview_decides_a_blue_green_promotion("]),
    ),
    (
        "environments.*.analysis[].load-test.thresholds.p99",
        Proof(&["fn a_load_test_on_the_preview_decides_a_blue_green_promotion("]),
    ),
    (
        "environments.*.analysis[].load-test.thresholds.error-rate",
        Proof(&["fn a_load_test_on_the_preview_decides_a_blue_green_promotion("]),
    ),
    (
        "environments.*.analysis[].load-test.thresholds.throughput",
        Proof(&["fn a_load_test_on_the_preview_decides_a_blue_green_promotion("]),
    ),
    (
        "environments.*.analysis[].load-test.rate",
        Proof(&[
            "fn a_load_test_on_the_preview_decides_a_blue_green_promotion(",
            "fn a_missed_threshold_fails_the_step_naming_it_and_an_open_loop_counts_from_the_schedule(",
        ]),
    ),
    (
        "environments.*.analysis[].load-test.body",
        Proof(&[
            "fn a_load_test_on_the_preview_decides_a_blue_green_promotion(",
            "fn a_load_meets_its_thresholds_and_its_report_is_kept(",
        ]),
    ),
    (
        "environments.*.analysis[].load-test.method",
        Proof(&[
            "fn a_load_test_on_the_preview_decides_a_blue_green_promotion(",
            "fn a_load_meets_its_thresholds_and_its_report_is_kept(",
        ]),
    ),
    (
        "environments.*.analysis[].load-test.timeout",
        Proof(&[
            "fn a_load_test_on_the_preview_decides_a_blue_green_promotion(",
            "fn a_load_meets_its_thresholds_and_its_report_is_kept(",
        ]),
    ),
    (
        "environments.*.analysis[].load-test.warm-up",
        Proof(&[
            "fn a_load_test_on_the_preview_decides_a_blue_green_promotion(",
            "fn a_load_meets_its_thresholds_and_its_report_is_kept(",
        ]),
    ),
    (
        "environments.*.analysis[].load-test.thresholds.p50",
        Proof(&[
            "fn a_load_test_on_the_preview_decides_a_blue_green_promotion(",
            "fn a_load_meets_its_thresholds_and_its_report_is_kept(",
        ]),
    ),
    (
        "environments.*.analysis[].load-test.thresholds.p90",
        Proof(&[
            "fn a_load_test_on_the_preview_decides_a_blue_green_promotion(",
            "fn a_load_meets_its_thresholds_and_its_report_is_kept(",
        ]),
    ),
    (
        "environments.*.analysis[].load-test.thresholds.p99.9",
        Proof(&[
            "fn a_load_test_on_the_preview_decides_a_blue_green_promotion(",
            "fn a_load_meets_its_thresholds_and_its_report_is_kept(",
        ]),
    ),
    (
        "environments.*.analysis[].load-test.thresholds.max",
        Proof(&[
            "fn a_load_test_on_the_preview_decides_a_blue_green_promotion(",
            "fn a_load_meets_its_thresholds_and_its_report_is_kept(",
        ]),
    ),
    (
        "environments.*.analysis[].script",
        Proof(&["fn a_manual_rollback_policy_pauses_for_resume_or_abort("]),
    ),
    (
        "environments.*.analysis[].interval",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.analysis[].count",
        Proof(&["fn a_script_target_is_probed_at_its_health_url_and_rolled_back_by_its_analysis("]),
    ),
    (
        "environments.*.analysis[].initial-delay",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.analysis[].success",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.analysis[].failure",
        Proof(&["fn a_script_target_is_probed_at_its_health_url_and_rolled_back_by_its_analysis("]),
    ),
    (
        "environments.*.analysis[].failure-limit",
        Proof(&["fn a_canary_splits_by_weight_and_rolls_back_on_failed_prometheus_analysis("]),
    ),
    (
        "environments.*.analysis[].consecutive-error-limit",
        Proof(&["fn no_data_never_promotes_it_pauses_for_resume_or_abort("]),
    ),
    (
        "environments.*.analysis[].timeout",
        Proof(&["fn a_script_target_is_probed_at_its_health_url_and_rolled_back_by_its_analysis("]),
    ),
    (
        "fail-fast",
        Proof(&["fn fail_fast_cancels_running_jobs_unless_disabled("]),
    ),
    (
        "jobs",
        Proof(&["fn a_pipeline_runs_in_dependency_order_with_outputs_and_layered_env("]),
    ),
    (
        "jobs.*.artifacts",
        Proof(&[
            "fn artifacts_are_stored_and_restored_for_jobs_that_need_them_and_reports_counted(",
            "fn missing_artifacts_fail_the_job(",
        ]),
    ),
    (
        "jobs.*.artifacts.paths",
        Proof(&[
            "fn a_failed_test_job_keeps_its_report_and_when_always_artifacts_and_names_the_failed_tests(",
            "fn a_bad_when_or_a_map_without_paths_is_refused_with_a_hint(",
        ]),
    ),
    // `when` decides after which outcome the artifacts are kept: `always` keeps a failed
    // job's log, `on_failure` keeps nothing after a success, `on_success` nothing after a
    // failure.
    (
        "jobs.*.artifacts.when",
        Proof(&[
            "fn a_failed_test_job_keeps_its_report_and_when_always_artifacts_and_names_the_failed_tests(",
            "fn on_failure_artifacts_and_globs_that_match_nothing_after_a_failure(",
            "fn a_bad_when_or_a_map_without_paths_is_refused_with_a_hint(",
        ]),
    ),
    (
        "jobs.*.cache",
        Proof(&["fn a_miss_saves_a_hit_restores_and_a_restore_key_falls_back("]),
    ),
    (
        "jobs.*.cache.key",
        Proof(&[
            "fn a_miss_saves_a_hit_restores_and_a_restore_key_falls_back(",
            "fn a_missed_key_saves_an_exact_hit_restores_a_fallback_takes_the_newest(",
        ]),
    ),
    (
        "jobs.*.cache.paths",
        Proof(&["fn runs_saving_and_restoring_one_key_at_once_leave_a_whole_entry("]),
    ),
    (
        "jobs.*.cache.restore-keys",
        Proof(&[
            "fn a_miss_saves_a_hit_restores_and_a_restore_key_falls_back(",
            "fn a_missed_key_saves_an_exact_hit_restores_a_fallback_takes_the_newest(",
        ]),
    ),
    (
        "jobs.*.continue-on-error",
        Proof(&[
            "fn conditions_on_event_branch_and_tag_and_status(",
            "fn continue_on_error_neither_fails_the_run_nor_blocks_dependants(",
        ]),
    ),
    (
        "jobs.*.env",
        Proof(&["fn a_pipeline_runs_in_dependency_order_with_outputs_and_layered_env("]),
    ),
    (
        "jobs.*.environment",
        Proof(&[
            "fn jobs_get_only_declared_secrets_scoped_by_environment_and_missing_ones_stop_the_run(",
            "fn every_file_has_its_platforms_structure(",
        ]),
    ),
    (
        "jobs.*.if",
        Proof(&["fn conditions_on_event_branch_and_tag_and_status("]),
    ),
    (
        "jobs.*.image",
        Proof(&["fn a_container_job_runs_inside_the_image_with_the_host_job_s_contract("]),
    ),
    (
        "jobs.*.services",
        Proof(&["fn services_are_healthy_before_the_first_step_reachable_and_removed("]),
    ),
    (
        "jobs.*.services.*.env",
        Proof(&["fn services_are_healthy_before_the_first_step_reachable_and_removed("]),
    ),
    (
        "jobs.*.services.*.health",
        Proof(&["fn services_are_healthy_before_the_first_step_reachable_and_removed("]),
    ),
    (
        "jobs.*.services.*.health.cmd",
        Proof(&["fn services_are_healthy_before_the_first_step_reachable_and_removed("]),
    ),
    (
        "jobs.*.services.*.health.interval",
        Proof(&["fn services_are_healthy_before_the_first_step_reachable_and_removed("]),
    ),
    (
        "jobs.*.services.*.health.retries",
        Proof(&["fn services_are_healthy_before_the_first_step_reachable_and_removed("]),
    ),
    (
        "jobs.*.services.*.image",
        Proof(&["fn services_are_healthy_before_the_first_step_reachable_and_removed("]),
    ),
    (
        "jobs.*.services.*.ports",
        Proof(&["fn services_are_healthy_before_the_first_step_reachable_and_removed("]),
    ),
    (
        "jobs.*.matrix",
        Proof(&["fn matrix_cells_run_with_their_values("]),
    ),
    (
        "jobs.*.matrix.exclude",
        Proof(&[
            "02_matrix.yml",
            "fn cross_product_in_key_order_with_include_and_exclude(",
        ]),
    ),
    (
        "jobs.*.matrix.include",
        Proof(&[
            "02_matrix.yml",
            "fn cross_product_in_key_order_with_include_and_exclude(",
        ]),
    ),
    (
        "jobs.*.needs",
        Proof(&[
            "fn a_failing_job_exits_1_skips_dependants_and_shows_the_failure(",
            "fn a_pipeline_runs_in_dependency_order_with_outputs_and_layered_env(",
        ]),
    ),
    (
        "jobs.*.outputs",
        Proof(&[
            "fn a_pipeline_runs_in_dependency_order_with_outputs_and_layered_env(",
            "fn stdout_lines_are_never_instructions(",
        ]),
    ),
    (
        "jobs.*.reports",
        Proof(&[
            "fn artifacts_are_stored_and_restored_for_jobs_that_need_them_and_reports_counted(",
            "fn a_failed_test_job_keeps_its_report_and_when_always_artifacts_and_names_the_failed_tests(",
            "fn reports_of_a_passing_job_are_kept_not_passed_on(",
        ]),
    ),
    ("jobs.*.retry", Proof(&["fn retries_rerun_a_failed_job("])),
    (
        "jobs.*.retry.max",
        Proof(&["05_triggers.yml", "fn retries_until_success_or_exhausted("]),
    ),
    (
        "jobs.*.retry.on-timeout",
        Proof(&["05_triggers.yml", "fn timeouts_retry_only_when_asked("]),
    ),
    (
        "jobs.*.run",
        Proof(&["fn a_failing_job_exits_1_skips_dependants_and_shows_the_failure("]),
    ),
    (
        "jobs.*.secrets",
        Proof(&[
            "fn jobs_get_only_declared_secrets_scoped_by_environment_and_missing_ones_stop_the_run(",
        ]),
    ),
    (
        "jobs.*.steps",
        Proof(&["fn a_pipeline_runs_in_dependency_order_with_outputs_and_layered_env("]),
    ),
    (
        "jobs.*.steps[].build-image",
        Proof(&["fn the_build_image_step_builds_a_reproducible_image_that_runs("]),
    ),
    (
        "jobs.*.steps[].build-image.build-args",
        Proof(&[
            "35_builtin_step.yml",
            "fn a_dockerfile_build_lands_in_an_oci_layout_that_skopeo_and_umoci_read(",
        ]),
    ),
    (
        "jobs.*.steps[].build-image.cmd",
        Proof(&["fn the_build_image_step_sets_cmd_user_and_workdir_in_the_config("]),
    ),
    (
        "jobs.*.steps[].build-image.compression",
        Proof(&[
            "35_builtin_step.yml",
            "fn zstd_layers_have_the_zstd_media_type_and_decompress(",
        ]),
    ),
    // GAP: no test sets `context:`; the Dockerfile build test only shows that the context
    // directory given to wharf-oci is the one sent to the engine.
    (
        "jobs.*.steps[].build-image.context",
        Proof(&["fn a_dockerfile_build_lands_in_an_oci_layout_that_skopeo_and_umoci_read("]),
    ),
    (
        "jobs.*.steps[].build-image.dockerfile",
        Proof(&[
            "35_builtin_step.yml",
            "fn a_dockerfile_build_lands_in_an_oci_layout_that_skopeo_and_umoci_read(",
        ]),
    ),
    (
        "jobs.*.steps[].build-image.entrypoint",
        Proof(&["fn the_build_image_step_builds_a_reproducible_image_that_runs("]),
    ),
    (
        "jobs.*.steps[].build-image.env",
        Proof(&[
            "35_builtin_step.yml",
            "fn scratch_image_has_the_config_and_files_asked_for(",
        ]),
    ),
    (
        "jobs.*.steps[].build-image.from",
        Proof(&["fn a_registry_base_is_pulled_cached_by_digest_and_its_layers_mounted("]),
    ),
    (
        "jobs.*.steps[].build-image.image",
        Proof(&["fn build_image_pushes_every_tag_and_an_unchanged_push_uploads_nothing("]),
    ),
    // GAP: no test gives a non-empty `insecure:` list, at any layer; the closest test shows
    // only that a host not in the list gets no credentials over plain HTTP.
    (
        "jobs.*.steps[].build-image.insecure",
        Proof(&["fn credentials_never_go_to_a_plain_http_realm_elsewhere("]),
    ),
    (
        "jobs.*.steps[].build-image.labels",
        Proof(&["fn the_build_image_step_builds_a_reproducible_image_that_runs("]),
    ),
    (
        "jobs.*.steps[].build-image.layers",
        Proof(&["fn the_build_image_step_builds_a_reproducible_image_that_runs("]),
    ),
    (
        "jobs.*.steps[].build-image.layers[].dest",
        Proof(&["fn the_build_image_step_builds_a_reproducible_image_that_runs("]),
    ),
    (
        "jobs.*.steps[].build-image.layers[].src",
        Proof(&["fn the_build_image_step_builds_a_reproducible_image_that_runs("]),
    ),
    (
        "jobs.*.steps[].build-image.output",
        Proof(&["fn the_build_image_step_builds_a_reproducible_image_that_runs("]),
    ),
    (
        "jobs.*.steps[].build-image.password",
        Proof(&["fn basic_auth_with_a_secret_and_a_clear_error_for_a_wrong_one("]),
    ),
    (
        "jobs.*.steps[].build-image.ports",
        Proof(&[
            "35_builtin_step.yml",
            "fn scratch_image_has_the_config_and_files_asked_for(",
        ]),
    ),
    (
        "jobs.*.steps[].build-image.push",
        Proof(&["fn build_image_pushes_every_tag_and_an_unchanged_push_uploads_nothing("]),
    ),
    (
        "jobs.*.steps[].build-image.tags",
        Proof(&[
            "fn parameters_are_rendered_and_the_digest_reaches_later_steps_and_jobs(",
            "fn a_registry_base_is_pulled_cached_by_digest_and_its_layers_mounted(",
        ]),
    ),
    (
        "jobs.*.steps[].build-image.user",
        Proof(&["fn the_build_image_step_sets_cmd_user_and_workdir_in_the_config("]),
    ),
    (
        "jobs.*.steps[].build-image.username",
        Proof(&["fn basic_auth_with_a_secret_and_a_clear_error_for_a_wrong_one("]),
    ),
    (
        "jobs.*.steps[].build-image.workdir",
        Proof(&["fn the_build_image_step_sets_cmd_user_and_workdir_in_the_config("]),
    ),
    (
        "jobs.*.steps[].continue-on-error",
        Proof(&["fn a_job_s_own_workspace_key_and_step_conditions("]),
    ),
    (
        "jobs.*.steps[].env",
        Proof(&["fn a_pipeline_runs_in_dependency_order_with_outputs_and_layered_env("]),
    ),
    (
        "jobs.*.steps[].if",
        Proof(&["fn a_job_s_own_workspace_key_and_step_conditions("]),
    ),
    (
        "jobs.*.steps[].name",
        Proof(&[
            "fn runs_show_and_logs_read_back_what_happened(",
            "02_matrix.yml",
        ]),
    ),
    (
        "jobs.*.steps[].package",
        Proof(&["fn the_package_step_records_the_package_and_passes_it_on("]),
    ),
    (
        "jobs.*.steps[].package.output",
        Proof(&["fn the_package_step_records_the_package_and_passes_it_on("]),
    ),
    (
        "jobs.*.steps[].package.paths",
        Proof(&[
            "fn the_package_step_records_the_package_and_passes_it_on(",
            "fn the_package_step_refuses_paths_outside_the_workspace(",
        ]),
    ),
    (
        "jobs.*.steps[].publish-python",
        Proof(&["fn the_publish_step_uploads_pip_installs_and_reruns_are_noops("]),
    ),
    (
        "jobs.*.steps[].publish-python.files",
        Proof(&["fn the_publish_step_uploads_pip_installs_and_reruns_are_noops("]),
    ),
    // GAP: no test sets `index-url:`, at any layer; only the default derived from
    // `repository` is tested.
    (
        "jobs.*.steps[].publish-python.index-url",
        Proof(&["fn index_urls_and_names("]),
    ),
    (
        "jobs.*.steps[].publish-python.repository",
        Proof(&["fn the_publish_step_uploads_pip_installs_and_reruns_are_noops("]),
    ),
    (
        "jobs.*.steps[].publish-python.token",
        Proof(&["fn the_publish_step_uploads_pip_installs_and_reruns_are_noops("]),
    ),
    // GAP: no test sets `username:`, at any layer; the upload test uses the default
    // `__token__`.
    (
        "jobs.*.steps[].publish-python.username",
        Proof(&["fn the_publish_step_uploads_pip_installs_and_reruns_are_noops("]),
    ),
    (
        "jobs.*.steps[].release",
        Proof(&["fn the_release_step_tags_records_and_writes_the_changelog("]),
    ),
    (
        "jobs.*.steps[].load-test",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.rate",
        Proof(&[
            "fn a_missed_threshold_fails_the_step_naming_it_and_an_open_loop_counts_from_the_schedule(",
        ]),
    ),
    (
        "jobs.*.steps[].load-test.url",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.method",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.headers",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.body",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.connections",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.duration",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.warm-up",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.timeout",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.thresholds",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.thresholds.p50",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.thresholds.p90",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.thresholds.p99",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.thresholds.p99.9",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.thresholds.max",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.thresholds.error-rate",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].load-test.thresholds.throughput",
        Proof(&["fn a_load_meets_its_thresholds_and_its_report_is_kept("]),
    ),
    (
        "jobs.*.steps[].policy",
        Proof(&["fn the_gate_fails_on_a_high_finding_and_passes_with_a_valid_exception("]),
    ),
    (
        "jobs.*.steps[].policy.file",
        Proof(&["fn the_gate_fails_on_a_high_finding_and_passes_with_a_valid_exception("]),
    ),
    (
        "jobs.*.steps[].policy.reports",
        Proof(&["fn expired_unused_and_self_approved_exceptions_each_fail_with_their_own_error("]),
    ),
    (
        "jobs.*.steps[].policy.licenses",
        Proof(&["fn licences_of_a_wheel_are_judged_and_a_release_records_the_gate_it_passed("]),
    ),
    (
        "jobs.*.steps[].release.changelog",
        Proof(&["fn the_release_step_tags_records_and_writes_the_changelog("]),
    ),
    (
        "jobs.*.steps[].release.forge",
        Proof(&["fn the_release_step_publishes_to_a_forge_and_updates_it_on_a_rerun("]),
    ),
    (
        "jobs.*.steps[].release.forge.assets",
        Proof(&["fn the_release_step_publishes_to_a_forge_and_updates_it_on_a_rerun("]),
    ),
    // The step passes `draft` to wharf-release, whose test publishes a draft.
    (
        "jobs.*.steps[].release.forge.draft",
        Proof(&[
            "fn the_release_step_publishes_to_a_forge_and_updates_it_on_a_rerun(",
            "fn a_draft_is_found_again_and_published_later(",
        ]),
    ),
    (
        "jobs.*.steps[].release.forge.kind",
        Proof(&["fn the_release_step_publishes_to_a_forge_and_updates_it_on_a_rerun("]),
    ),
    (
        "jobs.*.steps[].release.forge.repository",
        Proof(&["fn the_release_step_publishes_to_a_forge_and_updates_it_on_a_rerun("]),
    ),
    (
        "jobs.*.steps[].release.forge.token",
        Proof(&["fn the_release_step_publishes_to_a_forge_and_updates_it_on_a_rerun("]),
    ),
    (
        "jobs.*.steps[].release.forge.url",
        Proof(&["fn the_release_step_publishes_to_a_forge_and_updates_it_on_a_rerun("]),
    ),
    // The step passes `pre` to wharf-release's planner, whose test counts pre-releases up.
    (
        "jobs.*.steps[].release.pre",
        Proof(&[
            "47_builtin_errors.expected.txt",
            "fn pre_releases_count_up_and_are_promoted(",
        ]),
    ),
    // GAP: as for build-image, no registry here is reached over plain HTTP but loopback
    // ones; the test shows `validate` treating a listed host as an insecure setting.
    (
        "jobs.*.steps[].release.insecure",
        Proof(&["fn each_insecure_setting_is_refused_without_an_exception_located_with_a_hint("]),
    ),
    (
        "jobs.*.steps[].release.password",
        Proof(&[
            "fn a_registry_with_a_login_gets_its_signature_with_the_release_steps_credentials(",
        ]),
    ),
    (
        "jobs.*.steps[].release.username",
        Proof(&[
            "fn a_registry_with_a_login_gets_its_signature_with_the_release_steps_credentials(",
        ]),
    ),
    (
        "jobs.*.steps[].release.tag",
        Proof(&["fn a_release_step_with_tag_false_records_without_tagging("]),
    ),
    (
        "jobs.*.steps[].run",
        Proof(&["fn a_pipeline_runs_in_dependency_order_with_outputs_and_layered_env("]),
    ),
    (
        "jobs.*.steps[].shell",
        Proof(&["05_triggers.yml", "fn shells("]),
    ),
    // The step's deadline and the job's go through the same executor deadline.
    (
        "jobs.*.steps[].timeout",
        Proof(&[
            "05_triggers.yml",
            "fn timeout_kills_the_whole_group_including_term_ignorers(",
        ]),
    ),
    (
        "jobs.*.steps[].working-directory",
        Proof(&["02_matrix.yml", "fn working_directory_and_selected_jobs("]),
    ),
    (
        "jobs.*.timeout",
        Proof(&["fn a_timeout_kills_the_whole_process_group("]),
    ),
    (
        "jobs.*.working-directory",
        Proof(&["fn working_directory_and_selected_jobs("]),
    ),
    (
        "jobs.*.workspace",
        Proof(&["fn a_job_s_own_workspace_key_and_step_conditions("]),
    ),
    (
        "name",
        Proof(&[
            "fn load_project_reads_root_and_dot_wharf_files(",
            "fn schedule_and_pull_request_events_start_only_pipelines_that_listen_to_them(",
        ]),
    ),
    (
        "on",
        Proof(&[
            "fn event_context_reaches_steps_as_variables_and_triggers_filter_pipelines(",
            "fn a_file_without_on_matches_every_event_but_another_pipelines_end(",
        ]),
    ),
    (
        "on.manual",
        Proof(&[
            "fn event_context_reaches_steps_as_variables_and_triggers_filter_pipelines(",
            "fn manual_inputs_are_resolved_through_the_pipeline(",
        ]),
    ),
    (
        "on.manual.inputs",
        Proof(&[
            "fn event_context_reaches_steps_as_variables_and_triggers_filter_pipelines(",
            "fn manual_inputs_are_resolved_through_the_pipeline(",
        ]),
    ),
    (
        "on.manual.inputs.*.default",
        Proof(&[
            "fn event_context_reaches_steps_as_variables_and_triggers_filter_pipelines(",
            "fn defaults_are_applied(",
        ]),
    ),
    // GAP: `description` only reaches exported files (GitHub and GitLab inputs), and the
    // export tests declare no description.
    (
        "on.manual.inputs.*.description",
        Proof(&["fn snapshots_of_every_platform("]),
    ),
    (
        "on.manual.inputs.*.options",
        Proof(&[
            "fn event_context_reaches_steps_as_variables_and_triggers_filter_pipelines(",
            "fn rejects_unknown_missing_and_bad_options(",
        ]),
    ),
    // No pipeline test declares `required: true`; resolving inputs honours the flag.
    (
        "on.manual.inputs.*.required",
        Proof(&["fn rejects_unknown_missing_and_bad_options("]),
    ),
    (
        "on.pipeline",
        Proof(&[
            "fn a_pipeline_that_follows_another_runs_after_it_locally(",
            "fn a_pipeline_starts_when_the_one_it_follows_ends(",
        ]),
    ),
    (
        "on.pipeline.name",
        Proof(&["fn a_fired_schedule_or_an_ended_run_starts_only_the_pipelines_naming_it("]),
    ),
    (
        "on.pipeline.status",
        Proof(&[
            "fn a_fired_schedule_or_an_ended_run_starts_only_the_pipelines_naming_it(",
            "fn a_pipeline_that_follows_another_runs_after_it_locally(",
        ]),
    ),
    (
        "on.pull_request",
        Proof(&["fn schedule_and_pull_request_events_start_only_pipelines_that_listen_to_them("]),
    ),
    (
        "on.pull_request.branches",
        Proof(&["fn schedule_and_pull_request_events_start_only_pipelines_that_listen_to_them("]),
    ),
    (
        "on.pull_request.secrets",
        Proof(&["fn a_pipeline_that_opts_in_gets_secrets_on_pull_requests("]),
    ),
    (
        "on.push",
        Proof(&["fn event_context_reaches_steps_as_variables_and_triggers_filter_pipelines("]),
    ),
    (
        "on.push.branches",
        Proof(&[
            "fn event_context_reaches_steps_as_variables_and_triggers_filter_pipelines(",
            "fn push_branches_and_paths(",
        ]),
    ),
    // Matched against an event's changed files, and exported (`wharf run` itself does not
    // know the changed files yet).
    (
        "on.push.paths",
        Proof(&[
            "fn push_branches_and_paths(",
            "fn snapshots_of_every_platform(",
        ]),
    ),
    (
        "on.schedule",
        Proof(&["fn schedule_and_pull_request_events_start_only_pipelines_that_listen_to_them("]),
    ),
    (
        "on.tag",
        Proof(&[
            "fn tags_pull_requests_and_the_rest(",
            "fn every_file_has_its_platforms_structure(",
        ]),
    ),
    // Only version 1 is accepted.
    ("version", Proof(&["37_version_2.expected.txt"])),
    (
        "workspace",
        Proof(&["fn a_job_sees_the_git_view_of_the_project_and_its_needs_artifacts_only("]),
    ),
];

/// How deep the schema may nest before the walk gives up (a recursive `$ref`).
const MAX_DEPTH: usize = 24;

/// The repository root.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// This file, which must not prove anything by quoting its own table.
fn this_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema_keys.rs")
}

/// Follows `$ref`s (into `$defs`) until `node` is a schema of its own.
fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..MAX_DEPTH {
        let Some(reference) = node.get("$ref").and_then(Value::as_str) else {
            return node;
        };
        node = reference
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs")?.get(name))
            .unwrap_or_else(|| panic!("the schema's `$ref` `{reference}` points nowhere"));
    }
    panic!("`$ref`s in the schema refer to each other in a loop");
}

/// The schemas a value at `node` may match: `node` and its `anyOf` / `oneOf` / `allOf`
/// branches, with `$ref`s resolved.
fn branches<'a>(root: &'a Value, node: &'a Value) -> Vec<&'a Value> {
    fn collect<'a>(root: &'a Value, node: &'a Value, depth: usize, out: &mut Vec<&'a Value>) {
        assert!(
            depth < MAX_DEPTH,
            "`anyOf`/`oneOf`/`allOf` nest deeper than {MAX_DEPTH} levels in the schema"
        );
        let node = resolve(root, node);
        out.push(node);
        for combinator in ["anyOf", "oneOf", "allOf"] {
            for branch in node
                .get(combinator)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                collect(root, branch, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    collect(root, node, 0, &mut out);
    out
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A sub-schema given as an object (`additionalProperties: false` is not one).
fn sub<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    schema.get(key).filter(|s| s.is_object())
}

/// Every key path the schema accepts, e.g. `jobs.*.steps[].build-image.tags`.
fn schema_paths(root: &Value) -> BTreeSet<String> {
    fn walk(root: &Value, node: &Value, path: &str, depth: usize, out: &mut BTreeSet<String>) {
        assert!(
            depth < MAX_DEPTH,
            "the schema nests deeper than {MAX_DEPTH} levels at `{path}`: a recursive `$ref`? \
             Teach schema_keys.rs to stop there"
        );
        for schema in branches(root, node) {
            for (key, value) in schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let p = child(path, key);
                out.insert(p.clone());
                walk(root, value, &p, depth + 1, out);
            }
            if let Some(values) = sub(schema, "additionalProperties") {
                walk(root, values, &format!("{path}.*"), depth + 1, out);
            }
            if let Some(items) = sub(schema, "items") {
                walk(root, items, &format!("{path}[]"), depth + 1, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, "", 0, &mut out);
    out
}

/// The schema key paths a pipeline document uses.
fn document_paths(root: &Value, doc: &Value) -> BTreeSet<String> {
    fn walk(
        root: &Value,
        node: &Value,
        value: &Value,
        path: &str,
        depth: usize,
        out: &mut BTreeSet<String>,
    ) {
        if depth >= MAX_DEPTH {
            return;
        }
        let schemas = branches(root, node);
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    let property = schemas
                        .iter()
                        .find_map(|s| s.get("properties").and_then(|p| p.get(key)));
                    if let Some(property) = property {
                        let p = child(path, key);
                        out.insert(p.clone());
                        walk(root, property, v, &p, depth + 1, out);
                    } else if let Some(values) =
                        schemas.iter().find_map(|s| sub(s, "additionalProperties"))
                    {
                        walk(root, values, v, &format!("{path}.*"), depth + 1, out);
                    }
                }
            }
            Value::Array(list) => {
                if let Some(items) = schemas.iter().find_map(|s| sub(s, "items")) {
                    for v in list {
                        walk(root, items, v, &format!("{path}[]"), depth + 1, out);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, doc, "", 0, &mut out);
    out
}

/// The key paths a YAML pipeline text uses, or why it cannot be read.
fn yaml_paths(root: &Value, text: &str) -> Result<BTreeSet<String>, String> {
    let doc: Value = serde_saphyr::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    Ok(document_paths(root, &doc))
}

/// One file a proof may be found in.
struct Source {
    /// Relative to the repository root.
    path: PathBuf,
    text: String,
}

/// Test sources: every `.rs` file under `crates/` (but this one), and every file under
/// `tests/fixtures/pipelines/` and `examples/`.
fn corpus() -> Vec<Source> {
    fn visit(root: &Path, dir: &Path, rust_only: bool, skip: &Path, out: &mut Vec<Source>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    visit(root, &path, rust_only, skip, out);
                }
                continue;
            }
            if (rust_only && path.extension().is_none_or(|x| x != "rs"))
                || path.canonicalize().is_ok_and(|p| p == skip)
            {
                continue;
            }
            if let Ok(bytes) = std::fs::read(&path) {
                out.push(Source {
                    path: path.strip_prefix(root).unwrap_or(&path).to_path_buf(),
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
        }
    }
    let root = repo_root()
        .canonicalize()
        .expect("the repository root exists");
    let skip = this_file().canonicalize().expect("this file exists");
    let mut out = Vec::new();
    visit(&root, &root.join("crates"), true, &skip, &mut out);
    visit(
        &root,
        &root.join("tests/fixtures/pipelines"),
        false,
        &skip,
        &mut out,
    );
    visit(&root, &root.join("examples"), false, &skip, &mut out);
    assert!(
        out.len() > 50,
        "found only {} test sources under {}",
        out.len(),
        root.display()
    );
    out
}

/// Whether the `fn` at `at` in `text` carries `#[test]` or `#[tokio::test…]`, looking up
/// through its attributes and doc comments.
fn is_test_fn(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    for line in text[..line_start].lines().rev() {
        let line = line.trim();
        if line.starts_with("#[") {
            if line.contains("test]") || line.contains("::test") {
                return true;
            }
        } else if !line.starts_with("//") {
            return false;
        }
    }
    false
}

/// Checks one proof string for `path`; `Err` says what is wrong and what to do.
fn check_proof(schema: &Value, sources: &[Source], path: &str, proof: &str) -> Result<(), String> {
    if proof.starts_with("fn ") {
        let mut found_in = Vec::new();
        for s in sources
            .iter()
            .filter(|s| s.path.extension().is_some_and(|x| x == "rs"))
        {
            for (at, _) in s.text.match_indices(proof) {
                if is_test_fn(&s.text, at) {
                    return Ok(());
                }
                found_in.push(s.path.display().to_string());
            }
        }
        return Err(if found_in.is_empty() {
            format!(
                "`{path}`: its proof `{proof}` is no test in crates/*/{{src,tests}} any more \
                 (renamed or removed?): name the test that now exercises `{path}` in the table \
                 in crates/wharf-pipeline/tests/schema_keys.rs"
            )
        } else {
            format!(
                "`{path}`: its proof `{proof}` is found in {} but is not a #[test]: name a test \
                 that exercises `{path}` in the table in crates/wharf-pipeline/tests/schema_keys.rs",
                found_in.join(", ")
            )
        });
    }
    if let Some((stem, valid)) = fixture_proof(proof) {
        return check_fixture(schema, sources, path, proof, stem, valid);
    }
    if sources.iter().any(|s| s.text.contains(proof)) {
        Ok(())
    } else {
        Err(format!(
            "`{path}`: its proof `{proof}` occurs in no test source: name the test that \
             exercises `{path}` in the table in crates/wharf-pipeline/tests/schema_keys.rs"
        ))
    }
}

/// A fixture proof: `NN_name.yml` for a fixture that plans (the key's effect is in
/// `NN_name.expected.json`), `NN_name.expected.txt` for one that is refused (the key's
/// effect is a diagnostic). Gives the stem and whether the fixture must be valid.
fn fixture_proof(proof: &str) -> Option<(&str, bool)> {
    if let Some(stem) = proof.strip_suffix(".expected.txt") {
        Some((stem, false))
    } else {
        proof.strip_suffix(".yml").map(|stem| (stem, true))
    }
}

/// Checks that fixture `stem` uses `path`, and plans (`valid`) or is refused.
fn check_fixture(
    schema: &Value,
    sources: &[Source],
    path: &str,
    proof: &str,
    stem: &str,
    valid: bool,
) -> Result<(), String> {
    let name = format!("{stem}.yml");
    let fixture = Path::new("tests/fixtures/pipelines").join(&name);
    let Some(source) = sources.iter().find(|s| s.path == fixture) else {
        return Err(format!(
            "`{path}`: its proof `{proof}` names no fixture in tests/fixtures/pipelines/: name \
             the fixture or test that exercises `{path}` in the table in \
             crates/wharf-pipeline/tests/schema_keys.rs"
        ));
    };
    let used = yaml_paths(schema, &source.text)
        .map_err(|e| format!("`{path}`: its proof fixture `{name}` cannot be read: {e}"))?;
    if !used.contains(path) {
        return Err(format!(
            "`{path}`: its proof fixture `{name}` no longer uses `{path}`: put the key back in \
             the fixture, or name another test that exercises it in the table in \
             crates/wharf-pipeline/tests/schema_keys.rs"
        ));
    }
    match (wharf_pipeline::parse(&name, &source.text), valid) {
        (Ok(_), true) | (Err(_), false) => Ok(()),
        (Err(diagnostics), true) => Err(format!(
            "`{path}`: its proof fixture `{name}` is refused, so its plan shows nothing of \
             `{path}`:\n{}\nMake the fixture valid again (move what is refused to a fixture of \
             its own), or name another test that exercises `{path}` in the table in \
             crates/wharf-pipeline/tests/schema_keys.rs",
            diagnostics.render(false)
        )),
        (Ok(_), false) => Err(format!(
            "`{path}`: its proof `{proof}` is the diagnostics of a refused fixture, but `{name}` \
             is accepted now: name the test that exercises `{path}` in the table in \
             crates/wharf-pipeline/tests/schema_keys.rs"
        )),
    }
}

/// Checks that `validate` refuses `path` in `pipeline` with "`label` is not supported".
fn check_refusal(schema: &Value, path: &str, label: &str, pipeline: &str) -> Result<(), String> {
    let used = yaml_paths(schema, pipeline)
        .map_err(|e| format!("`{path}`: the pipeline of its `Refused` entry: {e}"))?;
    if !used.contains(path) {
        return Err(format!(
            "`{path}`: the pipeline of its `Refused` entry does not use `{path}`; write one that does"
        ));
    }
    let expected = format!("`{label}` is not supported in this version");
    match wharf_pipeline::parse("t.yml", pipeline) {
        Ok(_) => Err(format!(
            "`{path}`: `validate` no longer refuses it (the pipeline of its `Refused` entry is \
             accepted). If `{path}` now has an effect, make its entry `Proof(&[\"fn the_test(\"])` \
             naming the test that shows it (and turn the `Under` keys below it into proofs too); \
             otherwise restore the refusal (`validate::unsupported`)"
        )),
        Err(diagnostics) => {
            let text = diagnostics.render(false);
            if text.contains(&expected) {
                Ok(())
            } else {
                Err(format!(
                    "`{path}`: the pipeline of its `Refused` entry fails, but not with \
                     \"{expected}\":\n{text}\nFix the entry's pipeline or label, or restore the \
                     refusal (`validate::unsupported`)"
                ))
            }
        }
    }
}

#[test]
fn every_schema_key_has_an_effect_or_is_refused() {
    let schema = wharf_pipeline::schema();
    let accepted = schema_paths(&schema);
    let sources = corpus();
    let mut problems = Vec::new();

    let mut listed = BTreeSet::new();
    for (path, _) in KEYS {
        if !listed.insert(*path) {
            problems.push(format!("`{path}` is in the table twice: keep one entry"));
        }
    }
    for path in &accepted {
        if !listed.contains(path.as_str()) {
            problems.push(format!(
                "`{path}` is accepted by the schema but not in the table: add `{path}` to the \
                 table in crates/wharf-pipeline/tests/schema_keys.rs with the test that proves its \
                 effect (`Proof(&[\"fn the_test(\"])`), or make `validate` refuse it \
                 (`validate::unsupported`) and add it as `Refused(label, pipeline)` \
                 (DESIGN.md rule 13)"
            ));
        }
    }

    for (path, key) in KEYS {
        if !accepted.contains(*path) {
            problems.push(format!(
                "`{path}` is in the table but the schema no longer accepts it: remove its entry \
                 from the table in crates/wharf-pipeline/tests/schema_keys.rs (or fix the path)"
            ));
            continue;
        }
        let result = match key {
            Proof([]) => Err(format!(
                "`{path}`: `Proof` names no test: name the test that exercises `{path}`"
            )),
            Proof(proofs) => proofs
                .iter()
                .filter_map(|proof| check_proof(&schema, &sources, path, proof).err())
                .reduce(|a, b| format!("{a}\n{b}"))
                .map_or(Ok(()), Err),
            Refused(label, pipeline) => check_refusal(&schema, path, label, pipeline),
            Under(parent) => {
                let refused = KEYS
                    .iter()
                    .any(|(p, k)| p == parent && matches!(k, Refused(..)));
                let inside = path
                    .strip_prefix(parent)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['));
                if !inside {
                    Err(format!(
                        "`{path}` is `Under(\"{parent}\")`, but `{parent}` does not contain it"
                    ))
                } else if !refused {
                    Err(format!(
                        "`{path}` is `Under(\"{parent}\")`, but `{parent}` is not `Refused` in the \
                         table: give `{path}` a `Proof` of its own, or refuse `{parent}`"
                    ))
                } else {
                    Ok(())
                }
            }
        };
        if let Err(e) = result {
            problems.push(e);
        }
    }

    assert!(
        problems.is_empty(),
        "DESIGN.md rule 13: every key the schema accepts has an effect, or `validate` refuses \
         it.\n\n{}\n\n{} problem(s)",
        problems.join("\n\n"),
        problems.len()
    );
}

#[test]
fn the_walk_finds_keys_inside_refs_lists_maps_and_combinators() {
    let schema = wharf_pipeline::schema();
    let accepted = schema_paths(&schema);
    for path in [
        "version",
        "on.pull_request.secrets",
        "on.manual.inputs.*.options",
        "jobs.*.retry.on-timeout",
        "jobs.*.matrix.include",
        "jobs.*.steps[].build-image.layers[].dest",
        "environments.*.approval.required",
    ] {
        assert!(accepted.contains(path), "{path} not found in {accepted:#?}");
    }
    let text = "version: 1\non:\n  push: { paths: [src/**] }\njobs:\n  a:\n    retry: { max: 1 }\n    steps:\n      - build-image: { layers: [{ src: a, dest: /a }] }\n";
    let used = yaml_paths(&schema, text).expect("YAML");
    for path in [
        "on.push.paths",
        "jobs.*.retry.max",
        "jobs.*.steps[].build-image.layers[].src",
    ] {
        assert!(used.contains(path), "{path} not found in {used:#?}");
    }
    assert!(!used.contains("jobs.*.retry.on-timeout"));
}
