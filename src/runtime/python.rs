//! Python layers: pip installs requirements.txt into `/opt/python` with the runtime's own
//! interpreter version, capped at the runtime's glibc (images/install/python.sh).

use std::path::Path;

use super::project_text::read_text;
use super::{Language, ReadEntry, Runtime};
use crate::error::{Error, Result};

pub static LANGUAGE: Language = Language {
    name: "python",
    installer: "pip",
    project_files: &["requirements.txt"],
    layer_dirs: &["python"],
    search_path: "python/",
    default_runtime: "python3.10",
    runs_on: |rt| rt.python.is_some(),
    check: check_requirements,
    versions,
};

/// Check requirements.txt line by line, so a typo is reported with its line before any container
/// starts. Lenient: pip's own options, paths and URLs pass; only what cannot be a requirement fails.
pub fn check_requirements(path: &Path) -> Result<()> {
    let text = read_text(path)?;
    let mut logical = String::new();
    let mut start_line = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start_line = i + 1;
        }
        // Comments start at a # preceded by whitespace (pip's rule).
        let line = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(at) => &raw[..at],
            None => raw,
        };
        if let Some(cont) = line.strip_suffix('\\') {
            logical.push_str(cont);
            continue;
        }
        logical.push_str(line);
        let entry = logical.trim().to_string();
        logical.clear();
        if entry.is_empty() || entry.starts_with('-') || looks_like_path_or_url(&entry) {
            continue;
        }
        if let Err(why) = check_requirement(&entry) {
            return Err(Error::input(format!(
                "{}:{start_line}: `{entry}` is not a valid requirement: {why}",
                path.display()
            ))
            .with_hint(
                "write one requirement per line, e.g. `numpy>=1.21` or `requests[socks]==2.32.3`",
            ));
        }
    }
    Ok(())
}

fn looks_like_path_or_url(s: &str) -> bool {
    s.starts_with('.')
        || s.starts_with('/')
        || s.contains("://")
        || s.ends_with(".whl")
        || s.ends_with(".tar.gz")
        || s.ends_with(".zip")
}

/// A PEP 508 requirement, checked loosely: a name, optional [extras], then specifiers, a URL
/// (`@ ...`) or markers (`; ...`).
fn check_requirement(s: &str) -> std::result::Result<(), String> {
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("expected a package name first".into());
    }
    let mut rest = s[name_end..].trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']').ok_or("`[` of the extras is never closed")?;
        rest = after[close + 1..].trim_start();
    }
    let (spec, _markers) = rest.split_once(';').unwrap_or((rest, ""));
    let spec = spec.trim();
    if spec.is_empty() || spec.starts_with('@') {
        return Ok(());
    }
    let spec = spec.trim_start_matches('(').trim_end_matches(')');
    for clause in spec.split(',') {
        let clause = clause.trim();
        let op_len = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
            .iter()
            .find(|op| clause.starts_with(*op))
            .map(|op| op.len())
            .ok_or_else(|| {
                format!("expected a version operator (==, >=, ~=, ...) before `{clause}`")
            })?;
        let version = clause[op_len..].trim();
        if version.is_empty() {
            return Err(format!("`{clause}` has no version after its operator"));
        }
        if !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '+' | '!' | '-' | '_'))
        {
            return Err(format!("`{version}` is not a version"));
        }
    }
    Ok(())
}

/// Installed distributions, from the name alone: `python/NAME-VERSION.dist-info/METADATA`,
/// the folder named NAME-VERSION with '-' in names escaped to '_' (the wheel format's rule).
pub fn versions(name: &str, _read: ReadEntry<'_>) -> Vec<(String, String)> {
    name.strip_prefix("python/")
        .and_then(|r| r.strip_suffix(".dist-info/METADATA"))
        .filter(|d| !d.contains('/'))
        .and_then(|d| d.rsplit_once('-'))
        .map(|(pkg, ver)| (pkg.to_lowercase(), ver.to_string()))
        .into_iter()
        .collect()
}

/// The interpreter command for a runtime, e.g. `python3.9`.
pub fn interpreter(runtime: &Runtime) -> String {
    format!("python{}", runtime.python.map_or("3", |l| l.version))
}

pub fn describe(runtime: &Runtime) -> String {
    format!("pip ({})", interpreter(runtime))
}

/// Environment for images/install/python.sh.
/// (The target machine, FCLAYER_ARCH, is set for every installer by the build.)
pub fn installer_env(runtime: &Runtime, requirements: &str) -> Vec<(String, String)> {
    let (major, minor) = runtime.debian.glibc();
    vec![
        ("FCLAYER_PYTHON".into(), interpreter(runtime)),
        ("FCLAYER_REQUIREMENTS".into(), requirements.into()),
        ("FCLAYER_GLIBC".into(), format!("{major}.{minor}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requirements.txt");
        std::fs::write(&p, text).unwrap();
        check_requirements(&p)
    }

    #[test]
    fn good_requirements_pass() {
        check("numpy\nlxml>=4 # parser\nrequests[socks]==2.32.3\n\n-r other.txt\n--index-url https://x/simple\nfoo @ https://x/foo.whl\nbar; python_version<'3.10'\n./local-pkg\nbaz==1.*\n").unwrap();
    }

    #[test]
    fn bad_requirements_name_file_and_line() {
        let e = check("numpy\nlxml>>4\n").unwrap_err();
        assert!(e.message.contains("requirements.txt:2:"), "{}", e.message);
        assert!(e.message.contains("lxml>>4"));
        let e = check("numpy==\n").unwrap_err();
        assert!(
            e.message.contains(":1:") && e.message.contains("no version"),
            "{}",
            e.message
        );
        let e = check("requests[socks\n").unwrap_err();
        assert!(e.message.contains("never closed"), "{}", e.message);
    }

    #[test]
    fn versions_come_from_dist_info_folder_names() {
        let mut unread = || -> Option<Vec<u8>> { panic!("the name alone tells") };
        assert_eq!(
            versions(
                "python/charset_normalizer-3.4.0.dist-info/METADATA",
                &mut unread
            ),
            vec![("charset_normalizer".to_string(), "3.4.0".to_string())]
        );
        assert_eq!(
            versions("python/PyYAML-6.0.2.dist-info/METADATA", &mut unread),
            vec![("pyyaml".to_string(), "6.0.2".to_string())]
        );
        assert!(versions("python/x/y-1.dist-info/METADATA", &mut unread).is_empty());
        assert!(versions("python/numpy-2.0.2.dist-info/RECORD", &mut unread).is_empty());
    }

    #[test]
    fn python39_caps_wheels_at_debian9_glibc() {
        let rt = Runtime::find("python3.9").unwrap();
        let env = installer_env(rt, "requirements.txt");
        assert!(env.contains(&("FCLAYER_PYTHON".into(), "python3.9".into())));
        assert!(env.contains(&("FCLAYER_GLIBC".into(), "2.24".into())));
        let rt = Runtime::find("custom.debian12").unwrap();
        assert_eq!(interpreter(rt), "python3.11");
    }
}
