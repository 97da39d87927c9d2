//! Checks on what people type, each error naming the field.

use crate::IamError;

const MAX_EMAIL_LEN: usize = 254;
const MAX_NAME_LEN: usize = 255;

/// A plausible e-mail address: one `@`, a non-empty local part, a dotted domain, no
/// spaces. Deliverability is proven later by the invitation or sign-in mail itself.
pub fn email(text: &str) -> Result<&str, IamError> {
    let text = text.trim();
    let fail = |why: &str| Err(IamError::invalid("email", format!("{text:?} is not an e-mail address: {why}")));
    if text.is_empty() {
        return Err(IamError::invalid("email", "an e-mail address is required"));
    }
    if text.len() > MAX_EMAIL_LEN {
        return fail("longer than 254 characters");
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail("it contains spaces");
    }
    let Some((local, domain)) = text.split_once('@') else { return fail("it has no @") };
    if local.is_empty() || domain.contains('@') {
        return fail("expected one @ with a name before it");
    }
    if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return fail("the part after @ must be a domain such as example.com");
    }
    Ok(text)
}

/// A display name for an organization, project or person: trimmed, 1 to 255 characters.
pub fn name<'a>(field: &'static str, text: &'a str) -> Result<&'a str, IamError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(IamError::invalid(field, "must not be empty"));
    }
    if text.chars().count() > MAX_NAME_LEN {
        return Err(IamError::invalid(field, "must be at most 255 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(IamError::invalid(field, "must not contain control characters"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["ada@example.com", " Ada.Lovelace+x@mail.example.co.uk "] {
            assert!(email(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@example.com",
            "ada@.com",
            "ada@example..com",
        ] {
            let error = email(bad).unwrap_err();
            assert_eq!(tally_types::Classified::code(&error), "invalid_email", "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(name("organization", "  Acme ").unwrap(), "Acme");
        assert!(name("organization", "   ").is_err());
        assert!(name("organization", &"x".repeat(256)).is_err());
        assert!(name("organization", "a\u{0}b").is_err());
    }
}
