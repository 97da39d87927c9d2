//! Outgoing e-mail (invitations, sign-in links) through a [`Mailer`]: SMTP for real use,
//! or the log for development, where the link is printed instead of sent.

use std::sync::Arc;

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use tally_types::Secret;

/// A message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("cannot send e-mail: {0}")]
    Send(String),
}

/// Sends mail. Shared by the whole process.
pub type SharedMailer = Arc<dyn Mailer>;

pub trait Mailer: Send + Sync + std::fmt::Debug {
    fn send(&self, mail: Mail) -> futures_like::BoxFuture<'_, Result<(), MailError>>;
}

/// Small local alias so the trait stays object-safe without another dependency.
pub mod futures_like {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

/// Prints each message to the log (the development default): the operator copies the
/// link from there.
#[derive(Debug, Default)]
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send(&self, mail: Mail) -> futures_like::BoxFuture<'_, Result<(), MailError>> {
        Box::pin(async move {
            tracing::info!(to = %mail.to, subject = %mail.subject, body = %mail.body, "e-mail (log mailer: not sent)");
            Ok(())
        })
    }
}

/// Sends through an SMTP server named by a URL such as `smtp://user:pass@host:587`
/// (STARTTLS when offered), `smtps://...` (TLS) or `smtp://host:25?tls=none` style
/// plain connections understood by lettre.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer").field("from", &self.from.to_string()).finish()
    }
}

impl SmtpMailer {
    pub fn new(url: &Secret<String>, from: &str) -> Result<SmtpMailer, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|error| MailError::Send(format!("mail.smtp_url: {error}")))?
            .build();
        let from = from.parse().map_err(|_| MailError::Address(from.to_string()))?;
        Ok(SmtpMailer { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: Mail) -> futures_like::BoxFuture<'_, Result<(), MailError>> {
        Box::pin(async move {
            let to: Mailbox = mail.to.parse().map_err(|_| MailError::Address(mail.to.clone()))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject)
                .body(mail.body)
                .map_err(|error| MailError::Send(error.to_string()))?;
            self.transport.send(message).await.map_err(|error| MailError::Send(error.to_string()))?;
            Ok(())
        })
    }
}
