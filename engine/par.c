/* par.c — see par.h.  One job at a time: a caller that finds the pool busy (another
 * application thread is inside hz_par_for) runs its loop itself. */
#include "engine/par.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common/hz.h"

#define PAR_MAX      16
#define PAR_MIN_WORK 32768 /* element operations below which a hand-off costs more */
/* How long an idle worker polls for the next job before it sleeps.  A forward is a chain of
 * jobs a few microseconds apart; waking a sleeping thread costs tens of microseconds on a
 * virtual machine, more than most jobs, so workers stay awake across the gaps. */
#define PAR_SPIN_NS 200000

static struct {
    pthread_once_t once;
    pthread_mutex_t busy; /* held by the caller of the running job */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int started; /* workers running (threads - 1) */
    int threads; /* wanted, caller included */
    /* the job, published under lock, generation last */
    hz_par_fn fn;
    void *arg;
    int64_t n;
    int parts;
    atomic_uint gen;
    atomic_int pending;
} P = {.once = PTHREAD_ONCE_INIT,
       .busy = PTHREAD_MUTEX_INITIALIZER,
       .lock = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER};

static _Thread_local int in_job;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_part(int part)
{
    int64_t lo = P.n * part / P.parts, hi = P.n * (part + 1) / P.parts;
    if (lo < hi)
        P.fn(P.arg, lo, hi);
}

static void *worker(void *idp)
{
    int id = (int)(intptr_t)idp; /* 1..started */
    unsigned seen = 0;
    in_job = 1;
    for (;;) {
        unsigned g;
        int64_t t0 = hz_mono_ns();
        for (unsigned spins = 1; (g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen;
             spins++) {
            cpu_relax();
            if (spins & 63)
                continue;
            if (hz_mono_ns() - t0 > PAR_SPIN_NS)
                break;
            sched_yield(); /* an OpenBLAS thread or another process may want this core */
        }
        if (g == seen) {
            pthread_mutex_lock(&P.lock);
            while ((g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen)
                pthread_cond_wait(&P.wake, &P.lock);
            pthread_mutex_unlock(&P.lock);
        }
        seen = g;
        if (id < P.parts)
            run_part(id);
        atomic_fetch_sub_explicit(&P.pending, 1, memory_order_acq_rel);
    }
    return NULL;
}

static void start(void)
{
    int want = P.threads > 0 ? P.threads : openblas_get_num_threads();
    if (want > PAR_MAX)
        want = PAR_MAX;
    for (int i = 1; i < want; i++) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &at, worker, (void *)(intptr_t)i);
        pthread_attr_destroy(&at);
        if (rc)
            break; /* fewer threads: still correct */
        P.started++;
    }
    if (P.threads <= 0 || P.threads > P.started + 1)
        P.threads = P.started + 1;
}

void hz_par_set_threads(int n)
{
    /* Before the first job this sets the pool size; afterwards it can only lower the number
     * of parts (idle workers stay asleep). */
    pthread_mutex_lock(&P.busy);
    P.threads = n > 0 ? n : 0;
    if (P.started && (n <= 0 || n > P.started + 1))
        P.threads = P.started + 1;
    pthread_mutex_unlock(&P.busy);
}

int hz_par_threads(void)
{
    pthread_once(&P.once, start);
    return P.threads;
}

void hz_par_for(int64_t n, int64_t cost, hz_par_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (in_job || n < 2 || n * (cost > 0 ? cost : 1) < PAR_MIN_WORK) {
        fn(arg, 0, n);
        return;
    }
    pthread_once(&P.once, start);
    if (P.started == 0 || P.threads < 2 || pthread_mutex_trylock(&P.busy)) {
        fn(arg, 0, n);
        return;
    }
    int parts = P.threads < n ? P.threads : (int)n;
    P.fn = fn;
    P.arg = arg;
    P.n = n;
    P.parts = parts;
    atomic_store_explicit(&P.pending, P.started, memory_order_relaxed);
    pthread_mutex_lock(&P.lock);
    atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.lock);
    in_job = 1;
    run_part(0);
    in_job = 0;
    for (unsigned spins = 1; atomic_load_explicit(&P.pending, memory_order_acquire) > 0; spins++)
        if (spins & 255)
            cpu_relax();
        else
            sched_yield(); /* a worker descheduled: let it run */
    pthread_mutex_unlock(&P.busy);
}
