//! Mixpanel's segmentation expressions, the language of the `where` and `on` parameters:
//! property references (`properties["name"]`, `user["name"]`, `event["name"]`), string,
//! number, boolean and list literals, `+ - * / %`, `== != > >= < <=`, `in` and `not in`,
//! `and`, `or`, `not`, parentheses, and the functions `defined`, `floor`, `round`, `ceil`,
//! `boolean`, `number`, `string` and `datetime`.
//!
//! [`parse`] turns text into an [`Expr`] or an [`ExprError`] saying where and what was
//! expected; anything it does not understand is refused, never read as "everything".
//! [`Expr::eval`] computes an [`Eval`] for one record by Mixpanel's documented rules (the
//! choices made where its page is silent are written beside the code in `eval.rs`), and
//! [`Expr::matches`] is that value read as a boolean. The tree is public so a query engine
//! can compile it instead of evaluating it row by row. `Display` prints an expression back
//! as text that parses to the same tree.
//!
//! Precedence, loosest first: `or`, `and`, `not`, comparisons and `in`, `+ -`, `* / %`,
//! unary `-`. Binary operators group to the left. Words are case-insensitive.

mod eval;
mod parser;

use std::fmt;

pub use eval::Eval;
pub use parser::{MAX_HEIGHT, MAX_NESTING};

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `properties["name"]`, `user["name"]` or `event["name"]`: the scope as written, and the
    /// property's name with its escapes resolved.
    Property(PropertyScope, String),
    /// A string, number or boolean written in the expression. `-5` is the number -5.
    Literal(Literal),
    /// `[a, b, ...]`: the right side of `in`, usually.
    List(Vec<Expr>),
    /// `-x` or `not x`.
    Unary(UnaryOp, Box<Expr>),
    /// Arithmetic, comparison, `and` and `or`.
    Binary(Box<Expr>, BinaryOp, Box<Expr>),
    /// `needle in haystack`, or `needle not in haystack` when `negated`: a substring test
    /// between strings, membership when the haystack is a list.
    In { needle: Box<Expr>, haystack: Box<Expr>, negated: bool },
    /// A function applied to its arguments (the parser gives each exactly one).
    Call(Function, Vec<Expr>),
}

/// Which record a property reference names. Mixpanel reads `properties[...]` from the
/// record being filtered (an event, or a profile in `/engage`), `user[...]` from the user's
/// profile and `event[...]` from the event itself (`event["$time"]` in exports).
/// [`Expr::eval`] reads all three from the one map its caller passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyScope {
    Properties,
    User,
    Event,
}

impl PropertyScope {
    /// The word as written before the brackets.
    pub fn name(self) -> &'static str {
        match self {
            PropertyScope::Properties => "properties",
            PropertyScope::User => "user",
            PropertyScope::Event => "event",
        }
    }
}

/// A constant. Numbers are finite: the parser refuses `1e999`.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Number(f64),
    String(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`: the negation of a number, undefined for anything else.
    Neg,
    /// `not x`: true for false and for undefined, false for true, undefined otherwise.
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`: adds numbers, joins strings.
    Add,
    Sub,
    Mul,
    /// `/`: undefined when dividing by zero.
    Div,
    /// `%`: the remainder, with the dividend's sign; undefined for a zero divisor.
    Rem,
    /// `==`: false across types.
    Eq,
    Ne,
    /// `<`, `<=`, `>`, `>=`: undefined across types.
    Lt,
    Le,
    Gt,
    Ge,
    /// `and`, `or`: undefined counts as false.
    And,
    Or,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }

    /// Binding strength, higher binds tighter (`not` sits at 3, unary minus at 7).
    fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 6,
        }
    }
}

/// The functions of the language; each takes one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `defined(x)`: whether x has a value (not undefined, not null).
    Defined,
    Floor,
    /// Halves round away from zero.
    Round,
    Ceil,
    /// The `boolean()` cast: `false`, `0`, `""`, `"false"`, null and undefined are false.
    Boolean,
    /// The `number()` cast: strings read as decimals, booleans as 1 and 0.
    Number,
    /// The `string()` cast.
    String,
    /// `datetime(x)`: an ISO 8601 string (UTC unless it has an offset) or Unix seconds.
    Datetime,
}

impl Function {
    pub const ALL: [Function; 8] = [
        Function::Defined,
        Function::Floor,
        Function::Round,
        Function::Ceil,
        Function::Boolean,
        Function::Number,
        Function::String,
        Function::Datetime,
    ];

    /// The name as written (lowercase; the parser accepts any case).
    pub fn name(self) -> &'static str {
        match self {
            Function::Defined => "defined",
            Function::Floor => "floor",
            Function::Round => "round",
            Function::Ceil => "ceil",
            Function::Boolean => "boolean",
            Function::Number => "number",
            Function::String => "string",
            Function::Datetime => "datetime",
        }
    }

    /// The function a lowercase name stands for.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|function| function.name() == name)
    }
}

/// Why a text is not an expression: `at` is the position (in characters, from 0) where
/// the parser stopped, and `message` says what it expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("where: {message} (at character {at})")]
pub struct ExprError {
    pub at: usize,
    pub message: String,
}

/// Parses an expression; the whole text must be one.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    parser::parse_text(text)
}

/// The binding strength of an expression as printed: operands of a looser one get
/// parentheses.
fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Binary(_, op, _) => op.precedence(),
        Expr::Unary(UnaryOp::Not, _) => 3,
        Expr::In { .. } => 4,
        Expr::Unary(UnaryOp::Neg, _) => 7,
        Expr::Property(..) | Expr::Literal(_) | Expr::List(_) | Expr::Call(..) => 8,
    }
}

/// Writes `expr`, in parentheses when it binds looser than `at_least`.
fn write_operand(f: &mut fmt::Formatter<'_>, expr: &Expr, at_least: u8) -> fmt::Result {
    if precedence(expr) < at_least { write!(f, "({expr})") } else { write!(f, "{expr}") }
}

/// A string literal in double quotes, escaped so the parser reads it back unchanged.
fn write_string(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Bool(flag) => write!(f, "{flag}"),
            // Rust prints the shortest text that reads back as the same number.
            Literal::Number(number) => write!(f, "{number}"),
            Literal::String(text) => write_string(f, text),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Property(scope, name) => {
                write!(f, "{}[", scope.name())?;
                write_string(f, name)?;
                f.write_str("]")
            }
            Expr::Literal(literal) => write!(f, "{literal}"),
            Expr::List(items) => {
                f.write_str("[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Expr::Unary(UnaryOp::Not, operand) => {
                f.write_str("not ")?;
                write_operand(f, operand, 3)
            }
            // `-5` would read back as the number -5, so a negated number keeps parentheses.
            Expr::Unary(UnaryOp::Neg, operand) => match operand.as_ref() {
                Expr::Literal(Literal::Number(_)) => write!(f, "-({operand})"),
                _ => {
                    f.write_str("-")?;
                    write_operand(f, operand, 7)
                }
            },
            Expr::Binary(left, op, right) => {
                write_operand(f, left, op.precedence())?;
                write!(f, " {} ", op.symbol())?;
                write_operand(f, right, op.precedence() + 1)
            }
            Expr::In { needle, haystack, negated } => {
                write_operand(f, needle, 4)?;
                f.write_str(if *negated { " not in " } else { " in " })?;
                write_operand(f, haystack, 5)
            }
            Expr::Call(function, arguments) => {
                write!(f, "{}(", function.name())?;
                for (index, argument) in arguments.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{argument}")?;
                }
                f.write_str(")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::*;

    fn props(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn record() -> Map<String, Value> {
        props(json!({
            "$email": "ada@example.com",
            "plan": "pro",
            "seats": 12,
            "zero": 0,
            "beta": true,
            "nothing": null,
            "tags": ["a", "b", 3],
            "signup": "2024-03-05T10:00:00",
            "distinct_id": "late",
            "address": { "city": "Paris" },
        }))
    }

    fn parsed(text: &str) -> Expr {
        parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    /// The value of `text` for [`record`], in Debug form so one table holds every type.
    fn value(text: &str) -> String {
        let properties = record();
        format!("{:?}", parsed(text).eval(&properties))
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(expr) => panic!("{text} parsed as {expr:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn check_values(cases: &[(&str, &str)]) {
        for (text, expected) in cases {
            assert_eq!(value(text), *expected, "{text}");
        }
    }

    #[test]
    fn comparisons_logic_and_defined() {
        let ada = record();
        let cases = [
            (r#"properties["plan"] == "pro""#, true),
            (r#"user["plan"] != "pro""#, false),
            (r#"properties["seats"] >= 10 and properties["seats"] < 13"#, true),
            (r#"properties["seats"] > 12 or properties["beta"] == true"#, true),
            (r#"not (properties["plan"] == "free")"#, true),
            (r#"defined(properties["$email"]) and not defined(properties["phone"])"#, true),
            (r#"properties["missing"] == "x""#, false),
            (r#"properties["beta"]"#, true),
            (r#"properties['plan'] == 'pro'"#, true),
            (r#"properties["distinct_id"] == "late""#, true),
            (r#"event["plan"] == "pro""#, true),
        ];
        for (text, expected) in cases {
            assert_eq!(parsed(text).matches(&ada), expected, "{text}");
        }
    }

    #[test]
    fn a_where_matches_what_reads_as_true() {
        let ada = record();
        for (text, expected) in [
            (r#"properties["seats"]"#, true),
            (r#"properties["zero"]"#, false),
            (r#"properties["missing"]"#, false),
            (r#"properties["nothing"]"#, false),
            (r#"properties["plan"]"#, true),
            (r#"properties["tags"]"#, true),
            (r#"properties["seats"] * 2"#, true),
            (r#"properties["plan"] * 2"#, false),
            (r#"properties["missing"] > 1"#, false),
        ] {
            assert_eq!(parsed(text).matches(&ada), expected, "{text}");
        }
    }

    #[test]
    fn literals_and_properties() {
        check_values(&[
            ("12", "Number(12.0)"),
            ("-12.5", "Number(-12.5)"),
            ("1.5e3", "Number(1500.0)"),
            ("2E-1", "Number(0.2)"),
            ("true", "Bool(true)"),
            ("FALSE", "Bool(false)"),
            (r#""a\"b""#, r#"String("a\"b")"#),
            (r"'it\'s'", r#"String("it's")"#),
            (r#""tab\tnew\nline\\ \/""#, r#"String("tab\tnew\nline\\ /")"#),
            (r#""\u00e9\ud83d\ude00""#, r#"String("é😀")"#),
            ("[1, \"a\", [true]]", r#"List([Number(1.0), String("a"), List([Bool(true)])])"#),
            ("[]", "List([])"),
            (r#"properties["plan"]"#, r#"String("pro")"#),
            (r#"properties["tags"]"#, r#"List([String("a"), String("b"), Number(3.0)])"#),
            (r#"properties["nothing"]"#, "Null"),
            (r#"properties["missing"]"#, "Undefined"),
            (r#"user["$email"]"#, r#"String("ada@example.com")"#),
            (r#"properties["address"] == properties["address"]"#, "Bool(true)"),
        ]);
    }

    #[test]
    fn arithmetic_gives_undefined_off_numbers() {
        check_values(&[
            ("1 + 2", "Number(3.0)"),
            ("7 - 10", "Number(-3.0)"),
            ("6 * 7", "Number(42.0)"),
            ("7 / 2", "Number(3.5)"),
            ("7 % 3", "Number(1.0)"),
            ("-7 % 3", "Number(-1.0)"),
            ("7 % -3", "Number(1.0)"),
            ("1 / 0", "Undefined"),
            ("1 % 0", "Undefined"),
            ("0 / 0", "Undefined"),
            ("1e308 * 10", "Undefined"),
            (r#""ab" + "cd""#, r#"String("abcd")"#),
            (r#""a" + 1"#, "Undefined"),
            (r#""3" - 1"#, "Undefined"),
            (r#""3" * 1"#, "Undefined"),
            ("true + 1", "Undefined"),
            (r#"properties["seats"] / 4"#, "Number(3.0)"),
            (r#"properties["missing"] + 1"#, "Undefined"),
            (r#"properties["nothing"] + 1"#, "Undefined"),
            (r#"-properties["seats"]"#, "Number(-12.0)"),
            (r#"-properties["plan"]"#, "Undefined"),
            ("- -3", "Number(3.0)"),
            ("-(2)", "Number(-2.0)"),
        ]);
    }

    #[test]
    fn equality_is_false_across_types() {
        check_values(&[
            ("1 == 1.0", "Bool(true)"),
            (r#"1 == "1""#, "Bool(false)"),
            (r#"1 != "1""#, "Bool(true)"),
            (r#""a" == "a""#, "Bool(true)"),
            ("true == 1", "Bool(false)"),
            ("[1, 2] == [1, 2]", "Bool(true)"),
            ("[1, 2] == [1]", "Bool(false)"),
            (r#"properties["missing"] == "x""#, "Bool(false)"),
            (r#"properties["missing"] != "x""#, "Bool(true)"),
            (r#"properties["missing"] == properties["other"]"#, "Bool(true)"),
            (r#"properties["nothing"] == properties["nothing"]"#, "Bool(true)"),
            (r#"properties["nothing"] == properties["missing"]"#, "Bool(false)"),
        ]);
    }

    #[test]
    fn ordering_is_undefined_across_types() {
        check_values(&[
            ("2 > 1", "Bool(true)"),
            ("2 >= 2", "Bool(true)"),
            ("2 < 1", "Bool(false)"),
            ("2 <= 1", "Bool(false)"),
            (r#""b" > "a""#, "Bool(true)"),
            (r#""B" < "a""#, "Bool(true)"),
            ("true > false", "Bool(true)"),
            (r#"1 < "2""#, "Undefined"),
            (r#""2" >= 1"#, "Undefined"),
            ("[1] < [2]", "Undefined"),
            (r#"properties["missing"] > 1"#, "Undefined"),
            (r#"properties["missing"] <= properties["other"]"#, "Undefined"),
            (r#"properties["nothing"] < 1"#, "Undefined"),
        ]);
    }

    #[test]
    fn in_is_substring_or_membership() {
        check_values(&[
            (r#""da" in "ada""#, "Bool(true)"),
            (r#""x" in "ada""#, "Bool(false)"),
            (r#""" in "ada""#, "Bool(true)"),
            (r#""@example" in properties["$email"]"#, "Bool(true)"),
            ("1 in [1, 2]", "Bool(true)"),
            (r#""1" in [1, 2]"#, "Bool(false)"),
            (r#"properties["plan"] in ["pro", "team"]"#, "Bool(true)"),
            (r#""b" in properties["tags"]"#, "Bool(true)"),
            ("3 in properties[\"tags\"]", "Bool(true)"),
            (r#""c" in properties["tags"]"#, "Bool(false)"),
            (r#"1 in "123""#, "Undefined"),
            (r#""1" in 123"#, "Undefined"),
            (r#"properties["missing"] in "abc""#, "Undefined"),
            (r#"properties["missing"] in ["a"]"#, "Undefined"),
            (r#""a" in properties["missing"]"#, "Undefined"),
            (r#""a" not in "abc""#, "Bool(false)"),
            (r#""z" not in "abc""#, "Bool(true)"),
            (r#"properties["plan"] not in ["free"]"#, "Bool(true)"),
            // not undefined is true.
            (r#"1 not in "abc""#, "Bool(true)"),
            (r#""a" NOT IN "abc""#, "Bool(false)"),
        ]);
    }

    #[test]
    fn logic_reads_undefined_as_false() {
        check_values(&[
            ("true and true", "Bool(true)"),
            ("true and false", "Bool(false)"),
            ("false or true", "Bool(true)"),
            ("false or false", "Bool(false)"),
            (r#"true and properties["missing"] > 1"#, "Bool(false)"),
            (r#"properties["missing"] > 1 or true"#, "Bool(true)"),
            (r#"properties["missing"] > 1 or properties["missing"] < 1"#, "Bool(false)"),
            ("not true", "Bool(false)"),
            ("not false", "Bool(true)"),
            (r#"not properties["missing"]"#, "Bool(true)"),
            (r#"not (properties["missing"] > 1)"#, "Bool(true)"),
            (r#"not not properties["missing"]"#, "Bool(false)"),
            // Documented: not of any other type is undefined.
            (r#"not "x""#, "Undefined"),
            ("not 0", "Undefined"),
            (r#"not properties["nothing"]"#, "Undefined"),
            // Chosen: and/or read other types through the boolean() cast.
            (r#""x" and 1"#, "Bool(true)"),
            (r#""" or 0"#, "Bool(false)"),
            (r#""false" or "true""#, "Bool(true)"),
        ]);
    }

    #[test]
    fn functions_and_casts() {
        check_values(&[
            (r#"defined(properties["plan"])"#, "Bool(true)"),
            (r#"defined(properties["missing"])"#, "Bool(false)"),
            (r#"defined(properties["nothing"])"#, "Bool(false)"),
            (r#"not defined(properties["missing"])"#, "Bool(true)"),
            ("defined(1 / 0)", "Bool(false)"),
            ("floor(2.7)", "Number(2.0)"),
            ("floor(-2.5)", "Number(-3.0)"),
            ("ceil(2.1)", "Number(3.0)"),
            ("round(2.5)", "Number(3.0)"),
            ("round(-2.5)", "Number(-3.0)"),
            ("round(2.4)", "Number(2.0)"),
            (r#"floor("2.5")"#, "Undefined"),
            (r#"round(properties["missing"])"#, "Undefined"),
            (r#"boolean("true")"#, "Bool(true)"),
            (r#"boolean("false")"#, "Bool(false)"),
            (r#"boolean("")"#, "Bool(false)"),
            (r#"boolean("0")"#, "Bool(true)"),
            ("boolean(0)", "Bool(false)"),
            ("boolean(-1)", "Bool(true)"),
            ("boolean([])", "Bool(false)"),
            (r#"boolean(properties["missing"])"#, "Bool(false)"),
            (r#"boolean(properties["nothing"])"#, "Bool(false)"),
            (r#"number("12.5")"#, "Number(12.5)"),
            (r#"number(" -3e2 ")"#, "Number(-300.0)"),
            (r#"number("abc")"#, "Undefined"),
            (r#"number("inf")"#, "Undefined"),
            (r#"number("NaN")"#, "Undefined"),
            (r#"number("")"#, "Undefined"),
            ("number(true)", "Number(1.0)"),
            ("number(false)", "Number(0.0)"),
            (r#"number(properties["nothing"])"#, "Undefined"),
            (r#"number(properties["missing"])"#, "Undefined"),
            (r#"number(properties["seats"]) + 1"#, "Number(13.0)"),
            ("string(12)", r#"String("12")"#),
            ("string(1.5)", r#"String("1.5")"#),
            ("string(-0)", r#"String("0")"#),
            ("string(true)", r#"String("true")"#),
            (r#"string("x")"#, r#"String("x")"#),
            (r#"string(properties["nothing"])"#, "Null"),
            (r#"string(properties["missing"])"#, "Undefined"),
            ("string([1])", "Undefined"),
            (r#"string(properties["seats"]) == "12""#, "Bool(true)"),
            (r#"boolean(properties["beta"]) and number("1") == 1"#, "Bool(true)"),
        ]);
    }

    #[test]
    fn datetimes_compare_with_dates_and_date_strings() {
        check_values(&[
            (r#"datetime("2024-01-31") == datetime("2024-01-31T00:00:00Z")"#, "Bool(true)"),
            (r#"datetime("2024-01-31T12:00:00+02:00") == datetime("2024-01-31T10:00:00")"#, "Bool(true)"),
            (r#"datetime("2024-01-31 10:00:00") == datetime("2024-01-31T10:00:00.000Z")"#, "Bool(true)"),
            (r#"datetime("2024-01-31T12:00:00Z") > datetime("2024-01-31")"#, "Bool(true)"),
            (r#"properties["signup"] > datetime("2024-01-01")"#, "Bool(true)"),
            (r#"datetime("2024-01-01") < properties["signup"]"#, "Bool(true)"),
            (r#"properties["signup"] < datetime("2024-01-01")"#, "Bool(false)"),
            (r#"properties["signup"] == datetime("2024-03-05T10:00:00Z")"#, "Bool(true)"),
            (r#"datetime(properties["signup"]) >= datetime("2024-03-05")"#, "Bool(true)"),
            // A string that is no date, a number, a missing property: no comparison.
            (r#"properties["plan"] > datetime("2024-01-01")"#, "Undefined"),
            (r#"properties["plan"] == datetime("2024-01-01")"#, "Bool(false)"),
            (r#"properties["seats"] > datetime("2024-01-01")"#, "Undefined"),
            (r#"properties["missing"] > datetime("2024-01-01")"#, "Undefined"),
            // Numbers are Unix seconds, both ways.
            (r#"datetime(0) == datetime("1970-01-01")"#, "Bool(true)"),
            (r#"datetime(86400.5) > datetime("1970-01-02")"#, "Bool(true)"),
            (r#"number(datetime("1970-01-02"))"#, "Number(86400.0)"),
            (r#"string(datetime("2024-01-31T12:34:56+01:00"))"#, r#"String("2024-01-31T11:34:56")"#),
            // Computed text that is no date is undefined, not an error.
            (r#"datetime("2024-13" + "-01")"#, "Undefined"),
            (r#"datetime(properties["plan"])"#, "Undefined"),
            ("datetime(true)", "Undefined"),
            (r#"defined(datetime("2024-01-31"))"#, "Bool(true)"),
        ]);
    }

    #[test]
    fn words_are_case_insensitive() {
        let ada = record();
        let text = r#"PROPERTIES["plan"] == "pro" AND Not DEFINED(User["phone"]) Or FALSE"#;
        assert!(parsed(text).matches(&ada));
        assert_eq!(parsed("Floor(2.5)"), parsed("floor(2.5)"));
        assert_eq!(parsed("TRUE"), parsed("true"));
        assert_eq!(parsed(r#"1 In [1]"#), parsed("1 in [1]"));
    }

    /// Reads `a`, `b` and `c` standing alone as properties, to keep tables short.
    fn with_properties(text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let alone = |c: Option<&char>| c.is_none_or(|c| !c.is_ascii_alphanumeric() && !"_\"'[".contains(*c));
        let mut filled = String::new();
        for (index, c) in chars.iter().enumerate() {
            let before = index.checked_sub(1).and_then(|before| chars.get(before));
            if matches!(c, 'a'..='c') && alone(before) && alone(chars.get(index + 1)) {
                filled.push_str(&format!("properties[\"{c}\"]"));
            } else {
                filled.push(*c);
            }
        }
        filled
    }

    #[test]
    fn precedence_and_grouping() {
        for (text, grouped) in [
            ("1 + 2 * 3", "1 + (2 * 3)"),
            ("1 - 2 - 3", "(1 - 2) - 3"),
            ("8 / 2 / 2", "(8 / 2) / 2"),
            ("10 % 4 * 2", "(10 % 4) * 2"),
            ("-2 * 3", "(-2) * 3"),
            (r#"-properties["a"] * 3"#, r#"(-properties["a"]) * 3"#),
            ("1 + 2 == 3", "(1 + 2) == 3"),
            ("1 == 1 == true", "(1 == 1) == true"),
            ("a or b and c", "a or (b and c)"),
            ("a and b or c", "(a and b) or c"),
            ("a or b or c", "(a or b) or c"),
            ("not a and b", "(not a) and b"),
            ("not a == b", "not (a == b)"),
            (r#"not "x" in properties["y"]"#, r#"not ("x" in properties["y"])"#),
            (r#""x" in properties["y"] and b"#, r#"("x" in properties["y"]) and b"#),
            ("1 + 2 in [3]", "(1 + 2) in [3]"),
            ("a == b in c", "(a == b) in c"),
            ("not not a", "not (not a)"),
        ] {
            assert_eq!(parsed(&with_properties(text)), parsed(&with_properties(grouped)), "{text}");
        }
        check_values(&[
            ("1 + 2 * 3", "Number(7.0)"),
            ("1 - 2 - 3", "Number(-4.0)"),
            ("8 / 2 / 2", "Number(2.0)"),
            ("2 * (3 + 4)", "Number(14.0)"),
            ("-2 * -3", "Number(6.0)"),
            ("true or true and false", "Bool(true)"),
            ("(true or true) and false", "Bool(false)"),
        ]);
    }

    #[test]
    fn the_tree_is_what_a_compiler_needs() {
        let expr = parsed(r#"properties["plan"] not in ["a", "b"] and -floor(user["n"]) < -1"#);
        let expected = Expr::Binary(
            Box::new(Expr::In {
                needle: Box::new(Expr::Property(PropertyScope::Properties, "plan".into())),
                haystack: Box::new(Expr::List(vec![
                    Expr::Literal(Literal::String("a".into())),
                    Expr::Literal(Literal::String("b".into())),
                ])),
                negated: true,
            }),
            BinaryOp::And,
            Box::new(Expr::Binary(
                Box::new(Expr::Unary(
                    UnaryOp::Neg,
                    Box::new(Expr::Call(Function::Floor, vec![Expr::Property(PropertyScope::User, "n".into())])),
                )),
                BinaryOp::Lt,
                Box::new(Expr::Literal(Literal::Number(-1.0))),
            )),
        );
        assert_eq!(expr, expected);
    }

    #[test]
    fn display_prints_what_parses_back() {
        for text in [
            r#"properties["a"] == 1 and (user["b"] or not event["c"])"#,
            "1 - (2 - 3)",
            "-(5)",
            "--(5)",
            "-(-5)",
            r#"-properties["n"] * 2"#,
            r#"not defined(properties["x\n\"y"]) or [1, "two", [true]] == []"#,
            r#""a" not in properties["b"] in [false]"#,
            r#"(not true) == false"#,
        ] {
            let expr = parsed(text);
            let printed = expr.to_string();
            assert_eq!(parsed(&printed), expr, "{text} printed as {printed}");
        }
        assert_eq!(parsed("(1 + 2) * 3").to_string(), "(1 + 2) * 3");
        assert_eq!(parsed("NOT  properties['a']  in  'x'").to_string(), r#"not properties["a"] in "x""#);
    }

    #[test]
    fn errors_say_where() {
        for (text, at) in [
            ("", 0),
            ("   ", 0),
            ("properties[plan] == 1", 11),
            ("foo(1)", 0),
            (r#"properties["a"] == "b" garbage"#, 23),
            (r#"properties["a" == 1"#, 15),
            ("\"open", 0),
            ("1 +", 3),
            ("(1 + 2", 6),
            ("(1 + 2))", 7),
            ("[1, 2", 5),
            ("[1,]", 3),
            ("floor(1, 2)", 7),
            ("floor()", 6),
            ("floor 1", 6),
            ("properties", 10),
            ("1 = 1", 2),
            ("a not b", 0),
            (r#"properties["a"] not b"#, 20),
            (r#""\x""#, 1),
            ("1e999", 0),
            (r#"datetime("soon")"#, 9),
            // Positions count characters, not bytes.
            (r#""é" == 1 ~"#, 9),
        ] {
            match parse(text) {
                Ok(expr) => panic!("{text} parsed as {expr:?}"),
                Err(error) => {
                    assert_eq!(error.at, at, "{text}: {error}");
                    assert!(error.to_string().starts_with("where: "), "{text}: {error}");
                }
            }
        }
    }

    #[test]
    fn syntax_error_messages() {
        insta::assert_snapshot!(error(r#"properties["a"] == "#), @r#"where: expected a property, a value or "(" (at character 19)"#);
        insta::assert_snapshot!(error("properties[plan] == 1"), @r#"where: expected a property name in quotes, as in properties["name"], found "plan" (at character 11)"#);
        insta::assert_snapshot!(error("foo(1)"), @r#"where: expected a function (defined, floor, round, ceil, boolean, number, string, datetime), found "foo" (at character 0)"#);
        insta::assert_snapshot!(error("plan == 1"), @r#"where: expected a property, a value or "(", found "plan" (a property is written properties["plan"]) (at character 0)"#);
        insta::assert_snapshot!(error(r#"properties["a"] == "b" garbage"#), @r#"where: expected an operator or the end of the expression, found "garbage" (at character 23)"#);
        insta::assert_snapshot!(error(r#"(properties["a"] == 1"#), @r#"where: expected an operator or ")" (at character 21)"#);
        insta::assert_snapshot!(error("[1, 2"), @r#"where: expected an operator, "," or "]" (at character 5)"#);
        insta::assert_snapshot!(error("\"open"), @r#"where: expected a closing " for this string (at character 0)"#);
        insta::assert_snapshot!(error(r#""\q""#), @r#"where: expected an escape: \" \' \\ \/ \b \f \n \r \t or \u and four hex digits (at character 1)"#);
        insta::assert_snapshot!(error("floor(1, 2)"), @r#"where: expected ")": floor takes one argument (at character 7)"#);
        insta::assert_snapshot!(error(r#"properties["a"] = 1"#), @r#"where: expected an operator or the end of the expression, found "=" (compare with "==") (at character 16)"#);
        insta::assert_snapshot!(error(r#"properties["a"] && true"#), @r#"where: expected an operator or the end of the expression, found "&&" (write "and") (at character 16)"#);
        insta::assert_snapshot!(error(r#"properties["a"] not "b""#), @r#"where: expected "in" after "not", found a string (at character 20)"#);
        insta::assert_snapshot!(error(r#"datetime("yesterday")"#), @r#"where: expected an ISO 8601 date or date-time such as "2024-01-31" or "2024-01-31T12:00:00Z", found "yesterday" (at character 9)"#);
        insta::assert_snapshot!(error("properties[\"a\"] == null"), @r#"where: expected a property, a value or "(", found "null" (there is no null; test with defined(...)) (at character 19)"#);
        insta::assert_snapshot!(error("1e999"), @"where: expected a number of at most 1.7e308, found 1e999 (at character 0)");
        insta::assert_snapshot!(error(""), @"where: the expression is empty (at character 0)");
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |depth: usize| format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
        assert!(parse(&nested(MAX_NESTING)).is_ok());
        let too_deep = parse(&nested(MAX_NESTING + 1)).err();
        assert_eq!(too_deep.map(|error| error.at), Some(MAX_NESTING));
        insta::assert_snapshot!(error(&nested(100_000)), @"where: the expression nests deeper than 64 levels (at character 64)");
        let calls = |depth: usize| format!("{}1{}", "floor(".repeat(depth), ")".repeat(depth));
        assert!(parse(&calls(MAX_NESTING)).is_ok());
        assert!(parse(&calls(MAX_NESTING + 1)).is_err());
        let lists = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(&lists(MAX_NESTING)).is_ok());
        assert!(parse(&lists(MAX_NESTING + 1)).is_err());
        // Unclosed openers are refused by the limit before the end is reached.
        assert!(parse(&"[(floor(".repeat(50_000)).is_err());
    }

    #[test]
    fn height_is_bounded() {
        let chain = |terms: usize| vec!["1"; terms].join(" + ");
        assert!(parse(&chain(MAX_HEIGHT)).is_ok());
        insta::assert_snapshot!(error(&chain(MAX_HEIGHT + 2)), @"where: the expression is too deep: more than 256 operations inside one another (at character 1022)");
        let ors = vec![r#"properties["plan"] == "x""#; 200].join(" or ");
        assert!(parse(&ors).is_ok());
        assert!(parse(&format!("{}1", "- ".repeat(100_000))).is_err());
        assert!(parse(&format!("{}true", "not ".repeat(100_000))).is_err());
        assert!(parse(&format!("{}1", "-".repeat(MAX_HEIGHT - 1))).is_ok());
        assert!(parse(&"1 == ".repeat(100_000)).is_err());
    }

    /// The deepest expressions the limits allow parse, evaluate, print and drop on half the
    /// stack of a default thread, in a debug build (a release build needs a fifth of it).
    #[test]
    fn the_deepest_allowed_expressions_fit_a_small_stack() {
        let wrapped = |open: &str, inner: &str, close: &str, depth: usize| {
            format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
        };
        let tall = vec!["1"; MAX_HEIGHT - 2 * MAX_NESTING].join(" + ");
        let texts = [
            wrapped("(", "1", ")", MAX_NESTING),
            wrapped("[", "1", "]", MAX_NESTING),
            wrapped("floor(", "1", ")", MAX_NESTING),
            wrapped("floor(", &tall, ")", MAX_NESTING),
            // Every binding power open at each level: the most the parser keeps on the stack.
            wrapped("1 or 1 and not 1 == 1 + 1 * -(", "1", ")", MAX_HEIGHT / 7),
        ];
        let worked = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || {
                texts.iter().all(|text| {
                    let Ok(expr) = parse(text) else { return false };
                    let _ = expr.matches(&Map::new());
                    parse(&expr.to_string()).as_ref() == Ok(&expr)
                })
            })
            .map(|handle| handle.join());
        assert!(matches!(worked, Ok(Ok(true))));
        let tall = parse(&wrapped("floor(", &vec!["1"; 100].join(" + "), ")", MAX_NESTING));
        assert_eq!(tall.map(|expr| format!("{:?}", expr.eval(&Map::new()))).ok(), Some("Number(100.0)".into()));
    }

    fn scope() -> impl Strategy<Value = PropertyScope> {
        prop_oneof![Just(PropertyScope::Properties), Just(PropertyScope::User), Just(PropertyScope::Event)]
    }

    fn binary_op() -> impl Strategy<Value = BinaryOp> {
        use BinaryOp::*;
        prop::sample::select(vec![Add, Sub, Mul, Div, Rem, Eq, Ne, Lt, Le, Gt, Ge, And, Or])
    }

    fn expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            (scope(), any::<String>()).prop_map(|(scope, name)| Expr::Property(scope, name)),
            any::<bool>().prop_map(|flag| Expr::Literal(Literal::Bool(flag))),
            (-1e9f64..1e9).prop_map(|number| Expr::Literal(Literal::Number(number))),
            (0u32..1000).prop_map(|number| Expr::Literal(Literal::Number(f64::from(number)))),
            any::<String>().prop_map(|text| Expr::Literal(Literal::String(text))),
        ];
        leaf.prop_recursive(5, 48, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::List),
                (prop_oneof![Just(UnaryOp::Neg), Just(UnaryOp::Not)], inner.clone())
                    .prop_map(|(op, operand)| Expr::Unary(op, Box::new(operand))),
                (inner.clone(), binary_op(), inner.clone()).prop_map(|(left, op, right)| Expr::Binary(
                    Box::new(left),
                    op,
                    Box::new(right)
                )),
                (inner.clone(), inner.clone(), any::<bool>()).prop_map(|(needle, haystack, negated)| Expr::In {
                    needle: Box::new(needle),
                    haystack: Box::new(haystack),
                    negated,
                }),
                (prop::sample::select(Function::ALL.to_vec()), inner).prop_map(|(function, argument)| {
                    // A datetime of literal text must be a date; the parser refuses others.
                    let function = match (function, &argument) {
                        (Function::Datetime, Expr::Literal(Literal::String(_))) => Function::String,
                        _ => function,
                    };
                    Expr::Call(function, vec![argument])
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in any::<String>()) {
            let _ = parse(&text);
        }

        #[test]
        fn parsing_near_misses_never_panics(text in r#"[ ()\[\]"'\\a-zA-Z0-9_=<>!+*/%,.eu-]{0,80}"#) {
            let _ = parse(&text);
        }

        #[test]
        fn printed_expressions_parse_back(expr in expr()) {
            let printed = expr.to_string();
            let reparsed = parse(&printed);
            prop_assert_eq!(reparsed.as_ref(), Ok(&expr), "printed as {}", printed);
        }

        #[test]
        fn evaluating_never_panics(expr in expr(), properties in prop::collection::vec(("[a-c]", any::<i8>()), 0..3)) {
            let map: Map<String, Value> = properties.into_iter().map(|(key, value)| (key, Value::from(value))).collect();
            let _ = expr.matches(&map);
        }
    }
}
