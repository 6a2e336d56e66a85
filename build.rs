//! images/ is embedded into the binary by include_dir!, which cargo does not know about: tell it,
//! so an edited Dockerfile or installer script rebuilds the binary.

fn main() {
    println!("cargo:rerun-if-changed=images");
}
