//! Build-time inputs: rebuilds the crate when a migration changes (`sqlx::migrate!` embeds
//! the SQL files, and cargo does not track them otherwise), and lists every template of
//! `web/templates` for `src/web/templates.rs` to embed, so a new page needs no list edit.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=web/templates");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/templates");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("web/templates is readable")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html"))
        .collect();
    names.sort();
    let mut list = String::from("&[\n");
    for name in &names {
        let path = dir.join(name);
        let _ = writeln!(
            list,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    list.push_str("]\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR is set")).join("templates.rs");
    std::fs::write(out, list).expect("OUT_DIR is writable");
}
