/* Internal side of cf_task_fail (common/task_error.c). */
#ifndef CF_COMMON_TASK_ERROR_H
#define CF_COMMON_TASK_ERROR_H

#define CF__TASK_MESSAGE_MAX 1024

void cf__task_error_clear(void);
/* The calling thread's last cf_task_fail message ("" if none). */
const char *cf__task_error_message(void);

#endif
