/** @file
 * cfutures — concurrent.futures for C.
 *
 * The one public header. A process pool forks workers that run tasks
 * registered by name; arguments and results cross the process boundary as
 * msgpack through a ring in POSIX shared memory; every submission returns a
 * reference-counted future.
 *
 * Conventions
 *  - Functions return 0 or a negative code: a negated errno (-EINVAL,
 *    -ETIMEDOUT, -ENOMEM, ...) or one of the CF_E* codes below; never a bare
 *    -1. cf_strerror() names every code. Predicates return bool.
 *  - Timeouts given as arguments are seconds as a double: 0 polls,
 *    CF_FOREVER (any negative value) waits without limit. Deadlines use
 *    CLOCK_MONOTONIC.
 *  - Option structs: every field left zero takes its default, so
 *    `cf_map_options mo = {.unordered = true};` or `= {0}` is valid; a
 *    timeout field of 0 there means the default (no limit), never "poll"
 *    (cf_submit_options has a `poll` flag for that). Each struct has a
 *    CF_..._OPTIONS_INIT initializer holding the defaults.
 *  - "borrows" means the callee keeps no reference after it returns;
 *    "takes ownership" means the caller must not release what it passed.
 *  - Thread safety: every function may be called from any thread at any
 *    time on the same object, except _init / _destroy / _release (no
 *    other call on that object may be in progress or follow) and where a
 *    comment says otherwise (a cf_map is used by one thread).
 *  - Fork safety: a process forked by the user (not by a pool) must not use
 *    the parent's executors, futures, maps, buffers or in-process
 *    primitives (a buffer's shared memory is not even mapped there); it may
 *    create its own. Process-shared primitives (cfutures/pshared.h) are
 *    meant to cross fork. Tasks run in workers forked from the state the
 *    program had when the pool was created.
 *  - Environment: CF_WORKERS sets the default worker count (see
 *    cf_default_workers); CF_DEBUG=1 (anything but "" and "0") makes each
 *    process pool created afterwards write one line to stderr per worker
 *    start, death, respawn and shutdown, "cfutures[<pid>] pool <n>: ...".
 */
#ifndef CFUTURES_H
#define CFUTURES_H

#include <errno.h> /* the negated errno codes the API returns */
#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the public API. The library is compiled with -fvisibility=hidden,
 * so only what carries CF_API is exported from libcfutures.so. */
#ifndef CF_API
#define CF_API __attribute__((visibility("default")))
#endif

/* ----------------------------------------------------------------- version */

/** @{ */
/** The version of this header (the Makefile reads it from here). Before
 * 1.0, a new minor version may change the ABI (the soname is
 * libcfutures.so.MAJOR.MINOR). */
#define CF_VERSION_MAJOR 0
#define CF_VERSION_MINOR 3
#define CF_VERSION_PATCH 0
#define CF_VERSION "0.3.0"
/** One number to compare: CF_VERSION_NUMBER >= CF_MAKE_VERSION(0, 3, 0). */
#define CF_MAKE_VERSION(major, minor, patch) ((major) * 10000 + (minor) * 100 + (patch))
#define CF_VERSION_NUMBER CF_MAKE_VERSION(CF_VERSION_MAJOR, CF_VERSION_MINOR, CF_VERSION_PATCH)
/** @} */

/** The version of the library linked at run time, "MAJOR.MINOR.PATCH"
 * (compare with CF_VERSION, the header's). Static, never NULL. */
CF_API const char *cf_version(void);

/* ------------------------------------------------------------------ errors */

/** The library's own error codes, beside negated errno values. */
enum cf_error {
    CF_OK = 0,
    CF_ECANCELLED = -10001, /**< the future was cancelled */
    CF_ETASK = -10002,      /**< the task reported failure (cf_task_fail) */
    CF_EWORKER = -10003,    /**< the worker running the task died */
    CF_ESHUTDOWN = -10004,  /**< the executor (or queue) is shut down */
    CF_EBROKEN = -10005,    /**< the executor cannot run tasks any more */
    CF_EFULL = -10006,      /**< no room and the caller asked not to wait */
    CF_EEMPTY = -10007,     /**< nothing to take and the caller asked not to wait */
    CF_EPROTO = -10008,     /**< a malformed record crossed the process boundary */
    CF_ENOTASK = -10009,    /**< no task registered under that name */
    CF_ETYPE = -10010,      /**< a msgpack value is not of the requested type */
    CF_EFORMAT = -10011,    /**< bad format string given to a packer */
    CF_ELOCKORDER = -10012, /**< acquiring would break the global lock order */
};

/** Static, never NULL; unknown codes give "unknown error". Negated errno
 * values get the C library's text, except where it would mislead here
 * (-ETIMEDOUT is "timed out", not "Connection timed out"). Thread-safe. */
CF_API const char *cf_strerror(int err);

/** A timeout that waits without limit (any negative timeout does). */
#define CF_FOREVER (-1.0)

/* ------------------------------------------------------------------- tasks */

/** A task reads its arguments (always a msgpack array, see cf_submit) and
 * packs exactly one result object into `out`. It returns 0, or the value of
 * cf_task_fail() (CF_ETASK with its message). Any other non-zero return
 * (-1, the usual C failure, a positive value, a negative errno or a CF_E*
 * code passed on) fails the future with CF_ETASK and the message "task
 * <name> returned <value>". One exception: when packing the result failed
 * in the library's writer (a shared-memory segment it could not get) and
 * the task passes msgpack's -1 on, the future fails with that writer's
 * -errno (-EMFILE, -ENOSPC, ...). Tasks run in worker processes: they must
 * not touch the parent's executors or futures. */
typedef int (*cf_task_fn)(const msgpack_object *args, msgpack_packer *out);

/** Registers `fn` under `name` (copied). Run at load time by CF_TASK, or at
 * run time before the pool that needs it is created (workers inherit the
 * registry when they are forked). Returns 0, -EINVAL (NULL, empty or longer
 * than 255 bytes), -EEXIST (the name is taken by another function; the
 * same pair twice is fine) or -ENOMEM. Thread-safe. */
CF_API int cf_task_register(const char *name, cf_task_fn fn);

/** Registers `fn` as cf_task_register does, and also under
 * "<file>:<name>" (the end of `file` kept when that exceeds 255 bytes).
 * If another function already holds the bare `name`, that name becomes
 * ambiguous: from then on it finds no task (submitting it is CF_ENOTASK,
 * with a line on stderr naming both files), and each function is known by
 * its "<file>:<name>" (what cf_task_name returns and cf_submit uses), so
 * the wrong function never runs. Returns 0, -EEXIST (the bare name was
 * taken: it is ambiguous now; the qualified name still works), -EINVAL or
 * -ENOMEM. CF_TASK calls it with __FILE__. Thread-safe. */
CF_API int cf_task_register_in(const char *name, const char *file, cf_task_fn fn);

/** The registered name of `fn`, or NULL: its first plain name, or, when
 * its bare name is ambiguous (see cf_task_register_in), its
 * "<file>:<name>". Thread-safe. */
CF_API const char *cf_task_name(cf_task_fn fn);

/** Registers fn under its own identifier (and as "<file>:<fn>", see
 * cf_task_register_in) before main() runs. Two static functions of one
 * name in two files may both use CF_TASK: cf_submit by pointer runs the
 * right one; by the bare name neither runs (CF_ENOTASK). Write it as a
 * declaration, `CF_TASK(fn);` (clean under -Wpedantic). */
#define CF_TASK(fn)                                                           \
    __attribute__((constructor)) static void cf__register_task_##fn(void)    \
    {                                                                         \
        (void)cf_task_register_in(#fn, __FILE__, fn);                         \
    }                                                                         \
    extern int cf__task_registered_##fn

/** Called by a task: records the printf-formatted message as the task's error
 * and returns CF_ETASK, so `return cf_task_fail("bad n: %d", n);` fails the
 * future with CF_ETASK and that message (truncated to 1 KiB). */
CF_API int cf_task_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------- reading msgpack values */

/* Arguments and results may nest arrays and maps at most 30 levels deep
 * (msgpack-c unpacks 32, and a map chunk wraps each item in two). Deeper
 * values are refused with CF_EPROTO. */

/** @{ */
/** Typed readers for one msgpack value. Each returns 0 and stores through
 * `out`, -EINVAL for a NULL argument, or CF_ETYPE when the value has another
 * type (or an integer out of range). Strings and binaries are borrowed:
 * they point into the object and live as long as it does; they are not
 * NUL-terminated. cf_obj_f64 accepts integers too. */
CF_API int cf_obj_i64(const msgpack_object *o, int64_t *out);
CF_API int cf_obj_u64(const msgpack_object *o, uint64_t *out);
CF_API int cf_obj_f64(const msgpack_object *o, double *out);
CF_API int cf_obj_bool(const msgpack_object *o, bool *out);
CF_API int cf_obj_str(const msgpack_object *o, const char **out, size_t *len);
CF_API int cf_obj_bin(const msgpack_object *o, const void **out, size_t *len);
CF_API int cf_obj_array(const msgpack_object *o, const msgpack_object **items, size_t *n);
CF_API int cf_obj_map(const msgpack_object *o, const msgpack_object_kv **pairs, size_t *n);
/** @} */

/** The value under string key `key` (NUL-terminated; compared with the
 * map's string keys, other keys skipped) of map `map`: 0 and a borrowed
 * *out, -ENOENT when no such key, CF_ETYPE when `map` is not a map,
 * -EINVAL for a NULL. The first of duplicate keys wins. */
CF_API int cf_obj_map_get(const msgpack_object *map, const char *key,
                          const msgpack_object **out);

/** @{ */
/** The same on element `i` of an argument array: -ERANGE when i is past the
 * end, CF_ETYPE when `args` is not an array or the element has another type. */
CF_API int cf_arg_count(const msgpack_object *args); /**< >= 0, or CF_ETYPE */
CF_API int cf_arg(const msgpack_object *args, size_t i, const msgpack_object **out);
CF_API int cf_arg_i64(const msgpack_object *args, size_t i, int64_t *out);
CF_API int cf_arg_u64(const msgpack_object *args, size_t i, uint64_t *out);
CF_API int cf_arg_f64(const msgpack_object *args, size_t i, double *out);
CF_API int cf_arg_bool(const msgpack_object *args, size_t i, bool *out);
CF_API int cf_arg_str(const msgpack_object *args, size_t i, const char **out, size_t *len);
CF_API int cf_arg_bin(const msgpack_object *args, size_t i, const void **out, size_t *len);
CF_API int cf_arg_array(const msgpack_object *args, size_t i, const msgpack_object **items,
                        size_t *n);
CF_API int cf_arg_map(const msgpack_object *args, size_t i, const msgpack_object_kv **pairs,
                      size_t *n);
/** @} */

/* ---------------------------------------- type-safe values (CF_ARGS) */

/** One msgpack value to pack, tagged with its type. Made by CF_VAL(x) from
 * a C value of any scalar type (the compiler picks the msgpack type), or by
 * the constructors below for what a C type cannot say (binary, string with
 * length, nil, nested array). */
typedef struct cf_value {
    /** The msgpack type the value packs as. */
    enum cf_value_type {
        CF_VALUE_NIL, CF_VALUE_BOOL, CF_VALUE_I64, CF_VALUE_U64, CF_VALUE_F64,
        CF_VALUE_STR, CF_VALUE_BIN, CF_VALUE_OBJECT, CF_VALUE_ARRAY
    } type; /**< which member of v holds the value */
    /** The value, by type. */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        struct { const void *p; size_t len; } bytes; /**< STR (len SIZE_MAX: up to
                                                          the NUL) and BIN */
        const msgpack_object *obj;                    /**< copied as is */
        struct { const struct cf_value *items; size_t n; } array;
    } v; /**< the value */
} cf_value;

/** An argument list: n values (CF_ARGS makes one). */
typedef struct cf_values {
    const cf_value *items; /**< the values (borrowed) */
    size_t n;              /**< how many */
} cf_values;

#if !defined(__cplusplus) || defined(CF__DOXYGEN)
/** @{ */
/** Constructors (C only); CF_VAL(x) picks among the first six itself. */
static inline cf_value cf_value_i64(int64_t x) { cf_value r = {CF_VALUE_I64, {.i = x}}; return r; }
static inline cf_value cf_value_u64(uint64_t x) { cf_value r = {CF_VALUE_U64, {.u = x}}; return r; }
static inline cf_value cf_value_f64(double x) { cf_value r = {CF_VALUE_F64, {.d = x}}; return r; }
static inline cf_value cf_value_bool(bool x) { cf_value r = {CF_VALUE_BOOL, {.b = x}}; return r; }
/** A NUL-terminated string; NULL is refused (-EINVAL) when packed. */
static inline cf_value cf_value_str(const char *s)
{
    cf_value r = {CF_VALUE_STR, {.bytes = {s, (size_t)-1}}};
    return r;
}
static inline cf_value cf_value_obj(const msgpack_object *o)
{
    cf_value r = {CF_VALUE_OBJECT, {.obj = o}};
    return r;
}
static inline cf_value cf_value_self(cf_value x) { return x; }
/** A string of len bytes (need not be NUL-terminated). */
static inline cf_value cf_strn(const char *s, size_t len)
{
    cf_value r = {CF_VALUE_STR, {.bytes = {s, len}}};
    return r;
}
/** A binary of len bytes. */
static inline cf_value cf_bin(const void *p, size_t len)
{
    cf_value r = {CF_VALUE_BIN, {.bytes = {p, len}}};
    return r;
}
/** nil. */
static inline cf_value cf_nil(void) { cf_value r = {CF_VALUE_NIL, {.i = 0}}; return r; }
/** A nested array: cf_array(CF_ARGS(1, 2)). */
static inline cf_value cf_array(cf_values a)
{
    cf_value r = {CF_VALUE_ARRAY, {.array = {a.items, a.n}}};
    return r;
}
/** @} */

/** The cf_value of x, typed by the compiler: every signed integer type
 * (char, short, int, long, long long, and so int64_t) packs as a signed
 * integer, every unsigned one as unsigned, float and double as double,
 * _Bool as bool, char * and const char * as a string, msgpack_object * as
 * a copy of the object, a cf_value (cf_bin, cf_nil, cf_array, ...) as
 * itself. Anything else (a struct, another pointer) does not compile.
 * Note: `true` and `false` are int constants in C11, so they pack as
 * integers: write (bool)true or cf_value_bool(x). */
#define CF_VAL(x)                                                              \
    _Generic((x),                                                              \
        _Bool: cf_value_bool,                                                  \
        char: cf_value_i64, signed char: cf_value_i64, short: cf_value_i64,    \
        int: cf_value_i64, long: cf_value_i64, long long: cf_value_i64,        \
        unsigned char: cf_value_u64, unsigned short: cf_value_u64,             \
        unsigned int: cf_value_u64, unsigned long: cf_value_u64,               \
        unsigned long long: cf_value_u64,                                      \
        float: cf_value_f64, double: cf_value_f64,                             \
        char *: cf_value_str, const char *: cf_value_str,                      \
        msgpack_object *: cf_value_obj, const msgpack_object *: cf_value_obj,  \
        cf_value: cf_value_self)(x)

/** An argument list of 1 to 16 values, each typed by CF_VAL: the count is
 * that of the macro's arguments, so too few or too many for a format
 * cannot happen, and more than 16 do not compile. For none, CF_NO_ARGS.
 * The list lives until the end of the enclosing block. */
#define CF_ARGS(...)                                                           \
    ((cf_values){(const cf_value[]){CF__VALS(__VA_ARGS__)},                    \
                 sizeof((const cf_value[]){CF__VALS(__VA_ARGS__)}) / sizeof(cf_value)})

/** Packs one C value as its msgpack type: a task's typed result, as in
 * `return cf_pack(out, n * n);`. Returns what cf_pack_value does. */
#define cf_pack(pk, x) cf_pack_value((pk), CF_VAL(x))

/* CF_ARGS's machinery: CF_VAL over each of up to 16 arguments. */
/** @cond INTERNAL */
#define CF__NARG(...) CF__NARG_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define CF__NARG_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, n, ...) n
#define CF__CAT(a, b) CF__CAT_(a, b)
#define CF__CAT_(a, b) a##b
#define CF__VALS(...) CF__CAT(CF__VALS_, CF__NARG(__VA_ARGS__))(__VA_ARGS__)
#define CF__VALS_1(a) CF_VAL(a)
#define CF__VALS_2(a, ...) CF_VAL(a), CF__VALS_1(__VA_ARGS__)
#define CF__VALS_3(a, ...) CF_VAL(a), CF__VALS_2(__VA_ARGS__)
#define CF__VALS_4(a, ...) CF_VAL(a), CF__VALS_3(__VA_ARGS__)
#define CF__VALS_5(a, ...) CF_VAL(a), CF__VALS_4(__VA_ARGS__)
#define CF__VALS_6(a, ...) CF_VAL(a), CF__VALS_5(__VA_ARGS__)
#define CF__VALS_7(a, ...) CF_VAL(a), CF__VALS_6(__VA_ARGS__)
#define CF__VALS_8(a, ...) CF_VAL(a), CF__VALS_7(__VA_ARGS__)
#define CF__VALS_9(a, ...) CF_VAL(a), CF__VALS_8(__VA_ARGS__)
#define CF__VALS_10(a, ...) CF_VAL(a), CF__VALS_9(__VA_ARGS__)
#define CF__VALS_11(a, ...) CF_VAL(a), CF__VALS_10(__VA_ARGS__)
#define CF__VALS_12(a, ...) CF_VAL(a), CF__VALS_11(__VA_ARGS__)
#define CF__VALS_13(a, ...) CF_VAL(a), CF__VALS_12(__VA_ARGS__)
#define CF__VALS_14(a, ...) CF_VAL(a), CF__VALS_13(__VA_ARGS__)
#define CF__VALS_15(a, ...) CF_VAL(a), CF__VALS_14(__VA_ARGS__)
#define CF__VALS_16(a, ...) CF_VAL(a), CF__VALS_15(__VA_ARGS__)
/** @endcond */
#endif /* !__cplusplus || CF__DOXYGEN */

/** The empty argument list. */
#define CF_NO_ARGS ((cf_values){NULL, 0})

/** @{ */
/** Pack one value, or an argument list as a msgpack array. Return 0,
 * -EINVAL (NULL pk, a NULL string or object, NULL bytes with a length,
 * more than 2^32 - 1 bytes or items, an unknown type) or -ENOMEM (the
 * packer's writer failed). */
CF_API int cf_pack_value(msgpack_packer *pk, cf_value v);
CF_API int cf_pack_values(msgpack_packer *pk, cf_values vals);
/** @} */

/* ---------------------------------------------------- packing arguments */

/** @{ */
/** Packs a msgpack array holding one element per format item (the format
 * string API; CF_ARGS above is the type-checked one, and the safer choice):
 *   i  int64_t          u  uint64_t        d  double
 *   ?  bool (as int)    n  nil (no arg)    s  const char * (NUL-terminated)
 *   S  const char *, size_t (string with length)
 *   b  const void *, size_t (binary with length)
 *   o  const msgpack_object * (copied as is)
 *   [  ...  ]  a nested array of the items between the brackets
 * Spaces are ignored. Pitfall: the compiler cannot check the arguments
 * against the format. Integer arguments must have the stated width: write
 * (int64_t)5, not 5 (an int -5 for "i" arrives as 4294967291 or worse),
 * a double for "d" (not an int), and exactly as many as the format says;
 * a mismatch is undefined behaviour, not an error. Returns 0, CF_EFORMAT (unknown letter,
 * unbalanced brackets, NULL string) or -ENOMEM. A large `b` or `S` (8 MiB
 * and more) bound for a process pool may be read by helper threads, so
 * memory that can fault (a mapping of a file that may shrink) raises its
 * SIGBUS on one of those, not on the calling thread. */
CF_API int cf_pack_args(msgpack_packer *pk, const char *fmt, ...);
CF_API int cf_pack_argsv(msgpack_packer *pk, const char *fmt, va_list ap);
/** @} */

/* ------------------------------------------------------------------ futures */

/** A future: the outcome of one submission, reference-counted (opaque). */
typedef struct cf_future cf_future;
/** An executor: a process pool or a thread pool (opaque). */
typedef struct cf_executor cf_executor;

/** A done-callback. It runs once, when the future completes or is cancelled:
 * at once in the caller of cf_future_add_done_callback if the future is
 * already done, otherwise on the thread that completes it (the pool's
 * collector thread). One exception: a callback added while the result is
 * already arriving may run on a thread that is waiting on a future of the
 * same process pool (it polls results for a moment before it sleeps).
 * A non-zero return is reported on stderr (naming the callback: its
 * symbol, or for a static function its file and offset as addr2line
 * takes them, and the future's task) and does not stop the other
 * callbacks. The future is borrowed for the call.
 *
 * Waiting inside a callback. The thread a callback runs on may be the one
 * that completes the executor's futures, so a wait there on another future
 * of the same executor would wait for itself. It does not:
 *  - process pool: cf_future_result / _error, cf_wait,
 *    cf_as_completed_next and cf_map_next called on the collector (or on a
 *    waiter handling results for it) do the collector's work themselves
 *    while they wait: they handle the pool's results in order (running
 *    their callbacks, which may wait in turn), push what callbacks
 *    submitted and enforce task timeouts, and return as soon as what they
 *    wait for is done, or at their timeout. They return -EDEADLK only when
 *    the pool's result ring has failed (nothing more can arrive), -ENOMEM
 *    when the work could not start. Meanwhile the pool's other futures
 *    complete as usual, on this thread.
 *  - thread pool: a pool thread (a task, or a callback after it) waiting on
 *    a future of its own pool still queued takes that task out of the queue
 *    and runs it itself, then waits as usual for the rest; one that another
 *    thread is running is simply waited for. So a pool waiting on itself
 *    never stalls for want of a free thread; only a cycle (two tasks each
 *    waiting for the other's result) still waits its timeout.
 * A wait from a callback on futures of another executor waits as usual.
 * cf_executor_shutdown with wait still returns -EDEADLK there. */
typedef int (*cf_done_fn)(cf_future *f, void *arg);

/** A stand-alone future (for executors and tests, like Python's Future()).
 * Returns 0 or -EINVAL/-ENOMEM; *out holds one reference. */
CF_API int cf_future_create(cf_future **out);
/** @{ */
/** Reference counting; thread-safe. Release of NULL is a no-op. */
CF_API cf_future *cf_future_retain(cf_future *f);
CF_API void cf_future_release(cf_future *f);
/** @} */

/** @{ */
/** States. "running" means a worker has started the task. Workers take a
 * fair share of the queue at a time (up to 32 records); a task taken into
 * such a batch but not yet started is still pending: cf_future_running is
 * false for it, cf_future_cancel (and a task_timeout) settles it, and the
 * worker skips it when it gets there, so a future whose cancel or timeout
 * succeeded is never run. */
CF_API bool cf_future_done(const cf_future *f);      /**< finished or cancelled */
CF_API bool cf_future_running(const cf_future *f);
CF_API bool cf_future_cancelled(const cf_future *f);
/** @} */

/** Cancels a future that has not started (queued, or taken into a
 * worker's batch but not started: that worker skips it). Returns true if
 * it is (now or already) cancelled, false if it is running (started) or
 * finished. Runs the done-callbacks in the caller when it takes. */
CF_API bool cf_future_cancel(cf_future *f);

/** Waits up to `timeout` for the future. Returns 0 when it succeeded and
 * stores a borrowed pointer to the result (valid until the future is
 * released; NULL allowed for `result`); -ETIMEDOUT when it is not done in
 * time; CF_ECANCELLED; or the task's error (CF_ETASK, CF_EWORKER,
 * CF_ENOTASK, CF_EPROTO, ...), whose text cf_future_error_message gives.
 * From a done-callback of f's own pool it may also return -EDEADLK or
 * -ENOMEM (see cf_done_fn). */
CF_API int cf_future_result(cf_future *f, double timeout, const msgpack_object **result);
/** @{ */
/** Typed forms: as above, then CF_ETYPE when the result has another type. */
CF_API int cf_future_result_i64(cf_future *f, double timeout, int64_t *out);
CF_API int cf_future_result_f64(cf_future *f, double timeout, double *out);
CF_API int cf_future_result_bool(cf_future *f, double timeout, bool *out);
/** @} */
/** The string is borrowed from the future and not NUL-terminated. */
CF_API int cf_future_result_str(cf_future *f, double timeout, const char **out, size_t *len);
/** @{ */
/** The same for a binary, an array (its items) and a map (its key/value
 * pairs, see also cf_obj_map_get); all borrowed from the future. */
CF_API int cf_future_result_bin(cf_future *f, double timeout, const void **out, size_t *len);
CF_API int cf_future_result_array(cf_future *f, double timeout, const msgpack_object **items,
                                  size_t *n);
CF_API int cf_future_result_map(cf_future *f, double timeout, const msgpack_object_kv **pairs,
                                size_t *n);
/** @} */

/** Python's exception(): waits like cf_future_result and returns 0 when the
 * future succeeded, the error code when it failed, -ETIMEDOUT or
 * CF_ECANCELLED. */
CF_API int cf_future_error(cf_future *f, double timeout);
/** The failure text of a failed future ("" otherwise); borrowed from f. */
CF_API const char *cf_future_error_message(const cf_future *f);

/** Adds a callback (see cf_done_fn). Returns 0, -EINVAL or -ENOMEM. */
CF_API int cf_future_add_done_callback(cf_future *f, cf_done_fn fn, void *arg);

/** @{ */
/** For executor implementers and tests (Python's set_running_or_notify_cancel,
 * set_result, set_exception). Each returns -EINVAL when the future is
 * already done (CF_ECANCELLED from set_running when it was cancelled).
 * set_result copies `len` bytes of one packed msgpack object (CF_EPROTO if
 * they are not exactly one); set_error copies the message. */
CF_API int cf_future_set_running(cf_future *f);
CF_API int cf_future_set_result(cf_future *f, const void *msgpack, size_t len);
CF_API int cf_future_set_error(cf_future *f, int err, const char *message);
/** @} */

/* ------------------------------------------------------------- executors */

/** Options of cf_process_pool_create; zero fields take the defaults noted
 * (`cf_process_pool_options po = {0};` is every default). */
typedef struct cf_process_pool_options {
    int max_workers;           /**< 1..1024; 0: cf_default_workers() */
    size_t ring_bytes;         /**< each ring; 0: 1 MiB; power of two >= 4 KiB */
    const char *initializer;   /**< a registered task run once per worker */
    const void *initargs;      /**< its packed msgpack array (NULL: []) */
    size_t initargs_len;       /**< bytes at initargs */
    int max_retries;           /**< re-runs of a task lost with its worker (0: none) */
    int max_tasks_per_child;   /**< a worker retires after this many records (0: never) */
    bool interactive_workers;  /**< false (default): a worker that inherits the normal
                                    policy (SCHED_OTHER) runs under SCHED_BATCH, so
                                    waking it for a task never preempts the thread
                                    that submitted it (sched(7)), and what a task
                                    starts (threads, processes) inherits it; true:
                                    workers keep the parent's policy */
} cf_process_pool_options;
/** Every default of cf_process_pool_options (the same as all zero). */
#define CF_PROCESS_POOL_OPTIONS_INIT {0}

/** The default worker count: CF_WORKERS from the environment when set
 * (-EINVAL unless it is an integer in 1..1024; the first time, a line on
 * stderr names the variable and its value), otherwise the number of CPUs
 * this process may run on (sched_getaffinity). */
CF_API int cf_default_workers(void);

/** Forks the workers (through a single-threaded fork server). opts NULL:
 * every default. Returns 0, -EINVAL (max_workers < 0 or > 1024, or 0 while
 * CF_WORKERS is invalid; ring size
 * not a power of two >= 4 KiB, an empty or over-long initializer name,
 * initargs not one msgpack object), CF_ENOTASK
 * (initializer not registered), -ENOMEM, or a negated errno from shm/fork.
 * Call from any thread; the pool's collector thread runs the
 * done-callbacks. Tasks registered after this call are unknown to its
 * workers. */
CF_API int cf_process_pool_create(cf_executor **out, const cf_process_pool_options *opts);

/** Number of workers the pool runs. */
CF_API int cf_executor_workers(const cf_executor *ex);

/** Submits task `fn` (registered) with arguments packed from `fmt` (see
 * cf_pack_args). On success *out holds one reference to the future.
 * Blocks while the task ring is full (back-pressure). Returns 0, -EINVAL,
 * CF_ENOTASK (fn not registered), CF_EFORMAT, CF_ESHUTDOWN, CF_EBROKEN,
 * -ENOMEM. Thread-safe. */
CF_API int cf_submit(cf_executor *ex, cf_task_fn fn, cf_future **out, const char *fmt, ...);
/** The same by registered name, and waiting at most `timeout` for ring space
 * (0: fail at once with CF_EFULL; -ETIMEDOUT after a positive timeout).
 * A name nobody registered in this process is CF_ENOTASK at once (as for
 * cf_submit_raw, cf_submit_with, cf_buffer_create and cf_map_create); one
 * registered only after the pool was created is known here but not to the
 * pool's workers, and its future fails with CF_ENOTASK. */
CF_API int cf_submit_named(cf_executor *ex, const char *task, double timeout, cf_future **out,
                           const char *fmt, ...);
/** Arguments already packed by the caller: `args` must hold exactly one
 * msgpack object, normally an array (CF_EPROTO otherwise). Borrows args. */
CF_API int cf_submit_raw(cf_executor *ex, const char *task, double timeout, cf_future **out,
                         const void *args, size_t len);

/** Per-submission options; zero fields take the defaults (`= {0}` is
 * every default, as is CF_SUBMIT_OPTIONS_INIT). Changed in 0.3.0: a zero
 * timeout used to mean "poll" and a zero max_retries "none". */
typedef struct cf_submit_options {
    double timeout;      /**< wait at most this long for room in the task ring,
                            then -ETIMEDOUT; 0 or negative: without limit */
    double task_timeout; /**< the task must finish this long after submission,
                            else the future fails with -ETIMEDOUT: a task
                            not started yet never runs, a running one's
                            worker is killed and replaced (<= 0: no limit) */
    int max_retries;     /**< re-runs if its worker dies: 0 (or
                            CF_POOL_RETRIES): the pool's max_retries; n > 0:
                            n; CF_NO_RETRIES: none, whatever the pool says */
    bool poll;           /**< true: do not wait for room at all, fail at once
                            with CF_EFULL (timeout is then ignored) */
} cf_submit_options;
/** @{ */
/** Values of cf_submit_options.max_retries besides a positive count. */
#define CF_POOL_RETRIES (-1)
#define CF_NO_RETRIES (-2)
/** @} */
/** The defaults of cf_submit_options (the same as all zero): wait for room
 * without limit, no task timeout, the pool's max_retries. */
#define CF_SUBMIT_OPTIONS_INIT {0}

/** cf_submit_named with options (NULL: the defaults). Same returns, plus
 * -EINVAL for a NaN timeout or max_retries < CF_NO_RETRIES. A task_timeout
 * is enforced by the process pool; other executors ignore it. */
CF_API int cf_submit_with(cf_executor *ex, const cf_submit_options *opts, const char *task,
                          cf_future **out, const char *fmt, ...);

/** @{ */
/** Submit with a type-checked argument list: `cf_submit_args(pool, fn, &f,
 * CF_ARGS(-5, 2.0, "str"))` (see CF_ARGS). Same returns as cf_submit and
 * cf_submit_with (plus -EINVAL for a value cf_pack_value refuses). The
 * values are borrowed for the call. */
CF_API int cf_submit_args(cf_executor *ex, cf_task_fn fn, cf_future **out, cf_values args);
CF_API int cf_submit_args_with(cf_executor *ex, const cf_submit_options *opts,
                               const char *task, cf_future **out, cf_values args);
/** @} */

/** A byte argument written in place: the caller fills a buffer that is
 * already part of the task's record, and submitting it copies nothing. A
 * process pool puts a large one (beyond its ring's largest record) in a
 * shared-memory segment that the worker reads in place, so an argument of
 * n bytes costs the caller no copy at all instead of one memcpy of n.
 * The task receives one argument, the bytes: [bin] (cf_arg_bin(args, 0)).
 * Typical use: produce the data straight into cf_buffer_data(b). */
typedef struct cf_buffer cf_buffer;

/** A buffer of `len` bytes (up to 4 GiB - 1, msgpack's limit; 0 is
 * allowed) for task `task` (a registered name, as in cf_submit_named) of
 * executor ex, which must outlive the buffer's submission (as any call on
 * ex must precede its release). Its bytes are undefined until written.
 * Returns 0, -EINVAL (NULL or over-long arguments, len too large),
 * CF_ENOTASK (no task registered under that name),
 * -ENOMEM, or a negated errno from making its shared-memory segment.
 * Thread-safe; the buffer itself belongs to one thread at a time, and to
 * the process that made it. */
CF_API int cf_buffer_create(cf_executor *ex, const char *task, size_t len, cf_buffer **out);
/** Where to write the bytes: NULL for a NULL buffer, and for len 0. No
 * particular alignment (msgpack places the bytes). */
CF_API void *cf_buffer_data(cf_buffer *b);
/** How many bytes the buffer holds (0 for NULL). */
CF_API size_t cf_buffer_size(const cf_buffer *b);
/** Submits the task with the buffer's bytes as its argument, with `opts`
 * as in cf_submit_with (NULL: the defaults). opts->timeout must wait
 * without limit (0 or negative) and opts->poll be false: the record is
 * sealed before it waits for room, so a submit that gave up could not hand
 * the buffer back.
 * Returns 0 with a future in *out, or the codes of cf_submit_with except
 * CF_EFULL and -ETIMEDOUT. The buffer is consumed (its bytes must not be
 * touched again) unless the return is -EINVAL for the arguments (NULL b or
 * out, invalid opts, a finite timeout): then nothing happened, and the
 * caller still owns it. */
CF_API int cf_buffer_submit(cf_buffer *b, const cf_submit_options *opts, cf_future **out);
/** Frees a buffer that was not submitted. NULL is a no-op. */
CF_API void cf_buffer_release(cf_buffer *b);

/** Cancels f even if it is running: a process pool kills the worker running
 * it (a replacement is forked; the other tasks that worker had taken are
 * queued again) and the future ends cancelled. A task not started yet is
 * cancelled without a kill. The kill only ever ends f's task: if f's task
 * ends just as it is cancelled, its worker ends itself instead of starting
 * another task, so no other future fails for it. Returns true when f is
 * (now) cancelled, false when it had already finished or its executor
 * cannot interrupt a running task (the thread pool cannot). */
CF_API bool cf_future_cancel_running(cf_future *f);

/** What an executor has done so far. */
typedef struct cf_stats {
    uint64_t submitted;        /**< tasks submitted */
    uint64_t completed;        /**< finished with a result */
    uint64_t failed;           /**< finished with an error, of which: */
    uint64_t failed_task;      /**<   the task failed (CF_ETASK, CF_ENOTASK...) */
    uint64_t failed_worker;    /**<   its worker died (CF_EWORKER) */
    uint64_t failed_timeout;   /**<   its task_timeout passed (-ETIMEDOUT) */
    uint64_t cancelled;        /**< futures cancelled */
    uint64_t retried;          /**< tasks queued again after their worker died */
    uint64_t queued;           /**< submitted, not yet taken by a worker (now) */
    uint64_t in_flight;        /**< submitted, not yet finished (now) */
    uint64_t worker_deaths;    /**< workers that died outside shutdown */
    uint64_t deaths_by_signal; /**<   of which killed by a signal */
    uint64_t retirements;      /**< workers replaced after max_tasks_per_child */
    uint64_t respawns;         /**< replacement workers forked */
    int workers;               /**< the executor's worker count (cf_executor_workers) */
} cf_stats;

/** Per worker position (0 .. workers-1) of a process pool. */
typedef struct cf_worker_stats {
    int pid;            /**< the worker now in that position (0: none) */
    uint64_t tasks;     /**< records run in that position, all workers */
    uint64_t busy_ns;   /**< time spent running them */
    uint64_t respawns;  /**< workers forked into it after the first */
} cf_worker_stats;

/** @{ */
/** Fill *out. Returns 0, -EINVAL, or -ENOTSUP (worker stats of a thread
 * pool). Thread-safe; a snapshot, not atomic across fields. */
CF_API int cf_executor_stats(cf_executor *ex, cf_stats *out);
CF_API int cf_executor_worker_stats(cf_executor *ex, int index, cf_worker_stats *out);
/** @} */

/** @{ */
/** Shuts down: no submission is accepted afterwards (CF_ESHUTDOWN). With
 * cancel_futures, every task not yet started by a worker is cancelled. With
 * wait, returns once every task has finished and the workers have exited;
 * without it, returns at once and the pool winds down in the background
 * (cf_executor_release still joins it). Idempotent. Returns 0, -EINVAL, or
 * -EDEADLK for a waiting shutdown from a done-callback of the same pool
 * (that callback runs on the thread the wait would join). */
#define CF_WAIT true
#define CF_NOWAIT false
CF_API int cf_executor_shutdown(cf_executor *ex, bool wait, bool cancel_futures);
/** @} */

/** Shuts down (waiting) if needed and frees the executor. Futures keep
 * their own references. Must not be called from a done-callback. */
CF_API void cf_executor_release(cf_executor *ex);

/* ------------------------------------------------------------ waiting */

/** What cf_wait waits for (Python's FIRST_COMPLETED, FIRST_EXCEPTION,
 * ALL_COMPLETED). */
enum cf_return_when { CF_FIRST_COMPLETED, CF_FIRST_EXCEPTION, CF_ALL_COMPLETED };

/** Waits until the condition holds for futures[0..n) or the timeout passes.
 * Duplicates count once. Returns the number of distinct done futures (>= 0)
 * and, when `done_mask` is not NULL, sets done_mask[i] for each done entry.
 * Returns -EINVAL on bad arguments (-EDEADLK, -ENOMEM from a done-callback:
 * see cf_done_fn). A timeout is not an error: compare the
 * count with what you asked for. */
CF_API int cf_wait(cf_future *const *futures, size_t n, enum cf_return_when when, double timeout,
                   bool *done_mask);

/** @{ */
/** Yields futures as they complete, like Python's as_completed. The
 * deadline counts from cf_as_completed_create. next() returns 0 and a
 * borrowed future (valid while the caller holds its own reference),
 * CF_EEMPTY when all were yielded, or -ETIMEDOUT; then
 * cf_as_completed_message says "3 (of 5) futures unfinished" (or, from a
 * done-callback, -EDEADLK / -ENOMEM: see cf_done_fn). */
typedef struct cf_as_completed cf_as_completed;
CF_API int cf_as_completed_create(cf_as_completed **out, cf_future *const *futures, size_t n,
                                  double timeout);
CF_API int cf_as_completed_next(cf_as_completed *it, cf_future **f);
CF_API const char *cf_as_completed_message(const cf_as_completed *it);
CF_API void cf_as_completed_release(cf_as_completed *it);
/** @} */

/* ---------------------------------------------------------------- map */

/** Produces input item `index` by packing its argument array into `pk`.
 * Returns 1 when it packed an item, 0 at the end of the input, or a
 * negative code to stop the map with that error (msgpack-c's -1, a write
 * that `pk` refused, is reported as its reason: -ENOMEM, -EMFILE...). */
typedef int (*cf_map_input_fn)(void *arg, size_t index, msgpack_packer *pk);

/** Where a map stands, as given to a progress callback. */
typedef struct cf_map_progress {
    size_t done;     /**< items yielded so far (failed items included) */
    size_t total;    /**< items in all: cf_map_options.total, or once the input
                        has ended the count it produced; 0 while unknown */
    double elapsed;  /**< seconds since cf_map_create */
    double rate;     /**< done / elapsed, items per second (0 at first) */
} cf_map_progress;

/** A progress callback. It runs on the thread calling cf_map_next, inside
 * that call, just before an item is returned: at most about every 100 ms,
 * and once more, with done == total, when cf_map_next reaches the end
 * (CF_EEMPTY; not after a timeout ended the map). `p` is borrowed for the call. It must not call
 * cf_map_next or cf_map_release on the same map. */
typedef void (*cf_map_progress_fn)(const cf_map_progress *p, void *arg);

/** Options of cf_map_create (NULL there, or all zero: every default). */
typedef struct cf_map_options {
    double timeout;    /**< seconds from cf_map_create for the whole map, after
                          which the map ends (see cf_map_next); 0 or negative:
                          no limit (changed in 0.3.0: 0 used to poll). There
                          is no "poll" here: a map whose deadline is its
                          creation could never yield an item. */
    size_t chunksize;  /**< items per record; 0: automatic */
    size_t max_inflight; /**< items submitted but not yet yielded; 0: automatic */
    bool unordered;    /**< yield as completed instead of in input order */
    size_t total;      /**< the number of items, if known, for progress (0: unknown) */
    cf_map_progress_fn progress; /**< NULL: none */
    void *progress_arg;          /**< passed to it */
} cf_map_options;
/** Every default of cf_map_options (the same as all zero). */
#define CF_MAP_OPTIONS_INIT {0}

/** A lazy map over an executor (opaque), see cf_map_create. */
typedef struct cf_map cf_map;

/** Starts a lazy map of task `task` over the items `input` produces; only a
 * bounded window of items is ever in flight. opts may be NULL (defaults:
 * timeout CF_FOREVER, automatic chunk size, ordered, no progress). The
 * input is read lazily, so a progress total is unknown (0) until the input
 * ends unless opts->total says it; a wrong total is reported as given
 * until the end, then corrected to the true count. Returns 0, -EINVAL,
 * CF_ENOTASK (no task registered under that name) or -ENOMEM. */
CF_API int cf_map_create(cf_map **out, cf_executor *ex, const char *task, cf_map_input_fn input,
                         void *arg, const cf_map_options *opts);

/** @{ */
/** Yields the next result. Returns 0 with *index and a borrowed *result
 * (valid until the next call); CF_EEMPTY after the last item; -ETIMEDOUT;
 * or an item's failure code (CF_ETASK, CF_EWORKER, ...) with *index set
 * and cf_map_error_message explaining it, after which next() continues
 * with the following item.
 *
 * A timeout ends the map, as in Python's map: once the map's timeout has
 * passed, items already done are still yielded (in order, or as
 * completed), and the first one not done makes cf_map_next return
 * -ETIMEDOUT; the items still pending are then cancelled and every later
 * call returns CF_EEMPTY. cf_map_error_message says so ("map timed out
 * after 2 s with 8 items pending (7 cancelled, 1 left to finish unseen)").
 * An item a worker has already started cannot be cancelled
 * (cf_future_cancel): it runs to its end and its result is dropped;
 * cf_executor_shutdown with wait waits for it like any running task (a
 * task that may block should bound its own waits). No input item is read
 * after the timeout. */
CF_API int cf_map_next(cf_map *m, size_t *index, const msgpack_object **result);
CF_API const char *cf_map_error_message(const cf_map *m);
/** @} */

/** Cancels what is still pending and frees the map. */
CF_API void cf_map_release(cf_map *m);

#ifdef __cplusplus
}
#endif

/* The in-process half (Python's threading and queue) and the
 * process-shared primitives; each header documents its part. */
#include <cfutures/thread.h>
#include <cfutures/lock.h>
#include <cfutures/sync.h>
#include <cfutures/queue.h>
#include <cfutures/actor.h>
#include <cfutures/thread_pool.h>
#include <cfutures/pshared.h>
#include <cfutures/coro.h>
#include <cfutures/inproc.h>

#endif /**< CFUTURES_H */
