#!/usr/bin/env bash
# The whole test suite, as CI runs it: host tests (also under Miri), the generated header (fresh,
# and compiling in every setting), and the firmware tests booted in QEMU. Every step runs; the
# suite fails if any step did.
#
#   scripts/test.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh

scripts/setup.sh

passed=0 failed=0 failures=()
step() { # NAME COMMAND...
    local name=$1 start rc=0
    shift
    upa_log "== $name"
    start=$(date +%s)
    "$@" || rc=$?
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        upa_log "== $name: ok ($(( $(date +%s) - start )) s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        upa_log "== $name: FAILED (exit $rc, $(( $(date +%s) - start )) s)"
    fi
}


# The library's own code must carry no panic or formatting machinery (nothing in it can panic),
# on a 64-bit target and on i686-unknown-uefi (32-bit), as shipped.
no_panic_machinery() {
    local target=$1 lib work
    lib=$(release_artifact "$target") || return 1
    work=$(mktemp -d)
    local ar=llvm-ar${LLVM_SUFFIX:--19} nm=llvm-nm${LLVM_SUFFIX:--19}
    (cd "$work" && "$ar" x "$lib" "$("$ar" t "$lib" | grep '^uefi_pool_alloc-')")
    if "$nm" --demangle "$work"/*.o | grep -E 'panic|fmt|Formatter'; then
        rm -rf "$work"
        upa_log "the library object references panic or formatting code (above)"
        return 1
    fi
    rm -rf "$work"
}

# The apps the steps before built and booted in the installed firmware, booted again in current
# firmware (Debian sid's OVMF/AAVMF, fetched once into the cache; lib.sh upa_use_firmware).
current_firmware() {
    local firmware rc=0
    for firmware in current current-strictnx; do
        UPA_FIRMWARE=$firmware scripts/firmware-test.sh all || rc=1
        UPA_FIRMWARE=$firmware scripts/rust-firmware-test.sh all || rc=1
    done
    return "$rc"
}

# The C and Rust test apps and the example in U-Boot's UEFI, every architecture UEFI apps are
# built for (RISC-V 64 is the EDK2 step's).
uboot_firmware() {
    local arch rc=0
    for arch in aa64 x64 ia32; do
        UPA_FIRMWARE=uboot scripts/firmware-test.sh "$arch" || rc=1
        UPA_FIRMWARE=uboot scripts/rust-firmware-test.sh "$arch" || rc=1
    done
    return "$rc"
}

# IA32 (32-bit) in OVMF IA32: the C test app, linked with the shipped IA32 .lib, the Rust test
# app and the example.
ia32_firmware() {
    local rc=0
    scripts/firmware-test.sh ia32 || rc=1
    scripts/rust-firmware-test.sh ia32 || rc=1
    return "$rc"
}

example=(--manifest-path examples/uefi-app/Cargo.toml)
step "format" cargo fmt --all -- --check
step "format: examples/uefi-app" cargo fmt "${example[@]}" -- --check
step "clippy" cargo clippy --quiet --workspace --all-targets -- -D warnings
step "clippy: examples/uefi-app (a dependent crate, on the uefi crate)" env CARGO_TARGET_DIR=target/example \
    cargo clippy --quiet --locked "${example[@]}" --target x86_64-unknown-uefi -- -D warnings
step "crate: cargo package with its verification build" cargo package --quiet --allow-dirty -p uefi-pool-alloc
step "header is fresh" cargo xtask header --check
step "rustdoc" env RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps -p uefi-pool-alloc
step "host tests" cargo test --workspace
step "host tests under Miri" cargo +nightly miri test -p uefi-pool-alloc
step "host tests under Miri, 32-bit (i686)" cargo +nightly miri test -p uefi-pool-alloc --target i686-unknown-linux-gnu
step "header compiles (EDK2, gnu-efi, standalone; C99, C11, C++)" scripts/check-header.sh include/uefi_pool_alloc.h
step "no panic machinery in the library" no_panic_machinery x86_64-unknown-uefi
step "32-bit: the library builds for i686-unknown-uefi, without panic machinery" no_panic_machinery i686-unknown-uefi
step "release artifacts for 7 targets, symbol hygiene, no x18 / SSE / red zone / gp" scripts/release.sh
step "firmware: C test app in OVMF (x64) and AAVMF (AArch64), COFF .lib" scripts/firmware-test.sh all
step "firmware: the same C test app the gnu-efi way (x64 ELF .o)" scripts/gnu-efi-test.sh
step "firmware: Rust app with PoolAllocator, C + Rust in one image, the uefi-crate example (x64, AArch64)" scripts/rust-firmware-test.sh all
step "firmware: the C and Rust apps in U-Boot's UEFI (AArch64, x86_64, x86)" uboot_firmware
step "firmware: IA32 (32-bit): the C and Rust test apps and the uefi-crate example in OVMF IA32" ia32_firmware
step "firmware: the C and Rust apps in current OVMF/AAVMF and their strict-NX Secure Boot builds" current_firmware
step "EDK2 package: prebuilts and header copy match the sources" scripts/edk2-refresh.sh --check
step "EDK2 package: EDK2 2022.11 and current EDK2, every toolchain, DEBUG+RELEASE, booted" scripts/edk2-test.sh
step "shellcheck" shellcheck -x scripts/*.sh

if [ "$failed" -gt 0 ]; then
    upa_log "failed steps: ${failures[*]}"
fi
echo "test suite: $passed passed, $failed failed"
[ "$failed" = 0 ]
