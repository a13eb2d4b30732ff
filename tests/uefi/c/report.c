/** @file
  Serial output, formatting and check counting for the firmware test app. No libc.
**/

#include "report.h"

/* ---- Serial port ------------------------------------------------------------------------ */

#if defined(__x86_64__) || defined(__i386__)
/* COM1, already set up by OVMF (115200 8N1). */
#define COM1     0x3F8
#define COM1_LSR (COM1 + 5)
#define LSR_THRE 0x20

static inline void outb(UINT16 Port, UINT8 Value) {
  __asm__ volatile("outb %0, %1" : : "a"(Value), "Nd"(Port));
}
static inline UINT8 inb(UINT16 Port) {
  UINT8 Value;
  __asm__ volatile("inb %1, %0" : "=a"(Value) : "Nd"(Port));
  return Value;
}
static void serial_put(char c) {
  for (UINTN spin = 0; spin < 1000000 && (inb(COM1_LSR) & LSR_THRE) == 0; spin++) {
  }
  outb(COM1, (UINT8)c);
}
#elif defined(__aarch64__)
/* The PL011 of QEMU's virt machine, identity-mapped as device memory by AAVMF. */
#define PL011_BASE 0x09000000UL
#define PL011_DR   0x00
#define PL011_FR   0x18
#define FR_TXFF    (1U << 5)

static void serial_put(char c) {
  volatile UINT32 *dr = (volatile UINT32 *)(PL011_BASE + PL011_DR);
  volatile UINT32 *fr = (volatile UINT32 *)(PL011_BASE + PL011_FR);
  for (UINTN spin = 0; spin < 1000000 && (*fr & FR_TXFF) != 0; spin++) {
  }
  *dr = (UINT32)(UINT8)c;
}
#elif defined(__riscv) && __riscv_xlen == 64
/* The NS16550 of QEMU's virt machine (8-bit registers), at its physical address: U-Boot runs
   UEFI apps with the MMU off. */
#define UART_BASE 0x10000000UL
#define UART_LSR  5
#define LSR_THRE  0x20

static void serial_put(char c) {
  volatile UINT8 *uart = (volatile UINT8 *)UART_BASE;
  for (UINTN spin = 0; spin < 1000000 && (uart[UART_LSR] & LSR_THRE) == 0; spin++) {
  }
  uart[0] = (UINT8)c;
}
#else
#error "tests/uefi/c: serial output for this architecture is missing"
#endif

static void serial_line(const char *Text) {
  for (; *Text != '\0'; Text++) {
    serial_put(*Text);
  }
  serial_put('\r');
  serial_put('\n');
}

/* ---- Counter ---------------------------------------------------------------------------- */

static UINT64 mTicksPerMs = 1;

#if defined(__x86_64__) || defined(__i386__)
UINT64 timer_ticks(void) {
  UINT32 lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((UINT64)hi << 32) | lo;
}
void timer_init(EFI_BOOT_SERVICES *BootServices) {
  UINT64 start = timer_ticks();
  BootServices->Stall(20000);
  UINT64 ticks = (timer_ticks() - start) / 20;
  mTicksPerMs = ticks != 0 ? ticks : 1;
}
#elif defined(__riscv)
/* The time CSR (10 MHz on QEMU virt); calibrated against Stall like the TSC, as no CSR gives
   its frequency. */
UINT64 timer_ticks(void) {
  UINT64 value;
  __asm__ volatile("rdtime %0" : "=r"(value));
  return value;
}
void timer_init(EFI_BOOT_SERVICES *BootServices) {
  UINT64 start = timer_ticks();
  BootServices->Stall(20000);
  UINT64 ticks = (timer_ticks() - start) / 20;
  mTicksPerMs = ticks != 0 ? ticks : 1;
}
#else
UINT64 timer_ticks(void) {
  UINT64 value;
  __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(value));
  return value;
}
void timer_init(EFI_BOOT_SERVICES *BootServices) {
  (void)BootServices;
  UINT64 hz;
  __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(hz));
  mTicksPerMs = hz / 1000 != 0 ? hz / 1000 : 1;
}
#endif

UINT64 ticks_to_ms(UINT64 Ticks) { return Ticks / mTicksPerMs; }

/* ---- Formatting ------------------------------------------------------------------------- */

typedef struct {
  char *Buffer;
  UINTN Capacity;
  UINTN Length;
} SINK;

static void sink_put(SINK *Sink, char c) {
  if (Sink->Length + 1 < Sink->Capacity) {
    Sink->Buffer[Sink->Length] = c;
  }
  Sink->Length++;
}

static void sink_padded(SINK *Sink, const char *Text, UINTN Length, UINTN Width, BOOLEAN Left,
                        char Pad) {
  UINTN fill = Width > Length ? Width - Length : 0;
  if (!Left) {
    /* Zero padding goes after a sign. */
    if (Pad == '0' && Length > 0 && Text[0] == '-') {
      sink_put(Sink, '-');
      Text++;
      Length--;
    }
    for (UINTN i = 0; i < fill; i++) {
      sink_put(Sink, Pad);
    }
  }
  for (UINTN i = 0; i < Length; i++) {
    sink_put(Sink, Text[i]);
  }
  if (Left) {
    for (UINTN i = 0; i < fill; i++) {
      sink_put(Sink, ' ');
    }
  }
}

static UINTN unsigned_text(char *Out, UINT64 Value, UINT32 Base, BOOLEAN Upper) {
  const char *digits = Upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char tmp[24];
  UINTN n = 0;
  do {
    tmp[n++] = digits[Value % Base];
    Value /= Base;
  } while (Value != 0);
  for (UINTN i = 0; i < n; i++) {
    Out[i] = tmp[n - 1 - i];
  }
  return n;
}

UINTN vformat(char *Buffer, UINTN Capacity, const char *Format, va_list Args) {
  SINK sink = {Buffer, Capacity, 0};
  for (const char *f = Format; *f != '\0'; f++) {
    if (*f != '%') {
      sink_put(&sink, *f);
      continue;
    }
    f++;
    BOOLEAN left = FALSE;
    char pad = ' ';
    for (; *f == '-' || *f == '0'; f++) {
      if (*f == '-') {
        left = TRUE;
      } else {
        pad = '0';
      }
    }
    UINTN width = 0;
    for (; *f >= '0' && *f <= '9'; f++) {
      width = width * 10 + (UINTN)(*f - '0');
    }
    int longs = 0;
    for (; *f == 'l' || *f == 'z'; f++) {
      longs += *f == 'z' ? 2 : 1;
    }
    char text[32];
    UINTN length;
    switch (*f) {
    case 'd': {
      INT64 value = longs >= 2 ? __builtin_va_arg(Args, long long)
                    : longs == 1 ? __builtin_va_arg(Args, long)
                                 : __builtin_va_arg(Args, int);
      UINT64 magnitude = value < 0 ? 0 - (UINT64)value : (UINT64)value;
      length = 0;
      if (value < 0) {
        text[length++] = '-';
      }
      length += unsigned_text(text + length, magnitude, 10, FALSE);
      sink_padded(&sink, text, length, width, left, pad);
      break;
    }
    case 'u':
    case 'x':
    case 'X': {
      UINT64 value = longs >= 2 ? __builtin_va_arg(Args, unsigned long long)
                     : longs == 1 ? __builtin_va_arg(Args, unsigned long)
                                  : __builtin_va_arg(Args, unsigned int);
      length = unsigned_text(text, value, *f == 'u' ? 10 : 16, *f == 'X');
      sink_padded(&sink, text, length, width, left, pad);
      break;
    }
    case 'p': {
      UINT64 value = (UINT64)(UINTN)__builtin_va_arg(Args, void *);
      text[0] = '0';
      text[1] = 'x';
      length = 2 + unsigned_text(text + 2, value, 16, FALSE);
      sink_padded(&sink, text, length, width, left, ' ');
      break;
    }
    case 's': {
      const char *s = __builtin_va_arg(Args, const char *);
      if (s == NULL) {
        s = "(null)";
      }
      UINTN n = 0;
      while (s[n] != '\0') {
        n++;
      }
      sink_padded(&sink, s, n, width, left, ' ');
      break;
    }
    case 'c':
      text[0] = (char)__builtin_va_arg(Args, int);
      sink_padded(&sink, text, 1, width, left, ' ');
      break;
    case '%':
      sink_put(&sink, '%');
      break;
    case '\0':
      f--;
      break;
    default:
      sink_put(&sink, '%');
      sink_put(&sink, *f);
      break;
    }
  }
  if (Capacity > 0) {
    Buffer[sink.Length < Capacity ? sink.Length : Capacity - 1] = '\0';
  }
  return sink.Length < Capacity ? sink.Length : (Capacity > 0 ? Capacity - 1 : 0);
}

UINTN format(char *Buffer, UINTN Capacity, const char *Format, ...) {
  va_list args;
  va_start(args, Format);
  UINTN n = vformat(Buffer, Capacity, Format, args);
  va_end(args);
  return n;
}

#define S_BUFFERS 8
#define S_SIZE    512
static char mScratch[S_BUFFERS][S_SIZE];
static UINTN mScratchNext;

const char *S(const char *Format, ...) {
  char *buffer = mScratch[mScratchNext++ % S_BUFFERS];
  va_list args;
  va_start(args, Format);
  vformat(buffer, S_SIZE, Format, args);
  va_end(args);
  return buffer;
}

/* ---- Lines and checks ------------------------------------------------------------------- */

static char mLine[1024];
static UINT64 mPassed, mFailed;

void say(const char *Format, ...) {
  va_list args;
  va_start(args, Format);
  vformat(mLine, sizeof mLine, Format, args);
  va_end(args);
  serial_line(mLine);
}

void info(const char *Format, ...) {
  static const char prefix[] = "info: ";
  UINTN n = sizeof prefix - 1;
  for (UINTN i = 0; i < n; i++) {
    mLine[i] = prefix[i];
  }
  va_list args;
  va_start(args, Format);
  vformat(mLine + n, sizeof mLine - n, Format, args);
  va_end(args);
  serial_line(mLine);
}

BOOLEAN check(BOOLEAN Ok, const char *Name, const char *Detail) {
  if (Ok) {
    mPassed++;
    say("ok - %s", Name);
  } else {
    mFailed++;
    say("FAIL - %s: %s", Name, Detail != NULL ? Detail : "check failed");
  }
  return Ok;
}

const char *status_name(EFI_STATUS Status) {
  switch (Status) {
  case EFI_SUCCESS:           return "EFI_SUCCESS";
  case EFI_INVALID_PARAMETER: return "EFI_INVALID_PARAMETER";
  case EFI_UNSUPPORTED:       return "EFI_UNSUPPORTED";
  case EFI_BUFFER_TOO_SMALL:  return "EFI_BUFFER_TOO_SMALL";
  case EFI_OUT_OF_RESOURCES:  return "EFI_OUT_OF_RESOURCES";
  case EFI_NOT_FOUND:         return "EFI_NOT_FOUND";
  case EFI_NOT_STARTED:       return "EFI_NOT_STARTED";
  case EFI_ALREADY_STARTED:   return "EFI_ALREADY_STARTED";
  default:                    return S("status 0x%llx", (unsigned long long)Status);
  }
}

BOOLEAN check_status(EFI_STATUS Got, EFI_STATUS Expected, const char *Name) {
  return check(Got == Expected, Name,
               Got == Expected ? NULL
                               : S("got %s, expected %s", status_name(Got), status_name(Expected)));
}

void report_summary(void) {
  say("%llu passed, %llu failed", (unsigned long long)mPassed, (unsigned long long)mFailed);
}

UINT64 checks_failed(void) { return mFailed; }
