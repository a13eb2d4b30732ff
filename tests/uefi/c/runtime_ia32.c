/*
  The 64-bit division helpers clang and GCC call on 32-bit x86 (u64 / and %). A consumer's
  compiler runtime provides them; the library ships none for it (its own copies are renamed),
  so the test apps bring theirs, as any IA32 image does (EDK2's BaseLib, a compiler-rt archive).
  Each is `used`: the compiler creates the calls after link-time optimisation has dropped what
  the program did not call by name (EDK2's GCC builds use -flto).
*/
#if defined(__i386__)
#define HELPER __attribute__((used))

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

HELPER u64 __udivdi3(u64 n, u64 d) {
    u64 r;
    return divmod(n, d, &r);
}

/* GCC's combined quotient and remainder. */
HELPER u64 __udivmoddi4(u64 n, u64 d, u64 *rem) {
    u64 r, q = divmod(n, d, &r);
    if (rem) {
        *rem = r;
    }
    return q;
}

HELPER u64 __umoddi3(u64 n, u64 d) {
    u64 r;
    divmod(n, d, &r);
    return r;
}

/* 64-bit shifts, which clang -Oz calls for (EDK2's CLANGDWARF IA32): built from 32-bit
   halves, since a 64-bit shift here would call itself. */
typedef unsigned int u32;
typedef union {
    u64 all;
    struct {
        u32 low, high;
    } s;
} halves;

HELPER u64 __ashldi3(u64 value, int shift) {
    halves in = {value}, out;
    if (shift & 32) {
        out.s.low = 0;
        out.s.high = in.s.low << (shift & 31);
    } else if (shift == 0) {
        return value;
    } else {
        out.s.low = in.s.low << shift;
        out.s.high = (in.s.high << shift) | (in.s.low >> (32 - shift));
    }
    return out.all;
}

HELPER u64 __lshrdi3(u64 value, int shift) {
    halves in = {value}, out;
    if (shift & 32) {
        out.s.high = 0;
        out.s.low = in.s.high >> (shift & 31);
    } else if (shift == 0) {
        return value;
    } else {
        out.s.high = in.s.high >> shift;
        out.s.low = (in.s.low >> shift) | (in.s.high << (32 - shift));
    }
    return out.all;
}

static u64 magnitude(i64 v) { return v < 0 ? -(u64)v : (u64)v; }

HELPER i64 __divdi3(i64 n, i64 d) {
    u64 r, q = divmod(magnitude(n), magnitude(d), &r);
    return (n < 0) != (d < 0) ? -(i64)q : (i64)q;
}

HELPER i64 __moddi3(i64 n, i64 d) {
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
