//! The README's Rust snippets say which cargo features they need.
//!
//! Each Rust fence names them in its info string (`rust,no_run,features:axum+client-ip`),
//! defaults included. `cargo test` compiles every snippet (`ReadmeDoctests` in
//! `src/lib.rs`), but with every feature on (the dev-dependency on the crate itself);
//! `scripts/exact-features.py` (run by `.ci/run`) compiles each with exactly its own.
//! This test keeps the names honest without building anything.

use std::collections::BTreeSet;

struct Snippet {
    line: usize,
    info: String,
    body: String,
}

/// Every fenced block whose language is `rust`, as `scripts/exact-features.py` reads them.
fn rust_snippets(readme: &str) -> Vec<Snippet> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let Some(marker) = ["```", "~~~"].into_iter().find(|m| t.starts_with(m)) else {
            i += 1;
            continue;
        };
        let info = t.trim_start_matches(marker.chars().next().unwrap()).trim();
        let mut j = i + 1;
        while j < lines.len() && !lines[j].trim_start().starts_with(marker) {
            j += 1;
        }
        if info.split([',', ' ', '\t']).next() == Some("rust") {
            out.push(Snippet {
                line: i + 1,
                info: info.to_owned(),
                body: lines[i + 1..j.min(lines.len())].join("\n"),
            });
        }
        i = j + 1;
    }
    out
}

fn named_features(info: &str) -> Option<Vec<&str>> {
    let mut named = info
        .split([',', ' ', '\t'])
        .filter_map(|t| t.strip_prefix("features:"));
    let list = named.next()?;
    if named.next().is_some() {
        return None;
    }
    Some(list.split('+').filter(|f| !f.is_empty()).collect())
}

fn manifest() -> toml::Table {
    include_str!("../Cargo.toml").parse().unwrap()
}

#[test]
fn every_rust_snippet_names_its_features_once_and_they_exist() {
    let manifest = manifest();
    let features = manifest["features"].as_table().unwrap();
    let snippets = rust_snippets(include_str!("../README.md"));
    assert!(!snippets.is_empty(), "the README shows no Rust");
    for s in &snippets {
        let named = named_features(&s.info).unwrap_or_else(|| {
            panic!(
                "README.md:{}: name the features once: ```rust,no_run,features:a+b (got {:?})",
                s.line, s.info
            )
        });
        for f in &named {
            assert!(
                *f != "default" && features.contains_key(*f),
                "README.md:{}: no feature {f:?}",
                s.line
            );
        }
    }
}

#[test]
fn the_readme_doctest_gate_covers_every_snippets_features() {
    // `ReadmeDoctests` is compiled only when these features are on: a snippet needing
    // one more must be added to the gate, or a build without it would fail on the README.
    let lib = include_str!("../src/lib.rs");
    let at = lib
        .find("struct ReadmeDoctests")
        .expect("ReadmeDoctests in src/lib.rs");
    let gate = lib[..at].rsplit("#[cfg(").next().unwrap();
    let gate = &gate[..gate.find(")]").unwrap()];
    let gated: BTreeSet<&str> = gate
        .split("feature = \"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    let manifest = manifest();
    let defaults: BTreeSet<&str> = manifest["features"]["default"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for s in rust_snippets(include_str!("../README.md")) {
        for f in named_features(&s.info).unwrap_or_default() {
            assert!(
                gated.contains(f) || defaults.contains(f),
                "README.md:{}: add feature = {f:?} to the cfg of ReadmeDoctests ({gate})",
                s.line
            );
        }
    }
}

#[test]
fn the_snippet_reader_finds_fences_and_their_features() {
    let md = "text\n```sh\ncargo run\n```\n```rust,no_run,features:axum+ratelimit\nfn main() {}\n```\n~~~rust\nlet x = 1;\n~~~\n";
    let s = rust_snippets(md);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].line, s[0].body.as_str()), (5, "fn main() {}"));
    assert_eq!(named_features(&s[0].info), Some(vec!["axum", "ratelimit"]));
    assert_eq!(named_features(&s[1].info), None);
    assert_eq!(
        named_features("rust,features:a,features:b"),
        None,
        "named twice"
    );
}
