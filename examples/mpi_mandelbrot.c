/* The Mandelbrot set of examples/mandelbrot.c rendered over the ranks of
 * an MPI job, in node mode (each serving rank runs a local process pool of
 * one worker per CPU), and checked byte for byte against a serial render
 * on the root:
 *
 *   mpiexec -n 3 ./mpi_mandelbrot [out.ppm]
 *   mpiexec --map-by ppr:1:node --hostfile hosts ./mpi_mandelbrot
 *
 * Each band of BAND_ROWS rows is one item of an unordered cf_map; the
 * root writes the picture as a binary PPM when given a path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>
#include <cfutures/mpi.h>

#include "mandelbrot_kernel.h"

CF_TASK(mandelbrot_band);

#define WIDTH 800
#define HEIGHT 600
#define BAND_ROWS 16

static const struct mandel_view VIEW = {
    .width = WIDTH, .height = HEIGHT, .max_iter = 256, .cx = -0.65, .cy = 0.0, .span = 3.4,
};

static int next_band(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    return mandel_next_band(pk, &VIEW, BAND_ROWS, index);
}

int main(int argc, char **argv)
{
    cf_mpi_pool_options o = {.workers_per_rank = CF_MPI_AUTO};
    cf_executor *pool;
    int rc = cf_mpi_pool_create(&pool, &o);
    if (rc == CF_MPI_SERVED)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "cf_mpi_pool_create: %s\n", cf_strerror(rc));
        return 1;
    }
    size_t row_bytes = (size_t)WIDTH * 3;
    unsigned char *image = calloc((size_t)HEIGHT, row_bytes);
    unsigned char *serial = calloc((size_t)HEIGHT, row_bytes);
    int failed = !image || !serial;
    size_t bands = 0;
    cf_map *map = NULL;
    cf_map_options mo = {.timeout = CF_FOREVER, .chunksize = 1, .unordered = true};
    rc = failed ? -1 : cf_map_create(&map, pool, "mandelbrot_band", next_band, NULL, &mo);
    while (rc == 0) {
        size_t i;
        const msgpack_object *result;
        if ((rc = cf_map_next(map, &i, &result)) != 0)
            break;
        if (mandel_place_band(&VIEW, BAND_ROWS, i, result, image) < 0) {
            fprintf(stderr, "mpi_mandelbrot: band %zu: unexpected result\n", i);
            failed = 1;
        } else {
            bands++;
        }
    }
    if (rc != CF_EEMPTY) {
        fprintf(stderr, "mpi_mandelbrot: map: %s\n",
                map ? cf_map_error_message(map) : cf_strerror(rc));
        failed = 1;
    }
    cf_map_release(map);
    int workers = cf_executor_workers(pool);
    cf_executor_release(pool); /* the serving ranks end */
    if (!failed) {
        mandel_render_rows(&VIEW, 0, HEIGHT, serial);
        failed = memcmp(image, serial, (size_t)HEIGHT * row_bytes) != 0;
        printf("mpi_mandelbrot: %zu bands over %d workers on the serving ranks; %s the serial "
               "render\n", bands, workers, failed ? "DIFFERS from" : "equals");
    }
    if (!failed && argc > 1) {
        FILE *f = fopen(argv[1], "wb");
        failed = !f || fprintf(f, "P6\n%d %d\n255\n", WIDTH, HEIGHT) < 0 ||
                 fwrite(image, row_bytes, HEIGHT, f) != HEIGHT;
        if (f && fclose(f) != 0)
            failed = 1;
        if (!failed)
            printf("mpi_mandelbrot: wrote %s\n", argv[1]);
    }
    free(image);
    free(serial);
    return failed;
}
