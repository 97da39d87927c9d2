//! PatchOp, as Okta and Entra send it.

use serde_json::{Map, Value, json};
use tally_types::ErrorKind;

use super::{PATCH_SCHEMA, ScimError, USER_SCHEMA};

/// A PatchOp's operations (Entra also spells the key in lower case).
pub(super) fn operations(body: &Value) -> Result<&Vec<Value>, ScimError> {
    body.get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid(format!("a PatchOp ({PATCH_SCHEMA}) with Operations is required")))
}

/// Applies one PATCH operation to a resource (its published attributes and externalId),
/// accepting what Okta and Entra send: PascalCase ops, path-less replace with an object,
/// `emails[type eq "work"].value` paths, string booleans.
pub(super) fn apply_operation(resource: &mut Map<String, Value>, operation: &Value) -> Result<(), ScimError> {
    let op = operation.get("op").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    if !["add", "replace", "remove"].contains(&op.as_str()) {
        return Err(ScimError::new(
            ErrorKind::InvalidInput,
            Some("invalidSyntax"),
            format!("op {op:?} must be add, replace or remove"),
        ));
    }
    let value = operation.get("value").cloned().unwrap_or(Value::Null);
    let path = operation.get("path").and_then(Value::as_str).map(|path| {
        // Paths may carry the schema URN (`urn:...:User:userName`).
        path.strip_prefix(USER_SCHEMA).map(|rest| rest.trim_start_matches(':')).unwrap_or(path).to_string()
    });
    let Some(path) = path.filter(|path| !path.is_empty()) else {
        if op == "remove" {
            return Err(ScimError::new(ErrorKind::InvalidInput, Some("noTarget"), "remove needs a path"));
        }
        let Value::Object(values) = value else {
            return Err(ScimError::new(
                ErrorKind::InvalidInput,
                Some("invalidValue"),
                "an operation without a path needs an object value",
            ));
        };
        for (key, value) in values {
            set_attribute(resource, &op, &key, value);
        }
        return Ok(());
    };
    if let Some((attribute, rest)) = path.split_once('[') {
        return apply_filtered(resource, &op, attribute, rest, value);
    }
    if op == "remove" {
        match path.split_once('.') {
            Some((attribute, sub)) => {
                if let Some(Value::Object(parts)) = resource.get_mut(attribute) {
                    parts.remove(sub);
                }
            }
            None => {
                let key = resource.keys().find(|key| key.eq_ignore_ascii_case(&path)).cloned();
                if let Some(key) = key {
                    resource.remove(&key);
                }
            }
        }
        return Ok(());
    }
    match path.split_once('.') {
        Some((attribute, sub)) => {
            let entry = resource.entry(attribute.to_string()).or_insert_with(|| json!({}));
            if let Value::Object(parts) = entry {
                parts.insert(sub.to_string(), value);
            }
        }
        None => set_attribute(resource, &op, &path, value),
    }
    Ok(())
}

pub(super) fn set_attribute(resource: &mut Map<String, Value>, op: &str, key: &str, value: Value) {
    let key = resource.keys().find(|have| have.eq_ignore_ascii_case(key)).cloned().unwrap_or_else(|| key.to_string());
    match (op, resource.get_mut(&key), value) {
        // `add` to a list appends.
        ("add", Some(Value::Array(list)), Value::Array(items)) => list.extend(items),
        (_, _, value) => {
            resource.insert(key, value);
        }
    }
}

/// `emails[type eq "work"].value` and `emails[type eq "work"]`.
pub(super) fn apply_filtered(
    resource: &mut Map<String, Value>,
    op: &str,
    attribute: &str,
    rest: &str,
    value: Value,
) -> Result<(), ScimError> {
    let bad = || {
        ScimError::new(
            ErrorKind::InvalidInput,
            Some("invalidPath"),
            format!("the path {attribute}[{rest} is not supported"),
        )
    };
    let (condition, sub) = rest.split_once(']').ok_or_else(bad)?;
    let sub = sub.strip_prefix('.').filter(|sub| !sub.is_empty());
    let clauses = parse_filter_on(condition).ok_or_else(bad)?;
    let list = resource.entry(attribute.to_string()).or_insert_with(|| json!([]));
    let Value::Array(items) = list else { return Err(bad()) };
    let found = |item: &Value| clauses.iter().all(|(field, wanted)| item.get(field) == Some(wanted));
    if op == "remove" {
        match sub {
            Some(sub) => items.iter_mut().filter(|item| found(item)).for_each(|item| {
                if let Value::Object(fields) = item {
                    fields.remove(sub);
                }
            }),
            None => items.retain(|item| !found(item)),
        }
        return Ok(());
    }
    if !items.iter().any(found) {
        items.push(Value::Object(clauses.iter().cloned().collect()));
    }
    for item in items.iter_mut().filter(|item| found(item)) {
        match (sub, &value, &mut *item) {
            (Some(sub), _, Value::Object(fields)) => {
                fields.insert(sub.to_string(), value.clone());
            }
            (None, Value::Object(update), Value::Object(fields)) => {
                fields.extend(update.clone());
            }
            _ => return Err(bad()),
        }
    }
    Ok(())
}

/// `type eq "work"` (and `and`-joined) inside a path's brackets.
pub(super) fn parse_filter_on(condition: &str) -> Option<Vec<(String, Value)>> {
    let mut clauses = Vec::new();
    for clause in condition.split(" and ") {
        let mut words = clause.trim().splitn(3, ' ');
        let (field, operator, value) = (words.next()?, words.next()?, words.next()?);
        if !operator.eq_ignore_ascii_case("eq") {
            return None;
        }
        let value = serde_json::from_str::<Value>(value.trim()).ok()?;
        clauses.push((field.to_string(), value));
    }
    Some(clauses)
}
