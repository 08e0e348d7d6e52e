//! Exported files for the example pipelines: snapshots of every platform, and a structural
//! check that each parses as YAML with the keys its platform requires.

use wharf_export::{ExportOptions, Install, Platform, export, install_matches};

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

/// Matrix jobs: a plain cross product, and one with `include`/`exclude`; a job after them.
const MATRIX: &str = r#"version: 1
jobs:
  test:
    matrix: { python: ["3.11", "3.12"], os: [linux, mac] }
    run: nox -s "tests-${{ matrix.python }}"
    artifacts: ["reports/*.xml"]
  lint:
    matrix:
      tool: [ruff, mypy]
      py-version: ["3.12"]
      exclude: [{ tool: mypy }]
      include: [{ tool: pylint, py-version: "3.10", strict: "true" }]
    run: nox -s "${{ matrix.tool }}"
  report:
    needs: [test, lint]
    if: always()
    run: ./report.sh
"#;

const PLATFORMS: [Platform; 4] = [
    Platform::Github,
    Platform::Gitlab,
    Platform::Woodpecker,
    Platform::Bitbucket,
];

const REV: &str = "0123456789abcdef0123456789abcdef01234567";
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// The install source the snapshots pin: a git commit.
fn git_pin() -> Install {
    Install::git("https://github.com/acme/wharf", REV).unwrap()
}

fn pinned(install: Install) -> ExportOptions {
    ExportOptions {
        install: Some(install),
        ..Default::default()
    }
}

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
    for (name, text) in [
        ("release", RELEASE),
        ("python_app", example.as_str()),
        ("matrix", MATRIX),
    ] {
        let p = pipeline(text);
        for platform in PLATFORMS {
            for single in [false, true] {
                let out = export(
                    &p,
                    platform,
                    &ExportOptions {
                        single_job: single,
                        ..pinned(git_pin())
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
    let gh = parse(&export(&p, Platform::Github, &pinned(git_pin())).text);
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

    let gl = parse(&export(&p, Platform::Gitlab, &pinned(git_pin())).text);
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

    let wp = parse(&export(&p, Platform::Woodpecker, &pinned(git_pin())).text);
    assert_eq!(
        wp["steps"]["publish"]["environment"]["PYPI_TOKEN"]["from_secret"],
        "pypi_token"
    );
    assert_eq!(
        wp["steps"]["package"]["depends_on"],
        serde_json::json!(["test"])
    );

    let bb = parse(&export(&p, Platform::Bitbucket, &pinned(git_pin())).text);
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
    let gl = export(&p, Platform::Gitlab, &pinned(git_pin()));
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

#[test]
fn the_install_step_is_the_pinned_source_and_the_header_records_it() {
    let p = pipeline(RELEASE);
    let header = format!(
        "# wharf install: --install-git https://github.com/acme/wharf --install-rev {REV}\n"
    );
    let cargo =
        format!("cargo install --locked --git https://github.com/acme/wharf --rev {REV} wharf");
    for platform in PLATFORMS {
        let out = export(&p, platform, &pinned(git_pin()));
        assert!(
            out.text.starts_with("# Generated by `wharf export"),
            "{}",
            out.text
        );
        assert!(out.text.contains(&header), "{}", out.text);
        assert_eq!(Install::recorded(&out.text), Some(Ok(git_pin())));
        assert!(
            !out.text.contains("cargo install --locked wharf"),
            "{}",
            out.text
        );
        let installs: Vec<String> = install_steps(platform, &parse(&out.text));
        assert!(!installs.is_empty(), "{platform:?}");
        assert!(
            installs.iter().all(|i| *i == cargo),
            "{platform:?}: {installs:?}"
        );
        assert!(install_matches(&out.text, platform, &pinned(git_pin())));
        // someone points the step at another commit, the header unchanged
        let edited = out.text.replace(
            &format!("--rev {REV}"),
            &format!("--rev {}", "f".repeat(40)),
        );
        assert!(
            !install_matches(&edited, platform, &pinned(git_pin())),
            "{platform:?}"
        );
    }
}

#[test]
fn a_release_file_is_checked_before_it_runs_on_every_platform() {
    let p = pipeline(RELEASE);
    let pin = Install::release(
        "https://dl.example.invalid/v0.3.0/wharf-x86_64-unknown-linux-gnu.tar.gz",
        SHA,
    )
    .unwrap();
    for platform in PLATFORMS {
        let out = export(&p, platform, &pinned(pin.clone()));
        let yaml = parse(&out.text);
        for step in install_steps(platform, &yaml) {
            // Woodpecker's `$$` is a literal `$` once it has pre-processed the file
            let step = if platform == Platform::Woodpecker {
                assert!(!step.replace("$$", "").contains('$'), "{step}");
                step.replace("$$", "$")
            } else {
                step
            };
            let check = step
                .find(&format!("echo '{SHA}  download' | sha256sum -c -"))
                .unwrap_or_else(|| panic!("{step}"));
            assert!(step.find("tar -xzf").unwrap() > check, "{step}");
            assert!(
                step.find("\"$d/bin/wharf\" --version").unwrap() > check,
                "{step}"
            );
            let path = if platform == Platform::Github {
                "echo \"$d/bin\" >> \"$GITHUB_PATH\""
            } else {
                "export PATH=\"$d/bin:$PATH\""
            };
            assert!(step.ends_with(path), "{platform:?}: {step}");
        }
        assert_eq!(Install::recorded(&out.text), Some(Ok(pin.clone())));
        assert!(install_matches(&out.text, platform, &pinned(pin.clone())));
    }
}

#[test]
fn an_image_pin_is_the_image_every_job_runs_in() {
    let p = pipeline(RELEASE);
    let image = format!("ghcr.io/acme/wharf-ci@sha256:{SHA}");
    let pin = Install::image(&image).unwrap();
    let opts = ExportOptions {
        install: Some(pin.clone()),
        ..Default::default()
    };
    let gh = parse(&export(&p, Platform::Github, &opts).text);
    for (name, job) in gh["jobs"].as_object().unwrap() {
        assert_eq!(job["container"], image.as_str(), "{name}");
    }
    let gl = parse(&export(&p, Platform::Gitlab, &opts).text);
    assert_eq!(gl["default"]["image"], image.as_str());
    assert_eq!(gl["default"]["before_script"][0], "wharf --version");
    let wp = parse(&export(&p, Platform::Woodpecker, &opts).text);
    for (name, step) in wp["steps"].as_object().unwrap() {
        assert_eq!(step["image"], image.as_str(), "{name}");
    }
    let bb = parse(&export(&p, Platform::Bitbucket, &opts).text);
    assert_eq!(bb["image"], image.as_str());
    // the image is part of the pin: another one is noticed
    let text = export(&p, Platform::Gitlab, &opts).text;
    let other = text.replace(
        &image,
        &format!("ghcr.io/acme/wharf-ci@sha256:{}", "0".repeat(64)),
    );
    assert!(install_matches(&text, Platform::Gitlab, &opts));
    assert!(!install_matches(&other, Platform::Gitlab, &opts));
}

#[test]
fn without_a_source_the_install_step_fails_saying_why() {
    let p = pipeline(RELEASE);
    for platform in PLATFORMS {
        let out = export(&p, platform, &ExportOptions::default());
        assert!(Install::recorded(&out.text).is_none());
        for step in install_steps(platform, &parse(&out.text)) {
            assert!(
                step.contains("no install source was pinned") && step.ends_with("exit 1"),
                "{step}"
            );
        }
    }
}

/// Every install step's command in an exported file.
fn install_steps(platform: Platform, yaml: &serde_json::Value) -> Vec<String> {
    let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    match platform {
        Platform::Github => yaml["jobs"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|j| j["steps"].as_array().unwrap().clone())
            .filter(|st| st["name"] == "Install wharf")
            .map(|st| s(&st["run"]))
            .collect(),
        Platform::Gitlab => vec![s(&yaml["default"]["before_script"][0])],
        Platform::Woodpecker => yaml["steps"]
            .as_object()
            .unwrap()
            .values()
            .map(|st| s(&st["commands"][0]))
            .collect(),
        Platform::Bitbucket => yaml["pipelines"]["branches"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|steps| steps.as_array().unwrap().clone())
            .flat_map(|st| match st.get("parallel") {
                Some(group) => group.as_array().unwrap().clone(),
                None => vec![st],
            })
            .map(|st| s(&st["step"]["script"][0]))
            .collect(),
    }
}
