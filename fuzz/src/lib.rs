//! The AFL++ fuzz targets of diffscope's parsers (issue #27): the table is `fuzz/targets.rs`, shared
//! with the mutation harness of the normal test suite. Each binary under `src/bin/` runs one target in
//! AFL's persistent mode through [`fuzz_target`].

include!("../targets.rs");

/// Runs target `name` under AFL: prepares a work folder in `$DIFFSCOPE_FUZZ_WORK` (default: the
/// system's temporary folder, one per process), then writes each input where the loader expects it and
/// calls the loader. A panic, an abort or a hang is AFL's finding.
pub fn fuzz_target(name: &str) {
    let t = targets()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"));
    let corpus = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let work = std::env::var_os("DIFFSCOPE_FUZZ_WORK")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("afl-{name}-{}", std::process::id()));
    let path = prepare(&t, &work, &corpus);
    afl::fuzz!(|data: &[u8]| {
        if std::fs::write(&path, data).is_ok() {
            let _ = (t.run)(&path);
        }
    });
}
