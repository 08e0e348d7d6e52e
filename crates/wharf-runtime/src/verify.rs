//! `wharf release verify`: every digest, signature and attached document of a recorded
//! release checked again, against the project's release keys and what the registries
//! and the artifact store hold now.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use wharf_model::{EvidenceKind, ProducedKind, ReleaseRecord};
use wharf_oci::registry::attach::{self, Subject};
use wharf_oci::registry::{ClientOptions, Reference};
use wharf_secrets::signing::{Envelope, PublicKey};

/// One check and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub what: String,
    /// Whether it holds.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// Where the kept documents and artifacts are read from: the content-addressed store.
pub trait Blobs {
    /// The bytes of blob `sha256` (hex), if the store has it and it still matches.
    fn read(&self, sha256_hex: &str) -> Option<Vec<u8>>;
}

/// A project's artifact store (`.wharf/`, or a server project's state directory).
pub struct StoreBlobs(pub wharf_store::ArtifactStore);

impl Blobs for StoreBlobs {
    fn read(&self, sha256_hex: &str) -> Option<Vec<u8>> {
        // Read once, checked in memory (not hashed from disk, then read again).
        let bytes = std::fs::read(self.0.object_path(sha256_hex).ok()?).ok()?;
        let digest = wharf_policy::sha256(&bytes);
        (digest.strip_prefix("sha256:") == Some(sha256_hex)).then_some(bytes)
    }
}

/// The outcome of the policy gate `rec` passed (its `policy` evidence), read back by its
/// digest; `None` when it passed none, or the document is gone or changed.
pub fn gate(rec: &ReleaseRecord, blobs: &dyn Blobs) -> Option<wharf_policy::Outcome> {
    let e = rec
        .evidence
        .iter()
        .find(|e| e.kind == EvidenceKind::Policy)?;
    serde_json::from_slice(&blobs.read(hex_of(&e.digest))?).ok()
}

fn check(out: &mut Vec<Check>, what: impl Into<String>, ok: bool, detail: impl Into<String>) {
    out.push(Check {
        what: what.into(),
        ok,
        detail: detail.into(),
    });
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Checks `rec`: its provenance envelope against `keys` (the project's release keys, PEM,
/// current and retired), the statement's subjects against the record's items, each
/// stored item against its digest, and each pushed image's signature and attached
/// provenance in its registry.
pub async fn verify(rec: &ReleaseRecord, keys: &[String], blobs: &dyn Blobs) -> Vec<Check> {
    let mut out = Vec::new();
    let find = |kind: EvidenceKind| {
        rec.evidence
            .iter()
            .find(|e| e.kind == kind && e.subject.is_empty())
    };
    let (Some(prov), Some(pubkey)) = (
        find(EvidenceKind::Provenance),
        find(EvidenceKind::PublicKey),
    ) else {
        check(
            &mut out,
            format!("release {} is signed", rec.version),
            false,
            "the record lists no signed provenance (released before wharf signed releases, or without a release key)",
        );
        return out;
    };
    // The key: the one the release names, and one of the project's.
    let Some(pem) = blobs.read(hex_of(&pubkey.digest)) else {
        check(
            &mut out,
            "the release's public key is kept",
            false,
            format!(
                "{} ({}) is not in the artifact store",
                pubkey.name, pubkey.digest
            ),
        );
        return out;
    };
    let pem = String::from_utf8_lossy(&pem).into_owned();
    let key = match PublicKey::from_pem(&pem) {
        Ok(k) => k,
        Err(e) => {
            check(&mut out, "the release's public key", false, e.to_string());
            return out;
        }
    };
    let known = keys
        .iter()
        .filter_map(|k| PublicKey::from_pem(k).ok())
        .any(|k| k == key);
    check(
        &mut out,
        format!("release key {} is one of the project's", &key.id()[..16]),
        known,
        if known {
            "listed by `wharf keys show`".to_string()
        } else {
            "not a key of this project: `wharf keys show` lists them".to_string()
        },
    );
    // The envelope and its statement.
    let Some(line) = blobs.read(hex_of(&prov.digest)) else {
        check(
            &mut out,
            "the provenance is kept",
            false,
            format!(
                "{} ({}) is not in the artifact store",
                prov.name, prov.digest
            ),
        );
        return out;
    };
    let envelope: Envelope = match serde_json::from_slice(line.trim_ascii_end()) {
        Ok(e) => e,
        Err(e) => {
            check(
                &mut out,
                "the provenance envelope",
                false,
                format!("not a DSSE envelope: {e}"),
            );
            return out;
        }
    };
    let payload = match envelope.verify(&key) {
        Ok(p) => {
            check(
                &mut out,
                "the provenance's signature",
                true,
                format!("DSSE, {}", envelope.payload_type),
            );
            p
        }
        Err(why) => {
            check(&mut out, "the provenance's signature", false, why);
            return out;
        }
    };
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
    let shape = statement["_type"] == "https://in-toto.io/Statement/v1"
        && statement["predicateType"] == "https://slsa.dev/provenance/v1";
    check(
        &mut out,
        "the provenance is an in-toto Statement v1 with a SLSA v1 predicate",
        shape,
        format!("{} / {}", statement["_type"], statement["predicateType"]),
    );
    let commit =
        statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"]
            .as_str()
            .unwrap_or_default();
    check(
        &mut out,
        "the provenance names the released commit",
        commit == rec.commit,
        commit.to_string(),
    );
    let subjects: Vec<String> = statement["subject"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["digest"]["sha256"].as_str())
                .map(|h| format!("sha256:{h}"))
                .collect()
        })
        .unwrap_or_default();
    for item in &rec.items {
        let listed = subjects.contains(&item.digest);
        check(
            &mut out,
            format!(
                "{} {} is a subject of the provenance",
                item.kind.as_str(),
                item.name
            ),
            listed,
            item.digest.clone(),
        );
    }
    if subjects.len() != rec.items.len() {
        check(
            &mut out,
            "the provenance lists exactly the release's items",
            false,
            format!("{} subjects, {} items", subjects.len(), rec.items.len()),
        );
    }
    // Each SBOM: kept with its digest, named by the signed provenance, and where it is
    // attached to an image, there with the same digest.
    let byproducts: Vec<String> = statement["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| b["digest"]["sha256"].as_str())
                .map(|h| format!("sha256:{h}"))
                .collect()
        })
        .unwrap_or_default();
    for e in rec
        .evidence
        .iter()
        .filter(|e| matches!(e.kind, EvidenceKind::SbomSpdx | EvidenceKind::SbomCyclonedx))
    {
        if e.attached.is_none() {
            let kept = blobs.read(hex_of(&e.digest)).is_some();
            check(
                &mut out,
                format!("{} {} is kept with its digest", e.kind.as_str(), e.name),
                kept,
                e.digest.clone(),
            );
            check(
                &mut out,
                format!("{} {} is named by the provenance", e.kind.as_str(), e.name),
                byproducts.contains(&e.digest),
                e.digest.clone(),
            );
        }
    }
    // What the artifact store keeps still has its digest.
    for item in rec
        .items
        .iter()
        .filter(|i| matches!(i.kind, ProducedKind::Artifact | ProducedKind::Package))
    {
        let ok = blobs.read(hex_of(&item.digest)).is_some();
        check(
            &mut out,
            format!(
                "{} {} is kept with its digest",
                item.kind.as_str(),
                item.name
            ),
            ok,
            if ok {
                item.digest.clone()
            } else {
                format!(
                    "{} is missing or changed in the artifact store",
                    item.digest
                )
            },
        );
    }
    // Each pushed image: still there, signed by the key, its provenance attached.
    let mut seen: Vec<(String, String)> = Vec::new();
    for item in rec
        .items
        .iter()
        .filter(|i| i.kind == ProducedKind::PushedImage)
    {
        // Once per image, however many tags name it.
        let repo = item
            .name
            .rsplit_once(':')
            .map_or(item.name.as_str(), |(r, _)| r);
        let key_of = (repo.to_string(), item.digest.clone());
        if seen.contains(&key_of) {
            continue;
        }
        seen.push(key_of);
        image(&mut out, item, &key, &prov.digest).await;
        for e in rec.evidence.iter().filter(|e| {
            e.subject == item.digest
                && matches!(e.kind, EvidenceKind::SbomSpdx | EvidenceKind::SbomCyclonedx)
                && e.attached.is_some()
        }) {
            attached_sbom(&mut out, item, e).await;
        }
    }
    out
}

async fn image(out: &mut Vec<Check>, item: &wharf_model::Produced, key: &PublicKey, prov: &str) {
    let Ok(tagged) = Reference::parse(&item.name) else {
        check(
            out,
            format!("image {}", item.name),
            false,
            "not an image reference",
        );
        return;
    };
    let what = format!("{}/{}@{}", tagged.host, tagged.name, item.digest);
    let options = ClientOptions::default();
    let subject = match Reference::parse(&what) {
        Ok(r) => Subject::resolve(&r, &options).await,
        Err(e) => Err(e),
    };
    let subject = match subject {
        Ok(s) => {
            check(
                out,
                format!("image {what} is in its registry"),
                true,
                s.media_type.clone(),
            );
            s
        }
        Err(e) => {
            check(
                out,
                format!("image {what} is in its registry"),
                false,
                e.to_string(),
            );
            return;
        }
    };
    let repository = format!("{}/{}", tagged.host, tagged.name);
    match attach::cosign_signatures(&subject, &options).await {
        Ok(sigs) => {
            let good = sigs.iter().any(|(payload, sig)| {
                let Ok(raw) = STANDARD.decode(sig) else {
                    return false;
                };
                let p: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
                key.verify(payload, &raw)
                    && p["critical"]["image"]["docker-manifest-digest"] == item.digest.as_str()
                    && p["critical"]["identity"]["docker-reference"] == repository.as_str()
            });
            check(
                out,
                format!("image {what} is signed by the release key"),
                good,
                format!("{} signature(s) at {}", sigs.len(), subject.signature_tag()),
            );
        }
        Err(e) => check(
            out,
            format!("image {what} is signed by the release key"),
            false,
            e.to_string(),
        ),
    }
    let attached = match attach::referrers(&subject, &options).await {
        Ok(list) => {
            let mut found = false;
            for d in list
                .iter()
                .filter(|d| d["artifactType"] == crate::verify::IN_TOTO)
            {
                let Some(digest) = d["digest"]
                    .as_str()
                    .and_then(|s| wharf_oci::Digest::parse(s).ok())
                else {
                    continue;
                };
                if let Ok((_, data)) = attach::fetch_attached(&subject, &digest, &options).await {
                    found |= wharf_oci::Digest::of(&data).to_string() == prov;
                }
            }
            (found, format!("{} attached document(s)", list.len()))
        }
        Err(e) => (false, e.to_string()),
    };
    check(
        out,
        format!("image {what} carries the provenance"),
        attached.0,
        attached.1,
    );
}

/// Whether the SBOM `e` attached to image `item` is there with its digest.
async fn attached_sbom(
    out: &mut Vec<Check>,
    item: &wharf_model::Produced,
    e: &wharf_model::Evidence,
) {
    let what = format!("{} attached to {}", e.kind.as_str(), item.name);
    let Some(at) = e.attached.as_deref() else {
        return;
    };
    let found = async {
        let r = Reference::parse(at).ok()?;
        let artifact = r.digest.clone()?;
        let image = Reference::parse(&format!("{}/{}@{}", r.host, r.name, item.digest)).ok()?;
        let options = ClientOptions::default();
        let subject = Subject::resolve(&image, &options).await.ok()?;
        let (_, data) = attach::fetch_attached(&subject, &artifact, &options)
            .await
            .ok()?;
        Some(wharf_oci::Digest::of(&data).to_string())
    }
    .await;
    match found {
        Some(d) => check(out, what, d == e.digest, format!("{at}: {d}")),
        None => check(out, what, false, format!("{at} cannot be read")),
    }
}

/// The in-toto artifact type provenance is attached with (the builder's own).
pub use wharf_builtins::IN_TOTO;
