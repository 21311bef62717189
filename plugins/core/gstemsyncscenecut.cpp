/* emsync — emsyncscenecut: finds shot boundaries (hard cuts, dissolves, fades) in raw video.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-emsyncscenecut
 * @title: emsyncscenecut
 * @see_also: scenechange
 *
 * Finds the boundaries between shots of a raw video stream and announces each one three ways:
 *
 * - an #EmsyncSceneCutMeta on the first frame of the new shot (for a gradual transition: its middle frame);
 * - a serialized custom downstream event `emsync-scene-cut` pushed right before that frame
 *   (see emsync_scene_cut_event_parse()); it survives elements that drop metas;
 * - with `post-messages=true` (default) an element message `emsync-scene-cut` on the bus with the fields
 *   `timestamp` (stream time), `running-time`, `pts`, `score`, `kind` ("cut", "dissolve" or "fade") and
 *   `index`, as `gst-launch-1.0 -m` prints it.
 *
 * Methods (`method`):
 * - `adaptive` (default): each frame is reduced to about `analysis-width` pixels wide (default 160); its content score
 *   (luma, chroma and edge changes against the previous frame) must stand out from the mean of its ±2
 *   neighbours by `threshold` times (default 5.0) and reach a minimum. One or two bright frames whose
 *   neighbours before and after match are a flash, not a cut. Cross-dissolves and fades are recognised
 *   as runs of frames that are blends of the frames around them; the boundary is the transition's middle.
 *   Fast motion keeps the score of many neighbours high and gives no cut.
 * - `ffmpeg`: FFmpeg's `select` scene score on the full-resolution planes of the negotiated format — with
 *   I420 input the same numbers as `ffmpeg -vf select='gt(scene,0.27)'`, the detector of the EMSYNC
 *   reference. `threshold` default 0.27.
 * - `content`: the adaptive method's content score against a fixed `threshold` (default 25).
 *
 * A boundary closer than `min-scene-duration` to an earlier one is dropped.
 *
 * Lookahead: deciding about frame t needs later frames (2 for adaptive cuts, about half the transition plus
 * 4 frames for dissolves and fades). `lookahead-frames=N` holds N frames back, so the meta and event land on
 * the right frame when the decision needs at most N frames; the element then adds N frame durations of
 * latency (LATENCY query). With a smaller N the meta and event come with a later frame, while their
 * timestamp fields still name the true boundary. `lookahead-frames=0` is causal and adds no latency. Held
 * frames are pushed on EOS, caps or segment changes and dropped on flush. The frames are never copied.
 * In a `tee` with another branch, size that branch's queue for N frames (e.g. `max-size-buffers=0
 * max-size-bytes=0 max-size-time=2000000000`).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m filesrc location=movie.mp4 ! decodebin ! emsyncscenecut ! fakesink
 * ]| Prints one `emsync-scene-cut` element message per shot boundary.
 * |[
 * gst-launch-1.0 -m filesrc location=movie.mp4 ! decodebin ! emsyncscenecut method=ffmpeg ! fakesink
 * ]| The cuts EMSYNC's reference pipeline would find (FFmpeg scene score > 0.27).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/core/gstemsyncscenecut.h"

#include "gst/emsyncevents.h"
#include "gst/emsyncmeta.h"
#include "lib/scene/detector.h"
#include "plugins/core/elements.h"

#include <atomic>
#include <deque>
#include <exception>
#include <memory>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_emsync_scenecut_debug);
#define GST_CAT_DEFAULT gst_emsync_scenecut_debug

namespace escene = emsync::scene;

enum {
  PROP_0,
  PROP_METHOD,
  PROP_THRESHOLD,
  PROP_MIN_SCENE_DURATION,
  PROP_ANALYSIS_WIDTH,
  PROP_LOOKAHEAD_FRAMES,
  PROP_POST_MESSAGES,
  PROP_CUTS_DETECTED,
};

#define DEFAULT_METHOD GST_EMSYNC_SCENECUT_METHOD_ADAPTIVE
#define DEFAULT_THRESHOLD (-1.0)
#define DEFAULT_MIN_SCENE_DURATION ((guint64) (escene::kDefaultMinSceneDuration * GST_SECOND))
#define DEFAULT_ANALYSIS_WIDTH escene::kDefaultAnalysisWidth
#define DEFAULT_LOOKAHEAD_FRAMES 2
#define DEFAULT_POST_MESSAGES TRUE
#define MAX_LOOKAHEAD_FRAMES 600

#define VIDEO_FORMATS                                                                                        \
  "{ I420, YV12, NV12, NV21, Y42B, Y444, GRAY8, RGB, BGR, RGBx, BGRx, xRGB, xBGR, "                          \
  "RGBA, BGRA, ARGB, ABGR }"

/* Internal linkage: the elements of one plugin library each have a Settings and a State, and the linker would
 * otherwise keep one of their inline constructors for both (an ODR violation AddressSanitizer showed). */
namespace {

/* What the properties set (read under the object lock). */
struct Settings {
  GstEmsyncSceneCutMethod method = DEFAULT_METHOD;
  gdouble threshold = DEFAULT_THRESHOLD;
  guint64 min_scene_duration = DEFAULT_MIN_SCENE_DURATION;
  gint analysis_width = DEFAULT_ANALYSIS_WIDTH;
  gint lookahead_frames = DEFAULT_LOOKAHEAD_FRAMES;
  gboolean post_messages = DEFAULT_POST_MESSAGES;
};

/* One held item: a frame (with the boundaries that begin at it) or a serialized event that arrived
 * between held frames and must keep its place. */
struct HeldItem {
  GstBuffer *buffer = nullptr;
  GstEvent *event = nullptr;
  gint64 frame = -1;
  std::vector<escene::Boundary> boundaries;
};

/* What streaming builds (streaming thread only; reset on flush and stop). */
struct State {
  std::unique_ptr<escene::SceneDetector> detector;
  std::deque<HeldItem> held;
  guint held_buffers = 0;
  gint64 next_frame = 0;
  guint boundary_index = 0;
  GstClockTime frame_duration = GST_CLOCK_TIME_NONE;
  std::vector<escene::Boundary> orphans; /* decided after their frame (and all later ones) left */
};

} // namespace

struct _GstEmsyncSceneCut {
  GstVideoFilter parent;
  Settings settings;
  State *state;
  std::atomic<guint> cuts_detected;
};

G_DEFINE_TYPE_WITH_CODE (GstEmsyncSceneCut, gst_emsync_scenecut, GST_TYPE_VIDEO_FILTER,
    GST_DEBUG_CATEGORY_INIT (gst_emsync_scenecut_debug, "emsyncscenecut", 0, "emsync scene-cut detector"));
GST_ELEMENT_REGISTER_DEFINE (emsyncscenecut, "emsyncscenecut", GST_RANK_NONE, GST_TYPE_EMSYNC_SCENECUT);

GType
gst_emsync_scenecut_method_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_EMSYNC_SCENECUT_METHOD_ADAPTIVE, "Adaptive content score with dissolve, fade and flash handling",
        "adaptive" },
    { GST_EMSYNC_SCENECUT_METHOD_FFMPEG, "FFmpeg select scene score (EMSYNC's detector), full resolution",
        "ffmpeg" },
    { GST_EMSYNC_SCENECUT_METHOD_CONTENT, "Content score against a fixed threshold", "content" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEmsyncSceneCutMethod", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));

static escene::Method
to_engine_method (GstEmsyncSceneCutMethod m)
{
  switch (m) {
    case GST_EMSYNC_SCENECUT_METHOD_FFMPEG:
      return escene::Method::kFfmpeg;
    case GST_EMSYNC_SCENECUT_METHOD_CONTENT:
      return escene::Method::kContent;
    default:
      return escene::Method::kAdaptive;
  }
}

static EmsyncCutKind
to_cut_kind (escene::TransitionKind k)
{
  switch (k) {
    case escene::TransitionKind::kDissolve:
      return EMSYNC_CUT_KIND_DISSOLVE;
    case escene::TransitionKind::kFade:
      return EMSYNC_CUT_KIND_FADE;
    default:
      return EMSYNC_CUT_KIND_CUT;
  }
}

/* Describes a mapped frame to the engine: plane pointers and strides, no copy. */
static gboolean
frame_view_from_video_frame (const GstVideoFrame *frame, escene::FrameView &view)
{
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  view = escene::FrameView ();
  view.width = GST_VIDEO_FRAME_WIDTH (frame);
  view.height = GST_VIDEO_FRAME_HEIGHT (frame);
  view.n_planes = (int) GST_VIDEO_FRAME_N_PLANES (frame);
  if (view.n_planes > 3)
    return FALSE;
  for (int p = 0; p < view.n_planes; p++) {
    view.planes[p].data = (const std::uint8_t *) GST_VIDEO_FRAME_PLANE_DATA (frame, p);
    view.planes[p].stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, p);
  }
  if (GST_VIDEO_FORMAT_INFO_IS_GRAY (finfo)) {
    view.layout = escene::PixelLayout::kGray;
    view.planes[0].width = view.width;
    view.planes[0].height = view.height;
    return view.n_planes == 1;
  }
  if (GST_VIDEO_FORMAT_INFO_IS_RGB (finfo)) {
    if (view.n_planes != 1)
      return FALSE;
    view.layout = escene::PixelLayout::kPackedRgb;
    view.planes[0].width = view.width;
    view.planes[0].height = view.height;
    view.bytes_per_pixel = GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, 0);
    view.r_offset = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_R);
    view.g_offset = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_G);
    view.b_offset = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_B);
    return view.bytes_per_pixel == 3 || view.bytes_per_pixel == 4;
  }
  if (!GST_VIDEO_FORMAT_INFO_IS_YUV (finfo))
    return FALSE;
  view.chroma_shift_x = GST_VIDEO_FORMAT_INFO_W_SUB (finfo, 1);
  view.chroma_shift_y = GST_VIDEO_FORMAT_INFO_H_SUB (finfo, 1);
  view.planes[0].width = GST_VIDEO_FRAME_COMP_WIDTH (frame, 0);
  view.planes[0].height = GST_VIDEO_FRAME_COMP_HEIGHT (frame, 0);
  if (view.n_planes == 3) {
    view.layout = escene::PixelLayout::kYuvPlanar;
    view.swap_uv = GST_VIDEO_FORMAT_INFO_PLANE (finfo, 1) == 2;
    for (int p = 1; p < 3; p++) {
      view.planes[p].width = GST_VIDEO_FRAME_COMP_WIDTH (frame, 1);
      view.planes[p].height = GST_VIDEO_FRAME_COMP_HEIGHT (frame, 1);
    }
    return TRUE;
  }
  if (view.n_planes == 2) {
    view.layout = escene::PixelLayout::kYuvSemiPlanar;
    view.swap_uv = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, 1) > GST_VIDEO_FORMAT_INFO_POFFSET (finfo, 2);
    view.planes[1].width = GST_VIDEO_FRAME_COMP_WIDTH (frame, 1);
    view.planes[1].height = GST_VIDEO_FRAME_COMP_HEIGHT (frame, 1);
    return TRUE;
  }
  return FALSE;
}

/* Builds a fresh detector from the current settings (called with the stream's frame rate known). */
static void
create_detector (GstEmsyncSceneCut *self)
{
  escene::DetectorConfig config;
  GST_OBJECT_LOCK (self);
  config.method = to_engine_method (self->settings.method);
  config.threshold = self->settings.threshold;
  config.min_scene_duration = (double) self->settings.min_scene_duration / GST_SECOND;
  config.analysis_width = self->settings.analysis_width;
  GST_OBJECT_UNLOCK (self);
  if (GST_CLOCK_TIME_IS_VALID (self->state->frame_duration))
    config.frame_duration = (double) self->state->frame_duration / GST_SECOND;
  self->state->detector.reset (new escene::SceneDetector (config));
  self->state->next_frame = 0;
  GST_DEBUG_OBJECT (self, "detector: method %s, threshold %g, min scene %.3f s, analysis width %d",
      escene::method_name (config.method), config.threshold, config.min_scene_duration,
      config.analysis_width);
}

static gint
lookahead_frames (GstEmsyncSceneCut *self)
{
  GST_OBJECT_LOCK (self);
  gint n = self->settings.lookahead_frames;
  GST_OBJECT_UNLOCK (self);
  return n;
}

/* Files each boundary with the held frame it names, or with the oldest held frame when its own frame has
 * already been pushed (too little lookahead). */
static void
place_boundaries (GstEmsyncSceneCut *self, const std::vector<escene::Boundary> &boundaries)
{
  State *st = self->state;
  for (const escene::Boundary &b : boundaries) {
    HeldItem *target = nullptr;
    HeldItem *oldest = nullptr;
    for (HeldItem &item : st->held) {
      if (!item.buffer)
        continue;
      if (!oldest)
        oldest = &item;
      if (item.frame == b.frame) {
        target = &item;
        break;
      }
    }
    if (!target && oldest && oldest->frame > b.frame) {
      GST_DEBUG_OBJECT (self,
          "boundary at frame %" G_GINT64_FORMAT " decided late; it travels with "
          "frame %" G_GINT64_FORMAT " (raise lookahead-frames to avoid this)",
          b.frame, oldest->frame);
      target = oldest;
    }
    if (target)
      target->boundaries.push_back (b);
    else
      st->orphans.push_back (b);
  }
}

/* Meta, event and message for one boundary; @buffer is writable or NULL (frame already gone). */
static void
announce_boundary (GstEmsyncSceneCut *self, GstBuffer *buffer, const escene::Boundary &b)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  State *st = self->state;
  EmsyncSceneCut cut;
  cut.timestamp = b.pts >= 0 ? (GstClockTime) b.pts : GST_CLOCK_TIME_NONE;
  cut.stream_time = gst_segment_to_stream_time (&trans->segment, GST_FORMAT_TIME, cut.timestamp);
  cut.running_time = gst_segment_to_running_time (&trans->segment, GST_FORMAT_TIME, cut.timestamp);
  cut.score = b.score;
  cut.kind = to_cut_kind (b.kind);
  cut.index = ++st->boundary_index;

  if (buffer) {
    emsync_buffer_add_scene_cut_meta (buffer, b.score, cut.kind, cut.index,
        b.first_pts >= 0 ? (GstClockTime) b.first_pts : cut.timestamp,
        b.last_pts >= 0 ? (GstClockTime) b.last_pts : cut.timestamp);
  }
  GST_INFO_OBJECT (self,
      "boundary #%u (%s) at frame %" G_GINT64_FORMAT " pts %" GST_TIME_FORMAT " score %.3f", cut.index,
      escene::kind_name (b.kind), b.frame, GST_TIME_ARGS (cut.timestamp), b.score);
  gst_pad_push_event (GST_BASE_TRANSFORM_SRC_PAD (trans), emsync_scene_cut_event_new (&cut));

  GST_OBJECT_LOCK (self);
  gboolean post = self->settings.post_messages;
  GST_OBJECT_UNLOCK (self);
  if (post)
    gst_element_post_message (GST_ELEMENT (self), emsync_scene_cut_message_new (GST_OBJECT (self), &cut));
  self->cuts_detected++;
}

/* Takes the oldest held frame out (pushing the events queued before it) and decorates it. */
static GstBuffer *
release_oldest (GstEmsyncSceneCut *self)
{
  State *st = self->state;
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  while (!st->held.empty ()) {
    HeldItem item = std::move (st->held.front ());
    st->held.pop_front ();
    if (item.event) {
      gst_pad_push_event (GST_BASE_TRANSFORM_SRC_PAD (trans), item.event);
      continue;
    }
    st->held_buffers--;
    GstBuffer *buffer = item.buffer;
    if (!item.boundaries.empty ()) {
      buffer = gst_buffer_make_writable (buffer); /* shares the memory: no pixel copy */
      for (const escene::Boundary &b : item.boundaries)
        announce_boundary (self, buffer, b);
    }
    return buffer;
  }
  return nullptr;
}

/* Pushes whatever is pending downstream: the decisions still open at the end of the stream, the held
 * frames and the events between them (EOS, caps or segment change). */
static void
drain (GstEmsyncSceneCut *self, gboolean finish_stream)
{
  State *st = self->state;
  if (finish_stream && st->detector) {
    try {
      place_boundaries (self, st->detector->finish ());
    } catch (const std::exception &e) {
      GST_WARNING_OBJECT (self, "detector failed at end of stream: %s", e.what ());
    }
  }
  for (const escene::Boundary &b : st->orphans)
    announce_boundary (self, nullptr, b);
  st->orphans.clear ();
  while (!st->held.empty ()) {
    GstBuffer *buffer = release_oldest (self);
    if (!buffer)
      break;
    GstFlowReturn ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), buffer);
    if (ret != GST_FLOW_OK)
      GST_DEBUG_OBJECT (self, "pushing a held frame on drain: %s", gst_flow_get_name (ret));
  }
}

static void
drop_held (GstEmsyncSceneCut *self)
{
  State *st = self->state;
  for (HeldItem &item : st->held) {
    if (item.buffer)
      gst_buffer_unref (item.buffer);
    if (item.event)
      gst_event_unref (item.event);
  }
  st->held.clear ();
  st->held_buffers = 0;
  st->orphans.clear ();
}

static GstFlowReturn
gst_emsync_scenecut_submit_input_buffer (GstBaseTransform *trans, gboolean is_discont, GstBuffer *input)
{
  GstEmsyncSceneCut *self = GST_EMSYNC_SCENECUT (trans);
  GstVideoFilter *filter = GST_VIDEO_FILTER (trans);
  State *st = self->state;

  if (!filter->negotiated || !st->detector) {
    gst_buffer_unref (input);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("frame before caps were negotiated"));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  GstVideoFrame frame;
  if (!gst_video_frame_map (&frame, &filter->in_info, input, GST_MAP_READ)) {
    gst_buffer_unref (input);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not read a video frame."),
        ("gst_video_frame_map failed (buffer smaller than the caps say?)"));
    return GST_FLOW_ERROR;
  }
  escene::FrameView view;
  if (!frame_view_from_video_frame (&frame, view)) {
    gst_video_frame_unmap (&frame);
    gst_buffer_unref (input);
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("unsupported video format %s", GST_VIDEO_INFO_NAME (&filter->in_info)));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  HeldItem item;
  item.buffer = input;
  item.frame = st->next_frame++;
  st->held.push_back (item);
  st->held_buffers++;

  const GstClockTime pts = GST_BUFFER_PTS (input);
  std::vector<escene::Boundary> found;
  try {
    found = st->detector->push (view, GST_CLOCK_TIME_IS_VALID (pts) ? (std::int64_t) pts : -1);
  } catch (const std::exception &e) {
    gst_video_frame_unmap (&frame);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Scene analysis failed."),
        ("scene engine error: %s (format %s, %dx%d)", e.what (), GST_VIDEO_INFO_NAME (&filter->in_info),
            view.width, view.height));
    return GST_FLOW_ERROR;
  } catch (...) {
    gst_video_frame_unmap (&frame);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Scene analysis failed."), ("unknown exception"));
    return GST_FLOW_ERROR;
  }
  gst_video_frame_unmap (&frame);

  const escene::FrameStats &stats = st->detector->last_stats ();
  GST_LOG_OBJECT (self,
      "frame %" G_GINT64_FORMAT " pts %" GST_TIME_FORMAT " score %.4f luma %.1f "
      "(blend test of frame %" G_GINT64_FORMAT ": contrast %.2f residual %.3f coarse %.2f %.3f)",
      stats.frame, GST_TIME_ARGS (pts), stats.score, stats.mean_luma, stats.blend_frame, stats.blend_contrast,
      stats.blend_residual, stats.coarse_contrast, stats.coarse_residual);
  place_boundaries (self, found);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_emsync_scenecut_generate_output (GstBaseTransform *trans, GstBuffer **outbuf)
{
  GstEmsyncSceneCut *self = GST_EMSYNC_SCENECUT (trans);
  State *st = self->state;
  *outbuf = nullptr;
  const gint n = lookahead_frames (self);
  if (st->held_buffers > (guint) n)
    *outbuf = release_oldest (self);
  return GST_FLOW_OK;
}

static gboolean
gst_emsync_scenecut_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstEmsyncSceneCut *self = GST_EMSYNC_SCENECUT (trans);
  State *st = self->state;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_STOP:
      drop_held (self);
      if (st->detector)
        st->detector->reset ();
      st->next_frame = 0;
      break;
    case GST_EVENT_EOS:
      drain (self, TRUE);
      if (st->detector)
        st->detector->reset ();
      st->next_frame = 0;
      break;
    case GST_EVENT_STREAM_START:
      drain (self, TRUE);
      if (st->detector)
        st->detector->reset ();
      st->next_frame = 0;
      break;
    case GST_EVENT_CAPS: {
      /* Held frames belong to the old caps: push them first (unless the caps did not change). */
      GstCaps *caps = NULL, *current = gst_pad_get_current_caps (GST_BASE_TRANSFORM_SINK_PAD (trans));
      gst_event_parse_caps (event, &caps);
      const gboolean same = current && gst_caps_is_equal (current, caps);
      if (current)
        gst_caps_unref (current);
      if (!same)
        drain (self, TRUE);
      break;
    }
    case GST_EVENT_SEGMENT:
      /* Held frames belong to the old segment: push them first. */
      drain (self, FALSE);
      break;
    default:
      if (GST_EVENT_IS_SERIALIZED (event) && st->held_buffers > 0) {
        /* Keep its place between the held frames. */
        HeldItem item;
        item.event = event;
        st->held.push_back (item);
        return TRUE;
      }
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_emsync_scenecut_parent_class)->sink_event (trans, event);
}

static gboolean
gst_emsync_scenecut_src_query (GstBaseTransform *trans, GstPadDirection direction, GstQuery *query)
{
  GstEmsyncSceneCut *self = GST_EMSYNC_SCENECUT (trans);
  if (direction != GST_PAD_SRC || GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return GST_BASE_TRANSFORM_CLASS (gst_emsync_scenecut_parent_class)->query (trans, direction, query);

  GstPad *sinkpad = GST_BASE_TRANSFORM_SINK_PAD (trans);
  if (!gst_pad_peer_query (sinkpad, query))
    return FALSE;
  gboolean live;
  GstClockTime min, max;
  gst_query_parse_latency (query, &live, &min, &max);
  const gint n = lookahead_frames (self);
  GstVideoFilter *filter = GST_VIDEO_FILTER (trans);
  const gboolean known_rate = filter->negotiated && GST_VIDEO_INFO_FPS_N (&filter->in_info) > 0;
  GstClockTime ours = 0;
  if (n > 0 && known_rate)
    ours = gst_util_uint64_scale ((guint64) n * GST_SECOND, GST_VIDEO_INFO_FPS_D (&filter->in_info),
        GST_VIDEO_INFO_FPS_N (&filter->in_info));
  else if (n > 0)
    GST_WARNING_OBJECT (self, "unknown frame rate: cannot report the latency of %d held frames", n);
  GST_DEBUG_OBJECT (self,
      "peer latency min %" GST_TIME_FORMAT " max %" GST_TIME_FORMAT ", ours %" GST_TIME_FORMAT " (%d frames)",
      GST_TIME_ARGS (min), GST_TIME_ARGS (max), GST_TIME_ARGS (ours), n);
  min += ours;
  if (GST_CLOCK_TIME_IS_VALID (max))
    max += ours;
  gst_query_set_latency (query, live, min, max);
  return TRUE;
}

static gboolean
gst_emsync_scenecut_set_info (
    GstVideoFilter *filter, GstCaps *incaps, GstVideoInfo *in_info, GstCaps *outcaps, GstVideoInfo *out_info)
{
  GstEmsyncSceneCut *self = GST_EMSYNC_SCENECUT (filter);
  State *st = self->state;
  if (GST_VIDEO_INFO_FPS_N (in_info) > 0)
    st->frame_duration = gst_util_uint64_scale_int (
        GST_SECOND, GST_VIDEO_INFO_FPS_D (in_info), GST_VIDEO_INFO_FPS_N (in_info));
  else
    st->frame_duration = GST_CLOCK_TIME_NONE;
  /* The same format again (a renegotiation that changed nothing): keep the history. */
  if (st->detector && filter->negotiated && gst_video_info_is_equal (in_info, &filter->in_info))
    return TRUE;
  try {
    create_detector (self);
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not set up scene analysis."), ("%s", e.what ()));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_emsync_scenecut_start (GstBaseTransform *trans)
{
  GstEmsyncSceneCut *self = GST_EMSYNC_SCENECUT (trans);
  delete self->state;
  self->state = new State ();
  self->cuts_detected = 0;
  return TRUE;
}

static gboolean
gst_emsync_scenecut_stop (GstBaseTransform *trans)
{
  GstEmsyncSceneCut *self = GST_EMSYNC_SCENECUT (trans);
  drop_held (self);
  delete self->state;
  self->state = new State ();
  return TRUE;
}

static void
gst_emsync_scenecut_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstEmsyncSceneCut *self = GST_EMSYNC_SCENECUT (object);
  gboolean latency_changed = FALSE;
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_METHOD:
      self->settings.method = (GstEmsyncSceneCutMethod) g_value_get_enum (value);
      break;
    case PROP_THRESHOLD:
      self->settings.threshold = g_value_get_double (value);
      break;
    case PROP_MIN_SCENE_DURATION:
      self->settings.min_scene_duration = g_value_get_uint64 (value);
      break;
    case PROP_ANALYSIS_WIDTH:
      self->settings.analysis_width = g_value_get_int (value);
      break;
    case PROP_LOOKAHEAD_FRAMES: {
      gint n = g_value_get_int (value);
      latency_changed = n != self->settings.lookahead_frames;
      self->settings.lookahead_frames = n;
      break;
    }
    case PROP_POST_MESSAGES:
      self->settings.post_messages = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  if (latency_changed)
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_latency (GST_OBJECT (self)));
}

static void
gst_emsync_scenecut_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstEmsyncSceneCut *self = GST_EMSYNC_SCENECUT (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_METHOD:
      g_value_set_enum (value, self->settings.method);
      break;
    case PROP_THRESHOLD:
      g_value_set_double (value, self->settings.threshold);
      break;
    case PROP_MIN_SCENE_DURATION:
      g_value_set_uint64 (value, self->settings.min_scene_duration);
      break;
    case PROP_ANALYSIS_WIDTH:
      g_value_set_int (value, self->settings.analysis_width);
      break;
    case PROP_LOOKAHEAD_FRAMES:
      g_value_set_int (value, self->settings.lookahead_frames);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->settings.post_messages);
      break;
    case PROP_CUTS_DETECTED:
      g_value_set_uint (value, self->cuts_detected.load ());
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_emsync_scenecut_finalize (GObject *object)
{
  GstEmsyncSceneCut *self = GST_EMSYNC_SCENECUT (object);
  if (self->state) {
    drop_held (self);
    delete self->state;
    self->state = nullptr;
  }
  self->settings.~Settings ();
  G_OBJECT_CLASS (gst_emsync_scenecut_parent_class)->finalize (object);
}

static void
gst_emsync_scenecut_class_init (GstEmsyncSceneCutClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);

  gobject_class->set_property = gst_emsync_scenecut_set_property;
  gobject_class->get_property = gst_emsync_scenecut_get_property;
  gobject_class->finalize = gst_emsync_scenecut_finalize;

  const GParamFlags rw = (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags rw_ready = (GParamFlags) (rw | GST_PARAM_MUTABLE_READY);
  const GParamFlags rw_playing = (GParamFlags) (rw | GST_PARAM_MUTABLE_PLAYING);

  g_object_class_install_property (gobject_class, PROP_METHOD,
      g_param_spec_enum ("method", "Method",
          "How boundaries are found: adaptive (content score against its neighbours, with dissolve, "
          "fade and flash handling), ffmpeg (FFmpeg's select scene score, as EMSYNC) or content "
          "(content score against a fixed threshold)",
          GST_TYPE_EMSYNC_SCENECUT_METHOD, DEFAULT_METHOD, rw_ready));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_double ("threshold", "Threshold",
          "Detection threshold of the method; negative = the method's default (adaptive: 5.0 times the "
          "neighbours' mean score, ffmpeg: 0.27 scene score, content: 25 on a 0-255 scale)",
          -1.0, G_MAXDOUBLE, DEFAULT_THRESHOLD, rw_ready));
  g_object_class_install_property (gobject_class, PROP_MIN_SCENE_DURATION,
      g_param_spec_uint64 ("min-scene-duration", "Minimum scene duration",
          "Drop a boundary closer than this to an earlier one (nanoseconds)", 0, G_MAXUINT64,
          DEFAULT_MIN_SCENE_DURATION, rw_ready));
  g_object_class_install_property (gobject_class, PROP_ANALYSIS_WIDTH,
      g_param_spec_int ("analysis-width", "Analysis width",
          "Approximate width in pixels the adaptive and content methods analyse (frames are reduced by "
          "an integer factor; 0 = full resolution); ffmpeg always uses full resolution",
          0, 8192, DEFAULT_ANALYSIS_WIDTH, rw_ready));
  g_object_class_install_property (gobject_class, PROP_LOOKAHEAD_FRAMES,
      g_param_spec_int ("lookahead-frames", "Lookahead frames",
          "Frames held back so that metas and events land on the boundary frame itself (0 = causal, no "
          "latency; adaptive cuts need 2, gradual transitions about half their length + 4); adds that "
          "many frame durations of latency",
          0, MAX_LOOKAHEAD_FRAMES, DEFAULT_LOOKAHEAD_FRAMES, rw_playing));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post an emsync-scene-cut element message on the bus for every boundary", DEFAULT_POST_MESSAGES,
          rw_playing));
  g_object_class_install_property (gobject_class, PROP_CUTS_DETECTED,
      g_param_spec_uint ("cuts-detected", "Boundaries detected",
          "Number of boundaries announced since the element started", 0, G_MAXUINT, 0,
          (GParamFlags) (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_set_static_metadata (element_class, "Scene cut detector", "Filter/Analyzer/Video",
      "Finds shot boundaries (cuts, dissolves, fades) and marks them with a meta, an event and a message",
      "emsync developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_emsync_scenecut_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_emsync_scenecut_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_emsync_scenecut_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_emsync_scenecut_src_query);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR (gst_emsync_scenecut_submit_input_buffer);
  trans_class->generate_output = GST_DEBUG_FUNCPTR (gst_emsync_scenecut_generate_output);
  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = FALSE;
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_emsync_scenecut_set_info);

  gst_type_mark_as_plugin_api (GST_TYPE_EMSYNC_SCENECUT_METHOD, (GstPluginAPIFlags) 0);
}

static void
gst_emsync_scenecut_init (GstEmsyncSceneCut *self)
{
  new (&self->settings) Settings ();
  self->state = new State ();
  self->cuts_detected = 0;
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
