//! Evaluation: what an expression is worth for one record, by the rules of Mixpanel's
//! "Segmentation Expressions" page. Where that page is silent the rule chosen is written
//! beside the code that applies it.

use std::borrow::Cow;
use std::cmp::Ordering;

use jiff::Timestamp;
use jiff::civil;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use super::{BinaryOp, Expr, Function, Literal, PropertyScope, UnaryOp};

/// The value of an expression for one record.
///
/// Mixpanel's types are string, number and boolean, plus the internal `null` and
/// `undefined`; lists (JSON arrays), objects and date-times complete what a property or
/// `datetime(...)` can hold. Strings borrow from the record or the expression when they can.
#[derive(Debug, Clone, PartialEq)]
pub enum Eval<'a> {
    /// A property the record does not have, or an operation with no meaning
    /// (`"a" * 2`, `1 / 0`, `number("x")`).
    Undefined,
    /// A property whose JSON value is `null`.
    Null,
    Bool(bool),
    /// Always finite: an operation that would give NaN or an infinity gives `Undefined`.
    Number(f64),
    String(Cow<'a, str>),
    List(Vec<Eval<'a>>),
    /// A JSON object property: it is set, equal to an identical object, and nothing more.
    Object(&'a Map<String, Value>),
    /// From `datetime(...)`: an instant, compared with other date-times and with strings
    /// that read as ISO 8601 date-times.
    DateTime(Timestamp),
}

impl<'a> Eval<'a> {
    /// A property's JSON value as an expression value.
    pub fn from_json(value: &'a Value) -> Eval<'a> {
        match value {
            Value::Null => Eval::Null,
            Value::Bool(flag) => Eval::Bool(*flag),
            Value::Number(number) => number.as_f64().filter(|n| n.is_finite()).map_or(Eval::Undefined, Eval::Number),
            Value::String(text) => Eval::String(Cow::Borrowed(text)),
            Value::Array(items) => Eval::List(items.iter().map(Eval::from_json).collect()),
            Value::Object(map) => Eval::Object(map),
        }
    }

    /// The `boolean()` cast, which is also how `and`, `or` and a whole `where` read a value.
    ///
    /// Mixpanel documents: `false`, `0`, `null`, undefined, `""` and `"false"` are false;
    /// `"true"` and any other set value is true. Chosen here where it is silent: an empty
    /// list or object is false, a date-time is true.
    pub fn to_boolean(&self) -> bool {
        match self {
            Eval::Undefined | Eval::Null => false,
            Eval::Bool(flag) => *flag,
            Eval::Number(number) => *number != 0.0,
            Eval::String(text) => !(text.is_empty() || text == "false"),
            Eval::List(items) => !items.is_empty(),
            Eval::Object(map) => !map.is_empty(),
            Eval::DateTime(_) => true,
        }
    }

    /// The `number()` cast (documented: a string is read as a decimal or is undefined,
    /// booleans are 1 and 0, null and undefined are undefined). A date-time becomes its
    /// Unix time in seconds, the inverse of `datetime(number)`.
    fn to_number(&self) -> Eval<'static> {
        match self {
            Eval::Number(number) => Eval::Number(*number),
            Eval::Bool(flag) => Eval::Number(if *flag { 1.0 } else { 0.0 }),
            Eval::String(text) => decimal(text).map_or(Eval::Undefined, Eval::Number),
            Eval::DateTime(at) => finite(at.as_millisecond() as f64 / 1000.0),
            Eval::Undefined | Eval::Null | Eval::List(_) | Eval::Object(_) => Eval::Undefined,
        }
    }

    /// The `string()` cast (documented for strings, numbers, booleans, null and undefined).
    /// A date-time prints as `YYYY-MM-DDTHH:MM:SS` in UTC, Mixpanel's date format; a list or
    /// object has no documented text and is undefined.
    fn into_text(self) -> Eval<'a> {
        match self {
            Eval::String(text) => Eval::String(text),
            Eval::Number(number) => Eval::String(Cow::Owned(number_text(number))),
            Eval::Bool(flag) => Eval::String(Cow::Borrowed(if flag { "true" } else { "false" })),
            Eval::Null => Eval::Null,
            Eval::DateTime(at) => Eval::String(Cow::Owned(at.strftime("%Y-%m-%dT%H:%M:%S").to_string())),
            Eval::Undefined | Eval::List(_) | Eval::Object(_) => Eval::Undefined,
        }
    }

    /// `datetime(...)`: a string read as an ISO 8601 date or date-time (UTC unless it names an
    /// offset), a number read as Unix seconds; anything else, or text that is not a date,
    /// is undefined.
    fn to_datetime(&self) -> Eval<'static> {
        let at = match self {
            Eval::DateTime(at) => Some(*at),
            Eval::String(text) => parse_datetime(text),
            Eval::Number(seconds) => Timestamp::from_millisecond((seconds * 1000.0).round() as i64).ok(),
            Eval::Undefined | Eval::Null | Eval::Bool(_) | Eval::List(_) | Eval::Object(_) => None,
        };
        at.map_or(Eval::Undefined, Eval::DateTime)
    }
}

/// Reads an ISO 8601 date (`2024-01-31`) or date-time (`2024-01-31T12:00:00`, a space in
/// place of the `T`, optional fractional seconds, optional `Z` or `+02:00`). Without an
/// offset the time is UTC, as Mixpanel asks dates to be sent.
pub(super) fn parse_datetime(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    let civil = match text.parse::<civil::DateTime>() {
        Ok(civil) => civil,
        Err(_) => text.parse::<civil::Date>().ok()?.to_datetime(civil::Time::midnight()),
    };
    civil.to_zoned(TimeZone::UTC).ok().map(|zoned| zoned.timestamp())
}

/// A decimal as `number()` reads it: digits with an optional sign, point and exponent;
/// never `inf` or `NaN`, which Rust's own parser would accept.
fn decimal(text: &str) -> Option<f64> {
    let text = text.trim();
    let plain = text.bytes().all(|byte| byte.is_ascii_digit() || b"+-.eE".contains(&byte));
    if !plain || !text.bytes().any(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse::<f64>().ok().filter(|number| number.is_finite())
}

/// A number as `string()` writes it: `3` not `3.0`, and `0` for negative zero.
fn number_text(number: f64) -> String {
    if number == 0.0 { "0".to_string() } else { number.to_string() }
}

fn finite(number: f64) -> Eval<'static> {
    if number.is_finite() { Eval::Number(number) } else { Eval::Undefined }
}

/// `==`: values of one type compare by value, values of two types are never equal
/// (documented). Chosen: two undefined (or two null) values are equal, as missing
/// properties always were here; a date-time equals a string that reads as the same instant.
fn equal(left: &Eval<'_>, right: &Eval<'_>) -> bool {
    match (left, right) {
        (Eval::Undefined, Eval::Undefined) | (Eval::Null, Eval::Null) => true,
        (Eval::List(left), Eval::List(right)) => {
            left.len() == right.len() && left.iter().zip(right).all(|(left, right)| equal(left, right))
        }
        (Eval::Object(left), Eval::Object(right)) => left == right,
        _ => order(left, right) == Some(Ordering::Equal),
    }
}

/// `<`, `<=`, `>`, `>=`: documented for numbers, undefined across types. Chosen: strings
/// compare by code point, `false < true`, date-times by instant, and a date-time against a
/// string that reads as one (otherwise undefined).
fn order(left: &Eval<'_>, right: &Eval<'_>) -> Option<Ordering> {
    match (left, right) {
        (Eval::Number(left), Eval::Number(right)) => left.partial_cmp(right),
        (Eval::String(left), Eval::String(right)) => Some(left.cmp(right)),
        (Eval::Bool(left), Eval::Bool(right)) => Some(left.cmp(right)),
        (Eval::DateTime(left), Eval::DateTime(right)) => Some(left.cmp(right)),
        (Eval::DateTime(left), Eval::String(right)) => parse_datetime(right).map(|right| left.cmp(&right)),
        (Eval::String(left), Eval::DateTime(right)) => parse_datetime(left).map(|left| left.cmp(right)),
        _ => None,
    }
}

/// `not`: documented as the logical not of a boolean, true for undefined, and undefined
/// for every other type.
fn not(value: Eval<'_>) -> Eval<'static> {
    match value {
        Eval::Bool(flag) => Eval::Bool(!flag),
        Eval::Undefined => Eval::Bool(true),
        _ => Eval::Undefined,
    }
}

/// `in`: a substring test between two strings (documented), membership by `==` when the
/// right side is a list (Mixpanel's examples), undefined otherwise and whenever the left
/// side is undefined.
fn contains(needle: &Eval<'_>, haystack: &Eval<'_>) -> Eval<'static> {
    match (needle, haystack) {
        (Eval::Undefined, _) => Eval::Undefined,
        (Eval::String(needle), Eval::String(haystack)) => Eval::Bool(haystack.contains(needle.as_ref())),
        (needle, Eval::List(items)) => Eval::Bool(items.iter().any(|item| equal(needle, item))),
        _ => Eval::Undefined,
    }
}

/// A binary operator applied to two values. ([`Expr::eval`] short-circuits `and` and `or`
/// before it gets here; they are kept for the match to be whole.)
fn binary<'a>(left: Eval<'a>, op: BinaryOp, right: Eval<'a>) -> Eval<'a> {
    let numbers = match (&left, &right) {
        (Eval::Number(left), Eval::Number(right)) => Some((*left, *right)),
        _ => None,
    };
    match op {
        BinaryOp::Add => match (left, right) {
            (Eval::Number(left), Eval::Number(right)) => finite(left + right),
            // Documented: `+` joins two strings.
            (Eval::String(left), Eval::String(right)) => Eval::String(Cow::Owned(format!("{left}{right}"))),
            _ => Eval::Undefined,
        },
        BinaryOp::Sub => numbers.map_or(Eval::Undefined, |(left, right)| finite(left - right)),
        BinaryOp::Mul => numbers.map_or(Eval::Undefined, |(left, right)| finite(left * right)),
        // Documented: division by zero is undefined. The remainder takes the dividend's sign,
        // as Rust's `%` does; a zero divisor is undefined there too.
        BinaryOp::Div => match numbers {
            Some((left, right)) if right != 0.0 => finite(left / right),
            _ => Eval::Undefined,
        },
        BinaryOp::Rem => match numbers {
            Some((left, right)) if right != 0.0 => finite(left % right),
            _ => Eval::Undefined,
        },
        BinaryOp::Eq => Eval::Bool(equal(&left, &right)),
        BinaryOp::Ne => Eval::Bool(!equal(&left, &right)),
        BinaryOp::Lt => compared(&left, &right, Ordering::is_lt),
        BinaryOp::Le => compared(&left, &right, Ordering::is_le),
        BinaryOp::Gt => compared(&left, &right, Ordering::is_gt),
        BinaryOp::Ge => compared(&left, &right, Ordering::is_ge),
        BinaryOp::And => Eval::Bool(left.to_boolean() && right.to_boolean()),
        BinaryOp::Or => Eval::Bool(left.to_boolean() || right.to_boolean()),
    }
}

fn compared(left: &Eval<'_>, right: &Eval<'_>, test: fn(Ordering) -> bool) -> Eval<'static> {
    order(left, right).map_or(Eval::Undefined, |ordering| Eval::Bool(test(ordering)))
}

fn call<'a>(function: Function, value: Eval<'a>) -> Eval<'a> {
    match function {
        // Documented as "has any value"; a JSON null is no value, as it always was here.
        Function::Defined => Eval::Bool(!matches!(value, Eval::Undefined | Eval::Null)),
        // Rounding halves away from zero (2.5 to 3, -2.5 to -3), as SQL engines do.
        Function::Floor => rounded(&value, f64::floor),
        Function::Round => rounded(&value, f64::round),
        Function::Ceil => rounded(&value, f64::ceil),
        Function::Boolean => Eval::Bool(value.to_boolean()),
        Function::Number => value.to_number(),
        Function::String => value.into_text(),
        Function::Datetime => value.to_datetime(),
    }
}

fn rounded(value: &Eval<'_>, round: fn(f64) -> f64) -> Eval<'static> {
    match value {
        Eval::Number(number) => finite(round(*number)),
        _ => Eval::Undefined,
    }
}

impl Literal {
    fn to_eval(&self) -> Eval<'_> {
        match self {
            Literal::Bool(flag) => Eval::Bool(*flag),
            Literal::Number(number) => finite(*number),
            Literal::String(text) => Eval::String(Cow::Borrowed(text)),
        }
    }
}

impl Expr {
    /// The expression's value for a record with these properties. `properties[...]`,
    /// `user[...]` and `event[...]` all read the one map: the caller passes the record the
    /// filter applies to (an event's properties, or a profile's).
    pub fn eval<'a>(&'a self, properties: &'a Map<String, Value>) -> Eval<'a> {
        self.eval_in(properties, properties)
    }

    /// The expression's value for an event whose user has the profile `user`:
    /// `user[...]` reads the profile, `properties[...]` and `event[...]` the event.
    pub fn eval_in<'a>(&'a self, event: &'a Map<String, Value>, user: &'a Map<String, Value>) -> Eval<'a> {
        let eval = |expr: &'a Expr| expr.eval_in(event, user);
        match self {
            Expr::Property(PropertyScope::User, name) => user.get(name).map_or(Eval::Undefined, Eval::from_json),
            Expr::Property(_, name) => event.get(name).map_or(Eval::Undefined, Eval::from_json),
            Expr::Literal(literal) => literal.to_eval(),
            Expr::List(items) => Eval::List(items.iter().map(eval).collect()),
            Expr::Unary(UnaryOp::Not, operand) => not(eval(operand)),
            Expr::Unary(UnaryOp::Neg, operand) => match eval(operand) {
                Eval::Number(number) => Eval::Number(-number),
                _ => Eval::Undefined,
            },
            // `and` and `or` read undefined as false (documented). Other non-booleans are an
            // error in Mixpanel; a filter cannot fail one record, so they are read through
            // the `boolean()` cast instead.
            Expr::Binary(left, BinaryOp::And, right) => Eval::Bool(eval(left).to_boolean() && eval(right).to_boolean()),
            Expr::Binary(left, BinaryOp::Or, right) => Eval::Bool(eval(left).to_boolean() || eval(right).to_boolean()),
            Expr::Binary(left, op, right) => binary(eval(left), *op, eval(right)),
            Expr::In { needle, haystack, negated } => {
                let found = contains(&eval(needle), &eval(haystack));
                if *negated { not(found) } else { found }
            }
            Expr::Call(function, arguments) => match arguments.as_slice() {
                [argument] => call(*function, eval(argument)),
                // The parser gives every function exactly one argument.
                _ => Eval::Undefined,
            },
        }
    }

    /// Whether a record with these properties matches: the value read through the
    /// `boolean()` cast, so undefined (a missing property, a comparison across types)
    /// never matches.
    pub fn matches(&self, properties: &Map<String, Value>) -> bool {
        self.eval(properties).to_boolean()
    }
}
