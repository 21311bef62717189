/* emsync — emsyncemotion: valence and arousal of a raw video stream, over time.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-emsyncemotion
 * @title: emsyncemotion
 * @see_also: emsyncscenecut, emsyncmidigen
 *
 * Estimates the emotion of the video that flows through it as valence (pleasantness) and arousal
 * (activation), both in [-1, 1], and passes every frame on untouched (in place, no pixel copy).
 *
 * Every `interval` of stream time one frame is analysed on small samples of it (never a full-size copy):
 * - faces (expressions every `face-interval`, default 2 s, at the places found; faces looked for anew every 3
 *   intervals, every 2 when none is in view, and after a cut; the analyses in between reuse them): OpenCV's Haar frontal-face
 *   cascade (Debian's opencv-data, alt2) on a 192-pixel-wide grey copy (faces of at least 1/8 of the width), then the mini-Xception expression model of the npm
 *   package @vladmandic/human (7 expressions) on a 64x64 crop of each face, mapped to valence/arousal the
 *   EMSYNC way (Russell-Mehrabian Gaussians, neutral at the origin);
 * - the scene: brightness and saturation (Valdez & Mehrabian 1994), motion activity and shot rhythm (Hanjalic
 *   & Xu 2005; cuts come from an upstream emsyncscenecut's metas/events, else from a coarse internal test);
 * - fusion: faces weighted by size and confidence, the scene alone for frames without faces (or a
 *   TorchScript fusion model, `model-file`; contract in lib/emotion/fusion.h).
 * The element is in its own plugin library (emsyncaffect) and does not link libtorch: the expression network runs
 * in plain C++ (lib/emotion/face_model.cpp), and libtorch is loaded, through the small module
 * libemsync-fusion-torch.so (installed in <libdir>/emsync; `$EMSYNC_FUSION_MODULE` overrides), only when
 * `model-file` is set.
 * The values are smoothed exponentially with the time constant `smoothing`.
 *
 * Output:
 * - an #EmsyncEmotionMeta on every buffer (the smoothed value, its confidence, the analysis window and
 *   whether this very frame was analysed);
 * - the sticky custom event `emsync-emotion` (emsync_emotion_event_parse()) whenever the smoothed value has
 *   moved by more than `step` on either axis since the last one (and once at the start);
 * - with `post-messages=true` (default) an element message `emsync-emotion` (emsync_emotion_message_parse())
 *   with the fields `timestamp` (stream time, guint64), `pts`, `running-time`, `valence`, `arousal`,
 *   `confidence`, `faces` and `expression` (the largest face's top expression or "none"), at most 4 per second.
 *
 * `mode=global` reproduces EMSYNC: one value for the whole stream (confidence-weighted mean of all analyses),
 * announced (event, message, metas) before the first frame leaves. The cost: every frame of the stream is
 * copied and held in memory until EOS (e.g. 1.4 MB per 720p I420 frame, about 80 MB per second of 30 fps
 * video; copied so that a decoder's bounded buffer pool does not run dry) and nothing leaves before EOS, so it
 * is for files, not for live sources.
 *
 * Faces need the npm model (scripts/install-deps.sh installs it; `$EMSYNC_FACE_MODEL` overrides the path
 * `auto` finds, `$EMSYNC_FACE_CASCADE` the OpenCV cascade); with `face-model=auto` and no model
 * installed the element works on the scene alone. A `face-model` or `model-file` that is missing or
 * malformed is an error when the element starts (READY to PAUSED).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m filesrc location=movie.mp4 ! decodebin ! videoconvert ! emsyncemotion ! fakesink
 * ]| Prints the emotion curve as `emsync-emotion` element messages.
 * |[
 * gst-launch-1.0 -m filesrc location=movie.mp4 ! decodebin ! videoconvert ! emsyncemotion mode=global ! fakesink
 * ]| One value for the whole file, as EMSYNC computes it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/affect/gstemsyncemotion.h"

#include "gst/emsyncevents.h"
#include "gst/emsyncmeta.h"
#include "lib/emotion/estimator.h"
#include "plugins/affect/elements.h"

#include <cmath>
#include <exception>
#include <memory>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_emsync_emotion_debug);
#define GST_CAT_DEFAULT gst_emsync_emotion_debug

namespace eemo = emsync::emotion;

enum {
  PROP_0,
  PROP_INTERVAL,
  PROP_SMOOTHING,
  PROP_MODE,
  PROP_STEP,
  PROP_POST_MESSAGES,
  PROP_MODEL_FILE,
  PROP_FACE_MODEL,
  PROP_FACE_INTERVAL,
};

#define DEFAULT_INTERVAL (250 * GST_MSECOND)
#define DEFAULT_SMOOTHING 2.0
#define DEFAULT_MODE GST_EMSYNC_EMOTION_MODE_FOLLOW
#define DEFAULT_STEP 0.05
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_MODEL_FILE NULL
#define DEFAULT_FACE_MODEL "auto"
/* 2 s: faces cost most of the element's CPU time (bench/emotion/results.md); one classification per smoothing
 * time constant. */
#define DEFAULT_FACE_INTERVAL (2 * GST_SECOND)
/* Messages are spaced by at least this much stream time, whatever the interval. */
#define MIN_MESSAGE_SPACING (250 * GST_MSECOND)

#define VIDEO_FORMATS                                                                                        \
  "{ I420, YV12, NV12, NV21, Y42B, Y444, Y41B, YUY2, UYVY, YVYU, AYUV, GRAY8, "                              \
  "RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR }"

/* What the properties set (read under the object lock). */
struct Settings {
  guint64 interval = DEFAULT_INTERVAL;
  gdouble smoothing = DEFAULT_SMOOTHING;
  GstEmsyncEmotionMode mode = DEFAULT_MODE;
  gdouble step = DEFAULT_STEP;
  gboolean post_messages = DEFAULT_POST_MESSAGES;
  std::string model_file;
  std::string face_model = DEFAULT_FACE_MODEL;
  guint64 face_interval = DEFAULT_FACE_INTERVAL;
};

/* A frame held back in global mode. */
struct HeldFrame {
  GstBuffer *buffer;
  gboolean analysed;
};

/* What streaming builds (models loaded in start(); the rest reset on flush and stop). */
struct State {
  std::shared_ptr<const eemo::FaceExpressionModel> face_model;
  std::shared_ptr<const eemo::FaceDetector> detector;
  std::shared_ptr<const eemo::FusionModel> fusion;
  std::unique_ptr<eemo::EmotionEstimator> estimator;

  GstEmsyncEmotionMode mode = DEFAULT_MODE;
  guint64 frames = 0;
  GstClockTime first_pts = GST_CLOCK_TIME_NONE;
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;
  GstClockTime last_analysis_pts = GST_CLOCK_TIME_NONE;
  GstClockTime last_message_time = GST_CLOCK_TIME_NONE;
  gboolean announced = FALSE;
  double announced_valence = 0, announced_arousal = 0;
  std::vector<HeldFrame> held;

  void
  reset_stream ()
  {
    if (estimator)
      estimator->reset ();
    frames = 0;
    first_pts = last_pts = last_analysis_pts = last_message_time = GST_CLOCK_TIME_NONE;
    announced = FALSE;
    for (HeldFrame &h : held)
      gst_buffer_unref (h.buffer);
    held.clear ();
  }
  ~State ()
  {
    reset_stream ();
  }
};

struct _GstEmsyncEmotion {
  GstVideoFilter parent;
  Settings settings;
  State *state;
};

G_DEFINE_TYPE_WITH_CODE (GstEmsyncEmotion, gst_emsync_emotion, GST_TYPE_VIDEO_FILTER,
    GST_DEBUG_CATEGORY_INIT (gst_emsync_emotion_debug, "emsyncemotion", 0, "emsync emotion estimator"));
GST_ELEMENT_REGISTER_DEFINE (emsyncemotion, "emsyncemotion", GST_RANK_NONE, GST_TYPE_EMSYNC_EMOTION);

GType
gst_emsync_emotion_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_EMSYNC_EMOTION_MODE_FOLLOW, "Follow the video over time (smoothed)", "follow" },
    { GST_EMSYNC_EMOTION_MODE_GLOBAL, "One value for the whole stream (buffers the stream until EOS)",
        "global" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEmsyncEmotionMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));

/* Describes a mapped frame to the engine by component: no copy. */
static gboolean
frame_view_from_video_frame (const GstVideoFrame *frame, eemo::FrameView &view)
{
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  view = eemo::FrameView ();
  view.width = GST_VIDEO_FRAME_WIDTH (frame);
  view.height = GST_VIDEO_FRAME_HEIGHT (frame);
  if (GST_VIDEO_FORMAT_INFO_DEPTH (finfo, 0) != 8)
    return FALSE;
  int n_comps;
  if (GST_VIDEO_FORMAT_INFO_IS_GRAY (finfo)) {
    view.colour = eemo::FrameView::Colour::kGrey;
    view.limited_range = false;
    n_comps = 1;
  } else if (GST_VIDEO_FORMAT_INFO_IS_RGB (finfo)) {
    view.colour = eemo::FrameView::Colour::kRgb;
    view.limited_range = false;
    n_comps = 3;
  } else if (GST_VIDEO_FORMAT_INFO_IS_YUV (finfo)) {
    view.colour = eemo::FrameView::Colour::kYuv;
    view.limited_range = frame->info.colorimetry.range != GST_VIDEO_COLOR_RANGE_0_255;
    n_comps = 3;
  } else {
    return FALSE;
  }
  for (int c = 0; c < n_comps; c++) {
    view.comp[c] = (const std::uint8_t *) GST_VIDEO_FRAME_COMP_DATA (frame, c);
    view.stride[c] = GST_VIDEO_FRAME_COMP_STRIDE (frame, c);
    view.pixel_stride[c] = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, c);
    view.w_shift[c] = GST_VIDEO_FORMAT_INFO_W_SUB (finfo, c);
    view.h_shift[c] = GST_VIDEO_FORMAT_INFO_H_SUB (finfo, c);
  }
  return TRUE;
}

static Settings
read_settings (GstEmsyncEmotion *self)
{
  GST_OBJECT_LOCK (self);
  Settings s = self->settings;
  GST_OBJECT_UNLOCK (self);
  return s;
}

static GstClockTime
stream_time_of (GstEmsyncEmotion *self, GstClockTime pts)
{
  return gst_segment_to_stream_time (&GST_BASE_TRANSFORM (self)->segment, GST_FORMAT_TIME, pts);
}

static void
post_emotion_message (GstEmsyncEmotion *self, GstClockTime pts, double valence, double arousal,
    double confidence, guint faces, const char *expression)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  EmsyncEmotionReport report;
  report.emotion.timestamp = pts;
  report.emotion.valence = valence;
  report.emotion.arousal = arousal;
  report.emotion.confidence = confidence;
  report.stream_time = stream_time_of (self, pts);
  report.running_time = gst_segment_to_running_time (&trans->segment, GST_FORMAT_TIME, pts);
  report.faces = faces;
  report.expression = expression;
  gst_element_post_message (GST_ELEMENT (self), emsync_emotion_message_new (GST_OBJECT (self), &report));
}

static void
push_emotion_event (
    GstEmsyncEmotion *self, GstClockTime pts, double valence, double arousal, double confidence)
{
  EmsyncEmotion e;
  e.timestamp = pts;
  e.valence = valence;
  e.arousal = arousal;
  e.confidence = confidence;
  GST_DEBUG_OBJECT (self,
      "emotion event at %" GST_TIME_FORMAT ": valence %.3f arousal %.3f (confidence %.2f)",
      GST_TIME_ARGS (pts), valence, arousal, confidence);
  gst_pad_push_event (GST_BASE_TRANSFORM_SRC_PAD (self), emsync_emotion_event_new (&e));
}

/* Global mode: the whole-stream value goes out first (event, message), then every held frame with it. */
static GstFlowReturn
drain_global (GstEmsyncEmotion *self)
{
  State *st = self->state;
  if (st->held.empty ())
    return GST_FLOW_OK;
  Settings s = read_settings (self);
  eemo::Estimate whole = st->estimator->whole_stream ();
  GstClockTime first = st->first_pts, last = st->last_pts;
  GST_INFO_OBJECT (self, "whole stream (%zu analyses): valence %.3f arousal %.3f confidence %.2f",
      st->estimator->analyses (), whole.valence_arousal.valence, whole.valence_arousal.arousal,
      whole.confidence);
  push_emotion_event (
      self, first, whole.valence_arousal.valence, whole.valence_arousal.arousal, whole.confidence);
  if (s.post_messages)
    post_emotion_message (self, first, whole.valence_arousal.valence, whole.valence_arousal.arousal,
        whole.confidence, 0, "none");
  std::vector<HeldFrame> held;
  held.swap (st->held);
  GstFlowReturn ret = GST_FLOW_OK;
  for (std::size_t i = 0; i < held.size (); i++) {
    if (ret != GST_FLOW_OK) {
      gst_buffer_unref (held[i].buffer);
      continue;
    }
    GstBuffer *buf = gst_buffer_make_writable (held[i].buffer);
    emsync_buffer_add_emotion_meta (buf, (gfloat) whole.valence_arousal.valence,
        (gfloat) whole.valence_arousal.arousal, (gfloat) whole.confidence, first, last, held[i].analysed);
    ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), buf);
  }
  return ret;
}

/* Analysis of one mapped frame; @buf is the (metadata-)writable buffer the meta goes on. */
static GstFlowReturn
process_frame (GstEmsyncEmotion *self, GstBuffer *buf, GstVideoFrame *frame)
{
  State *st = self->state;
  if (!st->estimator) {
    GST_ELEMENT_ERROR (self, CORE, STATE_CHANGE, (NULL), ("frame before the element was started"));
    return GST_FLOW_ERROR;
  }
  Settings s = read_settings (self);
  eemo::FrameView view;
  if (!frame_view_from_video_frame (frame, view)) {
    GST_ELEMENT_ERROR (
        self, STREAM, FORMAT, (NULL), ("unsupported video format %s", GST_VIDEO_INFO_NAME (&frame->info)));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GstClockTime pts = GST_BUFFER_PTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (pts)) {
    /* No timestamps: count frames at the negotiated rate (30 fps when unknown). */
    gint n = GST_VIDEO_INFO_FPS_N (&frame->info), d = GST_VIDEO_INFO_FPS_D (&frame->info);
    pts = (n > 0 && d > 0) ? gst_util_uint64_scale (st->frames, d * GST_SECOND, n)
                           : st->frames * GST_SECOND / 30;
  }
  st->frames++;
  if (!GST_CLOCK_TIME_IS_VALID (st->first_pts))
    st->first_pts = pts;
  st->last_pts = pts;
  const double t = (double) pts / GST_SECOND;

  try {
    if (EmsyncSceneCutMeta *cut = emsync_buffer_get_scene_cut_meta (buf)) {
      (void) cut;
      st->estimator->note_cut (t);
    }
    st->estimator->observe_frame (view, t);

    gboolean analyse = !GST_CLOCK_TIME_IS_VALID (st->last_analysis_pts) || pts < st->last_analysis_pts
        || pts - st->last_analysis_pts >= s.interval;
    eemo::Estimate est;
    if (analyse) {
      st->estimator->set_smoothing (s.smoothing);
      st->estimator->set_face_interval ((double) s.face_interval / GST_SECOND);
      est = st->estimator->analyse (view, t);
      st->last_analysis_pts = pts;
      GST_LOG_OBJECT (self,
          "analysed %" GST_TIME_FORMAT ": %zu faces, brightness %.2f saturation %.2f "
          "motion %.3f shot %.1fs -> valence %.3f arousal %.3f (confidence %.2f)",
          GST_TIME_ARGS (pts), est.faces.size (), est.scene_inputs.colour.brightness,
          est.scene_inputs.colour.saturation, est.scene_inputs.motion_activity,
          est.scene_inputs.mean_shot_length_s, est.valence_arousal.valence, est.valence_arousal.arousal,
          est.confidence);
      if (gst_debug_category_get_threshold (GST_CAT_DEFAULT) >= GST_LEVEL_TRACE) {
        GString *f = g_string_new (NULL);
        for (float x : est.features)
          g_string_append_printf (f, "%s%.6g", f->len ? "," : "", x);
        GST_TRACE_OBJECT (self, "features %" GST_TIME_FORMAT " %s", GST_TIME_ARGS (pts), f->str);
        g_string_free (f, TRUE);
      }
    }

    if (st->mode == GST_EMSYNC_EMOTION_MODE_GLOBAL) {
      /* A deep copy: holding the decoder's own buffers until EOS would empty a bounded buffer pool and stall
       * the decoder. */
      st->held.push_back ({ gst_buffer_copy_deep (buf), analyse });
      return GST_BASE_TRANSFORM_FLOW_DROPPED;
    }

    eemo::ValenceArousal va = st->estimator->smoothed ();
    double confidence = st->estimator->smoothed_confidence ();
    GstClockTime window_end = st->last_analysis_pts;
    GstClockTime memory = (GstClockTime) (3.0 * s.smoothing * GST_SECOND);
    GstClockTime window_start = window_end > st->first_pts + memory ? window_end - memory : st->first_pts;
    emsync_buffer_add_emotion_meta (buf, (gfloat) va.valence, (gfloat) va.arousal, (gfloat) confidence,
        window_start, window_end, analyse);

    if (!st->announced || std::fabs (va.valence - st->announced_valence) > s.step
        || std::fabs (va.arousal - st->announced_arousal) > s.step) {
      push_emotion_event (self, pts, va.valence, va.arousal, confidence);
      st->announced = TRUE;
      st->announced_valence = va.valence;
      st->announced_arousal = va.arousal;
    }
    if (analyse && s.post_messages
        && (!GST_CLOCK_TIME_IS_VALID (st->last_message_time) || pts < st->last_message_time
            || pts - st->last_message_time >= MIN_MESSAGE_SPACING)) {
      const char *expression =
          est.faces.empty () ? "none" : eemo::expression_name (est.faces[0].top_expression ());
      post_emotion_message (
          self, pts, va.valence, va.arousal, confidence, (guint) est.faces.size (), expression);
      st->last_message_time = pts;
    }
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Emotion analysis failed."),
        ("OpenCV/engine error: %s (format %s, %dx%d)", e.what (), GST_VIDEO_INFO_NAME (&frame->info),
            view.width, view.height));
    return GST_FLOW_ERROR;
  } catch (...) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Emotion analysis failed."), ("unknown exception"));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* In place, but the pixels are only read: GstVideoFilter's transform_frame_ip would map the frame for
 * writing, which copies every frame whose memory the decoder still shares (reference frames). The buffer
 * itself is already writable here (GstBaseTransform made its metadata writable), so the meta can go on. */
static GstFlowReturn
gst_emsync_emotion_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstEmsyncEmotion *self = GST_EMSYNC_EMOTION (trans);
  GstVideoFilter *filter = GST_VIDEO_FILTER (trans);
  if (!filter->negotiated) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("frame before caps were negotiated"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GstVideoFrame frame;
  if (!gst_video_frame_map (
          &frame, &filter->in_info, buf, (GstMapFlags) (GST_MAP_READ | GST_VIDEO_FRAME_MAP_FLAG_NO_REF))) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not read a video frame."),
        ("gst_video_frame_map failed (buffer smaller than the caps say?)"));
    return GST_FLOW_ERROR;
  }
  GstFlowReturn ret = process_frame (self, buf, &frame);
  gst_video_frame_unmap (&frame);
  return ret;
}

/* Never called (transform_ip above replaces GstVideoFilter's); set so that GstVideoFilter configures the
 * element as a writable in-place filter. */
static GstFlowReturn
gst_emsync_emotion_transform_frame_ip (GstVideoFilter *filter, GstVideoFrame *frame)
{
  return process_frame (GST_EMSYNC_EMOTION (filter), frame->buffer, frame);
}

static gboolean
gst_emsync_emotion_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstEmsyncEmotion *self = GST_EMSYNC_EMOTION (trans);
  State *st = self->state;
  try {
    switch (GST_EVENT_TYPE (event)) {
      case GST_EVENT_FLUSH_STOP:
        st->reset_stream ();
        break;
      case GST_EVENT_EOS:
        if (st->mode == GST_EMSYNC_EMOTION_MODE_GLOBAL)
          drain_global (self);
        break;
      case GST_EVENT_CAPS:
      case GST_EVENT_SEGMENT:
        /* Held frames belong to the old caps/segment: let them go first. */
        if (st->mode == GST_EMSYNC_EMOTION_MODE_GLOBAL && !st->held.empty ())
          drain_global (self);
        break;
      case GST_EVENT_CUSTOM_DOWNSTREAM:
        if (emsync_scene_cut_event_is (event) && st->estimator) {
          EmsyncSceneCut cut;
          if (emsync_scene_cut_event_parse (event, &cut) && GST_CLOCK_TIME_IS_VALID (cut.timestamp))
            st->estimator->note_cut ((double) cut.timestamp / GST_SECOND);
        }
        break;
      default:
        break;
    }
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Emotion analysis failed."), ("%s", e.what ()));
  }
  return GST_BASE_TRANSFORM_CLASS (gst_emsync_emotion_parent_class)->sink_event (trans, event);
}

static gboolean
gst_emsync_emotion_start (GstBaseTransform *trans)
{
  GstEmsyncEmotion *self = GST_EMSYNC_EMOTION (trans);
  Settings s = read_settings (self);
  State *st = self->state;
  std::string face_path;
  try {
    if (s.face_model == "auto") {
      std::string models_dir = EMSYNC_SOURCE_MODELS_DIR;
      std::string source_root = models_dir.substr (0, models_dir.rfind ('/'));
      face_path = eemo::find_face_model (source_root, EMSYNC_MODEL_INSTALL_DIR);
      if (face_path.empty ())
        GST_WARNING_OBJECT (self,
            "no face-expression model installed (run scripts/install-deps.sh): "
            "estimating from the scene only");
    } else if (s.face_model != "none" && !s.face_model.empty ()) {
      face_path = s.face_model;
    }
    if (!face_path.empty ()) {
      std::string cascade = eemo::FaceDetector::default_cascade ();
      if (cascade.empty () && s.face_model == "auto") {
        GST_WARNING_OBJECT (
            self, "no OpenCV face cascade (install opencv-data): estimating from the scene only");
        face_path.clear ();
      } else {
        st->detector = std::make_shared<eemo::FaceDetector> (cascade);
        st->face_model = eemo::FaceExpressionModel::load_shared (face_path);
        GST_INFO_OBJECT (
            self, "face expressions from %s, faces from %s", face_path.c_str (), cascade.c_str ());
      }
    }
    if (!s.model_file.empty ()) {
      st->fusion = eemo::FusionModel::load (s.model_file);
      GST_INFO_OBJECT (self, "fusion model %s", s.model_file.c_str ());
    }
    eemo::EstimatorConfig config;
    config.smoothing_s = s.smoothing;
    st->estimator =
        std::make_unique<eemo::EmotionEstimator> (st->face_model, st->detector, st->fusion, config);
  } catch (const eemo::ModelError &e) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Could not load an emotion model: %s", e.what ()),
        ("face-model=%s model-file=%s", s.face_model.c_str (), s.model_file.c_str ()));
    st->face_model.reset ();
    st->detector.reset ();
    st->fusion.reset ();
    return FALSE;
  } catch (const std::exception &e) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not set up emotion analysis: %s", e.what ()), (NULL));
    return FALSE;
  }
  st->mode = s.mode;
  st->reset_stream ();
  return TRUE;
}

static gboolean
gst_emsync_emotion_stop (GstBaseTransform *trans)
{
  GstEmsyncEmotion *self = GST_EMSYNC_EMOTION (trans);
  State *st = self->state;
  if (st->estimator)
    GST_INFO_OBJECT (self,
        "%" G_GUINT64_FORMAT " frames, %zu analyses, %zu looks at faces (%zu detections), "
        "%zu cuts",
        st->frames, st->estimator->analyses (), st->estimator->face_analyses (),
        st->estimator->face_detections (), st->estimator->cuts_seen ());
  st->reset_stream ();
  st->estimator.reset ();
  st->face_model.reset ();
  st->detector.reset ();
  st->fusion.reset ();
  return TRUE;
}

static void
gst_emsync_emotion_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstEmsyncEmotion *self = GST_EMSYNC_EMOTION (object);
  GST_OBJECT_LOCK (self);
  Settings &s = self->settings;
  switch (prop_id) {
    case PROP_INTERVAL:
      s.interval = g_value_get_uint64 (value);
      break;
    case PROP_SMOOTHING:
      s.smoothing = g_value_get_double (value);
      break;
    case PROP_MODE:
      s.mode = (GstEmsyncEmotionMode) g_value_get_enum (value);
      break;
    case PROP_STEP:
      s.step = g_value_get_double (value);
      break;
    case PROP_POST_MESSAGES:
      s.post_messages = g_value_get_boolean (value);
      break;
    case PROP_MODEL_FILE: {
      const gchar *v = g_value_get_string (value);
      s.model_file = v ? v : "";
      break;
    }
    case PROP_FACE_MODEL: {
      const gchar *v = g_value_get_string (value);
      s.face_model = (v && *v) ? v : DEFAULT_FACE_MODEL;
      break;
    }
    case PROP_FACE_INTERVAL:
      s.face_interval = g_value_get_uint64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_emsync_emotion_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstEmsyncEmotion *self = GST_EMSYNC_EMOTION (object);
  GST_OBJECT_LOCK (self);
  const Settings &s = self->settings;
  switch (prop_id) {
    case PROP_INTERVAL:
      g_value_set_uint64 (value, s.interval);
      break;
    case PROP_SMOOTHING:
      g_value_set_double (value, s.smoothing);
      break;
    case PROP_MODE:
      g_value_set_enum (value, s.mode);
      break;
    case PROP_STEP:
      g_value_set_double (value, s.step);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, s.post_messages);
      break;
    case PROP_MODEL_FILE:
      g_value_set_string (value, s.model_file.empty () ? NULL : s.model_file.c_str ());
      break;
    case PROP_FACE_MODEL:
      g_value_set_string (value, s.face_model.c_str ());
      break;
    case PROP_FACE_INTERVAL:
      g_value_set_uint64 (value, s.face_interval);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_emsync_emotion_finalize (GObject *object)
{
  GstEmsyncEmotion *self = GST_EMSYNC_EMOTION (object);
  delete self->state;
  self->settings.~Settings ();
  G_OBJECT_CLASS (gst_emsync_emotion_parent_class)->finalize (object);
}

static void
gst_emsync_emotion_init (GstEmsyncEmotion *self)
{
  new (&self->settings) Settings ();
  self->state = new State ();
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_emsync_emotion_class_init (GstEmsyncEmotionClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->set_property = gst_emsync_emotion_set_property;
  gobject_class->get_property = gst_emsync_emotion_get_property;
  gobject_class->finalize = gst_emsync_emotion_finalize;

  g_object_class_install_property (gobject_class, PROP_INTERVAL,
      g_param_spec_uint64 ("interval", "Analysis interval",
          "Stream time between two analysed frames in nanoseconds (0: every frame); frames in between carry "
          "the held value",
          0, G_MAXUINT64, DEFAULT_INTERVAL,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property (gobject_class, PROP_SMOOTHING,
      g_param_spec_double ("smoothing", "Smoothing",
          "Time constant in seconds of the exponential smoothing of valence and arousal (0: none)", 0.0,
          3600.0, DEFAULT_SMOOTHING,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "follow: a value that follows the video; global: one value for the whole stream, announced before "
          "the first frame leaves (holds every frame until EOS: files only)",
          GST_TYPE_EMSYNC_EMOTION_MODE, DEFAULT_MODE,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (gobject_class, PROP_STEP,
      g_param_spec_double ("step", "Event step",
          "Push a new emsync-emotion event when the smoothed valence or arousal has moved by more than this",
          0.0, 2.0, DEFAULT_STEP,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post emsync-emotion element messages (timestamp in stream time, valence, arousal, confidence), "
          "at most 4 per second",
          DEFAULT_POST_MESSAGES,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property (gobject_class, PROP_MODEL_FILE,
      g_param_spec_string ("model-file", "Fusion model",
          "Optional TorchScript fusion model (16 features in, 6 Ekman scores or valence/arousal out; "
          "see lib/emotion/fusion.h); unset: the built-in fusion",
          DEFAULT_MODEL_FILE,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (gobject_class, PROP_FACE_MODEL,
      g_param_spec_string ("face-model", "Face expression model",
          "Path of the TF.js expression model (emotion.json of @vladmandic/human), 'auto' to find the "
          "installed one (scene only when none is installed) or 'none' to skip faces",
          DEFAULT_FACE_MODEL,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  g_object_class_install_property (gobject_class, PROP_FACE_INTERVAL,
      g_param_spec_uint64 ("face-interval", "Face interval",
          "Stream time in nanoseconds between two classifications of the faces in view (they are detected "
          "anew "
          "every 3 intervals, every 2 when none is in view, and after a cut); the analyses in between reuse "
          "the "
          "last faces. Faces cost most of the element's CPU time",
          0, G_MAXUINT64, DEFAULT_FACE_INTERVAL,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Emotion estimator", "Filter/Analyzer/Video",
      "Estimates valence and arousal of a video over time from faces, colour, motion and editing rhythm",
      "emsync developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_emsync_emotion_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_emsync_emotion_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_emsync_emotion_sink_event);
  GST_VIDEO_FILTER_CLASS (klass)->transform_frame_ip =
      GST_DEBUG_FUNCPTR (gst_emsync_emotion_transform_frame_ip);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_emsync_emotion_transform_ip);

  gst_type_mark_as_plugin_api (GST_TYPE_EMSYNC_EMOTION_MODE, (GstPluginAPIFlags) 0);
}
