//! Mixpanel's segmentation expressions, the subset `where` filters need today (the query
//! engine will take the language further): `properties["name"]` (or `user["name"]`) compared
//! with `==`, `!=`, `<`, `<=`, `>`, `>=` to a string, number, boolean or another property;
//! `defined(...)` and `not defined(...)`; `and`, `or`, `not` and parentheses. Anything else
//! is refused with a message saying where, never read as "everything".

use serde_json::{Map, Value};

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Property(String),
    Literal(Value),
    Defined(Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("where: {message} (at character {at})")]
pub struct ExprError {
    pub at: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Symbol(&'static str),
}

const SYMBOLS: [&str; 12] = ["==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", "!", "="];

fn tokens(text: &str) -> Result<Vec<(usize, Token)>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == '"' || c == '\'' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(ExprError { at: start, message: "a string is not closed".into() }),
                    Some('\\') => {
                        if let Some(next) = chars.get(i + 1) {
                            value.push(*next);
                        }
                        i += 2;
                    }
                    Some(q) if *q == c => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        value.push(*other);
                        i += 1;
                    }
                }
            }
            found.push((start, Token::Text(value)));
        } else if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            i += 1;
            while chars.get(i).is_some_and(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == 'E') {
                i += 1;
            }
            let literal: String = chars[start..i].iter().collect();
            let number = literal
                .parse::<f64>()
                .map_err(|_| ExprError { at: start, message: format!("{literal:?} is not a number") })?;
            found.push((start, Token::Number(number)));
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            while chars.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '$') {
                i += 1;
            }
            found.push((start, Token::Word(chars[start..i].iter().collect::<String>().to_lowercase())));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(symbol) = SYMBOLS.iter().find(|symbol| rest.starts_with(**symbol)) else {
                return Err(ExprError { at: start, message: format!("unexpected {c:?}") });
            };
            i += symbol.chars().count();
            found.push((start, Token::Symbol(symbol)));
        }
    }
    Ok(found)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, token)| token)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.next).map(|(at, _)| *at).unwrap_or(self.end)
    }

    fn error(&self, message: impl Into<String>) -> ExprError {
        ExprError { at: self.at(), message: message.into() }
    }

    fn take(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).map(|(_, token)| token.clone());
        self.next += 1;
        token
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(found)) if found == word)
    }

    fn expect(&mut self, symbol: &str) -> Result<(), ExprError> {
        match self.peek() {
            Some(Token::Symbol(found)) if *found == symbol => {
                self.next += 1;
                Ok(())
            }
            _ => Err(self.error(format!("expected {symbol:?}"))),
        }
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.next += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while self.is_word("and") {
            self.next += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.is_word("not") || matches!(self.peek(), Some(Token::Symbol("!"))) {
            self.next += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ExprError> {
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Token::Symbol("==" | "=")) => Op::Eq,
            Some(Token::Symbol("!=")) => Op::Ne,
            Some(Token::Symbol("<")) => Op::Lt,
            Some(Token::Symbol("<=")) => Op::Le,
            Some(Token::Symbol(">")) => Op::Gt,
            Some(Token::Symbol(">=")) => Op::Ge,
            _ => return Ok(left),
        };
        self.next += 1;
        let right = self.operand()?;
        Ok(Expr::Compare(Box::new(left), op, Box::new(right)))
    }

    fn operand(&mut self) -> Result<Expr, ExprError> {
        let at = self.at();
        match self.take() {
            Some(Token::Symbol("(")) => {
                let inner = self.or()?;
                self.expect(")")?;
                Ok(inner)
            }
            Some(Token::Text(text)) => Ok(Expr::Literal(Value::String(text))),
            Some(Token::Number(number)) => Ok(Expr::Literal(Value::from(number))),
            Some(Token::Word(word)) => match word.as_str() {
                "true" => Ok(Expr::Literal(Value::Bool(true))),
                "false" => Ok(Expr::Literal(Value::Bool(false))),
                "defined" => {
                    self.expect("(")?;
                    let inner = self.operand()?;
                    self.expect(")")?;
                    Ok(Expr::Defined(Box::new(inner)))
                }
                "properties" | "user" | "event" => {
                    self.expect("[")?;
                    let Some(Token::Text(name)) = self.take() else {
                        return Err(self.error("a property is named by a string: properties[\"name\"]"));
                    };
                    self.expect("]")?;
                    Ok(Expr::Property(name))
                }
                other => Err(ExprError { at, message: format!("{other:?} is not supported here") }),
            },
            Some(Token::Symbol(symbol)) => Err(ExprError { at, message: format!("unexpected {symbol:?}") }),
            None => Err(ExprError { at, message: "the expression ends too early".into() }),
        }
    }
}

/// Parses an expression; the whole text must be one.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let tokens = tokens(text)?;
    if tokens.is_empty() {
        return Err(ExprError { at: 0, message: "the expression is empty".into() });
    }
    let mut parser = Parser { tokens, next: 0, end: text.chars().count() };
    let expr = parser.or()?;
    if parser.next < parser.tokens.len() {
        return Err(parser.error("unexpected text after the expression"));
    }
    Ok(expr)
}

fn value_of<'a>(expr: &'a Expr, properties: &'a Map<String, Value>) -> Option<&'a Value> {
    match expr {
        Expr::Property(name) => properties.get(name),
        Expr::Literal(value) => Some(value),
        _ => None,
    }
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(Value::Number(number)) => number.as_f64().is_some_and(|n| n != 0.0),
        Some(Value::String(text)) => !text.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(map)) => !map.is_empty(),
    }
}

fn compare(left: Option<&Value>, op: Op, right: Option<&Value>) -> bool {
    use std::cmp::Ordering;
    let ordering = match (left, right) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => {
            a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b))
        }
        (Some(Value::String(a)), Some(Value::String(b))) => Some(a.cmp(b)),
        (Some(Value::Bool(a)), Some(Value::Bool(b))) => Some(a.cmp(b)),
        (Some(a), Some(b)) => (a == b).then_some(Ordering::Equal),
        (None, None) => Some(Ordering::Equal),
        _ => None,
    };
    match op {
        Op::Eq => ordering == Some(Ordering::Equal),
        Op::Ne => ordering != Some(Ordering::Equal),
        Op::Lt => ordering == Some(Ordering::Less),
        Op::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        Op::Gt => ordering == Some(Ordering::Greater),
        Op::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
    }
}

impl Expr {
    /// Whether a record with these properties matches.
    pub fn matches(&self, properties: &Map<String, Value>) -> bool {
        match self {
            Expr::Property(_) | Expr::Literal(_) => truthy(value_of(self, properties)),
            Expr::Defined(inner) => value_of(inner, properties).is_some_and(|value| !value.is_null()),
            Expr::Not(inner) => !inner.matches(properties),
            Expr::And(left, right) => left.matches(properties) && right.matches(properties),
            Expr::Or(left, right) => left.matches(properties) || right.matches(properties),
            Expr::Compare(left, op, right) => compare(value_of(left, properties), *op, value_of(right, properties)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn props(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn comparisons_logic_and_defined() {
        let ada = props(json!({ "$email": "ada@example.com", "plan": "pro", "seats": 12, "beta": true }));
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
        ];
        for (text, expected) in cases {
            let expr = parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!(expr.matches(&ada), expected, "{text}");
        }
    }

    #[test]
    fn what_is_not_understood_is_refused_with_its_place() {
        for text in [
            "",
            "properties[plan] == 1",
            "foo(1)",
            r#"properties["a"] == "b" garbage"#,
            r#"properties["a" == 1"#,
            "\"open",
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.to_string().starts_with("where: "), "{text}: {error}");
        }
    }
}
