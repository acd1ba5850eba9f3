/* One logging macro family: one line per event, key=value fields, level from
 * WEFT_LOG (error, warn, info, debug; default warn), written to stderr. */
#ifndef WF_BASE_LOG_H
#define WF_BASE_LOG_H

enum { WF_LOG_LVL_ERROR, WF_LOG_LVL_WARN, WF_LOG_LVL_INFO, WF_LOG_LVL_DEBUG };

extern int wf_log_level;
void wf_log_init(void);
void wf_log_write(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define WF_LOG(lvl, ...)                                                       \
    do {                                                                       \
        if ((lvl) <= wf_log_level)                                             \
            wf_log_write((lvl), __FILE__, __LINE__, __VA_ARGS__);              \
    } while (0)
#define WF_LOG_ERROR(...) WF_LOG(WF_LOG_LVL_ERROR, __VA_ARGS__)
#define WF_LOG_WARN(...) WF_LOG(WF_LOG_LVL_WARN, __VA_ARGS__)
#define WF_LOG_INFO(...) WF_LOG(WF_LOG_LVL_INFO, __VA_ARGS__)
#define WF_LOG_DEBUG(...) WF_LOG(WF_LOG_LVL_DEBUG, __VA_ARGS__)

/* Internal invariant: on failure print what broke, where, and abort. Never
 * used on input from outside (that gets an error code). */
#define wf_assert(cond, what)                                                  \
    do {                                                                       \
        if (__builtin_expect(!(cond), 0))                                      \
            wf_assert_fail(#cond, (what), __FILE__, __LINE__);                 \
    } while (0)
_Noreturn void wf_assert_fail(const char *cond, const char *what,
                              const char *file, int line);

#endif
