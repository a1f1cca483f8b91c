/* Fibers (fiber.h): each keeps its own registers, floating-point control
 * state and stack across switches, however they interleave; waits on a
 * file descriptor, on a timeout and on fiber_wake come back with what
 * happened. */
#include <fenv.h>
#include <setjmp.h> /* cmocka */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <msnkit/fiber.h>

enum { FIBERS = 40, ROUNDS = 25 };

typedef struct worker {
    int id;
    fiber *self;
    uint64_t result;
    double fresult;
    int done;
} worker;

static worker workers[FIBERS];
static int parked;

static void work(void *arg) {
    worker *w = arg;
    w->self = fiber_current();
    /* Values live in registers and on the stack across every switch. */
    uint64_t a = (uint64_t)w->id * 2654435761u, b = 7;
    double x = w->id + 0.5;
    char local[512];
    for (size_t i = 0; i < sizeof local; i++) local[i] = (char)((size_t)w->id + i);
    for (int r = 0; r < ROUNDS; r++) {
        a = a * 6364136223846793005u + b;
        b ^= a >> 7;
        x = x * 1.0001 + r;
        parked++;
        fiber_park();
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < sizeof local; i++) sum += (unsigned char)local[i];
    w->result = a ^ b ^ sum;
    w->fresult = x;
}

static void finished(void *arg) { ((worker *)arg)->done = 1; }

static uint64_t expected(int id, double *fx) {
    uint64_t a = (uint64_t)id * 2654435761u, b = 7;
    double x = id + 0.5;
    for (int r = 0; r < ROUNDS; r++) {
        a = a * 6364136223846793005u + b;
        b ^= a >> 7;
        x = x * 1.0001 + r;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < 512; i++) sum += (unsigned char)(char)((size_t)id + i);
    *fx = x;
    return a ^ b ^ sum;
}

static void test_interleaved(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    for (int i = 0; i < FIBERS; i++) {
        workers[i] = (worker){.id = i};
        assert_int_equal(fiber_run(base, work, finished, &workers[i]), 1); /* it waits */
    }
    assert_int_equal(fiber_count(), FIBERS);
    /* Wake them in a different order each round: reverse, then odd ids first. */
    for (int r = 0; r < ROUNDS; r++) {
        for (int k = 0; k < FIBERS; k++) {
            int i = r % 2 ? FIBERS - 1 - k : (k * 7) % FIBERS;
            fiber_wake(workers[i].self);
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    assert_int_equal(parked, FIBERS * ROUNDS);
    assert_int_equal(fiber_count(), 0);
    for (int i = 0; i < FIBERS; i++) {
        double fx;
        assert_true(workers[i].done);
        assert_true(workers[i].result == expected(i, &fx));
        assert_true(workers[i].fresult == fx);
    }
    event_base_free(base);
}

/* The rounding mode a fiber sets is its own: the loop keeps its own, and
 * the fiber finds its own again when resumed. */
static fiber *rounder;
static int fiber_mode_kept;

static void rounding(void *arg) {
    (void)arg;
    rounder = fiber_current();
    fesetround(FE_UPWARD);
    fiber_park();
    fiber_mode_kept = fegetround() == FE_UPWARD;
}

static void test_fp_control_per_fiber(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    assert_int_equal(fesetround(FE_TONEAREST), 0);
    assert_int_equal(fiber_run(base, rounding, NULL, NULL), 1);
    assert_int_equal(fegetround(), FE_TONEAREST);
    fiber_wake(rounder);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(fiber_count(), 0);
    assert_true(fiber_mode_kept);
    assert_int_equal(fegetround(), FE_TONEAREST);
    event_base_free(base);
}

/* A wait on a file descriptor returns when it is ready; one that nothing
 * answers returns EV_TIMEOUT. Off a fiber, fiber_wait_fd does not wait. */
static int pipefd[2];
static short got;

static void wait_read(void *arg) { got = fiber_wait_fd(pipefd[0], EV_READ, (long)(intptr_t)arg); }

static void test_fd_waits(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(fiber_run(base, wait_read, NULL, (void *)(intptr_t)10000), 1);
    assert_int_equal(write(pipefd[1], "x", 1), 1);
    for (int i = 0; i < 100 && fiber_count() > 0; i++) event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(fiber_count(), 0);
    assert_int_equal(got, EV_READ);
    char c;
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    assert_int_equal(fiber_run(base, wait_read, NULL, (void *)(intptr_t)20), 1);
    for (int i = 0; i < 100 && fiber_count() > 0; i++) event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(fiber_count(), 0);
    assert_int_equal(got, EV_TIMEOUT);
    assert_int_equal(fiber_wait_fd(pipefd[0], EV_READ, 10), 0);
    close(pipefd[0]);
    close(pipefd[1]);
    event_base_free(base);
}

/* fiber_yield: the callbacks already active in this loop pass run before
 * the fiber goes on (msnd's PostgreSQL store gathers the login reads of a
 * pass this way); called off a fiber it returns at once. */
static char order[8];
static int norder;

static void note(char c) {
    if (norder < (int)sizeof order - 1) order[norder++] = c;
}

static void yielder(void *arg) {
    (void)arg;
    note('a');
    fiber_yield();
    note('c');
}

static void first_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    assert_int_equal(fiber_run(arg, yielder, NULL, NULL), 1); /* it waits */
}

static void second_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
    note('b');
}

static void test_yield(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    struct event *e1 = event_new(base, -1, 0, first_cb, base), *e2 = event_new(base, -1, 0, second_cb, NULL);
    event_active(e1, EV_TIMEOUT, 0);
    event_active(e2, EV_TIMEOUT, 0);
    for (int i = 0; i < 10 && norder < 3; i++) event_base_loop(base, EVLOOP_ONCE);
    assert_string_equal(order, "abc");
    assert_int_equal(fiber_count(), 0);
    fiber_yield(); /* not on a fiber */
    event_free(e1);
    event_free(e2);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interleaved),
        cmocka_unit_test(test_fp_control_per_fiber),
        cmocka_unit_test(test_fd_waits),
        cmocka_unit_test(test_yield),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
