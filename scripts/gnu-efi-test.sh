#!/usr/bin/env bash
# The C firmware test app (tests/uefi/c/*.c, the sources scripts/firmware-test.sh builds with
# clang for PE/COFF) built the gnu-efi way against the ELF release artifact, and booted in OVMF:
#
#   gcc -fpic -fshort-wchar -mno-red-zone ... (ELF objects, System V default, EFIAPI = ms_abi)
#   ld -shared -Bsymbolic -nostdlib -znocombreloc -T tests/uefi/gnu-efi/elf_x86_64_efi.lds
#      /usr/lib/crt0-efi-x86_64.o <objects> build/release/lib/x86_64-unknown-none/uefi_pool_alloc.o
#      -lgnuefi
#   objcopy -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela -j .reloc
#      --target efi-app-x86_64 test_app.so test_app.efi
#
#   scripts/gnu-efi-test.sh
#
# The build fails if any loadable section could be left out of the image: the link uses
# --orphan-handling=error (every input section must be placed by the linker script), discarded
# input sections other than unwind tables/notes fail, every allocated output section must be one
# objcopy copies (or a dynamic-linking table nothing reads at run time), and the only dynamic
# relocations may be R_X86_64_RELATIVE (all gnu-efi's _relocate applies). It also links with
# gnu-efi's stock script to show what that would drop. Then it boots, requires "N passed,
# 0 failed" and N equal to the clang x64 build's N (from build/uefi/x64/test_app.log, rerunning
# scripts/firmware-test.sh x64 when that log is missing or older than the app's sources).
#
# Outputs under build/uefi/x64-gnu-efi/: test_app.so, test_app.efi, test_app.map (ld -Map),
# test_app.log (serial log). The artifact comes from build/release (scripts/release.sh runs
# first when it is missing or older than the library's sources).
# Environment: CC (gcc), LD (ld), OBJCOPY (objcopy), GNU_EFI_LIB (/usr/lib), RELEASE_DIR,
# FIRMWARE_TEST_TIMEOUT (300), plus lib.sh's QEMU_* / OVMF_* overrides.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh

: "${CC:=gcc}"
: "${LD:=ld}"
: "${OBJCOPY:=objcopy}"
: "${GNU_EFI_LIB:=/usr/lib}"
: "${RELEASE_DIR:=build/release}"
: "${FIRMWARE_TEST_TIMEOUT:=300}"

log() { upa_log "gnu-efi-test: $*"; }
die() { log "error: $*"; exit 1; }

out=build/uefi/x64-gnu-efi
so=$out/test_app.so efi=$out/test_app.efi map=$out/test_app.map serial=$out/test_app.log
lds=tests/uefi/gnu-efi/elf_x86_64_efi.lds
crt0=$GNU_EFI_LIB/crt0-efi-x86_64.o

header_dir=$RELEASE_DIR/include
for f in "$crt0" "$GNU_EFI_LIB/libgnuefi.a" "$lds"; do
    [ -r "$f" ] || die "$f missing (gnu-efi: scripts/setup.sh installs it)"
done

# --- the library artifact -----------------------------------------------------------------------
artifact=$(release_artifact x86_64-unknown-none)

# --- compile ------------------------------------------------------------------------------------
# gnu-efi's x86_64 flags (its Make.defaults) plus the app's own: C11, -O2, all warnings as
# errors, as in firmware-test.sh. EFIAPI is ms_abi through uefi_pool_alloc.h's prologue, so every
# firmware and library call uses the UEFI convention; only efi_main is System V (entry.c).
cflags=(-fpic -fshort-wchar -mno-red-zone -mno-avx -ffreestanding -fno-stack-protector
        -fno-stack-check -fno-strict-aliasing -fno-merge-all-constants -maccumulate-outgoing-args
        -std=c11 -O2 -Wall -Wextra -Werror -I"$header_dir" -Itests/uefi/c
        # gcc only: the app prints an empty line with say("").
        -Wno-format-zero-length)
mkdir -p "$out/obj"
rm -f "$out"/obj/*.o
objs=()
for src in tests/uefi/c/*.c tests/uefi/gnu-efi/*.c; do
    obj=$out/obj/$(basename "${src%.c}").o
    extra=()
    # The app's EFIAPI entry point, reached through entry.c's System V efi_main.
    [ "$src" = tests/uefi/c/test_app.c ] && extra=(-Defi_main=test_app_efi_main)
    "$CC" "${cflags[@]}" "${extra[@]}" -c "$src" -o "$obj"
    objs+=("$obj")
done
log "compiled ${#objs[@]} objects with $("$CC" --version | head -n 1)"

# --- link ---------------------------------------------------------------------------------------
ldflags=(-nostdlib -znocombreloc -shared -Bsymbolic --no-undefined --no-warn-rwx-segments
         -L "$GNU_EFI_LIB")
link() {  # link SCRIPT OUTPUT MAP [extra ld flags]
    local script=$1 output=$2 mapfile=$3
    shift 3
    "$LD" "${ldflags[@]}" -T "$script" -Map "$mapfile" "$@" -o "$output" \
        "$crt0" "${objs[@]}" "$artifact" -lgnuefi
}

# Allocated, non-empty output sections of a linked .so that the objcopy below would not copy,
# except the symbol lookup tables of dynamic linking (nothing reads them at run time: _relocate
# uses .dynamic and .rela only). Prints "name:size" per section.
keep=(.text .sdata .data .dynamic .dynsym .rel .rela .reloc)
not_needed=(.hash .gnu.hash .dynstr .gnu.version .gnu.version_d .gnu.version_r)
dropped_sections() {
    readelf -SW "$1" | awk '/^ *\[ *[0-9]+\]/ { sub(/^ *\[ *[0-9]+\] */, ""); if ($7 ~ /A/ && $5 !~ /^0+$/) print $1 ":" $5 }' |
        grep -vE "^($(printf '%s|' "${keep[@]}" "${not_needed[@]}" | sed 's/\./\\./g; s/|$//')):" || true
}

# For contrast: gnu-efi's stock script, where ld places the sections it does not name (orphans)
# by itself and objcopy's -j list then leaves them out.
stock=/usr/lib/elf_x86_64_efi.lds
if [ -r "$stock" ] && link "$stock" "$out/stock.so" "$out/stock.map" >/dev/null 2>&1; then
    log "stock gnu-efi script: sections left out of the image: $(dropped_sections "$out/stock.so" | xargs)"
fi
rm -f "$out/stock.so" "$out/stock.map"

link "$lds" "$so" "$map" --orphan-handling=error

# --- nothing loadable dropped --------------------------------------------------------------------
# 1. Every input section is placed by the script (--orphan-handling=error above), and the ones it
#    discards are only unwind tables and notes.
discarded=$(awk '/^Discarded input sections/ { on = 1; next }
                 /^Memory Configuration/ { on = 0 }
                 on && $1 ~ /^\./ { print $1 }' "$map" | sort -u)
bad=$(grep -vxE '\.eh_frame|\.sframe|\.note\.gnu\.property|\.note\.GNU-stack|\.comment' <<<"$discarded" | xargs || true)
[ -z "$bad" ] || die "input sections discarded by the link: $bad (see $map)"

# 2. Every allocated output section reaches the PE image.
bad=$(dropped_sections "$so" | xargs)
[ -z "$bad" ] || die "allocated sections of $so that objcopy would leave out (name:hex size): $bad"
alloc_sections=$(readelf -SW "$so" | awk '/^ *\[ *[0-9]+\]/ { sub(/^ *\[ *[0-9]+\] */, ""); if ($7 ~ /A/) print $1 }')

# 3. Dynamic relocations: gnu-efi's _relocate applies R_X86_64_RELATIVE only.
dynrel=$(readelf -rW "$so" | awk '$3 ~ /^R_X86_64_/ { print $3 }' | sort | uniq -c | xargs || true)
other=$(readelf -rW "$so" | awk '$3 ~ /^R_X86_64_/ && $3 != "R_X86_64_RELATIVE" && $3 != "R_X86_64_NONE"' || true)
[ -z "$other" ] || die "dynamic relocations _relocate cannot apply: $other"

# 4. No undefined symbols (--no-undefined already; .dynsym may list only defined ones).
undef=$(nm -D --undefined-only "$so" 2>/dev/null || true)
[ -z "$undef" ] || die "undefined dynamic symbols: $undef"

"$OBJCOPY" -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela -j .reloc \
    --target efi-app-x86_64 "$so" "$efi"

# 5. The PE image holds every kept section, at its ELF size.
pe_sections=$(objdump -h "$efi" | awk '$1 ~ /^[0-9]+$/ { print $2, $3 }')
for s in $alloc_sections; do
    printf '%s\n' "${keep[@]}" | grep -qxF "$s" || continue
    elf_size=$(objdump -h "$so" | awk -v s="$s" '$2 == s { print $3 }')
    grep -qxF "$s $elf_size" <<<"$pe_sections" || die "$s (0x$elf_size bytes) is missing from $efi or has another size"
done
log "linked: no loadable section dropped; dynamic relocations: ${dynrel:-none}"

# --- the library's size inside the image ----------------------------------------------------------
# Input sections from the artifact in ld's map: lines " .section  0xADDR  0xSIZE  file", the
# section name alone on its line when long (address and size then on the next line).
library_size() {
    awk -v obj="$(basename "$artifact")" '
        function hex(s,    i, v) {
            v = 0; s = tolower(s); sub(/^0x/, "", s)
            for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
            return v
        }
        /^Linker script and memory map/ { on = 1; next }
        !on { next }
        /^ \.[^ ]+$/ { pending = $1; next }
        {
            name = ""; addr = ""; size = ""; file = ""
            if ($1 ~ /^\./ && $2 ~ /^0x/ && $3 ~ /^0x/) { name = $1; size = $3; file = $4 }
            else if (pending != "" && $1 ~ /^0x/ && $2 ~ /^0x/) { name = pending; size = $2; file = $3 }
            pending = ""
            if (name == "" || index(file, obj) == 0) next
            n = hex(size)
            if (name ~ /^\.text/) t += n; else if (name ~ /^\.(bss|sbss)/) b += n
            else if (name ~ /^\.(data|sdata|got)/) d += n; else if (name ~ /^\.rodata/) r += n
        }
        END { printf "%d bytes (text %d, rodata %d, data %d, bss %d)\n", t + r + d + b, t, r, d, b }' "$map"
}
log "image $(stat -c %s "$efi") bytes; the library adds $(library_size)"

# --- boot -----------------------------------------------------------------------------------------
log "booting (timeout ${FIRMWARE_TEST_TIMEOUT}s)"
rc=0
boot_efi x64 "$efi" "$serial" "$FIRMWARE_TEST_TIMEOUT" || rc=$?
report=0
check_report "$serial" || report=$?
if [ "$rc" -ne 0 ] || [ "$report" -ne 0 ]; then
    die "FAILED (QEMU status $rc; serial log: $serial)"
fi

summary() { upa_clean_log "$1" | grep -aE '^[0-9]+ passed, [0-9]+ failed' | tail -n 1; }
n_gnu=$(summary "$serial"); n_gnu=${n_gnu%% passed*}

# --- the same N as the clang (PE/COFF) build ---------------------------------------------------------
clang_log=build/uefi/x64/test_app.log
if [ ! -r "$clang_log" ] ||
   [ -n "$(find tests/uefi/c include -newer "$clang_log" -type f | head -n 1)" ] ||
   [ -z "$(summary "$clang_log")" ]; then
    log "clang x64 log missing or stale: running scripts/firmware-test.sh x64"
    scripts/firmware-test.sh x64 > /dev/null
fi
n_clang=$(summary "$clang_log"); n_clang=${n_clang%% passed*}
if [ "$n_gnu" != "$n_clang" ]; then
    die "gnu-efi build ran $n_gnu checks, the clang x64 build $n_clang"
fi
log "passed: $n_gnu checks, as many as the clang x64 build"
