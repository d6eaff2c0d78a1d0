//! Discord webhooks (`https://discord.com/api/webhooks/{id}/{token}`), validated and
//! redacted by the webhook rule of [`super::http`].
//!
//! Payload ("Execute Webhook" in Discord's documentation): `{"content": <subject>,
//! "allowed_mentions": {"parse": []}, "embeds": [{"title", "url", "description", "color":
//! <int>, "fields": [{"name", "value", "inline": true}…]}]}`, within Discord's limits
//! (content 2000, title 256, description 4096, 25 fields of 256/1024 characters).
//!
//! Event data is attacker-controlled: `allowed_mentions` with an empty `parse` list stops
//! `@everyone`, `@here`, user and role mentions from pinging anyone, and Markdown in event
//! text is escaped ([`super::card::escape_markdown`]) so it cannot make links or headings.
//! Discord answers `204 No Content` (or `200` with `?wait=true`).

use serde_json::{json, Value};

use crate::store::ChannelKind;

use super::super::message::truncate;
use super::card::{card, escape_markdown as md};
use super::{Driver, Message};

/// The Discord channel kind.
pub struct Discord;

impl Driver for Discord {
    const KIND: ChannelKind = ChannelKind::Discord;
    type Payload = Value;

    fn render(&self, message: &Message) -> Value {
        let c = card(message);
        let mut description = md(&c.text);
        if !c.frames.is_empty() {
            description.push_str("\n\n**Top frames**\n");
            description.push_str(&md(&c.frames.join("\n")));
        }
        let colour = u32::from_str_radix(c.colour.trim_start_matches('#'), 16).unwrap_or(0);
        let fields: Vec<Value> = c
            .fields
            .iter()
            .take(25)
            .map(|(name, value)| {
                json!({"name": truncate(&md(name), 256), "value": truncate(&md(value), 1024),
                       "inline": true})
            })
            .collect();
        let mut embed = json!({
            "title": truncate(&md(&c.title), 256),
            "description": truncate(&description, 4096),
            "color": colour,
            "fields": fields,
        });
        if let Some(link) = &c.link {
            embed["url"] = json!(link);
        }
        json!({
            "content": truncate(&md(&c.subject), 2000),
            "allowed_mentions": {"parse": []},
            "embeds": [embed],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::facts;

    #[test]
    fn an_issue_is_one_embed_without_live_mentions() {
        let mut f = facts();
        f.title = "@everyone [click](http://evil.example)".into();
        let p = Discord.render(&Message::Issue(Box::new(f)));
        assert_eq!(p["allowed_mentions"]["parse"], json!([]));
        let embed = &p["embeds"][0];
        assert_eq!(embed["url"], "http://errors.example.com/issues/42");
        assert_eq!(embed["color"], 0xe03e2f);
        let title = embed["title"].as_str().expect("title");
        assert!(
            !title.contains("@everyone") && !title.contains("]("),
            "{title}"
        );
        assert!(embed["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["name"] == "Release" && f["value"] == "shop@\u{200b}1.2.3"));
    }
}
