//! Micro benchmarks of the recovery planner and health evaluation: what one reconcile pass of a
//! failing control plane costs. Numbers: `BENCHMARKS.md`.

use std::hint::black_box;

use capt_controlplane::{
    api::{ApiEndpoint, RecoveryActionType, WorkspaceView, workspace::WorkspaceCondition},
    health::{HealthChecks, HealthFacts, ProbeFacts, ProbeResult, SecretState},
    recovery::{Backoff, Failure, FixedJitter, Planner, RetryRecord, SplitMix64, Strategy},
    remedy::Remedy,
};
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn failure() -> Failure {
    Failure::new(
        "WorkspaceSynced",
        Remedy::Act(RecoveryActionType::ClearCreatePending),
        "create cut off",
    )
}

/// A record with a full history, as after a long failing life.
fn busy_record(planner: &Planner) -> RetryRecord {
    let mut record = RetryRecord::default();
    let mut jitter = FixedJitter(0.5);
    for i in 0..12 {
        let now = at(i * 10_000);
        record.next_attempt_after = Some(now);
        planner.plan(&failure(), &mut record, now, &mut jitter);
        let _ = planner.failed(&mut record, now);
    }
    record
}

fn planner(c: &mut Criterion) {
    let planner = Planner::new(Strategy {
        max_retries: Some(100),
        ..Strategy::default()
    });
    let mut group = c.benchmark_group("planner");
    let waiting = {
        let mut record = busy_record(&planner);
        planner.plan(&failure(), &mut record, at(200_000), &mut FixedJitter(0.5));
        record
    };
    group.bench_function("plan_wait", |b| {
        let mut jitter = SplitMix64::seeded(1);
        b.iter(|| {
            let mut record = waiting.clone();
            black_box(planner.plan(&failure(), &mut record, at(200_001), &mut jitter))
        })
    });
    group.bench_function("plan_act", |b| {
        let mut jitter = SplitMix64::seeded(1);
        b.iter(|| {
            let mut record = waiting.clone();
            black_box(planner.plan(&failure(), &mut record, at(300_000), &mut jitter))
        })
    });
    let record = busy_record(&planner);
    group.bench_function("annotation_round_trip", |b| {
        b.iter(|| black_box(RetryRecord::from_annotation(&record.to_annotation()).map(|r| r.attempts)))
    });
    group.bench_function("status", |b| b.iter(|| black_box(planner.status(&record))));
    let backoff = Backoff::default();
    group.bench_function("backoff_delay_attempt_20", |b| {
        b.iter(|| black_box(backoff.delay(black_box(20), 0.5)))
    });
    group.finish();
}

fn health(c: &mut Criterion) {
    let condition = |t: &str, s: &str| WorkspaceCondition {
        type_: t.into(),
        status: s.into(),
        ..Default::default()
    };
    let workspace = WorkspaceView {
        name: "prod-eks".into(),
        namespace: "team-a".into(),
        ready: Some(condition("Ready", "True")),
        synced: Some(WorkspaceCondition {
            reason: "ReconcileError".into(),
            message: "update failed: cannot apply Terraform configuration".into(),
            ..condition("Synced", "False")
        }),
        ..Default::default()
    };
    let endpoint = ApiEndpoint {
        host: "abc.gr7.ap-northeast-1.eks.amazonaws.com".into(),
        port: 443,
    };
    let probe = ProbeResult::Responded(401);
    let facts = HealthFacts {
        broken_dependencies: &[],
        workspace: Some(&workspace),
        endpoint: Some(&endpoint),
        kubeconfig_secret: SecretState::Owned,
        ca_secret: SecretState::Owned,
        probe: Some(ProbeFacts {
            latest: &probe,
            failures_in_a_row: 0,
        }),
    };
    let checks = HealthChecks::defaults();
    let planner = Planner::default();
    let mut group = c.benchmark_group("health");
    group.bench_function("evaluate_defaults", |b| {
        b.iter(|| black_box(checks.evaluate(black_box(&facts))))
    });
    group.bench_function("evaluate_and_plan", |b| {
        let mut jitter = SplitMix64::seeded(7);
        b.iter(|| {
            let report = checks.evaluate(&facts);
            let mut record = RetryRecord::default();
            let failure = Failure::from_report(&report);
            black_box(failure.map(|f| planner.plan(&f, &mut record, at(0), &mut jitter)))
        })
    });
    group.finish();
}

criterion_group!(benches, planner, health);
criterion_main!(benches);
