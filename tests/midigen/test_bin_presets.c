/* emsync — emsyncbin as a GstPreset: the shipped mood presets (plugins/gen/presets/GstEmsyncBin.prs, found
 * through GST_PRESET_PATH as an uninstalled tree would be) load and set the bin's properties; a saved preset
 * holds the bin's own properties only. XDG_DATA_HOME points at a scratch directory so user presets stay out. */
#include <gst/check/gstcheck.h>
#include <glib/gstdio.h>

#include <math.h>
#include <string.h>

static gboolean
has_name (gchar **names, const gchar *name)
{
  for (guint i = 0; names && names[i]; i++)
    if (g_str_equal (names[i], name))
      return TRUE;
  return FALSE;
}

static void
check_mood (GstElement *bin, gboolean use_emotion, gdouble valence, gdouble arousal, const gchar *instruments)
{
  gboolean emotion = !use_emotion;
  gdouble v = 2, a = 2;
  gint inst = -1;
  g_object_get (bin, "use-emotion", &emotion, "valence", &v, "arousal", &a, "instruments", &inst, NULL);
  fail_unless (emotion == use_emotion, "use-emotion %d", emotion);
  fail_unless (fabs (v - valence) < 1e-9, "valence %f, expected %f", v, valence);
  fail_unless (fabs (a - arousal) < 1e-9, "arousal %f, expected %f", a, arousal);
  GParamSpec *p = g_object_class_find_property (G_OBJECT_GET_CLASS (bin), "instruments");
  GEnumValue *ev = g_enum_get_value (G_PARAM_SPEC_ENUM (p)->enum_class, inst);
  fail_unless (ev != NULL && g_str_equal (ev->value_nick, instruments), "instruments %d", inst);
}

GST_START_TEST (test_mood_presets_load)
{
  GstElement *bin = gst_element_factory_make ("emsyncbin", NULL);
  fail_unless (bin != NULL);
  fail_unless (GST_IS_PRESET (bin), "emsyncbin is not a GstPreset");
  gchar **names = gst_preset_get_preset_names (GST_PRESET (bin));
  fail_unless (names != NULL, "no presets found (GST_PRESET_PATH=%s)", g_getenv ("GST_PRESET_PATH"));
  const gchar *const moods[] = { "calm", "joyful", "melancholic", "tense" };
  for (guint i = 0; i < G_N_ELEMENTS (moods); i++)
    fail_unless (has_name (names, moods[i]), "no preset '%s'", moods[i]);
  g_strfreev (names);

  check_mood (bin, TRUE, 0.0, 0.0, "more");
  fail_unless (gst_preset_load_preset (GST_PRESET (bin), "tense"));
  check_mood (bin, FALSE, -0.6, 0.7, "more");
  fail_unless (gst_preset_load_preset (GST_PRESET (bin), "calm"));
  check_mood (bin, FALSE, 0.5, -0.6, "less");
  /* the generator inside the bin has the preset's values */
  GstElement *midigen = gst_bin_get_by_name (GST_BIN (bin), "midigen");
  fail_unless (midigen != NULL);
  gdouble v = 0;
  g_object_get (midigen, "valence", &v, NULL);
  fail_unless (fabs (v - 0.5) < 1e-9, "the generator's valence is %f", v);
  gst_object_unref (midigen);

  gchar *comment = NULL;
  fail_unless (gst_preset_get_meta (GST_PRESET (bin), "melancholic", "comment", &comment));
  fail_unless (comment != NULL && strstr (comment, "valence") != NULL);
  g_free (comment);
  fail_if (gst_preset_load_preset (GST_PRESET (bin), "no-such-mood"));
  check_mood (bin, FALSE, 0.5, -0.6, "less");
  gst_object_unref (bin);
}
GST_END_TEST;

GST_START_TEST (test_saved_preset_holds_own_properties)
{
  GstElement *bin = gst_element_factory_make ("emsyncbin", "mybin");
  gchar **props = gst_preset_get_property_names (GST_PRESET (bin));
  fail_unless (props != NULL);
  fail_unless (has_name (props, "valence") && has_name (props, "use-emotion") && has_name (props, "seed"));
  fail_if (has_name (props, "name"), "a preset would rename the bin");
  fail_if (has_name (props, "async-handling"));
  for (guint i = 0; props[i]; i++)
    fail_if (strstr (props[i], "::") != NULL, "child property %s in the preset", props[i]);
  g_strfreev (props);

  g_object_set (bin, "valence", -0.25, "seed", (guint64) 7, NULL);
  fail_unless (gst_preset_save_preset (GST_PRESET (bin), "mine"));
  GstElement *other = gst_element_factory_make ("emsyncbin", "other");
  fail_unless (gst_preset_load_preset (GST_PRESET (other), "mine"));
  gdouble v = 0;
  guint64 seed = 0;
  g_object_get (other, "valence", &v, "seed", &seed, NULL);
  fail_unless (fabs (v + 0.25) < 1e-9 && seed == 7, "valence %f seed %" G_GUINT64_FORMAT, v, seed);
  fail_unless_equals_string (GST_OBJECT_NAME (other), "other");
  fail_unless (gst_preset_delete_preset (GST_PRESET (other), "mine"));
  gst_object_unref (other);
  gst_object_unref (bin);
}
GST_END_TEST;

static Suite *
bin_presets_suite (void)
{
  Suite *s = suite_create ("emsyncbin-presets");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_mood_presets_load);
  tcase_add_test (tc, test_saved_preset_holds_own_properties);
  return s;
}

int
main (int argc, char **argv)
{
  /* user presets (and what test_saved_preset_holds_own_properties saves) go to a scratch directory */
  gchar *scratch = g_dir_make_tmp ("emsync-presets-XXXXXX", NULL);
  g_setenv ("XDG_DATA_HOME", scratch, TRUE);
  gst_check_init (&argc, &argv);
  Suite *s = bin_presets_suite ();
  SRunner *sr = srunner_create (s);
  srunner_set_fork_status (sr, CK_NOFORK);
  srunner_run_all (sr, CK_NORMAL);
  int failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  const gchar *const left[] = { "GstEmsyncBin.prs", "GstEmsyncBin.prs.bak", NULL };
  gchar *presets = g_build_filename (scratch, "gstreamer-1.0", "presets", NULL);
  for (guint i = 0; left[i]; i++) {
    gchar *path = g_build_filename (presets, left[i], NULL);
    g_unlink (path);
    g_free (path);
  }
  g_rmdir (presets);
  gchar *parent = g_path_get_dirname (presets);
  g_rmdir (parent);
  g_rmdir (scratch);
  g_free (parent);
  g_free (presets);
  g_free (scratch);
  return failed ? 1 : 0;
}
