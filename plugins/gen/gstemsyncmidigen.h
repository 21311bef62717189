/* emsync — emsyncmidigen: composes MIDI for the video that flows into it. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_EMSYNC_MIDIGEN (gst_emsync_midigen_get_type ())
G_DECLARE_FINAL_TYPE (GstEmsyncMidigen, gst_emsync_midigen, GST, EMSYNC_MIDIGEN, GstElement)

#define GST_TYPE_EMSYNC_SYNC_MODE (gst_emsync_sync_mode_get_type ())
GType gst_emsync_sync_mode_get_type (void);
#define GST_TYPE_EMSYNC_MODEL (gst_emsync_model_get_type ())
GType gst_emsync_model_get_type (void);
#define GST_TYPE_EMSYNC_PRESET (gst_emsync_preset_get_type ())
GType gst_emsync_preset_get_type (void);
#define GST_TYPE_EMSYNC_INSTRUMENTS (gst_emsync_instruments_get_type ())
GType gst_emsync_instruments_get_type (void);
#define GST_TYPE_EMSYNC_TIMING (gst_emsync_timing_get_type ())
GType gst_emsync_timing_get_type (void);

G_END_DECLS
