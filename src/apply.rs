//! Apply: executes exactly the plan it is given, one change at a time, and
//! writes one audit line per change.
//!
//! It never recomputes or reorders the plan. A failed change is recorded and the
//! rest go on (rule 10); the caller turns any failure into exit 1. The audit
//! line is written after each attempt, so the log shows every change that was
//! tried, including the ones that failed. The caller holds the run's locks
//! (`lock`) from before the providers were read until this returns, so no other
//! apply changes the same state or chains onto the same log meanwhile.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::audit::{AuditError, AuditLog, AuditRecord};
use crate::model::ObjectId;
use crate::plan::{Action, Plan};
use crate::providers::Provider;
use crate::render::Outcome;

/// The facts of this run that every audit line carries.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// The repository commit that was judged.
    pub commit: &'a ObjectId,
    /// The time every decision of the run was made at (`--now`, or the wall clock).
    pub decided_at: DateTime<Utc>,
    /// This run's id.
    pub run_id: String,
    /// Whether `--force` overrode a tripped guard.
    pub forced: bool,
}

/// Executes `plan` through `providers` (by provider name), returning one outcome per change
/// in plan order. Only a failure to write the audit log stops the run: a change that cannot
/// be recorded must not be made silently.
pub fn execute(
    plan: &Plan,
    providers: &mut BTreeMap<String, Box<dyn Provider>>,
    log: &mut AuditLog,
    run: &Run<'_>,
    clock: impl Fn() -> DateTime<Utc>,
) -> Result<Vec<Outcome>, AuditError> {
    let mut outcomes = Vec::with_capacity(plan.changes.len());
    for change in &plan.changes {
        let result = match providers.get_mut(change.tuple.resource.provider()) {
            None => Err(format!("provider `{}` is not configured", change.tuple.resource.provider())),
            Some(provider) => match change.action {
                // A one-role system replaces the role when granting the new one.
                Action::Grant | Action::Update => provider.grant(&change.tuple),
                Action::Revoke => provider.revoke(&change.tuple),
            }
            .map_err(|error| error.to_string()),
        };
        let error = result.err();
        log.append(&AuditRecord {
            time: clock(),
            decided_at: run.decided_at,
            run_id: run.run_id.clone(),
            commit: run.commit.clone(),
            action: match change.action {
                Action::Grant => "grant",
                Action::Update => "update",
                Action::Revoke => "revoke",
            }
            .to_owned(),
            resource: change.tuple.resource.to_string(),
            role: change.tuple.role.clone(),
            subject: change.tuple.subject.clone(),
            from: change.from.clone(),
            reason: change.reason.as_str().to_owned(),
            request: change.request.clone(),
            outcome: if error.is_none() { "ok" } else { "error" }.to_owned(),
            error: error.clone(),
            forced: run.forced,
            evidence: change.evidence.clone(),
        })?;
        outcomes.push(Outcome { error });
    }
    Ok(outcomes)
}
