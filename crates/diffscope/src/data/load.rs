//! Loading data sets from files.

use super::dataset::{index_labels, Dataset};
use crate::error::{Error, Result};
use crate::io::{self, CsvOptions, NpyArray};
use std::path::Path;

/// Options for [`load`].
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// CSV: the label column (negative counts from the end).
    pub label_col: Option<i64>,
    /// CSV: whether the first line is a header (`None`: detect).
    pub header: Option<bool>,
    /// Keep only these classes (by name), in this order.
    pub classes: Option<Vec<String>>,
    /// Subtract the per-feature mean after selecting classes.
    pub centre: bool,
}

/// Loads a data set from a CSV (`.csv`, `.txt`, `.csv.gz`), `.npy`, `.npz`, an IDX image file (MNIST /
/// Fashion-MNIST `*-images-idx3-ubyte[.gz]`, pixels scaled to [0, 1], labels from the sibling
/// `*-labels-idx1-ubyte[.gz]` when present), or a folder `<root>/<class>/*.npy` or
/// `<root>/<class>/*.png|jpg` (one sample per file, the class from the folder name; images channels
/// first in [0, 1], as torchvision's `ImageFolder` + `ToTensor`).
///
/// `.npy`: a 2-D array `(n, d)` or higher `(n, ...)` flattened to `(n, d)`. `.npz`: the member `x` (or
/// `X`, `data`, `samples`, or the only float array) with optional labels `y` (or `labels`).
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    if !path.exists() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ));
    }
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let is_idx = is_idx_name(&name);
    let is_csv = !path.is_dir() && !is_idx && !name.ends_with(".npy") && !name.ends_with(".npz");
    if let (Some(lc), false) = (opts.label_col, is_csv || name.ends_with(".npy")) {
        return Err(Error::param(
            "label-col",
            lc,
            format!(
                "nothing for {}: a label column applies to CSV and 2-D .npy files (.npz labels are the member `y`, a folder's are its class names)",
                path.display()
            ),
        ));
    }
    let mut ds = if path.is_dir() {
        load_folder(path)?
    } else if is_idx {
        load_idx(path, &name)?
    } else if name.ends_with(".npy") {
        let arr = io::read_npy(path)?;
        match opts.label_col {
            None => from_array(path, &arr, None)?,
            Some(lc) => {
                let (x, y) = split_label_column(path, &arr, lc)?;
                from_array(path, &x, Some(&y))?
            }
        }
    } else if name.ends_with(".npz") {
        load_npz(path)?
    } else {
        load_csv(path, opts)?
    };
    if let Some(classes) = &opts.classes {
        ds = ds.select_classes(classes)?;
    }
    if opts.centre {
        ds.centre();
    }
    Ok(ds)
}

/// The last component of a path as text (a class folder's name).
fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_idx_name(name: &str) -> bool {
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    stem.ends_with(".idx") || (stem.contains("-idx") && stem.ends_with("-ubyte"))
}

/// IDX images (n, h, w) → n × (h·w) in [0, 1]; labels from the sibling labels file when it exists.
fn load_idx(path: &Path, name: &str) -> Result<Dataset> {
    let img = io::read_idx(path)?;
    if img.shape.len() < 2 {
        return Err(Error::format(
            path,
            format!("IDX shape {:?}: expected images (n, h, w)", img.shape),
        ));
    }
    let n = img.shape[0];
    let d = row_len(&img.shape, path)?;
    let x: Vec<f32> = img.data.iter().map(|&v| v as f32 / 255.0).collect();
    let mut ds = Dataset::new(x, n, d, path.display().to_string())?;
    if img.shape.len() == 3 {
        ds.image = Some(super::ImageInfo {
            channels: 1,
            height: img.shape[1],
            width: img.shape[2],
            range: (0.0, 1.0),
        });
    }
    let sibling = path.with_file_name(name.replace("images-idx3", "labels-idx1"));
    if sibling == path || !sibling.exists() {
        return Ok(ds);
    }
    let lab = io::read_idx(&sibling)?;
    if lab.shape != [n] {
        return Err(Error::format(
            &sibling,
            format!(
                "labels have shape {:?} for {n} images in {}",
                lab.shape,
                path.display()
            ),
        ));
    }
    let raw: Vec<String> = lab.data.iter().map(|v| v.to_string()).collect();
    let (labels, names) = index_labels(&raw);
    let mut ds = ds.with_labels(labels, names)?;
    ds.provenance = format!("{} (labels {})", path.display(), sibling.display());
    Ok(ds)
}

/// Splits column `lc` (negative: from the end, as for CSV) of a 2-D array off as the labels.
fn split_label_column(path: &Path, arr: &NpyArray, lc: i64) -> Result<(NpyArray, NpyArray)> {
    if arr.shape.len() != 2 {
        return Err(Error::format(
            path,
            format!(
                "a label column needs a 2-D array (n, d + 1); this one has shape {:?}",
                arr.shape
            ),
        ));
    }
    let (n, w) = (arr.shape[0], arr.shape[1]);
    let idx = if lc < 0 { w as i64 + lc } else { lc };
    if idx < 0 || idx >= w as i64 || w < 2 {
        return Err(Error::param(
            "label-col",
            lc,
            format!("a column index in 0..{w} (the array has {w} columns)"),
        ));
    }
    let idx = idx as usize;
    let v = arr.to_f64();
    let x: Vec<f64> = (0..n)
        .flat_map(|i| (0..w).filter(move |&j| j != idx).map(move |j| (i, j)))
        .map(|(i, j)| v[i * w + j])
        .collect();
    let y: Vec<i64> = (0..n).map(|i| v[i * w + idx]).map(|l| l as i64).collect();
    if let Some(i) = (0..n).find(|&i| v[i * w + idx].fract() != 0.0 || !v[i * w + idx].is_finite())
    {
        return Err(Error::format(
            path,
            format!(
                "label column {idx}, row {i}: {} is not an integer class label",
                v[i * w + idx]
            ),
        ));
    }
    Ok((NpyArray::f64(n, w - 1, x), NpyArray::i64_1d(y)))
}

fn load_csv(path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    let t = io::read_csv(
        path,
        &CsvOptions {
            label_col: opts.label_col,
            header: opts.header,
        },
    )?;
    let x = t.values.iter().map(|&v| v as f32).collect();
    let ds = Dataset::new(x, t.rows, t.cols, path.display().to_string())?;
    match t.labels {
        Some(raw) => {
            let (labels, names) = index_labels(&raw);
            ds.with_labels(labels, names)
        }
        None => Ok(ds),
    }
}

fn from_array(path: &Path, arr: &NpyArray, labels: Option<&NpyArray>) -> Result<Dataset> {
    if !arr.is_float() {
        return Err(Error::format(
            path,
            "data array has an integer dtype; expected float32 or float64 samples",
        ));
    }
    if arr.shape.len() < 2 {
        return Err(Error::format(
            path,
            format!(
                "data array has shape {:?}; expected (n, d) or (n, ...) with one sample per row",
                arr.shape
            ),
        ));
    }
    let n = arr.shape[0];
    let d = row_len(&arr.shape, path)?;
    let x = arr.to_f32();
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            source_name: path.display().to_string(),
            row: i / d.max(1),
            col: i % d.max(1),
            value: x[i].to_string(),
        });
    }
    let ds = Dataset::new(x, n, d, path.display().to_string())?;
    match labels {
        None => Ok(ds),
        Some(y) => {
            if y.len() != n {
                return Err(Error::format(
                    path,
                    format!("labels have {} entries for {n} samples", y.len()),
                ));
            }
            let raw: Vec<String> = match &y.data {
                io::NpyData::I64(v) => v.iter().map(|k| k.to_string()).collect(),
                _ => y.to_f64().iter().map(|v| format!("{v}")).collect(),
            };
            let (labels, names) = index_labels(&raw);
            ds.with_labels(labels, names)
        }
    }
}

fn load_npz(path: &Path) -> Result<Dataset> {
    let members = io::read_npz(path)?;
    if members.is_empty() {
        return Err(Error::format(path, "empty .npz archive"));
    }
    let find = |names: &[&str]| {
        members
            .iter()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, a)| a)
    };
    let x = find(&["x", "X", "data", "samples"]).or_else(|| {
        let floats: Vec<_> = members
            .iter()
            .filter(|(_, a)| a.is_float() && a.shape.len() >= 2)
            .collect();
        (floats.len() == 1).then(|| &floats[0].1)
    });
    let Some(x) = x else {
        let keys: Vec<_> = members
            .iter()
            .map(|(k, a)| format!("{k} {:?}", a.shape))
            .collect();
        return Err(Error::format(
            path,
            format!(
                "no data member: expected `x` (n × d); found {}",
                keys.join(", ")
            ),
        ));
    };
    let mut ds = from_array(path, x, find(&["y", "labels", "Y"]))?;
    // Written by `Dataset::write_npz` for image data and centred data.
    if let Some(shape) = find(&["image_shape"]) {
        let v = shape.to_f64();
        let range = find(&["image_range"]).map(|r| r.to_f64());
        if let ([c, h, w], Some([lo, hi])) = (&v[..], range.as_deref()) {
            let info = super::ImageInfo {
                channels: *c as usize,
                height: *h as usize,
                width: *w as usize,
                range: (*lo as f32, *hi as f32),
            };
            if info.len() != ds.d {
                return Err(Error::format(
                    path,
                    format!("image_shape {v:?} does not match d = {}", ds.d),
                ));
            }
            ds.image = Some(info);
        }
    }
    if let Some(m) = find(&["centred_mean"]) {
        let m = m.to_f64();
        if m.len() != ds.d {
            return Err(Error::format(
                path,
                format!("centred_mean has {} values for d = {}", m.len(), ds.d),
            ));
        }
        ds.centred_mean = Some(m);
    }
    Ok(ds)
}

fn load_folder(root: &Path) -> Result<Dataset> {
    let read_dir = |p: &Path| -> Result<Vec<std::path::PathBuf>> {
        let mut v: Vec<_> = std::fs::read_dir(p)
            .map_err(|e| Error::io(p, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        v.sort();
        Ok(v)
    };
    let class_dirs: Vec<_> = read_dir(root)?.into_iter().filter(|p| p.is_dir()).collect();
    if class_dirs.is_empty() {
        return Err(Error::format(
            root,
            "folder has no class sub-folders; expected <root>/<class>/*.npy",
        ));
    }
    let first = read_dir(&class_dirs[0])?.into_iter().next();
    if first.as_deref().is_some_and(super::is_image_name) {
        return load_image_folder(root, &class_dirs, &read_dir);
    }
    let mut x = Vec::new();
    let mut labels = Vec::new();
    let mut names = Vec::new();
    let mut d = None;
    for (k, dir) in class_dirs.iter().enumerate() {
        names.push(file_name(dir));
        let files = read_dir(dir)?;
        if files.is_empty() {
            return Err(Error::format(dir, "class folder is empty"));
        }
        for f in files {
            if f.extension().is_none_or(|e| e != "npy") {
                return Err(Error::format(
                    &f,
                    "not a .npy file inside a class folder (expected one sample per .npy file)",
                ));
            }
            let arr = io::read_npy(&f)?;
            if !arr.is_float() {
                return Err(Error::format(
                    &f,
                    "integer dtype; expected a float32 or float64 sample",
                ));
            }
            let len = arr.len();
            if *d.get_or_insert(len) != len {
                return Err(Error::format(
                    &f,
                    format!(
                        "sample has {len} values (shape {:?}), earlier samples have {}",
                        arr.shape,
                        d.unwrap_or(0)
                    ),
                ));
            }
            let v = arr.to_f32();
            if let Some(j) = v.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    source_name: f.display().to_string(),
                    row: 0,
                    col: j,
                    value: v[j].to_string(),
                });
            }
            x.extend_from_slice(&v);
            labels.push(k as u32);
        }
    }
    let d = d.unwrap_or(0);
    Dataset::new(x, labels.len(), d, root.display().to_string())?.with_labels(labels, names)
}

/// `<root>/<class>/*.png|jpg` (torchvision's ImageFolder; also the `<class>/<seed>.png` layout of
/// generated samples): classes in sorted folder order, files in sorted name order, channels first,
/// values in [0, 1]. Every image must have the size and channel count of the first.
fn load_image_folder(
    root: &Path,
    class_dirs: &[std::path::PathBuf],
    read_dir: &dyn Fn(&Path) -> Result<Vec<std::path::PathBuf>>,
) -> Result<Dataset> {
    let mut x = Vec::new();
    let mut labels = Vec::new();
    let mut names = Vec::new();
    let mut info: Option<(super::ImageInfo, std::path::PathBuf)> = None;
    for (k, dir) in class_dirs.iter().enumerate() {
        names.push(file_name(dir));
        let files = read_dir(dir)?;
        if files.is_empty() {
            return Err(Error::format(dir, "class folder is empty"));
        }
        for f in files {
            if !super::is_image_name(&f) {
                return Err(Error::format(
                    &f,
                    "not a PNG or JPEG file inside a class folder of images",
                ));
            }
            let (v, im) = super::decode_image(&f)?;
            match &info {
                None => info = Some((im, f.clone())),
                Some((first, first_path)) if *first != im => {
                    return Err(Error::format(
                        &f,
                        format!(
                            "image is {}×{}×{} (C×H×W) but {} is {}×{}×{}: all images must share one size",
                            im.channels,
                            im.height,
                            im.width,
                            first_path.display(),
                            first.channels,
                            first.height,
                            first.width
                        ),
                    ))
                }
                _ => {}
            }
            x.extend_from_slice(&v);
            labels.push(k as u32);
        }
    }
    let Some((info, _)) = info else {
        return Err(Error::format(root, "no images found"));
    };
    let mut ds = Dataset::new(x, labels.len(), info.len(), root.display().to_string())?
        .with_labels(labels, names)?;
    ds.image = Some(info);
    Ok(ds)
}

/// The elements of one row of an array of `shape` (the product of every axis but the first), checked:
/// a header may declare axes whose product exceeds the address space even when the first axis is 0.
fn row_len(shape: &[usize], path: &Path) -> Result<usize> {
    (shape[1..].iter())
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .ok_or_else(|| {
            Error::format(
                path,
                format!("shape {shape:?} declares rows of more elements than can exist"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{write_npy, write_npz};

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("diffscope-load-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn folder_of_classes() {
        let root = dir("folder");
        for (c, vals) in [("cat", [1.0f32, 2.0]), ("dog", [3.0, 4.0])] {
            std::fs::create_dir_all(root.join(c)).unwrap();
            for i in 0..3 {
                let a = NpyArray {
                    shape: vec![2],
                    data: crate::io::NpyData::F32(vals.iter().map(|v| v + i as f32).collect()),
                };
                write_npy(&root.join(c).join(format!("{i}.npy")), &a).unwrap();
            }
        }
        let ds = load(&root, &LoadOptions::default()).unwrap();
        assert_eq!((ds.n, ds.d), (6, 2));
        assert_eq!(ds.class_names, vec!["cat", "dog"]);
        assert_eq!(ds.row(4), &[4.0, 5.0]);
        // A stray file is an error naming it.
        std::fs::write(root.join("dog").join("notes.txt"), "hi").unwrap();
        let e = load(&root, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("notes.txt") && e.contains("not a .npy"), "{e}");
    }

    #[test]
    fn npy_label_column_is_split_off_and_misuse_is_named() {
        let root = dir("npy-label");
        let p = root.join("m.npy");
        // Rows (x0, x1, label): the label sits in the last column.
        write_npy(
            &p,
            &NpyArray::f64(3, 3, vec![1.0, 2.0, 0.0, 3.0, 4.0, 1.0, 5.0, 6.0, 0.0]),
        )
        .unwrap();
        for lc in [2, -1] {
            let opts = LoadOptions {
                label_col: Some(lc),
                ..LoadOptions::default()
            };
            let ds = load(&p, &opts).unwrap();
            assert_eq!((ds.n, ds.d), (3, 2));
            assert_eq!(ds.x, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
            assert_eq!(ds.labels.as_deref(), Some(&[0u32, 1, 0][..]));
        }
        let bad = LoadOptions {
            label_col: Some(5),
            ..LoadOptions::default()
        };
        let e = load(&p, &bad).unwrap_err().to_string();
        assert!(e.contains("label-col") && e.contains('5'), "{e}");
        write_npy(&p, &NpyArray::f64(2, 2, vec![1.0, 0.5, 2.0, 1.0])).unwrap();
        let opts = LoadOptions {
            label_col: Some(1),
            ..LoadOptions::default()
        };
        let e = load(&p, &opts).unwrap_err().to_string();
        assert!(e.contains("0.5") && e.contains("row 0"), "{e}");
        // A label column on an .npz is an error, not silently ignored.
        let z = root.join("z.npz");
        write_npz(&z, &[("x", &NpyArray::f64(2, 2, vec![1.0, 2.0, 3.0, 4.0]))]).unwrap();
        let e = load(&z, &opts).unwrap_err().to_string();
        assert!(e.contains("label-col") && e.contains("z.npz"), "{e}");
    }

    #[test]
    fn npz_with_labels_select_and_centre() {
        let root = dir("npz");
        let p = root.join("d.npz");
        let x = NpyArray::f64(4, 1, vec![1.0, 2.0, 3.0, 10.0]);
        let y = NpyArray::i64_1d(vec![5, 7, 5, 9]);
        write_npz(&p, &[("x", &x), ("y", &y)]).unwrap();
        let opts = LoadOptions {
            classes: Some(vec!["5".into(), "9".into()]),
            centre: true,
            ..Default::default()
        };
        let ds = load(&p, &opts).unwrap();
        assert_eq!(ds.n, 3);
        assert_eq!(ds.class_names, vec!["5", "9"]);
        assert_eq!(ds.labels.as_deref(), Some(&[0u32, 0, 1][..]));
        assert!((ds.mean()[0]).abs() < 1e-6);
        let e = load(
            &p,
            &LoadOptions {
                classes: Some(vec!["4".into()]),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("classes") && e.contains('4') && e.contains("5, 7, 9"),
            "{e}"
        );
    }

    #[test]
    fn bad_arrays_are_rejected() {
        let root = dir("bad");
        let p = root.join("v.npy");
        write_npy(&p, &NpyArray::f64_1d(vec![1.0, 2.0])).unwrap();
        let e = load(&p, &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("shape [2]"), "{e}");
        write_npy(&p, &NpyArray::f64(2, 1, vec![1.0, f64::NAN])).unwrap();
        let e = load(&p, &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("non-finite") && e.contains("row 1"), "{e}");
        let p = root.join("i.npy");
        write_npy(
            &p,
            &NpyArray {
                shape: vec![1, 2],
                data: crate::io::NpyData::I64(vec![1, 2]),
            },
        )
        .unwrap();
        let e = load(&p, &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("integer dtype"), "{e}");
        let e = load(&root.join("nope.csv"), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.csv") && e.contains("no such file"), "{e}");
        let p = root.join("k.npz");
        write_npz(
            &p,
            &[
                ("a", &NpyArray::i64_1d(vec![1])),
                ("b", &NpyArray::i64_1d(vec![2])),
            ],
        )
        .unwrap();
        let e = load(&p, &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("no data member") && e.contains("a [1]"), "{e}");
    }

    fn png(path: &Path, img: image::DynamicImage) {
        img.save_with_format(path, image::ImageFormat::Png).unwrap();
    }

    /// Values written by the test through a PNG encoder come back as v / 255, channels first, classes in
    /// sorted folder order and files in sorted name order.
    #[test]
    fn image_folder_round_trips_grayscale_and_rgb_channels_first() {
        let root = dir("imgs");
        for c in ["b", "a"] {
            std::fs::create_dir_all(root.join(c)).unwrap();
        }
        // Class "b": one 2 × 3 grayscale image with pixel (r, c) = 40 r + 10 c + 1.
        let g = image::GrayImage::from_fn(3, 2, |c, r| image::Luma([(40 * r + 10 * c + 1) as u8]));
        png(&root.join("b/0.png"), image::DynamicImage::ImageLuma8(g));
        // Class "a": two grayscale images of the same size.
        for (k, name) in ["1.png", "0.png"].iter().enumerate() {
            let g = image::GrayImage::from_fn(3, 2, |_, _| image::Luma([(100 + k) as u8]));
            png(
                &root.join("a").join(name),
                image::DynamicImage::ImageLuma8(g),
            );
        }
        let ds = load(&root, &LoadOptions::default()).unwrap();
        assert_eq!((ds.n, ds.d), (3, 6));
        assert_eq!(ds.class_names, vec!["a", "b"]);
        assert_eq!(ds.labels.as_deref(), Some(&[0, 0, 1][..]));
        // a/0.png (value 101) before a/1.png (value 100).
        assert_eq!(ds.row(0)[0], 101.0 / 255.0);
        assert_eq!(ds.row(1)[0], 100.0 / 255.0);
        let want: Vec<f32> = (0..2)
            .flat_map(|r| (0..3).map(move |c| (40 * r + 10 * c + 1) as f32 / 255.0))
            .collect();
        assert_eq!(ds.row(2), &want[..]);
        let info = ds.image.clone().unwrap();
        assert_eq!((info.channels, info.height, info.width), (1, 2, 3));

        // RGB: channel planes R, G, B in that order.
        let rgb_root = dir("rgb");
        std::fs::create_dir_all(rgb_root.join("x")).unwrap();
        let im =
            image::RgbImage::from_fn(2, 2, |c, r| image::Rgb([(10 + c + 2 * r) as u8, 50, 200]));
        png(
            &rgb_root.join("x/0.png"),
            image::DynamicImage::ImageRgb8(im),
        );
        let ds = load(&rgb_root, &LoadOptions::default()).unwrap();
        assert_eq!(ds.d, 12);
        let r: Vec<f32> = [10u8, 11, 12, 13]
            .iter()
            .map(|&v| v as f32 / 255.0)
            .collect();
        assert_eq!(&ds.row(0)[..4], &r[..]);
        assert!(ds.row(0)[4..8].iter().all(|&v| v == 50.0 / 255.0));
        assert!(ds.row(0)[8..].iter().all(|&v| v == 200.0 / 255.0));
        let mut sym = ds.clone();
        sym.to_symmetric_pixels().unwrap();
        assert_eq!(sym.row(0)[8], 2.0 * (200.0 / 255.0) - 1.0);
        assert!(
            sym.to_symmetric_pixels().is_err(),
            "mapping twice is refused"
        );
    }

    #[test]
    fn image_folder_rejects_mixed_sizes_and_broken_files_naming_them() {
        let root = dir("imgs-bad");
        std::fs::create_dir_all(root.join("a")).unwrap();
        png(
            &root.join("a/0.png"),
            image::DynamicImage::ImageLuma8(image::GrayImage::new(3, 2)),
        );
        png(
            &root.join("a/1.png"),
            image::DynamicImage::ImageLuma8(image::GrayImage::new(2, 2)),
        );
        let e = load(&root, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("1.png") && e.contains("share one size") && e.contains("0.png"),
            "{e}"
        );
        std::fs::remove_file(root.join("a/1.png")).unwrap();
        // A truncated PNG.
        let bytes = std::fs::read(root.join("a/0.png")).unwrap();
        std::fs::write(root.join("a/2.png"), &bytes[..bytes.len() / 2]).unwrap();
        let e = load(&root, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("2.png") && e.contains("cannot decode"), "{e}");
        std::fs::remove_file(root.join("a/2.png")).unwrap();
        std::fs::write(root.join("a/3.txt"), "x").unwrap();
        let e = load(&root, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("3.txt") && e.contains("not a PNG"), "{e}");
    }

    fn idx_bytes(magic_type: u8, shape: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, magic_type, shape.len() as u8];
        for s in shape {
            b.extend_from_slice(&s.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    fn gz(path: &Path, bytes: &[u8]) {
        use std::io::Write;
        let f = std::fs::File::create(path).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap();
    }

    #[test]
    fn idx_images_with_their_label_file_and_bad_label_counts() {
        let root = dir("idx");
        let pixels: Vec<u8> = (0..3 * 2 * 2).map(|v| (v * 20) as u8).collect();
        gz(
            &root.join("train-images-idx3-ubyte.gz"),
            &idx_bytes(8, &[3, 2, 2], &pixels),
        );
        gz(
            &root.join("train-labels-idx1-ubyte.gz"),
            &idx_bytes(8, &[3], &[7, 2, 7]),
        );
        let ds = load(
            &root.join("train-images-idx3-ubyte.gz"),
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!((ds.n, ds.d), (3, 4));
        assert_eq!(ds.class_names, vec!["2", "7"]);
        assert_eq!(ds.labels.as_deref(), Some(&[1, 0, 1][..]));
        assert_eq!(ds.row(1)[3], 140.0 / 255.0);
        assert_eq!(ds.image.as_ref().map(|i| (i.height, i.width)), Some((2, 2)));
        // Uncompressed works too; a label file of the wrong length is named.
        std::fs::write(
            root.join("t10k-images-idx3-ubyte"),
            idx_bytes(8, &[3, 2, 2], &pixels),
        )
        .unwrap();
        std::fs::write(
            root.join("t10k-labels-idx1-ubyte"),
            idx_bytes(8, &[2], &[1, 2]),
        )
        .unwrap();
        let e = load(
            &root.join("t10k-images-idx3-ubyte"),
            &LoadOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("t10k-labels-idx1-ubyte") && e.contains("3 images"),
            "{e}"
        );
        // Truncated image data.
        std::fs::write(
            root.join("bad-images-idx3-ubyte"),
            idx_bytes(8, &[3, 2, 2], &pixels[..7]),
        )
        .unwrap();
        let e = load(&root.join("bad-images-idx3-ubyte"), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}
