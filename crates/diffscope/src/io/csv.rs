//! Numeric CSV: comma (or semicolon / tab / whitespace) separated numbers, an optional header line and an
//! optional label column whose entries may be any text. Files ending in `.gz` are gunzipped on the fly.

use crate::error::{Error, Result};
use std::io::BufRead;
use std::path::Path;

/// How to read a CSV file.
#[derive(Clone, Debug, Default)]
pub struct CsvOptions {
    /// Column holding the class label (0-based; negative counts from the end). `None`: no labels.
    pub label_col: Option<i64>,
    /// Skip the first line as a header (its names are kept). `None`: detect (a first line that does not
    /// parse as numbers is a header).
    pub header: Option<bool>,
}

/// A numeric table read from CSV: `rows × cols` values (row-major, label column removed).
#[derive(Clone, Debug)]
pub struct CsvTable {
    /// Number of rows.
    pub rows: usize,
    /// Number of numeric columns.
    pub cols: usize,
    /// The values, row-major.
    pub values: Vec<f64>,
    /// Label text per row, when a label column was given.
    pub labels: Option<Vec<String>>,
    /// Header names of the numeric columns, when the file had a header.
    pub header: Option<Vec<String>>,
}

fn split_fields(line: &str) -> Vec<&str> {
    let sep = if line.contains(',') {
        Some(',')
    } else if line.contains(';') {
        Some(';')
    } else if line.contains('\t') {
        Some('\t')
    } else {
        None
    };
    match sep {
        Some(c) => line.split(c).map(str::trim).collect(),
        None => line.split_whitespace().collect(),
    }
}

/// Reads a numeric CSV file. Errors name the file, the 1-based line, the column and the value.
pub fn read_csv(path: &Path, opts: &CsvOptions) -> Result<CsvTable> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
            file,
        )))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let mut values = Vec::new();
    let mut labels = opts.label_col.map(|_| Vec::new());
    let mut header = None;
    let mut width: Option<usize> = None;
    let mut rows = 0usize;
    let mut label_idx = None;
    for (lineno, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| {
            Error::format(
                path,
                format!(
                    "cannot read line {} ({e}); the file may be truncated or not text",
                    lineno + 1
                ),
            )
        })?;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = split_fields(trimmed);
        let is_first = width.is_none() && header.is_none();
        let w = *width.get_or_insert(fields.len());
        if fields.len() != w {
            return Err(Error::format(
                path,
                format!(
                    "ragged CSV: line {} has {} fields, earlier lines have {w}",
                    lineno + 1,
                    fields.len()
                ),
            ));
        }
        if label_idx.is_none() {
            if let Some(lc) = opts.label_col {
                let idx = if lc < 0 { w as i64 + lc } else { lc };
                if idx < 0 || idx >= w as i64 {
                    return Err(Error::param(
                        "label-col",
                        lc,
                        format!("a column index in 0..{w} (the file has {w} columns)"),
                    ));
                }
                label_idx = Some(idx as usize);
            }
        }
        if is_first {
            let looks_header = fields
                .iter()
                .enumerate()
                .any(|(j, f)| Some(j) != label_idx && f.parse::<f64>().is_err());
            if opts.header.unwrap_or(looks_header) {
                header = Some(
                    fields
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| Some(*j) != label_idx)
                        .map(|(_, f)| f.to_string())
                        .collect(),
                );
                continue;
            }
        }
        for (j, f) in fields.iter().enumerate() {
            if Some(j) == label_idx {
                if let Some(l) = labels.as_mut() {
                    l.push(f.to_string());
                }
                continue;
            }
            let v: f64 = f.parse().map_err(|_| {
                Error::format(
                    path,
                    format!("line {}, column {j}: `{f}` is not a number", lineno + 1),
                )
            })?;
            if !v.is_finite() {
                return Err(Error::NonFinite {
                    source_name: format!("{} line {}", path.display(), lineno + 1),
                    row: rows,
                    col: j,
                    value: f.to_string(),
                });
            }
            values.push(v);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::format(path, "empty CSV: no data rows"));
    }
    let cols = width.unwrap_or(0) - usize::from(label_idx.is_some());
    if cols == 0 {
        return Err(Error::format(
            path,
            "CSV has no numeric column besides the label column",
        ));
    }
    Ok(CsvTable {
        rows,
        cols,
        values,
        labels,
        header,
    })
}

/// Writes a CSV with a header line and numeric columns (given column-wise), atomically.
///
/// # Panics
/// If `names.len() != columns.len()` or the columns differ in length.
pub fn write_csv(path: &Path, names: &[&str], columns: &[&[f64]]) -> Result<()> {
    assert_eq!(names.len(), columns.len());
    let n = columns.first().map_or(0, |c| c.len());
    assert!(
        columns.iter().all(|c| c.len() == n),
        "CSV columns differ in length"
    );
    super::write_atomic(path, |w| {
        writeln!(w, "{}", names.join(","))?;
        for i in 0..n {
            let row: Vec<String> = columns.iter().map(|c| format_num(c[i])).collect();
            writeln!(w, "{}", row.join(","))?;
        }
        Ok(())
    })
}

fn format_num(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmp(name: &str, content: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("diffscope-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn header_detection_and_label_column() {
        let p = tmp("h.csv", "a,b,label\n1,2,cat\n3,4,dog\n");
        let t = read_csv(
            &p,
            &CsvOptions {
                label_col: Some(-1),
                header: None,
            },
        )
        .unwrap();
        assert_eq!((t.rows, t.cols), (2, 2));
        assert_eq!(t.values, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(t.labels.unwrap(), vec!["cat", "dog"]);
        assert_eq!(t.header.unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn gzip_roundtrip() {
        let dir = std::env::temp_dir().join(format!("diffscope-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("g.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"1 2\n3 4\n").unwrap();
        std::fs::write(&p, enc.finish().unwrap()).unwrap();
        let t = read_csv(&p, &CsvOptions::default()).unwrap();
        assert_eq!(t.values, vec![1.0, 2.0, 3.0, 4.0]);
        // Truncated gzip: an error naming the file, not a silent short read.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_csv(&p, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("g.csv.gz"), "{e}");
    }

    #[test]
    fn bad_inputs_name_line_column_and_value() {
        let e = read_csv(&tmp("r.csv", "1,2,3\n4,5\n"), &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ragged") && e.contains("line 2") && e.contains("2 fields"),
            "{e}"
        );
        let e = read_csv(&tmp("n.csv", "1,2\n4,nan\n"), &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("non-finite") && e.contains("nan") && e.contains("line 2"),
            "{e}"
        );
        let e = read_csv(&tmp("i.csv", "1,2\n4,inf\n"), &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("non-finite") && e.contains("inf"), "{e}");
        let e = read_csv(&tmp("x.csv", "1,2\n4,abc\n"), &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2, column 1") && e.contains("`abc`"), "{e}");
        let e = read_csv(&tmp("e.csv", ""), &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("e.csv") && e.contains("empty"), "{e}");
        let e = read_csv(
            &tmp("l.csv", "1,2\n"),
            &CsvOptions {
                label_col: Some(5),
                header: Some(false),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("label-col") && e.contains('5'), "{e}");
    }
}
