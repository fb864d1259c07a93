/* Reusable side segments (ipc/segcache.h): the sender's cache of kept
 * memfds and the receiver's kept mappings of other processes' segments.
 *
 * One cache per process, shared by every pool and thread in it, under one
 * mutex (held only for bookkeeping and for making or dropping a segment,
 * never while bytes are copied). The `busy` word in each segment's header
 * is the only state another process writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/clock.h"
#include "ipc/segcache.h"
#include "ipc/side.h"

/* Views with no reference kept at most: enough for a few pools' workers. */
#define VIEWS_KEPT 16
/* Above this, a free segment 8 times larger than a record is not lent for
 * it while a slot is empty (see cf__seg_lend). */
#define OVERSIZE_MIN ((size_t)64 << 20)

static struct {
    pthread_mutex_t mu;
    struct cf__seg slot[CF__SEG_SLOTS];
    uint64_t next_serial;
    struct cf__seg_view *views; /* most recently used first */
    struct cf__seg_stats stats;
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_bool enabled = true;
/* Segments plus views this process keeps, for cf__seg_holding, which a
 * worker asks before every pop: written under the lock, read without. */
static atomic_uint kept_count;

bool cf__seg_enable(bool on)
{
    return atomic_exchange(&enabled, on);
}

/* Not cached in a static: several threads may call it first at once. */
size_t cf__seg_page(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

static struct cf__seg_header *header(const void *map)
{
    return (struct cf__seg_header *)map;
}

/* fork(): the child must not inherit the lock held, nor keep the parent's
 * segments alive through inherited descriptors (the sender's mappings are
 * MADV_DONTFORK, gone already; views are inherited, see atfork_child). */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&cache.mu);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&cache.mu);
}

/* Serials start anywhere: a fork's child and its parent, or two workers of
 * one fork server, must not number their segments alike (receivers key
 * views by pid too, but pids are reused). */
static uint64_t first_serial(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
        s = cf__now_ns() ^ ((uint64_t)getpid() << 40);
    return s >> 1; /* room to count up; never 0 after the first ++ */
}

static void unlink_view_locked(struct cf__seg_view *v);

static void atfork_child(void)
{
    pthread_mutex_init(&cache.mu, NULL);
    for (int i = 0; i < CF__SEG_SLOTS; i++) {
        if (cache.slot[i].fd >= 0) {
            close(cache.slot[i].fd); /* its mapping was not inherited */
            atomic_fetch_sub_explicit(&kept_count, 1, memory_order_relaxed);
        }
        cache.slot[i] = (struct cf__seg){.fd = -1};
    }
    cache.next_serial = first_serial();
    /* Views were inherited: a future copied into the child may still read
     * one. None is handed out again, none releases for the parent, and the
     * ones not in use go now. */
    struct cf__seg_view *v = cache.views, *next;
    for (; v; v = next) {
        next = v->next;
        v->forget = true;
        v->writable = false;
        if (v->refs == 0)
            unlink_view_locked(v);
    }
}

static void init_once(void)
{
    for (int i = 0; i < CF__SEG_SLOTS; i++)
        cache.slot[i].fd = -1;
    cache.next_serial = first_serial();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void lock(void)
{
    pthread_once(&once, init_once);
    pthread_mutex_lock(&cache.mu);
}

static void unlock(void)
{
    pthread_mutex_unlock(&cache.mu);
}

/* ------------------------------------------------------------ sender */

size_t cf__seg_round_pages(size_t n)
{
    size_t page = cf__seg_page();
    return n > SIZE_MAX - (page - 1) ? 0 : (n + page - 1) & ~(page - 1);
}

/* Makes slot `s` a new segment with room for `need` record bytes. */
static int create_locked(struct cf__seg *s, size_t need)
{
    size_t page = cf__seg_page(), room = cf__seg_round_pages(need ? need : 1);
    if (!room || room > (size_t)INT64_MAX - page)
        return -ENOMEM;
    int fd = memfd_create("cfutures-seg", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    int err = 0;
    void *map = MAP_FAILED;
    /* Only the shrink seal: the pages under a receiver's mapping can never
     * go away (no SIGBUS), yet the segment can be written again. */
    if (ftruncate(fd, (off_t)(page + room)) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0 ||
        (map = mmap(NULL, page + room, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        err = -errno;
        close(fd);
        return err;
    }
    (void)madvise(map, page + room, MADV_DONTFORK);
    struct cf__seg_header *h = header(map);
    h->magic = CF__SEG_MAGIC;
    h->serial = ++cache.next_serial;
    atomic_store(&h->busy, 0);
    atomic_store(&h->retired, 0);
    atomic_store(&h->released_ns, 0);
    *s = (struct cf__seg){.fd = fd, .map = map, .map_len = page + room, .serial = h->serial};
    cache.stats.created++;
    atomic_fetch_add_explicit(&kept_count, 1, memory_order_relaxed);
    return 0;
}

static void retire_locked(struct cf__seg *s)
{
    /* Receivers that kept a view unmap it when they see this. */
    atomic_store_explicit(&header(s->map)->retired, 1, memory_order_release);
    munmap(s->map, s->map_len);
    close(s->fd);
    *s = (struct cf__seg){.fd = -1};
    cache.stats.retired++;
    atomic_fetch_sub_explicit(&kept_count, 1, memory_order_relaxed);
}

/* How long a free segment has been idle. */
static uint64_t idle_ns(const struct cf__seg *s, uint64_t now)
{
    uint64_t since = atomic_load_explicit(&header(s->map)->released_ns, memory_order_relaxed);
    if (since < s->lent_ns)
        since = s->lent_ns;
    return now > since ? now - since : 0;
}

static bool is_free(const struct cf__seg *s)
{
    return s->fd >= 0 && !s->lent &&
           atomic_load_explicit(&header(s->map)->busy, memory_order_acquire) == 0;
}

static void retire_idle_locked(uint64_t now)
{
    for (int i = 0; i < CF__SEG_SLOTS; i++) {
        struct cf__seg *s = &cache.slot[i];
        if (is_free(s) && idle_ns(s, now) > CF__SEG_IDLE_NS)
            retire_locked(s);
    }
}

struct cf__seg *cf__seg_lend(size_t need)
{
    struct cf__seg *best = NULL, *largest = NULL, *empty = NULL;
    size_t page = cf__seg_page();
    if (!atomic_load_explicit(&enabled, memory_order_relaxed))
        return NULL;
    lock();
    uint64_t now = cf__now_ns();
    retire_idle_locked(now);
    for (int i = 0; i < CF__SEG_SLOTS; i++) {
        struct cf__seg *s = &cache.slot[i];
        if (s->fd < 0) {
            if (!empty)
                empty = s;
            continue;
        }
        if (!is_free(s))
            continue;
        size_t room = s->map_len - page;
        if (room >= need && (!best || room < best->map_len - page))
            best = s;
        if (!largest || room > largest->map_len - page)
            largest = s;
    }
    struct cf__seg *pick = best ? best : largest;
    /* A segment far larger than the record would stay busy with small
     * records for ever and never go idle: while a slot is empty, make one
     * to size instead. */
    if (pick && empty && pick->map_len - page > OVERSIZE_MIN && (pick->map_len - page) / 8 > need)
        pick = NULL;
    if (pick)
        cache.stats.reused++;
    else if (empty && create_locked(empty, need) == 0)
        pick = empty;
    if (pick) {
        pick->lent = true;
        pick->lent_ns = now;
        cache.stats.lent++;
    }
    unlock();
    return pick;
}

void cf__seg_sent(struct cf__seg *seg, size_t len)
{
    lock();
    /* Before the record is announced: the holder's later clear must not be
     * overtaken by this set (the ring push publishes it). */
    atomic_store_explicit(&header(seg->map)->busy, 1, memory_order_relaxed);
    if (len > seg->warm)
        seg->warm = len;
    seg->lent = false;
    unlock();
}

void cf__seg_return(struct cf__seg *seg)
{
    lock();
    seg->lent = false;
    unlock();
}

/* The holder is done: note when, then let the sender have it back. The
 * release store orders whatever the holder read before the next write. */
static void release_header(struct cf__seg_header *h)
{
    atomic_store_explicit(&h->released_ns, cf__now_ns(), memory_order_relaxed);
    atomic_store_explicit(&h->busy, 0, memory_order_release);
}

void cf__seg_discard(struct cf__seg *seg)
{
    lock();
    retire_locked(seg);
    unlock();
}

/* Whether slot `seg` still holds the segment `serial` this process sent
 * (not so in a fork's child, whose slots were emptied). */
static bool still_ours_locked(const struct cf__seg *seg, uint64_t serial)
{
    return seg->fd >= 0 && seg->serial == serial;
}

void cf__seg_release(struct cf__seg *seg, uint64_t serial)
{
    lock();
    /* A busy segment is never retired, so its header is still mapped. */
    if (still_ours_locked(seg, serial))
        release_header(header(seg->map));
    unlock();
}

void cf__seg_abandon(struct cf__seg *seg, uint64_t serial)
{
    lock();
    if (still_ours_locked(seg, serial))
        retire_locked(seg);
    unlock();
}

static void sweep_views_locked(void);

void cf__seg_tick(void)
{
    lock();
    retire_idle_locked(cf__now_ns());
    sweep_views_locked();
    unlock();
}

bool cf__seg_holding(void)
{
    return atomic_load_explicit(&kept_count, memory_order_relaxed) != 0;
}

void cf__seg_trim(void)
{
    lock();
    for (int i = 0; i < CF__SEG_SLOTS; i++)
        if (is_free(&cache.slot[i]))
            retire_locked(&cache.slot[i]);
    unlock();
}

/* ---------------------------------------------------------- receiver */

/* Takes v out of the list (it stays mapped). */
static void detach_view_locked(struct cf__seg_view *v)
{
    for (struct cf__seg_view **p = &cache.views; *p; p = &(*p)->next) {
        if (*p == v) {
            *p = v->next;
            break;
        }
    }
}

/* Puts v at the front of the list (most recently used). */
static void push_view_locked(struct cf__seg_view *v)
{
    v->next = cache.views;
    cache.views = v;
}

static void unlink_view_locked(struct cf__seg_view *v)
{
    detach_view_locked(v);
    munmap((void *)v->map, v->map_len);
    free(v);
    atomic_fetch_sub_explicit(&kept_count, 1, memory_order_relaxed);
}

/* Unmaps unused views that are stale (retired, forgotten) and, beyond
 * VIEWS_KEPT unused ones, the least recently used. */
static void sweep_views_locked(void)
{
    unsigned idle = 0;
    struct cf__seg_view *v = cache.views, *next;
    for (; v; v = next) {
        next = v->next;
        if (v->refs > 0)
            continue;
        if (v->forget || atomic_load_explicit(&header(v->map)->retired, memory_order_acquire) ||
            ++idle > VIEWS_KEPT)
            unlink_view_locked(v);
    }
}

/* Maps the segment behind /proc/<pid>/fd/<fd> whole, after checking that
 * it is a kept segment with that serial and room for `need` bytes. */
static int open_view(pid_t pid, int fd, uint64_t serial, size_t need, bool writable,
                     struct cf__seg_view *v)
{
    struct stat st;
    int err = 0, mfd = cf__side_open_peer(pid, fd, writable ? O_RDWR : O_RDONLY);
    if (mfd < 0)
        return mfd;
    int seals = fcntl(mfd, F_GET_SEALS);
    void *map = MAP_FAILED;
    if (seals < 0) {
        err = errno == EINVAL ? -EPROTO : -errno;
    } else if (!(seals & F_SEAL_SHRINK)) {
        err = -EPROTO; /* its pages could vanish under us */
    } else if (fstat(mfd, &st) < 0) {
        err = -errno;
    } else if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size < need ||
               (uint64_t)st.st_size > SIZE_MAX) {
        err = -EPROTO;
    } else {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED,
                   mfd, 0);
        if (map == MAP_FAILED)
            err = -errno;
    }
    close(mfd);
    if (err)
        return err;
    const struct cf__seg_header *h = header(map);
    if (h->magic != CF__SEG_MAGIC || h->serial != serial) {
        munmap(map, (size_t)st.st_size);
        return -EPROTO;
    }
    /* The record will be read whole: map its pages in one go rather than a
     * fault per page (the rest of the file only if a record needs it). */
    (void)madvise(map, need, MADV_POPULATE_READ);
    *v = (struct cf__seg_view){.pid = pid, .fd = fd, .serial = serial, .map = map,
                               .map_len = (size_t)st.st_size, .refs = 1, .writable = writable};
    return 0;
}

int cf__seg_view_get(pid_t pid, int fd, uint64_t serial, uint64_t offset, uint64_t size,
                     bool writable, struct cf__seg_view **out)
{
    *out = NULL;
    if (pid <= 0 || fd < 0 || serial == 0)
        return -EINVAL;
    if (offset != cf__seg_page() || size > SIZE_MAX - offset)
        return -EPROTO;
    size_t need = (size_t)(offset + size);
    lock();
    sweep_views_locked();
    for (struct cf__seg_view *v = cache.views; v; v = v->next) {
        if (v->pid != pid || v->fd != fd || v->serial != serial || v->forget)
            continue;
        if (v->map_len >= need && (v->writable || !writable)) {
            v->refs++;
            cache.stats.views_reused++;
            detach_view_locked(v); /* most recently used first */
            push_view_locked(v);
            *out = v;
            unlock();
            return 0;
        }
        /* The segment grew past our mapping: map it again. */
        v->forget = true;
        if (v->refs == 0)
            unlink_view_locked(v);
        break;
    }
    unlock();

    struct cf__seg_view *v = malloc(sizeof(*v));
    if (!v)
        return -ENOMEM;
    int err = open_view(pid, fd, serial, need, writable, v);
    if (err) {
        free(v);
        return err;
    }
    lock();
    push_view_locked(v);
    cache.stats.views_opened++;
    atomic_fetch_add_explicit(&kept_count, 1, memory_order_relaxed);
    unlock();
    *out = v;
    return 0;
}

void cf__seg_view_put(struct cf__seg_view *v, bool release)
{
    if (release && v->writable)
        release_header(header(v->map));
    lock();
    if (--v->refs == 0 &&
        (v->forget || atomic_load_explicit(&header(v->map)->retired, memory_order_acquire)))
        unlink_view_locked(v);
    unlock();
}

void cf__seg_forget_pid(pid_t pid)
{
    lock();
    struct cf__seg_view *v = cache.views, *next;
    for (; v; v = next) {
        next = v->next;
        if (v->pid != pid)
            continue;
        v->forget = true;
        if (v->refs == 0)
            unlink_view_locked(v);
    }
    unlock();
}

void cf__seg_stats(struct cf__seg_stats *out)
{
    lock();
    *out = cache.stats;
    unlock();
}
