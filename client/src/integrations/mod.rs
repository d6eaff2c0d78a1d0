//! Integrations with logging and error crates (behind features).

#[cfg(feature = "log")]
pub mod log;
#[cfg(feature = "tracing")]
pub mod tracing;

use crate::protocol::Level;

#[allow(dead_code)]
pub(crate) fn level_from_str(level: &str) -> Level {
    match level {
        "ERROR" | "error" => Level::Error,
        "WARN" | "warn" => Level::Warning,
        "INFO" | "info" => Level::Info,
        _ => Level::Debug,
    }
}

/// Parses `std::backtrace::Backtrace`'s text (`  N: function\n             at file:line:col`)
/// into frames, oldest first. Used for anyhow's own backtraces, which cannot be read as
/// addresses.
#[allow(dead_code)]
pub(crate) fn parse_std_backtrace(text: &str) -> Vec<crate::protocol::Frame> {
    use crate::protocol::Frame;
    let mut frames: Vec<Frame> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(loc) = t.strip_prefix("at ") {
            if let Some(f) = frames.last_mut() {
                let mut parts = loc.rsplitn(3, ':');
                let col = parts.next().and_then(|c| c.parse().ok());
                let line = parts.next().and_then(|l| l.parse().ok());
                let file = parts.next();
                if let (Some(file), Some(line)) = (file, line) {
                    f.abs_path = Some(file.to_owned());
                    f.filename = Some(file.to_owned());
                    f.lineno = Some(line);
                    f.colno = col;
                }
            }
        } else if let Some((num, func)) = t.split_once(": ") {
            if num.chars().all(|c| c.is_ascii_digit()) {
                let func = func.trim();
                let in_app = !(func.starts_with("std::")
                    || func.starts_with("core::")
                    || func.starts_with("alloc::")
                    || func.starts_with("anyhow::")
                    || func.starts_with("errata::")
                    || func.starts_with('<')
                    || func.starts_with("__")
                    || func == "main"
                    || func.starts_with("_start"));
                frames.push(Frame {
                    function: Some(func.to_owned()),
                    in_app: Some(in_app),
                    ..Frame::default()
                });
            }
        }
    }
    for f in &mut frames {
        if f.abs_path.as_deref().is_some_and(|p| {
            p.starts_with("/rustc/")
                || p.contains("/.cargo/registry/")
                || p.contains("/.cargo/git/")
        }) {
            f.in_app = Some(false);
        }
    }
    frames.retain(|f| {
        !f.function
            .as_deref()
            .is_some_and(|n| n.starts_with("anyhow::") || n.starts_with("errata::"))
    });
    frames.reverse();
    frames
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_std_backtrace_text() {
        let text = "   0: anyhow::error::<impl anyhow::Error>::msg\n             at /home/u/.cargo/registry/src/x/anyhow-1/src/error.rs:83:36\n   1: app::load\n             at ./src/main.rs:10:5\n   2: main\n";
        let frames = super::parse_std_backtrace(text);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].function.as_deref(), Some("app::load"));
        assert_eq!(frames[1].lineno, Some(10));
        assert_eq!(frames[1].in_app, Some(true));
        assert_eq!(frames[0].in_app, Some(false));
    }
}
