//! Exported files for the example pipelines: snapshots of every platform, and a structural
//! check that each parses as YAML with the keys its platform requires.

use wharf_export::{ExportOptions, Platform, export};

const RELEASE: &str = r#"version: 1
name: release
on:
  push: { branches: [main, "release/*"], paths: ["src/**"] }
  tag: ["v*"]
  pull_request: { branches: [main] }
  schedule: ["0 3 * * 1"]
  manual: { inputs: { target: { default: staging, options: [staging, production] } } }
jobs:
  test:
    run: nox -s tests
    cache: { key: [noxfile.py, "requirements*.txt"], paths: [.nox], restore-keys: [[noxfile.py], []] }
  package:
    needs: [test]
    steps:
      - run: nox -s build
      - package: { paths: [dist/], output: dist/app.tar.gz }
    artifacts: ["dist/*.whl"]
  publish:
    needs: [package]
    secrets: [PYPI_TOKEN]
    steps:
      - publish-python: { repository: "https://upload.example.invalid/legacy/", files: "dist/*.whl", token: PYPI_TOKEN }
  release:
    needs: [publish]
    steps:
      - release: { changelog: CHANGELOG.md }
  deploy:
    needs: [release]
    environment: production
    run: ./deploy.sh
environments:
  production: {}
"#;

const PLATFORMS: [Platform; 4] = [
    Platform::Github,
    Platform::Gitlab,
    Platform::Woodpecker,
    Platform::Bitbucket,
];

fn pipeline(text: &str) -> wharf_pipeline::Pipeline {
    wharf_pipeline::parse("wharf.yml", text).expect("valid pipeline")
}

fn parse(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
}

#[test]
fn snapshots_of_every_platform() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/python-app/wharf.yml"
    ))
    .unwrap();
    for (name, text) in [("release", RELEASE), ("python_app", example.as_str())] {
        let p = pipeline(text);
        for platform in PLATFORMS {
            for single in [false, true] {
                let out = export(
                    &p,
                    platform,
                    &ExportOptions {
                        single_job: single,
                        ..Default::default()
                    },
                );
                let warnings: Vec<&str> = out.warnings.iter().map(|w| w.0.as_str()).collect();
                let mode = if single { "single" } else { "jobs" };
                insta::assert_snapshot!(
                    format!("{name}_{}_{mode}", platform.as_str()),
                    format!("{}\n--- warnings\n{}\n", out.text, warnings.join("\n"))
                );
            }
        }
    }
}

#[test]
fn every_file_has_its_platforms_structure() {
    let p = pipeline(RELEASE);
    let gh = parse(&export(&p, Platform::Github, &ExportOptions::default()).text);
    assert!(
        gh["on"]["push"]["tags"][0] == "v*"
            && gh["on"]["workflow_dispatch"]["inputs"]["target"]["type"] == "choice"
    );
    for (name, job) in gh["jobs"].as_object().unwrap() {
        assert_eq!(job["runs-on"], "ubuntu-latest", "{name}");
        let steps = job["steps"].as_array().unwrap();
        assert_eq!(steps[0]["uses"], "actions/checkout@v4");
        assert!(steps.iter().any(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.starts_with(&format!("wharf run {name} --no-deps")))
        }));
    }
    assert_eq!(
        gh["jobs"]["publish"]["env"]["PYPI_TOKEN"],
        "${{ secrets.PYPI_TOKEN }}"
    );
    assert_eq!(gh["jobs"]["release"]["permissions"]["contents"], "write");
    assert_eq!(gh["jobs"]["deploy"]["environment"], "production");
    // the release job gets the files and handoffs of every job before it
    let downloads: Vec<&str> = gh["jobs"]["release"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["uses"] == "actions/download-artifact@v4")
        .map(|s| s["with"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(downloads, ["wharf-test", "wharf-package", "wharf-publish"]);
    let upload = gh["jobs"]["test"]["steps"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        upload["with"]["path"],
        "wharf.yml
.wharf/handoff/test.json
"
    );

    let gl = parse(&export(&p, Platform::Gitlab, &ExportOptions::default()).text);
    assert!(gl["workflow"]["rules"].as_array().unwrap().len() >= 5);
    assert_eq!(
        gl["release"]["needs"],
        serde_json::json!(["publish", "test", "package"])
    );
    assert_eq!(
        gl["package"]["artifacts"]["paths"],
        serde_json::json!([
            "dist/*.whl",
            ".wharf/handoff/package.json",
            "dist/app.tar.gz"
        ])
    );
    assert!(
        gl["test"]["script"][0]
            .as_str()
            .unwrap()
            .starts_with("wharf run test --no-deps")
    );

    let wp = parse(&export(&p, Platform::Woodpecker, &ExportOptions::default()).text);
    assert_eq!(
        wp["steps"]["publish"]["environment"]["PYPI_TOKEN"]["from_secret"],
        "pypi_token"
    );
    assert_eq!(
        wp["steps"]["package"]["depends_on"],
        serde_json::json!(["test"])
    );

    let bb = parse(&export(&p, Platform::Bitbucket, &ExportOptions::default()).text);
    let main = bb["pipelines"]["branches"]["main"].as_array().unwrap();
    assert_eq!(main.len(), 5, "one level per job in this chain");
    assert!(
        bb["pipelines"]["custom"]["wharf-manual"][0]["variables"][0]["name"]
            == "WHARF_INPUT_target"
    );
}

#[test]
fn what_cannot_be_mapped_is_a_warning_naming_the_nearest_feature() {
    let p = pipeline(RELEASE);
    let gl = export(&p, Platform::Gitlab, &ExportOptions::default());
    let text: Vec<&str> = gl.warnings.iter().map(|w| w.0.as_str()).collect();
    assert!(
        text.iter()
            .any(|w| w.contains("on.schedule (0 3 * * 1)") && w.contains("Pipeline schedules")),
        "{text:?}"
    );
    assert!(
        text.iter().any(
            |w| w.contains("job `test`: cache restore-keys are not mapped")
                && w.contains("fallback_keys")
        ),
        "{text:?}"
    );
    // values between jobs travel in handoff files: nothing to warn about
    assert_eq!(text.len(), 2, "{text:?}");
}
