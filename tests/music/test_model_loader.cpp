// The generator model loader on damaged copies of tests/data/tiny_generator.pt: every bad config or weight is a
// ModelError naming the file and what was expected, never a crash, an escaped std:: exception, undefined
// behaviour or a model that loads with unusable values.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include <glib/gstdio.h>

#include "lib/music/generator_model.h"

// Check's macros clash with libstdc++ internals: include it after every C++ header.
#include <gst/check/gstcheck.h>

using namespace emsync::music;

static std::string
data_path (const char *name)
{
  return std::string (EMSYNC_TEST_DATA) + "/" + name;
}

static std::string
fixture ()
{
  gchar *bytes = nullptr;
  gsize length = 0;
  fail_unless (g_file_get_contents (data_path ("tiny_generator.pt").c_str (), &bytes, &length, nullptr));
  std::string out (bytes, length);
  g_free (bytes);
  return out;
}

static uint64_t
le (const std::string &s, size_t at, int bytes)
{
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char> (s[at + i]);
  return v;
}

static void
put_le (std::string &s, size_t at, uint64_t v, int bytes)
{
  for (int i = 0; i < bytes; ++i)
    s[at + i] = static_cast<char> ((v >> (8 * i)) & 0xFF);
}

// The archive rewritten (stored records, plain end-of-directory record) with the record whose name ends in
// `suffix` given new contents. The CRCs are left as they were: the runtime does not read them.
static std::string
with_record (const std::string &zip, const std::string &suffix, const std::string &contents)
{
  const size_t eocd = zip.rfind (std::string ("PK\x05\x06", 4));
  fail_unless (eocd != std::string::npos);
  const uint64_t entries = le (zip, eocd + 10, 2);
  size_t at = le (zip, eocd + 16, 4);
  std::string records, directory;
  bool replaced = false;
  for (uint64_t e = 0; e < entries; ++e) {
    const size_t name_len = le (zip, at + 28, 2), extra_len = le (zip, at + 30, 2),
                 comment_len = le (zip, at + 32, 2);
    const std::string name = zip.substr (at + 46, name_len);
    const size_t local = le (zip, at + 42, 4);
    const size_t local_extra = le (zip, local + 28, 2);
    std::string data = zip.substr (local + 30 + name_len + local_extra, le (zip, at + 20, 4));
    if (name.size () >= suffix.size ()
        && name.compare (name.size () - suffix.size (), suffix.size (), suffix) == 0) {
      data = contents;
      replaced = true;
    }
    std::string header = zip.substr (local, 30 + name_len + local_extra);
    put_le (header, 18, data.size (), 4);
    put_le (header, 22, data.size (), 4);
    std::string entry = zip.substr (at, 46 + name_len + extra_len + comment_len);
    put_le (entry, 20, data.size (), 4);
    put_le (entry, 24, data.size (), 4);
    put_le (entry, 42, records.size (), 4);
    records += header + data;
    directory += entry;
    at += entry.size ();
  }
  fail_unless (replaced, "the fixture has no record %s", suffix.c_str ());
  std::string end = zip.substr (eocd, 22);
  put_le (end, 8, entries, 2);
  put_le (end, 10, entries, 2);
  put_le (end, 12, directory.size (), 4);
  put_le (end, 16, records.size (), 4);
  put_le (end, 20, 0, 2);
  return records + directory + end;
}

static std::string
config_record ()
{
  // The fixture's config, as models/training/export.py writes it.
  return "{\"format\": \"emsync-generator\", \"format_version\": 1, \"vocab_size\": 1011, \"context\": 64, "
         "\"d_model\": 32, \"n_layers\": 2, \"n_heads\": 2, \"d_ff\": 64, \"max_boundary_seconds\": 8, "
         "\"tick_ms\": 8, \"n_condition_positions\": 2, \"instrument_threshold\": 3, "
         "\"arousal_density_min\": 1.0, \"arousal_density_max\": 12.0}";
}

// The fixture's config with `key`'s value text replaced (or the pair added when the key is absent).
static std::string
config_with (const std::string &key, const std::string &value)
{
  std::string c = config_record ();
  const std::string quoted = "\"" + key + "\": ";
  const size_t at = c.find (quoted);
  if (at == std::string::npos)
    return c.substr (0, c.size () - 1) + ", " + quoted + value + "}";
  const size_t from = at + quoted.size (), to = c.find_first_of (",}", from);
  return c.substr (0, from) + value + c.substr (to);
}

// Loads `archive` from a temporary file; returns the ModelError's message ("" when it loaded).
static std::string
load_error (const std::string &archive)
{
  gchar *path = nullptr;
  const int fd = g_file_open_tmp ("emsync-loader-XXXXXX.pt", &path, nullptr);
  fail_unless (fd >= 0);
  close (fd);
  fail_unless (g_file_set_contents (path, archive.data (), archive.size (), nullptr));
  std::string message;
  try {
    GeneratorModel::load (path);
  } catch (const ModelError &e) {
    message = e.what ();
  }
  fail_unless (message.empty () || message.find (path) != std::string::npos, "message lacks the path: %s",
      message.c_str ());
  g_remove (path);
  g_free (path);
  return message;
}

static void
expect_refused (const std::string &archive, const std::vector<std::string> &words)
{
  const std::string message = load_error (archive);
  fail_if (message.empty (), "loaded; expected an error with '%s'", words.front ().c_str ());
  for (const auto &w : words)
    fail_unless (
        message.find (w) != std::string::npos, "'%s' missing from: %s", w.c_str (), message.c_str ());
}

GST_START_TEST (test_rewritten_fixture_loads)
{
  // The helper itself: the unchanged config through the rewrite loads (so the refusals below are the values').
  fail_unless (load_error (with_record (fixture (), "extra/emsync.json", config_record ())).empty ());
}
GST_END_TEST;

GST_START_TEST (test_long_config_string_is_no_crash)
{
  // A 200 KB string value: the former std::regex parser recursed once per character and overflowed the stack.
  std::string config = config_with ("name", "\"" + std::string (200000, 'x') + "\"");
  fail_unless (load_error (with_record (fixture (), "extra/emsync.json", config)).empty ());
  // The same length as an unterminated string: a JSON error, still naming the file.
  config = config_record ().substr (0, 20) + std::string (200000, 'x');
  expect_refused (with_record (fixture (), "extra/emsync.json", config), { "emsync.json", "not valid JSON" });
}
GST_END_TEST;

GST_START_TEST (test_malformed_numbers_are_model_errors)
{
  // Each used to escape as std::invalid_argument ("stod") or to convert silently.
  const std::string z = fixture ();
  expect_refused (with_record (z, "extra/emsync.json", config_with ("context", "\"64x\"")),
      { "\"context\"", "whole number", "\"64x\"" });
  expect_refused (
      with_record (z, "extra/emsync.json", config_with ("d_model", "true")), { "\"d_model\"", "true" });
  expect_refused (
      with_record (z, "extra/emsync.json", config_with ("n_heads", "2.5")), { "\"n_heads\"", "whole" });
  expect_refused (with_record (z, "extra/emsync.json", config_with ("arousal_density_max", "null")),
      { "\"arousal_density_max\"", "a number from" });
  expect_refused (with_record (z, "extra/emsync.json", "[1, 2]"), { "not a JSON object" });
  expect_refused (
      with_record (z, "extra/emsync.json", config_record ().substr (0, 60)), { "not valid JSON" });
}
GST_END_TEST;

GST_START_TEST (test_out_of_range_integers_are_refused)
{
  // 9e9 overflowed the int conversion (undefined behaviour; "unusable context of -2147483648").
  const std::string z = fixture ();
  expect_refused (with_record (z, "extra/emsync.json", config_with ("context", "9e9")),
      { "\"context\"", "from 1 to 65536", "9000000000" });
  expect_refused (with_record (z, "extra/emsync.json", config_with ("format_version", "-1e300")),
      { "\"format_version\"" });
  expect_refused (with_record (z, "extra/emsync.json", config_with ("d_ff", "1e10")), { "\"d_ff\"" });
  expect_refused (
      with_record (z, "extra/emsync.json", config_with ("tick_ms", "4294967304")), { "\"tick_ms\"" });
}
GST_END_TEST;

GST_START_TEST (test_boundary_horizon_and_condition_positions_checked)
{
  const std::string z = fixture ();
  for (const char *v : { "0", "-8", "1e9" })
    expect_refused (with_record (z, "extra/emsync.json", config_with ("max_boundary_seconds", v)),
        { "\"max_boundary_seconds\"", "a number from" });
  for (const char *v : { "1", "3", "0" })
    expect_refused (with_record (z, "extra/emsync.json", config_with ("n_condition_positions", v)),
        { "condition positions", "has 2" });
}
GST_END_TEST;

GST_START_TEST (test_non_finite_weights_are_refused)
{
  // Overwrite one value of the embedding (record data/1) with NaN, then with infinity: same length, so the
  // archive stays intact.
  const std::string whole = fixture ();
  const std::string name = "tiny_generator/data/1";
  size_t at = 0;
  while ((at = whole.find (name, at)) != std::string::npos && le (whole, at - 30 + 26, 2) != name.size ())
    ++at;
  fail_unless (
      at != std::string::npos && le (whole, at - 30, 4) == 0x04034b50, "the fixture's layout changed");
  const size_t data = at + name.size () + le (whole, at - 30 + 28, 2);
  for (float bad : { std::numeric_limits<float>::quiet_NaN (), -std::numeric_limits<float>::infinity () }) {
    std::string archive = whole;
    std::memcpy (&archive[data + 5 * sizeof (float)], &bad, sizeof bad);
    expect_refused (archive, { "embedding.weight", "value 5", std::isnan (bad) ? "NaN" : "infinite" });
  }
}
GST_END_TEST;

static Suite *
model_loader_suite (void)
{
  Suite *s = suite_create ("model-loader");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_rewritten_fixture_loads);
  tcase_add_test (tc, test_long_config_string_is_no_crash);
  tcase_add_test (tc, test_malformed_numbers_are_model_errors);
  tcase_add_test (tc, test_out_of_range_integers_are_refused);
  tcase_add_test (tc, test_boundary_horizon_and_condition_positions_checked);
  tcase_add_test (tc, test_non_finite_weights_are_refused);
  return s;
}

GST_CHECK_MAIN (model_loader);
