//! One config overlay for every door. A run's config is a TOML table: the file's (or none), with the keys
//! a door set (CLI flags, Python keywords) laid over it by [`overlay`], then read once into the
//! experiment's typed config, whose `serde` defaults are the only defaults ([`from_table`]: unknown keys
//! are errors naming the origin). A door never copies a default and never sets a key the user did not
//! give, so flags win over the file, `--seed` included, and the file's other keys stay.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// A config as a TOML table.
pub type Table = toml::Table;

/// Lays `over` onto `base`: where both hold a table under a key the two merge key by key (recursively);
/// any other value of `over` replaces `base`'s.
pub fn overlay(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => overlay(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Sets `value` at the dotted `path` of `t` (creating tables on the way): how a door records a key the
/// user gave.
pub fn set(t: &mut Table, path: &[&str], value: impl Serialize) -> Result<()> {
    let v = toml::Value::try_from(value)
        .map_err(|e| Error::format(path.join("."), format!("cannot express as TOML: {e}")))?;
    let (last, parents) = path.split_last().expect("a non-empty key path");
    let mut at = t;
    for p in parents {
        let next = at
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(Table::new()));
        if !next.is_table() {
            *next = toml::Value::Table(Table::new());
        }
        at = next.as_table_mut().expect("a table was just put here");
    }
    at.insert(last.to_string(), v);
    Ok(())
}

/// [`set`] when the door was given a value (`Some`), nothing otherwise.
pub fn set_some<T: Serialize>(t: &mut Table, path: &[&str], value: Option<T>) -> Result<()> {
    match value {
        Some(v) => set(t, path, v),
        None => Ok(()),
    }
}

/// The typed config of a run: `file`'s table (or none) with `set` laid over it, read once into `T`
/// (defaults from `T`'s serde defaults). Errors name the file, or "(flags)" without one.
pub fn resolve<T: DeserializeOwned>(file: Option<&Path>, set: Table) -> Result<T> {
    let mut base = match file {
        Some(p) => read_table(p)?,
        None => Table::new(),
    };
    overlay(&mut base, set);
    from_table(base, file.unwrap_or(Path::new("(flags)")))
}

/// Reads a TOML file into a table; errors name the file.
pub fn read_table(path: &Path) -> Result<Table> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.parse::<Table>().map_err(|e| Error::Config {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })
}

/// The keys a JSON object (Python's keywords) sets: JSON nulls are dropped, since a keyword left at None
/// is a key not given. Errors name `what`.
fn given_keys(text: &str, what: &str) -> Result<serde_json::Value> {
    fn strip(v: serde_json::Value) -> Option<serde_json::Value> {
        match v {
            serde_json::Value::Null => None,
            serde_json::Value::Object(m) => Some(serde_json::Value::Object(
                m.into_iter()
                    .filter_map(|(k, v)| strip(v).map(|v| (k, v)))
                    .collect(),
            )),
            serde_json::Value::Array(a) => Some(serde_json::Value::Array(
                a.into_iter().filter_map(strip).collect(),
            )),
            v => Some(v),
        }
    }
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::format(what, e.to_string()))?;
    Ok(strip(v).unwrap_or(serde_json::Value::Object(Default::default())))
}

/// A JSON object (Python's keywords) as a table of the keys it sets ([`given_keys`]), to lay over a
/// file's or the defaults with [`overlay`].
pub fn table_from_json(text: &str, what: &str) -> Result<Table> {
    serde_json::from_value(given_keys(text, what)?)
        .map_err(|e| Error::format(what, format!("not a table of keys: {e}")))
}

/// The typed config `T` from a JSON object of the keys a door set (nulls are keys not given), the rest
/// from `T`'s serde defaults; unknown keys are errors naming `what`.
pub fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_value(given_keys(text, what)?).map_err(|e| Error::Config {
        path: format!("<{what}>").into(),
        msg: e.to_string(),
    })
}

/// Reads `t` into the typed config `T` (its defaults fill what is absent; unknown keys and wrong types
/// are errors naming `origin`).
pub fn from_table<T: DeserializeOwned>(t: Table, origin: &Path) -> Result<T> {
    t.try_into().map_err(|e: toml::de::Error| Error::Config {
        path: origin.to_path_buf(),
        msg: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overlay keeps the file's keys the door did not set, replaces those it set (scalars and
    /// arrays whole), and merges nested tables key by key; nulls from Python are keys not given.
    #[test]
    fn overlay_sets_only_the_keys_given() {
        let mut base: Table = "seed = 3\nn = 50\n[params]\nbatch = 10\npairs = 4\nt = [1, 2]\n"
            .parse()
            .unwrap();
        let mut over = Table::new();
        set(&mut over, &["seed"], 7u64).unwrap();
        set(&mut over, &["params", "pairs"], 9).unwrap();
        set(&mut over, &["params", "t"], [5]).unwrap();
        set(&mut over, &["model", "d"], 12).unwrap();
        overlay(&mut base, over);
        let want: Table =
            "seed = 7\nn = 50\n[params]\nbatch = 10\npairs = 9\nt = [5]\n[model]\nd = 12\n"
                .parse()
                .unwrap();
        assert_eq!(base, want);
        let t = table_from_json(
            r#"{"seed": 1, "n": null, "params": {"batch": null, "pairs": 2}}"#,
            "x",
        )
        .unwrap();
        let want: Table = "seed = 1\n[params]\npairs = 2\n".parse().unwrap();
        assert_eq!(t, want);
    }
}
