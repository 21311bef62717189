/* emsync — emsyncmidienc: writes an audio/x-midi-event stream into a Standard MIDI File.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-emsyncmidienc
 * @title: emsyncmidienc
 * @see_also: midiparse, emsyncsynth, fluiddec
 *
 * Collects the `audio/x-midi-event` stream of emsync's generator, of upstream's midiparse or of alsamidisrc
 * (one MIDI message per buffer, PTS = event time) and writes it as one Standard MIDI File (`audio/midi`) at
 * end of stream, in a single buffer, so `... ! emsyncmidienc ! filesink location=out.mid` works.
 *
 * Messages are written as received: channels, programs, velocities, controllers, pitch bends and sysex are
 * kept. 0xF9 "tick" buffers and the other system real-time/common messages are dropped. A buffer may hold
 * several messages (running status inside one buffer is understood).
 *
 * Times: the file starts at the running time of the first segment's start; each message is placed at the
 * running time of its PTS (a buffer without PTS takes the time of the previous one). Output is a format 1
 * file: a tempo track, then one track per MIDI channel used ("Channel 1" ... "Channel 16"), and a "System"
 * track first when sysex messages were received. The tempo track follows the bars of emsyncmidigen's beat grid
 * (its "emsync-tempo" events): a tempo and a time signature per bar where they change, so the file opens in a
 * sequencer on the music's bars and beats. A stream without them (midiparse, free timing) is written at 125 bpm,
 * where with the default 480 ticks per quarter note one tick is exactly 1 ms; `ppq` changes the resolution.
 *
 * A flush (flushing seek) discards everything collected so far; the next segment starts a new file.
 * Nothing goes downstream before end of stream, so the element belongs right before a sink that does not
 * sync to the clock (filesink, appsink); in a live pipeline send EOS to finish the file.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=in.mid ! midiparse ! emsyncmidienc ! filesink location=out.mid
 * ]| Re-writes a MIDI file through the event stream (as a test of both ends).
 * |[
 * gst-launch-1.0 filesrc location=clip.mp4 ! decodebin ! videoconvert ! emsyncscenecut ! emsyncemotion \
 *     ! emsyncmidigen ! emsyncmidienc ! filesink location=soundtrack.mid
 * ]| Saves the generated soundtrack of a video as a MIDI file.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/core/gstemsyncmidienc.h"

#include "gst/emsynccaps.h"
#include "gst/emsyncevents.h"
#include "lib/midi/smf.h"
#include "plugins/core/elements.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_emsync_midi_enc_debug);
#define GST_CAT_DEFAULT gst_emsync_midi_enc_debug

namespace emidi = emsync::midi;

enum {
  PROP_0,
  PROP_PPQ,
};

#define DEFAULT_PPQ emidi::kDefaultTicksPerQuarter
#define MIN_PPQ 24
#define MAX_PPQ 32767

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (EMSYNC_MIDI_EVENT_CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (EMSYNC_SMF_CAPS));

/* Internal linkage: the elements of one plugin library each have a Settings and a State, and the linker would
 * otherwise keep one of their inline constructors for both (an ODR violation AddressSanitizer showed). */
namespace {

/* What the properties set; read and written under the object lock. */
struct Settings {
  int ppq = DEFAULT_PPQ;
};

/* What streaming builds; owned by the streaming thread, reset on flush and stop. */
struct State {
  GstSegment segment;
  bool have_segment = false;
  bool have_origin = false;
  GstClockTime origin = 0; /* running time of the first segment's start: file time 0 */
  double last_time = 0.0;  /* file time (s) of the previous message */
  std::array<std::vector<emidi::TimedMessage>, 16> channel_messages;
  std::vector<emidi::TimedMessage> system_messages; /* sysex */
  std::vector<emidi::MeterBar> meter;               /* bars of the beat grid, by file time */
  guint64 message_count = 0;
  bool stream_started = false; /* a stream-start went downstream (survives flushes, like the sticky event) */
  bool caps_sent = false;
  bool prerolled = false; /* a GAP went downstream so sinks preroll before the file exists */
  bool finished = false;  /* EOS handled: the file was pushed */
};

} // namespace

struct _GstEmsyncMidiEnc {
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;

  Settings *settings;
  State *state;
};

#define gst_emsync_midi_enc_parent_class parent_class
G_DEFINE_TYPE (GstEmsyncMidiEnc, gst_emsync_midi_enc, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (emsyncmidienc, "emsyncmidienc", GST_RANK_NONE, GST_TYPE_EMSYNC_MIDIENC);

/* ---------------------------------------------------------------------------------------------------------- */
/* Streaming helpers                                                                                          */

static void
reset_state (State &st)
{
  gst_segment_init (&st.segment, GST_FORMAT_TIME);
  st.have_segment = false;
  st.have_origin = false;
  st.origin = 0;
  st.last_time = 0.0;
  for (auto &messages : st.channel_messages)
    messages.clear ();
  st.system_messages.clear ();
  st.meter.clear ();
  st.message_count = 0;
  st.finished = false;
  st.prerolled = false;
}

/* File time (s) of a buffer: running time of its PTS relative to the first segment's start. */
static double
file_time (GstEmsyncMidiEnc *self, GstClockTime pts)
{
  State &st = *self->state;
  if (!GST_CLOCK_TIME_IS_VALID (pts) || st.segment.format != GST_FORMAT_TIME)
    return st.last_time;
  GstClockTime running = gst_segment_to_running_time (&st.segment, GST_FORMAT_TIME, pts);
  if (!GST_CLOCK_TIME_IS_VALID (running)) {
    GST_LOG_OBJECT (
        self, "PTS %" GST_TIME_FORMAT " outside the segment: using the previous time", GST_TIME_ARGS (pts));
    return st.last_time;
  }
  if (!st.have_origin) {
    /* no segment seen (a harness may push buffers right away): the first message starts the file */
    st.origin = running;
    st.have_origin = true;
  }
  if (running <= st.origin)
    return 0.0;
  return (double) (running - st.origin) / GST_SECOND;
}

static void
store_message (State &st, double time, const guint8 *bytes, gsize size)
{
  emidi::TimedMessage message;
  message.time_seconds = time;
  message.bytes.assign (bytes, bytes + size);
  if (bytes[0] == 0xF0)
    st.system_messages.push_back (std::move (message));
  else
    st.channel_messages[bytes[0] & 0x0F].push_back (std::move (message));
  st.message_count++;
}

/* Splits a buffer into MIDI messages and stores the channel messages and sysex. */
static void
collect_messages (GstEmsyncMidiEnc *self, double time, const guint8 *data, gsize size)
{
  State &st = *self->state;
  gsize pos = 0;
  guint8 running_status = 0;
  while (pos < size) {
    guint8 status = data[pos];
    if (status >= 0xF8) {
      /* real time (0xF9 tick, clock, active sensing, ...): no place in a file */
      pos++;
      continue;
    }
    if (status == 0xF0) {
      gsize end = pos + 1;
      while (end < size && data[end] != 0xF7 && !(data[end] & 0x80))
        end++;
      if (end < size && data[end] == 0xF7) {
        store_message (st, time, data + pos, end - pos + 1);
      } else {
        GST_WARNING_OBJECT (
            self, "dropping an unterminated sysex message of %" G_GSIZE_FORMAT " bytes", end - pos);
        if (end < size && data[end] != 0xF7)
          end--; /* resume at the status byte that interrupted it */
      }
      pos = end + 1;
      continue;
    }
    if (status >= 0xF1) {
      /* system common (MTC quarter frame, song position, song select, tune request, stray EOX): skip */
      static const int data_bytes[] = { 0, 1, 2, 1, 0, 0, 0, 0 };
      pos += 1 + data_bytes[status - 0xF0];
      continue;
    }
    gsize first_data = pos + 1;
    if (!(status & 0x80)) {
      if (!running_status) {
        GST_WARNING_OBJECT (self, "dropping data byte 0x%02x without a status byte", status);
        pos++;
        continue;
      }
      status = running_status;
      first_data = pos;
    }
    running_status = status;
    const int count = emidi::channel_message_data_bytes (status);
    if (first_data + count > size) {
      GST_WARNING_OBJECT (self, "dropping truncated MIDI message 0x%02x", status);
      return;
    }
    guint8 message[3] = { status, 0, 0 };
    bool valid = true;
    for (int i = 0; i < count; i++) {
      message[1 + i] = data[first_data + i];
      valid = valid && !(message[1 + i] & 0x80);
    }
    if (valid)
      store_message (st, time, message, 1 + count);
    else
      GST_WARNING_OBJECT (self, "dropping MIDI message 0x%02x with a data byte >= 0x80", status);
    pos = first_data + count;
  }
}

static void
send_caps (GstEmsyncMidiEnc *self)
{
  State &st = *self->state;
  if (st.caps_sent)
    return;
  if (!st.stream_started) {
    /* upstream sent none (e.g. a bare test pad): ours keeps sticky events in order */
    gchar *stream_id = gst_pad_create_stream_id (self->srcpad, GST_ELEMENT (self), NULL);
    gst_pad_push_event (self->srcpad, gst_event_new_stream_start (stream_id));
    g_free (stream_id);
    st.stream_started = true;
  }
  GstCaps *caps = gst_static_pad_template_get_caps (&src_template);
  gst_pad_set_caps (self->srcpad, caps);
  gst_caps_unref (caps);
  st.caps_sent = true;
}

/* EOS: writes the file and pushes it as one buffer, with a BYTES segment. */
static GstFlowReturn
push_file (GstEmsyncMidiEnc *self)
{
  State &st = *self->state;
  GST_OBJECT_LOCK (self);
  const int ppq = self->settings->ppq;
  GST_OBJECT_UNLOCK (self);

  std::vector<emidi::SmfTrackData> tracks;
  if (!st.system_messages.empty ())
    tracks.push_back ({ "System", st.system_messages });
  for (int channel = 0; channel < 16; channel++)
    if (!st.channel_messages[channel].empty ())
      tracks.push_back ({ "Channel " + std::to_string (channel + 1), st.channel_messages[channel] });

  emidi::WriteOptions options;
  options.format = 1;
  options.ticks_per_quarter = ppq;
  options.microseconds_per_quarter = emidi::kDefaultMicrosecondsPerQuarter;
  options.meter = st.meter;
  std::vector<uint8_t> bytes = emidi::write_smf (tracks, options);
  GST_INFO_OBJECT (self, "writing %" G_GUINT64_FORMAT " messages on %zu tracks: %zu bytes, %.3f s",
      st.message_count, tracks.size (), bytes.size (), st.last_time);

  send_caps (self);
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_BYTES);
  if (!gst_pad_push_event (self->srcpad, gst_event_new_segment (&segment)))
    GST_DEBUG_OBJECT (self, "downstream refused the segment");

  GstBuffer *buffer = gst_buffer_new_memdup (bytes.data (), bytes.size ());
  GST_BUFFER_OFFSET (buffer) = 0;
  GST_BUFFER_OFFSET_END (buffer) = bytes.size ();
  GST_BUFFER_PTS (buffer) = 0;
  GST_BUFFER_DURATION (buffer) = (GstClockTime) (st.last_time * GST_SECOND);
  return gst_pad_push (self->srcpad, buffer);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Pad functions                                                                                              */

static GstFlowReturn
gst_emsync_midi_enc_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstEmsyncMidiEnc *self = GST_EMSYNC_MIDI_ENC (parent);
  State &st = *self->state;
  if (st.finished) {
    gst_buffer_unref (buffer);
    return GST_FLOW_EOS;
  }
  GstMapInfo map;
  if (gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    if (map.size > 0 && !(map.size == 1 && map.data[0] == EMSYNC_MIDI_TICK)) {
      const double time = file_time (self, GST_BUFFER_PTS (buffer));
      st.last_time = std::max (st.last_time, time);
      try {
        collect_messages (self, time, map.data, map.size);
      } catch (const std::exception &e) { /* std::bad_alloc on a runaway stream */
        gst_buffer_unmap (buffer, &map);
        gst_buffer_unref (buffer);
        GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not store the MIDI events"), ("%s", e.what ()));
        return GST_FLOW_ERROR;
      }
    }
    gst_buffer_unmap (buffer, &map);
  }
  gst_buffer_unref (buffer);
  return GST_FLOW_OK;
}

static gboolean
gst_emsync_midi_enc_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstEmsyncMidiEnc *self = GST_EMSYNC_MIDI_ENC (parent);
  State &st = *self->state;
  GST_DEBUG_OBJECT (pad, "%" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START: {
      st.stream_started = true;
      gboolean ok = gst_pad_push_event (self->srcpad, event);
      send_caps (self);
      return ok;
    }
    case GST_EVENT_CAPS:
      /* the input caps say nothing about the file */
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_SEGMENT: {
      GstSegment segment;
      gst_event_copy_segment (event, &segment);
      gst_event_unref (event);
      if (segment.format != GST_FORMAT_TIME) {
        GST_WARNING_OBJECT (
            self, "%s segment: times come from buffer PTS only", gst_format_get_name (segment.format));
        gst_segment_init (&segment, GST_FORMAT_TIME);
      }
      st.segment = segment;
      if (!st.have_origin) {
        st.origin = gst_segment_to_running_time (&segment, GST_FORMAT_TIME, segment.start);
        if (!GST_CLOCK_TIME_IS_VALID (st.origin))
          st.origin = 0;
        st.have_origin = true;
        GST_DEBUG_OBJECT (self, "file starts at running time %" GST_TIME_FORMAT, GST_TIME_ARGS (st.origin));
      }
      st.have_segment = true;
      if (!st.prerolled) {
        /* The file only exists at EOS. Until then a GAP lets the downstream sink preroll, so a pipeline
         * with other sinks (a tee to a muxer, say) reaches PAUSED instead of waiting for us forever. */
        send_caps (self);
        GstSegment time_segment;
        gst_segment_init (&time_segment, GST_FORMAT_TIME);
        gst_pad_push_event (self->srcpad, gst_event_new_segment (&time_segment));
        gst_pad_push_event (self->srcpad, gst_event_new_gap (0, GST_CLOCK_TIME_NONE));
        st.prerolled = true;
      }
      return TRUE; /* our own BYTES segment goes out with the file */
    }
    case GST_EVENT_CUSTOM_DOWNSTREAM: {
      GstClockTime pts = GST_CLOCK_TIME_NONE;
      EmsyncTempoBar bar;
      if (!emsync_tempo_event_parse (event, &pts, &bar))
        return gst_pad_event_default (pad, parent, event);
      gst_event_unref (event);
      const GstClockTime running = gst_segment_to_running_time (&st.segment, GST_FORMAT_TIME, pts);
      if (st.have_origin && GST_CLOCK_TIME_IS_VALID (running) && running >= st.origin) {
        const double start = (double) (running - st.origin) / GST_SECOND;
        if (st.meter.empty () || start > st.meter.back ().start_seconds)
          st.meter.push_back (
              { start, (double) bar.beat_duration / GST_SECOND, emsync_tempo_bar_length_beats (&bar) });
      }
      return TRUE; /* the file carries the bars */
    }
    case GST_EVENT_TAG:
    case GST_EVENT_GAP:
      /* nothing to say in a file (and a tag pushed before our segment would misorder sticky events) */
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_EOS: {
      if (!st.finished) {
        GstFlowReturn ret = GST_FLOW_ERROR;
        try {
          ret = push_file (self);
        } catch (const std::exception &e) {
          GST_ELEMENT_ERROR (self, STREAM, ENCODE, ("Could not write the MIDI file"), ("%s", e.what ()));
        }
        st.finished = true;
        if (ret != GST_FLOW_OK && ret != GST_FLOW_FLUSHING)
          GST_DEBUG_OBJECT (self, "pushing the file returned %s", gst_flow_get_name (ret));
      }
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_FLUSH_STOP: {
      reset_state (st);
      return gst_pad_push_event (self->srcpad, event);
    }
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

static GstStateChangeReturn
gst_emsync_midi_enc_change_state (GstElement *element, GstStateChange transition)
{
  GstEmsyncMidiEnc *self = GST_EMSYNC_MIDI_ENC (element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    reset_state (*self->state);
    self->state->caps_sent = false;
    self->state->stream_started = false;
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    reset_state (*self->state);
    self->state->caps_sent = false;
    self->state->stream_started = false;
  }
  return ret;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* GObject                                                                                                    */

static void
gst_emsync_midi_enc_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstEmsyncMidiEnc *self = GST_EMSYNC_MIDI_ENC (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_PPQ:
      self->settings->ppq = g_value_get_int (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_emsync_midi_enc_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstEmsyncMidiEnc *self = GST_EMSYNC_MIDI_ENC (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_PPQ:
      g_value_set_int (value, self->settings->ppq);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_emsync_midi_enc_finalize (GObject *object)
{
  GstEmsyncMidiEnc *self = GST_EMSYNC_MIDI_ENC (object);
  delete self->state;
  delete self->settings;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_emsync_midi_enc_class_init (GstEmsyncMidiEncClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_emsync_midi_enc_debug, "emsyncmidienc", 0, "emsync MIDI file writer");

  gobject_class->set_property = gst_emsync_midi_enc_set_property;
  gobject_class->get_property = gst_emsync_midi_enc_get_property;
  gobject_class->finalize = gst_emsync_midi_enc_finalize;

  g_object_class_install_property (gobject_class, PROP_PPQ,
      g_param_spec_int ("ppq", "Ticks per quarter note",
          "Time resolution of the written file in ticks per quarter note; at the 125 bpm of a stream without "
          "the generator's bars the default 480 gives 1 ms ticks (a larger value gives finer timing)",
          MIN_PPQ, MAX_PPQ, DEFAULT_PPQ,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "emsync MIDI file writer", "Codec/Muxer/Audio",
      "Writes a stream of MIDI events into a Standard MIDI File at end of stream", "emsync developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_emsync_midi_enc_change_state);
}

static void
gst_emsync_midi_enc_init (GstEmsyncMidiEnc *self)
{
  self->settings = new Settings ();
  self->state = new State ();
  reset_state (*self->state);

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_emsync_midi_enc_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_emsync_midi_enc_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}
