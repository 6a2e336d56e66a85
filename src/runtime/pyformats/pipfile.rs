//! `Pipfile.lock` (pipenv): the `default` section, each entry's `==version`, hashes and markers.
//! The `develop` section is never installed. It lists no file names, so the wheel check is
//! pip's, at install time.
//!
//! A lock older than its Pipfile is refused, as pipenv's `install --deploy` does: the lock's
//! `_meta.hash.sha256` is a SHA-256 of the Pipfile's sections as Python's `json.dumps(...,
//! sort_keys=True, separators=(",", ":"))` writes them; pipenv since 2026 puts package names in
//! their PEP 503 form first, plette (and every pipenv before) does not. A lock either gives is
//! current. A Pipfile with a value JSON and TOML spell differently (a float, a date) is not
//! compared: the hash could not be reproduced exactly.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Pin, Selection, Target, bad_marker, evaluate};
use crate::error::{Error, Result};
use crate::runtime::project_text::read_text;

#[derive(Deserialize)]
struct Lock {
    #[serde(rename = "_meta")]
    meta: Option<Meta>,
    default: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Meta {
    hash: Option<BTreeMap<String, String>>,
    #[serde(default)]
    sources: Vec<Source>,
}

#[derive(Deserialize)]
struct Source {
    name: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct Entry {
    version: Option<String>,
    #[serde(default)]
    hashes: Vec<String>,
    markers: Option<String>,
    /// The name of the source it comes from (the first source when not given).
    index: Option<String>,
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
    check_fresh(path, &lock)?;
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
        let sources = lock.meta.as_ref().map_or(&[][..], |m| &m.sources[..]);
        let source = match &e.index {
            Some(wanted) => sources
                .iter()
                .find(|s| s.name.as_deref() == Some(wanted.as_str())),
            None => sources.first(),
        };
        pins.push(Pin {
            name: name.clone(),
            version: version.to_string(),
            hashes: e.hashes.clone(),
            files: Vec::new(),
            index: source
                .and_then(|s| s.url.as_deref())
                .and_then(super::index::pipenv),
        });
    }
    super::finish_pins(pins, path)
}

/// The Pipfile beside the lock must hash to the lock's `_meta.hash.sha256`.
fn check_fresh(path: &Path, lock: &Lock) -> Result<()> {
    let Some(locked) = lock
        .meta
        .as_ref()
        .and_then(|m| m.hash.as_ref())
        .and_then(|h| h.get("sha256"))
    else {
        return Ok(());
    };
    let pipfile = path.with_file_name("Pipfile");
    if !pipfile.is_file() {
        return Ok(());
    }
    let text = read_text(&pipfile)?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].lines().count().max(1))
            .unwrap_or(1);
        Error::input(format!("{}:{line}: {}", pipfile.display(), e.message()))
            .with_hint("the Pipfile is not valid TOML; fix it and run `pipenv lock`")
    })?;
    let Some(hashes) = pipfile_hashes(&doc) else {
        return Ok(());
    };
    if hashes.iter().any(|h| h == locked) {
        return Ok(());
    }
    Err(Error::input(format!(
        "{} is out of date with {}: the Pipfile changed after the lock was written (its _meta.hash is {}, the Pipfile's is {})",
        path.display(),
        pipfile.display(),
        short(locked),
        short(&hashes[1])
    ))
    .with_hint("run `pipenv lock` and build again"))
}

fn short(hash: &str) -> String {
    format!("{}…", &hash[..hash.len().min(12)])
}

/// Sections of a Pipfile that are not package categories.
const SECTIONS: &[&str] = &[
    "source",
    "packages",
    "dev-packages",
    "requires",
    "scripts",
    "pipfile",
    "pipenv",
    "default",
    "develop",
];

/// The Pipfile's hash as plette computes it, and as pipenv since 2026 does (names in PEP 503
/// form); `None` when the Pipfile holds a value whose JSON Python would spell otherwise.
fn pipfile_hashes(doc: &toml::Table) -> Option<[String; 2]> {
    use sha2::{Digest, Sha256};
    let hash = |canonical: bool| -> Option<String> {
        // A section as it is, or (a package category, `canonical`) with PEP 503 names.
        let section = |key: &str, names: bool| -> toml::Value {
            let value = doc
                .get(key)
                .cloned()
                .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
            match value {
                toml::Value::Table(t) if canonical && names => toml::Value::Table(
                    t.into_iter()
                        .map(|(k, v)| (canonical_name(&k), v))
                        .collect(),
                ),
                other => other,
            }
        };
        let mut meta = toml::Table::new();
        let sources = doc.get("source").cloned().unwrap_or_else(default_source);
        meta.insert("sources".into(), sources);
        meta.insert("requires".into(), section("requires", false));
        let mut data = toml::Table::new();
        data.insert("_meta".into(), toml::Value::Table(meta));
        data.insert("default".into(), section("packages", true));
        data.insert("develop".into(), section("dev-packages", true));
        for key in doc.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                data.insert(key.clone(), section(key, true));
            }
        }
        let mut json = String::new();
        python_json(&toml::Value::Table(data), &mut json)?;
        Some(format!("{:x}", Sha256::digest(json.as_bytes())))
    };
    Some([hash(false)?, hash(true)?])
}

/// What plette prepends to a Pipfile without a `[[source]]`.
fn default_source() -> toml::Value {
    let mut pypi = toml::Table::new();
    pypi.insert("name".into(), "pypi".into());
    pypi.insert("url".into(), "https://pypi.org/simple".into());
    pypi.insert("verify_ssl".into(), true.into());
    toml::Value::Array(vec![toml::Value::Table(pypi)])
}

/// PEP 503: lower case, every run of `-`, `_` and `.` one `-`.
fn canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !run {
                out.push('-');
            }
            run = true;
        } else {
            out.extend(c.to_lowercase());
            run = false;
        }
    }
    out
}

/// `json.dumps(value, sort_keys=True, separators=(",", ":"))` (ensure_ascii, Python's escapes).
fn python_json(value: &toml::Value, out: &mut String) -> Option<()> {
    match value {
        toml::Value::String(s) => python_string(s, out),
        toml::Value::Integer(i) => out.push_str(&i.to_string()),
        toml::Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        toml::Value::Float(_) | toml::Value::Datetime(_) => return None,
        toml::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                python_json(item, out)?;
            }
            out.push(']');
        }
        toml::Value::Table(table) => {
            let mut keys: Vec<&String> = table.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                python_string(key, out);
                out.push(':');
                python_json(&table[key], out)?;
            }
            out.push('}');
        }
    }
    Some(())
}

fn python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if !(' '..='~').contains(&c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, pinned, target};
    use super::super::{Selection, read};
    use super::{canonical_name, pipfile_hashes, python_string};
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

    #[test]
    fn a_lock_older_than_its_pipfile_is_refused() {
        let t = target("python3.9", Arch::X86_64);
        let dir = tempfile::tempdir().unwrap();
        for f in ["Pipfile", "Pipfile.lock"] {
            std::fs::copy(fixture("pipenv").join(f), dir.path().join(f)).unwrap();
        }
        // The fixture is pipenv's own output: its lock is current.
        read(dir.path(), None, &Selection::default(), &t).unwrap();
        let pipfile = dir.path().join("Pipfile");
        let text = std::fs::read_to_string(&pipfile).unwrap();
        std::fs::write(
            &pipfile,
            text.replace("attrs = \"*\"", "attrs = \"*\"\nidna = \"*\""),
        )
        .unwrap();
        let e = read(dir.path(), None, &Selection::default(), &t).unwrap_err();
        assert!(e.message.contains("is out of date with"), "{}", e.message);
        assert!(e.hint.unwrap().contains("pipenv lock"));
        // Only the packages' spelling changed: pipenv since 2026 hashes names in PEP 503 form,
        // so a lock it wrote is still current; plette's hash (older pipenv) differs.
        std::fs::write(&pipfile, text.replace("six = ", "Six = ")).unwrap();
        let doc: toml::Table = toml::from_str(&std::fs::read_to_string(&pipfile).unwrap()).unwrap();
        let [plette, pipenv] = pipfile_hashes(&doc).unwrap();
        assert_ne!(plette, pipenv);
        let original: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(pipfile_hashes(&original).unwrap()[1], pipenv);
    }

    #[test]
    fn python_json_escapes_as_python_does() {
        let mut out = String::new();
        python_string("a\"\\\n\u{7f}é😀", &mut out);
        assert_eq!(out, r#""a\"\\\n\u007f\u00e9\ud83d\ude00""#);
        assert_eq!(canonical_name("Foo__Bar.baz-Q"), "foo-bar-baz-q");
        let doc: toml::Table = toml::from_str("[packages]\nx = 1.5\n").unwrap();
        assert_eq!(pipfile_hashes(&doc), None, "a float cannot be reproduced");
    }

    /// pipenv's own code (from PyPI, in the test oracles' venv) hashes Pipfiles with sources,
    /// requires, custom categories, names in any spelling and non-ASCII text; fclayer's hashes
    /// are the same, both algorithms.
    #[test]
    #[ignore = "needs pipenv from PyPI: scripts/oracle-venv.sh (make test runs it)"]
    fn the_hashes_are_pipenvs() {
        let python =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/oracle-venv/bin/python");
        let pipfiles = [
            "[packages]\nrequests = \"*\"\n",
            "[[source]]\nurl = \"https://mirrors.aliyun.com/pypi/simple\"\nverify_ssl = true\nname = \"aliyun\"\n\n[packages]\nDjango = \">=4\"\nzope_interface = {version = \"*\", index = \"aliyun\"}\nRequests = {extras = [\"socks\"], version = \"==2.*\"}\n\n[dev-packages]\npytest = \"*\"\n\n[requires]\npython_version = \"3.9\"\n\n[scripts]\ntest = \"pytest\"\n\n[docs]\nSphinx = \"*\"\n\n[pipenv]\nallow_prereleases = true\n",
            "# café\n[packages]\n\"ünïcode.pkg\" = {version = \"*\", markers = \"python_version < '3.12' and platform_machine != \\\"arm64\\\"\"}\nsix = \"\\u00e9\\t\"\n",
        ];
        // plette's Pipfile.get_hash (pipenv before 2026) and pipenv's own Pipfile.calculate_hash.
        let script = "import os, sys\nos.environ['PIPENV_PIPFILE'] = sys.argv[1]\nfrom pipenv.vendor import plette\nfrom pipenv.project import Project\nprint(plette.Pipfile.load(open(sys.argv[1])).get_hash()._data['sha256'])\nprint(Project().pipfile.calculate_hash())\n";
        let dir = tempfile::tempdir().unwrap();
        for (i, text) in pipfiles.iter().enumerate() {
            let path = dir.path().join(format!("p{i}")).join("Pipfile");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            let out = std::process::Command::new(&python)
                .args(["-c", script])
                .arg(&path)
                .current_dir(path.parent().unwrap())
                .output()
                .expect("the oracle venv's python (scripts/oracle-venv.sh)");
            assert!(
                out.status.success(),
                "pipenv: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            let doc: toml::Table = toml::from_str(text).unwrap();
            let ours = pipfile_hashes(&doc).unwrap();
            assert_eq!(theirs, ours.to_vec(), "Pipfile {i}:\n{text}");
        }
    }
}
