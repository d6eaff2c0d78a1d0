//! Comments as Markdown, rendered safely with `pulldown-cmark` (CommonMark plus tables,
//! strikethrough and task lists).
//!
//! A comment is written by one user and read by the others, so its HTML must not carry
//! anything that runs or leaks: raw HTML in the source (blocks and inline) is not passed
//! through but shown as text; links and images keep only `http:`, `https:`, `mailto:` and
//! same-site (`/…`, `#…`) targets, other targets (`javascript:`, `data:`, …) leave the text
//! without a link; every link gets `rel="nofollow noopener"`; images become links to the
//! image (the pages' Content-Security-Policy would not load them anyway). Everything else is
//! text that `pulldown-cmark` escapes. Pages insert the result as trusted markup.

use pulldown_cmark::{html, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

use crate::html::escape_html;

/// The `href` of a link target, when it may be a link: `http(s):`, `mailto:`, or a path or
/// fragment on this site. Browsers drop ASCII tabs and newlines inside URLs, so a target
/// with any control character or space is refused outright.
fn safe_href(dest: &str, link_type: LinkType) -> Option<String> {
    let dest = dest.trim();
    if dest.is_empty() || dest.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    if link_type == LinkType::Email {
        return Some(format!("mailto:{dest}"));
    }
    let lower = dest.to_ascii_lowercase();
    let allowed = ["http://", "https://", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p))
        || (dest.starts_with('/') && !dest.starts_with("//"))
        || dest.starts_with('#');
    allowed.then(|| dest.to_owned())
}

fn open_link(href: &str, title: &str) -> Event<'static> {
    let title = if title.is_empty() {
        String::new()
    } else {
        format!(" title=\"{}\"", escape_html(title))
    };
    Event::InlineHtml(CowStr::from(format!(
        "<a href=\"{}\"{title} rel=\"nofollow noopener\">",
        escape_html(href)
    )))
}

/// Renders a comment's Markdown `source` to HTML that is safe to insert into a page (see the
/// module docs).
pub fn render(source: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // Per open link or image: whether it became an `<a>` (so its end closes one).
    let mut open: Vec<bool> = Vec::new();
    let events = Parser::new_ext(source, options).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            ..
        })
        | Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            ..
        }) => match safe_href(&dest_url, link_type) {
            Some(href) => {
                open.push(true);
                Some(open_link(&href, &title))
            }
            None => {
                open.push(false);
                None
            }
        },
        Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => open
            .pop()
            .unwrap_or(false)
            .then_some(Event::InlineHtml(CowStr::Borrowed("</a>"))),
        other => Some(other),
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders() {
        let html = render("**bold** and `code`\n\n- one\n- two");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(html.contains("<code>code</code>"), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
    }

    #[test]
    fn raw_html_is_text() {
        let html = render("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
    }

    #[test]
    fn links_are_checked_and_marked() {
        let html = render("[docs](https://example.com/a?b=1&c=\"2\" \"T\") <https://x.org>");
        assert!(
            html.contains(
                "<a href=\"https://example.com/a?b=1&amp;c=%222\" title=\"T\" rel=\"nofollow noopener\">docs</a>"
            ) || html.contains("rel=\"nofollow noopener\">docs</a>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://x.org\" rel=\"nofollow noopener\">"),
            "{html}"
        );
        for evil in [
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "[x](data:text/html,<script>alert(1)</script>)",
            "[x](//evil.example)",
            "[x](vbscript:msgbox)",
            "![x](javascript:alert(1))",
            "<javascript:alert(1)>",
        ] {
            let html = render(evil);
            assert!(!html.contains("<a"), "{evil}: {html}");
            assert!(!html.to_lowercase().contains("href"), "{evil}: {html}");
        }
        let html = render("![chart](https://example.com/c.png)");
        assert!(
            html.contains(
                "<a href=\"https://example.com/c.png\" rel=\"nofollow noopener\">chart</a>"
            ),
            "{html}"
        );
        assert!(render("<a@b.co>").contains("href=\"mailto:a@b.co\""));
        assert!(render("[issue](/issues/3)").contains("href=\"/issues/3\""));
    }
}
