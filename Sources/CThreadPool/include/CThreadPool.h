#ifndef CLRP_CTHREADPOOL_H
#define CLRP_CTHREADPOOL_H

/// One chunk of a parallel job: `task(context, chunk)` for `chunk` in `0..<chunks`.
typedef void (*clrp_pool_task)(void *context, long chunk);

/// Sets how many threads run a job: the caller plus `threads - 1` workers (at least 1 in all).
/// Workers are started here, or stopped and joined when there are fewer. Call it while no job
/// runs; from inside a chunk it changes nothing. New workers copy the calling thread's
/// floating-point mode. A child of `fork()` starts with no workers.
void clrp_pool_set_threads(int threads);

/// The number of threads set (1 before any `clrp_pool_set_threads`).
int clrp_pool_threads(void);

/// Runs `task(context, i)` for every `i` in `0..<chunks`, spread over the caller and the pool's
/// workers, and returns when all have run. Chunks are claimed one at a time in increasing
/// order by whichever thread asks next, the caller included, so the caller waits only for
/// chunks a worker has started: on a loaded machine, where a worker may not get a core for a
/// while, the caller runs the rest itself instead of waiting for it.
///
/// Workers spin on the job ticket for a while after each job (0.1 to 0.4 ms) before they sleep
/// on a condition variable, so in a pass that runs one job after another (a forward pass: a
/// few hundred of them) they are there when the next job comes; this is how onnxruntime's
/// pool keeps its threads hot.
///
/// When the caller waited much longer for a worker's chunk than its own share took (more than
/// twice that plus 0.5 ms: the worker lost its core to another process mid-chunk), the next
/// 256 jobs run on the caller alone, and then the workers are tried again (after 512 jobs if
/// the wait recurs, doubling up to 16384); on a loaded machine that is about as fast as one
/// thread, where waiting a time slice per job was slower. `clrp_pool_set_threads` ends such a
/// period.
///
/// Runs everything on the caller instead when the pool has no workers, when the caller is
/// inside a chunk of a job already (nested parallelism), or when another thread's job holds
/// the pool. Never deadlocks, whichever threads call it.
void clrp_pool_run(long chunks, clrp_pool_task task, void *context);

/// Whether the calling thread is running a chunk of a job (where `clrp_pool_run` runs serially).
int clrp_pool_inside_job(void);

#endif
