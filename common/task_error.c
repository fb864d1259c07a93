/* The failure message a task leaves with cf_task_fail.
 *
 * In common/: both the workers/ that run tasks (workers/execute.c) and the
 * threading/ actor that runs calls (threading/actor.c) read it, and
 * neither layer may know the other.
 *
 * Tasks run on a worker's single thread, but a thread-local keeps the
 * message correct if a task (or a future in-process backend) runs tasks on
 * several threads. The worker loop clears it before each task and reads it
 * after a failing one.
 */
#include <stdarg.h>
#include <stdio.h>

#include <cfutures.h>

#include "common/task_error.h"

static _Thread_local char task_message[CF__TASK_MESSAGE_MAX];

int cf_task_fail(const char *fmt, ...)
{
    va_list ap;
    if (!fmt) {
        task_message[0] = '\0';
        return CF_ETASK;
    }
    va_start(ap, fmt);
    vsnprintf(task_message, sizeof(task_message), fmt, ap);
    va_end(ap);
    return CF_ETASK;
}

void cf__task_error_clear(void)
{
    task_message[0] = '\0';
}

const char *cf__task_error_message(void)
{
    return task_message;
}
