#ifndef RELUFLOW_CRENDER_SHIM_H
#define RELUFLOW_CRENDER_SHIM_H
/* librsvg (SVG parsing and drawing) and cairo (its PNG and PDF surfaces), Debian librsvg2-dev and
   libcairo2-dev; pkg-config librsvg-2.0 brings cairo, gio, gdk-pixbuf and glib with it. */
#include <librsvg/rsvg.h>
#include <cairo.h>
#include <cairo-pdf.h>
#include <glib-object.h>
#endif
