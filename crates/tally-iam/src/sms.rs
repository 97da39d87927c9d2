//! SMS codes go out through an [`SmsSender`]: Twilio's Messages API, a generic webhook, or
//! the log (development). A provider that fails or does not answer in time is an error the
//! user can retry; nothing half-sent is kept by the callers.

use std::time::Duration;

use tally_types::Secret;

use crate::mail::futures_like::BoxFuture;

#[derive(Debug, thiserror::Error)]
#[error("could not send the code, try again ({0})")]
pub struct SmsError(pub String);

pub trait SmsSender: Send + Sync + std::fmt::Debug {
    fn send(&self, to: &str, body: &str) -> BoxFuture<'_, Result<(), SmsError>>;
}

/// How long a provider may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

fn client() -> Result<reqwest::Client, SmsError> {
    reqwest::Client::builder().timeout(SEND_TIMEOUT).build().map_err(|error| SmsError(error.to_string()))
}

/// Prints messages to the log.
#[derive(Debug, Default)]
pub struct LogSms;

impl SmsSender for LogSms {
    fn send(&self, to: &str, body: &str) -> BoxFuture<'_, Result<(), SmsError>> {
        let (to, body) = (to.to_string(), body.to_string());
        Box::pin(async move {
            tracing::info!(%to, %body, "sms (log provider: not sent)");
            Ok(())
        })
    }
}

/// Twilio: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json` with `To`, `From`, `Body`,
/// authenticated by the account SID and auth token.
#[derive(Debug)]
pub struct TwilioSms {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: Secret<String>,
    pub from: String,
}

impl SmsSender for TwilioSms {
    fn send(&self, to: &str, body: &str) -> BoxFuture<'_, Result<(), SmsError>> {
        let (to, body) = (to.to_string(), body.to_string());
        Box::pin(async move {
            let url = format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.base_url.trim_end_matches('/'),
                self.account_sid
            );
            let response = client()?
                .post(url)
                .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
                .form(&[("To", to.as_str()), ("From", self.from.as_str()), ("Body", body.as_str())])
                .send()
                .await
                .map_err(|error| SmsError(format!("provider unreachable: {}", error.without_url())))?;
            if !response.status().is_success() {
                return Err(SmsError(format!("provider answered {}", response.status())));
            }
            Ok(())
        })
    }
}

/// POSTs `{"to": ..., "body": ...}` as JSON.
#[derive(Debug)]
pub struct WebhookSms {
    pub url: String,
}

impl SmsSender for WebhookSms {
    fn send(&self, to: &str, body: &str) -> BoxFuture<'_, Result<(), SmsError>> {
        let payload = serde_json::json!({ "to": to, "body": body });
        Box::pin(async move {
            let response = client()?
                .post(&self.url)
                .json(&payload)
                .send()
                .await
                .map_err(|error| SmsError(format!("provider unreachable: {}", error.without_url())))?;
            if !response.status().is_success() {
                return Err(SmsError(format!("provider answered {}", response.status())));
            }
            Ok(())
        })
    }
}

/// A phone number in E.164 form: `+`, a country code not starting with 0, 8 to 15 digits.
pub fn check_e164(phone: &str) -> Result<&str, crate::IamError> {
    let phone = phone.trim();
    let digits = phone.strip_prefix('+').unwrap_or("");
    let ok = (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
    if !ok {
        return Err(crate::IamError::invalid(
            "phone",
            format!("{phone:?} is not an E.164 number such as +14155550123"),
        ));
    }
    Ok(phone)
}

/// `+1415•••0123` for showing a number without revealing it.
pub fn mask(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "•••".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}•••{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        for good in ["+14155550123", "+447911123456", " +33612345678 "] {
            assert!(check_e164(good).is_ok(), "{good}");
        }
        for bad in ["14155550123", "+0123456789", "+1415555", "+1 415 555 0123", "+1415555012345678", ""] {
            assert!(check_e164(bad).is_err(), "{bad}");
        }
        assert_eq!(mask("+14155550123"), "+141•••23");
    }
}
