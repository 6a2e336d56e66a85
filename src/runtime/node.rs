//! Node.js layers: npm installs package.json's production dependencies into
//! `/opt/nodejs/node_modules` (`npm ci` with a lockfile), building native addons with the
//! runtime's Node headers (images/install/node.sh).

use super::Runtime;

/// Environment for images/install/node.sh.
pub fn installer_env(runtime: &Runtime) -> Vec<(String, String)> {
    let node = runtime.node.expect("node runtime");
    vec![("FCLAYER_NODE_MAJOR".into(), node.version.into())]
}

pub fn describe(runtime: &Runtime) -> String {
    format!("npm (Node.js {})", runtime.node.map_or("?", |l| l.version))
}
