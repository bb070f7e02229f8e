//! Polling with a deadline: the one way tests wait for the API server, controllers and the
//! simulator. Tests never assert on wall-clock durations; deadlines only bound a hang.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use kube::api::{Api, Resource};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The default deadline for a condition in a test: generous for a loaded 2-core machine.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `probe` until it returns `Ok(Some(value))`, and returns that value.
///
/// `Ok(None)` means "not yet"; `Err(e)` also means "not yet" but is remembered, so a timeout
/// reports the last error instead of only "timed out". Polls every 50 ms at first, backing off to
/// 500 ms.
///
/// # Errors
///
/// [`Error::Timeout`] naming `what` and the last observation when `timeout` passes.
pub async fn wait_for<T, E, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<Option<T>, E>>,
{
    let deadline = Instant::now() + timeout;
    let mut interval = Duration::from_millis(50);
    let mut last;
    loop {
        match probe().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => last = "condition not met".to_owned(),
            Err(e) => last = e.to_string(),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                timeout,
                last,
            });
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        interval = (interval * 2).min(Duration::from_millis(500));
    }
}

/// Waits until the object `name` exists and `condition` holds for it, and returns it.
///
/// # Errors
///
/// [`Error::Timeout`] when it does not happen within `timeout`; the message carries the last
/// API error, or the object's last `status` when the condition was false.
pub async fn wait_for_object<K>(
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    condition: impl Fn(&K) -> bool,
) -> Result<K>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let what = format!(
        "{} {name}",
        std::any::type_name::<K>().rsplit("::").next().unwrap_or("object")
    );
    wait_for(&what, timeout, || async {
        match api.get_opt(name).await {
            Ok(Some(object)) if condition(&object) => Ok(Some(object)),
            Ok(Some(object)) => {
                let status = serde_json::to_value(&object)
                    .ok()
                    .and_then(|v| v.get("status").cloned());
                Err(format!("condition false; status: {}", status.unwrap_or_default()))
            }
            Ok(None) => Err("not found".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Waits until the object `name` no longer exists.
///
/// # Errors
///
/// [`Error::Timeout`] when it still exists after `timeout`; the message carries its finalizers.
pub async fn wait_for_deletion<K>(api: &Api<K>, name: &str, timeout: Duration) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    wait_for(&format!("deletion of {name}"), timeout, || async {
        match api.get_opt(name).await {
            Ok(None) => Ok(Some(())),
            Ok(Some(object)) => Err(format!(
                "still present, finalizers {:?}",
                object.meta().finalizers
            )),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}
