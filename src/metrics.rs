//! `tenure report --metrics`: figures about the access process over a period.
//!
//! The engine gathers values (the request changes from the history, each judged as it stands,
//! and the audit log's lines) and this module counts them. Pure: no I/O, no clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// How a filed request version stands at the tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// It is the live version, and it is approved.
    Approved,
    /// It is the live version, and it is rejected with this code.
    Rejected(String),
    /// A later change replaced or deleted it.
    Superseded,
}

/// One change commit that added or edited a request file.
#[derive(Debug, Clone)]
pub struct RequestChange {
    /// The request file.
    pub path: String,
    /// When the change landed (the committer time).
    pub at: DateTime<Utc>,
    /// How it stands.
    pub standing: Standing,
    /// The path existed before and this change moved its expiry later.
    pub renewal: bool,
    /// The file asks for break-glass access.
    pub break_glass: bool,
    /// The pull request that landed the change, with the seconds from its opening to its merge,
    /// where the forge knows them.
    pub pull_request: Option<(u64, i64)>,
}

/// One audit log line, reduced to what metrics need.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// When it happened.
    pub time: DateTime<Utc>,
    /// `grant`, `revoke` or `update`.
    pub action: String,
    /// The reason.
    pub reason: String,
    /// Whether the outcome was `ok`.
    pub ok: bool,
    /// `resource role subject`.
    pub tuple: (String, String, String),
    /// The request file, if any.
    pub request: Option<String>,
    /// For grants: the expiry in the evidence.
    pub expires: Option<DateTime<Utc>>,
}

/// The inputs.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The start of the period, if any.
    pub since: Option<DateTime<Utc>>,
    /// The end of the period.
    pub now: DateTime<Utc>,
    /// Every request change in the history.
    pub changes: &'a [RequestChange],
    /// Every audit line, oldest first; `None` when there is no audit log.
    pub audit: Option<&'a [AuditEvent]>,
    /// The expiry of each request at the tip, to time revocations that the log has no grant for.
    pub expiry_of: &'a BTreeMap<String, DateTime<Utc>>,
    /// Live actual grants, and how many of them an approved request backs; `None` when the
    /// providers could not be read.
    pub live: Option<(usize, usize)>,
}

/// Requests filed in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    /// Changes that added or edited a request file.
    pub filed: usize,
    /// Of those, live and approved.
    pub approved: usize,
    /// Of those, live and rejected, by code.
    pub rejected: BTreeMap<String, usize>,
    /// Of those, replaced or deleted since.
    pub superseded: usize,
    /// Changes that moved an existing request's expiry later.
    pub renewals: usize,
    /// Changes that asked for break-glass access.
    pub break_glass: usize,
    /// Time from opening to merge of the pull requests that landed these changes (github).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_to_merge: Option<OpenToMerge>,
}

/// How long pull requests stayed open before they were merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenToMerge {
    /// Distinct pull requests counted.
    pub pull_requests: usize,
    /// The median, in seconds.
    pub median_seconds: i64,
    /// The longest, in seconds.
    pub max_seconds: i64,
}

/// One revocation for `expired`, with how late it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LateRevocation {
    /// The grant.
    pub resource: String,
    /// Its role.
    pub role: String,
    /// Its subject.
    pub subject: String,
    /// The request file.
    pub request: Option<String>,
    /// When it expired, if known.
    pub expired_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: String,
    /// Seconds between the two.
    pub late_by_seconds: Option<i64>,
}

/// What the audit log says about the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Grants (and role updates) applied.
    pub grants_applied: usize,
    /// Of those, break-glass.
    pub break_glass_grants: usize,
    /// Revocations applied, by reason.
    pub revoked: BTreeMap<String, usize>,
    /// Revocations for `expired`, each with its delay.
    pub expired_revocations: Vec<LateRevocation>,
    /// The longest delay after expiry, in seconds.
    pub max_late_seconds: Option<i64>,
    /// The mean delay after expiry, in seconds (rounded down).
    pub mean_late_seconds: Option<i64>,
    /// Drift removed (revocations for `drift`).
    pub drift_removed: usize,
    /// Changes that failed.
    pub failed: usize,
}

/// The share of live grants backed by an approved request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backing {
    /// Actual grants on managed resources.
    pub live_grants: usize,
    /// Of those, backed.
    pub backed: usize,
    /// backed / live_grants, 1.0 when there are none.
    pub share: f64,
}

/// The figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// The start of the period.
    pub since: Option<String>,
    /// Its end.
    pub until: String,
    /// Requests filed.
    pub requests: Requests,
    /// From the audit log, when given.
    pub applied: Option<Applied>,
    /// From the providers, when readable.
    pub backing: Option<Backing>,
    /// What could not be computed, and why.
    pub notes: Vec<String>,
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Computes the figures.
pub fn compute(inputs: Inputs<'_>) -> Metrics {
    let in_period = |at: DateTime<Utc>| inputs.since.is_none_or(|since| at >= since) && at <= inputs.now;
    let mut requests = Requests::default();
    for change in inputs.changes.iter().filter(|change| in_period(change.at)) {
        requests.filed += 1;
        match &change.standing {
            Standing::Approved => requests.approved += 1,
            Standing::Rejected(code) => *requests.rejected.entry(code.clone()).or_default() += 1,
            Standing::Superseded => requests.superseded += 1,
        }
        requests.renewals += usize::from(change.renewal);
        requests.break_glass += usize::from(change.break_glass);
    }
    // One figure per pull request, however many request files it carried.
    let per_pull: BTreeMap<u64, i64> = inputs
        .changes
        .iter()
        .filter(|change| in_period(change.at))
        .filter_map(|change| change.pull_request)
        .collect();
    let mut seconds: Vec<i64> = per_pull.into_values().collect();
    seconds.sort_unstable();
    if let (Some(&max), false) = (seconds.last(), seconds.is_empty()) {
        requests.open_to_merge = Some(OpenToMerge {
            pull_requests: seconds.len(),
            median_seconds: seconds[seconds.len() / 2],
            max_seconds: max,
        });
    }
    let mut notes = Vec::new();
    let applied = match inputs.audit {
        Some(events) => Some(applied(events, inputs.expiry_of, &in_period)),
        None => {
            notes.push("no audit log was read, so applied changes and revocations are not counted".into());
            None
        }
    };
    let backing = match inputs.live {
        Some((live_grants, backed)) => Some(Backing {
            live_grants,
            backed,
            share: if live_grants == 0 { 1.0 } else { backed as f64 / live_grants as f64 },
        }),
        None => {
            notes.push("the providers could not be read, so the share of backed grants is omitted".into());
            None
        }
    };
    Metrics { since: inputs.since.map(time), until: time(inputs.now), requests, applied, backing, notes }
}

fn applied(
    events: &[AuditEvent],
    expiry_of: &BTreeMap<String, DateTime<Utc>>,
    in_period: &dyn Fn(DateTime<Utc>) -> bool,
) -> Applied {
    let mut applied = Applied::default();
    // The latest granted expiry of each tuple, from every grant line before the revocation,
    // including those before the period.
    let mut granted: BTreeMap<&(String, String, String), DateTime<Utc>> = BTreeMap::new();
    for event in events {
        let counted = in_period(event.time);
        if !event.ok {
            applied.failed += usize::from(counted);
            continue;
        }
        match event.action.as_str() {
            "grant" | "update" => {
                if let Some(expires) = event.expires {
                    granted.insert(&event.tuple, expires);
                }
                if counted {
                    applied.grants_applied += 1;
                    applied.break_glass_grants += usize::from(event.reason == "break-glass");
                }
            }
            "revoke" if counted => {
                *applied.revoked.entry(event.reason.clone()).or_default() += 1;
                applied.drift_removed += usize::from(event.reason == "drift");
                if event.reason == "expired" {
                    let expired_at = granted
                        .get(&event.tuple)
                        .copied()
                        .or_else(|| event.request.as_ref().and_then(|path| expiry_of.get(path).copied()));
                    let (resource, role, subject) = event.tuple.clone();
                    applied.expired_revocations.push(LateRevocation {
                        resource,
                        role,
                        subject,
                        request: event.request.clone(),
                        expired_at: expired_at.map(time),
                        revoked_at: time(event.time),
                        late_by_seconds: expired_at.map(|at| (event.time - at).num_seconds()),
                    });
                }
            }
            _ => {}
        }
    }
    let delays: Vec<i64> = applied.expired_revocations.iter().filter_map(|r| r.late_by_seconds).collect();
    applied.max_late_seconds = delays.iter().copied().max();
    applied.mean_late_seconds =
        (!delays.is_empty()).then(|| delays.iter().sum::<i64>().div_euclid(delays.len() as i64));
    applied
}

/// The figures as text, json or markdown.
pub fn render(metrics: &Metrics, format: crate::render::Format) -> String {
    use std::fmt::Write as _;

    use crate::render::Format;
    if format == Format::Json {
        return crate::render::to_json(metrics);
    }
    let md = format == Format::Markdown;
    let mut rows: Vec<(String, String)> = Vec::new();
    let r = &metrics.requests;
    rows.push(("requests filed".into(), r.filed.to_string()));
    rows.push(("  approved (as they stand)".into(), r.approved.to_string()));
    let rejected: usize = r.rejected.values().sum();
    let codes: Vec<String> = r.rejected.iter().map(|(code, n)| format!("{code} {n}")).collect();
    rows.push((
        "  rejected (as they stand)".into(),
        if codes.is_empty() { "0".into() } else { format!("{rejected} ({})", codes.join(", ")) },
    ));
    rows.push(("  superseded since".into(), r.superseded.to_string()));
    rows.push(("renewals".into(), r.renewals.to_string()));
    rows.push(("break-glass requests".into(), r.break_glass.to_string()));
    if let Some(times) = &r.open_to_merge {
        rows.push((
            "pull request open to merge: median".into(),
            format!("{}s ({} pull requests)", times.median_seconds, times.pull_requests),
        ));
        rows.push(("pull request open to merge: max".into(), format!("{}s", times.max_seconds)));
    }
    if let Some(a) = &metrics.applied {
        rows.push(("grants applied".into(), a.grants_applied.to_string()));
        rows.push(("  break-glass grants".into(), a.break_glass_grants.to_string()));
        for (reason, n) in &a.revoked {
            rows.push((format!("revoked: {reason}"), n.to_string()));
        }
        rows.push(("drift removed".into(), a.drift_removed.to_string()));
        if let Some(max) = a.max_late_seconds {
            rows.push(("revoked after expiry: max".into(), format!("{max}s")));
        }
        if let Some(mean) = a.mean_late_seconds {
            rows.push(("revoked after expiry: mean".into(), format!("{mean}s")));
        }
        rows.push(("failed changes".into(), a.failed.to_string()));
    }
    if let Some(b) = &metrics.backing {
        rows.push((
            "live grants backed by an approved request".into(),
            format!("{} of {} ({:.1}%)", b.backed, b.live_grants, b.share * 100.0),
        ));
    }
    let period = format!("{} to {}", metrics.since.as_deref().unwrap_or("the beginning"), metrics.until);
    let mut out = String::new();
    if md {
        let _ = writeln!(out, "### tenure metrics, {period}\n\n| figure | value |\n|---|---|");
        for (name, value) in &rows {
            let _ = writeln!(out, "| {} | {value} |", name.trim());
        }
        out.push('\n');
        for note in &metrics.notes {
            let _ = writeln!(out, "- {note}");
        }
    } else {
        let _ = writeln!(out, "tenure metrics, {period}\n");
        for (name, value) in &rows {
            let _ = writeln!(out, "{name:<44} {value}");
        }
        for note in &metrics.notes {
            let _ = writeln!(out, "note: {note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_to_merge_counts_each_pull_request_once() {
        let change = |path: &str, pull_request| RequestChange {
            path: path.into(),
            at: at("2026-01-05T00:00:00Z"),
            standing: Standing::Approved,
            renewal: false,
            break_glass: false,
            pull_request,
        };
        let changes = [
            change("requests/a.yaml", Some((1, 100))),
            change("requests/b.yaml", Some((1, 100))),
            change("requests/c.yaml", Some((2, 400))),
            change("requests/d.yaml", Some((3, 50))),
            change("requests/e.yaml", None),
        ];
        let metrics = compute(Inputs {
            since: None,
            now: at("2026-02-01T00:00:00Z"),
            changes: &changes,
            audit: None,
            expiry_of: &BTreeMap::new(),
            live: None,
        });
        assert_eq!(
            metrics.requests.open_to_merge,
            Some(OpenToMerge { pull_requests: 3, median_seconds: 100, max_seconds: 400 })
        );
        assert_eq!(metrics.requests.filed, 5);
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn event(time: &str, action: &str, reason: &str, subject: &str, expires: Option<&str>) -> AuditEvent {
        AuditEvent {
            time: at(time),
            action: action.into(),
            reason: reason.into(),
            ok: true,
            tuple: ("local:group/a".into(), "member".into(), subject.into()),
            request: Some(format!("requests/{subject}.yaml")),
            expires: expires.map(at),
        }
    }

    #[test]
    fn counts_requests_and_revocation_delays() {
        let changes = vec![
            RequestChange {
                path: "requests/a.yaml".into(),
                at: at("2026-01-01T00:00:00Z"),
                standing: Standing::Superseded,
                renewal: false,
                break_glass: false,
                pull_request: None,
            },
            RequestChange {
                path: "requests/a.yaml".into(),
                at: at("2026-01-05T00:00:00Z"),
                standing: Standing::Approved,
                renewal: true,
                break_glass: false,
                pull_request: None,
            },
            RequestChange {
                path: "requests/b.yaml".into(),
                at: at("2026-01-06T00:00:00Z"),
                standing: Standing::Rejected("not-reviewed".into()),
                renewal: false,
                break_glass: true,
                pull_request: None,
            },
        ];
        let audit = vec![
            event("2026-01-01T01:00:00Z", "grant", "approved", "a", Some("2026-01-03T00:00:00Z")),
            event("2026-01-03T02:00:00Z", "revoke", "expired", "a", None),
            event("2026-01-04T00:00:00Z", "revoke", "drift", "z", None),
            event("2026-01-04T00:00:00Z", "revoke", "expired", "c", None),
        ];
        let expiry_of = BTreeMap::from([("requests/c.yaml".to_owned(), at("2026-01-03T23:00:00Z"))]);
        let metrics = compute(Inputs {
            since: Some(at("2026-01-02T00:00:00Z")),
            now: at("2026-01-10T00:00:00Z"),
            changes: &changes,
            audit: Some(&audit),
            expiry_of: &expiry_of,
            live: Some((4, 3)),
        });
        assert_eq!(metrics.requests.filed, 2);
        assert_eq!(metrics.requests.approved, 1);
        assert_eq!(metrics.requests.rejected.get("not-reviewed"), Some(&1));
        assert_eq!(metrics.requests.renewals, 1);
        assert_eq!(metrics.requests.break_glass, 1);
        let applied = metrics.applied.unwrap();
        assert_eq!(applied.grants_applied, 0, "the grant was before the period");
        assert_eq!(applied.drift_removed, 1);
        assert_eq!(applied.revoked.get("expired"), Some(&2));
        let delays: Vec<_> = applied.expired_revocations.iter().map(|r| r.late_by_seconds).collect();
        assert_eq!(delays, [Some(7200), Some(3600)]);
        assert_eq!(applied.max_late_seconds, Some(7200));
        assert_eq!(applied.mean_late_seconds, Some(5400));
        assert_eq!(metrics.backing.unwrap().share, 0.75);
    }

    #[test]
    fn missing_sources_are_noted_not_guessed() {
        let metrics = compute(Inputs {
            since: None,
            now: at("2026-01-10T00:00:00Z"),
            changes: &[],
            audit: None,
            expiry_of: &BTreeMap::new(),
            live: None,
        });
        assert!(metrics.applied.is_none() && metrics.backing.is_none());
        assert_eq!(metrics.notes.len(), 2);
    }
}
