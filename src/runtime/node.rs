//! Node.js layers: npm installs package.json's production dependencies into
//! `/opt/nodejs/node_modules` (`npm ci` with a lockfile), building native addons with the
//! runtime's Node headers (images/install/node.sh).

use super::{Arch, Runtime};

/// Environment for images/install/node.sh.
pub fn installer_env(runtime: &Runtime) -> Vec<(String, String)> {
    let node = runtime.node.expect("node runtime");
    vec![("FCLAYER_NODE_MAJOR".into(), node.version.into())]
}

pub fn describe(runtime: &Runtime) -> String {
    format!("npm (Node.js {})", runtime.node.map_or("?", |l| l.version))
}

// Added by the build/verify restructuring (issue 12): the failure hint, cross-platform fetch and
// verify's package discovery.

/// What to do when npm failed.
pub fn installer_hint() -> String {
    "check the names and versions in package.json (and that package-lock.json matches it); run with --verbose to see all of npm's output".into()
}

/// npm's name for a machine.
pub fn npm_cpu(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x64",
        Arch::Aarch64 => "arm64",
    }
}

/// Environment for the native npm run of a cross-platform build (images/install/node-fetch.sh).
pub fn fetch_env(arch: Arch) -> Vec<(String, String)> {
    vec![("FCLAYER_NPM_CPU".into(), npm_cpu(arch).into())]
}

/// The package `require` finds at a path below `nodejs/node_modules/` of a layer:
/// `bcrypt/package.json` → bcrypt; `@scope/name/package.json` → @scope/name. Type-only
/// packages (@types/*) have nothing to require.
pub fn package_name(rest: &str) -> Option<String> {
    let parts: Vec<&str> = rest.split('/').collect();
    let name = match parts.as_slice() {
        [scope, pkg, "package.json"] if scope.starts_with('@') => format!("{scope}/{pkg}"),
        [pkg, "package.json"] if !pkg.starts_with('.') && !pkg.starts_with('@') => pkg.to_string(),
        _ => return None,
    };
    (!name.starts_with("@types/")).then_some(name)
}

#[cfg(test)]
mod verify_tests {
    use super::*;

    #[test]
    fn node_packages_include_scoped_ones_but_not_types() {
        assert_eq!(
            package_name("bcrypt/package.json").as_deref(),
            Some("bcrypt")
        );
        assert_eq!(
            package_name("@scope/x/package.json").as_deref(),
            Some("@scope/x")
        );
        assert_eq!(package_name("@types/node/package.json"), None);
        assert_eq!(package_name("bcrypt/lib/package.json"), None);
        assert_eq!(package_name(".bin/package.json"), None);
        assert_eq!(npm_cpu(Arch::Aarch64), "arm64");
    }
}
