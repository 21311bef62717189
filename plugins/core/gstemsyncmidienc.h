/* emsync — emsyncmidienc: writes an audio/x-midi-event stream into a Standard MIDI File. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_EMSYNC_MIDI_ENC (gst_emsync_midi_enc_get_type ())
#define GST_TYPE_EMSYNC_MIDIENC GST_TYPE_EMSYNC_MIDI_ENC
G_DECLARE_FINAL_TYPE (GstEmsyncMidiEnc, gst_emsync_midi_enc, GST, EMSYNC_MIDI_ENC, GstElement)

G_END_DECLS
