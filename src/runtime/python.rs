//! Python layers: pip installs requirements.txt into `/opt/python` with the runtime's own
//! interpreter version, capped at the runtime's glibc (images/install/python.sh).

use super::Runtime;

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
