//! The generated CRDs, snapshotted under `snapshots/` so a schema change shows up in review.

#[test]
fn crds_match_their_snapshots() {
    let mut settings = insta::Settings::clone_current();
    // The run-time package directory: the checkout under test, even with a shared target dir.
    let package = std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR");
    settings.set_snapshot_path(std::path::Path::new(&package).join("../snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (file, yaml) in crd_gen::rendered() {
            insta::assert_snapshot!(file.trim_end_matches(".yaml").to_owned(), yaml);
        }
    });
}

#[test]
fn check_mode_names_stale_files() {
    let dir = std::env::temp_dir().join(format!("crd-gen-check-{}", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_crd-gen");
    let reference = dir.join("crd-reference.md");
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(bin);
        cmd.args(args)
            .arg("--dir")
            .arg(&dir)
            .arg("--reference")
            .arg(&reference);
        cmd.output().unwrap()
    };

    assert!(run(&[]).status.success());
    assert!(run(&["--check"]).status.success());

    // A field added to a spec without regenerating: the file on disk no longer matches the code.
    let file = dir.join("captcontrolplanes.controlplane.cluster.x-k8s.io.yaml");
    let on_disk = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, on_disk.replacen("additionalTags:", "additionalTagz:", 1)).unwrap();
    let out = run(&["--check"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("captcontrolplanes.controlplane.cluster.x-k8s.io.yaml"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
