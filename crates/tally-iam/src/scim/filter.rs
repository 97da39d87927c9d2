//! SCIM filters as identity providers send them: `attr eq "value"` joined by `and`.

use serde_json::Value;

use super::ScimError;
use super::users::boolean;
use tally_types::ErrorKind;

/// One clause of a filter: attribute, value.
pub(super) type Clause = (String, Value);

/// Parses the filters identity providers send: `attr eq "value"` joined by `and`.
pub fn parse_filter(filter: &str) -> Result<Vec<Clause>, ScimError> {
    let unsupported = |why: &str| {
        ScimError::new(
            ErrorKind::InvalidInput,
            Some("invalidFilter"),
            format!(
                "the filter {filter:?} is not supported ({why}): use attr eq \"value\" on userName, externalId, \
                 emails or id, joined by and"
            ),
        )
    };
    let mut clauses = Vec::new();
    let mut rest = filter.trim();
    loop {
        let (attribute, after) = rest.split_once(char::is_whitespace).ok_or_else(|| unsupported("incomplete"))?;
        let after = after.trim_start();
        let (operator, after) = after.split_once(char::is_whitespace).ok_or_else(|| unsupported("incomplete"))?;
        if !operator.eq_ignore_ascii_case("eq") {
            return Err(unsupported(&format!("operator {operator:?}")));
        }
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((index, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, escaped)) => text.push(escaped),
                        None => return Err(unsupported("unterminated string")),
                    },
                    '"' => {
                        end = Some(index + 1);
                        break;
                    }
                    c => text.push(c),
                }
            }
            let end = end.ok_or_else(|| unsupported("unterminated string"))?;
            (Value::String(text), &quoted[end..])
        } else {
            let (word, after) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            let value = match word {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                other => return Err(unsupported(&format!("value {other:?} is not a quoted string"))),
            };
            (value, after)
        };
        let known = ["userName", "externalId", "emails", "emails.value", "id", "active", "displayName"];
        let Some(attribute) = known.iter().find(|known| known.eq_ignore_ascii_case(attribute)) else {
            return Err(unsupported(&format!("attribute {attribute:?}")));
        };
        clauses.push(((*attribute).to_string(), value));
        let after = after.trim();
        if after.is_empty() {
            return Ok(clauses);
        }
        let (joiner, next) = after.split_once(char::is_whitespace).ok_or_else(|| unsupported("trailing text"))?;
        if !joiner.eq_ignore_ascii_case("and") {
            return Err(unsupported(&format!("{joiner:?}")));
        }
        rest = next.trim_start();
    }
}

pub(super) fn matches(resource: &Value, (attribute, wanted): &Clause) -> bool {
    let same_text = |value: &Value| match (value.as_str(), wanted.as_str()) {
        (Some(have), Some(want)) => have.eq_ignore_ascii_case(want),
        _ => false,
    };
    match attribute.as_str() {
        "emails" | "emails.value" => {
            resource["emails"].as_array().is_some_and(|emails| emails.iter().any(|email| same_text(&email["value"])))
        }
        "externalId" | "id" => resource.get(attribute) == Some(wanted),
        "active" => resource.get("active").and_then(boolean).unwrap_or(true) == wanted.as_bool().unwrap_or(true),
        _ => resource.get(attribute).is_some_and(same_text),
    }
}
