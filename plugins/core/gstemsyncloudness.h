/* emsync — emsyncloudness: streaming EBU R128 loudness normaliser with a true-peak lookahead limiter. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_EMSYNC_LOUDNESS (gst_emsync_loudness_get_type ())
G_DECLARE_FINAL_TYPE (GstEmsyncLoudness, gst_emsync_loudness, GST, EMSYNC_LOUDNESS, GstElement)

G_END_DECLS
