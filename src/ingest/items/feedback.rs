//! User feedback items: `feedback` (current SDKs' `captureFeedback` and the feedback widget)
//! and the legacy `user_report`, stored as [`NewFeedback`] with the event they are about
//! (sentry-protocol-more.md section 3; sentry-protocol.md section 4.4).
//!
//! * `feedback`: an event-shaped JSON object whose `contexts.feedback` holds `message`
//!   (required), `contact_email`, `name`, `associated_event_id` and `url`. The name and
//!   e-mail fall back to the event's `user.name` / `user.username` and `user.email`. The
//!   report is identified by its own event id: the payload's, else the envelope header's
//!   (which names an `event` item when the envelope has one), else a new one.
//! * `user_report`: `{"event_id" (required), "name", "email", "comments"}`; `null` fields
//!   count as empty (Relay's `UserReport`). A second report for the same event replaces the
//!   first.
//!
//! Fields are trimmed and cut to [`MAX_NAME_CHARS`], [`MAX_EMAIL_CHARS`],
//! [`MAX_MESSAGE_CHARS`] and [`MAX_URL_CHARS`]; an associated event id that is not one is
//! ignored. An item that is not a JSON object, has no message, or (`user_report`) no valid
//! `event_id` fails the request with 400; one over `limits.max_event_bytes` with 413. The
//! item is answered once its row is committed. It never counts as the envelope's event, so
//! an `event` item after it in the same envelope is still stored.

use serde_json::{Map, Value};

use crate::protocol::envelope::Item;
use crate::protocol::{json, EventId};
use crate::store::{FeedbackKind, NewFeedback};

use super::super::error::IngestError;
use super::{HandleFuture, ItemContext, ItemHandler, Outcome};

/// Longest name kept, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest e-mail address kept, in characters.
pub const MAX_EMAIL_CHARS: usize = 256;
/// Longest message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 16_384;
/// Longest URL kept, in characters.
pub const MAX_URL_CHARS: usize = 2048;

/// Stores `feedback` items.
pub(super) struct FeedbackHandler;

/// Stores `user_report` items.
pub(super) struct UserReportHandler;

impl ItemHandler for FeedbackHandler {
    fn handle<'a>(&'a self, cx: &'a ItemContext<'a>, item: &'a Item) -> HandleFuture<'a> {
        Box::pin(store(cx, item, FeedbackKind::Feedback))
    }
}

impl ItemHandler for UserReportHandler {
    fn handle<'a>(&'a self, cx: &'a ItemContext<'a>, item: &'a Item) -> HandleFuture<'a> {
        Box::pin(store(cx, item, FeedbackKind::UserReport))
    }
}

/// What a feedback item says, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Report {
    report_id: EventId,
    event_id: Option<EventId>,
    name: String,
    email: String,
    message: String,
    url: Option<String>,
}

async fn store(
    cx: &ItemContext<'_>,
    item: &Item,
    kind: FeedbackKind,
) -> Result<Outcome, IngestError> {
    let name = kind.as_str();
    let limit = cx.app.config.limits.max_event_bytes;
    if item.payload.len() > limit {
        return Err(IngestError::ItemTooLarge {
            item: name,
            size: item.payload.len(),
            limit,
        });
    }
    let invalid = |why: String| IngestError::InvalidFeedback { item: name, why };
    let value = json::parse_lenient(&item.payload).map_err(|e| invalid(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(invalid("must be a JSON object".into()));
    };
    let report = match kind {
        FeedbackKind::Feedback => parse_feedback(&object, cx.envelope.event_id),
        FeedbackKind::UserReport => parse_user_report(&object),
    }
    .map_err(|why| invalid(why.into()))?;
    let stored = cx
        .app
        .store
        .save_feedback(&NewFeedback {
            project_id: cx.project_id,
            report_id: report.report_id,
            kind,
            event_id: report.event_id,
            name: report.name,
            email: report.email,
            message: report.message,
            url: report.url,
            created_ms: cx.app.clock.now_ms(),
        })
        .await?;
    metrics::counter!("errata_feedback_received_total", "type" => name).increment(1);
    tracing::debug!(
        project_id = cx.project_id,
        feedback_id = stored.id,
        linked = stored.issue_id.is_some(),
        "feedback stored"
    );
    Ok(Outcome::Accepted { event_id: None })
}

/// A `feedback` item: its `contexts.feedback`, with the user's name and e-mail as fallbacks.
fn parse_feedback(
    event: &Map<String, Value>,
    header_id: Option<EventId>,
) -> Result<Report, &'static str> {
    let context = event
        .get("contexts")
        .and_then(|c| c.get("feedback"))
        .and_then(Value::as_object)
        .ok_or("it has no contexts.feedback object")?;
    let message = text(context.get("message"), MAX_MESSAGE_CHARS);
    if message.is_empty() {
        return Err("contexts.feedback.message is missing or empty");
    }
    let user = event.get("user");
    let field = |key: &str| user.and_then(|u| u.get(key));
    let name = [context.get("name"), field("name"), field("username")]
        .into_iter()
        .map(|v| text(v, MAX_NAME_CHARS))
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    let email = [context.get("contact_email"), field("email")]
        .into_iter()
        .map(|v| text(v, MAX_EMAIL_CHARS))
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    let url = Some(text(context.get("url"), MAX_URL_CHARS)).filter(|u| !u.is_empty());
    let own_id = event
        .get("event_id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok());
    Ok(Report {
        report_id: own_id.or(header_id).unwrap_or_else(EventId::new_random),
        event_id: context
            .get("associated_event_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        name,
        email,
        message,
        url,
    })
}

/// A legacy `user_report` item.
fn parse_user_report(report: &Map<String, Value>) -> Result<Report, &'static str> {
    let event_id: EventId = report
        .get("event_id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or("event_id is missing or not an event id")?;
    let message = text(report.get("comments"), MAX_MESSAGE_CHARS);
    if message.is_empty() {
        return Err("comments is missing or empty");
    }
    Ok(Report {
        report_id: event_id,
        event_id: Some(event_id),
        name: text(report.get("name"), MAX_NAME_CHARS),
        email: text(report.get("email"), MAX_EMAIL_CHARS),
        message,
        url: None,
    })
}

/// A string field trimmed and cut to `max` characters; anything else is empty.
fn text(value: Option<&Value>, max: usize) -> String {
    let s = value.and_then(Value::as_str).unwrap_or_default().trim();
    match s.char_indices().nth(max) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    const EVENT: &str = "0123456789abcdef0123456789abcdef";
    const OWN: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn feedback_items_read_their_context_with_user_fallbacks() {
        let item = object(json!({
            "event_id": OWN,
            "type": "feedback",
            "user": {"username": "jo", "email": "jo@example.com"},
            "contexts": {"feedback": {
                "message": "  The button does nothing  ",
                "associated_event_id": "01234567-89ab-cdef-0123-456789abcdef",
                "url": "https://shop.example.com/cart",
            }},
        }));
        let r = parse_feedback(&item, None).unwrap();
        assert_eq!(r.report_id.simple(), OWN);
        assert_eq!(r.event_id.unwrap().simple(), EVENT);
        assert_eq!(r.message, "The button does nothing");
        assert_eq!(
            (r.name.as_str(), r.email.as_str()),
            ("jo", "jo@example.com")
        );
        assert_eq!(r.url.as_deref(), Some("https://shop.example.com/cart"));

        let header: EventId = EVENT.parse().unwrap();
        let item = object(json!({"contexts": {"feedback": {
            "message": "hi", "name": "Ann", "contact_email": "ann@example.com",
            "associated_event_id": "not an id",
        }}}));
        let r = parse_feedback(&item, Some(header)).unwrap();
        assert_eq!(
            r.report_id, header,
            "the header's id without one in the payload"
        );
        assert_eq!(r.event_id, None, "a bad associated id is ignored");
        assert_eq!(
            (r.name.as_str(), r.email.as_str()),
            ("Ann", "ann@example.com")
        );
    }

    #[test]
    fn feedback_without_a_message_is_refused() {
        for item in [
            json!({"contexts": {"feedback": {"message": "   "}}}),
            json!({"contexts": {"feedback": {"message": 3}}}),
            json!({"contexts": {}}),
            json!({"message": "hello"}),
        ] {
            assert!(parse_feedback(&object(item), None).is_err());
        }
    }

    #[test]
    fn user_reports_need_an_event_id_and_comments() {
        let r = parse_user_report(&object(json!({
            "event_id": EVENT, "name": null, "email": "x@example.com", "comments": "It broke",
        })))
        .unwrap();
        assert_eq!(r.report_id.simple(), EVENT);
        assert_eq!(r.event_id.unwrap().simple(), EVENT);
        assert_eq!((r.name.as_str(), r.message.as_str()), ("", "It broke"));
        assert!(parse_user_report(&object(json!({"comments": "x"}))).is_err());
        assert!(parse_user_report(&object(json!({"event_id": "nope", "comments": "x"}))).is_err());
        assert!(parse_user_report(&object(json!({"event_id": EVENT}))).is_err());
    }

    #[test]
    fn text_is_trimmed_and_cut_on_characters() {
        assert_eq!(text(Some(&json!(" é€x ")), 2), "é€");
        assert_eq!(text(Some(&json!("abc")), 5), "abc");
        assert_eq!(text(Some(&json!(null)), 5), "");
        assert_eq!(text(None, 5), "");
    }
}
