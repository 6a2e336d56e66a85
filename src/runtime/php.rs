//! PHP layers: Composer installs composer.json's packages (the lockfile honoured, no dev
//! packages) into `/opt/php/vendor`, next to composer.json and composer.lock
//! (images/install/php.sh).

use super::Runtime;

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
