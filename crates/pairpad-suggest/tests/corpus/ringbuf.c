/*
 * ringbuf.c - keep the last N log lines from one or more files in memory.
 *
 * Reads log files line by line, keeps only lines at or above a minimum
 * severity, and stores them in a fixed-size ring buffer so that the most
 * recent entries can be dumped on demand (for example when a crash is
 * detected).
 *
 * Usage: ringbuf [-n capacity] [-l level] file...
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CAPACITY 256
#define MAX_LINE 1024

enum rb_status {
    RB_OK = 0,
    RB_ENOMEM = -1,
    RB_EINVAL = -2,
    RB_EIO = -3,
    RB_EMPTY = -4,
};

enum log_level {
    LVL_DEBUG,
    LVL_INFO,
    LVL_WARN,
    LVL_ERROR,
    LVL_UNKNOWN,
};

struct log_entry {
    time_t received;
    enum log_level level;
    size_t len;
    char *text;
};

struct ring_buffer {
    struct log_entry *entries;
    size_t capacity;
    size_t head;   /* index of the next slot to write */
    size_t count;  /* number of valid entries */
    unsigned long dropped;
};

static const char *level_names[] = {
    [LVL_DEBUG] = "DEBUG",
    [LVL_INFO] = "INFO",
    [LVL_WARN] = "WARN",
    [LVL_ERROR] = "ERROR",
    [LVL_UNKNOWN] = "?",
};

static const char *rb_strerror(int status)
{
    switch (status) {
    case RB_OK:
        return "success";
    case RB_ENOMEM:
        return "out of memory";
    case RB_EINVAL:
        return "invalid argument";
    case RB_EIO:
        return "i/o error";
    case RB_EMPTY:
        return "buffer is empty";
    default:
        return "unknown error";
    }
}

int rb_init(struct ring_buffer *rb, size_t capacity)
{
    if (rb == NULL || capacity == 0)
        return RB_EINVAL;

    rb->entries = calloc(capacity, sizeof(*rb->entries));
    if (rb->entries == NULL)
        return RB_ENOMEM;

    rb->capacity = capacity;
    rb->head = 0;
    rb->count = 0;
    rb->dropped = 0;
    return RB_OK;
}

void rb_free(struct ring_buffer *rb)
{
    size_t i;

    if (rb == NULL || rb->entries == NULL)
        return;
    for (i = 0; i < rb->capacity; i++)
        free(rb->entries[i].text);
    free(rb->entries);
    rb->entries = NULL;
    rb->capacity = rb->head = rb->count = 0;
}

/* Copy a line into the buffer, overwriting the oldest entry when full. */
int rb_push(struct ring_buffer *rb, enum log_level level, const char *line, size_t len)
{
    struct log_entry *slot;
    char *copy;

    if (rb == NULL || line == NULL)
        return RB_EINVAL;

    copy = malloc(len + 1);
    if (copy == NULL)
        return RB_ENOMEM;
    memcpy(copy, line, len);
    copy[len] = '\0';

    slot = &rb->entries[rb->head];
    if (rb->count == rb->capacity) {
        free(slot->text);
        rb->dropped++;
    } else {
        rb->count++;
    }

    slot->text = copy;
    slot->len = len;
    slot->level = level;
    slot->received = time(NULL);

    rb->head = (rb->head + 1) % rb->capacity;
    return RB_OK;
}

/* Return the i-th oldest entry, or NULL if i is out of range. */
const struct log_entry *rb_get(const struct ring_buffer *rb, size_t i)
{
    size_t start;

    if (rb == NULL || i >= rb->count)
        return NULL;
    start = (rb->head + rb->capacity - rb->count) % rb->capacity;
    return &rb->entries[(start + i) % rb->capacity];
}

/* Remove and discard the oldest entry. */
int rb_pop(struct ring_buffer *rb)
{
    size_t tail;

    if (rb == NULL)
        return RB_EINVAL;
    if (rb->count == 0)
        return RB_EMPTY;

    tail = (rb->head + rb->capacity - rb->count) % rb->capacity;
    free(rb->entries[tail].text);
    rb->entries[tail].text = NULL;
    rb->entries[tail].len = 0;
    rb->count--;
    return RB_OK;
}

static enum log_level parse_level(const char *s)
{
    if (strncmp(s, "DEBUG", 5) == 0)
        return LVL_DEBUG;
    if (strncmp(s, "INFO", 4) == 0)
        return LVL_INFO;
    if (strncmp(s, "WARN", 4) == 0)
        return LVL_WARN;
    if (strncmp(s, "ERROR", 5) == 0)
        return LVL_ERROR;
    return LVL_UNKNOWN;
}

/*
 * Lines look like "2024-03-01T12:00:00Z WARN disk almost full". Find the
 * level token after the first space; lines without one are LVL_UNKNOWN.
 */
static enum log_level level_of_line(const char *line)
{
    const char *p = strchr(line, ' ');

    if (p == NULL)
        return LVL_UNKNOWN;
    while (*p == ' ')
        p++;
    return parse_level(p);
}

static size_t chomp(char *line)
{
    size_t len = strlen(line);

    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    return len;
}

static int collect_file(struct ring_buffer *rb, const char *path,
                        enum log_level min_level, unsigned long *lines_read)
{
    char line[MAX_LINE];
    FILE *fp;
    int rc = RB_OK;

    fp = fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "ringbuf: cannot open %s: %s\n", path, strerror(errno));
        return RB_EIO;
    }

    while (fgets(line, sizeof(line), fp) != NULL) {
        size_t len = chomp(line);
        enum log_level level;

        (*lines_read)++;
        if (len == 0)
            continue;

        level = level_of_line(line);
        if (level != LVL_UNKNOWN && level < min_level)
            continue;

        rc = rb_push(rb, level, line, len);
        if (rc != RB_OK)
            break;
    }

    if (rc == RB_OK && ferror(fp)) {
        fprintf(stderr, "ringbuf: error reading %s\n", path);
        rc = RB_EIO;
    }
    fclose(fp);
    return rc;
}

static void format_time(time_t t, char *buf, size_t size)
{
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL || strftime(buf, size, "%H:%M:%S", &tm) == 0)
        snprintf(buf, size, "%ld", (long)t);
}

static void rb_dump(const struct ring_buffer *rb, FILE *out)
{
    char when[32];
    size_t i;

    fprintf(out, "--- %zu entries (capacity %zu, %lu dropped) ---\n",
            rb->count, rb->capacity, rb->dropped);
    for (i = 0; i < rb->count; i++) {
        const struct log_entry *e = rb_get(rb, i);

        format_time(e->received, when, sizeof(when));
        fprintf(out, "%s [%-5s] %s\n", when, level_names[e->level], e->text);
    }
}

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s [-n capacity] [-l DEBUG|INFO|WARN|ERROR] file...\n", prog);
}

int main(int argc, char **argv)
{
    struct ring_buffer rb;
    size_t capacity = DEFAULT_CAPACITY;
    enum log_level min_level = LVL_INFO;
    unsigned long lines_read = 0;
    int opt, i, rc, failures = 0;
    char *end;

    while ((opt = getopt(argc, argv, "n:l:h")) != -1) {
        switch (opt) {
        case 'n':
            errno = 0;
            capacity = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || capacity == 0) {
                fprintf(stderr, "invalid capacity: %s\n", optarg);
                return EXIT_FAILURE;
            }
            break;
        case 'l':
            min_level = parse_level(optarg);
            if (min_level == LVL_UNKNOWN) {
                fprintf(stderr, "unknown level: %s\n", optarg);
                return EXIT_FAILURE;
            }
            break;
        case 'h':
            usage(argv[0]);
            return EXIT_SUCCESS;
        default:
            usage(argv[0]);
            return EXIT_FAILURE;
        }
    }

    if (optind >= argc) {
        usage(argv[0]);
        return EXIT_FAILURE;
    }

    rc = rb_init(&rb, capacity);
    if (rc != RB_OK) {
        fprintf(stderr, "ringbuf: %s\n", rb_strerror(rc));
        return EXIT_FAILURE;
    }

    for (i = optind; i < argc; i++) {
        rc = collect_file(&rb, argv[i], min_level, &lines_read);
        if (rc == RB_ENOMEM) {
            fprintf(stderr, "ringbuf: %s while reading %s\n", rb_strerror(rc), argv[i]);
            rb_free(&rb);
            return EXIT_FAILURE;
        }
        if (rc != RB_OK)
            failures++;
    }

    printf("read %lu lines from %d file(s)\n", lines_read, argc - optind - failures);
    rb_dump(&rb, stdout);

    rb_free(&rb);
    return failures > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
