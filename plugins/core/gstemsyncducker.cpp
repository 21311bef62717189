/* emsync — emsyncducker: mixes a background under the music, ducked by the music's level (side chain).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-emsyncducker
 * @title: emsyncducker
 * @see_also: audiomixer, emsyncloudness, emsyncbin
 *
 * A two-input mixer with a side chain: the `sink` pad (the music) is mixed at unity and drives the ducking of
 * the `background` pad (e.g. a video's original sound), which is mixed at #GstEmsyncDucker:background-level
 * where the music is silent and lowered by up to #GstEmsyncDucker:depth dB while it plays. The music of a
 * soundtrack is continuous but has dynamics, rests and a fade at the end, so the attenuation follows its level
 * rather than an on/off gate: none below #GstEmsyncDucker:threshold (the music's RMS level, dBFS of a full-scale
 * sine, 10 ms), rising linearly in dB to the full depth 15 dB above it; it grows with the #GstEmsyncDucker:attack
 * time constant and shrinks with the #GstEmsyncDucker:release one. With the defaults, music normalised to
 * -14 LUFS (RMS around -17 dBFS) puts the background 12 dB under its level, quiet passages lower it less, and
 * before the first note and after the music's end it comes back up within about a second.
 *
 * Both inputs are converted to the output format (32-bit float, the rate and channels negotiated downstream) as
 * in audiomixer; time alignment, gaps and live timeouts are #GstAudioAggregator's. No lookahead: the ducking
 * starts with the music (attack 50 ms by default) and adds no latency.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -e filesrc location=in.mp4 ! decodebin name=d d. ! queue ! videoconvert ! emsyncbin name=s \
 *     s.audio ! queue ! emsyncducker name=duck ! audioconvert ! wavenc ! filesink location=mix.wav \
 *     d. ! queue ! audioconvert ! audioresample ! duck.background
 * ]| The soundtrack with the video's own sound ducked under it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/core/gstemsyncducker.h"

#include "lib/audio/ducker.h"
#include "plugins/core/elements.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_emsync_ducker_debug);
#define GST_CAT_DEFAULT gst_emsync_ducker_debug

namespace eaudio = emsync::audio;

enum {
  PROP_0,
  PROP_BACKGROUND_LEVEL,
  PROP_DEPTH,
  PROP_THRESHOLD,
  PROP_ATTACK,
  PROP_RELEASE,
};

#define SRC_CAPS                                                                                             \
  "audio/x-raw, format = (string) F32LE, layout = (string) interleaved, rate = (int) [ 8000, 192000 ], "     \
  "channels = (int) [ 1, 8 ]"

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SRC_CAPS));
static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("audio/x-raw"));
static GstStaticPadTemplate background_template =
    GST_STATIC_PAD_TEMPLATE ("background", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("audio/x-raw"));

namespace {

/* The background's samples for the output buffer being assembled, mixed in when the music's are all there. */
struct State {
  std::unique_ptr<eaudio::Ducker> ducker;
  int rate = 0;
  const GstBuffer *stash_for = nullptr;
  std::vector<float> stash;
};

} // namespace

struct _GstEmsyncDucker {
  GstAudioAggregator parent;
  GstPad *music_pad, *background_pad;
  eaudio::DuckerOptions *settings; /* under the object lock */
  std::atomic<bool> *settings_changed;
  State *state;
};

#define gst_emsync_ducker_parent_class parent_class
G_DEFINE_TYPE (GstEmsyncDucker, gst_emsync_ducker, GST_TYPE_AUDIO_AGGREGATOR);
GST_ELEMENT_REGISTER_DEFINE (emsyncducker, "emsyncducker", GST_RANK_NONE, GST_TYPE_EMSYNC_DUCKER);

static const GstAudioInfo *
output_info (GstEmsyncDucker *self)
{
  return &GST_AUDIO_AGGREGATOR_PAD (GST_AGGREGATOR_SRC_PAD (self))->info;
}

static gboolean
gst_emsync_ducker_aggregate_one_buffer (GstAudioAggregator *aagg, GstAudioAggregatorPad *pad,
    GstBuffer *inbuf, guint in_offset, GstBuffer *outbuf, guint out_offset, guint num_frames)
{
  GstEmsyncDucker *self = GST_EMSYNC_DUCKER (aagg);
  State &st = *self->state;
  const guint channels = GST_AUDIO_INFO_CHANNELS (output_info (self));
  GstMapInfo in;
  if (!gst_buffer_map (inbuf, &in, GST_MAP_READ))
    return FALSE;
  const float *src = reinterpret_cast<const float *> (in.data) + (gsize) in_offset * channels;
  const gsize values = (gsize) num_frames * channels;
  if (GST_PAD (pad) == self->background_pad) {
    /* kept aside: ducked in finish_buffer, by the music of the same frames */
    const gsize out_values = gst_buffer_get_size (outbuf) / sizeof (float);
    if (st.stash_for != outbuf) {
      st.stash.assign (out_values, 0.0f);
      st.stash_for = outbuf;
    }
    float *dst = st.stash.data () + (gsize) out_offset * channels;
    for (gsize i = 0; i < values && (gsize) out_offset * channels + i < out_values; i++)
      dst[i] += src[i];
  } else {
    GstMapInfo out;
    if (!gst_buffer_map (outbuf, &out, GST_MAP_READWRITE)) {
      gst_buffer_unmap (inbuf, &in);
      return FALSE;
    }
    float *dst = reinterpret_cast<float *> (out.data) + (gsize) out_offset * channels;
    for (gsize i = 0; i < values; i++)
      dst[i] += src[i];
    gst_buffer_unmap (outbuf, &out);
  }
  gst_buffer_unmap (inbuf, &in);
  return TRUE;
}

static GstFlowReturn
gst_emsync_ducker_finish_buffer (GstAggregator *agg, GstBuffer *buffer)
{
  GstEmsyncDucker *self = GST_EMSYNC_DUCKER (agg);
  State &st = *self->state;
  const GstAudioInfo *info = output_info (self);
  const int rate = GST_AUDIO_INFO_RATE (info);
  const int channels = GST_AUDIO_INFO_CHANNELS (info);
  try {
    if (!st.ducker || st.rate != rate || self->settings_changed->exchange (false)) {
      GST_OBJECT_LOCK (self);
      const eaudio::DuckerOptions options = *self->settings;
      GST_OBJECT_UNLOCK (self);
      if (st.ducker && st.rate == rate)
        st.ducker->set_options (options);
      else
        st.ducker = std::make_unique<eaudio::Ducker> (rate, options);
      st.rate = rate;
    }
    if (st.stash_for == buffer) {
      buffer = gst_buffer_make_writable (buffer);
      GstMapInfo out;
      if (gst_buffer_map (buffer, &out, GST_MAP_READWRITE)) {
        const gsize frames = std::min (out.size / sizeof (float), st.stash.size ()) / channels;
        float *mix = reinterpret_cast<float *> (out.data);
        if (GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_GAP))
          std::fill (mix, mix + frames * channels, 0.0f);
        st.ducker->process (mix, channels, st.stash.data (), channels, frames);
        for (gsize i = 0; i < frames * channels; i++)
          mix[i] += st.stash[i];
        gst_buffer_unmap (buffer, &out);
        GST_BUFFER_FLAG_UNSET (buffer, GST_BUFFER_FLAG_GAP);
      }
    } else if (st.ducker) {
      /* no background here: the ducker still follows the music */
      GstMapInfo out;
      if (gst_buffer_map (buffer, &out, GST_MAP_READ)) {
        const gsize frames = out.size / sizeof (float) / channels;
        st.ducker->process (reinterpret_cast<const float *> (out.data), channels, nullptr, 0, frames);
        gst_buffer_unmap (buffer, &out);
      }
    }
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Ducking failed"), ("%s", e.what ()));
    gst_buffer_unref (buffer);
    return GST_FLOW_ERROR;
  }
  st.stash_for = nullptr;
  return GST_AGGREGATOR_CLASS (parent_class)->finish_buffer (agg, buffer);
}

/* The output takes the music's rate and channels (else the background's), not the template's first choice. */
static GstCaps *
gst_emsync_ducker_fixate_src_caps (GstAggregator *agg, GstCaps *caps)
{
  GstEmsyncDucker *self = GST_EMSYNC_DUCKER (agg);
  GstCaps *input = gst_pad_get_current_caps (self->music_pad);
  if (!input)
    input = gst_pad_get_current_caps (self->background_pad);
  if (input) {
    caps = gst_caps_truncate (gst_caps_make_writable (caps));
    GstStructure *out = gst_caps_get_structure (caps, 0);
    const GstStructure *in = gst_caps_get_structure (input, 0);
    gint value;
    if (gst_structure_get_int (in, "rate", &value))
      gst_structure_fixate_field_nearest_int (out, "rate", value);
    if (gst_structure_get_int (in, "channels", &value))
      gst_structure_fixate_field_nearest_int (out, "channels", value);
    gst_caps_unref (input);
  }
  return GST_AGGREGATOR_CLASS (parent_class)->fixate_src_caps (agg, caps);
}

static gboolean
gst_emsync_ducker_stop (GstAggregator *agg)
{
  GstEmsyncDucker *self = GST_EMSYNC_DUCKER (agg);
  State &st = *self->state;
  st.ducker.reset ();
  st.stash_for = nullptr;
  st.stash.clear ();
  return GST_AGGREGATOR_CLASS (parent_class)->stop (agg);
}

static gboolean
gst_emsync_ducker_sink_event (GstAggregator *agg, GstAggregatorPad *pad, GstEvent *event)
{
  GstEmsyncDucker *self = GST_EMSYNC_DUCKER (agg);
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP && self->state->ducker)
    self->state->ducker->reset ();
  return GST_AGGREGATOR_CLASS (parent_class)->sink_event (agg, pad, event);
}

static void
gst_emsync_ducker_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstEmsyncDucker *self = GST_EMSYNC_DUCKER (object);
  GST_OBJECT_LOCK (self);
  eaudio::DuckerOptions &o = *self->settings;
  switch (prop_id) {
    case PROP_BACKGROUND_LEVEL:
      o.background_level = g_value_get_double (value);
      break;
    case PROP_DEPTH:
      o.depth_db = g_value_get_double (value);
      break;
    case PROP_THRESHOLD:
      o.threshold_db = g_value_get_double (value);
      break;
    case PROP_ATTACK:
      o.attack_s = (double) g_value_get_uint64 (value) / GST_SECOND;
      break;
    case PROP_RELEASE:
      o.release_s = (double) g_value_get_uint64 (value) / GST_SECOND;
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  self->settings_changed->store (true);
}

static void
gst_emsync_ducker_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstEmsyncDucker *self = GST_EMSYNC_DUCKER (object);
  GST_OBJECT_LOCK (self);
  const eaudio::DuckerOptions &o = *self->settings;
  switch (prop_id) {
    case PROP_BACKGROUND_LEVEL:
      g_value_set_double (value, o.background_level);
      break;
    case PROP_DEPTH:
      g_value_set_double (value, o.depth_db);
      break;
    case PROP_THRESHOLD:
      g_value_set_double (value, o.threshold_db);
      break;
    case PROP_ATTACK:
      g_value_set_uint64 (value, (guint64) (o.attack_s * GST_SECOND + 0.5));
      break;
    case PROP_RELEASE:
      g_value_set_uint64 (value, (guint64) (o.release_s * GST_SECOND + 0.5));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_emsync_ducker_finalize (GObject *object)
{
  GstEmsyncDucker *self = GST_EMSYNC_DUCKER (object);
  delete self->state;
  delete self->settings;
  delete self->settings_changed;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_emsync_ducker_class_init (GstEmsyncDuckerClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstAggregatorClass *agg_class = GST_AGGREGATOR_CLASS (klass);
  GstAudioAggregatorClass *aagg_class = GST_AUDIO_AGGREGATOR_CLASS (klass);
  GST_DEBUG_CATEGORY_INIT (gst_emsync_ducker_debug, "emsyncducker", 0, "emsync side-chain ducking mixer");

  gobject_class->set_property = gst_emsync_ducker_set_property;
  gobject_class->get_property = gst_emsync_ducker_get_property;
  gobject_class->finalize = gst_emsync_ducker_finalize;

  const eaudio::DuckerOptions defaults;
  const auto playing = (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  g_object_class_install_property (gobject_class, PROP_BACKGROUND_LEVEL,
      g_param_spec_double ("background-level", "Background level",
          "Gain of the background where the music is silent (linear)", 0.0, 1.0, defaults.background_level,
          playing));
  g_object_class_install_property (gobject_class, PROP_DEPTH,
      g_param_spec_double ("depth", "Depth",
          "How far the background is lowered under music 15 dB or more above the threshold (dB)", 0.0, 60.0,
          defaults.depth_db, playing));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_double ("threshold", "Threshold", "Music level (RMS, dBFS) where the ducking starts",
          -100.0, 0.0, defaults.threshold_db, playing));
  g_object_class_install_property (gobject_class, PROP_ATTACK,
      g_param_spec_uint64 ("attack", "Attack", "Time constant of the ducking as the music gets louder (ns)",
          GST_MSECOND / 10, 10 * GST_SECOND, (guint64) (defaults.attack_s * GST_SECOND + 0.5), playing));
  g_object_class_install_property (gobject_class, PROP_RELEASE,
      g_param_spec_uint64 ("release", "Release",
          "Time constant of the background's return as the music gets quieter (ns)", GST_MSECOND / 10,
          30 * GST_SECOND, (guint64) (defaults.release_s * GST_SECOND + 0.5), playing));

  gst_element_class_add_static_pad_template_with_gtype (
      element_class, &src_template, GST_TYPE_AUDIO_AGGREGATOR_PAD);
  gst_element_class_add_static_pad_template_with_gtype (
      element_class, &sink_template, GST_TYPE_AUDIO_AGGREGATOR_CONVERT_PAD);
  gst_element_class_add_static_pad_template_with_gtype (
      element_class, &background_template, GST_TYPE_AUDIO_AGGREGATOR_CONVERT_PAD);
  gst_element_class_set_static_metadata (element_class, "emsync ducking mixer", "Filter/Audio/Mixer",
      "Mixes a background under the music, lowered while the music plays (side chain)", "emsync developers");

  agg_class->finish_buffer = GST_DEBUG_FUNCPTR (gst_emsync_ducker_finish_buffer);
  agg_class->stop = GST_DEBUG_FUNCPTR (gst_emsync_ducker_stop);
  agg_class->fixate_src_caps = GST_DEBUG_FUNCPTR (gst_emsync_ducker_fixate_src_caps);
  agg_class->sink_event = GST_DEBUG_FUNCPTR (gst_emsync_ducker_sink_event);
  aagg_class->aggregate_one_buffer = GST_DEBUG_FUNCPTR (gst_emsync_ducker_aggregate_one_buffer);
}

static GstPad *
add_sink_pad (GstEmsyncDucker *self, const gchar *name)
{
  GstPadTemplate *templ = gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self), name);
  GstPad *pad = GST_PAD (g_object_new (GST_TYPE_AUDIO_AGGREGATOR_CONVERT_PAD, "name", name, "direction",
      GST_PAD_SINK, "template", templ, NULL));
  gst_element_add_pad (GST_ELEMENT (self), pad);
  return pad;
}

static void
gst_emsync_ducker_init (GstEmsyncDucker *self)
{
  self->settings = new eaudio::DuckerOptions ();
  self->settings_changed = new std::atomic<bool> (false);
  self->state = new State ();
  /* the music first: its samples are in the output buffer before the background is ducked under them */
  self->music_pad = add_sink_pad (self, "sink");
  self->background_pad = add_sink_pad (self, "background");
}
