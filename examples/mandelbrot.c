/* A Mandelbrot set rendered in bands of rows over a process pool, written
 * as a PNG with libpng.
 *
 *   mandelbrot [out.png]      (default: mandelbrot.png; make demo writes
 *                              it into the build directory)
 *
 * Each band of BAND_ROWS rows is one item of a cf_map: the task
 * mandelbrot_band (examples/mandelbrot_kernel.h) computes it in a worker
 * and returns its RGB bytes as a msgpack binary, which the parent copies
 * into the image. The parameters are fixed, so the picture is always the
 * same: tests/test_mandelbrot.c checks that a pool render equals a serial
 * one byte for byte.
 */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#include "mandelbrot_kernel.h"

CF_TASK(mandelbrot_band);

#define WIDTH 800
#define HEIGHT 600
#define BAND_ROWS 16

static const struct mandel_view VIEW = {
    .width = WIDTH, .height = HEIGHT, .max_iter = 256, .cx = -0.65, .cy = 0.0, .span = 3.4,
};

/* The lazy input: band `index` covers rows index*BAND_ROWS onwards. */
static int next_band(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    return mandel_next_band(pk, &VIEW, BAND_ROWS, index);
}

static int write_png(const char *path, const unsigned char *rgb, int width, int height)
{
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)width;
    img.height = (png_uint_32)height;
    img.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&img, path, 0, rgb, width * 3, NULL)) {
        fprintf(stderr, "mandelbrot: %s: %s\n", path, img.message);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "mandelbrot.png";
    size_t row_bytes = (size_t)WIDTH * 3;
    unsigned char *image = calloc((size_t)HEIGHT, row_bytes);
    cf_executor *pool;
    cf_map *map = NULL;
    if (!image)
        return 1;
    int rc = cf_process_pool_create(&pool, NULL);
    if (rc < 0) {
        fprintf(stderr, "pool: %s\n", cf_strerror(rc));
        free(image);
        return 1;
    }
    int failed = 0;
    size_t bands = 0;
    cf_map_options opts = {.timeout = CF_FOREVER, .chunksize = 1, .unordered = true};
    rc = cf_map_create(&map, pool, "mandelbrot_band", next_band, NULL, &opts);
    while (rc == 0) {
        size_t i;
        const msgpack_object *result;
        rc = cf_map_next(map, &i, &result);
        if (rc == CF_EEMPTY)
            break;
        if (rc == CF_ETASK || rc == CF_EWORKER || rc == CF_EPROTO) {
            /* One band failed: report it, carry on with the others. */
            fprintf(stderr, "mandelbrot: %s\n", cf_map_error_message(map));
            failed = 1;
            rc = 0;
            continue;
        }
        if (rc < 0)
            break; /* the map itself failed */
        if (mandel_place_band(&VIEW, BAND_ROWS, i, result, image) < 0) {
            fprintf(stderr, "mandelbrot: band %zu: unexpected result\n", i);
            failed = 1;
        } else {
            bands++;
        }
    }
    if (rc < 0 && rc != CF_EEMPTY) {
        fprintf(stderr, "mandelbrot: map: %s\n", cf_strerror(rc));
        failed = 1;
    }
    cf_map_release(map);
    fprintf(stderr, "mandelbrot: %zu bands over %d workers\n", bands, cf_executor_workers(pool));
    cf_executor_release(pool);
    if (!failed && write_png(path, image, WIDTH, HEIGHT) == 0)
        printf("mandelbrot: wrote %s (%dx%d, %zu bands of %d rows)\n", path, WIDTH, HEIGHT,
               bands, BAND_ROWS);
    else
        failed = 1;
    free(image);
    return failed;
}
