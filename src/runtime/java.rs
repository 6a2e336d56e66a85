//! Java layers: Maven resolves pom.xml's runtime dependencies and copies their jars into
//! `/opt/java/lib` (images/install/java.sh).

use std::path::Path;

use super::project_text::read_text;
use super::{Language, ReadEntry, Runtime};
use crate::error::{Error, Result};

pub static LANGUAGE: Language = Language {
    name: "java",
    installer: "Maven",
    project_files: &["pom.xml"],
    layer_dirs: &["java"],
    search_path: "java/lib/",
    default_runtime: "java11",
    runs_on: |rt| rt.java.is_some(),
    check: check_pom,
    versions,
};

/// pom.xml must be well-formed XML with a `<project>` root.
pub fn check_pom(path: &Path) -> Result<()> {
    let text = read_text(path)?;
    let doc = roxmltree::Document::parse(&text).map_err(|e| {
        let pos = e.pos();
        Error::input(format!(
            "{}:{}:{}: not well-formed XML: {e}",
            path.display(),
            pos.row,
            pos.col
        ))
        .with_hint("fix the XML (an unclosed or mismatched tag is the usual cause)")
    })?;
    if doc.root_element().tag_name().name() != "project" {
        return Err(Error::input(format!(
            "{}: the root element is <{}>, expected <project>",
            path.display(),
            doc.root_element().tag_name().name()
        )));
    }
    Ok(())
}

/// The jars Maven copied, from their names: `java/lib/ARTIFACT-VERSION.jar`, the version
/// starting at the last `-` followed by a digit (artifact names may hold `-` and digits).
pub fn versions(name: &str, _read: ReadEntry<'_>) -> Vec<(String, String)> {
    let Some(jar) = name
        .strip_prefix("java/lib/")
        .filter(|j| j.ends_with(".jar") && !j.contains('/'))
    else {
        return Vec::new();
    };
    let stem = jar.trim_end_matches(".jar");
    let split = stem
        .char_indices()
        .rev()
        .find(|(i, c)| *c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()));
    let (a, v) = match split {
        Some((i, _)) => (&stem[..i], &stem[i + 1..]),
        None => (stem, ""),
    };
    vec![(a.into(), v.into())]
}

pub fn installer_env(runtime: &Runtime) -> Vec<(String, String)> {
    let java = runtime.java.expect("java runtime");
    vec![("FCLAYER_JAVA".into(), java.version.into())]
}

pub fn describe(runtime: &Runtime) -> String {
    format!("Maven (Java {})", runtime.java.map_or("?", |l| l.version))
}

/// What to do when Maven failed (added by the build restructuring, issue 12).
pub fn installer_hint() -> String {
    "check pom.xml's dependencies and repositories; run with --verbose to see all of Maven's output"
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pom_must_be_well_formed_with_a_project_root() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pom.xml");
        std::fs::write(&p, "<project>\n  <dependencies>\n</project>\n").unwrap();
        let e = check_pom(&p).unwrap_err();
        assert!(e.message.contains("pom.xml:3:"), "{}", e.message);
        std::fs::write(&p, "<settings/>").unwrap();
        assert!(check_pom(&p).unwrap_err().message.contains("<project>"));
    }

    #[test]
    fn versions_split_jar_names_at_the_version() {
        let mut unread = || -> Option<Vec<u8>> { panic!("the name alone tells") };
        assert_eq!(
            versions("java/lib/commons-lang3-3.14.0.jar", &mut unread),
            vec![("commons-lang3".to_string(), "3.14.0".to_string())]
        );
        assert_eq!(
            versions("java/lib/tools.jar", &mut unread),
            vec![("tools".to_string(), String::new())]
        );
        assert!(versions("java/lib/x/y-1.jar", &mut unread).is_empty());
        assert!(versions("java/lib/y-1.pom", &mut unread).is_empty());
    }
}
