//! The parser, on winnow: its combinators read the tokens, and precedence climbing
//! ([`expression`]) arranges the operators. The grammar, loosest binding first:
//!
//! ```text
//! expression := or
//! or         := and ("or" and)*
//! and        := not ("and" not)*
//! not        := "not"* comparison
//! comparison := sum (("==" | "!=" | ">" | ">=" | "<" | "<=" | "in" | "not" "in") sum)*
//! sum        := product (("+" | "-") product)*
//! product    := negated (("*" | "/" | "%") negated)*
//! negated    := "-"* primary
//! primary    := "(" expression ")" | "[" (expression ("," expression)*)? "]"
//!             | string | number | "true" | "false"
//!             | ("properties" | "user" | "event") "[" string "]"
//!             | function "(" expression ")"
//! ```
//!
//! Binary operators group to the left. Words are case-insensitive (`AND`, `Not`,
//! `Defined`), whitespace is free between tokens, strings take double or single quotes
//! with JSON's escapes. Every failure is a cut carrying its byte position and a message
//! saying what was expected there, so the first mistake is the one reported.
//!
//! Hostile input cannot exhaust the stack: brackets (parentheses, lists, calls) nest at most
//! [`MAX_NESTING`] deep, and between brackets the parser recurses at most once per binding
//! power; the tree it builds is at most [`MAX_HEIGHT`] nodes high, since evaluating,
//! printing and dropping it recurse too.

use std::fmt::Display;

use winnow::ascii::{Caseless, digit1};
use winnow::combinator::{alt, cut_err, eof, fail, not, opt, terminated};
use winnow::error::{AddContext, ErrMode, ParserError};
use winnow::stream::{Location, Stream};
use winnow::token::{any, one_of, take, take_till, take_while};
use winnow::{LocatingSlice, ModalResult, Parser};

use super::eval::parse_datetime;
use super::{BinaryOp, Expr, ExprError, Function, Literal, PropertyScope, UnaryOp};

/// How deep parentheses, list brackets and function calls may nest.
pub const MAX_NESTING: usize = 64;
/// How many operators and calls may sit inside one another, all kinds together (a chain of
/// `or`s counts one per `or`).
pub const MAX_HEIGHT: usize = 256;

type Input<'a> = LocatingSlice<&'a str>;
type Parsed<T> = ModalResult<T, Failure>;

/// Where parsing failed (a byte offset) and what was expected there.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    at: usize,
    message: Option<String>,
}

impl<'a> ParserError<Input<'a>> for Failure {
    type Inner = Self;

    fn from_input(input: &Input<'a>) -> Self {
        Failure { at: input.current_token_start(), message: None }
    }

    fn into_inner(self) -> Result<Self::Inner, Self> {
        Ok(self)
    }

    /// Of two failed alternatives, the one that got further says more.
    fn or(self, other: Self) -> Self {
        if other.at >= self.at { other } else { self }
    }
}

/// `.context("a thing")` names what was expected, unless a failure further in already
/// said something more precise.
impl<'a, C: Display> AddContext<Input<'a>, C> for Failure {
    fn add_context(mut self, input: &Input<'a>, _token_start: &<Input<'a> as Stream>::Checkpoint, context: C) -> Self {
        if self.message.is_none() {
            self.message = Some(format!("expected {context}{}", found(input.peek_finish())));
        }
        self
    }
}

/// ", found X" naming what stands where something else was expected (nothing at the end),
/// with a hint for the usual slips from other languages.
fn found(rest: &str) -> String {
    let Some(first) = rest.chars().next() else { return String::new() };
    if first == '"' || first == '\'' {
        return ", found a string".into();
    }
    let token: String = if is_word_char(first) {
        rest.chars().take_while(|c| is_word_char(*c) || *c == '.').take(40).collect()
    } else if rest.starts_with("&&") || rest.starts_with("||") {
        rest.chars().take(2).collect()
    } else {
        first.to_string()
    };
    let hint = match token.as_str() {
        "=" => " (compare with \"==\")",
        "&&" => " (write \"and\")",
        "||" => " (write \"or\")",
        "!" => " (write \"not\")",
        _ if token.eq_ignore_ascii_case("null") => " (there is no null; test with defined(...))",
        _ => "",
    };
    format!(", found {token:?}{hint}")
}

// Failures are built out of line (cold, never inlined) so their formatting does not
// weigh on the stack frames that recursion repeats.

#[cold]
#[inline(never)]
fn failure(at: usize, message: String) -> ErrMode<Failure> {
    ErrMode::Cut(Failure { at, message: Some(message) })
}

#[cold]
#[inline(never)]
fn too_tall(at: usize) -> ErrMode<Failure> {
    failure(at, format!("the expression is too deep: more than {MAX_HEIGHT} operations inside one another"))
}

#[cold]
#[inline(never)]
fn too_nested(at: usize) -> ErrMode<Failure> {
    failure(at, format!("the expression nests deeper than {MAX_NESTING} levels"))
}

/// A word that is not a value, a property reference or a known function, at `at`.
#[cold]
#[inline(never)]
fn not_an_operand(input: &mut Input<'_>, at: usize) -> ErrMode<Failure> {
    let before = input.checkpoint();
    let name = take_while::<_, _, ErrMode<Failure>>(1.., is_word_char).parse_next(input).unwrap_or_default();
    let _ = space(input);
    if input.peek_token() == Some('(') {
        let known = Function::ALL.map(Function::name).join(", ");
        return failure(at, format!("expected a function ({known}), found {name:?}"));
    }
    input.reset(&before);
    // A plain name was most likely meant as a property.
    let lower = name.to_ascii_lowercase();
    let hint = if ["and", "or", "not", "in", "null"].contains(&lower.as_str()) {
        String::new()
    } else {
        format!(" (a property is written properties[{name:?}])")
    };
    failure(at, format!("expected {OPERAND}{}{hint}", found(input.peek_finish())))
}

#[cold]
#[inline(never)]
fn one_argument(at: usize, function: Function, before_comma: bool) -> ErrMode<Failure> {
    let name = function.name();
    if before_comma {
        failure(at, format!("expected \")\": {name} takes one argument"))
    } else {
        failure(at, format!("expected an argument: {name} takes one"))
    }
}

#[cold]
#[inline(never)]
fn not_a_date(at: usize, text: &str) -> ErrMode<Failure> {
    let examples = "\"2024-01-31\" or \"2024-01-31T12:00:00Z\"";
    failure(at, format!("expected an ISO 8601 date or date-time such as {examples}, found {text:?}"))
}

/// A subtree and its height, so the parser can refuse a tree too tall to walk safely.
struct Node {
    expr: Expr,
    height: usize,
}

impl Node {
    fn leaf(expr: Expr) -> Node {
        Node { expr, height: 1 }
    }

    /// A node over subtrees of `below` height, refused at `at` when it would be too tall.
    fn over(expr: Expr, below: usize, at: usize) -> Parsed<Node> {
        if below >= MAX_HEIGHT {
            return Err(too_tall(at));
        }
        Ok(Node { expr, height: below + 1 })
    }
}

/// Parses a whole expression: the text must be exactly one.
pub(super) fn parse_text(text: &str) -> Result<Expr, ExprError> {
    if text.trim().is_empty() {
        return Err(ExprError { at: 0, message: "the expression is empty".into() });
    }
    let mut input = LocatingSlice::new(text);
    let parsed = whole.parse_next(&mut input);
    parsed.map_err(|error| {
        let failure = match error {
            ErrMode::Backtrack(failure) | ErrMode::Cut(failure) => failure,
            ErrMode::Incomplete(_) => Failure { at: text.len(), message: None },
        };
        // Positions are reported in characters, as a person counts them.
        let at = text.get(..failure.at).map_or_else(|| text.chars().count(), |before| before.chars().count());
        let message = failure.message.unwrap_or_else(|| "this is not an expression".into());
        ExprError { at, message }
    })
}

fn whole(input: &mut Input<'_>) -> Parsed<Expr> {
    let node = expression(input, 0, 0)?;
    space(input)?;
    cut_err(eof).context("an operator or the end of the expression").parse_next(input)?;
    Ok(node.expr)
}

fn space(input: &mut Input<'_>) -> Parsed<()> {
    take_while(0.., char::is_whitespace).void().parse_next(input)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A case-insensitive word that is not the start of a longer one (`in`, not `index`).
fn keyword<'a>(word: &'static str) -> impl Parser<Input<'a>, (), ErrMode<Failure>> {
    terminated(Caseless(word), not(one_of(is_word_char))).void()
}

/// What joins two operands.
#[derive(Clone, Copy)]
enum Infix {
    Binary(BinaryOp),
    In { negated: bool },
}

/// Binding powers, higher binds tighter. `not` sits between `and` and the comparisons, so
/// `not "x" in properties["y"]` is `not ("x" in properties["y"])`, as Mixpanel's own
/// examples read it; unary minus binds tightest.
const NOT_POWER: u8 = 3;

impl Infix {
    fn power(self) -> u8 {
        match self {
            Infix::Binary(BinaryOp::Or) => 1,
            Infix::Binary(BinaryOp::And) => 2,
            Infix::Binary(BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge)
            | Infix::In { .. } => 4,
            Infix::Binary(BinaryOp::Add | BinaryOp::Sub) => 5,
            Infix::Binary(BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem) => 6,
        }
    }

    fn join(self, left: Node, right: Node, at: usize) -> Parsed<Node> {
        let below = left.height.max(right.height);
        let (left, right) = (Box::new(left.expr), Box::new(right.expr));
        let expr = match self {
            Infix::Binary(op) => Expr::Binary(left, op, right),
            Infix::In { negated } => Expr::In { needle: left, haystack: right, negated },
        };
        Node::over(expr, below, at)
    }
}

fn infix(input: &mut Input<'_>) -> Parsed<Infix> {
    use BinaryOp::*;
    alt((
        alt((
            "==".value(Infix::Binary(Eq)),
            "!=".value(Infix::Binary(Ne)),
            ">=".value(Infix::Binary(Ge)),
            "<=".value(Infix::Binary(Le)),
            ">".value(Infix::Binary(Gt)),
            "<".value(Infix::Binary(Lt)),
        )),
        alt((
            '+'.value(Infix::Binary(Add)),
            '-'.value(Infix::Binary(Sub)),
            '*'.value(Infix::Binary(Mul)),
            '/'.value(Infix::Binary(Div)),
            '%'.value(Infix::Binary(Rem)),
        )),
        alt((
            keyword("and").value(Infix::Binary(And)),
            keyword("or").value(Infix::Binary(Or)),
            keyword("in").value(Infix::In { negated: false }),
            // After an operand, `not` can only begin `not in`.
            (keyword("not"), space, cut_err(keyword("in")).context("\"in\" after \"not\""))
                .value(Infix::In { negated: true }),
        )),
    ))
    .parse_next(input)
}

/// An expression whose operators all bind at least `min_power` tightly (precedence
/// climbing): an operand, then operators in a loop, each taking as its right side an
/// expression of operators binding tighter than itself, so they group to the left.
///
/// Recursion happens for right operands (at most once per power) and inside brackets
/// (counted by `nesting`), so a chain of operators is a loop, not a deeper stack.
fn expression(input: &mut Input<'_>, nesting: usize, min_power: u8) -> Parsed<Node> {
    let mut left = operand(input, nesting, min_power)?;
    loop {
        space(input)?;
        let at = input.current_token_start();
        let before = input.checkpoint();
        let Some(infix) = opt(infix).parse_next(input)? else { return Ok(left) };
        if infix.power() < min_power {
            input.reset(&before);
            return Ok(left);
        }
        let right = expression(input, nesting, infix.power() + 1)?;
        left = infix.join(left, right, at)?;
    }
}

/// An operand with its prefix operators: `not`s (where an expression of `not`'s power may
/// stand), then `-`s, then a primary. Runs of prefixes are loops.
fn operand(input: &mut Input<'_>, nesting: usize, min_power: u8) -> Parsed<Node> {
    let mut nots = Vec::new();
    if min_power <= NOT_POWER {
        loop {
            space(input)?;
            let at = input.current_token_start();
            if opt(keyword("not")).parse_next(input)?.is_none() {
                break;
            }
            nots.push(at);
            if nots.len() > MAX_HEIGHT {
                return Err(too_tall(at));
            }
        }
    }
    let mut node = if nots.is_empty() { negated(input, nesting)? } else { expression(input, nesting, NOT_POWER + 1)? };
    for at in nots.into_iter().rev() {
        node = Node::over(Expr::Unary(UnaryOp::Not, Box::new(node.expr)), node.height, at)?;
    }
    Ok(node)
}

/// Unary minus. A minus right before a number is part of it: `-5` is the number -5, not
/// the negation of 5 (they evaluate alike; the tree is simpler to compile).
fn negated(input: &mut Input<'_>, nesting: usize) -> Parsed<Node> {
    let mut minuses = Vec::new();
    let mut node = loop {
        space(input)?;
        let at = input.current_token_start();
        if opt('-').parse_next(input)?.is_none() {
            break primary(input, nesting)?;
        }
        space(input)?;
        if let Some(number) = opt(number).parse_next(input)? {
            break Node::leaf(Expr::Literal(Literal::Number(-number)));
        }
        minuses.push(at);
        if minuses.len() > MAX_HEIGHT {
            return Err(too_tall(at));
        }
    };
    for at in minuses.into_iter().rev() {
        node = Node::over(Expr::Unary(UnaryOp::Neg, Box::new(node.expr)), node.height, at)?;
    }
    Ok(node)
}

const OPERAND: &str = "a property, a value or \"(\"";

fn primary(input: &mut Input<'_>, nesting: usize) -> Parsed<Node> {
    space(input)?;
    let at = input.current_token_start();
    match input.peek_token() {
        Some('(') => {
            let inside = enter(nesting, at)?;
            '('.parse_next(input)?;
            let node = expression(input, inside, 0)?;
            space(input)?;
            cut_err(')').context("an operator or \")\"").parse_next(input)?;
            Ok(node)
        }
        Some('[') => list(input, enter(nesting, at)?, at),
        Some('"' | '\'') => Ok(Node::leaf(Expr::Literal(Literal::String(string(input)?)))),
        Some(c) if c.is_ascii_digit() => Ok(Node::leaf(Expr::Literal(Literal::Number(number(input)?)))),
        Some(c) if c.is_ascii_alphabetic() || c == '_' => word(input, nesting, at),
        _ => cut_err(fail).context(OPERAND).parse_next(input),
    }
}

fn enter(nesting: usize, at: usize) -> Parsed<usize> {
    if nesting >= MAX_NESTING {
        return Err(too_nested(at));
    }
    Ok(nesting + 1)
}

/// `[a, b, ...]`, possibly empty.
fn list(input: &mut Input<'_>, inside: usize, at: usize) -> Parsed<Node> {
    '['.parse_next(input)?;
    space(input)?;
    let mut items = Vec::new();
    let mut below = 0;
    if opt(']').parse_next(input)?.is_none() {
        loop {
            let item = expression(input, inside, 0)?;
            below = below.max(item.height);
            items.push(item.expr);
            space(input)?;
            let more = cut_err(alt((','.value(true), ']'.value(false))))
                .context("an operator, \",\" or \"]\"")
                .parse_next(input)?;
            if !more {
                break;
            }
        }
    }
    Node::over(Expr::List(items), below, at)
}

/// What a word starts: a boolean, a property reference or a function call.
fn word(input: &mut Input<'_>, nesting: usize, at: usize) -> Parsed<Node> {
    let before = input.checkpoint();
    let name = take_while(1.., is_word_char).parse_next(input)?.to_ascii_lowercase();
    match name.as_str() {
        "true" => Ok(Node::leaf(Expr::Literal(Literal::Bool(true)))),
        "false" => Ok(Node::leaf(Expr::Literal(Literal::Bool(false)))),
        "properties" => property(input, PropertyScope::Properties),
        "user" => property(input, PropertyScope::User),
        "event" => property(input, PropertyScope::Event),
        _ => match Function::from_name(&name) {
            Some(function) => call(input, function, nesting, at),
            None => {
                input.reset(&before);
                Err(not_an_operand(input, at))
            }
        },
    }
}

/// `properties["name"]` and its kin, after the word.
fn property(input: &mut Input<'_>, scope: PropertyScope) -> Parsed<Node> {
    space(input)?;
    cut_err('[').context(format_args!("\"[\" after {}", scope.name())).parse_next(input)?;
    space(input)?;
    let name = cut_err(string)
        .context(format_args!("a property name in quotes, as in {}[\"name\"]", scope.name()))
        .parse_next(input)?;
    space(input)?;
    cut_err(']').context("\"]\"").parse_next(input)?;
    Ok(Node::leaf(Expr::Property(scope, name)))
}

/// `name(argument)`, after the name. Every function takes one argument.
fn call(input: &mut Input<'_>, function: Function, nesting: usize, at: usize) -> Parsed<Node> {
    space(input)?;
    let open = input.current_token_start();
    cut_err('(').context(format_args!("\"(\" after {}", function.name())).parse_next(input)?;
    let inside = enter(nesting, open)?;
    space(input)?;
    if input.peek_token() == Some(')') {
        return Err(one_argument(input.current_token_start(), function, false));
    }
    let argument_at = input.current_token_start();
    let argument = expression(input, inside, 0)?;
    space(input)?;
    if input.peek_token() == Some(',') {
        return Err(one_argument(input.current_token_start(), function, true));
    }
    cut_err(')').context("an operator or \")\"").parse_next(input)?;
    // A date that can never be read is a mistake in the query, not a value to filter with.
    if let (Function::Datetime, Expr::Literal(Literal::String(text))) = (function, &argument.expr)
        && parse_datetime(text).is_none()
    {
        return Err(not_a_date(argument_at, text));
    }
    Node::over(Expr::Call(function, vec![argument.expr]), argument.height, at)
}

/// A number: digits, an optional fraction and exponent (the sign is the unary level's).
fn number(input: &mut Input<'_>) -> Parsed<f64> {
    let at = input.current_token_start();
    let text = (digit1, opt(('.', digit1)), opt((one_of(['e', 'E']), opt(one_of(['+', '-'])), digit1)))
        .take()
        .parse_next(input)?;
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(number),
        _ => Err(failure(at, format!("expected a number of at most 1.7e308, found {text}"))),
    }
}

/// A string in double or single quotes, with JSON's escapes plus `\'`.
fn string(input: &mut Input<'_>) -> Parsed<String> {
    let at = input.current_token_start();
    let quote = one_of(['"', '\'']).parse_next(input)?;
    let mut value = String::new();
    loop {
        value.push_str(take_till(0.., [quote, '\\']).parse_next(input)?);
        let escape_at = input.current_token_start();
        match opt(any).parse_next(input)? {
            None => return Err(failure(at, format!("expected a closing {quote} for this string"))),
            Some('\\') => value.push(escape(input, escape_at)?),
            Some(_) => return Ok(value),
        }
    }
}

const ESCAPES: &str = "an escape: \\\" \\' \\\\ \\/ \\b \\f \\n \\r \\t or \\u and four hex digits";

/// The character an escape stands for, after its backslash.
fn escape(input: &mut Input<'_>, at: usize) -> Parsed<char> {
    let simple = match opt(any).parse_next(input)? {
        Some('"') => '"',
        Some('\'') => '\'',
        Some('\\') => '\\',
        Some('/') => '/',
        Some('b') => '\u{8}',
        Some('f') => '\u{c}',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('u') => {
            let first = hex4(input, at)?;
            let code = if (0xD800..0xDC00).contains(&first) {
                // A high surrogate: JSON writes characters beyond the first plane as a pair.
                let low = opt(("\\u", |input: &mut Input<'_>| hex4(input, at)))
                    .parse_next(input)?
                    .map(|(_, low)| low)
                    .filter(|low| (0xDC00..0xE000).contains(low));
                let Some(low) = low else {
                    return Err(failure(at, "expected a low surrogate \\uDC00-\\uDFFF after this one".into()));
                };
                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
            } else {
                first
            };
            return char::from_u32(code)
                .ok_or_else(|| failure(at, format!("expected {ESCAPES}, found an unpaired surrogate")));
        }
        _ => return Err(failure(at, format!("expected {ESCAPES}"))),
    };
    Ok(simple)
}

fn hex4(input: &mut Input<'_>, at: usize) -> Parsed<u32> {
    let digits =
        opt(take(4usize).verify(|digits: &str| digits.chars().all(|c| c.is_ascii_hexdigit()))).parse_next(input)?;
    digits
        .and_then(|digits| u32::from_str_radix(digits, 16).ok())
        .ok_or_else(|| failure(at, format!("expected {ESCAPES}")))
}
