//! `log` integration: records become breadcrumbs.
//!
//! Wrap your logger (or none) and install it:
//!
//! ```no_run
//! let logger = errata::integrations::log::ErrataLogger::new(None::<Box<dyn log::Log>>);
//! log::set_boxed_logger(Box::new(logger)).ok();
//! log::set_max_level(log::LevelFilter::Info);
//! ```

use std::borrow::Cow;

use crate::protocol::{Breadcrumb, Level};

/// A `log::Log` that adds a breadcrumb per record, then forwards to an inner logger.
pub struct ErrataLogger<L: log::Log> {
    inner: Option<L>,
    min_level: log::Level,
}

impl<L: log::Log> ErrataLogger<L> {
    /// Wraps `inner` (may be `None`); breadcrumbs for `Info` and above.
    pub fn new(inner: Option<L>) -> Self {
        ErrataLogger {
            inner,
            min_level: log::Level::Info,
        }
    }

    /// Lowest level that becomes a breadcrumb.
    pub fn breadcrumb_level(mut self, level: log::Level) -> Self {
        self.min_level = level;
        self
    }
}

fn level(l: log::Level) -> Level {
    match l {
        log::Level::Error => Level::Error,
        log::Level::Warn => Level::Warning,
        log::Level::Info => Level::Info,
        log::Level::Debug | log::Level::Trace => Level::Debug,
    }
}

impl<L: log::Log> log::Log for ErrataLogger<L> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.min_level
            || self.inner.as_ref().is_some_and(|i| i.enabled(metadata))
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.level() <= self.min_level {
            crate::breadcrumbs::add_breadcrumb_with(|| Breadcrumb {
                ty: Cow::Borrowed("log"),
                category: Some(Cow::Owned(record.target().to_owned())),
                message: Some(Cow::Owned(record.args().to_string())),
                level: level(record.level()),
                ..Breadcrumb::default()
            });
        }
        if let Some(i) = &self.inner {
            i.log(record);
        }
    }

    fn flush(&self) {
        if let Some(i) = &self.inner {
            i.flush();
        }
    }
}
