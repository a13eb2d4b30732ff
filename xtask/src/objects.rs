//! Reading objects and archives (ELF and COFF) with the `object` crate: members, global
//! symbols, section sizes and relocation types.

use object::read::archive::ArchiveFile;
use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags, SectionFlags, SectionKind};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

pub type Error = String;

/// One object file: a member of an archive or a file of its own.
pub struct Member {
    pub name: String,
    pub data: Vec<u8>,
}

/// The members of an archive, or the file itself as one member when it is not an archive.
pub fn members(path: &Path) -> Result<Vec<Member>, Error> {
    let data = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let Ok(archive) = ArchiveFile::parse(&*data) else {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        return Ok(vec![Member { name, data }]);
    };
    let mut members = Vec::new();
    for member in archive.members() {
        let member = member.map_err(|e| format!("{}: {e}", path.display()))?;
        let name = String::from_utf8_lossy(member.name()).into_owned();
        // Import/export tables are not objects; nothing here makes them.
        let data = member
            .data(&*data)
            .map_err(|e| format!("{}({name}): {e}", path.display()))?;
        members.push(Member {
            name,
            data: data.to_vec(),
        });
    }
    Ok(members)
}

/// The external names of one object: what it defines for others and what it needs.
#[derive(Default, Clone, Debug)]
pub struct Symbols {
    pub defined: BTreeSet<String>,
    pub undefined: BTreeSet<String>,
}

fn parse(member: &Member) -> Result<object::File<'_>, Error> {
    object::File::parse(&*member.data).map_err(|e| format!("{}: {e}", member.name))
}

/// Global definitions and undefined references. A COFF weak external (the compiler_builtins
/// way of defining `memcpy`) counts as a definition: it carries its default with it.
pub fn symbols(member: &Member) -> Result<Symbols, Error> {
    let file = parse(member)?;
    let mut out = Symbols::default();
    for symbol in file.symbols() {
        let Ok(name) = symbol.name() else { continue };
        if name.is_empty() || !symbol.is_global() {
            continue;
        }
        let coff_weak = symbol.is_weak() && file.format() == object::BinaryFormat::Coff;
        if symbol.is_undefined() && !coff_weak {
            out.undefined.insert(name.to_string());
        } else {
            out.defined.insert(name.to_string());
        }
    }
    Ok(out)
}

/// Loaded bytes by kind; debug, metadata and discardable sections do not count.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Sizes {
    pub text: u64,
    pub rodata: u64,
    pub data: u64,
    pub bss: u64,
}

pub fn sizes(members: &[Member]) -> Result<Sizes, Error> {
    let mut sizes = Sizes::default();
    for member in members {
        let file = parse(member)?;
        for section in file.sections() {
            let counter = match section.kind() {
                SectionKind::Text => &mut sizes.text,
                SectionKind::ReadOnlyData
                | SectionKind::ReadOnlyString
                | SectionKind::ReadOnlyDataWithRel => &mut sizes.rodata,
                SectionKind::Data => &mut sizes.data,
                SectionKind::UninitializedData | SectionKind::Common => &mut sizes.bss,
                _ => continue,
            };
            if discarded(section.flags()) {
                continue;
            }
            *counter += section.size();
        }
    }
    Ok(sizes)
}

/// An ELF section the loader does not place, or a COFF section the linker drops.
fn discarded(flags: SectionFlags) -> bool {
    match flags {
        SectionFlags::Elf { sh_flags } => sh_flags & u64::from(object::elf::SHF_ALLOC) == 0,
        SectionFlags::Coff { characteristics } => {
            characteristics
                & (object::pe::IMAGE_SCN_MEM_DISCARDABLE
                    | object::pe::IMAGE_SCN_LNK_INFO
                    | object::pe::IMAGE_SCN_LNK_REMOVE)
                != 0
        }
        _ => false,
    }
}

/// Every section name of every member.
pub fn section_names(members: &[Member]) -> Result<BTreeSet<String>, Error> {
    let mut names = BTreeSet::new();
    for member in members {
        for section in parse(member)?.sections() {
            names.insert(section.name().unwrap_or_default().to_string());
        }
    }
    Ok(names)
}

/// The linker directives of a COFF object (its `.drectve` section), one per word.
pub fn directives(member: &Member) -> Result<Vec<String>, Error> {
    let file = parse(member)?;
    let Some(section) = file.section_by_name(".drectve") else {
        return Ok(Vec::new());
    };
    let data = section
        .data()
        .map_err(|e| format!("{}: .drectve: {e}", member.name))?;
    Ok(String::from_utf8_lossy(data)
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// The ELF relocation types (`r_type`) used by an object.
pub fn elf_relocation_types(member: &Member) -> Result<BTreeSet<u32>, Error> {
    let file = parse(member)?;
    let mut types = BTreeSet::new();
    for section in file.sections() {
        for (_, relocation) in section.relocations() {
            if let RelocationFlags::Elf { r_type } = relocation.flags() {
                types.insert(r_type);
            }
        }
    }
    Ok(types)
}

/// Whether an ELF file is a relocatable object (ET_REL).
pub fn is_relocatable(member: &Member) -> Result<bool, Error> {
    Ok(parse(member)?.kind() == object::ObjectKind::Relocatable)
}
