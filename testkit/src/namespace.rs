//! One namespace per test, so tests sharing a plane never see each other's objects.

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};

use crate::error::Result;
use crate::util::random_suffix;

/// Label on every namespace the testkit creates.
pub const TEST_NAMESPACE_LABEL: &str = "capt-testkit/test";

/// A namespace named `<prefix>-<random>`, created for one test.
///
/// Deletion is explicit ([`delete`](Self::delete)), since it is an API call and `Drop` cannot
/// await. A namespace a failed test leaves behind dies with the plane.
#[derive(Clone)]
pub struct TestNamespace {
    name: String,
    client: Client,
}

impl TestNamespace {
    /// Creates a namespace named `<prefix>-<6 random characters>` (prefix shortened so the name
    /// stays a valid DNS label), labelled [`TEST_NAMESPACE_LABEL`]` = <prefix>`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Kube`] if the API server refuses (an invalid prefix, for example).
    pub async fn create(client: &Client, prefix: &str) -> Result<Self> {
        let prefix: String = prefix.chars().take(50).collect();
        let prefix = prefix.trim_end_matches('-');
        let name = format!("{prefix}-{}", random_suffix(6));
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(TEST_NAMESPACE_LABEL.to_owned(), prefix.to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;
        Ok(Self {
            name,
            client: client.clone(),
        })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An `Api` for namespaced objects of kind `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Requests deletion and returns without waiting: with kube-controller-manager the namespace
    /// controller empties and removes it; without, it stays `Terminating`, which is harmless.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Kube`] if the request fails (a namespace already gone is fine).
    pub async fn delete(self) -> Result<()> {
        match Api::<Namespace>::all(self.client)
            .delete(&self.name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
