//! Microsoft Teams: an incoming webhook or a Workflows ("Post to a channel when a webhook
//! request is received") URL, validated and redacted by the webhook rule of [`super::http`].
//!
//! Payload (Teams' "Send Adaptive Cards using an Incoming Webhook"): `{"type": "message",
//! "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl":
//! null, "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
//! "type": "AdaptiveCard", "version": "1.4", "body": [TextBlock title, TextBlock text,
//! FactSet facts, TextBlock frames], "actions": [Action.OpenUrl]}}]}`. Text blocks render a
//! Markdown subset, so event data is escaped ([`super::card::escape_markdown`]).

use serde_json::{json, Value};

use crate::store::ChannelKind;

use super::super::message::truncate;
use super::card::{card, escape_markdown as md};
use super::{Driver, Message};

/// The Teams channel kind.
pub struct Teams;

impl Driver for Teams {
    const KIND: ChannelKind = ChannelKind::Teams;
    type Payload = Value;

    fn render(&self, message: &Message) -> Value {
        let c = card(message);
        let mut body = vec![
            json!({"type": "TextBlock", "text": truncate(&md(&c.title), 500), "weight": "Bolder",
                   "size": "Medium", "wrap": true,
                   "color": if c.severity == "info" { "Good" } else { "Attention" }}),
            json!({"type": "TextBlock", "text": truncate(&md(&c.text), 4000), "wrap": true}),
        ];
        if !c.fields.is_empty() {
            let facts: Vec<Value> = c
                .fields
                .iter()
                .map(|(l, v)| json!({"title": md(l), "value": truncate(&md(v), 500)}))
                .collect();
            body.push(json!({"type": "FactSet", "facts": facts}));
        }
        if !c.frames.is_empty() {
            body.push(
                json!({"type": "TextBlock", "text": md(&c.frames.join("\n")),
                             "fontType": "Monospace", "wrap": true, "isSubtle": true}),
            );
        }
        let mut content = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
        });
        if let Some(link) = &c.link {
            content["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open in Errata",
                                         "url": link}]);
        }
        json!({
            "type": "message",
            "summary": c.subject,
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": content,
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::facts;

    #[test]
    fn an_issue_is_an_adaptive_card() {
        let p = Teams.render(&Message::Issue(Box::new(facts())));
        assert_eq!(p["type"], "message");
        let a = &p["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        assert_eq!(a["content"]["actions"][0]["type"], "Action.OpenUrl");
        assert_eq!(
            a["content"]["actions"][0]["url"],
            "http://errors.example.com/issues/42"
        );
        assert_eq!(a["content"]["body"][2]["type"], "FactSet");
    }
}
