//! Where fclayer keeps state on the host: `$FCLAYER_CACHE_DIR`, else `$XDG_CACHE_HOME/fclayer`,
//! else `~/.cache/fclayer`. Folders inside carry a format version in their name, so a newer
//! fclayer never misreads an older one's files.

use std::fs::File;
use std::path::PathBuf;

/// The cache root (not created here).
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("FCLAYER_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("fclayer");
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache").join("fclayer")
}

/// Take an exclusive advisory lock named `name`, waiting for other fclayer processes that hold
/// it. Returns `None` (no locking) when the cache folder cannot be created: a lock is an
/// optimisation against duplicate work, never a reason to fail.
pub async fn lock(name: &str) -> Option<File> {
    let dir = cache_root().join("locks-v1");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{name}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ok()?;
    tokio::task::spawn_blocking(move || file.lock().ok().map(|()| file))
        .await
        .ok()
        .flatten()
}
