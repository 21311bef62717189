/* emsync — emsyncsynth: renders an audio/x-midi-event stream to raw audio with FluidSynth. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_EMSYNC_SYNTH (gst_emsync_synth_get_type ())
G_DECLARE_FINAL_TYPE (GstEmsyncSynth, gst_emsync_synth, GST, EMSYNC_SYNTH, GstElement)

G_END_DECLS
