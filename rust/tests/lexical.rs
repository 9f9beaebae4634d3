//! Lexical (BM25) and hybrid search in packs: the section, query modes, filters, the
//! manifest, determinism, and packs without one.

use serde_json::{json, Map, Value};
use vpack::format::writer::{BuilderOptions, ChunkIn, PackWriter};
use vpack::index::filter::Filter;
use vpack::pack::{Mode, Pack};

const DIM: usize = 8;

const DOCS: [(&str, &str, &str); 6] = [
    (
        "Reading files",
        "Line by line",
        "Open the file and loop over it with a for loop.",
    ),
    (
        "Directories",
        "Listing",
        "os.scandir lists a directory faster than os.listdir.",
    ),
    (
        "Backups",
        "pg_dump",
        "pg_dump --jobs 4 dumps several tables at once.",
    ),
    ("Backups", "Restore", "pg_restore reads what pg_dump wrote."),
    (
        "Networking",
        "Sockets",
        "A socket connects two programs over a network.",
    ),
    (
        "Directories",
        "Walking",
        "os.walk visits every directory below a root.",
    ),
];

/// A vector per chunk that says nothing about its words: dense search alone cannot
/// tell the chunks apart by topic, so lexical hits are the lexical index's doing.
fn vector(i: usize) -> Vec<f32> {
    (0..DIM)
        .map(|j| if j == i % DIM { 1.0 } else { 0.1 })
        .collect()
}

fn build(index: Value) -> Pack {
    let options: BuilderOptions =
        serde_json::from_value(json!({"dimension": DIM, "index": index})).unwrap();
    let mut w = PackWriter::new(options).unwrap();
    let mut vectors = Vec::new();
    let chunks = DOCS
        .iter()
        .enumerate()
        .map(|(i, (title, section, text))| {
            vectors.extend(vector(i));
            let mut meta = Map::new();
            meta.insert("title".into(), Value::from(*title));
            meta.insert("section".into(), Value::from(*section));
            meta.insert("n".into(), Value::from(i));
            ChunkIn {
                text: text.to_string(),
                metadata: meta,
            }
        })
        .collect();
    w.add(chunks, &vectors).unwrap();
    Pack::from_bytes(&w.finish(Map::new()).unwrap()).unwrap()
}

fn ids(hits: &[vpack::index::Scored]) -> Vec<u64> {
    hits.iter().map(|h| h.id).collect()
}

#[test]
fn lexical_finds_exact_names_and_title_words() {
    assert_eq!(
        build(json!({"lexical": {}})).reader().manifest()["index"]["lexical"]["fields"],
        json!([]),
        "the default indexes the text alone"
    );
    let pack = build(json!({"lexical": {"fields": ["title", "section"]}}));
    let lexical = &pack.reader().manifest()["index"]["lexical"];
    assert_eq!(lexical["tokenizer"], "words-ident-stop-v1");
    assert_eq!(lexical["fields"], json!(["title", "section"]));
    let search = |text: &str, k| {
        pack.search_mode(Mode::Lexical, None, Some(text), k, None, None)
            .unwrap()
    };
    assert_eq!(ids(&search("os.scandir", 3))[0], 1);
    assert_eq!(ids(&search("scandir", 3)), vec![1]);
    assert_eq!(ids(&search("pg_dump --jobs", 3))[0], 2);
    // "Backups" is only in the titles of chunks 2 and 3.
    let mut backups = ids(&search("backups", 5));
    backups.sort();
    assert_eq!(backups, vec![2, 3]);
    assert!(
        search("the of and", 5).is_empty(),
        "stop words match nothing"
    );
    assert!(search("zebra", 5).is_empty());
    // Filters apply, and k bounds the hits.
    let even = Filter::parse(&json!({"n": {"$in": [0, 2, 4]}})).unwrap();
    let hits = pack
        .search_mode(
            Mode::Lexical,
            None,
            Some("directory pg_dump"),
            5,
            Some(&even),
            None,
        )
        .unwrap();
    assert_eq!(ids(&hits), vec![2]);
    assert_eq!(search("directory os", 1).len(), 1);
    pack.verify().unwrap();
}

#[test]
fn hybrid_fuses_both_sides() {
    let pack = build(json!({"lexical": {"hybrid_weight": 0.5}}));
    // The query vector points at chunk 4; the text at chunk 1.
    let q = vector(4);
    let dense = pack
        .search_mode(Mode::Dense, Some(&q), None, 6, None, None)
        .unwrap();
    assert_eq!(dense[0].id, 4);
    let hybrid = pack
        .search_mode(Mode::Hybrid, Some(&q), Some("os.scandir"), 6, None, None)
        .unwrap();
    let top2: Vec<u64> = {
        let mut t = ids(&hybrid[..2]);
        t.sort();
        t
    };
    assert_eq!(top2, vec![1, 4], "{hybrid:?}");
    assert!(hybrid.iter().all(|h| (0.0..=1.0).contains(&h.score)));
    assert!(hybrid.windows(2).all(|w| w[0].score >= w[1].score));
    // Weight 0: the dense order; the lexical side only adds chunks at score 0.
    let dense_only = build(json!({"lexical": {"hybrid_weight": 0.0}}));
    let h0 = dense_only
        .search_mode(Mode::Hybrid, Some(&q), Some("os.scandir"), 6, None, None)
        .unwrap();
    assert_eq!(ids(&h0), ids(&dense));
}

#[test]
fn modes_need_their_inputs_and_the_index() {
    let plain = build(json!({}));
    let err = plain
        .search_mode(Mode::Lexical, None, Some("os"), 3, None, None)
        .unwrap_err();
    assert_eq!(err.code(), vpack::VPACK_E_NOT_FOUND, "{err}");
    let lexical = build(json!({"lexical": {}}));
    for (mode, query, text) in [
        (Mode::Dense, None, Some("os")),
        (Mode::Lexical, Some(vector(0)), None),
        (Mode::Hybrid, None, Some("os")),
        (Mode::Hybrid, Some(vector(0)), None),
    ] {
        let err = lexical
            .search_mode(mode, query.as_deref(), text, 3, None, None)
            .unwrap_err();
        assert_eq!(err.code(), vpack::VPACK_E_INVALID_ARG, "{mode:?}: {err}");
    }
}

#[test]
fn same_chunks_same_bytes_and_bad_options_refused() {
    let a = build(json!({"lexical": {"k1": 1.2, "b": 0.75, "fields": ["title"]}}));
    let b = build(json!({"lexical": {"k1": 1.2, "b": 0.75, "fields": ["title"]}}));
    assert_eq!(a.reader().bytes(), b.reader().bytes());
    assert_ne!(
        a.reader().bytes(),
        build(json!({"lexical": {}})).reader().bytes()
    );
    for bad in [
        json!({"lexical": {"k1": -1.0}}),
        json!({"lexical": {"b": 1.5}}),
        json!({"lexical": {"hybrid_weight": 2.0}}),
        json!({"lexical": {"fields": [""]}}),
        json!({"lexical": {"stem": "klingon"}}),
        json!({"lexical": {"stem": "English"}}),
    ] {
        let options: BuilderOptions =
            serde_json::from_value(json!({"dimension": DIM, "index": bad})).unwrap();
        assert_eq!(PackWriter::new(options).err().unwrap().code(), 2, "{bad}");
    }
    let unknown = serde_json::from_value::<BuilderOptions>(
        json!({"dimension": DIM, "index": {"lexical": {"stemmer": "porter"}}}),
    );
    assert!(unknown.is_err());
}

#[test]
fn damage_to_the_lexical_section_is_an_error_never_a_wrong_answer() {
    let pack = build(json!({"lexical": {}}));
    let bytes = pack.reader().bytes().to_vec();
    let n = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let range = (0..n)
        .map(|i| {
            let e = 64 + 32 * i;
            let kind = u32::from_le_bytes(bytes[e..e + 4].try_into().unwrap());
            let off = u64::from_le_bytes(bytes[e + 8..e + 16].try_into().unwrap()) as usize;
            let len = u64::from_le_bytes(bytes[e + 16..e + 24].try_into().unwrap()) as usize;
            (kind, off..off + len)
        })
        .find(|(k, _)| *k == 8)
        .expect("a lexical section")
        .1;
    let want = pack
        .search_mode(
            Mode::Lexical,
            None,
            Some("directory pg_dump"),
            5,
            None,
            None,
        )
        .unwrap();
    let dir = std::env::temp_dir().join(format!("vpack-lexical-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for at in range.clone().step_by(7) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        let path = dir.join("bad.vpack");
        std::fs::write(&path, &bad).unwrap();
        let damaged = Pack::open(&path, false).unwrap();
        match damaged.search_mode(
            Mode::Lexical,
            None,
            Some("directory pg_dump"),
            5,
            None,
            None,
        ) {
            Ok(hits) => panic!("damage at {at} answered {hits:?} (want an error; clean: {want:?})"),
            Err(e) => assert_eq!(e.code(), vpack::VPACK_E_CORRUPT, "damage at {at}: {e}"),
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn stemming_matches_other_forms_of_a_word() {
    let lexical = |pack: &Pack, text: &str| {
        ids(&pack
            .search_mode(Mode::Lexical, None, Some(text), 6, None, None)
            .unwrap())
    };
    let plain = build(json!({"lexical": {}}));
    let stemmed = build(json!({"lexical": {"stem": "english"}}));
    assert_eq!(
        stemmed.reader().manifest()["index"]["lexical"]["tokenizer"],
        "words-ident-stop-v1+snowball-english"
    );
    // "listing directories" shares no word with "lists a directory" until both are stemmed.
    assert!(!lexical(&plain, "listing directories").contains(&1));
    assert_eq!(lexical(&stemmed, "listing directories")[0], 1);
    // Whole identifiers still match exactly, and the stemmed pack reopens with its tokenizer.
    let mut dump = lexical(&stemmed, "pg_dump");
    dump.sort_unstable();
    assert_eq!(dump, vec![2, 3]);
    let again = Pack::from_bytes(stemmed.reader().bytes()).unwrap();
    assert_eq!(lexical(&again, "walks"), vec![5]);
    assert!(lexical(&plain, "walks").is_empty());
}
