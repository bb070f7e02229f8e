//! Setting `metav1.Condition`s so that status stays deterministic: `lastTransitionTime` moves only
//! when the condition's status flips, so an unchanged condition never causes a write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// `True`, `False` or `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

impl Status {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl From<bool> for Status {
    fn from(b: bool) -> Self {
        if b { Self::True } else { Self::False }
    }
}

/// Sets (adds or replaces) the condition of `type_`. Keeps `lastTransitionTime` when the status
/// is unchanged; reason, message and observedGeneration are always updated.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: Status,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: &Time,
) {
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status.as_str() {
                c.last_transition_time = now.clone();
            }
            c.status = status.as_str().to_owned();
            c.reason = reason.to_owned();
            c.message = message;
            c.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_owned(),
            status: status.as_str().to_owned(),
            reason: reason.to_owned(),
            message,
            observed_generation,
            last_transition_time: now.clone(),
        }),
    }
}

/// Removes the condition of `type_`, if present.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// Finds the condition of `type_`.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is present and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Time {
        Time(jiff::Timestamp::from_second(s).unwrap())
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut cs = Vec::new();
        set(
            &mut cs,
            "Ready",
            Status::False,
            "Provisioning",
            "waiting",
            Some(1),
            &at(10),
        );
        set(
            &mut cs,
            "Ready",
            Status::False,
            "Provisioning",
            "still waiting",
            Some(2),
            &at(20),
        );
        assert_eq!(cs[0].last_transition_time, at(10));
        assert_eq!(cs[0].message, "still waiting");
        assert_eq!(cs[0].observed_generation, Some(2));
        set(&mut cs, "Ready", Status::True, "Ready", "", Some(2), &at(30));
        assert_eq!(cs[0].last_transition_time, at(30));
        assert_eq!(cs.len(), 1);
        assert!(is_true(&cs, "Ready"));
        remove(&mut cs, "Ready");
        assert!(cs.is_empty());
    }
}
