//! Finalizers whose cleanup may have to wait.
//!
//! kube-runtime's `finalizer` removes the finalizer as soon as cleanup returns `Ok`; our cleanups
//! delete a child and must then *wait* until the child is gone (provider-terraform runs
//! `terraform destroy` first). So cleanup here answers [`Cleanup::Done`] or
//! [`Cleanup::Waiting`], and the finalizer goes only on `Done`.
//!
//! # Flow
//!
//! [`phase`] looks at the object:
//!
//! 1. Not deleting, finalizer absent: add it (JSON patch `test` + `add`, so another controller's
//!    concurrent finalizer edit makes ours fail instead of clobbering theirs): [`Phase::Added`]
//!    with the resource version it made; reconcile on the event that write causes.
//! 2. Not deleting, finalizer present: [`Phase::Apply`].
//! 3. Deleting, finalizer present: [`Phase::Cleanup`]; the caller cleans up and, on
//!    [`Cleanup::Done`], calls [`remove`] (`test` + `remove` at its index).
//! 4. Deleting, finalizer absent: nothing to do.
//!
//! # Guarantees
//!
//! The finalizer is removed only after a cleanup pass returned `Done`; a crash between cleanup and
//! removal repeats the cleanup, so cleanups are idempotent.

use std::fmt::Debug;

use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::controller::Action,
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;

/// What a cleanup pass achieved.
#[derive(Debug)]
pub enum Cleanup {
    /// Everything the finalizer guards is gone: remove it.
    Done,
    /// Still waiting for a child to go; check again as `Action` says.
    Waiting(Action),
}

/// What a pass should do with the object, once the finalizer is in order.
#[derive(Debug)]
pub enum Phase {
    /// Bring it to its desired state.
    Apply,
    /// It is being deleted: release what it holds, then call [`remove`] on [`Cleanup::Done`].
    Cleanup,
    /// The finalizer was just added, by a write that made this resource version (`None` if the
    /// object was gone): nothing more this pass, reconcile on the event that write causes. A
    /// pass on an older copy meanwhile would add it again, and fail.
    Added(Option<String>),
    /// Nothing more this pass (the finalizer is already gone).
    Settled(Action),
}

/// Puts finalizer `name` in place on a live object and says what the pass should do.
pub async fn phase<K>(api: &Api<K>, name: &str, obj: &K) -> Result<Phase, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    phase_with(api, name, obj, Vec::new()).await
}

/// [`phase`], with `also`: JSON patch operations written in the same request as the finalizer
/// when it is added (fields the object needs from its first pass on), so that a new object costs
/// one write instead of two. They are written only with the finalizer.
pub async fn phase_with<K>(
    api: &Api<K>,
    name: &str,
    obj: &K,
    also: Vec<serde_json::Value>,
) -> Result<Phase, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let present = obj.finalizers().iter().any(|f| f == name);
    let deleting = obj.meta().deletion_timestamp.is_some();
    match (deleting, present) {
        (false, true) => Ok(Phase::Apply),
        (false, false) => {
            let mut patch = if obj.finalizers().is_empty() {
                json!([
                    {"op": "test", "path": "/metadata/finalizers", "value": null},
                    {"op": "add", "path": "/metadata/finalizers", "value": [name]},
                ])
            } else {
                json!([
                    {"op": "test", "path": "/metadata/finalizers", "value": obj.finalizers()},
                    {"op": "add", "path": "/metadata/finalizers/-", "value": name},
                ])
            };
            if let Some(ops) = patch.as_array_mut() {
                ops.extend(also);
            }
            let written = patch_finalizers(api, obj, patch).await?;
            Ok(Phase::Added(written))
        }
        (true, true) => Ok(Phase::Cleanup),
        (true, false) => Ok(Phase::Settled(Action::await_change())),
    }
}

/// Removes finalizer `name` after a cleanup pass returned [`Cleanup::Done`].
pub async fn remove<K>(api: &Api<K>, name: &str, obj: &K) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let Some(i) = obj.finalizers().iter().position(|f| f == name) else {
        return Ok(());
    };
    let patch = json!([
        {"op": "test", "path": format!("/metadata/finalizers/{i}"), "value": name},
        {"op": "remove", "path": format!("/metadata/finalizers/{i}")},
    ]);
    patch_finalizers(api, obj, patch).await.map(|_| ())
}

/// Sends a finalizer patch; the resource version it made, `None` when the object is gone.
async fn patch_finalizers<K>(
    api: &Api<K>,
    obj: &K,
    patch: serde_json::Value,
) -> Result<Option<String>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch: json_patch::Patch = serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await
    {
        Ok(written) => Ok(written.resource_version()),
        // Gone already: nothing left to guard.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}
