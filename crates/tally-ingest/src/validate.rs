//! Mixpanel's rules for events (§6.3 and §6.5 of our spec notes), one reason per refused
//! record.
//!
//! Choices where Mixpanel's documentation conflicts: an event more than one hour in the
//! future is refused (never silently re-timed); strings longer than 255 bytes are cut at a
//! character boundary, as Mixpanel truncates them.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::Event;

/// 1971-01-01T00:00:00Z in milliseconds: nothing earlier is accepted.
const EARLIEST_MS: i64 = 31_536_000_000;
/// How far ahead of the server's clock an event may be.
const FUTURE_SLACK_MS: i64 = 3_600_000;
/// `/track` takes the last five days only; older data goes through `/import`.
const TRACK_WINDOW_MS: i64 = 5 * 24 * 3_600_000;
const MAX_PROPERTIES: usize = 255;
/// Property values may nest lists and objects this deep. The log wraps each record in a few
/// more levels and serde_json refuses 128 on reading, so without a cap an acknowledged
/// event could fail to replay.
pub const MAX_NESTING: usize = 16;

/// How deeply lists and objects nest in a value (a scalar is 0).
pub fn nesting(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}
const MAX_NAME_LEN: usize = 255;
const MAX_STRING_BYTES: usize = 255;
/// An event, serialized, must stay under 1 MB.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Items in one request.
pub const MAX_ITEMS: usize = 2000;

/// Values Mixpanel refuses as ids because they usually mean a bug in the sender.
const DISALLOWED_IDS: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "anon",
    "anonymous",
    "nil",
    "none",
    "null",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "<nil>",
    "0",
    "-1",
    "true",
    "false",
    "[]",
    "{}",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Track,
    Import,
}

/// The circumstances of one validation.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub endpoint: Endpoint,
    pub now_ms: i64,
    /// The request proved the project's API secret or a service account (not just the
    /// public token): required for `$merge`, which joins two users for good.
    pub trusted: bool,
    /// `/import` with `strict=1` (Mixpanel's default for JSON bodies): every event must carry
    /// its own `$insert_id`. Otherwise (`strict=0`, and the form-encoded imports of older
    /// SDKs) an event without one gets an id derived from its content, so that a retried
    /// batch still deduplicates.
    pub strict: bool,
}

/// Why one record was refused, in `/import`'s `failed_records` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordError {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insert_id: Option<String>,
    pub field: String,
    pub message: String,
}

/// What validation made of one item.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted; `token` is the project token the event named, if any; `ip` is what the
    /// event said about geolocation (§6.7), taken out so the address is never stored;
    /// `sent_distinct_id` is the `distinct_id` as sent when Simplified derived another one
    /// from `$user_id` / `$device_id`; Original ID Merge projects keep it.
    Accepted { event: Box<Event>, token: Option<String>, ip: Option<Value>, sent_distinct_id: Option<String> },
    /// Carried `$ignore`: dropped without complaint.
    Ignored,
}

/// The distinct_id of a `/track` event that named none, sent with `ip=1`: Mixpanel hashes
/// the request's address into one. The address itself is never stored; the hash is keyed
/// by the project's token, so the same address gets different ids in different projects.
pub fn distinct_id_from_ip(token: &str, ip: std::net::IpAddr) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(token.as_bytes()).chain_update([0]).chain_update(ip.to_string()).finalize();
    let hex: String = digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect();
    format!("$ip:{hex}")
}

/// An `$insert_id` derived from what an event says (its name, distinct_id, time and
/// properties, keys in sorted order): the same event sent twice gets the same id, so
/// deduplication holds for imports that carry none. 32 hex characters of SHA-256.
pub fn content_id(name: &str, distinct_id: &str, time_ms: i64, properties: &Map<String, Value>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in [name, "\u{0}", distinct_id, "\u{0}"] {
        hasher.update(part.as_bytes());
    }
    hasher.update(time_ms.to_be_bytes());
    let mut canonical = String::new();
    write_canonical(&Value::Object(properties.clone()), &mut canonical);
    hasher.update(canonical.as_bytes());
    hasher.finalize().iter().take(16).map(|byte| format!("{byte:02x}")).collect()
}

/// JSON with object keys sorted at every level (whatever order the map keeps).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(key) {
                    write_canonical(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn refuse(index: usize, insert_id: Option<&str>, field: &str, message: impl Into<String>) -> RecordError {
    RecordError { index, insert_id: insert_id.map(str::to_string), field: field.to_string(), message: message.into() }
}

/// Ids that usually mean a bug in the sender (`"undefined"`, `"null"`, ...).
pub fn is_disallowed_id(text: &str) -> bool {
    // Runs for every event: no list entry is longer than a UUID, so most ids stop here.
    let text = text.trim();
    text.len() <= 36 && DISALLOWED_IDS.iter().any(|bad| bad.eq_ignore_ascii_case(text))
}

/// An id given as a string or a number, as text.
/// How Simplified ID Merge spells an anonymous device's distinct_id.
pub const DEVICE_PREFIX: &str = "$device:";

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Seconds or milliseconds since the epoch, as milliseconds. Values below 10^11 are seconds
/// (10^11 ms is 1973; 10^11 s is the year 5138).
fn time_ms(value: &Value) -> Option<i64> {
    let number = value.as_f64().or_else(|| value.as_str().and_then(|text| text.trim().parse::<f64>().ok()))?;
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    let ms = if number < 1e11 { number * 1000.0 } else { number };
    if ms > 9.0e15 {
        return None;
    }
    Some(ms as i64)
}

fn truncate(text: &mut String, max_bytes: usize) {
    if text.len() > max_bytes {
        let mut cut = max_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// Cuts over-long strings (in values, lists and objects, at any depth the nesting cap
/// allows) to Mixpanel's limit.
pub(crate) fn clamp_strings(value: &mut Value) {
    match value {
        Value::String(text) => truncate(text, MAX_STRING_BYTES),
        Value::Array(items) => items.iter_mut().for_each(clamp_strings),
        Value::Object(map) => map.values_mut().for_each(clamp_strings),
        _ => {}
    }
}

/// Validates one item of a `/track` or `/import` request. `random_id` makes `$insert_id`s
/// for `/track` events that came without one.
pub fn validate_event(
    index: usize,
    item: Value,
    rules: Rules,
    project_id: i64,
    random_id: &mut dyn FnMut() -> String,
) -> Result<Outcome, RecordError> {
    let Value::Object(mut object) = item else {
        return Err(refuse(index, None, "event", "each item must be a JSON object with \"event\" and \"properties\""));
    };
    let mut properties = match object.remove("properties") {
        Some(Value::Object(properties)) => properties,
        None => Map::new(),
        Some(_) => return Err(refuse(index, None, "properties", "'properties' must be an object")),
    };
    let insert_id_given = properties.remove("$insert_id");
    let insert_text = insert_id_given.as_ref().and_then(id_text);
    let for_error = insert_text.as_deref();

    let name = match object.remove("event") {
        Some(Value::String(name)) if !name.trim().is_empty() => name,
        _ => return Err(refuse(index, for_error, "event", "'event' must be a non-empty string")),
    };
    if name.len() > MAX_NAME_LEN {
        return Err(refuse(index, for_error, "event", "'event' must be at most 255 characters"));
    }
    if properties.contains_key("$ignore") {
        return Ok(Outcome::Ignored);
    }
    // `$merge` joins two users for good (§7.3): only through /import, with the secret.
    let merged_ids = if name == "$merge" {
        if rules.endpoint == Endpoint::Track || !rules.trusted {
            return Err(refuse(
                index,
                for_error,
                "event",
                "'$merge' is accepted only through /import, authenticated with the project's API secret or a service account",
            ));
        }
        match properties.get("$distinct_ids") {
            Some(Value::Array(ids))
                if ids.len() == 2 && ids.iter().all(|id| id_text(id).is_some_and(|id| !id.is_empty())) =>
            {
                ids.iter().filter_map(id_text).collect()
            }
            _ => {
                return Err(refuse(
                    index,
                    for_error,
                    "properties.$distinct_ids",
                    "'properties.$distinct_ids' must list exactly two distinct_ids",
                ));
            }
        }
    } else {
        Vec::new()
    };

    let time_ms = match properties.remove("time") {
        Some(value) => time_ms(&value).ok_or_else(|| {
            refuse(
                index,
                for_error,
                "properties.time",
                "'properties.time' is invalid: must be specified as seconds since epoch",
            )
        })?,
        None if rules.endpoint == Endpoint::Track => rules.now_ms,
        // Mixpanel documents `$merge` without a time: it joins two users, whenever it arrives.
        None if name == "$merge" => rules.now_ms,
        None => return Err(refuse(index, for_error, "properties.time", "'properties.time' is required")),
    };
    if time_ms < EARLIEST_MS {
        return Err(refuse(index, for_error, "properties.time", "'properties.time' is before 1971-01-01"));
    }
    if time_ms > rules.now_ms + FUTURE_SLACK_MS {
        return Err(refuse(index, for_error, "properties.time", "'properties.time' is more than 1 hour in the future"));
    }
    if rules.endpoint == Endpoint::Track && time_ms < rules.now_ms - TRACK_WINDOW_MS {
        return Err(refuse(
            index,
            for_error,
            "properties.time",
            "'properties.time' is more than 5 days old: send historical events to /import",
        ));
    }

    // Simplified ID Merge (§7.2): `$user_id` names the user; otherwise `$device_id` names an
    // anonymous device as `$device:<id>`; either makes `distinct_id` optional.
    let identity = |name: &str| properties.get(name).and_then(id_text).filter(|id| !id.is_empty());
    let derived = match (identity("$user_id"), identity("$device_id")) {
        (Some(user), _) => Some(user),
        (None, Some(device)) => Some(format!("{DEVICE_PREFIX}{device}")),
        (None, None) => None,
    };
    // `$identify` may leave distinct_id out (it is `$identified_id`), and so may `$merge`.
    let implied = match name.as_str() {
        "$identify" => identity("$identified_id"),
        "$merge" => merged_ids.first().cloned(),
        _ => None,
    };
    let given = properties.remove("distinct_id");
    // Only where Simplified derives the id does the id as sent differ from it.
    let sent_distinct_id = derived
        .as_ref()
        .and(given.as_ref())
        .and_then(id_text)
        .filter(|id| !id.is_empty() && !is_disallowed_id(id) && id.len() <= MAX_STRING_BYTES);
    let distinct_id = match (derived, given) {
        (Some(derived), _) => derived,
        (None, Some(value)) => id_text(&value).ok_or_else(|| {
            refuse(index, for_error, "properties.distinct_id", "'properties.distinct_id' must be a string")
        })?,
        (None, None) if implied.is_some() => implied.unwrap_or_default(),
        (None, None) if rules.endpoint == Endpoint::Track => String::new(),
        (None, None) => {
            return Err(refuse(index, for_error, "properties.distinct_id", "'properties.distinct_id' is required"));
        }
    };
    if !distinct_id.is_empty() && is_disallowed_id(&distinct_id) {
        return Err(refuse(
            index,
            for_error,
            "properties.distinct_id",
            format!("'properties.distinct_id' {distinct_id:?} is not allowed: it usually means a bug in the sender"),
        ));
    }
    if distinct_id.len() > MAX_STRING_BYTES {
        return Err(refuse(
            index,
            for_error,
            "properties.distinct_id",
            "'properties.distinct_id' must be at most 255 bytes",
        ));
    }

    let insert_id = match insert_text {
        Some(id) => {
            let valid = !id.is_empty()
                && id.len() <= 36
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !is_disallowed_id(&id);
            if !valid {
                return Err(refuse(
                    index,
                    Some(&id),
                    "properties.$insert_id",
                    "'properties.$insert_id' must be 1 to 36 characters of letters, digits and '-'",
                ));
            }
            id
        }
        None if rules.endpoint == Endpoint::Track => random_id(),
        None if name == "$merge" || !rules.strict => content_id(&name, &distinct_id, time_ms, &properties),
        None => {
            return Err(refuse(
                index,
                None,
                "properties.$insert_id",
                "'properties.$insert_id' is required with strict=1 (send one per event, or import with strict=0)",
            ));
        }
    };

    let ip = properties.remove("ip");
    let token = match properties.remove("token") {
        Some(Value::String(token)) => Some(token),
        Some(_) => {
            return Err(refuse(index, Some(&insert_id), "properties.token", "'properties.token' must be a string"));
        }
        None => None,
    };

    if properties.values().any(|value| nesting(value) > MAX_NESTING) {
        return Err(refuse(
            index,
            Some(&insert_id),
            "properties",
            format!("property values may nest lists and objects at most {MAX_NESTING} deep"),
        ));
    }
    if properties.len() >= MAX_PROPERTIES {
        return Err(refuse(index, Some(&insert_id), "properties", "an event must have fewer than 255 properties"));
    }
    let mut kept = Map::with_capacity(properties.len());
    for (key, mut value) in properties {
        let mut key = key;
        truncate(&mut key, MAX_NAME_LEN);
        clamp_strings(&mut value);
        kept.insert(key, value);
    }
    let event =
        Event { project_id, name, distinct_id, time_ms, insert_id, properties: kept, received_ms: rules.now_ms };
    if serde_json::to_vec(&event).map(|bytes| bytes.len()).unwrap_or(usize::MAX) > MAX_EVENT_BYTES {
        return Err(refuse(index, Some(&event.insert_id), "event", "an event must be smaller than 1 MB"));
    }
    Ok(Outcome::Accepted { event: Box::new(event), token, ip, sent_distinct_id })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn check(endpoint: Endpoint, item: Value) -> Result<Outcome, RecordError> {
        let mut n = 0;
        let mut random = || {
            n += 1;
            format!("generated-{n}")
        };
        validate_event(3, item, Rules { endpoint, now_ms: NOW, trusted: true, strict: true }, 7, &mut random)
    }

    fn accepted(outcome: Result<Outcome, RecordError>) -> Event {
        match outcome {
            Ok(Outcome::Accepted { event, .. }) => *event,
            other => panic!("expected an accepted event, got {other:?}"),
        }
    }

    #[test]
    fn a_full_import_event() {
        let event = accepted(check(
            Endpoint::Import,
            json!({"event": "Signed up", "properties": {"time": 1_799_999_000, "distinct_id": "u1", "$insert_id": "abc-123", "Plan": "pro"}}),
        ));
        assert_eq!(event.time_ms, 1_799_999_000_000, "seconds become milliseconds");
        assert_eq!(event.distinct_id, "u1");
        assert_eq!(event.insert_id, "abc-123");
        assert_eq!(event.properties["Plan"], "pro");
        assert!(!event.properties.contains_key("time"));
        let export = event.to_export_json(false);
        assert_eq!(export["properties"]["time"], 1_799_999_000);
        assert_eq!(export["properties"]["Plan"], "pro");
    }

    #[test]
    fn track_fills_what_clients_leave_out() {
        let outcome =
            check(Endpoint::Track, json!({"event": "Viewed", "properties": {"token": "tok", "time": NOW - 1000}}));
        let Ok(Outcome::Accepted { event, token, .. }) = outcome else { panic!() };
        assert_eq!(token.as_deref(), Some("tok"));
        assert_eq!(event.insert_id, "generated-1");
        assert_eq!(event.distinct_id, "");
        assert_eq!(event.time_ms, NOW - 1000, "milliseconds stay milliseconds");
        let event = accepted(check(Endpoint::Track, json!({"event": "Now", "properties": {}})));
        assert_eq!(event.time_ms, NOW);
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            (
                Endpoint::Import,
                json!({"event": "e", "properties": {"distinct_id": "u", "$insert_id": "i"}}),
                "properties.time",
            ),
            (
                Endpoint::Import,
                json!({"event": "e", "properties": {"time": 1_799_999_000, "$insert_id": "i"}}),
                "properties.distinct_id",
            ),
            (
                Endpoint::Import,
                json!({"event": "e", "properties": {"time": 1_799_999_000, "distinct_id": "u"}}),
                "properties.$insert_id",
            ),
            (
                Endpoint::Import,
                json!({"event": "e", "properties": {"time": 1_799_999_000, "distinct_id": "null", "$insert_id": "i"}}),
                "properties.distinct_id",
            ),
            (
                Endpoint::Import,
                json!({"event": "e", "properties": {"time": 1_799_999_000, "distinct_id": "u", "$insert_id": "not valid!"}}),
                "properties.$insert_id",
            ),
            (
                Endpoint::Import,
                json!({"event": "e", "properties": {"time": 1_799_999_000, "distinct_id": "u", "$insert_id": "x".repeat(37)}}),
                "properties.$insert_id",
            ),
            (
                Endpoint::Import,
                json!({"event": "e", "properties": {"time": 10, "distinct_id": "u", "$insert_id": "i"}}),
                "properties.time",
            ),
            (
                Endpoint::Import,
                json!({"event": "e", "properties": {"time": 1_800_007_200, "distinct_id": "u", "$insert_id": "i"}}),
                "properties.time",
            ),
            (
                Endpoint::Import,
                json!({"event": "e", "properties": {"time": "soon", "distinct_id": "u", "$insert_id": "i"}}),
                "properties.time",
            ),
            (Endpoint::Track, json!({"event": "e", "properties": {"time": 1_799_000_000}}), "properties.time"),
            (Endpoint::Track, json!({"event": "", "properties": {}}), "event"),
            (Endpoint::Track, json!({"properties": {}}), "event"),
            (Endpoint::Track, json!(["not", "an", "object"]), "event"),
            (Endpoint::Track, json!({"event": "e", "properties": 5}), "properties"),
            (Endpoint::Track, json!({"event": "$merge", "properties": {"$distinct_ids": ["a", "b"]}}), "event"),
            (
                Endpoint::Import,
                json!({"event": "$merge", "properties": {"time": 1_799_999_000, "$insert_id": "i", "$distinct_ids": ["a"]}}),
                "properties.$distinct_ids",
            ),
        ];
        for (endpoint, item, field) in cases {
            let error = check(endpoint, item.clone()).unwrap_err();
            assert_eq!(error.field, field, "{item}");
            assert_eq!(error.index, 3);
            assert!(!error.message.is_empty());
        }
    }

    #[test]
    fn identity_events_imply_their_distinct_id_and_merge_needs_the_secret() {
        let merge = json!({"event": "$merge", "properties": {"time": 1_799_999_000, "$insert_id": "m", "$distinct_ids": ["a", "b"]}});
        assert_eq!(accepted(check(Endpoint::Import, merge.clone())).distinct_id, "a");
        let untrusted = Rules { endpoint: Endpoint::Import, now_ms: NOW, trusted: false, strict: true };
        let error = validate_event(0, merge, untrusted, 7, &mut || "r".to_string()).unwrap_err();
        assert!(error.message.contains("API secret"), "{error:?}");
        let identify = json!({"event": "$identify", "properties": {"time": 1_799_999_000, "$identified_id": "ada", "$anon_id": "x"}});
        assert_eq!(accepted(check(Endpoint::Track, identify)).distinct_id, "ada");
        // Simplified derives distinct_id from $user_id; the id as sent is kept for Original.
        let both = json!({"event": "e", "properties": {"distinct_id": "sent", "$user_id": "ada"}});
        let Ok(Outcome::Accepted { event, sent_distinct_id, .. }) = check(Endpoint::Track, both) else { panic!() };
        assert_eq!((event.distinct_id.as_str(), sent_distinct_id.as_deref()), ("ada", Some("sent")));
    }

    #[test]
    fn merge_in_its_documented_shape_and_lenient_imports_get_a_content_id() {
        // $merge as Mixpanel documents it: no time, no $insert_id, no distinct_id.
        let merge = json!({"event": "$merge", "properties": {"$distinct_ids": ["a", "b"], "token": "t"}});
        let event = accepted(check(Endpoint::Import, merge.clone()));
        assert_eq!((event.time_ms, event.distinct_id.as_str()), (NOW, "a"));
        assert_eq!(event.insert_id.len(), 32);
        assert_eq!(accepted(check(Endpoint::Import, merge)).insert_id, event.insert_id, "a retry gets the same id");

        // strict=1 wants an id; strict=0 derives one from the content, key order aside.
        let plain = json!({"event": "e", "properties": {"time": 1_799_999_000, "distinct_id": "u", "a": 1, "b": {"y": 2, "x": 1}}});
        let error = check(Endpoint::Import, plain.clone()).unwrap_err();
        assert!(error.message.contains("strict=0"), "{error:?}");
        let lenient = Rules { endpoint: Endpoint::Import, now_ms: NOW, trusted: false, strict: false };
        let id_of = |item: Value| match validate_event(0, item, lenient, 7, &mut || "random".into()) {
            Ok(Outcome::Accepted { event, .. }) => event.insert_id,
            other => panic!("{other:?}"),
        };
        let first = id_of(plain);
        let reordered = json!({"event": "e", "properties": {"b": {"x": 1, "y": 2}, "a": 1, "distinct_id": "u", "time": 1_799_999_000}});
        assert_eq!(id_of(reordered), first, "the same content in another key order");
        let other = json!({"event": "e", "properties": {"time": 1_799_999_000, "distinct_id": "u", "a": 2, "b": {"y": 2, "x": 1}}});
        assert_ne!(id_of(other), first, "different content, different id");
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn nesting_is_capped() {
        let nest = |depth: usize| (0..depth).fold(json!(1), |inner, _| json!([inner]));
        assert_eq!(nesting(&nest(3)), 3);
        let item = |depth| json!({"event": "e", "properties": {"time": 1_799_999_000, "deep": nest(depth)}});
        assert!(check(Endpoint::Track, item(MAX_NESTING)).is_ok());
        assert_eq!(check(Endpoint::Track, item(MAX_NESTING + 1)).unwrap_err().field, "properties");
    }

    #[test]
    fn ignore_drops_and_long_strings_are_cut() {
        assert_eq!(
            check(Endpoint::Track, json!({"event": "e", "properties": {"$ignore": true}})),
            Ok(Outcome::Ignored)
        );
        let long = "é".repeat(200);
        let event = accepted(check(Endpoint::Track, json!({"event": "e", "properties": {"s": long, "list": [long]}})));
        assert!(event.properties["s"].as_str().unwrap().len() <= 255);
        assert!(event.properties["list"][0].as_str().unwrap().len() <= 255);
        let many: Map<String, Value> = (0..300).map(|i| (format!("p{i}"), json!(i))).collect();
        assert_eq!(check(Endpoint::Track, json!({"event": "e", "properties": many})).unwrap_err().field, "properties");
    }
}
