//! Regenerates include/uefi_pool_alloc.h from src/ffi.rs with cbindgen (nothing else).
//!
//! cbindgen only emits `extern "C"` functions, while every export is `extern "efiapi"` (the
//! Microsoft x64 convention on every target, which `EFIAPI` names in the header). So cbindgen
//! reads a copy of the sources in which the export module's ABI string is rewritten; the
//! `EFIAPI` prefix in cbindgen.toml restores the convention in the header.

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=include/prologue.h");
    #[cfg(feature = "header")]
    header::generate();
}

#[cfg(feature = "header")]
mod header {
    use std::path::{Path, PathBuf};
    use std::{env, fs};

    pub fn generate() {
        let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
        let copy = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("cbindgen-crate");
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
        let header = edk2_style(&String::from_utf8(header).unwrap());
        let target = root.join("include/uefi_pool_alloc.h");
        if fs::read(&target).ok().as_deref() != Some(header.as_bytes()) {
            fs::write(&target, header).unwrap();
        }
    }

    /// Lays cbindgen's output out as EDK2's MdePkg headers are: `/** … **/` comment blocks
    /// without leading stars, prototypes with the return type, `EFIAPI` and the name on their own
    /// lines and each parameter marked `IN`/`OUT` as its `@param[in]`/`@param[out]` says, and
    /// EDK2's `UINT64` for `uint64_t` (EDK2 has no `<stdint.h>`).
    fn edk2_style(generated: &str) -> String {
        let mut out = String::new();
        let mut directions: Vec<(String, &str)> = Vec::new();
        let mut in_doc = false;
        for line in generated.replace("uint64_t", "UINT64").lines() {
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
}
