//! `browser`, `os` and `device` contexts and tags from a User-Agent (issue #17; Sentry adds
//! the same from `request.headers`): so browser errors say which browser and system they came
//! from, and `browser:Chrome` works in search and in the tag facets.
//!
//! The agent is the event's `request.headers` `User-Agent`, else, for `javascript` events
//! only, the User-Agent of the HTTP request that carried the event (a browser SDK posts from
//! the page; a server SDK's own agent says nothing about the user). Parsing is `woothee`'s.
//! A context the event already has is left alone, and so is a tag it already has.
//!
//! Tags: `browser` (name, e.g. `Chrome`), `browser.version`, `os` (name, e.g. `Windows`),
//! `os.version`, `device` (family: `iPhone`, `iPad`, `Mac`, `Other`, …).

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::Normalized;

/// Adds what `user_agent` tells to `n` (contexts and tags), see the module docs.
pub fn add_contexts(n: &mut Normalized, http_user_agent: Option<&str>) {
    let from_event = request_user_agent(&n.event).map(str::to_owned);
    let agent = match (from_event, http_user_agent) {
        (Some(a), _) => a,
        (None, Some(a)) if n.fields.platform == "javascript" => a.to_owned(),
        _ => return,
    };
    let Some(parsed) = parse_cached(&agent) else {
        return;
    };
    let Value::Object(event) = &mut n.event else {
        return;
    };
    let contexts = event
        .entry("contexts")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(contexts) = contexts else {
        return;
    };
    let mut added: Vec<(&str, String)> = Vec::new();
    for (name, context, tags) in parsed.contexts() {
        if contexts.contains_key(name) {
            continue;
        }
        contexts.insert(name.to_owned(), context);
        added.extend(tags);
    }
    for (key, value) in added {
        if n.fields.tags.iter().any(|(k, _)| k == key) {
            continue;
        }
        n.fields.tags.push((key.to_owned(), value.clone()));
        let pair = Value::Array(vec![Value::String(key.to_owned()), Value::String(value)]);
        match event.get_mut("tags") {
            Some(Value::Array(list)) => list.push(pair),
            _ => {
                event.insert("tags".to_owned(), Value::Array(vec![pair]));
            }
        }
    }
}

/// `request.headers` `User-Agent` (any case), in the list or object form.
fn request_user_agent(event: &Value) -> Option<&str> {
    let headers = event.get("request")?.get("headers")?;
    let is_ua = |k: &str| k.eq_ignore_ascii_case("user-agent");
    match headers {
        Value::Object(map) => map.iter().find(|(k, _)| is_ua(k))?.1.as_str(),
        Value::Array(list) => list
            .iter()
            .find_map(|pair| match pair.as_array()?.as_slice() {
                [Value::String(k), Value::String(v)] if is_ua(k) => Some(v.as_str()),
                _ => None,
            }),
        _ => None,
    }
    .filter(|s| !s.trim().is_empty())
}

/// What an agent says, in Sentry's words.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Agent {
    browser: Option<(String, Option<String>)>,
    os: Option<(String, Option<String>)>,
    device: Option<String>,
}

const UNKNOWN: &str = "UNKNOWN";

fn known(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s != UNKNOWN).then(|| s.to_owned())
}

/// Agents remembered per thread by [`parse_cached`]: the map is emptied when it is full.
const CACHED_AGENTS: usize = 256;

/// Longest agent [`parse_cached`] remembers, bytes; longer ones are parsed every time.
const MAX_CACHED_AGENT: usize = 512;

thread_local! {
    /// [`parse_cached`]'s memory: agent → what it says.
    static AGENTS: RefCell<HashMap<Box<str>, Option<Agent>>> = RefCell::new(HashMap::new());
}

/// [`parse`], remembered per thread: an application's events come from a few agents, and
/// `woothee`'s regular expressions cost about as much as the rest of this module (~1 % of
/// the server's CPU in `bench/profile.sh`). A flood of distinct agents costs a parse each, as
/// without the cache, and at most [`CACHED_AGENTS`] × [`MAX_CACHED_AGENT`] bytes.
fn parse_cached(agent: &str) -> Option<Agent> {
    if agent.len() > MAX_CACHED_AGENT {
        return parse(agent);
    }
    AGENTS.with(|agents| {
        let mut agents = agents.borrow_mut();
        if let Some(parsed) = agents.get(agent) {
            return parsed.clone();
        }
        let parsed = parse(agent);
        if agents.len() >= CACHED_AGENTS {
            agents.clear();
        }
        agents.insert(agent.into(), parsed.clone());
        parsed
    })
}

fn parse(agent: &str) -> Option<Agent> {
    let r = woothee::parser::Parser::new().parse(agent)?;
    let browser = known(r.name).map(|name| (name, known(r.version)));
    let os_version = known(&r.os_version);
    let (os, device) = match r.os {
        "Mac OSX" => (Some(("Mac OS X".to_owned(), os_version)), Some("Mac")),
        "iPhone" | "iPad" | "iPod" | "iOS" => {
            let family = if r.os == "iOS" { "iOS-Device" } else { r.os };
            (Some(("iOS".to_owned(), os_version)), Some(family))
        }
        w if w.starts_with("Windows") => {
            let version = w.strip_prefix("Windows ").and_then(known).or(os_version);
            (Some(("Windows".to_owned(), version)), Some("Other"))
        }
        other => {
            let device = match r.category {
                "smartphone" | "mobilephone" => "Generic Smartphone",
                "crawler" => "Spider",
                _ => "Other",
            };
            (known(other).map(|name| (name, os_version)), Some(device))
        }
    };
    let agent = Agent {
        browser,
        os,
        device: device.map(str::to_owned),
    };
    (agent.browser.is_some() || agent.os.is_some()).then_some(agent)
}

/// A context to add: its name, its value, and the tags it brings.
type ContextWithTags = (&'static str, Value, Vec<(&'static str, String)>);

impl Agent {
    /// `(context name, context, tags)` of each part the agent told.
    fn contexts(self) -> Vec<ContextWithTags> {
        let mut out = Vec::new();
        if let Some((name, version)) = self.browser {
            let mut tags = vec![("browser", name.clone())];
            tags.extend(version.clone().map(|v| ("browser.version", v)));
            out.push((
                "browser",
                json!({"type": "browser", "name": name, "version": version}),
                tags,
            ));
        }
        if let Some((name, version)) = self.os {
            let mut tags = vec![("os", name.clone())];
            tags.extend(version.clone().map(|v| ("os.version", v)));
            out.push((
                "os",
                json!({"type": "os", "name": name, "version": version}),
                tags,
            ));
        }
        if let Some(family) = self.device {
            out.push((
                "device",
                json!({"type": "device", "family": family}),
                vec![("device", family)],
            ));
        }
        for (_, context, _) in &mut out {
            if let Value::Object(c) = context {
                c.retain(|_, v| !v.is_null());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{normalize, NormalizeContext};

    const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
    const FIREFOX_WINDOWS: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

    fn normalized(event: Value) -> Normalized {
        normalize(
            event,
            &NormalizeContext {
                received_ms: 1_700_000_000_000,
                envelope_event_id: None,
                client_ip: None,
                timestamp_bounds: crate::normalize::TimestampBounds::UNBOUNDED,
            },
        )
    }

    fn tag<'a>(n: &'a Normalized, key: &str) -> Option<&'a str> {
        n.fields
            .tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn browser_event_gets_contexts_and_tags() {
        let mut n = normalized(json!({"platform": "javascript", "tags": {"a": "b"},
            "request": {"headers": {"User-Agent": CHROME_LINUX}}}));
        add_contexts(&mut n, Some("ignored/1.0"));
        assert_eq!(n.event["contexts"]["browser"]["name"], "Chrome");
        assert_eq!(n.event["contexts"]["browser"]["version"], "131.0.6778.85");
        assert_eq!(n.event["contexts"]["os"]["name"], "Linux");
        assert_eq!(n.event["contexts"]["device"]["family"], "Other");
        assert_eq!(tag(&n, "browser"), Some("Chrome"));
        assert_eq!(tag(&n, "os"), Some("Linux"));
        assert_eq!(
            n.view().tag("browser"),
            Some("Chrome"),
            "stored in the event too"
        );
        assert_eq!(n.view().tag("a"), Some("b"));
    }

    #[test]
    fn http_agent_only_for_javascript_and_existing_contexts_win() {
        let mut n = normalized(json!({"platform": "javascript",
            "contexts": {"browser": {"name": "Custom"}}, "tags": {"browser": "Custom"}}));
        add_contexts(&mut n, Some(SAFARI_IPHONE));
        assert_eq!(n.event["contexts"]["browser"]["name"], "Custom");
        assert_eq!(tag(&n, "browser"), Some("Custom"));
        assert_eq!(n.event["contexts"]["os"]["name"], "iOS");
        assert_eq!(n.event["contexts"]["device"]["family"], "iPhone");
        let mut py = normalized(json!({"platform": "python"}));
        add_contexts(&mut py, Some(FIREFOX_WINDOWS));
        assert!(
            py.event.get("contexts").is_none() || py.event["contexts"].get("browser").is_none()
        );
        let mut py = normalized(json!({"platform": "python",
            "request": {"headers": [["user-agent", FIREFOX_WINDOWS]]}}));
        add_contexts(&mut py, None);
        assert_eq!(py.event["contexts"]["browser"]["name"], "Firefox");
        assert_eq!(py.event["contexts"]["os"]["name"], "Windows");
        assert_eq!(py.event["contexts"]["os"]["version"], "10");
    }

    #[test]
    fn remembered_agents_parse_as_fresh_ones_and_the_cache_stays_bounded() {
        for agent in [CHROME_LINUX, SAFARI_IPHONE, FIREFOX_WINDOWS, "curl/8.0", ""] {
            assert_eq!(parse_cached(agent), parse(agent), "{agent}");
            assert_eq!(parse_cached(agent), parse(agent), "{agent}, remembered");
        }
        for i in 0..3 * CACHED_AGENTS {
            let agent =
                format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{i}.0) Firefox/{i}.0");
            let parsed = parse_cached(&agent).expect("a Firefox agent");
            assert_eq!(
                parsed.browser,
                Some(("Firefox".to_owned(), Some(format!("{i}.0"))))
            );
        }
        let long = format!("{FIREFOX_WINDOWS} {}", "x".repeat(MAX_CACHED_AGENT));
        assert_eq!(parse_cached(&long), parse(&long));
        assert!(AGENTS.with(|a| a.borrow().len()) <= CACHED_AGENTS);
    }

    #[test]
    fn unknown_agents_add_nothing() {
        let mut n = normalized(json!({"platform": "javascript"}));
        add_contexts(&mut n, Some("sentry.javascript.browser/8.0"));
        assert!(n.fields.tags.is_empty());
    }
}
