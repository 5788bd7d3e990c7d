//! What each language's standard library and most used APIs offer: names usable without an
//! import, the members of modules and of common types, and the methods a class usually defines.
//!
//! The tables are data, one JSON file per language under `data/library/`, compiled into the
//! binary and read once. Every list is ordered by how often its names are used, which breaks ties.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::lang::Lang;

/// Members of one type.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TypeTable {
    /// Variable names that usually hold this type (`event`, `response`).
    #[serde(default)]
    pub hints: Vec<String>,
    /// How an initialiser or a type annotation that makes a variable this type begins (`Vec<`,
    /// `vec!`, `new Map`).
    #[serde(default)]
    pub from: Vec<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

/// One language's tables, as in its JSON file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Library {
    /// Another language's file whose tables this one includes (TypeScript includes JavaScript's).
    #[serde(default)]
    extends: Option<String>,
    /// Names usable with no import. A name ending in `!` is a Rust macro.
    #[serde(default)]
    pub globals: Vec<String>,
    /// Members of modules and namespaces, by the name code uses for them (`os.path`, `std`).
    #[serde(default)]
    pub modules: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub types: BTreeMap<String, TypeTable>,
    /// Methods a class body usually defines (`__init__`, `toString`).
    #[serde(default)]
    pub class_methods: Vec<String>,
}

fn source(lang: Lang) -> Option<&'static str> {
    Some(match lang {
        Lang::Python => include_str!("../../data/library/python.json"),
        // Markup's scripts are JavaScript (or TypeScript, whose own names matter less there).
        Lang::JavaScript | Lang::Markup => include_str!("../../data/library/javascript.json"),
        Lang::TypeScript => include_str!("../../data/library/typescript.json"),
        Lang::Rust => include_str!("../../data/library/rust.json"),
        Lang::Go => include_str!("../../data/library/go.json"),
        Lang::Java => include_str!("../../data/library/java.json"),
        Lang::C => include_str!("../../data/library/c.json"),
        Lang::Cpp => include_str!("../../data/library/cpp.json"),
        Lang::Other => return None,
    })
}

const LANGS: [Lang; 10] = [
    Lang::Python,
    Lang::JavaScript,
    Lang::TypeScript,
    Lang::Rust,
    Lang::Go,
    Lang::Java,
    Lang::C,
    Lang::Cpp,
    Lang::Markup,
    Lang::Other,
];

/// Reads one language's file, with the file it extends folded in after its own entries.
fn load(lang: Lang) -> Result<Library, String> {
    let Some(json) = source(lang) else {
        return Ok(Library::default());
    };
    let mut library: Library = serde_json::from_str(json).map_err(|error| format!("{lang:?}: {error}"))?;
    if let Some(base) = library.extends.take() {
        let base = LANGS
            .into_iter()
            .find(|&other| other != lang && Lang::from_name(&base) == other)
            .ok_or_else(|| format!("{lang:?} extends unknown {base:?}"))?;
        let base = load(base)?;
        library.globals.extend(base.globals);
        library.class_methods.extend(base.class_methods);
        for (name, members) in base.modules {
            library.modules.entry(name).or_default().extend(members);
        }
        for (name, table) in base.types {
            library.types.entry(name).or_insert(table);
        }
    }
    Ok(library)
}

/// The tables of `lang` (empty for an unknown language).
pub(crate) fn library(lang: Lang) -> &'static Library {
    static LIBRARIES: OnceLock<Vec<Library>> = OnceLock::new();
    let libraries = LIBRARIES.get_or_init(|| {
        // The files are part of the source: one that does not parse is caught by the tests, and
        // a language whose file is broken falls back to no library rather than no completions.
        LANGS.into_iter().map(|lang| load(lang).unwrap_or_default()).collect()
    });
    let index = LANGS.iter().position(|&known| known == lang).unwrap_or(LANGS.len() - 1);
    &libraries[index]
}

/// Checks every language's file; the error names the first that does not load.
pub fn check_tables() -> Result<(), String> {
    LANGS.into_iter().try_for_each(|lang| load(lang).map(drop))
}

impl Library {
    /// The module `receiver` names, directly (`os`, `fmt`) or through an alias.
    pub(crate) fn module(&self, receiver: &str, aliases: &[(&str, &str)]) -> Option<&[String]> {
        let name = aliases.iter().find(|(alias, _)| *alias == receiver).map_or(receiver, |(_, module)| module);
        self.modules.get(name).map(Vec::as_slice)
    }

    /// The type a variable named `variable` holds, as far as the tables tell: from how it is
    /// declared (`after`: the text after its name where it is first assigned or annotated, such
    /// as `: HashMap<..>` or `= []`; `before`: the text before it on that line, such as
    /// `List<String>`), else from its name (`event`, `response`).
    pub(crate) fn type_of(&self, variable: &str, after: Option<&str>, before: Option<&str>) -> Option<&TypeTable> {
        let declared = after.map(|after| {
            after
                .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '=' | '&' | '*'))
                .trim_start_matches("mut ")
                .trim_start_matches("const ")
                .trim_start()
        });
        let assigned = self.types.values().find(|table| {
            table.from.iter().any(|from| declared.is_some_and(|declared| declared.starts_with(from.as_str())))
        });
        // A type written before the name (`Map<String, List<String>> m`): the outermost, the one
        // that starts first, is the variable's. A lone `[` or quote says nothing there.
        let written_before = || {
            let before = before?;
            self.types
                .values()
                .filter_map(|table| {
                    let at = table
                        .from
                        .iter()
                        .filter(|from| from.len() > 1)
                        .filter_map(|from| before.find(from.as_str()))
                        .min()?;
                    Some((at, table))
                })
                .min_by_key(|(at, _)| *at)
                .map(|(_, table)| table)
        };
        assigned.or_else(written_before).or_else(|| {
            let lower = variable.to_lowercase();
            self.types.values().find(|table| table.hints.contains(&lower))
        })
    }
}
