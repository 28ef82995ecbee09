//! Faults while writing, on a real full disk (issue #27, part 3). Each scenario runs in a private user and
//! mount namespace (`unshare -rm`) on a fresh tmpfs of a few MB: a first command succeeds, the disk is then
//! filled to within a few bytes (a filler file written until ENOSPC, then shortened by the slack), and the
//! next command must fail with an error naming a path on that disk, leave everything the first one wrote
//! byte for byte as it was, leave no temporary file or partial directory, and succeed when rerun once the
//! space is freed. Covered: a `regimes` run directory, a sweep shard, and `train` checkpointing.
//!
//! Where unprivileged namespaces are not allowed the tests say so and pass vacuously, unless
//! `DIFFSCOPE_REQUIRE_UNSHARE=1`, which `scripts/test.sh` sets where `unshare -rm true` works, so CI runs
//! them for real. (`io::atomic`'s unit test covers the same paths by an injected write failure.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn namespaces_work() -> bool {
    let ok = Command::new("unshare")
        .args(["-rm", "true"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("DIFFSCOPE_REQUIRE_UNSHARE").as_deref() != Ok("1"),
            "DIFFSCOPE_REQUIRE_UNSHARE=1 but `unshare -rm true` fails here"
        );
        eprintln!("skipped: unprivileged user namespaces are not allowed here (unshare -rm)");
    }
    ok
}

/// A fresh folder outside the tmpfs, where a scenario keeps copies and captured output.
fn keep_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ds-fulldisk-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `script` under `sh -eu` in a new namespace with a tmpfs of `size` bytes mounted at `$M`. The
/// script sees `$BIN` (diffscope), `$KEEP` (an outside folder) and the shell function `fill SLACK`, which
/// fills `$M` until ENOSPC and then frees SLACK bytes. Panics if the script itself fails.
fn on_small_disk(size: usize, keep: &Path, script: &str) {
    let mount = keep.join("mnt");
    std::fs::create_dir_all(&mount).unwrap();
    let prelude = r#"
fill() { cat /dev/zero > "$M/filler" 2>/dev/null || true; truncate -s "-$1" "$M/filler"; }
mount -t tmpfs -o "size=$SIZE" tmpfs "$M"
"#;
    let o = Command::new("unshare")
        .args(["-rm", "sh", "-euc"])
        .arg(format!("{prelude}{script}"))
        .env("M", &mount)
        .env("KEEP", keep)
        .env("SIZE", size.to_string())
        .env("BIN", env!("CARGO_BIN_EXE_diffscope"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "scenario failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every file under `dir`, by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn read(keep: &Path, f: &str) -> String {
    std::fs::read_to_string(keep.join(f)).unwrap_or_default()
}

/// The failed command's checks: exit code 1, an error naming ENOSPC and a path on the small disk, and
/// nothing temporary or partial left anywhere on it.
fn failed_cleanly(keep: &Path, what: &str) {
    let (rc, err) = (read(keep, "rc"), read(keep, "err"));
    assert_eq!(rc.trim(), "1", "{what}: exit code {rc}, stderr: {err}");
    let mount = keep.join("mnt").display().to_string();
    assert!(
        err.contains("No space left on device") && err.contains(&mount),
        "{what}: the error must name the full disk and a path on it: {err}"
    );
    let left: Vec<String> = tree(&keep.join("after"))
        .into_keys()
        .filter(|p| p.contains(".tmp") || p.contains(".partial") || p.contains(".old-"))
        .collect();
    let dirs = walkdirs(&keep.join("after"));
    assert!(left.is_empty(), "{what}: temporary files left: {left:?}");
    assert!(
        !dirs
            .iter()
            .any(|d| d.contains(".partial") || d.contains(".old-")),
        "{what}: partial directories left: {dirs:?}"
    );
}

fn walkdirs(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.push(p.display().to_string());
            out.extend(walkdirs(&p));
        }
    }
    out
}

const REGIMES: &str = "--quiet regimes --d 8 --n 200 --batch 20 --pairs 10";

/// A `regimes` run on a disk filled to within 0, ¼, ½ or ¾ of a run directory's size: the old run
/// directory stays byte for byte, nothing partial is left, and the rerun after freeing space writes the
/// new run.
#[test]
fn a_full_disk_during_regimes_keeps_the_previous_run_directory() {
    if !namespaces_work() {
        return;
    }
    for quarter in 0..4 {
        let keep = keep_dir(&format!("regimes{quarter}"));
        let script = format!(
            r#"
"$BIN" --seed 1 {REGIMES} --out "$M/run" > /dev/null
cp -a "$M/run" "$KEEP/before"
fill $(( $(du -sb "$M/run" | cut -f1) * {quarter} / 4 ))
rc=0; "$BIN" --seed 2 {REGIMES} --out "$M/run" > /dev/null 2> "$KEEP/err" || rc=$?
echo $rc > "$KEEP/rc"
rm "$M/filler"
cp -a "$M" "$KEEP/after"
"$BIN" --seed 2 {REGIMES} --out "$M/run" > /dev/null
cp -a "$M/run" "$KEEP/rerun"
"#
        );
        on_small_disk(8 << 20, &keep, &script);
        let what = format!("regimes, slack {quarter}/4");
        failed_cleanly(&keep, &what);
        let names: Vec<_> = std::fs::read_dir(keep.join("after"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["run"], "{what}: the disk holds {names:?}");
        assert!(
            tree(&keep.join("after/run")) == tree(&keep.join("before")),
            "{what}: the previous run directory changed"
        );
        assert!(
            read(&keep, "rerun/summary.json").contains("\"seed\": 2"),
            "{what}: the rerun did not write the new run"
        );
        let _ = std::fs::remove_dir_all(&keep);
    }
}

/// A sweep's second shard on a full disk: the first shard's run directory and sweep.json are kept byte for
/// byte, whatever the failing shard finished is whole, and rerunning it completes the sweep.
#[test]
fn a_full_disk_during_a_sweep_shard_keeps_the_finished_runs() {
    if !namespaces_work() {
        return;
    }
    for slack in [0usize, 60_000] {
        let keep = keep_dir(&format!("sweep{slack}"));
        let sweep = "--quiet regimes --sweep-d 8,16 --n 200 --batch 20 --pairs 10";
        let script = format!(
            r#"
"$BIN" {sweep} --shard 0/2 --out "$M/sweep" > /dev/null
cp -a "$M/sweep" "$KEEP/before"
fill {slack}
rc=0; "$BIN" {sweep} --shard 1/2 --out "$M/sweep" > /dev/null 2> "$KEEP/err" || rc=$?
echo $rc > "$KEEP/rc"
rm "$M/filler"
cp -a "$M" "$KEEP/after"
"$BIN" {sweep} --shard 1/2 --out "$M/sweep" > /dev/null
cp -a "$M/sweep" "$KEEP/rerun"
"#
        );
        on_small_disk(8 << 20, &keep, &script);
        let what = format!("sweep shard, slack {slack}");
        failed_cleanly(&keep, &what);
        let (before, after) = (tree(&keep.join("before")), tree(&keep.join("after/sweep")));
        for (f, bytes) in &before {
            assert!(
                after.get(f) == Some(bytes),
                "{what}: {f} changed or vanished"
            );
        }
        // A run directory the failing shard wrote is whole: its summary parses.
        for (f, bytes) in &after {
            if f.ends_with("summary.json") {
                serde_json::from_slice::<serde_json::Value>(bytes)
                    .unwrap_or_else(|e| panic!("{what}: {f} is torn: {e}"));
            }
        }
        let rerun = tree(&keep.join("rerun"));
        for f in ["d_8/summary.json", "d_16/summary.json", "sweep_d.csv"] {
            assert!(rerun.contains_key(f), "{what}: the rerun lacks {f}");
        }
        let _ = std::fs::remove_dir_all(&keep);
    }
}

const TRAIN: &str = "--quiet train --k 1 --d 4 --n 200 --width 32 --depth 2 --batch 64 \
                     --checkpoint-every 50";

/// `train --resume` on a full disk fails at its first checkpoint, naming it; the previous checkpoint is
/// kept byte for byte, and resuming from it once space is freed gives the uninterrupted run's weights bit
/// for bit.
#[test]
fn a_full_disk_during_train_checkpointing_keeps_the_last_checkpoint() {
    if !namespaces_work() {
        return;
    }
    let keep = keep_dir("train");
    let script = format!(
        r#"
"$BIN" {TRAIN} --steps 100 -o "$M/t" > /dev/null
cp -a "$M/t" "$KEEP/before"
fill $(( $(stat -c %s "$M/t/checkpoint.safetensors") / 2 ))
rc=0; "$BIN" {TRAIN} --steps 200 --resume -o "$M/t" > /dev/null 2> "$KEEP/err" || rc=$?
echo $rc > "$KEEP/rc"
rm "$M/filler"
cp -a "$M" "$KEEP/after"
"$BIN" {TRAIN} --steps 200 --resume -o "$M/t" > /dev/null
cp -a "$M/t" "$KEEP/rerun"
"$BIN" {TRAIN} --steps 200 -o "$KEEP/straight" > /dev/null
"#
    );
    on_small_disk(4 << 20, &keep, &script);
    failed_cleanly(&keep, "train");
    assert!(
        read(&keep, "err").contains("checkpoint.safetensors"),
        "the error must name the checkpoint: {}",
        read(&keep, "err")
    );
    let (before, after) = (tree(&keep.join("before")), tree(&keep.join("after/t")));
    assert!(before == after, "the previous training output changed");
    assert_eq!(
        std::fs::read(keep.join("rerun/model.safetensors")).unwrap(),
        std::fs::read(keep.join("straight/model.safetensors")).unwrap(),
        "resuming after the full disk differs from the uninterrupted run"
    );
    let _ = std::fs::remove_dir_all(&keep);
}
