#include "core/buf.h"

#include "core/err.h"
#include "core/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void buf_cleanup(struct buf *b)
{
    if (b->mem != NULL) {
        secure_zero(b->mem, b->cap);
        free(b->mem);
    }
    size_t max = b->max;
    memset(b, 0, sizeof(*b));
    b->max = max;
}

int buf_reserve(struct buf *b, size_t n)
{
    if (n > b->max - b->len) {
        return CG_ELIMIT;
    }
    size_t need = b->len + n + 1;
    if (b->mem != NULL && b->off + need <= b->cap) {
        return 0;
    }
    if (b->mem != NULL && need <= b->cap) {
        /* Enough room once consumed bytes are dropped. */
        memmove(b->mem, b->mem + b->off, b->len);
        b->off = 0;
        b->mem[b->len] = 0;
        return 0;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (cap > b->max + 1) {
        cap = b->max + 1;
    }
    uint8_t *mem = malloc(cap);
    if (mem == NULL) {
        return -ENOMEM;
    }
    if (b->mem != NULL) {
        memcpy(mem, b->mem + b->off, b->len);
        secure_zero(b->mem, b->cap);
        free(b->mem);
    }
    mem[b->len] = 0;
    b->mem = mem;
    b->off = 0;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc < 0) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->mem + b->off + b->len, data, n);
    }
    b->len += n;
    b->mem[b->off + b->len] = 0;
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return CG_EINTERNAL;
    }
    int rc = buf_reserve(b, (size_t)n);
    if (rc < 0) {
        return rc;
    }
    vsnprintf((char *)b->mem + b->off + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

uint8_t *buf_tail(struct buf *b, size_t *room)
{
    *room = 0;
    if (b->mem == NULL || b->off + b->len + 1 >= b->cap) {
        size_t want = b->max - b->len < 4096 ? b->max - b->len : 4096;
        if (want == 0 || buf_reserve(b, want) < 0) {
            return NULL;
        }
    }
    *room = b->cap - (b->off + b->len) - 1;
    if (*room > b->max - b->len) {
        *room = b->max - b->len;
    }
    return b->mem + b->off + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
    b->len += n;
    b->mem[b->off + b->len] = 0;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->off = 0;
        b->len = 0;
    } else {
        b->off += n;
        b->len -= n;
    }
    if (b->mem != NULL) {
        b->mem[b->off + b->len] = 0;
    }
}

void buf_reset(struct buf *b)
{
    buf_consume(b, b->len);
}

void buf_shrink(struct buf *b)
{
    if (b->len == 0 && b->mem != NULL) {
        free(b->mem);
        b->mem = NULL;
        b->cap = 0;
        b->off = 0;
    }
}

char *buf_steal(struct buf *b, size_t *len)
{
    char *s;
    if (b->mem == NULL) {
        s = strdup("");
    } else if (b->off == 0) {
        s = (char *)b->mem;
        b->mem = NULL;
        b->cap = 0;
    } else {
        s = malloc(b->len + 1);
        if (s != NULL) {
            memcpy(s, b->mem + b->off, b->len + 1);
        }
    }
    if (s == NULL) {
        return NULL;
    }
    if (len != NULL) {
        *len = b->len;
    }
    if (b->mem != NULL) {
        free(b->mem);
    }
    b->mem = NULL;
    b->cap = 0;
    b->off = 0;
    b->len = 0;
    return s;
}
