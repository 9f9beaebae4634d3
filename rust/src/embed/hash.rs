//! A model-free embedder: signed feature hashing of words and character n-grams,
//! sub-linear term weighting, L2-normalised. Deterministic on every platform (FNV-1a).
//! It matches shared words and spellings, not meaning; it exists so the whole path works
//! with no model and for tests.

use super::Embedder;
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub(crate) const DEFAULT_DIMENSION: usize = 256;
const MAX_DIMENSION: usize = 1 << 16;

pub struct HashEmbedder {
    dimension: usize,
    char_ngram: usize,
}

impl HashEmbedder {
    pub fn new(dimension: usize, char_ngram: usize) -> Result<Self> {
        if dimension == 0 || dimension > MAX_DIMENSION {
            return Err(Error::InvalidArg(format!(
                "hash embedder dimension must be in 1..={MAX_DIMENSION}, got {dimension}"
            )));
        }
        if char_ngram > 8 {
            return Err(Error::InvalidArg(format!(
                "hash embedder char_ngram must be in 0..=8, got {char_ngram}"
            )));
        }
        Ok(HashEmbedder {
            dimension,
            char_ngram,
        })
    }

    pub fn from_config(obj: &Map<String, Value>) -> Result<Self> {
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "kind" | "dimension" | "char_ngram" | "model_id"
            ) {
                return Err(Error::JsonShape(format!(
                    "unknown hash embedder option '{key}'"
                )));
            }
        }
        if obj.get("model_id").is_some_and(|v| !v.is_string()) {
            return Err(Error::JsonShape("'model_id' must be a string".into()));
        }
        let dimension = usize_field(obj, "dimension", DEFAULT_DIMENSION)?;
        let char_ngram = usize_field(obj, "char_ngram", 3)?;
        HashEmbedder::new(dimension, char_ngram)
    }

    fn add_feature(&self, feature: &[u8], weight: f32, acc: &mut HashMap<u64, f32>) {
        *acc.entry(fnv1a(feature)).or_insert(0.0) += weight;
    }

    fn embed_one(&self, text: &str, out: &mut [f32]) {
        out.fill(0.0);
        let mut counts: HashMap<u64, f32> = HashMap::new();
        let mut buf = String::new();
        for word in words(text) {
            buf.clear();
            buf.push('w');
            buf.extend(word.chars().flat_map(char::to_lowercase));
            self.add_feature(buf.as_bytes(), 1.0, &mut counts);
            if self.char_ngram > 0 {
                // Word with boundary marks, e.g. "<file>", then its n-grams.
                let chars: Vec<char> = std::iter::once('<')
                    .chain(buf[1..].chars())
                    .chain(std::iter::once('>'))
                    .collect();
                if chars.len() >= self.char_ngram {
                    for gram in chars.windows(self.char_ngram) {
                        buf.clear();
                        buf.push('g');
                        buf.extend(gram.iter());
                        self.add_feature(buf.as_bytes(), 0.5, &mut counts);
                    }
                }
            }
        }
        // Sort so float accumulation order, and so the output bits, never depend on
        // HashMap iteration order.
        let mut features: Vec<(u64, f32)> = counts.into_iter().collect();
        features.sort_unstable_by_key(|(h, _)| *h);
        for (h, count) in features {
            let slot = (h % self.dimension as u64) as usize;
            let sign = if (h >> 63) & 1 == 1 { -1.0 } else { 1.0 };
            out[slot] += sign * (1.0 + count.ln_1p());
        }
        crate::index::normalize(out);
    }
}

impl Embedder for HashEmbedder {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn describe(&self) -> Value {
        json!({
            "kind": "hash",
            "model_id": "vpack-hash-v1",
            "dimension": self.dimension,
            "char_ngram": self.char_ngram,
        })
    }

    fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>> {
        Ok(texts.iter().map(|t| words(t).count()).collect())
    }

    fn embed_into(&self, texts: &[&str], out: &mut [f32]) -> Result<()> {
        for (text, row) in texts.iter().zip(out.chunks_exact_mut(self.dimension)) {
            self.embed_one(text, row);
        }
        Ok(())
    }
}

/// The hash embedder's tokens: maximal runs of alphanumeric characters.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

fn usize_field(obj: &Map<String, Value>, key: &str, default: usize) -> Result<usize> {
    match obj.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                Error::JsonShape(format!("'{key}' must be a non-negative integer, got {v}"))
            }),
    }
}

/// 64-bit FNV-1a: tiny, stable across platforms and Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::distance::dot;

    fn embed(e: &HashEmbedder, text: &str) -> Vec<f32> {
        let mut out = vec![0.0; e.dimension];
        e.embed_into(&[text], &mut out).unwrap();
        out
    }

    #[test]
    fn normalised_and_deterministic() {
        let e = HashEmbedder::new(128, 3).unwrap();
        let a = embed(&e, "Reading a file line by line");
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
        assert_eq!(a, embed(&e, "Reading a file line by line"));
    }

    #[test]
    fn shared_words_score_higher_than_unrelated() {
        let e = HashEmbedder::new(256, 3).unwrap();
        let q = embed(&e, "open a file");
        let near = embed(&e, "how to open the file for reading");
        let far = embed(&e, "tropical birds migrate south");
        assert!(dot(&q, &near) > dot(&q, &far) + 0.2);
    }

    #[test]
    fn empty_text_is_zero_vector() {
        let e = HashEmbedder::new(16, 3).unwrap();
        assert!(embed(&e, "  ,;  ").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn known_value_is_stable() {
        // Published FNV-1a 64 test vectors: a change here changes every hash-embedded pack.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn bad_options_rejected() {
        let bad = serde_json::json!({"kind": "hash", "dimension": 0});
        assert!(HashEmbedder::from_config(bad.as_object().unwrap()).is_err());
        let bad = serde_json::json!({"kind": "hash", "dims": 8});
        assert!(HashEmbedder::from_config(bad.as_object().unwrap()).is_err());
    }
}
