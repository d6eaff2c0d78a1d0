//! Source-map resolution at ingest: the stage between normalization and grouping that gives
//! JavaScript frames back their original file, line, column, function and source context
//! (sentry-protocol-more.md section 2; the order of lookups follows symbolicator's
//! `symbolicator-js/src/lookup.rs`).
//!
//! For each frame of a `javascript` or `node` event whose `abs_path` (else `filename`) is a
//! file with a line and column:
//!
//! 1. the map: the event's `debug_meta.images` entry of type `sourcemap` whose `code_file` is
//!    the frame's URL gives a debug ID, and the project's artifact with that debug ID is the
//!    map; without a debug ID, the release's files are searched by URL ([`super::urls`]:
//!    `~/path` matches any host), the minified file's `Sourcemap` header or
//!    `sourceMappingURL` comment (else `<url>.map`) naming the map;
//! 2. the lookup: the map's token at (line − 1, column − 1) gives the original source, line
//!    and column; the function's original name comes from the minified source (the name the
//!    map gives the minified function's identifier), else from the caller's call site, else
//!    the minified name stays; source context (5 lines each side) comes from
//!    `sourcesContent`;
//! 3. the rewrite: the frame gets the original `abs_path` (the source resolved against the
//!    map's URL), `filename` (the source as the map lists it, without `./`, `../` and
//!    bundler prefixes), `lineno`, `colno`, `function` and context, and keeps the minified
//!    frame in `data.minified` (`abs_path`, `function`, `lineno`, `colno`) with
//!    `data.sourcemap` (the map's URL) and `data.resolved_with` (`debug-id` or `release`);
//!    `in_app` is decided again on the new path (the SDK's own code is under
//!    `node_modules/@sentry/`). The exception keeps its minified stack as `raw_stacktrace`.
//!
//! A frame that cannot be resolved keeps its minified fields and, in a `javascript` event,
//! gets `data.sourcemap_error`, the reason: no debug ID and no release, no map uploaded for
//! the debug ID, no release file for the URL, no mapping at that position, a map that cannot
//! be read (`node` frames get no note: most Node.js code runs unminified). One failure never
//! affects another frame. Work is bounded: at most [`MAX_FILES_PER_EVENT`] distinct files per
//! event, parsed maps come from the per-server cache ([`SourceMaps`]), and map sizes were
//! capped at upload. Other platforms return at once without touching the event. Frames are
//! counted in `errata_sourcemap_frames_total{outcome="resolved"|"missing"}`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use sourcemap::{SourceMap, SourceView};

use super::cache::{Located, Parsed, SourceMaps};
use super::urls;
use crate::normalize::{re_resolve_in_app, Normalized};
use crate::store::{ArtifactKind, ArtifactRef, Store, StoreError};

/// Most distinct files of one event whose maps are looked up; frames of further files are
/// noted as not resolved.
pub const MAX_FILES_PER_EVENT: usize = 32;

/// Source lines shown on each side of a frame's line.
pub const CONTEXT_LINES: u32 = 5;

/// Longest context line kept, in characters (a minified one-line bundle must not land in the
/// event whole).
pub const MAX_CONTEXT_CHARS: usize = 300;

/// Where a frame's map comes from, with the parsed map and minified source.
#[derive(Debug, Clone)]
struct Loaded {
    map: Arc<SourceMap>,
    minified: Option<Arc<SourceView>>,
    map_url: String,
    via: &'static str,
}

/// Resolves the frames of `n` in place; true when a frame changed (rewritten or noted), in
/// which case the culprit was recomputed. Never fails: lookups that fail become notes.
pub async fn resolve_event(
    store: &Store,
    maps: &SourceMaps,
    project_id: i64,
    n: &mut Normalized,
) -> bool {
    if !matches!(n.fields.platform.as_str(), "javascript" | "node") {
        return false;
    }
    n.frames_into_tree();
    let mut urls: Vec<String> = Vec::new();
    visit_frames(&mut n.event, &mut |frame| {
        if let Some(url) = frame_url(frame) {
            if !urls.iter().any(|u| u == url) {
                urls.push(url.to_owned());
            }
        }
    });
    if urls.is_empty() {
        return false;
    }
    let images = debug_images(&n.event);
    let release = n.fields.release.clone();
    let dist = n.view().dist().map(str::to_owned);
    let mut loaded: HashMap<String, Result<Loaded, String>> = HashMap::new();
    for (i, url) in urls.into_iter().enumerate() {
        let result = if i >= MAX_FILES_PER_EVENT {
            Err(format!(
                "not looked up: the event has frames from more than {MAX_FILES_PER_EVENT} files"
            ))
        } else {
            let debug_id = images.get(&url).map(String::as_str);
            load(
                store,
                maps,
                project_id,
                &url,
                debug_id,
                release.as_deref(),
                dist.as_deref(),
            )
            .await
        };
        loaded.insert(url, result);
    }
    let platform = n.fields.platform.clone();
    let mut changed = false;
    visit_stacks(&mut n.event, &mut |parent, is_exception| {
        changed |= rewrite_stack(parent, is_exception, &loaded, &platform);
    });
    if changed {
        n.frames_rewritten();
    }
    changed
}

/// The frame's file, when it is one a map could be found for: a URL or path with a line
/// and column, not native or anonymous code.
fn frame_url(frame: &Map<String, Value>) -> Option<&str> {
    let url = ["abs_path", "filename"].iter().find_map(|k| {
        frame
            .get(*k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    })?;
    let positioned = frame.get("lineno").and_then(Value::as_u64).is_some()
        && frame.get("colno").and_then(Value::as_u64).is_some();
    let code = !matches!(
        url,
        "<anonymous>" | "[native code]" | "native" | "native code" | "eval code"
    ) && !url.starts_with("node:");
    (positioned && code).then_some(url)
}

/// `code_file` → debug ID of the event's `debug_meta.images` of type `sourcemap`.
fn debug_images(event: &Value) -> HashMap<String, String> {
    event
        .pointer("/debug_meta/images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("sourcemap"))
        .filter_map(|i| {
            let file = i.get("code_file")?.as_str()?;
            let id = super::bundle::normalize_debug_id(i.get("debug_id")?.as_str()?)?;
            Some((file.to_owned(), id))
        })
        .collect()
}

/// Finds and parses the map of the file at `url`; `Err` is the reason for the frame's note.
async fn load(
    store: &Store,
    maps: &SourceMaps,
    project_id: i64,
    url: &str,
    debug_id: Option<&str>,
    release: Option<&str>,
    dist: Option<&str>,
) -> Result<Loaded, String> {
    let key = match debug_id {
        Some(id) => format!("{project_id}|id|{id}|{url}"),
        None => format!(
            "{project_id}|rel|{}|{}|{url}",
            release.unwrap_or(""),
            dist.unwrap_or("")
        ),
    };
    let located = match maps.lookup(&key) {
        Some(hit) => hit?,
        None => {
            let found = match locate(store, project_id, url, debug_id, release, dist).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, "source map lookup failed");
                    return Err("the source map lookup failed (database error)".to_owned());
                }
            };
            maps.remember(key, found.clone());
            found?
        }
    };
    let map = match parsed(store, maps, located.map_file, ArtifactKind::SourceMap).await? {
        Parsed::Map(m) => m,
        Parsed::Source(_) => return Err("the uploaded source map is not a map".to_owned()),
    };
    let minified = match located.minified_file {
        Some(id) => match parsed(store, maps, id, ArtifactKind::MinifiedSource).await {
            Ok(Parsed::Source(s)) => Some(s),
            _ => None,
        },
        None => None,
    };
    Ok(Loaded {
        map,
        minified,
        map_url: located.map_url,
        via: if debug_id.is_some() {
            "debug-id"
        } else {
            "release"
        },
    })
}

/// Which artifacts hold the map of `url`. The outer error is the store's; the inner one the
/// reason no map was found (cached like a found one).
async fn locate(
    store: &Store,
    project_id: i64,
    url: &str,
    debug_id: Option<&str>,
    release: Option<&str>,
    dist: Option<&str>,
) -> Result<Result<Located, String>, StoreError> {
    if let Some(id) = debug_id {
        let Some(map) = store
            .artifact_by_debug_id(project_id, id, ArtifactKind::SourceMap)
            .await?
        else {
            return Ok(Err(format!(
                "no source map was uploaded with debug ID {id} (sentry-cli sourcemaps upload)"
            )));
        };
        let minified = store
            .artifact_by_debug_id(project_id, id, ArtifactKind::MinifiedSource)
            .await?;
        let map_url = map
            .url
            .as_deref()
            .map_or_else(|| urls::join(url, "."), |u| absolutize(u, url));
        return Ok(Ok(Located {
            map_file: map.file_id,
            minified_file: minified.map(|m| m.file_id),
            map_url,
        }));
    }
    let Some(release) = release else {
        return Ok(Err(
            "no debug ID for this file (sentry-cli sourcemaps inject) and the event has no release"
                .to_owned(),
        ));
    };
    let candidates = urls::candidates(url);
    let mut wanted = candidates.clone();
    wanted.extend(candidates.iter().map(|c| format!("{c}.map")));
    let files = store
        .artifacts_by_url(project_id, release, dist, &wanted)
        .await?;
    let find = |urls: &[String], map: bool, files: &[ArtifactRef]| -> Option<ArtifactRef> {
        urls.iter().find_map(|u| {
            files
                .iter()
                .find(|f| f.url.as_deref() == Some(u) && (f.kind == "source_map") == map)
                .cloned()
        })
    };
    let minified = find(&candidates, false, &files);
    let reference = match &minified {
        Some(m) => match &m.sourcemap {
            Some(r) => Some(r.clone()),
            None => sourcemap_comment(store, m.file_id).await?,
        },
        None => None,
    };
    let map = match reference {
        Some(r) if r.starts_with("data:") => return Ok(Err(
            "the file names an inline (data: URL) source map, which is not read; upload the map"
                .to_owned(),
        )),
        Some(r) => {
            let map_url = urls::join(url, &r);
            let map_candidates = urls::candidates(&map_url);
            let found = match find(&map_candidates, true, &files) {
                Some(f) => Some(f),
                None => {
                    let more = store
                        .artifacts_by_url(project_id, release, dist, &map_candidates)
                        .await?;
                    find(&map_candidates, true, &more)
                }
            };
            found.map(|f| (f, map_url))
        }
        None => {
            let map_candidates: Vec<String> =
                candidates.iter().map(|c| format!("{c}.map")).collect();
            find(&map_candidates, true, &files).map(|f| (f, format!("{url}.map")))
        }
    };
    Ok(match map {
        Some((map, map_url)) => Ok(Located {
            map_file: map.file_id,
            minified_file: minified.map(|m| m.file_id),
            map_url,
        }),
        None => Err(format!(
            "no source map among the files of release {release} for {} (sentry-cli sourcemaps upload --release)",
            candidates.last().map_or(url, String::as_str)
        )),
    })
}

/// The `sourceMappingURL` comment at the end of a stored minified file.
async fn sourcemap_comment(store: &Store, file_id: i64) -> Result<Option<String>, StoreError> {
    let content = store.artifact_content(file_id).await?;
    Ok(sourcemap::locate_sourcemap_reference_slice(&content)
        .ok()
        .flatten()
        .map(|r| r.get_url().to_owned()))
}

/// A stored `~/path` URL on the frame URL's scheme and host.
fn absolutize(stored: &str, frame_url: &str) -> String {
    match stored.strip_prefix('~') {
        Some(path) => match url::Url::parse(frame_url) {
            Ok(u) => format!("{}{path}", u.origin().ascii_serialization()),
            Err(_) => stored.to_owned(),
        },
        None => stored.to_owned(),
    }
}

/// The parsed artifact, from the cache or the store.
async fn parsed(
    store: &Store,
    maps: &SourceMaps,
    file_id: i64,
    kind: ArtifactKind,
) -> Result<Parsed, String> {
    if let Some(p) = maps.get(file_id) {
        return Ok(p);
    }
    let content = store.artifact_content(file_id).await.map_err(|e| {
        tracing::warn!(error = %e, file_id, "reading an artifact failed");
        "the uploaded source map could not be read (database error)".to_owned()
    })?;
    let size = content.len();
    let value = match kind {
        ArtifactKind::SourceMap => Parsed::Map(Arc::new(parse_map(&content)?)),
        _ => Parsed::Source(Arc::new(SourceView::from_string(
            String::from_utf8_lossy(&content).into_owned(),
        ))),
    };
    // A parsed map takes about twice its JSON (tokens, names, sources content).
    maps.put(file_id, value.clone(), size.saturating_mul(2));
    Ok(value)
}

fn parse_map(content: &[u8]) -> Result<SourceMap, String> {
    let bad = |e: sourcemap::Error| format!("the uploaded source map cannot be read: {e}");
    match sourcemap::decode_slice(content).map_err(bad)? {
        sourcemap::DecodedMap::Regular(m) => Ok(m),
        sourcemap::DecodedMap::Index(i) => i.flatten().map_err(bad),
        sourcemap::DecodedMap::Hermes(_) => {
            Err("Hermes (React Native) source maps are not supported".to_owned())
        }
    }
}

/// Calls `f` on every object that holds a `stacktrace`: each exception (`true`), each
/// thread, and the event itself.
fn visit_stacks(event: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>, bool)) {
    let Value::Object(root) = event else {
        return;
    };
    for (key, is_exception) in [("exception", true), ("threads", false)] {
        if let Some(Value::Array(list)) = root.get_mut(key).and_then(|v| v.get_mut("values")) {
            for entry in list.iter_mut() {
                if let Value::Object(parent) = entry {
                    f(parent, is_exception);
                }
            }
        }
    }
    f(root, false);
}

/// Calls `f` on every frame of every stack trace.
fn visit_frames(event: &mut Value, f: &mut dyn FnMut(&Map<String, Value>)) {
    visit_stacks(event, &mut |parent, _| {
        for frame in frames(parent).into_iter().flatten() {
            if let Value::Object(frame) = frame {
                f(frame);
            }
        }
    });
}

fn frames(parent: &Map<String, Value>) -> Option<&Vec<Value>> {
    parent.get("stacktrace")?.get("frames")?.as_array()
}

/// What the map says about one frame.
struct Resolution {
    abs_path: String,
    filename: String,
    lineno: u64,
    colno: u64,
    /// The original name the map gives the identifier at the frame's position (names the
    /// function the frame calls, so the next frame's name).
    call_site_name: Option<String>,
    /// The original name of the frame's own function, from the minified source.
    function: Option<String>,
    context: Option<(Vec<String>, String, Vec<String>)>,
}

/// Rewrites the frames of `parent.stacktrace`; true when any frame changed.
fn rewrite_stack(
    parent: &mut Map<String, Value>,
    is_exception: bool,
    loaded: &HashMap<String, Result<Loaded, String>>,
    platform: &str,
) -> bool {
    let Some(list) = frames(parent) else {
        return false;
    };
    let outcomes: Vec<Option<Result<(Resolution, &Loaded), String>>> = list
        .iter()
        .map(|f| {
            let frame = f.as_object()?;
            let result = loaded.get(frame_url(frame)?)?;
            Some(match result {
                Ok(l) => resolve_frame(frame, l).map(|r| (r, l)),
                Err(reason) => Err(reason.clone()),
            })
        })
        .collect();
    if outcomes.iter().all(Option::is_none) {
        return false;
    }
    if is_exception && outcomes.iter().any(|o| matches!(o, Some(Ok(_)))) {
        if let Some(raw) = parent.get("stacktrace").cloned() {
            parent.entry("raw_stacktrace").or_insert(raw);
        }
    }
    let call_sites: Vec<Option<String>> = outcomes
        .iter()
        .map(|o| match o {
            Some(Ok((r, _))) => r.call_site_name.clone(),
            _ => None,
        })
        .collect();
    let Some(Value::Array(list)) = parent
        .get_mut("stacktrace")
        .and_then(|st| st.get_mut("frames"))
    else {
        return false;
    };
    for (i, (frame, outcome)) in list.iter_mut().zip(outcomes).enumerate() {
        let caller = i.checked_sub(1).and_then(|c| call_sites[c].clone());
        let label = match &outcome {
            None => continue,
            Some(Ok(_)) => "resolved",
            Some(Err(_)) => "missing",
        };
        metrics::counter!("errata_sourcemap_frames_total", "outcome" => label).increment(1);
        match outcome {
            None => {}
            Some(Ok((r, l))) => {
                apply(frame, r, caller, l);
                re_resolve_in_app(frame, platform);
            }
            // Most Node.js code runs unminified: a note there would be noise on every frame.
            Some(Err(reason)) if platform != "node" => note(frame, &reason),
            Some(Err(_)) => {}
        }
    }
    true
}

/// Looks the frame's position up in the map.
fn resolve_frame(frame: &Map<String, Value>, l: &Loaded) -> Result<Resolution, String> {
    let line = frame.get("lineno").and_then(Value::as_u64).unwrap_or(0);
    let col = frame.get("colno").and_then(Value::as_u64).unwrap_or(0);
    let (Some(line0), Some(col0)) = (
        line.checked_sub(1).and_then(|v| u32::try_from(v).ok()),
        col.checked_sub(1).and_then(|v| u32::try_from(v).ok()),
    ) else {
        return Err("the frame has no line and column to look up".to_owned());
    };
    let no_mapping = || format!("the source map has no mapping for line {line}, column {col}");
    let token = l
        .map
        .lookup_token(line0, col0)
        .filter(|t| t.get_dst_line() == line0)
        .ok_or_else(no_mapping)?;
    let source = token.get_source().ok_or_else(no_mapping)?;
    let src_line = token.get_src_line();
    let context = l.map.get_source_view(token.get_src_id()).map(|view| {
        let get = |n: u32| view.get_line(n).map(cut_line).unwrap_or_default();
        let first = src_line.saturating_sub(CONTEXT_LINES);
        let pre = (first..src_line).map(get).collect();
        let last = (src_line.saturating_add(CONTEXT_LINES)).min(
            u32::try_from(view.line_count())
                .unwrap_or(u32::MAX)
                .saturating_sub(1),
        );
        let mut post: Vec<String> = (src_line + 1..=last).map(get).collect();
        // A file ending in a newline has an empty last "line": not worth showing.
        if post.last().is_some_and(String::is_empty) && last as usize + 1 == view.line_count() {
            post.pop();
        }
        (pre, get(src_line), post)
    });
    let minified_name = frame
        .get("function")
        .and_then(Value::as_str)
        .map(|f| f.rsplit('.').next().unwrap_or(f));
    let function = match (&l.minified, minified_name) {
        (Some(view), Some(name)) => view
            .get_original_function_name(token, name)
            .or_else(|| declared_name(&l.map, view, line0, col0, name))
            .map(str::to_owned),
        _ => None,
    };
    Ok(Resolution {
        abs_path: urls::join(&l.map_url, source),
        filename: urls::source_filename(source),
        lineno: u64::from(src_line) + 1,
        colno: u64::from(token.get_src_col()) + 1,
        call_site_name: token.get_name().map(str::to_owned),
        function,
        context,
    })
}

/// The original name of the function `name` declared before (`line`, `col`) of the minified
/// source: the nearest `function name(` (also `async function`, generators) on that line,
/// whose name the map names. Covers what the source view's scan misses (an `async function`
/// has no token at `function`). ASCII lines only, where columns are byte offsets.
fn declared_name<'m>(
    map: &'m SourceMap,
    view: &SourceView,
    line: u32,
    col: u32,
    name: &str,
) -> Option<&'m str> {
    let text = view.get_line(line)?;
    if !text.is_ascii() {
        return None;
    }
    let before = text.get(..usize::try_from(col).ok()?.min(text.len()))?;
    let at = ["function ", "function*", "function* "]
        .iter()
        .filter_map(|kw| {
            let pattern = format!("{kw}{name}(");
            before.rfind(&pattern).map(|i| i + kw.len())
        })
        .max()?;
    let token = map.lookup_token(line, u32::try_from(at).ok()?)?;
    (token.get_dst() == (line, u32::try_from(at).ok()?))
        .then(|| token.get_name())
        .flatten()
}

fn cut_line(line: &str) -> String {
    match line.char_indices().nth(MAX_CONTEXT_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// Writes the original position into the frame, keeping the minified one in
/// `data.minified`.
fn apply(frame: &mut Value, r: Resolution, caller_name: Option<String>, l: &Loaded) {
    let Value::Object(f) = frame else {
        return;
    };
    let minified = json!({
        "abs_path": f.get("abs_path").or_else(|| f.get("filename")).cloned().unwrap_or(Value::Null),
        "function": f.get("function").cloned().unwrap_or(Value::Null),
        "lineno": f.get("lineno").cloned().unwrap_or(Value::Null),
        "colno": f.get("colno").cloned().unwrap_or(Value::Null),
    });
    if let Some(name) = r.function.or(caller_name) {
        f.insert("function".to_owned(), Value::String(name));
    }
    f.insert("abs_path".to_owned(), Value::String(r.abs_path));
    f.insert("filename".to_owned(), Value::String(r.filename));
    f.insert("lineno".to_owned(), Value::from(r.lineno));
    f.insert("colno".to_owned(), Value::from(r.colno));
    f.remove("module");
    if let Some((pre, line, post)) = r.context {
        f.insert("pre_context".to_owned(), json!(pre));
        f.insert("context_line".to_owned(), Value::String(line));
        f.insert("post_context".to_owned(), json!(post));
    }
    with_data(f, |data| {
        data.insert("minified".to_owned(), minified);
        data.remove("sourcemap_error");
        data.insert("sourcemap".to_owned(), Value::String(l.map_url.clone()));
        data.insert("resolved_with".to_owned(), Value::String(l.via.to_owned()));
    });
}

/// Records why the frame was not resolved.
fn note(frame: &mut Value, reason: &str) {
    if let Value::Object(f) = frame {
        with_data(f, |data| {
            data.insert(
                "sourcemap_error".to_owned(),
                Value::String(reason.to_owned()),
            );
        });
    }
}

/// Edits the frame's `data` object, created (or replacing a non-object) as needed.
fn with_data(f: &mut Map<String, Value>, edit: impl FnOnce(&mut Map<String, Value>)) {
    let slot = f.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(data) = slot {
        edit(data);
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
