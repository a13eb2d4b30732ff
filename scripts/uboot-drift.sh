#!/usr/bin/env bash
# Where U-Boot's missing conventional pages go: the C test app's random phase, booted RUNS times
# in U-Boot (AArch64) for each thing its 1 ms timer's notify function can do (test_random.c,
# UPA_TICK_MODE): allocate and free through the library (the test), nothing (count only), or
# call AllocatePool/FreePool/AllocatePages/FreePages itself without the library. For each, it
# prints how many runs ended with conventional pages that no memory type holds, and how many.
#
#   scripts/uboot-drift.sh [RUNS]      (default 12; about 5 s a boot)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh
upa_use_firmware uboot

runs=${1:-12}
lib=$(release_artifact aarch64-unknown-uefi)
out=build/uefi/aa64/uboot-drift
mkdir -p "$out"
for mode in 0:library 1:nothing 2:firmware-calls; do
    efi=$out/mode${mode%%:*}.efi
    uefi_c_app aa64 "$efi" "$lib" "-DUPA_TICK_MODE=${mode%%:*}" -- tests/uefi/c/*.c
    lossy=0 lost=0
    for i in $(seq "$runs"); do
        log=$out/mode${mode%%:*}.$i.log
        boot_efi aa64 "$efi" "$log" 300 || upa_log "uboot-drift: boot $i of mode ${mode#*:} failed (see $log)"
        n=$(tr -d '\r' < "$log" | sed -n 's/^info: random: U-Boot.s memory map lost \([0-9]*\) .*/\1/p')
        if [ -n "$n" ]; then lossy=$((lossy + 1)) lost=$((lost + n)); fi
    done
    printf 'notify function: %-15s %2d of %d runs lost conventional pages from the map (%d pages)\n' \
        "${mode#*:}" "$lossy" "$runs" "$lost"
done
