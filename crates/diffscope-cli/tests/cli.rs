//! End-to-end tests of the `diffscope` binary: outputs, error messages and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_diffscope"));
    c.arg("--quiet");
    c
}

fn digits() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/digits.csv.gz");
    assert!(
        p.exists(),
        "the shared digits data set is missing: expected it at {} (../shared beside the checkout)",
        p.display()
    );
    p
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("diffscope-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The per-class sample counts of `data info --json`.
fn class_counts(v: &serde_json::Value) -> Vec<u64> {
    v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .collect()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn data_info_on_digits_reports_the_published_class_counts() {
    let o = bin()
        .args(["data", "info", "--json", "--label-col", "64"])
        .arg(digits())
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["n"], 1797);
    assert_eq!(v["d"], 64);
    let counts = class_counts(&v);
    assert_eq!(
        counts,
        vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    );
    assert_eq!(v["rank_bound"], 64);
    let top = v["top_eigenvalue"].as_f64().unwrap();
    assert!((v["half_log_top_eigenvalue"].as_f64().unwrap() - 0.5 * top.ln()).abs() < 1e-12);
    assert_eq!(v["warnings"], serde_json::json!([]));
}

#[test]
fn generate_then_info_round_trip() {
    let dir = tmpdir("gen");
    let out = dir.join("g.npz");
    let o = bin()
        .args([
            "--seed", "4", "data", "generate", "--d", "8", "--n", "500", "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let o = bin()
        .args(["data", "info", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!((v["n"].as_u64(), v["d"].as_u64()), (Some(500), Some(8)));
    assert_eq!(v["classes"].as_array().unwrap().len(), 2);
}

#[test]
fn exit_codes_and_messages_for_bad_input() {
    let dir = tmpdir("bad");
    // Usage error (unknown flag): 2.
    let o = bin().args(["data", "info", "--bogus"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    // Impossible parameter: 2, naming it.
    let o = bin()
        .args(["data", "generate", "--mu-tilde", "-1", "-o"])
        .arg(dir.join("x.npz"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("mu_tilde"), "{}", text(&o).1);
    // Missing file: 1, naming it.
    let o = bin()
        .args(["data", "info"])
        .arg(dir.join("missing.csv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("missing.csv"));
    // Ragged CSV: 1, naming line.
    let p = dir.join("ragged.csv");
    std::fs::write(&p, "1,2,3\n1,2\n").unwrap();
    let o = bin().args(["data", "info"]).arg(&p).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("line 2"), "{}", text(&o).1);
    // Unknown key in a model config: 2, naming the key.
    let cfg = dir.join("m.toml");
    std::fs::write(&cfg, "kind = \"two-class\"\nd = 3\nsigmaa = 1.0\n").unwrap();
    let o = bin()
        .args(["data", "generate", "--config"])
        .arg(&cfg)
        .arg("-o")
        .arg(dir.join("y.npz"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("sigmaa") && text(&o).1.contains("m.toml"),
        "{}",
        text(&o).1
    );
}

#[test]
fn theory_two_class_and_manifold_and_bad_parameters() {
    let dir = tmpdir("theory");
    let o = bin()
        .args([
            "theory",
            "--model",
            "two-class",
            "--d",
            "100",
            "--n",
            "10000",
            "-o",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("theory.json")).unwrap()).unwrap();
    assert!((v["t_c"].as_f64().unwrap() - 0.891).abs() < 5e-4);
    assert!((v["t_s"].as_f64().unwrap() - 0.5 * 101f64.ln()).abs() < 1e-12);
    let o = bin()
        .args([
            "theory",
            "--activation",
            "linear",
            "--beta",
            "1",
            "--alpha",
            "0.2",
            "--embedding",
            "orthonormal",
            "-o",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("theory.json")).unwrap()).unwrap();
    assert!((v["t_c_linear"].as_f64().unwrap() - 0.554816).abs() < 1e-6);
    // Sign at β = 0.1: α = 0.2 has a GLM-RS root; α = 0.7 exceeds the supremum of the information, and the
    // output says so with the value (also in theory.json).
    for (alpha, has_root) in [("0.2", true), ("0.7", false)] {
        let o = bin()
            .args([
                "theory",
                "--activation",
                "sign",
                "--beta",
                "0.1",
                "--alpha",
                alpha,
                "-o",
            ])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o).1);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("theory.json")).unwrap())
                .unwrap();
        assert_eq!(v["t_c_glm"].is_number(), has_root, "{v}");
        assert_eq!(
            text(&o).0.contains("exceeds sup_t"),
            !has_root,
            "{}",
            text(&o).0
        );
        assert_eq!(v["t_c_glm_no_root"].is_object(), !has_root, "{v}");
    }
    for bad in [
        vec!["--beta", "1.5"],
        vec!["--activation", "softplus"],
        vec!["--kappa", "0"],
        vec!["--alpha", "-1"],
    ] {
        let o = bin()
            .arg("theory")
            .args(&bad)
            .arg("-o")
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o).1);
        let name = bad[0].trim_start_matches("--");
        assert!(text(&o).1.contains(name), "{bad:?}: {}", text(&o).1);
    }
}

#[test]
fn regimes_writes_a_complete_run_directory() {
    let dir = tmpdir("regimes");
    let cfg = dir.join("run.toml");
    std::fs::write(
        &cfg,
        "seed = 2\nn = 300\n[model]\nkind = \"two-class\"\nd = 10\n[params]\nbatch = 40\npairs = 20\nbranch_every = 5\nsteps = 40\nt_max = 4.0\nt_min = 0.01\nscore = \"empirical\"\nentropy_samples = 20\nentropy_times = 8\nbootstrap = 50\n",
    )
    .unwrap();
    let out = dir.join("run");
    let o = bin()
        .args(["regimes", "--config"])
        .arg(&cfg)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    for f in [
        "config.toml",
        "summary.json",
        "curves.json",
        "speciation.csv",
        "entropy.csv",
        "commitment.csv",
        "last_change.npy",
        "speciation.png",
        "speciation.svg",
        "entropy.png",
        "last_change.png",
        "commitment.png",
        "index.html",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "n",
        "d",
        "alpha",
        "seed",
        "version",
        "f_mem",
        "f_mem_at_t_min",
        "end_points",
        "timings_s",
    ] {
        assert!(!v[key].is_null(), "summary.json lacks {key}");
    }
    // The default end point is the denoised one, and the summary says so.
    assert!(v["end_points"].as_str().unwrap().contains("Tweedie"));
    assert!((v["t_s"]["theory"].as_f64().unwrap() - 0.5 * 11f64.ln()).abs() < 1e-12);
    assert!(!v["t_c"]["theory"].is_null());
    // Rerunning replaces the directory; no partial directory is left beside it.
    let o = bin()
        .args(["regimes", "--config"])
        .arg(&cfg)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let leftovers = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("partial")
        })
        .count();
    assert_eq!(leftovers, 0);
    // The file's seed (2) holds without --seed; --seed wins over it (it used to be ignored), and the
    // written config.toml records the seed that ran.
    assert_eq!(v["seed"].as_u64(), Some(2));
    let out5 = dir.join("run5");
    let o = bin()
        .args(["--seed", "5", "regimes", "--config"])
        .arg(&cfg)
        .arg("-o")
        .arg(&out5)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let v5: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out5.join("summary.json")).unwrap()).unwrap();
    assert_eq!(v5["seed"].as_u64(), Some(5));
    let written = std::fs::read_to_string(out5.join("config.toml")).unwrap();
    assert!(written.lines().any(|l| l.trim() == "seed = 5"), "{written}");
    // An unknown key is a usage error naming the key and the file.
    std::fs::write(&cfg, "seed = 2\nn = 300\nbatchsize = 3\n").unwrap();
    let o = bin()
        .args(["regimes", "--config"])
        .arg(&cfg)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("batchsize") && text(&o).1.contains("run.toml"),
        "{}",
        text(&o).1
    );
}

#[test]
fn spectrum_and_concentration_run_directories() {
    let dir = tmpdir("stats");
    let o = bin()
        .args([
            "spectrum",
            "--label-col",
            "64",
            "--classes",
            "0,1",
            "--per-class",
            "-o",
        ])
        .arg(dir.join("s"))
        .arg(digits())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("s/summary.json")).unwrap())
            .unwrap();
    let spectra = v["spectra"].as_array().unwrap();
    assert_eq!(spectra.len(), 3);
    // 178 zeros and 182 ones in d = 64: the rank bound is min(n − 1, d) = 64 for each.
    assert_eq!(spectra[1]["rank_bound"], 64);
    assert!(dir.join("s/spectrum_0.png").exists() && dir.join("s/index.html").exists());
    let o = bin()
        .args([
            "concentration",
            "--student-t",
            "3",
            "--d",
            "20",
            "--n",
            "20000",
            "-o",
        ])
        .arg(dir.join("c"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("c/summary.json")).unwrap())
            .unwrap();
    assert_eq!(v["sub_gaussian"], false);
    assert!(dir.join("c/tails.png").exists() && dir.join("c/tails.csv").exists());
}

#[test]
fn universality_on_digits_writes_curves_and_a_verdict() {
    let dir = tmpdir("univ");
    let o = bin()
        .args([
            "universality",
            "--label-col",
            "64",
            "--ns",
            "10,40",
            "--seeds",
            "2",
            "-o",
        ])
        .arg(dir.join("u"))
        .arg(digits())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("u/curves.json")).unwrap()).unwrap();
    let e = v["err_data"].as_array().unwrap();
    assert_eq!(e.len(), 2);
    // More data, lower error; and far better than chance (0.9) for 10 digit classes.
    assert!(e[1].as_f64().unwrap() < e[0].as_f64().unwrap() && e[1].as_f64().unwrap() < 0.3);
    assert_eq!(v["surrogate"].as_array().unwrap().len(), 10);
    assert!(
        dir.join("u/error_vs_n.png").exists() && dir.join("u/per_class_error_data.csv").exists()
    );
    // Asking for more samples per class than a class has is a usage error naming `ns`.
    let o = bin()
        .args(["universality", "--label-col", "64", "--ns", "500", "-o"])
        .arg(dir.join("v"))
        .arg(digits())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("ns"), "{}", text(&o).1);
}

/// `train` then `geometry` end to end on a small sphere: the run directories are complete, a resumed run
/// equals an uninterrupted one bit for bit, and bad input is refused with exit code 2 naming the problem.
#[test]
fn train_resume_and_geometry() {
    let dir = tmpdir("train");
    let small = [
        "train",
        "--k",
        "1",
        "--d",
        "4",
        "--n",
        "200",
        "--width",
        "32",
        "--depth",
        "2",
        "--batch",
        "64",
        "--checkpoint-every",
        "50",
    ];
    let full = dir.join("full");
    let o = bin()
        .args(small)
        .args(["--steps", "100", "-o"])
        .arg(&full)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    for f in [
        "model.safetensors",
        "checkpoint.safetensors",
        "data.npz",
        "loss.csv",
        "loss.png",
        "summary.json",
        "index.html",
    ] {
        assert!(full.join(f).exists(), "missing {f}");
    }
    let parts = dir.join("parts");
    let o = bin()
        .args(small)
        .args(["--steps", "50", "-o"])
        .arg(&parts)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let o = bin()
        .args(small)
        .args(["--steps", "100", "--resume", "-o"])
        .arg(&parts)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(
        std::fs::read(full.join("model.safetensors")).unwrap(),
        std::fs::read(parts.join("model.safetensors")).unwrap(),
        "resumed training differs from the uninterrupted run"
    );
    // Resume on other data is refused.
    let o = bin()
        .args(small)
        .args(["--steps", "100", "--resume", "--seed", "9", "-o"])
        .arg(&parts)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("other data"), "{}", text(&o).1);

    let geo = dir.join("geo");
    let o = bin()
        .args([
            "geometry",
            "--trajectories",
            "4",
            "--steps",
            "40",
            "--probes",
            "3",
            "--score",
        ])
        .arg(full.join("model.safetensors"))
        .arg("-o")
        .arg(&geo)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("true intrinsic dimension k = 1"), "{out}");
    for f in [
        "summary.json",
        "points.csv",
        "by_time.csv",
        "dimension.png",
        "asymmetry.png",
        "overlap.png",
        "spectra.png",
        "index.html",
    ] {
        assert!(geo.join(f).exists(), "missing {f}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(geo.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["by_time"].as_array().unwrap().len(), 3);
    assert_eq!(s["config"]["probe"]["k"], 1);
    let csv = std::fs::read_to_string(geo.join("points.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 4);

    // Matrix-free mode: no d × d Jacobians, so no spectra files and no spectra figure.
    let geo_mf = dir.join("geo-mf");
    let o = bin()
        .args([
            "geometry",
            "--trajectories",
            "3",
            "--steps",
            "30",
            "--probes",
            "2",
            "--matrix-free",
            "3",
            "--score",
        ])
        .arg(full.join("model.safetensors"))
        .arg("-o")
        .arg(&geo_mf)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(geo_mf.join("dimension.png").exists() && !geo_mf.join("spectra.png").exists());
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(geo_mf.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["config"]["probe"]["matrix_free"], 3);
    assert!(s["by_time"][1]["dim_participation"]["median"].is_null());

    // The exact empirical score of a data file, without a model.
    let o = bin()
        .args([
            "geometry",
            "--score",
            "empirical",
            "--trajectories",
            "2",
            "--steps",
            "20",
            "--probes",
            "2",
            "--label-col",
            "64",
            "--classes",
            "0",
            "--data",
        ])
        .arg(digits())
        .arg("-o")
        .arg(dir.join("geo-digits"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);

    // Bad input: impossible parameters and a truncated model file.
    let o = bin()
        .args(["train", "--k", "4", "--d", "4", "-o"])
        .arg(dir.join("x"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("k"), "{}", text(&o).1);
    let o = bin()
        .args(["train", "--lr", "0", "-o"])
        .arg(dir.join("x"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("lr"), "{}", text(&o).1);
    let bytes = std::fs::read(full.join("model.safetensors")).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = bin()
        .args(["geometry", "--score"])
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("cut.safetensors"), "{}", text(&o).1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `memorise` writes its curves, figures and summary; impossible sizes are refused with exit code 2.
#[test]
fn memorise_writes_curves_and_rejects_bad_sizes() {
    let dir = tmpdir("memorise");
    let out = dir.join("m");
    let o = bin()
        .args([
            "memorise",
            "--sizes",
            "4,8",
            "--steps",
            "200",
            "--eval-every",
            "100",
            "--samples",
            "16",
            "--width",
            "16",
            "--depth",
            "1",
            "--d",
            "3",
            "--k",
            "1",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        stdout.contains("n =     4") && stdout.contains("n =     8"),
        "{stdout}"
    );
    for f in [
        "curves.csv",
        "f_mem.png",
        "tau_mem.png",
        "summary.json",
        "index.html",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let csv = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 2);
    let o = bin()
        .args(["memorise", "--sizes", "1", "-o"])
        .arg(dir.join("bad"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("n"), "{}", text(&o).1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C (SIGINT) during `train` saves a checkpoint and exits with 130; `--resume` then continues from it.
#[test]
fn train_interrupted_by_sigint_saves_a_checkpoint_and_resumes() {
    let dir = tmpdir("sigint");
    let out = dir.join("t");
    let args = [
        "train", "--k", "1", "--d", "3", "--n", "100", "--width", "16", "--depth", "1", "--batch",
        "32",
    ];
    let mut child = bin()
        .args(args)
        .args(["--steps", "100000000", "-o"])
        .arg(&out)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    let ck = out.join("checkpoint.safetensors");
    assert!(ck.exists(), "no checkpoint after Ctrl-C");
    assert!(
        !out.join("model.safetensors").exists(),
        "an interrupted run must not write a final model"
    );
    // Resuming with a total the checkpoint already passed finishes at once and writes the model.
    let o = bin()
        .args(args)
        .args(["--resume", "--steps", "1", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(out.join("model.safetensors").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Biroli et al.'s table in miniature: the projected population score over two dimensions writes the
/// sweep table (t_S with its CI, φ at t = 2.5 … 5.0) and one run directory per d; a partial [params]
/// table and --final-step none are accepted.
#[test]
fn regimes_sweep_d_with_the_projected_population_score() {
    let dir = tmpdir("sweep-d");
    let out = dir.join("sweep");
    let o = bin()
        .args([
            "regimes",
            "--score",
            "gmm-projected",
            "--sweep-d",
            "64,256",
            "--n",
            "200",
            "--batch",
            "200",
            "--pairs",
            "200",
            "--final-step",
            "none",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let csv = std::fs::read_to_string(out.join("sweep_d.csv")).unwrap();
    assert!(
        csv.starts_with("d,t_s_measured,t_s_ci_lo,t_s_ci_hi,t_s_theory"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3);
    for f in [
        "t_s_vs_d.png",
        "index.html",
        "d_64/summary.json",
        "d_256/summary.json",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("d_256/summary.json")).unwrap())
            .unwrap();
    assert!(v["end_points"].as_str().unwrap().contains("no final"));
    assert_eq!(v["phi_at_t"]["t"].as_array().unwrap().len(), 6);
    // A partial [params] table takes the defaults for the rest.
    let cfg = dir.join("partial.toml");
    std::fs::write(&cfg, "seed = 1\nn = 100\n[model]\nkind = \"two-class\"\nd = 8\n[params]\nbatch = 20\npairs = 10\nscore = \"gmm-projected\"\n").unwrap();
    let o = bin()
        .args(["regimes", "--config"])
        .arg(&cfg)
        .arg("-o")
        .arg(dir.join("partial"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
}

#[test]
fn data_info_reads_fashion_mnist_idx_with_its_labels() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/fashion-mnist/t10k-images-idx3-ubyte.gz");
    assert!(p.exists(), "missing {}", p.display());
    let o = bin()
        .args(["data", "info", "--json"])
        .arg(&p)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // The published test split: 10 000 images of 28 × 28, 1 000 per class.
    assert_eq!(v["n"], 10000);
    assert_eq!(v["d"], 784);
    let counts = class_counts(&v);
    assert_eq!(counts, vec![1000; 10]);
    // Pixels are scaled to [0, 1]: the mean norm lies well inside (0, √784 = 28).
    let norm = v["mean_norm"].as_f64().unwrap();
    assert!(norm > 1.0 && norm < 28.0, "{norm}");
}

/// A tiny image data set: two classes of 6 × 6 grayscale PNGs (bright left half vs bright right half,
/// with per-image brightness jitter), 12 images each.
fn image_folder(name: &str) -> PathBuf {
    let root = tmpdir(name).join("imgs");
    for (c, left) in [("left", true), ("right", false)] {
        std::fs::create_dir_all(root.join(c)).unwrap();
        for k in 0..12u32 {
            let img = image::GrayImage::from_fn(6, 6, |x, _| {
                let on = (x < 3) == left;
                image::Luma([if on { 150 + 8 * k as u8 } else { 10 + k as u8 }])
            });
            img.save(root.join(c).join(format!("{k}.png"))).unwrap();
        }
    }
    root
}

#[test]
fn regimes_on_a_trained_model_over_image_data_writes_the_sample_grid() {
    let root = image_folder("learned-regimes");
    let dir = root.parent().unwrap().to_path_buf();
    let o = bin()
        .args([
            "--seed", "1", "train", "--steps", "300", "--width", "32", "--depth", "2", "--data",
        ])
        .arg(&root)
        .arg("--out")
        .arg(dir.join("train"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let model = dir.join("train/model.safetensors");
    let o = bin()
        .args(["regimes", "--data"])
        .arg(&root)
        .arg("--score")
        .arg(&model)
        .args(["--batch", "24", "--pairs", "12", "--out"])
        .arg(dir.join("regimes"))
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("t_S"), "{out}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("regimes/summary.json")).unwrap())
            .unwrap();
    assert!(
        s["score"].as_str().unwrap().starts_with("model "),
        "{}",
        s["score"]
    );
    // The learned score's end points are judged on their exact nearest training images (checked below
    // against `sample`'s end points of the same trajectories).
    let f_mem = s["f_mem"].as_f64().unwrap();
    assert_eq!((s["n"].as_u64(), s["d"].as_u64()), (Some(24), Some(36)));
    let grid = image::open(dir.join("regimes/samples.png")).unwrap();
    // Two class rows of 6 pairs of 48 × 48 tiles (6 × 6 enlarged 8×) with 2-pixel gaps.
    assert_eq!((grid.width(), grid.height()), (12 * 50 + 2, 2 * 50 + 2));
    let html = std::fs::read_to_string(dir.join("regimes/index.html")).unwrap();
    assert!(html.contains("samples.png"));
    // `sample` with the same model, seed, batch and grid runs the regimes trunk's 24 trajectories (row i's
    // noise is keyed by i, and the network scores rows independently of the clones beside them); it writes
    // its grid beside the .npz, and f_mem recomputed from its end points' d1, d2 is the summary's.
    let o = bin()
        .args(["sample", "--score"])
        .arg(&model)
        .args(["-b", "24", "-o"])
        .arg(dir.join("s.npz"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(dir.join("s.png").exists());
    let z = diffscope::io::read_npz(&dir.join("s.npz")).unwrap();
    let get = |k: &str| z.iter().find(|e| e.0 == k).unwrap().1.to_f64();
    let (d1, d2) = (get("d1"), get("d2"));
    let copies = d1.iter().zip(&d2).filter(|(a, b)| 3.0 * *a < **b).count();
    assert_eq!(f_mem, copies as f64 / 24.0, "d1 {d1:?}, d2 {d2:?}");
}

/// `DIFFSCOPE_ISA` pins the kernel's instruction set: every supported one writes the same samples, bit for
/// bit, and an unknown one is a usage error (exit 2) naming the variable and the value.
#[test]
fn every_pinned_instruction_set_writes_the_same_samples() {
    let dir = tmpdir("isa");
    let run = |isa: &str, out: &str| {
        bin()
            .env("DIFFSCOPE_ISA", isa)
            .args([
                "sample", "--d", "20", "--n", "500", "-b", "40", "--steps", "20", "-o",
            ])
            .arg(dir.join(out))
            .output()
            .unwrap()
    };
    let o = run("portable", "portable.npz");
    assert!(o.status.success(), "{}", text(&o).1);
    let want = std::fs::read(dir.join("portable.npz")).unwrap();
    for isa in diffscope::score::Isa::ALL
        .into_iter()
        .filter(|i| i.supported())
    {
        let out = format!("{isa}.npz");
        let o = run(isa.name(), &out);
        assert!(o.status.success(), "{isa}: {}", text(&o).1);
        assert!(std::fs::read(dir.join(&out)).unwrap() == want, "{isa}");
    }
    let o = run("avx9", "bad.npz");
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o).1;
    assert!(
        err.contains("DIFFSCOPE_ISA") && err.contains("avx9"),
        "{err}"
    );
}

/// Degenerate data (issue #27): constant data (0.1, 0.2, 0.3 in every row, two classes) have Λ = 0 up to
/// rounding. `data info` says so (½ log Λ null, a warning) instead of printing −inf; `regimes` refuses them
/// before running (exit 2, naming the file and why); a single point is refused with the reason; one class
/// and d = 1 run.
#[test]
fn degenerate_data_are_named_not_minus_infinity() {
    let dir = tmpdir("degenerate");
    let flat = dir.join("flat.csv");
    let rows: Vec<String> = (0..100).map(|i| format!("0.1,0.2,0.3,{}", i % 2)).collect();
    std::fs::write(&flat, rows.join("\n")).unwrap();
    let one = dir.join("one.csv");
    std::fs::write(&one, "0.1,0.5,0\n").unwrap();
    let line = dir.join("line.csv");
    let rows: Vec<String> = (0..200)
        .map(|i| {
            format!(
                "{},{}",
                (i % 2) as f64 * 2.0 - 1.0 + 0.1 * (i % 7) as f64,
                i % 2
            )
        })
        .collect();
    std::fs::write(&line, rows.join("\n")).unwrap();

    let o = bin()
        .args(["data", "info", "--json", "--label-col"])
        .arg("3")
        .arg(&flat)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["half_log_top_eigenvalue"].is_null(), "{out}");
    assert!(
        v["warnings"][0].as_str().unwrap().contains("zero variance"),
        "{out}"
    );
    let o = bin()
        .args(["data", "info", "--label-col", "3"])
        .arg(&flat)
        .output()
        .unwrap();
    let (out, _) = text(&o);
    assert!(out.contains("undefined") && !out.contains("inf"), "{out}");

    let run = |data: &Path, col: &str, out: &str| {
        bin()
            .args([
                "regimes",
                "--batch",
                "20",
                "--pairs",
                "10",
                "--label-col",
                col,
                "--data",
            ])
            .arg(data)
            .arg("--out")
            .arg(dir.join(out))
            .output()
            .unwrap()
    };
    let o = run(&flat, "3", "r_flat");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("flat.csv") && err.contains("constant"),
        "{err}"
    );
    assert!(
        !dir.join("r_flat").exists(),
        "a refused run left a directory"
    );
    let o = run(&one, "2", "r_one");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("at least 2 samples"), "{err}");
    let o = run(&line, "1", "r_line");
    let (_, err) = text(&o);
    assert!(o.status.success(), "d = 1: {err}");
}

/// Every closed-form family score drives `sample` from the CLI on real data (digits 0/1, 20 per class,
/// 8 × 8 images): finite end points of the right shape with their nearest training images. A score that
/// claimed the kernel's extras (`has_training_set`) without providing them would abort here.
#[test]
fn every_family_score_samples_from_the_cli() {
    let dir = tmpdir("family");
    for spec in [
        "wiener",
        "smoothed:sigma=0.1",
        "cfdm:sigma=0.2,m=4",
        "knn:k=8",
        "mask:k=5",
        "mask:tau=0.3",
        "ls:patch=3@0.2/5",
        "els:patch=3,padding=circular",
    ] {
        let out = dir.join("s.npz");
        let o = bin()
            .args(["sample", "--data"])
            .arg(digits())
            .args([
                "--label-col",
                "64",
                "--classes",
                "0,1",
                "--per-class",
                "20",
                "--score",
                spec,
                "-b",
                "4",
                "--steps",
                "5",
                "-o",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{spec}: {}", text(&o).1);
        let z = diffscope::io::read_npz(&out).unwrap();
        let x = z.iter().find(|e| e.0 == "x").unwrap().1.to_f64();
        assert_eq!(x.len(), 4 * 64, "{spec}");
        assert!(x.iter().all(|v| v.is_finite()), "{spec}");
        // Every score's denoised end points get their nearest training images (f_mem for any score).
        assert!(z.iter().any(|e| e.0 == "nearest"), "{spec}");
    }
    let o = bin()
        .args(["sample", "--data"])
        .arg(digits())
        .args(["--label-col", "64", "--score", "mask:k=0", "-o"])
        .arg(dir.join("bad.npz"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
    assert!(text(&o).1.contains("k"), "{}", text(&o).1);
}

/// `regimes` on a data file runs the log grid unless told otherwise, and says so (the summary, the printed
/// lines and the config it writes); `--spacing uniform` restores the uniform grid without the note, and a
/// generated model keeps the uniform grid.
#[test]
fn regimes_on_a_data_file_defaults_to_the_log_grid_and_says_so() {
    let dir = tmpdir("log-grid");
    let run = |extra: &[&str], out: &str| {
        let o = bin()
            .args(["regimes", "--data"])
            .arg(digits())
            .args([
                "--label-col",
                "64",
                "--classes",
                "0,1",
                "--batch",
                "20",
                "--pairs",
                "10",
            ])
            .args(extra)
            .arg("-o")
            .arg(dir.join(out))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o).1);
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(out).join("summary.json")).unwrap(),
        )
        .unwrap();
        let config = std::fs::read_to_string(dir.join(out).join("config.toml")).unwrap();
        (summary, config, text(&o).0)
    };
    let (s, c, printed) = run(&[], "default");
    assert!(c.contains("spacing = \"log\""), "{c}");
    assert!(s["grid_spacing"].as_str().unwrap().starts_with("log"));
    assert!(printed.contains("grid: log"), "{printed}");
    // The written config states the n that ran (the file's, not the model default of 10000).
    let n = s["n"].as_u64().unwrap();
    assert!(
        n < 10_000 && c.lines().any(|l| l.trim() == format!("n = {n}")),
        "{c}"
    );
    let (s, c, _) = run(&["--spacing", "uniform"], "uniform");
    assert!(c.contains("spacing = \"uniform\""), "{c}");
    assert!(s.get("grid_spacing").is_none());
    let o = bin()
        .args([
            "regimes", "--d", "10", "--n", "200", "--batch", "20", "--pairs", "10", "-o",
        ])
        .arg(dir.join("model"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let c = std::fs::read_to_string(dir.join("model/config.toml")).unwrap();
    assert!(c.contains("spacing = \"uniform\""), "{c}");
}
