//! PHP layers: Composer installs composer.json's packages (the lockfile honoured, no dev
//! packages) into `/opt/php/vendor`, next to composer.json and composer.lock
//! (images/install/php.sh).

use std::path::Path;

use super::project_text::check_json_manifest;
use super::{Language, ReadEntry, Runtime};
use crate::error::Result;

pub static LANGUAGE: Language = Language {
    name: "php",
    installer: "Composer",
    project_files: &["composer.json"],
    layer_dirs: &["php"],
    search_path: "php/",
    default_runtime: "php7.2",
    runs_on: |rt| rt.php.is_some(),
    check: check_composer_json,
    versions,
};

/// composer.json, and composer.lock when there is one, must be JSON objects with their
/// requirement maps as objects.
pub fn check_composer_json(path: &Path) -> Result<()> {
    check_json_manifest(path, &["require", "require-dev"])?;
    let lock = path.with_file_name("composer.lock");
    if lock.is_file() {
        check_json_manifest(&lock, &[])?;
    }
    Ok(())
}

/// Where Composer lists what it installed.
const INSTALLED: &str = "php/vendor/composer/installed.json";

/// Installed packages, from Composer's own list.
pub fn versions(name: &str, read: ReadEntry<'_>) -> Vec<(String, String)> {
    if name != INSTALLED {
        return Vec::new();
    }
    let Some(v) = super::json_entry(read) else {
        return Vec::new();
    };
    // Composer 2 wraps the list in {"packages": [...]}; Composer 1 writes the list itself.
    let list = v.get("packages").cloned().unwrap_or(v);
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["name"].as_str()?.into(), p["version"].as_str()?.into())))
        .collect()
}

pub fn installer_env(runtime: &Runtime) -> Vec<(String, String)> {
    let php = runtime.php.expect("php runtime");
    vec![
        ("FCLAYER_PHP".into(), php.version.into()),
        ("FCLAYER_PHP_FULL".into(), php.full.into()),
    ]
}

pub fn describe(runtime: &Runtime) -> String {
    format!("Composer (PHP {})", runtime.php.map_or("?", |l| l.version))
}

/// What to do when Composer failed (added by the build restructuring, issue 12).
pub fn installer_hint() -> String {
    "check composer.json's requirements (and that composer.lock matches it); run with --verbose to see all of Composer's output".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composer_json_must_keep_requirements_as_objects() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("composer.json");
        std::fs::write(&c, "{\"require\": {\"a/b\": \"^1\"}}").unwrap();
        check_composer_json(&c).unwrap();
        std::fs::write(&c, "{\"require\": \"a/b\"}").unwrap();
        let e = check_composer_json(&c).unwrap_err();
        assert!(
            e.message.contains("`require` must be an object"),
            "{}",
            e.message
        );
        std::fs::write(&c, "{}").unwrap();
        std::fs::write(dir.path().join("composer.lock"), "{\n,").unwrap();
        let e = check_composer_json(&c).unwrap_err();
        assert!(e.message.contains("composer.lock:2:"), "{}", e.message);
    }

    #[test]
    fn versions_read_composer_1_and_2_lists() {
        let two = br#"{"packages":[{"name":"acme/greeter","version":"1.2.0"}]}"#;
        let one = br#"[{"name":"acme/greeter","version":"1.1.0"},{"name":"no/version"}]"#;
        assert_eq!(
            versions(INSTALLED, &mut || Some(two.to_vec())),
            vec![("acme/greeter".to_string(), "1.2.0".to_string())]
        );
        assert_eq!(
            versions(INSTALLED, &mut || Some(one.to_vec())),
            vec![("acme/greeter".to_string(), "1.1.0".to_string())]
        );
        assert!(versions("php/vendor/composer/installed.php", &mut || None).is_empty());
    }
}
