#!/usr/bin/env bash
# Refresh the EDK2 package's prebuilt Rust library from the Rust sources, or check that it is
# fresh. The work is `cargo xtask edk2-prebuilts` (xtask/src/edk2.rs: the identity member and
# stamp that make an EDK2 build link only prebuilts of one refresh).
#
#   scripts/edk2-refresh.sh            run scripts/release.sh, then copy its artifacts (one per
#                                      target: X64, AARCH64, IA32 .lib; X64, AARCH64, RISCV64 .o)
#                                      and the header into edk2-pkg/UefiPoolAllocPkg
#   scripts/edk2-refresh.sh --no-build copy what build/release/ holds now (no release run)
#   scripts/edk2-refresh.sh --check    change nothing; fail unless the package's prebuilts, its
#                                      stamp and its copy of the header match the sources
#
# Environment: RELEASE_DIR (default build/release), LLVM_SUFFIX, CLANG.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case ${1:-} in
    '') scripts/release.sh >&2 && cargo xtask edk2-prebuilts ;;
    --no-build) cargo xtask edk2-prebuilts ;;
    --check) cargo xtask edk2-prebuilts --check ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *) echo "edk2-refresh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac
