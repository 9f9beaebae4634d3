//! Sentence-embedding models in ONNX format, run by fastembed over ONNX Runtime.
//!
//! Config (`kind: "onnx"`): `model_file` (path to model.onnx), `tokenizer_dir` (folder with
//! tokenizer.json, config.json, special_tokens_map.json, tokenizer_config.json), or
//! `model_dir` holding all of them; `model_id`; optional `sha256` of the model file
//! (checked), `dimension` (checked), `pooling` ("mean" | "cls", default mean),
//! `normalize` (must be true: fastembed always L2-normalises), `max_tokens` (default 256),
//! and run-time settings `batch_size` (default 4, the fastest measured on 2 cores; larger
//! batches also raise ONNX Runtime's memory arena), `sessions` (ONNX Runtime sessions that
//! embed different batches at once, default: one per core, see `DEFAULT_SESSIONS`) and
//! `threads` (intra-op threads of each session, default: the cores shared out among the
//! sessions, at least 1). Paths and run-time settings are not part of `describe()`, so a
//! pack records what the vectors mean, not where the model sat; they do not change the
//! vectors' bits either (each text's vector comes from its batch alone, whichever session
//! runs it, and the tests check it).
//!
//! Texts are tokenized once up front (in parallel), sorted by token length and embedded in
//! batches of similar length, each padded only to its own longest text; results are
//! written back in input order.

use super::Embedder;
use crate::error::{Error, Result};
use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tokenizers::Tokenizer;

pub(crate) const DEFAULT_MAX_TOKENS: usize = 256;
pub(crate) const DEFAULT_BATCH_SIZE: usize = 4;
const MAX_BATCH_SIZE: usize = 1024;
const MAX_TOKENS_LIMIT: usize = 8192;

const MAX_SESSIONS: usize = 64;

/// A batch's index in a call and its vectors.
type BatchVectors = (usize, Vec<Vec<f32>>);

const KNOWN_KEYS: [&str; 13] = [
    "kind",
    "model_id",
    "model_file",
    "tokenizer_dir",
    "model_dir",
    "sha256",
    "dimension",
    "pooling",
    "normalize",
    "max_tokens",
    "batch_size",
    "sessions",
    "threads",
];

pub struct OnnxEmbedder {
    /// Sessions of the same model; a call's batches are shared out among them.
    models: Vec<Mutex<TextEmbedding>>,
    /// The same tokenizer without truncation or padding: true token counts.
    counter: Tokenizer,
    model_id: String,
    sha256: String,
    dimension: usize,
    pooling: &'static str,
    max_tokens: usize,
    batch_size: usize,
}

/// Sessions when none are set: one single-threaded session per core. Small batches leave
/// one session's intra-op threads waiting on each other; sessions on different batches
/// do not wait (measured by benches/bench_embed.py --sessions).
fn default_sessions() -> usize {
    crate::parallel::cores()
}

fn model_err(msg: impl Into<String>) -> Error {
    Error::Model(msg.into())
}

fn read(path: &Path, what: &str, model_id: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        model_err(format!(
            "model '{model_id}': cannot read {what} {}: {e}",
            path.display()
        ))
    })
}

/// Every option's JSON type, checked before anything is loaded, so a config of the
/// wrong shape is `INVALID_JSON` whatever else is wrong with it.
fn check_types(obj: &Map<String, Value>) -> Result<()> {
    for (key, v) in obj {
        let ok = match key.as_str() {
            "dimension" | "max_tokens" | "batch_size" | "sessions" | "threads" => v.is_u64(),
            "normalize" => v.is_boolean(),
            _ => v.is_string(),
        };
        if !ok {
            return Err(Error::JsonShape(format!(
                "onnx embedder option '{key}' has the wrong type: {v}"
            )));
        }
    }
    Ok(())
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(Error::JsonShape(format!(
            "'{key}' must be a string, got {v}"
        ))),
    }
}

fn usize_field(obj: &Map<String, Value>, key: &str, default: usize, max: usize) -> Result<usize> {
    match obj.get(key) {
        None => Ok(default),
        Some(v) => {
            let n = v.as_u64().ok_or_else(|| {
                Error::JsonShape(format!("'{key}' must be a non-negative integer, got {v}"))
            })?;
            usize::try_from(n)
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    Error::InvalidArg(format!("'{key}' must be an integer in 1..={max}, got {v}"))
                })
        }
    }
}

/// Environment variable: folders (`:`-separated) holding one `<model_id>/` folder per model.
pub(crate) const MODEL_PATH_ENV: &str = "VPACK_MODEL_PATH";

/// `<dir>/<model_id>` for the first dir in VPACK_MODEL_PATH that holds its model.onnx.
fn find_in_model_path(model_id: &str) -> Option<PathBuf> {
    let simple = !model_id.is_empty()
        && model_id != "."
        && model_id != ".."
        && !model_id.contains(['/', '\\']);
    if !simple {
        return None;
    }
    let paths = std::env::var_os(MODEL_PATH_ENV)?;
    std::env::split_paths(&paths)
        .map(|d| d.join(model_id))
        .find(|d| d.join("model.onnx").is_file())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl OnnxEmbedder {
    pub fn from_config(obj: &Map<String, Value>) -> Result<Self> {
        if let Some(key) = obj.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(Error::JsonShape(format!(
                "unknown onnx embedder option '{key}'"
            )));
        }
        check_types(obj)?;
        let model_id = str_field(obj, "model_id")?
            .unwrap_or("unnamed-onnx-model")
            .to_string();
        let model_file_field = str_field(obj, "model_file")?;
        let mut model_dir = str_field(obj, "model_dir")?.map(PathBuf::from);
        if model_file_field.is_none() && model_dir.is_none() {
            model_dir = find_in_model_path(&model_id);
        }
        let model_file = match (model_file_field, &model_dir) {
            (Some(f), _) => PathBuf::from(f),
            (None, Some(d)) => d.join("model.onnx"),
            (None, None) => {
                return Err(model_err(format!(
                    "model '{model_id}' is not available here: no model_file or model_dir \
                     was given and no {MODEL_PATH_ENV} folder holds {model_id}/model.onnx"
                )))
            }
        };
        let tokenizer_dir = match (str_field(obj, "tokenizer_dir")?, &model_dir) {
            (Some(d), _) => PathBuf::from(d),
            (None, Some(d)) => d.clone(),
            (None, None) => model_file
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        };
        let pooling = match str_field(obj, "pooling")?.unwrap_or("mean") {
            "mean" => Pooling::Mean,
            "cls" => Pooling::Cls,
            other => {
                return Err(Error::InvalidArg(format!(
                    "pooling must be \"mean\" or \"cls\", got \"{other}\""
                )))
            }
        };
        if obj
            .get("normalize")
            .is_some_and(|v| v != &Value::Bool(true))
        {
            return Err(Error::InvalidArg(
                "onnx embedders always L2-normalise; 'normalize' must be true".into(),
            ));
        }
        let max_tokens = usize_field(obj, "max_tokens", DEFAULT_MAX_TOKENS, MAX_TOKENS_LIMIT)?;
        let batch_size = usize_field(obj, "batch_size", DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE)?;
        let sessions = usize_field(obj, "sessions", default_sessions(), MAX_SESSIONS)?;
        let threads = match obj.get("threads") {
            None => (crate::parallel::cores() / sessions).max(1),
            Some(_) => usize_field(obj, "threads", 1, 256)?,
        };

        let onnx = read(&model_file, "model file", &model_id)?;
        let sha256 = sha256_hex(&onnx);
        if let Some(want) = str_field(obj, "sha256")? {
            if !want.eq_ignore_ascii_case(&sha256) {
                return Err(model_err(format!(
                    "model '{model_id}': {} has sha256 {sha256}, but {want} was expected \
                     (a different model file than the one the pack was built with)",
                    model_file.display()
                )));
            }
        }
        let tok = |name: &str| read(&tokenizer_dir.join(name), name, &model_id);
        let files = TokenizerFiles {
            tokenizer_file: tok("tokenizer.json")?,
            config_file: tok("config.json")?,
            special_tokens_map_file: tok("special_tokens_map.json")?,
            tokenizer_config_file: tok("tokenizer_config.json")?,
        };

        crate::runtime::ensure()?;
        let mut models = Vec::with_capacity(sessions);
        for _ in 0..sessions {
            let files = TokenizerFiles {
                tokenizer_file: files.tokenizer_file.clone(),
                config_file: files.config_file.clone(),
                special_tokens_map_file: files.special_tokens_map_file.clone(),
                tokenizer_config_file: files.tokenizer_config_file.clone(),
            };
            let model =
                UserDefinedEmbeddingModel::new(onnx.clone(), files).with_pooling(pooling.clone());
            let options = InitOptionsUserDefined::new()
                .with_max_length(max_tokens)
                .with_intra_threads(threads);
            let te = TextEmbedding::try_new_from_user_defined(model, options)
                .map_err(|e| model_err(format!("model '{model_id}' failed to load: {e}")))?;
            models.push(te);
        }
        drop(onnx);
        let te = &mut models[0];
        let mut counter = te.tokenizer.clone();
        counter
            .with_truncation(None)
            .map_err(|e| model_err(format!("model '{model_id}' tokenizer: {e}")))?;
        counter.with_padding(None);

        let probe = te
            .embed(["dimension probe"], Some(1))
            .map_err(|e| model_err(format!("model '{model_id}' failed a probe embedding: {e}")))?;
        let dimension = probe.first().map_or(0, Vec::len);
        if dimension == 0 {
            return Err(model_err(format!(
                "model '{model_id}' returned an empty embedding"
            )));
        }
        if let Some(want) = obj.get("dimension") {
            if want.as_u64() != Some(dimension as u64) {
                return Err(Error::DimensionMismatch {
                    expected: want.as_u64().unwrap_or(0) as usize,
                    got: dimension,
                });
            }
        }
        Ok(OnnxEmbedder {
            models: models.into_iter().map(Mutex::new).collect(),
            counter,
            model_id,
            sha256,
            dimension,
            pooling: if pooling == Pooling::Mean {
                "mean"
            } else {
                "cls"
            },
            max_tokens,
            batch_size,
        })
    }

    fn lengths(&self, texts: &[&str]) -> Result<Vec<usize>> {
        let encodings = self
            .counter
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| {
                model_err(format!(
                    "model '{}': tokenization failed: {e}",
                    self.model_id
                ))
            })?;
        Ok(encodings.iter().map(|e| e.len()).collect())
    }
}

impl Embedder for OnnxEmbedder {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn describe(&self) -> Value {
        json!({
            "kind": "onnx",
            "model_id": self.model_id,
            "sha256": self.sha256,
            "dimension": self.dimension,
            "pooling": self.pooling,
            "normalize": true,
            "max_tokens": self.max_tokens,
        })
    }

    fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>> {
        self.lengths(texts)
    }

    fn max_tokens(&self) -> Option<usize> {
        Some(self.max_tokens)
    }

    fn embed_into(&self, texts: &[&str], out: &mut [f32]) -> Result<()> {
        let lengths = self.lengths(texts)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        // Similar lengths share a batch, so padding to the batch's longest wastes little.
        order.sort_by_key(|&i| (lengths[i].min(self.max_tokens), i));
        let batches: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        let workers = self.models.len().min(batches.len());
        if workers <= 1 {
            let mut model = self.models[0].lock().unwrap_or_else(|p| p.into_inner());
            for group in &batches {
                let vectors = self.run(&mut model, texts, group)?;
                self.store(group, &vectors, out)?;
            }
            return Ok(());
        }
        // Each session takes the next batch not yet taken, so a session never waits for
        // another's batch; the vectors are written back after all have run.
        let next = AtomicUsize::new(0);
        let done: Vec<Result<Vec<BatchVectors>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self.models[..workers]
                .iter()
                .map(|session| {
                    let (next, batches) = (&next, &batches);
                    scope.spawn(move || {
                        let mut model = session.lock().unwrap_or_else(|p| p.into_inner());
                        let mut mine = Vec::new();
                        loop {
                            let b = next.fetch_add(1, Ordering::Relaxed);
                            let Some(group) = batches.get(b) else {
                                return Ok(mine);
                            };
                            mine.push((b, self.run(&mut model, texts, group)?));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Panic("an embedding session panicked".into()))
                    })
                })
                .collect()
        });
        for part in done {
            for (b, vectors) in part? {
                self.store(batches[b], &vectors, out)?;
            }
        }
        Ok(())
    }
}

impl OnnxEmbedder {
    /// Embeds the texts `group` names (one model batch) with `model`.
    fn run(
        &self,
        model: &mut TextEmbedding,
        texts: &[&str],
        group: &[usize],
    ) -> Result<Vec<Vec<f32>>> {
        let batch: Vec<&str> = group.iter().map(|&i| texts[i]).collect();
        let vectors = model
            .embed(&batch, Some(batch.len()))
            .map_err(|e| model_err(format!("model '{}' failed: {e}", self.model_id)))?;
        if vectors.len() != group.len() {
            return Err(model_err(format!(
                "model '{}' returned {} vectors for {} texts",
                self.model_id,
                vectors.len(),
                group.len()
            )));
        }
        Ok(vectors)
    }

    /// Writes a batch's vectors to their texts' rows of `out`.
    fn store(&self, group: &[usize], vectors: &[Vec<f32>], out: &mut [f32]) -> Result<()> {
        for (&i, v) in group.iter().zip(vectors) {
            if v.len() != self.dimension {
                return Err(Error::DimensionMismatch {
                    expected: self.dimension,
                    got: v.len(),
                });
            }
            out[i * self.dimension..(i + 1) * self.dimension].copy_from_slice(v);
        }
        Ok(())
    }
}
