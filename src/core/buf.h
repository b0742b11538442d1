/* A bounded, growable byte buffer.
 *
 * Every buffer has a maximum size fixed at init; appends beyond it fail with CG_ELIMIT and
 * leave the buffer unchanged. Data is consumed from the front in O(1) (a read offset) and
 * compacted lazily. The buffer always keeps a NUL byte after the data so text can be used
 * as a C string. Not thread-safe: one owner at a time.
 */
#ifndef CERTGATE_CORE_BUF_H
#define CERTGATE_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *mem; /* allocation, NULL until first append */
    size_t off;   /* start of unconsumed data within mem */
    size_t len;   /* bytes of unconsumed data */
    size_t cap;   /* allocated bytes (including room for the NUL) */
    size_t max;   /* maximum len */
};

/* buf_init: an empty buffer that may hold at most `max` bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* buf_cleanup: free the memory (zeroing it first, so secrets do not linger). */
void buf_cleanup(struct buf *b);

/* buf_data: pointer to the first unconsumed byte (valid until the next append). */
static inline uint8_t *buf_data(const struct buf *b)
{
    return b->mem ? b->mem + b->off : (uint8_t *)"";
}

/* buf_str: the data as a NUL-terminated string ("" when empty). */
static inline const char *buf_str(const struct buf *b)
{
    return (const char *)buf_data(b);
}

/* buf_reserve: make room for `n` more bytes. 0, -ENOMEM or CG_ELIMIT. */
int buf_reserve(struct buf *b, size_t n);

/* buf_append: copy `n` bytes to the end. 0, -ENOMEM or CG_ELIMIT (buffer unchanged). */
int buf_append(struct buf *b, const void *data, size_t n);

/* buf_append_str: append a C string without its NUL. */
int buf_append_str(struct buf *b, const char *s);

/* buf_appendf: printf-style append. 0, -ENOMEM or CG_ELIMIT (buffer unchanged). */
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vappendf(struct buf *b, const char *fmt, va_list ap);

/* buf_tail: pointer to free space after the data and its size, for reading directly into
 * the buffer; call buf_commit(b, n) afterwards with the bytes actually written. */
uint8_t *buf_tail(struct buf *b, size_t *room);
void buf_commit(struct buf *b, size_t n);

/* buf_consume: drop `n` bytes from the front (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* buf_reset: drop all data, keep the allocation. */
void buf_reset(struct buf *b);

/* buf_shrink: release the allocation if the buffer is empty (for idle connections). */
void buf_shrink(struct buf *b);

/* buf_steal: hand the data to the caller as a malloc'd NUL-terminated string and reset the
 * buffer. Returns NULL on -ENOMEM. *len (optional) receives the length. */
char *buf_steal(struct buf *b, size_t *len);

#endif
