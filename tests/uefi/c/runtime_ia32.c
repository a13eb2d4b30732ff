/*
  The 64-bit division helpers clang calls on 32-bit x86 (u64 / and %). A consumer's compiler
  runtime provides them; the library ships none for it (its own copies are renamed), so the
  test apps bring theirs, as any IA32 image does (EDK2's BaseLib, a compiler-rt archive).
*/
#if defined(__i386__)

typedef unsigned long long u64;
typedef long long i64;

/* Shift-subtract: quotient of n / d, remainder in *rem. d == 0 gives all ones, as hardware
   division would trap instead; the test apps never divide by zero. */
static u64 divmod(u64 n, u64 d, u64 *rem) {
    u64 q = 0, r = 0;
    if (d == 0) {
        *rem = n;
        return ~(u64)0;
    }
    for (int bit = 63; bit >= 0; bit--) {
        r = (r << 1) | ((n >> bit) & 1);
        if (r >= d) {
            r -= d;
            q |= (u64)1 << bit;
        }
    }
    *rem = r;
    return q;
}

u64 __udivdi3(u64 n, u64 d) {
    u64 r;
    return divmod(n, d, &r);
}

u64 __umoddi3(u64 n, u64 d) {
    u64 r;
    divmod(n, d, &r);
    return r;
}

static u64 magnitude(i64 v) { return v < 0 ? -(u64)v : (u64)v; }

i64 __divdi3(i64 n, i64 d) {
    u64 r, q = divmod(magnitude(n), magnitude(d), &r);
    return (n < 0) != (d < 0) ? -(i64)q : (i64)q;
}

i64 __moddi3(i64 n, i64 d) {
    u64 r;
    divmod(magnitude(n), magnitude(d), &r);
    return n < 0 ? -(i64)r : (i64)r;
}

#if defined(_MSC_VER)
/* The MSVC environment (EDK2's CLANGPDB IA32 since it targets i686-pc-windows-msvc) calls
   __aulldiv/__aullrem instead: operands on the stack, popped by the callee (ret $16), result in
   edx:eax. Thin wrappers around the cdecl helpers above. */
__attribute__((used)) u64 upa_aulldiv(u64 n, u64 d) { return __udivdi3(n, d); }
__attribute__((used)) u64 upa_aullrem(u64 n, u64 d) { return __umoddi3(n, d); }
#define UPA_MS_HELPER(name, helper)                                                           \
    __asm__(".text\n.globl " name "\n" name ":\n"                                           \
            "  pushl 16(%esp)\n  pushl 16(%esp)\n  pushl 16(%esp)\n  pushl 16(%esp)\n"      \
            "  call " helper "\n  addl $16, %esp\n  ret $16\n")
UPA_MS_HELPER("__aulldiv", "_upa_aulldiv");
UPA_MS_HELPER("__aullrem", "_upa_aullrem");
#endif

#endif
