#!/usr/bin/env bash
# Check the symbol hygiene and firmware fitness of the four release artifacts.
#
#   scripts/check-symbols.sh [RELEASE_DIR]        (default: build/release, made by release.sh)
#
# The API is every export of the Rust sources, which include/uefi_pool_alloc.h must declare
# (cargo xtask api). For each artifact it fails on:
#   - a missing API function, or one defined more than once;
#   - any other global definition (ELF: none at all; COFF archives keep their members apart, so
#     global helpers must carry the library prefix __uefi_pool_alloc_);
#   - any undefined symbol (COFF: any reference no member of the archive defines);
#   - leftover .llvmbc/.llvmcmd sections, and on ELF .eh_frame;
#   - AArch64: any use of x18/w18 in the disassembly (UEFI reserves x18);
#   - x86_64: any use of xmm/ymm/zmm registers (soft-float; no SSE state is assumed), and any
#     memory operand below %rsp (red zone);
#   - ELF: relocation types outside what EDK2's -pie link and GenFw accept.
# Then the hazard test: a small C program defining its own memcpy, memset and __udivti3 (and on
# COFF _fltused), and taking __udivti3 from a runtime archive linked AFTER the artifact (as a
# compiler runtime is), is linked with the artifact (ELF: ld.lld; COFF: lld-link): the link
# must succeed and the map must show that memcpy, memset and __udivti3 come from the program or
# its runtime, and the library's own prefixed memcpy/memset from the artifact. With the raw
# rustc archives (CARGO_TARGET_DIR, default target/release-pkg) present, the same link against
# them is shown for contrast (the hazard: __udivti3 taken from the Rust archive).
#
# Prints one line per artifact and a closing "N passed, M failed"; exits 1 on any failure.
# Environment: LLVM_SUFFIX (-19), CLANG (clang-19), CARGO_TARGET_DIR.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$repo/scripts/lib.sh"
release=${1:-$repo/build/release}
: "${LLVM_SUFFIX:=-19}"
: "${CLANG:=clang-19}"
: "${CARGO_TARGET_DIR:=target/release-pkg}"
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$repo/$CARGO_TARGET_DIR ;; esac
NM=llvm-nm$LLVM_SUFFIX
OBJDUMP=llvm-objdump$LLVM_SUFFIX
READELF=llvm-readelf$LLVM_SUFFIX
READOBJ=llvm-readobj$LLVM_SUFFIX
LD_LLD=ld.lld$LLVM_SUFFIX
LLD_LINK=lld-link$LLVM_SUFFIX
LLVM_LIB=llvm-lib$LLVM_SUFFIX
PREFIX=__uefi_pool_alloc_

header=$release/include/uefi_pool_alloc.h
[ -r "$header" ] || header=$repo/include/uefi_pool_alloc.h
mapfile -t API < <(api_functions)
if [ "${#API[@]}" -eq 0 ]; then
    echo "check-symbols: no API: the exports of src/ and capi/ and the header disagree (above)" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/check-symbols.XXXXXX")
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
printf '%s\n' "${API[@]}" > "$work/api.txt"

# Relocation types EDK2's GenFw converts (ELF -> PE/COFF) and -pie accepts, per machine.
relocs_allowed() {
    case $1 in
        x86_64) echo 'R_X86_64_(NONE|64|PC32|PLT32|GOTPCREL|GOTPCRELX|REX_GOTPCRELX|PC64)' ;;
        aarch64) echo 'R_AARCH64_(NONE|ABS64|PREL32|PREL64|CALL26|JUMP26|CONDBR19|TSTBR14|ADR_PREL_LO21|ADR_PREL_PG_HI21|ADD_ABS_LO12_NC|LDST(8|16|32|64|128)_ABS_LO12_NC|LD_PREL_LO19|ADR_GOT_PAGE|LD64_GOT_LO12_NC|LD64_GOTPAGE_LO15)' ;;
    esac
}

# The program of the hazard test: its own memcpy/memset (strong), a u128 division (a call to
# __udivti3 on both machines) whose __udivti3 comes from demo_rt, and calls into the API.
cat > "$work/demo.c" <<'EOF'
#include "uefi_pool_alloc.h"
typedef __SIZE_TYPE__ size_t;
#define DEMO_MARK 0x5aa5u
void *memcpy(void *d, const void *s, size_t n) {
    unsigned char *dp = d; const unsigned char *sp = s;
    while (n--) *dp++ = *sp++;
    return d;
}
void *memset(void *d, int c, size_t n) {
    unsigned char *dp = d;
    while (n--) *dp++ = (unsigned char)c;
    return d;
}
#ifdef _WIN32
int _fltused = 1;
#endif
volatile unsigned __int128 demo_a = 1000, demo_b = 7;
unsigned __int128 demo_q;
extern void *const demo_api[];
char demo_buf[64], demo_src[64];
EFI_STATUS EFIAPI demo_entry(EFI_HANDLE image, EFI_SYSTEM_TABLE *st) {
    demo_q = demo_a / demo_b;                    /* __udivti3 */
    memcpy(demo_buf, demo_src, sizeof demo_buf);
    memset(demo_buf, 0, sizeof demo_buf);
    void *p = pool_aligned_alloc(64, 64);        /* NULL before pool_init */
    POOL_STATS s;
    pool_stats(&s);
    return pool_init(image, st, POOL_MEMORY_TYPE_DEFAULT) + (p != 0) + (EFI_STATUS)demo_q
           + (EFI_STATUS)demo_api[0];
}
EOF
# Every API function referenced, so that the whole library is live in the link (lld-link drops
# unreferenced sections, and with them the library's memcpy if only realloc calls it).
{
    echo 'void *const demo_api[] = {'
    printf '    (void *)&%s,\n' "${API[@]}"
    echo '};'
} >> "$work/demo.c"
cat > "$work/demo_rt.c" <<'EOF'
/* The consumer's compiler runtime: found after the library on the link line. */
unsigned __int128 __udivti3(unsigned __int128 a, unsigned __int128 b) {
    unsigned __int128 q = 0;
    while (a >= b && b) { a -= b; q++; }
    return q;
}
EOF

# Which input file defined SYMBOL in an lld map (ld.lld -Map or lld-link /lldmap: an input
# section line "file:(section)" followed by its symbol lines). Prints the file's base name.
map_definer() {
    awk -v sym="$2" '
        { for (i = 1; i <= NF; i++) if ($i ~ /:\(/) { cur = $i; sub(/:\(.*/, "", cur); next_line = 1 } }
        $NF == sym && $0 !~ /:\(/ { n = split(cur, p, "/"); print p[n]; exit }' "$1"
}

# Link the demo with LIB (artifact or raw archive); print "sym=definer ..." or fail.
demo_link() {
    local target=$1 lib=$2 tag=$3
    local d=$work/$target.$tag
    mkdir -p "$d"
    local ctarget entry_flags=()
    case $target in
        x86_64-unknown-uefi) ctarget=x86_64-unknown-windows ;;
        aarch64-unknown-uefi) ctarget=aarch64-unknown-windows ;;
        x86_64-unknown-none) ctarget=x86_64-unknown-none-elf; entry_flags=(-mno-red-zone) ;;
        aarch64-unknown-none) ctarget=aarch64-unknown-none-elf; entry_flags=(-ffixed-x18) ;;
    esac
    local cflags=(--target="$ctarget" -ffreestanding -fshort-wchar -fno-stack-protector -fno-builtin
                  -O1 -Wall -Werror -I"$(dirname "$header")" "${entry_flags[@]}")
    case $target in
        *-uefi)
            "$CLANG" "${cflags[@]}" -mno-stack-arg-probe -c "$work/demo.c" -o "$d/demo.obj"
            "$CLANG" "${cflags[@]}" -c "$work/demo_rt.c" -o "$d/demo_rt.obj"
            "$LLVM_LIB" /nologo /out:"$d/demo_rt.lib" "$d/demo_rt.obj"
            local machine=x64
            [ "${target%%-*}" = aarch64 ] && machine=arm64
            "$LLD_LINK" /nologo /subsystem:efi_application /entry:demo_entry /nodefaultlib \
                /machine:"$machine" /lldmap:"$d/demo.map" /out:"$d/demo.efi" \
                "$d/demo.obj" "$lib" "$d/demo_rt.lib" > "$d/link.log" 2>&1 || return 1
            ;;
        *-none)
            "$CLANG" "${cflags[@]}" -fPIC -c "$work/demo.c" -o "$d/demo.o"
            "$CLANG" "${cflags[@]}" -fPIC -c "$work/demo_rt.c" -o "$d/demo_rt.o"
            rm -f "$d/libdemo_rt.a"
            "llvm-ar$LLVM_SUFFIX" rcs "$d/libdemo_rt.a" "$d/demo_rt.o"
            "$LD_LLD" -pie --no-dynamic-linker -e demo_entry -Map "$d/demo.map" -o "$d/demo.elf" \
                "$d/demo.o" "$lib" "$d/libdemo_rt.a" > "$d/link.log" 2>&1 || return 1
            ;;
    esac
    local s def out=
    for s in memcpy memset __udivti3 "${PREFIX}memcpy" "${PREFIX}memset"; do
        def=$(map_definer "$d/demo.map" "$s")
        # A COFF weak external is listed under its default definition (.weak.NAME.default).
        if [ -z "$def" ]; then
            case $s in
                "$PREFIX"*) def=$(map_definer "$d/demo.map" "$PREFIX.weak.${s#"$PREFIX"}.default") ;;
                *) def=$(map_definer "$d/demo.map" ".weak.$s.default") ;;
            esac
        fi
        out="$out $s=${def:-none}"
    done
    printf '%s\n' "${out# }"
}

passed=0 failed=0
join() { local IFS=$'\x1f' out; out="$*"; printf '%s' "${out//$'\x1f'/; }"; }
# "N: first names..." of a newline-separated list, for readable failure lines.
brief() {
    local n
    n=$(sed '/^$/d' <<<"$1" | wc -l)
    printf '%d: %s' "$n" "$(sed '/^$/d' <<<"$1" | head -n 8 | xargs)"
    [ "$n" -le 8 ] || printf ' ...'
}
check_artifact() {
    local target=$1 file=$2 format=$3 machine=${1%%-*}
    local -a problems=() notes=()
    if [ ! -r "$file" ]; then
        echo "FAIL $target: $file missing"
        failed=$((failed + 1))
        return
    fi
    local defs undefs
    defs=$("$NM" --defined-only --extern-only --format=just-symbols "$file" 2>/dev/null | sed '/^$/d;/:$/d' | sort)
    undefs=$("$NM" --undefined-only --format=just-symbols "$file" 2>/dev/null | sed '/^$/d;/:$/d' | sort -u)

    # API present, once each.
    local s count missing=() twice=()
    for s in "${API[@]}"; do
        count=$(grep -cxF "$s" <<<"$defs" || true)
        [ "$count" -eq 0 ] && missing+=("$s")
        [ "$count" -gt 1 ] && twice+=("$s")
    done
    [ "${#missing[@]}" -eq 0 ] || problems+=("missing API: ${missing[*]}")
    [ "${#twice[@]}" -eq 0 ] || problems+=("API defined more than once: ${twice[*]}")

    # Other global definitions.
    local others
    others=$(grep -vxF -f "$work/api.txt" <<<"$defs" || true)
    if [ "$format" = COFF ]; then
        local unprefixed nprefixed
        unprefixed=$(grep -v "^$PREFIX" <<<"$others" | sed '/^$/d' || true)
        nprefixed=$(grep -c "^$PREFIX" <<<"$others" || true)
        [ -z "$unprefixed" ] || problems+=("foreign global definitions $(brief "$unprefixed")")
        notes+=("$nprefixed prefixed helpers")
        # References between members are fine if a member defines them.
        undefs=$(comm -23 <(printf '%s\n' "$undefs") <(sort -u <<<"$defs") | sed '/^$/d')
    else
        [ -z "$others" ] || problems+=("foreign global definitions $(brief "$others")")
    fi
    [ -z "$undefs" ] || problems+=("undefined $(brief "$undefs")")

    # Sections that must be gone.
    local sections bad
    sections=$("$READOBJ" --sections "$file" | sed -n 's/^ *Name: \([^ ]*\).*/\1/p' | sort -u)
    bad=$(grep -xE '\.llvmbc|\.llvmcmd' <<<"$sections" || true)
    [ "$format" = ELF ] && bad="$bad $(grep -xE '\.eh_frame|\.rela\.eh_frame' <<<"$sections" || true)"
    bad=$(xargs <<<"$bad")
    [ -z "$bad" ] || problems+=("sections left: $bad")

    # Registers.
    local dis hits
    dis=$("$OBJDUMP" -d --no-show-raw-insn "$file")
    case $machine in
        aarch64)
            # Operands only (after the mnemonic), as whole register names.
            hits=$(awk -F'\t' 'NF >= 3 && $3 ~ /(^|[^a-z0-9_])[xw]18([^0-9]|$)/' <<<"$dis" | wc -l)
            [ "$hits" -eq 0 ] || problems+=("$hits instructions use x18/w18")
            [ "$hits" -eq 0 ] && notes+=("no x18")
            ;;
        x86_64)
            hits=$(grep -cE '%[xyz]mm[0-9]' <<<"$dis" || true)
            [ "$hits" -eq 0 ] || problems+=("$hits instructions use xmm/ymm/zmm")
            [ "$hits" -eq 0 ] && notes+=("no xmm/ymm/zmm")
            # Red zone: memory below %rsp, which an interrupt handler may overwrite in firmware.
            hits=$(grep -cE -- '-0x[0-9a-f]+\(%rsp\)' <<<"$dis" || true)
            [ "$hits" -eq 0 ] || problems+=("$hits instructions address below %rsp (red zone)")
            [ "$hits" -eq 0 ] && notes+=("no red zone")
            ;;
    esac

    # ELF object kind and relocation types.
    if [ "$format" = ELF ]; then
        local kind relocs
        kind=$("$READELF" -h "$file" | awk -F: '/Type:/ { gsub(/^ +/, "", $2); print $2 }')
        case $kind in REL*) ;; *) problems+=("not a relocatable object: $kind") ;; esac
        relocs=$("$READELF" -r "$file" | awk '$3 ~ /^R_/ { print $3 }' | sort -u)
        bad=$(grep -vxE "$(relocs_allowed "$machine")" <<<"$relocs" | sed '/^$/d' || true)
        [ -z "$bad" ] || problems+=("relocation types: $(xargs <<<"$bad")")
        notes+=("relocs $(xargs <<<"$relocs" | sed 's/R_X86_64_//g; s/R_AARCH64_//g; s/ /,/g')")
    fi

    # Hazard test.
    local res
    if res=$(demo_link "$target" "$file" artifact); then
        # ld.lld names an archive member "libdemo_rt.a(demo_rt.o)", lld-link by the member's
        # name; the library's helpers come from the artifact (ELF) or one of its members (COFF).
        local want_demo=demo.o want_rt='libdemo_rt.a(demo_rt.o)' want_lib
        want_lib=$(basename "$file")
        if [ "$format" = COFF ]; then
            want_demo=demo.obj want_rt=demo_rt.obj want_lib='compiler_builtins-*'
        fi
        case " $res " in
            *" memcpy=$want_demo memset=$want_demo __udivti3=$want_rt "*) ;;
            *) problems+=("hazard test: the program's own symbols not used: $res") ;;
        esac
        local h def
        for h in memcpy memset; do
            def=$(tr ' ' '\n' <<<"$res" | sed -n "s/^$PREFIX$h=//p")
            # shellcheck disable=SC2254  # $want_lib is a pattern
            case $def in
                $want_lib) ;;
                *) problems+=("hazard test: the library's $h is not its own: $res") ;;
            esac
        done
        notes+=("demo link: $res")
    else
        problems+=("hazard test: link failed: $(head -c 400 "$work/$target.artifact/link.log" | tr '\n' ' ')")
    fi
    # Contrast: the unprocessed rustc archive in the same link.
    local raw=$CARGO_TARGET_DIR/$target/release/libuefi_pool_alloc.a
    if [ -r "$raw" ]; then
        if res=$(demo_link "$target" "$raw" raw); then
            notes+=("raw rustc archive instead: $res")
        else
            notes+=("raw rustc archive instead: link fails: $(grep -m1 -i error "$work/$target.raw/link.log" || true)")
        fi
    fi

    if [ "${#problems[@]}" -eq 0 ]; then
        echo "ok   $target ($format): ${#API[@]} API symbols only, no undefined; $(join "${notes[@]}")"
        passed=$((passed + 1))
    else
        echo "FAIL $target ($format): $(join "${problems[@]}")"
        failed=$((failed + 1))
    fi
}

check_artifact x86_64-unknown-uefi "$release/lib/x86_64-unknown-uefi/uefi_pool_alloc.lib" COFF
check_artifact aarch64-unknown-uefi "$release/lib/aarch64-unknown-uefi/uefi_pool_alloc.lib" COFF
check_artifact x86_64-unknown-none "$release/lib/x86_64-unknown-none/uefi_pool_alloc.o" ELF
check_artifact aarch64-unknown-none "$release/lib/aarch64-unknown-none/uefi_pool_alloc.o" ELF

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
