//! The `kubectl-capt` binary against a real kube-apiserver: the operator (in-process, as in
//! `tests/operator.rs`) and the provider-terraform simulator drive one control plane to Ready and
//! one to Failed, then the plugin is run as a user would, with `KUBECONFIG` pointing at the API
//! server and the context's namespace set to the test's, so no command needs `-n`.
//!
//! Outputs are snapshotted after normalizing what differs between runs: the namespace's random
//! suffix, the API server's port, timestamps and durations; in the history table also runs of
//! spaces, because its column widths follow the lengths of the relative times in it.

use capt_controlplane::api::{
    CAPTControlPlane, CAPTControlPlaneSpec, ControlPlaneConfig, RETRY_ANNOTATION, RecoveryStrategy,
    WorkspaceTemplateReference,
};
use capt_testkit::{SimulatedCluster, Simulator, SimulatorConfig, TestNamespace};
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::json;

mod support;

use support::{Operator, TIMEOUT};

/// A Cluster and its control plane (owned by it, as Cluster API sets it) using `template`.
async fn control_plane(admin: &Client, ns: &str, cluster: &str, template: &str) {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta2", "Cluster"),
        "clusters",
    );
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": cluster},
        "spec": {"controlPlaneRef": {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "CAPTControlPlane", "name": format!("{cluster}-cp")}}
    }))
    .unwrap();
    let obj = Api::<DynamicObject>::namespaced_with(admin.clone(), ns, &ar)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
    let recovery: RecoveryStrategy = serde_json::from_value(json!({
        "maxRetries": 3,
        "backoff": {"initialDelay": "1s", "maxDelay": "2s", "factor": 2, "jitter": 0},
    }))
    .unwrap();
    let mut cp = CAPTControlPlane::new(
        &format!("{cluster}-cp"),
        CAPTControlPlaneSpec {
            version: "1.31".into(),
            workspace_template_ref: WorkspaceTemplateReference {
                name: template.into(),
                namespace: None,
            },
            control_plane_config: Some(ControlPlaneConfig {
                region: "ap-northeast-1".into(),
                ..Default::default()
            }),
            recovery_strategy: Some(recovery),
            token_credentials_ref: Some(support::token_credentials_ref()),
            ..Default::default()
        },
    );
    support::accept_eks_cluster(cluster).await;
    cp.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "cluster.x-k8s.io/v1beta2".into(),
            kind: "Cluster".into(),
            name: cluster.into(),
            uid: obj.uid().unwrap(),
            ..Default::default()
        },
    ]);
    Api::<CAPTControlPlane>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &cp)
        .await
        .unwrap();
}

async fn wait_state(api: &Api<CAPTControlPlane>, name: &str, state: &str) -> CAPTControlPlane {
    wait_cp(api, name, &format!("in state {state}"), |cp| {
        cp.status.as_ref().and_then(|s| s.state.as_deref()) == Some(state)
    })
    .await
}

/// Waits until `holds` is true of control plane `name`.
async fn wait_cp(
    api: &Api<CAPTControlPlane>,
    name: &str,
    what: &str,
    holds: impl Fn(&CAPTControlPlane) -> bool,
) -> CAPTControlPlane {
    capt_testkit::wait_for(&format!("{name} {what}"), TIMEOUT, || async {
        let cp = api.get_opt(name).await?;
        Ok::<_, kube::Error>(cp.filter(|cp| holds(cp)))
    })
    .await
    .unwrap()
}

/// Exit code, stdout and stderr of one run of the plugin.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `kubectl-capt args` with `KUBECONFIG`; prints the raw output for the user docs.
async fn kubectl_capt(kubeconfig: &std::path::Path, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubectl-capt"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .await
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    eprintln!(
        "$ kubectl capt {}\n{}{}[exit {}]\n",
        args.join(" "),
        run.stdout,
        run.stderr,
        run.code
    );
    run
}

/// Whether `s[i..]` starts an RFC 3339 timestamp; returns its length.
fn timestamp_at(s: &[u8], i: usize) -> Option<usize> {
    let shape = b"dddd-dd-ddTdd:dd:dd";
    if s.len() < i + shape.len() + 1 {
        return None;
    }
    for (k, c) in shape.iter().enumerate() {
        let b = s[i + k];
        let ok = if *c == b'd' { b.is_ascii_digit() } else { b == *c };
        if !ok {
            return None;
        }
    }
    let mut j = i + shape.len();
    if s.get(j) == Some(&b'.') {
        j += 1;
        while s.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
    }
    (s.get(j) == Some(&b'Z')).then_some(j + 1 - i)
}

/// Whether `s[i..]` starts a duration such as `45s`, `3m20s`, `1.5s`, `250ms`, `2d3h`; its length.
fn duration_at(s: &str, i: usize) -> Option<usize> {
    let rest = &s[i..];
    let mut j = 0;
    let mut groups = 0;
    loop {
        let digits = rest[j..]
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if digits == 0 {
            break;
        }
        let after = &rest[j + digits..];
        let unit = ["ms", "µs", "ns", "s", "m", "h", "d", "y"]
            .into_iter()
            .find(|u| after.starts_with(u))
            .filter(|u| {
                // `5m` but not the `5` of `5min` or `5mb`.
                let next = after[u.len()..].chars().next();
                next.is_none_or(|c| !c.is_alphabetic())
            });
        let Some(unit) = unit else {
            break;
        };
        j += digits + unit.len();
        groups += 1;
    }
    let next = rest[j..].chars().next();
    (groups > 0 && next.is_none_or(|c| !c.is_alphanumeric())).then_some(j)
}

/// Replaces what differs between runs: namespace, port, times, durations.
fn normalize(text: &str, ns: &str, port: &str) -> String {
    let text = text.replace(ns, "<ns>").replace(&format!(":{port}"), ":<port>");
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
        if boundary {
            if let Some(n) = timestamp_at(bytes, i) {
                out.push_str("<time>");
                i += n;
                continue;
            }
            if let Some(n) = duration_at(&text, i) {
                out.push_str("<dur>");
                i += n;
                continue;
            }
        }
        let c = text[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    // Within the same second a past time reads "now"; a second later, "1s ago".
    out.replace("(now)", "(<dur> ago)")
}

/// Collapses runs of spaces: a table's column widths follow the lengths of its durations.
fn collapse_spaces(text: &str) -> String {
    let mut collapsed = String::with_capacity(text.len());
    for line in text.lines() {
        let mut spaces = 0;
        for c in line.chars() {
            if c == ' ' {
                spaces += 1;
                continue;
            }
            collapsed.push_str(if spaces >= 2 { "  " } else { &" "[..spaces] });
            spaces = 0;
            collapsed.push(c);
        }
        collapsed.push('\n');
    }
    collapsed
}

#[test]
fn normalize_replaces_times_durations_namespace_and_port() {
    let text =
        "x-abc123 2026-01-01T12:00:25.5Z (in 25s) 3m20s 1.5s v1.31 ap-northeast-1 100% https://h:6443 5min\n";
    assert_eq!(
        normalize(text, "x-abc123", "6443"),
        "<ns> <time> (in <dur>) <dur> <dur> v1.31 ap-northeast-1 100% https://h:<port> 5min\n"
    );
    assert_eq!(collapse_spaces("A     B  C D\n"), "A  B  C D\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_capt_shows_ready_and_failed_control_planes_and_retries() {
    let plane = capt_testkit::shared_plane().await;
    let admin = plane.client().await.unwrap();
    let ns = TestNamespace::create(&admin, "kcapt").await.unwrap();
    support::create_token_credentials(&admin, ns.name()).await;
    let sim = Simulator::spawn(
        admin.clone(),
        SimulatorConfig::new(SimulatedCluster::from_plane(plane)).in_namespace(ns.name()),
    );
    let operator = Operator::start(admin.clone(), ns.name()).await;

    support::create_template(&admin, ns.name(), "eks", &[]).await;
    // `${vpc_id}` is never provided: validation fails with InvalidConfiguration.
    support::create_template(&admin, ns.name(), "eks-vpc", &["vpc_id"]).await;
    control_plane(&admin, ns.name(), "prod", "eks").await;
    control_plane(&admin, ns.name(), "broken", "eks-vpc").await;
    let cps: Api<CAPTControlPlane> = Api::namespaced(admin.clone(), ns.name());
    // Ready with every node of its graph Ready: the apply copies its Workspace's readiness a
    // moment after the control plane has seen it, and the snapshots below show the settled graph.
    wait_cp(&cps, "prod-cp", "Ready with a settled graph", |cp| {
        let Some(st) = &cp.status else { return false };
        let settled = st.dependency_graph.as_ref().is_some_and(|g| {
            (g.nodes.values()).all(|n| {
                n.status == "Ready" || (n.status == "Unknown" && n.type_.ends_with("ProviderConfig"))
            })
        });
        st.state.as_deref() == Some("Ready") && settled
    })
    .await;
    let broken = wait_state(&cps, "broken-cp", "Failed").await;
    assert_eq!(
        broken.status.unwrap().failure_reason.as_deref(),
        Some("InvalidConfiguration")
    );

    // The admin kubeconfig, with the test's namespace as the context's default.
    let mut kubeconfig = kube::config::Kubeconfig::from_yaml(plane.kubeconfig_yaml()).unwrap();
    let current = kubeconfig.current_context.clone().unwrap();
    for named in &mut kubeconfig.contexts {
        if named.name == current {
            named.context.as_mut().unwrap().namespace = Some(ns.name().to_owned());
        }
    }
    let dir = std::env::temp_dir().join(format!("kubectl-capt-{}", ns.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(&path, capt_testkit::kubeconfig::to_yaml(&kubeconfig).unwrap()).unwrap();
    let port = plane.server_url().rsplit(':').next().unwrap().to_owned();
    let norm = |s: &str| normalize(s, ns.name(), &port);

    let run = kubectl_capt(&path, &["status"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("status", norm(&run.stdout));

    // -A lists every namespace; this binary's plane holds only this test's control planes.
    let run = kubectl_capt(&path, &["status", "-A"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("status_all_namespaces", norm(&run.stdout));

    // --kubeconfig and -n win over KUBECONFIG and the context's namespace.
    let path_arg = path.to_str().unwrap();
    let run = kubectl_capt(
        std::path::Path::new("/nonexistent"),
        &["--kubeconfig", path_arg, "-n", ns.name(), "status", "prod-cp"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("status_one", norm(&run.stdout));

    let run = kubectl_capt(&path, &["graph", "broken-cp", "-o", "tree"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("graph_tree_failed", norm(&run.stdout));

    let run = kubectl_capt(&path, &["graph", "prod-cp", "-o", "dot"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("graph_dot_ready", norm(&run.stdout));
    let svg = {
        use tokio::io::AsyncWriteExt;
        let mut dot = tokio::process::Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("graphviz `dot` on PATH");
        let mut stdin = dot.stdin.take().unwrap();
        stdin.write_all(run.stdout.as_bytes()).await.unwrap();
        drop(stdin);
        dot.wait_with_output().await.unwrap()
    };
    assert!(
        svg.status.success(),
        "dot rejected the graph: {}",
        String::from_utf8_lossy(&svg.stderr)
    );
    assert!(String::from_utf8_lossy(&svg.stdout).contains("<svg"));

    // JSON is the status form: it reads back as what the operator wrote.
    let run = kubectl_capt(&path, &["graph", "prod-cp", "-o", "json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let parsed: capt_controlplane::api::DependencyGraphStatus = serde_json::from_str(&run.stdout).unwrap();
    let stored = cps
        .get("prod-cp")
        .await
        .unwrap()
        .status
        .unwrap()
        .dependency_graph
        .unwrap();
    assert_eq!(parsed, stored);
    let run = kubectl_capt(&path, &["graph", "prod-cp", "-o", "mermaid"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("flowchart"), "{}", run.stdout);

    let run = kubectl_capt(&path, &["explain", "broken-cp"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("${vpc_id}"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("kubectl capt retry broken-cp -n {}", ns.name())),
        "{}",
        run.stdout
    );
    insta::assert_snapshot!("explain_failed", norm(&run.stdout));

    let run = kubectl_capt(&path, &["explain", "prod-cp"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("explain_ready", norm(&run.stdout));

    let run = kubectl_capt(&path, &["history", "prod-cp"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("history_ready", collapse_spaces(&norm(&run.stdout)));

    // Not found: exit 1. Usage errors: exit 2 (clap).
    let run = kubectl_capt(&path, &["explain", "nope"]).await;
    assert_eq!(run.code, 1);
    assert_eq!(
        norm(&run.stderr),
        "error: control plane nope not found in namespace <ns>\n"
    );
    let run = kubectl_capt(&path, &["graph", "prod-cp", "-o", "png"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    for args in [&["status", "-A", "-n", "x"][..], &["-n", "x", "status", "-A"]] {
        let run = kubectl_capt(&path, args).await;
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    }

    // Retry refuses what is not Failed, with exit code 3 and nothing written.
    let run = kubectl_capt(&path, &["retry", "prod-cp"]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "refused: control plane prod-cp is Ready, not Failed; retry only applies to Failed control planes\n"
    );
    let after = cps.get("prod-cp").await.unwrap();
    assert!(!after.annotations().contains_key(RETRY_ANNOTATION));

    // On the Failed one it sets the annotation; the operator consumes it. The template still has
    // no value for ${vpc_id}, so the retry is refused once (RetryRefused), not cycled through
    // Recovering.
    let run = kubectl_capt(&path, &["retry", "broken-cp"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("retry_failed", norm(&run.stdout));
    let patched = cps.get("broken-cp").await.unwrap();
    // The operator may already have consumed the annotation.
    if let Some(value) = patched.annotations().get(RETRY_ANNOTATION) {
        assert!(value.parse::<jiff::Timestamp>().is_ok(), "{value}");
    }
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), ns.name());
    capt_testkit::wait_for("the retry is consumed and refused", TIMEOUT, || async {
        let cp = cps.get("broken-cp").await?;
        let refused = events.list(&Default::default()).await?.items.iter().any(|e| {
            e.reason.as_deref() == Some("RetryRefused")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("broken-cp")
        });
        Ok::<_, kube::Error>((refused && !cp.annotations().contains_key(RETRY_ANNOTATION)).then_some(()))
    })
    .await
    .unwrap();
    let run = kubectl_capt(&path, &["history", "broken-cp"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("Failed → Recovering"), "{}", run.stdout);

    operator.stop().await;
    sim.shutdown().await;
    let _ = ns.delete().await;
    let _ = std::fs::remove_dir_all(&dir);
}
