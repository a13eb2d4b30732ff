//! The release targets: one table that the release, the symbol checks and the manifest read.

/// How an artifact is packaged for its consumers' linkers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// A COFF archive of the members the API reaches (lld-link, MSVC link, EDK2 CLANGPDB).
    Coff,
    /// One prelinked ELF relocatable object (ld, ld.lld; EDK2 GCC5/GCC/CLANGDWARF, gnu-efi).
    Elf,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Machine {
    X86_64,
    Aarch64,
    I386,
    Riscv64,
}

/// How the Rust toolchain builds a target.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Toolchain {
    /// Stable, with rustup's prebuilt core and compiler_builtins.
    Stable,
    /// Nightly building core and compiler_builtins (`-Zbuild-std`).
    BuildStd,
}

pub struct Target {
    /// The target's name: rustc's triple, or the stem of `spec`.
    pub triple: &'static str,
    /// A custom target specification (JSON, relative to the repository) where rustc has no
    /// built-in target.
    pub spec: Option<&'static str>,
    pub format: Format,
    pub machine: Machine,
    pub abi: &'static str,
    pub toolchain: Toolchain,
    /// The EDK2 architecture whose prebuilt this artifact is (`Prebuilt/<ARCH>/`).
    pub edk2_arch: &'static str,
    /// RUSTFLAGS for this target only (with `BuildStd` they reach core and compiler_builtins).
    pub rustflags: &'static str,
    /// clang's target and flags for a C consumer of the artifact (the hazard test).
    pub c_target: &'static str,
    pub c_flags: &'static [&'static str],
    /// ELF: consumers link position-independent images (`-pie`); else statically, at a fixed
    /// base that GenFw relocates.
    pub pie: bool,
}

pub const TARGETS: &[Target] = &[
    Target {
        triple: "x86_64-unknown-uefi",
        spec: None,
        edk2_arch: "X64",
        format: Format::Coff,
        machine: Machine::X86_64,
        abi: "EFIAPI = Microsoft x64 (ms_abi); soft-float, no red zone",
        toolchain: Toolchain::Stable,
        rustflags: "",
        c_target: "x86_64-unknown-windows",
        c_flags: &[],
        pie: false,
    },
    Target {
        triple: "aarch64-unknown-uefi",
        spec: None,
        edk2_arch: "AARCH64",
        format: Format::Coff,
        machine: Machine::Aarch64,
        abi: "EFIAPI = AAPCS64; x18 untouched",
        toolchain: Toolchain::Stable,
        rustflags: "",
        c_target: "aarch64-unknown-windows",
        c_flags: &[],
        pie: false,
    },
    Target {
        // No prebuilt core for this target; EDK2's IA32 EFIAPI is cdecl, like Rust's "efiapi".
        triple: "i686-unknown-uefi",
        spec: None,
        edk2_arch: "IA32",
        format: Format::Coff,
        machine: Machine::I386,
        abi: "EFIAPI = cdecl; soft-float",
        toolchain: Toolchain::BuildStd,
        rustflags: "",
        // The MSVC environment would call __aullrem for 64-bit division, which nobody provides.
        c_target: "i686-unknown-windows-gnu",
        c_flags: &[],
        pie: false,
    },
    Target {
        triple: "x86_64-unknown-none",
        spec: None,
        edk2_arch: "X64",
        format: Format::Elf,
        machine: Machine::X86_64,
        abi: "EFIAPI = Microsoft x64 (ms_abi); soft-float, no red zone",
        toolchain: Toolchain::Stable,
        rustflags: "",
        c_target: "x86_64-unknown-none-elf",
        c_flags: &["-mno-red-zone", "-fPIC"],
        pie: true,
    },
    Target {
        // UEFI reserves x18, which rustup's prebuilt compiler_builtins of this target uses.
        triple: "aarch64-unknown-none",
        spec: None,
        edk2_arch: "AARCH64",
        format: Format::Elf,
        machine: Machine::Aarch64,
        abi: "EFIAPI = AAPCS64; x18 untouched",
        toolchain: Toolchain::BuildStd,
        rustflags: "-Zfixed-x18",
        c_target: "aarch64-unknown-none-elf",
        c_flags: &["-ffixed-x18", "-fPIC"],
        pie: true,
    },
    Target {
        // Soft-float (lp64), not riscv64gc's lp64d: EDK2's RISCV64 toolchains and U-Boot build
        // with -mabi=lp64, and linkers refuse to mix float ABIs. It also keeps floating-point
        // instructions out, which firmware need not have enabled.
        triple: "riscv64imac-unknown-none-elf",
        spec: None,
        edk2_arch: "RISCV64",
        format: Format::Elf,
        machine: Machine::Riscv64,
        abi: "EFIAPI = LP64 (soft-float), RV64IMAC",
        toolchain: Toolchain::Stable,
        // Position-independent like the other ELF objects: the static model puts absolute
        // jump-table addresses in read-only data, which a -pie link refuses.
        rustflags: "-Crelocation-model=pie",
        c_target: "riscv64-unknown-elf",
        c_flags: &["-march=rv64imac", "-mabi=lp64", "-mcmodel=medany", "-fPIC"],
        pie: true,
    },
    Target {
        // rustc has no freestanding 32-bit x86 ELF target; this spec is i686-unknown-uefi's code
        // generation (cdecl, soft-float, 64-bit integers 8-aligned as EDK2's -malign-double
        // and the UEFI spec have them) in ELF: LLVM's i686-windows-gnu-elf, whose 64-bit
        // division calls __udivdi3 as GCC's does, not MSVC's _aulldiv. EDK2 links IA32 images
        // -no-pie and GenFw converts only R_386_32 and R_386_PC32, so the code is static.
        triple: "i686-unknown-none",
        spec: Some("capi/targets/i686-unknown-none.json"),
        edk2_arch: "IA32",
        format: Format::Elf,
        machine: Machine::I386,
        abi: "EFIAPI = cdecl; soft-float, static (R_386_32, R_386_PC32)",
        toolchain: Toolchain::BuildStd,
        rustflags: "",
        c_target: "i686-unknown-none-elf",
        c_flags: &["-malign-double", "-fno-pic"],
        pie: false,
    },
];

impl Target {
    #[cfg(test)]
    pub fn by_triple(triple: &str) -> Option<&'static Target> {
        TARGETS.iter().find(|t| t.triple == triple)
    }

    /// The artifact's file name under `lib/TRIPLE/`.
    pub fn artifact(&self) -> &'static str {
        match self.format {
            Format::Coff => "uefi_pool_alloc.lib",
            Format::Elf => "uefi_pool_alloc.o",
        }
    }

    pub fn format_name(&self) -> &'static str {
        match self.format {
            Format::Coff => "COFF",
            Format::Elf => "ELF",
        }
    }

    pub fn machine_name(&self) -> &'static str {
        match self.machine {
            Machine::X86_64 => "x86_64",
            Machine::Aarch64 => "aarch64",
            Machine::I386 => "i386",
            Machine::Riscv64 => "riscv64",
        }
    }

    /// What cargo's `--target` takes: the triple, or the path of the spec under `root`.
    pub fn cargo_target(&self, root: &std::path::Path) -> String {
        match self.spec {
            Some(spec) => root.join(spec).display().to_string(),
            None => self.triple.to_string(),
        }
    }

    /// Whether C names carry a leading underscore: 32-bit x86 COFF's decoration.
    fn decorates(&self) -> bool {
        (self.machine, self.format) == (Machine::I386, Format::Coff)
    }

    /// The object-file name of the C name `name`.
    pub fn decorate(&self, name: &str) -> String {
        if self.decorates() {
            format!("_{name}")
        } else {
            name.to_string()
        }
    }

    /// The C name of an object-file name (inverse of `decorate`, where it has one).
    pub fn undecorate<'a>(&self, symbol: &'a str) -> &'a str {
        if self.decorates() {
            symbol.strip_prefix('_').unwrap_or(symbol)
        } else {
            symbol
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_targets_two_formats_each_machine_once_per_format() {
        assert_eq!(TARGETS.len(), 7);
        for format in [Format::Coff, Format::Elf] {
            let machines: Vec<Machine> = TARGETS
                .iter()
                .filter(|t| t.format == format)
                .map(|t| t.machine)
                .collect();
            let mut unique = machines.clone();
            unique.dedup();
            assert_eq!(machines, unique, "{format:?}");
        }
    }

    #[test]
    fn only_i386_coff_decorates() {
        let ia32 = Target::by_triple("i686-unknown-uefi").unwrap();
        assert_eq!(ia32.decorate("pool_init"), "_pool_init");
        assert_eq!(
            ia32.undecorate("___uefi_pool_alloc_memcpy"),
            "__uefi_pool_alloc_memcpy"
        );
        let ia32_elf = Target::by_triple("i686-unknown-none").unwrap();
        assert_eq!(ia32_elf.decorate("pool_init"), "pool_init");
        let x64 = Target::by_triple("x86_64-unknown-uefi").unwrap();
        assert_eq!(x64.decorate("pool_init"), "pool_init");
        assert_eq!(x64.undecorate("_x"), "_x");
    }
}
