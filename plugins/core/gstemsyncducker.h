/* emsync — emsyncducker: mixes a background under the music, ducked by the music's level (side chain). */
#pragma once

#include <gst/audio/gstaudioaggregator.h>

G_BEGIN_DECLS

#define GST_TYPE_EMSYNC_DUCKER (gst_emsync_ducker_get_type ())
G_DECLARE_FINAL_TYPE (GstEmsyncDucker, gst_emsync_ducker, GST, EMSYNC_DUCKER, GstAudioAggregator)

G_END_DECLS
