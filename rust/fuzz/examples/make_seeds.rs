//! Writes the seed corpus, `corpus/<target>/`, from `vpack_fuzz::seeds()`: small real
//! packs made by the writer and well-formed inputs for the other targets. Run from
//! rust/fuzz after a format change: `cargo run --example make_seeds`.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name, bytes) in vpack_fuzz::seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        std::fs::write(dir.join(&name), &bytes).expect("write seed");
        println!("{target}/{name}: {} bytes", bytes.len());
    }
}
