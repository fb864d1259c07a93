/* examples/mandelbrot.c's kernel over the pool: a render in bands of rows
 * on the workers equals the serial render byte for byte, in either yield
 * order and any band height; the PNG written decodes back to the same
 * pixels; bad bands fail cleanly. The kernel is the example's own header.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cfutures.h>

#include "examples/mandelbrot_kernel.h"
#include "support.h"

CF_TASK(mandelbrot_band);

#define MANDEL_W 160
#define MANDEL_H 120

static const struct mandel_view mandelbrot_view = {
    .width = MANDEL_W, .height = MANDEL_H, .max_iter = 200, .cx = -0.65, .cy = 0.0, .span = 3.4,
};

struct mandelbrot_input {
    const struct mandel_view *v;
    int band_rows;
};

static int mandelbrot_bands(void *arg, size_t index, msgpack_packer *pk)
{
    struct mandelbrot_input *in = arg;
    int y0 = (int)index * in->band_rows;
    if (y0 >= in->v->height)
        return 0;
    int y1 = y0 + in->band_rows < in->v->height ? y0 + in->band_rows : in->v->height;
    return mandel_pack_band(pk, in->v, y0, y1) == 0 ? 1 : -ENOMEM;
}

/* Renders v over the pool in bands of band_rows rows (asserts). */
static unsigned char *mandelbrot_render_pool(cf_executor *ex, const struct mandel_view *v,
                                             int band_rows, bool unordered)
{
    size_t row = (size_t)v->width * 3;
    unsigned char *img = malloc(row * (size_t)v->height);
    cr_assert_not_null(img);
    memset(img, 0xAB, row * (size_t)v->height); /* a missed band shows */
    struct mandelbrot_input in = {v, band_rows};
    cf_map_options o = {.timeout = CF_FOREVER, .unordered = unordered};
    cf_map *m;
    cr_assert_eq(cf_map_create(&m, ex, "mandelbrot_band", mandelbrot_bands, &in, &o), 0);
    size_t index, bands = 0;
    const msgpack_object *r;
    int rc;
    while ((rc = cf_map_next(m, &index, &r)) != CF_EEMPTY) {
        cr_assert_eq(rc, 0, "%s", cf_map_error_message(m));
        int y0 = (int)index * band_rows;
        int rows = y0 + band_rows < v->height ? band_rows : v->height - y0;
        const void *bytes;
        size_t len;
        cr_assert_eq(cf_obj_bin(r, &bytes, &len), 0);
        cr_assert_eq(len, (size_t)rows * row);
        memcpy(img + (size_t)y0 * row, bytes, len);
        bands++;
    }
    cr_assert_eq(bands, (size_t)((v->height + band_rows - 1) / band_rows));
    cf_map_release(m);
    return img;
}

static unsigned char *mandelbrot_render_serial(const struct mandel_view *v)
{
    unsigned char *img = malloc((size_t)v->width * 3 * (size_t)v->height);
    cr_assert_not_null(img);
    mandel_render_rows(v, 0, v->height, img);
    return img;
}

Test(mandelbrot, pool_render_equals_serial, .init = support_setup, .fini = support_teardown,
     .timeout = 60)
{
    unsigned char *serial = mandelbrot_render_serial(&mandelbrot_view);
    size_t size = (size_t)MANDEL_W * 3 * MANDEL_H;
    static const int heights[] = {1, 7, 8, 120};
    for (size_t h = 0; h < sizeof(heights) / sizeof(heights[0]); h++) {
        for (int unordered = 0; unordered < 2; unordered++) {
            unsigned char *pooled =
                mandelbrot_render_pool(support_pool, &mandelbrot_view, heights[h], unordered);
            cr_assert_eq(memcmp(pooled, serial, size), 0,
                         "bands of %d rows (%s): the pool render differs", heights[h],
                         unordered ? "unordered" : "ordered");
            free(pooled);
        }
    }
    /* Not a blank picture: some of the set (black) and some outside. */
    size_t black = 0;
    for (size_t i = 0; i < size; i += 3)
        black += !serial[i] && !serial[i + 1] && !serial[i + 2];
    cr_assert_gt(black, 0);
    cr_assert_lt(black, (size_t)MANDEL_W * MANDEL_H);
    free(serial);
}

Test(mandelbrot, png_round_trip, .init = support_setup, .fini = support_teardown,
     .timeout = 60)
{
    unsigned char *img = mandelbrot_render_pool(support_pool, &mandelbrot_view, 16, true);
    char dir[64], path[96];
    support_make_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/mandelbrot.png", dir);

    png_image out;
    memset(&out, 0, sizeof(out));
    out.version = PNG_IMAGE_VERSION;
    out.width = MANDEL_W;
    out.height = MANDEL_H;
    out.format = PNG_FORMAT_RGB;
    cr_assert(png_image_write_to_file(&out, path, 0, img, MANDEL_W * 3, NULL), "%s",
              out.message);

    png_image in;
    memset(&in, 0, sizeof(in));
    in.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_file(&in, path), "%s", in.message);
    cr_assert_eq(in.width, MANDEL_W);
    cr_assert_eq(in.height, MANDEL_H);
    in.format = PNG_FORMAT_RGB;
    unsigned char *back = malloc(PNG_IMAGE_SIZE(in));
    cr_assert_not_null(back);
    cr_assert(png_image_finish_read(&in, NULL, back, MANDEL_W * 3, NULL), "%s", in.message);
    cr_assert_eq(PNG_IMAGE_SIZE(in), (size_t)MANDEL_W * 3 * MANDEL_H);
    cr_assert_eq(memcmp(back, img, PNG_IMAGE_SIZE(in)), 0, "the PNG decodes to other pixels");
    free(back);
    free(img);
    support_remove_dir(dir);
}

Test(mandelbrot, bad_band_fails_the_item, .init = support_setup, .fini = support_teardown,
     .timeout = 30)
{
    cf_future *f;
    /* Rows 100..200 of a 120-row image. */
    cr_assert_eq(cf_submit_named(support_pool, "mandelbrot_band", CF_FOREVER, &f, "iiidddii",
                                 (int64_t)MANDEL_W, (int64_t)MANDEL_H, (int64_t)50, -0.5, 0.0,
                                 3.0, (int64_t)100, (int64_t)200),
                 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ETASK);
    cr_assert_not_null(strstr(cf_future_error_message(f), "bad band"));
    cf_future_release(f);
    cr_assert_eq(cf_submit_named(support_pool, "mandelbrot_band", CF_FOREVER, &f, "i",
                                 (int64_t)1),
                 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ETASK);
    cf_future_release(f);
}
