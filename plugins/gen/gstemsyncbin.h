/* emsync — emsyncbin: scene cuts -> (emotion) -> music generation -> synthesis in one element. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_EMSYNC_BIN (gst_emsync_bin_get_type ())
G_DECLARE_FINAL_TYPE (GstEmsyncBin, gst_emsync_bin, GST, EMSYNC_BIN, GstBin)

G_END_DECLS
