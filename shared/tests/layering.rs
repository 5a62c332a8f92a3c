//! Shared's module graph has no back edge: no file uses a module that uses it back,
//! directly or around a loop. A cycle is how a domain ends up borrowing another's
//! internals (moderation reading ai's text helpers, the inbox reading moderation's
//! labels while moderation reads the inbox), so the test names every edge of one.
//!
//! The graph is read from the source with `syn`: a file depends on the module a
//! `crate::...` path names (in a `use` or in code), following `pub use` re-exports to
//! the file that defines the item. Unit tests (`#[cfg(test)]`) are left out: they may
//! reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

type Module = Vec<String>;

/// Every `.rs` file under `src`, by module path (`store/mod.rs` is `store`).
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<Module, PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("the source folder reads") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src)
                    .expect("under src")
                    .with_extension("");
                let mut module: Module = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                    module.pop();
                }
                out.insert(module, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// The paths a `use` tree names, each as its segments (`self` and globs dropped).
fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut path = prefix.clone();
            if name != "self" {
                path.push(name.clone());
            }
            out.push((path, name));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push((path, r.rename.to_string()));
        }
        syn::UseTree::Glob(_) => out.push((prefix.clone(), String::new())),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_paths(t, prefix, out);
            }
        }
    }
}

/// What one file names: `crate::` paths, and the names it re-exports from its children.
#[derive(Default)]
struct Names {
    crate_paths: Vec<Vec<String>>,
    reexports: BTreeMap<String, Vec<String>>,
}

impl<'ast> Visit<'ast> for Names {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if is_test_only(&u.attrs) {
            return;
        }
        let mut paths = Vec::new();
        use_paths(&u.tree, &mut Vec::new(), &mut paths);
        let public = !matches!(u.vis, syn::Visibility::Inherited);
        for (path, name) in paths {
            match path.first().map(String::as_str) {
                Some("crate") => self.crate_paths.push(path[1..].to_vec()),
                Some("super") | None => {}
                Some(_) if public && !name.is_empty() => {
                    // `pub use child::Item`: the item lives in the child.
                    let child: Vec<String> =
                        path.iter().filter(|s| *s != "self").cloned().collect();
                    self.reexports.insert(name, child);
                }
                Some(_) => {}
            }
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if segments.first().is_some_and(|s| s == "crate") {
            self.crate_paths.push(segments[1..].to_vec());
        }
        syn::visit::visit_path(self, p);
    }
}

/// The file a `crate::` path lands in: the deepest module it names, or the child a
/// `pub use` of that module points at.
fn resolve(
    path: &[String],
    files: &BTreeMap<Module, PathBuf>,
    reexports: &BTreeMap<Module, BTreeMap<String, Vec<String>>>,
) -> Option<Module> {
    (0..=path.len()).rev().find_map(|i| {
        let module = path[..i].to_vec();
        if !files.contains_key(&module) {
            return None;
        }
        let Some(next) = path.get(i) else {
            return Some(module);
        };
        match reexports.get(&module).and_then(|r| r.get(next)) {
            Some(child) => {
                let mut target = module.clone();
                target.extend(child.iter().take(child.len().saturating_sub(1)).cloned());
                while !files.contains_key(&target) && !target.is_empty() {
                    target.pop();
                }
                Some(target)
            }
            None => Some(module),
        }
    })
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Module) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let files = modules(src);
    let mut named = BTreeMap::new();
    let mut reexports = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).expect("a source file reads");
        let file = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        let mut names = Names::default();
        names.visit_file(&file);
        reexports.insert(module.clone(), std::mem::take(&mut names.reexports));
        named.insert(module.clone(), names.crate_paths);
    }
    named
        .into_iter()
        .map(|(module, paths)| {
            let targets = paths
                .iter()
                .filter_map(|p| resolve(p, &files, &reexports))
                // A module's own items and its children are not dependencies.
                .filter(|t| !t.starts_with(&module))
                .collect();
            (module, targets)
        })
        .collect()
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_module_of_shared_uses_a_module_that_uses_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = graph(&src);
    assert!(edges.len() > 50, "the modules were found: {}", edges.len());
    let found = cycles(&edges);
    let report: Vec<String> = found
        .iter()
        .map(|component| {
            let members: BTreeSet<&Module> = component.iter().collect();
            let inner: Vec<String> = component
                .iter()
                .flat_map(|v| {
                    edges[v]
                        .iter()
                        .filter(|w| members.contains(w))
                        .map(move |w| format!("{} -> {}", name(v), name(w)))
                })
                .collect();
            inner.join(", ")
        })
        .collect();
    assert!(
        found.is_empty(),
        "back edges in shared's module graph: {report:#?}"
    );
}

#[test]
fn the_reader_sees_a_cycle_when_there_is_one() {
    let dir = std::env::temp_dir().join(format!("relay-layering-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod inner;\npub use inner::Thing;\n").unwrap();
    std::fs::write(
        src.join("a/inner.rs"),
        "pub struct Thing(crate::b::Other);\n",
    )
    .unwrap();
    std::fs::write(
        src.join("b.rs"),
        "pub struct Other;\npub fn f(_: crate::a::Thing) {}\n#[cfg(test)]\nmod tests { use crate::lib_only; }\n",
    )
    .unwrap();
    let edges = graph(&src);
    let found = cycles(&edges);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(found.len(), 1, "{edges:?}");
    let members: BTreeSet<String> = found[0].iter().map(name).collect();
    assert_eq!(
        members,
        BTreeSet::from(["a::inner".to_string(), "b".to_string()])
    );
}
