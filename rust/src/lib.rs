//! VectorPack engine. This file is the C ABI and nothing else: each function checks its
//! arguments, calls into the modules below, and maps errors to status codes. The header
//! `include/vpack.h` is generated from it by cbindgen (see `tests/header.rs`).
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)] // the safety contract of each function is its doc comment

mod atomic;
mod boundary;
pub mod embed;
pub mod error;
pub mod format;
pub mod index;
pub mod pack;
mod parallel;
pub mod runtime;
pub mod set;

use boundary::{c_path, c_str, guard, guard_value, handle, handle_mut, out_ptr, slice, slice_mut};
use embed::Embedder;
use error::Error;
use format::writer::{BuilderOptions, ChunkIn, PackWriter};
use pack::Pack;
use set::AnyPack;
use std::ffi::c_char;
use std::sync::Arc;

/// Status returned by every fallible function: `VPACK_OK` (0) or a `VPACK_E_*` code.
/// Codes are stable forever; new ones are appended.
pub type vpack_status = i32;

/// Success.
pub const VPACK_OK: vpack_status = 0;
/// A required pointer argument was NULL.
pub const VPACK_E_NULL_ARG: vpack_status = 1;
/// An argument was out of range or otherwise invalid.
pub const VPACK_E_INVALID_ARG: vpack_status = 2;
/// A JSON argument did not parse or had the wrong shape.
pub const VPACK_E_INVALID_JSON: vpack_status = 3;
/// A text argument was not valid UTF-8.
pub const VPACK_E_INVALID_UTF8: vpack_status = 4;
/// A vector or buffer had the wrong dimension or length.
pub const VPACK_E_DIMENSION_MISMATCH: vpack_status = 5;
/// A file could not be opened, read, written or renamed.
pub const VPACK_E_IO: vpack_status = 6;
/// The bytes are not a valid pack (bad magic, checksum, bounds, structure).
pub const VPACK_E_CORRUPT: vpack_status = 7;
/// The pack's format version is not one this library reads (v0x01, or newer than 0x02).
pub const VPACK_E_UNSUPPORTED_VERSION: vpack_status = 8;
/// An embedding model is unknown, missing or failed.
pub const VPACK_E_MODEL: vpack_status = 9;
/// A size limit was exceeded (batch size, k, chunk size). Any length or count whose
/// buffer would exceed `PTRDIFF_MAX` bytes is refused with this code by every function,
/// before the pointer is read.
pub const VPACK_E_LIMIT: vpack_status = 10;
/// A panic inside vpack was caught at the boundary (a bug; please report it).
pub const VPACK_E_PANIC: vpack_status = 11;
/// The requested item (chunk id, recorded embedder) does not exist.
pub const VPACK_E_NOT_FOUND: vpack_status = 12;
/// ONNX Runtime could not be loaded or is incompatible.
pub const VPACK_E_RUNTIME: vpack_status = 13;

/// Version of this C ABI. Bumped only on an incompatible change.
pub const VPACK_ABI_VERSION: u32 = 1;
/// The .vpack format version this library writes and reads.
pub const VPACK_FORMAT_VERSION: u32 = 2;
/// Library version, major part (equals the crate version).
pub const VPACK_VERSION_MAJOR: u32 = 0;
/// Library version, minor part.
pub const VPACK_VERSION_MINOR: u32 = 1;
/// Library version, patch part.
pub const VPACK_VERSION_PATCH: u32 = 0;

/// Largest `k` a search accepts (`VPACK_E_LIMIT` above it).
pub const VPACK_MAX_K: usize = 1_048_576;
/// Most texts one `vpack_embedder_embed` or `vpack_embedder_token_counts` call takes
/// (`VPACK_E_LIMIT` above it, checked before anything is allocated); batch above it.
pub const VPACK_MAX_TEXTS: usize = 65_536;
/// Largest text passed to an embedder (`lens[i]`) and largest `chunks_json_len` for
/// `vpack_builder_add`, in bytes (4 GiB - 1; `VPACK_E_LIMIT` above it, checked before the
/// bytes are read).
pub const VPACK_MAX_INPUT_BYTES: usize = 4_294_967_295;
/// Largest vector dimension of a pack or embedder (`VPACK_E_INVALID_ARG` above it).
pub const VPACK_MAX_DIMENSION: usize = 65_536;

/// Query mode of `vpack_index_search_mode`: rank by the query vector.
pub const VPACK_MODE_DENSE: u32 = 0;
/// Query mode: rank by BM25 over the query text's terms (a pack with a lexical index).
pub const VPACK_MODE_LEXICAL: u32 = 1;
/// Query mode: both, fused (a pack with a lexical index).
pub const VPACK_MODE_HYBRID: u32 = 2;

/// Most shards in one pack set (`vpack_set_write`, `vpack_index_open`; `VPACK_E_LIMIT`
/// above it).
pub const VPACK_MAX_SHARDS: usize = 65_536;

/// Flag for `vpack_index_open`: verify every checksum and chunk record while opening
/// (O(file size)). Without it opening is O(1) and nothing is left unchecked: every other
/// byte is checked against its block checksum before its first use (see
/// `vpack_index_open`).
pub const VPACK_OPEN_VERIFY: u32 = 1;

/// An embedder: turns texts into vectors. Created by `vpack_embedder_new` or
/// `vpack_index_embedder`, released by `vpack_embedder_free`.
/// Thread-safe: one handle may be used from several threads at once.
pub struct vpack_embedder {
    inner: Arc<dyn Embedder>,
}

/// Collects chunks and vectors for a new pack. Created by `vpack_builder_new`,
/// consumed by `vpack_builder_finish` or released by `vpack_builder_free`.
/// Not thread-safe: use one builder from one thread at a time.
pub struct vpack_builder {
    inner: PackWriter,
}

/// A loaded pack (an index with its chunks and manifest), or a pack set opened as one
/// pack (see `vpack_index_open`). Created by `vpack_index_open`,
/// `vpack_index_from_bytes` or `vpack_builder_finish`, released by `vpack_index_free`.
/// Thread-safe: one handle may be searched and read from several threads at once (its
/// only mutable state, which blocks have been checked, is atomic). Freeing it while
/// another thread still uses it is undefined behaviour: join those threads first.
pub struct vpack_index {
    inner: AnyPack,
}

/// Bytes owned by the library. Release with `vpack_bytes_free`, never with `free()`.
#[repr(C)]
pub struct vpack_bytes {
    pub data: *mut u8,
    pub len: usize,
}

/// Bytes borrowed from a handle: valid until that handle is freed. Not NUL-terminated.
#[repr(C)]
pub struct vpack_str {
    pub data: *const u8,
    pub len: usize,
}

impl vpack_bytes {
    fn from_vec(v: Vec<u8>) -> Self {
        let boxed: Box<[u8]> = v.into_boxed_slice();
        let len = boxed.len();
        vpack_bytes {
            data: Box::into_raw(boxed).cast::<u8>(),
            len,
        }
    }
}

/// # Safety
/// Each `ptrs[i]` points to `lens[i]` readable bytes (or is anything when `lens[i] == 0`).
unsafe fn texts_from_raw<'a>(ptrs: &[*const u8], lens: &[usize]) -> error::Result<Vec<&'a str>> {
    if let Some(i) = lens.iter().position(|&l| l > VPACK_MAX_INPUT_BYTES) {
        return Err(Error::Limit(format!(
            "texts[{i}] is {} bytes (at most {VPACK_MAX_INPUT_BYTES})",
            lens[i]
        )));
    }
    let mut strs = Vec::with_capacity(ptrs.len());
    for (i, (p, len)) in ptrs.iter().zip(lens).enumerate() {
        // SAFETY: per this function's contract.
        let bytes = unsafe { slice(*p, *len, "texts[i]") }?;
        strs.push(
            std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8(format!("texts[{i}]")))?,
        );
    }
    Ok(strs)
}

/// Refuses more than `VPACK_MAX_TEXTS` texts before anything is sized from `n`.
fn check_text_count(n: usize) -> error::Result<()> {
    if n > VPACK_MAX_TEXTS {
        return Err(Error::Limit(format!(
            "{n} texts in one call (at most {VPACK_MAX_TEXTS})"
        )));
    }
    Ok(())
}

/// # Safety
/// `manifest_json` is NULL or a NUL-terminated string.
unsafe fn manifest_arg(
    manifest_json: *const c_char,
) -> error::Result<serde_json::Map<String, serde_json::Value>> {
    if manifest_json.is_null() {
        return Ok(serde_json::Map::new());
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let text = unsafe { c_str(manifest_json, "manifest_json") }?;
    parse_json(text.as_bytes(), "manifest_json")
}

/// The filter argument of the search functions: NULL for none.
///
/// # Safety
/// `filter_json` is NULL or a NUL-terminated string.
unsafe fn filter_arg(filter_json: *const c_char) -> error::Result<Option<index::filter::Filter>> {
    if filter_json.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let text = unsafe { c_str(filter_json, "filter_json") }?;
    let value: serde_json::Value = parse_json(text.as_bytes(), "filter_json")?;
    index::filter::Filter::parse(&value).map(Some)
}

/// Boxes `value` and writes the new handle to `*out`.
///
/// # Safety
/// `out` is non-NULL and writable.
unsafe fn hand_out<T>(out: *mut *mut T, value: T) {
    // SAFETY: per this function's contract.
    unsafe { *out = Box::into_raw(Box::new(value)) };
}

/// Writes a search's hits to the caller's arrays (at least `hits.len()` entries, which the
/// search bounds by `k`) and their number to `*n_out`.
///
/// # Safety
/// `n_out` is non-NULL and writable.
unsafe fn write_hits(
    hits: &[index::Scored],
    ids: &mut [u64],
    scores: &mut [f32],
    n_out: *mut usize,
) {
    for (i, hit) in hits.iter().enumerate() {
        ids[i] = hit.id;
        scores[i] = hit.score;
    }
    // SAFETY: per this function's contract.
    unsafe { *n_out = hits.len() };
}

fn borrowed(bytes: &[u8]) -> vpack_str {
    vpack_str {
        data: bytes.as_ptr(),
        len: bytes.len(),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &[u8], what: &'static str) -> error::Result<T> {
    let text = std::str::from_utf8(text).map_err(|_| Error::InvalidUtf8(what.to_string()))?;
    serde_json::from_str(text).map_err(|e| Error::json(what, e))
}

/// Library version as a static NUL-terminated string, e.g. "0.1.0". Never free it.
#[no_mangle]
pub extern "C" fn vpack_version() -> *const c_char {
    static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

/// The ABI version this library implements; compare with `VPACK_ABI_VERSION`.
#[no_mangle]
pub extern "C" fn vpack_abi_version() -> u32 {
    VPACK_ABI_VERSION
}

/// A static description of a status code. Never NULL; never free it.
#[no_mangle]
pub extern "C" fn vpack_status_str(status: vpack_status) -> *const c_char {
    error::describe(status).as_ptr()
}

/// The calling thread's last error as "CODE|message" (empty after a successful call).
/// Copies at most `cap - 1` bytes plus a NUL into `buf` (when `buf` is not NULL and
/// `cap > 0`) and returns the size needed including the NUL, so a caller can ask with
/// `cap = 0` first.
#[no_mangle]
pub unsafe extern "C" fn vpack_last_error_message(buf: *mut c_char, cap: usize) -> usize {
    guard_value(0, || {
        let text = error::last_error_text();
        let bytes = text.as_bytes();
        if !buf.is_null() && cap > 0 {
            let n = bytes.len().min(cap - 1);
            // SAFETY: the caller provides `cap` writable bytes at `buf`; n + 1 <= cap.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
        }
        bytes.len() + 1
    })
}

/// The calling thread's last error code (`VPACK_OK` after a successful call).
#[no_mangle]
pub extern "C" fn vpack_last_error_code() -> vpack_status {
    guard_value(VPACK_E_PANIC, error::last_error_code)
}

/// Releases bytes handed out by the library and sets `data` to NULL and `len` to 0.
/// NULL, or bytes already freed, are a no-op.
#[no_mangle]
pub unsafe extern "C" fn vpack_bytes_free(bytes: *mut vpack_bytes) {
    guard_value((), || {
        // SAFETY: `bytes` is NULL or points to a vpack_bytes the caller owns.
        let Some(b) = (unsafe { bytes.as_mut() }) else {
            return;
        };
        if !b.data.is_null() {
            // SAFETY: data/len came from `vpack_bytes::from_vec` (a boxed slice) and
            // have not been freed, since freeing nulls `data`.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(b.data, b.len)) });
        }
        b.data = std::ptr::null_mut();
        b.len = 0;
    })
}

/// Loads ONNX Runtime from `path` (e.g. the `libonnxruntime.so.1.x.y` that the
/// `onnxruntime` Python wheel ships in `onnxruntime/capi/`). Call it before creating an
/// `onnx` embedder; without it the library uses the `ORT_DYLIB_PATH` environment variable,
/// and fails with `VPACK_E_RUNTIME` (never a crash or hang) when neither names a loadable
/// ONNX Runtime of version 1.24 or newer. A process holds one ONNX Runtime: calling it again
/// with the same path is a no-op, with another path an error.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG` (path), `VPACK_E_INVALID_ARG` (empty path),
/// `VPACK_E_RUNTIME`.
#[no_mangle]
pub unsafe extern "C" fn vpack_runtime_init(path: *const c_char) -> vpack_status {
    guard(|| {
        // SAFETY: per this function's contract.
        let path = unsafe { c_path(path, "path") }?;
        runtime::init(&path).map(|_| ())
    })
}

/// Writes the embedder kinds this library can create, as a JSON array of strings
/// (e.g. `["hash","onnx"]`), to `*out`. Free it with `vpack_bytes_free`.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG` (out).
#[no_mangle]
pub unsafe extern "C" fn vpack_embedder_kinds(out: *mut vpack_bytes) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let json = serde_json::to_vec(&embed::KINDS).map_err(|e| Error::json("kinds", e))?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { *out = vpack_bytes::from_vec(json) };
        Ok(())
    })
}

/// Creates an embedder from a JSON config, e.g. `{"kind":"hash","dimension":256}` or
/// `{"kind":"onnx","model_id":"...","model_file":"/m/model.onnx","tokenizer_dir":"/m",
/// "pooling":"mean","max_tokens":256}` (see README for every option).
/// Embedders are cached per process by config, so creating the same one twice is cheap.
/// On success writes a new handle to `*out`; free it with `vpack_embedder_free`.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_INVALID_UTF8`,
/// `VPACK_E_INVALID_JSON` (malformed, not an object, no string `kind`, a field of the
/// wrong JSON type, an unknown key), `VPACK_E_INVALID_ARG` (a value out of range, e.g.
/// dimension 0 or above `VPACK_MAX_DIMENSION`), `VPACK_E_MODEL` (unknown kind, missing or
/// mismatching model files), `VPACK_E_RUNTIME` (onnx without ONNX Runtime).
#[no_mangle]
pub unsafe extern "C" fn vpack_embedder_new(
    config_json: *const c_char,
    out: *mut *mut vpack_embedder,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let text = unsafe { c_str(config_json, "config_json") }?;
        let config: serde_json::Value = parse_json(text.as_bytes(), "embedder config")?;
        let inner = embed::create(&config)?;
        // SAFETY: `out` was checked non-NULL and is writable per the contract.
        unsafe { hand_out(out, vpack_embedder { inner }) };
        Ok(())
    })
}

/// Releases an embedder. NULL is a no-op; freeing twice is undefined behaviour.
#[no_mangle]
pub unsafe extern "C" fn vpack_embedder_free(embedder: *mut vpack_embedder) {
    guard_value((), || {
        if !embedder.is_null() {
            // SAFETY: a non-NULL handle came from Box::into_raw and is freed once.
            drop(unsafe { Box::from_raw(embedder) });
        }
    })
}

/// Writes the embedder's output dimension to `*out`.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn vpack_embedder_dimension(
    embedder: *const vpack_embedder,
    out: *mut usize,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let e = unsafe { handle(embedder, "embedder") }?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { *out = e.inner.dimension() };
        Ok(())
    })
}

/// Writes the embedder's canonical description (a JSON object, the one recorded in a
/// pack's manifest as "embedder") to `*out`. Free it with `vpack_bytes_free`.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn vpack_embedder_describe(
    embedder: *const vpack_embedder,
    out: *mut vpack_bytes,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let e = unsafe { handle(embedder, "embedder") }?;
        let json = e.inner.describe().to_string().into_bytes();
        // SAFETY: `out` is non-NULL and writable.
        unsafe { *out = vpack_bytes::from_vec(json) };
        Ok(())
    })
}

/// Embeds `n` UTF-8 texts (`texts[i]` of `lens[i]` bytes, no NUL needed) into `out`,
/// which the caller allocates with `out_len == n * dimension` floats, row-major.
/// `out` is written only on success.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG` (embedder; texts, lens or out when their
/// count is non-zero; a texts[i] with lens[i] > 0), `VPACK_E_LIMIT` (n >
/// `VPACK_MAX_TEXTS`, checked before anything is allocated), `VPACK_E_INVALID_UTF8`,
/// `VPACK_E_DIMENSION_MISMATCH` (out_len != n * dimension), `VPACK_E_MODEL`.
#[no_mangle]
pub unsafe extern "C" fn vpack_embedder_embed(
    embedder: *const vpack_embedder,
    texts: *const *const u8,
    lens: *const usize,
    n: usize,
    out: *mut f32,
    out_len: usize,
) -> vpack_status {
    guard(|| {
        // SAFETY (all four): per this function's contract.
        let e = unsafe { handle(embedder, "embedder") }?;
        check_text_count(n)?;
        let ptrs = unsafe { slice(texts, n, "texts") }?;
        let lens = unsafe { slice(lens, n, "lens") }?;
        let out = unsafe { slice_mut(out, out_len, "out") }?;
        // SAFETY: texts[i] points to lens[i] readable bytes per the contract.
        let strs = unsafe { texts_from_raw(ptrs, lens) }?;
        let want = n
            .checked_mul(e.inner.dimension())
            .ok_or_else(|| Error::Limit("n * dimension overflows".into()))?;
        if out.len() != want {
            return Err(Error::DimensionMismatch {
                expected: want,
                got: out.len(),
            });
        }
        // Embed into scratch so `out` is untouched on failure.
        let mut scratch = vec![0.0f32; want];
        embed::embed(e.inner.as_ref(), &strs, &mut scratch)?;
        out.copy_from_slice(&scratch);
        Ok(())
    })
}

/// Counts the tokens of `n` UTF-8 texts (as in `vpack_embedder_embed`) before any
/// truncation, in the embedder's own units (model word pieces including special tokens;
/// words for `hash`), into the caller's array `counts` of `n` entries.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_LIMIT` (n > `VPACK_MAX_TEXTS`,
/// checked before anything is allocated), `VPACK_E_INVALID_UTF8`, `VPACK_E_MODEL`.
#[no_mangle]
pub unsafe extern "C" fn vpack_embedder_token_counts(
    embedder: *const vpack_embedder,
    texts: *const *const u8,
    lens: *const usize,
    n: usize,
    counts: *mut usize,
) -> vpack_status {
    guard(|| {
        // SAFETY (all four): per this function's contract.
        let e = unsafe { handle(embedder, "embedder") }?;
        check_text_count(n)?;
        let ptrs = unsafe { slice(texts, n, "texts") }?;
        let lens = unsafe { slice(lens, n, "lens") }?;
        let counts = unsafe { slice_mut(counts, n, "counts") }?;
        // SAFETY: texts[i] points to lens[i] readable bytes per the contract.
        let strs = unsafe { texts_from_raw(ptrs, lens) }?;
        let got = embed::token_counts(e.inner.as_ref(), &strs)?;
        counts.copy_from_slice(&got);
        Ok(())
    })
}

/// Starts a new pack. `options_json`:
/// `{"dimension": N, "metric": "cosine"|"dot"|"l2", "temp_dir": "/path", "index": {...}}`;
/// metric defaults to cosine (stored vectors are L2-normalised when added). `index` picks
/// the search structure: `{"kind": "flat"}` (exact scan; the default), `{"kind": "hnsw",
/// "m": 16, "ef_construction": 200, "ef_search": 64, "threads": N}` (an HNSW graph built
/// at finish on `threads` threads, default all cores; the bytes do not depend on
/// `threads`; m in 2..=256, ef_* in 1..=65536), or `{"kind": "auto"}` (hnsw from 50,000
/// chunks on, else flat). `index` may also hold `"codes": "f32"|"f16"|"int8"` and
/// `"rescore": 4` (1..=1024): a compressed copy of the vectors (half or a quarter of the
/// bytes; int8 with per-dimension ranges) that a flat scan reads instead of the f32 rows,
/// scoring its best `rescore * k` candidates exactly against the f32 rows (the f32 rows
/// stay in the pack). With `"codes_only": true` (flat index, f16 or int8 codes, no
/// rescore) the f32 rows are left out: a smaller pack whose scores come from the codes
/// and whose `vpack_index_vectors` is `VPACK_E_NOT_FOUND`. The manifest's `index`
/// records the kind and parameters. Added chunks are spooled to
/// unlinked temporary files in `temp_dir` (default: the system temporary directory), so a
/// builder's memory does not grow with the pack.
/// On success writes a new handle to `*out`.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_INVALID_UTF8`,
/// `VPACK_E_INVALID_JSON` (malformed, wrong shape or unknown key), `VPACK_E_INVALID_ARG`
/// (dimension 0 or above `VPACK_MAX_DIMENSION`, unknown metric, index options out of
/// range or that do not fit together), `VPACK_E_IO` (temp_dir unusable).
#[no_mangle]
pub unsafe extern "C" fn vpack_builder_new(
    options_json: *const c_char,
    out: *mut *mut vpack_builder,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let text = unsafe { c_str(options_json, "options_json") }?;
        let value: serde_json::Value = parse_json(text.as_bytes(), "builder options")?;
        // serde would read a JSON array as a struct's fields in order: refuse the shape.
        let index = value.get("index");
        if !value.is_object() || index.is_some_and(|i| !i.is_object()) {
            return Err(Error::JsonShape(
                "builder options and their \"index\" must be JSON objects".into(),
            ));
        }
        // From the text, not the Value: serde_json's Value keeps the last of duplicate
        // keys, while deriving from text refuses them.
        let options: BuilderOptions = parse_json(text.as_bytes(), "builder options")?;
        let inner = PackWriter::new(options)?;
        // SAFETY: `out` was checked non-NULL and is writable per the contract.
        unsafe { hand_out(out, vpack_builder { inner }) };
        Ok(())
    })
}

/// Appends `n` chunks. `chunks_json` (`chunks_json_len` bytes of UTF-8) is a JSON array of
/// `n` objects `{"text": "...", "metadata": {...}}`; `vectors` holds `n * dim` floats,
/// row-major, and `dim` must equal the builder's dimension. On error nothing is appended.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_DIMENSION_MISMATCH` (dim),
/// `VPACK_E_LIMIT` (n * dim overflows; a text or metadata of 4 GiB or more),
/// `VPACK_E_INVALID_UTF8`, `VPACK_E_INVALID_JSON`, `VPACK_E_INVALID_ARG` (n differs from
/// the chunk count; a NaN or infinite value; an all-zero vector in a cosine builder),
/// `VPACK_E_IO`. After an I/O failure the builder refuses further use
/// (`VPACK_E_INVALID_ARG`).
#[no_mangle]
pub unsafe extern "C" fn vpack_builder_add(
    builder: *mut vpack_builder,
    chunks_json: *const u8,
    chunks_json_len: usize,
    vectors: *const f32,
    n: usize,
    dim: usize,
) -> vpack_status {
    guard(|| {
        // SAFETY (all three): per this function's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        if chunks_json_len > VPACK_MAX_INPUT_BYTES {
            return Err(Error::Limit(format!(
                "chunks_json_len {chunks_json_len} (at most {VPACK_MAX_INPUT_BYTES})"
            )));
        }
        let json = unsafe { slice(chunks_json, chunks_json_len, "chunks_json") }?;
        if dim != b.inner.dimension() {
            return Err(Error::DimensionMismatch {
                expected: b.inner.dimension(),
                got: dim,
            });
        }
        let len = n
            .checked_mul(dim)
            .ok_or_else(|| Error::Limit("n * dim overflows".into()))?;
        let vectors = unsafe { slice(vectors, len, "vectors") }?;
        let chunks: Vec<ChunkIn> = parse_json(json, "chunks_json")?;
        if chunks.len() != n {
            return Err(Error::InvalidArg(format!(
                "chunks_json has {} chunks but n is {n}",
                chunks.len()
            )));
        }
        b.inner.add(chunks, vectors)
    })
}

/// Finishes the pack and writes a new index handle to `*out`. `manifest_json` (NULL for
/// none) is a JSON object stored in the pack; vpack adds the keys it owns
/// (`format_version`, `dimension`, `metric`, `chunk_count`, `index`), which the caller may
/// not set except `dimension` and `metric` to the same value (else `VPACK_E_INVALID_ARG`).
/// An `embedder` entry, if given, must be an object whose integer `dimension` equals the
/// pack's (`VPACK_E_INVALID_ARG` if not an object or no integer dimension,
/// `VPACK_E_DIMENSION_MISMATCH` if different). Always consumes `builder` (also on error):
/// do not use or free it afterwards.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_INVALID_UTF8`,
/// `VPACK_E_INVALID_JSON`, `VPACK_E_INVALID_ARG`, `VPACK_E_DIMENSION_MISMATCH`,
/// `VPACK_E_IO`.
#[no_mangle]
pub unsafe extern "C" fn vpack_builder_finish(
    builder: *mut vpack_builder,
    manifest_json: *const c_char,
    out: *mut *mut vpack_index,
) -> vpack_status {
    guard(|| {
        if builder.is_null() {
            return Err(Error::NullArg("builder"));
        }
        // SAFETY: non-NULL handle from vpack_builder_new, consumed exactly once here.
        let b = unsafe { Box::from_raw(builder) };
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let manifest = unsafe { manifest_arg(manifest_json) }?;
        let inner = AnyPack::One(Pack::from_writer(b.inner, manifest)?);
        // SAFETY: `out` was checked non-NULL and is writable per the contract.
        unsafe { hand_out(out, vpack_index { inner }) };
        Ok(())
    })
}

/// Like `vpack_builder_finish`, but writes the pack straight to `path` (atomically:
/// temporary file in the same directory, fsync, rename), streaming from the builder's
/// temporary files so memory does not grow with the pack, then opens it (mmap) into
/// `*out`. On error `path` is untouched. Always consumes `builder`.
/// Returns `VPACK_OK` or as `vpack_builder_finish`, plus `VPACK_E_IO` for the file (a
/// missing folder is named as such).
#[no_mangle]
pub unsafe extern "C" fn vpack_builder_finish_file(
    builder: *mut vpack_builder,
    manifest_json: *const c_char,
    path: *const c_char,
    out: *mut *mut vpack_index,
) -> vpack_status {
    guard(|| {
        if builder.is_null() {
            return Err(Error::NullArg("builder"));
        }
        // SAFETY: non-NULL handle from vpack_builder_new, consumed exactly once here.
        let b = unsafe { Box::from_raw(builder) };
        let out = out_ptr(out, "out")?;
        // SAFETY (both): per this function's contract.
        let path = unsafe { c_path(path, "path") }?;
        let manifest = unsafe { manifest_arg(manifest_json) }?;
        let inner = AnyPack::One(Pack::from_writer_to_file(b.inner, manifest, &path)?);
        // SAFETY: `out` was checked non-NULL and is writable per the contract.
        unsafe { hand_out(out, vpack_index { inner }) };
        Ok(())
    })
}

/// Releases an unfinished builder. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn vpack_builder_free(builder: *mut vpack_builder) {
    guard_value((), || {
        if !builder.is_null() {
            // SAFETY: a non-NULL handle came from Box::into_raw and is freed once.
            drop(unsafe { Box::from_raw(builder) });
        }
    })
}

/// Opens the pack file at `path` (NUL-terminated; any bytes on Unix) by mapping it
/// read-only. `flags` is 0 or `VPACK_OPEN_VERIFY`.
///
/// `path` may also name a pack set file (written by `vpack_set_write`; told apart from a
/// pack by its first bytes): every shard it lists is opened as below and the handle
/// answers as one pack. Chunk ids are global, in shard order (shard `i`'s chunk `j` is
/// the number of chunks in shards `0..i` plus `j`); `vpack_index_len` is the total;
/// searches run over every shard (on a pool of worker threads when the set is large
/// enough) and merge the best `k` by score, ties to the lower global id, so a set of flat
/// packs answers with exactly the ids and scores of one flat pack holding the same
/// chunks in shard order (a set of HNSW shards merges each shard's approximate answer).
/// The manifest is the first shard's with `chunk_count` (and `documents`) summed, `index`
/// `{"kind":"mixed"}` when the shards' differ, and a `set` entry listing the shards.
/// What differs from a single pack: `vpack_index_vectors` on a set of more than one shard
/// is `VPACK_E_NOT_FOUND` (the rows are not contiguous), and `vpack_index_to_bytes` and
/// `vpack_index_save` on any set are `VPACK_E_INVALID_ARG` (a set is several files).
/// Opening a set checks each shard in O(1) as for one pack, plus its fingerprint and
/// chunk count against the set file (a shard rebuilt or replaced since is
/// `VPACK_E_CORRUPT`); every error names the shard ("shard 2 (part-2.vpack) of pack set
/// ...: ..."): a missing shard is `VPACK_E_IO`, a damaged one `VPACK_E_CORRUPT`, shards
/// that disagree on format version, dimension, metric or embedder `VPACK_E_INVALID_ARG`.
/// Damage met later in a shard is reported with its name too.
///
/// Verification policy: no call ever answers from bytes that were not checked. Opening
/// checks the header, the section table, the manifest and the block-checksum section
/// against their CRC-32s, in time independent of the pack's size. Every other byte (chunk
/// table, chunk data, vectors) is covered by the CRC-32 of its 64 KiB block and checked
/// before its first use, once per handle: a search checks the vector blocks (the first
/// search of a flat pack reads them all), `vpack_index_chunk` the blocks of that chunk.
/// Stored vectors must also be finite. Damage gives `VPACK_E_CORRUPT` from the call that
/// meets it, never a different answer. `VPACK_OPEN_VERIFY` (or `vpack_index_verify`)
/// checks everything up front.
///
/// The file must not be changed in place while open: replace a pack by writing a new
/// file and renaming it over the old one (as vpack's writers do). Truncating or
/// overwriting a mapped file makes later reads fault (SIGBUS), as with any mmap reader.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_INVALID_ARG` (empty path, unknown
/// flags; a set whose shards disagree), `VPACK_E_IO` (missing, unreadable, a directory, a
/// FIFO or any other non-regular file: refused at once, never blocks; a missing shard),
/// `VPACK_E_CORRUPT` (also a malformed set file), `VPACK_E_UNSUPPORTED_VERSION` (another
/// format version, a section kind from a newer writer, a newer set file version),
/// `VPACK_E_LIMIT` (a set file above 64 MiB or of more than `VPACK_MAX_SHARDS` shards).
#[no_mangle]
pub unsafe extern "C" fn vpack_index_open(
    path: *const c_char,
    flags: u32,
    out: *mut *mut vpack_index,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let path = unsafe { c_path(path, "path") }?;
        if flags & !VPACK_OPEN_VERIFY != 0 {
            return Err(Error::InvalidArg(format!("unknown open flags {flags:#x}")));
        }
        let inner = AnyPack::open(&path, flags & VPACK_OPEN_VERIFY != 0)?;
        // SAFETY: `out` was checked non-NULL and is writable per the contract.
        unsafe { hand_out(out, vpack_index { inner }) };
        Ok(())
    })
}

/// Loads a pack from `len` bytes at `data` (copied; the caller keeps ownership) and
/// verifies it fully. Writes a new index handle to `*out`.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG` (data when len > 0), `VPACK_E_CORRUPT` (also
/// when `len` differs from the file length in the pack's header, checked before anything
/// is copied), `VPACK_E_UNSUPPORTED_VERSION`, `VPACK_E_LIMIT` (no memory for the copy).
#[no_mangle]
pub unsafe extern "C" fn vpack_index_from_bytes(
    data: *const u8,
    len: usize,
    out: *mut *mut vpack_index,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let bytes = unsafe { slice(data, len, "data") }?;
        let inner = AnyPack::One(Pack::from_bytes(bytes)?);
        // SAFETY: `out` was checked non-NULL and is writable per the contract.
        unsafe { hand_out(out, vpack_index { inner }) };
        Ok(())
    })
}

/// Serializes the pack: writes its complete .vpack bytes to `*out`. Free them with
/// `vpack_bytes_free`.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_CORRUPT` (every checksum is checked
/// first: a copy never carries damage on), `VPACK_E_INVALID_ARG` (a pack set: several
/// files, not one pack).
#[no_mangle]
pub unsafe extern "C" fn vpack_index_to_bytes(
    index: *const vpack_index,
    out: *mut vpack_bytes,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        let bytes = idx.inner.to_bytes_checked()?.to_vec();
        // SAFETY: `out` is non-NULL and writable.
        unsafe { *out = vpack_bytes::from_vec(bytes) };
        Ok(())
    })
}

/// Writes the pack to `path` atomically (temporary file in the same directory, fsync,
/// rename). On error the file at `path`, if any, is unchanged.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_INVALID_ARG` (empty path; a pack
/// set), `VPACK_E_CORRUPT` (checked first, as for `vpack_index_to_bytes`), `VPACK_E_IO`.
#[no_mangle]
pub unsafe extern "C" fn vpack_index_save(
    index: *const vpack_index,
    path: *const c_char,
) -> vpack_status {
    guard(|| {
        // SAFETY (both): per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        let path = unsafe { c_path(path, "path") }?;
        idx.inner.save(&path)
    })
}

/// Releases an index. NULL is a no-op; freeing twice is undefined behaviour. Borrowed
/// `vpack_str` values taken from it become invalid.
#[no_mangle]
pub unsafe extern "C" fn vpack_index_free(index: *mut vpack_index) {
    guard_value((), || {
        if !index.is_null() {
            // SAFETY: a non-NULL handle came from Box::into_raw and is freed once.
            drop(unsafe { Box::from_raw(index) });
        }
    })
}

/// Writes a pack set file at `path` (NUL-terminated) naming the `n` pack files
/// `shards[0..n]` (NUL-terminated paths), in this order, so that `vpack_index_open(path)`
/// opens them as one pack with global chunk ids in this order. Each shard is opened (O(1)
/// checks, as `vpack_index_open` without flags) and must lie inside the set file's folder
/// or below it: the set file records each shard's path relative to its own folder, so the
/// folder can be copied or moved whole. The shards must agree with the first on format
/// version, dimension, metric and embedder (else `VPACK_E_INVALID_ARG`, naming the shard
/// and what differs). The file is JSON (format `"vpack-set"`, version 1) listing each
/// shard's relative path, chunk count and fingerprint (the sha256 of its header and
/// section table), written atomically (temporary file, fsync, rename).
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG` (path; shards when n > 0; a shards[i]),
/// `VPACK_E_INVALID_ARG` (n == 0; an empty path; a shard outside the folder, listed
/// twice, or disagreeing with the first), `VPACK_E_LIMIT` (n above `VPACK_MAX_SHARDS`),
/// `VPACK_E_IO` (a missing shard; the set file's folder missing or not writable),
/// `VPACK_E_CORRUPT`, `VPACK_E_UNSUPPORTED_VERSION` (a shard as for `vpack_index_open`),
/// `VPACK_E_INVALID_UTF8` (a shard path, relative to the folder, that is not UTF-8).
#[no_mangle]
pub unsafe extern "C" fn vpack_set_write(
    path: *const c_char,
    shards: *const *const c_char,
    n: usize,
) -> vpack_status {
    guard(|| {
        // SAFETY (both): per this function's contract.
        let path = unsafe { c_path(path, "path") }?;
        if n > set::MAX_SHARDS {
            return Err(Error::Limit(format!(
                "{n} shards (at most {})",
                set::MAX_SHARDS
            )));
        }
        let ptrs = unsafe { slice(shards, n, "shards") }?;
        let paths = ptrs
            .iter()
            // SAFETY: each shards[i] is NULL or NUL-terminated per the contract.
            .map(|&p| unsafe { c_path(p, "shards[i]") })
            .collect::<error::Result<Vec<_>>>()?;
        set::write_set(&path, &paths)
    })
}

/// Verifies every checksum and chunk record of the pack (O(file size)); of every shard
/// of a pack set.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_CORRUPT`.
#[no_mangle]
pub unsafe extern "C" fn vpack_index_verify(index: *const vpack_index) -> vpack_status {
    guard(|| {
        // SAFETY: per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        idx.inner.verify()
    })
}

/// Writes the number of chunks to `*out` (of a pack set: of all its shards).
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn vpack_index_len(
    index: *const vpack_index,
    out: *mut usize,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { *out = idx.inner.len() };
        Ok(())
    })
}

/// Writes the vector dimension to `*out`.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn vpack_index_dimension(
    index: *const vpack_index,
    out: *mut usize,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { *out = idx.inner.dimension() };
        Ok(())
    })
}

/// Borrows the manifest (canonical JSON object) into `*out`; valid while `index` lives.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn vpack_index_manifest(
    index: *const vpack_index,
    out: *mut vpack_str,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { *out = borrowed(idx.inner.manifest_json()) };
        Ok(())
    })
}

/// Borrows chunk `id`'s UTF-8 text and metadata (a JSON object) into `*text` and
/// `*metadata`; both stay valid while `index` lives. Ids run from 0 to len - 1 (global
/// ids for a pack set).
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_NOT_FOUND` (id >= len),
/// `VPACK_E_CORRUPT` (the chunk's bytes fail their checksum, or its text is not UTF-8 or
/// its metadata not a JSON object).
#[no_mangle]
pub unsafe extern "C" fn vpack_index_chunk(
    index: *const vpack_index,
    id: u64,
    text: *mut vpack_str,
    metadata: *mut vpack_str,
) -> vpack_status {
    guard(|| {
        let text = out_ptr(text, "text")?;
        let metadata = out_ptr(metadata, "metadata")?;
        // SAFETY: per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        let id = usize::try_from(id).map_err(|_| Error::NotFound(format!("chunk id {id}")))?;
        let chunk = idx.inner.chunk(id)?;
        // SAFETY: both out-pointers are non-NULL and writable.
        unsafe {
            *text = borrowed(chunk.text.as_bytes());
            *metadata = borrowed(chunk.metadata);
        }
        Ok(())
    })
}

/// Borrows the text and metadata of `n` chunks at once (what `vpack_index_chunk` does
/// for one, in one call: e.g. every hit of a search): `texts[i]` and `metadata[i]` get
/// chunk `ids[i]`'s. Valid while `index` lives.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG` (index; the arrays when n > 0),
/// `VPACK_E_LIMIT` (n too large to address), `VPACK_E_NOT_FOUND` (an id >= len),
/// `VPACK_E_CORRUPT` (as `vpack_index_chunk`). On an error the arrays' contents are
/// unspecified.
#[no_mangle]
pub unsafe extern "C" fn vpack_index_chunks(
    index: *const vpack_index,
    ids: *const u64,
    n: usize,
    texts: *mut vpack_str,
    metadata: *mut vpack_str,
) -> vpack_status {
    guard(|| {
        // SAFETY: per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        // SAFETY: `n` readable ids and `n` writable entries in each array, per the contract.
        let ids = unsafe { slice(ids, n, "ids") }?;
        let texts = unsafe { slice_mut(texts, n, "texts") }?;
        let metadata = unsafe { slice_mut(metadata, n, "metadata") }?;
        for ((&id, text), meta) in ids.iter().zip(texts.iter_mut()).zip(metadata.iter_mut()) {
            let at = usize::try_from(id).map_err(|_| Error::NotFound(format!("chunk id {id}")))?;
            let chunk = idx.inner.chunk(at)?;
            *text = borrowed(chunk.text.as_bytes());
            *meta = borrowed(chunk.metadata);
        }
        Ok(())
    })
}

/// Searches for the `k` chunks nearest to `query` (`dim` floats; `dim` must equal the
/// pack's dimension). `ids` and `scores` are caller arrays of at least `k` entries; they
/// receive the hits best first (higher score is better), and `*n_out` their number,
/// `min(k, len)`. For the cosine metric the query is normalised here.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG` (index, n_out; query when dim > 0; ids and
/// scores when k > 0), `VPACK_E_DIMENSION_MISMATCH`, `VPACK_E_LIMIT` (k > `VPACK_MAX_K`),
/// `VPACK_E_INVALID_ARG` (a NaN or infinite query value; an all-zero query on a cosine
/// pack), `VPACK_E_CORRUPT` (the first search checks every vector block it has not
/// checked yet).
#[no_mangle]
pub unsafe extern "C" fn vpack_index_search(
    index: *const vpack_index,
    query: *const f32,
    dim: usize,
    k: usize,
    ids: *mut u64,
    scores: *mut f32,
    n_out: *mut usize,
) -> vpack_status {
    // SAFETY: the same contract, with no filter.
    unsafe {
        vpack_index_search_filtered(index, query, dim, k, std::ptr::null(), ids, scores, n_out)
    }
}

/// Like `vpack_index_search`, keeping only chunks whose metadata matches `filter_json`
/// (NUL-terminated; NULL for no filter). The filter is a JSON object whose entries must
/// all match: a string value is a glob on a string field (`*` and `?` stay within one
/// slash-separated segment, `**` crosses segments; e.g. key "path" with the value made of
/// "guide", a slash and "*.md"), an array means any of, a number, boolean or null means
/// equality, and an
/// object holds operators `$eq $ne $in $nin $gt $gte $lt $lte $glob $exists`, as in
/// `{"n": {"$gte": 2, "$lt": 5}}`. Dotted keys reach nested fields; `$and` and `$or` take
/// arrays of filters. The filter runs inside the search, on candidates best first and
/// only until `k` pass. A filter that is not valid JSON or has the wrong shape (not an
/// object, an unknown operator, an operand of the wrong type) is `VPACK_E_INVALID_JSON`.
/// Returns `VPACK_OK` or as `vpack_index_search`, plus `VPACK_E_INVALID_UTF8`,
/// `VPACK_E_INVALID_JSON` (malformed, wrong shape, or nested deeper than 128),
/// `VPACK_E_INVALID_ARG` (an order comparison such as `$gt` between a number and a string).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn vpack_index_search_filtered(
    index: *const vpack_index,
    query: *const f32,
    dim: usize,
    k: usize,
    filter_json: *const c_char,
    ids: *mut u64,
    scores: *mut f32,
    n_out: *mut usize,
) -> vpack_status {
    // SAFETY: the same contract, with the pack's default search effort.
    unsafe { vpack_index_search_ef(index, query, dim, k, filter_json, 0, ids, scores, n_out) }
}

/// Like `vpack_index_search_filtered`, with the search effort `ef`: for a pack with an
/// HNSW index, the size of the candidate list on the graph's bottom level (larger is
/// slower and finds more of the true nearest chunks); 0 means the `ef_search` recorded
/// in the pack's manifest (`index.ef_search`). Flat packs are exact and ignore it.
/// With a filter on an HNSW pack the walk gathers `4 * max(ef, k)` candidates; when fewer
/// than `k` of them pass, the search falls back to an exact filtered scan, so `k` hits
/// come back whenever `k` chunks match.
/// Returns `VPACK_OK` or as `vpack_index_search_filtered`, plus `VPACK_E_INVALID_ARG`
/// (`ef` above 65536).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn vpack_index_search_ef(
    index: *const vpack_index,
    query: *const f32,
    dim: usize,
    k: usize,
    filter_json: *const c_char,
    ef: usize,
    ids: *mut u64,
    scores: *mut f32,
    n_out: *mut usize,
) -> vpack_status {
    guard(|| {
        let n_out = out_ptr(n_out, "n_out")?;
        // SAFETY (all four): per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        let query = unsafe { slice(query, dim, "query") }?;
        let ids = unsafe { slice_mut(ids, k, "ids") }?;
        let scores = unsafe { slice_mut(scores, k, "scores") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let filter = unsafe { filter_arg(filter_json) }?;
        let ef = (ef != 0).then_some(ef);
        let hits = idx.inner.search_with(query, k, filter.as_ref(), ef)?;
        // SAFETY: `n_out` is non-NULL and writable (checked by `out_ptr`).
        unsafe { write_hits(&hits, ids, scores, n_out) };
        Ok(())
    })
}

/// Searches in a query mode: `VPACK_MODE_DENSE` ranks by `query` (`dim` floats), as
/// `vpack_index_search_ef`; `VPACK_MODE_LEXICAL` by BM25 over the terms of `text`
/// (`text_len` bytes of UTF-8; only chunks sharing a term come back, so fewer than `k`
/// is normal); `VPACK_MODE_HYBRID` fuses both: each side's best `max(k, 100)` are scaled
/// to 0..1 by their best and worst score, and a chunk scores `(1 - w) * dense + w *
/// lexical` (0 for a side that did not return it; `w` is the manifest's
/// `index.lexical.hybrid_weight`). Lexical and hybrid need a pack built with a lexical
/// index (`"lexical": {}` in the builder's index options). `query` may be NULL with `dim`
/// 0 for a lexical search, `text` NULL with `text_len` 0 for a dense one. `filter_json`,
/// `ef`, `ids`, `scores` and `n_out` are as in `vpack_index_search_ef`; a filter applies
/// to both sides of a hybrid search.
/// Returns `VPACK_OK` or as `vpack_index_search_ef`, plus `VPACK_E_INVALID_ARG` (unknown
/// mode; no query vector or no text where the mode needs one), `VPACK_E_INVALID_UTF8`
/// (`text`), `VPACK_E_LIMIT` (`text_len` above `VPACK_MAX_INPUT_BYTES`),
/// `VPACK_E_NOT_FOUND` (lexical or hybrid on a pack without a lexical index, or on a
/// pack set with a shard without one: the message names it), `VPACK_E_INVALID_ARG` (a set
/// whose shards' lexical settings differ), `VPACK_E_UNSUPPORTED_VERSION` (a lexical index
/// made by a tokenizer this library does not have). On a pack set, BM25 uses the
/// statistics of all shards together, so every mode answers as one pack of the shards'
/// chunks would.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn vpack_index_search_mode(
    index: *const vpack_index,
    mode: u32,
    query: *const f32,
    dim: usize,
    text: *const u8,
    text_len: usize,
    k: usize,
    filter_json: *const c_char,
    ef: usize,
    ids: *mut u64,
    scores: *mut f32,
    n_out: *mut usize,
) -> vpack_status {
    guard(|| {
        let n_out = out_ptr(n_out, "n_out")?;
        // SAFETY (all): per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        let mode = match mode {
            VPACK_MODE_DENSE => pack::Mode::Dense,
            VPACK_MODE_LEXICAL => pack::Mode::Lexical,
            VPACK_MODE_HYBRID => pack::Mode::Hybrid,
            other => return Err(Error::InvalidArg(format!("unknown query mode {other}"))),
        };
        if text_len > VPACK_MAX_INPUT_BYTES {
            return Err(Error::Limit(format!(
                "text_len {text_len} (at most {VPACK_MAX_INPUT_BYTES})"
            )));
        }
        let query = unsafe { slice(query, dim, "query") }?;
        let text = unsafe { slice(text, text_len, "text") }?;
        let text = std::str::from_utf8(text).map_err(|_| Error::InvalidUtf8("text".into()))?;
        let ids = unsafe { slice_mut(ids, k, "ids") }?;
        let scores = unsafe { slice_mut(scores, k, "scores") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let filter = unsafe { filter_arg(filter_json) }?;
        let ef = (ef != 0).then_some(ef);
        let query = (dim > 0).then_some(query);
        let text = (text_len > 0).then_some(text);
        let hits = idx
            .inner
            .search_mode(mode, query, text, k, filter.as_ref(), ef)?;
        // SAFETY: `n_out` is non-NULL and writable (checked by `out_ptr`).
        unsafe { write_hits(&hits, ids, scores, n_out) };
        Ok(())
    })
}

/// Searches `n` queries at once on up to `threads` threads (0: all cores). `queries`
/// holds `n * dim` floats, row-major; `ids` and `scores` are caller arrays of `n * k`
/// entries and `counts` of `n`: query `i`'s hits, best first, go to `ids[i * k]` ...
/// and their number to `counts[i]` (`min(k, len)`, or fewer with a filter). `filter_json`
/// (or NULL) and `ef` (0: the pack's default) apply to every query, as in
/// `vpack_index_search_ef`; the results equal `n` calls of it. On error no output is
/// defined.
/// Returns `VPACK_OK` or as `vpack_index_search_ef`, plus `VPACK_E_LIMIT` (`n * k` or
/// `n * dim` overflows).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn vpack_index_search_batch(
    index: *const vpack_index,
    queries: *const f32,
    n: usize,
    dim: usize,
    k: usize,
    filter_json: *const c_char,
    ef: usize,
    threads: usize,
    ids: *mut u64,
    scores: *mut f32,
    counts: *mut usize,
) -> vpack_status {
    guard(|| {
        // SAFETY (all): per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        if dim != idx.inner.dimension() {
            return Err(Error::DimensionMismatch {
                expected: idx.inner.dimension(),
                got: dim,
            });
        }
        if k > VPACK_MAX_K {
            return Err(Error::Limit(format!("k = {k} (at most {VPACK_MAX_K})")));
        }
        let overflow = || Error::Limit("n * k or n * dim overflows".into());
        let q_len = n.checked_mul(dim).ok_or_else(overflow)?;
        let out_len = n.checked_mul(k).ok_or_else(overflow)?;
        let queries = unsafe { slice(queries, q_len, "queries") }?;
        let ids = unsafe { slice_mut(ids, out_len, "ids") }?;
        let scores = unsafe { slice_mut(scores, out_len, "scores") }?;
        let counts = unsafe { slice_mut(counts, n, "counts") }?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let filter = unsafe { filter_arg(filter_json) }?;
        let threads = if threads == 0 {
            parallel::cores()
        } else {
            threads
        };
        let ef = (ef != 0).then_some(ef);
        idx.inner.search_batch(
            queries,
            k,
            filter.as_ref(),
            ef,
            threads,
            ids,
            scores,
            counts,
        )
    })
}

/// Borrows the stored vectors, read in place: `*data` points to `*count * *dim` floats,
/// row-major (row `i` is chunk `i`; for cosine packs each row is L2-normalised), valid
/// while `index` lives. Every vector block is checked first (once per handle), so this
/// costs a pass over the vectors the first time.
/// A pack set of one shard gives its shard's rows.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_CORRUPT`, `VPACK_E_NOT_FOUND` (a
/// codes-only pack, which stores no f32 vectors; a pack set of more than one shard, whose
/// rows are not contiguous: read each shard's).
#[no_mangle]
pub unsafe extern "C" fn vpack_index_vectors(
    index: *const vpack_index,
    data: *mut *const f32,
    count: *mut usize,
    dim: *mut usize,
) -> vpack_status {
    guard(|| {
        let data = out_ptr(data, "data")?;
        let count = out_ptr(count, "count")?;
        let dim = out_ptr(dim, "dim")?;
        // SAFETY: per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        let rows = idx.inner.vectors()?;
        // SAFETY: the three out-pointers are non-NULL and writable.
        unsafe {
            *data = rows.as_ptr();
            *count = idx.inner.len();
            *dim = idx.inner.dimension();
        }
        Ok(())
    })
}

/// Copies the stored vectors of the chunks `ids[0..n]` into `out`, row after row (`n *
/// dim` floats; `out_len` is the room at `out`, in floats): for a pack or a pack set of
/// any number of shards (global ids), so a caller can re-rank candidates by their vectors
/// (as MMR does) without holding the rows of every shard. For cosine packs each row is
/// L2-normalised. Like `vpack_index_vectors`, the first use checks every vector block of
/// the pack (shard) read.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG` (`ids` or `out` NULL with `n` > 0),
/// `VPACK_E_INVALID_ARG` (`out_len` is not `n * dim`), `VPACK_E_NOT_FOUND` (an id out of
/// range; a codes-only pack or shard, which stores no f32 vectors), `VPACK_E_CORRUPT`.
#[no_mangle]
pub unsafe extern "C" fn vpack_index_rows(
    index: *const vpack_index,
    ids: *const u64,
    n: usize,
    out: *mut f32,
    out_len: usize,
) -> vpack_status {
    guard(|| {
        // SAFETY: per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        // SAFETY: `ids` holds `n` ids per the contract (NULL only with n = 0).
        let ids = unsafe { slice(ids, n, "ids") }?;
        // SAFETY: `out` has room for `out_len` floats per the contract.
        let out = unsafe { slice_mut(out, out_len, "out") }?;
        idx.inner.rows(ids, out)
    })
}

/// Creates the embedder recorded in the pack's manifest (a pack set's shards all record
/// the same), to embed query texts the same way the pack's chunks were embedded. Fails with `VPACK_E_NOT_FOUND` when the pack
/// records none, `VPACK_E_MODEL` when it is not available here.
/// Returns `VPACK_OK` or `VPACK_E_NULL_ARG`, `VPACK_E_NOT_FOUND`, `VPACK_E_MODEL`,
/// `VPACK_E_RUNTIME`.
#[no_mangle]
pub unsafe extern "C" fn vpack_index_embedder(
    index: *const vpack_index,
    out: *mut *mut vpack_embedder,
) -> vpack_status {
    guard(|| {
        let out = out_ptr(out, "out")?;
        // SAFETY: per this function's contract.
        let idx = unsafe { handle(index, "index") }?;
        let inner = idx.inner.embedder()?;
        // SAFETY: `out` was checked non-NULL and is writable per the contract.
        unsafe { hand_out(out, vpack_embedder { inner }) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

    #[test]
    fn status_constants_match_error_codes() {
        let pairs = [
            (VPACK_OK, code::OK),
            (VPACK_E_NULL_ARG, code::NULL_ARG),
            (VPACK_E_INVALID_ARG, code::INVALID_ARG),
            (VPACK_E_INVALID_JSON, code::INVALID_JSON),
            (VPACK_E_INVALID_UTF8, code::INVALID_UTF8),
            (VPACK_E_DIMENSION_MISMATCH, code::DIMENSION_MISMATCH),
            (VPACK_E_IO, code::IO),
            (VPACK_E_CORRUPT, code::CORRUPT),
            (VPACK_E_UNSUPPORTED_VERSION, code::UNSUPPORTED_VERSION),
            (VPACK_E_MODEL, code::MODEL),
            (VPACK_E_LIMIT, code::LIMIT),
            (VPACK_E_PANIC, code::PANIC),
            (VPACK_E_NOT_FOUND, code::NOT_FOUND),
            (VPACK_E_RUNTIME, code::RUNTIME),
        ];
        for (i, (abi, internal)) in pairs.iter().enumerate() {
            assert_eq!(abi, internal);
            assert_eq!(*abi, i as i32, "codes are dense and ordered");
        }
    }

    #[test]
    fn version_constants_match_the_crate() {
        assert_eq!(
            super::VPACK_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            super::VPACK_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            super::VPACK_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
    }
}
