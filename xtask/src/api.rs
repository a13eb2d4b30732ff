//! The library's API: the one list of exported functions, read from the Rust sources (every
//! `#[no_mangle]` or `#[export_name]` item of `src/` and `capi/`), and checked against the
//! functions the header declares. The release's symbol hiding and the symbol checks take this
//! list, so an export the header lacks, whatever its name, fails here instead of shipping
//! hidden.

use std::fs;
use std::path::Path;

/// The exported names in `sources` (file texts), sorted.
pub fn exports<'a>(sources: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names = Vec::new();
    for source in sources {
        let mut pending = false;
        for line in source.lines().map(str::trim_start) {
            if line.starts_with("//") {
                continue;
            }
            if let Some(name) = attribute_value(line, "export_name") {
                names.push(name.to_string());
            } else if line.starts_with("#[") && line.contains("no_mangle") {
                pending = true;
            } else if pending
                && !line.starts_with("#[")
                && let Some(name) = item_name(line)
            {
                names.push(name.to_string());
                pending = false;
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// `NAME` of `#[…KEY = "NAME"…]`.
fn attribute_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.strip_prefix("#[")?;
    let value = rest[rest.find(key)? + key.len()..].trim_start();
    let value = value.strip_prefix('=')?.trim_start().strip_prefix('"')?;
    value.split('"').next()
}

/// The name a `fn` or `static` item line declares.
fn item_name(line: &str) -> Option<&str> {
    let words: Vec<&str> = line.split([' ', '(', ':', '<']).collect();
    let keyword = words.iter().position(|w| *w == "fn" || *w == "static")?;
    words[keyword + 1..]
        .iter()
        .find(|w| !w.is_empty() && **w != "mut")
        .copied()
}

/// The functions an EDK2-style header declares: a prototype's name starts its line and is
/// followed by ` (`.
pub fn declared(header: &str) -> Vec<String> {
    let mut names: Vec<String> = header
        .lines()
        .filter_map(|line| line.strip_suffix(" ("))
        .filter(|name| name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What differs between the exports and the declarations, as readable lines.
pub fn mismatches(exports: &[String], declared: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for name in exports.iter().filter(|name| !declared.contains(name)) {
        problems.push(format!(
            "{name} is exported but the header does not declare it"
        ));
    }
    for name in declared.iter().filter(|name| !exports.contains(name)) {
        problems.push(format!("{name} is declared in the header but not exported"));
    }
    problems
}

/// The texts of every `.rs` file under `src/` and `capi/`.
pub fn read_sources(root: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    for dir in ["src", "capi"] {
        collect(&root.join(dir), &mut texts);
    }
    texts
}

fn collect(dir: &Path, texts: &mut Vec<String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, texts);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            texts.push(fs::read_to_string(&path).unwrap());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FFI: &str = r#"
/// Frees.
#[unsafe(no_mangle)]
pub unsafe extern "efiapi" fn pool_free(Block: *mut c_void) -> Status {
#[unsafe(no_mangle)]
#[allow(clippy::missing_safety_doc)]
pub extern "efiapi" fn pool_trim() -> UINTN {
// #[unsafe(no_mangle)] in a comment is no export
fn private() {}
"#;
    const HEADER: &str = "EFI_STATUS\nEFIAPI\npool_free (\n  IN VOID  *Block\n  );\nUINTN\nEFIAPI\npool_trim (\n  VOID\n  );\n";

    #[test]
    fn exports_are_read_from_the_attributes() {
        assert_eq!(exports([FFI]), ["pool_free", "pool_trim"]);
        assert!(mismatches(&exports([FFI]), &declared(HEADER)).is_empty());
    }

    #[test]
    fn an_export_the_header_lacks_is_caught_whatever_its_name() {
        let helper = "#[unsafe(no_mangle)]\npub extern \"C\" fn memcpy_helper() {}\n\
                      #[unsafe(export_name = \"efi_main\")]\nextern \"efiapi\" fn main() {}\n";
        let all = exports([FFI, helper]);
        assert_eq!(all, ["efi_main", "memcpy_helper", "pool_free", "pool_trim"]);
        assert_eq!(
            mismatches(&all, &declared(HEADER)),
            [
                "efi_main is exported but the header does not declare it",
                "memcpy_helper is exported but the header does not declare it",
            ]
        );
    }

    #[test]
    fn a_declaration_without_an_export_is_caught() {
        let header = format!("{HEADER}VOID\nEFIAPI\npool_gone (\n  VOID\n  );\n");
        assert_eq!(
            mismatches(&exports([FFI]), &declared(&header)),
            ["pool_gone is declared in the header but not exported"]
        );
    }

    #[test]
    fn the_repository_exports_what_its_header_declares() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let sources = read_sources(root);
        let exports = exports(sources.iter().map(String::as_str));
        let header = fs::read_to_string(root.join("include/uefi_pool_alloc.h")).unwrap();
        assert!(exports.len() >= 15, "{exports:?}");
        assert_eq!(
            mismatches(&exports, &declared(&header)),
            Vec::<String>::new()
        );
    }
}
