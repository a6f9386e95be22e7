//! `tenure notify`: which reminders are due, and which were already sent.
//!
//! Reminders are keyed so that a scheduled job can run every hour without nagging: an expiry
//! reminder's key names the request, its change commit and the threshold crossed (7 days, then
//! 1 day), and a break-glass review request's key names the request and its change commit. A
//! renewal is a new change commit, so its reminders start afresh. The caller keeps the keys
//! that were sent (a state file, or hidden markers in pull-request comments) and passes them
//! back. Pure: no I/O, no clock.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::model::Evidence;

/// One approved request at the tip, as notify sees it.
#[derive(Debug, Clone)]
pub struct Live<'a> {
    /// Its evidence (the request, the change, the PR, the expiry).
    pub evidence: &'a Evidence,
    /// Who holds the access.
    pub subjects: Vec<String>,
    /// The resources it grants, as full ids.
    pub resources: Vec<String>,
    /// The resources' owners, as mentions: `alice`, `@org/team`; groups already expanded.
    pub owners: Vec<String>,
}

/// What a reminder is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The access ends soon.
    Expiry,
    /// Access was taken without approvals; its owners review it after the fact.
    BreakGlass,
}

/// One reminder to send.
#[derive(Debug, Clone, Serialize)]
pub struct Reminder {
    /// The dedup key: send each key once.
    pub key: String,
    /// What it is about.
    pub kind: Kind,
    /// The request file.
    pub request: String,
    /// `7d` or `1d` (or the window, when it is wider than 7 days); none for break-glass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// When the access ends (RFC 3339).
    pub expires: String,
    /// Who is told: the requester and subjects (expiry), or the owners (break-glass).
    pub recipients: Vec<String>,
    /// The request's pull request (github forge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_number: Option<u64>,
    /// Its URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    /// The resources it grants.
    pub resources: Vec<String>,
    /// The reminder, for people.
    pub message: String,
}

/// The thresholds of a window: 1 day and 7 days, and the window itself when it is wider.
fn thresholds(window: TimeDelta) -> Vec<(TimeDelta, String)> {
    let mut list = vec![(TimeDelta::days(1), "1d".to_owned()), (TimeDelta::days(7), "7d".to_owned())];
    if window > TimeDelta::days(7) {
        list.push((window, label(window)));
    }
    list
}

fn label(delta: TimeDelta) -> String {
    if delta.num_seconds() % 86_400 == 0 {
        format!("{}d", delta.num_days())
    } else if delta.num_seconds() % 3_600 == 0 {
        format!("{}h", delta.num_hours())
    } else {
        format!("{}s", delta.num_seconds())
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The reminders due at `now` for grants ending within `window`, and the break-glass reviews
/// not yet asked for, leaving out every key in `sent`. Sorted by key.
pub fn due(
    live: &[Live<'_>],
    now: DateTime<Utc>,
    window: TimeDelta,
    sent: &BTreeSet<String>,
) -> Vec<Reminder> {
    let mut out = Vec::new();
    for item in live {
        let e = item.evidence;
        if e.break_glass {
            let key = format!("break-glass/{}/{}", e.request, e.change_commit);
            if !sent.contains(&key) {
                out.push(Reminder {
                    key,
                    kind: Kind::BreakGlass,
                    request: e.request.clone(),
                    threshold: None,
                    expires: time(e.expires),
                    recipients: item.owners.clone(),
                    pr_number: e.pr_number,
                    pr_url: e.pr_url.clone(),
                    resources: item.resources.clone(),
                    message: format!(
                        "{} took break-glass access to {} without approvals ({}); as owners, please review it \
                         after the fact. It ends {}.",
                        e.requester,
                        item.resources.join(", "),
                        e.justification,
                        time(e.expires)
                    ),
                });
            }
        }
        if e.expires <= now {
            continue;
        }
        let left = e.expires - now;
        if left > window {
            continue;
        }
        let Some((_, threshold)) = thresholds(window).into_iter().find(|(limit, _)| left <= *limit) else {
            continue;
        };
        let key = format!("expiry/{}/{}/{threshold}", e.request, e.change_commit);
        if sent.contains(&key) {
            continue;
        }
        let mut recipients = vec![e.requester.clone()];
        for subject in &item.subjects {
            if !recipients.iter().any(|known| known.eq_ignore_ascii_case(subject)) {
                recipients.push(subject.clone());
            }
        }
        out.push(Reminder {
            key,
            kind: Kind::Expiry,
            request: e.request.clone(),
            threshold: Some(threshold.clone()),
            expires: time(e.expires),
            recipients,
            pr_number: e.pr_number,
            pr_url: e.pr_url.clone(),
            resources: item.resources.clone(),
            message: format!(
                "access granted by {} to {} ends {} (within {threshold}); to keep it, run `tenure renew {} --for 30d` \
                 and get the renewal approved",
                e.request,
                item.resources.join(", "),
                time(e.expires),
                e.request
            ),
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The hidden marker that records a reminder in a pull-request or issue comment.
pub fn marker(key: &str) -> String {
    format!("<!-- tenure-notify:{key} -->")
}

/// The keys recorded by markers in a comment body.
pub fn markers_in(body: &str) -> Vec<String> {
    body.match_indices("<!-- tenure-notify:")
        .filter_map(|(at, found)| {
            let rest = &body[at + found.len()..];
            rest.find(" -->").map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// A comment for a forge: the mentions, the message, and the marker.
pub fn comment(reminder: &Reminder) -> String {
    let (title, mentions) = heading(reminder);
    // The message quotes request text (a break-glass justification went through no review);
    // escaping `<` keeps it from carrying a marker that would silence another reminder.
    let message = reminder.message.replace('<', "&lt;");
    format!("**{title}** {mentions}\n\n{message}\n\n{}\n", marker(&reminder.key))
}

/// The title of a reminder and its recipients as mentions (`@login`, `@org/team`).
fn heading(reminder: &Reminder) -> (&'static str, String) {
    let mentions: Vec<String> = reminder
        .recipients
        .iter()
        .map(|who| if who.starts_with('@') { who.clone() } else { format!("@{who}") })
        .collect();
    let title = match reminder.kind {
        Kind::Expiry => "Access ends soon",
        Kind::BreakGlass => "Break-glass access: please review",
    };
    (title, mentions.join(" "))
}

#[derive(Serialize)]
struct RemindersJson<'a> {
    now: String,
    reminders: &'a [Reminder],
}

/// The reminders as text, json (for other channels: chat, mail) or markdown.
pub fn render(reminders: &[Reminder], now: DateTime<Utc>, format: crate::render::Format) -> String {
    use crate::render::Format;
    match format {
        Format::Json => crate::render::to_json(&RemindersJson { now: time(now), reminders }),
        Format::Markdown => {
            let mut out = format!("### tenure reminders at {}\n\n", time(now));
            if reminders.is_empty() {
                out.push_str("None due.\n");
            }
            for reminder in reminders {
                let (title, mentions) = heading(reminder);
                out.push_str(&format!("- **{title}** {mentions}: {}\n", reminder.message));
            }
            out
        }
        Format::Text | Format::Csv => {
            let mut out = format!("reminders due at {}\n", time(now));
            if reminders.is_empty() {
                out.push_str("\nNone due.\n");
            }
            for reminder in reminders {
                let kind = match reminder.kind {
                    Kind::Expiry => format!("ends within {}", reminder.threshold.as_deref().unwrap_or("")),
                    Kind::BreakGlass => "break-glass review".to_owned(),
                };
                out.push_str(&format!(
                    "\n{} ({kind})\n  to       {}\n  {}\n",
                    reminder.request,
                    reminder.recipients.join(", "),
                    reminder.message
                ));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectId;

    fn evidence(request: &str, expires: &str, break_glass: bool) -> Evidence {
        Evidence {
            request: request.into(),
            blob: ObjectId("b".into()),
            change_commit: ObjectId("c1".into()),
            policy_commit: None,
            pr_number: None,
            pr_url: None,
            requester: "alice".into(),
            approvers: vec![],
            justification: "why".into(),
            ticket: None,
            merged_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            expires: expires.parse().unwrap(),
            break_glass,
        }
    }

    fn live(e: &Evidence) -> Live<'_> {
        Live {
            evidence: e,
            subjects: vec!["alice".into(), "Bob".into()],
            resources: vec!["local:group/a".into()],
            owners: vec!["carol".into(), "@acme/leads".into()],
        }
    }

    #[test]
    fn thresholds_are_crossed_once_each() {
        let e = evidence("requests/a.yaml", "2026-01-10T00:00:00Z", false);
        let now: DateTime<Utc> = "2026-01-05T00:00:00Z".parse().unwrap();
        let first = due(&[live(&e)], now, TimeDelta::days(7), &BTreeSet::new());
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].threshold.as_deref(), Some("7d"));
        assert_eq!(first[0].recipients, ["alice", "Bob"]);
        let sent: BTreeSet<String> = first.iter().map(|r| r.key.clone()).collect();
        assert!(due(&[live(&e)], now, TimeDelta::days(7), &sent).is_empty());
        let later: DateTime<Utc> = "2026-01-09T06:00:00Z".parse().unwrap();
        let second = due(&[live(&e)], later, TimeDelta::days(7), &sent);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].threshold.as_deref(), Some("1d"));
    }

    #[test]
    fn outside_the_window_or_ended_is_not_reminded() {
        let e = evidence("requests/a.yaml", "2026-01-20T00:00:00Z", false);
        let now: DateTime<Utc> = "2026-01-05T00:00:00Z".parse().unwrap();
        assert!(due(&[live(&e)], now, TimeDelta::days(7), &BTreeSet::new()).is_empty());
        let after: DateTime<Utc> = "2026-01-21T00:00:00Z".parse().unwrap();
        assert!(due(&[live(&e)], after, TimeDelta::days(7), &BTreeSet::new()).is_empty());
    }

    #[test]
    fn break_glass_asks_owners_once() {
        let e = evidence("requests/bg.yaml", "2026-01-05T04:00:00Z", true);
        let now: DateTime<Utc> = "2026-01-05T01:00:00Z".parse().unwrap();
        let first = due(&[live(&e)], now, TimeDelta::days(7), &BTreeSet::new());
        let review: Vec<_> = first.iter().filter(|r| r.kind == Kind::BreakGlass).collect();
        assert_eq!(review.len(), 1);
        assert_eq!(review[0].recipients, ["carol", "@acme/leads"]);
        let sent: BTreeSet<String> = first.iter().map(|r| r.key.clone()).collect();
        assert!(due(&[live(&e)], now, TimeDelta::days(7), &sent).is_empty());
    }

    #[test]
    fn markers_round_trip_through_a_comment() {
        let e = evidence("requests/a.yaml", "2026-01-10T00:00:00Z", false);
        let now: DateTime<Utc> = "2026-01-05T00:00:00Z".parse().unwrap();
        let reminder = &due(&[live(&e)], now, TimeDelta::days(7), &BTreeSet::new())[0];
        let body = comment(reminder);
        assert!(body.contains("@alice @Bob"));
        assert_eq!(markers_in(&body), std::slice::from_ref(&reminder.key));
        assert!(markers_in("no marker here").is_empty());
    }

    #[test]
    fn a_justification_cannot_smuggle_a_marker_into_a_comment() {
        let mut e = evidence("requests/bg.yaml", "2026-01-05T04:00:00Z", true);
        e.justification = "<!-- tenure-notify:expiry/requests/other.yaml/c9/1d -->".into();
        let now: DateTime<Utc> = "2026-01-05T01:00:00Z".parse().unwrap();
        let reminders = due(&[live(&e)], now, TimeDelta::days(7), &BTreeSet::new());
        let review = reminders.iter().find(|r| r.kind == Kind::BreakGlass).unwrap();
        assert_eq!(markers_in(&comment(review)), std::slice::from_ref(&review.key));
    }
}
