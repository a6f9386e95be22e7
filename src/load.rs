//! Turns the bytes of `tenure.yaml`, a catalog file or a request file into the serde types of
//! `wire`, and is the only module that knows the YAML crate.
//!
//! Every file comes from a pull request, so its author may be hostile. Parsing therefore runs in
//! two passes over one UTF-8 text of at most [`MAX_FILE_BYTES`]. The first pass walks the single
//! document with a visitor of our own, under the YAML crate's alias-repetition and nesting
//! limits, and refuses what the typed pass would silently accept or mis-read: duplicate keys at
//! any depth (serde keeps the last value of a map), merge keys, YAML tags, and structured keys.
//! The second pass deserializes the types through `serde_path_to_error`, straight from the text
//! so that line and column survive; for `tenure.yaml` a last check makes sure that the
//! `kind`-tagged sections are mappings. As docs/file-format.md says, a file that is not one well-formed
//! document within the limits, or that repeats a key, is `invalid-yaml`; anything else refused
//! is `invalid-field`, with a field path such as `grants[1].role`.
//!
//! Request files are by far the most numerous, and catalog files the largest, so
//! [`parse_request`] and [`parse_catalog`] first try a single typed pass, and keep its result
//! only for a text on which the first pass could not have found anything
//! (`read_request_at_once` and `read_catalog_at_once` say why); `tenure.yaml`, and any request
//! or catalog that the single pass does not accept, goes through both passes, which alone word
//! the errors. The first pass tracks the field path only once it has failed, to name the field.
//!
//! [`locate`] finds a field path in the text again, for findings that later checks raise.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};

use crate::model::Code;
use crate::wire::{
    CatalogFile, ConfigFile, IdentityEntry, IdentityKind, ManageMode, RequestFile, ResourceEntry,
};

/// The largest file that tenure reads. Nothing legitimate comes near it, and the cap bounds the
/// memory that one hostile file can make the parser use.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Why a file could not be read into its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// [`Code::InvalidYaml`] or [`Code::InvalidField`], nothing else.
    pub code: Code,
    /// For a person: what is wrong, and what is allowed or expected.
    pub message: String,
    /// The field path, such as `grants[1].role`, `subjects[0]` or `providers.gh.kind`.
    pub field: Option<String>,
    /// The 1-based line.
    pub line: Option<usize>,
    /// The 1-based column, counted in characters.
    pub column: Option<usize>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: ")?,
            (Some(line), None) => write!(f, "line {line}: ")?,
            _ => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for LoadError {}

impl From<LoadError> for crate::model::Rejection {
    /// A finding about a file, without the file: the caller that knows the path fills in
    /// `request`.
    fn from(error: LoadError) -> Self {
        crate::model::Rejection {
            request: String::new(),
            code: error.code,
            message: error.message,
            field: error.field,
            line: error.line,
            column: error.column,
        }
    }
}

/// Reads an access request (`requests/**/*.yaml`).
pub fn parse_request(bytes: &[u8]) -> Result<RequestFile, LoadError> {
    parse(bytes, |text| at_once_or_two_passes(text, read_request_at_once))
}

/// What `at_once` reads from `text` when it can vouch for the result, else what the two passes
/// make of it: they alone word errors.
fn at_once_or_two_passes<T: DeserializeOwned>(
    text: &str,
    at_once: fn(&str) -> Option<T>,
) -> Result<T, LoadError> {
    // A panic of the single pass says nothing about the verdict: both passes decide it, under
    // the catch of `parse`.
    match catch_unwind(AssertUnwindSafe(|| at_once(text))) {
        Ok(Some(value)) => Ok(value),
        _ => parse_text(text),
    }
}

/// A request read by the typed pass alone, or None when the two passes must decide.
///
/// Some(request) only when both passes would accept the text and give the same request, which
/// is what makes the second parse skippable:
/// - The typed pass is the same deserialization as the second pass, without the path tracking
///   that serves only errors, so on success the values agree.
/// - It checks itself what the first pass checks about documents: a syntax error anywhere, a
///   second document or an empty one fail it, and with `deny_unknown_fields` every node of the
///   document is read into a field, none skipped.
/// - Duplicate keys: every mapping of a request is a struct, whose derived visitor refuses a
///   field seen twice and every key that names no field. A key reaches a field only as the
///   field's name, whose text in the first pass is that same name (no field is named like a
///   YAML null, boolean or number), so two keys of the same text are a duplicate field.
///   `request_mappings_are_all_structs_with_plain_field_names` guards this against changes to
///   the wire types.
/// - A merge key `<<` names no field; a list or mapping as key is no field name; and nesting
///   deeper than a request's three levels is a type error, far below the depth limit.
/// - What the typed pass cannot see is excluded from the text beforehand by [`plain_enough`]:
///   tags (the crate reads a tagged scalar as a plain string when it expects text), aliases
///   (whose expansion limits the first pass enforces on its own walk), and the bracket count
///   at which the first pass refuses a text without parsing it.
fn read_request_at_once(text: &str) -> Option<RequestFile> {
    if !plain_enough(text) {
        return None;
    }
    RequestFile::deserialize(serde_yaml::Deserializer::from_str(text)).ok()
}

/// Whether `text` holds no tag and no alias, and too few brackets for [`runaway_flow_nesting`].
///
/// The YAML scanner starts a tag at a `!` and an alias at a `*` only at the start of a token.
/// A token never starts right after an ASCII letter or digit: a plain scalar goes on over `!`
/// and `*`, and an anchor, alias, directive or block scalar header followed by one is a syntax
/// error. So a `!` or `*` after a letter or digit (`urgent!`, `x*y`) is text, and any other is
/// left to the two passes, which may find a tag or an alias there.
fn plain_enough(text: &str) -> bool {
    let bytes = text.as_bytes();
    // Most texts hold neither byte: a branch-free test per chunk keeps the scan cheap, and
    // only a chunk that holds one is looked at byte by byte.
    const CHUNK: usize = 32;
    for (index, chunk) in bytes.chunks(CHUNK).enumerate() {
        if !chunk.iter().fold(false, |seen, &byte| seen | (byte == b'!') | (byte == b'*')) {
            continue;
        }
        let start = index * CHUNK;
        for (offset, &byte) in chunk.iter().enumerate() {
            let at = start + offset;
            if (byte == b'!' || byte == b'*')
                && !at
                    .checked_sub(1)
                    .and_then(|before| bytes.get(before))
                    .is_some_and(u8::is_ascii_alphanumeric)
            {
                return false;
            }
        }
    }
    // The nesting depth never exceeds the number of opening brackets, nor the length.
    bytes.len() < RUNAWAY_BRACKETS
        || bytes.iter().filter(|&&byte| byte == b'[' || byte == b'{').count() < RUNAWAY_BRACKETS
}

/// Reads many access requests, on every core: parsing is the largest part of a run's own work
/// (docs/performance.md), and each file is independent of the others. The results come back in
/// the order of `texts`, the same as [`parse_request`] on each one.
pub fn parse_requests(texts: &[Vec<u8>]) -> Vec<Result<RequestFile, LoadError>> {
    const MIN_PER_THREAD: usize = 64;
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(8);
    if threads < 2 || texts.len() < 2 * MIN_PER_THREAD {
        return texts.iter().map(|bytes| parse_request(bytes)).collect();
    }
    let chunk = texts.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = texts
            .chunks(chunk)
            .map(|part| {
                (
                    part.len(),
                    scope.spawn(move || part.iter().map(|bytes| parse_request(bytes)).collect::<Vec<_>>()),
                )
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|(len, worker)| {
                // parse_request already turns a parser panic into this file's error; a worker
                // that dies anyway costs its files, never the run.
                worker.join().unwrap_or_else(|_| {
                    vec![Err(yaml_error("the YAML parser failed on this file".to_owned(), None)); len]
                })
            })
            .collect()
    })
}

/// Reads `tenure.yaml`.
pub fn parse_config(bytes: &[u8]) -> Result<ConfigFile, LoadError> {
    parse(bytes, |text| {
        let config = parse_text(text)?;
        check_outline::<ConfigOutline>(text)?;
        Ok(config)
    })
}

/// Reads a catalog file (`catalog/*.yaml`).
pub fn parse_catalog(bytes: &[u8]) -> Result<CatalogFile, LoadError> {
    parse(bytes, |text| at_once_or_two_passes(text, read_catalog_at_once))
}

/// A catalog read by a typed pass alone, or None when the two passes must decide.
///
/// The argument is the one of `read_request_at_once`, with one mapping that is no struct: the
/// `groups` map, whose typed reading keeps the last of two equal names. So the single pass reads
/// [`CatalogAtOnce`], which differs from `CatalogFile` only in refusing, within `groups`, a name
/// seen twice and every name that the first pass might see as other text than the typed pass
/// does ([`reads_as_text`]). Every other mapping of a catalog is a struct that refuses unknown
/// fields, its enums are read from scalars only (the YAML crate wants a tag to read one from a
/// mapping), and it nests four levels deep at most;
/// `catalog_mappings_are_structs_except_groups` guards this against changes to the wire types.
fn read_catalog_at_once(text: &str) -> Option<CatalogFile> {
    // Every catalog field has a default, so the typed pass reads an empty document as an empty
    // catalog, where the first pass refuses a text without content.
    if !plain_enough(text) || !has_content(text) {
        return None;
    }
    let CatalogAtOnce { resources, groups, identities } =
        CatalogAtOnce::deserialize(serde_yaml::Deserializer::from_str(text)).ok()?;
    // Naming every field, here and in `CatalogAtOnce`, makes a new catalog field a compile
    // error rather than a field that the single pass drops.
    Some(CatalogFile { resources, groups: groups.0, identities })
}

/// `CatalogFile` with strict group names: the same fields, defaults and field types, so that
/// where it is read, `CatalogFile` is read to the same values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogAtOnce {
    #[serde(default)]
    resources: Vec<ResourceEntry>,
    #[serde(default)]
    groups: StrictGroups,
    #[serde(default)]
    identities: Vec<IdentityEntry>,
}

/// The `groups` map as serde reads a `BTreeMap<String, Vec<String>>`, except that a name seen
/// twice, or one that [`reads_as_text`] does not vouch for, fails the reading.
#[derive(Default)]
struct StrictGroups(std::collections::BTreeMap<String, Vec<String>>);

impl<'de> Deserialize<'de> for StrictGroups {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<StrictGroups, D::Error> {
        struct GroupsVisitor;
        impl<'de> Visitor<'de> for GroupsVisitor {
            type Value = StrictGroups;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<StrictGroups, A::Error> {
                use std::collections::btree_map::Entry;
                let mut groups = std::collections::BTreeMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    // Only an error matters here: the two passes word it.
                    if !reads_as_text(&name) {
                        return Err(de::Error::custom("left to the two passes"));
                    }
                    match groups.entry(name) {
                        Entry::Vacant(slot) => {
                            slot.insert(map.next_value()?);
                        }
                        Entry::Occupied(_) => return Err(de::Error::custom("left to the two passes")),
                    }
                }
                Ok(StrictGroups(groups))
            }
        }
        deserializer.deserialize_map(GroupsVisitor)
    }
}

/// Whether a mapping key, as the typed pass reads it into a string, is certainly the key's text
/// in the first pass too, so that two keys are equal in one pass exactly when they are in the
/// other.
///
/// The typed pass reads a key as written, quoted or not; the first pass reads a plain key by its
/// YAML value, so `~` and `null` are equal there, as are `1` and `1.0`, while `"~"` and `~`
/// are not. A quoted key is its text in both; so is a plain one that YAML reads as a string.
/// Every text that could be read as a null, a boolean, a number, or a merge key, or that is
/// empty, is refused here: all start with a digit, a sign, a dot, `~` or `<`, or are one of the
/// null and boolean words, or the words that Rust reads as a float (`inf`, `NaN`).
fn reads_as_text(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && !matches!(key, "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
        && key.parse::<f64>().is_err()
}

/// Best-effort position of a field path in a YAML text, for findings raised after parsing
/// (e.g. policy says `grants[1].role` is not allowed). None when it cannot tell.
///
/// A path that ends in a key gives the position of the key; one that ends in an index gives the
/// position of the item. When the exact element is missing, the deepest ancestor that exists is
/// returned instead, because a nearby line helps a person more than none.
pub fn locate(bytes: &[u8], field: &str) -> Option<(usize, usize)> {
    let text = std::str::from_utf8(bytes).ok()?;
    locate_str(text.strip_prefix('\u{feff}').unwrap_or(text), field)
}

fn parse<T>(bytes: &[u8], read: impl FnOnce(&str) -> Result<T, LoadError>) -> Result<T, LoadError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(yaml_error(
            format!("the file is {} bytes, over the limit of {MAX_FILE_BYTES} bytes (1 MiB)", bytes.len()),
            None,
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let (line, column) = position_of_offset(bytes, error.valid_up_to());
            return Err(LoadError {
                code: Code::InvalidYaml,
                message: format!(
                    "the file is not valid UTF-8 (bad byte at line {line}, column {column}); save it as \
                     UTF-8 text"
                ),
                field: None,
                line: Some(line),
                column: Some(column),
            });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The parser is a port of C code, and the text comes from whoever opened the pull request.
    // A panic in it must cost this one file, not the whole run (rule 10 in docs/rules.md).
    catch_unwind(AssertUnwindSafe(|| read(text)))
        .unwrap_or_else(|_| Err(yaml_error("the YAML parser failed on this file".to_owned(), None)))
}

fn parse_text<T: DeserializeOwned>(text: &str) -> Result<T, LoadError> {
    check_shape(text)?;
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| field_error(text, &error))
}

/// serde reads a `kind`-tagged enum from a list as well, taking the first item as the kind
/// (`forge: [github, acme/access]`). The schema, and anyone reading the file, expect a mapping,
/// so the places that hold such enums are checked once more.
#[derive(Deserialize)]
#[expect(dead_code, reason = "read only to check the shape of the text")]
struct ConfigOutline {
    #[serde(default)]
    forge: Option<Mapping>,
    #[serde(default)]
    providers: Option<std::collections::BTreeMap<String, Mapping>>,
}

/// Any mapping, and nothing else.
struct Mapping;

impl<'de> Deserialize<'de> for Mapping {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Mapping, D::Error> {
        struct MappingVisitor;
        impl<'de> Visitor<'de> for MappingVisitor {
            type Value = Mapping;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping with a `kind` field")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Mapping, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Mapping)
            }
        }
        deserializer.deserialize_map(MappingVisitor)
    }
}

fn check_outline<O: DeserializeOwned>(text: &str) -> Result<(), LoadError> {
    parse_text::<O>(text).map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// First pass: one well-formed document, within limits, with nothing the typed pass would hide.

/// What the first pass found wrong that the YAML crate itself accepts.
#[derive(Debug)]
enum Problem {
    DuplicateKey(String),
    MergeKey,
    Tag(String),
    StructuredKey,
}

fn check_shape(text: &str) -> Result<(), LoadError> {
    check_document(text, walk_untracked)
}

/// How the first document is walked: it answers whether the document is null, or why it is
/// refused.
type Walk = fn(&str, serde_yaml::Deserializer<'_>) -> Result<bool, LoadError>;

fn check_document(text: &str, walk: Walk) -> Result<(), LoadError> {
    if let Some(position) = runaway_flow_nesting(text) {
        return Err(yaml_error(
            format!(
                "the YAML nests deeper than the limit of 128 levels (line {}, column {})",
                position.0, position.1
            ),
            Some(position),
        ));
    }
    let mut documents = serde_yaml::Deserializer::from_str(text);
    // The crate always yields a first document, even for an empty text.
    let Some(first) = documents.next() else {
        return Err(yaml_error(empty_message(), None));
    };
    let is_null = walk(text, first)?;
    // The iterator keeps yielding a broken document, so it is asked exactly once. Text after
    // the first document that does not parse and follows no `---` (`[a], b`) is a syntax error
    // rather than a second document.
    if let Some(second) = documents.next() {
        let separator = second_document_line(text);
        if separator.is_none()
            && let Err(error) = de::IgnoredAny::deserialize(second)
        {
            return Err(syntax_error(text, &error));
        }
        return Err(LoadError {
            code: Code::InvalidYaml,
            message: "the file holds more than one YAML document (separated by `---`); keep exactly \
                      one document per file"
                .to_owned(),
            field: None,
            line: separator,
            column: separator.map(|_| 1),
        });
    }
    if is_null && !has_content(text) {
        return Err(yaml_error(empty_message(), None));
    }
    Ok(())
}

/// The depth of unclosed flow brackets at which [`runaway_flow_nesting`] refuses a text.
const RUNAWAY_BRACKETS: usize = 10_000;

/// Walks the first document without tracking the path, which only an error needs and which
/// costs a string per key; a refused document is walked again, the same way but tracked, to
/// word the error.
fn walk_untracked(text: &str, first: serde_yaml::Deserializer<'_>) -> Result<bool, LoadError> {
    let problem = RefCell::new(None);
    let error = match (Shape { problem: &problem }).deserialize(first) {
        Ok(is_null) => return Ok(is_null),
        Err(error) => error,
    };
    // Tracking changes nothing in the walk, so the second one fails the same way.
    match serde_yaml::Deserializer::from_str(text).next().map(|again| walk_tracked(text, again)) {
        Some(Err(refused)) => Err(refused),
        // Not expected; the refusal stands, without its field.
        _ => {
            let root = Path { text: String::new(), crate_text: ".".to_owned() };
            Err(match problem.into_inner() {
                Some(problem) => problem_error(text, &root, problem, &error),
                None => syntax_error(text, &error),
            })
        }
    }
}

/// Walks the first document under `serde_path_to_error`, so that a refusal names its field.
fn walk_tracked(text: &str, first: serde_yaml::Deserializer<'_>) -> Result<bool, LoadError> {
    let problem = RefCell::new(None);
    let mut track = serde_path_to_error::Track::new();
    let walked =
        Shape { problem: &problem }.deserialize(serde_path_to_error::Deserializer::new(first, &mut track));
    walked.map_err(|error| {
        let path = format_path(&track.path());
        match problem.into_inner() {
            Some(problem) => problem_error(text, &path, problem, &error),
            None => syntax_error(text, &error),
        }
    })
}

/// The parser needs seconds for a megabyte of `[[[[…` before the depth limit can refuse it, so
/// a run of unclosed brackets far past that limit is refused first. The count ignores quoting,
/// which only matters for text that no request file holds: thousands of unclosed brackets.
fn runaway_flow_nesting(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let (mut line, mut column) = (1, 1);
    let mut crossed = (1, 1);
    for c in text.chars() {
        match c {
            '[' | '{' => {
                depth += 1;
                if depth == 129 {
                    crossed = (line, column);
                }
                if depth >= RUNAWAY_BRACKETS {
                    return Some(crossed);
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if c == '\n' {
            (line, column) = (line + 1, 1);
        } else {
            column += 1;
        }
    }
    None
}

fn empty_message() -> String {
    "the file holds no YAML document: it is empty or only comments".to_owned()
}

/// Walks any YAML value and answers whether it is null. Keys are compared by their text, so that
/// `1` and `"1"`, which a map of strings would merge silently, count as duplicates too.
#[derive(Clone, Copy)]
struct Shape<'p> {
    problem: &'p RefCell<Option<Problem>>,
}

impl Shape<'_> {
    /// Records what is wrong for [`problem_error`], which words the message; the error itself
    /// only stops the walk.
    fn fail<E: de::Error>(self, problem: Problem) -> E {
        *self.problem.borrow_mut() = Some(problem);
        E::custom("refused by tenure")
    }
}

impl<'de> DeserializeSeed<'de> for Shape<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Shape<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i128<E>(self, _: i128) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u128<E>(self, _: u128) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_bytes<E>(self, _: &[u8]) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_none<E>(self) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(false)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key_seed(KeyText { shape: self })? {
            if key == "<<" {
                return Err(self.fail(Problem::MergeKey));
            }
            if !seen.insert(key.clone()) {
                return Err(self.fail(Problem::DuplicateKey(key)));
            }
            map.next_value_seed(self)?;
        }
        Ok(false)
    }

    // The YAML crate hands a value with a local tag such as `!exclusive x` to serde as an enum,
    // which would let a tag choose a variant that the text does not show.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<bool, A::Error> {
        let (tag, _) = data.variant::<String>()?;
        Err(self.fail(Problem::Tag(tag)))
    }
}

/// A mapping key as text: scalars by their value, anything else refused.
struct KeyText<'p> {
    shape: Shape<'p>,
}

impl<'de> DeserializeSeed<'de> for KeyText<'_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyText<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a plain mapping key")
    }

    fn visit_bool<E>(self, value: bool) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_i64<E>(self, value: i64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_u64<E>(self, value: u64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_i128<E>(self, value: i128) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_u128<E>(self, value: u128) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_f64<E>(self, value: f64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_str<E>(self, value: &str) -> Result<String, E> {
        Ok(value.to_owned())
    }

    fn visit_unit<E>(self) -> Result<String, E> {
        Ok("null".to_owned())
    }

    fn visit_none<E>(self) -> Result<String, E> {
        Ok("null".to_owned())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.shape.fail(Problem::StructuredKey))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.shape.fail(Problem::StructuredKey))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<String, A::Error> {
        let (tag, _) = data.variant::<String>()?;
        Err(self.shape.fail(Problem::Tag(tag)))
    }
}

fn problem_error(text: &str, path: &Path, problem: Problem, error: &serde_yaml::Error) -> LoadError {
    let reported = error_location(error);
    match problem {
        Problem::DuplicateKey(key) => {
            let field = join_key(&path.text, &key);
            // The crate marks the start of the mapping; the second occurrence is what to fix.
            let position = Index::build(text).all(&field).get(1).copied().or(reported);
            LoadError {
                code: Code::InvalidYaml,
                message: format!("duplicate key `{key}`; each key may appear only once in a mapping"),
                field: Some(field),
                line: position.map(|p| p.0),
                column: position.map(|p| p.1),
            }
        }
        Problem::MergeKey => {
            let field = join_key(&path.text, "<<");
            let position = Index::build(text).first(&field).or(reported);
            field_error_at(
                "merge keys (`<<`) are not supported; write the keys out in full".to_owned(),
                field,
                position,
            )
        }
        Problem::Tag(tag) => field_error_at(
            format!("YAML tags such as `!{tag}` are not supported; write the plain value"),
            path.text.clone(),
            reported.or_else(|| locate_str(text, &path.text)),
        ),
        Problem::StructuredKey => field_error_at(
            "a mapping key must be plain text, not a list or a mapping".to_owned(),
            path.text.clone(),
            reported.or_else(|| locate_str(text, &path.text)),
        ),
    }
}

fn field_error_at(message: String, field: String, position: Option<(usize, usize)>) -> LoadError {
    LoadError {
        code: Code::InvalidField,
        message,
        field: (!field.is_empty()).then_some(field),
        line: position.map(|p| p.0),
        column: position.map(|p| p.1),
    }
}

/// A failure of the YAML crate itself: syntax, limits, or an alias without its anchor.
fn syntax_error(text: &str, error: &serde_yaml::Error) -> LoadError {
    let mut position = error_location(error);
    let raw = error.to_string();
    let message = if raw.starts_with("recursion limit exceeded") {
        "the YAML nests deeper than the limit of 128 levels".to_owned()
    } else if raw.starts_with("repetition limit exceeded") {
        "aliases (`*name`) expand to too much data; the limit on alias repetition was exceeded".to_owned()
    } else if raw.starts_with("unknown anchor") {
        "an alias (`*name`) refers to an anchor (`&name`) that is not defined before it".to_owned()
    } else {
        // Errors of the reader (bad characters) carry a byte offset instead of a line.
        let offset = raw.split_once(" at position ").and_then(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse::<usize>().ok())
        });
        if let Some(offset) = offset {
            position = Some(position_of_offset(text.as_bytes(), offset));
        }
        let detail = match (offset, position) {
            (Some(offset), _) => raw.replacen(&format!(" at position {offset}"), "", 1),
            (None, Some((line, column))) => raw.replacen(&format!(" at line {line} column {column}"), "", 1),
            (None, None) => raw,
        };
        let mut message = format!("YAML syntax error: {detail}");
        if position.is_some_and(|(line, _)| indented_with_tab(text, line)) {
            message.push_str("; YAML does not allow tabs for indentation, indent with spaces");
        }
        message
    };
    let message = match position {
        Some((line, column)) => format!("{message} (line {line}, column {column})"),
        None => message,
    };
    LoadError {
        code: Code::InvalidYaml,
        message,
        field: None,
        line: position.map(|p| p.0),
        column: position.map(|p| p.1),
    }
}

fn yaml_error(message: String, position: Option<(usize, usize)>) -> LoadError {
    LoadError {
        code: Code::InvalidYaml,
        message,
        field: None,
        line: position.map(|p| p.0),
        column: position.map(|p| p.1),
    }
}

fn error_location(error: &serde_yaml::Error) -> Option<(usize, usize)> {
    error.location().map(|location| (location.line(), location.column()))
}

fn indented_with_tab(text: &str, line: usize) -> bool {
    text.lines()
        .nth(line.saturating_sub(1))
        .is_some_and(|l| l.chars().take_while(|c| c.is_whitespace()).any(|c| c == '\t'))
}

/// Whether the text holds anything besides comments, directives and document markers.
fn has_content(text: &str) -> bool {
    text.lines().any(|line| !is_blank_or_marker(line))
}

fn is_blank_or_marker(line: &str) -> bool {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || line.starts_with('%') {
        return true;
    }
    is_document_marker(line)
}

/// A `---` or `...` line with nothing after it but a comment.
fn is_document_marker(line: &str) -> bool {
    marker_rest(line).is_some_and(|rest| rest.is_empty() || rest.starts_with('#'))
}

/// What follows a document marker at the start of `line`, if it starts with one.
fn marker_rest(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("---").or_else(|| line.strip_prefix("..."))?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then(|| rest.trim_start())
}

/// The line of the `---` (or `...`) that ends the first document, for the two-document error.
fn second_document_line(text: &str) -> Option<usize> {
    let mut seen_content = false;
    for (number, line) in text.lines().enumerate() {
        if marker_rest(line).is_some() {
            if seen_content {
                return Some(number + 1);
            }
        } else if !is_blank_or_marker(line) {
            seen_content = true;
        }
    }
    None
}

fn position_of_offset(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    // `before` is valid UTF-8 up to `offset`, so this counts characters, as the parser does.
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}

// ---------------------------------------------------------------------------------------------
// Second pass: errors of the typed deserialization.

/// A field path in tenure's notation.
struct Path {
    text: String,
    /// The YAML crate's own notation of the same path, which prefixes its messages.
    crate_text: String,
}

fn format_path(path: &serde_path_to_error::Path) -> Path {
    use serde_path_to_error::Segment;
    let mut text = String::new();
    let mut crate_text = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                text.push_str(&format!("[{index}]"));
                crate_text.push_str(&format!("[{index}]"));
            }
            Segment::Map { key } => {
                text = join_key(&text, key);
                crate_text = join_key(&crate_text, key);
            }
            // The variant of an enum is not a place in the file.
            Segment::Enum { .. } => {}
            // Beyond an unknown segment, nothing more can be said.
            Segment::Unknown => {
                crate_text = join_key(&crate_text, "?");
                break;
            }
        }
    }
    if crate_text.is_empty() {
        crate_text.push('.');
    }
    Path { text, crate_text }
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

fn locate_str(text: &str, field: &str) -> Option<(usize, usize)> {
    if field.is_empty() {
        return None;
    }
    let index = Index::build(text);
    candidates(field).into_iter().find_map(|candidate| index.first(candidate))
}

fn field_error(text: &str, error: &serde_path_to_error::Error<serde_yaml::Error>) -> LoadError {
    let path = format_path(error.path());
    let reported = error_location(error.inner());
    let raw = error.inner().to_string();
    // The crate writes `<path>: <message> at line L column C`; keep only the message, and note
    // whether the crate's position belongs to the field itself or to an ancestor (it does for
    // values that serde buffers, such as the fields of a `kind`-tagged provider).
    let (message, own_position) = strip_crate_decorations(&raw, &path, reported);

    if [
        "recursion limit exceeded",
        "repetition limit exceeded",
        "unknown anchor",
        "deserializing from YAML containing more than one document",
    ]
    .iter()
    .any(|phrase| message.starts_with(phrase))
    {
        return syntax_error(text, error.inner());
    }

    if let Some(name) = quoted_after(&message, "unknown field ") {
        let field = if path.text.ends_with(&format!(".{name}")) || path.text == name {
            path.text.clone()
        } else {
            join_key(&path.text, &name)
        };
        let position = Index::build(text).first(&field).or(reported).or_else(|| locate_str(text, &field));
        return field_error_at(describe(&message, &field), field, position);
    }
    if let Some(name) = quoted_after(&message, "missing field ") {
        let field = join_key(&path.text, &name);
        let position = if own_position { reported } else { None };
        let position = position.or_else(|| locate_str(text, &path.text)).or(reported);
        return field_error_at(describe(&message, &field), field, position);
    }
    let position = if own_position { reported } else { None };
    let position = position.or_else(|| locate_str(text, &path.text)).or(reported);
    field_error_at(describe(&message, &path.text), path.text, position)
}

/// Removes the crate's path prefix and position suffix from one of its messages, and tells
/// whether its position is that of the node at `path` rather than of an ancestor.
fn strip_crate_decorations(raw: &str, path: &Path, reported: Option<(usize, usize)>) -> (String, bool) {
    let mut message = raw;
    if let Some((line, column)) = reported {
        message = message.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(message);
    }
    let mut prefix = path.crate_text.clone();
    loop {
        if prefix == "." {
            return (message.to_owned(), prefix == path.crate_text);
        }
        if let Some(rest) = message.strip_prefix(&format!("{prefix}: ")) {
            return (rest.to_owned(), prefix == path.crate_text);
        }
        prefix = parent_path(&prefix).unwrap_or(".").to_owned();
    }
}

fn parent_path(path: &str) -> Option<&str> {
    if let Some(stripped) = path.strip_suffix(']') {
        let open = stripped.rfind('[')?;
        return Some(if open == 0 { "." } else { &path[..open] });
    }
    Some(path.rfind('.').map_or(".", |dot| &path[..dot]))
}

/// The text between the backticks that follow `phrase` at the start of `message`.
fn quoted_after(message: &str, phrase: &str) -> Option<String> {
    let rest = message.strip_prefix(phrase)?.strip_prefix('`')?;
    let end = rest.find('`')?;
    Some(rest[..end].to_owned())
}

/// Rewrites serde's wording, which names Rust types, into the terms of the file format.
fn describe(message: &str, field: &str) -> String {
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("missing required field {rest}");
    }
    if message.starts_with("unknown field ") {
        return message
            .replace(", there are no fields", "; no other fields are allowed here")
            .replace(", expected one of ", "; expected one of ")
            .replace(", expected ", "; expected ");
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return format!("unknown value {}", rest.replacen(", expected ", "; expected ", 1));
    }
    // Only a `kind`-tagged enum written as a list gets this far with a length error.
    if message.starts_with("invalid length ") {
        return "wrong type: expected a mapping with a `kind` field, found a list".to_owned();
    }
    if message.starts_with("data did not match any variant of untagged enum") {
        return if message.ends_with("CountOrPercent") {
            "expected a count such as `10` or a percentage such as `25%`".to_owned()
        } else {
            "the value does not have any of the allowed forms".to_owned()
        };
    }
    for (prefix, verb) in [("invalid type: ", "wrong type"), ("invalid value: ", "invalid value")] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((found, expected)) = rest.rsplit_once(", expected ")
        {
            return format!(
                "{verb}: expected {}, found {}",
                expected_words(expected, field),
                found_words(found)
            );
        }
    }
    message.to_owned()
}

fn found_words(found: &str) -> String {
    if let Some(text) = found.strip_prefix("string ") {
        return format!("the text {text}");
    }
    for (prefix, name) in [("integer ", "the number "), ("floating point ", "the number "), ("boolean ", "")]
    {
        if let Some(value) = found.strip_prefix(prefix) {
            return format!("{name}{value}");
        }
    }
    match found {
        "unit value" => "an empty value".to_owned(),
        "sequence" => "a list".to_owned(),
        "map" => "a mapping".to_owned(),
        "enum" => "a tagged value".to_owned(),
        other => other.to_owned(),
    }
}

fn expected_words(expected: &str, field: &str) -> String {
    let words = match expected {
        "u32" => "a whole number from 0 to 4294967295",
        "u8" | "u16" | "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "a string" => "text",
        "a sequence" => "a list",
        "a boolean" => "`true` or `false`",
        "a map" | "map" => "a mapping",
        "a YAML tag starting with '!'" => return enum_words(field),
        _ if expected.starts_with("struct ") => "a mapping of fields",
        _ if expected.starts_with("internally tagged enum ") => "a mapping with a `kind` field",
        // Whatever else serde says about a type names it in Rust's terms.
        _ if expected.contains("enum ") || expected.contains("struct ") => "a value of another form",
        _ => expected,
    };
    words.to_owned()
}

/// The allowed words of a plain enum field, asked of serde itself so that they never drift from
/// the types.
fn enum_words(field: &str) -> String {
    let last = field.rsplit('.').next().unwrap_or(field);
    let words = if last == "manage" {
        allowed_variants::<ManageMode>()
    } else if last == "kind" && field.starts_with("identities") {
        allowed_variants::<IdentityKind>()
    } else {
        None
    };
    words.unwrap_or_else(|| "a single word".to_owned())
}

fn allowed_variants<T: DeserializeOwned>() -> Option<String> {
    let error = serde_yaml::from_str::<T>("\"\"").err()?.to_string();
    let start = error.find("expected ")? + "expected ".len();
    let words = &error[start..];
    let words = words.find(" at line").map_or(words, |end| &words[..end]);
    Some(words.to_owned())
}

// ---------------------------------------------------------------------------------------------
// `locate`: an indentation-aware index of where each key and item of a YAML text starts.

/// Every field path prefix of `field`, longest first, cut at `.` and `[` boundaries. Cutting the
/// text, rather than parsing it, copes with keys that contain dots.
fn candidates(field: &str) -> Vec<&str> {
    let mut out = vec![field];
    for (at, c) in field.char_indices().rev() {
        if (c == '.' || c == '[') && at > 0 {
            out.push(&field[..at]);
        }
    }
    out.retain(|candidate| !candidate.is_empty());
    out
}

struct Index {
    entries: Vec<(String, usize, usize)>,
}

impl Index {
    fn build(text: &str) -> Index {
        let lines: Vec<Vec<char>> =
            text.split('\n').map(|line| line.trim_end_matches('\r').chars().collect()).collect();
        let mut scanner = Scanner { lines: &lines, frames: Vec::new(), entries: Vec::new() };
        scanner.run();
        Index { entries: scanner.entries }
    }

    fn first(&self, path: &str) -> Option<(usize, usize)> {
        self.all(path).first().copied()
    }

    fn all(&self, path: &str) -> Vec<(usize, usize)> {
        self.entries.iter().filter(|(p, _, _)| p == path).map(|(_, line, column)| (*line, *column)).collect()
    }
}

#[derive(Debug, PartialEq, Eq)]
enum FrameKind {
    Map,
    Seq,
}

/// An open block collection: its column, its path, and the key or item last seen in it.
struct Frame {
    column: usize,
    kind: FrameKind,
    path: String,
    key: Option<String>,
    items: usize,
}

impl Frame {
    /// The path of a value nested under the latest key or item.
    fn slot(&self) -> String {
        match (&self.kind, &self.key) {
            (FrameKind::Map, Some(key)) => join_key(&self.path, key),
            (FrameKind::Seq, _) if self.items > 0 => format!("{}[{}]", self.path, self.items - 1),
            _ => self.path.clone(),
        }
    }
}

struct Scanner<'t> {
    lines: &'t [Vec<char>],
    frames: Vec<Frame>,
    entries: Vec<(String, usize, usize)>,
}

/// A position in the text: 0-based line and column.
#[derive(Clone, Copy)]
struct Cursor {
    line: usize,
    column: usize,
}

impl Scanner<'_> {
    fn run(&mut self) {
        let mut line = 0;
        // Lines more indented than this belong to a scalar (block or multi-line plain/quoted)
        // that started on an earlier line, and hold no keys.
        let mut scalar_owner: Option<usize> = None;
        while line < self.lines.len() {
            let chars = &self.lines[line];
            let indent = chars.iter().take_while(|&&c| c == ' ').count();
            let blank = chars[indent..].iter().all(|c| c.is_whitespace());
            if let Some(owner) = scalar_owner {
                if blank || indent > owner {
                    line += 1;
                    continue;
                }
                scalar_owner = None;
            }
            if blank || chars.get(indent) == Some(&'#') || chars.first() == Some(&'%') {
                line += 1;
                continue;
            }
            let text: String = chars.iter().collect();
            if marker_rest(&text).is_some() {
                self.frames.clear();
                line += 1;
                continue;
            }
            let outcome = self.node(line, indent, 0);
            match outcome {
                Outcome::Done => line += 1,
                Outcome::Scalar(owner) => {
                    scalar_owner = Some(owner);
                    line += 1;
                }
                Outcome::ResumeAfter(last) => line = last.max(line) + 1,
            }
        }
    }

    /// Reads the node that starts at `column` of `line`, and any node nested after it on the
    /// same line (`- key: value`).
    fn node(&mut self, line: usize, column: usize, depth: usize) -> Outcome {
        if depth > NESTING_LIMIT {
            return Outcome::Done;
        }
        let chars = &self.lines[line];
        let at = |i: usize| chars.get(i).copied();
        if matches!(at(column), Some('&' | '!')) {
            // An anchor or a tag in front of a node: the node follows, here or on later lines.
            let mut next = column;
            while next < chars.len() && chars[next] != ' ' {
                next += 1;
            }
            let next = skip_spaces(chars, next);
            return if next >= chars.len() || chars[next] == '#' {
                Outcome::Done
            } else {
                self.node(line, next, depth + 1)
            };
        }
        match at(column) {
            Some('-') if at(column + 1).is_none_or(|c| c == ' ' || c == '\t') => {
                let item = self.seq_item(column);
                let next = skip_spaces(chars, column + 1);
                if next >= chars.len() || chars[next] == '#' {
                    self.entries.push((item, line + 1, column + 1));
                    return Outcome::Done;
                }
                self.entries.push((item, line + 1, next + 1));
                match self.node(line, next, depth + 1) {
                    // A scalar item continues on lines indented past its dash.
                    Outcome::Scalar(_) if !starts_key(chars, next) => Outcome::Scalar(column),
                    other => other,
                }
            }
            Some('[' | '{') => {
                let path = self.slot_at(column);
                self.flow_from(Cursor { line, column }, path)
            }
            _ => match block_key(chars, column) {
                Some((key, after)) => {
                    let path = self.map_key(column, &key);
                    self.entries.push((path.clone(), line + 1, column + 1));
                    self.value(line, after, column, path)
                }
                None => Outcome::Scalar(column),
            },
        }
    }

    /// Reads the value after `key:`, which starts at or after `from`.
    fn value(&mut self, line: usize, from: usize, owner: usize, path: String) -> Outcome {
        let chars = &self.lines[line];
        let mut at = skip_spaces(chars, from);
        // Anchors and tags come before the value itself.
        while at < chars.len() && (chars[at] == '&' || chars[at] == '!') {
            while at < chars.len() && chars[at] != ' ' {
                at += 1;
            }
            at = skip_spaces(chars, at);
        }
        match chars.get(at) {
            None | Some('#') => Outcome::Done,
            Some('[' | '{') => self.flow_from(Cursor { line, column: at }, path),
            Some(_) => Outcome::Scalar(owner),
        }
    }

    fn pop_deeper(&mut self, column: usize) {
        while self.frames.last().is_some_and(|frame| frame.column > column) {
            self.frames.pop();
        }
    }

    fn slot_at(&mut self, column: usize) -> String {
        self.pop_deeper(column);
        self.frames.last().map_or_else(String::new, Frame::slot)
    }

    /// Opens or continues the block sequence whose dashes are at `column`; returns the new
    /// item's path.
    fn seq_item(&mut self, column: usize) -> String {
        self.pop_deeper(column);
        if let Some(frame) = self.frames.last_mut()
            && frame.column == column
            && frame.kind == FrameKind::Seq
        {
            frame.items += 1;
            return format!("{}[{}]", frame.path, frame.items - 1);
        }
        // Either nested deeper, or a sequence at the same column as its key (`key:\n- a`).
        let path = self.frames.last().map_or_else(String::new, Frame::slot);
        let item = format!("{path}[0]");
        self.frames.push(Frame { column, kind: FrameKind::Seq, path, key: None, items: 1 });
        item
    }

    /// Records `key` in the block mapping whose keys are at `column`; returns the key's path.
    fn map_key(&mut self, column: usize, key: &str) -> String {
        self.pop_deeper(column);
        if self.frames.last().is_some_and(|f| f.column == column && f.kind == FrameKind::Seq) {
            // A sequence at its key's column ends where the next key of that mapping starts.
            self.frames.pop();
        }
        if let Some(frame) = self.frames.last_mut()
            && frame.column == column
            && frame.kind == FrameKind::Map
        {
            frame.key = Some(key.to_owned());
            return join_key(&frame.path, key);
        }
        let path = self.frames.last().map_or_else(String::new, Frame::slot);
        let full = join_key(&path, key);
        self.frames.push(Frame { column, kind: FrameKind::Map, path, key: Some(key.to_owned()), items: 0 });
        full
    }

    /// Indexes a flow collection, which may span lines, and says where block reading resumes.
    fn flow_from(&mut self, start: Cursor, path: String) -> Outcome {
        let mut flow = Flow { lines: self.lines, cursor: start, entries: Vec::new() };
        let finished = flow.node(&path, 0).is_some();
        let end = flow.cursor.line;
        self.entries.append(&mut flow.entries);
        if finished { Outcome::ResumeAfter(end) } else { Outcome::Done }
    }
}

enum Outcome {
    /// The line is read.
    Done,
    /// The line ends in a scalar owned by the node at this column; more-indented lines that
    /// follow continue it.
    Scalar(usize),
    /// A flow collection ended on this line; the rest of it is read.
    ResumeAfter(usize),
}

fn skip_spaces(chars: &[char], mut at: usize) -> usize {
    while at < chars.len() && (chars[at] == ' ' || chars[at] == '\t') {
        at += 1;
    }
    at
}

fn starts_key(chars: &[char], column: usize) -> bool {
    block_key(chars, column).is_some()
}

/// A block mapping key at `column`, and the column after its colon.
fn block_key(chars: &[char], column: usize) -> Option<(String, usize)> {
    let first = *chars.get(column)?;
    let (key, mut at) = match first {
        '"' | '\'' => {
            let (key, end) = quoted(chars, column)?;
            (key, end)
        }
        '?' | '&' | '*' | '!' | '|' | '>' | '%' | '@' | '`' | '#' | '[' | '{' | ']' | '}' | ',' => {
            return None;
        }
        _ => {
            let mut at = column;
            loop {
                let c = *chars.get(at)?;
                if c == ':' && chars.get(at + 1).is_none_or(|&n| n == ' ' || n == '\t') {
                    break;
                }
                if c == '#' && at > column && chars[at - 1] == ' ' {
                    return None;
                }
                at += 1;
            }
            let key: String = chars[column..at].iter().collect();
            (key.trim_end().to_owned(), at)
        }
    };
    at = skip_spaces(chars, at);
    if chars.get(at) != Some(&':') || !chars.get(at + 1).is_none_or(|&n| n == ' ' || n == '\t') {
        return None;
    }
    Some((key, at + 1))
}

/// A quoted scalar on one line, unquoted, and the column after its closing quote.
fn quoted(chars: &[char], column: usize) -> Option<(String, usize)> {
    let quote = *chars.get(column)?;
    let mut out = String::new();
    let mut at = column + 1;
    loop {
        let c = *chars.get(at)?;
        if quote == '"' && c == '\\' {
            out.push(*chars.get(at + 1)?);
            at += 2;
        } else if c == quote {
            if quote == '\'' && chars.get(at + 1) == Some(&'\'') {
                out.push('\'');
                at += 2;
            } else {
                return Some((out, at + 1));
            }
        } else {
            out.push(c);
            at += 1;
        }
    }
}

/// A reader of flow collections (`[a, b]`, `{k: v}`), which may continue over several lines.
struct Flow<'t> {
    lines: &'t [Vec<char>],
    cursor: Cursor,
    entries: Vec<(String, usize, usize)>,
}

/// Nodes nested deeper than this are not indexed: the parser refuses them anyway, and the
/// bound keeps the recursion of the index off the end of the stack.
const NESTING_LIMIT: usize = 200;

impl Flow<'_> {
    fn peek(&self) -> Option<char> {
        self.lines.get(self.cursor.line)?.get(self.cursor.column).copied()
    }

    fn bump(&mut self) {
        self.cursor.column += 1;
    }

    /// Skips whitespace, line ends and comments; None at the end of the text.
    fn skip_blank(&mut self) -> Option<char> {
        loop {
            let line = self.lines.get(self.cursor.line)?;
            match line.get(self.cursor.column) {
                None => {
                    self.cursor = Cursor { line: self.cursor.line + 1, column: 0 };
                }
                Some(' ' | '\t') => self.bump(),
                Some('#') if self.cursor.column == 0 || line[self.cursor.column - 1].is_whitespace() => {
                    self.cursor.column = line.len();
                }
                Some(&c) => return Some(c),
            }
        }
    }

    fn here(&self) -> (usize, usize) {
        (self.cursor.line + 1, self.cursor.column + 1)
    }

    fn node(&mut self, path: &str, depth: usize) -> Option<()> {
        if depth > NESTING_LIMIT {
            return None;
        }
        match self.skip_blank()? {
            '[' => {
                self.bump();
                let mut index = 0;
                loop {
                    if self.skip_blank()? == ']' {
                        self.bump();
                        return Some(());
                    }
                    let item = format!("{path}[{index}]");
                    let (line, column) = self.here();
                    self.entries.push((item.clone(), line, column));
                    self.node(&item, depth + 1)?;
                    match self.skip_blank()? {
                        ',' => {
                            self.bump();
                            index += 1;
                        }
                        ']' => {
                            self.bump();
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            '{' => {
                self.bump();
                loop {
                    if self.skip_blank()? == '}' {
                        self.bump();
                        return Some(());
                    }
                    let (line, column) = self.here();
                    let key = self.key()?;
                    let child = join_key(path, &key);
                    self.entries.push((child.clone(), line, column));
                    if self.skip_blank()? == ':' {
                        self.bump();
                        if !matches!(self.skip_blank()?, ',' | '}') {
                            self.node(&child, depth + 1)?;
                        }
                    }
                    match self.skip_blank()? {
                        ',' => self.bump(),
                        '}' => {
                            self.bump();
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            '"' | '\'' => {
                let line = self.lines.get(self.cursor.line)?;
                let (_, end) = quoted(line, self.cursor.column)?;
                self.cursor.column = end;
                Some(())
            }
            '&' | '!' => {
                while self.peek().is_some_and(|c| !c.is_whitespace()) {
                    self.bump();
                }
                self.node(path, depth + 1)
            }
            _ => {
                self.plain(false);
                Some(())
            }
        }
    }

    /// A key inside a flow mapping, quoted or plain.
    fn key(&mut self) -> Option<String> {
        match self.peek()? {
            '"' | '\'' => {
                let line = self.lines.get(self.cursor.line)?;
                let (key, end) = quoted(line, self.cursor.column)?;
                self.cursor.column = end;
                Some(key)
            }
            _ => Some(self.plain(true)),
        }
    }

    /// Skips a plain scalar on the current line and returns it; in a key, `: ` ends it too.
    fn plain(&mut self, key: bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if matches!(c, ',' | ']' | '}') {
                break;
            }
            if c == ':' {
                let next = self.lines[self.cursor.line].get(self.cursor.column + 1).copied();
                if next.is_none_or(|n| n.is_whitespace() || matches!(n, ',' | ']' | '}'))
                    && (key || out.is_empty())
                {
                    break;
                }
            }
            if c == '#' && out.ends_with(' ') {
                break;
            }
            out.push(c);
            self.bump();
        }
        out.trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_request(text: &str) -> LoadError {
        parse_request(text.as_bytes()).expect_err("the request should be refused")
    }

    fn err_config(text: &str) -> LoadError {
        parse_config(text.as_bytes()).expect_err("the config should be refused")
    }

    fn err_catalog(text: &str) -> LoadError {
        parse_catalog(text.as_bytes()).expect_err("the catalog should be refused")
    }

    const REQUEST: &str = r#"requester: alice                 # who asks; must be the PR's author
subjects: [alice]                # who gets the access: people or service accounts
justification: "Payments on-call rotation, Q4 (OPS-1234)"
grants:
  - { resource: gh:team/payments-oncall, role: member }
expires: 2026-12-31              # a date (valid through that day, UTC) or an RFC 3339 time
# duration: 8h                   # instead of expires: counted from the merge
ticket: OPS-1234                 # optional external reference
"#;

    const CONFIG: &str = r#"version: 1
forge:                       # where approvals come from
  kind: github               # github | git
  repository: acme/access    # github only; the API URL comes from GITHUB_API_URL (default api.github.com)
branch: main                 # the branch whose history is the truth
admins: [root-admin]         # may approve changes to tenure.yaml and catalog/ (users, or @org/team on github)
providers:
  gh:    { kind: github, org: acme }              # token from GITHUB_TOKEN, or a GitHub App
  pg:    { kind: postgres, url_env: TENURE_PG_URL }
  local: { kind: file, path: state/local.json }   # a JSON file is the target system
  okta:  { kind: command, program: plugins/okta, env: [OKTA_TOKEN], timeout: 30s }
defaults: { approvals: 1, max_duration: 90d }
safety:   { max_revocations: 25% }               # or an absolute count
"#;

    const CATALOG: &str = r#"resources:
  - id: gh:team/payments-oncall      # <provider>:<type>/<name>
    description: Pager rotation for payments
    owners: ["@acme/payments-leads", carol]   # who may approve; a user, or a team on github
    roles: [member, maintainer]
    approvals: 1                     # distinct owner approvals needed (default: defaults.approvals)
    max_duration: 30d                # longest expiry allowed, counted from the merge
    manage: additive                 # additive (default) | exclusive
    keep: [ops-bot]                  # exclusive only: never revoked
    break_glass: { who: [group:oncall], max_duration: 4h }   # emergency access, see rule 12
groups:                              # named sets of users, usable as owners: group:payments-leads
  payments-leads: [bob, carol]
identities:                          # machine identities (service accounts, bots), see rule 13
  - id: deploy-bot
    kind: service
    owners: ["@acme/platform"]
    max_duration: 30d
"#;

    #[test]
    fn design_request_parses() {
        let request = parse_request(REQUEST.as_bytes()).expect("the documented request example parses");
        assert_eq!(request.requester, "alice");
        assert_eq!(request.subjects, ["alice"]);
        assert_eq!(request.justification, "Payments on-call rotation, Q4 (OPS-1234)");
        assert_eq!(request.grants.len(), 1);
        assert_eq!(request.grants[0].resource, "gh:team/payments-oncall");
        assert_eq!(request.grants[0].role, "member");
        assert_eq!(request.expires.as_deref(), Some("2026-12-31"));
        assert_eq!(request.duration, None);
        assert_eq!(request.ticket.as_deref(), Some("OPS-1234"));
        assert!(!request.break_glass);
    }

    #[test]
    fn design_config_parses() {
        use crate::wire::{CountOrPercent, ForgeConfig, ProviderConfig};
        let config = parse_config(CONFIG.as_bytes()).expect("the documented tenure.yaml example parses");
        assert_eq!(config.version, 1);
        assert!(matches!(&config.forge, ForgeConfig::Github { repository } if repository == "acme/access"));
        assert_eq!(config.branch, "main");
        assert_eq!(config.admins, ["root-admin"]);
        assert_eq!(config.providers.len(), 4);
        assert!(matches!(&config.providers["gh"], ProviderConfig::Github { org, .. } if org == "acme"));
        assert!(
            matches!(&config.providers["pg"], ProviderConfig::Postgres { url_env } if url_env == "TENURE_PG_URL")
        );
        assert!(
            matches!(&config.providers["local"], ProviderConfig::File { path } if path == "state/local.json")
        );
        assert!(matches!(
            &config.providers["okta"],
            ProviderConfig::Command { program, env, timeout }
                if program == "plugins/okta" && env == &["OKTA_TOKEN"] && timeout.as_deref() == Some("30s")
        ));
        assert_eq!(config.defaults.approvals, 1);
        assert_eq!(config.defaults.max_duration, "90d");
        assert!(matches!(&config.safety.max_revocations, CountOrPercent::Text(t) if t == "25%"));
        assert!(!config.require_known_subjects);
    }

    #[test]
    fn design_catalog_parses() {
        let catalog = parse_catalog(CATALOG.as_bytes()).expect("the documented catalog example parses");
        assert_eq!(catalog.resources.len(), 1);
        let resource = &catalog.resources[0];
        assert_eq!(resource.id, "gh:team/payments-oncall");
        assert_eq!(resource.owners, ["@acme/payments-leads", "carol"]);
        assert_eq!(resource.roles, ["member", "maintainer"]);
        assert_eq!(resource.approvals, Some(1));
        assert_eq!(resource.manage, ManageMode::Additive);
        assert_eq!(resource.keep, ["ops-bot"]);
        let break_glass = resource.break_glass.as_ref().expect("break_glass is set");
        assert_eq!(break_glass.who, ["group:oncall"]);
        assert_eq!(break_glass.max_duration, "4h");
        assert_eq!(catalog.groups["payments-leads"], ["bob", "carol"]);
        assert_eq!(catalog.identities[0].id, "deploy-bot");
        assert_eq!(catalog.identities[0].kind, IdentityKind::Service);
    }

    #[test]
    fn unknown_top_level_field_is_invalid_field() {
        let text = REQUEST.replace("ticket: OPS-1234", "grnats: []");
        let error = err_request(&text);
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("grnats"));
        assert_eq!((error.line, error.column), (Some(8), Some(1)));
        assert!(error.message.starts_with("unknown field `grnats`; expected one of `requester`"), "{error}");
    }

    #[test]
    fn unknown_nested_field_is_invalid_field() {
        let text =
            "requester: alice\nsubjects: [alice]\njustification: x\ngrants:\n  - resource: a\n    rol: b\n";
        let error = err_request(text);
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("grants[0].rol"));
        assert_eq!((error.line, error.column), (Some(6), Some(5)));
        assert_eq!(error.message, "unknown field `rol`; expected `resource` or `role`");
    }

    #[test]
    fn unknown_field_in_flow_grant() {
        let text = REQUEST.replace("role: member }", "role: member, until: x }");
        let error = err_request(&text);
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("grants[0].until"));
        assert_eq!(error.line, Some(5));
    }

    #[test]
    fn missing_field_names_the_field() {
        let text = "requester: alice\nsubjects: [alice]\njustification: x\ngrants:\n  - resource: a\n";
        let error = err_request(text);
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("grants[0].role"));
        assert_eq!(error.line, Some(5));
        assert_eq!(error.message, "missing required field `role`");

        let error = err_request("subjects: [alice]\njustification: x\ngrants: []\n");
        assert_eq!(error.field.as_deref(), Some("requester"));
        assert_eq!(error.code, Code::InvalidField);
    }

    #[test]
    fn wrong_type_is_invalid_field_without_rust_names() {
        let error = err_request(&REQUEST.replace("subjects: [alice]", "subjects: alice"));
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("subjects"));
        assert_eq!((error.line, error.column), (Some(2), Some(11)));
        assert_eq!(error.message, "wrong type: expected a list, found the text \"alice\"");

        let error = err_config(&CONFIG.replace("approvals: 1,", "approvals: -1,"));
        assert_eq!(error.field.as_deref(), Some("defaults.approvals"));
        assert_eq!(error.line, Some(12));
        assert_eq!(
            error.message,
            "wrong type: expected a whole number from 0 to 4294967295, found the number `-1`"
        );

        let error = err_catalog("resources: hello\n");
        assert_eq!(error.field.as_deref(), Some("resources"));
        assert!(!error.message.contains("Entry"), "{error}");

        let error = err_request("just text\n");
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field, None);
        assert_eq!(error.message, "wrong type: expected a mapping of fields, found the text \"just text\"");
    }

    #[test]
    fn plain_enum_errors_list_the_allowed_words() {
        let error = err_catalog(&CATALOG.replace("manage: additive", "manage: [additive]"));
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("resources[0].manage"));
        assert_eq!(error.line, Some(8));
        assert_eq!(error.message, "wrong type: expected `additive` or `exclusive`, found a list");

        let error = err_catalog(&CATALOG.replace("manage: additive", "manage: sometimes"));
        assert_eq!(error.message, "unknown value `sometimes`; expected `additive` or `exclusive`");
        assert_eq!(error.line, Some(8));
    }

    #[test]
    fn provider_fields_are_checked_despite_the_kind_tag() {
        let error = err_config(&CONFIG.replace("org: acme }", "org: acme, extra: 1 }"));
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("providers.gh.extra"));
        assert_eq!((error.line, error.column), (Some(8), Some(37)));
        assert_eq!(error.message, "unknown field `extra`; expected `org` or `write_interval`");

        let error = err_config(&CONFIG.replace("kind: postgres", "kind: pgsql"));
        assert_eq!(error.field.as_deref(), Some("providers.pg.kind"));
        assert_eq!(error.line, Some(9));
        assert!(error.message.starts_with("unknown value `pgsql`; expected one of `github`, `postgres`"));

        let error = err_config(&CONFIG.replace("{ kind: github, org: acme }", "{ org: acme }"));
        assert_eq!(error.field.as_deref(), Some("providers.gh.kind"));
        assert_eq!(error.message, "missing required field `kind`");
        assert_eq!(error.line, Some(8));

        // A type error inside a tagged provider loses its field to serde's buffering; the
        // provider's own line is the best that can be said.
        let error = err_config(&CONFIG.replace("timeout: 30s", "timeout: [30s]"));
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("providers.okta"));
        assert_eq!(error.line, Some(11));
        assert_eq!(error.message, "wrong type: expected text, found a list");

        let error = err_config(&CONFIG.replace("  kind: github  ", "  kind: git  "));
        assert_eq!(error.field.as_deref(), Some("forge.repository"));
        assert_eq!(error.line, Some(4));
        assert_eq!(error.message, "unknown field `repository`; no other fields are allowed here");
    }

    #[test]
    fn tagged_sections_must_be_mappings() {
        // serde alone would read these lists as `kind: github, repository: acme/access`.
        let error = err_config(&CONFIG.replace(
            "forge:                       # where approvals come from\n  kind: github               # github | git\n  repository: acme/access",
            "forge: [github, acme/access]",
        ));
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("forge"));
        assert_eq!((error.line, error.column), (Some(2), Some(8)));
        assert_eq!(error.message, "wrong type: expected a mapping with a `kind` field, found a list");

        let error = err_config(&CONFIG.replace("{ kind: github, org: acme }", "[github, acme]"));
        assert_eq!(error.field.as_deref(), Some("providers.gh"));
        assert_eq!(error.line, Some(8));
        assert_eq!(error.message, "wrong type: expected a mapping with a `kind` field, found a list");

        let error = err_config("version: 1\nforge: [git]\n");
        assert_eq!(error.field.as_deref(), Some("forge"));
        let error = err_config("version: 1\nforge: [github]\n");
        assert_eq!(error.field.as_deref(), Some("forge"));
        assert_eq!(error.message, "wrong type: expected a mapping with a `kind` field, found a list");
    }

    #[test]
    fn untagged_count_or_percent_is_described() {
        let error = err_config(&CONFIG.replace("25%", "[25]"));
        assert_eq!(error.field.as_deref(), Some("safety.max_revocations"));
        assert_eq!(error.message, "expected a count such as `10` or a percentage such as `25%`");
        assert_eq!(error.line, Some(13));
    }

    #[test]
    fn duplicate_top_level_key_is_invalid_yaml() {
        let error = err_request(&format!("{REQUEST}requester: mallory\n"));
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!(error.field.as_deref(), Some("requester"));
        assert_eq!((error.line, error.column), (Some(9), Some(1)));
        assert!(error.message.starts_with("duplicate key `requester`"), "{error}");
    }

    #[test]
    fn duplicate_key_in_groups_is_invalid_yaml() {
        let text = "groups:\n  leads: [bob]\n  ops: [dan]\n  leads: [mallory]\n";
        let error = err_catalog(text);
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!(error.field.as_deref(), Some("groups.leads"));
        assert_eq!((error.line, error.column), (Some(4), Some(3)));

        // `1` and `"1"` are different YAML values but the same group name.
        let error = err_catalog("groups:\n  1: [bob]\n  \"1\": [mallory]\n");
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!(error.field.as_deref(), Some("groups.1"));
        assert_eq!(error.line, Some(3));
    }

    #[test]
    fn duplicate_key_in_providers_is_invalid_yaml() {
        let text = CONFIG.replace(
            "  pg:    { kind: postgres, url_env: TENURE_PG_URL }",
            "  pg:    { kind: postgres, url_env: TENURE_PG_URL }\n  gh: { kind: file, path: x }",
        );
        let error = err_config(&text);
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!(error.field.as_deref(), Some("providers.gh"));
        assert_eq!((error.line, error.column), (Some(10), Some(3)));

        let text = CONFIG.replace("org: acme }", "org: acme, org: evil }");
        let error = err_config(&text);
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!(error.field.as_deref(), Some("providers.gh.org"));
        assert_eq!(error.line, Some(8));
    }

    #[test]
    fn two_documents_are_invalid_yaml() {
        let error = err_request(&format!("{REQUEST}---\n{REQUEST}"));
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!(error.line, Some(9));
        assert!(error.message.contains("more than one YAML document"), "{error}");

        // An empty second document still makes two.
        let error = err_request(&format!("{REQUEST}---\n"));
        assert_eq!(error.code, Code::InvalidYaml);

        // A broken second document is still a second document, and ends the scan.
        let error = err_request(&format!("---\n{REQUEST}---\nkey: [unclosed\n"));
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!(error.line, Some(10));

        // Text after the first document that is no document is a syntax error.
        let error = err_request("[a], b\n");
        assert_eq!(error.code, Code::InvalidYaml);
        assert!(error.message.starts_with("YAML syntax error"), "{error}");
        assert_eq!(error.line, Some(1));

        // One document with explicit markers is fine.
        parse_request(format!("---\n{REQUEST}...\n").as_bytes()).expect("one document");
    }

    #[test]
    fn empty_and_comment_only_files_are_invalid_yaml() {
        for text in ["", "\n\n", "# only\n# comments\n", "---\n", "--- # nothing\n...\n", "\u{feff}"] {
            let error = parse_catalog(text.as_bytes()).expect_err(text);
            assert_eq!(error.code, Code::InvalidYaml, "{text:?}");
            assert!(error.message.contains("no YAML document"), "{error}");
        }
        // An explicit null is a document, of the wrong type.
        let error = err_request("null\n");
        assert_eq!(error.code, Code::InvalidField);
        // A catalog may be an empty mapping.
        parse_catalog(b"{}\n").expect("an empty catalog mapping");
    }

    #[test]
    fn size_limit_is_checked_before_parsing() {
        let mut text = REQUEST.to_owned();
        text.push('#');
        text.push_str(&"x".repeat(MAX_FILE_BYTES - text.len()));
        assert_eq!(text.len(), MAX_FILE_BYTES);
        parse_request(text.as_bytes()).expect("exactly 1 MiB is allowed");
        text.push('x');
        let error = err_request(&text);
        assert_eq!(error.code, Code::InvalidYaml);
        assert!(error.message.contains("1048577 bytes"), "{error}");

        // Over the limit, even invalid UTF-8 is refused for its size.
        let bytes = vec![0xff; MAX_FILE_BYTES + 1];
        let error = parse_request(&bytes).expect_err("too big");
        assert!(error.message.contains("over the limit"), "{error}");
    }

    #[test]
    fn invalid_utf8_is_invalid_yaml_with_its_position() {
        let mut bytes = b"requester: alice\nsubjects: [al".to_vec();
        bytes.push(0xff);
        bytes.extend_from_slice(b"ice]\n");
        let error = parse_request(&bytes).expect_err("not UTF-8");
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!((error.line, error.column), (Some(2), Some(14)));
        assert!(error.message.contains("UTF-8"), "{error}");
    }

    #[test]
    fn control_characters_are_invalid_yaml_at_their_position() {
        let error = err_request("requester: al\u{0}ice\n");
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!((error.line, error.column), (Some(1), Some(14)));
        assert!(error.message.contains("control characters"), "{error}");
        assert!(!error.message.contains("position"), "{error}");
    }

    #[test]
    fn bom_is_accepted() {
        let text = format!("\u{feff}{REQUEST}");
        let request = parse_request(text.as_bytes()).expect("a BOM is allowed");
        assert_eq!(request.requester, "alice");
        // Positions after a BOM are those of the text without it.
        let error = err_request(&format!("\u{feff}{}", REQUEST.replace("ticket:", "tikcet:")));
        assert_eq!((error.line, error.column), (Some(8), Some(1)));
    }

    #[test]
    fn tab_indentation_is_invalid_yaml_with_position() {
        let text = "requester: alice\ngrants:\n\t- resource: a\n";
        let error = err_request(text);
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!((error.line, error.column), (Some(3), Some(1)));
        assert!(error.message.contains("tabs"), "{error}");
        assert!(error.message.contains("line 3, column 1"), "{error}");
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let text = "requester: alice\nsubjects: [alice\njustification: x\n";
        let error = err_request(text);
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!((error.line, error.column), (Some(3), Some(14)));
        assert_eq!(error.field, None);
        assert!(error.message.starts_with("YAML syntax error: "), "{error}");
        assert!(error.message.ends_with("(line 3, column 14)"), "{error}");
        assert!(error.message.contains("flow sequence"), "{error}");

        let error = err_request("requester: alice\n  bad: indent\n");
        assert_eq!(error.code, Code::InvalidYaml);
        assert_eq!(error.line, Some(2));
    }

    #[test]
    fn alias_bomb_fails_cleanly_and_quickly() {
        let text = r#"a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"#;
        let started = std::time::Instant::now();
        let error = err_request(text);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
        assert_eq!(error.code, Code::InvalidYaml);
        assert!(error.message.contains("alias"), "{error}");

        // Plain aliases within the limit still work.
        let text =
            "requester: &who alice\nsubjects: [*who]\njustification: x\ngrants: [{resource: a, role: b}]\n";
        assert_eq!(parse_request(text.as_bytes()).expect("small aliases").subjects, ["alice"]);

        let error = err_request("requester: *nobody\n");
        assert_eq!(error.code, Code::InvalidYaml);
        assert!(error.message.contains("anchor"), "{error}");
    }

    #[test]
    fn deep_nesting_fails_cleanly() {
        let deep = format!("requester: {}{}\n", "[".repeat(200), "]".repeat(200));
        let error = err_request(&deep);
        assert_eq!(error.code, Code::InvalidYaml);
        assert!(error.message.contains("nests deeper"), "{error}");
        assert_eq!(error.line, Some(1));

        let mut block = String::new();
        for depth in 0..200 {
            block.push_str(&format!("{}k{depth}:\n", " ".repeat(depth)));
        }
        assert_eq!(err_request(&block).code, Code::InvalidYaml);

        // Much deeper than the limit, and unclosed: refused at once, with no stack overflow.
        for open in ["[", "{", "- ["] {
            let abyss = format!("requester: {}", open.repeat(MAX_FILE_BYTES / 4));
            let started = std::time::Instant::now();
            let error = err_request(&abyss);
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
            assert_eq!(error.code, Code::InvalidYaml);
            assert!(error.message.contains("nests deeper"), "{error}");
            assert_eq!(error.line, Some(1));
            assert!(locate(abyss.as_bytes(), "requester[0]").is_some());
        }
        // Just under the guard, the parser's own limit still answers.
        let deep = format!("requester: {}", "[".repeat(9_999));
        assert!(err_request(&deep).message.contains("nests deeper"));
    }

    #[test]
    fn date_stays_text() {
        let request = parse_request(REQUEST.as_bytes()).expect("parses");
        assert_eq!(request.expires.as_deref(), Some("2026-12-31"));
        let text = REQUEST.replace("expires: 2026-12-31", "expires: 2026-12-31T10:00:00Z");
        let request = parse_request(text.as_bytes()).expect("parses");
        assert_eq!(request.expires.as_deref(), Some("2026-12-31T10:00:00Z"));
    }

    #[test]
    fn yaml_1_1_booleans_are_not_booleans() {
        let error = err_request(&format!("{REQUEST}break_glass: yes\n"));
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("break_glass"));
        assert_eq!((error.line, error.column), (Some(9), Some(14)));
        assert_eq!(error.message, "wrong type: expected `true` or `false`, found the text \"yes\"");
        let request = parse_request(format!("{REQUEST}break_glass: true\n").as_bytes()).expect("true");
        assert!(request.break_glass);
    }

    #[test]
    fn merge_keys_are_refused() {
        let text = "base: &base { resource: a, role: b }\n";
        let error = err_request(&format!("{text}{REQUEST}"));
        assert_eq!(error.code, Code::InvalidField);

        let text = "groups:\n  base: &b [bob]\n  <<: {leads: [carol]}\n";
        let error = err_catalog(text);
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("groups.<<"));
        assert_eq!((error.line, error.column), (Some(3), Some(3)));
        assert!(error.message.contains("merge keys"), "{error}");

        let text =
            "resources:\n  - &r\n    id: a:b/c\n    owners: [x]\n    roles: [m]\n  - <<: *r\n    id: a:b/d\n";
        let error = err_catalog(text);
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("resources[1].<<"));
        assert_eq!(error.line, Some(6));
    }

    #[test]
    fn tags_and_structured_keys_are_refused() {
        // serde_yaml would read `!exclusive` as the variant, whatever the text says after it.
        let error = err_catalog(&CATALOG.replace("manage: additive", "manage: !exclusive additive"));
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("resources[0].manage"));
        assert_eq!(error.line, Some(8));
        assert!(error.message.contains("`!exclusive`"), "{error}");

        let error = err_catalog("groups:\n  ? [a, b]\n  : [c]\n");
        assert_eq!(error.code, Code::InvalidField);
        assert_eq!(error.field.as_deref(), Some("groups"));
        assert_eq!(error.line, Some(2));
    }

    #[test]
    fn messages_name_no_rust_types() {
        let broken_requests = [
            "just text\n",
            "- a\n",
            "null\n",
            "requester: [alice]\n",
            "requester: alice\nsubjects: {a: 1}\njustification: x\ngrants: []\n",
            "requester: alice\nsubjects: []\njustification: x\ngrants: [1]\n",
            "requester: alice\nsubjects: []\njustification: x\ngrants: [{resource: a}]\n",
            "requester: alice\nsubjects: []\njustification: x\ngrants: []\nbreak_glass: 1\n",
        ];
        let broken_configs = [
            "version: 1\nforge: github\n",
            "version: 1\nforge: [github]\n",
            "version: 1\nforge: { kind: git }\nproviders: { a: 1 }\n",
            "version: 1\nforge: { kind: git }\nproviders: { a: { kind: file, path: [x] } }\n",
            "version: 1\nforge: { kind: git }\nsafety: { max_revocations: {a: 1} }\n",
            "version: 1.5\nforge: { kind: git }\n",
            "version: 99999999999\nforge: { kind: git }\n",
            "version: 1\nforge: { kind: git }\ndefaults: 3\n",
        ];
        let broken_catalogs = [
            "resources: [1]\n",
            "resources: [{id: a, owners: [], roles: [], manage: 1}]\n",
            "resources: [{id: a, owners: [], roles: [], manage: {a: 1}}]\n",
            "resources: [{id: a, owners: [], roles: [], break_glass: 1}]\n",
            "identities: [{id: a, kind: [service], owners: []}]\n",
            "groups: [a]\n",
        ];
        let mut errors: Vec<LoadError> = broken_requests.iter().map(|t| err_request(t)).collect();
        errors.extend(broken_configs.iter().map(|t| err_config(t)));
        errors.extend(broken_catalogs.iter().map(|t| err_catalog(t)));
        for error in errors {
            assert_eq!(error.code, Code::InvalidField, "{error}");
            for word in [
                "struct",
                "enum",
                "variant",
                "u32",
                "u64",
                "Entry",
                "Config",
                "File",
                "Kind",
                "Mode",
                "Percent",
                "sequence",
                "unit value",
                "Option",
                "YAML tag",
            ] {
                assert!(!error.message.contains(word), "`{word}` in: {error}");
            }
        }
    }

    #[test]
    fn load_errors_display_position_field_and_code() {
        let error = err_request(
            "requester: alice\nsubjects: [alice]\njustification: x\ngrants:\n  - resource: a\n    rol: b\n",
        );
        assert_eq!(
            error.to_string(),
            "line 6, column 5: grants[0].rol: unknown field `rol`; expected `resource` or `role` (invalid-field)"
        );
    }

    /// The committed schemas and the parser must agree on what a valid file is, or editors
    /// would bless files that tenure refuses (and the other way round).
    #[test]
    fn schemas_agree_with_the_parser() {
        #[derive(Clone, Copy)]
        enum Kind {
            Config,
            Catalog,
            Request,
        }
        let schemas = crate::schema::schemas();
        let validator = |kind: Kind| {
            let name = match kind {
                Kind::Config => "tenure.schema.json",
                Kind::Catalog => "catalog.schema.json",
                Kind::Request => "request.schema.json",
            };
            let (_, schema) = schemas.iter().find(|(file, _)| *file == name).expect("a schema");
            jsonschema::validator_for(schema).expect("a valid schema")
        };
        let parses = |kind: Kind, text: &str| match kind {
            Kind::Config => parse_config(text.as_bytes()).is_ok(),
            Kind::Catalog => parse_catalog(text.as_bytes()).is_ok(),
            Kind::Request => parse_request(text.as_bytes()).is_ok(),
        };
        let cases = [
            (Kind::Request, REQUEST.to_owned()),
            (Kind::Request, REQUEST.replace("ticket:", "tikcet:")),
            (Kind::Request, REQUEST.replace("role: member }", "rol: member }")),
            (Kind::Request, REQUEST.replace("[alice]", "alice")),
            (Kind::Request, REQUEST.replace("requester: alice", "")),
            (Kind::Request, format!("{REQUEST}break_glass: yes\n")),
            (Kind::Request, format!("{REQUEST}break_glass: true\nduration: 8h\n")),
            (Kind::Config, CONFIG.to_owned()),
            (Kind::Config, CONFIG.replace("org: acme }", "org: acme, extra: 1 }")),
            (Kind::Config, CONFIG.replace("kind: postgres", "kind: pgsql")),
            (Kind::Config, CONFIG.replace("  kind: github  ", "  kind: git  ")),
            (Kind::Config, CONFIG.replace("25%", "10")),
            (Kind::Config, CONFIG.replace("25%", "[25]")),
            (Kind::Config, CONFIG.replace("approvals: 1,", "approvals: -1,")),
            (Kind::Config, "version: 1\nforge: { kind: git }\n".to_owned()),
            (Kind::Config, "version: 1\nforge: [git]\n".to_owned()),
            (Kind::Catalog, CATALOG.to_owned()),
            (Kind::Catalog, CATALOG.replace("additive ", "exclusive")),
            (Kind::Catalog, CATALOG.replace("additive ", "sometimes")),
            (Kind::Catalog, CATALOG.replace("kind: service", "kind: human")),
            (Kind::Catalog, CATALOG.replace("4h }", "4h, who2: [] }")),
            (Kind::Catalog, CATALOG.replace("[bob, carol]", "bob")),
            (Kind::Catalog, "{}\n".to_owned()),
        ];
        let mut valid = 0;
        for (kind, text) in cases {
            let value: serde_yaml::Value = serde_yaml::from_str(&text).expect("well-formed YAML");
            let json = serde_json::to_value(value).expect("YAML as JSON");
            let accepted = validator(kind).is_valid(&json);
            assert_eq!(accepted, parses(kind, &text), "schema and parser disagree on:\n{text}");
            valid += usize::from(accepted);
        }
        // Both outcomes are exercised.
        assert_eq!(valid, 8);
    }

    /// The sample access repository is what new users copy: every file in it must satisfy
    /// both its JSON Schema and the parser.
    #[test]
    fn every_example_file_validates_against_its_schema() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/access-repo");
        let schemas = crate::schema::schemas();
        let mut files = Vec::new();
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("examples/access-repo is readable") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml") {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut checked = [0_usize; 3];
        for path in &files {
            let relative =
                path.strip_prefix(&root).expect("below the root").to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(path).expect("UTF-8");
            let (slot, schema_name, parsed) = if relative == "tenure.yaml" {
                (0, "tenure.schema.json", parse_config(text.as_bytes()).map(|_| ()))
            } else if relative.starts_with("catalog/") {
                (1, "catalog.schema.json", parse_catalog(text.as_bytes()).map(|_| ()))
            } else if relative.starts_with("requests/") {
                (2, "request.schema.json", parse_request(text.as_bytes()).map(|_| ()))
            } else {
                continue;
            };
            assert_eq!(parsed, Ok(()), "{relative} does not parse");
            let (_, schema) = schemas.iter().find(|(file, _)| *file == schema_name).expect("a schema");
            let value: serde_yaml::Value = serde_yaml::from_str(&text).expect("well-formed YAML");
            let json = serde_json::to_value(value).expect("YAML as JSON");
            let validator = jsonschema::validator_for(schema).expect("a valid schema");
            let errors: Vec<String> = validator.iter_errors(&json).map(|error| error.to_string()).collect();
            assert!(errors.is_empty(), "{relative} breaks {schema_name}: {errors:?}");
            checked[slot] += 1;
        }
        assert_eq!(checked[0], 1, "the sample has one tenure.yaml");
        assert!(checked[1] >= 1 && checked[2] >= 5, "catalog and request files were found: {checked:?}");
    }

    // ---- locate -------------------------------------------------------------------------------

    fn at(text: &str, field: &str) -> Option<(usize, usize)> {
        locate(text.as_bytes(), field)
    }

    #[test]
    fn locate_in_block_style() {
        let text = "\
# a request
requester: alice
subjects:
  - alice
  - deploy-bot   # a service
justification: >
  grants: [{resource: fake, role: fake}]
  - not: an item
grants:
  - resource: gh:team/a
    role: member
  - resource: 'gh:team/b'
    \"role\": maintainer
expires: 2026-12-31
";
        assert_eq!(at(text, "requester"), Some((2, 1)));
        assert_eq!(at(text, "subjects"), Some((3, 1)));
        assert_eq!(at(text, "subjects[0]"), Some((4, 5)));
        assert_eq!(at(text, "subjects[1]"), Some((5, 5)));
        assert_eq!(at(text, "justification"), Some((6, 1)));
        assert_eq!(at(text, "grants"), Some((9, 1)));
        assert_eq!(at(text, "grants[0]"), Some((10, 5)));
        assert_eq!(at(text, "grants[0].role"), Some((11, 5)));
        assert_eq!(at(text, "grants[1].resource"), Some((12, 5)));
        assert_eq!(at(text, "grants[1].role"), Some((13, 5)));
        assert_eq!(at(text, "expires"), Some((14, 1)));
        // Nothing in the folded justification counts as structure.
        assert_eq!(at(text, "justification.grants"), Some((6, 1)));
        assert_eq!(at(text, "grants[2]"), Some((9, 1)));
        // Deepest ancestor when the exact element is missing.
        assert_eq!(at(text, "grants[1].until"), Some((12, 5)));
        assert_eq!(at(text, "subjects[7]"), Some((3, 1)));
        assert_eq!(at(text, "ticket"), None);
        assert_eq!(at(text, ""), None);
    }

    #[test]
    fn locate_in_compact_block_sequences() {
        let text = "\
resources:
- id: gh:team/a
  owners:
  - carol
  - group:leads
  roles: [member]
- id: gh:team/b
  owners: [dan]
  roles:
  - member
groups:
  leads:
  - bob
";
        assert_eq!(at(text, "resources[0]"), Some((2, 3)));
        assert_eq!(at(text, "resources[0].owners[1]"), Some((5, 5)));
        assert_eq!(at(text, "resources[0].roles"), Some((6, 3)));
        assert_eq!(at(text, "resources[0].roles[0]"), Some((6, 11)));
        assert_eq!(at(text, "resources[1].id"), Some((7, 3)));
        assert_eq!(at(text, "resources[1].owners[0]"), Some((8, 12)));
        assert_eq!(at(text, "resources[1].roles[0]"), Some((10, 5)));
        assert_eq!(at(text, "groups.leads[0]"), Some((13, 5)));
    }

    #[test]
    fn locate_in_flow_style() {
        let text = "\
requester: alice
subjects: [alice, \"bob\", 'carol']   # three
justification: \"Payments: on-call, Q4 # not a comment\"
grants: [{resource: gh:team/a, role: member}, { resource: \"gh:team/b\", role: maintainer }]
other:
  - { resource: x, role: y }
  - {resource: z,
     role: w}
  - [a, [b, c]]
";
        assert_eq!(at(text, "subjects[0]"), Some((2, 12)));
        assert_eq!(at(text, "subjects[1]"), Some((2, 19)));
        assert_eq!(at(text, "subjects[2]"), Some((2, 26)));
        assert_eq!(at(text, "justification"), Some((3, 1)));
        assert_eq!(at(text, "grants[0]"), Some((4, 10)));
        assert_eq!(at(text, "grants[0].role"), Some((4, 32)));
        assert_eq!(at(text, "grants[1]"), Some((4, 47)));
        assert_eq!(at(text, "grants[1].resource"), Some((4, 49)));
        assert_eq!(at(text, "grants[1].role"), Some((4, 72)));
        assert_eq!(at(text, "other[0].role"), Some((6, 20)));
        assert_eq!(at(text, "other[1].role"), Some((8, 6)));
        assert_eq!(at(text, "other[2][1][0]"), Some((9, 10)));
        assert_eq!(at(text, "other[2][1][5]"), Some((9, 9)));
    }

    #[test]
    fn locate_in_catalog_and_config() {
        assert_eq!(at(CATALOG, "resources[0].roles[1]"), Some((5, 21)));
        assert_eq!(at(CATALOG, "resources[0].break_glass.who[0]"), Some((10, 26)));
        assert_eq!(at(CATALOG, "resources[0].break_glass.max_duration"), Some((10, 41)));
        assert_eq!(at(CATALOG, "groups.payments-leads[1]"), Some((12, 25)));
        assert_eq!(at(CATALOG, "identities[0].owners[0]"), Some((16, 14)));
        assert_eq!(at(CONFIG, "forge.kind"), Some((3, 3)));
        assert_eq!(at(CONFIG, "providers.okta.timeout"), Some((11, 69)));
        assert_eq!(at(CONFIG, "providers.okta.env[0]"), Some((11, 56)));
        assert_eq!(at(CONFIG, "safety.max_revocations"), Some((13, 13)));
        assert_eq!(at(REQUEST, "grants[0].role"), Some((5, 42)));
        assert_eq!(at(REQUEST, "ticket"), Some((8, 1)));
    }

    #[test]
    fn locate_copes_with_odd_text() {
        assert_eq!(at("a:\n\tb: 1\n", "a.b"), Some((1, 1)));
        assert_eq!(at("- [unclosed\n- b\n", "[1]"), Some((2, 3)));
        assert_eq!(at("a: 1\n---\na: 2\n", "a"), Some((1, 1)));
        assert_eq!(at("\"quoted key\": 1\n'it''s': 2\n", "it's"), Some((2, 1)));
        assert_eq!(at("url: http://x:80/y\nnext: 1\n", "next"), Some((2, 1)));
        assert_eq!(at("a: 1\r\nb: 2\r\n", "b"), Some((2, 1)));
        assert_eq!(at("k: |\n  x: 1\nz: 2\n", "k.x"), Some((1, 1)));
        assert_eq!(at("k: |\n  x: 1\nz: 2\n", "z"), Some((3, 1)));
        assert_eq!(locate(&[0xff, b'a'], "a"), None);
        for text in ["", "-", "- -", ":", "{", "[", "a: [b, {c", "? a\n: b\n", "\"", "- 'x", "a: &x !t [1]"] {
            let _ = at(text, "a[0].b");
        }
        // Long chains on one line must not exhaust the stack.
        for unit in ["- ", "&a ", "[&a ", "{a: "] {
            let text = unit.repeat(MAX_FILE_BYTES / unit.len());
            let _ = at(&text, "[0][0]");
        }
    }

    #[test]
    fn parsing_many_requests_at_once_gives_each_file_its_own_verdict_in_order() {
        let texts: Vec<Vec<u8>> = (0..300)
            .map(|n| match n % 4 {
                0 => REQUEST.replace("alice", &format!("user{n}")).into_bytes(),
                1 => format!("{REQUEST}requester: dup{n}\n").into_bytes(),
                2 => b"requester: [unclosed\n".to_vec(),
                _ => vec![0xff, 0xfe, b'a'],
            })
            .collect();
        let together = parse_requests(&texts);
        assert_eq!(together.len(), texts.len());
        for (text, result) in texts.iter().zip(&together) {
            let alone = parse_request(text);
            assert_eq!(
                result.as_ref().map(|r| r.requester.clone()),
                alone.as_ref().map(|r| r.requester.clone())
            );
            assert_eq!(result.as_ref().err(), alone.as_ref().err());
        }
        assert_eq!(together[4].as_ref().map(|r| r.requester.as_str()), Ok("user4"));
        assert!(together[1].is_err() && together[2].is_err() && together[3].is_err());
    }

    // ---- the single pass of requests against both passes ----------------------------------

    /// Both passes, as every request was read before the single pass: the oracle that
    /// `parse_request` must agree with on every text.
    fn two_passes(bytes: &[u8]) -> Result<RequestFile, LoadError> {
        parse(bytes, tracked_two_passes)
    }

    /// `parse_text` with the first pass tracked from the start.
    fn tracked_two_passes<T: DeserializeOwned>(text: &str) -> Result<T, LoadError> {
        check_document(text, walk_tracked)?;
        let deserializer = serde_yaml::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer).map_err(|error| field_error(text, &error))
    }

    /// The whole verdict, values and errors alike (`RequestFile` has no `PartialEq`).
    fn verdict(result: &Result<RequestFile, LoadError>) -> String {
        format!("{result:?}")
    }

    fn assert_same_verdict(bytes: &[u8]) {
        assert_eq!(
            verdict(&parse_request(bytes)),
            verdict(&two_passes(bytes)),
            "single and two passes disagree on:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }

    /// A request of the shape that `tenure` writes and most people copy.
    const BLOCK_REQUEST: &str = "requester: u02437
subjects:
  - u02437
justification: \"Synthetic request 6215 (OPS-6215)\"
grants:
  - { resource: local:group/team-00000, role: member }
expires: 2027-09-01T09:07:12Z
ticket: OPS-6215
";

    const NESTED_REQUEST: &str = "requester: alice
subjects: [alice, 'deploy-bot']
justification: |
  Payments on-call, Q4!
  See OPS-1*2.
grants:
  - resource: gh:team/a
    role: member
  - resource: \"gh:team/b\"
    role: maintainer
duration: 8h
break_glass: false
";

    #[test]
    fn the_single_pass_reads_ordinary_requests() {
        for text in [REQUEST, BLOCK_REQUEST, NESTED_REQUEST] {
            let once = read_request_at_once(text).expect("an ordinary request needs one pass");
            assert_eq!(verdict(&Ok(once)), verdict(&two_passes(text.as_bytes())));
            assert_same_verdict(text.as_bytes());
        }
        // Text that only looks like YAML syntax: a `!` or `*` right after a letter or digit,
        // an anchor that nothing refers to, an explicit key, quoted keys, a comment with `!`.
        let text = "requester: &who alice\nsubjects: [a*b]\n\"justification\": urgent!\n? grants\n: \
                    [{'resource': x, role: y}]\nticket: OPS-1 # really!\n";
        assert!(read_request_at_once(text).is_some(), "{text}");
        assert_same_verdict(text.as_bytes());
    }

    #[test]
    fn every_corpus_and_example_request_gets_the_same_verdict() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for dir in ["tests/corpus/requests", "examples/access-repo/requests"] {
            let mut pending = vec![root.join(dir)];
            while let Some(dir) = pending.pop() {
                for entry in std::fs::read_dir(&dir).expect("a readable directory") {
                    let path = entry.expect("a directory entry").path();
                    if path.is_dir() {
                        pending.push(path);
                        continue;
                    }
                    let bytes = std::fs::read(&path).expect("a readable file");
                    assert_same_verdict(&bytes);
                    // The corpus pads one file past the size limit; just under it, the file
                    // is parsed.
                    if path.ends_with("huge.yaml") {
                        let mut padded = bytes;
                        while padded.len() + 80 < MAX_FILE_BYTES {
                            padded.extend_from_slice(format!("\n# {}", "x".repeat(76)).as_bytes());
                        }
                        assert_same_verdict(&padded);
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked >= 90, "the corpus was found: {checked} files");
    }

    #[test]
    fn every_shape_problem_still_gets_the_two_pass_error() {
        let grants = "grants:\n  - { resource: gh:team/payments-oncall, role: member }\n";
        let cases: Vec<(String, Code, &str)> = vec![
            // Duplicate keys: nested block and flow mappings, top level, quoted, and a key
            // that is a field only once.
            (
                REQUEST.replace(
                    "  - { resource: gh:team/payments-oncall, role: member }",
                    "  - resource: a\n    role: b\n    role: c",
                ),
                Code::InvalidYaml,
                "duplicate key `role`",
            ),
            (
                REQUEST.replace("role: member }", "role: member, role: admin }"),
                Code::InvalidYaml,
                "duplicate key",
            ),
            (format!("{REQUEST}\"requester\": mallory\n"), Code::InvalidYaml, "duplicate key `requester`"),
            (REQUEST.replace("ticket: OPS-1234", "ticket: a\nticket: b"), Code::InvalidYaml, "duplicate key"),
            (
                REQUEST.replace(grants, &format!("{grants}{grants}")),
                Code::InvalidYaml,
                "duplicate key `grants`",
            ),
            // Tags, on a scalar the typed pass reads as text, on a collection, core and local.
            (
                REQUEST.replace("ticket: OPS-1234", "ticket: !exclusive OPS-1"),
                Code::InvalidField,
                "YAML tags",
            ),
            (REQUEST.replace("[alice]", "!list [alice]"), Code::InvalidField, "YAML tags"),
            (REQUEST.replace("[alice]", "[!x alice]"), Code::InvalidField, "YAML tags"),
            (REQUEST.replace("[alice]", "[ !<!x> alice]"), Code::InvalidField, "YAML tags"),
            // Merge keys, with and without an alias.
            (
                REQUEST.replace(
                    "  - { resource: gh:team/payments-oncall, role: member }",
                    "  - <<: {resource: a, role: b}",
                ),
                Code::InvalidField,
                "merge keys",
            ),
            (
                format!(
                    "base: &b {{resource: a, role: b}}\n{}",
                    REQUEST.replace("role: member }", "<<: *b }")
                ),
                Code::InvalidField,
                "merge keys",
            ),
            // Structured keys.
            (format!("? [requester]\n: x\n{REQUEST}"), Code::InvalidField, "plain text"),
            (
                REQUEST.replace("role: member }", "role: member, {a: 1}: x }"),
                Code::InvalidField,
                "plain text",
            ),
            // Documents.
            (format!("{REQUEST}---\n{REQUEST}"), Code::InvalidYaml, "more than one YAML document"),
            (format!("{REQUEST}---\n"), Code::InvalidYaml, "more than one YAML document"),
            (format!("{REQUEST}...\n{REQUEST}"), Code::InvalidYaml, "document"),
            (String::new(), Code::InvalidYaml, "no YAML document"),
            // Nesting, and the bracket guard, which counts brackets in quotes too.
            (
                format!("requester: {}{}\n", "[".repeat(200), "]".repeat(200)),
                Code::InvalidYaml,
                "nests deeper",
            ),
            (
                REQUEST.replace("Payments on-call", &"{".repeat(RUNAWAY_BRACKETS)),
                Code::InvalidYaml,
                "nests deeper",
            ),
            // Aliases: a bomb, an unknown anchor.
            (
                format!(
                    "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n\
                     d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n\
                     f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n{}",
                    REQUEST.replace("[alice]", "[*f]")
                ),
                Code::InvalidYaml,
                "alias",
            ),
            (REQUEST.replace("[alice]", "[*nobody]"), Code::InvalidYaml, "anchor"),
        ];
        for (text, code, phrase) in cases {
            assert!(read_request_at_once(&text).is_none(), "the single pass accepted:\n{text}");
            let error = parse_request(text.as_bytes()).expect_err(&text);
            assert_eq!(error.code, code, "{error}\n{text}");
            assert!(error.message.contains(phrase), "`{phrase}` not in: {error}");
            assert_same_verdict(text.as_bytes());
        }
        // An alias within the limits, and global tags, which the first pass lets through, are
        // left to the two passes, which accept them.
        let text = REQUEST.replace("requester: alice", "requester: &who alice").replace("[alice]", "[*who]");
        assert!(read_request_at_once(&text).is_none());
        assert_eq!(parse_request(text.as_bytes()).expect("a small alias").subjects, ["alice"]);
        assert_same_verdict(text.as_bytes());
        for tagged in ["requester: !!str alice", "requester: !<tag:x> alice"] {
            let text = REQUEST.replace("requester: alice", tagged);
            assert!(read_request_at_once(&text).is_none());
            assert_eq!(parse_request(text.as_bytes()).expect("a global tag").requester, "alice");
            assert_same_verdict(text.as_bytes());
        }
    }

    /// Counts the objects of a JSON Schema, and checks that each is a struct that refuses
    /// unknown fields, with field names that YAML reads as text.
    fn walk_objects(node: &serde_json::Value, objects: &mut usize) {
        fn walk(node: &serde_json::Value, objects: &mut usize) {
            match node {
                serde_json::Value::Object(map) => {
                    let is_object = map.get("type").is_some_and(|t| {
                        t == "object" || t.as_array().is_some_and(|types| types.iter().any(|t| t == "object"))
                    });
                    if is_object || map.contains_key("properties") || map.contains_key("additionalProperties")
                    {
                        *objects += 1;
                        assert_eq!(map.get("additionalProperties"), Some(&serde_json::Value::Bool(false)));
                        assert!(!map.contains_key("patternProperties") && !map.contains_key("propertyNames"));
                        let properties = map.get("properties").and_then(|p| p.as_object()).expect("fields");
                        for name in properties.keys() {
                            assert!(
                                !name.is_empty()
                                    && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                                    && !["null", "true", "false"].contains(&name.as_str()),
                                "field `{name}` is not plain text in YAML"
                            );
                        }
                    }
                    for (key, value) in map {
                        // Defaults and examples are values, not parts of the shape.
                        if !matches!(key.as_str(), "default" | "examples" | "description") {
                            walk(value, objects);
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, objects)),
                _ => {}
            }
        }
        walk(node, objects);
    }

    fn schema_of(file: &str) -> serde_json::Value {
        let schemas = crate::schema::schemas();
        let (_, schema) = schemas.iter().find(|(name, _)| *name == file).expect("a schema");
        schema.clone()
    }

    /// The single pass relies on every mapping of a request being a struct that refuses
    /// unknown fields, with field names that YAML reads as text (`read_request_at_once`). A
    /// map-typed field or a field named like `true` would need the first pass again.
    #[test]
    fn request_mappings_are_all_structs_with_plain_field_names() {
        let mut objects = 0;
        walk_objects(&schema_of("request.schema.json"), &mut objects);
        assert_eq!(objects, 2, "RequestFile and GrantEntry");
    }

    /// The same for catalogs (`read_catalog_at_once`), whose one map is `groups`: a map of
    /// lists of text, which the single pass reads refusing repeated or unusual names.
    #[test]
    fn catalog_mappings_are_structs_except_groups() {
        let mut schema = schema_of("catalog.schema.json");
        // The fields of `CatalogAtOnce` all have defaults there.
        assert!(schema.get("required").is_none_or(|r| r == &serde_json::json!([])), "{schema}");
        let properties = schema.get_mut("properties").and_then(|p| p.as_object_mut()).expect("fields");
        let mut names: Vec<&String> = properties.keys().collect();
        names.sort();
        // The fields of `CatalogAtOnce`.
        assert_eq!(names, ["groups", "identities", "resources"]);
        let groups = properties.remove("groups").expect("groups");
        assert_eq!(groups.get("type"), Some(&serde_json::json!("object")), "{groups}");
        assert_eq!(
            groups.get("additionalProperties"),
            Some(&serde_json::json!({"type": "array", "items": {"type": "string"}})),
            "{groups}"
        );
        assert!(!groups.as_object().expect("an object").contains_key("properties"));
        properties.insert("groups".to_owned(), serde_json::json!({"type": "null"}));
        let mut objects = 0;
        walk_objects(&schema, &mut objects);
        assert_eq!(objects, 4, "CatalogFile, ResourceEntry, BreakGlassEntry and IdentityEntry");
        // And the single pass refuses what the typed `groups` map would let through.
        for groups in [
            "  a: [x]\n  a: [y]",
            "  a: [x]\n  'a': [y]",
            "  <<: {a: [x]}",
            "  ~: [x]\n  null: [y]",
            "  1: [x]\n  1.0: [y]",
            "  \"1\": [x]",
            "  true: [x]",
            "  inf: [x]",
            "  \"\": [x]",
        ] {
            let text = format!("groups:\n{groups}\n");
            assert!(read_catalog_at_once(&text).is_none(), "{text}");
            assert_same_catalog_verdict(text.as_bytes());
        }
    }

    // ---- the single pass of catalogs against both passes ----------------------------------

    fn catalog_two_passes(bytes: &[u8]) -> Result<CatalogFile, LoadError> {
        parse(bytes, tracked_two_passes)
    }

    fn assert_same_catalog_verdict(bytes: &[u8]) {
        assert_eq!(
            format!("{:?}", parse_catalog(bytes)),
            format!("{:?}", catalog_two_passes(bytes)),
            "single and two passes disagree on:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }

    /// Groups written every way that the single pass reads.
    const GROUPS_CATALOG: &str = "groups:
  payments-leads: [bob, carol]
  oncall:
    - dave
    - 'erin'
  \"platform\": [frank]
  _ops: []
  Nulls: [x]
  yes: [y]
resources: []
";

    #[test]
    fn the_single_pass_reads_ordinary_catalogs() {
        for text in [CATALOG, GROUPS_CATALOG] {
            let once = read_catalog_at_once(text).expect("an ordinary catalog needs one pass");
            assert_eq!(
                format!("{:?}", Ok::<_, LoadError>(once)),
                format!("{:?}", catalog_two_passes(text.as_bytes()))
            );
            assert_same_catalog_verdict(text.as_bytes());
        }
        // Names that the two passes accept but the single pass leaves to them: the same text
        // quoted and plain, which the first pass tells apart and the typed pass does not.
        for groups in ["  \"~\": [x]\n  ~: [y]", "  '1.0': [x]\n  1.0: [y]", "  2fa: [x]", "  ~: [x]"] {
            let text = format!("groups:\n{groups}\n");
            assert!(read_catalog_at_once(&text).is_none(), "{text}");
            assert!(parse_catalog(text.as_bytes()).is_ok(), "{text}");
            assert_same_catalog_verdict(text.as_bytes());
        }
    }

    #[test]
    fn every_example_catalog_and_corpus_file_gets_the_same_catalog_verdict() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut examples = 0;
        for entry in std::fs::read_dir(root.join("examples/access-repo/catalog")).expect("the examples") {
            let bytes = std::fs::read(entry.expect("a directory entry").path()).expect("a readable file");
            let text = std::str::from_utf8(&bytes).expect("UTF-8");
            assert!(read_catalog_at_once(text).is_some(), "{text}");
            assert_same_catalog_verdict(&bytes);
            examples += 1;
        }
        assert!(examples >= 4, "the examples were found: {examples} files");
        // The corpus holds requests, but its hostile YAML is just as hostile to a catalog.
        let mut checked = 0;
        let mut pending = vec![root.join("tests/corpus/requests")];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("a readable directory") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let bytes = std::fs::read(&path).expect("a readable file");
                assert_same_catalog_verdict(&bytes);
                let as_catalog = String::from_utf8_lossy(&bytes)
                    .replace("requester:", "groups: {}\nrequester:")
                    .replace("grants:", "resources:");
                assert_same_catalog_verdict(as_catalog.as_bytes());
                checked += 1;
            }
        }
        assert!(checked >= 90, "the corpus was found: {checked} files");
    }

    #[test]
    fn every_catalog_shape_problem_still_gets_the_two_pass_error() {
        let cases: Vec<(String, Code, &str)> = vec![
            // Duplicate keys: a group name, plain, quoted and in flow; a key in a resource, in
            // block and flow mappings; a top-level key.
            (
                CATALOG.replace("  payments-leads: [bob, carol]", "  payments-leads: [bob]\n  payments-leads: [carol]"),
                Code::InvalidYaml,
                "duplicate key `payments-leads`",
            ),
            (
                CATALOG.replace("  payments-leads: [bob, carol]", "  payments-leads: [bob]\n  \"payments-leads\": [x]"),
                Code::InvalidYaml,
                "duplicate key",
            ),
            (
                CATALOG.replace("groups:                              # named sets of users, usable as owners: group:payments-leads\n  payments-leads: [bob, carol]", "groups: {a: [x], b: [y], a: [z]}"),
                Code::InvalidYaml,
                "duplicate key `a`",
            ),
            (
                CATALOG.replace("    roles: [member, maintainer]", "    roles: [member, maintainer]\n    roles: [member]"),
                Code::InvalidYaml,
                "duplicate key `roles`",
            ),
            (
                CATALOG.replace("{ who: [group:oncall], max_duration: 4h }", "{ who: [group:oncall], max_duration: 4h, who: [x] }"),
                Code::InvalidYaml,
                "duplicate key",
            ),
            (format!("{CATALOG}groups: {{}}\n"), Code::InvalidYaml, "duplicate key `groups`"),
            // Group names that differ as text but not as YAML values.
            (
                CATALOG.replace("  payments-leads: [bob, carol]", "  ~: [bob]\n  null: [carol]"),
                Code::InvalidYaml,
                "duplicate key",
            ),
            (
                CATALOG.replace("  payments-leads: [bob, carol]", "  1: [bob]\n  1.0: [carol]"),
                Code::InvalidYaml,
                "duplicate key",
            ),
            // Merge keys in groups, with and without an alias.
            (
                CATALOG.replace("  payments-leads: [bob, carol]", "  <<: {payments-leads: [bob, carol]}"),
                Code::InvalidField,
                "merge keys",
            ),
            (
                CATALOG.replace("  payments-leads: [bob, carol]", "  base: &b {x: [y]}\n  <<: *b"),
                Code::InvalidField,
                "merge keys",
            ),
            (
                CATALOG.replace("  payments-leads: [bob, carol]", "  <<: [bob, carol]"),
                Code::InvalidField,
                "merge keys",
            ),
            // Tags, on a scalar read as text, on an enum, on a collection.
            (CATALOG.replace("manage: additive", "manage: !exclusive x"), Code::InvalidField, "YAML tags"),
            (CATALOG.replace("[bob, carol]", "!list [bob, carol]"), Code::InvalidField, "YAML tags"),
            (CATALOG.replace("[bob, carol]", "[!x bob, carol]"), Code::InvalidField, "YAML tags"),
            // Structured keys in groups.
            (
                CATALOG.replace("  payments-leads: [bob, carol]", "  ? [payments-leads]\n  : [bob, carol]"),
                Code::InvalidField,
                "plain text",
            ),
            (
                CATALOG.replace("  payments-leads: [bob, carol]", "  {a: 1}: [bob, carol]"),
                Code::InvalidField,
                "plain text",
            ),
            // Documents.
            (format!("{CATALOG}---\n{CATALOG}"), Code::InvalidYaml, "more than one YAML document"),
            (format!("{CATALOG}---\n"), Code::InvalidYaml, "more than one YAML document"),
            (String::new(), Code::InvalidYaml, "no YAML document"),
            // Aliases.
            (CATALOG.replace("[bob, carol]", "[*nobody]"), Code::InvalidYaml, "anchor"),
        ];
        for (text, code, phrase) in cases {
            assert!(read_catalog_at_once(&text).is_none(), "the single pass accepted:\n{text}");
            let error = parse_catalog(text.as_bytes()).expect_err(&text);
            assert_eq!(error.code, code, "{error}\n{text}");
            assert!(error.message.contains(phrase), "`{phrase}` not in: {error}");
            assert_same_catalog_verdict(text.as_bytes());
        }
    }

    mod differential {
        use proptest::prelude::*;

        use super::super::{CatalogFile, ConfigFile, ConfigOutline, parse, parse_catalog, parse_config};
        use super::{
            BLOCK_REQUEST, CATALOG, CONFIG, GROUPS_CATALOG, NESTED_REQUEST, REQUEST,
            assert_same_catalog_verdict, assert_same_verdict, tracked_two_passes,
        };

        /// Pieces of YAML syntax, and of request fields, to splice into valid requests.
        const FRAGMENTS: &[&str] = &[
            "!",
            "!!str ",
            "!t ",
            " !x ",
            "x!",
            "*a",
            "a*b",
            " *a",
            "&a ",
            "<<: ",
            "<<: *a\n",
            "? ",
            "---\n",
            "...\n",
            "[",
            "]",
            "{",
            "}",
            ": ",
            ", ",
            "- ",
            "\n",
            "  ",
            "# c",
            "\"",
            "'",
            "\t",
            "\\",
            "|\n  ",
            ">",
            "1",
            "0x1",
            "true",
            "null",
            "~",
            "\u{feff}",
            "é",
            "%YAML 1.2\n",
            "requester: x\n",
            "role: y",
            "resource: z",
            "  role: dup\n",
            "expires: 2027-01-01\n",
            "break_glass: true\n",
            "subjects: [a]\n",
            "ticket: \n",
            "&a [1]",
            "{a: 1}",
            "\r\n",
            " # !x *y\n",
            "'!'",
            "\"*\"",
            "!<tag:x> ",
            "&b ",
        ];

        /// The same, with catalog fields and group names, some equal only as YAML values.
        const CATALOG_FRAGMENTS: &[&str] = &[
            "!",
            "!t ",
            "*a",
            "a*b",
            "&a ",
            "<<: ",
            "<<: *a\n",
            "  <<: {x: [y]}\n",
            "? ",
            "---\n",
            "[",
            "]",
            "{",
            "}",
            ": ",
            ", ",
            "- ",
            "\n",
            "  ",
            "# c",
            "\"",
            "'",
            "\t",
            "1",
            "0x1",
            "~",
            "null",
            "true",
            "groups:\n",
            "groups: {}\n",
            "  oncall: [a]\n",
            "  \"oncall\": [b]\n",
            "  'payments-leads': [c]\n",
            "  ~: [d]\n",
            "  null: [e]\n",
            "  \"~\": [f]\n",
            "  1: [g]\n",
            "  1.0: [h]\n",
            "  \"1\": [i]\n",
            "  2fa: [j]\n",
            "\n  2fa: [j]\n",
            "\n  ~: [d]\n",
            "\n  0: [k]\n",
            "\n  \"~\": [l]\n",
            "!!str ",
            "    roles: [x]\n",
            "    manage: exclusive\n",
            "    kind: service\n",
            "  - id: x\n    owners: [a]\n    roles: [r]\n",
            "&b [1]",
            "{a: 1}",
        ];

        #[derive(Debug, Clone)]
        enum Edit {
            Insert(usize, &'static str),
            Delete(usize, usize),
            DuplicateLine(usize),
            SwapLines(usize, usize),
        }

        fn edit() -> impl Strategy<Value = Edit> {
            edit_from(FRAGMENTS)
        }

        fn edit_from(fragments: &'static [&'static str]) -> impl Strategy<Value = Edit> {
            prop_oneof![
                (any::<usize>(), proptest::sample::select(fragments)).prop_map(|(at, f)| Edit::Insert(at, f)),
                (any::<usize>(), 1usize..12).prop_map(|(at, len)| Edit::Delete(at, len)),
                any::<usize>().prop_map(Edit::DuplicateLine),
                (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
            ]
        }

        fn char_boundary(text: &str, at: usize) -> usize {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            at
        }

        fn apply(text: &mut String, edit: &Edit) {
            match edit {
                Edit::Insert(at, fragment) => {
                    let at = char_boundary(text, *at);
                    text.insert_str(at, fragment);
                }
                Edit::Delete(at, len) => {
                    let start = char_boundary(text, *at);
                    let end = char_boundary(text, start + len).max(start);
                    text.replace_range(start..end, "");
                }
                Edit::DuplicateLine(line) | Edit::SwapLines(line, _) => {
                    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
                    if lines.is_empty() {
                        return;
                    }
                    let count = lines.len();
                    let a = line % count;
                    match edit {
                        Edit::SwapLines(_, other) => lines.swap(a, other % count),
                        _ => lines.insert(a, lines[a].clone()),
                    }
                    *text = lines.concat();
                }
            }
        }

        fn mutated_request() -> impl Strategy<Value = String> {
            mutated(vec![REQUEST, BLOCK_REQUEST, NESTED_REQUEST])
        }

        fn mutated(seeds: Vec<&'static str>) -> impl Strategy<Value = String> {
            (proptest::sample::select(seeds), proptest::collection::vec(edit(), 0..4)).prop_map(
                |(seed, edits)| {
                    let mut text = seed.to_owned();
                    for edit in &edits {
                        apply(&mut text, edit);
                    }
                    text
                },
            )
        }

        fn mutated_catalog() -> impl Strategy<Value = String> {
            (
                proptest::sample::select(vec![CATALOG, GROUPS_CATALOG, ODD_GROUPS_CATALOG]),
                proptest::collection::vec(edit_from(CATALOG_FRAGMENTS), 0..4),
            )
                .prop_map(|(seed, edits)| {
                    let mut text = seed.to_owned();
                    for edit in &edits {
                        apply(&mut text, edit);
                    }
                    text
                })
        }

        /// Group names that the single pass leaves to the two passes, which accept them.
        const ODD_GROUPS_CATALOG: &str =
            "groups:\n  2fa: [a]\n  ~: [b]\n  \"~\": [c]\n  1: [d]\nresources: []\n";

        /// As for requests: the mutated catalogs reach every path.
        #[test]
        fn mutated_catalogs_reach_every_path() {
            use proptest::strategy::ValueTree;
            use proptest::test_runner::TestRunner;
            let mut runner = TestRunner::deterministic();
            let strategy = mutated_catalog();
            let (mut once, mut twice, mut refused) = (0, 0, 0);
            for _ in 0..2000 {
                let text = strategy.new_tree(&mut runner).expect("a text").current();
                if super::super::read_catalog_at_once(&text).is_some() {
                    once += 1;
                } else if parse_catalog(text.as_bytes()).is_ok() {
                    twice += 1;
                } else {
                    refused += 1;
                }
            }
            assert!(
                once >= 400 && twice >= 10 && refused >= 400,
                "{once} once, {twice} twice, {refused} refused"
            );
        }

        /// The mutations keep the comparison meaningful: many texts are read by the single
        /// pass, many are left to the two passes and accepted there, and many are refused.
        #[test]
        fn mutated_requests_reach_every_path() {
            use proptest::strategy::ValueTree;
            use proptest::test_runner::TestRunner;
            let mut runner = TestRunner::deterministic();
            let strategy = mutated_request();
            let (mut once, mut twice, mut refused) = (0, 0, 0);
            for _ in 0..2000 {
                let text = strategy.new_tree(&mut runner).expect("a text").current();
                if super::super::read_request_at_once(&text).is_some() {
                    once += 1;
                } else if super::super::parse_request(text.as_bytes()).is_ok() {
                    twice += 1;
                } else {
                    refused += 1;
                }
            }
            assert!(
                once >= 400 && twice >= 10 && refused >= 400,
                "{once} once, {twice} twice, {refused} refused"
            );
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

            #[test]
            fn single_and_two_passes_agree_on_mutated_requests(text in mutated_request()) {
                assert_same_verdict(text.as_bytes());
            }

            #[test]
            fn single_and_two_passes_agree_on_mutated_catalogs(text in mutated_catalog()) {
                assert_same_catalog_verdict(text.as_bytes());
            }

            /// The first pass walks untracked, and catalogs may take the single pass.
            #[test]
            fn the_untracked_first_pass_agrees_on_mutated_policy_files(
                catalog in mutated(vec![CATALOG]),
                config in mutated(vec![CONFIG]),
            ) {
                let old_catalog = parse(catalog.as_bytes(), tracked_two_passes::<CatalogFile>);
                prop_assert_eq!(
                    format!("{:?}", parse_catalog(catalog.as_bytes())),
                    format!("{old_catalog:?}")
                );
                let old_config = parse(config.as_bytes(), |text| {
                    let config = tracked_two_passes::<ConfigFile>(text)?;
                    tracked_two_passes::<ConfigOutline>(text)?;
                    Ok(config)
                });
                prop_assert_eq!(format!("{:?}", parse_config(config.as_bytes())), format!("{old_config:?}"));
            }
        }
    }
}
