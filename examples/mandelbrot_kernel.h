/* The Mandelbrot kernel shared by examples/mandelbrot.c,
 * examples/mpi_mandelbrot.c and tests/test_mandelbrot.c: pixel -> iteration
 * count -> colour, a band of rows rendered into RGB bytes, and the bands of
 * a picture as cf_map items. Header-only (static functions), so the
 * examples and the test compile the very same code; the test renders with
 * it both over the pool and serially and compares the bytes.
 *
 * Floating point is used only for the pixel coordinates and the
 * escape-time loop, the same operations in the same order wherever they
 * run (ISO C mode: no FMA contraction); the colour is integer arithmetic,
 * so a render is byte-for-byte reproducible.
 */
#ifndef CFUTURES_EXAMPLES_MANDELBROT_KERNEL_H
#define CFUTURES_EXAMPLES_MANDELBROT_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#define MANDEL_MAX_SIDE 16384
#define MANDEL_MAX_ITER 100000

/* What to render: an image of width x height pixels centred on (cx, cy),
 * `span` wide on the real axis (pixels are square). */
struct mandel_view {
    int width, height, max_iter;
    double cx, cy, span;
};

/* Escape-time iterations of c = x0 + i*y0, in 0..max_iter (max_iter: in
 * the set, as far as we looked). */
static inline int mandel_iterations(double x0, double y0, int max_iter)
{
    double x = 0, y = 0, x2 = 0, y2 = 0;
    int i = 0;
    while (x2 + y2 <= 4.0 && i < max_iter) {
        y = 2 * x * y + y0;
        x = x2 - y2 + x0;
        x2 = x * x;
        y2 = y * y;
        i++;
    }
    return i;
}

/* The classic 16-colour palette; the set itself is black. */
static inline void mandel_colour(int iter, int max_iter, unsigned char rgb[3])
{
    static const unsigned char palette[16][3] = {
        {66, 30, 15},    {25, 7, 26},     {9, 1, 47},      {4, 4, 73},
        {0, 7, 100},     {12, 44, 138},   {24, 82, 177},   {57, 125, 209},
        {134, 181, 229}, {211, 236, 248}, {241, 233, 191}, {248, 201, 95},
        {255, 170, 0},   {204, 128, 0},   {153, 87, 0},    {106, 52, 3},
    };
    if (iter >= max_iter) {
        rgb[0] = rgb[1] = rgb[2] = 0;
        return;
    }
    for (int k = 0; k < 3; k++)
        rgb[k] = palette[iter % 16][k];
}

/* Renders rows y0 .. y1-1 into out: (y1 - y0) * width * 3 bytes, RGB,
 * row after row. */
static inline void mandel_render_rows(const struct mandel_view *v, int y0, int y1,
                                      unsigned char *out)
{
    double scale = v->span / v->width;
    for (int py = y0; py < y1; py++) {
        double ci = v->cy - ((double)py - v->height / 2.0 + 0.5) * scale;
        for (int px = 0; px < v->width; px++) {
            double cr = v->cx + ((double)px - v->width / 2.0 + 0.5) * scale;
            mandel_colour(mandel_iterations(cr, ci, v->max_iter), v->max_iter, out);
            out += 3;
        }
    }
}

static inline int mandel_view_valid(const struct mandel_view *v)
{
    return v->width > 0 && v->width <= MANDEL_MAX_SIDE && v->height > 0 &&
           v->height <= MANDEL_MAX_SIDE && v->max_iter > 0 && v->max_iter <= MANDEL_MAX_ITER &&
           v->span > 0;
}

/* Packs the arguments of one band for mandelbrot_band. */
static inline int mandel_pack_band(msgpack_packer *pk, const struct mandel_view *v, int y0,
                                   int y1)
{
    return cf_pack_args(pk, "iiidddii", (int64_t)v->width, (int64_t)v->height,
                        (int64_t)v->max_iter, v->cx, v->cy, v->span, (int64_t)y0, (int64_t)y1);
}

/* Band `index` of v in bands of band_rows rows: rows *y0 .. *y1 - 1; 0 past
 * the last band, else 1. */
static inline int mandel_band_rows(const struct mandel_view *v, int band_rows, size_t index,
                                   int *y0, int *y1)
{
    *y0 = (int)index * band_rows;
    if (*y0 >= v->height)
        return 0;
    *y1 = *y0 + band_rows < v->height ? *y0 + band_rows : v->height;
    return 1;
}

/* A cf_map input's step over the bands of v: packs band `index`'s
 * arguments; 0 past the last band, 1 when packed, -1 when packing failed. */
static inline int mandel_next_band(msgpack_packer *pk, const struct mandel_view *v, int band_rows,
                                   size_t index)
{
    int y0, y1;
    if (!mandel_band_rows(v, band_rows, index, &y0, &y1))
        return 0;
    return mandel_pack_band(pk, v, y0, y1) < 0 ? -1 : 1;
}

/* Copies band `index`'s result (the binary mandelbrot_band returned) into
 * its rows of image (v->height rows of v->width RGB pixels); -1 when the
 * result is not a binary of the band's size. */
static inline int mandel_place_band(const struct mandel_view *v, int band_rows, size_t index,
                                    const msgpack_object *result, unsigned char *image)
{
    size_t row_bytes = (size_t)v->width * 3, len;
    const void *bytes;
    int y0, y1;
    if (!mandel_band_rows(v, band_rows, index, &y0, &y1) || cf_obj_bin(result, &bytes, &len) < 0 ||
        len != (size_t)(y1 - y0) * row_bytes)
        return -1;
    memcpy(image + (size_t)y0 * row_bytes, bytes, len);
    return 0;
}

/* The task: [width, height, max_iter, cx, cy, span, y0, y1] -> the band's
 * RGB bytes as a msgpack binary. Register it with CF_TASK(mandelbrot_band)
 * in the file that includes this header. */
static int mandelbrot_band(const msgpack_object *args, msgpack_packer *out)
{
    int64_t w, h, it, y0, y1;
    struct mandel_view v;
    if (cf_arg_count(args) != 8 || cf_arg_i64(args, 0, &w) || cf_arg_i64(args, 1, &h) ||
        cf_arg_i64(args, 2, &it) || cf_arg_f64(args, 3, &v.cx) || cf_arg_f64(args, 4, &v.cy) ||
        cf_arg_f64(args, 5, &v.span) || cf_arg_i64(args, 6, &y0) || cf_arg_i64(args, 7, &y1))
        return cf_task_fail("mandelbrot_band: expected [w, h, max_iter, cx, cy, span, y0, y1]");
    if (w < 1 || w > MANDEL_MAX_SIDE || h < 1 || h > MANDEL_MAX_SIDE || it < 1 ||
        it > MANDEL_MAX_ITER || y0 < 0 || y1 <= y0 || y1 > h)
        return cf_task_fail("mandelbrot_band: bad band %lld..%lld of %lldx%lld",
                            (long long)y0, (long long)y1, (long long)w, (long long)h);
    v.width = (int)w;
    v.height = (int)h;
    v.max_iter = (int)it;
    if (!mandel_view_valid(&v))
        return cf_task_fail("mandelbrot_band: bad view");
    size_t len = (size_t)(y1 - y0) * (size_t)w * 3;
    unsigned char *buf = malloc(len);
    if (!buf)
        return cf_task_fail("mandelbrot_band: out of memory");
    mandel_render_rows(&v, (int)y0, (int)y1, buf);
    int rc = msgpack_pack_bin(out, len);
    if (rc == 0)
        rc = msgpack_pack_bin_body(out, buf, len);
    free(buf);
    return rc == 0 ? 0 : cf_task_fail("mandelbrot_band: could not pack the band");
}

#endif
