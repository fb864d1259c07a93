/* tests/support.c — the helpers the test files share, so that each exists
 * once: sleeping, touching, waiting for and sizing files, temporary
 * directories, the one gate task (support_gate) that holds a worker until
 * the test creates a file, the shared support_mul and support_square tasks,
 * large-payload helpers (a byte pattern, its digest, the support_bin_digest
 * task, open descriptor counts), pool creation, the pool-and-gates fixture
 * (support_setup/support_teardown), and stand-alone futures in fixed
 * states, and process checks (alive, /dev/shm entries, named children).
 * Used by the executor, pool and fault test files. No Test() here.
 */
#include "support.h"
#include "ipc/pidfd.h"
#include "tests/reaper/proc_stat.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ files */

void support_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

bool support_touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    return close(fd) == 0;
}

bool support_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

bool support_wait_file(const char *path)
{
    for (int i = 0; i < SUPPORT_LIVENESS_MS; i++) {
        if (support_file_exists(path))
            return true;
        support_sleep_ms(1);
    }
    return support_file_exists(path);
}

off_t support_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

void support_make_dir(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/cfut-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

void support_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void support_tool_path(char *path, size_t size, int up, const char *name)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    cr_assert_gt(n, 0);
    self[n] = '\0';
    for (int level = 0; level <= up; level++) { /* the binary's name, then `up` folders */
        char *slash = strrchr(self, '/');
        cr_assert_not_null(slash);
        *slash = '\0';
    }
    cr_assert_lt((size_t)snprintf(path, size, "%s/%s", self, name), size);
    if (access(path, X_OK) != 0)
        cr_skip_test("%s is not built next to the tests (make test builds it)", name);
}

/* ------------------------------------------------------------ gates */

int support_gate_hold(const msgpack_object *args, int64_t *k)
{
    const char *dir;
    size_t dlen;
    int64_t n;
    char path[512];
    if (cf_arg_str(args, 0, &dir, &dlen) < 0 || cf_arg_i64(args, 1, &n) < 0)
        return cf_task_fail("support_gate: expected dir, k");
    snprintf(path, sizeof(path), "%.*s/ran", (int)dlen, dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (write(fd, "x", 1) != 1)
            n = -1;
        close(fd);
    }
    snprintf(path, sizeof(path), "%.*s/started-%lld", (int)dlen, dir, (long long)n);
    support_touch(path);
    snprintf(path, sizeof(path), "%.*s/go", (int)dlen, dir);
    if (!support_wait_file(path))
        return cf_task_fail("support_gate: the gate never opened");
    if (k)
        *k = n;
    return 0;
}

int support_gate(const msgpack_object *args, msgpack_packer *out)
{
    int64_t k;
    int rc = support_gate_hold(args, &k);
    if (rc != 0)
        return rc;
    return msgpack_pack_int64(out, k);
}
CF_TASK(support_gate);

bool support_gate_try_open(const char *dir)
{
    char go[512];
    snprintf(go, sizeof(go), "%s/go", dir);
    return support_touch(go);
}

void support_gate_open(const char *dir)
{
    cr_assert(support_gate_try_open(dir), "cannot open the gate %s", dir);
}

cf_future *support_submit_gate(cf_executor *ex, const char *dir, int64_t k)
{
    cf_future *f = NULL;
    int rc = cf_submit(ex, support_gate, &f, "si", dir, k);
    cr_assert_eq(rc, 0, "submit gate: %s", cf_strerror(rc));
    return f;
}

cf_future *support_block_worker(cf_executor *ex, const char *dir, int64_t k)
{
    cf_future *f = support_submit_gate(ex, dir, k);
    char path[512];
    snprintf(path, sizeof(path), "%s/started-%lld", dir, (long long)k);
    cr_assert(support_wait_file(path), "gate task %lld never started", (long long)k);
    return f;
}

/* ------------------------------------------------------------ tasks */

int support_mul(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x, y;
    if (cf_arg_i64(args, 0, &x) < 0 || cf_arg_i64(args, 1, &y) < 0)
        return cf_task_fail("support_mul: expected two integers");
    return msgpack_pack_int64(out, x * y);
}
CF_TASK(support_mul);

int support_square(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("support_square: expected an integer");
    return msgpack_pack_int64(out, n * n);
}
CF_TASK(support_square);

/* ---------------------------------------------------- msgpack values */

int support_pack_container(msgpack_packer *pk, int which)
{
    switch (which) {
    case 0:
        msgpack_pack_array(pk, 2);
        msgpack_pack_int(pk, 1);
        msgpack_pack_array(pk, 2);
        msgpack_pack_int(pk, 2);
        return msgpack_pack_str_with_body(pk, "x", 1);
    case 1:
        msgpack_pack_map(pk, 1);
        msgpack_pack_str_with_body(pk, "a", 1);
        return msgpack_pack_int(pk, 1);
    default:
        return msgpack_pack_ext_with_body(pk, "abc", 3, 7);
    }
}

/* ------------------------------------------------------- large bytes */

unsigned char support_pattern(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

uint64_t support_digest(const unsigned char *b, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = s * 31 + b[i];
    return s;
}

int support_bin_digest(const msgpack_object *args, msgpack_packer *out)
{
    const void *b;
    size_t n;
    if (args->type != MSGPACK_OBJECT_ARRAY || args->via.array.size != 1 ||
        cf_arg_bin(args, 0, &b, &n) < 0)
        return cf_task_fail("support_bin_digest: expected exactly one binary");
    msgpack_pack_array(out, 2);
    msgpack_pack_uint64(out, n);
    return msgpack_pack_uint64(out, support_digest(b, n));
}
CF_TASK(support_bin_digest);

void support_expect_digest(const msgpack_object *o, const unsigned char *b, size_t n)
{
    cr_assert_eq(o->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(o->via.array.size, 2);
    cr_assert_eq(o->via.array.ptr[0].via.u64, n, "length %llu, expected %zu",
                 (unsigned long long)o->via.array.ptr[0].via.u64, n);
    cr_assert_eq(o->via.array.ptr[1].via.u64, support_digest(b, n), "the bytes arrived changed");
}

int support_open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------ stderr */

static int saved_stderr = -1;
static FILE *captured;

void support_stderr_begin(void)
{
    fflush(stderr);
    captured = tmpfile();
    cr_assert_not_null(captured);
    saved_stderr = dup(STDERR_FILENO);
    cr_assert_geq(saved_stderr, 0);
    cr_assert_geq(dup2(fileno(captured), STDERR_FILENO), 0);
}

void support_stderr_end(char *buf, size_t size)
{
    fflush(stderr);
    cr_assert_geq(saved_stderr, 0, "support_stderr_begin first");
    cr_assert_geq(dup2(saved_stderr, STDERR_FILENO), 0);
    close(saved_stderr);
    saved_stderr = -1;
    rewind(captured);
    size_t n = fread(buf, 1, size - 1, captured);
    buf[n] = '\0';
    fclose(captured);
    captured = NULL;
}

/* ------------------------------------------------------------ pools */

cf_executor *support_new_pool(int workers, size_t ring_bytes)
{
    cf_executor *ex = NULL;
    cf_process_pool_options o = {.max_workers = workers, .ring_bytes = ring_bytes};
    int rc = cf_process_pool_create(&ex, &o);
    cr_assert_eq(rc, 0, "pool create: %s", cf_strerror(rc));
    cr_assert_not_null(ex);
    return ex;
}

#define MAX_GATES 8
static char gates[MAX_GATES][64];
static int n_gates;
cf_executor *support_pool;

void support_start_pool(int workers)
{
    support_pool = support_new_pool(workers, 0);
}

void support_setup(void)
{
    support_start_pool(2);
}

void support_teardown(void)
{
    for (int i = 0; i < n_gates; i++)
        support_gate_try_open(gates[i]);
    if (support_pool)
        cf_executor_release(support_pool);
    support_pool = NULL;
    for (int i = 0; i < n_gates; i++)
        support_remove_dir(gates[i]);
    n_gates = 0;
}

const char *support_gate_new(void)
{
    cr_assert_lt(n_gates, MAX_GATES);
    char *g = gates[n_gates];
    support_make_dir(g, sizeof(gates[0]));
    n_gates++;
    return g;
}

cf_future *support_submit_mul(int64_t x, int64_t y)
{
    cf_future *f = NULL;
    cr_assert_eq(cf_submit(support_pool, support_mul, &f, "ii", x, y), 0);
    return f;
}

/* ------------------------------------------------- stand-alone futures */

int support_set_i64(cf_future *f, int64_t v)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_int64(&pk, v);
    int rc = cf_future_set_result(f, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

cf_future *support_pending(void)
{
    cf_future *f = NULL;
    cr_assert_eq(cf_future_create(&f), 0);
    cr_assert_not_null(f);
    return f;
}

cf_future *support_running(void)
{
    cf_future *f = support_pending();
    cr_assert_eq(cf_future_set_running(f), 0);
    return f;
}

cf_future *support_cancelled(void)
{
    cf_future *f = support_pending();
    cr_assert(cf_future_cancel(f));
    return f;
}

cf_future *support_failed(void)
{
    cf_future *f = support_pending();
    cr_assert_eq(cf_future_set_error(f, -EIO, "OSError"), 0);
    return f;
}

cf_future *support_succeeded(int64_t v)
{
    cf_future *f = support_pending();
    cr_assert_eq(support_set_i64(f, v), 0);
    return f;
}

void support_release_all(cf_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cf_future_release(fs[i]);
}

/* ------------------------------------------------------------ processes */

bool support_process_running(pid_t pid)
{
    char path[64], state = '?';
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    int n = fscanf(f, "%*d %*s %c", &state);
    fclose(f);
    return n == 1 && state != 'Z' && state != 'X';
}

int support_shm_entries_of(pid_t pid)
{
    char prefix[48];
    int n = 0;
    snprintf(prefix, sizeof(prefix), "cfutures-%d-", (int)pid);
    DIR *d = opendir("/dev/shm");
    for (struct dirent *e; d && (e = readdir(d));)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

int support_children_named(const char *prefix, pid_t *first)
{
    int n = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[300], comm[32] = "";
        int ppid = 0;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fscanf(f, "%*d (%31[^)]) %*c %d", comm, &ppid) == 2 && ppid == getpid() &&
            strncmp(comm, prefix, strlen(prefix)) == 0) {
            if (n++ == 0 && first)
                *first = (pid_t)atoi(e->d_name);
        }
        fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

int support_kill_worker(pid_t pid, int sig)
{
    if (pid <= 0)
        return -ESRCH;
    /* The pidfd first: whatever the pid names after this, the signal can
     * only reach the process it named now. Then check that this process
     * is ours; if it died and the pid was reused meanwhile, the check
     * reads the newcomer and the signal (through the pidfd) reaches no one. */
    int pfd = cf__pidfd_open(pid);
    if (pfd < 0)
        return pfd;
    char comm[32], fs_comm[32];
    pid_t fs = 0, fs_parent = 0;
    bool ours = proc_info(pid, &fs, comm, sizeof(comm)) &&
                strncmp(comm, "cf-worker", 9) == 0 &&
                proc_info(fs, &fs_parent, fs_comm, sizeof(fs_comm)) &&
                strncmp(fs_comm, "cf-forkserv", 11) == 0 && fs_parent == getpid();
    int rc = ours ? cf__pidfd_signal(pfd, sig) : -ESRCH;
    close(pfd);
    return rc;
}

pid_t support_kill_forkserver(void)
{
    pid_t fs = 0;
    cr_assert_eq(support_children_named("cf-forkserver", &fs), 1);
    cr_assert_eq(kill(fs, SIGKILL), 0);
    return fs;
}
