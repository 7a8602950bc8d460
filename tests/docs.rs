//! The documentation's promises, checked: every relative link in README.md
//! and docs/ leads to a file that exists, every `cargo run --release --
//! <command>` names a subcommand the binary knows, and every `just <recipe>`
//! a recipe the justfile defines. Anchors (`#...`) are not checked, only the
//! files they point into.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `path` relative to the repository root, for messages.
fn shown(path: &Path) -> String {
    let root = root();
    path.strip_prefix(&root).unwrap_or(path).display().to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()))
}

/// README.md and every markdown file under docs/, in a fixed order.
fn markdown_files() -> Vec<PathBuf> {
    let docs = root().join("docs");
    assert!(docs.is_dir(), "{}: no docs folder", docs.display());
    let mut files = vec![root().join("README.md")];
    collect_markdown(&docs, &mut files);
    files
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: cannot list: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_markdown(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "md") {
            out.push(path);
        }
    }
}

/// A markdown file cut into what is code and what is not.
#[derive(Debug, Default, PartialEq)]
struct Split {
    /// The text outside code blocks and code spans, paragraph by paragraph.
    prose: Vec<String>,
    /// Code: each line of a fenced or indented block, and each inline span
    /// (its whitespace collapsed to single spaces).
    code: Vec<String>,
}

/// Cuts `markdown` into prose and code. Fenced blocks (```` ``` ```` or
/// `~~~`) and indented blocks (4 spaces after a blank line) are code line by
/// line; in the rest, the pieces between pairs of backticks of a paragraph
/// are code spans.
fn split(markdown: &str) -> Split {
    let mut out = Split::default();
    let mut fence: Option<&str> = None;
    let mut paragraph = String::new();
    let mut previous_blank = true;
    let mut in_indented = false;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
                previous_blank = false;
            } else {
                out.code.push(line.trim().to_string());
            }
            continue;
        }
        let blank = trimmed.is_empty();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
            end_paragraph(&mut paragraph, &mut out);
        } else if !blank && line.starts_with("    ") && (previous_blank || in_indented) {
            in_indented = true;
            out.code.push(trimmed.to_string());
            end_paragraph(&mut paragraph, &mut out);
        } else if blank {
            end_paragraph(&mut paragraph, &mut out);
        } else {
            in_indented = false;
            paragraph.push_str(line);
            paragraph.push('\n');
        }
        if blank {
            in_indented = false;
        }
        previous_blank = blank;
    }
    end_paragraph(&mut paragraph, &mut out);
    out
}

/// Moves a finished paragraph into `out`: odd pieces between backticks are
/// code spans, the even ones prose.
fn end_paragraph(paragraph: &mut String, out: &mut Split) {
    if paragraph.is_empty() {
        return;
    }
    let mut prose = String::new();
    for (i, piece) in paragraph.split('`').enumerate() {
        if i % 2 == 1 {
            out.code.push(piece.split_whitespace().collect::<Vec<_>>().join(" "));
        } else {
            prose.push_str(piece);
            prose.push(' ');
        }
    }
    out.prose.push(prose);
    paragraph.clear();
}

/// The targets of the inline links `[text](target)` and images in `prose`.
fn link_targets(prose: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = prose;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let inside = rest[..end].split_whitespace().next().unwrap_or("");
        targets.push(inside.trim_start_matches('<').trim_end_matches('>').to_string());
        rest = &rest[end..];
    }
    targets
}

/// The file a relative link target names, or `None` for links this test
/// does not follow: web and mail addresses and anchors within the page.
fn linked_file(from: &Path, target: &str) -> Option<PathBuf> {
    if target.is_empty() || target.starts_with('#') || target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let file = target.split('#').next().unwrap_or(target);
    Some(match file.strip_prefix('/') {
        Some(from_root) => root().join(from_root),
        None => from.parent().unwrap_or(Path::new(".")).join(file),
    })
}

/// The word after each `prefix` in `text` (whitespace collapsed first),
/// cut at the first character that cannot be part of a command name.
fn words_after(text: &str, prefix: &str) -> Vec<String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut words = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(prefix) {
        rest = &rest[at + prefix.len()..];
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if !word.is_empty() && !word.starts_with('-') {
            words.push(word);
        }
    }
    words
}

/// The recipe each code line or span runs with `just`, when it starts with
/// `just ` (after an optional `$ ` prompt, and after `&&` or `;`).
fn just_recipes_named(code: &str) -> Vec<String> {
    let mut recipes = Vec::new();
    for command in code.split("&&").flat_map(|c| c.split(';')) {
        let command = command.trim();
        let command = command.strip_prefix("$ ").unwrap_or(command);
        if let Some(args) = command.strip_prefix("just ") {
            let recipe = args.split_whitespace().next().unwrap_or("");
            let recipe = recipe.trim_end_matches([',', '.', ')', ':']);
            if !recipe.is_empty() && !recipe.starts_with('-') {
                recipes.push(recipe.to_string());
            }
        }
    }
    recipes
}

/// The recipe names the justfile defines: unindented lines `name args...:`
/// outside comments, not assignments (`:=`).
fn justfile_recipes() -> BTreeSet<String> {
    let text = read(&root().join("justfile"));
    text.lines()
        .filter_map(|line| {
            if line.starts_with(char::is_whitespace) || line.starts_with('#') {
                return None;
            }
            let colon = line.find(':')?;
            if line[colon + 1..].starts_with('=') {
                return None;
            }
            let name = line[..colon].split(' ').next()?;
            let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            valid.then(|| name.to_string())
        })
        .collect()
}

#[test]
fn the_markdown_helpers_find_links_commands_and_recipes() {
    let page = "Intro [a](x.md#top) and `[not](code.md)`.\n\n    just test\n\n```\n$ just reproduce table3\n```\nRun `cargo install just` or `just --list`.\n";
    let parts = split(page);
    let links: Vec<String> = parts.prose.iter().flat_map(|p| link_targets(p.as_str())).collect();
    assert_eq!(links, ["x.md#top"]);
    let recipes: Vec<String> = parts.code.iter().flat_map(|c| just_recipes_named(c.as_str())).collect();
    assert_eq!(recipes, ["test", "reproduce"]);
    assert_eq!(
        words_after(
            "see `cargo run --release --\n  reproduce table3` and cargo run --release -- --help",
            "cargo run --release -- "
        ),
        ["reproduce"]
    );
    let from = root().join("docs").join("page.md");
    assert_eq!(
        linked_file(&from, "../README.md#x"),
        Some(root().join("docs").join("../README.md"))
    );
    assert_eq!(linked_file(&from, "https://example.org/a.md"), None);
    assert_eq!(linked_file(&from, "#anchor"), None);
}

#[test]
fn every_relative_link_leads_to_a_file() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        for paragraph in split(&read(&file)).prose {
            for target in link_targets(&paragraph) {
                if let Some(path) = linked_file(&file, &target) {
                    checked += 1;
                    if !path.exists() {
                        broken.push(format!(
                            "{}: ({target}) -> {} does not exist",
                            shown(&file),
                            shown(&path)
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 0, "no relative links found in README.md and docs/");
    assert!(
        broken.is_empty(),
        "{} broken link(s):\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn every_cargo_run_command_is_a_subcommand_the_binary_knows() {
    // command -> the first file naming it; each command is run once.
    let mut commands: BTreeMap<String, String> = BTreeMap::new();
    for file in markdown_files() {
        for command in words_after(&read(&file), "cargo run --release -- ") {
            commands.entry(command).or_insert_with(|| shown(&file));
        }
    }
    assert!(
        commands.contains_key("reproduce"),
        "no `cargo run --release -- reproduce` in README.md or docs/"
    );
    let mut unknown = Vec::new();
    for (command, file) in &commands {
        let out = Command::new(env!("CARGO_BIN_EXE_entprog"))
            .args([command.as_str(), "--help"])
            .output()
            .unwrap();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            unknown.push(format!("{file}: `entprog {command} --help` failed: {}", stderr.trim()));
        }
    }
    assert!(
        unknown.is_empty(),
        "{} unknown command(s):\n{}",
        unknown.len(),
        unknown.join("\n")
    );
}

#[test]
fn every_just_recipe_named_is_in_the_justfile() {
    let defined = justfile_recipes();
    assert!(
        defined.contains("reproduce") && defined.contains("test"),
        "justfile recipes not found: {defined:?}"
    );
    let mut unknown = Vec::new();
    for file in markdown_files() {
        for code in split(&read(&file)).code {
            for recipe in just_recipes_named(&code) {
                if !defined.contains(&recipe) {
                    unknown.push(format!("{}: `just {recipe}`", shown(&file)));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "recipe(s) not in the justfile ({defined:?}):\n{}",
        unknown.join("\n")
    );
}
