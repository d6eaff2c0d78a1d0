//! The template set: every file of `web/templates`, embedded in the binary at compile time
//! and parsed once at start-up.
//!
//! Autoescaping is on for every template (they all end in `.html`, which minijinja escapes
//! as HTML): a value is only emitted raw when Rust code built it with
//! [`minijinja::Value::from_safe_string`], which is reserved for server-made SVG and for
//! comments rendered by [`super::markdown`].

use axum::response::Html;
use minijinja::Environment;
use serde::Serialize;

use super::WebError;

/// `(name, source)` of every `.html` file in `web/templates`, listed by `build.rs`.
const TEMPLATES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// Parsed templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Parses the embedded templates. A template that does not parse is logged and left out
    /// (its pages then answer 500); the unit tests make sure that never ships.
    pub fn load() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not parse");
            }
        }
        env.add_global("asset_version", super::assets::version());
        Templates { env }
    }

    /// Renders `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<Html<String>, WebError> {
        let template = self.env.get_template(name)?;
        Ok(Html(template.render(ctx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_templates_parse_and_escape() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let t = Templates::load();
        let html = t
            .render(
                "login.html",
                serde_json::json!({"email": "<script>alert(1)</script>", "csrf": "x", "next": "/"}),
            )
            .unwrap()
            .0;
        assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{html}");
        assert!(!html.contains("<script>alert"));
    }
}
