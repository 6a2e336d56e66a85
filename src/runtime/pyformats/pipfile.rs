//! `Pipfile.lock` (pipenv): the `default` section, each entry's `==version`, hashes and markers.
//! The `develop` section is never installed. It lists no file names, so the wheel check is
//! pip's, at install time.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Pin, Selection, Target, bad_marker, evaluate};
use crate::error::{Error, Result};
use crate::runtime::project_text::read_text;

#[derive(Deserialize)]
struct Lock {
    default: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    version: Option<String>,
    #[serde(default)]
    hashes: Vec<String>,
    markers: Option<String>,
}

pub(super) fn pins(path: &Path, sel: &Selection, target: &Target) -> Result<Vec<Pin>> {
    if !sel.extras.is_empty() {
        return Err(Error::input(format!(
            "--extras: {} records no extras to choose from",
            path.display()
        ))
        .with_hint("add the extra to the Pipfile (`requests = {extras = [\"socks\"]}`) and run `pipenv lock`"));
    }
    let text = read_text(path)?;
    let lock: Lock = serde_json::from_str(&text).map_err(|e| {
        Error::input(format!(
            "{}:{}:{}: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
        .with_hint("the file is not a Pipfile.lock fclayer can read; run `pipenv lock` again")
    })?;
    let env = target.env(sel, &[]);
    let mut pins = Vec::new();
    for (name, e) in &lock.default {
        if let Some(m) = &e.markers
            && !evaluate(m, &env).map_err(|why| bad_marker(path, &text, m, why))?
        {
            continue;
        }
        let version = e
            .version
            .as_deref()
            .and_then(|v| v.strip_prefix("=="))
            .ok_or_else(|| {
                Error::input(format!(
                    "{}:{}: {name} has no `==` version (a git, path or URL dependency)",
                    path.display(),
                    super::line_of(&text, &format!("\"{name}\""))
                ))
                .with_hint("fclayer installs locked packages from an index with their hashes; publish the package to an index, or use a requirements.txt")
            })?;
        pins.push(Pin {
            name: name.clone(),
            version: version.to_string(),
            hashes: e.hashes.clone(),
            files: Vec::new(),
        });
    }
    super::finish_pins(pins, path)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, pinned, target};
    use super::super::{Selection, read};
    use crate::runtime::Arch;

    #[test]
    fn pipfile_locks_give_the_default_section_with_hashes() {
        let t = target("python3.9", Arch::X86_64);
        let input = read(&fixture("pipenv"), None, &Selection::default(), &t).unwrap();
        assert_eq!(pinned(&input), ["attrs==26.1.0", "six==1.17.0"]);
        let text = input.generated.unwrap();
        assert!(text.contains("six==1.17.0 --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81"), "{text}");
        assert!(!text.contains("pytest") && !text.contains("iniconfig"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Pipfile.lock"),
            "{\n  \"default\": {\n    \"six\": {\"version\": 1}\n  }\n}\n",
        )
        .unwrap();
        let e = read(dir.path(), None, &Selection::default(), &t).unwrap_err();
        assert!(e.message.contains("Pipfile.lock:3:"), "{}", e.message);
    }
}
