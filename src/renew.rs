//! `tenure renew`: the one-line edit of a request's `expires` or `duration`.
//!
//! A renewal is a reviewed change like any other (rule 1), so the diff that owners read must
//! be exactly the line that moves the end date. Reserializing the YAML would reorder keys,
//! drop comments and restyle quotes, so this module edits text: it finds the single top-level
//! `expires:` or `duration:` line and replaces its value, keeping the key's spelling, the
//! value's quote style, any trailing comment and the line ending. Pure: no I/O, no clock.

use std::fmt;

/// Which key holds the end of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryKey {
    /// `expires:` a date or an RFC 3339 time.
    Expires,
    /// `duration:` counted from the merge.
    Duration,
}

impl ExpiryKey {
    /// The key as written in a request file.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryKey::Expires => "expires",
            ExpiryKey::Duration => "duration",
        }
    }
}

/// The line that a renewal rewrites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryLine {
    /// 1-based line number.
    pub line: usize,
    /// The key.
    pub key: ExpiryKey,
    /// The value as written, without quotes.
    pub value: String,
}

/// Why a file cannot be renewed by a line edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenewError {
    /// No top-level `expires:` or `duration:` line.
    NotFound,
    /// More than one (the file would not even load, but say which lines).
    Several(Vec<usize>),
    /// The request is written as a flow mapping (`{…}`), where a line edit is not safe.
    FlowStyle,
    /// The key has no value on its line (a multi-line scalar, an anchor or a tag).
    NotPlain(usize),
    /// The value cannot be written as a plain, single-line scalar.
    BadValue(String),
}

impl fmt::Display for RenewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenewError::NotFound => write!(f, "found no top-level `expires:` or `duration:` line"),
            RenewError::Several(lines) => {
                let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "found several top-level expiry lines ({}); edit the file by hand",
                    lines.join(", ")
                )
            }
            RenewError::FlowStyle => {
                write!(
                    f,
                    "the request is one flow mapping (`{{…}}`); a line edit is not safe, edit it by hand"
                )
            }
            RenewError::NotPlain(line) => write!(
                f,
                "line {line}: the expiry is not a single-line value (a block scalar, anchor, alias or tag); \
                 edit it by hand"
            ),
            RenewError::BadValue(value) => write!(f, "`{value}` cannot be written as a plain value"),
        }
    }
}

impl std::error::Error for RenewError {}

/// One top-level expiry line, split into the parts that a rewrite keeps.
struct Found {
    index: usize,
    key: ExpiryKey,
    /// Everything up to and including the colon and the spaces after it.
    head_len: usize,
    /// The value's span within the line (quotes included).
    value: std::ops::Range<usize>,
    quote: Option<char>,
    inner: String,
}

/// Finds the single top-level `expires:` or `duration:` line.
pub fn find(text: &str) -> Result<ExpiryLine, RenewError> {
    let found = locate(text)?;
    Ok(ExpiryLine { line: found.index + 1, key: found.key, value: found.inner })
}

/// Rewrites the expiry line to `key: value`, keeping everything else byte for byte. When the
/// key changes (`duration` to `expires` or back), only the key's name and the value change.
pub fn rewrite(text: &str, key: ExpiryKey, value: &str) -> Result<String, RenewError> {
    if value.is_empty()
        || value.contains(['\n', '\r', '#', '"', '\'', '{', '}', '[', ']', ','])
        || value.trim() != value
    {
        return Err(RenewError::BadValue(value.to_owned()));
    }
    let found = locate(text)?;
    let mut out = String::with_capacity(text.len() + value.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if index != found.index {
            out.push_str(line);
            continue;
        }
        let head = &line[..found.head_len];
        if key == found.key {
            out.push_str(head);
        } else {
            // Keep the indentation-free spacing after the colon; only the name changes.
            let spacing = &head[head.find(':').map_or(head.len(), |colon| colon + 1)..];
            out.push_str(key.as_str());
            out.push(':');
            out.push_str(spacing);
        }
        match found.quote {
            Some(quote) => {
                out.push(quote);
                out.push_str(value);
                out.push(quote);
            }
            None => out.push_str(value),
        }
        out.push_str(&line[found.value.end..]);
    }
    Ok(out)
}

fn locate(text: &str) -> Result<Found, RenewError> {
    let mut found: Vec<Found> = Vec::new();
    let mut lines_seen = Vec::new();
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches(['\n', '\r']);
        let line = line.strip_prefix('\u{feff}').filter(|_| index == 0).unwrap_or(line);
        let offset = raw.len() - raw.trim_start_matches('\u{feff}').len();
        if line.starts_with('{') {
            return Err(RenewError::FlowStyle);
        }
        let Some((key, after_key)) = top_level_key(line) else { continue };
        lines_seen.push(index + 1);
        let rest = &line[after_key..];
        let Some(rest) = rest.strip_prefix(':') else { continue };
        let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let start = offset + after_key + 1 + spaces;
        let value_text = &line[after_key + 1 + spaces..];
        let (quote, len, inner) = scalar(value_text).ok_or(RenewError::NotPlain(index + 1))?;
        found.push(Found { index, key, head_len: start, value: start..start + len, quote, inner });
    }
    match found.len() {
        0 => Err(RenewError::NotFound),
        1 => Ok(found.remove(0)),
        _ => Err(RenewError::Several(lines_seen)),
    }
}

/// A key at column 0: `expires`, `"expires"` or `'expires'` (and the same for `duration`),
/// followed by optional blanks and a colon. Returns the key and where the colon is.
fn top_level_key(line: &str) -> Option<(ExpiryKey, usize)> {
    for key in [ExpiryKey::Expires, ExpiryKey::Duration] {
        for quote in ["", "\"", "'"] {
            let spelled = format!("{quote}{}{quote}", key.as_str());
            if let Some(rest) = line.strip_prefix(&spelled) {
                let blanks = rest.len() - rest.trim_start_matches([' ', '\t']).len();
                let rest = &rest[blanks..];
                if rest.starts_with(':') && (rest.len() == 1 || rest[1..].starts_with([' ', '\t'])) {
                    return Some((key, spelled.len() + blanks));
                }
            }
        }
    }
    None
}

/// The scalar at the start of `text`: its quote, its length in bytes (quotes included), and
/// its content. `None` when it is empty, a block scalar, an anchor, alias, tag, or a flow
/// collection, or when what follows it is not blanks and a comment.
fn scalar(text: &str) -> Option<(Option<char>, usize, String)> {
    let first = text.chars().next()?;
    let (quote, len, inner) = match first {
        '"' => {
            let mut escaped = false;
            let end = text[1..].char_indices().find_map(|(at, c)| {
                if escaped {
                    escaped = false;
                    None
                } else if c == '\\' {
                    escaped = true;
                    None
                } else {
                    (c == '"').then_some(at + 1)
                }
            })?;
            (Some('"'), end + 1, text[1..end].to_owned())
        }
        '\'' => {
            let bytes = text.as_bytes();
            let mut at = 1;
            let end = loop {
                match bytes.get(at) {
                    None => return None,
                    Some(b'\'') if bytes.get(at + 1) == Some(&b'\'') => at += 2,
                    Some(b'\'') => break at,
                    Some(_) => at += 1,
                }
            };
            (Some('\''), end + 1, text[1..end].replace("''", "'"))
        }
        '#' | '|' | '>' | '&' | '*' | '!' | '{' | '[' => return None,
        _ => {
            let end = text.find(" #").or_else(|| text.find("\t#")).unwrap_or(text.len());
            let value = text[..end].trim_end_matches([' ', '\t']);
            (None, value.len(), value.to_owned())
        }
    };
    let tail = text[len..].trim_start_matches([' ', '\t']);
    (tail.is_empty() || tail.starts_with('#')).then_some((quote, len, inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# yaml-language-server: $schema=../schemas/request.schema.json\n\
requester: alice   # the PR author\n\
subjects: [alice]\n\
justification: |\n  expires: not this one\n  nor this\n\
grants:\n  - { resource: local:group/oncall, role: member }\n\
expires: \"2026-02-01\"   # end of Q1\n\
ticket: OPS-1\n";

    #[test]
    fn rewrites_only_the_value_keeping_quotes_and_comment() {
        let out = rewrite(FILE, ExpiryKey::Expires, "2026-03-01").unwrap();
        assert_eq!(out, FILE.replace("\"2026-02-01\"   # end", "\"2026-03-01\"   # end"));
    }

    #[test]
    fn finds_the_line_and_its_unquoted_value() {
        assert_eq!(
            find(FILE).unwrap(),
            ExpiryLine { line: 9, key: ExpiryKey::Expires, value: "2026-02-01".into() }
        );
    }

    #[test]
    fn plain_single_quoted_and_crlf_values() {
        let text = "requester: a\r\nexpires: 2026-02-01 # why\r\n";
        assert_eq!(
            rewrite(text, ExpiryKey::Expires, "2026-03-01").unwrap(),
            "requester: a\r\nexpires: 2026-03-01 # why\r\n"
        );
        let text = "'expires' :  '2026-02-01'\n";
        assert_eq!(rewrite(text, ExpiryKey::Expires, "2026-03-01").unwrap(), "'expires' :  '2026-03-01'\n");
    }

    #[test]
    fn switching_keys_changes_only_the_key_and_value() {
        let text = "a: b\nduration: 8h  # short\nc: d\n";
        assert_eq!(
            rewrite(text, ExpiryKey::Expires, "2026-03-01").unwrap(),
            "a: b\nexpires: 2026-03-01  # short\nc: d\n"
        );
    }

    #[test]
    fn indented_keys_are_not_top_level() {
        assert_eq!(find("grants:\n  expires: 2026-01-01\n"), Err(RenewError::NotFound));
    }

    #[test]
    fn refuses_what_a_line_edit_cannot_do_safely() {
        assert_eq!(find("{requester: a, expires: 2026-01-01}\n"), Err(RenewError::FlowStyle));
        assert_eq!(find("expires:\n  2026-01-01\n"), Err(RenewError::NotPlain(1)));
        assert_eq!(find("expires: &x 2026-01-01\n"), Err(RenewError::NotPlain(1)));
        assert_eq!(find("expires: \"2026-01-01\n"), Err(RenewError::NotPlain(1)));
        assert_eq!(find("expires: 2026-01-01\nduration: 8h\n"), Err(RenewError::Several(vec![1, 2])));
        assert!(matches!(rewrite("expires: 1\n", ExpiryKey::Expires, "x # y"), Err(RenewError::BadValue(_))));
        assert!(matches!(
            rewrite("expires: 1\n", ExpiryKey::Expires, "a\nb: c"),
            Err(RenewError::BadValue(_))
        ));
    }

    #[test]
    fn a_key_that_only_starts_with_expires_is_not_it() {
        assert_eq!(find("expiresx: 1\nexpires_at: 2\n"), Err(RenewError::NotFound));
    }
}
