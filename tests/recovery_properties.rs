//! Property tests of backoff and the recovery planner.

use std::time::Duration;

use capt_controlplane::{
    api::RecoveryActionType,
    recovery::{self, Backoff, Failure, Plan, Planner, RetryRecord, SplitMix64},
    remedy::Remedy,
    state::evidence::ConfigurationFacts,
};
use jiff::Timestamp;
use proptest::prelude::*;

fn backoff() -> impl Strategy<Value = Backoff> {
    (0u64..3_600_000, 0u64..7_200_000, 1.0f64..10.0, 0.0f64..=1.0).prop_map(
        |(initial, extra, factor, jitter)| Backoff {
            initial_delay: Duration::from_millis(initial),
            max_delay: Duration::from_millis(initial + extra),
            factor,
            jitter,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn backoff_never_decreases_and_never_passes_the_ceiling(
        b in backoff(),
        attempt in 0u32..300,
        unit in 0.0f64..1.0,
    ) {
        let now = b.delay(attempt, unit);
        let next = b.delay(attempt + 1, unit);
        prop_assert!(now <= next, "attempt {}: {:?} > {:?}", attempt, now, next);
        prop_assert!(next <= b.ceiling(), "{:?} > ceiling {:?}", next, b.ceiling());
        prop_assert!(b.delay(attempt, 0.0) <= now, "jitter only adds");
    }
}

/// One step of a random life of a failing control plane.
#[derive(Debug, Clone)]
enum Step {
    /// Time passes by this many seconds, then the planner is asked about a failure.
    Plan(u32),
    /// The action in flight finishes (if any), successfully or not.
    Finish(bool),
    /// The control plane is healthy at this point (since the given seconds ago).
    Healthy(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u32..4000).prop_map(Step::Plan),
        3 => any::<bool>().prop_map(Step::Finish),
        1 => (0u32..2000).prop_map(Step::Healthy),
    ]
}

fn strategy() -> impl Strategy<Value = recovery::Strategy> {
    (prop::option::of(0u32..6), backoff(), 1u64..3600).prop_map(|(max_retries, backoff, timeout)| {
        let mut s = recovery::Strategy {
            max_retries,
            backoff,
            ..recovery::Strategy::default()
        };
        for a in &mut s.actions {
            a.timeout = Duration::from_secs(timeout);
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_planner_keeps_its_word_and_its_budget(
        strategy in strategy(),
        steps in prop::collection::vec(step(), 1..60),
        seed in any::<u64>(),
        check in prop_oneof![Just(RecoveryActionType::RecreateWorkspace), Just(RecoveryActionType::RefreshKubeconfig)],
    ) {
        let max = strategy.max_retries;
        let planner = Planner::new(strategy);
        let min_healthy = planner.strategy().min_healthy_period;
        let failure = Failure::new("WorkspaceSynced", Remedy::Act(check), "failing");
        let mut last_recreate: Option<Timestamp> = None;
        let mut record = RetryRecord::default();
        let mut jitter = SplitMix64::seeded(seed);
        let mut now = Timestamp::from_second(1_700_000_000).unwrap();
        // The latest backoff promise: "not before this time".
        let mut promised: Option<Timestamp> = None;
        for step in steps {
            match step {
                Step::Plan(wait) => {
                    now = now.checked_add(Duration::from_secs(u64::from(wait))).unwrap();
                    match planner.plan(&failure, &mut record, now, &mut jitter) {
                        Plan::Act { action, deadline, .. } => {
                            if let Some(not_before) = promised.take() {
                                prop_assert!(now >= not_before, "acted at {} before promised {}", now, not_before);
                            }
                            prop_assert!(deadline > now);
                            if action == RecoveryActionType::RecreateWorkspace {
                                if let Some(last) = last_recreate {
                                    prop_assert!(
                                        now.duration_since(last).unsigned_abs() >= min_healthy,
                                        "deleted a Workspace at {} and again at {}", last, now
                                    );
                                }
                                last_recreate = Some(now);
                            }
                        }
                        Plan::Wait { until } => {
                            prop_assert!(until > now, "a wait is in the future");
                            if record.current.is_none() {
                                if let Some(earlier) = promised {
                                    prop_assert!(until >= earlier, "a promise never moves earlier");
                                }
                                promised = Some(until);
                            }
                        }
                        Plan::Escalate(_) => {}
                        Plan::Hold { .. } => prop_assert!(false, "a failure an action can fix is never held"),
                    }
                }
                Step::Finish(ok) => {
                    if record.current.is_some() {
                        if ok {
                            prop_assert!(planner.succeeded(&mut record, &ConfigurationFacts::default(), now).is_ok());
                        } else {
                            prop_assert!(planner.failed(&mut record, now).is_ok());
                        }
                    }
                }
                Step::Healthy(ago) => {
                    let since = now.checked_sub(Duration::from_secs(u64::from(ago))).unwrap();
                    if planner.observe_healthy(&mut record, since, now) {
                        // The schedule was dropped: the promise no longer stands.
                        promised = None;
                    }
                }
            }
            if let Some(max) = max {
                prop_assert!(record.attempts <= max, "{} attempts with maxRetries {}", record.attempts, max);
            }
            prop_assert!(record.history.len() <= capt_controlplane::recovery::HISTORY_LIMIT);
            prop_assert_eq!(RetryRecord::from_annotation(&record.to_annotation()).unwrap(), record.clone());
        }
    }
}
