#!/usr/bin/env python3
"""Parse every .dec, .inf and .dsc of the EDK2 package with edk2-pytool-library's parsers and
check what they return: the quick gate scripts/edk2-test.sh runs before building.

    scripts/edk2-parse.py EDK2_TREE PACKAGES_DIR

Beyond "the parser accepted it" (its parsers are lenient), it checks that every file an INF
lists exists, that every library class, PCD and GUID a module of the package uses is declared
by the package's DEC or MdePkg's, that every INF the DSC names resolves through the
workspace/PACKAGES_PATH, that the library class's header exists and that the library INF is
restricted to the module types that have Boot Services pool. Prints one line per file and
exits non-zero on any problem.
"""

import sys
from pathlib import Path

from edk2toollib.uefi.edk2.parsers.dec_parser import DecParser
from edk2toollib.uefi.edk2.parsers.dsc_parser import DscParser
from edk2toollib.uefi.edk2.parsers.inf_parser import InfParser
from edk2toollib.uefi.edk2.path_utilities import Edk2Path

LIBRARY_MODULE_TYPES = {"DXE_DRIVER", "DXE_RUNTIME_DRIVER", "UEFI_DRIVER", "UEFI_APPLICATION"}


def main() -> int:
    tree, packages = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    edk2_path = Edk2Path(str(tree), [str(packages)])
    problems: list[str] = []

    def problem(path: Path, text: str) -> None:
        problems.append(f"{path.relative_to(packages)}: {text}")

    # --- DECs: ours, and MdePkg's for what modules may also use ------------------------------
    declared_classes: set[str] = set()
    declared_pcds: set[str] = set()
    declared_guids: set[str] = set()
    decs = sorted(packages.rglob("*.dec"))
    for dec_path in [tree / "MdePkg/MdePkg.dec", *decs]:
        dec = DecParser()
        dec.SetEdk2Path(edk2_path)
        dec.ParseFile(str(dec_path))
        declared_classes |= {lc.name for lc in dec.LibraryClasses}
        declared_pcds |= {f"{p.token_space_name}.{p.name}" for p in dec.Pcds}
        declared_guids |= {g.name for g in dec.Guids + dec.Protocols + dec.PPIs}
        if dec_path.is_relative_to(packages):
            for lc in dec.LibraryClasses:
                if not (dec_path.parent / lc.path).is_file():
                    problem(dec_path, f"library class {lc.name}: header {lc.path} missing")
            print(
                f"ok   {dec_path.relative_to(packages)}: {len(dec.LibraryClasses)} library "
                f"class(es), {len(dec.Pcds)} PCD(s), {len(dec.Guids)} GUID(s)"
            )

    # --- INFs ---------------------------------------------------------------------------------
    for inf_path in sorted(packages.rglob("*.inf")):
        before = len(problems)
        inf = InfParser()
        inf.SetEdk2Path(edk2_path)
        inf.ParseFile(str(inf_path))
        for key in ("INF_VERSION", "BASE_NAME", "FILE_GUID", "MODULE_TYPE"):
            if key not in inf.Dict:
                problem(inf_path, f"[Defines] lacks {key}")
        for source in inf.Sources:
            if not (inf_path.parent / source).is_file():
                problem(inf_path, f"source {source} missing")
        for package in inf.PackagesUsed:
            if edk2_path.GetAbsolutePathOnThisSystemFromEdk2RelativePath(package) is None:
                problem(inf_path, f"package {package} not found")
        for lib in inf.LibrariesUsed:
            if lib not in declared_classes:
                problem(inf_path, f"library class {lib} is declared by no DEC")
        for pcd in inf.PcdsUsed:
            if pcd not in declared_pcds:
                problem(inf_path, f"PCD {pcd} is declared by no DEC")
        for guid in inf.ProtocolsUsed + inf.GuidsUsed + inf.PpisUsed:
            if guid not in declared_guids:
                problem(inf_path, f"GUID {guid} is declared by no DEC")
        if "LIBRARY_CLASS" in inf.Dict:
            types = set(inf.Dict["LIBRARY_CLASS"].split("|", 1)[1].split()) if "|" in inf.Dict["LIBRARY_CLASS"] else set()
            if types != LIBRARY_MODULE_TYPES:
                problem(inf_path, f"LIBRARY_CLASS module types {sorted(types)}, expected {sorted(LIBRARY_MODULE_TYPES)}")
            if inf.LibraryClass not in declared_classes:
                problem(inf_path, f"its class {inf.LibraryClass} is declared by no DEC")
        kind = inf.Dict.get("MODULE_TYPE", "?") + (f" library {inf.LibraryClass}" if inf.LibraryClass else "")
        status = "ok  " if len(problems) == before else "FAIL"
        print(f"{status} {inf_path.relative_to(packages)}: {kind}, {len(inf.Sources)} source(s)")

    # --- DSCs, for each architecture and target the test builds ------------------------------
    for dsc_path in sorted(packages.rglob("*.dsc")):
        before = len(problems)
        counts = []
        for arch, toolchain in (("X64", "GCC5"), ("X64", "CLANGPDB"), ("AARCH64", "CLANG38")):
            for target in ("DEBUG", "RELEASE"):
                dsc = DscParser()
                dsc.SetEdk2Path(edk2_path)
                dsc.SetInputVars({"TARGET": target, "ARCH": arch, "TOOL_CHAIN_TAG": toolchain})
                dsc.ParseFile(str(dsc_path))
                for inf in sorted(set(dsc.GetMods()) | set(dsc.GetLibs())):
                    if edk2_path.GetAbsolutePathOnThisSystemFromEdk2RelativePath(inf) is None:
                        problem(dsc_path, f"{arch} {target}: {inf} not found")
                counts.append(len(dsc.GetMods()))
        status = "ok  " if len(problems) == before else "FAIL"
        print(f"{status} {dsc_path.relative_to(packages)}: {max(counts)} component(s)")

    for text in dict.fromkeys(problems):
        print(f"edk2-parse: {text}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
