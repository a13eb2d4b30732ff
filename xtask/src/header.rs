//! The C header, `include/uefi_pool_alloc.h`, generated from `src/ffi.rs` with cbindgen and laid
//! out as EDK2's MdePkg headers are.
//!
//! cbindgen only emits `extern "C"` functions, while every export is `extern "efiapi"` (the
//! Microsoft x64 convention on every target, which `EFIAPI` names in the header). So cbindgen
//! reads a copy of the sources in which the export module's ABI string is rewritten; the
//! `EFIAPI` prefix in cbindgen.toml restores the convention in the header.

use std::path::{Path, PathBuf};
use std::{env, fs};

pub fn generate(root: &Path) -> String {
    let scratch = Scratch::new();
    let copy = scratch.0.join("cbindgen-crate");
    copy_tree(&root.join("src"), &copy.join("src"));
    // A manifest with no dependencies: cbindgen asks cargo for metadata but parses only
    // this crate.
    let manifest = "[package]\nname = \"uefi-pool-alloc\"\nversion = \"0.0.0\"\nedition = \"2024\"\n[workspace]\n";
    fs::write(copy.join("Cargo.toml"), manifest).unwrap();
    let ffi = copy.join("src/ffi.rs");
    let rewritten = fs::read_to_string(&ffi)
        .unwrap()
        .replace("extern \"efiapi\"", "extern \"C\"");
    fs::write(&ffi, rewritten).unwrap();

    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    config.after_includes = Some(fs::read_to_string(root.join("include/prologue.h")).unwrap());
    let mut header = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_crate(&copy)
        .generate()
        .expect("cbindgen failed on src/ffi.rs")
        .write(&mut header);
    edk2_style(&String::from_utf8(header).unwrap(), &constant_types(&copy))
}

/// A fresh directory under the system's temporary directory, removed when dropped: cbindgen
/// reads a rewritten copy of the sources, which must not land in the repository.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let path = env::temp_dir().join(format!("uefi-pool-alloc-header-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Lays cbindgen's output out as EDK2's MdePkg headers are: `/** … **/` comment blocks
/// without leading stars, prototypes and function pointer types with the return type,
/// `EFIAPI` and the name on their own lines and each parameter marked `IN`/`OUT` as its
/// `@param[in]`/`@param[out]` says, integer macros of the Rust constant's type, and EDK2's
/// `UINT64`, `CONST CHAR8` and `VOID` for C's (EDK2 has no `<stdint.h>`).
fn edk2_style(generated: &str, constants: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut directions: Vec<(String, &str)> = Vec::new();
    let mut in_doc = false;
    let generated = generated
        .replace("uint64_t", "UINT64")
        .replace("const char", "CONST CHAR8");
    for line in generated.lines() {
        if line == "  /**" || line == "   */" {
            // A struct field's block: EDK2 writes those as `///` lines.
        } else if let Some(text) = line.strip_prefix("   * ") {
            out.push_str(&format!("  /// {text}\n"));
        } else if line == "/**" {
            in_doc = true;
            directions.clear();
            out.push_str("/**\n");
        } else if in_doc && line == " */" {
            in_doc = false;
            out.push_str("**/\n");
        } else if in_doc {
            let text = line
                .strip_prefix(" *")
                .unwrap_or(line)
                .trim_start_matches(' ');
            if let Some(param) = text.strip_prefix("@param[") {
                let (direction, rest) = param.split_once(']').unwrap();
                let name = rest.split_whitespace().next().unwrap().to_string();
                directions.push((
                    name,
                    if direction == "in,out" {
                        "IN OUT"
                    } else {
                        if direction == "in" { "IN" } else { "OUT" }
                    },
                ));
            }
            let indent = if text.is_empty() { "" } else { "  " };
            out.push_str(&format!(
                "{indent}{}\n",
                line.strip_prefix(" * ").map_or(text, |t| t)
            ));
        } else if let Some(prototype) = line.strip_prefix("EFIAPI ") {
            out.push_str(&prototype_lines(prototype, &directions));
        } else if let Some(function_type) = line
            .strip_prefix("typedef ")
            .filter(|declaration| declaration.contains(" (*"))
        {
            out.push_str(&function_type_lines(function_type, &directions));
        } else if let Some((name, value)) = line
            .strip_prefix("#define ")
            .and_then(|definition| definition.split_once(' '))
            .filter(|(_, value)| value.bytes().all(|byte| byte.is_ascii_digit()))
        {
            out.push_str(&typed_macro(name, value, constants));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `RET *name(T a, U *b);` as EDK2 writes it, with the parameter directions given.
fn prototype_lines(prototype: &str, directions: &[(String, &str)]) -> String {
    let (head, params) = prototype.trim_end_matches(");").split_once('(').unwrap();
    let name_start = head.rfind([' ', '*']).unwrap() + 1;
    let (return_type, name) = head.split_at(name_start);
    let mut text = format!("{}\nEFIAPI\n{name} (\n", return_type.trim_end());
    text.push_str(&parameter_lines(name, params, directions));
    text
}

/// `RET (*NAME)(T a, U *b);` (cbindgen's function pointer type, after `typedef `) as EDK2
/// writes a function pointer type, with `EFIAPI`.
fn function_type_lines(function_type: &str, directions: &[(String, &str)]) -> String {
    let (return_type, rest) = function_type.split_once(" (*").unwrap();
    let (name, params) = rest.split_once(")(").unwrap();
    let return_type = if return_type == "void" {
        "VOID"
    } else {
        return_type
    };
    let mut text = format!("typedef\n{return_type}\n(EFIAPI *{name})(\n");
    text.push_str(&parameter_lines(
        name,
        params.trim_end_matches(");"),
        directions,
    ));
    text
}

/// The parameter lines and closing `);` of a prototype or function type, one parameter a
/// line, marked with its documented direction.
fn parameter_lines(name: &str, params: &str, directions: &[(String, &str)]) -> String {
    let mut text = String::new();
    if params == "void" {
        text.push_str("  VOID\n");
    }
    let params: Vec<&str> = if params == "void" {
        Vec::new()
    } else {
        params.split(", ").collect()
    };
    for (index, param) in params.iter().enumerate() {
        let split = param.rfind([' ', '*']).unwrap() + 1;
        let (param_type, param_name) = param.split_at(split);
        let direction = directions
            .iter()
            .find(|(documented, _)| documented == param_name)
            .unwrap_or_else(|| panic!("{name}: parameter {param_name} has no @param line"))
            .1;
        let (param_type, pointer) = match param_type.trim_end().strip_suffix('*') {
            Some(pointee) => (pointee.trim_end(), "*"),
            None => (param_type.trim_end(), ""),
        };
        let comma = if index + 1 < params.len() { "," } else { "" };
        text.push_str(&format!(
            "  {direction} {param_type}  {pointer}{param_name}{comma}\n"
        ));
    }
    text.push_str("  );\n");
    text
}

/// `NAME VALUE` of an integer constant, typed as the Rust constant is (EDK2 builds with
/// `-Werror`, where arithmetic on a plain `int` literal can overflow): `U`/`ULL` suffixes,
/// and `(UINTN)` for `usize`.
fn typed_macro(name: &str, value: &str, constants: &[(String, String)]) -> String {
    let value: u64 = value.parse().unwrap();
    let rust_type = &constants
        .iter()
        .find(|(constant, _)| constant == name)
        .unwrap_or_else(|| panic!("#define {name}: no `pub const {name}` found"))
        .1;
    let digits = if value < 4096 {
        value.to_string()
    } else {
        format!("0x{value:X}")
    };
    let suffix = if value > u64::from(u32::MAX) {
        "ULL"
    } else {
        "U"
    };
    match rust_type.as_str() {
        "u32" | "u64" => format!("#define {name} {digits}{suffix}\n"),
        "usize" => format!("#define {name} ((UINTN){digits}{suffix})\n"),
        other => panic!("#define {name}: constants of type {other} have no C form here"),
    }
}

/// `(NAME, TYPE)` of every `pub const NAME: TYPE = …;` in the crate's sources under `dir`.
fn constant_types(dir: &Path) -> Vec<(String, String)> {
    let mut constants = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            constants.extend(constant_types(&path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            for line in fs::read_to_string(&path).unwrap().lines() {
                let Some(declaration) = line.trim_start().strip_prefix("pub const ") else {
                    continue;
                };
                if let Some((name, rest)) = declaration.split_once(':')
                    && let Some((rust_type, _)) = rest.split_once('=')
                {
                    constants.push((name.trim().to_string(), rust_type.trim().to_string()));
                }
            }
        }
    }
    constants
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constants() -> Vec<(String, String)> {
        [("SMALL", "u32"), ("WIDE", "u64"), ("SIZE", "usize")]
            .iter()
            .map(|(name, ty)| (name.to_string(), ty.to_string()))
            .collect()
    }

    #[test]
    fn macros_carry_the_rust_constants_type() {
        assert_eq!(
            typed_macro("SMALL", "16", &constants()),
            "#define SMALL 16U\n"
        );
        assert_eq!(
            typed_macro("WIDE", "281474976710656", &constants()),
            "#define WIDE 0x1000000000000ULL\n"
        );
        assert_eq!(
            typed_macro("SIZE", "1073741824", &constants()),
            "#define SIZE ((UINTN)0x40000000U)\n"
        );
    }

    #[test]
    #[should_panic(expected = "no `pub const MISSING` found")]
    fn a_macro_without_a_rust_constant_is_refused() {
        typed_macro("MISSING", "1", &constants());
    }

    #[test]
    fn prototypes_are_laid_out_edk2_style_with_directions() {
        let directions = [("Size".to_string(), "IN"), ("Out".to_string(), "OUT")];
        assert_eq!(
            prototype_lines("void *pool_example(UINTN Size, UINTN *Out);", &directions),
            "void *\nEFIAPI\npool_example (\n  IN UINTN  Size,\n  OUT UINTN  *Out\n  );\n"
        );
    }

    #[test]
    #[should_panic(expected = "parameter Size has no @param line")]
    fn an_undocumented_parameter_is_refused() {
        prototype_lines("void pool_example(UINTN Size);", &[]);
    }

    #[test]
    fn doc_blocks_become_edk2_blocks() {
        let generated = "/**\n * Frees a block.\n *\n * @param[in] Size  How much.\n */\nEFIAPI void pool_free(UINTN Size);\n";
        assert_eq!(
            edk2_style(generated, &[]),
            "/**\n  Frees a block.\n\n  @param[in] Size  How much.\n**/\nvoid\nEFIAPI\npool_free (\n  IN UINTN  Size\n  );\n"
        );
    }
}
