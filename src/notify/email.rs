//! E-mail over SMTP with lettre: plain, STARTTLS (required) or TLS, optional login.
//!
//! One message per recipient channel, `multipart/alternative` with the text and HTML
//! bodies. A send reports the server's final reply (`250 …`) or the failure with the SMTP
//! reply code when the server gave one. The password is only handed to lettre.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::message::{one_line, MailContent};
use super::settings::{SmtpConfig, SmtpTls};
use super::SendError;

/// The SMTP side of notifications. Built once from the configuration; when e-mail is not
/// configured (no host, bad sender) every send fails with the reason, so e-mail channels
/// show as failing instead of vanishing.
pub struct Mailer {
    transport: Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), String>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("configured", &self.transport.is_ok())
            .finish()
    }
}

impl Mailer {
    /// Builds the transport from `config`; never fails (see the type's docs).
    pub fn new(config: &SmtpConfig, timeout: std::time::Duration) -> Mailer {
        Mailer {
            transport: build(config, timeout),
        }
    }

    /// Why e-mail cannot be sent, if it cannot.
    pub fn problem(&self) -> Option<&str> {
        self.transport.as_ref().err().map(String::as_str)
    }

    /// Sends `content` to `to` (`Name <addr>` or `addr`); `Ok` carries the server's reply
    /// (`"250 2.0.0 Ok: queued"`). Errors: not configured, an invalid recipient, or the SMTP
    /// failure (with its reply code when the server answered).
    pub async fn send(&self, to: &str, content: &MailContent) -> Result<String, SendError> {
        let (transport, from) = self
            .transport
            .as_ref()
            .map_err(|e| SendError::new(None, e.clone()))?;
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::new(None, format!("invalid recipient: {e}")))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(one_line(&content.subject))
            .multipart(MultiPart::alternative_plain_html(
                content.text.clone(),
                content.html.clone(),
            ))
            .map_err(|e| SendError::new(None, format!("cannot build message: {e}")))?;
        match transport.send(message).await {
            Ok(response) => {
                let text: Vec<&str> = response.message().collect();
                Ok(format!("{} {}", response.code(), text.join(" "))
                    .trim()
                    .to_owned())
            }
            Err(e) => Err(SendError::new(
                e.status().map(|code| code.to_string()),
                format!("smtp: {e}"),
            )),
        }
    }
}

fn build(
    config: &SmtpConfig,
    timeout: std::time::Duration,
) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), String> {
    let host = config
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .ok_or("e-mail is not configured: set ERRATA_SMTP_HOST or [notify.smtp] host")?;
    let from: Mailbox = config
        .from
        .parse()
        .map_err(|e| format!("invalid sender {:?}: {e}", config.from))?;
    let builder = match config.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|e| format!("cannot set up STARTTLS for {host}: {e}"))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
            .map_err(|e| format!("cannot set up TLS for {host}: {e}"))?,
    };
    let mut builder = builder.port(config.port()).timeout(Some(timeout));
    if let Some(user) = &config.username {
        let password = config
            .password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok((builder.build(), from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn unconfigured_mail_fails_with_the_reason() {
        let m = Mailer::new(&SmtpConfig::default(), Duration::from_secs(1));
        assert!(m.problem().is_some_and(|p| p.contains("ERRATA_SMTP_HOST")));
        let err = m
            .send(
                "a@example.com",
                &super::super::message::test_mail("http://x"),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not configured"), "{err}");
    }

    #[tokio::test]
    async fn refused_connection_is_a_failure_without_status() {
        // Port 9 on loopback: nothing listens, so the connection is refused at once.
        let config = SmtpConfig {
            host: Some("127.0.0.1".into()),
            port: Some(9),
            tls: SmtpTls::None,
            ..SmtpConfig::default()
        };
        let m = Mailer::new(&config, Duration::from_secs(5));
        assert!(m.problem().is_none());
        let err = m
            .send(
                "a@example.com",
                &super::super::message::test_mail("http://x"),
            )
            .await
            .unwrap_err();
        assert_eq!(err.status, None);
        assert!(err.to_string().starts_with("smtp:"), "{err}");
    }
}
