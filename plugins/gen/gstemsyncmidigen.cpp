/**
 * SECTION:element-emsyncmidigen
 * @title: emsyncmidigen
 *
 * Composes music for the video that flows into it, with an emotion- and boundary-conditioned music
 * transformer (EMSYNC's generator, models/FORMAT.md). It reads only the video's timing, the
 * `emsync-scene-cut` events / #EmsyncSceneCutMeta of emsyncscenecut and the #EmsyncEmotionMeta /
 * `emsync-emotion` events of emsyncemotion (or the #GstEmsyncMidigen:valence and #GstEmsyncMidigen:arousal
 * properties when the stream carries no emotion); the frames themselves are dropped. It outputs
 * `audio/x-midi-event` (one MIDI message per buffer, PTS = event time, 0xF9 ticks every 10 ms), which
 * emsyncsynth and upstream fluiddec play. The output has the video's segment, so a message has the running time
 * of the music and the stream time of the video (after a seek too). The music itself comes from lib/music's
 * MidiStream; the element feeds it and pushes what it makes.
 *
 * Music is generated #GstEmsyncMidigen:lookahead behind the incoming video, so the generator always knows
 * the cuts ahead of its time cursor; the element reports that as latency. Put it on a tee branch:
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -e filesrc location=in.mp4 ! decodebin ! videoconvert ! emsyncscenecut ! emsyncmidigen ! \
 *     emsyncmidienc ! filesink location=music.mid
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! emsyncscenecut ! tee name=t \
 *     t. ! queue max-size-time=10000000000 max-size-buffers=0 max-size-bytes=0 ! autovideosink \
 *     t. ! queue ! emsyncmidigen ! emsyncsynth ! audioconvert ! autoaudiosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/gen/gstemsyncmidigen.h"

#include <cmath>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gst/emsync.h"
#include "lib/music/midi_stream.h"
#include "plugins/gen/elements.h"
#include "plugins/gen/model_paths.h"

GST_DEBUG_CATEGORY_STATIC (gst_emsync_midigen_debug);
#define GST_CAT_DEFAULT gst_emsync_midigen_debug

using emsync::music::ComposerOptions;
using emsync::music::GeneratorModel;
using emsync::music::InstrumentCount;
using emsync::music::MidiStream;
using emsync::music::MidiStreamOptions;
using emsync::music::SyncMode;
using emsync::music::Timing;

static_assert (EMSYNC_MIDI_TICK == emsync::music::kMidiTickStatus, "one tick message for the stream");

enum {
  PROP_0,
  PROP_MODEL,
  PROP_MODEL_FILE,
  PROP_LOOKAHEAD,
  PROP_MIN_BOUNDARY_GAP,
  PROP_TEMPERATURE,
  PROP_TOP_P,
  PROP_EMOTION_GUIDANCE,
  PROP_DENSITY_CONTROL,
  PROP_MODE_CONTROL,
  PROP_SEED,
  PROP_INSTRUMENTS,
  PROP_SYNC,
  PROP_THREADS,
  PROP_VALENCE,
  PROP_AROUSAL,
  PROP_TOKENS_GENERATED,
  PROP_PRESET,
  PROP_TIMING,
  PROP_HUMANIZE,
  PROP_ENDING,
};

/* Which ComposerOptions the generator properties start from: emsync's (ComposerOptions{}) or EMSYNC's own
 * procedure (ComposerOptions::reference()). */
enum class Preset { Shipped = 0, Reference = 1 };

/* The shipped generators (models/MODEL_CARD.md): emsync-small writes the better music, emsync-tiny costs about a
 * third as much per token. */
enum class ShippedModel { Small = 0, Tiny = 1 };

/* The generator's parameters and their shipped values are lib/music's ComposerOptions. */
static constexpr ComposerOptions kShipped{};
#define DEFAULT_MODEL ShippedModel::Small
#define DEFAULT_LOOKAHEAD (9 * GST_SECOND)
#define DEFAULT_MIN_BOUNDARY_GAP seconds_to_clock_time (kShipped.boundaries.min_gap_seconds)
#define DEFAULT_TEMPERATURE (kShipped.sampler.temperature_otherwise)
#define DEFAULT_TOP_P (kShipped.sampler.top_p)
#define DEFAULT_EMOTION_GUIDANCE (kShipped.emotion_guidance)
#define DEFAULT_DENSITY_CONTROL (kShipped.density_control)
#define DEFAULT_MODE_CONTROL (kShipped.mode_control)
#define DEFAULT_SEED (kShipped.seed)
#define DEFAULT_INSTRUMENTS (kShipped.instruments)
#define DEFAULT_SYNC (kShipped.sync)
#define DEFAULT_THREADS (kShipped.threads)
#define DEFAULT_TIMING (kShipped.timing)
#define DEFAULT_HUMANIZE (kShipped.velocity.enabled && kShipped.onset_timing.enabled)
#define DEFAULT_ENDING (kShipped.ending.enabled)
#define DEFAULT_VALENCE 0.0
#define DEFAULT_AROUSAL 0.0
/* How far generation may fall behind its target before the video input waits for it. */
#define MAX_BACKLOG_SECONDS 1.0
/* The period of the stream's tick messages (emsynccaps.h), not the model's 8 ms time step. */
#define MIDI_TICK_PERIOD_SECONDS (EMSYNC_MIDI_TICK_PERIOD_MS / 1000.0)
/* Reported on top of the lookahead: one generation slice (MidiStreamOptions::slice_seconds) plus compute
 * headroom, so that in live pipelines the music for time t is ready before the sinks render t. */
#define PROCESSING_LATENCY (250 * GST_MSECOND)

static GstClockTime
seconds_to_clock_time (double seconds)
{
  return (GstClockTime) llround (seconds * GST_SECOND);
}

/* Properties. Read under the object lock; the streaming side takes a snapshot at stream start. */
struct Settings {
  ShippedModel model = DEFAULT_MODEL;
  std::string model_file; /* overrides `model` when set */
  GstClockTime lookahead = DEFAULT_LOOKAHEAD;
  ComposerOptions composer; /* every generator parameter, with its shipped default */
  double valence = DEFAULT_VALENCE;
  double arousal = DEFAULT_AROUSAL;
  Preset preset = Preset::Shipped;
  /* The properties set by the application (bit = property id): they override the preset whenever it is set. */
  guint64 explicit_props = 0;
};

/* What the sink side hands to the generation task, in stream order. */
struct WorkItem {
  enum Kind { POSITION, CUT, EMOTION, EVENT, END } kind;
  double time = 0.0; /* music-timeline seconds */
  float valence = 0.0f, arousal = 0.0f;
  GstEvent *event = nullptr;                 /* owned, for EVENT */
  GstClockTime origin = GST_CLOCK_TIME_NONE; /* running time of music time 0 when queued */
};

/* The sink pad's streaming thread: built from the input, reset as a whole on flush and stop. */
struct SinkState {
  GstSegment segment;
  bool have_segment = false;
  /* Running time that music time 0 maps to (the first frame's running time). */
  GstClockTime origin = GST_CLOCK_TIME_NONE;
  double video_end = 0.0;        /* music-timeline end of the newest frame */
  double last_frame_start = 0.0; /* and its start */
  double last_cut = -1.0;
  guint last_event_cut_index = 0; /* the index of the newest cut event: its meta is the same cut */
  float last_valence = NAN, last_arousal = NAN;

  SinkState ()
  {
    gst_segment_init (&segment, GST_FORMAT_TIME);
  }
};

/* The generation task (src pad task): reset as a whole on flush and stop, while the task is not running. */
struct TaskState {
  std::unique_ptr<MidiStream> stream; /* built at the first work item */
  std::vector<emsync::midi::MidiEvent> midi;
  GstClockTime origin = GST_CLOCK_TIME_NONE;
  /* Output segment: the input's, so that stream time and muxers keep a seek; PTS = the position whose running
   * time is the music's. A later input segment takes over once the music reaches its start. */
  GstSegment segment;
  GstSegment next_segment;
  bool have_next_segment = false;
  GstClockTime next_segment_start = 0; /* running time */
  bool need_segment = true;
  bool need_discont = true;
  size_t bars_posted = 0; /* bars of the tempo map already announced on the bus */

  TaskState ()
  {
    gst_segment_init (&segment, GST_FORMAT_TIME);
    gst_segment_init (&next_segment, GST_FORMAT_TIME);
  }
};

struct _GstEmsyncMidigen {
  GstElement parent;
  GstPad *sinkpad, *srcpad;

  Settings settings;                           /* GST_OBJECT_LOCK */
  std::shared_ptr<const GeneratorModel> model; /* loaded READY->PAUSED */
  Settings stream_settings;                    /* snapshot used by the running stream */

  std::mutex lock; /* protects queue, flushing, flow, backlog */
  std::condition_variable cond;
  std::deque<WorkItem> queue;
  bool flushing = false;
  GstFlowReturn flow = GST_FLOW_OK;
  double queued_until = 0.0; /* newest POSITION queued */
  double progress = 0.0;     /* generated_until, as seen by the sink side */
  std::atomic<bool> cancel{ false };
  std::atomic<long> tokens_generated{ 0 };

  SinkState sink;
  TaskState task;
};

G_DEFINE_TYPE (GstEmsyncMidigen, gst_emsync_midigen, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (emsyncmidigen, "emsyncmidigen", GST_RANK_NONE, GST_TYPE_EMSYNC_MIDIGEN);

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw(ANY)"));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (EMSYNC_MIDI_EVENT_CAPS));

GType
gst_emsync_sync_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { (gint) SyncMode::Hard, "Constrained decoding: a chord onset lands on every kept cut", "hard" },
    { (gint) SyncMode::Soft, "EMSYNC's behaviour: the model is told the time to the next cut", "soft" },
    { (gint) SyncMode::None, "The model gets no boundary information", "none" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEmsyncSyncMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_emsync_timing_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { (gint) Timing::Grid, "A beat grid planned from the cuts: onsets on its 8ths, 16ths and triplets",
        "grid" },
    { (gint) Timing::Free, "EMSYNC's free timing: any 8 ms step", "free" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEmsyncTiming", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_emsync_model_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { (gint) ShippedModel::Small, "emsync-small.pt: 4 layers, d_model 256 (the better music)", "small" },
    { (gint) ShippedModel::Tiny, "emsync-tiny.pt: 4 layers, d_model 128 (a third of the cost per token)",
        "tiny" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEmsyncModel", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static const char *
shipped_model_file_name (ShippedModel model)
{
  return model == ShippedModel::Tiny ? "emsync-tiny.pt" : "emsync-small.pt";
}

GType
gst_emsync_preset_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { (gint) Preset::Shipped, "emsync's defaults: hard sync, beat grid, note-level steering", "shipped" },
    { (gint) Preset::Reference, "EMSYNC's exact procedure (ComposerOptions::reference(), models/FORMAT.md)",
        "reference" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEmsyncPreset", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_emsync_instruments_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { (gint) InstrumentCount::More, "Three or more instruments (<MORE_INSTRUMENTS>)", "more" },
    { (gint) InstrumentCount::Less, "One or two instruments (<LESS_INSTRUMENTS>)", "less" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEmsyncInstruments", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* ---------------------------------------------------------------------------------------------- */
/* generation task (src pad task)                                                                   */

/* A later input segment takes over at the running time where it starts. */
static void
take_segment (GstEmsyncMidigen *self, const GstSegment *input)
{
  TaskState &ts = self->task;
  GstSegment seg = *input;
  /* The music may sound a little past the video's end (its last notes are released there). */
  if (seg.rate > 0)
    seg.stop = GST_CLOCK_TIME_NONE;
  if (ts.need_segment) {
    ts.segment = seg;
    ts.have_next_segment = false;
    return;
  }
  GstClockTime start =
      gst_segment_to_running_time (&seg, GST_FORMAT_TIME, seg.rate > 0 ? seg.start : seg.stop);
  ts.next_segment = seg;
  ts.next_segment_start = GST_CLOCK_TIME_IS_VALID (start) ? start : seg.base;
  ts.have_next_segment = true;
}

/* PTS of music time `seconds`: the output segment's position at the music's running time. */
static GstClockTime
music_to_pts (GstEmsyncMidigen *self, double seconds)
{
  TaskState &ts = self->task;
  GstClockTime rt = (GST_CLOCK_TIME_IS_VALID (ts.origin) ? ts.origin : 0) + seconds_to_clock_time (seconds);
  if (ts.have_next_segment && rt >= ts.next_segment_start) {
    ts.segment = ts.next_segment;
    ts.have_next_segment = false;
    gst_pad_push_event (self->srcpad, gst_event_new_segment (&ts.segment));
  }
  guint64 pts = 0;
  if (gst_segment_position_from_running_time_full (&ts.segment, GST_FORMAT_TIME, rt, &pts) != 1)
    pts = ts.segment.start; /* before the segment: at its start */
  return pts;
}

static GstFlowReturn
push_midi_events (GstEmsyncMidigen *self, const std::vector<emsync::midi::MidiEvent> &events)
{
  TaskState &ts = self->task;
  for (const auto &e : events) {
    const guint8 bytes[3] = { e.status, e.data1, e.data2 };
    GstBuffer *buf = gst_buffer_new_memdup (bytes, 1 + emsync::midi::channel_message_data_bytes (e.status));
    GST_BUFFER_PTS (buf) = music_to_pts (self, e.time_seconds);
    GST_BUFFER_DTS (buf) = GST_BUFFER_PTS (buf);
    if (ts.need_discont) {
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
      ts.need_discont = false;
    }
    GstFlowReturn ret = gst_pad_push (self->srcpad, buf);
    if (ret != GST_FLOW_OK)
      return ret;
  }
  return GST_FLOW_OK;
}

static void
ensure_stream_headers (GstEmsyncMidigen *self)
{
  TaskState &ts = self->task;
  if (!gst_pad_has_current_caps (self->srcpad)) {
    GstCaps *caps = gst_caps_new_empty_simple (EMSYNC_MIDI_EVENT_CAPS);
    gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
    gst_caps_unref (caps);
  }
  if (ts.need_segment) {
    gst_pad_push_event (self->srcpad, gst_event_new_segment (&ts.segment));
    ts.need_segment = false;
  }
}

static MidiStream &
ensure_stream (GstEmsyncMidigen *self)
{
  TaskState &ts = self->task;
  if (!ts.stream) {
    const Settings &s = self->stream_settings;
    MidiStreamOptions options;
    options.tick_period_seconds = MIDI_TICK_PERIOD_SECONDS;
    ts.stream = std::make_unique<MidiStream> (self->model, s.composer, options);
    ts.stream->set_emotion (0.0, (float) s.valence, (float) s.arousal);
  }
  return *ts.stream;
}

/* Posts an "emsync-tempo" message, and sends the bar downstream as an "emsync-tempo" event, for each bar of the
 * tempo map that starts at or before `until` (music seconds) and was not posted yet: a bar the music has reached
 * is never re-planned. */
static void
post_tempo_bars (GstEmsyncMidigen *self, double until)
{
  TaskState &ts = self->task;
  const auto &bars = ts.stream->composer ().tempo_map ().bars ();
  for (; ts.bars_posted < bars.size () && bars[ts.bars_posted].start <= until; ts.bars_posted++) {
    const emsync::music::Bar &b = bars[ts.bars_posted];
    EmsyncTempoBar bar;
    /* a pickup bar begins half a beat before the music: it is posted at the music's start */
    bar.running_time = (GST_CLOCK_TIME_IS_VALID (ts.origin) ? ts.origin : 0)
        + seconds_to_clock_time (std::max (0.0, b.start));
    guint64 pts = 0;
    const bool in_segment =
        gst_segment_position_from_running_time_full (&ts.segment, GST_FORMAT_TIME, bar.running_time, &pts)
        == 1;
    bar.stream_time =
        in_segment ? gst_segment_to_stream_time (&ts.segment, GST_FORMAT_TIME, pts) : GST_CLOCK_TIME_NONE;
    bar.beat_duration = seconds_to_clock_time (b.beat);
    /* the beats from the music's start (a pickup has half a beat fewer than its bar) */
    const double beats = (b.end () - std::max (0.0, b.start)) / b.beat;
    bar.beats = (guint) std::floor (beats + 1e-6);
    bar.half_beat = beats - bar.beats > 0.25;
    bar.on_cut = b.cut;
    bar.index = (guint) ts.bars_posted;
    if (!in_segment || bar.beat_duration == 0)
      continue;
    /* downstream (emsyncmidienc) writes its file on these bars */
    gst_pad_push_event (self->srcpad, emsync_tempo_event_new (pts, &bar));
    if (GST_CLOCK_TIME_IS_VALID (bar.stream_time))
      gst_element_post_message (GST_ELEMENT (self), emsync_tempo_message_new (GST_OBJECT (self), &bar));
  }
}

/* Generates music up to `until` (music seconds) and pushes it, slice by slice. */
static GstFlowReturn
generate_to (GstEmsyncMidigen *self, double until)
{
  TaskState &ts = self->task;
  MidiStream &stream = ensure_stream (self);
  ensure_stream_headers (self);
  for (;;) {
    if (self->cancel.load ())
      return GST_FLOW_FLUSHING;
    ts.midi.clear ();
    const long before = stream.composer ().stats ().tokens;
    const bool sliced = stream.generate_slice (until, ts.midi, &self->cancel);
    self->tokens_generated += stream.composer ().stats ().tokens - before;
    post_tempo_bars (self, stream.composer ().cursor_seconds ());
    GstFlowReturn ret = push_midi_events (self, ts.midi);
    if (ret != GST_FLOW_OK || !sliced)
      return ret;
    {
      std::lock_guard<std::mutex> lk (self->lock);
      self->progress = stream.generated_until ();
    }
    self->cond.notify_all ();
  }
}

/* At the end of the video: finish the music at its end and release every note. */
static GstFlowReturn
finish_music (GstEmsyncMidigen *self, double end)
{
  TaskState &ts = self->task;
  if (!ts.stream && end <= 0.0)
    return GST_FLOW_OK;
  /* Tells the synthesiser where the music ends, before the music still to come, so that its audio fades out
   * and stops there, with the video. */
  {
    ensure_stream (self).plan_ending (end);
    ensure_stream_headers (self);
    const GstClockTime rt =
        (GST_CLOCK_TIME_IS_VALID (ts.origin) ? ts.origin : 0) + seconds_to_clock_time (end);
    guint64 pts = 0;
    if (gst_segment_position_from_running_time_full (&ts.segment, GST_FORMAT_TIME, rt, &pts) == 1)
      gst_pad_push_event (self->srcpad, emsync_music_end_event_new (pts));
  }
  GstFlowReturn ret = generate_to (self, end);
  if (ret != GST_FLOW_OK)
    return ret;
  ts.midi.clear ();
  ts.stream->finish (end, ts.midi);
  post_tempo_bars (self, end - 1e-9);
  return push_midi_events (self, ts.midi);
}

static void
gst_emsync_midigen_loop (GstEmsyncMidigen *self)
{
  WorkItem item;
  {
    std::unique_lock<std::mutex> lk (self->lock);
    self->cond.wait (lk, [&] { return self->flushing || !self->queue.empty (); });
    if (self->flushing) {
      lk.unlock ();
      gst_pad_pause_task (self->srcpad);
      return;
    }
    item = self->queue.front ();
    self->queue.pop_front ();
  }

  TaskState &ts = self->task;
  ts.origin = item.origin;
  GstFlowReturn ret = GST_FLOW_OK;
  const double lookahead = (double) self->stream_settings.lookahead / GST_SECOND;
  try {
    switch (item.kind) {
      case WorkItem::CUT:
        if (ensure_stream (self).add_cut (item.time))
          GST_DEBUG_OBJECT (self, "boundary kept at %.3f s", item.time);
        else
          GST_DEBUG_OBJECT (
              self, "cut at %.3f s not kept (closer than min-boundary-gap or passed)", item.time);
        break;
      case WorkItem::EMOTION:
        ensure_stream (self).set_emotion (item.time, item.valence, item.arousal);
        break;
      case WorkItem::POSITION:
        if (item.time - lookahead > (ts.stream ? ts.stream->generated_until () : 0.0))
          ret = generate_to (self, item.time - lookahead);
        break;
      case WorkItem::EVENT: {
        GstEvent *ev = item.event;
        item.event = nullptr;
        if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT) {
          const GstSegment *seg;
          gst_event_parse_segment (ev, &seg);
          take_segment (self, seg);
          gst_event_unref (ev);
        } else if (GST_EVENT_TYPE (ev) == GST_EVENT_STREAM_START) {
          gst_pad_push_event (self->srcpad, ev);
        } else {
          ensure_stream_headers (self);
          gst_pad_push_event (self->srcpad, ev);
        }
        break;
      }
      case WorkItem::END: {
        ret = finish_music (self, item.time);
        if (ts.stream) {
          const emsync::music::Composer &composer = ts.stream->composer ();
          const auto stats = composer.stats ();
          GST_INFO_OBJECT (self,
              "generated %.1f s of music: %ld tokens (%ld chords, %ld forced), %ld steps, "
              "%ld prefills",
              composer.cursor_seconds (), stats.tokens, stats.chords, stats.forced_chords, stats.steps,
              stats.prefills);
        }
        if (ret == GST_FLOW_OK) {
          ensure_stream_headers (self);
          gst_pad_push_event (self->srcpad, gst_event_new_eos ());
          ret = GST_FLOW_EOS;
        }
        break;
      }
    }
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Music generation failed."), ("%s", e.what ()));
    ret = GST_FLOW_ERROR;
  }
  if (item.event)
    gst_event_unref (item.event);

  {
    std::lock_guard<std::mutex> lk (self->lock);
    if (ret != GST_FLOW_OK && self->flow == GST_FLOW_OK)
      self->flow = ret;
  }
  self->cond.notify_all ();
  if (ret != GST_FLOW_OK) {
    if (ret == GST_FLOW_NOT_LINKED || ret < GST_FLOW_EOS)
      GST_ELEMENT_FLOW_ERROR (self, ret);
    GST_DEBUG_OBJECT (self, "pausing task: %s", gst_flow_get_name (ret));
    gst_pad_pause_task (self->srcpad);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* sink side                                                                                        */

static void
enqueue (GstEmsyncMidigen *self, WorkItem &&item)
{
  item.origin = self->sink.origin;
  {
    std::lock_guard<std::mutex> lk (self->lock);
    if (item.kind == WorkItem::POSITION)
      self->queued_until = std::max (self->queued_until, item.time);
    self->queue.push_back (std::move (item));
  }
  self->cond.notify_all ();
}

/* Drops the queued work. On a flush, sticky events the task had not forwarded yet (stream-start, tags; upstream
 * sends a new segment) stay on the src pad, to go out before the next data, as GstQueue does. */
static void
clear_queue_locked (GstEmsyncMidigen *self, bool keep_sticky)
{
  for (auto &it : self->queue) {
    if (!it.event)
      continue;
    if (keep_sticky && GST_EVENT_IS_STICKY (it.event) && GST_EVENT_TYPE (it.event) != GST_EVENT_SEGMENT
        && GST_EVENT_TYPE (it.event) != GST_EVENT_EOS)
      gst_pad_store_sticky_event (self->srcpad, it.event);
    gst_event_unref (it.event);
  }
  self->queue.clear ();
}

/* Music-timeline seconds of a running time; the first valid one becomes the origin. */
static double
running_time_to_music (GstEmsyncMidigen *self, GstClockTime rt)
{
  SinkState &st = self->sink;
  if (!GST_CLOCK_TIME_IS_VALID (st.origin))
    st.origin = rt;
  if (rt < st.origin)
    return 0.0;
  return (double) (rt - st.origin) / GST_SECOND;
}

static void
offer_cut (GstEmsyncMidigen *self, GstClockTime running_time)
{
  SinkState &st = self->sink;
  if (!GST_CLOCK_TIME_IS_VALID (running_time))
    return;
  double t = running_time_to_music (self, running_time);
  if (st.last_cut >= 0.0 && std::fabs (t - st.last_cut) < 0.001)
    return; /* the same cut seen as event and as meta */
  st.last_cut = t;
  WorkItem item{ WorkItem::CUT };
  item.time = t;
  enqueue (self, std::move (item));
}

static void
offer_emotion (GstEmsyncMidigen *self, GstClockTime running_time, float valence, float arousal)
{
  SinkState &st = self->sink;
  if (!GST_CLOCK_TIME_IS_VALID (running_time))
    return;
  if (std::fabs (valence - st.last_valence) < 0.01f && std::fabs (arousal - st.last_arousal) < 0.01f)
    return;
  st.last_valence = valence;
  st.last_arousal = arousal;
  WorkItem item{ WorkItem::EMOTION };
  item.time = running_time_to_music (self, running_time);
  item.valence = valence;
  item.arousal = arousal;
  enqueue (self, std::move (item));
}

/* The video reached music time `end`: generation may follow, lookahead behind. */
static void
advance_video (GstEmsyncMidigen *self, double end)
{
  SinkState &st = self->sink;
  st.video_end = std::max (st.video_end, end);
  WorkItem item{ WorkItem::POSITION };
  item.time = st.video_end;
  enqueue (self, std::move (item));
}

static GstFlowReturn
gst_emsync_midigen_chain (GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  GstEmsyncMidigen *self = GST_EMSYNC_MIDIGEN (parent);
  SinkState &st = self->sink;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (pts) || !st.have_segment) {
    GST_WARNING_OBJECT (self, "dropping a frame without timestamp or segment");
    gst_buffer_unref (buf);
    return GST_FLOW_OK;
  }
  GstClockTime rt = gst_segment_to_running_time (&st.segment, GST_FORMAT_TIME, pts);
  if (!GST_CLOCK_TIME_IS_VALID (rt)) {
    gst_buffer_unref (buf); /* outside the segment */
    return GST_FLOW_OK;
  }
  GstClockTime duration = GST_BUFFER_DURATION (buf);
  double start = running_time_to_music (self, rt);
  double end = start + (GST_CLOCK_TIME_IS_VALID (duration) ? (double) duration / GST_SECOND : 0.0);
  if (end >= self->sink.video_end)
    self->sink.last_frame_start = start;

  /* A cut's meta rides on the frame released when the detector decided, which for a fade or dissolve is up to
   * a second after the cut the event announced: a meta whose event was seen is not a cut of its own. A meta
   * alone (no event upstream) marks the middle of its transition, or its frame. */
  if (EmsyncSceneCutMeta *cm = emsync_buffer_get_scene_cut_meta (buf)) {
    if (cm->index == 0 || cm->index > self->sink.last_event_cut_index) {
      GstClockTime at = rt;
      if (GST_CLOCK_TIME_IS_VALID (cm->transition_start) && GST_CLOCK_TIME_IS_VALID (cm->transition_end)
          && cm->transition_end >= cm->transition_start)
        at = gst_segment_to_running_time (&self->sink.segment, GST_FORMAT_TIME,
            cm->transition_start + (cm->transition_end - cm->transition_start) / 2);
      offer_cut (self, GST_CLOCK_TIME_IS_VALID (at) ? at : rt);
    }
  }
  if (EmsyncEmotionMeta *em = emsync_buffer_get_emotion_meta (buf)) {
    if (em->confidence > 0.0f)
      offer_emotion (self, rt, em->valence, em->arousal);
  }
  gst_buffer_unref (buf);
  advance_video (self, end);

  /* Backpressure: wait while generation lags more than MAX_BACKLOG behind its target. */
  std::unique_lock<std::mutex> lk (self->lock);
  const double lookahead = (double) self->stream_settings.lookahead / GST_SECOND;
  self->cond.wait (lk, [&] {
    return self->flushing || self->flow != GST_FLOW_OK || self->queue.size () < 2
        || self->queued_until - lookahead - self->progress < MAX_BACKLOG_SECONDS;
  });
  if (self->flushing)
    return GST_FLOW_FLUSHING;
  GstFlowReturn flow = self->flow;
  /* Downstream EOS/not-linked on a tee branch must not stop the video: keep consuming. */
  return flow == GST_FLOW_EOS ? GST_FLOW_EOS : flow;
}

static gboolean
start_task (GstEmsyncMidigen *self)
{
  return gst_pad_start_task (self->srcpad, (GstTaskFunction) gst_emsync_midigen_loop, self, NULL);
}

/* Both threads' state back to "nothing seen"; only while the task is paused or stopped. */
static void
reset_stream_state (GstEmsyncMidigen *self)
{
  self->sink = SinkState ();
  self->task = TaskState ();
  std::lock_guard<std::mutex> lk (self->lock);
  self->queued_until = 0.0;
  self->progress = 0.0;
}

static gboolean
gst_emsync_midigen_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstEmsyncMidigen *self = GST_EMSYNC_MIDIGEN (parent);
  SinkState &st = self->sink;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START: {
      {
        std::lock_guard<std::mutex> lk (self->lock);
        self->flushing = true;
        self->cancel = true;
      }
      self->cond.notify_all ();
      gboolean res = gst_pad_push_event (self->srcpad, event);
      gst_pad_pause_task (self->srcpad);
      return res;
    }
    case GST_EVENT_FLUSH_STOP: {
      /* Forwarded first: the src pad takes the queued sticky events only once it no longer flushes. */
      gboolean res = gst_pad_push_event (self->srcpad, event);
      {
        std::lock_guard<std::mutex> lk (self->lock);
        clear_queue_locked (self, true);
        self->flushing = false;
        self->cancel = false;
        self->flow = GST_FLOW_OK;
      }
      reset_stream_state (self);
      start_task (self);
      return res;
    }
    case GST_EVENT_CAPS:
      /* Our output caps are fixed; they are sent by the task before the first data. */
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_SEGMENT: {
      /* The input segment maps frame times to running time here; the task gives the MIDI output the same
       * segment (in stream order), so output running time = the music's and stream time = the video's. */
      GstSegment seg;
      gst_event_copy_segment (event, &seg);
      if (seg.format != GST_FORMAT_TIME) {
        gst_event_unref (event);
        GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("emsyncmidigen needs video with TIME segments."),
            ("got a %s segment", gst_format_get_name (seg.format)));
        return FALSE;
      }
      st.segment = seg;
      st.have_segment = true;
      WorkItem item{ WorkItem::EVENT };
      item.event = event;
      enqueue (self, std::move (item));
      return TRUE;
    }
    case GST_EVENT_CUSTOM_DOWNSTREAM: {
      EmsyncSceneCut cut;
      if (emsync_scene_cut_event_parse (event, &cut)) {
        st.last_event_cut_index = std::max (st.last_event_cut_index, cut.index);
        GstClockTime rt = cut.running_time;
        if (!GST_CLOCK_TIME_IS_VALID (rt) && st.have_segment)
          rt = gst_segment_to_running_time (&st.segment, GST_FORMAT_TIME, cut.timestamp);
        offer_cut (self, rt);
        gst_event_unref (event);
        return TRUE;
      }
      break;
    }
    case GST_EVENT_CUSTOM_DOWNSTREAM_STICKY: {
      EmsyncEmotion emotion;
      if (emsync_emotion_event_parse (event, &emotion)) {
        if (st.have_segment && GST_CLOCK_TIME_IS_VALID (emotion.timestamp))
          offer_emotion (self, gst_segment_to_running_time (&st.segment, GST_FORMAT_TIME, emotion.timestamp),
              (float) emotion.valence, (float) emotion.arousal);
        gst_event_unref (event);
        return TRUE;
      }
      break;
    }
    case GST_EVENT_EOS: {
      gst_event_unref (event);
      WorkItem item{ WorkItem::END };
      item.time = st.video_end;
      /* The last frame may last longer than the stream (an analysis branch thins the frames out): end the
       * music at the stream's duration when upstream knows it and it falls inside that frame (a duration
       * before the frame's start is wrong: some files declare less than their frames cover). */
      gint64 duration = -1;
      if (st.have_segment && gst_pad_peer_query_duration (pad, GST_FORMAT_TIME, &duration) && duration > 0) {
        const GstClockTime rt =
            gst_segment_to_running_time (&st.segment, GST_FORMAT_TIME, (guint64) duration);
        if (GST_CLOCK_TIME_IS_VALID (rt)) {
          const double end = running_time_to_music (self, rt);
          GST_DEBUG_OBJECT (
              self, "last frame %.3f-%.3f s, stream duration %.3f s", st.last_frame_start, item.time, end);
          if (end < item.time && end > st.last_frame_start)
            item.time = end;
        }
      }
      enqueue (self, std::move (item));
      return TRUE;
    }
    case GST_EVENT_GAP:
      /* No frames for a while: the music goes on; time advances with the gap. */
      if (st.have_segment) {
        GstClockTime ts, dur;
        gst_event_parse_gap (event, &ts, &dur);
        GstClockTime rt = gst_segment_to_running_time (&st.segment, GST_FORMAT_TIME, ts);
        if (GST_CLOCK_TIME_IS_VALID (rt))
          advance_video (self,
              running_time_to_music (self, rt)
                  + (GST_CLOCK_TIME_IS_VALID (dur) ? (double) dur / GST_SECOND : 0.0));
      }
      gst_event_unref (event);
      return TRUE;
    default:
      break;
  }

  if (GST_EVENT_IS_SERIALIZED (event)) {
    WorkItem item{ WorkItem::EVENT };
    item.event = event;
    enqueue (self, std::move (item));
    return TRUE;
  }
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
gst_emsync_midigen_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstEmsyncMidigen *self = GST_EMSYNC_MIDIGEN (parent);
  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    if (!gst_pad_peer_query (self->sinkpad, query))
      return FALSE;
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (query, &live, &min, &max);
    GST_OBJECT_LOCK (self);
    GstClockTime lookahead = self->settings.lookahead;
    GST_OBJECT_UNLOCK (self);
    min += lookahead + PROCESSING_LATENCY;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += lookahead + PROCESSING_LATENCY;
    GST_DEBUG_OBJECT (self,
        "latency: live %d, min %" GST_TIME_FORMAT " (lookahead %" GST_TIME_FORMAT "), max %" GST_TIME_FORMAT,
        live, GST_TIME_ARGS (min), GST_TIME_ARGS (lookahead), GST_TIME_ARGS (max));
    gst_query_set_latency (query, live, min, max);
    return TRUE;
  }
  return gst_pad_query_default (pad, parent, query);
}

static gboolean
gst_emsync_midigen_src_activate_mode (GstPad *pad, GstObject *parent, GstPadMode mode, gboolean active)
{
  GstEmsyncMidigen *self = GST_EMSYNC_MIDIGEN (parent);
  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active) {
    {
      std::lock_guard<std::mutex> lk (self->lock);
      self->flushing = false;
      self->cancel = false;
      self->flow = GST_FLOW_OK;
    }
    return start_task (self);
  }
  {
    std::lock_guard<std::mutex> lk (self->lock);
    self->flushing = true;
    self->cancel = true;
  }
  self->cond.notify_all ();
  return gst_pad_stop_task (pad);
}

/* ---------------------------------------------------------------------------------------------- */
/* state changes                                                                                    */

static gboolean
load_model (GstEmsyncMidigen *self)
{
  GST_OBJECT_LOCK (self);
  Settings snapshot = self->settings;
  GST_OBJECT_UNLOCK (self);
  std::string path = snapshot.model_file;
  const char *shipped = shipped_model_file_name (snapshot.model);
  if (path.empty ())
    path = emsync_default_model_path (shipped);
  if (path.empty ()) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No generator model found."),
        ("Set model-file, or install %s into %s (or set EMSYNC_MODEL_DIR).", shipped,
            EMSYNC_MODEL_INSTALL_DIR));
    return FALSE;
  }
  try {
    gint64 t0 = g_get_monotonic_time ();
    self->model = GeneratorModel::load (path);
    GST_INFO_OBJECT (self, "generator model %s (%zu parameters) ready in %.1f ms", path.c_str (),
        self->model->parameter_count (), (g_get_monotonic_time () - t0) / 1000.0);
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("%s", e.what ()), ("model-file=%s", path.c_str ()));
    return FALSE;
  }
  snapshot.model_file = path;
  self->stream_settings = snapshot;
  return TRUE;
}

static GstStateChangeReturn
gst_emsync_midigen_change_state (GstElement *element, GstStateChange transition)
{
  GstEmsyncMidigen *self = GST_EMSYNC_MIDIGEN (element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    if (!load_model (self))
      return GST_STATE_CHANGE_FAILURE;
    reset_stream_state (self);
    self->tokens_generated = 0;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS (gst_emsync_midigen_parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    {
      std::lock_guard<std::mutex> lk (self->lock);
      clear_queue_locked (self, false);
    }
    reset_stream_state (self);
  } else if (transition == GST_STATE_CHANGE_READY_TO_NULL) {
    self->model.reset ();
  }
  return ret;
}

/* ---------------------------------------------------------------------------------------------- */
/* properties                                                                                       */

/* The preset replaces the generator options; the properties the application set (before or after) are
 * applied again on top, so `preset=reference sync=hard` is the reference with hard sync in either order. */
static void
apply_preset (GstEmsyncMidigen *self, Preset preset)
{
  GST_OBJECT_LOCK (self);
  const guint64 mask = self->settings.explicit_props;
  GST_OBJECT_UNLOCK (self);
  guint n = 0;
  GParamSpec **pspecs = g_object_class_list_properties (G_OBJECT_GET_CLASS (self), &n);
  std::vector<std::pair<GParamSpec *, GValue>> kept;
  for (guint i = 0; i < n; ++i) {
    if (pspecs[i]->owner_type != GST_TYPE_EMSYNC_MIDIGEN || pspecs[i]->param_id >= 64
        || !(mask & (G_GUINT64_CONSTANT (1) << pspecs[i]->param_id)))
      continue;
    GValue v = G_VALUE_INIT;
    g_value_init (&v, pspecs[i]->value_type);
    g_object_get_property (G_OBJECT (self), pspecs[i]->name, &v);
    kept.emplace_back (pspecs[i], v);
  }
  GST_OBJECT_LOCK (self);
  self->settings.preset = preset;
  self->settings.composer = preset == Preset::Reference ? ComposerOptions::reference () : ComposerOptions ();
  GST_OBJECT_UNLOCK (self);
  for (auto &k : kept) {
    g_object_set_property (G_OBJECT (self), k.first->name, &k.second);
    g_value_unset (&k.second);
  }
  g_free (pspecs);
}

static void
gst_emsync_midigen_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstEmsyncMidigen *self = GST_EMSYNC_MIDIGEN (object);
  bool latency_changed = false;
  if (prop_id == PROP_PRESET) {
    apply_preset (self, (Preset) g_value_get_enum (value));
    return;
  }
  GST_OBJECT_LOCK (self);
  Settings &s = self->settings;
  switch (prop_id) {
    case PROP_MODEL:
      s.model = (ShippedModel) g_value_get_enum (value);
      break;
    case PROP_MODEL_FILE: {
      const gchar *v = g_value_get_string (value);
      s.model_file = v ? v : "";
      break;
    }
    case PROP_LOOKAHEAD:
      latency_changed = s.lookahead != g_value_get_uint64 (value);
      s.lookahead = g_value_get_uint64 (value);
      break;
    case PROP_MIN_BOUNDARY_GAP:
      s.composer.boundaries.min_gap_seconds = (double) g_value_get_uint64 (value) / GST_SECOND;
      break;
    case PROP_TEMPERATURE:
      s.composer.sampler.temperature_after_time_shift = g_value_get_double (value);
      s.composer.sampler.temperature_otherwise = g_value_get_double (value);
      break;
    case PROP_TOP_P:
      s.composer.sampler.top_p = g_value_get_double (value);
      break;
    case PROP_EMOTION_GUIDANCE:
      s.composer.emotion_guidance = g_value_get_double (value);
      break;
    case PROP_DENSITY_CONTROL:
      s.composer.density_control = g_value_get_double (value);
      break;
    case PROP_MODE_CONTROL:
      s.composer.mode_control = g_value_get_double (value);
      break;
    case PROP_SEED:
      s.composer.seed = g_value_get_uint64 (value);
      break;
    case PROP_INSTRUMENTS:
      s.composer.instruments = (InstrumentCount) g_value_get_enum (value);
      break;
    case PROP_SYNC:
      s.composer.sync = (SyncMode) g_value_get_enum (value);
      break;
    case PROP_TIMING:
      s.composer.timing = (Timing) g_value_get_enum (value);
      break;
    case PROP_HUMANIZE:
      s.composer.velocity.enabled = s.composer.onset_timing.enabled = g_value_get_boolean (value);
      break;
    case PROP_ENDING:
      s.composer.ending.enabled = g_value_get_boolean (value);
      break;
    case PROP_THREADS:
      s.composer.threads = g_value_get_int (value);
      break;
    case PROP_VALENCE:
      s.valence = g_value_get_double (value);
      break;
    case PROP_AROUSAL:
      s.arousal = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  s.explicit_props |= G_GUINT64_CONSTANT (1) << prop_id;
  GST_OBJECT_UNLOCK (self);
  if (latency_changed)
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_latency (GST_OBJECT (self)));
}

static void
gst_emsync_midigen_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstEmsyncMidigen *self = GST_EMSYNC_MIDIGEN (object);
  GST_OBJECT_LOCK (self);
  const Settings &s = self->settings;
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_enum (value, (gint) s.model);
      break;
    case PROP_MODEL_FILE:
      g_value_set_string (value, s.model_file.empty () ? NULL : s.model_file.c_str ());
      break;
    case PROP_LOOKAHEAD:
      g_value_set_uint64 (value, s.lookahead);
      break;
    case PROP_MIN_BOUNDARY_GAP:
      g_value_set_uint64 (value, seconds_to_clock_time (s.composer.boundaries.min_gap_seconds));
      break;
    case PROP_TEMPERATURE:
      g_value_set_double (value, s.composer.sampler.temperature_otherwise);
      break;
    case PROP_EMOTION_GUIDANCE:
      g_value_set_double (value, s.composer.emotion_guidance);
      break;
    case PROP_DENSITY_CONTROL:
      g_value_set_double (value, s.composer.density_control);
      break;
    case PROP_MODE_CONTROL:
      g_value_set_double (value, s.composer.mode_control);
      break;
    case PROP_TOP_P:
      g_value_set_double (value, s.composer.sampler.top_p);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, s.composer.seed);
      break;
    case PROP_INSTRUMENTS:
      g_value_set_enum (value, (gint) s.composer.instruments);
      break;
    case PROP_SYNC:
      g_value_set_enum (value, (gint) s.composer.sync);
      break;
    case PROP_TIMING:
      g_value_set_enum (value, (gint) s.composer.timing);
      break;
    case PROP_HUMANIZE:
      g_value_set_boolean (value, s.composer.velocity.enabled && s.composer.onset_timing.enabled);
      break;
    case PROP_ENDING:
      g_value_set_boolean (value, s.composer.ending.enabled);
      break;
    case PROP_THREADS:
      g_value_set_int (value, s.composer.threads);
      break;
    case PROP_VALENCE:
      g_value_set_double (value, s.valence);
      break;
    case PROP_AROUSAL:
      g_value_set_double (value, s.arousal);
      break;
    case PROP_TOKENS_GENERATED:
      g_value_set_uint64 (value, (guint64) self->tokens_generated.load ());
      break;
    case PROP_PRESET:
      g_value_set_enum (value, (gint) s.preset);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_emsync_midigen_finalize (GObject *object)
{
  GstEmsyncMidigen *self = GST_EMSYNC_MIDIGEN (object);
  clear_queue_locked (self, false);
  self->task.~TaskState ();
  self->sink.~SinkState ();
  self->stream_settings.~Settings ();
  self->model.~shared_ptr ();
  self->settings.~Settings ();
  self->cond.~condition_variable ();
  self->lock.~mutex ();
  self->queue.~deque ();
  G_OBJECT_CLASS (gst_emsync_midigen_parent_class)->finalize (object);
}

static void
gst_emsync_midigen_class_init (GstEmsyncMidigenClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_emsync_midigen_debug, "emsyncmidigen", 0, "emsync music generator");

  gobject_class->set_property = gst_emsync_midigen_set_property;
  gobject_class->get_property = gst_emsync_midigen_get_property;
  gobject_class->finalize = gst_emsync_midigen_finalize;

  const GParamFlags rw_ready =
      (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_enum ("model", "Model",
          "Which shipped generator to use when model-file is unset, looked up in $EMSYNC_MODEL_DIR, the "
          "installed data directory, then the source tree",
          GST_TYPE_EMSYNC_MODEL, (gint) DEFAULT_MODEL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_MODEL_FILE,
      g_param_spec_string ("model-file", "Model file",
          "TorchScript generator model (models/FORMAT.md); overrides model", NULL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_LOOKAHEAD,
      g_param_spec_uint64 ("lookahead", "Lookahead",
          "How far (ns) music generation stays behind the incoming video, so cuts are known ahead "
          "of the music. The reported latency is this plus 250 ms of processing headroom",
          0, 60 * GST_SECOND, DEFAULT_LOOKAHEAD, rw_ready));
  g_object_class_install_property (gobject_class, PROP_MIN_BOUNDARY_GAP,
      g_param_spec_uint64 ("min-boundary-gap", "Minimum boundary gap",
          "Minimum time (ns) between two cuts the music marks (EMSYNC keeps cuts >= 4 s apart)", 0,
          60 * GST_SECOND, DEFAULT_MIN_BOUNDARY_GAP, rw_ready));
  g_object_class_install_property (gobject_class, PROP_TEMPERATURE,
      g_param_spec_double ("temperature", "Temperature", "Sampling temperature (EMSYNC's demo uses 1.35)",
          0.05, 5.0, DEFAULT_TEMPERATURE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_TOP_P,
      g_param_spec_double ("top-p", "Top-p",
          "Nucleus sampling threshold (EMSYNC variant: tokens past the threshold are dropped, the best "
          "one always kept)",
          0.0, 1.0, DEFAULT_TOP_P, rw_ready));
  g_object_class_install_property (gobject_class, PROP_EMOTION_GUIDANCE,
      g_param_spec_double ("emotion-guidance", "Emotion guidance",
          "Strengthens the valence/arousal conditioning by classifier-free guidance against the model's "
          "null emotion (logits c + g * (c - u)); costs a second decoding step per token. 0 = EMSYNC's "
          "sampling",
          0.0, 5.0, DEFAULT_EMOTION_GUIDANCE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_DENSITY_CONTROL,
      g_param_spec_double ("density-control", "Density control",
          "Steers the note density towards the one the model's training labels give the current arousal "
          "(note-on logits + k * ln(target / recent density)); needs a model that declares its density "
          "scale. "
          "0 = the model alone (EMSYNC)",
          0.0, 10.0, DEFAULT_DENSITY_CONTROL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_MODE_CONTROL,
      g_param_spec_double ("mode-control", "Mode control",
          "Steers towards a major key when the valence is positive and a minor key when it is negative: "
          "note-on logits + k * |valence| * the key profile of the current key or its relative "
          "(Krumhansl-Kessler). 0 = the model alone (EMSYNC)",
          0.0, 10.0, DEFAULT_MODE_CONTROL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed", "Random seed; the same seed, model and input give the same music",
          0, G_MAXUINT64, DEFAULT_SEED, rw_ready));
  g_object_class_install_property (gobject_class, PROP_INSTRUMENTS,
      g_param_spec_enum ("instruments", "Instruments", "Instrument-count control token given to the model",
          GST_TYPE_EMSYNC_INSTRUMENTS, (gint) DEFAULT_INSTRUMENTS, rw_ready));
  g_object_class_install_property (gobject_class, PROP_PRESET,
      g_param_spec_enum ("preset", "Preset",
          "The generator options to start from: emsync's (shipped) or EMSYNC's exact procedure (reference: "
          "soft "
          "sync, the model alone, free timing, no note grammar, no forced release, fixed velocity; "
          "models/FORMAT.md lists every difference). Generator properties set explicitly, before or after, "
          "override it",
          GST_TYPE_EMSYNC_PRESET, (gint) Preset::Shipped, rw_ready));
  g_object_class_install_property (gobject_class, PROP_SYNC,
      g_param_spec_enum ("sync", "Sync mode", "How the music follows scene cuts", GST_TYPE_EMSYNC_SYNC_MODE,
          (gint) DEFAULT_SYNC, rw_ready));
  g_object_class_install_property (gobject_class, PROP_TIMING,
      g_param_spec_enum ("timing", "Timing",
          "Where notes may start: on a beat grid whose tempo follows the arousal and puts kept cuts on bar "
          "lines (grid), or anywhere (free, EMSYNC's)",
          GST_TYPE_EMSYNC_TIMING, (gint) DEFAULT_TIMING, rw_ready));
  g_object_class_install_property (gobject_class, PROP_HUMANIZE,
      g_param_spec_boolean ("humanize", "Humanize",
          "Play the notes: velocities from arousal, metre and phrase, and a few ms of ensemble timing. "
          "false: EMSYNC's fixed velocities, every onset on its 8 ms step",
          DEFAULT_HUMANIZE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_ENDING,
      g_param_spec_boolean ("ending", "Ending",
          "When the stream's end is known: a cadence into a final chord 1 s before it, held to the end. "
          "false: the music stops where the video does",
          DEFAULT_ENDING, rw_ready));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_int ("threads", "Threads",
          "Threads for generation: the decoding step uses 1 or 2 (models of 10M parameters or more), and "
          "this stream's prefills size the BLAS's thread pool to it",
          1, 64, DEFAULT_THREADS, rw_ready));
  g_object_class_install_property (gobject_class, PROP_VALENCE,
      g_param_spec_double ("valence", "Valence",
          "Valence in [-1, 1] used until the stream carries emotion (emsyncemotion metas/events)", -1.0, 1.0,
          DEFAULT_VALENCE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_AROUSAL,
      g_param_spec_double ("arousal", "Arousal",
          "Arousal in [-1, 1] used until the stream carries emotion (emsyncemotion metas/events)", -1.0, 1.0,
          DEFAULT_AROUSAL, rw_ready));
  g_object_class_install_property (gobject_class, PROP_TOKENS_GENERATED,
      g_param_spec_uint64 ("tokens-generated", "Tokens generated",
          "Number of tokens generated in this stream", 0, G_MAXUINT64, 0,
          (GParamFlags) (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "emsync music generator",
      "Filter/Converter/Video/Audio",
      "Composes MIDI for a video, following its emotion and landing chords on its scene cuts",
      "emsync developers");
  element_class->change_state = gst_emsync_midigen_change_state;

  gst_type_mark_as_plugin_api (GST_TYPE_EMSYNC_MODEL, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_EMSYNC_SYNC_MODE, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_EMSYNC_INSTRUMENTS, (GstPluginAPIFlags) 0);
  gst_type_mark_as_plugin_api (GST_TYPE_EMSYNC_TIMING, (GstPluginAPIFlags) 0);
}

static void
gst_emsync_midigen_init (GstEmsyncMidigen *self)
{
  /* GObject zero-fills instances; construct the C++ members in place. */
  new (&self->settings) Settings ();
  new (&self->model) std::shared_ptr<const GeneratorModel> ();
  new (&self->stream_settings) Settings ();
  new (&self->lock) std::mutex ();
  new (&self->cond) std::condition_variable ();
  new (&self->queue) std::deque<WorkItem> ();
  new (&self->cancel) std::atomic<bool> (false);
  new (&self->tokens_generated) std::atomic<long> (0);
  new (&self->sink) SinkState ();
  new (&self->task) TaskState ();

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_emsync_midigen_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_emsync_midigen_sink_event));
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_emsync_midigen_src_query));
  gst_pad_set_activatemode_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_emsync_midigen_src_activate_mode));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}
