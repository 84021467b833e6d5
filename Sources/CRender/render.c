#include "render.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static rf_render_api api;
static const rf_render_api *loaded = NULL;
static char failure[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* librsvg's soname brings cairo, gobject and glib with it (its dependencies); their own sonames then
   resolve to those copies. RTLD_LOCAL: nothing of them is visible to the rest of the program. */
static void load(void) {
    const char *libraries[] = {"librsvg-2.so.2", "libcairo.so.2", "libgobject-2.0.so.0", "libglib-2.0.so.0"};
    void *handles[4];
    for (int k = 0; k < 4; k++) {
        handles[k] = dlopen(libraries[k], RTLD_NOW | RTLD_LOCAL);
        if (!handles[k]) {
            const char *why = dlerror();
            snprintf(failure, sizeof failure, "cannot load %s (Debian: librsvg2-2, libcairo2): %s", libraries[k], why ? why : "unknown reason");
            return;
        }
    }
#define SYMBOL(library, name)                                                                    \
    do {                                                                                         \
        *(void **)(&api.name) = dlsym(handles[library], #name);                                  \
        if (!api.name) {                                                                         \
            snprintf(failure, sizeof failure, "%s has no function %s", libraries[library], #name); \
            return;                                                                              \
        }                                                                                        \
    } while (0)
    SYMBOL(0, rsvg_handle_new_from_data);
    SYMBOL(0, rsvg_handle_get_intrinsic_size_in_pixels);
    SYMBOL(0, rsvg_handle_render_document);
    SYMBOL(0, rsvg_handle_get_geometry_for_layer);
    SYMBOL(2, g_object_unref);
    SYMBOL(3, g_error_free);
    SYMBOL(1, cairo_image_surface_create);
    SYMBOL(1, cairo_pdf_surface_create_for_stream);
    SYMBOL(1, cairo_image_surface_get_data);
    SYMBOL(1, cairo_image_surface_get_stride);
    SYMBOL(1, cairo_surface_write_to_png_stream);
    SYMBOL(1, cairo_surface_destroy);
    SYMBOL(1, cairo_surface_finish);
    SYMBOL(1, cairo_surface_flush);
    SYMBOL(1, cairo_surface_status);
    SYMBOL(1, cairo_create);
    SYMBOL(1, cairo_destroy);
    SYMBOL(1, cairo_status);
    SYMBOL(1, cairo_scale);
    SYMBOL(1, cairo_status_to_string);
#undef SYMBOL
    loaded = &api;
}

const rf_render_api *rf_render_load(char *reason, size_t size) {
    pthread_once(&once, load);
    if (!loaded && reason && size > 0) snprintf(reason, size, "%s", failure);
    return loaded;
}
