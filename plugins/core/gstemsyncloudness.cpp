/* emsync — emsyncloudness: streaming EBU R128 loudness normaliser with a true-peak lookahead limiter.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-emsyncloudness
 * @title: emsyncloudness
 * @see_also: emsyncsynth, emsyncbin, emsyncducker
 *
 * Brings audio to a target integrated loudness (EBU R128 / ITU-R BS.1770-4, measured with libebur128) under a
 * true-peak ceiling, while it streams: -14 LUFS and -1 dBTP by default (web video), `loudness=-23` for
 * broadcast. The gain follows the gated loudness of the last #GstEmsyncLoudness:window (10 s) of input (400 ms
 * blocks every 100 ms, absolute gate -70 LUFS, relative gate -10 LU), rising with a 2 s time constant and
 * falling with a 0.25 s one (by at most #GstEmsyncLoudness:max-gain and 30 dB down). So that the integrated
 * loudness of the whole meets the target although the gain lags the music, the output's momentary loudness is
 * held to 1 LU above the target and the output's loudness over the last minute is made up for by up to 3 dB; a
 * fade or tail 20 LU under the programme does not raise the gain. Until 400 ms of signal
 * have been heard it comes from what there is so far, every 10 ms. Silence holds the gain. A lookahead limiter
 * then keeps the peak between samples (4x oversampled estimate) under #GstEmsyncLoudness:true-peak.
 *
 * The output is the input delayed by the limiter's lookahead plus 5 samples (the interpolator's look ahead),
 * with the input's timestamps: that delay is this element's latency, reported in the LATENCY query, so live
 * pipelines stay in sync. Nothing else is held back. At end of stream (and before a new segment or a gap) the
 * delayed samples are pushed out; a flush drops them and starts over.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=song.mid ! midiparse ! emsyncsynth ! emsyncloudness loudness=-23 ! \
 *     audioconvert ! wavenc ! filesink location=song.wav
 * ]| Renders a MIDI file at broadcast loudness.
 * |[
 * gst-launch-1.0 -m audiotestsrc num-buffers=500 ! audioconvert ! emsyncloudness ! fakesink
 * ]| Normalises a test tone to -14 LUFS.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/core/gstemsyncloudness.h"

#include "lib/audio/loudness.h"
#include "plugins/core/elements.h"

#include <gst/audio/audio.h>

#include <memory>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_emsync_loudness_debug);
#define GST_CAT_DEFAULT gst_emsync_loudness_debug

namespace eaudio = emsync::audio;

enum {
  PROP_0,
  PROP_LOUDNESS,
  PROP_TRUE_PEAK,
  PROP_LOOKAHEAD,
  PROP_MAX_GAIN,
  PROP_WINDOW,
};

#define CAPS                                                                                                 \
  "audio/x-raw, format = (string) F32LE, layout = (string) interleaved, rate = (int) [ 8000, 192000 ], "     \
  "channels = (int) [ 1, 8 ]"

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS));

namespace {

/* What the properties set; read and written under the object lock. */
struct Settings {
  eaudio::LoudnessOptions options;
};

/* What streaming builds; owned by the streaming thread, reset on flush and stop. */
struct State {
  std::unique_ptr<eaudio::LoudnessNormalizer> normalizer;
  GstAudioInfo info;
  bool have_info = false;
  GstClockTime origin = GST_CLOCK_TIME_NONE; /* time of output frame 0 */
  guint64 in_frames = 0, out_frames = 0;
  bool discont = true;
  std::vector<float> out;
};

} // namespace

struct _GstEmsyncLoudness {
  GstElement parent;
  GstPad *sinkpad, *srcpad;
  Settings *settings;
  State *state;
};

#define gst_emsync_loudness_parent_class parent_class
G_DEFINE_TYPE (GstEmsyncLoudness, gst_emsync_loudness, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (emsyncloudness, "emsyncloudness", GST_RANK_NONE, GST_TYPE_EMSYNC_LOUDNESS);

static GstClockTime
frames_to_time (const State &st, guint64 frames)
{
  return gst_util_uint64_scale_int (frames, GST_SECOND, GST_AUDIO_INFO_RATE (&st.info));
}

/* The element's delay with the current (or, before caps, the configured) settings. */
static GstClockTime
own_latency (GstEmsyncLoudness *self)
{
  State &st = *self->state;
  if (st.normalizer)
    return frames_to_time (st, st.normalizer->latency_frames ());
  GST_OBJECT_LOCK (self);
  const double lookahead = self->settings->options.lookahead_s;
  GST_OBJECT_UNLOCK (self);
  return (GstClockTime) (lookahead * GST_SECOND);
}

static void
reset_timeline (State &st)
{
  st.origin = GST_CLOCK_TIME_NONE;
  st.in_frames = st.out_frames = 0;
  st.discont = true;
  st.out.clear ();
}

/* Pushes what the normaliser has put out (st.out), timestamped from the output frame count. */
static GstFlowReturn
push_output (GstEmsyncLoudness *self)
{
  State &st = *self->state;
  const guint channels = GST_AUDIO_INFO_CHANNELS (&st.info);
  const gsize frames = st.out.size () / channels;
  if (frames == 0)
    return GST_FLOW_OK;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, st.out.size () * sizeof (float), NULL);
  gst_buffer_fill (buf, 0, st.out.data (), st.out.size () * sizeof (float));
  st.out.clear ();
  const GstClockTime origin = GST_CLOCK_TIME_IS_VALID (st.origin) ? st.origin : 0;
  GST_BUFFER_PTS (buf) = origin + frames_to_time (st, st.out_frames);
  GST_BUFFER_DURATION (buf) = origin + frames_to_time (st, st.out_frames + frames) - GST_BUFFER_PTS (buf);
  GST_BUFFER_OFFSET (buf) = st.out_frames;
  GST_BUFFER_OFFSET_END (buf) = st.out_frames + frames;
  st.out_frames += frames;
  if (st.discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    st.discont = false;
  }
  return gst_pad_push (self->srcpad, buf);
}

/* Pushes the frames still in the delay line; the next input starts a new timeline. */
static GstFlowReturn
drain (GstEmsyncLoudness *self)
{
  State &st = *self->state;
  if (!st.normalizer || st.in_frames == 0)
    return GST_FLOW_OK;
  st.normalizer->drain (st.out);
  GstFlowReturn ret = push_output (self);
  reset_timeline (st);
  return ret;
}

static void
create_normalizer (GstEmsyncLoudness *self, const GstAudioInfo &info)
{
  State &st = *self->state;
  GST_OBJECT_LOCK (self);
  const eaudio::LoudnessOptions options = self->settings->options;
  GST_OBJECT_UNLOCK (self);
  st.normalizer = std::make_unique<eaudio::LoudnessNormalizer> (
      GST_AUDIO_INFO_RATE (&info), GST_AUDIO_INFO_CHANNELS (&info), options);
  st.info = info;
  st.have_info = true;
  GST_INFO_OBJECT (self, "target %.1f LUFS, ceiling %.1f dBTP, latency %u frames", options.target_lufs,
      options.true_peak_dbtp, (guint) st.normalizer->latency_frames ());
}

static GstFlowReturn
gst_emsync_loudness_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstEmsyncLoudness *self = GST_EMSYNC_LOUDNESS (parent);
  State &st = *self->state;
  GstFlowReturn ret = GST_FLOW_OK;
  if (!st.normalizer) {
    gst_buffer_unref (buffer);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("audio before caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  try {
    const GstClockTime pts = GST_BUFFER_PTS (buffer);
    /* a jump in the input's time: finish the old stretch, start a new one there */
    if (st.in_frames > 0 && GST_BUFFER_IS_DISCONT (buffer) && GST_CLOCK_TIME_IS_VALID (pts)
        && GST_CLOCK_TIME_IS_VALID (st.origin)) {
      const GstClockTime expected = st.origin + frames_to_time (st, st.in_frames);
      if (GST_CLOCK_DIFF (expected, pts) > (GstClockTimeDiff) GST_MSECOND
          || GST_CLOCK_DIFF (pts, expected) > (GstClockTimeDiff) GST_MSECOND)
        ret = drain (self);
    }
    if (!GST_CLOCK_TIME_IS_VALID (st.origin))
      st.origin = pts;
    GstMapInfo map;
    if (ret == GST_FLOW_OK && gst_buffer_map (buffer, &map, GST_MAP_READ)) {
      const gsize frames = map.size / GST_AUDIO_INFO_BPF (&st.info);
      st.normalizer->process (reinterpret_cast<const float *> (map.data), frames, st.out);
      st.in_frames += frames;
      gst_buffer_unmap (buffer, &map);
      ret = push_output (self);
    }
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Loudness normalisation failed"), ("%s", e.what ()));
    ret = GST_FLOW_ERROR;
  }
  gst_buffer_unref (buffer);
  return ret;
}

static gboolean
gst_emsync_loudness_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstEmsyncLoudness *self = GST_EMSYNC_LOUDNESS (parent);
  State &st = *self->state;
  try {
    switch (GST_EVENT_TYPE (event)) {
      case GST_EVENT_CAPS: {
        GstCaps *caps;
        gst_event_parse_caps (event, &caps);
        GstAudioInfo info;
        if (!gst_audio_info_from_caps (&info, caps)) {
          gst_event_unref (event);
          return FALSE;
        }
        if (!st.have_info || !gst_audio_info_is_equal (&info, &st.info)) {
          drain (self);
          create_normalizer (self, info);
          /* the latency depends on the rate */
          gst_element_post_message (GST_ELEMENT (self), gst_message_new_latency (GST_OBJECT (self)));
        }
        return gst_pad_event_default (pad, parent, event);
      }
      case GST_EVENT_SEGMENT:
      case GST_EVENT_GAP:
      case GST_EVENT_EOS:
        /* what is delayed belongs before these */
        drain (self);
        return gst_pad_event_default (pad, parent, event);
      case GST_EVENT_FLUSH_STOP:
        if (st.normalizer)
          st.normalizer->reset ();
        reset_timeline (st);
        return gst_pad_event_default (pad, parent, event);
      default:
        return gst_pad_event_default (pad, parent, event);
    }
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Loudness normalisation failed"), ("%s", e.what ()));
  }
  gst_event_unref (event);
  return FALSE;
}

static gboolean
gst_emsync_loudness_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstEmsyncLoudness *self = GST_EMSYNC_LOUDNESS (parent);
  if (GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return gst_pad_query_default (pad, parent, query);
  if (!gst_pad_peer_query (self->sinkpad, query))
    return FALSE;
  gboolean live;
  GstClockTime min, max;
  gst_query_parse_latency (query, &live, &min, &max);
  const GstClockTime own = own_latency (self);
  GST_DEBUG_OBJECT (self, "upstream latency %" GST_TIME_FORMAT ", own %" GST_TIME_FORMAT, GST_TIME_ARGS (min),
      GST_TIME_ARGS (own));
  min += own;
  if (GST_CLOCK_TIME_IS_VALID (max))
    max += own;
  gst_query_set_latency (query, live, min, max);
  return TRUE;
}

static GstStateChangeReturn
gst_emsync_loudness_change_state (GstElement *element, GstStateChange transition)
{
  GstEmsyncLoudness *self = GST_EMSYNC_LOUDNESS (element);
  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    State &st = *self->state;
    st.normalizer.reset ();
    st.have_info = false;
    reset_timeline (st);
  }
  return ret;
}

static void
gst_emsync_loudness_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstEmsyncLoudness *self = GST_EMSYNC_LOUDNESS (object);
  GST_OBJECT_LOCK (self);
  eaudio::LoudnessOptions &o = self->settings->options;
  switch (prop_id) {
    case PROP_LOUDNESS:
      o.target_lufs = g_value_get_double (value);
      break;
    case PROP_TRUE_PEAK:
      o.true_peak_dbtp = g_value_get_double (value);
      break;
    case PROP_LOOKAHEAD:
      o.lookahead_s = (double) g_value_get_uint64 (value) / GST_SECOND;
      break;
    case PROP_MAX_GAIN:
      o.max_gain_db = g_value_get_double (value);
      break;
    case PROP_WINDOW:
      o.window_s = (double) g_value_get_uint64 (value) / GST_SECOND;
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_emsync_loudness_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstEmsyncLoudness *self = GST_EMSYNC_LOUDNESS (object);
  GST_OBJECT_LOCK (self);
  const eaudio::LoudnessOptions &o = self->settings->options;
  switch (prop_id) {
    case PROP_LOUDNESS:
      g_value_set_double (value, o.target_lufs);
      break;
    case PROP_TRUE_PEAK:
      g_value_set_double (value, o.true_peak_dbtp);
      break;
    case PROP_LOOKAHEAD:
      g_value_set_uint64 (value, (guint64) (o.lookahead_s * GST_SECOND + 0.5));
      break;
    case PROP_MAX_GAIN:
      g_value_set_double (value, o.max_gain_db);
      break;
    case PROP_WINDOW:
      g_value_set_uint64 (value, (guint64) (o.window_s * GST_SECOND + 0.5));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_emsync_loudness_finalize (GObject *object)
{
  GstEmsyncLoudness *self = GST_EMSYNC_LOUDNESS (object);
  delete self->state;
  delete self->settings;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_emsync_loudness_class_init (GstEmsyncLoudnessClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GST_DEBUG_CATEGORY_INIT (gst_emsync_loudness_debug, "emsyncloudness", 0, "emsync loudness normaliser");

  gobject_class->set_property = gst_emsync_loudness_set_property;
  gobject_class->get_property = gst_emsync_loudness_get_property;
  gobject_class->finalize = gst_emsync_loudness_finalize;

  const eaudio::LoudnessOptions defaults;
  const auto ready = (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property (gobject_class, PROP_LOUDNESS,
      g_param_spec_double ("loudness", "Loudness",
          "Target integrated loudness in LUFS (EBU R128): -14 for web video, -23 for broadcast",
          eaudio::LoudnessOptions::kMinTargetLufs, eaudio::LoudnessOptions::kMaxTargetLufs,
          defaults.target_lufs, ready));
  g_object_class_install_property (gobject_class, PROP_TRUE_PEAK,
      g_param_spec_double ("true-peak", "True peak", "Ceiling on the output's true peak, in dBTP",
          eaudio::LoudnessOptions::kMinTruePeakDbtp, eaudio::LoudnessOptions::kMaxTruePeakDbtp,
          defaults.true_peak_dbtp, ready));
  g_object_class_install_property (gobject_class, PROP_LOOKAHEAD,
      g_param_spec_uint64 ("lookahead", "Lookahead",
          "Lookahead of the true-peak limiter (ns); the element's latency is this plus 5 samples",
          GST_MSECOND / 2, (guint64) (eaudio::LoudnessOptions::kMaxLookaheadS * GST_SECOND),
          (guint64) (defaults.lookahead_s * GST_SECOND + 0.5), ready));

  g_object_class_install_property (gobject_class, PROP_MAX_GAIN,
      g_param_spec_double ("max-gain", "Maximum gain",
          "Raise a quiet input by at most this much (dB); 0: only bring loud input down (and limit it)", 0.0,
          eaudio::LoudnessOptions::kMaxGainDb, defaults.max_gain_db, ready));

  g_object_class_install_property (gobject_class, PROP_WINDOW,
      g_param_spec_uint64 ("window", "Window",
          "Loudness history the gain follows (ns): shorter holds the level steadier, longer keeps more of "
          "the "
          "music's dynamics",
          (guint64) (eaudio::LoudnessOptions::kMinWindowS * GST_SECOND),
          (guint64) (eaudio::LoudnessOptions::kMaxWindowS * GST_SECOND),
          (guint64) (defaults.window_s * GST_SECOND + 0.5), ready));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "emsync loudness normaliser", "Filter/Effect/Audio",
      "Normalises audio to a target loudness (EBU R128) under a true-peak ceiling, while it streams",
      "emsync developers");
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_emsync_loudness_change_state);
}

static void
gst_emsync_loudness_init (GstEmsyncLoudness *self)
{
  self->settings = new Settings ();
  self->state = new State ();
  gst_audio_info_init (&self->state->info);

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_emsync_loudness_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_emsync_loudness_sink_event));
  GST_PAD_SET_PROXY_CAPS (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_emsync_loudness_src_query));
  GST_PAD_SET_PROXY_CAPS (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}
