#!/usr/bin/env bash
# Build the release: the C static library for seven targets, each exporting nothing but the API,
# with the header, manifest.txt/.json and, when its prebuilts match the sources, the EDK2
# package. The work is `cargo xtask release` (xtask/src/release.rs: builds, object surgery,
# manifest; then the symbol checks of xtask/src/symbols.rs unless SKIP_CHECK=1).
#
#   scripts/release.sh          -> RELEASE_DIR (default build/release)
#
#   lib/{x86_64,aarch64,i686}-unknown-uefi/uefi_pool_alloc.lib       COFF archives (lld-link,
#                                           EDK2 CLANGPDB/MSFT)
#   lib/{x86_64,aarch64,i686}-unknown-none/uefi_pool_alloc.o         ELF objects, prelinked
#   lib/riscv64imac-unknown-none-elf/uefi_pool_alloc.o               (EDK2 GCC family, gnu-efi)
#   include/uefi_pool_alloc.h, manifest.txt, manifest.json, edk2-pkg/UefiPoolAllocPkg/
#
# Environment: RELEASE_DIR, CARGO_TARGET_DIR (target/release-pkg), NIGHTLY, LLVM_SUFFIX,
# SKIP_CHECK (see cargo xtask help).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
release_dir=${RELEASE_DIR:-build/release}

cargo xtask release

# The EDK2 package, self-contained (the test app's shared sources copied, not linked), if its
# prebuilts are the ones these sources make; edk2-refresh.sh runs this script before it copies
# new prebuilts in, so a stale package is left out with a note rather than an error.
if scripts/edk2-refresh.sh --check >/dev/null 2>&1; then
    mkdir -p "$release_dir/edk2-pkg"
    cp -rL edk2-pkg/UefiPoolAllocPkg "$release_dir/edk2-pkg/"
else
    echo "release: edk2-pkg left out: its prebuilts are stale (scripts/edk2-refresh.sh refreshes them)" >&2
fi
