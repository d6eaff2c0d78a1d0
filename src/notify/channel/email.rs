//! E-mail: one recipient per channel, over SMTP with lettre (plain, STARTTLS (required) or
//! TLS, optional login).
//!
//! A user enters a recipient list in the familiar form (`Jose <jose@example.com>, Adin
//! <adin@example.com>`, see [`crate::notify::recipients`]); each recipient becomes one
//! channel, stored as `Name <addr>`, and must be a mailbox lettre accepts. Addresses are
//! shown as they are (admins need to see who is told). A message is
//! `multipart/alternative` with a text and an HTML body; a send reports the server's final
//! reply (`250 …`) or the failure with the SMTP reply code when the server gave one. The
//! password is only handed to lettre.

use std::fmt::Write as _;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;

use crate::outbound::TargetPolicy;
use crate::store::ChannelKind;

use super::super::digest::{self, entry_line, DigestEntry, DigestGroup, MAX_TITLE};
use super::super::message::{escape_html, level_colour, one_line, truncate, IssueFacts};
use super::super::recipients::parse_list;
use super::super::settings::{SmtpConfig, SmtpTls};
use super::super::SendError;
use super::{Driver, InvalidTarget, Message, Payload, Transports};
use crate::monitors::incident::{IncidentFacts, IncidentState};

/// The e-mail channel kind.
pub struct Email;

impl Driver for Email {
    const KIND: ChannelKind = ChannelKind::Email;
    type Payload = MailContent;

    /// One target per recipient of the list, canonical `Name <addr>`, duplicates dropped.
    fn validate(&self, input: &str, _: &TargetPolicy) -> Result<Vec<String>, InvalidTarget> {
        let mut targets: Vec<String> = Vec::new();
        let recipients = parse_list(input)?;
        if recipients.is_empty() {
            return Err(InvalidTarget("no recipients given".into()));
        }
        for recipient in recipients {
            let target = recipient.to_string();
            target.parse::<Mailbox>().map_err(|e| {
                InvalidTarget(format!("invalid recipient {:?}: {e}", recipient.address))
            })?;
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        Ok(targets)
    }

    fn redact(&self, target: &str) -> String {
        target.to_owned()
    }

    fn render(&self, message: &Message) -> MailContent {
        match message {
            Message::Issue(facts) => issue_mail(facts),
            Message::Incident(facts) => incident_mail(facts),
            Message::Digest(groups) => digest_mail(groups),
            Message::Test { base_url } => test_mail(base_url),
        }
    }
}

/// A rendered e-mail: subject and the two alternative bodies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailContent {
    /// Subject line.
    pub subject: String,
    /// `text/plain` body.
    pub text: String,
    /// `text/html` body.
    pub html: String,
    /// What the mail is about (`issue-42`, `monitor-…`), so that every mail about it threads
    /// together: each gets its own `Message-ID` and names `<errata.{thread}@{sender
    /// domain}>` in `In-Reply-To` and `References` (RFC 5322 3.6.4), the thread's root.
    pub thread: Option<String>,
}

/// The `Message-ID`, and the root every mail of `thread` replies to, for a sender `domain`.
pub fn thread_ids(thread: &str, domain: &str) -> (String, String) {
    let unique = hex::encode(rand::random::<[u8; 12]>());
    (
        format!("<errata.{thread}.{unique}@{domain}>"),
        format!("<errata.{thread}@{domain}>"),
    )
}

impl Payload for MailContent {
    /// Mails it to the target recipient over the configured relay.
    async fn send(&self, transports: &Transports, target: &str) -> Result<String, SendError> {
        transports.mailer.send(target, self).await
    }
}

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
        let mut builder = lettre::Message::builder().from(from.clone()).to(to);
        if let Some(thread) = &content.thread {
            let (id, root) = thread_ids(thread, from.email.domain());
            builder = builder
                .message_id(Some(id))
                .in_reply_to(root.clone())
                .references(root);
        }
        let message = builder
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

/// Checks a sender (`notify.smtp.from`): one mailbox, `Name <addr@host>` or `addr@host`.
/// Errors: what lettre found wrong with it.
pub fn check_sender(from: &str) -> Result<(), String> {
    from.parse::<Mailbox>().map(drop).map_err(|e| e.to_string())
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

/// The e-mail about one issue: subject, plain text and HTML, both with every fact and the
/// link.
pub fn issue_mail(f: &IssueFacts) -> MailContent {
    let mut text = format!("{}\n\n{}\n", f.headline(), f.title);
    if let Some(c) = &f.culprit {
        let _ = writeln!(text, "in {c}");
    }
    text.push('\n');
    for (label, value) in f.fields() {
        let _ = writeln!(text, "{:<13}{value}", format!("{label}:"));
    }
    if !f.frames.is_empty() {
        text.push_str("\nTop frames:\n");
        for fr in &f.frames {
            let _ = writeln!(text, "  {} at {}", fr.function, fr.location);
            if let Some(src) = &fr.source {
                let _ = writeln!(text, "      {src}");
            }
        }
    }
    let _ = write!(text, "\nOpen the issue: {}\n", f.link);

    let e = escape_html;
    let mut html = format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\
         <p style=\"color:{}\"><strong>{}</strong></p>\
         <h2 style=\"margin:0\"><a href=\"{}\">{}</a></h2>",
        level_colour(&f.level),
        e(&f.headline()),
        e(&f.link),
        e(&f.title)
    );
    if let Some(c) = &f.culprit {
        let _ = write!(html, "<p><code>{}</code></p>", e(c));
    }
    html.push_str("<table cellpadding=\"3\">");
    for (label, value) in f.fields() {
        let _ = write!(
            html,
            "<tr><th align=\"left\">{label}</th><td>{}</td></tr>",
            e(&value)
        );
    }
    html.push_str("</table>");
    if !f.frames.is_empty() {
        html.push_str("<p><strong>Top frames</strong></p><ol>");
        for fr in &f.frames {
            let _ = write!(
                html,
                "<li><code>{}</code> at <code>{}</code>",
                e(&fr.function),
                e(&fr.location)
            );
            if let Some(src) = &fr.source {
                let _ = write!(html, "<pre style=\"margin:2px 0\">{}</pre>", e(src));
            }
            html.push_str("</li>");
        }
        html.push_str("</ol>");
    }
    let _ = write!(
        html,
        "<p><a href=\"{0}\">Open the issue</a> ({0})</p></body></html>",
        e(&f.link)
    );
    MailContent {
        subject: f.subject(),
        text,
        html,
        thread: Some(format!("issue-{}", f.issue_id)),
    }
}

/// The e-mail about an incident: the summary sentence, the facts, and links to what failed
/// and to its issue.
pub fn incident_mail(f: &IncidentFacts) -> MailContent {
    let summary = f.summary.replace('`', "");
    let mut text = format!("{summary}\n\n");
    for (label, value) in &f.fields {
        let _ = writeln!(text, "{:<15}{value}", format!("{label}:"));
    }
    let _ = write!(text, "\nOpen the {}: {}\n", f.what, f.link);
    if let Some(issue) = &f.issue_link {
        let _ = writeln!(text, "Its issue: {issue}");
    }
    let e = escape_html;
    let colour = match f.state {
        IncidentState::Opened => level_colour("error"),
        IncidentState::Resolved => "#2f9e44",
        IncidentState::Warning => level_colour("warning"),
    };
    let mut html = format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\
         <p style=\"color:{colour}\"><strong>{}</strong></p>\
         <h2 style=\"margin:0\"><a href=\"{}\">{}</a></h2><table cellpadding=\"3\">",
        f.label(),
        e(&f.link),
        e(&summary)
    );
    for (label, value) in &f.fields {
        let _ = write!(
            html,
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            e(label),
            e(value)
        );
    }
    let _ = write!(
        html,
        "</table><p><a href=\"{0}\">Open the {1}</a> ({0})</p>",
        e(&f.link),
        f.what
    );
    if let Some(issue) = &f.issue_link {
        let _ = write!(html, "<p><a href=\"{0}\">Its issue</a> ({0})</p>", e(issue));
    }
    html.push_str("</body></html>");
    MailContent {
        subject: f.subject(),
        text,
        html,
        thread: Some(format!(
            "monitor-{}",
            hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(f.link.as_bytes())[..12])
        )),
    }
}

/// The digest e-mail: per group a summary, the most frequent issues, then every other one.
pub fn digest_mail(groups: &[DigestGroup]) -> MailContent {
    let mut text = String::new();
    let mut html = String::from("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">");
    for g in groups {
        let (top, rest) = g.split_top();
        let _ = writeln!(text, "{}, the {} most frequent:", g.summary(), top.len());
        let _ = write!(
            html,
            "<h3>{}, the {} most frequent:</h3><ol>",
            escape_html(&g.summary()),
            top.len()
        );
        for e in top {
            let _ = writeln!(text, "  {}", entry_line(e));
            let _ = write!(html, "<li>{}</li>", html_entry(e));
        }
        html.push_str("</ol>");
        if !rest.is_empty() {
            text.push_str("Also:\n");
            html.push_str("<p>Also:</p><ul>");
            for e in rest {
                let _ = writeln!(text, "  {}", entry_line(e));
                let _ = write!(html, "<li>{}</li>", html_entry(e));
            }
            html.push_str("</ul>");
        }
        text.push('\n');
    }
    text.push_str(
        "These were folded into one digest because more notifications were due than the \
         channel's limit allows.\n",
    );
    html.push_str(
        "<p><small>These were folded into one digest because more notifications were due than \
         the channel's limit allows.</small></p></body></html>",
    );
    MailContent {
        subject: digest::subject(groups),
        text,
        html,
        thread: None,
    }
}

fn html_entry(e: &DigestEntry) -> String {
    format!(
        "<a href=\"{}\">#{} {}</a> ({} events)",
        escape_html(&e.link),
        e.issue_id,
        escape_html(&truncate(&one_line(&e.title), MAX_TITLE)),
        e.count
    )
}

/// The message `errata notify test` sends.
pub fn test_mail(base_url: &str) -> MailContent {
    let text = format!(
        "This is a test notification from Errata at {base_url}.\n\
         If you can read it, this channel works.\n"
    );
    let html = format!(
        "<!DOCTYPE html><html><body><p>This is a test notification from Errata at \
         <a href=\"{0}\">{0}</a>.</p><p>If you can read it, this channel works.</p></body></html>",
        escape_html(base_url)
    );
    MailContent {
        subject: "[errata] Test notification".to_owned(),
        text,
        html,
        thread: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::digest::group;
    use crate::notify::digest::tests::entry;
    use crate::notify::message::tests::facts;
    use crate::store::Trigger;
    use std::time::Duration;

    const POLICY: TargetPolicy = TargetPolicy {
        allow_private: false,
        setting: "notify.allow_private_targets",
    };

    #[test]
    fn recipient_lists_become_canonical_targets() {
        let targets = Email
            .validate(
                "Jose <jose@example.com>, adin@example.com; \"Doe, Jane\" <jane@example.com>, adin@example.com",
                &POLICY,
            )
            .unwrap();
        assert_eq!(
            targets,
            [
                "Jose <jose@example.com>",
                "adin@example.com",
                "\"Doe, Jane\" <jane@example.com>"
            ]
        );
        let nothing = Email.validate(" ,; ", &POLICY).unwrap_err();
        assert_eq!(nothing.to_string(), "no recipients given");
        for bad in [
            "Jose",
            "ops@",
            "a@b, nope",
            "José <jose@exa mple.com>",
            "x@[300.1.1.1]",
        ] {
            assert!(Email.validate(bad, &POLICY).is_err(), "{bad}");
        }
        let err = Email.validate("ok@x.org, nope", &POLICY).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid recipient \" nope\": address has no '@'"
        );
        assert_eq!(
            Email.redact("Jose <jose@example.com>"),
            "Jose <jose@example.com>"
        );
    }

    #[test]
    fn issue_mail_carries_the_facts_escaped() {
        let mut f = facts();
        f.title = "bad <b>&</b>\nsecond line".into();
        let m = Email.render(&Message::Issue(Box::new(f)));
        assert_eq!(m.subject, "[checkout] New issue: bad <b>&</b> second line");
        for needle in [
            "production",
            "shop@1.2.3",
            "charge at app.views:10",
            "http://errors.example.com/issues/42",
            "Users:       2",
        ] {
            assert!(m.text.contains(needle), "text lacks {needle}: {}", m.text);
        }
        assert!(
            m.html.contains("bad &lt;b&gt;&amp;&lt;/b&gt;"),
            "{}",
            m.html
        );
        assert!(m
            .html
            .contains("href=\"http://errors.example.com/issues/42\""));
        assert!(!m.html.contains("<b>&"));
    }

    #[test]
    fn digest_mail_names_every_issue_top_five_first() {
        let entries: Vec<_> = (1..=37)
            .map(|i| entry("checkout", Trigger::NewIssue, i, i % 7))
            .collect();
        let mail = Email.render(&Message::Digest(group(entries)));
        assert_eq!(mail.subject, "[checkout] 37 new issues");
        assert!(
            mail.text.starts_with(
                "37 new issues in checkout, the 5 most frequent:\n  #6 Error 6 (6 events)"
            ),
            "{}",
            mail.text
        );
        for i in 1..=37 {
            assert!(
                mail.text.contains(&format!("#{i} Error {i} ")),
                "#{i} missing"
            );
            assert!(
                mail.html.contains(&format!("http://e/issues/{i}\"")),
                "#{i} missing"
            );
        }
    }

    #[tokio::test]
    async fn unconfigured_mail_fails_with_the_reason() {
        let m = Mailer::new(&SmtpConfig::default(), Duration::from_secs(1));
        assert!(m.problem().is_some_and(|p| p.contains("ERRATA_SMTP_HOST")));
        let err = m
            .send("a@example.com", &test_mail("http://x"))
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
            .send("a@example.com", &test_mail("http://x"))
            .await
            .unwrap_err();
        assert_eq!(err.status, None);
        assert!(err.to_string().starts_with("smtp:"), "{err}");
    }
}
