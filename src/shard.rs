//! `--only GLOB`: the resources one shard of a run manages.
//!
//! A large organization splits reconciliation across a CI matrix, one shard per provider or per
//! team prefix. A shard reads, plans, applies and guards only the resources whose full id
//! (`<provider>:<type>/<name>`) matches one of its patterns; every request is still judged, since
//! a request may grant on several shards. The patterns know one wildcard, `*`, which matches
//! any run of characters, `/` and `:` included: resource ids have a fixed shape, so prefixes
//! (`gh:team/*`, `local:*`) and suffixes are all a shard needs, and a hand-written matcher
//! costs less than a glob crate and cannot surprise anyone with character classes or braces.
//! Pure.

use std::fmt;

use crate::wire::GrantEntry;

/// The patterns of `--only`; none means the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shard {
    patterns: Vec<String>,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern {
    /// The pattern.
    pub pattern: String,
    /// Why.
    pub why: &'static str,
}

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--only `{}`: {}", self.pattern, self.why)
    }
}

impl std::error::Error for BadPattern {}

impl Shard {
    /// The shard of these patterns. A pattern must be printable ASCII without spaces (as
    /// resource ids are), and must not be empty.
    pub fn new(patterns: &[String]) -> Result<Shard, BadPattern> {
        for pattern in patterns {
            let why = if pattern.is_empty() {
                Some("a pattern must not be empty")
            } else if !pattern.bytes().all(|b| b.is_ascii_graphic()) {
                Some("a pattern is printable ASCII without spaces, like a resource id")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(BadPattern { pattern: pattern.clone(), why });
            }
        }
        Ok(Shard { patterns: patterns.to_vec() })
    }

    /// Whether this is the whole run (no `--only`).
    pub fn is_whole(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether the shard holds this resource id.
    pub fn contains(&self, resource: &str) -> bool {
        self.is_whole() || self.patterns.iter().any(|pattern| matches(pattern, resource))
    }

    /// Whether a shard reports a rejected file, given the grants of its live version where it
    /// could be read. A file whose grants touch the shard is reported there; one whose grants
    /// are unknown (unreadable YAML, a link, no grants) or that is no request at all (a policy
    /// file) is reported in every shard, since no shard can tell whose it is and a rejection
    /// must never fall between shards.
    pub fn reports_rejection(&self, grants: Option<&[GrantEntry]>) -> bool {
        match grants {
            Some(grants) if !grants.is_empty() => grants.iter().any(|grant| self.contains(&grant.resource)),
            _ => true,
        }
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of bytes. Greedy with one
/// backtrack point (the last star), so it runs in O(pattern × text) at worst, never
/// exponentially.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_match_only_themselves() {
        assert!(matches("gh:team/a", "gh:team/a"));
        assert!(!matches("gh:team/a", "gh:team/ab"));
        assert!(!matches("gh:team/ab", "gh:team/a"));
        assert!(!matches("GH:team/a", "gh:team/a"));
    }

    #[test]
    fn a_star_matches_any_run_including_separators() {
        assert!(matches("gh:team/*", "gh:team/payments"));
        assert!(matches("gh:team/*", "gh:team/"));
        assert!(!matches("gh:team/*", "gh:repo/payments"));
        assert!(matches("local:*", "local:group/a"));
        assert!(!matches("local:*", "localx:group/a"));
        assert!(matches("*", "gh:org"));
        assert!(matches("*/pay*-oncall", "gh:team/payments-oncall"));
        assert!(!matches("*/pay*-oncall", "gh:team/payments-oncall2"));
        assert!(matches("**a*", "xyza"));
        assert!(!matches("a*b*c", "aXXbXX"));
    }

    #[test]
    fn a_hostile_pattern_stays_polynomial() {
        let pattern = "*a".repeat(40) + "b";
        assert!(!matches(&pattern, &"a".repeat(2000)));
    }

    #[test]
    fn shards_refuse_empty_or_spaced_patterns() {
        assert!(Shard::new(&[String::new()]).is_err());
        assert!(Shard::new(&["gh:team/a b".into()]).is_err());
        let shard = Shard::new(&["gh:*".into(), "local:group/x".into()]).unwrap();
        assert!(shard.contains("gh:org"));
        assert!(shard.contains("local:group/x"));
        assert!(!shard.contains("local:group/y"));
        assert!(Shard::default().contains("anything:at/all"));
    }

    #[test]
    fn rejections_are_reported_where_their_grants_are_or_everywhere_when_unknown() {
        let shard = Shard::new(&["gh:*".into()]).unwrap();
        let grant = |resource: &str| GrantEntry { resource: resource.into(), role: "member".into() };
        assert!(shard.reports_rejection(Some(&[grant("local:group/a"), grant("gh:team/b")])));
        assert!(!shard.reports_rejection(Some(&[grant("local:group/a")])));
        assert!(shard.reports_rejection(Some(&[])));
        assert!(shard.reports_rejection(None));
    }
}
