/* emsync — the face-model loader (lib/emotion/face_model.h) on damaged models: the inputs the fuzzer
 * (fuzz/face_model_fuzzer.cpp) found in tests/emotion/data/fuzz/ (JSON, a NUL byte, the weights file), and a
 * weights manifest with a negative dimension. Each must load or be a ModelError naming the file; under make
 * check-sanitize also without undefined behaviour. */
#include <cstring>
#include <string>
#include <vector>

#include "lib/emotion/face_model.h"

#include <gst/check/gstcheck.h>
#include <glib/gstdio.h>

namespace em = emsync::emotion;

/* Writes `input` as model.json + w.bin in a new folder, as the fuzzer does; returns the JSON path. */
static std::string
write_model (const std::string &input, std::string *dir_out)
{
  gchar *d = g_dir_make_tmp ("emsync-face-inputs-XXXXXX", nullptr);
  *dir_out = d;
  g_free (d);
  const size_t nul = input.find ('\0');
  const std::string json = input.substr (0, nul);
  const std::string bin = nul == std::string::npos ? std::string () : input.substr (nul + 1);
  const std::string path = *dir_out + "/model.json";
  fail_unless (g_file_set_contents (path.c_str (), json.data (), json.size (), nullptr));
  fail_unless (g_file_set_contents ((*dir_out + "/w.bin").c_str (), bin.data (), bin.size (), nullptr));
  return path;
}

static void
remove_model (const std::string &dir)
{
  g_remove ((dir + "/model.json").c_str ());
  g_remove ((dir + "/w.bin").c_str ());
  g_rmdir (dir.c_str ());
}

/* "" when it loaded (and predicted), else the ModelError's message, which must name the file. */
static std::string
load_error (const std::string &input)
{
  std::string dir, message;
  const std::string path = write_model (input, &dir);
  try {
    auto model = em::FaceExpressionModel::load (path);
    std::vector<float> face (em::FaceExpressionModel::kInputSize * em::FaceExpressionModel::kInputSize, 0.0f);
    model->predict (face.data ());
  } catch (const em::ModelError &e) {
    message = e.what ();
    fail_unless (message.find (path) != std::string::npos, "message lacks the path: %s", message.c_str ());
  }
  remove_model (dir);
  return message;
}

static std::string
read_all (const std::string &path)
{
  gchar *bytes = nullptr;
  gsize length = 0;
  fail_unless (
      g_file_get_contents (path.c_str (), &bytes, &length, nullptr), "cannot read %s", path.c_str ());
  std::string out (bytes, length);
  g_free (bytes);
  return out;
}

GST_START_TEST (test_fuzzer_findings)
{
  const std::string dir = std::string (EMSYNC_TEST_DATA) + "/fuzz";
  GDir *d = g_dir_open (dir.c_str (), 0, nullptr);
  fail_unless (d != nullptr);
  int count = 0;
  for (const gchar *name; (name = g_dir_read_name (d));) {
    load_error (read_all (dir + "/" + name));
    ++count;
  }
  g_dir_close (d);
  fail_unless (count > 0);
}
GST_END_TEST;

GST_START_TEST (test_seed_loads_and_bad_shapes_are_refused)
{
  const std::string seed = read_all (std::string (EMSYNC_SOURCE_ROOT) + "/fuzz/corpus/face_model/tiny_graph");
  fail_unless (
      load_error (seed).empty (), "the fuzzer's seed model does not load: %s", load_error (seed).c_str ());
  const std::string shape = "\"shape\": [7], \"dtype\": \"float32\"";
  const size_t at = seed.find (shape);
  fail_unless (at != std::string::npos, "the seed's manifest changed");
  /* A negative dimension used to become a huge unsigned size ("malformed model: vector::_M_default_append"). */
  std::string bad = seed;
  bad.replace (at, shape.size (), "\"shape\": [-7], \"dtype\": \"float32\"");
  std::string message = load_error (bad);
  fail_unless (
      message.find ("weight 'b' has a negative dimension") != std::string::npos, "%s", message.c_str ());
  /* Dimensions whose product overflows 64 bits. */
  bad = seed;
  bad.replace (at, shape.size (), "\"shape\": [4294967296, 4294967296, 16], \"dtype\": \"float32\"");
  message = load_error (bad);
  fail_unless (
      message.find ("shorter than the manifest says (at 'b')") != std::string::npos, "%s", message.c_str ());
}
GST_END_TEST;

static Suite *
face_model_inputs_suite (void)
{
  Suite *s = suite_create ("face-model-inputs");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_fuzzer_findings);
  tcase_add_test (tc, test_seed_loads_and_bad_shapes_are_refused);
  return s;
}

GST_CHECK_MAIN (face_model_inputs);
