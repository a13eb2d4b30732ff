#!/usr/bin/env python3
"""How many bytes UefiPoolAllocLib (the prebuilt Rust code and its C shim) occupies in an EDK2
image, from the link map BaseTools writes next to the module (BASE_NAME.map).

    scripts/edk2-mapsize.py MAP

Reads the three map formats of the supported toolchains: GNU ld (GCC5; CLANG38, through the
LLVM gold plugin), ld.lld (CLANGDWARF) and lld-link (CLANGPDB). Counts the input
sections placed in the image's loaded output sections (code, data, unwind tables; not debug
info) that come from the library: in ELF maps, the members of UefiPoolAllocLib.lib; in COFF
maps, the Rust objects (*.o members: the crate and compiler_builtins), the identity object and
the shim's UefiPoolAllocLib.obj. Under GCC's LTO the shim's code is merged into ltrans objects
and is not counted (it is ~200 bytes). Prints "BYTES".
"""

import re
import sys

NOT_LOADED = re.compile(r"^\.(debug|comment|note|symtab|strtab|shstrtab|llvm|gnu_debug)|^/DISCARD/")


def ours_elf(name: str) -> bool:
    return "UefiPoolAllocLib.lib(" in name


def ours_coff(name: str) -> bool:
    member = name.rsplit(":(", 1)[0]
    return (
        member.endswith(".o")
        or member.endswith("UefiPoolAllocLib.obj")
        or "UefiPoolAllocPrebuiltId" in member
    )


def lld_map(lines: list[str], coff: bool) -> int:
    # ELF: "VMA LMA Size Align Out/In/Symbol", COFF: "Address Size Align Out/In/Symbol"; the
    # last column is indented by 0 (output section), 8 (input section) or 16 (symbol).
    row = re.compile(
        r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+(\d+) (.*)$" if coff else r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (.*)$"
    )
    size_col = re.compile(r"^[0-9a-f]+ ([0-9a-f]+)") if coff else None
    total, loaded = 0, False
    for line in lines[1:]:
        match = row.match(line)
        if not match:
            continue
        rest = match.group(3)
        size = int(size_col.match(line.strip()).group(1), 16) if coff else int(match.group(2), 16)
        indent = len(rest) - len(rest.lstrip(" "))
        text = rest.strip()
        if indent == 0:
            # Sections at address 0 are not loaded (relocations kept by --emit-relocs, debug).
            loaded = bool(text) and int(match.group(1), 16) != 0 and not NOT_LOADED.search(text)
        elif indent == 8 and loaded and (ours_coff(text) if coff else ours_elf(text)):
            total += size
    return total


def gnu_map(lines: list[str]) -> int:
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("Linker script and memory map"))
    except StopIteration:
        return 0
    out_section = re.compile(r"^(\S+)(?:\s+0x([0-9a-f]+)\s+0x[0-9a-f]+)?")
    inputs = re.compile(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
    total, loaded = 0, False
    for line in lines[start + 1:]:
        if line and not line[0].isspace():
            match = out_section.match(line)
            loaded = (
                bool(match)
                and match.group(1).startswith(".")
                and int(match.group(2) or "0", 16) != 0
                and not NOT_LOADED.search(match.group(1))
            )
            continue
        match = inputs.match(line)
        if match and loaded and ours_elf(match.group(4)):
            total += int(match.group(3), 16)
    return total


def main() -> int:
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    head = lines[0] if lines else ""
    if head.split()[:3] == ["VMA", "LMA", "Size"]:
        total = lld_map(lines, coff=False)
    elif head.split()[:3] == ["Address", "Size", "Align"]:
        total = lld_map(lines, coff=True)
    else:
        total = gnu_map(lines)
    print(total)
    return 0 if total > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
