//! Resolving the secrets a run needs, before anything runs.
//!
//! Each job gets only the secrets it declares (`secrets: [NAME]`). A job with an
//! `environment:` gets that environment's value when one is stored, else the value for
//! every environment. Every missing secret is reported at once, before the first step
//! starts. Runs for `pull_request` events get none unless the pipeline opts in, since a
//! pull request runs code its author controls.

use std::collections::HashMap;
use std::sync::Arc;

use wharf_model::{EventKind, Plan};
use wharf_secrets::crypto::{self, Sealed};
use wharf_secrets::mask::MaskSet;
use wharf_secrets::secret::SecretString;
use wharf_store::SecretStore;

use crate::error::{Error, Result};

/// What one plan's jobs get.
pub struct Resolved {
    /// Declared secrets by job index.
    pub by_job: HashMap<usize, Vec<(String, SecretString)>>,
    /// Every value of this run, in every form, for masking (None when there are none).
    pub masks: Option<Arc<MaskSet>>,
    /// Jobs that declared secrets but get none (pull request without opt-in).
    pub withheld: Vec<String>,
    /// The stored records of deployment jobs (an `environment:` with protection rules),
    /// found but not decrypted: opened by the gate once the environment's rules passed.
    pub deferred: HashMap<usize, Vec<(String, wharf_store::SecretRecord)>>,
}

/// Where declared secrets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// wharf's encrypted secret store.
    Store,
    /// wharf's own environment, one variable per secret name (`--secrets-from-env`):
    /// what CI platforms do when they inject their secret store into a job.
    Environment,
}

/// Resolves the secrets of `plan`'s jobs from `store` (or the environment). Stored values
/// are opened with the key from `WHARF_SECRET_KEY`, else `key_file` when given (the
/// server's, in its data directory), else the user's key file.
pub async fn resolve<S: SecretStore>(
    store: &S,
    plan: &Plan,
    source: Source,
    key_file: Option<&std::path::Path>,
) -> Result<Resolved> {
    let mut resolved = Resolved {
        by_job: HashMap::new(),
        masks: None,
        withheld: Vec::new(),
        deferred: HashMap::new(),
    };
    let skipped = crate::select::statically_skipped(plan);
    let wanted: Vec<usize> = (0..plan.jobs.len())
        .filter(|&i| !plan.jobs[i].secrets.is_empty() && !skipped[i])
        .collect();
    if wanted.is_empty() {
        return Ok(resolved);
    }
    // A pull request from a fork runs code from outside the repository: no secrets, even
    // for a pipeline that opted in for its own branches' pull requests.
    if plan.event.kind == EventKind::PullRequest && (!plan.pull_request_secrets || plan.event.fork)
    {
        resolved.withheld = wanted.iter().map(|&i| plan.jobs[i].id.clone()).collect();
        return Ok(resolved);
    }
    if source == Source::Environment {
        return from_environment(plan, &wanted, resolved);
    }
    // Find every record first, so every missing one is named in one error.
    let mut records = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    for &i in &wanted {
        let job = &plan.jobs[i];
        for name in &job.secrets {
            let env = job.environment.as_deref();
            let mut rec = None;
            if let Some(env) = env {
                rec = store
                    .get_secret(name, Some(env))
                    .await
                    .map_err(Error::store("reading the secret store"))?;
            }
            if rec.is_none() {
                rec = store
                    .get_secret(name, None)
                    .await
                    .map_err(Error::store("reading the secret store"))?;
            }
            match rec {
                Some(r) => records.push((i, name.clone(), r)),
                None => missing.push(match env {
                    Some(e) => format!("{name} (job `{}`, environment `{e}`)", job.id),
                    None => format!("{name} (job `{}`)", job.id),
                }),
            }
        }
    }
    if !missing.is_empty() {
        let first = missing[0].split(' ').next().unwrap_or("NAME").to_string();
        return Err(Error::invalid(
            format!(
                "{} declared secret{} not in the secret store: {}",
                missing.len(),
                if missing.len() == 1 { " is" } else { "s are" },
                missing.join(", ")
            ),
            format!("store one with `wharf secrets set {first}` (the value is read from stdin)"),
        ));
    }
    // A deployment job's secrets wait for its gates: decrypted only once they passed.
    let gated = |i: usize| {
        plan.jobs[i]
            .environment
            .as_ref()
            .is_some_and(|e| plan.environments.iter().any(|r| &r.name == e))
    };
    let (later, now): (Vec<_>, Vec<_>) = records.into_iter().partition(|(i, _, _)| gated(*i));
    for (i, name, rec) in later {
        resolved.deferred.entry(i).or_default().push((name, rec));
    }
    if !now.is_empty() {
        let key = load_key(key_file)?;
        for (i, name, rec) in now {
            let value = open(&key, &name, &rec)?;
            resolved.by_job.entry(i).or_default().push((name, value));
        }
    }
    resolved.masks = Some(masks(&resolved));
    Ok(resolved)
}

/// The key that opens stored secrets: `WHARF_SECRET_KEY`, else `key_file` when given (the
/// server's), else the user's key file.
pub fn load_key(key_file: Option<&std::path::Path>) -> Result<wharf_secrets::key::SecretKey> {
    let loaded = match key_file {
        Some(file) => {
            let env = std::env::var(wharf_secrets::key::KEY_ENV).ok();
            wharf_secrets::key::load_key_from(env.as_deref(), file, false)
        }
        None => wharf_secrets::key::load_key(false),
    };
    let (key, _) = loaded.map_err(|e| Error::Invalid {
        message: e.to_string(),
        hint: None,
    })?;
    Ok(key)
}

fn from_environment(plan: &Plan, wanted: &[usize], mut resolved: Resolved) -> Result<Resolved> {
    let mut missing: Vec<String> = Vec::new();
    for &i in wanted {
        let job = &plan.jobs[i];
        for name in &job.secrets {
            match std::env::var(name) {
                Ok(v) if !v.is_empty() => {
                    resolved
                        .by_job
                        .entry(i)
                        .or_default()
                        .push((name.clone(), SecretString::new(v)));
                }
                _ => missing.push(format!("{name} (job `{}`)", job.id)),
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::invalid(
            format!(
                "{} declared secret{} not set in the environment: {}",
                missing.len(),
                if missing.len() == 1 { " is" } else { "s are" },
                missing.join(", ")
            ),
            "with --secrets-from-env each secret comes from the variable of the same name; map it from the CI platform's secret store",
        ));
    }
    resolved.masks = Some(masks(&resolved));
    Ok(resolved)
}

/// Every form of every resolved value, for masking.
fn masks(resolved: &Resolved) -> Arc<MaskSet> {
    // Borrowed from the SecretStrings: no plaintext copy to wipe afterwards.
    let values: Vec<&[u8]> = resolved
        .by_job
        .values()
        .flatten()
        .map(|(_, v)| v.expose().as_bytes())
        .collect();
    Arc::new(MaskSet::new(&values))
}

/// Decrypts one stored secret record with `key`.
pub fn open(
    key: &wharf_secrets::key::SecretKey,
    name: &str,
    rec: &wharf_store::SecretRecord,
) -> Result<SecretString> {
    let sealed = Sealed {
        key_id: rec.key_id.clone(),
        nonce: rec.nonce.clone(),
        ciphertext: rec.ciphertext.clone(),
    };
    crypto::open(key, &rec.name, rec.scope.as_deref(), &sealed).map_err(|e| Error::Invalid {
        message: format!("secret {name}: {e}"),
        hint: None,
    })
}
