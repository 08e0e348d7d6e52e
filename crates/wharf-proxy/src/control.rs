//! The control side: what the API's requests do to the services. Every change is made on
//! a copy, written to the state file, and only then swapped in (the state and a new
//! routing table), so a change that cannot be persisted does not happen. Health gates
//! and drains run outside the lock; the switch itself is one swap of the table.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::Shared;
use crate::api::{CanaryRequest, DeployRequest, ServiceSpec};
use crate::error::{Error, Result};
use crate::health::{self, HealthSpec, Probe};
use crate::metrics::Metrics;
use crate::state::{CanarySpec, ServiceState, State, TargetSpec};
use crate::table::{Route, Table};
use crate::target::{Drain, Target};

/// How long the one probe before a rollback may take.
const ROLLBACK_PROBE: Duration = Duration::from_secs(2);

/// The live targets of one service.
#[derive(Clone, Default)]
pub(crate) struct Live {
    primary: Option<Arc<Target>>,
    canary: Option<Arc<Target>>,
    preview: Option<Arc<Target>>,
}

impl Live {
    fn targets(&self) -> impl Iterator<Item = &Arc<Target>> {
        [&self.primary, &self.canary, &self.preview]
            .into_iter()
            .flatten()
    }
}

/// The services: their persisted state and their live targets.
pub(crate) struct Control {
    state: State,
    live: BTreeMap<String, Live>,
}

impl Control {
    /// The live targets of a restored state: served at once, as before the restart.
    pub(crate) fn restore(state: State, metrics: &Metrics) -> Result<Control> {
        let mut live = BTreeMap::new();
        for (name, svc) in &state.services {
            let make = |spec: &TargetSpec| Target::new(name, spec.clone(), metrics);
            live.insert(
                name.clone(),
                Live {
                    primary: svc.primary.as_ref().map(make).transpose()?,
                    canary: svc.canary.as_ref().map(|c| make(&c.target)).transpose()?,
                    preview: svc.preview.as_ref().map(make).transpose()?,
                },
            );
        }
        Ok(Control { state, live })
    }

    /// How many services it has.
    pub(crate) fn len(&self) -> usize {
        self.state.services.len()
    }

    /// The routing table of these services.
    pub(crate) fn table(&self) -> Table {
        let mut t = Table::default();
        for (name, svc) in &self.state.services {
            let l = self.live.get(name).cloned().unwrap_or_default();
            let weight = svc.canary.as_ref().map_or(0, |c| c.weight);
            let route = Arc::new(Route {
                service: name.as_str().into(),
                primary: l.primary,
                canary: l.canary.map(|c| (c, weight)),
                preview: l.preview,
                sticky: svc.sticky.clone(),
            });
            t.add(route, &svc.hosts, svc.preview_host.as_deref(), svc.default);
        }
        t
    }
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!(
        "no service {name:?}; create it with PUT /services/{name}"
    ))
}

fn service<'a>(state: &'a mut State, name: &str) -> Result<&'a mut ServiceState> {
    state.services.get_mut(name).ok_or_else(|| not_found(name))
}

fn spec_json(spec: Option<&TargetSpec>) -> Value {
    spec.map_or(
        Value::Null,
        |s| json!({"release": s.release, "addr": s.addr}),
    )
}

/// Refuses a switch of the primary while a canary or a preview is pending: which of
/// them should survive it is the deployer's call, not the proxy's.
fn check_nothing_pending(name: &str, svc: &ServiceState) -> Result<()> {
    if let Some(c) = &svc.canary {
        return Err(Error::Conflict(format!(
            "service {name} has a canary ({} at {} %): promote it (POST /services/{name}/promote) \
             or drop it (DELETE /services/{name}/canary) first",
            c.target.release, c.weight
        )));
    }
    if let Some(p) = &svc.preview {
        return Err(Error::Conflict(format!(
            "service {name} has a preview ({}): promote it (POST /services/{name}/promote) \
             or drop it (DELETE /services/{name}/preview) first",
            p.release
        )));
    }
    Ok(())
}

impl Shared {
    /// Makes a change on copies of the state and the live targets, persists it, then
    /// swaps it in; the targets no longer live after it (to drain).
    async fn change<T>(
        &self,
        f: impl FnOnce(&mut State, &mut BTreeMap<String, Live>) -> Result<T>,
    ) -> Result<(T, Vec<Arc<Target>>)> {
        let mut control = self.control.lock().await;
        let mut state = control.state.clone();
        let mut live = control.live.clone();
        let out = f(&mut state, &mut live)?;
        // The file is written under the lock, blocking: changes are rare, small and must
        // reach the disk in order.
        crate::state::save(&self.config.state_file, &state)?;
        let before: Vec<Arc<Target>> = control
            .live
            .values()
            .flat_map(|l| l.targets().cloned())
            .collect();
        control.state = state;
        control.live = live;
        let removed = before
            .into_iter()
            .filter(|t| {
                !control
                    .live
                    .values()
                    .any(|l| l.targets().any(|n| Arc::ptr_eq(n, t)))
            })
            .collect();
        self.publish(control.table());
        Ok((out, removed))
    }

    /// Reads the state under the lock.
    async fn read<T>(&self, f: impl FnOnce(&State) -> Result<T>) -> Result<T> {
        f(&self.control.lock().await.state)
    }

    /// Drains `targets` together; what each drain did.
    async fn drain(&self, targets: Vec<Arc<Target>>) -> Vec<Drain> {
        let timeout = self.config.drain_timeout;
        let tasks: Vec<_> = targets
            .into_iter()
            .map(|t| tokio::spawn(async move { t.drain(timeout).await }))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            if let Ok(d) = t.await {
                out.push(d);
            }
        }
        out
    }

    /// Probes `target` until healthy, within the proxy's health timeout.
    async fn gate(&self, target: &Target, spec: &HealthSpec) -> Result<Probe> {
        let deadline = spec.deadline.unwrap_or(self.config.health_timeout);
        health::wait_healthy(&target.authority, spec, deadline)
            .await
            .map_err(|last| Error::Unhealthy {
                release: target.spec.release.clone(),
                addr: target.spec.addr.clone(),
                waited_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
                last_probe: last.to_string(),
            })
    }

    /// `GET /services`.
    pub(crate) async fn services(&self) -> Value {
        let control = self.control.lock().await;
        let mut out = serde_json::Map::new();
        for (name, svc) in &control.state.services {
            let mut v = serde_json::to_value(svc).unwrap_or(Value::Null);
            if let Some(l) = control.live.get(name) {
                let in_flight: serde_json::Map<String, Value> = l
                    .targets()
                    .map(|t| (t.spec.release.clone(), t.in_flight().into()))
                    .collect();
                v["in_flight"] = in_flight.into();
            }
            out.insert(name.clone(), v);
        }
        json!({ "services": out })
    }

    /// `GET /services/{name}`.
    pub(crate) async fn service(&self, name: &str) -> Result<Value> {
        let all = self.services().await;
        all["services"]
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    /// `PUT /services/{name}`: creates the service or changes its hosts and sticky key.
    pub(crate) async fn put_service(&self, name: &str, spec: ServiceSpec) -> Result<Value> {
        crate::api::check_service_name(name)?;
        let ((created, svc), _) = self
            .change(|state, _| {
                for (other, s) in &state.services {
                    if other == name {
                        continue;
                    }
                    let taken = s.hosts.iter().chain(s.preview_host.as_ref());
                    for h in taken {
                        if spec.hosts.contains(h) || spec.preview_host.as_ref() == Some(h) {
                            return Err(Error::Conflict(format!(
                                "host {h:?} already belongs to service {other}"
                            )));
                        }
                    }
                    if spec.default && s.default {
                        return Err(Error::Conflict(format!(
                            "service {other} is already the default service; set `default: false` on it first"
                        )));
                    }
                }
                let created = !state.services.contains_key(name);
                let svc = state.services.entry(name.to_string()).or_default();
                svc.hosts = spec.hosts;
                svc.default = spec.default;
                svc.sticky = spec.sticky;
                svc.preview_host = spec.preview_host;
                Ok((created, svc.clone()))
            })
            .await?;
        self.metrics.switched(name, "configure");
        Ok(json!({ "service": name, "created": created, "config": svc }))
    }

    /// `DELETE /services/{name}`: stops routing to it and drains its targets.
    pub(crate) async fn delete_service(&self, name: &str) -> Result<Value> {
        let (_, removed) = self
            .change(|state, live| {
                state.services.remove(name).ok_or_else(|| not_found(name))?;
                live.remove(name);
                Ok(())
            })
            .await?;
        let drained = self.drain(removed).await;
        Ok(json!({ "service": name, "deleted": true, "drained": drained }))
    }

    /// `POST /services/{name}/deploy`: health-gates the target, then makes it the primary
    /// (or the preview) in one swap and drains what it replaced.
    pub(crate) async fn deploy(&self, name: &str, req: DeployRequest) -> Result<Value> {
        self.read(|state| {
            let svc = state.services.get(name).ok_or_else(|| not_found(name))?;
            if req.preview {
                if let Some(c) = &svc.canary {
                    return Err(Error::Conflict(format!(
                        "service {name} has a canary ({}): promote it or drop it before a preview",
                        c.target.release
                    )));
                }
                return Ok(());
            }
            check_nothing_pending(name, svc)
        })
        .await?;
        let target = Target::new(name, req.target.clone(), &self.metrics)?;
        let probe = self.gate(&target, &req.health).await?;
        let preview = req.preview;
        let release = req.target.release.clone();
        let (replaced, removed) = self
            .change(|state, live| {
                let svc = service(state, name)?;
                let l = live.entry(name.to_string()).or_default();
                if preview {
                    let old = svc.preview.replace(req.target);
                    l.preview = Some(target);
                    return Ok(old);
                }
                check_nothing_pending(name, svc)?;
                let old = svc.primary.replace(req.target);
                if old.is_some() {
                    svc.previous.clone_from(&old);
                }
                l.primary = Some(target);
                Ok(old)
            })
            .await?;
        self.metrics
            .switched(name, if preview { "preview" } else { "deploy" });
        let drained = self.drain(removed).await;
        Ok(json!({
            "service": name,
            "release": release,
            "preview": preview,
            "health": probe,
            "replaced": spec_json(replaced.as_ref()),
            "drained": drained,
        }))
    }

    /// `POST /services/{name}/canary`: health-gates the target, then gives it `weight` %.
    pub(crate) async fn canary(&self, name: &str, req: CanaryRequest) -> Result<Value> {
        self.read(|state| {
            let svc = state.services.get(name).ok_or_else(|| not_found(name))?;
            canary_allowed(name, svc)
        })
        .await?;
        let target = Target::new(name, req.target.clone(), &self.metrics)?;
        let probe = self.gate(&target, &req.health).await?;
        let release = req.target.release.clone();
        let (replaced, removed) = self
            .change(|state, live| {
                let svc = service(state, name)?;
                canary_allowed(name, svc)?;
                let old = svc.canary.replace(CanarySpec {
                    target: req.target,
                    weight: req.weight,
                });
                live.entry(name.to_string()).or_default().canary = Some(target);
                Ok(old)
            })
            .await?;
        self.metrics.switched(name, "canary");
        let drained = self.drain(removed).await;
        Ok(json!({
            "service": name,
            "canary": release,
            "weight": req.weight,
            "health": probe,
            "replaced": spec_json(replaced.as_ref().map(|c| &c.target)),
            "drained": drained,
        }))
    }

    /// `PUT /services/{name}/canary`: a new weight for the live canary.
    pub(crate) async fn set_weight(&self, name: &str, weight: u8) -> Result<Value> {
        let (before, _) = self
            .change(|state, _| {
                let svc = service(state, name)?;
                let c = svc.canary.as_mut().ok_or_else(|| no_canary(name))?;
                Ok(std::mem::replace(&mut c.weight, weight))
            })
            .await?;
        self.metrics.switched(name, "weight");
        Ok(json!({ "service": name, "weight": weight, "was": before }))
    }

    /// `DELETE /services/{name}/canary` and `/preview`: stops routing to it and drains it.
    pub(crate) async fn drop_pending(&self, name: &str, preview: bool) -> Result<Value> {
        let (dropped, removed) = self
            .change(|state, live| {
                let svc = service(state, name)?;
                let l = live.entry(name.to_string()).or_default();
                if preview {
                    l.preview = None;
                    svc.preview
                        .take()
                        .ok_or_else(|| Error::NotFound(format!("service {name} has no preview")))
                } else {
                    l.canary = None;
                    svc.canary
                        .take()
                        .map(|c| c.target)
                        .ok_or_else(|| no_canary(name))
                }
            })
            .await?;
        self.metrics.switched(name, "drop");
        let drained = self.drain(removed).await;
        Ok(json!({ "service": name, "dropped": spec_json(Some(&dropped)), "drained": drained }))
    }

    /// `POST /services/{name}/promote`: the preview, else the canary, becomes the
    /// primary; the old primary is kept as the previous release and drained.
    pub(crate) async fn promote(&self, name: &str) -> Result<Value> {
        let ((promoted, replaced), removed) = self
            .change(|state, live| {
                let svc = service(state, name)?;
                let l = live.entry(name.to_string()).or_default();
                let (spec, target) = if let Some(p) = svc.preview.take() {
                    (p, l.preview.take())
                } else if let Some(c) = svc.canary.take() {
                    (c.target, l.canary.take())
                } else {
                    return Err(Error::Conflict(format!(
                        "service {name} has neither a preview nor a canary to promote"
                    )));
                };
                let old = svc.primary.replace(spec.clone());
                if old.is_some() {
                    svc.previous.clone_from(&old);
                }
                l.primary = target;
                Ok((spec, old))
            })
            .await?;
        self.metrics.switched(name, "promote");
        let drained = self.drain(removed).await;
        Ok(json!({
            "service": name,
            "release": promoted.release,
            "replaced": spec_json(replaced.as_ref()),
            "drained": drained,
        }))
    }

    /// `POST /services/{name}/rollback`: the previous primary serves again at once. It is
    /// probed once first (its container may have been stopped), unless `force`.
    pub(crate) async fn rollback(&self, name: &str, force: bool) -> Result<Value> {
        let prev = self
            .read(|state| {
                let svc = state.services.get(name).ok_or_else(|| not_found(name))?;
                svc.previous.clone().ok_or_else(|| {
                    Error::Conflict(format!(
                        "service {name} has no previous release to roll back to"
                    ))
                })
            })
            .await?;
        let target = Target::new(name, prev.clone(), &self.metrics)?;
        let mut probe = Value::Null;
        if !force {
            let spec = HealthSpec {
                path: prev.health_path.clone(),
                timeout: ROLLBACK_PROBE,
                ..HealthSpec::default()
            };
            let started = std::time::Instant::now();
            let p = health::probe(&target.authority, &spec).await;
            if !p.healthy() {
                return Err(Error::Unhealthy {
                    release: prev.release,
                    addr: prev.addr,
                    waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    last_probe: format!(
                        "{p} (rollback probes once; start it, or send {{\"force\": true}})"
                    ),
                });
            }
            probe = serde_json::to_value(&p).unwrap_or(Value::Null);
        }
        let (replaced, removed) = self
            .change(|state, live| {
                let svc = service(state, name)?;
                if svc.previous.as_ref() != Some(&prev) {
                    return Err(Error::Conflict(format!(
                        "service {name} changed during the rollback; try again"
                    )));
                }
                let old = svc.primary.replace(prev.clone());
                svc.previous = old.clone();
                svc.canary = None;
                svc.preview = None;
                let l = live.entry(name.to_string()).or_default();
                *l = Live {
                    primary: Some(target),
                    canary: None,
                    preview: None,
                };
                Ok(old)
            })
            .await?;
        self.metrics.switched(name, "rollback");
        let drained = self.drain(removed).await;
        Ok(json!({
            "service": name,
            "release": prev.release,
            "health": probe,
            "replaced": spec_json(replaced.as_ref()),
            "drained": drained,
        }))
    }
}

fn no_canary(name: &str) -> Error {
    Error::NotFound(format!("service {name} has no canary"))
}

fn canary_allowed(name: &str, svc: &ServiceState) -> Result<()> {
    if svc.primary.is_none() {
        return Err(Error::Conflict(format!(
            "service {name} has no primary release yet: deploy one first (POST /services/{name}/deploy)"
        )));
    }
    if let Some(p) = &svc.preview {
        return Err(Error::Conflict(format!(
            "service {name} has a preview ({}): promote it or drop it before a canary",
            p.release
        )));
    }
    Ok(())
}
