#ifndef RELUFLOW_CRENDER_H
#define RELUFLOW_CRENDER_H
/* librsvg (SVG parsing and drawing) and cairo (its image/PNG and PDF surfaces), loaded with dlopen
   the first time a figure is rendered (rf_render_load), not linked: a command that renders no PNG
   or PDF does not pay for loading librsvg's ~45 shared libraries at start. The declarations below
   are the few types and functions the renderer uses, with the ABI of librsvg ≥ 2.52 and cairo ≥ 1.10
   (Debian librsvg2-2, libcairo2); each function below calls the symbol of that name found by dlsym. */
#include <stddef.h>
#include <stdint.h>

typedef struct _RsvgHandle RsvgHandle;
typedef struct _cairo cairo_t;
typedef struct _cairo_surface cairo_surface_t;
typedef int cairo_status_t;
typedef struct { double x, y, width, height; } RsvgRectangle;
typedef struct { uint32_t domain; int code; char *message; } GError;
typedef cairo_status_t (*rf_cairo_write_func)(void *closure, const unsigned char *data, unsigned int length);

#define CAIRO_FORMAT_ARGB32 0
#define CAIRO_STATUS_SUCCESS 0
#define CAIRO_STATUS_WRITE_ERROR 11

/* The loaded functions. */
typedef struct {
    RsvgHandle *(*rsvg_handle_new_from_data)(const uint8_t *data, size_t length, GError **error);
    int (*rsvg_handle_get_intrinsic_size_in_pixels)(RsvgHandle *handle, double *width, double *height);
    int (*rsvg_handle_render_document)(RsvgHandle *handle, cairo_t *cr, const RsvgRectangle *viewport, GError **error);
    int (*rsvg_handle_get_geometry_for_layer)(RsvgHandle *handle, const char *id, const RsvgRectangle *viewport,
                                              RsvgRectangle *ink, RsvgRectangle *logical, GError **error);
    void (*g_object_unref)(void *object);
    void (*g_error_free)(GError *error);
    cairo_surface_t *(*cairo_image_surface_create)(int format, int width, int height);
    cairo_surface_t *(*cairo_pdf_surface_create_for_stream)(rf_cairo_write_func write, void *closure, double width, double height);
    unsigned char *(*cairo_image_surface_get_data)(cairo_surface_t *surface);
    int (*cairo_image_surface_get_stride)(cairo_surface_t *surface);
    cairo_status_t (*cairo_surface_write_to_png_stream)(cairo_surface_t *surface, rf_cairo_write_func write, void *closure);
    void (*cairo_surface_destroy)(cairo_surface_t *surface);
    void (*cairo_surface_finish)(cairo_surface_t *surface);
    void (*cairo_surface_flush)(cairo_surface_t *surface);
    cairo_status_t (*cairo_surface_status)(cairo_surface_t *surface);
    cairo_t *(*cairo_create)(cairo_surface_t *target);
    void (*cairo_destroy)(cairo_t *cr);
    cairo_status_t (*cairo_status)(cairo_t *cr);
    void (*cairo_scale)(cairo_t *cr, double sx, double sy);
    const char *(*cairo_status_to_string)(cairo_status_t status);
} rf_render_api;

/* Loads librsvg and cairo once (thread-safe). Returns NULL when they cannot be loaded, with the
   reason (dlerror's message, or the missing symbol) in `reason`. */
const rf_render_api *rf_render_load(char *reason, size_t size);

#endif
