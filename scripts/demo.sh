#!/usr/bin/env bash
# The main job: build the library and its header, build the C demo app against them, boot it in
# OVMF under QEMU and print its report (and the benchmark summary, when one was measured).
#
#   scripts/demo.sh [x64|aa64]      (default: x64)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh

scripts/setup.sh
arch=${1:-x64}
rust_target=$(uefi_rust_target "$arch")
out=build/demo/$arch
mkdir -p "$out"

upa_log "demo: building the library ($rust_target)"
lib=$(release_artifact "$rust_target")

upa_log "demo: building $out/demo.efi"
uefi_c_app "$arch" "$out/demo.efi" "$lib" -- demo/demo.c tests/uefi/c/report.c tests/uefi/c/util.c

upa_log "demo: booting it in firmware"
boot_efi "$arch" "$out/demo.efi" "$out/demo.log" 120
sed -n '/uefi-pool-alloc demo/,$p' "$out/demo.log" | tr -d '\r'
grep -q '^demo done' <(tr -d '\r' < "$out/demo.log")
if [ -f docs/benchmarks-summary.txt ]; then
    echo
    cat docs/benchmarks-summary.txt
fi
