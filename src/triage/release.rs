//! The order of a project's releases, as "resolved in a release" compares them.
//!
//! The rule is Sentry's (`GroupResolution.has_resolution`): two releases that both carry a
//! semantic version of the same package (`shop@1.4.2`, `1.4.2+build.7`; the package is what
//! stands before the last `@`) compare by that version (semver.org precedence, via the
//! `semver` crate); any other pair compares by when each release was first seen in the
//! project (its earliest event). Versions with one or two numbers (`1.4`) count as
//! `1.4.0`.

use std::cmp::Ordering;

use semver::Version;

/// The package and semantic version of a release, when it has one.
pub fn semver_of(release: &str) -> Option<(&str, Version)> {
    let (package, version) = match release.rsplit_once('@') {
        Some((package, version)) => (package, version),
        None => ("", release),
    };
    let version = version.trim();
    if let Ok(v) = Version::parse(version) {
        return Some((package, v));
    }
    // `1.4` or `2`: pad the numbers, keep any `-pre` / `+build` suffix.
    let split = version.find(['-', '+']).unwrap_or(version.len());
    let (numbers, rest) = version.split_at(split);
    let parts: Vec<&str> = numbers.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() < 3 && parts.iter().all(numeric) {
        let padded = format!("{numbers}{}{rest}", ".0".repeat(3 - parts.len()));
        return Version::parse(&padded).ok().map(|v| (package, v));
    }
    None
}

/// The semantic-version order of `a` and `b`, when both have a version of one package.
pub fn semver_cmp(a: &str, b: &str) -> Option<Ordering> {
    let (pa, va) = semver_of(a)?;
    let (pb, vb) = semver_of(b)?;
    (pa == pb).then(|| va.cmp_precedence(&vb))
}

/// True when release `a` is newer than `b`: by version when both have one of the same
/// package, else by first-seen time (`first_seen` of each; a release never seen is not
/// newer than anything, and nothing is newer than it unless the other one is seen).
pub fn is_newer(a: &str, b: &str, first_seen: impl Fn(&str) -> Option<i64>) -> bool {
    if a == b {
        return false;
    }
    match semver_cmp(a, b) {
        Some(order) => order == Ordering::Greater,
        None => match (first_seen(a), first_seen(b)) {
            (Some(fa), Some(fb)) => fa > fb,
            (Some(_), None) => false,
            (None, _) => false,
        },
    }
}

/// The latest of `releases` (`(release, first seen ms)`): by version when every release has
/// a semantic version of one package, else the one first seen last (ties: the larger name).
pub fn latest(releases: &[(String, i64)]) -> Option<&str> {
    let versions: Option<Vec<(&str, Version)>> =
        releases.iter().map(|(r, _)| semver_of(r)).collect();
    if let Some(versions) = versions {
        let one_package = versions.windows(2).all(|w| w[0].0 == w[1].0);
        if one_package {
            return releases
                .iter()
                .zip(&versions)
                .max_by(|a, b| a.1 .1.cmp_precedence(&b.1 .1))
                .map(|(r, _)| r.0.as_str());
        }
    }
    releases
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)))
        .map(|(r, _)| r.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_semver_within_a_package() {
        assert_eq!(
            semver_cmp("shop@1.10.0", "shop@1.9.3"),
            Some(Ordering::Greater)
        );
        assert_eq!(semver_cmp("1.4", "1.4.0"), Some(Ordering::Equal));
        assert_eq!(semver_cmp("2", "1.9.9"), Some(Ordering::Greater));
        assert_eq!(semver_cmp("1.0.0-rc.1", "1.0.0"), Some(Ordering::Less));
        assert_eq!(
            semver_cmp("@scope/pkg@2.0.0", "@scope/pkg@1.0.0"),
            Some(Ordering::Greater)
        );
        assert_eq!(semver_cmp("a@1.0.0", "b@2.0.0"), None, "different packages");
        assert_eq!(semver_cmp("abc123", "1.0.0"), None);
    }

    #[test]
    fn other_releases_compare_by_first_seen() {
        let seen = |r: &str| match r {
            "old-sha" => Some(1),
            "new-sha" => Some(5),
            _ => None,
        };
        assert!(is_newer("new-sha", "old-sha", seen));
        assert!(!is_newer("old-sha", "new-sha", seen));
        assert!(!is_newer("old-sha", "old-sha", seen));
        assert!(!is_newer("unseen", "old-sha", seen));
        // Semver wins over first-seen order when both have versions.
        let reversed = |r: &str| if r == "1.0.0" { Some(9) } else { Some(1) };
        assert!(is_newer("2.0.0", "1.0.0", reversed));
    }

    #[test]
    fn latest_by_version_else_by_first_seen() {
        let r = |v: &[(&str, i64)]| -> Vec<(String, i64)> {
            v.iter().map(|(a, b)| ((*a).to_owned(), *b)).collect()
        };
        assert_eq!(latest(&r(&[("1.10.0", 1), ("1.9.0", 2)])), Some("1.10.0"));
        assert_eq!(
            latest(&r(&[("abc", 1), ("1.9.0", 2), ("def", 3)])),
            Some("def")
        );
        assert_eq!(latest(&[]), None);
    }
}
