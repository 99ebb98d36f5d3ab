//! The dependency rule, checked on the source: HTTP → domain → storage, workers → domain. The domain
//! names neither the web framework nor a database library; storage's traits name no backend; modules
//! form no cycle. A new `use` that breaks the rule fails this test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's code without comments (so that docs may name what the code must not use).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to (`domain`, `store`, `http`, …).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

/// Every `crate::module` a file names.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + 7..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

fn files_of(module: &str) -> Vec<PathBuf> {
    let mut all = Vec::new();
    rust_files(&src(), &mut all);
    all.into_iter().filter(|p| module_of(p) == module).collect()
}

#[test]
fn the_domain_knows_neither_the_web_framework_nor_a_database_library() {
    let forbidden = [
        "axum",
        "tower",
        "hyper",
        "http::",
        "reqwest",
        "rusqlite",
        "postgres",
        "sqlx",
        "deadpool",
        "r2d2",
        "crate::http",
        "crate::workers",
        "crate::demo",
        "crate::startup",
        "crate::cli",
        "store::sqlite",
        "store::postgres",
    ];
    let files = files_of("domain");
    assert!(files.len() > 10, "the domain's files were found");
    for path in files {
        let text = code(&path);
        for word in forbidden {
            assert!(!text.contains(word), "{} names `{word}`", path.display());
        }
    }
}

#[test]
fn storage_traits_name_no_backend_and_storage_knows_nothing_above_it() {
    for path in files_of("store") {
        let text = code(&path);
        let in_backend = path.components().any(|c| c.as_os_str() == "sqlite" || c.as_os_str() == "postgres");
        if !in_backend {
            for word in ["rusqlite", "postgres::", "tokio_postgres", "sqlx"] {
                assert!(!text.contains(word), "{} names `{word}`", path.display());
            }
        }
        for word in ["crate::domain", "crate::http", "crate::workers", "crate::demo"] {
            assert!(!text.contains(word), "{} names `{word}`", path.display());
        }
    }
}

#[test]
fn modules_depend_one_way_only() {
    // What each module may use; anything else is a dependency the wrong way (or a new one to think about).
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("ids", &[][..]),
        ("clock", &[]),
        ("config", &[]),
        ("telemetry", &[]),
        ("jwe", &["ids"]),
        ("vault", &["ids", "jwe"]),
        ("cvcs", &["vault", "ids"]),
        ("store", &["store", "ids"]),
        ("domain", &["domain", "store", "vault", "jwe", "clock", "config", "ids", "cvcs"]),
        ("workers", &["workers", "domain", "store", "ids"]),
        ("http", &["http", "domain", "store", "config", "telemetry", "clock", "ids", "jwe"]),
        ("demo", &["demo", "domain", "store", "clock", "ids", "telemetry"]),
        (
            "startup",
            &["clock", "config", "cvcs", "demo", "domain", "http", "ids", "store", "vault", "workers"],
        ),
        ("cli", &["clock", "config", "domain", "http", "startup", "store", "telemetry", "vault"]),
        ("lib", &[]),
        ("main", &[]),
    ]);
    let mut all = Vec::new();
    rust_files(&src(), &mut all);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &all {
        let module = module_of(path);
        let refs = crate_refs(&code(path));
        let Some(ok) = allowed.get(module.as_str()) else {
            panic!("a new top-level module `{module}`: add it here")
        };
        for r in &refs {
            assert!(ok.contains(&r.as_str()), "{} ({module}) uses crate::{r}", path.display());
        }
        graph.entry(module).or_default().extend(refs.into_iter().filter(|r| *r != module_of(path)));
    }
    // No cycle between modules (a depth-first search over the uses found).
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        assert!(!path.iter().any(|p| p == m), "a cycle: {} → {m}", path.join(" → "));
        path.push(m.to_string());
        for next in g.get(m).into_iter().flatten() {
            visit(next, g, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}
