//! Java layers: Maven resolves pom.xml's runtime dependencies and copies their jars into
//! `/opt/java/lib` (images/install/java.sh).

use super::Runtime;

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
