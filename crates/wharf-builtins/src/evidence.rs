//! What proves a release, made by the `release` step once it knows what the release ships:
//! one SLSA v1 provenance statement (in-toto Statement v1) listing every item as a
//! subject, in a DSSE envelope signed with the project's release key; the public key
//! beside it; and for each pushed image a cosign-format signature and the envelope
//! attached to the image in its registry. The files are kept with the run (as the
//! release job's artifacts) and listed, by digest, in the release record.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wharf_engine::BuiltinRequest;
use wharf_engine::logs::LogWriter;
use wharf_model::{Evidence, EvidenceKind, Produced, ProducedKind, ReleaseRecord};
use wharf_oci::registry::attach::{self, Subject};
use wharf_oci::registry::{ClientOptions, Reference};
use wharf_secrets::signing::{Envelope, ReleaseKey};

use super::say;

/// The provenance's `buildType`: what its parameters mean is documented in
/// docs/supply-chain.md.
pub const BUILD_TYPE: &str = "https://example.invalid/wharf/buildtypes/pipeline/v1";
/// The in-toto payload type of a DSSE envelope.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// A DSSE envelope as a registry layer.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The provenance statement of `record`, made by run `req.run` of the project;
/// `byproducts` (name, `sha256:…`) are the documents made with it (its SBOMs).
pub fn statement(
    req: &BuiltinRequest,
    record: &ReleaseRecord,
    byproducts: &[(String, String)],
) -> Value {
    let subjects: Vec<Value> = record
        .items
        .iter()
        .filter_map(|i| {
            let hex = i.digest.strip_prefix("sha256:")?;
            Some(json!({"name": i.name, "digest": {"sha256": hex}}))
        })
        .collect();
    let reference = match (&req.event.tag, &req.event.branch) {
        (Some(t), _) => format!("refs/tags/{t}"),
        (None, Some(b)) => format!("refs/heads/{b}"),
        (None, None) => String::new(),
    };
    let repository = wharf_release::Repo::open(&req.project)
        .ok()
        .and_then(|r| r.origin_url())
        .unwrap_or_else(|| format!("file://{}", req.project.display()));
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let mut external = json!({
        "repository": repository,
        "ref": reference,
        "event": req.event.kind.as_str(),
        "version": record.version,
    });
    if !req.event.inputs.is_empty() {
        external["inputs"] = json!(req.event.inputs);
    }
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {"run": req.run, "job": req.job, "tag": record.tag},
                "resolvedDependencies": [{
                    "uri": format!("git+{repository}@{reference}"),
                    "digest": {"gitCommit": record.commit},
                }],
            },
            "runDetails": {
                "builder": {
                    "id": format!("urn:wharf:builder:{host}"),
                    "version": {"wharf": env!("CARGO_PKG_VERSION")},
                },
                "metadata": {
                    "invocationId": format!("urn:wharf:run:{host}:{}:{}", req.project.display(), req.run),
                    "finishedOn": rfc3339(record.created_at),
                },
                "byproducts": byproducts
                    .iter()
                    .map(|(name, digest)| json!({"name": name, "digest": {"sha256": digest.trim_start_matches("sha256:")}}))
                    .collect::<Vec<_>>(),
            },
        },
    })
}

/// Signs `record` with `key`: writes the envelope and the public key under
/// `release-evidence/VERSION/` in the job's workspace, signs each pushed image and
/// attaches the envelope to it, and lists it all in `record.evidence`. Returns the files
/// to keep with the run.
pub async fn prove(
    req: &BuiltinRequest,
    record: &mut ReleaseRecord,
    key: &ReleaseKey,
    log: &mut LogWriter,
    warnings: &mut Vec<String>,
) -> Result<Vec<Produced>, String> {
    let dir_rel = format!("release-evidence/{}", record.version);
    let dir = req.workspace.join(&dir_rel);
    std::fs::create_dir_all(dir.join("sbom"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let step = match &req.builtin {
        wharf_model::Builtin::Release(s) => Some(s),
        _ => None,
    };
    let password = match step.and_then(|s| s.password.as_ref()) {
        Some(name) => Some(
            req.secret(name)
                .cloned()
                .ok_or_else(|| format!("secret {name} is not available to this job"))?,
        ),
        None => None,
    };
    let options = super::push::options(
        step.map_or(&[][..], |s| &s.insecure),
        step.and_then(|s| s.username.as_deref()),
        password,
    );
    let docs = sboms(req, record, &options, log, warnings).await?;
    let mut byproducts: Vec<(String, String)> = docs
        .iter()
        .map(|d| (format!("{dir_rel}/sbom/{}", d.file), sha256(&d.bytes)))
        .collect();
    // The policy gate the release passed, if a job before it ran one.
    let gate = policy_outcome(req)?;
    if let Some((name, digest, _)) = &gate {
        byproducts.push((name.clone(), digest.clone()));
    }
    let mut statement = statement(req, record, &byproducts);
    if let Some((_, _, outcome)) = &gate {
        statement["predicate"]["buildDefinition"]["internalParameters"]["policy"] =
            outcome["policy"].clone();
    }
    let payload =
        serde_json::to_vec(&statement).map_err(|e| format!("the provenance statement: {e}"))?;
    let envelope = Envelope::sign(IN_TOTO, &payload, key).map_err(|e| e.to_string())?;
    // One envelope per line (the .intoto.jsonl convention verifiers read).
    let mut line = serde_json::to_vec(&envelope).map_err(|e| format!("the envelope: {e}"))?;
    line.push(b'\n');
    let mut kept = Vec::new();
    let mut evidence = Vec::new();
    let mut keep =
        |name: &str, bytes: &[u8], kind: EvidenceKind, subject: &str| -> Result<String, String> {
            let path = dir.join(name);
            std::fs::write(&path, bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            let rel = format!("{dir_rel}/{name}");
            let digest = sha256(bytes);
            kept.push(Produced {
                kind: ProducedKind::Evidence,
                name: rel.clone(),
                digest: digest.clone(),
                size: Some(bytes.len() as u64),
            });
            evidence.push(Evidence {
                kind,
                subject: subject.to_string(),
                name: rel,
                digest: digest.clone(),
                attached: None,
            });
            Ok(digest)
        };
    let env_digest = keep(
        "provenance.intoto.jsonl",
        &line,
        EvidenceKind::Provenance,
        "",
    )?;
    keep(
        "release.pub",
        key.public().pem().as_bytes(),
        EvidenceKind::PublicKey,
        "",
    )?;
    for d in &docs {
        keep(&format!("sbom/{}", d.file), &d.bytes, d.kind, &d.subject)?;
    }
    if let Some((name, digest, _)) = &gate {
        evidence.push(Evidence {
            kind: EvidenceKind::Policy,
            subject: String::new(),
            name: name.clone(),
            digest: digest.clone(),
            attached: None,
        });
    }
    say(
        log,
        format!(
            "signed the provenance of {} ({} subject{}) with release key {}",
            record.version,
            record.items.len(),
            if record.items.len() == 1 { "" } else { "s" },
            &key.public().id()[..16]
        ),
    );
    // The image carries the very bytes kept with the run: one digest for both.
    let envelope_bytes = line.clone();
    // One signature per image, however many tags name it.
    let mut images: Vec<&Produced> = Vec::new();
    for item in record
        .items
        .iter()
        .filter(|i| i.kind == ProducedKind::PushedImage)
    {
        let repo = |i: &Produced| i.name.rsplit_once(':').map(|(r, _)| r.to_string());
        if !images
            .iter()
            .any(|i| i.digest == item.digest && repo(i) == repo(item))
        {
            images.push(item);
        }
    }
    for item in images {
        let (signature, attached, sboms) = sign_image(
            item,
            &options,
            &envelope_bytes,
            &docs,
            &dir_rel,
            &record.version,
            key,
            log,
        )
        .await?;
        evidence.push(signature);
        evidence.extend(sboms);
        evidence.push(Evidence {
            kind: EvidenceKind::Provenance,
            subject: item.digest.clone(),
            name: format!("{dir_rel}/provenance.intoto.jsonl"),
            digest: env_digest.clone(),
            attached: Some(attached),
        });
    }
    record.evidence = evidence;
    Ok(kept)
}

/// Signs the pushed image `item` (cosign's format) and attaches `envelope` and its SBOMs
/// (of `docs`) to it.
#[allow(clippy::too_many_arguments)]
async fn sign_image(
    item: &Produced,
    options: &ClientOptions,
    envelope: &[u8],
    docs: &[SbomDoc],
    dir_rel: &str,
    version: &str,
    key: &ReleaseKey,
    log: &mut LogWriter,
) -> Result<(Evidence, String, Vec<Evidence>), String> {
    let tagged = Reference::parse(&item.name).map_err(|e| e.to_string())?;
    let pinned = Reference::parse(&format!("{}/{}@{}", tagged.host, tagged.name, item.digest))
        .map_err(|e| e.to_string())?;
    let what = format!("{}/{}@{}", tagged.host, tagged.name, item.digest);
    let subject = Subject::resolve(&pinned, options)
        .await
        .map_err(|e| format!("signing {what}: {e}"))?;
    let repository = format!("{}/{}", tagged.host, tagged.name);
    let payload = attach::simple_signing_payload(&repository, &subject.digest);
    let sig = key.sign(&payload).map_err(|e| e.to_string())?;
    let at = attach::add_cosign_signature(&subject, &payload, &STANDARD.encode(sig), options)
        .await
        .map_err(|e| format!("signing {what}: {e}"))?;
    let mut notes = BTreeMap::new();
    notes.insert("org.wharf.release".to_string(), version.to_string());
    let attached = attach::attach(&subject, IN_TOTO, DSSE_ENVELOPE, envelope, &notes, options)
        .await
        .map_err(|e| format!("attaching the provenance to {what}: {e}"))?;
    let mut sboms = Vec::new();
    for d in docs.iter().filter(|d| d.subject == item.digest) {
        let a = attach::attach(
            &subject,
            d.media_type(),
            d.media_type(),
            &d.bytes,
            &notes,
            options,
        )
        .await
        .map_err(|e| format!("attaching the SBOM {} to {what}: {e}", d.file))?;
        sboms.push(Evidence {
            kind: d.kind,
            subject: item.digest.clone(),
            name: format!("{dir_rel}/sbom/{}", d.file),
            digest: sha256(&d.bytes),
            attached: Some(a.reference),
        });
    }
    say(
        log,
        format!(
            "signed {what} ({at}); provenance and {} SBOM(s) attached ({})",
            sboms.len(),
            attached.found_by
        ),
    );
    Ok((
        Evidence {
            kind: EvidenceKind::Signature,
            subject: item.digest.clone(),
            name: at.clone(),
            digest: sha256(&payload),
            attached: Some(at),
        },
        attached.reference,
        sboms,
    ))
}

/// The outcome of the `policy` step of a job this release needs: its name, digest and
/// JSON (checked against the digest it was produced with).
fn policy_outcome(req: &BuiltinRequest) -> Result<Option<(String, String, Value)>, String> {
    let Some(p) = req
        .upstream_produced
        .iter()
        .rev()
        .find(|p| p.kind == ProducedKind::Evidence && p.name == super::policy::OUTCOME)
    else {
        return Ok(None);
    };
    let path = req.workspace.join(&p.name);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if sha256(&bytes) != p.digest {
        return Err(format!(
            "{}: not the policy outcome its job kept ({})",
            p.name, p.digest
        ));
    }
    let value = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", p.name))?;
    Ok(Some((p.name.clone(), p.digest.clone(), value)))
}

/// One SBOM of one release item.
pub struct SbomDoc {
    /// `sbom-spdx` or `sbom-cyclonedx`.
    pub kind: EvidenceKind,
    /// The item's digest.
    pub subject: String,
    /// The file name under `release-evidence/VERSION/sbom/`.
    pub file: String,
    /// The document.
    pub bytes: Vec<u8>,
}

impl SbomDoc {
    /// Its media type (cosign's SBOM spec's): the artifact type it is attached with.
    pub fn media_type(&self) -> &'static str {
        match self.kind {
            EvidenceKind::SbomSpdx => "text/spdx+json",
            _ => "application/vnd.cyclonedx+json",
        }
    }
}

/// A file name from a release item's name: what is safe in a path.
fn file_stem(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The dependencies a wheel was released with, as the release job's workspace records
/// them: `pylock.toml`, else a pinned `requirements.txt`; none when it has neither.
pub(crate) fn resolved_of(
    workspace: &std::path::Path,
) -> Result<(wharf_sbom::Resolved, String), String> {
    let lock = workspace.join("pylock.toml");
    if lock.is_file() {
        let r = wharf_sbom::Resolved::from_pylock(&lock).map_err(|e| e.to_string())?;
        return Ok((r, "pylock.toml".into()));
    }
    let req = workspace.join("requirements.txt");
    if req.is_file() {
        let r = wharf_sbom::Resolved::from_requirements(&req).map_err(|e| e.to_string())?;
        return Ok((r, "requirements.txt".into()));
    }
    Ok((
        wharf_sbom::Resolved::default(),
        "no pylock.toml or requirements.txt: the wheel's own metadata only".into(),
    ))
}

/// Who supplies what this project releases (the SBOM subjects' supplier, an NTIA minimum
/// element): the owner of its `origin` remote, else the project directory's name.
fn supplier(req: &BuiltinRequest) -> wharf_sbom::Supplier {
    let owner = wharf_release::Repo::open(&req.project)
        .ok()
        .and_then(|r| r.origin_url())
        .and_then(|u| wharf_release::parse_remote(&u))
        .map(|(_, owner, _)| owner);
    let name = owner.unwrap_or_else(|| {
        req.project
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "wharf".into())
    });
    wharf_sbom::Supplier::organization(&name)
}

/// SBOMs (SPDX 2.3 and CycloneDX 1.6) of every wheel, release package and pushed image
/// of `record`.
pub async fn sboms(
    req: &BuiltinRequest,
    record: &ReleaseRecord,
    options: &ClientOptions,
    log: &mut LogWriter,
    warnings: &mut Vec<String>,
) -> Result<Vec<SbomDoc>, String> {
    let created = u64::try_from(record.created_at / 1000).unwrap_or(0);
    let creation = wharf_sbom::Creation::new(created, env!("CARGO_PKG_VERSION"));
    let org = supplier(req);
    let mut out = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for item in &record.items {
        if done.contains(&item.digest) {
            continue;
        }
        let hex = item.digest.trim_start_matches("sha256:").to_string();
        let made: Result<Option<(wharf_sbom::Sbom, String)>, String> = async {
            Ok(Some(match item.kind {
                ProducedKind::Artifact if item.name.ends_with(".whl") => {
                    let path = req.workspace.join(&item.name);
                    let (resolved, from) = resolved_of(&req.workspace)?;
                    let sbom = tokio::task::spawn_blocking(move || {
                        wharf_sbom::from_wheel(&path, &resolved).map_err(|e| e.to_string())
                    })
                    .await
                    .map_err(|e| e.to_string())??;
                    (sbom, format!("wheel {} ({from})", item.name))
                }
                ProducedKind::Package => {
                    let hex = hex.clone();
                    let path = req.workspace.join(&item.name);
                    let name = item.name.clone();
                    let version = record.version.clone();
                    let sbom = tokio::task::spawn_blocking(move || {
                        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
                        let file = std::fs::File::open(&path)
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                        tar::Archive::new(flate2::read::GzDecoder::new(file))
                            .unpack(dir.path())
                            .map_err(|e| format!("unpacking {}: {e}", path.display()))?;
                        let file_name = file_stem(&name);
                        let stem = file_name.trim_end_matches(".tar.gz");
                        let subject = wharf_sbom::Subject::release_package(
                            stem,
                            Some(&version),
                            Some(&file_name),
                            Some(&hex),
                            None,
                        );
                        wharf_sbom::from_tree(dir.path(), subject).map_err(|e| e.to_string())
                    })
                    .await
                    .map_err(|e| e.to_string())??;
                    (sbom, format!("package {}", item.name))
                }
                ProducedKind::PushedImage => {
                    let tagged = Reference::parse(&item.name).map_err(|e| e.to_string())?;
                    let repository = format!("{}/{}", tagged.host, tagged.name);
                    let pinned = Reference::parse(&format!("{repository}@{}", item.digest))
                        .map_err(|e| e.to_string())?;
                    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
                    let layout = scratch.path().join("layout");
                    let pulled = wharf_oci::registry::pull(
                        &pinned,
                        &layout,
                        &wharf_oci::build::Platform::host(),
                        options,
                        &mut |_| {},
                    )
                    .await
                    .map_err(|e| format!("reading the image {pinned} for its SBOM: {e}"))?;
                    let digest = item.digest.clone();
                    let sbom = tokio::task::spawn_blocking(move || {
                        let root = scratch.path().join("rootfs");
                        wharf_oci::unpack::unpack(&layout, Some(&pulled.tag), &root)
                            .map_err(|e| e.to_string())?;
                        let subject = wharf_sbom::Subject::image(&repository, &digest, None);
                        wharf_sbom::from_tree(&root, subject).map_err(|e| e.to_string())
                    })
                    .await
                    .map_err(|e| e.to_string())??;
                    (
                        sbom,
                        format!("image {}@{}", tagged.name, &item.digest[..19]),
                    )
                }
                _ => return Ok(None),
            }))
        }
        .await;
        let (mut sbom, what) = match made {
            Ok(Some(x)) => x,
            Ok(None) => continue,
            Err(e) => {
                // One item without an SBOM does not stop the release: it is said, and
                // the release lists no SBOM for it.
                let w = format!("no SBOM of {} {}: {e}", item.kind.as_str(), item.name);
                say(log, format!("warning: {w}"));
                warnings.push(w);
                // Tried once per digest: three tags of an image that cannot be read
                // give one warning, not three.
                done.push(item.digest.clone());
                continue;
            }
        };
        done.push(item.digest.clone());
        if sbom.subject.supplier.is_none() {
            sbom.subject.supplier = Some(org.clone());
        }
        let spdx = wharf_sbom::to_spdx_2_3(&sbom, &creation).map_err(|e| e.to_string())?;
        let cdx = wharf_sbom::to_cyclonedx_1_6(&sbom, &creation).map_err(|e| e.to_string())?;
        say(
            log,
            format!(
                "SBOM of {what}: {} package(s), {} file(s)",
                sbom.packages.len(),
                sbom.files.len()
            ),
        );
        let stem = match item.kind {
            ProducedKind::PushedImage => format!("image-{}", &hex[..12]),
            _ => file_stem(&item.name),
        };
        out.push(SbomDoc {
            kind: EvidenceKind::SbomSpdx,
            subject: item.digest.clone(),
            file: format!("{stem}.spdx.json"),
            bytes: spdx.into_bytes(),
        });
        out.push(SbomDoc {
            kind: EvidenceKind::SbomCyclonedx,
            subject: item.digest.clone(),
            file: format!("{stem}.cdx.json"),
            bytes: cdx.into_bytes(),
        });
    }
    Ok(out)
}
