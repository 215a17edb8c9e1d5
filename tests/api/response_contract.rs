//! Every response the suite receives is checked against what `openapi.yaml` says of that
//! operation and status: its media type and, for JSON, its schema. A renamed, missing or extra
//! field fails the test that received it, whichever test that is.
//!
//! The validator covers the part of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that the
//! document uses: `$ref`, `type`, `enum`, `const`, `properties`, `required`,
//! `additionalProperties`, `unevaluatedProperties`, `items`, `allOf`, `oneOf`, `anyOf`, `not`,
//! `pattern`, lengths and bounds. A keyword it does not know fails loudly, so the document
//! cannot drift into schemas that are checked by nobody.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::OnceLock;

fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| portage_ledger::openapi_document().unwrap())
}

/// Keywords that only describe, and are not checked.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "example",
    "examples",
    "format",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
    "contentMediaType",
];

/// Checks one answer against the document; `Err` says what differs and where.
pub fn check(
    method: &str,
    path: &str,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<(), String> {
    check_against(document(), method, path, status, content_type, body)
}

/// Checks one answer against a given document (a test changes one to see the check fail).
pub fn check_against(
    doc: &Value,
    method: &str,
    path: &str,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<(), String> {
    let path = path.split('?').next().unwrap_or(path);
    let Some(operation) = operation(doc, method, path) else {
        // A path or method the service does not serve: its 404 or 405 is the router's own.
        return Ok(());
    };
    let responses = &operation["responses"];
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get(format!("{}XX", status / 100)))
        .or_else(|| responses.get("default"))
        .ok_or_else(|| format!("status {status} is not documented"))?;
    let response = resolve(doc, response);
    let media = content_type.split(';').next().unwrap_or("").trim();
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "status {status} is documented without a body, but one came ({media})"
            ))
        };
    };
    let Some(described) = content.get(media) else {
        let documented: Vec<&String> = content.keys().collect();
        return Err(format!(
            "status {status} came as {media:?}, documented as {documented:?}"
        ));
    };
    if !(media == "application/json" || media.ends_with("+json")) {
        return Ok(());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Some(schema) = described.get("schema") else {
        return Ok(());
    };
    let mut errors = Vec::new();
    validate(doc, schema, &value, "$", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        // The first few say enough; a long list repeats one difference item by item.
        let shown = errors.len().min(12);
        Err(format!(
            "status {status}: {} ({} in all)",
            errors[..shown].join("; "),
            errors.len()
        ))
    }
}

/// Checks a value against one of the document's component schemas: a webhook's message is
/// no response, but the document promises its shape all the same.
pub fn check_component(name: &str, value: &Value) -> Result<(), String> {
    let mut errors = Vec::new();
    let doc = document();
    validate(
        doc,
        pointer(doc, &format!("#/components/schemas/{name}")),
        value,
        "$",
        &mut errors,
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The operation serving a concrete path: the template with the most literal segments wins, as
/// the router prefers `/v1/posts/at-risk` to `/v1/posts/{id}`.
fn operation<'d>(doc: &'d Value, method: &str, path: &str) -> Option<&'d Value> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let paths = doc["paths"].as_object()?;
    paths
        .iter()
        .filter_map(|(template, item)| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') {
                    if segment.is_empty() {
                        return None;
                    }
                } else if part == segment {
                    literal += 1;
                } else {
                    return None;
                }
            }
            item.get(method.to_lowercase()).map(|op| (literal, op))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, op)| op)
}

/// Follows `$ref`s to components until a value that is not one.
fn resolve<'d>(doc: &'d Value, mut value: &'d Value) -> &'d Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        value = pointer(doc, reference);
    }
    value
}

fn pointer<'d>(doc: &'d Value, reference: &str) -> &'d Value {
    let target = reference
        .strip_prefix('#')
        .and_then(|p| doc.pointer(p))
        .unwrap_or_else(|| panic!("openapi.yaml: unresolved $ref {reference}"));
    target
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        other => panic!("openapi.yaml: unknown type {other}"),
    }
}

/// Validates and returns the object properties this schema evaluated, as the
/// `unevaluatedProperties` keyword needs them.
fn validate(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) -> BTreeSet<String> {
    let mut evaluated = BTreeSet::new();
    let Some(keywords) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{at}: nothing is allowed here"));
        }
        return evaluated;
    };
    for (keyword, argument) in keywords {
        match keyword.as_str() {
            "$ref" => {
                let target = pointer(doc, argument.as_str().unwrap());
                evaluated.extend(validate(doc, target, value, at, errors));
            }
            "type" => {
                let names: Vec<&str> = match argument {
                    Value::String(name) => vec![name.as_str()],
                    Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                    other => panic!("openapi.yaml: type {other}"),
                };
                if !names.iter().any(|n| type_matches(n, value)) {
                    errors.push(format!("{at}: {value} is not of type {names:?}"));
                }
            }
            "enum" => {
                if !argument.as_array().unwrap().contains(value) {
                    errors.push(format!("{at}: {value} is not one of {argument}"));
                }
            }
            "const" => {
                if argument != value {
                    errors.push(format!("{at}: {value} is not {argument}"));
                }
            }
            "properties" => {
                if let Some(object) = value.as_object() {
                    for (name, property) in argument.as_object().unwrap() {
                        if let Some(v) = object.get(name) {
                            validate(doc, property, v, &format!("{at}.{name}"), errors);
                        }
                        if object.contains_key(name) {
                            evaluated.insert(name.clone());
                        }
                    }
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for name in argument
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Value::as_str)
                    {
                        if !object.contains_key(name) {
                            errors.push(format!("{at}: required property {name:?} is missing"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = value.as_object() {
                    let declared = declared(keywords);
                    for (name, v) in object.iter().filter(|(n, _)| !declared.contains(*n)) {
                        if argument == &Value::Bool(false) {
                            errors.push(format!("{at}: property {name:?} is not in the schema"));
                        } else {
                            validate(doc, argument, v, &format!("{at}.{name}"), errors);
                        }
                        evaluated.insert(name.clone());
                    }
                }
            }
            "unevaluatedProperties" => {} // after the others, below
            "items" => {
                if let Some(items) = value.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        validate(doc, argument, item, &format!("{at}[{i}]"), errors);
                    }
                }
            }
            "allOf" => {
                for branch in argument.as_array().unwrap() {
                    evaluated.extend(validate(doc, branch, value, at, errors));
                }
            }
            "oneOf" | "anyOf" => {
                let mut passing = 0;
                let mut reasons = Vec::new();
                for branch in argument.as_array().unwrap() {
                    let mut branch_errors = Vec::new();
                    let seen = validate(doc, branch, value, at, &mut branch_errors);
                    if branch_errors.is_empty() {
                        passing += 1;
                        evaluated.extend(seen);
                    } else {
                        reasons.push(branch_errors.join(", "));
                    }
                }
                if passing == 0 {
                    errors.push(format!(
                        "{at}: matches no branch of {keyword} ({})",
                        reasons.join(" | ")
                    ));
                } else if keyword == "oneOf" && passing > 1 {
                    errors.push(format!("{at}: matches {passing} branches of oneOf"));
                }
            }
            "not" => {
                let mut branch_errors = Vec::new();
                validate(doc, argument, value, at, &mut branch_errors);
                if branch_errors.is_empty() {
                    errors.push(format!("{at}: {value} matches a schema it must not"));
                }
            }
            "pattern" => {
                if let Some(text) = value.as_str() {
                    let pattern = argument.as_str().unwrap();
                    let regex = regex_lite::Regex::new(pattern).unwrap();
                    if !regex.is_match(text) {
                        errors.push(format!("{at}: {text:?} does not match {pattern}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Some(text) = value.as_str() {
                    bound(keyword, argument, text.chars().count(), at, errors);
                }
            }
            "minProperties" | "maxProperties" => {
                if let Some(object) = value.as_object() {
                    bound(keyword, argument, object.len(), at, errors);
                }
            }
            "minItems" | "maxItems" => {
                if let Some(items) = value.as_array() {
                    bound(keyword, argument, items.len(), at, errors);
                }
            }
            "minimum" | "maximum" => {
                if let (Some(n), Some(limit)) = (value.as_f64(), argument.as_f64()) {
                    if (keyword == "minimum" && n < limit) || (keyword == "maximum" && n > limit) {
                        errors.push(format!("{at}: {n} is beyond {keyword} {limit}"));
                    }
                }
            }
            other if ANNOTATIONS.contains(&other) => {}
            other => panic!("openapi.yaml: schema keyword {other} is not checked by the suite"),
        }
    }
    if let Some(unevaluated) = keywords.get("unevaluatedProperties") {
        if let Some(object) = value.as_object() {
            let rest: Vec<(&String, &Value)> = object
                .iter()
                .filter(|(n, _)| !evaluated.contains(*n))
                .collect();
            for (name, v) in rest {
                if unevaluated == &Value::Bool(false) {
                    errors.push(format!("{at}: property {name:?} is not in the schema"));
                } else {
                    validate(doc, unevaluated, v, &format!("{at}.{name}"), errors);
                }
                evaluated.insert(name.clone());
            }
        }
    }
    evaluated
}

fn declared(keywords: &Map<String, Value>) -> BTreeSet<String> {
    keywords
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn bound(keyword: &str, argument: &Value, actual: usize, at: &str, errors: &mut Vec<String>) {
    let limit = argument.as_u64().unwrap() as usize;
    let fails = if keyword.starts_with("min") {
        actual < limit
    } else {
        actual > limit
    };
    if fails {
        errors.push(format!("{at}: length {actual} is beyond {keyword} {limit}"));
    }
}

/// Every object a response can hold says which properties it must have and that it has no
/// others, so that the check above catches a missing or an extra field and not only a
/// mistyped one.
#[test]
fn every_response_object_is_closed_and_names_its_required_fields() {
    let mut open = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, item) in document()["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(responses) = operation.get("responses").and_then(Value::as_object) else {
                continue;
            };
            for (status, response) in responses {
                let response = resolve(document(), response);
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    if let Some(schema) = content.get("schema") {
                        let at = format!("{method} {path} {status} {media}");
                        closed(schema, &at, false, &mut seen, &mut open);
                    }
                }
            }
        }
    }
    assert!(
        open.is_empty(),
        "open response objects:\n{}",
        open.join("\n")
    );
}

/// Walks a schema; `sealed` is true inside an `allOf` whose holder states
/// `unevaluatedProperties: false`, where the branches need not close themselves.
fn closed(
    schema: &Value,
    at: &str,
    sealed: bool,
    seen: &mut BTreeSet<String>,
    open: &mut Vec<String>,
) {
    let Some(keywords) = schema.as_object() else {
        return;
    };
    if let Some(reference) = keywords.get("$ref").and_then(Value::as_str) {
        if seen.insert(format!("{reference}{sealed}")) {
            closed(
                pointer(document(), reference),
                reference,
                sealed,
                seen,
                open,
            );
        }
        return;
    }
    let seals = keywords.get("unevaluatedProperties") == Some(&Value::Bool(false));
    let is_object = keywords.contains_key("properties")
        || keywords.get("type").is_some_and(|t| {
            t == "object"
                || t.as_array()
                    .is_some_and(|a| a.contains(&Value::from("object")))
        });
    if is_object && !sealed && !seals {
        let shut = keywords.get("additionalProperties") == Some(&Value::Bool(false));
        let free_map = keywords
            .get("additionalProperties")
            .is_some_and(Value::is_object);
        if !shut && !free_map {
            open.push(format!("{at}: not closed by additionalProperties: false"));
        }
    }
    if is_object
        && !keywords.contains_key("required")
        && keywords
            .get("properties")
            .is_some_and(|p| p.as_object().is_some_and(|p| !p.is_empty()))
        && !sealed
    {
        open.push(format!("{at}: states no required properties"));
    }
    for (name, sub) in keywords {
        match name.as_str() {
            "properties" => {
                for (property, s) in sub.as_object().unwrap() {
                    closed(s, &format!("{at}.{property}"), false, seen, open);
                }
            }
            "items" | "additionalProperties" | "unevaluatedProperties" | "not" => {
                closed(sub, &format!("{at}/{name}"), false, seen, open)
            }
            "allOf" => {
                for (i, s) in sub.as_array().unwrap().iter().enumerate() {
                    closed(s, &format!("{at}/allOf/{i}"), sealed || seals, seen, open);
                }
            }
            "oneOf" | "anyOf" => {
                for (i, s) in sub.as_array().unwrap().iter().enumerate() {
                    closed(s, &format!("{at}/{name}/{i}"), sealed || seals, seen, open);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod validator {
    use super::*;
    use serde_json::json;

    fn errors(schema: Value, value: Value) -> Vec<String> {
        let mut errors = Vec::new();
        validate(&Value::Null, &schema, &value, "$", &mut errors);
        errors
    }

    #[test]
    fn a_missing_an_extra_and_a_mistyped_field_are_each_caught() {
        let schema = json!({"type": "object", "required": ["a"], "additionalProperties": false,
            "properties": {"a": {"type": "string"}}});
        assert!(errors(schema.clone(), json!({"a": "x"})).is_empty());
        assert_eq!(errors(schema.clone(), json!({})).len(), 1);
        assert_eq!(errors(schema.clone(), json!({"a": "x", "b": 1})).len(), 1);
        assert_eq!(errors(schema, json!({"a": 1})).len(), 1);
    }

    #[test]
    fn unevaluated_properties_see_through_all_of() {
        let schema = json!({"unevaluatedProperties": false, "allOf": [
            {"type": "object", "properties": {"a": {}}},
            {"properties": {"b": {}}}]});
        assert!(errors(schema.clone(), json!({"a": 1, "b": 2})).is_empty());
        assert_eq!(errors(schema, json!({"a": 1, "c": 2})).len(), 1);
    }

    #[test]
    fn one_of_wants_exactly_one_branch() {
        let schema = json!({"oneOf": [{"type": "string"}, {"type": "string", "pattern": "^a"}]});
        assert!(errors(schema.clone(), json!("b")).is_empty());
        assert_eq!(errors(schema.clone(), json!("a")).len(), 1);
        assert_eq!(errors(schema, json!(1)).len(), 1);
    }
}

/// The check fails on a real answer when the document renames one of its required properties,
/// and when the answer lacks a field (as it would if a view struct lost one).
#[actix_rt::test]
async fn a_renamed_or_missing_field_fails_the_check() {
    let app = crate::support::spawn(crate::support::Backend::Sqlite)
        .await
        .unwrap();
    let employer = app.employer("Régie de quartier").await;
    let post = app.post_of(&employer, "2026-01", "3000.00").await;
    let token = app.token("employer", Some(&employer));
    app.post(
        &format!("/v1/posts/{post}/costs"),
        &token,
        &serde_json::json!({"month": "2026-01", "category": "salary", "amount": "2500.00"}),
    )
    .await
    .expect(201);
    let run = app
        .post(
            "/v1/allocations/run",
            &token,
            &serde_json::json!({"post_id": post, "month": "2026-01"}),
        )
        .await
        .expect(200);
    let (kind, path) = ("application/json", "/v1/allocations/run");
    check_against(document(), "POST", path, 200, kind, &run.bytes).unwrap();

    let renamed: Value = serde_yaml_ng::from_str(
        &portage_ledger::OPENAPI_YAML.replace("entries_posted", "entries_written"),
    )
    .unwrap();
    let refused = check_against(&renamed, "POST", path, 200, kind, &run.bytes).unwrap_err();
    assert!(refused.contains("entries_written"), "{refused}");

    let mut body: Value = serde_json::from_slice(&run.bytes).unwrap();
    body["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("uncovered");
    let lacking = serde_json::to_vec(&body).unwrap();
    let refused = check_against(document(), "POST", path, 200, kind, &lacking).unwrap_err();
    assert!(refused.contains("\"uncovered\" is missing"), "{refused}");
}
