//! Embedders turn texts into f32 vectors. The registry creates them from a JSON config
//! (`{"kind": "hash", ...}`) and caches one instance per distinct config per process, so
//! models load once and are shared by every handle and thread.

pub mod hash;
#[cfg(feature = "onnx")]
pub mod onnx;

use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Upper bound on texts per `embed` call; callers batch above it.
pub(crate) const MAX_BATCH: usize = crate::VPACK_MAX_TEXTS;

pub trait Embedder: Send + Sync {
    /// Output dimension.
    fn dimension(&self) -> usize;
    /// Canonical description recorded in a pack's manifest under `embedder`; passing it
    /// back to [`create`] recreates an equivalent embedder.
    fn describe(&self) -> Value;
    /// Embeds `texts` into `out` (row-major, `texts.len() * dimension()` floats).
    fn embed_into(&self, texts: &[&str], out: &mut [f32]) -> Result<()>;
    /// How many tokens each text has before any truncation, in this embedder's units.
    fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>>;
    /// Tokens beyond which a text is truncated, if the embedder has such a limit.
    fn max_tokens(&self) -> Option<usize> {
        None
    }
}

/// The embedder kinds this build of the library can create.
#[cfg(feature = "onnx")]
pub(crate) const KINDS: &[&str] = &["hash", "onnx"];
#[cfg(not(feature = "onnx"))]
pub(crate) const KINDS: &[&str] = &["hash"];

type Registry = Mutex<HashMap<String, Arc<dyn Embedder>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Creates (or returns the cached) embedder for `config`, a JSON object with a `kind`.
pub fn create(config: &Value) -> Result<Arc<dyn Embedder>> {
    let obj = config.as_object().ok_or_else(|| {
        Error::JsonShape(format!(
            "embedder config must be a JSON object, got {config}"
        ))
    })?;
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::JsonShape("embedder config needs a string \"kind\"".into()))?;
    // serde_json's default map is sorted, so this string is canonical.
    let key = config.to_string();
    if let Some(found) = lock(registry()).get(&key) {
        return Ok(Arc::clone(found));
    }
    let made: Arc<dyn Embedder> = match kind {
        "hash" => Arc::new(hash::HashEmbedder::from_config(obj)?),
        #[cfg(feature = "onnx")]
        "onnx" => Arc::new(onnx::OnnxEmbedder::from_config(obj)?),
        other => {
            return Err(Error::Model(format!(
                "embedder kind '{other}' is not available in this build of vpack \
                 (available: {})",
                KINDS.join(", ")
            )))
        }
    };
    let mut map = lock(registry());
    let entry = map.entry(key).or_insert(made);
    Ok(Arc::clone(entry))
}

/// Token counts of `texts`, with the batch limit of `embed`.
pub fn token_counts(embedder: &dyn Embedder, texts: &[&str]) -> Result<Vec<usize>> {
    if texts.len() > MAX_BATCH {
        return Err(Error::Limit(format!(
            "{} texts in one call (at most {MAX_BATCH})",
            texts.len()
        )));
    }
    embedder.token_counts(texts)
}

/// Embeds `texts` and checks the output shape.
pub fn embed(embedder: &dyn Embedder, texts: &[&str], out: &mut [f32]) -> Result<()> {
    if texts.len() > MAX_BATCH {
        return Err(Error::Limit(format!(
            "{} texts in one call (at most {MAX_BATCH})",
            texts.len()
        )));
    }
    let want = texts.len() * embedder.dimension();
    if out.len() != want {
        return Err(Error::DimensionMismatch {
            expected: want,
            got: out.len(),
        });
    }
    embedder.embed_into(texts, out)
}

fn lock(r: &Registry) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn Embedder>>> {
    // A panic while holding the lock cannot leave the map half-updated (single insert).
    r.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registry_caches_by_config() {
        let a = create(&json!({"kind": "hash", "dimension": 64})).unwrap();
        let b = create(&json!({"dimension": 64, "kind": "hash"})).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = create(&json!({"kind": "hash", "dimension": 32})).unwrap();
        assert_eq!(c.dimension(), 32);
    }

    #[test]
    fn unknown_kind_is_a_model_error() {
        let err = create(&json!({"kind": "nope"})).err().unwrap();
        assert_eq!(err.code(), crate::error::code::MODEL);
        for shape in [json!([1]), json!(42), json!(null), json!({"dimension": 8})] {
            let err = create(&shape).err().unwrap();
            assert_eq!(err.code(), crate::error::code::INVALID_JSON, "{shape}");
        }
        let err = create(&json!({"kind": "hash", "dimension": "8"}))
            .err()
            .unwrap();
        assert_eq!(err.code(), crate::error::code::INVALID_JSON);
        let err = create(&json!({"kind": "hash", "dimension": 0}))
            .err()
            .unwrap();
        assert_eq!(err.code(), crate::error::code::INVALID_ARG);
    }

    #[test]
    fn embed_checks_output_shape() {
        let e = create(&json!({"kind": "hash", "dimension": 8})).unwrap();
        let mut out = vec![0.0; 7];
        let err = embed(e.as_ref(), &["a"], &mut out).err().unwrap();
        assert_eq!(err.code(), crate::error::code::DIMENSION_MISMATCH);
    }
}
