/* fiber.c - stackful coroutines for the event loop (msnkit/fiber.h).
 *
 * Stacks come from mmap with a guard page below, so an overflow faults
 * instead of writing over another fiber's stack, and are kept on a small
 * free list for reuse. Under AddressSanitizer every switch is announced
 * (__sanitizer_start/finish_switch_fiber) so it knows which stack is live.
 *
 * Switching: on x86-64 a few instructions of our own save the registers
 * the calling convention preserves and swap stack pointers. glibc's
 * getcontext/swapcontext also save and restore the signal mask, one
 * rt_sigprocmask system call each: with PostgreSQL that was 17.7 of a
 * login's 52 system calls (strace, msnbench login), for a mask no msnkit
 * program changes. Other architectures use ucontext. */
#define _GNU_SOURCE
#include <msnkit/fiber.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__linux__)
#define FIBER_OWN_SWITCH 1
/* Saves rbp, rbx, r12-r15 and the SSE/x87 control words on the current
 * stack, stores the stack pointer in *save and continues on `to` (a stack
 * pointer saved the same way, or a new fiber's prepared one). */
void msnkit_fiber_switch(void **save, void *to);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl msnkit_fiber_switch\n"
        ".hidden msnkit_fiber_switch\n"
        ".type msnkit_fiber_switch,@function\n"
        "msnkit_fiber_switch:\n"
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  subq $8, %rsp\n"
        "  stmxcsr (%rsp)\n"
        "  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n"
        "  fldcw 4(%rsp)\n"
        "  addq $8, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size msnkit_fiber_switch, .-msnkit_fiber_switch\n");
#else
#include <ucontext.h>
#endif

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
/* Stacks kept for the next fibers. Logins on PostgreSQL wait together for
 * their batched read (store_pg.c), a hundred and more fibers at once under
 * load: with 16 spares each burst mapped, faulted in and unmapped stacks
 * again (a third of a mapping per login). A spare holds only the pages
 * its fibers touched (a few KiB). */
#define SPARE_STACKS 256

struct fiber {
#ifdef FIBER_OWN_SWITCH
    void *sp; /* saved stack pointer while not running */
#else
    ucontext_t ctx;
#endif
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

#ifdef FIBER_OWN_SWITCH
static void *loop_sp;
#else
static ucontext_t loop_ctx;
#endif
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
#ifdef FIBER_OWN_SWITCH
    msnkit_fiber_switch(&loop_sp, f->sp);
#else
    swapcontext(&loop_ctx, &f->ctx);
#endif
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
#ifdef FIBER_OWN_SWITCH
    msnkit_fiber_switch(&f->sp, loop_sp);
#else
    swapcontext(&f->ctx, &loop_ctx);
#endif
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(f->asan_fake, &loop_stack_bottom, &loop_stack_size);
#endif
}

static void run_fn(fiber *f) {
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(NULL, &loop_stack_bottom, &loop_stack_size);
#endif
    f->fn(f->arg);
    f->finished = 1;
    switch_out(f); /* never resumed */
    abort();
}

#ifdef FIBER_OWN_SWITCH
/* Where a new fiber's first switch returns to: `running` is the fiber. */
static void entry(void) { run_fn(running); }

/* A new stack as msnkit_fiber_switch leaves one: the control words, six
 * registers, and entry as the return address, which then finds the stack
 * pointer as right after a call (8 mod 16) above a zero return address. */
static void prepare(fiber *f) {
    uint64_t *sp = (uint64_t *)(void *)(f->stack + STACK_SIZE);
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    *--sp = 0;
    *--sp = (uint64_t)(uintptr_t)entry;
    for (int i = 0; i < 6; i++) *--sp = 0; /* rbp rbx r12 r13 r14 r15 */
    *--sp = (uint64_t)mxcsr | (uint64_t)fpucw << 32;
    f->sp = sp;
}
#else
static void trampoline(unsigned int hi, unsigned int lo) { run_fn((fiber *)(((uintptr_t)hi << 32) | (uintptr_t)lo)); }
#endif

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
#ifdef FIBER_OWN_SWITCH
    if (!f->map) {
#else
    if (!f->map || getcontext(&f->ctx) != 0) {
#endif
        if (f->map) stack_put(f->map);
        free(f);
        return -1;
    }
    f->stack = (char *)f->map + page_size();
    f->fn = fn;
    f->done = done;
    f->arg = arg;
    f->base = base;
#ifdef FIBER_OWN_SWITCH
    prepare(f);
#else
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = STACK_SIZE;
    f->ctx.uc_link = NULL;
    uintptr_t p = (uintptr_t)f;
    makecontext(&f->ctx, (void (*)(void))trampoline, 2, (unsigned int)(p >> 32), (unsigned int)(p & 0xffffffffu));
#endif
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

/* Leaves the running fiber until its wake-up event fires; at once queues
 * that event behind the callbacks already active in this pass. */
static void wait_for_wake(int at_once) {
    fiber *f = running;
    if (!f) return;
    if (f->ev) event_free(f->ev);
    f->ev = event_new(f->base, -1, 0, on_event, f);
    if (!f->ev) return;
    f->waiting_for_ev = 1;
    if (at_once) event_active(f->ev, EV_TIMEOUT, 0);
    switch_out(f);
}

void fiber_park(void) { wait_for_wake(0); }

void fiber_yield(void) { wait_for_wake(1); }

void fiber_wake(fiber *f) {
    if (f && f->ev && f->waiting_for_ev) event_active(f->ev, EV_TIMEOUT, 0);
}
