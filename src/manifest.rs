//! Provenance: what went into a layer, written beside the ZIP as `<name>.manifest.json`.
//!
//! The manifest records the build image (tag and ID, base and its ID), the runtime and platform,
//! a hash of every input file, the exact package versions installed (read back from the layer:
//! Python dist-info, Node.js package.json files, Composer's installed.json, Maven jars; Debian
//! package versions reported by the apt installer; each reader lives in its language's
//! `runtime/` file) and the ZIP's digests. It holds no times and no secrets, so the same build
//! gives the same manifest. `--frozen` compares a new build's manifest with the one beside the
//! output and refuses any difference.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::layer::read::{Entry, Kind as EntryKind, LayerZip};
use crate::runtime::Kind;

/// An entry is read for its version up to this size (a package.json, a METADATA file, Composer's
/// installed.json); a larger one is not a package's metadata.
const MAX_METADATA: u64 = 64 << 20;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub fclayer: String,
    pub runtime: String,
    pub platform: String,
    /// The engine that ran the build: Docker or Podman, its version and API version. `--frozen`
    /// does not compare it: the same inputs give the same layer on either engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::docker::discover::Identity>,
    pub build_image: ImageRef,
    /// Input file (relative to the project) → sha256.
    pub inputs: BTreeMap<String, String>,
    pub installers: Vec<String>,
    /// Installer → package → version.
    pub packages: BTreeMap<String, BTreeMap<String, String>>,
    /// Environment that changed what was installed (credentials masked).
    pub env: BTreeMap<String, String>,
    /// What `--slim` removed (absent without --slim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slim: Option<SlimRecord>,
    /// The byte-code the layer carries, as the compiler reported it ("590 files compiled for
    /// Python 3.9 (cpython-39, unchecked-hash)"); absent when none was compiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytecode: Option<String>,
    pub layer: LayerRef,
}

/// `--slim`'s report (images/install/slim.py), for the manifest.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SlimRecord {
    /// Bytes removed, of `before` unpacked.
    pub removed: u64,
    pub before: u64,
    /// Each rule that removed something: files and bytes.
    pub rules: BTreeMap<String, RuleRecord>,
    /// ELF files `strip` was refused for (patched or vendored by a tool), by layer path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_stripped: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RuleRecord {
    pub files: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRef {
    pub tag: String,
    pub id: String,
    pub base: String,
    pub base_id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRef {
    pub sha256: String,
    pub crc64: String,
    pub size: u64,
    pub files: u64,
}

/// Where the manifest of `zip` lives: `layer.zip` → `layer.manifest.json`.
pub fn path_for(zip: &Path) -> PathBuf {
    let name = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".zip").unwrap_or(&name);
    zip.with_file_name(format!("{stem}.manifest.json"))
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).at("read", path)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::input(format!(
                "{}:{}: not a fclayer manifest: {e}",
                path.display(),
                e.line()
            ))
        })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).expect("manifest serialises");
        json.push(b'\n');
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".manifest-")
            .tempfile_in(dir)
            .at("write to", dir)?;
        std::fs::write(tmp.path(), json).at("write", tmp.path())?;
        tmp.persist(path)
            .map_err(|e| Error::io("write", path, e.error))?;
        Ok(())
    }

    /// What differs between an earlier build's manifest (`self`) and a new one, for --frozen.
    /// The layer's own digests are left out: they follow from the rest.
    pub fn differences(&self, new: &Manifest) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a} → {b}"));
            }
        };
        field("fclayer", self.fclayer.clone(), new.fclayer.clone());
        field("runtime", self.runtime.clone(), new.runtime.clone());
        field("platform", self.platform.clone(), new.platform.clone());
        field(
            "build image",
            self.build_image.id.clone(),
            new.build_image.id.clone(),
        );
        field(
            "base image",
            self.build_image.base_id.clone(),
            new.build_image.base_id.clone(),
        );
        diff_maps(&mut out, "input", &self.inputs, &new.inputs);
        let kinds: std::collections::BTreeSet<&String> =
            self.packages.keys().chain(new.packages.keys()).collect();
        let empty = BTreeMap::new();
        for kind in kinds {
            let a = self.packages.get(kind).unwrap_or(&empty);
            let b = new.packages.get(kind).unwrap_or(&empty);
            diff_maps(&mut out, &format!("{kind} package"), a, b);
        }
        diff_maps(&mut out, "environment", &self.env, &new.env);
        out
    }
}

fn diff_maps(
    out: &mut Vec<String>,
    what: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) {
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("{what} {k} {v} removed")),
            Some(w) if w != v => out.push(format!("{what} {k}: {v} → {w}")),
            _ => {}
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            out.push(format!("{what} {k} {v} added"));
        }
    }
}

/// Package versions found in a layer ZIP, per installer: every entry is shown to every kind's
/// version reader (`runtime/<kind>.rs`), which reads the entry's bytes only when it wants them.
pub fn packages_in(zip_path: &Path) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut zip = LayerZip::open(zip_path)?;
    // Files by layer path (names that cannot land where they say are left out).
    let mut files: BTreeMap<String, Entry> = BTreeMap::new();
    for e in zip.entries() {
        let e = e?;
        if e.kind == EntryKind::File
            && let Some(p) = e.path()
        {
            files.entry(p.to_string()).or_insert(e);
        }
    }
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, entry) in &files {
        let mut read = || {
            let mut bytes = Vec::new();
            zip.open_entry(entry)
                .ok()?
                .take(MAX_METADATA)
                .read_to_end(&mut bytes)
                .ok()?;
            Some(bytes)
        };
        for kind in Kind::ALL {
            for (package, version) in (kind.language().versions)(name, &mut read) {
                out.entry(kind.name().into())
                    .or_default()
                    .insert(package, version);
            }
        }
    }
    Ok(out)
}

/// `package=version` lines (the apt installer's report) as a map; the parser lives with apt.
pub use crate::runtime::apt::parse_versions;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_path_replaces_the_zip_extension() {
        assert_eq!(
            path_for(Path::new("out/layer.zip")),
            Path::new("out/layer.manifest.json")
        );
        assert_eq!(
            path_for(Path::new("layer")),
            Path::new("layer.manifest.json")
        );
    }

    #[test]
    fn differences_name_what_changed() {
        let mut a = Manifest::default();
        a.packages
            .entry("python".into())
            .or_default()
            .insert("numpy".into(), "2.0.2".into());
        a.inputs.insert("requirements.txt".into(), "aa".into());
        let mut b = a.clone();
        assert!(a.differences(&b).is_empty());
        b.packages
            .get_mut("python")
            .unwrap()
            .insert("numpy".into(), "2.1.0".into());
        b.inputs.insert("requirements.txt".into(), "bb".into());
        b.build_image.id = "sha256:new".into();
        let d = a.differences(&b);
        assert!(
            d.iter().any(|l| l == "python package numpy: 2.0.2 → 2.1.0"),
            "{d:?}"
        );
        assert!(
            d.iter().any(|l| l.starts_with("input requirements.txt")),
            "{d:?}"
        );
        assert!(d.iter().any(|l| l.starts_with("build image")), "{d:?}");
    }

    #[test]
    fn packages_are_read_back_from_the_layer() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("t");
        let mk = |p: &str, body: &str| {
            let f = tree.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, body).unwrap();
        };
        mk("python/numpy-2.0.2.dist-info/METADATA", "Name: numpy\n");
        mk("python/charset_normalizer-3.4.0.dist-info/METADATA", "x");
        mk(
            "nodejs/node_modules/is-number/package.json",
            r#"{"name":"is-number","version":"7.0.0"}"#,
        );
        mk(
            "nodejs/node_modules/@scope/x/package.json",
            r#"{"name":"@scope/x","version":"1.2.3"}"#,
        );
        mk(
            "nodejs/node_modules/a/node_modules/b/package.json",
            r#"{"name":"b","version":"2.0.0"}"#,
        );
        mk(
            "nodejs/node_modules/a/package.json",
            r#"{"name":"a","version":"1.0.0"}"#,
        );
        mk(
            "nodejs/node_modules/a/lib/package.json",
            r#"{"name":"inner","version":"9"}"#,
        );
        mk(
            "php/vendor/composer/installed.json",
            r#"{"packages":[{"name":"acme/greeter","version":"1.2.0"}]}"#,
        );
        mk("java/lib/hello-1.0.jar", "x");
        mk("java/lib/commons-lang3-3.14.0.jar", "x");
        let zip = dir.path().join("l.zip");
        crate::layer::pack_dir(&tree, &zip, Default::default(), u64::MAX).unwrap();
        let p = packages_in(&zip).unwrap();
        assert_eq!(p["python"]["numpy"], "2.0.2");
        assert_eq!(p["python"]["charset_normalizer"], "3.4.0");
        assert_eq!(p["node"]["is-number"], "7.0.0");
        assert_eq!(p["node"]["@scope/x"], "1.2.3");
        assert_eq!(p["node"]["a/node_modules/b"], "2.0.0");
        assert!(!p["node"].contains_key("a/lib"), "{:?}", p["node"]);
        assert_eq!(p["php"]["acme/greeter"], "1.2.0");
        assert_eq!(p["java"]["hello"], "1.0");
        assert_eq!(p["java"]["commons-lang3"], "3.14.0");
    }
}
