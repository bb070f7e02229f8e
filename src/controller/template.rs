//! The WorkspaceTemplate checker: a template is tried against the Workspace API before any
//! control plane uses it.
//!
//! # Flow
//!
//! For each generation of a template not yet checked:
//!
//! 1. Render it as a control plane would, every placeholder given the stand-in [`STAND_IN`]
//!    (`${WORKSPACE_NAME}` the check's Workspace name), into the Workspace an apply would write
//!    ([`apply::desired_workspace`]), of the API the operator is configured for.
//! 2. Send that Workspace to the API server as a dry-run server-side apply: it is validated
//!    against the Workspace schema the server serves (an unknown field such as upstream's
//!    top-level `module` is refused) and admitted, and nothing is stored.
//! 3. Write the answer as condition `Valid` (observedGeneration: the generation checked); a
//!    refusal is also a Warning event on the template.
//!
//! # Guarantees
//!
//! One dry-run and one status write per template generation, none at steady state or after a
//! restart (a `Valid` condition for the current generation is the record). The stand-in values are
//! plain DNS labels, so a refusal is the template's own fault, except where a field takes only a
//! value a placeholder would supply (an enum); the message says the values were stand-ins.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, ResourceExt,
    api::{ObjectMeta, Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::{Value, json};

use super::{Context, Error, FIELD_MANAGER, Result, apply, events, reasons::reason};
use crate::{
    api::{
        SecretReference, WorkspaceApi, WorkspaceTemplate, WorkspaceTemplateApply, WorkspaceTemplateApplySpec,
        WorkspaceTemplateReference,
        condition::{self, Status},
    },
    render,
};

/// The condition a checked template carries.
pub const VALID: &str = "Valid";
/// The value every placeholder takes for the check.
pub const STAND_IN: &str = "capt-check";

/// What the check sends, or why the template cannot even be rendered.
pub fn check_request(template: &WorkspaceTemplate, api: WorkspaceApi) -> std::result::Result<Value, String> {
    let spec = &template.spec.template.spec;
    if !spec.is_object() {
        return Err("template.spec must be an object (a provider-terraform WorkspaceSpec)".into());
    }
    let namespace = template.namespace().unwrap_or_default();
    let apply_name = format!("{STAND_IN}-{}-apply", template.name_any());
    let mut variables: BTreeMap<String, String> = render::placeholders(spec)
        .into_iter()
        .map(|name| (name, STAND_IN.to_owned()))
        .collect();
    variables.insert(render::WORKSPACE_NAME.into(), apply::workspace_name(&apply_name));
    let rendered = render::render(spec, &variables).map_err(|e| e.to_string())?;
    // The apply a control plane would write: it names the connection secret.
    let stand_in = WorkspaceTemplateApply {
        metadata: ObjectMeta {
            name: Some(apply_name.clone()),
            namespace: Some(namespace.clone()),
            uid: Some("00000000-0000-0000-0000-000000000000".into()),
            ..ObjectMeta::default()
        },
        spec: WorkspaceTemplateApplySpec {
            template_ref: WorkspaceTemplateReference {
                name: template.name_any(),
                namespace: Some(namespace),
            },
            write_connection_secret_to_ref: Some(SecretReference {
                name: format!("{STAND_IN}-connection"),
                namespace: None,
            }),
            variables,
            ..WorkspaceTemplateApplySpec::default()
        },
        status: None,
    };
    apply::desired_workspace(&stand_in, &rendered, api).map_err(|e| e.to_string())
}

/// Checks a template whose current generation has no verdict yet.
pub async fn reconcile(template: Arc<WorkspaceTemplate>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started("workspacetemplate");
    let generation = template.metadata.generation;
    let conditions = template
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    if condition::find(&conditions, VALID).is_some_and(|c| c.observed_generation == generation) {
        return Ok(Action::await_change());
    }
    let namespace = template.namespace().ok_or(Error::Incomplete("namespace"))?;
    let api = ctx.config.workspace_api;
    let verdict = match check_request(&template, api) {
        Err(why) => Err((reason::INVALID_TEMPLATE, why)),
        Ok(workspace) => {
            let name = workspace["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let workspaces: Api<kube::api::DynamicObject> = match api {
                WorkspaceApi::Namespaced => {
                    Api::namespaced_with(ctx.client.clone(), &namespace, &api.api_resource())
                }
                WorkspaceApi::ClusterScoped => Api::all_with(ctx.client.clone(), &api.api_resource()),
            };
            let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
            match workspaces.patch(&name, &params, &Patch::Apply(&workspace)).await {
                Ok(_) => Ok(format!(
                    "a Workspace rendered from it (placeholders as \"{STAND_IN}\") passes the {} Workspace API's validation",
                    api.api_resource().group
                )),
                Err(kube::Error::Api(refusal)) if apply::is_refusal(&refusal) => Err((
                    reason::WORKSPACE_REJECTED,
                    format!(
                        "the API server refuses the Workspace it renders (placeholders as \"{STAND_IN}\"; \
                         HTTP {}, {}): {}",
                        refusal.code, refusal.reason, refusal.message
                    ),
                )),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let now = Time(jiff::Timestamp::now());
    let mut conditions = conditions;
    match &verdict {
        Ok(message) => condition::set(
            &mut conditions,
            VALID,
            Status::True,
            reason::WORKSPACE_ACCEPTED,
            message.clone(),
            generation,
            &now,
        ),
        Err((why, message)) => condition::set(
            &mut conditions,
            VALID,
            Status::False,
            why,
            message.clone(),
            generation,
            &now,
        ),
    }
    let templates: Api<WorkspaceTemplate> = Api::namespaced(ctx.client.clone(), &namespace);
    templates
        .patch_status(
            &template.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": conditions}})),
        )
        .await?;
    if let Err((why, message)) = verdict {
        tracing::warn!(template = %template.name_any(), %namespace, reason = why, %message, "template refused");
        events::publish(&ctx, template.as_ref(), events::warning(why, message)).await;
    }
    Ok(Action::await_change())
}

/// On error, retry with a short delay; the controller's own backoff spreads repeated failures.
pub fn error_policy(template: Arc<WorkspaceTemplate>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed("workspacetemplate", error);
    tracing::warn!(template = %template.name_any(), error = %error, "template check failed");
    Action::requeue(std::time::Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::WorkspaceTemplateSpec;

    fn template(spec: Value) -> WorkspaceTemplate {
        let mut t = WorkspaceTemplate::new(
            "eks",
            WorkspaceTemplateSpec {
                template: serde_json::from_value(json!({ "spec": spec })).unwrap(),
                write_connection_secret_to_ref: None,
            },
        );
        t.metadata.namespace = Some("team-a".into());
        t
    }

    #[test]
    fn the_check_renders_what_a_control_plane_would_with_stand_ins() {
        let t = template(json!({
            "forProvider": {"source": "Inline", "module": "locals { x = \"${cluster_name}\" }",
                            "vars": [{"key": "region", "value": "${region}"}]},
            "writeConnectionSecretToRef": {"name": "${WORKSPACE_NAME}-x"},
        }));
        let ws = check_request(&t, WorkspaceApi::Namespaced).unwrap();
        assert_eq!(ws["metadata"]["name"], "capt-check-eks");
        assert_eq!(ws["metadata"]["namespace"], "team-a");
        assert_eq!(
            ws["spec"]["forProvider"]["module"],
            "locals { x = \"capt-check\" }"
        );
        assert_eq!(ws["spec"]["forProvider"]["vars"][0]["value"], "capt-check");
        assert_eq!(
            ws["spec"]["writeConnectionSecretToRef"],
            json!({"name": "capt-check-connection"})
        );
        let legacy = check_request(&t, WorkspaceApi::ClusterScoped).unwrap();
        assert_eq!(legacy["metadata"].get("namespace"), None);
    }

    #[test]
    fn a_spec_that_is_not_an_object_is_refused_without_asking_the_server() {
        assert!(check_request(&template(json!("module = x")), WorkspaceApi::Namespaced).is_err());
    }
}
