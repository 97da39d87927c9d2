//! `/engage` and `/groups` updates (§6.8, §6.9): one operation per update, applied to a
//! profile in order.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::RecordError;

/// Whose profile: a user's (by distinct_id) or a group's (by key and id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProfileKey {
    User(String),
    Group { key: String, id: String },
}

/// One operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Set(Map<String, Value>),
    SetOnce(Map<String, Value>),
    Add(Map<String, Value>),
    Union(Map<String, Value>),
    Append(Map<String, Value>),
    Remove(Map<String, Value>),
    Unset(Vec<String>),
    Delete,
}

/// A validated update, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileUpdate {
    pub project_id: i64,
    pub key: ProfileKey,
    pub operation: Operation,
    /// Milliseconds: `$time` when given, else arrival.
    pub time_ms: i64,
    /// `$ignore_time`: leave `$last_seen` alone.
    pub ignore_time: bool,
}

/// A profile's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub properties: Map<String, Value>,
    pub last_seen_ms: Option<i64>,
}

/// At most this many properties on a profile; writes beyond fail (Mixpanel: 2000).
pub const MAX_PROFILE_PROPERTIES: usize = 2000;
/// A list property holds fewer than this many items (§6.5); `$union` and `$append` past
/// it fail.
pub const MAX_LIST_ITEMS: usize = 255;

fn check_list(key: &str, list: &[Value]) -> Result<(), String> {
    if list.len() >= MAX_LIST_ITEMS {
        return Err(format!(
            "the list {key:?} would hold {} items; lists hold fewer than {MAX_LIST_ITEMS}, so $remove some first",
            list.len()
        ));
    }
    Ok(())
}

const OPERATIONS: [&str; 8] = ["$set", "$set_once", "$add", "$union", "$append", "$remove", "$unset", "$delete"];

fn refuse(index: usize, field: &str, message: impl Into<String>) -> RecordError {
    RecordError { index, insert_id: None, field: field.into(), message: message.into() }
}

fn object_of(index: usize, name: &str, value: Value) -> Result<Map<String, Value>, RecordError> {
    use crate::validate::{MAX_NESTING, clamp_strings, nesting};
    match value {
        Value::Object(map) if map.values().any(|value| nesting(value) > MAX_NESTING) => {
            Err(refuse(index, name, format!("'{name}' values may nest lists and objects at most {MAX_NESTING} deep")))
        }
        Value::Object(mut map) => {
            // Profile values are cut to 255 bytes like event properties, so one update
            // cannot make a profile arbitrarily large.
            map.values_mut().for_each(clamp_strings);
            Ok(map)
        }
        _ => Err(refuse(index, name, format!("'{name}' must be an object"))),
    }
}

/// A validated update, the project token it named, and its `$ip` (§6.7: outside the
/// operation; an address to locate the profile by, or `"0"` to skip), never stored.
pub type Validated = (ProfileUpdate, String, Option<Value>);

/// Validates one update.
pub fn validate_update(index: usize, item: Value, group: bool, now_ms: i64) -> Result<Validated, RecordError> {
    let Value::Object(mut object) = item else {
        return Err(refuse(index, "update", "each update must be a JSON object"));
    };
    let token = match object.remove("$token") {
        Some(Value::String(token)) if !token.is_empty() => token,
        _ => return Err(refuse(index, "$token", "'$token' is required")),
    };
    let text = |value: Option<Value>| match value {
        Some(Value::String(text)) if !text.is_empty() => Some(text),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    let key = if group {
        let group_key =
            text(object.remove("$group_key")).ok_or_else(|| refuse(index, "$group_key", "'$group_key' is required"))?;
        let group_id =
            text(object.remove("$group_id")).ok_or_else(|| refuse(index, "$group_id", "'$group_id' is required"))?;
        ProfileKey::Group { key: group_key, id: group_id }
    } else {
        ProfileKey::User(
            text(object.remove("$distinct_id"))
                .ok_or_else(|| refuse(index, "$distinct_id", "'$distinct_id' is required"))?,
        )
    };
    let present: Vec<&str> = OPERATIONS.iter().copied().filter(|name| object.contains_key(*name)).collect();
    let [name] = present.as_slice() else {
        return Err(refuse(index, "operation", format!("exactly one of {} is required", OPERATIONS.join(", "))));
    };
    let value = object.remove(*name).unwrap_or(Value::Null);
    let operation = match *name {
        "$set" => Operation::Set(object_of(index, name, value)?),
        "$set_once" => Operation::SetOnce(object_of(index, name, value)?),
        "$add" => {
            let map = object_of(index, name, value)?;
            if map.values().any(|value| !value.is_number()) {
                return Err(refuse(index, "$add", "'$add' values must be numbers"));
            }
            Operation::Add(map)
        }
        "$union" => Operation::Union(object_of(index, name, value)?),
        "$append" => Operation::Append(object_of(index, name, value)?),
        "$remove" => Operation::Remove(object_of(index, name, value)?),
        "$unset" => match value {
            Value::Array(names) => {
                Operation::Unset(names.into_iter().filter_map(|name| name.as_str().map(str::to_string)).collect())
            }
            _ => return Err(refuse(index, "$unset", "'$unset' must be a list of property names")),
        },
        _ => Operation::Delete,
    };
    let time_ms = match object.remove("$time") {
        Some(value) => value.as_f64().map(|n| if n < 1e11 { (n * 1000.0) as i64 } else { n as i64 }).unwrap_or(now_ms),
        None => now_ms,
    };
    let ignore_time = matches!(object.remove("$ignore_time"), Some(Value::Bool(true)));
    let ip = object.remove("$ip");
    Ok((ProfileUpdate { project_id: 0, key, operation, time_ms, ignore_time }, token, ip))
}

fn as_list(value: Option<&Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    }
}

/// Applies an update to a profile (`None` when it does not exist). Returns the new state
/// (`None` after `$delete`), or why it could not be applied.
pub fn apply(profile: Option<Profile>, update: &ProfileUpdate) -> Result<Option<Profile>, String> {
    if update.operation == Operation::Delete {
        return Ok(None);
    }
    let mut profile = profile.unwrap_or_default();
    let properties = &mut profile.properties;
    match &update.operation {
        Operation::Set(values) => {
            for (key, value) in values {
                properties.insert(key.clone(), value.clone());
            }
        }
        Operation::SetOnce(values) => {
            for (key, value) in values {
                properties.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
        Operation::Add(values) => {
            for (key, value) in values {
                let current = properties.get(key).and_then(Value::as_f64).unwrap_or(0.0);
                let sum = current + value.as_f64().unwrap_or(0.0);
                let number =
                    if sum.fract() == 0.0 && sum.abs() < 9.0e15 { Value::from(sum as i64) } else { Value::from(sum) };
                properties.insert(key.clone(), number);
            }
        }
        Operation::Union(values) => {
            for (key, value) in values {
                let mut list = as_list(properties.get(key));
                for item in as_list(Some(value)) {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
                check_list(key, &list)?;
                properties.insert(key.clone(), Value::Array(list));
            }
        }
        Operation::Append(values) => {
            for (key, value) in values {
                let mut list = as_list(properties.get(key));
                list.push(value.clone());
                check_list(key, &list)?;
                properties.insert(key.clone(), Value::Array(list));
            }
        }
        Operation::Remove(values) => {
            for (key, value) in values {
                if let Some(Value::Array(list)) = properties.get_mut(key) {
                    list.retain(|item| item != value);
                }
            }
        }
        Operation::Unset(names) => {
            for name in names {
                properties.remove(name);
            }
        }
        Operation::Delete => {}
    }
    if properties.len() > MAX_PROFILE_PROPERTIES {
        return Err(format!("a profile may have at most {MAX_PROFILE_PROPERTIES} properties; $unset some first"));
    }
    if !update.ignore_time {
        profile.last_seen_ms = Some(update.time_ms);
    }
    Ok(Some(profile))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn update(item: Value) -> ProfileUpdate {
        validate_update(0, item, false, 1_000).unwrap().0
    }

    fn run(items: Vec<Value>) -> Option<Profile> {
        items.into_iter().map(update).try_fold(None, |profile, update| apply(profile, &update)).unwrap()
    }

    #[test]
    fn profile_strings_are_cut_to_255_bytes() {
        let (update, _, _) = validate_update(
            0,
            json!({ "$token": "t", "$distinct_id": "u", "$set": { "bio": "x".repeat(10_000) } }),
            false,
            0,
        )
        .unwrap();
        let Operation::Set(map) = update.operation else { panic!("{update:?}") };
        assert_eq!(map["bio"].as_str().map(str::len), Some(255));
    }

    #[test]
    fn each_operation_as_documented() {
        let base = |op: &str, value: Value| json!({ "$token": "t", "$distinct_id": "u", op: value });
        let profile = run(vec![
            base("$set", json!({ "name": "Ada", "plan": "free" })),
            base("$set_once", json!({ "name": "Bob", "first_seen": "x" })),
            base("$add", json!({ "visits": 2 })),
            base("$add", json!({ "visits": -1, "score": 1.5 })),
            base("$union", json!({ "tags": ["a", "b"] })),
            base("$union", json!({ "tags": ["b", "c"] })),
            base("$append", json!({ "log": "one" })),
            base("$append", json!({ "log": "two" })),
            base("$remove", json!({ "tags": "a" })),
            base("$unset", json!(["plan"])),
        ])
        .unwrap();
        assert_eq!(
            Value::Object(profile.properties),
            json!({ "name": "Ada", "first_seen": "x", "visits": 1, "score": 1.5, "tags": ["b", "c"], "log": ["one", "two"] })
        );
        assert_eq!(profile.last_seen_ms, Some(1_000));
        assert_eq!(run(vec![base("$set", json!({ "a": 1 })), base("$delete", Value::Null)]), None);
    }

    #[test]
    fn lists_stop_short_of_255_items() {
        let base = |op: &str, value: Value| json!({ "$token": "t", "$distinct_id": "u", op: value });
        let items: Vec<Value> = (0..MAX_LIST_ITEMS - 1).map(|n| json!(n)).collect();
        let full = run(vec![base("$union", json!({ "tags": items }))]).unwrap();
        assert_eq!(full.properties["tags"].as_array().map(Vec::len), Some(MAX_LIST_ITEMS - 1));
        for (op, value) in [("$append", json!({ "tags": "one more" })), ("$union", json!({ "tags": ["one more"] }))] {
            let error = apply(Some(full.clone()), &update(base(op, value))).unwrap_err();
            assert!(error.contains("fewer than 255"), "{op}: {error}");
        }
        let again = apply(Some(full.clone()), &update(base("$union", json!({ "tags": [0, 1] })))).unwrap().unwrap();
        assert_eq!(again, full, "a union of items already there adds nothing");
    }

    #[test]
    fn bad_updates_name_the_problem() {
        let cases = [
            (json!({ "$distinct_id": "u", "$set": {} }), "$token"),
            (json!({ "$token": "t", "$set": {} }), "$distinct_id"),
            (json!({ "$token": "t", "$distinct_id": "u" }), "operation"),
            (json!({ "$token": "t", "$distinct_id": "u", "$set": {}, "$unset": [] }), "operation"),
            (json!({ "$token": "t", "$distinct_id": "u", "$add": { "n": "one" } }), "$add"),
            (json!({ "$token": "t", "$distinct_id": "u", "$set": 5 }), "$set"),
        ];
        for (item, field) in cases {
            assert_eq!(validate_update(0, item.clone(), false, 0).unwrap_err().field, field, "{item}");
        }
        let group = validate_update(
            0,
            json!({ "$token": "t", "$group_key": "company", "$group_id": 7, "$set": { "n": 1 } }),
            true,
            0,
        );
        assert_eq!(group.unwrap().0.key, ProfileKey::Group { key: "company".into(), id: "7".into() });
    }
}
