/* tests/criterion-shim/runner.c — the runner of the criterion shim (see
 * criterion/criterion.h), linked only into the threading tests' binary.
 *
 * Tests register themselves from constructors.  main() runs each one in a
 * forked child: the runner itself never starts a thread, so every child is
 * single-threaded when forked, which is what ThreadSanitizer needs.  The
 * child runs the suite's and the test's .init, the test, then the test's
 * and the suite's .fini (also after a failed assertion), and exits; it
 * reports assertion failures through a shared page.  The parent enforces
 * .timeout, tells crashes (signals) apart, checks .exit_code and .signal,
 * and prints Criterion's lines, ending with its synthesis line:
 *
 *   [====] Synthesis: Tested: N | Passing: N | Failing: N | Crashing: N
 *
 * As in Criterion, crashes and time-outs count as failing, and skipped or
 * disabled tests are not counted as tested.  A child that exits with a
 * status other than the expected one fails: under the sanitizers, that is
 * how a report at exit (TSan: 66, LSan: 23) fails its test.
 *
 * Options: --filter GLOB (matched against suite/name with fnmatch), -j N /
 * --jobs N (tests run in parallel, 1 by default), --timeout S (for tests
 * that have none), --verbose, --list, --fail-fast, --always-succeed; the
 * environment's CRITERION_TEST_PATTERN and CRITERION_JOBS as in Criterion.
 */
#include "criterion/criterion.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The exit status of a test process whose assertion failed on a thread
 * other than the test's own (which cannot unwind the test). */
#define EXIT_OTHER_THREAD 70

enum phase { PHASE_START, PHASE_SETUP, PHASE_TEST, PHASE_TEARDOWN, PHASE_DONE };

static const char *const phase_names[] = {
    "before its setup", "during its setup (.init)", "during the test",
    "during its teardown (.fini)", "after its teardown (at exit)",
};

/* Written by the test process, read by the runner once it has ended. */
struct shared {
    atomic_int failed;
    atomic_int skipped;
    atomic_int phase;
    char skip_msg[512];
};

struct entry {
    const struct crs_test *test;
    const struct criterion_test_extra_data *suite; /* NULL without TestSuite */
    double timeout;
    int signal;
    int exit_code;
    bool disabled;
};

static struct crs_test *tests;
static struct crs_suite *suites;
static bool verbose;
/* The runner's tables, at file scope so that LeakSanitizer, checking at a
 * test process's exit, still sees them as reachable. */
static struct entry *all;
static struct slot *slots;

/* The test process's state. */
static struct shared *cur;
static pthread_t test_thread;
static jmp_buf test_jump;

void crs_register_test(struct crs_test *test)
{
    test->next = tests;
    tests = test;
}

void crs_register_suite(struct crs_suite *suite)
{
    suite->next = suites;
    suites = suite;
}

/* ------------------------------------------------------------ test side */

/* Prints "[----] " before each line of text. */
static void print_prefixed(const char *text)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        fprintf(stderr, "[----]   %.*s\n", (int)n, text);
        text += n;
        if (*text == '\n')
            text++;
    }
}

static void report(const char *file, unsigned line, const char *dflt,
                   const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (fmt == NULL || fmt[0] == '\0' || vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    flockfile(stderr);
    fprintf(stderr, "[----] %s:%u: Assertion Failed\n[----]   \n", file, line);
    print_prefixed(msg != NULL && msg[0] != '\0' ? msg : dflt);
    fprintf(stderr, "[----]   \n");
    funlockfile(stderr);
    free(msg);
}

/* Leaves the current test (or fixture): back to run_child() on the test's
 * thread; on any other thread, the test process ends here. */
static _Noreturn void leave(void)
{
    if (cur != NULL && pthread_equal(pthread_self(), test_thread))
        longjmp(test_jump, 1);
    fprintf(stderr, "[----] (on a thread other than the test's: the test "
                    "process ends without its teardown)\n");
    fflush(NULL);
    _exit(cur != NULL ? EXIT_OTHER_THREAD : 2);
}

/* Prints a failed assertion and marks the running test failed. */
static void fail(const char *file, unsigned line, const char *dflt, const char *fmt, va_list ap)
{
    report(file, line, dflt, fmt, ap);
    if (cur != NULL)
        atomic_store(&cur->failed, 1);
}

void crs_fail_abort(const char *file, unsigned line, const char *dflt,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail(file, line, dflt, fmt, ap);
    va_end(ap);
    leave();
}

void crs_fail_continue(const char *file, unsigned line, const char *dflt,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail(file, line, dflt, fmt, ap);
    va_end(ap);
}

void crs_skip(const char *fmt, ...)
{
    if (cur != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cur->skip_msg, sizeof cur->skip_msg, fmt, ap);
        va_end(ap);
        atomic_store(&cur->skipped, 1);
    }
    leave();
}

void cr_log(enum criterion_severity severity, const char *msg, ...)
{
    static const char *const tags[] = { "[----]", "[WARN]", "[ERR ]" };
    if (severity == CR_LOG_INFO && !verbose)
        return;
    char *text = NULL;
    va_list ap;
    va_start(ap, msg);
    if (vasprintf(&text, msg, ap) < 0)
        text = NULL;
    va_end(ap);
    fprintf(stderr, "%s %s\n", tags[severity <= CR_LOG_ERROR ? severity : 0],
            text != NULL ? text : msg);
    free(text);
}

/* 1 if fn left through a failed assertion or cr_skip_test. */
static int guarded(void (*fn)(void))
{
    if (setjmp(test_jump))
        return 1;
    fn();
    return 0;
}

static _Noreturn void run_child(const struct entry *e, struct shared *sh)
{
    const struct crs_test *t = e->test;
    cur = sh;
    test_thread = pthread_self();
    atomic_store(&sh->phase, PHASE_SETUP);
    int aborted = 0;
    if (e->suite != NULL && e->suite->init != NULL)
        aborted = guarded(e->suite->init);
    if (!aborted && t->data->init != NULL)
        aborted = guarded(t->data->init);
    if (!aborted) {
        atomic_store(&sh->phase, PHASE_TEST);
        guarded(t->test);
    }
    atomic_store(&sh->phase, PHASE_TEARDOWN);
    if (t->data->fini != NULL)
        guarded(t->data->fini);
    if (e->suite != NULL && e->suite->fini != NULL)
        guarded(e->suite->fini);
    atomic_store(&sh->phase, PHASE_DONE);
    fflush(NULL);
    exit(0); /* exit, not _exit: the sanitizers report at exit */
}

/* ------------------------------------------------------------ runner */

struct stats {
    int tested, passing, failing, crashing;
};

struct slot {
    const struct entry *e;
    pid_t pid;
    struct shared *sh;
    double start;
    bool timed_out;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_name(const void *a, const void *b)
{
    const struct crs_test *x = ((const struct entry *)a)->test;
    const struct crs_test *y = ((const struct entry *)b)->test;
    int c = strcmp(x->category, y->category);
    return c != 0 ? c : strcmp(x->name, y->name);
}

static const struct criterion_test_extra_data *suite_of(const char *name)
{
    for (const struct crs_suite *s = suites; s != NULL; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s->data;
    return NULL;
}

static bool start(struct slot *s, const struct entry *e)
{
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("criterion shim: mmap");
        return false;
    }
    if (verbose) {
        const char *d = e->test->data->description;
        fprintf(stderr, "[RUN ] %s::%s%s%s\n", e->test->category,
                e->test->name, d != NULL ? ": " : "", d != NULL ? d : "");
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("criterion shim: fork");
        munmap(sh, sizeof *sh);
        return false;
    }
    if (pid == 0)
        run_child(e, sh);
    *s = (struct slot){ .e = e, .pid = pid, .sh = sh, .start = now() };
    return true;
}

/* Reports the ended test in s; false if it failed. */
static bool finish(struct slot *s, int status, struct stats *st)
{
    const struct crs_test *t = s->e->test;
    const struct entry *e = s->e;
    double took = now() - s->start;
    int failed = atomic_load(&s->sh->failed);
    int skipped = atomic_load(&s->sh->skipped);
    int phase = atomic_load(&s->sh->phase);
    if (phase < PHASE_START || phase > PHASE_DONE)
        phase = PHASE_START;
    bool pass = false, crash = false;
    if (s->timed_out) {
        fprintf(stderr, "[FAIL] %s::%s: Timed out. (%.2fs)\n", t->category,
                t->name, took);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (e->signal != 0 && sig == e->signal) {
            pass = !failed;
        } else {
            crash = true;
            fprintf(stderr,
                    "[----] %s:%u: Unexpected signal caught below this line!\n"
                    "[----] %s::%s: signal %d (%s) %s\n",
                    t->file, t->line, t->category, t->name, sig,
                    strsignal(sig), phase_names[phase]);
            fprintf(stderr, "[FAIL] %s::%s: CRASH!\n", t->category, t->name);
        }
    } else {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (skipped && !failed && code == 0) {
            if (verbose)
                fprintf(stderr, "[SKIP] %s::%s: %s\n", t->category, t->name,
                        s->sh->skip_msg[0] ? s->sh->skip_msg : "skipped");
            return true;
        }
        if (e->signal != 0) {
            fprintf(stderr, "[----] %s::%s: expected signal %d (%s), but the "
                            "test exited with status %d\n", t->category,
                    t->name, e->signal, strsignal(e->signal), code);
        } else if (code != e->exit_code && code != EXIT_OTHER_THREAD) {
            fprintf(stderr, "[----] %s::%s: exited with status %d %s"
                            " (expected %d)%s\n", t->category, t->name, code,
                    phase_names[phase], e->exit_code,
                    code == 66 ? "; 66 is ThreadSanitizer's exit status"
                                 " after a report" : "");
        } else {
            pass = !failed;
        }
    }
    if (!pass && !crash && !s->timed_out)
        fprintf(stderr, "[FAIL] %s::%s: (%.2fs)\n", t->category, t->name,
                took);
    if (pass && verbose)
        fprintf(stderr, "[PASS] %s::%s: (%.2fs)\n", t->category, t->name,
                took);
    st->tested++;
    if (pass)
        st->passing++;
    else
        st->failing++;
    if (crash)
        st->crashing++;
    return pass;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: cfutures-threading-tests [options]\n"
            "  --filter GLOB   run the tests whose suite/name matches GLOB\n"
            "  -j N, --jobs N  run N tests at a time (default 1)\n"
            "  --timeout S     time limit for tests that set no .timeout\n"
            "  -l, --list      list the tests and exit\n"
            "  --verbose       print every test's result\n"
            "  --fail-fast     stop at the first failure\n"
            "  --always-succeed  exit with 0 whatever happened\n"
            "(the criterion shim: a subset of Criterion's runner)\n");
}

/* The value of option name: "--name=V", "--name V", "-xV" or "-x V". */
static const char *opt_value(int argc, char **argv, int *i, const char *lng,
                             const char *shrt)
{
    const char *a = argv[*i];
    size_t n = strlen(lng);
    if (strncmp(a, lng, n) == 0 && a[n] == '=')
        return a + n + 1;
    if (shrt != NULL && strncmp(a, shrt, 2) == 0 && a[2] != '\0')
        return a + 2;
    if (strcmp(a, lng) == 0 || (shrt != NULL && strcmp(a, shrt) == 0)) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "criterion shim: %s needs a value\n", a);
            exit(2);
        }
        return argv[++*i];
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *filter = getenv("CRITERION_TEST_PATTERN");
    const char *jobs_env = getenv("CRITERION_JOBS");
    long jobs = jobs_env != NULL ? strtol(jobs_env, NULL, 10) : 1;
    double default_timeout = 0;
    bool list = false, fail_fast = false, always_succeed = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if ((v = opt_value(argc, argv, &i, "--filter", NULL)) != NULL)
            filter = v;
        else if ((v = opt_value(argc, argv, &i, "--jobs", "-j")) != NULL)
            jobs = strtol(v, NULL, 10);
        else if ((v = opt_value(argc, argv, &i, "--timeout", NULL)) != NULL)
            default_timeout = strtod(v, NULL);
        else if (strcmp(a, "-l") == 0 || strcmp(a, "--list") == 0)
            list = true;
        else if (strncmp(a, "--verbose", 9) == 0 || strcmp(a, "-V") == 0)
            verbose = true;
        else if (strcmp(a, "--fail-fast") == 0)
            fail_fast = true;
        else if (strcmp(a, "-y") == 0 || strcmp(a, "--always-succeed") == 0)
            always_succeed = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--ascii") == 0 || strcmp(a, "-S") == 0 ||
                   strcmp(a, "--short-filename") == 0 ||
                   strcmp(a, "--full-stats") == 0 ||
                   strcmp(a, "--no-early-exit") == 0 ||
                   strcmp(a, "--ignore-warnings") == 0 ||
                   strncmp(a, "--color", 7) == 0)
            ; /* accepted for compatibility, no effect */
        else {
            fprintf(stderr, "criterion shim: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (jobs < 1)
        jobs = 1;

    size_t n = 0;
    for (const struct crs_test *t = tests; t != NULL; t = t->next)
        n++;
    all = calloc(n ? n : 1, sizeof *all);
    if (all == NULL) {
        perror("criterion shim");
        return 2;
    }
    size_t m = 0;
    for (const struct crs_test *t = tests; t != NULL; t = t->next) {
        char full[512];
        snprintf(full, sizeof full, "%s/%s", t->category, t->name);
        if (filter != NULL && fnmatch(filter, full, FNM_EXTMATCH) != 0)
            continue;
        const struct criterion_test_extra_data *su = suite_of(t->category);
        struct entry *e = &all[m++];
        e->test = t;
        e->suite = su;
        e->timeout = t->data->timeout > 0 ? t->data->timeout
                     : su != NULL && su->timeout > 0 ? su->timeout
                                                     : default_timeout;
        e->signal = t->data->signal ? t->data->signal
                    : su != NULL ? su->signal : 0;
        e->exit_code = t->data->exit_code ? t->data->exit_code
                       : su != NULL ? su->exit_code : 0;
        e->disabled = t->data->disabled || (su != NULL && su->disabled);
    }
    qsort(all, m, sizeof *all, by_name);

    if (list) {
        for (size_t i = 0; i < m; i++) {
            const char *cat = all[i].test->category;
            if (i == 0 || strcmp(cat, all[i - 1].test->category) != 0) {
                size_t k = i;
                while (k < m && strcmp(all[k].test->category, cat) == 0)
                    k++;
                printf("%s: %zu test%s\n", cat, k - i, k - i == 1 ? "" : "s");
            }
            bool last = i + 1 == m ||
                        strcmp(all[i + 1].test->category, cat) != 0;
            printf("%s %s%s\n", last ? "`--" : "|--", all[i].test->name,
                   all[i].disabled ? " (disabled)" : "");
        }
        return 0;
    }

    if (verbose)
        fprintf(stderr, "[----] Criterion shim (tests/criterion-shim), "
                        "%zu test%s, %ld at a time\n", m, m == 1 ? "" : "s",
                jobs);
    slots = calloc((size_t)jobs, sizeof *slots);
    if (slots == NULL) {
        perror("criterion shim");
        return 2;
    }
    struct stats st = { 0, 0, 0, 0 };
    size_t next = 0;
    long running = 0;
    bool stop = false;
    for (;;) {
        while (!stop && next < m && running < jobs) {
            const struct entry *e = &all[next++];
            if (e->disabled) {
                if (verbose)
                    fprintf(stderr, "[SKIP] %s::%s: Test is disabled\n",
                            e->test->category, e->test->name);
                continue;
            }
            struct slot *s = slots;
            while (s->e != NULL)
                s++;
            if (!start(s, e)) {
                st.tested++;
                st.failing++;
                fprintf(stderr, "[FAIL] %s::%s: could not start\n",
                        e->test->category, e->test->name);
                continue;
            }
            running++;
        }
        if (running == 0)
            break;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno != EINTR) {
            perror("criterion shim: waitpid");
            return 2;
        }
        if (pid > 0) {
            for (long i = 0; i < jobs; i++) {
                struct slot *s = &slots[i];
                if (s->e == NULL || s->pid != pid)
                    continue;
                if (!finish(s, status, &st) && fail_fast)
                    stop = true;
                munmap(s->sh, sizeof *s->sh);
                *s = (struct slot){ 0 };
                running--;
            }
            continue;
        }
        double t = now();
        for (long i = 0; i < jobs; i++) {
            struct slot *s = &slots[i];
            if (s->e != NULL && !s->timed_out && s->e->timeout > 0 &&
                t - s->start > s->e->timeout) {
                s->timed_out = true;
                kill(s->pid, SIGKILL);
            }
        }
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
    }
    fprintf(stderr,
            "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | "
            "Crashing: %d \n", st.tested, st.passing, st.failing, st.crashing);
    free(slots);
    free(all);
    return always_succeed || (st.failing == 0 && st.crashing == 0) ? 0 : 1;
}
