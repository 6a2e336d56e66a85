//! System-package layers: apt installs the packages in the build container, their executables go
//! to `/opt/bin` and their shared libraries to `/opt/lib`, then every ELF file's needed libraries
//! are followed and copied in unless the runtime image already has them (images/install/apt.sh).

use super::Runtime;

pub fn installer_env(runtime: &Runtime, packages: &[String]) -> Vec<(String, String)> {
    vec![
        ("FCLAYER_APT".into(), packages.join(" ")),
        ("FCLAYER_DEBIAN".into(), runtime.debian.number().to_string()),
    ]
}
