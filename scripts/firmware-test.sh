#!/usr/bin/env bash
# Build the C firmware test app (tests/uefi/c) against the shipped C static library and boot
# it in real firmware under QEMU/TCG: OVMF for x64, AAVMF for aa64, OVMF IA32 for ia32 (U-Boot
# for each with UPA_FIRMWARE=uboot). The app prints one line per check on the serial port and
# ends with "N passed, M failed"; this script fails unless M == 0.
#
#   scripts/firmware-test.sh [x64|aa64|all|ia32]      (default: x64; all: x64 and aa64)
#
# Outputs, per ARCH, under build/uefi/ARCH/: test_app.efi, test_app.log (the serial log;
# test_app.FIRMWARE.log in firmware other than the installed one), test_app.map (lld-link's map,
# from which the library's size in the image is printed).
# Environment: FIRMWARE_TEST_TIMEOUT (seconds per boot, default 300), CLANG (clang-19),
# LLD_LINK (lld-link-19), plus lib.sh's UPA_FIRMWARE (installed, current, current-strictnx, uboot)
# and QEMU_* / OVMF_* / AAVMF_* / UBOOT_* overrides.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh

: "${FIRMWARE_TEST_TIMEOUT:=300}"

# Sum of the input sections from the library's archive in an lld-link /lldmap: file, per output
# section: what the library adds to the image. Our own objects are the *.obj inputs.
library_size() {
    # Plain POSIX awk (Debian's default is mawk: no strtonum).
    awk 'function hex(s,    i, v) {
             v = 0
             for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", tolower(substr(s, i, 1))) - 1
             return v
         }
         $4 ~ /:\(/ && $4 !~ /\.obj:\(/ {
             sect = $4; sub(/.*:\(/, "", sect); sub(/\).*/, "", sect); sub(/\$.*/, "", sect)
             size[sect] += hex($2); total += hex($2)
             if ($4 ~ /^compiler_builtins-/) builtins += hex($2)
         }
         END {
             line = ""
             for (s in size) line = line sprintf("%s%s %d", line == "" ? "" : ", ", s, size[s])
             printf "%d bytes (%s; compiler_builtins %d of them)\n", total, line, builtins
         }' "$1"
}

run_arch() {
    local arch=$1 rust_target
    rust_target=$(uefi_rust_target "$arch") || return 2
    local out=build/uefi/$arch lib
    local log=$out/test_app$UPA_LOG_TAG.log efi=$out/test_app.efi map=$out/test_app.map

    # The library as shipped (scripts/release.sh: symbol-clean archives).
    lib=$(release_artifact "$rust_target") || return 1

    # One build for every firmware: U-Boot's x86_64 port leaves SSE off (the first xmm
    # instruction is a #UD, then a triple fault). The library uses no SSE; the IA32 code is the
    # same either way.
    local -a cflags=()
    case $arch in x64|ia32) cflags=(-mgeneral-regs-only) ;; esac
    upa_log "firmware-test[$arch]: compiling and linking $efi"
    uefi_c_app "$arch" "$efi" "$lib" "${cflags[@]}" -- tests/uefi/c/*.c
    upa_log "firmware-test[$arch]: image $(stat -c %s "$efi") bytes; the library adds $(library_size "$map")"
    boot_and_check firmware-test "$arch" "$efi" "$log" "$FIRMWARE_TEST_TIMEOUT"
}

for_arches run_arch "${1:-x64}"
