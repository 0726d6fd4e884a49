#include "CThreadPool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

// Rounds of CPU_RELAX a waiting thread spins before it sleeps (workers) or yields (the caller):
// a pause takes 40 to 140 cycles, so 0.1 to 0.4 ms, longer than most gaps between the jobs of
// a pass. Measured on two threads, idle (medians of 4 processes, ms): EfficientNet-B0 13.5 /
// 12.0 / 12.2 and MobileNetV3 6.6 / 6.2 / 6.6 spinning 2^11 / 2^13 / 2^15 rounds (a worker
// woken from sleep joins a job late, the caller never waits for it); beside two busy
// processes shorter is better, but there the caller mostly runs jobs alone (`serial_jobs`).
enum { SPIN_ROUNDS = 1 << 13 };

// One job at a time: its owner holds `submit_lock` from publishing it until all its chunks
// have run.
static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER;
// The job, written by its owner before it opens the ticket. Atomic (relaxed) only so that a late
// worker reading them while the next job is written reads whole values; it uses them only if it
// then claims a chunk of the job it read them for.
static _Atomic(clrp_pool_task) job_task;
static _Atomic(void *) job_context;
static _Atomic long job_chunks;
// The job's number (high 32 bits) and its next unclaimed chunk (low 32 bits; CLOSED once all
// chunks have run). A chunk is claimed by a compare-and-swap of the whole ticket, so a worker
// that read the fields of an earlier job can never claim a chunk of a later one, and a worker
// that arrives after the last chunk keeps nobody waiting. (Job numbers wrap after 2^32 jobs:
// a worker stalled for all of them between reading a job and claiming its chunk, hours at a
// microsecond per job, could claim a chunk of the job with its old number.)
#define CLOSED 0xffffffffULL
static _Atomic unsigned long long ticket = CLOSED;
static _Atomic long completed_chunks;
static _Atomic int stopping;

static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static _Atomic int sleepers;

// Jobs the caller still runs alone after it waited long for a worker that had been preempted,
// and how many the next such wait buys: 256 after a parallel job that went well, doubling up
// to 16384 while the waits go on, so that on a machine that stays loaded a probe that costs a
// time slice comes rarely (both owned by the holder of `submit_lock`).
static int serial_jobs;
enum { SERIAL_JOBS_FIRST = 256, SERIAL_JOBS_MOST = 16384 };
static int serial_period = SERIAL_JOBS_FIRST;

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static pthread_t *workers;
static _Atomic int worker_count;
// Set on workers, and on a caller while it runs chunks: a parallel job inside a chunk runs serially.
static _Thread_local int inside_job;

static unsigned long long job_number(unsigned long long t) { return t >> 32; }

// Claims and runs chunks of job `number` (whose fields the caller read before) until none is left.
static void run_chunks(unsigned long long number) {
  const clrp_pool_task task = atomic_load_explicit(&job_task, memory_order_relaxed);
  void *const context = atomic_load_explicit(&job_context, memory_order_relaxed);
  const long chunks = atomic_load_explicit(&job_chunks, memory_order_relaxed);
  unsigned long long t = atomic_load_explicit(&ticket, memory_order_acquire);
  for (;;) {
    const unsigned long long chunk = t & CLOSED;
    if (job_number(t) != number || chunk == CLOSED || (long)chunk >= chunks) return;
    if (!atomic_compare_exchange_weak_explicit(&ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire)) continue;
    task(context, (long)chunk);
    atomic_fetch_add_explicit(&completed_chunks, 1, memory_order_release);
    t = atomic_load_explicit(&ticket, memory_order_acquire);
  }
}

// Waits until the ticket's job number differs from `seen`, spinning first, then sleeping;
// returns the new number.
static unsigned long long wait_for_job(unsigned long long seen) {
  for (int spins = 0;; spins++) {
    const unsigned long long now = job_number(atomic_load_explicit(&ticket, memory_order_acquire));
    if (now != seen) return now;
    if (spins < SPIN_ROUNDS) {
      CPU_RELAX();
      continue;
    }
    // Counting this thread among the sleepers before reading the ticket again (both
    // sequentially consistent) pairs with clrp_pool_run opening the ticket before reading
    // `sleepers`: either the worker sees the new job or the caller sees a sleeper and broadcasts.
    pthread_mutex_lock(&sleep_lock);
    atomic_fetch_add(&sleepers, 1);
    while (job_number(atomic_load(&ticket)) == seen) pthread_cond_wait(&sleep_cond, &sleep_lock);
    atomic_fetch_sub(&sleepers, 1);
    pthread_mutex_unlock(&sleep_lock);
    spins = 0;
  }
}

static void wake_sleepers(void) {
  if (atomic_load(&sleepers) == 0) return;
  pthread_mutex_lock(&sleep_lock);
  pthread_cond_broadcast(&sleep_cond);
  pthread_mutex_unlock(&sleep_lock);
}

static void *worker_main(void *start_job) {
  unsigned long long seen = (unsigned long long)(uintptr_t)start_job;
  inside_job = 1;
  for (;;) {
    seen = wait_for_job(seen);
    if (atomic_load_explicit(&stopping, memory_order_acquire)) return NULL;
    run_chunks(seen);
  }
}

// Opens job number + 1 (or, when stopping, just moves the number on) and wakes the sleepers.
static void publish_next_job(unsigned long long chunk) {
  const unsigned long long next = job_number(atomic_load(&ticket)) + 1;
  atomic_store(&ticket, (next << 32) | chunk);
  wake_sleepers();
}

// A child of fork() has none of its parent's workers (and may have copied a lock mid-job): it
// starts over with no workers, so its jobs run on the caller until it sets a thread count.
static void forget_workers_after_fork(void) {
  pthread_mutex_init(&submit_lock, NULL);
  pthread_mutex_init(&sleep_lock, NULL);
  pthread_cond_init(&sleep_cond, NULL);
  workers = NULL;
  worker_count = 0;
  atomic_store(&sleepers, 0);
  atomic_store(&stopping, 0);
}

static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;
static void install_fork_handler(void) { pthread_atfork(NULL, NULL, forget_workers_after_fork); }

void clrp_pool_set_threads(int threads) {
  const int wanted = (threads < 1 ? 1 : threads) - 1;
  // From inside a chunk, the job's owner holds the lock (perhaps this very thread): no change.
  if (inside_job) return;
  pthread_once(&fork_handler_once, install_fork_handler);
  pthread_mutex_lock(&submit_lock);
  serial_jobs = 0;
  serial_period = SERIAL_JOBS_FIRST;
  if (wanted != worker_count) {
    if (worker_count > 0) {
      atomic_store(&stopping, 1);
      publish_next_job(CLOSED);
      for (int i = 0; i < worker_count; i++) pthread_join(workers[i], NULL);
      free(workers);
      workers = NULL;
      worker_count = 0;
      atomic_store(&stopping, 0);
    }
    if (wanted > 0 && (workers = malloc(sizeof(pthread_t) * (size_t)wanted)) != NULL) {
      const uintptr_t start = (uintptr_t)job_number(atomic_load(&ticket));
      while (worker_count < wanted && pthread_create(&workers[worker_count], NULL, worker_main, (void *)start) == 0)
        worker_count++;
      if (worker_count == 0) {
        free(workers);
        workers = NULL;
      }
    }
  }
  pthread_mutex_unlock(&submit_lock);
}

int clrp_pool_threads(void) { return atomic_load(&worker_count) + 1; }

void clrp_pool_run(long chunks, clrp_pool_task task, void *context) {
  if (chunks <= 0) return;
  if (chunks == 1 || (unsigned long long)chunks >= CLOSED || inside_job || pthread_mutex_trylock(&submit_lock) != 0) {
    for (long i = 0; i < chunks; i++) task(context, i);
    return;
  }
  if (worker_count == 0 || serial_jobs > 0) {
    if (serial_jobs > 0) serial_jobs--;
    pthread_mutex_unlock(&submit_lock);
    for (long i = 0; i < chunks; i++) task(context, i);
    return;
  }
  atomic_store_explicit(&job_task, task, memory_order_relaxed);
  atomic_store_explicit(&job_context, context, memory_order_relaxed);
  atomic_store_explicit(&job_chunks, chunks, memory_order_relaxed);
  atomic_store_explicit(&completed_chunks, 0, memory_order_relaxed);
  publish_next_job(0);
  const unsigned long long number = job_number(atomic_load_explicit(&ticket, memory_order_relaxed));
  const long long start = now_ns();
  inside_job = 1;
  run_chunks(number);
  inside_job = 0;
  // Only chunks a worker has claimed and not finished can keep the caller waiting here.
  if (atomic_load_explicit(&completed_chunks, memory_order_acquire) < chunks) {
    const long long ran = now_ns() - start;
    for (int spins = 0; atomic_load_explicit(&completed_chunks, memory_order_acquire) < chunks; spins++) {
      if (spins < SPIN_ROUNDS) CPU_RELAX();
      else sched_yield();
    }
    // Waiting much longer than the caller's own share took means the worker lost its core to
    // another process mid-chunk (a loaded machine: every job would wait a time slice). Run the
    // next jobs alone, then try the workers again.
    if (now_ns() - start - ran > 2 * ran + 500000) {
      serial_jobs = serial_period;
      if (serial_period < SERIAL_JOBS_MOST) serial_period *= 2;
    } else {
      serial_period = SERIAL_JOBS_FIRST;
    }
  } else {
    serial_period = SERIAL_JOBS_FIRST;
  }
  // Closing the ticket (an atomic read-modify-write, so the next job's fields are written only
  // after it) stops a late worker from claiming past the end with another job's fields.
  atomic_exchange(&ticket, (number << 32) | CLOSED);
  pthread_mutex_unlock(&submit_lock);
}

int clrp_pool_inside_job(void) { return inside_job; }
