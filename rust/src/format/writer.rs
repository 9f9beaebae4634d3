//! Collects chunks and vectors and lays out a deterministic .vpack image.

use super::*;
use crate::error::{Error, Result};
use crate::index::{normalize, Metric};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Keys of the manifest that the writer owns; a caller may repeat them only with the
/// same value.
const RESERVED_KEYS: [&str; 5] = [
    "format_version",
    "dimension",
    "metric",
    "chunk_count",
    "index",
];

/// Largest text or metadata of one chunk (the chunk table stores u32 lengths).
const MAX_FIELD_LEN: usize = u32::MAX as usize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkIn {
    pub text: String,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// Builder options, from JSON: `{"dimension": 384, "metric": "cosine"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderOptions {
    pub dimension: usize,
    #[serde(default = "default_metric")]
    pub metric: String,
}

fn default_metric() -> String {
    "cosine".to_string()
}

pub struct PackWriter {
    dimension: usize,
    metric: Metric,
    table: Vec<u8>,
    data: Vec<u8>,
    vectors: Vec<f32>,
    count: u64,
}

impl PackWriter {
    pub fn new(options: BuilderOptions) -> Result<Self> {
        if options.dimension == 0 || options.dimension > 65_536 {
            return Err(Error::InvalidArg(format!(
                "dimension must be in 1..=65536, got {}",
                options.dimension
            )));
        }
        let metric = Metric::parse(&options.metric)?;
        Ok(PackWriter {
            dimension: options.dimension,
            metric,
            table: Vec::new(),
            data: Vec::new(),
            vectors: Vec::new(),
            count: 0,
        })
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends `chunks` with their vectors (`chunks.len() * dimension` floats). Nothing is
    /// appended when any input is invalid.
    pub fn add(&mut self, chunks: Vec<ChunkIn>, vectors: &[f32]) -> Result<()> {
        let want = chunks.len() * self.dimension;
        if vectors.len() != want {
            return Err(Error::DimensionMismatch {
                expected: want,
                got: vectors.len(),
            });
        }
        if let Some(pos) = vectors.iter().position(|x| !x.is_finite()) {
            return Err(Error::InvalidArg(format!(
                "vector {} has a non-finite value at position {}",
                pos / self.dimension,
                pos % self.dimension
            )));
        }
        let mut encoded = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.into_iter().enumerate() {
            let meta = if chunk.metadata.is_empty() {
                Vec::new()
            } else {
                serde_json::to_vec(&chunk.metadata).map_err(|e| Error::json("metadata", e))?
            };
            if chunk.text.len() > MAX_FIELD_LEN || meta.len() > MAX_FIELD_LEN {
                return Err(Error::Limit(format!("chunk {i} is larger than 4 GiB")));
            }
            encoded.push((chunk.text, meta));
        }
        let start = self.vectors.len();
        self.vectors.extend_from_slice(vectors);
        if self.metric == Metric::Cosine {
            for row in self.vectors[start..].chunks_exact_mut(self.dimension) {
                normalize(row);
            }
        }
        for (text, meta) in encoded {
            let offset = self.data.len() as u64;
            self.table.extend_from_slice(&offset.to_le_bytes());
            self.table
                .extend_from_slice(&(text.len() as u32).to_le_bytes());
            self.table
                .extend_from_slice(&(meta.len() as u32).to_le_bytes());
            self.data.extend_from_slice(text.as_bytes());
            self.data.extend_from_slice(&meta);
            self.count += 1;
        }
        Ok(())
    }

    /// The finished pack image. `manifest` is stored with the keys vpack owns added; an
    /// `embedder` entry must describe vectors of this pack's dimension.
    pub fn finish(self, mut manifest: Map<String, Value>) -> Result<Vec<u8>> {
        check_reserved(&manifest, self.dimension, self.metric)?;
        if let Some(embedder) = manifest.get("embedder") {
            check_embedder(embedder, self.dimension)?;
        }
        manifest.insert("format_version".into(), Value::from(VERSION));
        manifest.insert("dimension".into(), Value::from(self.dimension));
        manifest.insert("metric".into(), Value::from(self.metric.name()));
        manifest.insert("chunk_count".into(), Value::from(self.count));
        manifest.insert("index".into(), serde_json::json!({"kind": "flat"}));
        let manifest_bytes =
            serde_json::to_vec(&Value::Object(manifest)).map_err(|e| Error::json("manifest", e))?;

        let mut vector_bytes = Vec::with_capacity(self.vectors.len() * 4);
        for x in &self.vectors {
            vector_bytes.extend_from_slice(&x.to_le_bytes());
        }
        let sections: [(u32, &[u8]); 4] = [
            (SECTION_MANIFEST, &manifest_bytes),
            (SECTION_CHUNK_TABLE, &self.table),
            (SECTION_CHUNK_DATA, &self.data),
            (SECTION_VECTORS, &vector_bytes),
        ];
        Ok(layout(&sections))
    }
}

fn check_reserved(manifest: &Map<String, Value>, dimension: usize, metric: Metric) -> Result<()> {
    for key in RESERVED_KEYS {
        let Some(given) = manifest.get(key) else {
            continue;
        };
        let ok = match key {
            "dimension" => given.as_u64() == Some(dimension as u64),
            "metric" => given.as_str() == Some(metric.name()),
            _ => false,
        };
        if !ok {
            return Err(Error::InvalidArg(format!(
                "manifest key '{key}' is set by vpack and cannot be given ({given})"
            )));
        }
    }
    Ok(())
}

/// A recorded embedder is what queries re-create, so it must say which vectors it makes.
fn check_embedder(embedder: &Value, dimension: usize) -> Result<()> {
    let dim = embedder
        .as_object()
        .ok_or_else(|| Error::InvalidArg("manifest 'embedder' must be a JSON object".into()))?
        .get("dimension")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            Error::InvalidArg("manifest 'embedder' must hold its integer 'dimension'".into())
        })?;
    if dim != dimension as u64 {
        return Err(Error::DimensionMismatch {
            expected: dimension,
            got: usize::try_from(dim).unwrap_or(usize::MAX),
        });
    }
    Ok(())
}

/// Header + section table + 64-byte aligned sections.
fn layout(sections: &[(u32, &[u8])]) -> Vec<u8> {
    let table_len = sections.len() * SECTION_ENTRY_LEN;
    let mut offset = align_up(HEADER_LEN + table_len);
    let mut table = Vec::with_capacity(table_len);
    for (kind, bytes) in sections {
        table.extend_from_slice(&kind.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&(offset as u64).to_le_bytes());
        table.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        table.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        offset = align_up(offset + bytes.len());
    }
    let file_len = sections.last().map_or(HEADER_LEN + table_len, |_| offset);

    let mut out = Vec::with_capacity(file_len);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    out.extend_from_slice(&(file_len as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&table).to_le_bytes());
    out.resize(60, 0);
    let header_crc = crc32fast::hash(&out);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&table);
    for (_, bytes) in sections {
        out.resize(align_up(out.len()), 0);
        out.extend_from_slice(bytes);
    }
    out.resize(file_len, 0);
    out
}
