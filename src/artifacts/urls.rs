//! URL rules of release files (Sentry's, as symbolicator's `get_release_file_candidate_urls`):
//! a file uploaded as `~/static/app.js` matches a frame at `https://any.host/static/app.js`
//! (`~` stands for any scheme and host), with or without the query string; an exact URL
//! matches itself. Also the paths of original sources as frames show them.

use url::Url;

/// The URLs a release file may have been uploaded under for a frame at `url`, most specific
/// first, without duplicates.
pub fn candidates(url: &str) -> Vec<String> {
    let url = url.split('#').next().unwrap_or(url);
    let mut out: Vec<String> = Vec::with_capacity(4);
    let mut push = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    let no_query = url.split('?').next().unwrap_or(url);
    push(url.to_owned());
    push(no_query.to_owned());
    if let Some(rest) = url.split_once("://").map(|(_, rest)| rest) {
        // `~` replaces scheme and host: `~/path?query`, then `~/path`.
        if let Some(slash) = rest.find('/') {
            let path = &rest[slash..];
            push(format!("~{path}"));
            push(format!("~{}", path.split('?').next().unwrap_or(path)));
        }
    } else if url.starts_with('/') {
        push(format!("~{no_query}"));
    }
    out
}

/// `reference` (a `sourceMappingURL`, a map's `sources` entry) resolved against the URL of
/// the file that named it. `~/` URLs resolve like paths on any host.
pub fn join(base: &str, reference: &str) -> String {
    if let Some(path) = base.strip_prefix('~') {
        return join(&format!("http://~{path}"), reference).replacen("http://~", "~", 1);
    }
    match Url::parse(base).and_then(|b| b.join(reference)) {
        Ok(u) => u.to_string(),
        Err(_) => match base.rfind('/') {
            Some(i) if !reference.contains("://") && !reference.starts_with('/') => {
                format!("{}/{reference}", &base[..i])
            }
            _ => reference.to_owned(),
        },
    }
}

/// The frame `filename` of an original source as a map lists it: bundler prefixes
/// (`webpack://app/`) and leading `./` and `../` removed, so the same source reads the same
/// whatever the build's directory layout (`../src/pricing.js` → `src/pricing.js`).
pub fn source_filename(source: &str) -> String {
    let mut s = source;
    for scheme in ["webpack://", "webpack-internal://", "rollup://", "vite://"] {
        if let Some(rest) = s.strip_prefix(scheme) {
            // `webpack://<namespace>/path`: the namespace is the package, not the path.
            s = rest.split_once('/').map_or(rest, |(_, p)| p);
        }
    }
    loop {
        if let Some(rest) = s.strip_prefix("./") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix("../") {
            s = rest;
        } else {
            break;
        }
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_candidates() {
        assert_eq!(
            candidates("http://127.0.0.1:8080/static/app.min.js?v=3#x"),
            [
                "http://127.0.0.1:8080/static/app.min.js?v=3",
                "http://127.0.0.1:8080/static/app.min.js",
                "~/static/app.min.js?v=3",
                "~/static/app.min.js",
            ]
        );
        assert_eq!(
            candidates("app:///main.js"),
            ["app:///main.js", "~/main.js"]
        );
        assert_eq!(
            candidates("/srv/dist/index.js"),
            ["/srv/dist/index.js", "~/srv/dist/index.js"]
        );
    }

    #[test]
    fn joins() {
        assert_eq!(
            join("http://h:1/static/app.min.js", "app.min.js.map"),
            "http://h:1/static/app.min.js.map"
        );
        assert_eq!(
            join(
                "http://h/dist/app.min.js.map",
                "../../node_modules/@sentry/core/x.ts"
            ),
            "http://h/node_modules/@sentry/core/x.ts"
        );
        assert_eq!(
            join("~/dist/app.min.js", "app.min.js.map"),
            "~/dist/app.min.js.map"
        );
        assert_eq!(
            join("http://h/a.js", "webpack://app/./src/x.js"),
            "webpack://app/src/x.js"
        );
    }

    #[test]
    fn filenames() {
        assert_eq!(source_filename("../src/pricing.js"), "src/pricing.js");
        assert_eq!(source_filename("webpack://shop/./src/a.js"), "src/a.js");
        assert_eq!(
            source_filename("../../node_modules/@sentry/core/x.ts"),
            "node_modules/@sentry/core/x.ts"
        );
    }
}
