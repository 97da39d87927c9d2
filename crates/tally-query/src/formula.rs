//! Insights formulas: `+ - * / ()`, numbers and metric letters (`A` the first metric, `B`
//! the second, ...), as Mixpanel's Insights has them (report-semantics.md §1). A formula is
//! evaluated per bucket and segment, and over the range; dividing by zero or a missing
//! operand (an average with no users) gives no value. Formulas do not refer to each other.

use winnow::ascii::{float, multispace0};
use winnow::combinator::{alt, cut_err, delimited, opt, preceded, repeat};
use winnow::error::{ContextError, ErrMode};
use winnow::prelude::*;
use winnow::token::{one_of, take_while};

use crate::QueryError;

/// Longest formula accepted (it bounds the parser's recursion too).
pub const MAX_LENGTH: usize = 200;

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Formula {
    Number(f64),
    /// A metric by position (`A` = 0).
    Metric(usize),
    Negate(Box<Formula>),
    Binary(char, Box<Formula>, Box<Formula>),
}

impl Formula {
    /// Parses `text` for a report of `n_metrics` metrics; the error names the position.
    pub(crate) fn parse(text: &str, n_metrics: usize) -> Result<Formula, QueryError> {
        if text.len() > MAX_LENGTH {
            return Err(QueryError::invalid(format!("a formula is at most {MAX_LENGTH} characters")));
        }
        let formula = delimited(multispace0, sum, multispace0).parse(text).map_err(|error| {
            QueryError::invalid(format!(
                "formula {text:?}: unexpected input at character {} (write metric letters, numbers, + - * / and \
                 parentheses, such as \"A / B * 100\")",
                error.offset() + 1
            ))
        })?;
        let mut highest = None;
        formula.visit_metrics(&mut |index| highest = highest.max(Some(index)));
        if let Some(index) = highest.filter(|index| *index >= n_metrics) {
            let letter = char::from(b'A' + u8::try_from(index).unwrap_or(25));
            return Err(QueryError::invalid(format!(
                "formula {text:?} uses metric {letter}, but the report has {n_metrics} metric(s)"
            )));
        }
        Ok(formula)
    }

    fn visit_metrics(&self, visit: &mut dyn FnMut(usize)) {
        match self {
            Formula::Number(_) => {}
            Formula::Metric(index) => visit(*index),
            Formula::Negate(inner) => inner.visit_metrics(visit),
            Formula::Binary(_, left, right) => {
                left.visit_metrics(visit);
                right.visit_metrics(visit);
            }
        }
    }

    /// The metrics the formula reads.
    pub(crate) fn metrics(&self) -> Vec<usize> {
        let mut found = Vec::new();
        self.visit_metrics(&mut |index| {
            if !found.contains(&index) {
                found.push(index);
            }
        });
        found
    }

    /// The value, given each metric's; `None` when an operand is missing, on division by
    /// zero, or when the result is not a finite number.
    pub(crate) fn evaluate(&self, metric: &dyn Fn(usize) -> Option<f64>) -> Option<f64> {
        let value = match self {
            Formula::Number(number) => *number,
            Formula::Metric(index) => metric(*index)?,
            Formula::Negate(inner) => -inner.evaluate(metric)?,
            Formula::Binary(op, left, right) => {
                let (left, right) = (left.evaluate(metric)?, right.evaluate(metric)?);
                match op {
                    '+' => left + right,
                    '-' => left - right,
                    '*' => left * right,
                    _ if right == 0.0 => return None,
                    _ => left / right,
                }
            }
        };
        value.is_finite().then_some(value)
    }
}

type Parsed<T> = winnow::ModalResult<T, ContextError>;

fn sum(input: &mut &str) -> Parsed<Formula> {
    let first = product(input)?;
    let rest: Vec<(char, Formula)> =
        repeat(0.., (delimited(multispace0, one_of(['+', '-']), multispace0), cut_err(product))).parse_next(input)?;
    Ok(rest.into_iter().fold(first, |left, (op, right)| Formula::Binary(op, Box::new(left), Box::new(right))))
}

fn product(input: &mut &str) -> Parsed<Formula> {
    let first = factor(input)?;
    let rest: Vec<(char, Formula)> =
        repeat(0.., (delimited(multispace0, one_of(['*', '/']), multispace0), cut_err(factor))).parse_next(input)?;
    Ok(rest.into_iter().fold(first, |left, (op, right)| Formula::Binary(op, Box::new(left), Box::new(right))))
}

fn factor(input: &mut &str) -> Parsed<Formula> {
    alt((
        preceded(('-', multispace0), factor).map(|inner| Formula::Negate(Box::new(inner))),
        delimited(('(', multispace0), cut_err(sum), cut_err((multispace0, ')'))),
        metric,
        number,
    ))
    .parse_next(input)
}

/// One letter, not the start of a word.
fn metric(input: &mut &str) -> Parsed<Formula> {
    let letter = one_of(|c: char| c.is_ascii_alphabetic()).parse_next(input)?;
    let more: Option<&str> = opt(take_while(1.., |c: char| c.is_ascii_alphanumeric() || c == '_')).parse_next(input)?;
    if more.is_some() {
        return Err(ErrMode::Backtrack(ContextError::new()));
    }
    let index = letter.to_ascii_uppercase() as usize - 'A' as usize;
    Ok(Formula::Metric(index))
}

/// A decimal number (not `inf` or `nan`, which read as words).
fn number(input: &mut &str) -> Parsed<Formula> {
    let _ = winnow::combinator::peek(one_of(|c: char| c.is_ascii_digit() || c == '.')).parse_next(input)?;
    float.map(Formula::Number).parse_next(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, metrics: &[Option<f64>]) -> Option<f64> {
        Formula::parse(text, metrics.len()).unwrap().evaluate(&|index| metrics[index])
    }

    #[test]
    fn precedence_parentheses_and_letters() {
        assert_eq!(value("A / B * 100", &[Some(1.0), Some(4.0)]), Some(25.0));
        assert_eq!(value("a+b*2", &[Some(1.0), Some(4.0)]), Some(9.0));
        assert_eq!(value("(A + B) * 2", &[Some(1.0), Some(4.0)]), Some(10.0));
        assert_eq!(value("-A - -2", &[Some(1.0)]), Some(1.0));
        assert_eq!(value(" 1.5 * A ", &[Some(2.0)]), Some(3.0));
        assert_eq!(value("A - B - C", &[Some(10.0), Some(3.0), Some(2.0)]), Some(5.0), "left to right");
    }

    #[test]
    fn division_by_zero_and_missing_operands_give_no_value() {
        assert_eq!(value("A / B", &[Some(1.0), Some(0.0)]), None);
        assert_eq!(value("A + B", &[Some(1.0), None]), None);
        assert_eq!(value("A * 0 + 1", &[None]), None);
    }

    #[test]
    fn errors_say_where_and_what() {
        let error = Formula::parse("A / ", 1).unwrap_err().to_string();
        assert!(error.contains("character 5"), "{error}");
        let error = Formula::parse("A / * 2", 1).unwrap_err().to_string();
        assert!(error.contains("character 5"), "the operand that is missing: {error}");
        let error = Formula::parse("A + C", 2).unwrap_err().to_string();
        assert!(error.contains("uses metric C") && error.contains("2 metric"), "{error}");
        assert!(Formula::parse("AB + 1", 2).is_err(), "a word is not a metric");
        assert!(Formula::parse("nan", 1).is_err());
        assert!(Formula::parse("(A", 1).is_err());
        assert!(Formula::parse(&"(".repeat(150), 1).is_err());
        assert!(Formula::parse(&"A+".repeat(150), 1).is_err(), "too long");
    }
}
