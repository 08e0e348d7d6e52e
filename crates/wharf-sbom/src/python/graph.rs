//! From a project's requirements and a resolved set to packages and `DEPENDS_ON` edges.
//!
//! When every package in the set records its requirements (an environment, a pip
//! report), the SBOM holds exactly what is reachable from the project: a venv's own pip
//! and setuptools are left out. Requirements guarded by `extra == "x"` are followed only
//! when something asked for that extra. When some package's requirements are unknown (a
//! lock file, a requirements file), reachability cannot be computed, so the whole set is
//! taken; packages no known edge reaches then hang off the project directly (it does
//! depend on them, directly or not — the source does not say which).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::metadata::Requirement;
use super::resolved::{Resolved, ResolvedPackage};
use crate::model::{Node, Package, PackageKind, Relationship, RelationshipKind};
use crate::purl::{self, normalize_python_name};

/// Packages and edges for a project named `project` requiring `requires`.
pub(crate) fn link(
    project: &str,
    requires: &[Requirement],
    resolved: &Resolved,
) -> (Vec<Package>, Vec<Relationship>) {
    let own = normalize_python_name(project);
    let mut walk = Walk {
        by_name: resolved
            .packages
            .iter()
            .map(|p| (normalize_python_name(&p.name), p))
            .filter(|(n, _)| *n != own)
            .collect(),
        extras: BTreeMap::new(),
        queue: VecDeque::new(),
        edges: BTreeSet::new(),
    };
    for req in requires.iter().filter(|r| r.for_extras.is_empty()) {
        walk.request(None, req);
    }
    if walk.by_name.values().any(|p| p.requires.is_none()) {
        for name in walk.by_name.keys() {
            walk.extras.entry(name.clone()).or_default();
            walk.queue.push_back(name.clone());
        }
    }
    let mut visited: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    while let Some(name) = walk.queue.pop_front() {
        let wanted = walk.extras.get(&name).cloned().unwrap_or_default();
        if visited.get(&name) == Some(&wanted) {
            continue;
        }
        visited.insert(name.clone(), wanted.clone());
        let package: &ResolvedPackage = walk.by_name[&name];
        for req in package.requires.iter().flatten() {
            if req.for_extras.is_empty() || req.for_extras.iter().any(|e| wanted.contains(e)) {
                walk.request(Some(&name), req);
            }
        }
    }

    let reached: BTreeSet<String> = walk.edges.iter().map(|(_, to)| to.clone()).collect();
    for name in visited.keys() {
        if !reached.contains(name) {
            walk.edges.insert((None, name.clone()));
        }
    }
    let key_of = |name: &str| {
        let p = walk.by_name[name];
        purl::pypi(&p.name, p.version.as_deref())
    };
    let packages = visited
        .keys()
        .map(|name| {
            let p = walk.by_name[name];
            Package {
                name: p.name.clone(),
                version: p.version.clone(),
                kind: PackageKind::Python,
                purl: Some(key_of(name)),
                license: p.license.clone(),
                supplier: p.supplier.clone(),
                sha256: p.sha256.clone(),
            }
        })
        .collect();
    let relationships = walk
        .edges
        .iter()
        .filter(|(from, to)| {
            from.as_ref().is_none_or(|f| visited.contains_key(f)) && visited.contains_key(to)
        })
        .map(|(from, to)| Relationship {
            from: from
                .as_deref()
                .map_or(Node::Subject, |f| Node::Package(key_of(f))),
            kind: RelationshipKind::DependsOn,
            to: Node::Package(key_of(to)),
        })
        .collect();
    (packages, relationships)
}

/// The state of walking requirements through a resolved set.
struct Walk<'a> {
    /// The resolved packages by normalised name, the project itself left out.
    by_name: BTreeMap<String, &'a ResolvedPackage>,
    /// The extras asked of each package reached so far.
    extras: BTreeMap<String, BTreeSet<String>>,
    /// Packages to (re)visit: newly reached, or asked for more extras.
    queue: VecDeque<String>,
    /// Edges found: `None` is the project.
    edges: BTreeSet<(Option<String>, String)>,
}

impl Walk<'_> {
    fn request(&mut self, from: Option<&str>, req: &Requirement) {
        if !self.by_name.contains_key(&req.name) {
            return; // not installed: its markers excluded it, or the set lacks it
        }
        self.edges
            .insert((from.map(str::to_owned), req.name.clone()));
        let new = !self.extras.contains_key(&req.name);
        let wanted = self.extras.entry(req.name.clone()).or_default();
        let before = wanted.len();
        wanted.extend(req.extras.iter().cloned());
        if new || wanted.len() > before {
            self.queue.push_back(req.name.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, requires: Option<&[&str]>) -> ResolvedPackage {
        ResolvedPackage {
            name: name.into(),
            version: Some("1".into()),
            license: None,
            supplier: None,
            sha256: None,
            requires: requires.map(|r| r.iter().filter_map(|s| Requirement::parse(s)).collect()),
        }
    }

    fn edges(rels: &[Relationship]) -> Vec<String> {
        rels.iter()
            .map(|r| {
                let n = |n: &Node| match n {
                    Node::Subject => "app".to_owned(),
                    Node::Package(k) => k
                        .trim_start_matches("pkg:pypi/")
                        .trim_end_matches("@1")
                        .to_owned(),
                };
                format!("{}->{}", n(&r.from), n(&r.to))
            })
            .collect()
    }

    #[test]
    fn environment_reachability_follows_requested_extras_only() {
        let resolved = Resolved {
            packages: vec![
                pkg("App", Some(&[])),
                pkg("pip", Some(&[])),
                pkg("tiny_dep", Some(&[])),
                pkg(
                    "other-dep",
                    Some(&["speedy; extra == 'fast'", "slow; extra == 'slow'"]),
                ),
                pkg("speedy", Some(&["tiny-dep"])),
                pkg("slow", Some(&[])),
            ],
        };
        let requires: Vec<_> = ["Tiny.Dep>=1", "other_dep[fast]", "dev-tool; extra == 'dev'"]
            .iter()
            .filter_map(|s| Requirement::parse(s))
            .collect();
        let (packages, rels) = link("app", &requires, &resolved);
        let names: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["other-dep", "speedy", "tiny_dep"]);
        assert_eq!(
            edges(&rels),
            [
                "app->other-dep",
                "app->tiny-dep",
                "other-dep->speedy",
                "speedy->tiny-dep"
            ]
        );
    }

    #[test]
    fn a_set_without_edges_is_taken_whole_and_hangs_off_the_project() {
        let resolved = Resolved {
            packages: vec![
                pkg("app", None),
                pkg("a", None),
                pkg("b", None),
                pkg("c", Some(&["b"])),
            ],
        };
        let (packages, rels) = link("app", &[Requirement::on("a")], &resolved);
        assert_eq!(packages.len(), 3);
        assert_eq!(edges(&rels), ["app->a", "app->c", "c->b"]);
    }
}
