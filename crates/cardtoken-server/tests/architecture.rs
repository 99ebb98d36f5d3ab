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
fn ident(s: &str) -> String {
    s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// The paths at the start of `s`, under `prefix`: `a::b::{c, d::{e, f}}` → a::b::c, a::b::d::e, a::b::d::f.
fn expand(prefix: &[String], s: &str, out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    let mut rest = s.trim_start();
    loop {
        if let Some(inner) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in inner.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    if !item.trim().is_empty() {
                        expand(&path, &item, out);
                    }
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                    continue;
                }
                item.push(c);
            }
            return;
        }
        let name = ident(rest);
        if name.is_empty() {
            break;
        }
        rest = &rest[name.len()..];
        path.push(name);
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    if path.len() > prefix.len() {
        out.push(path);
    }
}

/// The paths a file names from the crate's root: `crate::a::b`, and each item of `crate::{a::b, c}`.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        expand(&[], &text[i + 7..], &mut out);
    }
    out
}

fn crate_refs(text: &str) -> BTreeSet<String> {
    crate_paths(text).into_iter().filter_map(|p| p.into_iter().next()).filter(|n| n != "self").collect()
}

#[test]
fn crate_paths_read_groups_as_well_as_plain_paths() {
    let paths = crate_paths(
        "use crate::store::{self, Tx}; use crate::{clock::Clock, vault::Vault}; crate::ids::new_id(",
    );
    let names: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(names, ["store::self", "store::Tx", "clock::Clock", "vault::Vault", "ids::new_id"]);
}

/// The module a file is (`domain::payments::processor` for `src/domain/payments/processor.rs`, `domain`
/// for `src/domain/mod.rs`).
fn module_path(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> =
        rel.components().map(|c| c.as_os_str().to_string_lossy().to_string()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

#[test]
fn the_domains_modules_depend_one_way_only() {
    // Within the domain, each file is a module: `payments::processor` may be used by `tokens` while
    // `payments` uses `tokens`, but no chain of uses may come back to where it started.
    let files = files_of("domain");
    let modules: BTreeSet<Vec<String>> = files.iter().map(|p| module_path(p)).collect();
    // The longest known module a path names.
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p))
    };
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for path in &files {
        let me = module_path(path);
        let text = code(path);
        let mut named: Vec<Vec<String>> = crate_paths(&text);
        // `super::x` from a file: the parent module of this one (of a `mod.rs`, its own parent).
        let parent = &me[..me.len().saturating_sub(1)];
        for (i, _) in text.match_indices("super::") {
            if text[..i].ends_with("::")
                || text[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            {
                continue;
            }
            expand(parent, &text[i + 7..], &mut named);
        }
        let uses: BTreeSet<Vec<String>> =
            named.iter().filter_map(|p| resolve(p)).filter(|m| *m != me && !me.starts_with(m)).collect();
        graph.entry(me).or_default().extend(uses);
    }
    fn visit(
        m: &Vec<String>,
        g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) {
        if done.contains(m) {
            return;
        }
        assert!(
            !path.contains(m),
            "a cycle in the domain: {} → {}",
            path.iter().map(|p| p.join("::")).collect::<Vec<_>>().join(" → "),
            m.join("::")
        );
        path.push(m.clone());
        for next in g.get(m).into_iter().flatten() {
            visit(next, g, path, done);
        }
        path.pop();
        done.insert(m.clone());
    }
    assert!(graph.len() > 10, "the domain's modules were found");
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
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
