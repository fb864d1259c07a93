/* tests/reaper/proc_stat.h — one process's parent and command name from
 * /proc/<pid>/stat, for the reaper (a program of its own) and for the
 * suite's support code, which both need to tell whose process a pid is.
 * Header-only: the reaper links nothing of the suite. */
#ifndef CF_TESTS_PROC_STAT_H
#define CF_TESTS_PROC_STAT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* The parent pid and command name of `pid`, from /proc; false if gone. */
static inline bool proc_info(pid_t pid, pid_t *ppid, char *comm, size_t comm_len)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses,
     * so it ends at the last ')'. */
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return false;
    if (comm) {
        size_t len = (size_t)(close - open - 1);
        if (len >= comm_len)
            len = comm_len - 1;
        memcpy(comm, open + 1, len);
        comm[len] = '\0';
    }
    char state;
    int pp;
    if (sscanf(close + 1, " %c %d", &state, &pp) != 2)
        return false;
    if (ppid)
        *ppid = pp;
    return state != 'Z' && state != 'X';
}

#endif
