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

#endif
