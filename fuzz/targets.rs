// The fuzz targets of issue #27: one per parser, shared (by `include!`) between the coverage-guided AFL++
// binaries of `fuzz/` and the mutation harness of `crates/diffscope/tests/fuzz.rs`, so both fuzz the same
// calls. Each target names its corpus folder under `fuzz/corpus/`, where its input is written (relative
// to a work folder, since loaders take paths), whether it is text, and the call under test (true: the
// input was accepted).

/// A fuzz target: its corpus folder, where the input is written, whether it is text, and the call.
pub struct Target {
    /// Corpus folder name and the target's name.
    pub name: &'static str,
    /// Where the input goes, relative to the work folder.
    pub file: &'static str,
    /// Whether the format is text (the harness then also mutates numbers).
    pub text: bool,
    /// The call under test, on the input's path.
    pub run: fn(&std::path::Path) -> bool,
}

fn load_with_labels(p: &std::path::Path, label_col: Option<i64>) -> bool {
    let spec = diffscope::data::DataFileSpec {
        label_col,
        ..diffscope::data::DataFileSpec::as_stored(p)
    };
    spec.load().is_ok()
}

fn grandparent(p: &std::path::Path) -> &std::path::Path {
    p.parent().and_then(|q| q.parent()).unwrap_or(p)
}

/// Every target.
pub fn targets() -> Vec<Target> {
    vec![
        Target { name: "csv", file: "in.csv", text: true, run: |p| load_with_labels(p, Some(-1)) },
        Target { name: "csv_gz", file: "in.csv.gz", text: false, run: |p| load_with_labels(p, Some(64)) },
        Target { name: "npy", file: "in.npy", text: false, run: |p| load_with_labels(p, None) },
        Target { name: "npz", file: "in.npz", text: false, run: |p| load_with_labels(p, None) },
        Target { name: "idx", file: "train-images-idx3-ubyte", text: false, run: |p| load_with_labels(p, None) },
        Target { name: "idx_gz", file: "train-images-idx3-ubyte.gz", text: false, run: |p| load_with_labels(p, None) },
        Target { name: "png", file: "imgs/a/x.png", text: false, run: |p| load_with_labels(grandparent(p), None) },
        Target { name: "jpeg", file: "imgs/a/x.jpg", text: false, run: |p| load_with_labels(grandparent(p), None) },
        Target {
            name: "safetensors",
            file: "model.safetensors",
            text: false,
            run: |p| diffscope::experiments::train::load_trained(p).is_ok(),
        },
        Target {
            name: "toml",
            file: "config.toml",
            text: true,
            run: |p| {
                let s = std::fs::read_to_string(p).unwrap_or_default();
                toml::from_str::<diffscope::experiments::regimes::RegimesConfig>(&s)
                    .map(|c| c.params.validate().is_ok())
                    .unwrap_or(false)
            },
        },
        Target {
            name: "summary",
            file: "sweep/d_8/summary.json",
            text: true,
            run: |p| diffscope::experiments::regimes::merge(grandparent(p)).is_ok(),
        },
        Target {
            name: "sweep",
            file: "sweep/sweep.json",
            text: true,
            run: |p| p.parent().is_some_and(|d| diffscope::experiments::regimes::merge(d).is_ok()),
        },
    ]
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), dst)?;
        }
    }
    Ok(())
}

/// Prepares `dir` (a fresh work folder) for target `t`: the sweep around a mutated summary or sweep.json;
/// returns the path the input goes to.
pub fn prepare(t: &Target, dir: &std::path::Path, corpus: &std::path::Path) -> std::path::PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("work folder");
    if t.name == "summary" || t.name == "sweep" {
        copy_dir(&corpus.join("sweep_template"), &dir.join("sweep")).expect("sweep template");
    }
    let path = dir.join(t.file);
    std::fs::create_dir_all(path.parent().expect("a file in the work folder")).expect("input folder");
    path
}
