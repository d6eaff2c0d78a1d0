//! `tracing` integration: span fields become frame locals, events become breadcrumbs.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! tracing_subscriber::registry()
//!     .with(errata::integrations::tracing::ErrataLayer::new())
//!     .init();
//! ```
//!
//! The layer records each span's fields (their `Debug` form, cut at 1 KiB) when the span is
//! created or recorded. When an event is captured — a panic included, since the hook runs while
//! the spans are still entered — the fields of the current span and its parents are attached as
//! `vars` to the frame whose function is named like the span (what `#[tracing::instrument]`
//! produces) in the span's file. Needs `tracing_subscriber::Registry` as the base subscriber.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Debug;

use serde_json::Value;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level as TLevel, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::locals::{format_limited, CapturedLocals, FILTERED};
use crate::protocol::{Breadcrumb, Level};

const FIELD_MAX: usize = 1024;

/// Span fields stored in the span's extensions.
#[derive(Default, Debug)]
struct SpanFields(Vec<(&'static str, String)>);

struct FieldVisitor<'a>(&'a mut Vec<(&'static str, String)>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let v = format_limited(value, FIELD_MAX);
        set(self.0, field.name(), v);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        // Strings keep their quotes, like `Debug` locals and `#[instrument]` arguments.
        let v = format_limited(&value, FIELD_MAX);
        set(self.0, field.name(), v);
    }
}

fn set(fields: &mut Vec<(&'static str, String)>, name: &'static str, v: String) {
    match fields.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = v,
        None => fields.push((name, v)),
    }
}

/// The layer; see the module docs.
#[derive(Debug, Clone)]
pub struct ErrataLayer {
    breadcrumb_level: TLevel,
}

impl Default for ErrataLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrataLayer {
    /// Breadcrumbs for `INFO` and above.
    pub fn new() -> Self {
        ErrataLayer {
            breadcrumb_level: TLevel::INFO,
        }
    }

    /// Lowest level that becomes a breadcrumb.
    pub fn breadcrumb_level(mut self, level: TLevel) -> Self {
        self.breadcrumb_level = level;
        self
    }
}

fn level(l: &TLevel) -> Level {
    match *l {
        TLevel::ERROR => Level::Error,
        TLevel::WARN => Level::Warning,
        TLevel::INFO => Level::Info,
        _ => Level::Debug,
    }
}

#[derive(Default)]
struct EventVisitor {
    message: Option<String>,
    data: BTreeMap<String, Value>,
}

impl Visit for EventVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let v = format_limited(value, FIELD_MAX);
        if field.name() == "message" {
            self.message = Some(v);
        } else {
            self.data.insert(field.name().to_owned(), Value::String(v));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.data
                .insert(field.name().to_owned(), Value::String(value.to_owned()));
        }
    }
}

impl<S> Layer<S> for ErrataLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !crate::client::any_client_active() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = SpanFields::default();
        attrs.record(&mut FieldVisitor(&mut fields.0));
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<SpanFields>() {
            values.record(&mut FieldVisitor(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.breadcrumb_level {
            return;
        }
        crate::breadcrumbs::add_breadcrumb_with(|| {
            let mut v = EventVisitor::default();
            event.record(&mut v);
            Breadcrumb {
                ty: Cow::Borrowed("log"),
                category: Some(Cow::Owned(meta.target().to_owned())),
                message: v.message.map(Cow::Owned),
                level: level(meta.level()),
                data: v.data,
                ..Breadcrumb::default()
            }
        });
    }
}

/// Fields of the current span and its parents (root first), for the capturing thread.
pub(crate) fn span_locals(secret_names: &[String], max_len: usize) -> Vec<CapturedLocals> {
    tracing::dispatcher::get_default(|dispatch| {
        let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>() else {
            return Vec::new();
        };
        let Some(id) = registry.current_span().id().cloned() else {
            return Vec::new();
        };
        let Some(span) = registry.span(&id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for s in span.scope() {
            let ext = s.extensions();
            let Some(fields) = ext.get::<SpanFields>() else {
                continue;
            };
            if fields.0.is_empty() {
                continue;
            }
            let meta = s.metadata();
            let vars = fields
                .0
                .iter()
                .map(|(name, v)| {
                    let v = if crate::options::is_secret_name(secret_names, name) {
                        FILTERED.to_owned()
                    } else if v.len() > max_len {
                        let mut cut = max_len;
                        while !v.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        format!("{}…", &v[..cut])
                    } else {
                        v.clone()
                    };
                    ((*name).to_owned(), Value::String(v))
                })
                .collect();
            out.push(CapturedLocals {
                source: crate::locals::VarsSource::Tracing,
                token: 0,
                site_key: meta as *const _ as usize,
                function: meta.name().to_owned(),
                file: meta.file().unwrap_or_default().to_owned(),
                line: meta.line().unwrap_or(0),
                module: meta.module_path().unwrap_or_default().to_owned(),
                vars,
            });
        }
        out.reverse();
        out
    })
}
