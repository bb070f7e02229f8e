//! Prometheus metrics of the operator: reconciles, failures by reason, reconcile duration, and how
//! many control planes are in each state.

use std::{collections::HashMap, sync::Mutex, time::Instant};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{controller::Error, state::StateName};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabel {
    controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    controller: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

/// The operator's metrics, registered under the `capt` prefix.
pub struct Metrics {
    reconciles: Family<ControllerLabel, Counter>,
    failures: Family<FailureLabels, Counter>,
    duration: Family<ControllerLabel, Histogram>,
    states: Family<StateLabel, Gauge>,
    known: Mutex<HashMap<String, StateName>>,
    transitions: Family<StateLabel, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            reconciles: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 15.0])
            }),
            states: Family::default(),
            known: Mutex::default(),
            transitions: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("capt");
        r.register("reconciles", "Reconcile passes", m.reconciles.clone());
        r.register(
            "reconcile_failures",
            "Failed reconcile passes by reason",
            m.failures.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Duration of reconcile passes",
            m.duration.clone(),
        );
        r.register("controlplanes", "Control planes by state", m.states.clone());
        r.register(
            "transitions",
            "State transitions by target state",
            m.transitions.clone(),
        );
        m
    }

    /// Counts a reconcile and returns a guard that records its duration when dropped.
    pub fn reconcile_started(&self, controller: &str) -> ReconcileTimer<'_> {
        let label = ControllerLabel {
            controller: controller.to_owned(),
        };
        self.reconciles.get_or_create(&label).inc();
        ReconcileTimer {
            metrics: self,
            label,
            start: Instant::now(),
        }
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, controller: &str, error: &Error) {
        let labels = FailureLabels {
            controller: controller.to_owned(),
            reason: error.metric_label().to_owned(),
        };
        self.failures.get_or_create(&labels).inc();
    }

    /// Records that control plane `key` (namespace/name) is in `state`; `None` when it is gone.
    pub fn set_state(&self, key: &str, state: Option<StateName>) {
        let Ok(mut known) = self.known.lock() else { return };
        let previous = match state {
            Some(s) => known.insert(key.to_owned(), s),
            None => known.remove(key),
        };
        if previous == state {
            return;
        }
        if let Some(p) = previous {
            self.states
                .get_or_create(&StateLabel {
                    state: p.as_str().into(),
                })
                .dec();
        }
        if let Some(s) = state {
            self.states
                .get_or_create(&StateLabel {
                    state: s.as_str().into(),
                })
                .inc();
        }
    }

    /// Counts a transition into `to`.
    pub fn transition(&self, to: StateName) {
        self.transitions
            .get_or_create(&StateLabel {
                state: to.as_str().into(),
            })
            .inc();
    }
}

/// Records a reconcile's duration on drop.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    label: ControllerLabel,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .get_or_create(&self.label)
            .observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_gauge_counts_each_control_plane_once() {
        let mut registry = Registry::default();
        let m = Metrics::new(&mut registry);
        m.set_state("a/x", Some(StateName::Provisioning));
        m.set_state("a/x", Some(StateName::Provisioning));
        m.set_state("a/y", Some(StateName::Provisioning));
        m.set_state("a/x", Some(StateName::Ready));
        m.set_state("a/y", None);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("capt_controlplanes{state=\"Ready\"} 1"), "{text}");
        assert!(
            text.contains("capt_controlplanes{state=\"Provisioning\"} 0"),
            "{text}"
        );
    }
}
