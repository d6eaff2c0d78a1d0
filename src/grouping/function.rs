//! Function-name normalization per platform (sentry-protocol.md 7.4.4).
//!
//! The goal is a name that is stable across builds, compilers and demanglers: Rust symbol
//! hashes, crate disambiguators and generic arguments change between builds, closures print
//! differently under the legacy and v0 demanglers, JavaScript names carry receiver prefixes,
//! and JVM/Ruby code generation appends counters.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

static RUST_HASH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"::h[0-9a-f]{16}$").expect("the Rust hash pattern is a valid literal regex")
});
static CRATE_DISAMBIGUATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[[0-9a-f]{16}\]").expect("the disambiguator pattern is a valid literal regex")
});
static V0_CLOSURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{closure#\d+\}").expect("the closure pattern is a valid literal regex")
});
static V0_SHIM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{shim:vtable#\d+\}").expect("the shim pattern is a valid literal regex")
});
static ERB_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"__\d{4,}_\d{4,}$").expect("the ERB pattern is a valid literal regex")
});
static JAVA_GENERATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<lambda>\$\$Lambda\$)[^.]*",
        r"|(?P<cglib>CGLIB\$\$)[0-9a-fA-F]+",
        r"|(?P<javassist>\$\$_javassist_)\d+",
        r"|(?P<accessor>GeneratedMethodAccessor)\d+",
    ))
    .expect("the JVM generated-class pattern is a valid literal regex")
});

/// Normalizes a native (Rust, C, C++) function name; may return an empty string when nothing
/// usable is left (e.g. the name was only a generic list).
///
/// Steps (7.4.4): trim; drop a trailing `::h<16 hex>` and `[<16 hex>]` disambiguators;
/// `{closure#N}` → `{{closure}}`; drop vtable-shim markers; drop generic argument lists except
/// a leading `<Type as Trait>` qualifier (whose own generics are dropped); for C/C++ names with
/// an argument list, drop arguments, qualifiers and the return type.
pub fn normalize_native(func: &str) -> String {
    let f = func.trim();
    let f = RUST_HASH.replace(f, "");
    let f = replace_cow(f, &CRATE_DISAMBIGUATOR, "");
    let f = replace_cow(f, &V0_CLOSURE, "{{closure}}");
    let f = f.replace("{{vtable.shim}}", "");
    let f = V0_SHIM.replace_all(&f, "");
    let f = drop_generics(&f);
    if looks_like_cpp_with_args(&f) {
        trim_cpp(&f)
    } else {
        f
    }
}

fn replace_cow<'a>(s: Cow<'a, str>, re: &Regex, rep: &str) -> Cow<'a, str> {
    match s {
        Cow::Borrowed(b) => re.replace_all(b, rep),
        Cow::Owned(o) => Cow::Owned(re.replace_all(&o, rep).into_owned()),
    }
}

/// Removes every balanced `<…>` group except a leading `<Type as Trait>` qualifier (kept, its
/// inner groups removed). A `>` preceded by `-` is part of `->` and closes nothing. Finally
/// collapses `::::` and strips trailing `:` left behind by removed groups.
fn drop_generics(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let lead = s.starts_with('<');
    let mut depth = 0usize;
    let mut prev: Option<char> = None;
    for (i, c) in s.char_indices() {
        if c == '<' && !(lead && i == 0) {
            depth += 1;
        } else if c == '>' && depth > 0 && prev != Some('-') {
            depth -= 1;
        } else if depth == 0 {
            out.push(c);
        }
        prev = Some(c);
    }
    let out = if out.contains("::::") {
        out.replace("::::", "::")
    } else {
        out
    };
    let trimmed = out.trim_end_matches(':');
    if trimmed.len() == out.len() {
        out
    } else {
        trimmed.to_owned()
    }
}

/// A C/C++ demangled name with an argument list. Rust names never carry a top-level `(` once
/// generics are gone; Rust qualifiers (`<dyn Fn(u8) as …>`) start with `<` and Objective-C
/// selectors (`-[Cls sel:]`) are left alone.
fn looks_like_cpp_with_args(f: &str) -> bool {
    f.contains('(')
        && !f.starts_with('<')
        && !f.starts_with("_<")
        && !f.starts_with("-[")
        && !f.starts_with("+[")
}

/// Drops argument lists, trailing `const`/`volatile`/`&`/`&&` and the return type (the last
/// whitespace-separated token wins, as Sentry's `trim_function_name` does).
fn trim_cpp(f: &str) -> String {
    // Protect parentheses that are part of a name rather than an argument list.
    let protected = f
        .replace("(anonymous namespace)", "\u{2}")
        .replace("operator()", "operator\u{1}");
    let mut out = String::with_capacity(protected.len());
    let mut depth = 0usize;
    for c in protected.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let mut s = out.trim_end();
    loop {
        let before = s.len();
        for suffix in [" const", " volatile", "&&", "&", " noexcept"] {
            if let Some(rest) = s.strip_suffix(suffix) {
                s = rest.trim_end();
            }
        }
        if s.len() == before {
            break;
        }
    }
    let last = s.rsplit(char::is_whitespace).next().unwrap_or(s);
    last.replace("operator\u{1}", "operator()")
        .replace('\u{2}', "`anonymous namespace'")
}

/// JavaScript / Node: the part after the last `.`, or `None` when the name is unusable
/// (`?`, `<anonymous>`, `<anonymous function>`, `Anonymous function`, names ending in `/<`).
pub fn normalize_js(func: &str) -> Option<&str> {
    let f = func.rsplit('.').next().unwrap_or(func);
    if matches!(
        f,
        "?" | "<anonymous>" | "<anonymous function>" | "Anonymous function"
    ) || f.ends_with("/<")
    {
        None
    } else {
        Some(f)
    }
}

/// Ruby: `block in …` / `block (2 levels) in …` → `block`; ERB template methods lose their
/// `__<digits>_<digits>` suffix.
pub fn normalize_ruby(func: &str) -> Cow<'_, str> {
    if func.starts_with("block ") {
        return Cow::Borrowed("block");
    }
    ERB_SUFFIX.replace(func, "")
}

/// Java (JVM): `None` for compiler-generated `lambda$…` methods; otherwise the name with
/// generated-class counters removed (see [`normalize_java_module`]).
pub fn normalize_java(func: &str) -> Option<Cow<'_, str>> {
    if func.starts_with("lambda$") {
        None
    } else {
        Some(normalize_java_module(func))
    }
}

/// Strips the variable parts of JVM code-generation names: `$$Lambda$…`, `CGLIB$$<hex>`,
/// `$$_javassist_<n>`, `GeneratedMethodAccessor<n>` keep their marker and lose the counter.
pub fn normalize_java_module(module: &str) -> Cow<'_, str> {
    JAVA_GENERATED.replace_all(module, |caps: &regex::Captures<'_>| {
        ["lambda", "cglib", "javassist", "accessor"]
            .iter()
            .find_map(|n| caps.name(n))
            .map_or_else(String::new, |m| m.as_str().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_spec_examples() {
        assert_eq!(
            normalize_native(
                "std::panic::catch_unwind::<&dyn Fn() -> i32 + Sync + RefUnwindSafe, i32>"
            ),
            "std::panic::catch_unwind"
        );
        assert_eq!(
            normalize_native(
                "<alloc::vec::Vec<T> as core::iter::traits::collect::FromIterator<T>>::from_iter"
            ),
            "<alloc::vec::Vec as core::iter::traits::collect::FromIterator>::from_iter"
        );
        assert_eq!(
            normalize_native("std::rt::lang_start_internal::{closure#0}"),
            "std::rt::lang_start_internal::{{closure}}"
        );
    }

    #[test]
    fn rust_hash_disambiguator_shims() {
        assert_eq!(
            normalize_native("  myapp::run::h0123456789abcdef "),
            "myapp::run"
        );
        assert_eq!(
            normalize_native("core[1a2b3c4d5e6f7a8b]::ops::function::FnOnce::call_once"),
            "core::ops::function::FnOnce::call_once"
        );
        assert_eq!(
            normalize_native("core::ops::function::FnOnce::call_once::{{vtable.shim}}"),
            "core::ops::function::FnOnce::call_once"
        );
        assert_eq!(
            normalize_native("core::ops::function::FnOnce::call_once::{shim:vtable#0}"),
            "core::ops::function::FnOnce::call_once"
        );
        assert_eq!(
            normalize_native("myapp::parse::{{closure}}"),
            "myapp::parse::{{closure}}"
        );
        // `->` inside generics does not close a bracket.
        assert_eq!(normalize_native("a::b::<fn() -> u8>::c"), "a::b::c");
    }

    #[test]
    fn cpp_and_objc() {
        assert_eq!(
            normalize_native("void foo::bar(int, char const*) const"),
            "foo::bar"
        );
        assert_eq!(
            normalize_native("std::vector<int>::push_back(int const&)"),
            "std::vector::push_back"
        );
        assert_eq!(
            normalize_native("(anonymous namespace)::worker(int)"),
            "`anonymous namespace'::worker"
        );
        assert_eq!(
            normalize_native("-[NSObject doSomething:]"),
            "-[NSObject doSomething:]"
        );
    }

    #[test]
    fn javascript() {
        assert_eq!(normalize_js("Object.<anonymous>"), None);
        assert_eq!(normalize_js("Router.handle"), Some("handle"));
        assert_eq!(normalize_js("?"), None);
        assert_eq!(normalize_js("Anonymous function"), None);
        assert_eq!(normalize_js("foo/<"), None);
        assert_eq!(normalize_js("main"), Some("main"));
    }

    #[test]
    fn ruby() {
        assert_eq!(normalize_ruby("block in process"), "block");
        assert_eq!(normalize_ruby("block (2 levels) in process"), "block");
        assert_eq!(
            normalize_ruby("_app_views_users_show_html_erb__1234567_7654321"),
            "_app_views_users_show_html_erb"
        );
        assert_eq!(normalize_ruby("perform"), "perform");
    }

    #[test]
    fn java() {
        assert_eq!(normalize_java("lambda$main$0"), None);
        assert_eq!(normalize_java("run").as_deref(), Some("run"));
        assert_eq!(
            normalize_java_module("com.example.Foo$$Lambda$123/0x0000000800c0b000"),
            "com.example.Foo$$Lambda$"
        );
        assert_eq!(
            normalize_java_module("com.example.Svc$$EnhancerBySpringCGLIB$$1a2b3c"),
            "com.example.Svc$$EnhancerBySpringCGLIB$$"
        );
        assert_eq!(
            normalize_java_module("com.example.Model_$$_javassist_42"),
            "com.example.Model_$$_javassist_"
        );
        assert_eq!(
            normalize_java_module("jdk.internal.reflect.GeneratedMethodAccessor17"),
            "jdk.internal.reflect.GeneratedMethodAccessor"
        );
    }
}
