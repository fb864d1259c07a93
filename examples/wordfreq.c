/* A CPU-bound batch job: word frequencies over many generated documents.
 *
 * Each task generates one document (a deterministic pseudo-random text of
 * words drawn with a skewed distribution from a small vocabulary),
 * tokenises it and counts words with a hash table; the parent merges the
 * counts. The same work runs serially first, and the speedup goes to
 * stderr (timings vary; stdout stays deterministic). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cfutures.h>

#define VOCAB 512
#define DOCS 48
#define WORDS_PER_DOC 400000

static const char *syllables[] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi"};

static void word_of(int k, char *buf)
{
    /* Three syllables from the digits of k in base 8: 512 distinct words. */
    snprintf(buf, 8, "%s%s%s", syllables[k & 7], syllables[(k >> 3) & 7],
             syllables[(k >> 6) & 7]);
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static unsigned hash_word(const char *w, size_t n)
{
    unsigned h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)w[i]) * 16777619u;
    return h;
}

/* Counts the words of document `doc` into counts[VOCAB]. */
static int count_document(int64_t doc, int64_t *counts)
{
    uint64_t s = 0x9E3779B97F4A7C15ull ^ (uint64_t)(doc + 1) * 0x2545F4914F6CDD1Dull;
    char *text = malloc((size_t)WORDS_PER_DOC * 7 + 1), *p = text;
    struct { char w[8]; int k; } table[2048];
    if (!text)
        return -1;
    for (int i = 0; i < 2048; i++)
        table[i].k = -1;
    for (int i = 0; i < WORDS_PER_DOC; i++) {
        uint64_t r = next_random(&s);
        int k = (int)((r % VOCAB) * (r % VOCAB) / VOCAB); /* skewed to small k */
        word_of(k, p);
        p += strlen(p);
        *p++ = ' ';
    }
    *p = '\0';
    for (int k = 0; k < VOCAB; k++) {
        char w[8];
        word_of(k, w);
        unsigned h = hash_word(w, strlen(w)) & 2047;
        while (table[h].k >= 0)
            h = (h + 1) & 2047;
        memcpy(table[h].w, w, 8);
        table[h].k = k;
    }
    for (char *tok = strtok(text, " "); tok; tok = strtok(NULL, " ")) {
        size_t n = strlen(tok);
        unsigned h = hash_word(tok, n) & 2047;
        while (strcmp(table[h].w, tok) != 0)
            h = (h + 1) & 2047;
        counts[table[h].k]++;
    }
    free(text);
    return 0;
}

static int count_words(const msgpack_object *args, msgpack_packer *out)
{
    int64_t doc, counts[VOCAB] = {0};
    if (cf_arg_i64(args, 0, &doc) < 0)
        return cf_task_fail("count_words: expected a document number");
    if (count_document(doc, counts) < 0)
        return cf_task_fail("count_words: out of memory");
    msgpack_pack_array(out, VOCAB);
    for (int k = 0; k < VOCAB; k++)
        msgpack_pack_int64(out, counts[k]);
    return 0;
}
CF_TASK(count_words);

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int next_doc(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    return index >= DOCS ? 0 : cf_pack_args(pk, "i", (int64_t)index) < 0 ? -1 : 1;
}

static void print_top(const int64_t *total)
{
    for (int rank = 0; rank < 5; rank++) {
        int best = 0;
        for (int k = 1; k < VOCAB; k++)
            if (total[k] > total[best])
                best = k;
        char w[8];
        word_of(best, w);
        printf("%d. %-7s %lld\n", rank + 1, w, (long long)total[best]);
        ((int64_t *)total)[best] = -1 - total[best]; /* exclude, keep recoverable */
    }
}

int main(void)
{
    static int64_t serial[VOCAB], parallel[VOCAB];
    double t0 = seconds();
    for (int d = 0; d < DOCS; d++)
        if (count_document(d, serial) < 0)
            return 1;
    double t_serial = seconds() - t0;

    cf_executor *pool;
    cf_map *map;
    if (cf_process_pool_create(&pool, NULL) < 0)
        return 1;
    t0 = seconds();
    int rc = cf_map_create(&map, pool, "count_words", next_doc, NULL, NULL);
    while (rc == 0) {
        size_t i;
        const msgpack_object *res, *items;
        size_t n;
        rc = cf_map_next(map, &i, &res);
        if (rc == 0 && cf_obj_array(res, &items, &n) == 0 && n == VOCAB) {
            for (int k = 0; k < VOCAB; k++) {
                int64_t c = 0;
                cf_obj_i64(&items[k], &c);
                parallel[k] += c;
            }
        }
    }
    double t_pool = seconds() - t0;
    cf_map_release(map);
    int workers = cf_executor_workers(pool);
    cf_executor_release(pool);
    if (rc != CF_EEMPTY || memcmp(serial, parallel, sizeof(serial)) != 0) {
        fprintf(stderr, "wordfreq: the pool's counts differ from the serial ones\n");
        return 1;
    }
    printf("%d documents, %d words each; most frequent words:\n", DOCS, WORDS_PER_DOC);
    print_top(parallel);
    fprintf(stderr, "serial %.3f s, pool of %d workers %.3f s: speedup %.2fx\n", t_serial,
            workers, t_pool, t_serial / t_pool);
    return 0;
}
