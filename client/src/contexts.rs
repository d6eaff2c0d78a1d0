//! Environment contexts: `os`, `runtime`, `device`, `app`, `process` and allow-listed
//! environment variables.
//!
//! Computed once on the worker (file reads stay off the application's threads) and merged into
//! every event. On Linux the OS name/version come from `/etc/os-release` and the kernel from
//! `/proc/sys/kernel/osrelease`; the rustc version is the one that built this crate (and so the
//! application), recorded by `build.rs`.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::protocol::Timestamp;

static START_TIME: OnceLock<SystemTime> = OnceLock::new();

/// Records the process start time (first call wins); called from `init`.
pub(crate) fn mark_start() {
    START_TIME.get_or_init(SystemTime::now);
}

/// The rustc that built the application (`rustc -V` at build time).
pub const RUSTC_VERSION: &str = env!("ERRATA_RUSTC_VERSION");

/// The host name, best effort.
pub(crate) fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
}

fn os_release() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

fn os_context() -> Value {
    let mut os = Map::new();
    os.insert("type".into(), "os".into());
    if cfg!(target_os = "linux") {
        let rel = os_release();
        os.insert(
            "name".into(),
            rel.get("NAME")
                .cloned()
                .unwrap_or_else(|| "Linux".into())
                .into(),
        );
        if let Some(v) = rel.get("VERSION_ID") {
            os.insert("version".into(), v.clone().into());
        }
        if let Some(v) = rel.get("PRETTY_NAME") {
            os.insert("pretty_name".into(), v.clone().into());
        }
        if let Ok(k) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
            os.insert("kernel_version".into(), k.trim().to_owned().into());
        }
    } else {
        os.insert("name".into(), std::env::consts::OS.into());
    }
    Value::Object(os)
}

fn runtime_context() -> Value {
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let mut parts = RUSTC_VERSION.split_whitespace();
    let name = parts.next().unwrap_or("rustc");
    let version = parts.next().unwrap_or("unknown");
    let channel = if version.contains("nightly") {
        "nightly"
    } else if version.contains("beta") {
        "beta"
    } else {
        "stable"
    };
    json!({"type": "runtime", "name": name, "version": version, "channel": channel,
           "raw_description": RUSTC_VERSION})
}

fn memory_size() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn device_context() -> Value {
    let mut d = Map::new();
    d.insert("type".into(), "device".into());
    d.insert("arch".into(), std::env::consts::ARCH.into());
    if let Ok(n) = std::thread::available_parallelism() {
        d.insert("processor_count".into(), n.get().into());
    }
    if let Some(m) = memory_size() {
        d.insert("memory_size".into(), m.into());
    }
    Value::Object(d)
}

fn binary_name() -> Option<String> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// The default release when none is configured: the binary's name.
pub(crate) fn default_release() -> Option<String> {
    binary_name()
}

/// All static contexts, keyed by context name.
pub(crate) fn static_contexts(release: Option<&str>) -> BTreeMap<String, Value> {
    let mut c = BTreeMap::new();
    c.insert("os".to_owned(), os_context());
    c.insert("runtime".to_owned(), runtime_context());
    c.insert("device".to_owned(), device_context());
    let mut app = Map::new();
    app.insert("type".into(), "app".into());
    if let Some(start) = START_TIME.get() {
        app.insert(
            "app_start_time".into(),
            Timestamp(*start).to_rfc3339().into(),
        );
    }
    if let Some(name) = binary_name() {
        app.insert("app_name".into(), name.into());
    }
    if let Some(r) = release {
        app.insert("app_version".into(), r.to_owned().into());
    }
    c.insert("app".to_owned(), Value::Object(app));
    c.insert(
        "process".to_owned(),
        json!({"type": "process", "pid": std::process::id()}),
    );
    c
}

/// Allow-listed environment variables, secret-looking names filtered.
pub(crate) fn env_context(allow: &[String], secret_names: &[String]) -> Option<Value> {
    let mut m = Map::new();
    for name in allow {
        if let Ok(v) = std::env::var(name) {
            let v = if crate::options::is_secret_name(secret_names, name) {
                crate::locals::FILTERED.to_owned()
            } else {
                v
            };
            m.insert(name.clone(), v.into());
        }
    }
    (!m.is_empty()).then(|| {
        m.insert("type".into(), "env".into());
        Value::Object(m)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_have_os_and_runtime() {
        let c = static_contexts(Some("app@1.0"));
        assert!(c["os"]["name"].is_string());
        assert!(c["runtime"]["version"]
            .as_str()
            .unwrap()
            .starts_with(char::is_numeric));
        assert_eq!(c["app"]["app_version"], "app@1.0");
    }

    #[test]
    fn env_vars_are_allowlisted_and_scrubbed() {
        let allow = vec!["PATH".to_owned(), "ERRATA_UNSET_VAR_X".to_owned()];
        let c = env_context(&allow, &["path".to_owned()]).unwrap();
        assert_eq!(c["PATH"], crate::locals::FILTERED);
        assert!(c.get("ERRATA_UNSET_VAR_X").is_none());
    }
}
