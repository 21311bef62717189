#include "gst/emsyncevents.h"

#include <string.h>

static EmsyncCutKind
cut_kind_from_string (const gchar *s)
{
  if (s && strcmp (s, "dissolve") == 0)
    return EMSYNC_CUT_KIND_DISSOLVE;
  if (s && strcmp (s, "fade") == 0)
    return EMSYNC_CUT_KIND_FADE;
  return EMSYNC_CUT_KIND_CUT;
}

static GstStructure *
scene_cut_structure_new (const EmsyncSceneCut *cut)
{
  return gst_structure_new (EMSYNC_SCENE_CUT_EVENT_NAME, "timestamp", G_TYPE_UINT64, (guint64) cut->timestamp,
      "stream-time", G_TYPE_UINT64, (guint64) cut->stream_time, "running-time", G_TYPE_UINT64,
      (guint64) cut->running_time, "score", G_TYPE_DOUBLE, cut->score, "kind", G_TYPE_STRING,
      emsync_cut_kind_to_string (cut->kind), "index", G_TYPE_UINT, cut->index, NULL);
}

static gboolean
scene_cut_structure_parse (const GstStructure *s, EmsyncSceneCut *cut)
{
  if (!s || !gst_structure_has_name (s, EMSYNC_SCENE_CUT_EVENT_NAME))
    return FALSE;
  guint64 timestamp = GST_CLOCK_TIME_NONE, stream_time = GST_CLOCK_TIME_NONE,
          running_time = GST_CLOCK_TIME_NONE;
  gdouble score = 0.0;
  guint index = 0;
  if (!gst_structure_get_uint64 (s, "timestamp", &timestamp))
    return FALSE;
  gst_structure_get_uint64 (s, "stream-time", &stream_time);
  gst_structure_get_uint64 (s, "running-time", &running_time);
  gst_structure_get_double (s, "score", &score);
  gst_structure_get_uint (s, "index", &index);
  if (cut) {
    cut->timestamp = timestamp;
    cut->stream_time = stream_time;
    cut->running_time = running_time;
    cut->score = score;
    cut->kind = cut_kind_from_string (gst_structure_get_string (s, "kind"));
    cut->index = index;
  }
  return TRUE;
}

/**
 * emsync_scene_cut_event_new:
 * @cut: the boundary
 *
 * Returns: (transfer full): a serialized downstream "emsync-scene-cut" event
 */
GstEvent *
emsync_scene_cut_event_new (const EmsyncSceneCut *cut)
{
  g_return_val_if_fail (cut != NULL, NULL);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, scene_cut_structure_new (cut));
}

/**
 * emsync_scene_cut_event_is:
 * @event: a #GstEvent
 *
 * Returns: whether @event is an "emsync-scene-cut" event
 */
gboolean
emsync_scene_cut_event_is (GstEvent *event)
{
  g_return_val_if_fail (event != NULL, FALSE);
  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM)
    return FALSE;
  const GstStructure *s = gst_event_get_structure (event);
  return s && gst_structure_has_name (s, EMSYNC_SCENE_CUT_EVENT_NAME);
}

/**
 * emsync_scene_cut_event_parse:
 * @event: a #GstEvent
 * @cut: (out caller-allocates) (optional): the boundary the event carries
 *
 * Returns: %TRUE when @event is an "emsync-scene-cut" event and @cut was filled in
 */
gboolean
emsync_scene_cut_event_parse (GstEvent *event, EmsyncSceneCut *cut)
{
  g_return_val_if_fail (event != NULL, FALSE);
  if (!emsync_scene_cut_event_is (event))
    return FALSE;
  return scene_cut_structure_parse (gst_event_get_structure (event), cut);
}

/**
 * emsync_scene_cut_message_new:
 * @src: (nullable): the element posting the message
 * @cut: the boundary
 *
 * Returns: (transfer full): an element message named "emsync-scene-cut"
 */
GstMessage *
emsync_scene_cut_message_new (GstObject *src, const EmsyncSceneCut *cut)
{
  g_return_val_if_fail (cut != NULL, NULL);
  /* For applications and gst-launch -m, "timestamp" is the stream time of the boundary. */
  EmsyncSceneCut shown = *cut;
  shown.timestamp = cut->stream_time;
  GstStructure *s = scene_cut_structure_new (&shown);
  gst_structure_set (s, "pts", G_TYPE_UINT64, (guint64) cut->timestamp, NULL);
  return gst_message_new_element (src, s);
}

/**
 * emsync_scene_cut_message_parse:
 * @message: a #GstMessage
 * @cut: (out caller-allocates) (optional): the boundary the message reports
 *
 * Returns: %TRUE when @message is an "emsync-scene-cut" element message and @cut was filled in
 */
gboolean
emsync_scene_cut_message_parse (GstMessage *message, EmsyncSceneCut *cut)
{
  g_return_val_if_fail (message != NULL, FALSE);
  if (GST_MESSAGE_TYPE (message) != GST_MESSAGE_ELEMENT)
    return FALSE;
  const GstStructure *s = gst_message_get_structure (message);
  if (!scene_cut_structure_parse (s, cut))
    return FALSE;
  guint64 pts;
  if (cut && gst_structure_get_uint64 (s, "pts", &pts))
    cut->timestamp = pts;
  return TRUE;
}

static GstStructure *
emotion_structure_new (const EmsyncEmotion *emotion)
{
  return gst_structure_new (EMSYNC_EMOTION_EVENT_NAME, "timestamp", G_TYPE_UINT64,
      (guint64) emotion->timestamp, "valence", G_TYPE_DOUBLE, emotion->valence, "arousal", G_TYPE_DOUBLE,
      emotion->arousal, "confidence", G_TYPE_DOUBLE, emotion->confidence, NULL);
}

static gboolean
emotion_structure_parse (const GstStructure *s, EmsyncEmotion *emotion)
{
  if (!s || !gst_structure_has_name (s, EMSYNC_EMOTION_EVENT_NAME))
    return FALSE;
  guint64 timestamp = GST_CLOCK_TIME_NONE;
  gdouble valence = 0.0, arousal = 0.0, confidence = 0.0;
  if (!gst_structure_get_double (s, "valence", &valence)
      || !gst_structure_get_double (s, "arousal", &arousal))
    return FALSE;
  gst_structure_get_uint64 (s, "timestamp", &timestamp);
  gst_structure_get_double (s, "confidence", &confidence);
  if (emotion) {
    emotion->timestamp = timestamp;
    emotion->valence = valence;
    emotion->arousal = arousal;
    emotion->confidence = confidence;
  }
  return TRUE;
}

/**
 * emsync_emotion_event_new:
 * @emotion: the value
 *
 * Returns: (transfer full): a sticky downstream "emsync-emotion" event
 */
GstEvent *
emsync_emotion_event_new (const EmsyncEmotion *emotion)
{
  g_return_val_if_fail (emotion != NULL, NULL);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_STICKY, emotion_structure_new (emotion));
}

/**
 * emsync_emotion_event_is:
 * @event: a #GstEvent
 *
 * Returns: whether @event is an "emsync-emotion" event
 */
gboolean
emsync_emotion_event_is (GstEvent *event)
{
  g_return_val_if_fail (event != NULL, FALSE);
  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM_STICKY)
    return FALSE;
  const GstStructure *s = gst_event_get_structure (event);
  return s && gst_structure_has_name (s, EMSYNC_EMOTION_EVENT_NAME);
}

/**
 * emsync_emotion_event_parse:
 * @event: a #GstEvent
 * @emotion: (out caller-allocates) (optional): the value the event carries
 *
 * Returns: %TRUE when @event is an "emsync-emotion" event and @emotion was filled in
 */
gboolean
emsync_emotion_event_parse (GstEvent *event, EmsyncEmotion *emotion)
{
  g_return_val_if_fail (event != NULL, FALSE);
  if (!emsync_emotion_event_is (event))
    return FALSE;
  return emotion_structure_parse (gst_event_get_structure (event), emotion);
}

/**
 * emsync_emotion_message_new:
 * @src: (nullable): the element posting the message
 * @report: the value and what it was read from
 *
 * Returns: (transfer full): an element message named "emsync-emotion"
 */
GstMessage *
emsync_emotion_message_new (GstObject *src, const EmsyncEmotionReport *report)
{
  g_return_val_if_fail (report != NULL, NULL);
  /* As for scene cuts, "timestamp" is stream time (the PTS where there is none) and "pts" the frame's PTS. */
  EmsyncEmotion shown = report->emotion;
  if (GST_CLOCK_TIME_IS_VALID (report->stream_time))
    shown.timestamp = report->stream_time;
  GstStructure *s = emotion_structure_new (&shown);
  gst_structure_set (s, "pts", G_TYPE_UINT64, (guint64) report->emotion.timestamp, "running-time",
      G_TYPE_UINT64, (guint64) report->running_time, "faces", G_TYPE_UINT, report->faces, "expression",
      G_TYPE_STRING, report->expression ? report->expression : "none", NULL);
  return gst_message_new_element (src, s);
}

/**
 * emsync_emotion_message_parse:
 * @message: a #GstMessage
 * @report: (out caller-allocates) (optional): the report; its expression points into @message
 *
 * Returns: %TRUE when @message is an "emsync-emotion" element message and @report was filled in
 */
gboolean
emsync_emotion_message_parse (GstMessage *message, EmsyncEmotionReport *report)
{
  g_return_val_if_fail (message != NULL, FALSE);
  if (GST_MESSAGE_TYPE (message) != GST_MESSAGE_ELEMENT)
    return FALSE;
  const GstStructure *s = gst_message_get_structure (message);
  EmsyncEmotion emotion;
  if (!emotion_structure_parse (s, &emotion))
    return FALSE;
  if (report) {
    guint64 pts = GST_CLOCK_TIME_NONE, running_time = GST_CLOCK_TIME_NONE;
    guint faces = 0;
    report->stream_time = emotion.timestamp;
    if (gst_structure_get_uint64 (s, "pts", &pts))
      emotion.timestamp = pts;
    gst_structure_get_uint64 (s, "running-time", &running_time);
    gst_structure_get_uint (s, "faces", &faces);
    const gchar *expression = gst_structure_get_string (s, "expression");
    report->emotion = emotion;
    report->running_time = running_time;
    report->faces = faces;
    report->expression = expression ? expression : "none";
  }
  return TRUE;
}

#define MUSIC_END_NAME "emsync-music-end"

/**
 * emsync_music_end_event_new:
 * @end_time: where the music ends (a PTS of the stream the event travels in)
 *
 * Returns: (transfer full): a serialized downstream "emsync-music-end" event
 */
GstEvent *
emsync_music_end_event_new (GstClockTime end_time)
{
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
      gst_structure_new (MUSIC_END_NAME, "end-time", G_TYPE_UINT64, (guint64) end_time, NULL));
}

/**
 * emsync_music_end_event_parse:
 * @event: a #GstEvent
 * @end_time: (out) (optional): where the music ends
 *
 * Returns: %TRUE when @event is an "emsync-music-end" event with a valid end time
 */
gboolean
emsync_music_end_event_parse (GstEvent *event, GstClockTime *end_time)
{
  g_return_val_if_fail (event != NULL, FALSE);
  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM)
    return FALSE;
  const GstStructure *s = gst_event_get_structure (event);
  guint64 t = 0;
  if (!s || !gst_structure_has_name (s, MUSIC_END_NAME) || !gst_structure_get_uint64 (s, "end-time", &t)
      || !GST_CLOCK_TIME_IS_VALID (t))
    return FALSE;
  if (end_time)
    *end_time = t;
  return TRUE;
}

GstMessage *
emsync_tempo_message_new (GstObject *src, const EmsyncTempoBar *bar)
{
  g_return_val_if_fail (bar != NULL, NULL);
  g_return_val_if_fail (bar->beat_duration > 0 && GST_CLOCK_TIME_IS_VALID (bar->beat_duration), NULL);
  return gst_message_new_element (src,
      gst_structure_new (EMSYNC_TEMPO_MESSAGE_NAME, "timestamp", G_TYPE_UINT64, (guint64) bar->stream_time,
          "running-time", G_TYPE_UINT64, (guint64) bar->running_time, "beat-duration", G_TYPE_UINT64,
          (guint64) bar->beat_duration, "bpm", G_TYPE_DOUBLE, 60.0 * GST_SECOND / bar->beat_duration, "beats",
          G_TYPE_UINT, bar->beats, "on-cut", G_TYPE_BOOLEAN, bar->on_cut, "index", G_TYPE_UINT, bar->index,
          "half-beat", G_TYPE_BOOLEAN, bar->half_beat, NULL));
}

/* The bar fields of an "emsync-tempo" structure (message or event); FALSE without a beat and a beat count. */
static gboolean
tempo_bar_from_structure (const GstStructure *s, EmsyncTempoBar *bar)
{
  guint64 beat = 0;
  guint beats = 0;
  if (!s || !gst_structure_has_name (s, EMSYNC_TEMPO_MESSAGE_NAME)
      || !gst_structure_get_uint64 (s, "beat-duration", &beat) || beat == 0 || !GST_CLOCK_TIME_IS_VALID (beat)
      || !gst_structure_get_uint (s, "beats", &beats))
    return FALSE;
  bar->beat_duration = beat;
  bar->beats = beats;
  bar->on_cut = FALSE;
  bar->index = 0;
  bar->half_beat = FALSE;
  gst_structure_get_boolean (s, "on-cut", &bar->on_cut);
  gst_structure_get_uint (s, "index", &bar->index);
  gst_structure_get_boolean (s, "half-beat", &bar->half_beat);
  return TRUE;
}

gboolean
emsync_tempo_message_parse (GstMessage *message, EmsyncTempoBar *bar)
{
  g_return_val_if_fail (message != NULL, FALSE);
  if (GST_MESSAGE_TYPE (message) != GST_MESSAGE_ELEMENT)
    return FALSE;
  const GstStructure *s = gst_message_get_structure (message);
  EmsyncTempoBar b;
  guint64 stream_time = 0, running_time = GST_CLOCK_TIME_NONE;
  if (!tempo_bar_from_structure (s, &b) || !gst_structure_get_uint64 (s, "timestamp", &stream_time))
    return FALSE;
  gst_structure_get_uint64 (s, "running-time", &running_time);
  b.stream_time = stream_time;
  b.running_time = running_time;
  if (bar)
    *bar = b;
  return TRUE;
}

/**
 * emsync_tempo_event_new:
 * @pts: the bar line (a PTS of the stream the event travels in)
 * @bar: the bar; its stream_time and running_time are not carried
 *
 * Returns: (transfer full): a serialized downstream "emsync-tempo" event
 */
GstEvent *
emsync_tempo_event_new (GstClockTime pts, const EmsyncTempoBar *bar)
{
  g_return_val_if_fail (bar != NULL, NULL);
  g_return_val_if_fail (GST_CLOCK_TIME_IS_VALID (pts), NULL);
  g_return_val_if_fail (bar->beat_duration > 0 && GST_CLOCK_TIME_IS_VALID (bar->beat_duration), NULL);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
      gst_structure_new (EMSYNC_TEMPO_MESSAGE_NAME, "pts", G_TYPE_UINT64, (guint64) pts, "beat-duration",
          G_TYPE_UINT64, (guint64) bar->beat_duration, "beats", G_TYPE_UINT, bar->beats, "on-cut",
          G_TYPE_BOOLEAN, bar->on_cut, "index", G_TYPE_UINT, bar->index, "half-beat", G_TYPE_BOOLEAN,
          bar->half_beat, NULL));
}

/**
 * emsync_tempo_event_parse:
 * @event: a #GstEvent
 * @pts: (out) (optional): the bar line
 * @bar: (out) (optional): the bar (stream_time and running_time set to %GST_CLOCK_TIME_NONE)
 *
 * Returns: %TRUE when @event is an "emsync-tempo" event with a valid bar line, beat and beat count
 */
gboolean
emsync_tempo_event_parse (GstEvent *event, GstClockTime *pts, EmsyncTempoBar *bar)
{
  g_return_val_if_fail (event != NULL, FALSE);
  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM)
    return FALSE;
  const GstStructure *s = gst_event_get_structure (event);
  EmsyncTempoBar b;
  guint64 t = 0;
  if (!tempo_bar_from_structure (s, &b) || b.beats == 0 || !gst_structure_get_uint64 (s, "pts", &t)
      || !GST_CLOCK_TIME_IS_VALID (t))
    return FALSE;
  b.stream_time = GST_CLOCK_TIME_NONE;
  b.running_time = GST_CLOCK_TIME_NONE;
  if (pts)
    *pts = t;
  if (bar)
    *bar = b;
  return TRUE;
}

/**
 * emsync_tempo_bar_length_beats:
 * @bar: a bar
 *
 * Returns: the bar's length in beats: its whole beats, and a half for a half-beat bar (2.5 for a 5/8 bar)
 */
gdouble
emsync_tempo_bar_length_beats (const EmsyncTempoBar *bar)
{
  g_return_val_if_fail (bar != NULL, 0.0);
  return bar->beats + (bar->half_beat ? 0.5 : 0.0);
}
