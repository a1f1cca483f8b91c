/* fiber.c - stackful coroutines on ucontext for the event loop (fiber.h).
 *
 * Stacks come from mmap with a guard page below, so an overflow faults
 * instead of writing over another fiber's stack, and are kept on a small
 * free list for reuse. Under AddressSanitizer every switch is announced
 * (__sanitizer_start/finish_switch_fiber) so it knows which stack is live. */
#define _GNU_SOURCE
#include "fiber.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif
#ifdef FIBER_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
#endif

#define STACK_SIZE (256 * 1024)
#define SPARE_STACKS 16

struct fiber {
    ucontext_t ctx;
    void *map;   /* guard page + stack */
    char *stack; /* usable part */
    fiber_fn fn;
    void (*done)(void *arg);
    void *arg;
    struct event_base *base;
    struct event *ev; /* fd wait / wake-up */
    short got;
    int finished;
    int waiting_for_ev; /* ev added by fiber_wait_fd */
    void *asan_fake;
};

static ucontext_t loop_ctx;
static fiber *running;
static int live;
static void *spare[SPARE_STACKS];
static int nspare;
#ifdef FIBER_ASAN
static const void *loop_stack_bottom;
static size_t loop_stack_size;
#endif

static size_t page_size(void) {
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096u;
}

static void *stack_get(void) {
    if (nspare > 0) return spare[--nspare];
    size_t pg = page_size();
    void *m = mmap(NULL, STACK_SIZE + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return NULL;
    if (mprotect(m, pg, PROT_NONE) != 0) {
        munmap(m, STACK_SIZE + pg);
        return NULL;
    }
    return m;
}

static void stack_put(void *m) {
    if (nspare < SPARE_STACKS) spare[nspare++] = m;
    else munmap(m, STACK_SIZE + page_size());
}

fiber *fiber_current(void) { return running; }
int fiber_count(void) { return live; }

/* Loop -> fiber. Returns when the fiber waits (0) or has finished (1). */
static int switch_in(fiber *f) {
    running = f;
#ifdef FIBER_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, f->stack, STACK_SIZE);
#endif
    swapcontext(&loop_ctx, &f->ctx);
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    running = NULL;
    if (f->finished) {
        live--;
        if (f->ev) event_free(f->ev);
        stack_put(f->map);
        void (*done)(void *) = f->done;
        void *arg = f->arg;
        free(f);
        if (done) done(arg);
        return 1;
    }
    return 0;
}

/* Fiber -> loop. */
static void switch_out(fiber *f) {
#ifdef FIBER_ASAN
    __sanitizer_start_switch_fiber(f->finished ? NULL : &f->asan_fake, loop_stack_bottom, loop_stack_size);
#endif
    swapcontext(&f->ctx, &loop_ctx);
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(f->asan_fake, &loop_stack_bottom, &loop_stack_size);
#endif
}

static void trampoline(unsigned int hi, unsigned int lo) {
    fiber *f = (fiber *)(((uintptr_t)hi << 32) | (uintptr_t)lo);
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(NULL, &loop_stack_bottom, &loop_stack_size);
#endif
    f->fn(f->arg);
    f->finished = 1;
    switch_out(f);
}

static void on_event(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    fiber *f = arg;
    f->got = what;
    f->waiting_for_ev = 0;
    switch_in(f);
}

int fiber_run(struct event_base *base, fiber_fn fn, void (*done)(void *arg), void *arg) {
    if (running) { /* already on a fiber: its waits are this code's waits */
        fn(arg);
        if (done) done(arg);
        return 0;
    }
    fiber *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->map = stack_get();
    if (!f->map || getcontext(&f->ctx) != 0) {
        if (f->map) stack_put(f->map);
        free(f);
        return -1;
    }
    f->stack = (char *)f->map + page_size();
    f->fn = fn;
    f->done = done;
    f->arg = arg;
    f->base = base;
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = STACK_SIZE;
    f->ctx.uc_link = NULL;
    uintptr_t p = (uintptr_t)f;
    makecontext(&f->ctx, (void (*)(void))trampoline, 2, (unsigned int)(p >> 32), (unsigned int)(p & 0xffffffffu));
    live++;
    return switch_in(f) ? 0 : 1;
}

short fiber_wait_fd(int fd, short what, long timeout_ms) {
    fiber *f = running;
    if (!f) return 0;
    if (f->ev) event_free(f->ev);
    f->ev = event_new(f->base, fd, what, on_event, f);
    if (!f->ev) return EV_TIMEOUT;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    f->got = 0;
    f->waiting_for_ev = 1;
    event_add(f->ev, timeout_ms >= 0 ? &tv : NULL);
    switch_out(f);
    return f->got;
}

void fiber_park(void) {
    fiber *f = running;
    if (!f) return;
    if (f->ev) event_free(f->ev);
    f->ev = event_new(f->base, -1, 0, on_event, f);
    if (!f->ev) return;
    f->waiting_for_ev = 1;
    switch_out(f);
}

void fiber_wake(fiber *f) {
    if (f && f->ev && f->waiting_for_ev) event_active(f->ev, EV_TIMEOUT, 0);
}
