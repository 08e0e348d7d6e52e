//! `wharf validate`, `graph`, `schema` and invalid input through the binary.

use crate::helper::Project;

#[test]
fn valid_file_passes_and_lists_pipelines() {
    let p = Project::new(
        "version: 1\nname: demo\njobs:\n  a:\n    run: \"true\"\n  b:\n    needs: [a]\n    run: \"true\"\n",
    );
    p.wharf(&["validate"]).expect(0);
    let r = p.wharf(&["validate", "--json"]).expect(0);
    let v = r.json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["pipelines"][0]["name"], "demo");
}

#[test]
fn invalid_file_exits_2_with_position_source_caret_and_hint() {
    let p = Project::new("version: 1\njobs:\n  build:\n    nedds: [test]\n    run: make\n");
    let r = p.wharf(&["validate"]).expect(2);
    let err = r.stderr();
    assert!(err.contains("wharf.yml:4:5"), "{err}");
    assert!(err.contains("nedds: [test]"), "{err}");
    assert!(err.contains("^^^^^"), "{err}");
    assert!(err.contains("did you mean `needs`"), "{err}");
    let r = p.wharf(&["validate", "--json"]).expect(2);
    let v = r.json();
    assert_eq!(v["valid"], false);
    assert_eq!(v["diagnostics"][0]["line"], 4);
    // every command that reads the file refuses it the same way
    let r = p.wharf(&["run"]).expect(2);
    assert!(r.stderr().contains("wharf.yml:4:5"), "{}", r.stderr());
}

#[test]
fn outside_values_in_run_text_are_refused_with_the_variable_to_use() {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: echo ${{ branch }}\n");
    let r = p.wharf(&["run"]).expect(2);
    assert!(r.stderr().contains("WHARF_BRANCH"), "{}", r.stderr());
    assert!(!p.path().join(".wharf/wharf.db").exists());
}

#[test]
fn cycles_are_printed() {
    let p = Project::new(
        "version: 1\njobs:\n  a:\n    needs: [c]\n    run: \"true\"\n  b:\n    needs: [a]\n    run: \"true\"\n  c:\n    needs: [b]\n    run: \"true\"\n",
    );
    let r = p.wharf(&["validate"]).expect(2);
    assert!(
        r.stderr().contains("a -> c -> b -> a") || r.stderr().contains("-> a"),
        "{}",
        r.stderr()
    );
}

#[test]
fn no_pipeline_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::helper::bin())
        .arg("validate")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no pipeline file") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn graph_in_three_formats() {
    let p = Project::new(
        "version: 1\njobs:\n  test:\n    run: \"true\"\n  build:\n    needs: [test]\n    run: \"true\"\n",
    );
    let text = p.wharf(&["graph"]).expect(0).stdout();
    assert!(text.contains("test") && text.contains("build"), "{text}");
    let dot = p.wharf(&["graph", "--format", "dot"]).expect(0).stdout();
    assert!(dot.contains("digraph") && dot.contains("->"), "{dot}");
    let mmd = p
        .wharf(&["graph", "--format", "mermaid"])
        .expect(0)
        .stdout();
    assert!(mmd.contains("flowchart") || mmd.contains("graph"), "{mmd}");
}

#[test]
fn schema_is_json_and_matches_the_checked_in_file() {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    let out = p.wharf(&["schema"]).expect(0).json();
    let checked_in: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schema/wharf.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(out, checked_in);
}

#[test]
fn bad_flags_exit_2() {
    let p = Project::new("version: 1\njobs:\n  a:\n    run: \"true\"\n");
    let r = p.wharf(&["run", "--event", "tag"]).expect(2);
    assert!(r.stderr().contains("--tag"), "{}", r.stderr());
    let r = p.wharf(&["run", "--input", "x=1"]).expect(2);
    assert!(r.stderr().contains("--event manual"), "{}", r.stderr());
    let r = p.wharf(&["run", "nope"]).expect(2);
    assert!(r.stderr().contains("no job named `nope`"), "{}", r.stderr());
    p.wharf(&["run", "--event", "bogus"]).expect(2);
}

/// Every unknown key of a file is reported in one pass, each with its position and hint.
#[test]
fn every_unknown_key_is_reported_at_once() {
    let p = Project::new(
        "version: 1\njobs:\n  a:\n    runs: echo\n    needz: [b]\n  b:\n    run: \"true\"\n    artifact:\n      - x\n      - y\n",
    );
    let r = p.wharf(&["validate"]).expect(2);
    let err = r.stderr();
    for (key, line, hint) in [
        ("runs", "wharf.yml:4:5", "did you mean `run`?"),
        ("needz", "wharf.yml:5:5", "did you mean `needs`?"),
        ("artifact", "wharf.yml:8:5", "did you mean `artifacts`?"),
    ] {
        assert!(
            err.contains(&format!("unknown key `{key}`")),
            "{key}: {err}"
        );
        assert!(err.contains(line), "{line}: {err}");
        assert!(err.contains(hint), "{hint}: {err}");
    }
    assert!(err.contains("3 problems found"), "{err}");
}

/// `needs: build`, one name without a list, as GitHub Actions accepts it.
#[test]
fn needs_takes_one_name_without_a_list() {
    let p = Project::new(
        "version: 1\nworkspace: shared\njobs:\n  build:\n    run: touch built\n  test:\n    needs: build\n    run: test -f built && touch tested\n",
    );
    p.allow_settings(&["workspace.shared"]);
    p.wharf(&["validate"]).expect(0);
    p.wharf(&["run", "--plain"]).expect(0);
    assert!(p.path().join("tested").exists());
    let p = Project::new("version: 1\njobs:\n  test:\n    needs: nope\n    run: \"true\"\n");
    let err = p.wharf(&["validate"]).expect(2).stderr();
    assert!(
        err.contains("job `test` needs `nope`, which does not exist"),
        "{err}"
    );
}

/// A value of the wrong shape names what the key takes, even inside a flow mapping.
#[test]
fn a_value_of_the_wrong_shape_says_what_the_key_takes() {
    let p = Project::new(
        "version: 1\njobs:\n  image:\n    steps:\n      - build-image: { image: 127.0.0.1:5000/app, insecure: 127.0.0.1:5000 }\n",
    );
    let err = p.wharf(&["validate"]).expect(2).stderr();
    assert!(
        err.contains("invalid value for `insecure` in `build-image` in a step of job `image`"),
        "{err}"
    );
    assert!(err.contains("expected a list"), "{err}");
    assert!(
        err.contains("`insecure` takes a list of registry hosts")
            && err.contains("loopback registries (127.0.0.1, localhost) need none"),
        "{err}"
    );
    assert!(!err.contains("sequence start"), "{err}");
}
