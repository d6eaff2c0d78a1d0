//! Build-time inputs: rebuilds the crate when a migration changes (`sqlx::migrate!` embeds
//! the SQL files, and cargo does not track them otherwise), and lists every template of
//! `web/templates` for `src/web/templates.rs` to embed, so a new page needs no list edit.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=web/templates");
    // Read at run time: `env!` would keep the checkout this script was compiled in, and a
    // target directory shared by two checkouts would then read (and embed) the other one's.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("web/templates");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("web/templates is readable")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html"))
        .collect();
    names.sort();
    let mut list = String::from("&[\n");
    // Each path is completed when the crate compiles, from its own CARGO_MANIFEST_DIR: cargo
    // may reuse this list in another checkout sharing the target directory (it reruns this
    // script only when a template is newer than its last run), and an absolute path written
    // here would then embed the first checkout's templates, or fail once it is gone.
    for name in &names {
        let _ = writeln!(
            list,
            "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {:?}))),",
            format!("/web/templates/{name}")
        );
    }
    list.push_str("]\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR is set")).join("templates.rs");
    std::fs::write(out, list).expect("OUT_DIR is writable");
}
