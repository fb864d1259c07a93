/* Side segments: records too large for the ring travel in a sealed memfd.
 *
 * The sender writes the bytes into a fresh memfd (or packs them straight
 * into one, ipc/spill.h, and seals that in place), seals it against writes
 * and resizing, and keeps the descriptor open; the ring carries only a small
 * descriptor {sender pid, fd number, size}. The receiver opens
 * /proc/<pid>/fd/<fd>, checks size and seals (so the sender can neither
 * change nor shrink the bytes under it: no SIGBUS, no torn reads) and maps
 * it read-only. A memfd has no name in /dev/shm: when the last descriptor
 * and mapping go away the memory is freed, whoever dies.
 * The sender closes its descriptor once the receiver has confirmed (the
 * protocol that confirms is the caller's, see workers/ and executor/).
 */
#ifndef CF_IPC_SIDE_H
#define CF_IPC_SIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cf__seg;
struct cf__seg_view;

/* A segment as one side holds it. A sealed one-shot segment has serial 0;
 * a kept one (ipc/segcache.h) has its serial and the record's offset in
 * the file, plus `seg` (the sender holds it: closing releases it for
 * reuse) or `view` (received: closing drops the view, and in the parent
 * tells the sender the record is done with). */
struct cf__side {
    int fd;            /* -1 when closed (a kept segment's: the cache's, not ours) */
    const void *map;   /* receiver: the record's bytes, or NULL */
    size_t size;       /* the record's size */
    uint64_t serial;
    uint64_t offset;
    struct cf__seg *seg;
    struct cf__seg_view *view;
};

/* Sender: copies data[0..len) into a new sealed memfd. Returns 0 or -errno;
 * out->fd is the descriptor to announce. len may be 0. */
int cf__side_create(struct cf__side *out, const void *data, size_t len);

/* Sender, for callers that fill the memfd themselves (ipc/spill.c): a new
 * memfd that accepts seals, or -errno. */
int cf__side_memfd(void);

/* Writes data[0..len) at offset `off` of fd whole (retrying short writes
 * and EINTR). Returns 0 or -errno. */
int cf__side_pwrite(int fd, const void *data, size_t len, size_t off);

/* Sender: cuts memfd `fd` to len bytes, seals it as cf__side_create does and
 * hands it to *out. Takes fd: on failure it is closed. No writable shared
 * mapping of fd may remain (sealing would fail with -EBUSY). Returns 0 or
 * -errno. */
int cf__side_seal(struct cf__side *out, int fd, size_t len);

/* Receiver: opens and maps the sender's segment. Returns 0; -EPROTO when
 * the segment's size or seals do not match the descriptor, or it is not a
 * memfd at all (the bytes come from another process); -EINVAL (pid <= 0,
 * fd < 0); -errno (e.g. -ENOENT when the sender is gone). On success
 * out->fd is -1 (the mapping alone keeps the bytes alive) and out->map is
 * NULL for a 0-byte segment. */
int cf__side_open(struct cf__side *out, pid_t pid, int fd, uint64_t size);

/* Receiver, for either kind: serial 0 is cf__side_open (offset must be 0);
 * otherwise the kept segment's view (cf__seg_view_get; `writable`: this
 * side will tell the sender when it is done). Same returns. */
int cf__side_open_at(struct cf__side *out, pid_t pid, int fd, uint64_t size, uint64_t serial,
                     uint64_t offset, bool writable);

/* Unmaps and closes, or releases a kept segment; idempotent. */
void cf__side_close(struct cf__side *s);

/* Sender: like cf__side_close, but a kept segment is given up rather than
 * released for reuse: for a record a receiver may still be reading (its
 * task was cancelled or failed while a worker may hold it). A one-shot
 * segment is simply closed (it is sealed: nobody can change it). */
void cf__side_abandon(struct cf__side *s);

/* Empties *s without closing or releasing anything: its holder now is
 * another process (a worker's sent result) or another struct (moved). */
void cf__side_forget(struct cf__side *s);

/* Opens process pid's descriptor fd (through /proc/<pid>/fd) with `flags`
 * (plus O_CLOEXEC | O_NONBLOCK) if it looks like a memfd. Returns the new
 * descriptor; -EPROTO when it names something else; -errno (-ENOENT,
 * -ESRCH: the process or descriptor is gone). The caller checks what it
 * opened.
 *
 * A pid number alone may name another process by the time it is used (the
 * peer died and its pid was reused). For the peer set with
 * cf__side_trust_peer, the descriptor is taken through that pidfd instead
 * (pidfd_getfd: exactly that process's descriptor), or, where the kernel
 * refuses that (before 5.6, ptrace rules), opened by path and kept only
 * if the pidfd's process is still alive afterwards (a pid is not reused
 * while its process lives, so the path named it). */
int cf__side_open_peer(pid_t pid, int fd, int flags);

/* Sets the peer this thread's cf__side_open_peer calls trust: pid and a
 * pidfd known to name it (borrowed: valid until cleared). pidfd -1
 * clears. A forked child keeps its parent thread's setting. */
void cf__side_trust_peer(pid_t pid, int pidfd);

/* For a process just forked without exec (a pool's fork server): closes the
 * one-shot segment descriptors it inherited from records other threads of
 * its parent were packing (or cf_buffers the parent holds), which would
 * otherwise pin their memory for as long as this process and the workers
 * it forks live. Kept segments are closed by ipc/segcache.c's fork handler.
 * Returns how many it closed. */
int cf__side_close_inherited(void);

#endif
