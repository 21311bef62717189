/* emsync — custom serialized events, in the new/is/parse style of gst-libs/gst/video/video-event.h.
 *
 *  - "emsync-scene-cut" (GST_EVENT_CUSTOM_DOWNSTREAM): pushed by emsyncscenecut right before the first
 *    frame of a new shot. It stays ordered with the buffers and passes queues, tees and converters even
 *    where metas are dropped.
 *  - "emsync-emotion" (GST_EVENT_CUSTOM_DOWNSTREAM_STICKY): the latest smoothed valence/arousal, pushed by
 *    emsyncemotion when the value moves by more than its step; sticky, so a late-linked branch gets it.
 * Both also exist as element messages on the bus (emsync_scene_cut_message_parse(),
 * emsync_emotion_message_parse()).
 */
#pragma once

#include <gst/gst.h>
#include "gst/emsyncmeta.h"

G_BEGIN_DECLS

#define EMSYNC_SCENE_CUT_EVENT_NAME "emsync-scene-cut"
#define EMSYNC_EMOTION_EVENT_NAME "emsync-emotion"

/**
 * EmsyncSceneCut:
 * A scene boundary as carried by the event (and the bus message of the same name).
 * @timestamp: PTS of the first frame of the new shot (the middle of a gradual transition)
 * @stream_time: @timestamp in stream time
 * @running_time: @timestamp in running time
 */
typedef struct {
  GstClockTime timestamp;
  GstClockTime stream_time;
  GstClockTime running_time;
  gdouble score;
  EmsyncCutKind kind;
  guint index;
} EmsyncSceneCut;

GstEvent *emsync_scene_cut_event_new (const EmsyncSceneCut *cut);
gboolean emsync_scene_cut_event_is (GstEvent *event);
gboolean emsync_scene_cut_event_parse (GstEvent *event, EmsyncSceneCut *cut);
/* The bus message emsyncscenecut posts (same fields; "timestamp" is stream time, as gst-launch users read it). */
GstMessage *emsync_scene_cut_message_new (GstObject *src, const EmsyncSceneCut *cut);
gboolean emsync_scene_cut_message_parse (GstMessage *message, EmsyncSceneCut *cut);

/**
 * EmsyncEmotion:
 * @timestamp: PTS of the frame the value belongs to
 * @valence, @arousal: in [-1, 1]
 * @confidence: in [0, 1]
 */
typedef struct {
  GstClockTime timestamp;
  gdouble valence;
  gdouble arousal;
  gdouble confidence;
} EmsyncEmotion;

GstEvent *emsync_emotion_event_new (const EmsyncEmotion *emotion);
gboolean emsync_emotion_event_is (GstEvent *event);
gboolean emsync_emotion_event_parse (GstEvent *event, EmsyncEmotion *emotion);

/**
 * EmsyncEmotionReport:
 * The bus message emsyncemotion posts (an element message named "emsync-emotion").
 * @emotion: the value; @emotion.timestamp is the frame's PTS
 * @stream_time: @emotion.timestamp in stream time (the message's "timestamp" field, as gst-launch users read it)
 * @running_time: @emotion.timestamp in running time
 * @faces: faces found in the analysed frame
 * @expression: the largest face's top expression, or "none"; after parsing it points into the message
 */
typedef struct {
  EmsyncEmotion emotion;
  GstClockTime stream_time;
  GstClockTime running_time;
  guint faces;
  const gchar *expression;
} EmsyncEmotionReport;

GstMessage *emsync_emotion_message_new (GstObject *src, const EmsyncEmotionReport *report);
gboolean emsync_emotion_message_parse (GstMessage *message, EmsyncEmotionReport *report);

/* The end of the music (a serialized downstream event "emsync-music-end" with "end-time", a PTS of the stream
 * it travels in), sent by emsyncmidigen before its last notes. emsyncsynth fades its output out over the
 * second before that time and stops there instead of rendering a release tail after EOS.
 */
GstEvent *emsync_music_end_event_new (GstClockTime end_time);
gboolean emsync_music_end_event_parse (GstEvent *event, GstClockTime *end_time);

#define EMSYNC_TEMPO_MESSAGE_NAME "emsync-tempo"

/**
 * EmsyncTempoBar:
 * A bar of the generator's beat grid, posted by emsyncmidigen as an element message named "emsync-tempo" once the
 * music has reached the bar (a bar already started is never re-planned).
 * @stream_time: the bar line (the message's "timestamp" field)
 * @running_time: the bar line in running time
 * @beat_duration: the beat period inside the bar (the message also carries it as "bpm")
 * @beats: whole beats in the bar (fewer than the metre for a short bar before a cut)
 * @on_cut: a kept scene cut lands on this bar line
 * @index: the bar's number from the start of the music
 * @half_beat: the bar has half a beat more than @beats (a 5/8 or 7/8 bar before a cut)
 */
typedef struct {
  GstClockTime stream_time;
  GstClockTime running_time;
  GstClockTime beat_duration;
  guint beats;
  gboolean on_cut;
  guint index;
  gboolean half_beat;
} EmsyncTempoBar;

GstMessage *emsync_tempo_message_new (GstObject *src, const EmsyncTempoBar *bar);
gboolean emsync_tempo_message_parse (GstMessage *message, EmsyncTempoBar *bar);

/* The same bar as a serialized downstream event named "emsync-tempo" on emsyncmidigen's MIDI output, sent as the
 * music reaches it, with @pts the bar line as a PTS of the stream the event travels in (the bar's stream_time
 * and running_time are not carried). emsyncmidienc writes its file on these bars (tempo and time signatures). */
GstEvent *emsync_tempo_event_new (GstClockTime pts, const EmsyncTempoBar *bar);
/* The bar's length in beats: @beats, and a half for a @half_beat bar. */
gdouble emsync_tempo_bar_length_beats (const EmsyncTempoBar *bar);
gboolean emsync_tempo_event_parse (GstEvent *event, GstClockTime *pts, EmsyncTempoBar *bar);

G_END_DECLS
