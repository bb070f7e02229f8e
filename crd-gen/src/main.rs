//! Writes the CRDs of capt-controlplane to `manifests/crds/<plural>.<group>.yaml`, and the CRD
//! reference generated from the same schemas to `docs/crd-reference.md`.
//!
//! ```text
//! cargo run --bin crd-gen              # regenerate
//! cargo run --bin crd-gen -- --check   # exit 1, naming the stale files, when manifests/ is out of date
//! ```

use std::{fs, path::PathBuf, process::ExitCode};

/// This package's directory. `cargo run` sets `CARGO_MANIFEST_DIR` at run time, which names the
/// checkout being worked on even when the binary was built in another checkout sharing the
/// target directory; the compile-time value is the fallback for a binary run by hand.
fn package_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "usage: crd-gen [--check] [--dir DIR] [--reference FILE]\n\nWrites the CRDs to DIR (default manifests/crds) and the CRD reference to FILE\n(default docs/crd-reference.md).\n--check  compare instead of writing; exit 1 and name the stale files if they differ"
        );
        return ExitCode::SUCCESS;
    }
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| package_dir().join("../manifests/crds"));

    let reference = args
        .iter()
        .position(|a| a == "--reference")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| package_dir().join("../docs/crd-reference.md"));

    let mut stale = Vec::new();
    let markdown = crd_gen::reference::markdown();
    if fs::read_to_string(&reference).ok().as_deref() != Some(markdown.as_str()) {
        if check {
            stale.push(reference.display().to_string());
        } else if let Err(e) = reference
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::write(&reference, &markdown))
        {
            eprintln!("crd-gen: cannot write {}: {e}", reference.display());
            return ExitCode::FAILURE;
        } else {
            println!("wrote {}", reference.display());
        }
    }
    let mut expected_files = Vec::new();
    for (file, yaml) in crd_gen::rendered() {
        let path = dir.join(&file);
        expected_files.push(file);
        let current = fs::read_to_string(&path).ok();
        if current.as_deref() == Some(yaml.as_str()) {
            continue;
        }
        if check {
            stale.push(path.display().to_string());
        } else if let Err(e) = fs::create_dir_all(&dir).and_then(|()| fs::write(&path, &yaml)) {
            eprintln!("crd-gen: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        } else {
            println!("wrote {}", path.display());
        }
    }
    // A CRD file we no longer generate is stale too (a renamed kind, say).
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".yaml") && !expected_files.contains(&name) {
                if check {
                    stale.push(format!("{} (no longer generated)", entry.path().display()));
                } else if fs::remove_file(entry.path()).is_ok() {
                    println!("removed {}", entry.path().display());
                }
            }
        }
    }
    if stale.is_empty() {
        if check {
            println!("crd-gen: manifests are up to date");
        }
        return ExitCode::SUCCESS;
    }
    eprintln!("crd-gen: stale CRD manifests (run `cargo run --bin crd-gen`):");
    for s in &stale {
        eprintln!("  {s}");
    }
    ExitCode::FAILURE
}
