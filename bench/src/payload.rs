//! Realistic error envelopes, rendered once per (issue, variant) and patched per event.
//!
//! Each template is a complete envelope (header line, item header with `length`, event JSON)
//! shaped like what sentry-python sends for a chained exception in a web request: two
//! exceptions (a library `ConnectionError`/`TimeoutError`/… as the cause, the application
//! error last), 12–22 frames (17 on average) with context lines and a few locals on the
//! in-app frames, tags, contexts (os, runtime, trace, a custom one), 4–11 breadcrumbs, request,
//! user, sdk and modules. That lands between 5 and 15 KB of JSON.
//!
//! The only per-event field is the event id, which occurs twice (envelope header and event)
//! and has a fixed width (32 hex), so rendering an event is a memcpy plus two 32-byte patches
//! instead of a JSON serialization inside the timed loop.
//!
//! Issue `k` differs from issue `k'` in its in-app module and function names, which is what the
//! server's grouping hashes; the `run_tag` is part of the module names so that every run
//! creates its own issues and the read-API check can count them exactly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

// A child module in a file of its own: whatever includes this file by `#[path]` gets it too.
#[path = "gzip.rs"]
mod gzip;

use gzip::GzipTemplate;

/// The stand-in for the event id in templates; nothing else in a payload can contain it
/// (generated text uses no hex runs this long).
const PLACEHOLDER: &[u8; 32] = b"ffffffffffffffff0000000000000000";

/// One pre-rendered envelope and where its event id goes.
#[derive(Debug)]
struct Template {
    bytes: Vec<u8>,
    /// Ascending.
    id_offsets: Vec<usize>,
    /// The compressed spans, when the spec asks for gzip bodies.
    gzip: Option<GzipTemplate>,
}

/// All templates of a run: `issues × variants` envelopes.
#[derive(Debug)]
pub struct Payloads {
    templates: Vec<Template>,
    variants: usize,
}

/// Parameters of the generated payloads.
#[derive(Debug, Clone)]
pub struct PayloadSpec {
    /// Distinct issues (K).
    pub issues: usize,
    /// Different payloads per issue (locals, user, breadcrumbs differ; grouping does not).
    pub variants: usize,
    /// Seed for the generated text.
    pub seed: u64,
    /// Unique per run, embedded in module names so issues of different runs never merge.
    pub run_tag: String,
    /// Gzip level (1–9) of the request bodies ([`Payloads::body`]); `None`: plain bodies.
    pub gzip: Option<u32>,
}

impl Payloads {
    /// Renders every template (roughly 1 ms per 50), and compresses it when the spec asks for
    /// gzip bodies (about as long again at level 1).
    pub fn build(spec: &PayloadSpec) -> anyhow::Result<Self> {
        let variants = spec.variants.max(1);
        let mut templates = Vec::with_capacity(spec.issues.max(1) * variants);
        for issue in 0..spec.issues.max(1) {
            for variant in 0..variants {
                let mut rng = StdRng::seed_from_u64(
                    spec.seed ^ ((issue as u64) << 20) ^ (variant as u64).wrapping_mul(0x9e37),
                );
                let event = build_event(issue, variant, &spec.run_tag, &mut rng);
                let mut template = render_template(&event)?;
                if let Some(level) = spec.gzip {
                    template.gzip = Some(GzipTemplate::new(
                        &template.bytes,
                        &template.id_offsets,
                        level,
                    )?);
                }
                templates.push(template);
            }
        }
        Ok(Payloads {
            templates,
            variants,
        })
    }

    /// Distinct issues (K).
    pub fn issues(&self) -> usize {
        self.templates.len() / self.variants
    }

    /// Variants per issue.
    pub fn variants(&self) -> usize {
        self.variants
    }

    /// Average template size in bytes (uncompressed envelope).
    pub fn average_size(&self) -> usize {
        let total: usize = self.templates.iter().map(|t| t.bytes.len()).sum();
        total / self.templates.len().max(1)
    }

    /// Smallest and largest template size in bytes.
    pub fn size_range(&self) -> (usize, usize) {
        let sizes = self.templates.iter().map(|t| t.bytes.len());
        (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0))
    }

    /// The request body of issue `issue`, variant `variant`, with `event_id` (32 lowercase
    /// hex): the envelope, gzip-compressed when the spec asked for it (from the template's
    /// compressed spans, so that an event costs a copy and a CRC-32: `gzip.rs`).
    pub fn body(&self, issue: usize, variant: usize, event_id: &[u8; 32]) -> Vec<u8> {
        let idx = (issue * self.variants + variant % self.variants) % self.templates.len();
        let t = &self.templates[idx];
        let mut raw = t.bytes.clone();
        for &off in &t.id_offsets {
            raw[off..off + 32].copy_from_slice(event_id);
        }
        match &t.gzip {
            Some(gzip) => gzip.render(&raw, event_id),
            None => raw,
        }
    }
}

/// A fresh event id: 32 lowercase hex digits from `rng`.
pub fn new_event_id<R: Rng + ?Sized>(rng: &mut R) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut v: u128 = rng.random();
    let mut out = [0u8; 32];
    for b in out.iter_mut().rev() {
        *b = HEX[(v & 0xf) as usize];
        v >>= 4;
    }
    out
}

fn render_template(event: &Value) -> anyhow::Result<Template> {
    let placeholder = std::str::from_utf8(PLACEHOLDER)?;
    let payload = serde_json::to_vec(event)?;
    let header = json!({
        "event_id": placeholder,
        "sent_at": now_rfc3339(),
        "sdk": {"name": "sentry.python", "version": "2.19.0"},
    });
    let item =
        json!({"type": "event", "content_type": "application/json", "length": payload.len()});
    let mut bytes = serde_json::to_vec(&header)?;
    bytes.push(b'\n');
    bytes.extend_from_slice(&serde_json::to_vec(&item)?);
    bytes.push(b'\n');
    bytes.extend_from_slice(&payload);
    bytes.push(b'\n');
    let id_offsets: Vec<usize> = bytes
        .windows(PLACEHOLDER.len())
        .enumerate()
        .filter(|(_, w)| *w == PLACEHOLDER)
        .map(|(i, _)| i)
        .collect();
    anyhow::ensure!(
        id_offsets.len() == 2,
        "event id placeholder found {} times in a template, expected 2",
        id_offsets.len()
    );
    Ok(Template {
        bytes,
        id_offsets,
        gzip: None,
    })
}

fn now_rfc3339() -> String {
    // Seconds since the epoch rendered by hand: the bench has no date crate and the exact
    // format only has to be RFC 3339.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

const REGIONS: &[&str] = &["eu-west-1", "us-east-1", "ap-south-1"];
const AREAS: &[&str] = &[
    "billing",
    "checkout",
    "accounts",
    "catalog",
    "shipping",
    "search",
    "notifications",
    "reports",
];
const VERBS: &[&str] = &[
    "apply", "charge", "load", "sync", "render", "validate", "refund", "export", "import",
    "resolve", "compute", "dispatch", "reserve", "publish", "merge",
];
const NOUNS: &[&str] = &[
    "invoice",
    "discount",
    "cart",
    "account",
    "shipment",
    "order",
    "coupon",
    "profile",
    "report",
    "webhook",
    "session",
    "payment",
    "address",
    "inventory",
    "subscription",
    "ledger",
];
const APP_ERRORS: &[&str] = &[
    "PaymentDeclined",
    "InventoryError",
    "ValidationError",
    "OrderStateError",
    "UpstreamError",
    "PermissionDenied",
    "QuotaExceeded",
    "IntegrityError",
];
const CAUSES: &[(&str, &str, &str)] = &[
    (
        "ConnectionError",
        "requests.exceptions",
        "HTTPSConnectionPool(host='api.payments.internal', port=443): Max retries exceeded with url: /v2/charges/4711",
    ),
    (
        "TimeoutError",
        "builtins",
        "timed out after 3012 ms waiting for a connection from the pool",
    ),
    (
        "KeyError",
        "builtins",
        "'customer_id'",
    ),
    (
        "OperationalError",
        "psycopg2",
        "could not serialize access due to concurrent update",
    ),
];
const WORDS: &[&str] = &[
    "self", "order", "items", "total", "customer", "request", "response", "amount", "currency",
    "retry", "config", "logger", "session", "result", "payload", "status", "client", "cursor",
];
const LIB_FRAMES: &[(&str, &str, &str)] = &[
    (
        "django/core/handlers/exception.py",
        "django.core.handlers.exception",
        "inner",
    ),
    (
        "django/core/handlers/base.py",
        "django.core.handlers.base",
        "_get_response",
    ),
    (
        "django/views/generic/base.py",
        "django.views.generic.base",
        "view",
    ),
    (
        "django/views/generic/base.py",
        "django.views.generic.base",
        "dispatch",
    ),
    (
        "rest_framework/views.py",
        "rest_framework.views",
        "dispatch",
    ),
    (
        "rest_framework/views.py",
        "rest_framework.views",
        "handle_exception",
    ),
    ("django/db/transaction.py", "django.db.transaction", "inner"),
    ("contextlib.py", "contextlib", "inner"),
];
const CAUSE_FRAMES: &[(&str, &str, &str)] = &[
    ("requests/api.py", "requests.api", "request"),
    ("requests/sessions.py", "requests.sessions", "request"),
    ("requests/sessions.py", "requests.sessions", "send"),
    ("requests/adapters.py", "requests.adapters", "send"),
    (
        "urllib3/connectionpool.py",
        "urllib3.connectionpool",
        "urlopen",
    ),
    ("urllib3/util/retry.py", "urllib3.util.retry", "increment"),
];

fn pick<'a, T, R: Rng + ?Sized>(rng: &mut R, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn code_line<R: Rng + ?Sized>(rng: &mut R, indent: usize) -> String {
    let a = pick(rng, WORDS);
    let b = pick(rng, WORDS);
    let c = pick(rng, WORDS);
    let pad = " ".repeat(indent);
    match rng.random_range(0..5) {
        0 => format!("{pad}{a} = {b}.get_{c}({a}, timeout=settings.TIMEOUT)"),
        1 => format!("{pad}if {a} is None or not {b}.{c}:"),
        2 => format!("{pad}logger.debug(\"{a} %s for {b}\", {c})"),
        3 => format!("{pad}return self._{a}_{b}({c}, **kwargs)"),
        _ => format!("{pad}for {a} in {b}.{c}.all():"),
    }
}

fn frame<R: Rng + ?Sized>(
    rng: &mut R,
    filename: &str,
    module: &str,
    function: &str,
    in_app: bool,
    site_packages: bool,
) -> Value {
    // One line of context each side (sentry-python sends five): ~20 frames then stay inside
    // the 5–15 KB budget.
    let pre = [code_line(rng, 8)];
    let post = [code_line(rng, 8)];
    let abs_path = if site_packages {
        format!("/srv/app/.venv/lib/python3.12/site-packages/{filename}")
    } else if in_app {
        format!("/srv/app/{filename}")
    } else {
        format!("/usr/lib/python3.12/{filename}")
    };
    let mut f = json!({
        "filename": filename,
        "abs_path": abs_path,
        "module": module,
        "function": function,
        "lineno": rng.random_range(12..900),
        "pre_context": pre,
        "context_line": code_line(rng, 12),
        "post_context": post,
        "in_app": in_app,
    });
    if in_app {
        let mut vars = serde_json::Map::new();
        for _ in 0..rng.random_range(1..4) {
            let name = (*pick(rng, WORDS)).to_string();
            let value = match rng.random_range(0..3) {
                0 => Value::String(format!(
                    "<Order id={} state='pending'>",
                    rng.random_range(1000..99_999)
                )),
                1 => Value::String(format!("{}", rng.random_range(0..10_000))),
                _ => Value::String(format!("'{}'", pick(rng, NOUNS))),
            };
            vars.insert(name, value);
        }
        f["vars"] = Value::Object(vars);
    }
    f
}

fn build_event<R: Rng + ?Sized>(issue: usize, variant: usize, run_tag: &str, rng: &mut R) -> Value {
    let area = AREAS[issue % AREAS.len()];
    let verb = VERBS[issue % VERBS.len()];
    let noun = NOUNS[(issue / VERBS.len()) % NOUNS.len()];
    let root = format!("shop_{run_tag}");
    let app_module = format!("{root}.{area}.{noun}_service");
    let crash_fn = format!("{verb}_{noun}_{issue}");
    let app_error = APP_ERRORS[issue % APP_ERRORS.len()];
    let (cause_type, cause_module, cause_value) = CAUSES[issue % CAUSES.len()];

    // Frame counts vary by issue so payload sizes spread over the 5–15 KB range.
    let lib_count = 3 + issue % 4;
    let app_count = 6 + (issue / 3) % 6;
    let cause_count = 3 + issue % 3;

    let mut frames = Vec::new();
    for (file, module, function) in LIB_FRAMES.iter().cycle().take(lib_count) {
        frames.push(frame(rng, file, module, function, false, true));
    }
    for depth in 0..app_count {
        let (module, function) = if depth + 1 == app_count {
            (app_module.clone(), crash_fn.clone())
        } else {
            let a = AREAS[(issue + depth) % AREAS.len()];
            let n = NOUNS[(issue + depth * 3) % NOUNS.len()];
            let v = VERBS[(issue + depth * 5) % VERBS.len()];
            (format!("{root}.{a}.{n}"), format!("{v}_{n}"))
        };
        let file = format!("{}.py", module.replace('.', "/"));
        frames.push(frame(rng, &file, &module, &function, true, false));
    }
    let mut cause_frames = Vec::new();
    for (file, module, function) in CAUSE_FRAMES.iter().cycle().take(cause_count) {
        cause_frames.push(frame(rng, file, module, function, false, true));
    }

    let user_id = rng.random_range(1..50_000);
    let order_id = rng.random_range(10_000..999_999);
    let mut breadcrumbs = Vec::new();
    let ts0 = 1_700_000_000.0 + rng.random_range(0..10_000_000) as f64;
    for i in 0..(4 + (issue + variant * 7) % 8) {
        let ts = ts0 + i as f64 * 0.137;
        let crumb = match i % 3 {
            0 => json!({
                "type": "http", "category": "httplib", "timestamp": ts, "level": "info",
                "data": {"method": "GET", "url": format!("https://api.internal/v1/{}/{}", pick(rng, NOUNS), rng.random_range(1..9999)), "status_code": 200, "reason": "OK"},
            }),
            1 => json!({
                "type": "default", "category": "query", "timestamp": ts, "level": "info",
                "message": format!("SELECT \"{n}\".\"id\", \"{n}\".\"state\" FROM \"{n}\" WHERE \"{n}\".\"customer_id\" = %s LIMIT 21", n = pick(rng, NOUNS)),
                "data": {"db.system": "postgresql"},
            }),
            _ => json!({
                "type": "log", "category": format!("{root}.{area}"), "timestamp": ts, "level": "warning",
                "message": format!("retrying {} for customer {} (attempt {})", pick(rng, NOUNS), user_id, i),
            }),
        };
        breadcrumbs.push(crumb);
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0);
    let trace_id = format!("{:032x}", rng.random::<u128>() >> 8);
    let span_id = format!("{:016x}", rng.random::<u64>() >> 4);
    let transaction = format!("/api/{area}/{noun}/{{id}}/{verb}");
    let release = format!("shop@2024.{}.{}", 1 + variant % 3, issue % 7);

    json!({
        "event_id": std::str::from_utf8(PLACEHOLDER).unwrap_or_default(),
        "timestamp": now,
        "platform": "python",
        "level": "error",
        "logger": format!("{root}.{area}"),
        "server_name": format!("web-{}", 1 + variant % 4),
        "release": release,
        "environment": if variant % 5 == 4 { "staging" } else { "production" },
        "transaction": transaction,
        "transaction_info": {"source": "route"},
        "message": format!("{app_error}: could not {verb} {noun} {order_id}"),
        "exception": {"values": [
            {
                "type": cause_type,
                "module": cause_module,
                "value": cause_value,
                "mechanism": {"type": "chained", "handled": true, "source": "__cause__", "exception_id": 1, "parent_id": 0},
                "stacktrace": {"frames": cause_frames},
            },
            {
                "type": app_error,
                "module": format!("{root}.errors"),
                "value": format!("could not {verb} {noun} {order_id} for customer {user_id}"),
                "mechanism": {"type": "django", "handled": false, "exception_id": 0},
                "stacktrace": {"frames": frames},
            }
        ]},
        "tags": {
            "customer_tier": if user_id % 3 == 0 { "enterprise" } else { "free" },
            "region": REGIONS[variant % REGIONS.len()],
            "http.status_code": "500",
            "feature.new_checkout": if variant % 2 == 0 { "true" } else { "false" },
            "worker": format!("gunicorn-{}", variant % 8),
            "url": format!("https://shop.example.com/api/{area}/{noun}/{order_id}/{verb}"),
        },
        "contexts": {
            "os": {"name": "Linux", "version": "6.1.0-18-amd64", "type": "os"},
            "runtime": {"name": "CPython", "version": "3.12.3", "build": "3.12.3 (main, Apr 10 2024, 05:33:47) [GCC 13.2.0]", "type": "runtime"},
            "trace": {"trace_id": trace_id, "span_id": span_id, "op": "http.server", "status": "internal_error", "type": "trace"},
            "order": {"id": order_id, "items": rng.random_range(1..12), "currency": "EUR", "total": format!("{}.{:02}", rng.random_range(5..900), rng.random_range(0..100))},
        },
        "breadcrumbs": {"values": breadcrumbs},
        "request": {
            "url": format!("https://shop.example.com/api/{area}/{noun}/{order_id}/{verb}"),
            "method": "POST",
            "query_string": "expand=items&expand=customer",
            "headers": {
                "Host": "shop.example.com",
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
                "Accept": "application/json",
                "Content-Type": "application/json",
                "X-Request-Id": format!("{:032x}", rng.random::<u128>() >> 12),
                "X-Forwarded-For": format!("10.{}.{}.{}", rng.random_range(0..255), rng.random_range(0..255), rng.random_range(1..255)),
            },
            "env": {"SERVER_NAME": "web", "SERVER_PORT": "8000"},
        },
        "user": {"id": user_id.to_string(), "ip_address": "{{auto}}", "username": format!("user{user_id}")},
        "sdk": {
            "name": "sentry.python.django",
            "version": "2.19.0",
            "integrations": ["django", "logging", "stdlib", "excepthook", "dedupe", "atexit", "modules", "argv", "threading"],
            "packages": [{"name": "pypi:sentry-sdk", "version": "2.19.0"}],
        },
        "modules": {
            "django": "5.0.6", "djangorestframework": "3.15.1", "requests": "2.32.3", "urllib3": "2.2.1",
            "psycopg2-binary": "2.9.9", "celery": "5.4.0", "redis": "5.0.4", "gunicorn": "22.0.0",
            "sentry-sdk": "2.19.0", "pydantic": "2.7.1",
        },
        "extra": {"sys.argv": ["gunicorn", "shop.wsgi", "--workers", "4"]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(issues: usize) -> PayloadSpec {
        PayloadSpec {
            issues,
            variants: 2,
            seed: 1,
            run_tag: "t1".into(),
            gzip: None,
        }
    }

    #[test]
    fn sizes_are_in_the_advertised_range() {
        let p = Payloads::build(&spec(60)).unwrap();
        let (min, max) = p.size_range();
        assert!(min >= 5_000 && max <= 15_000, "{min}..{max}");
        eprintln!("{min}..{max} avg {}", p.average_size());
    }

    #[test]
    fn render_patches_both_ids_and_stays_a_valid_envelope() {
        let p = Payloads::build(&spec(3)).unwrap();
        let id = *b"0123456789abcdef0123456789abcdef";
        let body = p.body(2, 1, &id);
        let text = String::from_utf8(body).unwrap();
        let mut lines = text.lines();
        let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let item: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let payload = lines.next().unwrap();
        let event: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(header["event_id"], "0123456789abcdef0123456789abcdef");
        assert_eq!(event["event_id"], "0123456789abcdef0123456789abcdef");
        assert_eq!(item["length"].as_u64().unwrap() as usize, payload.len());
        assert!(lines.next().is_none());
    }

    #[test]
    fn gzip_bodies_inflate_to_the_patched_templates() {
        use std::io::Read;
        let p = Payloads::build(&PayloadSpec {
            gzip: Some(1),
            ..spec(4)
        })
        .unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        for (issue, variant) in [(0, 0), (3, 1), (2, 0)] {
            let id = new_event_id(&mut rng);
            let body = p.body(issue, variant, &id);
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut inflated)
                .unwrap();
            let t = &p.templates[issue * p.variants + variant];
            let mut expected = t.bytes.clone();
            for &off in &t.id_offsets {
                expected[off..off + 32].copy_from_slice(&id);
            }
            // Not assert_eq: a mismatch would print two 12 KB byte lists.
            assert!(inflated == expected, "issue {issue} variant {variant}");
            assert!(
                body.len() * 2 < inflated.len(),
                "{} of {}",
                body.len(),
                inflated.len()
            );
        }
    }

    #[test]
    fn event_ids_are_32_lower_hex() {
        let mut rng = StdRng::seed_from_u64(3);
        let id = new_event_id(&mut rng);
        assert!(id
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)));
        assert_ne!(id, new_event_id(&mut rng));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
