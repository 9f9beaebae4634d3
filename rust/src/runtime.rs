//! Loading ONNX Runtime at run time (ort's load-dynamic). The library path is checked
//! before ort sees it: ort's implicit loading panics (or is reported to hang) when no
//! library is found, so no session is ever created before `ensure` succeeds.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Environment variable naming libonnxruntime when `vpack_runtime_init` was not called.
pub(crate) const ENV_VAR: &str = "ORT_DYLIB_PATH";

static LOADED: Mutex<Option<PathBuf>> = Mutex::new(None);

fn loaded() -> std::sync::MutexGuard<'static, Option<PathBuf>> {
    LOADED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Loads ONNX Runtime from `path`. A second call with another path fails: a process can
/// hold one ONNX Runtime.
pub fn init(path: &Path) -> Result<PathBuf> {
    let mut slot = loaded();
    let path = std::fs::canonicalize(path).map_err(|e| {
        Error::Runtime(format!(
            "ONNX Runtime library {} cannot be used: {e}",
            path.display()
        ))
    })?;
    if !path.is_file() {
        return Err(Error::Runtime(format!(
            "ONNX Runtime library {} is not a file",
            path.display()
        )));
    }
    if let Some(current) = slot.as_ref() {
        if *current == path {
            return Ok(path);
        }
        return Err(Error::Runtime(format!(
            "ONNX Runtime is already loaded from {}; cannot switch to {}",
            current.display(),
            path.display()
        )));
    }
    load(&path)?;
    *slot = Some(path.clone());
    Ok(path)
}

#[cfg(feature = "onnx")]
fn load(path: &Path) -> Result<()> {
    let builder = ort::init_from(path).map_err(|e| {
        Error::Runtime(format!(
            "cannot load ONNX Runtime from {}: {e}",
            path.display()
        ))
    })?;
    // The environment is created lazily with default settings by the first session.
    drop(builder);
    Ok(())
}

#[cfg(not(feature = "onnx"))]
fn load(_path: &Path) -> Result<()> {
    Err(Error::Runtime(
        "this build of vpack has no onnx embedder (built without the `onnx` feature)".into(),
    ))
}

/// Makes sure ONNX Runtime is loaded: by an earlier `init`, or from `ORT_DYLIB_PATH`.
pub fn ensure() -> Result<PathBuf> {
    if let Some(p) = loaded().as_ref() {
        return Ok(p.clone());
    }
    match std::env::var_os(ENV_VAR) {
        Some(p) if !p.is_empty() => init(Path::new(&p)),
        _ => Err(Error::Runtime(format!(
            "ONNX Runtime is not loaded: call vpack_runtime_init() with the path of \
             libonnxruntime.so, or set {ENV_VAR} (the onnxruntime Python wheel ships it in \
             onnxruntime/capi/)"
        ))),
    }
}

/// The loaded library's path, if any.
pub fn loaded_path() -> Option<PathBuf> {
    loaded().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_bogus_library_is_a_runtime_error() {
        let err = init(Path::new("/nonexistent/libonnxruntime.so")).unwrap_err();
        assert_eq!(err.code(), crate::error::code::RUNTIME);
        // A file that is not a shared library: dlopen fails, no panic.
        let dir = std::env::temp_dir().join(format!("vpack-rt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("libonnxruntime.so.1.99.0");
        std::fs::write(&fake, b"not an ELF file").unwrap();
        let err = init(&fake).unwrap_err();
        assert_eq!(err.code(), crate::error::code::RUNTIME);
        assert!(
            err.to_string().contains("cannot load ONNX Runtime"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(loaded_path().is_none());
    }
}
