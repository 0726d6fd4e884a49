// Per-thread control of subnormal handling (see CFloatEnvironment.h for the contract).
#include "CFloatEnvironment.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
enum { FLUSH_BITS = 0x8040 };  // MXCSR FTZ (bit 15) | DAZ (bit 6)

clrp_float_environment clrp_set_subnormal_flush(int flush) {
  unsigned int saved = _mm_getcsr();
  _mm_setcsr(flush ? saved | FLUSH_BITS : saved & ~(unsigned int)FLUSH_BITS);
  return saved;
}
void clrp_restore_float_environment(clrp_float_environment saved) { _mm_setcsr((unsigned int)saved); }
clrp_float_environment clrp_get_float_environment(void) { return _mm_getcsr(); }
int clrp_subnormals_flushed(void) { return (_mm_getcsr() & FLUSH_BITS) == FLUSH_BITS; }

#elif defined(__aarch64__)
enum { FLUSH_BITS = 1 << 24 };  // FPCR.FZ

static unsigned long read_fpcr(void) {
  unsigned long value;
  __asm__ volatile("mrs %0, fpcr" : "=r"(value));
  return value;
}
static void write_fpcr(unsigned long value) { __asm__ volatile("msr fpcr, %0" : : "r"(value)); }

clrp_float_environment clrp_set_subnormal_flush(int flush) {
  unsigned long saved = read_fpcr();
  write_fpcr(flush ? saved | FLUSH_BITS : saved & ~(unsigned long)FLUSH_BITS);
  return saved;
}
void clrp_restore_float_environment(clrp_float_environment saved) { write_fpcr(saved); }
clrp_float_environment clrp_get_float_environment(void) { return read_fpcr(); }
int clrp_subnormals_flushed(void) { return (read_fpcr() & FLUSH_BITS) != 0; }

#else
clrp_float_environment clrp_set_subnormal_flush(int flush) { (void)flush; return 0; }
void clrp_restore_float_environment(clrp_float_environment saved) { (void)saved; }
clrp_float_environment clrp_get_float_environment(void) { return 0; }
int clrp_subnormals_flushed(void) { return 0; }
#endif
