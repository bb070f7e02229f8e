//! Waits between WorkspaceTemplateApplies: the cycle an apply is on, if any.
//!
//! An apply waits for Workspaces (`waitForWorkspaces`); each is rendered by an apply (its name
//! minus `-apply`), which may wait in turn. A chain that comes back to where it started never
//! resolves: each member waits for a Workspace that is only written once its own wait is over.
//! The WorkspaceTemplateApply controller fails every member of such a cycle with its path instead
//! of waiting forever. (A control plane's graph finds the same cycles, and the ones its applies
//! will form before they exist: [`super::build`].)
//!
//! Pure: the applies in, a path out.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::WorkspaceTemplateApply;

use super::rendered_workspace_name;

/// The cycle of waits through the apply `namespace/name`, as readable steps from it back to it
/// (`WorkspaceTemplateApply ns/a -> Workspace ns/b -> WorkspaceTemplateApply ns/b-apply -> ...`),
/// among `applies` (those of the apply's namespace, and any other its waits lead to).
pub fn wait_cycle<'a>(
    namespace: &str,
    name: &str,
    applies: impl IntoIterator<Item = &'a WorkspaceTemplateApply>,
) -> Option<Vec<String>> {
    // Workspace (namespace, name) -> the apply that renders it.
    let mut renderer: BTreeMap<(String, String), &WorkspaceTemplateApply> = BTreeMap::new();
    for apply in applies {
        let (ns, n) = key(apply);
        renderer
            .entry((ns.clone(), rendered_workspace_name(&n).to_owned()))
            .or_insert(apply);
    }
    let start = (namespace.to_owned(), name.to_owned());
    let first = renderer.values().find(|a| key(a) == start).copied()?;
    let mut path = vec![describe_apply(&start)];
    let mut seen = BTreeSet::from([start.clone()]);
    follow(first, &start, &renderer, &mut path, &mut seen).then_some(path)
}

fn follow(
    apply: &WorkspaceTemplateApply,
    start: &(String, String),
    renderer: &BTreeMap<(String, String), &WorkspaceTemplateApply>,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<(String, String)>,
) -> bool {
    let (namespace, _) = key(apply);
    for wait in &apply.spec.wait_for_workspaces {
        let ws_ns = wait
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| namespace.clone());
        let Some(next) = renderer.get(&(ws_ns.clone(), wait.name.clone())) else {
            continue;
        };
        let next_key = key(next);
        path.push(format!("Workspace {ws_ns}/{}", wait.name));
        path.push(describe_apply(&next_key));
        if next_key == *start {
            return true;
        }
        if seen.insert(next_key) && follow(next, start, renderer, path, seen) {
            return true;
        }
        path.truncate(path.len() - 2);
    }
    false
}

fn key(apply: &WorkspaceTemplateApply) -> (String, String) {
    (
        apply.metadata.namespace.clone().unwrap_or_default(),
        apply.metadata.name.clone().unwrap_or_default(),
    )
}

fn describe_apply((namespace, name): &(String, String)) -> String {
    format!("WorkspaceTemplateApply {namespace}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{WorkspaceReference, WorkspaceTemplateApplySpec};

    fn apply(name: &str, waits: &[&str]) -> WorkspaceTemplateApply {
        let mut a = WorkspaceTemplateApply::new(
            name,
            WorkspaceTemplateApplySpec {
                wait_for_workspaces: waits
                    .iter()
                    .map(|w| WorkspaceReference {
                        name: (*w).into(),
                        namespace: None,
                    })
                    .collect(),
                ..Default::default()
            },
        );
        a.metadata.namespace = Some("ns".into());
        a
    }

    #[test]
    fn an_apply_waiting_on_its_own_workspace_is_a_cycle() {
        let applies = [apply("cb-apply", &["cb"])];
        assert_eq!(
            wait_cycle("ns", "cb-apply", &applies).unwrap(),
            [
                "WorkspaceTemplateApply ns/cb-apply",
                "Workspace ns/cb",
                "WorkspaceTemplateApply ns/cb-apply"
            ]
        );
    }

    #[test]
    fn three_applies_waiting_around_are_one_cycle_each_member_sees() {
        let applies = [
            apply("a-apply", &["b"]),
            apply("b-apply", &["c"]),
            apply("c-apply", &["a"]),
            apply("d-apply", &["a"]),
        ];
        let cycle = wait_cycle("ns", "b-apply", &applies).unwrap();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 7, "{cycle:?}");
        // d waits on the cycle but is not on it: it waits (and is told why by its wait).
        assert_eq!(wait_cycle("ns", "d-apply", &applies), None);
    }

    #[test]
    fn a_chain_that_ends_is_no_cycle() {
        let applies = [apply("a-apply", &["b"]), apply("b-apply", &["vpc"])];
        assert_eq!(wait_cycle("ns", "a-apply", &applies), None);
        assert_eq!(wait_cycle("ns", "missing-apply", &applies), None);
    }
}
