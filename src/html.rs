//! HTML escaping for the markup Errata builds by hand: the standalone error page of the issue
//! browser and the HTML part of notification e-mails. Templates do not need it: minijinja
//! autoescapes every `.html` template with the same five characters plus `/`.

/// Escapes text for HTML element content and quoted attribute values: `&`, `<`, `>`, `"` and
/// `'` become character references (the set OWASP's XSS prevention cheat sheet names).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape_html("<script>\"'&"),
            "&lt;script&gt;&quot;&#x27;&amp;"
        );
        assert_eq!(escape_html("plain ü/text"), "plain ü/text");
    }
}
