/* emsync — unit tests of the emotion engine (lib/emotion): the EMSYNC class -> valence/arousal mapping,
 * scene affect (Valdez & Mehrabian colour, Hanjalic & Xu motion/rhythm), smoothing, fusion, the face-model
 * port (fidelity against TensorFlow.js reference outputs) and the model error paths. */
/* The C++ streams come before gstcheck.h: Check's fail() macro would clash with std::ios::fail(). */
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lib/emotion/estimator.h"
#include "lib/emotion/face_model.h"
#include "lib/emotion/fusion.h"
#include "lib/emotion/mapping.h"

#include <gst/check/gstcheck.h>
#include <glib/gstdio.h>

namespace em = emsync::emotion;

static std::string
face_model_or_skip ()
{
  std::string path = em::find_face_model (EMSYNC_SOURCE_ROOT, "");
  if (path.empty ())
    g_print ("SKIP: face-expression model not installed (run scripts/install-face-model.sh)\n");
  return path;
}

static std::string
temp_dir ()
{
  gchar *d = g_dir_make_tmp ("emsync-emotion-XXXXXX", nullptr);
  std::string s = d;
  g_free (d);
  return s;
}

static void
write_file (const std::string &path, const std::string &contents)
{
  std::ofstream f (path, std::ios::binary);
  f << contents;
}

static std::string
read_file (const std::string &path)
{
  std::ifstream f (path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf ();
  return ss.str ();
}

/* A grey frame (GRAY8) or a solid RGB frame as FrameView. */
struct TestFrame {
  std::vector<std::uint8_t> data;
  em::FrameView view;
  TestFrame (int w, int h, std::uint8_t r, std::uint8_t g, std::uint8_t b) : data ((size_t) w * h * 3)
  {
    for (size_t i = 0; i < (size_t) w * h; i++) {
      data[3 * i] = r;
      data[3 * i + 1] = g;
      data[3 * i + 2] = b;
    }
    view.colour = em::FrameView::Colour::kRgb;
    view.width = w;
    view.height = h;
    for (int c = 0; c < 3; c++) {
      view.comp[c] = data.data () + c;
      view.stride[c] = w * 3;
      view.pixel_stride[c] = 3;
    }
    view.limited_range = false;
  }
};

GST_START_TEST (test_mapping_table)
{
  /* §1c of the reference: rescaled means. */
  const double expected[6][2] = { { -0.651, 0.664 }, { -0.754, 0.255 }, { -0.800, 0.681 }, { 0.800, 0.477 },
    { -0.789, -0.800 }, { 0.389, 0.800 } };
  const auto &table = em::ekman_gaussians ();
  for (int i = 0; i < 6; i++) {
    fail_unless (std::fabs (table[i].valence_mean - expected[i][0]) < 1.5e-3, "%s valence %f", table[i].name,
        table[i].valence_mean);
    fail_unless (std::fabs (table[i].arousal_mean - expected[i][1]) < 1.5e-3, "%s arousal %f", table[i].name,
        table[i].arousal_mean);
    em::EkmanProbabilities onehot{};
    onehot[i] = 1.0;
    em::ValenceArousal va = em::ekman_to_valence_arousal (onehot);
    fail_unless (std::fabs (va.valence - expected[i][0]) < 1.5e-3);
    fail_unless (std::fabs (va.arousal - expected[i][1]) < 1.5e-3);
  }
  /* Probability-weighted mean: half joy, half sadness. */
  em::EkmanProbabilities p{ 0, 0, 0, 0.5, 0.5, 0 };
  em::ValenceArousal va = em::ekman_to_valence_arousal (p);
  fail_unless (std::fabs (va.valence - 0.5 * (table[3].valence_mean + table[4].valence_mean)) < 1e-9);
  fail_unless (std::fabs (va.arousal - 0.5 * (table[3].arousal_mean + table[4].arousal_mean)) < 1e-9);
  /* Unnormalised input is normalised; all-zero gives the origin. */
  em::EkmanProbabilities p2{ 0, 0, 0, 2.0, 2.0, 0 };
  em::ValenceArousal va2 = em::ekman_to_valence_arousal (p2);
  fail_unless (std::fabs (va2.valence - va.valence) < 1e-12);
  em::ValenceArousal zero = em::ekman_to_valence_arousal ({});
  fail_unless (zero.valence == 0.0 && zero.arousal == 0.0);
}
GST_END_TEST;

GST_START_TEST (test_expression_mapping)
{
  const auto &table = em::ekman_gaussians ();
  /* happy = joy, sad = sadness, angry = anger; neutral at the origin. */
  em::ExpressionProbabilities happy{ 0, 0, 0, 1, 0, 0, 0 };
  em::ValenceArousal va = em::expression_to_valence_arousal (happy);
  fail_unless (std::fabs (va.valence - table[3].valence_mean) < 1e-12);
  em::ExpressionProbabilities sad{ 0, 0, 0, 0, 1, 0, 0 };
  fail_unless (std::fabs (em::expression_to_valence_arousal (sad).arousal - table[4].arousal_mean) < 1e-12);
  em::ExpressionProbabilities neutral{ 0, 0, 0, 0, 0, 0, 1 };
  va = em::expression_to_valence_arousal (neutral);
  fail_unless (va.valence == 0.0 && va.arousal == 0.0);
  /* Half neutral halves the happy value. */
  em::ExpressionProbabilities half{ 0, 0, 0, 0.5, 0, 0, 0.5 };
  va = em::expression_to_valence_arousal (half);
  fail_unless (std::fabs (va.valence - 0.5 * table[3].valence_mean) < 1e-12);
  fail_unless (std::string (em::expression_name (0)) == "angry");
  fail_unless (std::string (em::expression_name (6)) == "neutral");
  em::EkmanProbabilities ek = em::expression_to_ekman (half);
  fail_unless (std::fabs (ek[3] - 1.0) < 1e-12);
}
GST_END_TEST;

GST_START_TEST (test_colour_directions)
{
  /* Valdez & Mehrabian: brightness raises pleasure and lowers arousal; saturation raises both. */
  double prev_v = -2, prev_a = 2;
  for (double b = 0.0; b <= 1.0001; b += 0.1) {
    em::SceneAffectInputs in;
    in.colour = { b, 0.2 };
    em::SceneAffect s = em::scene_affect (in);
    fail_unless (s.colour.valence > prev_v, "valence must rise with brightness (b=%f)", b);
    fail_unless (s.colour.arousal < prev_a, "arousal must fall with brightness (b=%f)", b);
    prev_v = s.colour.valence;
    prev_a = s.colour.arousal;
  }
  prev_v = -2;
  double prev_a2 = -2;
  for (double sat = 0.0; sat <= 1.0001; sat += 0.1) {
    em::SceneAffectInputs in;
    in.colour = { 0.45, sat };
    em::SceneAffect s = em::scene_affect (in);
    fail_unless (s.colour.valence > prev_v && s.colour.arousal > prev_a2, "saturation sweep (s=%f)", sat);
    prev_v = s.colour.valence;
    prev_a2 = s.colour.arousal;
  }
  /* Measured from pixels: a brighter grey frame has a higher brightness; a red frame more saturation. */
  TestFrame dark (64, 48, 20, 20, 20), bright (64, 48, 230, 230, 230), red (64, 48, 220, 30, 30);
  em::ColourStats cd = em::colour_stats (dark.view, 32), cb = em::colour_stats (bright.view, 32),
                  cr = em::colour_stats (red.view, 32);
  fail_unless (cd.brightness < 0.1 && cb.brightness > 0.85);
  fail_unless (cd.saturation < 0.01 && cr.saturation > 0.7);
}
GST_END_TEST;

GST_START_TEST (test_motion_and_rhythm)
{
  /* Hanjalic & Xu: more motion and shorter shots raise arousal. */
  em::SceneAffectInputs calm, busy, cutty;
  calm.motion_activity = 0.0;
  calm.mean_shot_length_s = 10;
  busy = calm;
  busy.motion_activity = 0.1;
  cutty = calm;
  cutty.mean_shot_length_s = 0.5;
  double a_calm = em::scene_affect (calm).combined.arousal;
  fail_unless (em::scene_affect (busy).combined.arousal > a_calm + 0.2);
  fail_unless (em::scene_affect (cutty).combined.arousal > a_calm + 0.2);
  fail_unless (em::scene_affect (cutty).rhythm_component > 0.99);
  fail_unless (em::scene_affect (calm).rhythm_component < 0.15);
}
GST_END_TEST;

GST_START_TEST (test_quadrants)
{
  /* A static dark clip and a bright, saturated, fast-cut clip land in different quadrants. */
  em::EmotionEstimator dark (nullptr, nullptr, nullptr), bright (nullptr, nullptr, nullptr);
  TestFrame black (96, 64, 15, 15, 25);
  std::vector<TestFrame> colours;
  colours.emplace_back (96, 64, 250, 220, 40);
  colours.emplace_back (96, 64, 40, 220, 250);
  colours.emplace_back (96, 64, 250, 60, 200);
  colours.emplace_back (96, 64, 120, 250, 60);
  for (int i = 0; i < 30 * 12; i++) {
    double t = i / 30.0;
    dark.observe_frame (black.view, t);
    const TestFrame &c = colours[(i / 10) % colours.size ()]; /* a cut every 1/3 s */
    bright.observe_frame (c.view, t);
    if (i % 8 == 0) {
      dark.analyse (black.view, t);
      bright.analyse (c.view, t);
    }
  }
  em::ValenceArousal d = dark.smoothed (), b = bright.smoothed ();
  g_print ("dark static clip: valence %.3f arousal %.3f; bright fast-cut clip: valence %.3f arousal %.3f "
           "(%zu cuts)\n",
      d.valence, d.arousal, b.valence, b.arousal, bright.cuts_seen ());
  fail_unless (d.valence < 0 && d.arousal < 0, "dark clip not in the low-valence/low-arousal quadrant");
  fail_unless (b.valence > 0 && b.arousal > 0, "bright clip not in the high-valence/high-arousal quadrant");
  fail_unless (bright.cuts_seen () >= 20, "%zu of 35 cuts found", bright.cuts_seen ());
  fail_unless (dark.cuts_seen () == 0);
}
GST_END_TEST;

GST_START_TEST (test_smoothing)
{
  /* A step from dark to bright: after one time constant the smoothed valence covers ~63 % of the step. */
  em::EstimatorConfig cfg;
  cfg.smoothing_s = 2.0;
  em::EmotionEstimator est (nullptr, nullptr, nullptr, cfg);
  TestFrame dark (64, 48, 20, 20, 20), bright (64, 48, 235, 235, 235);
  est.observe_frame (dark.view, 0.0);
  double v0 = est.analyse (dark.view, 0.0).valence_arousal.valence;
  double target = 0;
  for (int i = 1; i <= 8; i++) { /* 8 analyses, 0.25 s apart: 2 s */
    est.observe_frame (bright.view, i * 0.25);
    target = est.analyse (bright.view, i * 0.25).valence_arousal.valence;
  }
  double frac = (est.smoothed ().valence - v0) / (target - v0);
  fail_unless (std::fabs (frac - (1 - std::exp (-1.0))) < 0.03, "smoothing fraction %f", frac);
  /* No smoothing: the value jumps. */
  est.set_smoothing (0);
  est.analyse (bright.view, 3.0);
  fail_unless (std::fabs (est.smoothed ().valence - target) < 1e-9);
  /* Whole-stream mean lies between the two values. */
  em::Estimate whole = est.whole_stream ();
  fail_unless (whole.valence_arousal.valence > v0 && whole.valence_arousal.valence < target);
  est.reset ();
  fail_unless (!est.has_value () && est.analyses () == 0);
}
GST_END_TEST;

GST_START_TEST (test_default_fusion)
{
  em::SceneAffectInputs in;
  in.colour = { 0.3, 0.1 };
  em::SceneAffect scene = em::scene_affect (in);
  /* No face: the scene alone. */
  em::Features f = em::make_features ({}, in, scene);
  fail_unless (f[0] == 0.0f);
  em::Fused fused = em::default_fusion (f);
  fail_unless (std::fabs (fused.valence_arousal.valence - scene.combined.valence) < 1e-6);
  fail_unless (std::fabs (fused.confidence - em::kSceneConfidence) < 1e-9);
  /* A big happy face pulls valence up; a small one less. */
  em::FaceResult big, small;
  big.width = big.height = 0.5;
  small.width = small.height = 0.05;
  big.probabilities = small.probabilities = { 0, 0, 0, 0.9, 0, 0, 0.1 };
  big.confidence = small.confidence = 0.9;
  em::Fused with_big = em::default_fusion (em::make_features ({ big }, in, scene));
  em::Fused with_small = em::default_fusion (em::make_features ({ small }, in, scene));
  fail_unless (with_big.valence_arousal.valence > with_small.valence_arousal.valence);
  fail_unless (with_small.valence_arousal.valence > scene.combined.valence);
  fail_unless (with_big.confidence > em::kSceneConfidence);
  /* Two faces: weighted by size and confidence (the big sad face dominates a small happy one). */
  em::FaceResult sad = big;
  sad.probabilities = { 0, 0, 0, 0, 0.9, 0, 0.1 };
  em::Features two = em::make_features ({ sad, small }, in, scene);
  fail_unless (two[5] > two[4], "sad weight %f vs happy %f", two[5], two[4]);
  fail_unless (two[14] < 0);
}
GST_END_TEST;

GST_START_TEST (test_fusion_model)
{
  if (!EMSYNC_HAVE_FUSION_MODULE) {
    g_print ("SKIP: built without the torch option: no TorchScript fusion module\n");
    return;
  }
  std::string tiny = std::string (EMSYNC_TEST_DATA) + "/tiny_fusion.pt";
  auto model = em::FusionModel::load (tiny);
  em::SceneAffectInputs in;
  in.colour = { 0.8, 0.5 };
  em::Features f = em::make_features ({}, in, em::scene_affect (in));
  em::Fused r = model->run (f);
  fail_unless (r.valence_arousal.valence >= -1 && r.valence_arousal.valence <= 1);
  fail_unless (r.confidence > 0 && r.confidence <= 1);
  /* Errors name the file. */
  std::string dir = temp_dir ();
  for (const std::string &bad :
      { dir + "/missing.pt", std::string (EMSYNC_TEST_DATA) + "/corrupt_fusion.pt" }) {
    bool thrown = false;
    try {
      em::FusionModel::load (bad);
    } catch (const em::ModelError &e) {
      thrown = std::string (e.what ()).find (bad) != std::string::npos;
    }
    fail_unless (thrown, "no error naming %s", bad.c_str ());
  }
  g_rmdir (dir.c_str ());
}
GST_END_TEST;

/* The port: our libtorch runner of the TF.js graph against outputs of @tensorflow/tfjs (cpu backend) on
 * the same inputs (models/emotion/make-reference.mjs). */
GST_START_TEST (test_port_fidelity)
{
  std::string path = face_model_or_skip ();
  if (path.empty ())
    return;
  auto model = em::FaceExpressionModel::load (path);
  std::string inputs = read_file (std::string (EMSYNC_TEST_DATA) + "/port_inputs.u8");
  std::ifstream ref (std::string (EMSYNC_TEST_DATA) + "/port_reference.txt");
  const size_t n = 64 * 64;
  fail_unless (inputs.size () % n == 0 && !inputs.empty ());
  std::string line;
  size_t index = 0;
  double max_logit_err = 0, max_prob_err = 0;
  while (std::getline (ref, line)) {
    if (line.empty () || line[0] == '#')
      continue;
    std::istringstream ls (line);
    std::vector<double> expected;
    double v;
    while (ls >> v)
      expected.push_back (v);
    fail_unless_equals_int ((int) expected.size (), 14);
    fail_unless (index * n < inputs.size ());
    std::vector<float> x (n);
    for (size_t i = 0; i < n; i++)
      x[i] = (float) ((std::uint8_t) inputs[index * n + i] / 127.5 - 1.0);
    std::array<double, 7> logits{};
    em::ExpressionProbabilities p = model->predict (x.data (), &logits);
    for (int k = 0; k < 7; k++) {
      max_logit_err = std::max (max_logit_err, std::fabs (logits[k] - expected[k]));
      max_prob_err = std::max (max_prob_err, std::fabs (p[k] - expected[7 + k]));
    }
    index++;
  }
  g_print ("port fidelity over %zu inputs: max |error| %.3g (probabilities), %.3g (pre-softmax)\n", index,
      max_prob_err, max_logit_err);
  fail_unless (index == inputs.size () / n);
  fail_unless (max_prob_err < 1e-4, "probabilities differ by %g", max_prob_err);
  fail_unless (max_logit_err < 1e-4 * 30, "pre-softmax values differ by %g", max_logit_err);
}
GST_END_TEST;

static void
expect_model_error (const std::string &path, const std::string &needle)
{
  bool thrown = false;
  std::string what;
  try {
    em::FaceExpressionModel::load (path);
  } catch (const em::ModelError &e) {
    what = e.what ();
    thrown = what.find (needle) != std::string::npos;
  }
  fail_unless (
      thrown, "expected an error with '%s' for %s, got '%s'", needle.c_str (), path.c_str (), what.c_str ());
}

GST_START_TEST (test_face_model_errors)
{
  std::string dir = temp_dir ();
  expect_model_error (dir + "/absent.json", dir + "/absent.json");
  write_file (dir + "/broken.json", "{ \"format\": \"graph-model\", ");
  expect_model_error (dir + "/broken.json", "not valid JSON");
  write_file (dir + "/other.json", "{ \"format\": \"layers-model\" }");
  expect_model_error (dir + "/other.json", "not a TensorFlow.js graph model");
  std::string path = em::find_face_model (EMSYNC_SOURCE_ROOT, "");
  if (!path.empty ()) {
    std::string json = read_file (path);
    std::string bin = read_file (path.substr (0, path.rfind ('/')) + "/emotion.bin");
    /* Missing weights file. */
    write_file (dir + "/noweights.json", json);
    expect_model_error (dir + "/noweights.json", "emotion.bin");
    /* Truncated weights. */
    write_file (dir + "/truncated.json", json);
    write_file (dir + "/emotion.bin", bin.substr (0, bin.size () / 2));
    expect_model_error (dir + "/truncated.json", "shorter than the manifest");
    write_file (dir + "/emotion.bin", bin);
    /* An op we do not run. */
    std::string unsupported = json;
    size_t pos = unsupported.find ("\"op\":\"Softmax\"");
    if (pos == std::string::npos)
      pos = unsupported.find ("\"op\": \"Softmax\"");
    fail_unless (pos != std::string::npos);
    unsupported.replace (unsupported.find ("Softmax", pos), 7, "Sigmoid");
    write_file (dir + "/unsupported.json", unsupported);
    expect_model_error (dir + "/unsupported.json", "Sigmoid");
    for (const char *f : { "noweights.json", "truncated.json", "unsupported.json", "emotion.bin" })
      g_unlink ((dir + "/" + f).c_str ());
  } else {
    g_print ("SKIP (partly): face-expression model not installed\n");
  }
  g_unlink ((dir + "/broken.json").c_str ());
  g_unlink ((dir + "/other.json").c_str ());
  g_rmdir (dir.c_str ());
}
GST_END_TEST;

GST_START_TEST (test_face_crop)
{
  /* The crop maps grey [0, 255] to the model's [-1, 1] and stays inside the frame. */
  TestFrame white (200, 100, 255, 255, 255);
  std::vector<float> crop (64 * 64);
  em::face_crop (white.view, { 150, 50, 80, 80 }, 0.1, crop.data ());
  for (float v : crop)
    fail_unless (std::fabs (v - 0.99998f) < 1e-3, "crop value %f", v);
  TestFrame black (200, 100, 0, 0, 0);
  em::face_crop (black.view, { 0, 0, 50, 50 }, 0.1, crop.data ());
  for (float v : crop)
    fail_unless (std::fabs (v + 1.0f) < 1e-6);
}
GST_END_TEST;

/* Faces are looked for every face-interval (and half that after a cut), not at every analysis. */
GST_START_TEST (test_face_interval)
{
  std::string path = face_model_or_skip ();
  std::string cascade = em::FaceDetector::default_cascade ();
  if (path.empty () || cascade.empty ()) {
    g_print ("SKIP: needs the face model and opencv-data\n");
    return;
  }
  em::EstimatorConfig cfg;
  cfg.face_interval_s = 1.0;
  em::EmotionEstimator est (em::FaceExpressionModel::load_shared (path),
      std::make_shared<em::FaceDetector> (cascade), nullptr, cfg);
  TestFrame grey (320, 180, 128, 128, 128);
  for (int i = 0; i < 16; i++) { /* 4 s analysed at 4 Hz, no face in view: looks at 0 and 2 s */
    est.observe_frame (grey.view, i * 0.25);
    em::Estimate e = est.analyse (grey.view, i * 0.25);
    fail_unless (e.faces.empty ());
  }
  fail_unless_equals_int ((int) est.analyses (), 16);
  fail_unless_equals_int ((int) est.face_detections (), 2);
  est.note_cut (4.0);
  est.observe_frame (grey.view, 4.0);
  est.analyse (grey.view, 4.0); /* a cut, 2 s after the last look: look again */
  fail_unless_equals_int ((int) est.face_detections (), 3);
  est.note_cut (4.2);
  est.observe_frame (grey.view, 4.25);
  est.analyse (grey.view, 4.25); /* another cut, but only 0.25 s after the last look */
  fail_unless_equals_int ((int) est.face_detections (), 3);
  est.observe_frame (grey.view, 4.5);
  est.analyse (grey.view, 4.5); /* half an interval after it: looked again because of the cut */
  fail_unless_equals_int ((int) est.face_detections (), 4);
  fail_unless_equals_int ((int) est.face_analyses (), 4);
}
GST_END_TEST;

static Suite *
emotion_engine_suite (void)
{
  Suite *s = suite_create ("emotion-engine");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_mapping_table);
  tcase_add_test (tc, test_expression_mapping);
  tcase_add_test (tc, test_colour_directions);
  tcase_add_test (tc, test_motion_and_rhythm);
  tcase_add_test (tc, test_quadrants);
  tcase_add_test (tc, test_smoothing);
  tcase_add_test (tc, test_default_fusion);
  tcase_add_test (tc, test_fusion_model);
  tcase_add_test (tc, test_port_fidelity);
  tcase_add_test (tc, test_face_model_errors);
  tcase_add_test (tc, test_face_crop);
  tcase_add_test (tc, test_face_interval);
  return s;
}

GST_CHECK_MAIN (emotion_engine);
