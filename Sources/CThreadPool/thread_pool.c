#include "CThreadPool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

// Rounds of CPU_RELAX a waiting thread spins before it sleeps (workers) or yields (the caller):
// a pause takes 40 to 140 cycles, so about 0.5 to 2 ms.
enum { SPIN_ROUNDS = 1 << 15 };

// One job at a time: its owner holds `submit_lock` from publishing it until every worker has
// reported back, so the job's fields never change under a worker.
static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  clrp_pool_task task;
  void *context;
  long chunks;
} job;
static _Atomic long next_chunk;
// Bumped to publish a job (or to stop the workers); every worker sees every value.
static _Atomic unsigned long generation;
static _Atomic int finished_workers;
static _Atomic int stopping;

static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static _Atomic int sleepers;

static pthread_t *workers;
static int worker_count;
// Set on workers, and on a caller while it runs chunks: a parallel job inside a chunk runs serially.
static _Thread_local int inside_job;

static void run_chunks(void) {
  const long chunks = job.chunks;
  const clrp_pool_task task = job.task;
  void *const context = job.context;
  for (long i; (i = atomic_fetch_add_explicit(&next_chunk, 1, memory_order_relaxed)) < chunks;) task(context, i);
}

// Waits until `generation` differs from `seen`, spinning first, then sleeping; returns it.
static unsigned long wait_for_generation(unsigned long seen) {
  for (int spins = 0;; spins++) {
    const unsigned long now = atomic_load_explicit(&generation, memory_order_acquire);
    if (now != seen) return now;
    if (spins < SPIN_ROUNDS) {
      CPU_RELAX();
      continue;
    }
    // Counting this thread among the sleepers before reading `generation` again (both
    // sequentially consistent) pairs with clrp_pool_run bumping it before reading `sleepers`:
    // either the worker sees the new job or the caller sees a sleeper and broadcasts.
    pthread_mutex_lock(&sleep_lock);
    atomic_fetch_add(&sleepers, 1);
    while (atomic_load(&generation) == seen) pthread_cond_wait(&sleep_cond, &sleep_lock);
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

static void *worker_main(void *start_generation) {
  unsigned long seen = (unsigned long)(uintptr_t)start_generation;
  inside_job = 1;
  for (;;) {
    seen = wait_for_generation(seen);
    if (atomic_load_explicit(&stopping, memory_order_acquire)) return NULL;
    run_chunks();
    atomic_fetch_add_explicit(&finished_workers, 1, memory_order_release);
  }
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
  pthread_once(&fork_handler_once, install_fork_handler);
  pthread_mutex_lock(&submit_lock);
  if (wanted != worker_count) {
    if (worker_count > 0) {
      atomic_store(&stopping, 1);
      atomic_fetch_add(&generation, 1);
      wake_sleepers();
      for (int i = 0; i < worker_count; i++) pthread_join(workers[i], NULL);
      free(workers);
      workers = NULL;
      worker_count = 0;
      atomic_store(&stopping, 0);
    }
    if (wanted > 0 && (workers = malloc(sizeof(pthread_t) * (size_t)wanted)) != NULL) {
      const uintptr_t start = atomic_load(&generation);
      while (worker_count < wanted && pthread_create(&workers[worker_count], NULL, worker_main, (void *)start) == 0)
        worker_count++;
    }
  }
  pthread_mutex_unlock(&submit_lock);
}

int clrp_pool_threads(void) {
  pthread_mutex_lock(&submit_lock);
  const int threads = worker_count + 1;
  pthread_mutex_unlock(&submit_lock);
  return threads;
}

void clrp_pool_run(long chunks, clrp_pool_task task, void *context) {
  if (chunks <= 0) return;
  if (chunks == 1 || inside_job || pthread_mutex_trylock(&submit_lock) != 0) {
    for (long i = 0; i < chunks; i++) task(context, i);
    return;
  }
  if (worker_count == 0) {
    pthread_mutex_unlock(&submit_lock);
    for (long i = 0; i < chunks; i++) task(context, i);
    return;
  }
  job.task = task;
  job.context = context;
  job.chunks = chunks;
  atomic_store_explicit(&next_chunk, 0, memory_order_relaxed);
  atomic_store_explicit(&finished_workers, 0, memory_order_relaxed);
  atomic_fetch_add(&generation, 1);
  wake_sleepers();
  inside_job = 1;
  run_chunks();
  inside_job = 0;
  for (int spins = 0; atomic_load_explicit(&finished_workers, memory_order_acquire) < worker_count; spins++) {
    if (spins < SPIN_ROUNDS) CPU_RELAX();
    else sched_yield();
  }
  pthread_mutex_unlock(&submit_lock);
}

int clrp_pool_inside_job(void) { return inside_job; }
