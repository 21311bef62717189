/* emsync — emsyncsynth: renders an audio/x-midi-event stream to raw audio with FluidSynth.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-emsyncsynth
 * @title: emsyncsynth
 * @see_also: fluiddec, midiparse
 *
 * Renders MIDI events to stereo audio with FluidSynth and a General MIDI SoundFont. The input is the
 * `audio/x-midi-event` stream of upstream's midiparse and of emsync's generator: one MIDI message per buffer,
 * PTS = event time, and 0xF9 "tick" buffers every 10 ms that only advance time.
 *
 * Output is interleaved stereo F32LE or S16LE at 22050-96000 Hz, as downstream asks (44100 Hz F32LE when it
 * does not mind); the synthesizer is created for the negotiated rate. Audio is produced in fixed blocks of
 * 10 ms (rate/100 frames, rounded up); events are applied at their exact sample, so a block may be completed
 * across several input buffers. Output timestamps come from a running sample count from the segment start
 * (no drift), which also means the element holds back at most one block: its latency is one block.
 *
 * GAP events render (silence or ringing voices) up to the end of the gap. On EOS the element renders the
 * release and reverb tail until no voice is active and the output is below -80 dBFS, at most `tail-duration`,
 * then forwards EOS; when the music's end is known (emsyncmidigen's emsync-music-end event), the output fades
 * out over the second before it and stops there instead. A flushing seek resets the synthesizer (all sound stops) and the next buffer is DISCONT.
 * Events without a timestamp are applied at once.
 *
 * When `soundfont` is not set, the first readable file of this list is used: `$EMSYNC_SOUNDFONT`,
 * /usr/share/sounds/sf2/TimGM6mb.sf2, /usr/share/sounds/sf2/FluidR3_GM.sf2, /usr/share/sounds/sf2/default-GM.sf2,
 * /usr/share/sounds/sf3/default-GM.sf3, /usr/share/sounds/sf3/MuseScore_General.sf3,
 * /usr/share/sounds/sf3/FluidR3Mono_GM.sf3, /usr/share/soundfonts/default.sf2,
 * /usr/share/soundfonts/FluidR3_GM.sf2. A missing or unreadable SoundFont fails the READY→PAUSED change with
 * an error that names the file.
 *
 * FluidSynth's own log goes to the `emsync-fluidsynth` debug category.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=song.mid ! midiparse ! emsyncsynth ! audioconvert ! autoaudiosink
 * ]| Plays a MIDI file with the default SoundFont.
 * |[
 * gst-launch-1.0 filesrc location=song.mid ! midiparse ! emsyncsynth soundfont=/usr/share/sounds/sf2/FluidR3_GM.sf2 \
 *     reverb=false ! audio/x-raw,rate=48000 ! audioconvert ! opusenc ! oggmux ! filesink location=song.ogg
 * ]| Renders at 48 kHz with another SoundFont and no reverb into an Ogg Opus file.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/fluid/gstemsyncsynth.h"

#include "gst/emsynccaps.h"
#include "gst/emsyncevents.h"
#include "lib/synth/synth.h"
#include "plugins/fluid/elements.h"

#include <gst/audio/audio.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>

GST_DEBUG_CATEGORY_STATIC (gst_emsync_synth_debug);
#define GST_CAT_DEFAULT gst_emsync_synth_debug
GST_DEBUG_CATEGORY_STATIC (emsync_fluidsynth_debug);

namespace esynth = emsync::synth;

enum {
  PROP_0,
  PROP_SOUNDFONT,
  PROP_GAIN,
  PROP_POLYPHONY,
  PROP_REVERB,
  PROP_CHORUS,
  PROP_TAIL_DURATION,
  /* fluiddec's names for the same settings, so that either element fits the same launch line */
  PROP_SYNTH_GAIN,
  PROP_SYNTH_POLYPHONY,
  PROP_SYNTH_REVERB,
  PROP_SYNTH_CHORUS,
};

#define DEFAULT_SOUNDFONT NULL
#define DEFAULT_GAIN 0.2
#define DEFAULT_POLYPHONY 256
#define DEFAULT_REVERB TRUE
#define DEFAULT_CHORUS TRUE
#define DEFAULT_TAIL_DURATION (3 * GST_SECOND)
#define MAX_TAIL_DURATION (60 * GST_SECOND)

/* Output block length: one MIDI tick period. */
#define BLOCK_DURATION (EMSYNC_MIDI_TICK_PERIOD_MS * GST_MSECOND)
/* The synth is created at this rate in READY→PAUSED (to report a bad SoundFont early) and recreated only if
 * downstream negotiates another rate. */
#define PREFERRED_RATE 44100
/* The EOS tail ends once no voice is active and the last block peaks below this (-80 dBFS). */
#define TAIL_SILENCE_PEAK 1e-4f

#define SRC_CAPS                                                                                             \
  "audio/x-raw, format = (string) { F32LE, S16LE }, layout = (string) interleaved, channels = (int) 2, "     \
  "rate = (int) [ 22050, 96000 ]"
#define PREFERRED_CAPS "audio/x-raw, format = (string) F32LE, rate = (int) 44100"

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (EMSYNC_MIDI_EVENT_CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SRC_CAPS));

/* What the properties set; read and written under the object lock. */
struct Settings {
  std::string soundfont; /* empty: discovery */
  esynth::Settings synth;
  GstClockTime tail_duration = DEFAULT_TAIL_DURATION;
};

/* What streaming builds; owned by the streaming thread, reset on flush and stop. */
struct State {
  std::unique_ptr<esynth::Synth> synth;
  std::string soundfont; /* the file actually loaded */

  bool negotiated = false;
  GstAudioInfo info;
  guint block_frames = 0;

  GstSegment segment;           /* input segment, TIME */
  GstClockTime origin = 0;      /* time of output sample 0 */
  guint64 samples = 0;          /* frames rendered since origin */
  GstBuffer *pending = nullptr; /* the block being filled */
  guint pending_frames = 0;
  bool discont = true;
  /* The music's end (emsync-music-end): the output fades out from fade_start and stops at fade_end. */
  GstClockTime fade_start = GST_CLOCK_TIME_NONE;
  GstClockTime fade_end = GST_CLOCK_TIME_NONE;
};

/* The fade-out before a known end of the music, and the shortest one (when the end is announced late). */
#define END_FADE_SECONDS 1.0
#define MIN_END_FADE_SECONDS 0.5

struct _GstEmsyncSynth {
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;

  Settings *settings;
  std::atomic<bool> *settings_changed;
  std::atomic<GstClockTime> *latency;
  State *state;
};

#define gst_emsync_synth_parent_class parent_class
G_DEFINE_TYPE (GstEmsyncSynth, gst_emsync_synth, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (emsyncsynth, "emsyncsynth", GST_RANK_NONE, GST_TYPE_EMSYNC_SYNTH);

static void
fluidsynth_log (esynth::LogLevel level, const char *message, void *)
{
  GstDebugLevel gst_level = GST_LEVEL_DEBUG;
  switch (level) {
    case esynth::LogLevel::Panic:
    case esynth::LogLevel::Error:
      gst_level = GST_LEVEL_ERROR;
      break;
    case esynth::LogLevel::Warning:
      gst_level = GST_LEVEL_WARNING;
      break;
    case esynth::LogLevel::Info:
      gst_level = GST_LEVEL_INFO;
      break;
    case esynth::LogLevel::Debug:
      gst_level = GST_LEVEL_DEBUG;
      break;
  }
  GST_CAT_LEVEL_LOG (emsync_fluidsynth_debug, gst_level, NULL, "%s", message);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Streaming helpers (streaming thread, or state changes while streaming is stopped)                           */

static void
drop_pending (State &st)
{
  gst_clear_buffer (&st.pending);
  st.pending_frames = 0;
}

/* Back to "nothing rendered yet": the next output starts at the segment start and is DISCONT. */
static void
reset_timeline (State &st)
{
  drop_pending (st);
  gst_segment_init (&st.segment, GST_FORMAT_TIME);
  st.origin = 0;
  st.samples = 0;
  st.discont = true;
  st.fade_start = GST_CLOCK_TIME_NONE;
  st.fade_end = GST_CLOCK_TIME_NONE;
}

static void
apply_changed_settings (GstEmsyncSynth *self)
{
  if (!self->settings_changed->exchange (false))
    return;
  GST_OBJECT_LOCK (self);
  esynth::Settings synth_settings = self->settings->synth;
  GST_OBJECT_UNLOCK (self);
  if (self->state->synth)
    self->state->synth->apply_settings (synth_settings);
}

static GstClockTime
sample_time (const State &st, guint64 sample)
{
  return st.origin + gst_util_uint64_scale_int (sample, GST_SECOND, GST_AUDIO_INFO_RATE (&st.info));
}

/* Pushes the pending block (possibly partial, at EOS or before a new segment). */
static GstFlowReturn
push_pending (GstEmsyncSynth *self)
{
  State &st = *self->state;
  if (!st.pending)
    return GST_FLOW_OK;

  GstBuffer *buf = st.pending;
  st.pending = nullptr;
  const guint frames = st.pending_frames;
  st.pending_frames = 0;
  if (frames == 0) {
    gst_buffer_unref (buf);
    return GST_FLOW_OK;
  }
  if (frames < st.block_frames)
    gst_buffer_resize (buf, 0, (gsize) frames * GST_AUDIO_INFO_BPF (&st.info));

  const guint64 start = st.samples - frames;
  GST_BUFFER_PTS (buf) = sample_time (st, start);
  GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buf) = sample_time (st, st.samples) - GST_BUFFER_PTS (buf);
  GST_BUFFER_OFFSET (buf) = start;
  GST_BUFFER_OFFSET_END (buf) = st.samples;
  if (st.discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_RESYNC);
    st.discont = false;
  }
  GST_LOG_OBJECT (
      self, "pushing %u frames at %" GST_TIME_FORMAT, frames, GST_TIME_ARGS (GST_BUFFER_PTS (buf)));
  return gst_pad_push (self->srcpad, buf);
}

/* Renders up to `frames` frames into the pending block (starting one if needed); pushes it once full. Returns the
 * peak absolute sample value of what was rendered through `peak` when non-null. */
static GstFlowReturn
render_into_block (GstEmsyncSynth *self, guint64 frames, guint *rendered, float *peak)
{
  State &st = *self->state;
  if (!st.pending) {
    st.pending =
        gst_buffer_new_allocate (NULL, (gsize) st.block_frames * GST_AUDIO_INFO_BPF (&st.info), NULL);
    st.pending_frames = 0;
  }
  const guint n = (guint) std::min<guint64> (frames, st.block_frames - st.pending_frames);
  GstMapInfo map;
  if (!gst_buffer_map (st.pending, &map, GST_MAP_WRITE))
    return GST_FLOW_ERROR;
  float max_abs = 0.0f;
  if (GST_AUDIO_INFO_FORMAT (&st.info) == GST_AUDIO_FORMAT_S16LE) {
    auto *out = reinterpret_cast<gint16 *> (map.data) + (gsize) st.pending_frames * 2;
    st.synth->render_s16 (out, n);
    if (peak)
      for (guint i = 0; i < n * 2; i++)
        max_abs = std::max (max_abs, std::fabs (out[i] / 32768.0f));
  } else {
    auto *out = reinterpret_cast<float *> (map.data) + (gsize) st.pending_frames * 2;
    st.synth->render_f32 (out, n);
    if (peak)
      for (guint i = 0; i < n * 2; i++)
        max_abs = std::max (max_abs, std::fabs (out[i]));
  }
  if (GST_CLOCK_TIME_IS_VALID (st.fade_end)) {
    /* raised-cosine fade from fade_start to silence at fade_end */
    const double rate = GST_AUDIO_INFO_RATE (&st.info);
    const double t0 = (double) st.fade_start / GST_SECOND, t1 = (double) st.fade_end / GST_SECOND;
    const double first = (double) sample_time (st, st.samples) / GST_SECOND;
    for (guint i = 0; i < n; i++) {
      const double t = first + i / rate;
      if (t < t0)
        continue;
      const float g = t >= t1 ? 0.0f : (float) (0.5 * (1.0 + std::cos (M_PI * (t - t0) / (t1 - t0))));
      for (int c = 0; c < 2; c++) {
        const gsize k = ((gsize) st.pending_frames + i) * 2 + c;
        if (GST_AUDIO_INFO_FORMAT (&st.info) == GST_AUDIO_FORMAT_S16LE)
          reinterpret_cast<gint16 *> (map.data)[k] =
              (gint16) std::lround (reinterpret_cast<gint16 *> (map.data)[k] * g);
        else
          reinterpret_cast<float *> (map.data)[k] *= g;
      }
    }
  }
  gst_buffer_unmap (st.pending, &map);
  st.pending_frames += n;
  st.samples += n;
  *rendered = n;
  if (peak)
    *peak = max_abs;
  if (st.pending_frames == st.block_frames)
    return push_pending (self);
  return GST_FLOW_OK;
}

/* Renders the synthesizer's output up to `time` (in the input segment's time). */
static GstFlowReturn
render_until (GstEmsyncSynth *self, GstClockTime time)
{
  State &st = *self->state;
  if (GST_CLOCK_TIME_IS_VALID (st.fade_end) && GST_CLOCK_TIME_IS_VALID (time))
    time = std::min (time, st.fade_end); /* nothing after the music's end */
  if (!GST_CLOCK_TIME_IS_VALID (time) || time <= st.origin)
    return GST_FLOW_OK;
  const guint64 target =
      gst_util_uint64_scale_int (time - st.origin, GST_AUDIO_INFO_RATE (&st.info), GST_SECOND);
  while (st.samples < target) {
    guint rendered = 0;
    GstFlowReturn ret = render_into_block (self, target - st.samples, &rendered, nullptr);
    if (ret != GST_FLOW_OK)
      return ret;
  }
  return GST_FLOW_OK;
}

/* EOS: renders until every voice has ended and the reverb has died away, at most tail-duration. */
static GstFlowReturn
render_tail (GstEmsyncSynth *self)
{
  State &st = *self->state;
  if (GST_CLOCK_TIME_IS_VALID (st.fade_end)) {
    /* a known end: the audio ends there, faded out */
    GstFlowReturn ret = render_until (self, st.fade_end);
    if (ret != GST_FLOW_OK)
      return ret;
    GST_DEBUG_OBJECT (self, "music ends at %" GST_TIME_FORMAT, GST_TIME_ARGS (sample_time (st, st.samples)));
    return push_pending (self);
  }
  GST_OBJECT_LOCK (self);
  const GstClockTime tail = self->settings->tail_duration;
  GST_OBJECT_UNLOCK (self);
  const guint64 limit =
      st.samples + gst_util_uint64_scale_int (tail, GST_AUDIO_INFO_RATE (&st.info), GST_SECOND);
  bool quiet = false;
  GstFlowReturn ret = GST_FLOW_OK;
  while (st.samples < limit && !(quiet && st.synth->active_voice_count () == 0)) {
    /* complete the current block (or a whole new one) and judge it as one */
    float block_peak = 0.0f;
    guint64 want = std::min<guint64> (limit - st.samples, st.block_frames - st.pending_frames);
    while (want > 0) {
      guint rendered = 0;
      float peak = 0.0f;
      ret = render_into_block (self, want, &rendered, &peak);
      if (ret != GST_FLOW_OK)
        return ret;
      block_peak = std::max (block_peak, peak);
      want -= rendered;
    }
    quiet = block_peak < TAIL_SILENCE_PEAK;
  }
  GST_DEBUG_OBJECT (self, "tail ends at %" GST_TIME_FORMAT " with %d active voices",
      GST_TIME_ARGS (sample_time (st, st.samples)), st.synth->active_voice_count ());
  return push_pending (self);
}

/* Creates the synthesizer at `rate` with the configured SoundFont (or keeps the one already at that rate). */
static void
ensure_synth (GstEmsyncSynth *self, int rate)
{
  State &st = *self->state;
  if (st.synth && st.synth->sample_rate () == rate)
    return;
  GST_OBJECT_LOCK (self);
  Settings settings = *self->settings;
  GST_OBJECT_UNLOCK (self);
  self->settings_changed->store (false);

  std::string path = settings.soundfont.empty () ? st.soundfont : settings.soundfont;
  if (path.empty ())
    path = esynth::find_default_soundfont ();
  if (path.empty ()) {
    std::string searched;
    for (const auto &candidate : esynth::default_soundfont_candidates ())
      searched += (searched.empty () ? "" : ", ") + candidate;
    throw esynth::SoundFontError (esynth::SoundFontError::Kind::NotFound, "",
        "No SoundFont found: install timgm6mb-soundfont (or fluid-soundfont-gm) or set the 'soundfont' "
        "property "
        "(searched "
            + searched + ")");
  }
  GST_DEBUG_OBJECT (self, "creating synthesizer at %d Hz with SoundFont %s", rate, path.c_str ());
  auto synth = std::make_unique<esynth::Synth> (rate, settings.synth);
  synth->load_soundfont (path);
  st.synth = std::move (synth);
  st.soundfont = path;
}

static void
post_soundfont_error (GstEmsyncSynth *self, const esynth::SoundFontError &e)
{
  if (e.kind () == esynth::SoundFontError::Kind::NotFound)
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("%s", e.what ()),
        ("SoundFont file: '%s'",
            e.path ().empty () ? "(none in the default locations)" : e.path ().c_str ()));
  else
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("%s", e.what ()),
        ("SoundFont file: '%s'; use a .sf2/.sf3 General MIDI SoundFont such as "
         "/usr/share/sounds/sf2/TimGM6mb.sf2",
            e.path ().c_str ()));
}

/* Picks output caps with downstream (44100 Hz F32LE when it accepts that) and readies the synthesizer. */
static gboolean
negotiate (GstEmsyncSynth *self)
{
  State &st = *self->state;
  GstCaps *templ = gst_pad_get_pad_template_caps (self->srcpad);
  GstCaps *peer = gst_pad_peer_query_caps (self->srcpad, templ);
  gst_caps_unref (templ);
  if (gst_caps_is_empty (peer)) {
    gst_caps_unref (peer);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("downstream accepts none of %s", SRC_CAPS));
    return FALSE;
  }
  GstCaps *preferred = gst_caps_from_string (PREFERRED_CAPS);
  GstCaps *caps = gst_caps_intersect (peer, preferred);
  gst_caps_unref (preferred);
  if (gst_caps_is_empty (caps)) {
    gst_caps_unref (caps);
    caps = gst_caps_ref (peer);
  }
  gst_caps_unref (peer);
  caps = gst_caps_truncate (caps);
  caps = gst_caps_make_writable (caps);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  gst_structure_fixate_field_nearest_int (s, "rate", PREFERRED_RATE);
  gst_structure_fixate_field_string (s, "format", "F32LE");
  caps = gst_caps_fixate (caps);

  GstAudioInfo info;
  if (!gst_audio_info_from_caps (&info, caps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("cannot use caps %" GST_PTR_FORMAT, caps));
    gst_caps_unref (caps);
    return FALSE;
  }

  const bool rate_changes = st.negotiated && GST_AUDIO_INFO_RATE (&info) != GST_AUDIO_INFO_RATE (&st.info);
  const bool format_changes =
      st.negotiated && GST_AUDIO_INFO_FORMAT (&info) != GST_AUDIO_INFO_FORMAT (&st.info);
  if (rate_changes || format_changes) {
    /* finish the block in the old format, then continue the timeline at the same time with the new rate */
    push_pending (self);
    st.origin = sample_time (st, st.samples);
    st.samples = 0;
  }

  try {
    ensure_synth (self, GST_AUDIO_INFO_RATE (&info));
  } catch (const esynth::SoundFontError &e) {
    post_soundfont_error (self, e);
    gst_caps_unref (caps);
    return FALSE;
  }

  GST_DEBUG_OBJECT (self, "output caps %" GST_PTR_FORMAT, caps);
  gboolean ok = gst_pad_set_caps (self->srcpad, caps);
  gst_caps_unref (caps);
  if (!ok)
    return FALSE;
  st.info = info;
  st.negotiated = true;
  st.block_frames =
      (guint) gst_util_uint64_scale_int_ceil (BLOCK_DURATION, GST_AUDIO_INFO_RATE (&info), GST_SECOND);
  self->latency->store (
      gst_util_uint64_scale_int_ceil (st.block_frames, GST_SECOND, GST_AUDIO_INFO_RATE (&info)));
  return TRUE;
}

static gboolean
ensure_negotiated (GstEmsyncSynth *self)
{
  if (self->state->negotiated && !gst_pad_check_reconfigure (self->srcpad))
    return TRUE;
  if (!negotiate (self)) {
    gst_pad_mark_reconfigure (self->srcpad);
    return FALSE;
  }
  return TRUE;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Pad functions                                                                                              */

static GstFlowReturn
gst_emsync_synth_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstEmsyncSynth *self = GST_EMSYNC_SYNTH (parent);
  State &st = *self->state;
  GstFlowReturn ret = GST_FLOW_OK;
  try {
    if (!ensure_negotiated (self)) {
      gst_buffer_unref (buffer);
      return GST_FLOW_NOT_NEGOTIATED;
    }
    apply_changed_settings (self);

    if (GST_BUFFER_IS_DISCONT (buffer) && st.samples > 0)
      st.discont = true;

    const GstClockTime pts = GST_BUFFER_PTS (buffer);
    if (GST_CLOCK_TIME_IS_VALID (pts))
      ret = render_until (self, pts);

    GstMapInfo map;
    if (gst_buffer_map (buffer, &map, GST_MAP_READ)) {
      if (map.size > 0 && map.data[0] == EMSYNC_MIDI_TICK)
        GST_TRACE_OBJECT (self, "tick at %" GST_TIME_FORMAT, GST_TIME_ARGS (pts));
      else if (!st.synth->apply_midi (map.data, map.size) && map.size > 0)
        GST_LOG_OBJECT (
            self, "ignored MIDI message 0x%02x (%" G_GSIZE_FORMAT " bytes)", map.data[0], map.size);
      else
        GST_LOG_OBJECT (
            self, "MIDI 0x%02x at %" GST_TIME_FORMAT, map.size ? map.data[0] : 0, GST_TIME_ARGS (pts));
      gst_buffer_unmap (buffer, &map);
    }
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("MIDI synthesis failed"), ("%s", e.what ()));
    ret = GST_FLOW_ERROR;
  } catch (...) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("MIDI synthesis failed"), ("unknown exception"));
    ret = GST_FLOW_ERROR;
  }
  gst_buffer_unref (buffer);
  return ret;
}

static gboolean
handle_segment (GstEmsyncSynth *self, GstEvent *event)
{
  State &st = *self->state;
  GstSegment segment;
  gst_event_copy_segment (event, &segment);
  if (segment.format != GST_FORMAT_TIME) {
    /* time is carried by buffer PTS only; describe the audio with an open TIME segment */
    GST_DEBUG_OBJECT (self, "replacing %s segment with a TIME segment", gst_format_get_name (segment.format));
    gst_segment_init (&segment, GST_FORMAT_TIME);
  }
  GST_DEBUG_OBJECT (self, "segment %" GST_SEGMENT_FORMAT, &segment);
  if (st.negotiated)
    push_pending (self); /* belongs to the previous segment */
  if (st.samples > 0)
    st.discont = true; /* the timeline restarts at the new segment's start */
  st.segment = segment;
  st.origin = segment.start;
  st.samples = 0;

  GstEvent *out = gst_event_new_segment (&segment);
  gst_event_set_seqnum (out, gst_event_get_seqnum (event));
  gst_event_unref (event);
  return gst_pad_push_event (self->srcpad, out);
}

static gboolean
gst_emsync_synth_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstEmsyncSynth *self = GST_EMSYNC_SYNTH (parent);
  State &st = *self->state;
  GST_DEBUG_OBJECT (pad, "%" GST_PTR_FORMAT, event);
  try {
    switch (GST_EVENT_TYPE (event)) {
      case GST_EVENT_CAPS:
        /* the input caps say nothing about the output: negotiate with downstream */
        gst_event_unref (event);
        return negotiate (self);
      case GST_EVENT_SEGMENT:
        return handle_segment (self, event);
      case GST_EVENT_GAP: {
        GstClockTime timestamp, duration;
        gst_event_parse_gap (event, &timestamp, &duration);
        if (!ensure_negotiated (self))
          return gst_pad_event_default (pad, parent, event);
        apply_changed_settings (self);
        GstClockTime end = timestamp;
        if (GST_CLOCK_TIME_IS_VALID (timestamp) && GST_CLOCK_TIME_IS_VALID (duration))
          end = timestamp + duration;
        GST_DEBUG_OBJECT (self, "gap: rendering up to %" GST_TIME_FORMAT, GST_TIME_ARGS (end));
        gst_event_unref (event);
        /* the rendered audio covers the gap: nothing to forward */
        return render_until (self, end) == GST_FLOW_OK;
      }
      case GST_EVENT_EOS:
        if (st.negotiated && st.synth) {
          apply_changed_settings (self);
          GstFlowReturn ret = render_tail (self);
          if (ret != GST_FLOW_OK)
            GST_DEBUG_OBJECT (self, "tail push returned %s", gst_flow_get_name (ret));
        }
        return gst_pad_event_default (pad, parent, event);
      case GST_EVENT_CUSTOM_DOWNSTREAM: {
        GstClockTime end;
        if (!emsync_music_end_event_parse (event, &end))
          return gst_pad_event_default (pad, parent, event);
        gst_event_unref (event);
        /* fade over the last second before the end; announced later than that (little lookahead), a short
         * fade from what is rendered now */
        const GstClockTime now = st.negotiated ? sample_time (st, st.samples) : 0;
        GstClockTime start = end > (GstClockTime) (END_FADE_SECONDS * GST_SECOND)
            ? end - (GstClockTime) (END_FADE_SECONDS * GST_SECOND)
            : 0;
        start = std::max (start, now);
        if (end < start + (GstClockTime) (MIN_END_FADE_SECONDS * GST_SECOND))
          end = start + (GstClockTime) (MIN_END_FADE_SECONDS * GST_SECOND);
        st.fade_start = start;
        st.fade_end = end;
        GST_DEBUG_OBJECT (self, "music ends at %" GST_TIME_FORMAT ", fading from %" GST_TIME_FORMAT,
            GST_TIME_ARGS (end), GST_TIME_ARGS (start));
        return TRUE;
      }
      case GST_EVENT_FLUSH_STOP:
        if (st.synth)
          st.synth->reset ();
        reset_timeline (st);
        return gst_pad_event_default (pad, parent, event);
      default:
        return gst_pad_event_default (pad, parent, event);
    }
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("MIDI synthesis failed"), ("%s", e.what ()));
  } catch (...) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("MIDI synthesis failed"), ("unknown exception"));
  }
  gst_event_unref (event);
  return FALSE;
}

static gboolean
gst_emsync_synth_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstEmsyncSynth *self = GST_EMSYNC_SYNTH (parent);
  if (GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return gst_pad_query_default (pad, parent, query);

  if (!gst_pad_peer_query (self->sinkpad, query))
    return FALSE;
  gboolean live;
  GstClockTime min, max;
  gst_query_parse_latency (query, &live, &min, &max);
  const GstClockTime own = self->latency->load ();
  GST_DEBUG_OBJECT (self,
      "upstream latency min %" GST_TIME_FORMAT " max %" GST_TIME_FORMAT ", own %" GST_TIME_FORMAT,
      GST_TIME_ARGS (min), GST_TIME_ARGS (max), GST_TIME_ARGS (own));
  min += own;
  if (GST_CLOCK_TIME_IS_VALID (max))
    max += own;
  gst_query_set_latency (query, live, min, max);
  return TRUE;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* GObject / GstElement                                                                                       */

static GstStateChangeReturn
gst_emsync_synth_change_state (GstElement *element, GstStateChange transition)
{
  GstEmsyncSynth *self = GST_EMSYNC_SYNTH (element);
  State &st = *self->state;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    reset_timeline (st);
    st.negotiated = false;
    st.soundfont.clear ();
    st.synth.reset ();
    try {
      /* load now so that a bad SoundFont fails the state change; recreated later only for another rate */
      ensure_synth (self, PREFERRED_RATE);
    } catch (const esynth::SoundFontError &e) {
      post_soundfont_error (self, e);
      return GST_STATE_CHANGE_FAILURE;
    } catch (const std::exception &e) {
      GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Cannot start FluidSynth"), ("%s", e.what ()));
      return GST_STATE_CHANGE_FAILURE;
    } catch (...) {
      GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Cannot start FluidSynth"), ("unknown exception"));
      return GST_STATE_CHANGE_FAILURE;
    }
  }

  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    reset_timeline (st);
    st.negotiated = false;
    st.synth.reset ();
    self->latency->store (BLOCK_DURATION);
  }
  return ret;
}

static void
gst_emsync_synth_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstEmsyncSynth *self = GST_EMSYNC_SYNTH (object);
  GST_OBJECT_LOCK (self);
  Settings &s = *self->settings;
  switch (prop_id) {
    case PROP_SOUNDFONT: {
      const gchar *path = g_value_get_string (value);
      s.soundfont = path ? path : "";
      break;
    }
    case PROP_GAIN:
    case PROP_SYNTH_GAIN:
      s.synth.gain = g_value_get_double (value);
      break;
    case PROP_POLYPHONY:
    case PROP_SYNTH_POLYPHONY:
      s.synth.polyphony = g_value_get_int (value);
      break;
    case PROP_REVERB:
    case PROP_SYNTH_REVERB:
      s.synth.reverb = g_value_get_boolean (value);
      break;
    case PROP_CHORUS:
    case PROP_SYNTH_CHORUS:
      s.synth.chorus = g_value_get_boolean (value);
      break;
    case PROP_TAIL_DURATION:
      s.tail_duration = g_value_get_uint64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  self->settings_changed->store (true);
}

static void
gst_emsync_synth_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstEmsyncSynth *self = GST_EMSYNC_SYNTH (object);
  GST_OBJECT_LOCK (self);
  const Settings &s = *self->settings;
  switch (prop_id) {
    case PROP_SOUNDFONT:
      g_value_set_string (value, s.soundfont.empty () ? NULL : s.soundfont.c_str ());
      break;
    case PROP_GAIN:
    case PROP_SYNTH_GAIN:
      g_value_set_double (value, s.synth.gain);
      break;
    case PROP_POLYPHONY:
    case PROP_SYNTH_POLYPHONY:
      g_value_set_int (value, s.synth.polyphony);
      break;
    case PROP_REVERB:
    case PROP_SYNTH_REVERB:
      g_value_set_boolean (value, s.synth.reverb);
      break;
    case PROP_CHORUS:
    case PROP_SYNTH_CHORUS:
      g_value_set_boolean (value, s.synth.chorus);
      break;
    case PROP_TAIL_DURATION:
      g_value_set_uint64 (value, s.tail_duration);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_emsync_synth_finalize (GObject *object)
{
  GstEmsyncSynth *self = GST_EMSYNC_SYNTH (object);
  drop_pending (*self->state);
  delete self->state;
  delete self->settings;
  delete self->settings_changed;
  delete self->latency;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_emsync_synth_class_init (GstEmsyncSynthClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_emsync_synth_debug, "emsyncsynth", 0, "emsync FluidSynth MIDI renderer");
  GST_DEBUG_CATEGORY_INIT (emsync_fluidsynth_debug, "emsync-fluidsynth", 0, "FluidSynth's own log");
  esynth::set_log_handler (fluidsynth_log, nullptr);

  gobject_class->set_property = gst_emsync_synth_set_property;
  gobject_class->get_property = gst_emsync_synth_get_property;
  gobject_class->finalize = gst_emsync_synth_finalize;

  const auto flags = (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto playing = (GParamFlags) (flags | GST_PARAM_MUTABLE_PLAYING);

  g_object_class_install_property (gobject_class, PROP_SOUNDFONT,
      g_param_spec_string ("soundfont", "SoundFont",
          "Path of the .sf2/.sf3 SoundFont to play with; unset: the first General MIDI SoundFont found in "
          "the "
          "standard locations ($EMSYNC_SOUNDFONT, /usr/share/sounds/sf2/TimGM6mb.sf2, FluidR3_GM.sf2, "
          "default-GM.sf2, /usr/share/sounds/sf3/default-GM.sf3, MuseScore_General.sf3, ...)",
          DEFAULT_SOUNDFONT, (GParamFlags) (flags | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (gobject_class, PROP_GAIN,
      g_param_spec_double ("gain", "Gain", "Master gain of the synthesizer (FluidSynth's synth.gain)", 0.0,
          10.0, DEFAULT_GAIN, playing));
  g_object_class_install_property (gobject_class, PROP_POLYPHONY,
      g_param_spec_int ("polyphony", "Polyphony", "Maximum number of voices sounding at once", 1, 65535,
          DEFAULT_POLYPHONY, playing));
  g_object_class_install_property (gobject_class, PROP_REVERB,
      g_param_spec_boolean ("reverb", "Reverb", "Apply the SoundFont's reverb", DEFAULT_REVERB, playing));
  g_object_class_install_property (gobject_class, PROP_CHORUS,
      g_param_spec_boolean ("chorus", "Chorus", "Apply the SoundFont's chorus", DEFAULT_CHORUS, playing));
  g_object_class_install_property (gobject_class, PROP_TAIL_DURATION,
      g_param_spec_uint64 ("tail-duration", "Tail duration",
          "At end of stream, keep rendering released notes and reverb until silent, for at most this long "
          "(ns)",
          0, MAX_TAIL_DURATION, DEFAULT_TAIL_DURATION, playing));
  /* fluiddec's property names (gst-plugins-bad ext/fluidsynth), with its ranges and defaults, for the settings
   * above: `fluiddec synth-gain=0.5` and `emsyncsynth synth-gain=0.5` are interchangeable. */
  g_object_class_install_property (gobject_class, PROP_SYNTH_GAIN,
      g_param_spec_double ("synth-gain", "Synth gain", "The same setting as gain, under fluiddec's name", 0.0,
          10.0, DEFAULT_GAIN, playing));
  g_object_class_install_property (gobject_class, PROP_SYNTH_POLYPHONY,
      g_param_spec_int ("synth-polyphony", "Synth polyphony",
          "The same setting as polyphony, under fluiddec's name", 1, 65535, DEFAULT_POLYPHONY, playing));
  g_object_class_install_property (gobject_class, PROP_SYNTH_REVERB,
      g_param_spec_boolean ("synth-reverb", "Synth reverb",
          "The same setting as reverb, under fluiddec's name", DEFAULT_REVERB, playing));
  g_object_class_install_property (gobject_class, PROP_SYNTH_CHORUS,
      g_param_spec_boolean ("synth-chorus", "Synth chorus",
          "The same setting as chorus, under fluiddec's name", DEFAULT_CHORUS, playing));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "emsync MIDI synthesizer", "Codec/Decoder/Audio",
      "Renders MIDI events to audio with FluidSynth and a General MIDI SoundFont", "emsync developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_emsync_synth_change_state);
}

static void
gst_emsync_synth_init (GstEmsyncSynth *self)
{
  self->settings = new Settings ();
  self->settings_changed = new std::atomic<bool> (false);
  self->latency = new std::atomic<GstClockTime> (BLOCK_DURATION);
  self->state = new State ();
  gst_segment_init (&self->state->segment, GST_FORMAT_TIME);
  gst_audio_info_init (&self->state->info);

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_emsync_synth_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_emsync_synth_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_emsync_synth_src_query));
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}
