//! The JSON Schemas of the three file types, generated from the serde types in `wire` so that
//! editors and `tenure schema` describe exactly what `load` accepts.
//!
//! The doc comments of `wire` become the descriptions. The generated schemas are committed under
//! `schemas/`, for a `# yaml-language-server: $schema=` line to point at; a test fails when they
//! are stale, and rewrites them when `TENURE_BLESS=1` is set.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::wire::{CatalogFile, ConfigFile, RequestFile};

/// (file name, schema) for every file type: ("tenure.schema.json", config), ("catalog.schema.json", catalog), ("request.schema.json", request).
pub fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        ("tenure.schema.json", generate::<ConfigFile>("tenure.schema.json", "tenure.yaml")),
        (
            "catalog.schema.json",
            generate::<CatalogFile>("catalog.schema.json", "tenure catalog file (catalog/*.yaml)"),
        ),
        (
            "request.schema.json",
            generate::<RequestFile>("request.schema.json", "tenure access request (requests/**/*.yaml)"),
        ),
    ]
}

/// Pretty JSON text of one schema, with a trailing newline, exactly as committed under schemas/.
pub fn render(schema: &Value) -> String {
    // Keys are sorted here rather than by serde_json, whose map keeps insertion order when any
    // crate in the build turns on its `preserve_order` feature; the committed text must not
    // depend on that.
    let mut text = serde_json::to_string_pretty(&sorted(schema)).unwrap_or_default();
    text.push('\n');
    text
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), sorted(&map[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn generate<T: JsonSchema>(file: &str, title: &str) -> Value {
    let generator = SchemaSettings::draft2020_12().for_deserialize().into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Value::Object(root) = &mut schema {
        root.insert(
            "$id".to_owned(),
            Value::String(format!("{}/raw/main/schemas/{file}", env!("CARGO_PKG_REPOSITORY"))),
        );
        root.insert("title".to_owned(), Value::String(title.to_owned()));
    }
    polish(&mut schema);
    schema
}

/// Makes the generated text read well in an editor's hover: doc comments are hard-wrapped at
/// 100 columns, and the `kind` tag of an internally tagged enum has no doc comment of its own.
fn polish(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(description)) = map.get_mut("description") {
                *description = unwrap_lines(description);
            }
            describe_tags(map);
            for child in map.values_mut() {
                polish(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(polish),
        _ => {}
    }
}

/// Joins the lines of each paragraph, keeping blank lines between paragraphs.
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| paragraph.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Gives each `const` property without a description (the `kind` of a provider or forge) the
/// description of the variant that it selects.
fn describe_tags(variant: &mut Map<String, Value>) {
    let variant_description = match variant.get("description") {
        Some(Value::String(text)) => unwrap_lines(text),
        _ => return,
    };
    let Some(Value::Object(properties)) = variant.get_mut("properties") else {
        return;
    };
    for property in properties.values_mut() {
        let Value::Object(property) = property else { continue };
        if property.contains_key("description") {
            continue;
        }
        if let Some(Value::String(selected)) = property.get("const") {
            let description = format!("`{selected}`: {variant_description}");
            property.insert("description".to_owned(), Value::String(description));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::PathBuf;

    fn committed_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
    }

    #[test]
    fn committed_schemas_are_fresh() {
        let bless = std::env::var("TENURE_BLESS").is_ok_and(|v| v == "1");
        let dir = committed_dir();
        let mut stale = Vec::new();
        for (file, schema) in schemas() {
            let path = dir.join(file);
            let want = render(&schema);
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            if have == want {
                continue;
            }
            if bless {
                std::fs::create_dir_all(&dir).expect("create schemas/");
                std::fs::write(&path, want).expect("write a schema");
            } else {
                stale.push(file);
            }
        }
        assert!(
            stale.is_empty(),
            "schemas/{{{}}} differ from the types in src/wire.rs; refresh them with\n\n    \
             TENURE_BLESS=1 cargo test --lib schema::\n\nand commit the result",
            stale.join(",")
        );
    }

    #[test]
    fn every_file_type_has_a_schema_named_for_it() {
        let names: Vec<&str> = schemas().iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["tenure.schema.json", "catalog.schema.json", "request.schema.json"]);
        for (name, schema) in schemas() {
            let id = schema["$id"].as_str().expect("a $id");
            assert!(id.starts_with("https://") && id.ends_with(&format!("/schemas/{name}")), "{id}");
            let title = schema["title"].as_str().expect("a title");
            assert!(title.contains(".yaml"), "{title}");
            assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
            assert!(schema["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}");
        }
    }

    /// Collects, for every `properties` object in the schema, the properties that have no
    /// description.
    fn undescribed(value: &Value, at: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    for (name, property) in properties {
                        let described = property
                            .get("description")
                            .and_then(Value::as_str)
                            .is_some_and(|text| !text.trim().is_empty());
                        if !described {
                            out.push(format!("{at}/properties/{name}"));
                        }
                    }
                }
                for (key, child) in map {
                    undescribed(child, &format!("{at}/{key}"), out);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    undescribed(item, &format!("{at}/{index}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_property_has_a_description() {
        for (name, schema) in schemas() {
            let mut missing = Vec::new();
            undescribed(&schema, "#", &mut missing);
            assert!(
                missing.is_empty(),
                "{name}: no description for {missing:?}; add a doc comment in src/wire.rs"
            );
        }
        // The walk itself finds a missing description.
        let mut missing = Vec::new();
        undescribed(&serde_json::json!({"properties": {"a": {"type": "string"}}}), "#", &mut missing);
        assert_eq!(missing, ["#/properties/a"]);
    }

    #[test]
    fn schemas_say_what_the_parser_enforces() {
        let all = schemas();
        let request = &all[2].1;
        assert_eq!(request["additionalProperties"], false);
        let required: Vec<&str> =
            request["required"].as_array().expect("required").iter().filter_map(Value::as_str).collect();
        assert_eq!(required, ["requester", "subjects", "justification", "grants"]);
        assert_eq!(request["properties"]["expires"]["type"], serde_json::json!(["string", "null"]));
        assert_eq!(request["$defs"]["GrantEntry"]["additionalProperties"], false);

        // A `kind`-tagged provider still refuses unknown fields, and its tag is described.
        let config = &all[0].1;
        let variants = config["$defs"]["ProviderConfig"]["oneOf"].as_array().expect("variants");
        assert_eq!(variants.len(), 4);
        for variant in variants {
            assert_eq!(variant["additionalProperties"], false, "{variant}");
            let kind = &variant["properties"]["kind"];
            let selected = kind["const"].as_str().expect("a const kind");
            assert!(kind["description"].as_str().is_some_and(|d| d.starts_with(&format!("`{selected}`: "))));
        }
    }

    #[test]
    fn descriptions_are_unwrapped_and_rendering_is_stable() {
        assert_eq!(unwrap_lines("one\ntwo\n\nthree\n four"), "one two\n\nthree four");
        fn wrapped(value: &Value) -> bool {
            match value {
                Value::Object(map) => map.iter().any(|(key, child)| {
                    (key == "description"
                        && child.as_str().is_some_and(|d| d.replace("\n\n", "").contains('\n')))
                        || wrapped(child)
                }),
                Value::Array(items) => items.iter().any(wrapped),
                _ => false,
            }
        }
        for (_, schema) in schemas() {
            let text = render(&schema);
            assert!(text.ends_with("}\n"));
            assert!(!wrapped(&schema), "a hard-wrapped description remains");
            let reparsed: Value = serde_json::from_str(&text).expect("valid JSON");
            assert_eq!(reparsed, schema);
            assert_eq!(render(&reparsed), text);
        }
        // Keys come out sorted whatever order they went in.
        let value = serde_json::json!({"b": 1, "a": {"d": 2, "c": 3}});
        assert_eq!(render(&value), "{\n  \"a\": {\n    \"c\": 3,\n    \"d\": 2\n  },\n  \"b\": 1\n}\n");
    }
}
